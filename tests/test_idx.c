/* test_idx.c - IDX parsing, writing and the data set loader, on small generated
 * files: valid raw/gzip/dotted/float32 sets, one file per kind of corruption, and the
 * real MNIST when MNIST_DIR points at it. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "idx.h"
#include "dataset.h"
#include "sha256.h"
#include "test.h"

static char tmpdir[256];
static int dir_serial;

/* Returns a new empty directory under tmpdir (static buffer per call site). */
static void new_dir(char *out, size_t size)
{
    snprintf(out, size, "%s/d%d", tmpdir, dir_serial++);
    if (mkdir(out, 0777) != 0) {
        perror(out);
        exit(1);
    }
}

static void path_join(char *out, size_t size, const char *dir, const char *name)
{
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size) {
        fprintf(stderr, "path too long\n");
        exit(1);
    }
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (len && fwrite(buf, 1, len, fp) != len) || fclose(fp) != 0) {
        perror(path);
        exit(1);
    }
}

/* Builds an IDX image in a malloc'd buffer: header with the given raw fields and
 * dims, then `payload` bytes of payload taken from data (zeros if data is NULL). */
static uint8_t *build_idx(size_t *len, uint8_t m0, uint8_t m1, uint8_t type, uint8_t ndim,
                          const uint32_t *dims, size_t ndims_given, const void *data,
                          size_t payload)
{
    *len = 4 + 4 * ndims_given + payload;
    uint8_t *b = calloc(*len ? *len : 1, 1);
    if (!b)
        exit(1);
    b[0] = m0;
    b[1] = m1;
    b[2] = type;
    b[3] = ndim;
    for (size_t i = 0; i < ndims_given; i++) {
        b[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        b[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        b[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        b[7 + 4 * i] = (uint8_t)dims[i];
    }
    if (data && payload)
        memcpy(b + 4 + 4 * ndims_given, data, payload);
    return b;
}

static void write_idx(const char *path, uint8_t type, uint8_t ndim, const uint32_t *dims,
                      const void *data, size_t payload)
{
    size_t len;
    uint8_t *b = build_idx(&len, 0, 0, type, ndim, dims, ndim, data, payload);
    write_bytes(path, b, len);
    free(b);
}

/* gzip path -> path.gz with the system gzip (removes nothing). */
static void gzip_to(const char *path)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "gzip -n -c '%s' > '%s.gz'", path, path);
    if (system(cmd) != 0) {
        fprintf(stderr, "gzip failed: %s\n", cmd);
        exit(1);
    }
}

static void file_sha(const char *path, char hex[65])
{
    uint8_t *buf;
    size_t len;
    ms_err err;
    if (file_read_all(path, (size_t)1 << 30, &buf, &len, &err) != MS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    sha256_hex(buf, len, hex);
    free(buf);
}

/* n images of 28x28 with pixel (k, i) = (k*31 + i) % 256, labels k % 10. */
static void write_u8_set(const char *dir, const char *images, const char *labels, size_t n)
{
    char p[1024];
    uint8_t *px = malloc(n * 784);
    uint8_t *lb = malloc(n);
    if (!px || !lb)
        exit(1);
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < 784; i++)
            px[k * 784 + i] = (uint8_t)((k * 31 + i) % 256);
        lb[k] = (uint8_t)(k % 10);
    }
    uint32_t d3[3] = {(uint32_t)n, 28, 28}, d1[1] = {(uint32_t)n};
    path_join(p, sizeof p, dir, images);
    write_idx(p, 0x08, 3, d3, px, n * 784);
    path_join(p, sizeof p, dir, labels);
    write_idx(p, 0x08, 1, d1, lb, n);
    free(px);
    free(lb);
}

static void write_labels(const char *dir, size_t n, const uint8_t *lb)
{
    char p[1024];
    uint32_t d1[1] = {(uint32_t)n};
    path_join(p, sizeof p, dir, "train-labels-idx1-ubyte");
    write_idx(p, 0x08, 1, d1, lb, n);
}

static void write_f32_images(const char *path, size_t n, const float *px)
{
    size_t count = n * 784;
    uint8_t *be = malloc(count * 4);
    if (!be)
        exit(1);
    for (size_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &px[i], 4);
        be[4 * i] = (uint8_t)(u >> 24);
        be[4 * i + 1] = (uint8_t)(u >> 16);
        be[4 * i + 2] = (uint8_t)(u >> 8);
        be[4 * i + 3] = (uint8_t)u;
    }
    uint32_t d3[3] = {(uint32_t)n, 28, 28};
    write_idx(path, 0x0D, 3, d3, be, count * 4);
    free(be);
}

