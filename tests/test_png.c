/* test_png.c - Adler-32 (adler32.h), the PNG encoder (png.h), the bitmap font
 * (font.h) and the digit grid (digit_grid.h).
 *
 * Every PNG made here is taken apart chunk by chunk (signature, IHDR fields, each
 * chunk's CRC-32, IEND last), its zlib stream checked (header, Adler-32 trailer) and
 * decoded in-process with the project's DEFLATE decoder (inflate.h, reached through a
 * gzip member wrapped around the raw DEFLATE data), then unfiltered and compared with
 * the input pixels. Independent decoders check the files too when installed:
 * Python's zlib (a small decoder of its own), pngcheck, and ImageMagick's convert;
 * a missing tool is a skip, never a pass. Files go to a mkdtemp directory that is
 * removed at the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adler32.h"
#include "crc32.h"
#include "digit_grid.h"
#include "fileio.h"
#include "font.h"
#include "inflate.h"
#include "png.h"
#include "test.h"

#define PATHLEN 1024

static char tmpdir[PATHLEN];

/* ---- helpers ---------------------------------------------------------------------- */

static uint32_t rng_state = 0x2545F491u;
static uint8_t rnd8(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 17, rng_state ^= rng_state << 5;
    return (uint8_t)(rng_state >> 24);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void join(char *out, const char *leaf)
{
    int k = snprintf(out, PATHLEN, "%s/%s", tmpdir, leaf);
    if (k < 0 || k >= PATHLEN) {
        fprintf(stderr, "test path too long: %s/%s\n", tmpdir, leaf);
        exit(1);
    }
}

/* 1 if a shell command runs and exits 0 (its output discarded). */
static int sh_ok(const char *cmd)
{
    char full[PATHLEN * 3];
    snprintf(full, sizeof full, "{ %s; } >/dev/null 2>&1", cmd);
    return system(full) == 0;
}

/* A decoded PNG: its header and its zlib stream (the IDAT data joined). */
typedef struct {
    uint32_t w, h;
    int bit_depth, color_type;
    uint8_t *z;
    size_t zlen;
    size_t nidat;
} png_parts;

/* Walks the chunks: signature, IHDR first, CRC of every chunk, IDATs consecutive,
 * IEND last and empty. Returns 1 and fills p (p->z malloc'd) or reports and returns 0. */
static int png_parse(const uint8_t *b, size_t len, png_parts *p)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memset(p, 0, sizeof *p);
    CHECK(len >= 8 && memcmp(b, sig, 8) == 0, "PNG signature");
    if (len < 8 || memcmp(b, sig, 8) != 0)
        return 0;
    p->z = malloc(len);
    if (!p->z)
        return 0;
    size_t off = 8, nchunk = 0;
    int seen_end = 0, idat_done = 0;
    while (off + 12 <= len && !seen_end) {
        uint32_t n = be32(b + off);
        if (n > len - off - 12) {
            CHECK(0, "chunk %zu length %u past the end", nchunk, (unsigned)n);
            return 0;
        }
        const uint8_t *type = b + off + 4, *data = b + off + 8;
        uint32_t crc = be32(data + n);
        CHECK(crc == crc32_update(0, type, 4 + (size_t)n), "chunk %.4s CRC 0x%08x",
              (const char *)type, (unsigned)crc);
        if (nchunk == 0) {
            CHECK(memcmp(type, "IHDR", 4) == 0 && n == 13, "first chunk is IHDR of 13 bytes");
            p->w = be32(data), p->h = be32(data + 4);
            p->bit_depth = data[8], p->color_type = data[9];
            CHECK(data[10] == 0 && data[11] == 0 && data[12] == 0,
                  "compression, filter, interlace methods 0");
        } else if (memcmp(type, "IDAT", 4) == 0) {
            CHECK(!idat_done, "IDAT chunks are consecutive");
            CHECK(n <= PNG_IDAT_MAX, "IDAT of %u bytes", (unsigned)n);
            memcpy(p->z + p->zlen, data, n);
            p->zlen += n;
            p->nidat++;
        } else if (memcmp(type, "IEND", 4) == 0) {
            CHECK(n == 0, "IEND is empty");
            CHECK(memcmp(data + n, "\xae\x42\x60\x82", 4) == 0, "IEND CRC is ae 42 60 82");
            seen_end = 1;
        } else {
            CHECK(0, "unexpected chunk %.4s", (const char *)type);
        }
        if (p->nidat && memcmp(type, "IDAT", 4) != 0)
            idat_done = 1;
        off += 12 + (size_t)n;
        nchunk++;
    }
    CHECK(seen_end && off == len, "IEND ends the file (at %zu of %zu)", off, len);
    CHECK(p->nidat >= 1, "at least one IDAT");
    return !test_cur_failed;
}

