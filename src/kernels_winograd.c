/* kernels_winograd.c - conv + ReLU + 2x2 max pool forward (k_conv3x3_relu_maxpool_forward):
 * shapes whose sides are multiples of 4 go to Winograd F(4x4, 3x3)
 * (kernels_winograd4.c), other even shapes to Winograd F(2x2, 3x3) here: one tile per
 * pool window, bias, ReLU and the pool applied in registers. Shapes neither takes go to
 * the direct conv (kernels_conv.c).
 *
 * Legend: N batch, C channels (Ci in, Co out), H height, W width, Co' = Co rounded up
 * to 8, xi the 16 elements of a 4x4 transformed tile.
 */
#include "kernels_internal.h"

/* Each 2x2 block of conv outputs is one pool window and one Winograd tile: 4x4 inputs
 * d (rows 2ty-1 .. 2ty+2, columns 2tx-1 .. 2tx+2), transformed V = B^T d B, times the
 * transformed kernel U = G g G^T elementwise, summed over input channels (16 small
 * GEMMs, one per element xi of the 4x4 transform), then Y = A^T M A gives the 2x2
 * outputs, with
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * That is 16 multiply-adds per 4 outputs and input channel instead of 36. Bias, ReLU
 * and the pool (first maximum in row-major order, as pool_row of kernels_pool.c)
 * follow in registers.
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
        kint_pad_image_once(k, t, xpad, j->x, img, ci, g);
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
    if (!kint_wg_cached(k, 2, w, ci, co))
        wg_weights(k->wgu, w, ci, co);
    wg_job j = {.k = k, .y = y, .p = p, .argmax = argmax, .x = x, .u = k->wgu, .b = b,
                .ci = ci, .co = co, .nob = (co + FWD_MR - 1) / FWD_MR, .g = geom(h, wd)};
    /* Fewer images than threads: split each image over its blocks of 8 output
     * channels, so a thread that starts late takes fewer of them; each thread then
     * transforms the input of an image once and keeps it (v_all). Without room for
     * that, split it in as many parts as threads, each transforming the input. */
    j.groups = 1;
    if (n < k->nthreads) {
        j.v_all = wg_task_need_all(ci, h, wd) <= k->task_floats;
        j.groups = j.v_all ? j.nob : kint_image_parts(n, k->nthreads, j.nob);
    }
    j.nitems = n * j.groups;
    atomic_init(&j.next, 0);
    run_image_slots(k, wg_task, &j, j.nitems);
}
#endif /* HAVE_VECTOR_POOL */

int kint_wg_cached(kctx *k, int kind, const float *w, size_t ci, size_t co)
{
    const size_t wl = co * ci * 9;
    if (k->wg_kind == kind && k->wg_ci == ci && k->wg_co == co &&
        memcmp(k->wgsrc, w, wl * sizeof(float)) == 0)
        return 1;
    memcpy(k->wgsrc, w, wl * sizeof(float));
    k->wg_kind = kind;
    k->wg_ci = ci;
    k->wg_co = co;
    return 0;
}

void k_conv3x3_relu_maxpool_forward(kctx *k, float *y, float *p, uint32_t *argmax,
                                    const float *x, const float *w, const float *b, size_t n,
                                    size_t ci, size_t co, size_t h, size_t wd, int keep_y)
{
    if (kint_wg4_fits(k, ci, co, h, wd)) {
        kint_wg4_forward(k, keep_y ? y : NULL, p, argmax, x, w, b, n, ci, co, h, wd);
        return;
    }
#ifdef WG_HAVE
    if (wg_fits(k, ci, co, h, wd)) {
        wg_forward(k, keep_y ? y : NULL, p, argmax, x, w, b, n, ci, co, h, wd);
        return;
    }
#else
    (void)keep_y; /* the direct conv writes y either way */
#endif
    kint_conv_forward(k, y, x, w, b, n, ci, co, h, wd, 1, p, argmax);
}
