/* store: the engine-independent half of store.h. store_db_open picks the engine from where the store lives (a
 * PostgreSQL URL or an SQLite file); every other store_* call forwards to the engine named by the handle's first
 * member (store_engine.h), so callers, the group-commit writer and the tests use one interface whatever the engine.
 * Why a table rather than two builds: one binary serves either engine, chosen by the config at start-up.
 * Not here: SQL of any kind (store_sqlite*.c, store_pg*.c), what both engines share (store_common.c). */
#include "store/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_engine.h"

/* The engine of a store_db_t or store_t: both engines' structs begin with it. */
#define ENG(h) (*(const store_engine_t *const *)(h))

static bool is_pg_url(const char *where)
{
    return where && (strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0);
}

/* A table with a hole would crash on first use of that operation, far from the cause: refuse it at open. */
static bool engine_complete(const store_engine_t *e)
{
    const void *const *fn = (const void *const *)((const char *)e + offsetof(store_engine_t, db_close));
    size_t n = (sizeof(*e) - offsetof(store_engine_t, db_close)) / sizeof(void *);
    for (size_t i = 0; i < n; i++)
        if (!fn[i])
            return false;
    return true;
}

store_db_t *store_db_open_auth(const char *where, const char *password, int64_t busy_timeout_ms, err_t *err)
{
    const store_engine_t *e = is_pg_url(where) ? &store__pg_engine : &store__sqlite_engine;
    if (!engine_complete(e)) {
        err_set(err, ERR_INTERNAL, "store.engine", "the %s store engine of this build lacks an operation", e->name);
        return NULL;
    }
    if (e == &store__pg_engine)
        return store__pg_open(where, password, busy_timeout_ms, err);
    return store__sqlite_open(where, busy_timeout_ms, err);
}

store_db_t *store_db_open(const char *where, int64_t busy_timeout_ms, err_t *err)
{
    return store_db_open_auth(where, NULL, busy_timeout_ms, err);
}

const char *store_db_engine(const store_db_t *db)
{
    return ENG(db)->name;
}

void store_db_close(store_db_t *db)
{
    if (!db)
        return;
    ENG(db)->db_close(db);
}

void store_db_set_max_size(store_db_t *db, int64_t bytes)
{
    ENG(db)->db_set_max_size(db, bytes);
}

void store_db_notify(store_db_t *db, int njobs)
{
    ENG(db)->db_notify(db, njobs);
}

void store_db_wait(store_db_t *db, uint64_t *seen, int64_t timeout_ms)
{
    ENG(db)->db_wait(db, seen, timeout_ms);
}

const char *store_db_path(const store_db_t *db)
{
    return ENG(db)->db_path(db);
}

store_t *store_connect(store_db_t *db, bool durable, int64_t busy_timeout_ms, err_t *err)
{
    return ENG(db)->connect(db, durable, busy_timeout_ms, err);
}

void store_disconnect(store_t *s)
{
    if (!s)
        return;
    ENG(s)->disconnect(s);
}

int store_checkpoint(store_t *s, err_t *err)
{
    return ENG(s)->checkpoint(s, err);
}

int store_enqueue(store_t *s, const job_new_t *jobs, size_t n, bool *dup, err_t *err)
{
    return ENG(s)->enqueue(s, jobs, n, dup, err);
}

int store_claim(store_t *s, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err)
{
    return ENG(s)->claim(s, worker, now, out, next_due_ms, err);
}

int store_finish(store_t *s, const job_t *job, job_state_t to, int64_t run_at, const err_t *why, const char *note,
                 int64_t now, err_t *err)
{
    return ENG(s)->finish_claim(s, job, to, run_at, why, note, now, NULL, NULL, NULL, err);
}

int store_finish_claim(store_t *s, const job_t *job, job_state_t to, int64_t run_at, const err_t *why,
                       const char *note, int64_t now, const char *worker, job_t **next, int64_t *next_due_ms,
                       err_t *err)
{
    return ENG(s)->finish_claim(s, job, to, run_at, why, note, now, worker, next, next_due_ms, err);
}

