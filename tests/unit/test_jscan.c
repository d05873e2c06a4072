/* Unit tests for src/core/jscan.c, the ack path's JSON validator: it must accept exactly what RFC 8259 accepts
 * (checked against jansson on the same inputs) and find top-level members, including Shopify's 64-bit ids. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/jscan.h"

static int scan(const char *text)
{
    jscan_error_t err;
    return jscan_object(text, strlen(text), NULL, NULL, 0, &err);
}

static void test_jscan_agrees_with_jansson(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{}", " {\"a\":1} ", "{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false}", "{\"n\":-0.5e+10}",
        "{\"s\":\"caf\\u00e9 \\n \\\" \\\\ \\/\"}", "{\"u\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
        /* malformed */
        "", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":tru}",
        "{\"a\":\"x\ty\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":1} {}", "{a:1}", "{\"a\":'x'}",
        "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xff\"}", "{\"a\":[1,2}", "{\"a\":NaN}",
        "{\"a\":1e}", "{\"a\":-}", "{\"a\":\"unterminated}",
        /* issue 13, item 2: jansson refuses these, so the ack path must too */
        "{\"note\":\"x\\u0000\"}", "{\"note\":\"\\ud800\"}", "{\"note\":\"\\udc00\"}",
        "{\"note\":\"\\ud800\\u0041\"}", "{\"note\":\"\\ud83d\\ude00\"}", "{\"t\":1e999999}",
        "{\"t\":-1e999999}", "{\"t\":1e-999999}", "{\"t\":1.7976931348623157e308}", "{\"t\":1.7976931348623159e308}",
        "{\"n\":9223372036854775807}", "{\"n\":9223372036854775808}", "{\"n\":-9223372036854775808}",
        "{\"n\":-9223372036854775809}", "{\"n\":123456789012345678901234567890}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t jerr;
        json_t *j = json_loads(cases[i], 0, &jerr);
        int want = (j && json_is_object(j)) ? 0 : -1;
        json_decref(j);
        if (scan(cases[i]) != want) {
            print_error("case %zu (%s): jscan %d, jansson %d\n", i, cases[i], scan(cases[i]), want);
            fail();
        }
    }
}

static void test_jscan_depth_limit(void **state)
{
    (void)state;
    char deep[600];
    size_t n = 0;
    deep[n++] = '{';
    memcpy(deep + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < 200; i++)
        deep[n++] = '[';
    for (int i = 0; i < 200; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    jscan_error_t err;
    assert_int_equal(jscan_object(deep, n, NULL, NULL, 0, &err), -1);
    assert_non_null(strstr(err.message, "deep"));
}

static void test_jscan_top_level_members_only(void **state)
{
    (void)state;
    const char *text = "{\"line_items\":[{\"id\":1}],\"customer\":{\"id\":2,\"updated_at\":\"x\"},"
                       "\"id\":9223372036854775807,\"updated_at\":\"2026-11-21T14:03:13-05:00\",\"order_id\":\"77\"}";
    const char *keys[] = {"id", "updated_at", "order_id", "missing"};
    jscan_span_t sp[4];
    jscan_error_t err;
    assert_int_equal(jscan_object(text, strlen(text), keys, sp, 4, &err), 0);
    char buf[32];
    assert_int_equal(jscan_span_id(&sp[0], buf, sizeof(buf)), 0);
    assert_string_equal(buf, "9223372036854775807"); /* exact, beyond a double's 2^53 */
    assert_int_equal(jscan_span_text(&sp[1], buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2026-11-21T14:03:13-05:00");
    assert_int_equal(jscan_span_id(&sp[2], buf, sizeof(buf)), 0);
    assert_string_equal(buf, "77");
    assert_int_equal(sp[3].type, JSCAN_ABSENT);
}

static void test_jscan_rejects_bad_ids_and_reports_position(void **state)
{
    (void)state;
    const char *keys[] = {"id"};
    jscan_span_t sp[1];
    jscan_error_t err;
    char buf[32];
    static const char *const bad[] = {"{\"id\":-5}", "{\"id\":1.5}", "{\"id\":0}", "{\"id\":\"12a\"}",
                                      "{\"id\":null}", "{\"id\":[1]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(jscan_object(bad[i], strlen(bad[i]), keys, sp, 1, &err), 0);
        assert_int_equal(jscan_span_id(&sp[0], buf, sizeof(buf)), -1);
    }
    /* beyond int64: not even valid for the worker's parser, so refused as a document */
    assert_int_equal(jscan_object("{\"id\":9223372036854775808}", 26, keys, sp, 1, &err), -1);
    const char *broken = "{\n  \"a\": 1,\n  \"b\": }";
    assert_int_equal(jscan_object(broken, strlen(broken), NULL, NULL, 0, &err), -1);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 8);
}

/* Issue 13, item 2: the ack path (jscan) and the worker (jansson, as the workers call it) must accept the same
 * documents, on every input of the fuzz corpus. jscan may refuse more only for its documented limits (nesting,
 * number length); it must never accept what jansson refuses (acknowledged, then dead). */
static int differential_one(const char *name, const char *text, size_t len)
{
    jscan_error_t err;
    int ours = jscan_object(text, len, NULL, NULL, 0, &err);
    /* The worker reads the stored payload as a C string (json_loads): a NUL byte ends it. */
    json_t *j = memchr(text, '\0', len) ? NULL : json_loadb(text, len, 0, NULL);
    int theirs = j && json_is_object(j) ? 0 : -1;
    json_decref(j);
    if (ours == 0 && theirs < 0) {
        print_error("%s: jscan accepts what jansson refuses\n", name);
        return 1;
    }
    if (ours < 0 && theirs == 0 && !strstr(err.message, "too deep") && !strstr(err.message, "too long")) {
        print_error("%s: jscan refuses (%s) what jansson accepts\n", name, err.message);
        return 1;
    }
    return 0;
}

static void test_jscan_and_jansson_agree_on_the_fuzz_corpus(void **state)
{
    (void)state;
    DIR *d = opendir(SYNCHUB_FUZZ_CORPUS "/jscan");
    assert_non_null(d);
    int bad = 0, seen = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/jscan/%s", SYNCHUB_FUZZ_CORPUS, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char text[1 << 20];
        size_t len = fread(text, 1, sizeof(text), f);
        fclose(f);
        bad += differential_one(e->d_name, text, len);
        seen++;
    }
    closedir(d);
    assert_true(seen >= 20);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jscan_agrees_with_jansson),
        cmocka_unit_test(test_jscan_depth_limit),
        cmocka_unit_test(test_jscan_top_level_members_only),
        cmocka_unit_test(test_jscan_rejects_bad_ids_and_reports_position),
        cmocka_unit_test(test_jscan_and_jansson_agree_on_the_fuzz_corpus),
    };
    return cmocka_run_group_tests_name("jscan", tests, NULL, NULL);
}
