/* fuzz_checkpoint.c - fuzz entry point for the checkpoint loader.
 *
 * Parses the input against a fixed list of four small tensors (the seed corpus in
 * tests/fuzz/corpus/checkpoint/ was written by checkpoint_encode for this list) and
 * checks two properties besides memory safety:
 *   - on failure, the destination tensors are untouched;
 *   - on success, every value is finite and equals the payload bytes of the input.
 * Build with -DMNISTSEC_FUZZ so the CRC-32 check does not stop mutated inputs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_CONV_W (2 * 1 * 3 * 3)
#define N_CONV_B 2
#define N_FC_W (3 * 4)
#define N_FC_B 3
#define N_ALL (N_CONV_W + N_CONV_B + N_FC_W + N_FC_B)

/* One block carved into the four tensors, in file order. */
static float block[N_ALL];

static void fill_sentinel(void)
{
    for (size_t i = 0; i < N_ALL; i++)
        block[i] = 0.25f * (float)i - 3.0f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ckpt_tensor t[4] = {
        {"conv1.weight", 4, {2, 1, 3, 3}, block},
        {"conv1.bias", 1, {2}, block + N_CONV_W},
        {"fc.weight", 2, {3, 4}, block + N_CONV_W + N_CONV_B},
        {"fc.bias", 1, {3}, block + N_CONV_W + N_CONV_B + N_FC_W},
    };
    fill_sentinel();
    ms_err err;
    ms_status s = checkpoint_parse(data, size, "fuzz", t, 4, &err);
    if (s != MS_OK) {
        if (s != MS_EDATA || strncmp(err.msg, "fuzz: ", 6) != 0)
            abort();
        for (size_t i = 0; i < N_ALL; i++)
            if (block[i] != 0.25f * (float)i - 3.0f)
                abort();
        return 0;
    }
    /* Success: the payload is the N_ALL floats just before the 4-byte CRC. */
    if (size < 4 * N_ALL + 4)
        abort();
    const uint8_t *p = data + size - 4 - 4 * N_ALL;
    for (size_t i = 0; i < N_ALL; i++, p += 4) {
        uint32_t want = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                        (uint32_t)p[3] << 24;
        uint32_t got;
        memcpy(&got, &block[i], sizeof got);
        if (got != want || (got & 0x7f800000u) == 0x7f800000u)
            abort();
    }
    return 0;
}
