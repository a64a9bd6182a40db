/* test_kernels.c - the fast kernels (kernels.h) against the reference ops (layers.h)
 * over odd shapes, bit-identical results with 1 and 2 threads, the ReLU and argmax
 * masks, and the thread pool itself.
 *
 * Legend: N batch, C channels (Ci in, Co out), H height, W width, I inputs, O outputs.
 *
 * Tolerances: |a - ref| <= atol + rtol*|ref|. Inputs are uniform in [-1, 1], so a sum
 * of T products has terms below 1 and float rounding error of order T * 2^-24 * |sum|
 * at worst (fused multiply-adds and a different summation order than the reference).
 * rtol = 1e-4 and atol = 2e-6 * T cover that with margin (T = terms per output:
 * Ci*9 for conv outputs, Co*9 for dx, N*H*W for dw and db, I for linear outputs...);
 * the worst measured differences are printed and are well below.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

#include "kernels.h"
#include "layers.h"
#include "optim.h"
#include "rng.h"
#include "test.h"
#include "threadpool.h"

/* Products and sums rounded separately everywhere (GCC does so in ISO C mode; Clang
 * would otherwise fuse them), so the vector and scalar Adam updates agree bit for bit. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define RTOL 1e-4
#define ATOL_PER_TERM 2e-6

static kctx *k1, *k2; /* 1 and 2 threads */
static rng_t rng;

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(70);
    }
    return p;
}

static float *fvec(size_t len) { return xcalloc(len, sizeof(float)); }

static float *frand(size_t len)
{
    float *v = fvec(len);
    for (size_t i = 0; i < len; i++)
        v[i] = rng_range(&rng, -1.0f, 1.0f);
    return v;
}

static float *fcopy(const float *src, size_t len)
{
    float *v = fvec(len);
    memcpy(v, src, len * sizeof(float));
    return v;
}

/* Checks a against ref elementwise; prints the worst difference. */
static void check_close(const char *what, const float *a, const float *ref, size_t len,
                        double terms)
{
    const double atol = ATOL_PER_TERM * (terms < 1 ? 1 : terms);
    double worst = 0.0, worst_ratio = 0.0;
    size_t bad = 0, at = 0;
    for (size_t i = 0; i < len; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        double tol = atol + RTOL * fabs((double)ref[i]);
        if (!(d <= tol))
            bad++;
        if (d > worst || d != d) {
            worst = d;
            at = i;
        }
        if (d / tol > worst_ratio)
            worst_ratio = d / tol;
    }
    fprintf(stderr, "  %-44s worst |a-b| %.3g (at %zu, %.2f of tol)\n", what, worst, at,
            worst_ratio);
    CHECK(bad == 0, "%s: %zu of %zu elements outside tolerance, worst %.3g", what, bad, len,
          worst);
}

static void check_same(const char *what, const void *a, const void *b, size_t bytes)
{
    CHECK(memcmp(a, b, bytes) == 0, "%s: 1 and 2 threads differ", what);
}

/* ---- convolution ------------------------------------------------------------------ */

static void conv_case(size_t n, size_t ci, size_t co, size_t h, size_t w)
{
    char name[128];
    const size_t xl = n * ci * h * w, yl = n * co * h * w, wl = co * ci * 9;
    float *x = frand(xl), *wt = frand(wl), *b = frand(co), *dy = frand(yl);
    float *yref = fvec(yl), *y1 = fvec(yl), *y2 = fvec(yl);

    /* forward, with and without ReLU */
    conv2d_forward(yref, x, wt, b, n, ci, co, h, w);
    k_conv3x3_forward(k1, y1, x, wt, b, n, ci, co, h, w, 0);
    k_conv3x3_forward(k2, y2, x, wt, b, n, ci, co, h, w, 0);
    snprintf(name, sizeof name, "conv fwd n%zu ci%zu co%zu %zux%zu", n, ci, co, h, w);
    check_close(name, y1, yref, yl, ci * 9.0);
    check_same(name, y1, y2, yl * sizeof(float));
    relu_forward(yref, yref, yl);
    k_conv3x3_forward(k1, y1, x, wt, b, n, ci, co, h, w, 1);
    k_conv3x3_forward(k2, y2, x, wt, b, n, ci, co, h, w, 1);
    snprintf(name, sizeof name, "conv fwd+relu n%zu ci%zu co%zu %zux%zu", n, ci, co, h, w);
    check_close(name, y1, yref, yl, ci * 9.0);
    check_same(name, y1, y2, yl * sizeof(float));
    for (size_t i = 0; i < yl; i++)
        CHECK(y1[i] >= 0.0f && (yref[i] > 0.0f || y1[i] == 0.0f), "relu at %zu: %g", i,
              (double)y1[i]);

    /* backward: dw, db accumulate onto non-zero values, dx overwritten */
    float *dw0 = frand(wl), *db0 = frand(co);
    float *dxr = fvec(xl), *dwr = fcopy(dw0, wl), *dbr = fcopy(db0, co);
    float *dx1 = frand(xl), *dw1 = fcopy(dw0, wl), *db1 = fcopy(db0, co);
    float *dx2 = frand(xl), *dw2 = fcopy(dw0, wl), *db2 = fcopy(db0, co);
    conv2d_backward(dxr, dwr, dbr, dy, x, wt, n, ci, co, h, w);
    k_conv3x3_backward(k1, dx1, dw1, db1, dy, x, wt, n, ci, co, h, w);
    k_conv3x3_backward(k2, dx2, dw2, db2, dy, x, wt, n, ci, co, h, w);
    snprintf(name, sizeof name, "conv bwd dx n%zu ci%zu co%zu %zux%zu", n, ci, co, h, w);
    check_close(name, dx1, dxr, xl, co * 9.0);
    check_same(name, dx1, dx2, xl * sizeof(float));
    snprintf(name, sizeof name, "conv bwd dw n%zu ci%zu co%zu %zux%zu", n, ci, co, h, w);
    check_close(name, dw1, dwr, wl, (double)(n * h * w));
    check_same(name, dw1, dw2, wl * sizeof(float));
    snprintf(name, sizeof name, "conv bwd db n%zu ci%zu co%zu %zux%zu", n, ci, co, h, w);
    check_close(name, db1, dbr, co, (double)(n * h * w));
    check_same(name, db1, db2, co * sizeof(float));

    /* dx only (no parameter gradients), and parameter gradients only */
    float *dx3 = frand(xl);
    k_conv3x3_backward(k2, dx3, NULL, NULL, dy, x, wt, n, ci, co, h, w);
    check_same("conv bwd dx without dw", dx1, dx3, xl * sizeof(float));
    float *dw3 = fcopy(dw0, wl), *db3 = fcopy(db0, co);
    k_conv3x3_backward(k2, NULL, dw3, db3, dy, x, wt, n, ci, co, h, w);
    check_same("conv bwd dw without dx", dw1, dw3, wl * sizeof(float));
    check_same("conv bwd db without dx", db1, db3, co * sizeof(float));

    free(x), free(wt), free(b), free(dy), free(yref), free(y1), free(y2);
    free(dw0), free(db0), free(dxr), free(dwr), free(dbr), free(dx1), free(dw1), free(db1);
    free(dx2), free(dw2), free(db2), free(dx3), free(dw3), free(db3);
}

