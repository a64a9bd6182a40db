/* test_square.c - the gradient-free attacks (attack_blackbox.h): the Square Attack on
 * hand-built linear models and on the CNN (invariants, eps = 0, no backward ever, the
 * query budget, the square-size schedule and the stripe start, a budget that grows
 * never weakens the result, batch/thread independence, determinism, a model that
 * masks its gradients), the CNN's incremental forward (logits equal to a forward
 * pass's to rounding, for squares of every size and place, and the attack with and
 * without it agreeing), and the transfer attack (equal to PGD with the model as its
 * own surrogate, scored on the model under test, refused without a surrogate).
 *
 * Legend: n examples, D pixels per example, K classes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attack.h"
#include "cnn.h"
#include "cnn_patch.h"
#include "rng.h"
#include "test.h"

#define T_MAXB 16
#define T_K 10

/* ---- a linear classifier written out here: z = W q(x) + b ------------------------ */

typedef struct {
    size_t dim;
    const float *w;    /* (K, D) */
    const float *bias; /* (K) */
    float levels;      /* > 0: q(x) = round(x * levels) / levels, else q(x) = x */
    int mask;          /* 1: backward returns zeros (a masked gradient) */
    int constant;      /* 1: logits (1, 0, ..., 0) whatever the input */
    float z[T_MAXB * T_K];
    size_t n;          /* batch of the last forward */
    size_t forwards, images, backwards;
    /* optional record of every forwarded image of a batch of one: (cap_rec, D) */
    float *rec;
    size_t cap_rec;
} lin_model;

static const float *lin_forward(void *self, const float *x, size_t n)
{
    lin_model *lm = self;
    const size_t d = lm->dim;
    if (lm->rec && n == 1 && lm->forwards < lm->cap_rec)
        memcpy(lm->rec + lm->forwards * d, x, d * sizeof *x);
    lm->forwards++;
    lm->images += n;
    lm->n = n;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < T_K; k++) {
            if (lm->constant) {
                lm->z[i * T_K + k] = k == 0 ? 1.0f : 0.0f;
                continue;
            }
            double acc = lm->bias[k];
            for (size_t j = 0; j < d; j++) {
                float v = x[i * d + j];
                if (lm->levels > 0.0f)
                    v = roundf(v * lm->levels) / lm->levels;
                acc += (double)lm->w[k * d + j] * (double)v;
            }
            lm->z[i * T_K + k] = (float)acc;
        }
    return lm->z;
}

/* dx = dlogits W (the true gradient), or zeros when the model masks it. */
static void lin_backward(void *self, const float *dlogits, float *dx)
{
    lin_model *lm = self;
    lm->backwards++;
    const size_t d = lm->dim;
    for (size_t i = 0; i < lm->n; i++)
        for (size_t j = 0; j < d; j++) {
            double g = 0.0;
            for (size_t k = 0; k < T_K && !lm->mask; k++)
                g += (double)dlogits[i * T_K + k] * (double)lm->w[k * d + j];
            dx[i * d + j] = (float)g;
        }
}

static attack_model lin_target(lin_model *lm)
{
    attack_model am = {.self = lm,
                       .dim = lm->dim,
                       .classes = T_K,
                       .max_batch = T_MAXB,
                       .forward = lin_forward,
                       .backward = lin_backward};
    return am;
}

/* A linear problem: weights U(-1, 1), zero biases, n images with pixels U(lo, hi),
 * labels the clean prediction (so every example starts classified correctly). */
typedef struct {
    lin_model lm;
    attack_model am;
    float *w, *bias, *x; /* (K, D), (K), (n, D) */
    uint8_t y[T_MAXB];
    uint32_t ids[T_MAXB];
    size_t n;
} lin_problem;

static void lin_problem_init(lin_problem *lp, size_t dim, size_t n, float lo, float hi,
                             float levels, uint64_t seed)
{
    memset(lp, 0, sizeof *lp);
    lp->w = malloc(T_K * dim * sizeof(float));
    lp->bias = calloc(T_K, sizeof(float));
    lp->x = malloc(n * dim * sizeof(float));
    rng_t r;
    rng_init(&r, seed, 77);
    for (size_t i = 0; i < T_K * dim; i++)
        lp->w[i] = rng_range(&r, -1.0f, 1.0f);
    for (size_t i = 0; i < n * dim; i++)
        lp->x[i] = rng_range(&r, lo, hi);
    lp->lm.dim = dim;
    lp->lm.w = lp->w;
    lp->lm.bias = lp->bias;
    lp->lm.levels = levels;
    lp->am = lin_target(&lp->lm);
    lp->n = n;
    const float *z = lin_forward(&lp->lm, lp->x, n);
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t k = 1; k < T_K; k++)
            if (z[i * T_K + k] > z[i * T_K + best])
                best = k;
        lp->y[i] = (uint8_t)best;
        lp->ids[i] = (uint32_t)(100 + 7 * i);
    }
    lp->lm.forwards = lp->lm.images = lp->lm.backwards = 0;
}

static void lin_problem_free(lin_problem *lp)
{
    free(lp->w), free(lp->bias), free(lp->x);
}

/* ---- helpers ---------------------------------------------------------------------- */

static attack_ws make_ws(size_t cap, size_t dim)
{
    attack_ws ws;
    ms_err err;
    if (attack_ws_create(&ws, cap, dim, T_K, &err) != MS_OK) {
        fprintf(stderr, "attack_ws_create: %s\n", err.msg);
        exit(1);
    }
    return ws;
}

static cnn *make_cnn(size_t batch, size_t threads, uint64_t seed)
{
    cnn *m = NULL;
    ms_err err;
    if (cnn_create(&m, batch, threads, &err) != MS_OK) {
        fprintf(stderr, "cnn_create: %s\n", err.msg);
        exit(1);
    }
    cnn_init(m, seed);
    return m;
}

