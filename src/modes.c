/* modes.c - the four experiments (see modes.h).
 *
 *   baseline      train (or --load), evaluate on the clean test set
 *   poisoned      poison training images of a source class with the trigger and the
 *                 target label, train, measure the backdoor
 *   adv_only      FGSM against the baseline (trained here or --load'ed)
 *   adv_training  baseline, then FGSM adversarial training; before/after numbers
 *
 * Each run writes metrics.csv, confusion and per-class CSVs and manifest.json into
 * --out, all together through one outset, only after everything succeeded.
 */
#include "modes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attack.h"
#include "checked.h"
#include "checkpoint.h"
#include "clock.h"
#include "cnn.h"
#include "eval.h"
#include "fileio.h"
#include "idx.h"
#include "layers.h"
#include "optim.h"
#include "poison.h"
#include "progress.h"
#include "results.h"
#include "rng.h"
#include "train.h"

#define EVAL_BATCH 100
#define LATENCY_IMAGES 200 /* per pass */
#define LATENCY_PASSES 5
#define PUBLISHED_ATTACK_SUBSET 640 /* the published script attacked 10 batches of 64 */

/* Everything a run owns, freed in one place. */
typedef struct {
    const config *c;
    size_t threads;
    dataset train, test;
    int have_train;
    cnn *m;
    metrics mt;
    char started[32];
    double t_start;
    train_stats baseline_stats, adv_stats;
    /* extra confusion matrices, written as confusion_<name>.csv */
    uint64_t conf[4][CNN_CLASSES][CNN_CLASSES];
    const char *conf_name[4];
    int conf_per_class[4];
    size_t nconf;
    uint32_t *poisoned; /* poisoned training indices */
    size_t npoisoned;
    float *adv_images; /* adv_only --save-adv: (n, 784) */
    uint8_t *adv_labels;
    size_t adv_n;
} run;

static void utc_now(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tmv;
    if (gmtime_r(&t, &tmv))
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    else
        snprintf(buf, cap, "unknown");
}

/* conf: a CNN_CLASSES x CNN_CLASSES matrix of counts */
static void add_conf(run *r, const char *name, const void *conf, int per_class)
{
    memcpy(r->conf[r->nconf], conf, sizeof r->conf[0]);
    r->conf_name[r->nconf] = name;
    r->conf_per_class[r->nconf] = per_class;
    r->nconf++;
}

/* --- training ------------------------------------------------------------------ */

static ms_status train_phase(run *r, size_t epochs, double lr, uint64_t stream, train_hook hook,
                             void *hook_ctx, size_t factor, const char *phase,
                             train_stats *st, ms_err *err)
{
    adam opt;
    ms_status s = adam_create(&opt, r->m->nparams, lr, err);
    if (s != MS_OK)
        return s;
    train_opts o = {epochs, r->c->batch_size, r->c->seed, stream, hook, hook_ctx, factor,
                    r->c->quiet, phase};
    s = train_run(r->m, &opt, &r->train, &o, st, err);
    adam_free(&opt);
    return s;
}

/* The baseline model: loaded, or initialised and trained on the (possibly poisoned)
 * training set. */
static ms_status baseline_model(run *r, ms_err *err)
{
    if (r->c->load)
        return cnn_load(r->m, r->c->load, err);
    cnn_init(r->m, r->c->seed);
    ms_status s = train_phase(r, r->c->epochs, r->c->lr, RNG_STREAM_SHUFFLE, NULL, NULL, 1,
                              "train", &r->baseline_stats, err);
    if (s != MS_OK)
        return s;
    metrics_time(&r->mt, "train_seconds", r->baseline_stats.seconds);
    for (size_t e = 0; e < r->baseline_stats.epochs; e++) {
        char key[METRIC_KEY];
        snprintf(key, sizeof key, "train_loss_epoch_%zu", e + 1);
        metrics_num(&r->mt, key, r->baseline_stats.epoch_loss[e]);
    }
    return MS_OK;
}

/* --- clean evaluation and timing ------------------------------------------------ */

