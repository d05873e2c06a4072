/* shopify_orders: the order queries of the Admin API (one order, with its lines paged; a page of orders updated
 * since a time) and the conversion of a GraphQL Order into the REST/webhook order shape. Contracts and query
 * costs are in shopify_orders.h.
 * Not here: HTTP, pacing and the classification of Shopify's answers (shopify_graphql in shopify_client.c), and
 * what an order means for Odoo (flow_orders.c). */
#define _GNU_SOURCE
#include "shopify/shopify_orders.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- the documents ------------------------------------------------------------------------------------------ */

/* Both moneys of every amount: REST's plain fields (price, total_discount, …) are the shop's currency (the order's
 * `currency`), their *_set twins carry the presentment money the customer paid in too. */
#define MONEY "{ shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }"
#define TAX_LINES "taxLines { title rate priceSet " MONEY " }"
#define ALLOCATIONS "discountAllocations { allocatedAmountSet " MONEY " }"
#define ADDRESS                                                                                                    \
    "{ firstName lastName name company address1 address2 city province provinceCode zip country countryCodeV2 "  \
    "phone }"
#define LINE_PAGE                                                                                                  \
    "{ nodes { id sku name title quantity currentQuantity isGiftCard originalUnitPriceSet " MONEY                  \
    " discountedUnitPriceSet " MONEY " " TAX_LINES " " ALLOCATIONS " duties { id price " MONEY " " TAX_LINES " } }"                \
    " pageInfo { hasNextPage endCursor } }"
#define SHIPPING_PAGE                                                                                              \
    "{ nodes { id title code originalPriceSet " MONEY " discountedPriceSet " MONEY " " TAX_LINES " " ALLOCATIONS  \
    " } pageInfo { hasNextPage endCursor } }"

static const char ORDER_QUERY[] =
    "query Order($id: ID!) {\n"
    "  order(id: $id) {\n"
    "    id name email phone createdAt updatedAt cancelledAt cancelReason currencyCode displayFinancialStatus\n"
    "    presentmentCurrencyCode taxesIncluded note tags totalDiscountsSet " MONEY "\n"
    "    currentTotalPriceSet " MONEY " currentTotalTaxSet " MONEY " currentSubtotalPriceSet " MONEY "\n"
    "    totalTipReceivedSet " MONEY " currentTotalDutiesSet " MONEY "\n"
    "    customer { id firstName lastName updatedAt defaultEmailAddress { emailAddress }\n"
    "               defaultPhoneNumber { phoneNumber } }\n"
    "    shippingAddress " ADDRESS "\n"
    "    billingAddress " ADDRESS "\n"
    "    lineItems(first: " STR(SHOPIFY_ORDER_LINES_PER_PAGE) ") " LINE_PAGE "\n"
    "    shippingLines(first: " STR(SHOPIFY_ORDER_SHIPPING_PER_PAGE) ") " SHIPPING_PAGE "\n"
    "  }\n"
    "}";

/* The further pages read updatedAt again: a changed order means the pages read so far belong to an older version
 * (shopify_order_fetch then starts over). */
static const char LINES_QUERY[] =
    "query OrderLineItems($id: ID!, $after: String!) {\n"
    "  order(id: $id) { updatedAt lineItems(first: " STR(SHOPIFY_ORDER_LINES_PER_PAGE) ", after: $after) "
    LINE_PAGE " }\n"
    "}";

static const char SHIPPING_QUERY[] =
    "query OrderShippingLines($id: ID!, $after: String!) {\n"
    "  order(id: $id) { updatedAt shippingLines(first: " STR(SHOPIFY_ORDER_SHIPPING_PER_PAGE) ", after: $after) "
    SHIPPING_PAGE " }\n"
    "}";

static const char LIST_QUERY[] =
    "query OrdersUpdatedSince($first: Int!, $after: String, $query: String!) {\n"
    "  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {\n"
    "    nodes { id name updatedAt } pageInfo { hasNextPage endCursor }\n"
    "  }\n"
    "}";

/* ---- exact decimals ----------------------------------------------------------------------------------------- */

/* m × 10^-scale. Shopify's Decimal scalar is plain digits ("24.0", "86.49"); amounts are kept exact so that a
 * discount computed here is the one Shopify shows, to the cent. */
typedef struct dec {
    int64_t m;
    int scale;
} dec_t;

/* Digits kept after the point; further digits are rounded half up (no currency has that many). */
#define DEC_MAX_SCALE 9

