/* test_inflate.c - gzip/DEFLATE decoding: round trips through the system gzip,
 * hand-built streams for every block type and header field, and rejection of
 * corrupted, truncated, oversized and malformed input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32.h"
#include "fileio.h"
#include "inflate.h"
#include "test.h"

#define MIB ((size_t)1 << 20)

/* ---- helpers ------------------------------------------------------------------ */

static char tmp_dir[256];
static int have_gzip = -1;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    /* xorshift64*: deterministic test data, independent of the program's RNG. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static int gzip_available(void)
{
    if (have_gzip < 0) {
        have_gzip = system("gzip --version >/dev/null 2>&1") == 0;
        if (!have_gzip)
            fprintf(stderr, "  the system gzip program is missing: install gzip to run the "
                            "round-trip tests\n");
    }
    return have_gzip;
}

/* Compresses data with the system gzip at `level` (extra: more gzip flags) into a
 * malloc'd buffer. Returns 0 on failure. */
static int run_gzip(const uint8_t *data, size_t n, const char *flags, uint8_t **gz,
                    size_t *gz_len)
{
    *gz = NULL;
    *gz_len = 0;
    if (!gzip_available())
        return 0;
    char path[512], gzpath[520], cmd[1200];
    snprintf(path, sizeof path, "%s/in.bin", tmp_dir);
    snprintf(gzpath, sizeof gzpath, "%s.gz", path);
    ms_err err;
    if (file_write_atomic(path, data, n, &err) != MS_OK) {
        fprintf(stderr, "  %s\n", err.msg);
        return 0;
    }
    snprintf(cmd, sizeof cmd, "gzip %s -c '%s' > '%s'", flags, path, gzpath);
    int rc = system(cmd);
    int ok = rc == 0 && file_read_all(gzpath, 64 * MIB, gz, gz_len, &err) == MS_OK;
    unlink(path);
    unlink(gzpath);
    if (!ok)
        fprintf(stderr, "  running '%s' failed\n", cmd);
    return ok;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Wraps a raw DEFLATE body into a gzip member: header with flags 0, body, trailer
 * for `data`. Returns the length written to dst. */
static size_t wrap_member(uint8_t *dst, const uint8_t *body, size_t body_len,
                          const uint8_t *data, size_t data_len)
{
    static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(dst, hdr, 10);
    memcpy(dst + 10, body, body_len);
    put_le32(dst + 10 + body_len, crc32_update(0, data, data_len));
    put_le32(dst + 14 + body_len, (uint32_t)data_len);
    return body_len + 18;
}

/* Decompresses and compares with want; returns 1 if equal. */
static int decodes_to(const uint8_t *gz, size_t gz_len, const uint8_t *want, size_t want_len,
                      const char *what)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    ms_err err;
    ms_status s = gzip_decompress(gz, gz_len, 64 * MIB, what, &out, &out_len, &err);
    int ok = s == MS_OK && out_len == want_len && (want_len == 0 || !memcmp(out, want, want_len));
    if (!ok)
        fprintf(stderr, "  %s: status %d, %zu bytes (want %zu)%s%s\n", what, (int)s, out_len,
                want_len, s ? ": " : "", s ? err.msg : "");
    free(out);
    return ok;
}

/* 1 if decompression fails with MS_EDATA, a NULL output, and a message that names
 * the input and contains `needle` (if non-NULL). */
static int rejects(const uint8_t *gz, size_t gz_len, const char *needle)
{
    uint8_t *out = (uint8_t *)&out;
    size_t out_len = 123;
    ms_err err;
    err.msg[0] = '\0';
    ms_status s = gzip_decompress(gz, gz_len, 64 * MIB, "sample.gz", &out, &out_len, &err);
    int ok = s == MS_EDATA && out == NULL && out_len == 0 && strstr(err.msg, "sample.gz") &&
             (!needle || strstr(err.msg, needle));
    if (!ok)
        fprintf(stderr, "  expected rejection containing '%s', got status %d: %s\n",
                needle ? needle : "", (int)s, s ? err.msg : "(ok)");
    if (s == MS_OK)
        free(out);
    return ok;
}

/* Test data sets. */
enum { DATA_TEXT, DATA_RANDOM, DATA_RUNS, DATA_EMPTY, DATA_ONE, DATA_COUNT };
static const char *data_names[DATA_COUNT] = {"text", "random", "runs", "empty", "one byte"};

static uint8_t *make_data(int kind, size_t *n)
{
    static const char *words[] = {"the",  "image", "pixel", "gradient", "model", "attack",
                                  "loss", "of",    "a",     "network",  "digit", "\n",
                                  "0.25", "epsilon", "trigger", "label", "7"};
    size_t len = kind == DATA_TEXT ? 300000 : kind == DATA_RANDOM ? 100000
                 : kind == DATA_RUNS ? 400000 : kind == DATA_EMPTY ? 0 : 1;
    uint8_t *d = malloc(len + 1);
    if (!d)
        return NULL;
    size_t i = 0;
    if (kind == DATA_TEXT) {
        while (i < len) {
            const char *w = words[rnd() % (sizeof words / sizeof words[0])];
            for (size_t k = 0; w[k] && i < len; k++)
                d[i++] = (uint8_t)w[k];
            if (i < len)
                d[i++] = ' ';
        }
    } else if (kind == DATA_RANDOM) {
        for (; i < len; i++)
            d[i] = (uint8_t)rnd();
    } else if (kind == DATA_RUNS) {
        while (i < len) {
            size_t run = 1 + rnd() % 5000;
            uint8_t v = (uint8_t)(rnd() % 4 == 0 ? rnd() : 0);
            for (size_t k = 0; k < run && i < len; k++)
                d[i++] = v;
        }
    } else if (kind == DATA_ONE) {
        d[0] = 'x';
    }
    *n = len;
    return d;
}

