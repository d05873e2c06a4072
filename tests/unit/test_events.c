/* Unit tests for src/ingest/ingest_event.c: JSON Pointer, mapping and status map, validation listing every problem,
 * source authentication (HMAC over timestamp + body: good, bad, stale, future; bearer), the lifecycle ordering
 * rule, CSV records and job keys. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "ingest/ingest_event.h"

static cfg_source_t canonical_src(void)
{
    static char secret[] = "s3cret-key", prev[] = "old-key";
    cfg_source_t s = {.name = "ups", .auth = "hmac", .format = "canonical", .max_skew_ms = 300000};
    s.secret.value = secret;
    s.secret.len = strlen(secret);
    s.secret_previous.value = prev;
    s.secret_previous.len = strlen(prev);
    return s;
}

static bool has_problem(json_t *problems, const char *prefix)
{
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p)
        if (strncmp(json_string_value(p), prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

static void test_events_json_pointer(void **state)
{
    (void)state;
    json_t *doc = json_loads("{\"a\":{\"b\":[10,{\"c\":\"x\"}]},\"m~n\":1,\"p/q\":2,\"\":3}", 0, NULL);
    assert_non_null(doc);
    assert_ptr_equal(ingest_jptr_get(doc, ""), doc);
    assert_int_equal(json_integer_value(ingest_jptr_get(doc, "/a/b/0")), 10);
    assert_string_equal(json_string_value(ingest_jptr_get(doc, "/a/b/1/c")), "x");
    assert_int_equal(json_integer_value(ingest_jptr_get(doc, "/m~0n")), 1);
    assert_int_equal(json_integer_value(ingest_jptr_get(doc, "/p~1q")), 2);
    assert_int_equal(json_integer_value(ingest_jptr_get(doc, "/")), 3);
    assert_null(ingest_jptr_get(doc, "/a/b/2"));
    assert_null(ingest_jptr_get(doc, "/a/b/01"));    /* leading zero is not an index */
    assert_null(ingest_jptr_get(doc, "/a/b/-"));
    assert_null(ingest_jptr_get(doc, "/a/x"));
    assert_null(ingest_jptr_get(doc, "a/b"));        /* must start with '/' */
    assert_null(ingest_jptr_get(doc, "/m~2n"));      /* ~ only as ~0 or ~1 */
    assert_false(ingest_jptr_valid("/x~"));
    assert_true(ingest_jptr_valid("/x~1y~0"));
    json_decref(doc);
}

static void test_events_canonical_parse_and_keys(void **state)
{
    (void)state;
    cfg_source_t src = canonical_src();
    json_t *doc = json_loads("{\"event_id\":\" e-1 \",\"occurred_at\":\"2026-11-20T10:00:00+01:00\","
                             "\"reference\":\"WH/OUT/00012\",\"status\":\"in_transit\",\"tracking_number\":42,"
                             "\"detail\":null,\"source\":\"ups\"}", 0, NULL);
    json_t *problems = json_array();
    ingest_shipment_t ev;
    assert_int_equal(ingest_shipment_parse(&src, doc, &ev, problems), 0);
    assert_int_equal(json_array_size(problems), 0);
    assert_string_equal(ev.event_id, "e-1");
    assert_string_equal(ev.occurred_at, "2026-11-20T09:00:00.000Z");
    assert_string_equal(ev.tracking_number, "42");
    assert_null(ev.detail);
    assert_int_equal(ev.status, INGEST_SHIP_IN_TRANSIT);
    char *idem = ingest_shipment_idem_key(&ev), *okey = ingest_shipment_ordering_key(&ev);
    assert_string_equal(idem, "logistics|ups|e-1");
    assert_string_equal(okey, "shipment:wh/out/00012");
    char *payload = ingest_shipment_json(&ev);
    ingest_shipment_t back;
    assert_int_equal(ingest_shipment_from_json(payload, &back), 0);
    assert_string_equal(back.reference, "WH/OUT/00012");
    assert_int_equal(back.occurred_ms, ev.occurred_ms);
    ingest_shipment_release(&back);
    free(payload);
    free(idem);
    free(okey);
    ingest_shipment_release(&ev);
    json_decref(problems);
    json_decref(doc);
}

