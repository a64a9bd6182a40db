/* test_apgd.c - Auto-PGD (attack_apgd.c) and the losses it ascends (attack.c).
 *
 *  - attack_loss_grad: central differences of the cross-entropy, DLR, targeted DLR and
 *    margin input gradients (identity model, so dL/dz itself, for K = 3, 4, 10, and a
 *    dense linear model); the losses against their definitions; scale divides only
 *    the gradient.
 *  - linear classifiers, whose best L-inf margin is known in closed form: APGD-CE
 *    fools exactly what the optimum fools (K = 2) and reaches the optimum's loss and at
 *    least PGD's (eps/4 steps, same iterations); APGD-T over all targets fools whatever
 *    the optimum fools (K = 10); APGD-T drives the margin to its target to the least
 *    the ball allows on a model built so that is its optimum; targets are taken in
 *    the order of the clean logits and later ones run on what is still correct.
 *  - a reference: the algorithm written plainly, one example at a time; every iterate
 *    and result of APGD-CE / APGD-T equal it bit for bit on a 1-D bump (1 to 250
 *    iterations), on the CNN, on a linear model, and on a model whose loss follows a
 *    script that forces each branch of the step size rule; the step does halve (the
 *    bump's top is found to eps/64); pass counts are steps + 2 forwards, steps
 *    backwards.
 *  - invariants (pixels in [0,1], ||x_adv - x||_inf <= eps, by hand and by
 *    attack_check) on every result; eps = 0 returns the input; the reported loss and
 *    verdict are those of x_adv; an example gives the same bytes alone as in a batch
 *    (CNN and linear, with restarts and targets); same seed same bytes, another seed
 *    other bytes.
 *  - with APGD_BENCH set and MNIST_DIR holding MNIST: the time of APGD-CE, 100
 *    iterations, on 1000 test images (batch 100, 2 threads, a fresh CNN).
 *
 * Legend: n examples, D pixels per example, K classes.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attack.h"
#include "clock.h"
#include "cnn.h"
#include "dataset.h"
#include "gradcheck.h"
#include "rng.h"
#include "test.h"

/* ---- models written out here ----------------------------------------------------- */

/* Linear softmax classifier z = W x + b; w: (K, D), bias: (K), z: (cap, K) logits of
 * the last forward, of n examples. */
typedef struct {
    size_t dim, classes, cap, n;
    float *w, *bias, *z;
} linear_model;

static const float *linear_forward(void *self, const float *x, size_t n)
{
    linear_model *m = self;
    m->n = n;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < m->classes; k++) {
            double s = m->bias[k];
            for (size_t j = 0; j < m->dim; j++)
                s += (double)m->w[k * m->dim + j] * (double)x[i * m->dim + j];
            m->z[i * m->classes + k] = (float)s;
        }
    return m->z;
}

/* dx (n, D) = dz (n, K) W */
static void linear_backward(void *self, const float *dz, float *dx)
{
    const linear_model *m = self;
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->dim; j++) {
            double s = 0.0;
            for (size_t k = 0; k < m->classes; k++)
                s += (double)dz[i * m->classes + k] * (double)m->w[k * m->dim + j];
            dx[i * m->dim + j] = (float)s;
        }
}

/* A linear model with weights U(-scale, scale) and biases U(-1, 1) drawn from seed;
 * identity: W = I, b = 0 (dim must equal classes), so x are the logits and dx = dL/dz. */
static linear_model *linear_create(size_t dim, size_t classes, size_t cap, float scale,
                                   int identity, uint64_t seed)
{
    linear_model *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    m->dim = dim, m->classes = classes, m->cap = cap;
    m->w = calloc(classes * dim, sizeof *m->w);
    m->bias = calloc(classes, sizeof *m->bias);
    m->z = calloc(cap * classes, sizeof *m->z);
    if (!m->w || !m->bias || !m->z)
        abort();
    rng_t r;
    rng_init(&r, seed, 7);
    for (size_t k = 0; k < classes; k++) {
        for (size_t j = 0; j < dim; j++)
            m->w[k * dim + j] = identity ? (float)(k == j) : rng_range(&r, -scale, scale);
        m->bias[k] = identity ? 0.0f : rng_range(&r, -1.0f, 1.0f);
    }
    return m;
}

static void linear_free(linear_model *m)
{
    free(m->w), free(m->bias), free(m->z), free(m);
}

static attack_model linear_attack_model(linear_model *m)
{
    attack_model am = {.self = m,
                       .dim = m->dim,
                       .classes = m->classes,
                       .max_batch = m->cap,
                       .forward = linear_forward,
                       .backward = linear_backward};
    return am;
}

/* ---- helpers -------------------------------------------------------------------- */

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        abort();
    return p;
}

static void uniform(float *x, size_t len, float lo, float hi, uint64_t seed)
{
    rng_t r;
    rng_init(&r, seed, 11);
    for (size_t i = 0; i < len; i++)
        x[i] = rng_range(&r, lo, hi);
}

static void make_ids(uint32_t *ids, size_t n, uint32_t first)
{
    for (size_t i = 0; i < n; i++)
        ids[i] = first + (uint32_t)(7 * i);
}

/* Labels = the model's clean predictions, so every example starts classified
 * correctly and the attack has work to do. */
static void label_by_model(const attack_model *am, const float *x, size_t n, uint8_t *y)
{
    const float *z = am->forward(am->self, x, n);
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t k = 1; k < am->classes; k++)
            if (z[i * am->classes + k] > z[i * am->classes + best])
                best = k;
        y[i] = (uint8_t)best;
    }
}

/* Invariants of one result, checked twice: by hand and by attack_check. */
static int result_ok(const char *name, const float *x, const float *xa, const uint32_t *ids,
                     size_t n, size_t d, float eps)
{
    double worst = 0.0;
    size_t outside = 0;
    for (size_t i = 0; i < n * d; i++) {
        if (!(xa[i] >= 0.0f && xa[i] <= 1.0f))
            outside++;
        double dv = fabs((double)xa[i] - (double)x[i]);
        worst = dv > worst ? dv : worst;
    }
    CHECK(outside == 0, "%s: %zu pixels outside [0,1]", name, outside);
    CHECK(worst <= (double)eps + 1e-7, "%s: ||x_adv - x||_inf = %.9g > eps %.9g", name, worst,
          (double)eps);
    ms_err err;
    ms_status s = attack_check(name, x, xa, ids, n, d, eps, NULL, &err);
    CHECK(s == MS_OK, "attack_check: %s", err.msg);
    return outside == 0 && worst <= (double)eps + 1e-7 && s == MS_OK;
}

/* Runs fn on (x, y, ids, n) into xa / loss / correct with a fresh workspace. */
static ms_status run_attack(attack_fn fn, const attack_model *am, const float *x,
                            const uint8_t *y, const uint32_t *ids, size_t n,
                            const attack_params *p, float *xa, float *loss, uint8_t *correct)
{
    attack_ws ws;
    ms_err err;
    ms_status s = attack_ws_create(&ws, n, am->dim, am->classes, &err);
    if (s != MS_OK) {
        fprintf(stderr, "  attack_ws_create: %s\n", err.msg);
        return s;
    }
    attack_batch b = {.x = x, .y = y, .ids = ids, .n = n};
    attack_out out = {.x_adv = xa, .loss = loss, .correct = correct};
    s = fn(am, &b, p, &ws, &out, &err);
    if (s != MS_OK)
        fprintf(stderr, "  attack: %s\n", err.msg);
    attack_ws_free(&ws);
    return s;
}

static double ce_of(const float *z, size_t k, size_t y)
{
    double m = z[0];
    for (size_t j = 1; j < k; j++)
        m = z[j] > m ? z[j] : m;
    double s = 0.0;
    for (size_t j = 0; j < k; j++)
        s += exp((double)z[j] - m);
    return log(s) - ((double)z[y] - m);
}

/* ---- gradients of the losses (attack.c) ---------------------------------------- */

typedef struct {
    const attack_model *am;
    float *x;
    const uint8_t *y, *target;
    size_t n;
    attack_loss kind;
    float *loss;
} loss_ctx;

