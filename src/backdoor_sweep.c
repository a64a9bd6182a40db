/* backdoor_sweep.c - --poison-sweep: the backdoor and the defence for several poison
 * counts (see backdoor_sweep.h). */
#include "backdoor_sweep.h"

#include <stdlib.h>
#include <string.h>

#include "backdoor_defense.h"
#include "checked.h"
#include "clock.h"
#include "modes.h"
#include "progress.h"

#define SWEEP_COLS 11

/* The stored pixels and labels of images idx[0..n) of ds, saved into (or, restore = 1,
 * put back from) px: (n, rows*cols) elements of the set's pixel type and lab: (n). */
static void keep_images(dataset *ds, const uint32_t *idx, size_t n, unsigned char *px,
                        uint8_t *lab, int restore)
{
    size_t es = ds->pixels_u8 ? 1 : sizeof(float), bytes = ds->rows * ds->cols * es;
    unsigned char *base = ds->pixels_u8 ? ds->pixels_u8 : (unsigned char *)ds->pixels_f32;
    for (size_t k = 0; k < n; k++) {
        unsigned char *img = base + idx[k] * bytes, *copy = px + k * bytes;
        memcpy(restore ? img : copy, restore ? copy : img, bytes);
        if (restore)
            ds->labels[idx[k]] = lab[k];
        else
            lab[k] = ds->labels[idx[k]];
    }
}

/* A row's cells from poison_count to clean_accuracy_before. */
static void row_start(csv_table *t, size_t count, const char *method,
                      const backdoor_figures *before)
{
    table_int(t, count);
    table_str(t, method);
    table_num(t, before->attack_success_rate);
    table_num(t, before->clean_accuracy);
}

/* The rows of one count: none, each training-set detector, strip. */
static void sweep_rows(csv_table *t, size_t count, const backdoor_figures *before,
                       const backdoor_defence *d)
{
    row_start(t, count, "none", before);
    table_int(t, 0);
    table_str(t, "");
    table_str(t, "");
    table_num(t, before->attack_success_rate);
    table_num(t, before->clean_accuracy);
    table_str(t, "");
    table_str(t, "");
    for (size_t i = 0; i < d->ndet; i++) {
        const backdoor_detection *bd = &d->det[i];
        row_start(t, count, bd->det->name, before);
        table_int(t, bd->removed);
        table_num(t, bd->sc.total.recall);
        table_num(t, bd->sc.total.precision);
        table_num(t, bd->after.attack_success_rate);
        table_num(t, bd->after.clean_accuracy);
        table_str(t, "");
        table_str(t, "");
    }
    if (d->strip) {
        row_start(t, count, "strip", before);
        for (int k = 0; k < 5; k++)
            table_str(t, "");
        table_num(t, d->strip_rates.tpr);
        table_num(t, d->strip_rates.fpr);
    }
}

/* One count, its images already poisoned: the model, its figures, the defence. */
static ms_status sweep_count(run *r, size_t k, csv_table *t, ms_err *err)
{
    const count_list *sw = &r->c->poison_sweep;
    size_t count = sw->v[k];
    train_stats st;
    eval_result clean, trig;
    backdoor_metrics bm;
    backdoor_defence d;
    ms_status s = mode_train_model(r, NULL, "train", &st, err);
    if (s == MS_OK)
        s = backdoor_evaluate(r, &clean, &trig, &bm, err);
    if (s != MS_OK)
        return s;
    backdoor_figures before = {eval_accuracy(&clean), bm.attack_success_rate};
    if (!r->c->quiet)
        progress_done("poison sweep %zu/%zu: %zu poisoned images: clean accuracy %.4f, "
                      "attack success rate %.4f", k + 1, sw->n, count, before.clean_accuracy,
                      before.attack_success_rate);
    if ((s = backdoor_defend_model(r, NULL, NULL, &d, err)) != MS_OK)
        return s;
    sweep_rows(t, count, &before, &d);
    return MS_OK;
}

ms_status backdoor_sweep(run *r, ms_err *err)
{
    const config *c = r->c;
    const count_list *sw = &c->poison_sweep;
    size_t avail = 0, most = sw->n ? sw->v[sw->n - 1] : 0; /* in increasing order */
    if (most == 0)
        return ms_fail(err, MS_EUSAGE, "--poison-sweep: no positive count");
    for (size_t i = 0; i < r->train.n; i++)
        avail += r->train.labels[i] == c->poison_source;
    if (most > avail)
        return ms_fail(err, MS_EUSAGE,
                       "--poison-sweep: %zu exceeds the %zu training images of class %d",
                       most, avail, c->poison_source);
    size_t px_bytes;
    size_t es = r->train.pixels_u8 ? 1 : sizeof(float);
    if (!size_mul3(&px_bytes, most, r->train.rows * r->train.cols, es))
        return ms_fail(err, MS_EINTERNAL, "poison sweep buffer size overflows");
    unsigned char *px = malloc(px_bytes);
    uint8_t *lab = malloc(most);
    r->poisoned = malloc(most * sizeof *r->poisoned);
    static const char *const cols[SWEEP_COLS] = {
        "poison_count", "method",     "asr_before", "clean_accuracy_before",
        "flagged",      "recall",     "precision",  "asr_after",
        "clean_accuracy_after",       "strip_tpr",  "strip_fpr"};
    csv_table *t = run_table(r, "backdoor_sweep.csv", SWEEP_COLS, cols);
    ms_status s = MS_OK;
    if (!px || !lab || !r->poisoned || !t)
        s = ms_fail(err, MS_EINTERNAL, "out of memory for the poison sweep");
    double t0 = clock_seconds();
    /* Each count's images are put back afterwards, so every count poisons the clean set,
     * as a single run would, whatever the pick rule. */
    for (size_t k = 0; k < sw->n && s == MS_OK; k++) {
        poison_opts po = {sw->v[k], c->poison_source, c->poison_target,
                          (poison_pick)c->poison_pick, c->seed};
        if ((s = poison_select(&r->train, &po, r->poisoned, err)) != MS_OK)
            break;
        r->npoisoned = po.count;
        keep_images(&r->train, r->poisoned, po.count, px, lab, 0);
        poison_apply(&r->train, r->poisoned, po.count, po.target);
        s = sweep_count(r, k, t, err);
        keep_images(&r->train, r->poisoned, po.count, px, lab, 1);
    }
    /* No poisoned_indices.csv: the indices of each count are those of --poison-count. */
    free(r->poisoned);
    r->poisoned = NULL;
    r->npoisoned = 0;
    free(px), free(lab);
    if (s != MS_OK)
        return s;
    char list[CLI_LIST_MAX * 8];
    size_t len = 0;
    list[0] = '\0';
    for (size_t k = 0; k < sw->n && len < sizeof list; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%zu", k ? " " : "", sw->v[k]);
    metrics_str(&r->mt, "poison_sweep", list);
    backdoor_poison_rows(r);
    if (c->defend.n)
        metrics_num(&r->mt, "expected_poison", c->expected_poison);
    metrics_int(&r->mt, "sweep_models_trained", sw->n * (1 + c->defend.n));
    metrics_time(&r->mt, "sweep_seconds", clock_seconds() - t0);
    return MS_OK;
}
