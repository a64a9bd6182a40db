/* digit_grid.c - MNIST digits in a labelled grid (digit_grid.h).
 *
 * Sizes are in output pixels. Sums of sizes saturate at SIZE_MAX (sat_add), and the
 * finished width and height are checked against PNG_MAX_DIM, so long captions or
 * many rows give an error, never a wrapped size.
 */
#include "digit_grid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "font.h"
#include "png.h"

#define MARGIN 10u
#define COL_GAP 14u  /* between columns, times the text scale */
#define ROW_GAP 10u  /* between a caption and the next row's cells, times the text scale */
#define TEXT_GAP 4u  /* between a cell and its caption or header, times the text scale */
#define BG 255u
#define FRAME 160u
static const uint8_t ink[3] = {32, 32, 32};

static size_t sat_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

static const char *name_of(const digit_grid *g)
{
    return g && g->title && g->title[0] ? g->title : "digit grid";
}

static const char *entry(const char *const *arr, size_t i)
{
    return arr && arr[i] && arr[i][0] ? arr[i] : NULL;
}

/* Checks counts, scale and every pixel before anything is allocated. */
static ms_status check_grid(const digit_grid *g, ms_err *err)
{
    if (!g)
        return ms_fail(err, MS_EINTERNAL, "digit grid: none given");
    const char *nm = name_of(g);
    if (g->nrows == 0 || g->nrows > DIGIT_GRID_MAX_ROWS || g->ncols == 0 ||
        g->ncols > DIGIT_GRID_MAX_COLS)
        return ms_fail(err, MS_EINTERNAL, "%s: %zu rows x %zu columns (1..%u x 1..%u)", nm,
                       g->nrows, g->ncols, DIGIT_GRID_MAX_ROWS, DIGIT_GRID_MAX_COLS);
    if (g->scale < 0 || g->scale > DIGIT_GRID_MAX_SCALE)
        return ms_fail(err, MS_EINTERNAL, "%s: scale %d (0..%d)", nm, g->scale,
                       DIGIT_GRID_MAX_SCALE);
    if (g->text_scale < 0 || g->text_scale > 4)
        return ms_fail(err, MS_EINTERNAL, "%s: text scale %d (0..4)", nm, g->text_scale);
    if (!g->cells)
        return ms_fail(err, MS_EINTERNAL, "%s: no cells array", nm);
    for (size_t r = 0; r < g->nrows; r++)
        for (size_t c = 0; c < g->ncols; c++) {
            const float *cell = g->cells[r * g->ncols + c];
            if (!cell)
                continue;
            for (size_t k = 0; k < DIGIT_PIXELS; k++)
                if (!isfinite(cell[k]))
                    return ms_fail(err, MS_EINTERNAL,
                                   "%s: row %zu column %zu pixel %zu (y %zu x %zu) is not "
                                   "finite (%g)",
                                   nm, r, c, k, k / DIGIT_SIDE, k % DIGIT_SIDE, (double)cell[k]);
        }
    return MS_OK;
}

/* Centred start of a span of `inner` pixels in `outer` pixels starting at x. */
static size_t centre(size_t x, size_t outer, size_t inner)
{
    return inner >= outer ? x : x + (outer - inner) / 2;
}

/* One digit magnified s times at (x, y) with a one-pixel frame around it. */
static void draw_cell(uint8_t *img, size_t w, size_t x, size_t y, size_t s, const float *v)
{
    size_t side = DIGIT_SIDE * s;
    for (size_t i = 0; i < side + 2; i++) {
        img[(y - 1) * w + x - 1 + i] = FRAME;
        img[(y + side) * w + x - 1 + i] = FRAME;
        img[(y - 1 + i) * w + x - 1] = FRAME;
        img[(y - 1 + i) * w + x + side] = FRAME;
    }
    for (size_t py = 0; py < side; py++)
        for (size_t px = 0; px < side; px++) {
            float f = v[(py / s) * DIGIT_SIDE + px / s];
            f = f < 0.0f ? 0.0f : f > 1.0f ? 1.0f : f;
            img[(y + py) * w + x + px] = (uint8_t)(f * 255.0f + 0.5f);
        }
}

