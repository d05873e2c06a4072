/* Unit tests for src/shopify: the bucket arithmetic (figures always taken from parsed answers), the shared
 * throttle's reservations, the classification of answers (bodies as Shopify and the emulator write them),
 * userErrors, GIDs (the InventoryLevel trap), idempotency keys, the [shop] Admin API settings, and the client's
 * loop against a scripted in-process HTTP server (libmicrohttpd): throttled answers are waited for and re-sent
 * exactly once each, a query that would not fit waits before it is sent, errors are not re-sent. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>

#include "cfg_fixture.h"
#include "core/clock.h"
#include "net/httpc.h"
#include "shopify/shopify.h"

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        print_error("bad test JSON: %s\n", je.text);
    assert_non_null(j);
    return j;
}

/* An answer's top-level "extensions" as the emulator and Shopify write it. */
static json_t *extensions(double maximum, double available, double restore, int requested, int actual)
{
    char text[400], act[16];
    snprintf(act, sizeof(act), actual < 0 ? "null" : "%d", actual);
    snprintf(text, sizeof(text),
             "{\"cost\":{\"requestedQueryCost\":%d,\"actualQueryCost\":%s,\"throttleStatus\":"
             "{\"maximumAvailable\":%.1f,\"currentlyAvailable\":%.0f,\"restoreRate\":%.1f}}}",
             requested, act, maximum, available, restore);
    return parse(text);
}

/* ---- bucket ---------------------------------------------------------------------------------------------------- */

static void test_shopify_bucket_takes_figures_from_the_answer(void **state)
{
    (void)state;
    /* Two shops on different plans: nothing but the answer decides the figures. */
    shopify_bucket_t b = SHOPIFY_BUCKET_INIT;
    json_t *e = extensions(1000, 990, 50, 12, 10);
    assert_int_equal(shopify_bucket_update(&b, e, 5000), 0);
    assert_true(b.maximum == 1000 && b.available == 990 && b.restore == 50 && b.at_ms == 5000);
    assert_int_equal(shopify_cost_requested(e), 12);
    assert_int_equal(shopify_cost_actual(e), 10);
    json_decref(e);

    e = extensions(100, 7, 20, 30, -1);
    assert_int_equal(shopify_bucket_update(&b, e, 6000), 0);
    assert_true(b.maximum == 100 && b.available == 7 && b.restore == 20 && b.at_ms == 6000);
    assert_int_equal(shopify_cost_actual(e), -1); /* THROTTLED: actualQueryCost null */
    json_decref(e);

    /* No throttleStatus (or an incomplete one): the estimate is kept. */
    json_t *none = parse("{\"cost\":{\"requestedQueryCost\":3}}");
    assert_int_equal(shopify_bucket_update(&b, none, 7000), -1);
    json_decref(none);
    none = parse("{\"cost\":{\"throttleStatus\":{\"maximumAvailable\":100,\"restoreRate\":20}}}");
    assert_int_equal(shopify_bucket_update(&b, none, 7000), -1);
    json_decref(none);
    assert_int_equal(shopify_bucket_update(&b, NULL, 7000), -1);
    assert_true(b.maximum == 100 && b.available == 7 && b.at_ms == 6000);
}

static void test_shopify_bucket_wait_math(void **state)
{
    (void)state;
    shopify_bucket_t b = SHOPIFY_BUCKET_INIT;
    /* Nothing reported yet: send, and learn from the answer. */
    assert_int_equal(shopify_bucket_wait_ms(&b, 500, 0), 0);

    json_t *e = extensions(1000, 40, 50, 0, 0);
    shopify_bucket_update(&b, e, 10000);
    json_decref(e);
    assert_int_equal(shopify_bucket_wait_ms(&b, 40, 10000), 0);     /* enough: no wait */
    assert_int_equal(shopify_bucket_wait_ms(&b, 10, 10000), 0);
    assert_int_equal(shopify_bucket_wait_ms(&b, 140, 10000), 2000);  /* 100 missing at 50/s */
    assert_int_equal(shopify_bucket_wait_ms(&b, 41, 10000), 20);     /* 1 point: 20 ms */
    /* Refill over time: 1.5 s later 75 more points are there. */
    assert_true(shopify_bucket_available(&b, 11500) == 115);
    assert_int_equal(shopify_bucket_wait_ms(&b, 140, 11500), 500);
    assert_int_equal(shopify_bucket_wait_ms(&b, 140, 12000), 0);
    /* Never beyond the maximum, and a cost above it waits for a full bucket only. */
    assert_true(shopify_bucket_available(&b, 10000 + 3600000) == 1000);
    assert_int_equal(shopify_bucket_wait_ms(&b, 5000, 10000), shopify_bucket_wait_ms(&b, 1000, 10000));
    assert_int_equal(shopify_bucket_wait_ms(&b, 1000, 10000), 19200);

    /* Another plan's figures, same arithmetic: restoreRate 200 → 5 ms per point. */
    e = extensions(2000, 0, 200, 0, 0);
    shopify_bucket_update(&b, e, 0);
    json_decref(e);
    assert_int_equal(shopify_bucket_wait_ms(&b, 100, 0), 500);

    /* restoreRate 0 can never be waited out. */
    e = extensions(50, 0, 0, 0, 0);
    shopify_bucket_update(&b, e, 0);
    json_decref(e);
    assert_int_equal(shopify_bucket_wait_ms(&b, 10, 100000), -1);
    assert_int_equal(shopify_bucket_wait_ms(&b, 0, 100000), 0);
}

static void test_shopify_throttle_reservations_are_shared(void **state)
{
    (void)state;
    shopify_throttle_t *t = shopify_throttle_new();
    assert_non_null(t);
    /* Before any report every request may go (the first answers teach the figures). */
    assert_int_equal(shopify_throttle_reserve(t, 10, 0), 0);
    json_t *e = extensions(100, 50, 10, 10, 10);
    shopify_throttle_done(t, 10, e, 1000);
    json_decref(e);
    shopify_bucket_t b;
    double reserved;
    shopify_throttle_snapshot(t, &b, &reserved);
    assert_true(b.maximum == 100 && b.available == 50 && reserved == 0);

    /* Two workers reserve 30 each out of 50: the second must wait for 10 points (1 s at 10/s). */
    assert_int_equal(shopify_throttle_reserve(t, 30, 1000), 0);
    assert_int_equal(shopify_throttle_reserve(t, 30, 1000), 1000);
    assert_int_equal(shopify_throttle_reserve(t, 30, 2000), 0); /* refilled meanwhile */
    shopify_throttle_snapshot(t, NULL, &reserved);
    assert_true(reserved == 60);
    /* The answers release the reservations and bring the reported figure. */
    e = extensions(100, 45, 10, 30, 25);
    shopify_throttle_done(t, 30, e, 2100);
    shopify_throttle_done(t, 30, e, 2100);
    json_decref(e);
    shopify_throttle_snapshot(t, &b, &reserved);
    assert_true(reserved == 0 && b.available == 45 && b.at_ms == 2100);
    /* A failed request (no answer) releases without a report. */
    assert_int_equal(shopify_throttle_reserve(t, 5, 2100), 0);
    shopify_throttle_done(t, 5, NULL, 2200);
    shopify_throttle_snapshot(t, &b, &reserved);
    assert_true(reserved == 0 && b.at_ms == 2100);
    /* A cost above the bucket's size goes when the bucket is full, and not before. */
    assert_true(shopify_throttle_reserve(t, 500, 2100) > 0);
    assert_int_equal(shopify_throttle_reserve(t, 500, 2100 + 5500), 0);
    shopify_throttle_done(t, 500, NULL, 7700);
    shopify_throttle_free(t);
    shopify_throttle_free(NULL);
}

