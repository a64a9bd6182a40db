/* backdoor_defense.c - the Blue Team against the backdoor, as the poisoned mode runs it
 * (see backdoor_defense.h). */
#include "backdoor_defense.h"

#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "clock.h"
#include "modes.h"

#define ACT_BATCH 100
#define EVAL_BATCH 100
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

void backdoor_poison_rows(run *r)
{
    const config *c = r->c;
    metrics_int(&r->mt, "poison_source", (uint64_t)c->poison_source);
    metrics_int(&r->mt, "poison_target", (uint64_t)c->poison_target);
    metrics_str(&r->mt, "poison_pick", c->poison_pick == POISON_PICK_RANDOM ? "random" : "first");
}

ms_status backdoor_trigger_transform(void *ctx, cnn *m, float *x, const uint8_t *y,
                                     const uint32_t *idx, size_t n, ms_err *err)
{
    (void)m, (void)y, (void)err;
    const backdoor_trigger *t = ctx;
    for (size_t i = 0; i < n; i++)
        if (!t->mark || t->mark[idx[i]])
            poison_trigger(x + i * CNN_PIXELS, 1);
    return MS_OK;
}

ms_status backdoor_evaluate(run *r, eval_result *clean, eval_result *trig,
                            backdoor_metrics *bm, ms_err *err)
{
    backdoor_trigger all = {NULL};
    ms_status s = evaluate(r->m, &r->test, NULL, r->test.n, EVAL_BATCH, NULL, NULL, clean, err);
    if (s == MS_OK)
        s = evaluate(r->m, &r->test, NULL, r->test.n, EVAL_BATCH, backdoor_trigger_transform,
                     &all, trig, err);
    if (s == MS_OK)
        *bm = backdoor_measure((const uint64_t(*)[CNN_CLASSES])clean->confusion,
                               (const uint64_t(*)[CNN_CLASSES])trig->confusion,
                               r->c->poison_source, r->c->poison_target);
    return s;
}

/* Clean accuracy and attack success rate of the run's model. */
static ms_status measure(run *r, backdoor_figures *f, ms_err *err)
{
    eval_result clean, trig;
    backdoor_metrics bm;
    ms_status s = backdoor_evaluate(r, &clean, &trig, &bm, err);
    if (s == MS_OK)
        *f = (backdoor_figures){eval_accuracy(&clean), bm.attack_success_rate};
    return s;
}

/* detection.csv: per class and in total, the scores against the truth; spectre's label
 * statistics (spread, anomaly_index) where the detector has them, else empty. */
static void detection_rows(csv_table *t, const char *method, const detect_scores *sc,
                           const detect_report *rep)
{
    int stats = strcmp(method, "spectre") == 0;
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
        if (stats && c < DETECT_LABELS && rep->label[c].examined) {
            table_num(t, rep->label[c].spread);
            table_num(t, rep->label[c].anomaly);
        } else {
            table_str(t, "");
            table_str(t, "");
        }
    }
}

/* STRIP on the current model: the threshold from even-indexed clean test images (the
 * held-out set, also the blending pool), the rates on the odd-indexed clean ones and on
 * every test image of the source class with the trigger. */
static ms_status strip_eval(run *r, backdoor_defence *out, ms_err *err)
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
        out->strip = 1;
        out->strip_threshold = thr;
        out->strip_rates = strip_measure(ent + nheld, troj, neval, thr);
    }
    free(pool), free(ent), free(troj);
    return s;
}

