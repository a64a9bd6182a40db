/* progress.h - progress lines on stderr for the long stages (training, attacks).
 *
 * A stage (a training phase, an attack run) is a progress value: begun with the number
 * of images it will process, stepped with the images done so far, ended with an
 * optional final line. A step's line is the caller's text ("train epoch 2/5: batch
 * 37/469") followed by the running loss (if any), the images per second and the ETA of
 * the stage, all from the stage's own start:
 *
 *     train epoch 2/5: batch 37/469, loss 0.2345, 2391 images/s, ETA 1:23
 *
 * On a terminal that line overwrites itself ('\r', padded with spaces; no escape
 * sequences, so no colour for NO_COLOR to turn off), at most PROGRESS_TTY_SECONDS
 * apart. Otherwise each is a plain line, at most one every PROGRESS_PLAIN_SECONDS per
 * stage, so that a log stays short and a long run still shows life; the final and
 * note lines are printed in both modes. MNISTSEC_PROGRESS=plain or =tty forces the
 * mode. Only stderr is written and the clock is only read for display: results do not
 * depend on either.
 */
#ifndef MNISTSEC_PROGRESS_H
#define MNISTSEC_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

#if defined(__GNUC__)
#define MS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MS_PRINTF(a, b)
#endif

#define PROGRESS_TTY_SECONDS 0.1
#define PROGRESS_PLAIN_SECONDS 10.0

typedef struct {
    size_t total;  /* images of the stage */
    size_t done;   /* images done, as of the last step */
    double t0;     /* clock at progress_begin */
    double shown;  /* clock at the last line printed (t0 before any; < t0 on a tty) */
    int on;        /* 0: quiet (the stage or the whole process) */
    int tty;       /* lines overwrite themselves */
} progress;

/* Process-wide: no progress lines at all (--quiet). Errors and warnings are printed by
 * their callers, never through this module. */
void progress_set_quiet(int quiet);

/* For tests: lines go to f (NULL: stderr), as a terminal's if tty is 1, as plain
 * lines if 0, by MNISTSEC_PROGRESS or isatty if -1; clock NULL: clock_seconds. */
void progress_set_sink(FILE *f, int tty, double (*clock)(void));

/* Starts a stage of `total` images (quiet: this stage prints nothing). */
void progress_begin(progress *p, int quiet, size_t total);

/* `done` of the stage's images are finished; loss: the running mean loss, or a NaN
 * when there is none; fmt: where the stage is. Prints only when a line is due. */
void progress_step(progress *p, size_t done, double loss, const char *fmt, ...)
    MS_PRINTF(4, 5);

/* A line of the stage that stays (e.g. an epoch's mean loss); in plain mode it also
 * restarts the wait for the next periodic line. */
void progress_note(progress *p, const char *fmt, ...) MS_PRINTF(2, 3);

/* Ends the stage: clears the overwriting line and, if fmt is not NULL, prints
 * "<fmt>: <done> images in <elapsed>, <rate> images/s". Also the way out on an error
 * (fmt NULL), so that the error message starts on a clean line. */
void progress_end(progress *p, const char *fmt, ...) MS_PRINTF(2, 3);

/* A one-off line outside any stage (e.g. "data: ..."); printed unless quiet. */
void progress_done(const char *fmt, ...) MS_PRINTF(1, 2);

/* Seconds as "m:ss", or "h:mm:ss" from an hour on; "-:--" if unknown (negative, not
 * finite or beyond 9999 hours). Writes at most n bytes including the NUL. */
void progress_hms(char *buf, size_t n, double seconds);

#endif
