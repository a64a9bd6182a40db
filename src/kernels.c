/* kernels.c - fast, multi-threaded versions of the ops in layers.h (see kernels.h).
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
 *  - forward by Winograd F(2x2, 3x3), one tile per pool window, with bias, ReLU and the
 *    pool applied in registers (wg_*): 16 instead of 36 multiply-adds per window and
 *    channel pair;
 *  - backward from the window maxima only (pooled_*): dL/dw from per-channel lists of
 *    the non-zero routed gradients (bit-identical to the dense kernel), dL/dx window by
 *    window in a 4x4 register patch. After ReLU and pooling most windows carry no
 *    gradient at all, so this is several times less work than the dense kernel.
 * Linear layers skip input vectors that are exactly zero (the sums are unchanged).
 *
 * Determinism. Work is split into items (images, channel blocks, column blocks) whose
 * shape depends only on the problem, never on the thread count; each output element is
 * computed inside one item in a fixed order. Threads pull items from a shared counter,
 * so a slow thread does not hold the others back, and use the scratch of their task
 * slot. dL/dw is summed over images through per-image partial sums added in image
 * order, so it too is bit-identical whatever the thread count.
 */
#include "kernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* ---- 16-lane float vectors: GCC/Clang vector extension, or plain arrays ---------- */

#define VL 16

#if (defined(__GNUC__) || defined(__clang__)) && !defined(MS_PORTABLE_VECTORS)
#if defined(__GNUC__) && !defined(__clang__)
/* Without AVX-512, GCC notes that 64-byte vector returns have a different ABI; every
 * function here is static, so no ABI is crossed. */
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
/* 2x2 max pool of 16 windows at a time (pool_row) */
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

static inline float relu1(float v) { return v > 0.0f ? v : 0.0f; }

/* ---- context ------------------------------------------------------------------- */

/* Conv tile shapes. */
#define FWD_MR 8                 /* output channels per tile */
#define FWD_NV 3                 /* vectors of positions per tile */
#define FWD_NQ (FWD_NV * VL)     /* 48 positions per tile */
#define DW_OMAX 64               /* channels o per dL/dw tile */

/* Capacity of the scratch: planes up to CAP_SIDE x CAP_SIDE with up to CAP_C
 * channels on either side of a conv. Larger calls use the plain loops at the end. */
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
    float *wgu;        /* Winograd-transformed weights (Co', 16, Ci), wgu_floats */
    size_t wgu_floats;
    float *wgsrc;      /* the weights wgu was made from (Co, Ci, 3, 3), CAP_C^2 * 9 */
    size_t wg_ci, wg_co; /* their shape; 0 while wgu holds nothing */
    float *bpack;      /* packed bias, CAP_C + FWD_MR */
    float *slots;      /* DW_SLOTS blocks of slot_floats: (K, Co') partial dw, then db */
    size_t slot_floats;
    size_t *koff;      /* 2 * CAP_C * 9 + 64 offsets of the rows of B */
    size_t *tag;       /* per task: 1 + index of the image held in its padded buffer */
};

static size_t round_up(size_t a, size_t m) { return (a + m - 1) / m * m; }

/* Geometry of a padded plane for an h x w image. */
typedef struct {
    size_t h, w, S, Q, Qpad, CS; /* CS: floats per padded channel */
} plane_geom;

static plane_geom geom(size_t h, size_t w)
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

/* Floats of task scratch a conv of this shape needs, 0 if it does not fit. */
static size_t conv_task_need(size_t ci, size_t co, size_t h, size_t w)
{
    plane_geom g = geom(h, w);
    size_t cop = round_up(co, VL);
    return ci * g.CS + co * g.CS + g.Qpad * cop;
}

/* Floats of task scratch for the backward through a pool (pooled_bwd_image): the
 * channel-last padded x and dx, then per possible window maximum four lists: hits
 * (gradient, position) and windows (class, gradient); + VL: the compaction of the hits
 * may write up to VL elements past the last one. */
static size_t pooled_task_need(size_t ci, size_t co, size_t h, size_t w)
{
    const size_t cip = round_up(ci, VL), plane = (h + 2) * (w + 2) * cip;
    return 2 * round_up(plane, VL) + 4 * round_up(co * (h / 2) * (w / 2) + VL, VL);
}

static int conv_fits(const kctx *k, size_t ci, size_t co, size_t h, size_t w)
{
    if (ci == 0 || co == 0 || h == 0 || w == 0 || ci > CAP_C || co > CAP_C ||
        h > CAP_SIDE || w > CAP_SIDE)
        return 0;
    return conv_task_need(ci, co, h, w) <= k->task_floats;
}

ms_status kctx_create(kctx **out, size_t nthreads, size_t max_batch, ms_err *err)
{
    *out = NULL;
    if (max_batch == 0)
        return ms_fail(err, MS_EUSAGE, "kernels: max_batch must be positive");
    kctx *k = calloc(1, sizeof *k);
    if (!k)
        return ms_fail(err, MS_EINTERNAL, "kernels: out of memory");
    ms_status st = threadpool_create(&k->pool, nthreads, err);
    if (st != MS_OK) {
        free(k);
        return st;
    }
    k->nthreads = nthreads;
    k->max_batch = max_batch;
    /* both needs grow with every argument: at the caps, every conv that fits fits both */
    k->task_floats = conv_task_need(CAP_C, CAP_C, CAP_SIDE, CAP_SIDE);
    if (k->task_floats < pooled_task_need(CAP_C, CAP_C, CAP_SIDE, CAP_SIDE))
        k->task_floats = pooled_task_need(CAP_C, CAP_C, CAP_SIDE, CAP_SIDE);
    k->task_floats = round_up(k->task_floats, VL);
    k->wpack_floats = round_up(CAP_C, FWD_MR) * CAP_C * 9;
    k->wgu_floats = round_up(CAP_C, FWD_MR) * CAP_C * 16;
    k->slot_floats = round_up(CAP_C * 9 * round_up(CAP_C, VL) + round_up(CAP_C, VL), VL);
    size_t total = 0, part;
    int ok = size_mul(&part, nthreads, k->task_floats) && size_add(&total, total, part) &&
             size_add(&total, total, k->wpack_floats) &&
             size_add(&total, total, k->wgu_floats) &&
             size_add(&total, total, (size_t)CAP_C * CAP_C * 9) &&
             size_add(&total, total, round_up(CAP_C + FWD_MR, VL)) &&
             size_mul(&part, DW_SLOTS, k->slot_floats) && size_add(&total, total, part) &&
             size_add(&total, total, VL);
    size_t bytes;
    if (!ok || !size_mul(&bytes, total, sizeof(float))) {
        kctx_destroy(k);
        return ms_fail(err, MS_EINTERNAL, "kernels: scratch size overflows");
    }
    k->mem = calloc(total, sizeof(float));
    k->koff = calloc(2 * CAP_C * 9 + 64, sizeof(size_t));
    k->tag = calloc(nthreads, sizeof(size_t));
    if (!k->mem || !k->koff || !k->tag) {
        kctx_destroy(k);
        return ms_fail(err, MS_EINTERNAL, "kernels: out of memory for %zu bytes of scratch",
                       bytes);
    }
    /* carve, keeping every block 64-byte aligned relative to an aligned start */
    float *p = k->mem;
    uintptr_t mis = ((uintptr_t)p / sizeof(float)) % VL;
    if (mis)
        p += VL - mis;
    k->task = p;
    p += nthreads * k->task_floats;
    k->wpack = p;
    p += k->wpack_floats;
    k->wgu = p;
    p += k->wgu_floats;
    k->wgsrc = p;
    p += (size_t)CAP_C * CAP_C * 9;
    k->bpack = p;
    p += round_up(CAP_C + FWD_MR, VL);
    k->slots = p;
    *out = k;
    return MS_OK;
}

void kctx_destroy(kctx *k)
{
    if (!k)
        return;
    threadpool_destroy(k->pool);
    free(k->mem);
    free(k->koff);
    free(k->tag);
    free(k);
}

size_t kctx_threads(const kctx *k) { return k->nthreads; }
threadpool *kctx_pool(kctx *k) { return k->pool; }

/* Runs fn(arg, t) for t < min(nthreads, nitems); tasks pull items themselves. */
static void run_slots(kctx *k, threadpool_fn fn, void *arg, size_t nitems)
{
    size_t t = k->nthreads < nitems ? k->nthreads : nitems;
    if (t == 0)
        return;
    threadpool_run(k->pool, fn, arg, t);
}

/* ---- padding and storing planes ------------------------------------------------- */

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