typedef struct {
    shopify_throttle_t *t;
} waker_arg_t;

static void *waker(void *arg)
{
    waker_arg_t *w = arg;
    usleep(50 * 1000);
    shopify_throttle_done(w->t, 0, NULL, clock_mono_ms());
    return NULL;
}

static void test_shopify_throttle_sleep_wakes_on_answer(void **state)
{
    (void)state;
    waker_arg_t w = {shopify_throttle_new()};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waker, &w), 0);
    int64_t t0 = clock_mono_ms();
    shopify_throttle_sleep(w.t, 5000);
    int64_t slept = clock_mono_ms() - t0;
    pthread_join(th, NULL);
    assert_true(slept >= 40 && slept < 2000);
    t0 = clock_mono_ms();
    shopify_throttle_sleep(w.t, 30); /* nobody answers: the full time */
    assert_true(clock_mono_ms() - t0 >= 29);
    shopify_throttle_free(w.t);
}

/* ---- classification --------------------------------------------------------------------------------------- */

/* The THROTTLED answer as Shopify documents it and the emulator sends it (HTTP 200). */
static const char *const THROTTLED_BODY =
    "{\"errors\":[{\"message\":\"Throttled\",\"extensions\":{\"code\":\"THROTTLED\",\"documentation\":"
    "\"https://shopify.dev/api/usage/rate-limits\"}}],\"extensions\":{\"cost\":{\"requestedQueryCost\":202,"
    "\"actualQueryCost\":null,\"throttleStatus\":{\"maximumAvailable\":1000.0,\"currentlyAvailable\":2,"
    "\"restoreRate\":50.0}}}}";

static void test_shopify_throttled_body_means_wait_and_resend(void **state)
{
    (void)state;
    json_t *doc = parse(THROTTLED_BODY);
    err_t e;
    err_clear(&e);
    assert_int_equal(shopify_classify(200, doc, "2026-10", "shopify a.myshopify.com query Stock", &e), 1);
    assert_int_equal(e.cls, ERR_TRANSIENT);
    assert_string_equal(e.code, "shopify.throttled");
    assert_string_equal(e.record, "shopify a.myshopify.com query Stock");
    /* The wait comes from the answer: (202 requested - 2 available) / 50 per s = 4 s. */
    const json_t *ext = json_object_get(doc, "extensions");
    shopify_bucket_t b = SHOPIFY_BUCKET_INIT;
    assert_int_equal(shopify_bucket_update(&b, ext, 0), 0);
    assert_int_equal(shopify_bucket_wait_ms(&b, shopify_cost_requested(ext), 0), 4000);
    assert_int_equal(shopify_cost_actual(ext), -1);
    json_decref(doc);

    /* HTTP 429 (with or without a body) is the same verdict. */
    doc = parse("{\"errors\":\"Exceeded 2 calls per second for api client. Reduce request rates to resume "
                "uninterrupted service.\"}");
    assert_int_equal(shopify_classify(429, doc, "2026-10", "r", &e), 1);
    assert_string_equal(e.code, "shopify.throttled");
    json_decref(doc);
    assert_int_equal(shopify_classify(429, NULL, "2026-10", "r", &e), 1);
}