static int dec_parse(const char *s, dec_t *out)
{
    if (!s)
        return -1;
    bool neg = *s == '-';
    if (neg)
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    int64_t m = 0;
    int scale = 0;
    bool frac = false, dropped = false, round_up = false;
    for (; *s; s++) {
        if (*s == '.' && !frac) {
            if (!isdigit((unsigned char)s[1]))
                return -1;
            frac = true;
            continue;
        }
        if (!isdigit((unsigned char)*s))
            return -1;
        int d = *s - '0';
        if (frac && scale == DEC_MAX_SCALE) {
            if (!dropped)
                round_up = d >= 5;
            dropped = true;
            continue;
        }
        if (__builtin_mul_overflow(m, 10, &m) || __builtin_add_overflow(m, d, &m))
            return -1;
        if (frac)
            scale++;
    }
    if (round_up && __builtin_add_overflow(m, 1, &m))
        return -1;
    out->m = neg ? -m : m;
    out->scale = scale;
    return 0;
}

static int dec_rescale(dec_t *d, int scale)
{
    while (d->scale < scale) {
        if (__builtin_mul_overflow(d->m, 10, &d->m))
            return -1;
        d->scale++;
    }
    return 0;
}

/* *out = (a − b) × k */
static int dec_sub_mul(dec_t a, dec_t b, int64_t k, dec_t *out)
{
    int scale = a.scale > b.scale ? a.scale : b.scale;
    if (dec_rescale(&a, scale) < 0 || dec_rescale(&b, scale) < 0)
        return -1;
    int64_t diff;
    if (__builtin_sub_overflow(a.m, b.m, &diff) || __builtin_mul_overflow(diff, k, &out->m))
        return -1;
    out->scale = scale;
    return 0;
}

