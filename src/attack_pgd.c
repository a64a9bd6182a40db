/* attack_pgd.c - projected gradient descent on the cross-entropy (Madry et al. 2018):
 * a uniform random start in the eps-ball (or the original: BIM, Kurakin et al. 2017),
 * then `steps` projected signed-gradient steps of size `step`. An example stops at its
 * first misclassified iterate, which is its result (with keep_going, every example
 * takes every step and the result is the first misclassified iterate, else the last);
 * over restarts the worst case (attack_restarts).
 *
 * The gradient is that of the summed per-example losses, so an example's steps do not
 * depend on the other examples of its batch: the examples still being attacked are
 * gathered into a sub-batch each step.
 *
 * Workspace: plane[0] gradient, plane[1] first misclassified iterate (keep_going),
 * plane[2] gathered iterates, plane[3] gathered originals; byte[0] correct at the
 * gathered iterates, byte[1] misclassified iterate recorded; act the examples still
 * attacked; vec[0] gathered labels (as bytes).
 */
#include "attack.h"

#include <string.h>

static ms_status pgd_once(const attack_model *am, const attack_batch *b,
                          const attack_params *p, attack_ws *ws, attack_out *out,
                          ms_err *err)
{
    (void)err;
    const size_t d = am->dim, n = b->n, row = d * sizeof(float);
    float *grad = ws->plane[0], *found = ws->plane[1], *gx = ws->plane[2], *g0 = ws->plane[3];
    uint8_t *correct = ws->byte[0], *have = ws->byte[1], *gy = (uint8_t *)ws->vec[0];
    uint32_t *act = ws->act;
    float *xa = out->x_adv;
    for (size_t i = 0; i < n; i++) {
        if (p->random_start) {
            rng_t r;
            attack_rng(&r, p->seed, p->salt, b->ids[i], p->restart);
            linf_random_start(xa + i * d, b->x + i * d, d, p->eps, &r);
        } else {
            memcpy(xa + i * d, b->x + i * d, row);
        }
        have[i] = 0;
        act[i] = (uint32_t)i;
    }
    size_t m = n; /* examples still attacked: act[0..m) */
    for (size_t t = 0; t < p->steps && m > 0; t++) {
        for (size_t k = 0; k < m; k++) {
            memcpy(gx + k * d, xa + act[k] * d, row);
            memcpy(g0 + k * d, b->x + act[k] * d, row);
            gy[k] = b->y[act[k]];
        }
        attack_loss_grad(am, gx, gy, NULL, m, ATTACK_LOSS_CE, 1, NULL, correct, grad, ws->dz);
        size_t kept = 0;
        for (size_t k = 0; k < m; k++) {
            size_t i = act[k];
            if (!correct[k] && !have[i]) {
                have[i] = 1;
                if (p->keep_going)
                    memcpy(found + i * d, gx + k * d, row);
                else
                    continue; /* xa_i is its first misclassified iterate: done */
            }
            if (kept != k) {
                memmove(gx + kept * d, gx + k * d, row);
                memmove(g0 + kept * d, g0 + k * d, row);
                memmove(grad + kept * d, grad + k * d, row);
            }
            act[kept++] = (uint32_t)i;
        }
        m = kept;
        linf_step(gx, g0, grad, m * d, p->step, p->eps);
        for (size_t k = 0; k < m; k++)
            memcpy(xa + act[k] * d, gx + k * d, row);
    }
    attack_loss_grad(am, xa, b->y, NULL, n, ATTACK_LOSS_CE, 1, out->loss, out->correct, NULL,
                     NULL);
    for (size_t i = 0; i < n && p->keep_going; i++)
        if (have[i] && out->correct[i]) {
            memcpy(xa + i * d, found + i * d, row);
            out->correct[i] = 0;
        }
    /* a restored iterate's loss is not recomputed: it only orders restarts, and a
     * misclassified result is kept whatever its loss */
    return MS_OK;
}

ms_status attack_pgd(const attack_model *am, const attack_batch *b, const attack_params *p,
                     attack_ws *ws, attack_out *out, ms_err *err)
{
    attack_out o = attack_out_or_scratch(out, ws);
    return attack_restarts(pgd_once, am, b, p, ws, &o, err);
}
