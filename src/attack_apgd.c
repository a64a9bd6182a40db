/* attack_apgd.c - Auto-PGD (Croce & Hein, ICML 2020) in L-infinity: projected
 * signed-gradient ascent with momentum and a step size that each example halves for
 * itself at fixed checkpoints, so no step size has to be tuned.
 *
 * One run, N = steps iterations, per example (the examples of a batch step together,
 * but nothing couples them: the gradient is that of the summed per-example losses):
 *
 *   x0 uniform in the eps-ball around x (the image's stream), eta = 2 eps, x_max = x0
 *   x1 = P(x0 + eta sign(grad f(x0)))                             no momentum
 *   z = P(xk + eta sign(grad f(xk)))
 *   x_{k+1} = P(xk + a (z - xk) + (1 - a)(xk - x_{k-1})),         a = 0.75
 *
 * with P the projection onto the eps-ball and [0,1] (linf_step, linf_project), and
 * x_max the iterate of highest loss f so far.
 *
 * Checkpoints w_j = ceil(p_j N), p_0 = 0, p_1 = 0.22,
 * p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) (kept in hundredths, so exact; a
 * w_j equal to the one before is dropped). At w_j, after the step that made x_{w_j},
 * eta halves when
 *   1. fewer than rho = 0.75 of the steps since w_{j-1} raised the loss
 *      (f(x_{k+1}) > f(x_k)), or
 *   2. eta was not halved at w_{j-1} and the best loss has not risen since w_{j-1}
 *      (not tested at w_1: the initial step size counts as freshly set),
 * and a halving moves the iterate back to x_max (and its gradient); the momentum term
 * of the next step then uses the iterate before the step that was discarded, and the
 * next loss comparison is against f(x_max).
 *
 * Output per example: the first iterate found misclassified (x0 included), else
 * x_max; out->loss (cross-entropy) and out->correct come from a final forward pass at
 * that point.
 *
 * attack_apgd_ce: the cross-entropy, worst case over `restarts` (attack_restarts).
 * attack_apgd_t: the targeted DLR loss (ATTACK_LOSS_DLR_T); for each of the `targets`
 * classes other than y with the highest logits at the original (rank 1, 2, ...),
 * `restarts` runs, each only on the examples still classified correctly; per example a
 * misclassified result if any run found one, else the highest cross-entropy.
 *
 * Workspace of one run: plane[0] gradient at the current iterate; plane[1], plane[2]
 * and out->x_adv the previous, current and next iterates (their roles rotate);
 * plane[3] x_max, plane[4] the gradient at x_max, plane[5] the first misclassified
 * iterate; vec[0] loss at the current iterate, vec[1] best loss, vec[2] step size,
 * vec[3] loss increases since the last checkpoint; byte[0] per-example flags (APGD_*);
 * out->loss and out->correct hold the loss and verdict of the newest iterate until the
 * final pass. attack_apgd_t gathers the still-correct examples itself (it does not call
 * attack_restarts, so it owns the rest): plane[6] originals, plane[7] results, vec[4]
 * their losses, byte[2] labels, byte[3] verdicts, byte[5] targets, ids, idx; and
 * vec[5] / byte[4] stand in for a NULL out->loss / out->correct.
 *
 * Legend: n examples, D pixels per example (dim), K classes.
 */

#include "attack.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define APGD_MOMENTUM 0.75f
#define APGD_RHO_NUM 3 /* rho = 3/4: condition 1 is 4 * increases < 3 * interval */
#define APGD_RHO_DEN 4

/* Stream uses (attack_rng salts): distinct from PGD's so the starts differ. */
#define APGD_CE_SALT 0x4150474443450000ULL /* "APGDCE" */
#define APGD_T_SALT 0x4150474454000000ULL  /* "APGDT", plus the target rank */

/* byte[0] flags of one example */
#define APGD_FOUND 1u    /* a misclassified iterate is in plane[5] */
#define APGD_HALVED 2u   /* eta was halved at the last checkpoint */
#define APGD_IMPROVED 4u /* the best loss rose since the last checkpoint */

/* ---- checkpoints ---------------------------------------------------------------- */

/* Checkpoints as fractions p_j of N in hundredths (p_prev = p_{j-1}, p_cur = p_j), and
 * the iterations w_{j-1} (last) and w_j (next) they fall on. */
typedef struct {
    size_t steps, p_prev, p_cur, last, next;
} apgd_schedule;

/* ceil(pct * steps / 100), or SIZE_MAX past the end (pct > 100), without forming
 * pct * steps. */
static size_t pct_of(size_t pct, size_t steps)
{
    if (pct > 100)
        return SIZE_MAX;
    size_t q = steps / 100, r = steps % 100;
    return pct * q + (pct * r + 99) / 100;
}

static void schedule_init(apgd_schedule *s, size_t steps)
{
    s->steps = steps;
    s->p_prev = 0;
    s->p_cur = 22;
    s->last = 0;
    s->next = pct_of(22, steps);
}

