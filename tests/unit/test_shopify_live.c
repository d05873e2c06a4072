/* Live tests of src/shopify against the Shopify emulator (tests/sim/shopify_sim.py) over loopback: the client's
 * requests as the emulator parses them, a burst of mutations from several threads through a small bucket (none
 * fails, none is lost or applied twice, most are paced rather than throttled), the THROTTLED and 429 paths taken
 * and recovered, an idempotent replay, and the InventoryLevel GID trap on real answers. Orders
 * (shopify_orders.c): seeded orders fetched and compared field by field with the emulator's REST view (the webhook
 * body), a 150-line order read in pages and read again when it changes between them, and the updated-since list
 * paged over the seeded orders.
 *
 * Skipped unless SYNCHUB_TEST_SHOPIFY_URL is set. The tests drive the emulator's test API (/__sim__/reset,
 * /bucket, /fault, /state), so they need the emulator, not a real shop. To run them by hand:
 *
 *   python3 tests/sim/shopify_sim.py --port 8071 &      # prints a JSON ready line; "token" is the access token
 *   export SYNCHUB_TEST_SHOPIFY_URL=http://127.0.0.1:8071
 *   export SYNCHUB_TEST_SHOPIFY_TOKEN=shpat_…           # the ready line's token (shopify_sim.DEFAULT_TOKEN)
 *   build-asan/test_shopify_live
 *
 * tests/integration/test_shopify_client.py does exactly that (and `make test` runs it). The bucket is reshaped by
 * the tests themselves, so the emulator's --bucket/--restore do not matter; every test starts from
 * POST /__sim__/reset, and the order tests reset with {"orders": true}, so --orders does not matter either. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/clock.h"
#include "net/httpc.h"
#include "shopify/shopify.h"
#include "shopify/shopify_orders.h"

#define SHOP "acme-outfitters.myshopify.com"
#define VERSION "2026-10"

static const char *sim_url(void) { return getenv("SYNCHUB_TEST_SHOPIFY_URL"); }

static void shop_cfg(cfg_shop_t *shop)
{
    memset(shop, 0, sizeof(*shop));
    shop->domain = (char *)SHOP;
    const char *tok = getenv("SYNCHUB_TEST_SHOPIFY_TOKEN");
    shop->admin_token.value = (char *)(tok ? tok : "");
    shop->admin_token.len = strlen(shop->admin_token.value);
    shop->api_version = (char *)VERSION;
    shop->admin_url = (char *)sim_url();
    shop->api_timeout_ms = 10000;
    shop->throttle_wait_ms = 30000;
}

/* POST (body non-NULL) or GET the emulator's test API; returns the parsed answer (caller frees). */
static json_t *sim(const char *path, const char *body)
{
    httpc_t *h = httpc_new(10000);
    char url[512];
    snprintf(url, sizeof(url), "%s/__sim__/%s", sim_url(), path);
    const char *headers[] = {"Content-Type: application/json", NULL};
    buf_t resp = BUF_INIT;
    long status = 0;
    err_t e;
    int rc = httpc_request(h, body ? "POST" : "GET", url, headers, body, body ? strlen(body) : 0, 0, &status, &resp,
                           &e);
    if (rc < 0 || status != 200)
        print_error("/__sim__/%s: %s (HTTP %ld) %s\n", path, rc < 0 ? e.message : "", status, buf_str(&resp));
    assert_int_equal(rc, 0);
    assert_int_equal(status, 200);
    json_t *j = json_loadb(resp.data, resp.len, 0, NULL);
    assert_non_null(j);
    buf_release(&resp);
    httpc_free(h);
    return j;
}

static void sim_post(const char *path, const char *body) { json_decref(sim(path, body)); }

static int setup(void **state)
{
    (void)state;
    if (!sim_url())
        return 0;
    sim_post("reset", "{}");
    return 0;
}

#define NEED_SIM()                                                                                                 \
    do {                                                                                                           \
        if (!sim_url())                                                                                            \
            skip();                                                                                                \
    } while (0)

typedef struct ids {
    char location[96];  /* gid://shopify/Location/… of "Main warehouse" */
    char item[96];      /* gid://shopify/InventoryItem/… of ACME-MUG-350 */
} ids_t;

static const char *const IDS_QUERY =
    "query Ids($sku: String!) {\n"
    "  locations(first: 5) { nodes { id name } }\n"
    "  productVariants(first: 1, query: $sku) { nodes { sku inventoryItem { id inventoryLevels(first: 3) {\n"
    "    nodes { id location { id } } } } } }\n"
    "}";

