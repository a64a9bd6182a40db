/* attack_square.c - the Square Attack in L-infinity (Andriushchenko, Croce, Flammarion
 * & Hein, ECCV 2020): random search over the vertices of the eps-ball that reads only
 * logits. It never calls the model's backward, so masked gradients (quantised inputs,
 * shattered or zero gradients) cannot hide a weakness from it.
 *
 * Legend: n examples, D = S*S pixels per example (one channel, S the side), Q the query
 * budget per example (p->queries), m the examples queried in one iteration.
 *
 *   query 1:     x_best = proj(x + delta0), delta0 (S, S) vertical stripes of width 1:
 *                every column +eps or -eps, the sign drawn per column
 *   query 2..Q:  t = query - 2; a square of side h_t at a uniform position, a random
 *                sign s; candidate = proj(x_best with the square set to x + s*eps);
 *                x_best = candidate if margin(candidate) > margin(x_best)
 *   margin = max_{j != y} z_j - z_y (ATTACK_LOSS_MARGIN); an example whose best margin
 *   is > 0 is misclassified and is not queried again.
 *
 * proj is linf_project: into the eps-ball around x, then into [0,1].
 *
 * Square side: h_t = clamp(round(sqrt(p_t * D)), 1, S), p_t the paper's
 * piecewise-constant schedule with its breakpoints rescaled from 10,000 queries to Q:
 * with k = floor(10000 t / Q), p_t is p_init halved once for every breakpoint
 * 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 that k exceeds.
 *
 * A square that the drawn sign would leave unchanged (every pixel already at that
 * value after projection) takes the other sign: the reference redraws the sign until
 * the square changes, which for one channel ends in the same distribution. If neither
 * sign changes it (eps = 0, or eps so large that both clip to the same pixels) the
 * iteration is spent without a forward pass.
 *
 * Randomness: one stream per image (attack_rng with p->restart), drawn in a fixed order:
 * S column signs, then per iteration the square's row, its column and its sign. An
 * example's draws and acceptances depend only on its own logits, so results are
 * bit-identical whatever the batch composition and the thread count (for a model whose
 * logits of an image do not depend on the rest of its batch, as the CNN's). Q enters
 * the draws only through h_t.
 *
 * Cost: one forward of the n examples for the start, one forward per iteration of the
 * m still-robust examples (gathered into a sub-batch), and one forward of the n
 * results for their cross-entropy and prediction. Over restarts (attack_restarts) the
 * worst case; each restart draws from new streams.
 *
 * Incremental forward: a model with am->patch (the CNN, cnn_patch.h) keeps each
 * example's x_best as the base of its slot, and computes a candidate's logits from its
 * square alone (for a 3 x 3 square about a twelfth of a forward's multiply-adds). The
 * start and the accepted candidates update the bases. Margins then differ from those
 * of full forward passes by float rounding only, so acceptances can differ in rare
 * near-ties; results are still bit-identical whatever the batch and thread count. The
 * final cross-entropy and prediction are always from a full forward.
 *
 * Workspace (one run): plane[0] candidates (m, D); plane[1] the n streams, stored
 * bytewise; plane[2] the sub-batch's example indices (m) as uint32; plane[3] the
 * squares' rows and columns (m, 2) as uint32; vec[0] best margin (n); vec[1]
 * candidate margins (m); byte[0] labels of the sub-batch (m); act the accepted
 * candidates (m).
 */
#include "attack.h"

#include <math.h>
#include <string.h>

/* The paper's schedule for 10,000 queries: past each breakpoint the square's share of
 * the image halves. */
static const size_t square_breaks[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};

/* S if d = S*S, else 0. */
static size_t image_side(size_t d)
{
    size_t s = (size_t)sqrt((double)d);
    while (s > 0 && s * s > d)
        s--;
    while ((s + 1) * (s + 1) <= d)
        s++;
    return s * s == d ? s : 0;
}

