/* attack.h - evasion attacks in L-infinity pixel space, one interface for all.
 *
 * A model is seen only through attack_model: the logits of a batch, the input gradient
 * of any function of the last logits, and optionally the logits of images that differ
 * from cached ones only inside a square (for the Square Attack). Pixels are in [0,1];
 * epsilon is an L-infinity radius in that space.
 *
 * Every attack is a row of the attack table (attack.c) and one file (attack_*.c):
 *
 *   ms_status ATTACK(const attack_model *am, const attack_batch *b,
 *                    const attack_params *p, attack_ws *ws, attack_out *out, ms_err *err)
 *
 * It reads the originals x (n, dim), labels y and image indices ids of the batch, and
 * writes the adversarial batch x_adv (n, dim), each example's cross-entropy loss at
 * x_adv and whether it is still classified correctly. Randomness comes only from
 * per-image streams (attack_rng), so results do not depend on the batch size or the
 * thread count. Every attack moves only through the projected step (linf_step) or the
 * projection (linf_project), so x_adv stays in the eps-ball around x and in [0,1];
 * attack_check verifies that on every result.
 */
#ifndef MNISTSEC_ATTACK_H
#define MNISTSEC_ATTACK_H

#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "eval.h"
#include "rng.h"
#include "status.h"
#include "train.h"

/* ---- the model as an attack target ------------------------------------------------ */

/* Optional, for query attacks: the logits of candidates that differ from a cached base
 * image only inside a square, at a fraction of a forward's cost (images single-channel
 * and square, dim = side * side). A run holds one base per slot; results agree with
 * forward up to float rounding and do not depend on the other images of a call. */
typedef struct {
    /* Opens a run of cap slots (allocating its caches) into *run. */
    ms_status (*open)(void *self, size_t cap, void **run, ms_err *err);
    /* Makes x (n, dim) the bases of slots 0..n-1; their logits (n, classes), valid
     * until the next call on the run. */
    const float *(*set)(void *run, const float *x, size_t n);
    /* Logits (n, classes) of candidates x (n, dim), valid until the next call:
     * candidate k equals the base of slot[k] outside the side x side square at row
     * rc[2k], column rc[2k + 1] (inside the image). */
    const float *(*forward)(void *run, const float *x, const uint32_t *slot,
                            const uint32_t *rc, size_t side, size_t n);
    /* Candidates ks[0..count) of the last forward (one per slot at most) become the
     * bases of their slots. */
    void (*accept)(void *run, const uint32_t *ks, size_t count);
    void (*close)(void *run);
} attack_patch_ops;

typedef struct {
    void *self;
    size_t dim;       /* input size per example */
    size_t classes;   /* logits per example */
    size_t max_batch; /* largest n accepted */
    /* Logits (n, classes) of x (n, dim); valid until the next call. */
    const float *(*forward)(void *self, const float *x, size_t n);
    /* dx (n, dim) = sum_i dlogits_i . d z_i / d x of the last forward (parameters
     * unchanged). dlogits: (n, classes). */
    void (*backward)(void *self, const float *dlogits, float *dx);
    /* NULL: no incremental forward. A wrapper that changes forward (a defence in front
     * of the model, say) must set it to NULL or to its own. */
    const attack_patch_ops *patch;
} attack_model;

/* The CNN as an attack target (its parameters are not changed), with an incremental
 * forward (cnn_patch.h). */
attack_model cnn_attack_model(cnn *m);

/* ---- losses ------------------------------------------------------------------------ */

typedef enum {
    ATTACK_LOSS_CE = 0,   /* cross-entropy, ascent raises it */
    ATTACK_LOSS_DLR,      /* -(z_y - max_{j!=y} z_j) / (z_pi1 - z_pi3) (Croce & Hein 2020) */
    ATTACK_LOSS_DLR_T,    /* targeted: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4)/2) */
    ATTACK_LOSS_MARGIN    /* max_{j!=y} z_j - z_y (> 0 means misclassified) */
} attack_loss;

