/* checkpoint.h - model checkpoint files (format in docs/CHECKPOINT.md).
 *
 * A checkpoint is a list of named float32 tensors with their shapes, stored
 * little-endian, with a CRC-32 over the whole file. The loader is given the tensors
 * it expects (names and shapes) and refuses anything else: wrong magic or version,
 * wrong names, shapes or sizes, truncation or trailing bytes, a bad CRC, NaN or Inf.
 */
#ifndef MNISTSEC_CHECKPOINT_H
#define MNISTSEC_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define CKPT_MAX_DIMS 4
#define CKPT_MAX_TENSORS 64
#define CKPT_MAX_NAME 63
/* Longest metadata string (printable ASCII, e.g. "arch=mnistsec-cnn-v1 seed=1"). */
#define CKPT_MAX_META 255
/* Largest checkpoint file the loader accepts (and the saver writes). */
#define CKPT_MAX_BYTES ((size_t)64 << 20)

typedef struct {
    const char *name;            /* e.g. "conv1.weight" */
    size_t ndim;                 /* 1..CKPT_MAX_DIMS */
    size_t dims[CKPT_MAX_DIMS];
    float *data;                 /* product(dims) floats */
} ckpt_tensor;

/* Writes atomically (temporary name + rename). */
ms_status checkpoint_save(const char *path, const ckpt_tensor *t, size_t count, ms_err *err);

/* Reads path and fills t[i].data, which must match in names and shapes.
 * MS_ENOINPUT if unreadable, MS_EDATA if the content is wrong. */
ms_status checkpoint_load(const char *path, ckpt_tensor *t, size_t count, ms_err *err);

/* The same checks on an in-memory file (fuzz entry point). */
ms_status checkpoint_parse(const uint8_t *buf, size_t len, const char *name, ckpt_tensor *t,
                           size_t count, ms_err *err);

/* Optional metadata string. checkpoint_save writes an empty one; checkpoint_load
 * accepts any and ignores it. */

/* checkpoint_save with a metadata string meta (NULL means ""). */
ms_status checkpoint_save_meta(const char *path, const char *meta, const ckpt_tensor *t,
                               size_t count, ms_err *err);

/* checkpoint_load that also stores the file's metadata string, NUL-terminated, in
 * meta (if non-NULL), only on success. */
ms_status checkpoint_load_meta(const char *path, ckpt_tensor *t, size_t count,
                               char meta[CKPT_MAX_META + 1], ms_err *err);

/* The exact bytes of a checkpoint file, in a new malloc'd buffer *out of length *len
 * (`name` is used in messages). MS_EINTERNAL if the tensor list is malformed (bad
 * name, shape or count, duplicate name, file over CKPT_MAX_BYTES), MS_EDATA if a value
 * is NaN or Inf (the loader would refuse the file). On failure *out is NULL. */
ms_status checkpoint_encode(const char *name, const char *meta, const ckpt_tensor *t,
                            size_t count, uint8_t **out, size_t *len, ms_err *err);

#endif