static void test_conv_small_shapes(void)
{
    static const size_t ns[] = {1, 3, 5}, cis[] = {1, 3, 32}, cos[] = {1, 5, 64};
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 3; b++)
            for (size_t c = 0; c < 3; c++) {
                conv_case(ns[a], cis[b], cos[c], 7, 5);
                conv_case(ns[a], cis[b], cos[c], 1, 1);
            }
    conv_case(2, 3, 5, 4, 9);
    conv_case(2, 2, 17, 13, 28);
    /* one input channel, rows of 16 or more: the row-vector forward (one vector, two
     * overlapping, two apart) */
    conv_case(2, 1, 5, 3, 16);
    conv_case(3, 1, 7, 4, 20);
    conv_case(1, 1, 3, 2, 33);
}

static void test_conv_28x28(void)
{
    static const size_t ns[] = {1, 3}, cis[] = {1, 3, 32}, cos[] = {1, 5, 64};
    for (size_t a = 0; a < 2; a++)
        for (size_t b = 0; b < 3; b++)
            for (size_t c = 0; c < 3; c++)
                conv_case(ns[a], cis[b], cos[c], 28, 28);
    conv_case(5, 32, 64, 28, 28);
}

/* More images than the dw partial-sum slots, so the sum runs in several rounds. */
static void test_conv_many_images(void)
{
    conv_case(37, 1, 32, 28, 28);
    conv_case(21, 32, 64, 28, 28);
}

/* Shapes beyond the scratch capacity take the plain loops; same results. */
static void test_conv_beyond_capacity(void)
{
    conv_case(2, 3, 4, 30, 6);
    conv_case(1, 65, 2, 5, 5);
}

/* ---- max pooling ------------------------------------------------------------------ */

static void pool_case(size_t n, size_t c, size_t h, size_t w)
{
    char name[96];
    const size_t xl = n * c * h * w, yl = n * c * (h / 2) * (w / 2);
    float *x = frand(xl);
    /* ties: make some windows hold equal values to check the first maximum wins */
    for (size_t i = 0; i + 1 < xl; i += 7)
        x[i + 1] = x[i];
    float *yr = fvec(yl), *y1 = fvec(yl), *y2 = fvec(yl);
    uint32_t *ar = xcalloc(yl, sizeof(uint32_t)), *a1 = xcalloc(yl, sizeof(uint32_t));
    uint32_t *a2 = xcalloc(yl, sizeof(uint32_t));
    maxpool2x2_forward(yr, ar, x, n, c, h, w);
    k_maxpool2x2_forward(k1, y1, a1, x, n, c, h, w);
    k_maxpool2x2_forward(k2, y2, a2, x, n, c, h, w);
    snprintf(name, sizeof name, "maxpool fwd n%zu c%zu %zux%zu", n, c, h, w);
    check_close(name, y1, yr, yl, 1);
    CHECK(memcmp(ar, a1, yl * sizeof(uint32_t)) == 0, "%s: argmax differs from reference",
          name);
    check_same(name, y1, y2, yl * sizeof(float));
    check_same(name, a1, a2, yl * sizeof(uint32_t));
    free(x), free(yr), free(y1), free(y2), free(ar), free(a1), free(a2);
}

static void test_maxpool(void)
{
    pool_case(1, 1, 2, 2);
    pool_case(3, 5, 6, 4);
    pool_case(5, 64, 28, 28);
    pool_case(2, 3, 28, 10);
}

