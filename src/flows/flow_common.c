/* flow_common: the plumbing the flows share — the start-up object (sync_t) with each shop's rate-limit estimate,
 * the per-worker clients, cursors, config look-ups, job helpers, and the scheduler thread that enqueues due poll
 * jobs. Below every flow file: it calls none of them. Not here: what a flow does (flow_*.c) or which flows are
 * registered (flows.c). */
#define _GNU_SOURCE
#include "flows/flows_internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "flows/flow_subscriptions.h"

struct sync {
    const cfg_t *cfg;
    shopify_throttle_t **throttles;   /* one per cfg->shops[i] */
    metrics_t *metrics;
};

sync_t *sync_new(const cfg_t *cfg)
{
    sync_t *sy = calloc(1, sizeof(*sy));
    if (!sy)
        return NULL;
    sy->cfg = cfg;
    sy->throttles = calloc(cfg->nshops ? cfg->nshops : 1, sizeof(*sy->throttles));
    if (!sy->throttles) {
        free(sy);
        return NULL;
    }
    for (size_t i = 0; i < cfg->nshops; i++) {
        if (!(sy->throttles[i] = shopify_throttle_new())) {
            sync_free(sy);
            return NULL;
        }
    }
    return sy;
}

void sync_free(sync_t *sy)
{
    if (!sy)
        return;
    for (size_t i = 0; i < sy->cfg->nshops; i++)
        shopify_throttle_free(sy->throttles[i]);
    free(sy->throttles);
    free(sy);
}

const cfg_t *sync_cfg(const sync_t *sy)
{
    return sy->cfg;
}

static size_t shop_index(const cfg_t *cfg, const cfg_shop_t *shop)
{
    return shop >= cfg->shops && shop < cfg->shops + cfg->nshops ? (size_t)(shop - cfg->shops) : SIZE_MAX;
}

shopify_throttle_t *sync_throttle(sync_t *sy, const cfg_shop_t *shop)
{
    size_t i = sy ? shop_index(sy->cfg, shop) : SIZE_MAX;
    return i == SIZE_MAX ? NULL : sy->throttles[i];
}

void sync_set_metrics(sync_t *sy, metrics_t *m)
{
    sy->metrics = m;
}

metrics_t *sync_metrics(const sync_t *sy)
{
    return sy ? sy->metrics : NULL;
}

bool sync_enabled(const cfg_t *cfg, const cfg_shop_t *shop, const char *kind)
{
    if (!cfg->odoo.configured || !shop->admin_token.value)
        return false;
    if (!strcmp(kind, SYNC_KIND_STOCK_POLL) || !strcmp(kind, SYNC_KIND_STOCK_SKU))
        return shop->locations && shop->locations[0];
    if (!strcmp(kind, SYNC_KIND_SUBSCRIPTIONS))
        return shop->public_url && shop->public_url[0];
    return true;
}

/* ---- per-worker clients ---------------------------------------------------------------------------------- */

struct sync_worker {
    sync_t *sy;
    odoo_t *odoo;
    shopify_t **shopify;   /* per shop, NULL until used */
    json_t *cache;         /* the flows' lookups (locations, product codes), this worker's own */
};

void sync_worker_free(void *p)
{
    sync_worker_t *w = p;
    if (!w)
        return;
    odoo_free(w->odoo);
    for (size_t i = 0; w->shopify && i < w->sy->cfg->nshops; i++)
        shopify_free(w->shopify[i]);
    free(w->shopify);
    json_decref(w->cache);
    free(w);
}