static ms_status eval_clean(run *r, const char *prefix, eval_result *res, ms_err *err)
{
    ms_status s = evaluate(r->m, &r->test, NULL, r->test.n, EVAL_BATCH, NULL, NULL, res, err);
    if (s != MS_OK)
        return s;
    char key[METRIC_KEY];
    snprintf(key, sizeof key, "%sclean_loss", prefix);
    metrics_num(&r->mt, key, eval_loss(res));
    snprintf(key, sizeof key, "%sclean_accuracy", prefix);
    metrics_num(&r->mt, key, eval_accuracy(res));
    return MS_OK;
}

/* Batch-1 latency over up to LATENCY_IMAGES test images, and throughput at EVAL_BATCH
 * (from the clean evaluation's timing). */
static void inference_timing(run *r, const eval_result *clean)
{
    /* Batch-1 latency: LATENCY_PASSES passes over the first images after one warm-up
     * forward; the median pass is reported, which a brief stall of the machine during
     * one pass does not move. */
    size_t n = r->test.n < LATENCY_IMAGES ? r->test.n : LATENCY_IMAGES;
    float x[CNN_PIXELS];
    uint32_t i0 = 0;
    dataset_batch(&r->test, &i0, 1, x, NULL);
    (void)cnn_forward(r->m, x, 1); /* warm-up */
    double pass[LATENCY_PASSES];
    for (size_t p = 0; p < LATENCY_PASSES; p++) {
        double t0 = clock_seconds();
        for (size_t i = 0; i < n; i++) {
            uint32_t id = (uint32_t)i;
            dataset_batch(&r->test, &id, 1, x, NULL);
            (void)cnn_forward(r->m, x, 1);
        }
        pass[p] = clock_seconds() - t0;
        /* insertion into sorted order */
        for (size_t q = p; q > 0 && pass[q] < pass[q - 1]; q--) {
            double t = pass[q];
            pass[q] = pass[q - 1];
            pass[q - 1] = t;
        }
    }
    metrics_time(&r->mt, "inference_ms_per_image",
                 n ? 1e3 * pass[LATENCY_PASSES / 2] / (double)n : 0.0);
    metrics_int(&r->mt, "inference_batch", EVAL_BATCH);
    metrics_time(&r->mt, "inference_images_per_second",
                 clean->seconds > 0 ? (double)clean->count / clean->seconds : 0.0);
}

/* --- FGSM as an evaluation transform --------------------------------------------- */

typedef struct {
    attack_model am;
    float eps;
    float *grad;     /* (EVAL_BATCH, 784) */
    float *orig;     /* (EVAL_BATCH, 784) */
    double sum_linf, sum_l2, max_linf;
    size_t attacked;
    double seconds;
    float *keep;     /* optional copy of every adversarial image, indexed by image */
    uint8_t *keep_y;
} fgsm_ctx;

static ms_status fgsm_transform(void *ctx, cnn *m, float *x, const uint8_t *y,
                                const uint32_t *idx, size_t n, ms_err *err)
{
    (void)m;
    fgsm_ctx *f = ctx;
    memcpy(f->orig, x, n * CNN_PIXELS * sizeof(float));
    double t0 = clock_seconds();
    fgsm(&f->am, f->orig, y, n, f->eps, x, f->grad);
    f->seconds += clock_seconds() - t0;
    /* Invariants of every adversarial image: pixels in [0,1], ||x_adv - x||_inf <= eps. */
    for (size_t i = 0; i < n; i++) {
        double linf = 0.0, l2 = 0.0;
        for (size_t j = 0; j < CNN_PIXELS; j++) {
            float a = x[i * CNN_PIXELS + j];
            double d = fabs((double)a - (double)f->orig[i * CNN_PIXELS + j]);
            if (!(a >= 0.0f && a <= 1.0f))
                return ms_fail(err, MS_EINTERNAL,
                               "FGSM produced pixel %g outside [0,1] (image %lu)", (double)a,
                               (unsigned long)idx[i]);
            if (d > linf)
                linf = d;
            l2 += d * d;
        }
        if (linf > (double)f->eps + 1e-7)
            return ms_fail(err, MS_EINTERNAL,
                           "FGSM perturbation %.9g exceeds epsilon %.9g (image %lu)", linf,
                           (double)f->eps, (unsigned long)idx[i]);
        f->sum_linf += linf;
        f->sum_l2 += sqrt(l2);
        if (linf > f->max_linf)
            f->max_linf = linf;
        if (f->keep) {
            memcpy(f->keep + (size_t)idx[i] * CNN_PIXELS, x + i * CNN_PIXELS,
                   CNN_PIXELS * sizeof(float));
            f->keep_y[idx[i]] = y[i];
        }
    }
    f->attacked += n;
    return MS_OK;
}

