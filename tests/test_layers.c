/* test_layers.c - the reference ops of layers.c: forward values on hand-computed
 * cases, finite-difference gradient checks of every input and parameter gradient, the
 * accumulate/overwrite conventions, and a check that the gradient check can fail.
 *
 * Legend: N batch, C channels (Ci in, Co out), H height, W width, I inputs, O outputs,
 * K classes.
 *
 * Tolerances. The ops run in float and the losses L = sum(r .* y) are summed in
 * double, so a central difference with step h carries a rounding error of roughly
 * sqrt(len(y)) * 2^-24 * |r||y| / h ~ 1e-5 for these sizes and h = 1e-2; conv, linear
 * and (away from kinks and ties) relu and maxpool are piecewise linear in each input,
 * so there is no truncation error. Measured worst |a-b| is 3.3e-5 (conv), so the float
 * ops use atol = 1e-4, rtol = 1e-3 (worst |a-b|/tol about 0.15). softmax_xent is smooth
 * and computed in double; with h = 1e-3 its truncation error is ~h^2/6 ~ 1e-7 times a
 * third derivative below 1, and the float output dlogits is rounded to ~6e-8 relative.
 * Measured worst is 1e-8, so atol = 1e-7, rtol = 1e-6. Both are far below the 1e-2
 * error that the negative test plants.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "layers.h"
#include "rng.h"
#include "test.h"

#define FLOAT_ATOL 1e-4
#define FLOAT_RTOL 1e-3
#define SOFTMAX_ATOL 1e-7
#define SOFTMAX_RTOL 1e-6

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(70);
    }
    return p;
}

static float *fvec(size_t len)
{
    return xcalloc(len, sizeof(float));
}

static void fill_uniform(float *v, size_t len, rng_t *r, float lo, float hi)
{
    for (size_t k = 0; k < len; k++)
        v[k] = rng_range(r, lo, hi);
}

static void check_all_close(const char *what, const float *a, const float *ref, size_t len,
                            double atol, double rtol)
{
    double worst = 0.0;
    size_t bad = 0;
    for (size_t k = 0; k < len; k++) {
        const double d = fabs((double)a[k] - (double)ref[k]);
        if (d > worst)
            worst = d;
        if (!close_enough(a[k], ref[k], atol, rtol)) {
            if (bad++ < 3)
                fprintf(stderr, "  %s[%zu] = %.9g, want %.9g\n", what, k, (double)a[k],
                        (double)ref[k]);
        }
    }
    CHECK(bad == 0, "%s: %zu of %zu elements differ (worst %.3g)", what, bad, len, worst);
}

/* ---- conv2d ---------------------------------------------------------------------- */

typedef struct {
    size_t n, ci, co, h, w;
    float *x;  /* (N, Ci, H, W) */
    float *wt; /* (Co, Ci, 3, 3) */
    float *b;  /* (Co) */
    float *y;  /* (N, Co, H, W) */
    float *r;  /* (N, Co, H, W) */
} conv_ctx;

static double conv_loss(void *vctx)
{
    conv_ctx *c = vctx;
    conv2d_forward(c->y, c->x, c->wt, c->b, c->n, c->ci, c->co, c->h, c->w);
    return gc_dot(c->r, c->y, c->n * c->co * c->h * c->w);
}

static void conv_alloc(conv_ctx *c, size_t n, size_t ci, size_t co, size_t h, size_t w,
                       uint64_t seed)
{
    c->n = n, c->ci = ci, c->co = co, c->h = h, c->w = w;
    c->x = fvec(n * ci * h * w);
    c->wt = fvec(co * ci * 9);
    c->b = fvec(co);
    c->y = fvec(n * co * h * w);
    c->r = fvec(n * co * h * w);
    rng_t rg;
    rng_init(&rg, seed, 1);
    fill_uniform(c->x, n * ci * h * w, &rg, -1.0f, 1.0f);
    fill_uniform(c->wt, co * ci * 9, &rg, -0.5f, 0.5f);
    fill_uniform(c->b, co, &rg, -0.5f, 0.5f);
    fill_uniform(c->r, n * co * h * w, &rg, -1.0f, 1.0f);
}

