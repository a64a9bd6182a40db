/* test_svg.c - the SVG chart writers (svg.h).
 *
 * Each chart is written through an outset into a mkdtemp directory and read back:
 * it must parse as XML (xmllint --noout, when installed; else that test is a skip),
 * hold no script and no link other than the SVG namespace, use only the sans-serif
 * font family, escape text, place round tick values, and refuse a NaN or infinity
 * before any file is opened. The heatmap must hold n*n cells whose count texts are
 * the counts in row order, with text colour contrasting with the cell.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "svg.h"
#include "test.h"

#define PATHLEN 1024

static char tmpdir[PATHLEN];

static void join(char *out, const char *leaf)
{
    int k = snprintf(out, PATHLEN, "%s/%s", tmpdir, leaf);
    if (k < 0 || k >= PATHLEN) {
        fprintf(stderr, "test path too long: %s/%s\n", tmpdir, leaf);
        exit(1);
    }
}

static int sh_ok(const char *cmd)
{
    char full[PATHLEN * 3];
    snprintf(full, sizeof full, "{ %s; } >/dev/null 2>&1", cmd);
    return system(full) == 0;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += k)
        n++;
    return n;
}

/* Reads a whole file as a NUL-terminated string (free it), or NULL. */
static char *slurp(const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    ms_err err = {{0}};
    if (file_read_all(path, 16u << 20, &data, &len, &err) != MS_OK) {
        CHECK(0, "%s", err.msg);
        return NULL;
    }
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, data, len);
        s[len] = '\0';
    }
    free(data);
    return s;
}

/* Writes one chart (line chart if c, else heatmap h) as leaf; returns its text. */
static char *write_chart(const char *leaf, const line_chart *c, const heatmap *h)
{
    char path[PATHLEN];
    join(path, leaf);
    outset os;
    outset_init(&os);
    ms_err err = {{0}};
    ms_status s = c ? svg_line_chart(&os, path, c, &err) : svg_heatmap(&os, path, h, &err);
    if (s == MS_OK)
        s = outset_commit(&os, &err);
    else
        outset_abort(&os);
    CHECK(s == MS_OK, "%s: %s", leaf, err.msg);
    return s == MS_OK ? slurp(path) : NULL;
}

/* Checks common to every chart: one namespace link and no other, no script, no
 * external reference, only sans-serif. */
static void check_clean(const char *svg, const char *what)
{
    CHECK(!strstr(svg, "<script") && !strstr(svg, "<SCRIPT"), "%s: no script", what);
    CHECK(count(svg, "http") == 1 && count(svg, "xmlns=\"http://www.w3.org/2000/svg\"") == 1,
          "%s: the only link is the SVG namespace", what);
    CHECK(!strstr(svg, "xlink") && !strstr(svg, "<image") && !strstr(svg, "@import") &&
              !strstr(svg, "<style"),
          "%s: nothing external", what);
    CHECK(count(svg, "font-family=") == count(svg, "font-family=\"sans-serif\""),
          "%s: sans-serif only", what);
    static const char *const bad[] = {"\"nan", "\"-nan", " nan", ",nan", "\"inf", "\"-inf",
                                      " inf", " -inf", ",inf", ",-inf", ">nan<", ">inf<"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!strstr(svg, bad[i]), "%s: non-finite number (%s)", what, bad[i]);
}

/* 1 if the text element "<...>label</text>" exists. */
static int has_text(const char *svg, const char *label)
{
    char want[64];
    snprintf(want, sizeof want, ">%s</text>", label);
    return strstr(svg, want) != NULL;
}

static const double eps[5] = {0.0, 0.05, 0.1, 0.2, 0.3};
static const double acc_fgsm[5] = {0.99, 0.9, 0.7, 0.3, 0.1};
static const double acc_pgd[5] = {0.99, 0.85, 0.5, 0.1, 0.0};

static void test_line_chart(void)
{
    chart_series s[2] = {{"FGSM", 5, eps, acc_fgsm}, {"PGD <40 steps> & 'rand' \"init\"", 5, eps,
                                                      acc_pgd}};
    line_chart c = {"Accuracy & robustness <L-inf>", "epsilon", "accuracy", 2, s, 0, 1, 0.0, 1.0,
                    0, 0};
    char *svg = write_chart("acc.svg", &c, NULL);
    if (!svg)
        return;
    check_clean(svg, "line chart");
    CHECK(strstr(svg, ">Accuracy &amp; robustness &lt;L-inf&gt;</text>") != NULL,
          "title escaped");
    CHECK(strstr(svg, "PGD &lt;40 steps&gt; &amp; &apos;rand&apos; &quot;init&quot;") != NULL,
          "series name escaped");
    CHECK(!strstr(svg, "& r") && !strstr(svg, "<L-inf"), "no raw & or <");
    const char *yt[6] = {"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"};
    for (int i = 0; i < 6; i++)
        CHECK(has_text(svg, yt[i]), "y tick %s", yt[i]);
    const char *xt[7] = {"0.00", "0.05", "0.10", "0.15", "0.20", "0.25", "0.30"};
    for (int i = 0; i < 7; i++)
        CHECK(has_text(svg, xt[i]), "x tick %s", xt[i]);
    CHECK(count(svg, "<polyline") == 2, "one polyline per series");
    CHECK(count(svg, "stroke-dasharray=") == 2, "second series dashed in plot and legend");
    CHECK(has_text(svg, "epsilon") && has_text(svg, "accuracy"), "axis labels");
    free(svg);
}