static double loss_sum(void *ctx)
{
    loss_ctx *c = ctx;
    attack_loss_grad(c->am, c->x, c->y, c->target, c->n, c->kind, 1, c->loss, NULL, NULL,
                     NULL);
    double s = 0.0;
    for (size_t i = 0; i < c->n; i++)
        s += c->loss[i];
    return s;
}

static const char *loss_name(attack_loss kind)
{
    return kind == ATTACK_LOSS_CE      ? "ce"
           : kind == ATTACK_LOSS_DLR   ? "dlr"
           : kind == ATTACK_LOSS_DLR_T ? "dlr-t"
                                       : "margin";
}

/* dL/dz by central differences, on the identity model (x = z) for K = 3, 4 and 10 and
 * on a dense linear model (D = 16, K = 10, dL/dx = W^T dL/dz). The logits are spread
 * so no two are within the step of each other (the losses are smooth between ties). */
static void test_loss_gradients(void)
{
    enum { N = 6 };
    const size_t ks[3] = {3, 4, 10};
    const attack_loss kinds[4] = {ATTACK_LOSS_CE, ATTACK_LOSS_DLR, ATTACK_LOSS_DLR_T,
                                  ATTACK_LOSS_MARGIN};
    for (int model = 0; model < 4; model++) {
        const int dense = model == 3;
        const size_t k = dense ? 10 : ks[model], d = dense ? 16 : k;
        linear_model *lt = linear_create(d, k, N, 1.0f, !dense, 40 + (uint64_t)model);
        attack_model am = linear_attack_model(lt);
        float *x = xmalloc(N * d * sizeof *x), *dx = xmalloc(N * d * sizeof *dx);
        float *dx3 = xmalloc(N * d * sizeof *dx3), *dz = xmalloc(N * k * sizeof *dz);
        float loss[N], lfd[N];
        uint8_t y[N], target[N];
        rng_t r;
        rng_init(&r, 5 + (uint64_t)model, 3);
        for (size_t i = 0; i < N; i++) {
            y[i] = (uint8_t)rng_below(&r, (uint32_t)k);
            target[i] = (uint8_t)((y[i] + 1 + rng_below(&r, (uint32_t)k - 1)) % k);
            if (dense) {
                for (size_t j = 0; j < d; j++)
                    x[i * d + j] = rng_range(&r, 0.0f, 1.0f);
            } else {
                /* a permutation of spread values, so ranks are distinct by >= 0.5 */
                for (size_t j = 0; j < k; j++)
                    x[i * d + j] = 0.7f * (float)j + rng_range(&r, -0.2f, 0.2f) - 2.0f;
                for (size_t j = k; j > 1; j--) {
                    size_t q = rng_below(&r, (uint32_t)j);
                    float t = x[i * d + j - 1];
                    x[i * d + j - 1] = x[i * d + q];
                    x[i * d + q] = t;
                }
            }
        }
        for (int q = 0; q < 4; q++) {
            attack_loss kind = kinds[q];
            const uint8_t *tg = kind == ATTACK_LOSS_DLR_T ? target : NULL;
            attack_loss_grad(&am, x, y, tg, N, kind, 1, loss, NULL, dx, dz);
            loss_ctx c = {.am = &am, .x = x, .y = y, .target = tg, .n = N, .kind = kind,
                          .loss = lfd};
            gc_opts o = {.h = 1e-3, .atol = 2e-4, .rtol = 2e-3, .max_checks = 0, .seed = 1,
                         .quiet = 0};
            char name[64];
            snprintf(name, sizeof name, "%s %s K=%zu", loss_name(kind),
                     dense ? "dense" : "identity", k);
            gc_result res = gc_check(name, loss_sum, &c, x, dx, N * d, &o);
            CHECK(res.failed == 0, "%s: %zu of %zu entries off (worst |a-b| %.3g at %zu)", name,
                  res.failed, res.checked, res.worst_abs, res.worst_idx);
            /* scale divides the gradient and leaves the losses alone */
            float loss3[N];
            attack_loss_grad(&am, x, y, tg, N, kind, 3, loss3, NULL, dx3, dz);
            size_t off = 0;
            for (size_t i = 0; i < N * d; i++)
                off += !close_enough((double)dx3[i] * 3.0, dx[i], 1e-7, 1e-6);
            CHECK(off == 0, "%s: scale 3 gradient off in %zu entries", name, off);
            CHECK(memcmp(loss, loss3, sizeof loss) == 0, "%s: scale changed the losses", name);
            /* the losses themselves, in double from the definitions */
            const float *z = am.forward(am.self, x, N);
            for (size_t i = 0; i < N; i++) {
                const float *zi = z + i * k;
                size_t o1 = 0, srt[10];
                for (size_t j = 0; j < k; j++)
                    srt[j] = j;
                for (size_t a = 0; a < k; a++) /* indices by descending logit */
                    for (size_t b = a + 1; b < k; b++)
                        if (zi[srt[b]] > zi[srt[a]]) {
                            size_t t = srt[a];
                            srt[a] = srt[b];
                            srt[b] = t;
                        }
                o1 = srt[0] == y[i] ? srt[1] : srt[0];
                double p3 = zi[srt[k > 2 ? 2 : k - 1]], p4 = zi[srt[k > 3 ? 3 : k - 1]];
                double want;
                if (kind == ATTACK_LOSS_CE)
                    want = ce_of(zi, k, y[i]);
                else if (kind == ATTACK_LOSS_MARGIN)
                    want = (double)zi[o1] - (double)zi[y[i]];
                else if (kind == ATTACK_LOSS_DLR)
                    want = -((double)zi[y[i]] - (double)zi[o1]) / ((double)zi[srt[0]] - p3);
                else
                    want = -((double)zi[y[i]] - (double)zi[target[i]]) /
                           ((double)zi[srt[0]] - 0.5 * (p3 + p4));
                CHECK(close_enough(loss[i], want, 1e-6, 1e-5),
                      "%s example %zu: loss %.9g, want %.9g", name, i, (double)loss[i], want);
            }
        }
        free(x), free(dx), free(dx3), free(dz);
        linear_free(lt);
    }
}

/* ---- linear classifiers: the optimum is known ----------------------------------- */

/* The largest margin z_j - z_y over the box [max(0, x - eps), min(1, x + eps)] of a
 * linear model, over j != y (each pixel at the end its weight difference points to);
 * the bounds are formed as linf_step forms them. *arg gets the best j. */
static double optimal_margin(const linear_model *m, const float *x, size_t y, float eps,
                             size_t *arg)
{
    double best = -INFINITY;
    for (size_t j = 0; j < m->classes; j++) {
        if (j == y)
            continue;
        double s = (double)m->bias[j] - (double)m->bias[y];
        for (size_t q = 0; q < m->dim; q++) {
            double wd = (double)m->w[j * m->dim + q] - (double)m->w[y * m->dim + q];
            float lo = x[q] - eps, hi = x[q] + eps;
            lo = lo < 0.0f ? 0.0f : lo;
            hi = hi > 1.0f ? 1.0f : hi;
            s += wd * (double)(wd > 0.0 ? hi : lo);
        }
        if (s > best) {
            best = s;
            *arg = j;
        }
    }
    return best;
}

/* K = 2: the cross-entropy rises with the one margin, so its maximum over the box is
 * the margin's optimal corner. APGD-CE must fool exactly the examples that corner
 * fools, and elsewhere reach the corner's loss; PGD with step eps/4 and the same
 * iterations must not do better. */
