/* modes.c - the experiments and the mode table (see modes.h).
 *
 *   baseline      train (or --load), evaluate on the clean test set
 *   poisoned      poison training images of a source class with the trigger and the
 *                 target label, train, measure the backdoor (--poison-sweep: once per
 *                 count, backdoor_sweep.c)
 *   adv_only      FGSM against the baseline (trained here or --load'ed)
 *   adv_training  baseline, then FGSM adversarial training; before/after numbers
 *
 * A mode adds metric rows, confusion matrices and tables to the run; run.c writes
 * them all at the end.
 */
#include "modes.h"

#include <stdlib.h>
#include <string.h>

#include "advtrain.h"
#include "attack.h"
#include "backdoor_defense.h"
#include "backdoor_sweep.h"
#include "checked.h"
#include "eval.h"
#include "optim.h"
#include "poison.h"
#include "robust_eval.h"
#include "rng.h"
#include "train.h"

#define EVAL_BATCH 100
#define LATENCY_IMAGES 200 /* per pass */
#define LATENCY_PASSES 5
#define PUBLISHED_ATTACK_SUBSET 640 /* the published script attacked 10 batches of 64 */
#define PUBLISHED_TRIGGERED_SOURCE 100 /* test images of the source class it triggered */

/* ---- training ------------------------------------------------------------------ */

ms_status mode_train_model(run *r, const uint8_t *drop, const char *phase, train_stats *st,
                           ms_err *err)
{
    const config *c = r->c;
    uint32_t *keep = NULL;
    size_t k = 0;
    if (drop) {
        if (!(keep = malloc(r->train.n * sizeof *keep)))
            return ms_fail(err, MS_EINTERNAL, "out of memory");
        for (size_t i = 0; i < r->train.n; i++)
            if (!drop[i])
                keep[k++] = (uint32_t)i;
    }
    cnn_init(r->m, c->seed);
    train_opts o = {.epochs = c->epochs,
                    .batch_size = c->batch_size,
                    .seed = c->seed,
                    .shuffle_stream = RNG_STREAM_SHUFFLE,
                    .subset = keep,
                    .subset_n = k,
                    .quiet = c->quiet,
                    .phase = phase};
    adam opt;
    ms_status s = adam_create(&opt, r->m->nparams, c->lr, err);
    if (s == MS_OK) {
        s = train_run(r->m, &opt, &r->train, &o, st, err);
        adam_free(&opt);
    }
    free(keep);
    return s;
}

static void epoch_loss_rows(run *r, const char *prefix, const train_stats *st)
{
    for (size_t e = 0; e < st->epochs; e++) {
        char name[48];
        snprintf(name, sizeof name, "loss_epoch_%zu", e + 1);
        metrics_num2(&r->mt, prefix, name, st->epoch_loss[e]);
    }
}

/* The baseline model: loaded, or initialised and trained on the (possibly poisoned)
 * training set. */
static ms_status baseline_model(run *r, ms_err *err)
{
    const config *c = r->c;
    if (c->load) {
        ms_status s = cnn_load(r->m, c->load, err);
        return s != MS_OK ? s : eval_check_finite(r->m, &r->test, c->load, err);
    }
    train_stats st;
    ms_status s = mode_train_model(r, NULL, "train", &st, err);
    if (s != MS_OK)
        return s;
    metrics_time(&r->mt, "train_seconds", st.seconds);
    epoch_loss_rows(r, "train_", &st);
    return MS_OK;
}

/* ---- evaluation ----------------------------------------------------------------- */

static void clean_rows(run *r, const char *prefix, const eval_result *res)
{
    metrics_num2(&r->mt, prefix, "clean_loss", eval_loss(res));
    metrics_num2(&r->mt, prefix, "clean_accuracy", eval_accuracy(res));
}

static ms_status eval_clean(run *r, const char *prefix, eval_result *res, ms_err *err)
{
    ms_status s = evaluate(r->m, &r->test, NULL, r->test.n, EVAL_BATCH, NULL, NULL, res, err);
    if (s == MS_OK)
        clean_rows(r, prefix, res);
    return s;
}

