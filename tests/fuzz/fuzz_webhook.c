/* fuzz_webhook: a Shopify delivery before and after its signature check: X-Shopify-Hmac-Sha256 verification
 * (issue 13, item 1: an over-long header overran a buffer) and the field extraction and description of the body
 * (ids, updated_at, topic rules). Input: header text, a newline, the topic, a newline, the body.
 * Not here: the HTTP layer or the store. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/crypto.h"
#include "ingest/ingest.h"

static char *line_of(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *sig = line_of(&p, end);
    char *topic = line_of(&p, end);
    const char *body = (const char *)p;
    size_t len = (size_t)(end - p);

    cfg_shop_t shop;
    memset(&shop, 0, sizeof(shop));
    shop.webhook_secret.value = (char *)"fuzz-secret";
    shop.webhook_secret.len = 11;
    shop.domain = (char *)"fuzz.myshopify.com";
    (void)ingest_shopify_verify(&shop, body, len, sig);
    /* Also with the right signature in front, so the fuzzer reaches the decode of valid base64 of any length. */
    unsigned char mac[CRYPTO_SHA256_LEN];
    char good[64];
    if (crypto_hmac_sha256("fuzz-secret", 11, body, len, mac) == 0) {
        crypto_base64_encode(mac, sizeof(mac), good);
        if (ingest_shopify_verify(&shop, body, len, good) != 0)
            abort();
    }

    ingest_fields_t fields;
    jscan_error_t jerr;
    if (ingest_shopify_fields(body, len, &fields, &jerr) == 0) {
        ingest_event_t ev;
        err_t err;
        if (ingest_shopify_describe(shop.domain, topic, &fields, "evt-1", "wh-1", "2026-11-21T14:03:13Z",
                                    1700000000000, &ev, &err) == 0)
            ingest_event_release(&ev);
    }
    free(sig);
    free(topic);
    return 0;
}