/* Decodes the zlib stream with inflate.h: the raw DEFLATE data inside a gzip member. */
static uint8_t *zlib_inflate(const png_parts *p, size_t want, size_t *got)
{
    *got = 0;
    CHECK(p->zlen >= 6, "zlib stream of %zu bytes", p->zlen);
    if (p->zlen < 6)
        return NULL;
    const uint8_t *z = p->z;
    CHECK((z[0] & 0x0f) == 8 && (z[0] >> 4) <= 7, "CMF 0x%02x: deflate, window <= 32K", z[0]);
    CHECK(((unsigned)z[0] * 256u + z[1]) % 31u == 0, "FCHECK");
    CHECK(!(z[1] & 0x20), "no preset dictionary");
    size_t raw = p->zlen - 6, glen = raw + 18;
    uint8_t *gz = malloc(glen);
    uint8_t *expect = malloc(want ? want : 1);
    if (!gz || !expect) {
        free(gz), free(expect);
        CHECK(0, "out of memory");
        return NULL;
    }
    static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
    memcpy(gz, hdr, 10);
    memcpy(gz + 10, z + 2, raw);
    /* The trailer needs the data's CRC and length: decode once without knowing them
     * through gzip_peek, then check the real trailer with gzip_decompress. */
    size_t have = 0;
    ms_err err = {{0}};
    ms_status s = gzip_peek(gz, raw + 10, expect, want, &have, "idat", &err);
    CHECK(s == MS_OK && have == want, "peek: %s (%zu of %zu bytes)", err.msg, have, want);
    uint32_t crc = crc32_update(0, expect, have);
    for (int k = 0; k < 4; k++) {
        gz[10 + raw + (size_t)k] = (uint8_t)(crc >> (8 * k));
        gz[14 + raw + (size_t)k] = (uint8_t)(have >> (8 * k));
    }
    free(expect);
    uint8_t *out = NULL;
    s = gzip_decompress(gz, glen, want, "idat", &out, got, &err);
    free(gz);
    CHECK(s == MS_OK, "inflate: %s", err.msg);
    if (s != MS_OK)
        return NULL;
    uint32_t adler = be32(z + p->zlen - 4);
    CHECK(adler == adler32_update(ADLER32_INIT, out, *got), "Adler-32 trailer 0x%08x",
          (unsigned)adler);
    return out;
}

/* Undoes filters None and Up (the only ones the encoder writes) into px. */
static int unfilter(const uint8_t *raw, size_t h, size_t stride, uint8_t *px)
{
    for (size_t y = 0; y < h; y++) {
        const uint8_t *r = raw + y * (stride + 1);
        if (r[0] != 0 && r[0] != 2) {
            CHECK(0, "row %zu filter type %u", y, r[0]);
            return 0;
        }
        for (size_t i = 0; i < stride; i++)
            px[y * stride + i] =
                (uint8_t)(r[1 + i] + (r[0] == 2 && y > 0 ? px[(y - 1) * stride + i] : 0));
    }
    return 1;
}

