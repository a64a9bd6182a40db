/* inflate.h - gzip (RFC 1952) / DEFLATE (RFC 1951) decoding with the C library only.
 *
 * The input is untrusted: every length is checked, output is capped by the caller,
 * and the gzip trailer (CRC-32, crc32.h, and length mod 2^32) is verified. Builds with
 * -DMNISTSEC_FUZZ skip the CRC comparison so a fuzzer can reach the code behind it.
 */
#ifndef MNISTSEC_INFLATE_H
#define MNISTSEC_INFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* 1 if buf starts with the gzip magic bytes 1f 8b. */
int gzip_has_magic(const uint8_t *buf, size_t len);

/* Decompresses a whole gzip file (one or more members, as gzip writes) into a new
 * malloc'd buffer *out of length *out_len. Fails with MS_EDATA, naming `name` in the
 * message, on any format error, CRC or length mismatch, truncation, or when the output
 * would exceed max_out bytes (so a gzip bomb stops at the cap, not at memory
 * exhaustion). MS_EINTERNAL if memory runs out. On failure *out is NULL. */
ms_status gzip_decompress(const uint8_t *in, size_t in_len, size_t max_out, const char *name,
                          uint8_t **out, size_t *out_len, ms_err *err);

/* Decompresses only the first `want` bytes of the first member into dst (no trailer
 * check; used to read a header before deciding how much to allow). *got receives how
 * many bytes were produced (less than want if the stream is shorter). */
ms_status gzip_peek(const uint8_t *in, size_t in_len, uint8_t *dst, size_t want, size_t *got,
                    const char *name, ms_err *err);

#endif