/* Side of the square of iteration t (0-based, after the start) of a budget of q. */
static size_t square_side(size_t t, size_t q, double p_init, size_t side)
{
    uint64_t k = (uint64_t)t * 10000u / (uint64_t)q;
    int halvings = 0;
    for (size_t i = 0; i < sizeof square_breaks / sizeof square_breaks[0]; i++)
        halvings += k > square_breaks[i];
    double share = ldexp(p_init, -halvings);
    double h = floor(sqrt(share * (double)side * (double)side) + 0.5);
    if (h < 1.0)
        return 1;
    if (h > (double)side)
        return side;
    return (size_t)h;
}

/* The streams are kept in float storage, so they are copied in and out bytewise. */
static void stream_load(rng_t *r, const float *store, size_t i)
{
    memcpy(r, (const unsigned char *)store + i * sizeof *r, sizeof *r);
}

static void stream_save(float *store, size_t i, const rng_t *r)
{
    memcpy((unsigned char *)store + i * sizeof *r, r, sizeof *r);
}

/* Sets the h x h square at (r0, c0) of cand (D) to proj(x0 + s) and tells whether it
 * now differs from cur (D), the image cand was copied from. */
static int set_square(float *cand, const float *cur, const float *x0, size_t side,
                      size_t r0, size_t c0, size_t h, float s, float eps)
{
    int changed = 0;
    for (size_t row = r0; row < r0 + h; row++) {
        size_t at = row * side + c0;
        for (size_t c = 0; c < h; c++)
            cand[at + c] = x0[at + c] + s;
        linf_project(cand + at, x0 + at, h, eps);
        for (size_t c = 0; c < h; c++)
            changed |= cand[at + c] != cur[at + c];
    }
    return changed;
}

/* Margins (m) of the candidates cand (m, D) with labels ys, through the incremental
 * forward of run if there is one (candidate k differs from the base of slot who[k]
 * in the h x h square at rc[2k], rc[2k + 1]), else by a forward pass. */
static void candidate_margins(const attack_model *am, void *run, const float *cand,
                              const uint8_t *ys, const uint32_t *who, const uint32_t *rc,
                              size_t h, size_t m, float *margin)
{
    if (run) {
        const float *z = am->patch->forward(run, cand, who, rc, h, m);
        attack_loss_logits(z, am->classes, ys, NULL, m, ATTACK_LOSS_MARGIN, 1, margin, NULL,
                           NULL);
    } else {
        attack_loss_grad(am, cand, ys, NULL, m, ATTACK_LOSS_MARGIN, 1, margin, NULL, NULL,
                         NULL);
    }
}

