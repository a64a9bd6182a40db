/* checkpoint.c - model checkpoint files: encoder, atomic saver and hostile-input
 * loader (format in docs/CHECKPOINT.md).
 *
 * Layout: "MNSECKPT", u32 version, u32 tensor count, u32 metadata length, metadata,
 * per tensor {u32 name length, name, u32 ndim, u32 dims[ndim]}, zero padding to a
 * multiple of 4, the float32 payloads in tensor order, u32 CRC-32 of all bytes
 * before it. Every integer and float is little-endian; they are assembled byte by
 * byte, so the code is right whatever the host byte order.
 *
 * The loader validates the whole file (structure, names, shapes, exact size, CRC,
 * finiteness) before it writes anything into the caller's tensors.
 */
#include "checkpoint.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "crc32.h"
#include "fileio.h"

/* Floats are moved as their 32-bit patterns; this needs IEEE-754 binary32. */
_Static_assert(sizeof(float) == 4 && FLT_RADIX == 2 && FLT_MANT_DIG == 24 &&
                   FLT_MAX_EXP == 128,
               "checkpoint files need IEEE-754 binary32 floats");

#define CKPT_MAGIC "MNSECKPT"
#define CKPT_MAGIC_LEN 8
#define CKPT_VERSION 1u
/* magic + version + tensor count + metadata length */
#define CKPT_FIXED_HEADER (CKPT_MAGIC_LEN + 12)
#define CKPT_CRC_LEN 4

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

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* NULL if the binary32 pattern u is finite, else "NaN", "+Inf" or "-Inf". */
static const char *nonfinite_name(uint32_t u)
{
    if ((u & 0x7f800000u) != 0x7f800000u)
        return NULL;
    if (u & 0x007fffffu)
        return "NaN";
    return (u & 0x80000000u) ? "-Inf" : "+Inf";
}

