/* store: the durable job store behind one interface, with two engines: SQLite (one node, store_sqlite.c) and
 * PostgreSQL (several nodes on one database, store_pg.c); store.c picks one at store_db_open and forwards every
 * call. It owns jobs, their attempt history and the per-ordering-key "head" that serialises a key.
 * Not here: what a job does (queue/ and the handlers), HTTP, retry policy (the caller computes run_at).
 *
 * Threads: one store_db_t per process and store; one store_t (a connection) per thread. A store_t is never shared.
 * Every contract below holds on both engines; where they differ, the function's comment says so ("PostgreSQL:").
 * On PostgreSQL the "store" is shared by every node (process) connected to the same database: the head rule, the
 * leases and the dedupe by id hold across nodes.
 *
 * Job states and the function performing each transition:
 *
 *     (new) ──store_enqueue──> QUEUED ──store_claim──> RUNNING ──store_finish(DONE)──> DONE
 *                                ^                       │  │ └─store_finish(DEAD)───> DEAD ─┐
 *                                │                       │  └──store_finish(RETRY)─> RETRY   │
 *                                │      store_reap_expired (lease expired: worker died) ─>┘  │
 *                                │                RETRY ──store_claim (run_at due)──> RUNNING│
 *          store_operate(RETRY) ─┤<── DEAD, RETRY                                            │
 *          store_operate(REPLAY)─┘<── DONE                                                   │
 *          store_operate(DISCARD): QUEUED, RETRY, DEAD ──> DISCARDED        <────────────────┘
 *          store_prune: DONE, DISCARDED older than the retention ──> (deleted)
 *          store_pause, store_unclaim: RUNNING ──> RETRY (store_unclaim: QUEUED if never run before), uncounted
 *
 * Ordering: among the QUEUED/RUNNING/RETRY jobs of one ordering key exactly one is the "head" (the RUNNING one,
 * else the earliest event time, then the earliest insert). Only a head is claimable, so one key runs one job at a
 * time, oldest event first. Every transition that adds or removes a live job recomputes its key's head.
 */
#ifndef SYNCHUB_STORE_H
#define SYNCHUB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef enum {
    JOB_QUEUED = 0,
    JOB_RUNNING = 1,
    JOB_RETRY = 2,
    JOB_DONE = 3,
    JOB_DEAD = 4,
    JOB_DISCARDED = 5,
    JOB_STATE_COUNT
} job_state_t;

#define JOB_ID_LEN 32   /* hex digits of a job id */

/* What enqueue needs. Every pointer is borrowed for the duration of the call. */
typedef struct job_new {
    char id[JOB_ID_LEN + 1];     /* deterministic: queue_job_id() of the idempotency key */
    const char *kind;
    const char *ordering_key;
    const char *payload;         /* JSON text, stored as given */
    size_t payload_len;
    const char *source;          /* "shopify", "cli", … */
    const char *correlation_id;  /* may be NULL */
    const char *meta;            /* JSON object text or NULL */
    int64_t event_time_ms;
    int priority;
    int max_attempts;
    int64_t lease_ms;
} job_new_t;

/* A job row. Owned by the caller: job_free(). */
typedef struct job {
    char id[JOB_ID_LEN + 1];
    int64_t rid;                  /* insertion sequence */
    char *kind, *ordering_key, *payload, *source, *correlation_id, *meta;
    job_state_t state;
    int priority, attempts, max_attempts;
    int64_t lease_ms, event_time, run_at, lease_until, lease_token, created_at, updated_at, finished_at;
    err_t last_error;             /* cls == ERR_NONE when there is none */
} job_t;

typedef struct job_attempt {
    int n;
    int64_t started_at, finished_at;   /* finished_at 0 while running */
    char outcome[16];                  /* "running", "done", "retry", "dead", "lost" */
    char worker[32];
    err_t error;
} job_attempt_t;