/* g if m > 0, else +0.0f (also for NaN m), without a branch. */
static inline float keep_if_positive(float g, float m)
{
    uint32_t b;
    memcpy(&b, &g, sizeof b);
    b &= 0u - (uint32_t)(m > 0.0f);
    memcpy(&g, &b, sizeof g);
    return g;
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

/* Copies c planes (H, W) from src into the padded layout of g at dst (c * CS), times
 * [mask > 0] elementwise if mask (c, H, W) is given. */
static void pad_planes_masked(float *restrict dst, const float *restrict src,
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

static void pad_planes(float *restrict dst, const float *restrict src, size_t c,
                       const plane_geom *g)
{
    pad_planes_masked(dst, src, NULL, c, g);
}

/* The padded planes of image img of x (N, ci, H, W) in task t's buffer xpad, unless
 * they are there already (k->tag, reset before each job). */
static void pad_image_once(kctx *k, size_t t, float *xpad, const float *x, size_t img,
                           size_t ci, const plane_geom *g)
{
    if (k->tag[t] != img + 1) {
        pad_planes(xpad, x + img * ci * g->h * g->w, ci, g);
        k->tag[t] = img + 1;
    }
}

/* Stores positions [q0, q0 + nq) of a padded-plane row into the (H, W) plane dst,
 * dropping the zero column. */
static void store_positions(float *restrict dst, const float *restrict src, size_t q0,
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

static void pool_planes(float *restrict y, uint32_t *restrict am, const float *restrict x,
                        size_t first, size_t planes, size_t h, size_t w);

/* ---- conv micro-kernels ---------------------------------------------------------- */

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

static void conv_tile(float *restrict tile, const float *restrict wp,
                      const float *restrict bias, const float *restrict xq,
                      const size_t *restrict koff, size_t K, int relu)
{
    conv_tile_rows(tile, wp, bias, xq, koff, K, relu, FWD_MR);
}

static void conv_tile1(float *restrict tile, const float *restrict wp,
                       const float *restrict bias, const float *restrict xq,
                       const size_t *restrict koff, size_t K, int relu)
{
    conv_tile_rows(tile, wp, bias, xq, koff, K, relu, 1);
}

/* ---- conv forward (also the dL/dx pass) ----------------------------------------- */

typedef struct {
    kctx *k;
    float *y;          /* (N, Co, H, W) */
    const float *x;    /* (N, Ci, H, W) */
    const float *wp;   /* (Co'/8, K, 8) */
    const float *bp;   /* (Co') or NULL */
    size_t ci, co, K, nob, groups;
    plane_geom g;
    int relu;
    float *pool;       /* (N, Co, H/2, W/2) or NULL: pool each image once computed */
    uint32_t *argmax;  /* (N, Co, H/2, W/2) */
    size_t nitems;
    atomic_size_t next;
} conv_fwd_job;

static void conv_fwd_task(void *arg, size_t t)
{
    conv_fwd_job *j = arg;
    kctx *k = j->k;
    const plane_geom *g = &j->g;
    float *xpad = k->task + t * k->task_floats;
    float tile[FWD_MR * FWD_NQ];
    const size_t hw = g->h * g->w;
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        size_t img = item / j->groups, grp = item % j->groups;
        pad_image_once(k, t, xpad, j->x, img, j->ci, g);
        size_t ob0 = grp * j->nob / j->groups, ob1 = (grp + 1) * j->nob / j->groups;
        float *yimg = j->y + img * j->co * hw;
        for (size_t q0 = 0; q0 < g->Q; q0 += FWD_NQ) {
            for (size_t ob = ob0; ob < ob1; ob++) {
                conv_tile(tile, j->wp + ob * j->K * FWD_MR, j->bp ? j->bp + ob * FWD_MR : NULL,
                          xpad + q0, k->koff, j->K, j->relu);
                size_t mmax = j->co - ob * FWD_MR;
                if (mmax > FWD_MR)
                    mmax = FWD_MR;
                for (size_t m = 0; m < mmax; m++)
                    store_positions(yimg + (ob * FWD_MR + m) * hw, tile + m * FWD_NQ, q0,
                                    FWD_NQ, g);
            }
        }
        if (j->pool) {
            /* the whole image is done (groups == 1) and still in cache */
            const size_t howo = (g->h / 2) * (g->w / 2);
            pool_planes(j->pool + img * j->co * howo, j->argmax + img * j->co * howo, yimg,
                        img * j->co * hw, j->co, g->h, g->w);
        }
    }
}

/* Runs the implicit GEMM y = wp * shifted(x) (+ bias, ReLU) over n images; wp, bp and
 * k->koff are already set up for cin input planes and cout outputs. If pool is non-NULL
 * and every item is a whole image, also max-pools each image right after computing it;
 * returns 1 if it did. */
static int conv_fwd_run(kctx *k, float *y, const float *x, const float *wp, const float *bp,
                         size_t n, size_t cin, size_t cout, const plane_geom *g, int relu,
                         float *pool, uint32_t *argmax)
{
    conv_fwd_job j;
    j.pool = pool;
    j.argmax = argmax;
    j.k = k;
    j.y = y;
    j.x = x;
    j.wp = wp;
    j.bp = bp;
    j.ci = cin;
    j.co = cout;
    j.K = cin * 9;
    j.nob = (cout + FWD_MR - 1) / FWD_MR;
    j.g = *g;
    j.relu = relu;
    /* few images: split each over blocks of output channels as well */
    size_t want = 4 * k->nthreads;
    j.groups = 1;
    if (n < want) {
        j.groups = (want + n - 1) / n;
        if (j.groups > j.nob)
            j.groups = j.nob;
    }
    if (j.groups > 1)
        j.pool = NULL; /* images are split over items: pool afterwards */
    j.nitems = n * j.groups;
    atomic_init(&j.next, 0);
    for (size_t t = 0; t < k->nthreads; t++)
        k->tag[t] = 0;
    run_slots(k, conv_fwd_task, &j, j.nitems);
    return j.pool != NULL;
}

static void set_koff(kctx *k, size_t c, const plane_geom *g)
{
    for (size_t ch = 0; ch < c; ch++)
        for (size_t p = 0; p < 3; p++)
            for (size_t t = 0; t < 3; t++)
                k->koff[ch * 9 + p * 3 + t] = ch * g->CS + p * g->S + t;
}

static void conv_forward_plain(float *y, const float *x, const float *w, const float *b,
                               size_t n, size_t ci, size_t co, size_t h, size_t wd, int relu);
static void conv_backward_plain(float *dx, float *dw, float *db, const float *dy,
                                const float *mask, const uint32_t *argmax, const float *x,
                                const float *w, size_t n, size_t ci, size_t co, size_t h,
                                size_t wd);

/* ---- conv + ReLU + 2x2 max pool forward by Winograd F(2x2, 3x3) ------------------ */

/* Each 2x2 block of conv outputs is one pool window and one Winograd tile: 4x4 inputs
 * d (rows 2ty-1 .. 2ty+2, columns 2tx-1 .. 2tx+2), transformed V = B^T d B, times the
 * transformed kernel U = G g G^T elementwise, summed over input channels (16 small
 * GEMMs, one per element xi of the 4x4 transform), then Y = A^T M A gives the 2x2
 * outputs, with
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * That is 16 multiply-adds per 4 outputs and input channel instead of 36. Bias, ReLU
 * and the pool (first maximum in row-major order, as pool_row) follow in registers.
 * Results differ from the direct convolution by rounding only (tests/test_kernels.c).
 *
 * Tiles are vectorised: the 16 lanes of a vector are 16 tiles of one tile row (W/2 <=
 * 16 used), so the pooled output of a tile row is one vector. Work per image goes in
 * blocks of WG_TR tile rows: transform the block's inputs for all channels (V, per xi
 * (Ci, WG_NT)), then for each block of 8 output channels the 16 GEMMs into M (per xi
 * (8, WG_NT), in L1) and the output transform. */
#ifdef HAVE_VECTOR_POOL
#define WG_HAVE 1
#define WG_TR 2              /* tile rows per block */
#define WG_NT (WG_TR * VL)   /* tile slots per block */

#if defined(__clang__)
static inline vf vzip_lo(vf a, vf b)
{
    return __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7,
                                   23);
}
static inline vf vzip_hi(vf a, vf b)
{
    return __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14,
                                   30, 15, 31);
}
#else
static inline vf vzip_lo(vf a, vf b)
{
    return __builtin_shuffle(a, b, (vi){0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23});
}
static inline vf vzip_hi(vf a, vf b)
{
    return __builtin_shuffle(a, b,
                             (vi){8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31});
}
#endif

/* Floats of task scratch: padded input planes, V, M. */
static size_t wg_task_need(size_t ci, size_t h, size_t w)
{
    return ci * geom(h, w).CS + 16 * ci * WG_NT + 16 * FWD_MR * WG_NT;
}

/* ... when the transformed input of a whole image is kept (wg_task's v_all) */
static size_t wg_task_need_all(size_t ci, size_t h, size_t w)
{
    return ci * geom(h, w).CS + 16 * ci * WG_NT + 16 * FWD_MR * WG_NT +
           (h / 2 + WG_TR - 1) / WG_TR * 16 * ci * WG_NT;
}

static int wg_fits(const kctx *k, size_t ci, size_t co, size_t h, size_t w)
{
    if (h < 2 || w < 2 || h % 2 || w % 2 || w / 2 > VL || ci == 0 || co == 0 || ci > CAP_C ||
        co > CAP_C || h > CAP_SIDE || w > CAP_SIDE)
        return 0;
    const plane_geom g = geom(h, w);
    /* the input transform reads 2 * VL + 2 floats from column -1 of padded rows up to h + 1 */
    return (h + 1) * g.S + 2 * VL + 2 <= g.CS &&
           16 * ci * round_up(co, FWD_MR) <= k->wgu_floats &&
           wg_task_need(ci, h, w) <= k->task_floats;
}

/* U[ob][xi][c][m] = (G g G^T)[xi] of w[ob*8 + m][c] (zero past Co), in double. */
static void wg_weights(float *restrict u, const float *restrict w, size_t ci, size_t co)
{
    const size_t nob = (co + FWD_MR - 1) / FWD_MR;
    for (size_t ob = 0; ob < nob; ob++)
        for (size_t m = 0; m < FWD_MR; m++)
            for (size_t c = 0; c < ci; c++) {
                const size_t o = ob * FWD_MR + m;
                double gg[4][3], t[4][4];
                const float *g = o < co ? w + (o * ci + c) * 9 : NULL;
                for (int col = 0; col < 3; col++) {
                    double a = g ? g[col] : 0.0, b = g ? g[3 + col] : 0.0,
                           d = g ? g[6 + col] : 0.0;
                    gg[0][col] = a;
                    gg[1][col] = 0.5 * (a + b + d);
                    gg[2][col] = 0.5 * (a - b + d);
                    gg[3][col] = d;
                }
                for (int r = 0; r < 4; r++) {
                    t[r][0] = gg[r][0];
                    t[r][1] = 0.5 * (gg[r][0] + gg[r][1] + gg[r][2]);
                    t[r][2] = 0.5 * (gg[r][0] - gg[r][1] + gg[r][2]);
                    t[r][3] = gg[r][2];
                }
                for (int xi = 0; xi < 16; xi++)
                    u[((ob * 16 + (size_t)xi) * ci + c) * FWD_MR + m] = (float)t[xi / 4][xi % 4];
            }
}

/* V[xi][c][tr*16 + tx] = (B^T d B)[xi] for the tiles of tile rows ty0 + tr (zero past
 * the last tile row). xpad: the image's padded planes. */
