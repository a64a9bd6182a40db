/* train.c - the training loop (see train.h). */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "checked.h"
#include "interrupt.h"
#include "clock.h"
#include "layers.h"
#include "progress.h"
#include "rng.h"

ms_status train_run(cnn *m, adam *opt, const dataset *train, const train_opts *o,
                    train_stats *st, ms_err *err)
{
    size_t factor = o->hook_factor ? o->hook_factor : 1;
    size_t count = o->subset ? o->subset_n : train->n;
    size_t cap;
    if (o->batch_size == 0 || !size_mul(&cap, o->batch_size, factor) || cap > m->max_batch)
        return ms_fail(err, MS_EINTERNAL, "batch of %zu x %zu exceeds the model capacity %zu",
                       o->batch_size, factor, m->max_batch);
    if (o->epochs > TRAIN_MAX_EPOCHS)
        return ms_fail(err, MS_EUSAGE, "--epochs: at most %d", TRAIN_MAX_EPOCHS);
    if (count == 0 || count > UINT32_MAX)
        return ms_fail(err, MS_EDATA, "training set has %zu images", count);
    if (o->subset)
        for (size_t i = 0; i < count; i++)
            if (o->subset[i] >= train->n)
                return ms_fail(err, MS_EINTERNAL, "training subset index %lu outside %zu images",
                               (unsigned long)o->subset[i], train->n);

    size_t xbytes, obytes;
    if (!size_mul3(&xbytes, cap, CNN_PIXELS, sizeof(float)) ||
        !size_mul(&obytes, count, sizeof(uint32_t)))
        return ms_fail(err, MS_EINTERNAL, "batch buffer size overflows");
    float *x = malloc(xbytes);
    uint8_t *y = malloc(cap);
    uint32_t *order = malloc(obytes);
    if (!x || !y || !order) {
        free(x), free(y), free(order);
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating training buffers");
    }
    rng_t r;
    rng_init(&r, o->seed, o->shuffle_stream);
    ms_status s = MS_OK;
    size_t nbatches = (count + o->batch_size - 1) / o->batch_size;
    double t0 = clock_seconds();
    /* the stage is the whole phase, so the ETA counts the epochs still to come */
    size_t total;
    progress pg;
    progress_begin(&pg, o->quiet, size_mul(&total, o->epochs, count) ? total : SIZE_MAX);
    st->steps = 0;
    st->epochs = 0;
    for (size_t e = 0; e < o->epochs && s == MS_OK; e++) {
        for (size_t i = 0; i < count; i++)
            order[i] = o->subset ? o->subset[i] : (uint32_t)i;
        rng_shuffle(&r, order, count);
        double loss_sum = 0.0;
        size_t seen = 0;
        double te = clock_seconds();
        for (size_t b = 0; b < nbatches; b++) {
            size_t lo = b * o->batch_size;
            size_t n = count - lo < o->batch_size ? count - lo : o->batch_size;
            size_t done = e * count + lo + n; /* the hook may append to the batch */
            dataset_batch(train, order + lo, n, x, y);
            if (o->hook) {
                train_batch tb = {.epoch = e,
                                  .epochs = o->epochs,
                                  .step = b,
                                  .steps = nbatches,
                                  .global_step = st->steps,
                                  .ids = order + lo};
                s = o->hook(o->hook_ctx, m, &tb, x, y, &n, cap, err);
                if (s != MS_OK)
                    break;
            }
            if (o->lr_at)
                opt->lr = o->lr_at(o->lr_ctx, st->steps, o->epochs * nbatches);
            char what[64];
            snprintf(what, sizeof what, "%s epoch %zu", o->phase, e + 1);
            if ((s = interrupt_check(what, err)) != MS_OK)
                break;
            const float *z = cnn_forward(m, x, n);
            double loss = o->loss ? o->loss(o->loss_ctx, z, y, n, m->dz)
                                  : softmax_xent(m->dz, z, y, n, CNN_CLASSES, n);
            if (!isfinite(loss) || loss > TRAIN_DIVERGED_LOSS) {
                s = ms_fail(err, MS_ENUMERIC,
                            "training diverged: the loss is %g at %s, batch %zu of %zu "
                            "(try a smaller learning rate)",
                            loss, what, b + 1, nbatches);
                break;
            }
            cnn_backward(m, m->dz, NULL, 1);
            adam_step(opt, m->params, m->grads, kctx_pool(m->k));
            loss_sum += loss * (double)n;
            seen += n;
            st->steps++;
            progress_step(&pg, done, loss_sum / (double)seen, "%s epoch %zu/%zu: batch %zu/%zu",
                          o->phase, e + 1, o->epochs, b + 1, nbatches);
        }
        if (s != MS_OK)
            break;
        st->epoch_loss[e] = loss_sum / (double)seen;
        st->epochs = e + 1;
        double secs = clock_seconds() - te;
        progress_note(&pg, "%s epoch %zu/%zu: mean loss %.4f, %.0f images/s, %.1f s", o->phase,
                      e + 1, o->epochs, st->epoch_loss[e], secs > 0 ? (double)count / secs : 0.0,
                      secs);
        if (o->epoch_end)
            s = o->epoch_end(o->epoch_ctx, m, e, st->epoch_loss[e], secs, err);
    }
    progress_end(&pg, NULL);
    st->seconds = clock_seconds() - t0;
    free(x), free(y), free(order);
    return s;
}
