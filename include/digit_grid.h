/* digit_grid.h - MNIST digits composed into one labelled picture (PNG).
 *
 * A grid of nrows x ncols cells, e.g. one row per example and the columns "clean",
 * "adversarial", "perturbation x5", "triggered". Each cell is a 28x28 image of floats
 * in [0, 1] (row-major, 0 black, 1 white, as MNIST is stored), drawn magnified
 * `scale` times with a thin grey frame, a caption under it (e.g. "true 7 pred 1") and
 * the column names on top; optional row names on the left and a title above all.
 * The background is white, the text dark grey, in the built-in font (font.h).
 *
 * Layout, top to bottom: margin, title (font scale 2 t), column headers (font scale
 * t), then per row: the cells, their captions; margin. t is text_scale, or by default
 * 1 for scale < 6, else 2.
 * Each column is as wide as its widest cell, header or caption, so text never
 * overlaps; text is centred on its column.
 */
#ifndef MNISTSEC_DIGIT_GRID_H
#define MNISTSEC_DIGIT_GRID_H

#include <stddef.h>
#include <stdint.h>

#include "fileio.h"
#include "status.h"

#define DIGIT_SIDE 28
#define DIGIT_PIXELS (DIGIT_SIDE * DIGIT_SIDE)
#define DIGIT_GRID_MAX_ROWS 1024u
#define DIGIT_GRID_MAX_COLS 64u
#define DIGIT_GRID_MAX_SCALE 16

typedef struct {
    const char *title;             /* NULL or "": no title line */
    size_t nrows, ncols;           /* 1..DIGIT_GRID_MAX_ROWS, 1..DIGIT_GRID_MAX_COLS */
    const char *const *col_names;  /* [ncols] column headers; NULL, or NULL entries: none */
    const char *const *row_names;  /* [nrows] labels left of the rows; NULL: none */
    /* [nrows * ncols] row-major: cells[r * ncols + c] points to DIGIT_PIXELS floats
     * (28x28 row-major, [0, 1]; values outside are clipped, a non-finite value is an
     * error) or is NULL for an empty cell. */
    const float *const *cells;
    const char *const *captions;   /* [nrows * ncols] like cells; NULL, or NULL entries: none */
    int scale;                     /* magnification of the digits, 0 = 3; at most 16 */
    int text_scale;                /* font magnification t, 0 = automatic; at most 4 */
} digit_grid;

/* Draws the grid into a new malloc'd grey image (*pixels, *width x *height, one byte
 * per pixel, row-major; png.h channels = 1). MS_EINTERNAL naming the title for
 * counts or scale out of range, a NULL cells array, a non-finite pixel (naming row,
 * column and pixel), a picture over PNG_MAX_DIM, or no memory; *pixels is then NULL. */
ms_status digit_grid_render(const digit_grid *g, uint8_t **pixels, size_t *width,
                            size_t *height, ms_err *err);

/* digit_grid_render, then png_write of the image as `path` through the output set. */
ms_status digit_grid_png(outset *os, const char *path, const digit_grid *g, ms_err *err);

/* The perturbation of an example made visible: out = clip(0.5 + k (adv - clean)) to
 * [0, 1], so mid-grey is no change, lighter a pixel raised, darker one lowered; k
 * magnifies it (e.g. 5 for "perturbation x5"). n floats each (DIGIT_PIXELS for a
 * digit); out may alias either input. A NaN input stays NaN (and is refused when
 * drawn). */
void digit_grid_perturbation(float *out, const float *clean, const float *adv, size_t n,
                             float k);

#endif
