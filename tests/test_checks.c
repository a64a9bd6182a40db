/* test_checks.c - the robustness evaluation (robustness.h) and its sanity checks
 * (checks.h) must catch broken attacks and a model that masks its gradients: a PGD
 * with step 0, a PGD that follows the gradient downhill, an attack that ignores eps,
 * a model whose input gradient is zero, an accuracy that rises with eps, an attack
 * that has not converged, and eps 0 changing the accuracy. And they must pass an
 * honest evaluation. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attack.h"
#include "checks.h"
#include "fixtures.h"
#include "layers.h"
#include "optim.h"
#include "robustness.h"
#include "test.h"

enum { N = 60 };

static cnn *trained_model(void)
{
    cnn *m = make_model(N, 2, 0, 5);
    float *x = malloc(20 * CNN_PIXELS * sizeof(float));
    uint8_t y[20];
    adam opt;
    ms_err err;
    if (!x || adam_create(&opt, m->nparams, 2e-3, &err) != MS_OK)
        exit(1);
    for (size_t s = 0; s < 60; s++) {
        bar_images(x, y, 20, 100 + s);
        const float *z = cnn_forward(m, x, 20);
        softmax_xent(m->dz, z, y, 20, CNN_CLASSES, 20);
        cnn_backward(m, m->dz, NULL, 1);
        adam_step(&opt, m->params, m->grads, kctx_pool(m->k));
    }
    adam_free(&opt);
    free(x);
    return m;
}

/* ---- broken attacks, named like the real ones so the checks compare them ---------- */

static ms_status pgd_step_zero(const attack_model *am, const attack_batch *b,
                               const attack_params *p, attack_ws *ws, attack_out *out,
                               ms_err *err)
{
    attack_params q = *p;
    q.step = 0.0f;
    return attack_pgd(am, b, &q, ws, out, err);
}

static ms_status pgd_wrong_sign(const attack_model *am, const attack_batch *b,
                                const attack_params *p, attack_ws *ws, attack_out *out,
                                ms_err *err)
{
    (void)err;
    const size_t len = b->n * am->dim;
    memcpy(out->x_adv, b->x, len * sizeof(float));
    for (size_t t = 0; t < p->steps; t++) {
        attack_loss_grad(am, out->x_adv, b->y, NULL, b->n, ATTACK_LOSS_CE, 1, NULL, NULL,
                         ws->plane[0], ws->dz);
        for (size_t i = 0; i < len; i++)
            ws->plane[0][i] = -ws->plane[0][i];
        linf_step(out->x_adv, b->x, ws->plane[0], len, p->step, p->eps);
    }
    return MS_OK;
}

static ms_status ignores_eps(const attack_model *am, const attack_batch *b,
                             const attack_params *p, attack_ws *ws, attack_out *out,
                             ms_err *err)
{
    attack_params q = *p;
    q.eps = 2.0f * p->eps + 0.1f;
    return attack_fgsm(am, b, &q, ws, out, err);
}

/* A gradient-free attack: the best of a few random sign corners of the eps-box. */
static ms_status random_corners(const attack_model *am, const attack_batch *b,
                                const attack_params *p, attack_ws *ws, attack_out *out,
                                ms_err *err)
{
    (void)err;
    const size_t d = am->dim;
    float *cand = ws->plane[0], *loss = ws->vec[0], *best = ws->vec[1];
    memcpy(out->x_adv, b->x, b->n * d * sizeof(float));
    for (size_t i = 0; i < b->n; i++)
        best[i] = -INFINITY;
    for (uint32_t t = 0; t < 20; t++) {
        for (size_t i = 0; i < b->n; i++) {
            rng_t r;
            attack_rng(&r, p->seed, p->salt, b->ids[i], t);
            for (size_t j = 0; j < d; j++)
                cand[i * d + j] = b->x[i * d + j] + ((rng_u32(&r) & 1) ? p->eps : -p->eps);
        }
        linf_project(cand, b->x, b->n * d, p->eps);
        attack_loss_grad(am, cand, b->y, NULL, b->n, ATTACK_LOSS_MARGIN, 1, loss, NULL, NULL,
                         NULL);
        for (size_t i = 0; i < b->n; i++)
            if (loss[i] > best[i]) {
                best[i] = loss[i];
                memcpy(out->x_adv + i * d, cand + i * d, d * sizeof(float));
            }
    }
    return MS_OK;
}

