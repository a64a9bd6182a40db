/* kernels_internal.h - what the files of the fast kernels (kernels.h) share: 16-lane
 * float vectors, the compute context, the padded-plane geometry, the conv micro-kernel
 * and the job of the conv backward. Not installed; only src/kernels_*.c include it.
 *
 *   kernels_ctx.c                 the context: worker pool, scratch sized once
 *   kernels_planes.c              copying planes into the padded layout, storing them back
 *   kernels_conv.c                direct conv forward (implicit GEMM), optionally pooled
 *   kernels_winograd.c            conv + ReLU + 2x2 max pool forward by Winograd F(2x2, 3x3)
 *   kernels_winograd4.c           the same by Winograd F(4x4, 3x3), sides multiples of 4
 *   kernels_conv_backward.c       conv backward: dL/dx, dL/dw, dL/db
 *   kernels_conv_pool_backward.c  conv backward through a 2x2 max pool: window maxima only
 *   kernels_pool.c                2x2 max pool forward
 *   kernels_linear.c              fully connected forward and backward
 *
 * Legend: N batch, C channels (Ci in, Co out), H height, W width, I inputs, O outputs,
 * S = W + 1 padded row stride, Q = H * S positions of a padded plane, K = Ci * 9.
 *
 * Convolution as an implicit GEMM over a padded plane. Each input plane is copied
 * into a per-task buffer with one zero column after every row, a zero row above and
 * below and one zero in front:  element (r, c) of the padded plane (r = image row + 1)
 * sits at 1 + r*S + c. Output position (i, j) gets the flat index q = i*S + j, and the
 * input it needs for tap (p, t) (p, t in 0..2) is at q + p*S + t of the same plane:
 * the left neighbour of column 0 is the previous row's zero column. So the "im2col"
 * matrix is never built: row k = (c, p, t) of it is the padded plane of channel c
 * shifted by p*S + t, and  y[o][q] = b[o] + sum_k w[o][k] x[c][q + off(k)]  is a GEMM
 * whose B rows are read in place. Positions with j == W are computed and dropped.
 *  - forward: register tile of 8 output channels x 48 positions (24 vector FMAs per k);
 *  - dL/dx: the same kernel on the padded dy with the flipped, transposed weights
 *    dx[c][q] = sum_{o,p,t} w[o][c][2-p][2-t] dy[o][q + p*S + t];
 *  - dL/dw[o][k] = sum_q dy[o][q] x[c][q + off(k)]: dy is transposed to (Q, Co) so
 *    the tile is 6 rows k x 64 channels o, reduced over q in order.
 * A conv followed by ReLU and a 2x2 max pool (conv2 of the network) has faster paths:
 *  - forward by Winograd F(4x4, 3x3), one tile per four pool windows, vectorised over
 *    channels, with bias, ReLU and the pool applied in registers (kernels_winograd4.c):
 *    9 instead of 36 multiply-adds per window and channel pair; where the sides are not
 *    multiples of 4, by F(2x2, 3x3), one tile per pool window (kernels_winograd.c): 16;
 *  - backward from the window maxima only (kernels_conv_pool_backward.c): dL/dw from
 *    per-channel lists of the non-zero routed gradients (bit-identical to the dense
 *    kernel), dL/dx window by window in a 4x4 register patch. After ReLU and pooling
 *    most windows carry no gradient at all, so this is several times less work than
 *    the dense kernel.
 * Linear layers skip input vectors that are exactly zero (the sums are unchanged).
 *
 * Determinism. Work is split into items (images, channel blocks, column blocks) whose
 * shape depends only on the problem, never on the thread count; each output element is
 * computed inside one item in a fixed order. Threads pull items from a shared counter,
 * so a slow thread does not hold the others back, and use the scratch of their task
 * slot. dL/dw is summed over images through per-image partial sums added in image
 * order, so it too is bit-identical whatever the thread count.
 */
#ifndef MNISTSEC_KERNELS_INTERNAL_H
#define MNISTSEC_KERNELS_INTERNAL_H

