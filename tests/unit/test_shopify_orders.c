/* Unit tests for src/shopify/shopify_orders.c: the conversion of a GraphQL Order (answers written by hand in the
 * shape the order query selects) into the REST/webhook fields the order mapper reads — ids above 2^53 kept exact,
 * cancelled or not, financial statuses, line discounts computed exactly, guests, and answers it must refuse.
 * Not here: the requests themselves (tests/unit/test_shopify_live.c runs them against the Shopify emulator). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "shopify/shopify_orders.h"

/* 2^53 + 1 and 2^53 + 3: a double cannot hold them, so only an exact int64 path keeps them. */
#define BIG_ORDER "9007199254740993"
#define BIG_LINE "9007199254740995"

/* An order as Shopify answers the order query: shop money as Decimal scalars ("24.0"), UTC timestamps. */
static const char *const ORDER = "{"
    "\"id\": \"gid://shopify/Order/" BIG_ORDER "\", \"name\": \"#1042\", \"email\": \"maria.lopez@example.com\","
    "\"phone\": null, \"createdAt\": \"2026-11-21T19:03:11Z\", \"updatedAt\": \"2026-11-21T19:03:13Z\","
    "\"cancelledAt\": null, \"cancelReason\": null, \"currencyCode\": \"USD\", \"displayFinancialStatus\": \"PAID\","
    "\"note\": \"leave at the door\", \"tags\": [\"vip\", \"wholesale\"],"
    "\"totalDiscountsSet\": {\"shopMoney\": {\"amount\": \"5.0\", \"currencyCode\": \"USD\"}},"
    "\"customer\": {\"id\": \"gid://shopify/Customer/7390219731222\", \"firstName\": \"Maria\","
    "  \"lastName\": \"Lopez\", \"updatedAt\": \"2026-11-20T14:14:03Z\","
    "  \"defaultEmailAddress\": {\"emailAddress\": \"maria.lopez@example.com\"},"
    "  \"defaultPhoneNumber\": {\"phoneNumber\": \"+15555550123\"}},"
    "\"shippingAddress\": {\"firstName\": \"Maria\", \"lastName\": \"Lopez\", \"name\": \"Maria Lopez\","
    "  \"company\": null, \"address1\": \"742 Evergreen Terrace\", \"address2\": \"Apt 2\", \"city\": \"Springfield\","
    "  \"province\": \"Oregon\", \"provinceCode\": \"OR\", \"zip\": \"97477\", \"country\": \"United States\","
    "  \"countryCodeV2\": \"US\", \"phone\": \"+15555550123\"},"
    "\"billingAddress\": {\"firstName\": \"Maria\", \"lastName\": \"Lopez\", \"name\": \"Maria Lopez\","
    "  \"company\": \"Lopez LLC\", \"address1\": \"1 Main St\", \"address2\": null, \"city\": \"Eugene\","
    "  \"province\": \"Oregon\", \"provinceCode\": \"OR\", \"zip\": \"97401\", \"country\": \"United States\","
    "  \"countryCodeV2\": \"US\", \"phone\": null},"
    "\"lineItems\": {\"nodes\": ["
    "  {\"id\": \"gid://shopify/LineItem/" BIG_LINE "\", \"sku\": \"ACME-TEE-BLK-M\","
    "   \"name\": \"Acme Tee - Black / M\","
    "   \"title\": \"Acme Tee\", \"quantity\": 2, \"currentQuantity\": 2,"
    "   \"originalUnitPriceSet\": {\"shopMoney\": {\"amount\": \"24.0\", \"currencyCode\": \"USD\"}},"
    "   \"discountedUnitPriceSet\": {\"shopMoney\": {\"amount\": \"24.0\", \"currencyCode\": \"USD\"}}},"
    "  {\"id\": \"gid://shopify/LineItem/14982113509398\", \"sku\": \"ACME-MUG-350\", \"name\": \"Acme Mug 350 ml\","
    "   \"title\": \"Acme Mug 350 ml\", \"quantity\": 3, \"currentQuantity\": 2,"
    "   \"originalUnitPriceSet\": {\"shopMoney\": {\"amount\": \"12.5\", \"currencyCode\": \"USD\"}},"
    "   \"discountedUnitPriceSet\": {\"shopMoney\": {\"amount\": \"10.0\", \"currencyCode\": \"USD\"}}},"
    "  {\"id\": \"gid://shopify/LineItem/14982113542166\", \"sku\": null, \"name\": \"Gift wrap\","
    "   \"title\": \"Gift wrap\", \"quantity\": 1, \"currentQuantity\": 1,"
    "   \"originalUnitPriceSet\": {\"shopMoney\": {\"amount\": \"3.0\", \"currencyCode\": \"USD\"}},"
    "   \"discountedUnitPriceSet\": {\"shopMoney\": {\"amount\": \"3.0\", \"currencyCode\": \"USD\"}}}"
    "], \"pageInfo\": {\"hasNextPage\": false, \"endCursor\": \"eyJsYXN0X2lkIjoxfQ==\"}},"
    "\"shippingLines\": {\"nodes\": ["
    "  {\"id\": \"gid://shopify/ShippingLine/5038275993622\", \"title\": \"Standard Shipping\", \"code\": \"Standard\","
    "   \"originalPriceSet\": {\"shopMoney\": {\"amount\": \"7.99\", \"currencyCode\": \"USD\"}},"
    "   \"discountedPriceSet\": {\"shopMoney\": {\"amount\": \"0.0\", \"currencyCode\": \"USD\"}}}"
    "], \"pageInfo\": {\"hasNextPage\": false, \"endCursor\": null}}"
    "}";

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        print_error("bad test JSON: %s (line %d col %d)\n", je.text, je.line, je.column);
    assert_non_null(j);
    return j;
}