/* ---- bit writer for hand-built DEFLATE streams -------------------------------- */

typedef struct {
    uint8_t buf[1 << 16];
    size_t n;
    unsigned nb; /* bits used in buf[n] */
} bitw;

static void bw_init(bitw *w)
{
    memset(w, 0, sizeof *w);
}

/* Appends the n low bits of v, LSB first (how DEFLATE packs numbers). */
static void put_bits(bitw *w, uint32_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (w->n >= sizeof w->buf)
            return;
        w->buf[w->n] |= (uint8_t)(((v >> i) & 1u) << w->nb);
        if (++w->nb == 8) {
            w->nb = 0;
            w->n++;
        }
    }
}

/* Appends a Huffman code, MSB first. */
static void put_code(bitw *w, uint32_t code, unsigned len)
{
    for (unsigned i = len; i-- > 0;)
        put_bits(w, (code >> i) & 1u, 1);
}

static size_t bw_finish(bitw *w)
{
    return w->n + (w->nb ? 1 : 0);
}

/* Canonical codes for lengths (RFC 1951 3.2.2). */
static void canonical(const uint8_t *lens, unsigned n, uint32_t *codes)
{
    unsigned count[16] = {0};
    uint32_t next[16] = {0};
    for (unsigned i = 0; i < n; i++)
        count[lens[i]]++;
    count[0] = 0;
    uint32_t code = 0;
    for (unsigned b = 1; b < 16; b++) {
        code = (code + count[b - 1]) << 1;
        next[b] = code;
    }
    for (unsigned i = 0; i < n; i++)
        codes[i] = lens[i] ? next[lens[i]]++ : 0;
}

static const uint16_t t_len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,
                                        15, 17, 19, 23, 27, 31, 35, 43, 51,  59,
                                        67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint16_t t_dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,
                                         17,   25,   33,   49,   65,   97,    129,   193,
                                         257,  385,  513,  769,  1025, 1537,  2049,  3073,
                                         4097, 6145, 8193, 12289, 16385, 24577};

static unsigned len_extra_bits(unsigned i)
{
    return (i < 8 || i == 28) ? 0 : (i - 4) / 4;
}

static unsigned dist_extra_bits(unsigned i)
{
    return i < 4 ? 0 : (i - 2) / 2;
}

/* Fixed-code symbols (RFC 1951 3.2.6). */
static void put_fixed_lit(bitw *w, unsigned sym)
{
    if (sym < 144)
        put_code(w, 0x30 + sym, 8);
    else if (sym < 256)
        put_code(w, 0x190 + sym - 144, 9);
    else if (sym < 280)
        put_code(w, sym - 256, 7);
    else
        put_code(w, 0xc0 + sym - 280, 8);
}

/* Writes a length/distance pair with the given codes and lengths (lc, ll for
 * literal/length, dc, dl for distance), or with the fixed codes when lc/dc is NULL. */
static void put_match(bitw *w, unsigned len, unsigned dist, const uint32_t *lc,
                      const uint8_t *ll, const uint32_t *dc, const uint8_t *dl)
{
    unsigned i = 28;
    while (t_len_base[i] > len)
        i--;
    if (lc)
        put_code(w, lc[257 + i], ll[257 + i]);
    else
        put_fixed_lit(w, 257 + i);
    put_bits(w, len - t_len_base[i], len_extra_bits(i));
    unsigned j = 29;
    while (t_dist_base[j] > dist)
        j--;
    if (dc)
        put_code(w, dc[j], dl[j]);
    else
        put_code(w, j, 5);
    put_bits(w, dist - t_dist_base[j], dist_extra_bits(j));
}

/* ---- tests -------------------------------------------------------------------- */

static void test_magic(void)
{
    const uint8_t g[] = {0x1f, 0x8b, 8};
    CHECK(gzip_has_magic(g, 3), "magic");
    CHECK(gzip_has_magic(g, 2), "magic 2 bytes");
    CHECK(!gzip_has_magic(g, 1), "1 byte");
    CHECK(!gzip_has_magic(g + 1, 2), "no magic");
    CHECK(!gzip_has_magic(NULL, 0), "NULL");
}

