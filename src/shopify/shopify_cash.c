/* shopify_cash: an order's transactions from the Admin API (see shopify_cash.h). Order.transactions is a plain list
 * (no connection), so one query reads them all; first: 100 bounds it (an order with more is refused, not cut). */
#define _GNU_SOURCE
#include "shopify/shopify_cash.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define TXN_MAX 100

static const char TXN_QUERY[] =
    "query OrderTransactions($id: ID!) {\n"
    "  order(id: $id) {\n"
    "    id\n"
    "    transactions(first: 100) { id kind status gateway processedAt\n"
    "      amountSet { shopMoney { amount currencyCode } } parentTransaction { id } }\n"
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
        const char *parent = gid_tail(json_string_value(json_object_get(json_object_get(t, "parentTransaction"), "id")));
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

int shopify_order_transactions(shopify_t *s, const char *order_id, json_t **out, err_t *err)
{
    *out = NULL;
    char gid[64];
    snprintf(gid, sizeof(gid), "gid://shopify/Order/%s", order_id);
    json_t *vars = json_pack("{s:s}", "id", gid);
    json_t *data = NULL;
    int rc = shopify_graphql(s, TXN_QUERY, vars, 3, &data, err);
    json_decref(vars);
    if (rc < 0)
        return -1;
    const json_t *order = json_object_get(data, "order");
    if (!json_is_object(order)) {
        json_decref(data);
        return 0;
    }
    *out = shopify_transactions_convert(order);
    json_decref(data);
    if (!*out)
        return err_full(err, ERR_DATA, "shopify.transactions", NULL,
                        "record the payments of this order in Odoo by hand, then `synchub jobs discard` this job",
                        "order %s: the transactions answer has an unexpected shape or %d or more transactions",
                        order_id, TXN_MAX);
    return 1;
}
