/* store_sqlite_sql: how the SQLite engine's files talk to SQLite — the prepared statements, the write transaction
 * (the in-process writer mutex, then BEGIN IMMEDIATE), error mapping, binding and reading rows. Every concern file
 * (store_sqlite_jobs.c, _effects.c, _audit.c, _ops.c, _metrics.c) writes through these, so all write the same way.
 * Not here: the schema and connections (store_sqlite.c) or what any query means. */
#define _GNU_SOURCE
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "store/store_engine.h"
#include "store/store_sqlite.h"
#include "store/store_payload.h"

/* Claims name their index: without ANALYZE statistics the planner preferred jobs_state (dropped by migration 8) and
 * sorted every queued row, which turned each claim into a scan of the backlog; naming it keeps any other index
 * from doing the same. */
static const char *const sql_text[Q_COUNT] = {
    [Q_INSERT] =
        "INSERT INTO jobs(id, kind, okey, priority, state, ready, attempts, max_attempts, budget, lease_ms,"
        " event_time, run_at, created_at, updated_at, source, correlation_id, meta, payload)"
        " VALUES(?1, ?2, ?3, ?4, 0, 0, 0, ?5, ?5, ?6, ?7, ?8, ?8, ?8, ?9, ?10, ?11, ?12)"
        " ON CONFLICT(id) DO NOTHING",
    [Q_HEAD_CUR] = "SELECT rid, state, event_time FROM jobs INDEXED BY jobs_head WHERE okey = ?1 AND ready = 1",
    [Q_HEAD_FIND] = "SELECT rid FROM jobs INDEXED BY jobs_key WHERE okey = ?1 AND finished_at IS NULL"
                    " ORDER BY event_time, rid LIMIT 1",
    [Q_HEAD_SET] = "UPDATE jobs SET ready = ?2 WHERE rid = ?1",
    /* Q_HEAD_FIND + Q_HEAD_SET in one statement, for a key that has no head (promote_next_head) */
    [Q_HEAD_PROMOTE] = "UPDATE jobs SET ready = 1 WHERE rid = (SELECT rid FROM jobs INDEXED BY jobs_key"
                       " WHERE okey = ?1 AND finished_at IS NULL ORDER BY event_time, rid LIMIT 1)",
    [Q_CLAIM_PICK] = "SELECT " STORE_JOB_COLS " FROM jobs INDEXED BY jobs_claim"
                     " WHERE ready = 1 AND state IN (0, 2) AND run_at <= ?1"
                     " ORDER BY priority DESC, run_at LIMIT 1",
    /* Q_CLAIM_PICK + Q_CLAIM_SET for up to ?3 heads in one statement (store_finish_batch); each its own token
     * (?2 random, + rid). OR FAIL: a multi-row UPDATE that may abort on a constraint (the NOT NULL columns it
     * sets) makes SQLite keep a statement journal, a copy of every page the statement changes (in memory with
     * temp_store = MEMORY): with a local queue of 500 that was ~7 KiB of peak RSS and a page copy per claimed job
     * (issue 18). None of these columns can become NULL, and a failed statement rolls the whole transaction back
     * (store__lite_finish_batch), so what FAIL would keep of a half-done statement is never committed. */
    [Q_CLAIM_MANY] = "UPDATE OR FAIL jobs SET state = 1, attempts = attempts + 1, lease_until = ?1 + lease_ms,"
                     " lease_token = ?2 + rid, updated_at = ?1, worker = ?4"
                     " WHERE rid IN (SELECT rid FROM jobs INDEXED BY jobs_claim WHERE ready = 1 AND state IN (0, 2)"
                     " AND run_at <= ?1 ORDER BY priority DESC, run_at LIMIT ?3)"
                     " RETURNING " STORE_JOB_COLS,
    [Q_CLAIM_SET] = "UPDATE jobs SET state = 1, attempts = attempts + 1, lease_until = ?2, lease_token = ?3,"
                    " updated_at = ?4, worker = ?5 WHERE rid = ?1",
    [Q_NEXT_DUE] = "SELECT min(run_at) FROM jobs INDEXED BY jobs_claim WHERE ready = 1 AND state IN (0, 2)",
    /* by rid, the table's own key: no probe of the id index (64 hex characters) per finish; the token still
     * proves the lease */
    [Q_FINISH] = "UPDATE jobs SET state = ?3, ready = CASE WHEN ?3 IN (3, 4) THEN 0 ELSE ready END,"
                 " run_at = ?4, lease_until = NULL, updated_at = ?5,"
                 " finished_at = CASE WHEN ?3 IN (3, 4) THEN ?5 ELSE NULL END,"
                 " err_class = ?6, err_code = ?7, err_message = ?8, err_record = ?9, err_hint = ?10,"
                 " err_retry_safe = ?11 WHERE rid = ?1 AND state = 1 AND lease_token = ?2",
    /* an attempt's only write, when it ends (close_attempt); its worker is the one its claim put on the job's row */
    [Q_ATTEMPT_CLOSE] = "INSERT OR REPLACE INTO attempts(job_rid, n, started_at, finished_at, outcome, worker,"
                        " err_class, err_code, err_message, err_record, err_hint, err_retry_safe, note)"
                        " VALUES(?1, ?2, ?12, ?3, ?4, (SELECT worker FROM jobs WHERE rid = ?1), ?5, ?6, ?7, ?8, ?9,"
                        " ?10, ?11)",
    /* A round's DONE outcomes in four statements instead of three per job (finish_done_many_locked). ?1 is a
     * JSON array of rids. Q_DONE_LEASES reads which of them still hold the lease the caller's outcome was run
     * under (the caller compares tokens); the other three take only those, and each does what its per-job twin
     * does (Q_ATTEMPT_CLOSE, Q_FINISH with no error, Q_HEAD_PROMOTE), the attempt first, as it reads the start
     * (updated_at) that the finish overwrites. No function call in them and OR FAIL on the UPDATEs: a multi-row
     * write that may abort (a constraint checked with ABORT, or any function that can raise an error, ->> and
     * abs() among them) keeps a copy of every page it changes, a statement journal, as Q_CLAIM_MANY explains. */
    [Q_DONE_LEASES] = "SELECT rid, lease_token FROM jobs WHERE rid IN (SELECT value FROM json_each(?1)) AND state = 1",
    [Q_DONE_ATTEMPTS] = "INSERT OR REPLACE INTO attempts(job_rid, n, started_at, finished_at, outcome, worker,"
                        " err_class) SELECT rid, attempts, updated_at, ?2, 'done', worker, 0 FROM jobs"
                        " WHERE rid IN (SELECT value FROM json_each(?1))",
    [Q_DONE_FINISH] = "UPDATE OR FAIL jobs SET state = 3, ready = 0, lease_until = NULL, updated_at = ?2,"
                      " finished_at = ?2, err_class = 0, err_code = NULL, err_message = NULL, err_record = NULL,"
                      " err_hint = NULL, err_retry_safe = NULL WHERE rid IN (SELECT value FROM json_each(?1))"
                      " AND state = 1",
    /* each finished key's earliest live job becomes its head */
    [Q_DONE_PROMOTE] = "UPDATE OR FAIL jobs SET ready = 1 WHERE rid IN (SELECT (SELECT n.rid FROM jobs AS n"
                       " INDEXED BY jobs_key WHERE n.okey = f.okey AND n.finished_at IS NULL"
                       " ORDER BY n.event_time, n.rid LIMIT 1) FROM json_each(?1) AS o"
                       " JOIN jobs AS f ON f.rid = o.value)",
    [Q_RENEW] = "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND state = 1 AND lease_token = ?2",
    /* Named: left to itself the planner walked jobs_state (state = 1; dropped by migration 8) and read the row of
     * every running job each housekeeping tick (every job a local queue holds: 516 random rows a second, 2 MB of
     * the housekeeper's cache, issue 18); jobs_lease reads only the expired ones. */
    [Q_EXPIRED] = "SELECT " STORE_JOB_COLS " FROM jobs INDEXED BY jobs_lease WHERE state = 1 AND lease_until < ?1"
                  " LIMIT 100",
    [Q_BY_ID] = "SELECT " STORE_JOB_COLS " FROM jobs WHERE id = ?1",
    [Q_BY_PREFIX] = "SELECT " STORE_JOB_COLS " FROM jobs WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2",
    [Q_OPERATE] = "UPDATE jobs SET state = ?2, ready = 0, run_at = ?3, updated_at = ?3,"
                  " max_attempts = CASE WHEN ?2 = 0 THEN attempts + budget ELSE max_attempts END,"
                  " finished_at = CASE WHEN ?2 = 5 THEN ?3 ELSE NULL END WHERE rid = ?1",
    [Q_LINK_GET] = "SELECT odoo_model, odoo_id, version, state, extra, updated_at FROM links"
                   " WHERE system = ?1 AND shop = ?2 AND type = ?3 AND external_id = ?4",
    [Q_LINK_PUT] = "INSERT OR REPLACE INTO links(system, shop, type, external_id, odoo_model, odoo_id, version, state,"
                   " extra, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [Q_LINK_DEL] = "DELETE FROM links WHERE system = ?1 AND shop = ?2 AND type = ?3 AND external_id = ?4",
    [Q_LINK_EACH] = "SELECT odoo_model, odoo_id, version, state, extra, updated_at, external_id FROM links"
                    " WHERE system = ?1 AND shop = ?2 AND type = ?3 AND external_id > ?4 ORDER BY external_id"
                    " LIMIT 200",
    [Q_LINK_FIND] = "SELECT external_id FROM links WHERE odoo_model = ?5 AND odoo_id = ?6 AND system = ?1"
                    " AND shop = ?2 AND type = ?3 ORDER BY updated_at DESC LIMIT 1",
    [Q_CURSOR_GET] = "SELECT value FROM meta WHERE key = 'cursor:' || ?1",
    [Q_CURSOR_PUT] = "INSERT INTO meta(key, value) VALUES('cursor:' || ?1, ?2)"
                     " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [Q_KEY_LIVE] = "SELECT count(*) FROM jobs INDEXED BY jobs_key WHERE okey = ?1 AND finished_at IS NULL",
    /* the ended attempts, then the running one from the job's row (its claim wrote no attempt row; a stored row
     * with its number is the same attempt paused earlier, or 'running' from a store written before, superseded) */
    [Q_ATTEMPTS] = "SELECT n, started_at, finished_at, outcome, worker, err_class, err_code, err_message,"
                   " err_record, err_hint, err_retry_safe, note FROM attempts WHERE job_rid = ?1 AND NOT EXISTS"
                   " (SELECT 1 FROM jobs j WHERE j.rid = ?1 AND j.state = 1 AND j.attempts = attempts.n)"
                   " UNION ALL SELECT attempts, updated_at, NULL, 'running', worker, NULL, NULL, NULL, NULL, NULL,"
                   " NULL, NULL FROM jobs WHERE rid = ?1 AND state = 1 AND attempts > 0 ORDER BY 1",
};

