/* test_advtrain.c - adversarial training (advtrain.h): every method of the table lowers
 * its own training loss on bar images, PGD training makes a model robust where plain
 * training does not, every method gives the same bytes with 1 and 2 threads, the
 * collapse rule at its boundaries, the held-out monitor keeps the parameters of its
 * best epoch, and the learning-rate schedules against their formulas. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "advtrain.h"
#include "attack.h"
#include "fixtures.h"
#include "optim.h"
#include "results.h"
#include "test.h"
#include "train.h"

/* Bar images: the bar (1.0) against noise below 0.2, neighbours two columns apart. At
 * EPS a robust classifier exists (the bar keeps >= 0.7, any other column reaches <= 0.5)
 * but an undefended one is broken. */
#define EPS 0.3
#define BATCH 5


/* Options with every method's own steps and step size, a constant learning rate. */
static advtrain_opts opts_for(const adv_method *am, double eps, size_t epochs, uint64_t seed)
{
    advtrain_opts o = {.method = am,
                       .eps = eps,
                       .eps_ramp_epochs = 0,
                       .trades_beta = 6.0,
                       .epochs = epochs,
                       .batch_size = BATCH,
                       .lr = 2e-3,
                       .schedule = LR_CONSTANT,
                       .seed = seed,
                       .shuffle_stream = 40,
                       .quiet = 1};
    return o;
}

/* Runs advtrain_run on a fresh model (init seed 1) with the given thread count; the
 * caller destroys the model. Exits on a failed run (nothing else could be checked). */
static cnn *train_adv(const dataset *ds, const advtrain_opts *o, size_t threads,
                      advtrain_result *res, csv_table *log)
{
    cnn *m = make_model(2 * o->batch_size, threads, 0, 1);
    csv_table own;
    if (!log) {
        table_init(&own, "training_log.csv", ADVTRAIN_LOG_NCOLS, advtrain_log_columns);
        log = &own;
    }
    ms_err err;
    ms_status s = advtrain_run(m, ds, o, log, NULL, res, &err);
    if (log == &own)
        table_free(&own);
    if (s != MS_OK) {
        fprintf(stderr, "advtrain_run (%s): %s\n", o->method->name, err.msg);
        exit(1);
    }
    return m;
}

/* Plain training (mean cross-entropy, Adam) with the same data, seed and budget. */
static cnn *train_plain(const dataset *ds, const advtrain_opts *o)
{
    cnn *m = make_model(2 * o->batch_size, 1, 0, 1);
    adam opt;
    ms_err err;
    if (adam_create(&opt, m->nparams, o->lr, &err) != MS_OK)
        exit(1);
    train_opts to = {.epochs = o->epochs, .batch_size = o->batch_size, .seed = o->seed,
                     .shuffle_stream = o->shuffle_stream, .quiet = 1, .phase = "plain"};
    train_stats st;
    if (train_run(m, &opt, ds, &to, &st, &err) != MS_OK) {
        fprintf(stderr, "train_run: %s\n", err.msg);
        exit(1);
    }
    adam_free(&opt);
    return m;
}

/* Images of ds still classified correctly under PGD-20 (step 2.5 eps / 20, random
 * start) at eps, in batches of the model's size; the clean count in *clean. */
static size_t pgd_correct(cnn *m, const dataset *ds, double eps, size_t *clean)
{
    const size_t cap = m->max_batch;
    attack_ws ws;
    ms_err err;
    if (attack_ws_create(&ws, cap, CNN_PIXELS, CNN_CLASSES, &err) != MS_OK)
        exit(1);
    float *adv = malloc(cap * CNN_PIXELS * sizeof(float));
    float *loss = malloc(cap * sizeof(float));
    uint8_t *correct = malloc(cap), *pred = malloc(cap);
    uint32_t *ids = malloc(cap * sizeof *ids);
    if (!adv || !loss || !correct || !pred || !ids)
        exit(1);
    attack_params p = attack_params_default((float)eps, 99);
    p.steps = 20;
    p.step = (float)(2.5 * eps / 20);
    attack_model am = cnn_attack_model(m);
    size_t robust = 0;
    *clean = 0;
    for (size_t lo = 0; lo < ds->n; lo += cap) {
        size_t n = ds->n - lo < cap ? ds->n - lo : cap;
        const float *x = ds->pixels_f32 + lo * CNN_PIXELS;
        const uint8_t *y = ds->labels + lo;
        for (size_t i = 0; i < n; i++)
            ids[i] = (uint32_t)(lo + i);
        attack_batch b = {x, y, ids, n};
        attack_out out = {adv, loss, correct};
        attack_stats st = {0};
        if (attack_run(attack_find("pgd"), &am, &b, &p, &ws, &out, &st, &err) != MS_OK) {
            fprintf(stderr, "pgd: %s\n", err.msg);
            exit(1);
        }
        cnn_argmax(cnn_forward(m, x, n), n, pred);
        for (size_t i = 0; i < n; i++)
            robust += correct[i], *clean += pred[i] == y[i];
    }
    attack_ws_free(&ws);
    free(adv), free(loss), free(correct), free(pred), free(ids);
    return robust;
}

