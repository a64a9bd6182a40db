/* layers.c - reference implementations of the network's operations (see layers.h).
 *
 * Legend: N batch, C channels (Ci in, Co out), H height, W width, I inputs, O outputs,
 * K classes. Tensors are row-major: x[n][c][h][w].
 *
 * These loops are the definitions that the fast kernels are tested against, so they
 * favour plain indexing over tricks. Loops are still ordered so that the innermost
 * one walks memory contiguously. Every tensor passed in is already allocated by the
 * caller, so its element count fits in size_t and no index computed here can exceed
 * it; no checked arithmetic is needed inside the ops.
 */
#include "layers.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* Rows i of the output for which the kernel tap at offset p (0, 1, 2) reads an
 * in-bounds input row i + p - 1: [lo, hi). Same for columns. Requires len > 0. */
static size_t tap_lo(size_t p)
{
    return p == 0 ? 1 : 0;
}

static size_t tap_hi(size_t p, size_t len)
{
    return p == 2 ? len - 1 : len;
}

void conv2d_forward(float *y, const float *x, const float *w, const float *b, size_t n,
                    size_t ci, size_t co, size_t h, size_t wd)
{
    /* y[n,o,i,j] = b[o] + sum_{c,p,q} w[o,c,p,q] * x[n,c,i+p-1,j+q-1] */
    if (h == 0 || wd == 0)
        return;
    const size_t plane = h * wd;
    for (size_t s = 0; s < n; s++) {
        for (size_t o = 0; o < co; o++) {
            float *yp = y + (s * co + o) * plane; /* (H, W) */
            for (size_t k = 0; k < plane; k++)
                yp[k] = b[o];
            for (size_t c = 0; c < ci; c++) {
                const float *xp = x + (s * ci + c) * plane; /* (H, W) */
                const float *wk = w + (o * ci + c) * 9;     /* (3, 3) */
                for (size_t p = 0; p < 3; p++) {
                    for (size_t q = 0; q < 3; q++) {
                        const float v = wk[p * 3 + q];
                        for (size_t i = tap_lo(p); i < tap_hi(p, h); i++) {
                            float *yr = yp + i * wd;
                            const float *xr = xp + (i + p - 1) * wd; /* row i+p-1 */
                            for (size_t j = tap_lo(q); j < tap_hi(q, wd); j++)
                                yr[j] += v * xr[j + q - 1];
                        }
                    }
                }
            }
        }
    }
}

void conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, size_t n, size_t ci, size_t co, size_t h, size_t wd)
{
    if (dx && n * ci * h * wd > 0)
        memset(dx, 0, n * ci * h * wd * sizeof *dx);
    if (h == 0 || wd == 0)
        return;
    const size_t plane = h * wd;
    for (size_t s = 0; s < n; s++) {
        for (size_t o = 0; o < co; o++) {
            const float *dyp = dy + (s * co + o) * plane; /* (H, W) */
            /* dL/db[o] = sum_{n,i,j} dy[n,o,i,j] */
            float sum = 0.0f;
            for (size_t k = 0; k < plane; k++)
                sum += dyp[k];
            db[o] += sum;
            for (size_t c = 0; c < ci; c++) {
                const float *xp = x + (s * ci + c) * plane; /* (H, W) */
                const float *wk = w + (o * ci + c) * 9;     /* (3, 3) */
                float *dwk = dw + (o * ci + c) * 9;         /* (3, 3) */
                float *dxp = dx ? dx + (s * ci + c) * plane : NULL;
                for (size_t p = 0; p < 3; p++) {
                    for (size_t q = 0; q < 3; q++) {
                        /* dL/dw[o,c,p,q] = sum_{n,i,j} dy[n,o,i,j] x[n,c,i+p-1,j+q-1] */
                        float acc = 0.0f;
                        for (size_t i = tap_lo(p); i < tap_hi(p, h); i++) {
                            const float *dyr = dyp + i * wd;
                            const float *xr = xp + (i + p - 1) * wd;
                            for (size_t j = tap_lo(q); j < tap_hi(q, wd); j++)
                                acc += dyr[j] * xr[j + q - 1];
                        }
                        dwk[p * 3 + q] += acc;
                        if (!dxp)
                            continue;
                        /* dL/dx[n,c,i+p-1,j+q-1] += w[o,c,p,q] dy[n,o,i,j] */
                        const float v = wk[p * 3 + q];
                        for (size_t i = tap_lo(p); i < tap_hi(p, h); i++) {
                            const float *dyr = dyp + i * wd;
                            float *dxr = dxp + (i + p - 1) * wd;
                            for (size_t j = tap_lo(q); j < tap_hi(q, wd); j++)
                                dxr[j + q - 1] += v * dyr[j];
                        }
                    }
                }
            }
        }
    }
}

void relu_forward(float *y, const float *x, size_t len)
{
    /* y = max(x, 0) */
    for (size_t k = 0; k < len; k++)
        y[k] = x[k] > 0.0f ? x[k] : 0.0f;
}

void relu_backward(float *dx, const float *dy, const float *y, size_t len)
{
    /* dL/dx = dL/dy * [y > 0] */
    for (size_t k = 0; k < len; k++)
        dx[k] = y[k] > 0.0f ? dy[k] : 0.0f;
}

