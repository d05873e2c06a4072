/* store_sqlite_jobs: the queue on SQLite — ordering-key heads, enqueue, claim / finish / lease, reaping and
 * pruning, one job's state transitions (store__operate_locked, store__set_state), reading jobs and their attempts.
 * PostgreSQL: store_pg_jobs.c. Not here: the operator's actions and audit (store_sqlite_audit.c), the dashboard's
 * queries (store_sqlite_ops.c). */
#define _GNU_SOURCE
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "store/store_engine.h"
#include "store/store_sqlite.h"
#include "store/store_payload.h"

/* ---- ordering-key head ------------------------------------------------------------------------------------- */

static int set_ready(store_t *s, int64_t rid, int ready, err_t *err)
{
    sqlite3_stmt *st = store__lite_q(s, Q_HEAD_SET, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_int(st, 2, ready);
    return store__lite_step_done(s, st, err, "mark key head") < 0 ? -1 : 0;
}

/* The earliest live job of okey (jobs_key, in order) into *rid, 0 when the key has none. 0 or -1. */
static int earliest_live(store_t *s, const char *okey, int64_t *rid, err_t *err)
{
    sqlite3_stmt *st = store__lite_q(s, Q_HEAD_FIND, err);
    if (!st)
        return -1;
    store__lite_bind_text(st, 1, okey);
    int rc = store__lite_step_done(s, st, err, "find earliest job of key");
    if (rc < 0)
        return -1;
    *rid = rc ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return 0;
}

/* Re-establish "exactly one ready job per live key" after a job of okey entered or left the live states.
 * Three index probes whatever the key's backlog: the current head (jobs_head), and if it is not running, the
 * earliest live job (jobs_key in order). A running job is always the head: it was claimed as the head and stays
 * ready until it leaves the live states. added_time: the event time of a job just inserted (the caller's only
 * change), else NULL. */
static int refresh_head_after(store_t *s, const char *okey, const int64_t *added_time, err_t *err)
{
    sqlite3_stmt *st = store__lite_q(s, Q_HEAD_CUR, err);
    if (!st)
        return -1;
    store__lite_bind_text(st, 1, okey);
    int rc = store__lite_step_done(s, st, err, "find key head");
    if (rc < 0)
        return -1;
    int64_t cur = rc ? sqlite3_column_int64(st, 0) : 0;
    int cur_state = rc ? sqlite3_column_int(st, 1) : -1;
    int64_t cur_time = rc ? sqlite3_column_int64(st, 2) : 0;
    sqlite3_reset(st);
    if (cur_state == JOB_RUNNING)
        return 0;
    /* A job just inserted has the largest rid, so it sorts after a head whose event time is not later: the head,
     * the earliest of the other live jobs, stays the earliest. This spares the ack path the second probe for
     * every webhook on a key that already has a backlog (issue 18). */
    if (cur && added_time && cur_time <= *added_time)
        return 0;
    int64_t best;
    if (earliest_live(s, okey, &best, err) < 0)
        return -1;
    if (best == cur)
        return 0;
    if (cur && set_ready(s, cur, 0, err) < 0)
        return -1;
    return best ? set_ready(s, best, 1, err) : 0;
}

static int refresh_head(store_t *s, const char *okey, err_t *err)
{
    return refresh_head_after(s, okey, NULL, err);
}

/* refresh_head for a key whose head has just left the live states (a RUNNING job finished DONE or DEAD, its row
 * no longer ready): a running job is always its key's head, so the key has no ready job now and only the earliest
 * live one needs marking. One statement instead of refresh_head's four on the dispatcher's hot path. */
static int promote_next_head(store_t *s, const char *okey, err_t *err)
{
    sqlite3_stmt *st = store__lite_q(s, Q_HEAD_PROMOTE, err);
    if (!st)
        return -1;
    store__lite_bind_text(st, 1, okey);
    return store__lite_step_done(s, st, err, "mark next key head") < 0 ? -1 : 0;
}

/* ---- enqueue ----------------------------------------------------------------------------------------------- */

/* A redelivery of a webhook the store already holds: count it in the stored job's meta ("duplicates", and
 * "last_duplicate_at" = the redelivery's received_at), so `synchub trace` can say how often Shopify delivered the
 * event. Only duplicates pay for it (one UPDATE by the primary key in the same transaction). */
static int note_duplicate(store_t *s, const job_new_t *j, err_t *err)
{
    static const char sql[] =
        "UPDATE jobs SET meta = json_set(meta, '$.duplicates', coalesce(json_extract(meta, '$.duplicates'), 0) + 1,"
        " '$.last_duplicate_at', CASE WHEN json_valid(?2) THEN json_extract(?2, '$.received_at') END)"
        " WHERE id = ?1 AND json_valid(meta)";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->conn, sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare duplicate count");
    store__lite_bind_text(st, 1, j->id);
    store__lite_bind_text(st, 2, j->meta);
    int rc = store__lite_step_done(s, st, err, "count duplicate delivery");
    sqlite3_finalize(st);
    return rc < 0 ? -1 : 0;
}

int store__lite_enqueue(store_t *s, const job_new_t *jobs, size_t n, bool *dup, err_t *err)
{
    int64_t now = clock_now_ms();
    if (!s->packer)
        s->packer = store_packer_new();   /* NULL (out of memory): payloads are stored as they came */
    if (store__begin_write(s, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const job_new_t *j = &jobs[i];
        sqlite3_stmt *st = store__lite_q(s, Q_INSERT, err);
        if (!st)
            goto fail;
        store__lite_bind_text(st, 1, j->id);
        store__lite_bind_text(st, 2, j->kind);
        store__lite_bind_text(st, 3, j->ordering_key);
        sqlite3_bind_int(st, 4, j->priority);
        sqlite3_bind_int(st, 5, j->max_attempts);
        sqlite3_bind_int64(st, 6, j->lease_ms);
        sqlite3_bind_int64(st, 7, j->event_time_ms);
        sqlite3_bind_int64(st, 8, now);
        store__lite_bind_text(st, 9, j->source);
        /* Every job carries a correlation id: one not derived from a parent or a delivery starts its own chain. */
        char own_corr[JOB_ID_LEN + 80];
        if (!j->correlation_id || !*j->correlation_id)
            snprintf(own_corr, sizeof(own_corr), "%.40s:%s", j->source ? j->source : "job", j->id);
        store__lite_bind_text(st, 10, j->correlation_id && *j->correlation_id ? j->correlation_id : own_corr);
        store__lite_bind_text(st, 11, j->meta);
        if (store_payload_bind(s->packer, st, 12, j->payload, j->payload_len) != SQLITE_OK) {
            store__sql_error(s, err, "bind payload");
            goto fail;
        }
        if (store__lite_step_done(s, st, err, "insert job") < 0)
            goto fail;
        bool d = sqlite3_changes(s->conn) == 0;
        if (dup)
            dup[i] = d;
        if (d && j->source && !strcmp(j->source, "shopify") && note_duplicate(s, j, err) < 0)
            goto fail;
        if (!d && refresh_head_after(s, j->ordering_key, &j->event_time_ms, err) < 0)
            goto fail;
    }
    if (store__commit(s, err) < 0)
        return -1;
    store__lite_db_notify(s->db, n == 1 ? 1 : -1);
    return 0;
fail:
    store__rollback(s);
    return -1;
}

/* ---- claim / finish / lease -------------------------------------------------------------------------------- */

/* Inside a write transaction: pick and lease the next head. 1 claimed, 0 nothing due, -1 error. */
static int claim_locked(store_t *s, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err)
{
    sqlite3_stmt *st = store__lite_q(s, Q_CLAIM_PICK, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    int rc = store__lite_step_done(s, st, err, "pick job");
    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (next_due_ms && (st = store__lite_q(s, Q_NEXT_DUE, err)) && store__lite_step_done(s, st, err, "next due") == 1)
            *next_due_ms = sqlite3_column_int64(st, 0);
        return 0;
    }
    job_t *j = store__read_job(st);
    sqlite3_reset(st);
    if (!j)
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory reading a job");
    s->rng = s->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    j->lease_token = (int64_t)(s->rng >> 2) + 1;
    j->lease_until = now + j->lease_ms;
    j->attempts++;
    j->state = JOB_RUNNING;
    j->updated_at = now;   /* the running attempt's start (store__lite_attempts) */
    if (!(st = store__lite_q(s, Q_CLAIM_SET, err)))
        goto fail;
    sqlite3_bind_int64(st, 1, j->rid);
    sqlite3_bind_int64(st, 2, j->lease_until);
    sqlite3_bind_int64(st, 3, j->lease_token);
    sqlite3_bind_int64(st, 4, now);
    store__lite_bind_text(st, 5, worker);   /* the running attempt's worker (close_attempt, Q_ATTEMPTS) */
    if (store__lite_step_done(s, st, err, "claim job") < 0)
        goto fail;
    *out = j;
    return 1;
fail:
    job_free(j);
    return -1;
}

int store__lite_claim(store_t *s, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err)
{
    *out = NULL;
    if (next_due_ms)
        *next_due_ms = 0;
    if (store__begin_write(s, err) < 0)
        return -1;
    job_t *j = NULL;
    int rc = claim_locked(s, worker, now, &j, next_due_ms, err);
    if (rc <= 0) {
        store__rollback(s);
        return rc;
    }
    if (store__commit(s, err) < 0) {
        job_free(j);
        return -1;
    }
    *out = j;
    return 1;
}

static const char *outcome_name(job_state_t to)
{
    return to == JOB_DONE ? "done" : to == JOB_DEAD ? "dead" : "retry";
}

/* An attempt's row is written once, when it ends: while it runs, the job's row is the attempt (RUNNING, attempts =
 * its number, updated_at = when it was claimed, worker; Q_ATTEMPTS shows it from there), so a claim writes no
 * attempt row and the finish one, instead of an INSERT at the claim and an UPDATE at the finish (issue 18). OR
 * REPLACE: a paused attempt keeps its number (store__lite_pause) and its row is replaced when the job runs again;
 * a store written before this change may hold the 'running' row of a job that was running when it stopped. */
static int close_attempt(store_t *s, const job_t *job, int64_t now, const char *outcome, const err_t *why,
                         const char *note, err_t *err)
{
    sqlite3_stmt *st = store__lite_q(s, Q_ATTEMPT_CLOSE, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, job->rid);
    sqlite3_bind_int(st, 2, job->attempts);
    sqlite3_bind_int64(st, 3, now);
    store__lite_bind_text(st, 4, outcome);
    store__lite_bind_err(st, 5, why);
    store__lite_bind_text(st, 11, note && *note ? note : NULL);   /* an empty note is none, as in the set path */
    sqlite3_bind_int64(st, 12, job->updated_at);
    return store__lite_step_done(s, st, err, "close attempt") < 0 ? -1 : 0;
}

/* Inside a write transaction: end the attempt of a claimed job. 0 recorded, 1 lease lost, -1 error. */
static int finish_locked(store_t *s, const job_t *job, job_state_t to, int64_t run_at, const err_t *why,
                         const char *note, int64_t now, err_t *err)
{
    sqlite3_stmt *st = store__lite_q(s, Q_FINISH, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, job->rid);
    sqlite3_bind_int64(st, 2, job->lease_token);
    sqlite3_bind_int(st, 3, (int)to);
    sqlite3_bind_int64(st, 4, to == JOB_RETRY ? run_at : job->run_at);
    sqlite3_bind_int64(st, 5, now);
    store__lite_bind_err(st, 6, to == JOB_DONE ? NULL : why);
    if (store__lite_step_done(s, st, err, "finish job") < 0)
        return -1;
    if (sqlite3_changes(s->conn) == 0)
        return 1; /* the lease was lost: the reaper or an operator moved the job; our result is void */
    if (close_attempt(s, job, now, outcome_name(to), why, note, err) < 0)
        return -1;
    if ((to == JOB_DONE || to == JOB_DEAD) && promote_next_head(s, job->ordering_key, err) < 0)
        return -1;
    return 0;
}

int store__lite_finish_claim(store_t *s, const job_t *job, job_state_t to, int64_t run_at, const err_t *why,
                             const char *note, int64_t now, const char *worker, job_t **next, int64_t *next_due_ms,
                             err_t *err)
{
    if (next)
        *next = NULL;
    if (next_due_ms)
        *next_due_ms = 0;
    if (store__begin_write(s, err) < 0)
        return -1;
    int result = finish_locked(s, job, to, run_at, why, note, now, err);
    if (result < 0)
        goto fail;
    if (next && claim_locked(s, worker, now, next, next_due_ms, err) < 0)
        goto fail;
    if (store__commit(s, err) < 0) {
        if (next) {
            job_free(*next);
            *next = NULL;
        }
        return -1;
    }
    if (result == 0 && to != JOB_RETRY)
        store__lite_db_notify(s->db, 1); /* the next job of this key may be claimable now */
    return result;
fail:
    store__rollback(s);
    return -1;
}

static int cmp_claim_order(const void *a, const void *b)
{
    const job_t *x = *(job_t *const *)a, *y = *(job_t *const *)b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    if (x->run_at != y->run_at)
        return x->run_at < y->run_at ? -1 : 1;
    return x->rid < y->rid ? -1 : x->rid > y->rid;
}

/* Inside a write transaction: lease up to want claimable heads in one statement (as claim_locked each), in claim
 * order. *n claimed; when fewer than want, *next_due_ms as claim_locked's. 0 or -1 (the jobs read so far stay in
 * claimed[0..*n) for the caller to free). */
static int claim_many_locked(store_t *s, const char *worker, int64_t now, size_t want, job_t **claimed, size_t *n,
                             int64_t *next_due_ms, err_t *err)
{
    sqlite3_stmt *st = store__lite_q(s, Q_CLAIM_MANY, err);
    if (!st)
        return -1;
    s->rng = s->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (int64_t)(s->rng >> 3) + 1);   /* room for + rid */
    sqlite3_bind_int64(st, 3, (int64_t)want);
    store__lite_bind_text(st, 4, worker);
    int rc;
    while ((rc = store__lite_step_done(s, st, err, "claim jobs")) == 1 && *n < want) {
        if (!(claimed[*n] = store__read_job(st)))
            return err_set(err, ERR_INTERNAL, "store.oom", "out of memory reading a job");
        (*n)++;
    }
    if (rc < 0)
        return -1;
    sqlite3_reset(st);
    qsort(claimed, *n, sizeof(*claimed), cmp_claim_order);
    if (*n < want && next_due_ms && (st = store__lite_q(s, Q_NEXT_DUE, err)) &&
        store__lite_step_done(s, st, err, "next due") == 1)
        *next_due_ms = sqlite3_column_int64(st, 0);
    return 0;
}

/* A round's plain DONE outcomes (no error, no or an empty note; nearly all of them) recorded set-based: four
 * statements for the round (Q_DONE_LEASES, _ATTEMPTS, _FINISH, _PROMOTE) where finish_locked runs three per job.
 * Each SQLite statement opens a cursor on the table and on every index it may change, and closes them when it
 * ends; per job that setup and teardown was about a quarter of the dispatcher's CPU (perf, bench_queue
 * --local-queue 500, issue 18). What is written is the same, row for row. Order within the round does not matter:
 * only a key's head runs, so a round holds at most one outcome per key whose lease is still valid; a lost lease
 * (another token, or the job no longer running) is left alone here as in finish_locked (result 1). Below
 * DONE_SET_MIN outcomes the per-job path is as cheap: then nothing is done here and *set_based is false; else
 * every plain DONE outcome has its result and *set_based is true. *freed when it finished any. 0 or -1. */
#define DONE_SET_MIN 4

typedef struct done_ix {
    int64_t rid, token;
    size_t i;
} done_ix_t;

/* By rid, then token: a round may hold two outcomes of one job (a stale one, run under a lease the job lost, and
 * the current one), and only the pair the row holds is recorded. */
static int cmp_done_ix(const void *a, const void *b)
{
    const done_ix_t *x = a, *y = b;
    if (x->rid != y->rid)
        return x->rid < y->rid ? -1 : 1;
    return x->token < y->token ? -1 : x->token > y->token;
}

static bool plain_done(const store_outcome_t *o)
{
    return o->to == JOB_DONE && (!o->why || o->why->cls == ERR_NONE) && (!o->note || !o->note[0]);
}

/* Bind json (a JSON array) as ?1 and now as ?2 (when the statement has it), and run q to its end. 0 or -1. */
static int run_round_statement(store_t *s, int q, const buf_t *json, int64_t now, const char *what, err_t *err)
{
    sqlite3_stmt *st = store__lite_q(s, q, err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, buf_str(json), (int)json->len, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, now);
    int rc = store__lite_step_done(s, st, err, what);
    sqlite3_reset(st);
    return rc < 0 ? -1 : 0;
}

static int finish_done_many_locked(store_t *s, store_outcome_t *out, size_t n, int64_t now, bool *set_based,
                                   bool *freed, err_t *err)
{
    *set_based = false;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += plain_done(&out[i]);
    if (m < DONE_SET_MIN)
        return 0;
    done_ix_t *ix = malloc(m * sizeof(*ix));
    buf_t all = BUF_INIT, done = BUF_INIT;
    int rc = -1;
    bool oom = !ix || buf_puts(&all, "[") < 0 || buf_puts(&done, "[") < 0;
    size_t k = 0;
    for (size_t i = 0; i < n && !oom; i++) {
        if (!plain_done(&out[i]))
            continue;
        const job_t *j = out[i].job;
        oom = buf_printf(&all, "%s%lld", k ? "," : "", (long long)j->rid) < 0;
        ix[k++] = (done_ix_t){j->rid, j->lease_token, i};
        out[i].result = 1;   /* until the row shows its lease held */
    }
    if (oom || buf_puts(&all, "]") < 0) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory recording a round's outcomes");
        goto out;
    }
    qsort(ix, m, sizeof(*ix), cmp_done_ix);
    /* which still hold the lease their outcome was run under */
    sqlite3_stmt *st = store__lite_q(s, Q_DONE_LEASES, err);
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, buf_str(&all), (int)all.len, SQLITE_STATIC);
    size_t nd = 0;
    int step;
    while ((step = store__lite_step_done(s, st, err, "read leases")) == 1) {
        done_ix_t key = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), 0};
        done_ix_t *hit = bsearch(&key, ix, m, sizeof(*ix), cmp_done_ix);
        if (!hit)
            continue;
        if (buf_printf(&done, "%s%lld", nd ? "," : "", (long long)key.rid) < 0) {
            sqlite3_reset(st);
            err_set(err, ERR_INTERNAL, "store.oom", "out of memory recording a round's outcomes");
            goto out;
        }
        out[hit->i].result = 0;
        nd++;
    }
    sqlite3_reset(st);
    if (step < 0 || buf_puts(&done, "]") < 0)
        goto out;
    if (nd > 0) {
        if (run_round_statement(s, Q_DONE_ATTEMPTS, &done, now, "close attempts", err) < 0 ||
            run_round_statement(s, Q_DONE_FINISH, &done, now, "finish jobs", err) < 0)
            goto out;
        if ((size_t)sqlite3_changes(s->conn) != nd) {
            err_set(err, ERR_INTERNAL, "store.internal", "a round finished %d of %zu jobs", sqlite3_changes(s->conn),
                    nd);
            goto out;
        }
        if (run_round_statement(s, Q_DONE_PROMOTE, &done, now, "mark next key heads", err) < 0)
            goto out;
    }
    *set_based = true;
    *freed |= nd > 0;
    rc = 0;