static void test_events_validation_lists_every_problem(void **state)
{
    (void)state;
    cfg_source_t src = canonical_src();
    json_t *doc = json_loads("{\"event_id\":\"\",\"occurred_at\":\"2026-11-20T10:00:00\",\"status\":\"lost\","
                             "\"tracking_url\":\"ftp://x\",\"carrier\":7,\"colour\":\"red\",\"source\":\"dhl\"}",
                             0, NULL);
    json_t *problems = json_array();
    ingest_shipment_t ev;
    assert_int_equal(ingest_shipment_parse(&src, doc, &ev, problems), -1);
    assert_true(has_problem(problems, "event_id: required"));
    assert_true(has_problem(problems, "reference: required"));
    assert_true(has_problem(problems, "occurred_at: "));      /* no zone */
    assert_true(has_problem(problems, "status: \"lost\""));
    assert_true(has_problem(problems, "tracking_url: must start"));
    assert_true(has_problem(problems, "carrier: must be a string"));
    assert_true(has_problem(problems, "colour: unknown field"));
    assert_true(has_problem(problems, "source: must be \"ups\""));
    assert_int_equal(json_array_size(problems), 8);
    assert_null(ev.event_id);    /* nothing half-filled */
    json_decref(problems);
    json_decref(doc);
    problems = json_array();
    doc = json_loads("[1]", 0, NULL);
    assert_int_equal(ingest_shipment_parse(&src, doc, &ev, problems), -1);
    assert_true(has_problem(problems, "body: must be a JSON object"));
    json_decref(problems);
    json_decref(doc);
}

static void test_events_mapping_and_status_map(void **state)
{
    (void)state;
    cfg_source_t src = canonical_src();
    src.format = "mapped";
    src.map[CFG_EVF_EVENT_ID] = "/id";
    src.map[CFG_EVF_OCCURRED_AT] = "/scan/time";
    src.map[CFG_EVF_REFERENCE] = "/shipment/ref";
    src.map[CFG_EVF_STATUS] = "/scan/code";
    src.map[CFG_EVF_TRACKING_NUMBER] = "/shipment/awb";
    src.map[CFG_EVF_LOCATION] = "/scan/where/0";
    src.map[CFG_EVF_DETAIL] = "Remark";        /* a top-level member by name (CSV column) */
    src.status_map = "IT=in_transit, DL = delivered, EX=exception";
    json_t *doc = json_loads("{\"id\":777,\"scan\":{\"time\":\"2026-11-20T10:00:00Z\",\"code\":\"dl\","
                             "\"where\":[\"Leipzig\"]},\"shipment\":{\"ref\":\"S00042\",\"awb\":\"JD1\"},"
                             "\"Remark\":\"left at door\",\"extra\":true}", 0, NULL);
    json_t *problems = json_array();
    ingest_shipment_t ev;
    assert_int_equal(ingest_shipment_parse(&src, doc, &ev, problems), 0);
    assert_string_equal(ev.event_id, "777");
    assert_int_equal(ev.status, INGEST_SHIP_DELIVERED);   /* codes match case-insensitively */
    assert_string_equal(ev.location, "Leipzig");
    assert_string_equal(ev.detail, "left at door");
    assert_string_equal(ev.tracking_number, "JD1");
    ingest_shipment_release(&ev);
    /* An unknown code, a missing pointer target, a malformed pointer: all listed, with where they were read. */
    json_object_set_new(json_object_get(doc, "scan"), "code", json_string("ZZ"));
    json_object_del(json_object_get(doc, "shipment"), "ref");
    src.map[CFG_EVF_CARRIER] = "/bad~";
    assert_int_equal(ingest_shipment_parse(&src, doc, &ev, problems), -1);
    assert_true(has_problem(problems, "status: \"ZZ\" is not one of"));
    assert_true(has_problem(problems, "reference: required (at /shipment/ref)"));
    assert_true(has_problem(problems, "carrier: the mapping's JSON pointer"));
    assert_int_equal(json_array_size(problems), 3);
    /* A status_map entry to a non-status is named as such. */
    json_array_clear(problems);
    src.map[CFG_EVF_CARRIER] = NULL;
    json_object_set_new(json_object_get(doc, "shipment"), "ref", json_string("S1"));
    json_object_set_new(json_object_get(doc, "scan"), "code", json_string("XX"));
    src.status_map = "XX=gone";
    assert_int_equal(ingest_shipment_parse(&src, doc, &ev, problems), -1);
    assert_true(has_problem(problems, "status: \"XX\" maps to \"gone\""));
    json_decref(problems);
    json_decref(doc);
}

static void hmac_hex(const char *key, const char *ts, const char *body, char out[65])
{
    char *text = NULL;
    assert_true(asprintf(&text, "%s.%s", ts, body) > 0);
    unsigned char mac[CRYPTO_SHA256_LEN];
    assert_int_equal(crypto_hmac_sha256(key, strlen(key), text, strlen(text), mac), 0);
    crypto_hex(mac, sizeof(mac), out);
    free(text);
}