void maxpool2x2_forward(float *y, uint32_t *argmax, const float *x, size_t n, size_t c,
                        size_t h, size_t w)
{
    /* y[n,c,i,j] = max_{p,q in {0,1}} x[n,c,2i+p,2j+q]; argmax holds its flat index */
    const size_t ho = h / 2, wo = w / 2;
    assert(n * c * h * w <= (size_t)UINT32_MAX + 1);
    for (size_t pl = 0; pl < n * c; pl++) {
        const size_t xbase = pl * h * w; /* start of x[n,c] (H, W) */
        float *yp = y + pl * ho * wo;    /* (H/2, W/2) */
        uint32_t *ap = argmax + pl * ho * wo;
        for (size_t i = 0; i < ho; i++) {
            for (size_t j = 0; j < wo; j++) {
                /* Window in row-major order; only a strictly larger value replaces the
                 * current best, so ties keep the first maximum. */
                size_t best = xbase + 2 * i * w + 2 * j;
                const size_t cand[3] = {best + 1, best + w, best + w + 1};
                for (size_t k = 0; k < 3; k++)
                    if (x[cand[k]] > x[best])
                        best = cand[k];
                yp[i * wo + j] = x[best];
                ap[i * wo + j] = (uint32_t)best;
            }
        }
    }
}

void maxpool2x2_backward(float *dx, const float *dy, const uint32_t *argmax, size_t n,
                         size_t c, size_t h, size_t w)
{
    /* dL/dx[argmax[k]] = dL/dy[k]; zero where no window chose the element */
    const size_t len = n * c * h * w;
    const size_t len_out = n * c * (h / 2) * (w / 2);
    if (len > 0)
        memset(dx, 0, len * sizeof *dx);
    for (size_t k = 0; k < len_out; k++) {
        assert(argmax[k] < len);
        dx[argmax[k]] += dy[k];
    }
}

void linear_forward(float *y, const float *x, const float *w, const float *b, size_t n,
                    size_t in, size_t out)
{
    /* y[n,o] = b[o] + sum_i x[n,i] w[o,i] */
    for (size_t s = 0; s < n; s++) {
        const float *xr = x + s * in; /* (I) */
        for (size_t o = 0; o < out; o++) {
            const float *wr = w + o * in; /* (I) */
            float acc = 0.0f;
            for (size_t i = 0; i < in; i++)
                acc += xr[i] * wr[i];
            y[s * out + o] = b[o] + acc;
        }
    }
}

void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, size_t n, size_t in, size_t out)
{
    for (size_t s = 0; s < n; s++) {
        const float *xr = x + s * in;    /* (I) */
        const float *dyr = dy + s * out; /* (O) */
        float *dxr = dx ? dx + s * in : NULL;
        if (dxr && in > 0)
            memset(dxr, 0, in * sizeof *dxr);
        for (size_t o = 0; o < out; o++) {
            const float g = dyr[o];
            const float *wr = w + o * in; /* (I) */
            float *dwr = dw + o * in;     /* (I) */
            db[o] += g; /* dL/db = sum_n dy */
            for (size_t i = 0; i < in; i++)
                dwr[i] += g * xr[i]; /* dL/dW = dy^T x */
            if (dxr)
                for (size_t i = 0; i < in; i++)
                    dxr[i] += g * wr[i]; /* dL/dx = dy W */
        }
    }
}

double softmax_xent(float *dlogits, const float *logits, const uint8_t *labels, size_t n,
                    size_t k, size_t scale_n)
{
    return softmax_xent_each(dlogits, NULL, logits, labels, n, k, scale_n);
}

double softmax_xent_each(float *dlogits, float *loss, const float *logits,
                         const uint8_t *labels, size_t n, size_t k, size_t scale_n)
{
    /* L = (1/S) sum_n [log sum_k exp(z[n,k]) - z[n,label]]; dL/dz = (softmax - onehot)/S.
     * The row maximum is subtracted before exp so no term overflows. */
    assert(scale_n > 0);
    assert(n == 0 || k > 0);
    const double inv = 1.0 / (double)scale_n;
    double total = 0.0;
    for (size_t s = 0; s < n; s++) {
        const float *z = logits + s * k; /* (K) */
        const size_t label = labels[s];
        assert(label < k);
        double m = z[0];
        for (size_t j = 1; j < k; j++)
            if (z[j] > m)
                m = z[j];
        double sum = exp((double)z[0] - m); /* >= exp(z[argmax] - m) = 1 when z[0] is the max */
        for (size_t j = 1; j < k; j++)
            sum += exp((double)z[j] - m);
        const double log_sum = log(sum);
        total += log_sum - ((double)z[label] - m);
        if (loss)
            loss[s] = (float)(log_sum - ((double)z[label] - m));
        if (dlogits) {
            float *dz = dlogits + s * k; /* (K) */
            for (size_t j = 0; j < k; j++) {
                const double prob = exp((double)z[j] - m - log_sum);
                dz[j] = (float)((prob - (j == label ? 1.0 : 0.0)) * inv);
            }
        }
    }
    return total * inv;
}
