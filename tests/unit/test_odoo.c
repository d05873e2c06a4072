/* Unit tests for src/odoo: classification of Odoo's error envelopes (as recorded from real Odoo 18/19) into the
 * project's classes, and the external-ID names synchub writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "odoo/odoo.h"
#include "flows/flow_orders.h"

static void test_access_error_is_configuration_and_names_group(void **state)
{
    (void)state;
    err_t e;
    odoo_classify("odoo.exceptions.AccessError",
                  "You are not allowed to create 'Sales Order' (sale.order) records.\n\nThis operation is allowed for "
                  "the following groups:\n\t- Sales/User: Own Documents Only\n\nContact your administrator to request "
                  "access if necessary.",
                  0, "sale.order", "load", &e);
    assert_int_equal(e.cls, ERR_CONFIGURATION);
    assert_string_equal(e.code, "odoo.access_error");
    assert_non_null(strstr(e.message, "sale.order.load"));
    assert_non_null(strstr(e.hint, "Sales/User: Own Documents Only"));
    assert_true(e.retry_safe);
}

/* odoo-real-vs-emulator.md item 1: a field-level AccessError (as load() reports it inside its messages), in the
 * texts of the real Odoo 18 and 19. */
static void test_field_access_error_names_the_groups(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "You do not have enough rights to access the fields \"credit_limit\" on Contact (res.partner). Please "
        "contact your system administrator.\n\nOperation: read\nUser: 6\nFields:\n- credit_limit (allowed for "
        "groups 'Technical / Show Accounting Features - Readonly', 'Invoicing / Invoicing')",
        "You do not have enough rights to access the field \"credit_limit\" on Contact (res.partner). Please "
        "contact your system administrator.\n\nOperation: read\nUser: 5\nGroups: allowed for groups 'Show "
        "Accounting Features - Readonly', 'Accounting / Invoicing'",
    };
    static const char *const groups[][2] = {
        {"Technical / Show Accounting Features - Readonly", "Invoicing / Invoicing"},
        {"Show Accounting Features - Readonly", "Accounting / Invoicing"},
    };
    for (size_t i = 0; i < 2; i++) {
        err_t e;
        odoo_classify("odoo.exceptions.AccessError", texts[i], 0, "res.partner", "load", &e);
        assert_int_equal(e.cls, ERR_CONFIGURATION);
        assert_non_null(strstr(e.hint, groups[i][0]));
        assert_non_null(strstr(e.hint, groups[i][1]));
    }
}

/* odoo-real-vs-emulator.md item 5: activity_schedule answers "mail.activity(6,)" over JSON-RPC on 18, [6] on 19. */
static void test_record_id_of_each_answer_shape(void **state)
{
    (void)state;
    json_t *shapes[] = {json_string("mail.activity(6,)"), json_pack("[i]", 6), json_integer(6)};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(odoo_record_id(shapes[i]), 6);
        json_decref(shapes[i]);
    }
    json_t *none[] = {json_string("mail.activity()"), json_array(), json_false()};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(odoo_record_id(none[i]), 0);
        json_decref(none[i]);
    }
}

static void test_classes_of_recorded_errors(void **state)
{
    (void)state;
    static const struct {
        const char *name, *message;
        long status;
        err_class_t cls;
    } cases[] = {
        {"odoo.exceptions.AccessDenied", "Access Denied", 0, ERR_CONFIGURATION},
        {"werkzeug.exceptions.Unauthorized", "Invalid apikey", 401, ERR_CONFIGURATION},
        {"odoo.exceptions.ValidationError", "The operation cannot be completed: Contacts require a name", 422,
         ERR_DATA},
        {"odoo.exceptions.UserError", "Some orders are not in a state requiring confirmation.", 0, ERR_DATA},
        {"odoo.exceptions.MissingError", "Record does not exist or has been deleted.", 404, ERR_DATA},
        {"builtins.ValueError", "External ID not found in the system: __sync__.nope", 500, ERR_DATA},
        {"psycopg2.errors.SerializationFailure", "could not serialize access due to concurrent update", 0,
         ERR_TRANSIENT},
        {"odoo.exceptions.ValidationError", "could not serialize access due to concurrent update", 0, ERR_TRANSIENT},
        {"werkzeug.exceptions.NotFound", "404 Not Found", 404, ERR_CONFIGURATION},
        {"werkzeug.exceptions.UnprocessableEntity", "got an unexpected keyword argument 'x'", 422, ERR_INTERNAL},
        {"builtins.MemoryError", "", 500, ERR_TRANSIENT},
        {"odoo.exceptions.ValidationError",
         "The operation cannot be completed: duplicate key value violates unique constraint \"ir_model_data_module_name_uniq_index\"",
         422, ERR_TRANSIENT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err_t e;
        odoo_classify(cases[i].name, cases[i].message, cases[i].status, "m", "f", &e);
        if (e.cls != cases[i].cls) {
            print_error("case %zu (%s): class %d, want %d\n", i, cases[i].name, e.cls, cases[i].cls);
            fail();
        }
        assert_string_equal(e.record, "odoo m.f");
    }
}

static void test_xmlid_names(void **state)
{
    (void)state;
    char out[160];
    odoo_xmlid_name("acme-outfitters.myshopify.com", "order", "6150327861270", out, sizeof(out));
    assert_string_equal(out, "shopify_acme_outfitters_order_6150327861270");
    odoo_xmlid_name("Shop.Example.COM", "customer", "7", out, sizeof(out));
    assert_string_equal(out, "shopify_shop_example_com_customer_7");
}

/* The circuit breaker's name for an Odoo database (no scheme, credentials or path), and an Odoo nobody answers for
 * carries it: call and probe alike. An envelope Odoo answers itself is no outage (odoo_classify never names it). */
static void test_outage_target(void **state)
{
    (void)state;
    cfg_odoo_t c = {.configured = true, .url = "https://sync:pw@odoo.example.com:8069/odoo/", .database = "prod",
                    .protocol = "auto", .timeout_ms = 2000};
    char t[128];
    odoo_target(&c, t, sizeof(t));
    assert_string_equal(t, "odoo:prod@odoo.example.com:8069");
    c.url = "http://127.0.0.1:1";
    odoo_target(&c, t, sizeof(t));
    assert_string_equal(t, "odoo:prod@127.0.0.1:1");
    err_t e;
    assert_int_equal(odoo_probe(&c, &e), -1);
    assert_int_equal(e.cls, ERR_TRANSIENT);
    assert_string_equal(e.target, "odoo:prod@127.0.0.1:1");
    odoo_t *o = odoo_new(&c);
    json_t *r = NULL;
    assert_int_equal(odoo_call(o, "sale.order", "search", NULL, NULL, &r, &e), -1);
    assert_string_equal(e.code, "http.connect");
    assert_string_equal(e.target, "odoo:prod@127.0.0.1:1");
    odoo_free(o);
    odoo_classify("odoo.exceptions.ValidationError", "bad", 0, "sale.order", "load", &e);
    assert_string_equal(e.target, "");
    odoo_classify("", "Odoo Server Error", 500, "sale.order", "load", &e);
    assert_string_equal(e.code, "odoo.server_error");
    assert_string_equal(e.target, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_error_is_configuration_and_names_group),
        cmocka_unit_test(test_field_access_error_names_the_groups),
        cmocka_unit_test(test_record_id_of_each_answer_shape),
        cmocka_unit_test(test_classes_of_recorded_errors),
        cmocka_unit_test(test_xmlid_names),
        cmocka_unit_test(test_outage_target),
    };
    return cmocka_run_group_tests_name("odoo", tests, NULL, NULL);
}