static void test_shopify_classify_answers(void **state)
{
    (void)state;
    static const struct {
        long status;
        const char *body;
        int verdict;
        err_class_t cls;
        const char *code;
        const char *in_message;
    } cases[] = {
        {200, "{\"data\":{\"shop\":{\"name\":\"Acme\"}},\"extensions\":{}}", 0, ERR_NONE, "", NULL},
        {401, "{\"errors\":\"[API] Invalid API key or access token (unrecognized login or wrong password)\"}", -1,
         ERR_CONFIGURATION, "shopify.auth", "Invalid API key"},
        {403, "{\"errors\":\"Forbidden\"}", -1, ERR_CONFIGURATION, "shopify.forbidden", NULL},
        {402, "{\"errors\":\"Unavailable Shop\"}", -1, ERR_CONFIGURATION, "shopify.shop_frozen", NULL},
        {423, "{\"errors\":\"Locked\"}", -1, ERR_CONFIGURATION, "shopify.shop_locked", NULL},
        {404, "{\"errors\":\"Not Found\"}", -1, ERR_CONFIGURATION, "shopify.not_found", "2026-10"},
        {400, "{\"errors\":{\"query\":\"Required parameter missing or invalid\"}}", -1, ERR_INTERNAL,
         "shopify.bad_request", "Required parameter"},
        {500, NULL, -1, ERR_TRANSIENT, "shopify.unavailable", "500"},
        {502, "<html>Bad Gateway</html>", -1, ERR_TRANSIENT, "shopify.unavailable", NULL},
        {503, NULL, -1, ERR_TRANSIENT, "shopify.unavailable", "maintenance"},
        {200, NULL, -1, ERR_TRANSIENT, "shopify.bad_response", NULL}, /* not JSON */
        {200, "{\"extensions\":{}}", -1, ERR_TRANSIENT, "shopify.bad_response", NULL},
        {200,
         "{\"errors\":[{\"message\":\"Query cost is 1502, which exceeds the single query max cost limit (1000).\","
         "\"extensions\":{\"code\":\"MAX_COST_EXCEEDED\",\"cost\":1502,\"maxCost\":1000}}]}",
         -1, ERR_INTERNAL, "shopify.max_cost", "1502"},
        {200,
         "{\"errors\":[{\"message\":\"Internal error. Looks like something went wrong on our end.\","
         "\"extensions\":{\"code\":\"INTERNAL_SERVER_ERROR\",\"requestId\":\"abc\"}}]}",
         -1, ERR_TRANSIENT, "shopify.server_error", "went wrong"},
        {200,
         "{\"errors\":[{\"message\":\"Access denied for inventorySetQuantities field. Required access: "
         "`write_inventory` access scope.\",\"extensions\":{\"code\":\"ACCESS_DENIED\"}}]}",
         -1, ERR_CONFIGURATION, "shopify.access_denied", "write_inventory"},
        {200,
         "{\"data\":{\"inventoryItem\":null},\"errors\":[{\"message\":\"Invalid id: gid://shopify/InventoryLevel/"
         "24826418?inventory_item_id=271878346596884015\",\"path\":[\"inventoryItem\"],\"extensions\":"
         "{\"code\":\"RESOURCE_NOT_FOUND\"}}]}",
         -1, ERR_DATA, "shopify.not_found", "inventoryItem: Invalid id: gid://shopify/InventoryLevel/24826418"},
        {200,
         "{\"errors\":[{\"message\":\"Field 'bogus' doesn't exist on type 'Shop'\",\"locations\":[{\"line\":1,"
         "\"column\":9}],\"path\":[\"query\",\"shop\",\"bogus\"],\"extensions\":{\"code\":\"undefinedField\"}}]}",
         -1, ERR_INTERNAL, "shopify.graphql", "query.shop.bogus: Field 'bogus' doesn't exist"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *doc = cases[i].body ? json_loads(cases[i].body, 0, NULL) : NULL;
        err_t e;
        err_clear(&e);
        int v = shopify_classify(cases[i].status, doc, "2026-10", "shopify a.myshopify.com query Q", &e);
        json_decref(doc);
        if (v != cases[i].verdict || e.cls != cases[i].cls || strcmp(e.code, cases[i].code) ||
            (cases[i].in_message && !strstr(e.message, cases[i].in_message))) {
            print_error("case %zu (HTTP %ld): verdict %d class %d code %s message %s\n", i, cases[i].status, v,
                        e.cls, e.code, e.message);
            fail();
        }
        if (v < 0) {
            assert_string_equal(e.record, "shopify a.myshopify.com query Q");
            assert_true(e.hint[0] != '\0');
        }
    }
}

/* ---- userErrors ------------------------------------------------------------------------------------------------ */

static void test_shopify_user_errors(void **state)
{
    (void)state;
    err_t e;
    json_t *ok = parse("{\"inventoryAdjustmentGroup\":{\"id\":\"gid://shopify/InventoryAdjustmentGroup/1\"},"
                       "\"userErrors\":[]}");
    assert_int_equal(shopify_user_errors(ok, "inventorySetQuantities", &e), 0);
    json_decref(ok);
    ok = parse("{\"fulfillment\":{\"id\":\"gid://shopify/Fulfillment/1\"}}"); /* no userErrors key at all */
    assert_int_equal(shopify_user_errors(ok, "fulfillmentCreate", &e), 0);
    json_decref(ok);

    json_t *stale = parse(
        "{\"inventoryAdjustmentGroup\":null,\"userErrors\":[{\"field\":[\"input\",\"quantities\",\"0\","
        "\"changeFromQuantity\"],\"message\":\"The specified compare quantity does not match the current "
        "quantity.\",\"code\":\"CHANGE_FROM_QUANTITY_STALE\"},{\"field\":[\"input\",\"reason\"],\"message\":"
        "\"The specified reason is invalid.\",\"code\":\"INVALID_REASON\"}]}");
    assert_int_equal(shopify_user_errors(stale, "inventorySetQuantities", &e), -1);
    assert_int_equal(e.cls, ERR_DATA);
    assert_string_equal(e.code, "shopify.change_from_quantity_stale");
    assert_non_null(strstr(e.message, "inventorySetQuantities"));
    assert_non_null(strstr(e.message, "input.quantities.0.changeFromQuantity: The specified compare quantity"));
    assert_non_null(strstr(e.message, "input.reason: The specified reason is invalid. (INVALID_REASON)"));
    assert_true(e.retry_safe);
    assert_non_null(strstr(e.hint, "read again"));
    json_decref(stale);

    /* No code (fulfillment userErrors have none) → shopify.user_error; field may be null. */
    json_t *f = parse("{\"fulfillment\":null,\"userErrors\":[{\"field\":null,\"message\":\"Fulfillment is "
                      "cancelled.\"}]}");
    assert_int_equal(shopify_user_errors(f, "fulfillmentTrackingInfoUpdate", &e), -1);
    assert_int_equal(e.cls, ERR_DATA);
    assert_string_equal(e.code, "shopify.user_error");
    assert_non_null(strstr(e.message, "fulfillmentTrackingInfoUpdate: Fulfillment is cancelled."));
    json_decref(f);

    json_t *busy = parse("{\"userErrors\":[{\"field\":null,\"message\":\"This request is currently in progress, "
                         "please try again.\",\"code\":\"IDEMPOTENCY_CONCURRENT_REQUEST\"}]}");
    assert_int_equal(shopify_user_errors(busy, "inventorySetQuantities", &e), -1);
    assert_int_equal(e.cls, ERR_TRANSIENT);
    assert_string_equal(e.code, "shopify.idempotency_concurrent_request");
    json_decref(busy);

    json_t *mismatch = parse("{\"userErrors\":[{\"field\":null,\"message\":\"The same idempotency key cannot be "
                             "used with different operation parameters.\",\"code\":"
                             "\"IDEMPOTENCY_KEY_PARAMETER_MISMATCH\"}]}");
    assert_int_equal(shopify_user_errors(mismatch, "inventorySetQuantities", &e), -1);
    assert_int_equal(e.cls, ERR_INTERNAL);
    json_decref(mismatch);
}

/* ---- GIDs, keys, versions ---------------------------------------------------------------------------------- */

static void test_shopify_gids(void **state)
{
    (void)state;
    char out[96], small[4];
    assert_int_equal(shopify_gid("InventoryItem", "271878346596884015", out, sizeof(out)), 0);
    assert_string_equal(out, "gid://shopify/InventoryItem/271878346596884015");
    assert_int_equal(shopify_gid("Location", "24826418", small, sizeof(small)), -1);
    assert_string_equal(small, "");

    assert_int_equal(shopify_gid_id("gid://shopify/Order/820982911946154508", out, sizeof(out)), 0);
    assert_string_equal(out, "820982911946154508");
    assert_int_equal(shopify_gid_type("gid://shopify/Order/820982911946154508", out, sizeof(out)), 0);
    assert_string_equal(out, "Order");

    /* The InventoryLevel trap: the GID's id is the location's, the item is in the query string. */
    const char *level = "gid://shopify/InventoryLevel/24826418?inventory_item_id=271878346596884015";
    assert_int_equal(shopify_gid_type(level, out, sizeof(out)), 0);
    assert_string_equal(out, "InventoryLevel");
    assert_int_equal(shopify_gid_id(level, out, sizeof(out)), 0);
    assert_string_equal(out, "24826418");
    char item[32], gid[96];
    assert_int_equal(shopify_gid_param(level, "inventory_item_id", item, sizeof(item)), 0);
    assert_string_equal(item, "271878346596884015");
    assert_int_equal(shopify_gid("InventoryItem", item, gid, sizeof(gid)), 0);
    assert_string_equal(gid, "gid://shopify/InventoryItem/271878346596884015");
    assert_int_equal(shopify_gid_param(level, "location_id", item, sizeof(item)), -1);
    assert_int_equal(shopify_gid_param("gid://shopify/X/1?a=1&inventory_item_id=77", "inventory_item_id", item,
                                       sizeof(item)), 0);
    assert_string_equal(item, "77");
    assert_int_equal(shopify_gid_param("gid://shopify/X/1?inventory_item_idx=5", "inventory_item_id", item,
                                       sizeof(item)), -1);

    /* Not GIDs. */
    static const char *const bad[] = {"", "271878346596884015", "gid://shopify/InventoryItem/",
                                      "gid://shopify//12", "gid://other/InventoryItem/12",
                                      "gid://shopify/InventoryItem/12abc", "gid://shopify/InventoryItem/12/3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out[0] = 'x';
        out[1] = '\0';
        if (shopify_gid_id(bad[i], out, sizeof(out)) != -1 || out[0]) {
            print_error("'%s' taken for a GID\n", bad[i]);
            fail();
        }
    }
    assert_int_equal(shopify_gid_id(NULL, out, sizeof(out)), -1);
    assert_int_equal(shopify_gid_id("gid://shopify/Order/820982911946154508", small, sizeof(small)), -1);
}

static void test_shopify_idempotency_keys_and_versions(void **state)
{
    (void)state;
    const char *job = "3f2a9c0d11e24b7f8a6c5d4e3f2a1b0c";
    char k1[33], k2[33], k3[33];
    assert_int_equal(shopify_idempotency_key(job, NULL, k1, sizeof(k1)), 0);
    assert_string_equal(k1, job); /* one mutation per job: the job's id itself */
    assert_int_equal(shopify_idempotency_key(job, "", k1, sizeof(k1)), 0);
    assert_string_equal(k1, job);
    assert_int_equal(shopify_idempotency_key(job, "location 24826418", k1, sizeof(k1)), 0);
    assert_int_equal(shopify_idempotency_key(job, "location 24826418", k2, sizeof(k2)), 0);
    assert_int_equal(shopify_idempotency_key(job, "location 11111111", k3, sizeof(k3)), 0);
    assert_string_equal(k1, k2);        /* the same on every retry */
    assert_string_not_equal(k1, k3);    /* distinct operations, distinct keys */
    assert_string_not_equal(k1, job);
    assert_int_equal(strlen(k1), 32);
    assert_int_equal(strspn(k1, "0123456789abcdef"), 32);
    char tiny[8];
    assert_int_equal(shopify_idempotency_key(job, NULL, tiny, sizeof(tiny)), -1);

    assert_true(shopify_version_at_least("2026-04", "2026-01"));
    assert_true(shopify_version_at_least("2026-01", "2026-01"));
    assert_false(shopify_version_at_least("2025-10", "2026-01"));
    assert_true(shopify_version_at_least("unstable", "2026-01"));
    assert_false(shopify_version_at_least("2026-10", "unstable"));
}

/* ---- [shop] settings ------------------------------------------------------------------------------------------- */

static cfg_t *load_cfg(const char *text, buf_t *errors)
{
    return cfg_fixture_load(text, errors, NULL);
}

static void test_shopify_cfg_keys(void **state)
{
    (void)state;
    buf_t e = BUF_INIT;
    setenv("SYNCHUB_TEST_ADMIN_TOKEN", "shpat_from_env", 1);
    cfg_t *c = load_cfg("[shop a.myshopify.com]\nwebhook_secret = s\n"
                        "[shop b.myshopify.com]\nwebhook_secret = s\nadmin_token_env = SYNCHUB_TEST_ADMIN_TOKEN\n"
                        "api_version = 2026-04\nadmin_url = http://127.0.0.1:8071/\napi_timeout = 5s\n"
                        "throttle_wait = 0\n",
                        &e);
    if (!c)
        print_error("%s", buf_str(&e));
    assert_non_null(c);
    const cfg_shop_t *a = cfg_shop_find(c, "a.myshopify.com"), *b = cfg_shop_find(c, "b.myshopify.com");
    assert_null(a->admin_token.value);
    assert_string_equal(a->api_version, "2026-10");
    assert_null(a->admin_url);
    assert_true(a->api_timeout_ms == 30000 && a->throttle_wait_ms == 60000);
    assert_string_equal(b->admin_token.value, "shpat_from_env");
    assert_string_equal(b->api_version, "2026-04");
    assert_string_equal(b->admin_url, "http://127.0.0.1:8071/");
    assert_true(b->api_timeout_ms == 5000 && b->throttle_wait_ms == 0);
    cfg_free(c);

    buf_reset(&e);
    c = load_cfg("[shop a.myshopify.com]\nwebhook_secret = s\napi_version = 2026-4\nadmin_url = ftp://x\n", &e);
    assert_null(c);
    assert_non_null(strstr(buf_str(&e), "api_version '2026-4' is not an Admin API version"));
    assert_non_null(strstr(buf_str(&e), "admin_url must start with https://"));
    buf_reset(&e);
    c = load_cfg("[shop a.myshopify.com]\nwebhook_secret = s\napi_version = unstable\n", &e);
    assert_non_null(c);
    cfg_free(c);
    buf_release(&e);
}

/* ---- the client against a scripted server --------------------------------------------------------------------- */

#define SCRIPT_MAX 16

typedef struct {
    long status;
    char *body;    /* "" = empty */
    char *header;  /* one extra response header "Name: value", or NULL */
} answer_t;

typedef struct {
    char path[128];
    char token[128];
    char *body;
    int64_t at_ms;
} seen_t;

typedef struct fake {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    answer_t script[SCRIPT_MAX];
    int nscript, next;
    seen_t seen[SCRIPT_MAX * 4];
    int nseen;
} fake_t;

typedef struct {
    buf_t body;
} conn_t;

static enum MHD_Result fake_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)method;
    (void)version;
    fake_t *f = cls;
    conn_t *c = *con_cls;
    if (!c) {
        c = calloc(1, sizeof(*c));
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size) {
        buf_append(&c->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&f->mu);
    if (f->nseen < (int)(sizeof(f->seen) / sizeof(f->seen[0]))) {
        seen_t *s = &f->seen[f->nseen++];
        snprintf(s->path, sizeof(s->path), "%s", url);
        const char *tok = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Shopify-Access-Token");
        snprintf(s->token, sizeof(s->token), "%s", tok ? tok : "");
        s->body = strdup(buf_str(&c->body));
        s->at_ms = clock_mono_ms();
    }
    /* The last answer repeats once the script is used up. */
    answer_t *a = &f->script[f->next < f->nscript ? f->next : f->nscript - 1];
    f->next++;
    pthread_mutex_unlock(&f->mu);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(a->body), a->body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (a->header) {
        char name[64];
        size_t nl = strcspn(a->header, ":");
        snprintf(name, sizeof(name), "%.*s", (int)nl, a->header);
        MHD_add_response_header(r, name, a->header + nl + 2);
    }
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)a->status, r);
    MHD_destroy_response(r);
    return rc;
}

