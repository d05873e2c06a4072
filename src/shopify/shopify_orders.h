/* shopify_orders: read orders from Shopify's GraphQL Admin API — one order as it is now, in the REST/webhook shape
 * the order mapper (src/flows/flow_orders.c) consumes, and pages of "orders updated since T" for reconciliation
 * (finding orders whose webhooks never arrived).
 * Not here: writing orders, deciding what to do with an order (the mapper), scheduling reconciliation, or any
 * field the mapper does not use (refunds and fulfillments are left out of the shape).
 *
 * The shape. shopify_order_from_graphql turns the GraphQL Order read by the order query (shopify_orders.c) into
 * the subset of the REST order (shared/fixtures/shopify/orders_create.json) listed below, so that a fetched order
 * and a webhook body go through the same mapper:
 *   id, admin_graphql_api_id, name, email, phone, created_at, updated_at, cancelled_at, cancel_reason, currency,
 *   financial_status, total_discounts, note, tags, customer {id, email, first_name, last_name, phone,
 *   updated_at}, shipping_address / billing_address {first_name, last_name, name, company, address1, address2,
 *   city, province, province_code, zip, country, country_code, phone}, line_items [{id, admin_graphql_api_id,
 *   sku, title, name, quantity, current_quantity, price, price_set, total_discount, gift_card, tax_lines [{title,
 *   rate, price, price_set}], discount_allocations [{amount, amount_set}], duties [{id, price, price_set, tax_lines}]}],
 *   shipping_lines [{id, title, code, price, price_set, discounted_price, discounted_price_set, tax_lines,
 *   discount_allocations}], and the money Shopify computed for the order as it is now: presentment_currency,
 *   taxes_included, current_total_price, current_total_tax, current_subtotal_price, total_tip_received,
 *   current_total_duties (each with its *_set; a null bag is left out).
 * Ids are JSON integers (json_int_t is 64-bit: Shopify ids exceed 2^53 and stay exact); a missing customer or
 * address is null, as in REST. Timestamps are GraphQL's ("2026-11-21T19:03:11Z", UTC) where REST gives the shop's
 * offset: the same instants, parsed alike by clock_parse_iso8601. Amounts are shop-currency *Set.shopMoney
 * decimals with at least two decimal places ("24.0" → "24.00"), computed exactly (no floating point); each *_set
 * holds {shop_money, presentment_money} {amount, currency_code}, as REST's do.
 * financial_status is displayFinancialStatus lower-cased (PARTIALLY_REFUNDED → "partially_refunded"), which is
 * the REST vocabulary; tags are joined with ", " as in REST.
 * Discounts: a line's total_discount is its line-level discount, (originalUnitPrice − discountedUnitPrice) ×
 * currentQuantity (GraphQL's discountedUnitPriceSet excludes order-level and code discounts); every discount that
 * reached the line, order-level ones included, is in its discount_allocations, which the mapper prefers.
 *
 * Threads: the fetch and list functions use one shopify_t and so run on its thread; shopify_order_from_graphql
 * is pure and may be called from any thread.
 */
#ifndef SYNCHUB_SHOPIFY_ORDERS_H
#define SYNCHUB_SHOPIFY_ORDERS_H

#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "shopify/shopify.h"

/* Lines and shipping lines read per request. An order with more of either is read in further pages of the same
 * size (each page a request of its own, after the first). Requested cost, by the rule of the rate-limit docs
 * (object 1, connection 2 + first × per-node cost, a list without `first` as one of its objects; a money bag with
 * shopMoney and presentmentMoney 3):
 *   the order query      1 order + 3 customer (with defaultEmailAddress, defaultPhoneNumber) + 2 addresses
 *                        + 6 × 3 money bags (totalDiscounts, currentTotalPrice, currentTotalTax,
 *                          currentSubtotalPrice, totalTipReceived, currentTotalDuties)
 *                        + lineItems     2 + 30 × 23 (line 1, originalUnitPriceSet 3, discountedUnitPriceSet 3,
 *                                                     taxLines 1 + 3, discountAllocations 1 + 3,
 *                                                     duties 1 + 3 + taxLines 1 + 3)
 *                        + shippingLines 2 + 10 × 15 (line 1, originalPriceSet 3, discountedPriceSet 3,
 *                                                     taxLines 1 + 3, discountAllocations 1 + 3)        = 868
 *   a further line page      1 order + 692 = 693;   a further shipping page  1 order + 152 = 153
 * Shopify's single-query ceiling is 1000. */
