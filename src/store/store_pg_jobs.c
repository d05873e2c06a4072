/* store_pg_jobs: the queue on PostgreSQL — ordering-key locks and heads, enqueue, claim / finish / lease, reaping
 * and pruning, one job's state transitions (operate_locked, set_state), reading a job and its attempts. Several
 * nodes run these at once: see store_pg.c for how the single-node guarantees hold. SQLite: store_sqlite_jobs.c.
 * Not here: the operator's actions and audit (store_pg_audit.c), the dashboard's queries (store_pg_ops.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "store/store.h"
#include "store/store_engine.h"
#include "store/store_pg.h"

/* ---- ordering keys ----------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Take the advisory locks of n ordering keys in byte order (duplicates once): every transaction that changes heads
 * takes its keys' locks first and in this order, so two nodes never wait on each other in a cycle. */
static int lock_keys(pg_t *s, const char **keys, size_t n, err_t *err)
{
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(keys[i], keys[i - 1]) == 0)
            continue;
        pg_args_t a = {0};
        store__pg_a_str(&a, keys[i]);
        if (store__pg_run_cmd(s, Q_LOCK_KEY, &a, NULL, err, "lock ordering key") < 0)
            return -1;
    }
    return 0;
}

static int lock_key(pg_t *s, const char *key, err_t *err)
{
    return lock_keys(s, &key, 1, err);
}

/* 1 when a job became its key's head, 0 otherwise, -1 on error. */
static int refresh_head(pg_t *s, const char *okey, err_t *err)
{
    pg_args_t a = {0};
    store__pg_a_str(&a, okey);
    PGresult *r = store__pg_run(s, Q_REFRESH, &a, err, "refresh key head");
    if (!r)
        return -1;
    int made = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return made;
}

int store__pg_notify_nodes(pg_t *s, err_t *err)
{
    return store__pg_run_cmd(s, Q_NOTIFY, NULL, NULL, err, "notify");
}

/* Inside a transaction: the jobs of sql (PG_JOB_COLS rows) into *found, then their keys locked (lock_keys). On -1
 * *found is freed. */
int store__pg_select_and_lock(pg_t *s, const char *sql, const pg_args_t *a, job_t ***found, size_t *nfound, err_t *err,
                           const char *what)
{
    int rc = store__pg_select_jobs(s, sql, a, found, nfound, err, what);
    if (rc < 0)
        return -1;
    const char **keys = rc == 0 && *nfound ? malloc(*nfound * sizeof(*keys)) : NULL;
    if (rc == 0 && *nfound && !keys)
        rc = err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    for (size_t i = 0; keys && i < *nfound; i++)
        keys[i] = (*found)[i]->ordering_key;
    if (keys && lock_keys(s, keys, *nfound, err) < 0)
        rc = -1;
    free(keys);
    if (rc < 0) {
        job_list_free(*found, *nfound);
        *found = NULL;
        *nfound = 0;
    }
    return rc;
}

/* ---- enqueue ----------------------------------------------------------------------------------------------- */

static int cmp_job_key(const void *a, const void *b, void *jobs)
{
    const job_new_t *j = jobs;
    return strcmp(j[*(const size_t *)a].ordering_key, j[*(const size_t *)b].ordering_key);
}

int store__pg_enqueue(store_t *h, const job_new_t *jobs, size_t n, bool *dup, err_t *err)
{
    pg_t *s = PG(h);
    if (n == 0)
        return 0;
    /* In key order, so that the key locks synchub_enqueue takes follow the global order (lock_keys). */
    size_t *order = malloc(n * sizeof(*order));
    if (!order)
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof(*order), cmp_job_key, (void *)jobs);
    int64_t now = clock_now_ms();
    if (store__pg_begin(s, err) < 0)
        goto fail;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        const job_new_t *j = &jobs[i];
        char own_corr[JOB_ID_LEN + 80];
        if (!j->correlation_id || !*j->correlation_id)
            snprintf(own_corr, sizeof(own_corr), "%.40s:%s", j->source ? j->source : "job", j->id);
        pg_args_t a = {0};
        store__pg_a_str(&a, j->id);
        store__pg_a_str(&a, j->kind);
        store__pg_a_str(&a, j->ordering_key);
        store__pg_a_int(&a, j->priority);
        store__pg_a_int(&a, j->max_attempts);
        store__pg_a_int(&a, j->lease_ms);
        store__pg_a_int(&a, j->event_time_ms);
        store__pg_a_int(&a, now);
        store__pg_a_str(&a, j->source);
        store__pg_a_str(&a, j->correlation_id && *j->correlation_id ? j->correlation_id : own_corr);
        store__pg_a_str(&a, j->meta);
        store__pg_a_bytes(&a, j->payload, j->payload_len);
        PGresult *r = store__pg_run(s, Q_ENQUEUE, &a, err, "insert job");
        if (!r)
            goto fail;
        if (dup)
            dup[i] = strcmp(PQgetvalue(r, 0, 0), "t") != 0;
        PQclear(r);
    }
    free(order);
    if (store__pg_commit(s, err) < 0)
        return -1;
    store__pg_wake_local(s->db, n != 1);
    return 0;