/* Encodes, takes apart, decodes and compares. Returns the encoded size (0 on failure). */
static size_t roundtrip(const uint8_t *px, size_t w, size_t h, int ch, const char *what)
{
    int failed_before = test_cur_failed;
    test_cur_failed = 0;
    uint8_t *png = NULL;
    size_t len = 0;
    ms_err err = {{0}};
    ms_status s = png_encode(px, w, h, ch, &png, &len, &err);
    CHECK(s == MS_OK, "%s: %s", what, err.msg);
    if (s != MS_OK) {
        test_cur_failed = 1;
        return 0;
    }
    png_parts p;
    size_t stride = w * (size_t)ch, n = h * (stride + 1), got = 0;
    if (png_parse(png, len, &p)) {
        CHECK(p.w == w && p.h == h && p.bit_depth == 8 && p.color_type == (ch == 1 ? 0 : 2),
              "%s: IHDR %ux%u depth %d type %d", what, (unsigned)p.w, (unsigned)p.h,
              p.bit_depth, p.color_type);
        uint8_t *raw = zlib_inflate(&p, n, &got);
        uint8_t *back = malloc(w * h * (size_t)ch);
        if (raw && back && got == n && unfilter(raw, h, stride, back))
            CHECK(memcmp(back, px, w * h * (size_t)ch) == 0, "%s: pixels differ", what);
        else
            CHECK(0, "%s: decoded %zu of %zu bytes", what, got, n);
        free(raw), free(back);
    }
    free(p.z);
    free(png);
    int failed = test_cur_failed;
    test_cur_failed |= failed_before;
    return failed ? 0 : len;
}

/* A sample image: random noise in the top half, smooth gradients below. */
static uint8_t *sample(size_t w, size_t h, int ch)
{
    uint8_t *px = malloc(w * h * (size_t)ch);
    if (!px)
        return NULL;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++)
            for (int c = 0; c < ch; c++)
                px[(y * w + x) * (size_t)ch + (size_t)c] =
                    y < h / 2 ? rnd8() : (uint8_t)(x * (size_t)(c + 1) + y);
    return px;
}

/* ---- Adler-32 ---------------------------------------------------------------------- */

static uint32_t adler_ref(const uint8_t *p, size_t n)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++)
        a = (a + p[i]) % 65521u, b = (b + a) % 65521u;
    return b << 16 | a;
}

static void test_adler32(void)
{
    CHECK(adler32_update(ADLER32_INIT, "Wikipedia", 9) == 0x11E60398u, "Wikipedia");
    CHECK(adler32_update(ADLER32_INIT, NULL, 0) == 1u, "empty");
    CHECK(adler32_update(ADLER32_INIT, "a", 1) == 0x00620062u, "a");
    CHECK(adler32_update(ADLER32_INIT, "abc", 3) == 0x024D0127u, "abc");
    size_t n = 100000;
    uint8_t *buf = malloc(n);
    if (!buf) {
        CHECK(0, "out of memory");
        return;
    }
    memset(buf, 0xff, n); /* the worst case for the deferred modulo */
    CHECK(adler32_update(ADLER32_INIT, buf, n) == adler_ref(buf, n), "100000 x 0xff");
    for (size_t i = 0; i < n; i++)
        buf[i] = rnd8();
    uint32_t whole = adler32_update(ADLER32_INIT, buf, n);
    CHECK(whole == adler_ref(buf, n), "random bytes");
    size_t cuts[] = {0, 1, 5551, 5552, 5553, 77777, n};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        uint32_t c = adler32_update(adler32_update(ADLER32_INIT, buf, cuts[i]), buf + cuts[i],
                                    n - cuts[i]);
        CHECK(c == whole, "chained at %zu", cuts[i]);
    }
    free(buf);
}

/* ---- PNG ----------------------------------------------------------------------------- */

static void test_chunk_crcs(void)
{
    uint8_t px[3] = {0, 128, 255};
    uint8_t *png = NULL;
    size_t len = 0;
    ms_err err = {{0}};
    CHECK(png_encode(px, 3, 1, 1, &png, &len, &err) == MS_OK, "%s", err.msg);
    if (!png)
        return;
    /* IHDR: 8-byte signature, length 13, "IHDR", data, CRC over type and data */
    CHECK(be32(png + 8) == 13 && memcmp(png + 12, "IHDR", 4) == 0, "IHDR at offset 8");
    CHECK(be32(png + 29) == crc32_update(0, png + 12, 17), "IHDR CRC");
    /* The IEND chunk is always the same 12 bytes. */
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    CHECK(len > 12 && memcmp(png + len - 12, iend, 12) == 0, "IEND chunk bytes");
    png_parts p;
    png_parse(png, len, &p);
    free(p.z);
    free(png);
}