static void wg_input(float *restrict V, const float *restrict xpad, size_t ci, size_t ty0,
                     size_t th, const plane_geom *g)
{
    for (size_t c = 0; c < ci; c++)
        for (size_t tr = 0; tr < WG_TR; tr++) {
            float *vv = V + c * WG_NT + tr * VL;
            const size_t ty = ty0 + tr;
            if (ty >= th) {
                for (size_t xi = 0; xi < 16; xi++)
                    vstore(vv + xi * ci * WG_NT, vset1(0.0f));
                continue;
            }
            vf d[4][4];
            for (size_t r = 0; r < 4; r++) {
                /* column -1 of padded row 2ty + r (image row 2ty - 1 + r) */
                const float *p = xpad + c * g->CS + (2 * ty + r) * g->S;
                vf a0 = vload(p), a1 = vload(p + VL), b0 = vload(p + 2), b1 = vload(p + 2 + VL);
                d[r][0] = veven(a0, a1);
                d[r][1] = vodd(a0, a1);
                d[r][2] = veven(b0, b1);
                d[r][3] = vodd(b0, b1);
            }
            vf t[4][4];
            for (int q = 0; q < 4; q++) {
                t[0][q] = d[0][q] - d[2][q];
                t[1][q] = d[1][q] + d[2][q];
                t[2][q] = d[2][q] - d[1][q];
                t[3][q] = d[1][q] - d[3][q];
            }
            for (int r = 0; r < 4; r++) {
                vstore(vv + (size_t)(r * 4 + 0) * ci * WG_NT, t[r][0] - t[r][2]);
                vstore(vv + (size_t)(r * 4 + 1) * ci * WG_NT, t[r][1] + t[r][2]);
                vstore(vv + (size_t)(r * 4 + 2) * ci * WG_NT, t[r][2] - t[r][1]);
                vstore(vv + (size_t)(r * 4 + 3) * ci * WG_NT, t[r][1] - t[r][3]);
            }
        }
}

/* m[o][0 .. WG_NT) = sum_c u[c][o] v[c][0 .. WG_NT) for o < 8; u: (Ci, 8), v: (Ci, WG_NT) */
static void wg_gemm(float *restrict m, const float *restrict u, const float *restrict v,
                    size_t ci)
{
    vf acc[FWD_MR][2];
    for (int o = 0; o < FWD_MR; o++)
        acc[o][0] = acc[o][1] = vset1(0.0f);
    for (size_t c = 0; c < ci; c++) {
        const vf v0 = vload(v + c * WG_NT), v1 = vload(v + c * WG_NT + VL);
        for (int o = 0; o < FWD_MR; o++) {
            const vf a = vset1(u[c * FWD_MR + (size_t)o]);
            acc[o][0] = vfma(acc[o][0], a, v0);
            acc[o][1] = vfma(acc[o][1], a, v1);
        }
    }
    for (int o = 0; o < FWD_MR; o++) {
        vstore(m + (size_t)o * WG_NT, acc[o][0]);
        vstore(m + (size_t)o * WG_NT + VL, acc[o][1]);
    }
}

/* dst[0 .. len) = the first len <= 32 floats of lo:hi */
static inline void store_pair(float *restrict dst, vf lo, vf hi, size_t len)
{
    if (len >= VL) {
        vstore(dst, lo);
        store_run(dst + VL, hi, len - VL);
    } else {
        store_run(dst, lo, len);
    }
}

typedef struct {
    kctx *k;
    float *y, *p;       /* (N, Co, H, W) or NULL (not kept), (N, Co, H/2, W/2) */
    uint32_t *argmax;   /* (N, Co, H/2, W/2) */
    const float *x;     /* (N, Ci, H, W) */
    const float *u;     /* (Co'/8, 16, Ci, 8) */
    const float *b;     /* (Co) or NULL */
    size_t ci, co, nob, groups, nitems;
    int v_all;          /* the whole image's V per thread (after M), for split images */
    plane_geom g;
    atomic_size_t next;
} wg_job;

/* Output transform, bias, ReLU and pool of tile row ty for the output channels
 * o = ob*8 + m (m < mmax) of image img, from M (per xi (8, WG_NT)), tile row tr of
 * the block. */
static void wg_output(const wg_job *j, const float *restrict M, size_t img, size_t ob,
                      size_t mmax, size_t tr, size_t ty)
{
    const size_t h = j->g.h, w = j->g.w, tw = w / 2, th = h / 2, co = j->co;
    const vu lane2 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    for (size_t mm = 0; mm < mmax; mm++) {
        const size_t o = ob * FWD_MR + mm;
        vf q[16];
        for (size_t xi = 0; xi < 16; xi++)
            q[xi] = vload(M + (xi * FWD_MR + mm) * WG_NT + tr * VL);
        vf s0[4], s1[4];
        for (int c = 0; c < 4; c++) {
            s0[c] = q[c] + q[4 + c] + q[8 + c];
            s1[c] = q[4 + c] - q[8 + c] - q[12 + c];
        }
        const vf bias = vset1(j->b ? j->b[o] : 0.0f);
        const vf a = vrelu(s0[0] + s0[1] + s0[2] + bias);
        const vf bb = vrelu(s0[1] - s0[2] - s0[3] + bias);
        const vf c = vrelu(s1[0] + s1[1] + s1[2] + bias);
        const vf d = vrelu(s1[1] - s1[2] - s1[3] + bias);
        vu off;
        const vf mx = vpool4(a, bb, c, d, (unsigned)w, &off);
        const size_t plane = img * co + o;
        const vu at = vuset1((uint32_t)(plane * h * w + 2 * ty * w)) + lane2 + off;
        store_run(j->p + (plane * th + ty) * tw, mx, tw);
        store_run_u32(j->argmax + (plane * th + ty) * tw, at, tw);
        if (!j->y)
            continue;
        float *yr = j->y + (plane * h + 2 * ty) * w;
        store_pair(yr, vzip_lo(a, bb), vzip_hi(a, bb), w);
        store_pair(yr + w, vzip_lo(c, d), vzip_hi(c, d), w);
    }
}

static void wg_task(void *arg, size_t t)
{
    wg_job *j = arg;
    kctx *k = j->k;
    const plane_geom *g = &j->g;
    const size_t ci = j->ci, th = g->h / 2;
    /* xpad, V of one block, M, then (v_all) V of every block of the image */
    const size_t vblock = 16 * ci * WG_NT;
    float *xpad = k->task + t * k->task_floats;
    float *V = xpad + ci * g->CS, *M = V + vblock, *Vall = M + 16 * FWD_MR * WG_NT;
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        size_t img = item / j->groups, grp = item % j->groups;
        const size_t ob0 = grp * j->nob / j->groups, ob1 = (grp + 1) * j->nob / j->groups;
        const int fresh = k->tag[t] != img + 1;
        pad_image_once(k, t, xpad, j->x, img, ci, g);
        if (j->v_all && fresh) /* the whole image's input transform, once per thread */
            for (size_t ty0 = 0; ty0 < th; ty0 += WG_TR)
                wg_input(Vall + ty0 / WG_TR * vblock, xpad, ci, ty0, th, g);
        for (size_t ty0 = 0; ty0 < th; ty0 += WG_TR) {
            if (j->v_all)
                V = Vall + ty0 / WG_TR * vblock;
            else
                wg_input(V, xpad, ci, ty0, th, g);
            for (size_t ob = ob0; ob < ob1; ob++) {
                const float *u = j->u + ob * 16 * ci * FWD_MR;
                for (size_t xi = 0; xi < 16; xi++)
                    wg_gemm(M + xi * FWD_MR * WG_NT, u + xi * ci * FWD_MR, V + xi * ci * WG_NT,
                            ci);
                size_t mmax = j->co - ob * FWD_MR;
                if (mmax > FWD_MR)
                    mmax = FWD_MR;
                for (size_t tr = 0; tr < WG_TR && ty0 + tr < th; tr++)
                    wg_output(j, M, img, ob, mmax, tr, ty0 + tr);
            }
        }
    }
}

static void wg_forward(kctx *k, float *y, float *p, uint32_t *argmax, const float *x,
                       const float *w, const float *b, size_t n, size_t ci, size_t co,
                       size_t h, size_t wd)
{
    /* the transform of the weights costs as much as a whole image: done again only
     * when the weights changed (compared bit for bit) */
    const size_t wl = co * ci * 9;
    if (k->wg_ci != ci || k->wg_co != co || memcmp(k->wgsrc, w, wl * sizeof(float)) != 0) {
        wg_weights(k->wgu, w, ci, co);
        memcpy(k->wgsrc, w, wl * sizeof(float));
        k->wg_ci = ci;
        k->wg_co = co;
    }
    wg_job j = {.k = k, .y = y, .p = p, .argmax = argmax, .x = x, .u = k->wgu, .b = b,
                .ci = ci, .co = co, .nob = (co + FWD_MR - 1) / FWD_MR, .g = geom(h, wd)};
    /* Fewer images than threads: split each image over its blocks of 8 output
     * channels, so a thread that starts late takes fewer of them; each thread then
     * transforms the input of an image once and keeps it (v_all). Without room for
     * that, split it in as many parts as threads, each transforming the input. */
    j.groups = 1;
    if (n < k->nthreads) {
        j.v_all = wg_task_need_all(ci, h, wd) <= k->task_floats;
        j.groups = j.v_all ? j.nob : (k->nthreads + n - 1) / n;
        if (j.groups > j.nob)
            j.groups = j.nob;
    }
    j.nitems = n * j.groups;
    atomic_init(&j.next, 0);
    for (size_t t = 0; t < k->nthreads; t++)
        k->tag[t] = 0;
    run_slots(k, wg_task, &j, j.nitems);
}
#endif /* HAVE_VECTOR_POOL */

static void conv_forward(kctx *k, float *y, const float *x, const float *w, const float *b,
                         size_t n, size_t ci, size_t co, size_t h, size_t wd, int relu,
                         float *pool, uint32_t *argmax)
{
    if (n == 0)
        return;
    if (!conv_fits(k, ci, co, h, wd)) {
        conv_forward_plain(y, x, w, b, n, ci, co, h, wd, relu);
        if (pool)
            k_maxpool2x2_forward(k, pool, argmax, y, n, co, h, wd);
        return;
    }
    plane_geom g = geom(h, wd);
    const size_t K = ci * 9, nob = (co + FWD_MR - 1) / FWD_MR;
    /* wp[ob][k][m] = w[ob*8 + m][k] (zero rows past Co) */
    for (size_t ob = 0; ob < nob; ob++)
        for (size_t kk = 0; kk < K; kk++)
            for (size_t m = 0; m < FWD_MR; m++) {
                size_t o = ob * FWD_MR + m;
                k->wpack[(ob * K + kk) * FWD_MR + m] = o < co ? w[o * K + kk] : 0.0f;
            }
    for (size_t o = 0; o < nob * FWD_MR; o++)
        k->bpack[o] = (o < co && b) ? b[o] : 0.0f;
    set_koff(k, ci, &g);
    if (!conv_fwd_run(k, y, x, k->wpack, k->bpack, n, ci, co, &g, relu, pool, argmax) && pool)
        k_maxpool2x2_forward(k, pool, argmax, y, n, co, h, wd);
}