/* Checks a failure: expected status and every needle present in the message. */
static void expect_fail(ms_status got, ms_status want, const ms_err *err, int nneedles, ...)
{
    CHECK(got == want, "status %d, want %d (message: %s)", (int)got, (int)want,
          got == MS_OK ? "(none)" : err->msg);
    if (got != MS_OK)
        fprintf(stderr, "  refused (%d): %s\n", (int)got, err->msg);
    va_list ap;
    va_start(ap, nneedles);
    for (int i = 0; i < nneedles; i++) {
        const char *needle = va_arg(ap, const char *);
        CHECK(got != MS_OK && strstr(err->msg, needle) != NULL, "message \"%s\" lacks \"%s\"",
              got == MS_OK ? "" : err->msg, needle);
    }
    va_end(ap);
}

/* Reads path with idx_read_file and expects failure with the path in the message. */
static void expect_read_fail(const char *path, ms_status want, const char *needle)
{
    idx_array a;
    ms_err err;
    ms_status st = idx_read_file(path, &a, &err);
    expect_fail(st, want, &err, 2, path, needle);
    if (st == MS_OK)
        idx_free(&a);
    else
        CHECK(a.data == NULL, "data left allocated after failure");
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- round trips ---- */

static void test_write_read_u8(void)
{
    char d[512], p[1024];
    new_dir(d, sizeof d);
    path_join(p, sizeof p, d, "a.idx");
    uint8_t v[2 * 3 * 5];
    for (size_t i = 0; i < sizeof v; i++)
        v[i] = (uint8_t)(i * 7 + 3);
    size_t dims[3] = {2, 3, 5};
    ms_err err;
    ms_status st = idx_write_file(p, IDX_TYPE_U8, 3, dims, v, &err);
    CHECK(st == MS_OK, "%s", err.msg);
    idx_array a;
    st = idx_read_file(p, &a, &err);
    CHECK(st == MS_OK, "%s", err.msg);
    if (st != MS_OK)
        return;
    CHECK(a.type == IDX_TYPE_U8 && a.ndim == 3, "type %d ndim %zu", a.type, a.ndim);
    CHECK(a.dims[0] == 2 && a.dims[1] == 3 && a.dims[2] == 5, "dims %zu %zu %zu", a.dims[0],
          a.dims[1], a.dims[2]);
    CHECK(a.count == 30, "count %zu", a.count);
    CHECK(memcmp(a.data, v, sizeof v) == 0, "payload differs");
    char hex[65];
    file_sha(p, hex);
    CHECK(strcmp(hex, a.sha256) == 0, "sha256 %s, file %s", a.sha256, hex);
    /* The header on disk is big-endian. */
    uint8_t *raw;
    size_t len;
    CHECK(file_read_all(p, 1 << 20, &raw, &len, &err) == MS_OK, "%s", err.msg);
    static const uint8_t head[16] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 5};
    CHECK(len == 16 + 30 && memcmp(raw, head, 16) == 0, "header bytes differ (len %zu)", len);
    free(raw);
    idx_free(&a);
    CHECK(a.data == NULL, "idx_free left data");
}

static void test_write_read_f32(void)
{
    char d[512], p[1024];
    new_dir(d, sizeof d);
    path_join(p, sizeof p, d, "f.idx");
    float v[7] = {0.0f, -0.0f, 1.0f, 0.5f, 1e-30f, -3.25e20f, 0.1f};
    size_t dims[1] = {7};
    ms_err err;
    ms_status st = idx_write_file(p, IDX_TYPE_F32, 1, dims, v, &err);
    CHECK(st == MS_OK, "%s", err.msg);
    uint8_t *raw;
    size_t len;
    CHECK(file_read_all(p, 1 << 20, &raw, &len, &err) == MS_OK, "%s", err.msg);
    CHECK(len == 8 + 28, "file length %zu", len);
    /* 1.0f is 3f 80 00 00 big-endian, at element 2. */
    CHECK(raw[8 + 8] == 0x3f && raw[8 + 9] == 0x80 && raw[8 + 10] == 0 && raw[8 + 11] == 0,
          "float32 not big-endian");
    free(raw);
    idx_array a;
    st = idx_read_file(p, &a, &err);
    CHECK(st == MS_OK, "%s", err.msg);
    if (st != MS_OK)
        return;
    CHECK(a.type == IDX_TYPE_F32 && a.ndim == 1 && a.dims[0] == 7 && a.count == 7,
          "header mismatch");
    CHECK(memcmp(a.data, v, sizeof v) == 0, "payload differs bitwise");
    idx_free(&a);

    /* A NaN is refused on writing, and no file is left behind. */
    float bad[2] = {0.0f, NAN};
    size_t d2[1] = {2};
    path_join(p, sizeof p, d, "nan.idx");
    st = idx_write_file(p, IDX_TYPE_F32, 1, d2, bad, &err);
    CHECK(st == MS_EDATA, "NaN written, status %d", (int)st);
    CHECK(access(p, F_OK) != 0, "file left after refused write");
}

