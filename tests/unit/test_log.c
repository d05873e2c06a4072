/* Unit tests for src/core/log.c and src/core/mask.c: JSON lines are valid JSON, logfmt values are quoted, the
 * per-thread job context is added to every line of that thread only, and email/phone shapes are masked in
 * messages, hints and log values while ids, dates and addresses of machines are kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mask.h"

/* ---- capturing stderr ---------------------------------------------------------------------------------------- */

typedef struct capture {
    int saved;
    FILE *f;
} capture_t;

static void capture_start(capture_t *c)
{
    fflush(stderr);
    c->f = tmpfile();
    assert_non_null(c->f);
    c->saved = dup(STDERR_FILENO);
    dup2(fileno(c->f), STDERR_FILENO);
}

/* Returns the captured bytes (caller frees). */
static char *capture_end(capture_t *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    long n = ftell(c->f);
    char *out = calloc(1, (size_t)n + 1);
    rewind(c->f);
    size_t got = fread(out, 1, (size_t)n, c->f);
    out[got] = '\0';
    fclose(c->f);
    return out;
}

static json_t *parse_line(const char *line)
{
    json_error_t je;
    json_t *doc = json_loads(line, 0, &je);
    if (!doc)
        fail_msg("not JSON (%s): %s", je.text, line);
    assert_true(json_is_object(doc));
    return doc;
}

static const char *sget(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- log ----------------------------------------------------------------------------------------------------- */

static void test_log_json_line_is_json_with_the_job_context(void **state)
{
    (void)state;
    log_init(LOG_LVL_DEBUG, LOG_FMT_JSON);
    capture_t c;
    capture_start(&c);
    log_ctx_set("3f2a00000000000000000000000000aa", "shopify.order", 3, "evt-991");
    log_kv(LOG_LVL_DEBUG, "odoo", "odoo call", "model", "sale.order", "quote", "say \"hi\"\n\\ \x01 caf\xc3\xa9",
           "bad_utf8", "a\xff\xc3(b", NULL);
    log_ctx_clear();
    log_kv(LOG_LVL_INFO, "serve", "no job here", NULL);
    char *out = capture_end(&c);
    char *second = strchr(out, '\n');
    assert_non_null(second);
    *second++ = '\0';
    json_t *a = parse_line(out);
    assert_string_equal(sget(a, "module"), "odoo");
    assert_string_equal(sget(a, "level"), "debug");
    assert_string_equal(sget(a, "job"), "3f2a00000000000000000000000000aa");
    assert_string_equal(sget(a, "kind"), "shopify.order");
    assert_string_equal(sget(a, "attempt"), "3");
    assert_string_equal(sget(a, "correlation"), "evt-991");
    assert_string_equal(sget(a, "quote"), "say \"hi\"\n\\ \x01 caf\xc3\xa9");
    assert_string_equal(sget(a, "bad_utf8"), "a\xef\xbf\xbd\xef\xbf\xbd(b");
    json_decref(a);
    char *end = strchr(second, '\n');
    assert_non_null(end);
    assert_string_equal(end + 1, ""); /* exactly two lines: nothing was split */
    *end = '\0';
    json_t *b = parse_line(second);
    assert_null(json_object_get(b, "job")); /* cleared: later lines do not name the old job */
    assert_null(json_object_get(b, "correlation"));
    json_decref(b);
    free(out);
}

static void test_log_explicit_key_wins_over_the_context(void **state)
{
    (void)state;
    log_init(LOG_LVL_INFO, LOG_FMT_JSON);
    capture_t c;
    capture_start(&c);
    log_ctx_set("job-in-context", "test.noop", 1, "corr-ctx");
    log_kv(LOG_LVL_INFO, "queue", "job done", "job", "job-explicit", "attempt", "7", NULL);
    log_ctx_clear();
    char *out = capture_end(&c);
    json_t *a = parse_line(out);
    assert_string_equal(sget(a, "job"), "job-explicit");
    assert_string_equal(sget(a, "attempt"), "7");
    assert_string_equal(sget(a, "kind"), "test.noop");
    assert_string_equal(sget(a, "correlation"), "corr-ctx");
    assert_int_equal(strstr(out, "job-in-context") == NULL, 1); /* no duplicate key */
    json_decref(a);
    free(out);
}

static void *other_thread_logs(void *arg)
{
    (void)arg;
    log_kv(LOG_LVL_INFO, "other", "from another thread", NULL);
    return NULL;
}

static void test_log_context_is_per_thread(void **state)
{
    (void)state;
    log_init(LOG_LVL_INFO, LOG_FMT_JSON);
    capture_t c;
    capture_start(&c);
    log_ctx_set("job-of-main", "k", 1, "c");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread_logs, NULL), 0);
    pthread_join(t, NULL);
    log_ctx_clear();
    char *out = capture_end(&c);
    json_t *a = parse_line(out);
    assert_string_equal(sget(a, "module"), "other");
    assert_null(json_object_get(a, "job"));
    json_decref(a);
    free(out);
}