static ms_status square_once(const attack_model *am, const attack_batch *b,
                             const attack_params *p, attack_ws *ws, attack_out *out,
                             ms_err *err)
{
    const size_t d = am->dim, n = b->n, side = image_side(d);
    const float eps = p->eps;
    float *xa = out->x_adv, *cand = ws->plane[0], *streams = ws->plane[1];
    uint32_t *who = (uint32_t *)(void *)ws->plane[2], *rc = (uint32_t *)(void *)ws->plane[3];
    uint32_t *accepted = ws->act;
    float *best = ws->vec[0], *margin = ws->vec[1];
    uint8_t *ys = ws->byte[0];
    void *run = NULL; /* the incremental forward's run, if the model has one */

    if (p->queries == 0) {
        memcpy(xa, b->x, n * d * sizeof *xa);
    } else {
        for (size_t i = 0; i < n; i++) {
            rng_t r;
            attack_rng(&r, p->seed, p->salt, b->ids[i], p->restart);
            const float *x0 = b->x + i * d;
            float *xi = xa + i * d;
            for (size_t c = 0; c < side; c++) {
                float s = rng_below(&r, 2) ? eps : -eps;
                for (size_t row = 0; row < side; row++)
                    xi[row * side + c] = x0[row * side + c] + s;
            }
            linf_project(xi, x0, d, eps);
            stream_save(streams, i, &r);
        }
        if (am->patch && p->queries > 1) {
            ms_status s = am->patch->open(am->self, n, &run, err);
            if (s != MS_OK)
                return s;
            const float *z = am->patch->set(run, xa, n);
            attack_loss_logits(z, am->classes, b->y, NULL, n, ATTACK_LOSS_MARGIN, 1, best,
                               NULL, NULL);
        } else {
            attack_loss_grad(am, xa, b->y, NULL, n, ATTACK_LOSS_MARGIN, 1, best, NULL, NULL,
                             NULL);
        }
    }
    for (size_t t = 0; t + 1 < p->queries; t++) {
        const size_t h = square_side(t, p->queries, p->p_init, side);
        const uint32_t span = (uint32_t)(side - h + 1);
        size_t m = 0, live = 0;
        for (size_t i = 0; i < n; i++) {
            if (!(best[i] <= 0.0f))
                continue; /* misclassified: no more queries */
            live++;
            rng_t r;
            stream_load(&r, streams, i);
            size_t r0 = rng_below(&r, span), c0 = rng_below(&r, span);
            float s = rng_below(&r, 2) ? eps : -eps;
            stream_save(streams, i, &r);
            float *ci = cand + m * d;
            const float *cur = xa + i * d, *x0 = b->x + i * d;
            memcpy(ci, cur, d * sizeof *ci);
            if (!set_square(ci, cur, x0, side, r0, c0, h, s, eps) &&
                !set_square(ci, cur, x0, side, r0, c0, h, -s, eps))
                continue;
            who[m] = (uint32_t)i;
            rc[2 * m] = (uint32_t)r0;
            rc[2 * m + 1] = (uint32_t)c0;
            ys[m] = b->y[i];
            m++;
        }
        if (live == 0)
            break;
        if (m == 0)
            continue;
        candidate_margins(am, run, cand, ys, who, rc, h, m, margin);
        size_t na = 0;
        for (size_t k = 0; k < m; k++) {
            size_t i = who[k];
            if (margin[k] > best[i]) {
                best[i] = margin[k];
                memcpy(xa + i * d, cand + k * d, d * sizeof *xa);
                accepted[na++] = (uint32_t)k;
            }
        }
        if (run && na > 0)
            am->patch->accept(run, accepted, na);
    }
    if (run)
        am->patch->close(run);
    attack_loss_grad(am, xa, b->y, NULL, n, ATTACK_LOSS_CE, 1, out->loss, out->correct, NULL,
                     NULL);
    return MS_OK;
}

ms_status attack_square(const attack_model *am, const attack_batch *b, const attack_params *p,
                        attack_ws *ws, attack_out *out, ms_err *err)
{
    const size_t d = am->dim;
    /* side >= 2 also leaves room for the streams in a plane (16 bytes per image) */
    if (image_side(d) < 2 || sizeof(rng_t) > d * sizeof(float))
        return ms_fail(err, MS_EINTERNAL,
                       "attack square needs square single-channel images of side >= 2, "
                       "not %zu pixels",
                       d);
    if (!(p->p_init > 0.0f && p->p_init <= 1.0f))
        return ms_fail(err, MS_EUSAGE, "attack square: p_init %g is not in (0, 1]",
                       (double)p->p_init);
    if ((uint64_t)p->queries > UINT64_MAX / 10000u)
        return ms_fail(err, MS_EUSAGE, "attack square: %zu queries is too many", p->queries);
    if (b->n > ws->cap || b->n > am->max_batch || ws->dim != d)
        return ms_fail(err, MS_EINTERNAL,
                       "attack square: batch of %zu exceeds the workspace (%zu) or the model",
                       b->n, ws->cap);
    attack_out o = attack_out_or_scratch(out, ws);
    return attack_restarts(square_once, am, b, p, ws, &o, err);
}