out:
    free(ix);
    buf_release(&all);
    buf_release(&done);
    return rc;
}

/* store_finish_batch: every outcome (the plain DONE ones set-based, the rest one by one), then up to want claims, in
 * one write transaction (one fsync on a durable connection). A finished job's successor on its key is made head
 * inside the transaction, so the claims that follow may take it: the order of a key is the order of its commits. */
int store__lite_finish_batch(store_t *s, store_outcome_t *out, size_t n, int64_t now, const char *worker, size_t want,
                             job_t **claimed, size_t *nclaimed, int64_t *next_due_ms, err_t *err)
{
    *nclaimed = 0;
    if (next_due_ms)
        *next_due_ms = 0;
    if (store__begin_write(s, err) < 0)
        return -1;
    bool freed = false, set_based = false;
    if (finish_done_many_locked(s, out, n, now, &set_based, &freed, err) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const store_outcome_t *o = &out[i];
        if (set_based && plain_done(o))
            continue;
        int rc = finish_locked(s, o->job, o->to, o->run_at, o->why, o->note, now, err);
        if (rc < 0)
            goto fail;
        out[i].result = rc;
        freed |= rc == 0 && o->to != JOB_RETRY;
    }
    if (want > 0 && claim_many_locked(s, worker, now, want, claimed, nclaimed, next_due_ms, err) < 0)
        goto fail;
    if (store__commit(s, err) < 0)
        goto released;
    if (freed && *nclaimed == want)
        store__lite_db_notify(s->db, -1); /* heads this batch freed that it did not take: other pools may */
    return 0;
fail:
    store__rollback(s);
released:
    for (size_t k = 0; k < *nclaimed; k++)
        job_free(claimed[k]);
    *nclaimed = 0;
    return -1;
}

