/* optim.h - the Adam optimiser (Kingma & Ba), with PyTorch's update rule:
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
#ifndef MNISTSEC_OPTIM_H
#define MNISTSEC_OPTIM_H

#include <stddef.h>

#include "status.h"
#include "threadpool.h"

typedef struct {
    size_t n;
    float *m, *v; /* one allocation: 2n floats */
    double lr, beta1, beta2, eps;
    long step;
} adam;

ms_status adam_create(adam *a, size_t n, double lr, ms_err *err);
void adam_free(adam *a);
/* One update of params (n) from grads (n), which are then zeroed for the next step.
 * Elementwise, so splitting over the pool's threads gives identical results. */
void adam_step(adam *a, float *params, float *grads, threadpool *pool);

#endif
