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
