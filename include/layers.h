/* layers.h - reference implementations of the network's operations over flat float
 * arrays. These are the readable definitions; the fast kernels (kernels.h) must match
 * them and are tested against them.
 *
 * Legend: N batch, C channels (Ci in, Co out), H height, W width, I inputs, O outputs,
 * K classes. Tensors are row-major: x[n][c][h][w].
 *
 * Backward conventions: parameter gradients (dw, db) ACCUMULATE (callers zero them
 * once per step); input gradients (dx) are OVERWRITTEN. dx may be NULL where the
 * input gradient is not needed.
 */
#ifndef MNISTSEC_LAYERS_H
#define MNISTSEC_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* 3x3 convolution, stride 1, zero padding 1 (output has the input's H, W).
 * x: (N, Ci, H, W)  w: (Co, Ci, 3, 3)  b: (Co)  y: (N, Co, H, W)
 * y[n,o,i,j] = b[o] + sum_{c,p,q} w[o,c,p,q] * x[n,c,i+p-1,j+q-1] */
void conv2d_forward(float *y, const float *x, const float *w, const float *b, size_t n,
                    size_t ci, size_t co, size_t h, size_t wd);
/* dy: (N, Co, H, W) -> dx: (N, Ci, H, W) (overwritten, may be NULL),
 * dw: (Co, Ci, 3, 3) and db: (Co) accumulated.
 * dL/dx = conv_transpose(dy, w);  dL/dw[o,c,p,q] = sum_{n,i,j} dy[n,o,i,j] x[n,c,i+p-1,j+q-1] */
void conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, size_t n, size_t ci, size_t co, size_t h, size_t wd);

/* y = max(x, 0), len elements; y may equal x. */
void relu_forward(float *y, const float *x, size_t len);
/* dx = dy * (y > 0); dx may equal dy. */
void relu_backward(float *dx, const float *dy, const float *y, size_t len);

/* 2x2 max pooling, stride 2; H and W even.
 * x: (N, C, H, W)  y: (N, C, H/2, W/2)  argmax: (N, C, H/2, W/2) flat index into x of
 * each chosen element (the first maximum in row-major window order). */
void maxpool2x2_forward(float *y, uint32_t *argmax, const float *x, size_t n, size_t c,
                        size_t h, size_t w);
/* dx: (N, C, H, W) overwritten: dy routed to the argmax positions, zero elsewhere. */
void maxpool2x2_backward(float *dx, const float *dy, const uint32_t *argmax, size_t n,
                         size_t c, size_t h, size_t w);

/* Fully connected. x: (N, I)  w: (O, I)  b: (O)  y: (N, O);  y = x W^T + b */
void linear_forward(float *y, const float *x, const float *w, const float *b, size_t n,
                    size_t in, size_t out);
/* dx: (N, I) = dy W (overwritten, may be NULL); dw: (O, I) += dy^T x; db: (O) += sum_n dy */
void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, size_t n, size_t in, size_t out);

/* Softmax cross-entropy averaged over `scale_n` examples (normally n).
 * logits: (N, K)  labels: (N), each < K.
 * Returns sum_n -log softmax(logits[n])[labels[n]] / scale_n, computed in double.
 * dlogits (N, K), if non-NULL, is overwritten with (softmax - onehot) / scale_n. */
double softmax_xent(float *dlogits, const float *logits, const uint8_t *labels, size_t n,
                    size_t k, size_t scale_n);
/* The same, also writing each example's (unscaled) loss into loss (N) if non-NULL. */
double softmax_xent_each(float *dlogits, float *loss, const float *logits,
                         const uint8_t *labels, size_t n, size_t k, size_t scale_n);

#endif