static void find_ids(shopify_t *s, ids_t *ids)
{
    json_t *vars = json_pack("{s:s}", "sku", "sku:ACME-MUG-350"), *data = NULL;
    err_t e;
    int rc = shopify_graphql(s, IDS_QUERY, vars, 0, &data, &e);
    if (rc)
        print_error("%s: %s\n", e.code, e.message);
    assert_int_equal(rc, 0);
    size_t i;
    json_t *n;
    ids->location[0] = '\0';
    json_array_foreach(json_object_get(json_object_get(data, "locations"), "nodes"), i, n)
        if (!strcmp(json_string_value(json_object_get(n, "name")), "Main warehouse"))
            snprintf(ids->location, sizeof(ids->location), "%s", json_string_value(json_object_get(n, "id")));
    json_t *v = json_array_get(json_object_get(json_object_get(data, "productVariants"), "nodes"), 0);
    json_t *item = json_object_get(v, "inventoryItem");
    snprintf(ids->item, sizeof(ids->item), "%s", json_string_value(json_object_get(item, "id")));
    assert_true(ids->location[0] && !strncmp(ids->item, "gid://shopify/InventoryItem/", 28));

    /* The InventoryLevel trap on a real answer: the level's GID carries the location's id, and the item only in
     * its query string. */
    char item_id[32], from_level[32], level_id[32], loc_id[32];
    assert_int_equal(shopify_gid_id(ids->item, item_id, sizeof(item_id)), 0);
    json_array_foreach(json_object_get(json_object_get(item, "inventoryLevels"), "nodes"), i, n) {
        const char *level = json_string_value(json_object_get(n, "id"));
        assert_int_equal(shopify_gid_type(level, level_id, sizeof(level_id)), 0);
        assert_string_equal(level_id, "InventoryLevel");
        assert_int_equal(shopify_gid_param(level, "inventory_item_id", from_level, sizeof(from_level)), 0);
        assert_string_equal(from_level, item_id);
        assert_int_equal(shopify_gid_id(level, level_id, sizeof(level_id)), 0);
        assert_int_equal(shopify_gid_id(json_string_value(json_object_get(json_object_get(n, "location"), "id")),
                                        loc_id, sizeof(loc_id)), 0);
        assert_string_equal(level_id, loc_id);
        assert_string_not_equal(level_id, item_id);
    }
    assert_true(i >= 1);
    json_decref(data);
    json_decref(vars);
}

static const char *const SET_QUANTITY =
    "mutation SetQuantity($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {\n"
    "  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {\n"
    "    inventoryAdjustmentGroup { id }\n"
    "    userErrors { field message code }\n"
    "  }\n"
    "}";

/* Set "available" of the item at the location; key derived from (job, step) as a pusher would. 0 or -1. */
static int set_quantity(shopify_t *s, const ids_t *ids, int quantity, const char *job, const char *step,
                        char *group, size_t gn, err_t *e)
{
    char key[33], uri[96];
    assert_int_equal(shopify_idempotency_key(job, step, key, sizeof(key)), 0);
    snprintf(uri, sizeof(uri), "gid://synchub/SyncJob/%s", key);
    json_t *vars = json_pack("{s:{s:s, s:s, s:s, s:[{s:s, s:s, s:i, s:n}]}}", "input", "name", "available",
                             "reason", "correction", "referenceDocumentUri", uri, "quantities", "inventoryItemId",
                             ids->item, "locationId", ids->location, "quantity", quantity, "changeFromQuantity");
    json_t *payload = NULL;
    int rc = shopify_mutate(s, SET_QUANTITY, vars, "inventorySetQuantities", key, 10, &payload, e);
    if (rc == 0 && group)
        snprintf(group, gn, "%s",
                 json_string_value(json_object_get(json_object_get(payload, "inventoryAdjustmentGroup"), "id")));
    json_decref(payload);
    json_decref(vars);
    return rc;
}

static size_t groups_applied(void)
{
    json_t *st = sim("state", NULL);
    size_t n = json_array_size(json_object_get(st, "adjustment_groups"));
    json_decref(st);
    return n;
}

static void test_shopify_live_query_and_gids(void **state)
{
    (void)state;
    NEED_SIM();
    cfg_shop_t shop;
    shop_cfg(&shop);
    shopify_t *s = shopify_new(&shop, NULL);
    ids_t ids;
    find_ids(s, &ids);
    assert_int_equal(shopify_throttled(s), 0);
    shopify_free(s);
}

#define THREADS 4
#define PER_THREAD 15

typedef struct worker {
    shopify_throttle_t *throttle;
    const ids_t *ids;
    int n;
    int failures;
    uint64_t requests, throttled;
    char last_error[900];
} worker_t;

static void *work(void *arg)
{
    worker_t *w = arg;
    cfg_shop_t shop;
    shop_cfg(&shop);
    shopify_t *s = shopify_new(&shop, w->throttle);
    for (int i = 0; i < PER_THREAD; i++) {
        char job[40], step[16];
        snprintf(job, sizeof(job), "live%02d%026d", w->n, i); /* a job id's shape: 32 characters */
        snprintf(step, sizeof(step), "main");
        err_t e;
        if (set_quantity(s, w->ids, 100 * w->n + i, job, step, NULL, 0, &e) < 0) {
            w->failures++;
            snprintf(w->last_error, sizeof(w->last_error), "%s: %s", e.code, e.message);
        }
    }
    w->requests = shopify_requests(s);
    w->throttled = shopify_throttled(s);
    shopify_free(s);
    return NULL;
}