sync_worker_t *sync_worker(queue_run_t *run, sync_t *sy)
{
    if (*run->slot)
        return *run->slot;
    sync_worker_t *w = calloc(1, sizeof(*w));
    if (w) {
        w->sy = sy;
        w->odoo = odoo_new(&sy->cfg->odoo);
        if (w->odoo)
            odoo_set_metrics(w->odoo, sy->metrics);
        w->shopify = calloc(sy->cfg->nshops ? sy->cfg->nshops : 1, sizeof(*w->shopify));
        w->cache = json_object();
    }
    if (!w || !w->odoo || !w->shopify || !w->cache) {
        sync_worker_free(w);
        err_set(&run->err, ERR_INTERNAL, "sync.oom", "cannot create the worker's API clients");
        return NULL;
    }
    *run->slot = w;
    return w;
}

odoo_t *sync_worker_odoo(sync_worker_t *w)
{
    return w->odoo;
}

json_t *sync_worker_cache(sync_worker_t *w)
{
    return w->cache;
}

shopify_t *sync_worker_shopify(sync_worker_t *w, const cfg_shop_t *shop)
{
    size_t i = shop_index(w->sy->cfg, shop);
    if (i == SIZE_MAX)
        return NULL;
    if (!w->shopify[i] && (w->shopify[i] = shopify_new(shop, w->sy->throttles[i])) != NULL)
        shopify_set_metrics(w->shopify[i], w->sy->metrics);
    return w->shopify[i];
}

/* ---- jobs ------------------------------------------------------------------------------------------------ */

static const cfg_shop_t *job_shop(queue_run_t *run, const cfg_t *cfg, json_t **payload)
{
    *payload = json_loads(run->job->payload, 0, NULL);
    const char *domain = json_string_value(json_object_get(*payload, "shop"));
    if (!domain) {
        err_set(&run->err, ERR_DATA, "sync.payload", "the payload of job %s is not a sync job's ({\"shop\": …})",
                run->job->id);
        err_hint(&run->err, "discard this job; it cannot be processed");
        return NULL;
    }
    const cfg_shop_t *shop = cfg_shop_find(cfg, domain);
    if (!shop) {
        err_set(&run->err, ERR_CONFIGURATION, "config.shop", "shop %s is no longer configured", domain);
        err_hint(&run->err, "add the [shop %s] section back, then `synchub jobs retry %.12s`", domain, run->job->id);
        return NULL;
    }
    if (!sync_enabled(cfg, shop, run->job->kind)) {
        err_set(&run->err, ERR_CONFIGURATION, "config.sync", "%s of shop %s needs [odoo], the shop's admin_token%s",
                run->job->kind, domain, !strncmp(run->job->kind, "stock.", 6) ? " and locations" : "");
        err_hint(&run->err, "configure them, then `synchub jobs retry %.12s`", run->job->id);
        return NULL;
    }
    return shop;
}

sync_worker_t *sync_job_begin(queue_run_t *run, const cfg_shop_t **shop, json_t **payload)
{
    sync_t *sy = run->udata;
    json_t *p = NULL;
    *shop = job_shop(run, sy->cfg, &p);
    if (payload)
        *payload = p;
    else
        json_decref(p);
    return *shop ? sync_worker(run, sy) : NULL;
}

void sync_okey(const char *kind, const char *shop, char *out, size_t n)
{
    snprintf(out, n, "%s|%s", kind, shop);
}

int sync_enqueue(store_t *s, const cfg_t *cfg, const char *kind, const char *ordering_key, const char *idem_key,
                 const char *payload, const char *correlation, bool *dup, err_t *err)
{
    queue_policy_t pol = queue_policy_for(cfg, kind);
    int64_t now = clock_now_ms();
    job_new_t j = {0};
    queue_job_id(idem_key, strlen(idem_key), j.id);
    j.kind = kind;
    j.ordering_key = ordering_key;
    j.payload = payload;
    j.payload_len = strlen(payload);
    j.source = "sync";
    char own[JOB_ID_LEN + 8];
    snprintf(own, sizeof(own), "poll:%s", j.id);
    j.correlation_id = correlation && *correlation ? correlation : own;
    j.event_time_ms = now;
    j.priority = pol.priority;
    j.max_attempts = pol.max_attempts;
    j.lease_ms = pol.lease_ms;
    bool d = false;
    if (store_enqueue(s, &j, 1, &d, err) < 0)
        return -1;
    if (dup)
        *dup = d;
    return 0;
}

