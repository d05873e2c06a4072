/* cmd_serve: `synchub serve` — the daemon. Wires the store, the group-commit writer, the worker pool, ingestion
 * and the HTTP server, then waits for SIGTERM/SIGINT and stops them in the order that loses nothing:
 * stop accepting → answer requests in flight (their commits finish) → stop the writer → let workers finish.
 * `synchub worker` is the same node without ingestion (workers and schedulers only), so that on a shared
 * PostgreSQL store ingestion and work scale separately; with [server] ops_listen it answers the operations routes
 * (/metrics, /healthz, /readyz) there, and nothing else, so that it can be scraped and probed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "app/app.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "ingest/ingest.h"
#include "net/httpd.h"
#include "net/httpd_pool.h"
#include "net/sdnotify.h"
#include "obs/metrics.h"
#include "flows/flow_orders.h"
#include "flows/flow_shipments.h"
#include "store/store_writer.h"
#include "flows/flows.h"
#include "web/web.h"

typedef struct serve_ctx {
    const cfg_t *cfg;
    store_db_t *db;
    metrics_t *metrics;
    httpd_t *httpd;
    bool ingests;   /* serve: the webhook route is on httpd, so /metrics reports its 413s */
    queue_breaker_t *breaker;
    queue_pool_t *pool;
} serve_ctx_t;

static void route_healthz(void *udata, httpd_req_t *r)
{
    (void)udata;
    httpd_respond_json(r, 200, "{\"status\":\"ok\"}");
}

/* The queue as /readyz and /metrics see it: totals by state, the lag, and (with m) the per-kind gauges. */
typedef struct queue_fig {
    metrics_t *m;
    int64_t now;
    int64_t by_state[JOB_STATE_COUNT];
    double lag_s;
} queue_fig_t;

static int on_depth(job_state_t state, const char *kind, int64_t n, int64_t oldest_ms, void *ud)
{
    queue_fig_t *q = ud;
    if ((unsigned)state < JOB_STATE_COUNT)
        q->by_state[state] += n;
    if (q->m) {
        const char *labels[] = {job_state_name(state), kind};
        metrics_set(q->m, METRIC_QUEUE_JOBS, labels, (double)n);
        if (state != JOB_RUNNING) /* a running job's age since it was stored says nothing about the queue */
            metrics_set(q->m, METRIC_QUEUE_OLDEST_AGE, labels,
                        q->now > oldest_ms ? (double)(q->now - oldest_ms) / 1000.0 : 0.0);
    }
    return 0;
}

static int queue_figures(store_t *s, metrics_t *m, queue_fig_t *q, err_t *err)
{
    memset(q, 0, sizeof(*q));
    q->m = m;
    q->now = clock_now_ms();
    int64_t due = 0;
    if (store_queue_depth(s, q->now, m != NULL, on_depth, q, &due, err) < 0)
        return -1;
    q->lag_s = due && q->now > due ? (double)(q->now - due) / 1000.0 : 0.0;
    return 0;
}

/* Ready = the store takes a write within the ack deadline, the worker pool is not halted, and the backlog is within
 * the configured bounds ([server] ready_max_lag, ready_max_depth). Ingestion goes on either way (durability
 * first): a bound exceeded tells the orchestrator and the operator that this node's workers are behind. */
