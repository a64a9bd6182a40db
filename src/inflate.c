/* inflate.c - gzip (RFC 1952) and DEFLATE (RFC 1951) decoding, C library only.
 *
 * Bits are read LSB-first through a 64-bit buffer that is refilled eight bytes at a
 * time while at least eight input bytes remain. Near the end of the input the buffer
 * is padded with zero bytes; every decoded symbol is checked against the real input
 * length before it is used, so a truncated stream is reported, never invented.
 *
 * Huffman codes are decoded with a 2^FAST_BITS-entry table indexed by the next
 * FAST_BITS input bits (codes reversed, since DEFLATE packs codes MSB-first), and
 * with a canonical count/symbol walk for the rare longer codes.
 */
#include "inflate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "crc32.h"

/* ---- little-endian loads ------------------------------------------------------ */

static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

int gzip_has_magic(const uint8_t *buf, size_t len)
{
    return buf && len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
}

/* ---- decoder state ------------------------------------------------------------ */

#define FAST_BITS 10
#define FAST_MASK ((1u << FAST_BITS) - 1)
#define MAX_BITS 15
#define MAX_LITLEN 288
#define MAX_DIST 32
/* Bytes kept writable past the logical end of the output so that matches can be
 * copied eight bytes at a time. */
#define OUT_SLACK 16
/* DEFLATE cannot expand by more than 1032:1 (a 258-byte match per two bits, plus
 * block overhead), which bounds the first allocation whatever ISIZE claims. */
#define MAX_RATIO 1032

/* A canonical Huffman code. fast[bits] is (symbol << 4) | length for codes of at most
 * FAST_BITS bits, 0 when the code is longer (or unused in an incomplete code). */
typedef struct {
    uint16_t fast[1u << FAST_BITS];
    uint16_t count[MAX_BITS + 1];  /* number of codes of each length */
    uint16_t symbol[MAX_LITLEN];   /* symbols in canonical code order */
} huff;

typedef struct {
    const uint8_t *in;
    size_t in_len;
    size_t pos;      /* next input byte to load; exceeds in_len by the zero padding */
    uint64_t bits;   /* unconsumed bits, LSB first */
    unsigned nbits;  /* number of valid bits in `bits` */

    uint8_t *out;
    size_t out_len;
    size_t out_cap;     /* writable bytes at out (includes OUT_SLACK when growable) */
    size_t limit;       /* max_out, or `want` for a peek */
    size_t reserve;     /* fast paths need out_len + n + reserve <= out_cap */
    int peek;           /* 1: stop successfully at `limit`, buffer is the caller's */
    size_t member_out;  /* out_len at the start of the current member */

    const char *name;
    ms_err *err;
    ms_status status;
} inflater;

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
/* Order in which the code-length code lengths are stored (RFC 1951 3.2.7). */
static const uint8_t clen_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                       11, 4,  12, 3, 13, 2, 14, 1, 15};

#if defined(__GNUC__) || defined(__clang__)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define FMT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define UNLIKELY(x) (x)
#define FMT_PRINTF(a, b)
#endif

