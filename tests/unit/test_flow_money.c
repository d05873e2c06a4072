/* Unit tests for src/flows/flow_money.c: the money fixtures (tests/fixtures/money) planned onto Odoo lines —
 * discounts as percentages Odoo rounds back to Shopify's cents, several taxes per line, price-included VAT, gift
 * cards, tips, free shipping — and the configuration failures: a Shopify tax without (or with several) Odoo taxes,
 * tax_map, a discount Odoo's precision cannot express. Not here: writing to Odoo (tests/integration). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flows/flow_money.h"

static json_t *fixture(const char *name)
{
    char path[1024];
    const char *here = __FILE__, *slash = strrchr(here, '/');
    snprintf(path, sizeof(path), "%.*s/../fixtures/money/%s", slash ? (int)(slash - here) : 1, slash ? here : ".",
             name);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        print_error("%s: %s\n", path, je.text);
    assert_non_null(j);
    return j;
}

/* The company's sale taxes: the generic 15 % default, the US state and county taxes, 20 % VAT included and an
 * excluded 20 % that must not be taken for it. */
static const money_tax_t TAXES[] = {
    {1, "15%", 15.0, true, false},       {11, "IL State 6.25%", 6.25, true, false}, {12, "County 1%", 1.0, true, false},
    {21, "20% VAT incl.", 20.0, true, true}, {22, "20% (excl.)", 20.0, true, false},
};
#define NTAXES (sizeof(TAXES) / sizeof(TAXES[0]))

static const money_cfg_t CFG = {.tax_map = NULL, .discount_digits = 2};

static money_plan_t plan_ok(const json_t *order, const money_cfg_t *cfg)
{
    money_plan_t p;
    err_t e;
    err_clear(&e);
    int rc = money_plan_build(order, cfg, TAXES, NTAXES, &p, &e);
    if (rc < 0)
        print_error("%s: %s\n", e.code, e.message);
    assert_int_equal(rc, 0);
    return p;
}

static void test_us_two_taxes_a_code_and_taxed_shipping(void **state)
{
    (void)state;
    json_t *o = fixture("us_state_county_discount_code.json");
    assert_true(money_order_taxed(o));
    money_plan_t p = plan_ok(o, &CFG);
    assert_int_equal(p.n, 4);
    assert_false(p.taxes_included);
    assert_string_equal(p.currency, "USD");
    assert_int_equal(p.total, 8433);
    assert_int_equal(p.tax, 569);
    static const int64_t net[] = {4320, 1125, 1620, 799}, tax[] = {313, 81, 117, 58};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(p.lines[i].kind, i < 3 ? MONEY_ITEM : MONEY_SHIPPING);
        assert_int_equal(p.lines[i].net, net[i]);
        assert_int_equal(p.lines[i].tax, tax[i]);
        assert_int_equal(p.lines[i].discount_e, i < 3 ? 1000 : 0); /* 10.00 % */
        assert_int_equal(p.lines[i].ntax, 2);
        assert_int_equal(p.lines[i].tax_ids[0], 11);
        assert_int_equal(p.lines[i].tax_ids[1], 12);
    }
    money_plan_free(&p);
    json_decref(o);
}

static void test_eu_vat_included_and_a_fixed_discount(void **state)
{
    (void)state;
    json_t *o = fixture("eu_vat_included_fixed_discount.json");
    money_plan_t p = plan_ok(o, &CFG);
    assert_true(p.taxes_included);
    assert_string_equal(p.currency, "EUR");
    assert_int_equal(p.n, 3);
    assert_int_equal(p.total, 7469);
    assert_int_equal(p.tax, 1245);
    /* 2 × 29.90 less 4.00 = 6.6889 %: 6.69 % rounds back to 55.80; 14.99 less 1.00: 6.67 % gives 13.99 */
    assert_int_equal(p.lines[0].discount_e, 669);
    assert_int_equal(p.lines[0].net, 5580);
    assert_int_equal(p.lines[1].discount_e, 667);
    assert_int_equal(p.lines[2].discount_e, 0);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(p.lines[i].ntax, 1);
        assert_int_equal(p.lines[i].tax_ids[0], 21); /* the included 20 %, not the excluded one */
    }
    char text[16];
    money_discount_format(p.lines[0].discount_e, 2, text, sizeof(text));
    assert_string_equal(text, "6.69");
    money_plan_free(&p);
    json_decref(o);
}