int store_finish_batch(store_t *s, store_outcome_t *out, size_t n, int64_t now, const char *worker, size_t want,
                       job_t **claimed, size_t *nclaimed, int64_t *next_due_ms, err_t *err)
{
    return ENG(s)->finish_batch(s, out, n, now, worker, want, claimed, nclaimed, next_due_ms, err);
}

int store_renew_lease(store_t *s, const char *id, int64_t token, int64_t until, err_t *err)
{
    return ENG(s)->renew_lease(s, id, token, until, err);
}

int store_reap_expired(store_t *s, int64_t now, int *n, err_t *err)
{
    return ENG(s)->reap_expired(s, now, n, err);
}

int store_prune(store_t *s, int64_t older_than, int limit, int *n, err_t *err)
{
    return ENG(s)->prune(s, older_than, limit, n, err);
}

int store_operate(store_t *s, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1], err_t *err)
{
    return ENG(s)->operate(s, id, op, now, out_id, err);
}

int store_retry_dead(store_t *s, err_class_t cls, int64_t now, int *n, err_t *err)
{
    return ENG(s)->retry_dead(s, cls, now, n, err);
}

int store_job_get(store_t *s, const char *id, job_t **out, err_t *err)
{
    return ENG(s)->job_get(s, id, out, err);
}

int store_attempts(store_t *s, const job_t *job, job_attempt_t **out, size_t *n, err_t *err)
{
    return ENG(s)->attempts(s, job, out, n, err);
}

int store_list(store_t *s, const store_filter_t *f, job_t ***out, size_t *n, err_t *err)
{
    return ENG(s)->list(s, f, out, n, err);
}

int store_stats(store_t *s, int64_t now, store_stats_t *out, err_t *err)
{
    return ENG(s)->stats(s, now, out, err);
}

int store_probe_write(store_t *s, err_t *err)
{
    return ENG(s)->probe_write(s, err);
}

int store_link_get(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                   store_link_t *out, err_t *err)
{
    return ENG(s)->link_get(s, system, shop, type, external_id, out, err);
}

int store_link_put(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                   const store_link_t *link, err_t *err)
{
    return ENG(s)->link_put(s, system, shop, type, external_id, link, err);
}

int store_link_forget(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                      err_t *err)
{
    return ENG(s)->link_forget(s, system, shop, type, external_id, err);
}

int store_links_put(store_t *s, const char *system, const char *shop, const char *type,
                    const char *const *external_ids, const store_link_t *links, size_t n, err_t *err)
{
    return ENG(s)->links_put(s, system, shop, type, external_ids, links, n, err);
}

int store_links_each(store_t *s, const char *system, const char *shop, const char *type, store_link_fn fn, void *ud,
                     err_t *err)
{
    return ENG(s)->links_each(s, system, shop, type, fn, ud, err);
}

int store_link_find(store_t *s, const char *system, const char *shop, const char *type, const char *odoo_model,
                    int64_t odoo_id, char *external_id, size_t n, err_t *err)
{
    return ENG(s)->link_find(s, system, shop, type, odoo_model, odoo_id, external_id, n, err);
}

int store_cursor_get(store_t *s, const char *name, char *out, size_t n, err_t *err)
{
    return ENG(s)->cursor_get(s, name, out, n, err);
}

int store_cursor_put(store_t *s, const char *name, const char *value, err_t *err)
{
    return ENG(s)->cursor_put(s, name, value, err);
}

int store_key_live(store_t *s, const char *ordering_key, int64_t *n, err_t *err)
{
    return ENG(s)->key_live(s, ordering_key, n, err);
}

int store_effect_add(store_t *s, const store_effect_t *e, err_t *err)
{
    return ENG(s)->effects_add(s, e, 1, err);
}

int store_effects_add(store_t *s, const store_effect_t *e, size_t n, err_t *err)
{
    return ENG(s)->effects_add(s, e, n, err);
}

int store_effects_list(store_t *s, const char *shop, const char *subject, int64_t since_ms, store_effect_fn fn,
                       void *ud, err_t *err)
{
    return ENG(s)->effects_list(s, shop, subject, since_ms, fn, ud, err);
}