static void test_roundtrip_shapes(void)
{
    uint8_t one[3] = {7, 200, 33};
    roundtrip(one, 1, 1, 1, "1x1 grey");
    roundtrip(one, 1, 1, 3, "1x1 RGB");
    for (size_t w = 1; w <= 17; w += 2)
        for (size_t h = 1; h <= 5; h += 2)
            for (int ch = 1; ch <= 3; ch += 2) {
                uint8_t *px = sample(w, h, ch);
                char what[64];
                snprintf(what, sizeof what, "%zux%zu ch %d", w, h, ch);
                if (px)
                    roundtrip(px, w, h, ch, what);
                free(px);
            }
}

static void test_roundtrip_content(void)
{
    size_t w = 97, h = 61;
    uint8_t *px = malloc(w * h * 3);
    if (!px)
        return;
    memset(px, 0x55, w * h * 3);
    size_t len = roundtrip(px, w, h, 3, "constant RGB");
    CHECK(len > 0 && len < w * h * 3 / 40, "constant image compresses: %zu bytes", len);
    for (size_t i = 0; i < w * h * 3; i++)
        px[i] = rnd8();
    size_t n = h * (w * 3 + 1);
    len = roundtrip(px, w, h, 3, "random RGB");
    /* stored blocks: 5 bytes per block; signature, IHDR, IDAT framing, IEND; zlib
     * header and trailer */
    size_t bound = n + 5 * (n / 65535 + 1) + 8 + 25 + 12 * (n / PNG_IDAT_MAX + 2) + 12 + 6;
    CHECK(len > 0 && len <= bound,
          "random image is stored, not expanded: %zu bytes for %zu", len, n);
    for (size_t y = 0; y < h; y++) /* vertical stripes: Up filter and distance-stride matches */
        for (size_t x = 0; x < w; x++)
            px[y * w + x] = (uint8_t)(x * 37u);
    len = roundtrip(px, w, h, 1, "stripes grey");
    CHECK(len > 0 && len < w * h / 10, "stripes compress: %zu bytes", len);
    free(px);
}

static void test_roundtrip_large(void)
{
    /* 1.05 MB of scanlines: 17 blocks, stored (noise) and fixed (gradient) alike, and
     * many IDAT chunks. */
    size_t w = 700, h = 500;
    uint8_t *px = sample(w, h, 3);
    if (!px)
        return;
    size_t len = roundtrip(px, w, h, 3, "700x500 RGB");
    CHECK(len > 0 && len < w * h * 3 * 3 / 4, "half-compressible image: %zu bytes", len);
    free(px);
}

static void test_encode_errors(void)
{
    uint8_t px[12] = {0}, *out = (uint8_t *)1;
    size_t len = 1;
    ms_err err = {{0}};
    CHECK(png_encode(px, 2, 2, 2, &out, &len, &err) == MS_EINTERNAL && !out,
          "2 channels refused");
    CHECK(strstr(err.msg, "channels") != NULL, "message: %s", err.msg);
    CHECK(png_encode(px, 0, 2, 1, &out, &len, &err) == MS_EINTERNAL, "width 0");
    CHECK(png_encode(px, 2, 0, 1, &out, &len, &err) == MS_EINTERNAL, "height 0");
    CHECK(png_encode(px, PNG_MAX_DIM + 1, 1, 1, &out, &len, &err) == MS_EINTERNAL, "too wide");
    CHECK(png_encode(px, PNG_MAX_DIM, PNG_MAX_DIM, 3, &out, &len, &err) == MS_EINTERNAL,
          "over PNG_MAX_BYTES");
    CHECK(png_encode(NULL, 1, 1, 1, &out, &len, &err) == MS_EINTERNAL, "NULL pixels");
    outset os;
    outset_init(&os);
    char path[PATHLEN];
    join(path, "bad.png");
    CHECK(png_write(&os, path, px, 2, 2, 4, &err) == MS_EINTERNAL && os.n == 0,
          "nothing opened for a refused image");
    CHECK(strstr(err.msg, "bad.png") != NULL, "message names the path: %s", err.msg);
    outset_abort(&os);
}