static void test_events_hmac_with_timestamp(void **state)
{
    (void)state;
    cfg_source_t src = canonical_src();
    const char *body = "{\"event_id\":\"e\"}";
    int64_t now = 1795000000000LL;
    char ts[32], sig[65], prefixed[80], b64[64];
    snprintf(ts, sizeof(ts), "%lld", (long long)(now / 1000 - 10));
    hmac_hex("s3cret-key", ts, body, sig);
    assert_int_equal(ingest_source_verify(&src, sig, ts, NULL, body, strlen(body), now), INGEST_AUTH_OK);
    snprintf(prefixed, sizeof(prefixed), "sha256=%s", sig);
    assert_int_equal(ingest_source_verify(&src, prefixed, ts, NULL, body, strlen(body), now), INGEST_AUTH_OK);
    unsigned char raw[CRYPTO_SHA256_LEN];
    for (int i = 0; i < CRYPTO_SHA256_LEN; i++)
        sscanf(sig + 2 * i, "%2hhx", &raw[i]);
    crypto_base64_encode(raw, sizeof(raw), b64);
    assert_int_equal(ingest_source_verify(&src, b64, ts, NULL, body, strlen(body), now), INGEST_AUTH_OK);
    /* the previous key during a rotation */
    hmac_hex("old-key", ts, body, sig);
    assert_int_equal(ingest_source_verify(&src, sig, ts, NULL, body, strlen(body), now), INGEST_AUTH_OK);
    /* bad: another key, another body, the timestamp not signed along */
    hmac_hex("other", ts, body, sig);
    assert_int_equal(ingest_source_verify(&src, sig, ts, NULL, body, strlen(body), now), INGEST_AUTH_BAD);
    hmac_hex("s3cret-key", ts, body, sig);
    assert_int_equal(ingest_source_verify(&src, sig, ts, NULL, "{}", 2, now), INGEST_AUTH_BAD);
    char ts2[32];
    snprintf(ts2, sizeof(ts2), "%lld", (long long)(now / 1000 - 9));
    assert_int_equal(ingest_source_verify(&src, sig, ts2, NULL, body, strlen(body), now), INGEST_AUTH_BAD);
    assert_int_equal(ingest_source_verify(&src, "zz", ts, NULL, body, strlen(body), now), INGEST_AUTH_BAD);
    assert_int_equal(ingest_source_verify(&src, NULL, ts, NULL, body, strlen(body), now), INGEST_AUTH_MISSING);
    assert_int_equal(ingest_source_verify(&src, sig, NULL, NULL, body, strlen(body), now), INGEST_AUTH_MISSING);
    /* stale (a replay) and too far in the future: signed correctly, refused */
    snprintf(ts, sizeof(ts), "%lld", (long long)(now / 1000 - 301));
    hmac_hex("s3cret-key", ts, body, sig);
    assert_int_equal(ingest_source_verify(&src, sig, ts, NULL, body, strlen(body), now), INGEST_AUTH_STALE);
    snprintf(ts, sizeof(ts), "%lld", (long long)(now / 1000 + 301));
    hmac_hex("s3cret-key", ts, body, sig);
    assert_int_equal(ingest_source_verify(&src, sig, ts, NULL, body, strlen(body), now), INGEST_AUTH_STALE);
    snprintf(ts, sizeof(ts), "%lld", (long long)(now / 1000 + 299));
    hmac_hex("s3cret-key", ts, body, sig);
    assert_int_equal(ingest_source_verify(&src, sig, ts, NULL, body, strlen(body), now), INGEST_AUTH_OK);
}

static void test_events_bearer(void **state)
{
    (void)state;
    static char tok[] = "tok-123";
    cfg_source_t src = {.name = "wms", .auth = "bearer", .format = "canonical"};
    src.token.value = tok;
    src.token.len = strlen(tok);
    assert_int_equal(ingest_source_verify(&src, NULL, NULL, "Bearer tok-123", "", 0, 0), INGEST_AUTH_OK);
    assert_int_equal(ingest_source_verify(&src, NULL, NULL, "bearer tok-123", "", 0, 0), INGEST_AUTH_OK);
    assert_int_equal(ingest_source_verify(&src, NULL, NULL, "Bearer tok-12", "", 0, 0), INGEST_AUTH_BAD);
    assert_int_equal(ingest_source_verify(&src, NULL, NULL, "Basic dG9r", "", 0, 0), INGEST_AUTH_MISSING);
    assert_int_equal(ingest_source_verify(&src, NULL, NULL, NULL, "", 0, 0), INGEST_AUTH_MISSING);
}