static void route_readyz(void *udata, httpd_req_t *r)
{
    serve_ctx_t *c = udata;
    err_t err;
    queue_fig_t q;
    if (queue_pool_halted(c->pool)) {
        httpd_respond_json(r, 503, "{\"ready\":false,\"reason\":\"the worker pool halted: the store could not sync "
                                   "its log (store.sync); check the disk, then restart synchub\"}");
        return;
    }
    store_t *s = store_connect(c->db, false, c->cfg->ack_timeout_ms, &err);
    if (!s || store_probe_write(s, &err) < 0 || queue_figures(s, NULL, &q, &err) < 0) {
        store_disconnect(s);
        httpd_respond_json(r, 503, "{\"ready\":false,\"reason\":\"store not writable: %s\"}",
                           err.code[0] ? err.code : "unknown");
        return;
    }
    store_disconnect(s);
    int64_t backlog = q.by_state[JOB_QUEUED] + q.by_state[JOB_RETRY];
    double max_lag = (double)c->cfg->ready_max_lag_ms / 1000.0;
    char reason[160] = "";
    const char *bound = NULL;
    double limit = 0, value = 0;
    if (c->cfg->ready_max_lag_ms > 0 && q.lag_s > max_lag) {
        bound = "ready_max_lag";
        limit = max_lag;
        value = q.lag_s;
        snprintf(reason, sizeof(reason), "lag %.3f s exceeds ready_max_lag (%.3f s)", value, limit);
    } else if (c->cfg->ready_max_depth > 0 && backlog > c->cfg->ready_max_depth) {
        bound = "ready_max_depth";
        limit = (double)c->cfg->ready_max_depth;
        value = (double)backlog;
        snprintf(reason, sizeof(reason), "%lld jobs queued or waiting to retry exceed ready_max_depth (%lld)",
                 (long long)backlog, (long long)c->cfg->ready_max_depth);
    }
    /* A target that is down pauses its work but not ingestion: webhooks are still stored and acknowledged, so the
     * node stays ready (a 503 here would only take the ingest path out of the load balancer); the body says why
     * work is not moving. */
    queue_breaker_view_t views[16];
    size_t nv = queue_breaker_views(c->breaker, views, 16);
    char paused[512] = "";
    size_t plen = 0;
    for (size_t i = 0; i < nv && i < 16; i++) {
        if (views[i].state == BREAKER_CLOSED)
            continue;
        char since[32];
        clock_format_iso8601(views[i].since, since, sizeof(since));
        plen += (size_t)snprintf(paused + plen, plen < sizeof(paused) ? sizeof(paused) - plen : 0,
                                 "%s%s paused since %s (%zu jobs waiting)", plen ? "; " : "", views[i].target, since,
                                 views[i].paused);
        if (plen >= sizeof(paused))
            break;
    }
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"ready\":%s,", bound ? "false" : "true");
    if (bound)
        buf_printf(&b, "\"reason\":\"%s\",\"bound\":\"%s\",\"limit\":%.3f,\"value\":%.3f,", reason, bound, limit,
                   value);
    else if (paused[0])
        buf_printf(&b, "\"reason\":\"target down, its jobs paused (ingestion goes on): %s\",", paused);
    if (paused[0])
        buf_printf(&b, "\"paused\":\"%s\",", paused);
    buf_printf(&b, "\"queued\":%lld,\"retry\":%lld,\"running\":%lld,\"dead\":%lld,\"lag_seconds\":%.3f}",
               (long long)q.by_state[JOB_QUEUED], (long long)q.by_state[JOB_RETRY],
               (long long)q.by_state[JOB_RUNNING], (long long)q.by_state[JOB_DEAD], q.lag_s);
    httpd_respond(r, bound ? 503 : 200, "application/json", buf_str(&b), b.len);
    buf_release(&b);
}

/* The scrape-time figures: the queue from the store (on its own connection: a scrape never waits for a worker's),
 * and the 413s httpd answered for the webhook route. */
static void collect(metrics_t *m, void *ud)
{
    serve_ctx_t *c = ud;
    err_t err;
    queue_fig_t q;
    metrics_reset(m, METRIC_QUEUE_JOBS);
    metrics_reset(m, METRIC_QUEUE_OLDEST_AGE);
    store_t *s = store_connect(c->db, false, c->cfg->ack_timeout_ms, &err);
    int rc = s ? queue_figures(s, m, &q, &err) : -1;
    store_disconnect(s);
    if (rc < 0)
        log_kv(LOG_LVL_WARN, "metrics", "cannot read the queue figures for /metrics", "code", err.code, "error",
               err.message, NULL);
    metrics_set(m, METRIC_STORE_UP, NULL, rc == 0 ? 1 : 0);
    metrics_set(m, METRIC_QUEUE_LAG, NULL, rc == 0 ? q.lag_s : 0);
    if (c->ingests)
        metrics_set(m, METRIC_DELIVERIES, (const char *[]){"shopify", "too_large"},
                    (double)httpd_too_large(c->httpd, "POST", "/webhooks/shopify"));
}

static void route_metrics(void *udata, httpd_req_t *r)
{
    serve_ctx_t *c = udata;
    buf_t b = BUF_INIT;
    if (metrics_render(c->metrics, collect, c, &b) < 0) {
        buf_release(&b);
        httpd_respond_json(r, 500, "{\"error\":\"out of memory\"}");
        return;
    }
    httpd_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf_str(&b), b.len);
    buf_release(&b);
}

