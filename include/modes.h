/* modes.h - the experiments, one row each in the mode table: name, function, what
 * data it needs, its batch capacity and one line of help. The command line, the
 * usage text and the dispatcher read the table; adding a mode is one function and one
 * row in modes.c.
 */
#ifndef MNISTSEC_MODES_H
#define MNISTSEC_MODES_H

#include <stddef.h>
#include <stdint.h>

#include "run.h"
#include "status.h"
#include "train.h"

typedef enum {
    NEEDS_TRAIN_UNLESS_LOADED = 0, /* trains a model unless --load gives one */
    NEEDS_TRAIN_ALWAYS             /* trains even after --load (e.g. fine-tuning) */
} train_need;

typedef struct mode_def {
    const char *name;
    ms_status (*run)(run *r, ms_err *err);
    train_need needs_train;
    size_t batch_factor; /* model capacity needed per training image (2: clean + adversarial) */
    int saves_adv;       /* --save-adv applies: the mode keeps its adversarial test set */
    int evaluates_attacks; /* --attack, --eps-sweep, --strict apply */
    int defends_backdoor;  /* --defend applies */
    int sweeps_poison;     /* --poison-sweep applies */
    const char *help;
} mode_def;

size_t mode_count(void);
const mode_def *mode_at(size_t i);
const mode_def *mode_find(const char *name); /* NULL if unknown */

/* The model trained from scratch with the run's settings: initialised from --seed, then
 * --epochs of a fresh Adam at --lr on --batch-size batches (shuffle stream
 * RNG_STREAM_SHUFFLE) over the training images whose drop[i] is 0 (drop: (train.n), or
 * NULL for all of them). Every mode's baseline, each poisoned model of --poison-sweep and
 * each model retrained without flagged images come from it; phase names it in progress
 * lines. */
ms_status mode_train_model(run *r, const uint8_t *drop, const char *phase, train_stats *st,
                           ms_err *err);

#endif