int store__sql_error(store_t *s, err_t *err, const char *what)
{
    int code = sqlite3_extended_errcode(s->conn);
    int prim = code & 0xff;
    /* Busy, locked, full disk and I/O errors are conditions that pass (or that an operator fixes without touching
     * the job): the caller answers 503 / retries. Anything else is a bug or corruption. */
    err_class_t cls = (prim == SQLITE_BUSY || prim == SQLITE_LOCKED || prim == SQLITE_FULL || prim == SQLITE_IOERR ||
                       prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY || prim == SQLITE_PROTOCOL)
                          ? ERR_TRANSIENT
                          : ERR_INTERNAL;
    err_set(err, cls, prim == SQLITE_BUSY ? "store.busy" : prim == SQLITE_FULL ? "store.full" : "store.sqlite",
            "store: %s failed: %s", what, sqlite3_errmsg(s->conn));
    err_record(err, "store %s", s->db->path);
    if (prim == SQLITE_BUSY)
        err_hint(err, "another process holds the store's write lock; it is retried");
    else if (prim == SQLITE_FULL || prim == SQLITE_IOERR)
        err_hint(err, "check free disk space and the file system holding %s (and [store] max_size)", s->db->path);
    return -1;
}

sqlite3_stmt *store__lite_q(store_t *s, int which, err_t *err)
{
    if (!s->stmt[which]) {
        if (sqlite3_prepare_v3(s->conn, sql_text[which], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[which], NULL) !=
            SQLITE_OK) {
            store__sql_error(s, err, "prepare");
            return NULL;
        }
    }
    sqlite3_reset(s->stmt[which]);
    sqlite3_clear_bindings(s->stmt[which]);
    return s->stmt[which];
}