typedef struct store_filter {
    int state;            /* -1 = any */
    const char *kind;     /* NULL = any */
    int limit;            /* 0 = 100 */
} store_filter_t;

typedef struct store_stats {
    int64_t by_state[JOB_STATE_COUNT];
    int64_t oldest_queued_ms;     /* created_at of the oldest QUEUED job, 0 if none */
    int64_t oldest_due_ms;        /* run_at of the oldest claimable job, 0 if none (the lag) */
    int64_t retries_last_hour;
} store_stats_t;

typedef enum { STORE_OP_RETRY, STORE_OP_DISCARD, STORE_OP_REPLAY } store_op_t;

typedef struct store_db store_db_t;
typedef struct store store_t;

/* Open (creating and migrating as needed) the store at where: a PostgreSQL URL ("postgresql://…" or
 * "postgres://…"; the database must exist, its tables are created) or else an SQLite file path. busy_timeout_ms
 * bounds how long a connection waits for another process's lock (PostgreSQL: lock_timeout). password (PostgreSQL
 * only; NULL = the URL's own, PGPASSWORD or ~/.pgpass) is used to authenticate and never printed; neither is the
 * URL's password: errors name the store by its URL without it. Returns NULL with err set. Thread-safe to use
 * afterwards. */
store_db_t *store_db_open(const char *where, int64_t busy_timeout_ms, err_t *err);
store_db_t *store_db_open_auth(const char *where, const char *password, int64_t busy_timeout_ms, err_t *err);
/* "sqlite" or "postgres". */
const char *store_db_engine(const store_db_t *db);
/* Where the store lives, for messages: the SQLite file, or the PostgreSQL URL without its password. */
const char *store_db_path(const store_db_t *db);
void store_db_close(store_db_t *db);   /* after every store_t of it is closed */
/* Cap the store file at about bytes (0 = no cap) for connections opened afterwards; start-up only. A full store
 * fails writes with class transient, code store.full (the ack path answers 503). PostgreSQL: no cap (the
 * database's size is the DBA's); a server out of disk fails writes the same way (store.full). */
void store_db_set_max_size(store_db_t *db, int64_t bytes);

/* Wake-ups between threads of this process: store_db_notify after a commit that made njobs jobs claimable
 * (1 wakes one waiter, anything else wakes all); store_db_wait sleeps until a notify newer than *seen or
 * timeout_ms, and updates *seen. PostgreSQL: also across nodes — commits that make jobs claimable send a NOTIFY,
 * and the first store_db_wait starts a thread that LISTENs on its own connection and wakes this process's
 * waiters (while that connection is down, waiters simply time out: callers poll at timeout_ms). */
void store_db_notify(store_db_t *db, int njobs);
void store_db_wait(store_db_t *db, uint64_t *seen, int64_t timeout_ms);

/* A connection for the calling thread. durable: every commit is fsynced (the ack path); otherwise commits are
 * atomic and survive a crash of synchub but may be lost with the machine's power (worker bookkeeping, whose loss
 * only re-runs idempotent work). busy_timeout_ms 0 = the db's default. PostgreSQL: durable is the server's
 * synchronous_commit (on by default); otherwise the session sets synchronous_commit = off. A connection lost
 * later is re-established by the next call (that call fails with class transient, code store.unavailable, when
 * the server cannot be reached); a transaction in flight when it broke is rolled back by the server.
 * store_disconnect keeps up to 8 healthy idle connections per store_db_t for the next store_connect with the same
 * settings (a pool: short-lived store_t's skip the login), except one holding a leadership. */
store_t *store_connect(store_db_t *db, bool durable, int64_t busy_timeout_ms, err_t *err);
void store_disconnect(store_t *s);

/* Insert n jobs in one transaction. dup[i] is set true when a job with the same id already existed (nothing is
 * written for it). All or nothing: on -1 no job was stored. */
int store_enqueue(store_t *s, const job_new_t *jobs, size_t n, bool *dup, err_t *err);

