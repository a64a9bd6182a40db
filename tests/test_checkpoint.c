/* test_checkpoint.c - checkpoint save/load: bit-exact round trip, the documented byte
 * layout, and rejection of every kind of damaged or mismatched file without touching
 * the destination tensors. */
#include <dirent.h>
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "crc32.h"
#include "fileio.h"
#include "rng.h"
#include "test.h"

static char tmpdir[256];

static void path_in_tmp(char *out, size_t cap, const char *leaf)
{
    snprintf(out, cap, "%s/%s", tmpdir, leaf);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Recomputes the trailing CRC-32 after a deliberate edit. */
static void fix_crc(uint8_t *buf, size_t len)
{
    wr32(buf + len - 4, crc32_update(0, buf, len - 4));
}

static size_t n_elems(const ckpt_tensor *t)
{
    size_t n = 1;
    for (size_t d = 0; d < t->ndim; d++)
        n *= t->dims[d];
    return n;
}

/* A small model: two tensors, 6 + 3 floats, random values. */
#define SMALL_A 6
#define SMALL_B 3
static float small_a[SMALL_A], small_b[SMALL_B];
static ckpt_tensor small[2] = {
    {"a.w", 2, {2, 3}, small_a},
    {"b_bias-1", 1, {3}, small_b},
};

static void fill_random(float *x, size_t n, uint64_t seed)
{
    rng_t r;
    rng_init(&r, seed, RNG_STREAM_INIT);
    for (size_t i = 0; i < n; i++)
        x[i] = rng_range(&r, -3.0f, 3.0f);
}

/* Destination tensors shaped like `small`, filled with a sentinel pattern. */
static float dst_a[SMALL_A], dst_b[SMALL_B];
static ckpt_tensor dst[2] = {
    {"a.w", 2, {2, 3}, dst_a},
    {"b_bias-1", 1, {3}, dst_b},
};

static void dst_reset(void)
{
    for (size_t i = 0; i < SMALL_A; i++)
        dst_a[i] = 1000.0f + (float)i;
    for (size_t i = 0; i < SMALL_B; i++)
        dst_b[i] = -1000.0f - (float)i;
}

static int dst_untouched(void)
{
    for (size_t i = 0; i < SMALL_A; i++)
        if (bits(dst_a[i]) != bits(1000.0f + (float)i))
            return 0;
    for (size_t i = 0; i < SMALL_B; i++)
        if (bits(dst_b[i]) != bits(-1000.0f - (float)i))
            return 0;
    return 1;
}

static void encode_small(uint8_t **buf, size_t *len)
{
    fill_random(small_a, SMALL_A, 11);
    fill_random(small_b, SMALL_B, 12);
    ms_err err;
    ms_status s = checkpoint_encode("small", "arch=test", small, 2, buf, len, &err);
    CHECK(s == MS_OK, "encode: %s", err.msg);
}

/* Parses buf against dst; expects MS_EDATA, dst untouched and (if non-NULL) the
 * message to contain `needle`. Returns 1 if all held. */
static int rejected(const uint8_t *buf, size_t len, const char *needle, const char *what)
{
    ms_err err = {{0}};
    dst_reset();
    ms_status s = checkpoint_parse(buf, len, "ck.bin", dst, 2, &err);
    int ok = s == MS_EDATA && dst_untouched() && strncmp(err.msg, "ck.bin: ", 8) == 0 &&
             (!needle || strstr(err.msg, needle));
    CHECK(ok, "%s: status %d, untouched %d, message \"%s\" (wanted \"%s\")", what, (int)s,
          dst_untouched(), err.msg, needle ? needle : "");
    return ok;
}

static void test_round_trip_bit_exact(void)
{
    /* Odd shapes and special values: -0, subnormals, extremes. */
    static float w0[7], w1[2 * 5], w2[1 * 3 * 7], w3[2 * 1 * 3 * 5];
    static float r0[7], r1[2 * 5], r2[1 * 3 * 7], r3[2 * 1 * 3 * 5];
    ckpt_tensor src[4] = {
        {"t0", 1, {7}, w0},
        {"layer.1_weight", 2, {2, 5}, w1},
        {"conv-2.w", 3, {1, 3, 7}, w2},
        {"X.Y.Z", 4, {2, 1, 3, 5}, w3},
    };
    ckpt_tensor out[4] = {
        {"t0", 1, {7}, r0},
        {"layer.1_weight", 2, {2, 5}, r1},
        {"conv-2.w", 3, {1, 3, 7}, r2},
        {"X.Y.Z", 4, {2, 1, 3, 5}, r3},
    };
    for (size_t i = 0; i < 4; i++) {
        fill_random(src[i].data, n_elems(&src[i]), 100 + i);
        memset(out[i].data, 0x55, n_elems(&out[i]) * sizeof(float));
    }
    w0[0] = -0.0f;
    w0[1] = FLT_MIN / 4.0f; /* subnormal */
    w0[2] = -FLT_MAX;
    w0[3] = FLT_MAX;
    w0[4] = FLT_TRUE_MIN;
    char path[512];
    path_in_tmp(path, sizeof path, "rt.ckpt");
    ms_err err;
    ms_status s = checkpoint_save_meta(path, "arch=mnistsec-cnn-v1 seed=7", src, 4, &err);
    CHECK(s == MS_OK, "save: %s", err.msg);
    char meta[CKPT_MAX_META + 1] = "unset";
    s = checkpoint_load_meta(path, out, 4, meta, &err);
    CHECK(s == MS_OK, "load: %s", err.msg);
    CHECK(strcmp(meta, "arch=mnistsec-cnn-v1 seed=7") == 0, "meta \"%s\"", meta);
    size_t diff = 0;
    for (size_t i = 0; i < 4; i++)
        for (size_t k = 0; k < n_elems(&src[i]); k++)
            diff += bits(src[i].data[k]) != bits(out[i].data[k]);
    CHECK(diff == 0, "%zu floats differ in their bits", diff);

    /* The plain API writes empty metadata and loads any. */
    s = checkpoint_save(path, src, 4, &err);
    CHECK(s == MS_OK, "save: %s", err.msg);
    s = checkpoint_load_meta(path, out, 4, meta, &err);
    CHECK(s == MS_OK && meta[0] == '\0', "load: %s, meta \"%s\"", err.msg, meta);
    s = checkpoint_load(path, out, 4, &err);
    CHECK(s == MS_OK, "load: %s", err.msg);
    remove(path);
}

/* Decodes a saved file by hand, following docs/CHECKPOINT.md. */
static void test_byte_layout_matches_docs(void)
{
    /* The file's CRC is the standard CRC-32 (zlib.crc32, gzip, PNG). */
    CHECK(crc32_update(0, "123456789", 9) == 0xCBF43926u, "crc32 check value");

    static float w[2 * 1 * 3 * 3], b[5];
    fill_random(w, 18, 5);
    fill_random(b, 5, 6);
    b[0] = 1.0f; /* 0x3f800000 */
    ckpt_tensor t[2] = {{"conv1.weight", 4, {2, 1, 3, 3}, w}, {"fc.bias", 1, {5}, b}};
    char path[512];
    path_in_tmp(path, sizeof path, "layout.ckpt");
    ms_err err;
    CHECK(checkpoint_save_meta(path, "arch=test", t, 2, &err) == MS_OK, "%s", err.msg);
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(file_read_all(path, 1 << 20, &buf, &len, &err) == MS_OK, "%s", err.msg);
    if (!buf)
        return;
    size_t hdr = 8 + 4 + 4 + 4 + 9 + (4 + 12 + 4 + 16) + (4 + 7 + 4 + 4);
    size_t off = (hdr + 3) / 4 * 4;
    CHECK(len == off + 4 * (18 + 5) + 4, "file length %zu, header %zu", len, hdr);
    if (len != off + 4 * (18 + 5) + 4) {
        free(buf);
        return;
    }
    CHECK(memcmp(buf, "MNSECKPT", 8) == 0, "magic");
    CHECK(rd32(buf + 8) == 1, "version %u", (unsigned)rd32(buf + 8));
    CHECK(rd32(buf + 12) == 2, "count %u", (unsigned)rd32(buf + 12));
    CHECK(rd32(buf + 16) == 9, "meta length %u", (unsigned)rd32(buf + 16));
    CHECK(memcmp(buf + 20, "arch=test", 9) == 0, "meta bytes");
    size_t p = 29;
    CHECK(rd32(buf + p) == 12 && memcmp(buf + p + 4, "conv1.weight", 12) == 0, "name 0");
    p += 16;
    CHECK(rd32(buf + p) == 4, "ndim 0");
    CHECK(rd32(buf + p + 4) == 2 && rd32(buf + p + 8) == 1 && rd32(buf + p + 12) == 3 &&
              rd32(buf + p + 16) == 3,
          "dims 0");
    p += 20;
    CHECK(rd32(buf + p) == 7 && memcmp(buf + p + 4, "fc.bias", 7) == 0, "name 1");
    p += 11;
    CHECK(rd32(buf + p) == 1 && rd32(buf + p + 4) == 5, "ndim/dims 1");
    p += 8;
    CHECK(p == hdr, "header end %zu, expected %zu", p, hdr);
    for (; p < off; p++)
        CHECK(buf[p] == 0, "padding byte at %zu", p);
    CHECK(off % 4 == 0, "payload offset %zu", off);
    size_t bad = 0;
    for (size_t k = 0; k < 18; k++)
        bad += rd32(buf + off + 4 * k) != bits(w[k]);
    for (size_t k = 0; k < 5; k++)
        bad += rd32(buf + off + 72 + 4 * k) != bits(b[k]);
    CHECK(bad == 0, "%zu payload floats differ", bad);
    /* 1.0f little-endian */
    CHECK(buf[off + 72] == 0x00 && buf[off + 73] == 0x00 && buf[off + 74] == 0x80 &&
              buf[off + 75] == 0x3f,
          "1.0f bytes");
    CHECK(rd32(buf + len - 4) == crc32_update(0, buf, len - 4), "trailing CRC-32");
    free(buf);
    remove(path);
}

static void test_every_byte_flip_rejected(void)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    encode_small(&buf, &len);
    if (!buf)
        return;
    dst_reset();
    ms_err err;
    CHECK(checkpoint_parse(buf, len, "ck.bin", dst, 2, &err) == MS_OK, "pristine: %s",
          err.msg);
    size_t fails = 0;
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    for (size_t m = 0; m < sizeof masks; m++) {
        for (size_t i = 0; i < len && fails < 5; i++) {
            buf[i] ^= masks[m];
            char what[64];
            snprintf(what, sizeof what, "byte %zu ^ 0x%02x", i, masks[m]);
            fails += !rejected(buf, len, NULL, what);
            buf[i] ^= masks[m];
        }
    }
    CHECK(fails == 0, "%zu corruptions accepted", fails);
    free(buf);
}