static void conv_free(conv_ctx *c)
{
    free(c->x);
    free(c->wt);
    free(c->b);
    free(c->y);
    free(c->r);
}

/* Direct evaluation of the formula in layers.h, in double. */
static double conv_def(const conv_ctx *c, size_t s, size_t o, size_t i, size_t j)
{
    double acc = c->b[o];
    for (size_t ch = 0; ch < c->ci; ch++)
        for (size_t p = 0; p < 3; p++)
            for (size_t q = 0; q < 3; q++) {
                /* input row i+p-1 and column j+q-1, skipped when outside (zero pad) */
                if (i + p < 1 || i + p - 1 >= c->h || j + q < 1 || j + q - 1 >= c->w)
                    continue;
                acc += (double)c->wt[((o * c->ci + ch) * 3 + p) * 3 + q] *
                       (double)c->x[((s * c->ci + ch) * c->h + i + p - 1) * c->w + j + q - 1];
            }
    return acc;
}

static void test_conv_identity_plus_bias(void)
{
    /* ci = co = 2, w[o,c,1,1] = [o == c]: y = x + b[o] */
    conv_ctx c;
    conv_alloc(&c, 2, 2, 2, 5, 7, 11);
    memset(c.wt, 0, 2 * 2 * 9 * sizeof(float));
    c.wt[(0 * 2 + 0) * 9 + 4] = 1.0f;
    c.wt[(1 * 2 + 1) * 9 + 4] = 1.0f;
    c.b[0] = 0.25f;
    c.b[1] = -1.5f;
    conv2d_forward(c.y, c.x, c.wt, c.b, 2, 2, 2, 5, 7);
    float *want = fvec(2 * 2 * 5 * 7);
    for (size_t s = 0; s < 2; s++)
        for (size_t o = 0; o < 2; o++)
            for (size_t k = 0; k < 35; k++)
                want[(s * 2 + o) * 35 + k] = c.x[(s * 2 + o) * 35 + k] + c.b[o];
    check_all_close("conv identity y", c.y, want, 2 * 2 * 35, 1e-6, 0.0);
    free(want);
    conv_free(&c);
}

static void test_conv_corner_shifts(void)
{
    /* w[0,0,0,0] = 1: y[i,j] = x[i-1,j-1], zero in the first row and column.
     * w[0,0,2,2] = 1: y[i,j] = x[i+1,j+1], zero in the last row and column. */
    const size_t h = 5, w = 7;
    conv_ctx c;
    conv_alloc(&c, 1, 1, 1, h, w, 12);
    for (int corner = 0; corner < 2; corner++) {
        memset(c.wt, 0, 9 * sizeof(float));
        c.wt[corner ? 8 : 0] = 1.0f;
        c.b[0] = 0.0f;
        conv2d_forward(c.y, c.x, c.wt, c.b, 1, 1, 1, h, w);
        size_t bad = 0;
        for (size_t i = 0; i < h; i++)
            for (size_t j = 0; j < w; j++) {
                float want;
                if (corner == 0)
                    want = (i == 0 || j == 0) ? 0.0f : c.x[(i - 1) * w + j - 1];
                else
                    want = (i == h - 1 || j == w - 1) ? 0.0f : c.x[(i + 1) * w + j + 1];
                bad += c.y[i * w + j] != want;
            }
        CHECK(bad == 0, "corner %d: %zu of %zu outputs are not the shifted input", corner,
              bad, h * w);
    }
    conv_free(&c);
}

static void test_conv_matches_definition(void)
{
    static const size_t shapes[][5] = {
        {2, 1, 2, 5, 7}, {3, 3, 4, 6, 4}, {2, 2, 4, 1, 3}, {1, 2, 2, 3, 1}, {2, 3, 2, 2, 2}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const size_t *sh = shapes[t];
        conv_ctx c;
        conv_alloc(&c, sh[0], sh[1], sh[2], sh[3], sh[4], 20 + t);
        conv2d_forward(c.y, c.x, c.wt, c.b, c.n, c.ci, c.co, c.h, c.w);
        double worst = 0.0;
        for (size_t s = 0; s < c.n; s++)
            for (size_t o = 0; o < c.co; o++)
                for (size_t i = 0; i < c.h; i++)
                    for (size_t j = 0; j < c.w; j++) {
                        const double ref = conv_def(&c, s, o, i, j);
                        const double d =
                            fabs(c.y[((s * c.co + o) * c.h + i) * c.w + j] - ref);
                        if (d > worst)
                            worst = d;
                    }
        CHECK(worst <= 1e-5, "shape %zu (n=%zu ci=%zu co=%zu %zux%zu): worst %.3g", t, c.n,
              c.ci, c.co, c.h, c.w, worst);
        conv_free(&c);
    }
}