/* The pool's argmax is the first maximum of its window, all-zero windows (ReLU
 * outputs) included, and a linear layer's ReLU gives exact zeros. */
static void test_argmax_relu(void)
{
    /* one 2x2 window per plane; plane 0 max positive at (1,0), plane 1 all negative
     * (after ReLU: zeros, max is the first zero), plane 2 max at (0,1) */
    float x[12] = {0.1f, 0.2f, 0.9f, 0.3f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.5f, 0.4f, 0.5f};
    float y[3];
    uint32_t am[3];
    k_maxpool2x2_forward(k2, y, am, x, 1, 3, 2, 2);
    CHECK(am[0] == 2 && am[1] == 4 && am[2] == 9, "argmax %u %u %u", am[0], am[1], am[2]);
    CHECK(y[0] == 0.9f && y[1] == 0.0f && y[2] == 0.5f, "max %g %g %g", (double)y[0],
          (double)y[1], (double)y[2]);

    /* linear forward ReLU: negative pre-activations become exactly 0 */
    float xi[2] = {1.0f, -1.0f}, wl[4] = {1.0f, 2.0f, 2.0f, 1.0f}, bl[2] = {0.0f, 0.5f};
    float yl[2];
    k_linear_forward(k2, yl, xi, wl, bl, 1, 2, 2, 1);
    CHECK(yl[0] == 0.0f && yl[1] == 1.5f, "linear relu %g %g", (double)yl[0], (double)yl[1]);
}

/* The exact conv (double) of x with w, b, pad 1: ye, and the magnitude of its terms,
 * sabs = |b| + sum |w| |x|.  ye, sabs: (N, Co, H, W) */
static void conv_exact(double *ye, double *sabs, const float *x, const float *wt,
                       const float *b, size_t n, size_t ci, size_t co, size_t h, size_t w)
{
    for (size_t s = 0; s < n; s++)
        for (size_t o = 0; o < co; o++)
            for (size_t i = 0; i < h; i++)
                for (size_t j = 0; j < w; j++) {
                    double acc = b[o], mag = fabs((double)b[o]);
                    for (size_t c = 0; c < ci; c++)
                        for (size_t p = 0; p < 3; p++)
                            for (size_t q = 0; q < 3; q++) {
                                if (i + p < 1 || i + p > h || j + q < 1 || j + q > w)
                                    continue;
                                const double t = (double)wt[(o * ci + c) * 9 + p * 3 + q] *
                                                 x[((s * ci + c) * h + i + p - 1) * w + j + q - 1];
                                acc += t;
                                mag += fabs(t);
                            }
                    const size_t at = ((s * co + o) * h + i) * w + j;
                    ye[at] = acc;
                    sabs[at] = mag;
                }
}

/* Winograd's rounding, relative to the magnitude of the terms: |y - exact| <=
 * WG_KAPPA * 2^-24 * sabs. The transforms of F(4x4, 3x3) scale the magnitudes up by
 * at most 256 (|A^T| (|G| |g| |G^T| (.) |B^T| |d| |B|) |A| against |g| |d|, at
 * output (3, 3); F(2x2, 3x3): 7.1), and each product and partial sum rounds on that
 * scale, Ci + 12 roundings deep for the worst output element, but they add up like a random
 * walk rather than in one direction: the worst measured errors are below 50 units of
 * 2^-24 * sabs (printed); 4 * 256 leaves room while still failing for a wrong transform
 * coefficient (an error of order |y| ~ sabs / sqrt(terms)). */
#define WG_KAPPA (4.0 * 256.0)

/* The fused conv + ReLU + pool (Winograd F(4x4, 3x3) for sides that are multiples of
 * 4, else F(2x2, 3x3) for even sides, else the direct kernel): its conv output is
 * close to the reference conv + ReLU and within Winograd's rounding of the exact one,
 * its pooled output and argmax are exactly the pool of its own conv output, the argmax
 * is the exact one wherever a window's top two values are further apart than their
 * tolerances and the reference's wherever the reference has an exact tie, and both
 * thread counts and both keep_y agree bit for bit. blocky: piecewise constant x. */