/* n random images (n, 784) and the CNN's clean predictions as labels. */
static void cnn_problem(cnn *m, float *x, uint8_t *y, uint32_t *ids, size_t n, uint64_t seed)
{
    rng_t r;
    rng_init(&r, seed, 91);
    for (size_t i = 0; i < n * CNN_PIXELS; i++)
        x[i] = rng_uniform(&r);
    cnn_argmax(cnn_forward(m, x, n), n, y);
    for (size_t i = 0; i < n; i++)
        ids[i] = (uint32_t)(1000 + 13 * i);
}

/* margin[i] = max_{j != y} z_j - z_y at x (n, D) */
static void margins(const attack_model *am, const float *x, const uint8_t *y, size_t n,
                    float *margin)
{
    attack_loss_grad(am, x, y, NULL, n, ATTACK_LOSS_MARGIN, 1, margin, NULL, NULL, NULL);
}

/* Pixels in [0,1] and finite, ||x_adv - x||_inf <= eps + 1e-7; returns violations. */
static size_t invariant_violations(const float *x, const float *xa, size_t len, float eps)
{
    size_t bad = 0;
    for (size_t i = 0; i < len; i++) {
        float a = xa[i];
        bad += !isfinite(a) || a < 0.0f || a > 1.0f ||
               fabs((double)a - (double)x[i]) > (double)eps + 1e-7;
    }
    return bad;
}

static size_t count_correct(const uint8_t *c, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += c[i] != 0;
    return k;
}

/* ---- Square on linear models ------------------------------------------------------- */

static void test_refuses_bad_input(void)
{
    lin_problem lp;
    lin_problem_init(&lp, 12, 2, 0.2f, 0.8f, 0.0f, 1); /* 12 pixels: not a square */
    attack_ws ws = make_ws(T_MAXB, 12);
    attack_params p = attack_params_default(0.1f, 1);
    float xa[2 * 12], loss[2];
    uint8_t correct[2];
    attack_batch b = {.x = lp.x, .y = lp.y, .ids = lp.ids, .n = 2};
    attack_out out = {.x_adv = xa, .loss = loss, .correct = correct};
    ms_err err;
    ms_status s = attack_square(&lp.am, &b, &p, &ws, &out, &err);
    CHECK(s == MS_EINTERNAL, "12 pixels: status %d", (int)s);
    attack_ws_free(&ws);
    lin_problem_free(&lp);

    lin_problem_init(&lp, 16, 2, 0.2f, 0.8f, 0.0f, 1);
    ws = make_ws(T_MAXB, 16);
    b.x = lp.x, b.y = lp.y, b.ids = lp.ids;
    float bad_p[] = {0.0f, -0.5f, 1.5f, NAN};
    for (size_t i = 0; i < sizeof bad_p / sizeof bad_p[0]; i++) {
        p.p_init = bad_p[i];
        s = attack_square(&lp.am, &b, &p, &ws, &out, &err);
        CHECK(s == MS_EUSAGE, "p_init %g: status %d", (double)bad_p[i], (int)s);
    }
    CHECK(lp.lm.forwards == 0, "a refused attack ran %zu forwards", lp.lm.forwards);
    attack_ws_free(&ws);
    lin_problem_free(&lp);
}

/* eps = 0: nothing can move, every square leaves the image as it is, so only the
 * start and the final scoring reach the model. */
static void test_eps_zero_leaves_inputs(void)
{
    enum { N = 5, D = 784 };
    lin_problem lp;
    lin_problem_init(&lp, D, N, 0.0f, 1.0f, 0.0f, 2);
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.0f, 3);
    p.queries = 50;
    float *xa = malloc(N * D * sizeof(float)), loss[N];
    uint8_t correct[N];
    attack_batch b = {.x = lp.x, .y = lp.y, .ids = lp.ids, .n = N};
    attack_out out = {.x_adv = xa, .loss = loss, .correct = correct};
    ms_err err;
    CHECK(attack_square(&lp.am, &b, &p, &ws, &out, &err) == MS_OK, "%s", err.msg);
    CHECK(memcmp(xa, lp.x, N * D * sizeof(float)) == 0, "eps = 0 changed an input");
    CHECK(count_correct(correct, N) == N, "%zu of %d correct", count_correct(correct, N), N);
    CHECK(lp.lm.images == 2 * N, "%zu images forwarded, expected %d", lp.lm.images, 2 * N);
    CHECK(lp.lm.backwards == 0, "backward called %zu times", lp.lm.backwards);
    free(xa);
    attack_ws_free(&ws);
    lin_problem_free(&lp);
}

/* A linear model whose clean margins are small next to what eps can move: Square
 * finds every misclassification, without one backward and within the query budget. */
static void test_linear_broken_without_backward(void)
{
    enum { N = 12, D = 784, Q = 300 };
    lin_problem lp;
    lin_problem_init(&lp, D, N, 0.2f, 0.8f, 0.0f, 4);
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.05f, 5);
    p.queries = Q;
    float *xa = malloc(N * D * sizeof(float)), loss[N], m0[N];
    uint8_t correct[N];
    margins(&lp.am, lp.x, lp.y, N, m0);
    lp.lm.forwards = lp.lm.images = 0;
    attack_batch b = {.x = lp.x, .y = lp.y, .ids = lp.ids, .n = N};
    attack_out out = {.x_adv = xa, .loss = loss, .correct = correct};
    ms_err err;
    CHECK(attack_square(&lp.am, &b, &p, &ws, &out, &err) == MS_OK, "%s", err.msg);
    size_t used = lp.lm.images;
    double worst = -1e30;
    for (size_t i = 0; i < N; i++)
        worst = m0[i] > worst ? m0[i] : worst;
    fprintf(stderr, "  linear: clean margins <= %.3f, %zu of %d still correct, %zu images "
                    "forwarded (budget %d)\n",
            worst, count_correct(correct, N), N, used, N * Q + N);
    CHECK(worst < 0.0, "an example starts misclassified (margin %g)", worst);
    CHECK(count_correct(correct, N) == 0, "%zu of %d not broken", count_correct(correct, N), N);
    CHECK(lp.lm.backwards == 0, "backward called %zu times", lp.lm.backwards);
    CHECK(used <= (size_t)N * Q + N, "%zu images forwarded, budget %d + final %d", used,
          N * Q, N);
    CHECK(invariant_violations(lp.x, xa, N * D, p.eps) == 0, "invariants violated");
    ms_err cerr;
    CHECK(attack_check("square", lp.x, xa, lp.ids, N, D, p.eps, NULL, &cerr) == MS_OK, "%s",
          cerr.msg);
    float lref[N];
    uint8_t cref[N];
    attack_loss_grad(&lp.am, xa, lp.y, NULL, N, ATTACK_LOSS_CE, 1, lref, cref, NULL, NULL);
    CHECK(memcmp(lref, loss, sizeof lref) == 0 && memcmp(cref, correct, sizeof cref) == 0,
          "reported loss/correct differ from a forward of x_adv");
    free(xa);
    attack_ws_free(&ws);
    lin_problem_free(&lp);
}