ms_status backdoor_defend_model(run *r, csv_table *detection, float **activations,
                                backdoor_defence *out, ms_err *err)
{
    const config *c = r->c;
    memset(out, 0, sizeof *out);
    if (activations)
        *activations = NULL;
    ms_status s = MS_OK;
    if (c->defend.strip && (s = strip_eval(r, out, err)) != MS_OK)
        return s;
    if (!c->defend.n)
        return MS_OK;
    float *feat = NULL;
    uint8_t *flag = calloc(r->train.n, 1), *truth = calloc(r->train.n, 1);
    if (!flag || !truth) {
        free(flag), free(truth);
        return ms_fail(err, MS_EINTERNAL, "out of memory");
    }
    for (size_t i = 0; i < r->npoisoned; i++)
        truth[r->poisoned[i]] = 1; /* only to score the detectors */
    double t0 = clock_seconds();
    s = fc1_activations(r->m, &r->train, &feat, err);
    out->activation_seconds = clock_seconds() - t0;
    detect_opts o;
    detect_opts_default(&o);
    o.expected_fraction = c->expected_poison;
    o.spectral_multiplier = c->spectral_multiplier;
    o.cluster_threshold = c->cluster_threshold;
    o.label_anomaly = c->label_anomaly;
    o.seed = c->seed;
    for (size_t d = 0; d < c->defend.n && s == MS_OK; d++) {
        backdoor_detection *bd = &out->det[d];
        bd->det = c->defend.det[d];
        t0 = clock_seconds();
        detect_report rep;
        s = bd->det->run(feat, r->train.n, CNN_HIDDEN, r->train.labels, &o, flag, NULL, &rep,
                         err);
        bd->detect_seconds = clock_seconds() - t0;
        if (s == MS_OK)
            s = detect_score(flag, truth, r->train.labels, r->train.n, &bd->sc, err);
        if (s != MS_OK)
            break;
        if (detection)
            detection_rows(detection, bd->det->name, &bd->sc, &rep);
        bd->removed = bd->sc.total.flagged;
        train_stats st;
        t0 = clock_seconds();
        if ((s = mode_train_model(r, flag, "retrain", &st, err)) == MS_OK &&
            (s = measure(r, &bd->after, err)) == MS_OK)
            out->ndet = d + 1;
        bd->retrain_seconds = clock_seconds() - t0;
    }
    if (s == MS_OK && activations) {
        *activations = feat;
        feat = NULL;
    }
    free(feat), free(flag), free(truth);
    return s;
}

ms_status backdoor_defend(run *r, const backdoor_figures *before, ms_err *err)
{
    const config *c = r->c;
    if (!c->defend.n && !c->defend.strip)
        return MS_OK;
    static const char *const cols[] = {"method", "class", "flagged", "true_positives",
                                       "false_positives", "recall", "precision",
                                       "spread", "anomaly_index"};
    csv_table *t = c->defend.n ? run_table(r, "detection.csv", 9, cols) : NULL;
    backdoor_defence d;
    float *feat = NULL;
    ms_status s = backdoor_defend_model(r, t, c->save_activations ? &feat : NULL, &d, err);
    if (s != MS_OK)
        return s;
    if (d.strip) {
        metrics_num(&r->mt, "strip_threshold_bits", d.strip_threshold);
        metrics_num(&r->mt, "strip_target_fpr", STRIP_FPR);
        metrics_num(&r->mt, "strip_true_positive_rate", d.strip_rates.tpr);
        metrics_num(&r->mt, "strip_false_positive_rate", d.strip_rates.fpr);
        metrics_int(&r->mt, "strip_blends", STRIP_BLENDS);
    }
    if (!c->defend.n)
        return MS_OK;
    metrics_num(&r->mt, "before_clean_accuracy", before->clean_accuracy);
    metrics_num(&r->mt, "before_attack_success_rate", before->attack_success_rate);
    metrics_time(&r->mt, "activation_seconds", d.activation_seconds);
    for (size_t i = 0; i < d.ndet; i++) {
        const backdoor_detection *bd = &d.det[i];
        char key[80];
        snprintf(key, sizeof key, "%s_", bd->det->name);
        metrics_num2(&r->mt, key, "recall", bd->sc.total.recall);
        metrics_num2(&r->mt, key, "precision", bd->sc.total.precision);
        metrics_num2(&r->mt, key, "removed_images", (double)bd->removed);
        metrics_num2(&r->mt, key, "after_clean_accuracy", bd->after.clean_accuracy);
        metrics_num2(&r->mt, key, "after_attack_success_rate", bd->after.attack_success_rate);
        metrics_time2(&r->mt, key, "detect_seconds", bd->detect_seconds);
        metrics_time2(&r->mt, key, "retrain_seconds", bd->retrain_seconds);
        if (d.ndet == 1) {
            metrics_int(&r->mt, "removed_images", bd->removed);
            metrics_num(&r->mt, "after_clean_accuracy", bd->after.clean_accuracy);
            metrics_num(&r->mt, "after_attack_success_rate", bd->after.attack_success_rate);
        }
    }
    metrics_num(&r->mt, "expected_poison", c->expected_poison);
    r->activations = feat;
    return MS_OK;
}
