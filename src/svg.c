/* svg.c - SVG 1.1 line charts and heatmaps (svg.h).
 *
 * Coordinates are in px with the origin top-left, printed with two decimals. Numbers
 * are printed in the C locale, which the program never changes (no setlocale). Text
 * widths are estimated as CHAR_W times the font size per character (an average for
 * sans-serif faces) to leave room for labels and the legend.
 */
#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CHAR_W 0.6
#define MAX_TICKS 40
#define MARKERS_PER_SERIES 25

/* Okabe-Ito, reordered for contrast on white; grey replaces its yellow. */
static const char *const palette[SVG_MAX_SERIES] = {"#0072B2", "#D55E00", "#009E73",
                                                    "#CC79A7", "#E69F00", "#56B4E9",
                                                    "#000000", "#888888"};
static const char *const dashes[SVG_MAX_SERIES] = {NULL,  "7,4",     "2,3", "9,3,2,3",
                                                   "4,2", "12,4",    "1,2", "6,2,2,2,2,2"};

/* ---- text and numbers --------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (2..4), or 0. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
    if (n == 0 || c > 0xF4)
        return 0;
    unsigned lo = 0x80, hi = 0xBF; /* bounds of the second byte */
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0u) != 0x80u)
            return 0;
    return n;
}

/* Character data or attribute value, escaped for XML. */
static void xml_text(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if (*p >= 0x80) {
                size_t n = utf8_len(p);
                if (n) {
                    fwrite(p, 1, n, f);
                    p += n;
                    continue;
                }
                fputc('?', f);
            } else {
                fputc(*p < 0x20 ? '?' : *p, f);
            }
        }
        p++;
    }
}

/* Characters of text for width estimates (a UTF-8 sequence counts once). */
static size_t text_chars(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xC0u) != 0x80u;
    return n;
}

static double text_w(const char *s, double font)
{
    return (double)text_chars(s) * font * CHAR_W;
}

/* A coordinate: two decimals. */
static void num(FILE *f, double v)
{
    fprintf(f, "%.2f", v);
}

static void text_el(FILE *f, double x, double y, const char *anchor, double size,
                    const char *extra, const char *s)
{
    fputs("<text x=\"", f);
    num(f, x);
    fputs("\" y=\"", f);
    num(f, y);
    fprintf(f, "\" text-anchor=\"%s\" font-size=\"%g\"%s>", anchor, size, extra ? extra : "");
    xml_text(f, s);
    fputs("</text>\n", f);
}

static void svg_open(FILE *f, double w, double h)
{
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"", f);
    num(f, w);
    fputs("\" height=\"", f);
    num(f, h);
    fputs("\" viewBox=\"0 0 ", f);
    num(f, w);
    fputc(' ', f);
    num(f, h);
    fputs("\" font-family=\"sans-serif\" fill=\"#222222\">\n<rect x=\"0\" y=\"0\" "
          "width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);
}

/* ---- axes ------------------------------------------------------------------------ */

typedef struct {
    double lo, hi; /* data units, or log10 of them on a log axis */
    int log;
    size_t n;
    double v[MAX_TICKS];
    char label[MAX_TICKS][24];
} axis;

static double axis_t(const axis *a, double v)
{
    return ((a->log ? log10(v) : v) - a->lo) / (a->hi - a->lo);
}

/* 1, 2 or 5 times a power of ten, near range / 5. */
static double nice_step(double range)
{
    double raw = range / 5.0, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * mag;
}

static void tick_label(char *buf, size_t cap, double v, double step)
{
    if (fabs(v) >= 1e6 || step < 1e-4) {
        snprintf(buf, cap, "%.4g", v);
        return;
    }
    int dec = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, cap, "%.*f", dec, v);
}

