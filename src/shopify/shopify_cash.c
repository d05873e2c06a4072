/* shopify_cash: an order's transactions from the Admin API (see shopify_cash.h). Order.transactions is a plain list
 * (no connection), so one query reads them all; first: 20 bounds it (an order with more is refused, not cut)
 * and keeps the query, with 5 refunds of 10 lines each, near 350 points. */
#define _GNU_SOURCE
#include "shopify/shopify_cash.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TXN_MAX 20

static const char TXN_QUERY[] =
    "query OrderTransactions($id: ID!) {\n"
    "  order(id: $id) {\n"
    "    id\n"
    "    transactions(first: 20) { id kind status gateway processedAt\n"
    "      amountSet { shopMoney { amount currencyCode } } parentTransaction { id } }\n"
    "    refunds(first: 5) { id createdAt note\n"
    "      refundLineItems(first: 10) { pageInfo { hasNextPage } nodes { quantity restockType\n"
    "        lineItem { id sku } subtotalSet { shopMoney { amount } } totalTaxSet { shopMoney { amount } } } }\n"
    "      refundShippingLines(first: 3) { nodes { subtotalAmountSet { shopMoney { amount } }\n"
    "        taxAmountSet { shopMoney { amount } } } }\n"
    "      transactions(first: 5) { nodes { id } } }\n"
    "    risk { recommendation assessments { riskLevel } }\n"
    "  }\n"
    "}";

static const char *gid_tail(const char *gid)
{
    const char *slash = gid ? strrchr(gid, '/') : NULL;
    return slash ? slash + 1 : gid;
}

static json_t *lower(const char *s)
{
    char buf[64];
    size_t i = 0;
    for (; s && s[i] && i + 1 < sizeof(buf); i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
    buf[i] = '\0';
    return json_string(buf);
}

static const char *money_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(json_object_get(json_object_get(o, k), "shopMoney"), "amount"));
}

/* data.order.refunds → [{"id", "created_at", "note", "lines": [{"line_item_id", "sku", "quantity", "restock_type",
 * "subtotal", "tax"}], "shipping": "7.99", "shipping_tax": "0.00", "transaction_ids": ["…"]}]. NULL on a bad or
 * partial shape (more lines than one page). */
static json_t *refunds_convert(const json_t *list)
{
    json_t *out = json_array();
    size_t i, j;
    const json_t *r, *n;
    json_array_foreach(list, i, r) {
        const json_t *rli = json_object_get(r, "refundLineItems");
        if (json_is_true(json_object_get(json_object_get(rli, "pageInfo"), "hasNextPage")))
            goto bad;
        json_t *lines = json_array(), *txns = json_array();
        json_array_foreach(json_object_get(rli, "nodes"), j, n) {
            const json_t *li = json_object_get(n, "lineItem");
            json_array_append_new(lines, json_pack("{s:s?, s:s?, s:I, s:o, s:s?, s:s?}",
                "line_item_id", gid_tail(json_string_value(json_object_get(li, "id"))),
                "sku", json_string_value(json_object_get(li, "sku")),
                "quantity", json_integer_value(json_object_get(n, "quantity")),
                "restock_type", lower(json_string_value(json_object_get(n, "restockType"))),
                "subtotal", money_of(n, "subtotalSet"), "tax", money_of(n, "totalTaxSet")));
        }
        double ship = 0, ship_tax = 0;
        json_array_foreach(json_object_get(json_object_get(r, "refundShippingLines"), "nodes"), j, n) {
            const char *a = money_of(n, "subtotalAmountSet"), *t = money_of(n, "taxAmountSet");
            ship += a ? strtod(a, NULL) : 0;
            ship_tax += t ? strtod(t, NULL) : 0;
        }
        json_array_foreach(json_object_get(json_object_get(r, "transactions"), "nodes"), j, n)
            json_array_append_new(txns, json_string(gid_tail(json_string_value(json_object_get(n, "id")))));
        json_t *row = json_pack("{s:s?, s:s?, s:s?, s:o, s:f, s:f, s:o}",
                                "id", gid_tail(json_string_value(json_object_get(r, "id"))),
                                "created_at", json_string_value(json_object_get(r, "createdAt")),
                                "note", json_string_value(json_object_get(r, "note")), "lines", lines,
                                "shipping", ship, "shipping_tax", ship_tax, "transaction_ids", txns);
        if (!row || !json_string_value(json_object_get(row, "id"))) {
            json_decref(row);
            goto bad;
        }
        json_array_append_new(out, row);
    }
    return out;
bad:
    json_decref(out);
    return NULL;
}