static void test_gift_card_tip_and_free_shipping(void **state)
{
    (void)state;
    json_t *o = fixture("free_shipping_tip_gift_card.json");
    money_plan_t p = plan_ok(o, &CFG);
    assert_int_equal(p.n, 3); /* free shipping: no line; the tip line item is the tip (none made up) */
    assert_int_equal(p.lines[0].kind, MONEY_ITEM);
    assert_int_equal(p.lines[0].tax_ids[0], 11);
    assert_int_equal(p.lines[1].kind, MONEY_GIFT_CARD);
    assert_int_equal(p.lines[1].ntax, 0);
    assert_int_equal(p.lines[1].net, 5000);
    assert_int_equal(p.lines[2].kind, MONEY_TIP);
    assert_int_equal(p.lines[2].net, 500);
    assert_int_equal(p.total, 8156);
    money_plan_free(&p);

    /* A tip only in total_tip_received becomes a line of its own. */
    json_array_remove(json_object_get(o, "line_items"), 2);
    p = plan_ok(o, &CFG);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.lines[2].kind, MONEY_TIP);
    assert_null(p.lines[2].src);
    assert_int_equal(p.lines[2].net, 500);
    money_plan_free(&p);
    json_decref(o);
}

/* A duty is a line of its own with its own taxes (import VAT on the duty), after the shipping. */
static void test_duties_are_lines_with_their_own_taxes(void **state)
{
    (void)state;
    json_t *o = fixture("us_state_county_discount_code.json");
    json_t *li = json_array_get(json_object_get(o, "line_items"), 0);
    json_object_set_new(li, "duties", json_pack("[{s:s, s:{s:{s:s}}, s:[{s:s, s:f, s:s}]}, {s:s, s:{s:{s:s}}, s:[]}]",
                                                "id", "77", "price_set", "presentment_money", "amount", "3.00",
                                                "tax_lines", "title", "IL State Tax", "rate", 0.0625, "price", "0.19",
                                                "id", "78", "price_set", "presentment_money", "amount", "1.50",
                                                "tax_lines"));
    money_plan_t p = plan_ok(o, &CFG);
    assert_int_equal(p.n, 6);
    assert_int_equal(p.lines[4].kind, MONEY_DUTY);
    assert_int_equal(p.lines[4].unit, 300);
    assert_int_equal(p.lines[4].tax, 19);
    assert_int_equal(p.lines[4].ntax, 1);
    assert_int_equal(p.lines[4].tax_ids[0], 11);
    assert_ptr_equal(p.lines[4].src, json_array_get(json_object_get(li, "duties"), 0));
    assert_int_equal(p.lines[5].kind, MONEY_DUTY);
    assert_int_equal(p.lines[5].ntax, 0);
    assert_int_equal(p.lines[5].net, 150);
    money_plan_free(&p);
    json_decref(o);
}

static void test_zero_rate_tax_lines_mean_no_tax(void **state)
{
    (void)state;
    json_t *o = fixture("us_state_county_discount_code.json");
    size_t i, j;
    json_t *l, *t;
    json_array_foreach(json_object_get(o, "line_items"), i, l)
        json_array_foreach(json_object_get(l, "tax_lines"), j, t)
        {
            json_object_set_new(t, "rate", json_real(0.0));
            json_object_set_new(t, "price", json_string("0.00"));
            json_object_del(t, "price_set");
        }
    json_array_foreach(json_object_get(o, "shipping_lines"), i, l) json_object_set_new(l, "tax_lines", json_array());
    assert_false(money_order_taxed(o));
    money_plan_t p;
    err_t e;
    assert_int_equal(money_plan_build(o, &CFG, NULL, 0, &p, &e), 0);
    for (size_t k = 0; k < p.n; k++)
        assert_int_equal(p.lines[k].ntax, 0);
    money_plan_free(&p);
    json_decref(o);
}

