/* fileio.c - capped whole-file reads, all-or-nothing output sets, output location
 * checks and the output directory lock (see fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

ms_status file_read_all(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                        ms_err *err)
{
    *data = NULL;
    *len = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return ms_fail(err, MS_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ms_fail(err, MS_ENOINPUT, "%s: not a regular file", path);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ms_fail(err, MS_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
    /* Read in chunks rather than trusting st_size, which may change under us. */
    size_t cap = 0, n = 0;
    uint8_t *buf = NULL;
    ms_status s = MS_OK;
    for (;;) {
        if (n == cap) {
            size_t want = cap ? cap * 2 : (size_t)1 << 16;
            if (st.st_size > 0 && cap == 0 && (uintmax_t)st.st_size < (uintmax_t)max_bytes)
                want = (size_t)st.st_size + 1; /* one extra byte detects growth/EOF */
            if (want > max_bytes + 1)
                want = max_bytes + 1;
            if (want <= cap) {
                s = ms_fail(err, MS_EDATA, "%s: file larger than the limit of %zu bytes",
                            path, max_bytes);
                break;
            }
            uint8_t *nb = realloc(buf, want);
            if (!nb) {
                s = ms_fail(err, MS_EINTERNAL, "%s: out of memory reading file", path);
                break;
            }
            buf = nb;
            cap = want;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            if (ferror(fp))
                s = ms_fail(err, MS_EIO, "%s: read error", path);
            break;
        }
        if (n > max_bytes) {
            s = ms_fail(err, MS_EDATA, "%s: file larger than the limit of %zu bytes", path,
                        max_bytes);
            break;
        }
    }
    fclose(fp);
    if (s != MS_OK) {
        free(buf);
        return s;
    }
    if (!buf) {
        buf = malloc(1);
        if (!buf)
            return ms_fail(err, MS_EINTERNAL, "%s: out of memory", path);
    }
    *data = buf;
    *len = n;
    return MS_OK;
}

void outset_init(outset *s)
{
    memset(s, 0, sizeof *s);
}

ms_status outset_open(outset *s, const char *path, FILE **fp, ms_err *err)
{
    *fp = NULL;
    if (s->n >= OUTSET_MAX)
        return ms_fail(err, MS_EINTERNAL, "%s: too many output files in one set", path);
    size_t i = s->n;
    int k = snprintf(s->path[i], OUTSET_PATH, "%s", path);
    if (k < 0 || k >= OUTSET_PATH)
        return ms_fail(err, MS_ECANTCREAT, "%s: output path too long", path);
    /* Temporary name in the same directory so rename() stays on one file system. */
    k = snprintf(s->tmp[i], OUTSET_PATH, "%s.tmp-XXXXXX", path);
    if (k < 0 || k >= OUTSET_PATH)
        return ms_fail(err, MS_ECANTCREAT, "%s: output path too long", path);
    int fd = mkstemp(s->tmp[i]);
    if (fd < 0)
        return ms_fail(err, MS_ECANTCREAT, "%s: cannot create output file: %s", path,
                       strerror(errno));
    /* mkstemp creates 0600; results are meant to be shared like any other file. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        remove(s->tmp[i]);
        return ms_fail(err, MS_ECANTCREAT, "%s: cannot open output stream: %s", path,
                       strerror(e));
    }
    s->fp[i] = f;
    s->n++;
    *fp = f;
    return MS_OK;
}

void outset_abort(outset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->fp[i])
            fclose(s->fp[i]);
        s->fp[i] = NULL;
        remove(s->tmp[i]);
    }
    s->n = 0;
}

void outset_fail_rename_at(outset *s, size_t k)
{
    s->fail_rename_at = k;
}

/* Directory part of path into out: "." for a bare name, "/" for a file in the root.
 * 0 if it does not fit. */
static int dir_of(char *out, size_t cap, const char *path)
{
    int k = snprintf(out, cap, "%s", path);
    if (k < 0 || (size_t)k >= cap)
        return 0;
    char *slash = strrchr(out, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == out)
        out[1] = '\0';
    else
        *slash = '\0';
    return 1;
}

/* Appends "; ..." to the message already in err (a rollback problem after the
 * failure it reports). */
static void err_append(ms_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void err_append(ms_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    size_t used = strlen(err->msg);
    if (used + 1 >= sizeof err->msg)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + used, sizeof err->msg - used, fmt, ap);
    va_end(ap);
}

/* Step 2 of outset_commit: every target can be replaced, before any is touched. */
static ms_status outset_check_targets(const outset *s, ms_err *err)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *path = s->path[i];
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return ms_fail(err, MS_ECANTCREAT, "%s: cannot write output file: is a directory",
                           path);
        char dir[OUTSET_PATH];
        if (!dir_of(dir, sizeof dir, path))
            return ms_fail(err, MS_ECANTCREAT, "%s: output path too long", path);
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return ms_fail(err, MS_ECANTCREAT,
                           "%s: cannot write output file: directory %s does not exist", path,
                           dir);
        /* A friendly early failure before anything changes; the renames themselves
         * are checked too and rolled back, so nothing rests on this check. */
        if (access(dir, W_OK) != 0) /* Flawfinder: ignore */
            return ms_fail(err, MS_ECANTCREAT,
                           "%s: cannot write output file: directory %s is not writable", path,
                           dir);
    }
    return MS_OK;
}

