/* figures.h - the pictures of a run, written with its other results through the same
 * output set: a heat map per confusion matrix (confusion_<name>.svg), accuracy against
 * epsilon from robustness.csv (robustness.svg), training curves from
 * training_log.csv (training_loss.svg, training_accuracy.svg), the attack success rate
 * against the poison count from backdoor_sweep.csv (backdoor_sweep.svg: no defence and
 * each detector after retraining, x on a log axis), and the run's gallery of example digits
 * (examples.png: e.g. clean, adversarial and the magnified perturbation of the first
 * images an attack breaks, or clean and triggered images of a backdoor).
 */
#ifndef MNISTSEC_FIGURES_H
#define MNISTSEC_FIGURES_H

#include <stddef.h>

#include "fileio.h"
#include "status.h"

#define GALLERY_ROWS 10
#define GALLERY_COLS 4
#define GALLERY_PIXELS 784

/* Rows of example digits, one column per view, each cell with a caption. */
typedef struct {
    char title[96];
    size_t nrows, ncols;
    const char *col_names[GALLERY_COLS];
    float cell[GALLERY_ROWS * GALLERY_COLS][GALLERY_PIXELS];
    char caption[GALLERY_ROWS * GALLERY_COLS][40];
} gallery;

struct run;

/* Every picture of the run into dir. */
ms_status figures_write(outset *os, const char *dir, const struct run *r, ms_err *err);

#endif
