/* kernels_planes.c - copying image planes into the padded layout of the implicit GEMM
 * (kernels_internal.h: a zero in front, a zero row above and below, a zero column
 * after every row), optionally times a ReLU mask, and storing rows of positions of
 * that layout back into plain (H, W) planes.
 *
 * Legend: C channels, H height, W width, S = W + 1 padded row stride, Q = H * S,
 * CS floats per padded channel.
 */
#include "kernels_internal.h"

/* dst[0..len) = src[0..len): whole vectors, then one masked store for the rest. */
static inline void copy_run(float *restrict dst, const float *restrict src, size_t len)
{
    size_t t = 0;
    for (; t + VL <= len; t += VL)
        vstore(dst + t, vload(src + t));
    if (t == len)
        return;
#if defined(__AVX512F__) && !defined(MS_PORTABLE_VECTORS)
    __mmask16 m = (__mmask16)((1u << (len - t)) - 1u);
    _mm512_mask_storeu_ps(dst + t, m, _mm512_maskz_loadu_ps(m, src + t));
#else
    for (; t < len; t++)
        dst[t] = src[t];
#endif
}

/* dst[t] = src[t] if m[t] > 0 else 0, t < len: whole vectors, then the rest. */
static inline void mask_run(float *restrict dst, const float *restrict src,
                            const float *restrict m, size_t len)
{
    size_t t = 0;
    for (; t + VL <= len; t += VL)
        vstore(dst + t, vkeep_positive(vload(src + t), vload(m + t)));
#if defined(__AVX512F__) && !defined(MS_PORTABLE_VECTORS)
    if (t < len) {
        const __mmask16 k = (__mmask16)((1u << (len - t)) - 1u);
        vf v = (vf)_mm512_maskz_loadu_ps(k, src + t), mv = (vf)_mm512_maskz_loadu_ps(k, m + t);
        _mm512_mask_storeu_ps(dst + t, k, (__m512)vkeep_positive(v, mv));
        return;
    }
#endif
    for (; t < len; t++)
        dst[t] = keep_if_positive(src[t], m[t]);
}

void kint_pad_planes_masked(float *restrict dst, const float *restrict src,
                            const float *restrict mask, size_t c, const plane_geom *g)
{
    const size_t h = g->h, w = g->w, S = g->S;
    for (size_t ch = 0; ch < c; ch++) {
        float *d = dst + ch * g->CS;
        const float *s = src + ch * h * w;
        memset(d, 0, (1 + S) * sizeof(float)); /* front zero and row 0 */
        for (size_t i = 0; i < h; i++) {
            float *row = d + 1 + (i + 1) * S;
            if (mask)
                mask_run(row, s + i * w, mask + (ch * h + i) * w, w);
            else
                copy_run(row, s + i * w, w);
            row[w] = 0.0f;
        }
        size_t tail = 1 + (h + 1) * S;
        memset(d + tail, 0, (g->CS - tail) * sizeof(float));
    }
}

void kint_pad_planes(float *restrict dst, const float *restrict src, size_t c,
                     const plane_geom *g)
{
    kint_pad_planes_masked(dst, src, NULL, c, g);
}

void kint_pad_image_once(kctx *k, size_t t, float *xpad, const float *x, size_t img,
                         size_t ci, const plane_geom *g)
{
    if (k->tag[t] != img + 1) {
        kint_pad_planes(xpad, x + img * ci * g->h * g->w, ci, g);
        k->tag[t] = img + 1;
    }
}

void kint_store_positions(float *restrict dst, const float *restrict src, size_t q0,
                          size_t nq, const plane_geom *g)
{
    const size_t S = g->S, w = g->w;
    size_t end = q0 + nq;
    if (end > g->Q)
        end = g->Q;
    size_t q = q0, i = q0 / S, j = q0 - i * S;
    while (q < end) {
        if (j == w) {
            q++;
            i++;
            j = 0;
            continue;
        }
        size_t run = w - j;
        if (run > end - q)
            run = end - q;
        copy_run(dst + i * w + j, src + (q - q0), run);
        q += run;
        j += run;
    }
}