static void test_shopify_live_burst_through_a_small_bucket(void **state)
{
    (void)state;
    NEED_SIM();
    cfg_shop_t shop;
    shop_cfg(&shop);
    shopify_t *s = shopify_new(&shop, NULL);
    ids_t ids;
    find_ids(s, &ids);
    shopify_free(s);

    /* Room for 4 mutations (10 points each) at a time, 20 more per second: 60 mutations from 4 threads need
     * about 3 s of pacing. */
    sim_post("bucket", "{\"maximum\": 40, \"restore\": 200, \"available\": 40}");
    size_t before = groups_applied();
    shopify_throttle_t *t = shopify_throttle_new();
    worker_t w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].throttle = t;
        w[i].ids = &ids;
        w[i].n = i;
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    uint64_t requests = 0, throttled = 0;
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        requests += w[i].requests;
        throttled += w[i].throttled;
        failures += w[i].failures;
        if (w[i].failures)
            print_error("worker %d: %d failures, last: %s\n", i, w[i].failures, w[i].last_error);
    }
    print_message("%d mutations: %llu requests, %llu throttled\n", THREADS * PER_THREAD,
                  (unsigned long long)requests, (unsigned long long)throttled);
    assert_int_equal(failures, 0);
    /* None lost, none applied twice: one adjustment group per mutation. */
    assert_int_equal(groups_applied() - before, THREADS * PER_THREAD);
    assert_int_equal(requests, THREADS * PER_THREAD + throttled);
    /* Paced, not hammering: at most the first request of each thread (sent before any figure was known) and a
     * few races end up THROTTLED. */
    assert_true(throttled <= THREADS * PER_THREAD / 4);
    shopify_throttle_free(t);
}

static void test_shopify_live_throttled_and_429_are_recovered(void **state)
{
    (void)state;
    NEED_SIM();
    cfg_shop_t shop;
    shop_cfg(&shop);
    shopify_t *s = shopify_new(&shop, NULL);
    ids_t ids;
    find_ids(s, &ids);
    shopify_free(s);
    size_t before = groups_applied();

    /* A client that knows nothing yet meets an empty bucket: THROTTLED, wait what the answer says, send again. */
    sim_post("bucket", "{\"maximum\": 40, \"restore\": 50, \"available\": 0}");
    s = shopify_new(&shop, NULL);
    err_t e;
    char group[96];
    int64_t t0 = clock_mono_ms();
    int rc = set_quantity(s, &ids, 7, "livethrottled0000000000000000000", NULL, group, sizeof(group), &e);
    if (rc)
        print_error("%s: %s\n", e.code, e.message);
    assert_int_equal(rc, 0);
    assert_int_equal(shopify_throttled(s), 1);
    assert_int_equal(shopify_requests(s), 2);
    assert_true(clock_mono_ms() - t0 >= 150); /* 10 points at 50/s */
    assert_int_equal(groups_applied() - before, 1);

    /* HTTP 429 once: backed off and sent again. */
    sim_post("bucket", "{\"maximum\": 1000, \"restore\": 50, \"available\": 1000}");
    sim_post("fault", "{\"mode\": \"429\", \"count\": 1, \"match\": {\"field\": \"inventorySetQuantities\"}}");
    rc = set_quantity(s, &ids, 8, "live4290000000000000000000000000", NULL, NULL, 0, &e);
    if (rc)
        print_error("%s: %s\n", e.code, e.message);
    assert_int_equal(rc, 0);
    assert_int_equal(shopify_throttled(s), 2);
    assert_int_equal(groups_applied() - before, 2);

    /* The job retried after a lost answer repeats its key: Shopify replays the first result, nothing is applied
     * again. */
    char again[96];
    rc = set_quantity(s, &ids, 7, "livethrottled0000000000000000000", NULL, again, sizeof(again), &e);
    assert_int_equal(rc, 0);
    assert_string_equal(again, group);
    assert_int_equal(groups_applied() - before, 2);

    /* Same key, other variables: a synchub bug, reported as internal. */
    rc = set_quantity(s, &ids, 9, "livethrottled0000000000000000000", NULL, NULL, 0, &e);
    assert_int_equal(rc, -1);
    assert_int_equal(e.cls, ERR_INTERNAL);
    assert_string_equal(e.code, "shopify.idempotency_key_parameter_mismatch");
    shopify_free(s);
}