static void test_write_bad_args(void)
{
    char d[512], p[1024];
    new_dir(d, sizeof d);
    path_join(p, sizeof p, d, "x.idx");
    uint8_t v[4] = {0};
    size_t zero[2] = {2, 0}, four[4] = {1, 1, 1, 1};
    ms_err err;
    CHECK(idx_write_file(p, 0x09, 1, four, v, &err) != MS_OK, "type 0x09 accepted");
    CHECK(idx_write_file(p, IDX_TYPE_U8, 4, four, v, &err) != MS_OK, "ndim 4 accepted");
    CHECK(idx_write_file(p, IDX_TYPE_U8, 2, zero, v, &err) != MS_OK, "zero dim accepted");
    CHECK(access(p, F_OK) != 0, "file left after refused write");
    path_join(p, sizeof p, d, "no/such/dir/x.idx");
    CHECK(idx_write_file(p, IDX_TYPE_U8, 1, four, v, &err) == MS_ECANTCREAT,
          "missing directory: %s", err.msg);
}

/* ---- data sets ---- */

static void check_u8_set(const dataset *ds, size_t n)
{
    CHECK(ds->n == n && ds->rows == 28 && ds->cols == 28, "n %zu rows %zu cols %zu", ds->n,
          ds->rows, ds->cols);
    CHECK(ds->pixels_u8 != NULL && ds->pixels_f32 == NULL, "pixel storage");
    if (!ds->pixels_u8)
        return;
    size_t bad = 0;
    for (size_t k = 0; k < ds->n; k++) {
        for (size_t i = 0; i < 784; i++)
            bad += ds->pixels_u8[k * 784 + i] != (uint8_t)((k * 31 + i) % 256);
        bad += ds->labels[k] != k % 10;
    }
    CHECK(bad == 0, "%zu values differ", bad);
    CHECK(strlen(ds->images_sha256) == 64 && strlen(ds->labels_sha256) == 64, "sha256 missing");
}

static void test_dataset_raw(void)
{
    char d[512];
    new_dir(d, sizeof d);
    write_u8_set(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 12);
    dataset ds;
    ms_err err;
    ms_status st = dataset_load(&ds, d, "train", 0, &err);
    CHECK(st == MS_OK, "%s", err.msg);
    if (st != MS_OK)
        return;
    check_u8_set(&ds, 12);
    char want[1024], hex[65];
    path_join(want, sizeof want, d, "train-images-idx3-ubyte");
    CHECK(strcmp(ds.images_path, want) == 0, "images_path %s", ds.images_path);
    file_sha(want, hex);
    CHECK(strcmp(ds.images_sha256, hex) == 0, "images sha256 %s, file %s", ds.images_sha256,
          hex);
    path_join(want, sizeof want, d, "train-labels-idx1-ubyte");
    CHECK(strcmp(ds.labels_path, want) == 0, "labels_path %s", ds.labels_path);
    file_sha(want, hex);
    CHECK(strcmp(ds.labels_sha256, hex) == 0, "labels sha256 differs");
    dataset_free(&ds);
    CHECK(ds.pixels_u8 == NULL && ds.labels == NULL, "dataset_free left pointers");
}

static void test_dataset_gzip(void)
{
    char d[512], p[1024], q[1024];
    new_dir(d, sizeof d);
    write_u8_set(d, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 9);
    path_join(p, sizeof p, d, "t10k-images-idx3-ubyte");
    path_join(q, sizeof q, d, "t10k-labels-idx1-ubyte");
    gzip_to(p);
    gzip_to(q);
    remove(p);
    remove(q);
    dataset ds;
    ms_err err;
    ms_status st = dataset_load(&ds, d, "t10k", 0, &err);
    CHECK(st == MS_OK, "%s", err.msg);
    if (st != MS_OK)
        return;
    check_u8_set(&ds, 9);
    char gz[1100], hex[65];
    snprintf(gz, sizeof gz, "%s.gz", p);
    CHECK(strcmp(ds.images_path, gz) == 0, "images_path %s", ds.images_path);
    file_sha(gz, hex);
    CHECK(strcmp(ds.images_sha256, hex) == 0, "sha256 is not of the compressed file");
    dataset_free(&ds);
}

