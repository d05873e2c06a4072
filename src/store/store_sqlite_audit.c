/* store_sqlite_audit: the operator's actions on jobs (one job, or every dead job of a cause) written together with
 * their audit row in one write transaction, and the audit log itself (append, list). Shared by the CLI (`synchub jobs
 * retry/discard/replay`, `synchub audit`) and the dashboard's API, so both record the same way.
 * Not here: who the actor is (the caller names it) or what a transition means (store_sqlite_jobs.c).
 * PostgreSQL: store_pg_audit.c. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "store/store_engine.h"
#include "store/store_sqlite.h"

/* Inside the caller's write transaction. */
static int audit_insert(store_t *s, const char *actor, const char *action, const char *target, const char *detail,
                        int64_t at, err_t *err)
{
    static const char sql[] = "INSERT INTO audit(at, actor, action, target, detail) VALUES(?1, ?2, ?3, ?4, ?5)";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare audit insert");
    sqlite3_bind_int64(st, 1, at ? at : clock_now_ms());
    sqlite3_bind_text(st, 2, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, target ? target : "", -1, SQLITE_TRANSIENT);
    if (detail)
        sqlite3_bind_text(st, 5, detail, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store__sql_error(s, err, "insert audit row");
    sqlite3_finalize(st);
    return rc;
}

int store__lite_audit_add(store_t *s, const char *actor, const char *action, const char *target, const char *detail,
                    err_t *err)
{
    if (store__begin_write(s, err) < 0)
        return -1;
    if (audit_insert(s, actor, action, target, detail, 0, err) < 0) {
        store__rollback(s);
        return -1;
    }
    return store__commit(s, err);
}

int store__lite_audit_list(store_t *s, int limit, store_audit_fn fn, void *ud, err_t *err)
{
    static const char sql[] = "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?1";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare audit list");
    sqlite3_bind_int(st, 1, limit > 0 ? limit : 100);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_audit_t a = {
            .id = sqlite3_column_int64(st, 0),
            .at = sqlite3_column_int64(st, 1),
            .actor = (const char *)sqlite3_column_text(st, 2),
            .action = (const char *)sqlite3_column_text(st, 3),
            .target = (const char *)sqlite3_column_text(st, 4),
            .detail = (const char *)sqlite3_column_text(st, 5),
        };
        if (fn(&a, ud) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    int out = rc == SQLITE_DONE ? 0 : store__sql_error(s, err, "list audit rows");
    sqlite3_finalize(st);
    return out;
}

int store__lite_operate_as(store_t *s, const char *actor, const char *id, store_op_t op, int64_t now,
                     char out_id[JOB_ID_LEN + 1], err_t *err)
{
    char full[JOB_ID_LEN + 1];
    if (store__begin_write(s, err) < 0)
        return -1;
    if (store__operate_locked(s, id, op, now, full, err) < 0 ||
        (actor && audit_insert(s, actor, store__op_verb(op), full, NULL, now, err) < 0)) {
        store__rollback(s);
        return -1;
    }
    if (store__commit(s, err) < 0)
        return -1;
    store__lite_db_notify(store__db(s), 1);
    if (out_id)
        memcpy(out_id, full, sizeof(full));
    return 0;
}

/* The dead jobs of a cause, read completely before any of them changes (the SELECT must not run while its rows
 * are updated). Through jobs_dead: for "ORDER BY rid" the planner would rather walk the whole table in rid order. */
static int dead_of_cause(store_t *s, err_class_t cls, const char *code, job_t ***out, size_t *n, err_t *err)
{
    static const char sql[] = "SELECT " STORE_JOB_COLS " FROM jobs INDEXED BY jobs_dead"
                              " WHERE state = 4 AND (?1 = 0 OR err_class = ?1)"
                              " AND (?2 IS NULL OR coalesce(err_code, '') = ?2) ORDER BY rid";
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare dead jobs of a cause");
    sqlite3_bind_int(st, 1, (int)cls);
    if (code)
        sqlite3_bind_text(st, 2, code, -1, SQLITE_TRANSIENT);
    return store__read_jobs(s, st, out, n, err, "list dead jobs");
}

int store__lite_bulk_as(store_t *s, const char *actor, store_op_t op, err_class_t cls, const char *code, int64_t now,
                  int *n, err_t *err)
{
    *n = 0;
    if (op == STORE_OP_REPLAY)
        return err_set(err, ERR_DATA, "job.bulk_replay", "replay applies to done jobs one at a time, not by cause");
    if (store__begin_write(s, err) < 0)
        return -1;
    job_t **jobs = NULL;
    size_t nj = 0;
    char *detail = NULL;
    int failed = dead_of_cause(s, cls, code, &jobs, &nj, err);
    for (size_t i = 0; i < nj && !failed; i++)
        failed = store__set_state(s, jobs[i], op == STORE_OP_RETRY ? JOB_QUEUED : JOB_DISCARDED, now, err);
    if (!failed && actor) {
        char target[128];
        store__bulk_target(target, sizeof(target), cls, code);
        detail = store__bulk_detail(jobs, nj, cls, code);
        failed = !detail ? err_set(err, ERR_INTERNAL, "store.oom", "out of memory")
                         : audit_insert(s, actor, op == STORE_OP_RETRY ? "bulk-retry" : "bulk-discard", target,
                                        detail, now, err);
    }
    free(detail);
    job_list_free(jobs, nj);
    if (failed) {
        store__rollback(s);
        return -1;
    }
    if (store__commit(s, err) < 0)
        return -1;
    *n = (int)nj;
    if (op == STORE_OP_RETRY && nj)
        store__lite_db_notify(store__db(s), -1);
    return 0;
}

/* Every DEAD job of a class: the bulk path above, without a code filter and without an audit entry. */
int store__lite_retry_dead(store_t *s, err_class_t cls, int64_t now, int *n, err_t *err)
{
    return store__lite_bulk_as(s, NULL, STORE_OP_RETRY, cls, NULL, now, n, err);
}

int store__lite_operate(store_t *s, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1], err_t *err)
{
    if (store__begin_write(s, err) < 0)
        return -1;
    if (store__operate_locked(s, id, op, now, out_id, err) < 0) {
        store__rollback(s);
        return -1;
    }
    if (store__commit(s, err) < 0)
        return -1;
    store__lite_db_notify(s->db, 1);
    return 0;
}
