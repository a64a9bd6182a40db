/* attack.c - the attack interface: the model as a target, losses, the projected step,
 * per-image streams, the table of attacks, invariant checks, restarts and the
 * evaluation/training adapters (see attack.h). The attacks themselves live in
 * attack_<name>.c.
 *
 * Legend: n examples, D pixels per example (dim), K classes.
 */
#include "attack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "clock.h"
#include "cnn_patch.h"
#include "layers.h"

/* ---- the CNN as a target -------------------------------------------------------- */

static const float *cnn_target_forward(void *self, const float *x, size_t n)
{
    return cnn_forward(self, x, n);
}

static void cnn_target_backward(void *self, const float *dlogits, float *dx)
{
    cnn_backward(self, dlogits, dx, 0);
}

static ms_status cnn_target_patch_open(void *self, size_t cap, void **run, ms_err *err)
{
    cnn_patch *cp = NULL;
    ms_status s = cnn_patch_open(&cp, self, cap, err);
    *run = cp;
    return s;
}

static const float *cnn_target_patch_set(void *run, const float *x, size_t n)
{
    return cnn_patch_set(run, x, n);
}

static const float *cnn_target_patch_forward(void *run, const float *x, const uint32_t *slot,
                                             const uint32_t *rc, size_t side, size_t n)
{
    return cnn_patch_forward(run, x, slot, rc, side, n);
}

static void cnn_target_patch_accept(void *run, const uint32_t *ks, size_t count)
{
    cnn_patch_accept(run, ks, count);
}

static void cnn_target_patch_close(void *run)
{
    cnn_patch_close(run);
}

static const attack_patch_ops cnn_patch_ops = {.open = cnn_target_patch_open,
                                               .set = cnn_target_patch_set,
                                               .forward = cnn_target_patch_forward,
                                               .accept = cnn_target_patch_accept,
                                               .close = cnn_target_patch_close};

attack_model cnn_attack_model(cnn *m)
{
    attack_model am = {.self = m,
                       .dim = CNN_PIXELS,
                       .classes = CNN_CLASSES,
                       .max_batch = m->max_batch,
                       .forward = cnn_target_forward,
                       .backward = cnn_target_backward,
                       .patch = &cnn_patch_ops};
    return am;
}

/* ---- losses --------------------------------------------------------------------- */

/* Indices of the four largest logits of z (K), descending; K >= 1 (missing ones
 * repeat the last). */
static void top4(const float *z, size_t k, size_t t[4])
{
    for (size_t r = 0; r < 4; r++) {
        size_t best = SIZE_MAX;
        for (size_t j = 0; j < k; j++) {
            int taken = 0;
            for (size_t q = 0; q < r; q++)
                taken |= t[q] == j;
            if (!taken && (best == SIZE_MAX || z[j] > z[best]))
                best = j;
        }
        t[r] = best == SIZE_MAX ? t[r - 1] : best;
    }
}

/* First index of the largest logit other than y. */
static size_t max_other(const float *z, size_t k, size_t y)
{
    size_t best = y == 0 ? 1 : 0;
    for (size_t j = 0; j < k; j++)
        if (j != y && z[j] > z[best])
            best = j;
    return best;
}

/* Loss of one example and, if g is non-NULL, dL/dz (K) times inv. */
static double loss_one(const float *z, size_t k, size_t y, size_t tgt, attack_loss kind,
                       double inv, float *g)
{
    if (g)
        memset(g, 0, k * sizeof *g);
    if (kind == ATTACK_LOSS_MARGIN) {
        size_t o = max_other(z, k, y);
        if (g) {
            g[o] = (float)inv;
            g[y] = (float)-inv;
        }
        return (double)z[o] - (double)z[y];
    }
    size_t t[4];
    top4(z, k, t);
    if (kind == ATTACK_LOSS_DLR) {
        /* L = -(z_y - z_o) / d, d = z_pi1 - z_pi3 + 1e-12 */
        size_t o = max_other(z, k, y);
        double a = (double)z[y] - (double)z[o];
        double d = (double)z[t[0]] - (double)z[t[2]] + 1e-12;
        if (g) {
            double gy = -1.0 / d, go = 1.0 / d, gd = a / (d * d);
            double gg[4] = {gy, go, gd, -gd};
            size_t at[4] = {y, o, t[0], t[2]};
            for (size_t q = 0; q < 4; q++)
                g[at[q]] += (float)(gg[q] * inv);
        }
        return -a / d;
    }
    /* ATTACK_LOSS_DLR_T: L = -(z_y - z_t) / d, d = z_pi1 - (z_pi3 + z_pi4)/2 + 1e-12 */
    double a = (double)z[y] - (double)z[tgt];
    double d = (double)z[t[0]] - 0.5 * ((double)z[t[2]] + (double)z[t[3]]) + 1e-12;
    if (g) {
        double gd = a / (d * d);
        double gg[5] = {-1.0 / d, 1.0 / d, gd, -0.5 * gd, -0.5 * gd};
        size_t at[5] = {y, tgt, t[0], t[2], t[3]};
        for (size_t q = 0; q < 5; q++)
            g[at[q]] += (float)(gg[q] * inv);
    }
    return -a / d;
}

