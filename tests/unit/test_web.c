/* Unit tests for src/web: the payload masking of the job view (fields by name, "name" only where it is a
 * person's, free text by shape, what stays visible) and the bearer-token check (which operator, wrong or missing
 * tokens, the Bearer scheme). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "web/web.h"

static const char *path_str(json_t *doc, const char *path)
{
    json_t *v = doc;
    for (const char *p = path; v && *p;) {
        size_t n = strcspn(p, ".");
        char part[64];
        snprintf(part, sizeof(part), "%.*s", (int)n, p);
        v = json_is_array(v) ? json_array_get(v, (size_t)strtol(part, NULL, 10)) : json_object_get(v, part);
        p += n + (p[n] == '.');
    }
    return json_string_value(v);
}

static void test_web_mask_shopify_order(void **state)
{
    (void)state;
    json_t *doc = json_loads(
        "{\"id\": 6150327861270, \"name\": \"#1042\", \"email\": \"jane.doe@example.com\", \"phone\": \"+15551234567\","
        " \"note\": \"deliver to jane.doe@example.com or call +1 555 123 4567\","
        " \"customer\": {\"id\": 7, \"email\": \"jane.doe@example.com\", \"first_name\": \"Jane\", \"last_name\": \"Doe\","
        "   \"default_address\": {\"name\": \"Jane Doe\", \"address1\": \"1 Main St\", \"zip\": \"12345\", \"city\": \"X\"}},"
        " \"shipping_address\": {\"name\": \"Jane Doe\", \"address2\": \"Apt 4\", \"company\": \"ACME\","
        "   \"latitude\": 45.5, \"longitude\": -73.6, \"country_code\": \"CA\"},"
        " \"billing_address\": null,"
        " \"line_items\": [{\"name\": \"Blue T-shirt - M\", \"sku\": \"TS-BLUE-M\", \"quantity\": 2}],"
        " \"shipping_lines\": [{\"title\": \"Standard\", \"price\": \"5.00\"}],"
        " \"client_details\": {\"browser_ip\": \"203.0.113.9\"}}",
        0, NULL);
    assert_non_null(doc);
    size_t n = web_mask_payload(doc);
    char *text = json_dumps(doc, JSON_COMPACT);
    /* No personal value survives anywhere in the document. */
    static const char *const pii[] = {"jane.doe", "Jane", "Doe", "1 Main St", "12345", "Apt 4", "ACME", "45.5",
                                      "73.6", "555", "203.0.113.9"};
    for (size_t i = 0; i < sizeof(pii) / sizeof(pii[0]); i++)
        if (strstr(text, pii[i]))
            fail_msg("'%s' is still in the masked payload: %s", pii[i], text);
    /* Emails keep their first letter; other fields become ***. */
    assert_string_equal(path_str(doc, "email"), "j***@***");
    assert_string_equal(path_str(doc, "customer.last_name"), "***");
    assert_string_equal(path_str(doc, "customer.default_address.name"), "***");
    assert_string_equal(path_str(doc, "shipping_address.name"), "***");
    assert_string_equal(path_str(doc, "shipping_address.latitude"), "***");
    /* What the operator needs stays: the order's name, line items, SKUs, the country, a null. */
    assert_string_equal(path_str(doc, "name"), "#1042");
    assert_string_equal(path_str(doc, "line_items.0.name"), "Blue T-shirt - M");
    assert_string_equal(path_str(doc, "line_items.0.sku"), "TS-BLUE-M");
    assert_string_equal(path_str(doc, "shipping_address.country_code"), "CA");
    assert_string_equal(path_str(doc, "customer.default_address.city"), "X");
    assert_true(json_is_null(json_object_get(doc, "billing_address")));
    assert_true(json_is_integer(json_object_get(doc, "id")));
    /* Free text: the note's email and phone are masked by shape, the rest of the sentence stays. */
    assert_non_null(strstr(path_str(doc, "note"), "deliver to j***@***"));
    assert_true(n >= 16);
    free(text);
    json_decref(doc);
}

static void test_web_mask_non_object_payloads(void **state)
{
    (void)state;
    json_t *s = json_string("mail bob@example.org");
    assert_int_equal(web_mask_payload(s), 1);
    assert_string_equal(json_string_value(s), "mail b***@***");
    json_decref(s);
    json_t *clean = json_loads("{\"shop\": \"acme.myshopify.com\", \"n\": [1, 2]}", 0, NULL);
    assert_int_equal(web_mask_payload(clean), 0);
    assert_string_equal(path_str(clean, "shop"), "acme.myshopify.com");
    json_decref(clean);
}

static cfg_t *two_operators(void)
{
    static cfg_operator_t ops[2];
    static cfg_t cfg;
    ops[0] = (cfg_operator_t){.name = "alice", .token = {"alice-token-0123456789", 22}};
    ops[1] = (cfg_operator_t){.name = "bob", .token = {"bob-token-abcdefghijklm", 23}};
    cfg.operators = ops;
    cfg.noperators = 2;
    return &cfg;
}

static void test_web_auth_token_check(void **state)
{
    (void)state;
    cfg_t *cfg = two_operators();
    const cfg_operator_t *op = web_auth(cfg, "Bearer bob-token-abcdefghijklm");
    assert_non_null(op);
    assert_string_equal(op->name, "bob");
    op = web_auth(cfg, "bearer alice-token-0123456789");
    assert_non_null(op);
    assert_string_equal(op->name, "alice");
    /* Wrong, truncated, extended, empty, missing, or not a bearer token. */
    assert_null(web_auth(cfg, "Bearer alice-token-012345678"));
    assert_null(web_auth(cfg, "Bearer alice-token-01234567890"));
    assert_null(web_auth(cfg, "Bearer ALICE-TOKEN-0123456789"));
    assert_null(web_auth(cfg, "Bearer "));
    assert_null(web_auth(cfg, "Bearer"));
    assert_null(web_auth(cfg, NULL));
    assert_null(web_auth(cfg, "Basic YWxpY2U6YWxpY2UtdG9rZW4tMDEyMzQ1Njc4OQ=="));
    assert_null(web_auth(cfg, "alice-token-0123456789"));
    /* No operator configured: nothing is accepted. */
    cfg_t none = {0};
    assert_null(web_auth(&none, "Bearer alice-token-0123456789"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_web_mask_shopify_order),
        cmocka_unit_test(test_web_mask_non_object_payloads),
        cmocka_unit_test(test_web_auth_token_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