static void fake_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)conn;
    (void)t;
    conn_t *c = *con_cls;
    if (c) {
        buf_release(&c->body);
        free(c);
    }
    *con_cls = NULL;
}

static int fake_setup(void **state)
{
    fake_t *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, fake_request, f,
                            MHD_OPTION_NOTIFY_COMPLETED, fake_done, f, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (!f->d)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
    f->port = info ? info->port : 0;
    *state = f;
    return f->port ? 0 : -1;
}

static int fake_teardown(void **state)
{
    fake_t *f = *state;
    MHD_stop_daemon(f->d);
    for (int i = 0; i < f->nscript; i++) {
        free(f->script[i].body);
        free(f->script[i].header);
    }
    for (int i = 0; i < f->nseen; i++)
        free(f->seen[i].body);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return 0;
}

static void fake_answer(fake_t *f, long status, const char *body)
{
    assert_true(f->nscript < SCRIPT_MAX);
    f->script[f->nscript].status = status;
    f->script[f->nscript].body = strdup(body);
    f->nscript++;
}

/* The answer just scripted also carries header "Name: value". */
static void fake_header(fake_t *f, const char *header)
{
    assert_true(f->nscript > 0);
    f->script[f->nscript - 1].header = strdup(header);
}

static char *fake_ok(double maximum, double available, double restore, int requested)
{
    char *s = NULL;
    assert_true(asprintf(&s,
                         "{\"data\":{\"shop\":{\"name\":\"Acme\"}},\"extensions\":{\"cost\":{\"requestedQueryCost\":"
                         "%d,\"actualQueryCost\":%d,\"throttleStatus\":{\"maximumAvailable\":%.1f,"
                         "\"currentlyAvailable\":%.0f,\"restoreRate\":%.1f}}}}",
                         requested, requested, maximum, available, restore) > 0);
    return s;
}

