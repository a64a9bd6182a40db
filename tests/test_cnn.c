/* test_cnn.c - the model as a whole: gradient check of the full network, fast path vs
 * reference path, thread-count independence, a tiny training run whose loss falls,
 * Adam against a hand computation, FGSM invariants, the backdoor trigger, checkpoint
 * round trip of the model. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnn.h"
#include "layers.h"
#include "optim.h"
#include "poison.h"
#include "rng.h"
#include "fixtures.h"
#include "test.h"


static void random_images(float *x, size_t n, uint64_t seed)
{
    rng_t r;
    rng_init(&r, seed, 99);
    for (size_t i = 0; i < n * CNN_PIXELS; i++)
        x[i] = rng_uniform(&r);
}

/* --- whole-network gradient check (reference path) ------------------------------ */

/* The whole network in double precision, for finite differences that neither float
 * round-off nor a ReLU/max-pool switch inside the step can spoil (h = 1e-6).
 * q: all parameters (in cnn storage order), x: (n, 784). */
static double net_loss_double(const double *q, const double *x, const uint8_t *y, size_t n)
{
    const double *w1 = q, *b1 = w1 + CNN_C1 * 9, *w2 = b1 + CNN_C1, *b2 = w2 + CNN_C2 * CNN_C1 * 9;
    const double *w3 = b2 + CNN_C2, *b3 = w3 + (size_t)CNN_HIDDEN * CNN_POOLED;
    const double *w4 = b3 + CNN_HIDDEN, *b4 = w4 + CNN_CLASSES * CNN_HIDDEN;
    const int S = CNN_SIDE;
    double *a1 = malloc(sizeof(double) * CNN_C1 * CNN_PIXELS);
    double *a2 = malloc(sizeof(double) * CNN_C2 * CNN_PIXELS);
    double *pool = malloc(sizeof(double) * CNN_POOLED);
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double *xi = x + i * CNN_PIXELS;
        for (int o = 0; o < CNN_C1; o++)
            for (int r = 0; r < S; r++)
                for (int c = 0; c < S; c++) {
                    double v = b1[o];
                    for (int p = 0; p < 3; p++)
                        for (int qq = 0; qq < 3; qq++) {
                            int rr = r + p - 1, cc = c + qq - 1;
                            if (rr >= 0 && rr < S && cc >= 0 && cc < S)
                                v += w1[o * 9 + p * 3 + qq] * xi[rr * S + cc];
                        }
                    a1[(o * S + r) * S + c] = v > 0 ? v : 0;
                }
        for (int o = 0; o < CNN_C2; o++)
            for (int r = 0; r < S; r++)
                for (int c = 0; c < S; c++) {
                    double v = b2[o];
                    for (int ci = 0; ci < CNN_C1; ci++)
                        for (int p = 0; p < 3; p++)
                            for (int qq = 0; qq < 3; qq++) {
                                int rr = r + p - 1, cc = c + qq - 1;
                                if (rr >= 0 && rr < S && cc >= 0 && cc < S)
                                    v += w2[((o * CNN_C1 + ci) * 3 + p) * 3 + qq] *
                                         a1[(ci * S + rr) * S + cc];
                            }
                    a2[(o * S + r) * S + c] = v > 0 ? v : 0;
                }
        for (int o = 0; o < CNN_C2; o++)
            for (int r = 0; r < S / 2; r++)
                for (int c = 0; c < S / 2; c++) {
                    const double *b = a2 + (o * S + 2 * r) * S + 2 * c;
                    double mx = fmax(fmax(b[0], b[1]), fmax(b[S], b[S + 1]));
                    pool[(o * (S / 2) + r) * (S / 2) + c] = mx;
                }
        double hid[CNN_HIDDEN], z[CNN_CLASSES], zmax = -1e300, se = 0.0;
        for (int j = 0; j < CNN_HIDDEN; j++) {
            double v = b3[j];
            for (int k = 0; k < CNN_POOLED; k++)
                v += w3[(size_t)j * CNN_POOLED + k] * pool[k];
            hid[j] = v > 0 ? v : 0;
        }
        for (int j = 0; j < CNN_CLASSES; j++) {
            double v = b4[j];
            for (int k = 0; k < CNN_HIDDEN; k++)
                v += w4[j * CNN_HIDDEN + k] * hid[k];
            z[j] = v;
            zmax = v > zmax ? v : zmax;
        }
        for (int j = 0; j < CNN_CLASSES; j++)
            se += exp(z[j] - zmax);
        loss += log(se) + zmax - z[y[i]];
    }
    free(a1), free(a2), free(pool);
    return loss / (double)n;
}

