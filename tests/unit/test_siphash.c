/* SipHash-2-4 against the reference vectors of the paper (key 00..0f,
 * message 00..n-1), the streaming API against the one-shot call, and the
 * per-thread random pool. */
#include <stdint.h>
#include <string.h>

#include "base/fmt.h"
#include "base/random.h"
#include "base/siphash.h"
#include "testutil.h"

/* Outputs for n = 0..7 and 15, 16, 63 bytes, from the SipHash paper's
 * reference implementation (vectors.h), read as little-endian words; the
 * same as OpenSSL 3's SIPHASH MAC with an 8-byte output gives. */
static const struct {
    size_t n;
    uint64_t out;
} vectors[] = {
    {0, 0x726fdb47dd0e0e31ull},  {1, 0x74f839c593dc67fdull},  {2, 0x0d6c8009d9a94f5aull},
    {3, 0x85676696d7fb7e2dull},  {4, 0xcf2794e0277187b7ull},  {5, 0x18765564cd99a68dull},
    {6, 0xcbc9466e58fee3ceull},  {7, 0xab0200f58b01d137ull},  {8, 0x93f5f5799a932462ull},
    {15, 0xa129ca6149be45e5ull}, {16, 0x3f2acc7f57c29bdbull}, {63, 0x958a324ceb064572ull},
};

START_TEST(reference_vectors)
{
    unsigned char key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        ck_assert_msg(wsip_siphash(key, msg, vectors[i].n) == vectors[i].out,
                      "SipHash-2-4 of %zu bytes", vectors[i].n);
}
END_TEST

START_TEST(streaming_equals_one_shot)
{
    unsigned char key[16] = "0123456789abcdef", msg[100];
    for (int i = 0; i < 100; i++)
        msg[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof(msg); len++) {
        uint64_t want = wsip_siphash(key, msg, len);
        for (size_t cut = 0; cut <= len; cut += 3) {
            struct wsip_siphash h;
            wsip_siphash_init(&h, key);
            wsip_siphash_update(&h, msg, cut);
            wsip_siphash_update(&h, msg + cut, len - cut);
            ck_assert_msg(wsip_siphash_final(&h) == want, "len %zu cut %zu", len, cut);
        }
    }
}
END_TEST

START_TEST(hex64)
{
    char out[17];
    wsip_hex64(0x0123456789abcdefull, out);
    ck_assert_str_eq(out, "0123456789abcdef");
    wsip_hex64(0, out);
    ck_assert_str_eq(out, "0000000000000000");
    /* the byte encoder and the digit decoder of str.h agree with it */
    const unsigned char bytes[] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    char enc[17];
    wsip_hex_encode(bytes, sizeof(bytes), enc);
    ck_assert_str_eq(enc, "0123456789abcdef");
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(wsip_hex_value(enc[i]), i);
    }
    ck_assert_int_eq(wsip_hex_value('F'), 15);
    ck_assert_int_eq(wsip_hex_value('g'), -1);
    ck_assert_int_eq(wsip_hex_value('/'), -1);
}
END_TEST

START_TEST(random_pool)
{
    /* draws across pool refills differ and are not all zero */
    unsigned char a[700], b[700], zero[700] = {0};
    ck_assert_int_eq(wsip_random_bytes(a, sizeof(a)), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wsip_random_bytes(b, 300), 0);
    ck_assert_int_eq(wsip_random_bytes(b, sizeof(b)), 0);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
    ck_assert(memcmp(a, zero, sizeof(a)) != 0);
    uint64_t x = 0, y = 0;
    ck_assert_int_eq(wsip_random_bytes(&x, 8), 0);
    ck_assert_int_eq(wsip_random_bytes(&y, 8), 0);
    ck_assert(x != y);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("siphash");
    TCase *tc = tcase_create("siphash");
    tcase_add_test(tc, reference_vectors);
    tcase_add_test(tc, streaming_equals_one_shot);
    tcase_add_test(tc, hex64);
    tcase_add_test(tc, random_pool);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
