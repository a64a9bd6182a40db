/* idx.c - IDX reading/writing with integrity checks (see idx.h).
 *
 * Every input file is hostile: the header is validated field by field and the size it
 * implies is computed with overflow checks, capped, and compared with the real size
 * before the payload is touched. For gzip files the header is decompressed first
 * (gzip_peek) so the exact decompressed size is known and passed as the output cap.
 *
 * Legend for shape comments: n items, r rows, c cols.
 */
#include "idx.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checked.h"
#include "fileio.h"
#include "inflate.h"
#include "sha256.h"

/* Largest header: magic (2) + type (1) + ndim (1) + one uint32 per dimension. */
#define IDX_MAX_HEADER (4 + 4 * IDX_MAX_DIMS)

/* Extra decompressed bytes allowed beyond the size the header implies, so that small
 * amounts of trailing data are reported with their exact length. */
#define GZIP_TRAILING_SLACK ((size_t)1 << 16)

/* DEFLATE can expand by at most 1032:1 (a 258-byte match in 2 bits); a header that
 * implies more than this from the compressed size cannot be satisfied. */
#define DEFLATE_MAX_RATIO 1032

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t elem_size(int type)
{
    return type == IDX_TYPE_F32 ? 4 : 1;
}

/* What the header says: type, dims, element count and the exact total byte length. */
typedef struct {
    int type;
    size_t ndim;
    size_t dims[IDX_MAX_DIMS];
    size_t count;    /* product of dims */
    size_t header;   /* header bytes: 4 + 4*ndim */
    size_t total;    /* header + payload bytes */
} idx_header;

/* Validates the header in buf[0..avail) (avail may be shorter than the whole file,
 * e.g. a peeked gzip prefix). `what` names the byte source in messages ("file" or
 * "decompressed data"). Nothing is allocated. */
static ms_status header_parse(const uint8_t *buf, size_t avail, const char *name,
                              const char *what, idx_header *h, ms_err *err)
{
    memset(h, 0, sizeof *h);
    if (avail == 0)
        return ms_fail(err, MS_EDATA, "%s: empty %s (no IDX header)", name, what);
    if (avail < 4)
        return ms_fail(err, MS_EDATA,
                       "%s: truncated header: expected at least 4 bytes, %s has %zu", name,
                       what, avail);
    if (buf[0] != 0 || buf[1] != 0)
        return ms_fail(err, MS_EDATA,
                       "%s: bad magic: first two bytes are 0x%02x 0x%02x, expected 0x00 0x00"
                       " (not an IDX file)",
                       name, buf[0], buf[1]);
    if (buf[2] != IDX_TYPE_U8 && buf[2] != IDX_TYPE_F32)
        return ms_fail(err, MS_EDATA,
                       "%s: bad type byte 0x%02x: expected 0x08 (unsigned byte) or 0x0d "
                       "(float32)",
                       name, buf[2]);
    if (buf[3] < 1 || buf[3] > IDX_MAX_DIMS)
        return ms_fail(err, MS_EDATA, "%s: bad dimension count %u: expected 1..%d", name,
                       (unsigned)buf[3], IDX_MAX_DIMS);
    h->type = buf[2];
    h->ndim = buf[3];
    h->header = 4 + 4 * h->ndim;
    if (avail < h->header)
        return ms_fail(err, MS_EDATA,
                       "%s: truncated header: expected %zu bytes (dimension count %zu), %s "
                       "has %zu",
                       name, h->header, h->ndim, what, avail);
    for (size_t i = 0; i < h->ndim; i++) {
        h->dims[i] = load_be32(buf + 4 + 4 * i);
        if (h->dims[i] == 0)
            return ms_fail(err, MS_EDATA, "%s: dimension %zu is 0", name, i);
    }
    if (h->dims[0] > IDX_MAX_ITEMS)
        return ms_fail(err, MS_EDATA,
                       "%s: item count (dimension 0) %zu exceeds the limit of %zu", name,
                       h->dims[0], IDX_MAX_ITEMS);
    size_t count = 1, payload, total;
    for (size_t i = 0; i < h->ndim; i++)
        if (!size_mul(&count, count, h->dims[i]))
            return ms_fail(err, MS_EDATA,
                           "%s: dimensions overflow the element count (limit %zu bytes)", name,
                           IDX_MAX_BYTES);
    if (!size_mul(&payload, count, elem_size(h->type)) ||
        !size_add(&total, payload, h->header) || total > IDX_MAX_BYTES)
        return ms_fail(err, MS_EDATA,
                       "%s: header implies %zu elements of %zu bytes, more than the limit of "
                       "%zu bytes",
                       name, count, elem_size(h->type), IDX_MAX_BYTES);
    h->count = count;
    h->total = total;
    return MS_OK;
}