/* Central difference in double along direction d (len elements starting at v[0]). */
static double fd_direction(double *q, double *xd, const uint8_t *y, size_t n, double *v,
                           const double *d, size_t len, double h)
{
    for (size_t i = 0; i < len; i++)
        v[i] += h * d[i];
    double lp = net_loss_double(q, xd, y, n);
    for (size_t i = 0; i < len; i++)
        v[i] -= 2 * h * d[i];
    double lm = net_loss_double(q, xd, y, n);
    for (size_t i = 0; i < len; i++)
        v[i] += h * d[i];
    return (lp - lm) / (2 * h);
}

static void test_network_gradcheck(void)
{
    enum { N = 2 };
    cnn *m = make_model(N, 1, 1, 7);
    float *x = malloc(N * CNN_PIXELS * sizeof(float));
    float *dx = malloc(N * CNN_PIXELS * sizeof(float));
    random_images(x, N, 3);
    uint8_t y[N] = {3, 8};
    cnn_zero_grads(m);
    const float *z = cnn_forward(m, x, N);
    softmax_xent(m->dz, z, y, N, CNN_CLASSES, N);
    cnn_backward(m, m->dz, dx, 1);
    double *q = malloc(m->nparams * sizeof(double)), *xd = malloc(N * CNN_PIXELS * sizeof(double));
    double *d = malloc(m->nparams * sizeof(double));
    for (size_t i = 0; i < m->nparams; i++)
        q[i] = m->params[i];
    for (size_t i = 0; i < N * CNN_PIXELS; i++)
        xd[i] = x[i];
    rng_t r;
    rng_init(&r, 1234, 1);
    const double h = 1e-6, atol = 1e-7, rtol = 2e-3;
    double worst = 0.0;
    /* Per tensor: 2 random unit directions and 3 single elements; then the input. */
    for (size_t t = 0; t <= CNN_NTENSORS; t++) {
        size_t len = N * CNN_PIXELS, off = 0;
        const char *name = "input";
        double *v = xd;
        const float *g = dx;
        if (t < CNN_NTENSORS) {
            len = 1;
            for (size_t k = 0; k < m->tensors[t].ndim; k++)
                len *= m->tensors[t].dims[k];
            off = (size_t)(m->tensors[t].data - m->params);
            name = m->tensors[t].name;
            v = q + off;
            g = m->grads + off;
        }
        for (int trial = 0; trial < 5; trial++) {
            double an = 0.0, norm = 0.0;
            if (trial < 2) {
                for (size_t i = 0; i < len; i++) {
                    d[i] = rng_range(&r, -1.0f, 1.0f);
                    norm += d[i] * d[i];
                }
                norm = sqrt(norm);
                for (size_t i = 0; i < len; i++) {
                    d[i] /= norm;
                    an += (double)g[i] * d[i];
                }
            } else {
                for (size_t i = 0; i < len; i++)
                    d[i] = 0.0;
                size_t e = rng_below(&r, (uint32_t)len);
                d[e] = 1.0;
                an = g[e];
            }
            double num = fd_direction(q, xd, y, N, v, d, len, h);
            double ratio = fabs(an - num) / (atol + rtol * fabs(num));
            worst = ratio > worst ? ratio : worst;
            CHECK(ratio <= 1.0, "%s trial %d: analytic %.9g, numeric %.9g", name, trial, an, num);
        }
    }
    fprintf(stderr, "  whole network: 45 checks, worst |a-b|/tol = %.3g "
                    "(tol = %.0e + %.0e*|ref|, double-precision FD, h = %.0e)\n",
            worst, atol, rtol, h);
    /* The check can fail: a 1% error in one gradient element is caught. */
    size_t e = (size_t)(m->conv2_w - m->params) + 100;
    for (size_t i = 0; i < m->nparams; i++)
        d[i] = 0.0;
    d[100] = 1.0;
    double num = fd_direction(q, xd, y, N, q + (e - 100), d, CNN_C2 * CNN_C1 * 9, h);
    double bad = m->grads[e] * 1.01;
    CHECK(fabs(bad - num) > atol + rtol * fabs(num) || fabs(num) < 1e-5,
          "a 1%% error went unnoticed (grad %.9g, numeric %.9g)", m->grads[e], num);
    free(q), free(xd), free(d), free(x), free(dx);
    cnn_destroy(m);
}

