/* shopify_webhooks: list and create the app's webhook subscriptions (shopify_webhooks.h) with the shared
 * client (rate limit, error classes), and compare them with the topics the flows need. */
#define _GNU_SOURCE
#include "shopify/shopify_webhooks.h"

#include <stdlib.h>
#include <string.h>

#define PAGE 100
/* Requested cost of a page: the connection (2) plus one point a subscription (platform-facts.md section 2). */
#define PAGE_COST (2 + PAGE)

static const char list_query[] =
    "query WebhookSubscriptions($after: String) { webhookSubscriptions(first: 100, after: $after) { "
    "nodes { id topic uri } pageInfo { hasNextPage endCursor } } }";
static const char create_mutation[] =
    "mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $uri: String!) { "
    "webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri, format: JSON}) { "
    "webhookSubscription { id topic uri } userErrors { field message } } }";

void shopify_subs_free(shopify_subs_t *l)
{
    for (size_t i = 0; l && i < l->n; i++) {
        free(l->items[i].id);
        free(l->items[i].topic);
        free(l->items[i].uri);
    }
    if (l) {
        free(l->items);
        l->items = NULL;
        l->n = 0;
    }
}

static int version_ok(shopify_t *s, err_t *err)
{
    if (shopify_version_at_least(shopify_api_version(s), SHOPIFY_WEBHOOKS_MIN_VERSION))
        return 0;
    return err_full(err, ERR_CONFIGURATION, "shopify.api_version", "shopify webhook subscriptions",
                    "set [shop] api_version to " SHOPIFY_WEBHOOKS_MIN_VERSION " or later",
                    "api_version %s predates %s, the first with WebhookSubscription.uri", shopify_api_version(s),
                    SHOPIFY_WEBHOOKS_MIN_VERSION);
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int shopify_subs_list(shopify_t *s, shopify_subs_t *out, err_t *err)
{
    out->items = NULL;
    out->n = 0;
    if (version_ok(s, err) < 0)
        return -1;
    char *after = NULL;
    for (;;) {
        json_t *vars = json_pack("{s:s?}", "after", after), *data = NULL;
        int rc = shopify_graphql(s, list_query, vars, PAGE_COST, &data, err);
        json_decref(vars);
        free(after);
        after = NULL;
        if (rc < 0) {
            shopify_subs_free(out);
            return -1;
        }
        json_t *conn = json_object_get(data, "webhookSubscriptions");
        json_t *nodes = json_object_get(conn, "nodes");
        size_t add = json_array_size(nodes);
        shopify_sub_t *grown = add ? realloc(out->items, (out->n + add) * sizeof(*grown)) : out->items;
        if (add && !grown) {
            json_decref(data);
            shopify_subs_free(out);
            return err_full(err, ERR_INTERNAL, "shopify.oom", "shopify webhook subscriptions", NULL, "out of memory");
        }
        out->items = grown;
        size_t i;
        json_t *n;
        json_array_foreach(nodes, i, n) {
            const char *id = jstr(n, "id"), *topic = jstr(n, "topic"), *uri = jstr(n, "uri");
            out->items[out->n++] = (shopify_sub_t){strdup(id ? id : ""), strdup(topic ? topic : ""),
                                                   strdup(uri ? uri : "")};
        }
        json_t *page = json_object_get(conn, "pageInfo");
        if (json_is_true(json_object_get(page, "hasNextPage")) && jstr(page, "endCursor"))
            after = strdup(jstr(page, "endCursor"));
        json_decref(data);
        if (!after)
            return 0;
    }
}

int shopify_sub_create(shopify_t *s, const char *topic, const char *uri, char **id_out, err_t *err)
{
    if (id_out)
        *id_out = NULL;
    if (version_ok(s, err) < 0)
        return -1;
    json_t *vars = json_pack("{s:s, s:s}", "topic", topic, "uri", uri), *payload = NULL;
    int rc = shopify_mutate(s, create_mutation, vars, "webhookSubscriptionCreate", NULL, 10, &payload, err);
    json_decref(vars);
    if (rc == 0 && id_out) {
        const char *id = jstr(json_object_get(payload, "webhookSubscription"), "id");
        *id_out = id ? strdup(id) : NULL;
    }
    json_decref(payload);
    return rc;
}


static bool topic_needed(const char *const *needed, const char *topic)
{
    for (const char *const *t = needed; *t; t++)
        if (!strcmp(*t, topic))
            return true;
    return false;
}

void shopify_subs_plan(const shopify_subs_t *have, const char *const *needed, const char *uri,
                       const shopify_sub_plan_cb_t *cb, void *ud)
{
    for (const char *const *t = needed; *t; t++) {
        const shopify_sub_t *found = NULL;
        for (size_t i = 0; i < have->n && !found; i++)
            if (!strcmp(have->items[i].topic, *t) && !strcmp(have->items[i].uri, uri))
                found = &have->items[i];
        if (found && cb->ok)
            cb->ok(*t, found, ud);
        else if (!found && cb->missing)
            cb->missing(*t, ud);
    }
    for (size_t i = 0; i < have->n; i++) {
        bool needed_topic = topic_needed(needed, have->items[i].topic);
        if ((!needed_topic || strcmp(have->items[i].uri, uri) != 0) && cb->foreign)
            cb->foreign(&have->items[i], needed_topic, ud);
    }
}
