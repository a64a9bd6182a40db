/* replay.c - a plain main for the fuzz targets: feeds every file of a corpus
 * directory to LLVMFuzzerTestOneInput, so gcc-built CI re-runs the corpus without
 * libFuzzer. Prints "N passed, N failed, 0 skipped" (an unreadable file fails; a crash
 * or sanitizer report ends the process before that line, and tests/run.sh counts a
 * missing result line as a failure). */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "%s: cannot open corpus directory\n", argv[1]);
        printf("0 passed, 1 failed, 0 skipped\n");
        return 1;
    }
    int n = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name) >= (int)sizeof path) {
            bad++;
            continue;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        ms_err err;
        if (file_read_all(path, (size_t)64 << 20, &buf, &len, &err) != MS_OK) {
            fprintf(stderr, "%s\n", err.msg);
            bad++;
            continue;
        }
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        n++;
    }
    closedir(d);
    printf("%d passed, %d failed, 0 skipped\n", n, bad);
    return (bad || !n) ? 1 : 0;
}
