/* flow_subscriptions: a shop's Shopify webhook subscriptions against what its flows need (the catalog's topics,
 * delivered to [shop] public_url + /webhooks/shopify): `synchub setup shopify` creates the missing ones,
 * `synchub check` lists missing and foreign ones, and the scheduler's shopify.subscriptions job re-creates one
 * Shopify removed (after 8 failed deliveries), counts it and reconciles orders over the gap.
 * Never deletes a subscription: a foreign one (another address, a topic no flow needs) may be another
 * deployment's or an operator's, so it is reported, not touched.
 * Not here: the Admin API calls (shopify/shopify_webhooks.c), printing (app/cmd_setup.c, cmd_check.c).
 */
#ifndef SYNCHUB_FLOWS_FLOW_SUBSCRIPTIONS_H
#define SYNCHUB_FLOWS_FLOW_SUBSCRIPTIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/cfg.h"
#include "core/err.h"
#include "shopify/shopify.h"

#define SYNC_KIND_SUBSCRIPTIONS "shopify.subscriptions"   /* the scheduler's periodic check of one shop */

/* The address Shopify must deliver to: public_url (without a trailing '/') + "/webhooks/shopify". 0, or -1 when
 * the shop has no public_url (out is then ""). */
int sync_subscriptions_uri(const cfg_shop_t *shop, char *out, size_t n);

/* Why the shop's subscriptions cannot be managed (no admin_token, no public_url, no flow fed by webhooks), or NULL
 * when they can. */
const char *sync_subscriptions_unmanaged(const cfg_t *cfg, const cfg_shop_t *shop);

/* List the shop's subscriptions with sh and compare them with the needed topics; with create, subscribe every
 * missing topic. *result (new reference) = {"shop", "uri", "ok": [TOPIC], "missing": [TOPIC] (not created),
 * "created": [{"topic", "id"}], "failed": [{"topic", "class", "code", "error", "hint"}], "foreign": [{"id",
 * "topic", "uri", "topic_needed"}]}. Returns 0 (a failed creation is in "failed", not an error), or -1 with err
 * when the list itself failed (*result NULL). */
int sync_subscriptions_check(const cfg_t *cfg, const cfg_shop_t *shop, shopify_t *sh, bool create, json_t **result,
                             err_t *err);

#endif
