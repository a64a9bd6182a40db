/* status.h - error status codes and messages shared by all library code.
 *
 * Library functions never exit: they return an ms_status and, on failure, fill an
 * ms_err with one line naming the file/flag, the field and the value that was wrong.
 * Only main() turns a status into a process exit code. The numeric values are the
 * exit codes (BSD sysexits), documented in README.md and --help.
 */
#ifndef MNISTSEC_STATUS_H
#define MNISTSEC_STATUS_H

#include <stddef.h>

typedef enum {
    MS_OK = 0,
    MS_ECHECK = 1,     /* --strict: a sanity check FAILed (the results were written) */
    MS_EUSAGE = 64,    /* bad command line: unknown flag, missing or bad value */
    MS_EDATA = 65,     /* bad input content: IDX, gzip, checkpoint */
    MS_ENOINPUT = 66,  /* input missing or unreadable */
    MS_EINTERNAL = 70, /* internal error, including out of memory */
    MS_ECANTCREAT = 73, /* cannot create an output file or directory */
    MS_EIO = 74,       /* I/O error while reading or writing */
    MS_ENUMERIC = 75,  /* numbers went non-finite: training diverged, or a result was NaN/Inf */
    MS_ESIGINT = 130,  /* interrupted by SIGINT (128 + 2) */
    MS_ESIGTERM = 143  /* interrupted by SIGTERM (128 + 15) */
} ms_status;

#define MS_ERR_LEN 512

typedef struct {
    char msg[MS_ERR_LEN];
} ms_err;

/* Formats a message into err (if err is non-NULL) and returns status. */
ms_status ms_fail(ms_err *err, ms_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
