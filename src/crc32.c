/* crc32.c - CRC-32, reflected polynomial 0xEDB88320 (see crc32.h).
 *
 * crc_tab[0] is the byte-at-a-time table; crc_tab[k][n] is the CRC register after
 * byte n followed by k zero bytes, which lets the main loop fold eight bytes per step
 * ("slice-by-8"). The tables are built once, on first use, under call_once so that
 * concurrent callers are safe.
 */
#include "crc32.h"

#include <threads.h>

static uint32_t crc_tab[8][256];
static once_flag crc_once = ONCE_FLAG_INIT;

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        crc_tab[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_tab[0][n];
        for (int k = 1; k < 8; k++) {
            c = crc_tab[0][c & 0xff] ^ (c >> 8);
            crc_tab[k][n] = c;
        }
    }
}

static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t crc32_update(uint32_t crc, const void *buf, size_t len)
{
    call_once(&crc_once, crc_init);
    const uint8_t *p = buf;
    crc = ~crc;
    while (len >= 8) {
        uint32_t a = crc ^ load_le32(p), b = load_le32(p + 4);
        crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^
              crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^ crc_tab[3][b & 0xff] ^
              crc_tab[2][(b >> 8) & 0xff] ^ crc_tab[1][(b >> 16) & 0xff] ^ crc_tab[0][b >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
