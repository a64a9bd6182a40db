/* modes.h - the experiments, one row each in the mode table: name, function, what
 * data it needs, its batch capacity and one line of help. The command line, the
 * usage text and the dispatcher read the table; adding a mode is one function and one
 * row in modes.c.
 */
#ifndef MNISTSEC_MODES_H
#define MNISTSEC_MODES_H

#include <stddef.h>

#include "run.h"
#include "status.h"

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
    const char *help;
} mode_def;

size_t mode_count(void);
const mode_def *mode_at(size_t i);
const mode_def *mode_find(const char *name); /* NULL if unknown */

#endif
