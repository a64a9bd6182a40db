/* adler32.c - Adler-32 (adler32.h).
 *
 * The modulo is taken once per ADLER_NMAX bytes: 5552 is the largest n for which
 * 255 n (n + 1) / 2 + (n + 1) (65521 - 1) fits in 32 bits, so B cannot overflow.
 */
#include "adler32.h"

#define ADLER_MOD 65521u
#define ADLER_NMAX 5552u

uint32_t adler32_update(uint32_t adler, const void *buf, size_t len)
{
    uint32_t a = adler & 0xffffu, b = adler >> 16;
    const unsigned char *p = buf;
    while (len > 0) {
        size_t n = len < ADLER_NMAX ? len : ADLER_NMAX;
        len -= n;
        while (n--) {
            a += *p++;
            b += a;
        }
        a %= ADLER_MOD;
        b %= ADLER_MOD;
    }
    return b << 16 | a;
}
