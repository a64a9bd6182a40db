/* test_attack.c - the attack interface (attack.h) and the paths built on it: the
 * projected step, FGSM and PGD invariants, per-example losses, per-image streams,
 * restarts, the evaluation and training adapters, train_run with a hook and a subset,
 * evaluate with a transform and a final partial batch, and the backdoor metrics. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attack.h"
#include "eval.h"
#include "fixtures.h"
#include "layers.h"
#include "optim.h"
#include "poison.h"
#include "test.h"
#include "train.h"

static float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        exit(1);
    return p;
}

/* A few Adam steps on bar images so attacks have something to break. */
static void train_bars(cnn *m, size_t steps)
{
    const size_t B = m->max_batch < 20 ? m->max_batch : 20;
    float *x = falloc(B * CNN_PIXELS);
    uint8_t y[20];
    adam opt;
    ms_err err;
    if (adam_create(&opt, m->nparams, 2e-3, &err) != MS_OK)
        exit(1);
    for (size_t s = 0; s < steps; s++) {
        bar_images(x, y, B, 100 + s);
        const float *z = cnn_forward(m, x, B);
        softmax_xent(m->dz, z, y, B, CNN_CLASSES, B);
        cnn_backward(m, m->dz, NULL, 1);
        adam_step(&opt, m->params, m->grads, kctx_pool(m->k));
    }
    adam_free(&opt);
    free(x);
}

/* ||a - x||_inf and whether every pixel of a is in [0,1]. */
static double linf_dist(const float *a, const float *x, size_t len, int *in_range)
{
    double worst = 0.0;
    *in_range = 1;
    for (size_t i = 0; i < len; i++) {
        double d = fabs((double)a[i] - (double)x[i]);
        worst = d > worst ? d : worst;
        *in_range &= a[i] >= 0.0f && a[i] <= 1.0f;
    }
    return worst;
}

static void test_linf_step_projects(void)
{
    enum { L = 4000 };
    float *x0 = falloc(L), *xa = falloc(L), *g = falloc(L);
    rng_t r;
    rng_init(&r, 7, 1);
    for (size_t i = 0; i < L; i++) {
        x0[i] = (i % 5 == 0) ? (float)(i % 2) : rng_uniform(&r); /* some at the bounds */
        xa[i] = x0[i];
        g[i] = rng_range(&r, -1.0f, 1.0f);
        if (i % 11 == 0)
            g[i] = 0.0f;
    }
    const float eps = 0.1f;
    for (int t = 0; t < 25; t++) {
        for (size_t i = 0; i < L; i++)
            g[i] = -g[i] * (i % 3 ? 1.0f : -1.0f);
        linf_step(xa, x0, g, L, 0.037f, eps);
        int ok;
        double d = linf_dist(xa, x0, L, &ok);
        CHECK(d <= eps + 1e-7, "step %d: ||delta||_inf = %.9g > eps", t, d);
        CHECK(ok, "step %d: pixel outside [0,1]", t);
    }
    /* zero gradient: no move */
    float before = xa[11];
    linf_step(xa, x0, g, L, 0.037f, eps);
    CHECK(xa[11] == before, "a zero gradient moved a pixel");
    /* projection of a far point lands on the box */
    for (size_t i = 0; i < L; i++)
        xa[i] = 3.0f * rng_range(&r, -1.0f, 1.0f);
    linf_project(xa, x0, L, eps);
    int ok;
    double d = linf_dist(xa, x0, L, &ok);
    CHECK(d <= eps + 1e-7 && ok, "projection left ||delta|| %.9g (in range %d)", d, ok);
    free(x0), free(xa), free(g);
}

/* Per-example CE losses average to softmax_xent's mean, and the CE gradient at scale n
 * is exactly the one of the published path (softmax_xent + cnn_backward). */
