/* test_fileio.c - the all-or-nothing output set (outset_commit: replacement of older
 * files, refusal of a directory target, rollback after a failed rename at the first,
 * a middle and the last file), the early output location checks, the directory
 * helpers, and the output directory lock (held, stale, released).
 *
 * Every test works in its own directory made with mkdtemp under $TMPDIR (or /tmp)
 * and removes it afterwards. "Unchanged" is checked as a full recursive listing of
 * names, types and contents, so a stray temporary or backup file is caught too. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "test.h"

#define PATHLEN 1024
#define SNAPLEN 8192

/* ---- helpers ---------------------------------------------------------------------- */

static int make_tmpdir(char *dir, size_t cap)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    int k = snprintf(dir, cap, "%s/mnistsec-fileio-XXXXXX", base);
    if (k < 0 || (size_t)k >= cap || !mkdtemp(dir)) {
        fprintf(stderr, "  cannot create a temporary directory under %s\n", base);
        return 0;
    }
    return 1;
}

/* out = dir/leaf; a path too long for the test's buffers ends the test program. */
static void join(char *out, const char *dir, const char *leaf)
{
    int k = snprintf(out, PATHLEN, "%s/%s", dir, leaf);
    if (k < 0 || k >= PATHLEN) {
        fprintf(stderr, "test path too long: %s/%s\n", dir, leaf);
        exit(1);
    }
}

/* Removes path and everything below it (no symbolic links are followed). */
static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                    continue;
                char sub[PATHLEN];
                join(sub, path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends to out a sorted, recursive listing of dir: "name/" for a directory,
 * "name=content;" for a file, "name@" for anything else. */
static void snapshot_into(const char *dir, const char *prefix, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        names[n] = malloc(strlen(e->d_name) + 1);
        if (!names[n])
            break;
        strcpy(names[n++], e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[PATHLEN], rel[PATHLEN];
        join(path, dir, names[i]);
        int k = snprintf(rel, sizeof rel, "%s%s", prefix, names[i]);
        if (k < 0 || (size_t)k >= sizeof rel)
            rel[0] = '\0';
        struct stat st;
        size_t used = strlen(out);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(out + used, cap - used, "%s/ ", rel);
            char sub[PATHLEN + 1];
            int k2 = snprintf(sub, sizeof sub, "%s/", rel);
            if (k2 > 0 && (size_t)k2 < sizeof sub)
                snapshot_into(path, sub, out, cap);
        } else if (S_ISREG(st.st_mode)) {
            char content[512] = "";
            FILE *f = fopen(path, "rb");
            if (f) {
                size_t got = fread(content, 1, sizeof content - 1, f);
                content[got] = '\0';
                fclose(f);
            }
            snprintf(out + used, cap - used, "%s=%s; ", rel, content);
        } else {
            snprintf(out + used, cap - used, "%s@ ", rel);
        }
        free(names[i]);
    }
}

static void snapshot(const char *dir, char *out, size_t cap)
{
    out[0] = '\0';
    snapshot_into(dir, "", out, cap);
}

/* Opens every name in the set (relative to dir) and writes "new NAME" into it. */
static int fill_set(outset *s, const char *dir, const char *const *names, size_t n)
{
    ms_err err = {{0}};
    for (size_t i = 0; i < n; i++) {
        char path[PATHLEN];
        join(path, dir, names[i]);
        FILE *f = NULL;
        if (outset_open(s, path, &f, &err) != MS_OK || !f) {
            fprintf(stderr, "  outset_open %s: %s\n", path, err.msg);
            return 0;
        }
        if (fprintf(f, "new %s", names[i]) < 0)
            return 0;
    }
    return 1;
}

/* ---- outset_commit ---------------------------------------------------------------- */

