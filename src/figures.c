/* figures.c - the pictures of a run (see figures.h). */
#include "figures.h"

#include <stdlib.h>
#include <string.h>

#include "digit_grid.h"
#include "results.h"
#include "run.h"
#include "svg.h"

static ms_status heatmaps(outset *os, const char *dir, const confusion_list *cl, ms_err *err)
{
    ms_status s = MS_OK;
    for (size_t i = 0; i < cl->n && s == MS_OK; i++) {
        char file[160], title[160];
        snprintf(file, sizeof file, "confusion_%s.svg", cl->e[i].name);
        snprintf(title, sizeof title, "Confusion matrix: %s (colour on a log scale)",
                 cl->e[i].name);
        char path[OUTSET_PATH];
        if ((s = path_join(path, sizeof path, dir, file, err)) != MS_OK)
            break;
        heatmap h = {.title = title, .n = CNN_CLASSES, .counts = &cl->e[i].m[0][0],
                     .log_scale = 1};
        s = svg_heatmap(os, path, &h, err);
    }
    return s;
}

static const csv_table *find_table(const run *r, const char *file)
{
    for (size_t i = 0; i < r->ntables; i++)
        if (strcmp(r->tables[i]->file, file) == 0)
            return r->tables[i];
    return NULL;
}

static size_t column(const csv_table *t, const char *name)
{
    for (size_t c = 0; c < t->ncols; c++)
        if (strcmp(t->col[c], name) == 0)
            return c;
    return SIZE_MAX;
}

static const char *cell(const csv_table *t, size_t row, size_t col)
{
    return t->cell[row * t->ncols + col];
}

/* A line chart of y_col against x_col, one series per value of group_col (or per
 * y column when group_col is NULL: ys[0..ny)); rows with an empty y are skipped, and so
 * is a series left without a point. */
typedef struct {
    const char *file, *title, *x_label, *y_label;
    const char *x_col, *group_col;
    const char *ys[3];
    size_t ny;
    int y01;
    int log_x;
    const char *const *legend; /* NULL, or pairs {series, legend text}, then NULL */
} chart_spec;

/* The legend text of a series. */
static const char *legend_name(const chart_spec *cs, const char *series)
{
    for (size_t i = 0; cs->legend && cs->legend[i]; i += 2)
        if (strcmp(cs->legend[i], series) == 0)
            return cs->legend[i + 1];
    return series;
}

static ms_status table_chart(outset *os, const char *dir, const csv_table *t,
                             const chart_spec *cs, ms_err *err)
{
    size_t rows = table_rows(t), xc = column(t, cs->x_col);
    if (rows == 0 || xc == SIZE_MAX)
        return MS_OK;
    const char *names[SVG_MAX_SERIES] = {NULL};
    size_t ycol[SVG_MAX_SERIES], ns = 0;
    size_t gc = cs->group_col ? column(t, cs->group_col) : SIZE_MAX;
    if (cs->group_col) {
        size_t yc = column(t, cs->ys[0]);
        if (gc == SIZE_MAX || yc == SIZE_MAX)
            return MS_OK;
        for (size_t i = 0; i < rows; i++) {
            size_t k = 0;
            while (k < ns && strcmp(names[k], cell(t, i, gc)) != 0)
                k++;
            if (k == ns && ns < SVG_MAX_SERIES)
                names[ns] = cell(t, i, gc), ycol[ns++] = yc;
        }
    } else {
        for (size_t k = 0; k < cs->ny && ns < SVG_MAX_SERIES; k++)
            if ((ycol[ns] = column(t, cs->ys[k])) != SIZE_MAX)
                names[ns++] = cs->ys[k];
    }
    double *xy = malloc(2 * rows * (ns ? ns : 1) * sizeof *xy);
    if (!xy)
        return ms_fail(err, MS_EINTERNAL, "out of memory drawing %s", cs->file);
    chart_series ser[SVG_MAX_SERIES];
    size_t total = 0, nser = 0;
    for (size_t k = 0; k < ns; k++) {
        double *x = xy + 2 * rows * k, *y = x + rows;
        size_t n = 0;
        for (size_t i = 0; i < rows; i++) {
            if (gc != SIZE_MAX && strcmp(cell(t, i, gc), names[k]) != 0)
                continue;
            const char *v = cell(t, i, ycol[k]);
            if (!*v)
                continue;
            x[n] = strtod(cell(t, i, xc), NULL);
            y[n++] = strtod(v, NULL);
        }
        if (n)
            ser[nser++] = (chart_series){.name = legend_name(cs, names[k]), .n = n, .x = x,
                                         .y = y};
        total += n;
    }
    ms_status s = MS_OK;
    if (total) {
        char path[OUTSET_PATH];
        line_chart c = {.title = cs->title, .x_label = cs->x_label, .y_label = cs->y_label,
                        .nseries = nser, .series = ser, .log_x = cs->log_x,
                        .y_fixed = cs->y01, .y_min = 0.0, .y_max = 1.0};
        s = path_join(path, sizeof path, dir, cs->file, err);
        if (s == MS_OK)
            s = svg_line_chart(os, path, &c, err);
    }
    free(xy);
    return s;
}