/* The operations routes: on serve's listen beside ingestion and the dashboard, alone on worker's ops_listen. */
static int ops_routes(httpd_t *h, serve_ctx_t *ctx)
{
    err_t err;
    /* A scrape reads the store for ~100 ms on a large one: on a thread of its own, not a polling thread. */
    if (httpd_route(h, "GET", "/healthz", route_healthz, NULL) < 0 ||
        httpd_route(h, "GET", "/readyz", route_readyz, ctx) < 0 ||
        httpd_pool_route(httpd_pool_new(h, &(httpd_pool_opts_t){"metrics", 1, 4}, &err), "GET", "/metrics",
                         route_metrics, ctx) < 0)
        return -1;
    return 0;
}

/* One `serve` per SQLite store: a second one would double the housekeeping and confuse lease ownership. A
 * PostgreSQL store is shared by design: its nodes coordinate through the database (store_pg.c). */
static int lock_store(const char *store_path, int *fd_out)
{
    char *lock = NULL;
    if (asprintf(&lock, "%s.serve.lock", store_path) < 0)
        return -1;
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "synchub: another `synchub serve` is running on the store %s (lock %s held)\n", store_path,
                lock);
        if (fd >= 0)
            close(fd);
        free(lock);
        return -1;
    }
    free(lock);
    *fd_out = fd;
    return 0;
}