/* Forward of x (n, dim), then per example: loss[i] (may be NULL), correct[i] = (argmax
 * == y[i]) (may be NULL); if dx is non-NULL, dx = d(sum_i loss_i / scale)/dx by one
 * backward pass (dz: scratch (n, classes)). target: per-example target classes for
 * ATTACK_LOSS_DLR_T (else NULL). For ATTACK_LOSS_CE the dlogits are exactly those of
 * softmax_xent (layers.h) with scale_n = scale. */
void attack_loss_grad(const attack_model *am, const float *x, const uint8_t *y,
                      const uint8_t *target, size_t n, attack_loss kind, size_t scale,
                      float *loss, uint8_t *correct, float *dx, float *dz);

/* attack_loss_grad without the forward and the backward: losses (may be NULL) and
 * correct flags (may be NULL) of given logits z (n, classes), or dL/dz (n, classes)
 * into dz if non-NULL. */
void attack_loss_logits(const float *z, size_t classes, const uint8_t *y,
                        const uint8_t *target, size_t n, attack_loss kind, size_t scale,
                        float *loss, uint8_t *correct, float *dz);

/* ---- the projected step ---------------------------------------------------------- */

/* xa <- clip_[0,1]( clip_[x0 - eps, x0 + eps]( xa + alpha * sign(g) ) ), len values,
 * sign(0) = 0. FGSM is this once from xa = x0 with alpha = eps. */
void linf_step(float *xa, const float *x0, const float *g, size_t len, float alpha,
               float eps);
/* xa <- clip_[0,1]( clip_[x0 - eps, x0 + eps]( xa ) ), len values. */
void linf_project(float *xa, const float *x0, size_t len, float eps);

/* ---- randomness ------------------------------------------------------------------ */

/* The stream of one image in one use: seed is the run's seed, salt tells uses apart
 * (evaluation, training epoch, attack kind), image is the dataset index, restart the
 * restart number. Independent of batch composition and thread count. */
void attack_rng(rng_t *r, uint64_t seed, uint64_t salt, uint32_t image, uint32_t restart);

/* xa <- x0 + U(-eps, eps) per pixel from the image's stream, then clip to [0,1]. */
void linf_random_start(float *xa, const float *x0, size_t dim, float eps, rng_t *r);

/* ---- parameters, batch, outputs, workspace --------------------------------------- */

typedef struct {
    float eps;          /* L-inf radius */
    float step;         /* step size alpha (PGD); FGSM steps by eps */
    size_t steps;       /* PGD (and transfer) iterations */
    size_t iters;       /* APGD iterations */
    size_t restarts;    /* >= 1; restarts run only on examples still classified correctly */
    int random_start;   /* PGD: uniform start in the eps-ball (0: BIM) */
    size_t targets;     /* APGD-T: number of target classes (top-k others) */
    size_t queries;     /* Square: query budget per example */
    float p_init;       /* Square: initial share of pixels in a square */
    uint64_t seed;      /* base of the per-image streams */
    uint64_t salt;      /* use of the streams (attack_rng) */
    uint32_t restart;   /* set by attack_restarts for each run */
    int keep_going;     /* PGD: step every example to the end (training, transfer); 0: an
                         * example stops at its first misclassified iterate */
    const attack_model *surrogate; /* transfer: the model the examples are crafted on */
} attack_params;

/* Defaults: PGD-40 with step 0.01, one restart, random start; APGD 100 iterations,
 * 3 targets; Square 1000 queries, p_init 0.8. FGSM reads only eps. */
attack_params attack_params_default(float eps, uint64_t seed);

typedef struct {
    const float *x;      /* (n, dim) originals */
    const uint8_t *y;    /* (n) labels */
    const uint32_t *ids; /* (n) dataset indices, for the per-image streams */
    size_t n;
} attack_batch;

/* loss and correct may be NULL when the caller scores x_adv itself: an attack that
 * would need one more forward pass only to fill them then skips it. */
typedef struct {
    float *x_adv;      /* (n, dim), must not alias the originals */
    float *loss;       /* (n) cross-entropy at x_adv, or NULL */
    uint8_t *correct;  /* (n) 1 if x_adv is still classified correctly, or NULL */
} attack_out;