/* "24.00": at least two decimal places, as REST writes amounts. */
static int dec_format(dec_t d, char *out, size_t n)
{
    if (dec_rescale(&d, 2) < 0)
        return -1;
    uint64_t u = d.m < 0 ? (uint64_t)0 - (uint64_t)d.m : (uint64_t)d.m;
    uint64_t p = 1;
    for (int i = 0; i < d.scale; i++)
        p *= 10;
    int w = snprintf(out, n, "%s%" PRIu64 ".%0*" PRIu64, d.m < 0 ? "-" : "", u / p, d.scale, u % p);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* ---- the conversion ----------------------------------------------------------------------------------------- */

typedef struct conv {
    err_t *err;
    char label[96];  /* "order #1042 (6150327861270)": ids and the order name only, never customer data */
    bool oom;        /* a json allocation failed somewhere; reported once at the end */
} conv_t;

static int shape(conv_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int shape(conv_t *c, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    err_set(c->err, ERR_DATA, "shopify.order_shape", "Shopify's answer for %s cannot be read as an order: %s",
            c->label, what);
    err_record(c->err, "shopify %s", c->label);
    err_hint(c->err, "look at the order in the Shopify admin; if it looks right there, this is a synchub bug "
                     "(the API version answers in a shape synchub does not expect): report it");
    return -1;
}

static void put(conv_t *c, json_t *obj, const char *key, json_t *value)
{
    if (!obj || json_object_set_new(obj, key, value) < 0)
        c->oom = true;
}

static json_t *str_or_null(const json_t *v)
{
    return json_is_string(v) ? json_stringn(json_string_value(v), json_string_length(v)) : json_null();
}

/* The numeric id of a GID of the given type, as a JSON integer's value. */
static int gid_number(conv_t *c, const json_t *v, const char *type, const char *what, json_int_t *out)
{
    const char *g = json_string_value(v);
    char t[64], id[32];
    if (!g || shopify_gid_type(g, t, sizeof(t)) < 0 || strcmp(t, type) != 0 || shopify_gid_id(g, id, sizeof(id)) < 0)
        return shape(c, "%s is not a gid://shopify/%s/<id>", what, type);
    errno = 0;
    char *end = NULL;
    long long x = strtoll(id, &end, 10);
    if (errno || *end || x <= 0)
        return shape(c, "%s is out of range", what);
    *out = (json_int_t)x;
    return 0;
}

/* bag.shopMoney.amount. An absent or null bag is zero unless required. */
static const char *sval(const json_t *o, const char *k);

static int money(conv_t *c, const json_t *bag, bool required, const char *what, dec_t *out)
{
    const json_t *amount = json_object_get(json_object_get(bag, "shopMoney"), "amount");
    if (!amount || json_is_null(amount)) {
        if (required)
            return shape(c, "%s has no shopMoney amount", what);
        *out = (dec_t){0, 2};
        return 0;
    }
    if (dec_parse(json_string_value(amount), out) < 0)
        return shape(c, "%s is not a decimal amount", what);
    return 0;
}

static json_t *money_json(conv_t *c, dec_t d, const char *what);

/* REST's pair for a GraphQL MoneyBag: obj[key] = the shop amount ("24.00"), obj[key_set] = {shop_money:
 * {amount, currency_code}, presentment_money: {…}}. An absent or null bag sets nothing unless required. */
static int money_pair(conv_t *c, const json_t *bag, bool required, const char *what, json_t *obj, const char *key)
{
    if (!required && (!bag || json_is_null(bag)))
        return 0;
    dec_t shop;
    if (money(c, bag, true, what, &shop) < 0)
        return -1;
    json_t *set = json_object();
    static const char *const sides[][2] = {{"shopMoney", "shop_money"}, {"presentmentMoney", "presentment_money"}};
    for (size_t i = 0; i < 2; i++) {
        const json_t *m = json_object_get(bag, sides[i][0]);
        dec_t d;
        if (!json_is_object(m))
            continue;
        if (dec_parse(json_string_value(json_object_get(m, "amount")), &d) < 0) {
            json_decref(set);
            return shape(c, "%s's %s is not a decimal amount", what, sides[i][0]);
        }
        json_t *amount = money_json(c, d, what);
        if (!amount) {
            json_decref(set);
            return c->oom ? 0 : -1;
        }
        put(c, set, sides[i][1], json_pack("{s:o, s:s?}", "amount", amount, "currency_code",
                                           json_string_value(json_object_get(m, "currencyCode"))));
    }
    char set_key[64];
    snprintf(set_key, sizeof(set_key), "%s_set", key);
    json_t *plain = money_json(c, shop, what);
    if (!plain) {
        json_decref(set);
        return c->oom ? 0 : -1;
    }
    put(c, obj, key, plain);
    put(c, obj, set_key, set);
    return 0;
}

/* TaxLine list → REST tax_lines [{title, rate, price, price_set}]. */
static int tax_lines(conv_t *c, const json_t *list, const char *what, json_t *obj)
{
    json_t *out = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(list, i, t)
    {
        const json_t *rate = json_object_get(t, "rate");
        json_t *row = json_pack("{s:s?, s:o}", "title", sval(t, "title"), "rate",
                                json_is_number(rate) ? json_real(json_number_value(rate)) : json_null());
        if (money_pair(c, json_object_get(t, "priceSet"), true, what, row, "price") < 0) {
            json_decref(row);
            json_decref(out);
            return -1;
        }
        if (!row || json_array_append_new(out, row) < 0)
            c->oom = true;
    }
    put(c, obj, "tax_lines", out);
    return 0;
}

/* DiscountAllocation list → REST discount_allocations [{amount, amount_set}]. */
static int allocations(conv_t *c, const json_t *list, const char *what, json_t *obj)
{
    json_t *out = json_array();
    size_t i;
    const json_t *a;
    json_array_foreach(list, i, a)
    {
        json_t *row = json_object();
        if (money_pair(c, json_object_get(a, "allocatedAmountSet"), true, what, row, "amount") < 0) {
            json_decref(row);
            json_decref(out);
            return -1;
        }
        if (!row || json_array_append_new(out, row) < 0)
            c->oom = true;
    }
    put(c, obj, "discount_allocations", out);
    return 0;
}

static json_t *money_json(conv_t *c, dec_t d, const char *what)
{
    char text[48];
    if (dec_format(d, text, sizeof(text)) < 0) {
        shape(c, "%s is out of range", what);
        return NULL;
    }
    json_t *j = json_string(text);
    if (!j)
        c->oom = true;
    return j;
}

/* An enum value as REST spells it: PARTIALLY_REFUNDED → "partially_refunded"; null stays null. */
static json_t *enum_lower(conv_t *c, const json_t *v)
{
    if (!json_is_string(v))
        return json_null();
    buf_t b = BUF_INIT;
    for (const char *p = json_string_value(v); *p; p++)
        buf_printf(&b, "%c", tolower((unsigned char)*p));
    json_t *j = json_string(buf_str(&b));
    buf_release(&b);
    if (!j)
        c->oom = true;
    return j;
}

/* GraphQL's [String!] tags as REST's one string, "a, b". */
static json_t *tags_text(conv_t *c, const json_t *tags)
{
    if (json_is_string(tags))
        return str_or_null(tags);
    buf_t b = BUF_INIT;
    size_t i;
    const json_t *t;
    json_array_foreach(tags, i, t)
        if (json_is_string(t))
            buf_printf(&b, "%s%s", b.len ? ", " : "", json_string_value(t));
    json_t *j = json_string(buf_str(&b));
    buf_release(&b);
    if (!j)
        c->oom = true;
    return j;
}

static const char *sval(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int customer(conv_t *c, const json_t *g, json_t **out)
{
    *out = NULL;
    if (!g || json_is_null(g)) {
        *out = json_null();
        return 0;
    }
    json_int_t id;
    if (gid_number(c, json_object_get(g, "id"), "Customer", "the customer's id", &id) < 0)
        return -1;
    const char *email = sval(json_object_get(g, "defaultEmailAddress"), "emailAddress");
    const char *phone = sval(json_object_get(g, "defaultPhoneNumber"), "phoneNumber");
    *out = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?}", "id", id, "email", email ? email : sval(g, "email"),
                     "first_name", sval(g, "firstName"), "last_name", sval(g, "lastName"), "phone",
                     phone ? phone : sval(g, "phone"), "updated_at", sval(g, "updatedAt"));
    if (!*out)
        c->oom = true;
    return 0;
}

static json_t *address(conv_t *c, const json_t *g)
{
    if (!json_is_object(g))
        return json_null();
    json_t *a = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}",
                          "first_name", sval(g, "firstName"), "last_name", sval(g, "lastName"), "name",
                          sval(g, "name"), "company", sval(g, "company"), "address1", sval(g, "address1"),
                          "address2", sval(g, "address2"), "city", sval(g, "city"), "province", sval(g, "province"),
                          "province_code", sval(g, "provinceCode"), "zip", sval(g, "zip"), "country",
                          sval(g, "country"), "country_code",
                          sval(g, "countryCodeV2") ? sval(g, "countryCodeV2") : sval(g, "countryCode"), "phone",
                          sval(g, "phone"));
    if (!a)
        c->oom = true;
    return a;
}