static void test_shopify_live_errors(void **state)
{
    (void)state;
    NEED_SIM();
    cfg_shop_t shop;
    shop_cfg(&shop);
    err_t e;
    json_t *data = NULL;

    shop.admin_token.value = (char *)"shpat_wrong";
    shopify_t *s = shopify_new(&shop, NULL);
    assert_int_equal(shopify_graphql(s, "{ shop { name } }", NULL, 0, &data, &e), -1);
    assert_int_equal(e.cls, ERR_CONFIGURATION);
    assert_string_equal(e.code, "shopify.auth");
    shopify_free(s);

    shop_cfg(&shop);
    shop.api_version = (char *)"2019-04";
    s = shopify_new(&shop, NULL);
    assert_int_equal(shopify_graphql(s, "{ shop { name } }", NULL, 0, &data, &e), -1);
    assert_string_equal(e.code, "shopify.not_found");
    shopify_free(s);

    shop_cfg(&shop);
    s = shopify_new(&shop, NULL);
    assert_int_equal(shopify_graphql(s, "query Bad { shop { bogus } }", NULL, 0, &data, &e), -1);
    assert_int_equal(e.cls, ERR_INTERNAL);
    assert_string_equal(e.code, "shopify.graphql");
    assert_non_null(strstr(e.message, "bogus"));
    assert_int_equal(shopify_graphql(s, "{ inventoryItem(id: \"gid://shopify/InventoryItem/1\") { id } }", NULL, 0,
                                     &data, &e), 0); /* unknown id: null, no error */
    assert_true(json_is_null(json_object_get(data, "inventoryItem")));
    json_decref(data);
    sim_post("fault", "{\"mode\": \"http_503\", \"count\": 1}");
    assert_int_equal(shopify_graphql(s, "{ shop { name } }", NULL, 0, &data, &e), -1);
    assert_int_equal(e.cls, ERR_TRANSIENT);
    assert_int_equal(shopify_requests(s), 3); /* not re-sent by the client */
    sim_post("fault", "{\"mode\": \"internal_error\", \"count\": 1}");
    assert_int_equal(shopify_graphql(s, "{ shop { name } }", NULL, 0, &data, &e), -1);
    assert_string_equal(e.code, "shopify.server_error");
    shopify_free(s);
}

static void test_shopify_live_retry_after_and_request_id(void **state)
{
    (void)state;
    NEED_SIM();
    cfg_shop_t shop;
    shop_cfg(&shop);
    shopify_t *s = shopify_new(&shop, NULL);
    json_t *data = NULL;
    err_t e;

    /* A 429 with Retry-After: 0.3: paused that long (not the blind 1 s backoff), sent again, answered. */
    sim_post("fault", "{\"mode\": \"429\", \"count\": 1, \"retry_after\": \"0.3\"}");
    int rc = shopify_graphql(s, "query ShopName { shop { name } }", NULL, 0, &data, &e);
    if (rc)
        print_error("%s: %s\n", e.code, e.message);
    assert_int_equal(rc, 0);
    assert_non_null(json_object_get(data, "shop"));
    json_decref(data);
    assert_int_equal(shopify_requests(s), 2);
    assert_int_equal(shopify_throttled(s), 1);
    print_message("Retry-After 0.3: waited %lld ms\n", (long long)shopify_waited_ms(s));
    assert_true(shopify_waited_ms(s) >= 295 && shopify_waited_ms(s) < 900);

    /* A failure Shopify answered names its X-Request-Id for Shopify support. */
    sim_post("fault", "{\"mode\": \"http_500\", \"count\": 1}");
    assert_int_equal(shopify_graphql(s, "query ShopName { shop { name } }", NULL, 0, &data, &e), -1);
    assert_string_equal(e.code, "shopify.unavailable");
    const char *id = strstr(e.message, " (Shopify X-Request-Id ");
    assert_non_null(id);
    assert_int_equal(strlen(id), strlen(" (Shopify X-Request-Id )") + 36); /* the emulator's ids are UUIDs */
    shopify_free(s);
}

/* ---- orders (src/shopify/shopify_orders.c) ------------------------------------------------------------------ */

/* Fail with both values when a fetched order's field differs from the emulator's REST view (the webhook body). */
static void same_str(const json_t *mine, const json_t *rest, const char *key, const char *where)
{
    const char *a = json_string_value(json_object_get(mine, key)), *b = json_string_value(json_object_get(rest, key));
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0)) {
        print_error("%s.%s: fetched %s, REST view %s\n", where, key, a ? a : "null", b ? b : "null");
        fail();
    }
}

static void same_int(const json_t *mine, const json_t *rest, const char *key, const char *where)
{
    const json_t *a = json_object_get(mine, key), *b = json_object_get(rest, key);
    if (!json_is_integer(a) || !json_is_integer(b) || json_integer_value(a) != json_integer_value(b)) {
        print_error("%s.%s: fetched %lld, REST view %lld\n", where, key, (long long)json_integer_value(a),
                    (long long)json_integer_value(b));
        fail();
    }
}

/* The same instant (GraphQL answers in UTC, REST in the shop's offset), or both null. */
static void same_time(const json_t *mine, const json_t *rest, const char *key, const char *where)
{
    const char *a = json_string_value(json_object_get(mine, key)), *b = json_string_value(json_object_get(rest, key));
    int64_t ta = 0, tb = 0;
    if ((a == NULL) != (b == NULL) || (a && (clock_parse_iso8601(a, &ta) < 0 || clock_parse_iso8601(b, &tb) < 0 ||
                                             ta != tb))) {
        print_error("%s.%s: fetched %s, REST view %s\n", where, key, a ? a : "null", b ? b : "null");
        fail();
    }
}