void k_conv3x3_forward(kctx *k, float *y, const float *x, const float *w, const float *b,
                       size_t n, size_t ci, size_t co, size_t h, size_t wd, int relu)
{
    conv_forward(k, y, x, w, b, n, ci, co, h, wd, relu, NULL, NULL);
}

void k_conv3x3_relu_maxpool_forward(kctx *k, float *y, float *p, uint32_t *argmax,
                                    const float *x, const float *w, const float *b, size_t n,
                                    size_t ci, size_t co, size_t h, size_t wd, int keep_y)
{
#ifdef WG_HAVE
    if (wg_fits(k, ci, co, h, wd)) {
        wg_forward(k, keep_y ? y : NULL, p, argmax, x, w, b, n, ci, co, h, wd);
        return;
    }
#endif
    conv_forward(k, y, x, w, b, n, ci, co, h, wd, 1, p, argmax);
}

/* ---- conv backward --------------------------------------------------------------- */

#define DW_NVMAX (DW_OMAX / VL)

/* acc[m][v] = sum_{q < nq} xb[koff[m] + q] * dyT[q][v*16 .. +16], stored to
 * out[m][0 .. NV*16) (row stride ostride). MR*NV <= 24 accumulators. */
static inline void dw_tile(float *restrict out, size_t ostride, const float *restrict xb,
                           const size_t *restrict koff, const float *restrict dyT,
                           size_t cop, size_t nq, const int MR, const int NV)
{
    vf acc[12][4];
    for (int m = 0; m < MR; m++)
        for (int v = 0; v < NV; v++)
            acc[m][v] = vset1(0.0f);
    const float *xr[12];
    for (int m = 0; m < MR; m++)
        xr[m] = xb + koff[m];
    for (size_t q = 0; q < nq; q++) {
        vf d[4];
        for (int v = 0; v < NV; v++)
            d[v] = vload(dyT + q * cop + v * VL);
        for (int m = 0; m < MR; m++) {
            vf a = vset1(xr[m][q]);
            for (int v = 0; v < NV; v++)
                acc[m][v] = vfma(acc[m][v], a, d[v]);
        }
    }
    for (int m = 0; m < MR; m++)
        for (int v = 0; v < NV; v++)
            vstore(out + m * ostride + v * VL, acc[m][v]);
}

static void dw_tile_6x4(float *out, size_t os, const float *xb, const size_t *koff,
                        const float *dyT, size_t cop, size_t nq)
{
    dw_tile(out, os, xb, koff, dyT, cop, nq, 6, 4);
}
static void dw_tile_8x3(float *out, size_t os, const float *xb, const size_t *koff,
                        const float *dyT, size_t cop, size_t nq)
{
    dw_tile(out, os, xb, koff, dyT, cop, nq, 8, 3);
}
static void dw_tile_12x2(float *out, size_t os, const float *xb, const size_t *koff,
                         const float *dyT, size_t cop, size_t nq)
{
    dw_tile(out, os, xb, koff, dyT, cop, nq, 12, 2);
}
static void dw_tile_12x1(float *out, size_t os, const float *xb, const size_t *koff,
                         const float *dyT, size_t cop, size_t nq)
{
    dw_tile(out, os, xb, koff, dyT, cop, nq, 12, 1);
}

typedef struct {
    kctx *k;
    float *dx;         /* (N, Ci, H, W) or NULL */
    const float *dy;   /* (N, Co, H, W), or (N, Co, H/2, W/2) if argmax */
    const float *mask; /* or NULL: dy is multiplied by [mask > 0]: (N, Co, H, W), or
                        * (N, Co, H/2, W/2) with argmax (the pooled activation) */
    const uint32_t *argmax; /* (N, Co, H/2, W/2) or NULL: dy is routed through it, by
                             * pooled_bwd_image, and wf is then wT (o, tap, ci') */
    const float *x;    /* (N, Ci, H, W) */
    const float *wf;   /* flipped weights (Ci'/8, Co*9, 8) */
    const size_t *koff_dx; /* Co*9 offsets into the padded dy */
    const size_t *koff_dw; /* Ci*9 (+ padding) offsets into the padded x */
    size_t ci, co, cop, img0, nitems;
    int want_dw;
    plane_geom g;
    atomic_size_t next;
} conv_bwd_job;


/* ---- conv backward through a 2x2 max pool: only the routed gradients ------------- */

/* Routed through a 2x2 max pool, dy has one non-zero per window and channel at most
 * (none where the ReLU masks the maximum). This path visits only those, channel-last:
 *   dw[o][c][tap] += sum_hits g * x[c][hit + off(tap)]   (hits of channel o, q order):
 *     the same terms, in the same order, through the same fused multiply-adds as in
 *     the dense kernel, which only adds exact zeros besides, so bit-identical to it;
 *   dx: window by window, each window's maxima add their kernels into a 4x4 patch in
 *     registers (pooled_dx), so equal to the dense kernel up to rounding.
 * Both are checked against the dense kernel in tests/test_kernels.c. */


/* acc[tap][v] = sum_{e < n} g[e] * xc[pos[e] + off(tap) + v*16 ..], stored to
 * out[tap][v*16 ..] (9 rows of NV*16). xc: channel-last padded plane, cip floats per
 * position, rs = cip * (W + 2) per row. */
static inline void pooled_dw_tile(float *restrict out, const float *restrict xc,
                                  const uint32_t *restrict pos, const float *restrict g,
                                  size_t n, size_t cip, size_t rs, const int NV)
{
    vf acc[9][2];
    for (int t = 0; t < 9; t++)
        for (int v = 0; v < NV; v++)
            acc[t][v] = vset1(0.0f);
    for (size_t e = 0; e < n; e++) {
        const float *c = xc + (size_t)pos[e] * cip - rs - cip;
        const vf gv = vset1(g[e]);
        for (int p = 0; p < 3; p++)
            for (int t = 0; t < 3; t++)
                for (int v = 0; v < NV; v++)
                    acc[p * 3 + t][v] =
                        vfma(acc[p * 3 + t][v], vload(c + p * rs + t * cip + v * VL), gv);
    }
    for (int t = 0; t < 9; t++)
        for (int v = 0; v < NV; v++)
            vstore(out + (t * NV + v) * VL, acc[t][v]);
}

static void pooled_dw_tile1(float *out, const float *xc, const uint32_t *pos, const float *g,
                            size_t n, size_t cip, size_t rs)
{
    pooled_dw_tile(out, xc, pos, g, n, cip, rs, 1);
}

static void pooled_dw_tile2(float *out, const float *xc, const uint32_t *pos, const float *g,
                            size_t n, size_t cip, size_t rs)
{
    pooled_dw_tile(out, xc, pos, g, n, cip, rs, 2);
}

/* acc[(DR + p) * 4 + DC + t] += wT[o][p*3 + t][c0 ..] * g for the n maxima (o, g) of
 * one window whose offset in the window is (DR, DC): their 3x3 footprints in the 4x4
 * patch around the window. wt: wT + c0, cip floats per tap. */
static inline void patch_class(vf acc[16], const float *restrict wt, size_t cip,
                               const uint8_t *restrict os, const float *restrict gs, size_t n,
                               const int DR, const int DC)
{
    for (size_t e = 0; e < n; e++) {
        const float *wo = wt + (size_t)os[e] * 9 * cip;
        const vf gv = vset1(gs[e]);
        for (int p = 0; p < 3; p++)
            for (int t = 0; t < 3; t++)
                acc[(DR + p) * 4 + DC + t] =
                    vfma(acc[(DR + p) * 4 + DC + t], vload(wo + (size_t)(p * 3 + t) * cip), gv);
    }
}

/* dL/dx of one image through the pool, window by window: the non-zero maxima of the
 * window's channels, grouped by their offset in the window, add their kernels into a
 * 4x4 patch of 16 channels held in registers, which is then added to dxc (channel-last,
 * padded: patch row r is padded row 2i + r). Patches overlap by one row and column and
 * are added in window order. wcls, wgv: per channel and window (pooled_hits). */
static void pooled_dx(float *restrict dxc, const float *restrict wT, const uint32_t *wcls,
                      const float *wgv, size_t co, size_t cip, size_t ho, size_t wo, size_t pw)
{
    const size_t nw = ho * wo;
    uint8_t os[4][CAP_C];
    float gs[4][CAP_C];
    for (size_t win = 0; win < nw; win++) {
        size_t cnt[4] = {0, 0, 0, 0};
        for (size_t o = 0; o < co; o++) {
            const float g = wgv[o * nw + win];
            if (g == 0.0f)
                continue; /* masked by the ReLU, or a zero gradient: adds nothing */
            const size_t c = wcls[o * nw + win] & 3u;
            os[c][cnt[c]] = (uint8_t)o;
            gs[c][cnt[c]++] = g;
        }
        if (cnt[0] + cnt[1] + cnt[2] + cnt[3] == 0)
            continue;
        const size_t i = win / wo, jj = win % wo;
        float *d0 = dxc + (2 * i * pw + 2 * jj) * cip;
        for (size_t c0 = 0; c0 < cip; c0 += VL) {
            vf acc[16];
            for (int q = 0; q < 16; q++)
                acc[q] = vset1(0.0f);
            patch_class(acc, wT + c0, cip, os[0], gs[0], cnt[0], 0, 0);
            patch_class(acc, wT + c0, cip, os[1], gs[1], cnt[1], 0, 1);
            patch_class(acc, wT + c0, cip, os[2], gs[2], cnt[2], 1, 0);
            patch_class(acc, wT + c0, cip, os[3], gs[3], cnt[3], 1, 1);
            for (size_t r = 0; r < 4; r++)
                for (size_t c = 0; c < 4; c++) {
                    float *d = d0 + (r * pw + c) * cip + c0;
                    vstore(d, vadd(vload(d), acc[r * 4 + c]));
                }
        }
    }
}