/* Linear axis over [dmin, dmax]: exactly that if fixed, else widened to ticks. */
static void axis_linear(axis *a, double dmin, double dmax, int fixed)
{
    if (!fixed && !(dmax - dmin > 1e-12 * fmax(fabs(dmin), fabs(dmax)))) {
        double pad = dmin == 0.0 ? 1.0 : fabs(dmin) * 0.5;
        dmin -= pad, dmax += pad;
    }
    double step = nice_step(dmax - dmin);
    if (!fixed) {
        dmin = floor(dmin / step + 1e-9) * step;
        dmax = ceil(dmax / step - 1e-9) * step;
    }
    a->lo = dmin, a->hi = dmax, a->log = 0, a->n = 0;
    for (double k = ceil(dmin / step - 1e-9); k * step <= dmax + step * 1e-9 && a->n < MAX_TICKS;
         k++) {
        double v = k * step;
        if (fabs(v) < step * 1e-9)
            v = 0.0;
        a->v[a->n] = v;
        tick_label(a->label[a->n], sizeof a->label[0], v, step);
        a->n++;
    }
}

/* Log axis over [dmin, dmax] (both > 0): whole decades, ticks at decades (every
 * k-th if there are many), also at 2 and 5 times them over at most two decades. */
static void axis_log(axis *a, double dmin, double dmax)
{
    double lo = floor(log10(dmin)), hi = ceil(log10(dmax));
    if (hi - lo < 1.0)
        hi = lo + 1.0;
    a->lo = lo, a->hi = hi, a->log = 1, a->n = 0;
    double every = ceil((hi - lo) / 8.0);
    for (double d = lo; d <= hi && a->n < MAX_TICKS; d += every) {
        static const double mult[3] = {1.0, 2.0, 5.0};
        for (int m = 0; m < (hi - lo <= 2.0 ? 3 : 1); m++) {
            double v = mult[m] * pow(10.0, d);
            if (log10(v) > hi + 1e-9 || a->n >= MAX_TICKS)
                break;
            a->v[a->n] = v;
            /* 1000 and 10000 rather than 1e+03 and 1e+04 */
            snprintf(a->label[a->n], sizeof a->label[0], v >= 1.0 && v < 1e7 ? "%.0f" : "%.4g",
                     v);
            a->n++;
        }
    }
}

/* ---- line chart ------------------------------------------------------------------ */

static const char *series_name(const line_chart *c, size_t i, char *buf, size_t cap)
{
    if (c->series[i].name)
        return c->series[i].name;
    snprintf(buf, cap, "series %zu", i + 1);
    return buf;
}

static ms_status check_chart(const char *path, const line_chart *c, ms_err *err)
{
    if (!c || !c->series || c->nseries == 0 || c->nseries > SVG_MAX_SERIES)
        return ms_fail(err, MS_EINTERNAL, "%s: %zu series (1..%d)", path,
                       c && c->series ? c->nseries : 0, SVG_MAX_SERIES);
    if (c->y_fixed && !(isfinite(c->y_min) && isfinite(c->y_max) && c->y_min < c->y_max &&
                        isfinite(c->y_max - c->y_min)))
        return ms_fail(err, MS_EINTERNAL, "%s: fixed y range [%g, %g] is not finite and "
                       "increasing", path, c->y_min, c->y_max);
    for (size_t s = 0; s < c->nseries; s++) {
        const chart_series *se = &c->series[s];
        char nb[32];
        const char *nm = series_name(c, s, nb, sizeof nb);
        if (se->n > SVG_MAX_POINTS || (se->n && (!se->x || !se->y)))
            return ms_fail(err, MS_EINTERNAL, "%s: series '%s': %zu points (at most %u, "
                           "with x and y arrays)", path, nm, se->n, SVG_MAX_POINTS);
        for (size_t i = 0; i < se->n; i++) {
            if (!isfinite(se->x[i]) || !isfinite(se->y[i]))
                return ms_fail(err, MS_EINTERNAL, "%s: series '%s' point %zu: (x %g, y %g) is "
                               "not finite", path, nm, i, se->x[i], se->y[i]);
            if (c->log_x && !(se->x[i] > 0.0))
                return ms_fail(err, MS_EINTERNAL, "%s: series '%s' point %zu: x %g cannot be "
                               "shown on a log axis (x must be > 0)", path, nm, i, se->x[i]);
        }
    }
    return MS_OK;
}