/* The nodes of a connection that must be complete (every page merged). */
static int whole(conv_t *c, const json_t *conn, const char *field, const json_t **nodes)
{
    *nodes = json_object_get(conn, "nodes");
    if (!json_is_array(*nodes))
        return shape(c, "%s has no nodes", field);
    if (json_is_true(json_object_get(json_object_get(conn, "pageInfo"), "hasNextPage"))) {
        err_set(c->err, ERR_INTERNAL, "shopify.order_partial", "%s of %s is one page of several: converting it "
                "would drop the other pages' entries", field, c->label);
        err_record(c->err, "shopify %s", c->label);
        err_hint(c->err, "a synchub bug (read the order with shopify_order_fetch, which merges the pages): "
                         "report it");
        return -1;
    }
    return 0;
}

static int line_items(conv_t *c, const json_t *conn, json_t *out)
{
    const json_t *nodes;
    if (whole(c, conn, "lineItems", &nodes) < 0)
        return -1;
    size_t i;
    const json_t *n;
    json_array_foreach(nodes, i, n)
    {
        char what[64];
        snprintf(what, sizeof(what), "line %zu", i + 1);
        json_int_t id;
        if (gid_number(c, json_object_get(n, "id"), "LineItem", what, &id) < 0)
            return -1;
        const json_t *qty = json_object_get(n, "quantity"), *cur = json_object_get(n, "currentQuantity");
        if (!json_is_integer(qty) || (cur && !json_is_null(cur) && !json_is_integer(cur)))
            return shape(c, "%s has no integer quantity", what);
        dec_t price, unit, disc;
        if (money(c, json_object_get(n, "originalUnitPriceSet"), true, what, &price) < 0)
            return -1;
        if (json_object_get(n, "discountedUnitPriceSet")) {
            if (money(c, json_object_get(n, "discountedUnitPriceSet"), true, what, &unit) < 0)
                return -1;
        } else {
            unit = price;
        }
        /* The mapper divides total_discount by price × the current quantity: the discount of the units still on
         * the order. */
        json_int_t q = json_is_integer(cur) ? json_integer_value(cur) : json_integer_value(qty);
        if (dec_sub_mul(price, unit, q, &disc) < 0)
            return shape(c, "%s's discount is out of range", what);
        json_t *li = json_pack("{s:I, s:s, s:s?, s:s?, s:s?, s:I}", "id", id, "admin_graphql_api_id",
                               sval(n, "id"), "sku", sval(n, "sku"), "title", sval(n, "title"), "name",
                               sval(n, "name"), "quantity", json_integer_value(qty));
        if (json_is_integer(cur))
            put(c, li, "current_quantity", json_integer(json_integer_value(cur)));
        json_t *p = money_json(c, price, what), *d = p ? money_json(c, disc, what) : NULL;
        if (!p || !d) {
            json_decref(p);
            json_decref(li);
            return c->oom ? 0 : -1;
        }
        put(c, li, "price", p);
        put(c, li, "total_discount", d);
        put(c, li, "gift_card", json_boolean(json_is_true(json_object_get(n, "isGiftCard"))));
        json_t *duties = json_array();
        size_t k;
        const json_t *du;
        json_array_foreach(json_object_get(n, "duties"), k, du)
        {
            json_t *row = json_object();
            json_int_t did = 0;
            if ((json_object_get(du, "id") && gid_number(c, json_object_get(du, "id"), "Duty", what, &did) < 0) ||
                money_pair(c, json_object_get(du, "price"), true, what, row, "price") < 0 ||
                tax_lines(c, json_object_get(du, "taxLines"), what, row) < 0) {
                json_decref(row);
                json_decref(duties);
                json_decref(li);
                return -1;
            }
            if (did)
                put(c, row, "id", json_integer(did));
            if (!row || json_array_append_new(duties, row) < 0)
                c->oom = true;
        }
        put(c, li, "duties", duties);
        if (money_pair(c, json_object_get(n, "originalUnitPriceSet"), true, what, li, "price") < 0 ||
            tax_lines(c, json_object_get(n, "taxLines"), what, li) < 0 ||
            allocations(c, json_object_get(n, "discountAllocations"), what, li) < 0) {
            json_decref(li);
            return -1;
        }
        if (!li || json_array_append_new(out, li) < 0)
            c->oom = true;
    }
    return 0;
}