/* ---- cursors --------------------------------------------------------------------------------------------- */

int sync_cursor_load(store_t *s, const char *flow, const char *shop, sync_cursor_t *c, err_t *err)
{
    char name[256], text[160];
    memset(c, 0, sizeof(*c));
    snprintf(name, sizeof(name), "%s:%s", flow, shop);
    if (store_cursor_get(s, name, text, sizeof(text), err) < 0)
        return -1;
    char *bar = strrchr(text, '|');
    if (bar) {
        *bar = '\0';
        c->seq = strtoll(bar + 1, NULL, 10);
    }
    snprintf(c->position, sizeof(c->position), "%.127s", text);
    return 0;
}

int sync_cursor_advance(store_t *s, const char *flow, const char *shop, const sync_cursor_t *c, const char *position,
                        err_t *err)
{
    char name[256], text[160];
    snprintf(name, sizeof(name), "%s:%s", flow, shop);
    snprintf(text, sizeof(text), "%s|%" PRId64, position ? position : c->position, c->seq + 1);
    return store_cursor_put(s, name, text, err);
}

/* ---- the scheduler --------------------------------------------------------------------------------------- */

/* The periodic flows: kind, the cursor it advances, its interval in the shop's config, and whether it is bulk work
 * that back-pressure holds back. Only the order reconciliation is: it lists every order of the window and may add
 * thousands of order jobs, and what it would find now it finds as well later (its window starts where the last run
 * started, not at the time it runs). The stock and fulfillment polls are not bulk: they are the Odoo → Shopify
 * business flow itself (Odoo's free quantities are what stops Shopify overselling during the very sale that fills
 * the queue), each is one incremental job per shop (at most one live), and they rank below order jobs anyway. */
static const struct {
    const char *kind, *flow;
    size_t interval_off;
    bool bulk;
} schedule[] = {
    {SYNC_KIND_STOCK_POLL, "stock", offsetof(cfg_shop_t, inventory_interval_ms), false},
    {SYNC_KIND_FULFILL_POLL, "fulfillment", offsetof(cfg_shop_t, fulfillment_interval_ms), false},
    {SYNC_KIND_RECONCILE_ORDERS, "reconcile.orders", offsetof(cfg_shop_t, reconcile_interval_ms), true},
    /* Webhook subscriptions Shopify removed (8 failed deliveries) are re-created and their gap reconciled. */
    {SYNC_KIND_SUBSCRIPTIONS, "subscriptions", offsetof(cfg_shop_t, subscriptions_interval_ms), false},
};
#define NSCHEDULE (sizeof(schedule) / sizeof(schedule[0]))

sync_pause_change_t sync_pause_step(bool *paused, int64_t backlog, int64_t bound)
{
    if (bound <= 0 || (*paused && backlog <= bound / 2)) {
        bool was = *paused;
        *paused = false;
        return was ? SYNC_PAUSE_RESUMED : SYNC_PAUSE_SAME;
    }
    if (!*paused && backlog > bound) {
        *paused = true;
        return SYNC_PAUSE_STARTED;
    }
    return SYNC_PAUSE_SAME;
}

static void paused_gauge(metrics_t *m, bool paused)
{
    for (size_t k = 0; k < NSCHEDULE; k++)
        if (schedule[k].bulk)
            metrics_set(m, METRIC_SCHEDULER_PAUSED, (const char *[]){schedule[k].flow}, paused);
}

static int count_backlog(job_state_t state, const char *kind, int64_t count, int64_t oldest_ms, void *ud)
{
    (void)kind;
    (void)oldest_ms;
    if (state == JOB_QUEUED || state == JOB_RETRY)
        *(int64_t *)ud += count;
    return 0;
}

