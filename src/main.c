/* main.c - flag parsing and mode dispatch; the only place that exits. */
#include <stdio.h>

#include "cli.h"
#include "interrupt.h"
#include "progress.h"
#include "run.h"

int main(int argc, char **argv)
{
    config c;
    ms_err err = {{0}};
    ms_status s = cli_parse(&c, argc, argv, &err);
    if (s != MS_OK) {
        fprintf(stderr, "mnistsec: %s\n", err.msg);
        fprintf(stderr, "Try 'mnistsec --help'.\n");
        return (int)s;
    }
    if (c.help || c.version) {
        if (c.help)
            cli_usage(stdout);
        else
            printf("mnistsec %s\n", MNISTSEC_VERSION);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "mnistsec: error writing to standard output\n");
            return MS_EIO;
        }
        return 0;
    }
    progress_set_quiet(c.quiet);
    interrupt_install();
    s = run_experiment(&c, argc, argv, &err);
    if (s != MS_OK) {
        fprintf(stderr, "mnistsec: %s\n", err.msg);
        return (int)s;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "mnistsec: error writing to standard output\n");
        return MS_EIO;
    }
    return 0;
}
