/* eval.h - evaluation of a model on a (possibly transformed) test set: loss,
 * accuracy and the confusion matrix.
 *
 * A transform may rewrite each batch before it is scored: add a trigger, or replace
 * the images with adversarial ones.
 */
#ifndef MNISTSEC_EVAL_H
#define MNISTSEC_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "dataset.h"
#include "status.h"

/* x: (n, 784) with labels y of dataset images idx[0..n). */
typedef ms_status (*eval_transform)(void *ctx, cnn *m, float *x, const uint8_t *y,
                                    const uint32_t *idx, size_t n, ms_err *err);

typedef struct {
    uint64_t confusion[CNN_CLASSES][CNN_CLASSES]; /* [true][predicted] */
    double loss_sum;                              /* sum of per-image losses */
    size_t count, correct;
    double seconds;
} eval_result;

/* Evaluates images idx[0..count) of ds (idx NULL: the first `count`) in batches of at
 * most `batch`, applying tf (may be NULL) to each batch. */
ms_status evaluate(cnn *m, const dataset *ds, const uint32_t *idx, size_t count, size_t batch,
                   eval_transform tf, void *tf_ctx, eval_result *r, ms_err *err);

double eval_accuracy(const eval_result *r);
/* MS_EDATA naming `what` (e.g. a checkpoint) if the model's logits on the first test
 * images are not all finite: weights with valid checksums can still be hostile. */
ms_status eval_check_finite(cnn *m, const dataset *ds, const char *what, ms_err *err);
/* Batch-1 latency in milliseconds per image: `passes` passes over the first `images`
 * images of ds (after one warm-up forward), the median pass, which a brief stall of
 * the machine during one pass does not move. */
double eval_latency_ms(cnn *m, const dataset *ds, size_t images, size_t passes);
double eval_loss(const eval_result *r);

#endif
