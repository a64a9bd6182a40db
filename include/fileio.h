/* fileio.h - reading whole files with a size cap, writing output files atomically,
 * checking output locations early, and locking an output directory.
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
/* Room for a backup name: the target's name with a leading '.' and ".bak-XXXXXX". */
#define OUTSET_BAK_PATH (OUTSET_PATH + 16)

/* A set of output files that appear together or not at all. Fill it with
 * outset_open and the returned streams, then outset_commit (or outset_abort). */
typedef struct {
    size_t n;
    FILE *fp[OUTSET_MAX];
    char path[OUTSET_MAX][OUTSET_PATH];
    char tmp[OUTSET_MAX][OUTSET_PATH];
    char bak[OUTSET_MAX][OUTSET_BAK_PATH]; /* kept old file, used inside outset_commit */
    size_t fail_rename_at;                 /* tests only: see outset_fail_rename_at */
} outset;

void outset_init(outset *s);
/* Creates a temporary file "PATH.tmp-XXXXXX" for `path` (its directory must exist)
 * and returns its stream. MS_ECANTCREAT if it cannot be created. */
ms_status outset_open(outset *s, const char *path, FILE **fp, ms_err *err);
/* Installs the whole set or nothing:
 *   1. flushes, fsyncs and closes every file (MS_EIO on any write error);
 *   2. checks every target before touching any: it must not be a directory (lstat,
 *      so a symbolic link is itself the target, as rename() treats it), and its
 *      directory must exist and be writable (MS_ECANTCREAT);
 *   3. per file, in the order opened: keeps an existing target under a unique
 *      backup name ".NAME.bak-XXXXXX" in the same directory, then renames the
 *      temporary over the target. The backup is a hard link, so the target stays in
 *      place until the rename swaps it atomically and a crash at any point leaves
 *      either the old or the new file there. Where hard links are refused (file
 *      systems without them, too many links, Linux's protected_hardlinks) the old
 *      file is renamed to the backup name instead, which leaves the target missing
 *      until its new file is renamed in;
 *   4. if a backup or a rename fails (MS_ECANTCREAT), rolls back: every target
 *      already replaced gets its old file back (or is removed if it had none), every
 *      temporary and backup is removed, so the destination is exactly as before.
 *      Should a restore itself fail, that old file stays at its backup name and
 *      the message says where.
 * On success the backups are removed and the destination holds the new files.
 * On any failure no temporary file is left. The set is empty afterwards. */
ms_status outset_commit(outset *s, ms_err *err);
/* Closes and removes every temporary file. */
void outset_abort(outset *s);
/* For tests only: makes the k-th rename of a temporary into place during
 * outset_commit (k = 1 for the first file opened) fail as if rename() had returned
 * EIO, to exercise the rollback. k = 0 (what outset_init sets) injects nothing. */
void outset_fail_rename_at(outset *s, size_t k);

/* MS_EDATA naming path and the first of data[0..count) that is NaN or infinite: the
 * float outputs refuse to write numbers no reader could trust. */
ms_status floats_check_finite(const char *path, const float *data, size_t count, ms_err *err);

/* One-file convenience: writes len bytes atomically. */
ms_status file_write_atomic(const char *path, const void *data, size_t len, ms_err *err);

/* Creates dir and its parents if missing (mode 0777 & ~umask). MS_ECANTCREAT. */
ms_status make_dirs(const char *dir, ms_err *err);

/* Length of the longest prefix of dir, ending at a component boundary, that exists
 * (0 if none does). Taken before make_dirs, it tells dirs_remove_created what was
 * there already. A path too long for make_dirs gives its full length. */
size_t path_existing_prefix_len(const char *dir);

/* After a failed run: removes dir and each parent of it, up to the prefix of
 * existed_len bytes that existed before (path_existing_prefix_len). rmdir only
 * removes empty directories, so nothing that holds a file is ever touched. */
void dirs_remove_created(const char *dir, size_t existed_len);

/* Early check, before any work, that `file` can become an output file: it must not
 * exist as a directory, and its directory must exist and be writable. MS_ECANTCREAT
 * with a message naming `flag` (e.g. "--save") and the path. outset_commit checks
 * again when it installs the file. */
ms_status path_check_writable_target(const char *flag, const char *file, ms_err *err);

/* Early check that `dir` can be an output directory: MS_ECANTCREAT (naming `flag`
 * and the path) if it exists but is not a directory, or cannot be looked at. A
 * missing dir is fine: make_dirs creates it. */
ms_status path_check_output_dir(const char *flag, const char *dir, ms_err *err);

/* ---- output directory lock ----------------------------------------------------- */

/* Name of the lock file inside a locked output directory. */
#define OUTDIR_LOCK_NAME ".mnistsec.lock"

typedef struct {
    char path[OUTSET_BAK_PATH]; /* DIR/.mnistsec.lock */
    int held;
} outdir_lock_t;

/* Takes an exclusive lock on output directory `dir` (which must exist) for this
 * process, so two runs never write the same results at once: creates
 * DIR/.mnistsec.lock with O_CREAT|O_EXCL holding this process id in decimal and a
 * newline. If the file exists and its process is alive (kill(pid, 0) succeeds or
 * fails with EPERM), fails with MS_ECANTCREAT: "--out DIR: in use by another mnistsec
 * run (process PID)". If that process has exited (a stale lock left by a crash), the
 * stale file is moved aside and removed, and the lock taken as above; of several runs
 * taking over the same stale lock at once exactly one gets it. A lock file without a
 * process id in it is never taken over (it could be one being written): the message
 * says to remove it by hand. The lock file is never part of the results: no outset
 * member, not in the manifest, removed by outdir_unlock. */
ms_status outdir_lock(const char *dir, outdir_lock_t *lk, ms_err *err);
/* Releases a lock taken by outdir_lock (removes the file); nothing if not held. */
void outdir_unlock(outdir_lock_t *lk);

#endif