static void fused_case_x(size_t n, size_t ci, size_t co, size_t h, size_t w, int blocky)
{
    char name[96], nm[128];
    const size_t xl = n * ci * h * w, yl = n * co * h * w, pl = yl / 4;
    float *x = frand(xl), *wt = frand(co * ci * 9), *b = frand(co);
    if (blocky) /* constant in every channel over blocks of 5x6, a third of them 0 */
        for (size_t i = 0; i < xl; i++) {
            const size_t s = i / (ci * h * w), c = i / (h * w) % ci, r = i / w % h, col = i % w;
            const size_t key = (s * 31 + c) * 17 + r / 5 * 7 + col / 6 * 13;
            x[i] = key % 3 == 0 ? 0.0f : (float)(key % 11) / 11.0f - 0.3f;
        }
    float *yr = fvec(yl), *pr = fvec(pl), *y1 = fvec(yl), *p1 = fvec(pl), *y2 = fvec(yl);
    float *p2 = fvec(pl), *pown = fvec(pl);
    uint32_t *ar = xcalloc(pl, sizeof(uint32_t)), *a1 = xcalloc(pl, sizeof(uint32_t));
    uint32_t *a2 = xcalloc(pl, sizeof(uint32_t)), *aown = xcalloc(pl, sizeof(uint32_t));
    double *ye = xcalloc(yl, sizeof(double)), *sabs = xcalloc(yl, sizeof(double));
    conv2d_forward(yr, x, wt, b, n, ci, co, h, w);
    relu_forward(yr, yr, yl);
    maxpool2x2_forward(pr, ar, yr, n, co, h, w);
    k_conv3x3_relu_maxpool_forward(k1, y1, p1, a1, x, wt, b, n, ci, co, h, w, 1);
    k_conv3x3_relu_maxpool_forward(k2, y2, p2, a2, x, wt, b, n, ci, co, h, w, 1);
    snprintf(name, sizeof name, "conv+relu+pool n%zu ci%zu co%zu %zux%zu", n, ci, co, h, w);
    snprintf(nm, sizeof nm, "%s conv", name);
    check_close(nm, y1, yr, yl, ci * 9.0);
    snprintf(nm, sizeof nm, "%s pool", name);
    check_close(nm, p1, pr, pl, ci * 9.0);

    /* against the exact conv, relative to the magnitudes; the exact argmax */
    conv_exact(ye, sabs, x, wt, b, n, ci, co, h, w);
    const double ulp = ldexp(1.0, -24);
    double worst = 0.0;
    size_t bad = 0, decided = 0, wrong = 0;
    for (size_t i = 0; i < yl; i++) {
        const double e = ye[i] > 0.0 ? ye[i] : 0.0, d = fabs((double)y1[i] - e);
        if (d / (ulp * sabs[i]) > worst)
            worst = d / (ulp * sabs[i]);
        if (!(d <= WG_KAPPA * ulp * sabs[i]))
            bad++;
    }
    for (size_t pi = 0; pi < pl; pi++) {
        const size_t pw = w / 2, plane = pi / (pw * (h / 2)), r = pi % (pw * (h / 2)) / pw;
        const size_t c = pi % pw, first = plane * h * w + 2 * r * w + 2 * c;
        const size_t at[4] = {first, first + 1, first + w, first + w + 1};
        size_t top = 0; /* the first maximum in row-major order, second: the runner-up */
        for (size_t q = 1; q < 4; q++)
            if (ye[at[q]] > ye[at[top]])
                top = q;
        double second = -INFINITY, tol2 = 0.0;
        for (size_t q = 0; q < 4; q++)
            if (q != top && ye[at[q]] > second) {
                second = ye[at[q]];
                tol2 = WG_KAPPA * ulp * sabs[at[q]];
            }
        const double tv = ye[at[top]] > 0.0 ? ye[at[top]] : 0.0;
        second = second > 0.0 ? second : 0.0;
        if (tv - second > WG_KAPPA * ulp * sabs[at[top]] + tol2) {
            decided++;
            wrong += a1[pi] != at[top];
        }
    }
    /* where the reference has an exact tie at a positive maximum (identical input
     * patches), the same output wins: the first */
    size_t ties = 0, tie_wrong = 0;
    for (size_t pi = 0; pi < pl; pi++) {
        const size_t pw = w / 2, plane = pi / (pw * (h / 2)), r = pi % (pw * (h / 2)) / pw;
        const size_t first = plane * h * w + 2 * r * w + 2 * (pi % pw);
        const float v[4] = {yr[first], yr[first + 1], yr[first + w], yr[first + w + 1]};
        const float top = pr[pi];
        const int n_top = (v[0] == top) + (v[1] == top) + (v[2] == top) + (v[3] == top);
        if (top > 0.0f && n_top > 1) {
            ties++;
            tie_wrong += a1[pi] != ar[pi];
        }
    }
    fprintf(stderr, "  %-44s worst %.1f of 2^-24*sum|terms| (tol %.0f), %zu tied windows\n",
            name, worst, WG_KAPPA, ties);
    CHECK(tie_wrong == 0, "%s: %zu of %zu exactly tied windows pick another maximum", name,
          tie_wrong, ties);
    CHECK(!blocky || ties > pl / 100, "%s: only %zu tied windows", name, ties);
    CHECK(bad == 0, "%s: %zu of %zu outputs beyond Winograd's rounding, worst %.1f", name, bad,
          yl, worst);
    CHECK(wrong == 0 && decided > (blocky ? pl / 10 : pl / 2), "%s: argmax differs from the "
          "exact one in %zu of %zu clear windows", name, wrong, decided);

    maxpool2x2_forward(pown, aown, y1, n, co, h, w);
    CHECK(memcmp(p1, pown, pl * sizeof(float)) == 0, "%s: pooled output is not the pool of "
          "the conv output", name);
    CHECK(memcmp(a1, aown, pl * sizeof(uint32_t)) == 0, "%s: argmax is not the pool's", name);
    check_same(name, y1, y2, yl * sizeof(float));
    check_same(name, p1, p2, pl * sizeof(float));
    check_same(name, a1, a2, pl * sizeof(uint32_t));
    /* without keeping y: the same pool, with 1 and 2 threads */
    for (int th = 0; th < 2; th++) {
        memset(p2, 0, pl * sizeof(float));
        memset(a2, 0, pl * sizeof(uint32_t));
        k_conv3x3_relu_maxpool_forward(th ? k2 : k1, y2, p2, a2, x, wt, b, n, ci, co, h, w, 0);
        snprintf(nm, sizeof nm, "%s keep_y 0 t%d", name, th + 1);
        check_same(nm, p1, p2, pl * sizeof(float));
        check_same(nm, a1, a2, pl * sizeof(uint32_t));
    }
    free(x), free(wt), free(b), free(yr), free(pr), free(y1), free(p1), free(y2), free(p2);
    free(pown), free(ar), free(a1), free(a2), free(aown), free(ye), free(sabs);
}