/* Files for the independent decoders: name, size, channels. */
static const struct {
    const char *name;
    size_t w, h;
    int ch;
} files[] = {{"grey.png", 31, 17, 1}, {"rgb.png", 257, 129, 3}, {"tiny.png", 1, 1, 3},
             {"big.png", 640, 480, 1}};
#define NFILES (sizeof files / sizeof files[0])

/* Writes the files once (through png_write and an outset) and returns their pixels. */
static uint8_t *file_px[NFILES];
static int files_written;
static int write_files(void)
{
    if (files_written)
        return files_written > 0;
    files_written = -1;
    for (size_t i = 0; i < NFILES; i++) {
        char path[PATHLEN];
        join(path, files[i].name);
        file_px[i] = sample(files[i].w, files[i].h, files[i].ch);
        if (!file_px[i])
            return 0;
        outset os;
        outset_init(&os);
        ms_err err = {{0}};
        ms_status s = png_write(&os, path, file_px[i], files[i].w, files[i].h, files[i].ch, &err);
        if (s == MS_OK)
            s = outset_commit(&os, &err);
        else
            outset_abort(&os);
        CHECK(s == MS_OK, "png_write %s: %s", path, err.msg);
        if (s != MS_OK)
            return 0;
        uint8_t *data = NULL, *enc = NULL;
        size_t dlen = 0, elen = 0;
        if (file_read_all(path, 64u << 20, &data, &dlen, &err) == MS_OK &&
            png_encode(file_px[i], files[i].w, files[i].h, files[i].ch, &enc, &elen, &err) ==
                MS_OK)
            CHECK(dlen == elen && memcmp(data, enc, dlen) == 0, "%s equals png_encode's bytes",
                  files[i].name);
        else
            CHECK(0, "%s: %s", files[i].name, err.msg);
        free(data), free(enc);
    }
    files_written = test_cur_failed ? -1 : 1;
    return files_written > 0;
}

static void test_written_files(void)
{
    write_files();
}

/* For the decoder tests: the files, or a failure (never a silent pass). */
static int need_files(void)
{
    int ok = write_files();
    CHECK(ok, "the sample PNG files could not be written (see test_written_files)");
    return ok;
}

/* Compares a file of raw pixels written by a decoder with what was encoded. */
static void compare_raw(const char *raw_path, size_t i, const char *tool)
{
    uint8_t *data = NULL;
    size_t len = 0, want = files[i].w * files[i].h * (size_t)files[i].ch;
    ms_err err = {{0}};
    if (file_read_all(raw_path, 64u << 20, &data, &len, &err) != MS_OK) {
        CHECK(0, "%s output for %s: %s", tool, files[i].name, err.msg);
        return;
    }
    CHECK(len == want && memcmp(data, file_px[i], want) == 0,
          "%s decodes %s to the same %zu bytes (got %zu)", tool, files[i].name, want, len);
    free(data);
    unlink(raw_path);
}

/* Python's zlib and struct only; filters None and Up (the encoder's). */
static const char py_decoder[] =
    "import sys,zlib,struct\n"
    "d=open(sys.argv[1],'rb').read()\n"
    "assert d[:8]==bytes([137,80,78,71,13,10,26,10])\n"
    "i=8;z=b'';w=h=0\n"
    "while i<len(d):\n"
    " n,=struct.unpack('>I',d[i:i+4]);t=d[i+4:i+8];c=d[i+8:i+8+n]\n"
    " assert struct.unpack('>I',d[i+8+n:i+12+n])[0]==zlib.crc32(t+c)\n"
    " if t==b'IHDR':w,h,bd,ct=struct.unpack('>IIBB',c[:10]);ch={0:1,2:3}[ct]\n"
    " if t==b'IDAT':z+=c\n"
    " i+=12+n\n"
    "r=zlib.decompress(z);s=w*ch;o=bytearray();p=bytearray(s)\n"
    "for y in range(h):\n"
    " f=r[y*(s+1)];row=bytearray(r[y*(s+1)+1:(y+1)*(s+1)])\n"
    " assert f in (0,2)\n"
    " if f==2:row=bytearray((v+u)&255 for v,u in zip(row,p))\n"
    " o+=row;p=row\n"
    "open(sys.argv[2],'wb').write(o)\n";