static void test_linear_binary_optimum(void)
{
    enum { N = 64, D = 16 };
    linear_model *lt = linear_create(D, 2, N, 0.6f, 0, 21);
    attack_model am = linear_attack_model(lt);
    float x[N * D], xa[N * D], xp[N * D], loss[N], lossp[N];
    uint8_t y[N], c[N], cp[N];
    uint32_t ids[N];
    uniform(x, N * D, 0.0f, 1.0f, 8);
    make_ids(ids, N, 100);
    label_by_model(&am, x, N, y);
    attack_params p = attack_params_default(0.1f, 17);
    p.steps = p.iters = 100;
    CHECK(run_attack(attack_apgd_ce, &am, x, y, ids, N, &p, xa, loss, c) == MS_OK, "apgd-ce");
    result_ok("apgd-ce", x, xa, ids, N, D, p.eps);
    attack_params pp = p;
    pp.step = p.eps / 4;
    CHECK(run_attack(attack_pgd, &am, x, y, ids, N, &pp, xp, lossp, cp) == MS_OK, "pgd");
    size_t fooled_opt = 0, fooled = 0, fooled_pgd = 0, robust = 0;
    for (size_t i = 0; i < N; i++) {
        size_t j = 0;
        double opt = optimal_margin(lt, x + i * D, y[i], p.eps, &j);
        fooled += !c[i];
        fooled_pgd += !cp[i];
        if (fabs(opt) < 1e-4)
            continue; /* too close to call in float */
        if (opt > 0.0) {
            fooled_opt++;
            CHECK(!c[i], "example %zu: the optimum fools it (margin %.5g), APGD-CE did not", i,
                  opt);
        } else {
            robust++;
            CHECK(c[i], "example %zu: reported fooled though no point in the ball is", i);
            /* the corner's cross-entropy */
            float corner[D];
            for (size_t q = 0; q < D; q++) {
                double wd = (double)lt->w[j * D + q] - (double)lt->w[y[i] * D + q];
                float lo = x[i * D + q] - p.eps, hi = x[i * D + q] + p.eps;
                lo = lo < 0.0f ? 0.0f : lo;
                hi = hi > 1.0f ? 1.0f : hi;
                corner[q] = wd > 0.0 ? hi : lo;
            }
            const float *z = am.forward(am.self, corner, 1);
            double best = ce_of(z, 2, y[i]);
            CHECK(close_enough(loss[i], best, 1e-6, 1e-5),
                  "example %zu: APGD-CE loss %.9g, optimum %.9g", i, (double)loss[i], best);
            CHECK(loss[i] >= lossp[i] - 1e-6, "example %zu: APGD-CE loss %.9g < PGD's %.9g", i,
                  (double)loss[i], (double)lossp[i]);
        }
    }
    fprintf(stderr, "  K=2: optimum fools %zu/%d (%zu robust), APGD-CE %zu, PGD %zu\n",
            fooled_opt, N, robust, fooled, fooled_pgd);
    CHECK(fooled_opt > 5 && robust > 5, "eps does not split the examples (%zu fooled, %zu robust)",
          fooled_opt, robust);
    CHECK(fooled >= fooled_pgd, "APGD-CE fooled %zu, PGD %zu", fooled, fooled_pgd);
    linear_free(lt);
}

/* K = 10: the cross-entropy's maximum over the box is not in closed form (it is
 * convex, so any corner can be a local maximum), but the best margin is. APGD-T over
 * every other class must fool whatever the optimum fools (its target ranking tries
 * them all), APGD-CE must fool at least as many as PGD, and on the examples neither
 * fools its mean loss must be at least PGD's, and its loss at least PGD's on 90% of
 * them (the two may climb to different corners). */
static void test_linear_multiclass(void)
{
    enum { N = 64, D = 16, K = 10 };
    linear_model *lt = linear_create(D, K, N, 1.0f, 0, 23);
    attack_model am = linear_attack_model(lt);
    float x[N * D], xa[N * D], xt[N * D], xp[N * D], loss[N], losst[N], lossp[N];
    uint8_t y[N], c[N], ct[N], cp[N];
    uint32_t ids[N];
    uniform(x, N * D, 0.0f, 1.0f, 9);
    make_ids(ids, N, 3);
    label_by_model(&am, x, N, y);
    attack_params p = attack_params_default(0.08f, 4);
    p.steps = p.iters = 100;
    CHECK(run_attack(attack_apgd_ce, &am, x, y, ids, N, &p, xa, loss, c) == MS_OK, "apgd-ce");
    result_ok("apgd-ce", x, xa, ids, N, D, p.eps);
    attack_params pt = p;
    pt.targets = K - 1;
    CHECK(run_attack(attack_apgd_t, &am, x, y, ids, N, &pt, xt, losst, ct) == MS_OK, "apgd-t");
    result_ok("apgd-t", x, xt, ids, N, D, p.eps);
    attack_params pp = p;
    pp.step = p.eps / 4;
    CHECK(run_attack(attack_pgd, &am, x, y, ids, N, &pp, xp, lossp, cp) == MS_OK, "pgd");
    size_t fooled_opt = 0, f_ce = 0, f_t = 0, f_pgd = 0, both_robust = 0, ce_higher = 0;
    double sum_ce = 0.0, sum_pgd = 0.0;
    for (size_t i = 0; i < N; i++) {
        size_t j = 0;
        double opt = optimal_margin(lt, x + i * D, y[i], p.eps, &j);
        f_ce += !c[i], f_t += !ct[i], f_pgd += !cp[i];
        if (opt > 1e-4) {
            fooled_opt++;
            CHECK(!ct[i], "example %zu: the optimum fools it (margin %.5g toward %zu), APGD-T "
                          "did not", i, opt, j);
        } else if (opt < -1e-4) {
            CHECK(c[i] && ct[i], "example %zu: reported fooled though no point in the ball is",
                  i);
        }
        if (c[i] && cp[i]) {
            both_robust++;
            ce_higher += loss[i] >= lossp[i] - 1e-6f;
            sum_ce += loss[i], sum_pgd += lossp[i];
            if (loss[i] < lossp[i] - 1e-6f)
                fprintf(stderr, "  example %zu: APGD-CE loss %.9g < PGD's %.9g\n", i,
                        (double)loss[i], (double)lossp[i]);
        }
    }
    fprintf(stderr,
            "  K=10: optimum fools %zu/%d; APGD-CE %zu, APGD-T (9 targets) %zu, PGD %zu; "
            "APGD-CE loss >= PGD's on %zu of %zu unfooled, mean %.6f vs %.6f\n",
            fooled_opt, N, f_ce, f_t, f_pgd, ce_higher, both_robust,
            sum_ce / (double)both_robust, sum_pgd / (double)both_robust);
    CHECK(sum_ce >= sum_pgd, "mean loss of APGD-CE %.9g below PGD's %.9g", sum_ce, sum_pgd);
    CHECK(10 * ce_higher >= 9 * both_robust, "APGD-CE loss >= PGD's on only %zu of %zu",
          ce_higher, both_robust);
    CHECK(fooled_opt > 5 && fooled_opt < N - 5, "eps does not split the examples (%zu)",
          fooled_opt);
    CHECK(f_ce >= f_pgd, "APGD-CE fooled %zu, PGD %zu", f_ce, f_pgd);
    linear_free(lt);
}

/* The margin z_y - z_t toward t (the top other class at the original) at xa, its
 * value at the original, and its minimum over the box (each pixel at the end the
 * weight difference points to). */
static void target_margins(const linear_model *m, const float *z0, const float *z,
                           const float *x, size_t y, float eps, size_t *t, double *before,
                           double *after, double *best)
{
    const size_t k = m->classes, d = m->dim;
    *t = y == 0 ? 1 : 0;
    for (size_t j = 0; j < k; j++)
        if (j != y && z0[j] > z0[*t])
            *t = j;
    *before = (double)z0[y] - (double)z0[*t];
    *after = (double)z[y] - (double)z[*t];
    *best = (double)m->bias[y] - (double)m->bias[*t];
    for (size_t q = 0; q < d; q++) {
        double wd = (double)m->w[y * d + q] - (double)m->w[*t * d + q];
        float lo = x[q] - eps, hi = x[q] + eps;
        lo = lo < 0.0f ? 0.0f : lo;
        hi = hi > 1.0f ? 1.0f : hi;
        *best += wd * (double)(wd > 0.0 ? lo : hi);
    }
}

