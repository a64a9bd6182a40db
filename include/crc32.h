/* crc32.h - CRC-32 as gzip (RFC 1952), PNG and zlib's crc32() compute it.
 *
 * The IEEE 802.3 polynomial 0x04C11DB7 in reflected (LSB-first) form, 0xEDB88320;
 * the register starts at 0xFFFFFFFF and the result is XORed with 0xFFFFFFFF. The
 * check value for the nine bytes "123456789" is 0xCBF43926.
 */
#ifndef MNISTSEC_CRC32_H
#define MNISTSEC_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Returns the CRC-32 of the bytes seen so far followed by buf[0..len). Start with
 * crc = 0; chaining calls over consecutive pieces gives the CRC of the whole, so
 * crc32_update(crc32_update(0, a, n), b, m) is the CRC of a followed by b. buf may be
 * NULL when len is 0. Safe to call from several threads at once. */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t len);

#endif