/* The hits of channel ch of image img: hg the routed, masked gradient, hp its position
 * in the channel-last padded plane, in q (row-major) order: of each pair of rows, the
 * windows whose maximum is in the upper row first. May write up to VL entries past
 * the last hit. Zero gradients are left out (they add nothing); returns the count.
 * If wcls, also per window in window order: wcls the offset class 2*dr + dc of the
 * maximum in its window, wgv its gradient. hg may be NULL. The offset in each window
 * is decoded without leaving the window, so a stray argmax cannot make this read
 * outside the image. */
static size_t pooled_hits(float *restrict hg, uint32_t *restrict hp, uint32_t *restrict wcls,
                          float *restrict wgv, const conv_bwd_job *j, size_t img, size_t ch)
{
    const size_t co = j->co, h = j->g.h, w = j->g.w, ho = h / 2, wo = w / 2, pw = w + 2;
    const size_t base = (img * co + ch) * h * w; /* flat index of the plane's (0, 0) */
    const float *gp = j->dy + (img * co + ch) * ho * wo;
    const uint32_t *am = j->argmax + (img * co + ch) * ho * wo;
    const float *msk = j->mask ? j->mask + (img * co + ch) * ho * wo : NULL;
    size_t nh = 0;
#if defined(__AVX512F__) && !defined(MS_PORTABLE_VECTORS)
    const __m512i lane2 = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6,
                                           4, 2, 0);
    const __m512i wv = _mm512_set1_epi32((int)w), one = _mm512_set1_epi32(1);
    for (size_t i = 0; i < ho; i++)
        for (unsigned pass = 0; pass < 2; pass++)
            for (size_t j0 = 0; j0 < wo; j0 += VL) {
                const size_t cnt = wo - j0 < VL ? wo - j0 : VL;
                const __mmask16 km = (__mmask16)(cnt == VL ? 0xffffu : (1u << cnt) - 1u);
                const size_t e0 = i * wo + j0;
                /* window corners relative to the plane, and the argmax relative to them */
                const __m512i win =
                    _mm512_add_epi32(_mm512_set1_epi32((int)(2 * i * w + 2 * j0)), lane2);
                const __m512i a = _mm512_maskz_loadu_epi32(km, am + e0);
                const __m512i off =
                    _mm512_sub_epi32(a, _mm512_add_epi32(win, _mm512_set1_epi32((int)base)));
                const __mmask16 lower = _mm512_cmpge_epu32_mask(off, wv);
                const __m512i dr = _mm512_maskz_mov_epi32(lower, one);
                const __m512i dc =
                    _mm512_and_si512(_mm512_sub_epi32(off, _mm512_maskz_mov_epi32(lower, wv)), one);
                __m512 g = _mm512_maskz_loadu_ps(km, gp + e0);
                if (msk) {
                    const __m512 m = _mm512_maskz_loadu_ps(km, msk + e0);
                    g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_GT_OQ),
                                            g);
                }
                /* (2i + dr + 1) * pw + 2j + dc + 1 */
                const __m512i pos = _mm512_add_epi32(
                    _mm512_add_epi32(_mm512_set1_epi32((int)((2 * i + 1) * pw + 1 + 2 * j0)), lane2),
                    _mm512_add_epi32(_mm512_mullo_epi32(dr, _mm512_set1_epi32((int)pw)), dc));
                if (wcls && pass == 0) {
                    /* class dr * 2 + dc per window */
                    _mm512_mask_storeu_epi32(wcls + e0, km,
                                             _mm512_add_epi32(_mm512_add_epi32(dr, dr), dc));
                    _mm512_mask_storeu_ps(wgv + e0, km, g);
                }
                if (!hg)
                    continue;
                const __mmask16 nz = _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_NEQ_UQ);
                const __mmask16 take =
                    (__mmask16)(km & nz & (pass ? lower : (__mmask16)~lower));
                _mm512_storeu_ps(hg + nh, _mm512_maskz_compress_ps(take, g));
                _mm512_storeu_si512((void *)(hp + nh), _mm512_maskz_compress_epi32(take, pos));
                nh += (size_t)__builtin_popcount((unsigned)take);
            }
#else
    for (size_t i = 0; i < ho; i++)
        for (size_t pass = 0; pass < 2; pass++)
            for (size_t jj = 0; jj < wo; jj++) {
                const size_t e = i * wo + jj, win = 2 * i * w + 2 * jj;
                const size_t off = (size_t)am[e] - (base + win);
                const size_t dr = off >= w, dc = (off - dr * w) & 1;
                float gv = gp[e];
                if (msk)
                    gv = keep_if_positive(gv, msk[e]);
                if (wcls && pass == 0) {
                    wcls[e] = (uint32_t)(2 * dr + dc);
                    wgv[e] = gv;
                }
                if (!hg)
                    continue;
                hg[nh] = gv;
                hp[nh] = (uint32_t)((2 * i + dr + 1) * pw + 2 * jj + dc + 1);
                nh += (dr == pass) & (gv != 0.0f);
            }
#endif
    return nh;
}

/* One image of the pooled backward: hits, then dx and the dw/db partial sums in the
 * image's slot (same layout as the dense path). */
static void pooled_bwd_image(const conv_bwd_job *j, float *scratch, size_t img, float *slot)
{
    const plane_geom *g = &j->g;
    const size_t ci = j->ci, co = j->co, h = g->h, w = g->w, hw = h * w;
    const size_t ho = h / 2, wo = w / 2, cip = round_up(ci, VL);
    const size_t pw = w + 2, rs = pw * cip, plane = (h + 2) * rs;
    float *xc = scratch, *dxc = scratch + round_up(plane, VL);
    const size_t nlist = round_up(co * ho * wo + VL, VL);
    float *hg = dxc + round_up(plane, VL);
    uint32_t *hp = (uint32_t *)(void *)(hg + nlist);
    uint32_t *wcls = (uint32_t *)(void *)(hg + 2 * nlist);
    float *wgv = hg + 3 * nlist;

    size_t nhit[CAP_C];
    for (size_t ch = 0; ch < co; ch++)
        nhit[ch] = pooled_hits(j->want_dw ? hg + ch * ho * wo : NULL, hp + ch * ho * wo,
                               j->dx ? wcls + ch * ho * wo : NULL, wgv + ch * ho * wo, j, img,
                               ch);
    const size_t nhits = ho * wo; /* room per channel */

    if (j->dx) {
        /* wT[o][tap][c] in j->wf */
        memset(dxc, 0, plane * sizeof(float));
        pooled_dx(dxc, j->wf, wcls, wgv, co, cip, ho, wo, pw);
        float *dximg = j->dx + img * ci * hw;
        for (size_t c = 0; c < ci; c++)
            for (size_t r = 0; r < h; r++)
                for (size_t s = 0; s < w; s++)
                    dximg[(c * h + r) * w + s] = dxc[((r + 1) * pw + s + 1) * cip + c];
    }
    if (!j->want_dw)
        return;

    /* channel-last padded x */
    memset(xc, 0, plane * sizeof(float));
    const float *ximg = j->x + img * ci * hw;
    for (size_t c = 0; c < ci; c++)
        for (size_t r = 0; r < h; r++)
            for (size_t s = 0; s < w; s++)
                xc[((r + 1) * pw + s + 1) * cip + c] = ximg[(c * h + r) * w + s];
    const size_t cop = j->cop;
    float tile[9 * 2 * VL];
    for (size_t o = 0; o < co; o++) {
        for (size_t c0 = 0; c0 < cip; c0 += 2 * VL) {
            const int nv = cip - c0 >= 2 * VL ? 2 : 1;
            if (nv == 2)
                pooled_dw_tile2(tile, xc + c0, hp + o * nhits, hg + o * nhits, nhit[o], cip,
                                rs);
            else
                pooled_dw_tile1(tile, xc + c0, hp + o * nhits, hg + o * nhits, nhit[o], cip,
                                rs);
            /* slot[(c*9 + tap)][o] */
            for (size_t t = 0; t < 9; t++)
                for (size_t l = 0; l < (size_t)nv * VL && c0 + l < ci; l++)
                    slot[((c0 + l) * 9 + t) * cop + o] = tile[t * nv * VL + l];
        }
        float s = 0.0f;
        for (size_t e = 0; e < nhit[o]; e++)
            s += hg[o * nhits + e];
        slot[ci * 9 * cop + o] = s;
    }
}

