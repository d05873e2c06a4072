/* Unit tests of the pure parts of webhook subscriptions (shopify/shopify_webhooks.c, sync/flow_subscriptions.c,
 * sync/flow_catalog.c): the plan (ok / missing / foreign) of what a shop has against what its flows need, the
 * delivery address from public_url, the topics and their header spelling, and the new config keys. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg_fixture.h"
#include "shopify/shopify_webhooks.h"
#include "flows/flow_catalog.h"
#include "flows/flow_subscriptions.h"

typedef struct seen {
    char text[1024];
} seen_t;

static void on_ok(const char *topic, const shopify_sub_t *sub, void *ud)
{
    seen_t *s = ud;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof(s->text) - n, "ok:%s=%s ", topic, sub->id);
}

static void on_missing(const char *topic, void *ud)
{
    seen_t *s = ud;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof(s->text) - n, "missing:%s ", topic);
}

static void on_foreign(const shopify_sub_t *sub, bool needed, void *ud)
{
    seen_t *s = ud;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof(s->text) - n, "foreign:%s:%s ", sub->id, needed ? "needed" : "unneeded");
}

static void test_plan_sorts_ok_missing_and_foreign(void **state)
{
    (void)state;
    const char *uri = "https://sync.example/webhooks/shopify";
    shopify_sub_t items[] = {
        {"1", "ORDERS_CREATE", "https://sync.example/webhooks/shopify"},
        {"2", "ORDERS_PAID", "https://old.example/webhooks/shopify"},      /* needed topic, other address */
        {"3", "PRODUCTS_UPDATE", "https://sync.example/webhooks/shopify"}, /* our address, topic not needed */
    };
    shopify_subs_t have = {items, 3};
    const char *const needed[] = {"ORDERS_CREATE", "ORDERS_PAID", NULL};
    seen_t s = {""};
    shopify_sub_plan_cb_t cb = {on_ok, on_missing, on_foreign};
    shopify_subs_plan(&have, needed, uri, &cb, &s);
    assert_string_equal(s.text, "ok:ORDERS_CREATE=1 missing:ORDERS_PAID foreign:2:needed foreign:3:unneeded ");
}

static cfg_t *load(const char *text)
{
    buf_t errors = BUF_INIT;
    cfg_t *c = cfg_fixture_load(text, &errors, NULL);
    if (!c)
        fprintf(stderr, "%s", buf_str(&errors));
    buf_release(&errors);
    return c;
}

static void test_address_topics_and_keys(void **state)
{
    (void)state;
    cfg_t *c = load("[shop a.myshopify.com]\nwebhook_secret = s\npublic_url = https://sync.example//\nowner = shop team\n"
                    "[shop b.myshopify.com]\nwebhook_secret = s\nadmin_token = t\n"
                    "[kind shopify.order]\nowner = order desk\n[source ups]\nsecret = k\nowner = warehouse\n");
    assert_non_null(c);
    char uri[200];
    assert_int_equal(sync_subscriptions_uri(&c->shops[0], uri, sizeof(uri)), 0);
    assert_string_equal(uri, "https://sync.example/webhooks/shopify");
    assert_int_equal(sync_subscriptions_uri(&c->shops[1], uri, sizeof(uri)), -1);
    assert_string_equal(uri, "");
    assert_int_equal(c->shops[0].subscriptions_interval_ms, 3600000);
    assert_string_equal(c->shops[0].owner, "shop team");
    assert_string_equal(c->kinds[0].owner, "order desk");
    assert_string_equal(c->sources[0].owner, "warehouse");
    /* No [odoo]: no flow is fed by webhooks, nothing to subscribe. */
    assert_null(sync_catalog_topics(c, &c->shops[0])[0]);
    assert_non_null(strstr(sync_subscriptions_unmanaged(c, &c->shops[0]), "admin_token"));
    assert_non_null(strstr(sync_subscriptions_unmanaged(c, &c->shops[1]), "public_url"));
    cfg_free(c);

    c = load("[odoo]\nurl = http://o\ndatabase = d\nusername = u\napi_key = k\n"
             "[shop a.myshopify.com]\nwebhook_secret = s\nadmin_token = t\npublic_url = http://127.0.0.1:1\n");
    assert_non_null(c);
    assert_null(sync_subscriptions_unmanaged(c, &c->shops[0]));
    const char *const *t = sync_catalog_topics(c, &c->shops[0]);
    char h[64];
    size_t n = 0;
    for (; t[n]; n++) {
        sync_catalog_topic_header(t[n], h, sizeof(h));
        assert_int_equal(strncmp(h, "orders/", 7), 0);
    }
    assert_int_equal(n, 4);
    sync_catalog_topic_header("INVENTORY_LEVELS_UPDATE", h, sizeof(h));
    assert_string_equal(h, "inventory_levels/update");
    cfg_free(c);

    /* Order to cash on (invoice_on): refunds/create is needed too, after the order topics. */
    c = load("[odoo]\nurl = http://o\ndatabase = d\nusername = u\napi_key = k\n"
             "[shop a.myshopify.com]\nwebhook_secret = s\nadmin_token = t\npublic_url = http://127.0.0.1:1\n"
             "invoice_on = fulfilled\n");
    assert_non_null(c);
    t = sync_catalog_topics(c, &c->shops[0]);
    for (n = 0; t[n]; n++)
        ;
    assert_int_equal(n, 5);
    assert_string_equal(t[4], "REFUNDS_CREATE");
    sync_catalog_topic_header(t[4], h, sizeof(h));
    assert_string_equal(h, "refunds/create");
    cfg_free(c);

    buf_t errors = BUF_INIT;
    char path[] = "/tmp/synchub-subs-XXXXXX";
    int fd = mkstemp(path);
    const char *bad = "[shop a.myshopify.com]\nwebhook_secret = s\npublic_url = sync.example\n";
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    assert_null(cfg_load(path, &errors));
    assert_non_null(strstr(buf_str(&errors), "public_url must start with https://"));
    buf_release(&errors);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_sorts_ok_missing_and_foreign),
        cmocka_unit_test(test_address_topics_and_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
