/* Unit tests for src/queue/queue_breaker.c (the circuit breaker's state machine: closed → open → probing → open
 * with a growing interval → closed, which failures open it, the held jobs handed back) and for store_pause /
 * store_resume (src/store/store_sqlite_pause.c, store_pg_pause.c) on both engines: a paused job keeps its attempt budget, its
 * key stays blocked behind it, and resume makes it due at once. */
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
#include "queue/queue_breaker.h"
#include "store/store.h"

#include "store_fixture.h"

#define ODOO "odoo:shop@127.0.0.1:8069"
#define T0 1700000000000LL

static int probe_never(void *ud, err_t *err)
{
    (void)ud;
    return err_set(err, ERR_TRANSIENT, "http.connect", "refused");
}

static err_t outage(const char *target)
{
    err_t e;
    err_set(&e, ERR_TRANSIENT, "http.connect", "request to 127.0.0.1 failed: Connection refused");
    snprintf(e.target, sizeof(e.target), "%s", target);
    return e;
}

static queue_breaker_t *mk_breaker(void)
{
    queue_breaker_cfg_t c = {3, 10000, 1000, 8000, 300000};
    queue_breaker_t *b = queue_breaker_new(&c);
    assert_non_null(b);
    assert_int_equal(queue_breaker_add(b, ODOO, probe_never, NULL), 0);
    return b;
}

static queue_breaker_view_t view(queue_breaker_t *b)
{
    queue_breaker_view_t v[4];
    assert_int_equal(queue_breaker_views(b, v, 4), 1);
    return v[0];
}

static void test_breaker_opens_after_failures_within_the_window_only(void **state)
{
    (void)state;
    queue_breaker_t *b = mk_breaker();
    err_t e = outage(ODOO);
    int64_t run_at = 0;
    /* two failures, then the window passes: the third does not open it */
    assert_false(queue_breaker_failed(b, &e, T0, &run_at));
    assert_false(queue_breaker_failed(b, &e, T0 + 1000, &run_at));
    assert_false(queue_breaker_failed(b, &e, T0 + 20000, &run_at));
    assert_int_equal(view(b).state, BREAKER_CLOSED);
    /* a failure that is not an outage (no target), or of an unknown target, never counts */
    err_t data;
    err_set(&data, ERR_TRANSIENT, "odoo.server_error", "Odoo failed on sale.order.load: KeyError");
    err_t other = outage("odoo:other@10.0.0.1");
    assert_false(queue_breaker_failed(b, &data, T0 + 20100, &run_at));
    assert_false(queue_breaker_failed(b, &other, T0 + 20200, &run_at));
    assert_false(queue_breaker_failed(b, &other, T0 + 20300, &run_at));
    assert_int_equal(view(b).state, BREAKER_CLOSED);
    /* two more within the window (three with the one at +20 s): open, and this failure is already paused */
    assert_false(queue_breaker_failed(b, &e, T0 + 21000, &run_at));
    assert_true(queue_breaker_failed(b, &e, T0 + 22000, &run_at));
    assert_int_equal(run_at, T0 + 22000 + 300000);
    queue_breaker_view_t v = view(b);
    assert_int_equal(v.state, BREAKER_OPEN);
    assert_int_equal(v.since, T0 + 22000);
    assert_string_equal(v.system, "odoo");
    /* while open, every outage failure on it pauses */
    assert_true(queue_breaker_failed(b, &e, T0 + 22500, &run_at));
    queue_breaker_free(b);
}