/* Checks that len matches the header exactly and decodes the payload into out.
 * If *owned is non-NULL it is the malloc'd block that holds buf, and the payload is
 * decoded in place into it (ownership moves to out and *owned becomes NULL);
 * otherwise a new block is allocated. */
static ms_status decode(const uint8_t *buf, size_t len, const char *name, const char *what,
                        uint8_t **owned, idx_array *out, ms_err *err)
{
    /* A NULL buffer only ever comes with len 0 (e.g. an empty gzip member), which
     * header_parse rejects the same way; said first for the analyzers. */
    if (!buf)
        return ms_fail(err, MS_EDATA, "%s: empty %s (no IDX header)", name, what);
    idx_header h;
    ms_status st = header_parse(buf, len, name, what, &h, err);
    if (st != MS_OK)
        return st;
    if (len < h.total)
        return ms_fail(err, MS_EDATA, "%s: truncated: expected %zu bytes, %s has %zu", name,
                       h.total, what, len);
    if (len > h.total)
        return ms_fail(err, MS_EDATA, "%s: %zu trailing bytes after the %zu bytes the header "
                                      "implies",
                       name, len - h.total, h.total);
    const uint8_t *src = buf + h.header;
    if (h.type == IDX_TYPE_F32) {
        /* Validate before allocating or touching an owned buffer. */
        for (size_t i = 0; i < h.count; i++) {
            uint32_t u = load_be32(src + 4 * i);
            float f;
            memcpy(&f, &u, sizeof f);
            if (!isfinite(f))
                return ms_fail(err, MS_EDATA, "%s: float32 element %zu is not finite (%g)",
                               name, i, (double)f);
        }
    }
    size_t nbytes = h.count * elem_size(h.type); /* <= h.total, cannot overflow */
    /* header_parse rejects zero dimensions, so this never fires; it keeps malloc(0)
     * and realloc(p, 0) (implementation-defined) provably out of reach. */
    if (nbytes == 0)
        return ms_fail(err, MS_EDATA, "%s: empty payload", name);
    uint8_t *dst;
    int in_place = owned && *owned;
    if (in_place) {
        dst = *owned;
        *owned = NULL;
    } else {
        dst = malloc(nbytes);
        if (!dst)
            return ms_fail(err, MS_EINTERNAL, "%s: out of memory for %zu bytes", name, nbytes);
    }
    if (h.type == IDX_TYPE_U8) {
        memmove(dst, src, nbytes);
    } else {
        /* In place this is safe: element i is written at 4i, below its source at
         * header+4i, and every later source lies beyond it. */
        for (size_t i = 0; i < h.count; i++) {
            uint32_t u = load_be32(src + 4 * i);
            float f;
            memcpy(&f, &u, sizeof f);
            memcpy(dst + 4 * i, &f, sizeof f);
        }
    }
    if (in_place) {
        uint8_t *shrunk = realloc(dst, nbytes);
        if (shrunk)
            dst = shrunk;
    }
    out->type = h.type;
    out->ndim = h.ndim;
    memcpy(out->dims, h.dims, sizeof out->dims);
    out->count = h.count;
    out->data = dst;
    return MS_OK;
}

ms_status idx_parse(const uint8_t *buf, size_t len, const char *name, idx_array *out,
                    ms_err *err)
{
    memset(out, 0, sizeof *out);
    ms_status st = decode(buf, len, name, "file", NULL, out, err);
    if (st == MS_OK)
        sha256_hex(buf, len, out->sha256);
    return st;
}

/* Decompresses a gzip IDX with the output capped at what its header implies. */
static ms_status parse_gzip(const uint8_t *buf, size_t len, const char *name, idx_array *out,
                            ms_err *err)
{
    uint8_t head[IDX_MAX_HEADER];
    size_t got = 0;
    ms_status st = gzip_peek(buf, len, head, sizeof head, &got, name, err);
    if (st != MS_OK)
        return st;
    idx_header h;
    st = header_parse(head, got, name, "decompressed data", &h, err);
    if (st != MS_OK)
        return st;
    size_t reachable;
    if (size_mul(&reachable, len, DEFLATE_MAX_RATIO) && h.total > reachable)
        return ms_fail(err, MS_EDATA,
                       "%s: truncated: header implies %zu bytes, but %zu gzip bytes cannot "
                       "hold more than %zu",
                       name, h.total, len, reachable);
    size_t max_out;
    if (!size_add(&max_out, h.total, GZIP_TRAILING_SLACK))
        max_out = h.total;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    st = gzip_decompress(buf, len, max_out, name, &raw, &raw_len, err);
    if (st != MS_OK)
        return st;
    st = decode(raw, raw_len, name, "decompressed data", &raw, out, err);
    free(raw); /* NULL when decode took it */
    return st;
}

