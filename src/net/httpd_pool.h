/* httpd_pool: a few threads of their own that answer slow routes (the dashboard API's store queries) so that a
 * polling thread only copies the request and moves on: the webhooks those threads also serve never wait behind an
 * operator's query. A bounded queue sits in front; when it is full the request is answered 503 with Retry-After at
 * once, from the polling thread, which never blocks here. Not here: what the routes answer. */
#ifndef SYNCHUB_HTTPD_POOL_H
#define SYNCHUB_HTTPD_POOL_H

#include "core/err.h"
#include "net/httpd.h"

typedef struct httpd_pool httpd_pool_t;

typedef struct httpd_pool_opts {
    const char *name;   /* for logs and the threads' names ("web") */
    int threads;        /* at least 1 */
    int queue_max;      /* requests waiting for a thread; at least 1 */
} httpd_pool_opts_t;

/* A pool whose threads start now, owned by h: httpd_free waits for the requests it has accepted, then stops it
 * (anything still queued is answered 503, running requests finish) before the daemon stops, and frees it after.
 * Before httpd_start. NULL on failure (err set). */
httpd_pool_t *httpd_pool_new(httpd_t *h, const httpd_pool_opts_t *opts, err_t *err);
/* Register a route (as httpd_route) whose requests fn answers on one of the pool's threads, with the request's
 * headers, query arguments and body kept (httpd_req_keep) so the httpd_req_* readers work there; it must call
 * httpd_respond once. Before httpd_start. 0 or -1 (also for p NULL, so a failed httpd_pool_new can be passed on). */
int httpd_pool_route(httpd_pool_t *p, const char *method, const char *path, httpd_route_fn fn, void *udata);

/* For httpd_free (through httpd__own): stop, then (after the daemon stopped and no polling thread can enter the
 * pool's routes any more) free. */
void httpd__pool_stop(httpd_pool_t *p);
void httpd__pool_free(httpd_pool_t *p);

#endif