fail:
    free(order);
    store__pg_rollback(s);
    return -1;
}

/* ---- claim / finish / lease -------------------------------------------------------------------------------- */

/* Pick and lease the next head (inside or outside a transaction). 1 claimed, 0 nothing due, -1 error. */
static int claim_one(pg_t *s, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err)
{
    s->rng = s->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    pg_args_t a = {0};
    store__pg_a_int(&a, now);
    store__pg_a_int(&a, (int64_t)(s->rng >> 2) + 1);
    store__pg_a_str(&a, worker ? worker : "");
    PGresult *r = store__pg_run(s, Q_CLAIM, &a, err, "claim job");
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        if (next_due_ms) {
            if (!(r = store__pg_run(s, Q_NEXT_DUE, NULL, err, "next due")))
                return -1;
            *next_due_ms = store__pg_cell_int(r, 0, 0);
            PQclear(r);
        }
        return 0;
    }
    return store__pg_take_first_job(r, out, err);
}

int store__pg_claim(store_t *h, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    if (next_due_ms)
        *next_due_ms = 0;
    if (store__pg_ensure(s, err) < 0)
        return -1;
    /* One statement, its own transaction: the claim commits (or not) as a whole. */
    return claim_one(s, worker, now, out, next_due_ms, err);
}

static const char *outcome_name(job_state_t to)
{
    return to == JOB_DONE ? "done" : to == JOB_DEAD ? "dead" : "retry";
}

static int close_attempt(pg_t *s, int64_t rid, int n, int64_t now, const char *outcome, const err_t *why,
                         const char *note, err_t *err)
{
    pg_args_t a = {0};
    store__pg_a_int(&a, rid);
    store__pg_a_int(&a, n);
    store__pg_a_int(&a, now);
    store__pg_a_str(&a, outcome);
    store__pg_a_err(&a, why);
    store__pg_a_str(&a, note);
    return store__pg_run_cmd(s, Q_ATTEMPT_CLOSE, &a, NULL, err, "close attempt");
}

/* The finish UPDATE for a job held under token. *changed = 1 when it still held the lease. */
static int finish_row(pg_t *s, const char *id, int64_t token, job_state_t to, int64_t run_at, int64_t now,
                      const err_t *why, int64_t *changed, err_t *err)
{
    pg_args_t a = {0};
    store__pg_a_str(&a, id);
    store__pg_a_int(&a, token);
    store__pg_a_int(&a, (int)to);
    store__pg_a_int(&a, run_at);
    store__pg_a_int(&a, now);
    store__pg_a_err(&a, why);
    return store__pg_run_cmd(s, Q_FINISH, &a, changed, err, "finish job");
}