/* With the CRC recomputed, every header byte is still checked on its own. */
static void test_header_corruption_rejected_with_valid_crc(void)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    encode_small(&buf, &len);
    if (!buf)
        return;
    size_t payload_off = len - 4 * (SMALL_A + SMALL_B) - 4;
    size_t fails = 0;
    for (size_t i = 0; i < payload_off && fails < 5; i++) {
        buf[i] ^= 0xff;
        fix_crc(buf, len);
        char what[64];
        snprintf(what, sizeof what, "header byte %zu ^ 0xff, CRC fixed", i);
        fails += !rejected(buf, len, NULL, what);
        buf[i] ^= 0xff;
    }
    fix_crc(buf, len);
    CHECK(fails == 0, "%zu corruptions accepted", fails);
    free(buf);
}

static void test_truncation_and_trailing_bytes(void)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    encode_small(&buf, &len);
    if (!buf)
        return;
    size_t fails = 0;
    for (size_t l = 0; l < len && fails < 5; l++) {
        /* A copy of exactly l bytes, so ASan would see any read past the end. */
        uint8_t *cut = malloc(l ? l : 1);
        if (!cut)
            break;
        memcpy(cut, buf, l);
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", l, len);
        fails += !rejected(cut, l, "truncated", what);
        free(cut);
    }
    CHECK(fails == 0, "%zu truncations not reported as such", fails);

    uint8_t *longer = malloc(len + 1);
    if (longer) {
        memcpy(longer, buf, len);
        longer[len] = 0;
        rejected(longer, len + 1, "1 trailing bytes", "one trailing byte");
        free(longer);
    }
    free(buf);
}