static int gradcheck_conv_shape(size_t n, size_t ci, size_t co, size_t h, size_t w,
                                uint64_t seed)
{
    conv_ctx c;
    conv_alloc(&c, n, ci, co, h, w, seed);
    float *dx = fvec(n * ci * h * w), *dw = fvec(co * ci * 9), *db = fvec(co);
    conv2d_backward(dx, dw, db, c.r, c.x, c.wt, n, ci, co, h, w);
    const gc_opts o = {1e-2, FLOAT_ATOL, FLOAT_RTOL, 0, seed, 0};
    fprintf(stderr, "  conv2d n=%zu ci=%zu co=%zu %zux%zu\n", n, ci, co, h, w);
    gc_result rx = gc_check("conv2d dx", conv_loss, &c, c.x, dx, n * ci * h * w, &o);
    gc_result rw = gc_check("conv2d dw", conv_loss, &c, c.wt, dw, co * ci * 9, &o);
    gc_result rb = gc_check("conv2d db", conv_loss, &c, c.b, db, co, &o);
    CHECK(rx.failed == 0, "dx: %zu elements outside tolerance", rx.failed);
    CHECK(rw.failed == 0, "dw: %zu elements outside tolerance", rw.failed);
    CHECK(rb.failed == 0, "db: %zu elements outside tolerance", rb.failed);
    free(dx);
    free(dw);
    free(db);
    conv_free(&c);
    return rx.failed == 0 && rw.failed == 0 && rb.failed == 0;
}

static void gradcheck_conv2d(void)
{
    gradcheck_conv_shape(2, 1, 2, 5, 7, 31);
    gradcheck_conv_shape(3, 3, 4, 6, 4, 32);
    gradcheck_conv_shape(2, 2, 4, 5, 7, 33);
    gradcheck_conv_shape(2, 3, 2, 1, 3, 34);
}

/* ---- relu ------------------------------------------------------------------------ */

typedef struct {
    size_t len;
    float *x, *y, *r;
} relu_ctx;

static double relu_loss(void *vctx)
{
    relu_ctx *c = vctx;
    relu_forward(c->y, c->x, c->len);
    return gc_dot(c->r, c->y, c->len);
}

static void test_relu_values(void)
{
    float x[6] = {-2.0f, -0.0f, 0.0f, 1e-30f, 3.5f, -1e-30f};
    const float want[6] = {0.0f, 0.0f, 0.0f, 1e-30f, 3.5f, 0.0f};
    float y[6];
    relu_forward(y, x, 6);
    check_all_close("relu y", y, want, 6, 0.0, 0.0);
    relu_forward(x, x, 6); /* in place */
    check_all_close("relu in place", x, want, 6, 0.0, 0.0);
    float dy[6] = {1, 2, 3, 4, 5, 6};
    const float want_dx[6] = {0, 0, 0, 4, 5, 0};
    relu_backward(dy, dy, y, 6); /* dx may equal dy */
    check_all_close("relu dx", dy, want_dx, 6, 0.0, 0.0);
}

static void gradcheck_relu(void)
{
    /* |x| >= 0.1 > h: no element crosses the kink at 0 during the difference. */
    const size_t len = 3 * 2 * 5 * 7;
    relu_ctx c = {len, fvec(len), fvec(len), fvec(len)};
    rng_t rg;
    rng_init(&rg, 41, 1);
    for (size_t k = 0; k < len; k++) {
        const float mag = rng_range(&rg, 0.1f, 1.0f);
        c.x[k] = (rng_u32(&rg) & 1) ? mag : -mag;
    }
    fill_uniform(c.r, len, &rg, -1.0f, 1.0f);
    float *dx = fvec(len);
    relu_forward(c.y, c.x, len);
    relu_backward(dx, c.r, c.y, len);
    const gc_opts o = {1e-2, FLOAT_ATOL, FLOAT_RTOL, 0, 41, 0};
    gc_result res = gc_check("relu dx", relu_loss, &c, c.x, dx, len, &o);
    CHECK(res.failed == 0, "dx: %zu elements outside tolerance", res.failed);
    free(dx);
    free(c.x);
    free(c.y);
    free(c.r);
}

