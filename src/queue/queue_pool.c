/* queue_pool: worker threads, their dispatcher and the housekeeping thread. The dispatcher claims jobs in batches
 * and records outcomes by group commit (store_finish_batch); a worker only runs handlers. The housekeeping thread
 * renews the leases of jobs this pool holds (so only a dead process loses a lease), requeues jobs whose lease
 * expired elsewhere, prunes old jobs and checkpoints the WAL. Not here: SQL (store/) or what a kind does. */
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

/* ---- pool ----------------------------------------------------------------------------------------------------
 * Workers do not touch job state. A dispatcher thread owns it (several on PostgreSQL, each for its own share of
 * the slots: lane_t below): in ONE durable transaction it records
 * the outcomes the workers reported since its last commit and claims a job for every worker that will be free
 * (store_finish_batch), then hands the new jobs to the workers. A job therefore counts as done only once its
 * outcome is on disk, and a busy pool pays one commit (one fsync) per round for all its workers instead of one per
 * job. Claims take heads only, and a key's next job becomes its head only in the commit that finishes the current
 * one, so one key still runs one job at a time, oldest event first. By default a worker starts its next job only
 * once its last outcome is committed, so a crash re-runs at most one job per worker, as when each worker committed
 * its own, and the pool holds at most one job per worker. With [server] local_queue = N the pool holds up to N jobs
 * more than it has workers and a worker goes on to the next one as soon as it has handed in its outcome: the
 * commit of one group then overlaps the running of the next, and a round is no longer one job per worker (for
 * queues of many short jobs; a crash may then re-run every job whose outcome was not yet committed; on SQLite the
 * dispatcher then leaves the fsync of each commit to its syncer thread, which reports the outcomes after it). The
 * housekeeper renews the leases of every job the pool holds, wherever it waits. On stop a worker finishes only the
 * job it runs; the dispatcher gives the held jobs no worker started back to the store in one commit
 * (store_unclaim), commits the outcomes still due, then exits. */

#define POOL_COMMIT_TRIES 5
/* Dispatchers of a PostgreSQL pool with a local queue, unless [server] dispatchers says otherwise. One
 * dispatcher's rounds are one server backend's work, at most one CPU: on a 2-core machine with the server local,
 * bench_queue (16 workers, local_queue 500) drained 11.5k jobs/s with one and 18.3k-21.1k with two (20,000 jobs),
 * 11.3k and 19.7k (100,000 jobs). Without a local queue a round is the outcomes of workers waiting for it, and two
 * dispatchers split them into rounds half as large: 4.4k jobs/s with one, 3.6k with two (issue 18). */
#define POOL_PG_LANES 2
/* Before a commit, wait this long at most for the outcomes of jobs still running: fast jobs then finish in the
 * same commit instead of each waiting for the next one (their workers wait for the commit before going on). */
#define POOL_GATHER_NS 500000L

typedef struct slot {
    job_t *job;              /* NULL: free */
    int lane;                /* the dispatcher that claims into this slot and commits its outcome */
    uint64_t seq;            /* +1 each time the slot is freed: its outcome committed (or given up) */
    int64_t lease_until;     /* under mu; renewed by the housekeeper */
    /* the outcome, filled by the worker that ran it */
    job_state_t to;
    int64_t run_at;
    bool failed;
    int64_t pause_until;     /* > 0: not an outcome; the target's breaker is open, the worker paused the job */
    const char *worker;
    char retry_in[32];
    queue_run_t run;         /* err and note of the run */
    int result;              /* store_finish_batch's for the outcome, until it is reported (settle) */
} slot_t;

/* A dispatcher and the slots it owns: it claims jobs into them only, and commits their outcomes. Its lists hold
 * slot indices: the ready ring (claimed, not started) and the done list (outcomes not yet committed). */
typedef struct lane {
    struct queue_pool *pool;
    pthread_t thread;
    int n;                   /* 1-based, for its thread's name */
    int first, cap;          /* its slots: slot[first .. first + cap) */
    int room;                /* how many jobs it holds at most, outcomes waiting for their sync not counted */
    int pending;             /* outcomes committed and waiting for their sync (their slots still held) */
    int held;                /* how many of them hold a job */
    int *ready, ready_head, ready_n;
    int *done, ndone;
    bool idle;               /* waiting in store_db_wait: a worker's outcome must wake it */
    /* With a local queue on SQLite its commits do not wait for the disk (store_defer_sync): its syncer thread
     * syncs after them and only then reports their outcomes, frees their slots and hands their claims to the
     * workers (settle). */
    store_t *conn;           /* the dispatcher's connection; the syncer only calls store_sync on it */
    pthread_t syncer;
    bool syncing;            /* the syncer runs */
    bool sync_stop;          /* the dispatcher exits: settle what is left, then stop */
    int *unsynced, nunsynced;    /* outcomes committed, not yet synced */
    int *unready, nunready;      /* jobs claimed by those commits: in their slots, not in the ready ring yet */
    int *settling, *readying;    /* the syncer's copies of both */
    bool in_settle;              /* the syncer holds such copies */
} lane_t;