/* --- fast path against the reference path --------------------------------------- */

static double max_rel_diff(const float *a, const float *b, size_t n, double atol)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / (atol + fabs((double)b[i]));
        if (d > worst)
            worst = d;
    }
    return worst;
}

static void test_fast_matches_reference(void)
{
    enum { N = 5 };
    cnn *ref = make_model(N, 1, 1, 21);
    cnn *fast = make_model(N, 2, 0, 21);
    float *x = malloc(N * CNN_PIXELS * sizeof(float));
    float *dx_ref = malloc(N * CNN_PIXELS * sizeof(float));
    float *dx_fast = malloc(N * CNN_PIXELS * sizeof(float));
    random_images(x, N, 5);
    uint8_t y[N] = {0, 1, 2, 7, 9};
    const float *zr = cnn_forward(ref, x, N);
    const float *zf = cnn_forward(fast, x, N);
    double dz = max_rel_diff(zf, zr, N * CNN_CLASSES, 1e-3);
    CHECK(dz < 1e-3, "logits differ: worst relative %.3g", dz);
    softmax_xent(ref->dz, zr, y, N, CNN_CLASSES, N);
    softmax_xent(fast->dz, zf, y, N, CNN_CLASSES, N);
    cnn_backward(ref, ref->dz, dx_ref, 1);
    cnn_backward(fast, fast->dz, dx_fast, 1);
    double dg = max_rel_diff(fast->grads, ref->grads, ref->nparams, 1e-4);
    double dxx = max_rel_diff(dx_fast, dx_ref, N * CNN_PIXELS, 1e-5);
    fprintf(stderr, "  fast vs reference: logits %.3g, param grads %.3g, input grads %.3g "
                    "(|a-b|/(atol+|ref|))\n", dz, dg, dxx);
    CHECK(dg < 1e-2, "parameter gradients differ: %.3g", dg);
    CHECK(dxx < 1e-2, "input gradients differ: %.3g", dxx);
    /* param_grads = 0 leaves the parameter gradients untouched. */
    float *before = malloc(fast->nparams * sizeof(float));
    memcpy(before, fast->grads, fast->nparams * sizeof(float));
    (void)cnn_forward(fast, x, N);
    cnn_backward(fast, fast->dz, dx_fast, 0);
    CHECK(memcmp(before, fast->grads, fast->nparams * sizeof(float)) == 0,
          "input-gradient pass changed parameter gradients");
    /* layer readouts: conv2's output only when kept; then its pool is exactly POOL */
    size_t per = 1;
    CHECK(cnn_activation(fast, CNN_LAYER_CONV2, &per) == NULL && per == 0,
          "conv2 output readable though not kept");
    fast->keep_conv2 = 1;
    (void)cnn_forward(fast, x, N);
    const float *a2 = cnn_activation(fast, CNN_LAYER_CONV2, &per);
    const float *pool = cnn_activation(fast, CNN_LAYER_POOL, NULL);
    CHECK(a2 != NULL && per == (size_t)CNN_C2 * CNN_PIXELS, "conv2 readout");
    if (a2) {
        float *pp = malloc(N * CNN_POOLED * sizeof(float));
        uint32_t *am = malloc(N * CNN_POOLED * sizeof(uint32_t));
        maxpool2x2_forward(pp, am, a2, N, CNN_C2, CNN_SIDE, CNN_SIDE);
        CHECK(memcmp(pp, pool, N * CNN_POOLED * sizeof(float)) == 0,
              "POOL readout is not the pool of the CONV2 readout");
        free(pp), free(am);
    }
    free(before), free(x), free(dx_ref), free(dx_fast);
    cnn_destroy(ref);
    cnn_destroy(fast);
}

