/* test_results.c - result containers grow instead of dropping or overflowing (metric
 * rows, long keys, confusion matrices), the CSV table writer quotes as RFC 4180 and
 * refuses an incomplete row, and the files appear only on commit. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results.h"
#include "test.h"

static char dir[64];

static char *slurp(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_metrics_grow(void)
{
    metrics mt;
    metrics_init(&mt);
    char key[300];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "row_%d", i);
        metrics_int(&mt, key, (uint64_t)i);
    }
    memset(key, 'k', 200);
    key[200] = '\0';
    metrics_num(&mt, key, 0.5);
    CHECK(mt.n == 501 && mt.status == MS_OK, "%zu rows, status %d", mt.n, (int)mt.status);
    CHECK(strcmp(metrics_get(&mt, "row_499"), "499") == 0, "row 499 lost");
    CHECK(metrics_get(&mt, key) && strlen(mt.row[500].key) == 200, "long key truncated");
    metrics_num(&mt, "row_3", 1.25); /* replaces, does not add */
    CHECK(mt.n == 501 && strcmp(metrics_get(&mt, "row_3"), "1.25") == 0, "replace failed");
    metrics_num2(&mt, "after_", "x", 2.0);
    CHECK(metrics_get(&mt, "after_x") != NULL, "prefixed key missing");
    outset os;
    outset_init(&os);
    ms_err err;
    CHECK(write_metrics_csv(&os, dir, &mt, &err) == MS_OK, "%s", err.msg);
    CHECK(slurp("metrics.csv") == NULL, "metrics.csv visible before commit");
    CHECK(outset_commit(&os, &err) == MS_OK, "%s", err.msg);
    char *text = slurp("metrics.csv");
    size_t lines = 0;
    for (char *p = text; p && *p; p++)
        lines += *p == '\n';
    CHECK(lines == 503, "metrics.csv has %zu lines, want 503", lines);
    /* a failed allocation is reported when writing, not dropped */
    mt.status = MS_EINTERNAL;
    outset_init(&os);
    CHECK(write_metrics_csv(&os, dir, &mt, &err) == MS_EINTERNAL, "sticky status ignored");
    outset_abort(&os);
    metrics_free(&mt);
}

static void test_confusions_grow(void)
{
    confusion_list cl;
    confusions_init(&cl);
    uint64_t m[CNN_CLASSES][CNN_CLASSES] = {{0}};
    char name[32];
    for (int i = 0; i < 12; i++) {
        m[i % CNN_CLASSES][0] = (uint64_t)i;
        snprintf(name, sizeof name, "c%d", i);
        confusions_add(&cl, name, (const uint64_t(*)[CNN_CLASSES])m, i == 0);
    }
    CHECK(cl.n == 12 && cl.status == MS_OK, "%zu matrices", cl.n);
    CHECK(cl.e[11].m[1][0] == 11, "matrix 11 content");
    outset os;
    outset_init(&os);
    ms_err err;
    CHECK(write_confusions(&os, dir, &cl, &err) == MS_OK, "%s", err.msg);
    CHECK(outset_commit(&os, &err) == MS_OK, "%s", err.msg);
    CHECK(slurp("confusion_c11.csv") != NULL, "confusion_c11.csv missing");
    CHECK(slurp("per_class.csv") != NULL, "per_class.csv missing");
    confusions_free(&cl);
}

static void test_table_quoting(void)
{
    static const char *const cols[] = {"name", "value", "note"};
    csv_table t;
    table_init(&t, "t.csv", 3, cols);
    table_str(&t, "plain");
    table_num(&t, 0.25);
    table_str(&t, "a, b");
    table_str(&t, "say \"hi\"");
    table_int(&t, 7);
    table_str(&t, "two\nlines");
    CHECK(table_rows(&t) == 2, "%zu rows", table_rows(&t));
    outset os;
    outset_init(&os);
    ms_err err;
    CHECK(write_table_csv(&os, dir, &t, &err) == MS_OK, "%s", err.msg);
    CHECK(outset_commit(&os, &err) == MS_OK, "%s", err.msg);
    const char *want = "name,value,note\nplain,0.25,\"a, b\"\n\"say \"\"hi\"\"\",7,\"two\nlines\"\n";
    char *got = slurp("t.csv");
    CHECK(got && strcmp(got, want) == 0, "table text:\n%s", got ? got : "(none)");
    /* an incomplete row is refused */
    table_str(&t, "dangling");
    outset_init(&os);
    CHECK(write_table_csv(&os, dir, &t, &err) == MS_EINTERNAL, "incomplete row written");
    CHECK(strstr(err.msg, "t.csv") != NULL, "message names no table: %s", err.msg);
    outset_abort(&os);
    table_free(&t);
}

/* A NaN or infinity never reaches a file: the write is refused, naming the row. */
static void test_nonfinite_refused(void)
{
    metrics mt;
    metrics_init(&mt);
    metrics_num(&mt, "clean_accuracy", 0.5);
    metrics_num(&mt, "clean_loss", NAN);
    metrics_time(&mt, "train_seconds", INFINITY);
    outset os;
    outset_init(&os);
    ms_err err;
    CHECK(write_metrics_csv(&os, dir, &mt, &err) == MS_ENUMERIC, "NaN metric written");
    CHECK(strstr(err.msg, "clean_loss") != NULL, "message: %s", err.msg);
    outset_abort(&os);
    metrics_free(&mt);
    static const char *const cols[] = {"a", "b"};
    csv_table t;
    table_init(&t, "nf.csv", 2, cols);
    table_num(&t, 1.0);
    table_num(&t, -INFINITY);
    outset_init(&os);
    CHECK(write_table_csv(&os, dir, &t, &err) == MS_ENUMERIC, "Inf cell written");
    CHECK(strstr(err.msg, "nf.csv") != NULL, "message: %s", err.msg);
    outset_abort(&os);
    table_free(&t);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_results.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_metrics_grow);
    RUN(test_confusions_grow);
    RUN(test_table_quoting);
    RUN(test_nonfinite_refused);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_END();
}
