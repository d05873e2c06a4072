/* store_pg (header): what the PostgreSQL engine's files share and nothing outside them uses — the database and
 * connection structs, the prepared statements' numbers, the parameter list, and each file's functions the others
 * call (named store__pg_*). The engine's design notes are at the top of store_pg.c.
 * Not part of the interface a connector uses (store.h), nor of the engine table's contract (store_engine.h). */
#ifndef SYNCHUB_STORE_PG_H
#define SYNCHUB_STORE_PG_H

#include <libpq-fe.h>
#include <pthread.h>

#include "core/buf.h"
#include "store/store.h"
#include "store/store_engine.h"

#define PG_CHANNEL "synchub_jobs"
#define PG_MIGRATE_LOCK 7423017001LL   /* session advisory lock serialising migrations of nodes starting together */
#define PG_DIAL_BACKOFF_MAX_MS 5000
#define PG_POOL_IDLE 8                 /* idle connections a node keeps for short-lived store_t's (/readyz, CLI) */

typedef struct pg_db {
    const store_engine_t *eng;   /* first member: store.c dispatches on it */
    char *url;                   /* as configured, possibly with a password: only ever handed to libpq */
    char *password;              /* NULL = the URL's own, PGPASSWORD or ~/.pgpass */
    char *label;                 /* the URL without its password: errors and logs */
    int64_t busy_timeout_ms;
    pthread_mutex_t wake_mu;
    pthread_cond_t wake_cv;
    uint64_t wake_gen;
    bool listening, stopping;    /* under wake_mu */
    pthread_t listener;
    pthread_mutex_t pool_mu;
    struct pg_store *idle[PG_POOL_IDLE];   /* closed store_t's whose connections wait for the next store_connect */
    int nidle;
} pg_db_t;

enum {
    Q_ENQUEUE, Q_FINISH_ONE, Q_LOCK_KEY, Q_REFRESH, Q_CLAIM, Q_NEXT_DUE, Q_FINISH, Q_ATTEMPT_CLOSE, Q_RENEW, Q_NOTIFY,
    Q_BY_ID, Q_BY_PREFIX, Q_LINK_GET, Q_LINK_PUT, Q_LINK_DEL, Q_LINK_EACH, Q_LINK_FIND, Q_CURSOR_GET, Q_CURSOR_PUT,
    Q_KEY_LIVE, Q_ATTEMPTS, Q_CLAIM_MANY, Q_FINISH_MANY, Q_COUNT
};

typedef struct pg_store {
    const store_engine_t *eng;   /* first member: store.c dispatches on it */
    pg_db_t *db;
    PGconn *conn;
    bool durable;
    int64_t busy_ms;
    bool prepared[Q_COUNT];
    bool in_tx;
    bool leader;                 /* holds the session advisory lock of leader_name */
    char leader_name[64];
    int64_t next_dial_ms, dial_backoff_ms;
    uint64_t rng;
} pg_t;

#define PG(h) ((pg_t *)(h))
#define PGDB(h) ((pg_db_t *)(h))

/* The column list read by read_job(); the order is the contract (as STORE_JOB_COLS in SQLite's engine). */
#define PG_JOB_COLS                                                                                                 \
    "rid, id, kind, okey, priority, state, attempts, max_attempts, lease_ms, event_time, run_at,"                  \
    " coalesce(lease_until, 0), lease_token, created_at, updated_at, coalesce(finished_at, 0), source,"            \
    " correlation_id, meta, payload, err_class, err_code, err_message, err_record, err_hint, err_retry_safe"

/* How a statement writing an attempts row as the attempt ends (alias t) meets a row already there: one that a node
 * older than migration 6 opened at the claim, closed in place (its start and worker kept). */
#define PG_ATTEMPT_UPSERT                                                                                           \
    "ON CONFLICT (job_rid, n) DO UPDATE SET finished_at = excluded.finished_at, outcome = excluded.outcome,"        \
    " err_class = excluded.err_class, err_code = excluded.err_code, err_message = excluded.err_message,"           \
    " err_record = excluded.err_record, err_hint = excluded.err_hint, err_retry_safe = excluded.err_retry_safe,"   \
    " note = excluded.note"

#define PG_MAX_ARGS 24

typedef struct pg_args {
    int n;
    const char *v[PG_MAX_ARGS];
    int len[PG_MAX_ARGS];
    int fmt[PG_MAX_ARGS];
    char num[PG_MAX_ARGS][24];
} pg_args_t;

