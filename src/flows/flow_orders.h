/* flow_orders: the shopify.order job kind — a Shopify order (create/updated/paid/cancelled) becomes exactly one
 * Odoo sale order with its customer, delivery address and lines, written through load() with __synchub__ external
 * IDs so any retry finds what an earlier try wrote, and confirmed only once its amounts are Shopify's. Not here:
 * the wire protocol or the external-id names and datetimes (the Odoo client, odoo/odoo.h), the money plan
 * (flows/flow_money.c). */
#ifndef SYNCHUB_FLOW_ORDERS_H
#define SYNCHUB_FLOW_ORDERS_H

#include "core/cfg.h"
#include "queue/queue.h"
#include "flows/flows.h"

/* Register the Odoo handlers when [odoo] is configured (sy and its config borrowed for the registry's lifetime).
 * sy lends each shop's Shopify rate-limit estimate: a shop that has an admin_token gets every order fetched fresh
 * from Shopify before it is mapped, so a late or replayed webhook never applies an old payload. 0 or -1. */
int odoo_orders_register(queue_registry_t *reg, sync_t *sy);

#endif