int store__lite_renew_lease(store_t *s, const char *id, int64_t token, int64_t until, err_t *err)
{
    if (store__begin_write(s, err) < 0)
        return -1;
    sqlite3_stmt *st = store__lite_q(s, Q_RENEW, err);
    if (!st)
        goto fail;
    store__lite_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, token);
    sqlite3_bind_int64(st, 3, until);
    if (store__lite_step_done(s, st, err, "renew lease") < 0)
        goto fail;
    int changed = sqlite3_changes(s->conn);
    if (store__commit(s, err) < 0)
        return -1;
    return changed ? 0 : 1;
fail:
    store__rollback(s);
    return -1;
}

int store__lite_reap_expired(store_t *s, int64_t now, int *n, err_t *err)
{
    *n = 0;
    if (store__begin_write(s, err) < 0)
        return -1;
    sqlite3_stmt *st = store__lite_q(s, Q_EXPIRED, err);
    if (!st)
        goto fail;
    sqlite3_bind_int64(st, 1, now);
    job_t *found[100];
    int nfound = 0, rc;
    while (nfound < 100 && (rc = store__lite_step_done(s, st, err, "find expired leases")) == 1) {
        job_t *j = store__read_job(st);
        if (j)
            found[nfound++] = j;
    }
    sqlite3_reset(st);
    for (int i = 0; i < nfound; i++) {
        job_t *j = found[i];
        err_t why;
        bool dead = store__lost_error(j, &why);
        sqlite3_stmt *f = store__lite_q(s, Q_FINISH, err);
        if (f) {
            sqlite3_bind_int64(f, 1, j->rid);
            sqlite3_bind_int64(f, 2, j->lease_token);
            sqlite3_bind_int(f, 3, dead ? JOB_DEAD : JOB_RETRY);
            sqlite3_bind_int64(f, 4, now);
            sqlite3_bind_int64(f, 5, now);
            store__lite_bind_err(f, 6, &why);
        }
        if (!f || store__lite_step_done(s, f, err, "requeue expired") < 0 ||
            close_attempt(s, j, now, "lost", &why, NULL, err) < 0 ||
            (dead && refresh_head(s, j->ordering_key, err) < 0)) {
            for (int k = i; k < nfound; k++)
                job_free(found[k]);
            goto fail;
        }
        job_free(j);
        (*n)++;
    }
    if (store__commit(s, err) < 0)
        return -1;
    if (*n)
        store__lite_db_notify(s->db, -1);
    return 0;
fail:
    store__rollback(s);
    return -1;
}