int store__pg_finish_claim(store_t *h, const job_t *job, job_state_t to, int64_t run_at, const err_t *why,
                           const char *note, int64_t now, const char *worker, job_t **next, int64_t *next_due_ms,
                           err_t *err)
{
    pg_t *s = PG(h);
    if (next)
        *next = NULL;
    if (next_due_ms)
        *next_due_ms = 0;
    pg_args_t a = {0};
    store__pg_a_str(&a, job->id);
    store__pg_a_int(&a, job->lease_token);
    store__pg_a_int(&a, (int)to);
    store__pg_a_int(&a, to == JOB_RETRY ? run_at : job->run_at);
    store__pg_a_int(&a, now);
    store__pg_a_err(&a, to == JOB_DONE ? NULL : why);
    store__pg_a_err(&a, why);
    store__pg_a_str(&a, outcome_name(to));
    store__pg_a_str(&a, note);
    /* Without a next claim, the finish is one statement in its own transaction. */
    if (next ? store__pg_begin(s, err) < 0 : store__pg_ensure(s, err) < 0)
        return -1;
    PGresult *r = store__pg_run(s, Q_FINISH_ONE, &a, err, "finish job");
    if (!r)
        goto fail;
    /* false: the lease was lost (the reaper or an operator moved the job); our result is void */
    int result = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 0 : 1;
    PQclear(r);
    if (next) {
        if (claim_one(s, worker, now, next, next_due_ms, err) < 0)
            goto fail;
        if (store__pg_commit(s, err) < 0) {
            job_free(*next);
            *next = NULL;
            return -1;
        }
    }
    if (result == 0 && to != JOB_RETRY)
        store__pg_wake_local(s->db, false); /* the next job of this key may be claimable now */
    return result;
fail:
    store__pg_rollback(s);
    return -1;
}

/* ---- batches: store_finish_batch ---------------------------------------------------------------------------- */

/* The columns of synchub_finish_round, in its parameter order (now comes between FM_KEY and FM_CLS). */
enum { FM_ID, FM_TOKEN, FM_TO, FM_RUN_AT, FM_KEY, FM_CLS, FM_CODE, FM_MSG, FM_REC, FM_HINT, FM_SAFE, FM_OUTCOME,
       FM_NOTE, FM_NCOLS };

/* One outcome as one element of every column; the error is the attempt's (the function clears it on a DONE job's
 * row, as synchub_finish). 0, or -1 when out of memory. */
static int finish_columns_add(buf_t *col, const store_outcome_t *o)
{
    const err_t *e = o->why && o->why->cls != ERR_NONE ? o->why : NULL;
    int bad = store__pg_arr_str(&col[FM_ID], o->job->id);
    bad |= store__pg_arr_int(&col[FM_TOKEN], o->job->lease_token);
    bad |= store__pg_arr_int(&col[FM_TO], (int)o->to);
    bad |= store__pg_arr_int(&col[FM_RUN_AT], o->to == JOB_RETRY ? o->run_at : o->job->run_at);
    bad |= store__pg_arr_str(&col[FM_KEY], o->job->ordering_key);
    bad |= store__pg_arr_int(&col[FM_CLS], e ? (int)e->cls : 0);
    bad |= store__pg_arr_str(&col[FM_CODE], e ? e->code : NULL);
    bad |= store__pg_arr_str(&col[FM_MSG], e ? e->message : NULL);
    bad |= store__pg_arr_str(&col[FM_REC], e && e->record[0] ? e->record : NULL);
    bad |= store__pg_arr_str(&col[FM_HINT], e && e->hint[0] ? e->hint : NULL);
    bad |= e ? store__pg_arr_int(&col[FM_SAFE], e->retry_safe) : store__pg_arr_str(&col[FM_SAFE], NULL);
    bad |= store__pg_arr_str(&col[FM_OUTCOME], outcome_name(o->to));
    bad |= store__pg_arr_str(&col[FM_NOTE], o->note);
    return bad ? -1 : 0;
}

/* synchub_finish_round's parameters for out[0..n): the columns as array literals in col (the caller releases them),
 * a pointing into them. Every result is set to 1 until the server names the outcome held. 0, or -1 (OOM). */
static int finish_many_args(buf_t *col, pg_args_t *a, store_outcome_t *out, size_t n, int64_t now, const pg_args_t *ca)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        out[i].result = 1;
        if (rc == 0)
            rc = finish_columns_add(col, &out[i]);
    }
    for (int c = 0; c < FM_NCOLS && rc == 0; c++)
        rc = store__pg_arr_end(&col[c]);
    for (int c = 0; c < FM_NCOLS && rc == 0; c++) {
        if (c == FM_CLS)
            store__pg_a_int(a, now);
        store__pg_a_str(a, buf_str(&col[c]));
    }
    /* The round's claim (Q_CLAIM_MANY's want, token, worker), for the heads it moves: none when it claims nothing. */
    store__pg_a_str(a, ca->n ? ca->v[3] : "0");
    store__pg_a_str(a, ca->n ? ca->v[1] : "0");
    store__pg_a_str(a, ca->n ? ca->v[2] : "");
    return rc;
}

