/* store_engine: the table of operations one store engine (SQLite, PostgreSQL) provides, and how store.c finds it.
 * Every engine's struct store_db and struct store begin with a `const store_engine_t *` member, so store.c reads
 * the engine from any handle and forwards the call; the public store_* names exist once, in store.c.
 * Not here: any SQL, or anything a connector calls (that is store.h). Adding a store function: add a member here,
 * its forwarder in store.c, and one implementation per engine (the checks in store.c refuse a missing member). */
#ifndef SYNCHUB_STORE_ENGINE_H
#define SYNCHUB_STORE_ENGINE_H

#include "store/store.h"

typedef struct store_engine {
    const char *name;
    void (*db_close)(store_db_t *db);
    void (*db_set_max_size)(store_db_t *db, int64_t bytes);
    void (*db_notify)(store_db_t *db, int njobs);
    void (*db_wait)(store_db_t *db, uint64_t *seen, int64_t timeout_ms);
    const char *(*db_path)(const store_db_t *db);
    store_t *(*connect)(store_db_t *db, bool durable, int64_t busy_timeout_ms, err_t *err);
    void (*disconnect)(store_t *s);
    int (*checkpoint)(store_t *s, err_t *err);
    int (*enqueue)(store_t *s, const job_new_t *jobs, size_t n, bool *dup, err_t *err);
    int (*claim)(store_t *s, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err);
    int (*finish_claim)(store_t *s, const job_t *job, job_state_t to, int64_t run_at, const err_t *why,
                        const char *note, int64_t now, const char *worker, job_t **next, int64_t *next_due_ms,
                        err_t *err);
    int (*finish_batch)(store_t *s, store_outcome_t *out, size_t n, int64_t now, const char *worker, size_t want,
                        job_t **claimed, size_t *nclaimed, int64_t *next_due_ms, err_t *err);
    int (*renew_lease)(store_t *s, const char *id, int64_t token, int64_t until, err_t *err);
    int (*reap_expired)(store_t *s, int64_t now, int *n, err_t *err);
    int (*prune)(store_t *s, int64_t older_than, int limit, int *n, err_t *err);
    int (*operate)(store_t *s, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1], err_t *err);
    int (*retry_dead)(store_t *s, err_class_t cls, int64_t now, int *n, err_t *err);
    int (*job_get)(store_t *s, const char *id, job_t **out, err_t *err);
    int (*attempts)(store_t *s, const job_t *job, job_attempt_t **out, size_t *n, err_t *err);
    int (*list)(store_t *s, const store_filter_t *f, job_t ***out, size_t *n, err_t *err);
    int (*stats)(store_t *s, int64_t now, store_stats_t *out, err_t *err);
    int (*probe_write)(store_t *s, err_t *err);
    int (*link_get)(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                    store_link_t *out, err_t *err);
    int (*link_put)(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                    const store_link_t *link, err_t *err);
    int (*link_forget)(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                       err_t *err);
    int (*links_put)(store_t *s, const char *system, const char *shop, const char *type,
                     const char *const *external_ids, const store_link_t *links, size_t n, err_t *err);
    int (*links_each)(store_t *s, const char *system, const char *shop, const char *type, store_link_fn fn, void *ud,
                      err_t *err);
    int (*link_find)(store_t *s, const char *system, const char *shop, const char *type, const char *odoo_model,
                     int64_t odoo_id, char *external_id, size_t n, err_t *err);
    int (*cursor_get)(store_t *s, const char *name, char *out, size_t n, err_t *err);
    int (*cursor_put)(store_t *s, const char *name, const char *value, err_t *err);
    int (*key_live)(store_t *s, const char *ordering_key, int64_t *n, err_t *err);
    int (*effects_add)(store_t *s, const store_effect_t *e, size_t n, err_t *err);
    int (*effects_list)(store_t *s, const char *shop, const char *subject, int64_t since_ms, store_effect_fn fn,
                        void *ud, err_t *err);
    int (*effects_prune)(store_t *s, int64_t older_than, int limit, int *n, err_t *err);
    int (*jobs_by)(store_t *s, store_jobs_by_t by, const char *value, int limit, job_t ***out, size_t *n, err_t *err);
    int (*job_by_payload)(store_t *s, const char *kind, const char *okey_prefix, const char *field, const char *value,
                          job_t **out, err_t *err);
    int (*link_by_extra)(store_t *s, const char *system, const char *shop, const char *type, const char *field,
                         const char *value, char *external_id, size_t n, err_t *err);
    int (*leader_try)(store_t *s, const char *name, bool *leader, err_t *err);
    /* the operator surface: audit, dashboard queries, queue figures */
    int (*audit_add)(store_t *s, const char *actor, const char *action, const char *target, const char *detail, err_t *err);
    int (*audit_list)(store_t *s, int limit, store_audit_fn fn, void *ud, err_t *err);
    int (*operate_as)(store_t *s, const char *actor, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1], err_t *err);
    int (*bulk_as)(store_t *s, const char *actor, store_op_t op, err_class_t cls, const char *code, int64_t now, int *n, err_t *err);
    int (*failures)(store_t *s, int limit, store_cause_t **out, size_t *n, err_t *err);
    int (*activity)(store_t *s, int64_t since_ms, int64_t bucket_ms, int nbuckets, store_bucket_t *out, err_t *err);
    int (*jobs_query)(store_t *s, const store_filter_t *f, const char *q, job_t ***out, size_t *n, err_t *err);
    int (*queue_depth)(store_t *s, int64_t now, bool by_kind, store_depth_fn fn, void *ud, int64_t *oldest_due_ms, err_t *err);
    int (*effects_by_target)(store_t *s, const char *value, int limit, store_effect_fn fn, void *ud, err_t *err);
    /* pausing work on a target that is down (the queue's circuit breaker) */
    int (*pause)(store_t *s, const job_t *job, int64_t run_at, const err_t *why, int64_t now, err_t *err);
    int (*resume)(store_t *s, const char *const *ids, size_t n_ids, int64_t now, int *n, err_t *err);
    /* a stopping pool's claims that no worker started */
    int (*unclaim)(store_t *s, const job_t *const *jobs, size_t n_jobs, int64_t now, int *n, err_t *err);
    /* commits that sync later, for a pool's dispatcher */
    int (*defer_sync)(store_t *s);
    int (*sync)(store_t *s, err_t *err);
} store_engine_t;

