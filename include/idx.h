/* idx.h - IDX file reading and writing with integrity checks.
 *
 * IDX: 2 zero bytes, a type byte (0x08 unsigned byte, 0x0D float32), a dimension
 * count, then one big-endian uint32 per dimension, then the payload (big-endian for
 * float32). Files may be raw or gzip-compressed (detected by content, not by name).
 * Every header field is checked against the real file size before anything is
 * allocated; sizes are computed with overflow checks and capped (IDX_MAX_BYTES).
 */
#ifndef MNISTSEC_IDX_H
#define MNISTSEC_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "fileio.h"
#include "status.h"

#define IDX_TYPE_U8 0x08
#define IDX_TYPE_F32 0x0D
#define IDX_MAX_DIMS 3
/* Cap on a decompressed IDX file: 60,000 float32 images are 188 MB. */
#define IDX_MAX_BYTES ((size_t)512 << 20)
/* Cap on the number of items in one file. */
#define IDX_MAX_ITEMS ((size_t)10000000)

typedef struct {
    int type;                    /* IDX_TYPE_U8 or IDX_TYPE_F32 */
    size_t ndim;                 /* 1..IDX_MAX_DIMS */
    size_t dims[IDX_MAX_DIMS];   /* dims[0] is the item count */
    void *data;                  /* owned payload, host byte order (uint8_t* or float*) */
    size_t count;                /* number of elements in data */
    char sha256[65];             /* SHA-256 of the file's bytes as stored on disk */
} idx_array;

/* Parses an in-memory (already decompressed) IDX image. `name` is used in messages.
 * Float payloads must be finite. MS_EDATA on any inconsistency. */
ms_status idx_parse(const uint8_t *buf, size_t len, const char *name, idx_array *out,
                    ms_err *err);

/* Reads a raw or gzip IDX file. MS_ENOINPUT if it cannot be opened/read,
 * MS_EDATA if the content is bad. */
ms_status idx_read_file(const char *path, idx_array *out, ms_err *err);

/* The content step of idx_read_file: parses the bytes of a file as stored, raw or
 * gzip (detected by content). For gzip the IDX header is decompressed first and the
 * output is capped at the size it implies. sha256 is of buf as given. */
ms_status idx_parse_file_bytes(const uint8_t *buf, size_t len, const char *name,
                               idx_array *out, ms_err *err);

void idx_free(idx_array *a);

/* Writes an IDX file atomically (temporary name + rename). data is in host order. */
ms_status idx_write_file(const char *path, int type, size_t ndim, const size_t *dims,
                         const void *data, ms_err *err);

/* The same file as one member of an output set, so it appears only when the whole set
 * is committed (on failure the caller aborts the set). */
ms_status idx_write_to(outset *s, const char *path, int type, size_t ndim, const size_t *dims,
                       const void *data, ms_err *err);

#endif