/* The rows of synchub_finish_round: 1-based positions of the outcomes whose lease was held. */
static void finish_many_read(const PGresult *r, store_outcome_t *out, size_t n)
{
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t pos = store__pg_cell_int(r, row, 0);
        if (pos >= 1 && (uint64_t)pos <= n)
            out[pos - 1].result = 0;
    }
}

/* The claimed jobs of Q_CLAIM_MANY into claimed (room for want). 0, or -1 (OOM; the jobs read so far stay). */
static int claim_many_read(const PGresult *r, job_t **claimed, size_t want, size_t *nclaimed, err_t *err)
{
    for (int i = 0; i < PQntuples(r) && *nclaimed < want; i++) {
        if (!(claimed[*nclaimed] = store__pg_read_job(r, i)))
            return err_set(err, ERR_INTERNAL, "store.oom", "out of memory reading a job");
        (*nclaimed)++;
    }
    return 0;
}

enum { ROUND_BEGIN, ROUND_FINISH, ROUND_CLAIM, ROUND_COMMIT };

/* One pool round in ONE round trip: BEGIN, the outcomes (fa: synchub_finish_round, or NULL), the claim (ca:
 * Q_CLAIM_MANY, or NULL) and COMMIT go out together as a pipeline (libpq pipeline mode) and the answers are read
 * back in order.
 * The server runs them as one by one: the first error skips the rest up to the sync, and the open transaction is
 * then rolled back. The only large answer (the claimed jobs) comes after the server has read all but the last
 * few bytes we send, so writing everything before reading cannot stall on full socket buffers. 0, or -1 with err
 * (then nothing was committed as far as we know, and *nclaimed is 0). */
static int round_trip(pg_t *s, const pg_args_t *fa, const pg_args_t *ca, store_outcome_t *out, size_t n,
                      job_t **claimed, size_t want, size_t *nclaimed, err_t *err)
{
    char fname[8], cname[8];
    if ((fa && store__pg_prepare(s, Q_FINISH_MANY, fname, err) < 0) ||
        (ca && store__pg_prepare(s, Q_CLAIM_MANY, cname, err) < 0))
        return -1;
    if (PQenterPipelineMode(s->conn) != 1)
        return store__pg_fail(s, NULL, err, "enter pipeline mode");
    static const char *const what[] = {"begin", "finish jobs", "claim jobs", "commit"};
    int steps[4], nsteps = 0, rc = 0;
    s->in_tx = true; /* from here a failure may leave a transaction open: rolled back below */
    bool sent = PQsendQueryParams(s->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    if (sent)
        steps[nsteps++] = ROUND_BEGIN;
    if (sent && fa && (sent = PQsendQueryPrepared(s->conn, fname, fa->n, fa->v, fa->len, fa->fmt, 0)))
        steps[nsteps++] = ROUND_FINISH;
    if (sent && ca && (sent = PQsendQueryPrepared(s->conn, cname, ca->n, ca->v, ca->len, ca->fmt, 0)))
        steps[nsteps++] = ROUND_CLAIM;
    if (sent && (sent = PQsendQueryParams(s->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0)))
        steps[nsteps++] = ROUND_COMMIT;
    if (!sent)
        rc = store__pg_fail(s, NULL, err, "send batch");
    if (PQpipelineSync(s->conn) != 1 && rc == 0)
        rc = store__pg_fail(s, NULL, err, "pipeline sync");
    bool committed = false;
    for (int k = 0; k < nsteps; k++) {
        PGresult *r = PQgetResult(s->conn);
        if (!r) {
            if (rc == 0)
                rc = store__pg_fail(s, NULL, err, what[steps[k]]);
            break;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            if (rc == 0)
                rc = store__pg_fail(s, r, err, what[steps[k]]);
        } else if (rc == 0 && steps[k] == ROUND_FINISH) {
            finish_many_read(r, out, n);
        } else if (rc == 0 && steps[k] == ROUND_CLAIM) {
            /* Out of memory here cannot stop the COMMIT already sent: the round stands with the jobs read so far,
             * and the others stay leased but unworked until the reaper requeues them when their lease expires. */
            err_t oom;
            (void)claim_many_read(r, claimed, want, nclaimed, &oom);
        } else if (steps[k] == ROUND_COMMIT) {
            committed = rc == 0;
        }
        PQclear(r);
        while ((r = PQgetResult(s->conn))) /* the NULL that ends this statement's results */
            PQclear(r);
    }
    for (PGresult *r; (r = PQgetResult(s->conn));) {
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_PIPELINE_SYNC)
            break;
    }
    if (PQexitPipelineMode(s->conn) != 1 && rc == 0)
        rc = store__pg_fail(s, NULL, err, "exit pipeline mode");
    if (committed)
        s->in_tx = false;
    if (rc < 0) {
        store__pg_rollback(s);
        for (size_t k = 0; k < *nclaimed; k++)
            job_free(claimed[k]);
        *nclaimed = 0;
    }
    return rc;
}

