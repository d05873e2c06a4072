/* flow_catalog: the integration catalog — every flow the configuration makes synchub run, described from the
 * configuration alone (no store, no network): source → target, trigger, endpoints, the Odoo models and fields and
 * the Shopify objects it reads and writes, the data classes it carries, the transformation rules in force, the
 * retry policy of each job kind and the business owner; plus findings (an unowned or disabled flow).
 * `synchub catalog` prints it and the dashboard's /api/catalog serves it. Also the Shopify webhook topics the
 * flows need (`synchub setup shopify`, the subscription check), since they are the catalog's webhook triggers.
 * Not here: running anything; what a flow does in detail (docs/SPEC-*.md).
 */
#ifndef SYNCHUB_FLOWS_FLOW_CATALOG_H
#define SYNCHUB_FLOWS_FLOW_CATALOG_H

#include <jansson.h>
#include <stddef.h>

#include "core/cfg.h"

/* The catalog as JSON (new reference; NULL on allocation failure):
 * {"config": PATH, "flows": [{"id", "title", "shop" | "source", "source", "target", "enabled", "disabled_because",
 *   "trigger": {"type": webhook|poll|schedule|csv|after, …}[], "endpoints": [{"direction", "system", "url"}],
 *   "odoo": {"reads": {MODEL: [FIELD]}, "writes": {MODEL: [FIELD]}}, "shopify": {"reads": [OBJ], "writes": [OBJ]},
 *   "data_classes": [...], "rules": [{"name", "value", "section"}], "retry": [{"kind", "priority",
 *   "max_attempts", "backoff_base", "backoff_cap", "lease", "configured"}], "owner": NAME | null,
 *   "owner_from": SECTION | null}], "findings": [{"flow", "finding", "fix"}]} */
json_t *sync_catalog(const cfg_t *cfg);

/* The Shopify webhook topics the shop's flows need, in the Admin API's enum spelling (ORDERS_CREATE, …); NULL-
 * terminated, static: the orders flow's orders topics, and refunds/create when the shop's order to cash runs (invoice_on
 * is not never). Empty when no flow of the shop is fed by webhooks ([odoo] not configured). */
const char *const *sync_catalog_topics(const cfg_t *cfg, const cfg_shop_t *shop);

/* "orders/create" for ORDERS_CREATE (the X-Shopify-Topic spelling) into out. */
void sync_catalog_topic_header(const char *topic, char *out, size_t n);

#endif
