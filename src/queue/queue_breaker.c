/* queue_breaker: per-target circuit breakers (state machine under one mutex) and the probe thread that asks open
 * targets whether they are back and resumes the jobs paused on them. Not here: deciding that a failure is an
 * outage (the clients set err_t.target) or the store's pause/resume (store_pause, store_resume). */
#define _GNU_SOURCE
#include "queue/queue_breaker.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"

#define MAX_FAILURES 100   /* the largest `failures` a breaker counts (cfg bounds it too) */
#define MAX_HELD 200000    /* job ids held per target; past it a paused job simply waits out its hold */

typedef struct target {
    char name[128];
    char system[16];
    queue_probe_fn probe;
    void *ud;
    queue_breaker_state_t state;
    int64_t since, next_probe, interval_ms;
    int64_t fails[MAX_FAILURES];    /* ring of the latest outage failures' times while closed */
    int nfails, fail_pos;
    uint64_t probes, probe_failures, opened;
    char (*held)[JOB_ID_LEN + 1];
    size_t nheld, capheld;
    char last_error[200];
    bool dirty;                     /* state changed since the probe thread last published it */
} target_t;

struct queue_breaker {
    queue_breaker_cfg_t cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;              /* the probe thread sleeps on it; a breaker opening wakes it */
    target_t *t;
    size_t n;
    uint64_t rng;
    /* the probe thread */
    store_db_t *db;
    metrics_t *metrics;
    pthread_t thread;
    bool started;
    atomic_bool stopping;
};

queue_breaker_t *queue_breaker_new(const queue_breaker_cfg_t *cfg)
{
    queue_breaker_t *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->cfg = *cfg;
    if (b->cfg.failures > MAX_FAILURES)
        b->cfg.failures = MAX_FAILURES;
    if (b->cfg.probe_min_ms < 10)
        b->cfg.probe_min_ms = 10;
    if (b->cfg.probe_max_ms < b->cfg.probe_min_ms)
        b->cfg.probe_max_ms = b->cfg.probe_min_ms;
    b->rng = crypto_random_u64() | 1;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    atomic_init(&b->stopping, false);
    return b;
}

void queue_breaker_free(queue_breaker_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        free(b->t[i].held);
    free(b->t);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

int queue_breaker_add(queue_breaker_t *b, const char *target, queue_probe_fn probe, void *ud)
{
    if (!b || !target || !*target || strlen(target) >= sizeof(b->t[0].name))
        return -1;
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->t[i].name, target))
            return 0; /* the same Odoo named twice: one breaker */
    target_t *t = realloc(b->t, (b->n + 1) * sizeof(*t));
    if (!t)
        return -1;
    b->t = t;
    t = &b->t[b->n++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", target);
    size_t sys = strcspn(target, ":");
    snprintf(t->system, sizeof(t->system), "%.*s", (int)(sys < sizeof(t->system) ? sys : sizeof(t->system) - 1),
             target);
    t->probe = probe;
    t->ud = ud;
    return 0;
}

static target_t *find(queue_breaker_t *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->t[i].name, name))
            return &b->t[i];
    return NULL;
}

/* interval ± 20 % (xorshift64*, under b->mu) */
static int64_t jittered(queue_breaker_t *b, int64_t interval)
{
    uint64_t x = b->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    uint64_t r = (x * 2685821657736338717ULL) % 401; /* 0..400 → -20.0 % .. +20.0 % */
    return interval + interval * ((int64_t)r - 200) / 1000;
}

const char *queue_breaker_state_name(queue_breaker_state_t st)
{
    return st == BREAKER_OPEN ? "open" : st == BREAKER_PROBING ? "probing" : "closed";
}