/* Examples misclassified at the start are never queried again: the model sees the
 * start and the final scoring only. */
static void test_misclassified_not_queried(void)
{
    enum { N = 6, D = 784 };
    lin_problem lp;
    lin_problem_init(&lp, D, N, 0.2f, 0.8f, 0.0f, 6);
    /* label each image with its least likely class */
    const float *z = lin_forward(&lp.lm, lp.x, N);
    for (size_t i = 0; i < N; i++) {
        size_t lo = 0;
        for (size_t k = 1; k < T_K; k++)
            if (z[i * T_K + k] < z[i * T_K + lo])
                lo = k;
        lp.y[i] = (uint8_t)lo;
    }
    lp.lm.forwards = lp.lm.images = 0;
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.01f, 7);
    p.queries = 100;
    float *xa = malloc(N * D * sizeof(float)), loss[N];
    uint8_t correct[N];
    attack_batch b = {.x = lp.x, .y = lp.y, .ids = lp.ids, .n = N};
    attack_out out = {.x_adv = xa, .loss = loss, .correct = correct};
    ms_err err;
    CHECK(attack_square(&lp.am, &b, &p, &ws, &out, &err) == MS_OK, "%s", err.msg);
    CHECK(count_correct(correct, N) == 0, "%zu correct", count_correct(correct, N));
    CHECK(lp.lm.forwards == 2 && lp.lm.images == 2 * N,
          "%zu forwards of %zu images for examples misclassified from the start",
          lp.lm.forwards, lp.lm.images);
    free(xa);
    attack_ws_free(&ws);
    lin_problem_free(&lp);
}

/* The square-size schedule and the stripe start, seen from the model. The model's
 * logits never change, so no candidate is ever accepted and every candidate differs
 * from the stripe start exactly in the columns of its square whose stripe sign is
 * not the square's: the rows that differ are the square's h_t rows. */
static double paper_share(size_t t, size_t q, double p_init)
{
    /* the paper's schedule for 10,000 queries, at iteration t of q */
    size_t k = (size_t)((unsigned long long)t * 10000ull / q);
    if (k <= 10)
        return p_init;
    if (k <= 50)
        return p_init / 2;
    if (k <= 200)
        return p_init / 4;
    if (k <= 500)
        return p_init / 8;
    if (k <= 1000)
        return p_init / 16;
    if (k <= 2000)
        return p_init / 32;
    if (k <= 4000)
        return p_init / 64;
    if (k <= 6000)
        return p_init / 128;
    if (k <= 8000)
        return p_init / 256;
    return p_init / 512;
}

static void test_schedule_and_stripes(void)
{
    enum { D = 784, S = 28, Q = 1000 };
    const float eps = 0.1f;
    lin_problem lp;
    lin_problem_init(&lp, D, 1, 0.2f, 0.8f, 0.0f, 8); /* no pixel within eps of 0 or 1 */
    lp.lm.constant = 1;
    lp.y[0] = 0; /* margin -1 whatever the input */
    lp.lm.cap_rec = Q + 1;
    lp.lm.rec = malloc((Q + 1) * D * sizeof(float));
    attack_ws ws = make_ws(1, D);
    attack_params p = attack_params_default(eps, 9);
    p.queries = Q;
    float xa[D], loss[1];
    uint8_t correct[1];
    attack_batch b = {.x = lp.x, .y = lp.y, .ids = lp.ids, .n = 1};
    attack_out out = {.x_adv = xa, .loss = loss, .correct = correct};
    ms_err err;
    CHECK(attack_square(&lp.am, &b, &p, &ws, &out, &err) == MS_OK, "%s", err.msg);
    CHECK(lp.lm.forwards == Q + 1, "%zu forwards for a budget of %d (+1 scoring)",
          lp.lm.forwards, Q);
    /* the start: every column shifted by one sign times eps, both signs present */
    const float *start = lp.lm.rec;
    size_t bad_cols = 0, plus = 0;
    for (size_t c = 0; c < S; c++) {
        float s = start[c] - lp.x[c];
        plus += s > 0.0f;
        for (size_t r = 0; r < S; r++) {
            float dr = start[r * S + c] - lp.x[r * S + c];
            bad_cols += !(fabsf(fabsf(dr) - eps) <= 1e-6f && (dr > 0.0f) == (s > 0.0f));
        }
    }
    CHECK(bad_cols == 0, "%zu pixels off the vertical stripes", bad_cols);
    CHECK(plus > 0 && plus < S, "%zu of %d columns +eps", plus, S);
    CHECK(memcmp(xa, start, sizeof xa) == 0, "x_adv is not the start");
    size_t bad_h = 0, empty = 0;
    for (size_t q = 1; q < Q; q++) {
        const float *c = lp.lm.rec + q * D;
        size_t r_lo = S, r_hi = 0, c_lo = S, c_hi = 0;
        for (size_t r = 0; r < S; r++)
            for (size_t k = 0; k < S; k++)
                if (c[r * S + k] != start[r * S + k]) {
                    r_lo = r < r_lo ? r : r_lo, r_hi = r > r_hi ? r : r_hi;
                    c_lo = k < c_lo ? k : c_lo, c_hi = k > c_hi ? k : c_hi;
                }
        if (r_lo == S) {
            empty++;
            continue;
        }
        double h = floor(sqrt(paper_share(q - 1, Q, (double)p.p_init) * D) + 0.5);
        size_t want = h < 1 ? 1 : (h > S ? S : (size_t)h);
        if (r_hi - r_lo + 1 != want || c_hi - c_lo + 1 > want) {
            if (bad_h++ < 5)
                fprintf(stderr, "  query %zu: rows %zu..%zu cols %zu..%zu, side %zu\n", q + 1,
                        r_lo, r_hi, c_lo, c_hi, want);
        }
    }
    CHECK(empty == 0, "%zu candidates equal to the current best were queried", empty);
    CHECK(bad_h == 0, "%zu squares of the wrong side", bad_h);
    free(lp.lm.rec);
    attack_ws_free(&ws);
    lin_problem_free(&lp);
}

