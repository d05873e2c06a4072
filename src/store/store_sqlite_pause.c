/* store_sqlite_pause: SQLite's store_pause and store_resume, the store side of the queue's circuit breaker: a job whose
 * remote system is down goes back to RETRY without spending its attempt, and comes due again at once when that
 * system answers; and store_unclaim, which gives a stopping pool's unstarted claims back the same way. Writes go
 * through store_sqlite.c's write transaction. Not here: deciding when a target is down (queue/queue_breaker.c).
 * PostgreSQL's versions are in store_pg_pause.c. */
#include <string.h>

#include "store/store_sqlite.h"

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* why as err_class, code, message, record, hint, retry_safe at parameters first.. */
static void bind_why(sqlite3_stmt *st, int first, const err_t *e)
{
    sqlite3_bind_int(st, first, (int)e->cls);
    bind_opt(st, first + 1, e->code);
    bind_opt(st, first + 2, e->message);
    bind_opt(st, first + 3, e->record);
    bind_opt(st, first + 4, e->hint);
    sqlite3_bind_int(st, first + 5, e->retry_safe);
}

int store__lite_pause(store_t *s, const job_t *job, int64_t run_at, const err_t *why, int64_t now, err_t *err)
{
    /* The attempt keeps its number: attempts goes back, and the row written here ("paused") is replaced when
     * attempt n ends after the next claim (close_attempt; meanwhile store__lite_attempts shows the running one in
     * its place). RUNNING → RETRY keeps ready as it is (the key's head). */
    static const char job_sql[] =
        "UPDATE jobs SET state = 2, attempts = attempts - 1, run_at = ?3, lease_until = NULL, updated_at = ?4,"
        " err_class = ?5, err_code = ?6, err_message = ?7, err_record = ?8, err_hint = ?9, err_retry_safe = ?10"
        " WHERE id = ?1 AND state = 1 AND lease_token = ?2";
    static const char attempt_sql[] =
        "INSERT OR REPLACE INTO attempts(job_rid, n, started_at, finished_at, outcome, worker, err_class, err_code,"
        " err_message, err_record, err_hint, err_retry_safe, note) VALUES(?1, ?2, ?10, ?3, 'paused',"
        " (SELECT worker FROM jobs WHERE rid = ?1), ?4, ?5, ?6, ?7, ?8, ?9, 'not counted: the target is down')";
    sqlite3 *db = store__conn(s);
    sqlite3_stmt *st = NULL;
    int result = 0;
    if (store__begin_write(s, err) < 0)
        return -1;
    if (sqlite3_prepare_v2(db, job_sql, -1, &st, NULL) != SQLITE_OK) {
        store__sql_error(s, err, "prepare pause");
        goto fail;
    }
    sqlite3_bind_text(st, 1, job->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, job->lease_token);
    sqlite3_bind_int64(st, 3, run_at);
    sqlite3_bind_int64(st, 4, now);
    bind_why(st, 5, why);
    if (sqlite3_step(st) != SQLITE_DONE) {
        store__sql_error(s, err, "pause job");
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_changes(db) == 0) {
        result = 1; /* the lease was lost: the reaper or an operator moved the job */
    } else {
        if (sqlite3_prepare_v2(db, attempt_sql, -1, &st, NULL) != SQLITE_OK) {
            store__sql_error(s, err, "prepare pause attempt");
            goto fail;
        }
        sqlite3_bind_int64(st, 1, job->rid);
        sqlite3_bind_int(st, 2, job->attempts);
        sqlite3_bind_int64(st, 3, now);
        bind_why(st, 4, why);
        sqlite3_bind_int64(st, 10, job->updated_at);   /* the claim's time: the attempt's start */
        if (sqlite3_step(st) != SQLITE_DONE) {
            store__sql_error(s, err, "close paused attempt");
            goto fail;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    return store__commit(s, err) < 0 ? -1 : result;
fail:
    sqlite3_finalize(st);
    store__rollback(s);
    return -1;
}

/* Run sql once per element 0..count-1 of items (bind sets ?2.. from element i; ?1 is now) in ONE write
 * transaction; *n gets the rows it changed, and this process's workers are woken when it changed any (the jobs it
 * moved are due now). 0 or -1 (then nothing changed). */
static int update_each(store_t *s, const char *sql, int64_t now, const void *items, size_t count,
                       void (*bind)(sqlite3_stmt *, const void *, size_t), int *n, err_t *err, const char *what)
{
    sqlite3 *db = store__conn(s);
    sqlite3_stmt *st = NULL;
    *n = 0;
    if (store__begin_write(s, err) < 0)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        store__sql_error(s, err, what);
        goto fail;
    }
    sqlite3_bind_int64(st, 1, now);
    int moved = 0;
    for (size_t i = 0; i < count; i++) {
        sqlite3_reset(st);
        bind(st, items, i);
        if (sqlite3_step(st) != SQLITE_DONE) {
            store__sql_error(s, err, what);
            goto fail;
        }
        moved += sqlite3_changes(db);
    }
    sqlite3_finalize(st);
    if (store__commit(s, err) < 0)
        return -1;
    *n = moved;
    if (moved > 0)
        store__lite_db_notify(store__db(s), moved);
    return 0;
fail:
    sqlite3_finalize(st);
    store__rollback(s);
    return -1;
}

static void bind_claim(sqlite3_stmt *st, const void *jobs, size_t i)
{
    const job_t *j = ((const job_t *const *)jobs)[i];
    sqlite3_bind_int64(st, 2, j->rid);
    sqlite3_bind_int64(st, 3, j->lease_token);
}

int store__lite_unclaim(store_t *s, const job_t *const *jobs, size_t n_jobs, int64_t now, int *n, err_t *err)
{
    /* store__lite_pause's job update without its error or its attempt row: the claim wrote none (close_attempt), so
     * attempts - 1 is all that records it. A job that had run before is RETRY, as after that run; run_at and
     * ready (the key's head) stay as they were. */
    static const char sql[] =
        "UPDATE jobs SET state = CASE WHEN attempts > 1 THEN 2 ELSE 0 END, attempts = attempts - 1,"
        " lease_until = NULL, updated_at = ?1 WHERE rid = ?2 AND state = 1 AND lease_token = ?3";
    return update_each(s, sql, now, jobs, n_jobs, bind_claim, n, err, "unclaim job");
}

static void bind_id(sqlite3_stmt *st, const void *ids, size_t i)
{
    sqlite3_bind_text(st, 2, ((const char *const *)ids)[i], -1, SQLITE_TRANSIENT);
}

int store__lite_resume(store_t *s, const char *const *ids, size_t n_ids, int64_t now, int *n, err_t *err)
{
    static const char sql[] = "UPDATE jobs SET run_at = ?1, updated_at = ?1 WHERE id = ?2 AND state = 2"
                              " AND run_at > ?1";
    return update_each(s, sql, now, ids, n_ids, bind_id, n, err, "resume job");
}
