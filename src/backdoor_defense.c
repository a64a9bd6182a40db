/* backdoor_defense.c - the Blue Team against the backdoor, as the poisoned mode runs it
 * (see backdoor_defense.h). */
#include "backdoor_defense.h"

#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "defend.h"
#include "eval.h"
#include "optim.h"
#include "poison.h"
#include "rng.h"
#include "train.h"

#define ACT_BATCH 100
#define STRIP_BLENDS 20
#define STRIP_POOL 1000
#define STRIP_CLEAN_MAX 2000
#define STRIP_FPR 0.01

/* FC1 activations (n, 128) of every training image, as the detectors see them. */
static ms_status fc1_activations(cnn *m, const dataset *ds, float **out, ms_err *err)
{
    size_t bytes;
    if (!size_mul3(&bytes, ds->n, CNN_HIDDEN, sizeof(float)))
        return ms_fail(err, MS_EINTERNAL, "activation buffer size overflows");
    float *feat = malloc(bytes), *x = malloc((size_t)ACT_BATCH * CNN_PIXELS * sizeof(float));
    uint32_t ids[ACT_BATCH];
    if (!feat || !x) {
        free(feat), free(x);
        return ms_fail(err, MS_EINTERNAL, "out of memory computing activations");
    }
    for (size_t lo = 0; lo < ds->n; lo += ACT_BATCH) {
        size_t n = ds->n - lo < ACT_BATCH ? ds->n - lo : ACT_BATCH;
        for (size_t i = 0; i < n; i++)
            ids[i] = (uint32_t)(lo + i);
        dataset_batch(ds, ids, n, x, NULL);
        (void)cnn_forward(m, x, n);
        size_t per;
        const float *h = cnn_activation(m, CNN_LAYER_FC1, &per);
        memcpy(feat + lo * CNN_HIDDEN, h, n * CNN_HIDDEN * sizeof(float));
    }
    free(x);
    *out = feat;
    return MS_OK;
}

typedef struct {
    const uint8_t *mark; /* per test image: 1 to trigger, NULL for all */
} trig_ctx;

static ms_status trig_tf(void *ctx, cnn *m, float *x, const uint8_t *y, const uint32_t *idx,
                         size_t n, ms_err *err)
{
    (void)m, (void)y, (void)err;
    const trig_ctx *t = ctx;
    for (size_t i = 0; i < n; i++)
        if (!t->mark || t->mark[idx[i]])
            poison_trigger(x + i * CNN_PIXELS, 1);
    return MS_OK;
}

/* Clean accuracy and attack success rate of the model on the test set. */
static ms_status measure(run *r, double *clean_acc, double *asr, ms_err *err)
{
    eval_result clean, trig;
    trig_ctx all = {NULL};
    ms_status s = evaluate(r->m, &r->test, NULL, r->test.n, ACT_BATCH, NULL, NULL, &clean, err);
    if (s == MS_OK)
        s = evaluate(r->m, &r->test, NULL, r->test.n, ACT_BATCH, trig_tf, &all, &trig, err);
    if (s != MS_OK)
        return s;
    backdoor_metrics bm = backdoor_measure((const uint64_t(*)[CNN_CLASSES])clean.confusion,
                                           (const uint64_t(*)[CNN_CLASSES])trig.confusion,
                                           r->c->poison_source, r->c->poison_target);
    *clean_acc = eval_accuracy(&clean);
    *asr = bm.attack_success_rate;
    return MS_OK;
}

/* Retrains from scratch (same seed and settings) on the images not flagged. */
static ms_status retrain_without(run *r, const uint8_t *flag, size_t *removed, ms_err *err)
{
    const config *c = r->c;
    uint32_t *keep = malloc(r->train.n * sizeof *keep);
    if (!keep)
        return ms_fail(err, MS_EINTERNAL, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < r->train.n; i++)
        if (!flag[i])
            keep[k++] = (uint32_t)i;
    *removed = r->train.n - k;
    cnn_init(r->m, c->seed);
    adam opt;
    ms_status s = adam_create(&opt, r->m->nparams, c->lr, err);
    if (s == MS_OK) {
        train_opts o = {.epochs = c->epochs,
                        .batch_size = c->batch_size,
                        .seed = c->seed,
                        .shuffle_stream = RNG_STREAM_SHUFFLE,
                        .subset = keep,
                        .subset_n = k,
                        .quiet = c->quiet,
                        .phase = "retrain"};
        train_stats st;
        s = train_run(r->m, &opt, &r->train, &o, &st, err);
        adam_free(&opt);
    }
    free(keep);
    return s;
}