/* Marker `shape` centred at (x, y): filled circle, square, triangle, diamond,
 * inverted triangle; open circle, open square; a cross. */
static void marker(FILE *f, size_t shape, double x, double y, const char *col)
{
    static const char *const rel[8] = {NULL, NULL, "m0,-5.5l4.8,8.3h-9.6z",
                                       "m0,-5.5l5,5.5l-5,5.5l-5,-5.5z", "m0,5.5l4.8,-8.3h-9.6z",
                                       NULL, NULL, "m-4,-4l8,8m-8,0l8,-8"};
    shape %= 8;
    if (shape == 0 || shape == 5)
        fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\"", x, y);
    else if (shape == 1 || shape == 6)
        fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"8\" height=\"8\"", x - 4, y - 4);
    else
        fprintf(f, "<path d=\"M%.2f,%.2f%s\"", x, y, rel[shape]);
    if (shape == 7)
        fprintf(f, " fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", col);
    else if (shape >= 5)
        fprintf(f, " fill=\"#ffffff\" stroke=\"%s\" stroke-width=\"1.8\"/>\n", col);
    else
        fprintf(f, " fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"0.8\"/>\n", col);
}

static void line_style(FILE *f, size_t s)
{
    fprintf(f, " fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\"",
            palette[s]);
    if (dashes[s])
        fprintf(f, " stroke-dasharray=\"%s\"", dashes[s]);
}