/* A larger budget never gives a weaker result. With p_init small enough that every
 * square is one pixel (h_t = 1 for any budget), the draws of a 100-query run are a
 * prefix of those of a 200-query run, so per example the best margin can only grow
 * and an example broken within 100 queries ends at the same point. */
static void test_budget_monotone(void)
{
    enum { N = 10, D = 784 };
    lin_problem lp;
    lin_problem_init(&lp, D, N, 0.2f, 0.8f, 0.0f, 10);
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.03f, 11);
    p.p_init = 0.001f; /* sqrt(0.001 * 784) = 0.89: one pixel */
    float *xa1 = malloc(N * D * sizeof(float)), *xa2 = malloc(N * D * sizeof(float));
    float loss[N], m1[N], m2[N], m0[N];
    uint8_t c1[N], c2[N];
    attack_batch b = {.x = lp.x, .y = lp.y, .ids = lp.ids, .n = N};
    ms_err err;
    p.queries = 100;
    attack_out o1 = {.x_adv = xa1, .loss = loss, .correct = c1};
    CHECK(attack_square(&lp.am, &b, &p, &ws, &o1, &err) == MS_OK, "%s", err.msg);
    p.queries = 200;
    attack_out o2 = {.x_adv = xa2, .loss = loss, .correct = c2};
    CHECK(attack_square(&lp.am, &b, &p, &ws, &o2, &err) == MS_OK, "%s", err.msg);
    margins(&lp.am, lp.x, lp.y, N, m0);
    margins(&lp.am, xa1, lp.y, N, m1);
    margins(&lp.am, xa2, lp.y, N, m2);
    size_t worse = 0, grew = 0, moved = 0;
    for (size_t i = 0; i < N; i++) {
        worse += m2[i] < m1[i];
        grew += m2[i] > m1[i];
        if (m1[i] > 0.0f)
            moved += memcmp(xa1 + i * D, xa2 + i * D, D * sizeof(float)) != 0;
    }
    fprintf(stderr, "  budget 100 -> 200: %zu of %d margins grew, broken %zu -> %zu\n", grew,
            N, N - count_correct(c1, N), N - count_correct(c2, N));
    CHECK(worse == 0, "%zu examples have a lower margin after 200 queries", worse);
    CHECK(grew > 0, "no margin grew: the test does not exercise the search");
    CHECK(moved == 0, "%zu examples broken within 100 queries moved later", moved);
    CHECK(count_correct(c2, N) <= count_correct(c1, N), "more correct after 200 queries");
    free(xa1), free(xa2);
    attack_ws_free(&ws);
    lin_problem_free(&lp);
}

/* A model that masks its gradient: the input is quantised to quarters and the
 * backward returns zeros. FGSM sees a zero gradient and does nothing; Square, which
 * reads only the logits, breaks every example. */
static void test_masked_gradients(void)
{
    enum { N = 10, D = 784 };
    lin_problem lp;
    lin_problem_init(&lp, D, N, 0.1f, 0.9f, 4.0f, 12);
    lp.lm.mask = 1;
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.3f, 13);
    p.queries = 1000;
    float *xa = malloc(N * D * sizeof(float)), loss[N];
    uint8_t correct[N];
    attack_batch b = {.x = lp.x, .y = lp.y, .ids = lp.ids, .n = N};
    attack_out out = {.x_adv = xa, .loss = loss, .correct = correct};
    ms_err err;
    CHECK(attack_fgsm(&lp.am, &b, &p, &ws, &out, &err) == MS_OK, "%s", err.msg);
    size_t fgsm_correct = count_correct(correct, N);
    CHECK(lp.lm.backwards > 0, "FGSM did not take the (masked) gradient");
    CHECK(fgsm_correct == N, "FGSM broke %zu of %d through a zero gradient", N - fgsm_correct,
          N);
    lp.lm.backwards = 0;
    CHECK(attack_square(&lp.am, &b, &p, &ws, &out, &err) == MS_OK, "%s", err.msg);
    size_t square_correct = count_correct(correct, N);
    fprintf(stderr, "  masked model: FGSM leaves %zu of %d correct, Square %zu\n",
            fgsm_correct, N, square_correct);
    CHECK(square_correct == 0, "Square left %zu of %d correct", square_correct, N);
    CHECK(lp.lm.backwards == 0, "Square called backward");
    CHECK(invariant_violations(lp.x, xa, N * D, p.eps) == 0, "invariants violated");
    free(xa);
    attack_ws_free(&ws);
    lin_problem_free(&lp);
}

/* Restarts run only on the examples still correct and keep any misclassification,
 * so a second restart never leaves more examples correct. */