/* How the old file at a target was kept (see outset_keep_old). */
enum { KEPT_NONE, KEPT_LINK, KEPT_MOVED };

/* Reserves a fresh unique name from template tmpl (ending in XXXXXX) by creating an
 * empty file there. 0 on failure, with errno set. */
static int reserve_name(char *tmpl)
{
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return 0;
    if (close(fd) != 0) {
        int e = errno;
        remove(tmpl);
        errno = e;
        return 0;
    }
    return 1;
}

/* Keeps the old file at target i, if any, under the backup name s->bak[i] in the
 * same directory ("DIR/.NAME.bak-XXXXXX"); *kept says how. Hard link first: the
 * target stays where it is, and the rename of the new file replaces it atomically.
 * Only if the link is refused is the old file renamed to the backup name. */
static ms_status outset_keep_old(outset *s, size_t i, int *kept, ms_err *err)
{
    const char *path = s->path[i];
    char *bak = s->bak[i];
    *kept = KEPT_NONE;
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return MS_OK;
        return ms_fail(err, MS_ECANTCREAT, "%s: cannot check existing file: %s", path,
                       strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) /* became one after outset_check_targets */
        return ms_fail(err, MS_ECANTCREAT, "%s: cannot write output file: is a directory",
                       path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int plen = (int)(base - path);
    char tmpl[OUTSET_BAK_PATH];
    int k = snprintf(tmpl, sizeof tmpl, "%.*s.%s.bak-XXXXXX", plen, path, base);
    if (k < 0 || (size_t)k >= sizeof tmpl)
        return ms_fail(err, MS_ECANTCREAT, "%s: output path too long for a backup name", path);
    int e = 0;
    /* link() needs a name that does not exist: take a unique one from mkstemp, free
     * it, link to it; EEXIST means another process took it in between: draw again. */
    for (int attempt = 0; attempt < 8; attempt++) {
        memcpy(bak, tmpl, (size_t)k + 1);
        if (!reserve_name(bak)) {
            e = errno;
            break;
        }
        if (remove(bak) != 0) {
            e = errno;
            break;
        }
        /* linkat without AT_SYMLINK_FOLLOW links a symbolic link itself, as rename()
         * would move it. */
        if (linkat(AT_FDCWD, path, AT_FDCWD, bak, 0) == 0) {
            *kept = KEPT_LINK;
            return MS_OK;
        }
        e = errno;
        if (e == ENOENT)
            return MS_OK; /* the old file went away meanwhile: nothing to keep */
        if (e != EEXIST)
            break;
    }
    memcpy(bak, tmpl, (size_t)k + 1);
    if (!reserve_name(bak))
        return ms_fail(err, MS_ECANTCREAT, "%s: cannot create a backup of the existing file: %s",
                       path, strerror(e ? e : errno));
    if (rename(path, bak) == 0) {
        *kept = KEPT_MOVED;
        return MS_OK;
    }
    e = errno;
    remove(bak);
    if (e == ENOENT)
        return MS_OK;
    return ms_fail(err, MS_ECANTCREAT, "%s: cannot keep the existing file as %s: %s", path, bak,
                   strerror(e));
}

/* Undoes step 3 of outset_commit for files [0, n): in reverse order, so that a path
 * named twice in one set ends with its oldest file. placed[i]: the new file is at the
 * target. Removes every temporary not placed. err already holds the failure. */
static void outset_rollback(outset *s, size_t n, const int *kept, const unsigned char *placed,
                            ms_err *err)
{
    for (size_t j = n; j-- > 0;) {
        const char *path = s->path[j];
        if (kept[j] == KEPT_NONE) {
            if (placed[j] && remove(path) != 0 && errno != ENOENT)
                err_append(err, "; rollback: cannot remove new %s: %s", path, strerror(errno));
        } else if (placed[j] || kept[j] == KEPT_MOVED) {
            if (rename(s->bak[j], path) != 0)
                err_append(err, "; rollback: old %s is kept as %s: %s", path, s->bak[j],
                           strerror(errno));
        } else {
            remove(s->bak[j]);
        }
        if (!placed[j])
            remove(s->tmp[j]);
    }
}

ms_status outset_commit(outset *s, ms_err *err)
{
    ms_status st = MS_OK;
    for (size_t i = 0; i < s->n && st == MS_OK; i++) {
        FILE *f = s->fp[i];
        s->fp[i] = NULL;
        int bad = ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0;
        int e = errno;
        if (fclose(f) != 0 && !bad) {
            bad = 1;
            e = errno;
        }
        if (bad)
            st = ms_fail(err, MS_EIO, "%s: write error: %s", s->path[i], strerror(e));
    }
    if (st == MS_OK)
        st = outset_check_targets(s, err);
    if (st != MS_OK) {
        outset_abort(s);
        return st;
    }
    int kept[OUTSET_MAX];
    unsigned char placed[OUTSET_MAX];
    size_t done = 0; /* files [0, done) went through step 3, successfully or not */
    for (size_t i = 0; i < s->n && st == MS_OK; i++) {
        kept[i] = KEPT_NONE;
        placed[i] = 0;
        done = i + 1;
        st = outset_keep_old(s, i, &kept[i], err);
        if (st != MS_OK)
            break;
        int rc;
        if (s->fail_rename_at == i + 1) {
            rc = -1;
            errno = EIO;
        } else {
            rc = rename(s->tmp[i], s->path[i]);
        }
        if (rc != 0)
            st = ms_fail(err, MS_ECANTCREAT, "%s: cannot rename into place: %s", s->path[i],
                         strerror(errno));
        else
            placed[i] = 1;
    }
    if (st != MS_OK) {
        outset_rollback(s, done, kept, placed, err);
        for (size_t j = done; j < s->n; j++)
            remove(s->tmp[j]);
    } else {
        /* The new set is in place; a backup that cannot be removed is only a stray
         * hidden file beside it. */
        for (size_t i = 0; i < s->n; i++)
            if (kept[i] != KEPT_NONE)
                remove(s->bak[i]);
    }
    s->n = 0;
    return st;
}

/* gcc -fanalyzer loses track of s.n across outset_open, so it believes outset_commit
 * closes nothing and reports the stream as leaked; outset_commit closes every stream of
 * the set (tests/test_checkpoint.c and test_idx.c write through here under ASan's leak
 * checker). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
ms_status file_write_atomic(const char *path, const void *data, size_t len, ms_err *err)
{
    outset s;
    outset_init(&s);
    FILE *fp;
    ms_status st = outset_open(&s, path, &fp, err);
    if (st != MS_OK)
        return st;
    /* outset_open sets fp whenever it returns MS_OK; said here for the analyzer, which
     * cannot see that ms_fail (status.c) returns its non-OK status argument. */
    if (!fp)
        return ms_fail(err, MS_EINTERNAL, "%s: no output stream", path);
    if (len && fwrite(data, 1, len, fp) != len) {
        outset_abort(&s);
        return ms_fail(err, MS_EIO, "%s: write error", path);
    }
    return outset_commit(&s, err);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

ms_status make_dirs(const char *dir, ms_err *err)
{
    char buf[OUTSET_PATH];
    size_t len = strlen(dir);
    if (len == 0)
        return ms_fail(err, MS_ECANTCREAT, "output directory name is empty");
    if (len >= sizeof buf)
        return ms_fail(err, MS_ECANTCREAT, "%s: directory path too long", dir);
    memcpy(buf, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (stat(buf, &st) != 0) {
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ms_fail(err, MS_ECANTCREAT, "%s: cannot create directory: %s", buf,
                               strerror(errno));
        } else if (!S_ISDIR(st.st_mode)) {
            return ms_fail(err, MS_ECANTCREAT, "%s: exists and is not a directory", buf);
        }
        buf[i] = c;
    }
    return MS_OK;
}

/* ---- output locations ------------------------------------------------------------ */

/* Drops the last component of buf[0..len) and the slashes before it; new length. */
static size_t path_parent_len(char *buf, size_t len)
{
    while (len > 0 && buf[len - 1] != '/')
        len--;
    while (len > 0 && buf[len - 1] == '/')
        len--;
    buf[len] = '\0';
    return len;
}

size_t path_existing_prefix_len(const char *dir)
{
    char buf[OUTSET_PATH];
    size_t len = strlen(dir);
    if (len >= sizeof buf)
        return len; /* make_dirs refuses it: nothing will be created */
    memcpy(buf, dir, len + 1);
    struct stat st;
    while (len > 0 && stat(buf, &st) != 0)
        len = path_parent_len(buf, len);
    return len;
}

void dirs_remove_created(const char *dir, size_t existed_len)
{
    char buf[OUTSET_PATH];
    size_t len = strlen(dir);
    if (len >= sizeof buf)
        return;
    memcpy(buf, dir, len + 1);
    while (len > existed_len && rmdir(buf) == 0)
        len = path_parent_len(buf, len);
}

ms_status path_check_writable_target(const char *flag, const char *file, ms_err *err)
{
    char dir[OUTSET_PATH];
    if (!dir_of(dir, sizeof dir, file))
        return ms_fail(err, MS_ECANTCREAT, "%s %s: path too long", flag, file);
    struct stat st;
    /* lstat, as outset_commit checks: rename() replaces a symbolic link itself. */
    if (lstat(file, &st) == 0 && S_ISDIR(st.st_mode))
        return ms_fail(err, MS_ECANTCREAT, "%s %s: is a directory, not a file", flag, file);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ms_fail(err, MS_ECANTCREAT, "%s %s: directory %s does not exist", flag, file, dir);
    /* An early, friendly failure only: no privilege decision rests on it (the program
     * is not setuid), and the real write (mkstemp + rename, outset_commit) is checked
     * again, so the check-then-use race flawfinder reports cannot cause harm. */
    if (access(dir, W_OK) != 0) /* Flawfinder: ignore */
        return ms_fail(err, MS_ECANTCREAT, "%s %s: directory %s is not writable", flag, file,
                       dir);
    return MS_OK;
}

ms_status path_check_output_dir(const char *flag, const char *dir, ms_err *err)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return MS_OK;
        return ms_fail(err, MS_ECANTCREAT, "%s %s: cannot use as output directory: %s", flag, dir,
                       strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return ms_fail(err, MS_ECANTCREAT, "%s %s: exists and is not a directory", flag, dir);
    return MS_OK;
}

/* ---- output directory lock ------------------------------------------------------- */

/* Reads the process id from an open lock file: > 0, or 0 if it holds none. */
static long lock_read_pid(int fd)
{
    char buf[32];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t got = read(fd, buf + n, sizeof buf - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    char *end;
    errno = 0;
    long pid = strtol(buf, &end, 10);
    if (errno || end == buf || (*end != '\0' && *end != '\n') || pid <= 0 ||
        (long)(pid_t)pid != pid)
        return 0;
    return pid;
}

/* 1 unless process pid certainly does not exist. */
static int pid_alive(long pid)
{
    return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

/* Creates the lock file exclusively with this process id. 1 if created, 0 if it
 * exists already, -1 on any other error (errno set; nothing left behind). */
static int lock_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return errno == EEXIST ? 0 : -1;
    char buf[32];
    int k = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    int bad = k <= 0 || write(fd, buf, (size_t)k) != (ssize_t)k;
    int e = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        remove(path);
        errno = e ? e : EIO;
        return -1;
    }
    return 1;
}

ms_status outdir_lock(const char *dir, outdir_lock_t *lk, ms_err *err)
{
    lk->held = 0;
    int k = snprintf(lk->path, sizeof lk->path, "%s/%s", dir, OUTDIR_LOCK_NAME);
    if (k < 0 || (size_t)k >= sizeof lk->path)
        return ms_fail(err, MS_ECANTCREAT, "--out %s: path too long", dir);
    /* A few rounds: each either takes the lock, finds it held, or clears a stale one
     * (which another run may then take first). */
    for (int round = 0; round < 8; round++) {
        int r = lock_create(lk->path);
        if (r == 1) {
            lk->held = 1;
            return MS_OK;
        }
        if (r < 0) /* a full disk or a device error is an I/O error, like a result's */
            return ms_fail(err, (errno == ENOSPC || errno == EIO || errno == EDQUOT) ? MS_EIO
                                                                                   : MS_ECANTCREAT,
                           "--out %s: cannot create lock file %s: %s", dir, lk->path,
                           strerror(errno));
        int fd = open(lk->path, O_RDONLY);
        if (fd < 0) {
            if (errno == ENOENT)
                continue; /* released meanwhile: try again */
            return ms_fail(err, MS_ECANTCREAT, "--out %s: cannot read lock file %s: %s", dir,
                           lk->path, strerror(errno));
        }
        struct stat held;
        int have_stat = fstat(fd, &held) == 0;
        long pid = lock_read_pid(fd);
        close(fd);
        if (pid == 0)
            return ms_fail(err, MS_ECANTCREAT,
                           "--out %s: lock file %s holds no process id; remove it if no "
                           "mnistsec run uses this directory",
                           dir, lk->path);
        if (pid_alive(pid))
            return ms_fail(err, MS_ECANTCREAT,
                           "--out %s: in use by another mnistsec run (process %ld)", dir, pid);
        if (!have_stat)
            return ms_fail(err, MS_ECANTCREAT, "--out %s: cannot check lock file %s: %s", dir,
                           lk->path, strerror(errno));
        /* Stale. Move it aside under a unique name (rename is atomic: of several runs
         * doing this, one moves the file) and check that the file moved is the stale
         * one just read, not a fresh lock another run created since. */
        char aside[OUTSET_BAK_PATH + 16];
        k = snprintf(aside, sizeof aside, "%s.stale-XXXXXX", lk->path);
        if (k < 0 || (size_t)k >= sizeof aside || !reserve_name(aside))
            return ms_fail(err, MS_ECANTCREAT, "--out %s: cannot replace stale lock file %s",
                           dir, lk->path);
        if (rename(lk->path, aside) != 0) {
            int e = errno;
            remove(aside);
            if (e == ENOENT)
                continue; /* someone else cleared it */
            return ms_fail(err, MS_ECANTCREAT, "--out %s: cannot replace stale lock file %s: %s",
                           dir, lk->path, strerror(e));
        }
        struct stat moved;
        if (lstat(aside, &moved) == 0 &&
            (moved.st_dev != held.st_dev || moved.st_ino != held.st_ino)) {
            /* A live lock was moved: put it back unless yet another run holds the name
             * now (then that run holds the lock). */
            if (link(aside, lk->path) != 0 && errno != EEXIST) {
                int e = errno;
                remove(aside);
                return ms_fail(err, MS_ECANTCREAT, "--out %s: cannot restore lock file %s: %s",
                               dir, lk->path, strerror(e));
            }
        }
        remove(aside);
    }
    return ms_fail(err, MS_ECANTCREAT, "--out %s: cannot take lock file %s (contended)", dir,
                   lk->path);
}

void outdir_unlock(outdir_lock_t *lk)
{
    if (!lk->held)
        return;
    remove(lk->path);
    lk->held = 0;
}

ms_status floats_check_finite(const char *path, const float *data, size_t count, ms_err *err)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(data[i]))
            return ms_fail(err, MS_EDATA, "%s: float element %zu is not finite (%g)", path, i,
                           (double)data[i]);
    return MS_OK;
}