int store__lite_prune(store_t *s, int64_t older_than, int limit, int *n, err_t *err)
{
    *n = 0;
    char sql[512];
    snprintf(sql, sizeof(sql),
             "CREATE TEMP TABLE IF NOT EXISTS prune_ids(rid INTEGER PRIMARY KEY);"
             "DELETE FROM prune_ids;"
             "INSERT INTO prune_ids SELECT rid FROM jobs INDEXED BY jobs_finished"
             " WHERE state IN (3, 5) AND updated_at < %lld LIMIT %d;"
             "DELETE FROM attempts WHERE job_rid IN (SELECT rid FROM prune_ids);"
             "DELETE FROM jobs WHERE rid IN (SELECT rid FROM prune_ids);",
             (long long)older_than, limit);
    if (store__begin_write(s, err) < 0)
        return -1;
    if (store__lite_exec(s, sql, err) < 0) {
        store__rollback(s);
        return -1;
    }
    *n = sqlite3_changes(s->conn);
    return store__commit(s, err);
}

/* ---- operator ---------------------------------------------------------------------------------------------- */

/* Find one job by full id or a unique prefix. 1 found, 0 not found, -1 error. */
static int find_job(store_t *s, const char *id, job_t **out, err_t *err)
{
    *out = NULL;
    size_t len = strlen(id);
    if (store__check_job_id(id, err) < 0)
        return -1;
    sqlite3_stmt *st;
    if (len == JOB_ID_LEN) {
        if (!(st = store__lite_q(s, Q_BY_ID, err)))
            return -1;
        store__lite_bind_text(st, 1, id);
    } else {
        char hi[JOB_ID_LEN + 2];
        snprintf(hi, sizeof(hi), "%sg", id); /* 'g' sorts after every hex digit */
        if (!(st = store__lite_q(s, Q_BY_PREFIX, err)))
            return -1;
        store__lite_bind_text(st, 1, id);
        store__lite_bind_text(st, 2, hi);
    }
    int rc = store__lite_step_done(s, st, err, "find job");
    if (rc <= 0)
        return rc;
    job_t *j = store__read_job(st);
    if (len < JOB_ID_LEN && store__lite_step_done(s, st, err, "find job") == 1) {
        sqlite3_reset(st);
        job_free(j);
        return err_set(err, ERR_DATA, "job.ambiguous", "job id prefix '%s' matches more than one job; give more digits",
                       id);
    }
    sqlite3_reset(st);
    if (!j)
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    *out = j;
    return 1;
}

