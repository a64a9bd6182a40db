/* svg.h - SVG 1.1 charts: line charts (accuracy vs epsilon, training curves, backdoor
 * sweeps) and heatmaps (confusion matrices).
 *
 * The files are self-contained XML: no scripts, no links, no external fonts or
 * images; text is font-family="sans-serif" and XML-escaped (& < > " ', control
 * characters and invalid UTF-8 become '?'). Series are told apart by colour (the
 * Okabe-Ito palette, safe for colour-blind readers, with a neutral grey in place of
 * its yellow) and, without colour, by marker shape and dash pattern. Numbers are
 * printed in the C locale ('.' as decimal point) with at most 4 significant digits
 * in labels. Every number is checked before the file is opened: a NaN or infinity is
 * refused with MS_EINTERNAL naming the series and point, so none reaches a file.
 *
 * Both writers write `path` through the output set (fileio.h); it appears when the
 * set commits.
 */
#ifndef MNISTSEC_SVG_H
#define MNISTSEC_SVG_H

#include <stddef.h>
#include <stdint.h>

#include "fileio.h"
#include "status.h"

#define SVG_MAX_SERIES 8        /* distinct colour + marker + dash combinations */
#define SVG_MAX_POINTS 100000u  /* per series */
#define SVG_MAX_CLASSES 64u     /* heatmap side */

/* One line: n points (x[i], y[i]), drawn in the order given. */
typedef struct {
    const char *name;     /* legend text; NULL = "series K" */
    size_t n;             /* 0..SVG_MAX_POINTS (0: legend entry only) */
    const double *x, *y;  /* [n] each */
} chart_series;

typedef struct {
    const char *title, *x_label, *y_label;  /* NULL = none */
    size_t nseries;                          /* 1..SVG_MAX_SERIES */
    const chart_series *series;              /* [nseries] */
    int log_x;             /* 1: x on a log10 axis (every x must be > 0), decade ticks */
    int y_fixed;           /* 1: y spans [y_min, y_max] exactly (e.g. [0, 1] for
                            * accuracies), points outside are clipped; 0: automatic,
                            * widened to round tick values */
    double y_min, y_max;   /* used when y_fixed; y_min < y_max, finite */
    size_t width, height;  /* of the whole picture in px; 0 = 640 x 400. The width
                            * grows if the legend would leave the plot under 240 px */
} line_chart;

/* A square matrix of counts, e.g. a confusion matrix [true][predicted]. */
typedef struct {
    const char *title;                   /* NULL = none */
    size_t n;                            /* classes: 1..SVG_MAX_CLASSES */
    const uint64_t *counts;              /* [n * n] row-major: counts[row * n + col] */
    const char *const *labels;           /* [n] class names; NULL = "0", "1", ... */
    const char *row_title, *col_title;   /* NULL = "true", "predicted" */
    int log_scale;  /* 1: colour by log(1 + count) / log(1 + max), which shows the few
                     * errors off a confusion matrix's diagonal; 0: count / max */
} heatmap;

/* Axes with "nice" ticks (1, 2 or 5 times a power of ten; decades on a log axis),
 * grid lines, axis labels, title, one polyline per series with markers (at most
 * about 25 per series, evenly spread) and a legend right of the plot. MS_EINTERNAL
 * for a non-finite or (log_x) non-positive coordinate, naming series and point, for
 * counts out of range or a bad fixed y range; MS_ECANTCREAT / MS_EIO from the outset. */
ms_status svg_line_chart(outset *os, const char *path, const line_chart *c, ms_err *err);

/* n x n cells coloured on a viridis-like sequential scale (dark purple for 0 to
 * yellow for the largest count) with the count written in each (white on dark cells,
 * black on light ones, whichever contrasts more), row labels left and the row title
 * rotated beside them, column labels and title below, and a colour bar with its
 * scale. Each cell is <rect class="cell"> holding a <title> tooltip, followed by its
 * <text class="count">; cells go row after row. MS_EINTERNAL for n out of range or
 * NULL counts. */
ms_status svg_heatmap(outset *os, const char *path, const heatmap *h, ms_err *err);

#endif