/* All outcomes in one statement (synchub_finish_round takes the DONE/DEAD keys' locks in the global order itself)
 * and one statement claiming up to want heads, in one transaction sent as one pipeline (round_trip): with a durable
 * connection, one WAL flush and one round trip for the whole round. */
int store__pg_finish_batch(store_t *h, store_outcome_t *out, size_t n, int64_t now, const char *worker, size_t want,
                           job_t **claimed, size_t *nclaimed, int64_t *next_due_ms, err_t *err)
{
    pg_t *s = PG(h);
    *nclaimed = 0;
    if (next_due_ms)
        *next_due_ms = 0;
    buf_t col[FM_NCOLS];
    for (int c = 0; c < FM_NCOLS; c++)
        buf_init(&col[c]);
    pg_args_t fa = {0}, ca = {0};
    int rc = -1;
    if (want > 0) {
        s->rng = s->rng * 6364136223846793005ULL + 1442695040888963407ULL;
        store__pg_a_int(&ca, now);
        store__pg_a_int(&ca, (int64_t)(s->rng >> 3) + 1);   /* room for + rid */
        store__pg_a_str(&ca, worker ? worker : "");
        store__pg_a_int(&ca, (int64_t)want);
    }
    if (finish_many_args(col, &fa, out, n, now, &ca) < 0) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        goto out;
    }
    if (store__pg_ensure(s, err) < 0 ||
        round_trip(s, n > 0 ? &fa : NULL, want > 0 ? &ca : NULL, out, n, claimed, want, nclaimed, err) < 0)
        goto out;
    rc = 0;
    if (*nclaimed < want && next_due_ms) {
        /* After the commit, on its own: a hint for the dispatcher's sleep, so a failure here only leaves it 0 (the
         * dispatcher then waits its poll interval) and does not undo the round. */
        err_t ignored;
        PGresult *r = store__pg_run(s, Q_NEXT_DUE, NULL, &ignored, "next due");
        if (r)
            *next_due_ms = store__pg_cell_int(r, 0, 0);
        PQclear(r);
    }
    bool freed = false;
    for (size_t i = 0; i < n; i++)
        freed |= out[i].result == 0 && out[i].to != JOB_RETRY;
    if (freed && *nclaimed == want)
        store__pg_wake_local(s->db, true); /* heads this batch freed that it did not take: other pools may */
out:
    for (int c = 0; c < FM_NCOLS; c++)
        buf_release(&col[c]);
    return rc;
}

int store__pg_renew_lease(store_t *h, const char *id, int64_t token, int64_t until, err_t *err)
{
    pg_t *s = PG(h);
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_str(&a, id);
    store__pg_a_int(&a, token);
    store__pg_a_int(&a, until);
    int64_t changed = 0;
    if (store__pg_run_cmd(s, Q_RENEW, &a, &changed, err, "renew lease") < 0)
        return -1;
    return changed ? 0 : 1;
}

