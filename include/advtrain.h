/* advtrain.h - adversarial training: the methods (one row each), an epsilon ramp, a
 * learning-rate schedule, and a held-out monitor that keeps the most robust epoch and
 * warns when robustness collapses.
 *
 *   fgsm     the published recipe: each batch plus its FGSM copy, one mean loss
 *   fgsm-rs  FGSM from a uniform random start with step alpha, on the adversarial batch
 *            (Wong, Rice & Kolter 2020, "Fast is better than free")
 *   pgd      PGD with random start, on the adversarial batch (Madry et al. 2018)
 *   trades   cross-entropy on the clean batch + beta * KL(clean || adversarial), the
 *            adversarial batch maximising that KL by PGD (Zhang et al. 2019)
 *
 * Held-out monitor (val_count > 0): the last val_count training images are never
 * trained on; after every epoch their clean, FGSM and PGD-20 accuracy are measured, the
 * parameters of the epoch with the best PGD accuracy are kept (robust overfitting,
 * Rice et al. 2020) and restored at the end, and catastrophic overfitting is reported:
 * a collapse of PGD accuracy (more than 20 points below its best, or below 10% after
 * being above 50%), or FGSM accuracy more than 50 points above PGD accuracy.
 */
#ifndef MNISTSEC_ADVTRAIN_H
#define MNISTSEC_ADVTRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "dataset.h"
#include "results.h"
#include "status.h"

typedef enum { ADV_APPEND = 0, ADV_REPLACE, ADV_TRADES } adv_batch;

typedef struct adv_method {
    const char *name;
    const char *attack;  /* attack of the attack table, or NULL for the TRADES KL attack */
    adv_batch batch;
    int random_start;
    size_t steps;        /* default steps of the inner maximisation (0: attack's own) */
    double step_per_eps; /* default step size as a multiple of eps / steps */
    const char *help;
} adv_method;

size_t adv_method_count(void);
const adv_method *adv_method_at(size_t i);
const adv_method *adv_method_find(const char *name);

typedef enum { LR_CONSTANT = 0, LR_COSINE, LR_ONECYCLE } lr_schedule;

typedef struct {
    const adv_method *method;
    double eps;
    size_t steps;        /* 0: the method's default */
    double step_size;    /* 0: the method's default rule */
    size_t eps_ramp_epochs;
    double trades_beta;
    size_t epochs, batch_size;
    double lr;
    lr_schedule schedule;
    size_t val_count;
    uint64_t seed, shuffle_stream;
    int quiet;
} advtrain_opts;

typedef struct {
    size_t epochs;
    double seconds;           /* training only, without the monitor */
    double epoch_loss[1000];
    int have_val;
    size_t best_epoch;        /* 1-based; the parameters kept */
    double best_val_pgd, best_val_clean;
    int collapsed;
    size_t collapse_epoch;    /* 1-based */
    size_t steps, step_resolved;
    double step_size;
} advtrain_result;

/* The columns of training_log.csv, in order (ADVTRAIN_LOG_NCOLS of them). */
#define ADVTRAIN_LOG_NCOLS 8
extern const char *const advtrain_log_columns[ADVTRAIN_LOG_NCOLS];

/* The masking rule of the held-out monitor: 1 if the held-out FGSM accuracy exceeds the
 * PGD accuracy by more than 50 points -- the model resists only the one-step attack it
 * trains against (catastrophic overfitting that happens before any robustness forms,
 * which the collapse rule below cannot see) -- but only once the training epsilon
 * eps_now has reached its value eps: during --adv-eps-ramp the model is trained for a
 * smaller epsilon, and healthy PGD training shows the same gap there. */
int advtrain_masking(float eps_now, float eps, double fgsm, double pgd);

/* The collapse rule of the held-out monitor: 1 if the PGD accuracy now_pgd is more than
 * 20 points below peak_pgd (the best so far, now_pgd included), or below 10% after the
 * peak was above 50%. */
int advtrain_collapse(double peak_pgd, double now_pgd);

/* Trains m in place. log: training_log.csv (advtrain_log_columns); checks: rows of checks.csv for the collapse
 * guard (may be NULL). */
ms_status advtrain_run(cnn *m, const dataset *train, const advtrain_opts *o, csv_table *log,
                       csv_table *checks, advtrain_result *res, ms_err *err);

/* "constant", "cosine" or "onecycle". */
const char *lr_schedule_name(lr_schedule s);

/* The learning rate of a schedule at step t of total, for a peak of lr. */
double lr_schedule_at(lr_schedule s, double lr, size_t t, size_t total);

#endif
