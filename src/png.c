/* png.c - PNG encoder (png.h): row filters, a fixed-Huffman/stored DEFLATE
 * compressor with hash-chain LZ77, the zlib wrapper and the PNG chunks.
 *
 * Letters: w, h image size in pixels; ch channels; stride = w * ch bytes per row of
 * pixels; n = h * (1 + stride) bytes of filtered scanlines (a filter-type byte, then
 * the row), the data that the zlib stream holds.
 */
#include "png.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adler32.h"
#include "checked.h"
#include "crc32.h"

/* ---- bit output (DEFLATE packs bits LSB-first) ---------------------------------- */

typedef struct {
    uint8_t *buf;
    size_t cap, len;
    uint64_t bits;  /* pending bits, LSB first */
    unsigned nbits; /* < 8 between calls */
    int overflow;   /* a byte did not fit: the size bound was wrong */
} bitout;

static void put_byte(bitout *o, uint8_t b)
{
    if (o->len < o->cap)
        o->buf[o->len++] = b;
    else
        o->overflow = 1;
}

/* n <= 16 bits of v. */
static void put_bits(bitout *o, uint32_t v, unsigned n)
{
    o->bits |= (uint64_t)v << o->nbits;
    o->nbits += n;
    while (o->nbits >= 8) {
        put_byte(o, (uint8_t)(o->bits & 0xffu));
        o->bits >>= 8;
        o->nbits -= 8;
    }
}

static void align_byte(bitout *o)
{
    if (o->nbits)
        put_bits(o, 0, 8 - o->nbits);
}

/* Huffman codes are defined MSB-first, so they go out bit-reversed. */
static uint32_t reverse_bits(uint32_t code, unsigned len)
{
    uint32_t r = 0;
    for (unsigned i = 0; i < len; i++, code >>= 1)
        r = (r << 1) | (code & 1u);
    return r;
}

/* ---- the fixed Huffman code (RFC 1951 3.2.6) ----------------------------------- */

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,
                                      15, 17, 19, 23, 27, 31, 35, 43, 51,  59,
                                      67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,
                                       17,   25,   33,   49,   65,   97,    129,   193,
                                       257,  385,  513,  769,  1025, 1537,  2049,  3073,
                                       4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* Index of the largest base <= v in an increasing table of n entries. */
