/* test_npy.c - the .npy writer (npy.h): the exact header bytes numpy.save writes for
 * known shapes (3-D float32 and 1-D uint8), data starting at a multiple of 64 for
 * every first-dimension width, float32 and uint8 data read back from the file
 * (float32 as little-endian bit patterns, whatever the host), refusals (a byte size
 * that overflows size_t, an unknown element type, bad dimension counts, a NaN) with
 * no file left behind, and the .npy name test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "npy.h"
#include "test.h"

static char tmpdir[256];

/* Reads a whole file into buf (at most cap bytes); its length, or (size_t)-1. */
static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return (size_t)-1;
    size_t n = fread(buf, 1, cap, f);
    int bad = ferror(f) || fgetc(f) != EOF;
    fclose(f);
    return bad ? (size_t)-1 : n;
}

/* Writes one array through an output set and commits it; the status. */
static ms_status write_one(const char *path, const char *descr, size_t ndim,
                           const size_t *dims, const void *data, ms_err *err)
{
    outset s;
    outset_init(&s);
    ms_status st = npy_write_to(&s, path, descr, ndim, dims, data, err);
    if (st != MS_OK) {
        outset_abort(&s);
        return st;
    }
    return outset_commit(&s, err);
}

/* Whether dir holds nothing (no target, no temporary). */
static int dir_empty(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "[ -z \"$(ls -A '%s')\" ]", dir);
    return system(cmd) == 0;
}

/* The header numpy.save (NumPy 1.24) writes for a float32 array of shape (3, 28, 28):
 * the dict, 20 spare spaces (21 minus the one digit of 3), padding spaces and '\n'
 * up to 128 bytes. */
static void test_header_f32_exact(void)
{
    static const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 28, 28), }";
    uint8_t want[128];
    memcpy(want, "\x93NUMPY\x01\x00\x76\x00", 10);
    memcpy(want + 10, dict, sizeof dict - 1);
    memset(want + 10 + sizeof dict - 1, ' ', sizeof want - 10 - (sizeof dict - 1) - 1);
    want[127] = '\n';
    uint8_t got[NPY_MAX_HEADER];
    size_t len = 0;
    ms_err err;
    size_t dims[3] = {3, 28, 28};
    ms_status st = npy_header(got, sizeof got, &len, "x.npy", NPY_F32, 3, dims, &err);
    CHECK(st == MS_OK, "npy_header: %s", err.msg);
    CHECK(len == sizeof want, "header length %zu, want %zu", len, sizeof want);
    if (st != MS_OK || len != sizeof want)
        return;
    for (size_t i = 0; i < len; i++)
        CHECK(got[i] == want[i], "byte %zu: 0x%02x, want 0x%02x", i, got[i], want[i]);
}

/* One dimension: the tuple keeps its trailing comma; uint8 is '|u1'. 10000 has five
 * digits, so 16 spare spaces. */
static void test_header_u8_1d_exact(void)
{
    static const char dict[] = "{'descr': '|u1', 'fortran_order': False, 'shape': (10000,), }";
    uint8_t got[NPY_MAX_HEADER];
    size_t len = 0;
    ms_err err;
    size_t dims[1] = {10000};
    ms_status st = npy_header(got, sizeof got, &len, "y.npy", NPY_U8, 1, dims, &err);
    CHECK(st == MS_OK, "npy_header: %s", err.msg);
    if (st != MS_OK)
        return;
    /* 10 + 61 dict bytes + 16 spare = 87, padded to 128 */
    CHECK(len == 128, "header length %zu, want 128", len);
    CHECK(memcmp(got, "\x93NUMPY\x01\x00", 8) == 0, "magic and version 1.0");
    CHECK(got[8] == 118 && got[9] == 0, "header length field %u %u, want 118 0", got[8],
          got[9]);
    CHECK(memcmp(got + 10, dict, sizeof dict - 1) == 0, "dict: %.*s", (int)(sizeof dict - 1),
          (const char *)got + 10);
    for (size_t i = 10 + sizeof dict - 1; i + 1 < len; i++)
        CHECK(got[i] == ' ', "byte %zu is 0x%02x, want a space", i, got[i]);
    CHECK(len && got[len - 1] == '\n', "ends with a newline");
}