/* ---- 1. every method learns; PGD training buys robustness ------------------------ */

/* Each row of the method table, at a small eps, lowers its own training loss to well
 * under its first epoch's (a method whose loss or adversarial batch is wrong stays near
 * ln 10 = 2.30 or rises). */
static void test_methods_lower_their_loss(void)
{
    dataset ds = bar_dataset(30, 11);
    CHECK(adv_method_count() >= 4, "%zu methods", adv_method_count());
    for (size_t i = 0; i < adv_method_count(); i++) {
        const adv_method *am = adv_method_at(i);
        advtrain_opts o = opts_for(am, 0.1, 4, 7);
        advtrain_result res;
        cnn *m = train_adv(&ds, &o, 1, &res, NULL);
        double first = res.epoch_loss[0], last = res.epoch_loss[res.epochs - 1];
        fprintf(stderr, "  %-8s eps 0.1, training loss by epoch:", am->name);
        for (size_t e = 0; e < res.epochs; e++)
            fprintf(stderr, " %.4f", res.epoch_loss[e]);
        fputc('\n', stderr);
        CHECK(res.epochs == o.epochs, "%s: %zu epochs of %zu", am->name, res.epochs, o.epochs);
        CHECK(isfinite(first) && first > 2.0, "%s: first epoch's loss %.4f", am->name, first);
        CHECK(isfinite(last) && last < 0.6 * first, "%s: training loss %.4f -> %.4f", am->name,
              first, last);
        cnn_destroy(m);
    }
    CHECK(adv_method_at(adv_method_count()) == NULL, "a row past the end");
    dataset_free(&ds);
}

/* PGD training (eps ramped over the first 2 epochs) against plain training on the same
 * images, seed and budget: under PGD-20 at the training eps on other bar images the
 * plain model keeps few, the PGD-trained one most. */
static void test_pgd_training_is_robust(void)
{
    dataset ds = bar_dataset(30, 11), test = bar_dataset(30, 12);
    advtrain_opts o = opts_for(adv_method_find("pgd"), EPS, 5, 7);
    o.eps_ramp_epochs = 2;
    advtrain_result res;
    cnn *adv = train_adv(&ds, &o, 1, &res, NULL);
    cnn *plain = train_plain(&ds, &o);
    size_t clean_a, clean_p;
    size_t rob_a = pgd_correct(adv, &test, EPS, &clean_a);
    size_t rob_p = pgd_correct(plain, &test, EPS, &clean_p);
    fprintf(stderr, "  eps %.2f on %zu images: plain clean %zu, PGD-20 %zu; pgd-trained clean "
            "%zu, PGD-20 %zu\n", EPS, test.n, clean_p, rob_p, clean_a, rob_a);
    CHECK(clean_p >= test.n * 9 / 10, "plain training did not learn (%zu/%zu)", clean_p, test.n);
    CHECK(rob_p <= test.n / 4, "the undefended model keeps %zu/%zu: eps too small to tell",
          rob_p, test.n);
    CHECK(rob_a >= rob_p + test.n / 2, "PGD training keeps %zu/%zu, plain training %zu", rob_a,
          test.n, rob_p);
    cnn_destroy(adv), cnn_destroy(plain);
    dataset_free(&ds), dataset_free(&test);
}

/* ---- 2. the same bytes whatever the thread count ------------------------------- */