/* Every field the order mapper reads, fetched vs the REST view. */
/* tax_lines (title, rate, price) and discount_allocations (amount) of a line or shipping line, as REST has them.
 * The emulator's REST view gives a line without money one zero-rate tax line, which GraphQL does not list. */
static void same_money_lists(const json_t *l, const json_t *rl, const char *where)
{
    const json_t *t = json_object_get(l, "tax_lines"), *rt = json_object_get(rl, "tax_lines");
    size_t k = 0;
    for (size_t i = 0; i < json_array_size(rt); i++) {
        const json_t *r = json_array_get(rt, i);
        if (json_number_value(json_object_get(r, "rate")) == 0.0 &&
            !strcmp(json_string_value(json_object_get(r, "price")), "0.00") && json_array_size(t) <= k)
            continue;
        const json_t *m = json_array_get(t, k++);
        assert_non_null(m);
        same_str(m, r, "title", where);
        same_str(m, r, "price", where);
        assert_true(json_number_value(json_object_get(m, "rate")) == json_number_value(json_object_get(r, "rate")));
    }
    assert_int_equal(json_array_size(t), k);
    const json_t *d = json_object_get(l, "discount_allocations"), *rd = json_object_get(rl, "discount_allocations");
    assert_int_equal(json_array_size(d), json_array_size(rd));
    for (size_t i = 0; i < json_array_size(d); i++)
        same_str(json_array_get(d, i), json_array_get(rd, i), "amount", where);
}

static void same_as_rest(const json_t *mine, const json_t *rest)
{
    same_int(mine, rest, "id", "order");
    static const char *const order_keys[] = {"name", "email", "phone", "currency", "financial_status", "note", "tags",
                                             "total_discounts", "cancel_reason", "current_total_price",
                                             "current_total_tax", "total_tip_received"};
    assert_int_equal(json_is_true(json_object_get(mine, "taxes_included")),
                     json_is_true(json_object_get(rest, "taxes_included")));
    for (size_t i = 0; i < sizeof(order_keys) / sizeof(order_keys[0]); i++)
        same_str(mine, rest, order_keys[i], "order");
    same_time(mine, rest, "created_at", "order");
    same_time(mine, rest, "updated_at", "order");
    same_time(mine, rest, "cancelled_at", "order");

    const json_t *c = json_object_get(mine, "customer"), *rc = json_object_get(rest, "customer");
    assert_int_equal(json_is_object(c), json_is_object(rc));
    if (json_is_object(c)) {
        same_int(c, rc, "id", "customer");
        static const char *const keys[] = {"email", "first_name", "last_name", "phone"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            same_str(c, rc, keys[i], "customer");
        same_time(c, rc, "updated_at", "customer");
    }
    static const char *const addresses[] = {"shipping_address", "billing_address"};
    static const char *const address_keys[] = {"first_name", "last_name", "name", "company", "address1", "address2",
                                               "city", "province", "zip", "province_code", "country",
                                               "country_code", "phone"};
    for (size_t k = 0; k < 2; k++) {
        const json_t *a = json_object_get(mine, addresses[k]), *ra = json_object_get(rest, addresses[k]);
        assert_int_equal(json_is_object(a), json_is_object(ra));
        for (size_t i = 0; json_is_object(a) && i < sizeof(address_keys) / sizeof(address_keys[0]); i++)
            same_str(a, ra, address_keys[i], addresses[k]);
    }

    const json_t *lines = json_object_get(mine, "line_items"), *rlines = json_object_get(rest, "line_items");
    assert_int_equal(json_array_size(lines), json_array_size(rlines));
    for (size_t i = 0; i < json_array_size(lines); i++) {
        const json_t *l = json_array_get(lines, i), *rl = json_array_get(rlines, i);
        char where[48];
        snprintf(where, sizeof(where), "line_items[%zu]", i);
        static const char *const ints[] = {"id", "quantity", "current_quantity"};
        static const char *const strs[] = {"sku", "title", "name", "price", "total_discount"};
        for (size_t j = 0; j < sizeof(ints) / sizeof(ints[0]); j++)
            same_int(l, rl, ints[j], where);
        for (size_t j = 0; j < sizeof(strs) / sizeof(strs[0]); j++)
            same_str(l, rl, strs[j], where);
        same_money_lists(l, rl, where);
        assert_int_equal(json_is_true(json_object_get(l, "gift_card")), json_is_true(json_object_get(rl, "gift_card")));
    }
    const json_t *ships = json_object_get(mine, "shipping_lines"), *rships = json_object_get(rest, "shipping_lines");
    assert_int_equal(json_array_size(ships), json_array_size(rships));
    for (size_t i = 0; i < json_array_size(ships); i++) {
        const json_t *l = json_array_get(ships, i), *rl = json_array_get(rships, i);
        same_int(l, rl, "id", "shipping_lines");
        static const char *const strs[] = {"title", "code", "price", "discounted_price"};
        for (size_t j = 0; j < sizeof(strs) / sizeof(strs[0]); j++)
            same_str(l, rl, strs[j], "shipping_lines");
        same_money_lists(l, rl, "shipping_lines");
    }
}

/* Fetch order id (expected to exist) and compare it with the emulator's REST view; returns the fetched order. */
static json_t *fetch_and_compare(shopify_t *s, const char *id)
{
    json_t *o = NULL;
    err_t e;
    int rc = shopify_order_fetch(s, id, &o, &e);
    if (rc != 1)
        print_error("order %s: rc %d %s: %s\n", id, rc, rc < 0 ? e.code : "", rc < 0 ? e.message : "");
    assert_int_equal(rc, 1);
    char path[64];
    snprintf(path, sizeof(path), "orders/%s", id);
    json_t *rest = sim(path, NULL);
    same_as_rest(o, rest);
    json_decref(rest);
    return o;
}

/* The calls the emulator logged for one GraphQL operation; each one's requested cost must be `cost`. */
static size_t calls_of(const char *operation, int cost)
{
    char path[96];
    snprintf(path, sizeof(path), "calls?operation=%s", operation);
    json_t *log = sim(path, NULL);
    json_t *calls = json_object_get(log, "calls");
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        if (json_integer_value(json_object_get(c, "requested_cost")) != cost)
            print_error("%s requested %lld points, expected %d\n", operation,
                        (long long)json_integer_value(json_object_get(c, "requested_cost")), cost);
        assert_int_equal(json_integer_value(json_object_get(c, "requested_cost")), cost);
    }
    size_t n = json_array_size(calls);
    json_decref(log);
    return n;
}