int store__lite_job_get(store_t *s, const char *id, job_t **out, err_t *err)
{
    return find_job(s, id, out, err);
}

int store__set_state(store_t *s, const job_t *j, job_state_t to, int64_t now, err_t *err)
{
    sqlite3_stmt *st = store__lite_q(s, Q_OPERATE, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, j->rid);
    sqlite3_bind_int(st, 2, (int)to);
    sqlite3_bind_int64(st, 3, now);
    if (store__lite_step_done(s, st, err, "change job state") < 0)
        return -1;
    return refresh_head(s, j->ordering_key, err);
}

/* The transition of store_operate inside the caller's write transaction (store_sqlite_audit.c records the action in the
 * same one). Nothing is committed or rolled back here. */
int store__operate_locked(store_t *s, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1],
                          err_t *err)
{
    job_t *j = NULL;
    int rc = find_job(s, id, &j, err);
    if (rc == 0)
        err_set(err, ERR_DATA, "job.not_found", "no job with id %s", id);
    if (rc <= 0)
        return -1;
    rc = -1;
    if (store__check_operation(j, op, err) == 0 &&
        store__set_state(s, j, op == STORE_OP_DISCARD ? JOB_DISCARDED : JOB_QUEUED, now, err) == 0) {
        if (out_id)
            memcpy(out_id, j->id, JOB_ID_LEN + 1);
        rc = 0;
    }
    job_free(j);
    return rc;
}