/* Batch-1 latency, and throughput at EVAL_BATCH from the clean evaluation's timing. */
static void inference_timing(run *r, const eval_result *clean)
{
    metrics_time(&r->mt, "inference_ms_per_image",
                 eval_latency_ms(r->m, &r->test, LATENCY_IMAGES, LATENCY_PASSES));
    metrics_int(&r->mt, "inference_batch", EVAL_BATCH);
    metrics_time(&r->mt, "inference_images_per_second",
                 clean->seconds > 0 ? (double)clean->count / clean->seconds : 0.0);
}

/* The attack's accuracy on the first `count` test images; rows under prefix. */
static ms_status eval_attack(run *r, const attack_def *a, const attack_params *p,
                             const char *prefix, size_t count, eval_result *res, ms_err *err)
{
    attack_eval ae;
    ms_status s = attack_eval_init(&ae, a, p, r->m, EVAL_BATCH, err);
    if (s != MS_OK)
        return s;
    s = evaluate(r->m, &r->test, NULL, count, EVAL_BATCH, attack_transform, &ae, res, err);
    if (s == MS_OK) {
        const attack_stats *st = &ae.st;
        double n = st->count ? (double)st->count : 1.0;
        metrics_num2(&r->mt, prefix, "adv_accuracy", eval_accuracy(res));
        metrics_num2(&r->mt, prefix, "adv_loss", eval_loss(res));
        metrics_num2(&r->mt, prefix, "mean_linf", st->count ? st->sum_linf / n : 0.0);
        metrics_num2(&r->mt, prefix, "max_linf", st->max_linf);
        metrics_num2(&r->mt, prefix, "mean_l2", st->count ? st->sum_l2 / n : 0.0);
        metrics_time2(&r->mt, prefix, "attack_seconds", st->seconds);
        metrics_time2(&r->mt, prefix, "attack_images_per_second",
                      st->seconds > 0 ? (double)st->count / st->seconds : 0.0);
    }
    attack_eval_free(&ae);
    return s;
}

/* The published attack: FGSM at --epsilon. */
static attack_params fgsm_params(const run *r)
{
    return attack_params_default((float)r->c->epsilon, r->c->seed);
}

/* ---- baseline ------------------------------------------------------------------- */

static ms_status mode_baseline(run *r, ms_err *err)
{
    ms_status s = baseline_model(r, err);
    if (s != MS_OK)
        return s;
    eval_result clean;
    if ((s = eval_clean(r, "", &clean, err)) != MS_OK)
        return s;
    inference_timing(r, &clean);
    confusions_add(&r->conf, "clean", (const uint64_t(*)[CNN_CLASSES])clean.confusion, 1);
    return MS_OK;
}

/* ---- poisoned ------------------------------------------------------------------- */

/* examples.png: the first test images of the source class, clean and triggered. */
static void backdoor_gallery(run *r)
{
    const config *c = r->c;
    gallery *g = calloc(1, sizeof *g);
    if (!g)
        return; /* the pictures are optional; the numbers are not affected */
    snprintf(g->title, sizeof g->title, "Backdoor: test images of class %d, clean and triggered",
             c->poison_source);
    g->ncols = 2;
    g->col_names[0] = "clean", g->col_names[1] = "triggered";
    for (uint32_t i = 0; i < r->test.n && g->nrows < GALLERY_ROWS; i++) {
        if (r->test.labels[i] != c->poison_source)
            continue;
        size_t k = g->nrows * 2;
        dataset_batch(&r->test, &i, 1, g->cell[k], NULL);
        memcpy(g->cell[k + 1], g->cell[k], sizeof g->cell[k]);
        poison_trigger(g->cell[k + 1], 1);
        for (size_t v = 0; v < 2; v++) {
            uint8_t pred;
            cnn_argmax(cnn_forward(r->m, g->cell[k + v], 1), 1, &pred);
            snprintf(g->caption[k + v], sizeof g->caption[k + v], "#%lu pred %d",
                     (unsigned long)i, pred);
        }
        g->nrows++;
    }
    free(r->gallery);
    r->gallery = g;
}

