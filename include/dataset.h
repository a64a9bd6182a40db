/* dataset.h - a labelled image set (MNIST layout) built on IDX files: found under the
 * accepted file names, checked, kept as stored and converted to floats per batch.
 */
#ifndef MNISTSEC_DATASET_H
#define MNISTSEC_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "idx.h"
#include "status.h"

/* A labelled image set: n images of rows x cols, labels 0..9. Pixels are kept as
 * stored (bytes, or float32 in [0,1] for adversarial sets) and converted per batch. */
typedef struct {
    size_t n, rows, cols;
    uint8_t *pixels_u8;   /* n*rows*cols, or NULL */
    float *pixels_f32;    /* n*rows*cols, or NULL */
    uint8_t *labels;      /* n */
    char images_path[1024], labels_path[1024];
    char images_sha256[65], labels_sha256[65];
} dataset;

/* Loads split "train" or "t10k" from dir, accepting the names
 * <split>-images-idx3-ubyte, <split>-images.idx3-ubyte (each optionally .gz) and the
 * same for labels. Checks: images are 3-D 28x28 (u8 or f32 in [0,1]), labels 1-D u8
 * in 0..9, equal counts. limit > 0 keeps only the first `limit` items (error if the
 * file has fewer). */
/* Status: MS_ENOINPUT if no file is found or one cannot be read, MS_EDATA if a file
 * fails a check, MS_EUSAGE if limit exceeds the number of items. */
ms_status dataset_load(dataset *ds, const char *dir, const char *split, size_t limit,
                       ms_err *err);
void dataset_free(dataset *ds);

/* Gathers images idx[0..n) as floats in [0,1] (x: (n, rows*cols)) and their labels
 * (y: (n), may be NULL). */
void dataset_batch(const dataset *ds, const uint32_t *idx, size_t n, float *x, uint8_t *y);

#endif