static void conv_bwd_task(void *arg, size_t t)
{
    conv_bwd_job *j = arg;
    kctx *k = j->k;
    const plane_geom *g = &j->g;
    const size_t hw = g->h * g->w, ci = j->ci, co = j->co, cop = j->cop;
    float *xpad = k->task + t * k->task_floats;
    float *dypad = xpad + ci * g->CS;
    float *dyT = dypad + co * g->CS;
    float tile[FWD_MR * FWD_NQ];
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        size_t img = j->img0 + item;
        if (j->argmax) {
            pooled_bwd_image(j, xpad, img, k->slots + item % DW_SLOTS * k->slot_floats);
            continue;
        }
        /* dy, times the ReLU mask if given */
        pad_planes_masked(dypad, j->dy + img * co * hw, j->mask ? j->mask + img * co * hw : NULL,
                          co, g);
        if (j->dx) {
            /* dx = conv(dy, flipped w): Ci outputs, Co*9 rows */
            const size_t K = co * 9, nob = (ci + FWD_MR - 1) / FWD_MR;
            float *dximg = j->dx + img * ci * hw;
            for (size_t q0 = 0; q0 < g->Q; q0 += FWD_NQ)
                for (size_t ob = 0; ob < nob; ob++) {
                    if (ci == 1)
                        conv_tile1(tile, j->wf, NULL, dypad + q0, j->koff_dx, K, 0);
                    else
                        conv_tile(tile, j->wf + ob * K * FWD_MR, NULL, dypad + q0,
                                  j->koff_dx, K, 0);
                    size_t mmax = ci - ob * FWD_MR;
                    if (mmax > FWD_MR)
                        mmax = FWD_MR;
                    for (size_t m = 0; m < mmax; m++)
                        store_positions(dximg + (ob * FWD_MR + m) * hw, tile + m * FWD_NQ,
                                        q0, FWD_NQ, g);
                }
        }
        if (!j->want_dw)
            continue;
        pad_planes(xpad, j->x + img * ci * hw, ci, g);
        /* dyT[q][o] = dy[o] at position q (zero at dropped positions and o >= Co) */
        const size_t shift = g->S + 1;
        for (size_t q0 = 0; q0 < g->Qpad; q0 += VL) {
            for (size_t o = 0; o < co; o++) {
                const float *s = dypad + o * g->CS + q0 + shift;
                for (size_t qq = 0; qq < VL; qq++)
                    dyT[(q0 + qq) * cop + o] = s[qq];
            }
            for (size_t o = co; o < cop; o++)
                for (size_t qq = 0; qq < VL; qq++)
                    dyT[(q0 + qq) * cop + o] = 0.0f;
        }
        /* slot: (K, Co') partial dw for this image, then db (Co') */
        float *slot = k->slots + item % DW_SLOTS * k->slot_floats;
        const size_t K = ci * 9;
        for (size_t o0 = 0; o0 < cop; o0 += DW_OMAX) {
            size_t nv = (cop - o0) / VL;
            if (nv > DW_NVMAX)
                nv = DW_NVMAX;
            size_t mr = nv == 4 ? 6 : nv == 3 ? 8 : 12;
            for (size_t k0 = 0; k0 < K; k0 += mr) {
                float *out = slot + k0 * cop + o0;
                float part[12 * DW_OMAX];
                int partial = k0 + mr > K;
                float *dst = partial ? part : out;
                size_t os = partial ? DW_OMAX : cop;
                const float *d = dyT + o0;
                switch (nv) {
                case 4: dw_tile_6x4(dst, os, xpad, j->koff_dw + k0, d, cop, g->Qpad); break;
                case 3: dw_tile_8x3(dst, os, xpad, j->koff_dw + k0, d, cop, g->Qpad); break;
                case 2: dw_tile_12x2(dst, os, xpad, j->koff_dw + k0, d, cop, g->Qpad); break;
                default: dw_tile_12x1(dst, os, xpad, j->koff_dw + k0, d, cop, g->Qpad); break;
                }
                if (partial)
                    for (size_t m = 0; k0 + m < K; m++)
                        memcpy(out + m * cop, part + m * DW_OMAX, nv * VL * sizeof(float));
            }
        }
        /* db[o] = sum_q dyT[q][o], in q order */
        float *db = slot + K * cop;
        for (size_t o0 = 0; o0 < cop; o0 += VL) {
            vf s = vset1(0.0f);
            for (size_t q = 0; q < g->Qpad; q++)
                s = vadd(s, vload(dyT + q * cop + o0));
            vstore(db + o0, s);
        }
    }
}

typedef struct {
    const kctx *k;
    float *dw, *db;
    size_t ci, co, cop, nslots;
    size_t nitems; /* blocks of 16 rows k (the last one also adds db) */
    atomic_size_t next;
} dw_reduce_job;

static void dw_reduce_task(void *arg, size_t t)
{
    (void)t;
    dw_reduce_job *j = arg;
    const size_t K = j->ci * 9, cop = j->cop;
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        size_t k0 = item * 16, k1 = k0 + 16 < K ? k0 + 16 : K;
        /* dw[o][k] += sum_s slot_s[k][o], slots in image order */
        for (size_t kk = k0; kk < k1 && j->dw; kk++)
            for (size_t o = 0; o < j->co; o++) {
                float acc = j->dw[o * K + kk];
                for (size_t s = 0; s < j->nslots; s++)
                    acc += j->k->slots[s * j->k->slot_floats + kk * cop + o];
                j->dw[o * K + kk] = acc;
            }
        if (item == j->nitems - 1 && j->db)
            for (size_t o = 0; o < j->co; o++) {
                float acc = j->db[o];
                for (size_t s = 0; s < j->nslots; s++)
                    acc += j->k->slots[s * j->k->slot_floats + K * cop + o];
                j->db[o] = acc;
            }
    }
}

/* k_conv3x3_backward with dy given as in conv_bwd_job (mask, argmax may be NULL). */
static void conv_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                          const float *mask, const uint32_t *argmax, const float *x,
                          const float *w, size_t n, size_t ci, size_t co, size_t h, size_t wd)
{
    if (n == 0)
        return;
    if (!conv_fits(k, ci, co, h, wd)) {
        conv_backward_plain(dx, dw, db, dy, mask, argmax, x, w, n, ci, co, h, wd);
        return;
    }
    plane_geom g = geom(h, wd);
    const size_t cop = round_up(co, VL);
    const int want_dw = dw != NULL || db != NULL;
    if (!dx && !want_dw)
        return;
    /* Flipped weights: wf[cb][o*9 + t][m] = w[o][cb*8 + m][8 - t]; koff over padded dy */
    const size_t nib = (ci + FWD_MR - 1) / FWD_MR, Kd = co * 9;
    /* through a pool: only the window maxima (task scratch and wpack are sized for it) */
    if (dx && argmax) {
        /* wT[o][tap][c] = w[o][c][tap], channels padded to cip with zeros */
        const size_t cip = round_up(ci, VL);
        for (size_t o = 0; o < co; o++)
            for (size_t t = 0; t < 9; t++)
                for (size_t c = 0; c < cip; c++)
                    k->wpack[(o * 9 + t) * cip + c] = c < ci ? w[(o * ci + c) * 9 + t] : 0.0f;
    } else if (dx) {
        for (size_t cb = 0; cb < nib; cb++)
            for (size_t o = 0; o < co; o++)
                for (size_t t = 0; t < 9; t++)
                    for (size_t m = 0; m < FWD_MR; m++) {
                        size_t c = cb * FWD_MR + m;
                        k->wpack[(cb * Kd + o * 9 + t) * FWD_MR + m] =
                            c < ci ? w[(o * ci + c) * 9 + 8 - t] : 0.0f;
                    }
    }
    /* koff: first Co*9 for the dx pass (over dy planes), then Ci*9 (+12) for dw */
    size_t *koff_dx = k->koff, *koff_dw = k->koff + Kd;
    for (size_t o = 0; o < co; o++)
        for (size_t p = 0; p < 3; p++)
            for (size_t t = 0; t < 3; t++)
                koff_dx[o * 9 + p * 3 + t] = o * g.CS + p * g.S + t;
    for (size_t c = 0; c < ci; c++)
        for (size_t p = 0; p < 3; p++)
            for (size_t t = 0; t < 3; t++)
                koff_dw[c * 9 + p * 3 + t] = c * g.CS + p * g.S + t;
    for (size_t r = 0; r < 12; r++)
        koff_dw[ci * 9 + r] = 0; /* rows past K of the last tile read plane 0 */

    conv_bwd_job j;
    j.k = k;
    j.dx = dx;
    j.dy = dy;
    j.mask = mask;
    j.argmax = argmax;
    j.x = x;
    j.wf = k->wpack;
    j.koff_dx = koff_dx;
    j.koff_dw = koff_dw;
    j.ci = ci;
    j.co = co;
    j.cop = cop;
    j.want_dw = want_dw;
    j.g = g;
    size_t step = want_dw ? DW_SLOTS : n;
    for (size_t img0 = 0; img0 < n; img0 += step) {
        size_t cnt = n - img0 < step ? n - img0 : step;
        j.img0 = img0;
        j.nitems = cnt;
        atomic_init(&j.next, 0);
        run_slots(k, conv_bwd_task, &j, cnt);
        if (want_dw) {
            dw_reduce_job r;
            r.k = k;
            r.dw = dw;
            r.db = db;
            r.ci = ci;
            r.co = co;
            r.cop = cop;
            r.nslots = cnt;
            r.nitems = (ci * 9 + 15) / 16;
            atomic_init(&r.next, 0);
            run_slots(k, dw_reduce_task, &r, r.nitems);
        }
    }
}

void k_conv3x3_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, size_t n, size_t ci, size_t co,
                        size_t h, size_t wd)
{
    conv_backward(k, dx, dw, db, dy, NULL, NULL, x, w, n, ci, co, h, wd);
}

void k_conv3x3_relu_backward(kctx *k, float *dx, float *dw, float *db, const float *g,
                             const float *a, const float *x, const float *w, size_t n,
                             size_t ci, size_t co, size_t h, size_t wd)
{
    conv_backward(k, dx, dw, db, g, a, NULL, x, w, n, ci, co, h, wd);
}

void k_conv3x3_relu_maxpool_backward(kctx *k, float *dx, float *dw, float *db,
                                     const float *gp, const uint32_t *argmax, const float *pa,
                                     const float *x, const float *w, size_t n, size_t ci,
                                     size_t co, size_t h, size_t wd)
{
    conv_backward(k, dx, dw, db, gp, pa, argmax, x, w, n, ci, co, h, wd);
}

/* ---- max pooling ----------------------------------------------------------------- */

typedef struct {
    float *y, *dx;
    uint32_t *amax;
    const uint32_t *camax;
    const float *x, *dy, *a;
    size_t planes, h, w, nitems;
    atomic_size_t next;
} pool_job;

#define POOL_PLANES 16

/* One row of 2x2 windows: wo outputs yr, ar from input rows r0, r1 (2*wo floats each);
 * base: flat index of r0[0], w: input row length. The first maximum of each window in
 * row-major order wins (vpool4, and the same comparisons in the scalar tail). */