/* Whether bulk work waits: the backlog as /readyz counts it (queued + retry; by state, without kinds), read
 * at most once per pass and only when a bulk run is due. Logs the pause and the resumption once each; the gauge
 * and the counter of held-back ticks show it in /metrics. *held is set when the due run must wait. */
static int backpressure_check(sync_t *sy, store_t *s, int64_t now, bool *paused, int *read, bool *held, err_t *err)
{
    if (*read < 0) {
        int64_t backlog = 0, due = 0;
        if (store_queue_depth(s, now, false, count_backlog, &backlog, &due, err) < 0)
            return -1;
        sync_pause_change_t ch = sync_pause_step(paused, backlog, sy->cfg->pause_bulk_above);
        char nb[24], bound[24];
        snprintf(nb, sizeof(nb), "%" PRId64, backlog);
        snprintf(bound, sizeof(bound), "%" PRId64, sy->cfg->pause_bulk_above);
        if (ch == SYNC_PAUSE_STARTED)
            log_kv(LOG_LVL_WARN, "sync", "backlog above [server] pause_bulk_above: scheduled reconcile.orders paused "
                   "until it drains to half (order, stock and fulfillment jobs go on)", "backlog", nb, "bound", bound,
                   NULL);
        else if (ch == SYNC_PAUSE_RESUMED)
            log_kv(LOG_LVL_INFO, "sync", "backlog drained: scheduled reconcile.orders resumes from its cursor",
                   "backlog", nb, "bound", bound, NULL);
        if (ch != SYNC_PAUSE_SAME)
            paused_gauge(sy->metrics, *paused);
        *read = 1;
    }
    *held = *paused;
    return 0;
}

/* One pass over every (shop, flow). last: when each last had a poll enqueued (nshops × NSCHEDULE, ms; NULL = all
 * due); paused: the back-pressure state carried from pass to pass. A held-back bulk run keeps its last time, so it
 * is due again at the next tick and runs at the first one after the backlog drained. */
static int schedule_pass(sync_t *sy, store_t *s, int64_t now, int64_t *last, bool *paused, int *n, err_t *err)
{
    const cfg_t *cfg = sy->cfg;
    int read = -1;
    *n = 0;
    for (size_t i = 0; i < cfg->nshops; i++) {
        const cfg_shop_t *shop = &cfg->shops[i];
        for (size_t k = 0; k < NSCHEDULE; k++) {
            int64_t interval = *(const int64_t *)((const char *)shop + schedule[k].interval_off);
            int64_t *when = last ? &last[i * NSCHEDULE + k] : NULL;
            if (interval <= 0 || !sync_enabled(cfg, shop, schedule[k].kind) || (when && *when && now - *when < interval))
                continue;
            bool held = false;
            if (schedule[k].bulk && backpressure_check(sy, s, now, paused, &read, &held, err) < 0)
                return -1;
            if (held) {
                metrics_add(sy->metrics, METRIC_SCHEDULER_SKIPPED, (const char *[]){schedule[k].flow}, 1);
                continue;
            }
            char okey[300];
            sync_okey(schedule[k].kind, shop->domain, okey, sizeof(okey));
            int64_t live = 0;
            sync_cursor_t c;
            if (store_key_live(s, okey, &live, err) < 0 || sync_cursor_load(s, schedule[k].flow, shop->domain, &c, err) < 0)
                return -1;
            if (when)
                *when = now;
            if (live > 0)
                continue;   /* the previous poll still runs or waits for a retry: it will see these changes */
            char idem[400], payload[300];
            snprintf(idem, sizeof(idem), "sync|%s|%s|%" PRId64, schedule[k].kind, shop->domain, c.seq);
            snprintf(payload, sizeof(payload), "{\"shop\":\"%s\"}", shop->domain);
            bool dup = false;
            if (sync_enqueue(s, cfg, schedule[k].kind, okey, idem, payload, NULL, &dup, err) < 0)
                return -1;
            if (!dup)
                (*n)++;
        }
    }
    return 0;
}

