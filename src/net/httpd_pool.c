/* httpd_pool: the offload threads behind slow routes. A request's way through:
 *   polling thread: route → enter [keep the request, refuse 503 if stopping or full, else defer and queue]
 *   pool thread:    pool_main [take the oldest, call the route's fn, which answers with httpd_respond]
 *   httpd_free:     httpd__pool_stop [refuse what is still queued, join the threads] → daemon stopped →
 *                   httpd__pool_free.
 * The queue is a ring of queue_max slots under one mutex: no allocation on the polling thread past the kept copy. */
#define _GNU_SOURCE
#include "net/httpd_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

typedef struct pool_route {
    httpd_pool_t *pool;
    httpd_route_fn fn;
    void *udata;
} pool_route_t;

typedef struct slot {
    httpd_req_t *req;
    pool_route_t *route;
} slot_t;

struct httpd_pool {
    httpd_t *h;                 /* the owner */
    httpd_pool_opts_t o;
    char *name;
    pthread_t *threads;
    int nthreads;               /* started */
    pool_route_t **routes;
    size_t nroutes;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot_t *ring;               /* queue_max slots; head is the oldest */
    size_t head, n;
    bool stopping;
};

static void refuse(httpd_pool_t *p, httpd_req_t *r, bool stopping)
{
    log_kv(LOG_LVL_WARN, "http", stopping ? "request refused: shutting down" : "request refused: queue full", "pool",
           p->name, "path", httpd_req_path(r), NULL);
    httpd_add_header(r, "Retry-After", "1");
    if (stopping)
        httpd_respond_json(r, 503, "{\"error\":\"shutting down; retry later\",\"code\":\"http.stopping\"}");
    else
        httpd_respond_json(r, 503, "{\"error\":\"busy: too many requests waiting; retry shortly\","
                                   "\"code\":\"http.busy\"}");
}

/* On a polling thread. Never waits for anything but the queue's mutex, which is held only to move a slot. */
static void enter(void *udata, httpd_req_t *r)
{
    pool_route_t *rt = udata;
    httpd_pool_t *p = rt->pool;
    if (httpd_req_keep(r) < 0) {
        httpd_respond_json(r, 500, "{\"error\":\"out of memory\"}");
        return;
    }
    pthread_mutex_lock(&p->mu);
    if (p->stopping || p->n == (size_t)p->o.queue_max) {
        bool stopping = p->stopping;
        pthread_mutex_unlock(&p->mu);
        refuse(p, r, stopping);
        return;
    }
    /* Deferred before a pool thread can see it: its httpd_respond must find the request suspended. */
    httpd_defer(r);
    p->ring[(p->head + p->n) % (size_t)p->o.queue_max] = (slot_t){r, rt};
    p->n++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *pool_main(void *arg)
{
    httpd_pool_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->n && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->n)
            break;
        slot_t s = p->ring[p->head];
        p->head = (p->head + 1) % (size_t)p->o.queue_max;
        p->n--;
        pthread_mutex_unlock(&p->mu);
        s.route->fn(s.route->udata, s.req);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

void httpd__pool_stop(httpd_pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    size_t n = p->n;
    slot_t *left = n ? calloc(n, sizeof(*left)) : NULL;
    for (size_t i = 0; left && i < n; i++)
        left[i] = p->ring[(p->head + i) % (size_t)p->o.queue_max];
    if (left)
        p->n = 0; /* without memory for the copy the threads run them instead */
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; left && i < n; i++)
        refuse(p, left[i].req, true);
    free(left);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
}

void httpd__pool_free(httpd_pool_t *p)
{
    if (!p)
        return;
    httpd__pool_stop(p);
    for (size_t i = 0; i < p->nroutes; i++)
        free(p->routes[i]);
    free(p->routes);
    free(p->ring);
    free(p->threads);
    free(p->name);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void owned_stop(void *p)
{
    httpd__pool_stop(p);
}

static void owned_free(void *p)
{
    httpd__pool_free(p);
}

httpd_pool_t *httpd_pool_new(httpd_t *h, const httpd_pool_opts_t *opts, err_t *err)
{
    httpd_pool_t *p = calloc(1, sizeof(*p));
    if (!p || !h) {
        free(p);
        err_set(err, ERR_INTERNAL, "http.oom", "out of memory");
        return NULL;
    }
    p->h = h;
    p->o = *opts;
    if (p->o.threads < 1)
        p->o.threads = 1;
    if (p->o.queue_max < 1)
        p->o.queue_max = 1;
    p->name = strdup(opts->name ? opts->name : "pool");
    p->o.name = p->name;
    p->ring = calloc((size_t)p->o.queue_max, sizeof(*p->ring));
    p->threads = calloc((size_t)p->o.threads, sizeof(*p->threads));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (!p->name || !p->ring || !p->threads) {
        httpd__pool_free(p);
        err_set(err, ERR_INTERNAL, "http.oom", "out of memory");
        return NULL;
    }
    for (; p->nthreads < p->o.threads; p->nthreads++) {
        if (pthread_create(&p->threads[p->nthreads], NULL, pool_main, p) != 0) {
            httpd__pool_free(p);
            err_set(err, ERR_INTERNAL, "http.thread", "cannot start the %s threads", opts->name);
            return NULL;
        }
        char tname[16];
        snprintf(tname, sizeof(tname), "%.10s-%d", p->name, p->nthreads);
        pthread_setname_np(p->threads[p->nthreads], tname);
    }
    if (httpd__own(h, p, owned_stop, owned_free) < 0) {
        httpd__pool_free(p);
        err_set(err, ERR_INTERNAL, "http.oom", "out of memory");
        return NULL;
    }
    return p;
}

int httpd_pool_route(httpd_pool_t *p, const char *method, const char *path, httpd_route_fn fn, void *udata)
{
    if (!p)
        return -1;
    pool_route_t *rt = calloc(1, sizeof(*rt));
    pool_route_t **rs = rt ? realloc(p->routes, (p->nroutes + 1) * sizeof(*rs)) : NULL;
    if (!rs) {
        free(rt);
        return -1;
    }
    p->routes = rs;
    *rt = (pool_route_t){p, fn, udata};
    p->routes[p->nroutes++] = rt;
    return httpd_route(p->h, method, path, enter, rt);
}