/* APGD-T with one target and an eps too small to fool anything.
 *
 * A model built so the targeted DLR loss and the margin to the target share their
 * optimum: class 0 (w = v, b = 3) on top, class 1 (w = -v, b = 1.5) the top other
 * class, class 2 (w = v, b = 0) third, the rest constant far below. The loss rises
 * with z_1 and falls with v.x, so the corner x - eps sign(v) is optimal and APGD-T
 * must reach the least margin the ball allows. Attacking class 2 instead (the second
 * other class: its margin to class 0 is constant, the loss then only grows the
 * denominator, i.e. v.x) or ascending the wrong way raises the margin to class 1.
 *
 * On a random linear model the optimum of the ratio is not the margin's; the margin
 * to the target must still fall. */
static void test_targeted_margin(void)
{
    enum { N = 32, D = 16, K = 10 };
    float x[N * D], xt[N * D], loss[N], z0[N * K];
    uint8_t y[N], c[N];
    uint32_t ids[N];
    uniform(x, N * D, 0.0f, 1.0f, 10);
    make_ids(ids, N, 50);
    for (int built = 1; built >= 0; built--) {
        linear_model *lt = linear_create(D, K, N, 1.0f, 0, 31);
        if (built) {
            rng_t r;
            rng_init(&r, 8, 8);
            for (size_t q = 0; q < D; q++) {
                float v = rng_range(&r, -0.2f, 0.2f);
                lt->w[0 * D + q] = v, lt->w[1 * D + q] = -v, lt->w[2 * D + q] = v;
            }
            lt->bias[0] = 3.0f, lt->bias[1] = 1.5f, lt->bias[2] = 0.0f;
            for (size_t k = 3; k < K; k++) {
                memset(lt->w + k * D, 0, D * sizeof *lt->w);
                lt->bias[k] = -10.0f - 0.1f * (float)k;
            }
        }
        attack_model am = linear_attack_model(lt);
        label_by_model(&am, x, N, y);
        memcpy(z0, am.forward(am.self, x, N), sizeof z0);
        attack_params p = attack_params_default(0.02f, 6);
        p.steps = p.iters = 100;
        p.targets = 1;
        CHECK(run_attack(attack_apgd_t, &am, x, y, ids, N, &p, xt, loss, c) == MS_OK, "apgd-t");
        result_ok("apgd-t", x, xt, ids, N, D, p.eps);
        const float *z = am.forward(am.self, xt, N);
        double least = INFINITY;
        size_t tested = 0;
        for (size_t i = 0; i < N; i++) {
            size_t t;
            double m0, m1, mopt;
            target_margins(lt, z0 + i * K, z + i * K, x + i * D, y[i], p.eps, &t, &m0, &m1,
                           &mopt);
            if (!c[i] || (built && (y[i] != 0 || t != 1)))
                continue; /* fooled, or the built ranking does not hold at this x */
            double share = (m0 - m1) / (m0 - mopt);
            least = share < least ? share : least;
            tested++;
            if (built)
                CHECK(share > 0.9999, "built example %zu: margin to class 1 went %.7g -> %.7g, "
                      "least possible %.7g", i, m0, m1, mopt);
            else
                CHECK(share > 0.0, "example %zu: margin to target %zu went %.6g -> %.6g", i, t,
                      m0, m1);
        }
        fprintf(stderr, "  targeted margin, %s model: %zu examples, least share of the "
                "possible drop %.6f\n", built ? "built" : "random", tested, least);
        CHECK(tested > N / 2, "only %zu examples tested", tested);
        linear_free(lt);
    }
}

/* APGD-T tries the targets in the order of the clean logits and keeps going while an
 * example is still correct. Built: class 0 (the label, z = 1) above two constant
 * classes (0.8, 0.7) that no perturbation moves, then class 3 (z = v.x + 0.5, so about
 * 0.5 on grey images) which the ball can lift above 1, the rest far below. With 2
 * targets nothing is fooled; with 3 everything is, by class 3. */
static void test_target_ranking(void)
{
    enum { N = 8, D = 16, K = 10 };
    linear_model *lt = linear_create(D, K, N, 1.0f, 0, 1);
    for (size_t k = 0; k < K; k++) {
        for (size_t q = 0; q < D; q++)
            lt->w[k * D + q] = k == 3 ? (q % 2 ? 0.5f : -0.5f) : 0.0f;
        lt->bias[k] = k == 0 ? 1.0f : k == 1 ? 0.8f : k == 2 ? 0.7f : k == 3 ? 0.5f : -5.0f;
    }
    attack_model am = linear_attack_model(lt);
    float x[N * D], xa[N * D], loss[N];
    uint8_t y[N], c[N];
    uint32_t ids[N];
    uniform(x, N * D, 0.48f, 0.52f, 14);
    make_ids(ids, N, 20);
    label_by_model(&am, x, N, y);
    for (size_t i = 0; i < N; i++)
        CHECK(y[i] == 0, "example %zu: built ranking broken (class %u on top)", i, y[i]);
    for (size_t targets = 2; targets <= 3; targets++) {
        attack_params p = attack_params_default(0.1f, 2);
        p.steps = p.iters = 50;
        p.targets = targets;
        CHECK(run_attack(attack_apgd_t, &am, x, y, ids, N, &p, xa, loss, c) == MS_OK, "run");
        result_ok("apgd-t", x, xa, ids, N, D, p.eps);
        const float *z = am.forward(am.self, xa, N);
        size_t fooled = 0, by3 = 0;
        for (size_t i = 0; i < N; i++) {
            fooled += !c[i];
            by3 += z[i * K + 3] > z[i * K + 0];
        }
        fprintf(stderr, "  %zu targets: %zu/%d fooled (%zu by class 3)\n", targets, fooled, N,
                by3);
        if (targets == 2)
            CHECK(fooled == 0, "2 targets fooled %zu: a class other than the top two was "
                  "attacked", fooled);
        else
            CHECK(fooled == N && by3 == N, "3 targets fooled %zu (%zu by class 3)", fooled, by3);
    }
    linear_free(lt);
}

/* ---- a reference of the whole algorithm --------------------------------------- */

/* Wraps a model and logs the input of every forward pass of `logged` examples into
 * log (calls, logged, D), up to cap_calls calls; counts the passes. */
typedef struct {
    const attack_model *inner;
    size_t logged, cap_calls, forwards, backwards;
    float *log;
} logging_model;

static const float *logging_forward(void *self, const float *x, size_t n)
{
    logging_model *l = self;
    const size_t d = l->inner->dim;
    if (n == l->logged && l->forwards < l->cap_calls)
        memcpy(l->log + l->forwards * n * d, x, n * d * sizeof *x);
    l->forwards++;
    return l->inner->forward(l->inner->self, x, n);
}

static void logging_backward(void *self, const float *dz, float *dx)
{
    logging_model *l = self;
    l->backwards++;
    l->inner->backward(l->inner->self, dz, dx);
}

static attack_model logging_wrap(logging_model *l, const attack_model *inner, size_t logged,
                                 size_t cap_calls)
{
    l->inner = inner;
    l->logged = logged, l->cap_calls = cap_calls;
    l->forwards = l->backwards = 0;
    l->log = xmalloc(cap_calls * logged * inner->dim * sizeof *l->log);
    attack_model am = *inner;
    am.self = l;
    am.forward = logging_forward;
    am.backward = logging_backward;
    am.patch = NULL; /* every forward goes through the log */
    return am;
}

/* The checkpoints as the paper states them, in double: w_j = ceil(p_j N) with
 * p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) (rounded to
 * hundredths against binary fractions). is_cp: (N + 1), 1 at each w_j in 1..N. */
static void paper_checkpoints(size_t steps, uint8_t *is_cp)
{
    memset(is_cp, 0, steps + 1);
    double p0 = 0.0, p1 = 0.22;
    while (1) {
        double w = ceil(floor(p1 * 100.0 + 0.5) * (double)steps / 100.0 - 1e-9);
        if (w > (double)steps)
            break;
        if (w >= 1.0)
            is_cp[(size_t)w] = 1;
        double gap = p1 - p0 - 0.03;
        p0 = p1;
        p1 = p1 + (gap > 0.06 ? gap : 0.06);
    }
}