static void fused_case(size_t n, size_t ci, size_t co, size_t h, size_t w)
{
    fused_case_x(n, ci, co, h, w, 0);
}

/* The fused forward keeps the transformed weights between calls: a weight changed in
 * place (as an optimiser step does) must be seen by the next call, and so must a switch
 * between the F(4x4) and F(2x2) paths with the same weights (their layouts differ). */
static void test_conv_weight_cache(void)
{
    const size_t n = 2, ci = 32, co = 64, h = 28, w = 28;
    const size_t xl = n * ci * h * w, yl = n * co * h * w, pl = yl / 4;
    float *x = frand(xl), *wt = frand(co * ci * 9), *b = frand(co);
    float *y = fvec(yl), *p1 = fvec(pl), *p2 = fvec(pl), *p3 = fvec(pl);
    uint32_t *am = xcalloc(pl, sizeof(uint32_t));
    k_conv3x3_relu_maxpool_forward(k1, y, p1, am, x, wt, b, n, ci, co, h, w, 0);
    wt[co * ci * 9 / 2] += 0.5f; /* one weight, same array */
    k_conv3x3_relu_maxpool_forward(k1, y, p2, am, x, wt, b, n, ci, co, h, w, 0);
    k_conv3x3_relu_maxpool_forward(k2, y, p3, am, x, wt, b, n, ci, co, h, w, 0);
    CHECK(memcmp(p1, p2, pl * sizeof(float)) != 0, "changed weight had no effect");
    CHECK(memcmp(p2, p3, pl * sizeof(float)) == 0, "stale transformed weights used");
    /* 10x28 (F(2x2)) after 28x28 (F(4x4)) with the same weights, then again on k2 after
     * another F(4x4) call: the same as on a context that saw only 10x28 before */
    const size_t h2 = 10, pl2 = n * co * (h2 / 2) * (w / 2);
    float *q1 = fvec(pl2), *q2 = fvec(pl2);
    k_conv3x3_relu_maxpool_forward(k1, y, q1, am, x, wt, b, n, ci, co, h2, w, 0);
    k_conv3x3_relu_maxpool_forward(k2, y, q2, am, x, wt, b, n, ci, co, h2, w, 0);
    CHECK(memcmp(q1, q2, pl2 * sizeof(float)) == 0, "F(2x2) after F(4x4): stale weights");
    k_conv3x3_relu_maxpool_forward(k2, y, p3, am, x, wt, b, n, ci, co, h, w, 0);
    CHECK(memcmp(p2, p3, pl * sizeof(float)) == 0, "F(4x4) after F(2x2): stale weights");
    free(x), free(wt), free(b), free(y), free(p1), free(p2), free(p3), free(am), free(q1),
        free(q2);
}

static void test_conv_relu_maxpool(void)
{
    /* F(4x4): the network's conv2, odd batches, one image split over the channel
     * vectors on 2 threads */
    fused_case(1, 32, 64, 28, 28);
    fused_case(9, 32, 64, 28, 28);
    fused_case(3, 32, 64, 28, 28);
    /* F(4x4): channels not multiples of 16, 2 or 3 tiles per row, a last GEMM block of
     * one tile (8x16: 8 tiles), and of 5 (12x20: 15 tiles), co of 1 to 4 vectors */
    fused_case(2, 5, 11, 8, 16);
    fused_case(1, 5, 11, 8, 16);
    fused_case(3, 17, 40, 12, 20);
    fused_case(1, 32, 64, 4, 4);
    fused_case(2, 3, 49, 8, 12);
    /* F(4x4) on piecewise constant inputs: outputs with identical input patches tie
     * exactly, as in the direct conv, so the first of them is the maximum */
    fused_case_x(3, 32, 64, 28, 28, 1);
    fused_case_x(2, 5, 11, 8, 16, 1);
    /* sides not multiples of 4: F(2x2) */
    fused_case(3, 3, 64, 10, 28); /* a last block of one tile row */
    fused_case(3, 3, 5, 6, 4);
    fused_case(2, 7, 20, 8, 6);
    /* beyond the scratch capacity: the direct conv */
    fused_case(2, 1, 3, 30, 8);
}

/* The backward of conv + ReLU (+ 2x2 max pool) with the mask and the pool routing done
 * while staging dy equals k_conv3x3_backward on dy made by the separate reference ops,
 * bit for bit (through the pool dx is summed in another order, so there only closely),
 * is close to the reference conv backward, and is the same with 1 and 2 threads. Ties
 * in the pooled input check that the first maximum gets the gradient. */
