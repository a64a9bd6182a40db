/* adler32.h - Adler-32 (RFC 1950), the checksum of a zlib stream's uncompressed data.
 *
 * Two sums modulo 65521: A = 1 + the bytes, B = the sum of the successive A values;
 * the result is B << 16 | A. Adler-32 of "Wikipedia" is 0x11E60398, of no bytes 1.
 */
#ifndef MNISTSEC_ADLER32_H
#define MNISTSEC_ADLER32_H

#include <stddef.h>
#include <stdint.h>

/* The value of the empty input, the start of a chain of calls. */
#define ADLER32_INIT 1u

/* Returns the Adler-32 of the bytes seen so far (summarised by adler) followed by
 * buf[0..len). Start with ADLER32_INIT; chaining calls over consecutive pieces gives
 * the Adler-32 of the whole. buf may be NULL when len is 0. */
uint32_t adler32_update(uint32_t adler, const void *buf, size_t len);

#endif
