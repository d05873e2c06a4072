/* Unit tests for src/store/store_*_effects.c and what the trace relies on in the store: effects by subject and time,
 * their pruning, the finders (jobs by ordering key / correlation, a job by a payload field, a link by an extra
 * field), the default correlation id of a job and the duplicate-delivery count in a webhook job's meta. */
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

#include "queue/queue.h"
#include "store/store.h"

#include "store_fixture.h"

typedef struct seen {
    int n, stop_after;
    char actions[8][32];
    char jobs[8][40];
    int64_t at[8];
} seen_t;

static int collect(const store_effect_t *e, void *ud)
{
    seen_t *s = ud;
    if (s->n < 8) {
        snprintf(s->actions[s->n], sizeof(s->actions[0]), "%s", e->action);
        snprintf(s->jobs[s->n], sizeof(s->jobs[0]), "%s", e->job_id ? e->job_id : "-");
        s->at[s->n] = e->at;
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static void test_store_effects_listed_by_subject_in_time_order(void **state)
{
    fx_t *f = *state;
    err_t err;
    store_effect_t batch[3] = {
        {.at = 3000, .job_id = "j2", .correlation_id = "c1", .shop = "a.myshopify.com", .subject = "order:1",
         .system = "odoo", .action = "confirmed", .target = "sale.order/7"},
        {.at = 1000, .job_id = "j1", .correlation_id = "c1", .shop = "a.myshopify.com", .subject = "order:1",
         .system = "odoo", .action = "created", .target = "sale.order/7",
         .external_id = "__synchub__.shopify_a_order_1", .detail = "{\"lines\":2}"},
        {.at = 2000, .job_id = "j3", .shop = "a.myshopify.com", .subject = "sku:TEE", .system = "shopify",
         .action = "inventorySetQuantities", .target = "gid://shopify/InventoryItem/5"},
    };
    assert_int_equal(store_effects_add(f->s, batch, 3, &err), 0);
    store_effect_t other = {.at = 1500, .shop = "b.myshopify.com", .subject = "order:1", .system = "odoo",
                            .action = "created"};
    assert_int_equal(store_effect_add(f->s, &other, &err), 0);

    seen_t s = {0};
    assert_int_equal(store_effects_list(f->s, "a.myshopify.com", "order:1", 0, collect, &s, &err), 0);
    assert_int_equal(s.n, 2);   /* not the SKU's, not the other shop's */
    assert_string_equal(s.actions[0], "created");
    assert_string_equal(s.actions[1], "confirmed");
    assert_true(s.at[0] == 1000 && s.at[1] == 3000);

    seen_t since = {0};
    assert_int_equal(store_effects_list(f->s, "a.myshopify.com", "order:1", 2000, collect, &since, &err), 0);
    assert_int_equal(since.n, 1);
    assert_string_equal(since.jobs[0], "j2");

    seen_t stop = {.stop_after = 1};
    assert_int_equal(store_effects_list(f->s, "a.myshopify.com", "order:1", 0, collect, &stop, &err), 0);
    assert_int_equal(stop.n, 1);

    store_effect_t now = {.shop = "a.myshopify.com", .subject = "sku:TEE", .system = "shopify", .action = "x"};
    assert_int_equal(store_effect_add(f->s, &now, &err), 0);   /* at 0 = now */
    seen_t sku = {0};
    assert_int_equal(store_effects_list(f->s, "a.myshopify.com", "sku:TEE", 0, collect, &sku, &err), 0);
    assert_int_equal(sku.n, 2);
    assert_true(sku.at[1] > 1000000000000LL);
}

static void test_store_effects_pruned_past_retention(void **state)
{
    fx_t *f = *state;
    err_t err;
    store_effect_t e[3] = {
        {.at = 100, .shop = "s", .subject = "order:1", .system = "odoo", .action = "old"},
        {.at = 200, .shop = "s", .subject = "order:1", .system = "odoo", .action = "old"},
        {.at = 900, .shop = "s", .subject = "order:1", .system = "odoo", .action = "new"},
    };
    assert_int_equal(store_effects_add(f->s, e, 3, &err), 0);
    int n = -1;
    assert_int_equal(store_effects_prune(f->s, 500, 1, &n, &err), 0);
    assert_int_equal(n, 1);   /* the batch limit holds */
    assert_int_equal(store_effects_prune(f->s, 500, 1000, &n, &err), 0);
    assert_int_equal(n, 1);
    seen_t s = {0};
    assert_int_equal(store_effects_list(f->s, "s", "order:1", 0, collect, &s, &err), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.actions[0], "new");
}

static job_new_t mk(const char *idem, const char *kind, const char *okey, const char *source, const char *corr,
                    const char *payload, const char *meta)
{
    job_new_t j = {0};
    queue_job_id(idem, strlen(idem), j.id);
    j.kind = kind;
    j.ordering_key = okey;
    j.payload = payload;
    j.payload_len = strlen(payload);
    j.source = source;
    j.correlation_id = corr;
    j.meta = meta;
    j.event_time_ms = 1;
    j.max_attempts = 3;
    j.lease_ms = 60000;
    return j;
}

static void test_store_jobs_get_a_correlation_and_count_duplicate_deliveries(void **state)
{
    fx_t *f = *state;
    err_t err;
    bool dup[2];
    job_new_t hand = mk("h", "test.noop", "k", "unit", NULL, "{}", NULL);
    assert_int_equal(store_enqueue(f->s, &hand, 1, dup, &err), 0);
    job_t *j = NULL;
    assert_int_equal(store_job_get(f->s, hand.id, &j, &err), 1);
    char want[64];
    snprintf(want, sizeof(want), "unit:%s", hand.id);
    assert_string_equal(j->correlation_id, want);   /* never NULL: a job on its own starts its own chain */
    job_free(j);

    job_new_t first = mk("w", "shopify.order", "shopify:s:order:1", "shopify", "evt-1", "{\"id\":1}",
                         "{\"topic\":\"orders/create\",\"received_at\":100}");
    job_new_t again = mk("w", "shopify.order", "shopify:s:order:1", "shopify", "evt-1", "{\"id\":1}",
                         "{\"topic\":\"orders/create\",\"received_at\":250}");
    assert_int_equal(store_enqueue(f->s, &first, 1, dup, &err), 0);
    assert_false(dup[0]);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(store_enqueue(f->s, &again, 1, dup, &err), 0);
        assert_true(dup[0]);
    }
    assert_int_equal(store_job_get(f->s, first.id, &j, &err), 1);
    json_t *meta = json_loads(j->meta, 0, NULL);
    assert_non_null(meta);
    assert_int_equal(json_integer_value(json_object_get(meta, "duplicates")), 2);
    assert_int_equal(json_integer_value(json_object_get(meta, "last_duplicate_at")), 250);
    assert_int_equal(json_integer_value(json_object_get(meta, "received_at")), 100);   /* the first delivery's */
    assert_string_equal(j->correlation_id, "evt-1");
    json_decref(meta);
    job_free(j);

    /* A duplicate of a job that is not a delivery (a scheduler's poll) leaves its meta alone. */
    job_new_t poll = mk("p", "stock.poll", "stock.poll|s", "sync", "poll:x", "{}", "{\"a\":1}");
    assert_int_equal(store_enqueue(f->s, &poll, 1, dup, &err), 0);
    assert_int_equal(store_enqueue(f->s, &poll, 1, dup, &err), 0);
    assert_int_equal(store_job_get(f->s, poll.id, &j, &err), 1);
    assert_string_equal(j->meta, "{\"a\":1}");
    job_free(j);
}

static void test_store_finders_for_the_trace(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t jobs[4] = {
        mk("o1", "shopify.order", "shopify:s:order:6150327861270", "shopify", "evt-a",
           "{\"id\":6150327861270,\"name\":\"#1042\"}", NULL),
        mk("o2", "shopify.order", "shopify:s:order:6150327861270", "reconcile", "poll:r",
           "{\"id\":6150327861270,\"name\":\"#1042\"}", NULL),
        mk("o3", "shopify.order", "shopify:s:order:9", "shopify", "evt-b", "not json", NULL),
        mk("c1", "fulfillment.push", "f|s", "sync", "evt-a", "{}", NULL),
    };
    assert_int_equal(store_enqueue(f->s, jobs, 4, NULL, &err), 0);

    job_t **out = NULL;
    size_t n = 0;
    assert_int_equal(store_jobs_by(f->s, STORE_JOBS_BY_OKEY, "shopify:s:order:6150327861270", 0, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    job_list_free(out, n);
    assert_int_equal(store_jobs_by(f->s, STORE_JOBS_BY_CORRELATION, "evt-a", 0, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_true(!strcmp(out[0]->kind, "fulfillment.push") || !strcmp(out[1]->kind, "fulfillment.push"));
    job_list_free(out, n);
    assert_int_equal(store_jobs_by(f->s, STORE_JOBS_BY_OKEY, "shopify:s:order:6150327861270", 1, &out, &n, &err), 0);
    assert_int_equal(n, 1);   /* the limit holds */
    job_list_free(out, n);

    job_t *j = NULL;
    /* a name, and an id beyond 2^53 compared exactly; a payload that is not JSON does not break the search */
    assert_int_equal(store_job_by_payload(f->s, "shopify.order", "shopify:s:order:", "name", "#1042", &j, &err), 1);
    assert_string_equal(j->ordering_key, "shopify:s:order:6150327861270");
    job_free(j);
    assert_int_equal(store_job_by_payload(f->s, "shopify.order", "shopify:s:order:", "id", "6150327861270", &j, &err),
                     1);
    job_free(j);
    assert_int_equal(store_job_by_payload(f->s, "shopify.order", "shopify:t:order:", "name", "#1042", &j, &err), 0);
    assert_int_equal(store_job_by_payload(f->s, "shopify.order", "shopify:s:order:", "name", "#1043", &j, &err), 0);

    store_link_t l = {.odoo_id = 42, .extra = "{\"lines\":\"ab\",\"name\":\"#1042\"}"};
    snprintf(l.odoo_model, sizeof(l.odoo_model), "sale.order");
    assert_int_equal(store_link_put(f->s, "shopify", "s", "order", "6150327861270", &l, &err), 0);
    store_link_t bad = {.odoo_id = 43, .extra = "oops"};
    snprintf(bad.odoo_model, sizeof(bad.odoo_model), "sale.order");
    assert_int_equal(store_link_put(f->s, "shopify", "s", "order", "7", &bad, &err), 0);
    char id[32];
    assert_int_equal(store_link_by_extra(f->s, "shopify", "s", "order", "name", "#1042", id, sizeof(id), &err), 1);
    assert_string_equal(id, "6150327861270");
    assert_int_equal(store_link_by_extra(f->s, "shopify", "s", "order", "name", "#1", id, sizeof(id), &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_effects_listed_by_subject_in_time_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_effects_pruned_past_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_jobs_get_a_correlation_and_count_duplicate_deliveries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_finders_for_the_trace, setup, teardown),
    };
    srandom((unsigned)getpid());
    return fx_run_both("store_effects", tests, sizeof(tests) / sizeof(tests[0]));
}