static void test_dataset_dotted(void)
{
    char d[512];
    new_dir(d, sizeof d);
    write_u8_set(d, "train-images.idx3-ubyte", "train-labels.idx1-ubyte", 4);
    dataset ds;
    ms_err err;
    ms_status st = dataset_load(&ds, d, "train", 0, &err);
    CHECK(st == MS_OK, "%s", err.msg);
    if (st != MS_OK)
        return;
    check_u8_set(&ds, 4);
    CHECK(strstr(ds.images_path, "train-images.idx3-ubyte") != NULL, "path %s", ds.images_path);
    dataset_free(&ds);
}

static void test_dataset_prefers_first_name(void)
{
    char d[512], p[1024];
    new_dir(d, sizeof d);
    write_u8_set(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 3);
    path_join(p, sizeof p, d, "train-images-idx3-ubyte");
    gzip_to(p);
    /* A broken dotted copy must not be looked at. */
    path_join(p, sizeof p, d, "train-images.idx3-ubyte");
    write_bytes(p, "junk", 4);
    dataset ds;
    ms_err err;
    ms_status st = dataset_load(&ds, d, "train", 0, &err);
    CHECK(st == MS_OK, "%s", err.msg);
    if (st != MS_OK)
        return;
    size_t l = strlen(ds.images_path);
    CHECK(l > 5 && strcmp(ds.images_path + l - 5, "ubyte") == 0, "picked %s", ds.images_path);
    dataset_free(&ds);
}

static void test_dataset_f32(void)
{
    char d[512], p[1024];
    new_dir(d, sizeof d);
    size_t n = 3;
    float px[3 * 784];
    for (size_t i = 0; i < n * 784; i++)
        px[i] = (float)(i % 1000) / 999.0f;
    px[5] = 1.0f;
    px[6] = 0.0f;
    path_join(p, sizeof p, d, "train-images-idx3-ubyte");
    write_f32_images(p, n, px);
    uint8_t lb[3] = {7, 0, 9};
    write_labels(d, n, lb);
    dataset ds;
    ms_err err;
    ms_status st = dataset_load(&ds, d, "train", 0, &err);
    CHECK(st == MS_OK, "%s", err.msg);
    if (st != MS_OK)
        return;
    CHECK(ds.n == 3 && ds.pixels_f32 && !ds.pixels_u8, "f32 storage");
    CHECK(ds.pixels_f32 && memcmp(ds.pixels_f32, px, sizeof px) == 0, "pixels differ");
    uint32_t idx[2] = {2, 0};
    float x[2 * 784];
    uint8_t y[2];
    dataset_batch(&ds, idx, 2, x, y);
    CHECK(memcmp(x, px + 2 * 784, 784 * sizeof(float)) == 0, "batch item 0 differs");
    CHECK(memcmp(x + 784, px, 784 * sizeof(float)) == 0, "batch item 1 differs");
    CHECK(y[0] == 9 && y[1] == 7, "labels %u %u", y[0], y[1]);
    dataset_free(&ds);
}

static void test_dataset_limit(void)
{
    char d[512];
    new_dir(d, sizeof d);
    write_u8_set(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 10);
    dataset ds;
    ms_err err;
    ms_status st = dataset_load(&ds, d, "train", 4, &err);
    CHECK(st == MS_OK, "%s", err.msg);
    if (st == MS_OK) {
        check_u8_set(&ds, 4);
        dataset_free(&ds);
    }
    st = dataset_load(&ds, d, "train", 10, &err);
    CHECK(st == MS_OK && ds.n == 10, "limit equal to the count: %d", (int)st);
    if (st == MS_OK)
        dataset_free(&ds);
    st = dataset_load(&ds, d, "train", 11, &err);
    expect_fail(st, MS_EUSAGE, &err, 3, "train-images-idx3-ubyte", "11", "10");
    CHECK(ds.pixels_u8 == NULL && ds.labels == NULL, "memory kept after failure");
}

