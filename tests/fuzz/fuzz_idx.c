/* fuzz_idx.c - fuzz entry point for the IDX parser: the in-memory parser and the
 * raw-or-gzip path that idx_read_file takes. Any result is fine; a crash, leak or
 * sanitizer report is a bug. Successful parses are checked for consistency. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parsed(const idx_array *a)
{
    size_t count = 1;
    for (size_t i = 0; i < a->ndim; i++)
        count *= a->dims[i];
    if (a->ndim < 1 || a->ndim > IDX_MAX_DIMS || count != a->count || !a->data ||
        (a->type != IDX_TYPE_U8 && a->type != IDX_TYPE_F32))
        abort();
    /* Touch every element so a short allocation shows up under ASan. */
    volatile uint8_t sink = 0;
    const uint8_t *p = a->data;
    size_t bytes = a->count * (a->type == IDX_TYPE_F32 ? 4 : 1);
    for (size_t i = 0; i < bytes; i++)
        sink ^= p[i];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    idx_array a;
    ms_err err;
    if (idx_parse(data, size, "fuzz", &a, &err) == MS_OK) {
        check_parsed(&a);
        idx_free(&a);
    }
    if (idx_parse_file_bytes(data, size, "fuzz.gz", &a, &err) == MS_OK) {
        check_parsed(&a);
        idx_free(&a);
    }
    return 0;
}