static ms_status mode_poisoned(run *r, ms_err *err)
{
    const config *c = r->c;
    if (c->poison_sweep.n)
        return backdoor_sweep(r, err);
    poison_opts po = {c->poison_count, c->poison_source, c->poison_target,
                      (poison_pick)c->poison_pick, c->seed};
    ms_status s;
    if (!c->load) {
        r->poisoned = malloc(c->poison_count * sizeof *r->poisoned);
        if (!r->poisoned)
            return ms_fail(err, MS_EINTERNAL, "out of memory");
        if ((s = poison_select(&r->train, &po, r->poisoned, err)) != MS_OK)
            return s;
        r->npoisoned = c->poison_count;
        poison_apply(&r->train, r->poisoned, r->npoisoned, c->poison_target);
    }
    metrics_int(&r->mt, "poison_count", c->poison_count);
    backdoor_poison_rows(r);
    metrics_int(&r->mt, "poisoned_train_count", r->npoisoned);
    if ((s = baseline_model(r, err)) != MS_OK)
        return s;

    eval_result clean, trig, pub;
    backdoor_metrics bm;
    if ((s = backdoor_evaluate(r, &clean, &trig, &bm, err)) != MS_OK)
        return s;
    clean_rows(r, "", &clean);
    /* The published protocol: the first 100 test images of the source class get the
     * trigger (labels kept) and the whole test set is scored. */
    uint8_t *mark = calloc(r->test.n, 1);
    if (!mark)
        return ms_fail(err, MS_EINTERNAL, "out of memory");
    for (size_t i = 0, k = 0; i < r->test.n && k < PUBLISHED_TRIGGERED_SOURCE; i++)
        if (r->test.labels[i] == c->poison_source)
            mark[i] = 1, k++;
    backdoor_trigger first100 = {mark};
    s = evaluate(r->m, &r->test, NULL, r->test.n, EVAL_BATCH, backdoor_trigger_transform,
                 &first100, &pub, err);
    free(mark);
    if (s != MS_OK)
        return s;

    metrics_int(&r->mt, "triggered_source_images", bm.triggered_source_images);
    metrics_num(&r->mt, "attack_success_rate", bm.attack_success_rate);
    metrics_num(&r->mt, "source_clean_accuracy", bm.source_clean_accuracy);
    metrics_num(&r->mt, "source_clean_to_target_rate", bm.source_clean_to_target_rate);
    metrics_num(&r->mt, "triggered_nonsource_accuracy", bm.triggered_nonsource_accuracy);
    metrics_num(&r->mt, "triggered_other_to_target_rate", bm.triggered_other_to_target_rate);
    metrics_num(&r->mt, "triggered_accuracy", eval_accuracy(&trig));
    metrics_num(&r->mt, "published_protocol_accuracy", eval_accuracy(&pub));
    inference_timing(r, &clean);
    confusions_add(&r->conf, "clean", (const uint64_t(*)[CNN_CLASSES])clean.confusion, 1);
    confusions_add(&r->conf, "triggered", (const uint64_t(*)[CNN_CLASSES])trig.confusion, 0);
    backdoor_gallery(r);
    backdoor_figures before = {eval_accuracy(&clean), bm.attack_success_rate};
    return backdoor_defend(r, &before, err);
}

/* ---- adv_only ------------------------------------------------------------------- */