#define ORDER_1042 "6150327861270"
#define ORDER_1043 "6150327894038"
#define ORDER_1044 "6150327926806"

static void test_shopify_live_order_fetch_matches_the_rest_view(void **state)
{
    (void)state;
    NEED_SIM();
    sim_post("reset", "{\"orders\": true}");
    cfg_shop_t shop;
    shop_cfg(&shop);
    shopify_t *s = shopify_new(&shop, NULL);

    json_t *o = fetch_and_compare(s, ORDER_1042);
    /* The seed is shared/fixtures/shopify/orders_create.json; a few of its values, spelled out. */
    assert_true(json_integer_value(json_object_get(o, "id")) == 6150327861270LL);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "#1042");
    assert_string_equal(json_string_value(json_object_get(o, "financial_status")), "paid");
    json_t *l0 = json_array_get(json_object_get(o, "line_items"), 0);
    assert_string_equal(json_string_value(json_object_get(l0, "sku")), "ACME-TEE-BLK-M");
    assert_int_equal(json_integer_value(json_object_get(l0, "quantity")), 2);
    assert_string_equal(json_string_value(json_object_get(l0, "price")), "24.00");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "customer"), "email")),
                        "maria.lopez@example.com");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "shipping_address"), "city")),
                        "Springfield");
    json_decref(o);
    o = fetch_and_compare(s, ORDER_1043);
    json_decref(o);
    o = fetch_and_compare(s, ORDER_1044);
    assert_string_equal(json_string_value(json_object_get(o, "financial_status")), "pending");
    json_decref(o);
    /* Three orders of a few lines: one request each, at the cost shopify_orders.h computes. */
    assert_int_equal(calls_of("Order", SHOPIFY_ORDER_QUERY_COST), 3);
    assert_int_equal(calls_of("OrderLineItems", SHOPIFY_ORDER_LINES_PAGE_COST), 0);

    /* Cancelled in Shopify (restocked, paid → refunded): the fetched order says so as a webhook would. */
    sim_post("orders/" ORDER_1043, "{\"cancel\": {\"reason\": \"customer\"}, \"emit\": false}");
    o = fetch_and_compare(s, ORDER_1043);
    assert_true(json_is_string(json_object_get(o, "cancelled_at")));
    assert_string_equal(json_string_value(json_object_get(o, "financial_status")), "refunded");
    json_decref(o);

    /* No such order: 0, not an error. Not an order id: a data error, nothing sent. */
    err_t e;
    assert_int_equal(shopify_order_fetch(s, "6150327861271", &o, &e), 0);
    assert_null(o);
    uint64_t sent = shopify_requests(s);
    assert_int_equal(shopify_order_fetch(s, "#1042", &o, &e), -1);
    assert_null(o);
    assert_int_equal(e.cls, ERR_DATA);
    assert_string_equal(e.code, "shopify.order_id");
    assert_int_equal(shopify_requests(s), sent);
    shopify_free(s);
}

/* The money fixtures (tests/fixtures/money): taxes per line and on shipping, discounts allocated to the lines, a
 * gift card, a tip, price-included VAT -- read back through GraphQL as the REST webhook has them. */
