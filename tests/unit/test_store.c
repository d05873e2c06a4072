/* Unit tests for src/store and src/queue: idempotent enqueue, the state machine, per-key ordering (heads),
 * leases (lost lease, expiry), operator transitions, job ids, backoff and Shopify event classification; the
 * operator's audited actions (single and by cause) and the dashboard's queries (failures by cause, activity
 * buckets, jobs query). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/clock.h"
#include "ingest/ingest.h"
#include "queue/queue.h"
#include "store/store.h"
#include "store/store_sqlite.h"
#include "store/store_vfs.h"

#include "store_fixture.h"

static job_new_t mk(const char *idem, const char *okey, int64_t event_time, int max_attempts)
{
    return fx_job(idem, okey, event_time, max_attempts);
}

static job_t *claim(fx_t *f, int64_t now)
{
    job_t *j = NULL;
    err_t err;
    assert_true(store_claim(f->s, "t", now, &j, NULL, &err) >= 0);
    return j;
}

static void test_enqueue_is_idempotent(void **state)
{
    fx_t *f = *state;
    job_new_t jobs[3] = {mk("a", "k1", 1, 3), mk("b", "k2", 1, 3), mk("a", "k1", 1, 3)};
    bool dup[3];
    err_t err;
    assert_int_equal(store_enqueue(f->s, jobs, 3, dup, &err), 0);
    assert_false(dup[0]);
    assert_false(dup[1]);
    assert_true(dup[2]); /* same id in the same transaction */
    assert_int_equal(store_enqueue(f->s, jobs, 1, dup, &err), 0);
    assert_true(dup[0]);
    store_stats_t st;
    assert_int_equal(store_stats(f->s, clock_now_ms(), &st, &err), 0);
    assert_true(st.by_state[JOB_QUEUED] == 2);
}

static void test_job_id_is_deterministic(void **state)
{
    (void)state;
    char a[JOB_ID_LEN + 1], b[JOB_ID_LEN + 1], c[JOB_ID_LEN + 1];
    queue_job_id("shopify|x|orders/create|1|e:9", 29, a);
    queue_job_id("shopify|x|orders/create|1|e:9", 29, b);
    queue_job_id("shopify|x|orders/create|1|e:8", 29, c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), JOB_ID_LEN);
}