static void test_loss_grad_matches_softmax_xent(void)
{
    enum { N = 7 };
    cnn *m = make_model(N, 2, 0, 3);
    float *x = falloc(N * CNN_PIXELS), *dx = falloc(N * CNN_PIXELS), *ref = falloc(N * CNN_PIXELS);
    float dz[N * CNN_CLASSES], loss[N];
    uint8_t y[N], correct[N];
    bar_images(x, y, N, 9);
    attack_model am = cnn_attack_model(m);
    attack_loss_grad(&am, x, y, NULL, N, ATTACK_LOSS_CE, N, loss, correct, dx, dz);
    const float *z = cnn_forward(m, x, N);
    double mean = softmax_xent(m->dz, z, y, N, CNN_CLASSES, N);
    uint8_t pred[N];
    cnn_argmax(z, N, pred);
    double sum = 0.0;
    for (size_t i = 0; i < N; i++) {
        sum += loss[i];
        CHECK(correct[i] == (pred[i] == y[i]), "example %zu: correct flag %d, prediction %d/%d",
              i, correct[i], pred[i], y[i]);
        CHECK(loss[i] > 0.0f, "example %zu: loss %g", i, (double)loss[i]);
    }
    CHECK(close_enough(sum / N, mean, 1e-6, 1e-6), "mean of losses %.9g vs %.9g", sum / N, mean);
    cnn_backward(m, m->dz, ref, 0);
    CHECK(memcmp(ref, dx, N * CNN_PIXELS * sizeof(float)) == 0, "CE input gradient differs");
    free(x), free(dx), free(ref);
    cnn_destroy(m);
}

static void test_fgsm_invariants(void)
{
    enum { N = 6 };
    cnn *m = make_model(N, 2, 0, 3);
    attack_ws ws;
    ms_err err;
    CHECK(attack_ws_create(&ws, N, CNN_PIXELS, CNN_CLASSES, &err) == MS_OK, "%s", err.msg);
    float *x = falloc(N * CNN_PIXELS), *adv = falloc(N * CNN_PIXELS);
    uint8_t y[N];
    uint32_t ids[N] = {0, 1, 2, 3, 4, 5};
    bar_images(x, y, N, 4);
    for (size_t i = 0; i < N * CNN_PIXELS; i += 7)
        x[i] = (i % 2) ? 0.0f : 1.0f; /* pixels at the bounds, where clamping matters */
    attack_model am = cnn_attack_model(m);
    const float *z = cnn_forward(m, x, N);
    const double clean_loss = softmax_xent(NULL, z, y, N, CNN_CLASSES, N);
    const float eps_list[4] = {0.0f, 0.05f, 0.1f, 0.3f};
    double loss_prev = 0.0;
    for (int e = 0; e < 4; e++) {
        float eps = eps_list[e];
        attack_params p = attack_params_default(eps, 1);
        attack_batch b = {x, y, ids, N};
        float loss[N];
        uint8_t correct[N];
        attack_out out = {adv, loss, correct};
        CHECK(attack_fgsm(&am, &b, &p, &ws, &out, &err) == MS_OK, "%s", err.msg);
        int in_range, exact_zero = 1;
        double worst = linf_dist(adv, x, N * CNN_PIXELS, &in_range);
        for (size_t i = 0; i < N * CNN_PIXELS; i++)
            exact_zero &= adv[i] == x[i];
        CHECK(worst <= eps + 1e-7, "eps %.2f: ||delta||_inf = %.9g", eps, worst);
        CHECK(in_range, "eps %.2f: pixel outside [0,1]", eps);
        z = cnn_forward(m, adv, N);
        double loss_now = softmax_xent(NULL, z, y, N, CNN_CLASSES, N);
        double mean = 0.0;
        for (size_t i = 0; i < N; i++)
            mean += loss[i] / N;
        CHECK(close_enough(mean, loss_now, 1e-6, 1e-5), "reported loss %.9g vs %.9g", mean,
              loss_now);
        if (eps == 0.0f) {
            CHECK(exact_zero, "eps 0 changed the images");
            CHECK(loss_now == clean_loss, "eps 0: loss %.9g differs from clean %.9g", loss_now,
                  clean_loss);
        } else {
            CHECK(worst > eps - 1e-6, "eps %.2f: perturbation %.9g never reaches eps", eps, worst);
            CHECK(loss_now > loss_prev, "eps %.2f: loss %.6f did not grow (was %.6f)", eps,
                  loss_now, loss_prev);
        }
        loss_prev = loss_now;
    }
    attack_ws_free(&ws);
    free(x), free(adv);
    cnn_destroy(m);
}