static int name_char_ok(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

static int meta_char_ok(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e;
}

/* Checks one caller-supplied tensor description (used by both encoder and loader,
 * where a bad description is a bug in the program, not in the file). On success
 * *elems is the number of floats. */
static ms_status check_desc(const char *file, const char *op, const ckpt_tensor *t,
                            size_t i, size_t *elems, ms_err *err)
{
    if (!t->name)
        return ms_fail(err, MS_EINTERNAL, "%s: cannot %s: tensor %zu has no name", file, op,
                       i);
    size_t nl = strlen(t->name);
    if (nl == 0 || nl > CKPT_MAX_NAME)
        return ms_fail(err, MS_EINTERNAL,
                       "%s: cannot %s: tensor %zu name length %zu outside 1..%d", file, op,
                       i, nl, CKPT_MAX_NAME);
    for (size_t k = 0; k < nl; k++)
        if (!name_char_ok((unsigned char)t->name[k]))
            return ms_fail(err, MS_EINTERNAL,
                           "%s: cannot %s: tensor %zu name \"%s\" has a character outside "
                           "[A-Za-z0-9._-] at position %zu",
                           file, op, i, t->name, k);
    if (t->ndim < 1 || t->ndim > CKPT_MAX_DIMS)
        return ms_fail(err, MS_EINTERNAL, "%s: cannot %s: tensor '%s' ndim %zu outside 1..%d",
                       file, op, t->name, t->ndim, CKPT_MAX_DIMS);
    size_t n = 1;
    for (size_t d = 0; d < t->ndim; d++) {
        if (t->dims[d] < 1 || t->dims[d] > UINT32_MAX)
            return ms_fail(err, MS_EINTERNAL,
                           "%s: cannot %s: tensor '%s' dims[%zu] = %zu outside 1..%lu", file,
                           op, t->name, d, t->dims[d], (unsigned long)UINT32_MAX);
        if (!size_mul(&n, n, t->dims[d]))
            return ms_fail(err, MS_EINTERNAL,
                           "%s: cannot %s: tensor '%s' element count overflows", file, op,
                           t->name);
    }
    if (!t->data)
        return ms_fail(err, MS_EINTERNAL, "%s: cannot %s: tensor '%s' has no data", file, op,
                       t->name);
    *elems = n;
    return MS_OK;
}

/* "8x1x3x3" into buf. */
static void shape_str(char *buf, size_t cap, const size_t *dims, size_t ndim)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t d = 0; d < ndim && used < cap; d++) {
        int k = snprintf(buf + used, cap - used, "%s%zu", d ? "x" : "", dims[d]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

ms_status checkpoint_encode(const char *name, const char *meta, const ckpt_tensor *t,
                            size_t count, uint8_t **out, size_t *len, ms_err *err)
{
    *out = NULL;
    *len = 0;
    const char *op = "save checkpoint";
    if (count < 1 || count > CKPT_MAX_TENSORS)
        return ms_fail(err, MS_EINTERNAL, "%s: cannot %s: tensor count %zu outside 1..%d",
                       name, op, count, CKPT_MAX_TENSORS);
    if (!meta)
        meta = "";
    size_t meta_len = strlen(meta);
    if (meta_len > CKPT_MAX_META)
        return ms_fail(err, MS_EINTERNAL,
                       "%s: cannot %s: metadata is %zu bytes, the limit is %d", name, op,
                       meta_len, CKPT_MAX_META);
    for (size_t k = 0; k < meta_len; k++)
        if (!meta_char_ok((unsigned char)meta[k]))
            return ms_fail(err, MS_EINTERNAL,
                           "%s: cannot %s: metadata byte %zu (0x%02x) is not printable ASCII",
                           name, op, k, (unsigned)(unsigned char)meta[k]);

    /* Size: fixed header + metadata + tensor headers + pad + payloads + CRC. */
    size_t elems[CKPT_MAX_TENSORS] = {0}; /* [i < count] set by check_desc */
    size_t total = CKPT_FIXED_HEADER + meta_len;
    size_t payload = 0;
    for (size_t i = 0; i < count; i++) {
        ms_status s = check_desc(name, op, &t[i], i, &elems[i], err);
        if (s != MS_OK)
            return s;
        for (size_t j = 0; j < i; j++)
            if (strcmp(t[i].name, t[j].name) == 0)
                return ms_fail(err, MS_EINTERNAL,
                               "%s: cannot %s: tensors %zu and %zu are both named '%s'", name,
                               op, j, i, t[i].name);
        size_t hdr, bytes;
        if (!size_mul(&hdr, 4, t[i].ndim) || !size_add(&hdr, hdr, 8 + strlen(t[i].name)) ||
            !size_add(&total, total, hdr) || !size_mul(&bytes, elems[i], 4) ||
            !size_add(&payload, payload, bytes))
            return ms_fail(err, MS_EINTERNAL, "%s: cannot %s: file size overflows", name, op);
    }
    size_t pad = (4 - total % 4) % 4;
    size_t data_off = total + pad;
    if (!size_add(&total, data_off, payload) || !size_add(&total, total, CKPT_CRC_LEN) ||
        total > CKPT_MAX_BYTES)
        return ms_fail(err, MS_EINTERNAL,
                       "%s: cannot %s: file would exceed the limit of %zu bytes", name, op,
                       (size_t)CKPT_MAX_BYTES);

    uint8_t *buf = malloc(total);
    if (!buf)
        return ms_fail(err, MS_EINTERNAL, "%s: out of memory encoding checkpoint", name);
    size_t pos = 0;
    /* The magic and the length-prefixed strings below are stored without a terminating
     * NUL, by design (docs/CHECKPOINT.md). */
    memcpy(buf, CKPT_MAGIC, CKPT_MAGIC_LEN); /* NOLINT(bugprone-not-null-terminated-result) */
    pos += CKPT_MAGIC_LEN;
    wr32(buf + pos, CKPT_VERSION);
    wr32(buf + pos + 4, (uint32_t)count);
    wr32(buf + pos + 8, (uint32_t)meta_len);
    pos += 12;
    memcpy(buf + pos, meta, meta_len); /* NOLINT(bugprone-not-null-terminated-result) */
    pos += meta_len;
    for (size_t i = 0; i < count; i++) {
        size_t nl = strlen(t[i].name);
        wr32(buf + pos, (uint32_t)nl);
        memcpy(buf + pos + 4, t[i].name, nl);
        pos += 4 + nl;
        wr32(buf + pos, (uint32_t)t[i].ndim);
        pos += 4;
        for (size_t d = 0; d < t[i].ndim; d++) {
            wr32(buf + pos, (uint32_t)t[i].dims[d]);
            pos += 4;
        }
    }
    memset(buf + pos, 0, pad);
    pos += pad;
    for (size_t i = 0; i < count; i++) {
        for (size_t k = 0; k < elems[i]; k++) {
            uint32_t u = float_bits(t[i].data[k]);
            const char *bad = nonfinite_name(u);
            if (bad) {
                free(buf);
                return ms_fail(err, MS_EDATA,
                               "%s: cannot %s: tensor '%s' element %zu is %s", name, op,
                               t[i].name, k, bad);
            }
            wr32(buf + pos, u);
            pos += 4;
        }
    }
    wr32(buf + pos, crc32_update(0, buf, pos));
    *out = buf;
    *len = total;
    return MS_OK;
}

ms_status checkpoint_save_meta(const char *path, const char *meta, const ckpt_tensor *t,
                               size_t count, ms_err *err)
{
    uint8_t *buf;
    size_t len;
    ms_status s = checkpoint_encode(path, meta, t, count, &buf, &len, err);
    if (s != MS_OK)
        return s;
    s = file_write_atomic(path, buf, len, err);
    free(buf);
    return s;
}

ms_status checkpoint_save(const char *path, const ckpt_tensor *t, size_t count, ms_err *err)
{
    return checkpoint_save_meta(path, NULL, t, count, err);
}

/* A cursor over the untrusted file; every read is bounds-checked. */
typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    const char *name;
} reader;

static ms_status read_u32(reader *r, uint32_t *v, const char *field, ms_err *err)
{
    if (r->len - r->pos < 4)
        return ms_fail(err, MS_EDATA,
                       "%s: truncated: %s at offset %zu needs 4 bytes, file has %zu", r->name,
                       field, r->pos, r->len);
    *v = rd32(r->buf + r->pos);
    r->pos += 4;
    return MS_OK;
}

static ms_status parse(const uint8_t *buf, size_t len, const char *name, ckpt_tensor *t,
                       size_t count, char *meta_out, ms_err *err)
{
    const char *op = "load checkpoint";
    if (count < 1 || count > CKPT_MAX_TENSORS)
        return ms_fail(err, MS_EINTERNAL, "%s: cannot %s: expected tensor count %zu outside 1..%d",
                       name, op, count, CKPT_MAX_TENSORS);
    size_t elems[CKPT_MAX_TENSORS] = {0}; /* [i < count] set by check_desc */
    for (size_t i = 0; i < count; i++) {
        ms_status s = check_desc(name, op, &t[i], i, &elems[i], err);
        if (s != MS_OK)
            return s;
    }

    reader r = {buf, len, 0, name};
    size_t m = len < CKPT_MAGIC_LEN ? len : CKPT_MAGIC_LEN;
    if (m > 0 && memcmp(buf, CKPT_MAGIC, m) != 0)
        return ms_fail(err, MS_EDATA, "%s: magic: not a checkpoint (does not start with \"%s\")",
                       name, CKPT_MAGIC);
    if (len < CKPT_MAGIC_LEN)
        return ms_fail(err, MS_EDATA, "%s: truncated: magic needs %d bytes, file has %zu", name,
                       CKPT_MAGIC_LEN, len);
    r.pos = CKPT_MAGIC_LEN;

    uint32_t version = 0, n = 0, meta_len = 0;
    ms_status s = read_u32(&r, &version, "version", err);
    if (s != MS_OK)
        return s;
    if (version != CKPT_VERSION)
        return ms_fail(err, MS_EDATA, "%s: version is %lu, this program reads version %u",
                       name, (unsigned long)version, CKPT_VERSION);
    if ((s = read_u32(&r, &n, "tensor count", err)) != MS_OK)
        return s;
    if (n < 1 || n > CKPT_MAX_TENSORS)
        return ms_fail(err, MS_EDATA, "%s: tensor count is %lu, outside 1..%d", name,
                       (unsigned long)n, CKPT_MAX_TENSORS);
    if (n != count)
        return ms_fail(err, MS_EDATA, "%s: tensor count is %lu, expected %zu", name,
                       (unsigned long)n, count);
    if ((s = read_u32(&r, &meta_len, "metadata length", err)) != MS_OK)
        return s;
    if (meta_len > CKPT_MAX_META)
        return ms_fail(err, MS_EDATA, "%s: metadata length is %lu, the limit is %d", name,
                       (unsigned long)meta_len, CKPT_MAX_META);
    if (len - r.pos < meta_len)
        return ms_fail(err, MS_EDATA,
                       "%s: truncated: metadata at offset %zu needs %lu bytes, file has %zu",
                       name, r.pos, (unsigned long)meta_len, len);
    const uint8_t *meta = buf + r.pos;
    for (size_t k = 0; k < meta_len; k++)
        if (!meta_char_ok(meta[k]))
            return ms_fail(err, MS_EDATA,
                           "%s: metadata byte %zu (0x%02x) is not printable ASCII", name, k,
                           (unsigned)meta[k]);
    r.pos += meta_len;

    char field[128];
    for (size_t i = 0; i < count; i++) {
        uint32_t nl = 0, ndim = 0;
        snprintf(field, sizeof field, "tensor %zu name length", i);
        if ((s = read_u32(&r, &nl, field, err)) != MS_OK)
            return s;
        if (nl < 1 || nl > CKPT_MAX_NAME)
            return ms_fail(err, MS_EDATA, "%s: tensor %zu name length is %lu, outside 1..%d",
                           name, i, (unsigned long)nl, CKPT_MAX_NAME);
        if (len - r.pos < nl)
            return ms_fail(err, MS_EDATA,
                           "%s: truncated: tensor %zu name at offset %zu needs %lu bytes, "
                           "file has %zu",
                           name, i, r.pos, (unsigned long)nl, len);
        const uint8_t *nm = buf + r.pos;
        for (size_t k = 0; k < nl; k++)
            if (!name_char_ok(nm[k]))
                return ms_fail(err, MS_EDATA,
                               "%s: tensor %zu name byte %zu (0x%02x) is outside "
                               "[A-Za-z0-9._-]",
                               name, i, k, (unsigned)nm[k]);
        /* The name is now known to be short, printable ASCII: safe to quote. */
        if (nl != strlen(t[i].name) || memcmp(nm, t[i].name, nl) != 0)
            return ms_fail(err, MS_EDATA, "%s: tensor %zu name is '%.*s', expected '%s'", name,
                           i, (int)nl, (const char *)nm, t[i].name);
        r.pos += nl;
        snprintf(field, sizeof field, "tensor '%s' ndim", t[i].name);
        if ((s = read_u32(&r, &ndim, field, err)) != MS_OK)
            return s;
        if (ndim != t[i].ndim)
            return ms_fail(err, MS_EDATA, "%s: tensor '%s' ndim is %lu, expected %zu", name,
                           t[i].name, (unsigned long)ndim, t[i].ndim);
        size_t dims[CKPT_MAX_DIMS];
        int same = 1;
        for (size_t d = 0; d < ndim; d++) {
            uint32_t v = 0;
            snprintf(field, sizeof field, "tensor '%s' dims[%zu]", t[i].name, d);
            if ((s = read_u32(&r, &v, field, err)) != MS_OK)
                return s;
            dims[d] = v;
            same &= dims[d] == t[i].dims[d];
        }
        if (!same) {
            char got[64], want[64];
            shape_str(got, sizeof got, dims, ndim);
            shape_str(want, sizeof want, t[i].dims, t[i].ndim);
            return ms_fail(err, MS_EDATA, "%s: tensor '%s' shape is %s, expected %s", name,
                           t[i].name, got, want);
        }
    }

    /* Header padding, then the payloads; the exact size is now known. */
    size_t pad = (4 - r.pos % 4) % 4;
    if (len - r.pos < pad)
        return ms_fail(err, MS_EDATA,
                       "%s: truncated: header padding at offset %zu needs %zu bytes, file "
                       "has %zu",
                       name, r.pos, pad, len);
    for (size_t k = 0; k < pad; k++)
        if (buf[r.pos + k] != 0)
            return ms_fail(err, MS_EDATA, "%s: header padding byte at offset %zu is 0x%02x, "
                           "expected 0",
                           name, r.pos + k, (unsigned)buf[r.pos + k]);
    r.pos += pad;
    size_t data_off = r.pos, want = data_off;
    for (size_t i = 0; i < count; i++) {
        size_t bytes;
        if (!size_mul(&bytes, elems[i], 4) || !size_add(&want, want, bytes))
            return ms_fail(err, MS_EDATA, "%s: payload size overflows", name);
    }
    if (!size_add(&want, want, CKPT_CRC_LEN))
        return ms_fail(err, MS_EDATA, "%s: file size overflows", name);
    if (len < want)
        return ms_fail(err, MS_EDATA,
                       "%s: truncated: payloads and CRC-32 need %zu bytes in all, file has %zu",
                       name, want, len);
    if (len > want)
        return ms_fail(err, MS_EDATA,
                       "%s: %zu trailing bytes after the CRC-32 (file has %zu bytes, the "
                       "header implies %zu)",
                       name, len - want, len, want);

    uint32_t stored = rd32(buf + len - CKPT_CRC_LEN);
    uint32_t computed = crc32_update(0, buf, len - CKPT_CRC_LEN);
#ifndef MNISTSEC_FUZZ
    if (stored != computed)
        return ms_fail(err, MS_EDATA,
                       "%s: CRC-32 mismatch: stored 0x%08lx, computed 0x%08lx (file damaged)",
                       name, (unsigned long)stored, (unsigned long)computed);
#else
    (void)stored;
    (void)computed;
#endif

    /* Validate every value before touching the caller's tensors. */
    size_t pos = data_off;
    for (size_t i = 0; i < count; i++) {
        for (size_t k = 0; k < elems[i]; k++, pos += 4) {
            const char *bad = nonfinite_name(rd32(buf + pos));
            if (bad)
                return ms_fail(err, MS_EDATA, "%s: tensor '%s' element %zu is %s", name,
                               t[i].name, k, bad);
        }
    }

    pos = data_off;
    for (size_t i = 0; i < count; i++) {
        for (size_t k = 0; k < elems[i]; k++, pos += 4) {
            uint32_t u = rd32(buf + pos);
            memcpy(&t[i].data[k], &u, sizeof u);
        }
    }
    if (meta_out) {
        memcpy(meta_out, meta, meta_len);
        meta_out[meta_len] = '\0';
    }
    return MS_OK;
}

ms_status checkpoint_parse(const uint8_t *buf, size_t len, const char *name, ckpt_tensor *t,
                           size_t count, ms_err *err)
{
    return parse(buf, len, name, t, count, NULL, err);
}

ms_status checkpoint_load_meta(const char *path, ckpt_tensor *t, size_t count,
                               char meta[CKPT_MAX_META + 1], ms_err *err)
{
    uint8_t *buf;
    size_t len;
    ms_status s = file_read_all(path, CKPT_MAX_BYTES, &buf, &len, err);
    if (s != MS_OK)
        return s;
    s = parse(buf, len, path, t, count, meta, err);
    free(buf);
    return s;
}

ms_status checkpoint_load(const char *path, ckpt_tensor *t, size_t count, ms_err *err)
{
    return checkpoint_load_meta(path, t, count, NULL, err);
}
