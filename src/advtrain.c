/* advtrain.c - adversarial training methods, schedules and the held-out monitor (see
 * advtrain.h). */
#include "advtrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack.h"
#include "layers.h"
#include "optim.h"
#include "progress.h"
#include "robustness.h"
#include "train.h"

#define VAL_PGD_STEPS 20
#define VAL_BATCH 100
#define COLLAPSE_DROP 0.20
#define COLLAPSE_FLOOR 0.10
#define COLLAPSE_ARMED 0.50
#define MASKING_GAP 0.50

/* ---- the TRADES inner maximisation: PGD on KL(p(x) || p(x')) ------------------- */

/* Workspace: plane[0] gradient; dz the logit gradient; plane[1] the clean
 * probabilities (n, K) (K <= D). Start: x + U(-0.001, 0.001) from the image's stream. */
static ms_status trades_kl_attack(const attack_model *am, const attack_batch *b,
                                  const attack_params *p, attack_ws *ws, attack_out *out,
                                  ms_err *err)
{
    (void)err;
    const size_t d = am->dim, k = am->classes, n = b->n;
    float *grad = ws->plane[0], *pc = ws->plane[1];
    const float *z = am->forward(am->self, b->x, n);
    for (size_t i = 0; i < n; i++) {
        double mx = z[i * k], sum = 0.0;
        for (size_t j = 1; j < k; j++)
            mx = fmax(mx, z[i * k + j]);
        for (size_t j = 0; j < k; j++)
            sum += exp(z[i * k + j] - mx);
        for (size_t j = 0; j < k; j++)
            pc[i * k + j] = (float)(exp(z[i * k + j] - mx) / sum);
        rng_t r;
        attack_rng(&r, p->seed, p->salt, b->ids[i], 0);
        for (size_t j = 0; j < d; j++)
            out->x_adv[i * d + j] = b->x[i * d + j] + rng_range(&r, -0.001f, 0.001f);
    }
    linf_project(out->x_adv, b->x, n * d, p->eps);
    for (size_t t = 0; t < p->steps; t++) {
        z = am->forward(am->self, out->x_adv, n);
        /* d KL(p || q) / d z_q = q - p */
        for (size_t i = 0; i < n; i++) {
            double mx = z[i * k], sum = 0.0;
            for (size_t j = 1; j < k; j++)
                mx = fmax(mx, z[i * k + j]);
            for (size_t j = 0; j < k; j++)
                sum += exp(z[i * k + j] - mx);
            for (size_t j = 0; j < k; j++)
                ws->dz[i * k + j] = (float)(exp(z[i * k + j] - mx) / sum - pc[i * k + j]);
        }
        am->backward(am->self, ws->dz, grad);
        linf_step(out->x_adv, b->x, grad, n * d, p->step, p->eps);
    }
    return MS_OK;
}

static const attack_def trades_kl = {"trades-kl", trades_kl_attack, 1, 0,
                                     "PGD on KL(clean || adversarial), for TRADES"};

/* TRADES loss over [clean (k); adversarial (k)]: mean CE(clean) + beta mean KL. */
static double trades_loss(void *ctx, const float *z, const uint8_t *y, size_t n, float *dz)
{
    const double beta = *(const double *)ctx;
    const size_t k = n / 2, c = CNN_CLASSES;
    double total = 0.0;
    for (size_t i = 0; i < k; i++) {
        const float *zc = z + i * c, *za = z + (k + i) * c;
        double lp[CNN_CLASSES], lq[CNN_CLASSES], mc = zc[0], ma = za[0], sc = 0.0, sa = 0.0;
        for (size_t j = 1; j < c; j++)
            mc = fmax(mc, zc[j]), ma = fmax(ma, za[j]);
        for (size_t j = 0; j < c; j++)
            sc += exp(zc[j] - mc), sa += exp(za[j] - ma);
        double kl = 0.0;
        for (size_t j = 0; j < c; j++) {
            lp[j] = zc[j] - mc - log(sc);
            lq[j] = za[j] - ma - log(sa);
            kl += exp(lp[j]) * (lp[j] - lq[j]);
        }
        total += -lp[y[i]] + beta * kl;
        for (size_t j = 0; j < c; j++) {
            double pj = exp(lp[j]), qj = exp(lq[j]);
            dz[i * c + j] = (float)((pj - (j == y[i] ? 1.0 : 0.0) +
                                     beta * pj * (lp[j] - lq[j] - kl)) / (double)k);
            dz[(k + i) * c + j] = (float)(beta * (qj - pj) / (double)k);
        }
    }
    /* train_run weighs the returned loss by n; report the per-clean-image loss */
    return k ? total / (double)k : 0.0;
}

