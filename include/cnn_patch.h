/* cnn_patch.h - the CNN's logits of an image that differs from a cached base image
 * only inside a square of pixels, computed from the change alone.
 *
 * A square of side h at (r0, c0) changes conv1's output only in the square grown by
 * one pixel, conv2's in the square grown by two, so only the 2x2 pool windows touching
 * that; fc1's pre-activation then changes by W_fc1[:, j] (p_new[j] - p_old[j]) summed
 * over the pooled entries j of those windows. For h = 3 that is about 1.3 M
 * multiply-adds instead of 16 M for a forward pass.
 *
 * A patch run holds, per slot (one base image each): the pooled vector p (12544) and
 * fc1's pre-activation u = W_fc1 p + b_fc1 (128, in double). conv1 and conv2 are
 * recomputed over whole pool windows, so no conv activation is cached. Logits agree
 * with cnn_forward up to float rounding (the kernels sum in another order, conv2 by
 * Winograd).
 *
 * Every image is computed by one task in a fixed order, so results are bit-identical
 * whatever the thread count and whatever the other images of the call.
 *
 * The parameters of the model must not change while a run is open (fc1's and conv2's
 * weights are copied, transposed, when it opens).
 */
#ifndef MNISTSEC_CNN_PATCH_H
#define MNISTSEC_CNN_PATCH_H

#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "status.h"

typedef struct cnn_patch cnn_patch;

/* Opens a run of cap slots on model m (its worker pool is used); one allocation. */
ms_status cnn_patch_open(cnn_patch **cp, cnn *m, size_t cap, ms_err *err);
void cnn_patch_close(cnn_patch *cp);

/* Makes x (n, 784) the bases of slots 0..n-1 (n <= cap) by a full pass; returns their
 * logits (n, 10), valid until the next call. */
const float *cnn_patch_set(cnn_patch *cp, const float *x, size_t n);

/* Logits (n, 10) of n candidates x (n, 784) (n <= cap), valid until the next call.
 * Candidate k equals the base of slot[k] except inside the side x side square whose
 * top-left pixel is at row rc[2k], column rc[2k + 1]. The square must lie inside the
 * image. Candidate k's pooled vector is kept until the next call, for accept. */
const float *cnn_patch_forward(cnn_patch *cp, const float *x, const uint32_t *slot,
                               const uint32_t *rc, size_t side, size_t n);

/* Candidates ks[0..count) of the last cnn_patch_forward become the bases of their
 * slots (at most one candidate per slot). fc1's pre-activation is moved by the change
 * of the pooled vector summed in double, so float rounding does not accumulate over
 * accepts. */
void cnn_patch_accept(cnn_patch *cp, const uint32_t *ks, size_t count);

#endif