/* attack_check catches each kind of violation it promises to. */
static void test_attack_check_catches(void)
{
    enum { D = 10 };
    float x[D], a[D];
    uint32_t id = 42;
    for (size_t i = 0; i < D; i++)
        x[i] = a[i] = 0.5f;
    ms_err err;
    attack_stats st = {0};
    CHECK(attack_check("t", x, a, &id, 1, D, 0.1f, &st, &err) == MS_OK, "clean rejected");
    a[3] = 0.65f;
    CHECK(attack_check("t", x, a, &id, 1, D, 0.1f, &st, &err) == MS_EINTERNAL,
          "a step beyond eps passed");
    CHECK(strstr(err.msg, "image 42") != NULL, "message names no image: %s", err.msg);
    a[3] = 0.5f, a[4] = -0.01f;
    CHECK(attack_check("t", x, a, &id, 1, D, 0.1f, &st, &err) == MS_EINTERNAL,
          "a pixel below 0 passed");
    a[4] = NAN;
    CHECK(attack_check("t", x, a, &id, 1, D, 0.1f, &st, &err) == MS_EINTERNAL, "NaN passed");
}

/* Runs an attack on images [lo, lo+n) of x; writes x_adv into adv. */
static ms_status run_on(const attack_def *a, cnn *m, const float *x, const uint8_t *y,
                        const uint32_t *ids, size_t n, const attack_params *p, float *adv,
                        float *loss, uint8_t *correct)
{
    attack_ws ws;
    ms_err err;
    attack_model am = cnn_attack_model(m);
    if (attack_ws_create(&ws, n, CNN_PIXELS, CNN_CLASSES, &err) != MS_OK)
        return MS_EINTERNAL;
    attack_batch b = {x, y, ids, n};
    attack_out out = {adv, loss, correct};
    attack_stats st = {0};
    ms_status s = attack_run(a, &am, &b, p, &ws, &out, &st, &err);
    if (s != MS_OK)
        fprintf(stderr, "  %s\n", err.msg);
    attack_ws_free(&ws);
    return s;
}

static void test_pgd_stronger_than_fgsm(void)
{
    enum { N = 40 };
    cnn *m = make_model(N, 2, 0, 5);
    train_bars(m, 60);
    float *x = falloc(N * CNN_PIXELS), *adv = falloc(N * CNN_PIXELS);
    float loss_f[N], loss_p[N];
    uint8_t y[N], cf[N], cp[N];
    uint32_t ids[N];
    bar_images(x, y, N, 77);
    for (size_t i = 0; i < N; i++)
        ids[i] = (uint32_t)i;
    const float eps = 0.3f;
    attack_params p = attack_params_default(eps, 11);
    p.steps = 20;
    p.step = eps / 4;
    CHECK(run_on(attack_find("fgsm"), m, x, y, ids, N, &p, adv, loss_f, cf) == MS_OK, "fgsm");
    CHECK(run_on(attack_find("pgd"), m, x, y, ids, N, &p, adv, loss_p, cp) == MS_OK, "pgd");
    size_t acc_f = 0, acc_p = 0, fooled_only_by_fgsm = 0;
    for (size_t i = 0; i < N; i++) {
        acc_f += cf[i], acc_p += cp[i];
        fooled_only_by_fgsm += !cf[i] && cp[i];
    }
    fprintf(stderr, "  eps %.2f: FGSM keeps %zu/%d, PGD-20 keeps %zu/%d\n", (double)eps, acc_f,
            N, acc_p, N);
    CHECK(acc_p <= acc_f, "PGD accuracy %zu above FGSM %zu", acc_p, acc_f);
    CHECK(acc_f > 0 && acc_p < acc_f, "no separation between FGSM (%zu) and PGD (%zu)", acc_f,
          acc_p);
    CHECK(fooled_only_by_fgsm == 0, "%zu images fooled by FGSM survive PGD", fooled_only_by_fgsm);
    /* eps = 0: unchanged */
    attack_params z = p;
    z.eps = 0.0f;
    CHECK(run_on(attack_find("pgd"), m, x, y, ids, N, &z, adv, loss_p, cp) == MS_OK, "pgd eps 0");
    CHECK(memcmp(adv, x, N * CNN_PIXELS * sizeof(float)) == 0, "PGD at eps 0 moved an image");
    free(x), free(adv);
    cnn_destroy(m);
}

