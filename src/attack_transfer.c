/* attack_transfer.c - the transfer attack: adversarial examples crafted by PGD
 * (attack_pgd, with p's steps, step, restarts and random start) on a surrogate model,
 * then scored on the model under test, whose gradient is never taken. It measures
 * what an attacker without access to the model's gradients achieves, and it is a
 * check for gradient masking: examples that transfer from another model but are not
 * found by gradient attacks on the model itself point to masked gradients.
 *
 * Legend: n examples, D pixels per example.
 *
 * Workspace: that of attack_pgd on the surrogate (plane[0..1], plane[6..7], vec[0],
 * vec[4], byte[0..3], idx, ids, dz), plus vec[5] (the surrogate's losses, n) and
 * byte[4] (the surrogate's predictions, n).
 */
#include "attack.h"

ms_status attack_transfer(const attack_model *am, const attack_batch *b,
                          const attack_params *p, attack_ws *ws, attack_out *out,
                          ms_err *err)
{
    const attack_model *sur = p->surrogate;
    if (!sur)
        return ms_fail(err, MS_EUSAGE, "attack transfer needs a surrogate model (--surrogate)");
    if (sur->dim != am->dim || sur->classes != am->classes)
        return ms_fail(err, MS_EUSAGE,
                       "attack transfer: the surrogate takes %zu pixels to %zu classes, the "
                       "model under test %zu to %zu",
                       sur->dim, sur->classes, am->dim, am->classes);
    if (b->n > sur->max_batch || b->n > ws->cap || ws->dim != sur->dim ||
        ws->classes != sur->classes)
        return ms_fail(err, MS_EINTERNAL,
                       "attack transfer: batch of %zu exceeds the surrogate (%zu) or the "
                       "workspace (%zu)",
                       b->n, sur->max_batch, ws->cap);
    /* the images (n, D) go straight to out->x_adv; the surrogate's own scores, which
     * PGD needs for its restarts, to scratch */
    attack_out so = {.x_adv = out->x_adv, .loss = ws->vec[5], .correct = ws->byte[4]};
    /* every step on the surrogate: stopping where the surrogate is first fooled would
     * leave examples on the edge of its decision boundary, which transfer poorly */
    attack_params q = *p;
    q.keep_going = 1;
    ms_status s = attack_pgd(sur, b, &q, ws, &so, err);
    if (s != MS_OK)
        return s;
    if (out->loss || out->correct)
        attack_loss_grad(am, out->x_adv, b->y, NULL, b->n, ATTACK_LOSS_CE, 1, out->loss,
                         out->correct, NULL, NULL);
    return MS_OK;
}