static void test_breaker_probes_at_a_growing_interval_then_closes_and_hands_back_the_held_jobs(void **state)
{
    (void)state;
    queue_breaker_t *b = mk_breaker();
    err_t e = outage(ODOO);
    int64_t run_at = 0, now = T0, next = 0;
    for (int i = 0; i < 3; i++)
        queue_breaker_failed(b, &e, now, &run_at);
    assert_true(queue_breaker_hold(b, ODOO, "0123456789abcdef0123456789abcdef"));
    assert_true(queue_breaker_hold(b, ODOO, "fedcba9876543210fedcba9876543210"));
    assert_true(queue_breaker_hold(b, ODOO, "0123456789abcdef0123456789abcdef")); /* paused again: held once */
    assert_int_equal(view(b).paused, 2);

    char target[128];
    /* the first probe: about probe_min (±20 %) after opening, not before */
    assert_int_equal(queue_breaker_probe_due(b, now, target, sizeof(target), &next), 0);
    assert_in_range(next, now + 800, now + 1200);
    int64_t expect[] = {2000, 4000, 8000, 8000}; /* doubling, capped at probe_max */
    for (int round = 0; round < 4; round++) {
        now = next;
        assert_int_equal(queue_breaker_probe_due(b, now, target, sizeof(target), &next), 1);
        assert_string_equal(target, ODOO);
        assert_int_equal(view(b).state, BREAKER_PROBING);
        /* only one probe at a time: while it runs nothing else is due */
        assert_int_equal(queue_breaker_probe_due(b, now + 100000, target, sizeof(target), &next), 0);
        /* a job failing meanwhile is still paused */
        assert_true(queue_breaker_failed(b, &e, now, &run_at));
        err_t why;
        err_set(&why, ERR_TRANSIENT, "http.connect", "refused");
        char *ids = NULL;
        size_t nids = 0;
        queue_breaker_probed(b, ODOO, false, &why, now, &ids, &nids);
        assert_null(ids);
        queue_breaker_view_t v = view(b);
        assert_int_equal(v.state, BREAKER_OPEN);
        assert_int_equal(v.interval_ms, expect[round]);
        assert_in_range(v.next_probe, now + expect[round] * 8 / 10, now + expect[round] * 12 / 10);
        assert_int_equal(queue_breaker_probe_due(b, now, target, sizeof(target), &next), 0);
        assert_int_equal(next, v.next_probe);
    }
    now = next;
    assert_int_equal(queue_breaker_probe_due(b, now, target, sizeof(target), &next), 1);
    char *ids = NULL;
    size_t nids = 0;
    queue_breaker_probed(b, ODOO, true, NULL, now, &ids, &nids);
    assert_int_equal(nids, 2);
    assert_string_equal(ids, "0123456789abcdef0123456789abcdef");
    assert_string_equal(ids + JOB_ID_LEN + 1, "fedcba9876543210fedcba9876543210");
    free(ids);
    queue_breaker_view_t v = view(b);
    assert_int_equal(v.state, BREAKER_CLOSED);
    assert_int_equal(v.paused, 0);
    assert_int_equal(v.probes, 5);
    assert_int_equal(v.probe_failures, 4);
    /* closed: a failure retries normally again, a late hold says "resume it yourself" */
    assert_false(queue_breaker_failed(b, &e, now + 1, &run_at));
    assert_false(queue_breaker_hold(b, ODOO, "0123456789abcdef0123456789abcdef"));
    /* reopening starts again from probe_min */
    queue_breaker_failed(b, &e, now + 2, &run_at);
    assert_true(queue_breaker_failed(b, &e, now + 3, &run_at));
    assert_int_equal(view(b).interval_ms, 1000);
    assert_int_equal(view(b).opened, 2);
    queue_breaker_free(b);
}

static void test_breaker_off_and_published_form(void **state)
{
    (void)state;
    queue_breaker_cfg_t c = {0, 10000, 1000, 8000, 300000};
    queue_breaker_t *b = queue_breaker_new(&c);
    assert_int_equal(queue_breaker_add(b, ODOO, probe_never, NULL), 0);
    err_t e = outage(ODOO);
    int64_t run_at = 0;
    for (int i = 0; i < 10; i++)
        assert_false(queue_breaker_failed(b, &e, T0 + i, &run_at));
    queue_breaker_free(b);
    assert_false(queue_breaker_failed(NULL, &e, T0, &run_at));

    queue_breaker_view_t v = {.state = BREAKER_OPEN, .since = T0, .paused = 12, .probes = 3}, w;
    char text[96];
    queue_breaker_format(&v, text, sizeof(text));
    memset(&w, 0, sizeof(w));
    assert_int_equal(queue_breaker_parse(text, &w), 0);
    assert_int_equal(w.state, BREAKER_OPEN);
    assert_int_equal(w.since, T0);
    assert_int_equal(w.paused, 12);
    assert_int_equal(w.probes, 3);
    assert_int_equal(queue_breaker_parse("garbage", &w), -1);
}