static void detection_rows(csv_table *t, const char *method, const detect_scores *sc)
{
    for (int c = 0; c <= DETECT_LABELS; c++) {
        const detect_score_row *row = c < DETECT_LABELS ? &sc->label[c] : &sc->total;
        if (c < DETECT_LABELS && row->n == 0)
            continue;
        table_str(t, method);
        if (c < DETECT_LABELS)
            table_int(t, (uint64_t)c);
        else
            table_str(t, "all");
        table_int(t, row->flagged);
        table_int(t, row->true_positives);
        table_int(t, row->false_positives);
        table_num(t, row->recall);
        table_num(t, row->precision);
    }
}

/* STRIP on the current model: the threshold from even-indexed clean test images (the
 * held-out set, also the blending pool), the rates on the odd-indexed clean ones and on
 * every test image of the source class with the trigger. */
static ms_status strip_eval(run *r, ms_err *err)
{
    const dataset *ts = &r->test;
    size_t half = ts->n / 2, nsrc = 0;
    for (size_t i = 0; i < ts->n; i++)
        nsrc += ts->labels[i] == r->c->poison_source;
    size_t npool = half < STRIP_POOL ? half : STRIP_POOL;
    size_t nheld = half < STRIP_CLEAN_MAX ? half : STRIP_CLEAN_MAX;
    size_t neval = nheld + nsrc;
    if (npool < STRIP_BLENDS || nheld == 0)
        return ms_fail(err, MS_EUSAGE, "--defend strip: needs at least %d test images",
                       2 * STRIP_BLENDS);
    size_t bytes;
    if (!size_mul3(&bytes, npool + nheld + neval, CNN_PIXELS, sizeof(float)))
        return ms_fail(err, MS_EINTERNAL, "STRIP buffer size overflows");
    float *pool = malloc(bytes), *ent = malloc((nheld + neval) * sizeof(float));
    uint8_t *troj = malloc(neval);
    if (!pool || !ent || !troj) {
        free(pool), free(ent), free(troj);
        return ms_fail(err, MS_EINTERNAL, "out of memory for STRIP");
    }
    float *held = pool + npool * CNN_PIXELS, *ev = held + nheld * CNN_PIXELS;
    for (size_t i = 0; i < npool; i++) {
        uint32_t id = (uint32_t)(2 * i);
        dataset_batch(ts, &id, 1, pool + i * CNN_PIXELS, NULL);
    }
    for (size_t i = 0; i < nheld; i++) {
        uint32_t id = (uint32_t)(2 * (npool + i) % (2 * half)); /* even, after the pool */
        dataset_batch(ts, &id, 1, held + i * CNN_PIXELS, NULL);
    }
    size_t k = 0;
    for (size_t i = 0; i < nheld; i++, k++) {
        uint32_t id = (uint32_t)(2 * i + 1);
        dataset_batch(ts, &id, 1, ev + k * CNN_PIXELS, NULL);
        troj[k] = 0;
    }
    for (uint32_t i = 0; i < ts->n; i++)
        if (ts->labels[i] == r->c->poison_source) {
            dataset_batch(ts, &i, 1, ev + k * CNN_PIXELS, NULL);
            poison_trigger(ev + k * CNN_PIXELS, 1);
            troj[k++] = 1;
        }
    float thr = 0.0f;
    ms_status s = strip_entropy(r->m, held, nheld, pool, npool, STRIP_BLENDS, r->c->seed, 0, ent,
                                err);
    if (s == MS_OK)
        s = strip_threshold(ent, nheld, STRIP_FPR, &thr, err);
    if (s == MS_OK)
        s = strip_entropy(r->m, ev, neval, pool, npool, STRIP_BLENDS, r->c->seed, 1u << 20,
                          ent + nheld, err);
    if (s == MS_OK) {
        strip_rates sr = strip_measure(ent + nheld, troj, neval, thr);
        metrics_num(&r->mt, "strip_threshold_bits", thr);
        metrics_num(&r->mt, "strip_target_fpr", STRIP_FPR);
        metrics_num(&r->mt, "strip_true_positive_rate", sr.tpr);
        metrics_num(&r->mt, "strip_false_positive_rate", sr.fpr);
        metrics_int(&r->mt, "strip_blends", STRIP_BLENDS);
    }
    free(pool), free(ent), free(troj);
    return s;
}