/* store_pg_audit.c */
int store__pg_audit_add(store_t *h, const char *actor, const char *action, const char *target, const char *detail,
                        err_t *err);
int store__pg_audit_list(store_t *h, int limit, store_audit_fn fn, void *ud, err_t *err);
int store__pg_bulk_as(store_t *h, const char *actor, store_op_t op, err_class_t cls, const char *code, int64_t now,
                      int *n, err_t *err);
int store__pg_retry_dead(store_t *h, err_class_t cls, int64_t now, int *n, err_t *err);
int store__pg_operate_as(store_t *h, const char *actor, const char *id, store_op_t op, int64_t now,
                         char out_id[JOB_ID_LEN + 1], err_t *err);
int store__pg_operate(store_t *h, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1], err_t *err);

/* store_pg_effects.c */
int store__pg_cursor_get(store_t *h, const char *name, char *out, size_t n, err_t *err);
int store__pg_cursor_put(store_t *h, const char *name, const char *value, err_t *err);
int store__pg_effects_add(store_t *h, const store_effect_t *e, size_t n, err_t *err);
int store__pg_effects_by_target(store_t *h, const char *value, int limit, store_effect_fn fn, void *ud, err_t *err);
int store__pg_effects_list(store_t *h, const char *shop, const char *subject, int64_t since_ms, store_effect_fn fn,
                           void *ud, err_t *err);
int store__pg_effects_prune(store_t *h, int64_t older_than, int limit, int *n, err_t *err);
int store__pg_job_by_payload(store_t *h, const char *kind, const char *okey_prefix, const char *field, const char *value,
                             job_t **out, err_t *err);
int store__pg_jobs_by(store_t *h, store_jobs_by_t by, const char *value, int limit, job_t ***out, size_t *n,
                      err_t *err);
int store__pg_link_by_extra(store_t *h, const char *system, const char *shop, const char *type, const char *field,
                            const char *value, char *external_id, size_t n, err_t *err);
int store__pg_link_find(store_t *h, const char *system, const char *shop, const char *type, const char *odoo_model,
                        int64_t odoo_id, char *external_id, size_t n, err_t *err);
int store__pg_link_forget(store_t *h, const char *system, const char *shop, const char *type, const char *external_id,
                          err_t *err);
int store__pg_link_get(store_t *h, const char *system, const char *shop, const char *type, const char *external_id,
                       store_link_t *out, err_t *err);
int store__pg_link_put(store_t *h, const char *system, const char *shop, const char *type, const char *external_id,
                       const store_link_t *l, err_t *err);
int store__pg_links_each(store_t *h, const char *system, const char *shop, const char *type, store_link_fn fn, void *ud,
                         err_t *err);
int store__pg_links_put(store_t *h, const char *system, const char *shop, const char *type,
                        const char *const *external_ids, const store_link_t *links, size_t n, err_t *err);

/* store_pg_jobs.c */
int store__pg_notify_nodes(pg_t *s, err_t *err);
int store__pg_operate_locked(pg_t *s, const char *id, store_op_t op, int64_t now, char full[JOB_ID_LEN + 1],
                             err_t *err);
int store__pg_select_and_lock(pg_t *s, const char *sql, const pg_args_t *a, job_t ***found, size_t *nfound, err_t *err,
                              const char *what);
int store__pg_set_state(pg_t *s, const job_t *j, job_state_t from, job_state_t to, int64_t now, bool *changed,
                        err_t *err);
int store__pg_delete_batch(pg_t *s, const char *sql, int64_t older_than, int limit, int *n, err_t *err,
                           const char *what);
int store__pg_attempts(store_t *h, const job_t *job, job_attempt_t **out, size_t *n, err_t *err);
int store__pg_claim(store_t *h, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err);
int store__pg_enqueue(store_t *h, const job_new_t *jobs, size_t n, bool *dup, err_t *err);
int store__pg_finish_claim(store_t *h, const job_t *job, job_state_t to, int64_t run_at, const err_t *why,
                           const char *note, int64_t now, const char *worker, job_t **next, int64_t *next_due_ms,
                           err_t *err);
int store__pg_job_get(store_t *h, const char *id, job_t **out, err_t *err);
int store__pg_prune(store_t *h, int64_t older_than, int limit, int *n, err_t *err);
int store__pg_reap_expired(store_t *h, int64_t now, int *n, err_t *err);
int store__pg_finish_batch(store_t *h, store_outcome_t *out, size_t n, int64_t now, const char *worker, size_t want,
                           job_t **claimed, size_t *nclaimed, int64_t *next_due_ms, err_t *err);