static void test_wrong_names_shapes_count(void)
{
    static float a[SMALL_A], b[SMALL_B], c[4], a2[12];
    fill_random(a, SMALL_A, 1);
    fill_random(b, SMALL_B, 2);
    fill_random(c, 4, 3);
    fill_random(a2, 12, 4);
    struct {
        const char *what, *needle;
        size_t n;
        ckpt_tensor t[3];
    } cases[] = {
        {"wrong name", "name is 'a.x', expected 'a.w'", 2,
         {{"a.x", 2, {2, 3}, a}, {"b_bias-1", 1, {3}, b}}},
        {"longer name", "name is 'a.weight'", 2,
         {{"a.weight", 2, {2, 3}, a}, {"b_bias-1", 1, {3}, b}}},
        {"swapped order", "tensor 0 name is 'b_bias-1'", 2,
         {{"b_bias-1", 1, {3}, b}, {"a.w", 2, {2, 3}, a}}},
        {"transposed shape", "shape is 3x2, expected 2x3", 2,
         {{"a.w", 2, {3, 2}, a}, {"b_bias-1", 1, {3}, b}}},
        {"bigger shape", "shape is 4x3, expected 2x3", 2,
         {{"a.w", 2, {4, 3}, a2}, {"b_bias-1", 1, {3}, b}}},
        {"wrong ndim", "ndim is 3, expected 2", 2,
         {{"a.w", 3, {2, 3, 1}, a}, {"b_bias-1", 1, {3}, b}}},
        {"too few tensors", "tensor count is 1, expected 2", 1, {{"a.w", 2, {2, 3}, a}}},
        {"too many tensors", "tensor count is 3, expected 2", 3,
         {{"a.w", 2, {2, 3}, a}, {"b_bias-1", 1, {3}, b}, {"c", 1, {4}, c}}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *buf;
        size_t len;
        ms_err err;
        ms_status s = checkpoint_encode("x", NULL, cases[i].t, cases[i].n, &buf, &len, &err);
        CHECK(s == MS_OK, "%s: encode: %s", cases[i].what, err.msg);
        if (s != MS_OK)
            continue;
        rejected(buf, len, cases[i].needle, cases[i].what);
        free(buf);
    }
}

static void test_nonfinite_payload_rejected(void)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    encode_small(&buf, &len);
    if (!buf)
        return;
    size_t off = len - 4 * (SMALL_A + SMALL_B) - 4;
    struct {
        uint32_t bits;
        size_t index; /* flat index over both tensors */
        const char *needle;
    } cases[] = {
        {0x7fc00000u, 0, "tensor 'a.w' element 0 is NaN"},
        {0xffc00001u, 5, "tensor 'a.w' element 5 is NaN"},
        {0x7f800001u, 6, "tensor 'b_bias-1' element 0 is NaN"}, /* signalling NaN */
        {0x7f800000u, 7, "tensor 'b_bias-1' element 1 is +Inf"},
        {0xff800000u, 8, "tensor 'b_bias-1' element 2 is -Inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t save[4];
        uint8_t *p = buf + off + 4 * cases[i].index;
        memcpy(save, p, 4);
        wr32(p, cases[i].bits);
        fix_crc(buf, len);
        rejected(buf, len, cases[i].needle, cases[i].needle);
        memcpy(p, save, 4);
    }
    fix_crc(buf, len);
    dst_reset();
    ms_err err;
    CHECK(checkpoint_parse(buf, len, "ck.bin", dst, 2, &err) == MS_OK, "restored: %s",
          err.msg);
    free(buf);
}

static void test_version_magic_meta_padding(void)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    encode_small(&buf, &len);
    if (!buf)
        return;
    wr32(buf + 8, 2);
    fix_crc(buf, len);
    rejected(buf, len, "version is 2", "version 2");
    wr32(buf + 8, 0);
    fix_crc(buf, len);
    rejected(buf, len, "version is 0", "version 0");
    wr32(buf + 8, 1);
    buf[0] = 'X';
    fix_crc(buf, len);
    rejected(buf, len, "magic", "bad magic");
    buf[0] = 'M';
    buf[20] = '\n'; /* metadata "arch=test" must be printable */
    fix_crc(buf, len);
    rejected(buf, len, "metadata byte 0", "control character in metadata");
    buf[20] = 'a';
    wr32(buf + 16, 1000);
    fix_crc(buf, len);
    rejected(buf, len, "metadata length is 1000", "metadata too long");
    wr32(buf + 16, 9);
    fix_crc(buf, len);
    /* Header: 20 + 9 + (4+3+4+8) + (4+8+4+4) = 68, no padding; stored CRC last. */
    wr32(buf + len - 4, rd32(buf + len - 4) ^ 1);
    rejected(buf, len, "CRC-32", "bad CRC");
    free(buf);

    /* A header whose length is not a multiple of 4 gets zero padding; nonzero
     * padding is refused even with a valid CRC. */
    float one[1] = {1.0f};
    ckpt_tensor t[1] = {{"p", 1, {1}, one}};
    CHECK(checkpoint_encode("x", "", t, 1, &buf, &len, &(ms_err){{0}}) == MS_OK, "encode");
    /* 20 + (4+1+4+4) = 33 -> 3 padding bytes, payload at 36. */
    CHECK(len == 36 + 4 + 4, "padded length %zu", len);
    if (len == 44) {
        buf[34] = 1;
        fix_crc(buf, len);
        float got[1] = {5.0f};
        ckpt_tensor d[1] = {{"p", 1, {1}, got}};
        ms_err err;
        ms_status s = checkpoint_parse(buf, len, "pad", d, 1, &err);
        CHECK(s == MS_EDATA && strstr(err.msg, "padding byte at offset 34") && got[0] == 5.0f,
              "status %d: %s", (int)s, err.msg);
    }
    free(buf);
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_files_missing_and_uncreatable(void)
{
    char path[512];
    ms_err err;
    dst_reset();
    path_in_tmp(path, sizeof path, "does-not-exist.ckpt");
    ms_status s = checkpoint_load(path, dst, 2, &err);
    CHECK(s == MS_ENOINPUT && strstr(err.msg, path) && dst_untouched(), "status %d: %s",
          (int)s, err.msg);
    s = checkpoint_load(tmpdir, dst, 2, &err);
    CHECK(s == MS_ENOINPUT && dst_untouched(), "directory: status %d: %s", (int)s, err.msg);

    int before = dir_entries(tmpdir);
    fill_random(small_a, SMALL_A, 1);
    fill_random(small_b, SMALL_B, 2);
    path_in_tmp(path, sizeof path, "no/such/dir/m.ckpt");
    s = checkpoint_save(path, small, 2, &err);
    CHECK(s == MS_ECANTCREAT && strstr(err.msg, path), "status %d: %s", (int)s, err.msg);
    CHECK(dir_entries(tmpdir) == before, "entries %d, before %d", dir_entries(tmpdir), before);

    /* A file on disk with bad content is MS_EDATA naming the file. */
    path_in_tmp(path, sizeof path, "junk.ckpt");
    CHECK(file_write_atomic(path, "MNSECKPT\1\0\0", 11, &err) == MS_OK, "%s", err.msg);
    s = checkpoint_load(path, dst, 2, &err);
    CHECK(s == MS_EDATA && strstr(err.msg, path) && strstr(err.msg, "truncated") &&
              dst_untouched(),
          "status %d: %s", (int)s, err.msg);
    remove(path);

    /* Saving over an existing checkpoint replaces it and leaves no temporary file. */
    path_in_tmp(path, sizeof path, "m.ckpt");
    before = dir_entries(tmpdir);
    CHECK(checkpoint_save(path, small, 2, &err) == MS_OK, "%s", err.msg);
    small_a[0] = 42.0f;
    CHECK(checkpoint_save(path, small, 2, &err) == MS_OK, "%s", err.msg);
    CHECK(dir_entries(tmpdir) == before + 1, "entries %d, expected %d", dir_entries(tmpdir),
          before + 1);
    CHECK(checkpoint_load(path, dst, 2, &err) == MS_OK && dst_a[0] == 42.0f, "%s", err.msg);
    remove(path);
}

static void test_saver_refuses_bad_tensors(void)
{
    char path[512];
    ms_err err;
    path_in_tmp(path, sizeof path, "refused.ckpt");
    int before = dir_entries(tmpdir);
    fill_random(small_a, SMALL_A, 1);
    fill_random(small_b, SMALL_B, 2);
    small_b[1] = NAN;
    ms_status s = checkpoint_save(path, small, 2, &err);
    CHECK(s == MS_EDATA && strstr(err.msg, "'b_bias-1' element 1 is NaN"), "status %d: %s",
          (int)s, err.msg);
    small_b[1] = 0.5f;

    float x[2] = {0, 0};
    struct {
        const char *what;
        size_t n;
        ckpt_tensor t[2];
    } bad[] = {
        {"empty name", 1, {{"", 1, {2}, x}}},
        {"space in name", 1, {{"a b", 1, {2}, x}}},
        {"name too long", 1,
         {{"a123456789012345678901234567890123456789012345678901234567890123", 1, {2}, x}}},
        {"ndim 0", 1, {{"a", 0, {2}, x}}},
        {"ndim 5", 1, {{"a", 5, {2}, x}}},
        {"zero dim", 1, {{"a", 2, {2, 0}, x}}},
        {"no data", 1, {{"a", 1, {2}, NULL}}},
        {"duplicate", 2, {{"a", 1, {2}, x}, {"a", 1, {2}, x}}},
        {"no tensors", 0, {{"a", 1, {2}, x}}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = checkpoint_save(path, bad[i].t, bad[i].n, &err);
        CHECK(s == MS_EINTERNAL && strstr(err.msg, path), "%s: status %d: %s", bad[i].what,
              (int)s, err.msg);
    }
    s = checkpoint_save_meta(path, "tab\there", small, 2, &err);
    CHECK(s == MS_EINTERNAL, "metadata with a tab: status %d: %s", (int)s, err.msg);
    CHECK(dir_entries(tmpdir) == before, "entries %d, before %d", dir_entries(tmpdir), before);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_checkpoint.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_round_trip_bit_exact);
    RUN(test_byte_layout_matches_docs);
    RUN(test_every_byte_flip_rejected);
    RUN(test_header_corruption_rejected_with_valid_crc);
    RUN(test_truncation_and_trailing_bytes);
    RUN(test_wrong_names_shapes_count);
    RUN(test_nonfinite_payload_rejected);
    RUN(test_version_magic_meta_padding);
    RUN(test_files_missing_and_uncreatable);
    RUN(test_saver_refuses_bad_tensors);
    if (rmdir(tmpdir) != 0)
        fprintf(stderr, "note: %s not empty, left in place\n", tmpdir);
    TEST_END();
}
