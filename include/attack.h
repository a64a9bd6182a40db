/* attack.h - evasion attacks (FGSM) against any differentiable classifier.
 *
 * An attack sees a model only through attack_model: a function giving the mean
 * cross-entropy loss of a batch and its gradient with respect to the input pixels.
 * Pixels are in [0,1]; epsilon is an L-infinity radius in that space.
 */
#ifndef MNISTSEC_ATTACK_H
#define MNISTSEC_ATTACK_H

#include <stddef.h>
#include <stdint.h>

#include "cnn.h"

typedef struct {
    void *self;
    size_t dim;       /* input size per example */
    size_t max_batch; /* largest n accepted */
    /* dx: (n, dim) = d(mean loss)/dx for inputs x (n, dim) with labels y. Returns the
     * mean loss. */
    double (*loss_input_grad)(void *self, const float *x, const uint8_t *y, size_t n,
                              float *dx);
} attack_model;

/* The CNN as an attack target (its parameters are not changed). */
attack_model cnn_attack_model(cnn *m);

/* FGSM: x_adv = clamp(x + eps * sign(dL/dx), 0, 1), sign(0) = 0.
 * x, x_adv: (n, dim), may alias; grad: scratch (n, dim). n <= am->max_batch. */
void fgsm(const attack_model *am, const float *x, const uint8_t *y, size_t n, float eps,
          float *x_adv, float *grad);

#endif