/* Claim the most urgent claimable head: QUEUED or RETRY with run_at <= now (PostgreSQL: skipping heads another
 * node is claiming this instant, FOR UPDATE SKIP LOCKED). It becomes RUNNING with a lease of its
 * lease_ms and a fresh lease_token; an attempt row is opened. Returns 1 with *out (caller frees), 0 when nothing
 * is due (then *next_due_ms, if given, is the earliest future run_at of a head, or 0), -1 on error. */
int store_claim(store_t *s, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err);

/* End the attempt of a job this worker claimed (matched by id and lease_token). to = DONE, RETRY (at run_at) or
 * DEAD; why describes the failure (NULL for DONE); note is an optional remark for the attempt history.
 * Returns 0, 1 if the lease was lost (another worker owns the job now: nothing written), -1 on error. */
int store_finish(store_t *s, const job_t *job, job_state_t to, int64_t run_at, const err_t *why, const char *note,
                 int64_t now, err_t *err);

/* store_finish, then, in the same transaction, claim the next job for worker (as store_claim): one commit per job
 * on a busy queue instead of two. *next is NULL when nothing is due. */
int store_finish_claim(store_t *s, const job_t *job, job_state_t to, int64_t run_at, const err_t *why,
                       const char *note, int64_t now, const char *worker, job_t **next, int64_t *next_due_ms,
                       err_t *err);

/* One claimed job's outcome, for store_finish_batch: as store_finish's arguments; result is set by the call. */
typedef struct store_outcome {
    const job_t *job;        /* as claimed: id, rid, attempts, lease_token, ordering_key, run_at */
    job_state_t to;          /* DONE, RETRY (at run_at) or DEAD */
    int64_t run_at;
    const err_t *why;        /* NULL for DONE */
    const char *note;
    int result;              /* out: 0 recorded, 1 the lease was lost (nothing written for it) */
} store_outcome_t;

/* Group commit for a worker pool: record n outcomes (each as store_finish), then claim up to want more heads for
 * worker (each as store_claim: only heads, so one key still runs one job at a time), all in ONE transaction, made
 * durable before it returns when s was connected durable. claimed (room for want) gets *nclaimed jobs (caller
 * frees); when fewer than want were due, *next_due_ms (if given) is as store_claim's. The array's order is kept
 * (PostgreSQL takes the keys' locks in its own order). 0, or -1 with err: then nothing was recorded or claimed. */
int store_finish_batch(store_t *s, store_outcome_t *out, size_t n, int64_t now, const char *worker, size_t want,
                       job_t **claimed, size_t *nclaimed, int64_t *next_due_ms, err_t *err);

/* Extend the lease of a RUNNING job still held under token. 0, 1 if no longer held, -1 error. */
int store_renew_lease(store_t *s, const char *id, int64_t token, int64_t until, err_t *err);

/* RUNNING jobs whose lease expired before now: their attempt is closed as "lost"; they go to RETRY (due now) or,
 * past max_attempts, DEAD. *n gets how many. */
int store_reap_expired(store_t *s, int64_t now, int *n, err_t *err);

/* Delete up to limit DONE/DISCARDED jobs finished before older_than (and their attempts). *n gets the count.
 * One short transaction per call on either engine: call it again while *n == limit. */
int store_prune(store_t *s, int64_t older_than, int limit, int *n, err_t *err);

/* SQLite: move WAL content into the database file without blocking writers (PASSIVE); when the log has grown large,
 * also rewind it (briefly holding this process's writers). PostgreSQL: nothing (the server checkpoints).
 * Housekeeping only. 0 or -1. */
int store_checkpoint(store_t *s, err_t *err);

/* Operator transitions on one job (id or unique prefix of >= 8 hex digits):
 *   RETRY:   DEAD/RETRY/QUEUED → QUEUED due now, attempt budget renewed
 *   DISCARD: QUEUED/RETRY/DEAD → DISCARDED
 *   REPLAY:  DONE → QUEUED (an explicit re-run)
 * A refused transition is -1 with class ERR_DATA naming the state. *out_id (if given) receives the full id. */