static const char *s_of(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static json_t *convert_ok(const json_t *g)
{
    err_t e;
    err_clear(&e);
    json_t *o = shopify_order_from_graphql(g, &e);
    if (!o)
        print_error("%s: %s\n", e.code, e.message);
    assert_non_null(o);
    return o;
}

/* Convert with one path of the canned order replaced: path is "key" or "key.key" (objects only). */
static json_t *order_with(const char *path, json_t *value)
{
    json_t *g = parse(ORDER);
    char first[64];
    const char *dot = strchr(path, '.');
    snprintf(first, sizeof(first), "%.*s", dot ? (int)(dot - path) : (int)strlen(path), path);
    if (dot)
        json_object_set_new(json_object_get(g, first), dot + 1, value);
    else
        json_object_set_new(g, first, value);
    return g;
}

static void test_shopify_order_converts_the_mapper_fields(void **state)
{
    (void)state;
    json_t *g = parse(ORDER);
    json_t *o = convert_ok(g);

    /* The id as an exact JSON integer, not a double and not a string. */
    assert_true(json_is_integer(json_object_get(o, "id")));
    assert_true(json_integer_value(json_object_get(o, "id")) == 9007199254740993LL);
    char *text = json_dumps(json_object_get(o, "line_items"), JSON_COMPACT);
    assert_non_null(strstr(text, "\"id\":" BIG_LINE ","));
    free(text);
    assert_string_equal(s_of(o, "admin_graphql_api_id"), "gid://shopify/Order/" BIG_ORDER);
    assert_string_equal(s_of(o, "name"), "#1042");
    assert_string_equal(s_of(o, "email"), "maria.lopez@example.com");
    assert_true(json_is_null(json_object_get(o, "phone")));
    assert_string_equal(s_of(o, "currency"), "USD");
    assert_string_equal(s_of(o, "financial_status"), "paid");
    assert_true(json_is_null(json_object_get(o, "cancelled_at")));
    assert_true(json_is_null(json_object_get(o, "cancel_reason")));
    assert_string_equal(s_of(o, "note"), "leave at the door");
    assert_string_equal(s_of(o, "tags"), "vip, wholesale");
    assert_string_equal(s_of(o, "total_discounts"), "5.00");

    /* Timestamps as Shopify wrote them, and the instant the mapper will parse. */
    assert_string_equal(s_of(o, "created_at"), "2026-11-21T19:03:11Z");
    int64_t ms = 0, fixture_ms = 0;
    assert_int_equal(clock_parse_iso8601(s_of(o, "updated_at"), &ms), 0);
    assert_int_equal(clock_parse_iso8601("2026-11-21T14:03:13-05:00", &fixture_ms), 0); /* orders_create.json */
    assert_true(ms == fixture_ms);

    json_t *c = json_object_get(o, "customer");
    assert_true(json_integer_value(json_object_get(c, "id")) == 7390219731222LL);
    assert_string_equal(s_of(c, "email"), "maria.lopez@example.com");
    assert_string_equal(s_of(c, "first_name"), "Maria");
    assert_string_equal(s_of(c, "last_name"), "Lopez");
    assert_string_equal(s_of(c, "phone"), "+15555550123");
    assert_string_equal(s_of(c, "updated_at"), "2026-11-20T14:14:03Z");

    json_t *a = json_object_get(o, "shipping_address");
    assert_string_equal(s_of(a, "first_name"), "Maria");
    assert_string_equal(s_of(a, "name"), "Maria Lopez");
    assert_true(json_is_null(json_object_get(a, "company")));
    assert_string_equal(s_of(a, "address1"), "742 Evergreen Terrace");
    assert_string_equal(s_of(a, "address2"), "Apt 2");
    assert_string_equal(s_of(a, "city"), "Springfield");
    assert_string_equal(s_of(a, "zip"), "97477");
    assert_string_equal(s_of(a, "province_code"), "OR");
    assert_string_equal(s_of(a, "country_code"), "US");
    assert_string_equal(s_of(a, "phone"), "+15555550123");
    json_t *b = json_object_get(o, "billing_address");
    assert_string_equal(s_of(b, "company"), "Lopez LLC");
    assert_string_equal(s_of(b, "city"), "Eugene");
    assert_true(json_is_null(json_object_get(b, "address2")));

    json_t *lines = json_object_get(o, "line_items");
    assert_int_equal(json_array_size(lines), 3);
    json_t *l0 = json_array_get(lines, 0), *l2 = json_array_get(lines, 2);
    assert_string_equal(s_of(l0, "sku"), "ACME-TEE-BLK-M");
    assert_string_equal(s_of(l0, "name"), "Acme Tee - Black / M");
    assert_string_equal(s_of(l0, "title"), "Acme Tee");
    assert_int_equal(json_integer_value(json_object_get(l0, "quantity")), 2);
    assert_int_equal(json_integer_value(json_object_get(l0, "current_quantity")), 2);
    assert_string_equal(s_of(l0, "price"), "24.00");
    assert_string_equal(s_of(l0, "total_discount"), "0.00");
    /* A line without a SKU stays without one: the mapper reports it rather than guess. */
    assert_true(json_is_null(json_object_get(l2, "sku")));

    json_t *ships = json_object_get(o, "shipping_lines");
    assert_int_equal(json_array_size(ships), 1);
    json_t *sl = json_array_get(ships, 0);
    assert_true(json_integer_value(json_object_get(sl, "id")) == 5038275993622LL);
    assert_string_equal(s_of(sl, "title"), "Standard Shipping");
    assert_string_equal(s_of(sl, "price"), "7.99");
    assert_string_equal(s_of(sl, "discounted_price"), "0.00"); /* free shipping: the mapper adds no line */
    json_decref(o);
    json_decref(g);
}

static void test_shopify_order_line_discounts_are_exact(void **state)
{
    (void)state;
    json_t *g = parse(ORDER);
    json_t *o = convert_ok(g);
    /* 3 mugs ordered, 1 removed by an edit, 2.50 off each: the mapper divides by price × current quantity, so the
     * discount is the one on the 2 mugs left: 5.00 of 25.00 = 20 %, Shopify's unit discount. */
    json_t *mug = json_array_get(json_object_get(o, "line_items"), 1);
    assert_int_equal(json_integer_value(json_object_get(mug, "quantity")), 3);
    assert_int_equal(json_integer_value(json_object_get(mug, "current_quantity")), 2);
    assert_string_equal(s_of(mug, "price"), "12.50");
    assert_string_equal(s_of(mug, "total_discount"), "5.00");
    json_decref(o);
    json_decref(g);

    /* Three-decimal currencies keep their third place; amounts beyond nine places are rounded, not refused. */
    static const struct {
        const char *original, *discounted, *price, *discount;
    } cases[] = {
        {"1.125", "1.0", "1.125", "0.250"},     /* × 2 current units */
        {"0.1", "0.1", "0.10", "0.00"},
        {"1000000", "999999.99", "1000000.00", "0.02"},
        {"8.3333333333", "8.0", "8.333333333", "0.666666666"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        g = parse(ORDER);
        json_t *n = json_array_get(json_object_get(json_object_get(g, "lineItems"), "nodes"), 1);
        json_object_set_new(json_object_get(json_object_get(n, "originalUnitPriceSet"), "shopMoney"), "amount",
                            json_string(cases[i].original));
        json_object_set_new(json_object_get(json_object_get(n, "discountedUnitPriceSet"), "shopMoney"), "amount",
                            json_string(cases[i].discounted));
        o = convert_ok(g);
        mug = json_array_get(json_object_get(o, "line_items"), 1);
        assert_string_equal(s_of(mug, "price"), cases[i].price);
        assert_string_equal(s_of(mug, "total_discount"), cases[i].discount);
        json_decref(o);
        json_decref(g);
    }
}

static void test_shopify_order_financial_status_and_cancellation(void **state)
{
    (void)state;
    static const char *const map[][2] = {
        {"PAID", "paid"},         {"PENDING", "pending"},   {"PARTIALLY_REFUNDED", "partially_refunded"},
        {"AUTHORIZED", "authorized"}, {"PARTIALLY_PAID", "partially_paid"}, {"REFUNDED", "refunded"},
        {"VOIDED", "voided"},     {"EXPIRED", "expired"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        json_t *g = order_with("displayFinancialStatus", json_string(map[i][0]));
        json_t *o = convert_ok(g);
        assert_string_equal(s_of(o, "financial_status"), map[i][1]);
        json_decref(o);
        json_decref(g);
    }
    json_t *g = order_with("displayFinancialStatus", json_null());
    json_t *o = convert_ok(g);
    assert_true(json_is_null(json_object_get(o, "financial_status")));
    json_decref(o);
    json_decref(g);

    /* Cancelled: cancelled_at is a string (what the mapper tests), the reason as REST spells it. */
    g = order_with("cancelledAt", json_string("2026-11-22T10:00:00Z"));
    json_object_set_new(g, "cancelReason", json_string("CUSTOMER"));
    json_object_set_new(g, "displayFinancialStatus", json_string("REFUNDED"));
    o = convert_ok(g);
    assert_true(json_is_string(json_object_get(o, "cancelled_at")));
    assert_string_equal(s_of(o, "cancelled_at"), "2026-11-22T10:00:00Z");
    assert_string_equal(s_of(o, "cancel_reason"), "customer");
    assert_string_equal(s_of(o, "financial_status"), "refunded");
    json_decref(o);
    json_decref(g);
}

static void test_shopify_order_guest_without_addresses(void **state)
{
    (void)state;
    json_t *g = order_with("customer", json_null());
    json_object_set_new(g, "shippingAddress", json_null());
    json_object_set_new(g, "billingAddress", json_null());
    json_object_set_new(g, "tags", json_array());
    json_object_set_new(g, "note", json_null());
    json_object_set_new(g, "totalDiscountsSet", json_null());
    json_object_set_new(json_object_get(g, "shippingLines"), "nodes", json_array());
    json_t *o = convert_ok(g);
    assert_true(json_is_null(json_object_get(o, "customer")));
    assert_true(json_is_null(json_object_get(o, "shipping_address")));
    assert_true(json_is_null(json_object_get(o, "billing_address")));
    assert_true(json_is_null(json_object_get(o, "note")));
    assert_string_equal(s_of(o, "tags"), "");
    assert_string_equal(s_of(o, "total_discounts"), "0.00");
    assert_int_equal(json_array_size(json_object_get(o, "shipping_lines")), 0);
    assert_string_equal(s_of(o, "email"), "maria.lopez@example.com"); /* a guest is known by the order's email */
    json_decref(o);
    json_decref(g);

    /* The deprecated Customer.email / .phone still serve when the newer objects are absent. */
    g = parse(ORDER);
    json_t *c = json_object_get(g, "customer");
    json_object_del(c, "defaultEmailAddress");
    json_object_set_new(c, "defaultPhoneNumber", json_null());
    json_object_set_new(c, "email", json_string("old@example.com"));
    json_object_set_new(c, "phone", json_string("+15550000000"));
    o = convert_ok(g);
    assert_string_equal(s_of(json_object_get(o, "customer"), "email"), "old@example.com");
    assert_string_equal(s_of(json_object_get(o, "customer"), "phone"), "+15550000000");
    json_decref(o);
    json_decref(g);
}

/* Taxes, discount allocations, a gift card and the order's current money become the REST fields the mapper books
 * (with both moneys in *_set); a tax amount that is not a decimal is refused, not read as zero. */
static void test_shopify_order_money(void **state)
{
    (void)state;
    json_t *g = parse(ORDER);
    json_t *bag = parse("{\"shopMoney\": {\"amount\": \"84.33\", \"currencyCode\": \"USD\"},"
                        " \"presentmentMoney\": {\"amount\": \"78.1\", \"currencyCode\": \"EUR\"}}");
    json_object_set_new(g, "currentTotalPriceSet", bag);
    json_object_set_new(g, "taxesIncluded", json_true());
    json_object_set_new(g, "presentmentCurrencyCode", json_string("EUR"));
    json_object_set_new(g, "currentTotalDutiesSet", json_null());
    json_t *line = json_array_get(json_object_get(json_object_get(g, "lineItems"), "nodes"), 0);
    json_object_set_new(line, "isGiftCard", json_true());
    json_object_set_new(line, "taxLines", parse(
        "[{\"title\": \"IL State Tax\", \"rate\": 0.0625, \"priceSet\": {\"shopMoney\": {\"amount\": \"2.7\","
        " \"currencyCode\": \"USD\"}}}, {\"title\": \"Cook County Tax\", \"rate\": 0.01, \"priceSet\":"
        " {\"shopMoney\": {\"amount\": \"0.43\", \"currencyCode\": \"USD\"}}}]"));
    json_object_set_new(line, "discountAllocations", parse(
        "[{\"allocatedAmountSet\": {\"shopMoney\": {\"amount\": \"4.8\", \"currencyCode\": \"USD\"}}}]"));
    json_object_set_new(line, "duties", parse(
        "[{\"id\": \"gid://shopify/Duty/42\", \"price\": {\"shopMoney\": {\"amount\": \"3.0\", \"currencyCode\":"
        " \"USD\"}}, \"taxLines\": [{\"title\": \"Import VAT\", \"rate\": 0.2, \"priceSet\": {\"shopMoney\":"
        " {\"amount\": \"0.6\", \"currencyCode\": \"USD\"}}}]}]"));
    json_t *o = convert_ok(g);
    assert_string_equal(s_of(o, "current_total_price"), "84.33");
    const json_t *pm = json_object_get(json_object_get(o, "current_total_price_set"), "presentment_money");
    assert_string_equal(s_of(pm, "amount"), "78.10");
    assert_string_equal(s_of(pm, "currency_code"), "EUR");
    assert_true(json_is_true(json_object_get(o, "taxes_included")));
    assert_string_equal(s_of(o, "presentment_currency"), "EUR");
    assert_null(json_object_get(o, "current_total_duties")); /* a null bag is left out */
    const json_t *li = json_array_get(json_object_get(o, "line_items"), 0);
    assert_true(json_is_true(json_object_get(li, "gift_card")));
    const json_t *taxes = json_object_get(li, "tax_lines");
    assert_int_equal(json_array_size(taxes), 2);
    assert_string_equal(s_of(json_array_get(taxes, 0), "title"), "IL State Tax");
    assert_string_equal(s_of(json_array_get(taxes, 0), "price"), "2.70");
    assert_true(json_real_value(json_object_get(json_array_get(taxes, 1), "rate")) == 0.01);
    assert_string_equal(s_of(json_array_get(json_object_get(li, "discount_allocations"), 0), "amount"), "4.80");
    const json_t *duty = json_array_get(json_object_get(li, "duties"), 0);
    assert_int_equal(json_integer_value(json_object_get(duty, "id")), 42);
    assert_string_equal(s_of(duty, "price"), "3.00");
    assert_string_equal(s_of(json_array_get(json_object_get(duty, "tax_lines"), 0), "price"), "0.60");
    /* the second line has none: empty lists, not absent ones */
    const json_t *li2 = json_array_get(json_object_get(o, "line_items"), 1);
    assert_int_equal(json_array_size(json_object_get(li2, "tax_lines")), 0);
    assert_false(json_is_true(json_object_get(li2, "gift_card")));
    json_decref(o);

    json_object_set_new(json_object_get(json_object_get(json_array_get(json_object_get(line, "taxLines"), 0),
                                                        "priceSet"), "shopMoney"), "amount", json_string("2,70"));
    err_t e;
    err_clear(&e);
    assert_null(shopify_order_from_graphql(g, &e));
    assert_string_equal(e.code, "shopify.order_shape");
    json_decref(g);
}

static void expect_refused(json_t *g, err_class_t cls, const char *code, const char *in_message)
{
    err_t e;
    err_clear(&e);
    json_t *o = shopify_order_from_graphql(g, &e);
    if (o)
        print_error("converted although it should not (%s)\n", s_of(o, "name"));
    assert_null(o);
    assert_int_equal(e.cls, cls);
    assert_string_equal(e.code, code);
    if (in_message && !strstr(e.message, in_message))
        print_error("message: %s\n", e.message);
    assert_true(!in_message || strstr(e.message, in_message));
    json_decref(g);
}

static void test_shopify_order_refuses_partial_and_malformed_answers(void **state)
{
    (void)state;
    /* One page of several: converting it would lose lines without a word. */
    json_t *g = parse(ORDER);
    json_object_set_new(json_object_get(json_object_get(g, "lineItems"), "pageInfo"), "hasNextPage", json_true());
    expect_refused(g, ERR_INTERNAL, "shopify.order_partial", "lineItems");
    g = parse(ORDER);
    json_object_set_new(json_object_get(json_object_get(g, "shippingLines"), "pageInfo"), "hasNextPage",
                        json_true());
    expect_refused(g, ERR_INTERNAL, "shopify.order_partial", "shippingLines");

    expect_refused(order_with("id", json_string("gid://shopify/Product/1")), ERR_DATA, "shopify.order_shape",
                   "the order's id");
    expect_refused(order_with("id", json_string("gid://shopify/Order/99999999999999999999")), ERR_DATA,
                   "shopify.order_shape", "out of range");
    expect_refused(order_with("id", json_integer(6150327861270)), ERR_DATA, "shopify.order_shape", NULL);
    expect_refused(order_with("name", json_null()), ERR_DATA, "shopify.order_shape", "no name");
    expect_refused(order_with("lineItems", json_null()), ERR_DATA, "shopify.order_shape", "lineItems");
    expect_refused(order_with("customer.id", json_string("gid://shopify/Customer/x")), ERR_DATA,
                   "shopify.order_shape", "customer");
    expect_refused(order_with("totalDiscountsSet", json_pack("{s:{s:s}}", "shopMoney", "amount", "1e3")), ERR_DATA,
                   "shopify.order_shape", "decimal");

    g = parse(ORDER);
    json_t *n = json_array_get(json_object_get(json_object_get(g, "lineItems"), "nodes"), 0);
    json_object_set_new(json_object_get(json_object_get(n, "originalUnitPriceSet"), "shopMoney"), "amount",
                        json_string("24.x"));
    expect_refused(g, ERR_DATA, "shopify.order_shape", "line 1");
    g = parse(ORDER);
    n = json_array_get(json_object_get(json_object_get(g, "lineItems"), "nodes"), 1);
    json_object_del(n, "originalUnitPriceSet");
    expect_refused(g, ERR_DATA, "shopify.order_shape", "line 2");
    g = parse(ORDER);
    n = json_array_get(json_object_get(json_object_get(g, "lineItems"), "nodes"), 2);
    json_object_set_new(n, "quantity", json_string("1"));
    expect_refused(g, ERR_DATA, "shopify.order_shape", "line 3");

    /* The messages name ids and the order's name, never customer data. */
    g = parse(ORDER);
    json_object_set_new(json_object_get(g, "customer"), "id", json_null());
    err_t e;
    assert_null(shopify_order_from_graphql(g, &e));
    assert_null(strstr(e.message, "maria"));
    assert_non_null(strstr(e.record, "#1042"));
    json_decref(g);
    expect_refused(json_string("not an order"), ERR_DATA, "shopify.order_shape", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shopify_order_converts_the_mapper_fields),
        cmocka_unit_test(test_shopify_order_line_discounts_are_exact),
        cmocka_unit_test(test_shopify_order_financial_status_and_cancellation),
        cmocka_unit_test(test_shopify_order_guest_without_addresses),
        cmocka_unit_test(test_shopify_order_money),
        cmocka_unit_test(test_shopify_order_refuses_partial_and_malformed_answers),
    };
    return cmocka_run_group_tests_name("shopify_orders", tests, NULL, NULL);
}