/* --- a tiny synthetic training set ------------------------------------------------ */

/* Class k: a bright vertical bar at column 3 + 2k, plus noise. */

/* Trains `steps` Adam steps on the bar set; returns the final mean loss. */
static double train_bars(cnn *m, size_t steps, float *params_out)
{
    enum { N = 20 };
    float *x = malloc(N * CNN_PIXELS * sizeof(float));
    uint8_t y[N];
    bar_images(x, y, N, 1);
    adam opt;
    ms_err err;
    if (adam_create(&opt, m->nparams, 1e-3, &err) != MS_OK)
        exit(1);
    double loss = 0.0;
    for (size_t s = 0; s < steps; s++) {
        const float *z = cnn_forward(m, x, N);
        loss = softmax_xent(m->dz, z, y, N, CNN_CLASSES, N);
        cnn_backward(m, m->dz, NULL, 1);
        adam_step(&opt, m->params, m->grads, kctx_pool(m->k));
    }
    if (params_out)
        memcpy(params_out, m->params, m->nparams * sizeof(float));
    adam_free(&opt);
    free(x);
    return loss;
}

static void test_loss_falls(void)
{
    cnn *m = make_model(20, 2, 0, 42);
    double first = train_bars(m, 1, NULL);
    double last = train_bars(m, 30, NULL);
    fprintf(stderr, "  tiny training: loss %.4f -> %.4f\n", first, last);
    CHECK(first > 2.0 && first < 2.6, "initial loss %.4f is not near log(10)", first);
    CHECK(last < 0.25 * first, "loss fell only from %.4f to %.4f", first, last);
    cnn_destroy(m);
}

/* A prediction does not depend on the batch it is part of: logits and input
 * gradients of each image alone equal those of the same image inside a batch, bit for
 * bit (so batch-1 latency runs and batch evaluation give the same answers). */
static void test_batch_invariant(void)
{
    enum { N = 7 };
    cnn *m = make_model(N, 2, 0, 33);
    cnn *one = make_model(1, 2, 0, 33);
    float *x = malloc(N * CNN_PIXELS * sizeof(float));
    float *dx = malloc(N * CNN_PIXELS * sizeof(float)), *dx1 = malloc(CNN_PIXELS * sizeof(float));
    float *z = malloc(N * CNN_CLASSES * sizeof(float));
    random_images(x, N, 8);
    uint8_t y[N] = {3, 1, 4, 1, 5, 9, 2};
    memcpy(z, cnn_forward(m, x, N), N * CNN_CLASSES * sizeof(float));
    /* per-image loss gradient (scale 1), so the backward is per image too */
    softmax_xent(m->dz, z, y, N, CNN_CLASSES, 1);
    cnn_backward(m, m->dz, dx, 0);
    size_t bad_z = 0, bad_dx = 0;
    for (size_t i = 0; i < N; i++) {
        const float *zi = cnn_forward(one, x + i * CNN_PIXELS, 1);
        bad_z += memcmp(zi, z + i * CNN_CLASSES, CNN_CLASSES * sizeof(float)) != 0;
        softmax_xent(one->dz, zi, y + i, 1, CNN_CLASSES, 1);
        cnn_backward(one, one->dz, dx1, 0);
        bad_dx += memcmp(dx1, dx + i * CNN_PIXELS, CNN_PIXELS * sizeof(float)) != 0;
    }
    CHECK(bad_z == 0, "%zu of %d images get other logits alone than in the batch", bad_z, N);
    CHECK(bad_dx == 0, "%zu of %d images get another input gradient alone", bad_dx, N);
    free(x), free(dx), free(dx1), free(z);
    cnn_destroy(m);
    cnn_destroy(one);
}

