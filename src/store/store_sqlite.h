/* store_sqlite (header): what the SQLite engine's files share and nothing outside them uses — the database and
 * connection structs, the prepared statements' numbers, and each file's functions the others call (store__ and
 * store__lite_ names). Not part of the interface a connector uses (store.h), nor of the engine table's contract
 * (store_engine.h). The PostgreSQL engine's counterpart is store_pg.h. */
#ifndef SYNCHUB_STORE_SQLITE_H
#define SYNCHUB_STORE_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"
#include "store/store_engine.h"

/* Column list read by read_job(); the order is the contract. */
#define STORE_JOB_COLS                                                                                              \
    "rid, id, kind, okey, priority, state, attempts, max_attempts, lease_ms, event_time, run_at,"                  \
    " coalesce(lease_until, 0), lease_token, created_at, updated_at, coalesce(finished_at, 0), source,"            \
    " correlation_id, meta, payload, err_class, err_code, err_message, err_record, err_hint, err_retry_safe"

/* For the engine's other files (store_sqlite_effects.c, …): the connection, the write transaction (the
 * in-process writer mutex, then BEGIN IMMEDIATE) and its error mapping, so every file writes the same way. */
sqlite3 *store__conn(store_t *s);
int store__begin_write(store_t *s, err_t *err);
int store__commit(store_t *s, err_t *err);
void store__rollback(store_t *s);
/* The in-process writer mutex, taken next: after the transaction running now, before any writer that has not yet
 * reached the mutex (store__begin_write waits its turn behind this). Let go with store__unlock_writers. For the log's
 * rewind, which a writer committing back to back would otherwise keep waiting (lite_checkpoint). */
void store__lock_writers_next(store_db_t *db);
void store__unlock_writers(store_db_t *db);
int store__sql_error(store_t *s, err_t *err, const char *what);   /* fills err from the connection; returns -1 */
job_t *store__read_job(sqlite3_stmt *st);                         /* a row of STORE_JOB_COLS; NULL on OOM */
/* Step st (prepared and bound) to its end, reading every row of STORE_JOB_COLS into *out (job_list_free), then
 * finalize it. 0, or -1 (nothing in *out; err names what) on a store error or out of memory. */
int store__read_jobs(store_t *s, sqlite3_stmt *st, job_t ***out, size_t *n, err_t *err, const char *what);
/* The operator figures' SQL (store_sqlite_metrics.c, store_sqlite_ops.c), named here so test_store can check
 * their plans: none may walk the done jobs. */
extern const char store__lite_depth_sql[], store__lite_totals_sql[], store__lite_stats_sql[];
extern const char store__lite_failures_sql[];
store_db_t *store__db(store_t *s);                                /* for store__lite_db_notify after a commit */
/* Inside a write transaction (no commit, no rollback): store_operate's transition, and one job's state change with
 * its key's head refreshed (the operator's transitions). 0 or -1. */
int store__operate_locked(store_t *s, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1],
                          err_t *err);
int store__set_state(store_t *s, const job_t *j, job_state_t to, int64_t now, err_t *err);

/* store_sqlite_effects.c's implementations of store.h's effects and trace finders (store__sqlite_engine). */
int store__lite_effects_add(store_t *s, const store_effect_t *e, size_t n, err_t *err);
int store__lite_effects_list(store_t *s, const char *shop, const char *subject, int64_t since_ms, store_effect_fn fn,
                             void *ud, err_t *err);
int store__lite_effects_prune(store_t *s, int64_t older_than, int limit, int *n, err_t *err);
int store__lite_jobs_by(store_t *s, store_jobs_by_t by, const char *value, int limit, job_t ***out, size_t *n,
                        err_t *err);
int store__lite_job_by_payload(store_t *s, const char *kind, const char *okey_prefix, const char *field,
                               const char *value, job_t **out, err_t *err);
int store__lite_link_by_extra(store_t *s, const char *system, const char *shop, const char *type, const char *field,
                              const char *value, char *external_id, size_t n, err_t *err);


/* store_sqlite_audit.c, _ops.c, _metrics.c, _effects.c: SQLite's operator-surface operations. */
int store__lite_audit_add(store_t *s, const char *actor, const char *action, const char *target, const char *detail,
                          err_t *err);
int store__lite_audit_list(store_t *s, int limit, store_audit_fn fn, void *ud, err_t *err);
int store__lite_operate_as(store_t *s, const char *actor, const char *id, store_op_t op, int64_t now,
                           char out_id[JOB_ID_LEN + 1], err_t *err);
int store__lite_bulk_as(store_t *s, const char *actor, store_op_t op, err_class_t cls, const char *code, int64_t now,
                        int *n, err_t *err);
int store__lite_failures(store_t *s, int limit, store_cause_t **out, size_t *n, err_t *err);
int store__lite_activity(store_t *s, int64_t since_ms, int64_t bucket_ms, int nbuckets, store_bucket_t *out,
                         err_t *err);
int store__lite_jobs_query(store_t *s, const store_filter_t *f, const char *q, job_t ***out, size_t *n, err_t *err);
int store__lite_queue_depth(store_t *s, int64_t now, bool by_kind, store_depth_fn fn, void *ud, int64_t *oldest_due_ms,
                            err_t *err);
int store__lite_effects_by_target(store_t *s, const char *value, int limit, store_effect_fn fn, void *ud, err_t *err);

/* The engine's structs and statement numbers (store_sqlite.c opens and connects; store_sqlite_sql.c holds the
 * statements' text). */
