/* cli.h - the command line: GNU-style long options into a run configuration.
 *
 * Both --flag=value and --flag value are accepted; the published script's spellings
 * (--batch_size, --data_dir, --epsilon_fgsm, --poison_count, --poison_target_label)
 * are aliases. Every number is parsed with strtoull/strtod and range-checked; list
 * values are comma-separated, each element checked on its own. Any problem is one
 * message naming the flag (and the element), and MS_EUSAGE. The modes come from the
 * mode table (modes.h) and the attacks from the attack table (attack.h), so the usage
 * text and the accepted names follow the tables.
 */
#ifndef MNISTSEC_CLI_H
#define MNISTSEC_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "build_info.h"
#include "status.h"

struct mode_def;   /* modes.h */
struct adv_method; /* advtrain.h */
struct attack_def; /* attack.h */

#define DEFAULT_SEED 20251122u

enum { ADV_FROM_BASELINE = 0, ADV_FROM_SCRATCH = 1 };
#define CLI_LIST_MAX 64
#define CLI_DEFEND_MAX 8        /* training-set detectors in --defend */
#define CLI_POISON_SWEEP_MAX 60000u /* largest --poison-sweep count: the size of the MNIST
                                     * training set */

/* A comma-separated list of numbers. */
typedef struct {
    size_t n;
    double v[CLI_LIST_MAX];
} num_list;

/* A comma-separated list of counts (positive integers, none twice), kept in increasing
 * order whatever order they were given in. */
typedef struct {
    size_t n;
    size_t v[CLI_LIST_MAX];
} count_list;

/* A comma-separated list of attack names ("all": every attack of the table that the
 * run can do). */
typedef struct {
    size_t n;
    const struct attack_def *a[CLI_LIST_MAX];
    int all; /* "all" was given: every applicable attack, resolved after parsing */
} attack_list;

/* --defend: training-set detectors (defend.h) and whether STRIP runs. */
typedef struct {
    size_t n;
    const struct detector_def *det[CLI_DEFEND_MAX];
    int strip;
} defend_list;

typedef struct {
    const struct mode_def *mode;
    const char *data_dir;
    const char *out_dir;
    char out_default[64];
    size_t epochs;
    size_t batch_size;
    double lr;
    uint64_t seed;
    size_t threads; /* 0: all cores */
    size_t train_limit, test_limit; /* 0: all */
    const char *save, *load;
    int quiet;
    /* poisoned */
    size_t poison_count;       /* 0 under --poison-sweep, which gives the counts */
    count_list poison_sweep;   /* --poison-sweep (empty: the one --poison-count) */
    int poison_source, poison_target;
    int poison_pick; /* poison_pick of poison.h */
    /* adv_only / adv_training */
    double epsilon;
    size_t attack_limit; /* 0: the whole test set */
    const char *save_adv;
    size_t adv_epochs;
    double adv_lr;
    /* the robustness evaluation (adv_only, and adv_training after hardening) */
    attack_list attacks;   /* --attack (default fgsm) */
    num_list eps_sweep;    /* --eps-sweep (empty: --epsilon only) */
    size_t pgd_steps;
    double pgd_step_size;
    size_t restarts;
    int no_random_start;
    size_t apgd_iters, apgd_targets;
    size_t square_queries;
    const char *surrogate; /* checkpoint of the transfer attack's surrogate model */
    int strict;            /* a FAILed sanity check ends the run with MS_ECHECK */
    /* adv_training */
    const struct adv_method *adv_method;
    size_t adv_steps;      /* 0: the method's default */
    double adv_step_size;  /* 0: the method's default rule */
    double adv_eps;        /* --adv-eps, default --epsilon */
    size_t adv_eps_ramp;   /* epochs */
    int adv_from;          /* ADV_FROM_BASELINE or ADV_FROM_SCRATCH */
    int lr_schedule;       /* lr_schedule of advtrain.h */
    size_t val_count;
    double trades_beta;
    /* poisoned: the defence */
    defend_list defend;
    double expected_poison;
    double spectral_multiplier;
    double cluster_threshold;
    double label_anomaly; /* spectre's label test, 0 = off */
    const char *save_activations;
    int help, version;
} config;

/* Fills c from argv (defaults first; data_dir from MNIST_DIR or "data/mnist").
 * MS_EUSAGE with a message on any bad flag or value. */
ms_status cli_parse(config *c, int argc, char **argv, ms_err *err);

/* --help text (to f). */
void cli_usage(FILE *f);

#endif
