/* npy.c - NumPy .npy writer, format version 1.0 (see npy.h).
 *
 * The header is the dict numpy.save writes, keys in sorted order, with the shape as a
 * Python tuple ("(3,)" for one dimension). Element bytes are assembled explicitly
 * (float32 as its little-endian bit pattern), so a file is the same whatever the host
 * byte order.
 *
 * Legend for shape comments: d dimensions, dims[0..d).
 */
#include "npy.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "checked.h"

/* Floats are moved as their 32-bit patterns; '<f4' means IEEE-754 binary32. */
_Static_assert(sizeof(float) == 4 && FLT_RADIX == 2 && FLT_MANT_DIG == 24 &&
                   FLT_MAX_EXP == 128,
               ".npy '<f4' output needs IEEE-754 binary32 floats");

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* magic, two version bytes, the uint16 header length */
#define NPY_PREFIX (NPY_MAGIC_LEN + 2 + 2)
/* numpy.save leaves 21 minus the digits of dims[0] spaces after the dict, room for
 * the first dimension to grow to 21 digits without moving the data. */
#define NPY_GROWTH_DIGITS 21

/* Bytes per element of descr, 0 if it is not one this writer knows. */
static size_t elem_size(const char *descr)
{
    if (strcmp(descr, NPY_F32) == 0)
        return 4;
    if (strcmp(descr, NPY_U8) == 0)
        return 1;
    return 0;
}

int npy_path(const char *path)
{
    size_t n = strlen(path);
    if (n < 4)
        return 0;
    const char *e = path + n - 4;
    /* ASCII case folding by hand: independent of the locale. */
    return e[0] == '.' && (e[1] | 0x20) == 'n' && (e[2] | 0x20) == 'p' && (e[3] | 0x20) == 'y';
}

/* *out = unit * dims[0] * ... * dims[ndim-1]: 0 if any dimension is 0; else the
 * product, or 0 returned on overflow. */
static int count_elems(size_t *out, size_t ndim, const size_t *dims, size_t unit)
{
    *out = 0;
    for (size_t i = 0; i < ndim; i++)
        if (dims[i] == 0)
            return 1;
    size_t p = unit;
    for (size_t i = 0; i < ndim; i++)
        if (!size_mul(&p, p, dims[i]))
            return 0;
    *out = p;
    return 1;
}

/* Appends text at dict[*used]; 0 if it does not fit in cap. */
static int append_text(char *dict, size_t cap, size_t *used, const char *text)
{
    int k = snprintf(dict + *used, cap - *used, "%s", text);
    if (k < 0 || (size_t)k >= cap - *used)
        return 0;
    *used += (size_t)k;
    return 1;
}

/* Appends a tuple element: ", " (unless first) and the decimal value. */
static int append_dim(char *dict, size_t cap, size_t *used, size_t value, int first)
{
    int k = snprintf(dict + *used, cap - *used, "%s%zu", first ? "" : ", ", value);
    if (k < 0 || (size_t)k >= cap - *used)
        return 0;
    *used += (size_t)k;
    return 1;
}

