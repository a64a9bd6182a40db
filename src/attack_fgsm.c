/* attack_fgsm.c - the fast gradient sign method (Goodfellow et al. 2015), as the
 * published study used it: the gradient of the batch-mean cross-entropy, one projected
 * step of size eps from the original.
 *
 * Workspace: plane[0] the input gradient.
 */
#include "attack.h"

ms_status attack_fgsm(const attack_model *am, const attack_batch *b, const attack_params *p,
                      attack_ws *ws, attack_out *out, ms_err *err)
{
    (void)err;
    const size_t len = b->n * am->dim;
    float *grad = ws->plane[0];
    /* d(mean loss)/dx, as the published script's loss.backward() */
    attack_loss_grad(am, b->x, b->y, NULL, b->n, ATTACK_LOSS_CE, b->n, NULL, NULL, grad,
                     ws->dz);
    for (size_t i = 0; i < len; i++)
        out->x_adv[i] = b->x[i];
    linf_step(out->x_adv, b->x, grad, len, p->eps, p->eps);
    if (out->loss || out->correct)
        attack_loss_grad(am, out->x_adv, b->y, NULL, b->n, ATTACK_LOSS_CE, 1, out->loss,
                         out->correct, NULL, NULL);
    return MS_OK;
}
