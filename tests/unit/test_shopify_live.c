/* Live tests of src/shopify against the Shopify emulator (tests/sim/shopify_sim.py) over loopback: the client's
 * requests as the emulator parses them, a burst of mutations from several threads through a small bucket (none
 * fails, none is lost or applied twice, most are paced rather than throttled), the THROTTLED and 429 paths taken
 * and recovered, an idempotent replay, and the InventoryLevel GID trap on real answers.
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
 * POST /__sim__/reset. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/clock.h"
#include "net/httpc.h"
#include "shopify/shopify.h"

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

int main(void)
{
    httpc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_shopify_live_query_and_gids, setup),
        cmocka_unit_test_setup(test_shopify_live_burst_through_a_small_bucket, setup),
        cmocka_unit_test_setup(test_shopify_live_throttled_and_429_are_recovered, setup),
        cmocka_unit_test_setup(test_shopify_live_errors, setup),
    };
    return cmocka_run_group_tests_name("shopify_live", tests, NULL, NULL);
}
