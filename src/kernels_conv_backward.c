/* kernels_conv_backward.c - 3x3 convolution backward: dL/dx by the forward's implicit
 * GEMM on the padded dy with flipped weights, dL/dw from dy transposed to (Q, Co) in
 * tiles of rows k x channels o, dL/db, each image's dL/dw and dL/db in a slot of
 * partial sums added up in image order. dy may be given times a ReLU mask or routed
 * through a 2x2 max pool; the latter goes window by window to
 * kernels_conv_pool_backward.c.
 *
 * Legend: N batch, C channels (Ci in, Co out), H height, W width, S = W + 1 padded row
 * stride, Q = H * S, K = Ci * 9, Co' = Co rounded up to 16.
 */
#include "kernels_internal.h"

#include <math.h>
#include <stdlib.h>

#include "checked.h"
#include "layers.h"

#define DW_OMAX 64 /* channels o per dL/dw tile */
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
            kint_pooled_bwd_image(j, xpad, img, k->slots + item % DW_SLOTS * k->slot_floats);
            continue;
        }
        /* dy, times the ReLU mask if given */
        kint_pad_planes_masked(dypad, j->dy + img * co * hw,
                               j->mask ? j->mask + img * co * hw : NULL, co, g);
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
                        kint_store_positions(dximg + (ob * FWD_MR + m) * hw, tile + m * FWD_NQ,
                                             q0, FWD_NQ, g);
                }
        }
        if (!j->want_dw)
            continue;
        kint_pad_planes(xpad, j->x + img * ci * hw, ci, g);
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

/* The backward for shapes beyond the scratch capacity (never the network's): the
 * reference op conv2d_backward on dy as the separate reference ops give it (masked by
 * the ReLU, routed through the pool), with stand-ins for the parameter gradients that
 * are not wanted (the reference op always accumulates both). The staging is allocated
 * per call; if that fails, dx and the wanted dw, db are set to NaN rather than left
 * looking like a result. */
static void conv_backward_reference(float *dx, float *dw, float *db, const float *dy,
                                    const float *mask, const uint32_t *argmax,
                                    const float *x, const float *w, size_t n, size_t ci,
                                    size_t co, size_t h, size_t wd)
{
    if (!mask && !argmax && dw && db) {
        conv2d_backward(dx, dw, db, dy, x, w, n, ci, co, h, wd);
        return;
    }
    /* each of these is the length of a tensor the caller holds; only their sum is
     * checked */
    const size_t len = n * co * h * wd, plen = n * co * (h / 2) * (wd / 2), wl = co * ci * 9;
    size_t need = 0;
    int ok = 1;
    if (mask || argmax)
        ok = size_add(&need, need, len);
    if (mask && argmax)
        ok = ok && size_add(&need, need, plen);
    if (!dw)
        ok = ok && size_add(&need, need, wl);
    if (!db)
        ok = ok && size_add(&need, need, co);
    float *mem = ok ? calloc(need ? need : 1, sizeof(float)) : NULL;
    if (!mem) {
        for (size_t e = 0; dx && e < n * ci * h * wd; e++)
            dx[e] = NAN;
        for (size_t e = 0; dw && e < wl; e++)
            dw[e] = NAN;
        for (size_t e = 0; db && e < co; e++)
            db[e] = NAN;
        return;
    }
    float *p = mem;
    const float *g = dy; /* (N, Co, H, W) */
    if (argmax) {
        /* dy (N, Co, H/2, W/2) times [pooled activation > 0], then routed */
        float *routed = p;
        p += len;
        const float *gp = dy;
        if (mask) {
            relu_backward(p, dy, mask, plen);
            gp = p;
            p += plen;
        }
        maxpool2x2_backward(routed, gp, argmax, n, co, h, wd);
        g = routed;
    } else if (mask) {
        relu_backward(p, dy, mask, len);
        g = p;
        p += len;
    }
    float *gw = dw, *gb = db;
    if (!gw) {
        gw = p;
        p += wl;
    }
    if (!gb)
        gb = p;
    conv2d_backward(dx, gw, gb, g, x, w, n, ci, co, h, wd);
    free(mem);
}

/* k_conv3x3_backward with dy given as in conv_bwd_job (mask, argmax may be NULL). */
static void conv_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                          const float *mask, const uint32_t *argmax, const float *x,
                          const float *w, size_t n, size_t ci, size_t co, size_t h, size_t wd)
{
    const int want_dw = dw != NULL || db != NULL;
    if (n == 0 || (!dx && !want_dw))
        return;
    if (!kint_conv_fits(k, ci, co, h, wd)) {
        conv_backward_reference(dx, dw, db, dy, mask, argmax, x, w, n, ci, co, h, wd);
        return;
    }
    plane_geom g = geom(h, wd);
    const size_t cop = round_up(co, VL);
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
