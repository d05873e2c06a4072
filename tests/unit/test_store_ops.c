/* Unit tests for src/store/store_audit.c and store_ops.c: operator actions written with their audit row, bulk
 * retry/discard of exactly one cause, failures grouped by cause with counts and the newest sample, activity per
 * time bucket, the jobs query's free-text filter. */
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

#include "core/clock.h"
#include "queue/queue.h"
#include "store/store.h"

/* Times in the tests are offsets from T0, a little after the jobs' enqueue time (claims need run_at <= now). */
static int64_t T0;

typedef struct fx {
    char path[64];
    store_db_t *db;
    store_t *s;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "/tmp/synchub-ops-%d-%ld.db", getpid(), random());
    err_t err;
    f->db = store_db_open(f->path, 1000, &err);
    f->s = f->db ? store_connect(f->db, false, 0, &err) : NULL;
    if (!f->s)
        return -1;
    *state = f;
    T0 = clock_now_ms() + 1000;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    store_disconnect(f->s);
    store_db_close(f->db);
    char p[96];
    unlink(f->path);
    snprintf(p, sizeof(p), "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->path);
    unlink(p);
    free(f);
    return 0;
}

/* Enqueue a job with key okey and run it once to the given end (DEAD with cls/code, or DONE when cls is NONE).
 * The job's id goes to id. */
static void run_to_end(fx_t *f, const char *okey, const char *kind, err_class_t cls, const char *code, bool safe,
                       int64_t now, char id[JOB_ID_LEN + 1])
{
    job_new_t j = {0};
    queue_job_id(okey, strlen(okey), j.id);
    j.kind = kind;
    j.ordering_key = okey;
    j.payload = "{}";
    j.payload_len = 2;
    j.source = "unit";
    now += T0;
    j.event_time_ms = now;
    j.max_attempts = 1;
    j.lease_ms = 60000;
    bool dup;
    err_t err;
    assert_int_equal(store_enqueue(f->s, &j, 1, &dup, &err), 0);
    job_t *c = NULL;
    assert_int_equal(store_claim(f->s, "t", now, &c, NULL, &err), 1);
    assert_string_equal(c->id, j.id);
    err_t why;
    err_clear(&why);
    if (cls != ERR_NONE) {
        err_set(&why, cls, code, "failed with %s", code);
        err_record(&why, "record of %s", okey);
        why.retry_safe = safe;
    }
    assert_int_equal(store_finish(f->s, c, cls ? JOB_DEAD : JOB_DONE, 0, cls ? &why : NULL, NULL, now, &err), 0);
    memcpy(id, c->id, JOB_ID_LEN + 1);
    job_free(c);
}

static job_state_t state_of(fx_t *f, const char *id)
{
    job_t *j = NULL;
    err_t err;
    assert_int_equal(store_job_get(f->s, id, &j, &err), 1);
    job_state_t st = j->state;
    job_free(j);
    return st;
}

typedef struct rows {
    int n;
    char actor[8][32], action[8][32], target[8][80];
} rows_t;

static int collect(const store_audit_t *a, void *ud)
{
    rows_t *r = ud;
    if (r->n < 8) {
        snprintf(r->actor[r->n], 32, "%s", a->actor);
        snprintf(r->action[r->n], 32, "%s", a->action);
        snprintf(r->target[r->n], 80, "%s", a->target);
    }
    r->n++;
    return 0;
}