/* ---- maxpool --------------------------------------------------------------------- */

typedef struct {
    size_t n, c, h, w;
    float *x;         /* (N, C, H, W) */
    float *y, *r;     /* (N, C, H/2, W/2) */
    uint32_t *argmax; /* (N, C, H/2, W/2) */
} pool_ctx;

static double pool_loss(void *vctx)
{
    pool_ctx *p = vctx;
    maxpool2x2_forward(p->y, p->argmax, p->x, p->n, p->c, p->h, p->w);
    return gc_dot(p->r, p->y, p->n * p->c * (p->h / 2) * (p->w / 2));
}

static void test_maxpool_ties_and_argmax(void)
{
    /* One 4x4 plane (N = C = 1) -> 2x2. Windows:
     *   top-left  {1,1 / 1,1}  all tied          -> first (0,0), flat 0
     *   top-right {2,5 / 5,3}  tie at 5          -> first 5 at (0,3), flat 3
     *   bot-left  {0,-1/ 7,-2} single max        -> (3,0), flat 12
     *   bot-right {-4,-3/-3,-9} negatives, tie   -> (2,3), flat 11 */
    const float x[16] = {1, 1, 2, 5,  /* row 0 */
                         1, 1, 5, 3,  /* row 1 */
                         0, -1, -4, -3, /* row 2 */
                         7, -2, -3, -9}; /* row 3 */
    const float want_y[4] = {1, 5, 7, -3};
    const uint32_t want_arg[4] = {0, 3, 12, 11};
    float y[4];
    uint32_t arg[4];
    maxpool2x2_forward(y, arg, x, 1, 1, 4, 4);
    check_all_close("maxpool y", y, want_y, 4, 0.0, 0.0);
    for (size_t k = 0; k < 4; k++)
        CHECK(arg[k] == want_arg[k], "argmax[%zu] = %u, want %u", k, (unsigned)arg[k],
              (unsigned)want_arg[k]);

    /* argmax indexes the whole tensor: second plane (N = 2, C = 1) starts at 16. */
    float x2[32];
    memcpy(x2, x, sizeof x);
    memcpy(x2 + 16, x, sizeof x);
    float y2[8];
    uint32_t arg2[8];
    maxpool2x2_forward(y2, arg2, x2, 2, 1, 4, 4);
    for (size_t k = 0; k < 4; k++)
        CHECK(arg2[4 + k] == want_arg[k] + 16, "plane 1 argmax[%zu] = %u, want %u", k,
              (unsigned)arg2[4 + k], (unsigned)(want_arg[k] + 16));

    /* Backward routes dy to the argmax positions and overwrites the rest with 0. */
    const float dy[4] = {10, 20, 30, 40};
    float dx[16];
    for (size_t k = 0; k < 16; k++)
        dx[k] = 99.0f;
    maxpool2x2_backward(dx, dy, arg, 1, 1, 4, 4);
    float want_dx[16] = {0};
    want_dx[0] = 10, want_dx[3] = 20, want_dx[12] = 30, want_dx[11] = 40;
    check_all_close("maxpool dx", dx, want_dx, 16, 0.0, 0.0);
}

