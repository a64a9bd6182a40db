/* interrupt.h - SIGINT and SIGTERM end a run promptly and cleanly.
 *
 * The handler only records the signal. The long loops (training, evaluation, attacks)
 * call interrupt_check between batches, which turns a recorded signal into a status
 * (MS_ESIGINT 130 or MS_ESIGTERM 143, the shell's codes) with a message saying what
 * was interrupted; the run then fails like any other failure: no result file is
 * written and the output directory it created is removed again.
 */
#ifndef MNISTSEC_INTERRUPT_H
#define MNISTSEC_INTERRUPT_H

#include "status.h"

/* Installs the handlers (main only). */
void interrupt_install(void);
/* The signal received so far, or 0. */
int interrupt_signal(void);
/* MS_OK, or the signal's status with "interrupted by SIG... during <what>". */
ms_status interrupt_check(const char *what, ms_err *err);
/* Records sig as if it had been received (tests). */
void interrupt_raise_for_test(int sig);

#endif