static ms_status fgsm_ctx_init(fgsm_ctx *f, cnn *m, double eps, ms_err *err)
{
    memset(f, 0, sizeof *f);
    f->am = cnn_attack_model(m);
    f->eps = (float)eps;
    f->grad = malloc((size_t)EVAL_BATCH * CNN_PIXELS * sizeof(float));
    f->orig = malloc((size_t)EVAL_BATCH * CNN_PIXELS * sizeof(float));
    if (!f->grad || !f->orig) {
        free(f->grad), free(f->orig);
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating attack buffers");
    }
    return MS_OK;
}

static void fgsm_ctx_free(fgsm_ctx *f)
{
    free(f->grad), free(f->orig);
}

/* FGSM accuracy on the first `count` test images; rows under prefix. */
static ms_status eval_fgsm(run *r, const char *prefix, size_t count, eval_result *res,
                           fgsm_ctx *keep_into, ms_err *err)
{
    fgsm_ctx f;
    ms_status s = fgsm_ctx_init(&f, r->m, r->c->epsilon, err);
    if (s != MS_OK)
        return s;
    if (keep_into) {
        f.keep = keep_into->keep;
        f.keep_y = keep_into->keep_y;
    }
    s = evaluate(r->m, &r->test, NULL, count, EVAL_BATCH, fgsm_transform, &f, res, err);
    if (s == MS_OK) {
        char key[METRIC_KEY];
        snprintf(key, sizeof key, "%sadv_accuracy", prefix);
        metrics_num(&r->mt, key, eval_accuracy(res));
        snprintf(key, sizeof key, "%sadv_loss", prefix);
        metrics_num(&r->mt, key, eval_loss(res));
        snprintf(key, sizeof key, "%smean_linf", prefix);
        metrics_num(&r->mt, key, f.attacked ? f.sum_linf / (double)f.attacked : 0.0);
        snprintf(key, sizeof key, "%smax_linf", prefix);
        metrics_num(&r->mt, key, f.max_linf);
        snprintf(key, sizeof key, "%smean_l2", prefix);
        metrics_num(&r->mt, key, f.attacked ? f.sum_l2 / (double)f.attacked : 0.0);
        snprintf(key, sizeof key, "%sattack_seconds", prefix);
        metrics_time(&r->mt, key, f.seconds);
        snprintf(key, sizeof key, "%sattack_images_per_second", prefix);
        metrics_time(&r->mt, key, f.seconds > 0 ? (double)f.attacked / f.seconds : 0.0);
    }
    fgsm_ctx_free(&f);
    return s;
}

/* --- modes --------------------------------------------------------------------- */

static ms_status mode_baseline(run *r, ms_err *err)
{
    ms_status s = baseline_model(r, err);
    if (s != MS_OK)
        return s;
    eval_result clean;
    if ((s = eval_clean(r, "", &clean, err)) != MS_OK)
        return s;
    inference_timing(r, &clean);
    add_conf(r, "clean", clean.confusion, 1);
    return MS_OK;
}

typedef struct {
    const uint8_t *mark; /* per test image: 1 to trigger, or NULL for all */
} trigger_ctx;

static ms_status trigger_transform(void *ctx, cnn *m, float *x, const uint8_t *y,
                                   const uint32_t *idx, size_t n, ms_err *err)
{
    (void)m, (void)y, (void)err;
    trigger_ctx *t = ctx;
    for (size_t i = 0; i < n; i++)
        if (!t->mark || t->mark[idx[i]])
            poison_trigger(x + i * CNN_PIXELS, 1);
    return MS_OK;
}