static void test_log_logfmt_quotes_and_escapes(void **state)
{
    (void)state;
    log_init(LOG_LVL_INFO, LOG_FMT_LOGFMT);
    capture_t c;
    capture_start(&c);
    log_ctx_set("j1", "test.noop", 2, NULL);
    log_kv(LOG_LVL_INFO, "queue", "two words", "plain", "x", "eq", "a=b", "nl", "l1\nlevel=error forged", NULL);
    log_ctx_clear();
    char *out = capture_end(&c);
    assert_non_null(strstr(out, " msg=\"two words\""));
    assert_non_null(strstr(out, " plain=x "));
    assert_non_null(strstr(out, " eq=\"a=b\""));
    assert_non_null(strstr(out, " nl=\"l1\\nlevel=error forged\""));
    assert_non_null(strstr(out, " job=j1 kind=test.noop attempt=2"));
    assert_null(strstr(out, "correlation="));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
    free(out);
}

static void test_log_masks_customer_data_in_values(void **state)
{
    (void)state;
    log_init(LOG_LVL_INFO, LOG_FMT_LOGFMT);
    capture_t c;
    capture_start(&c);
    log_kv(LOG_LVL_WARN, "queue", "job failed", "error", "Odoo rejected res.partner.load: 'jane.doe@example.org' "
           "(+1 555-867-5309) is already used", NULL);
    char *out = capture_end(&c);
    assert_null(strstr(out, "jane.doe@example.org"));
    assert_null(strstr(out, "555-867"));
    assert_non_null(strstr(out, "'j***@***'"));
    assert_non_null(strstr(out, "(***09)"));
    free(out);
}

/* ---- mask ---------------------------------------------------------------------------------------------------- */

static void expect_mask(const char *in, const char *want, size_t count)
{
    char out[512];
    size_t n = mask_pii(in, out, sizeof(out));
    if (strcmp(out, want) != 0 || n != count)
        fail_msg("mask_pii(%s) = %s (%zu), want %s (%zu)", in, out, n, want, count);
}

static void test_mask_shapes(void **state)
{
    (void)state;
    expect_mask("mail jane.doe+shop@mail.example.co.uk now", "mail j***@*** now", 1);
    expect_mask("end with a full stop: bob@example.com.", "end with a full stop: b***@***.", 1);
    expect_mask("phones +44 20 7946 0958, (555) 123-4567 and 555.123.4567", "phones ***58, (***67 and ***67", 3);
    expect_mask("+4915112345678", "***78", 1);
    /* kept: ids, dates, times, IPs, amounts, versions, short numbers */
    expect_mask("shopify order #1042 (6150327861270) at 2026-01-31T10:00:00Z",
                "shopify order #1042 (6150327861270) at 2026-01-31T10:00:00Z", 0);
    expect_mask("changed since 2026-12-04 07:44:14 (Odoo's datetime)",
                "changed since 2026-12-04 07:44:14 (Odoo's datetime)", 0);
    expect_mask("ids 6150327861270, 6150327861271 on 10.20.30.40 cost 12345.678 v18.0.1.3",
                "ids 6150327861270, 6150327861271 on 10.20.30.40 cost 12345.678 v18.0.1.3", 0);
    expect_mask("not@an-email, user@localhost, a@1.0", "not@an-email, user@localhost, a@1.0", 0);
    /* Issue 13 (low): a card number in a remote error text was logged unmasked. Luhn-valid card shapes of the
     * schemes' lengths are masked to their last four; Luhn-invalid runs and Shopify-style ids are kept. */
    expect_mask("note: pay with 4111111111111111 please", "note: pay with ***1111 please", 1);
    expect_mask("card 4111 1111 1111 1111, amex 3782-822463-10005, mc 5555555555554444.",
                "card ***1111, amex ***0005, mc ***4444.", 3);
    expect_mask("card 4111111111111112 (bad check digit)", "card 4111111111111112 (bad check digit)", 0);
    expect_mask("line items 16277546795258, 6150327861271 and 44797224452274",
                "line items 16277546795258, 6150327861271 and 44797224452274", 0);
    expect_mask(NULL, "", 0);
}

static void test_mask_truncates_safely(void **state)
{
    (void)state;
    char out[8];
    size_t n = mask_pii("x jane@example.com", out, sizeof(out));
    assert_int_equal(n, 1);
    assert_string_equal(out, "x j***@");
    char one[1];
    mask_pii("anything", one, sizeof(one));
    assert_string_equal(one, "");
}

static void test_err_messages_and_hints_are_masked(void **state)
{
    (void)state;
    err_t e;
    err_set(&e, ERR_DATA, "odoo.validation", "Odoo rejected res.partner.load: email %s exists (phone %s)",
            "jane.doe@example.org", "+1 (555) 867-5309");
    err_hint(&e, "merge the contacts of %s in Odoo", "jane.doe@example.org");
    err_record(&e, "shopify order #1042 (6150327861270)");
    assert_null(strstr(e.message, "jane.doe"));
    assert_null(strstr(e.message, "867-5309"));
    assert_null(strstr(e.hint, "jane.doe"));
    assert_string_equal(e.message, "Odoo rejected res.partner.load: email j***@*** exists (phone ***09)");
    assert_string_equal(e.record, "shopify order #1042 (6150327861270)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_json_line_is_json_with_the_job_context),
        cmocka_unit_test(test_log_explicit_key_wins_over_the_context),
        cmocka_unit_test(test_log_context_is_per_thread),
        cmocka_unit_test(test_log_logfmt_quotes_and_escapes),
        cmocka_unit_test(test_log_masks_customer_data_in_values),
        cmocka_unit_test(test_mask_shapes),
        cmocka_unit_test(test_mask_truncates_safely),
        cmocka_unit_test(test_err_messages_and_hints_are_masked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