static char *fake_throttled(double maximum, double available, double restore, int requested)
{
    char *s = NULL;
    assert_true(asprintf(&s,
                         "{\"errors\":[{\"message\":\"Throttled\",\"extensions\":{\"code\":\"THROTTLED\"}}],"
                         "\"extensions\":{\"cost\":{\"requestedQueryCost\":%d,\"actualQueryCost\":null,"
                         "\"throttleStatus\":{\"maximumAvailable\":%.1f,\"currentlyAvailable\":%.0f,"
                         "\"restoreRate\":%.1f}}}}",
                         requested, maximum, available, restore) > 0);
    return s;
}

typedef struct {
    cfg_shop_t shop;
    char url[64];
    char token[32];
} shopcfg_t;

static void shop_for(fake_t *f, shopcfg_t *c, int64_t throttle_wait_ms)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d/", f->port);
    snprintf(c->token, sizeof(c->token), "shpat_unit_test_token");
    c->shop.domain = (char *)"acme-outfitters.myshopify.com";
    c->shop.admin_token.value = c->token;
    c->shop.admin_token.len = strlen(c->token);
    c->shop.api_version = (char *)"2026-10";
    c->shop.admin_url = c->url;
    c->shop.api_timeout_ms = 5000;
    c->shop.throttle_wait_ms = throttle_wait_ms;
}

static void add_answer(fake_t *f, long status, char *body)
{
    fake_answer(f, status, body);
    free(body);
}

static void test_shopify_client_resends_throttled_once_each(void **state)
{
    fake_t *f = *state;
    /* THROTTLED with 5 of 100 points and 25 requested at 200/s: wait 100 ms, send the same request again. */
    add_answer(f, 200, fake_throttled(100, 5, 200, 25));
    add_answer(f, 200, fake_ok(100, 80, 200, 25));
    shopcfg_t c;
    shop_for(f, &c, 5000);
    shopify_t *s = shopify_new(&c.shop, NULL);
    assert_non_null(s);
    json_t *vars = json_pack("{s:i}", "first", 5), *data = NULL;
    err_t e;
    err_clear(&e);
    int rc = shopify_graphql(s, "query ShopName($first: Int) { shop { name } }", vars, 0, &data, &e);
    if (rc)
        print_error("%s: %s\n", e.code, e.message);
    assert_int_equal(rc, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(data, "shop"), "name")), "Acme");
    assert_int_equal(shopify_requests(s), 2);
    assert_int_equal(shopify_throttled(s), 1);
    assert_int_equal(f->nseen, 2);
    assert_true(f->seen[1].at_ms - f->seen[0].at_ms >= 95);
    assert_true(shopify_waited_ms(s) >= 95 && shopify_waited_ms(s) < 1000);
    /* Request shape: pinned version, token header, identical body both times (the same work, once). */
    assert_string_equal(f->seen[0].path, "/admin/api/2026-10/graphql.json");
    assert_string_equal(f->seen[0].token, "shpat_unit_test_token");
    assert_string_equal(f->seen[0].body, f->seen[1].body);
    json_t *sent = json_loads(f->seen[0].body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(sent, "variables"), "first")), 5);
    assert_non_null(strstr(json_string_value(json_object_get(sent, "query")), "ShopName"));
    json_decref(sent);
    json_decref(data);
    json_decref(vars);
    shopify_free(s);
}

static void test_shopify_client_waits_before_a_query_that_does_not_fit(void **state)
{
    fake_t *f = *state;
    /* The first answer says the bucket is empty (0 of 50) and restores 100/s; the query costs 20. */
    add_answer(f, 200, fake_ok(50, 0, 100, 20));
    add_answer(f, 200, fake_ok(50, 0, 100, 20));
    shopcfg_t c;
    shop_for(f, &c, 5000);
    shopify_throttle_t *t = shopify_throttle_new();
    shopify_t *s = shopify_new(&c.shop, t);
    json_t *data = NULL;
    err_t e;
    const char *q = "{ shop { name } }";
    assert_int_equal(shopify_graphql(s, q, NULL, 0, &data, &e), 0);
    json_decref(data);
    /* The client learned the cost (20) from the answer: 200 ms pass before the second request leaves. */
    assert_int_equal(shopify_graphql(s, q, NULL, 0, &data, &e), 0);
    json_decref(data);
    assert_int_equal(f->nseen, 2);
    assert_true(f->seen[1].at_ms - f->seen[0].at_ms >= 190);
    assert_int_equal(shopify_throttled(s), 0); /* waited instead of being throttled */
    json_t *sent = json_loads(f->seen[0].body, 0, NULL);
    assert_null(json_object_get(sent, "variables"));
    json_decref(sent);
    /* A second client of the same shop shares the estimate. */
    shopify_t *s2 = shopify_new(&c.shop, t);
    int64_t t0 = clock_mono_ms();
    assert_int_equal(shopify_graphql(s2, q, NULL, 20, &data, &e), 0);
    assert_true(clock_mono_ms() - t0 >= 190);
    json_decref(data);
    shopify_free(s2);
    shopify_free(s);
    shopify_throttle_free(t);
}