static void gradcheck_maxpool(void)
{
    /* Distinct values 0.05 apart (a shuffled ramp) and h = 1e-3: no window's maximum
     * changes during the difference. */
    pool_ctx p = {2, 3, 6, 4, NULL, NULL, NULL, NULL};
    const size_t len = 2 * 3 * 6 * 4, len_out = len / 4;
    p.x = fvec(len);
    p.y = fvec(len_out);
    p.r = fvec(len_out);
    p.argmax = xcalloc(len_out, sizeof(uint32_t));
    uint32_t *perm = xcalloc(len, sizeof(uint32_t));
    rng_t rg;
    rng_init(&rg, 51, 1);
    for (size_t k = 0; k < len; k++)
        perm[k] = (uint32_t)k;
    rng_shuffle(&rg, perm, len);
    for (size_t k = 0; k < len; k++)
        p.x[k] = 0.05f * (float)perm[k] - 3.0f;
    fill_uniform(p.r, len_out, &rg, -1.0f, 1.0f);
    float *dx = fvec(len);
    maxpool2x2_forward(p.y, p.argmax, p.x, 2, 3, 6, 4);
    maxpool2x2_backward(dx, p.r, p.argmax, 2, 3, 6, 4);
    const gc_opts o = {1e-3, FLOAT_ATOL, FLOAT_RTOL, 0, 51, 0};
    gc_result res = gc_check("maxpool2x2 dx", pool_loss, &p, p.x, dx, len, &o);
    CHECK(res.failed == 0, "dx: %zu elements outside tolerance", res.failed);
    free(perm);
    free(dx);
    free(p.x);
    free(p.y);
    free(p.r);
    free(p.argmax);
}

/* ---- linear ---------------------------------------------------------------------- */

typedef struct {
    size_t n, in, out;
    float *x;  /* (N, I) */
    float *wt; /* (O, I) */
    float *b;  /* (O) */
    float *y;  /* (N, O) */
    float *r;  /* (N, O) */
} linear_ctx;

static double linear_loss(void *vctx)
{
    linear_ctx *c = vctx;
    linear_forward(c->y, c->x, c->wt, c->b, c->n, c->in, c->out);
    return gc_dot(c->r, c->y, c->n * c->out);
}

static void test_linear_hand(void)
{
    /* x (2, 3), W (2, 3), b (2):
     *   y[0] = [1 2 3].[1 0 -1] + 0.5 = -1.5,  [1 2 3].[2 1 0] - 1 = 3
     *   y[1] = [-1 0 4].[1 0 -1] + 0.5 = -4.5, [-1 0 4].[2 1 0] - 1 = -3 */
    const float x[6] = {1, 2, 3, -1, 0, 4};
    const float w[6] = {1, 0, -1, 2, 1, 0};
    const float b[2] = {0.5f, -1.0f};
    const float want[4] = {-1.5f, 3.0f, -4.5f, -3.0f};
    float y[4];
    linear_forward(y, x, w, b, 2, 3, 2);
    check_all_close("linear y", y, want, 4, 0.0, 0.0);

    /* dy = [[1 0] [0 2]]: dx = dy W = [[1 0 -1] [4 2 0]];
     * dW = dy^T x = [[1 2 3] [-2 0 8]]; db = [1 2] */
    const float dy[4] = {1, 0, 0, 2};
    float dx[6], dw[6] = {0}, db[2] = {0};
    linear_backward(dx, dw, db, dy, x, w, 2, 3, 2);
    const float want_dx[6] = {1, 0, -1, 4, 2, 0};
    const float want_dw[6] = {1, 2, 3, -2, 0, 8};
    const float want_db[2] = {1, 2};
    check_all_close("linear dx", dx, want_dx, 6, 0.0, 0.0);
    check_all_close("linear dw", dw, want_dw, 6, 0.0, 0.0);
    check_all_close("linear db", db, want_db, 2, 0.0, 0.0);
}

static void linear_alloc(linear_ctx *c, size_t n, size_t in, size_t out, uint64_t seed)
{
    c->n = n, c->in = in, c->out = out;
    c->x = fvec(n * in);
    c->wt = fvec(out * in);
    c->b = fvec(out);
    c->y = fvec(n * out);
    c->r = fvec(n * out);
    rng_t rg;
    rng_init(&rg, seed, 1);
    fill_uniform(c->x, n * in, &rg, -1.0f, 1.0f);
    fill_uniform(c->wt, out * in, &rg, -0.5f, 0.5f);
    fill_uniform(c->b, out, &rg, -0.5f, 0.5f);
    fill_uniform(c->r, n * out, &rg, -1.0f, 1.0f);
}

static void linear_free(linear_ctx *c)
{
    free(c->x);
    free(c->wt);
    free(c->b);
    free(c->y);
    free(c->r);
}