/* Scratch for batches of up to cap examples: ATTACK_WS_PLANES planes of (cap, dim)
 * floats, ATTACK_WS_VECS vectors of cap floats, ATTACK_WS_BYTES byte vectors of cap,
 * a logit scratch (cap, classes) and a cap-long index vector; one allocation. Attacks
 * carve what they need from them; which attack uses which is documented in its file. */
#define ATTACK_WS_PLANES 8
#define ATTACK_WS_VECS 6
#define ATTACK_WS_BYTES 6
typedef struct {
    size_t cap, dim, classes;
    float *plane[ATTACK_WS_PLANES];
    float *vec[ATTACK_WS_VECS];
    uint8_t *byte[ATTACK_WS_BYTES];
    float *dz;     /* (cap, classes) */
    uint32_t *idx;  /* (cap) used by attack_restarts */
    uint32_t *ids;  /* (cap) gathered image indices, used by attack_restarts */
    uint32_t *act;  /* (cap) free for one run (e.g. its active examples) */
    void *mem;
} attack_ws;

ms_status attack_ws_create(attack_ws *ws, size_t cap, size_t dim, size_t classes,
                           ms_err *err);
void attack_ws_free(attack_ws *ws);

typedef ms_status (*attack_fn)(const attack_model *am, const attack_batch *b,
                               const attack_params *p, attack_ws *ws, attack_out *out,
                               ms_err *err);

/* ---- the attacks ----------------------------------------------------------------- */

/* attack_fgsm.c: one projected step of size eps from x (Goodfellow et al. 2015). */
ms_status attack_fgsm(const attack_model *am, const attack_batch *b, const attack_params *p,
                      attack_ws *ws, attack_out *out, ms_err *err);
/* attack_pgd.c: PGD (Madry et al. 2018): random start (optional), `steps` projected
 * steps of size `step` on the cross-entropy, worst case over `restarts`. */
ms_status attack_pgd(const attack_model *am, const attack_batch *b, const attack_params *p,
                     attack_ws *ws, attack_out *out, ms_err *err);

/* attack_apgd.c: Auto-PGD (Croce & Hein 2020) on the cross-entropy: uniform start,
 * `iters` iterations with momentum and a step size each example halves at checkpoints,
 * worst case over `restarts`. */
ms_status attack_apgd_ce(const attack_model *am, const attack_batch *b, const attack_params *p,
                         attack_ws *ws, attack_out *out, ms_err *err);
/* attack_apgd.c: Auto-PGD on the targeted DLR loss, `restarts` runs for each of the
 * `targets` classes other than y with the highest clean logits, on the examples still
 * classified correctly; worst case kept. */
ms_status attack_apgd_t(const attack_model *am, const attack_batch *b, const attack_params *p,
                        attack_ws *ws, attack_out *out, ms_err *err);
/* attack_square.c: the Square Attack in L-inf (Andriushchenko et al. 2020): vertical
 * stripe start, then random squares of +-eps accepted when they raise the margin loss,
 * at most p->queries forward passes per example (p_init sets the first square's share
 * of the image); forward passes only, am->backward is never called. */
ms_status attack_square(const attack_model *am, const attack_batch *b, const attack_params *p,
                        attack_ws *ws, attack_out *out, ms_err *err);
/* attack_transfer.c: PGD (steps, step, restarts, random_start of p) on the surrogate
 * p->surrogate, scored on am; MS_EUSAGE if p->surrogate is NULL. */
ms_status attack_transfer(const attack_model *am, const attack_batch *b,
                          const attack_params *p, attack_ws *ws, attack_out *out,
                          ms_err *err);

typedef struct attack_def {
    const char *name;
    attack_fn run;
    int uses_gradient; /* 0: needs only forward passes (a masking check) */
    int needs_surrogate;
    const char *help;
} attack_def;

/* The table of attacks, in the order they run in an ensemble. */
size_t attack_count(void);
const attack_def *attack_at(size_t i);
const attack_def *attack_find(const char *name); /* NULL if unknown */

/* ---- results: invariants and statistics ----------------------------------------- */

typedef struct {
    size_t count;
    double sum_linf, sum_l2, max_linf;
    double seconds;
} attack_stats;