static void test_roundtrip_gzip(void)
{
    static const char *levels[] = {"-1 -n", "-6", "-9 -n"};
    CHECK(gzip_available(), "gzip is needed for this test");
    for (int kind = 0; kind < DATA_COUNT; kind++) {
        size_t n = 0;
        uint8_t *d = make_data(kind, &n);
        CHECK(d != NULL, "out of memory");
        if (!d)
            return;
        for (int l = 0; l < 3; l++) {
            uint8_t *gz;
            size_t gz_len;
            if (!run_gzip(d, n, levels[l], &gz, &gz_len)) {
                CHECK(0, "gzip %s failed", levels[l]);
                continue;
            }
            char what[64];
            snprintf(what, sizeof what, "%s gzip %s", data_names[kind], levels[l]);
            CHECK(decodes_to(gz, gz_len, d, n, what), "%s", what);
            /* The limit is inclusive: exactly n bytes are allowed. */
            uint8_t *out = NULL;
            size_t out_len = 0;
            ms_err err;
            ms_status s = gzip_decompress(gz, gz_len, n, what, &out, &out_len, &err);
            CHECK(s == MS_OK && out_len == n, "%s with max_out = size: %s", what,
                  s ? err.msg : "");
            free(out);
            uint8_t head[100];
            size_t got = 0;
            s = gzip_peek(gz, gz_len, head, sizeof head, &got, what, &err);
            size_t want = n < sizeof head ? n : sizeof head;
            CHECK(s == MS_OK && got == want && !memcmp(head, d, want), "%s peek: got %zu: %s",
                  what, got, s ? err.msg : "");
            free(gz);
        }
        free(d);
    }
}

static void test_stored_from_gzip(void)
{
    CHECK(gzip_available(), "gzip is needed for this test");
    size_t n = 0;
    uint8_t *d = make_data(DATA_RANDOM, &n);
    uint8_t *gz;
    size_t gz_len;
    if (!d || !run_gzip(d, n, "-1 -n", &gz, &gz_len)) {
        CHECK(0, "gzip -1 failed");
        free(d);
        return;
    }
    /* Random bytes do not compress, so gzip stores them: the body is not smaller. */
    CHECK(gz_len >= n, "expected stored blocks: %zu -> %zu bytes", n, gz_len);
    /* First block header: BTYPE (bits 1-2 of the first body byte) is 00. */
    CHECK(((gz[10] >> 1) & 3) == 0, "first block type %d", (gz[10] >> 1) & 3);
    CHECK(decodes_to(gz, gz_len, d, n, "stored"), "stored random data");
    free(gz);
    free(d);
}

static void test_stored_handbuilt(void)
{
    /* "hello " in a non-final stored block, an empty stored block, "world" final. */
    uint8_t body[64], gz[128];
    size_t b = 0;
    body[b++] = 0x00; /* BFINAL 0, BTYPE 00, padding */
    body[b++] = 6, body[b++] = 0, body[b++] = 0xf9, body[b++] = 0xff;
    memcpy(body + b, "hello ", 6), b += 6;
    body[b++] = 0x00;
    body[b++] = 0, body[b++] = 0, body[b++] = 0xff, body[b++] = 0xff;
    body[b++] = 0x01; /* BFINAL 1 */
    body[b++] = 5, body[b++] = 0, body[b++] = 0xfa, body[b++] = 0xff;
    memcpy(body + b, "world", 5), b += 5;
    const char *want = "hello world";
    size_t n = wrap_member(gz, body, b, (const uint8_t *)want, 11);
    CHECK(decodes_to(gz, n, (const uint8_t *)want, 11, "stored"), "hand-built stored");

    uint8_t bad[128];
    memcpy(bad, gz, n);
    bad[10 + 3] ^= 1; /* NLEN no longer the complement of LEN */
    CHECK(rejects(bad, n, "complement"), "LEN/NLEN mismatch");
    /* LEN larger than the rest of the input. */
    memcpy(bad, gz, n);
    bad[10 + 1] = 0xff, bad[10 + 3] = 0x00;
    CHECK(rejects(bad, n, "ends unexpectedly"), "stored block past end");

    /* Peek stops inside a stored block. */
    uint8_t head[8];
    size_t got = 0;
    ms_err err;
    CHECK(gzip_peek(gz, n, head, 8, &got, "stored", &err) == MS_OK && got == 8 &&
              !memcmp(head, "hello wo", 8),
          "peek across stored blocks: got %zu", got);
}

/* Random literal/match sequences in fixed-Huffman blocks, checked against a plain
 * byte-by-byte expansion of the same tokens. Covers every copy path (distance 1,
 * short distances, overlapping and long distances, matches near the buffer end). */
static void test_fixed_random_tokens(void)
{
    static bitw w;
    static uint8_t ref[40000], gz[70000];
    for (int trial = 0; trial < 300; trial++) {
        bw_init(&w);
        size_t n = 0, limit = 1000 + rnd() % 30000;
        int blocks = 1 + (int)(rnd() % 3);
        for (int blk = 0; blk < blocks; blk++) {
            put_bits(&w, blk == blocks - 1, 1);
            put_bits(&w, 1, 2); /* fixed Huffman */
            size_t stop = blk == blocks - 1 ? limit : n + (limit - n) / 2;
            while (n < stop) {
                uint32_t r = rnd() % 8;
                if (n == 0 || r < 3 || n + 258 > sizeof ref) {
                    unsigned lit = rnd() % 256;
                    if (r == 0)
                        lit = 'a';
                    put_fixed_lit(&w, lit);
                    ref[n++] = (uint8_t)lit;
                    if (n + 258 > sizeof ref)
                        break;
                    continue;
                }
                unsigned len = r == 3 ? 3 + rnd() % 8 : r == 4 ? 258 : 3 + rnd() % 256;
                size_t maxd = n < 32768 ? n : 32768;
                unsigned dist = r == 5 ? 1 : r == 6 ? 1 + rnd() % (maxd < 16 ? maxd : 16)
                                                    : 1 + (unsigned)(rnd() % maxd);
                put_match(&w, len, dist, NULL, NULL, NULL, NULL);
                for (unsigned k = 0; k < len; k++, n++)
                    ref[n] = ref[n - dist];
            }
            put_fixed_lit(&w, 256);
        }
        size_t body_len = bw_finish(&w);
        size_t gz_len = wrap_member(gz, w.buf, body_len, ref, n);
        char what[48];
        snprintf(what, sizeof what, "token trial %d", trial);
        CHECK(decodes_to(gz, gz_len, ref, n, what), "%s", what);
        if (test_cur_failed)
            return;
    }
}

