/* progress.h - progress lines on stderr: a self-overwriting line when stderr is a
 * terminal, and only the final line of each stage otherwise (so logs stay short). */
#ifndef MNISTSEC_PROGRESS_H
#define MNISTSEC_PROGRESS_H

#if defined(__GNUC__)
#define MS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MS_PRINTF(a, b)
#endif

/* An intermediate state; shown only on a terminal, at most ~10 times a second. */
void progress_update(const char *fmt, ...) MS_PRINTF(1, 2);
/* A finished stage; always printed as a line. */
void progress_done(const char *fmt, ...) MS_PRINTF(1, 2);

#endif