static void staged_case(size_t n, size_t ci, size_t co, size_t h, size_t w)
{
    char name[128];
    const size_t xl = n * ci * h * w, al = n * co * h * w, pl = n * co * (h / 2) * (w / 2);
    const size_t wl = co * ci * 9;
    float *x = frand(xl), *wt = frand(wl), *a = frand(al), *g = frand(al), *gp = frand(pl);
    for (size_t i = 0; i + 1 < al; i += 5)
        a[i + 1] = a[i];
    float *pooled = fvec(pl), *dy = fvec(al);
    uint32_t *am = xcalloc(pl, sizeof(uint32_t));
    maxpool2x2_forward(pooled, am, a, n, co, h, w);
    for (int variant = 0; variant < 2; variant++) {
        const char *vn = variant ? "conv+relu+pool bwd" : "conv+relu bwd";
        /* dy by the separate reference ops */
        if (variant) {
            maxpool2x2_backward(dy, gp, am, n, co, h, w);
            relu_backward(dy, dy, a, al);
        } else {
            relu_backward(dy, g, a, al);
        }
        float *dw0 = frand(wl), *db0 = frand(co);
        float *dxe = fvec(xl), *dwe = fcopy(dw0, wl), *dbe = fcopy(db0, co);
        float *dxr = fvec(xl), *dwr = fcopy(dw0, wl), *dbr = fcopy(db0, co);
        float *dxt1 = fvec(xl); /* dx with one thread */
        k_conv3x3_backward(k1, dxe, dwe, dbe, dy, x, wt, n, ci, co, h, w);
        conv2d_backward(dxr, dwr, dbr, dy, x, wt, n, ci, co, h, w);
        for (int th = 0; th < 2; th++) {
            kctx *k = th ? k2 : k1;
            float *dx1 = frand(xl), *dw1 = fcopy(dw0, wl), *db1 = fcopy(db0, co);
            if (variant)
                k_conv3x3_relu_maxpool_backward(k, dx1, dw1, db1, gp, am, pooled, x, wt, n, ci, co,
                                                h, w);
            else
                k_conv3x3_relu_backward(k, dx1, dw1, db1, g, a, x, wt, n, ci, co, h, w);
            snprintf(name, sizeof name, "%s n%zu ci%zu co%zu %zux%zu t%d", vn, n, ci, co, h,
                     w, th + 1);
            /* through the pool, dx is summed window by window (another order than the
             * dense kernel's): close to it, and the same for every thread count */
            if (variant)
                check_close(name, dx1, dxe, xl, co * 9.0);
            else
                CHECK(memcmp(dx1, dxe, xl * sizeof(float)) == 0, "%s: dx differs", name);
            if (th == 0)
                memcpy(dxt1, dx1, xl * sizeof(float));
            else
                check_same(name, dx1, dxt1, xl * sizeof(float));
            CHECK(memcmp(dw1, dwe, wl * sizeof(float)) == 0, "%s: dw differs", name);
            CHECK(memcmp(db1, dbe, co * sizeof(float)) == 0, "%s: db differs", name);
            if (th == 0) {
                char nm[160];
                snprintf(nm, sizeof nm, "%s dx", name);
                check_close(nm, dx1, dxr, xl, co * 9.0);
                snprintf(nm, sizeof nm, "%s dw", name);
                check_close(nm, dw1, dwr, wl, (double)(n * h * w));
            }
            /* input gradient only */
            float *dx3 = frand(xl);
            if (variant)
                k_conv3x3_relu_maxpool_backward(k, dx3, NULL, NULL, gp, am, pooled, x, wt, n, ci,
                                                co, h, w);
            else
                k_conv3x3_relu_backward(k, dx3, NULL, NULL, g, a, x, wt, n, ci, co, h, w);
            CHECK(memcmp(dx3, variant ? dxt1 : dxe, xl * sizeof(float)) == 0,
                  "%s: dx only differs", name);
            free(dx1), free(dw1), free(db1), free(dx3);
        }
        free(dw0), free(db0), free(dxe), free(dwe), free(dbe), free(dxr), free(dwr), free(dbr);
        free(dxt1);
    }
    free(x), free(wt), free(a), free(g), free(gp), free(pooled), free(dy), free(am);
}

static void test_conv_staged_backward(void)
{
    staged_case(1, 32, 64, 28, 28);
    staged_case(19, 32, 64, 28, 28); /* more images than the dw slots */
    staged_case(3, 1, 32, 28, 28);
    staged_case(2, 3, 5, 6, 4);
    staged_case(3, 2, 17, 10, 28);
    staged_case(2, 3, 5, 1, 6);   /* one row: no pool window at all */
    /* whole vectors of channels: the window lists by compression and dx transposed
     * back in 16 x 16 blocks (rows of one vector, of two overlapping) */
    staged_case(2, 16, 16, 4, 16);
    staged_case(1, 16, 48, 6, 20);
    staged_case(2, 1, 3, 30, 8); /* beyond the scratch capacity: plain loops */
}

/* ---- Adam ------------------------------------------------------------------------- */

/* adam_step (vectorised where the target allows, split over the pool) equals the
 * scalar formula element for element, bit for bit, over several steps and an odd
 * length; and 1 and 2 threads agree. */
