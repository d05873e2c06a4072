/* shopify_cash: an order's money movements as order-to-cash needs them — its transactions (sales, captures,
 * refunds with their gateway and amount) — read from the Admin API in one small query. Not here: the order itself
 * (shopify_orders.c) or what Odoo books (odoo_cash.c). */
#ifndef SYNCHUB_SHOPIFY_CASH_H
#define SYNCHUB_SHOPIFY_CASH_H

#include <jansson.h>

#include "core/err.h"
#include "shopify/shopify.h"

/* The transactions of order order_id (digits), oldest first, as
 * [{"id": "7310423834646", "kind": "sale", "status": "success", "gateway": "shopify_payments", "amount": "86.49",
 *   "currency": "USD", "processed_at": "2026-11-21T19:03:11Z", "parent_id": null}] (kind and status lower-case,
 * as in REST). 1 and *out (new), 0 the order does not exist, -1 err. Requested cost: 3 points. */
int shopify_order_transactions(shopify_t *s, const char *order_id, json_t **out, err_t *err);

/* The conversion alone (tests): data.order of the query (borrowed) → the array above. NULL on a bad shape. */
json_t *shopify_transactions_convert(const json_t *gql_order);

#endif