static void pool_row(float *restrict yr, uint32_t *restrict ar, const float *restrict r0,
                     const float *restrict r1, uint32_t base, size_t wo, size_t w)
{
    size_t jj = 0;
#ifdef HAVE_VECTOR_POOL
    const vu lane2 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    for (; jj < wo; jj += VL) {
        const size_t cnt = wo - jj < VL ? wo - jj : VL;
        const float *s0 = r0 + 2 * jj, *s1 = r1 + 2 * jj;
        vf a0, a1, c0, c1;
        if (cnt == VL) {
            a0 = vload(s0), a1 = vload(s0 + VL), c0 = vload(s1), c1 = vload(s1 + VL);
        } else {
#if defined(__AVX512F__)
            const unsigned n2 = 2 * (unsigned)cnt; /* 2 .. 30 */
            const __mmask16 k0 = (__mmask16)(n2 >= VL ? 0xffffu : (1u << n2) - 1u);
            const __mmask16 k1 = (__mmask16)(n2 > VL ? (1u << (n2 - VL)) - 1u : 0u);
            a0 = (vf)_mm512_maskz_loadu_ps(k0, s0), a1 = (vf)_mm512_maskz_loadu_ps(k1, s0 + VL);
            c0 = (vf)_mm512_maskz_loadu_ps(k0, s1), c1 = (vf)_mm512_maskz_loadu_ps(k1, s1 + VL);
#else
            float t0[2 * VL] = {0}, t1[2 * VL] = {0};
            memcpy(t0, s0, 2 * cnt * sizeof(float));
            memcpy(t1, s1, 2 * cnt * sizeof(float));
            a0 = vload(t0), a1 = vload(t0 + VL), c0 = vload(t1), c1 = vload(t1 + VL);
#endif
        }
        vu off;
        vf m = vpool4(veven(a0, a1), vodd(a0, a1), veven(c0, c1), vodd(c0, c1), (unsigned)w,
                      &off);
        vu at = vuset1(base + 2 * (uint32_t)jj) + lane2 + off;
        store_run(yr + jj, m, cnt);
        store_run_u32(ar + jj, at, cnt);
    }
#endif
    for (; jj < wo; jj++) {
        float a = r0[2 * jj], b = r0[2 * jj + 1], c = r1[2 * jj], d = r1[2 * jj + 1];
        uint32_t ia = base + 2 * (uint32_t)jj, im = ia;
        float m = a;
        int gb = b > m;
        m = gb ? b : m;
        im = gb ? ia + 1 : im;
        int gc = c > m;
        m = gc ? c : m;
        im = gc ? ia + (uint32_t)w : im;
        int gd = d > m;
        m = gd ? d : m;
        im = gd ? ia + (uint32_t)w + 1 : im;
        yr[jj] = m;
        ar[jj] = im;
    }
}

/* 2x2 max pool of `planes` planes (H, W) at x, whose first element has flat index
 * first; the first maximum of each window in row-major order wins. */
static void pool_planes(float *restrict y, uint32_t *restrict am, const float *restrict x,
                        size_t first, size_t planes, size_t h, size_t w)
{
    const size_t ho = h / 2, wo = w / 2;
    for (size_t pl = 0; pl < planes; pl++)
        for (size_t i = 0; i < ho; i++) {
            const float *r0 = x + (pl * h + 2 * i) * w;
            pool_row(y + (pl * ho + i) * wo, am + (pl * ho + i) * wo, r0, r0 + w,
                     (uint32_t)(first + (pl * h + 2 * i) * w), wo, w);
        }
}

static void pool_fwd_task(void *arg, size_t t)
{
    (void)t;
    pool_job *j = arg;
    const size_t hw = j->h * j->w, howo = (j->h / 2) * (j->w / 2);
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        size_t p0 = item * POOL_PLANES;
        size_t p1 = p0 + POOL_PLANES < j->planes ? p0 + POOL_PLANES : j->planes;
        pool_planes(j->y + p0 * howo, j->amax + p0 * howo, j->x + p0 * hw, p0 * hw, p1 - p0,
                    j->h, j->w);
    }
}

void k_maxpool2x2_forward(kctx *k, float *y, uint32_t *argmax, const float *x, size_t n,
                          size_t c, size_t h, size_t w)
{
    pool_job j;
    memset(&j, 0, sizeof j);
    j.y = y;
    j.amax = argmax;
    j.x = x;
    j.planes = n * c;
    j.h = h;
    j.w = w;
    j.nitems = (j.planes + POOL_PLANES - 1) / POOL_PLANES;
    atomic_init(&j.next, 0);
    run_slots(k, pool_fwd_task, &j, j.nitems);
}

static void pool_bwd_task(void *arg, size_t t)
{
    (void)t;
    pool_job *j = arg;
    const size_t hw = j->h * j->w, howo = (j->h / 2) * (j->w / 2);
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        size_t p0 = item * POOL_PLANES;
        size_t p1 = p0 + POOL_PLANES < j->planes ? p0 + POOL_PLANES : j->planes;
        memset(j->dx + p0 * hw, 0, (p1 - p0) * hw * sizeof(float));
        for (size_t e = p0 * howo; e < p1 * howo; e++) {
            uint32_t at = j->camax[e];
            float g = j->dy[e];
            if (j->a && !(j->a[at] > 0.0f))
                g = 0.0f;
            j->dx[at] = g;
        }
    }
}

void k_maxpool2x2_backward(kctx *k, float *dx, const float *dy, const uint32_t *argmax,
                           const float *a, size_t n, size_t c, size_t h, size_t w)
{
    pool_job j;
    memset(&j, 0, sizeof j);
    j.dx = dx;
    j.dy = dy;
    j.camax = argmax;
    j.a = a;
    j.planes = n * c;
    j.h = h;
    j.w = w;
    j.nitems = (j.planes + POOL_PLANES - 1) / POOL_PLANES;
    atomic_init(&j.next, 0);
    run_slots(k, pool_bwd_task, &j, j.nitems);
}

/* ---- linear ---------------------------------------------------------------------- */

#define LF_RN 4 /* images per forward tile */
#define LF_RO 6 /* outputs per forward tile */

/* y[r][o] for RN rows of x and LF_RO rows of w: vector dot products over i, lanes summed
 * pairwise, then the scalar tail, bias and ReLU. Rows past the end are clamped
 * (computed twice, stored once). */
static inline void lin_fwd_tile(float *y, const float *x, const float *w, const float *b,
                                size_t n0, size_t o0, size_t n, size_t in, size_t out,
                                int relu, const int RN)
{
    const float *xr[LF_RN], *wr[LF_RO];
    for (int r = 0; r < RN; r++)
        xr[r] = x + (n0 + (size_t)r < n ? n0 + (size_t)r : n0) * in;
    for (int c = 0; c < LF_RO; c++)
        wr[c] = w + (o0 + (size_t)c < out ? o0 + (size_t)c : o0) * in;
    vf acc[LF_RN][LF_RO];
    for (int r = 0; r < RN; r++)
        for (int c = 0; c < LF_RO; c++)
            acc[r][c] = vset1(0.0f);
    const size_t iv = in / VL * VL;
    for (size_t i = 0; i < iv; i += VL) {
        vf xv[LF_RN], any = vset1(0.0f);
        for (int r = 0; r < RN; r++) {
            xv[r] = vload(xr[r] + i);
            any = vor(any, xv[r]);
        }
        /* inputs of exactly +0 (most of a ReLU + pool output) add exact zeros: skip them
         * (the sums are bit-identical, and the same for every batch size) */
        if (vzero(any))
            continue;
        for (int c = 0; c < LF_RO; c++) {
            vf wv = vload(wr[c] + i);
            for (int r = 0; r < RN; r++)
                acc[r][c] = vfma(acc[r][c], xv[r], wv);
        }
    }
    for (int r = 0; r < RN; r++) {
        if (n0 + (size_t)r >= n)
            break;
        for (int c = 0; c < LF_RO; c++) {
            if (o0 + (size_t)c >= out)
                break;
            float s = vhsum(acc[r][c]);
            for (size_t i = iv; i < in; i++)
                s += xr[r][i] * wr[c][i];
            s += b ? b[o0 + c] : 0.0f;
            y[(n0 + r) * out + o0 + c] = relu ? relu1(s) : s;
        }
    }
}

typedef struct {
    float *y, *dx, *dw;
    const float *x, *w, *b, *dy;
    size_t n, in, out, nnb, nob, nitems;
    int relu;
    int dx_relu; /* backward: dx times [x > 0] (x is a ReLU output) */
    atomic_size_t next;
} lin_job;

static void lin_fwd_task(void *arg, size_t t)
{
    (void)t;
    lin_job *j = arg;
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        /* item = (output block, image block): the w rows stay in cache across images */
        size_t ob = item / j->nnb, nb = item % j->nnb;
        size_t n0 = nb * LF_RN, o0 = ob * LF_RO, rn = j->n - n0;
        switch (rn >= 4 ? 4 : rn) {
        case 4: lin_fwd_tile(j->y, j->x, j->w, j->b, n0, o0, j->n, j->in, j->out, j->relu, 4); break;
        case 3: lin_fwd_tile(j->y, j->x, j->w, j->b, n0, o0, j->n, j->in, j->out, j->relu, 3); break;
        case 2: lin_fwd_tile(j->y, j->x, j->w, j->b, n0, o0, j->n, j->in, j->out, j->relu, 2); break;
        default: lin_fwd_tile(j->y, j->x, j->w, j->b, n0, o0, j->n, j->in, j->out, j->relu, 1); break;
        }
    }
}

void k_linear_forward(kctx *k, float *y, const float *x, const float *w, const float *b,
                      size_t n, size_t in, size_t out, int relu)
{
    if (n == 0 || out == 0)
        return;
    lin_job j;
    memset(&j, 0, sizeof j);
    j.y = y;
    j.x = x;
    j.w = w;
    j.b = b;
    j.n = n;
    j.in = in;
    j.out = out;
    j.relu = relu;
    j.nnb = (n + LF_RN - 1) / LF_RN;
    j.nob = (out + LF_RO - 1) / LF_RO;
    j.nitems = j.nnb * j.nob;
    atomic_init(&j.next, 0);
    run_slots(k, lin_fwd_task, &j, j.nitems);
}

#define LB_R 6  /* rows (images for dx, outputs for dw) per backward tile */
#define LB_NV 4 /* vectors of inputs per backward tile */
#define LB_COLS (LB_NV * VL)
#define LB_CAP_OUT 256 /* largest out for the masked dx path */

/* acc[r][v] = sum_{s < len} a[r*ars + s*ass] * bm[s*bs + v*16 ..], i.e. rows of
 * coefficients a times rows of bm; stored (or added if add) to dst[r*ds + v*16]. Rows
 * r >= nr are clamped to row 0 and not stored. */