typedef struct worker {
    struct queue_pool *pool;
    pthread_t thread;
    int next_lane;           /* where it looks for a ready job first: lanes take turns */
    char name[16];
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
    bool run_ahead;          /* [server] local_queue > 0: workers do not wait for their outcome's commit */
    worker_t *workers;
    lane_t *lane;            /* [server] dispatchers of them, each committing on its own connection */
    int nlanes, lanes_started;
    pthread_t housekeeper;
    bool housekeeper_started;
    atomic_bool stopping;
    /* A deferred sync failed (settle): the pool starts no more jobs and gives back those it holds, until synchub
     * is restarted. Its dispatchers still commit the outcomes of jobs already running. */
    atomic_bool halted;
    /* the jobs this pool holds, and the lanes' lists (under mu) */
    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* workers wait here for ready jobs and for their outcome's commit */
    pthread_cond_t done_cv;  /* dispatchers gather outcomes here before a commit */
    pthread_cond_t sync_cv;  /* syncers wait here for commits to sync */
    slot_t *slot;
    int cap;                 /* slots, all lanes' */
    int ready_n;             /* ready jobs, all lanes' */
    bool workers_gone;       /* queue_pool_stop joined (or gave up on) the workers: flush and exit */
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

/* Decide the job's next state from the run's outcome (worker thread): done; retry with backoff while attempts
 * remain for a transient or internal failure (or one the handler expects to clear); otherwise dead. */
static void decide(worker_t *w, slot_t *sl, int rc, uint64_t *rng)
{
    const job_t *j = sl->job;
    queue_run_t *run = &sl->run;
    sl->to = JOB_DONE;
    sl->run_at = 0;
    sl->pause_until = 0;
    sl->failed = rc != 0;
    sl->retry_in[0] = '\0';
    if (rc == 0)
        return;
    err_t *e = &run->err;
    if (e->cls == ERR_NONE) /* a handler that failed without saying why is a bug in the handler */
        err_set(e, ERR_INTERNAL, "handler.no_error", "the %s handler failed without describing the error", j->kind);
    if (e->cls == ERR_TRANSIENT && e->target[0] &&
        queue_breaker_failed(w->pool->breaker, e, clock_now_ms(), &sl->pause_until))
        return;
    bool retryable = e->cls == ERR_TRANSIENT || e->cls == ERR_INTERNAL || run->retry_later;
    if (retryable && j->attempts < j->max_attempts) {
        queue_policy_t pol = queue_policy_for(w->pool->cfg, j->kind);
        int64_t d = queue_backoff_ms(&pol, j->attempts, rng);
        sl->to = JOB_RETRY;
        sl->run_at = clock_now_ms() + d;
        snprintf(sl->retry_in, sizeof(sl->retry_in), "%lldms", (long long)d);
    } else {
        sl->to = JOB_DEAD;
        if (retryable) {
            size_t len = strlen(e->message);
            snprintf(e->message + len, sizeof(e->message) - len, " (gave up after %d attempts)", j->attempts);
        }
    }
}

/* The job failed only because its target is down and that target's breaker is open: back to RETRY at run_at without
 * counting the attempt, held by the breaker until a probe gets an answer (worker thread, its own connection: the
 * pause is not an outcome and needs no group commit). */
static void pause_job(worker_t *w, store_t *conn, const job_t *j, const err_t *e, int64_t run_at)
{
    err_t serr;
    int64_t now = clock_now_ms();
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
        now = clock_now_ms();
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

/* After the commit that recorded it (dispatcher thread): metrics and the log line of one outcome. */
static void report(queue_pool_t *p, const slot_t *sl, int result)
{
    const job_t *j = sl->job;
    const err_t *e = sl->failed ? &sl->run.err : NULL;
    if (result == 1) {
        log_kv(LOG_LVL_WARN, "queue", "lease lost before the result was recorded; the job runs again", "job", j->id,
               "kind", j->kind, NULL);
        return;
    }
    metrics_add(p->metrics, METRIC_JOB_ATTEMPTS,
                (const char *[]){j->kind, job_state_name(sl->to), e ? err_class_name(e->cls) : "none"}, 1);
    if (sl->to == JOB_DONE)
        log_outcome(j, sl->worker, "job done", LOG_LVL_INFO, NULL, NULL, sl->run.note);
    else if (sl->to == JOB_RETRY)
        log_outcome(j, sl->worker, "job failed; will retry", LOG_LVL_WARN, e, sl->retry_in, NULL);
    else
        log_outcome(j, sl->worker, "job dead", LOG_LVL_ERROR, e, NULL, NULL);
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

/* Workers run what the dispatcher claimed, and hand the outcome back; on stop, or once the pool is halted, a worker
 * finishes the job it is running and takes no other: the dispatcher gives the ready ones back to the store
 * (give_back_unstarted). */
static void *worker_main(void *arg)
{
    worker_t *w = arg;
    queue_pool_t *p = w->pool;
    err_t err;
    uint64_t rng = crypto_random_u64();
    char tname[16];
    snprintf(tname, sizeof(tname), "q-%.10s", w->name);
    pthread_setname_np(pthread_self(), tname);
    store_t *conn = store_connect(p->db, false, 0, &err);
    if (!conn) {
        log_kv(LOG_LVL_ERROR, "queue", "worker cannot open the store", "worker", w->name, "error", err.message, NULL);
        atomic_store(&w->exited, true);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while ((p->ready_n == 0 || atomic_load(&p->halted)) && !atomic_load(&p->stopping))
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (atomic_load(&p->stopping)) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        lane_t *ln = &p->lane[w->next_lane];
        for (int k = 1; ln->ready_n == 0 && k < p->nlanes; k++)
            ln = &p->lane[(w->next_lane + k) % p->nlanes];
        w->next_lane = (int)(ln - p->lane + 1) % p->nlanes;
        int idx = ln->ready[ln->ready_head];
        ln->ready_head = (ln->ready_head + 1) % ln->cap;
        ln->ready_n--;
        p->ready_n--;
        slot_t *sl = &p->slot[idx];
        pthread_mutex_unlock(&p->mu);

        const job_t *j = sl->job;
        queue_run_t *run = &sl->run;
        memset(run, 0, sizeof(*run));
        run->job = j;
        run->worker = w->name;
        /* every line the handler (odoo/, shopify/, flows/, httpc) logs on this thread names the job */
        log_ctx_set(j->id, j->kind, j->attempts, j->correlation_id);
        double t0 = metrics_mono_s();
        int rc = run_handler(w, conn, j, run);
        metrics_observe(p->metrics, METRIC_JOB_DURATION, (const char *[]){j->kind}, metrics_mono_s() - t0);
        decide(w, sl, rc, &rng);
        sl->worker = w->name;
        if (sl->pause_until > 0) {
            pause_job(w, conn, j, &run->err, sl->pause_until);
            log_ctx_clear();
            pthread_mutex_lock(&p->mu);   /* the slot is free: the dispatcher may claim a job for this worker */
            job_free(sl->job);
            sl->job = NULL;
            sl->seq++;
            ln->held--;
            bool idle = ln->idle;
            ln->idle = false;
            pthread_mutex_unlock(&p->mu);
            if (idle)
                store_db_notify(p->db, -1);
            continue;
        }
        log_ctx_clear();

        pthread_mutex_lock(&p->mu);
        ln->done[ln->ndone++] = idx;
        bool wake = ln->idle;
        ln->idle = false;
        pthread_cond_broadcast(&p->done_cv);   /* the lane gathering this outcome is one of those waiting */
        uint64_t seq = sl->seq;
        pthread_mutex_unlock(&p->mu);
        if (wake)
            store_db_notify(p->db, -1);
        if (p->run_ahead)
            continue;   /* the slot stays held until the dispatcher has committed the outcome */
        /* No next handler before this outcome is on disk: a crash then re-runs at most one job per worker (the
         * one it was running), as when each worker committed its own. */
        pthread_mutex_lock(&p->mu);
        while (sl->seq == seq)
            pthread_cond_wait(&p->work_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    for (size_t i = 0; w->slots && i < queue_registry_count(p->reg); i++)
        if (w->slots[i] && p->reg->e[i].slot_free)
            p->reg->e[i].slot_free(w->slots[i]);
    free(w->slots);
    store_disconnect(conn);
    atomic_store(&w->exited, true);
    return NULL;
}

/* Free the slots of n committed (or abandoned) outcomes. Under mu. */
static void release_slots(queue_pool_t *p, const int *idx, int n)
{
    for (int i = 0; i < n; i++) {
        slot_t *sl = &p->slot[idx[i]];
        job_free(sl->job);
        sl->job = NULL;
        sl->seq++;
        p->lane[sl->lane].held--;
    }
}

/* On stop, or once halted (dispatcher thread): the n jobs at idx were claimed but no worker started them, and none
 * will. Give them back in one commit (store_unclaim: queued again, the attempt uncounted, still their key's head),
 * so that another node, or this one after its restart, takes them at once rather than after their lease; jobs is
 * room for n. If the store refuses, their leases expire as they would have before, and a line says how many. */
static void give_back_unstarted(queue_pool_t *p, store_t *conn, const int *idx, int n, const job_t **jobs,
                                bool halted)
{
    err_t err;
    for (int i = 0; i < n; i++)
        jobs[i] = p->slot[idx[i]].job;   /* the slots are the dispatcher's now: no worker takes them on stop */
    char nbuf[16], gbuf[16];
    snprintf(nbuf, sizeof(nbuf), "%d", n);
    int given = 0;
    for (int tries = 1;; tries++) {
        if (store_unclaim(conn, jobs, (size_t)n, clock_now_ms(), &given, &err) == 0) {
            snprintf(gbuf, sizeof(gbuf), "%d", given);
            log_kv(LOG_LVL_INFO, "queue",
                   halted ? "halted: gave back the jobs claimed but not started"
                          : "stopping: gave back the jobs claimed but not started",
                   "count", gbuf, "held", nbuf, NULL);
            break;
        }
        if (tries >= POOL_COMMIT_TRIES) {
            log_kv(LOG_LVL_ERROR, "queue",
                   halted ? "halted: cannot give back the jobs claimed but not started; they run when their lease "
                            "expires"
                          : "stopping: cannot give back the jobs claimed but not started; they run when their lease "
                            "expires",
                   "count", nbuf, "code", err.code, "error", err.message, NULL);
            break;
        }
        struct timespec ts = {0, 100000000L * tries};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&p->mu);
    release_slots(p, idx, n);
    pthread_mutex_unlock(&p->mu);
}

/* Move the outcomes ln's workers reported into its batch. Under mu. */
static void take_outcomes(lane_t *ln, int *batch, int *nbatch)
{
    for (int i = 0; i < ln->ndone && *nbatch < ln->cap; i++)
        batch[(*nbatch)++] = ln->done[i];
    ln->ndone = 0;
}

/* Put the jobs in slots claims[0..m) in ln's ready ring and wake the workers. Under mu. */
static void make_ready(lane_t *ln, const int *claims, int m)
{
    queue_pool_t *p = ln->pool;
    for (int k = 0; k < m; k++) {
        ln->ready[(ln->ready_head + ln->ready_n) % ln->cap] = claims[k];
        ln->ready_n++;
        p->ready_n++;
    }
    if (m > 1)
        pthread_cond_broadcast(&p->work_cv);
    else if (m == 1)
        pthread_cond_signal(&p->work_cv);
}

/* After a commit of n outcomes (at idx, results in their slots): sync it if the connection defers its syncs, then
 * report the outcomes (a job counts as done only once its outcome is on disk). A failed sync halts the pool (see
 * below). Not under mu. */
static void sync_and_report(lane_t *ln, const int *idx, int n, int claims)
{
    queue_pool_t *p = ln->pool;
    err_t err;
    if (store_sync(ln->conn, &err) == 0) {
        for (int i = 0; i < n; i++)
            report(p, &p->slot[idx[i]], p->slot[idx[i]].result);
        return;
    }
    /* A refused sync may be reported once: a later one that succeeds does not bring back what this one lost, and
     * the rounds committed after it stand on it in the log. So nothing more is started on this store's word (a
     * claim whose commit may be lost could run a key's next job before the end of the one before it is on disk)
     * until synchub is restarted and SQLite reads back what the log holds; /readyz says so meanwhile. */
    char nbuf[16], cbuf[16];
    snprintf(nbuf, sizeof(nbuf), "%d", n);
    snprintf(cbuf, sizeof(cbuf), "%d", claims);
    bool first = !atomic_exchange(&p->halted, true);
    if (first)
        metrics_set(p->metrics, METRIC_POOL_HALTED, NULL, 1);
    log_kv(LOG_LVL_ERROR, "queue",
           first ? "cannot sync the store's log: this node starts no more jobs until synchub is restarted"
                 : "cannot sync the store's log; results not counted as done",
           "results", nbuf, "claims", cbuf, "code", err.code, "error", err.message, "hint",
           "check the disk and the file system of the store (dmesg), then restart synchub; jobs whose results were "
           "not synced run again",
           NULL);
}

/* The syncer's part of a round (or of all rounds committed since its last sync): n outcomes at idx and m claims
 * (their slots). Sync, report the outcomes, free their slots, and hand the claimed jobs to the workers. A claim
 * runs only once its commit is on disk: a key's next job may be among them, and it must not run before the end of
 * the job before it is (after a crash that one would run again after it). */
static void settle(lane_t *ln, const int *idx, int n, const int *claims, int m)
{
    queue_pool_t *p = ln->pool;
    sync_and_report(ln, idx, n, m);
    pthread_mutex_lock(&p->mu);
    release_slots(p, idx, n);
    ln->pending -= n;
    make_ready(ln, claims, m);   /* halted: no worker takes them, the dispatcher gives them back */
    ln->in_settle = false;
    bool wake = ln->idle;   /* it may claim into these slots now, or give back the jobs now ready */
    ln->idle = false;
    pthread_mutex_unlock(&p->mu);
    if (wake)
        store_db_notify(p->db, -1);
}

static void *syncer_main(void *arg)
{
    lane_t *ln = arg;
    queue_pool_t *p = ln->pool;
    char tname[16];
    snprintf(tname, sizeof(tname), ln->n > 1 ? "q-sync%d" : "q-sync", ln->n);
    pthread_setname_np(pthread_self(), tname);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (ln->nunsynced == 0 && ln->nunready == 0 && !ln->sync_stop)
            pthread_cond_wait(&p->sync_cv, &p->mu);
        int n = ln->nunsynced, m = ln->nunready;
        if (n == 0 && m == 0)
            break;
        /* every commit up to now in one sync */
        memcpy(ln->settling, ln->unsynced, (size_t)n * sizeof(int));
        memcpy(ln->readying, ln->unready, (size_t)m * sizeof(int));
        ln->nunsynced = ln->nunready = 0;
        ln->in_settle = true;
        pthread_mutex_unlock(&p->mu);
        settle(ln, ln->settling, n, ln->readying, m);   /* clears in_settle */
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void *dispatcher_main(void *arg)
{
    lane_t *ln = arg;
    queue_pool_t *p = ln->pool;
    err_t err;
    char tname[16];
    snprintf(tname, sizeof(tname), ln->n > 1 ? "q-dispatch%d" : "q-dispatch", ln->n);
    pthread_setname_np(pthread_self(), tname);
    store_t *conn = store_connect(p->db, true, 0, &err);
    if (!conn) {
        log_kv(LOG_LVL_ERROR, "queue", "the dispatcher cannot open the store; no job runs", "error", err.message,
               NULL);
        return NULL;
    }
    int *batch = calloc((size_t)ln->cap, sizeof(*batch));
    int *unstarted = calloc((size_t)p->cap, sizeof(*unstarted));   /* every lane's, on stop */
    store_outcome_t *outs = calloc((size_t)ln->cap, sizeof(*outs));
    job_t **claimed = calloc((size_t)p->cap, sizeof(*claimed));     /* and room for their jobs */
    if (!batch || !unstarted || !outs || !claimed) {
        log_kv(LOG_LVL_ERROR, "queue", "the dispatcher is out of memory; no job runs", NULL);
        goto out;
    }
    ln->conn = conn;
    /* Workers that do not wait for the commit (a local queue) let the next round start while this one syncs. On
     * SQLite the fsync of a round of a few hundred outcomes was 10-25 % of the dispatcher's time; with the syncer
     * bench_queue (16 workers, local_queue 500) drained 20,000 jobs at 68.4k jobs/s instead of 63.9k, and 100,000
     * at 45.1k instead of 39.1k (means of five alternating pairs, issue 18). If the syncer cannot start, settle
     * syncs in this thread. */
    if (p->run_ahead && store_defer_sync(conn) == 1)
        ln->syncing = pthread_create(&ln->syncer, NULL, syncer_main, ln) == 0;
    uint64_t seen = 0;
    int nbatch = 0, tries = 0;
    bool maybe_due = true;   /* false after a claim found fewer heads than it wanted, until a wake-up */
    int64_t next_due = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        /* outcomes reported since the last commit join those of a commit that failed */
        take_outcomes(ln, batch, &nbatch);
        if (nbatch > 0 && tries == 0 && !p->run_ahead) {
            /* jobs handed out and not reported yet are running now: give them a moment to join this commit (with
             * a local queue nobody waits for it: outcomes reported meanwhile join the next commit) */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += POOL_GATHER_NS;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            while (ln->held - ln->ready_n - nbatch - ln->ndone > 0 &&
                   pthread_cond_timedwait(&p->done_cv, &p->mu, &until) == 0)
                ;
            take_outcomes(ln, batch, &nbatch);
        }
        bool stopping = atomic_load(&p->stopping), halted = atomic_load(&p->halted);
        if ((stopping || halted) && p->ready_n > 0) {
            /* workers see stopping (and halted) under mu too: from here none takes a ready job. The first lane to
             * see it gives back every lane's, in one commit (and one log line with the count). */
            int nun = 0;
            for (int k = 0; k < p->nlanes; k++) {
                lane_t *o = &p->lane[k];
                for (; o->ready_n > 0; o->ready_n--, o->ready_head = (o->ready_head + 1) % o->cap)
                    unstarted[nun++] = o->ready[o->ready_head];
            }
            p->ready_n = 0;
            pthread_mutex_unlock(&p->mu);
            give_back_unstarted(p, conn, unstarted, nun, (const job_t **)claimed, halted && !stopping);
            continue;   /* outcomes gathered so far are committed next */
        }
        int room = stopping || halted ? 0 : ln->room;
        int held_after = ln->held - ln->pending - nbatch;
        int want = maybe_due && room > held_after ? room - held_after : 0;
        int free_slots = ln->cap - ln->held + (ln->syncing ? 0 : nbatch);   /* the syncer frees this batch's later */
        if (want > free_slots)
            want = free_slots;
        if (nbatch == 0 && want == 0) {
            /* claims still waiting for their sync become ready jobs, which a stopping pool gives back: wait */
            bool settled = ln->nunsynced == 0 && ln->nunready == 0 && !ln->in_settle;
            if (stopping && p->workers_gone && settled) {
                pthread_mutex_unlock(&p->mu);
                break;
            }
            ln->idle = true;
            pthread_mutex_unlock(&p->mu);
            int64_t now = clock_now_ms(), wait = p->cfg->poll_interval_ms;
            if (next_due > now && next_due - now < wait)
                wait = next_due - now;
            store_db_wait(p->db, &seen, wait);
            pthread_mutex_lock(&p->mu);
            ln->idle = false;
            pthread_mutex_unlock(&p->mu);
            maybe_due = true;
            next_due = 0;
            continue;
        }
        pthread_mutex_unlock(&p->mu);

        for (int i = 0; i < nbatch; i++) {
            slot_t *sl = &p->slot[batch[i]];
            outs[i] = (store_outcome_t){.job = sl->job, .to = sl->to, .run_at = sl->run_at,
                                        .why = sl->failed ? &sl->run.err : NULL, .note = sl->run.note};
        }
        size_t nclaimed = 0;
        int64_t now = clock_now_ms();
        if (store_finish_batch(conn, outs, (size_t)nbatch, now, "pool", (size_t)want, claimed, &nclaimed,
                               &next_due, &err) < 0) {
            if (++tries < POOL_COMMIT_TRIES) {
                log_kv(LOG_LVL_WARN, "queue", "cannot record results or claim; retrying", "code", err.code, "error",
                       err.message, NULL);
                struct timespec ts = {0, 100000000L * tries};
                nanosleep(&ts, NULL);
                continue;
            }
            log_kv(LOG_LVL_ERROR, "queue", "cannot record the jobs' results; they run again when their lease expires",
                   "code", err.code, "error", err.message, NULL);
            pthread_mutex_lock(&p->mu);
            release_slots(p, batch, nbatch);
            pthread_cond_broadcast(&p->work_cv);   /* their workers wait for these outcomes */
            pthread_mutex_unlock(&p->mu);
            nbatch = 0;
            tries = 0;
            continue;
        }
        tries = 0;
        for (int i = 0; i < nbatch; i++)
            p->slot[batch[i]].result = outs[i].result;
        if (!ln->syncing)
            sync_and_report(ln, batch, nbatch, (int)nclaimed);   /* a sync only if the syncer could not start */
        maybe_due = nclaimed == (size_t)want;
        pthread_mutex_lock(&p->mu);
        if (ln->syncing) {
            memcpy(ln->unsynced + ln->nunsynced, batch, (size_t)nbatch * sizeof(int));
            ln->nunsynced += nbatch;
            ln->pending += nbatch;
        } else {
            release_slots(p, batch, nbatch);
        }
        int nbatch_done = nbatch;
        nbatch = 0;
        int free_at = ln->first;
        for (size_t k = 0; k < nclaimed; k++) {
            while (p->slot[free_at].job)
                free_at++;
            slot_t *sl = &p->slot[free_at];
            sl->job = claimed[k];
            sl->lease_until = claimed[k]->lease_until;
            ln->held++;
            ln->unready[ln->nunready++] = free_at;
        }
        if (ln->syncing) {
            if (nbatch_done > 0 || nclaimed > 0)
                pthread_cond_broadcast(&p->sync_cv);
        } else {
            make_ready(ln, ln->unready, ln->nunready);
            ln->nunready = 0;
            if (nbatch_done > 0)   /* their workers wait for this commit */
                pthread_cond_broadcast(&p->work_cv);
        }
        pthread_mutex_unlock(&p->mu);
    }
out:
    if (ln->syncing) {
        pthread_mutex_lock(&p->mu);
        ln->sync_stop = true;
        pthread_cond_broadcast(&p->sync_cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(ln->syncer, NULL);
    }
    free(batch);
    free(unstarted);
    free(outs);
    free(claimed);
    store_disconnect(conn);
    return NULL;
}

/* Renew leases that are past half their length, for every job this pool holds (running or waiting). */
static void renew_leases(queue_pool_t *p, store_t *conn, int64_t now)
{
    for (int i = 0; i < p->cap; i++) {
        char id[JOB_ID_LEN + 1];
        int64_t token, until, lease;
        pthread_mutex_lock(&p->mu);
        const job_t *j = p->slot[i].job;
        if (!j) {
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        memcpy(id, j->id, sizeof(id));
        token = j->lease_token;
        lease = j->lease_ms;
        until = p->slot[i].lease_until;
        pthread_mutex_unlock(&p->mu);
        if (until - now > lease / 2)
            continue;
        err_t err;
        int rc = store_renew_lease(conn, id, token, now + lease, &err);
        if (rc == 0) {
            pthread_mutex_lock(&p->mu);
            j = p->slot[i].job;
            if (j && strcmp(j->id, id) == 0 && j->lease_token == token)
                p->slot[i].lease_until = now + lease;
            pthread_mutex_unlock(&p->mu);
        } else if (rc < 0) {
            log_kv(LOG_LVL_WARN, "queue", "lease renewal failed", "job", id, "error", err.message, NULL);
        }
    }
}

/* Delete in batches of PRUNE_BATCH what prune (store_prune, store_effects_prune) finds older than before, until a
 * batch comes back short or the pool stops; one log line for the total. */
static void prune_batches(queue_pool_t *p, store_t *conn,
                          int (*prune)(store_t *, int64_t, int, int *, err_t *), int64_t before,
                          const char *failed_msg, const char *done_msg)
{
    int total = 0, n = 0;
    err_t err;
    do {
        if (prune(conn, before, PRUNE_BATCH, &n, &err) < 0) {
            log_kv(LOG_LVL_WARN, "queue", failed_msg, "error", err.message, NULL);
            break;
        }
        total += n;
    } while (n == PRUNE_BATCH && !atomic_load(&p->stopping));
    if (total > 0) {
        char nbuf[16];
        snprintf(nbuf, sizeof(nbuf), "%d", total);
        log_kv(LOG_LVL_INFO, "queue", done_msg, "count", nbuf, NULL);
    }
}

static void *housekeeper_main(void *arg)
{
    queue_pool_t *p = arg;
    err_t err;
    pthread_setname_np(pthread_self(), "q-housekeep");
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
            prune_batches(p, conn, store_prune, now - p->cfg->retention_ms, "prune failed",
                          "pruned finished jobs past retention");
            /* Effects live as long as the jobs that explain them: the trace of an order shows both or neither. */
            prune_batches(p, conn, store_effects_prune, now - p->cfg->retention_ms, "effect prune failed",
                          "pruned effects past retention");
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

/* How many dispatchers: [server] dispatchers, else POOL_PG_LANES on PostgreSQL with a local queue and one without;
 * never more than the slots. SQLite has one writer, so a second dispatcher would only wait for the first one's
 * commits: always one there. */
static int pool_lanes(store_db_t *db, const cfg_t *cfg, int cap)
{
    int n = cfg->dispatchers > 0 ? (int)cfg->dispatchers : cfg->local_queue > 0 ? POOL_PG_LANES : 1;
    if (!strcmp(store_db_engine(db), "sqlite"))
        n = 1;
    return n < cap ? n : cap;
}

static void free_lanes(queue_pool_t *p)
{
    for (int k = 0; p->lane && k < p->nlanes; k++) {
        free(p->lane[k].ready);
        free(p->lane[k].done);
        free(p->lane[k].unsynced);
        free(p->lane[k].unready);
        free(p->lane[k].settling);
        free(p->lane[k].readying);
    }
    free(p->lane);
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
    int room = nworkers > 0 ? nworkers + (int)cfg->local_queue : 1;
    p->run_ahead = nworkers > 0 && cfg->local_queue > 0;
    /* On SQLite the outcomes of a commit keep their slots until their sync (settle); slots for as many again let
     * the next rounds claim meanwhile. */
    p->cap = p->run_ahead && !strcmp(store_db_engine(db), "sqlite") ? 2 * room : room;
    /* A pool without workers (an ingest-only node) claims nothing: it needs no dispatcher. */
    p->nlanes = nworkers > 0 ? pool_lanes(db, cfg, room) : 0;
    p->slot = calloc((size_t)p->cap, sizeof(*p->slot));
    p->lane = calloc((size_t)(p->nlanes > 0 ? p->nlanes : 1), sizeof(*p->lane));
    bool ok = p->slot && p->lane;
    for (int k = 0, first = 0; ok && k < p->nlanes; k++) {
        lane_t *ln = &p->lane[k];
        ln->pool = p;
        ln->n = k + 1;
        ln->first = first;
        ln->cap = p->cap / p->nlanes + (k < p->cap % p->nlanes);
        ln->room = room / p->nlanes + (k < room % p->nlanes);
        for (int i = 0; i < ln->cap; i++)
            p->slot[first + i].lane = k;
        first += ln->cap;
        ok = (ln->ready = calloc((size_t)ln->cap, sizeof(int))) &&
             (ln->done = calloc((size_t)ln->cap, sizeof(int))) &&
             (ln->unsynced = calloc((size_t)ln->cap, sizeof(int))) &&
             (ln->unready = calloc((size_t)ln->cap, sizeof(int))) &&
             (ln->settling = calloc((size_t)ln->cap, sizeof(int))) &&
             (ln->readying = calloc((size_t)ln->cap, sizeof(int)));
    }
    if (!ok) {
        free_lanes(p);
        free(p->slot);
        free(p->workers);
        free(p);
        err_set(err, ERR_INTERNAL, "queue.oom", "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    pthread_cond_init(&p->sync_cv, NULL);
    pthread_mutex_init(&p->hk_mu, NULL);
    pthread_cond_init(&p->hk_cv, NULL);
    atomic_init(&p->stopping, false);
    atomic_init(&p->halted, false);
    metrics_set(p->metrics, METRIC_POOL_HALTED, NULL, 0);
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
    for (int k = 0; k < p->nlanes; k++) {
        if (pthread_create(&p->lane[k].thread, NULL, dispatcher_main, &p->lane[k]) != 0) {
            err_set(err, ERR_INTERNAL, "queue.thread", "cannot start dispatcher thread %d", k + 1);
            queue_pool_stop(p, 0);
            return NULL;
        }
        p->lanes_started = k + 1;
    }
    if (pthread_create(&p->housekeeper, NULL, housekeeper_main, p) != 0) {
        err_set(err, ERR_INTERNAL, "queue.thread", "cannot start the housekeeping thread");
        queue_pool_stop(p, 0);
        return NULL;
    }
    p->housekeeper_started = true;
    return p;
}

bool queue_pool_halted(const queue_pool_t *p)
{
    return p && atomic_load(&p->halted);
}

int queue_pool_stop(queue_pool_t *p, int64_t grace_ms)
{
    if (!p)
        return 0;
    atomic_store(&p->stopping, true);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
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
    /* The dispatcher commits the outcomes of the jobs that finished, then exits. */
    pthread_mutex_lock(&p->mu);
    p->workers_gone = true;
    pthread_mutex_unlock(&p->mu);
    store_db_notify(p->db, -1);
    for (int k = 0; k < p->lanes_started; k++)
        pthread_join(p->lane[k].thread, NULL);
    if (p->housekeeper_started)
        pthread_join(p->housekeeper, NULL);
    if (abandoned) {
        char nbuf[16];
        snprintf(nbuf, sizeof(nbuf), "%d", abandoned);
        log_kv(LOG_LVL_WARN, "queue", "shutdown grace over; jobs still running run again after their lease", "count",
               nbuf, NULL);
        return abandoned; /* the pool is leaked on purpose: detached workers still use it until exit */
    }
    pthread_mutex_lock(&p->mu);   /* jobs still held (a commit that never succeeded): their leases expire */
    for (int i = 0; i < p->cap; i++)
        job_free(p->slot[i].job);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    pthread_cond_destroy(&p->sync_cv);
    pthread_mutex_destroy(&p->hk_mu);
    pthread_cond_destroy(&p->hk_cv);
    free(p->slot);
    free_lanes(p);
    free(p->workers);
    free(p);
    return 0;
}