#define SHOPIFY_ORDER_LINES_PER_PAGE 30
#define SHOPIFY_ORDER_SHIPPING_PER_PAGE 10
#define SHOPIFY_ORDER_QUERY_COST 868
#define SHOPIFY_ORDER_LINES_PAGE_COST 693
#define SHOPIFY_ORDER_SHIPPING_PAGE_COST 153

/* At most this many further pages per connection (20,000 lines): a guard against an answer that never ends. */
#define SHOPIFY_ORDER_MAX_PAGES 200

/* Largest page of shopify_order_list_page (Shopify refuses first > 250). Its cost is 2 + page_size. */
#define SHOPIFY_ORDER_LIST_MAX 250

/* Fetch the current state of order `order_id` (the numeric id, "6150327861270") and convert it into the REST
 * shape above. Returns 1 and *order (a new reference the caller frees) when Shopify has the order; 0 and *order
 * NULL when Shopify answers that no such order exists (order: null); -1 and *order NULL on failure, with err
 * classified: what shopify_graphql reports (transient for network and throttling, configuration for token and
 * scopes — reading orders needs read_orders, and orders older than 60 days read_all_orders), data
 * "shopify.order_id" when order_id is not a numeric id, data "shopify.order_shape" when the answer cannot be
 * converted (an id that is not a GID, an amount that is not a decimal), transient "shopify.order_changing" when
 * the order changed between the pages of a long order three times in a row.
 * An order with more lines than one page is read page by page; every page also reads the order's updatedAt and
 * a change in between restarts the read, so the lines always belong to one version of the order. */
int shopify_order_fetch(shopify_t *s, const char *order_id, json_t **order, err_t *err);

/* One page of the orders updated at or after updated_since_ms (ms since the epoch; rounded down to the second,
 * so the page may begin slightly earlier, never later), in any status (cancelled and closed included), oldest
 * update first: orders(first: page_size, after: after, sortKey: UPDATED_AT, query: "updated_at:>='<ISO>'
 * status:any"). after is NULL or "" for the first page, else the cursor the previous page returned; it may be
 * buf_str(next_cursor) itself (it is copied before next_cursor is reset).
 * page_size is 1..SHOPIFY_ORDER_LIST_MAX; the requested cost is 2 + page_size (id, name and updatedAt only).
 * On success returns 0, *orders is a new array (the caller frees) of {"id": "6150327861270", "name": "#1042",
 * "updated_at_ms": 1763751793000}, and next_cursor (reset first) holds the cursor of the next page, or is empty
 * when this was the last page. On failure -1, *orders NULL, next_cursor empty, err as for shopify_order_fetch
 * (internal "shopify.page_size" for a page_size out of range).
 * The scan is keyset-paged on (updatedAt, id): an order updated while the pages are read moves behind the cursor
 * and is listed again later, so an order can appear twice in one scan but none present throughout is missed. */
int shopify_order_list_page(shopify_t *s, int64_t updated_since_ms, const char *after, int page_size,
                            json_t **orders, buf_t *next_cursor, err_t *err);

/* The pure conversion (see "The shape" above). gql_order is data.order of the order query (borrowed), with every
 * line and shipping line present: a connection whose pageInfo says hasNextPage is refused, because converting a
 * partial order would drop lines silently. The customer's email and phone are read from defaultEmailAddress /
 * defaultPhoneNumber (Customer.email and .phone are deprecated), else from email / phone. Returns a new object
 * (the caller frees), or NULL with err: data "shopify.order_shape" for an answer that does not convert, internal
 * "shopify.order_partial" for a partial connection, internal "shopify.oom". */
json_t *shopify_order_from_graphql(const json_t *gql_order, err_t *err);

#endif
