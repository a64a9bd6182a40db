/* main.c - flag parsing and mode dispatch. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "mnistsec: not built yet\n");
    return 70;
}