static void test_shopify_client_gives_up_after_throttle_wait(void **state)
{
    fake_t *f = *state;
    /* Throttled for good: 1 point/s, 100 requested. The wait (99 s) exceeds throttle_wait (300 ms): give up at
     * once with a transient error instead of sleeping. */
    add_answer(f, 200, fake_throttled(1000, 1, 1, 100));
    shopcfg_t c;
    shop_for(f, &c, 300);
    shopify_t *s = shopify_new(&c.shop, NULL);
    json_t *data = (json_t *)1;
    err_t e;
    int64_t t0 = clock_mono_ms();
    assert_int_equal(shopify_graphql(s, "query Big { shop { name } }", NULL, 0, &data, &e), -1);
    assert_true(clock_mono_ms() - t0 < 1000);
    assert_null(data);
    assert_int_equal(e.cls, ERR_TRANSIENT);
    assert_string_equal(e.code, "shopify.throttled");
    assert_string_equal(e.record, "shopify acme-outfitters.myshopify.com query Big");
    assert_non_null(strstr(e.message, "of 1000 points, restoring 1/s"));
    assert_int_equal(f->nseen, 1);
    shopify_free(s);
}

static void test_shopify_client_backs_off_on_429(void **state)
{
    fake_t *f = *state;
    fake_answer(f, 429, "{\"errors\":\"Exceeded 2 calls per second for api client. Reduce request rates to resume "
                        "uninterrupted service.\"}");
    add_answer(f, 200, fake_ok(1000, 990, 50, 10));
    shopcfg_t c;
    shop_for(f, &c, 5000);
    shopify_t *s = shopify_new(&c.shop, NULL);
    json_t *data = NULL;
    err_t e;
    assert_int_equal(shopify_graphql(s, "query { shop { name } }", NULL, 10, &data, &e), 0);
    json_decref(data);
    assert_int_equal(f->nseen, 2);
    assert_int_equal(shopify_throttled(s), 1);
    assert_true(f->seen[1].at_ms - f->seen[0].at_ms >= 950); /* backed off a second */
    shopify_free(s);
}

static void test_shopify_client_throttled_without_a_usable_status_still_waits(void **state)
{
    fake_t *f = *state;
    /* THROTTLED while the status claims the query fits (or says nothing): every round backs off (1 s, then 2 s),
     * so the call ends within throttle_wait instead of spinning. */
    add_answer(f, 200, fake_throttled(1000, 1000, 50, 10));
    shopcfg_t c;
    shop_for(f, &c, 1500);
    shopify_t *s = shopify_new(&c.shop, NULL);
    json_t *data = NULL;
    err_t e;
    int64_t t0 = clock_mono_ms();
    assert_int_equal(shopify_graphql(s, "query { shop { name } }", NULL, 10, &data, &e), -1);
    int64_t took = clock_mono_ms() - t0;
    assert_string_equal(e.code, "shopify.throttled");
    assert_int_equal(f->nseen, 2);
    assert_true(took >= 950 && took < 1500);
    shopify_free(s);
}

static void test_shopify_client_errors_are_not_resent(void **state)
{
    fake_t *f = *state;
    fake_answer(f, 401, "{\"errors\":\"[API] Invalid API key or access token (unrecognized login or wrong "
                        "password)\"}");
    fake_answer(f, 503, "<html>Service Unavailable</html>");
    fake_answer(f, 404, "{\"errors\":\"Not Found\"}");
    shopcfg_t c;
    shop_for(f, &c, 5000);
    shopify_t *s = shopify_new(&c.shop, NULL);
    json_t *data = NULL;
    err_t e;
    assert_int_equal(shopify_graphql(s, "query A { shop { name } }", NULL, 0, &data, &e), -1);
    assert_int_equal(e.cls, ERR_CONFIGURATION);
    assert_string_equal(e.code, "shopify.auth");
    assert_null(strstr(e.message, c.token));
    assert_null(strstr(e.hint, c.token));
    assert_string_equal(e.target, ""); /* Shopify answered: not an outage */
    assert_int_equal(shopify_graphql(s, "mutation B { x }", NULL, 0, &data, &e), -1);
    assert_int_equal(e.cls, ERR_TRANSIENT);
    assert_string_equal(e.code, "shopify.unavailable");
    assert_string_equal(e.record, "shopify acme-outfitters.myshopify.com mutation B");
    /* a gateway's 503 names the shop for the circuit breaker */
    assert_string_equal(e.target, "shopify:acme-outfitters.myshopify.com");
    assert_int_equal(shopify_graphql(s, "query C { shop { name } }", NULL, 0, &data, &e), -1);
    assert_int_equal(e.cls, ERR_CONFIGURATION);
    assert_string_equal(e.code, "shopify.not_found");
    assert_string_equal(e.target, "");
    assert_int_equal(f->nseen, 3);
    assert_int_equal(shopify_requests(s), 3);
    shopify_free(s);

    /* No token: nothing is sent. */
    c.shop.admin_token.value = NULL;
    s = shopify_new(&c.shop, NULL);
    assert_int_equal(shopify_graphql(s, "query D { shop { name } }", NULL, 0, &data, &e), -1);
    assert_int_equal(e.cls, ERR_CONFIGURATION);
    assert_string_equal(e.code, "shopify.no_token");
    assert_int_equal(f->nseen, 3);
    shopify_free(s);

    /* Nobody listening: transient, naming the call. */
    c.shop.admin_token.value = c.token;
    snprintf(c.url, sizeof(c.url), "http://127.0.0.1:1");
    s = shopify_new(&c.shop, NULL);
    assert_int_equal(shopify_graphql(s, "query E { shop { name } }", NULL, 0, &data, &e), -1);
    assert_int_equal(e.cls, ERR_TRANSIENT);
    assert_non_null(strstr(e.message, "(calling query E)"));
    assert_string_equal(e.target, "shopify:acme-outfitters.myshopify.com");
    /* the probe: the same refusal */
    err_t pe;
    assert_int_equal(shopify_probe(&c.shop, &pe), -1);
    assert_string_equal(pe.target, "shopify:acme-outfitters.myshopify.com");
    shopify_free(s);
}