/* Records a format error naming the input; returns -1 for the caller to pass on. */
static int bad(inflater *s, const char *fmt, ...) FMT_PRINTF(2, 3);
static int bad(inflater *s, const char *fmt, ...)
{
    char what[MS_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    /* fmt is a literal at every caller, checked by -Wformat (FMT_PRINTF above). */
    int n = vsnprintf(what, sizeof what, fmt, ap); /* Flawfinder: ignore */
    va_end(ap);
    if (n < 0)
        what[0] = '\0';
    s->status = ms_fail(s->err, MS_EDATA, "%s: invalid gzip data: %s", s->name, what);
    return -1;
}

/* ---- bit input ---------------------------------------------------------------- */

/* Leaves at least 56 bits in the buffer, padding with zeros past the end of input. */
static inline void refill(inflater *s)
{
    if (s->pos <= s->in_len && s->in_len - s->pos >= 8) {
        /* Bits above nbits already hold the same input bits, so OR is harmless. */
        s->bits |= load_le64(s->in + s->pos) << s->nbits;
        s->pos += (63 - s->nbits) >> 3;
        s->nbits |= 56;
    } else {
        while (s->nbits <= 56) {
            uint64_t b = s->pos < s->in_len ? s->in[s->pos] : 0;
            s->bits |= b << s->nbits;
            s->pos++;
            s->nbits += 8;
        }
    }
}

/* 1 if more bits were consumed than the input holds (only zero padding was read). */
static inline int past_end(const inflater *s)
{
    return s->pos > s->in_len && (s->pos - s->in_len) * 8 > s->nbits;
}

/* Takes n <= 32 bits; the caller has refilled. */
static inline uint32_t take(inflater *s, unsigned n)
{
    uint32_t v = (uint32_t)(s->bits & ((1ull << n) - 1));
    s->bits >>= n;
    s->nbits -= n;
    return v;
}

static uint32_t need_bits(inflater *s, unsigned n)
{
    if (s->nbits < n)
        refill(s);
    return take(s, n);
}

/* Drops bits up to the next byte boundary and returns the input offset of the next
 * unread byte (more than in_len if the stream ran out). The bit buffer is emptied. */
static size_t align_to_byte(inflater *s)
{
    s->nbits -= s->nbits & 7;
    size_t p = s->pos - s->nbits / 8;
    s->bits = 0;
    s->nbits = 0;
    s->pos = p;
    return p;
}

/* ---- Huffman tables ----------------------------------------------------------- */

/* Builds h from n code lengths (0 = unused). `what` names the code in messages.
 * Over-subscribed codes are always rejected, and so are incomplete ones unless
 * allow_single is set and the code is empty or a single one-bit code (RFC 1951
 * 3.2.7: one distance code is sent as one bit; a block of literals needs none).
 * Returns the number of symbols with a code, or -1. */
static int huff_build(inflater *s, huff *h, const uint8_t *lens, unsigned n, int allow_single,
                      const char *what)
{
    uint16_t offs[MAX_BITS + 2];
    memset(h->count, 0, sizeof h->count);
    for (unsigned i = 0; i < n; i++)
        h->count[lens[i]]++;
    h->count[0] = 0;
    int left = 1, used = 0;
    for (unsigned len = 1; len <= MAX_BITS; len++) {
        left <<= 1;
        left -= h->count[len];
        used += h->count[len];
        if (left < 0)
            return bad(s, "over-subscribed %s code", what);
    }
    if (left > 0 && !(allow_single && (used == 0 || (used == 1 && h->count[1] == 1))))
        return bad(s, "incomplete %s code", what);

    offs[1] = 0;
    for (unsigned len = 1; len <= MAX_BITS; len++)
        offs[len + 1] = (uint16_t)(offs[len] + h->count[len]);
    memset(h->fast, 0, sizeof h->fast);
    uint32_t code = 0; /* canonical code of the next symbol, MSB-first */
    uint16_t seen[MAX_BITS + 1] = {0};
    /* Symbols in canonical order: by length, then by symbol value. */
    for (unsigned i = 0; i < n; i++)
        if (lens[i])
            h->symbol[offs[lens[i]] + seen[lens[i]]++] = (uint16_t)i;
    for (unsigned len = 1; len <= MAX_BITS; len++) {
        for (unsigned k = 0; k < h->count[len]; k++) {
            unsigned sym = h->symbol[offs[len] + k];
            if (len <= FAST_BITS) {
                uint32_t rev = 0;
                for (unsigned b = 0; b < len; b++)
                    rev |= ((code >> b) & 1u) << (len - 1 - b);
                for (uint32_t f = rev; f < (1u << FAST_BITS); f += 1u << len)
                    h->fast[f] = (uint16_t)(sym << 4 | len);
            }
            code++;
        }
        code <<= 1;
    }
    return used;
}

/* Decodes a code longer than FAST_BITS (or an unused one) by walking the canonical
 * code one bit at a time. The caller has refilled, so MAX_BITS bits are present. */
static int decode_slow(inflater *s, const huff *h)
{
    int code = 0, first = 0, index = 0;
    for (unsigned len = 1; len <= MAX_BITS; len++) {
        code |= (int)((s->bits >> (len - 1)) & 1u);
        int count = h->count[len];
        if (code - first < count) {
            take(s, len);
            return h->symbol[index + code - first];
        }
        index += count;
        first += count;
        first <<= 1;
        code <<= 1;
    }
    return -1;
}

static inline int decode_sym(inflater *s, const huff *h)
{
    unsigned e = h->fast[s->bits & FAST_MASK];
    if (e) {
        s->bits >>= e & 15;
        s->nbits -= e & 15;
        return (int)(e >> 4);
    }
    return decode_slow(s, h);
}

/* ---- output ------------------------------------------------------------------- */

/* Makes room for n more bytes. Returns 0, 1 if a peek is full after writing *n
 * (possibly reduced) bytes, or -1 on error. */
static int out_room(inflater *s, size_t *n)
{
    size_t end;
    if (!size_add(&end, s->out_len, *n) || end > s->limit || (s->peek && end == s->limit)) {
        if (s->peek) {
            *n = s->limit - s->out_len;
            return 1;
        }
        s->status = ms_fail(s->err, MS_EDATA,
                            "%s: decompressed data exceeds the limit of %zu bytes", s->name,
                            s->limit);
        return -1;
    }
    if (s->peek || end + OUT_SLACK <= s->out_cap)
        return 0;
    size_t cap, max_cap;
    if (!size_mul(&cap, s->out_cap, 2))
        cap = SIZE_MAX;
    if (cap < end + OUT_SLACK)
        cap = end + OUT_SLACK;
    if (!size_add(&max_cap, s->limit, OUT_SLACK))
        max_cap = SIZE_MAX;
    if (cap > max_cap)
        cap = max_cap;
    uint8_t *p = realloc(s->out, cap);
    if (!p) {
        s->status = ms_fail(s->err, MS_EINTERNAL,
                            "%s: out of memory decompressing (%zu bytes)", s->name, cap);
        return -1;
    }
    s->out = p;
    s->out_cap = cap;
    return 0;
}

/* Copies a len-byte match from dist bytes back; room has been made. */
static inline void copy_match(inflater *s, size_t dist, size_t len)
{
    uint8_t *d = s->out + s->out_len;
    const uint8_t *src = d - dist;
    if (dist >= 8 && s->out_len + len + 8 <= s->out_cap) {
        /* Each 8-byte chunk reads only bytes written before it. */
        for (size_t i = 0; i < len; i += 8)
            memcpy(d + i, src + i, 8);
    } else if (dist == 1) {
        memset(d, src[0], len);
    } else {
        for (size_t i = 0; i < len; i++)
            d[i] = src[i];
    }
    s->out_len += len;
}

/* ---- blocks ------------------------------------------------------------------- */

static int truncated(inflater *s)
{
    return bad(s, "compressed data ends unexpectedly");
}

/* Decodes one Huffman-coded block with codes lit and dist (dist may have none). */
static int inflate_codes(inflater *s, const huff *lit, const huff *dist, int have_dist)
{
    for (;;) {
        /* 56 bits cover the longest item: 15 + 5 (length) + 15 + 13 (distance). */
        refill(s);
        int sym = decode_sym(s, lit);
        if (sym < 256) {
            if (UNLIKELY(sym < 0))
                return bad(s, "invalid literal/length code");
            if (UNLIKELY(past_end(s)))
                return truncated(s);
            if (UNLIKELY(s->out_len + 1 + s->reserve > s->out_cap)) {
                size_t one = 1;
                int r = out_room(s, &one);
                if (r < 0)
                    return -1;
                if (one)
                    s->out[s->out_len++] = (uint8_t)sym;
                if (r > 0)
                    return 1;
                continue;
            }
            s->out[s->out_len++] = (uint8_t)sym;
            continue;
        }
        if (sym == 256)
            return past_end(s) ? truncated(s) : 0;
        if (UNLIKELY(sym > 285))
            return bad(s, "invalid literal/length symbol %d", sym);
        sym -= 257;
        size_t len = len_base[sym] + take(s, len_extra[sym]);
        if (UNLIKELY(!have_dist))
            return bad(s, "length code used in a block with no distance codes");
        int dsym = decode_sym(s, dist);
        if (UNLIKELY(dsym < 0))
            return bad(s, "invalid distance code");
        if (UNLIKELY(dsym > 29))
            return bad(s, "invalid distance symbol %d", dsym);
        size_t d = dist_base[dsym] + take(s, dist_extra[dsym]);
        if (UNLIKELY(past_end(s)))
            return truncated(s);
        if (UNLIKELY(d > s->out_len - s->member_out))
            return bad(s, "distance %zu too far back (only %zu bytes decoded)", d,
                       s->out_len - s->member_out);
        if (UNLIKELY(s->out_len + len + s->reserve > s->out_cap)) {
            int r = out_room(s, &len);
            if (r < 0)
                return -1;
            copy_match(s, d, len);
            if (r > 0)
                return 1;
            continue;
        }
        copy_match(s, d, len);
    }
}

static int inflate_stored(inflater *s)
{
    size_t p = align_to_byte(s);
    if (p > s->in_len || s->in_len - p < 4)
        return truncated(s);
    size_t len = (size_t)s->in[p] | (size_t)s->in[p + 1] << 8;
    size_t nlen = (size_t)s->in[p + 2] | (size_t)s->in[p + 3] << 8;
    if (len != (~nlen & 0xffff))
        return bad(s, "stored block length %zu does not match its complement", len);
    p += 4;
    if (s->in_len - p < len)
        return truncated(s);
    size_t n = len;
    int r = out_room(s, &n);
    if (r < 0)
        return -1;
    if (n)
        memcpy(s->out + s->out_len, s->in + p, n);
    s->out_len += n;
    s->pos = p + len;
    return r;
}

static void fixed_tables(inflater *s, huff *lit, huff *dist)
{
    uint8_t lens[MAX_LITLEN];
    unsigned i = 0;
    for (; i < 144; i++)
        lens[i] = 8;
    for (; i < 256; i++)
        lens[i] = 9;
    for (; i < 280; i++)
        lens[i] = 7;
    for (; i < 288; i++)
        lens[i] = 8;
    huff_build(s, lit, lens, MAX_LITLEN, 0, "fixed literal/length");
    for (i = 0; i < MAX_DIST; i++)
        lens[i] = 5;
    huff_build(s, dist, lens, MAX_DIST, 0, "fixed distance");
}

/* Reads the code descriptions of a dynamic block (RFC 1951 3.2.7). */
static int dynamic_tables(inflater *s, huff *lit, huff *dist, int *have_dist)
{
    refill(s);
    unsigned nlit = take(s, 5) + 257, ndist = take(s, 5) + 1, nclen = take(s, 4) + 4;
    if (nlit > 286)
        return bad(s, "%u literal/length codes (at most 286)", nlit);
    if (ndist > 30)
        return bad(s, "%u distance codes (at most 30)", ndist);
    uint8_t lens[286 + 30];
    memset(lens, 0, 19);
    for (unsigned i = 0; i < nclen; i++)
        lens[clen_order[i]] = (uint8_t)need_bits(s, 3);
    if (past_end(s))
        return truncated(s);
    huff *clen = lit; /* the code-length code is done before lit is needed */
    if (huff_build(s, clen, lens, 19, 0, "code length") < 0)
        return -1;

    unsigned n = 0;
    while (n < nlit + ndist) {
        refill(s);
        int sym = decode_sym(s, clen);
        if (sym < 0)
            return bad(s, "invalid code length code");
        unsigned rep;
        uint8_t val = 0;
        if (sym < 16) {
            lens[n++] = (uint8_t)sym;
            continue;
        } else if (sym == 16) {
            if (n == 0)
                return bad(s, "code length repeat with no previous length");
            val = lens[n - 1];
            rep = 3 + take(s, 2);
        } else if (sym == 17) {
            rep = 3 + take(s, 3);
        } else {
            rep = 11 + take(s, 7);
        }
        if (rep > nlit + ndist - n)
            return bad(s, "code length repeat runs past the %u codes", nlit + ndist);
        memset(lens + n, val, rep);
        n += rep;
    }
    if (past_end(s))
        return truncated(s);
    if (lens[256] == 0)
        return bad(s, "no end-of-block code");
    if (huff_build(s, lit, lens, nlit, 1, "literal/length") < 0)
        return -1;
    int nd = huff_build(s, dist, lens + nlit, ndist, 1, "distance");
    if (nd < 0)
        return -1;
    *have_dist = nd > 0;
    return 0;
}

/* Decodes one DEFLATE stream starting at input offset `start`. On success returns 0
 * (or 1 when a peek is full) and sets *end to the offset after the last block. */
static int inflate_stream(inflater *s, size_t start, size_t *end)
{
    /* Zeroed, so no path can read a table entry that was never built (clang-analyzer
     * cannot see that bad(), being variadic, always returns -1). */
    huff *t = calloc(2, sizeof *t);
    if (!t) {
        s->status = ms_fail(s->err, MS_EINTERNAL, "%s: out of memory", s->name);
        return -1;
    }
    huff *lit = &t[0], *dist = &t[1];
    s->pos = start;
    s->bits = 0;
    s->nbits = 0;
    int fixed_ready = 0, r = 0, last = 0;
    while (!last && r == 0) {
        refill(s);
        last = (int)take(s, 1);
        unsigned type = take(s, 2);
        if (past_end(s)) {
            r = truncated(s);
        } else if (type == 0) {
            r = inflate_stored(s);
        } else if (type == 1) {
            if (!fixed_ready)
                fixed_tables(s, lit, dist);
            fixed_ready = 1;
            r = inflate_codes(s, lit, dist, 1);
        } else if (type == 2) {
            int have_dist = 0;
            fixed_ready = 0;
            r = dynamic_tables(s, lit, dist, &have_dist);
            if (r == 0)
                r = inflate_codes(s, lit, dist, have_dist);
        } else {
            r = bad(s, "reserved block type 3");
        }
    }
    free(t);
    if (r == 0) {
        *end = align_to_byte(s);
        if (*end > s->in_len)
            r = truncated(s);
    }
    return r;
}

/* ---- gzip --------------------------------------------------------------------- */

#define FTEXT 0x01
#define FHCRC 0x02
#define FEXTRA 0x04
#define FNAME 0x08
#define FCOMMENT 0x10
#define FRESERVED 0xe0

/* Parses a member header at `off`; sets *body to the offset of the DEFLATE data. */
static int gzip_header(inflater *s, size_t off, size_t *body)
{
    const uint8_t *h = s->in + off;
    size_t avail = s->in_len - off;
    if (avail < 10)
        return bad(s, "header at offset %zu is truncated", off);
    if (h[0] != 0x1f || h[1] != 0x8b)
        return bad(s, "no gzip magic bytes at offset %zu (found %02x %02x)", off, h[0], h[1]);
    if (h[2] != 8)
        return bad(s, "compression method %u at offset %zu (only 8, deflate, exists)", h[2],
                   off);
    unsigned flg = h[3];
    if (flg & FRESERVED)
        return bad(s, "reserved header flags 0x%02x set at offset %zu", flg & FRESERVED, off);
    size_t p = 10;
    if (flg & FEXTRA) {
        if (avail - p < 2)
            return bad(s, "extra field length at offset %zu is truncated", off + p);
        size_t xlen = (size_t)h[p] | (size_t)h[p + 1] << 8;
        p += 2;
        if (avail - p < xlen)
            return bad(s, "extra field of %zu bytes at offset %zu is truncated", xlen, off + p);
        p += xlen;
    }
    if (flg & FNAME) {
        const uint8_t *z = memchr(h + p, 0, avail - p);
        if (!z)
            return bad(s, "file name in header at offset %zu is not terminated", off + p);
        p = (size_t)(z - h) + 1;
    }
    if (flg & FCOMMENT) {
        const uint8_t *z = memchr(h + p, 0, avail - p);
        if (!z)
            return bad(s, "comment in header at offset %zu is not terminated", off + p);
        p = (size_t)(z - h) + 1;
    }
    if (flg & FHCRC) {
        if (avail - p < 2)
            return bad(s, "header CRC at offset %zu is truncated", off + p);
        unsigned want = (unsigned)h[p] | (unsigned)h[p + 1] << 8;
        unsigned got = crc32_update(0, h, p) & 0xffff;
#ifndef MNISTSEC_FUZZ
        if (want != got)
            return bad(s, "header CRC 0x%04x does not match the header (0x%04x)", want, got);
#else
        (void)want;
        (void)got;
#endif
        p += 2;
    }
    *body = off + p;
    return 0;
}

/* Checks the 8-byte trailer at `off` against the member's output. */
static int gzip_trailer(inflater *s, size_t off)
{
    if (s->in_len - off < 8)
        return bad(s, "trailer at offset %zu is truncated", off);
    uint32_t want_crc = load_le32(s->in + off), want_len = load_le32(s->in + off + 4);
    size_t n = s->out_len - s->member_out;
    uint32_t got_len = (uint32_t)(n & 0xffffffffu);
    if (want_len != got_len)
        return bad(s, "length %zu does not match the trailer (%lu mod 2^32)", n,
                   (unsigned long)want_len);
    uint32_t got_crc = crc32_update(0, s->out + s->member_out, n);
#ifndef MNISTSEC_FUZZ
    if (want_crc != got_crc)
        return bad(s, "CRC-32 0x%08lx does not match the trailer (0x%08lx)",
                   (unsigned long)got_crc, (unsigned long)want_crc);
#else
    (void)want_crc;
    (void)got_crc;
#endif
    return 0;
}

static void inflater_init(inflater *s, const uint8_t *in, size_t in_len, const char *name,
                          ms_err *err)
{
    memset(s, 0, sizeof *s);
    s->in = in ? in : (const uint8_t *)"";
    s->in_len = in ? in_len : 0;
    s->name = name ? name : "(input)";
    s->err = err;
    s->status = MS_OK;
}

ms_status gzip_decompress(const uint8_t *in, size_t in_len, size_t max_out, const char *name,
                          uint8_t **out, size_t *out_len, ms_err *err)
{
    *out = NULL;
    *out_len = 0;
    inflater s;
    inflater_init(&s, in, in_len, name, err);
    s.limit = max_out;
    s.reserve = OUT_SLACK; /* out_cap <= limit + OUT_SLACK, so this also checks limit */

    /* First allocation: the last member's ISIZE, bounded by the cap and by the most
     * the input could possibly expand to. */
    size_t cap = 0, bound;
    if (s.in_len >= 4)
        cap = load_le32(s.in + s.in_len - 4);
    if (!size_mul(&bound, s.in_len, MAX_RATIO))
        bound = SIZE_MAX;
    if (cap > bound)
        cap = bound;
    if (cap > max_out)
        cap = max_out;
    if (cap < 4096)
        cap = max_out < 4096 ? max_out : 4096;
    cap += OUT_SLACK;
    s.out = malloc(cap);
    if (!s.out)
        return ms_fail(err, MS_EINTERNAL, "%s: out of memory (%zu bytes)", s.name, cap);
    s.out_cap = cap;

    size_t off = 0;
    int r = 0;
    for (int member = 0; r == 0; member++) {
        if (member > 0 && off == s.in_len)
            break;
        if (member > 0 && !gzip_has_magic(s.in + off, s.in_len - off)) {
            r = bad(&s, "%zu bytes of trailing data at offset %zu are not a gzip member",
                    s.in_len - off, off);
            break;
        }
        size_t body = 0, end = 0;
        s.member_out = s.out_len;
        r = gzip_header(&s, off, &body);
        if (r == 0)
            r = inflate_stream(&s, body, &end);
        if (r == 0)
            r = gzip_trailer(&s, end);
        if (r == 0)
            off = end + 8;
    }
    if (r != 0) {
        free(s.out);
        return s.status;
    }
    *out = s.out;
    *out_len = s.out_len;
    return MS_OK;
}

ms_status gzip_peek(const uint8_t *in, size_t in_len, uint8_t *dst, size_t want, size_t *got,
                    const char *name, ms_err *err)
{
    *got = 0;
    inflater s;
    inflater_init(&s, in, in_len, name, err);
    s.peek = 1;
    s.out = dst;
    s.out_cap = dst ? want : 0;
    s.limit = s.out_cap;
    s.reserve = 1; /* out_cap == limit: stop as soon as the output is full */
    size_t body = 0, end = 0;
    int r = gzip_header(&s, 0, &body);
    if (r == 0 && s.limit > 0)
        r = inflate_stream(&s, body, &end);
    if (r < 0)
        return s.status;
    *got = s.out_len;
    return MS_OK;
}
