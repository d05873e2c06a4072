/* Unit tests for src/core: time parsing, durations and sizes, HMAC-SHA256 (RFC 4231 vectors), base64, and the
 * Shopify webhook signature check built on them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/err.h"
#include "ingest/ingest.h"

static void test_clock_parses_shopify_offsets(void **state)
{
    (void)state;
    int64_t a, b, c;
    assert_int_equal(clock_parse_iso8601("2026-11-21T14:03:13-05:00", &a), 0);
    assert_int_equal(clock_parse_iso8601("2026-11-21T19:03:13Z", &b), 0);
    assert_int_equal(clock_parse_iso8601("2026-11-21T20:03:13.250+0100", &c), 0);
    assert_true(a == b);
    assert_true(c == b + 250);
    assert_true(b == 1795287793000LL);
    char out[40];
    assert_string_equal(clock_format_iso8601(b, out, sizeof(out)), "2026-11-21T19:03:13.000Z");
}

static void test_clock_rejects_ambiguous_or_malformed(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(clock_parse_iso8601("2026-11-21T14:03:13", &t), -1); /* no zone: refuse to guess */
    assert_int_equal(clock_parse_iso8601("2026-13-21T14:03:13Z", &t), -1);
    assert_int_equal(clock_parse_iso8601("yesterday", &t), -1);
    assert_int_equal(clock_parse_iso8601("2026-11-21T14:03:13Zjunk", &t), -1);
    assert_int_equal(clock_parse_iso8601(NULL, &t), -1);
    /* Issue 13 (low): impossible dates were normalised (2026-02-30 stored as 2026-03-02, second 60 as the next
     * minute). */
    assert_int_equal(clock_parse_iso8601("2026-02-30T10:00:00Z", &t), -1);
    assert_int_equal(clock_parse_iso8601("2026-02-29T10:00:00Z", &t), -1);
    assert_int_equal(clock_parse_iso8601("2026-04-31T10:00:00Z", &t), -1);
    assert_int_equal(clock_parse_iso8601("2026-11-21T14:03:60Z", &t), -1);
    assert_int_equal(clock_parse_iso8601("2028-02-29T10:00:00Z", &t), 0); /* a leap year */
    assert_int_equal(clock_parse_iso8601("2000-02-29T10:00:00Z", &t), 0);
    assert_int_equal(clock_parse_iso8601("1900-02-29T10:00:00Z", &t), -1);
    assert_int_equal(clock_parse_iso8601("2026-12-31T23:59:59Z", &t), 0);
}

static void test_clock_durations_and_sizes(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(clock_parse_duration_ms("500ms", &v), 0);
    assert_true(v == 500);
    assert_int_equal(clock_parse_duration_ms("30", &v), 0);
    assert_true(v == 30000);
    assert_int_equal(clock_parse_duration_ms("7d", &v), 0);
    assert_true(v == 7 * 86400000LL);
    assert_int_equal(clock_parse_duration_ms("-1s", &v), -1);
    assert_int_equal(clock_parse_duration_ms("5 parsecs", &v), -1);
    assert_int_equal(clock_parse_size("5MiB", &v), 0);
    assert_true(v == 5 * 1048576);
    assert_int_equal(clock_parse_size("64KiB", &v), 0);
    assert_true(v == 65536);
    assert_int_equal(clock_parse_size("99999999999999999999", &v), -1);
}

/* crypto_hmac_sha256(key, msg) is hex_want (lower-case hex). */
static void assert_hmac(const void *key, size_t key_len, const char *msg, const char *hex_want)
{
    unsigned char mac[32];
    char hex[65];
    assert_int_equal(crypto_hmac_sha256(key, key_len, msg, strlen(msg), mac), 0);
    crypto_hex(mac, 32, hex);
    assert_string_equal(hex, hex_want);
}