static void gradcheck_linear(void)
{
    linear_ctx c;
    linear_alloc(&c, 3, 7, 4, 61);
    float *dx = fvec(3 * 7), *dw = fvec(4 * 7), *db = fvec(4);
    linear_backward(dx, dw, db, c.r, c.x, c.wt, 3, 7, 4);
    const gc_opts o = {1e-2, FLOAT_ATOL, FLOAT_RTOL, 0, 61, 0};
    gc_result rx = gc_check("linear dx", linear_loss, &c, c.x, dx, 3 * 7, &o);
    gc_result rw = gc_check("linear dw", linear_loss, &c, c.wt, dw, 4 * 7, &o);
    gc_result rb = gc_check("linear db", linear_loss, &c, c.b, db, 4, &o);
    CHECK(rx.failed == 0, "dx: %zu elements outside tolerance", rx.failed);
    CHECK(rw.failed == 0, "dw: %zu elements outside tolerance", rw.failed);
    CHECK(rb.failed == 0, "db: %zu elements outside tolerance", rb.failed);
    free(dx);
    free(dw);
    free(db);
    linear_free(&c);
}

/* ---- softmax cross-entropy ------------------------------------------------------- */

typedef struct {
    size_t n, k, scale_n;
    float *logits;   /* (N, K) */
    uint8_t *labels; /* (N) */
} xent_ctx;

static double xent_loss(void *vctx)
{
    xent_ctx *c = vctx;
    return softmax_xent(NULL, c->logits, c->labels, c->n, c->k, c->scale_n);
}

static void test_softmax_xent_values(void)
{
    /* All logits equal: every class has probability 1/K, loss = log K. */
    float z[2 * 10];
    uint8_t lab[2] = {3, 9};
    for (size_t j = 0; j < 20; j++)
        z[j] = 0.7f;
    float dz[20];
    double loss = softmax_xent(dz, z, lab, 2, 10, 2);
    CHECK(fabs(loss - log(10.0)) <= 1e-12, "equal logits: loss %.17g, want log 10", loss);
    for (size_t j = 0; j < 10; j++)
        CHECK(close_enough(dz[j], (0.1 - (j == 3)) / 2.0, 1e-7, 0.0), "dz[%zu] = %.9g", j,
              (double)dz[j]);

    /* logits [1 2 3], label 2: loss = log(e + e^2 + e^3) - 3 = log(1 + e^-1 + e^-2),
     * softmax = [0.09003057 0.24472847 0.66524096]. */
    const float z3[3] = {1, 2, 3};
    const uint8_t l3[1] = {2};
    float d3[3];
    loss = softmax_xent(d3, z3, l3, 1, 3, 1);
    CHECK(fabs(loss - 0.40760596444438) <= 1e-12, "[1 2 3]: loss %.17g", loss);
    const float want3[3] = {0.0900305732f, 0.2447284711f, 0.6652409558f - 1.0f};
    check_all_close("xent [1 2 3] dz", d3, want3, 3, 1e-7, 0.0);

    /* Large logits: the max subtraction keeps everything finite (exp(1000) would not
     * be). Same answer as [1 2 3] shifted by 1000, up to the float rounding of z. */
    const float zb[3] = {1001, 1002, 1003};
    loss = softmax_xent(d3, zb, l3, 1, 3, 1);
    CHECK(fabs(loss - 0.40760596444438) <= 1e-9, "[1001 1002 1003]: loss %.17g", loss);
    check_all_close("xent large dz", d3, want3, 3, 1e-7, 0.0);
    const float zn[3] = {-1000, 0, -2000};
    const uint8_t ln[1] = {0};
    loss = softmax_xent(d3, zn, ln, 1, 3, 1);
    CHECK(fabs(loss - 1000.0) <= 1e-9, "[-1000 0 -2000] label 0: loss %.17g, want 1000", loss);
    CHECK(isfinite(d3[0]) && isfinite(d3[1]) && isfinite(d3[2]), "non-finite dz");

    /* scale_n divides both the loss and dlogits: scale 1 vs scale 8. */
    xent_ctx c = {3, 5, 1, fvec(15), NULL};
    uint8_t labels[3] = {0, 4, 2};
    c.labels = labels;
    rng_t rg;
    rng_init(&rg, 71, 1);
    fill_uniform(c.logits, 15, &rg, -3.0f, 3.0f);
    float d1[15], d8[15];
    const double l1 = softmax_xent(d1, c.logits, labels, 3, 5, 1);
    const double l8 = softmax_xent(d8, c.logits, labels, 3, 5, 8);
    CHECK(fabs(l8 * 8.0 - l1) <= 1e-12 * fabs(l1), "loss scale: %.17g * 8 vs %.17g", l8, l1);
    float d1s[15];
    for (size_t j = 0; j < 15; j++)
        d1s[j] = d1[j] / 8.0f;
    check_all_close("xent dz scale", d8, d1s, 15, 1e-9, 1e-6);
    /* Each row of dlogits sums to 0 (probabilities sum to 1, minus the one-hot). */
    for (size_t s = 0; s < 3; s++) {
        double sum = 0.0;
        for (size_t j = 0; j < 5; j++)
            sum += d1[s * 5 + j];
        CHECK(fabs(sum) <= 1e-6, "row %zu of dlogits sums to %.3g", s, sum);
    }
    free(c.logits);
}