/* The first column of the first row of sql, or dflt. */
int64_t store__lite_query_int(store_t *s, const char *sql, int64_t dflt)
{
    sqlite3_stmt *st;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(s->conn, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return v > 0 ? v : dflt;
}

int store__lite_exec(store_t *s, const char *sql, err_t *err)
{
    if (sqlite3_exec(s->conn, sql, NULL, NULL, NULL) != SQLITE_OK)
        return store__sql_error(s, err, sql);
    return 0;
}

/* Write transactions: in-process mutex, then BEGIN IMMEDIATE (takes SQLite's write lock at once, so the
 * transaction never fails half-way on a lock upgrade). A mutex is not fair: a writer that commits and begins again
 * at once (the ack path's, under load) takes it back before a waiter wakes up, and the log's rewind waited through
 * dozens of commits while the log grew by thousands of frames. So a writer first passes wturn, which
 * store__lock_writers_next holds while it waits. */
int store__begin_write(store_t *s, err_t *err)
{
    pthread_mutex_lock(&s->db->wturn);
    pthread_mutex_unlock(&s->db->wturn);
    pthread_mutex_lock(&s->db->wlock);
    if (store__lite_exec(s, "BEGIN IMMEDIATE", err) < 0) {
        pthread_mutex_unlock(&s->db->wlock);
        return -1;
    }
    s->in_write = true;
    return 0;
}

void store__lock_writers_next(store_db_t *db)
{
    pthread_mutex_lock(&db->wturn);
    pthread_mutex_lock(&db->wlock);
    pthread_mutex_unlock(&db->wturn);
}

void store__unlock_writers(store_db_t *db)
{
    pthread_mutex_unlock(&db->wlock);
}

/* A SELECT left mid-result keeps its read snapshot open; the next BEGIN IMMEDIATE on this connection would then
 * fail at once with SQLITE_BUSY_SNAPSHOT. So every transaction end resets every cached statement. */
static void reset_all(store_t *s)
{
    for (int i = 0; i < Q_COUNT; i++)
        if (s->stmt[i])
            sqlite3_reset(s->stmt[i]);
}

int store__commit(store_t *s, err_t *err)
{
    reset_all(s);
    int rc = store__lite_exec(s, "COMMIT", err);
    if (rc < 0)
        sqlite3_exec(s->conn, "ROLLBACK", NULL, NULL, NULL);
    s->in_write = false;
    pthread_mutex_unlock(&s->db->wlock);
    return rc;
}

void store__rollback(store_t *s)
{
    if (!s->in_write)
        return;
    reset_all(s);
    sqlite3_exec(s->conn, "ROLLBACK", NULL, NULL, NULL);
    s->in_write = false;
    pthread_mutex_unlock(&s->db->wlock);
}

int store__lite_step_done(store_t *s, sqlite3_stmt *st, err_t *err, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store__sql_error(s, err, what);
    return rc == SQLITE_ROW ? 1 : 0;
}

void store__lite_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

void store__lite_bind_err(sqlite3_stmt *st, int first, const err_t *e)
{
    if (!e || e->cls == ERR_NONE) {
        sqlite3_bind_int(st, first, 0);
        for (int i = 1; i <= 5; i++)
            sqlite3_bind_null(st, first + i);
        return;
    }
    sqlite3_bind_int(st, first, (int)e->cls);
    store__lite_bind_text(st, first + 1, e->code);
    store__lite_bind_text(st, first + 2, e->message);
    store__lite_bind_text(st, first + 3, e->record[0] ? e->record : NULL);
    store__lite_bind_text(st, first + 4, e->hint[0] ? e->hint : NULL);
    sqlite3_bind_int(st, first + 5, e->retry_safe);
}

char *store__lite_col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

void store__lite_col_copy(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

void store__lite_read_err(sqlite3_stmt *st, int first, err_t *e)
{
    err_clear(e);
    e->cls = (err_class_t)sqlite3_column_int(st, first);
    if (e->cls == ERR_NONE)
        return;
    store__lite_col_copy(st, first + 1, e->code, sizeof(e->code));
    store__lite_col_copy(st, first + 2, e->message, sizeof(e->message));
    store__lite_col_copy(st, first + 3, e->record, sizeof(e->record));
    store__lite_col_copy(st, first + 4, e->hint, sizeof(e->hint));
    e->retry_safe = sqlite3_column_int(st, first + 5) != 0;
}

job_t *store__read_job(sqlite3_stmt *st)
{
    job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->rid = sqlite3_column_int64(st, 0);
    store__lite_col_copy(st, 1, j->id, sizeof(j->id));
    j->kind = store__lite_col_dup(st, 2);
    j->ordering_key = store__lite_col_dup(st, 3);
    j->priority = sqlite3_column_int(st, 4);
    j->state = (job_state_t)sqlite3_column_int(st, 5);
    j->attempts = sqlite3_column_int(st, 6);
    j->max_attempts = sqlite3_column_int(st, 7);
    j->lease_ms = sqlite3_column_int64(st, 8);
    j->event_time = sqlite3_column_int64(st, 9);
    j->run_at = sqlite3_column_int64(st, 10);
    j->lease_until = sqlite3_column_int64(st, 11);
    j->lease_token = sqlite3_column_int64(st, 12);
    j->created_at = sqlite3_column_int64(st, 13);
    j->updated_at = sqlite3_column_int64(st, 14);
    j->finished_at = sqlite3_column_int64(st, 15);
    j->source = store__lite_col_dup(st, 16);
    j->correlation_id = store__lite_col_dup(st, 17);
    j->meta = store__lite_col_dup(st, 18);
    j->payload = store_payload_column(st, 19);
    store__lite_read_err(st, 20, &j->last_error);
    if (!j->kind || !j->ordering_key || !j->source || !j->payload) {
        job_free(j);
        return NULL;
    }
    return j;
}

/* ---- internal interface for the store's other files (store_sqlite.h) ------------------------------------ */

sqlite3 *store__conn(store_t *s)
{
    return s->conn;
}

store_db_t *store__db(store_t *s)
{
    return s->db;
}

int store__read_jobs(store_t *s, sqlite3_stmt *st, job_t ***out, size_t *n, err_t *err, const char *what)
{
    size_t cap = 0;
    int rc;
    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            job_t **grown = realloc(*out, cap * sizeof(**out));
            if (!grown)
                break;
            *out = grown;
        }
        job_t *j = store__read_job(st);
        if (!j)
            break;
        (*out)[(*n)++] = j;
    }
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_ROW)
            err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        else
            store__sql_error(s, err, what);
        sqlite3_finalize(st);
        job_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

void store__lite_db_notify(store_db_t *db, int njobs)
{
    pthread_mutex_lock(&db->wake_mu);
    db->wake_gen++;
    /* One new job needs one worker: waking them all only makes them race for the write lock. */
    if (njobs == 1)
        pthread_cond_signal(&db->wake_cv);
    else
        pthread_cond_broadcast(&db->wake_cv);
    pthread_mutex_unlock(&db->wake_mu);
}
