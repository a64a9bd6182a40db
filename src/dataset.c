/* dataset.c - the labelled image set: IDX files found under their accepted names,
 * checked as images and labels, converted to floats per batch (see dataset.h). */
#include "dataset.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checked.h"

/* Finds the first existing file among the accepted spellings of <split>-<kind>.
 * kind is "images" (idx3) or "labels" (idx1). */
static ms_status find_file(const char *dir, const char *split, const char *kind, int idxn,
                           char *path, size_t path_size, ms_err *err)
{
    /* The four spellings, in this order: -idxN-ubyte, -idxN-ubyte.gz, .idxN-ubyte,
     * .idxN-ubyte.gz (one constant format string, the varying parts as arguments). */
    static const char *const sep[] = {"-", "-", ".", "."};
    static const char *const ext[] = {"", ".gz", "", ".gz"};
    for (size_t i = 0; i < sizeof sep / sizeof sep[0]; i++) {
        int k = snprintf(path, path_size, "%s/%s-%s%sidx%d-ubyte%s", dir, split, kind, sep[i],
                         idxn, ext[i]);
        if (k < 0 || (size_t)k >= path_size)
            return ms_fail(err, MS_ENOINPUT, "%s: data directory path too long", dir);
        struct stat st;
        if (stat(path, &st) == 0)
            return MS_OK;
    }
    path[0] = '\0';
    return ms_fail(err, MS_ENOINPUT,
                   "%s: no %s %s file (looked for %s-%s-idx%d-ubyte, %s-%s.idx%d-ubyte, each "
                   "with or without .gz)",
                   dir, split, kind, split, kind, idxn, split, kind, idxn);
}

static ms_status check_images(const idx_array *a, const char *path, ms_err *err)
{
    if (a->ndim != 3)
        return ms_fail(err, MS_EDATA,
                       "%s: images must have 3 dimensions (count, rows, cols), file has %zu",
                       path, a->ndim);
    if (a->dims[1] != 28 || a->dims[2] != 28)
        return ms_fail(err, MS_EDATA, "%s: images are %zux%zu, must be 28x28 for this model",
                       path, a->dims[1], a->dims[2]);
    if (a->type == IDX_TYPE_F32) {
        const float *f = a->data;
        size_t per = a->dims[1] * a->dims[2];
        for (size_t i = 0; i < a->count; i++)
            if (!(f[i] >= 0.0f && f[i] <= 1.0f))
                return ms_fail(err, MS_EDATA,
                               "%s: pixel %zu of image %zu is %g, outside [0,1]", path,
                               i % per, i / per, (double)f[i]);
    }
    return MS_OK;
}

static ms_status check_labels(const idx_array *a, const char *path, ms_err *err)
{
    if (a->ndim != 1)
        return ms_fail(err, MS_EDATA, "%s: labels must have 1 dimension, file has %zu", path,
                       a->ndim);
    if (a->type != IDX_TYPE_U8)
        return ms_fail(err, MS_EDATA, "%s: labels must be unsigned bytes (type 0x08), file "
                                      "has type 0x%02x",
                       path, (unsigned)a->type);
    const uint8_t *l = a->data;
    for (size_t i = 0; i < a->count; i++)
        if (l[i] > 9)
            return ms_fail(err, MS_EDATA, "%s: label %zu is %u, must be 0..9", path, i,
                           (unsigned)l[i]);
    return MS_OK;
}

ms_status dataset_load(dataset *ds, const char *dir, const char *split, size_t limit,
                       ms_err *err)
{
    memset(ds, 0, sizeof *ds);
    if (!split || !split[0])
        return ms_fail(err, MS_EUSAGE, "%s: empty data split name", dir);
    struct stat dst;
    if (stat(dir, &dst) != 0)
        return ms_fail(err, MS_ENOINPUT, "%s: cannot open data directory: %s", dir,
                       strerror(errno));
    if (!S_ISDIR(dst.st_mode))
        return ms_fail(err, MS_ENOINPUT, "%s: data directory is not a directory", dir);
    idx_array img, lab;
    memset(&img, 0, sizeof img);
    memset(&lab, 0, sizeof lab);
    ms_status st = find_file(dir, split, "images", 3, ds->images_path, sizeof ds->images_path,
                             err);
    if (st == MS_OK)
        st = find_file(dir, split, "labels", 1, ds->labels_path, sizeof ds->labels_path, err);
    if (st == MS_OK)
        st = idx_read_file(ds->images_path, &img, err);
    if (st == MS_OK)
        st = check_images(&img, ds->images_path, err);
    if (st == MS_OK)
        st = idx_read_file(ds->labels_path, &lab, err);
    if (st == MS_OK)
        st = check_labels(&lab, ds->labels_path, err);
    if (st == MS_OK && img.dims[0] != lab.dims[0])
        st = ms_fail(err, MS_EDATA, "%s has %zu images but %s has %zu labels", ds->images_path,
                     img.dims[0], ds->labels_path, lab.dims[0]);
    if (st == MS_OK && limit > img.dims[0])
        st = ms_fail(err, MS_EUSAGE, "%s: limit of %zu items requested, file has only %zu",
                     ds->images_path, limit, img.dims[0]);
    if (st != MS_OK) {
        idx_free(&img);
        idx_free(&lab);
        memset(ds, 0, sizeof *ds);
        return st;
    }
    ds->n = limit ? limit : img.dims[0];
    ds->rows = img.dims[1];
    ds->cols = img.dims[2];
    if (img.type == IDX_TYPE_U8)
        ds->pixels_u8 = img.data;
    else
        ds->pixels_f32 = img.data;
    ds->labels = lab.data;
    memcpy(ds->images_sha256, img.sha256, sizeof ds->images_sha256);
    memcpy(ds->labels_sha256, lab.sha256, sizeof ds->labels_sha256);
    if (ds->n < img.dims[0]) {
        /* Give back the memory of the items past the limit (shrinking cannot fail
         * in a way that loses data: on failure the old block is kept). */
        size_t per = ds->rows * ds->cols;
        if (ds->pixels_u8) {
            uint8_t *p = realloc(ds->pixels_u8, ds->n * per);
            if (p)
                ds->pixels_u8 = p;
        } else {
            float *p = realloc(ds->pixels_f32, ds->n * per * sizeof *p);
            if (p)
                ds->pixels_f32 = p;
        }
        uint8_t *l = realloc(ds->labels, ds->n);
        if (l)
            ds->labels = l;
    }
    return MS_OK;
}

void dataset_free(dataset *ds)
{
    if (!ds)
        return;
    free(ds->pixels_u8);
    free(ds->pixels_f32);
    free(ds->labels);
    ds->pixels_u8 = NULL;
    ds->pixels_f32 = NULL;
    ds->labels = NULL;
    ds->n = 0;
}

void dataset_batch(const dataset *ds, const uint32_t *idx, size_t n, float *x, uint8_t *y)
{
    size_t per = ds->rows * ds->cols;
    for (size_t b = 0; b < n; b++) {
        size_t k = idx[b];
        assert(k < ds->n);
        float *dst = x + b * per; /* x: (n, r*c) */
        if (ds->pixels_u8) {
            const uint8_t *src = ds->pixels_u8 + k * per;
            for (size_t i = 0; i < per; i++)
                dst[i] = (float)src[i] / 255.0f;
        } else {
            memcpy(dst, ds->pixels_f32 + k * per, per * sizeof *dst);
        }
        if (y)
            y[b] = ds->labels[k];
    }
}