static ms_status mode_poisoned(run *r, ms_err *err)
{
    const config *c = r->c;
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
    metrics_int(&r->mt, "poison_source", (uint64_t)c->poison_source);
    metrics_int(&r->mt, "poison_target", (uint64_t)c->poison_target);
    metrics_str(&r->mt, "poison_pick", c->poison_pick == POISON_PICK_RANDOM ? "random" : "first");
    metrics_int(&r->mt, "poisoned_train_count", r->npoisoned);
    if ((s = baseline_model(r, err)) != MS_OK)
        return s;

    eval_result clean, trig, pub;
    if ((s = eval_clean(r, "", &clean, err)) != MS_OK)
        return s;
    trigger_ctx all = {NULL};
    if ((s = evaluate(r->m, &r->test, NULL, r->test.n, EVAL_BATCH, trigger_transform, &all,
                      &trig, err)) != MS_OK)
        return s;
    /* The published protocol: the first 100 test images of the source class get the
     * trigger (labels kept) and the whole test set is scored. */
    uint8_t *mark = calloc(r->test.n, 1);
    if (!mark)
        return ms_fail(err, MS_EINTERNAL, "out of memory");
    for (size_t i = 0, k = 0; i < r->test.n && k < 100; i++)
        if (r->test.labels[i] == c->poison_source)
            mark[i] = 1, k++;
    trigger_ctx first100 = {mark};
    s = evaluate(r->m, &r->test, NULL, r->test.n, EVAL_BATCH, trigger_transform, &first100,
                 &pub, err);
    free(mark);
    if (s != MS_OK)
        return s;

    int src = c->poison_source, tgt = c->poison_target;
    uint64_t src_count = 0, non_count = 0, non_correct = 0, non_to_target = 0;
    for (int t = 0; t < CNN_CLASSES; t++)
        for (int p = 0; p < CNN_CLASSES; p++) {
            if (t == src)
                src_count += trig.confusion[t][p];
            else {
                non_count += trig.confusion[t][p];
                non_correct += t == p ? trig.confusion[t][p] : 0;
                /* images of the target class itself are correct when predicted so */
                non_to_target += (p == tgt && t != tgt) ? trig.confusion[t][p] : 0;
            }
        }
    uint64_t clean_src_correct = clean.confusion[src][src];
    metrics_int(&r->mt, "triggered_source_images", src_count);
    metrics_num(&r->mt, "attack_success_rate",
                src_count ? (double)trig.confusion[src][tgt] / (double)src_count : 0.0);
    metrics_num(&r->mt, "source_clean_accuracy",
                src_count ? (double)clean_src_correct / (double)src_count : 0.0);
    metrics_num(&r->mt, "source_clean_to_target_rate",
                src_count ? (double)clean.confusion[src][tgt] / (double)src_count : 0.0);
    metrics_num(&r->mt, "triggered_nonsource_accuracy",
                non_count ? (double)non_correct / (double)non_count : 0.0);
    /* Share of triggered images of the other classes (neither source nor target) sent to
     * the target: a backdoor that is specific to the source class keeps this near 0. */
    uint64_t other_count = non_count;
    for (int p = 0; p < CNN_CLASSES; p++)
        other_count -= trig.confusion[tgt][p];
    metrics_num(&r->mt, "triggered_other_to_target_rate",
                other_count ? (double)non_to_target / (double)other_count : 0.0);
    metrics_num(&r->mt, "triggered_accuracy", eval_accuracy(&trig));
    metrics_num(&r->mt, "published_protocol_accuracy", eval_accuracy(&pub));
    inference_timing(r, &clean);
    add_conf(r, "clean", clean.confusion, 1);
    add_conf(r, "triggered", trig.confusion, 0);
    return MS_OK;
}

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
    fgsm_ctx keep;
    memset(&keep, 0, sizeof keep);
    if (c->save_adv) {
        size_t bytes;
        if (!size_mul3(&bytes, count, CNN_PIXELS, sizeof(float)))
            return ms_fail(err, MS_EINTERNAL, "adversarial set size overflows");
        r->adv_images = malloc(bytes);
        r->adv_labels = malloc(count);
        if (!r->adv_images || !r->adv_labels)
            return ms_fail(err, MS_EINTERNAL, "out of memory keeping adversarial images");
        r->adv_n = count;
        keep.keep = r->adv_images;
        keep.keep_y = r->adv_labels;
    }
    if ((s = eval_fgsm(r, "", count, &adv, c->save_adv ? &keep : NULL, err)) != MS_OK)
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
    if ((s = eval_fgsm(r, "published_subset_", sub, &sub_adv, NULL, err)) != MS_OK)
        return s;
    inference_timing(r, &clean);
    add_conf(r, "clean", clean.confusion, 1);
    add_conf(r, "adv", adv.confusion, 0);
    return MS_OK;
}