static void test_shopify_retry_after_values(void **state)
{
    (void)state;
    /* Delay-seconds, whole and fractional as Shopify writes them; finer than a ms rounds up. */
    assert_int_equal(shopify_retry_after_ms("2.0", 0), 2000);
    assert_int_equal(shopify_retry_after_ms("2", 0), 2000);
    assert_int_equal(shopify_retry_after_ms("0.3", 0), 300);
    assert_int_equal(shopify_retry_after_ms("0.25", 0), 250);
    assert_int_equal(shopify_retry_after_ms("0.0001", 0), 1);
    assert_int_equal(shopify_retry_after_ms("1.5000", 0), 1500);
    assert_int_equal(shopify_retry_after_ms("0", 0), 0);
    assert_int_equal(shopify_retry_after_ms(" 3 ", 0), 3000);
    /* Capped, and no overflow on absurd values. */
    assert_int_equal(shopify_retry_after_ms("86400", 0), SHOPIFY_RETRY_AFTER_MAX_MS);
    assert_int_equal(shopify_retry_after_ms("600.5", 0), SHOPIFY_RETRY_AFTER_MAX_MS);
    assert_int_equal(shopify_retry_after_ms("99999999999999999999999999.9", 0), SHOPIFY_RETRY_AFTER_MAX_MS);
    /* An HTTP-date, as of now: 3 s ahead, already past, far ahead. */
    int64_t now;
    assert_int_equal(clock_parse_iso8601("2015-10-21T07:27:57Z", &now), 0);
    assert_int_equal(shopify_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", now), 3000);
    assert_int_equal(shopify_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", now + 3500), 0);
    assert_int_equal(shopify_retry_after_ms("Thu, 22 Oct 2015 07:28:00 GMT", now), SHOPIFY_RETRY_AFTER_MAX_MS);
    /* Neither form: ignored (-1), the caller falls back. */
    const char *bad[] = {NULL, "", " ", "-1", "+1", "1e3", ".5", "2.", "1.2.3", "2 s", "soon", "0x10",
                         "Wed, 21 Oct 2015 07:28:00 UTC", "Wed, 21 Xyz 2015 07:28:00 GMT",
                         "Wed, 21 Oct 2015 25:28:00 GMT", "Wed, 1 Oct 2015 07:28:00 GMT",
                         "Wednesday, 21-Oct-15 07:28:00 GMT", "Wed Oct 21 07:28:00 2015"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (shopify_retry_after_ms(bad[i], now) != -1)
            print_error("accepted: \"%s\"\n", bad[i] ? bad[i] : "(null)");
        assert_int_equal(shopify_retry_after_ms(bad[i], now), -1);
    }
}

static const char *const TOO_MANY = "{\"errors\":\"Exceeded 2 calls per second for api client. Reduce request "
                                    "rates to resume uninterrupted service.\"}";

static void test_shopify_client_honours_retry_after(void **state)
{
    fake_t *f = *state;
    /* 429 saying 0.2 s: paused that long, not the blind 1 s; then "0" twice: the floor, then twice the previous
     * pause (not a busy loop). */
    fake_answer(f, 429, TOO_MANY);
    fake_header(f, "Retry-After: 0.2");
    add_answer(f, 200, fake_ok(1000, 990, 50, 10));
    fake_answer(f, 429, TOO_MANY);
    fake_header(f, "Retry-After: 0");
    fake_answer(f, 429, TOO_MANY);
    fake_header(f, "Retry-After: 0");
    add_answer(f, 200, fake_ok(1000, 990, 50, 10));
    shopcfg_t c;
    shop_for(f, &c, 5000);
    shopify_t *s = shopify_new(&c.shop, NULL);
    json_t *data = NULL;
    err_t e;
    assert_int_equal(shopify_graphql(s, "query { shop { name } }", NULL, 10, &data, &e), 0);
    json_decref(data);
    assert_int_equal(f->nseen, 2);
    int64_t gap = f->seen[1].at_ms - f->seen[0].at_ms;
    assert_true(gap >= 195 && gap < 900);
    assert_true(shopify_waited_ms(s) >= 195 && shopify_waited_ms(s) < 900);
    assert_int_equal(shopify_graphql(s, "query { shop { name } }", NULL, 10, &data, &e), 0);
    json_decref(data);
    assert_int_equal(f->nseen, 5);
    gap = f->seen[3].at_ms - f->seen[2].at_ms;
    assert_true(gap >= 95 && gap < 600);
    gap = f->seen[4].at_ms - f->seen[3].at_ms;
    assert_true(gap >= 195 && gap < 800);
    assert_int_equal(shopify_throttled(s), 3);
    shopify_free(s);
}

typedef struct {
    shopify_t *s;
    int rc;
} call_t;

static void *call_shop_name(void *arg)
{
    call_t *c = arg;
    json_t *data = NULL;
    err_t e;
    c->rc = shopify_graphql(c->s, "query { shop { name } }", NULL, 10, &data, &e);
    json_decref(data);
    return NULL;
}

static void test_shopify_client_retry_after_outlasts_other_answers(void **state)
{
    fake_t *f = *state;
    /* Two clients of one shop. The first is told Retry-After: 0.5; the second's answer 100 ms later brings a
     * bucket figure with plenty of room, which would wake a bucket wait but must not cut that pause short. */
    fake_answer(f, 429, TOO_MANY);
    fake_header(f, "Retry-After: 0.5");
    add_answer(f, 200, fake_ok(1000, 990, 50, 10));
    shopcfg_t c;
    shop_for(f, &c, 5000);
    shopify_throttle_t *t = shopify_throttle_new();
    call_t a = {shopify_new(&c.shop, t), -1}, b = {shopify_new(&c.shop, t), -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, call_shop_name, &a), 0);
    usleep(100 * 1000);
    call_shop_name(&b);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(f->nseen, 3);
    assert_true(shopify_waited_ms(a.s) >= 495);
    shopify_free(a.s);
    shopify_free(b.s);
    shopify_throttle_free(t);
}

static void test_shopify_client_gives_up_when_retry_after_exceeds_throttle_wait(void **state)
{
    fake_t *f = *state;
    /* Retry-After 30 s against a 5 s budget: sending earlier would meet another 429, so the call ends at once. */
    fake_answer(f, 429, TOO_MANY);
    fake_header(f, "Retry-After: 30.0");
    add_answer(f, 200, fake_ok(1000, 990, 50, 10));
    shopcfg_t c;
    shop_for(f, &c, 5000);
    shopify_t *s = shopify_new(&c.shop, NULL);
    json_t *data = NULL;
    err_t e;
    int64_t t0 = clock_mono_ms();
    assert_int_equal(shopify_graphql(s, "query Q { shop { name } }", NULL, 10, &data, &e), -1);
    assert_true(clock_mono_ms() - t0 < 900);
    assert_int_equal(e.cls, ERR_TRANSIENT);
    assert_string_equal(e.code, "shopify.throttled");
    assert_non_null(strstr(e.message, "Retry-After calls for (30000 ms)"));
    assert_int_equal(f->nseen, 1);
    assert_int_equal(shopify_waited_ms(s), 0);
    shopify_free(s);
}

static void test_shopify_client_quotes_the_request_id(void **state)
{
    fake_t *f = *state;
    const char *rid = "4b4a1c5e-8f7d-4a3b-9c2d-1e0f9a8b7c6d";
    char hdr[96], *long_error = NULL;
    snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", rid);
    fake_answer(f, 500, "{\"errors\":\"Internal Server Error\"}");
    fake_header(f, hdr);
    fake_answer(f, 401, "{\"errors\":\"[API] Invalid API key or access token\"}");
    fake_header(f, hdr);
    /* A message that fills err_t: the id survives, the message is cut instead. */
    char many[2400];
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "%s{\"message\":\"%0700d\"}", i ? "," : "", i);
    assert_true(asprintf(&long_error, "{\"errors\":[%s]}", many) > 0);
    fake_answer(f, 200, long_error);
    fake_header(f, hdr);
    free(long_error);
    fake_answer(f, 503, "<html>Service Unavailable</html>"); /* a proxy's page: no id */
    fake_answer(f, 500, "{\"errors\":\"Internal Server Error\"}");
    fake_header(f, "X-Request-Id: <script>");
    shopcfg_t c;
    shop_for(f, &c, 5000);
    shopify_t *s = shopify_new(&c.shop, NULL);
    json_t *data = NULL;
    err_t e;
    char want[96];
    snprintf(want, sizeof(want), " (Shopify X-Request-Id %s)", rid);

    assert_int_equal(shopify_graphql(s, "query A { shop { name } }", NULL, 0, &data, &e), -1);
    assert_string_equal(e.code, "shopify.unavailable");
    assert_true(strlen(e.message) > strlen(want));
    assert_string_equal(e.message + strlen(e.message) - strlen(want), want);

    assert_int_equal(shopify_graphql(s, "query B { shop { name } }", NULL, 0, &data, &e), -1);
    assert_string_equal(e.code, "shopify.auth"); /* configuration: nothing to ask Shopify support */
    assert_null(strstr(e.message, rid));

    assert_int_equal(shopify_graphql(s, "query C { shop { name } }", NULL, 0, &data, &e), -1);
    assert_string_equal(e.code, "shopify.graphql");
    assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
    assert_string_equal(e.message + strlen(e.message) - strlen(want), want);

    assert_int_equal(shopify_graphql(s, "query D { shop { name } }", NULL, 0, &data, &e), -1);
    assert_string_equal(e.code, "shopify.unavailable");
    assert_null(strstr(e.message, "X-Request-Id"));

    assert_int_equal(shopify_graphql(s, "query E { shop { name } }", NULL, 0, &data, &e), -1);
    assert_null(strstr(e.message, "X-Request-Id"));
    assert_null(strstr(e.message, "<script>"));
    shopify_free(s);
}