static inline void lin_bwd_tile(float *dst, size_t ds, const float *a, size_t ars, size_t ass,
                                const float *bm, size_t bs, size_t len, size_t nr, int add,
                                const int NV, const int skip_zero)
{
    vf acc[LB_R][LB_NV];
    const float *ar[LB_R];
    for (int r = 0; r < LB_R; r++) {
        ar[r] = a + ((size_t)r < nr ? (size_t)r : 0) * ars;
        for (int v = 0; v < NV; v++)
            acc[r][v] = vset1(0.0f);
    }
    for (size_t s = 0; s < len; s++) {
        vf bv[LB_NV];
        for (int v = 0; v < NV; v++)
            bv[v] = vload(bm + s * bs + v * VL);
        if (skip_zero) {
            /* rows of exact +0 (ReLU outputs) add exact zeros: skip them */
            vf any = bv[0];
            for (int v = 1; v < NV; v++)
                any = vor(any, bv[v]);
            if (vzero(any))
                continue;
        }
        for (int r = 0; r < LB_R; r++) {
            vf av = vset1(ar[r][s * ass]);
            for (int v = 0; v < NV; v++)
                acc[r][v] = vfma(acc[r][v], av, bv[v]);
        }
    }
    for (int r = 0; r < LB_R && (size_t)r < nr; r++)
        for (int v = 0; v < NV; v++) {
            float *d = dst + r * ds + v * VL;
            vstore(d, add ? vadd(vload(d), acc[r][v]) : acc[r][v]);
        }
}

/* dx[m][i0 .. i0 + LB_COLS) = (sum_o dy[m][o] w[o][..]) * [x[m][..] > 0] for every
 * image m: rows whose inputs are all zero there get zeros without any arithmetic, the
 * others go through lin_bwd_tile in groups of LB_R (gathered), so each computed value
 * is the same as in the unmasked path. */
static void lin_bwd_dx_relu(const lin_job *j, size_t i0)
{
    const size_t n = j->n, in = j->in, out = j->out;
    float a[LB_R * LB_CAP_OUT], d[LB_R * LB_COLS];
    size_t act[LB_R], na = 0;
    for (size_t m = 0; m <= n; m++) {
        if (m < n) {
            const float *xr = j->x + m * in + i0;
            vf any = vload(xr);
            for (int v = 1; v < LB_NV; v++)
                any = vor(any, vload(xr + v * VL));
            if (vzero(any)) {
                memset(j->dx + m * in + i0, 0, LB_COLS * sizeof(float));
                continue;
            }
            memcpy(a + na * out, j->dy + m * out, out * sizeof(float));
            act[na++] = m;
            if (na < LB_R)
                continue;
        }
        if (na == 0)
            break;
        lin_bwd_tile(d, LB_COLS, a, out, 1, j->w + i0, in, out, na, 0, LB_NV, 0);
        for (size_t r = 0; r < na; r++) {
            const float *xr = j->x + act[r] * in + i0;
            float *dr = j->dx + act[r] * in + i0;
            for (int v = 0; v < LB_NV; v++)
                vstore(dr + v * VL, vkeep_positive(vload(d + r * LB_COLS + (size_t)v * VL),
                                                   vload(xr + v * VL)));
        }
        na = 0;
    }
}

static void lin_bwd_task(void *arg, size_t t)
{
    (void)t;
    lin_job *j = arg;
    const size_t n = j->n, in = j->in, out = j->out;
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        size_t i0 = item * LB_COLS, i1 = i0 + LB_COLS < in ? i0 + LB_COLS : in;
        size_t iv = i0 + (i1 - i0) / VL * VL; /* end of whole vectors */
        /* dx[n][i] = sum_o dy[n][o] w[o][i] [* (x[n][i] > 0)] */
        if (j->dx && j->dx_relu && iv - i0 == LB_COLS && iv == i1 && out <= LB_CAP_OUT) {
            lin_bwd_dx_relu(j, i0);
        } else if (j->dx) {
            for (size_t n0 = 0; n0 < n; n0 += LB_R) {
                size_t nr = n - n0 < LB_R ? n - n0 : LB_R;
                const float *a = j->dy + n0 * out;
                if (iv - i0 == LB_COLS)
                    lin_bwd_tile(j->dx + n0 * in + i0, in, a, out, 1, j->w + i0, in, out, nr,
                                 0, LB_NV, 0);
                else
                    for (size_t i = i0; i < iv; i += VL)
                        lin_bwd_tile(j->dx + n0 * in + i, in, a, out, 1, j->w + i, in, out,
                                     nr, 0, 1, 0);
                for (size_t r = 0; r < nr; r++)
                    for (size_t i = iv; i < i1; i++) {
                        float s = 0.0f;
                        for (size_t o = 0; o < out; o++)
                            s += j->dy[(n0 + r) * out + o] * j->w[o * in + i];
                        j->dx[(n0 + r) * in + i] = s;
                    }
                if (j->dx_relu)
                    for (size_t r = 0; r < nr; r++)
                        for (size_t i = i0; i < i1; i++)
                            j->dx[(n0 + r) * in + i] =
                                keep_if_positive(j->dx[(n0 + r) * in + i], j->x[(n0 + r) * in + i]);
            }
        }
        /* dw[o][i] += sum_n dy[n][o] x[n][i] */
        if (j->dw) {
            for (size_t o0 = 0; o0 < out; o0 += LB_R) {
                size_t nr = out - o0 < LB_R ? out - o0 : LB_R;
                const float *a = j->dy + o0;
                if (iv - i0 == LB_COLS)
                    lin_bwd_tile(j->dw + o0 * in + i0, in, a, 1, out, j->x + i0, in, n, nr, 1,
                                 LB_NV, 1);
                else
                    for (size_t i = i0; i < iv; i += VL)
                        lin_bwd_tile(j->dw + o0 * in + i, in, a, 1, out, j->x + i, in, n, nr,
                                     1, 1, 1);
                for (size_t r = 0; r < nr; r++)
                    for (size_t i = iv; i < i1; i++) {
                        float s = 0.0f;
                        for (size_t m = 0; m < n; m++)
                            s += j->dy[m * out + o0 + r] * j->x[m * in + i];
                        j->dw[(o0 + r) * in + i] += s;
                    }
            }
        }
    }
}

static void linear_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, size_t n, size_t in, size_t out,
                            int dx_relu);

void k_linear_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                       const float *x, const float *w, size_t n, size_t in, size_t out)
{
    linear_backward(k, dx, dw, db, dy, x, w, n, in, out, 0);
}

void k_linear_relu_input_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                                  const float *x, const float *w, size_t n, size_t in,
                                  size_t out)
{
    linear_backward(k, dx, dw, db, dy, x, w, n, in, out, 1);
}

static void linear_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, size_t n, size_t in, size_t out,
                            int dx_relu)
{
    if (n == 0)
        return;
    if (db)
        for (size_t o = 0; o < out; o++) {
            float s = 0.0f;
            for (size_t m = 0; m < n; m++)
                s += dy[m * out + o];
            db[o] += s;
        }
    if (!dx && !dw)
        return;
    lin_job j;
    memset(&j, 0, sizeof j);
    j.dx = dx;
    j.dw = dw;
    j.dy = dy;
    j.x = x;
    j.w = w;
    j.n = n;
    j.in = in;
    j.out = out;
    j.dx_relu = dx_relu;
    j.nitems = (in + LB_COLS - 1) / LB_COLS;
    atomic_init(&j.next, 0);
    run_slots(k, lin_bwd_task, &j, j.nitems);
}

/* ---- plain loops for shapes beyond the scratch capacity -------------------------- */

static void conv_forward_plain(float *y, const float *x, const float *w, const float *b,
                               size_t n, size_t ci, size_t co, size_t h, size_t wd, int relu)
{
    for (size_t m = 0; m < n; m++)
        for (size_t o = 0; o < co; o++)
            for (size_t i = 0; i < h; i++)
                for (size_t jj = 0; jj < wd; jj++) {
                    float s = b ? b[o] : 0.0f;
                    for (size_t c = 0; c < ci; c++)
                        for (size_t p = 0; p < 3; p++)
                            for (size_t t = 0; t < 3; t++) {
                                size_t r = i + p, cc = jj + t; /* +1 padded */
                                if (r < 1 || r > h || cc < 1 || cc > wd)
                                    continue;
                                s += w[((o * ci + c) * 3 + p) * 3 + t] *
                                     x[((m * ci + c) * h + r - 1) * wd + cc - 1];
                            }
                    y[((m * co + o) * h + i) * wd + jj] = relu ? relu1(s) : s;
                }
}

static void conv_backward_plain(float *dx, float *dw, float *db, const float *dy,
                                const float *mask, const uint32_t *argmax, const float *x,
                                const float *w, size_t n, size_t ci, size_t co, size_t h,
                                size_t wd)
{
    const size_t ho = h / 2, wo = wd / 2;
    if (dx)
        memset(dx, 0, n * ci * h * wd * sizeof(float));
    for (size_t m = 0; m < n; m++)
        for (size_t o = 0; o < co; o++)
            for (size_t i = 0; i < h; i++)
                for (size_t jj = 0; jj < wd; jj++) {
                    const size_t at = ((m * co + o) * h + i) * wd + jj;
                    float g;
                    if (!argmax) {
                        g = dy[at];
                        if (mask && !(mask[at] > 0.0f))
                            g = 0.0f;
                    } else if (i / 2 < ho && jj / 2 < wo) {
                        /* mask: the pooled activation, one per window */
                        size_t pe = ((m * co + o) * ho + i / 2) * wo + jj / 2;
                        g = argmax[pe] == at ? dy[pe] : 0.0f;
                        if (mask && !(mask[pe] > 0.0f))
                            g = 0.0f;
                    } else {
                        g = 0.0f;
                    }
                    if (db)
                        db[o] += g;
                    for (size_t c = 0; c < ci; c++)
                        for (size_t p = 0; p < 3; p++)
                            for (size_t t = 0; t < 3; t++) {
                                size_t r = i + p, cc = jj + t;
                                if (r < 1 || r > h || cc < 1 || cc > wd)
                                    continue;
                                size_t xi = ((m * ci + c) * h + r - 1) * wd + cc - 1;
                                size_t wi = ((o * ci + c) * 3 + p) * 3 + t;
                                if (dw)
                                    dw[wi] += g * x[xi];
                                if (dx)
                                    dx[xi] += g * w[wi];
                            }
                }
}