ms_status svg_line_chart(outset *os, const char *path, const line_chart *c, ms_err *err)
{
    if (!os || !path)
        return ms_fail(err, MS_EINTERNAL, "svg_line_chart: no output set or path");
    ms_status st = check_chart(path, c, err);
    if (st != MS_OK)
        return st;

    /* data ranges */
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t s = 0; s < c->nseries; s++)
        for (size_t i = 0; i < c->series[s].n; i++) {
            xmin = fmin(xmin, c->series[s].x[i]), xmax = fmax(xmax, c->series[s].x[i]);
            ymin = fmin(ymin, c->series[s].y[i]), ymax = fmax(ymax, c->series[s].y[i]);
        }
    if (xmin > xmax)
        xmin = c->log_x ? 1.0 : 0.0, xmax = c->log_x ? 10.0 : 1.0, ymin = 0.0, ymax = 1.0;
    if (!isfinite(xmax - xmin) || !isfinite(ymax - ymin))
        return ms_fail(err, MS_EINTERNAL, "%s: data range too wide to draw", path);
    axis ax, ay;
    if (c->log_x)
        axis_log(&ax, xmin, xmax);
    else
        axis_linear(&ax, xmin, xmax, 0);
    if (c->y_fixed)
        axis_linear(&ay, c->y_min, c->y_max, 1);
    else
        axis_linear(&ay, ymin, ymax, 0);

    /* layout */
    const double fs_title = 16, fs_tick = 12, fs_label = 13, fs_legend = 12;
    double ytick_w = 0, legend_text = 0;
    for (size_t i = 0; i < ay.n; i++)
        ytick_w = fmax(ytick_w, text_w(ay.label[i], fs_tick));
    char nb[32];
    for (size_t s = 0; s < c->nseries; s++)
        legend_text = fmax(legend_text, text_w(series_name(c, s, nb, sizeof nb), fs_legend));
    double W = c->width ? (double)c->width : 640, H = c->height ? (double)c->height : 400;
    double legend_w = 10 + 30 + 8 + legend_text + 10;
    double left = 12 + (c->y_label ? fs_label + 10 : 0) + ytick_w + 8;
    double top = c->title ? 46 : 16, bottom = H - (c->x_label ? 58 : 36);
    if (W - left - legend_w - 36 < 380)
        W = left + legend_w + 36 + 380;
    if (bottom - top < 160)
        H += 160 - (bottom - top), bottom = top + 160;
    double right = W - legend_w - 26;
    double pw = right - left, ph = bottom - top;

    FILE *f;
    st = outset_open(os, path, &f, err);
    if (st != MS_OK)
        return st;
    svg_open(f, W, H);
    if (c->title)
        text_el(f, W / 2, 28, "middle", fs_title, " font-weight=\"bold\"", c->title);
    fprintf(f, "<defs><clipPath id=\"plot\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
            "height=\"%.2f\"/></clipPath></defs>\n", left - 6, top - 6, pw + 12, ph + 12);

    /* grid, ticks and tick labels */
    if (ax.log && ax.hi - ax.lo <= 4.0) {
        /* unlabelled lines at 2..9 times each decade */
        fputs("<g stroke=\"#f0f0f0\" stroke-width=\"1\">\n", f);
        for (double d = ax.lo; d < ax.hi; d++)
            for (int m = 2; m <= 9; m++) {
                double x = left + (d + log10((double)m) - ax.lo) / (ax.hi - ax.lo) * pw;
                fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x, top,
                        x, bottom);
            }
        fputs("</g>\n", f);
    }
    fputs("<g stroke=\"#dddddd\" stroke-width=\"1\">\n", f);
    for (size_t i = 0; i < ax.n; i++) {
        double x = left + axis_t(&ax, ax.v[i]) * pw;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x, top, x, bottom);
    }
    for (size_t i = 0; i < ay.n; i++) {
        double y = bottom - axis_t(&ay, ay.v[i]) * ph;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", left, y, right, y);
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
            "stroke=\"#444444\" stroke-width=\"1\"/>\n", left, top, pw, ph);
    for (size_t i = 0; i < ax.n; i++)
        text_el(f, left + axis_t(&ax, ax.v[i]) * pw, bottom + 18, "middle", fs_tick, NULL,
                ax.label[i]);
    for (size_t i = 0; i < ay.n; i++)
        text_el(f, left - 6, bottom - axis_t(&ay, ay.v[i]) * ph + 4, "end", fs_tick, NULL,
                ay.label[i]);
    if (c->x_label)
        text_el(f, left + pw / 2, bottom + 44, "middle", fs_label, NULL, c->x_label);
    if (c->y_label) {
        double x = 12 + fs_label, y = top + ph / 2;
        char rot[80];
        snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.2f %.2f)\"", x, y);
        text_el(f, x, y, "middle", fs_label, rot, c->y_label);
    }

    /* series: line, then markers spread evenly (offset per series so that markers of
     * series sharing x values do not all sit on top of each other) */
    fputs("<g clip-path=\"url(#plot)\">\n", f);
    for (size_t s = 0; s < c->nseries; s++) {
        const chart_series *se = &c->series[s];
        if (se->n == 0)
            continue;
        fprintf(f, "<g class=\"series\" id=\"series%zu\">\n<polyline points=\"", s + 1);
        for (size_t i = 0; i < se->n; i++)
            fprintf(f, "%s%.2f,%.2f", i ? " " : "", left + axis_t(&ax, se->x[i]) * pw,
                    bottom - axis_t(&ay, se->y[i]) * ph);
        fputc('"', f);
        line_style(f, s);
        fputs("/>\n", f);
        size_t every = (se->n + MARKERS_PER_SERIES - 1) / MARKERS_PER_SERIES;
        for (size_t i = every > 1 ? (s * every) / c->nseries : 0; i < se->n; i += every)
            marker(f, s, left + axis_t(&ax, se->x[i]) * pw, bottom - axis_t(&ay, se->y[i]) * ph,
                   palette[s]);
        fputs("</g>\n", f);
    }
    fputs("</g>\n", f);

    /* legend */
    double lx = right + 16, ly = top;
    fprintf(f, "<g class=\"legend\">\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
            "fill=\"#ffffff\" stroke=\"#bbbbbb\"/>\n", lx, ly, legend_w, 8 + 22.0 * (double)c->nseries);
    for (size_t s = 0; s < c->nseries; s++) {
        double y = ly + 4 + 22.0 * (double)s + 11;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"", lx + 10, y, lx + 40, y);
        line_style(f, s);
        fputs("/>\n", f);
        marker(f, s, lx + 25, y, palette[s]);
        text_el(f, lx + 48, y + 4, "start", fs_legend, NULL, series_name(c, s, nb, sizeof nb));
    }
    fputs("</g>\n</svg>\n", f);
    return MS_OK;
}