bool queue_breaker_failed(queue_breaker_t *b, const err_t *why, int64_t now, int64_t *run_at)
{
    if (!b || b->cfg.failures <= 0 || !why || !why->target[0])
        return false;
    bool pause = false, opened = false;
    char name[128] = "";
    pthread_mutex_lock(&b->mu);
    target_t *t = find(b, why->target);
    if (t && t->state != BREAKER_CLOSED) {
        pause = true;
    } else if (t) {
        t->fails[t->fail_pos] = now;
        t->fail_pos = (t->fail_pos + 1) % b->cfg.failures;
        if (t->nfails < b->cfg.failures)
            t->nfails++;
        int recent = 0;
        for (int i = 0; i < t->nfails; i++)
            if (now - t->fails[i] <= b->cfg.window_ms)
                recent++;
        if (recent >= b->cfg.failures) {
            t->state = BREAKER_OPEN;
            t->since = now;
            t->interval_ms = b->cfg.probe_min_ms;
            t->next_probe = now + jittered(b, t->interval_ms);
            t->nfails = t->fail_pos = 0;
            t->opened++;
            snprintf(t->last_error, sizeof(t->last_error), "%.60s: %.130s", why->code, why->message);
            t->dirty = true;
            pause = opened = true;
            snprintf(name, sizeof(name), "%s", t->name);
            pthread_cond_signal(&b->cv);
        }
    }
    pthread_mutex_unlock(&b->mu);
    if (pause)
        *run_at = now + b->cfg.hold_ms;
    if (opened) {
        char nbuf[16];
        snprintf(nbuf, sizeof(nbuf), "%d", b->cfg.failures);
        log_kv(LOG_LVL_WARN, "breaker", "target down: pausing its jobs (attempts are not counted) and probing it",
               "target", name, "failures", nbuf, "code", why->code, "error", why->message, NULL);
    }
    return pause;
}

bool queue_breaker_hold(queue_breaker_t *b, const char *target, const char *job_id)
{
    if (!b)
        return false;
    bool open = false;
    pthread_mutex_lock(&b->mu);
    target_t *t = find(b, target);
    if (t && t->state != BREAKER_CLOSED) {
        open = true;
        bool have = false;
        for (size_t i = t->nheld; i-- > 0 && i + 64 >= t->nheld;) /* a job paused twice in a row: once */
            if (!strcmp(t->held[i], job_id))
                have = true;
        if (!have && t->nheld == t->capheld && t->capheld < MAX_HELD) {
            size_t cap = t->capheld ? t->capheld * 2 : 64;
            void *p = realloc(t->held, cap * sizeof(*t->held));
            if (p) {
                t->held = p;
                t->capheld = cap;
            }
        }
        if (!have && t->nheld < t->capheld) {
            snprintf(t->held[t->nheld++], JOB_ID_LEN + 1, "%s", job_id);
            t->dirty = true;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return open;
}

int queue_breaker_probe_due(queue_breaker_t *b, int64_t now, char *target, size_t n, int64_t *next_ms)
{
    *next_ms = 0;
    int found = 0;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->n; i++) {
        target_t *t = &b->t[i];
        if (t->state != BREAKER_OPEN)
            continue;
        if (!found && t->next_probe <= now) {
            t->state = BREAKER_PROBING;
            t->dirty = true;
            snprintf(target, n, "%s", t->name);
            found = 1;
        } else if (t->next_probe > now && (*next_ms == 0 || t->next_probe < *next_ms)) {
            *next_ms = t->next_probe;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return found;
}

void queue_breaker_probed(queue_breaker_t *b, const char *target, bool ok, const err_t *why, int64_t now,
                          char **ids, size_t *n_ids)
{
    *ids = NULL;
    *n_ids = 0;
    pthread_mutex_lock(&b->mu);
    target_t *t = find(b, target);
    if (t && t->state == BREAKER_PROBING) {
        t->probes++;
        t->dirty = true;
        if (ok) {
            t->state = BREAKER_CLOSED;
            t->since = now;
            t->nfails = t->fail_pos = 0;
            t->last_error[0] = '\0';
            *ids = (char *)t->held;
            *n_ids = t->nheld;
            t->held = NULL;
            t->nheld = t->capheld = 0;
        } else {
            t->probe_failures++;
            t->state = BREAKER_OPEN;
            t->interval_ms = t->interval_ms * 2 > b->cfg.probe_max_ms ? b->cfg.probe_max_ms : t->interval_ms * 2;
            t->next_probe = now + jittered(b, t->interval_ms);
            if (why)
                snprintf(t->last_error, sizeof(t->last_error), "%.60s: %.130s", why->code, why->message);
        }
    }
    pthread_mutex_unlock(&b->mu);
}

static void view_of(const target_t *t, queue_breaker_view_t *v)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->target, sizeof(v->target), "%s", t->name);
    snprintf(v->system, sizeof(v->system), "%s", t->system);
    v->state = t->state;
    v->since = t->since;
    v->next_probe = t->state == BREAKER_CLOSED ? 0 : t->next_probe;
    v->interval_ms = t->state == BREAKER_CLOSED ? 0 : t->interval_ms;
    v->probes = t->probes;
    v->probe_failures = t->probe_failures;
    v->opened = t->opened;
    v->paused = t->nheld;
    snprintf(v->last_error, sizeof(v->last_error), "%s", t->last_error);
}

size_t queue_breaker_views(queue_breaker_t *b, queue_breaker_view_t *out, size_t max)
{
    if (!b)
        return 0;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->n && i < max; i++)
        view_of(&b->t[i], &out[i]);
    size_t n = b->n;
    pthread_mutex_unlock(&b->mu);
    return n;
}