static int shipping_lines(conv_t *c, const json_t *conn, json_t *out)
{
    const json_t *nodes;
    if (whole(c, conn, "shippingLines", &nodes) < 0)
        return -1;
    size_t i;
    const json_t *n;
    json_array_foreach(nodes, i, n)
    {
        char what[64];
        snprintf(what, sizeof(what), "shipping line %zu", i + 1);
        json_t *sl = json_object();
        /* Shopify's ShippingLine.id is nullable; the mapper then names the line by 0, as for a webhook without
         * one. */
        const json_t *gid = json_object_get(n, "id");
        json_int_t id;
        if (gid && !json_is_null(gid)) {
            if (gid_number(c, gid, "ShippingLine", what, &id) < 0) {
                json_decref(sl);
                return -1;
            }
            put(c, sl, "id", json_integer(id));
        } else {
            put(c, sl, "id", json_null());
        }
        put(c, sl, "title", str_or_null(json_object_get(n, "title")));
        put(c, sl, "code", str_or_null(json_object_get(n, "code")));
        dec_t price, discounted;
        if (money(c, json_object_get(n, "originalPriceSet"), true, what, &price) < 0) {
            json_decref(sl);
            return -1;
        }
        if (json_object_get(n, "discountedPriceSet")) {
            if (money(c, json_object_get(n, "discountedPriceSet"), true, what, &discounted) < 0) {
                json_decref(sl);
                return -1;
            }
        } else {
            discounted = price;
        }
        json_t *p = money_json(c, price, what), *d = p ? money_json(c, discounted, what) : NULL;
        if (!p || !d) {
            json_decref(p);
            json_decref(sl);
            return c->oom ? 0 : -1;
        }
        put(c, sl, "price", p);
        put(c, sl, "discounted_price", d);
        if (money_pair(c, json_object_get(n, "originalPriceSet"), true, what, sl, "price") < 0 ||
            money_pair(c, json_object_get(n, "discountedPriceSet"), false, what, sl, "discounted_price") < 0 ||
            tax_lines(c, json_object_get(n, "taxLines"), what, sl) < 0 ||
            allocations(c, json_object_get(n, "discountAllocations"), what, sl) < 0) {
            json_decref(sl);
            return -1;
        }
        if (!sl || json_array_append_new(out, sl) < 0)
            c->oom = true;
    }
    return 0;
}