struct store_db {
    const store_engine_t *eng;  /* first member: store.c dispatches on it */
    char *path;
    int64_t busy_timeout_ms;
    int64_t max_size;
    pthread_mutex_t wlock;      /* one writer of this process at a time (see the file comment) */
    pthread_mutex_t wturn;      /* taken and let go before wlock; store__lock_writers_next holds it to be next */
    pthread_mutex_t wake_mu;
    pthread_cond_t wake_cv;
    uint64_t wake_gen;
};

enum {
    Q_INSERT, Q_HEAD_CUR, Q_HEAD_FIND, Q_HEAD_SET, Q_CLAIM_PICK, Q_CLAIM_SET, Q_NEXT_DUE, Q_FINISH,
    Q_ATTEMPT_CLOSE, Q_RENEW, Q_EXPIRED, Q_BY_ID, Q_BY_PREFIX, Q_OPERATE, Q_ATTEMPTS, Q_LINK_GET, Q_LINK_PUT,
    Q_LINK_DEL, Q_LINK_EACH, Q_LINK_FIND, Q_CURSOR_GET, Q_CURSOR_PUT, Q_KEY_LIVE, Q_CLAIM_MANY, Q_HEAD_PROMOTE,
    Q_DONE_LEASES, Q_DONE_ATTEMPTS, Q_DONE_FINISH, Q_DONE_PROMOTE, Q_COUNT
};

struct store {
    const store_engine_t *eng;  /* first member: store.c dispatches on it */
    store_db_t *db;
    sqlite3 *conn;
    sqlite3_stmt *stmt[Q_COUNT];
    bool in_write;
    uint64_t rng;
    struct store_packer *packer;   /* payload compression, made by the first enqueue on this connection */
    int wal_fd;                    /* -1; else commits do not sync the WAL, store_sync does, on this fd of it */
};

/* store_sqlite_audit.c */
int store__lite_operate(store_t *s, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1],
                        err_t *err);
int store__lite_retry_dead(store_t *s, err_class_t cls, int64_t now, int *n, err_t *err);

/* store_sqlite_effects.c */
int store__lite_cursor_get(store_t *s, const char *name, char *out, size_t n, err_t *err);
int store__lite_cursor_put(store_t *s, const char *name, const char *value, err_t *err);
int store__lite_link_find(store_t *s, const char *system, const char *shop, const char *type, const char *odoo_model,
                          int64_t odoo_id, char *external_id, size_t n, err_t *err);
int store__lite_link_forget(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                            err_t *err);
int store__lite_link_get(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                         store_link_t *out, err_t *err);
int store__lite_link_put(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                         const store_link_t *l, err_t *err);
int store__lite_links_each(store_t *s, const char *system, const char *shop, const char *type, store_link_fn fn,
                           void *ud, err_t *err);
int store__lite_links_put(store_t *s, const char *system, const char *shop, const char *type,
                          const char *const *external_ids, const store_link_t *links, size_t n, err_t *err);

/* store_sqlite_jobs.c */
int store__lite_attempts(store_t *s, const job_t *job, job_attempt_t **out, size_t *n, err_t *err);
int store__lite_claim(store_t *s, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err);
int store__lite_enqueue(store_t *s, const job_new_t *jobs, size_t n, bool *dup, err_t *err);
int store__lite_finish_claim(store_t *s, const job_t *job, job_state_t to, int64_t run_at, const err_t *why,
                             const char *note, int64_t now, const char *worker, job_t **next, int64_t *next_due_ms,
                             err_t *err);
int store__lite_job_get(store_t *s, const char *id, job_t **out, err_t *err);
int store__lite_key_live(store_t *s, const char *ordering_key, int64_t *n, err_t *err);
int store__lite_prune(store_t *s, int64_t older_than, int limit, int *n, err_t *err);
int store__lite_reap_expired(store_t *s, int64_t now, int *n, err_t *err);
int store__lite_finish_batch(store_t *s, store_outcome_t *out, size_t n, int64_t now, const char *worker, size_t want,
                             job_t **claimed, size_t *nclaimed, int64_t *next_due_ms, err_t *err);
int store__lite_renew_lease(store_t *s, const char *id, int64_t token, int64_t until, err_t *err);

/* store_sqlite_metrics.c */
int store__lite_stats(store_t *s, int64_t now, store_stats_t *out, err_t *err);

/* store_sqlite_ops.c */
int store__lite_list(store_t *s, const store_filter_t *f, job_t ***out, size_t *n, err_t *err);

/* store_sqlite_sql.c */
void store__lite_bind_err(sqlite3_stmt *st, int first, const err_t *e);
void store__lite_bind_text(sqlite3_stmt *st, int i, const char *v);
void store__lite_col_copy(sqlite3_stmt *st, int i, char *dst, size_t n);
char *store__lite_col_dup(sqlite3_stmt *st, int i);
int store__lite_exec(store_t *s, const char *sql, err_t *err);
sqlite3_stmt *store__lite_q(store_t *s, int which, err_t *err);
int64_t store__lite_query_int(store_t *s, const char *sql, int64_t dflt);
void store__lite_read_err(sqlite3_stmt *st, int first, err_t *e);
int store__lite_step_done(store_t *s, sqlite3_stmt *st, err_t *err, const char *what);
void store__lite_db_notify(store_db_t *db, int njobs);

/* store_sqlite_pause.c: SQLite's store_pause / store_resume (the queue's circuit breaker) and store_unclaim. */
int store__lite_pause(store_t *s, const job_t *job, int64_t run_at, const err_t *why, int64_t now, err_t *err);
int store__lite_resume(store_t *s, const char *const *ids, size_t n_ids, int64_t now, int *n, err_t *err);
int store__lite_unclaim(store_t *s, const job_t *const *jobs, size_t n_jobs, int64_t now, int *n, err_t *err);

#endif