int store_operate(store_t *s, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1], err_t *err);

/* RETRY every DEAD job (of class cls, or all when ERR_NONE). *n gets the count. */
int store_retry_dead(store_t *s, err_class_t cls, int64_t now, int *n, err_t *err);

/* Read one job by id or unique prefix. 1 found, 0 not found, -1 error (ambiguous prefix is ERR_DATA). */
int store_job_get(store_t *s, const char *id, job_t **out, err_t *err);
int store_attempts(store_t *s, const job_t *job, job_attempt_t **out, size_t *n, err_t *err);  /* free(*out) */
int store_list(store_t *s, const store_filter_t *f, job_t ***out, size_t *n, err_t *err);     /* job_list_free */
int store_stats(store_t *s, int64_t now, store_stats_t *out, err_t *err);

/* A write transaction that touches nothing durable: proves the store accepts writes right now (for /readyz). */
int store_probe_write(store_t *s, err_t *err);

/* Leadership of name (a scheduler: "sync.scheduler") among the nodes sharing the store. *leader is true while
 * this connection holds it; call it again before each round of leader-only work (it also checks the connection).
 * SQLite: always true (one serving process per store, enforced by its lock file). PostgreSQL: a session advisory
 * lock on this connection, released when the connection closes or breaks, so another node's next call takes
 * over. Keep the connection for as long as the leadership is wanted, and use it for one name only. 0 or -1. */
int store_leader_try(store_t *s, const char *name, bool *leader, err_t *err);

/* Links: what synchub knows it wrote — (system, shop, type, external id) → Odoo model and id, the last applied
 * version of the source record, a state and free-form extra JSON. A cache: the external ID in Odoo is the truth. */
typedef struct store_link {
    char odoo_model[64];
    int64_t odoo_id;
    int64_t version;      /* the source record's version (ms since the epoch of its updated_at) last applied */
    char state[32];
    char *extra;          /* JSON text or NULL; owned (store_link_release) */
    int64_t updated_at;
} store_link_t;

/* 1 found (*out filled), 0 absent, -1 error. */
int store_link_get(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                   store_link_t *out, err_t *err);
/* Insert or replace. 0 or -1. */
int store_link_put(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                   const store_link_t *link, err_t *err);
/* Remove a link (the Odoo record it names is gone). 0 or -1. */
int store_link_forget(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                      err_t *err);
void store_link_release(store_link_t *link);
/* Insert or replace n links of one (system, shop, type) in one transaction: all or none. 0 or -1. */
int store_links_put(store_t *s, const char *system, const char *shop, const char *type,
                    const char *const *external_ids, const store_link_t *links, size_t n, err_t *err);
/* Call fn for every link of (system, shop, type) in external_id order; link is borrowed for the call. fn returns
 * non-zero to stop. fn may use s (each page is read completely before fn runs). 0 or -1. */
typedef int (*store_link_fn)(const char *external_id, const store_link_t *link, void *ud);
int store_links_each(store_t *s, const char *system, const char *shop, const char *type, store_link_fn fn, void *ud,
                     err_t *err);

/* The external id of the newest link of (system, shop, type) to Odoo record odoo_model/odoo_id: 1 found, 0 absent,
 * -1 error. */
int store_link_find(store_t *s, const char *system, const char *shop, const char *type, const char *odoo_model,
                    int64_t odoo_id, char *external_id, size_t n, err_t *err);

/* Cursors: named positions of pollers ("odoo.stock:acme.myshopify.com"), a short text each. get: 1 found (out
 * filled), 0 absent (out ""), -1 error. put: insert or replace in its own transaction. */
int store_cursor_get(store_t *s, const char *name, char *out, size_t n, err_t *err);
int store_cursor_put(store_t *s, const char *name, const char *value, err_t *err);