json_t *shopify_order_from_graphql(const json_t *g, err_t *err)
{
    conv_t c = {.err = err};
    snprintf(c.label, sizeof(c.label), "an order");
    json_t *o = NULL, *cust = NULL, *lines = NULL, *ships = NULL;
    if (!json_is_object(g)) {
        shape(&c, "the order is not an object");
        goto fail;
    }
    const char *name = sval(g, "name");
    json_int_t id;
    if (gid_number(&c, json_object_get(g, "id"), "Order", "the order's id", &id) < 0)
        goto fail;
    snprintf(c.label, sizeof(c.label), "order %s (%" JSON_INTEGER_FORMAT ")", name ? name : "without a name", id);
    if (!name) {
        shape(&c, "it has no name");
        goto fail;
    }
    dec_t discounts;
    if (money(&c, json_object_get(g, "totalDiscountsSet"), false, "totalDiscountsSet", &discounts) < 0 ||
        customer(&c, json_object_get(g, "customer"), &cust) < 0)
        goto fail;
    lines = json_array();
    ships = json_array();
    if (line_items(&c, json_object_get(g, "lineItems"), lines) < 0 ||
        shipping_lines(&c, json_object_get(g, "shippingLines"), ships) < 0)
        goto fail;

    o = json_object();
    put(&c, o, "id", json_integer(id));
    put(&c, o, "admin_graphql_api_id", str_or_null(json_object_get(g, "id")));
    put(&c, o, "name", str_or_null(json_object_get(g, "name")));
    put(&c, o, "email", str_or_null(json_object_get(g, "email")));
    put(&c, o, "phone", str_or_null(json_object_get(g, "phone")));
    put(&c, o, "created_at", str_or_null(json_object_get(g, "createdAt")));
    put(&c, o, "updated_at", str_or_null(json_object_get(g, "updatedAt")));
    /* The mapper takes a string cancelled_at as "cancelled", whatever the topic. */
    put(&c, o, "cancelled_at", str_or_null(json_object_get(g, "cancelledAt")));
    put(&c, o, "cancel_reason", enum_lower(&c, json_object_get(g, "cancelReason")));
    put(&c, o, "currency", str_or_null(json_object_get(g, "currencyCode")));
    put(&c, o, "financial_status", enum_lower(&c, json_object_get(g, "displayFinancialStatus")));
    json_t *td = money_json(&c, discounts, "totalDiscountsSet");
    if (!td && !c.oom)
        goto fail;
    put(&c, o, "total_discounts", td);
    /* The order's money as Shopify computed it now (after edits and refunds): what Odoo must show. */
    put(&c, o, "presentment_currency", str_or_null(json_object_get(g, "presentmentCurrencyCode")));
    put(&c, o, "taxes_included", json_boolean(json_is_true(json_object_get(g, "taxesIncluded"))));
    if (money_pair(&c, json_object_get(g, "currentTotalPriceSet"), false, "currentTotalPriceSet", o,
                   "current_total_price") < 0 ||
        money_pair(&c, json_object_get(g, "currentTotalTaxSet"), false, "currentTotalTaxSet", o,
                   "current_total_tax") < 0 ||
        money_pair(&c, json_object_get(g, "currentSubtotalPriceSet"), false, "currentSubtotalPriceSet", o,
                   "current_subtotal_price") < 0 ||
        money_pair(&c, json_object_get(g, "totalTipReceivedSet"), false, "totalTipReceivedSet", o,
                   "total_tip_received") < 0 ||
        money_pair(&c, json_object_get(g, "currentTotalDutiesSet"), false, "currentTotalDutiesSet", o,
                   "current_total_duties") < 0)
        goto fail;
    put(&c, o, "note", str_or_null(json_object_get(g, "note")));
    put(&c, o, "tags", tags_text(&c, json_object_get(g, "tags")));
    put(&c, o, "customer", cust);
    cust = NULL;
    put(&c, o, "shipping_address", address(&c, json_object_get(g, "shippingAddress")));
    put(&c, o, "billing_address", address(&c, json_object_get(g, "billingAddress")));
    put(&c, o, "line_items", lines);
    put(&c, o, "shipping_lines", ships);
    lines = ships = NULL;
    if (c.oom) {
        err_set(err, ERR_INTERNAL, "shopify.oom", "out of memory converting %s", c.label);
        err_record(err, "shopify %s", c.label);
        goto fail;
    }
    return o;
fail:
    json_decref(o);
    json_decref(cust);
    json_decref(lines);
    json_decref(ships);
    return NULL;
}

/* ---- fetching one order ------------------------------------------------------------------------------------- */

typedef struct conn_spec {
    const char *field;  /* "lineItems" */
    const char *query;  /* the document reading one further page of it */
    int cost;
} conn_spec_t;

static const conn_spec_t CONNS[] = {
    {"lineItems", LINES_QUERY, SHOPIFY_ORDER_LINES_PAGE_COST},
    {"shippingLines", SHIPPING_QUERY, SHOPIFY_ORDER_SHIPPING_PAGE_COST},
};

enum { READ_GONE = 0, READ_OK = 1, READ_CHANGED = 2 };