static const char *const SET_QUANTITIES =
    "mutation SetStock($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {\n"
    "  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {\n"
    "    inventoryAdjustmentGroup { id }\n    userErrors { field message code }\n  }\n}";

static void test_shopify_mutate_sends_the_key_and_reads_user_errors(void **state)
{
    fake_t *f = *state;
    fake_answer(f, 200, "{\"data\":{\"inventorySetQuantities\":{\"inventoryAdjustmentGroup\":{\"id\":"
                        "\"gid://shopify/InventoryAdjustmentGroup/9\"},\"userErrors\":[]}},\"extensions\":{}}");
    fake_answer(f, 200, "{\"data\":{\"inventorySetQuantities\":{\"inventoryAdjustmentGroup\":null,\"userErrors\":"
                        "[{\"field\":[\"input\",\"quantities\",\"0\",\"changeFromQuantity\"],\"message\":\"The "
                        "quantity changed.\",\"code\":\"CHANGE_FROM_QUANTITY_STALE\"}]}}}");
    shopcfg_t c;
    shop_for(f, &c, 5000);
    shopify_t *s = shopify_new(&c.shop, NULL);
    assert_true(shopify_has_idempotent(s));
    json_t *vars = json_pack("{s:{s:s}}", "input", "name", "available");
    json_t *payload = NULL;
    err_t e;
    char key[33];
    assert_int_equal(shopify_idempotency_key("3f2a9c0d11e24b7f8a6c5d4e3f2a1b0c", NULL, key, sizeof(key)), 0);
    assert_int_equal(shopify_mutate(s, SET_QUANTITIES, vars, "inventorySetQuantities", key, 10, &payload, &e), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(payload, "inventoryAdjustmentGroup"),
                                                          "id")),
                        "gid://shopify/InventoryAdjustmentGroup/9");
    json_decref(payload);
    assert_null(json_object_get(vars, "idempotencyKey")); /* the caller's variables are left alone */
    json_t *sent = json_loads(f->seen[0].body, 0, NULL);
    json_t *sv = json_object_get(sent, "variables");
    assert_string_equal(json_string_value(json_object_get(sv, "idempotencyKey")), key);
    assert_string_equal(json_string_value(json_object_get(json_object_get(sv, "input"), "name")), "available");
    json_decref(sent);

    assert_int_equal(shopify_mutate(s, SET_QUANTITIES, vars, "inventorySetQuantities", key, 10, &payload, &e), -1);
    assert_null(payload);
    assert_int_equal(e.cls, ERR_DATA);
    assert_string_equal(e.code, "shopify.change_from_quantity_stale");
    assert_string_equal(e.record, "shopify acme-outfitters.myshopify.com mutation inventorySetQuantities");
    assert_non_null(strstr(e.message, "input.quantities.0.changeFromQuantity"));

    /* A key for a document that does not use it is a bug, caught before sending. */
    assert_int_equal(shopify_mutate(s, "mutation { x }", vars, "x", key, 10, &payload, &e), -1);
    assert_int_equal(e.cls, ERR_INTERNAL);
    assert_int_equal(f->nseen, 2);
    json_decref(vars);
    shopify_free(s);
}

int main(void)
{
    httpc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shopify_bucket_takes_figures_from_the_answer),
        cmocka_unit_test(test_shopify_bucket_wait_math),
        cmocka_unit_test(test_shopify_throttle_reservations_are_shared),
        cmocka_unit_test(test_shopify_throttle_sleep_wakes_on_answer),
        cmocka_unit_test(test_shopify_throttled_body_means_wait_and_resend),
        cmocka_unit_test(test_shopify_classify_answers),
        cmocka_unit_test(test_shopify_user_errors),
        cmocka_unit_test(test_shopify_gids),
        cmocka_unit_test(test_shopify_idempotency_keys_and_versions),
        cmocka_unit_test(test_shopify_cfg_keys),
        cmocka_unit_test_setup_teardown(test_shopify_client_resends_throttled_once_each, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_shopify_client_waits_before_a_query_that_does_not_fit, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_shopify_client_gives_up_after_throttle_wait, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_shopify_client_backs_off_on_429, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_shopify_client_throttled_without_a_usable_status_still_waits,
                                        fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_shopify_client_errors_are_not_resent, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_shopify_mutate_sends_the_key_and_reads_user_errors, fake_setup,
                                        fake_teardown),
        cmocka_unit_test(test_shopify_retry_after_values),
        cmocka_unit_test_setup_teardown(test_shopify_client_honours_retry_after, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_shopify_client_retry_after_outlasts_other_answers, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_shopify_client_gives_up_when_retry_after_exceeds_throttle_wait,
                                        fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_shopify_client_quotes_the_request_id, fake_setup, fake_teardown),
    };
    return cmocka_run_group_tests_name("shopify", tests, NULL, NULL);
}
