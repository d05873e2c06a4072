/* queue_pool: worker threads and the housekeeping thread. A worker loops claim → handler → finish on its own
 * store connection. The housekeeping thread renews the leases of jobs running here (so only a dead process loses
 * a lease), requeues jobs whose lease expired elsewhere, prunes old jobs and checkpoints the WAL. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "queue/queue.h"
#include "queue/queue_breaker.h"
#include "store/store.h"

#define CHECKPOINT_TICK_MS 200   /* frequent passive checkpoints keep the WAL (and every read through it) small */
#define HOUSEKEEPING_TICK_MS 1000
#define PRUNE_EVERY_MS 60000
#define PRUNE_BATCH 1000

/* ---- registry ---------------------------------------------------------------------------------------------- */

typedef struct reg_entry {
    char *pattern;
    bool prefix;
    queue_handler_fn fn;
    void *udata;
    void (*slot_free)(void *);
} reg_entry_t;

struct queue_registry {
    reg_entry_t *e;
    size_t n;
};

queue_registry_t *queue_registry_new(void)
{
    return calloc(1, sizeof(queue_registry_t));
}

void queue_registry_free(queue_registry_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->e[i].pattern);
    free(r->e);
    free(r);
}

int queue_registry_add(queue_registry_t *r, const char *pattern, queue_handler_fn fn, void *udata)
{
    return queue_registry_add_slot(r, pattern, fn, udata, NULL);
}

size_t queue_registry_count(const queue_registry_t *r)
{
    return r->n;
}

int queue_registry_add_slot(queue_registry_t *r, const char *pattern, queue_handler_fn fn, void *udata,
                            void (*slot_free)(void *))
{
    reg_entry_t *e = realloc(r->e, (r->n + 1) * sizeof(*e));
    if (!e)
        return -1;
    r->e = e;
    size_t len = strlen(pattern);
    bool prefix = len >= 2 && strcmp(pattern + len - 2, ".*") == 0;
    e[r->n].pattern = prefix ? strndup(pattern, len - 1) : strdup(pattern); /* keep the '.' of a prefix */
    if (!e[r->n].pattern)
        return -1;
    e[r->n].prefix = prefix;
    e[r->n].fn = fn;
    e[r->n].udata = udata;
    e[r->n].slot_free = slot_free;
    r->n++;
    return 0;
}