static void test_store_failures_grouped_by_cause(void **state)
{
    fx_t *f = *state;
    char id[JOB_ID_LEN + 1], newest[JOB_ID_LEN + 1];
    run_to_end(f, "k1", "shopify.order", ERR_DATA, "order.lines", true, 1000, id);
    run_to_end(f, "k2", "shopify.order", ERR_DATA, "order.lines", false, 2000, id);
    run_to_end(f, "k3", "stock.sku", ERR_DATA, "order.lines", true, 3000, newest);
    run_to_end(f, "k4", "stock.poll", ERR_CONFIGURATION, "shopify.auth", true, 4000, id);
    run_to_end(f, "k5", "stock.poll", ERR_NONE, NULL, true, 5000, id);
    store_cause_t *c = NULL;
    size_t n = 0;
    err_t err;
    assert_int_equal(store_failures(f->s, 0, &c, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(c[0].cls, ERR_DATA);
    assert_string_equal(c[0].code, "order.lines");
    assert_int_equal(c[0].count, 3);
    assert_int_equal(c[0].unsafe, 1);
    assert_int_equal(c[0].last_at, T0 + 3000);
    assert_string_equal(c[0].sample_id, newest);
    assert_string_equal(c[0].sample.record, "record of k3");
    assert_non_null(strstr(c[0].kinds, "shopify.order"));
    assert_non_null(strstr(c[0].kinds, "stock.sku"));
    assert_int_equal(c[1].cls, ERR_CONFIGURATION);
    assert_int_equal(c[1].count, 1);
    free(c);
}

static void test_store_bulk_retry_takes_exactly_one_cause_and_audits(void **state)
{
    fx_t *f = *state;
    char a1[JOB_ID_LEN + 1], a2[JOB_ID_LEN + 1], b1[JOB_ID_LEN + 1], c1[JOB_ID_LEN + 1];
    run_to_end(f, "k1", "x", ERR_DATA, "order.lines", true, 1000, a1);
    run_to_end(f, "k2", "x", ERR_DATA, "order.lines", true, 1000, a2);
    run_to_end(f, "k3", "x", ERR_DATA, "order.payload", true, 1000, b1);          /* same class, other code */
    run_to_end(f, "k4", "x", ERR_CONFIGURATION, "order.lines", true, 1000, c1);   /* same code, other class */
    int n = -1;
    err_t err;
    assert_int_equal(store_bulk_as(f->s, "token:alice", STORE_OP_RETRY, ERR_DATA, "order.lines", 2000, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(state_of(f, a1), JOB_QUEUED);
    assert_int_equal(state_of(f, a2), JOB_QUEUED);
    assert_int_equal(state_of(f, b1), JOB_DEAD);
    assert_int_equal(state_of(f, c1), JOB_DEAD);
    assert_int_equal(store_bulk_as(f->s, "cli:root", STORE_OP_DISCARD, ERR_CONFIGURATION, "order.lines", 2001, &n,
                                   &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(state_of(f, c1), JOB_DISCARDED);
    assert_int_equal(state_of(f, b1), JOB_DEAD);
    assert_int_equal(store_bulk_as(f->s, "x", STORE_OP_REPLAY, ERR_DATA, NULL, 2002, &n, &err), -1);
    rows_t r = {0};
    assert_int_equal(store_audit_list(f->s, 0, collect, &r, &err), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.actor[0], "cli:root");   /* newest first */
    assert_string_equal(r.action[0], "bulk-discard");
    assert_string_equal(r.target[0], "cause:configuration/order.lines");
    assert_string_equal(r.actor[1], "token:alice");
    assert_string_equal(r.action[1], "bulk-retry");
    assert_string_equal(r.target[1], "cause:data/order.lines");
}

static void test_store_operate_as_audits_only_what_happened(void **state)
{
    fx_t *f = *state;
    char dead[JOB_ID_LEN + 1], done[JOB_ID_LEN + 1], full[JOB_ID_LEN + 1];
    run_to_end(f, "k1", "x", ERR_DATA, "order.lines", true, 1000, dead);
    run_to_end(f, "k2", "x", ERR_NONE, NULL, true, 1000, done);
    err_t err;
    char prefix[9];
    snprintf(prefix, sizeof(prefix), "%.8s", dead);
    assert_int_equal(store_operate_as(f->s, "token:bob", prefix, STORE_OP_RETRY, 2000, full, &err), 0);
    assert_string_equal(full, dead);
    assert_int_equal(state_of(f, dead), JOB_QUEUED);
    /* A refused transition writes no audit row. */
    assert_int_equal(store_operate_as(f->s, "token:bob", done, STORE_OP_DISCARD, 2001, full, &err), -1);
    assert_string_equal(err.code, "job.state");
    assert_int_equal(store_operate_as(f->s, "cli:root", done, STORE_OP_REPLAY, 2002, full, &err), 0);
    assert_int_equal(store_audit_add(f->s, "token:bob", "reveal", dead, NULL, &err), 0);
    rows_t r = {0};
    assert_int_equal(store_audit_list(f->s, 0, collect, &r, &err), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.action[0], "reveal");
    assert_string_equal(r.action[1], "replay");
    assert_string_equal(r.actor[1], "cli:root");
    assert_string_equal(r.target[1], done);
    assert_string_equal(r.action[2], "retry");
    assert_string_equal(r.target[2], dead);    /* the full id, though a prefix was given */
    r.n = 0;
    assert_int_equal(store_audit_list(f->s, 1, collect, &r, &err), 0);
    assert_int_equal(r.n, 1);
}

static void test_store_activity_buckets_and_jobs_query(void **state)
{
    fx_t *f = *state;
    char id[JOB_ID_LEN + 1], other[JOB_ID_LEN + 1];
    run_to_end(f, "shopify:acme:order:1042", "x", ERR_NONE, NULL, true, 10500, id);
    run_to_end(f, "k2", "x", ERR_NONE, NULL, true, 11999, other);
    run_to_end(f, "k3", "x", ERR_DATA, "order.lines", true, 12000, other);
    run_to_end(f, "k4", "x", ERR_TRANSIENT, "odoo.unavailable", true, 13500, other);
    run_to_end(f, "k5", "x", ERR_NONE, NULL, true, 99000, other);   /* outside the window */
    store_bucket_t b[3];
    err_t err;
    assert_int_equal(store_activity(f->s, T0 + 10000, 2000, 3, b, &err), 0);
    assert_int_equal(b[0].start, T0 + 10000);
    assert_int_equal(b[0].done, 2);
    assert_int_equal(b[1].start, T0 + 12000);
    assert_int_equal(b[1].done, 0);
    assert_int_equal(b[1].failed[ERR_DATA], 1);
    assert_int_equal(b[1].failed[ERR_TRANSIENT], 1);
    assert_int_equal(b[2].done + b[2].failed[ERR_DATA] + b[2].failed[ERR_TRANSIENT], 0);

    store_filter_t fl = {-1, NULL, 0};
    job_t **jobs;
    size_t n;
    assert_int_equal(store_jobs_query(f->s, &fl, "order:1042", &jobs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0]->id, id);
    job_list_free(jobs, n);
    char prefix[9];
    snprintf(prefix, sizeof(prefix), "%.8s", other);
    assert_int_equal(store_jobs_query(f->s, &fl, prefix, &jobs, &n, &err), 0);
    assert_int_equal(n, 1);
    job_list_free(jobs, n);
    fl.state = JOB_DEAD;
    assert_int_equal(store_jobs_query(f->s, &fl, NULL, &jobs, &n, &err), 0);
    assert_int_equal(n, 2);
    job_list_free(jobs, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_failures_grouped_by_cause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_bulk_retry_takes_exactly_one_cause_and_audits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_operate_as_audits_only_what_happened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_activity_buckets_and_jobs_query, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
