/* test_sha256.c - SHA-256 against the FIPS 180-4 example vectors, padding-boundary
 * lengths, and streaming in odd chunk sizes against one-shot hashing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "test.h"

static void to_hex(const uint8_t d[32], char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void test_nist_vectors(void)
{
    static const struct {
        const char *msg, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklm"
         "nopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char hex[65];
        sha256_hex(v[i].msg, strlen(v[i].msg), hex);
        CHECK(!strcmp(hex, v[i].hex), "\"%s\": %s", v[i].msg, hex);
    }
}

static void test_million_a(void)
{
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    size_t n = 1000000;
    char *a = malloc(n);
    CHECK(a != NULL, "out of memory");
    if (!a)
        return;
    memset(a, 'a', n);
    char hex[65];
    sha256_hex(a, n, hex);
    CHECK(!strcmp(hex, want), "one-shot: %s", hex);
    /* The same through 1000 updates of 1000 bytes. */
    sha256_ctx c;
    uint8_t d[32];
    sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        sha256_update(&c, a, 1000);
    sha256_final(&c, d);
    to_hex(d, hex);
    CHECK(!strcmp(hex, want), "streamed: %s", hex);
    free(a);
}

/* Messages of n 'a's around the 55/56/64-byte padding boundaries. */
static void test_padding_boundaries(void)
{
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char a[128];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char hex[65];
        sha256_hex(a, v[i].n, hex);
        CHECK(!strcmp(hex, v[i].hex), "%zu x 'a': %s", v[i].n, hex);
    }
}

static void test_streaming_chunks(void)
{
    static const size_t chunks[] = {1, 2, 3, 7, 13, 55, 56, 63, 64, 65, 127, 128, 1000, 4097};
    size_t n = 20011;
    uint8_t *buf = malloc(n);
    CHECK(buf != NULL, "out of memory");
    if (!buf)
        return;
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 24);
    }
    for (size_t len = 0; len <= n; len += len < 300 ? 1 : 997) {
        char one[65], hex[65];
        sha256_hex(buf, len, one);
        for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
            sha256_ctx c;
            uint8_t d[32];
            sha256_init(&c);
            /* A first chunk of chunks[k] bytes, then sizes cycling through 1..97. */
            size_t off = 0, step = chunks[k];
            while (off < len) {
                size_t m = len - off < step ? len - off : step;
                sha256_update(&c, buf + off, m);
                off += m;
                step = step % 97 + 1;
            }
            sha256_update(&c, buf, 0);
            sha256_final(&c, d);
            to_hex(d, hex);
            CHECK(!strcmp(hex, one), "len %zu, chunks from %zu: %s vs %s", len, chunks[k], hex,
                  one);
        }
        if (test_cur_failed)
            break;
    }
    free(buf);
}

int main(void)
{
    RUN(test_nist_vectors);
    RUN(test_million_a);
    RUN(test_padding_boundaries);
    RUN(test_streaming_chunks);
    TEST_END();
}