/* ---- the store side, on both engines ------------------------------------------------------------------------- */

static void test_store_pause_keeps_the_attempt_budget_and_resume_makes_it_due(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t jobs[2] = {fx_job("p1", "order:1", 1000, 3), fx_job("p2", "order:1", 2000, 3)};
    bool dup[2];
    assert_int_equal(store_enqueue(f->s, jobs, 2, dup, &err), 0);
    err_t why = outage(ODOO);
    int64_t now = clock_now_ms() + 1000; /* the jobs are due from their enqueue on */
    for (int round = 1; round <= 5; round++) { /* more pauses than max_attempts: none is counted */
        job_t *j = NULL;
        assert_int_equal(store_claim(f->s, "w1", now, &j, NULL, &err), 1);
        assert_string_equal(j->id, jobs[0].id);
        assert_int_equal(j->attempts, 1);
        assert_int_equal(store_pause(f->s, j, now + 300000, &why, now, &err), 0);
        /* a second pause of the same claim: the lease is gone */
        assert_int_equal(store_pause(f->s, j, now + 300000, &why, now, &err), 1);
        job_free(j);
        job_t *g = NULL;
        assert_int_equal(store_job_get(f->s, jobs[0].id, &g, &err), 1);
        assert_int_equal(g->state, JOB_RETRY);
        assert_int_equal(g->attempts, 0);
        assert_int_equal(g->run_at, now + 300000);
        assert_string_equal(g->last_error.code, "http.connect");
        job_attempt_t *h = NULL;
        size_t nh = 0;
        assert_int_equal(store_attempts(f->s, g, &h, &nh, &err), 0);
        assert_int_equal(nh, 1);
        assert_string_equal(h[0].outcome, "paused");
        free(h);
        job_free(g);
        /* paused, not due: nothing to claim, and its key's later event waits behind it */
        int64_t next_due = 0;
        assert_int_equal(store_claim(f->s, "w1", now, &j, &next_due, &err), 0);
        assert_int_equal(next_due, now + 300000);
        /* resume: due now (a job in another state, or unknown, is left alone) */
        const char *ids[] = {jobs[0].id, jobs[1].id, "00000000000000000000000000000000"};
        int n = -1;
        now += 1000;
        assert_int_equal(store_resume(f->s, ids, 3, now, &n, &err), 0);
        assert_int_equal(n, 1);
    }
    job_t *j = NULL;
    assert_int_equal(store_claim(f->s, "w1", now, &j, NULL, &err), 1);
    assert_string_equal(j->id, jobs[0].id);
    assert_int_equal(j->attempts, 1);
    assert_int_equal(store_finish(f->s, j, JOB_DONE, 0, NULL, NULL, now, &err), 0);
    job_free(j);
    assert_int_equal(store_claim(f->s, "w1", now, &j, NULL, &err), 1);
    assert_string_equal(j->id, jobs[1].id);
    job_free(j);
    int n = -1;
    assert_int_equal(store_resume(f->s, NULL, 0, now, &n, &err), 0);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_breaker_opens_after_failures_within_the_window_only),
        cmocka_unit_test(test_breaker_probes_at_a_growing_interval_then_closes_and_hands_back_the_held_jobs),
        cmocka_unit_test(test_breaker_off_and_published_form),
    };
    const struct CMUnitTest store[] = {
        cmocka_unit_test_setup_teardown(test_store_pause_keeps_the_attempt_budget_and_resume_makes_it_due, setup,
                                        teardown),
    };
    srandom((unsigned)getpid());
    int rc = cmocka_run_group_tests_name("breaker", pure, NULL, NULL);
    return rc | fx_run_both("breaker_store", store, sizeof(store) / sizeof(store[0]));
}