json_t *shopify_transactions_convert(const json_t *gql_order)
{
    const json_t *list = json_object_get(gql_order, "transactions");
    if (!json_is_array(list) || json_array_size(list) >= TXN_MAX)
        return NULL;
    json_t *out = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(list, i, t) {
        const json_t *money = json_object_get(json_object_get(t, "amountSet"), "shopMoney");
        const char *id = gid_tail(json_string_value(json_object_get(t, "id")));
        const char *amount = json_string_value(json_object_get(money, "amount"));
        if (!id || !amount) {
            json_decref(out);
            return NULL;
        }
        const json_t *pt = json_object_get(t, "parentTransaction");
        const char *parent = gid_tail(json_string_value(json_object_get(pt, "id")));
        const char *when = json_string_value(json_object_get(t, "processedAt"));
        json_t *row = json_pack("{s:s, s:o, s:o, s:s?, s:s, s:s?, s:s?, s:s?}", "id", id,
                                "kind", lower(json_string_value(json_object_get(t, "kind"))),
                                "status", lower(json_string_value(json_object_get(t, "status"))),
                                "gateway", json_string_value(json_object_get(t, "gateway")), "amount", amount,
                                "currency", json_string_value(json_object_get(money, "currencyCode")),
                                "processed_at", when, "parent_id", parent);
        if (!row || json_array_append_new(out, row) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

int shopify_order_money(shopify_t *s, const char *order_id, json_t **out, err_t *err)
{
    *out = NULL;
    char gid[64];
    snprintf(gid, sizeof(gid), "gid://shopify/Order/%s", order_id);
    json_t *vars = json_pack("{s:s}", "id", gid);
    json_t *data = NULL;
    int rc = shopify_graphql(s, TXN_QUERY, vars, 0, &data, err);
    json_decref(vars);
    if (rc < 0)
        return -1;
    const json_t *order = json_object_get(data, "order");
    if (!json_is_object(order)) {
        json_decref(data);
        return 0;
    }
    /* the highest level any assessment gives (Shopify's own and fraud apps') */
    static const char *const levels[] = {"none", "pending", "low", "medium", "high"};
    size_t best = 0, i, k;
    json_t *as;
    json_array_foreach(json_object_get(json_object_get(order, "risk"), "assessments"), i, as) {
        const char *lv = json_string_value(json_object_get(as, "riskLevel"));
        for (k = best + 1; lv && k < sizeof(levels) / sizeof(levels[0]); k++)
            if (!strcasecmp(lv, levels[k]))
                best = k;
    }
    const char *risk = levels[best];
    json_t *txns = shopify_transactions_convert(order);
    json_t *refunds = json_is_array(json_object_get(order, "refunds"))
                          ? refunds_convert(json_object_get(order, "refunds")) : json_array();
    json_decref(data);
    if (txns && refunds)
        *out = json_pack("{s:o, s:o, s:s}", "transactions", txns, "refunds", refunds, "risk_level", risk);
    else {
        json_decref(txns);
        json_decref(refunds);
    }
    if (!*out)
        return err_full(err, ERR_DATA, "shopify.transactions", NULL,
                        "record the payments of this order in Odoo by hand, then `synchub jobs discard` this job",
                        "order %s: the transactions/refunds answer has an unexpected shape, %d or more "
                        "transactions, or a refund with more lines than one page",
                        order_id, TXN_MAX);
    return 1;
}