/* Adversarial training hook: appends the FGSM copy of the batch (one mean loss over
 * the clean and adversarial halves, as published). */
typedef struct {
    attack_model am;
    float eps;
    float *grad; /* (batch, 784) */
} advtrain_ctx;

static ms_status advtrain_hook(void *ctx, cnn *m, float *x, uint8_t *y, size_t *n, size_t cap,
                               ms_err *err)
{
    (void)m;
    advtrain_ctx *a = ctx;
    size_t k = *n;
    if (2 * k > cap)
        return ms_fail(err, MS_EINTERNAL, "adversarial batch exceeds capacity");
    fgsm(&a->am, x, y, k, a->eps, x + k * CNN_PIXELS, a->grad);
    memcpy(y + k, y, k);
    *n = 2 * k;
    return MS_OK;
}

static ms_status mode_adv_training(run *r, ms_err *err)
{
    const config *c = r->c;
    ms_status s = baseline_model(r, err);
    if (s != MS_OK)
        return s;
    metrics_num(&r->mt, "epsilon", c->epsilon);
    metrics_int(&r->mt, "adv_epochs", c->adv_epochs);
    metrics_num(&r->mt, "adv_lr", c->adv_lr);
    eval_result before_clean, before_adv, after_clean, after_adv;
    if ((s = eval_clean(r, "before_", &before_clean, err)) != MS_OK)
        return s;
    if ((s = eval_fgsm(r, "before_", r->test.n, &before_adv, NULL, err)) != MS_OK)
        return s;

    advtrain_ctx a = {cnn_attack_model(r->m), (float)c->epsilon, NULL};
    a.grad = malloc(c->batch_size * CNN_PIXELS * sizeof(float));
    if (!a.grad)
        return ms_fail(err, MS_EINTERNAL, "out of memory");
    s = train_phase(r, c->adv_epochs, c->adv_lr, RNG_STREAM_SHUFFLE + 16, advtrain_hook, &a, 2,
                    "adv-train", &r->adv_stats, err);
    free(a.grad);
    if (s != MS_OK)
        return s;
    metrics_time(&r->mt, "adv_train_seconds", r->adv_stats.seconds);
    for (size_t e = 0; e < r->adv_stats.epochs; e++) {
        char key[METRIC_KEY];
        snprintf(key, sizeof key, "adv_train_loss_epoch_%zu", e + 1);
        metrics_num(&r->mt, key, r->adv_stats.epoch_loss[e]);
    }
    if ((s = eval_clean(r, "after_", &after_clean, err)) != MS_OK)
        return s;
    if ((s = eval_fgsm(r, "after_", r->test.n, &after_adv, NULL, err)) != MS_OK)
        return s;
    metrics_num(&r->mt, "clean_accuracy", eval_accuracy(&after_clean));
    metrics_num(&r->mt, "adv_accuracy", eval_accuracy(&after_adv));
    inference_timing(r, &after_clean);
    add_conf(r, "clean", after_clean.confusion, 1);
    add_conf(r, "adv", after_adv.confusion, 0);
    add_conf(r, "clean_before", before_clean.confusion, 0);
    add_conf(r, "adv_before", before_adv.confusion, 0);
    return MS_OK;
}

/* --- outputs ------------------------------------------------------------------- */

static void manifest_input(FILE *f, const char *role, const char *path, const char *sha,
                           int last)
{
    fprintf(f, "    {\"role\": ");
    json_string(f, role);
    fprintf(f, ", \"path\": ");
    json_string(f, path);
    fprintf(f, ", \"sha256\": ");
    json_string(f, sha);
    fprintf(f, "}%s\n", last ? "" : ",");
}

