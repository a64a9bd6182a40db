/* fileio.c - capped whole-file reads and atomic output sets (see fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    if (st != MS_OK) {
        outset_abort(s);
        return st;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (rename(s->tmp[i], s->path[i]) != 0) {
            st = ms_fail(err, MS_EIO, "%s: cannot rename into place: %s", s->path[i],
                         strerror(errno));
            for (size_t j = i; j < s->n; j++)
                remove(s->tmp[j]);
            break;
        }
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
