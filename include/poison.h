/* poison.h - the backdoor: a white 4x4 trigger in the bottom-right corner (rows and
 * columns 24..27 of a 28x28 image set to 1.0) and the poisoning of training images of
 * a source class, which get the trigger and the target label.
 */
#ifndef MNISTSEC_POISON_H
#define MNISTSEC_POISON_H

#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "dataset.h"
#include "status.h"

#define TRIGGER_LO 24
#define TRIGGER_HI 27 /* inclusive */

typedef enum { POISON_PICK_FIRST = 0, POISON_PICK_RANDOM = 1 } poison_pick;

typedef struct {
    size_t count;      /* images to poison, >= 1 */
    int source;        /* class whose images get the trigger */
    int target;        /* label they are given */
    poison_pick pick;  /* first `count` in file order, or random (seeded) */
    uint64_t seed;
} poison_opts;

/* Sets the trigger pixels of n images x: (n, 784) to 1.0. */
void poison_trigger(float *x, size_t n);

/* Chooses opts->count training images of class opts->source (sorted ascending into
 * chosen[0..count)). MS_EUSAGE if the class has fewer images, or source == target, or a
 * class is outside 0..9, or count is 0. */
ms_status poison_select(const dataset *ds, const poison_opts *opts, uint32_t *chosen,
                        ms_err *err);

/* Stamps the trigger into the stored pixels of the chosen images and relabels them. */
void poison_apply(dataset *ds, const uint32_t *chosen, size_t count, int target);

/* What a backdoor does, from two confusion matrices [true][predicted] of the same test
 * set: clean, and with every image triggered (labels kept). */
typedef struct {
    uint64_t triggered_source_images;       /* test images of the source class */
    double attack_success_rate;             /* triggered source images sent to the target */
    double source_clean_accuracy;           /* clean source images classified correctly */
    double source_clean_to_target_rate;     /* clean source images sent to the target */
    double triggered_nonsource_accuracy;    /* triggered images of other classes, correct */
    double triggered_other_to_target_rate;  /* triggered images of neither source nor target
                                             * class sent to the target (0 for a backdoor
                                             * specific to the source class) */
} backdoor_metrics;

backdoor_metrics backdoor_measure(const uint64_t clean[CNN_CLASSES][CNN_CLASSES],
                                  const uint64_t trig[CNN_CLASSES][CNN_CLASSES], int source,
                                  int target);

#endif
