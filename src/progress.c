/* progress.c - progress lines on stderr (see progress.h). */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "clock.h"

static int tty = -1;
static int dirty;
static double last;

void progress_update(const char *fmt, ...)
{
    if (tty < 0)
        tty = isatty(fileno(stderr));
    if (!tty)
        return;
    double now = clock_seconds();
    if (now - last < 0.1)
        return;
    last = now;
    va_list ap;
    va_start(ap, fmt);
    fputs("\r\033[K", stderr);
    /* Flawfinder: ignore (format): fmt is a literal checked by -Wformat (progress.h). */
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
    dirty = 1;
}

void progress_done(const char *fmt, ...)
{
    if (dirty) {
        fputs("\r\033[K", stderr);
        dirty = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    /* Flawfinder: ignore (format): fmt is a literal checked by -Wformat (progress.h). */
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