static void test_dataset_batch_u8(void)
{
    char d[512];
    new_dir(d, sizeof d);
    write_u8_set(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 6);
    dataset ds;
    ms_err err;
    ms_status st = dataset_load(&ds, d, "train", 0, &err);
    CHECK(st == MS_OK, "%s", err.msg);
    if (st != MS_OK)
        return;
    uint32_t idx[3] = {5, 0, 5};
    float x[3 * 784];
    uint8_t y[3];
    dataset_batch(&ds, idx, 3, x, y);
    double worst = 0;
    for (size_t b = 0; b < 3; b++)
        for (size_t i = 0; i < 784; i++) {
            double ref = (double)((idx[b] * 31 + i) % 256) / 255.0;
            double diff = fabs(x[b * 784 + i] - ref);
            if (diff > worst)
                worst = diff;
        }
    CHECK(worst <= 1e-7, "worst |x - v/255| = %g", worst);
    /* 0 and 255 map exactly to the ends of [0,1]. */
    int seen0 = 0, seen1 = 0;
    for (size_t i = 0; i < 3 * 784; i++) {
        seen0 |= x[i] == 0.0f;
        seen1 |= x[i] == 1.0f;
        CHECK(x[i] >= 0.0f && x[i] <= 1.0f, "x[%zu] = %g", i, (double)x[i]);
    }
    CHECK(seen0 && seen1, "0 or 255 not mapped exactly");
    CHECK(y[0] == 5 && y[1] == 0 && y[2] == 5, "labels %u %u %u", y[0], y[1], y[2]);
    dataset_batch(&ds, idx, 1, x, NULL); /* y may be NULL */
    dataset_free(&ds);
}

/* ---- corrupt headers and payloads ---- */

static void corrupt_file(const char *name, uint8_t m0, uint8_t m1, uint8_t type, uint8_t ndim,
                         const uint32_t *dims, size_t ndims_given, size_t payload,
                         const char *needle)
{
    char d[512], p[1024];
    new_dir(d, sizeof d);
    path_join(p, sizeof p, d, name);
    size_t len;
    uint8_t *b = build_idx(&len, m0, m1, type, ndim, dims, ndims_given, NULL, payload);
    write_bytes(p, b, len);
    free(b);
    expect_read_fail(p, MS_EDATA, needle);
}

static void test_bad_magic(void)
{
    uint32_t d1[1] = {4};
    corrupt_file("magic0.idx", 0x01, 0x00, 0x08, 1, d1, 1, 4, "magic");
    corrupt_file("magic1.idx", 0x00, 0x2a, 0x08, 1, d1, 1, 4, "0x2a");
}

static void test_bad_type(void)
{
    uint32_t d1[1] = {4};
    corrupt_file("type09.idx", 0, 0, 0x09, 1, d1, 1, 4, "type byte 0x09");
    corrupt_file("type0c.idx", 0, 0, 0x0C, 1, d1, 1, 16, "type byte 0x0c");
}

static void test_bad_ndim(void)
{
    uint32_t d4[4] = {1, 1, 1, 1};
    corrupt_file("ndim0.idx", 0, 0, 0x08, 0, d4, 0, 1, "dimension count 0");
    corrupt_file("ndim4.idx", 0, 0, 0x08, 4, d4, 4, 1, "dimension count 4");
    /* ndim says 3 but the file ends inside the dimension list. */
    corrupt_file("shorthead.idx", 0, 0, 0x08, 3, d4, 2, 0, "truncated header");
}

static void test_zero_dim(void)
{
    uint32_t d3[3] = {5, 0, 28};
    corrupt_file("zerodim.idx", 0, 0, 0x08, 3, d3, 3, 0, "dimension 1 is 0");
}

static void test_truncated_and_trailing(void)
{
    uint32_t d2[2] = {4, 5};
    corrupt_file("short.idx", 0, 0, 0x08, 2, d2, 2, 19,
                 "truncated: expected 32 bytes, file has 31");
    corrupt_file("long.idx", 0, 0, 0x08, 2, d2, 2, 23, "3 trailing bytes");
    uint32_t f1[1] = {3};
    corrupt_file("shortf.idx", 0, 0, 0x0D, 1, f1, 1, 11, "expected 20 bytes, file has 19");
}

static void test_empty_file(void)
{
    char d[512], p[1024];
    new_dir(d, sizeof d);
    path_join(p, sizeof p, d, "empty.idx");
    write_bytes(p, "", 0);
    expect_read_fail(p, MS_EDATA, "empty");
    path_join(p, sizeof p, d, "three.idx");
    write_bytes(p, "\0\0\x08", 3);
    expect_read_fail(p, MS_EDATA, "truncated header");
}