static void test_auto_and_log_axes(void)
{
    double ep[4] = {1, 2, 3, 4}, loss[4] = {2.31, 0.9, 0.2, 0.013};
    chart_series s = {"loss", 4, ep, loss};
    line_chart c = {"Training", "epoch", "loss", 1, &s, 0, 0, 0, 0, 0, 0};
    char *svg = write_chart("loss.svg", &c, NULL);
    if (svg) {
        check_clean(svg, "auto axes");
        CHECK(has_text(svg, "0.0") && has_text(svg, "2.5") && has_text(svg, "1.5"),
              "automatic y axis widened to steps of 0.5");
        CHECK(has_text(svg, "1.0") || has_text(svg, "1"), "x ticks");
        free(svg);
    }
    double pc[4] = {10, 50, 300, 2000}, asr[4] = {0.05, 0.4, 0.95, 1.0};
    chart_series b = {"ASR", 4, pc, asr};
    line_chart lc = {NULL, "poisoned examples", "attack success rate", 1, &b, 1, 1, 0, 1, 0, 0};
    svg = write_chart("sweep.svg", &lc, NULL);
    if (svg) {
        check_clean(svg, "log axis");
        CHECK(has_text(svg, "10") && has_text(svg, "100") && has_text(svg, "1000") &&
                  has_text(svg, "10000"),
              "decade ticks");
        CHECK(!strstr(svg, "e+0"), "decades written out");
        free(svg);
    }
}

static void test_refuses_nonfinite(void)
{
    double y[5] = {0.9, 0.8, NAN, 0.1, 0.0}, x[5] = {0, 0.1, 0.2, 0.3, 0.4};
    chart_series s[2] = {{"FGSM", 5, eps, acc_fgsm}, {"PGD", 5, x, y}};
    line_chart c = {"t", "x", "y", 2, s, 0, 0, 0, 0, 0, 0};
    char path[PATHLEN];
    join(path, "nan.svg");
    outset os;
    outset_init(&os);
    ms_err err = {{0}};
    CHECK(svg_line_chart(&os, path, &c, &err) == MS_EINTERNAL, "NaN refused");
    CHECK(strstr(err.msg, "'PGD'") && strstr(err.msg, "point 2"), "names series and point: %s",
          err.msg);
    CHECK(os.n == 0, "no file opened");
    y[2] = 0.5, x[3] = INFINITY;
    CHECK(svg_line_chart(&os, path, &c, &err) == MS_EINTERNAL && strstr(err.msg, "point 3"),
          "infinity refused: %s", err.msg);
    x[3] = 0.3;
    c.log_x = 1; /* x[0] = 0 */
    CHECK(svg_line_chart(&os, path, &c, &err) == MS_EINTERNAL && strstr(err.msg, "point 0"),
          "x = 0 on a log axis refused: %s", err.msg);
    c.log_x = 0, c.y_fixed = 1, c.y_min = 1, c.y_max = 0;
    CHECK(svg_line_chart(&os, path, &c, &err) == MS_EINTERNAL, "decreasing fixed range");
    c.y_fixed = 0, c.nseries = 0;
    CHECK(svg_line_chart(&os, path, &c, &err) == MS_EINTERNAL, "no series");
    c.nseries = SVG_MAX_SERIES + 1;
    CHECK(svg_line_chart(&os, path, &c, &err) == MS_EINTERNAL, "too many series");
    CHECK(os.n == 0 && access(path, F_OK) != 0, "nothing written");
    outset_abort(&os);
}

static void test_many_series_distinct(void)
{
    chart_series s[SVG_MAX_SERIES];
    static const char *names[SVG_MAX_SERIES] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    for (int i = 0; i < SVG_MAX_SERIES; i++)
        s[i] = (chart_series){names[i], 5, eps, acc_fgsm};
    line_chart c = {"eight", "x", "y", SVG_MAX_SERIES, s, 0, 1, 0, 1, 0, 0};
    char *svg = write_chart("eight.svg", &c, NULL);
    if (!svg)
        return;
    check_clean(svg, "eight series");
    CHECK(count(svg, "<polyline") == SVG_MAX_SERIES, "eight lines");
    /* every series has its own colour and its own dash pattern (or none) */
    const char *p = svg;
    char seen[SVG_MAX_SERIES][64];
    for (int i = 0; i < SVG_MAX_SERIES && (p = strstr(p, "<polyline")); i++, p++) {
        const char *st = strstr(p, "stroke=\"");
        const char *end = strstr(p, "/>");
        CHECK(st && end && st < end, "polyline %d has a stroke", i);
        if (!st || !end)
            return;
        size_t k = (size_t)(end - st) < 63 ? (size_t)(end - st) : 63;
        memcpy(seen[i], st, k);
        seen[i][k] = '\0';
        for (int j = 0; j < i; j++)
            CHECK(strncmp(seen[i], seen[j], 17) != 0, "series %d and %d share a colour", i, j);
    }
    free(svg);
}

