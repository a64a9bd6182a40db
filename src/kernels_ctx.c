/* kernels_ctx.c - the compute context of the fast kernels: the worker pool and the
 * scratch memory, sized once for the largest conv the fast paths take (CAP_C channels
 * on either side, CAP_SIDE x CAP_SIDE planes) and carved out of one allocation, so
 * nothing is allocated per step.
 *
 * Legend: C channels (Ci in, Co out), H height, W width; Co' = Co rounded up to 16.
 */
#include "kernels_internal.h"

#include <stdlib.h>

#include "checked.h"

/* Floats of task scratch a conv of this shape needs, 0 if it does not fit. */
static size_t conv_task_need(size_t ci, size_t co, size_t h, size_t w)
{
    plane_geom g = geom(h, w);
    size_t cop = round_up(co, VL);
    return ci * g.CS + co * g.CS + g.Qpad * cop;
}

/* Floats of task scratch for the backward through a pool (kint_pooled_bwd_image): the
 * channel-last padded x and dx, then per possible window maximum four lists: hits
 * (gradient, position) and windows (class, gradient); + VL: the compaction of the hits
 * may write up to VL elements past the last one. */
static size_t pooled_task_need(size_t ci, size_t co, size_t h, size_t w)
{
    const size_t cip = round_up(ci, VL), plane = (h + 2) * (w + 2) * cip;
    /* padded x and dx; hits, their positions, window classes and gradients; the
     * classes and gradients window-major (pooled_dx) */
    const size_t nw = (h / 2) * (w / 2);
    return 2 * round_up(plane, VL) + 4 * round_up(co * nw + VL, VL) +
           2 * round_up(nw, VL) * round_up(co, VL);
}

int kint_conv_fits(const kctx *k, size_t ci, size_t co, size_t h, size_t w)
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
    /* the needs grow with every argument: at the caps, every conv that fits fits all */
    k->task_floats = conv_task_need(CAP_C, CAP_C, CAP_SIDE, CAP_SIDE);
    if (k->task_floats < pooled_task_need(CAP_C, CAP_C, CAP_SIDE, CAP_SIDE))
        k->task_floats = pooled_task_need(CAP_C, CAP_C, CAP_SIDE, CAP_SIDE);
    if (k->task_floats < kint_wg4_task_need(CAP_C, CAP_C, CAP_SIDE, CAP_SIDE))
        k->task_floats = kint_wg4_task_need(CAP_C, CAP_C, CAP_SIDE, CAP_SIDE);
    k->task_floats = round_up(k->task_floats, VL);
    k->wpack_floats = round_up(CAP_C, FWD_MR) * CAP_C * 9;
    /* F(4x4)'s (36, Ci, Co') is the larger of the two Winograd weight layouts */
    k->wgu_floats = 36 * CAP_C * round_up(CAP_C, VL);
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

threadpool *kctx_pool(kctx *k) { return k->pool; }