static void test_shopify_live_order_fetch_reads_the_money(void **state)
{
    (void)state;
    NEED_SIM();
    static const char *const files[] = {"us_state_county_discount_code.json", "eu_vat_included_fixed_discount.json",
                                        "free_shipping_tip_gift_card.json"};
    static const char *const totals[][2] = {{"84.33", "5.69"}, {"74.69", "12.45"}, {"81.56", "1.56"}};
    cfg_shop_t shop;
    shop_cfg(&shop);
    shopify_t *s = shopify_new(&shop, NULL);
    for (size_t i = 0; i < 3; i++) {
        char body[160];
        snprintf(body, sizeof(body), "{\"reserve\": false, \"emit\": false, \"money_fixture\": \"%s\"}", files[i]);
        json_t *created = sim("orders", body);
        char id[32];
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(created, "id")));
        json_decref(created);
        json_t *o = fetch_and_compare(s, id);
        assert_string_equal(json_string_value(json_object_get(o, "current_total_price")), totals[i][0]);
        assert_string_equal(json_string_value(json_object_get(o, "current_total_tax")), totals[i][1]);
        const json_t *set = json_object_get(json_object_get(o, "current_total_price_set"), "presentment_money");
        assert_string_equal(json_string_value(json_object_get(set, "amount")), totals[i][0]);
        assert_int_equal(json_is_true(json_object_get(o, "taxes_included")), i == 1);
        json_decref(o);
    }
    shopify_free(s);
}

typedef struct editor {
    char path[64];
    int delay_ms;
    long status;
} editor_t;

/* Edit the order from another thread while the client waits for its page (no cmocka asserts off the main
 * thread: the status is checked after the join). */
static void *edit_later(void *arg)
{
    editor_t *ed = arg;
    struct timespec ts = {ed->delay_ms / 1000, (long)(ed->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    httpc_t *h = httpc_new(10000);
    char url[512];
    snprintf(url, sizeof(url), "%s/__sim__/%s", sim_url(), ed->path);
    const char *headers[] = {"Content-Type: application/json", NULL};
    const char *body = "{\"note\": \"edited while read\", \"emit\": false}";
    buf_t resp = BUF_INIT;
    err_t e;
    if (httpc_request(h, "POST", url, headers, body, strlen(body), 0, &ed->status, &resp, &e) < 0)
        ed->status = -1;
    buf_release(&resp);
    httpc_free(h);
    return NULL;
}

static void test_shopify_live_order_fetch_pages_long_orders(void **state)
{
    (void)state;
    NEED_SIM();
    /* 45 lines: two pages of lineItems (30 + 15). */
    buf_t body = BUF_INIT;
    buf_puts(&body, "{\"reserve\": false, \"emit\": false, \"lines\": [");
    static const char *const skus[] = {"ACME-TEE-BLK-M", "ACME-MUG-350", "ACME-CAP-NVY"};
    for (int i = 0; i < 45; i++)
        buf_printf(&body, "%s{\"sku\": \"%s\", \"quantity\": %d}", i ? ", " : "", skus[i % 3], 1 + i % 4);
    buf_puts(&body, "]}");
    json_t *created = sim("orders", buf_str(&body));
    buf_release(&body);
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(created, "id")));
    json_decref(created);

    sim_post("calls/reset", "{}");
    cfg_shop_t shop;
    shop_cfg(&shop);
    shopify_t *s = shopify_new(&shop, NULL);
    json_t *o = fetch_and_compare(s, id);
    assert_int_equal(json_array_size(json_object_get(o, "line_items")), 45);
    json_decref(o);
    assert_int_equal(calls_of("Order", SHOPIFY_ORDER_QUERY_COST), 1);
    assert_int_equal(calls_of("OrderLineItems", SHOPIFY_ORDER_LINES_PAGE_COST), 1);
    shopify_free(s);

    /* The order is edited between its first page and its second: the pages read so far belong to the old
     * version, so the read starts over and returns the new one whole. A roomy bucket and a fresh client, so that
     * no pacing shifts the requests against the edit. */
    sim_post("bucket", "{\"maximum\": 5000, \"restore\": 1000, \"available\": 5000}");
    sim_post("calls/reset", "{}");
    sim_post("fault", "{\"mode\": \"slow\", \"delay_ms\": 1200, \"count\": 1, "
                      "\"match\": {\"operation\": \"OrderLineItems\"}}");
    editor_t ed = {.delay_ms = 400};
    snprintf(ed.path, sizeof(ed.path), "orders/%s", id);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, edit_later, &ed), 0);
    s = shopify_new(&shop, NULL);
    o = fetch_and_compare(s, id);
    pthread_join(th, NULL);
    assert_int_equal(ed.status, 200);
    assert_string_equal(json_string_value(json_object_get(o, "note")), "edited while read");
    assert_int_equal(json_array_size(json_object_get(o, "line_items")), 45);
    json_decref(o);
    assert_int_equal(calls_of("Order", SHOPIFY_ORDER_QUERY_COST), 2);
    assert_int_equal(calls_of("OrderLineItems", SHOPIFY_ORDER_LINES_PAGE_COST), 2);
    shopify_free(s);
}