/* How many QUEUED/RUNNING/RETRY jobs carry ordering_key (schedulers enqueue a poll only when none is live). */
int store_key_live(store_t *s, const char *ordering_key, int64_t *n, err_t *err);

/* Effects (store_*_effects.c): what synchub wrote into Odoo or sent to Shopify, one row per write, recorded after
 * the remote system confirmed it, found again by the business record it concerns ("subject") for `synchub trace`.
 * The pointers are borrowed (add: for the call; list: for the callback). */
typedef struct store_effect {
    int64_t id;                  /* list only: the row's insertion order */
    int64_t at;                  /* ms since the epoch; add: 0 = now */
    const char *job_id;          /* the job that wrote it; NULL outside a job (a CLI reconciliation) */
    const char *correlation_id;  /* that job's */
    const char *shop;            /* the shop domain */
    const char *subject;         /* "order:<Shopify order id>", "sku:<Shopify SKU>" */
    const char *system;          /* "odoo" or "shopify" */
    const char *action;          /* "created", "updated", "confirmed", "fulfillmentCreate", "adopted", … */
    const char *target;          /* odoo: "<model>/<id>"; shopify: the object's GID */
    const char *external_id;     /* odoo: the record's external ID ("__synchub__.shopify_…"); may be NULL */
    const char *detail;          /* JSON object text (no customer data) or NULL */
} store_effect_t;

/* Record one effect, or n effects in one transaction (all or none). 0 or -1. */
int store_effect_add(store_t *s, const store_effect_t *e, err_t *err);
int store_effects_add(store_t *s, const store_effect_t *e, size_t n, err_t *err);
/* Call fn for every effect of (shop, subject) at or after since_ms, oldest first; e is borrowed for the call and fn
 * must not use s. fn returns non-zero to stop. 0 or -1. */
typedef int (*store_effect_fn)(const store_effect_t *e, void *ud);
int store_effects_list(store_t *s, const char *shop, const char *subject, int64_t since_ms, store_effect_fn fn,
                       void *ud, err_t *err);
/* Delete up to limit effects recorded before older_than (the jobs' retention). *n gets the count. 0 or -1. */
int store_effects_prune(store_t *s, int64_t older_than, int limit, int *n, err_t *err);

/* Finders for the trace (store_*_effects.c; reads, full scans bounded by limit: operator commands, not hot paths).
 * store_jobs_by: jobs whose ordering key (or correlation id) is value, oldest first, at most limit (0 = 500);
 * job_list_free. store_job_by_payload: the newest job of kind whose ordering key starts with okey_prefix and whose
 * payload's top-level field is value (a string or a number), 1 found (*out, job_free), 0 none, -1 error.
 * store_link_by_extra: the external id of a link of (system, shop, type) whose extra JSON field is value: 1 found,
 * 0 none, -1 error. */
typedef enum { STORE_JOBS_BY_OKEY, STORE_JOBS_BY_CORRELATION } store_jobs_by_t;
int store_jobs_by(store_t *s, store_jobs_by_t by, const char *value, int limit, job_t ***out, size_t *n,
                  err_t *err);
int store_job_by_payload(store_t *s, const char *kind, const char *okey_prefix, const char *field, const char *value,
                         job_t **out, err_t *err);
int store_link_by_extra(store_t *s, const char *system, const char *shop, const char *type, const char *field,
                        const char *value, char *external_id, size_t n, err_t *err);

void job_free(job_t *job);
void job_list_free(job_t **jobs, size_t n);
const char *job_state_name(job_state_t st);
int job_state_parse(const char *name, job_state_t *out);

/* ---- pausing work on a target that is down (store_sqlite_pause.c, store_pg_pause.c) -------------
 * The queue's circuit breaker (queue/queue_breaker.h): a job that failed only because its remote system is down
 * does not spend an attempt. */

