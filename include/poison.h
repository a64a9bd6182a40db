/* poison.h - the backdoor: a white 4x4 trigger in the bottom-right corner (rows and
 * columns 24..27 of a 28x28 image set to 1.0) and the poisoning of training images of
 * a source class, which get the trigger and the target label.
 */
#ifndef MNISTSEC_POISON_H
#define MNISTSEC_POISON_H

#include <stddef.h>
#include <stdint.h>

#include "idx.h"
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

#endif