/* What the checkpoints of the reference runs decided. */
typedef struct {
    size_t cond1, cond2_only, kept, at_rho; /* at_rho: increases exactly rho * interval */
} ref_stats;

/* One example of APGD written from the paper as plainly as possible: the loss,
 * verdict and gradient of each point from attack_loss_grad on the unlogged model, one
 * example at a time. x, x0: (D) original and start; iters (N, D) receives x_1..x_N,
 * result (D) the output. target is used by ATTACK_LOSS_DLR_T only. */
static void apgd_reference(const attack_model *am, const float *x, uint8_t y,
                           attack_loss kind, uint8_t target, const float *x0, float eps,
                           size_t steps, float *iters, float *result, ref_stats *st)
{
    const size_t d = am->dim, row = d * sizeof(float);
    float *mem = xmalloc((8 * d + am->classes) * sizeof *mem);
    float *cur = mem, *prev = cur + d, *z = prev + d, *nxt = z + d, *xmax = nxt + d;
    float *found = xmax + d, *g = found + d, *gbest = g + d, *dz = gbest + d;
    uint8_t *is_cp = xmalloc(steps + 1);
    paper_checkpoints(steps, is_cp);
    const uint8_t *tg = kind == ATTACK_LOSS_DLR_T ? &target : NULL;
    float f, fbest, fcur, eta = 2 * eps;
    uint8_t ok;
    memcpy(cur, x0, row);
    memcpy(prev, x0, row);
    memcpy(xmax, x0, row);
    attack_loss_grad(am, cur, &y, tg, 1, kind, 1, &f, &ok, g, dz);
    int have_found = !ok, halved_last = 1, improved = 0;
    if (!ok)
        memcpy(found, cur, row);
    fbest = fcur = f;
    memcpy(gbest, g, row);
    size_t ups = 0, last = 0;
    for (size_t s = 1; s <= steps; s++) {
        memcpy(z, cur, row);
        linf_step(z, x, g, d, eta, eps);
        if (s == 1) {
            memcpy(nxt, z, row);
        } else {
            for (size_t j = 0; j < d; j++)
                nxt[j] = cur[j] + 0.75f * (z[j] - cur[j]) + 0.25f * (cur[j] - prev[j]);
            linf_project(nxt, x, d, eps);
        }
        memcpy(prev, cur, row);
        memcpy(cur, nxt, row);
        memcpy(iters + (s - 1) * d, cur, row);
        attack_loss_grad(am, cur, &y, tg, 1, kind, 1, &f, &ok, g, dz);
        if (!ok && !have_found) {
            memcpy(found, cur, row);
            have_found = 1;
        }
        ups += f > fcur;
        if (f > fbest) {
            fbest = f;
            memcpy(xmax, cur, row);
            memcpy(gbest, g, row);
            improved = 1;
        }
        fcur = f;
        if (is_cp[s]) {
            int cond1 = (double)ups < 0.75 * (double)(s - last);
            int cond2 = !halved_last && !improved;
            st->cond1 += cond1;
            st->cond2_only += cond2 && !cond1;
            st->kept += !cond1 && !cond2;
            st->at_rho += (double)ups == 0.75 * (double)(s - last);
            halved_last = cond1 || cond2;
            if (halved_last) {
                eta /= 2;
                memcpy(cur, xmax, row);
                memcpy(g, gbest, row);
                fcur = fbest;
            }
            improved = 0, ups = 0, last = s;
        }
    }
    memcpy(result, have_found ? found : xmax, row);
    free(is_cp);
    free(mem);
}

/* Runs one APGD run (APGD-CE with 1 restart, or APGD-T with 1 target on examples all
 * classified correctly) on a batch through a logging wrapper, and compares every
 * iterate and the result with the reference, bit for bit; the start is taken from the
 * attack's first pass of the run. reset (may be NULL) rewinds a stateful model before
 * the attack and before each reference run. Returns the number of differing
 * iterates. */
static size_t compare_with_reference(const char *name, attack_fn fn, const attack_model *am,
                                     const float *x, const uint8_t *y, const uint32_t *ids,
                                     size_t n, const attack_params *p, ref_stats *st,
                                     uint8_t *correct, void (*reset)(void *self))
{
    const size_t d = am->dim, k = am->classes, steps = p->iters;
    const int targeted = fn == attack_apgd_t;
    /* APGD-T: clean verdicts, target ranking, then the run */
    const size_t first = targeted ? 2 : 0, calls = first + steps + 3;
    logging_model lm;
    attack_model wam = logging_wrap(&lm, am, n, calls);
    float *xa = xmalloc(n * d * sizeof *xa), *iters = xmalloc(steps * d * sizeof *iters);
    float *want = xmalloc(d * sizeof *want), *loss = xmalloc(n * sizeof *loss);
    if (reset)
        reset(am->self);
    CHECK(run_attack(fn, &wam, x, y, ids, n, p, xa, loss, correct) == MS_OK, "%s", name);
    result_ok(name, x, xa, ids, n, d, p->eps);
    size_t want_f = first + steps + 2 + (size_t)targeted, want_b = steps;
    CHECK(lm.forwards == want_f && lm.backwards == want_b,
          "%s: %zu forwards, %zu backwards for %zu steps (want %zu, %zu)", name, lm.forwards,
          lm.backwards, steps, want_f, want_b);
    size_t off = 0;
    if (reset)
        reset(am->self);
    const float *z0 = am->forward(am->self, x, n); /* clean logits, for the targets */
    uint8_t *target = xmalloc(n);
    for (size_t i = 0; i < n; i++) {
        size_t t = y[i] == 0 ? 1 : 0;
        for (size_t j = 0; j < k; j++)
            if (j != y[i] && z0[i * k + j] > z0[i * k + t])
                t = j;
        target[i] = (uint8_t)t;
    }
    for (size_t i = 0; i < n && lm.forwards == want_f; i++) {
        const float *x0 = lm.log + (first * n + i) * d;
        if (reset)
            reset(am->self);
        apgd_reference(am, x + i * d, y[i], targeted ? ATTACK_LOSS_DLR_T : ATTACK_LOSS_CE,
                       target[i], x0, p->eps, steps, iters, want, st);
        for (size_t s = 1; s <= steps; s++)
            if (memcmp(lm.log + ((first + s) * n + i) * d, iters + (s - 1) * d,
                       d * sizeof *iters) != 0 &&
                off++ < 3)
                fprintf(stderr, "  %s example %zu: iterate %zu differs from the reference\n",
                        name, i, s);
        CHECK(memcmp(xa + i * d, want, d * sizeof *want) == 0,
              "%s example %zu: result differs from the reference", name, i);
    }
    CHECK(off == 0, "%s: %zu iterates differ from the reference", name, off);
    free(target), free(xa), free(iters), free(want), free(loss), free(lm.log);
    return off;
}

/* D = 1, K = 2, logits (0, g(x)), g = -S (x - C)^2 + top, label 0: the cross-entropy
 * log(1 + e^g) peaks at x = C; the example is misclassified where g > 0 (only if
 * top > 0). */
#define BUMP_C 0.5f
#define BUMP_S 10.0f
#define BUMP_CAP 64
typedef struct {
    float top;
    size_t n;
    float z[BUMP_CAP * 2];
    float x[BUMP_CAP];
} bump_model;

static const float *bump_forward(void *self, const float *x, size_t n)
{
    bump_model *m = self;
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        float u = x[i] - BUMP_C;
        m->x[i] = x[i];
        m->z[2 * i] = 0.0f;
        m->z[2 * i + 1] = -BUMP_S * u * u + m->top;
    }
    return m->z;
}

/* dx = dL/dg * g'(x) */
static void bump_backward(void *self, const float *dz, float *dx)
{
    bump_model *m = self;
    for (size_t i = 0; i < m->n; i++)
        dx[i] = dz[2 * i + 1] * (-2.0f * BUMP_S * (m->x[i] - BUMP_C));
}