int store__pg_renew_lease(store_t *h, const char *id, int64_t token, int64_t until, err_t *err);

/* store_pg_metrics.c */
int store__pg_queue_depth(store_t *h, int64_t now, bool by_kind, store_depth_fn fn, void *ud, int64_t *oldest_due_ms,
                          err_t *err);
int store__pg_stats(store_t *h, int64_t now, store_stats_t *out, err_t *err);

/* store_pg_ops.c */
int store__pg_activity(store_t *h, int64_t since_ms, int64_t bucket_ms, int nbuckets, store_bucket_t *out, err_t *err);
int store__pg_failures(store_t *h, int limit, store_cause_t **out, size_t *n, err_t *err);
int store__pg_jobs_query(store_t *h, const store_filter_t *f, const char *q, job_t ***out, size_t *n, err_t *err);
int store__pg_list(store_t *h, const store_filter_t *f, job_t ***out, size_t *n, err_t *err);

/* store_pg_sql.c */
void store__pg_a_str(pg_args_t *a, const char *v);
void store__pg_a_bytes(pg_args_t *a, const char *v, size_t len);
void store__pg_a_int(pg_args_t *a, int64_t x);
void store__pg_a_err(pg_args_t *a, const err_t *e);
/* PostgreSQL array literals for the set-based statements, built element by element into a buf_t: arr_str appends
 * one text element (NULL: SQL NULL), arr_int one integer, arr_end closes the literal ("{}" when empty). Each
 * returns 0, or -1 when out of memory (the literal is then unusable). */
int store__pg_arr_str(buf_t *b, const char *v);
int store__pg_arr_int(buf_t *b, int64_t x);
int store__pg_arr_end(buf_t *b);
char *store__pg_redact(const char *url);
PGconn *store__pg_dial(pg_db_t *db, int64_t timeout_ms, err_t *err);
int store__pg_exec_plain(pg_t *s, const char *sql, err_t *err);
int store__pg_ensure(pg_t *s, err_t *err);
int store__pg_prepare(pg_t *s, int which, char name[8], err_t *err);
PGresult *store__pg_run(pg_t *s, int which, const pg_args_t *a, err_t *err, const char *what);
PGresult *store__pg_run_sql(pg_t *s, const char *sql, const pg_args_t *a, err_t *err, const char *what);
int store__pg_run_cmd(pg_t *s, int which, const pg_args_t *a, int64_t *changed, err_t *err, const char *what);
int store__pg_begin(pg_t *s, err_t *err);
int store__pg_commit(pg_t *s, err_t *err);
void store__pg_rollback(pg_t *s);
const char *store__pg_cell(const PGresult *r, int row, int col);
char *store__pg_cell_dup(const PGresult *r, int row, int col);
void store__pg_cell_copy(const PGresult *r, int row, int col, char *dst, size_t n);
int64_t store__pg_cell_int(const PGresult *r, int row, int col);
void store__pg_read_err(const PGresult *r, int row, int first, err_t *e);
int store__pg_take_first_text(PGresult *r, char *out, size_t n);
int store__pg_take_first_job(PGresult *r, job_t **out, err_t *err);
job_t *store__pg_read_job(const PGresult *r, int row);   /* a row of PG_JOB_COLS; NULL on OOM */
int store__pg_select_jobs(pg_t *s, const char *sql, const pg_args_t *a, job_t ***out, size_t *n, err_t *err,
                          const char *what);
void *store__pg_alloc_rows(PGresult *r, size_t size, bool *failed, err_t *err);
void store__pg_wake_local(pg_db_t *db, bool all);
int store__pg_fail(pg_t *s, const PGresult *r, err_t *err, const char *what);

/* store_pg_pause.c: PostgreSQL's store_pause / store_resume (the queue's circuit breaker) and store_unclaim. */
int store__pg_pause(store_t *h, const job_t *job, int64_t run_at, const err_t *why, int64_t now, err_t *err);
int store__pg_resume(store_t *h, const char *const *ids, size_t n_ids, int64_t now, int *n, err_t *err);
int store__pg_unclaim(store_t *h, const job_t *const *jobs, size_t n_jobs, int64_t now, int *n, err_t *err);

#endif
