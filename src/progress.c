/* progress.c - progress lines on stderr (see progress.h). */
#include "progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/ioctl.h>
#endif

#include "clock.h"

#define LINE_MAX_BYTES 256

/* The one output stream all stages share: what is on it now is tracked here so that
 * any line can first wipe an overwriting line. */
static struct {
    int quiet;
    FILE *f;                /* NULL: stderr */
    int tty;                /* -1: not decided yet */
    double (*clock)(void);  /* NULL: clock_seconds */
    size_t shown;           /* width of the overwriting line on screen, 0 if none */
} g = {0, NULL, -1, NULL, 0};

static FILE *out(void)
{
    return g.f ? g.f : stderr;
}

static double now(void)
{
    return g.clock ? g.clock() : clock_seconds();
}

static int is_tty(void)
{
    if (g.tty < 0) {
        /* Flawfinder: ignore (getenv): only compared with two literals. */
        const char *m = getenv("MNISTSEC_PROGRESS");
        if (m && strcmp(m, "plain") == 0)
            g.tty = 0;
        else if (m && strcmp(m, "tty") == 0)
            g.tty = 1;
        else
            g.tty = isatty(fileno(out())) ? 1 : 0;
    }
    return g.tty;
}

/* Width of the terminal; a longer line would wrap, and '\r' would then rewrite only
 * its last row. */
static size_t columns(void)
{
#ifdef TIOCGWINSZ
    struct winsize ws;
    if (ioctl(fileno(out()), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
#endif
    /* Flawfinder: ignore (getenv): parsed with strtol and range-checked. */
    const char *c = getenv("COLUMNS");
    if (c && *c) {
        char *end;
        long v = strtol(c, &end, 10);
        if (*end == '\0' && v >= 20 && v <= 1000)
            return (size_t)v;
    }
    return 80;
}

static void pad(FILE *f, size_t n)
{
    while (n-- > 0)
        fputc(' ', f);
}

/* Wipes the overwriting line, if one is on screen. */
static void clear(void)
{
    if (!g.shown)
        return;
    FILE *f = out();
    fputc('\r', f);
    pad(f, g.shown);
    fputc('\r', f);
    g.shown = 0;
}

/* Appends to buf (capacity n, holding *len bytes) without overflowing it. */
static void append(char *buf, size_t n, size_t *len, const char *fmt, ...) MS_PRINTF(4, 5);
static void append(char *buf, size_t n, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    /* Flawfinder: ignore (format): fmt is a literal checked by -Wformat (MS_PRINTF). */
    int k = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    if (k > 0)
        *len = *len + (size_t)k < n ? *len + (size_t)k : n - 1;
}

static size_t vtext(char *buf, size_t n, const char *fmt, va_list ap)
{
    /* Flawfinder: ignore (format): fmt is a literal checked by -Wformat (progress.h). */
    int k = vsnprintf(buf, n, fmt, ap);
    return k < 0 ? 0 : (size_t)k < n ? (size_t)k : n - 1;
}

void progress_set_quiet(int quiet)
{
    g.quiet = quiet;
}

void progress_set_sink(FILE *f, int tty, double (*clock)(void))
{
    g.f = f;
    g.tty = tty;
    g.clock = clock;
    g.shown = 0;
}

void progress_hms(char *buf, size_t n, double seconds)
{
    if (!(seconds >= 0.0) || seconds >= 9999.0 * 3600.0) {
        snprintf(buf, n, "-:--");
        return;
    }
    unsigned long s = (unsigned long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, n, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, n, "%lu:%02lu", s / 60, s % 60);
}

void progress_begin(progress *p, int quiet, size_t total)
{
    p->total = total;
    p->done = 0;
    p->on = !quiet && !g.quiet;
    p->tty = p->on ? is_tty() : 0;
    p->t0 = now();
    p->shown = p->tty ? p->t0 - PROGRESS_TTY_SECONDS : p->t0;
}

void progress_step(progress *p, size_t done, double loss, const char *fmt, ...)
{
    p->done = done;
    if (!p->on)
        return;
    double t = now();
    if (t - p->shown < (p->tty ? PROGRESS_TTY_SECONDS : PROGRESS_PLAIN_SECONDS))
        return;
    p->shown = t;
    char buf[LINE_MAX_BYTES], eta[32];
    va_list ap;
    va_start(ap, fmt);
    size_t len = vtext(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!isnan(loss))
        append(buf, sizeof buf, &len, ", loss %.4f", loss);
    double el = t - p->t0, left = -1.0;
    if (done > 0 && el > 0.0) {
        double rate = (double)done / el;
        append(buf, sizeof buf, &len, ", %.0f images/s", rate);
        left = done < p->total ? (double)(p->total - done) / rate : 0.0;
    }
    progress_hms(eta, sizeof eta, left);
    append(buf, sizeof buf, &len, ", ETA %s", eta);
    FILE *f = out();
    if (p->tty) {
        size_t width = columns() - 1;
        if (len > width)
            buf[len = width] = '\0';
        fputc('\r', f);
        fputs(buf, f);
        if (g.shown > len)
            pad(f, g.shown - len);
        g.shown = len;
    } else {
        fputs(buf, f);
        fputc('\n', f);
    }
    fflush(f);
}

/* fmt and ap, then a newline, on a clean line. */
static void vline(const char *fmt, va_list ap)
{
    clear();
    FILE *f = out();
    /* Flawfinder: ignore (format): fmt is a literal checked by -Wformat (progress.h). */
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fflush(f);
}

void progress_note(progress *p, const char *fmt, ...)
{
    if (!p->on)
        return;
    va_list ap;
    va_start(ap, fmt);
    vline(fmt, ap);
    va_end(ap);
    if (!p->tty)
        p->shown = now();
}

void progress_end(progress *p, const char *fmt, ...)
{
    if (!p->on)
        return;
    clear();
    if (fmt) {
        FILE *f = out();
        va_list ap;
        va_start(ap, fmt);
        /* Flawfinder: ignore (format): fmt is a literal checked by -Wformat (progress.h). */
        vfprintf(f, fmt, ap);
        va_end(ap);
        char el[32];
        double secs = now() - p->t0;
        progress_hms(el, sizeof el, secs);
        fprintf(f, ": %zu images in %s", p->done, el);
        if (secs > 0.0)
            fprintf(f, ", %.0f images/s", (double)p->done / secs);
        fputc('\n', f);
    }
    fflush(out());
    p->on = 0;
}

void progress_done(const char *fmt, ...)
{
    if (g.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vline(fmt, ap);
    va_end(ap);
}
