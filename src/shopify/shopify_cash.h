/* shopify_cash: an order's money movements as order-to-cash needs them — its transactions (sales, captures,
 * refunds with their gateway and amount) and its refunds (lines, restock, shipping) — read in one query.
 * Not here: the order itself
 * (shopify_orders.c) or what Odoo books (flows/flow_invoices.c). */
#ifndef SYNCHUB_SHOPIFY_CASH_H
#define SYNCHUB_SHOPIFY_CASH_H

#include <jansson.h>

#include "core/err.h"
#include "shopify/shopify.h"

/* The money of order order_id (digits): {"transactions": [...], "refunds": [...]}, transactions oldest first as
 * [{"id": "7310423834646", "kind": "sale", "status": "success", "gateway": "shopify_payments", "amount": "86.49",
 *   "currency": "USD", "processed_at": "2026-11-21T19:03:11Z", "parent_id": null}] (kind and status lower-case,
 * as in REST), refunds as [{"id", "created_at", "note", "lines": [{"line_item_id", "sku", "quantity",
 * "restock_type" (return|cancel|no_restock), "subtotal", "tax"}], "shipping", "shipping_tax", "transaction_ids"}].
 * "risk_level": the highest risk any assessment of Order.risk gives (none | pending | low | medium | high).
 * 1 and *out (new), 0 the order does not exist, -1 err. */
int shopify_order_money(shopify_t *s, const char *order_id, json_t **out, err_t *err);

/* The conversion alone (tests): data.order of the query (borrowed) → the array above. NULL on a bad shape. */
json_t *shopify_transactions_convert(const json_t *gql_order);

#endif