/* ---- the method table ----------------------------------------------------------- */

static const adv_method methods[] = {
    {"fgsm", "fgsm", ADV_APPEND, 0, 1, 1.0,
     "published: each batch plus its FGSM copy, one mean loss"},
    {"fgsm-rs", "pgd", ADV_REPLACE, 1, 1, 1.25,
     "FGSM from a random start, step 1.25 eps (Wong et al. 2020)"},
    {"pgd", "pgd", ADV_REPLACE, 1, 10, 2.5, "PGD, random start, step 2.5 eps / steps (Madry)"},
    {"trades", NULL, ADV_TRADES, 0, 10, 2.5,
     "CE(clean) + beta KL(clean || adversarial) (Zhang et al. 2019)"},
};

size_t adv_method_count(void)
{
    return sizeof methods / sizeof methods[0];
}

const adv_method *adv_method_at(size_t i)
{
    return i < adv_method_count() ? &methods[i] : NULL;
}

const adv_method *adv_method_find(const char *name)
{
    for (size_t i = 0; i < adv_method_count(); i++)
        if (strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}

const char *lr_schedule_name(lr_schedule s)
{
    return s == LR_COSINE ? "cosine" : s == LR_ONECYCLE ? "onecycle" : "constant";
}

double lr_schedule_at(lr_schedule s, double lr, size_t t, size_t total)
{
    const double pi = 3.14159265358979323846;
    double f = total ? (double)t / (double)total : 0.0;
    switch (s) {
    case LR_COSINE:
        return lr * 0.5 * (1.0 + cos(pi * f));
    case LR_ONECYCLE:
        /* linear up to the peak over the first 30%, then cosine down to 0 */
        return f < 0.3 ? lr * (0.04 + 0.96 * f / 0.3)
                       : lr * 0.5 * (1.0 + cos(pi * (f - 0.3) / 0.7));
    case LR_CONSTANT:
        break;
    }
    return lr;
}

/* ---- training with the monitor -------------------------------------------------- */

const char *const advtrain_log_columns[ADVTRAIN_LOG_NCOLS] = {
    "epoch",         "epsilon",           "lr",               "train_loss",
    "train_seconds", "val_clean_accuracy", "val_pgd_accuracy", "val_fgsm_accuracy"};

int advtrain_masking(float eps_now, float eps, double fgsm, double pgd)
{
    if (eps_now < eps)
        return 0; /* still ramping up */
    return fgsm - pgd > MASKING_GAP + 1e-9; /* the slack as in advtrain_collapse */
}

int advtrain_collapse(double peak_pgd, double now_pgd)
{
    /* accuracies are counts over n: a drop of exactly COLLAPSE_DROP must not fire
     * through rounding (0.8 - 0.2 > 0.6 in doubles), so the drop is compared with a
     * slack far below 1/n */
    return peak_pgd - now_pgd > COLLAPSE_DROP + 1e-9 ||
           (peak_pgd > COLLAPSE_ARMED && now_pgd < COLLAPSE_FLOOR);
}

typedef struct {
    const advtrain_opts *o;
    const dataset *train;
    const uint32_t *val;
    size_t nval;
    attack_train *at;
    adam *opt;
    csv_table *log, *checks;
    advtrain_result *res;
    float *best;        /* kept parameters */
    double peak_pgd;
    double last_lr;
} monitor;

static double lr_at(void *ctx, size_t t, size_t total)
{
    monitor *mo = ctx;
    mo->last_lr = lr_schedule_at(mo->o->schedule, mo->o->lr, t, total);
    return mo->last_lr;
}

static ms_status epoch_end(void *ctx, cnn *m, size_t epoch, double loss, double seconds,
                           ms_err *err)
{
    monitor *mo = ctx;
    advtrain_result *res = mo->res;
    res->epoch_loss[epoch] = loss;
    res->epochs = epoch + 1;
    res->seconds += seconds;
    table_int(mo->log, epoch + 1);
    table_num(mo->log, mo->at->eps_now);
    table_num(mo->log, mo->o->schedule == LR_CONSTANT ? mo->o->lr : mo->last_lr);
    table_num(mo->log, loss);
    table_num(mo->log, seconds);
    if (!mo->nval) {
        table_str(mo->log, "");
        table_str(mo->log, "");
        table_str(mo->log, "");
        return MS_OK;
    }
    const attack_def *atk[2] = {attack_find("pgd"), attack_find("fgsm")};
    attack_params p[2];
    p[0] = attack_params_default((float)mo->o->eps, mo->o->seed);
    p[0].steps = VAL_PGD_STEPS;
    p[0].step = (float)(2.5 * mo->o->eps / VAL_PGD_STEPS);
    p[0].salt = 0x5A17;
    p[1] = attack_params_default((float)mo->o->eps, mo->o->seed);
    robust_opts ro = {.attacks = atk, .nattacks = 2, .eps = &mo->o->eps, .neps = 1,
                      .params = p, .batch = VAL_BATCH, .quiet = 1};
    attack_model am = cnn_attack_model(m);
    robust_result rr;
    ms_status s = robustness_run(&am, mo->train, mo->val, mo->nval, &ro, &rr, err);
    if (s != MS_OK)
        return s;
    /* per attack: images classified correctly both clean and under the attack */
    size_t kept[2] = {0, 0};
    for (size_t a = 0; a < 2; a++) {
        const uint8_t *pred = robust_preds(&rr, 0, a);
        for (size_t i = 0; i < rr.n; i++)
            kept[a] += rr.clean_pred[i] == rr.label[i] && pred[i] == rr.label[i];
    }
    double clean = (double)rr.clean_correct / (double)rr.n;
    double rob = (double)kept[0] / (double)rr.n, fgsm = (double)kept[1] / (double)rr.n;
    robustness_free(&rr);
    table_num(mo->log, clean);
    table_num(mo->log, rob);
    table_num(mo->log, fgsm);
    if (!mo->o->quiet)
        progress_done("held-out after epoch %zu: clean %.4f, FGSM %.4f, PGD-%d %.4f",
                      epoch + 1, clean, fgsm, VAL_PGD_STEPS, rob);
    if (!res->have_val || rob > res->best_val_pgd) {
        res->have_val = 1;
        res->best_val_pgd = rob;
        res->best_val_clean = clean;
        res->best_epoch = epoch + 1;
        memcpy(mo->best, m->params, m->nparams * sizeof(float));
    }
    if (rob > mo->peak_pgd)
        mo->peak_pgd = rob;
    char d[300] = "";
    if (advtrain_collapse(mo->peak_pgd, rob))
        snprintf(d, sizeof d,
                 "catastrophic overfitting: held-out PGD-%d accuracy fell to %.4f at epoch %zu "
                 "(best %.4f at epoch %zu, which is the kept model)",
                 VAL_PGD_STEPS, rob, epoch + 1, res->best_val_pgd, res->best_epoch);
    else if (advtrain_masking(mo->at->eps_now, (float)mo->o->eps, fgsm, rob))
        snprintf(d, sizeof d,
                 "catastrophic overfitting: at epoch %zu the held-out images resist FGSM "
                 "(%.4f) but not PGD-%d (%.4f): the model has learnt to mask the one-step "
                 "attack, not to be robust",
                 epoch + 1, fgsm, VAL_PGD_STEPS, rob);
    if (d[0] && !res->collapsed) {
        res->collapsed = 1;
        res->collapse_epoch = epoch + 1;
        fprintf(stderr, "mnistsec: WARN: %s\n", d);
        if (mo->checks) {
            table_str(mo->checks, "no_catastrophic_overfitting");
            table_str(mo->checks, "WARN");
            table_str(mo->checks, d);
        }
    }
    return MS_OK;
}

ms_status advtrain_run(cnn *m, const dataset *train, const advtrain_opts *o, csv_table *log,
                       csv_table *checks, advtrain_result *res, ms_err *err)
{
    memset(res, 0, sizeof *res);
    const adv_method *am = o->method;
    if (o->val_count >= train->n)
        return ms_fail(err, MS_EUSAGE, "--val-count: %zu leaves no training images of %zu",
                       o->val_count, train->n);
    size_t steps = o->steps ? o->steps : am->steps;
    double step = o->step_size > 0 ? o->step_size : am->step_per_eps * o->eps / (double)steps;
    res->steps = steps;
    res->step_size = step;
    const attack_def *def = am->attack ? attack_find(am->attack) : &trades_kl;
    attack_params p = attack_params_default((float)o->eps, o->seed);
    p.steps = steps;
    p.step = (float)step;
    p.random_start = am->random_start;
    /* every example takes every step; the example trained on is PGD's result, the first
     * misclassified iterate or else the last (attack_pgd.c) -- Madry et al. train on
     * the last iterate, which differs only for examples misclassified on the way */
    p.keep_going = 1;
    p.salt = 0xAD7;
    attack_train at;
    ms_status s = attack_train_init(&at, def, &p, m, o->batch_size, err);
    if (s != MS_OK)
        return s;
    at.replace = am->batch == ADV_REPLACE;
    size_t n_train = train->n - o->val_count;
    size_t per_epoch = (n_train + o->batch_size - 1) / o->batch_size;
    at.ramp_steps = o->eps_ramp_epochs * per_epoch;
    at.eps_now = p.eps;

    uint32_t *idx = NULL;
    float *best = malloc(m->nparams * sizeof(float));
    if (o->val_count)
        idx = malloc(train->n * sizeof *idx);
    adam opt;
    int have_opt = 0;
    if (!best || (o->val_count && !idx))
        s = ms_fail(err, MS_EINTERNAL, "out of memory allocating the training monitor");
    if (s == MS_OK && (s = adam_create(&opt, m->nparams, o->lr, err)) == MS_OK)
        have_opt = 1;
    if (s == MS_OK) {
        for (size_t i = 0; i < train->n && idx; i++)
            idx[i] = (uint32_t)i;
        monitor mo = {.o = o, .train = train, .val = idx ? idx + n_train : NULL,
                      .nval = o->val_count, .at = &at, .opt = &opt, .log = log,
                      .checks = checks, .res = res, .best = best, .last_lr = o->lr};
        double beta = o->trades_beta;
        train_opts to = {.epochs = o->epochs,
                         .batch_size = o->batch_size,
                         .seed = o->seed,
                         .shuffle_stream = o->shuffle_stream,
                         .subset = idx,
                         .subset_n = idx ? n_train : 0,
                         .hook = attack_train_hook,
                         .hook_ctx = &at,
                         .hook_factor = 2,
                         .loss = am->batch == ADV_TRADES ? trades_loss : NULL,
                         .loss_ctx = &beta,
                         .lr_at = o->schedule == LR_CONSTANT ? NULL : lr_at,
                         .lr_ctx = &mo,
                         .epoch_end = epoch_end,
                         .epoch_ctx = &mo,
                         .quiet = o->quiet,
                         .phase = "adv-train"};
        train_stats st;
        s = train_run(m, &opt, train, &to, &st, err);
        if (s == MS_OK && res->have_val)
            memcpy(m->params, best, m->nparams * sizeof(float));
    }
    if (have_opt)
        adam_free(&opt);
    attack_train_free(&at);
    free(best), free(idx);
    return s;
}