static const attack_def fgsm_def = {"fgsm", attack_fgsm, 1, 0, "real"};
static const attack_def pgd_def = {"pgd", attack_pgd, 1, 0, "real"};
static const attack_def pgd_zero_def = {"pgd", pgd_step_zero, 1, 0, "step 0"};
static const attack_def pgd_sign_def = {"pgd", pgd_wrong_sign, 1, 0, "descends"};
static const attack_def ignores_def = {"fgsm", ignores_eps, 1, 0, "ignores eps"};
static const attack_def corners_def = {"corners", random_corners, 0, 0, "gradient-free"};

/* ---- a model that masks its gradients: the CNN forward, a zero backward -------------- */

static void zero_backward(void *self, const float *dlogits, float *dx)
{
    cnn *m = self;
    (void)dlogits;
    memset(dx, 0, m->batch * CNN_PIXELS * sizeof(float));
}

/* Evaluates `attacks` at `eps` on N bar images and runs the checks; statuses into st. */
static ms_status evaluate_and_check(const attack_model *am, const attack_def *const *attacks,
                                    size_t na, const double *eps, size_t ne, robust_result *res,
                                    check_status st[16], ms_err *err)
{
    dataset ds = bar_dataset(N, 42);
    attack_params params[4];
    for (size_t a = 0; a < na; a++) {
        params[a] = attack_params_default((float)eps[0], 7);
        params[a].steps = 10;
        params[a].step = 0.05f;
        params[a].salt = a + 1;
    }
    robust_opts o = {.attacks = attacks, .nattacks = na, .eps = eps, .neps = ne,
                     .params = params, .batch = 25, .quiet = 1};
    ms_status s = robustness_run(am, &ds, NULL, N, &o, res, err);
    dataset_free(&ds);
    if (s != MS_OK)
        return s;
    check_input ci = {.r = res, .largest_class_share = 0.1};
    for (size_t i = 0; i < check_count(); i++) {
        char d[400];
        st[i] = check_at(i)->run(&ci, d, sizeof d);
        fprintf(stderr, "    %-28s %s %s\n", check_at(i)->name, check_status_name(st[i]), d);
    }
    return MS_OK;
}

static size_t check_index(const char *name)
{
    for (size_t i = 0; i < check_count(); i++)
        if (strcmp(check_at(i)->name, name) == 0)
            return i;
    fprintf(stderr, "no check %s\n", name);
    exit(1);
}

static void test_honest_evaluation_passes(void)
{
    cnn *m = trained_model();
    attack_model am = cnn_attack_model(m);
    const attack_def *at[3] = {&fgsm_def, &pgd_def, &corners_def};
    const double eps[4] = {0.0, 0.1, 0.3, 0.5};
    robust_result r;
    check_status st[16];
    ms_err err;
    CHECK(evaluate_and_check(&am, at, 3, eps, 4, &r, st, &err) == MS_OK, "%s", err.msg);
    /* FGSM may truly overstate this small model's robustness (a WARN, not a fault) */
    for (size_t i = 0; i < check_count(); i++)
        CHECK(st[i] == CHECK_PASS || st[i] == CHECK_SKIP ||
                  (st[i] == CHECK_WARN && strcmp(check_at(i)->name, "fgsm_not_overstating") == 0),
              "check %s: %s on an honest run", check_at(i)->name, check_status_name(st[i]));
    CHECK(st[check_index("no_gradient_masking")] == CHECK_PASS, "masking check did not run");
    CHECK(robust_count(&r, 0) == r.clean_correct, "eps 0: ensemble %zu vs clean %zu",
          robust_count(&r, 0), r.clean_correct);
    CHECK(robust_count(&r, 2) < r.clean_correct, "eps 0.3 breaks nothing");
    robustness_free(&r);
    cnn_destroy(m);
}

static void test_step_zero_caught(void)
{
    cnn *m = trained_model();
    attack_model am = cnn_attack_model(m);
    const attack_def *at[2] = {&fgsm_def, &pgd_zero_def};
    const double eps[1] = {0.3};
    robust_result r;
    check_status st[16];
    ms_err err;
    CHECK(evaluate_and_check(&am, at, 2, eps, 1, &r, st, &err) == MS_OK, "%s", err.msg);
    CHECK(st[check_index("pgd_not_weaker_than_fgsm")] == CHECK_FAIL, "PGD with step 0 passed");
    robustness_free(&r);
    cnn_destroy(m);
}

