/* npy.h - writing NumPy .npy files (format version 1.0), for loading results with
 * numpy.load.
 *
 * Layout: magic "\x93NUMPY", version bytes 0x01 0x00, a little-endian uint16 header
 * length H, then H bytes of header: a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 28, 28), }
 * padded with spaces and ended by '\n' so that 10 + H is a multiple of 64, then the
 * raw elements in C order. The header is formatted exactly as numpy.save formats it
 * (including its spare spaces after the '}' that let the first dimension grow in
 * place: 21 minus the digits of dims[0]), so a file equals numpy.save's output for
 * the same array byte for byte.
 */
#ifndef MNISTSEC_NPY_H
#define MNISTSEC_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "fileio.h"
#include "status.h"

/* Element types that can be written: float32 (data is float*) stored little-endian,
 * and uint8 (data is uint8_t*). */
#define NPY_F32 "<f4"
#define NPY_U8 "|u1"
#define NPY_MAX_DIMS 8
/* The data starts at a multiple of this many bytes. */
#define NPY_ALIGN 64
/* Room for the longest header npy_header makes (8 dimensions of 20 digits). */
#define NPY_MAX_HEADER 512

/* Whether path names a .npy file (ends in ".npy", any case). */
int npy_path(const char *path);

/* The header of an array of shape dims[0..ndim) and element type descr: magic,
 * version, length field and the padded dict, NPY_ALIGN-aligned. Writes up to cap
 * bytes into out and its length into *len. MS_EINTERNAL for an unknown descr, ndim
 * outside 1..NPY_MAX_DIMS, a byte size of the data that overflows size_t, or a cap
 * too small; `name` is used in messages. */
ms_status npy_header(uint8_t *out, size_t cap, size_t *len, const char *name,
                     const char *descr, size_t ndim, const size_t *dims, ms_err *err);

/* Writes data (shape dims[0..ndim), C order, host byte order) as one member of an
 * output set, so it appears only when the whole set is committed (on failure the
 * caller aborts the set). descr is NPY_F32 or NPY_U8. Float elements must be finite
 * (MS_EDATA, as for IDX). A dimension may be 0 (an empty array; data may then be
 * NULL). */
ms_status npy_write_to(outset *s, const char *path, const char *descr, size_t ndim,
                       const size_t *dims, const void *data, ms_err *err);

#endif