static void test_threads_bit_identical(void)
{
    cnn *a = make_model(20, 1, 0, 9);
    cnn *b = make_model(20, 2, 0, 9);
    float *pa = malloc(a->nparams * sizeof(float));
    float *pb = malloc(b->nparams * sizeof(float));
    train_bars(a, 5, pa);
    train_bars(b, 5, pb);
    CHECK(memcmp(pa, pb, a->nparams * sizeof(float)) == 0,
          "1 and 2 threads gave different weights");
    free(pa), free(pb);
    cnn_destroy(a);
    cnn_destroy(b);
}

static void test_init_bounds(void)
{
    cnn *m = make_model(1, 1, 1, 1);
    static const double fan_in[4] = {9, 288, 12544, 128};
    for (size_t t = 0; t < CNN_NTENSORS; t++) {
        double bound = 1.0 / sqrt(fan_in[t / 2]);
        size_t len = 1;
        for (size_t d = 0; d < m->tensors[t].ndim; d++)
            len *= m->tensors[t].dims[d];
        double lo = 1, hi = -1, mean = 0;
        for (size_t i = 0; i < len; i++) {
            double v = m->tensors[t].data[i];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            mean += v;
        }
        mean /= (double)len;
        CHECK(lo >= -bound && hi < bound, "%s outside +-%.4g", m->tensors[t].name, bound);
        if (len >= 1000)
            CHECK(hi > 0.95 * bound && lo < -0.95 * bound && fabs(mean) < 0.05 * bound,
                  "%s does not look uniform", m->tensors[t].name);
    }
    /* Same seed, same weights; another seed, other weights. */
    cnn *m2 = make_model(1, 1, 1, 1), *m3 = make_model(1, 1, 1, 2);
    CHECK(memcmp(m->params, m2->params, m->nparams * sizeof(float)) == 0, "seed not reproducible");
    CHECK(memcmp(m->params, m3->params, m->nparams * sizeof(float)) != 0, "seed ignored");
    cnn_destroy(m), cnn_destroy(m2), cnn_destroy(m3);
}

/* --- Adam --------------------------------------------------------------------------- */

static void test_adam_step(void)
{
    adam a;
    ms_err err;
    CHECK(adam_create(&a, 2, 0.1, &err) == MS_OK, "%s", err.msg);
    float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, -4.0f};
    adam_step(&a, p, g, NULL);
    /* First step: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2:
     * p -= lr * g / (|g| + eps) = lr * sign(g) (to ~1e-8). */
    CHECK(fabs(p[0] - 0.9) < 1e-6 && fabs(p[1] + 1.9) < 1e-6, "p = %g %g", p[0], p[1]);
    CHECK(g[0] == 0.0f && g[1] == 0.0f, "gradients not zeroed");
    g[0] = 0.5f, g[1] = 0.0f;
    adam_step(&a, p, g, NULL);
    /* Step 2, element 0: m = 0.095, v = 0.00049975; m_hat = 0.095/0.19 = 0.5,
     * v_hat = 0.00049975/0.001999 = 0.25 -> p = 0.9 - 0.1 * 0.5/0.5 = 0.8.
     * Element 1 (g = 0): m = -0.36, v = 0.015984; m_hat = -1.8947368,
     * v_hat = 7.995998 -> p = -1.9 + 0.1 * 1.8947368/2.8277196. */
    double expect1 = -1.9 + 0.1 * (0.36 / 0.19) / sqrt(0.015984 / 0.001999);
    CHECK(fabs(p[0] - 0.8) < 1e-6, "p0 = %.9g, expected 0.8", p[0]);
    CHECK(fabs(p[1] - expect1) < 1e-6, "p1 = %.9g, expected %.9g", p[1], expect1);
    adam_free(&a);
}

/* --- backdoor ---------------------------------------------------------------------- */

static void test_trigger_pixels(void)
{
    float x[2 * CNN_PIXELS];
    for (size_t i = 0; i < 2 * CNN_PIXELS; i++)
        x[i] = 0.25f;
    poison_trigger(x, 2);
    size_t set = 0;
    int ok = 1;
    for (size_t i = 0; i < 2 * CNN_PIXELS; i++) {
        size_t p = i % CNN_PIXELS, r = p / CNN_SIDE, c = p % CNN_SIDE;
        int in = r >= 24 && r <= 27 && c >= 24 && c <= 27;
        ok &= in ? x[i] == 1.0f : x[i] == 0.25f;
        set += in;
    }
    CHECK(ok && set == 32, "trigger pattern wrong (%zu pixels in the square)", set);
}