/* A fixed-Huffman member: "ab" then the given symbol sequence written by fn. */
static size_t fixed_member(uint8_t *gz, void (*fn)(bitw *))
{
    static bitw w;
    bw_init(&w);
    put_bits(&w, 1, 1);
    put_bits(&w, 1, 2);
    put_fixed_lit(&w, 'a');
    put_fixed_lit(&w, 'b');
    fn(&w);
    put_fixed_lit(&w, 256);
    return wrap_member(gz, w.buf, bw_finish(&w), (const uint8_t *)"ab", 2);
}

static void sym_286(bitw *w)
{
    put_fixed_lit(w, 286);
}
static void sym_287(bitw *w)
{
    put_fixed_lit(w, 287);
}
static void dist_30(bitw *w)
{
    put_fixed_lit(w, 257);
    put_code(w, 30, 5);
}
static void dist_31(bitw *w)
{
    put_fixed_lit(w, 257);
    put_code(w, 31, 5);
}
static void too_far(bitw *w)
{
    put_match(w, 3, 3, NULL, NULL, NULL, NULL);
}
static void not_too_far(bitw *w)
{
    (void)w;
}

static void test_fixed_invalid(void)
{
    uint8_t gz[256];
    size_t n = fixed_member(gz, not_too_far);
    CHECK(decodes_to(gz, n, (const uint8_t *)"ab", 2, "fixed ab"), "valid fixed block");
    n = fixed_member(gz, sym_286);
    CHECK(rejects(gz, n, "symbol 286"), "literal/length symbol 286");
    n = fixed_member(gz, sym_287);
    CHECK(rejects(gz, n, "symbol 287"), "literal/length symbol 287");
    n = fixed_member(gz, dist_30);
    CHECK(rejects(gz, n, "distance symbol 30"), "distance symbol 30");
    n = fixed_member(gz, dist_31);
    CHECK(rejects(gz, n, "distance symbol 31"), "distance symbol 31");
    n = fixed_member(gz, too_far);
    CHECK(rejects(gz, n, "too far back"), "distance 3 after 2 bytes");

    /* Block type 3 is reserved. */
    uint8_t body[2] = {0x07, 0x00};
    n = wrap_member(gz, body, 2, NULL, 0);
    CHECK(rejects(gz, n, "block type"), "BTYPE 3");

    /* A match may not reach into the previous gzip member. */
    uint8_t two[512];
    size_t n1 = fixed_member(two, not_too_far);
    static bitw w;
    bw_init(&w);
    put_bits(&w, 1, 1);
    put_bits(&w, 1, 2);
    put_match(&w, 3, 1, NULL, NULL, NULL, NULL);
    put_fixed_lit(&w, 256);
    size_t n2 = wrap_member(two + n1, w.buf, bw_finish(&w), (const uint8_t *)"bbb", 3);
    CHECK(rejects(two, n1 + n2, "too far back"), "match into the previous member");
}

/* Code-length code used by the dynamic-block tests: symbols 0..12 get 4 bits,
 * 13..18 get 5 bits (13/16 + 6/32 = 1, a complete code). */
static const uint8_t clen_ok[19] = {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5};
static const uint8_t clen_perm[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                      11, 4,  12, 3, 13, 2, 14, 1, 15};

/* Writes a dynamic block header: nlit/ndist raw (written as given, even if out of
 * range), the code-length code clen, then code-length items (symbol, extra bits). */
static void dyn_header(bitw *w, int final, unsigned nlit, unsigned ndist, const uint8_t *clen,
                       const unsigned (*items)[2], size_t nitems)
{
    put_bits(w, (unsigned)final, 1);
    put_bits(w, 2, 2);
    put_bits(w, nlit - 257, 5);
    put_bits(w, ndist - 1, 5);
    put_bits(w, 19 - 4, 4);
    for (int i = 0; i < 19; i++)
        put_bits(w, clen[clen_perm[i]], 3);
    uint32_t codes[19];
    canonical(clen, 19, codes);
    for (size_t i = 0; i < nitems; i++) {
        unsigned sym = items[i][0];
        put_code(w, codes[sym], clen[sym]);
        if (sym == 16)
            put_bits(w, items[i][1], 2);
        else if (sym == 17)
            put_bits(w, items[i][1], 3);
        else if (sym == 18)
            put_bits(w, items[i][1], 7);
    }
}

/* Writes a dynamic block with the given lit/dist lengths, each sent as a plain
 * code-length symbol, followed by `data` as literals and one match if dist > 0. */