/* Headers that claim far more than the file holds must be refused from the header
 * alone: this runs in well under a millisecond per file, with no large allocation. */
static void test_huge_claims(void)
{
    double t0 = now_sec();
    uint32_t items[3] = {0x80000000u, 28, 28};
    corrupt_file("huge_items.idx", 0, 0, 0x08, 3, items, 3, 16, "exceeds the limit");
    uint32_t dims[3] = {60000, 0xFFFFFFFFu, 0xFFFFFFFFu};
    corrupt_file("huge_dims.idx", 0, 0, 0x08, 3, dims, 3, 16, "limit");
    uint32_t fl[3] = {9000000, 28, 28}; /* 28 GB of float32 */
    corrupt_file("huge_f32.idx", 0, 0, 0x0D, 3, fl, 3, 16, "limit");
    /* Within the caps (157 MB) but the file is tiny: a size mismatch, not an
     * allocation. */
    uint32_t big[3] = {200000, 28, 28};
    corrupt_file("big_claim.idx", 0, 0, 0x08, 3, big, 3, 16, "truncated: expected 156800016");

    /* The same claims inside gzip files are refused from the peeked header. */
    char d[512], p[1024], gz[1100];
    new_dir(d, sizeof d);
    const uint32_t *claims[3] = {items, dims, big};
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "claim%d", i);
        path_join(p, sizeof p, d, name);
        size_t len;
        uint8_t *b = build_idx(&len, 0, 0, 0x08, 3, claims[i], 3, NULL, 16);
        write_bytes(p, b, len);
        free(b);
        gzip_to(p);
        snprintf(gz, sizeof gz, "%s.gz", p);
        expect_read_fail(gz, MS_EDATA, i == 2 ? "cannot hold" : "limit");
    }
    double dt = now_sec() - t0;
    CHECK(dt < 2.0, "huge-claim files took %.3f s to refuse", dt);
}

static void test_nan_in_float_file(void)
{
    char d[512], p[1024];
    new_dir(d, sizeof d);
    path_join(p, sizeof p, d, "nan.idx");
    /* 3 float32 elements: 0.5, NaN (7f c0 00 00), 1.0 */
    static const uint8_t payload[12] = {0x3f, 0, 0, 0, 0x7f, 0xc0, 0, 0, 0x3f, 0x80, 0, 0};
    uint32_t d1[1] = {3};
    write_idx(p, 0x0D, 1, d1, payload, sizeof payload);
    expect_read_fail(p, MS_EDATA, "element 1 is not finite");
    path_join(p, sizeof p, d, "inf.idx");
    static const uint8_t inf[4] = {0xff, 0x80, 0, 0};
    uint32_t one[1] = {1};
    write_idx(p, 0x0D, 1, one, inf, sizeof inf);
    expect_read_fail(p, MS_EDATA, "not finite");
}

static void test_missing_file(void)
{
    char d[512], p[1024];
    new_dir(d, sizeof d);
    path_join(p, sizeof p, d, "nope.idx");
    expect_read_fail(p, MS_ENOINPUT, "cannot open");
    expect_read_fail(d, MS_ENOINPUT, "not a regular file");
}

/* ---- data-set level checks ---- */

static void load_expect_fail(const char *dir, ms_status want, const char *name,
                             const char *needle)
{
    dataset ds;
    ms_err err;
    ms_status st = dataset_load(&ds, dir, "train", 0, &err);
    expect_fail(st, want, &err, 2, name, needle);
    if (st == MS_OK)
        dataset_free(&ds);
    else
        CHECK(ds.pixels_u8 == NULL && ds.pixels_f32 == NULL && ds.labels == NULL,
              "memory kept after failure");
}

static void test_wrong_image_dims(void)
{
    char d[512], p[1024];
    new_dir(d, sizeof d);
    uint8_t px[2 * 27 * 28] = {0};
    uint32_t d3[3] = {2, 27, 28};
    path_join(p, sizeof p, d, "train-images-idx3-ubyte");
    write_idx(p, 0x08, 3, d3, px, sizeof px);
    uint8_t lb[2] = {1, 2};
    write_labels(d, 2, lb);
    load_expect_fail(d, MS_EDATA, p, "27x28, must be 28x28");

    /* 2-D images */
    uint32_t d2[2] = {2, 784};
    uint8_t flat[2 * 784] = {0};
    write_idx(p, 0x08, 2, d2, flat, sizeof flat);
    load_expect_fail(d, MS_EDATA, p, "3 dimensions");
}