/* End the attempt of a job this worker claimed (matched by id and lease_token) WITHOUT counting it: RETRY at run_at
 * with attempts back to what they were before the claim; why becomes the job's last error and the attempt row is
 * closed as "paused" (the next claim reuses its number). The key's head is unchanged (the job stays first in its
 * ordering key, as any job in retry). Returns 0, 1 if the lease was lost (nothing written), -1 on error. */
int store_pause(store_t *s, const job_t *job, int64_t run_at, const err_t *why, int64_t now, err_t *err);

/* Undo the claims of n_jobs jobs a worker pool claimed and never started (a pool that stops, queue_pool_stop), in
 * ONE transaction, as if they had never been claimed: lease cleared, attempts back by one as in store_pause (the
 * attempt keeps its number; a claim writes no attempt row, so none is written or left), QUEUED when this claim
 * was the job's first attempt, else RETRY; run_at, priority and the key's head unchanged (each stays first in its
 * ordering key). A job whose lease was lost meanwhile (matched by rid and lease_token) is left alone. Wakes the
 * workers (PostgreSQL: of every node). *n gets how many went back. 0, or -1 (then none did). */
int store_unclaim(store_t *s, const job_t *const *jobs, size_t n_jobs, int64_t now, int *n, err_t *err);

/* Commits of this durable connection stop waiting for the disk: each is visible to every connection when it
 * returns, and durable once store_sync has returned 0 after it (a crash meanwhile loses the last commits, never
 * corrupts the store). For a worker pool's dispatcher with a local queue, whose workers do not wait for the
 * commit: it goes on with the next round while another thread syncs, and counts the outcomes done only after.
 * 1 when deferred (SQLite), 0 when the engine's commits are durable as they return (PostgreSQL: the server
 * flushes its WAL; also SQLite when the log cannot be deferred); never fails. Lasts until store_disconnect. */
int store_defer_sync(store_t *s);

/* Make every commit this connection returned from so far durable (after store_defer_sync; else nothing to do).
 * The one call that may run on another thread while the connection's own thread goes on using it. 0, or -1 with
 * err (the disk refused: the commits since the last sync that returned 0 may be lost on a crash). */
int store_sync(store_t *s, err_t *err);

/* Make the RETRY jobs among ids (full ids) due at now, when they were due later (jobs paused on a target that
 * answers again); any other state is left alone. One transaction; wakes the workers (PostgreSQL: of every node).
 * *n gets how many moved. 0 or -1. */
int store_resume(store_t *s, const char *const *ids, size_t n_ids, int64_t now, int *n, err_t *err);

/* ---- queue figures for GET /metrics and /readyz (*_metrics.c) ------------------------------------------ */

/* One (state, kind) group of jobs: how many, and the created_at of the oldest (ms since the epoch). */
typedef int (*store_depth_fn)(job_state_t state, const char *kind, int64_t count, int64_t oldest_created_ms,
                              void *ud);
/* Call fn for every (state, kind) that has QUEUED, RUNNING, RETRY or DEAD jobs (kind is borrowed for the call; fn
 * returns non-zero to stop), and set *oldest_due_ms to the run_at of the oldest claimable job that is due at now
 * (0 when none): now minus it is the queue's lag. Without by_kind, one call per state with kind "" and oldest 0.
 * Done jobs are never visited: the cost follows the backlog, not the table (by_kind reads each live row, about
 * 60 ms per 100,000; without it the index alone, about 10 ms per 100,000). 0 or -1. */
int store_queue_depth(store_t *s, int64_t now, bool by_kind, store_depth_fn fn, void *ud, int64_t *oldest_due_ms,
                      err_t *err);

/* ---- Operator audit and dashboard queries (*_audit.c, *_ops.c) --------------------------------------------------
 * Audit: every operator action (retry, discard, replay, reveal; from the dashboard's API and the CLI) with who
 * ("token:<operator>", "cli:<user>") and when. store_operate_as / store_bulk_as change the jobs and write the audit
 * row in ONE transaction: an action without its audit row (or the reverse) cannot be committed. */
