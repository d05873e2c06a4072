/* store_internal: declarations shared by the store's own files and the few callers that manage the store's
 * upkeep (the housekeeping thread). Not part of the interface a connector uses. */
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
const char *store_db_path(const store_db_t *db);

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

#endif