static void test_threads_bit_identical(void)
{
    dataset ds = bar_dataset(12, 21);
    for (size_t i = 0; i < adv_method_count(); i++) {
        const adv_method *am = adv_method_at(i);
        advtrain_opts o = opts_for(am, EPS, 2, 3);
        o.val_count = 2;
        o.eps_ramp_epochs = 1;
        advtrain_result r1, r2;
        cnn *m1 = train_adv(&ds, &o, 1, &r1, NULL);
        cnn *m2 = train_adv(&ds, &o, 2, &r2, NULL);
        size_t differ = 0;
        for (size_t k = 0; k < m1->nparams; k++)
            differ += memcmp(&m1->params[k], &m2->params[k], sizeof(float)) != 0;
        CHECK(differ == 0, "%s: %zu of %zu parameters differ between 1 and 2 threads", am->name,
              differ, m1->nparams);
        CHECK(memcmp(r1.epoch_loss, r2.epoch_loss, r1.epochs * sizeof(double)) == 0 &&
                  r1.epochs == r2.epochs,
              "%s: epoch losses differ (%.9g vs %.9g)", am->name, r1.epoch_loss[0],
              r2.epoch_loss[0]);
        CHECK(r1.best_epoch == r2.best_epoch && r1.best_val_pgd == r2.best_val_pgd,
              "%s: held-out monitor differs (epoch %zu %.4f vs %zu %.4f)", am->name,
              r1.best_epoch, r1.best_val_pgd, r2.best_epoch, r2.best_val_pgd);
        /* a different seed gives different bytes, so equality above is not vacuous */
        if (i == 0) {
            advtrain_opts o2 = o;
            o2.seed = 4;
            advtrain_result r3;
            cnn *m3 = train_adv(&ds, &o2, 1, &r3, NULL);
            CHECK(memcmp(m1->params, m3->params, m1->nparams * sizeof(float)) != 0,
                  "the seed has no effect");
            cnn_destroy(m3);
        }
        cnn_destroy(m1), cnn_destroy(m2);
    }
    dataset_free(&ds);
}

/* ---- 3. the held-out monitor ----------------------------------------------------- */

/* The rule against counts over n, computed in integers: a drop of more than 20 points,
 * or below 10% after above 50%. */
static int collapse_exact(size_t peak, size_t now, size_t n)
{
    return (peak - now) * 5 > n || (peak * 2 > n && now * 10 < n);
}