ms_status digit_grid_render(const digit_grid *g, uint8_t **pixels, size_t *width,
                            size_t *height, ms_err *err)
{
    if (!pixels || !width || !height)
        return ms_fail(err, MS_EINTERNAL, "%s: no output buffer", name_of(g));
    *pixels = NULL;
    *width = *height = 0;
    ms_status st = check_grid(g, err);
    if (st != MS_OK)
        return st;
    const char *nm = name_of(g);
    size_t s = g->scale ? (size_t)g->scale : 3;
    size_t ts = g->text_scale ? (size_t)g->text_scale : s >= 6 ? 2 : 1;
    size_t cell = DIGIT_SIDE * s, framed = cell + 2, gap = TEXT_GAP * ts;
    size_t col_gap = COL_GAP * ts, row_gap = ROW_GAP * ts;
    size_t nr = g->nrows, nc = g->ncols;

    /* Column widths, header and caption heights, row-label width. */
    size_t col_w[DIGIT_GRID_MAX_COLS], header_h = 0, cap_h = 0, label_w = 0;
    for (size_t c = 0; c < nc; c++) {
        col_w[c] = framed;
        const char *hd = entry(g->col_names, c);
        if (hd) {
            col_w[c] = max_sz(col_w[c], font_text_width(hd, (int)ts));
            header_h = max_sz(header_h, sat_add(font_text_height(hd, (int)ts), gap));
        }
        for (size_t r = 0; r < nr; r++) {
            const char *cap = entry(g->captions, r * nc + c);
            if (cap) {
                col_w[c] = max_sz(col_w[c], font_text_width(cap, (int)ts));
                cap_h = max_sz(cap_h, sat_add(font_text_height(cap, (int)ts), gap));
            }
        }
    }
    for (size_t r = 0; r < nr; r++) {
        const char *rn = entry(g->row_names, r);
        if (rn)
            label_w = max_sz(label_w, sat_add(font_text_width(rn, (int)ts), col_gap));
    }
    size_t title_h = 0, title_w = 0;
    if (g->title && g->title[0]) {
        title_w = font_text_width(g->title, (int)(2 * ts));
        title_h = sat_add(font_text_height(g->title, (int)(2 * ts)), 3 * gap);
    }
    size_t grid_w = label_w;
    for (size_t c = 0; c < nc; c++)
        grid_w = sat_add(sat_add(grid_w, col_w[c]), c ? col_gap : 0);
    size_t w = sat_add(max_sz(grid_w, title_w), 2 * MARGIN);
    size_t row_h = sat_add(sat_add(framed, cap_h), row_gap), rows_h, h;
    if (!size_mul(&rows_h, row_h, nr))
        rows_h = SIZE_MAX;
    h = sat_add(sat_add(sat_add(title_h, header_h), rows_h), 2 * MARGIN) - row_gap;
    size_t area;
    if (w > PNG_MAX_DIM || h > PNG_MAX_DIM || !size_mul(&area, w, h))
        return ms_fail(err, MS_EINTERNAL, "%s: picture of %zu x %zu pixels exceeds %u per side",
                       nm, w, h, PNG_MAX_DIM);
    uint8_t *img = malloc(area);
    if (!img)
        return ms_fail(err, MS_EINTERNAL, "%s: out of memory (%zu bytes)", nm, area);
    memset(img, BG, area);

    size_t x0 = MARGIN + (w - 2 * MARGIN - grid_w) / 2, y = MARGIN;
    if (title_h) {
        font_draw(img, w, h, 1, centre(MARGIN, w - 2 * MARGIN, title_w), y, g->title, ink,
                  (int)(2 * ts));
        y += title_h;
    }
    size_t xc[DIGIT_GRID_MAX_COLS];
    for (size_t c = 0, x = x0 + label_w; c < nc; c++) {
        xc[c] = x;
        x += col_w[c] + col_gap;
        const char *hd = entry(g->col_names, c);
        if (hd)
            font_draw(img, w, h, 1, centre(xc[c], col_w[c], font_text_width(hd, (int)ts)), y,
                      hd, ink, (int)ts);
    }
    y += header_h;
    for (size_t r = 0; r < nr; r++, y += row_h) {
        const char *rn = entry(g->row_names, r);
        if (rn)
            font_draw(img, w, h, 1, x0, centre(y, framed, font_text_height(rn, (int)ts)), rn,
                      ink, (int)ts);
        for (size_t c = 0; c < nc; c++) {
            const float *v = g->cells[r * nc + c];
            if (v)
                draw_cell(img, w, centre(xc[c], col_w[c], framed) + 1, y + 1, s, v);
            const char *cap = entry(g->captions, r * nc + c);
            if (cap)
                font_draw(img, w, h, 1, centre(xc[c], col_w[c], font_text_width(cap, (int)ts)),
                          y + framed + gap, cap, ink, (int)ts);
        }
    }
    *pixels = img;
    *width = w;
    *height = h;
    return MS_OK;
}

ms_status digit_grid_png(outset *os, const char *path, const digit_grid *g, ms_err *err)
{
    uint8_t *img;
    size_t w, h;
    ms_status st = digit_grid_render(g, &img, &w, &h, err);
    if (st != MS_OK)
        return st;
    st = png_write(os, path, img, w, h, 1, err);
    free(img);
    return st;
}

void digit_grid_perturbation(float *out, const float *clean, const float *adv, size_t n,
                             float k)
{
    for (size_t i = 0; i < n; i++) {
        float v = 0.5f + k * (adv[i] - clean[i]);
        /* comparisons, not fminf/fmaxf, so that a NaN stays visible to the check */
        out[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    }
}