static void test_commit_replaces_older_files(void)
{
    char dir[PATHLEN], p[PATHLEN], snap[SNAPLEN];
    if (!make_tmpdir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    join(p, dir, "a.csv");
    CHECK(write_text(p, "old a.csv"), "write %s", p);
    join(p, dir, "b.csv");
    CHECK(write_text(p, "old b.csv"), "write %s", p);
    outset *s = malloc(sizeof *s);
    CHECK(s != NULL, "malloc");
    if (s) {
        outset_init(s);
        static const char *const names[] = {"a.csv", "b.csv", "c.csv"};
        ms_err err = {{0}};
        if (fill_set(s, dir, names, 3)) {
            ms_status st = outset_commit(s, &err);
            CHECK(st == MS_OK, "commit: %s", err.msg);
            CHECK(s->n == 0, "set emptied");
        } else {
            CHECK(0, "filling the set");
            outset_abort(s);
        }
        snapshot(dir, snap, sizeof snap);
        CHECK(!strcmp(snap, "a.csv=new a.csv; b.csv=new b.csv; c.csv=new c.csv; "),
              "after commit: %s", snap);
        free(s);
    }
    /* The one-file form goes through the same commit. */
    join(p, dir, "a.csv");
    ms_err err = {{0}};
    CHECK(file_write_atomic(p, "again", 5, &err) == MS_OK, "file_write_atomic: %s", err.msg);
    snapshot(dir, snap, sizeof snap);
    CHECK(!strcmp(snap, "a.csv=again; b.csv=new b.csv; c.csv=new c.csv; "), "after: %s", snap);
    rm_rf(dir);
}

static void test_commit_refuses_directory_target(void)
{
    char dir[PATHLEN], p[PATHLEN], before[SNAPLEN], after[SNAPLEN];
    if (!make_tmpdir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    join(p, dir, "a.csv");
    CHECK(write_text(p, "old a.csv"), "write");
    join(p, dir, "b.csv");
    CHECK(mkdir(p, 0777) == 0, "mkdir %s", p);
    join(p, dir, "b.csv/inside");
    CHECK(write_text(p, "keep me"), "write");
    snapshot(dir, before, sizeof before);
    outset *s = malloc(sizeof *s);
    CHECK(s != NULL, "malloc");
    if (s) {
        outset_init(s);
        /* The directory is the middle target, so a non-atomic commit would already
         * have replaced a.csv when it got there. */
        static const char *const names[] = {"a.csv", "b.csv", "c.csv"};
        ms_err err = {{0}};
        if (fill_set(s, dir, names, 3)) {
            ms_status st = outset_commit(s, &err);
            CHECK(st == MS_ECANTCREAT, "status %d: %s", (int)st, err.msg);
            CHECK(strstr(err.msg, "b.csv") && strstr(err.msg, "is a directory"),
                  "message names the path and the problem: %s", err.msg);
            /* Refused by the check before any rename, not by a failed rename. */
            CHECK(!strstr(err.msg, "rename") && !strstr(err.msg, "rollback"),
                  "refused before the first rename: %s", err.msg);
        } else {
            CHECK(0, "filling the set");
            outset_abort(s);
        }
        free(s);
    }
    snapshot(dir, after, sizeof after);
    CHECK(!strcmp(before, after), "destination changed:\n    before: %s\n    after:  %s", before,
          after);
    rm_rf(dir);
}

/* A set of five files over an --out holding an older run's three, plus one file in a
 * second directory; rename number k fails. */
static void injected_failure_at(size_t k)
{
    char dir[PATHLEN], p[PATHLEN], before[SNAPLEN], after[SNAPLEN];
    if (!make_tmpdir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    static const char *const old_files[] = {"metrics.csv", "manifest.json", "adv/t10k"};
    join(p, dir, "adv");
    CHECK(mkdir(p, 0777) == 0, "mkdir");
    for (size_t i = 0; i < 3; i++) {
        char text[64];
        snprintf(text, sizeof text, "old %s", old_files[i]);
        join(p, dir, old_files[i]);
        CHECK(write_text(p, text), "write %s", p);
    }
    snapshot(dir, before, sizeof before);
    static const char *const names[] = {"metrics.csv", "confusion_clean.csv", "adv/t10k",
                                        "poisoned_indices.csv", "manifest.json"};
    outset *s = malloc(sizeof *s);
    CHECK(s != NULL, "malloc");
    if (s) {
        outset_init(s);
        outset_fail_rename_at(s, k);
        ms_err err = {{0}};
        if (fill_set(s, dir, names, 5)) {
            ms_status st = outset_commit(s, &err);
            CHECK(st == MS_ECANTCREAT, "k=%zu: status %d: %s", k, (int)st, err.msg);
            CHECK(strstr(err.msg, names[k - 1]) != NULL, "k=%zu: message names %s: %s", k,
                  names[k - 1], err.msg);
            CHECK(strstr(err.msg, "rollback") == NULL, "k=%zu: rollback trouble: %s", k,
                  err.msg);
        } else {
            CHECK(0, "filling the set");
            outset_abort(s);
        }
        free(s);
    }
    snapshot(dir, after, sizeof after);
    CHECK(!strcmp(before, after), "k=%zu: destination changed:\n    before: %s\n    after:  %s",
          k, before, after);
    /* No backup link left holding the old files either. */
    for (size_t i = 0; i < 3; i++) {
        struct stat st;
        join(p, dir, old_files[i]);
        CHECK(lstat(p, &st) == 0 && st.st_nlink == 1, "k=%zu: %s has %ld links", k, p,
              (long)st.st_nlink);
    }
    rm_rf(dir);
}

static void test_rollback_first_rename_fails(void)
{
    injected_failure_at(1);
}

static void test_rollback_middle_renames_fail(void)
{
    injected_failure_at(2);
    injected_failure_at(3);
    injected_failure_at(4);
}

static void test_rollback_last_rename_fails(void)
{
    injected_failure_at(5);
}

/* Without injection the same set commits, over the same older files. */
static void test_injection_off_commits(void)
{
    char dir[PATHLEN], p[PATHLEN], snap[SNAPLEN];
    if (!make_tmpdir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    join(p, dir, "x");
    CHECK(write_text(p, "old x"), "write");
    outset *s = malloc(sizeof *s);
    CHECK(s != NULL, "malloc");
    if (s) {
        outset_init(s);
        outset_fail_rename_at(s, 3); /* beyond the set: nothing fails */
        static const char *const names[] = {"x", "y"};
        ms_err err = {{0}};
        if (fill_set(s, dir, names, 2))
            CHECK(outset_commit(s, &err) == MS_OK, "commit: %s", err.msg);
        else
            outset_abort(s);
        free(s);
    }
    snapshot(dir, snap, sizeof snap);
    CHECK(!strcmp(snap, "x=new x; y=new y; "), "after: %s", snap);
    rm_rf(dir);
}

/* ---- location checks -------------------------------------------------------------- */

static void test_check_writable_target(void)
{
    char dir[PATHLEN], p[PATHLEN];
    if (!make_tmpdir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    ms_err err = {{0}};
    join(p, dir, "sub");
    CHECK(mkdir(p, 0777) == 0, "mkdir");
    ms_status st = path_check_writable_target("--save", p, &err);
    CHECK(st == MS_ECANTCREAT, "directory target: status %d", (int)st);
    CHECK(strstr(err.msg, "--save") && strstr(err.msg, p) && strstr(err.msg, "directory"),
          "message: %s", err.msg);

    join(p, dir, "model.ckpt");
    CHECK(path_check_writable_target("--save", p, &err) == MS_OK, "new file: %s", err.msg);
    CHECK(write_text(p, "old"), "write");
    CHECK(path_check_writable_target("--save", p, &err) == MS_OK, "existing file: %s",
          err.msg);

    join(p, dir, "nodir/model.ckpt");
    st = path_check_writable_target("--save", p, &err);
    CHECK(st == MS_ECANTCREAT && strstr(err.msg, "does not exist"), "missing dir: %d %s",
          (int)st, err.msg);
    join(p, dir, "model.ckpt/x");
    st = path_check_writable_target("--save", p, &err);
    CHECK(st == MS_ECANTCREAT, "parent is a file: %d %s", (int)st, err.msg);
    rm_rf(dir);
}

static void test_check_output_dir(void)
{
    char dir[PATHLEN], p[PATHLEN];
    if (!make_tmpdir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    ms_err err = {{0}};
    join(p, dir, "afile");
    CHECK(write_text(p, "x"), "write");
    ms_status st = path_check_output_dir("--out", p, &err);
    CHECK(st == MS_ECANTCREAT, "regular file: status %d", (int)st);
    CHECK(strstr(err.msg, "--out") && strstr(err.msg, p) && strstr(err.msg, "not a directory"),
          "message: %s", err.msg);
    CHECK(path_check_output_dir("--out", dir, &err) == MS_OK, "existing dir: %s", err.msg);
    join(p, dir, "new/deeper");
    CHECK(path_check_output_dir("--out", p, &err) == MS_OK, "missing dir: %s", err.msg);
    rm_rf(dir);
}

static void test_created_dirs_removed(void)
{
    char dir[PATHLEN], p[PATHLEN], keep[PATHLEN], snap[SNAPLEN];
    if (!make_tmpdir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    join(keep, dir, "old");
    CHECK(mkdir(keep, 0777) == 0, "mkdir");
    join(p, dir, "old/a/b/c");
    size_t existed = path_existing_prefix_len(p);
    CHECK(existed == strlen(keep), "existing prefix %zu, want %zu", existed, strlen(keep));
    ms_err err = {{0}};
    CHECK(make_dirs(p, &err) == MS_OK, "make_dirs: %s", err.msg);
    CHECK(path_existing_prefix_len(p) == strlen(p), "all exists now");
    dirs_remove_created(p, existed);
    snapshot(dir, snap, sizeof snap);
    CHECK(!strcmp(snap, "old/ "), "after removal: %s", snap);

    /* A created directory that holds a file is kept, with its parents. */
    CHECK(make_dirs(p, &err) == MS_OK, "make_dirs: %s", err.msg);
    join(p, dir, "old/a/file");
    CHECK(write_text(p, "x"), "write");
    join(p, dir, "old/a/b/c");
    dirs_remove_created(p, existed);
    snapshot(dir, snap, sizeof snap);
    CHECK(!strcmp(snap, "old/ old/a/ old/a/file=x; "), "after removal: %s", snap);
    rm_rf(dir);
}

/* ---- output directory lock -------------------------------------------------------- */

static long lock_file_pid(const char *dir)
{
    char p[PATHLEN], buf[64] = "";
    join(p, dir, OUTDIR_LOCK_NAME);
    FILE *f = fopen(p, "rb");
    if (!f)
        return -1;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    return strtol(buf, NULL, 10);
}

static void test_lock_exclusive(void)
{
    char dir[PATHLEN], want[PATHLEN + 128], snap[SNAPLEN];
    if (!make_tmpdir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    outdir_lock_t a, b;
    ms_err err = {{0}};
    CHECK(outdir_lock(dir, &a, &err) == MS_OK, "first lock: %s", err.msg);
    CHECK(lock_file_pid(dir) == (long)getpid(), "lock file holds %ld, want %ld",
          lock_file_pid(dir), (long)getpid());
    ms_status st = outdir_lock(dir, &b, &err);
    CHECK(st == MS_ECANTCREAT, "second lock: status %d", (int)st);
    snprintf(want, sizeof want, "--out %s: in use by another mnistsec run (process %ld)", dir,
             (long)getpid());
    CHECK(!strcmp(err.msg, want), "message: %s", err.msg);
    outdir_unlock(&b); /* not held: must leave a's file alone */
    CHECK(lock_file_pid(dir) == (long)getpid(), "failed lock's unlock kept the file");
    outdir_unlock(&a);
    snapshot(dir, snap, sizeof snap);
    CHECK(!strcmp(snap, ""), "unlock leaves nothing: %s", snap);
    CHECK(outdir_lock(dir, &a, &err) == MS_OK, "lock again: %s", err.msg);
    outdir_unlock(&a);
    outdir_unlock(&a); /* twice is harmless */
    rm_rf(dir);
}

/* A lock held by another live process (a child blocked on a pipe). */
static void test_lock_held_by_other_process(void)
{
    char dir[PATHLEN], p[PATHLEN], text[32], want[PATHLEN + 128];
    if (!make_tmpdir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK(0, "pipe");
        rm_rf(dir);
        return;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        char c;
        close(fds[1]);
        while (read(fds[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(fds[0]);
    CHECK(child > 0, "fork");
    if (child > 0) {
        join(p, dir, OUTDIR_LOCK_NAME);
        snprintf(text, sizeof text, "%ld\n", (long)child);
        CHECK(write_text(p, text), "write");
        outdir_lock_t lk;
        ms_err err = {{0}};
        ms_status st = outdir_lock(dir, &lk, &err);
        CHECK(st == MS_ECANTCREAT, "status %d", (int)st);
        snprintf(want, sizeof want, "--out %s: in use by another mnistsec run (process %ld)",
                 dir, (long)child);
        CHECK(!strcmp(err.msg, want), "message: %s", err.msg);
        CHECK(lock_file_pid(dir) == (long)child, "the other run's lock file is untouched");
    }
    close(fds[1]);
    if (child > 0)
        waitpid(child, NULL, 0);
    rm_rf(dir);
}

static void test_lock_stale_taken_over(void)
{
    char dir[PATHLEN], p[PATHLEN], text[32], snap[SNAPLEN];
    if (!make_tmpdir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    CHECK(child > 0, "fork");
    if (child <= 0) {
        rm_rf(dir);
        return;
    }
    waitpid(child, NULL, 0); /* reaped: the pid names no process now */
    join(p, dir, OUTDIR_LOCK_NAME);
    snprintf(text, sizeof text, "%ld\n", (long)child);
    CHECK(write_text(p, text), "write");
    outdir_lock_t lk;
    ms_err err = {{0}};
    CHECK(outdir_lock(dir, &lk, &err) == MS_OK, "stale lock of %ld: %s", (long)child, err.msg);
    CHECK(lock_file_pid(dir) == (long)getpid(), "lock file now holds %ld", lock_file_pid(dir));
    snprintf(text, sizeof text, "%s=%ld\n; ", OUTDIR_LOCK_NAME, (long)getpid());
    snapshot(dir, snap, sizeof snap);
    CHECK(!strcmp(snap, text), "only the lock file: %s", snap);
    outdir_unlock(&lk);
    snapshot(dir, snap, sizeof snap);
    CHECK(!strcmp(snap, ""), "unlock removes the file: %s", snap);
    rm_rf(dir);
}

static void test_lock_without_pid_refused(void)
{
    char dir[PATHLEN], p[PATHLEN];
    if (!make_tmpdir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    join(p, dir, OUTDIR_LOCK_NAME);
    CHECK(write_text(p, ""), "write");
    outdir_lock_t lk;
    ms_err err = {{0}};
    ms_status st = outdir_lock(dir, &lk, &err);
    CHECK(st == MS_ECANTCREAT && strstr(err.msg, "no process id"), "empty lock file: %d %s",
          (int)st, err.msg);
    join(p, dir, "missing");
    st = outdir_lock(p, &lk, &err);
    CHECK(st == MS_ECANTCREAT && strstr(err.msg, p), "missing directory: %d %s", (int)st,
          err.msg);
    rm_rf(dir);
}

int main(void)
{
    RUN(test_commit_replaces_older_files);
    RUN(test_commit_refuses_directory_target);
    RUN(test_rollback_first_rename_fails);
    RUN(test_rollback_middle_renames_fail);
    RUN(test_rollback_last_rename_fails);
    RUN(test_injection_off_commits);
    RUN(test_check_writable_target);
    RUN(test_check_output_dir);
    RUN(test_created_dirs_removed);
    RUN(test_lock_exclusive);
    RUN(test_lock_held_by_other_process);
    RUN(test_lock_stale_taken_over);
    RUN(test_lock_without_pid_refused);
    TEST_END();
}