static ms_status gallery_png(outset *os, const char *dir, const gallery *g, ms_err *err)
{
    const float *cells[GALLERY_ROWS * GALLERY_COLS];
    const char *captions[GALLERY_ROWS * GALLERY_COLS];
    for (size_t i = 0; i < g->nrows * g->ncols; i++) {
        cells[i] = g->cell[i];
        captions[i] = g->caption[i];
    }
    digit_grid dg = {.title = g->title, .nrows = g->nrows, .ncols = g->ncols,
                     .col_names = g->col_names, .cells = cells, .captions = captions,
                     .scale = 3};
    char path[OUTSET_PATH];
    ms_status s = path_join(path, sizeof path, dir, "examples.png", err);
    return s != MS_OK ? s : digit_grid_png(os, path, &dg, err);
}

ms_status figures_write(outset *os, const char *dir, const run *r, ms_err *err)
{
    ms_status s = heatmaps(os, dir, &r->conf, err);
    const csv_table *t = find_table(r, "robustness.csv");
    if (s == MS_OK && t) {
        chart_spec cs = {.file = "robustness.svg", .title = "Accuracy under attack",
                         .x_label = "epsilon (L-inf, pixels in [0,1])",
                         .y_label = "accuracy", .x_col = "epsilon", .group_col = "attack",
                         .ys = {"accuracy"}, .ny = 1, .y01 = 1};
        s = table_chart(os, dir, t, &cs, err);
    }
    t = find_table(r, "training_log.csv");
    if (s == MS_OK && t) {
        chart_spec loss = {.file = "training_loss.svg", .title = "Adversarial training loss",
                           .x_label = "epoch", .y_label = "mean training loss",
                           .x_col = "epoch", .ys = {"train_loss"}, .ny = 1};
        chart_spec acc = {.file = "training_accuracy.svg",
                          .title = "Held-out accuracy after each epoch", .x_label = "epoch",
                          .y_label = "accuracy", .x_col = "epoch",
                          .ys = {"val_clean_accuracy", "val_fgsm_accuracy", "val_pgd_accuracy"},
                          .ny = 3, .y01 = 1};
        s = table_chart(os, dir, t, &loss, err);
        if (s == MS_OK)
            s = table_chart(os, dir, t, &acc, err);
    }
    t = find_table(r, "backdoor_sweep.csv");
    if (s == MS_OK && t) {
        static const char *const legend[] = {"none", "no defence", NULL};
        chart_spec cs = {.file = "backdoor_sweep.svg",
                         .title = "Attack success rate: no defence, or detector + retraining",
                         .x_label = "poisoned training images (log scale)",
                         .y_label = "attack success rate", .x_col = "poison_count",
                         .group_col = "method", .ys = {"asr_after"}, .ny = 1, .y01 = 1,
                         .log_x = 1, .legend = legend};
        s = table_chart(os, dir, t, &cs, err);
    }
    if (s == MS_OK && r->gallery && r->gallery->nrows)
        s = gallery_png(os, dir, r->gallery, err);
    return s;
}