static attack_model bump_attack_model(bump_model *bm, float top)
{
    memset(bm, 0, sizeof *bm);
    bm->top = top;
    attack_model am = {.self = bm, .dim = 1, .classes = 2, .max_batch = BUMP_CAP,
                       .forward = bump_forward, .backward = bump_backward};
    return am;
}

/* On a bump APGD-CE never gets over, the step must halve its way to the top (within
 * eps/64; a fixed step 2 eps oscillates around it); on one it does, it must report
 * every example fooled. Every iterate and result equal the reference's, also for
 * iteration counts from 1 to 250. With 0 steps the start is the result. */
static void test_bump(void)
{
    enum { N = 16 };
    const float eps = 0.2f;
    const float tops[2] = {-0.1f, 0.02f};
    float x[N], xa[N], loss[N];
    uint8_t y[N], c[N];
    uint32_t ids[N];
    for (size_t i = 0; i < N; i++) {
        x[i] = BUMP_C + eps * (-0.9f + 1.8f * (float)i / (N - 1)); /* C inside every ball */
        y[i] = 0;
    }
    make_ids(ids, N, 9);
    ref_stats st = {0, 0, 0, 0};
    for (int v = 0; v < 2; v++) {
        bump_model bm;
        attack_model am = bump_attack_model(&bm, tops[v]);
        attack_params p = attack_params_default(eps, 12);
        p.steps = p.iters = 100;
        compare_with_reference(v ? "bump above 0" : "bump below 0", attack_apgd_ce, &am, x, y,
                               ids, N, &p, &st, c, NULL);
        CHECK(run_attack(attack_apgd_ce, &am, x, y, ids, N, &p, xa, loss, c) == MS_OK, "run");
        size_t fooled = 0;
        double worst = 0.0;
        for (size_t i = 0; i < N; i++) {
            fooled += !c[i];
            double e = fabs((double)xa[i] - BUMP_C);
            worst = e > worst ? e : worst;
        }
        if (v == 0) {
            fprintf(stderr, "  bump: largest |x_adv - C| = %.3g (eps %.2g)\n", worst,
                    (double)eps);
            CHECK(fooled == 0, "a bump below zero fooled %zu", fooled);
            CHECK(worst <= eps / 64, "APGD ended %.5g from the top (eps %.3g): step not halving",
                  worst, (double)eps);
        } else {
            CHECK(fooled == N, "a bump above zero fooled only %zu of %d", fooled, N);
        }
    }
    /* other iteration counts: the checkpoints w_j = ceil(p_j N) as the reference
     * computes them (several p_j fall on one w_j for small N) */
    const size_t counts[7] = {1, 2, 5, 10, 17, 33, 250};
    for (int q = 0; q < 7; q++) {
        bump_model bq;
        attack_model aq = bump_attack_model(&bq, -0.1f);
        attack_params p = attack_params_default(eps, 13);
        p.steps = p.iters = counts[q];
        char name[32];
        snprintf(name, sizeof name, "bump, %zu steps", counts[q]);
        compare_with_reference(name, attack_apgd_ce, &aq, x, y, ids, N, &p, &st, c, NULL);
    }
    /* steps = 0: the random start is the result */
    bump_model bm;
    attack_model inner = bump_attack_model(&bm, -0.1f);
    logging_model lm;
    attack_model am = logging_wrap(&lm, &inner, N, 4);
    attack_params p = attack_params_default(eps, 12);
    p.steps = p.iters = 0;
    CHECK(run_attack(attack_apgd_ce, &am, x, y, ids, N, &p, xa, loss, c) == MS_OK, "0 steps");
    result_ok("apgd-ce 0 steps", x, xa, ids, N, 1, eps);
    CHECK(lm.forwards == 2 && lm.backwards == 0, "0 steps: %zu forwards, %zu backwards",
          lm.forwards, lm.backwards);
    CHECK(memcmp(xa, lm.log, sizeof xa) == 0, "0 steps: result is not the start");
    free(lm.log);
}

/* A model whose loss follows a script over its passes rather than its input, so each
 * branch of the step size rule can be forced: D = 1, K = 2, logits (0, G[c]) at pass
 * c (the cross-entropy rises with G), and a gradient whose sign follows a fixed
 * pseudo-random pattern of c. The iterates move (eps is wide), so a wrong decision
 * shows in them. For 100 steps (checkpoints 22, 41, 57, 70, 80, 87, 93, 99):
 *   1..22   the loss climbs from far below the start's: 21 of 22 steps up, no new
 *           best; kept, as condition 2 is not tested at the first checkpoint
 *   23..41  18 of 19 up, still no new best, eta not halved at 22: condition 2 alone
 *           halves and restarts from the start (the best point)
 *   42..57  12 of 16 up (exactly rho) and new bests: kept (condition 1 is strict)
 *   58..70  12 of 13 up, no new best since 57, not halved at 57: condition 2 alone
 *   71..80  the first loss lies between the last one and the best: compared with the
 *           best (the restart point) it is not an increase, so 7 of 10: halved
 *   81..    alternating. */
#define SCRIPT_LEN 102
typedef struct {
    float g[SCRIPT_LEN];
    size_t c, n;
    float z[BUMP_CAP * 2];
} script_model;

static void script_build(script_model *m)
{
    float *g = m->g;
    g[0] = -2.0f;
    g[1] = -5.0f;
    for (int s = 2; s <= 22; s++)
        g[s] = g[s - 1] + 0.1f;
    g[23] = -4.95f;
    for (int s = 24; s <= 41; s++)
        g[s] = g[s - 1] + 0.05f;
    g[42] = -1.9f;
    for (int s = 43; s <= 57; s++)
        g[s] = g[s - 1] + ((s - 45) % 4 == 0 ? -0.3f : 0.1f);
    g[58] = -4.0f;
    for (int s = 59; s <= 70; s++)
        g[s] = g[s - 1] + 0.1f;
    g[71] = -2.5f;
    for (int s = 72; s <= 80; s++)
        g[s] = g[s - 1] + (s == 75 || s == 79 ? -0.3f : 0.1f);
    for (int s = 81; s < SCRIPT_LEN; s++)
        g[s] = g[s - 1] + (s % 2 ? 0.2f : -0.1f);
}

static void script_reset(void *self)
{
    ((script_model *)self)->c = 0;
}

static const float *script_forward(void *self, const float *x, size_t n)
{
    (void)x;
    script_model *m = self;
    float g = m->g[m->c < SCRIPT_LEN ? m->c : SCRIPT_LEN - 1];
    m->c++;
    m->n = n;
    for (size_t i = 0; i < n; i++)
        m->z[2 * i] = 0.0f, m->z[2 * i + 1] = g;
    return m->z;
}

static void script_backward(void *self, const float *dz, float *dx)
{
    script_model *m = self;
    uint32_t h = (uint32_t)m->c * 2654435761u;
    float dir = (h >> 13) & 1 ? 1.0f : -1.0f;
    for (size_t i = 0; i < m->n; i++)
        dx[i] = dz[2 * i + 1] * dir;
}

static void test_scripted_checkpoints(void)
{
    enum { N = 4 };
    script_model sm;
    memset(&sm, 0, sizeof sm);
    script_build(&sm);
    attack_model am = {.self = &sm, .dim = 1, .classes = 2, .max_batch = BUMP_CAP,
                       .forward = script_forward, .backward = script_backward};
    float x[N] = {0.5f, 0.45f, 0.55f, 0.6f};
    uint8_t y[N] = {0, 0, 0, 0}, c[N];
    uint32_t ids[N];
    make_ids(ids, N, 70);
    attack_params p = attack_params_default(0.4f, 8);
    p.steps = p.iters = 100;
    ref_stats st = {0, 0, 0, 0};
    compare_with_reference("scripted", attack_apgd_ce, &am, x, y, ids, N, &p, &st, c,
                           script_reset);
    fprintf(stderr, "  scripted: %zu halved by condition 1, %zu by condition 2 alone, %zu "
            "kept, %zu at exactly rho\n", st.cond1, st.cond2_only, st.kept, st.at_rho);
    /* per example: halved at 41, 70 (condition 2), 80 and the tail's checkpoints
     * (condition 1); kept at 22 and 57 */
    CHECK(st.cond2_only == 2 * N && st.at_rho == N && st.kept == 2 * N && st.cond1 >= N,
          "the script did not take every branch");
}