static unsigned code_index(const uint16_t *base, unsigned n, unsigned v)
{
    unsigned lo = 0, hi = n - 1;
    while (lo < hi) {
        unsigned mid = (lo + hi + 1) / 2;
        if (base[mid] <= v)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Length in bits of the fixed code of literal/length symbol sym (0..287). */
static unsigned lit_len(unsigned sym)
{
    return sym < 144 ? 8 : sym < 256 ? 9 : sym < 280 ? 7 : 8;
}

static void put_lit(bitout *o, unsigned sym)
{
    uint32_t code = sym < 144   ? 0x30u + sym
                    : sym < 256 ? 0x190u + (sym - 144)
                    : sym < 280 ? sym - 256
                                : 0xC0u + (sym - 280);
    unsigned n = lit_len(sym);
    put_bits(o, reverse_bits(code, n), n);
}

/* ---- LZ77 ------------------------------------------------------------------------ */

#define WSIZE 32768u     /* DEFLATE's window: the largest distance */
#define HASH_BITS 15
#define HASH_SIZE (1u << HASH_BITS)
#define MIN_MATCH 3u
#define MAX_MATCH 258u
#define MAX_CHAIN 48u    /* candidates tried per position */
#define BLOCK_IN 65535u  /* input bytes per block: a stored block holds at most 65535 */

/* A literal (dist 0, litlen the byte) or a match (litlen 3..258 bytes back dist). */
typedef struct {
    uint16_t litlen;
    uint16_t dist;
} token;

typedef struct {
    const uint8_t *d;
    size_t n;
    uint32_t *head;  /* [HASH_SIZE] latest position + 1 with that hash, 0 none */
    uint32_t *prev;  /* [WSIZE] previous position + 1 with the same hash */
    token *tok;      /* [BLOCK_IN] tokens of the current block */
} lz;

static uint32_t hash3(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

static void lz_insert(lz *z, size_t pos)
{
    if (pos + MIN_MATCH > z->n)
        return;
    uint32_t hv = hash3(z->d + pos);
    z->prev[pos & (WSIZE - 1)] = z->head[hv];
    z->head[hv] = (uint32_t)(pos + 1);
}

/* Longest match for pos of at most `limit` bytes among earlier positions within the
 * window; returns its length (0 if under MIN_MATCH) and sets *dist. */
static size_t lz_match(const lz *z, size_t pos, size_t limit, size_t *dist)
{
    if (limit < MIN_MATCH || pos + MIN_MATCH > z->n)
        return 0;
    size_t best = 0;
    uint32_t cand = z->head[hash3(z->d + pos)];
    const uint8_t *p = z->d + pos;
    for (unsigned chain = 0; cand && chain < MAX_CHAIN; chain++) {
        size_t c = cand - 1;
        if (c >= pos || pos - c > WSIZE)
            break;
        const uint8_t *q = z->d + c;
        if (q[best] == p[best]) {
            size_t k = 0;
            while (k < limit && q[k] == p[k])
                k++;
            if (k > best) {
                best = k;
                *dist = pos - c;
                if (k == limit)
                    break;
            }
        }
        uint32_t next = z->prev[c & (WSIZE - 1)];
        if (next >= cand) /* entries only point back; anything else is stale */
            break;
        cand = next;
    }
    return best >= MIN_MATCH ? best : 0;
}

/* Tokens for d[start..end), matches never reaching past end so that the block can be
 * stored instead. Returns the token count and the fixed-code size in bits of the
 * symbols (without block header and end-of-block code). */
static size_t lz_block(lz *z, size_t start, size_t end, uint64_t *bits)
{
    size_t nt = 0;
    uint64_t b = 0;
    size_t pos = start;
    while (pos < end) {
        size_t dist = 0, room = end - pos;
        size_t m = lz_match(z, pos, room < MAX_MATCH ? room : MAX_MATCH, &dist);
        if (m) {
            unsigned li = code_index(len_base, 29, (unsigned)m);
            unsigned di = code_index(dist_base, 30, (unsigned)dist);
            b += lit_len(257 + li) + len_extra[li] + 5 + dist_extra[di];
            z->tok[nt].litlen = (uint16_t)m;
            z->tok[nt].dist = (uint16_t)dist;
            for (size_t k = 0; k < m; k++)
                lz_insert(z, pos + k);
            pos += m;
        } else {
            b += lit_len(z->d[pos]);
            z->tok[nt].litlen = z->d[pos];
            z->tok[nt].dist = 0;
            lz_insert(z, pos);
            pos++;
        }
        nt++;
    }
    *bits = b;
    return nt;
}

static void emit_fixed(bitout *o, const token *tok, size_t nt, int final)
{
    put_bits(o, final ? 1u : 0u, 1);
    put_bits(o, 1u, 2); /* BTYPE 01 */
    for (size_t i = 0; i < nt; i++) {
        if (!tok[i].dist) {
            put_lit(o, tok[i].litlen);
            continue;
        }
        unsigned li = code_index(len_base, 29, tok[i].litlen);
        unsigned di = code_index(dist_base, 30, tok[i].dist);
        put_lit(o, 257 + li);
        put_bits(o, tok[i].litlen - len_base[li], len_extra[li]);
        put_bits(o, reverse_bits(di, 5), 5);
        put_bits(o, tok[i].dist - dist_base[di], dist_extra[di]);
    }
    put_lit(o, 256);
}

static void emit_stored(bitout *o, const uint8_t *d, size_t len, int final)
{
    put_bits(o, final ? 1u : 0u, 1);
    put_bits(o, 0u, 2); /* BTYPE 00 */
    align_byte(o);
    put_bits(o, (uint32_t)len, 16);
    put_bits(o, (uint32_t)(~len & 0xffffu), 16);
    for (size_t i = 0; i < len; i++)
        put_byte(o, d[i]);
}

/* The zlib stream of d[0..n) into a new buffer; n >= 1. */
static ms_status zlib_compress(const uint8_t *d, size_t n, uint8_t **out, size_t *out_len,
                               const char *name, ms_err *err)
{
    /* Every block costs at most its stored size: 3 header bits, up to 7 padding bits
     * and LEN/NLEN (< 6 bytes) plus its data. Add the 2-byte header, the 4-byte
     * Adler-32 and the last partial byte. */
    size_t nblocks = n / BLOCK_IN + 1, cap, tokbytes;
    if (!size_mul(&cap, nblocks, 6) || !size_add(&cap, cap, n) || !size_add(&cap, cap, 8) ||
        !size_mul(&tokbytes, BLOCK_IN, sizeof(token)))
        return ms_fail(err, MS_EINTERNAL, "%s: image too large to compress", name);
    bitout o = {0};
    lz z = {d, n, NULL, NULL, NULL};
    o.buf = malloc(cap);
    o.cap = cap;
    z.head = calloc(HASH_SIZE, sizeof *z.head);
    z.prev = calloc(WSIZE, sizeof *z.prev);
    z.tok = malloc(tokbytes);
    if (!o.buf || !z.head || !z.prev || !z.tok) {
        free(o.buf), free(z.head), free(z.prev), free(z.tok);
        return ms_fail(err, MS_EINTERNAL, "%s: out of memory compressing %zu bytes", name, n);
    }
    put_byte(&o, 0x78); /* CMF: deflate, 32 KiB window */
    put_byte(&o, 0x01); /* FLG: no dictionary, level 0 hint; 0x7801 % 31 == 0 */
    for (size_t start = 0; start < n;) {
        size_t end = n - start > BLOCK_IN ? start + BLOCK_IN : n;
        int final = end == n;
        uint64_t sym_bits;
        size_t nt = lz_block(&z, start, end, &sym_bits);
        uint64_t fixed_bits = 3 + sym_bits + 7;
        uint64_t stored_bits = 3 + 7 + 32 + 8 * (uint64_t)(end - start);
        if (fixed_bits <= stored_bits)
            emit_fixed(&o, z.tok, nt, final);
        else
            emit_stored(&o, d + start, end - start, final);
        start = end;
    }
    align_byte(&o);
    uint32_t a = adler32_update(ADLER32_INIT, d, n);
    for (int k = 3; k >= 0; k--)
        put_byte(&o, (uint8_t)(a >> (8 * k)));
    free(z.head), free(z.prev), free(z.tok);
    if (o.overflow) {
        free(o.buf);
        return ms_fail(err, MS_EINTERNAL, "%s: compressed data exceeded its bound of %zu bytes",
                       name, cap);
    }
    *out = o.buf;
    *out_len = o.len;
    return MS_OK;
}

/* ---- row filters ----------------------------------------------------------------- */

/* |v| of a filtered byte read as signed: the usual "minimum sum" heuristic. */
static unsigned sabs(uint8_t v)
{
    return v < 128 ? v : 256u - v;
}

/* raw: h rows of (1 + stride) bytes: filter type, then filtered pixels. */
static void filter_rows(uint8_t *raw, const uint8_t *px, size_t h, size_t stride)
{
    for (size_t y = 0; y < h; y++) {
        const uint8_t *cur = px + y * stride, *prev = y > 0 ? cur - stride : NULL;
        uint8_t *dst = raw + y * (stride + 1);
        int up = 0;
        if (prev) {
            uint64_t s_none = 0, s_up = 0;
            for (size_t i = 0; i < stride; i++) {
                s_none += sabs(cur[i]);
                s_up += sabs((uint8_t)(cur[i] - prev[i]));
            }
            up = s_up < s_none;
        }
        dst[0] = up ? 2 : 0;
        if (up)
            for (size_t i = 0; i < stride; i++)
                dst[1 + i] = (uint8_t)(cur[i] - prev[i]);
        else
            memcpy(dst + 1, cur, stride);
    }
}

/* ---- chunks ---------------------------------------------------------------------- */

static uint8_t *put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

/* Writes length, type, data and CRC-32 (of type and data) at p; returns the end. */
static uint8_t *put_chunk(uint8_t *p, const char type[4], const uint8_t *data, size_t len)
{
    p = put_be32(p, (uint32_t)len);
    uint8_t *crc_from = p;
    memcpy(p, type, 4);
    if (len)
        memcpy(p + 4, data, len);
    p += 4 + len;
    return put_be32(p, crc32_update(0, crc_from, 4 + len));
}

static ms_status encode(const uint8_t *pixels, size_t w, size_t h, int channels,
                        uint8_t **out, size_t *len, const char *name, ms_err *err)
{
    if (!out || !len)
        return ms_fail(err, MS_EINTERNAL, "%s: no output buffer", name);
    *out = NULL;
    *len = 0;
    if (!pixels)
        return ms_fail(err, MS_EINTERNAL, "%s: no pixels", name);
    if (channels != 1 && channels != 3)
        return ms_fail(err, MS_EINTERNAL, "%s: %d channels (1 grey or 3 RGB supported)", name,
                       channels);
    if (w == 0 || h == 0 || w > PNG_MAX_DIM || h > PNG_MAX_DIM)
        return ms_fail(err, MS_EINTERNAL, "%s: size %zu x %zu (each side 1..%u)", name, w, h,
                       PNG_MAX_DIM);
    size_t stride, bytes, n;
    if (!size_mul(&stride, w, (size_t)channels) || !size_mul(&bytes, stride, h) ||
        bytes > PNG_MAX_BYTES || !size_mul(&n, stride + 1, h))
        return ms_fail(err, MS_EINTERNAL, "%s: %zu x %zu x %d exceeds %u bytes", name, w, h,
                       channels, PNG_MAX_BYTES);
    uint8_t *raw = malloc(n);
    if (!raw)
        return ms_fail(err, MS_EINTERNAL, "%s: out of memory (%zu bytes)", name, n);
    filter_rows(raw, pixels, h, stride);
    uint8_t *z = NULL;
    size_t zlen = 0;
    ms_status s = zlib_compress(raw, n, &z, &zlen, name, err);
    free(raw);
    if (s != MS_OK)
        return s;

    /* signature 8, IHDR 12 + 13, IDAT 12 + data each, IEND 12 */
    size_t nidat = zlen / PNG_IDAT_MAX + (zlen % PNG_IDAT_MAX != 0), total;
    if (!size_mul(&total, nidat, 12) || !size_add(&total, total, zlen) ||
        !size_add(&total, total, 8 + 25 + 12)) {
        free(z);
        return ms_fail(err, MS_EINTERNAL, "%s: PNG too large", name);
    }
    uint8_t *file = malloc(total);
    if (!file) {
        free(z);
        return ms_fail(err, MS_EINTERNAL, "%s: out of memory (%zu bytes)", name, total);
    }
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13];
    put_be32(ihdr, (uint32_t)w);
    put_be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;                         /* bit depth */
    ihdr[9] = channels == 1 ? 0 : 2;     /* colour type: grey or RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;  /* deflate, adaptive filters, no interlace */
    uint8_t *p = file;
    memcpy(p, sig, 8);
    p = put_chunk(p + 8, "IHDR", ihdr, sizeof ihdr);
    for (size_t off = 0; off < zlen; off += PNG_IDAT_MAX) {
        size_t k = zlen - off < PNG_IDAT_MAX ? zlen - off : PNG_IDAT_MAX;
        p = put_chunk(p, "IDAT", z + off, k);
    }
    p = put_chunk(p, "IEND", NULL, 0);
    free(z);
    *out = file;
    *len = (size_t)(p - file);
    return MS_OK;
}

ms_status png_encode(const uint8_t *pixels, size_t width, size_t height, int channels,
                     uint8_t **out, size_t *len, ms_err *err)
{
    return encode(pixels, width, height, channels, out, len, "png", err);
}

ms_status png_write(outset *os, const char *path, const uint8_t *pixels, size_t width,
                    size_t height, int channels, ms_err *err)
{
    if (!os || !path)
        return ms_fail(err, MS_EINTERNAL, "png_write: no output set or path");
    uint8_t *buf;
    size_t len;
    ms_status s = encode(pixels, width, height, channels, &buf, &len, path, err);
    if (s != MS_OK)
        return s;
    FILE *f;
    s = outset_open(os, path, &f, err);
    if (s == MS_OK && fwrite(buf, 1, len, f) != len)
        s = ms_fail(err, MS_EIO, "%s: write error", path);
    free(buf);
    return s;
}