static void test_restarts_never_weaker(void)
{
    enum { N = 12, D = 784 };
    lin_problem lp;
    lin_problem_init(&lp, D, N, 0.2f, 0.8f, 0.0f, 14);
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.02f, 15);
    p.queries = 30;
    float *xa1 = malloc(N * D * sizeof(float)), *xa2 = malloc(N * D * sizeof(float));
    float l1[N], l2[N];
    uint8_t c1[N], c2[N];
    attack_batch b = {.x = lp.x, .y = lp.y, .ids = lp.ids, .n = N};
    attack_out o1 = {.x_adv = xa1, .loss = l1, .correct = c1};
    attack_out o2 = {.x_adv = xa2, .loss = l2, .correct = c2};
    ms_err err;
    CHECK(attack_square(&lp.am, &b, &p, &ws, &o1, &err) == MS_OK, "%s", err.msg);
    p.restarts = 3;
    CHECK(attack_square(&lp.am, &b, &p, &ws, &o2, &err) == MS_OK, "%s", err.msg);
    fprintf(stderr, "  restarts 1 -> 3: correct %zu -> %zu of %d\n", count_correct(c1, N),
            count_correct(c2, N), N);
    CHECK(count_correct(c2, N) <= count_correct(c1, N), "restarts made the attack weaker");
    for (size_t i = 0; i < N; i++)
        CHECK(!c2[i] || l2[i] >= l1[i], "example %zu: loss %g < %g with restarts", i,
              (double)l2[i], (double)l1[i]);
    CHECK(invariant_violations(lp.x, xa2, N * D, p.eps) == 0, "invariants violated");
    free(xa1), free(xa2);
    attack_ws_free(&ws);
    lin_problem_free(&lp);
}

/* ---- Square on the CNN -------------------------------------------------------------- */

/* Invariants on the real model, the reported loss/correct equal a forward of x_adv,
 * and NULL loss/correct are accepted. */
static void test_cnn_invariants(void)
{
    enum { N = 8, D = CNN_PIXELS };
    cnn *m = make_cnn(N, 2, 21);
    attack_model am = cnn_attack_model(m);
    float *x = malloc(N * D * sizeof(float)), *xa = malloc(N * D * sizeof(float));
    float *xb = malloc(N * D * sizeof(float));
    uint8_t y[N], correct[N], cref[N];
    uint32_t ids[N];
    float loss[N], lref[N];
    cnn_problem(m, x, y, ids, N, 22);
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.1f, 23);
    p.queries = 60;
    attack_batch b = {.x = x, .y = y, .ids = ids, .n = N};
    attack_out out = {.x_adv = xa, .loss = loss, .correct = correct};
    ms_err err;
    CHECK(attack_square(&am, &b, &p, &ws, &out, &err) == MS_OK, "%s", err.msg);
    CHECK(invariant_violations(x, xa, N * D, p.eps) == 0, "invariants violated");
    CHECK(attack_check("square", x, xa, ids, N, D, p.eps, NULL, &err) == MS_OK, "%s", err.msg);
    attack_loss_grad(&am, xa, y, NULL, N, ATTACK_LOSS_CE, 1, lref, cref, NULL, NULL);
    size_t bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += !isfinite(loss[i]) || loss[i] != lref[i] || correct[i] != cref[i];
    CHECK(bad == 0, "%zu examples' loss/correct differ from a forward of x_adv", bad);
    fprintf(stderr, "  CNN (untrained), eps 0.1, 60 queries: %zu of %d still correct\n",
            count_correct(correct, N), N);
    attack_out bare = {.x_adv = xb, .loss = NULL, .correct = NULL};
    CHECK(attack_square(&am, &b, &p, &ws, &bare, &err) == MS_OK, "%s", err.msg);
    CHECK(memcmp(xa, xb, N * D * sizeof(float)) == 0, "NULL loss/correct changed x_adv");
    p.eps = 0.0f;
    CHECK(attack_square(&am, &b, &p, &ws, &out, &err) == MS_OK, "%s", err.msg);
    CHECK(memcmp(xa, x, N * D * sizeof(float)) == 0, "eps = 0 changed an input");
    CHECK(count_correct(correct, N) == N, "eps = 0: %zu of %d correct", count_correct(correct, N),
          N);
    free(x), free(xa), free(xb);
    attack_ws_free(&ws);
    cnn_destroy(m);
}

/* Same examples alone, in a batch, in another order, with 1 or 2 threads, twice:
 * bit-identical; another seed gives another result. */
static void test_cnn_batch_threads_determinism(void)
{
    enum { N = 6, D = CNN_PIXELS };
    cnn *m2 = make_cnn(N, 2, 31), *m1 = make_cnn(N, 1, 31);
    attack_model am2 = cnn_attack_model(m2), am1 = cnn_attack_model(m1);
    float *x = malloc(N * D * sizeof(float)), *xr = malloc(N * D * sizeof(float));
    float *ref = malloc(N * D * sizeof(float)), *xa = malloc(N * D * sizeof(float));
    uint8_t y[N], yr[N], cref[N], c[N];
    uint32_t ids[N], idsr[N];
    float lref[N], l[N];
    cnn_problem(m2, x, y, ids, N, 32);
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.2f, 33);
    p.queries = 80;
    ms_err err;
    attack_batch b = {.x = x, .y = y, .ids = ids, .n = N};
    attack_out oref = {.x_adv = ref, .loss = lref, .correct = cref};
    CHECK(attack_square(&am2, &b, &p, &ws, &oref, &err) == MS_OK, "%s", err.msg);
    fprintf(stderr, "  CNN (untrained), eps 0.2, 80 queries: %zu of %d still correct\n",
            count_correct(cref, N), N);
    attack_out o = {.x_adv = xa, .loss = l, .correct = c};
    /* again */
    CHECK(attack_square(&am2, &b, &p, &ws, &o, &err) == MS_OK, "%s", err.msg);
    CHECK(memcmp(xa, ref, N * D * sizeof(float)) == 0 && memcmp(l, lref, sizeof l) == 0 &&
              memcmp(c, cref, sizeof c) == 0,
          "two runs differ");
    /* one thread */
    CHECK(attack_square(&am1, &b, &p, &ws, &o, &err) == MS_OK, "%s", err.msg);
    CHECK(memcmp(xa, ref, N * D * sizeof(float)) == 0 && memcmp(l, lref, sizeof l) == 0,
          "1 and 2 threads differ");
    /* each example alone */
    size_t bad = 0;
    for (size_t i = 0; i < N; i++) {
        attack_batch one = {.x = x + i * D, .y = y + i, .ids = ids + i, .n = 1};
        attack_out oo = {.x_adv = xa, .loss = l, .correct = c};
        CHECK(attack_square(&am2, &one, &p, &ws, &oo, &err) == MS_OK, "%s", err.msg);
        bad += memcmp(xa, ref + i * D, D * sizeof(float)) != 0 || l[0] != lref[i] ||
               c[0] != cref[i];
    }
    CHECK(bad == 0, "%zu of %d examples differ alone and in the batch", bad, N);
    /* reversed order */
    for (size_t i = 0; i < N; i++) {
        memcpy(xr + i * D, x + (N - 1 - i) * D, D * sizeof(float));
        yr[i] = y[N - 1 - i];
        idsr[i] = ids[N - 1 - i];
    }
    attack_batch br = {.x = xr, .y = yr, .ids = idsr, .n = N};
    CHECK(attack_square(&am2, &br, &p, &ws, &o, &err) == MS_OK, "%s", err.msg);
    bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += memcmp(xa + i * D, ref + (N - 1 - i) * D, D * sizeof(float)) != 0;
    CHECK(bad == 0, "%zu examples differ in a reversed batch", bad);
    /* another seed */
    p.seed = 34;
    CHECK(attack_square(&am2, &b, &p, &ws, &o, &err) == MS_OK, "%s", err.msg);
    CHECK(memcmp(xa, ref, N * D * sizeof(float)) != 0, "another seed gave the same result");
    free(x), free(xr), free(ref), free(xa);
    attack_ws_free(&ws);
    cnn_destroy(m1);
    cnn_destroy(m2);
}