/* ---- heatmap --------------------------------------------------------------------- */

/* viridis at t = 0, 0.1, ..., 1 */
static const uint8_t viridis[11][3] = {
    {0x44, 0x01, 0x54}, {0x48, 0x24, 0x75}, {0x41, 0x44, 0x87}, {0x35, 0x5f, 0x8d},
    {0x2a, 0x78, 0x8e}, {0x21, 0x91, 0x8c}, {0x22, 0xa8, 0x84}, {0x44, 0xbf, 0x70},
    {0x7a, 0xd1, 0x51}, {0xbd, 0xdf, 0x26}, {0xfd, 0xe7, 0x25}};

static void colour_at(double t, uint8_t rgb[3])
{
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double u = t * 10.0;
    int i = (int)u;
    if (i > 9)
        i = 9;
    double fr = u - i;
    for (int k = 0; k < 3; k++)
        rgb[k] = (uint8_t)lround(viridis[i][k] + fr * (viridis[i + 1][k] - viridis[i][k]));
}

/* WCAG relative luminance of an sRGB colour. */
static double luminance(const uint8_t rgb[3])
{
    double l[3];
    for (int k = 0; k < 3; k++) {
        double v = rgb[k] / 255.0;
        l[k] = v <= 0.03928 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
    }
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
}

/* Position of count v on the colour scale, 0..1. */
static double heat_t(const heatmap *h, double v, uint64_t max)
{
    if (max == 0)
        return 0.0;
    return h->log_scale ? log1p(v) / log1p((double)max) : v / (double)max;
}