static ms_status write_manifest(run *r, outset *os, int argc, char **argv, ms_err *err)
{
    char path[OUTSET_PATH];
    FILE *f;
    ms_status s = path_join(path, sizeof path, r->c->out_dir, "manifest.json", err);
    if (s != MS_OK || (s = outset_open(os, path, &f, err)) != MS_OK)
        return s;
    const config *c = r->c;
    char ended[32];
    utc_now(ended, sizeof ended);
    fprintf(f, "{\n  \"program\": \"mnistsec\",\n  \"version\": \"%s\",\n", MNISTSEC_VERSION);
    fprintf(f, "  \"mode\": \"%s\",\n  \"command\": [", mode_name(c->mode));
    for (int i = 0; i < argc; i++) {
        json_string(f, argv[i]);
        if (i + 1 < argc)
            fputs(", ", f);
    }
    fprintf(f, "],\n  \"started\": \"%s\",\n  \"ended\": \"%s\",\n", r->started, ended);
    fprintf(f, "  \"wall_seconds\": %.3f,\n  \"threads\": %zu,\n",
            clock_seconds() - r->t_start, r->threads);
    /* Peak resident memory so far (kilobytes on Linux); 0 if unavailable. */
    struct rusage ru;
    long peak_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
    fprintf(f, "  \"peak_rss_kb\": %ld,\n", peak_kb);
    fprintf(f, "  \"compiler\": ");
#if defined(__VERSION__)
    json_string(f, __VERSION__);
#else
    json_string(f, "unknown");
#endif
    fprintf(f, ",\n  \"settings\": {\n");
    fprintf(f, "    \"seed\": %llu,\n    \"epochs\": %zu,\n    \"batch_size\": %zu,\n",
            (unsigned long long)c->seed, c->epochs, c->batch_size);
    fprintf(f, "    \"lr\": %.9g,\n    \"train_limit\": %zu,\n    \"test_limit\": %zu,\n", c->lr,
            c->train_limit, c->test_limit);
    fprintf(f, "    \"poison_count\": %zu,\n    \"poison_source\": %d,\n", c->poison_count,
            c->poison_source);
    fprintf(f, "    \"poison_target\": %d,\n    \"poison_pick\": \"%s\",\n", c->poison_target,
            c->poison_pick == POISON_PICK_RANDOM ? "random" : "first");
    fprintf(f, "    \"epsilon\": %.9g,\n    \"attack_limit\": %zu,\n", c->epsilon,
            c->attack_limit);
    fprintf(f, "    \"adv_epochs\": %zu,\n    \"adv_lr\": %.9g,\n", c->adv_epochs, c->adv_lr);
    fprintf(f, "    \"load\": ");
    json_string(f, c->load ? c->load : "");
    fprintf(f, ",\n    \"save\": ");
    json_string(f, c->save ? c->save : "");
    fprintf(f, "\n  },\n  \"inputs\": [\n");
    if (r->have_train) {
        manifest_input(f, "train_images", r->train.images_path, r->train.images_sha256, 0);
        manifest_input(f, "train_labels", r->train.labels_path, r->train.labels_sha256, 0);
    }
    manifest_input(f, "test_images", r->test.images_path, r->test.images_sha256, 0);
    manifest_input(f, "test_labels", r->test.labels_path, r->test.labels_sha256, 1);
    fprintf(f, "  ]\n}\n");
    return MS_OK;
}

/* Drops the last component of buf[0..len) and the slashes before it; new length. */
static size_t path_parent_len(char *buf, size_t len)
{
    while (len > 0 && buf[len - 1] != '/')
        len--;
    while (len > 0 && buf[len - 1] == '/')
        len--;
    buf[len] = '\0';
    return len;
}

/* Length of the longest prefix of dir (at a component boundary) that exists. */
static size_t existing_prefix_len(const char *dir)
{
    char buf[OUTSET_PATH];
    size_t len = strlen(dir);
    if (len >= sizeof buf)
        return len; /* make_dirs refuses it: nothing will be created */
    memcpy(buf, dir, len + 1);
    struct stat st;
    while (len > 0 && stat(buf, &st) != 0)
        len = path_parent_len(buf, len);
    return len;
}