/* For first dimensions of every width, 1 to 20 digits, and 1 to 8 dimensions: the
 * length field matches, the total is a multiple of 64, there is at least one padding
 * space, and the header ends in '\n'. */
static void test_header_alignment(void)
{
    size_t v = 1;
    for (int digits = 1; digits <= 20; digits++, v = v * 10 + 1) {
        for (size_t ndim = 1; ndim <= NPY_MAX_DIMS; ndim++) {
            size_t dims[NPY_MAX_DIMS];
            dims[0] = v;
            for (size_t i = 1; i < ndim; i++)
                dims[i] = 1;
            uint8_t h[NPY_MAX_HEADER];
            size_t len = 0;
            ms_err err;
            ms_status st = npy_header(h, sizeof h, &len, "z.npy", NPY_U8, ndim, dims, &err);
            CHECK(st == MS_OK, "digits %d ndim %zu: %s", digits, ndim, err.msg);
            if (st != MS_OK)
                return;
            CHECK(len % NPY_ALIGN == 0, "digits %d ndim %zu: length %zu", digits, ndim, len);
            CHECK((size_t)h[8] + 256u * h[9] + 10 == len, "digits %d ndim %zu: field", digits,
                  ndim);
            CHECK(h[len - 1] == '\n' && h[len - 2] == ' ', "digits %d ndim %zu: tail", digits,
                  ndim);
            if (test_cur_failed)
                return;
        }
    }
}

static void test_f32_roundtrip(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/f.npy", tmpdir);
    float x[2 * 3 * 4];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)i * 0.25f - 1.0f;
    x[5] = 1e-40f; /* subnormal */
    x[6] = -0.0f;
    size_t dims[3] = {2, 3, 4};
    ms_err err;
    ms_status st = write_one(path, NPY_F32, 3, dims, x, &err);
    CHECK(st == MS_OK, "write: %s", err.msg);
    uint8_t buf[1024];
    size_t n = slurp(path, buf, sizeof buf);
    uint8_t h[NPY_MAX_HEADER];
    size_t hlen = 0;
    CHECK(npy_header(h, sizeof h, &hlen, path, NPY_F32, 3, dims, &err) == MS_OK, "%s",
          err.msg);
    CHECK(n == hlen + sizeof x, "file length %zu, want %zu", n, hlen + sizeof x);
    if (n != hlen + sizeof x)
        return;
    CHECK(memcmp(buf, h, hlen) == 0, "file starts with the header");
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
        const uint8_t *p = buf + hlen + 4 * i;
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24;
        uint32_t want;
        memcpy(&want, &x[i], 4);
        CHECK(u == want, "element %zu: 0x%08x, want 0x%08x", i, (unsigned)u, (unsigned)want);
    }
    /* 1.0f is 00 00 80 3f in the file, on any host. */
    float one = 1.0f;
    size_t d1[1] = {1};
    st = write_one(path, NPY_F32, 1, d1, &one, &err);
    n = slurp(path, buf, sizeof buf);
    CHECK(st == MS_OK && n == 132 && memcmp(buf + 128, "\x00\x00\x80\x3f", 4) == 0,
          "1.0f stored little-endian (length %zu)", n);
}

