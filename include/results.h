/* results.h - the result files of a run: metrics.csv, confusion matrices, per-class
 * accuracy and manifest.json. All are written into one outset (fileio.h), so they
 * appear together or not at all.
 *
 * CSV: header row, C locale, LF line endings, floats with %.9g.
 */
#ifndef MNISTSEC_RESULTS_H
#define MNISTSEC_RESULTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cnn.h"
#include "fileio.h"
#include "status.h"

#define METRICS_MAX 96
#define METRIC_KEY 48
#define METRIC_VAL 96

/* An ordered list of metric rows; `timing` marks rows that depend on the clock. */
typedef struct {
    size_t n;
    char key[METRICS_MAX][METRIC_KEY];
    char val[METRICS_MAX][METRIC_VAL];
    int timing[METRICS_MAX];
} metrics;

void metrics_init(metrics *mt);
void metrics_str(metrics *mt, const char *key, const char *val);
void metrics_num(metrics *mt, const char *key, double v);
void metrics_int(metrics *mt, const char *key, uint64_t v);
void metrics_time(metrics *mt, const char *key, double v); /* a timing row */
/* Value of a row, or NULL. */
const char *metrics_get(const metrics *mt, const char *key);

/* Each writes DIR/NAME through the outset. */
ms_status write_metrics_csv(outset *os, const char *dir, const metrics *mt, ms_err *err);
ms_status write_confusion_csv(outset *os, const char *dir, const char *name,
                              const uint64_t conf[CNN_CLASSES][CNN_CLASSES], ms_err *err);
ms_status write_per_class_csv(outset *os, const char *dir, const char *name,
                              const uint64_t conf[CNN_CLASSES][CNN_CLASSES], ms_err *err);
/* A CSV with one column `name` of indices. */
ms_status write_index_csv(outset *os, const char *dir, const char *name, const char *column,
                          const uint32_t *v, size_t n, ms_err *err);

/* JSON string escaping into f. */
void json_string(FILE *f, const char *s);

/* Joins dir and name into buf (cap bytes). MS_ECANTCREAT if too long. */
ms_status path_join(char *buf, size_t cap, const char *dir, const char *name, ms_err *err);

#endif