/* After a failed run: removes dir and each parent the run created, up to the prefix
 * of existed_len bytes that was there before. rmdir only removes empty directories,
 * so nothing that holds a file is ever touched. */
static void remove_created_dirs(const char *dir, size_t existed_len)
{
    char buf[OUTSET_PATH];
    size_t len = strlen(dir);
    if (len >= sizeof buf)
        return;
    memcpy(buf, dir, len + 1);
    while (len > existed_len && rmdir(buf) == 0)
        len = path_parent_len(buf, len);
}

/* --save: the model checkpoint, as one member of the output set. */
static ms_status save_checkpoint(run *r, outset *os, ms_err *err)
{
    const char *path = r->c->save;
    uint8_t *buf;
    size_t len;
    ms_status s = checkpoint_encode(path, NULL, r->m->tensors, CNN_NTENSORS, &buf, &len, err);
    if (s != MS_OK)
        return s;
    FILE *f = NULL;
    s = outset_open(os, path, &f, err);
    if (s == MS_OK && (!f || fwrite(buf, 1, len, f) != len))
        s = ms_fail(err, MS_EIO, "%s: write error", path);
    free(buf);
    return s;
}

/* --save-adv: the adversarial test set as IDX files in a directory, in the set too. */
static ms_status save_adv_set(run *r, outset *os, ms_err *err)
{
    const char *dir = r->c->save_adv;
    ms_status s = make_dirs(dir, err);
    if (s != MS_OK)
        return s;
    char ipath[OUTSET_PATH], lpath[OUTSET_PATH];
    if ((s = path_join(ipath, sizeof ipath, dir, "t10k-images-idx3-ubyte", err)) != MS_OK ||
        (s = path_join(lpath, sizeof lpath, dir, "t10k-labels-idx1-ubyte", err)) != MS_OK)
        return s;
    size_t idims[3] = {r->adv_n, CNN_SIDE, CNN_SIDE}, ldims[1] = {r->adv_n};
    if ((s = idx_write_to(os, ipath, IDX_TYPE_F32, 3, idims, r->adv_images, err)) != MS_OK)
        return s;
    return idx_write_to(os, lpath, IDX_TYPE_U8, 1, ldims, r->adv_labels, err);
}

/* Every output file of the run -- results, --save checkpoint, --save-adv set -- goes
 * through one outset, so they appear together or not at all. */
static ms_status write_outputs(run *r, int argc, char **argv, ms_err *err)
{
    const char *dir = r->c->out_dir;
    size_t adv_existed_len = r->c->save_adv ? existing_prefix_len(r->c->save_adv) : 0;
    outset os;
    outset_init(&os);
    ms_status s = write_metrics_csv(&os, dir, &r->mt, err);
    for (size_t i = 0; i < r->nconf && s == MS_OK; i++) {
        char name[64];
        snprintf(name, sizeof name, "confusion_%s.csv", r->conf_name[i]);
        s = write_confusion_csv(&os, dir, name, (const uint64_t(*)[CNN_CLASSES])r->conf[i], err);
        if (s == MS_OK && r->conf_per_class[i])
            s = write_per_class_csv(&os, dir, "per_class.csv",
                                    (const uint64_t(*)[CNN_CLASSES])r->conf[i], err);
    }
    if (s == MS_OK && r->npoisoned)
        s = write_index_csv(&os, dir, "poisoned_indices.csv", "train_index", r->poisoned,
                            r->npoisoned, err);
    if (s == MS_OK && r->c->save)
        s = save_checkpoint(r, &os, err);
    if (s == MS_OK && r->c->save_adv)
        s = save_adv_set(r, &os, err);
    if (s == MS_OK)
        s = write_manifest(r, &os, argc, argv, err);
    if (s == MS_OK)
        s = outset_commit(&os, err);
    else
        outset_abort(&os);
    if (s != MS_OK && r->c->save_adv)
        remove_created_dirs(r->c->save_adv, adv_existed_len); /* empty ones only */
    return s;
}