queue_handler_fn queue_registry_find(const queue_registry_t *r, const char *kind, void **udata, size_t *index)
{
    /* Exact registrations win over prefixes. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < r->n; i++) {
            const reg_entry_t *e = &r->e[i];
            if (e->prefix != (pass == 1))
                continue;
            if (e->prefix ? strncmp(kind, e->pattern, strlen(e->pattern)) == 0 : strcmp(kind, e->pattern) == 0) {
                *udata = e->udata;
                if (index)
                    *index = i;
                return e->fn;
            }
        }
    }
    return NULL;
}

/* ---- pool -------------------------------------------------------------------------------------------------- */

typedef struct worker {
    struct queue_pool *pool;
    pthread_t thread;
    char name[16];
    /* The job this worker runs, for lease renewal by the housekeeper (under pool->slots_mu). */
    char job_id[JOB_ID_LEN + 1];
    int64_t lease_token, lease_ms, lease_until;
    atomic_bool exited;
    void **slots;            /* one per registry entry: the handlers' per-worker state */
} worker_t;

struct queue_pool {
    store_db_t *db;
    const cfg_t *cfg;
    metrics_t *metrics;
    const queue_registry_t *reg;
    queue_breaker_t *breaker;   /* NULL = no circuit breakers */
    int nworkers;
    worker_t *workers;
    pthread_t housekeeper;
    bool housekeeper_started;
    atomic_bool stopping;
    pthread_mutex_t slots_mu;
    pthread_mutex_t hk_mu;   /* the housekeeper sleeps on hk_cv so that job wake-ups do not wake it */
    pthread_cond_t hk_cv;
};

static void log_outcome(const job_t *j, const char *worker, const char *msg, log_level_t lvl, const err_t *e,
                        const char *retry_in, const char *note)
{
    char attempt[16];
    snprintf(attempt, sizeof(attempt), "%d", j->attempts);
    log_kv(lvl, "queue", msg, "job", j->id, "kind", j->kind, "attempt", attempt, "worker", worker, "correlation",
           j->correlation_id, "class", e ? err_class_name(e->cls) : NULL, "code", e ? e->code : NULL, "error",
           e ? e->message : NULL, "record", e && e->record[0] ? e->record : NULL, "hint",
           e && e->hint[0] ? e->hint : NULL, "retry_in", retry_in, "note", note && *note ? note : NULL, NULL);
}

/* The job failed only because its target is down and that target's breaker is open: back to RETRY at run_at without
 * counting the attempt, held by the breaker until a probe gets an answer. The next job is claimed by the loop. */
static void pause_job(worker_t *w, store_t *conn, const job_t *j, const err_t *e, int64_t run_at, int64_t now)
{
    err_t serr;
    for (int tries = 0;; tries++) {
        int rc = store_pause(conn, j, run_at, e, now, &serr);
        if (rc == 1)
            return; /* the lease was lost: whoever owns the job now decides */
        if (rc == 0)
            break;
        if (tries >= 5) {
            log_kv(LOG_LVL_ERROR, "queue", "cannot record the job's pause; it runs again when its lease expires",
                   "job", j->id, "code", serr.code, "error", serr.message, NULL);
            return;
        }
        struct timespec ts = {0, 100000000L * (tries + 1)};
        nanosleep(&ts, NULL);
    }
    metrics_add(w->pool->metrics, METRIC_JOB_ATTEMPTS, (const char *[]){j->kind, "paused", err_class_name(e->cls)},
                1);
    log_kv(LOG_LVL_INFO, "queue", "job paused: its target is down (attempt not counted)", "job", j->id, "kind",
           j->kind, "worker", w->name, "correlation", j->correlation_id, "target", e->target, "code", e->code, NULL);
    if (!queue_breaker_hold(w->pool->breaker, e->target, j->id)) {
        /* a probe closed the breaker while this job was being paused: it is due now */
        const char *ids[] = {j->id};
        int n = 0;
        if (store_resume(conn, ids, 1, clock_now_ms(), &n, &serr) < 0)
            log_kv(LOG_LVL_WARN, "queue", "cannot resume a paused job; it runs when its pause ends", "job", j->id,
                   "error", serr.message, NULL);
    }
}

/* Decide the job's next state from the run's outcome and write it; unless stopping, claim the next job in the
 * same transaction and return it (NULL when nothing is due; *next_due gets the earliest future run). */
static job_t *finish_job(worker_t *w, store_t *conn, const job_t *j, int rc, queue_run_t *run, uint64_t *rng,
                         int64_t *next_due)
{
    job_t *next = NULL;
    bool want_next = !atomic_load(&w->pool->stopping);
    int64_t now = clock_now_ms();
    job_state_t to = JOB_DONE;
    int64_t run_at = 0;
    char retry_in[32] = "";
    err_t *e = rc == 0 ? NULL : &run->err;
    if (e) {
        if (e->cls == ERR_NONE) /* a handler that failed without saying why is a bug in the handler */
            err_set(e, ERR_INTERNAL, "handler.no_error", "the %s handler failed without describing the error",
                    j->kind);
        int64_t pause_until = 0;
        if (e->cls == ERR_TRANSIENT && e->target[0] && queue_breaker_failed(w->pool->breaker, e, now, &pause_until)) {
            pause_job(w, conn, j, e, pause_until, now);
            return NULL;
        }
        bool retryable = e->cls == ERR_TRANSIENT || e->cls == ERR_INTERNAL || run->retry_later;
        if (retryable && j->attempts < j->max_attempts) {
            queue_policy_t pol = queue_policy_for(w->pool->cfg, j->kind);
            int64_t d = queue_backoff_ms(&pol, j->attempts, rng);
            to = JOB_RETRY;
            run_at = now + d;
            snprintf(retry_in, sizeof(retry_in), "%lldms", (long long)d);
        } else {
            to = JOB_DEAD;
            if (retryable) {
                size_t len = strlen(e->message);
                snprintf(e->message + len, sizeof(e->message) - len, " (gave up after %d attempts)", j->attempts);
            }
        }
    }
    err_t serr;
    for (int tries = 0;; tries++) {
        int frc = store_finish_claim(conn, j, to, run_at, e, run->note, now, w->name, want_next ? &next : NULL,
                                     next_due, &serr);
        if (frc == 0)
            break;
        if (frc == 1) {
            log_kv(LOG_LVL_WARN, "queue", "lease lost before the result was recorded; the job runs again", "job",
                   j->id, "kind", j->kind, NULL);
            return next;
        }
        if (tries >= 5) {
            log_kv(LOG_LVL_ERROR, "queue", "cannot record the job's result; it runs again when its lease expires",
                   "job", j->id, "code", serr.code, "error", serr.message, NULL);
            return NULL;
        }
        struct timespec ts = {0, 100000000L * (tries + 1)};
        nanosleep(&ts, NULL);
        now = clock_now_ms();
    }
    metrics_add(w->pool->metrics, METRIC_JOB_ATTEMPTS,
                (const char *[]){j->kind, job_state_name(to), e ? err_class_name(e->cls) : "none"}, 1);
    if (to == JOB_DONE)
        log_outcome(j, w->name, "job done", LOG_LVL_INFO, NULL, NULL, run->note);
    else if (to == JOB_RETRY)
        log_outcome(j, w->name, "job failed; will retry", LOG_LVL_WARN, e, retry_in, NULL);
    else
        log_outcome(j, w->name, "job dead", LOG_LVL_ERROR, e, NULL, NULL);
    return next;
}

static int run_handler(worker_t *w, store_t *conn, const job_t *j, queue_run_t *run)
{
    void *udata = NULL;
    size_t index = 0;
    queue_handler_fn fn = queue_registry_find(w->pool->reg, j->kind, &udata, &index);
    if (!fn) {
        err_set(&run->err, ERR_CONFIGURATION, "handler.missing",
                "no handler is registered for job kind '%s' in this synchub process", j->kind);
        err_record(&run->err, "job %s (%s, key %s)", j->id, j->kind, j->ordering_key);
        err_hint(&run->err,
                 "the job is kept: enable or deploy what handles '%s' (or fix the kind it was enqueued with), then "
                 "`synchub jobs retry %s`; or `synchub jobs discard %s` if it is not wanted",
                 j->kind, j->id, j->id);
        run->err.retry_safe = true;
        return -1;
    }
    run->udata = udata;
    run->store = conn;
    run->slot = w->slots ? &w->slots[index] : NULL;
    return fn(run);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    queue_pool_t *p = w->pool;
    err_t err;
    uint64_t rng = crypto_random_u64();
    uint64_t seen = 0;
    store_t *conn = store_connect(p->db, false, 0, &err);
    if (!conn) {
        log_kv(LOG_LVL_ERROR, "queue", "worker cannot open the store", "worker", w->name, "error", err.message, NULL);
        atomic_store(&w->exited, true);
        return NULL;
    }
    job_t *j = NULL;
    int64_t next_due = 0;
    while (!atomic_load(&p->stopping) || j) {
        if (!j) {
            int64_t now = clock_now_ms();
            int rc = store_claim(conn, w->name, now, &j, &next_due, &err);
            if (rc < 0) {
                log_kv(LOG_LVL_WARN, "queue", "claim failed; waiting", "worker", w->name, "code", err.code, "error",
                       err.message, NULL);
                store_db_wait(p->db, &seen, 1000);
                continue;
            }
            if (rc == 0) {
                int64_t wait = p->cfg->poll_interval_ms;
                if (next_due > now && next_due - now < wait)
                    wait = next_due - now;
                store_db_wait(p->db, &seen, wait);
                continue;
            }
        }
        pthread_mutex_lock(&p->slots_mu);
        memcpy(w->job_id, j->id, sizeof(w->job_id));
        w->lease_token = j->lease_token;
        w->lease_ms = j->lease_ms;
        w->lease_until = j->lease_until;
        pthread_mutex_unlock(&p->slots_mu);

        queue_run_t run;
        memset(&run, 0, sizeof(run));
        run.job = j;
        run.worker = w->name;
        /* every line the handler (odoo/, shopify/, flows/, httpc) logs on this thread names the job */
        log_ctx_set(j->id, j->kind, j->attempts, j->correlation_id);
        double t0 = metrics_mono_s();
        int rc = run_handler(w, conn, j, &run);
        metrics_observe(p->metrics, METRIC_JOB_DURATION, (const char *[]){j->kind}, metrics_mono_s() - t0);
        next_due = 0;
        job_t *next = finish_job(w, conn, j, rc, &run, &rng, &next_due);
        log_ctx_clear();

        pthread_mutex_lock(&p->slots_mu);
        w->job_id[0] = '\0';
        pthread_mutex_unlock(&p->slots_mu);
        job_free(j);
        j = next;
    }
    for (size_t i = 0; w->slots && i < queue_registry_count(p->reg); i++)
        if (w->slots[i] && p->reg->e[i].slot_free)
            p->reg->e[i].slot_free(w->slots[i]);
    free(w->slots);
    store_disconnect(conn);
    atomic_store(&w->exited, true);
    return NULL;
}

/* Renew leases that are past half their length, for jobs running in this process. */
static void renew_leases(queue_pool_t *p, store_t *conn, int64_t now)
{
    for (int i = 0; i < p->nworkers; i++) {
        worker_t *w = &p->workers[i];
        char id[JOB_ID_LEN + 1];
        int64_t token, until, lease;
        pthread_mutex_lock(&p->slots_mu);
        memcpy(id, w->job_id, sizeof(id));
        token = w->lease_token;
        until = w->lease_until;
        lease = w->lease_ms;
        pthread_mutex_unlock(&p->slots_mu);
        if (!id[0] || until - now > lease / 2)
            continue;
        err_t err;
        int rc = store_renew_lease(conn, id, token, now + lease, &err);
        if (rc == 0) {
            pthread_mutex_lock(&p->slots_mu);
            if (strcmp(w->job_id, id) == 0 && w->lease_token == token)
                w->lease_until = now + lease;
            pthread_mutex_unlock(&p->slots_mu);
        } else if (rc < 0) {
            log_kv(LOG_LVL_WARN, "queue", "lease renewal failed", "job", id, "error", err.message, NULL);
        }
    }
}

static void *housekeeper_main(void *arg)
{
    queue_pool_t *p = arg;
    err_t err;
    store_t *conn = store_connect(p->db, false, 0, &err);
    if (!conn) {
        log_kv(LOG_LVL_ERROR, "queue", "housekeeping cannot open the store", "error", err.message, NULL);
        return NULL;
    }
    int64_t last_prune = 0, last_tick = 0;
    while (!atomic_load(&p->stopping)) {
        int64_t now = clock_now_ms();
        if (now - last_tick >= HOUSEKEEPING_TICK_MS) {
            last_tick = now;
            renew_leases(p, conn, now);
            int n = 0;
            if (store_reap_expired(conn, now, &n, &err) < 0)
                log_kv(LOG_LVL_WARN, "queue", "lease expiry check failed", "error", err.message, NULL);
            else if (n > 0) {
                metrics_add(p->metrics, METRIC_JOB_LEASES_EXPIRED, NULL, n);
                char nbuf[16];
                snprintf(nbuf, sizeof(nbuf), "%d", n);
                log_kv(LOG_LVL_WARN, "queue", "requeued jobs whose worker vanished (lease expired)", "count", nbuf,
                       NULL);
            }
        }
        if (now - last_prune >= PRUNE_EVERY_MS) {
            last_prune = now;
            int total = 0, n = 0;
            do {
                if (store_prune(conn, now - p->cfg->retention_ms, PRUNE_BATCH, &n, &err) < 0) {
                    log_kv(LOG_LVL_WARN, "queue", "prune failed", "error", err.message, NULL);
                    break;
                }
                total += n;
            } while (n == PRUNE_BATCH && !atomic_load(&p->stopping));
            if (total > 0) {
                char nbuf[16];
                snprintf(nbuf, sizeof(nbuf), "%d", total);
                log_kv(LOG_LVL_INFO, "queue", "pruned finished jobs past retention", "count", nbuf, NULL);
            }
            /* Effects live as long as the jobs that explain them: the trace of an order shows both or neither. */
            total = 0;
            do {
                if (store_effects_prune(conn, now - p->cfg->retention_ms, PRUNE_BATCH, &n, &err) < 0) {
                    log_kv(LOG_LVL_WARN, "queue", "effect prune failed", "error", err.message, NULL);
                    break;
                }
                total += n;
            } while (n == PRUNE_BATCH && !atomic_load(&p->stopping));
            if (total > 0) {
                char nbuf[16];
                snprintf(nbuf, sizeof(nbuf), "%d", total);
                log_kv(LOG_LVL_INFO, "queue", "pruned effects past retention", "count", nbuf, NULL);
            }
        }
        if (store_checkpoint(conn, &err) < 0)
            log_kv(LOG_LVL_WARN, "store", "checkpoint failed", "error", err.message, NULL);
        struct timespec ts;
        clock_deadline(CHECKPOINT_TICK_MS, &ts);
        pthread_mutex_lock(&p->hk_mu);
        if (!atomic_load(&p->stopping))
            pthread_cond_timedwait(&p->hk_cv, &p->hk_mu, &ts);
        pthread_mutex_unlock(&p->hk_mu);
    }
    store_disconnect(conn);
    return NULL;
}

queue_pool_t *queue_pool_start(store_db_t *db, const cfg_t *cfg, const queue_registry_t *reg, int nworkers,
                               metrics_t *metrics, queue_breaker_t *breaker, err_t *err)
{
    queue_pool_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->workers = calloc((size_t)(nworkers > 0 ? nworkers : 1), sizeof(worker_t)))) {
        free(p);
        err_set(err, ERR_INTERNAL, "queue.oom", "out of memory");
        return NULL;
    }
    p->db = db;
    p->cfg = cfg;
    p->metrics = metrics;
    metrics_add(metrics, METRIC_JOB_LEASES_EXPIRED, NULL, 0); /* the series exists from the start, at 0 */
    p->reg = reg;
    p->breaker = breaker;
    pthread_mutex_init(&p->slots_mu, NULL);
    pthread_mutex_init(&p->hk_mu, NULL);
    pthread_cond_init(&p->hk_cv, NULL);
    atomic_init(&p->stopping, false);
    for (int i = 0; i < nworkers; i++) {
        worker_t *w = &p->workers[i];
        w->pool = p;
        atomic_init(&w->exited, false);
        w->slots = calloc(queue_registry_count(reg) + 1, sizeof(void *));
        snprintf(w->name, sizeof(w->name), "w%d", i + 1);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            err_set(err, ERR_INTERNAL, "queue.thread", "cannot start worker thread %d", i + 1);
            queue_pool_stop(p, 0);
            return NULL;
        }
        p->nworkers = i + 1;
    }
    if (pthread_create(&p->housekeeper, NULL, housekeeper_main, p) != 0) {
        err_set(err, ERR_INTERNAL, "queue.thread", "cannot start the housekeeping thread");
        queue_pool_stop(p, 0);
        return NULL;
    }
    p->housekeeper_started = true;
    return p;
}

