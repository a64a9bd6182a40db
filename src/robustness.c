/* robustness.c - attacks x epsilons on the same images, per-image worst case (see
 * robustness.h). */
#include "robustness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "clock.h"
#include "interrupt.h"
#include "layers.h"
#include "progress.h"

void robustness_free(robust_result *r)
{
    free(r->index), free(r->label), free(r->clean_pred), free(r->adv_pred), free(r->robust);
    free(r->cell), free(r->keep);
    memset(r, 0, sizeof *r);
}

size_t robust_count(const robust_result *r, size_t e)
{
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++)
        k += r->robust[e * r->n + i];
    return k;
}

static void argmax_rows(const float *z, size_t n, size_t k, uint8_t *pred)
{
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t j = 1; j < k; j++)
            if (z[i * k + j] > z[i * k + best])
                best = j;
        pred[i] = (uint8_t)best;
    }
}

/* Whether an input gradient (D) is all zero or has a non-finite value: the attacks'
 * signed steps then go nowhere or anywhere (a masking symptom). */
static int gradient_bad(const float *g, size_t d)
{
    int any = 0;
    for (size_t j = 0; j < d; j++) {
        if (!isfinite(g[j]))
            return 1;
        any |= g[j] != 0.0f;
    }
    return !any;
}

/* Per-batch scratch, one allocation. */
typedef struct {
    float *x, *xa, *grad, *loss, *best_loss;
    uint8_t *y, *pred, *fooled;
    uint32_t *ids;
    void *mem;
} scratch;

static ms_status scratch_create(scratch *s, size_t b, size_t d, size_t n, ms_err *err)
{
    size_t plane, floats, bytes;
    if (!size_mul(&plane, b, d) || !size_mul(&floats, plane, 3) ||
        !size_add(&floats, floats, b + n) || !size_mul(&floats, floats, sizeof(float)) ||
        !size_add(&bytes, floats, b * (2 + sizeof(uint32_t))) || !size_add(&bytes, bytes, n))
        return ms_fail(err, MS_EINTERNAL, "evaluation buffer size overflows");
    s->mem = malloc(bytes);
    if (!s->mem)
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating evaluation buffers");
    float *q = s->mem;
    s->x = q, q += plane;
    s->xa = q, q += plane;
    s->grad = q, q += plane;
    s->loss = q, q += b;
    s->best_loss = q, q += n;
    s->ids = (uint32_t *)(void *)q;
    uint8_t *u = (uint8_t *)(s->ids + b);
    s->y = u, u += b;
    s->pred = u, u += b;
    s->fooled = u;
    return MS_OK;
}

static ms_status alloc_result(robust_result *r, size_t n, size_t ne, size_t na, size_t d,
                              int keep, ms_err *err)
{
    size_t cells, preds, keepn;
    if (!size_mul(&cells, ne, na) || !size_mul(&preds, cells, n) || !size_mul(&keepn, n, d) ||
        !size_mul(&keepn, keepn, sizeof(float)) || !size_mul(&cells, cells, sizeof *r->cell))
        return ms_fail(err, MS_EINTERNAL, "robustness result size overflows");
    r->n = n, r->neps = ne, r->nattacks = na;
    r->index = malloc(n * sizeof *r->index);
    r->label = malloc(n);
    r->clean_pred = malloc(n);
    r->adv_pred = malloc(preds ? preds : 1);
    r->robust = malloc(preds / (na ? na : 1) + 1); /* (E, n) */
    r->cell = calloc(1, cells ? cells : 1);
    r->keep = keep ? malloc(keepn ? keepn : 1) : NULL;
    if (!r->index || !r->label || !r->clean_pred || !r->adv_pred || !r->robust || !r->cell ||
        (keep && !r->keep))
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating robustness results");
    return MS_OK;
}

/* "attack pgd,square eps 0.1,0.3" for the final progress line (cut short by the
 * buffer; the names and epsilons are also in the run's own files). */
static void describe(char *buf, size_t n, const robust_opts *o)
{
    snprintf(buf, n, "attack");
    for (size_t a = 0; a < o->nattacks; a++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", a ? "," : " ", o->attacks[a]->name);
    }
    for (size_t e = 0; e < o->neps; e++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%g", e ? "," : " eps ", o->eps[e]);
    }
}