static void test_python_zlib(void)
{
    if (!sh_ok("python3 -c 'import zlib'")) {
        SKIP("python3 with zlib not installed");
        return;
    }
    if (!need_files())
        return;
    char script[PATHLEN], raw[PATHLEN], png[PATHLEN], cmd[PATHLEN * 4];
    join(script, "decode.py");
    join(raw, "py.raw");
    FILE *f = fopen(script, "w");
    CHECK(f && fputs(py_decoder, f) >= 0 && fclose(f) == 0, "writing %s", script);
    for (size_t i = 0; i < NFILES; i++) {
        join(png, files[i].name);
        snprintf(cmd, sizeof cmd, "python3 '%s' '%s' '%s'", script, png, raw);
        CHECK(sh_ok(cmd), "python3 decoder fails on %s", files[i].name);
        compare_raw(raw, i, "python3 zlib");
    }
    unlink(script);
}

static void test_pngcheck(void)
{
    if (!sh_ok("command -v pngcheck")) {
        SKIP("pngcheck not installed");
        return;
    }
    if (!need_files())
        return;
    for (size_t i = 0; i < NFILES; i++) {
        char png[PATHLEN], cmd[PATHLEN * 2];
        join(png, files[i].name);
        snprintf(cmd, sizeof cmd, "pngcheck -q '%s'", png);
        CHECK(sh_ok(cmd), "pngcheck rejects %s", files[i].name);
    }
}

static void test_imagemagick(void)
{
    const char *conv = sh_ok("magick -version | grep -q '^Version: ImageMagick'") ? "magick"
                       : sh_ok("convert -version | grep -q '^Version: ImageMagick'")
                           ? "convert"
                           : NULL;
    if (!conv) {
        SKIP("ImageMagick (magick or convert) not installed");
        return;
    }
    if (!need_files())
        return;
    for (size_t i = 0; i < NFILES; i++) {
        char png[PATHLEN], raw[PATHLEN], cmd[PATHLEN * 3];
        join(png, files[i].name);
        join(raw, "im.raw");
        snprintf(cmd, sizeof cmd, "%s '%s' -depth 8 %s:'%s'", conv, png,
                 files[i].ch == 1 ? "gray" : "rgb", raw);
        CHECK(sh_ok(cmd), "%s fails on %s", conv, files[i].name);
        compare_raw(raw, i, conv);
    }
}

/* ---- font ---------------------------------------------------------------------------- */

static void test_font_glyphs(void)
{
    const char *need = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       ".,:;-+=/()[]%<>_'!?";
    for (const char *p = need; *p; p++) {
        const uint8_t *g = font_glyph((unsigned char)*p);
        int any = 0;
        for (int r = 0; r < FONT_GLYPH_H; r++)
            any |= g[r] != 0 && (g[r] & ~0x1Fu) == 0;
        CHECK(any, "glyph for '%c' has pixels within 5 columns", *p);
    }
    for (unsigned a = 0x21; a < 0x7F; a++)
        for (unsigned b = a + 1; b < 0x7F; b++)
            CHECK(memcmp(font_glyph((unsigned char)a), font_glyph((unsigned char)b),
                         FONT_GLYPH_H) != 0,
                  "'%c' and '%c' look the same", (int)a, (int)b);
    CHECK(font_glyph(0x80) == font_glyph('?') && font_glyph('\t') == font_glyph('?'),
          "unknown bytes draw as '?'");
    const uint8_t *sp = font_glyph(' ');
    for (int r = 0; r < FONT_GLYPH_H; r++)
        CHECK(sp[r] == 0, "space is empty");
    CHECK(font_text_width("", 1) == 0, "empty width");
    CHECK(font_text_width("ab", 1) == FONT_ADVANCE + FONT_GLYPH_W, "two characters");
    CHECK(font_text_width("abc\nx", 2) == 2 * (2 * FONT_ADVANCE + FONT_GLYPH_W), "widest line");
    CHECK(font_text_height("a\nb", 1) == FONT_LINE + FONT_GLYPH_H, "two lines");
}