/* ---- reading ----------------------------------------------------------------------------------------------- */

int store__lite_attempts(store_t *s, const job_t *job, job_attempt_t **out, size_t *n, err_t *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = store__lite_q(s, Q_ATTEMPTS, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, job->rid);
    /* A running attempt has no row yet (close_attempt): Q_ATTEMPTS reads it from the job's row as the store holds
     * it now (not from the caller's copy, which may be older than the finish it raced). */
    int rc;
    while ((rc = store__lite_step_done(s, st, err, "read attempts")) == 1) {
        job_attempt_t *g = realloc(*out, (*n + 1) * sizeof(*g));
        if (!g) {
            sqlite3_reset(st);
            return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        }
        *out = g;
        job_attempt_t *a = &g[(*n)++];
        memset(a, 0, sizeof(*a));
        a->n = sqlite3_column_int(st, 0);
        a->started_at = sqlite3_column_int64(st, 1);
        a->finished_at = sqlite3_column_int64(st, 2);
        store__lite_col_copy(st, 3, a->outcome, sizeof(a->outcome));
        store__lite_col_copy(st, 4, a->worker, sizeof(a->worker));
        store__lite_read_err(st, 5, &a->error);
        /* A note on a successful attempt ("skipped: stale event") travels in the message field of the attempt's
         * err_t; `jobs show --json` prints it as "note". */
        if (a->error.cls == ERR_NONE)
            store__lite_col_copy(st, 11, a->error.message, sizeof(a->error.message));
    }
    sqlite3_reset(st);
    return rc < 0 ? -1 : 0;
}

int store__lite_key_live(store_t *s, const char *ordering_key, int64_t *n, err_t *err)
{
    *n = 0;
    sqlite3_stmt *st = store__lite_q(s, Q_KEY_LIVE, err);
    if (!st)
        return -1;
    store__lite_bind_text(st, 1, ordering_key);
    int rc = store__lite_step_done(s, st, err, "count live jobs");
    if (rc == 1)
        *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc < 0 ? -1 : 0;
}
