/* results.c - CSV and JSON result files (see results.h). */
#include "results.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "build_info.h"
#include "checked.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Makes room for one more element in *arr (n used, *cap allocated); 0 on failure. */
static int grow(void **arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return 1;
    size_t ncap = *cap ? 2 * *cap : 16, bytes;
    if (ncap < *cap || !size_mul(&bytes, ncap, elem))
        return 0;
    void *p = realloc(*arr, bytes);
    if (!p)
        return 0;
    *arr = p;
    *cap = ncap;
    return 1;
}

/* ---- metrics -------------------------------------------------------------------- */

void metrics_init(metrics *mt)
{
    memset(mt, 0, sizeof *mt);
}

void metrics_free(metrics *mt)
{
    for (size_t i = 0; i < mt->n; i++)
        free(mt->row[i].key), free(mt->row[i].val);
    free(mt->row);
    memset(mt, 0, sizeof *mt);
}

static void metrics_add(metrics *mt, const char *key, const char *val, int timing)
{
    size_t i;
    for (i = 0; i < mt->n; i++)
        if (strcmp(mt->row[i].key, key) == 0)
            break;
    char *v = dup_str(val);
    if (!v) {
        mt->status = MS_EINTERNAL;
        return;
    }
    if (i < mt->n) {
        free(mt->row[i].val);
        mt->row[i].val = v;
        mt->row[i].timing = timing;
        return;
    }
    char *k = dup_str(key);
    if (!k || !grow((void **)&mt->row, mt->n, &mt->cap, sizeof *mt->row)) {
        free(k), free(v);
        mt->status = MS_EINTERNAL;
        return;
    }
    mt->row[mt->n++] = (metric_row){k, v, timing};
}

void metrics_str(metrics *mt, const char *key, const char *val)
{
    metrics_add(mt, key, val, 0);
}

/* A non-finite number is remembered, not stored. */
static int finite_or_flag(metrics *mt, const char *key, double v)
{
    if (isfinite(v))
        return 1;
    if (mt->status == MS_OK) {
        mt->status = MS_ENUMERIC;
        snprintf(mt->why, sizeof mt->why, "%.60s is %g", key, v);
    }
    return 0;
}

void metrics_num(metrics *mt, const char *key, double v)
{
    if (!finite_or_flag(mt, key, v))
        return;
    char b[40];
    snprintf(b, sizeof b, "%.9g", v);
    metrics_add(mt, key, b, 0);
}

void metrics_int(metrics *mt, const char *key, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    metrics_add(mt, key, b, 0);
}

void metrics_time(metrics *mt, const char *key, double v)
{
    if (!finite_or_flag(mt, key, v))
        return;
    char b[40];
    snprintf(b, sizeof b, "%.9g", v);
    metrics_add(mt, key, b, 1);
}

/* prefix + name into a fresh string (NULL on failure, which the caller records). */
static char *join_key(const char *prefix, const char *name)
{
    size_t a = strlen(prefix), b = strlen(name);
    char *k = malloc(a + b + 1);
    if (k) {
        memcpy(k, prefix, a);
        memcpy(k + a, name, b + 1);
    }
    return k;
}

void metrics_num2(metrics *mt, const char *prefix, const char *name, double v)
{
    char *k = join_key(prefix, name);
    if (!k) {
        mt->status = MS_EINTERNAL;
        return;
    }
    metrics_num(mt, k, v);
    free(k);
}

void metrics_time2(metrics *mt, const char *prefix, const char *name, double v)
{
    char *k = join_key(prefix, name);
    if (!k) {
        mt->status = MS_EINTERNAL;
        return;
    }
    metrics_time(mt, k, v);
    free(k);
}

const char *metrics_get(const metrics *mt, const char *key)
{
    for (size_t i = 0; i < mt->n; i++)
        if (strcmp(mt->row[i].key, key) == 0)
            return mt->row[i].val;
    return NULL;
}

/* ---- confusion matrices --------------------------------------------------------- */

void confusions_init(confusion_list *cl)
{
    memset(cl, 0, sizeof *cl);
}

void confusions_free(confusion_list *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        free(cl->e[i].name);
    free(cl->e);
    memset(cl, 0, sizeof *cl);
}

void confusions_add(confusion_list *cl, const char *name,
                    const uint64_t m[CNN_CLASSES][CNN_CLASSES], int per_class)
{
    char *nm = dup_str(name);
    if (!nm || !grow((void **)&cl->e, cl->n, &cl->cap, sizeof *cl->e)) {
        free(nm);
        cl->status = MS_EINTERNAL;
        return;
    }
    confusion_entry *e = &cl->e[cl->n++];
    e->name = nm;
    e->per_class = per_class;
    memcpy(e->m, m, sizeof e->m);
}

/* ---- tables --------------------------------------------------------------------- */