/* Moves to the next checkpoint after s->next. */
static void schedule_advance(apgd_schedule *s)
{
    s->last = s->next;
    do {
        size_t gap = s->p_cur - s->p_prev;
        size_t step = gap > 3 + 6 ? gap - 3 : 6; /* max(gap - 0.03, 0.06) */
        s->p_prev = s->p_cur;
        s->p_cur += step;
        s->next = pct_of(s->p_cur, s->steps);
    } while (s->next <= s->last);
}

/* ---- one run -------------------------------------------------------------------- */

/* One APGD run of p->iters iterations on loss `kind` (target: per-example classes for
 * ATTACK_LOSS_DLR_T, else NULL), from the start drawn from attack_rng(p->seed,
 * p->salt, id, p->restart). out->loss and out->correct must not be NULL. */
static void apgd_run(const attack_model *am, const attack_batch *b, const attack_params *p,
                     attack_loss kind, const uint8_t *target, attack_ws *ws, attack_out *out)
{
    const size_t d = am->dim, n = b->n, steps = p->iters;
    const float eps = p->eps;
    if (n == 0)
        return;
    float *grad = ws->plane[0], *xmax = ws->plane[3], *gmax = ws->plane[4];
    float *found = ws->plane[5];
    float *prev = ws->plane[1], *cur = out->x_adv, *next = ws->plane[2]; /* (n, D) */
    float *lcur = ws->vec[0], *lbest = ws->vec[1], *eta = ws->vec[2], *ups = ws->vec[3];
    uint8_t *flag = ws->byte[0];
    float *lnew = out->loss;      /* loss at the newest iterate */
    uint8_t *cnew = out->correct; /* its verdict */
    const size_t row = d * sizeof(float);

    for (size_t i = 0; i < n; i++) {
        rng_t r;
        attack_rng(&r, p->seed, p->salt, b->ids[i], p->restart);
        linf_random_start(cur + i * d, b->x + i * d, d, eps, &r);
        eta[i] = 2.0f * eps;
        ups[i] = 0.0f;
        flag[i] = APGD_HALVED; /* so condition 2 waits for the second checkpoint */
    }
    attack_loss_grad(am, cur, b->y, target, n, kind, 1, lcur, cnew, steps ? grad : NULL,
                     ws->dz);
    for (size_t i = 0; i < n; i++) {
        lbest[i] = lcur[i];
        memcpy(xmax + i * d, cur + i * d, row);
        if (steps)
            memcpy(gmax + i * d, grad + i * d, row);
        if (!cnew[i]) {
            memcpy(found + i * d, cur + i * d, row);
            flag[i] |= APGD_FOUND;
        }
    }

    apgd_schedule sch;
    schedule_init(&sch, steps);
    for (size_t s = 1; s <= steps; s++) {
        /* next = x_s from cur = x_{s-1} and prev = x_{s-2} */
        for (size_t i = 0; i < n; i++) {
            const float *x0 = b->x + i * d, *xc = cur + i * d, *xp = prev + i * d;
            float *xn = next + i * d;
            memcpy(xn, xc, row);
            linf_step(xn, x0, grad + i * d, d, eta[i], eps); /* z */
            if (s > 1) {
                for (size_t j = 0; j < d; j++)
                    xn[j] = xc[j] + APGD_MOMENTUM * (xn[j] - xc[j]) +
                            (1.0f - APGD_MOMENTUM) * (xc[j] - xp[j]);
                linf_project(xn, x0, d, eps);
            }
        }
        float *t = prev;
        prev = cur, cur = next, next = t;

        /* the last iterate needs no gradient: no step follows it */
        const int more = s < steps;
        attack_loss_grad(am, cur, b->y, target, n, kind, 1, lnew, cnew, more ? grad : NULL,
                         ws->dz);
        for (size_t i = 0; i < n; i++) {
            if (!cnew[i] && !(flag[i] & APGD_FOUND)) {
                memcpy(found + i * d, cur + i * d, row);
                flag[i] |= APGD_FOUND;
            }
            if (lnew[i] > lcur[i])
                ups[i] += 1.0f;
            if (lnew[i] > lbest[i]) {
                lbest[i] = lnew[i];
                memcpy(xmax + i * d, cur + i * d, row);
                if (more)
                    memcpy(gmax + i * d, grad + i * d, row);
                flag[i] |= APGD_IMPROVED;
            }
            lcur[i] = lnew[i];
        }

        if (s != sch.next)
            continue;
        const double interval = (double)(sch.next - sch.last);
        for (size_t i = 0; i < n; i++) {
            int few_ups = APGD_RHO_DEN * (double)ups[i] < APGD_RHO_NUM * interval;
            int stalled = !(flag[i] & (APGD_HALVED | APGD_IMPROVED));
            if (few_ups || stalled) {
                eta[i] *= 0.5f;
                flag[i] |= APGD_HALVED;
                if (more) {
                    memcpy(cur + i * d, xmax + i * d, row);
                    memcpy(grad + i * d, gmax + i * d, row);
                    lcur[i] = lbest[i];
                }
            } else {
                flag[i] &= (uint8_t)~APGD_HALVED;
            }
            flag[i] &= (uint8_t)~APGD_IMPROVED;
            ups[i] = 0.0f;
        }
        schedule_advance(&sch);
    }

    for (size_t i = 0; i < n; i++) {
        const float *src = (flag[i] & APGD_FOUND) ? found + i * d : xmax + i * d;
        memcpy(out->x_adv + i * d, src, row);
    }
    attack_loss_grad(am, out->x_adv, b->y, NULL, n, ATTACK_LOSS_CE, 1, out->loss,
                     out->correct, NULL, NULL);
}