void queue_breaker_format(const queue_breaker_view_t *v, char *out, size_t n)
{
    snprintf(out, n, "%s %" PRId64 " %zu %" PRIu64, queue_breaker_state_name(v->state), v->since, v->paused,
             v->probes);
}

int queue_breaker_parse(const char *text, queue_breaker_view_t *v)
{
    char st[16];
    long long since;
    size_t paused;
    unsigned long long probes;
    if (!text || sscanf(text, "%15s %lld %zu %llu", st, &since, &paused, &probes) != 4)
        return -1;
    if (!strcmp(st, "open"))
        v->state = BREAKER_OPEN;
    else if (!strcmp(st, "probing"))
        v->state = BREAKER_PROBING;
    else if (!strcmp(st, "closed"))
        v->state = BREAKER_CLOSED;
    else
        return -1;
    v->since = since;
    v->paused = paused;
    v->probes = probes;
    return 0;
}

#define INDEX_KEY "breaker-targets"   /* meta: the target names, one per line */

int queue_breaker_load(store_t *s, queue_breaker_view_t *out, size_t max, size_t *n, err_t *err)
{
    *n = 0;
    char index[4096];
    int rc = store_cursor_get(s, INDEX_KEY, index, sizeof(index), err);
    if (rc <= 0)
        return rc;
    for (char *p = index; *p && *n < max;) {
        size_t len = strcspn(p, "\n");
        char key[160], val[128];
        snprintf(key, sizeof(key), "breaker:%.*s", (int)len, p);
        queue_breaker_view_t *v = &out[*n];
        memset(v, 0, sizeof(*v));
        snprintf(v->target, sizeof(v->target), "%.*s", (int)(len < sizeof(v->target) ? len : 0), p);
        size_t sys = strcspn(v->target, ":");
        snprintf(v->system, sizeof(v->system), "%.*s", (int)(sys < sizeof(v->system) ? sys : 0), v->target);
        if (v->target[0] && store_cursor_get(s, key, val, sizeof(val), err) == 1 && queue_breaker_parse(val, v) == 0)
            (*n)++;
        p += len + (p[len] == '\n');
    }
    return 0;
}

/* ---- the probe thread ------------------------------------------------------------------------------------------ */

/* The index of the targets' meta rows, so that readers (`synchub status`, the dashboard) find them. */
static int publish_index(queue_breaker_t *b, store_t *conn)
{
    char index[4096] = "";
    size_t len = 0;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->n; i++) {
        size_t need = strlen(b->t[i].name) + 1;
        if (len + need >= sizeof(index))
            break;
        len += (size_t)snprintf(index + len, sizeof(index) - len, "%s\n", b->t[i].name);
    }
    pthread_mutex_unlock(&b->mu);
    err_t err;
    return store_cursor_put(conn, INDEX_KEY, index, &err);
}

/* Publish every changed target: its meta row for `synchub status` and its gauges. */
static void publish(queue_breaker_t *b, store_t *conn)
{
    for (size_t i = 0;; i++) {
        queue_breaker_view_t v;
        pthread_mutex_lock(&b->mu);
        if (i >= b->n) {
            pthread_mutex_unlock(&b->mu);
            break;
        }
        bool dirty = b->t[i].dirty;
        b->t[i].dirty = false;
        view_of(&b->t[i], &v);
        pthread_mutex_unlock(&b->mu);
        if (!dirty)
            continue;
        const char *labels[] = {v.system, v.target};
        bool down = v.state != BREAKER_CLOSED;
        metrics_set(b->metrics, METRIC_TARGET_PAUSED, labels, down ? 1 : 0);
        metrics_set(b->metrics, METRIC_TARGET_PAUSED_SINCE, labels, down ? (double)v.since / 1000.0 : 0);
        metrics_set(b->metrics, METRIC_TARGET_PAUSED_JOBS, labels, (double)v.paused);
        char key[160], val[96];
        snprintf(key, sizeof(key), "breaker:%s", v.target);
        queue_breaker_format(&v, val, sizeof(val));
        err_t err;
        if (conn && store_cursor_put(conn, key, val, &err) < 0) {
            pthread_mutex_lock(&b->mu);
            b->t[i].dirty = true; /* try again on the next pass */
            pthread_mutex_unlock(&b->mu);
        }
    }
}

