/* robustness.h - the honest robustness evaluation: a list of attacks run at a list of
 * epsilons on the same test images, each image's adversarial prediction kept, and per
 * image the worst case over every attack (an image counts as robust only if every
 * attack failed on it).
 *
 * It sees the model only through attack_model (attack.h), so the tests can evaluate
 * deliberately broken attacks and models that mask their gradients.
 *
 * Legend: n images, E epsilons, A attacks, D pixels per image.
 */
#ifndef MNISTSEC_ROBUSTNESS_H
#define MNISTSEC_ROBUSTNESS_H

#include <stddef.h>
#include <stdint.h>

#include "attack.h"
#include "dataset.h"
#include "status.h"

typedef struct {
    const attack_def *const *attacks; /* (A) in the order they run */
    size_t nattacks;
    const double *eps;                /* (E) */
    size_t neps;
    const attack_params *params;      /* (A) budgets and seed per attack; eps is set
                                       * per sweep point */
    size_t batch;                     /* images per attack call */
    size_t keep_eps;                  /* index of the epsilon whose worst-case images are
                                       * kept (when keep is set) */
    int keep;                         /* keep the worst-case image of every example */
    int quiet;
} robust_opts;

/* One (epsilon, attack) cell. */
typedef struct {
    double eps;
    const attack_def *attack;
    size_t correct; /* images still classified correctly */
    attack_stats st;
} robust_cell;

typedef struct {
    size_t n, neps, nattacks;
    uint32_t *index;      /* (n) dataset index */
    uint8_t *label;       /* (n) */
    uint8_t *clean_pred;  /* (n) */
    uint8_t *adv_pred;    /* (E, A, n) prediction on the attack's example */
    uint8_t *robust;      /* (E, n) 1 if clean-correct and every attack failed */
    robust_cell *cell;    /* (E, A) */
    size_t clean_correct;
    size_t grad_bad;      /* images whose clean input gradient is all zero or not finite */
    float *keep;          /* (n, D) worst-case examples at keep_eps, or NULL */
    double seconds;
} robust_result;

/* Evaluates images idx[0..count) of ds (idx NULL: the first count). */
ms_status robustness_run(const attack_model *am, const dataset *ds, const uint32_t *idx,
                         size_t count, const robust_opts *o, robust_result *r, ms_err *err);
void robustness_free(robust_result *r);

/* Accessors. */
static inline const robust_cell *robust_at(const robust_result *r, size_t e, size_t a)
{
    return &r->cell[e * r->nattacks + a];
}
static inline const uint8_t *robust_preds(const robust_result *r, size_t e, size_t a)
{
    return r->adv_pred + (e * r->nattacks + a) * r->n;
}
/* Images robust under every attack at epsilon e. */
size_t robust_count(const robust_result *r, size_t e);

#endif