static int run_node(app_t *a, bool http)
{
    const cfg_t *cfg = a->cfg;
    err_t err;
    int rc = APP_FAIL, lock_fd = -1;
    store_db_t *db = NULL;
    store_writer_t *writer = NULL;
    queue_registry_t *reg = NULL;
    queue_pool_t *pool = NULL;
    queue_breaker_t *breaker = NULL;
    sync_t *sy = NULL;
    sync_scheduler_t *sched = NULL;
    ingest_t *in = NULL;
    httpd_t *h = NULL;
    metrics_t *m = metrics_new();
    if (!m) {
        fprintf(stderr, "synchub: out of memory\n");
        return APP_FAIL;
    }
    metrics_set(m, METRIC_BUILD_INFO, (const char *[]){SYNCHUB_VERSION}, 1);
    metrics_set(m, METRIC_START_TIME, NULL, (double)clock_now_ms() / 1000.0);
    web_t *web = NULL;

    /* Block the stop signals before any thread exists so that every thread inherits the mask and only sigwait
     * below receives them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    int check = app_check_store(cfg);
    if (check != APP_OK) {
        metrics_free(m);
        return check;
    }
    db = app_store_db_open(cfg, cfg->ack_timeout_ms, &err);
    if (!db) {
        app_print_err(&err);
        metrics_free(m);
        return APP_STORE;
    }
    store_db_set_max_size(db, cfg->store_max_size);
    if (!strcmp(store_db_engine(db), "sqlite") && lock_store(cfg->store_path, &lock_fd) < 0)
        goto out;
    if (!http && cfg->workers == 0) {
        fprintf(stderr, "synchub: worker: [server] workers = 0 leaves this node nothing to do\n");
        goto out;
    }
    reg = queue_registry_new();
    sy = sync_new(cfg);
    if (sy)
        sync_set_metrics(sy, m);
    if (!reg || !sy || (cfg->test_handlers && app_register_test_handlers(reg) < 0) ||
        odoo_orders_register(reg, sy) < 0 || odoo_shipments_register(reg, cfg) < 0 || sync_register(reg, sy) < 0)
        goto out;
    if (http && !(writer = store_writer_new(db, cfg->ack_timeout_ms, &err)))
        goto fail_err;
    if (!(breaker = app_breaker_new(cfg)))
        goto out;
    pool = queue_pool_start(db, cfg, reg, (int)cfg->workers, m, breaker, &err);
    if (!pool || queue_breaker_start(breaker, db, m, &err) < 0)
        goto fail_err;
    /* Polls are only useful with workers to run them; an ingest-only node (workers = 0) schedules nothing. */
    if (cfg->workers > 0 && !(sched = sync_scheduler_start(sy, db, &err)))
        goto fail_err;
    serve_ctx_t ctx = {cfg, db, m, NULL, http, breaker, pool};
    if (http) {
        in = ingest_new(cfg, writer, m);
        web = web_new(cfg, db);
        httpd_opts_t ho = {cfg->listen.host, (int)cfg->listen.port, (int)cfg->http_threads, (size_t)cfg->max_body};
        h = httpd_new(&ho, &err);
        ctx.httpd = h;
        if (!in || !h || !web || httpd_route(h, "POST", "/webhooks/shopify", ingest_shopify_webhook, in) < 0 ||
            httpd_route(h, "POST", "/events/*", ingest_events_post, in) < 0 ||
            web_routes(web, h) < 0 || ops_routes(h, &ctx) < 0)
            goto out;
        if (httpd_start(h, &err) < 0)
            goto fail_err;
    } else if (cfg->ops_listen.host) {
        /* Only GETs belong here: any body over 1 KiB is answered 413 without being read. */
        httpd_opts_t ho = {cfg->ops_listen.host, (int)cfg->ops_listen.port, (int)cfg->http_threads, 1024};
        if (!(h = httpd_new(&ho, &err)))
            goto fail_err;
        ctx.httpd = h;
        if (ops_routes(h, &ctx) < 0)
            goto out;
        if (httpd_start(h, &err) < 0)
            goto fail_err;
    }

    char port[16], workers[16], shops[16], ops[300] = "";
    snprintf(port, sizeof(port), "%lld", (long long)cfg->listen.port);
    if (!http && cfg->ops_listen.host)
        snprintf(ops, sizeof(ops), "%s:%lld", cfg->ops_listen.host, (long long)cfg->ops_listen.port);
    snprintf(workers, sizeof(workers), "%lld", (long long)cfg->workers);
    snprintf(shops, sizeof(shops), "%zu", cfg->nshops);
    if (http)
        log_kv(LOG_LVL_INFO, "serve", "synchub serving", "version", SYNCHUB_VERSION, "host", cfg->listen.host, "port",
               port, "workers", workers, "shops", shops, "store", store_db_path(db), "test_handlers",
               cfg->test_handlers ? "on" : NULL, "dashboard", cfg->noperators ? "on" : "off (no [operator])", NULL);
    else
        log_kv(LOG_LVL_INFO, "serve", ops[0] ? "synchub working (operations routes only)" : "synchub working (no HTTP)",
               "version", SYNCHUB_VERSION, "workers", workers, "shops", shops, "store", store_db_path(db), "ops",
               ops[0] ? ops : "none", "test_handlers", cfg->test_handlers ? "on" : NULL, NULL);
    /* Ready for systemd (Type=notify): the port listens, the store is open and the workers run. */
    char ready[512];
    if (http)
        snprintf(ready, sizeof(ready), "READY=1\nSTATUS=serving on %s:%s with %s workers", cfg->listen.host, port,
                 workers);
    else
        snprintf(ready, sizeof(ready), "READY=1\nSTATUS=working with %s workers; /metrics, /healthz, /readyz on %s",
                 workers, ops[0] ? ops : "no address (no [server] ops_listen)");
    if (sdnotify_send(ready) < 0)
        log_kv(LOG_LVL_WARN, "serve", "cannot notify the service manager (NOTIFY_SOCKET)", NULL);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    log_kv(LOG_LVL_INFO, "serve", "stopping", "signal", sig == SIGTERM ? "TERM" : "INT", NULL);
    sdnotify_send("STOPPING=1\nSTATUS=stopping: answering requests in flight, letting running jobs finish");
    httpd_quiesce(h);
    rc = APP_OK;
    goto out;

fail_err:
    app_print_err(&err);
    {
        char st[128];
        snprintf(st, sizeof(st), "STATUS=start-up failed: %s", err.code);
        sdnotify_send(st);
    }
out:
    /* Order matters: answer in-flight webhooks (their commits complete in the writer), then stop the writer, then
     * the workers. */
    httpd_free(h, (int)cfg->ack_timeout_ms + 2000);
    web_free(web);   /* after httpd_free: no request uses it any more */
    store_writer_free(writer);
    sync_scheduler_stop(sched);
    int abandoned = queue_pool_stop(pool, cfg->shutdown_grace_ms);
    queue_breaker_stop(breaker);
    if (abandoned > 0) {
        /* Workers still inside a handler use the registry, the config and the store: end the process here rather
         * than free them under their feet. Their jobs keep their leases and run again; SQLite rolls back anything
         * they had half-written. */
        log_kv(LOG_LVL_INFO, "serve", "stopped", NULL);
        fflush(stderr);
        _exit(rc);
    }
    ingest_free(in);
    queue_breaker_free(breaker);
    queue_registry_free(reg);
    sync_free(sy);
    metrics_free(m); /* after everything that reports to it stopped */
    if (lock_fd >= 0)
        close(lock_fd);
    store_db_close(db);
    if (rc == APP_OK)
        log_kv(LOG_LVL_INFO, "serve", "stopped", NULL);
    return rc;
}

int cmd_serve(app_t *a)
{
    return run_node(a, true);
}

int cmd_worker(app_t *a)
{
    return run_node(a, false);
}