static void test_heatmap(void)
{
    uint64_t m[100];
    for (int t = 0; t < 10; t++)
        for (int p = 0; p < 10; p++)
            m[t * 10 + p] = t == p ? 900u + (uint64_t)t * 11u : (uint64_t)((t * 7 + p * 3) % 13);
    heatmap h = {"Confusion <FGSM> & co", 10, m, NULL, NULL, NULL, 0};
    char *svg = write_chart("conf.svg", NULL, &h);
    if (!svg)
        return;
    check_clean(svg, "heatmap");
    CHECK(count(svg, "<rect class=\"cell\"") == 100, "100 cells, got %zu",
          count(svg, "<rect class=\"cell\""));
    CHECK(count(svg, "<text class=\"count\"") == 100, "100 counts");
    const char *p = svg;
    for (int i = 0; i < 100; i++) {
        p = strstr(p, "<text class=\"count\"");
        if (!p) {
            CHECK(0, "count %d missing", i);
            break;
        }
        const char *gt = strchr(p, '>');
        unsigned long long v = gt ? strtoull(gt + 1, NULL, 10) : 0;
        CHECK(gt && v == m[i], "cell %d (true %d, predicted %d): %llu, want %llu", i, i / 10,
              i % 10, v, (unsigned long long)m[i]);
        /* largest count: yellow with black text; zero: dark purple with white text */
        if (m[i] == 999)
            CHECK(strstr(p, "fill=\"#000000\"") && strstr(p, "fill=\"#000000\"") < gt,
                  "black on the brightest cell");
        if (m[i] == 0)
            CHECK(strstr(p, "fill=\"#ffffff\"") && strstr(p, "fill=\"#ffffff\"") < gt,
                  "white on the darkest cell");
        p++;
    }
    CHECK(strstr(svg, "fill=\"#fde725\"><title>true 9, predicted 9: 999</title>") != NULL,
          "max cell at the top of the scale with its tooltip");
    CHECK(strstr(svg, "fill=\"#440154\"><title>") != NULL, "zero cells at the bottom");
    CHECK(strstr(svg, "Confusion &lt;FGSM&gt; &amp; co") != NULL, "title escaped");
    CHECK(has_text(svg, "true") && has_text(svg, "predicted"), "axis titles");
    free(svg);

    static const char *labels[3] = {"cat & dog", "<b>", "x"};
    uint64_t z[9] = {0};
    heatmap small = {NULL, 3, z, labels, "actual", "guess", 1};
    svg = write_chart("small.svg", NULL, &small);
    if (svg) {
        check_clean(svg, "small heatmap");
        CHECK(count(svg, "<rect class=\"cell\"") == 9, "9 cells");
        CHECK(strstr(svg, "cat &amp; dog") && strstr(svg, "&lt;b&gt;") && !strstr(svg, "<b>"),
              "labels escaped");
        free(svg);
    }
    char path[PATHLEN];
    join(path, "none.svg");
    outset os;
    outset_init(&os);
    ms_err err = {{0}};
    heatmap bad = {NULL, 0, z, NULL, NULL, NULL, 0};
    CHECK(svg_heatmap(&os, path, &bad, &err) == MS_EINTERNAL && os.n == 0, "n = 0 refused");
    bad.n = SVG_MAX_CLASSES + 1;
    CHECK(svg_heatmap(&os, path, &bad, &err) == MS_EINTERNAL, "n too large refused");
    outset_abort(&os);
}

static void test_xmllint(void)
{
    if (!sh_ok("command -v xmllint")) {
        SKIP("xmllint not installed");
        return;
    }
    const char *leaves[] = {"acc.svg", "loss.svg", "sweep.svg", "eight.svg", "conf.svg",
                            "small.svg"};
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
        char path[PATHLEN], cmd[PATHLEN * 2];
        join(path, leaves[i]);
        CHECK(access(path, F_OK) == 0, "%s was written", leaves[i]);
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path);
        CHECK(sh_ok(cmd), "%s is not well-formed XML", leaves[i]);
    }
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    int k = snprintf(tmpdir, sizeof tmpdir, "%s/mnistsec-svg-XXXXXX",
                     base && *base ? base : "/tmp");
    if (k < 0 || (size_t)k >= sizeof tmpdir || !mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_line_chart);
    RUN(test_auto_and_log_axes);
    RUN(test_refuses_nonfinite);
    RUN(test_many_series_distinct);
    RUN(test_heatmap);
    RUN(test_xmllint);
    const char *leaves[] = {"acc.svg", "loss.svg", "sweep.svg", "eight.svg", "conf.svg",
                            "small.svg"};
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
        char path[PATHLEN];
        join(path, leaves[i]);
        unlink(path);
    }
    if (rmdir(tmpdir) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_END();
}