static void test_unmatched_and_ambiguous_taxes_name_title_rate_and_map(void **state)
{
    (void)state;
    json_t *o = fixture("us_state_county_discount_code.json");
    money_plan_t p;
    err_t e;
    err_clear(&e);
    assert_int_equal(money_plan_build(o, &CFG, TAXES, 1, &p, &e), -1); /* only the 15 % exists */
    assert_int_equal(e.cls, ERR_CONFIGURATION);
    assert_string_equal(e.code, "config.tax_unmatched");
    assert_non_null(strstr(e.message, "\"IL State Tax\" at 6.25 %"));
    assert_non_null(strstr(e.hint, "tax_map = IL State Tax@6.25="));

    money_tax_t twice[NTAXES + 1];
    memcpy(twice, TAXES, sizeof(TAXES));
    twice[NTAXES] = (money_tax_t){13, "IL 6.25% (old)", 6.25, true, false};
    err_clear(&e);
    assert_int_equal(money_plan_build(o, &CFG, twice, NTAXES + 1, &p, &e), -1);
    assert_string_equal(e.code, "config.tax_ambiguous");
    assert_non_null(strstr(e.message, "(id 11)"));
    assert_non_null(strstr(e.message, "(id 13)"));

    /* tax_map settles it, by id or by name; Title@rate wins over Title */
    money_cfg_t cfg = {.tax_map = "IL State Tax@6.25=13, IL State Tax=11", .discount_digits = 2};
    assert_int_equal(money_plan_build(o, &cfg, twice, NTAXES + 1, &p, &e), 0);
    assert_int_equal(p.lines[0].tax_ids[0], 13);
    money_plan_free(&p);
    cfg.tax_map = "IL State Tax=IL 6.25% (old)";
    assert_int_equal(money_plan_build(o, &cfg, twice, NTAXES + 1, &p, &e), 0);
    assert_int_equal(p.lines[0].tax_ids[0], 13);
    money_plan_free(&p);
    cfg.tax_map = "IL State Tax=99";
    assert_int_equal(money_plan_build(o, &cfg, twice, NTAXES + 1, &p, &e), -1);
    assert_string_equal(e.code, "config.tax_map");
    json_decref(o);
}

static void test_discount_beyond_odoo_precision_is_a_configuration_error(void **state)
{
    (void)state;
    /* 3.36 off 1,234.56: 0.01 % of it is 12 cents, so no 2-decimal percentage gives 1,231.20; 4 decimals do. */
    json_t *o = json_pack("{s:s, s:[{s:I, s:s, s:i, s:s, s:[{s:s}], s:[]}], s:[]}", "currency", "USD", "line_items",
                          "id", (json_int_t)7, "sku", "BIG", "quantity", 1, "price", "1234.56",
                          "discount_allocations", "amount", "3.36", "tax_lines", "shipping_lines");
    money_plan_t p;
    err_t e;
    err_clear(&e);
    assert_int_equal(money_plan_build(o, &CFG, NULL, 0, &p, &e), -1);
    assert_string_equal(e.code, "config.discount_precision");
    assert_non_null(strstr(e.message, "3.36 on 1234.56"));
    money_cfg_t four = {.discount_digits = 4};
    p = plan_ok(o, &four);
    assert_int_equal(p.lines[0].discount_e, 2722); /* 0.2722 % → 1234.56 × 0.997278 = 1231.2004 */
    assert_int_equal(p.lines[0].net, 123120);
    money_plan_free(&p);
    json_decref(o);
}

static void test_amounts_parse_exactly(void **state)
{
    (void)state;
    int64_t c;
    assert_int_equal(money_parse("24", &c), 0);
    assert_int_equal(c, 2400);
    assert_int_equal(money_parse("24.5", &c), 0);
    assert_int_equal(c, 2450);
    assert_int_equal(money_parse("24.500", &c), 0);
    assert_int_equal(c, 2450);
    assert_int_equal(money_parse("-0.05", &c), 0);
    assert_int_equal(c, -5);
    assert_int_equal(money_parse("24.501", &c), -1);
    assert_int_equal(money_parse("2,40", &c), -1);
    assert_int_equal(money_from_double(84.33), 8433);
    assert_int_equal(money_from_double(0.1 + 0.2), 30);
    char t[16];
    money_format(-5, t, sizeof(t));
    assert_string_equal(t, "-0.05");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_us_two_taxes_a_code_and_taxed_shipping),
        cmocka_unit_test(test_eu_vat_included_and_a_fixed_discount),
        cmocka_unit_test(test_gift_card_tip_and_free_shipping),
        cmocka_unit_test(test_duties_are_lines_with_their_own_taxes),
        cmocka_unit_test(test_zero_rate_tax_lines_mean_no_tax),
        cmocka_unit_test(test_unmatched_and_ambiguous_taxes_name_title_rate_and_map),
        cmocka_unit_test(test_discount_beyond_odoo_precision_is_a_configuration_error),
        cmocka_unit_test(test_amounts_parse_exactly),
    };
    return cmocka_run_group_tests_name("flow_money", tests, NULL, NULL);
}
