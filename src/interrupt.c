/* interrupt.c - recording SIGINT/SIGTERM for a clean stop (see interrupt.h). */
#include "interrupt.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received;

static void on_signal(int sig)
{
    received = sig;
}

void interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int interrupt_signal(void)
{
    return received;
}

void interrupt_raise_for_test(int sig)
{
    received = sig;
}

ms_status interrupt_check(const char *what, ms_err *err)
{
    int sig = received;
    if (!sig)
        return MS_OK;
    return ms_fail(err, sig == SIGTERM ? MS_ESIGTERM : MS_ESIGINT,
                   "interrupted by %s during %s; no results were written",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT", what);
}