static ms_status mode_adv_only(run *r, ms_err *err)
{
    const config *c = r->c;
    ms_status s = baseline_model(r, err);
    if (s != MS_OK)
        return s;
    eval_result clean, adv;
    if ((s = eval_clean(r, "", &clean, err)) != MS_OK)
        return s;
    size_t count = c->attack_limit && c->attack_limit < r->test.n ? c->attack_limit : r->test.n;
    metrics_num(&r->mt, "epsilon", c->epsilon);
    metrics_int(&r->mt, "attack_images", count);
    if (c->save_adv) {
        size_t bytes;
        if (!size_mul3(&bytes, count, CNN_PIXELS, sizeof(float)))
            return ms_fail(err, MS_EINTERNAL, "adversarial set size overflows");
        r->adv_images = malloc(bytes);
        r->adv_labels = malloc(count);
        if (!r->adv_images || !r->adv_labels)
            return ms_fail(err, MS_EINTERNAL, "out of memory keeping adversarial images");
        r->adv_n = count;
    }
    const attack_def *fgsm = attack_find("fgsm");
    attack_params p = fgsm_params(r);
    if ((s = eval_attack(r, fgsm, &p, "", count, &adv, err)) != MS_OK)
        return s;
    /* The published figure came from the first 640 test images only: score that subset
     * too (its own pass and rows, published_subset_*) */
    size_t sub = count < PUBLISHED_ATTACK_SUBSET ? count : PUBLISHED_ATTACK_SUBSET;
    eval_result sub_clean, sub_adv;
    metrics_int(&r->mt, "published_subset_images", sub);
    if ((s = evaluate(r->m, &r->test, NULL, sub, EVAL_BATCH, NULL, NULL, &sub_clean, err)) !=
        MS_OK)
        return s;
    metrics_num(&r->mt, "published_subset_clean_accuracy", eval_accuracy(&sub_clean));
    if ((s = eval_attack(r, fgsm, &p, "published_subset_", sub, &sub_adv, err)) != MS_OK)
        return s;
    /* the attacks of --attack, with the sanity checks (and --save-adv's worst cases) */
    if ((s = robust_eval_run(r, "", err)) != MS_OK)
        return s;
    inference_timing(r, &clean);
    confusions_add(&r->conf, "clean", (const uint64_t(*)[CNN_CLASSES])clean.confusion, 1);
    confusions_add(&r->conf, "adv", (const uint64_t(*)[CNN_CLASSES])adv.confusion, 0);
    return MS_OK;
}

/* ---- adv_training --------------------------------------------------------------- */