/* ---- APGD-CE -------------------------------------------------------------------- */

static ms_status apgd_ce_once(const attack_model *am, const attack_batch *b,
                              const attack_params *p, attack_ws *ws, attack_out *out,
                              ms_err *err)
{
    (void)err;
    attack_params q = *p;
    q.salt = p->salt ^ APGD_CE_SALT;
    apgd_run(am, b, &q, ATTACK_LOSS_CE, NULL, ws, out);
    return MS_OK;
}

ms_status attack_apgd_ce(const attack_model *am, const attack_batch *b,
                         const attack_params *p, attack_ws *ws, attack_out *out,
                         ms_err *err)
{
    attack_out o = attack_out_or_scratch(out, ws);
    return attack_restarts(apgd_ce_once, am, b, p, ws, &o, err);
}

/* ---- APGD-T --------------------------------------------------------------------- */

/* The class of rank r (0: highest) among the logits z (K) other than y, ties to the
 * lower index; r < K - 1. */
static size_t rank_other(const float *z, size_t k, size_t y, size_t r)
{
    for (size_t j = 0; j < k; j++) {
        if (j == y)
            continue;
        size_t above = 0;
        for (size_t l = 0; l < k; l++)
            if (l != y && l != j && (z[l] > z[j] || (l < j && z[l] == z[j])))
                above++;
        if (above == r)
            return j;
    }
    return y == 0 ? 1 : 0; /* NaN logits have no order: any other class */
}

ms_status attack_apgd_t(const attack_model *am, const attack_batch *b,
                        const attack_params *p, attack_ws *ws, attack_out *out,
                        ms_err *err)
{
    const size_t d = am->dim, n = b->n, k = am->classes;
    attack_out o = attack_out_or_scratch(out, ws);
    if (n == 0)
        return MS_OK;
    if (k < 2 || k > 256)
        return ms_fail(err, MS_EINTERNAL, "apgd-t: %zu classes (needs 2 to 256)", k);

    /* start from the originals; any run's result replaces an attacked example's */
    memcpy(o.x_adv, b->x, n * d * sizeof *o.x_adv);
    attack_loss_grad(am, b->x, b->y, NULL, n, ATTACK_LOSS_CE, 1, NULL, o.correct, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        o.loss[i] = -INFINITY;

    float *gx = ws->plane[6], *gxa = ws->plane[7], *gloss = ws->vec[4];
    uint8_t *gy = ws->byte[2], *gcorrect = ws->byte[3], *gtarget = ws->byte[5];
    const size_t targets = p->targets < k - 1 ? p->targets : k - 1;
    const size_t restarts = p->restarts ? p->restarts : 1;
    size_t m = n; /* examples still classified correctly (an upper bound at first) */
    for (size_t t = 0; t < targets && m > 0; t++)
        for (size_t r = 0; r < restarts && m > 0; r++) {
            m = attack_gather_correct(b, o.correct, ws);
            if (m == 0)
                break;
            /* targets: rank t among the other classes at the originals */
            const float *z = am->forward(am->self, gx, m); /* (m, K) */
            for (size_t q = 0; q < m; q++)
                gtarget[q] = (uint8_t)rank_other(z + q * k, k, gy[q], t);
            attack_params pq = *p;
            pq.salt = p->salt ^ (APGD_T_SALT + t);
            pq.restart = (uint32_t)r;
            attack_batch sub = {.x = gx, .y = gy, .ids = ws->ids, .n = m};
            attack_out so = {.x_adv = gxa, .loss = gloss, .correct = gcorrect};
            apgd_run(am, &sub, &pq, ATTACK_LOSS_DLR_T, gtarget, ws, &so);
            for (size_t q = 0; q < m; q++) {
                size_t i = ws->idx[q];
                if (!so.correct[q] || so.loss[q] > o.loss[i]) {
                    memcpy(o.x_adv + i * d, gxa + q * d, d * sizeof *gxa);
                    o.loss[i] = so.loss[q];
                    o.correct[i] = so.correct[q];
                }
            }
        }
    /* the cross-entropy and verdict of every result, attacked or not */
    attack_loss_grad(am, o.x_adv, b->y, NULL, n, ATTACK_LOSS_CE, 1, o.loss, o.correct, NULL,
                     NULL);
    return MS_OK;
}