static void test_font_draw(void)
{
    /* "7" at (1, 2), scale 1, in grey: pixels exactly the glyph, in the pen's luma. */
    enum { W = 9, H = 13 };
    uint8_t img[W * H + 8];
    memset(img, 0, sizeof img);
    const uint8_t white[3] = {255, 255, 255}, red[3] = {255, 0, 0};
    font_draw(img, W, H, 1, 1, 2, "7", white, 1);
    const uint8_t *g = font_glyph('7');
    for (size_t y = 0; y < H; y++)
        for (size_t x = 0; x < W; x++) {
            int on = y >= 2 && y < 2 + FONT_GLYPH_H && x >= 1 && x < 1 + FONT_GLYPH_W &&
                     (g[y - 2] & (0x10u >> (x - 1)));
            CHECK(img[y * W + x] == (on ? 255 : 0), "pixel (%zu, %zu)", x, y);
        }
    font_draw(img, W, H, 1, 0, 0, "#", red, 1);
    CHECK(img[1] == 76, "red drawn as luma 76 in grey, got %u", img[1]);
    /* clipping: big text near and past the edges never writes outside the image */
    memset(img, 0, sizeof img);
    memset(img + W * H, 0xAB, 8);
    font_draw(img, W, H, 1, W - 3, H - 3, "Wg", white, 4);
    font_draw(img, W, H, 1, SIZE_MAX - 5, 0, "clip", white, 3);
    font_draw(img, W, H, 1, 0, SIZE_MAX - 5, "clip\nme", white, 3);
    for (int i = 0; i < 8; i++)
        CHECK(img[W * H + (size_t)i] == 0xAB, "guard byte %d untouched", i);
    CHECK(img[(H - 3) * W + W - 3] == 255, "visible part drawn");
    uint8_t rgb[4 * 4 * 3];
    memset(rgb, 0, sizeof rgb);
    font_draw(rgb, 4, 4, 3, 0, 0, "M", red, 1);
    CHECK(rgb[0] == 255 && rgb[1] == 0 && rgb[2] == 0, "RGB pen colour");
}

/* ---- digit grid ---------------------------------------------------------------------- */