static size_t dyn_member(uint8_t *gz, const uint8_t *ll, unsigned nlit, const uint8_t *dl,
                         unsigned ndist, const char *data, unsigned mlen, unsigned mdist,
                         const uint8_t *want, size_t want_len)
{
    static bitw w;
    static unsigned items[400][2];
    bw_init(&w);
    size_t k = 0;
    for (unsigned i = 0; i < nlit; i++)
        items[k][0] = ll[i], items[k++][1] = 0;
    for (unsigned i = 0; i < ndist; i++)
        items[k][0] = dl[i], items[k++][1] = 0;
    dyn_header(&w, 1, nlit, ndist, clen_ok, (const unsigned(*)[2])items, k);
    uint32_t lc[288], dc[32];
    canonical(ll, nlit, lc);
    canonical(dl, ndist, dc);
    for (const char *p = data; *p; p++)
        put_code(&w, lc[(uint8_t)*p], ll[(uint8_t)*p]);
    if (mdist)
        put_match(&w, mlen, mdist, lc, ll, dc, dl);
    put_code(&w, lc[256], ll[256]);
    return wrap_member(gz, w.buf, bw_finish(&w), want, want_len);
}

static void test_dynamic_handbuilt(void)
{
    static uint8_t gz[4096];
    uint8_t ll[286] = {0}, dl[30] = {0};
    /* Complete literal/length code: 'a', 'b', 256, 257 (length 3) at 2 bits each. */
    ll['a'] = ll['b'] = ll[256] = ll[257] = 2;
    /* A single one-bit distance code (allowed by RFC 1951). */
    dl[1] = 1;
    size_t n = dyn_member(gz, ll, 258, dl, 2, "ab", 3, 2, (const uint8_t *)"ababa", 5);
    CHECK(decodes_to(gz, n, (const uint8_t *)"ababa", 5, "dynamic"), "single distance code");

    /* No distance codes at all: a literal-only block. */
    uint8_t ll2[286] = {0}, dl2[1] = {0};
    ll2['x'] = 1, ll2[256] = 1;
    n = dyn_member(gz, ll2, 257, dl2, 1, "xxx", 0, 0, (const uint8_t *)"xxx", 3);
    CHECK(decodes_to(gz, n, (const uint8_t *)"xxx", 3, "literal-only"), "no distance codes");

    /* Over-subscribed literal/length code: three 1-bit codes. */
    uint8_t ll3[286] = {0};
    ll3['a'] = ll3['b'] = ll3[256] = 1;
    n = dyn_member(gz, ll3, 257, dl, 2, "", 0, 0, NULL, 0);
    CHECK(rejects(gz, n, "over-subscribed literal/length"), "over-subscribed lit/len");

    /* Incomplete literal/length code with more than one symbol. */
    uint8_t ll4[286] = {0};
    ll4['a'] = 2, ll4[256] = 2;
    n = dyn_member(gz, ll4, 257, dl, 2, "", 0, 0, NULL, 0);
    CHECK(rejects(gz, n, "incomplete literal/length"), "incomplete lit/len");

    /* Incomplete distance code with two symbols. */
    uint8_t dl5[30] = {0};
    dl5[0] = 2, dl5[1] = 2;
    n = dyn_member(gz, ll, 258, dl5, 2, "", 0, 0, NULL, 0);
    CHECK(rejects(gz, n, "incomplete distance"), "incomplete distance code");

    /* A single distance code, but used with the bit pattern that has no symbol. */
    {
        static bitw w;
        static unsigned items[300][2];
        bw_init(&w);
        size_t k = 0;
        for (unsigned i = 0; i < 258; i++)
            items[k][0] = ll[i], items[k++][1] = 0;
        items[k][0] = 0, items[k++][1] = 0;
        items[k][0] = 1, items[k++][1] = 0;
        dyn_header(&w, 1, 258, 2, clen_ok, (const unsigned(*)[2])items, k);
        uint32_t lc[288];
        canonical(ll, 258, lc);
        put_code(&w, lc['a'], 2);
        put_code(&w, lc[257], 2);
        put_bits(&w, 1, 1); /* the unused half of the one-bit distance code */
        put_code(&w, lc[256], 2);
        n = wrap_member(gz, w.buf, bw_finish(&w), NULL, 0);
        CHECK(rejects(gz, n, "invalid distance code"), "unused distance code");
    }

    /* Missing end-of-block code. */
    uint8_t ll6[286] = {0};
    ll6['a'] = ll6['b'] = 1;
    n = dyn_member(gz, ll6, 257, dl, 2, "", 0, 0, NULL, 0);
    CHECK(rejects(gz, n, "end-of-block"), "no end-of-block code");

    /* Header counts out of range: 287 literal/length codes, 31 distance codes. */
    static const unsigned none[1][2] = {{0, 0}};
    static bitw w;
    bw_init(&w);
    dyn_header(&w, 1, 287, 1, clen_ok, none, 0);
    n = wrap_member(gz, w.buf, bw_finish(&w) + 8, NULL, 0);
    CHECK(rejects(gz, n, "287 literal/length"), "HLIT 30");
    bw_init(&w);
    dyn_header(&w, 1, 257, 31, clen_ok, none, 0);
    n = wrap_member(gz, w.buf, bw_finish(&w) + 8, NULL, 0);
    CHECK(rejects(gz, n, "31 distance"), "HDIST 30");

    /* Over-subscribed and incomplete code-length codes. */
    uint8_t clen_over[19], clen_inc[19] = {0};
    memset(clen_over, 1, sizeof clen_over);
    clen_inc[1] = 1;
    bw_init(&w);
    dyn_header(&w, 1, 257, 1, clen_over, none, 0);
    n = wrap_member(gz, w.buf, bw_finish(&w) + 8, NULL, 0);
    CHECK(rejects(gz, n, "over-subscribed code length"), "over-subscribed clen");
    bw_init(&w);
    dyn_header(&w, 1, 257, 1, clen_inc, none, 0);
    n = wrap_member(gz, w.buf, bw_finish(&w) + 8, NULL, 0);
    CHECK(rejects(gz, n, "incomplete code length"), "incomplete clen");

    /* Repeat (16) with no previous length; repeats running past the end. */
    static const unsigned rep_first[1][2] = {{16, 0}};
    bw_init(&w);
    dyn_header(&w, 1, 257, 1, clen_ok, rep_first, 1);
    n = wrap_member(gz, w.buf, bw_finish(&w) + 8, NULL, 0);
    CHECK(rejects(gz, n, "no previous length"), "repeat first");
    static const unsigned rep_long[3][2] = {{18, 127}, {18, 127}, {18, 127}};
    bw_init(&w);
    dyn_header(&w, 1, 257, 1, clen_ok, rep_long, 3);
    n = wrap_member(gz, w.buf, bw_finish(&w) + 8, NULL, 0);
    CHECK(rejects(gz, n, "runs past"), "repeat past the end");
    /* Lengths repeated across the literal/distance boundary are allowed. */
    static unsigned cross[8][2];
    size_t k = 0;
    cross[k][0] = 18, cross[k++][1] = 127;           /* 0..137 zero */
    cross[k][0] = 18, cross[k++][1] = 118 - 11;      /* 138..255 zero */
    cross[k][0] = 1, cross[k++][1] = 0;              /* 256: 1 bit */
    cross[k][0] = 1, cross[k++][1] = 0;              /* 257: 1 bit */
    cross[k][0] = 16, cross[k++][1] = 0;             /* dist 0,1,2: 1 bit (over) */
    bw_init(&w);
    dyn_header(&w, 1, 258, 3, clen_ok, (const unsigned(*)[2])cross, k);
    n = wrap_member(gz, w.buf, bw_finish(&w) + 8, NULL, 0);
    CHECK(rejects(gz, n, "over-subscribed distance"), "repeat across the boundary");
}

