/* sync_subscriptions: compare a shop's webhook subscriptions with the topics its flows need and create the missing
 * ones (sync_subscriptions.h). The scheduler's job (re-create, count, reconcile the gap) is at the end. */
#define _GNU_SOURCE
#include "sync/sync_subscriptions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shopify/shopify_webhooks.h"
#include "sync/sync_catalog.h"

int sync_subscriptions_uri(const cfg_shop_t *shop, char *out, size_t n)
{
    if (!shop->public_url || !*shop->public_url) {
        if (n)
            out[0] = '\0';
        return -1;
    }
    size_t len = strlen(shop->public_url);
    while (len && shop->public_url[len - 1] == '/')
        len--;
    snprintf(out, n, "%.*s/webhooks/shopify", (int)len, shop->public_url);
    return 0;
}

const char *sync_subscriptions_unmanaged(const cfg_t *cfg, const cfg_shop_t *shop)
{
    if (!shop->admin_token.value)
        return "no admin_token (the Admin API manages subscriptions)";
    if (!shop->public_url)
        return "no public_url (where Shopify should deliver)";
    if (!*sync_catalog_topics(cfg, shop))
        return "no flow of this shop is fed by webhooks ([odoo] is not configured)";
    return NULL;
}

typedef struct plan_ud {
    json_t *ok, *missing, *foreign;
} plan_ud_t;

static void on_ok(const char *topic, const shopify_sub_t *sub, void *ud)
{
    (void)sub;
    json_array_append_new(((plan_ud_t *)ud)->ok, json_string(topic));
}

static void on_missing(const char *topic, void *ud)
{
    json_array_append_new(((plan_ud_t *)ud)->missing, json_string(topic));
}

static void on_foreign(const shopify_sub_t *sub, bool needed, void *ud)
{
    json_array_append_new(((plan_ud_t *)ud)->foreign, json_pack("{s:s, s:s, s:s, s:b}", "id", sub->id, "topic",
                                                                sub->topic, "uri", sub->uri, "topic_needed", needed));
}

int sync_subscriptions_check(const cfg_t *cfg, const cfg_shop_t *shop, shopify_t *sh, bool create, json_t **result,
                             err_t *err)
{
    char uri[1100];
    *result = NULL;
    if (sync_subscriptions_uri(shop, uri, sizeof(uri)) < 0)
        return err_full(err, ERR_CONFIGURATION, "config.public_url", shop->domain,
                        "set public_url in the [shop] section: the https:// address Shopify reaches synchub at",
                        "shop %s has no public_url", shop->domain);
    shopify_subs_t have;
    if (shopify_subs_list(sh, &have, err) < 0)
        return -1;
    plan_ud_t p = {json_array(), json_array(), json_array()};
    shopify_sub_plan_cb_t cb = {on_ok, on_missing, on_foreign};
    shopify_subs_plan(&have, sync_catalog_topics(cfg, shop), uri, &cb, &p);
    shopify_subs_free(&have);
    json_t *created = json_array(), *failed = json_array(), *still = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(p.missing, i, t) {
        if (!create) {
            json_array_append(still, t);
            continue;
        }
        char *id = NULL;
        err_t e;
        if (shopify_sub_create(sh, json_string_value(t), uri, &id, &e) < 0)
            json_array_append_new(failed, json_pack("{s:O, s:s, s:s, s:s, s:s}", "topic", t, "class",
                                                    err_class_name(e.cls), "code", e.code, "error", e.message,
                                                    "hint", e.hint));
        else
            json_array_append_new(created, json_pack("{s:O, s:s?}", "topic", t, "id", id));
        free(id);
    }
    json_decref(p.missing);
    *result = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "shop", shop->domain, "uri", uri, "ok", p.ok,
                        "missing", still, "created", created, "failed", failed, "foreign", p.foreign);
    return 0;
}
