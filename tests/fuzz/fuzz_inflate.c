/* fuzz_inflate.c - fuzz entry point for gzip/DEFLATE decoding.
 *
 * Decompresses the input with a 1 MiB cap, then peeks at its first bytes into an
 * exactly-sized heap buffer, and checks that both agree whenever both succeed. Build
 * with -DMNISTSEC_FUZZ so the CRC comparison does not stop the fuzzer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ms_err err;
    uint8_t *out = NULL;
    size_t out_len = 0;
    ms_status s = gzip_decompress(data, size, (size_t)1 << 20, "fuzz", &out, &out_len, &err);
    if (s != MS_OK && (out != NULL || out_len != 0 || err.msg[0] == '\0'))
        abort();

    /* Peek size from the first byte, so both tiny and larger peeks are exercised. */
    size_t want = size ? (size_t)data[0] * 37 % 4099 : 16;
    uint8_t *head = malloc(want ? want : 1);
    if (head) {
        size_t got = 0;
        ms_status ps = gzip_peek(data, size, head, want, &got, "fuzz", &err);
        if (got > want || (s == MS_OK && ps != MS_OK))
            abort();
        if (s == MS_OK && ps == MS_OK && (got > out_len || memcmp(head, out, got) != 0))
            abort();
        free(head);
    }
    free(out);
    return 0;
}