ms_status robustness_run(const attack_model *am, const dataset *ds, const uint32_t *idx,
                         size_t count, const robust_opts *o, robust_result *r, ms_err *err)
{
    memset(r, 0, sizeof *r);
    const size_t d = am->dim, k = am->classes, ne = o->neps, na = o->nattacks;
    size_t bmax = o->batch < am->max_batch ? o->batch : am->max_batch;
    if (count > ds->n || count > UINT32_MAX || bmax == 0 || ne == 0 || na == 0 ||
        (o->keep && o->keep_eps >= ne))
        return ms_fail(err, MS_EINTERNAL, "robustness evaluation of %zu images, %zu x %zu", count,
                       ne, na);
    ms_status s = alloc_result(r, count, ne, na, d, o->keep, err);
    scratch sc = {0};
    attack_ws ws = {0};
    if (s == MS_OK)
        s = scratch_create(&sc, bmax, d, count, err);
    if (s == MS_OK)
        s = attack_ws_create(&ws, bmax, d, k, err);
    for (size_t e = 0; e < ne && s == MS_OK; e++)
        for (size_t a = 0; a < na; a++) {
            robust_cell *c = &r->cell[e * na + a];
            c->eps = o->eps[e];
            c->attack = o->attacks[a];
        }
    double t0 = clock_seconds();
    const size_t cells = ne * na;
    progress pg;
    progress_begin(&pg, o->quiet, count);
    for (size_t lo = 0; lo < count && s == MS_OK; lo += bmax) {
        size_t nb = count - lo < bmax ? count - lo : bmax;
        for (size_t i = 0; i < nb; i++)
            sc.ids[i] = idx ? idx[lo + i] : (uint32_t)(lo + i);
        dataset_batch(ds, sc.ids, nb, sc.x, sc.y);
        memcpy(r->index + lo, sc.ids, nb * sizeof *sc.ids);
        memcpy(r->label + lo, sc.y, nb);
        /* clean predictions, and the clean input gradient's health */
        attack_loss_grad(am, sc.x, sc.y, NULL, nb, ATTACK_LOSS_CE, 1, NULL, NULL, sc.grad, ws.dz);
        const float *z = am->forward(am->self, sc.x, nb);
        argmax_rows(z, nb, k, r->clean_pred + lo);
        for (size_t i = 0; i < nb; i++) {
            r->clean_correct += r->clean_pred[lo + i] == sc.y[i];
            r->grad_bad += gradient_bad(sc.grad + i * d, d);
            sc.fooled[lo + i] = 0;
            sc.best_loss[lo + i] = -INFINITY;
        }
        for (size_t e = 0; e < ne && s == MS_OK; e++) {
            uint8_t *rob = r->robust + e * count + lo;
            for (size_t i = 0; i < nb; i++)
                rob[i] = r->clean_pred[lo + i] == sc.y[i];
            for (size_t a = 0; a < na && s == MS_OK; a++) {
                robust_cell *c = &r->cell[e * na + a];
                char what[80];
                snprintf(what, sizeof what, "attack %s at eps %g", c->attack->name, c->eps);
                if ((s = interrupt_check(what, err)) != MS_OK)
                    break;
                attack_params p = o->params[a];
                p.eps = (float)o->eps[e];
                attack_batch b = {.x = sc.x, .y = sc.y, .ids = sc.ids, .n = nb};
                attack_out out = {.x_adv = sc.xa, .loss = NULL, .correct = NULL};
                s = attack_run(c->attack, am, &b, &p, &ws, &out, &c->st, err);
                if (s != MS_OK)
                    break;
                /* images through every cell: this batch counts by the cells done */
                size_t cell = e * na + a + 1, done = lo + nb * cell / cells;
                char at[48] = "";
                if (cells > 1)
                    snprintf(at, sizeof at, " (%zu/%zu)", cell, cells);
                progress_step(&pg, done, NAN, "attack %s eps %g%s: images %zu/%zu",
                              c->attack->name, c->eps, at, done, count);
                z = am->forward(am->self, sc.xa, nb);
                uint8_t *pred = r->adv_pred + (e * na + a) * count + lo;
                argmax_rows(z, nb, k, pred);
                (void)softmax_xent_each(NULL, sc.loss, z, sc.y, nb, k, 1);
                for (size_t i = 0; i < nb; i++) {
                    int ok = pred[i] == sc.y[i];
                    c->correct += ok;
                    rob[i] &= (uint8_t)ok;
                    if (!o->keep || e != o->keep_eps || sc.fooled[lo + i])
                        continue;
                    /* the worst case: the first attack that fools the image, else the
                     * example of highest loss */
                    if (!ok || sc.loss[i] > sc.best_loss[lo + i]) {
                        memcpy(r->keep + (lo + i) * d, sc.xa + i * d, d * sizeof(float));
                        sc.best_loss[lo + i] = sc.loss[i];
                        sc.fooled[lo + i] = (uint8_t)!ok;
                    }
                }
            }
        }
    }
    if (s == MS_OK) {
        char what[160];
        describe(what, sizeof what, o);
        progress_end(&pg, "%s", what);
    } else {
        progress_end(&pg, NULL);
    }
    r->seconds = clock_seconds() - t0;
    attack_ws_free(&ws);
    free(sc.mem);
    if (s != MS_OK)
        robustness_free(r);
    return s;
}