static ms_status mode_adv_training(run *r, ms_err *err)
{
    const config *c = r->c;
    const int scratch = c->adv_from == ADV_FROM_SCRATCH;
    ms_status s;
    if (scratch)
        cnn_init(r->m, c->seed);
    else if ((s = baseline_model(r, err)) != MS_OK)
        return s;
    metrics_num(&r->mt, "epsilon", c->epsilon);
    metrics_int(&r->mt, "adv_epochs", c->adv_epochs);
    metrics_num(&r->mt, "adv_lr", c->adv_lr);
    const attack_def *fgsm = attack_find("fgsm");
    attack_params p = fgsm_params(r);
    eval_result before_clean, before_adv, after_clean, after_adv;
    if (!scratch) {
        if ((s = eval_clean(r, "before_", &before_clean, err)) != MS_OK)
            return s;
        if ((s = eval_attack(r, fgsm, &p, "before_", r->test.n, &before_adv, err)) != MS_OK)
            return s;
    }

    advtrain_opts ao = {.method = c->adv_method,
                        .eps = c->adv_eps,
                        .steps = c->adv_steps,
                        .step_size = c->adv_step_size,
                        .eps_ramp_epochs = c->adv_eps_ramp,
                        .trades_beta = c->trades_beta,
                        .epochs = c->adv_epochs,
                        .batch_size = c->batch_size,
                        .lr = c->adv_lr,
                        .schedule = (lr_schedule)c->lr_schedule,
                        .val_count = c->val_count,
                        .seed = c->seed,
                        .shuffle_stream = RNG_STREAM_SHUFFLE + 16,
                        .quiet = c->quiet};
    csv_table *log =
        run_table(r, "training_log.csv", ADVTRAIN_LOG_NCOLS, advtrain_log_columns);
    if (!log)
        return ms_fail(err, MS_EINTERNAL, "out of memory");
    advtrain_result ar;
    if ((s = advtrain_run(r->m, &r->train, &ao, log, run_checks(r), &ar, err)) != MS_OK)
        return s;
    metrics_str(&r->mt, "adv_method", c->adv_method->name);
    metrics_str(&r->mt, "adv_from", scratch ? "scratch" : "baseline");
    metrics_num(&r->mt, "adv_eps", c->adv_eps);
    metrics_int(&r->mt, "adv_steps", ar.steps);
    metrics_num(&r->mt, "adv_step_size", ar.step_size);
    metrics_int(&r->mt, "adv_eps_ramp_epochs", c->adv_eps_ramp);
    metrics_int(&r->mt, "val_count", c->val_count);
    metrics_time(&r->mt, "adv_train_seconds", ar.seconds);
    train_stats st = {.epochs = ar.epochs};
    memcpy(st.epoch_loss, ar.epoch_loss, sizeof st.epoch_loss);
    epoch_loss_rows(r, "adv_train_", &st);
    if (ar.have_val) {
        metrics_int(&r->mt, "best_epoch", ar.best_epoch);
        metrics_num(&r->mt, "best_val_pgd_accuracy", ar.best_val_pgd);
        metrics_num(&r->mt, "best_val_clean_accuracy", ar.best_val_clean);
        metrics_int(&r->mt, "collapse_epoch", ar.collapsed ? ar.collapse_epoch : 0);
    }
    if ((s = eval_clean(r, "after_", &after_clean, err)) != MS_OK)
        return s;
    if ((s = eval_attack(r, fgsm, &p, "after_", r->test.n, &after_adv, err)) != MS_OK)
        return s;
    if ((s = robust_eval_run(r, "after_", err)) != MS_OK)
        return s;
    metrics_num(&r->mt, "clean_accuracy", eval_accuracy(&after_clean));
    metrics_num(&r->mt, "adv_accuracy", eval_accuracy(&after_adv));
    inference_timing(r, &after_clean);
    confusions_add(&r->conf, "clean", (const uint64_t(*)[CNN_CLASSES])after_clean.confusion, 1);
    confusions_add(&r->conf, "adv", (const uint64_t(*)[CNN_CLASSES])after_adv.confusion, 0);
    if (!scratch) {
        confusions_add(&r->conf, "clean_before",
                       (const uint64_t(*)[CNN_CLASSES])before_clean.confusion, 0);
        confusions_add(&r->conf, "adv_before",
                       (const uint64_t(*)[CNN_CLASSES])before_adv.confusion, 0);
    }
    return MS_OK;
}

/* ---- the mode table ------------------------------------------------------------- */

static const mode_def modes[] = {
    {"baseline", mode_baseline, NEEDS_TRAIN_UNLESS_LOADED, 1, 0, 0, 0, 0,
     "train on clean data, evaluate"},
    {"poisoned", mode_poisoned, NEEDS_TRAIN_UNLESS_LOADED, 1, 0, 0, 1, 1,
     "backdoor: trigger + relabel training images, measure it"},
    {"adv_only", mode_adv_only, NEEDS_TRAIN_UNLESS_LOADED, 1, 1, 1, 0, 0,
     "FGSM evasion against a trained (or --load'ed) model"},
    {"adv_training", mode_adv_training, NEEDS_TRAIN_ALWAYS, 2, 0, 1, 0, 0,
     "baseline, then FGSM adversarial training; before/after numbers"},
};

size_t mode_count(void)
{
    return sizeof modes / sizeof modes[0];
}

const mode_def *mode_at(size_t i)
{
    return i < mode_count() ? &modes[i] : NULL;
}

const mode_def *mode_find(const char *name)
{
    for (size_t i = 0; i < mode_count(); i++)
        if (strcmp(modes[i].name, name) == 0)
            return &modes[i];
    return NULL;
}
