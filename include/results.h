/* results.h - the result files of a run: metrics.csv, confusion matrices, per-class
 * accuracy, long-format CSV tables and manifest.json. All are written into one outset
 * (fileio.h), so they appear together or not at all.
 *
 * The containers grow as rows are added; an allocation failure is remembered (a
 * sticky status) and reported when the files are written, so adding a row never
 * silently drops it and the callers need no status check per row.
 *
 * CSV: header row, C locale, LF line endings, floats with %.9g, fields quoted as in
 * RFC 4180 where they hold a comma, a quote or a line break.
 */
#ifndef MNISTSEC_RESULTS_H
#define MNISTSEC_RESULTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cnn.h"
#include "fileio.h"
#include "status.h"

/* ---- metrics.csv: an ordered list of key,value rows ------------------------------ */

typedef struct {
    char *key, *val;
    int timing; /* 1: depends on the clock (left out of reproducibility comparisons) */
} metric_row;

typedef struct {
    size_t n, cap;
    metric_row *row;
    ms_status status; /* MS_OK; MS_EINTERNAL after an allocation failure; MS_ENUMERIC
                       * after a non-finite number (never written) */
    char why[128];
} metrics;

void metrics_init(metrics *mt);
void metrics_free(metrics *mt);
/* Adds a row, or replaces the value of the row with that key. A NaN or infinite
 * number is not stored: the metrics then refuse to be written (MS_ENUMERIC naming the
 * row). */
void metrics_str(metrics *mt, const char *key, const char *val);
void metrics_num(metrics *mt, const char *key, double v);
void metrics_int(metrics *mt, const char *key, uint64_t v);
void metrics_time(metrics *mt, const char *key, double v); /* a timing row */
/* The same with the key built as prefix + name (prefix may be ""). */
void metrics_num2(metrics *mt, const char *prefix, const char *name, double v);
void metrics_time2(metrics *mt, const char *prefix, const char *name, double v);
/* Value of a row, or NULL. */
const char *metrics_get(const metrics *mt, const char *key);

/* ---- confusion matrices ------------------------------------------------------------ */

typedef struct {
    char *name;      /* written as confusion_<name>.csv */
    int per_class;   /* also written as per_class.csv */
    uint64_t m[CNN_CLASSES][CNN_CLASSES]; /* [true][predicted] */
} confusion_entry;

typedef struct {
    size_t n, cap;
    confusion_entry *e;
    ms_status status;
} confusion_list;

void confusions_init(confusion_list *cl);
void confusions_free(confusion_list *cl);
void confusions_add(confusion_list *cl, const char *name,
                    const uint64_t m[CNN_CLASSES][CNN_CLASSES], int per_class);

/* ---- long-format CSV tables -------------------------------------------------------- */

typedef struct {
    char *file;         /* file name in the output directory */
    size_t ncols;
    char **col;         /* column names */
    size_t ncells, cap; /* cells, row after row */
    char **cell;
    ms_status status;   /* sticky: allocation failure, or a row of the wrong width */
    char why[160];
} csv_table;

/* A table with the given columns (copied). */
void table_init(csv_table *t, const char *file, size_t ncols, const char *const *cols);
void table_free(csv_table *t);
/* Cells are appended in column order; a row is complete after ncols cells. */
void table_str(csv_table *t, const char *v);
void table_num(csv_table *t, double v);
void table_int(csv_table *t, uint64_t v);
size_t table_rows(const csv_table *t);

/* ---- writers (each writes DIR/NAME through the outset) ---------------------------- */

ms_status write_metrics_csv(outset *os, const char *dir, const metrics *mt, ms_err *err);
ms_status write_confusion_csv(outset *os, const char *dir, const char *name,
                              const uint64_t conf[CNN_CLASSES][CNN_CLASSES], ms_err *err);
ms_status write_per_class_csv(outset *os, const char *dir, const char *name,
                              const uint64_t conf[CNN_CLASSES][CNN_CLASSES], ms_err *err);
/* Every matrix of the list (and per_class.csv of those marked). */
ms_status write_confusions(outset *os, const char *dir, const confusion_list *cl,
                           ms_err *err);
/* MS_EINTERNAL naming the table if it is incomplete or an allocation failed. */
ms_status write_table_csv(outset *os, const char *dir, const csv_table *t, ms_err *err);
/* A CSV with one column `name` of indices. */
ms_status write_index_csv(outset *os, const char *dir, const char *name, const char *column,
                          const uint32_t *v, size_t n, ms_err *err);

/* CSV field: written as is, or quoted (RFC 4180) when it holds , " CR or LF. */
void csv_field(FILE *f, const char *s);
/* JSON string escaping into f. */
void json_string(FILE *f, const char *s);

/* Joins dir and name into buf (cap bytes). MS_ECANTCREAT if too long. */
ms_status path_join(char *buf, size_t cap, const char *dir, const char *name, ms_err *err);

/* ---- manifest.json ---------------------------------------------------------------- */

/* One input file of the run. */
typedef struct {
    const char *role, *path, *sha256;
} manifest_input;

/* What the manifest records: the command, times, the build, the settings (written by
 * a callback as the members of a JSON object, each line indented by 4 spaces, the last
 * without a trailing comma) and the inputs with their SHA-256. */
typedef struct {
    const char *mode;
    int argc;
    char **argv;
    const char *started; /* UTC, ISO 8601 */
    double wall_seconds;
    size_t threads;
    void (*settings)(FILE *f, const void *ctx);
    const void *settings_ctx;
    const manifest_input *inputs;
    size_t ninputs;
} manifest_info;

ms_status write_manifest(outset *os, const char *dir, const manifest_info *mi, ms_err *err);

/* Current UTC time as ISO 8601 into buf. */
void utc_now(char *buf, size_t cap);

#endif