static void test_multi_member(void)
{
    CHECK(gzip_available(), "gzip is needed for this test");
    const char *a = "first member, first member, first member\n";
    const char *b = "second member\n";
    uint8_t *ga, *gb;
    size_t la, lb;
    if (!run_gzip((const uint8_t *)a, strlen(a), "-9 -n", &ga, &la))
        return;
    if (!run_gzip((const uint8_t *)b, strlen(b), "-1", &gb, &lb)) {
        free(ga);
        return;
    }
    uint8_t empty_member[32];
    size_t le = wrap_member(empty_member, (const uint8_t *)"\x03\x00", 2, NULL, 0);
    size_t cat_len = la + le + lb;
    uint8_t *cat = malloc(cat_len + 32);
    memcpy(cat, ga, la);
    memcpy(cat + la, empty_member, le);
    memcpy(cat + la + le, gb, lb);
    char want[128];
    snprintf(want, sizeof want, "%s%s", a, b);
    CHECK(decodes_to(cat, cat_len, (const uint8_t *)want, strlen(want), "multi"),
          "three members");

    /* Peek reads only the first member. */
    uint8_t head[200];
    size_t got = 0;
    ms_err err;
    CHECK(gzip_peek(cat, cat_len, head, sizeof head, &got, "multi", &err) == MS_OK &&
              got == strlen(a) && !memcmp(head, a, got),
          "peek of a multi-member file: %zu bytes", got);

    /* Trailing garbage, trailing zeros, a truncated second member. */
    memcpy(cat + la, "garbage!", 8);
    CHECK(rejects(cat, la + 8, "trailing"), "trailing garbage");
    memset(cat + la, 0, 8);
    CHECK(rejects(cat, la + 8, "trailing"), "trailing zeros");
    CHECK(rejects(cat, la + 1, "trailing"), "one trailing byte");
    memcpy(cat + la, gb, lb);
    CHECK(rejects(cat, la + 5, "header"), "truncated second header");
    CHECK(rejects(cat, la + lb - 3, "trailer"), "truncated second trailer");
    free(cat);
    free(ga);
    free(gb);
}