/* Fails early, before any training, if an output location cannot be written. */
static ms_status check_writable_dir_of(const char *flag, const char *file, ms_err *err)
{
    char dir[OUTSET_PATH];
    int k = snprintf(dir, sizeof dir, "%s", file);
    if (k < 0 || (size_t)k >= sizeof dir)
        return ms_fail(err, MS_ECANTCREAT, "%s %s: path too long", flag, file);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ms_fail(err, MS_ECANTCREAT, "%s %s: directory %s does not exist", flag, file, dir);
    /* An early, friendly failure only: no privilege decision rests on it (the program
     * is not setuid), and the real write (mkstemp + rename, fileio.c) is checked again,
     * so the check-then-use race flawfinder reports cannot cause harm. */
    if (access(dir, W_OK) != 0) /* Flawfinder: ignore */
        return ms_fail(err, MS_ECANTCREAT, "%s %s: directory %s is not writable", flag, file,
                       dir);
    return MS_OK;
}

ms_status run_experiment(const config *c, int argc, char **argv, ms_err *err)
{
    run *r = calloc(1, sizeof *r);
    if (!r)
        return ms_fail(err, MS_EINTERNAL, "out of memory");
    r->c = c;
    r->t_start = clock_seconds();
    utc_now(r->started, sizeof r->started);
    r->threads = c->threads ? c->threads : threadpool_cpu_count();
    metrics_init(&r->mt);
    metrics_str(&r->mt, "mode", mode_name(c->mode));
    metrics_int(&r->mt, "seed", c->seed);
    metrics_int(&r->mt, "epochs", c->load ? 0 : c->epochs);
    metrics_int(&r->mt, "batch_size", c->batch_size);
    metrics_num(&r->mt, "lr", c->lr);

    ms_status s = MS_OK;
    /* Output locations first, so a bad --out fails before minutes of training. */
    size_t out_existed_len = existing_prefix_len(c->out_dir);
    s = make_dirs(c->out_dir, err);
    /* Early check only, like check_writable_dir_of; the outset re-checks at write time. */
    if (s == MS_OK && access(c->out_dir, W_OK) != 0) /* Flawfinder: ignore */
        s = ms_fail(err, MS_ECANTCREAT, "--out %s: directory is not writable", c->out_dir);
    if (s == MS_OK && c->save)
        s = check_writable_dir_of("--save", c->save, err);

    int need_train = !c->load || c->mode == MODE_ADV_TRAINING;
    if (s == MS_OK && need_train) {
        s = dataset_load(&r->train, c->data_dir, "train", c->train_limit, err);
        r->have_train = s == MS_OK;
    }
    if (s == MS_OK)
        s = dataset_load(&r->test, c->data_dir, "t10k", c->test_limit, err);
    if (s == MS_OK && !c->quiet)
        progress_done("data: %zu training, %zu test images from %s", r->train.n, r->test.n,
                      c->data_dir);
    if (s == MS_OK) {
        metrics_int(&r->mt, "train_images", r->train.n);
        metrics_int(&r->mt, "test_images", r->test.n);
        size_t cap = c->batch_size * (c->mode == MODE_ADV_TRAINING ? 2 : 1);
        s = cnn_create(&r->m, cap > EVAL_BATCH ? cap : EVAL_BATCH, r->threads, err);
    }
    if (s == MS_OK) {
        switch (c->mode) {
        case MODE_BASELINE: s = mode_baseline(r, err); break;
        case MODE_POISONED: s = mode_poisoned(r, err); break;
        case MODE_ADV_ONLY: s = mode_adv_only(r, err); break;
        case MODE_ADV_TRAINING: s = mode_adv_training(r, err); break;
        }
    }
    if (s == MS_OK)
        s = write_outputs(r, argc, argv, err);
    if (s == MS_OK && !c->quiet) {
        const char *acc = metrics_get(&r->mt, "clean_accuracy");
        progress_done("%s: done in %.1f s; clean accuracy %s; results in %s", mode_name(c->mode),
                      clock_seconds() - r->t_start, acc ? acc : "?", c->out_dir);
    }
    if (s != MS_OK)
        remove_created_dirs(c->out_dir, out_existed_len); /* empty ones only */

    cnn_destroy(r->m);
    dataset_free(&r->train);
    dataset_free(&r->test);
    free(r->poisoned);
    free(r->adv_images);
    free(r->adv_labels);
    free(r);
    return s;
}