void table_init(csv_table *t, const char *file, size_t ncols, const char *const *cols)
{
    memset(t, 0, sizeof *t);
    t->file = dup_str(file);
    t->col = calloc(ncols ? ncols : 1, sizeof *t->col);
    if (!t->file || !t->col) {
        t->status = MS_EINTERNAL;
        return;
    }
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++)
        if (!(t->col[i] = dup_str(cols[i])))
            t->status = MS_EINTERNAL;
}

void table_free(csv_table *t)
{
    for (size_t i = 0; i < t->ncols && t->col; i++)
        free(t->col[i]);
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cell[i]);
    free(t->col), free(t->cell), free(t->file);
    memset(t, 0, sizeof *t);
}

void table_str(csv_table *t, const char *v)
{
    char *c = dup_str(v);
    if (!c || !grow((void **)&t->cell, t->ncells, &t->cap, sizeof *t->cell)) {
        free(c);
        t->status = MS_EINTERNAL;
        snprintf(t->why, sizeof t->why, "out of memory");
        return;
    }
    t->cell[t->ncells++] = c;
}

void table_num(csv_table *t, double v)
{
    if (!isfinite(v) && t->status == MS_OK) {
        t->status = MS_ENUMERIC;
        snprintf(t->why, sizeof t->why, "column %zu of row %zu is %g, not written",
                 t->ncols ? t->ncells % t->ncols + 1 : 0, t->ncols ? t->ncells / t->ncols + 1 : 0,
                 v);
    }
    char b[40];
    snprintf(b, sizeof b, "%.9g", v);
    table_str(t, b);
}

void table_int(csv_table *t, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    table_str(t, b);
}

size_t table_rows(const csv_table *t)
{
    return t->ncols ? t->ncells / t->ncols : 0;
}

/* ---- writers -------------------------------------------------------------------- */

ms_status path_join(char *buf, size_t cap, const char *dir, const char *name, ms_err *err)
{
    int k = snprintf(buf, cap, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= cap)
        return ms_fail(err, MS_ECANTCREAT, "%s/%s: path too long", dir, name);
    return MS_OK;
}

static ms_status open_in(outset *os, const char *dir, const char *name, FILE **f, ms_err *err)
{
    char path[OUTSET_PATH];
    ms_status s = path_join(path, sizeof path, dir, name, err);
    return s != MS_OK ? s : outset_open(os, path, f, err);
}

void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

ms_status write_metrics_csv(outset *os, const char *dir, const metrics *mt, ms_err *err)
{
    if (mt->status == MS_ENUMERIC)
        return ms_fail(err, MS_ENUMERIC, "metrics.csv: %s; refusing to write a non-finite result",
                       mt->why);
    if (mt->status != MS_OK)
        return ms_fail(err, mt->status, "metrics.csv: out of memory collecting rows");
    FILE *f;
    ms_status s = open_in(os, dir, "metrics.csv", &f, err);
    if (s != MS_OK)
        return s;
    fputs("metric,value\n", f);
    for (size_t i = 0; i < mt->n; i++) {
        csv_field(f, mt->row[i].key);
        fputc(',', f);
        csv_field(f, mt->row[i].val);
        fputc('\n', f);
    }
    return MS_OK;
}

ms_status write_confusion_csv(outset *os, const char *dir, const char *name,
                              const uint64_t conf[CNN_CLASSES][CNN_CLASSES], ms_err *err)
{
    FILE *f;
    ms_status s = open_in(os, dir, name, &f, err);
    if (s != MS_OK)
        return s;
    fputs("true", f);
    for (int c = 0; c < CNN_CLASSES; c++)
        fprintf(f, ",pred_%d", c);
    fputc('\n', f);
    for (int t = 0; t < CNN_CLASSES; t++) {
        fprintf(f, "%d", t);
        for (int c = 0; c < CNN_CLASSES; c++)
            fprintf(f, ",%llu", (unsigned long long)conf[t][c]);
        fputc('\n', f);
    }
    return MS_OK;
}

ms_status write_per_class_csv(outset *os, const char *dir, const char *name,
                              const uint64_t conf[CNN_CLASSES][CNN_CLASSES], ms_err *err)
{
    FILE *f;
    ms_status s = open_in(os, dir, name, &f, err);
    if (s != MS_OK)
        return s;
    fputs("class,count,correct,accuracy\n", f);
    for (int t = 0; t < CNN_CLASSES; t++) {
        uint64_t count = 0;
        for (int c = 0; c < CNN_CLASSES; c++)
            count += conf[t][c];
        double acc = count ? (double)conf[t][t] / (double)count : 0.0;
        fprintf(f, "%d,%llu,%llu,%.9g\n", t, (unsigned long long)count,
                (unsigned long long)conf[t][t], acc);
    }
    return MS_OK;
}