static void test_wrong_sign_caught(void)
{
    cnn *m = trained_model();
    attack_model am = cnn_attack_model(m);
    const attack_def *at[2] = {&fgsm_def, &pgd_sign_def};
    const double eps[1] = {0.3};
    robust_result r;
    check_status st[16];
    ms_err err;
    CHECK(evaluate_and_check(&am, at, 2, eps, 1, &r, st, &err) == MS_OK, "%s", err.msg);
    CHECK(st[check_index("pgd_not_weaker_than_fgsm")] == CHECK_FAIL,
          "PGD descending the loss passed");
    robustness_free(&r);
    cnn_destroy(m);
}

static void test_ignoring_eps_refused(void)
{
    cnn *m = trained_model();
    attack_model am = cnn_attack_model(m);
    const attack_def *at[1] = {&ignores_def};
    const double eps[1] = {0.1};
    robust_result r;
    check_status st[16];
    ms_err err;
    ms_status s = evaluate_and_check(&am, at, 1, eps, 1, &r, st, &err);
    CHECK(s == MS_EINTERNAL, "an attack beyond eps was accepted (status %d)", (int)s);
    CHECK(strstr(err.msg, "exceeds epsilon") != NULL, "message: %s", err.msg);
    cnn_destroy(m);
}

static void test_masking_model_caught(void)
{
    cnn *m = trained_model();
    attack_model am = cnn_attack_model(m);
    am.backward = zero_backward;
    const attack_def *at[3] = {&fgsm_def, &pgd_def, &corners_def};
    const double eps[1] = {0.45};
    robust_result r;
    check_status st[16];
    ms_err err;
    CHECK(evaluate_and_check(&am, at, 3, eps, 1, &r, st, &err) == MS_OK, "%s", err.msg);
    CHECK(st[check_index("gradients_not_vanishing")] == CHECK_FAIL, "zero gradients passed");
    CHECK(st[check_index("no_gradient_masking")] == CHECK_FAIL, "masking not flagged");
    robustness_free(&r);
    cnn_destroy(m);
}

/* Checks on hand-made results: accuracy rising with eps, eps 0 changing accuracy, an
 * unconverged attack, the large-eps bound, FGSM overstating. */
static void test_checks_on_made_results(void)
{
    robust_result r = {0};
    robust_cell cells[4];
    const attack_def *fg = &fgsm_def, *pg = &pgd_def;
    r.n = 100, r.neps = 2, r.nattacks = 2, r.cell = cells, r.clean_correct = 90;
    /* eps 0 and eps 0.5; fgsm then pgd */
    cells[0] = (robust_cell){0.0, fg, 90, {0}};
    cells[1] = (robust_cell){0.0, pg, 85, {0}}; /* eps 0 changed accuracy */
    cells[2] = (robust_cell){0.5, fg, 95, {0}}; /* rises with eps, above class share */
    cells[3] = (robust_cell){0.5, pg, 20, {0}};
    check_input ci = {.r = &r, .largest_class_share = 0.11, .have_conv = 1, .conv_n = 100,
                      .conv_eps = 1, .conv_base_correct = 20, .conv_strong_correct = 10};
    char d[400];
    CHECK(check_at(check_index("accuracy_falls_with_eps"))->run(&ci, d, sizeof d) == CHECK_FAIL,
          "rise with eps passed: %s", d);
    CHECK(check_at(check_index("eps_zero_is_clean"))->run(&ci, d, sizeof d) == CHECK_FAIL,
          "eps 0 change passed: %s", d);
    CHECK(check_at(check_index("attack_converged"))->run(&ci, d, sizeof d) == CHECK_FAIL,
          "unconverged passed: %s", d);
    CHECK(check_at(check_index("fgsm_not_overstating"))->run(&ci, d, sizeof d) == CHECK_WARN,
          "FGSM 95%% vs PGD 20%% not flagged: %s", d);
    cells[3].correct = 30; /* the best white-box at eps 0.5 is 30%, above 11% */
    CHECK(check_at(check_index("large_eps_breaks_all"))->run(&ci, d, sizeof d) == CHECK_FAIL,
          "large-eps bound passed: %s", d);
    cells[3].correct = 10;
    CHECK(check_at(check_index("large_eps_breaks_all"))->run(&ci, d, sizeof d) == CHECK_PASS,
          "large-eps bound failed at 10%%: %s", d);
    ci.conv_strong_correct = 20;
    CHECK(check_at(check_index("attack_converged"))->run(&ci, d, sizeof d) == CHECK_PASS,
          "converged attack failed: %s", d);
}

int main(void)
{
    RUN(test_honest_evaluation_passes);
    RUN(test_step_zero_caught);
    RUN(test_wrong_sign_caught);
    RUN(test_ignoring_eps_refused);
    RUN(test_masking_model_caught);
    RUN(test_checks_on_made_results);
    TEST_END();
}