/* ---- the CNN's incremental forward (cnn_patch.h) ----------------------------------- */

/* |z - ref| <= 1e-4 (1 + max |ref|) + 1e-4 |ref| for each logit of n images. */
static size_t logits_off(const float *z, const float *ref, size_t n, double *worst)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double scale = 0.0;
        for (size_t k = 0; k < CNN_CLASSES; k++)
            scale = fmax(scale, fabs((double)ref[i * CNN_CLASSES + k]));
        for (size_t k = 0; k < CNN_CLASSES; k++) {
            double a = z[i * CNN_CLASSES + k], r = ref[i * CNN_CLASSES + k];
            *worst = fmax(*worst, fabs(a - r) / (1.0 + scale));
            bad += !close_enough(a, r, 1e-4 * (1.0 + scale), 1e-4);
        }
    }
    return bad;
}

/* Random bases (half of them mostly zero, as digits are), then one round of squares
 * of each side 1..28 (four at the corners, four anywhere, filled with random pixels
 * and zeros): the incremental logits equal a forward pass of the candidates to float
 * rounding. Half of each round's candidates are accepted, so later rounds start from
 * bases the accepts made. */
static void test_patch_logits_match_forward(void)
{
    enum { N = 8, D = CNN_PIXELS, S = CNN_SIDE };
    cnn *m = make_cnn(N, 2, 71);
    float *base = malloc(N * D * sizeof(float)), *cand = malloc(N * D * sizeof(float));
    float z[N * CNN_CLASSES];
    uint32_t slot[N], rc[2 * N], ks[N];
    rng_t r;
    rng_init(&r, 72, 5);
    for (size_t i = 0; i < N * D; i++)
        base[i] = (i / D) % 2 == 0 || rng_below(&r, 5) == 0 ? rng_uniform(&r) : 0.0f;
    cnn_patch *cp = NULL;
    ms_err err;
    CHECK(cnn_patch_open(&cp, m, N, &err) == MS_OK, "%s", err.msg);
    if (!cp) {
        cnn_destroy(m);
        free(base), free(cand);
        return;
    }
    double worst = 0.0;
    memcpy(z, cnn_patch_set(cp, base, N), sizeof z);
    size_t bad = logits_off(z, cnn_forward(m, base, N), N, &worst);
    CHECK(bad == 0, "%zu logits of the bases differ from a forward", bad);
    bad = 0;
    for (size_t h = 1; h <= S; h++) {
        const size_t span = S - h + 1;
        for (size_t k = 0; k < N; k++) {
            /* slots in another order every round */
            slot[k] = (uint32_t)((k * 3 + h) % N);
            size_t r0 = rng_below(&r, (uint32_t)span), c0 = rng_below(&r, (uint32_t)span);
            if (k < 4) { /* the corners */
                r0 = k & 1 ? span - 1 : 0;
                c0 = k & 2 ? span - 1 : 0;
            }
            rc[2 * k] = (uint32_t)r0, rc[2 * k + 1] = (uint32_t)c0;
            float *c = cand + k * D;
            memcpy(c, base + slot[k] * D, D * sizeof *c);
            for (size_t row = r0; row < r0 + h; row++)
                for (size_t col = c0; col < c0 + h; col++)
                    c[row * S + col] = rng_below(&r, 3) == 0 ? 0.0f : rng_uniform(&r);
        }
        memcpy(z, cnn_patch_forward(cp, cand, slot, rc, h, N), sizeof z);
        bad += logits_off(z, cnn_forward(m, cand, N), N, &worst);
        size_t na = 0;
        for (size_t k = h % 2; k < N; k += 2) {
            ks[na++] = (uint32_t)k;
            memcpy(base + slot[k] * D, cand + k * D, D * sizeof(float));
        }
        cnn_patch_accept(cp, ks, na);
    }
    CHECK(bad == 0, "%zu logits of candidates differ from a forward", bad);
    fprintf(stderr, "  %d squares of sides 1..%d: worst |z - forward| / (1 + max |z|) %.2g\n",
            N * S, S, worst);
    cnn_patch_close(cp);
    free(base), free(cand);
    cnn_destroy(m);
}

/* Thousands of accepts on one base (small squares, as late in an attack): the logits
 * stay as close to a forward pass's as after one, rounding does not pile up (with
 * fc1's pre-activation summed in float over the accepts, this image drifts by
 * about 1.4e-6). */