/* An image attacked alone gives the same bytes as inside a batch (per-image streams,
 * per-example gradients), and the same seed gives the same bytes. */
static void test_pgd_batch_independent(void)
{
    enum { N = 9 };
    cnn *m = make_model(N, 2, 0, 6);
    train_bars(m, 20);
    float *x = falloc(N * CNN_PIXELS), *adv = falloc(N * CNN_PIXELS), *one = falloc(CNN_PIXELS);
    float loss[N];
    uint8_t y[N], c[N];
    uint32_t ids[N];
    bar_images(x, y, N, 3);
    for (size_t i = 0; i < N; i++)
        ids[i] = (uint32_t)(1000 + 7 * i);
    attack_params p = attack_params_default(0.2f, 5);
    p.steps = 5;
    p.restarts = 2;
    const attack_def *pgd = attack_find("pgd");
    CHECK(run_on(pgd, m, x, y, ids, N, &p, adv, loss, c) == MS_OK, "batch");
    for (size_t i = 0; i < N; i += 4) {
        float l1;
        uint8_t c1;
        CHECK(run_on(pgd, m, x + i * CNN_PIXELS, y + i, ids + i, 1, &p, one, &l1, &c1) == MS_OK,
              "alone");
        CHECK(memcmp(one, adv + i * CNN_PIXELS, CNN_PIXELS * sizeof(float)) == 0,
              "image %zu differs alone and in a batch", i);
    }
    float *again = falloc(N * CNN_PIXELS);
    CHECK(run_on(pgd, m, x, y, ids, N, &p, again, loss, c) == MS_OK, "again");
    CHECK(memcmp(again, adv, N * CNN_PIXELS * sizeof(float)) == 0, "same seed, other bytes");
    p.seed = 6;
    CHECK(run_on(pgd, m, x, y, ids, N, &p, again, loss, c) == MS_OK, "other seed");
    CHECK(memcmp(again, adv, N * CNN_PIXELS * sizeof(float)) != 0, "seed has no effect");
    free(x), free(adv), free(one), free(again);
    cnn_destroy(m);
}

/* More restarts never make an example robust again, and each example's loss does not
 * fall. */
static void test_restarts_worst_case(void)
{
    enum { N = 30 };
    cnn *m = make_model(N, 2, 0, 8);
    train_bars(m, 60);
    float *x = falloc(N * CNN_PIXELS), *adv = falloc(N * CNN_PIXELS);
    float l1[N], l3[N];
    uint8_t y[N], c1[N], c3[N];
    uint32_t ids[N];
    bar_images(x, y, N, 21);
    for (size_t i = 0; i < N; i++)
        ids[i] = (uint32_t)i;
    attack_params p = attack_params_default(0.3f, 2);
    p.steps = 1;
    p.step = 0.1f;
    const attack_def *pgd = attack_find("pgd");
    CHECK(run_on(pgd, m, x, y, ids, N, &p, adv, l1, c1) == MS_OK, "1 restart");
    p.restarts = 3;
    CHECK(run_on(pgd, m, x, y, ids, N, &p, adv, l3, c3) == MS_OK, "3 restarts");
    size_t a1 = 0, a3 = 0;
    for (size_t i = 0; i < N; i++) {
        a1 += c1[i], a3 += c3[i];
        CHECK(!(c3[i] && !c1[i]), "example %zu robust again after restarts", i);
        if (c1[i] && c3[i])
            CHECK(l3[i] >= l1[i], "example %zu: loss %g fell to %g", i, (double)l1[i],
                  (double)l3[i]);
    }
    fprintf(stderr, "  robust: %zu with 1 restart, %zu with 3\n", a1, a3);
    CHECK(a3 < a1, "restarts found nothing more (%zu and %zu robust)", a1, a3);
    free(x), free(adv);
    cnn_destroy(m);
}

/* ---- evaluate and train_run ----------------------------------------------------- */

