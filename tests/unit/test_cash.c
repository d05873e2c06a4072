/* Unit tests for order to cash's pure parts: the gateway → journal map (flows/flow_invoices.c), the conversion of
 * an order's transactions and refunds from the Admin API (shopify/shopify_cash.c), and the invoice_on setting
 * (core/cfg.c). No network, no Odoo: the integration tests (tests/integration/test_cash.py) cover those. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cfg_fixture.h"
#include "core/buf.h"
#include "core/cfg.h"
#include "flows/flow_invoices.h"
#include "shopify/shopify_cash.h"

static void test_journal_for_maps_gateways_with_a_fallback(void **state)
{
    (void)state;
    char code[32];
    const char *map = " shopify_payments = BNK1 , paypal=PAYPL, gift_card=GIFT, *=BNK2 ";
    assert_int_equal(flow_invoices_journal_for(map, "paypal", code, sizeof(code)), 1);
    assert_string_equal(code, "PAYPL");
    assert_int_equal(flow_invoices_journal_for(map, "shopify_payments", code, sizeof(code)), 1);
    assert_string_equal(code, "BNK1");
    assert_int_equal(flow_invoices_journal_for(map, "PayPal", code, sizeof(code)), 1); /* case-insensitive */
    assert_string_equal(code, "PAYPL");
    assert_int_equal(flow_invoices_journal_for(map, "manual", code, sizeof(code)), 1); /* the "*" entry */
    assert_string_equal(code, "BNK2");
    /* a gateway that is a prefix of another is not that other one */
    assert_int_equal(flow_invoices_journal_for("paypal_express=PX", "paypal", code, sizeof(code)), 0);
    assert_string_equal(code, "");
    assert_int_equal(flow_invoices_journal_for(NULL, "paypal", code, sizeof(code)), 0);
}

static void test_transactions_convert_lower_cases_and_keeps_ids(void **state)
{
    (void)state;
    json_t *order = json_loads(
        "{\"transactions\": ["
        " {\"id\": \"gid://shopify/OrderTransaction/7310423834646\", \"kind\": \"SALE\", \"status\": \"SUCCESS\","
        "  \"gateway\": \"gift_card\", \"processedAt\": \"2026-11-21T19:03:11Z\","
        "  \"amountSet\": {\"shopMoney\": {\"amount\": \"20.0\", \"currencyCode\": \"USD\"}},"
        "  \"parentTransaction\": null},"
        " {\"id\": \"gid://shopify/OrderTransaction/7310423867414\", \"kind\": \"REFUND\", \"status\": \"SUCCESS\","
        "  \"gateway\": \"paypal\", \"processedAt\": \"2026-11-22T10:00:00Z\","
        "  \"amountSet\": {\"shopMoney\": {\"amount\": \"31.99\", \"currencyCode\": \"USD\"}},"
        "  \"parentTransaction\": {\"id\": \"gid://shopify/OrderTransaction/7310423834646\"}}]}", 0, NULL);
    assert_non_null(order);
    json_t *t = shopify_transactions_convert(order);
    assert_non_null(t);
    assert_int_equal(json_array_size(t), 2);
    json_t *a = json_array_get(t, 0), *b = json_array_get(t, 1);
    assert_string_equal(json_string_value(json_object_get(a, "id")), "7310423834646");
    assert_string_equal(json_string_value(json_object_get(a, "kind")), "sale");
    assert_string_equal(json_string_value(json_object_get(a, "status")), "success");
    assert_string_equal(json_string_value(json_object_get(a, "amount")), "20.0");
    assert_true(json_is_null(json_object_get(a, "parent_id")) || !json_object_get(a, "parent_id"));
    assert_string_equal(json_string_value(json_object_get(b, "kind")), "refund");
    assert_string_equal(json_string_value(json_object_get(b, "parent_id")), "7310423834646");
    json_decref(t);
    /* an amount missing: the whole answer is refused, not a payment of nothing */
    json_object_del(json_object_get(json_object_get(json_array_get(json_object_get(order, "transactions"), 1),
                                                    "amountSet"), "shopMoney"), "amount");
    assert_null(shopify_transactions_convert(order));
    json_decref(order);
}

static cfg_t *load(const char *text, buf_t *errors)
{
    return cfg_fixture_load(text, errors, NULL);
}

static void test_invoice_on_accepts_three_words(void **state)
{
    (void)state;
    buf_t errors;
    buf_init(&errors);
    cfg_t *c = load("[shop acme.myshopify.com]\nwebhook_secret = s3cret-s3cret-s3cret\n", &errors);
    assert_non_null(c);
    assert_string_equal(c->shops[0].invoice_on, "never");
    assert_string_equal(c->shops[0].payment_journals, "*=BNK1");
    cfg_free(c);
    c = load("[shop acme.myshopify.com]\nwebhook_secret = s3cret-s3cret-s3cret\ninvoice_on = fulfilled\n"
             "payment_journals = paypal=PAYPL\n", &errors);
    assert_non_null(c);
    assert_string_equal(c->shops[0].invoice_on, "fulfilled");
    assert_string_equal(c->shops[0].payment_journals, "paypal=PAYPL");
    cfg_free(c);
    c = load("[shop acme.myshopify.com]\nwebhook_secret = s3cret-s3cret-s3cret\ninvoice_on = always\n", &errors);
    assert_null(c);
    assert_non_null(strstr(buf_str(&errors), "never, paid or fulfilled"));
    buf_release(&errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal_for_maps_gateways_with_a_fallback),
        cmocka_unit_test(test_transactions_convert_lower_cases_and_keeps_ids),
        cmocka_unit_test(test_invoice_on_accepts_three_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