/* ---- the CNN -------------------------------------------------------------------- */

static cnn *make_cnn(size_t cap, size_t threads, uint64_t seed)
{
    cnn *m = NULL;
    ms_err err;
    if (cnn_create(&m, cap, threads, &err) != MS_OK) {
        fprintf(stderr, "cnn_create: %s\n", err.msg);
        exit(1);
    }
    cnn_init(m, seed);
    return m;
}

/* Smooth synthetic digits-like images: a few bright strokes on a dark background. */
static void synthetic_images(float *x, size_t n, uint64_t seed)
{
    rng_t r;
    rng_init(&r, seed, 13);
    for (size_t i = 0; i < n; i++) {
        float *xi = x + i * CNN_PIXELS;
        for (size_t j = 0; j < CNN_PIXELS; j++)
            xi[j] = 0.05f * rng_uniform(&r);
        for (int s = 0; s < 3; s++) {
            size_t r0 = 4 + rng_below(&r, 20), c0 = 4 + rng_below(&r, 20);
            int horiz = (int)rng_below(&r, 2);
            for (size_t t = 0; t < 10; t++) {
                size_t rr = horiz ? r0 : (r0 + t) % CNN_SIDE, cc = horiz ? (c0 + t) % CNN_SIDE : c0;
                xi[rr * CNN_SIDE + cc] = 1.0f;
            }
        }
    }
}

/* APGD-CE and APGD-T (one target) equal the reference iterate for iterate on the CNN
 * (synthetic images) and on a linear model. (Condition 2 alone rarely
 * decides on real losses; test_scripted_checkpoints forces it.) */
static void test_reference(void)
{
    enum { N = 4 };
    const size_t P = CNN_PIXELS;
    cnn *m = make_cnn(N, 2, 7);
    attack_model cam = cnn_attack_model(m);
    linear_model *lt = linear_create(16, 10, N, 1.0f, 0, 61);
    attack_model lam = linear_attack_model(lt);
    float *x = xmalloc(N * P * sizeof *x);
    uint8_t y[N], c[N];
    uint32_t ids[N];
    make_ids(ids, N, 400);
    ref_stats st = {0, 0, 0, 0};
    size_t fooled = 0, runs = 0;
    for (int mi = 0; mi < 2; mi++) {
        const attack_model *am = mi ? &lam : &cam;
        if (mi)
            uniform(x, N * am->dim, 0.0f, 1.0f, 62);
        else
            synthetic_images(x, N, 63);
        label_by_model(am, x, N, y);
        /* the CNN once (its passes cost), the linear model at two radii */
        const float eps_list[2] = {mi ? 0.01f : 0.02f, 0.03f};
        for (int e = 0; e < 1 + mi; e++)
            for (int f = 0; f < 2; f++) {
                attack_params p = attack_params_default(eps_list[e], 5 + (uint64_t)e);
                p.steps = p.iters = 100;
                p.targets = 1;
                char name[64];
                snprintf(name, sizeof name, "%s %s eps %.2f", f ? "apgd-t" : "apgd-ce",
                         mi ? "linear" : "cnn", (double)p.eps);
                compare_with_reference(name, f ? attack_apgd_t : attack_apgd_ce, am, x, y, ids,
                                       N, &p, &st, c, NULL);
                for (size_t i = 0; i < N; i++)
                    fooled += !c[i];
                runs += N;
            }
    }
    fprintf(stderr, "  reference: %zu examples (%zu fooled); checkpoints: %zu halved by "
            "condition 1, %zu by condition 2 alone, %zu kept; %zu at exactly rho\n",
            runs, fooled, st.cond1, st.cond2_only, st.kept, st.at_rho);
    CHECK(st.cond1 > 0 && st.kept > 0, "a branch of the step size rule was never taken");
    free(x);
    linear_free(lt);
    cnn_destroy(m);
}

/* eps = 0 returns the originals bit for bit, for both attacks and both models. */
static void test_eps_zero(void)
{
    enum { N = 4 };
    cnn *m = make_cnn(N, 1, 2);
    attack_model cam = cnn_attack_model(m);
    linear_model *lt = linear_create(16, 10, N, 1.0f, 0, 3);
    attack_model lam = linear_attack_model(lt);
    float *x = xmalloc(N * CNN_PIXELS * sizeof *x), *xa = xmalloc(N * CNN_PIXELS * sizeof *xa);
    float loss[N];
    uint8_t y[N], c[N];
    uint32_t ids[N];
    make_ids(ids, N, 0);
    const attack_model *models[2] = {&cam, &lam};
    attack_fn fns[2] = {attack_apgd_ce, attack_apgd_t};
    for (int mi = 0; mi < 2; mi++) {
        const attack_model *am = models[mi];
        if (mi == 0)
            synthetic_images(x, N, 1);
        else
            uniform(x, N * am->dim, 0.0f, 1.0f, 2);
        x[0] = 0.0f, x[1] = 1.0f; /* pixels on the bounds */
        label_by_model(am, x, N, y);
        for (int f = 0; f < 2; f++) {
            attack_params p = attack_params_default(0.0f, 5);
            p.steps = p.iters = 10;
            CHECK(run_attack(fns[f], am, x, y, ids, N, &p, xa, loss, c) == MS_OK, "run");
            CHECK(memcmp(x, xa, N * am->dim * sizeof *x) == 0, "%s on %s: eps 0 changed the input",
                  f ? "apgd-t" : "apgd-ce", mi ? "linear" : "cnn");
            for (size_t i = 0; i < N; i++)
                CHECK(c[i], "eps 0: example %zu reported fooled", i);
        }
    }
    free(x), free(xa);
    linear_free(lt);
    cnn_destroy(m);
}

/* On the CNN: invariants at two eps (one leaves examples unfooled, so restarts and
 * further targets run); the reported loss and verdict are those of x_adv; a batch of
 * 6 gives, per example, the bytes of batches of one; same seed same bytes, also with
 * one thread instead of two; another seed other bytes; NULL loss/correct are
 * allowed. */