static void test_count_mismatch(void)
{
    char d[512];
    new_dir(d, sizeof d);
    write_u8_set(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 5);
    uint8_t lb[4] = {1, 2, 3, 4};
    write_labels(d, 4, lb);
    load_expect_fail(d, MS_EDATA, "train-labels-idx1-ubyte", "5 images");
}

static void test_bad_label(void)
{
    char d[512];
    new_dir(d, sizeof d);
    write_u8_set(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 5);
    uint8_t lb[5] = {1, 9, 0, 10, 200};
    write_labels(d, 5, lb);
    load_expect_fail(d, MS_EDATA, "train-labels-idx1-ubyte", "label 3 is 10");

    /* float32 labels, 2-D labels */
    char p[1024];
    path_join(p, sizeof p, d, "train-labels-idx1-ubyte");
    uint32_t d1[1] = {5};
    uint8_t fl[20] = {0};
    write_idx(p, 0x0D, 1, d1, fl, sizeof fl);
    load_expect_fail(d, MS_EDATA, p, "unsigned bytes");
    uint32_t d2[2] = {5, 1};
    write_idx(p, 0x08, 2, d2, lb, 5);
    load_expect_fail(d, MS_EDATA, p, "1 dimension");
}

static void test_float_pixel_out_of_range(void)
{
    char d[512], p[1024];
    new_dir(d, sizeof d);
    float px[2 * 784];
    for (size_t i = 0; i < 2 * 784; i++)
        px[i] = 0.25f;
    px[784 + 10] = 1.5f;
    path_join(p, sizeof p, d, "train-images-idx3-ubyte");
    write_f32_images(p, 2, px);
    uint8_t lb[2] = {3, 4};
    write_labels(d, 2, lb);
    load_expect_fail(d, MS_EDATA, p, "pixel 10 of image 1 is 1.5");
    px[784 + 10] = -0.001f;
    write_f32_images(p, 2, px);
    load_expect_fail(d, MS_EDATA, p, "outside [0,1]");
}

static void test_no_files(void)
{
    char d[512];
    new_dir(d, sizeof d);
    load_expect_fail(d, MS_ENOINPUT, d, "no train images file");
    /* Images present, labels missing. */
    write_u8_set(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 2);
    char p[1024];
    path_join(p, sizeof p, d, "train-labels-idx1-ubyte");
    remove(p);
    load_expect_fail(d, MS_ENOINPUT, d, "no train labels file");
    char missing[1024];
    path_join(missing, sizeof missing, tmpdir, "no-such-dir");
    load_expect_fail(missing, MS_ENOINPUT, missing, "cannot open data directory");
    path_join(p, sizeof p, d, "train-images-idx3-ubyte");
    load_expect_fail(p, MS_ENOINPUT, p, "not a directory");
}

/* ---- gzip-specific corruption ---- */

static void test_gzip_corrupt(void)
{
    char d[512], p[1024], gz[1100];
    new_dir(d, sizeof d);
    /* Header claims 5 images, payload holds 3. */
    uint8_t px[3 * 784];
    memset(px, 7, sizeof px);
    uint32_t d3[3] = {5, 28, 28};
    path_join(p, sizeof p, d, "train-images-idx3-ubyte");
    write_idx(p, 0x08, 3, d3, px, sizeof px);
    gzip_to(p);
    remove(p);
    snprintf(gz, sizeof gz, "%s.gz", p);
    expect_read_fail(gz, MS_EDATA, "truncated: expected 3936 bytes, decompressed data has 2368");
    uint8_t lb[5] = {0};
    write_labels(d, 5, lb);
    load_expect_fail(d, MS_EDATA, gz, "truncated");

    /* Trailing bytes after the payload. */
    path_join(p, sizeof p, d, "trail");
    uint32_t d1[1] = {3};
    write_idx(p, 0x08, 1, d1, "abcdefg", 7); /* 4 extra bytes */
    gzip_to(p);
    snprintf(gz, sizeof gz, "%s.gz", p);
    expect_read_fail(gz, MS_EDATA, "4 trailing bytes");

    /* Flipped CRC in the trailer. */
    uint8_t *b;
    size_t len;
    ms_err err;
    CHECK(file_read_all(gz, 1 << 20, &b, &len, &err) == MS_OK, "%s", err.msg);
    b[len - 6] ^= 0x55;
    path_join(p, sizeof p, d, "badcrc.gz");
    write_bytes(p, b, len);
    expect_read_fail(p, MS_EDATA, "");
    /* Cut in the middle of the stream. */
    path_join(p, sizeof p, d, "cut.gz");
    write_bytes(p, b, len / 2);
    expect_read_fail(p, MS_EDATA, "");
    /* Only the magic bytes. */
    path_join(p, sizeof p, d, "magiconly.gz");
    write_bytes(p, b, 2);
    expect_read_fail(p, MS_EDATA, "");
    free(b);
}