typedef struct {
    size_t calls, seen;
    uint32_t count[64];
    size_t last_n;
} seen_ctx;

static ms_status count_transform(void *ctx, cnn *m, float *x, const uint8_t *y,
                                 const uint32_t *idx, size_t n, ms_err *err)
{
    (void)m, (void)x, (void)y, (void)err;
    seen_ctx *s = ctx;
    s->calls++;
    s->seen += n;
    s->last_n = n;
    for (size_t i = 0; i < n; i++)
        s->count[idx[i]]++;
    return MS_OK;
}

static void test_evaluate_partial_batch(void)
{
    enum { N = 23, B = 10 };
    dataset ds = bar_dataset(N, 1);
    cnn *m = make_model(B, 1, 0, 2);
    seen_ctx sc = {0};
    eval_result r, plain;
    ms_err err;
    CHECK(evaluate(m, &ds, NULL, N, B, count_transform, &sc, &r, &err) == MS_OK, "%s", err.msg);
    CHECK(sc.calls == 3 && sc.seen == N && sc.last_n == 3, "calls %zu seen %zu last %zu",
          sc.calls, sc.seen, sc.last_n);
    for (size_t i = 0; i < N; i++)
        CHECK(sc.count[i] == 1, "image %zu transformed %u times", i, sc.count[i]);
    uint64_t total = 0;
    for (int t = 0; t < CNN_CLASSES; t++)
        for (int p = 0; p < CNN_CLASSES; p++)
            total += r.confusion[t][p];
    CHECK(total == N && r.count == N, "confusion total %llu", (unsigned long long)total);
    /* rows are true labels, columns predictions: the matrix of the (label, prediction)
     * pairs of single-image forwards */
    uint64_t want[CNN_CLASSES][CNN_CLASSES] = {{0}};
    for (size_t i = 0; i < N; i++) {
        float x[CNN_PIXELS];
        uint8_t y, pred;
        uint32_t id = (uint32_t)i;
        dataset_batch(&ds, &id, 1, x, &y);
        cnn_argmax(cnn_forward(m, x, 1), 1, &pred);
        want[y][pred]++;
    }
    int same = 1, symmetric = 1;
    for (int t = 0; t < CNN_CLASSES; t++)
        for (int p = 0; p < CNN_CLASSES; p++) {
            same &= r.confusion[t][p] == want[t][p];
            symmetric &= want[t][p] == want[p][t];
        }
    CHECK(same, "confusion matrix is not confusion[label][prediction]");
    CHECK(!symmetric, "fixture: a symmetric confusion matrix cannot show a transposition");
    /* the same images one at a time: the same counts and loss */
    CHECK(evaluate(m, &ds, NULL, N, 1, NULL, NULL, &plain, &err) == MS_OK, "%s", err.msg);
    CHECK(plain.correct == r.correct && close_enough(plain.loss_sum, r.loss_sum, 1e-9, 1e-9),
          "batch 1: %zu correct, loss %.9g; batch %d: %zu, %.9g", plain.correct, plain.loss_sum,
          B, r.correct, r.loss_sum);
    cnn_destroy(m);
    dataset_free(&ds);
}

typedef struct {
    size_t calls, last_epoch, steps;
    uint32_t count[64];
    int order_ok;
} hook_ctx;

static ms_status record_hook(void *ctx, cnn *m, const train_batch *b, float *x, uint8_t *y,
                             size_t *n, size_t cap, ms_err *err)
{
    (void)m, (void)x, (void)y, (void)cap, (void)err;
    hook_ctx *h = ctx;
    if (h->calls > 0 && b->global_step != h->calls)
        h->order_ok = 0;
    if (b->step >= b->steps || b->epoch >= b->epochs)
        h->order_ok = 0;
    h->calls++;
    h->last_epoch = b->epoch;
    h->steps = b->steps;
    for (size_t i = 0; i < *n; i++)
        h->count[b->ids[i]]++;
    return MS_OK;
}