static void gradcheck_softmax_xent(void)
{
    static const size_t scales[2] = {3, 7};
    for (size_t t = 0; t < 2; t++) {
        xent_ctx c = {3, 5, scales[t], fvec(15), NULL};
        uint8_t labels[3] = {1, 4, 0};
        c.labels = labels;
        rng_t rg;
        rng_init(&rg, 81, 1);
        fill_uniform(c.logits, 15, &rg, -3.0f, 3.0f);
        float dz[15];
        softmax_xent(dz, c.logits, labels, 3, 5, c.scale_n);
        const gc_opts o = {1e-3, SOFTMAX_ATOL, SOFTMAX_RTOL, 0, 81, 0};
        gc_result res = gc_check(t == 0 ? "softmax_xent S=3 dz" : "softmax_xent S=7 dz",
                                 xent_loss, &c, c.logits, dz, 15, &o);
        CHECK(res.failed == 0, "scale %zu: %zu elements outside tolerance", c.scale_n,
              res.failed);
        free(c.logits);
    }
}

/* ---- conventions ----------------------------------------------------------------- */

static void test_backward_accumulates_params_overwrites_dx(void)
{
    {
        conv_ctx c;
        conv_alloc(&c, 2, 2, 3, 5, 7, 91);
        const size_t lx = 2 * 2 * 35, lw = 3 * 2 * 9;
        float *dx1 = fvec(lx), *dx2 = fvec(lx), *dw = fvec(lw), *db = fvec(3);
        float *dw1 = fvec(lw), *db1 = fvec(3), *dwn = fvec(lw), *dbn = fvec(3);
        conv2d_backward(dx1, dw, db, c.r, c.x, c.wt, 2, 2, 3, 5, 7);
        memcpy(dw1, dw, lw * sizeof(float));
        memcpy(db1, db, 3 * sizeof(float));
        for (size_t k = 0; k < lx; k++)
            dx2[k] = 1e3f; /* garbage that must be overwritten */
        conv2d_backward(dx2, dw, db, c.r, c.x, c.wt, 2, 2, 3, 5, 7);
        for (size_t k = 0; k < lw; k++)
            dw1[k] *= 2.0f;
        for (size_t k = 0; k < 3; k++)
            db1[k] *= 2.0f;
        check_all_close("conv dw twice", dw, dw1, lw, 0.0, 1e-6);
        check_all_close("conv db twice", db, db1, 3, 0.0, 1e-6);
        check_all_close("conv dx twice", dx2, dx1, lx, 0.0, 0.0);
        /* dx = NULL gives the same parameter gradients. */
        conv2d_backward(NULL, dwn, dbn, c.r, c.x, c.wt, 2, 2, 3, 5, 7);
        for (size_t k = 0; k < lw; k++)
            dw1[k] *= 0.5f;
        for (size_t k = 0; k < 3; k++)
            db1[k] *= 0.5f;
        check_all_close("conv dw, dx NULL", dwn, dw1, lw, 0.0, 0.0);
        check_all_close("conv db, dx NULL", dbn, db1, 3, 0.0, 0.0);
        free(dx1), free(dx2), free(dw), free(db), free(dw1), free(db1), free(dwn), free(dbn);
        conv_free(&c);
    }
    {
        linear_ctx c;
        linear_alloc(&c, 3, 6, 4, 92);
        float *dx1 = fvec(18), *dx2 = fvec(18), *dw = fvec(24), *db = fvec(4);
        float *dw1 = fvec(24), *db1 = fvec(4), *dwn = fvec(24), *dbn = fvec(4);
        linear_backward(dx1, dw, db, c.r, c.x, c.wt, 3, 6, 4);
        memcpy(dw1, dw, 24 * sizeof(float));
        memcpy(db1, db, 4 * sizeof(float));
        for (size_t k = 0; k < 18; k++)
            dx2[k] = -7.0f;
        linear_backward(dx2, dw, db, c.r, c.x, c.wt, 3, 6, 4);
        linear_backward(NULL, dwn, dbn, c.r, c.x, c.wt, 3, 6, 4);
        check_all_close("linear dw, dx NULL", dwn, dw1, 24, 0.0, 0.0);
        check_all_close("linear db, dx NULL", dbn, db1, 4, 0.0, 0.0);
        for (size_t k = 0; k < 24; k++)
            dw1[k] *= 2.0f;
        for (size_t k = 0; k < 4; k++)
            db1[k] *= 2.0f;
        check_all_close("linear dw twice", dw, dw1, 24, 0.0, 1e-6);
        check_all_close("linear db twice", db, db1, 4, 0.0, 1e-6);
        check_all_close("linear dx twice", dx2, dx1, 18, 0.0, 0.0);
        free(dx1), free(dx2), free(dw), free(db), free(dw1), free(db1), free(dwn), free(dbn);
        linear_free(&c);
    }
}

