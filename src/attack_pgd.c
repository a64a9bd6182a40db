/* attack_pgd.c - projected gradient descent on the cross-entropy (Madry et al. 2018):
 * a uniform random start in the eps-ball (or the original: BIM, Kurakin et al. 2017),
 * then `steps` projected signed-gradient steps of size `step`. Per example the result
 * is the first iterate found misclassified, else the last one; over restarts the worst
 * case (attack_restarts).
 *
 * The gradient is that of the summed per-example losses, so an example's steps do not
 * depend on the other examples of its batch.
 *
 * Workspace: plane[0] gradient, plane[1] first misclassified iterate; vec[0] loss;
 * byte[0] correct at the current iterate, byte[1] misclassified iterate recorded.
 */
#include "attack.h"

#include <string.h>

static ms_status pgd_once(const attack_model *am, const attack_batch *b,
                          const attack_params *p, attack_ws *ws, attack_out *out,
                          ms_err *err)
{
    (void)err;
    const size_t d = am->dim, n = b->n;
    float *grad = ws->plane[0], *found = ws->plane[1];
    uint8_t *correct = ws->byte[0], *have = ws->byte[1];
    float *xa = out->x_adv;
    for (size_t i = 0; i < n; i++) {
        if (p->random_start) {
            rng_t r;
            attack_rng(&r, p->seed, p->salt, b->ids[i], p->restart);
            linf_random_start(xa + i * d, b->x + i * d, d, p->eps, &r);
        } else {
            memcpy(xa + i * d, b->x + i * d, d * sizeof *xa);
        }
        have[i] = 0;
    }
    for (size_t t = 0; t < p->steps; t++) {
        attack_loss_grad(am, xa, b->y, NULL, n, ATTACK_LOSS_CE, 1, NULL, correct, grad, ws->dz);
        for (size_t i = 0; i < n; i++)
            if (!correct[i] && !have[i]) {
                memcpy(found + i * d, xa + i * d, d * sizeof *found);
                have[i] = 1;
            }
        linf_step(xa, b->x, grad, n * d, p->step, p->eps);
    }
    attack_loss_grad(am, xa, b->y, NULL, n, ATTACK_LOSS_CE, 1, out->loss, out->correct, NULL,
                     NULL);
    for (size_t i = 0; i < n; i++)
        if (have[i] && out->correct[i]) {
            memcpy(xa + i * d, found + i * d, d * sizeof *xa);
            out->correct[i] = 0;
        }
    /* the loss of a restored iterate is not recomputed: it only orders restarts, and a
     * misclassified result is kept whatever its loss */
    return MS_OK;
}

ms_status attack_pgd(const attack_model *am, const attack_batch *b, const attack_params *p,
                     attack_ws *ws, attack_out *out, ms_err *err)
{
    attack_out o = *out;
    if (!o.loss)
        o.loss = ws->vec[5];
    if (!o.correct)
        o.correct = ws->byte[4];
    return attack_restarts(pgd_once, am, b, p, ws, &o, err);
}