static void test_train_hook_and_subset(void)
{
    enum { N = 30, B = 8 };
    dataset ds = bar_dataset(N, 3);
    cnn *m = make_model(B, 1, 0, 4);
    adam opt;
    ms_err err;
    CHECK(adam_create(&opt, m->nparams, 1e-3, &err) == MS_OK, "%s", err.msg);
    hook_ctx h = {.order_ok = 1};
    train_opts o = {.epochs = 2, .batch_size = B, .seed = 1, .shuffle_stream = 2,
                    .hook = record_hook, .hook_ctx = &h, .quiet = 1, .phase = "t"};
    train_stats st;
    CHECK(train_run(m, &opt, &ds, &o, &st, &err) == MS_OK, "%s", err.msg);
    CHECK(h.calls == 8 && h.steps == 4 && h.last_epoch == 1 && h.order_ok,
          "hook calls %zu steps %zu last epoch %zu order %d", h.calls, h.steps, h.last_epoch,
          h.order_ok);
    for (size_t i = 0; i < N; i++)
        CHECK(h.count[i] == 2, "image %zu seen %u times in 2 epochs", i, h.count[i]);
    /* a subset: only its images, each once per epoch */
    const uint32_t subset[5] = {3, 7, 11, 12, 29};
    hook_ctx hs = {.order_ok = 1};
    o.hook_ctx = &hs;
    o.subset = subset;
    o.subset_n = 5;
    o.epochs = 3;
    CHECK(train_run(m, &opt, &ds, &o, &st, &err) == MS_OK, "%s", err.msg);
    for (size_t i = 0; i < N; i++) {
        int in = 0;
        for (size_t k = 0; k < 5; k++)
            in |= subset[k] == i;
        CHECK(hs.count[i] == (in ? 3u : 0u), "image %zu seen %u times (in subset: %d)", i,
              hs.count[i], in);
    }
    const uint32_t bad[1] = {N};
    o.subset = bad;
    o.subset_n = 1;
    CHECK(train_run(m, &opt, &ds, &o, &st, &err) == MS_EINTERNAL, "index outside accepted");
    adam_free(&opt);
    cnn_destroy(m);
    dataset_free(&ds);
}

/* The training adapter appends a checked adversarial copy with the labels. */
static void test_attack_train_hook(void)
{
    enum { B = 6 };
    cnn *m = make_model(2 * B, 1, 0, 4);
    attack_train at;
    ms_err err;
    attack_params p = attack_params_default(0.2f, 3);
    CHECK(attack_train_init(&at, attack_find("fgsm"), &p, m, B, &err) == MS_OK, "%s", err.msg);
    float *x = falloc(2 * B * CNN_PIXELS), *ref = falloc(B * CNN_PIXELS);
    uint8_t y[2 * B];
    uint32_t ids[B] = {0, 1, 2, 3, 4, 5};
    bar_images(x, y, B, 8);
    size_t n = B;
    train_batch tb = {.epoch = 0, .epochs = 1, .step = 0, .steps = 1, .ids = ids};
    CHECK(attack_train_hook(&at, m, &tb, x, y, &n, 2 * B, &err) == MS_OK, "%s", err.msg);
    CHECK(n == 2 * B, "n = %zu", n);
    CHECK(memcmp(y, y + B, B) == 0, "labels not copied");
    attack_ws ws;
    CHECK(attack_ws_create(&ws, B, CNN_PIXELS, CNN_CLASSES, &err) == MS_OK, "%s", err.msg);
    attack_model am = cnn_attack_model(m);
    attack_batch b = {x, y, ids, B};
    attack_out out = {ref, NULL, NULL};
    CHECK(attack_fgsm(&am, &b, &p, &ws, &out, &err) == MS_OK, "%s", err.msg);
    CHECK(memcmp(ref, x + B * CNN_PIXELS, B * CNN_PIXELS * sizeof(float)) == 0,
          "appended copy is not FGSM of the batch");
    n = B + 1;
    CHECK(attack_train_hook(&at, m, &tb, x, y, &n, 2 * B, &err) == MS_EINTERNAL,
          "over capacity accepted");
    attack_ws_free(&ws);
    attack_train_free(&at);
    free(x), free(ref);
    cnn_destroy(m);
}

/* ---- backdoor metrics ----------------------------------------------------------- */