void attack_loss_logits(const float *z, size_t k, const uint8_t *y, const uint8_t *target,
                        size_t n, attack_loss kind, size_t scale, float *loss,
                        uint8_t *correct, float *dz)
{
    if (k < 2 && kind != ATTACK_LOSS_CE) /* margins need a second class */
        kind = ATTACK_LOSS_CE;
    if (correct)
        for (size_t i = 0; i < n; i++) {
            const float *zi = z + i * k;
            size_t best = 0; /* the first maximum, as cnn_argmax */
            for (size_t j = 1; j < k; j++)
                if (zi[j] > zi[best])
                    best = j;
            correct[i] = best == (size_t)y[i];
        }
    if (kind == ATTACK_LOSS_CE) {
        if (loss || dz)
            (void)softmax_xent_each(dz, loss, z, y, n, k, scale ? scale : 1);
    } else {
        const double inv = 1.0 / (double)(scale ? scale : 1);
        for (size_t i = 0; i < n; i++) {
            double l = loss_one(z + i * k, k, y[i], target ? target[i] : 0, kind, inv,
                                dz ? dz + i * k : NULL);
            if (loss)
                loss[i] = (float)l;
        }
    }
}

void attack_loss_grad(const attack_model *am, const float *x, const uint8_t *y,
                      const uint8_t *target, size_t n, attack_loss kind, size_t scale,
                      float *loss, uint8_t *correct, float *dx, float *dz)
{
    const float *z = am->forward(am->self, x, n); /* (n, K) */
    attack_loss_logits(z, am->classes, y, target, n, kind, scale, loss, correct,
                       dx ? dz : NULL);
    if (dx)
        am->backward(am->self, dz, dx);
}

/* ---- the projected step --------------------------------------------------------- */