int queue_pool_stop(queue_pool_t *p, int64_t grace_ms)
{
    if (!p)
        return 0;
    atomic_store(&p->stopping, true);
    store_db_notify(p->db, -1);
    pthread_mutex_lock(&p->hk_mu);
    pthread_cond_signal(&p->hk_cv);
    pthread_mutex_unlock(&p->hk_mu);
    int abandoned = 0;
    struct timespec deadline;
    clock_deadline(grace_ms, &deadline);
    for (int i = 0; i < p->nworkers; i++) {
        if (pthread_timedjoin_np(p->workers[i].thread, NULL, &deadline) != 0) {
            /* Still inside a handler: leave it; its lease makes the job run again elsewhere/later. */
            pthread_detach(p->workers[i].thread);
            abandoned++;
        }
    }
    if (p->housekeeper_started)
        pthread_join(p->housekeeper, NULL);
    if (abandoned) {
        char nbuf[16];
        snprintf(nbuf, sizeof(nbuf), "%d", abandoned);
        log_kv(LOG_LVL_WARN, "queue", "shutdown grace over; jobs still running run again after their lease", "count",
               nbuf, NULL);
        return abandoned; /* the pool is leaked on purpose: detached workers still use it until exit */
    }
    pthread_mutex_destroy(&p->slots_mu);
    pthread_mutex_destroy(&p->hk_mu);
    pthread_cond_destroy(&p->hk_cv);
    free(p->workers);
    free(p);
    return 0;
}