static void test_backdoor_measure(void)
{
    uint64_t clean[CNN_CLASSES][CNN_CLASSES] = {{0}}, trig[CNN_CLASSES][CNN_CLASSES] = {{0}};
    /* source 7, target 1; 10 images per class */
    for (int t = 0; t < CNN_CLASSES; t++)
        clean[t][t] = 10;
    clean[7][7] = 8, clean[7][1] = 2;         /* clean sevens: 8 right, 2 to the target */
    for (int t = 0; t < CNN_CLASSES; t++)
        trig[t][t] = 10;
    trig[7][7] = 1, trig[7][1] = 9;           /* 9 of 10 triggered sevens to the target */
    trig[3][3] = 6, trig[3][1] = 4;           /* 4 triggered threes to the target */
    trig[1][1] = 7, trig[1][2] = 3;           /* target class images: 7 right */
    backdoor_metrics bm = backdoor_measure((const uint64_t(*)[CNN_CLASSES])clean,
                                           (const uint64_t(*)[CNN_CLASSES])trig, 7, 1);
    CHECK(bm.triggered_source_images == 10, "%llu", (unsigned long long)bm.triggered_source_images);
    CHECK(bm.attack_success_rate == 0.9, "ASR %g", bm.attack_success_rate);
    CHECK(bm.source_clean_accuracy == 0.8, "source clean %g", bm.source_clean_accuracy);
    CHECK(bm.source_clean_to_target_rate == 0.2, "to target %g", bm.source_clean_to_target_rate);
    /* non-source: 9 classes x 10 = 90 images, correct: 80 + 6 + 7 = 83 */
    CHECK(close_enough(bm.triggered_nonsource_accuracy, 83.0 / 90.0, 1e-12, 0),
          "nonsource accuracy %g", bm.triggered_nonsource_accuracy);
    /* neither source nor target: 80 images, 4 sent to the target */
    CHECK(close_enough(bm.triggered_other_to_target_rate, 4.0 / 80.0, 1e-12, 0),
          "other to target %g", bm.triggered_other_to_target_rate);
}

/* ---- the FC1 readout ----------------------------------------------------------- */

static void test_fc1_readout_matches_reference(void)
{
    enum { N = 3 };
    cnn *fast = make_model(N, 2, 0, 12), *ref = make_model(N, 1, 1, 12);
    float *x = falloc(N * CNN_PIXELS);
    uint8_t y[N];
    bar_images(x, y, N, 5);
    (void)cnn_forward(fast, x, N);
    (void)cnn_forward(ref, x, N);
    size_t per_f, per_r;
    const float *hf = cnn_activation(fast, CNN_LAYER_FC1, &per_f);
    const float *hr = cnn_activation(ref, CNN_LAYER_FC1, &per_r);
    CHECK(per_f == CNN_HIDDEN && per_r == CNN_HIDDEN, "sizes %zu %zu", per_f, per_r);
    double worst = 0.0;
    size_t zeros = 0;
    for (size_t i = 0; i < N * CNN_HIDDEN; i++) {
        double d = fabs((double)hf[i] - (double)hr[i]);
        worst = d > worst ? d : worst;
        CHECK(hf[i] >= 0.0f, "FC1 readout is before the ReLU (%g)", (double)hf[i]);
        zeros += hf[i] == 0.0f;
    }
    CHECK(worst <= 1e-4, "FC1 fast vs reference: worst |diff| %.3g", worst);
    CHECK(zeros < N * CNN_HIDDEN, "FC1 readout all zero");
    free(x);
    cnn_destroy(fast), cnn_destroy(ref);
}

int main(void)
{
    RUN(test_linf_step_projects);
    RUN(test_loss_grad_matches_softmax_xent);
    RUN(test_fgsm_invariants);
    RUN(test_attack_check_catches);
    RUN(test_pgd_stronger_than_fgsm);
    RUN(test_pgd_batch_independent);
    RUN(test_restarts_worst_case);
    RUN(test_evaluate_partial_batch);
    RUN(test_train_hook_and_subset);
    RUN(test_attack_train_hook);
    RUN(test_backdoor_measure);
    RUN(test_fc1_readout_matches_reference);
    TEST_END();
}
