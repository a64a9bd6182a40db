/* eval.c - loss, accuracy and confusion of a model on a test set (see eval.h). */
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack.h"
#include "checked.h"
#include "interrupt.h"
#include "clock.h"
#include "layers.h"
#include "progress.h"

ms_status evaluate(cnn *m, const dataset *ds, const uint32_t *idx, size_t count, size_t batch,
                   eval_transform tf, void *tf_ctx, eval_result *r, ms_err *err)
{
    memset(r, 0, sizeof *r);
    if (batch > m->max_batch)
        batch = m->max_batch;
    if (count > ds->n || count > UINT32_MAX)
        return ms_fail(err, MS_EINTERNAL, "evaluation of %zu images from a set of %zu", count,
                       ds->n);
    size_t xbytes;
    if (!size_mul3(&xbytes, batch, CNN_PIXELS, sizeof(float)))
        return ms_fail(err, MS_EINTERNAL, "evaluation buffer size overflows");
    float *x = malloc(xbytes);
    uint8_t *y = malloc(batch);
    uint8_t *pred = malloc(batch);
    uint32_t *ids = malloc(batch * sizeof *ids);
    if (!x || !y || !pred || !ids) {
        free(x), free(y), free(pred), free(ids);
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating evaluation buffers");
    }
    ms_status s = MS_OK;
    double t0 = clock_seconds();
    /* an attack is a stage worth a progress line; a clean pass takes about a second */
    const attack_eval *ae = tf == attack_transform ? tf_ctx : NULL;
    char what[64] = "";
    if (ae)
        snprintf(what, sizeof what, "attack %s eps %g", ae->def->name, (double)ae->params.eps);
    progress pg;
    progress_begin(&pg, !ae, count);
    for (size_t lo = 0; lo < count; lo += batch) {
        size_t n = count - lo < batch ? count - lo : batch;
        for (size_t i = 0; i < n; i++)
            ids[i] = idx ? idx[lo + i] : (uint32_t)(lo + i);
        if ((s = interrupt_check("evaluation", err)) != MS_OK)
            break;
        dataset_batch(ds, ids, n, x, y);
        if (tf) {
            s = tf(tf_ctx, m, x, y, ids, n, err);
            if (s != MS_OK)
                break;
        }
        const float *z = cnn_forward(m, x, n);
        r->loss_sum += softmax_xent(NULL, z, y, n, CNN_CLASSES, 1);
        cnn_argmax(z, n, pred);
        for (size_t i = 0; i < n; i++) {
            r->confusion[y[i]][pred[i]]++;
            r->correct += y[i] == pred[i];
        }
        r->count += n;
        progress_step(&pg, r->count, r->loss_sum / (double)r->count, "%s: images %zu/%zu", what,
                      r->count, count);
    }
    if (s == MS_OK)
        progress_end(&pg, "%s", what);
    else
        progress_end(&pg, NULL);
    r->seconds = clock_seconds() - t0;
    free(x), free(y), free(pred), free(ids);
    return s;
}

ms_status eval_check_finite(cnn *m, const dataset *ds, const char *what, ms_err *err)
{
    float x[8 * CNN_PIXELS];
    uint32_t ids[8] = {0};
    size_t n = ds->n < 8 ? ds->n : 8;
    if (n > m->max_batch)
        n = m->max_batch;
    for (size_t i = 0; i < n; i++)
        ids[i] = (uint32_t)i;
    dataset_batch(ds, ids, n, x, NULL);
    const float *z = cnn_forward(m, x, n);
    for (size_t i = 0; i < n * CNN_CLASSES; i++)
        if (!isfinite(z[i]))
            return ms_fail(err, MS_EDATA,
                           "%s: the weights give a non-finite logit (%g) on test image %zu",
                           what, (double)z[i], i / CNN_CLASSES);
    return MS_OK;
}

double eval_accuracy(const eval_result *r)
{
    return r->count ? (double)r->correct / (double)r->count : 0.0;
}

double eval_loss(const eval_result *r)
{
    return r->count ? r->loss_sum / (double)r->count : 0.0;
}

#define LATENCY_MAX_PASSES 15

double eval_latency_ms(cnn *m, const dataset *ds, size_t images, size_t passes)
{
    size_t n = ds->n < images ? ds->n : images;
    if (passes > LATENCY_MAX_PASSES)
        passes = LATENCY_MAX_PASSES;
    if (n == 0 || passes == 0)
        return 0.0;
    float x[CNN_PIXELS];
    uint32_t i0 = 0;
    dataset_batch(ds, &i0, 1, x, NULL);
    (void)cnn_forward(m, x, 1); /* warm-up */
    double pass[LATENCY_MAX_PASSES];
    for (size_t p = 0; p < passes; p++) {
        double t0 = clock_seconds();
        for (size_t i = 0; i < n; i++) {
            uint32_t id = (uint32_t)i;
            dataset_batch(ds, &id, 1, x, NULL);
            (void)cnn_forward(m, x, 1);
        }
        pass[p] = clock_seconds() - t0;
        /* insertion into sorted order */
        for (size_t q = p; q > 0 && pass[q] < pass[q - 1]; q--) {
            double t = pass[q];
            pass[q] = pass[q - 1];
            pass[q - 1] = t;
        }
    }
    return 1e3 * pass[passes / 2] / (double)n;
}
