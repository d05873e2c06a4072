/* store_pg_audit: the operator's actions on jobs (store_operate, one job or every dead job of a cause) written
 * together with their audit row in one transaction, and the audit log itself, on PostgreSQL. The SQLite versions are in
 * store_sqlite_audit.c. Not here: who the actor is (the caller names it) or one job's transition (store_pg_jobs.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "store/store.h"
#include "store/store_engine.h"
#include "store/store_pg.h"

/* Append an audit row inside the caller's transaction (at 0 = now). 0 or -1. */
static int audit_insert(pg_t *s, const char *actor, const char *action, const char *target, const char *detail,
                        int64_t at, err_t *err)
{
    pg_args_t a = {0};
    store__pg_a_int(&a, at ? at : clock_now_ms());
    store__pg_a_str(&a, actor);
    store__pg_a_str(&a, action);
    store__pg_a_str(&a, target ? target : "");
    store__pg_a_str(&a, detail);
    PGresult *r = store__pg_run_sql(s, "INSERT INTO audit(at, actor, action, target, detail) VALUES($1::bigint, $2, $3, $4, $5)",
                          &a, err, "insert audit row");
    PQclear(r);
    return r ? 0 : -1;
}

int store__pg_operate_as(store_t *h, const char *actor, const char *id, store_op_t op, int64_t now,
                         char out_id[JOB_ID_LEN + 1], err_t *err)
{
    pg_t *s = PG(h);
    char full[JOB_ID_LEN + 1];
    if (store__pg_begin(s, err) < 0)
        return -1;
    if (store__pg_operate_locked(s, id, op, now, full, err) < 0 ||
        (actor && audit_insert(s, actor, store__op_verb(op), full, NULL, now, err) < 0)) {
        store__pg_rollback(s);
        return -1;
    }
    if (store__pg_commit(s, err) < 0)
        return -1;
    store__pg_wake_local(s->db, false);
    if (out_id)
        memcpy(out_id, full, sizeof(full));
    return 0;
}

int store__pg_bulk_as(store_t *h, const char *actor, store_op_t op, err_class_t cls, const char *code, int64_t now,
                      int *n, err_t *err)
{
    pg_t *s = PG(h);
    *n = 0;
    if (op == STORE_OP_REPLAY)
        return err_set(err, ERR_DATA, "job.bulk_replay", "replay applies to done jobs one at a time, not by cause");
    job_t **found = NULL;
    size_t nfound = 0, moved = 0;
    char *detail = NULL;
    int heads = 0;
    if (store__pg_begin(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_int(&a, (int)cls);
    store__pg_a_str(&a, code);
    /* The keys are locked in byte order after the read (select_and_lock); a job another operator moved meanwhile
     * is no longer DEAD and set_state's guard leaves it alone (DEAD jobs leave DEAD only under their key lock). */
    if (store__pg_select_and_lock(s,
                        "SELECT " PG_JOB_COLS " FROM jobs WHERE state = 4 AND ($1::int = 0 OR err_class = $1::int)"
                        " AND ($2::text IS NULL OR coalesce(err_code, '') = $2::text) ORDER BY rid",
                        &a, &found, &nfound, err, "list dead jobs") < 0)
        goto fail;
    for (size_t i = 0; i < nfound; i++) {
        bool changed = false;
        int made = store__pg_set_state(s, found[i], JOB_DEAD, op == STORE_OP_RETRY ? JOB_QUEUED : JOB_DISCARDED, now,
                             &changed, err);
        if (made < 0)
            goto fail;
        heads += made;
        if (changed) { /* keep the moved ones in front: they are the count and the audit row's ids */
            job_t *t = found[moved];
            found[moved++] = found[i];
            found[i] = t;
        }
    }
    if (heads && store__pg_notify_nodes(s, err) < 0)
        goto fail;
    if (actor) {
        char target[128];
        store__bulk_target(target, sizeof(target), cls, code);
        if (!(detail = store__bulk_detail(found, moved, cls, code))) {
            err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
            goto fail;
        }
        if (audit_insert(s, actor, op == STORE_OP_RETRY ? "bulk-retry" : "bulk-discard", target, detail, now, err) < 0)
            goto fail;
    }
    free(detail);
    job_list_free(found, nfound);
    if (store__pg_commit(s, err) < 0)
        return -1;
    *n = (int)moved;
    if (heads)
        store__pg_wake_local(s->db, true);
    return 0;
fail:
    free(detail);
    job_list_free(found, nfound);
    store__pg_rollback(s);
    return -1;
}

/* Every DEAD job of a class: the bulk path without a code filter and without an audit row. */
int store__pg_retry_dead(store_t *h, err_class_t cls, int64_t now, int *n, err_t *err)
{
    return store__pg_bulk_as(h, NULL, STORE_OP_RETRY, cls, NULL, now, n, err);
}

int store__pg_audit_add(store_t *h, const char *actor, const char *action, const char *target, const char *detail,
                        err_t *err)
{
    pg_t *s = PG(h);
    /* one statement: its own transaction */
    return store__pg_ensure(s, err) < 0 ? -1 : audit_insert(s, actor, action, target, detail, 0, err);
}

int store__pg_audit_list(store_t *h, int limit, store_audit_fn fn, void *ud, err_t *err)
{
    pg_t *s = PG(h);
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_int(&a, limit > 0 ? limit : 100);
    PGresult *r = store__pg_run_sql(s, "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT $1::int",
                          &a, err, "list audit rows");
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        store_audit_t row = {
            .id = store__pg_cell_int(r, i, 0),
            .at = store__pg_cell_int(r, i, 1),
            .actor = store__pg_cell(r, i, 2),
            .action = store__pg_cell(r, i, 3),
            .target = store__pg_cell(r, i, 4),
            .detail = store__pg_cell(r, i, 5),
        };
        if (fn(&row, ud) != 0)
            break;
    }
    PQclear(r);
    return 0;
}

int store__pg_operate(store_t *h, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1],
                      err_t *err)
{
    return store__pg_operate_as(h, NULL, id, op, now, out_id, err);
}