static void test_adam_exact(void)
{
    const size_t n = 3 * 16384 + 37;
    const double lr = 1e-3;
    float *p0 = frand(n), *pe = fcopy(p0, n), *pa = fcopy(p0, n), *pb = fcopy(p0, n);
    float *me = fvec(n), *ve = fvec(n), *g = fvec(n), *ga = fvec(n), *gb = fvec(n);
    adam a, b;
    ms_err err;
    CHECK(adam_create(&a, n, lr, &err) == MS_OK && adam_create(&b, n, lr, &err) == MS_OK,
          "%s", err.msg);
    for (long step = 1; step <= 3; step++) {
        for (size_t i = 0; i < n; i++)
            g[i] = rng_range(&rng, -1.0f, 1.0f) * (i % 5 == 0 ? 1e-6f : 1.0f);
        memcpy(ga, g, n * sizeof(float));
        memcpy(gb, g, n * sizeof(float));
        adam_step(&a, pa, ga, kctx_pool(k1));
        adam_step(&b, pb, gb, kctx_pool(k2));
        const double bc1 = 1.0 - pow(0.9, (double)step), bc2 = 1.0 - pow(0.999, (double)step);
        const float b1 = 0.9f, b2 = 0.999f, c1 = (float)(1.0 - 0.9), c2 = (float)(1.0 - 0.999);
        const float ss = (float)(lr / bc1), ib = (float)(1.0 / sqrt(bc2)), eps = 1e-8f;
        for (size_t i = 0; i < n; i++) {
            me[i] = b1 * me[i] + c1 * g[i];
            ve[i] = b2 * ve[i] + c2 * g[i] * g[i];
            pe[i] -= ss * me[i] / (sqrtf(ve[i]) * ib + eps);
        }
    }
    CHECK(memcmp(pa, pe, n * sizeof(float)) == 0, "adam params differ from the formula");
    CHECK(memcmp(a.m, me, n * sizeof(float)) == 0, "adam m differs from the formula");
    CHECK(memcmp(a.v, ve, n * sizeof(float)) == 0, "adam v differs from the formula");
    check_same("adam params", pa, pb, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        CHECK(ga[i] == 0.0f, "gradient %zu not zeroed", i);
    adam_free(&a);
    adam_free(&b);
    free(p0), free(pe), free(pa), free(pb), free(me), free(ve), free(g), free(ga), free(gb);
}

/* ---- linear ----------------------------------------------------------------------- */

static void linear_case(size_t n, size_t in, size_t out)
{
    char name[96];
    float *x = frand(n * in), *w = frand(out * in), *b = frand(out), *dy = frand(n * out);
    float *yr = fvec(n * out), *y1 = fvec(n * out), *y2 = fvec(n * out);
    linear_forward(yr, x, w, b, n, in, out);
    k_linear_forward(k1, y1, x, w, b, n, in, out, 0);
    k_linear_forward(k2, y2, x, w, b, n, in, out, 0);
    snprintf(name, sizeof name, "linear fwd n%zu in%zu out%zu", n, in, out);
    check_close(name, y1, yr, n * out, (double)in);
    check_same(name, y1, y2, n * out * sizeof(float));
    relu_forward(yr, yr, n * out);
    k_linear_forward(k1, y1, x, w, b, n, in, out, 1);
    k_linear_forward(k2, y2, x, w, b, n, in, out, 1);
    snprintf(name, sizeof name, "linear fwd+relu n%zu in%zu out%zu", n, in, out);
    check_close(name, y1, yr, n * out, (double)in);
    check_same(name, y1, y2, n * out * sizeof(float));

    float *dw0 = frand(out * in), *db0 = frand(out);
    float *dxr = fvec(n * in), *dwr = fcopy(dw0, out * in), *dbr = fcopy(db0, out);
    float *dx1 = frand(n * in), *dw1 = fcopy(dw0, out * in), *db1 = fcopy(db0, out);
    float *dx2 = frand(n * in), *dw2 = fcopy(dw0, out * in), *db2 = fcopy(db0, out);
    linear_backward(dxr, dwr, dbr, dy, x, w, n, in, out);
    k_linear_backward(k1, dx1, dw1, db1, dy, x, w, n, in, out);
    k_linear_backward(k2, dx2, dw2, db2, dy, x, w, n, in, out);
    snprintf(name, sizeof name, "linear bwd dx n%zu in%zu out%zu", n, in, out);
    check_close(name, dx1, dxr, n * in, (double)out);
    check_same(name, dx1, dx2, n * in * sizeof(float));
    snprintf(name, sizeof name, "linear bwd dw n%zu in%zu out%zu", n, in, out);
    check_close(name, dw1, dwr, out * in, (double)n);
    check_same(name, dw1, dw2, out * in * sizeof(float));
    snprintf(name, sizeof name, "linear bwd db n%zu in%zu out%zu", n, in, out);
    check_close(name, db1, dbr, out, (double)n);
    check_same(name, db1, db2, out * sizeof(float));
    float *dx3 = frand(n * in);
    k_linear_backward(k2, dx3, NULL, NULL, dy, x, w, n, in, out);
    check_same("linear bwd dx without dw", dx1, dx3, n * in * sizeof(float));
    free(x), free(w), free(b), free(dy), free(yr), free(y1), free(y2), free(dw0), free(db0);
    free(dxr), free(dwr), free(dbr), free(dx1), free(dw1), free(db1), free(dx2), free(dw2);
    free(db2), free(dx3);
}

/* Inputs like a ReLU + pool output: most 16-float blocks zero, the rest half zero.
 * The zero-skipping paths give the same values as dense work would: forward rows
 * alone equal the batch, the ReLU-input backward equals the plain backward with dx
 * masked by [x > 0], bit for bit, on both thread counts. */
static void sparse_linear_case(size_t n, size_t in, size_t out)
{
    char name[96];
    float *x = frand(n * in), *w = frand(out * in), *b = frand(out), *dy = frand(n * out);
    for (size_t i = 0; i < n * in; i++) {
        if (rng_below(&rng, 3) != 0 && (i / 16) % 5 != 0)
            x[i] = 0.0f;
        else
            x[i] = fabsf(x[i]) * (float)rng_below(&rng, 2);
    }
    float *y = fvec(n * out), *yrow = fvec(out), *yr = fvec(n * out);
    k_linear_forward(k2, y, x, w, b, n, in, out, 1);
    linear_forward(yr, x, w, b, n, in, out);
    relu_forward(yr, yr, n * out);
    snprintf(name, sizeof name, "sparse linear fwd n%zu in%zu out%zu", n, in, out);
    check_close(name, y, yr, n * out, (double)in);
    for (size_t m = 0; m < n; m++) {
        k_linear_forward(k1, yrow, x + m * in, w, b, 1, in, out, 1);
        check_same("sparse linear fwd: one row alone equals the batch", yrow, y + m * out,
                   out * sizeof(float));
    }
    float *dxe = fvec(n * in), *dwe = fvec(out * in), *dbe = fvec(out);
    k_linear_backward(k1, dxe, dwe, dbe, dy, x, w, n, in, out);
    for (size_t i = 0; i < n * in; i++)
        if (!(x[i] > 0.0f))
            dxe[i] = 0.0f;
    for (int th = 0; th < 2; th++) {
        float *dx = frand(n * in), *dw = fvec(out * in), *db = fvec(out);
        k_linear_relu_input_backward(th ? k2 : k1, dx, dw, db, dy, x, w, n, in, out);
        snprintf(name, sizeof name, "relu-input linear bwd n%zu in%zu out%zu t%d", n, in, out,
                 th + 1);
        CHECK(memcmp(dx, dxe, n * in * sizeof(float)) == 0, "%s: dx differs", name);
        CHECK(memcmp(dw, dwe, out * in * sizeof(float)) == 0, "%s: dw differs", name);
        CHECK(memcmp(db, dbe, out * sizeof(float)) == 0, "%s: db differs", name);
        free(dx), free(dw), free(db);
    }
    free(x), free(w), free(b), free(dy), free(y), free(yrow), free(yr), free(dxe), free(dwe);
    free(dbe);
}

static void test_linear(void)
{
    static const size_t ns[] = {1, 3, 5, 64}, ins[] = {12544, 37, 64, 100},
                        outs[] = {128, 10, 3};
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 4; b++)
            for (size_t c = 0; c < 3; c++) {
                linear_case(ns[a], ins[b], outs[c]);
                sparse_linear_case(ns[a], ins[b], outs[c]);
            }
    sparse_linear_case(7, 12544, 300); /* out beyond the gathered path: plain loops */
}