int store__pg_reap_expired(store_t *h, int64_t now, int *n, err_t *err)
{
    pg_t *s = PG(h);
    *n = 0;
    job_t **found = NULL;
    size_t nfound = 0;
    if (store__pg_begin(s, err) < 0)
        return -1;
    /* One reaper at a time across the nodes of this schema; the others find nothing this round. */
    PGresult *r = store__pg_run_sql(s, "SELECT pg_try_advisory_xact_lock(hashtextextended('reap:' || current_schema(), 0))",
                          NULL, err, "reaper lock");
    if (!r)
        goto fail;
    bool mine = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!mine) {
        store__pg_rollback(s);
        return 0;
    }
    pg_args_t a = {0};
    store__pg_a_int(&a, now);
    if (store__pg_select_and_lock(s, "SELECT " PG_JOB_COLS " FROM jobs WHERE state = 1 AND lease_until < $1::bigint LIMIT 100",
                        &a, &found, &nfound, err, "find expired leases") < 0)
        goto fail;
    int heads = 0;
    for (size_t i = 0; i < nfound; i++) {
        job_t *j = found[i];
        err_t why;
        bool dead = store__lost_error(j, &why);
        int64_t changed = 0;
        if (finish_row(s, j->id, j->lease_token, dead ? JOB_DEAD : JOB_RETRY, now, now, &why, &changed, err) < 0)
            goto fail;
        if (!changed)
            continue; /* its worker finished (or renewed) after all, between our read and our key lock */
        if (close_attempt(s, j->rid, j->attempts, now, "lost", &why, NULL, err) < 0)
            goto fail;
        int made = dead ? refresh_head(s, j->ordering_key, err) : 0;
        if (made < 0)
            goto fail;
        heads += made || !dead;
        (*n)++;
    }
    if (heads && store__pg_notify_nodes(s, err) < 0)
        goto fail;
    job_list_free(found, nfound);
    if (store__pg_commit(s, err) < 0) {
        *n = 0;
        return -1;
    }
    if (*n)
        store__pg_wake_local(s->db, true);
    return 0;
fail:
    job_list_free(found, nfound);
    *n = 0;
    store__pg_rollback(s);
    return -1;
}

/* Delete up to limit rows older than older_than with sql ($1 = older_than, $2 = limit): one statement, one short
 * transaction per batch, so autovacuum reclaims the rows of earlier batches while later ones run. */
