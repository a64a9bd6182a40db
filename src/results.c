/* results.c - CSV and JSON result files (see results.h). */
#include "results.h"

#include <string.h>

void metrics_init(metrics *mt)
{
    memset(mt, 0, sizeof *mt);
}

static void metrics_add(metrics *mt, const char *key, const char *val, int timing)
{
    size_t i;
    for (i = 0; i < mt->n; i++)
        if (strcmp(mt->key[i], key) == 0)
            break;
    if (i == mt->n) {
        if (mt->n == METRICS_MAX)
            return; /* fixed set of rows; a programming error caught by tests */
        mt->n++;
    }
    snprintf(mt->key[i], METRIC_KEY, "%s", key);
    snprintf(mt->val[i], METRIC_VAL, "%s", val);
    mt->timing[i] = timing;
}

void metrics_str(metrics *mt, const char *key, const char *val)
{
    metrics_add(mt, key, val, 0);
}

void metrics_num(metrics *mt, const char *key, double v)
{
    char b[METRIC_VAL];
    snprintf(b, sizeof b, "%.9g", v);
    metrics_add(mt, key, b, 0);
}

void metrics_int(metrics *mt, const char *key, uint64_t v)
{
    char b[METRIC_VAL];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    metrics_add(mt, key, b, 0);
}

void metrics_time(metrics *mt, const char *key, double v)
{
    char b[METRIC_VAL];
    snprintf(b, sizeof b, "%.9g", v);
    metrics_add(mt, key, b, 1);
}

const char *metrics_get(const metrics *mt, const char *key)
{
    for (size_t i = 0; i < mt->n; i++)
        if (strcmp(mt->key[i], key) == 0)
            return mt->val[i];
    return NULL;
}

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

/* CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s)
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
    FILE *f;
    ms_status s = open_in(os, dir, "metrics.csv", &f, err);
    if (s != MS_OK)
        return s;
    fputs("metric,value\n", f);
    for (size_t i = 0; i < mt->n; i++) {
        csv_field(f, mt->key[i]);
        fputc(',', f);
        csv_field(f, mt->val[i]);
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