#include "kernels.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* ---- 16-lane float vectors: GCC/Clang vector extension, or plain arrays ---------- */

#define VL 16

#if (defined(__GNUC__) || defined(__clang__)) && !defined(MS_PORTABLE_VECTORS)
#if defined(__GNUC__) && !defined(__clang__)
/* Without AVX-512, GCC notes that 64-byte vector returns have a different ABI; every
 * function that takes or returns a vector is static inline, so no ABI is crossed. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float vf __attribute__((vector_size(64)));
typedef int vi __attribute__((vector_size(64)));

static inline vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf vset1(float s)
{
    return (vf){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s};
}
static inline vf vadd(vf a, vf b) { return a + b; }
static inline float vlane(vf v, int i) { return v[i]; }
static inline vf vrelu(vf v)
{
    const vf z = vset1(0.0f);
    return (vf)((vi)v & (vi)(v > z));
}
/* v where m > 0, else +0 */
static inline vf vkeep_positive(vf v, vf m)
{
    const vf z = vset1(0.0f);
    return (vf)((vi)v & (vi)(m > z));
}
/* bitwise or; all bits zero */
static inline vf vor(vf a, vf b) { return (vf)((vi)a | (vi)b); }
static inline int vzero(vf v)
{
#if defined(__AVX512F__)
    return _mm512_test_epi32_mask((__m512i)v, (__m512i)v) == 0;
#else
    unsigned u[VL], acc = 0;
    memcpy(u, &v, sizeof u);
    for (int i = 0; i < VL; i++)
        acc |= u[i];
    return acc == 0;
#endif
}
/* 2x2 max pool of 16 windows at a time (pool_row, wg_output) */
#define HAVE_VECTOR_POOL 1
typedef unsigned vu __attribute__((vector_size(64)));
static inline vu vuset1(unsigned s)
{
    return (vu){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s};
}
/* lanes 0, 2, .., 30 and 1, 3, .., 31 of the 32 floats a:b */
#if defined(__clang__)
static inline vf veven(vf a, vf b)
{
    return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                   28, 30);
}
static inline vf vodd(vf a, vf b)
{
    return __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27,
                                   29, 31);
}
#else
static inline vf veven(vf a, vf b)
{
    return __builtin_shuffle(a, b, (vi){0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30});
}
static inline vf vodd(vf a, vf b)
{
    return __builtin_shuffle(a, b, (vi){1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31});
}
#endif
/* m ? a : b per lane (m all ones or all zeros) */
static inline vf vsel(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
static inline vu vusel(vi m, vu a, vu b) { return (a & (vu)m) | (b & ~(vu)m); }
/* Max of 16 windows (a b / c d), rows w apart; *off = the offset of the first maximum
 * in row-major order: the first maximum of (a, b), then of (c, d), then the lower pair
 * only if strictly greater, which is the same element. Branch-free. */
static inline vf vpool4(vf a, vf b, vf c, vf d, unsigned w, vu *off)
{
    const vi gb = b > a, gd = d > c;
    const vf top = vsel(gb, b, a), bot = vsel(gd, d, c);
    const vu itop = (vu)gb & vuset1(1u), ibot = vuset1(w) + ((vu)gd & vuset1(1u));
    const vi gf = bot > top;
    *off = vusel(gf, ibot, itop);
    return vsel(gf, bot, top);
}
/* dst[0 .. len) = the first len <= 16 lanes of v */
static inline void store_run(float *restrict dst, vf v, size_t len)
{
#if defined(__AVX512F__)
    _mm512_mask_storeu_ps(dst, (__mmask16)(len >= VL ? 0xffffu : (1u << len) - 1u), (__m512)v);
#else
    float t[VL];
    vstore(t, v);
    for (size_t i = 0; i < len; i++)
        dst[i] = t[i];
#endif
}

static inline void store_run_u32(uint32_t *restrict dst, vu v, size_t len)
{
#if defined(__AVX512F__)
    _mm512_mask_storeu_epi32(dst, (__mmask16)(len >= VL ? 0xffffu : (1u << len) - 1u),
                             (__m512i)v);
#else
    uint32_t t[VL];
    memcpy(t, &v, sizeof t);
    for (size_t i = 0; i < len; i++)
        dst[i] = t[i];
#endif
}


#if defined(__clang__)
#define VT_SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define VT_SHUF(a, b, ...) __builtin_shuffle(a, b, (vi){__VA_ARGS__})
#endif

/* r[i][l] <-> r[l][i]: a 16x16 transpose in four steps; step s swaps the off-diagonal
 * s x s blocks of every 2s x 2s block (rows i and i + s exchange their lanes l whose
 * bit s differs). */
static inline void vtranspose16(vf r[16])
{
    /* row i keeps its lanes l with bit S clear and takes those of row i + S shifted up
     * by S; row i + S the other way round */
#define VT_STEP(S, LO, HI)                                                                \
    for (int i = 0; i < 16; i++)                                                          \
        if (!(i & (S))) {                                                                 \
            const vf a = r[i], b = r[i + (S)];                                            \
            r[i] = VT_SHUF(a, b, LO);                                                     \
            r[i + (S)] = VT_SHUF(a, b, HI);                                               \
        }
#define VT_L(...) __VA_ARGS__
    VT_STEP(8, VT_L(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
            VT_L(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))
    VT_STEP(4, VT_L(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
            VT_L(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))
    VT_STEP(2, VT_L(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
            VT_L(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))
    VT_STEP(1, VT_L(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
            VT_L(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))
#undef VT_L
#undef VT_STEP
}

#if defined(__AVX512F__)
/* acc + a*b with one rounding (ISO C mode does not contract a*b+c by itself) */
static inline vf vfma(vf acc, vf a, vf b)
{
    return (vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)acc);
}
#else
static inline vf vfma(vf acc, vf a, vf b) { return acc + a * b; }
#endif

#else /* portable fallback */
typedef struct {
    float f[VL];
} vf;

static inline vf vload(const float *p)
{
    vf v;
    memcpy(v.f, p, sizeof v.f);
    return v;
}
static inline void vstore(float *p, vf v) { memcpy(p, v.f, sizeof v.f); }
static inline vf vset1(float s)
{
    vf v;
    for (int i = 0; i < VL; i++)
        v.f[i] = s;
    return v;
}
static inline vf vadd(vf a, vf b)
{
    for (int i = 0; i < VL; i++)
        a.f[i] += b.f[i];
    return a;
}
static inline float vlane(vf v, int i) { return v.f[i]; }
static inline vf vrelu(vf v)
{
    for (int i = 0; i < VL; i++)
        v.f[i] = v.f[i] > 0.0f ? v.f[i] : 0.0f;
    return v;
}
static inline vf vfma(vf acc, vf a, vf b)
{
    for (int i = 0; i < VL; i++)
        acc.f[i] += a.f[i] * b.f[i];
    return acc;
}
static inline vf vkeep_positive(vf v, vf m)
{
    for (int i = 0; i < VL; i++)
        v.f[i] = m.f[i] > 0.0f ? v.f[i] : 0.0f;
    return v;
}
static inline vf vor(vf a, vf b)
{
    vf r;
    for (int i = 0; i < VL; i++) {
        unsigned ua, ub;
        memcpy(&ua, &a.f[i], sizeof ua);
        memcpy(&ub, &b.f[i], sizeof ub);
        ua |= ub;
        memcpy(&r.f[i], &ua, sizeof ua);
    }
    return r;
}
static inline int vzero(vf v)
{
    unsigned u[VL], acc = 0;
    memcpy(u, v.f, sizeof u);
    for (int i = 0; i < VL; i++)
        acc |= u[i];
    return acc == 0;
}
/* r[i][l] <-> r[l][i] */
static inline void vtranspose16(vf r[VL])
{
    for (int i = 0; i < VL; i++)
        for (int l = i + 1; l < VL; l++) {
            const float t = r[i].f[l];
            r[i].f[l] = r[l].f[i];
            r[l].f[i] = t;
        }
}
#endif

/* Sum of the lanes in a fixed (pairwise) order. */
static inline float vhsum(vf v)
{
    float t[VL];
    for (int i = 0; i < VL; i++)
        t[i] = vlane(v, i);
    for (int h = VL / 2; h > 0; h /= 2)
        for (int i = 0; i < h; i++)
            t[i] += t[i + h];
    return t[0];
}

/* ---- context ------------------------------------------------------------------- */

/* Conv tile shapes. */
#define FWD_MR 8                 /* output channels per tile */
#define FWD_NV 3                 /* vectors of positions per tile */
#define FWD_NQ (FWD_NV * VL)     /* 48 positions per tile */

/* Capacity of the scratch: planes up to CAP_SIDE x CAP_SIDE with up to CAP_C
 * channels on either side of a conv. Larger convs are computed by the reference ops
 * of layers.c. */
#define CAP_SIDE 28
#define CAP_C 64
#define DW_SLOTS 16 /* images whose dL/dw partial sums are kept before adding them up */

struct kctx {
    threadpool *pool;
    size_t nthreads, max_batch;
    float *mem;        /* one allocation for everything below */
    float *task;       /* nthreads blocks of task_floats */
    size_t task_floats;
    float *wpack;      /* packed weights, wpack_floats */
    size_t wpack_floats;
    float *wgu;        /* Winograd-transformed weights, wgu_floats: F(2x2) (Co'/8, 16,
                        * Ci, 8) or F(4x4) (36, Ci, Co') */
    size_t wgu_floats;
    float *wgsrc;      /* the weights wgu was made from (Co, Ci, 3, 3), CAP_C^2 * 9 */
    size_t wg_ci, wg_co; /* their shape; 0 while wgu holds nothing */
    int wg_kind;       /* the transform wgu holds: 2 for F(2x2), 4 for F(4x4), 0 none */
    float *bpack;      /* packed bias, CAP_C + FWD_MR */
    float *slots;      /* DW_SLOTS blocks of slot_floats: (K, Co') partial dw, then db */
    size_t slot_floats;
    size_t *koff;      /* 2 * CAP_C * 9 + 64 offsets of the rows of B */
    size_t *tag;       /* per task: 1 + index of the image held in its padded buffer */
};

static inline size_t round_up(size_t a, size_t m) { return (a + m - 1) / m * m; }

/* The start columns of the vectors covering a row of w >= VL: 0, 16, .., and the last
 * one moved back to w - 16 so that no vector reaches past the row (the overlap is
 * computed twice and stored twice, with the same values). */
static inline size_t kint_row_vec_start(size_t v, size_t w)
{
    size_t j0 = v * VL;
    return j0 + VL > w ? w - VL : j0;
}

/* Geometry of a padded plane for an h x w image. */
typedef struct {
    size_t h, w, S, Q, Qpad, CS; /* CS: floats per padded channel */
} plane_geom;

static inline plane_geom geom(size_t h, size_t w)
{
    plane_geom g;
    g.h = h;
    g.w = w;
    g.S = w + 1;
    g.Q = h * g.S;
    g.Qpad = round_up(g.Q, FWD_NQ);
    /* reads go up to Qpad - 1 + 2S + 2 (forward, dw) and dyT reads Qpad - 1 + S + 1 */
    g.CS = round_up(g.Qpad + 2 * g.S + 3, VL);
    return g;
}

/* 1 if a conv of this shape fits the scratch of k (the fast paths), else 0. */
int kint_conv_fits(const kctx *k, size_t ci, size_t co, size_t h, size_t w);

/* Runs fn(arg, t) for t < min(nthreads, nitems); tasks pull items themselves. */
static inline void run_slots(kctx *k, threadpool_fn fn, void *arg, size_t nitems)
{
    size_t t = k->nthreads < nitems ? k->nthreads : nitems;
    if (t == 0)
        return;
    threadpool_run(k->pool, fn, arg, t);
}

/* Runs the items of a job whose tasks keep a padded image in their task block, tagged
 * in k->tag (kint_pad_image_once, the Winograd paths): the tags are cleared first,
 * since the blocks hold whatever earlier jobs left in them. */
static inline void run_image_slots(kctx *k, threadpool_fn fn, void *arg, size_t nitems)
{
    for (size_t t = 0; t < k->nthreads; t++)
        k->tag[t] = 0;
    run_slots(k, fn, arg, nitems);
}

/* Parts to split each of n images into so that there are about `want` items, at most
 * `parts` (the blocks of output channels an image has): 1 when n >= want. */
static inline size_t kint_image_parts(size_t n, size_t want, size_t parts)
{
    if (n >= want)
        return 1;
    size_t g = (want + n - 1) / n;
    return g < parts ? g : parts;
}

/* ---- Winograd conv + ReLU + pool (kernels_winograd.c, kernels_winograd4.c) -------- */

/* The transform of the weights costs as much as a whole image, so the Winograd paths
 * keep it in k->wgu and make it again only when the weights changed (compared bit for
 * bit). Returns 1 when wgu already holds transform `kind` (2: F(2x2), 4: F(4x4)) of
 * w (Co, Ci, 3, 3); otherwise records w as wgu's source and returns 0, and the caller
 * writes the transform into k->wgu. */
int kint_wg_cached(kctx *k, int kind, const float *w, size_t ci, size_t co);

/* Floats of task scratch kint_wg4_forward needs for this shape. */
size_t kint_wg4_task_need(size_t ci, size_t co, size_t h, size_t w);
/* 1 if kint_wg4_forward takes this shape (sides multiples of 4, within the caps and
 * the scratch of k), else 0. */
int kint_wg4_fits(const kctx *k, size_t ci, size_t co, size_t h, size_t w);
/* k_conv3x3_relu_maxpool_forward for a shape kint_wg4_fits takes; y NULL: not kept. */
void kint_wg4_forward(kctx *k, float *y, float *p, uint32_t *argmax, const float *x,
                      const float *w, const float *b, size_t n, size_t ci, size_t co,
                      size_t h, size_t wd);

/* ---- padding and storing planes (kernels_planes.c) ------------------------------ */

/* g if m > 0, else +0.0f (also for NaN m), without a branch. */
static inline float keep_if_positive(float g, float m)
{
    uint32_t b;
    memcpy(&b, &g, sizeof b);
    b &= 0u - (uint32_t)(m > 0.0f);
    memcpy(&g, &b, sizeof g);
    return g;
}

/* Copies c planes (H, W) from src into the padded layout of g at dst (c * CS), times
 * [mask > 0] elementwise if mask (c, H, W) is given. */
void kint_pad_planes_masked(float *restrict dst, const float *restrict src,
                            const float *restrict mask, size_t c, const plane_geom *g);
/* kint_pad_planes_masked without a mask */
void kint_pad_planes(float *restrict dst, const float *restrict src, size_t c,
                     const plane_geom *g);
/* The padded planes of image img of x (N, ci, H, W) in task t's buffer xpad, unless
 * they are there already (k->tag, reset before each job). */
void kint_pad_image_once(kctx *k, size_t t, float *xpad, const float *x, size_t img,
                         size_t ci, const plane_geom *g);
/* Stores positions [q0, q0 + nq) of a padded-plane row into the (H, W) plane dst,
 * dropping the zero column. */
void kint_store_positions(float *restrict dst, const float *restrict src, size_t q0,
                          size_t nq, const plane_geom *g);

/* ---- conv micro-kernels (forward and dL/dx) -------------------------------------- */

/* tile[m][0..48) = bias[m] + sum_k wp[k][m] * xq[koff[k] + 0..48), optional ReLU, for
 * m < MR (MR = 8, or 1 when only one output plane is wanted: the other rows are not
 * computed; row 0 is the same either way, in the same order).
 * wp: (K, 8) packed weights; xq: padded planes offset to the tile's first position. */
static inline void conv_tile_rows(float *restrict tile, const float *restrict wp,
                                  const float *restrict bias, const float *restrict xq,
                                  const size_t *restrict koff, size_t K, int relu, const int MR)
{
    vf acc[FWD_MR][FWD_NV];
    for (int m = 0; m < MR; m++) {
        vf b = vset1(bias ? bias[m] : 0.0f);
        for (int v = 0; v < FWD_NV; v++)
            acc[m][v] = b;
    }
    for (size_t kk = 0; kk < K; kk++) {
        const float *s = xq + koff[kk];
        vf x0 = vload(s), x1 = vload(s + VL), x2 = vload(s + 2 * VL);
        const float *a = wp + kk * FWD_MR;
        for (int m = 0; m < MR; m++) {
            vf am = vset1(a[m]);
            acc[m][0] = vfma(acc[m][0], am, x0);
            acc[m][1] = vfma(acc[m][1], am, x1);
            acc[m][2] = vfma(acc[m][2], am, x2);
        }
    }
    for (int m = 0; m < MR; m++)
        for (int v = 0; v < FWD_NV; v++)
            vstore(tile + m * FWD_NQ + v * VL, relu ? vrelu(acc[m][v]) : acc[m][v]);
}

static inline void conv_tile(float *restrict tile, const float *restrict wp,
                             const float *restrict bias, const float *restrict xq,
                             const size_t *restrict koff, size_t K, int relu)
{
    conv_tile_rows(tile, wp, bias, xq, koff, K, relu, FWD_MR);
}

static inline void conv_tile1(float *restrict tile, const float *restrict wp,
                              const float *restrict bias, const float *restrict xq,
                              const size_t *restrict koff, size_t K, int relu)
{
    conv_tile_rows(tile, wp, bias, xq, koff, K, relu, 1);
}

/* ---- convs and the pool: entry points shared between the files -------------------- */

/* k_conv3x3_forward, then, if pool is non-NULL, the 2x2 max pool of y into pool and
 * argmax (N, Co, H/2, W/2), each image pooled right after it is computed where the
 * work is split by images (kernels_conv.c). */
void kint_conv_forward(kctx *k, float *y, const float *x, const float *w, const float *b,
                       size_t n, size_t ci, size_t co, size_t h, size_t wd, int relu,
                       float *pool, uint32_t *argmax);

/* 2x2 max pool of `planes` planes (H, W) at x, whose first element has flat index
 * first; the first maximum of each window in row-major order wins (kernels_pool.c).
 * y, am: (planes, H/2, W/2) */
void kint_pool_planes(float *restrict y, uint32_t *restrict am, const float *restrict x,
                      size_t first, size_t planes, size_t h, size_t w);

/* The job of the conv backward (kernels_conv_backward.c), one item per image. */
typedef struct {
    kctx *k;
    float *dx;         /* (N, Ci, H, W) or NULL */
    const float *dy;   /* (N, Co, H, W), or (N, Co, H/2, W/2) if argmax */
    const float *mask; /* or NULL: dy is multiplied by [mask > 0]: (N, Co, H, W), or
                        * (N, Co, H/2, W/2) with argmax (the pooled activation) */
    const uint32_t *argmax; /* (N, Co, H/2, W/2) or NULL: dy is routed through it, by
                             * kint_pooled_bwd_image, and wf is then wT (o, tap, ci') */
    const float *x;    /* (N, Ci, H, W) */
    const float *wf;   /* flipped weights (Ci'/8, Co*9, 8) */
    const size_t *koff_dx; /* Co*9 offsets into the padded dy */
    const size_t *koff_dw; /* Ci*9 (+ padding) offsets into the padded x */
    size_t ci, co, cop, img0, nitems;
    int want_dw;
    plane_geom g;
    atomic_size_t next;
} conv_bwd_job;

/* One image of the backward through a pool (kernels_conv_pool_backward.c): dx of
 * image img, and its dw/db partial sums in slot ((K, Co') then (Co'), as the dense
 * path). scratch: the task's block of k->task_floats. */
void kint_pooled_bwd_image(const conv_bwd_job *j, float *scratch, size_t img, float *slot);

#endif