static void test_patch_no_drift(void)
{
    enum { D = CNN_PIXELS, S = CNN_SIDE, ACCEPTS = 3000 };
    cnn *m = make_cnn(1, 1, 75);
    float *x = malloc(D * sizeof(float)), *c = malloc(D * sizeof(float));
    rng_t r;
    rng_init(&r, 76, 5);
    for (size_t i = 0; i < D; i++)
        x[i] = rng_below(&r, 3) == 0 ? rng_uniform(&r) : 0.0f;
    cnn_patch *cp = NULL;
    ms_err err;
    CHECK(cnn_patch_open(&cp, m, 1, &err) == MS_OK, "%s", err.msg);
    if (!cp) {
        cnn_destroy(m);
        free(x), free(c);
        return;
    }
    (void)cnn_patch_set(cp, x, 1);
    const uint32_t slot = 0, k = 0;
    float z[CNN_CLASSES];
    for (size_t a = 0; a < ACCEPTS; a++) {
        const size_t h = 1 + a % 3;
        uint32_t rc[2] = {rng_below(&r, S - h + 1), rng_below(&r, S - h + 1)};
        memcpy(c, x, D * sizeof *c);
        for (size_t row = rc[0]; row < rc[0] + h; row++)
            for (size_t col = rc[1]; col < rc[1] + h; col++)
                c[row * S + col] = rng_uniform(&r);
        memcpy(z, cnn_patch_forward(cp, c, &slot, rc, h, 1), sizeof z);
        cnn_patch_accept(cp, &k, 1);
        memcpy(x, c, D * sizeof *x);
    }
    double worst = 0.0;
    size_t bad = logits_off(z, cnn_forward(m, x, 1), 1, &worst);
    fprintf(stderr, "  after %d accepts: |z - forward| / (1 + max |z|) %.2g\n", ACCEPTS,
            worst);
    CHECK(bad == 0 && worst < 5e-7, "logits drifted by %.2g", worst);
    cnn_patch_close(cp);
    free(x), free(c);
    cnn_destroy(m);
}

/* A run too large to size is refused with a status, nothing allocated. */
static void test_patch_refuses_overflow(void)
{
    cnn *m = make_cnn(1, 1, 73);
    static char junk;
    cnn_patch *cp = (cnn_patch *)(void *)&junk; /* not NULL: must be cleared */
    ms_err err;
    err.msg[0] = 0;
    CHECK(cnn_patch_open(&cp, m, SIZE_MAX / 64, &err) == MS_EINTERNAL, "status");
    CHECK(cp == NULL && err.msg[0] != 0, "run %p, message '%s'", (void *)cp, err.msg);
    cnn_destroy(m);
}

/* The Square Attack with the incremental forward and with full forward passes (the
 * same model without am.patch): margins differ by rounding only, so the two agree on
 * almost every example. */
static void test_square_patch_same_as_forward(void)
{
    enum { N = 160, D = CNN_PIXELS };
    cnn *m = make_cnn(N, 2, 81);
    attack_model inc = cnn_attack_model(m), full = inc;
    full.patch = NULL;
    float *x = malloc(N * D * sizeof(float)), *xi = malloc(N * D * sizeof(float));
    float *xf = malloc(N * D * sizeof(float));
    uint8_t y[N], ci[N], cf[N];
    uint32_t ids[N];
    float li[N], lf[N];
    cnn_problem(m, x, y, ids, N, 82);
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.06f, 83);
    p.queries = 60;
    attack_batch b = {.x = x, .y = y, .ids = ids, .n = N};
    attack_out oi = {.x_adv = xi, .loss = li, .correct = ci};
    attack_out of = {.x_adv = xf, .loss = lf, .correct = cf};
    ms_err err;
    CHECK(attack_square(&inc, &b, &p, &ws, &oi, &err) == MS_OK, "%s", err.msg);
    CHECK(attack_square(&full, &b, &p, &ws, &of, &err) == MS_OK, "%s", err.msg);
    size_t ni = count_correct(ci, N), nf = count_correct(cf, N), same = 0;
    for (size_t i = 0; i < N; i++)
        same += memcmp(xi + i * D, xf + i * D, D * sizeof(float)) == 0;
    fprintf(stderr,
            "  CNN (untrained), eps 0.06, 60 queries: %zu (incremental) and %zu (forward) of "
            "%d still correct, %zu identical results\n",
            ni, nf, N, same);
    CHECK(ni + 1 >= nf && nf + 1 >= ni, "accuracies differ by more than one image");
    CHECK(ni > 0 && ni < N, "%zu of %d correct: the test does not tell", ni, N);
    CHECK(same + N / 20 >= N, "only %zu of %d results identical", same, N);
    CHECK(invariant_violations(x, xi, N * D, p.eps) == 0, "invariants violated");
    free(x), free(xi), free(xf);
    attack_ws_free(&ws);
    cnn_destroy(m);
}

/* ---- transfer ---------------------------------------------------------------------- */

/* The model as its own surrogate: the images are PGD's, scored on the same model. */
static void test_transfer_self_is_pgd(void)
{
    enum { N = 8, D = CNN_PIXELS };
    cnn *m = make_cnn(N, 2, 41);
    attack_model am = cnn_attack_model(m);
    float *x = malloc(N * D * sizeof(float)), *xp = malloc(N * D * sizeof(float));
    float *xt = malloc(N * D * sizeof(float)), *xn = malloc(N * D * sizeof(float));
    uint8_t y[N], cp[N], ct[N], cref[N];
    uint32_t ids[N];
    float lp[N], lt[N], lref[N];
    cnn_problem(m, x, y, ids, N, 42);
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.06f, 43);
    p.steps = 20;
    p.restarts = 2;
    p.keep_going = 1; /* transfer takes every step on the surrogate */
    attack_batch b = {.x = x, .y = y, .ids = ids, .n = N};
    attack_out op = {.x_adv = xp, .loss = lp, .correct = cp};
    attack_out ot = {.x_adv = xt, .loss = lt, .correct = ct};
    ms_err err;
    CHECK(attack_pgd(&am, &b, &p, &ws, &op, &err) == MS_OK, "%s", err.msg);
    p.surrogate = &am;
    CHECK(attack_transfer(&am, &b, &p, &ws, &ot, &err) == MS_OK, "%s", err.msg);
    CHECK(memcmp(xp, xt, N * D * sizeof(float)) == 0, "transfer images differ from PGD's");
    CHECK(memcmp(cp, ct, sizeof cp) == 0, "transfer correct differs from PGD's");
    attack_loss_grad(&am, xt, y, NULL, N, ATTACK_LOSS_CE, 1, lref, cref, NULL, NULL);
    CHECK(memcmp(lt, lref, sizeof lt) == 0 && memcmp(ct, cref, sizeof ct) == 0,
          "transfer scores are not those of the model at x_adv");
    fprintf(stderr, "  transfer (self) = PGD-20: %zu of %d still correct\n",
            count_correct(ct, N), N);
    attack_out bare = {.x_adv = xn, .loss = NULL, .correct = NULL};
    CHECK(attack_transfer(&am, &b, &p, &ws, &bare, &err) == MS_OK, "%s", err.msg);
    CHECK(memcmp(xn, xt, N * D * sizeof(float)) == 0, "NULL loss/correct changed x_adv");
    free(x), free(xp), free(xt), free(xn);
    attack_ws_free(&ws);
    cnn_destroy(m);
}