static float clip01(float v)
{
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

void linf_step(float *xa, const float *x0, const float *g, size_t len, float alpha,
               float eps)
{
    for (size_t i = 0; i < len; i++) {
        float s = (g[i] > 0.0f) ? alpha : (g[i] < 0.0f) ? -alpha : 0.0f;
        float v = xa[i] + s;
        float lo = x0[i] - eps, hi = x0[i] + eps;
        v = v < lo ? lo : (v > hi ? hi : v);
        xa[i] = clip01(v);
    }
}

void linf_project(float *xa, const float *x0, size_t len, float eps)
{
    for (size_t i = 0; i < len; i++) {
        float lo = x0[i] - eps, hi = x0[i] + eps;
        float v = xa[i] < lo ? lo : (xa[i] > hi ? hi : xa[i]);
        xa[i] = clip01(v);
    }
}

/* ---- randomness ----------------------------------------------------------------- */

void attack_rng(rng_t *r, uint64_t seed, uint64_t salt, uint32_t image, uint32_t restart)
{
    uint64_t h = salt ^ 0xA5A5A5A5DEADBEEFULL;
    uint64_t key = splitmix64(&h) ^ ((uint64_t)image << 20) ^ (uint64_t)restart;
    h = key;
    rng_init(r, seed, RNG_STREAM_ATTACK + (splitmix64(&h) << 4));
}

void linf_random_start(float *xa, const float *x0, size_t dim, float eps, rng_t *r)
{
    for (size_t j = 0; j < dim; j++)
        xa[j] = x0[j] + rng_range(r, -eps, eps);
    linf_project(xa, x0, dim, eps);
}

attack_params attack_params_default(float eps, uint64_t seed)
{
    attack_params p = {.eps = eps,
                       .step = 0.01f,
                       .steps = 40,
                       .iters = 100,
                       .restarts = 1,
                       .random_start = 1,
                       .targets = 3,
                       .queries = 1000,
                       .p_init = 0.8f,
                       .seed = seed,
                       .salt = 0,
                       .restart = 0,
                       .surrogate = NULL};
    return p;
}

/* ---- workspace ------------------------------------------------------------------ */

ms_status attack_ws_create(attack_ws *ws, size_t cap, size_t dim, size_t classes,
                           ms_err *err)
{
    memset(ws, 0, sizeof *ws);
    /* floats: planes (cap*D each), vectors (cap each), dz (cap*K); then the byte and
     * index vectors. */
    size_t plane, floats, bytes, fb, ib, total;
    if (!size_mul(&plane, cap, dim) || !size_mul(&floats, plane, ATTACK_WS_PLANES) ||
        !size_add(&floats, floats, cap * ATTACK_WS_VECS) || !size_mul(&fb, cap, classes) ||
        !size_add(&floats, floats, fb) || !size_mul(&fb, floats, sizeof(float)) ||
        !size_mul(&ib, cap, 3 * sizeof(uint32_t)) || !size_mul(&bytes, cap, ATTACK_WS_BYTES) ||
        !size_add(&total, fb, ib) || !size_add(&total, total, bytes) || cap == 0)
        return ms_fail(err, MS_EINTERNAL, "attack workspace size overflows");
    ws->mem = malloc(total);
    if (!ws->mem)
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating the attack workspace");
    ws->cap = cap, ws->dim = dim, ws->classes = classes;
    float *q = ws->mem;
    for (size_t i = 0; i < ATTACK_WS_PLANES; i++)
        ws->plane[i] = q, q += plane;
    for (size_t i = 0; i < ATTACK_WS_VECS; i++)
        ws->vec[i] = q, q += cap;
    ws->dz = q, q += cap * classes;
    uint32_t *u = (uint32_t *)(void *)q;
    ws->idx = u, u += cap;
    ws->ids = u, u += cap;
    ws->act = u, u += cap;
    uint8_t *b = (uint8_t *)(void *)u;
    for (size_t i = 0; i < ATTACK_WS_BYTES; i++)
        ws->byte[i] = b, b += cap;
    return MS_OK;
}

void attack_ws_free(attack_ws *ws)
{
    free(ws->mem);
    memset(ws, 0, sizeof *ws);
}

/* ---- the table ------------------------------------------------------------------ */

static const attack_def attacks[] = {
    {"fgsm", attack_fgsm, 1, 0, "one signed-gradient step of size eps (published)"},
    {"pgd", attack_pgd, 1, 0, "PGD on cross-entropy, random start (Madry et al. 2018)"},
    {"apgd-ce", attack_apgd_ce, 1, 0, "Auto-PGD on cross-entropy (Croce & Hein 2020)"},
    {"apgd-t", attack_apgd_t, 1, 0, "targeted Auto-PGD on the DLR loss, top other classes"},
    {"square", attack_square, 0, 0, "gradient-free Square Attack on the margin (2020)"},
    {"transfer", attack_transfer, 0, 1, "PGD on the --surrogate model, scored on this one"},
};

size_t attack_count(void)
{
    return sizeof attacks / sizeof attacks[0];
}

const attack_def *attack_at(size_t i)
{
    return i < attack_count() ? &attacks[i] : NULL;
}

const attack_def *attack_find(const char *name)
{
    for (size_t i = 0; i < attack_count(); i++)
        if (strcmp(attacks[i].name, name) == 0)
            return &attacks[i];
    return NULL;
}

/* ---- invariants ----------------------------------------------------------------- */

ms_status attack_check(const char *name, const float *x, const float *x_adv,
                       const uint32_t *ids, size_t n, size_t dim, float eps,
                       attack_stats *st, ms_err *err)
{
    for (size_t i = 0; i < n; i++) {
        double linf = 0.0, l2 = 0.0;
        for (size_t j = 0; j < dim; j++) {
            float a = x_adv[i * dim + j];
            if (!(a >= 0.0f && a <= 1.0f))
                return ms_fail(err, MS_EINTERNAL, "%s produced pixel %g outside [0,1] (image %lu)",
                               name, (double)a, (unsigned long)ids[i]);
            double d = fabs((double)a - (double)x[i * dim + j]);
            if (d > linf)
                linf = d;
            l2 += d * d;
        }
        if (linf > (double)eps + 1e-7)
            return ms_fail(err, MS_EINTERNAL,
                           "%s perturbation %.9g exceeds epsilon %.9g (image %lu)", name, linf,
                           (double)eps, (unsigned long)ids[i]);
        if (st) {
            st->sum_linf += linf;
            st->sum_l2 += sqrt(l2);
            if (linf > st->max_linf)
                st->max_linf = linf;
            st->count++;
        }
    }
    return MS_OK;
}

ms_status attack_run(const attack_def *a, const attack_model *am, const attack_batch *b,
                     const attack_params *p, attack_ws *ws, attack_out *out,
                     attack_stats *st, ms_err *err)
{
    if (b->n > ws->cap || b->n > am->max_batch || am->dim != ws->dim ||
        am->classes != ws->classes)
        return ms_fail(err, MS_EINTERNAL, "%s: batch of %zu exceeds the attack workspace %zu",
                       a->name, b->n, ws->cap);
    if (a->needs_surrogate && !p->surrogate)
        return ms_fail(err, MS_EUSAGE, "attack %s needs a surrogate model (--surrogate)",
                       a->name);
    double t0 = clock_seconds();
    ms_status s = a->run(am, b, p, ws, out, err);
    if (st)
        st->seconds += clock_seconds() - t0;
    if (s != MS_OK)
        return s;
    return attack_check(a->name, b->x, out->x_adv, b->ids, b->n, am->dim, p->eps, st, err);
}

/* ---- restarts ------------------------------------------------------------------- */

attack_out attack_out_or_scratch(const attack_out *out, attack_ws *ws)
{
    attack_out o = *out;
    if (!o.loss)
        o.loss = ws->vec[5];
    if (!o.correct)
        o.correct = ws->byte[4];
    return o;
}

size_t attack_gather_correct(const attack_batch *b, const uint8_t *correct, attack_ws *ws)
{
    const size_t d = ws->dim;
    size_t m = 0;
    for (size_t i = 0; i < b->n; i++)
        if (correct[i]) {
            ws->idx[m] = (uint32_t)i;
            ws->ids[m] = b->ids[i];
            ws->byte[2][m] = b->y[i];
            memcpy(ws->plane[6] + m * d, b->x + i * d, d * sizeof(float));
            m++;
        }
    return m;
}

ms_status attack_restarts(attack_fn one_run, const attack_model *am, const attack_batch *b,
                          const attack_params *p, attack_ws *ws, attack_out *out,
                          ms_err *err)
{
    const size_t d = am->dim;
    attack_params q = *p;
    q.restart = 0;
    ms_status s = one_run(am, b, &q, ws, out, err);
    float *gx = ws->plane[6], *gxa = ws->plane[7], *gloss = ws->vec[4];
    uint8_t *gy = ws->byte[2], *gcorrect = ws->byte[3];
    for (size_t r = 1; r < p->restarts && s == MS_OK; r++) {
        size_t m = attack_gather_correct(b, out->correct, ws);
        if (m == 0)
            break;
        attack_batch sub = {.x = gx, .y = gy, .ids = ws->ids, .n = m};
        attack_out so = {.x_adv = gxa, .loss = gloss, .correct = gcorrect};
        q.restart = (uint32_t)r;
        s = one_run(am, &sub, &q, ws, &so, err);
        for (size_t k = 0; k < m && s == MS_OK; k++) {
            size_t i = ws->idx[k];
            if (!so.correct[k] || so.loss[k] > out->loss[i]) {
                memcpy(out->x_adv + i * d, gxa + k * d, d * sizeof *gxa);
                out->loss[i] = so.loss[k];
                out->correct[i] = so.correct[k];
            }
        }
    }
    return s;
}

/* ---- adapters ------------------------------------------------------------------- */

ms_status attack_eval_init(attack_eval *ae, const attack_def *def, const attack_params *p,
                           cnn *m, size_t cap, ms_err *err)
{
    memset(ae, 0, sizeof *ae);
    ae->def = def;
    ae->params = *p;
    ae->am = cnn_attack_model(m);
    size_t bytes;
    if (!size_mul3(&bytes, cap, CNN_PIXELS, sizeof(float)))
        return ms_fail(err, MS_EINTERNAL, "attack buffer size overflows");
    ms_status s = attack_ws_create(&ae->ws, cap, CNN_PIXELS, CNN_CLASSES, err);
    if (s != MS_OK)
        return s;
    ae->orig = malloc(bytes);
    if (!ae->orig) {
        attack_eval_free(ae);
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating attack buffers");
    }
    return MS_OK;
}

void attack_eval_free(attack_eval *ae)
{
    attack_ws_free(&ae->ws);
    free(ae->orig);
    ae->orig = NULL;
}

ms_status attack_transform(void *ctx, cnn *m, float *x, const uint8_t *y,
                           const uint32_t *idx, size_t n, ms_err *err)
{
    (void)m;
    attack_eval *ae = ctx;
    memcpy(ae->orig, x, n * CNN_PIXELS * sizeof(float));
    attack_batch b = {.x = ae->orig, .y = y, .ids = idx, .n = n};
    attack_out out = {.x_adv = x, .loss = NULL, .correct = NULL}; /* evaluate() scores x */
    ms_status s = attack_run(ae->def, &ae->am, &b, &ae->params, &ae->ws, &out, &ae->st, err);
    if (s != MS_OK)
        return s;
    for (size_t i = 0; i < n && ae->keep; i++) {
        memcpy(ae->keep + (size_t)idx[i] * CNN_PIXELS, x + i * CNN_PIXELS,
               CNN_PIXELS * sizeof(float));
        ae->keep_y[idx[i]] = y[i];
    }
    return MS_OK;
}

ms_status attack_train_init(attack_train *at, const attack_def *def, const attack_params *p,
                            cnn *m, size_t batch, ms_err *err)
{
    memset(at, 0, sizeof *at);
    at->def = def;
    at->params = *p;
    at->am = cnn_attack_model(m);
    ms_status s = attack_ws_create(&at->ws, batch, CNN_PIXELS, CNN_CLASSES, err);
    if (s != MS_OK)
        return s;
    return MS_OK;
}

void attack_train_free(attack_train *at)
{
    attack_ws_free(&at->ws);
}

ms_status attack_train_hook(void *ctx, cnn *m, const train_batch *tb, float *x, uint8_t *y,
                            size_t *n, size_t cap, ms_err *err)
{
    (void)m;
    attack_train *at = ctx;
    size_t k = *n;
    if ((!at->replace && 2 * k > cap) || k > at->ws.cap)
        return ms_fail(err, MS_EINTERNAL, "adversarial batch exceeds capacity");
    attack_params p = at->params;
    uint64_t h = p.salt ^ ((uint64_t)tb->epoch << 32);
    p.salt = splitmix64(&h);
    if (at->ramp_steps && tb->global_step + 1 < at->ramp_steps) {
        float f = (float)(tb->global_step + 1) / (float)at->ramp_steps;
        p.eps *= f;
        p.step *= f;
    }
    at->eps_now = p.eps;
    attack_batch b = {.x = x, .y = y, .ids = tb->ids, .n = k};
    /* replace: the adversarial batch is made in the second half of x, then moved */
    float *dst = x + k * CNN_PIXELS;
    if (at->replace && 2 * k > cap)
        return ms_fail(err, MS_EINTERNAL, "adversarial batch exceeds capacity");
    attack_out out = {.x_adv = dst, .loss = NULL, .correct = NULL};
    ms_status s = attack_run(at->def, &at->am, &b, &p, &at->ws, &out, &at->st, err);
    if (s != MS_OK)
        return s;
    if (at->replace) {
        memcpy(x, dst, k * CNN_PIXELS * sizeof(float));
        return MS_OK;
    }
    memcpy(y + k, y, k);
    *n = 2 * k;
    return MS_OK;
}