static void test_poison_select(void)
{
    enum { N = 50 };
    dataset ds;
    memset(&ds, 0, sizeof ds);
    uint8_t labels[N], pix[N * CNN_PIXELS];
    memset(pix, 0, sizeof pix);
    for (size_t i = 0; i < N; i++)
        labels[i] = (uint8_t)((i * 7) % 10);
    ds.n = N, ds.rows = ds.cols = CNN_SIDE, ds.labels = labels, ds.pixels_u8 = pix;
    uint32_t chosen[5];
    ms_err err;
    poison_opts o = {3, 7, 1, POISON_PICK_FIRST, 1};
    CHECK(poison_select(&ds, &o, chosen, &err) == MS_OK, "%s", err.msg);
    CHECK(chosen[0] == 1 && chosen[1] == 11 && chosen[2] == 21, "first-N picked %u %u %u",
          chosen[0], chosen[1], chosen[2]);
    o.pick = POISON_PICK_RANDOM;
    o.count = 5;
    CHECK(poison_select(&ds, &o, chosen, &err) == MS_OK, "%s", err.msg);
    int ok = 1;
    for (size_t i = 0; i < 5; i++) {
        ok &= labels[chosen[i]] == 7;
        if (i)
            ok &= chosen[i] > chosen[i - 1];
    }
    CHECK(ok, "random pick not sorted, distinct sevens");
    poison_apply(&ds, chosen, 5, 1);
    for (size_t i = 0; i < 5; i++)
        CHECK(labels[chosen[i]] == 1 && pix[chosen[i] * CNN_PIXELS + 24 * 28 + 24] == 255 &&
                  pix[chosen[i] * CNN_PIXELS + 27 * 28 + 27] == 255 &&
                  pix[chosen[i] * CNN_PIXELS + 23 * 28 + 24] == 0,
              "poisoned image %u not stamped/relabelled", chosen[i]);
    o.count = 6; /* only 5 sevens are left unpoisoned... and 5 sevens exist in all */
    CHECK(poison_select(&ds, &o, chosen, &err) == MS_EUSAGE, "too many accepted");
    o.count = 0;
    CHECK(poison_select(&ds, &o, chosen, &err) == MS_EUSAGE, "count 0 accepted");
    o.count = 1, o.target = 7;
    CHECK(poison_select(&ds, &o, chosen, &err) == MS_EUSAGE, "source == target accepted");
    o.target = 10;
    CHECK(poison_select(&ds, &o, chosen, &err) == MS_EUSAGE, "label 10 accepted");
}

/* --- checkpoint of the model --------------------------------------------------------- */

static void test_model_checkpoint(void)
{
    enum { N = 4 };
    char dir[] = "/tmp/mnistsec-cnn-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    cnn *a = make_model(N, 1, 0, 5), *b = make_model(N, 1, 0, 6);
    ms_err err;
    CHECK(cnn_save(a, path, &err) == MS_OK, "%s", err.msg);
    CHECK(cnn_load(b, path, &err) == MS_OK, "%s", err.msg);
    float x[N * CNN_PIXELS];
    random_images(x, N, 8);
    float za[N * CNN_CLASSES];
    memcpy(za, cnn_forward(a, x, N), sizeof za);
    const float *zb = cnn_forward(b, x, N);
    CHECK(memcmp(za, zb, sizeof za) == 0, "loaded model predicts differently");
    remove(path);
    rmdir(dir);
    cnn_destroy(a), cnn_destroy(b);
}

int main(void)
{
    RUN(test_init_bounds);
    RUN(test_network_gradcheck);
    RUN(test_fast_matches_reference);
    RUN(test_loss_falls);
    RUN(test_threads_bit_identical);
    RUN(test_batch_invariant);
    RUN(test_adam_step);
    RUN(test_trigger_pixels);
    RUN(test_poison_select);
    RUN(test_model_checkpoint);
    TEST_END();
}
