/* train.h - the training loop: shuffled mini-batches, mean cross-entropy, Adam.
 *
 * A per-batch hook can rewrite the batch or append examples to it before the step
 * (adversarial training appends each batch's FGSM copy).
 */
#ifndef MNISTSEC_TRAIN_H
#define MNISTSEC_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "idx.h"
#include "optim.h"
#include "status.h"

/* x: (cap, 784) holding *n images with labels y; the hook may change them and set *n
 * up to cap. */
typedef ms_status (*train_hook)(void *ctx, cnn *m, float *x, uint8_t *y, size_t *n,
                                size_t cap, ms_err *err);

typedef struct {
    size_t epochs;
    size_t batch_size;
    uint64_t seed;
    uint64_t shuffle_stream; /* RNG stream of the epoch orders (distinct per phase) */
    train_hook hook;         /* may be NULL */
    void *hook_ctx;
    size_t hook_factor;      /* batch capacity multiplier the hook needs (>= 1) */
    int quiet;
    const char *phase;       /* name in progress lines */
} train_opts;

#define TRAIN_MAX_EPOCHS 1000

typedef struct {
    double seconds;
    size_t steps;
    size_t epochs;
    double epoch_loss[TRAIN_MAX_EPOCHS]; /* mean training loss of each epoch */
} train_stats;

ms_status train_run(cnn *m, adam *opt, const dataset *train, const train_opts *o,
                    train_stats *st, ms_err *err);

#endif
