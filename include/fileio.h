/* fileio.h - reading whole files with a size cap, and writing output files
 * atomically.
 *
 * Output files are written to a temporary name in the destination directory and
 * renamed into place only when every file of the set is complete, so an error never
 * leaves a partial or corrupted file behind and never touches earlier results.
 */
#ifndef MNISTSEC_FILEIO_H
#define MNISTSEC_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

/* Reads the whole file. MS_ENOINPUT if it cannot be opened or is not a regular file,
 * MS_EDATA if it is larger than max_bytes, MS_EIO on a read error. */
ms_status file_read_all(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                        ms_err *err);

#define OUTSET_MAX 32
#define OUTSET_PATH 1100

typedef struct {
    size_t n;
    FILE *fp[OUTSET_MAX];
    char path[OUTSET_MAX][OUTSET_PATH];
    char tmp[OUTSET_MAX][OUTSET_PATH];
} outset;

void outset_init(outset *s);
/* Creates a temporary file for `path` (its directory must exist) and returns its
 * stream. MS_ECANTCREAT if it cannot be created. */
ms_status outset_open(outset *s, const char *path, FILE **fp, ms_err *err);
/* Flushes and closes every file (MS_EIO on any write error), then renames each
 * into place. On failure every temporary file is removed. */
ms_status outset_commit(outset *s, ms_err *err);
/* Closes and removes every temporary file. */
void outset_abort(outset *s);

/* One-file convenience: writes len bytes atomically. */
ms_status file_write_atomic(const char *path, const void *data, size_t len, ms_err *err);

/* Creates dir and its parents if missing (mode 0777 & ~umask). MS_ECANTCREAT. */
ms_status make_dirs(const char *dir, ms_err *err);

#endif