/* A small header followed by megabytes of zeros: decompression must stop near the
 * size the header implies instead of inflating everything. */
static void test_gzip_bomb(void)
{
    char d[512], p[1024], gz[1100];
    new_dir(d, sizeof d);
    size_t payload = (size_t)20 << 20;
    uint32_t d3[3] = {2, 28, 28};
    size_t len;
    uint8_t *b = build_idx(&len, 0, 0, 0x08, 3, d3, 3, NULL, payload);
    path_join(p, sizeof p, d, "bomb");
    write_bytes(p, b, len);
    free(b);
    gzip_to(p);
    remove(p);
    snprintf(gz, sizeof gz, "%s.gz", p);
    expect_read_fail(gz, MS_EDATA, "");
}

/* ---- real MNIST ---- */

static void test_real_mnist(void)
{
    const char *dir = getenv("MNIST_DIR");
    if (!dir || !dir[0]) {
        SKIP("MNIST_DIR not set");
        return;
    }
    static const size_t want_train[10] = {5923, 6742, 5958, 6131, 5842,
                                          5421, 5918, 6265, 5851, 5949};
    static const size_t want_test[10] = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
    static const char *const splits[2] = {"train", "t10k"};
    for (int s = 0; s < 2; s++) {
        dataset ds;
        ms_err err;
        double t0 = now_sec();
        ms_status st = dataset_load(&ds, dir, splits[s], 0, &err);
        double dt = now_sec() - t0;
        if (st == MS_ENOINPUT && s == 0) {
            SKIP("MNIST_DIR=%s holds no MNIST (%s)", dir, err.msg);
            return;
        }
        CHECK(st == MS_OK, "%s", err.msg);
        if (st != MS_OK)
            return;
        fprintf(stderr, "  loaded %s: %zu images from %s in %.3f s\n", splits[s], ds.n,
                ds.images_path, dt);
        size_t want_n = s == 0 ? 60000 : 10000;
        const size_t *want = s == 0 ? want_train : want_test;
        CHECK(ds.n == want_n && ds.rows == 28 && ds.cols == 28, "n %zu", ds.n);
        size_t hist[10] = {0}, sum = 0;
        for (size_t i = 0; i < ds.n; i++)
            hist[ds.labels[i]]++;
        for (int c = 0; c < 10; c++) {
            sum += hist[c];
            CHECK(hist[c] == want[c], "%s class %d: %zu, want %zu", splits[s], c, hist[c],
                  want[c]);
        }
        CHECK(sum == want_n, "histogram sums to %zu", sum);
        CHECK(ds.pixels_u8 != NULL, "MNIST stored as bytes");
        CHECK(strlen(ds.images_sha256) == 64, "sha256 missing");
        dataset_free(&ds);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/test_idx.XXXXXX",
             getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_write_read_u8);
    RUN(test_write_read_f32);
    RUN(test_write_bad_args);
    RUN(test_dataset_raw);
    RUN(test_dataset_gzip);
    RUN(test_dataset_dotted);
    RUN(test_dataset_prefers_first_name);
    RUN(test_dataset_f32);
    RUN(test_dataset_limit);
    RUN(test_dataset_batch_u8);
    RUN(test_bad_magic);
    RUN(test_bad_type);
    RUN(test_bad_ndim);
    RUN(test_zero_dim);
    RUN(test_truncated_and_trailing);
    RUN(test_empty_file);
    RUN(test_huge_claims);
    RUN(test_nan_in_float_file);
    RUN(test_missing_file);
    RUN(test_wrong_image_dims);
    RUN(test_count_mismatch);
    RUN(test_bad_label);
    RUN(test_float_pixel_out_of_range);
    RUN(test_no_files);
    RUN(test_gzip_corrupt);
    RUN(test_gzip_bomb);
    RUN(test_real_mnist);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_END();
}
