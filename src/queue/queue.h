/* queue: how jobs are identified, paced and run. Deterministic job ids, per-kind policies (priority, attempts,
 * backoff with full jitter, lease), the handler registry and the worker pool with its housekeeping thread
 * (lease renewal and expiry, pruning, checkpoints). Not here: SQL (store/) or what a kind does (its handler). */
#ifndef SYNCHUB_QUEUE_H
#define SYNCHUB_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cfg.h"
#include "core/err.h"
#include "obs/metrics.h"
#include "store/store.h"

/* Job id = first 32 hex digits of SHA-256 of the idempotency key. Deterministic by design: the same event always
 * maps to the same id, which is what lets the store refuse a second copy. */
void queue_job_id(const char *idem_key, size_t len, char out[JOB_ID_LEN + 1]);

typedef struct queue_policy {
    int priority;            /* higher runs first */
    int max_attempts;
    int64_t backoff_base_ms, backoff_cap_ms, lease_ms;
} queue_policy_t;

/* The policy of kind: built-in defaults (queue_policy.c), overridden by a [kind NAME] section. */
queue_policy_t queue_policy_for(const cfg_t *cfg, const char *kind);

/* Delay before attempt `attempt`+1 after `attempt` failures: full jitter, uniform in
 * [0, min(cap, base * 2^(attempt-1))], at least 10 ms. rng is the caller's per-thread state. */
int64_t queue_backoff_ms(const queue_policy_t *p, int attempt, uint64_t *rng);

/* One run of one job, handed to its handler. */
typedef struct queue_run {
    const job_t *job;        /* borrowed; attempts already counts this run */
    void *udata;             /* given at registration */
    const char *worker;      /* "w3" */
    store_t *store;          /* the worker's own store connection (links); not for job state */
    void **slot;             /* this worker's private state for this registration (NULL until the handler sets it;
                              * freed with the registration's slot_free when the worker stops) */
    err_t err;               /* the handler fills it when it returns -1 */
    bool retry_later;        /* with -1: the failure (class data or configuration) is expected to clear by itself
                              * (a logistics event for a delivery Odoo has not created yet): retry with the kind's
                              * backoff while attempts remain, then dead with err's class */
    char note[256];          /* optional remark on success ("skipped: older than the applied version") */
} queue_run_t;

/* Record n effects of this run (store_effects_add) after the remote write they describe succeeded; job_id and
 * correlation_id of each are set to the running job's. A failure to record is logged, not returned: the write
 * happened and failing the job would only repeat it. Worker thread of run only. */
void queue_run_effects(queue_run_t *run, store_effect_t *e, size_t n);

/* A handler's failure in one line: fill run->err (class, code, printf message, record = label, hint; retry_safe as
 * err_set decides) and return -1. Worker thread of run only. */
int queue_run_fail(queue_run_t *run, const char *label, err_class_t cls, const char *code, const char *hint,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* 0 = done; -1 = failed, run->err says how (class decides retry or dead). Runs on a worker thread. */
typedef int (*queue_handler_fn)(queue_run_t *run);

typedef struct queue_registry queue_registry_t;
queue_registry_t *queue_registry_new(void);
void queue_registry_free(queue_registry_t *r);
/* Register fn for a kind, or for every kind with a prefix when pattern ends in ".*" ("test.*"). 0 or -1. */
int queue_registry_add(queue_registry_t *r, const char *pattern, queue_handler_fn fn, void *udata);
/* The same, with a per-worker slot (run->slot) that slot_free releases when a worker stops. */
int queue_registry_add_slot(queue_registry_t *r, const char *pattern, queue_handler_fn fn, void *udata,
                            void (*slot_free)(void *));
/* The handler for kind, its udata and its registration index (for slots); NULL if none. */
queue_handler_fn queue_registry_find(const queue_registry_t *r, const char *kind, void **udata, size_t *index);
size_t queue_registry_count(const queue_registry_t *r);

typedef struct queue_pool queue_pool_t;
typedef struct queue_breaker queue_breaker_t;
/* Start nworkers worker threads (0 is fine) and the housekeeping thread. The registry, cfg, metrics (NULL = not
 * measured: attempts, durations, expired leases) and breaker (NULL = none: a job failing on a target that is down
 * retries as any transient failure; else queue_breaker.h pauses it) are borrowed for the pool's lifetime. NULL
 * with err on failure. */
queue_pool_t *queue_pool_start(store_db_t *db, const cfg_t *cfg, const queue_registry_t *reg, int nworkers,
                               metrics_t *metrics, queue_breaker_t *breaker, err_t *err);
/* Stop claiming, give back the jobs claimed but not started (store_unclaim: due again at once, on any node), let
 * running jobs finish for up to grace_ms, stop housekeeping, free. Jobs still running after the grace keep their
 * lease and run again once it expires. Returns the number of jobs abandoned that way. */
int queue_pool_stop(queue_pool_t *p, int64_t grace_ms);
/* True once the store refused to sync what the pool had committed (SQLite with a local queue, where commits sync
 * behind the next round): the pool starts no more jobs and has given back those it held; only a restart resumes.
 * NULL: false. Any thread. */
bool queue_pool_halted(const queue_pool_t *p);

#endif