ms_status write_confusions(outset *os, const char *dir, const confusion_list *cl,
                           ms_err *err)
{
    if (cl->status != MS_OK)
        return ms_fail(err, cl->status, "confusion matrices: out of memory collecting them");
    ms_status s = MS_OK;
    for (size_t i = 0; i < cl->n && s == MS_OK; i++) {
        char *name = join_key("confusion_", cl->e[i].name);
        char *file = name ? join_key(name, ".csv") : NULL;
        if (!file)
            s = ms_fail(err, MS_EINTERNAL, "out of memory naming a confusion matrix");
        else
            s = write_confusion_csv(os, dir, file, (const uint64_t(*)[CNN_CLASSES])cl->e[i].m,
                                    err);
        free(name), free(file);
        if (s == MS_OK && cl->e[i].per_class)
            s = write_per_class_csv(os, dir, "per_class.csv",
                                    (const uint64_t(*)[CNN_CLASSES])cl->e[i].m, err);
    }
    return s;
}

ms_status write_table_csv(outset *os, const char *dir, const csv_table *t, ms_err *err)
{
    if (t->status != MS_OK)
        return ms_fail(err, t->status, "%s: %s", t->file ? t->file : "table",
                       t->why[0] ? t->why : "out of memory");
    if (t->ncols == 0 || t->ncells % t->ncols != 0)
        return ms_fail(err, MS_EINTERNAL, "%s: %zu cells do not fill rows of %zu columns",
                       t->file, t->ncells, t->ncols);
    FILE *f;
    ms_status s = open_in(os, dir, t->file, &f, err);
    if (s != MS_OK)
        return s;
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            fputc(',', f);
        csv_field(f, t->col[c]);
    }
    fputc('\n', f);
    for (size_t i = 0; i < t->ncells; i++) {
        csv_field(f, t->cell[i]);
        fputc((i + 1) % t->ncols ? ',' : '\n', f);
    }
    return MS_OK;
}

ms_status write_index_csv(outset *os, const char *dir, const char *name, const char *column,
                          const uint32_t *v, size_t n, ms_err *err)
{
    FILE *f;
    ms_status s = open_in(os, dir, name, &f, err);
    if (s != MS_OK)
        return s;
    fprintf(f, "%s\n", column);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%lu\n", (unsigned long)v[i]);
    return MS_OK;
}

void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* ---- manifest ------------------------------------------------------------------- */

void utc_now(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tmv;
    if (gmtime_r(&t, &tmv))
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    else
        snprintf(buf, cap, "unknown");
}

ms_status write_manifest(outset *os, const char *dir, const manifest_info *mi, ms_err *err)
{
    FILE *f;
    ms_status s = open_in(os, dir, "manifest.json", &f, err);
    if (s != MS_OK)
        return s;
    char ended[32];
    utc_now(ended, sizeof ended);
    fprintf(f, "{\n  \"program\": \"mnistsec\",\n  \"version\": \"%s\",\n", MNISTSEC_VERSION);
    fprintf(f, "  \"mode\": ");
    json_string(f, mi->mode);
    fprintf(f, ",\n  \"command\": [");
    for (int i = 0; i < mi->argc; i++) {
        json_string(f, mi->argv[i]);
        if (i + 1 < mi->argc)
            fputs(", ", f);
    }
    fprintf(f, "],\n  \"started\": \"%s\",\n  \"ended\": \"%s\",\n", mi->started, ended);
    fprintf(f, "  \"wall_seconds\": %.3f,\n  \"threads\": %zu,\n", mi->wall_seconds,
            mi->threads);
    /* Peak resident memory so far (kilobytes on Linux); 0 if unavailable. */
    struct rusage ru;
    long peak_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
    fprintf(f, "  \"peak_rss_kb\": %ld,\n", peak_kb);
    fprintf(f, "  \"compiler\": ");
    json_string(f, build_compiler());
    fprintf(f, ",\n  \"build\": {\n    \"compiler\": ");
    json_string(f, build_compiler());
    fprintf(f, ",\n    \"cflags\": ");
    json_string(f, build_cflags());
    fprintf(f, ",\n    \"isa\": ");
    json_string(f, build_isa());
    fprintf(f, ",\n    \"revision\": ");
    json_string(f, build_revision());
    fprintf(f, "\n  },\n  \"settings\": {\n");
    if (mi->settings)
        mi->settings(f, mi->settings_ctx);
    fprintf(f, "  },\n  \"inputs\": [\n");
    for (size_t i = 0; i < mi->ninputs; i++) {
        const manifest_input *in = &mi->inputs[i];
        fprintf(f, "    {\"role\": ");
        json_string(f, in->role);
        fprintf(f, ", \"path\": ");
        json_string(f, in->path);
        fprintf(f, ", \"sha256\": ");
        json_string(f, in->sha256);
        fprintf(f, "}%s\n", i + 1 < mi->ninputs ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    return MS_OK;
}