static void probe_one(queue_breaker_t *b, store_t *conn, const char *name)
{
    queue_probe_fn fn = NULL;
    void *ud = NULL;
    pthread_mutex_lock(&b->mu);
    target_t *t = find(b, name);
    if (t) {
        fn = t->probe;
        ud = t->ud;
    }
    pthread_mutex_unlock(&b->mu);
    err_t err;
    err_clear(&err);
    bool ok = fn && fn(ud, &err) == 0;
    int64_t now = clock_now_ms();
    char *ids = NULL;
    size_t nids = 0;
    queue_breaker_probed(b, name, ok, ok ? NULL : &err, now, &ids, &nids);
    char sys[16];
    snprintf(sys, sizeof(sys), "%.*s", (int)strcspn(name, ":"), name);
    metrics_add(b->metrics, METRIC_TARGET_PROBES, (const char *[]){sys, name, ok ? "ok" : "failed"}, 1);
    if (!ok) {
        log_kv(LOG_LVL_INFO, "breaker", "probe failed; target still down", "target", name, "code", err.code,
               "error", err.message, NULL);
        return;
    }
    /* Resume in slices: one short transaction each, so a long outage's backlog never holds the store's lock. */
    int resumed = 0;
    for (size_t off = 0; off < nids;) {
        size_t k = nids - off < 500 ? nids - off : 500;
        const char *slice[500];
        for (size_t i = 0; i < k; i++)
            slice[i] = ids + (off + i) * (JOB_ID_LEN + 1);
        int n = 0;
        if (!conn || store_resume(conn, slice, k, clock_now_ms(), &n, &err) < 0) {
            /* they run at their hold's end instead */
            log_kv(LOG_LVL_WARN, "breaker", "cannot resume paused jobs now; they run when their pause ends", "target",
                   name, "error", conn ? err.message : "no store connection", NULL);
            break;
        }
        resumed += n;
        off += k;
    }
    free(ids);
    char nbuf[16];
    snprintf(nbuf, sizeof(nbuf), "%d", resumed);
    log_kv(LOG_LVL_WARN, "breaker", "target answers again: its paused jobs are due now", "target", name, "resumed",
           nbuf, NULL);
}

static void *probe_main(void *arg)
{
    queue_breaker_t *b = arg;
    err_t err;
    store_t *conn = store_connect(b->db, false, 0, &err);
    if (!conn)
        log_kv(LOG_LVL_ERROR, "breaker", "the probe thread cannot open the store; paused jobs wait out their pause",
               "error", err.message, NULL);
    bool indexed = false;
    while (!atomic_load(&b->stopping)) {
        if (conn && !indexed)
            indexed = publish_index(b, conn) == 0;
        publish(b, conn);
        int64_t now = clock_now_ms(), next = 0;
        char name[128];
        if (queue_breaker_probe_due(b, now, name, sizeof(name), &next)) {
            probe_one(b, conn, name);
            continue;
        }
        int64_t wait = next ? next - now : 1000;
        if (wait > 1000)
            wait = 1000; /* publish the held-jobs count about once a second */
        if (wait < 1)
            wait = 1;
        struct timespec ts;
        clock_deadline(wait, &ts);
        pthread_mutex_lock(&b->mu);
        if (!atomic_load(&b->stopping))
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        pthread_mutex_unlock(&b->mu);
    }
    publish(b, conn);
    store_disconnect(conn);
    return NULL;
}

int queue_breaker_start(queue_breaker_t *b, store_db_t *db, metrics_t *metrics, err_t *err)
{
    b->db = db;
    b->metrics = metrics;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->n; i++)
        b->t[i].dirty = true; /* every target's gauges and meta row exist from the start, closed */
    pthread_mutex_unlock(&b->mu);
    if (pthread_create(&b->thread, NULL, probe_main, b) != 0)
        return err_set(err, ERR_INTERNAL, "queue.thread", "cannot start the breaker's probe thread");
    b->started = true;
    return 0;
}

void queue_breaker_stop(queue_breaker_t *b)
{
    if (!b || !b->started)
        return;
    atomic_store(&b->stopping, true);
    pthread_mutex_lock(&b->mu);
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    b->started = false;
}
