/* kernels_conv.c - 3x3 convolution forward (stride 1, zero padding 1) as the implicit
 * GEMM of kernels_internal.h: tiles of 8 output channels x 48 positions, optionally
 * with ReLU and the 2x2 max pool of each image once it is computed; one input channel
 * (the first conv) row by row instead, with the same sums. The backward
 * (kernels_conv_backward.c) computes dL/dx with the same micro-kernel, conv_tile.
 *
 * Legend: N batch, C channels (Ci in, Co out), H height, W width, K = Ci * 9 rows of
 * the GEMM, Co' = Co rounded up to 8.
 */
#include "kernels_internal.h"

#include "layers.h"

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
        kint_pad_image_once(k, t, xpad, j->x, img, j->ci, g);
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
                    kint_store_positions(yimg + (ob * FWD_MR + m) * hw, tile + m * FWD_NQ, q0,
                                         FWD_NQ, g);
            }
        }
        if (j->pool) {
            /* the whole image is done (groups == 1) and still in cache */
            const size_t howo = (g->h / 2) * (g->w / 2);
            kint_pool_planes(j->pool + img * j->co * howo, j->argmax + img * j->co * howo,
                             yimg, img * j->co * hw, j->co, g->h, g->w);
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
    j.groups = kint_image_parts(n, 4 * k->nthreads, j.nob);
    if (j.groups > 1)
        j.pool = NULL; /* images are split over items: pool afterwards */
    j.nitems = n * j.groups;
    atomic_init(&j.next, 0);
    run_image_slots(k, conv_fwd_task, &j, j.nitems);
    return j.pool != NULL;
}

/* ---- one input channel (the first conv): rows of vectors, no position tiles -------- */

typedef struct {
    float *y;        /* (N, Co, H, W) */
    const float *x;  /* (N, 1, H, W) */
    const float *w;  /* (Co, 9) */
    const float *b;  /* (Co) or NULL */
    size_t co, nitems;
    plane_geom g;
    int relu;
    kctx *k;
    atomic_size_t next;
} conv1_fwd_job;

/* y[o][i][j] = relu?(b[o] + sum_{p,t} w[o][p*3 + t] x[i + p - 1][j + t - 1]), summed
 * in the order of conv_tile (bias first, then taps 0..8 by fused multiply-adds), so
 * bit-identical to the implicit GEMM it replaces for one input channel. Each row's
 * nine shifted input vectors are loaded once and used by every output channel. */
static void conv1_fwd_task(void *arg, size_t t)
{
    conv1_fwd_job *j = arg;
    const plane_geom *g = &j->g;
    const size_t h = g->h, w = g->w, S = g->S, hw = h * w, co = j->co;
    const size_t nv = (w + VL - 1) / VL;
    const float *wt = j->w, *b = j->b; /* locals: the stores to y cannot change them */
    const int relu = j->relu;
    float *xpad = j->k->task + t * j->k->task_floats;
    for (;;) {
        size_t img = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (img >= j->nitems)
            break;
        kint_pad_planes(xpad, j->x + img * hw, 1, g);
        float *yimg = j->y + img * co * hw;
        for (size_t i = 0; i < h; i++)
            for (size_t v = 0; v < nv; v++) {
                const size_t j0 = kint_row_vec_start(v, w);
                vf xs[9];
                for (size_t p = 0; p < 3; p++)
                    for (size_t tp = 0; tp < 3; tp++)
                        xs[p * 3 + tp] = vload(xpad + (i + p) * S + j0 + tp);
                for (size_t o = 0; o < co; o++) {
                    const float *wo = wt + o * 9;
                    vf acc = vset1(b ? b[o] : 0.0f);
                    for (size_t kk = 0; kk < 9; kk++)
                        acc = vfma(acc, vset1(wo[kk]), xs[kk]);
                    vstore(yimg + (o * h + i) * w + j0, relu ? vrelu(acc) : acc);
                }
            }
    }
}

static void conv1_fwd_run(kctx *k, float *y, const float *x, const float *w, const float *b,
                          size_t n, size_t co, const plane_geom *g, int relu)
{
    conv1_fwd_job j = {.y = y, .x = x, .w = w, .b = b, .co = co, .nitems = n, .g = *g,
                       .relu = relu, .k = k};
    atomic_init(&j.next, 0);
    run_image_slots(k, conv1_fwd_task, &j, n); /* it pads into the task blocks too */
}

static void set_koff(kctx *k, size_t c, const plane_geom *g)
{
    for (size_t ch = 0; ch < c; ch++)
        for (size_t p = 0; p < 3; p++)
            for (size_t t = 0; t < 3; t++)
                k->koff[ch * 9 + p * 3 + t] = ch * g->CS + p * g->S + t;
}

void kint_conv_forward(kctx *k, float *y, const float *x, const float *w, const float *b,
                       size_t n, size_t ci, size_t co, size_t h, size_t wd, int relu,
                       float *pool, uint32_t *argmax)
{
    if (n == 0)
        return;
    if (!kint_conv_fits(k, ci, co, h, wd)) {
        /* beyond the scratch capacity (never the network's shapes) */
        conv2d_forward(y, x, w, b, n, ci, co, h, wd);
        if (relu)
            relu_forward(y, y, n * co * h * wd);
        if (pool)
            k_maxpool2x2_forward(k, pool, argmax, y, n, co, h, wd);
        return;
    }
    plane_geom g = geom(h, wd);
    if (ci == 1 && !pool && wd >= VL) {
        conv1_fwd_run(k, y, x, w, b, n, co, &g, relu);
        return;
    }
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
    kint_conv_forward(k, y, x, w, b, n, ci, co, h, wd, relu, NULL, NULL);
}
