/* queue_breaker: one circuit breaker per remote system synchub writes to (an Odoo database, a Shopify shop), kept
 * per node in memory. Outage failures (err_t.target set: refused, timed out, reset, 502/503/504) open a target's
 * breaker once `failures` of them come within `window`; while it is open, a job failing on that target is paused
 * (its attempt is not counted: store_pause) instead of retried, and one probe request asks the target at a growing
 * interval (probe_min doubling to probe_max, ±20 % jitter). The first probe that gets an answer closes the breaker
 * and makes every job this node paused due at once (store_resume). Not here: which errors are outages (the
 * clients set err_t.target), the probe request itself (the caller registers it), or the retry policy. */
#ifndef SYNCHUB_QUEUE_BREAKER_H
#define SYNCHUB_QUEUE_BREAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "obs/metrics.h"
#include "store/store.h"

typedef struct queue_breaker_cfg {
    int failures;            /* outage failures within window that open a breaker; 0 = breakers off */
    int64_t window_ms;
    int64_t probe_min_ms, probe_max_ms;
    int64_t hold_ms;         /* a paused job's run_at is now + hold_ms: the bound on its wait if this node dies */
} queue_breaker_cfg_t;

typedef enum { BREAKER_CLOSED = 0, BREAKER_OPEN, BREAKER_PROBING } queue_breaker_state_t;

/* One probe of a target: 0 when it answered, else -1 with err. Runs on the breaker's probe thread. */
typedef int (*queue_probe_fn)(void *ud, err_t *err);

typedef struct queue_breaker queue_breaker_t;

queue_breaker_t *queue_breaker_new(const queue_breaker_cfg_t *cfg);
void queue_breaker_free(queue_breaker_t *b);   /* after queue_breaker_stop */
/* Register a target (err_t.target's spelling) with its probe. Only registered targets open: a breaker nobody can
 * probe would never close. Start-up only (before queue_pool_start). 0 or -1. */
int queue_breaker_add(queue_breaker_t *b, const char *target, queue_probe_fn probe, void *ud);

/* ---- the state machine (any thread; times are the caller's, ms since the epoch) ------------------------------ */

/* A job failed at now with err why whose target is set. true: pause the job (the breaker is open or this failure
 * opened it): *run_at gets now + hold. false: retry it as usual (closed, or target not registered). */
bool queue_breaker_failed(queue_breaker_t *b, const err_t *why, int64_t now, int64_t *run_at);
/* Remember a job paused on target (store_pause succeeded), to resume it when the target answers again. false when
 * the breaker closed in between (a probe succeeded while the job was being paused): resume it now yourself. */
bool queue_breaker_hold(queue_breaker_t *b, const char *target, const char *job_id);
/* The next open target whose probe is due at now: 1 with its name in target (n bytes), the breaker now PROBING;
 * 0 when none is, with *next_ms the time of the earliest future probe (0 when no breaker is open). */
int queue_breaker_probe_due(queue_breaker_t *b, int64_t now, char *target, size_t n, int64_t *next_ms);
/* The probe of target ended: ok closes the breaker and hands over the held job ids (*ids: n_ids × (JOB_ID_LEN+1)
 * bytes, free(); NULL when none); otherwise it stays open and the next probe comes after a doubled interval. */
void queue_breaker_probed(queue_breaker_t *b, const char *target, bool ok, const err_t *why, int64_t now,
                          char **ids, size_t *n_ids);

/* What an operator sees of one target. */
typedef struct queue_breaker_view {
    char target[128];
    char system[16];          /* "odoo", "shopify": the target's prefix */
    queue_breaker_state_t state;
    int64_t since;            /* when it opened (open/probing), or last closed (0: never opened) */
    int64_t next_probe;       /* open: when the next probe goes out */
    int64_t interval_ms;      /* open: the current probe interval */
    uint64_t probes, probe_failures, opened;   /* since start */
    size_t paused;            /* jobs held paused on it */
    char last_error[200];     /* open: the failure that opened it, then the last probe's */
} queue_breaker_view_t;
/* Copy up to max targets' views into out; returns how many targets there are. NULL b: 0. */
size_t queue_breaker_views(queue_breaker_t *b, queue_breaker_view_t *out, size_t max);
const char *queue_breaker_state_name(queue_breaker_state_t st);   /* "closed", "open", "probing" */

/* ---- the probe thread ------------------------------------------------------------------------------------------ */

/* Start the thread that probes open targets and resumes their paused jobs on db; it also publishes each target's
 * state in the store's meta (store_cursor_put "breaker:<target>", read by `synchub status`) and counts probes in
 * metrics (NULL = not measured). 0 or -1 with err. Stop it before freeing. */
int queue_breaker_start(queue_breaker_t *b, store_db_t *db, metrics_t *metrics, err_t *err);
void queue_breaker_stop(queue_breaker_t *b);

/* The value published under "breaker:<target>": "<state> <since ms> <paused jobs> <probes>", parsed back by
 * queue_breaker_parse (0, or -1 when text is not one). */
void queue_breaker_format(const queue_breaker_view_t *v, char *out, size_t n);
int queue_breaker_parse(const char *text, queue_breaker_view_t *v);
/* Read back what the nodes published (any process on the store: the CLI, the dashboard): up to max targets into
 * out (target, system, state, since, paused, probes; nothing else), *n how many. 0 or -1. */
int queue_breaker_load(store_t *s, queue_breaker_view_t *out, size_t max, size_t *n, err_t *err);

#endif