/* Another surrogate: the images are PGD's on the surrogate, the scores the target's,
 * and the target's backward is never called. */
static void test_transfer_other_surrogate(void)
{
    enum { N = 8, D = CNN_PIXELS };
    cnn *ms = make_cnn(N, 2, 51), *mt = make_cnn(N, 2, 52);
    attack_model as = cnn_attack_model(ms), at = cnn_attack_model(mt);
    lin_problem lp; /* a target that counts its backward calls */
    lin_problem_init(&lp, D, N, 0.0f, 1.0f, 0.0f, 53);
    float *x = malloc(N * D * sizeof(float)), *xs = malloc(N * D * sizeof(float));
    float *xt = malloc(N * D * sizeof(float));
    uint8_t y[N], cs[N], ct[N], cref[N];
    uint32_t ids[N];
    float ls[N], lt[N], lref[N];
    cnn_problem(ms, x, y, ids, N, 54);
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.05f, 55);
    p.steps = 10;
    p.keep_going = 1; /* transfer takes every step on the surrogate */
    attack_batch b = {.x = x, .y = y, .ids = ids, .n = N};
    attack_out os = {.x_adv = xs, .loss = ls, .correct = cs};
    attack_out ot = {.x_adv = xt, .loss = lt, .correct = ct};
    ms_err err;
    CHECK(attack_pgd(&as, &b, &p, &ws, &os, &err) == MS_OK, "%s", err.msg);
    p.surrogate = &as;
    CHECK(attack_transfer(&at, &b, &p, &ws, &ot, &err) == MS_OK, "%s", err.msg);
    CHECK(memcmp(xs, xt, N * D * sizeof(float)) == 0, "images are not PGD's on the surrogate");
    attack_loss_grad(&at, xt, y, NULL, N, ATTACK_LOSS_CE, 1, lref, cref, NULL, NULL);
    CHECK(memcmp(lt, lref, sizeof lt) == 0 && memcmp(ct, cref, sizeof ct) == 0,
          "scores are not the target's");
    CHECK(invariant_violations(x, xt, N * D, p.eps) == 0, "invariants violated");
    fprintf(stderr, "  transfer: surrogate left %zu of %d correct, target %zu\n",
            count_correct(cs, N), N, count_correct(ct, N));
    CHECK(attack_transfer(&lp.am, &b, &p, &ws, &ot, &err) == MS_OK, "%s", err.msg);
    CHECK(lp.lm.backwards == 0 && lp.lm.forwards == 1,
          "the target saw %zu backwards and %zu forwards", lp.lm.backwards, lp.lm.forwards);
    free(x), free(xs), free(xt);
    attack_ws_free(&ws);
    lin_problem_free(&lp);
    cnn_destroy(ms);
    cnn_destroy(mt);
}

static void test_transfer_needs_surrogate(void)
{
    enum { N = 2, D = 16 };
    lin_problem lp, other;
    lin_problem_init(&lp, D, N, 0.2f, 0.8f, 0.0f, 61);
    lin_problem_init(&other, 25, N, 0.2f, 0.8f, 0.0f, 62);
    attack_ws ws = make_ws(N, D);
    attack_params p = attack_params_default(0.1f, 63);
    float xa[N * D], loss[N];
    uint8_t correct[N];
    attack_batch b = {.x = lp.x, .y = lp.y, .ids = lp.ids, .n = N};
    attack_out out = {.x_adv = xa, .loss = loss, .correct = correct};
    ms_err err;
    err.msg[0] = 0;
    ms_status s = attack_transfer(&lp.am, &b, &p, &ws, &out, &err);
    CHECK(s == MS_EUSAGE, "status %d", (int)s);
    CHECK(strstr(err.msg, "--surrogate") != NULL, "message: %s", err.msg);
    p.surrogate = &other.am; /* 25 pixels against 16 */
    s = attack_transfer(&lp.am, &b, &p, &ws, &out, &err);
    CHECK(s == MS_EUSAGE, "mismatched surrogate: status %d", (int)s);
    CHECK(lp.lm.forwards == 0 && other.lm.forwards == 0, "a refused attack ran forwards");
    attack_ws_free(&ws);
    lin_problem_free(&lp);
    lin_problem_free(&other);
}

int main(void)
{
    RUN(test_refuses_bad_input);
    RUN(test_eps_zero_leaves_inputs);
    RUN(test_linear_broken_without_backward);
    RUN(test_misclassified_not_queried);
    RUN(test_schedule_and_stripes);
    RUN(test_budget_monotone);
    RUN(test_masked_gradients);
    RUN(test_restarts_never_weaker);
    RUN(test_cnn_invariants);
    RUN(test_cnn_batch_threads_determinism);
    RUN(test_patch_logits_match_forward);
    RUN(test_patch_no_drift);
    RUN(test_patch_refuses_overflow);
    RUN(test_square_patch_same_as_forward);
    RUN(test_transfer_self_is_pgd);
    RUN(test_transfer_other_surrogate);
    RUN(test_transfer_needs_surrogate);
    TEST_END();
}
