/* cli.h - the command line: GNU-style long options into a run configuration.
 *
 * Both --flag=value and --flag value are accepted; the published script's spellings
 * (--batch_size, --data_dir, --epsilon_fgsm, --poison_count, --poison_target_label)
 * are aliases. Every number is parsed with strtoull/strtod and range-checked; any
 * problem is one message naming the flag, and MS_EUSAGE.
 */
#ifndef MNISTSEC_CLI_H
#define MNISTSEC_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

typedef enum { MODE_BASELINE = 0, MODE_POISONED, MODE_ADV_ONLY, MODE_ADV_TRAINING } run_mode;

#define MNISTSEC_VERSION "0.1.0"
#define DEFAULT_SEED 20251122u

typedef struct {
    run_mode mode;
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
    size_t poison_count;
    int poison_source, poison_target;
    int poison_pick; /* poison_pick of poison.h */
    /* adv_only / adv_training */
    double epsilon;
    size_t attack_limit; /* 0: the whole test set */
    const char *save_adv;
    size_t adv_epochs;
    double adv_lr;
    int help, version;
} config;

/* Fills c from argv (defaults first; data_dir from MNIST_DIR or "data/mnist").
 * MS_EUSAGE with a message on any bad flag or value. */
ms_status cli_parse(config *c, int argc, char **argv, ms_err *err);

/* --help text (to f). */
void cli_usage(FILE *f);

const char *mode_name(run_mode m);

#endif