int store_effects_prune(store_t *s, int64_t older_than, int limit, int *n, err_t *err)
{
    return ENG(s)->effects_prune(s, older_than, limit, n, err);
}

int store_jobs_by(store_t *s, store_jobs_by_t by, const char *value, int limit, job_t ***out, size_t *n,
                  err_t *err)
{
    return ENG(s)->jobs_by(s, by, value, limit, out, n, err);
}

int store_job_by_payload(store_t *s, const char *kind, const char *okey_prefix, const char *field, const char *value,
                         job_t **out, err_t *err)
{
    return ENG(s)->job_by_payload(s, kind, okey_prefix, field, value, out, err);
}

int store_link_by_extra(store_t *s, const char *system, const char *shop, const char *type, const char *field,
                        const char *value, char *external_id, size_t n, err_t *err)
{
    return ENG(s)->link_by_extra(s, system, shop, type, field, value, external_id, n, err);
}

int store_leader_try(store_t *s, const char *name, bool *leader, err_t *err)
{
    return ENG(s)->leader_try(s, name, leader, err);
}

/* ---- the operator surface (audit, dashboard, metrics) ---------------------------------------------------- */

int store_audit_add(store_t *s, const char *actor, const char *action, const char *target, const char *detail,
                    err_t *err)
{
    return ENG(s)->audit_add(s, actor, action, target, detail, err);
}

int store_audit_list(store_t *s, int limit, store_audit_fn fn, void *ud, err_t *err)
{
    return ENG(s)->audit_list(s, limit, fn, ud, err);
}

int store_operate_as(store_t *s, const char *actor, const char *id, store_op_t op, int64_t now,
                     char out_id[JOB_ID_LEN + 1], err_t *err)
{
    return ENG(s)->operate_as(s, actor, id, op, now, out_id, err);
}

int store_bulk_as(store_t *s, const char *actor, store_op_t op, err_class_t cls, const char *code, int64_t now,
                  int *n, err_t *err)
{
    return ENG(s)->bulk_as(s, actor, op, cls, code, now, n, err);
}

int store_failures(store_t *s, int limit, store_cause_t **out, size_t *n, err_t *err)
{
    return ENG(s)->failures(s, limit, out, n, err);
}

int store_activity(store_t *s, int64_t since_ms, int64_t bucket_ms, int nbuckets, store_bucket_t *out, err_t *err)
{
    return ENG(s)->activity(s, since_ms, bucket_ms, nbuckets, out, err);
}

int store_jobs_query(store_t *s, const store_filter_t *f, const char *q, job_t ***out, size_t *n, err_t *err)
{
    return ENG(s)->jobs_query(s, f, q, out, n, err);
}

int store_queue_depth(store_t *s, int64_t now, bool by_kind, store_depth_fn fn, void *ud, int64_t *oldest_due_ms,
                      err_t *err)
{
    return ENG(s)->queue_depth(s, now, by_kind, fn, ud, oldest_due_ms, err);
}

int store_effects_by_target(store_t *s, const char *value, int limit, store_effect_fn fn, void *ud, err_t *err)
{
    return ENG(s)->effects_by_target(s, value, limit, fn, ud, err);
}

int store_pause(store_t *s, const job_t *job, int64_t run_at, const err_t *why, int64_t now, err_t *err)
{
    return ENG(s)->pause(s, job, run_at, why, now, err);
}

int store_resume(store_t *s, const char *const *ids, size_t n_ids, int64_t now, int *n, err_t *err)
{
    *n = 0;
    return n_ids == 0 ? 0 : ENG(s)->resume(s, ids, n_ids, now, n, err);
}

int store_unclaim(store_t *s, const job_t *const *jobs, size_t n_jobs, int64_t now, int *n, err_t *err)
{
    *n = 0;
    return n_jobs == 0 ? 0 : ENG(s)->unclaim(s, jobs, n_jobs, now, n, err);
}

int store_defer_sync(store_t *s)
{
    return ENG(s)->defer_sync(s);
}

int store_sync(store_t *s, err_t *err)
{
    return ENG(s)->sync(s, err);
}
