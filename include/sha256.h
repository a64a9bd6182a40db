/* sha256.h - SHA-256 (FIPS 180-4), for data verification and run manifests. */
#ifndef MNISTSEC_SHA256_H
#define MNISTSEC_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t total;
    uint8_t buf[64];
    size_t buf_len;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, uint8_t digest[32]);
/* Hex digest (64 lowercase hex digits and a NUL) of a buffer. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