/* RFC 4231 test cases 1, 2 and 6 (key longer than the block size). */
static void test_hmac_rfc4231(void **state)
{
    (void)state;
    unsigned char key[131];
    memset(key, 0x0b, 20);
    assert_hmac(key, 20, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    assert_hmac("Jefe", 4, "what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, 131);
    assert_hmac(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* The key's edges in crypto_hmac_sha256's own padding (values from Python's hmac): exactly one block is used as
 * it is, one byte more is hashed first, and an empty key is all padding. */
static void test_hmac_key_lengths(void **state)
{
    (void)state;
    unsigned char key[65];
    memset(key, 0x0c, 64);
    assert_hmac(key, 64, "block-size key", "85666b78044b440df8e4eb267b49109c75e32036cbe89942681d728de59b181b");
    memset(key, 0x0d, 65);
    assert_hmac(key, 65, "one past the block", "af43750e7c8ed8b430d371dd107ca6f1ab79babb420ffa7b8386d8a757d63074");
    assert_hmac("", 0, "empty key", "bf6e6a0f34cd9fdf69c67b8c62969c87cd4f783d4665217df03f062dc4a0406e");
}

static void test_base64_roundtrip_and_strictness(void **state)
{
    (void)state;
    char enc[64];
    unsigned char dec[64];
    assert_int_equal(crypto_base64_encode("foobar", 6, enc), 8);
    assert_string_equal(enc, "Zm9vYmFy");
    assert_int_equal(crypto_base64_decode("Zm9vYg==", 8, dec, sizeof(dec)), 4);
    assert_memory_equal(dec, "foob", 4);
    assert_int_equal(crypto_base64_decode("Zm9v YmFy", 9, dec, sizeof(dec)), -1);
    assert_int_equal(crypto_base64_decode("Zm9=YmFy", 8, dec, sizeof(dec)), -1);
    assert_int_equal(crypto_base64_decode("", 0, dec, sizeof(dec)), -1);
}

/* Issue 13, item 1: an 88-character X-Shopify-Hmac-Sha256 decoded 66 bytes into a 64-byte buffer (two chosen by
 * the sender). The decoder now never writes past the capacity it is given, whatever the text's length. */
static void test_base64_decode_never_writes_past_capacity(void **state)
{
    (void)state;
    struct {
        unsigned char sig[32];
        unsigned char guard[64];
    } b;
    char text[89];
    memset(text, 'Q', 88); /* valid base64 of 66 bytes */
    text[88] = '\0';
    memset(b.guard, 0x5a, sizeof(b.guard));
    assert_int_equal(crypto_base64_decode(text, 88, b.sig, sizeof(b.sig)), -1);
    assert_int_equal(crypto_base64_decode(text, 44, b.sig, sizeof(b.sig)), -1); /* 33 bytes, no padding */
    assert_int_equal(crypto_base64_decode(text, 40, b.sig, sizeof(b.sig)), 30);
    for (size_t i = 0; i < sizeof(b.guard); i++)
        assert_int_equal(b.guard[i], 0x5a);
    text[43] = '=';
    assert_int_equal(crypto_base64_decode(text, 44, b.sig, sizeof(b.sig)), 32);
    assert_int_equal(b.guard[0], 0x5a);
}

/* A Shopify-style delivery: base64(HMAC-SHA256(secret, raw body)), checked against current and previous secret. */
static void test_shopify_signature(void **state)
{
    (void)state;
    const char *body = "{\"id\":820982911946154508,\"email\":\"jon@example.com\"}";
    unsigned char mac[32];
    char sig[64];
    crypto_hmac_sha256("hush", 4, body, strlen(body), mac);
    crypto_base64_encode(mac, 32, sig);

    cfg_shop_t shop = {0};
    shop.webhook_secret.value = (char *)"hush";
    shop.webhook_secret.len = 4;
    assert_int_equal(ingest_shopify_verify(&shop, body, strlen(body), sig), 0);
    assert_int_equal(ingest_shopify_verify(&shop, body, strlen(body) - 1, sig), -1); /* body changed */
    assert_int_equal(ingest_shopify_verify(&shop, body, strlen(body), NULL), -1);
    assert_int_equal(ingest_shopify_verify(&shop, body, strlen(body), "not base64!"), -1);
    /* Only exactly 44 characters are a SHA-256 signature: the right one with anything after it is refused. */
    char longer[160];
    snprintf(longer, sizeof(longer), "%.44sAAAA", sig);
    assert_int_equal(ingest_shopify_verify(&shop, body, strlen(body), longer), -1);
    snprintf(longer, sizeof(longer), "%.44s%.44s", sig, sig);
    longer[43] = 'A';
    assert_int_equal(strlen(longer), 88);
    assert_int_equal(ingest_shopify_verify(&shop, body, strlen(body), longer), -1);

    /* rotation: the new secret is current, deliveries still signed with the old one pass via _previous */
    shop.webhook_secret.value = (char *)"new-secret";
    shop.webhook_secret.len = 10;
    assert_int_equal(ingest_shopify_verify(&shop, body, strlen(body), sig), -1);
    shop.webhook_secret_previous.value = (char *)"hush";
    shop.webhook_secret_previous.len = 4;
    assert_int_equal(ingest_shopify_verify(&shop, body, strlen(body), sig), 0);
}

static void test_crypto_equal_is_length_aware(void **state)
{
    (void)state;
    assert_true(crypto_equal("abc", 3, "abc", 3));
    assert_false(crypto_equal("abc", 3, "abd", 3));
    assert_false(crypto_equal("abc", 3, "abcd", 4));
}

static void test_buf_grows_and_detaches(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(&b, "%d,", i), 0);
    assert_true(b.len > 3000);
    assert_int_equal(strncmp(buf_str(&b), "0,1,2,", 6), 0);
    size_t len;
    char *d = buf_detach(&b, &len);
    assert_true(len > 3000 && strlen(d) == len);
    assert_null(b.data);
    free(d);
}

static void test_err_defaults(void **state)
{
    (void)state;
    err_t e;
    assert_int_equal(err_set(&e, ERR_CONFIGURATION, "x.y", "missing %s", "thing"), -1);
    assert_true(e.retry_safe);
    assert_string_equal(e.message, "missing thing");
    assert_int_equal(err_set(&e, ERR_DATA, "x.z", "bad"), -1);
    assert_false(e.retry_safe);
    err_class_t c;
    assert_int_equal(err_class_parse("data", &c), 0);
    assert_int_equal(c, ERR_DATA);
    assert_int_equal(err_class_parse("nope", &c), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_decode_never_writes_past_capacity),
        cmocka_unit_test(test_clock_parses_shopify_offsets),
        cmocka_unit_test(test_clock_rejects_ambiguous_or_malformed),
        cmocka_unit_test(test_clock_durations_and_sizes),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_hmac_key_lengths),
        cmocka_unit_test(test_base64_roundtrip_and_strictness),
        cmocka_unit_test(test_shopify_signature),
        cmocka_unit_test(test_crypto_equal_is_length_aware),
        cmocka_unit_test(test_buf_grows_and_detaches),
        cmocka_unit_test(test_err_defaults),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