/* ---- thread pool ------------------------------------------------------------------ */

typedef struct {
    atomic_int *hits;
    size_t ntasks;
} pool_arg;

static void count_task(void *arg, size_t t)
{
    pool_arg *a = arg;
    if (t < a->ntasks)
        atomic_fetch_add(&a->hits[t], 1);
}

/* Every task index runs exactly once, over many quick dispatches and sizes. */
static void test_threadpool(void)
{
    threadpool *p = NULL;
    ms_err err;
    CHECK(threadpool_create(&p, 3, &err) == MS_OK, "create: %s", err.msg);
    if (!p)
        return;
    CHECK(threadpool_size(p) == 3, "size %zu", threadpool_size(p));
    CHECK(threadpool_cpu_count() >= 1, "cpu count");
    enum { MAXT = 97 };
    atomic_int hits[MAXT];
    size_t bad = 0;
    for (size_t round = 0; round < 20000; round++) {
        size_t nt = 1 + round % MAXT;
        for (size_t t = 0; t < MAXT; t++)
            atomic_init(&hits[t], 0);
        pool_arg a = {hits, nt};
        threadpool_run(p, count_task, &a, nt);
        for (size_t t = 0; t < MAXT; t++)
            bad += atomic_load(&hits[t]) != (t < nt ? 1 : 0);
        if (round == 10000) {
            /* let the workers fall asleep, then wake them */
            struct timespec ts = {0, 50 * 1000 * 1000};
            thrd_sleep(&ts, NULL);
        }
    }
    CHECK(bad == 0, "%zu tasks ran a wrong number of times", bad);
    threadpool_destroy(p);
    CHECK(threadpool_create(&p, 0, &err) != MS_OK, "0 threads accepted");
}

int main(void)
{
    ms_err err;
    rng_init(&rng, 12345, RNG_STREAM_INIT);
    if (kctx_create(&k1, 1, 64, &err) != MS_OK || kctx_create(&k2, 2, 64, &err) != MS_OK) {
        fprintf(stderr, "kctx_create: %s\n", err.msg);
        return 1;
    }
    RUN(test_threadpool);
    RUN(test_argmax_relu);
    RUN(test_maxpool);
    RUN(test_linear);
    RUN(test_conv_small_shapes);
    RUN(test_conv_28x28);
    RUN(test_conv_many_images);
    RUN(test_conv_beyond_capacity);
    RUN(test_conv_relu_maxpool);
    RUN(test_conv_weight_cache);
    RUN(test_conv_staged_backward);
    RUN(test_adam_exact);
    kctx_destroy(k1);
    kctx_destroy(k2);
    TEST_END();
}