static int fetch_error(err_t *err, err_class_t cls, const char *code, const char *order_id, const char *hint,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int fetch_error(err_t *err, err_class_t cls, const char *code, const char *order_id, const char *hint,
                       const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err_set(err, cls, code, "%s", msg);
    err_record(err, "shopify order %s", order_id);
    if (hint)
        err_hint(err, "%s", hint);
    return -1;
}

/* Read the further pages of connection CONNS[k] of order o (data.order of the first answer) and append their
 * nodes to it. READ_OK, READ_GONE (the order disappeared), READ_CHANGED (its updatedAt moved), or -1. */
static int complete(shopify_t *s, const char *order_id, const char *gid, json_t *o, size_t k, err_t *err)
{
    const conn_spec_t *cs = &CONNS[k];
    const char *updated = sval(o, "updatedAt");
    json_t *conn = json_object_get(o, cs->field);
    json_t *nodes = json_object_get(conn, "nodes");
    if (!json_is_array(nodes) || !updated)
        return fetch_error(err, ERR_DATA, "shopify.order_shape", order_id, NULL,
                           "Shopify's answer for order %s has no %s nodes or no updatedAt", order_id, cs->field);
    for (int pages = 0; json_is_true(json_object_get(json_object_get(conn, "pageInfo"), "hasNextPage")); pages++) {
        if (pages >= SHOPIFY_ORDER_MAX_PAGES)
            return fetch_error(err, ERR_DATA, "shopify.order_too_large", order_id,
                               "look at the order in the Shopify admin; synchub cannot map it",
                               "order %s has more than %d pages of %s", order_id, SHOPIFY_ORDER_MAX_PAGES,
                               cs->field);
        const char *after = sval(json_object_get(conn, "pageInfo"), "endCursor");
        if (!after || !*after)
            return fetch_error(err, ERR_DATA, "shopify.order_shape", order_id, NULL,
                               "Shopify says order %s has more %s but gives no endCursor", order_id, cs->field);
        json_t *vars = json_pack("{s:s, s:s}", "id", gid, "after", after), *data = NULL;
        if (!vars)
            return fetch_error(err, ERR_INTERNAL, "shopify.oom", order_id, NULL, "out of memory");
        int rc = shopify_graphql(s, cs->query, vars, cs->cost, &data, err);
        json_decref(vars);
        if (rc < 0)
            return -1;
        json_t *po = json_object_get(data, "order");
        if (!json_is_object(po)) {
            json_decref(data);
            return READ_GONE;
        }
        const char *pu = sval(po, "updatedAt");
        if (!pu || strcmp(pu, updated) != 0) {
            json_decref(data);
            return READ_CHANGED;
        }
        json_t *pconn = json_object_get(po, cs->field);
        json_t *pnodes = json_object_get(pconn, "nodes"), *pinfo = json_object_get(pconn, "pageInfo");
        if (!json_is_array(pnodes) || !json_is_object(pinfo)) {
            json_decref(data);
            return fetch_error(err, ERR_DATA, "shopify.order_shape", order_id, NULL,
                               "Shopify's page of %s for order %s has no nodes or pageInfo", cs->field, order_id);
        }
        /* The page's pageInfo replaces the first one's, so the loop asks for the next page after this one. */
        if (json_array_extend(nodes, pnodes) < 0 || json_object_set(conn, "pageInfo", pinfo) < 0) {
            json_decref(data);
            return fetch_error(err, ERR_INTERNAL, "shopify.oom", order_id, NULL, "out of memory");
        }
        json_decref(data);
    }
    return READ_OK;
}

/* One read of the order with every page: READ_OK with *out (data.order, merged), READ_GONE, READ_CHANGED, -1. */
static int read_order(shopify_t *s, const char *order_id, const char *gid, json_t **out, err_t *err)
{
    *out = NULL;
    json_t *vars = json_pack("{s:s}", "id", gid), *data = NULL;
    if (!vars)
        return fetch_error(err, ERR_INTERNAL, "shopify.oom", order_id, NULL, "out of memory");
    int rc = shopify_graphql(s, ORDER_QUERY, vars, SHOPIFY_ORDER_QUERY_COST, &data, err);
    json_decref(vars);
    if (rc < 0)
        return -1;
    json_t *o = json_object_get(data, "order");
    if (!json_is_object(o)) {
        bool null = json_is_null(o);
        json_decref(data);
        if (null)
            return READ_GONE;
        return fetch_error(err, ERR_DATA, "shopify.order_shape", order_id, NULL,
                           "Shopify's answer for order %s has no data.order", order_id);
    }
    json_incref(o);
    json_decref(data);
    for (size_t k = 0; k < sizeof(CONNS) / sizeof(CONNS[0]); k++) {
        rc = complete(s, order_id, gid, o, k, err);
        if (rc != READ_OK) {
            json_decref(o);
            return rc;
        }
    }
    *out = o;
    return READ_OK;
}

/* A numeric Shopify id: digits only, within int64. */
static bool numeric_id(const char *id)
{
    if (!id || !*id || strspn(id, "0123456789") != strlen(id) || strlen(id) > 19)
        return false;
    errno = 0;
    long long x = strtoll(id, NULL, 10);
    return errno == 0 && x > 0;
}

int shopify_order_fetch(shopify_t *s, const char *order_id, json_t **order, err_t *err)
{
    *order = NULL;
    char gid[64];
    if (!numeric_id(order_id) || shopify_gid("Order", order_id, gid, sizeof(gid)) < 0)
        return fetch_error(err, ERR_DATA, "shopify.order_id", order_id ? order_id : "(none)",
                           "give the order's numeric id, as in its admin URL (/admin/orders/6150327861270)",
                           "\"%s\" is not a Shopify order id", order_id ? order_id : "");
    /* Three reads in a row that each saw the order change: it is being edited right now; a later retry of the
     * job reads it once the edit is over. */
    for (int attempt = 0; attempt < 3; attempt++) {
        json_t *g = NULL;
        int rc = read_order(s, order_id, gid, &g, err);
        if (rc < 0)
            return -1;
        if (rc == READ_GONE)
            return 0;
        if (rc == READ_CHANGED)
            continue;
        *order = shopify_order_from_graphql(g, err);
        json_decref(g);
        return *order ? 1 : -1;
    }
    return fetch_error(err, ERR_TRANSIENT, "shopify.order_changing", order_id,
                       "retried later with backoff; nothing was written",
                       "order %s changed while its lines were being read, three times in a row", order_id);
}

/* ---- listing orders updated since ----------------------------------------------------------------------------- */

int shopify_order_list_page(shopify_t *s, int64_t updated_since_ms, const char *after, int page_size,
                            json_t **orders, buf_t *next_cursor, err_t *err)
{
    *orders = NULL;
    if (page_size < 1 || page_size > SHOPIFY_ORDER_LIST_MAX) {
        buf_reset(next_cursor);
        err_set(err, ERR_INTERNAL, "shopify.page_size", "a page of orders is 1 to %d orders, not %d",
                SHOPIFY_ORDER_LIST_MAX, page_size);
        err_record(err, "shopify orders");
        err_hint(err, "a synchub bug: report it");
        return -1;
    }
    /* Rounded down to the second: Shopify's search compares whole seconds, and an earlier bound only lists a few
     * orders more, never fewer. */
    int64_t secs = updated_since_ms / 1000 - (updated_since_ms % 1000 < 0 ? 1 : 0);
    time_t t = (time_t)secs;
    struct tm tm;
    char iso[32], q[80];
    if (!gmtime_r(&t, &tm) || !strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        buf_reset(next_cursor);
        err_set(err, ERR_INTERNAL, "shopify.time", "%" PRId64 " ms is not a time Shopify can search for",
                updated_since_ms);
        err_record(err, "shopify orders");
        return -1;
    }
    snprintf(q, sizeof(q), "updated_at:>='%s' status:any", iso);
    /* after is copied into vars before next_cursor is reset: a caller may pass buf_str(next_cursor) itself. */
    json_t *vars = json_pack("{s:i, s:s, s:s?}", "first", page_size, "query", q, "after",
                             after && *after ? after : NULL);
    buf_reset(next_cursor);
    json_t *data = NULL, *list = NULL;
    int rc = -1;
    if (!vars) {
        err_set(err, ERR_INTERNAL, "shopify.oom", "out of memory");
        goto out;
    }
    if (shopify_graphql(s, LIST_QUERY, vars, 2 + page_size, &data, err) < 0)
        goto out;
    json_t *conn = json_object_get(data, "orders");
    json_t *nodes = json_object_get(conn, "nodes"), *info = json_object_get(conn, "pageInfo");
    if (!json_is_array(nodes) || !json_is_object(info)) {
        err_set(err, ERR_DATA, "shopify.order_shape", "Shopify's page of orders has no nodes or pageInfo");
        err_record(err, "shopify orders");
        goto out;
    }
    list = json_array();
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n)
    {
        char id[32], type[32];
        const char *g = sval(n, "id"), *name = sval(n, "name"), *updated = sval(n, "updatedAt");
        int64_t ms;
        if (!g || shopify_gid_type(g, type, sizeof(type)) < 0 || strcmp(type, "Order") != 0 ||
            shopify_gid_id(g, id, sizeof(id)) < 0 || !name || !updated || clock_parse_iso8601(updated, &ms) < 0) {
            err_set(err, ERR_DATA, "shopify.order_shape", "entry %zu of Shopify's page of orders has no Order id, "
                    "name or updatedAt", i + 1);
            err_record(err, "shopify orders");
            goto out;
        }
        if (json_array_append_new(list, json_pack("{s:s, s:s, s:I}", "id", id, "name", name, "updated_at_ms",
                                                  (json_int_t)ms)) < 0) {
            err_set(err, ERR_INTERNAL, "shopify.oom", "out of memory");
            goto out;
        }
    }
    if (json_is_true(json_object_get(info, "hasNextPage"))) {
        const char *cursor = sval(info, "endCursor");
        if (!cursor || !*cursor) {
            err_set(err, ERR_DATA, "shopify.order_shape", "Shopify says more orders follow but gives no endCursor");
            err_record(err, "shopify orders");
            goto out;
        }
        if (buf_puts(next_cursor, cursor) < 0) {
            err_set(err, ERR_INTERNAL, "shopify.oom", "out of memory");
            goto out;
        }
    }
    *orders = list;
    list = NULL;
    rc = 0;
out:
    if (rc < 0)
        buf_reset(next_cursor);
    json_decref(list);
    json_decref(data);
    json_decref(vars);
    return rc;
}
