/* store_internal: declarations shared by the SQLite engine's files and the few callers that manage the store's
 * upkeep (the housekeeping thread). Not part of the interface a connector uses. store_checkpoint works on either
 * engine (PostgreSQL: it does nothing, the server checkpoints); the store__ functions below are SQLite's only. */
#ifndef SYNCHUB_STORE_INTERNAL_H
#define SYNCHUB_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store/store.h"

/* Column list read by read_job(); the order is the contract. */
#define STORE_JOB_COLS                                                                                              \
    "rid, id, kind, okey, priority, state, attempts, max_attempts, lease_ms, event_time, run_at,"                  \
    " coalesce(lease_until, 0), lease_token, created_at, updated_at, coalesce(finished_at, 0), source,"            \
    " correlation_id, meta, payload, err_class, err_code, err_message, err_record, err_hint, err_retry_safe"

/* Move WAL content into the database file without blocking writers (PASSIVE); when the log has grown large, also
 * rewind it (briefly holding this process's writers). Housekeeping only. */
int store_checkpoint(store_t *s, err_t *err);

/* For the store's other files (store_effects.c, …): the connection, the write transaction of store_sqlite.c (the
 * in-process writer mutex, then BEGIN IMMEDIATE) and its error mapping, so every file writes the same way. */
sqlite3 *store__conn(store_t *s);
int store__begin_write(store_t *s, err_t *err);
int store__commit(store_t *s, err_t *err);
void store__rollback(store_t *s);
int store__sql_error(store_t *s, err_t *err, const char *what);   /* fills err from the connection; returns -1 */
job_t *store__read_job(sqlite3_stmt *st);                         /* a row of STORE_JOB_COLS; NULL on OOM */
/* Step st (prepared and bound) to its end, reading every row of STORE_JOB_COLS into *out (job_list_free), then
 * finalize it. 0, or -1 (nothing in *out; err names what) on a store error or out of memory. */
int store__read_jobs(store_t *s, sqlite3_stmt *st, job_t ***out, size_t *n, err_t *err, const char *what);
store_db_t *store__db(store_t *s);                                /* for store_db_notify after a commit */
/* Inside a write transaction (no commit, no rollback): store_operate's transition, and one job's state change with
 * its key's head refreshed (the operator's transitions). 0 or -1. */
int store__operate_locked(store_t *s, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1],
                          err_t *err);
int store__set_state(store_t *s, const job_t *j, job_state_t to, int64_t now, err_t *err);

/* store_effects.c's SQLite implementations of store.h's effects and trace finders (store__sqlite_engine). */
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


/* store_audit.c, store_ops.c, store_metrics.c, store_effects.c: SQLite's operator-surface operations. */
int store__lite_audit_add(store_t *s, const char *actor, const char *action, const char *target, const char *detail, err_t *err);
int store__lite_audit_list(store_t *s, int limit, store_audit_fn fn, void *ud, err_t *err);
int store__lite_operate_as(store_t *s, const char *actor, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1], err_t *err);
int store__lite_bulk_as(store_t *s, const char *actor, store_op_t op, err_class_t cls, const char *code, int64_t now, int *n, err_t *err);
int store__lite_failures(store_t *s, int limit, store_cause_t **out, size_t *n, err_t *err);
int store__lite_activity(store_t *s, int64_t since_ms, int64_t bucket_ms, int nbuckets, store_bucket_t *out, err_t *err);
int store__lite_jobs_query(store_t *s, const store_filter_t *f, const char *q, job_t ***out, size_t *n, err_t *err);
int store__lite_queue_depth(store_t *s, int64_t now, bool by_kind, store_depth_fn fn, void *ud, int64_t *oldest_due_ms, err_t *err);
int store__lite_effects_by_target(store_t *s, const char *value, int limit, store_effect_fn fn, void *ud, err_t *err);

/* store_pause.c: SQLite's store_pause / store_resume. */
int store__lite_pause(store_t *s, const job_t *job, int64_t run_at, const err_t *why, int64_t now, err_t *err);
int store__lite_resume(store_t *s, const char *const *ids, size_t n_ids, int64_t now, int *n, err_t *err);

#endif