static void test_header_fields(void)
{
    const char *text = "header fields test";
    static bitw w;
    bw_init(&w);
    put_bits(&w, 1, 1);
    put_bits(&w, 1, 2);
    for (const char *p = text; *p; p++)
        put_fixed_lit(&w, (uint8_t)*p);
    put_fixed_lit(&w, 256);
    size_t body_len = bw_finish(&w);

    uint8_t gz[512];
    size_t n = 0;
    const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0x1f /* FTEXT|FHCRC|FEXTRA|FNAME|FCOMMENT */,
                             1, 2, 3, 4, 2, 3};
    memcpy(gz, hdr, 10), n = 10;
    gz[n++] = 6, gz[n++] = 0; /* XLEN */
    memcpy(gz + n, "Ab\x02\x00xy", 6), n += 6;
    memcpy(gz + n, "name.idx", 9), n += 9;
    memcpy(gz + n, "a comment", 10), n += 10;
    uint32_t hcrc = crc32_update(0, gz, n);
    size_t hcrc_at = n;
    gz[n++] = (uint8_t)hcrc, gz[n++] = (uint8_t)(hcrc >> 8);
    memcpy(gz + n, w.buf, body_len), n += body_len;
    put_le32(gz + n, crc32_update(0, text, strlen(text))), n += 4;
    put_le32(gz + n, (uint32_t)strlen(text)), n += 4;
    CHECK(decodes_to(gz, n, (const uint8_t *)text, strlen(text), "all flags"),
          "FTEXT FHCRC FEXTRA FNAME FCOMMENT");
    uint8_t head[6];
    size_t got = 0;
    ms_err err;
    CHECK(gzip_peek(gz, n, head, 6, &got, "all flags", &err) == MS_OK && got == 6 &&
              !memcmp(head, "header", 6),
          "peek past header fields");

    uint8_t bad[512];
    memcpy(bad, gz, n);
    bad[hcrc_at] ^= 0x40;
    CHECK(rejects(bad, n, "header CRC"), "wrong header CRC");
    /* Truncations inside each optional field. */
    CHECK(rejects(gz, 11, "extra field"), "XLEN truncated");
    CHECK(rejects(gz, 15, "extra field"), "extra data truncated");
    CHECK(rejects(gz, 22, "file name"), "name unterminated");
    CHECK(rejects(gz, 30, "comment"), "comment unterminated");
    CHECK(rejects(gz, (size_t)hcrc_at + 1, "header CRC"), "header CRC truncated");
    CHECK(rejects(gz, 9, "header"), "fixed header truncated");
}

static void test_bad_headers(void)
{
    uint8_t gz[64];
    size_t n = wrap_member(gz, (const uint8_t *)"\x03\x00", 2, NULL, 0);
    CHECK(decodes_to(gz, n, NULL, 0, "empty"), "valid empty member");
    uint8_t bad[64];
    memcpy(bad, gz, n), bad[0] = 0x1e;
    CHECK(rejects(bad, n, "magic"), "bad magic byte 1");
    memcpy(bad, gz, n), bad[1] = 0x8c;
    CHECK(rejects(bad, n, "magic"), "bad magic byte 2");
    memcpy(bad, gz, n), bad[2] = 7;
    CHECK(rejects(bad, n, "method 7"), "method 7");
    for (int bit = 5; bit < 8; bit++) {
        memcpy(bad, gz, n), bad[3] = (uint8_t)(1u << bit);
        CHECK(rejects(bad, n, "reserved"), "reserved flag bit %d", bit);
    }
    CHECK(rejects(gz, 0, "header"), "empty input");
    CHECK(rejects(NULL, 0, "header"), "NULL input");
    CHECK(rejects((const uint8_t *)"plain text, not gzip", 20, "magic"), "not gzip");
}

/* A small real gzip file shared by the corruption tests. */
static uint8_t *small_gz(size_t *gz_len, uint8_t **data, size_t *n)
{
    *data = make_data(DATA_TEXT, n);
    *n = 3000;
    uint8_t *gz = NULL;
    if (!*data || !run_gzip(*data, *n, "-9 -n", &gz, gz_len)) {
        free(*data);
        *data = NULL;
        return NULL;
    }
    return gz;
}

static void test_trailer_corruption(void)
{
    CHECK(gzip_available(), "gzip is needed for this test");
    uint8_t *d, *gz;
    size_t n, gz_len;
    if (!(gz = small_gz(&gz_len, &d, &n)))
        return;
    for (int k = 0; k < 4; k++) {
        gz[gz_len - 8 + k] ^= 0x10;
#ifndef MNISTSEC_FUZZ
        CHECK(rejects(gz, gz_len, "CRC-32"), "CRC byte %d", k);
#endif
        gz[gz_len - 8 + k] ^= 0x10;
        gz[gz_len - 4 + k] ^= 0x01;
        CHECK(rejects(gz, gz_len, "length"), "ISIZE byte %d", k);
        gz[gz_len - 4 + k] ^= 0x01;
    }
    CHECK(decodes_to(gz, gz_len, d, n, "restored"), "restored file");
    free(gz);
    free(d);
}

static void test_truncation(void)
{
    CHECK(gzip_available(), "gzip is needed for this test");
    uint8_t *d, *gz;
    size_t n, gz_len;
    if (!(gz = small_gz(&gz_len, &d, &n)))
        return;
    for (size_t cut = 0; cut < gz_len; cut++) {
        /* A private copy so that any read past `cut` is caught by sanitizers. */
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, gz, cut);
        CHECK(rejects(p, cut, NULL), "truncated to %zu of %zu bytes", cut, gz_len);
        free(p);
        if (test_cur_failed)
            break;
    }
    free(gz);
    free(d);
}