ms_status npy_header(uint8_t *out, size_t cap, size_t *len, const char *name,
                     const char *descr, size_t ndim, const size_t *dims, ms_err *err)
{
    *len = 0;
    size_t esize = descr ? elem_size(descr) : 0;
    if (!esize)
        return ms_fail(err, MS_EINTERNAL, "%s: cannot write .npy element type '%s' (%s or %s)",
                       name, descr ? descr : "(null)", NPY_F32, NPY_U8);
    if (ndim < 1 || ndim > NPY_MAX_DIMS)
        return ms_fail(err, MS_EINTERNAL, "%s: cannot write %zu dimensions to .npy (1..%d)",
                       name, ndim, NPY_MAX_DIMS);
    /* Data bytes, then the whole file, must be representable (an array with a zero
     * dimension is empty, whatever the others). */
    size_t bytes;
    if (!count_elems(&bytes, ndim, dims, esize)) {
        size_t b = esize, i = 0; /* the dimension at which the product overflows */
        while (i + 1 < ndim && size_mul(&b, b, dims[i]))
            i++;
        return ms_fail(err, MS_EINTERNAL,
                       "%s: .npy array too large: dimension %zu = %zu overflows the byte size",
                       name, i, dims[i]);
    }
    if (!size_add(&bytes, bytes, NPY_MAX_HEADER))
        return ms_fail(err, MS_EINTERNAL, "%s: .npy array too large for one file", name);

    char dict[NPY_MAX_HEADER];
    size_t used = 0;
    int ok = append_text(dict, sizeof dict, &used, "{'descr': '") &&
             append_text(dict, sizeof dict, &used, descr) &&
             append_text(dict, sizeof dict, &used, "', 'fortran_order': False, 'shape': (");
    for (size_t i = 0; ok && i < ndim; i++)
        ok = append_dim(dict, sizeof dict, &used, dims[i], i == 0);
    /* A one-element Python tuple needs its trailing comma. */
    ok = ok && append_text(dict, sizeof dict, &used, ndim == 1 ? ",), }" : "), }");
    if (!ok)
        return ms_fail(err, MS_EINTERNAL, "%s: .npy header too long", name);
    int digits = snprintf(NULL, 0, "%zu", dims[0]);
    size_t growth = digits > 0 && digits < NPY_GROWTH_DIGITS
                        ? (size_t)(NPY_GROWTH_DIGITS - digits) : 0;
    /* As numpy.save: at least one space of padding, then '\n', so that the data
     * starts at a multiple of NPY_ALIGN. */
    size_t text = used + growth + 1;
    size_t pad = NPY_ALIGN - (NPY_PREFIX + text) % NPY_ALIGN;
    size_t hlen = text + pad; /* the uint16 field */
    size_t total = NPY_PREFIX + hlen;
    if (total > cap || hlen > UINT16_MAX)
        return ms_fail(err, MS_EINTERNAL, "%s: .npy header of %zu bytes does not fit in %zu",
                       name, total, cap);
    memcpy(out, NPY_MAGIC, NPY_MAGIC_LEN);
    out[6] = 1; /* version 1.0 */
    out[7] = 0;
    out[8] = (uint8_t)hlen; /* little-endian uint16 */
    out[9] = (uint8_t)(hlen >> 8);
    memcpy(out + NPY_PREFIX, dict, used);
    memset(out + NPY_PREFIX + used, ' ', growth + pad);
    out[total - 1] = '\n';
    *len = total;
    return MS_OK;
}

ms_status npy_write_to(outset *s, const char *path, const char *descr, size_t ndim,
                       const size_t *dims, const void *data, ms_err *err)
{
    uint8_t head[NPY_MAX_HEADER];
    size_t hlen;
    ms_status st = npy_header(head, sizeof head, &hlen, path, descr, ndim, dims, err);
    if (st != MS_OK)
        return st;
    size_t count; /* cannot overflow: count * element size did not */
    if (!count_elems(&count, ndim, dims, 1))
        return ms_fail(err, MS_EINTERNAL, "%s: .npy array too large", path);
    if (count && !data)
        return ms_fail(err, MS_EINTERNAL, "%s: no data for %zu elements", path, count);
    int is_f32 = elem_size(descr) == 4;
    if (is_f32 && (st = floats_check_finite(path, data, count, err)) != MS_OK)
        return st;
    FILE *fp;
    st = outset_open(s, path, &fp, err);
    if (st != MS_OK)
        return st;
    if (!fp) /* set whenever outset_open succeeds; said for the analyzers */
        return ms_fail(err, MS_EINTERNAL, "%s: no output stream", path);
    int ok = fwrite(head, 1, hlen, fp) == hlen;
    if (ok && !is_f32 && count) {
        ok = fwrite(data, 1, count, fp) == count;
    } else if (ok && is_f32) {
        /* Little-endian float32, converted in chunks. */
        const float *f = data;
        uint8_t chunk[4096];
        for (size_t i = 0; ok && i < count;) {
            size_t k = 0;
            for (; k < sizeof chunk / 4 && i < count; k++, i++) {
                uint32_t u;
                memcpy(&u, &f[i], 4);
                chunk[4 * k] = (uint8_t)u;
                chunk[4 * k + 1] = (uint8_t)(u >> 8);
                chunk[4 * k + 2] = (uint8_t)(u >> 16);
                chunk[4 * k + 3] = (uint8_t)(u >> 24);
            }
            ok = fwrite(chunk, 4, k, fp) == k;
        }
    }
    if (!ok)
        return ms_fail(err, MS_EIO, "%s: write error", path);
    return MS_OK;
}
