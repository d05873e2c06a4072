/* shopify_webhooks: the app's webhook subscriptions in one shop through the GraphQL Admin API — list
 * (webhookSubscriptions) and create (webhookSubscriptionCreate; synchub never deletes one) — and the pure
 * comparison of what a shop has with what the flows need. Schema as of Admin API 2025-10 (shopify.dev
 * .../2025-10/input-objects/webhooksubscriptioninput: WebhookSubscriptionInput.uri replaces the deprecated
 * callbackUrl; WebhookSubscription.uri): synchub pins 2026-10 by default, and an older pinned version is refused
 * here with a configuration error rather than sent a field it does not know.
 * Not here: which topics are needed (flows/flow_catalog.c), when to check (the scheduler), printing (app/). A
 * client: it includes no flow.
 */
#ifndef SYNCHUB_SHOPIFY_WEBHOOKS_H
#define SYNCHUB_SHOPIFY_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "shopify/shopify.h"

#define SHOPIFY_WEBHOOKS_MIN_VERSION "2025-10"

typedef struct shopify_sub {
    char *id;      /* gid://shopify/WebhookSubscription/N */
    char *topic;   /* ORDERS_CREATE */
    char *uri;     /* where Shopify delivers */
} shopify_sub_t;

typedef struct shopify_subs {
    shopify_sub_t *items;
    size_t n;
} shopify_subs_t;

void shopify_subs_free(shopify_subs_t *l);   /* the items and their strings; l itself is the caller's */

/* Every webhook subscription of this app in the shop (all pages). 0, or -1 with err (classified as by
 * shopify_graphql; a pinned version before SHOPIFY_WEBHOOKS_MIN_VERSION: configuration shopify.api_version). */
int shopify_subs_list(shopify_t *s, shopify_subs_t *out, err_t *err);

/* Subscribe uri to topic (JSON format). 0 and *id_out (malloc'd, may be NULL) = the new subscription's GID, or -1
 * with err (a userError such as "Address for this topic has already been taken": data shopify.user_error). */
int shopify_sub_create(shopify_t *s, const char *topic, const char *uri, char **id_out, err_t *err);


/* The plan for one shop: which needed topics have no subscription to uri ("missing"), which subscriptions deliver
 * elsewhere or a topic no flow needs ("foreign": another deployment's address, a hand-made one; never deleted by
 * synchub), and which are in place ("ok"). needed is NULL-terminated. Each callback may be NULL; borrowed strings. */
typedef struct shopify_sub_plan_cb {
    void (*ok)(const char *topic, const shopify_sub_t *sub, void *ud);
    void (*missing)(const char *topic, void *ud);
    void (*foreign)(const shopify_sub_t *sub, bool topic_needed, void *ud);
} shopify_sub_plan_cb_t;
void shopify_subs_plan(const shopify_subs_t *have, const char *const *needed, const char *uri,
                       const shopify_sub_plan_cb_t *cb, void *ud);

#endif