ms_status idx_parse_file_bytes(const uint8_t *buf, size_t len, const char *name,
                               idx_array *out, ms_err *err)
{
    memset(out, 0, sizeof *out);
    ms_status st;
    if (gzip_has_magic(buf, len))
        st = parse_gzip(buf, len, name, out, err);
    else
        st = decode(buf, len, name, "file", NULL, out, err);
    if (st != MS_OK) {
        idx_free(out);
        return st;
    }
    sha256_hex(buf, len, out->sha256);
    return MS_OK;
}

ms_status idx_read_file(const char *path, idx_array *out, ms_err *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf = NULL;
    size_t len = 0;
    ms_status st = file_read_all(path, IDX_MAX_BYTES, &buf, &len, err);
    if (st != MS_OK)
        return st;
    if (gzip_has_magic(buf, len)) {
        st = idx_parse_file_bytes(buf, len, path, out, err);
    } else {
        /* Raw file: decode in place in the buffer just read, no second copy. */
        char hex[65];
        sha256_hex(buf, len, hex);
        st = decode(buf, len, path, "file", &buf, out, err);
        if (st == MS_OK)
            memcpy(out->sha256, hex, sizeof hex);
    }
    free(buf); /* NULL when decode took it */
    return st;
}

void idx_free(idx_array *a)
{
    if (!a)
        return;
    free(a->data);
    a->data = NULL;
    a->count = 0;
}

ms_status idx_write_to(outset *s, const char *path, int type, size_t ndim, const size_t *dims,
                       const void *data, ms_err *err)
{
    if (type != IDX_TYPE_U8 && type != IDX_TYPE_F32)
        return ms_fail(err, MS_EINTERNAL, "%s: cannot write IDX type 0x%02x", path,
                       (unsigned)type);
    if (ndim < 1 || ndim > IDX_MAX_DIMS)
        return ms_fail(err, MS_EINTERNAL, "%s: cannot write %zu dimensions (1..%d)", path,
                       ndim, IDX_MAX_DIMS);
    uint8_t head[IDX_MAX_HEADER] = {0, 0, (uint8_t)type, (uint8_t)ndim};
    size_t count = 1;
    /* (i < IDX_MAX_DIMS repeats the check above for gcc's -Wstringop-overflow) */
    for (size_t i = 0; i < ndim && i < IDX_MAX_DIMS; i++) {
        if (dims[i] == 0 || dims[i] > UINT32_MAX || !size_mul(&count, count, dims[i]))
            return ms_fail(err, MS_EINTERNAL, "%s: cannot write dimension %zu = %zu", path, i,
                           dims[i]);
        store_be32(head + 4 + 4 * i, (uint32_t)dims[i]);
    }
    size_t payload, total;
    if (dims[0] > IDX_MAX_ITEMS || !size_mul(&payload, count, elem_size(type)) ||
        !size_add(&total, payload, 4 + 4 * ndim) || total > IDX_MAX_BYTES)
        return ms_fail(err, MS_EINTERNAL, "%s: IDX of %zu elements exceeds the size limits",
                       path, count);
    ms_status st = type == IDX_TYPE_F32 ? floats_check_finite(path, data, count, err) : MS_OK;
    if (st != MS_OK)
        return st;
    FILE *fp;
    st = outset_open(s, path, &fp, err);
    if (st != MS_OK)
        return st;
    if (!fp) /* set whenever outset_open succeeds; said for the analyzers */
        return ms_fail(err, MS_EINTERNAL, "%s: no output stream", path);
    int ok = fwrite(head, 1, 4 + 4 * ndim, fp) == 4 + 4 * ndim;
    if (ok && type == IDX_TYPE_U8) {
        ok = fwrite(data, 1, count, fp) == count;
    } else if (ok) {
        /* Big-endian float32, converted in chunks. */
        const float *f = data;
        uint8_t chunk[4096];
        for (size_t i = 0; ok && i < count;) {
            size_t k = 0;
            for (; k < sizeof chunk / 4 && i < count; k++, i++) {
                uint32_t u;
                memcpy(&u, &f[i], 4);
                store_be32(chunk + 4 * k, u);
            }
            ok = fwrite(chunk, 4, k, fp) == k;
        }
    }
    if (!ok)
        return ms_fail(err, MS_EIO, "%s: write error", path);
    return MS_OK;
}

ms_status idx_write_file(const char *path, int type, size_t ndim, const size_t *dims,
                         const void *data, ms_err *err)
{
    outset s;
    outset_init(&s);
    ms_status st = idx_write_to(&s, path, type, ndim, dims, data, err);
    if (st != MS_OK) {
        outset_abort(&s);
        return st;
    }
    return outset_commit(&s, err);
}