int sync_schedule_once(sync_t *sy, store_t *s, int64_t now, int *n, err_t *err)
{
    bool paused = false;
    return schedule_pass(sy, s, now, NULL, &paused, n, err);
}

struct sync_scheduler {
    sync_t *sy;
    store_db_t *db;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void *scheduler_main(void *arg)
{
    sync_scheduler_t *sc = arg;
    err_t err;
    store_t *s = store_connect(sc->db, false, 0, &err);
    int64_t *last = calloc(sc->sy->cfg->nshops * NSCHEDULE + 1, sizeof(*last));
    if (!s || !last) {
        log_kv(LOG_LVL_ERROR, "sync", "scheduler cannot start: polls will not run", "error", s ? "oom" : err.message,
               NULL);
        store_disconnect(s);
        free(last);
        return NULL;
    }
    bool was_leader = false, paused = false;
    paused_gauge(sc->sy->metrics, false);   /* shown from the start: an absent series cannot be alerted on */
    pthread_mutex_lock(&sc->mu);
    while (!sc->stop) {
        pthread_mutex_unlock(&sc->mu);
        int n = 0;
        /* Nodes sharing a PostgreSQL store schedule one at a time: the leader (a session lock held by this
         * connection) moves to another node's scheduler when this one dies or loses its connection. */
        bool leader = false;
        if (store_leader_try(s, "sync.scheduler", &leader, &err) < 0)
            log_kv(LOG_LVL_WARN, "sync", "cannot check scheduler leadership; trying again", "code", err.code, "error",
                   err.message, NULL);
        if (leader != was_leader && strcmp(store_db_engine(sc->db), "sqlite") != 0)
            log_kv(LOG_LVL_INFO, "sync", leader ? "this node schedules the polls now (leader)"
                                                : "another node schedules the polls (standby)", NULL);
        was_leader = leader;
        /* The new leader decides now; this node's gauge must not claim a pause it no longer makes. */
        if (!leader && paused && sync_pause_step(&paused, 0, 0) == SYNC_PAUSE_RESUMED)
            paused_gauge(sc->sy->metrics, false);
        if (leader && schedule_pass(sc->sy, s, clock_now_ms(), last, &paused, &n, &err) < 0)
            log_kv(LOG_LVL_WARN, "sync", "scheduling polls failed; trying again", "code", err.code, "error",
                   err.message, NULL);
        else if (n > 0)
            store_db_notify(sc->db, n);
        pthread_mutex_lock(&sc->mu);
        struct timespec ts;
        clock_deadline(1000, &ts);
        if (!sc->stop)
            pthread_cond_timedwait(&sc->cv, &sc->mu, &ts);
    }
    pthread_mutex_unlock(&sc->mu);
    store_disconnect(s);
    free(last);
    return NULL;
}

sync_scheduler_t *sync_scheduler_start(sync_t *sy, store_db_t *db, err_t *err)
{
    sync_scheduler_t *sc = calloc(1, sizeof(*sc));
    if (!sc) {
        err_set(err, ERR_INTERNAL, "sync.oom", "cannot start the scheduler");
        return NULL;
    }
    sc->sy = sy;
    sc->db = db;
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->cv, NULL);
    if (pthread_create(&sc->thread, NULL, scheduler_main, sc) != 0) {
        pthread_mutex_destroy(&sc->mu);
        pthread_cond_destroy(&sc->cv);
        free(sc);
        err_set(err, ERR_INTERNAL, "sync.thread", "cannot start the scheduler thread");
        return NULL;
    }
    return sc;
}

void sync_scheduler_stop(sync_scheduler_t *sc)
{
    if (!sc)
        return;
    pthread_mutex_lock(&sc->mu);
    sc->stop = true;
    pthread_cond_signal(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
    pthread_join(sc->thread, NULL);
    pthread_mutex_destroy(&sc->mu);
    pthread_cond_destroy(&sc->cv);
    free(sc);
}