static void test_events_lifecycle_ordering_rule(void **state)
{
    (void)state;
    int in_transit = ingest_ship_status_rank(INGEST_SHIP_IN_TRANSIT);
    int delivered = ingest_ship_status_rank(INGEST_SHIP_DELIVERED);
    assert_true(ingest_ship_status_rank(INGEST_SHIP_PICKED) < ingest_ship_status_rank(INGEST_SHIP_PACKED));
    assert_true(in_transit < ingest_ship_status_rank(INGEST_SHIP_OUT_FOR_DELIVERY));
    assert_true(delivered < ingest_ship_status_rank(INGEST_SHIP_RETURNED));
    assert_true(ingest_shipment_applies(0, 0, INGEST_SHIP_DISPATCHED, 1000));          /* first event */
    assert_true(ingest_shipment_applies(in_transit, 1000, INGEST_SHIP_DELIVERED, 2000));
    assert_true(ingest_shipment_applies(in_transit, 1000, INGEST_SHIP_IN_TRANSIT, 2000)); /* another hub scan */
    assert_false(ingest_shipment_applies(delivered, 2000, INGEST_SHIP_IN_TRANSIT, 3000)); /* earlier status */
    assert_false(ingest_shipment_applies(in_transit, 2000, INGEST_SHIP_DELIVERED, 1000)); /* older time */
    assert_true(ingest_shipment_applies(in_transit, 1000, INGEST_SHIP_EXCEPTION, 2000));
    assert_false(ingest_shipment_applies(delivered, 1000, INGEST_SHIP_EXCEPTION, 2000));
    assert_false(ingest_shipment_applies(in_transit, 2000, INGEST_SHIP_EXCEPTION, 1000));
    assert_true(ingest_shipment_applies(delivered, 1000, INGEST_SHIP_RETURNED, 2000));
    ingest_ship_status_t st;
    assert_int_equal(ingest_ship_status_parse("out_for_delivery", &st), 0);
    assert_int_equal(st, INGEST_SHIP_OUT_FOR_DELIVERY);
    assert_int_equal(ingest_ship_status_parse("In_Transit", &st), -1);
}

static void test_events_csv_records(void **state)
{
    (void)state;
    const char *text = "a,b,c\r\n1,\"x, \"\"y\"\"\",\n\n\"multi\nline\",2,3\n\"open,4\n";
    const char *p = text, *end = text + strlen(text), *why = NULL;
    json_t *f = json_array();
    int line = 1, start = 0;
    assert_int_equal(ingest_csv_record(&p, end, f, &line, &start, &why), 1);
    assert_int_equal(json_array_size(f), 3);
    assert_int_equal(start, 1);
    assert_int_equal(line, 2);
    assert_int_equal(ingest_csv_record(&p, end, f, &line, &start, &why), 1);
    assert_int_equal(start, 2);
    assert_string_equal(json_string_value(json_array_get(f, 1)), "x, \"y\"");
    assert_string_equal(json_string_value(json_array_get(f, 2)), "");
    assert_int_equal(ingest_csv_record(&p, end, f, &line, &start, &why), 1);   /* the blank line is skipped */
    assert_int_equal(start, 4);
    assert_string_equal(json_string_value(json_array_get(f, 0)), "multi\nline");
    assert_int_equal(line, 6);
    assert_int_equal(ingest_csv_record(&p, end, f, &line, &start, &why), -1);
    assert_string_equal(why, "unterminated quoted field");
    assert_int_equal(start, 6);
    assert_int_equal(ingest_csv_record(&p, end, f, &line, &start, &why), 0);
    /* text after a closing quote: this record is refused, the next one reads normally */
    const char *t2 = "\"a\"b,c\nd,e\n";
    p = t2;
    end = t2 + strlen(t2);
    line = 1;
    assert_int_equal(ingest_csv_record(&p, end, f, &line, &start, &why), -1);
    assert_string_equal(why, "text after a closing quote");
    assert_int_equal(ingest_csv_record(&p, end, f, &line, &start, &why), 1);
    assert_int_equal(start, 2);
    assert_string_equal(json_string_value(json_array_get(f, 0)), "d");
    /* Issue 13 (low): CR-only line ends were reported as "text after a closing quote". */
    const char *t3 = "a,b\rc,d\r";
    p = t3;
    end = t3 + strlen(t3);
    line = 1;
    assert_int_equal(ingest_csv_record(&p, end, f, &line, &start, &why), -1);
    assert_non_null(strstr(why, "CR alone"));
    json_decref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_json_pointer),
        cmocka_unit_test(test_events_canonical_parse_and_keys),
        cmocka_unit_test(test_events_validation_lists_every_problem),
        cmocka_unit_test(test_events_mapping_and_status_map),
        cmocka_unit_test(test_events_hmac_with_timestamp),
        cmocka_unit_test(test_events_bearer),
        cmocka_unit_test(test_events_lifecycle_ordering_rule),
        cmocka_unit_test(test_events_csv_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