/* Checks every adversarial example of a batch: pixels in [0,1] and finite, and
 * ||x_adv - x||_inf <= eps (+1e-7 for float rounding); adds its L-inf and L2 norms to
 * st. MS_EINTERNAL naming the attack and the image on a violation. */
ms_status attack_check(const char *name, const float *x, const float *x_adv,
                       const uint32_t *ids, size_t n, size_t dim, float eps,
                       attack_stats *st, ms_err *err);

/* Runs one attack on a batch and checks its result (attack_check), timing it into st. */
ms_status attack_run(const attack_def *a, const attack_model *am, const attack_batch *b,
                     const attack_params *p, attack_ws *ws, attack_out *out,
                     attack_stats *st, ms_err *err);

/* out with loss and correct pointing at workspace scratch (vec[5], byte[4]) where they
 * are NULL, for attacks that need them internally. */
attack_out attack_out_or_scratch(const attack_out *out, attack_ws *ws);

/* Gathers the examples of b that are still classified correctly (correct[i] != 0) into
 * the restart slots: x into ws->plane[6], labels into ws->byte[2], image indices into
 * ws->ids and their positions in b into ws->idx. Returns how many. */
size_t attack_gather_correct(const attack_batch *b, const uint8_t *correct, attack_ws *ws);

/* Worst case over restarts: runs one_run p->restarts times (p->restart = 0, 1, ...),
 * each restart after the first only on the examples still classified correctly
 * (gathered into a sub-batch in ws->plane[6..7], ws->vec[4], ws->byte[2..3], ws->ids,
 * ws->idx), keeping per example a misclassified result if any run found one, else the
 * one of highest loss. out->loss and out->correct must not be NULL. one_run may use
 * ws->plane[0..5], ws->vec[0..3], ws->byte[0..1] and ws->dz; the caller of
 * attack_restarts may use ws->vec[5] and ws->byte[4..5]. */
ms_status attack_restarts(attack_fn one_run, const attack_model *am, const attack_batch *b,
                          const attack_params *p, attack_ws *ws, attack_out *out,
                          ms_err *err);

/* ---- adapters: an attack as an evaluation transform and as a training hook -------- */

/* Evaluation: each batch is replaced by its adversarial version (checked by
 * attack_check). Optionally every adversarial image and its label are kept, indexed
 * by dataset index (keep: (N, dim), keep_y: (N), N the data set size), for --save-adv. */
typedef struct {
    const attack_def *def;
    attack_params params;
    attack_model am;
    attack_ws ws;
    float *orig;      /* (cap, dim) */
    attack_stats st;
    float *keep;
    uint8_t *keep_y;
} attack_eval;

ms_status attack_eval_init(attack_eval *ae, const attack_def *def, const attack_params *p,
                           cnn *m, size_t cap, ms_err *err);
void attack_eval_free(attack_eval *ae);
/* eval_transform (eval.h) with ctx an attack_eval. */
ms_status attack_transform(void *ctx, cnn *m, float *x, const uint8_t *y,
                           const uint32_t *idx, size_t n, ms_err *err);

/* Training: appends the adversarial copy of each batch (labels copied), so the step
 * is on the clean and the adversarial halves together (needs hook_factor 2), or with
 * replace set trains on the adversarial batch alone (Madry et al.). The streams' salt
 * is params.salt mixed with the epoch, so each epoch draws fresh random starts. With
 * ramp_steps > 0, eps (and the step with it) grows linearly over the first ramp_steps
 * steps of training: eps * min(1, (global_step + 1) / ramp_steps). */
typedef struct {
    const attack_def *def;
    attack_params params;
    attack_model am;
    attack_ws ws;
    attack_stats st;
    int replace;
    size_t ramp_steps;
    float eps_now; /* eps of the last batch */
} attack_train;

ms_status attack_train_init(attack_train *at, const attack_def *def, const attack_params *p,
                            cnn *m, size_t batch, ms_err *err);
void attack_train_free(attack_train *at);
/* train_hook (train.h) with ctx an attack_train. */
ms_status attack_train_hook(void *ctx, cnn *m, const train_batch *b, float *x, uint8_t *y,
                            size_t *n, size_t cap, ms_err *err);

#endif