static void test_digit_grid(void)
{
    static float black[DIGIT_PIXELS], half[DIGIT_PIXELS], bad[DIGIT_PIXELS];
    for (size_t i = 0; i < DIGIT_PIXELS; i++)
        half[i] = 0.5f, black[i] = (i % 3) ? -0.25f : 0.0f; /* clipped to 0 */
    const float *cells[6] = {black, half, NULL, half, black, black};
    const char *cols[3] = {"clean", "adversarial", "perturbation x5"};
    const char *caps[6] = {"true 7 pred 7", "true 7 pred 1", NULL, "a", "b", ""};
    digit_grid g = {"title & more", 2, 3, cols, NULL, cells, caps, 0, 0};
    uint8_t *img = NULL;
    size_t w = 0, h = 0;
    ms_err err = {{0}};
    CHECK(digit_grid_render(&g, &img, &w, &h, &err) == MS_OK, "%s", err.msg);
    if (!img)
        return;
    size_t side = DIGIT_SIDE * 3, n0 = 0, n128 = 0;
    for (size_t i = 0; i < w * h; i++)
        n0 += img[i] == 0, n128 += img[i] == 128;
    CHECK(n0 == 3 * side * side, "black cells: %zu pixels of 0, want %zu", n0, 3 * side * side);
    CHECK(n128 == 2 * side * side, "grey cells: %zu pixels of 128", n128);
    CHECK(img[0] == 255 && img[w * h - 1] == 255, "white background");
    CHECK(w >= 3 * side && h >= 2 * side, "size %zux%zu", w, h);
    uint8_t *big = NULL;
    size_t w2 = 0, h2 = 0;
    g.text_scale = 2;
    CHECK(digit_grid_render(&g, &big, &w2, &h2, &err) == MS_OK && w2 > w && h2 > h,
          "text scale 2 makes a larger picture: %zux%zu", w2, h2);
    free(big);
    g.text_scale = 5;
    CHECK(digit_grid_render(&g, &big, &w2, &h2, &err) == MS_EINTERNAL, "text scale 5");
    g.text_scale = 0;
    /* the grid writes as a PNG that decodes to the same image */
    size_t len = roundtrip(img, w, h, 1, "digit grid");
    CHECK(len > 0, "grid PNG");
    char path[PATHLEN];
    join(path, "grid.png");
    outset os;
    outset_init(&os);
    CHECK(digit_grid_png(&os, path, &g, &err) == MS_OK && outset_commit(&os, &err) == MS_OK,
          "%s", err.msg);
    CHECK(access(path, F_OK) == 0, "grid.png written");
    unlink(path);
    free(img);

    /* a NaN anywhere is refused, naming where */
    memcpy(bad, half, sizeof bad);
    bad[5 * DIGIT_SIDE + 9] = NAN;
    cells[5] = bad;
    img = (uint8_t *)1;
    CHECK(digit_grid_render(&g, &img, &w, &h, &err) == MS_EINTERNAL && !img, "NaN refused");
    CHECK(strstr(err.msg, "row 1 column 2") && strstr(err.msg, "pixel 149"), "message: %s",
          err.msg);
    outset_init(&os);
    CHECK(digit_grid_png(&os, path, &g, &err) == MS_EINTERNAL && os.n == 0, "no file opened");
    outset_abort(&os);
    g.nrows = DIGIT_GRID_MAX_ROWS + 1;
    CHECK(digit_grid_render(&g, &img, &w, &h, &err) == MS_EINTERNAL, "too many rows");
    g.nrows = 2, g.scale = 17;
    CHECK(digit_grid_render(&g, &img, &w, &h, &err) == MS_EINTERNAL, "scale 17");
}

static void test_perturbation(void)
{
    float clean[4] = {0.0f, 0.5f, 1.0f, 0.2f}, adv[4] = {0.1f, 0.4f, 0.9f, 0.2f}, out[4];
    digit_grid_perturbation(out, clean, adv, 4, 5.0f);
    CHECK(close_enough(out[0], 1.0, 1e-6, 0) && close_enough(out[1], 0.0, 1e-6, 0) &&
              close_enough(out[2], 0.0, 1e-6, 0) && close_enough(out[3], 0.5, 1e-6, 0),
          "0.5 + 5 (adv - clean), clipped: %g %g %g %g", out[0], out[1], out[2], out[3]);
    digit_grid_perturbation(out, clean, adv, 4, 1.0f);
    CHECK(close_enough(out[0], 0.6, 1e-6, 0) && close_enough(out[1], 0.4, 1e-6, 0),
          "k = 1: %g %g", out[0], out[1]);
    adv[0] = NAN;
    digit_grid_perturbation(out, clean, adv, 4, 5.0f);
    CHECK(out[0] != out[0], "NaN stays NaN");
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    int k = snprintf(tmpdir, sizeof tmpdir, "%s/mnistsec-png-XXXXXX",
                     base && *base ? base : "/tmp");
    if (k < 0 || (size_t)k >= sizeof tmpdir || !mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_adler32);
    RUN(test_chunk_crcs);
    RUN(test_roundtrip_shapes);
    RUN(test_roundtrip_content);
    RUN(test_roundtrip_large);
    RUN(test_encode_errors);
    RUN(test_written_files);
    RUN(test_python_zlib);
    RUN(test_pngcheck);
    RUN(test_imagemagick);
    RUN(test_font_glyphs);
    RUN(test_font_draw);
    RUN(test_digit_grid);
    RUN(test_perturbation);
    static const char *const extra[] = {"decode.py", "py.raw", "im.raw", "grid.png", "bad.png"};
    char path[PATHLEN];
    for (size_t i = 0; i < NFILES; i++) {
        join(path, files[i].name);
        unlink(path);
        free(file_px[i]);
    }
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        join(path, extra[i]);
        unlink(path);
    }
    if (rmdir(tmpdir) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_END();
}