static void test_u8_roundtrip_and_empty(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/u.npy", tmpdir);
    uint8_t y[300];
    for (size_t i = 0; i < sizeof y; i++)
        y[i] = (uint8_t)(i * 7);
    size_t dims[1] = {sizeof y};
    ms_err err;
    CHECK(write_one(path, NPY_U8, 1, dims, y, &err) == MS_OK, "write: %s", err.msg);
    uint8_t buf[1024];
    size_t n = slurp(path, buf, sizeof buf);
    CHECK(n == 128 + sizeof y && memcmp(buf + 128, y, sizeof y) == 0,
          "header + 300 bytes as given (length %zu)", n);
    /* An empty array is a valid .npy: header only. */
    size_t zero[2] = {0, 128};
    CHECK(write_one(path, NPY_F32, 2, zero, NULL, &err) == MS_OK, "empty: %s", err.msg);
    n = slurp(path, buf, sizeof buf);
    static const char empty[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 128), }";
    CHECK(n == 128 && memcmp(buf + 10, empty, sizeof empty - 1) == 0,
          "empty (0, 128) array: header only (length %zu)", n);
    /* A zero dimension makes the array empty, however large the others. */
    size_t zero_big[3] = {SIZE_MAX, 0, SIZE_MAX};
    uint8_t h[NPY_MAX_HEADER];
    size_t len = 0;
    CHECK(npy_header(h, sizeof h, &len, path, NPY_F32, 3, zero_big, &err) == MS_OK,
          "(SIZE_MAX, 0, SIZE_MAX) is an empty array: %s", err.msg);
    remove(path);
}

static void test_refusals(void)
{
    char dir[300], path[340];
    snprintf(dir, sizeof dir, "%s/refused", tmpdir);
    if (mkdir(dir, 0700) != 0) {
        CHECK(0, "mkdir %s", dir);
        return;
    }
    snprintf(path, sizeof path, "%s/r.npy", dir);
    ms_err err;
    float x[4] = {0, 1, 2, 3};
    uint8_t h[NPY_MAX_HEADER];
    size_t len;
    /* The element count SIZE_MAX/2 * 3 overflows. */
    size_t big[2] = {SIZE_MAX / 2, 3};
    ms_status st = write_one(path, NPY_U8, 2, big, x, &err);
    CHECK(st == MS_EINTERNAL && strstr(err.msg, "overflows"), "overflow: %d %s", (int)st,
          err.msg);
    /* 2^(b/2) * 2^(b/2-2) elements fit in b bits, their 4-byte float32s do not. */
    size_t half = sizeof(size_t) * 4;
    size_t big_f[2] = {(size_t)1 << half, (size_t)1 << (half - 2)};
    st = npy_header(h, sizeof h, &len, path, NPY_F32, 2, big_f, &err);
    CHECK(st == MS_EINTERNAL, "element count fits but bytes overflow: %d %s", (int)st, err.msg);
    size_t d[1] = {4};
    st = write_one(path, "<f8", 1, d, x, &err);
    CHECK(st == MS_EINTERNAL && strstr(err.msg, "'<f8'"), "unknown descr: %s", err.msg);
    st = write_one(path, NPY_F32, 0, d, x, &err);
    CHECK(st == MS_EINTERNAL, "0 dimensions: %s", err.msg);
    size_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    st = write_one(path, NPY_F32, 9, nine, x, &err);
    CHECK(st == MS_EINTERNAL, "9 dimensions: %s", err.msg);
    x[2] = NAN;
    st = write_one(path, NPY_F32, 1, d, x, &err);
    CHECK(st == MS_EDATA && strstr(err.msg, "element 2"), "NaN: %d %s", (int)st, err.msg);
    CHECK(npy_header(h, 64, &len, path, NPY_F32, 1, d, &err) == MS_EINTERNAL,
          "cap too small for the header");
    CHECK(dir_empty(dir), "no file left behind by a refused write");
}

static void test_npy_path(void)
{
    CHECK(npy_path("a.npy") && npy_path("/x/y/acts.NPY") && npy_path(".npy"), "names in .npy");
    CHECK(!npy_path("a.npz") && !npy_path("npy") && !npy_path("a.npy.tmp") && !npy_path(""),
          "other names");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/test_npy.XXXXXX",
             getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_header_f32_exact);
    RUN(test_header_u8_1d_exact);
    RUN(test_header_alignment);
    RUN(test_f32_roundtrip);
    RUN(test_u8_roundtrip_and_empty);
    RUN(test_refusals);
    RUN(test_npy_path);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_END();
}