extern const store_engine_t store__sqlite_engine;   /* store_sqlite.c (its functions: store_sqlite_*.c) */
extern const store_engine_t store__pg_engine;       /* store_pg.c (its functions: store_pg_*.c) */

/* Engine-independent checks both engines apply (store.c). */
int store__check_job_id(const char *id, err_t *err);   /* 8..32 lower-case hex digits: 0, else -1 (ERR_DATA) */
/* May op move job j (store_operate's table)? 0, else -1 with ERR_DATA naming the state and what to do. */
int store__check_operation(const job_t *j, store_op_t op, err_t *err);

/* The operator surface's audit rows, the same on both engines: an op's verb ("retry", "discard", "replay"); a bulk
 * action's target "cause:<class>/<code>" ("any" for either when unset); its detail {"count", "class", "code",
 * "jobs": the first 200 ids} (JSON text to free(), NULL on OOM). */
const char *store__op_verb(store_op_t op);
void store__bulk_target(char *out, size_t n, err_class_t cls, const char *code);
char *store__bulk_detail(job_t *const *jobs, size_t n, err_class_t cls, const char *code);

/* store_activity's buckets, filled the same way by both engines: init sets each start and zeroes the counts (-1
 * without buckets); add counts n attempts that ended in bucket b (ignored outside the range), done or failed by
 * class cls (an unknown class counts as ERR_INTERNAL). */
int store__buckets_init(store_bucket_t *out, int64_t since_ms, int64_t bucket_ms, int nbuckets, err_t *err);
void store__bucket_add(store_bucket_t *out, int nbuckets, int64_t b, bool done, int cls, int64_t n);

/* The error of an attempt whose lease expired (store_reap_expired); true when the job has no attempt left (DEAD). */
bool store__lost_error(const job_t *j, err_t *why);

/* The engines' constructors (store_db_open picks one). */
store_db_t *store__sqlite_open(const char *path, int64_t busy_timeout_ms, err_t *err);
store_db_t *store__pg_open(const char *url, const char *password, int64_t busy_timeout_ms, err_t *err);

#endif
