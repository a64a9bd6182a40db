/* test_progress.c - the progress lines with a fake clock: ETA formatting, the
 * throttles of both modes, the overwriting line and its wiping, quiet, and the
 * MNISTSEC_PROGRESS override. Output goes to a temporary file and is read back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "test.h"

static double fake_now;
static double fake_clock(void)
{
    return fake_now;
}

static FILE *sink;
static char text[1 << 16];

/* Points the module at a fresh temporary file (tty: 1, 0 or -1 for the environment). */
static int open_sink(int tty)
{
    if (sink)
        fclose(sink);
    sink = tmpfile();
    if (!sink)
        return 0;
    progress_set_sink(sink, tty, fake_clock);
    progress_set_quiet(0);
    return 1;
}

/* Everything written so far, NUL-terminated in text. */
static const char *written(void)
{
    fflush(sink);
    long end = ftell(sink);
    rewind(sink);
    size_t n = fread(text, 1, end > 0 && (size_t)end < sizeof text ? (size_t)end : 0, sink);
    text[n] = '\0';
    fseek(sink, 0, SEEK_END);
    return text;
}

static size_t count_char(const char *s, char c)
{
    size_t k = 0;
    for (; *s; s++)
        k += *s == c;
    return k;
}

static void test_hms(void)
{
    static const struct {
        double s;
        const char *want;
    } cases[] = {
        {0.0, "0:00"},        {0.49, "0:00"},       {59.4, "0:59"},     {59.6, "1:00"},
        {754.0, "12:34"},     {3599.4, "59:59"},    {3600.0, "1:00:00"}, {86399.0, "23:59:59"},
        {360000.0, "100:00:00"}, {-1.0, "-:--"},    {NAN, "-:--"},       {INFINITY, "-:--"},
        {1e300, "-:--"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        progress_hms(buf, sizeof buf, cases[i].s);
        CHECK(strcmp(buf, cases[i].want) == 0, "%g s: '%s', want '%s'", cases[i].s, buf,
              cases[i].want);
    }
    char small[4];
    progress_hms(small, sizeof small, 3600.0);
    CHECK(strlen(small) == 3, "a 4-byte buffer holds '%s'", small);
}

/* Plain mode: one line per PROGRESS_PLAIN_SECONDS, no '\r', exact rate and ETA. */
static void test_plain_throttle(void)
{
    if (!open_sink(0)) {
        SKIP("tmpfile() failed");
        return;
    }
    progress p;
    fake_now = 100.0;
    progress_begin(&p, 0, 1000);
    for (int i = 1; i <= 60; i++) { /* 30 s, 10 images every half second */
        fake_now = 100.0 + 0.5 * i;
        progress_step(&p, (size_t)(10 * i), 0.5, "train epoch 1/1: batch %d/100", i);
    }
    const char *s = written();
    CHECK(count_char(s, '\n') == 3, "3 periodic lines in 30 s, got %zu:\n%s",
          count_char(s, '\n'), s);
    CHECK(count_char(s, '\r') == 0 && !strchr(s, '\033'), "no '\\r' or escape in plain mode");
    /* at 110 s: 200 images done, 20 images/s, 800 to go */
    const char *first = "train epoch 1/1: batch 20/100, loss 0.5000, 20 images/s, ETA 0:40\n";
    CHECK(strncmp(s, first, strlen(first)) == 0, "first line:\n%s", s);
    progress_end(&p, "train");
    s = written();
    CHECK(strstr(s, "train: 600 images in 0:30, 20 images/s\n") != NULL, "final line:\n%s", s);
}

/* A note restarts the plain wait; a step with no loss and nothing done shows no rate. */
static void test_plain_note_and_unknown(void)
{
    if (!open_sink(0)) {
        SKIP("tmpfile() failed");
        return;
    }
    progress p;
    fake_now = 0.0;
    progress_begin(&p, 0, 50);
    fake_now = 9.0;
    progress_note(&p, "epoch 1 done");
    fake_now = 12.0; /* 12 s after the start but only 3 after the note */
    progress_step(&p, 10, NAN, "x");
    CHECK(strcmp(written(), "epoch 1 done\n") == 0, "no step line 3 s after a note:\n%s", text);
    fake_now = 19.5;
    progress_step(&p, 0, NAN, "x");
    CHECK(strstr(written(), "x, ETA -:--\n") != NULL, "nothing done: no rate, unknown ETA:\n%s",
          text);
    progress_end(&p, NULL);
    CHECK(count_char(written(), '\n') == 2, "end without text prints nothing:\n%s", text);
}

/* Terminal mode: the first step at once, then at most one per PROGRESS_TTY_SECONDS,
 * each starting with '\r'; a shorter line is padded over the longer one; the end
 * wipes the line before the final one. */
static void test_tty(void)
{
    if (!open_sink(1)) {
        SKIP("tmpfile() failed");
        return;
    }
    progress p;
    fake_now = 4.0;
    progress_begin(&p, 0, 100);
    for (int i = 1; i <= 16; i++) { /* 1 s in steps of 1/16 s (exact in binary) */
        fake_now = 4.0 + 0.0625 * i;
        progress_step(&p, (size_t)i, 1.25, "attack pgd eps 0.3: images %d/100", i);
    }
    const char *s = written();
    size_t cr = count_char(s, '\r');
    CHECK(cr == 8, "every other step of 1/16 s redraws: 8 in 1 s, got %zu", cr);
    CHECK(count_char(s, '\n') == 0, "no newline while running");
    CHECK(strstr(s, "\rattack pgd eps 0.3: images 1/100, loss 1.2500, 16 images/s, ETA 0:06") ==
              s, "first step at once:\n%s", s);
    CHECK(strstr(s, "ETA") != NULL && !strchr(s, '\033'), "ETA, no escape sequences");
    fake_now += 1.0;
    progress_step(&p, 20, NAN, "a");
    s = written();
    const char *tail = strrchr(s, '\r');
    CHECK(tail && strncmp(tail, "\ra, 10 images/s, ETA 0:08 ", 26) == 0 &&
              strlen(tail) > 40 && tail[strlen(tail) - 1] == ' ',
          "a shorter line is padded over the longer one: '%s'", tail ? tail : "");
    progress_end(&p, "attack pgd eps 0.3");
    s = written();
    const char *fin = strstr(s, "\rattack pgd eps 0.3: 20 images in 0:02, 10 images/s\n");
    CHECK(fin != NULL, "the line is wiped before the final line:\n%s", s);
    size_t len = strlen(s);
    CHECK(len > 0 && s[len - 1] == '\n', "the final line ends the output");
    /* a one-off line also starts on a clean line */
    progress_begin(&p, 0, 10);
    fake_now += 1.0;
    progress_step(&p, 1, NAN, "b");
    progress_done("data: 1 image");
    CHECK(strstr(written(), "\rdata: 1 image\n") != NULL, "progress_done wipes the line first");
    progress_end(&p, NULL);
}

static void test_quiet(void)
{
    if (!open_sink(0)) {
        SKIP("tmpfile() failed");
        return;
    }
    progress p;
    fake_now = 0.0;
    progress_begin(&p, 1, 10); /* this stage quiet */
    fake_now = 100.0;
    progress_step(&p, 5, 1.0, "x");
    progress_note(&p, "note");
    progress_end(&p, "end");
    progress_set_quiet(1); /* the whole process quiet */
    progress_begin(&p, 0, 10);
    fake_now = 200.0;
    progress_step(&p, 5, 1.0, "x");
    progress_note(&p, "note");
    progress_end(&p, "end");
    progress_done("done");
    CHECK(written()[0] == '\0', "quiet prints nothing, got:\n%s", text);
    progress_set_quiet(0);
}

static void test_env_mode(void)
{
    if (!open_sink(-1)) {
        SKIP("tmpfile() failed");
        return;
    }
    setenv("MNISTSEC_PROGRESS", "tty", 1);
    progress p;
    fake_now = 0.0;
    progress_begin(&p, 0, 10);
    CHECK(p.tty == 1, "MNISTSEC_PROGRESS=tty forces the terminal mode on a file");
    progress_end(&p, NULL);
    progress_set_sink(sink, -1, fake_clock);
    setenv("MNISTSEC_PROGRESS", "plain", 1);
    progress_begin(&p, 0, 10);
    CHECK(p.tty == 0, "MNISTSEC_PROGRESS=plain forces plain lines");
    progress_end(&p, NULL);
    unsetenv("MNISTSEC_PROGRESS");
}

int main(void)
{
    RUN(test_hms);
    RUN(test_plain_throttle);
    RUN(test_plain_note_and_unknown);
    RUN(test_tty);
    RUN(test_quiet);
    RUN(test_env_mode);
    if (sink)
        fclose(sink);
    TEST_END();
}
