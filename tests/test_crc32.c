/* test_crc32.c - CRC-32 (crc32.h) against its check value and published vectors,
 * the empty input, and chained (incremental) calls against one call over the whole,
 * with a bit-at-a-time reference over every length that reaches the slice-by-8 loop
 * and its byte tail. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "crc32.h"
#include "test.h"

/* Bit-at-a-time CRC-32, straight from the definition (reflected 0xEDB88320). */
static uint32_t crc32_ref(const uint8_t *p, size_t len)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

static void test_check_value(void)
{
    uint32_t c = crc32_update(0, "123456789", 9);
    CHECK(c == 0xCBF43926u, "crc32(\"123456789\") = 0x%08x, want 0xcbf43926", (unsigned)c);
}

static void test_known_vectors(void)
{
    static const uint8_t zeros[32], ones[32] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const struct {
        const void *data;
        size_t len;
        uint32_t want;
    } v[] = {
        {"a", 1, 0xE8B7BE43u},
        {"abc", 3, 0x352441C2u},
        {"The quick brown fox jumps over the lazy dog", 43, 0x414FA339u},
        {zeros, sizeof zeros, 0x190A55ADu},
        {ones, sizeof ones, 0xFF6CAB0Bu},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint32_t c = crc32_update(0, v[i].data, v[i].len);
        CHECK(c == v[i].want, "vector %zu: 0x%08x, want 0x%08x", i, (unsigned)c,
              (unsigned)v[i].want);
    }
}

static void test_empty(void)
{
    CHECK(crc32_update(0, NULL, 0) == 0, "empty input from the start is 0");
    CHECK(crc32_update(0, "x", 0) == 0, "zero length ignores the buffer");
    uint32_t c = crc32_update(0, "123456789", 9);
    CHECK(crc32_update(c, NULL, 0) == c, "an empty piece leaves the CRC unchanged");
}

static void test_incremental_equals_whole(void)
{
    uint8_t buf[300];
    uint32_t x = 0x9E3779B9u;
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        buf[i] = (uint8_t)(x >> 24);
    }
    for (size_t len = 0; len <= sizeof buf; len++) {
        uint32_t whole = crc32_update(0, buf, len);
        uint32_t ref = crc32_ref(buf, len);
        CHECK(whole == ref, "len %zu: 0x%08x, reference 0x%08x", len, (unsigned)whole,
              (unsigned)ref);
        for (size_t cut = 0; cut <= len && len <= 40; cut++) {
            uint32_t c = crc32_update(crc32_update(0, buf, cut), buf + cut, len - cut);
            CHECK(c == whole, "len %zu cut at %zu: 0x%08x vs 0x%08x", len, cut, (unsigned)c,
                  (unsigned)whole);
        }
        if (test_cur_failed)
            return;
    }
    /* One byte at a time over the whole buffer. */
    uint32_t c = 0;
    for (size_t i = 0; i < sizeof buf; i++)
        c = crc32_update(c, buf + i, 1);
    CHECK(c == crc32_update(0, buf, sizeof buf), "byte-at-a-time chain");
}

int main(void)
{
    RUN(test_check_value);
    RUN(test_known_vectors);
    RUN(test_empty);
    RUN(test_incremental_equals_whole);
    TEST_END();
}
