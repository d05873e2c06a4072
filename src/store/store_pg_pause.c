/* store_pg_pause: pausing work on a target that is down, on PostgreSQL — store_pause puts a claimed job back to
 * RETRY without counting its attempt, store_resume makes paused jobs due now and wakes every node. Used by the
 * queue's circuit breaker (queue/queue_breaker.h); store_unclaim gives a stopping pool's unstarted claims back the
 * same way. The SQLite versions are in store_sqlite_pause.c. Not here: when a target counts as down
 * (queue_breaker.c). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/store.h"
#include "store/store_engine.h"
#include "store/store_pg.h"

/* The answer r of a statement that moved jobs (one count, or NULL on error) into *n; when it moved any they are
 * due now: every node's idle workers are woken (without the NOTIFY they would poll). 0, or -1 without r. */
static int jobs_moved(pg_t *s, PGresult *r, int *n)
{
    if (!r)
        return -1;
    *n = (int)store__pg_cell_int(r, 0, 0);
    PQclear(r);
    if (*n > 0) {
        err_t ignored;
        store__pg_notify_nodes(s, &ignored);
        store__pg_wake_local(s->db, true);
    }
    return 0;
}

int store__pg_pause(store_t *h, const job_t *job, int64_t run_at, const err_t *why, int64_t now, err_t *err)
{
    /* One statement: the job back to RETRY with its attempt uncounted (the key's head unchanged, as any retry), and
     * the attempt the claim opened closed as "paused" (the next claim's upsert of attempt n replaces it). */
    pg_t *s = PG(h);
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_str(&a, job->id);
    store__pg_a_int(&a, job->lease_token);
    store__pg_a_int(&a, run_at);
    store__pg_a_int(&a, now);
    store__pg_a_err(&a, why);
    PGresult *r = store__pg_run_sql(s,
                          "WITH u AS (UPDATE jobs SET state = 2, attempts = attempts - 1, run_at = $3::bigint,"
                          "   lease_until = NULL, updated_at = $4::bigint, err_class = $5::int, err_code = $6,"
                          "   err_message = $7, err_record = $8, err_hint = $9, err_retry_safe = $10::int"
                          "   WHERE id = $1 AND state = 1 AND lease_token = $2::bigint"
                          "   RETURNING rid, attempts + 1 AS n, started_at, worker),"
                          " a AS (INSERT INTO attempts AS t(job_rid, n, started_at, finished_at, outcome, worker,"
                          "   err_class, err_code, err_message, err_record, err_hint, err_retry_safe, note)"
                          "   SELECT rid, n, coalesce(started_at, $4::bigint), $4::bigint, 'paused', worker, $5::int,"
                          "   $6, $7, $8, $9, $10::int, 'not counted: the target is down' FROM u "
                          PG_ATTEMPT_UPSERT ")"
                          " SELECT count(*) FROM u",
                          &a, err, "pause job");
    if (!r)
        return -1;
    int64_t changed = store__pg_cell_int(r, 0, 0);
    PQclear(r);
    return changed > 0 ? 0 : 1;
}

int store__pg_resume(store_t *h, const char *const *ids, size_t n_ids, int64_t now, int *n, err_t *err)
{
    pg_t *s = PG(h);
    *n = 0;
    if (store__pg_ensure(s, err) < 0)
        return -1;
    /* the ids as an array literal: job ids are hex digits, nothing to quote */
    buf_t arr;
    buf_init(&arr);
    int bad = buf_append(&arr, "{", 1);
    for (size_t i = 0; i < n_ids && !bad; i++) {
        if (store__check_job_id(ids[i], err) < 0) {
            buf_release(&arr);
            return -1;
        }
        bad |= (i && buf_append(&arr, ",", 1) < 0) || buf_append(&arr, ids[i], strlen(ids[i])) < 0;
    }
    if (bad || buf_append(&arr, "}", 1) < 0) {
        buf_release(&arr);
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    }
    pg_args_t a = {0};
    store__pg_a_str(&a, buf_str(&arr));
    store__pg_a_int(&a, now);
    PGresult *r = store__pg_run_sql(s,
                          "WITH u AS (UPDATE jobs SET run_at = $2::bigint, updated_at = $2::bigint"
                          "   WHERE id = ANY($1::text[]) AND state = 2 AND run_at > $2::bigint RETURNING 1)"
                          " SELECT count(*) FROM u",
                          &a, err, "resume jobs");
    buf_release(&arr);
    return jobs_moved(s, r, n);
}

int store__pg_unclaim(store_t *h, const job_t *const *jobs, size_t n_jobs, int64_t now, int *n, err_t *err)
{
    /* store__pg_pause's job update without its error or its attempt row (a claim writes none: migration 6), in one
     * statement for all the jobs. A job that had run before is RETRY, as after that run; run_at and ready (the
     * key's head) stay as they were. No key lock, as for any RUNNING -> RETRY: the head does not move. */
    pg_t *s = PG(h);
    *n = 0;
    buf_t rids, tokens;
    buf_init(&rids);
    buf_init(&tokens);
    int bad = 0;
    for (size_t i = 0; i < n_jobs; i++)
        bad |= store__pg_arr_int(&rids, jobs[i]->rid) < 0 || store__pg_arr_int(&tokens, jobs[i]->lease_token) < 0;
    bad |= store__pg_arr_end(&rids) < 0 || store__pg_arr_end(&tokens) < 0;
    PGresult *r = NULL;
    if (bad) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    } else if (store__pg_ensure(s, err) == 0) {
        pg_args_t a = {0};
        store__pg_a_str(&a, buf_str(&rids));
        store__pg_a_str(&a, buf_str(&tokens));
        store__pg_a_int(&a, now);
        r = store__pg_run_sql(s,
                              "WITH c AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS c(rid, token)),"
                              " u AS (UPDATE jobs j SET state = CASE WHEN j.attempts > 1 THEN 2 ELSE 0 END,"
                              "   attempts = j.attempts - 1, lease_until = NULL, updated_at = $3::bigint FROM c"
                              "   WHERE j.rid = c.rid AND j.state = 1 AND j.lease_token = c.token RETURNING 1)"
                              " SELECT count(*) FROM u",
                              &a, err, "unclaim jobs");
    }
    buf_release(&rids);
    buf_release(&tokens);
    return jobs_moved(s, r, n);
}