typedef struct store_audit {
    int64_t id, at;              /* at: ms since the epoch */
    const char *actor;           /* "token:alice", "cli:root" */
    const char *action;          /* "retry", "discard", "replay", "reveal", "bulk-retry", "bulk-discard" */
    const char *target;          /* a job id, or "cause:<class>/<code>" */
    const char *detail;          /* JSON object text or NULL (never customer data, never secrets) */
} store_audit_t;

/* Append one audit row in its own transaction (reveal: nothing else changes). Strings borrowed. 0 or -1. */
int store_audit_add(store_t *s, const char *actor, const char *action, const char *target, const char *detail,
                    err_t *err);
/* Call fn for the newest limit rows (0 = 100), newest first; a is borrowed for the call; fn must not use s and
 * returns non-zero to stop. 0 or -1. */
typedef int (*store_audit_fn)(const store_audit_t *a, void *ud);
int store_audit_list(store_t *s, int limit, store_audit_fn fn, void *ud, err_t *err);
/* store_operate, and its audit row (action = the op's verb, target = the job's full id) in the same transaction.
 * actor NULL: no audit row (internal callers). */
int store_operate_as(store_t *s, const char *actor, const char *id, store_op_t op, int64_t now,
                     char out_id[JOB_ID_LEN + 1], err_t *err);
/* Bulk by cause: every DEAD job of class cls (ERR_NONE = any) and, when code is not NULL, of that error code, is
 * retried (op RETRY: queued now, fresh attempt budget) or discarded (op DISCARD); REPLAY is refused. With an actor,
 * one audit row "bulk-retry"/"bulk-discard", target "cause:<class>/<code>", detail {"count", "jobs": [first 200
 * ids]} in the same transaction. *n gets the count. 0 or -1. */
int store_bulk_as(store_t *s, const char *actor, store_op_t op, err_class_t cls, const char *code, int64_t now,
                  int *n, err_t *err);

/* Failures grouped by cause (class + code) of the DEAD jobs, largest group first, at most limit (0 = 100).
 * Fills *out (free with free()); kinds is the group's distinct kinds, comma-separated (truncated to fit);
 * sample is the newest dead job of the group (its id and error: message, record, hint, retry_safe).
 * unsafe counts the group's jobs whose error says retry is NOT safe. 0 or -1. */
typedef struct store_cause {
    err_class_t cls;
    char code[64];
    int64_t count, unsafe, last_at;
    char kinds[256];
    char sample_id[JOB_ID_LEN + 1];
    err_t sample;
} store_cause_t;
int store_failures(store_t *s, int limit, store_cause_t **out, size_t *n, err_t *err);

/* Activity over time from the attempts table: nbuckets buckets of bucket_ms starting at since_ms; each counts the
 * attempts that ended in it as done, and the failed ones (retry, dead, lost) by error class. out has nbuckets
 * entries (the caller's); start is filled. 0 or -1. */
typedef struct store_bucket {
    int64_t start, done;
    int64_t failed[ERR_INTERNAL + 1];   /* by err_class_t; [ERR_NONE] counts lost attempts without an error */
} store_bucket_t;
int store_activity(store_t *s, int64_t since_ms, int64_t bucket_ms, int nbuckets, store_bucket_t *out, err_t *err);

/* Jobs for the dashboard's table: store_filter_t's state and kind, and q (NULL = any): a job id prefix, an exact
 * correlation id, or a substring of the ordering key. Newest first. job_list_free. 0 or -1. */
int store_jobs_query(store_t *s, const store_filter_t *f, const char *q, job_t ***out, size_t *n, err_t *err);
/* Effects whose target ("sale.order/12", a GID) or external ID is value, newest first, at most limit (0 = 50);
 * e borrowed for the call, fn must not use s. For the dashboard's search by Odoo reference (store_*_effects.c).
 * 0 or -1. */
int store_effects_by_target(store_t *s, const char *value, int limit, store_effect_fn fn, void *ud, err_t *err);

#endif