int store__pg_delete_batch(pg_t *s, const char *sql, int64_t older_than, int limit, int *n, err_t *err, const char *what)
{
    *n = 0;
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_int(&a, older_than);
    store__pg_a_int(&a, limit > 0 ? limit : 1000);
    PGresult *r = store__pg_run_sql(s, sql, &a, err, what);
    if (!r)
        return -1;
    *n = (int)strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

int store__pg_prune(store_t *h, int64_t older_than, int limit, int *n, err_t *err)
{
    return store__pg_delete_batch(PG(h),
                        "WITH p AS (SELECT rid FROM jobs WHERE state IN (3, 5) AND updated_at < $1::bigint"
                        "   LIMIT $2::int),"
                        " a AS (DELETE FROM attempts WHERE job_rid IN (SELECT rid FROM p))"
                        " DELETE FROM jobs WHERE rid IN (SELECT rid FROM p)",
                        older_than, limit, n, err, "prune jobs");
}

/* ---- operator ---------------------------------------------------------------------------------------------- */

/* Find one job by full id or a unique prefix. 1 found, 0 not found, -1 error. */
static int find_job(pg_t *s, const char *id, job_t **out, err_t *err)
{
    *out = NULL;
    size_t len = strlen(id);
    if (store__check_job_id(id, err) < 0)
        return -1;
    pg_args_t a = {0};
    char hi[JOB_ID_LEN + 2];
    store__pg_a_str(&a, id);
    if (len < JOB_ID_LEN) {
        snprintf(hi, sizeof(hi), "%sg", id); /* 'g' sorts after every hex digit (the column's collation is C) */
        store__pg_a_str(&a, hi);
    }
    PGresult *r = store__pg_run(s, len == JOB_ID_LEN ? Q_BY_ID : Q_BY_PREFIX, &a, err, "find job");
    if (!r)
        return -1;
    int rows = PQntuples(r);
    if (rows > 1) {
        PQclear(r);
        return err_set(err, ERR_DATA, "job.ambiguous", "job id prefix '%s' matches more than one job; give more digits",
                       id);
    }
    if (rows == 0) {
        PQclear(r);
        return 0;
    }
    return store__pg_take_first_job(r, out, err);
}

int store__pg_job_get(store_t *h, const char *id, job_t **out, err_t *err)
{
    if (store__pg_ensure(PG(h), err) < 0)
        return -1;
    return find_job(PG(h), id, out, err);
}

/* Move a job (its key locked by the caller) from state `from` to QUEUED (operator retry/replay) or DISCARDED,
 * then fix its key's head. The state guard matters because a claim takes no key lock: a QUEUED job read under the
 * key lock may be RUNNING by the time of the UPDATE, and must then stay untouched. *changed = whether it moved.
 * 1 when a job became a head, 0 otherwise, -1 on error. */
int store__pg_set_state(pg_t *s, const job_t *j, job_state_t from, job_state_t to, int64_t now, bool *changed,
                     err_t *err)
{
    pg_args_t a = {0};
    store__pg_a_int(&a, j->rid);
    store__pg_a_int(&a, (int)to);
    store__pg_a_int(&a, now);
    store__pg_a_int(&a, (int)from);
    PGresult *r = store__pg_run_sql(s,
                          "UPDATE jobs SET state = $2::smallint, ready = false, run_at = $3::bigint,"
                          " updated_at = $3::bigint,"
                          " max_attempts = CASE WHEN $2::int = 0 THEN attempts + budget ELSE max_attempts END,"
                          " finished_at = CASE WHEN $2::int = 5 THEN $3::bigint END"
                          " WHERE rid = $1::bigint AND state = $4::smallint",
                          &a, err, "change job state");
    if (!r)
        return -1;
    *changed = strtoll(PQcmdTuples(r), NULL, 10) > 0;
    PQclear(r);
    return *changed ? refresh_head(s, j->ordering_key, err) : 0;
}

/* store_operate's transition inside the caller's transaction: find the job, lock its key, read it again (its state
 * may have changed before the lock: a worker finished it), check and move it. Nothing committed here. 0 or -1. */
int store__pg_operate_locked(pg_t *s, const char *id, store_op_t op, int64_t now, char full[JOB_ID_LEN + 1], err_t *err)
{
    job_t *j = NULL;
    int rc = find_job(s, id, &j, err);
    if (rc == 0)
        err_set(err, ERR_DATA, "job.not_found", "no job with id %s", id);
    if (rc <= 0)
        return -1;
    memcpy(full, j->id, JOB_ID_LEN + 1);
    rc = lock_key(s, j->ordering_key, err);
    job_free(j);
    j = NULL;
    if (rc < 0)
        return -1;
    if ((rc = find_job(s, full, &j, err)) <= 0) {
        if (rc == 0)
            err_set(err, ERR_DATA, "job.not_found", "no job with id %s", id);
        return -1;
    }
    bool changed = false;
    rc = store__check_operation(j, op, err);
    int made = rc < 0 ? -1 : store__pg_set_state(s, j, j->state, op == STORE_OP_DISCARD ? JOB_DISCARDED : JOB_QUEUED, now,
                                       &changed, err);
    if (made >= 0 && !changed) {
        /* only a claim moves a job without the key lock: it is RUNNING now */
        err_set(err, ERR_DATA, "job.state", "job %s is running: it was claimed meanwhile", full);
        err_hint(err, "wait until the running attempt ends");
        made = -1;
    }
    job_free(j);
    if (made < 0 || (made && store__pg_notify_nodes(s, err) < 0))
        return -1;
    return 0;
}

int store__pg_attempts(store_t *h, const job_t *job, job_attempt_t **out, size_t *n, err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    *n = 0;
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_int(&a, job->rid);
    PGresult *r = store__pg_run(s, Q_ATTEMPTS, &a, err, "read attempts");
    if (!r)
        return -1;
    int rows = PQntuples(r);
    bool oom;
    *out = store__pg_alloc_rows(r, sizeof(**out), &oom, err);
    if (oom)
        return -1;
    for (int i = 0; i < rows; i++) {
        job_attempt_t *at = &(*out)[i];
        at->n = (int)store__pg_cell_int(r, i, 0);
        at->started_at = store__pg_cell_int(r, i, 1);
        at->finished_at = store__pg_cell_int(r, i, 2);
        store__pg_cell_copy(r, i, 3, at->outcome, sizeof(at->outcome));
        store__pg_cell_copy(r, i, 4, at->worker, sizeof(at->worker));
        store__pg_read_err(r, i, 5, &at->error);
        /* A note on a successful attempt travels in the message field (as in SQLite's engine). */
        if (at->error.cls == ERR_NONE)
            store__pg_cell_copy(r, i, 11, at->error.message, sizeof(at->error.message));
    }
    *n = (size_t)rows;
    PQclear(r);
    return 0;
}
