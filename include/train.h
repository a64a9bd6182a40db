/* train.h - the training loop: shuffled mini-batches, mean cross-entropy, Adam.
 *
 * A per-batch hook can rewrite the batch or append examples to it before the step
 * (adversarial training appends each batch's adversarial copy); it is told the epoch,
 * the step and the dataset indices of the batch, so it can draw per-image random
 * streams and follow schedules. A loss function can replace the mean cross-entropy
 * (e.g. a loss over the clean and the appended halves together).
 */
#ifndef MNISTSEC_TRAIN_H
#define MNISTSEC_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "dataset.h"
#include "optim.h"
#include "status.h"

/* Where a batch comes from. */
typedef struct {
    size_t epoch;        /* 0-based */
    size_t epochs;
    size_t step;         /* 0-based step within the epoch */
    size_t steps;        /* steps per epoch */
    size_t global_step;  /* 0-based over the whole run */
    const uint32_t *ids; /* (n) dataset indices of the batch's images, as gathered */
} train_batch;

/* x: (cap, 784) holding *n images with labels y; the hook may change them and set *n
 * up to cap. */
typedef ms_status (*train_hook)(void *ctx, cnn *m, const train_batch *b, float *x,
                                uint8_t *y, size_t *n, size_t cap, ms_err *err);

/* The loss of a batch of n examples from its logits z (n, 10): returns it and writes
 * dL/dz into dz (n, 10). NULL: mean cross-entropy (softmax_xent). */
typedef double (*train_loss)(void *ctx, const float *z, const uint8_t *y, size_t n,
                             float *dz);

typedef struct {
    size_t epochs;
    size_t batch_size;
    uint64_t seed;
    uint64_t shuffle_stream; /* RNG stream of the epoch orders (distinct per phase) */
    const uint32_t *subset;  /* train only on these dataset indices (NULL: all) */
    size_t subset_n;
    train_hook hook;         /* may be NULL */
    void *hook_ctx;
    size_t hook_factor;      /* batch capacity multiplier the hook needs (>= 1) */
    train_loss loss;         /* may be NULL */
    void *loss_ctx;
    /* Learning rate of each step (NULL: the optimiser's own, unchanged). */
    double (*lr_at)(void *ctx, size_t global_step, size_t total_steps);
    void *lr_ctx;
    /* Called after each epoch with its mean loss; may evaluate or keep the model. */
    ms_status (*epoch_end)(void *ctx, cnn *m, size_t epoch, double mean_loss,
                           double seconds, ms_err *err);
    void *epoch_ctx;
    int quiet;
    const char *phase;       /* name in progress lines */
} train_opts;

#define TRAIN_MAX_EPOCHS 1000
/* A batch loss above this (a logit gap of thousands) or not finite means training has
 * diverged: train_run stops with MS_ENUMERIC naming the epoch and the batch. */
#define TRAIN_DIVERGED_LOSS 1e4

typedef struct {
    double seconds;
    size_t steps;
    size_t epochs;
    double epoch_loss[TRAIN_MAX_EPOCHS]; /* mean training loss of each epoch */
} train_stats;

ms_status train_run(cnn *m, adam *opt, const dataset *train, const train_opts *o,
                    train_stats *st, ms_err *err);

#endif
