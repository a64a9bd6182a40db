/* kernels.h - fast, multi-threaded versions of the ops in layers.h (src/kernels_*.c).
 *
 * Same shapes and conventions as layers.h (dw/db accumulate, dx overwritten, dx may be
 * NULL), each checked against its reference in tests/test_kernels.c. Work is split
 * so that every output element is computed by one task in a fixed order: results are
 * bit-identical whatever the thread count. Convs larger than the scratch (more than 64
 * channels on either side, or planes larger than 28 x 28) are computed by the reference
 * ops of layers.h; their backward with a mask, the pool routing or without parameter
 * gradients allocates its staging per call, and sets its outputs to NaN if it cannot.
 *
 * Legend: N batch, C channels (Ci in, Co out), H height, W width, I inputs, O outputs.
 */
#ifndef MNISTSEC_KERNELS_H
#define MNISTSEC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "threadpool.h"

/* Compute context: the worker pool plus scratch memory sized once for the largest
 * batch, so nothing is allocated per step. */
typedef struct kctx kctx;

ms_status kctx_create(kctx **k, size_t nthreads, size_t max_batch, ms_err *err);
void kctx_destroy(kctx *k);
threadpool *kctx_pool(kctx *k);

/* y = conv3x3(x, w) + b, then ReLU if relu != 0.
 * x: (N, Ci, H, W)  w: (Co, Ci, 3, 3)  b: (Co)  y: (N, Co, H, W) */
void k_conv3x3_forward(kctx *k, float *y, const float *x, const float *w, const float *b,
                       size_t n, size_t ci, size_t co, size_t h, size_t wd, int relu);
/* dy: (N, Co, H, W) (already multiplied by the ReLU mask) -> dx (N, Ci, H, W)
 * overwritten (may be NULL), dw (Co, Ci, 3, 3) and db (Co) accumulated. dw and db
 * may both be NULL to skip the parameter gradients (input-gradient attacks). */
void k_conv3x3_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, size_t n, size_t ci, size_t co,
                        size_t h, size_t wd);

/* k_conv3x3_backward of a conv followed by ReLU: dy = g * [a > 0], the mask applied while
 * g is staged, so the masked gradient is never written. a may be NULL (no mask).
 * g, a: (N, Co, H, W) */
void k_conv3x3_relu_backward(kctx *k, float *dx, float *dw, float *db, const float *g,
                             const float *a, const float *x, const float *w, size_t n,
                             size_t ci, size_t co, size_t h, size_t wd);
/* k_conv3x3_backward of a conv followed by ReLU and 2x2 max pool (the backward of
 * k_conv3x3_relu_maxpool_forward): dy = (gp routed to argmax, as maxpool2x2_backward)
 * * [a > 0], where a at the argmax is the pooled activation pa; the full-size dy is
 * never built. Only the window maxima are visited, results bit-identical to
 * k_conv3x3_backward on the full-size dy.
 * gp, argmax, pa: (N, Co, H/2, W/2) (pa may be NULL: no mask) */
void k_conv3x3_relu_maxpool_backward(kctx *k, float *dx, float *dw, float *db,
                                     const float *gp, const uint32_t *argmax, const float *pa,
                                     const float *x, const float *w, size_t n, size_t ci,
                                     size_t co, size_t h, size_t wd);

/* Fused conv + ReLU + 2x2 max pool, for a conv followed by a pool (H, W even):
 * y as k_conv3x3_forward(..., relu = 1) (by Winograd F(4x4, 3x3) or F(2x2, 3x3)
 * where the shape allows, so equal to it up to rounding), then p and argmax exactly
 * the pool of y, each image pooled while it is in registers or cache. If keep_y is 0,
 * y is only scratch and its contents are unspecified afterwards (writing it is a large
 * part of the cost).
 * y: (N, Co, H, W)  p, argmax: (N, Co, H/2, W/2) */
void k_conv3x3_relu_maxpool_forward(kctx *k, float *y, float *p, uint32_t *argmax,
                                    const float *x, const float *w, const float *b, size_t n,
                                    size_t ci, size_t co, size_t h, size_t wd, int keep_y);

/* 2x2 max pool, as maxpool2x2_forward. */
void k_maxpool2x2_forward(kctx *k, float *y, uint32_t *argmax, const float *x, size_t n,
                          size_t c, size_t h, size_t w);

/* y = x W^T + b, then ReLU if relu != 0.  x: (N, I)  w: (O, I)  b: (O)  y: (N, O) */
void k_linear_forward(kctx *k, float *y, const float *x, const float *w, const float *b,
                      size_t n, size_t in, size_t out, int relu);
/* dx (N, I) = dy W (overwritten, may be NULL); dw (O, I) += dy^T x; db (O) += sum dy.
 * dw and db may both be NULL to skip the parameter gradients. */
void k_linear_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                       const float *x, const float *w, size_t n, size_t in, size_t out);
/* k_linear_backward where x is a ReLU output (x >= 0) and dx is wanted before that ReLU:
 * dx = (dy W) * [x > 0]. Rows whose inputs are all zero in a block of columns cost
 * nothing there; every other value is the same as k_linear_backward's. */
void k_linear_relu_input_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                                  const float *x, const float *w, size_t n, size_t in,
                                  size_t out);

#endif
