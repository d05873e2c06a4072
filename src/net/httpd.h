/* httpd: a small adapter over libmicrohttpd. Routes (method + exact path) get the whole request (headers and a
 * length-capped body) and answer either at once or later from any thread (httpd_defer + httpd_respond), so a
 * request waiting for its durable commit never blocks a polling thread. Bodies over the limit get 413 here.
 * Not here: what any route means. */
#ifndef SYNCHUB_HTTPD_H
#define SYNCHUB_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct httpd httpd_t;
typedef struct httpd_req httpd_req_t;

/* Runs on a polling thread with the complete request. It must call httpd_respond once, now or (after httpd_defer)
 * later from any thread. */
typedef void (*httpd_route_fn)(void *udata, httpd_req_t *req);

typedef struct httpd_opts {
    const char *host;
    int port;
    int threads;
    size_t max_body;
} httpd_opts_t;

httpd_t *httpd_new(const httpd_opts_t *opts, err_t *err);
/* Before httpd_start only. method "GET"/"POST"/…; path matched exactly, or, when it ends in '*', as a prefix
 * ("/api/jobs/" followed by a star takes "/api/jobs/3f2a…/retry"; the route reads the rest with httpd_req_path). Exact routes win
 * over prefix routes, and a longer prefix over a shorter one. 0 or -1. */
int httpd_route(httpd_t *h, const char *method, const char *path, httpd_route_fn fn, void *udata);
int httpd_start(httpd_t *h, err_t *err);
/* Stop accepting connections (SIGTERM); requests already in flight still get their answer. */
void httpd_quiesce(httpd_t *h);
/* Wait (up to wait_ms) for deferred requests to be answered, then stop and free. NULL is a no-op. */
void httpd_free(httpd_t *h, int wait_ms);

/* How many requests for the route (method and path as registered) were refused with 413 before reaching it
 * (for /metrics). Any thread, after httpd_start. */
uint64_t httpd_too_large(const httpd_t *h, const char *method, const char *path);

/* Inside a route callback only (the connection's data is valid there), or, after httpd_req_keep, on the thread that
 * answers the request. */
const char *httpd_req_header(httpd_req_t *r, const char *name);  /* case-insensitive; NULL if absent */
const char *httpd_req_body(httpd_req_t *r, size_t *len);         /* never NULL; NUL-terminated copy */
const char *httpd_req_path(httpd_req_t *r);                      /* the URL path, without the query string */
const char *httpd_req_method(httpd_req_t *r);                    /* "GET", "POST", … */
const char *httpd_req_arg(httpd_req_t *r, const char *name);     /* a query-string argument, decoded; NULL if absent */
/* Copy the request's headers and query arguments into the request, so that httpd_req_header / httpd_req_arg (and
 * httpd_req_body, httpd_req_path, httpd_req_method, always copies) keep working after the route returns, on the
 * thread that will answer it (httpd_pool). Inside the route callback, before httpd_defer. 0 or -1 (out of memory). */
int httpd_req_keep(httpd_req_t *r);
/* Add a response header (WWW-Authenticate, Content-Security-Policy, …) to the answer this route will give.
 * Before httpd_respond, on the thread that answers. Values are copied. 0 or -1. */
int httpd_add_header(httpd_req_t *r, const char *name, const char *value);
/* Is content_type (a request's Content-Type, may be NULL) exactly the media type type, parameters allowed
 * ("application/json; charset=utf-8" yes, "application/jsonx" no)? Case-insensitive. */
bool httpd_media_type_is(const char *content_type, const char *type);
void httpd_defer(httpd_req_t *r);                                 /* the answer will come from httpd_respond later */

/* Answer the request (copies body). Exactly once per request; any thread once deferred. */
void httpd_respond(httpd_req_t *r, int status, const char *content_type, const char *body, size_t len);
/* Answer with a small JSON object built from a printf format. */
void httpd_respond_json(httpd_req_t *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* For what is built on httpd (httpd_pool.c) and nothing else: h keeps obj; httpd_free calls stop(obj) before the
 * daemon stops (no suspended request may outlive it) and release(obj) after it stopped. Before httpd_start. 0, or
 * -1 on out of memory (nothing kept). */
typedef void (*httpd_owned_fn)(void *obj);
int httpd__own(httpd_t *h, void *obj, httpd_owned_fn stop, httpd_owned_fn release);

#endif