/* ---- the gradient check itself ----------------------------------------------------- */

static void test_gradcheck_detects_wrong_gradient(void)
{
    /* Correct conv dw passes; the same with one element off by 1e-2 must fail, at that
     * element only. */
    conv_ctx c;
    conv_alloc(&c, 2, 2, 4, 5, 7, 101);
    const size_t lw = 4 * 2 * 9, bad_idx = 17;
    float *dw = fvec(lw), *db = fvec(4);
    conv2d_backward(NULL, dw, db, c.r, c.x, c.wt, 2, 2, 4, 5, 7);
    gc_opts o = {1e-2, FLOAT_ATOL, FLOAT_RTOL, 0, 101, 1};
    gc_result good = gc_check("conv2d dw", conv_loss, &c, c.wt, dw, lw, &o);
    CHECK(good.failed == 0, "the correct gradient fails (%zu)", good.failed);
    dw[bad_idx] += 1e-2f;
    gc_result bad = gc_check("conv2d dw (planted)", conv_loss, &c, c.wt, dw, lw, &o);
    fprintf(stderr, "  planted error of 1e-2 at idx %zu: %zu outside tol, worst |a-b| = %.3g "
                    "at idx %zu (expected)\n",
            bad_idx, bad.failed, bad.worst_abs, bad.worst_idx);
    CHECK(bad.failed == 1 && bad.first_bad == bad_idx && bad.worst_idx == bad_idx,
          "planted error not reported: %zu failed, first at %zu", bad.failed, bad.first_bad);

    /* The random subset mode: 20 of the 72 elements, distinct, reproducible. */
    o.max_checks = 20;
    gc_result sub = gc_check("conv2d dw subset", conv_loss, &c, c.wt, dw, lw, &o);
    CHECK(sub.checked == 20, "subset checked %zu, want 20", sub.checked);
    free(dw);
    free(db);
    conv_free(&c);
}

int main(void)
{
    RUN(test_conv_identity_plus_bias);
    RUN(test_conv_corner_shifts);
    RUN(test_conv_matches_definition);
    RUN(test_relu_values);
    RUN(test_maxpool_ties_and_argmax);
    RUN(test_linear_hand);
    RUN(test_softmax_xent_values);
    RUN(test_backward_accumulates_params_overwrites_dx);
    RUN(gradcheck_conv2d);
    RUN(gradcheck_relu);
    RUN(gradcheck_maxpool);
    RUN(gradcheck_linear);
    RUN(gradcheck_softmax_xent);
    RUN(test_gradcheck_detects_wrong_gradient);
    TEST_END();
}
