/* status.c - error messages and status names. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

ms_status ms_fail(ms_err *err, ms_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        /* fmt is a literal at every caller, checked there by -Wformat through the
         * format attribute on ms_fail in status.h, so flawfinder's format hit is moot. */
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap); /* Flawfinder: ignore */
        va_end(ap);
        if (n < 0)
            err->msg[0] = '\0';
    }
    return status;
}

const char *ms_status_name(ms_status status)
{
    switch (status) {
    case MS_OK: return "ok";
    case MS_EUSAGE: return "usage error";
    case MS_EDATA: return "bad data";
    case MS_ENOINPUT: return "missing input";
    case MS_EINTERNAL: return "internal error";
    case MS_ECANTCREAT: return "cannot create output";
    case MS_EIO: return "I/O error";
    }
    return "unknown error";
}