static void test_shopify_live_order_list_pages(void **state)
{
    (void)state;
    NEED_SIM();
    sim_post("reset", "{\"orders\": true}");
    cfg_shop_t shop;
    shop_cfg(&shop);
    shopify_t *s = shopify_new(&shop, NULL);
    err_t e;
    int64_t since;
    assert_int_equal(clock_parse_iso8601("2026-11-01T00:00:00Z", &since), 0);

    /* Pages of 2 over the 3 seeded orders: every id exactly once, oldest update first, the last cursor empty. */
    json_t *seen = json_object();
    buf_t cursor = BUF_INIT;
    int pages = 0;
    int64_t last_ms = 0;
    do {
        json_t *page = NULL;
        /* The cursor is passed from the buffer the call refills: the function copies it first. */
        int rc = shopify_order_list_page(s, since, pages ? buf_str(&cursor) : NULL, 2, &page, &cursor, &e);
        if (rc)
            print_error("%s: %s\n", e.code, e.message);
        assert_int_equal(rc, 0);
        pages++;
        assert_true(json_array_size(page) <= 2);
        size_t i;
        json_t *n;
        json_array_foreach(page, i, n) {
            const char *id = json_string_value(json_object_get(n, "id"));
            assert_non_null(id);
            assert_null(json_object_get(seen, id));
            json_object_set_new(seen, id, json_true());
            int64_t ms = json_integer_value(json_object_get(n, "updated_at_ms"));
            assert_true(ms >= last_ms);
            last_ms = ms;
            char path[64];
            snprintf(path, sizeof(path), "orders/%s", id);
            json_t *rest = sim(path, NULL);
            int64_t rest_ms = 0;
            assert_int_equal(clock_parse_iso8601(json_string_value(json_object_get(rest, "updated_at")), &rest_ms),
                             0);
            assert_true(ms == rest_ms);
            assert_string_equal(json_string_value(json_object_get(n, "name")),
                                json_string_value(json_object_get(rest, "name")));
            json_decref(rest);
        }
        json_decref(page);
    } while (cursor.len && pages < 10);
    assert_int_equal(pages, 2);
    assert_int_equal(json_object_size(seen), 3);
    assert_non_null(json_object_get(seen, ORDER_1042));
    assert_non_null(json_object_get(seen, ORDER_1043));
    assert_non_null(json_object_get(seen, ORDER_1044));
    json_decref(seen);
    assert_int_equal(calls_of("OrdersUpdatedSince", 2 + 2), 2);

    /* #1042 was last updated on 2026-11-21 (UTC): not listed from the 22nd. A bound inside a second (#1043's
     * update + 0.5 s) is rounded down: #1043 is still listed. */
    json_t *page = NULL;
    assert_int_equal(clock_parse_iso8601("2026-11-22T00:00:00Z", &since), 0);
    assert_int_equal(shopify_order_list_page(s, since, NULL, 10, &page, &cursor, &e), 0);
    assert_int_equal(json_array_size(page), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(page, 0), "id")), ORDER_1043);
    assert_int_equal(cursor.len, 0);
    json_decref(page);
    assert_int_equal(clock_parse_iso8601("2026-11-22T09:15:02-05:00", &since), 0);
    assert_int_equal(shopify_order_list_page(s, since + 500, NULL, 10, &page, &cursor, &e), 0);
    assert_int_equal(json_array_size(page), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(page, 0), "id")), ORDER_1043);
    json_decref(page);

    /* A page size Shopify would refuse is a synchub bug, caught before anything is sent. */
    uint64_t sent = shopify_requests(s);
    assert_int_equal(shopify_order_list_page(s, since, NULL, SHOPIFY_ORDER_LIST_MAX + 1, &page, &cursor, &e), -1);
    assert_null(page);
    assert_int_equal(e.cls, ERR_INTERNAL);
    assert_int_equal(shopify_requests(s), sent);
    buf_release(&cursor);
    shopify_free(s);
}

int main(void)
{
    httpc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_shopify_live_query_and_gids, setup),
        cmocka_unit_test_setup(test_shopify_live_burst_through_a_small_bucket, setup),
        cmocka_unit_test_setup(test_shopify_live_throttled_and_429_are_recovered, setup),
        cmocka_unit_test_setup(test_shopify_live_errors, setup),
        cmocka_unit_test_setup(test_shopify_live_retry_after_and_request_id, setup),
        cmocka_unit_test_setup(test_shopify_live_order_fetch_matches_the_rest_view, setup),
        cmocka_unit_test_setup(test_shopify_live_order_fetch_pages_long_orders, setup),
        cmocka_unit_test_setup(test_shopify_live_order_fetch_reads_the_money, setup),
        cmocka_unit_test_setup(test_shopify_live_order_list_pages, setup),
    };
    return cmocka_run_group_tests_name("shopify_live", tests, NULL, NULL);
}