static void test_bit_flips(void)
{
    CHECK(gzip_available(), "gzip is needed for this test");
    uint8_t *d, *gz;
    size_t n, gz_len;
    if (!(gz = small_gz(&gz_len, &d, &n)))
        return;
    size_t ok = 0, rejected = 0;
    for (size_t bit = 0; bit < gz_len * 8; bit++) {
        gz[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        uint8_t *out = NULL;
        size_t out_len = 0;
        ms_err err;
        ms_status s = gzip_decompress(gz, gz_len, 64 * MIB, "flip", &out, &out_len, &err);
        if (s == MS_OK) {
            /* Only bits outside the checked data (MTIME, XFL, OS, FTEXT) may flip. */
            CHECK(out_len == n && !memcmp(out, d, n), "bit %zu: wrong data accepted", bit);
            ok++;
        } else {
            CHECK(s == MS_EDATA && out == NULL, "bit %zu: status %d", bit, (int)s);
            rejected++;
        }
        free(out);
        uint8_t head[64];
        size_t got;
        gzip_peek(gz, gz_len, head, sizeof head, &got, "flip", &err);
        gz[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    fprintf(stderr, "  %zu bit flips: %zu accepted, %zu rejected\n", gz_len * 8, ok, rejected);
    free(gz);
    free(d);
}

static void test_max_out(void)
{
    CHECK(gzip_available(), "gzip is needed for this test");
    uint8_t *d, *gz;
    size_t n, gz_len;
    if (!(gz = small_gz(&gz_len, &d, &n)))
        return;
    uint8_t *out = (uint8_t *)&out;
    size_t out_len = 1;
    ms_err err;
    ms_status s = gzip_decompress(gz, gz_len, n - 1, "cap.gz", &out, &out_len, &err);
    char want[96];
    snprintf(want, sizeof want, "cap.gz: decompressed data exceeds the limit of %zu bytes",
             n - 1);
    CHECK(s == MS_EDATA && out == NULL && !strcmp(err.msg, want), "got %d: %s", (int)s,
          err.msg);
    s = gzip_decompress(gz, gz_len, 0, "cap.gz", &out, &out_len, &err);
    CHECK(s == MS_EDATA && strstr(err.msg, "limit of 0 bytes"), "max_out 0: %s", err.msg);
    free(gz);
    free(d);

    /* A bomb: 64 MiB of zeros is about 64 KB of gzip; it must stop at the cap. */
    if (!gzip_available())
        return;
    char path[512], cmd[1200];
    snprintf(path, sizeof path, "%s/bomb.gz", tmp_dir);
    snprintf(cmd, sizeof cmd, "head -c 67108864 /dev/zero | gzip -9 -n > '%s'", path);
    uint8_t *bomb = NULL;
    size_t bomb_len = 0;
    CHECK(system(cmd) == 0 && file_read_all(path, 4 * MIB, &bomb, &bomb_len, &err) == MS_OK,
          "making the bomb");
    unlink(path);
    if (!bomb)
        return;
    s = gzip_decompress(bomb, bomb_len, MIB, "bomb.gz", &out, &out_len, &err);
    CHECK(s == MS_EDATA && strstr(err.msg, "exceeds the limit of 1048576 bytes"), "bomb: %s",
          err.msg);
    uint8_t head[4096];
    size_t got = 0;
    s = gzip_peek(bomb, bomb_len, head, sizeof head, &got, "bomb.gz", &err);
    CHECK(s == MS_OK && got == sizeof head && head[0] == 0 && head[4095] == 0, "bomb peek");
    free(bomb);
}

static void test_peek(void)
{
    CHECK(gzip_available(), "gzip is needed for this test");
    uint8_t *d, *gz;
    size_t n, gz_len;
    if (!(gz = small_gz(&gz_len, &d, &n)))
        return;
    uint8_t head[16];
    size_t got = 99;
    ms_err err;
    /* The first bytes are available even when the rest of the stream is missing,
     * which also shows that peek does not decode the whole stream. */
    ms_status s = gzip_peek(gz, gz_len / 2, head, sizeof head, &got, "half", &err);
    CHECK(s == MS_OK && got == 16 && !memcmp(head, d, 16), "peek of half a file: %s",
          s ? err.msg : "");
    s = gzip_peek(gz, gz_len, head, 0, &got, "zero", &err);
    CHECK(s == MS_OK && got == 0, "peek of 0 bytes");
    uint8_t *all = malloc(n + 100);
    s = gzip_peek(gz, gz_len, all, n + 100, &got, "all", &err);
    CHECK(s == MS_OK && got == n && !memcmp(all, d, n), "peek beyond the end: %zu", got);
    s = gzip_peek(gz, gz_len, all, n, &got, "exact", &err);
    CHECK(s == MS_OK && got == n, "peek of exactly the size");
    free(all);
    s = gzip_peek(gz, 12, head, sizeof head, &got, "tiny.gz", &err);
    CHECK(s == MS_EDATA && strstr(err.msg, "tiny.gz"), "peek of a truncated file: %s",
          err.msg);
    gz[0] = 0;
    s = gzip_peek(gz, gz_len, head, sizeof head, &got, "nomagic.gz", &err);
    CHECK(s == MS_EDATA && strstr(err.msg, "magic"), "peek without magic");
    free(gz);
    free(d);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/test_inflate.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_magic);
    RUN(test_roundtrip_gzip);
    RUN(test_stored_from_gzip);
    RUN(test_stored_handbuilt);
    RUN(test_fixed_random_tokens);
    RUN(test_fixed_invalid);
    RUN(test_dynamic_handbuilt);
    RUN(test_multi_member);
    RUN(test_header_fields);
    RUN(test_bad_headers);
    RUN(test_trailer_corruption);
    RUN(test_truncation);
    RUN(test_bit_flips);
    RUN(test_max_out);
    RUN(test_peek);
    rmdir(tmp_dir);
    TEST_END();
}