static void test_collapse_rule(void)
{
    /* the masking rule: FGSM more than 50 points above PGD, once epsilon has ramped up */
    CHECK(advtrain_masking(0.3f, 0.3f, 0.84, 0.009) && advtrain_masking(0.3f, 0.3f, 0.61, 0.10) &&
              !advtrain_masking(0.3f, 0.3f, 0.60, 0.10) &&
              !advtrain_masking(0.3f, 0.3f, 0.5, 0.0) && !advtrain_masking(0.3f, 0.3f, 0.3, 0.9),
          "masking rule boundaries");
    CHECK(!advtrain_masking(0.15f, 0.3f, 0.79, 0.0) && !advtrain_masking(0.29f, 0.3f, 0.99, 0.0) &&
              advtrain_masking(0.1f, 0.1f, 0.99, 0.0),
          "masking rule during the epsilon ramp");
    static const struct {
        double peak, now;
        int fires;
    } cases[] = {
        {0.90, 0.65, 1}, /* 25 points down */
        {0.90, 0.75, 0}, /* 15 points down */
        {0.90, 0.70, 0}, /* exactly 20 points: not "more than" */
        {0.90, 0.6999, 1},
        {0.80, 0.60, 0}, /* exactly 20 points, where 0.8 - 0.2 > 0.6 in doubles */
        {0.80, 0.5999, 1},
        {0.55, 0.08, 1}, /* below 10% after above 50% */
        {0.45, 0.08, 1}, /* not armed, but 37 points down */
        {0.25, 0.06, 0}, /* 19 points down, never above 50% */
        {0.29, 0.09, 0}, /* 20 points down, below 10%, never above 50% */
        {0.30, 0.0999, 1},
        {0.50, 0.31, 0},
        {0.50, 0.29, 1},
        {1.00, 1.00, 0},
        {0.00, 0.00, 0},
        {1.00, 0.00, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(advtrain_collapse(cases[i].peak, cases[i].now) == cases[i].fires,
              "peak %.4f, now %.4f: %s", cases[i].peak, cases[i].now,
              cases[i].fires ? "did not fire" : "fired");
    /* every pair of accuracies k/n with now <= peak, against the rule in integers */
    static const size_t ns[] = {10, 20, 30, 100, 1000};
    size_t wrong = 0;
    for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
        const size_t n = ns[j];
        for (size_t peak = 0; peak <= n; peak++)
            for (size_t now = 0; now <= peak; now++) {
                int want = collapse_exact(peak, now, n);
                int got = advtrain_collapse((double)peak / (double)n, (double)now / (double)n);
                if (got != want && wrong++ < 5)
                    fprintf(stderr, "  n %zu: peak %zu, now %zu: %d, want %d\n", n, peak, now,
                            got, want);
            }
    }
    CHECK(wrong == 0, "%zu pairs of counts decided wrongly", wrong);
}

/* The val_pgd_accuracy and val_fgsm_accuracy columns of a training log, row r
 * (0-based). */
static double log_val_pgd(const csv_table *t, size_t r)
{
    return strtod(t->cell[r * t->ncols + 6], NULL);
}
static double log_val_fgsm(const csv_table *t, size_t r)
{
    return strtod(t->cell[r * t->ncols + 7], NULL);
}

/* Trains with a held-out monitor on the last val images of ds and checks the result
 * against its own log: the kept epoch is the first with the best logged PGD accuracy,
 * and collapse is reported exactly where the rule says. Returns the model. */
static cnn *train_monitored(const dataset *ds, const advtrain_opts *o, advtrain_result *res)
{
    csv_table log;
    table_init(&log, "training_log.csv", ADVTRAIN_LOG_NCOLS, advtrain_log_columns);
    cnn *m = train_adv(ds, o, 1, res, &log);
    CHECK(res->have_val && res->epochs == o->epochs, "have_val %d, %zu epochs", res->have_val,
          res->epochs);
    CHECK(log.status == MS_OK && table_rows(&log) == o->epochs, "log: %zu rows, status %d",
          table_rows(&log), (int)log.status);
    size_t argmax = 0, collapse_epoch = 0;
    double best = -1.0, peak = 0.0;
    fprintf(stderr, "  held-out PGD accuracy by epoch:");
    for (size_t e = 0; e < table_rows(&log) && e < o->epochs; e++) {
        double v = log_val_pgd(&log, e);
        fprintf(stderr, " %.2f", v);
        if (v > best)
            best = v, argmax = e + 1;
        peak = v > peak ? v : peak;
        float eps_now = strtof(log.cell[e * log.ncols + 1], NULL); /* the logged epsilon */
        if (!collapse_epoch &&
            (advtrain_collapse(peak, v) ||
             advtrain_masking(eps_now, (float)o->eps, log_val_fgsm(&log, e), v)))
            collapse_epoch = e + 1;
    }
    fprintf(stderr, "; kept epoch %zu\n", res->best_epoch);
    CHECK(res->best_epoch == argmax && close_enough(res->best_val_pgd, best, 1e-9, 0),
          "kept epoch %zu (%.4f), the log's best is epoch %zu (%.4f)", res->best_epoch,
          res->best_val_pgd, argmax, best);
    CHECK(res->collapsed == (collapse_epoch != 0) &&
              (!res->collapsed || res->collapse_epoch == collapse_epoch),
          "collapse reported %d at epoch %zu, the rule says epoch %zu", res->collapsed,
          res->collapse_epoch, collapse_epoch);
    table_free(&log);
    return m;
}

/* With val_count > 0 the kept parameters are those of the first epoch with the best
 * held-out PGD accuracy. On correctly labelled held-out images that accuracy rises
 * during training (so the kept epoch is the best, not the first). When the held-out
 * images carry the label of the next class, training drives it down, an early epoch is
 * kept, and training again for best_epoch epochs must give the same bytes. */
static void test_keeps_best_epoch(void)
{
    enum { N = 30, VAL = 10, EPOCHS = 4 };
    dataset ds = bar_dataset(N, 31);
    advtrain_opts o = opts_for(adv_method_find("fgsm-rs"), 0.1, EPOCHS, 5);
    o.val_count = VAL;
    advtrain_result res;
    cnn *m = train_monitored(&ds, &o, &res);
    CHECK(res.best_val_pgd >= 0.5 && res.best_epoch > 1, "kept epoch %zu with %.2f: the "
          "held-out accuracy should rise", res.best_epoch, res.best_val_pgd);
    cnn_destroy(m);

    for (size_t i = N - VAL; i < N; i++)
        ds.labels[i] = (uint8_t)((ds.labels[i] + 1) % CNN_CLASSES);
    m = train_monitored(&ds, &o, &res);
    CHECK(res.best_epoch >= 1 && res.best_epoch < EPOCHS,
          "kept epoch %zu: the fixture should make an early epoch the best", res.best_epoch);
    advtrain_opts o2 = o;
    o2.epochs = res.best_epoch;
    advtrain_result res2;
    cnn *m2 = train_adv(&ds, &o2, 1, &res2, NULL);
    CHECK(res2.best_epoch == res.best_epoch, "rerun kept epoch %zu", res2.best_epoch);
    CHECK(memcmp(m->params, m2->params, m->nparams * sizeof(float)) == 0,
          "kept parameters are not those of epoch %zu", res.best_epoch);
    /* and they score the kept clean accuracy on the held-out images */
    uint8_t pred[VAL];
    cnn_argmax(cnn_forward(m, ds.pixels_f32 + (N - VAL) * CNN_PIXELS, VAL), VAL, pred);
    size_t clean = 0;
    for (size_t i = 0; i < VAL; i++)
        clean += pred[i] == ds.labels[N - VAL + i];
    CHECK(close_enough(res.best_val_clean, (double)clean / VAL, 1e-12, 0),
          "kept clean accuracy %.4f, the kept model scores %zu/%d", res.best_val_clean, clean,
          VAL);
    cnn_destroy(m), cnn_destroy(m2);
    dataset_free(&ds);
}

/* ---- 4. learning-rate schedules ------------------------------------------------- */

static void test_lr_schedules(void)
{
    const double lr = 0.01, pi = 3.14159265358979323846;
    const size_t T = 100;
    static const struct {
        lr_schedule s;
        size_t t;
        double want; /* as a multiple of lr */
    } cases[] = {
        {LR_CONSTANT, 0, 1.0},
        {LR_CONSTANT, 50, 1.0},
        {LR_CONSTANT, 100, 1.0},
        {LR_COSINE, 0, 1.0},
        {LR_COSINE, 25, 0.85355339059327373}, /* (2 + sqrt 2) / 4 */
        {LR_COSINE, 50, 0.5},
        {LR_COSINE, 75, 0.14644660940672627},
        {LR_COSINE, 100, 0.0},
        {LR_ONECYCLE, 0, 0.04},                /* warm-up from 4% */
        {LR_ONECYCLE, 15, 0.52},               /* half-way up */
        {LR_ONECYCLE, 29, 0.04 + 0.96 * 0.29 / 0.3},
        {LR_ONECYCLE, 30, 1.0},                /* the peak at 30% */
        {LR_ONECYCLE, 65, 0.5},                /* half-way down */
        {LR_ONECYCLE, 100, 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = lr_schedule_at(cases[i].s, lr, cases[i].t, T);
        CHECK(close_enough(got, lr * cases[i].want, 1e-15, 1e-12), "%s at %zu/%zu: %.17g, want "
              "%.17g", lr_schedule_name(cases[i].s), cases[i].t, T, got, lr * cases[i].want);
    }
    /* shapes: cosine falls, one-cycle rises to the peak then falls, all in [0, lr] */
    for (size_t t = 1; t <= T; t++) {
        double c0 = lr_schedule_at(LR_COSINE, lr, t - 1, T);
        double c1 = lr_schedule_at(LR_COSINE, lr, t, T);
        double o0 = lr_schedule_at(LR_ONECYCLE, lr, t - 1, T);
        double o1 = lr_schedule_at(LR_ONECYCLE, lr, t, T);
        CHECK(c1 < c0, "cosine rises at %zu", t);
        CHECK(t <= 30 ? o1 > o0 : o1 < o0, "one-cycle at %zu: %.6g after %.6g", t, o1, o0);
        CHECK(o1 >= 0.0 && o1 <= lr && c1 >= 0.0 && c1 <= lr, "outside [0, lr] at %zu", t);
    }
    /* a formula check away from the table's points */
    double f = 0.4;
    CHECK(close_enough(lr_schedule_at(LR_ONECYCLE, lr, 40, T),
                       lr * 0.5 * (1.0 + cos(pi * (f - 0.3) / 0.7)), 1e-15, 1e-12),
          "one-cycle at 40/100");
    CHECK(strcmp(lr_schedule_name(LR_CONSTANT), "constant") == 0 &&
              strcmp(lr_schedule_name(LR_COSINE), "cosine") == 0 &&
              strcmp(lr_schedule_name(LR_ONECYCLE), "onecycle") == 0,
          "schedule names");
}

int main(void)
{
    RUN(test_collapse_rule);
    RUN(test_lr_schedules);
    RUN(test_methods_lower_their_loss);
    RUN(test_pgd_training_is_robust);
    RUN(test_threads_bit_identical);
    RUN(test_keeps_best_epoch);
    TEST_END();
}