static void test_cnn_batches_and_seeds(void)
{
    enum { N = 6 };
    const size_t P = CNN_PIXELS;
    cnn *m = make_cnn(N, 2, 7), *m1 = make_cnn(N, 1, 7);
    attack_model am = cnn_attack_model(m), am1 = cnn_attack_model(m1);
    float *x = xmalloc(N * P * sizeof *x), *xa = xmalloc(N * P * sizeof *xa);
    float *xb = xmalloc(N * P * sizeof *xb), *xc = xmalloc(N * P * sizeof *xc);
    float loss[N], lossb[N], lossc[N], lcheck[N];
    uint8_t y[N], c[N], cb[N], cc[N], ccheck[N];
    uint32_t ids[N];
    synthetic_images(x, N, 4);
    make_ids(ids, N, 1000);
    label_by_model(&am, x, N, y);
    attack_fn fns[2] = {attack_apgd_ce, attack_apgd_t};
    const char *names[2] = {"apgd-ce", "apgd-t"};
    const float eps_list[2] = {0.01f, 0.2f};
    for (int f = 0; f < 2; f++)
        for (int e = 0; e < 2; e++) {
            attack_params p = attack_params_default(eps_list[e], 99);
            p.steps = p.iters = 12;
            p.restarts = 2;
            p.targets = 3;
            CHECK(run_attack(fns[f], &am, x, y, ids, N, &p, xa, loss, c) == MS_OK, "%s",
                  names[f]);
            result_ok(names[f], x, xa, ids, N, P, p.eps);
            attack_loss_grad(&am, xa, y, NULL, N, ATTACK_LOSS_CE, 1, lcheck, ccheck, NULL, NULL);
            CHECK(memcmp(lcheck, loss, sizeof loss) == 0 && memcmp(ccheck, c, sizeof c) == 0,
                  "%s: reported loss/verdict are not those of x_adv", names[f]);
            size_t fooled = 0;
            for (size_t i = 0; i < N; i++)
                fooled += !c[i];
            fprintf(stderr, "  %s eps %.2f: %zu/%d fooled\n", names[f], (double)p.eps, fooled, N);
            /* each example alone */
            for (size_t i = 0; i < N; i++) {
                float l1;
                uint8_t c1;
                CHECK(run_attack(fns[f], &am, x + i * P, y + i, ids + i, 1, &p, xb + i * P, &l1,
                                 &c1) == MS_OK,
                      "single");
                lossb[i] = l1, cb[i] = c1;
            }
            CHECK(memcmp(xa, xb, N * P * sizeof *xa) == 0, "%s eps %.2f: batch of %d differs from "
                  "batches of 1", names[f], (double)p.eps, N);
            CHECK(memcmp(loss, lossb, sizeof loss) == 0 && memcmp(c, cb, sizeof c) == 0,
                  "%s: losses/verdicts depend on the batch", names[f]);
            /* same seed: same bytes (NULL loss and correct this time) */
            CHECK(run_attack(fns[f], &am, x, y, ids, N, &p, xc, NULL, NULL) == MS_OK, "rerun");
            CHECK(memcmp(xa, xc, N * P * sizeof *xa) == 0, "%s: same seed, other bytes",
                  names[f]);
            CHECK(run_attack(fns[f], &am1, x, y, ids, N, &p, xc, NULL, NULL) == MS_OK, "1 thread");
            CHECK(memcmp(xa, xc, N * P * sizeof *xa) == 0, "%s: 1 thread, other bytes",
                  names[f]);
            /* another seed: another start, other bytes */
            attack_params p2 = p;
            p2.seed = 100;
            CHECK(run_attack(fns[f], &am, x, y, ids, N, &p2, xc, lossc, cc) == MS_OK, "seed");
            result_ok(names[f], x, xc, ids, N, P, p.eps);
            CHECK(memcmp(xa, xc, N * P * sizeof *xa) != 0, "%s: the seed changed nothing",
                  names[f]);
        }
    free(x), free(xa), free(xb), free(xc);
    cnn_destroy(m);
    cnn_destroy(m1);
}

/* On the linear model with restarts and targets: batch independence there too (a
 * sub-batch of still-correct examples is gathered differently in each batch). */
static void test_linear_batches(void)
{
    enum { N = 12, D = 16, K = 10 };
    linear_model *lt = linear_create(D, K, N, 1.0f, 0, 77);
    attack_model am = linear_attack_model(lt);
    float x[N * D], xa[N * D], xb[N * D], loss[N];
    uint8_t y[N], c[N];
    uint32_t ids[N];
    uniform(x, N * D, 0.0f, 1.0f, 12);
    make_ids(ids, N, 5);
    label_by_model(&am, x, N, y);
    attack_fn fns[2] = {attack_apgd_ce, attack_apgd_t};
    for (int f = 0; f < 2; f++) {
        attack_params p = attack_params_default(0.05f, 3);
        p.steps = p.iters = 30;
        p.restarts = 3;
        p.targets = 4;
        CHECK(run_attack(fns[f], &am, x, y, ids, N, &p, xa, loss, c) == MS_OK, "run");
        result_ok(f ? "apgd-t" : "apgd-ce", x, xa, ids, N, D, p.eps);
        for (size_t i = 0; i < N; i++) {
            float l1;
            uint8_t c1;
            CHECK(run_attack(fns[f], &am, x + i * D, y + i, ids + i, 1, &p, xb + i * D, &l1,
                             &c1) == MS_OK,
                  "single");
            CHECK(l1 == loss[i] && c1 == c[i], "example %zu: loss/verdict depend on the batch", i);
        }
        CHECK(memcmp(xa, xb, sizeof xa) == 0, "%s: batch differs from batches of 1",
              f ? "apgd-t" : "apgd-ce");
    }
    linear_free(lt);
}

/* ---- speed on real MNIST --------------------------------------------------------- */

static void test_speed_mnist(void)
{
    const char *dir = getenv("MNIST_DIR");
    if (!getenv("APGD_BENCH")) {
        SKIP("APGD_BENCH not set (the timing takes about a minute)");
        return;
    }
    if (!dir || !dir[0]) {
        SKIP("MNIST_DIR not set");
        return;
    }
    enum { TOTAL = 1000, BATCH = 100 };
    dataset ds;
    ms_err err;
    ms_status s = dataset_load(&ds, dir, "t10k", TOTAL, &err);
    if (s == MS_ENOINPUT) {
        SKIP("no MNIST in %s (%s)", dir, err.msg);
        return;
    }
    CHECK(s == MS_OK, "%s", err.msg);
    if (s != MS_OK)
        return;
    cnn *m = make_cnn(BATCH, 2, 1);
    attack_model am = cnn_attack_model(m);
    attack_ws ws;
    CHECK(attack_ws_create(&ws, BATCH, CNN_PIXELS, CNN_CLASSES, &err) == MS_OK, "%s", err.msg);
    float *x = xmalloc(BATCH * CNN_PIXELS * sizeof *x);
    float *xa = xmalloc(BATCH * CNN_PIXELS * sizeof *xa);
    float loss[BATCH];
    uint8_t y[BATCH], c[BATCH], c0[BATCH];
    uint32_t idx[BATCH];
    attack_params p = attack_params_default(0.3f, 1);
    p.steps = p.iters = 100;
    size_t clean = 0, robust = 0;
    double seconds = 0.0, cpu = 0.0, bare = 0.0;
    for (size_t at = 0; at < TOTAL; at += BATCH) {
        for (size_t i = 0; i < BATCH; i++)
            idx[i] = (uint32_t)(at + i);
        dataset_batch(&ds, idx, BATCH, x, y);
        attack_loss_grad(&am, x, y, NULL, BATCH, ATTACK_LOSS_CE, 1, NULL, c0, NULL, NULL);
        attack_batch b = {.x = x, .y = y, .ids = idx, .n = BATCH};
        attack_out out = {.x_adv = xa, .loss = loss, .correct = c};
        double t0 = clock_seconds();
        clock_t cpu0 = clock();
        s = attack_apgd_ce(&am, &b, &p, &ws, &out, &err);
        seconds += clock_seconds() - t0;
        cpu += (double)(clock() - cpu0) / CLOCKS_PER_SEC;
        /* the same number of gradient passes alone, to show APGD's own cost */
        t0 = clock_seconds();
        for (size_t k = 0; k <= p.steps; k++)
            attack_loss_grad(&am, xa, y, NULL, BATCH, ATTACK_LOSS_CE, 1, NULL, NULL, ws.plane[0],
                             ws.dz);
        bare += clock_seconds() - t0;
        CHECK(s == MS_OK, "%s", err.msg);
        result_ok("apgd-ce", x, xa, idx, BATCH, CNN_PIXELS, p.eps);
        for (size_t i = 0; i < BATCH; i++)
            clean += c0[i], robust += c[i];
    }
    fprintf(stderr,
            "  APGD-CE, %zu iterations, eps %.2f, %d MNIST test images, batch %d, 2 threads, "
            "fresh CNN: %.2f s wall (%.2f ms/image), %.2f s CPU; %zu gradient passes alone: "
            "%.2f s; clean accuracy %zu/%d, robust %zu/%d\n",
            p.steps, (double)p.eps, TOTAL, BATCH, seconds, 1e3 * seconds / TOTAL, cpu,
            p.steps + 1, bare, clean, TOTAL, robust, TOTAL);
    free(x), free(xa);
    attack_ws_free(&ws);
    cnn_destroy(m);
    dataset_free(&ds);
}

int main(void)
{
    RUN(test_loss_gradients);
    RUN(test_linear_binary_optimum);
    RUN(test_linear_multiclass);
    RUN(test_targeted_margin);
    RUN(test_target_ranking);
    RUN(test_bump);
    RUN(test_reference);
    RUN(test_scripted_checkpoints);
    RUN(test_eps_zero);
    RUN(test_linear_batches);
    RUN(test_cnn_batches_and_seeds);
    RUN(test_speed_mnist);
    TEST_END();
}