ms_status svg_heatmap(outset *os, const char *path, const heatmap *h, ms_err *err)
{
    if (!os || !path)
        return ms_fail(err, MS_EINTERNAL, "svg_heatmap: no output set or path");
    if (!h || !h->counts || h->n == 0 || h->n > SVG_MAX_CLASSES)
        return ms_fail(err, MS_EINTERNAL, "%s: heatmap of %zu classes (1..%u, with counts)",
                       path, h && h->counts ? h->n : 0, SVG_MAX_CLASSES);
    size_t n = h->n;
    uint64_t max = 0;
    for (size_t i = 0; i < n * n; i++)
        max = h->counts[i] > max ? h->counts[i] : max;
    char lb[SVG_MAX_CLASSES][24];
    const char *label[SVG_MAX_CLASSES];
    double label_w = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(lb[i], sizeof lb[i], "%zu", i);
        label[i] = h->labels && h->labels[i] ? h->labels[i] : lb[i];
        label_w = fmax(label_w, text_w(label[i], 12));
    }
    const char *rt = h->row_title ? h->row_title : "true";
    const char *ct = h->col_title ? h->col_title : "predicted";

    /* colour-bar ticks: 0 and decades on a log scale, nice steps on a linear one */
    axis bar;
    double step = h->log_scale || max < 5 ? 1.0 : nice_step((double)max);
    bar.n = 0;
    for (double v = 0; v <= (double)max && bar.n < MAX_TICKS;
         v = h->log_scale ? (v ? v * 10 : 1) : v + step) {
        bar.v[bar.n] = v;
        snprintf(bar.label[bar.n++], sizeof bar.label[0], "%.0f", v);
    }
    double bar_w = 0;
    for (size_t i = 0; i < bar.n; i++)
        bar_w = fmax(bar_w, text_w(bar.label[i], 11));

    double cell = n <= 12 ? 44 : fmax(16, 620.0 / (double)n), size = cell * (double)n;
    /* column labels wider than a cell are turned 45 degrees so they cannot overlap */
    int slant = label_w > cell - 4;
    double col_h = slant ? label_w * 0.71 + 14 : 18;
    double mx = 12 + 14 + 10 + label_w + 8, my = h->title ? 48 : 16;
    double bx = mx + size + 24, W = bx + 16 + 6 + bar_w + 16,
           H = my + size + col_h + 38;
    double tw = h->title ? text_w(h->title, 16) + 24 : 0;
    if (tw > W)
        W = tw;

    FILE *f;
    ms_status st = outset_open(os, path, &f, err);
    if (st != MS_OK)
        return st;
    svg_open(f, W, H);
    if (h->title)
        text_el(f, W / 2, 28, "middle", 16, " font-weight=\"bold\"", h->title);
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < n; c++) {
            uint64_t v = h->counts[r * n + c];
            uint8_t rgb[3];
            colour_at(heat_t(h, (double)v, max), rgb);
            double x = mx + cell * (double)c, y = my + cell * (double)r;
            fprintf(f, "<rect class=\"cell\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                    "fill=\"#%02x%02x%02x\"><title>",
                    x, y, cell, cell, rgb[0], rgb[1], rgb[2]);
            xml_text(f, rt);
            fputc(' ', f);
            xml_text(f, label[r]);
            fputs(", ", f);
            xml_text(f, ct);
            fputc(' ', f);
            xml_text(f, label[c]);
            fprintf(f, ": %llu</title></rect>\n", (unsigned long long)v);
            /* contrast with white: 1.05 / (L + 0.05); with black: (L + 0.05) / 0.05 */
            double L = luminance(rgb);
            const char *ink = 1.05 / (L + 0.05) > (L + 0.05) / 0.05 ? "#ffffff" : "#000000";
            char digits[24];
            int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
            double fsz = fmin(cell * 0.3, cell * 0.9 / (CHAR_W * (nd > 0 ? nd : 1)));
            fprintf(f, "<text class=\"count\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" "
                    "font-size=\"%.1f\" fill=\"%s\">%s</text>\n",
                    x + cell / 2, y + cell / 2 + fsz * 0.35, fsz, ink, digits);
        }
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
            "stroke=\"#444444\"/>\n", mx, my, size, size);
    for (size_t i = 0; i < n; i++) {
        text_el(f, mx - 8, my + cell * ((double)i + 0.5) + 4, "end", 12, NULL, label[i]);
        double x = mx + cell * ((double)i + 0.5), y = my + size + (slant ? 10 : 18);
        char rot[80];
        snprintf(rot, sizeof rot, " transform=\"rotate(-45 %.2f %.2f)\"", x + 4, y);
        text_el(f, slant ? x + 4 : x, y, slant ? "end" : "middle", 12, slant ? rot : NULL,
                label[i]);
    }
    text_el(f, mx + size / 2, my + size + col_h + 24, "middle", 13, NULL, ct);
    {
        double x = 12 + 13, y = my + size / 2;
        char rot[80];
        snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.2f %.2f)\"", x, y);
        text_el(f, x, y, "middle", 13, rot, rt);
    }

    /* colour bar: t = 0 at the bottom to 1 at the top, the scale's anchors as stops */
    fputs("<g class=\"colorbar\">\n<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" "
          "x2=\"0\" y2=\"0\">\n", f);
    for (int k = 0; k <= 10; k++)
        fprintf(f, "<stop offset=\"%.1f\" stop-color=\"#%02x%02x%02x\"/>\n", k / 10.0,
                viridis[k][0], viridis[k][1], viridis[k][2]);
    fprintf(f, "</linearGradient></defs>\n<rect x=\"%.2f\" y=\"%.2f\" width=\"16\" "
            "height=\"%.2f\" fill=\"url(#scale)\"/>\n", bx, my, size);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"16\" height=\"%.2f\" fill=\"none\" "
            "stroke=\"#444444\"/>\n", bx, my, size);
    for (size_t i = 0; i < bar.n; i++) {
        double t = heat_t(h, bar.v[i], max);
        double y = my + size * (1 - t);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444444\"/>\n",
                bx + 16, y, bx + 20, y);
        text_el(f, bx + 22, y + 4, "start", 11, NULL, bar.label[i]);
    }
    fputs("</g>\n</svg>\n", f);
    return MS_OK;
}