ms_status backdoor_defend(run *r, ms_err *err)
{
    const config *c = r->c;
    if (!c->defend.n && !c->defend.strip)
        return MS_OK;
    ms_status s = MS_OK;
    if (c->defend.strip && (s = strip_eval(r, err)) != MS_OK)
        return s;
    if (!c->defend.n)
        return MS_OK;
    double before_acc, before_asr;
    if ((s = measure(r, &before_acc, &before_asr, err)) != MS_OK)
        return s;
    metrics_num(&r->mt, "before_clean_accuracy", before_acc);
    metrics_num(&r->mt, "before_attack_success_rate", before_asr);
    float *feat = NULL;
    uint8_t *flag = calloc(r->train.n, 1), *truth = calloc(r->train.n, 1);
    if (!flag || !truth)
        s = ms_fail(err, MS_EINTERNAL, "out of memory");
    if (s == MS_OK)
        s = fc1_activations(r->m, &r->train, &feat, err);
    for (size_t i = 0; i < r->npoisoned && s == MS_OK; i++)
        truth[r->poisoned[i]] = 1; /* only to score the detectors */
    static const char *const cols[] = {"method", "class", "flagged", "true_positives",
                                       "false_positives", "recall", "precision"};
    csv_table *t = s == MS_OK ? run_table(r, "detection.csv", 7, cols) : NULL;
    detect_opts o;
    detect_opts_default(&o);
    o.expected_fraction = c->expected_poison;
    o.spectral_multiplier = c->spectral_multiplier;
    o.cluster_threshold = c->cluster_threshold;
    o.seed = c->seed;
    for (size_t d = 0; d < c->defend.n && s == MS_OK; d++) {
        const detector_def *det = c->defend.det[d];
        detect_report rep;
        detect_scores sc;
        s = det->run(feat, r->train.n, CNN_HIDDEN, r->train.labels, &o, flag, NULL, &rep, err);
        if (s == MS_OK)
            s = detect_score(flag, truth, r->train.labels, r->train.n, &sc, err);
        if (s != MS_OK)
            break;
        if (t)
            detection_rows(t, det->name, &sc);
        size_t removed = 0;
        double after_acc = 0.0, after_asr = 0.0;
        if ((s = retrain_without(r, flag, &removed, err)) != MS_OK ||
            (s = measure(r, &after_acc, &after_asr, err)) != MS_OK)
            break;
        char key[80];
        snprintf(key, sizeof key, "%s_", det->name);
        metrics_num2(&r->mt, key, "recall", sc.total.recall);
        metrics_num2(&r->mt, key, "precision", sc.total.precision);
        metrics_num2(&r->mt, key, "removed_images", (double)removed);
        metrics_num2(&r->mt, key, "after_clean_accuracy", after_acc);
        metrics_num2(&r->mt, key, "after_attack_success_rate", after_asr);
        if (c->defend.n == 1) {
            metrics_int(&r->mt, "removed_images", removed);
            metrics_num(&r->mt, "after_clean_accuracy", after_acc);
            metrics_num(&r->mt, "after_attack_success_rate", after_asr);
        }
    }
    metrics_num(&r->mt, "expected_poison", c->expected_poison);
    if (s == MS_OK && c->save_activations) {
        r->activations = feat;
        feat = NULL;
    }
    free(feat), free(flag), free(truth);
    return s;
}