static void test_one_key_runs_one_job_oldest_event_first(void **state)
{
    fx_t *f = *state;
    err_t err;
    /* Arrive out of order: event 3, then 1, then 2; plus an unrelated key. */
    job_new_t jobs[4] = {mk("e3", "order:1", 3000, 3), mk("e1", "order:1", 1000, 3), mk("e2", "order:1", 2000, 3),
                         mk("other", "order:2", 5000, 3)};
    assert_int_equal(store_enqueue(f->s, jobs, 4, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *first = claim(f, now);
    job_t *second = claim(f, now);
    assert_non_null(first);
    assert_non_null(second);
    job_t *k1 = strcmp(first->ordering_key, "order:1") == 0 ? first : second;
    job_t *k2 = k1 == first ? second : first;
    assert_string_equal(k2->ordering_key, "order:2");
    assert_true(k1->event_time == 1000);
    assert_null(claim(f, now)); /* order:1 is busy, order:2 busy: nothing else claimable */
    assert_int_equal(store_finish(f->s, k1, JOB_DONE, 0, NULL, NULL, now, &err), 0);
    job_t *next = claim(f, now);
    assert_non_null(next);
    assert_true(next->event_time == 2000);
    /* A retry keeps the key blocked behind it (order is kept across failures). */
    err_t why;
    err_set(&why, ERR_TRANSIENT, "t", "flap");
    assert_int_equal(store_finish(f->s, next, JOB_RETRY, now + 100000, &why, NULL, now, &err), 0);
    assert_null(claim(f, now));
    job_t *again = claim(f, now + 100001);
    assert_non_null(again);
    assert_string_equal(again->id, next->id);
    assert_int_equal(again->attempts, 2);
    job_free(first);
    job_free(second);
    job_free(next);
    job_free(again);
}

/* The worker pool's group commit: a batch claim takes heads only (one job per key), and the batch that finishes a
 * key's job may claim that key's next one in the same transaction, oldest event first; an outcome whose lease was
 * lost is reported, not written. */
static void test_finish_batch_claims_heads_only_and_keeps_key_order(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t jobs[5] = {mk("a3", "A", 3000, 3), mk("a1", "A", 1000, 3), mk("a2", "A", 2000, 3), mk("b1", "B", 1, 3),
                         mk("c1", "C", 1, 3)};
    assert_int_equal(store_enqueue(f->s, jobs, 5, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *got[10];
    size_t n = 0;
    int64_t next_due = -1;
    assert_int_equal(store_finish_batch(f->s, NULL, 0, now, "t", 10, got, &n, &next_due, &err), 0);
    assert_int_equal(n, 3); /* A, B and C: one head each, A's a2 and a3 wait */
    job_t *a = NULL, *b = NULL, *c = NULL;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(got[i]->state, JOB_RUNNING);
        if (!strcmp(got[i]->ordering_key, "A"))
            a = got[i];
        else if (!strcmp(got[i]->ordering_key, "B"))
            b = got[i];
        else
            c = got[i];
    }
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(a->event_time == 1000);
    assert_true(a->lease_token != b->lease_token && b->lease_token != c->lease_token);

    /* A done, B with a token it does not hold (its lease was lost), C retried later: then claim again. */
    job_t stale = *b;
    stale.lease_token = b->lease_token + 1;
    err_t why;
    err_set(&why, ERR_TRANSIENT, "t", "flap");
    store_outcome_t outs[3] = {{.job = a, .to = JOB_DONE}, {.job = &stale, .to = JOB_DONE},
                               {.job = c, .to = JOB_RETRY, .run_at = now + 100000, .why = &why}};
    job_t *more[10];
    size_t m = 0;
    assert_int_equal(store_finish_batch(f->s, outs, 3, now, "t", 10, more, &m, &next_due, &err), 0);
    assert_int_equal(outs[0].result, 0);
    assert_int_equal(outs[1].result, 1);
    assert_int_equal(outs[2].result, 0);
    assert_int_equal(m, 1); /* a2 only: B still runs (under its real token), C waits for its retry time */
    assert_string_equal(more[0]->ordering_key, "A");
    assert_true(more[0]->event_time == 2000);
    assert_true(next_due == now + 100000);
    job_t *j = NULL;
    assert_int_equal(store_job_get(f->s, b->id, &j, &err), 1);
    assert_int_equal(j->state, JOB_RUNNING);
    job_free(j);
    for (size_t i = 0; i < n; i++)
        job_free(got[i]);
    job_free(more[0]);
}

static job_t *fx_get(fx_t *f, const char *id)
{
    job_t *j = NULL;
    err_t err;
    assert_int_equal(store_job_get(f->s, id, &j, &err), 1);
    return j;
}

/* The outcome of the last attempt of job (its history as store_attempts reads it). */
static void assert_last_attempt(fx_t *f, const job_t *job, const char *outcome)
{
    job_attempt_t *at = NULL;
    size_t n = 0;
    err_t err;
    assert_int_equal(store_attempts(f->s, job, &at, &n, &err), 0);
    assert_true(n >= 1);
    assert_string_equal(at[n - 1].outcome, outcome);
    free(at);
}

/* job has exactly one attempt, with this outcome, worker and start (started_at 0: not checked). */
static void assert_only_attempt(fx_t *f, const job_t *job, const char *outcome, const char *worker, int64_t started_at)
{
    job_attempt_t *at = NULL;
    size_t n = 0;
    err_t err;
    assert_int_equal(store_attempts(f->s, job, &at, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(at[0].outcome, outcome);
    assert_string_equal(at[0].worker, worker);
    if (started_at)
        assert_int_equal(at[0].started_at, started_at);
    free(at);
}

/* job DONE in a round of its own that claims up to want jobs into more (*m of them): its result (0 recorded, 1 the
 * lease was lost). */
static int finish_done(fx_t *f, const job_t *job, int64_t now, size_t want, job_t **more, size_t *m)
{
    err_t err;
    store_outcome_t o = {.job = job, .to = JOB_DONE};
    assert_int_equal(store_finish_batch(f->s, &o, 1, now, "t", want, more, m, NULL, &err), 0);
    return o.result;
}

/* One round that only claims: up to want heads into got. Returns how many. */
static size_t claim_round(fx_t *f, int64_t now, size_t want, job_t **got)
{
    err_t err;
    size_t n = 0;
    assert_int_equal(store_finish_batch(f->s, NULL, 0, now, "t", want, got, &n, NULL, &err), 0);
    return n;
}

/* A round that ends a key's job and claims hands the key's next job to its claim only when that job is among the
 * most urgent heads (priority, then due time), as the claim alone would: a more urgent head of another key goes
 * first, and the next job stays a ready head, leased by a later round with a working lease and attempt. */
static void test_finish_batch_next_head_waits_for_a_more_urgent_head(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t a[2] = {mk("pa1", "PA", 1, 3), mk("pa2", "PA", 2, 3)};
    assert_int_equal(store_enqueue(f->s, a, 2, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *a1 = claim(f, now);
    assert_non_null(a1);
    assert_string_equal(a1->id, a[0].id);
    job_new_t b = mk("pb1", "PB", 1, 3);
    b.priority = 5;
    assert_int_equal(store_enqueue(f->s, &b, 1, NULL, &err), 0);
    job_t *more[4];
    size_t m = 0;
    assert_int_equal(finish_done(f, a1, now + 20, 1, more, &m), 0);
    assert_int_equal(m, 1);
    assert_string_equal(more[0]->id, b.id); /* the more urgent head, not PA's next job */
    job_t *a2 = fx_get(f, a[1].id);
    assert_int_equal(a2->state, JOB_QUEUED);
    job_free(a2);
    job_t *b1 = more[0];
    assert_int_equal(finish_done(f, b1, now + 30, 2, more, &m), 0);
    assert_int_equal(m, 1);
    assert_string_equal(more[0]->id, a[1].id);
    assert_last_attempt(f, more[0], "running");
    assert_int_equal(finish_done(f, more[0], now + 40, 0, NULL, &m), 0);
    assert_last_attempt(f, more[0], "done");
    job_free(more[0]);
    job_free(b1);
    job_free(a1);
}

/* When the key's next job is the most urgent, the round that ends its predecessor claims it at once, with a lease
 * the next round's outcome holds and an attempt that shows as running with the pool's worker. */
static void test_finish_batch_claims_the_next_job_of_a_key_it_ends(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t a[3] = {mk("qa1", "QA", 1, 3), mk("qa2", "QA", 2, 3), mk("qb1", "QB", 3, 3)};
    assert_int_equal(store_enqueue(f->s, a, 3, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *got[4];
    size_t n = claim_round(f, now, 1, got);
    assert_int_equal(n, 1);
    assert_string_equal(got[0]->id, a[0].id);
    job_t *more[4];
    size_t m = 0;
    assert_int_equal(finish_done(f, got[0], now + 10, 3, more, &m), 0);
    assert_int_equal(m, 2); /* QA's next job and QB's head */
    for (size_t i = 0; i < m; i++) {
        assert_int_equal(more[i]->state, JOB_RUNNING);
        job_attempt_t *at = NULL;
        size_t na = 0;
        assert_int_equal(store_attempts(f->s, more[i], &at, &na, &err), 0);
        assert_int_equal(na, 1);
        assert_string_equal(at[0].outcome, "running");
        assert_string_equal(at[0].worker, "t");
        free(at);
    }
    job_t *next[4];
    size_t k = 0;
    store_outcome_t o[2] = {{.job = more[0], .to = JOB_DONE}, {.job = more[1], .to = JOB_DONE}};
    assert_int_equal(store_finish_batch(f->s, o, 2, now + 20, "t", 4, next, &k, NULL, &err), 0);
    assert_int_equal(o[0].result, 0); /* both leases held, the handed one's too */
    assert_int_equal(o[1].result, 0);
    assert_int_equal(k, 0);
    store_stats_t st;
    assert_int_equal(store_stats(f->s, now + 30, &st, &err), 0);
    assert_int_equal(st.by_state[JOB_DONE], 3);
    for (size_t i = 0; i < m; i++)
        job_free(more[i]);
    job_free(got[0]);
}

/* One round that claims every head (room for room): the keys are one letter each, 'A' + k; by[k] gets key k's
 * claimed job, and every one of the nkeys keys must have one. stale_a and stale_c get copies of A's and C's claims
 * under another lease token (a result recorded for them must be void), dead the error a void DEAD carries.
 * Returns how many were claimed (nkeys). */
static size_t claim_by_key(fx_t *f, int64_t now, job_t **got, size_t room, job_t **by, int nkeys, job_t *stale_a,
                           job_t *stale_c, err_t *dead)
{
    size_t n = claim_round(f, now, room, got);
    assert_int_equal(n, nkeys);
    for (int k = 0; k < nkeys; k++)
        by[k] = NULL;
    for (size_t i = 0; i < n; i++)
        by[got[i]->ordering_key[0] - 'A'] = got[i];
    for (int k = 0; k < nkeys; k++)
        assert_non_null(by[k]);
    *stale_a = *by[0];
    *stale_c = *by[2];
    stale_a->lease_token++;
    stale_c->lease_token++;
    err_set(dead, ERR_DATA, "x.bad", "must not be written");
    return n;
}

/* A batch whose outcomes mix held and lost leases, two of them on one key (a stale outcome and the real one of the
 * same job): each result lands on its own outcome, a lost one writes nothing (no state, no error, no attempt), the
 * key's next job becomes the head in this very commit (claimed by it), a RETRY stays the head with its error (text
 * that looks like array syntax reads back as it was), a DONE job keeps no error. */
static void test_finish_batch_lost_lease_mid_batch_and_two_outcomes_on_one_key(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t jobs[6] = {mk("a1", "A", 1000, 3), mk("a2", "A", 2000, 3), mk("b1", "B", 1, 3), mk("c1", "C", 1, 3),
                         mk("d1", "D", 1000, 3), mk("d2", "D", 2000, 3)};
    assert_int_equal(store_enqueue(f->s, jobs, 6, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *got[10], *by[4]; /* A B C D */
    job_t stale_a, stale_c;
    err_t dead, flap;
    size_t n = claim_by_key(f, now, got, 10, by, 4, &stale_a, &stale_c, &dead);
    err_set(&flap, ERR_TRANSIENT, "x.flap", "say \"NULL\", {a,b} \\ \"} end");
    store_outcome_t outs[5] = {
        {.job = &stale_a, .to = JOB_DEAD, .why = &dead},
        {.job = by[1], .to = JOB_DONE, .note = "note \"q\""},
        {.job = &stale_c, .to = JOB_DONE},
        {.job = by[0], .to = JOB_DONE},
        {.job = by[3], .to = JOB_RETRY, .run_at = now + 100000, .why = &flap},
    };
    job_t *more[10];
    size_t m = 0;
    int64_t next_due = -1;
    assert_int_equal(store_finish_batch(f->s, outs, 5, now, "t", 10, more, &m, &next_due, &err), 0);
    int want[5] = {1, 0, 1, 0, 0};
    for (int i = 0; i < 5; i++)
        assert_int_equal(outs[i].result, want[i]);
    assert_int_equal(m, 1); /* a2: A's next, made head by this batch; D waits behind its retry, C still runs */
    assert_string_equal(more[0]->ordering_key, "A");
    assert_true(more[0]->event_time == 2000);
    assert_true(next_due == now + 100000);

    job_t *j = fx_get(f, by[0]->id);
    assert_int_equal(j->state, JOB_DONE); /* the real outcome, not the stale DEAD */
    assert_int_equal(j->last_error.cls, ERR_NONE);
    assert_last_attempt(f, j, "done");
    job_free(j);
    j = fx_get(f, by[1]->id);
    assert_int_equal(j->state, JOB_DONE);
    assert_int_equal(j->last_error.cls, ERR_NONE);
    assert_last_attempt(f, j, "done");
    job_free(j);
    j = fx_get(f, by[2]->id);
    assert_int_equal(j->state, JOB_RUNNING); /* lost lease: untouched */
    assert_int_equal(j->last_error.cls, ERR_NONE);
    assert_last_attempt(f, j, "running");
    job_free(j);
    j = fx_get(f, by[3]->id);
    assert_int_equal(j->state, JOB_RETRY);
    assert_string_equal(j->last_error.code, "x.flap");
    assert_string_equal(j->last_error.message, flap.message);
    assert_last_attempt(f, j, "retry");
    job_free(j);
    /* D's second job is not claimable before d1 is done; C's lease-holder can still finish. */
    job_t *none[10];
    size_t z = 0;
    assert_int_equal(finish_done(f, by[2], now, 10, none, &z), 0);
    assert_int_equal(z, 0);
    for (size_t i = 0; i < n; i++)
        job_free(got[i]);
    job_free(more[0]);
}

/* per_key jobs on each of the keys A to F, the key's g-th at event time 1000 * (g + 1). */
static void enqueue_six_keys(fx_t *f, int per_key)
{
    static const char *const keys[6] = {"A", "B", "C", "D", "E", "F"};
    job_new_t jobs[6 * 4];
    char idem[6 * 4][16];
    assert_true(per_key >= 1 && per_key <= 4);
    for (int i = 0; i < 6 * per_key; i++) {
        snprintf(idem[i], sizeof(idem[i]), "x%d", i);
        jobs[i] = mk(idem[i], keys[i % 6], 1000 * (i / 6 + 1), 3);
    }
    err_t err;
    assert_int_equal(store_enqueue(f->s, jobs, (size_t)(6 * per_key), NULL, &err), 0);
}

/* A round with enough plain DONE outcomes for SQLite's set-based path (finish_done_many_locked) among others: a
 * stale DONE in the set records nothing, a DONE with a note and the failures go one by one; each finished key's next
 * job becomes head and is claimed in the same round; each attempt is written once with its worker, start and end. */
static void test_finish_batch_mixed_round_records_each_outcome_once(void **state)
{
    fx_t *f = *state;
    err_t err;
    enqueue_six_keys(f, 2);
    int64_t now = clock_now_ms() + 10;
    job_t *got[12], *by[6];
    job_t stale_a, stale_c;
    err_t dead, flap;
    size_t n = claim_by_key(f, now, got, 12, by, 6, &stale_a, &stale_c, &dead);
    err_set(&flap, ERR_TRANSIENT, "x.flap", "later");
    store_outcome_t outs[7] = {
        {.job = &stale_a, .to = JOB_DEAD, .why = &dead},
        {.job = by[1], .to = JOB_DONE, .note = "kept"},
        {.job = &stale_c, .to = JOB_DONE, .note = ""},
        {.job = by[0], .to = JOB_DONE},
        {.job = by[4], .to = JOB_DONE, .note = ""},
        {.job = by[5], .to = JOB_DONE},
        {.job = by[3], .to = JOB_RETRY, .run_at = now + 100000, .why = &flap},
    };
    job_t *more[12];
    size_t m = 0;
    assert_int_equal(store_finish_batch(f->s, outs, 7, now + 5, "t2", 12, more, &m, NULL, &err), 0);
    int want[7] = {1, 0, 1, 0, 0, 0, 0};
    for (int i = 0; i < 7; i++)
        assert_int_equal(outs[i].result, want[i]);
    /* A, B, E, F move on to their second job; C still runs, D waits behind its retry */
    assert_int_equal(m, 4);
    char seen[8] = "";
    for (size_t i = 0; i < m; i++) {
        assert_true(more[i]->event_time == 2000);
        strncat(seen, more[i]->ordering_key, 1);
        job_free(more[i]);
    }
    assert_true(strchr(seen, 'A') && strchr(seen, 'B') && strchr(seen, 'E') && strchr(seen, 'F'));
    const int done_keys[4] = {0, 1, 4, 5};
    for (int k = 0; k < 4; k++) {
        job_t *j = fx_get(f, by[done_keys[k]]->id);
        assert_int_equal(j->state, JOB_DONE);
        assert_int_equal(j->last_error.cls, ERR_NONE);
        assert_true(j->finished_at == now + 5);
        assert_int_equal(j->lease_until, 0);
        assert_only_attempt(f, j, "done", "t", by[done_keys[k]]->updated_at);
        job_attempt_t *at = NULL;
        size_t na = 0;
        assert_int_equal(store_attempts(f->s, j, &at, &na, &err), 0);
        assert_true(at[0].finished_at == now + 5);
        assert_string_equal(at[0].error.message, done_keys[k] == 1 ? "kept" : "");
        free(at);
        job_free(j);
    }
    job_t *j = fx_get(f, by[2]->id);
    assert_int_equal(j->state, JOB_RUNNING);
    assert_last_attempt(f, j, "running");
    job_free(j);
    j = fx_get(f, by[3]->id);
    assert_int_equal(j->state, JOB_RETRY);
    assert_only_attempt(f, j, "retry", "t", 0);
    job_free(j);
    for (size_t i = 0; i < n; i++)
        job_free(got[i]);
}

/* A round may hold two outcomes of one job: a stale one, run under a lease the job lost (it expired and the job was
 * claimed again), and the current one. Among enough plain DONE outcomes for SQLite's set-based path, with the
 * stale copy before and after the current one: the current outcome is recorded, the stale one is void. */
static void test_finish_batch_two_outcomes_of_one_job_in_the_set(void **state)
{
    fx_t *f = *state;
    err_t err;
    enqueue_six_keys(f, 1);
    int64_t now = clock_now_ms() + 10;
    job_t *got[6], *by[6];
    job_t stale_a, stale_c;
    err_t dead;
    size_t n = claim_by_key(f, now, got, 6, by, 6, &stale_a, &stale_c, &dead);
    store_outcome_t outs[8] = {
        {.job = &stale_a, .to = JOB_DONE}, {.job = by[0], .to = JOB_DONE}, {.job = by[1], .to = JOB_DONE},
        {.job = by[2], .to = JOB_DONE},    {.job = &stale_c, .to = JOB_DONE}, {.job = by[3], .to = JOB_DONE},
        {.job = by[4], .to = JOB_DONE},    {.job = by[5], .to = JOB_DONE},
    };
    job_t *more[6];
    size_t m = 0;
    assert_int_equal(store_finish_batch(f->s, outs, 8, now, "t", 0, more, &m, NULL, &err), 0);
    int want[8] = {1, 0, 0, 0, 1, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        assert_int_equal(outs[i].result, want[i]);
    for (int k = 0; k < 6; k++) {
        job_t *j = fx_get(f, by[k]->id);
        assert_int_equal(j->state, JOB_DONE);
        assert_only_attempt(f, j, "done", "t", by[k]->updated_at);
        job_free(j);
    }
    for (size_t i = 0; i < n; i++)
        job_free(got[i]);
}

/* A pool with a local queue hands the store hundreds of outcomes at once: 400 keys with two jobs each, all heads
 * finished in one batch that claims every next job in the same commit. */
static int count_statement(unsigned type, void *ctx, void *p, void *x)
{
    (void)type;
    (void)p;
    (void)x;
    (*(int *)ctx)++;
    return 0;
}

static void test_finish_batch_of_hundreds(void **state)
{
    fx_t *f = *state;
    err_t err;
    enum { KEYS = 400 };
    static job_new_t jobs[2 * KEYS];
    static char idem[2 * KEYS][16], key[KEYS][16];
    for (int k = 0; k < KEYS; k++) {
        snprintf(key[k], sizeof(key[k]), "k%d", k);
        for (int g = 0; g < 2; g++) {
            snprintf(idem[2 * k + g], sizeof(idem[0]), "h%d.%d", k, g);
            jobs[2 * k + g] = mk(idem[2 * k + g], key[k], 1000 * (g + 1), 3);
        }
    }
    assert_int_equal(store_enqueue(f->s, jobs, 2 * KEYS, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    static job_t *got[KEYS], *next[KEYS];
    static store_outcome_t outs[KEYS];
    size_t n = 0, m = 0;
    assert_int_equal(store_finish_batch(f->s, NULL, 0, now, "t", KEYS, got, &n, NULL, &err), 0);
    assert_int_equal(n, KEYS);
    for (size_t i = 0; i < n; i++) {
        assert_true(got[i]->event_time == 1000);
        outs[i] = (store_outcome_t){.job = got[i], .to = JOB_DONE};
    }
    int statements = 0;
    if (f->path[0])
        sqlite3_trace_v2(store__conn(f->s), SQLITE_TRACE_STMT, count_statement, &statements);
    assert_int_equal(store_finish_batch(f->s, outs, n, now, "t", KEYS, next, &m, NULL, &err), 0);
    if (f->path[0]) {
        sqlite3_trace_v2(store__conn(f->s), 0, NULL, NULL);
        /* SQLite records a round's DONE outcomes set-based: a few statements, not three per job */
        assert_true(statements < 12);
    }
    assert_int_equal(m, KEYS);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(outs[i].result, 0);
        assert_only_attempt(f, got[i], "done", "t", got[i]->updated_at);
        assert_true(next[i]->event_time == 2000);
        job_free(got[i]);
        job_free(next[i]);
    }
}

/* SCATTERED_KEYS keys of 10 jobs each, each key's earliest event at one of ten places among its jobs: the heads lie
 * all over the table, as in a long backlog. */
#define SCATTERED_KEYS 600
static void enqueue_scattered_heads(fx_t *f)
{
    enum { PER_KEY = 10, N = SCATTERED_KEYS * PER_KEY };
    static job_new_t jobs[N];
    static char idem[N][16], key[SCATTERED_KEYS][16];
    for (int i = 0; i < N; i++) {
        int k = i % SCATTERED_KEYS, g = i / SCATTERED_KEYS;
        snprintf(idem[i], sizeof(idem[i]), "m%d", i);
        snprintf(key[k], sizeof(key[k]), "mk%d", k);
        jobs[i] = mk(idem[i], key[k], (g + 3 * k) % PER_KEY, 3);
    }
    err_t err;
    assert_int_equal(store_enqueue(f->s, jobs, N, NULL, &err), 0);
}

/* SQLite: claiming hundreds of heads in one statement, and finishing them in one round, costs no copy of the pages
 * they change. A multi-row UPDATE that may abort keeps a statement journal (in memory) holding the original of
 * every page it touches: as much memory again as those pages, at the peak of every round of a pool with a local
 * queue (issue 18). The scattered heads of 600 keys: a fresh connection, whose cache starts empty, claims them
 * all, then another finishes them: each transient peak must stay well under what the pages it read and changed
 * take in that cache. */
static void test_finish_batch_claims_without_a_copy_of_every_page(void **state)
{
    fx_t *f = *state;
    if (fx_pg_url)
        return;
    err_t err;
    enum { KEYS = SCATTERED_KEYS };
    enqueue_scattered_heads(f);
    store_t *c = store_connect(f->db, false, 0, &err);
    assert_non_null(c);
    static job_t *got[KEYS];
    size_t n = 0;
    int64_t now = clock_now_ms() + 10;
    sqlite3_int64 before = sqlite3_memory_used();
    sqlite3_memory_highwater(1);
    assert_int_equal(store_finish_batch(c, NULL, 0, now, "t", KEYS, got, &n, NULL, &err), 0);
    sqlite3_int64 peak = sqlite3_memory_highwater(0), after = sqlite3_memory_used();
    assert_int_equal(n, KEYS);
    for (size_t i = 0; i < n; i++)
        assert_true(got[i]->event_time == 0);
    /* the pages the claims read and changed are in the cache now; a statement journal would have held a copy of
     * each of them at the peak */
    assert_true(after - before > 400 * 1024);
    assert_true(peak - after < (after - before) / 3);
    /* The round that finishes them all (set-based, finish_done_many_locked) keeps none either: its statements
     * change the same rows and the next heads', on a connection whose cache starts empty again. */
    store_disconnect(c);
    c = store_connect(f->db, false, 0, &err);
    assert_non_null(c);
    static store_outcome_t outs[KEYS];
    for (size_t i = 0; i < n; i++)
        outs[i] = (store_outcome_t){.job = got[i], .to = JOB_DONE};
    size_t none = 0;
    before = sqlite3_memory_used();
    sqlite3_memory_highwater(1);
    assert_int_equal(store_finish_batch(c, outs, n, now, "t", 0, NULL, &none, NULL, &err), 0);
    peak = sqlite3_memory_highwater(0);
    after = sqlite3_memory_used();
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(outs[i].result, 0);
        job_free(got[i]);
    }
    assert_true(after - before > 400 * 1024);
    assert_true(peak - after < (after - before) / 3);
    store_disconnect(c);
}

/* SQLite: the pages the WAL holds now (from the start of a log the caller rewound with TRUNCATE) that belong to
 * index or table name, by the page numbers dbstat gives. */
static int wal_pages_of(fx_t *f, const char *name)
{
    sqlite3 *db = store__conn(f->s);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT pageno FROM dbstat WHERE name = ?1", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    static unsigned char owned[1 << 16];
    memset(owned, 0, sizeof(owned));
    while (sqlite3_step(st) == SQLITE_ROW) {
        int pg = sqlite3_column_int(st, 0);
        assert_true(pg > 0 && pg < (int)sizeof(owned));
        owned[pg] = 1;
    }
    sqlite3_finalize(st);
    char wal[sizeof(f->path) + 8];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    FILE *fp = fopen(wal, "rb");
    assert_non_null(fp);
    long page = store__lite_query_int(f->s, "PRAGMA page_size", 4096);
    unsigned char hdr[24];
    int n = 0, frames = 0;
    for (long off = 32; fseek(fp, off, SEEK_SET) == 0 && fread(hdr, 1, sizeof(hdr), fp) == sizeof(hdr);
         off += 24 + page) {
        unsigned pg = (unsigned)hdr[0] << 24 | (unsigned)hdr[1] << 16 | (unsigned)hdr[2] << 8 | hdr[3];
        frames++;
        if (pg < sizeof(owned) && owned[pg])
            n++;
    }
    fclose(fp);
    assert_true(frames > 0);
    return n;
}

/* SQLite: a claim writes no page of jobs_key, the index of each key's live jobs in order. Its entries do not change
 * when a job is claimed, but SQLite rewrites a partial index's entry whenever its WHERE names a column the UPDATE
 * sets: with the predicate on state (until migration 9) every claimed job cost a delete and an insert in a page of
 * jobs_key, on the dispatcher's commit path; at 100,000 queued jobs of 5,000 keys, each in a page of its own
 * (issue 18). The scattered heads of 600 keys claimed in one round, then finished: the claim's log holds pages
 * of the table and of jobs_claim and jobs_lease but none of jobs_key; the finish's (which removes the entries)
 * does, so the count sees them. */
static void test_claim_leaves_the_keys_index_alone(void **state)
{
    fx_t *f = *state;
    if (!f->path[0])
        return;
    err_t err;
    enum { KEYS = SCATTERED_KEYS };
    enqueue_scattered_heads(f);
    sqlite3 *db = store__conn(f->s);
    assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL), SQLITE_OK);
    static job_t *got[KEYS], *next[KEYS];
    static store_outcome_t outs[KEYS];
    size_t n = 0, m = 0;
    int64_t now = clock_now_ms() + 10;
    assert_int_equal(store_finish_batch(f->s, NULL, 0, now, "t", KEYS, got, &n, NULL, &err), 0);
    assert_int_equal(n, KEYS);
    assert_true(wal_pages_of(f, "jobs") > 10);
    assert_true(wal_pages_of(f, "jobs_lease") > 0);
    assert_int_equal(wal_pages_of(f, "jobs_key"), 0);
    assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL), SQLITE_OK);
    for (size_t i = 0; i < n; i++)
        outs[i] = (store_outcome_t){.job = got[i], .to = JOB_DONE};
    assert_int_equal(store_finish_batch(f->s, outs, n, now, "t", 0, next, &m, NULL, &err), 0);
    assert_true(wal_pages_of(f, "jobs_key") > 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(outs[i].result, 0);
        job_free(got[i]);
    }
}

/* PostgreSQL sends a pool's round (begin, outcomes, claim, commit) as one pipeline: when the server refuses a part
 * (here a note that is not UTF-8), nothing of the round is recorded or claimed, the call says so, and the same
 * connection serves the next round. (SQLite stores such a note as it is.) */
static void test_finish_batch_refused_round_records_nothing(void **state)
{
    fx_t *f = *state;
    if (!fx_pg_url)
        return;
    err_t err;
    job_new_t jobs[3] = {mk("r1", "R", 1000, 3), mk("r2", "R", 2000, 3), mk("s1", "S", 1, 3)};
    assert_int_equal(store_enqueue(f->s, jobs, 3, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *got[4];
    size_t n = claim_round(f, now, 1, got);
    assert_int_equal(n, 1);
    store_outcome_t bad = {.job = got[0], .to = JOB_DONE, .note = "not utf-8: \xff\xfe"};
    job_t *more[4];
    size_t m = 9;
    assert_int_equal(store_finish_batch(f->s, &bad, 1, now, "t", 4, more, &m, NULL, &err), -1);
    assert_int_equal(m, 0);
    job_t *j = fx_get(f, got[0]->id);
    assert_int_equal(j->state, JOB_RUNNING); /* not recorded */
    job_free(j);
    assert_int_equal(finish_done(f, got[0], now, 4, more, &m), 0);
    assert_int_equal(m, 2); /* nothing was claimed by the refused round: both other heads are still there */
    for (size_t i = 0; i < m; i++)
        job_free(more[i]);
    job_free(got[0]);
}

/* A running attempt is one entry of the job's history with its start and worker, and its end makes it one entry
 * with the outcome, the same start and worker (on PostgreSQL the attempts row is written only then: migration 6). */
static void test_running_attempt_shows_then_ends_as_one_entry(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t jn = mk("att", "A", 1, 3);
    assert_int_equal(store_enqueue(f->s, &jn, 1, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *j = NULL;
    assert_int_equal(store_claim(f->s, "w-att", now, &j, NULL, &err), 1);
    assert_only_attempt(f, j, "running", "w-att", now);
    assert_int_equal(store_finish(f->s, j, JOB_DONE, 0, NULL, "fine", now + 5, &err), 0);
    assert_only_attempt(f, j, "done", "w-att", now);
    job_attempt_t *hist = NULL;
    size_t nh = 0;
    assert_int_equal(store_attempts(f->s, j, &hist, &nh, &err), 0);
    assert_int_equal(hist[0].n, 1);
    assert_int_equal(hist[0].finished_at, now + 5);
    free(hist);
    job_free(j);
}

/* Run sql in the current PostgreSQL pass's schema. */
static int fx_schema_exec(fx_t *f, const char *sql)
{
    char buf[2048];
    snprintf(buf, sizeof(buf), "SET search_path = %s; %s", f->schema, sql);
    return fx_pg_exec(buf);
}

/* The store closed, sql run on it as an older binary would have left it (SQLite: on the file; PostgreSQL: in this
 * pass's schema), then opened again: the migrations since run. */
static void fx_reopen_after(fx_t *f, const char *sql)
{
    err_t err;
    store_disconnect(f->s);
    store_db_close(f->db);
    f->s = NULL;
    f->db = NULL;
    if (f->path[0]) {
        sqlite3 *c = NULL;
        assert_int_equal(sqlite3_open(f->path, &c), SQLITE_OK);
        assert_int_equal(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(c);
    } else {
        assert_int_equal(fx_schema_exec(f, sql), 0);
    }
    f->db = store_db_open(f->path[0] ? f->path : f->url, 1000, &err);
    assert_non_null(f->db);
    f->s = store_connect(f->db, false, 0, &err);
    assert_non_null(f->s);
}

/* A store at schema version 5 (rebuilt here by undoing migrations 6 to 8: jobs_state back, no started_at/worker on
 * the job row, jobs_corr a B-tree, no synchub_finish_round) with queued jobs and a job whose attempt an old node
 * opened at its claim goes through migrations 6 to 8 when opened again: its jobs stay, the open attempt shows
 * once and is closed in place, the queue keeps working. */
static void test_pg_migrations_from_5_keep_jobs_and_open_attempts(void **state)
{
    fx_t *f = *state;
    if (!fx_pg_url)
        return;
    err_t err;
    job_new_t jobs[3] = {mk("m1", "M", 1, 3), mk("m2", "M", 2, 3), mk("n1", "N", 1, 3)};
    assert_int_equal(store_enqueue(f->s, jobs, 3, NULL, &err), 0);
    int64_t now = clock_now_ms();
    char sql[1536];
    /* Back to version 5, then job m1 claimed the old way: RUNNING, and its attempts row opened as "running". */
    snprintf(sql, sizeof(sql),
             "DELETE FROM schema_version WHERE version >= 6; DROP INDEX jobs_dead;"
             " DROP INDEX jobs_corr; CREATE INDEX jobs_corr ON jobs(correlation_id);"
             " DROP FUNCTION synchub_finish_round;"
             " CREATE INDEX jobs_state ON jobs(state, updated_at);"
             " ALTER TABLE jobs DROP COLUMN started_at, DROP COLUMN worker;"
             " UPDATE jobs SET state = 1, attempts = 1, lease_until = %lld, lease_token = 77, updated_at = %lld"
             "  WHERE okey = 'M' AND ready;"
             " INSERT INTO attempts(job_rid, n, started_at, outcome, worker)"
             "  SELECT rid, 1, %lld, 'running', 'old-node' FROM jobs WHERE state = 1",
             (long long)now + 60000, (long long)now, (long long)now);
    fx_reopen_after(f, sql);
    store_stats_t st;
    assert_int_equal(store_stats(f->s, now, &st, &err), 0);
    assert_int_equal(st.by_state[JOB_RUNNING], 1);
    assert_int_equal(st.by_state[JOB_QUEUED], 2);
    /* The old node's running attempt: one entry, its own worker. */
    store_filter_t running = {.state = JOB_RUNNING, .limit = 10};
    job_t **list = NULL;
    size_t nl = 0;
    assert_int_equal(store_list(f->s, &running, &list, &nl, &err), 0);
    assert_int_equal(nl, 1);
    job_t *m1 = list[0];
    assert_string_equal(m1->id, jobs[0].id);
    job_t **by_corr = NULL;
    size_t nc = 0;
    assert_int_equal(store_jobs_by(f->s, STORE_JOBS_BY_CORRELATION, m1->correlation_id, 10, &by_corr, &nc, &err), 0);
    assert_int_equal(nc, 1); /* found through the rebuilt jobs_corr */
    job_list_free(by_corr, nc);
    assert_only_attempt(f, m1, "running", "old-node", 0);
    /* Its worker (an old node, same lease token) finishes it through the new functions: closed in place. */
    store_outcome_t o = {.job = m1, .to = JOB_DONE};
    job_t *got[4];
    size_t n = 0;
    assert_int_equal(store_finish_batch(f->s, &o, 1, now + 5, "new-node", 4, got, &n, NULL, &err), 0);
    assert_int_equal(o.result, 0);
    assert_only_attempt(f, m1, "done", "old-node", now);
    /* The queue goes on in key order: m2 (M's next) and n1 are the heads claimed. */
    assert_int_equal(n, 2);
    bool saw_m2 = false;
    for (size_t i = 0; i < n; i++) {
        saw_m2 |= strcmp(got[i]->id, jobs[1].id) == 0;
        job_free(got[i]);
    }
    assert_true(saw_m2);
    job_list_free(list, nl);
}

/* A SQLite store at schema version 6 (before a claim stopped writing an attempt row; rebuilt by undoing migrations 7
 * and 8) with a job claimed the old way,
 * its attempt row open as "running", goes through migration 7 when opened again: the attempt shows once, with the
 * old worker and start, and its finish closes that row in place (one entry, not two). */
static void test_sqlite_migration_7_keeps_an_open_attempt(void **state)
{
    fx_t *f = *state;
    if (!f->path[0])
        return;
    err_t err;
    job_new_t jobs[2] = {mk("o1", "O", 1, 3), mk("o2", "O", 2, 3)};
    assert_int_equal(store_enqueue(f->s, jobs, 2, NULL, &err), 0);
    int64_t now = clock_now_ms();
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "DROP INDEX jobs_finished; DROP INDEX jobs_dead; CREATE INDEX jobs_state ON jobs(state, updated_at);"
             " ALTER TABLE jobs DROP COLUMN worker; PRAGMA user_version = 6;"
             " UPDATE jobs SET state = 1, attempts = 1, lease_until = %lld, lease_token = 77, updated_at = %lld"
             "  WHERE ready = 1;"
             " INSERT INTO attempts(job_rid, n, started_at, outcome, worker)"
             "  SELECT rid, 1, %lld, 'running', 'old-pool' FROM jobs WHERE state = 1;",
             (long long)now + 60000, (long long)now, (long long)now);
    fx_reopen_after(f, sql);
    job_t *o1 = fx_get(f, jobs[0].id);
    assert_int_equal(o1->state, JOB_RUNNING);
    assert_only_attempt(f, o1, "running", "old-pool", now);
    store_outcome_t o = {.job = o1, .to = JOB_DONE};
    job_t *got[2];
    size_t n = 0;
    assert_int_equal(store_finish_batch(f->s, &o, 1, now + 5, "pool", 2, got, &n, NULL, &err), 0);
    assert_int_equal(o.result, 0);
    assert_only_attempt(f, o1, "done", "old-pool", now);
    assert_int_equal(n, 1); /* O's next job, in key order */
    assert_string_equal(got[0]->id, jobs[1].id);
    job_free(got[0]);
    job_free(o1);
}

/* Large payloads are stored compressed on SQLite: they read back byte for byte, and SQL that looks into them
 * (store_job_by_payload, for `synchub trace`) still finds them. */
static void test_large_payload_reads_back_and_is_found_by_field(void **state)
{
    fx_t *f = *state;
    err_t err;
    char *payload = malloc(8192);
    assert_non_null(payload);
    size_t len = (size_t)snprintf(payload, 8192, "{\"name\":\"#1001\",\"note\":\"");
    while (len < 6000)
        len += (size_t)snprintf(payload + len, 8192 - len, "line item %zu, ", len);
    len += (size_t)snprintf(payload + len, 8192 - len, "\"}");
    job_new_t jn = mk("big", "shopify:acme:order:1", 1, 3);
    jn.kind = "shopify.order";
    jn.payload = payload;
    jn.payload_len = len;
    assert_int_equal(store_enqueue(f->s, &jn, 1, NULL, &err), 0);
    job_t *j = NULL;
    assert_int_equal(store_job_get(f->s, jn.id, &j, &err), 1);
    assert_int_equal(strlen(j->payload), len);
    assert_memory_equal(j->payload, payload, len);
    job_free(j);
    j = NULL;
    assert_int_equal(store_job_by_payload(f->s, "shopify.order", "shopify:acme:", "name", "#1001", &j, &err), 1);
    assert_string_equal(j->id, jn.id);
    job_free(j);
    free(payload);
}

static void test_late_older_event_becomes_head(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t j2 = mk("v2", "inv:1", 2000, 3);
    assert_int_equal(store_enqueue(f->s, &j2, 1, NULL, &err), 0);
    job_new_t j1 = mk("v1", "inv:1", 1000, 3);
    assert_int_equal(store_enqueue(f->s, &j1, 1, NULL, &err), 0);
    job_t *j = claim(f, clock_now_ms() + 10);
    assert_non_null(j);
    assert_true(j->event_time == 1000);
    job_free(j);
}

static void test_lost_lease_discards_result_and_expiry_requeues(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t jn = mk("lease", "k", 1, 2);
    assert_int_equal(store_enqueue(f->s, &jn, 1, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *j = claim(f, now);
    assert_non_null(j);
    int n = 0;
    assert_int_equal(store_reap_expired(f->s, now + 1000, &n, &err), 0);
    assert_int_equal(n, 0); /* lease still valid */
    assert_int_equal(store_reap_expired(f->s, now + 60001, &n, &err), 0);
    assert_int_equal(n, 1);
    /* The old worker comes back: its result must not be recorded. */
    assert_int_equal(store_finish(f->s, j, JOB_DONE, 0, NULL, NULL, now + 60002, &err), 1);
    job_t *again = claim(f, now + 60003);
    assert_non_null(again);
    assert_int_equal(again->attempts, 2);
    /* Second expiry exhausts max_attempts (2): dead, with the reason. */
    assert_int_equal(store_reap_expired(f->s, now + 200000, &n, &err), 0);
    job_t *got = NULL;
    assert_int_equal(store_job_get(f->s, again->id, &got, &err), 1);
    assert_int_equal(got->state, JOB_DEAD);
    assert_string_equal(got->last_error.code, "worker.lost");
    job_attempt_t *hist;
    size_t nh;
    assert_int_equal(store_attempts(f->s, got, &hist, &nh, &err), 0);
    assert_int_equal(nh, 2);
    assert_string_equal(hist[0].outcome, "lost");
    free(hist);
    job_free(j);
    job_free(again);
    job_free(got);
}

/* SQLite: the housekeeper's expiry check (every second) reads the expired leases only, not the row of every running
 * job: a pool with a local queue holds hundreds of running jobs, and walking them all each tick cost CPU and filled
 * the housekeeper's page cache (issue 18). 2,000 running jobs, none expired: a fresh connection's check must read a
 * handful of pages, not the ~100 their rows fill. */
static void test_reap_reads_only_expired_leases(void **state)
{
    fx_t *f = *state;
    if (fx_pg_url)
        return;
    err_t err;
    enum { N = 2000 };
    static job_new_t jobs[N];
    static char idem[N][16], key[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(idem[i], sizeof(idem[i]), "r%d", i);
        snprintf(key[i], sizeof(key[i]), "rk%d", i);
        jobs[i] = mk(idem[i], key[i], i, 3);
    }
    assert_int_equal(store_enqueue(f->s, jobs, N, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    static job_t *got[N];
    size_t n = claim_round(f, now, N, got);
    assert_int_equal(n, N);
    for (size_t i = 0; i < n; i++)
        job_free(got[i]);
    store_t *c = store_connect(f->db, false, 0, &err);
    assert_non_null(c);
    int reaped = -1, misses = 0, hi = 0;
    assert_int_equal(store_reap_expired(c, now + 1000, &reaped, &err), 0);
    assert_int_equal(reaped, 0);
    assert_int_equal(sqlite3_db_status(store__conn(c), SQLITE_DBSTATUS_CACHE_MISS, &misses, &hi, 0), SQLITE_OK);
    assert_true(misses < 20);
    store_disconnect(c);
}

/* Count the rows of job's attempts in the SQLite table itself. */
static int attempt_rows(fx_t *f, const job_t *j)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(store__conn(f->s), "SELECT count(*) FROM attempts WHERE job_rid = ?1", -1, &st,
                                        NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, j->rid);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* An attempt is written once, when it ends (SQLite): a claim writes no attempt row, yet store_attempts (the
 * dashboard, `jobs show`) shows the running attempt with its number and start; its end writes the one row. A
 * paused attempt keeps its number: while the job runs again it shows once, as running, and its end replaces the
 * paused row (issue 18). */
static void test_attempt_is_written_once_and_shown_while_running(void **state)
{
    fx_t *f = *state;
    bool lite = !fx_pg_url;   /* attempt_rows reads SQLite's file; what store_attempts shows holds on both */
    err_t err;
    job_new_t jn = mk("att", "k-att", 1, 3);
    assert_int_equal(store_enqueue(f->s, &jn, 1, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *got[1];
    size_t n = 0;
    assert_int_equal(store_finish_batch(f->s, NULL, 0, now, "pool", 1, got, &n, NULL, &err), 0);
    assert_int_equal(n, 1);
    if (lite)
        assert_int_equal(attempt_rows(f, got[0]), 0);
    job_t *j = fx_get(f, got[0]->id);
    job_attempt_t *hist = NULL;
    size_t nh = 0;
    assert_int_equal(store_attempts(f->s, j, &hist, &nh, &err), 0);
    assert_int_equal(nh, 1);
    assert_int_equal(hist[0].n, 1);
    assert_string_equal(hist[0].outcome, "running");
    assert_true(hist[0].started_at == now);
    assert_true(hist[0].finished_at == 0);
    free(hist);
    job_free(j);
    /* paused: the attempt is not counted, its row says so */
    err_t why;
    err_set(&why, ERR_TRANSIENT, "http.connect", "odoo is down");
    assert_int_equal(store_pause(f->s, got[0], now + 5, &why, now + 1, &err), 0);
    if (lite)
        assert_int_equal(attempt_rows(f, got[0]), 1);
    j = fx_get(f, got[0]->id);
    assert_only_attempt(f, j, "paused", "pool", now);
    job_free(j);
    job_free(got[0]);
    /* runs again as attempt 1: shown once, running, then done in the same row */
    assert_int_equal(store_finish_batch(f->s, NULL, 0, now + 10, "pool", 1, got, &n, NULL, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(got[0]->attempts, 1);
    j = fx_get(f, got[0]->id);
    assert_int_equal(store_attempts(f->s, j, &hist, &nh, &err), 0);
    assert_int_equal(nh, 1);
    assert_string_equal(hist[0].outcome, "running");
    assert_true(hist[0].started_at == now + 10);
    free(hist);
    job_free(j);
    store_outcome_t o = {.job = got[0], .to = JOB_DONE};
    job_t *more[1];
    size_t m = 0;
    assert_int_equal(store_finish_batch(f->s, &o, 1, now + 20, "pool", 0, more, &m, NULL, &err), 0);
    assert_int_equal(o.result, 0);
    if (lite)
        assert_int_equal(attempt_rows(f, got[0]), 1);
    j = fx_get(f, got[0]->id);
    assert_int_equal(store_attempts(f->s, j, &hist, &nh, &err), 0);
    assert_int_equal(nh, 1);
    assert_int_equal(hist[0].n, 1);
    assert_string_equal(hist[0].outcome, "done");
    /* SQLite writes the ended attempt's row whole (the rerun's start); PostgreSQL's finish functions (migrations 6
     * and 8) upsert onto the paused row and keep the attempt's first start. */
    assert_true(hist[0].started_at == (lite ? now + 10 : now));
    assert_true(hist[0].finished_at == now + 20);
    assert_string_equal(hist[0].worker, "pool");
    free(hist);
    job_free(j);
    job_free(got[0]);
}

/* A stopping pool gives back the jobs it claimed and never started (store_unclaim) as if never claimed: QUEUED
 * (RETRY when it had run before), attempts back by one, no attempt row, lease cleared; still its key's head, with
 * its priority, so the next claim takes the same jobs in the same order. A job whose lease was lost is left alone. */
static void test_unclaim_gives_claims_back_as_if_never_made(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t jobs[4] = {mk("u-a1", "A", 1000, 3), mk("u-a2", "A", 2000, 3), mk("u-b", "B", 1, 3),
                         mk("u-c", "C", 1, 3)};
    jobs[2].priority = 5;
    assert_int_equal(store_enqueue(f->s, jobs, 4, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *got[10], *held[3];
    size_t n = 0;
    /* C runs once and fails (RETRY, due now + 1); then a round holds B, A's first job and C again */
    assert_int_equal(store_finish_batch(f->s, NULL, 0, now, "t", 10, got, &n, NULL, &err), 0);
    assert_int_equal(n, 3);
    err_t why;
    err_set(&why, ERR_TRANSIENT, "t", "flap");
    store_outcome_t o[2] = {{.job = NULL, .to = JOB_RETRY, .run_at = now + 1, .why = &why}};
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(got[i]->id, jobs[3].id))
            o[0].job = got[i];
        else
            held[got[i]->priority ? 0 : 1] = got[i];
    }
    assert_non_null(o[0].job);
    assert_int_equal(store_finish_batch(f->s, o, 1, now + 2, "t", 1, &held[2], &n, NULL, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(held[2]->id, jobs[3].id);
    assert_int_equal(held[2]->attempts, 2);
    job_free((job_t *)o[0].job);
    /* a lease lost meanwhile: nothing moves */
    job_t stale = *held[1];
    stale.lease_token++;
    const job_t *stale_p = &stale;
    int moved = -1;
    assert_int_equal(store_unclaim(f->s, &stale_p, 1, now + 3, &moved, &err), 0);
    assert_int_equal(moved, 0);
    job_t *j = fx_get(f, jobs[0].id);
    assert_int_equal(j->state, JOB_RUNNING);
    job_free(j);
    assert_int_equal(store_unclaim(f->s, (const job_t *const *)held, 3, now + 3, &moved, &err), 0);
    assert_int_equal(moved, 3);
    static const job_state_t want_state[3] = {JOB_QUEUED, JOB_QUEUED, JOB_RETRY};
    for (int i = 0; i < 3; i++) {
        j = fx_get(f, held[i]->id);
        assert_int_equal(j->state, want_state[i]);
        assert_int_equal(j->attempts, held[i]->attempts - 1);
        assert_true(j->lease_until == 0);
        assert_int_equal(j->priority, held[i]->priority);
        job_attempt_t *hist = NULL;
        size_t nh = 0;
        assert_int_equal(store_attempts(f->s, j, &hist, &nh, &err), 0);
        assert_int_equal(nh, (size_t)(i == 2));   /* C's first run, nothing of the claims given back */
        if (nh)
            assert_string_equal(hist[0].outcome, "retry");
        free(hist);
        job_free(j);
    }
    /* the next claim takes the same heads in the same order (A's second job still waits) as new attempts */
    assert_int_equal(store_finish_batch(f->s, NULL, 0, now + 4, "t", 10, got, &n, NULL, &err), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(got[i]->id, held[i]->id);
        assert_int_equal(got[i]->attempts, held[i]->attempts);
        job_free(got[i]);
        job_free(held[i]);
    }
}

static void test_operator_transitions(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t jn = mk("op", "k", 1, 1);
    assert_int_equal(store_enqueue(f->s, &jn, 1, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *j = claim(f, now);
    err_t why;
    err_set(&why, ERR_CONFIGURATION, "missing.mapping", "no mapping for SKU X");
    assert_int_equal(store_finish(f->s, j, JOB_DEAD, 0, &why, NULL, now, &err), 0);
    char prefix[9];
    memcpy(prefix, jn.id, 8);
    prefix[8] = '\0';
    /* replay is only for done jobs */
    assert_int_equal(store_operate(f->s, prefix, STORE_OP_REPLAY, now, NULL, &err), -1);
    assert_int_equal(err.cls, ERR_DATA);
    int n = 0;
    assert_int_equal(store_retry_dead(f->s, ERR_DATA, now, &n, &err), 0);
    assert_int_equal(n, 0); /* class filter */
    assert_int_equal(store_retry_dead(f->s, ERR_CONFIGURATION, now, &n, &err), 0);
    assert_int_equal(n, 1);
    job_t *again = claim(f, now + 1);
    assert_non_null(again);
    assert_true(again->max_attempts > again->attempts - 1); /* fresh budget */
    assert_int_equal(store_finish(f->s, again, JOB_DONE, 0, NULL, NULL, now + 2, &err), 0);
    assert_int_equal(store_operate(f->s, prefix, STORE_OP_DISCARD, now, NULL, &err), -1);
    char full[JOB_ID_LEN + 1];
    assert_int_equal(store_operate(f->s, prefix, STORE_OP_REPLAY, now + 3, full, &err), 0);
    assert_string_equal(full, jn.id);
    assert_int_equal(store_operate(f->s, jn.id, STORE_OP_DISCARD, now + 4, NULL, &err), 0);
    assert_null(claim(f, now + 5));
    assert_int_equal(store_operate(f->s, "zzzzzzzz", STORE_OP_RETRY, now, NULL, &err), -1);
    job_free(j);
    job_free(again);
}

static void test_prune_respects_retention(void **state)
{
    fx_t *f = *state;
    err_t err;
    job_new_t jn = mk("prune", "k", 1, 1);
    assert_int_equal(store_enqueue(f->s, &jn, 1, NULL, &err), 0);
    int64_t now = clock_now_ms() + 10;
    job_t *j = claim(f, now);
    assert_int_equal(store_finish(f->s, j, JOB_DONE, 0, NULL, NULL, now, &err), 0);
    int n = 0;
    assert_int_equal(store_prune(f->s, now - 1, 100, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_prune(f->s, now + 1, 100, &n, &err), 0);
    assert_int_equal(n, 1);
    job_free(j);
}

static void test_backoff_full_jitter_bounded(void **state)
{
    (void)state;
    queue_policy_t p = {0, 10, 1000, 8000, 60000};
    uint64_t rng = 42;
    int64_t max_seen[6] = {0};
    for (int attempt = 1; attempt <= 5; attempt++) {
        for (int i = 0; i < 2000; i++) {
            int64_t d = queue_backoff_ms(&p, attempt, &rng);
            int64_t ceiling = attempt >= 4 ? 8000 : 1000LL << (attempt - 1);
            assert_true(d >= 10 && d <= ceiling);
            if (d > max_seen[attempt])
                max_seen[attempt] = d;
        }
    }
    assert_true(max_seen[1] > 900);  /* jitter spans the range */
    assert_true(max_seen[3] > 3600); /* and grows exponentially */
    assert_true(max_seen[5] <= 8000);
}

static void test_policy_overrides(void **state)
{
    (void)state;
    queue_policy_t o = queue_policy_for(NULL, "shopify.order");
    queue_policy_t r = queue_policy_for(NULL, "reconcile.inventory");
    assert_true(o.priority > r.priority); /* orders before bulk reconciliation */
}

static void test_shopify_classification(void **state)
{
    (void)state;
    err_t err;
    ingest_event_t ev;
    ingest_fields_t order_f, inv_f, ful_f, bad_f;
    jscan_error_t jerr;
    const char *order_text = "{\"id\":6150327861270,\"updated_at\":\"2026-11-21T14:03:13-05:00\"}";
    assert_int_equal(ingest_shopify_fields(order_text, strlen(order_text), &order_f, &jerr), 0);
    const ingest_fields_t *order = &order_f;
    assert_int_equal(ingest_shopify_describe("s.myshopify.com", "orders/updated", order, "ev1", "wh1", NULL, 5, &ev,
                                             &err),
                     0);
    assert_string_equal(ev.kind, "shopify.order");
    assert_string_equal(ev.ordering_key, "shopify:s.myshopify.com:order:6150327861270");
    assert_string_equal(ev.idem_key, "shopify|s.myshopify.com|orders/updated|6150327861270|e:ev1");
    assert_true(ev.event_time_ms == 1795287793000LL);
    ingest_event_release(&ev);
    /* no event id: the resource version decides */
    assert_int_equal(ingest_shopify_describe("s.myshopify.com", "orders/updated", order, NULL, "wh1", NULL, 5, &ev,
                                             &err),
                     0);
    assert_string_equal(ev.idem_key,
                        "shopify|s.myshopify.com|orders/updated|6150327861270|u:2026-11-21T14:03:13-05:00");
    ingest_event_release(&ev);
    const char *inv_text = "{\"inventory_item_id\":46912881639446,\"location_id\":71263993878,\"available\":3}";
    assert_int_equal(ingest_shopify_fields(inv_text, strlen(inv_text), &inv_f, &jerr), 0);
    const ingest_fields_t *inv = &inv_f;
    assert_int_equal(ingest_shopify_describe("s.myshopify.com", "inventory_levels/update", inv, NULL, "wh2",
                                             "2026-11-21T19:00:00Z", 5, &ev, &err),
                     0);
    assert_string_equal(ev.ordering_key, "shopify:s.myshopify.com:inventory:46912881639446:71263993878");
    assert_string_equal(ev.idem_key, "shopify|s.myshopify.com|inventory_levels/update|46912881639446:71263993878|w:wh2");
    ingest_event_release(&ev);
    const char *ful_text = "{\"id\":1,\"order_id\":\"77\"}";
    assert_int_equal(ingest_shopify_fields(ful_text, strlen(ful_text), &ful_f, &jerr), 0);
    const ingest_fields_t *ful = &ful_f;
    assert_int_equal(ingest_shopify_describe("s.myshopify.com", "fulfillments/create", ful, "e", "w", NULL, 5, &ev,
                                             &err),
                     0);
    assert_string_equal(ev.ordering_key, "shopify:s.myshopify.com:order:77"); /* same key as its order */
    ingest_event_release(&ev);
    const char *bad_text = "{\"name\":\"#1001\",\"id\":1.5}";
    assert_int_equal(ingest_shopify_fields(bad_text, strlen(bad_text), &bad_f, &jerr), 0);
    const ingest_fields_t *bad = &bad_f;
    assert_int_equal(ingest_shopify_describe("s.myshopify.com", "orders/create", bad, "e", "w", NULL, 5, &ev, &err),
                     -1);
    assert_int_equal(err.cls, ERR_DATA);
}

static int count_link(const char *external_id, const store_link_t *link, void *ud)
{
    int *n = ud;
    /* Pages are read in external_id order: ids are zero-padded, so order is numeric too. */
    char want[32];
    snprintf(want, sizeof(want), "level-%04d", *n);
    assert_string_equal(external_id, want);
    assert_int_equal(link->version, *n);
    (*n)++;
    return 0;
}

static void test_links_batches_pages_and_reverse_lookup(void **state)
{
    fx_t *f = *state;
    err_t err;
    enum { N = 450 };   /* more than two pages of store_links_each */
    static char names[N][32];
    const char *ids[N];
    store_link_t links[N];
    memset(links, 0, sizeof(links));
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "level-%04d", i);
        ids[i] = names[i];
        snprintf(links[i].odoo_model, sizeof(links[i].odoo_model), "product.product");
        links[i].odoo_id = 1000 + i;
        links[i].version = i;
    }
    assert_int_equal(store_links_put(f->s, "shopify", "a.myshopify.com", "level", ids, links, N, &err), 0);
    int n = 0;
    assert_int_equal(store_links_each(f->s, "shopify", "a.myshopify.com", "level", count_link, &n, &err), 0);
    assert_int_equal(n, N);
    /* Another shop's links are not listed. */
    n = 0;
    assert_int_equal(store_links_each(f->s, "shopify", "b.myshopify.com", "level", count_link, &n, &err), 0);
    assert_int_equal(n, 0);
    char ext[64];
    assert_int_equal(store_link_find(f->s, "shopify", "a.myshopify.com", "level", "product.product", 1007, ext,
                                     sizeof(ext), &err), 1);
    assert_string_equal(ext, "level-0007");
    assert_int_equal(store_link_find(f->s, "shopify", "a.myshopify.com", "level", "sale.order", 1007, ext,
                                     sizeof(ext), &err), 0);
    assert_string_equal(ext, "");
}

static void test_cursors_and_live_jobs_per_key(void **state)
{
    fx_t *f = *state;
    err_t err;
    char v[64];
    assert_int_equal(store_cursor_get(f->s, "stock:a", v, sizeof(v), &err), 0);
    assert_string_equal(v, "");
    assert_int_equal(store_cursor_put(f->s, "stock:a", "2026-11-23 10:00:00|1", &err), 0);
    assert_int_equal(store_cursor_put(f->s, "stock:a", "2026-11-23 10:05:00|2", &err), 0);
    assert_int_equal(store_cursor_get(f->s, "stock:a", v, sizeof(v), &err), 1);
    assert_string_equal(v, "2026-11-23 10:05:00|2");
    int64_t live = -1;
    assert_int_equal(store_key_live(f->s, "stock.poll|a", &live, &err), 0);
    assert_int_equal(live, 0);
    job_new_t j = mk("poll-1", "stock.poll|a", 1, 3);
    bool dup;
    assert_int_equal(store_enqueue(f->s, &j, 1, &dup, &err), 0);
    assert_int_equal(store_key_live(f->s, "stock.poll|a", &live, &err), 0);
    assert_int_equal(live, 1);
    int64_t later = 4102444800000LL;   /* 2100: the job is due */
    job_t *c = claim(f, later);
    assert_non_null(c);
    assert_int_equal(store_finish(f->s, c, JOB_DEAD, 0, NULL, NULL, later, &err), 0);
    job_free(c);
    /* A dead poll does not count as live: the scheduler may enqueue the next (its id is another). */
    assert_int_equal(store_key_live(f->s, "stock.poll|a", &live, &err), 0);
    assert_int_equal(live, 0);
}

/* ---- operator audit and dashboard queries (*_audit.c, *_ops.c) ------------------------------------------------ */

/* Times below are offsets from T0, a little after the jobs' enqueue time (claims need run_at <= now); each test
 * sets it first. */
static int64_t T0;

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
    T0 = clock_now_ms() + 1000;
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

/* The number of jobs listed in state (-1: all) by store_list. */
static size_t listed(fx_t *f, int state, char first_id[JOB_ID_LEN + 1])
{
    store_filter_t fl = {.state = state, .limit = 100};
    job_t **list = NULL;
    size_t n = 0;
    err_t err;
    assert_int_equal(store_list(f->s, &fl, &list, &n, &err), 0);
    if (first_id && n)
        memcpy(first_id, list[0]->id, JOB_ID_LEN + 1);
    job_list_free(list, n);
    return n;
}

/* A SQLite store at schema version 7 (rebuilt by undoing migration 8: jobs_state back, no jobs_finished or
 * jobs_dead) with queued, done and dead jobs goes through migration 8 when opened again: its jobs stay, jobs_state
 * is gone, and the readers of the new indexes (counts by state, dead jobs by cause, listings by state, prune) see
 * every job. */
static void test_sqlite_migration_8_keeps_jobs_and_their_figures(void **state)
{
    fx_t *f = *state;
    if (!f->path[0])
        return;
    T0 = clock_now_ms() + 1000;
    char dead_id[JOB_ID_LEN + 1], done_id[JOB_ID_LEN + 1], got[JOB_ID_LEN + 1];
    run_to_end(f, "m8-dead", "shopify.order", ERR_DATA, "order.lines", true, 1000, dead_id);
    run_to_end(f, "m8-done", "shopify.order", ERR_NONE, NULL, true, 2000, done_id);
    err_t err;
    job_new_t jobs[2] = {mk("q1", "Q", 1, 3), mk("q2", "Q", 2, 3)};
    assert_int_equal(store_enqueue(f->s, jobs, 2, NULL, &err), 0);
    fx_reopen_after(f,
                    "DROP INDEX jobs_finished; DROP INDEX jobs_dead;"
                    " CREATE INDEX jobs_state ON jobs(state, updated_at); DROP INDEX jobs_key;"
                    " CREATE INDEX jobs_key ON jobs(okey, event_time, rid) WHERE state IN (0, 1, 2);"
                    " PRAGMA user_version = 7;");
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(store__conn(f->s),
                                        "SELECT (SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"
                                        " WHERE name IN ('jobs_state', 'jobs_finished', 'jobs_dead') ORDER BY name)),"
                                        " (SELECT user_version FROM pragma_user_version)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "jobs_dead,jobs_finished");
    assert_int_equal(sqlite3_column_int(st, 1), 9);
    sqlite3_finalize(st);
    store_stats_t stats;
    assert_int_equal(store_stats(f->s, T0 + 3000, &stats, &err), 0);
    assert_int_equal(stats.by_state[JOB_QUEUED], 2);
    assert_int_equal(stats.by_state[JOB_DONE], 1);
    assert_int_equal(stats.by_state[JOB_DEAD], 1);
    store_cause_t *causes = NULL;
    size_t n = 0;
    assert_int_equal(store_failures(f->s, 0, &causes, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(causes[0].count, 1);
    assert_string_equal(causes[0].sample_id, dead_id);
    free(causes);
    assert_int_equal(listed(f, JOB_DEAD, got), 1);
    assert_string_equal(got, dead_id);
    assert_int_equal(listed(f, JOB_DONE, got), 1);
    assert_string_equal(got, done_id);
    assert_int_equal(listed(f, JOB_QUEUED, NULL), 2);
    assert_int_equal(listed(f, JOB_DISCARDED, NULL), 0);
    assert_int_equal(listed(f, -1, NULL), 4);
    int pruned = 0;
    assert_int_equal(store_prune(f->s, T0 + 1000000, 100, &pruned, &err), 0);
    assert_int_equal(listed(f, JOB_DONE, NULL), 0);
    assert_int_equal(listed(f, -1, NULL), 3); /* the done job went; the dead and queued ones stay */
}

/* A SQLite store at schema version 8 (jobs_key's predicate back on state) goes through migration 9 when opened
 * again: jobs_key holds the live jobs as before, and rows an older binary may have left against the new rule (a
 * done job without finished_at, a queued one with it) are brought to it first: the done job stays out of the index,
 * the queued one is found in its key's order. */
static void test_sqlite_migration_9_keeps_the_live_jobs_of_each_key(void **state)
{
    fx_t *f = *state;
    if (!f->path[0])
        return;
    T0 = clock_now_ms() + 1000;
    char done_id[JOB_ID_LEN + 1];
    run_to_end(f, "m9-done", "shopify.order", ERR_NONE, NULL, true, 2000, done_id);
    err_t err;
    job_new_t jobs[3] = {mk("n1", "N", 1, 3), mk("n2", "N", 2, 3), mk("o1", "O", 1, 3)};
    assert_int_equal(store_enqueue(f->s, jobs, 3, NULL, &err), 0);
    fx_reopen_after(f, "DROP INDEX jobs_key;"
                       " CREATE INDEX jobs_key ON jobs(okey, event_time, rid) WHERE state IN (0, 1, 2);"
                       " UPDATE jobs SET finished_at = NULL WHERE state = 3;"
                       " UPDATE jobs SET finished_at = 5 WHERE okey = 'N' AND event_time = 2;"
                       " PRAGMA user_version = 8;");
    assert_int_equal(store__lite_query_int(f->s, "SELECT user_version FROM pragma_user_version", 0), 9);
    assert_int_equal(store__lite_query_int(f->s,
                                           "SELECT count(*) FROM sqlite_master WHERE name = 'jobs_key'"
                                           " AND sql LIKE '%WHERE finished_at IS NULL'",
                                           0),
                     1);
    assert_int_equal(store__lite_query_int(f->s,
                                           "SELECT count(*) FROM jobs INDEXED BY jobs_key WHERE finished_at IS NULL",
                                           0),
                     3);
    assert_int_equal(store__lite_query_int(f->s, "SELECT count(*) FROM jobs WHERE state = 3 AND finished_at > 0", 0),
                     1);
    int64_t live = 0;
    assert_int_equal(store_key_live(f->s, "N", &live, &err), 0);
    assert_int_equal(live, 2);
    store_stats_t stats;
    assert_int_equal(store_stats(f->s, T0 + 3000, &stats, &err), 0);
    assert_int_equal(stats.by_state[JOB_QUEUED], 3);
    assert_int_equal(stats.by_state[JOB_DONE], 1);
    /* the heads of N and O, then, once they are done, N's second job */
    int64_t now = T0 + 3000;
    job_t *got[4], *next[4];
    store_outcome_t outs[2];
    size_t n = 0, m = 0;
    assert_int_equal(store_finish_batch(f->s, NULL, 0, now, "t", 4, got, &n, NULL, &err), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_true(got[i]->event_time == 1);
        outs[i] = (store_outcome_t){.job = got[i], .to = JOB_DONE};
    }
    assert_int_equal(store_finish_batch(f->s, outs, n, now, "t", 4, next, &m, NULL, &err), 0);
    assert_int_equal(m, 1);
    assert_string_equal(next[0]->ordering_key, "N");
    assert_true(next[0]->event_time == 2);
    for (size_t i = 0; i < n; i++)
        job_free(got[i]);
    job_free(next[0]);
}

/* The operator figures (status, /metrics, the dashboard's dead jobs by cause) read the jobs table only through the
 * partial indexes that leave out the done jobs (jobs_key: live, jobs_dead) or, for counting done jobs, jobs_finished
 * alone (covering): on a long-running store the done jobs are most of the table, and no scrape may walk them. */
static void test_sqlite_operator_figures_do_not_walk_the_done_jobs(void **state)
{
    fx_t *f = *state;
    if (!f->path[0])
        return;
    const char *const sqls[] = {store__lite_depth_sql, store__lite_totals_sql, store__lite_stats_sql,
                                store__lite_failures_sql};
    for (size_t i = 0; i < sizeof(sqls) / sizeof(sqls[0]); i++) {
        char eqp[2048];
        snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sqls[i]);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(store__conn(f->s), eqp, -1, &st, NULL), SQLITE_OK);
        int reads = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(st, 3);
            if (strncmp(d, "SCAN jobs", 9) != 0 && strncmp(d, "SEARCH jobs", 11) != 0)
                continue;
            reads++;
            bool ok = strstr(d, "INDEX jobs_key") || strstr(d, "INDEX jobs_dead") || strstr(d, "INDEX jobs_claim") ||
                      strstr(d, "COVERING INDEX jobs_finished");
            if (!ok)
                fail_msg("%s\nreads the jobs table as: %s", sqls[i], d);
        }
        sqlite3_finalize(st);
        assert_true(reads > 0);
    }
}

static void test_store_bulk_retry_takes_exactly_one_cause_and_audits(void **state)
{
    fx_t *f = *state;
    T0 = clock_now_ms() + 1000;
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
    T0 = clock_now_ms() + 1000;
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
    T0 = clock_now_ms() + 1000;
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

/* SQLite: one process per store, so every connection leads. PostgreSQL: one connection at a time, and the
 * leadership moves when the holder's connection closes (a node that died). */
static void test_leadership_is_held_by_one_connection_and_moves_when_it_closes(void **state)
{
    fx_t *f = *state;
    err_t err;
    bool a = false, b = false;
    store_t *other = store_connect(f->db, false, 0, &err);
    assert_non_null(other);
    assert_int_equal(store_leader_try(f->s, "sched", &a, &err), 0);
    assert_int_equal(store_leader_try(other, "sched", &b, &err), 0);
    assert_true(a);
    if (!fx_pg_url) {
        assert_true(b);
        store_disconnect(other);
        return;
    }
    assert_false(b);
    assert_int_equal(store_leader_try(f->s, "sched", &a, &err), 0); /* still held, checked again */
    assert_true(a);
    store_t *third = store_connect(f->db, false, 0, &err);
    assert_non_null(third);
    assert_int_equal(store_leader_try(third, "other-role", &b, &err), 0); /* names are independent */
    assert_true(b);
    store_disconnect(third);
    store_disconnect(f->s);
    f->s = NULL;
    b = false;
    /* The server releases the lock when it has processed the disconnection: a moment later, not at once. */
    for (int i = 0; i < 100 && !b; i++) {
        assert_int_equal(store_leader_try(other, "sched", &b, &err), 0);
        if (!b)
            usleep(20000);
    }
    assert_true(b);
    f->s = other;
}

/* ---- checkpoints under steady writes (SQLite) ------------------------------------------------------------- */

typedef struct steady_writer {
    store_db_t *db;
    const char *payload;
    int jobs;           /* how many to enqueue, in batches of 32 */
    int failed;
} steady_writer_t;

static void *steady_write(void *arg)
{
    steady_writer_t *w = arg;
    err_t err;
    store_t *s = store_connect(w->db, false, 5000, &err);
    if (!s) {
        w->failed = 1;
        return NULL;
    }
    for (int done = 0; done < w->jobs && !w->failed; done += 32) {
        job_new_t jobs[32];
        bool dup[32];
        char idem[32][32];
        for (int i = 0; i < 32; i++) {
            snprintf(idem[i], sizeof(idem[i]), "steady-%d", done + i);
            jobs[i] = fx_job(idem[i], idem[i], 1, 3);   /* a key each: every job is a new head, as with many orders */
            jobs[i].payload = w->payload;
            jobs[i].payload_len = strlen(w->payload);
        }
        if (store_enqueue(s, jobs, 32, dup, &err) < 0)
            w->failed = 1;
    }
    store_disconnect(s);
    return NULL;
}

/* While another connection keeps committing (as the group-commit writer does under load), store_checkpoint still
 * rewinds the log: its size stays near the rewind threshold (32 MiB) instead of growing with everything written,
 * and no enqueue fails. The rewind now first chases the writers with unlocked passes (issue 18); a pass loop that
 * never reached the rewind would let the log grow to the whole run. */
static void test_checkpoint_rewinds_the_log_under_steady_writes(void **state)
{
    fx_t *f = *state;
    if (!f->path[0])
        skip();   /* PostgreSQL checkpoints by itself */
    /* Incompressible, so each job fills its own page: 24,000 jobs write about 3× the rewind threshold in frames. */
    static char payload[4001];
    unsigned seed = 18;
    for (size_t i = 0; i < sizeof(payload) - 1; i++)
        payload[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[rand_r(&seed) % 64];
    steady_writer_t w = {.db = f->db, .payload = payload, .jobs = 24000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, steady_write, &w), 0);
    char wal[128];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    off_t biggest = 0;
    err_t err;
    for (;;) {
        struct timespec tick = {0, 20 * 1000000L};
        nanosleep(&tick, NULL);
        assert_int_equal(store_checkpoint(f->s, &err), 0);
        struct stat st;
        if (stat(wal, &st) == 0 && st.st_size > biggest)
            biggest = st.st_size;
        if (pthread_tryjoin_np(t, NULL) == 0)
            break;
    }
    assert_int_equal(w.failed, 0);
    struct stat db;
    assert_int_equal(stat(f->path, &db), 0);
    assert_true(db.st_size > 3 * 8192 * 4096LL / 2);   /* the run did write well past the threshold */
    assert_true(biggest < 2 * 8192 * (4096LL + 24));     /* and the log was rewound, not grown to all of it */
}

/* The log's rewind takes the writers' lock next (store__lock_writers_next): after the transaction running then,
 * before a writer that commits and begins again at once, as the ack path's writer does under load. A plain mutex
 * let such a writer keep it through dozens of commits while the log grew by thousands of frames (issue 18). */
typedef struct hot_writer {
    store_db_t *db;
    atomic_int begun;   /* transactions begun */
    atomic_bool stop;
    int failed;
} hot_writer_t;

static void *hot_write(void *arg)
{
    hot_writer_t *w = arg;
    err_t err;
    store_t *s = store_connect(w->db, false, 5000, &err);
    if (!s) {
        w->failed = 1;
        return NULL;
    }
    while (!atomic_load(&w->stop)) {
        if (store__begin_write(s, &err) < 0) {
            w->failed = 1;
            break;
        }
        atomic_fetch_add(&w->begun, 1);
        if (store__commit(s, &err) < 0) {
            w->failed = 1;
            break;
        }
    }
    store_disconnect(s);
    return NULL;
}

static void test_rewind_takes_the_writers_lock_next(void **state)
{
    fx_t *f = *state;
    if (!f->path[0])
        skip();   /* the in-process writer mutex is SQLite's */
    hot_writer_t w = {.db = f->db};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hot_write, &w), 0);
    int most = 0;
    for (int round = 0; round < 50; round++) {
        int start = atomic_load(&w.begun);
        while (atomic_load(&w.begun) < start + 20 && !w.failed)
            sched_yield();   /* the writer is committing back to back */
        int asked = atomic_load(&w.begun);
        store__lock_writers_next(f->db);
        int got = atomic_load(&w.begun);   /* the writer cannot begin another while the lock is held */
        store__unlock_writers(f->db);
        if (got - asked > most)
            most = got - asked;
    }
    atomic_store(&w.stop, true);
    pthread_join(t, NULL);
    assert_int_equal(w.failed, 0);
    /* the transaction running when it asked, and one that had passed the turn but not yet the lock */
    assert_true(most <= 2);
}

/* A checkpoint syncs the database file in steps of STORE_VFS_DB_STEP bytes (store_vfs.c; issue 18), not once at
 * the end: one flush of everything it copied held the ack path's next WAL sync for 5–13 ms. Four MiB of pages are
 * copied in about sixteen steps, by any connection, durable or not, and every page reads back afterwards. */
static sqlite3_file *db_file_of(store_t *s)
{
    sqlite3_file *file = NULL;
    assert_int_equal(sqlite3_file_control(s->conn, "main", SQLITE_FCNTL_FILE_POINTER, &file), SQLITE_OK);
    return file;
}

static void test_checkpoint_syncs_the_database_in_steps(void **state)
{
    fx_t *f = *state;
    if (!f->path[0])
        skip();   /* PostgreSQL checkpoints by itself */
    err_t err;
    store_t *d = store_connect(f->db, true, 5000, &err);
    assert_non_null(d);
    static char payloads[50][4001];
    unsigned seed = 256;
    char first[JOB_ID_LEN + 1] = "", last[JOB_ID_LEN + 1] = "";
    for (int round = 0; round < 20; round++) {   /* 1,000 incompressible jobs: a page each, ~4 MiB */
        job_new_t jobs[50];
        char idem[50][32];
        bool dup[50];
        for (int i = 0; i < 50; i++) {
            for (size_t b = 0; b < sizeof(payloads[i]) - 1; b++)
                payloads[i][b] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[rand_r(&seed) % 64];
            snprintf(idem[i], sizeof(idem[i]), "step-%d", round * 50 + i);
            jobs[i] = fx_job(idem[i], idem[i], 1, 3);
            jobs[i].payload = payloads[i];
            jobs[i].payload_len = sizeof(payloads[i]) - 1;
        }
        assert_int_equal(store_enqueue(d, jobs, 50, dup, &err), 0);
        if (round == 0)
            snprintf(first, sizeof(first), "%s", jobs[0].id);
        snprintf(last, sizeof(last), "%s", jobs[49].id);
    }
    assert_int_equal(store__vfs_db_steps(db_file_of(f->s)), 0);
    struct stat before, after;
    assert_int_equal(stat(f->path, &before), 0);
    assert_int_equal(store_checkpoint(f->s, &err), 0);   /* a connection that is not durable: housekeeping's */
    assert_int_equal(stat(f->path, &after), 0);
    long long copied = (long long)(after.st_size - before.st_size);
    assert_true(copied > 4000LL * 1000);
    long long steps = store__vfs_db_steps(db_file_of(f->s));
    assert_true(steps >= copied / STORE_VFS_DB_STEP - 1);
    assert_true(steps <= copied / STORE_VFS_DB_STEP + 1);
    /* the durable connection's database file is paced as well, and has copied nothing yet */
    assert_int_equal(store__vfs_db_steps(db_file_of(d)), 0);
    job_t *j = NULL;
    assert_int_equal(store_job_get(f->s, first, &j, &err), 1);
    job_free(j);
    assert_int_equal(store_job_get(d, last, &j, &err), 1);
    assert_memory_equal(j->payload, payloads[49], sizeof(payloads[49]) - 1);
    job_free(j);
    store_disconnect(d);
}

/* A durable connection's WAL writes are gathered until the commit's sync (store_vfs.c). Every commit must still
 * be in the file when it returns: another connection (the default VFS, its own file handle) reads each batch at
 * once, whole. The batches run from one job to commits larger than the gathering buffer (up to ~300 KB of
 * frames, flushed in steps), and past the rewind threshold with checkpoints in between, so the log is also
 * rewound under the gathering connection. Each payload is incompressible and distinct. The batches are committed on
 * durable connection d; deferred: its syncs are deferred (store_defer_sync) and it syncs every 7 rounds. */
static void commits_are_read_at_once(fx_t *f, store_t *d, bool deferred)
{
    err_t err;
    static char payloads[64][3001];
    unsigned seed = 7;
    int seq = 0;
    for (int round = 0; round < 360; round++) {
        int n = 1 + (round % 7) * 10;   /* 1 .. 61 jobs of ~3 KB: up to ~60 pages and their index pages */
        job_new_t jobs[64];
        char idem[64][32];
        bool dup[64];
        for (int i = 0; i < n; i++) {
            for (size_t b = 0; b < sizeof(payloads[i]) - 1; b++)
                payloads[i][b] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[rand_r(&seed) % 64];
            snprintf(idem[i], sizeof(idem[i]), "durable-%d", seq++);
            jobs[i] = fx_job(idem[i], idem[i], 1, 3);
            jobs[i].payload = payloads[i];
            jobs[i].payload_len = sizeof(payloads[i]) - 1;
        }
        assert_int_equal(store_enqueue(d, jobs, (size_t)n, dup, &err), 0);
        for (int i = 0; i < n; i += (n > 1 ? n - 1 : 1)) {   /* the first and the last job of the batch */
            job_t *j = NULL;
            assert_int_equal(store_job_get(f->s, jobs[i].id, &j, &err), 1);
            assert_string_equal(j->payload, payloads[i]);
            job_free(j);
        }
        if (round % 20 == 19)
            assert_int_equal(store_checkpoint(f->s, &err), 0);
        if (deferred && round % 7 == 6)
            assert_int_equal(store_sync(d, &err), 0);
    }
}

static void test_durable_commits_are_read_at_once_by_other_connections(void **state)
{
    fx_t *f = *state;
    if (!f->path[0])
        skip();   /* the gathering VFS is SQLite's */
    err_t err;
    store_t *d = store_connect(f->db, true, 5000, &err);
    assert_non_null(d);
    commits_are_read_at_once(f, d, false);
    store_disconnect(d);
}

/* store_defer_sync (a pool's dispatcher with a local queue, issue 18): the commit no longer syncs, but its frames
 * are in the log when it returns, where every other connection reads them (a frame left in store_vfs's WAL buffer
 * would read back as another page, or not at all). PostgreSQL commits are durable as they return: nothing to defer.
 */
static void test_deferred_commits_are_read_at_once_and_synced_on_demand(void **state)
{
    fx_t *f = *state;
    err_t err;
    store_t *d = store_connect(f->db, true, 5000, &err);
    assert_non_null(d);
    if (!f->path[0]) {
        assert_int_equal(store_defer_sync(d), 0);
        assert_int_equal(store_sync(d, &err), 0);
        store_disconnect(d);
        skip();
    }
    assert_int_equal(store_defer_sync(d), 1);
    assert_int_equal(store_defer_sync(d), 1);   /* once is enough; again changes nothing */
    commits_are_read_at_once(f, d, true);
    assert_int_equal(store_checkpoint(d, &err), 0);   /* syncs the log before it copies it */
    assert_int_equal(store_sync(d, &err), 0);
    store_disconnect(d);
    /* a connection that is not durable has nothing to defer: it never syncs at commit */
    store_t *n = store_connect(f->db, false, 5000, &err);
    assert_non_null(n);
    assert_int_equal(store_defer_sync(n), 0);
    assert_int_equal(store_sync(n, &err), 0);
    store_disconnect(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enqueue_is_idempotent, setup, teardown),
        cmocka_unit_test(test_job_id_is_deterministic),
        cmocka_unit_test_setup_teardown(test_one_key_runs_one_job_oldest_event_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_batch_claims_heads_only_and_keeps_key_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_batch_lost_lease_mid_batch_and_two_outcomes_on_one_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_finish_batch_of_hundreds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_batch_mixed_round_records_each_outcome_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_batch_two_outcomes_of_one_job_in_the_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_batch_claims_without_a_copy_of_every_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_batch_next_head_waits_for_a_more_urgent_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_batch_claims_the_next_job_of_a_key_it_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_leaves_the_keys_index_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_batch_refused_round_records_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running_attempt_shows_then_ends_as_one_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_migrations_from_5_keep_jobs_and_open_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_migration_7_keeps_an_open_attempt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_payload_reads_back_and_is_found_by_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_older_event_becomes_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_lease_discards_result_and_expiry_requeues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reap_reads_only_expired_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attempt_is_written_once_and_shown_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unclaim_gives_claims_back_as_if_never_made, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_respects_retention, setup, teardown),
        cmocka_unit_test(test_backoff_full_jitter_bounded),
        cmocka_unit_test(test_policy_overrides),
        cmocka_unit_test(test_shopify_classification),
        cmocka_unit_test_setup_teardown(test_links_batches_pages_and_reverse_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursors_and_live_jobs_per_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_failures_grouped_by_cause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_migration_8_keeps_jobs_and_their_figures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_migration_9_keeps_the_live_jobs_of_each_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_operator_figures_do_not_walk_the_done_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_bulk_retry_takes_exactly_one_cause_and_audits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_operate_as_audits_only_what_happened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_activity_buckets_and_jobs_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_rewinds_the_log_under_steady_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewind_takes_the_writers_lock_next, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_syncs_the_database_in_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_commits_are_read_at_once_by_other_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_commits_are_read_at_once_and_synced_on_demand, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_leadership_is_held_by_one_connection_and_moves_when_it_closes, setup,
                                        teardown),
    };
    srandom((unsigned)getpid());
    return fx_run_both("store", tests, sizeof(tests) / sizeof(tests[0]));
}
