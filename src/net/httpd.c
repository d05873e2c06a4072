/* httpd: libmicrohttpd in its internal thread-pool mode with suspend/resume. A request's lifecycle:
 *   RECEIVING (body chunks appended, 413 past max_body) → HANDLING (route called) → [SUSPENDED until
 *   httpd_respond resumes it] → ANSWERED (response queued) → freed in on_completed.
 * The route may answer from another thread before it returns; the answer is then queued on the next call that
 * libmicrohttpd makes after the resume, never on a suspended connection. */
#define _GNU_SOURCE
#include "net/httpd.h"

#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "core/buf.h"

typedef struct route {
    char *method, *path;
    size_t prefix;           /* > 0: a prefix route matching the first `prefix` bytes of path */
    httpd_route_fn fn;
    void *udata;
    atomic_uint_fast64_t too_large;   /* bodies refused here with 413 (httpd_too_large) */
} route_t;

/* One object httpd_free stops before the daemon and releases after it (httpd__own). */
typedef struct owned {
    void *obj;
    httpd_owned_fn stop, release;
} owned_t;

struct httpd {
    httpd_opts_t opts;
    char *host;
    struct MHD_Daemon *d;
    route_t *routes;
    size_t nroutes;
    atomic_int deferred;     /* suspended requests not yet answered */
    atomic_int handling;     /* polling threads inside a route right now (they may still defer) */
    atomic_bool stopping;    /* httpd_quiesce: new requests on kept-alive connections get 503 and no route */
    owned_t *pools;          /* what is built on h (httpd_pool.c's pools): stopped and freed by httpd_free */
    size_t npools;
};

enum { R_RECEIVING, R_HANDLING, R_QUEUED };

/* A request header or query argument copied out of the connection (httpd_req_keep). value may be NULL ("?flag"). */
typedef struct kept {
    enum MHD_ValueKind kind;
    char *name, *value;
} kept_t;

struct httpd_req {
    httpd_t *h;
    struct MHD_Connection *conn;
    route_t *route;
    char *path, *method;
    char **headers;          /* extra response headers: name, value, name, value, … */
    size_t nheaders;
    int state;
    bool too_large;
    bool deferred;
    buf_t body;
    kept_t *kept;            /* httpd_req_keep: headers and arguments readable from any thread */
    size_t nkept;
    bool keep_failed;
    /* The answer; published with `answered` (release) so another thread may write it. */
    int status;
    char *ctype;
    char *resp;
    size_t resp_len;
    atomic_bool answered;
};

static enum MHD_Result queue_answer(httpd_req_t *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->resp_len, r->resp ? r->resp : (char *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->ctype ? r->ctype : "text/plain");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    for (size_t i = 0; i + 1 < r->nheaders; i += 2)
        MHD_add_response_header(resp, r->headers[i], r->headers[i + 1]);
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    r->state = R_QUEUED;
    return rc;
}

static void set_answer(httpd_req_t *r, int status, const char *ctype, const char *body, size_t len)
{
    r->status = status;
    r->ctype = strdup(ctype ? ctype : "text/plain");
    r->resp = malloc(len + 1);
    if (r->resp) {
        memcpy(r->resp, body, len);
        r->resp[len] = '\0';
        r->resp_len = len;
    } else {
        r->status = 500;
        r->resp_len = 0;
    }
}

static enum MHD_Result answer_now(httpd_req_t *r, int status, const char *json)
{
    set_answer(r, status, "application/json", json, strlen(json));
    atomic_store_explicit(&r->answered, true, memory_order_release);
    return queue_answer(r);
}

/* 413, counted for the route: the route itself never sees the request, so this is where it can be measured. */
static enum MHD_Result answer_too_large(httpd_req_t *r)
{
    atomic_fetch_add_explicit(&r->route->too_large, 1, memory_order_relaxed);
    return answer_now(r, 413, "{\"error\":\"body larger than the configured max_body\"}");
}

/* Exact routes first; then the longest matching prefix. path_known: some route has this path (405, not 404). HEAD is
 * answered by the GET route (libmicrohttpd sends the headers only). */
static route_t *find_route(httpd_t *h, const char *method, const char *url, bool *path_known)
{
    route_t *best = NULL;
    *path_known = false;
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    for (size_t i = 0; i < h->nroutes; i++) {
        route_t *rt = &h->routes[i];
        if (rt->prefix ? strncmp(rt->path, url, rt->prefix) != 0 : strcmp(rt->path, url) != 0)
            continue;
        *path_known = true;
        if (strcmp(rt->method, method) != 0)
            continue;
        if (!rt->prefix)
            return rt;
        if (!best || rt->prefix > best->prefix)
            best = rt;
    }
    return best;
}

/* Request framing a proxy in front of synchub may read differently (request smuggling): two Content-Length headers
 * that differ. libmicrohttpd would take the first. */
typedef struct framing {
    const char *first_length;
    bool conflict;
} framing_t;

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    framing_t *f = cls;
    if (strcasecmp(key, "Content-Length") == 0) {
        if (!f->first_length)
            f->first_length = value ? value : "";
        else if (strcmp(f->first_length, value ? value : "") != 0)
            f->conflict = true;
    }
    return MHD_YES;
}

/* Answer and close: after a framing error the rest of the connection's bytes cannot be trusted. */
static enum MHD_Result answer_close(httpd_req_t *r, int status, const char *json)
{
    httpd_add_header(r, "Connection", "close");
    return answer_now(r, status, json);
}

/* false when synchub can read the request's framing unambiguously; true with the answer queued (*rc) otherwise. */
static bool bad_framing(httpd_req_t *r, struct MHD_Connection *conn, enum MHD_Result *rc)
{
    framing_t f = {NULL, false};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, framing_header, &f);
    if (f.conflict) {
        *rc = answer_close(r, 400, "{\"error\":\"conflicting Content-Length headers\"}");
        return true;
    }
    /* Only chunked is understood; anything else (gzip, "chunked, identity") left libmicrohttpd waiting for a body
     * it cannot delimit until the idle timeout. */
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
    if (te && strcasecmp(te, "chunked") != 0) {
        *rc = answer_close(r, 501, "{\"error\":\"unsupported Transfer-Encoding (only chunked is accepted)\"}");
        return true;
    }
    return false;
}

bool httpd_media_type_is(const char *content_type, const char *type)
{
    size_t n = strlen(type);
    if (!content_type || strncasecmp(content_type, type, n) != 0)
        return false;
    char next = content_type[n];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    httpd_t *h = cls;
    httpd_req_t *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->h = h;
        r->conn = conn;
        atomic_init(&r->answered, false);
        *con_cls = r;
        r->path = strdup(url);
        r->method = strdup(method);
        if (!r->path || !r->method)
            return MHD_NO;
        bool path_known;
        enum MHD_Result framing_rc;
        if (bad_framing(r, conn, &framing_rc))
            return framing_rc;
        r->route = find_route(h, method, url, &path_known);
        if (!r->route)
            return answer_now(r, path_known ? 405 : 404,
                              path_known ? "{\"error\":\"method not allowed\"}" : "{\"error\":\"not found\"}");
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > h->opts.max_body)
            return answer_too_large(r);
        return MHD_YES;
    }
    if (r->state == R_RECEIVING) {
        if (*upload_data_size) {
            if (!r->too_large) {
                if (r->body.len + *upload_data_size > r->h->opts.max_body) {
                    r->too_large = true;
                    buf_release(&r->body);
                } else if (buf_append(&r->body, upload_data, *upload_data_size) < 0) {
                    return MHD_NO;
                }
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (r->too_large)
            return answer_too_large(r);
        r->state = R_HANDLING;
        /* Once stopping, no request may be suspended any more: libmicrohttpd aborts the process when it is stopped
         * with a suspended connection, and keep-alive clients go on sending after the listen socket is closed.
         * handling is raised before stopping is read, so httpd_free either sees this thread or it sees stopping. */
        atomic_fetch_add(&h->handling, 1);
        if (atomic_load(&h->stopping)) {
            atomic_fetch_sub(&h->handling, 1);
            httpd_add_header(r, "Connection", "close");
            return answer_now(r, 503, "{\"error\":\"shutting down; retry later\",\"code\":\"http.stopping\"}");
        }
        r->route->fn(r->route->udata, r);
        atomic_fetch_sub(&h->handling, 1);
        if (r->deferred)
            return MHD_YES; /* suspended; we are called again after httpd_respond resumes us */
    }
    if (r->state == R_HANDLING && atomic_load_explicit(&r->answered, memory_order_acquire))
        return queue_answer(r);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)conn;
    (void)t;
    httpd_req_t *r = *con_cls;
    if (!r)
        return;
    buf_release(&r->body);
    free(r->ctype);
    free(r->resp);
    free(r->path);
    free(r->method);
    for (size_t i = 0; i < r->nheaders; i++)
        free(r->headers[i]);
    free(r->headers);
    for (size_t i = 0; i < r->nkept; i++) {
        free(r->kept[i].name);
        free(r->kept[i].value);
    }
    free(r->kept);
    free(r);
    *con_cls = NULL;
}

httpd_t *httpd_new(const httpd_opts_t *opts, err_t *err)
{
    httpd_t *h = calloc(1, sizeof(*h));
    if (!h) {
        err_set(err, ERR_INTERNAL, "http.oom", "out of memory");
        return NULL;
    }
    h->opts = *opts;
    h->host = strdup(opts->host ? opts->host : "127.0.0.1");
    h->opts.host = h->host;
    atomic_init(&h->deferred, 0);
    return h;
}

int httpd_route(httpd_t *h, const char *method, const char *path, httpd_route_fn fn, void *udata)
{
    route_t *r = realloc(h->routes, (h->nroutes + 1) * sizeof(*r));
    if (!r)
        return -1;
    h->routes = r;
    size_t len = strlen(path);
    r[h->nroutes].method = strdup(method);
    r[h->nroutes].path = strdup(path);
    if (!r[h->nroutes].method || !r[h->nroutes].path) {
        free(r[h->nroutes].method);
        free(r[h->nroutes].path);
        return -1;
    }
    r[h->nroutes].prefix = len > 0 && path[len - 1] == '*' ? len - 1 : 0;
    r[h->nroutes].fn = fn;
    r[h->nroutes].udata = udata;
    atomic_init(&r[h->nroutes].too_large, 0);
    h->nroutes++;
    return 0;
}

int httpd_start(httpd_t *h, err_t *err)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof(port), "%d", h->opts.port);
    int gai = getaddrinfo(h->host, port, &hints, &ai);
    if (gai != 0)
        return err_set(err, ERR_CONFIGURATION, "http.listen", "cannot resolve listen address %s: %s", h->host,
                       gai_strerror(gai));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, (uint16_t)h->opts.port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(h->opts.threads > 0 ? h->opts.threads : 1),
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d)
        return err_set(err, ERR_CONFIGURATION, "http.listen",
                       "cannot listen on %s:%d (address in use, or not an address of this machine)", h->host,
                       h->opts.port);
    return 0;
}

void httpd_quiesce(httpd_t *h)
{
    if (h)
        atomic_store(&h->stopping, true);
    if (h && h->d) {
        MHD_socket fd = MHD_quiesce_daemon(h->d);
        (void)fd; /* MHD keeps owning the listen socket until stop */
    }
}

void httpd_free(httpd_t *h, int wait_ms)
{
    if (!h)
        return;
    atomic_store(&h->stopping, true);
    for (int waited = 0; (atomic_load(&h->handling) > 0 || atomic_load(&h->deferred) > 0) && waited < wait_ms;
         waited += 10) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    /* The pools' threads hold suspended requests, which the daemon frees when it stops: they end first. A polling
     * thread entering a pool route after this gets 503, so the pools themselves are freed only after the daemon. */
    for (size_t i = 0; i < h->npools; i++)
        h->pools[i].stop(h->pools[i].obj);
    if (atomic_load(&h->deferred) > 0 || atomic_load(&h->handling) > 0)
        return; /* a commit outlived wait_ms: stopping the daemon now would abort; the process is ending anyway */
    if (h->d)
        MHD_stop_daemon(h->d);
    for (size_t i = 0; i < h->npools; i++)
        h->pools[i].release(h->pools[i].obj);
    free(h->pools);
    for (size_t i = 0; i < h->nroutes; i++) {
        free(h->routes[i].method);
        free(h->routes[i].path);
    }
    free(h->routes);
    free(h->host);
    free(h);
}

uint64_t httpd_too_large(const httpd_t *h, const char *method, const char *path)
{
    uint64_t n = 0;
    for (size_t i = 0; h && i < h->nroutes; i++)
        if (!strcmp(h->routes[i].method, method) && !strcmp(h->routes[i].path, path))
            n += atomic_load_explicit(&h->routes[i].too_large, memory_order_relaxed);
    return n;
}

int httpd__own(httpd_t *h, void *obj, httpd_owned_fn stop, httpd_owned_fn release)
{
    owned_t *ps = realloc(h->pools, (h->npools + 1) * sizeof(*ps));
    if (!ps)
        return -1;
    h->pools = ps;
    h->pools[h->npools++] = (owned_t){.obj = obj, .stop = stop, .release = release};
    return 0;
}

static enum MHD_Result keep_value(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    httpd_req_t *r = cls;
    kept_t *k = realloc(r->kept, (r->nkept + 1) * sizeof(*k));
    if (!k) {
        r->keep_failed = true;
        return MHD_NO;
    }
    r->kept = k;
    k[r->nkept] = (kept_t){kind, strdup(key), value ? strdup(value) : NULL};
    if (!k[r->nkept].name || (value && !k[r->nkept].value)) {
        free(k[r->nkept].name);
        free(k[r->nkept].value);
        r->keep_failed = true;
        return MHD_NO;
    }
    r->nkept++;
    return MHD_YES;
}

int httpd_req_keep(httpd_req_t *r)
{
    if (r->kept)
        return 0;
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, keep_value, r);
    /* Even a request without headers or arguments is kept (an empty list), so the readers stop asking MHD. */
    if (!r->keep_failed && !r->kept)
        r->kept = calloc(1, sizeof(*r->kept));
    return r->keep_failed || !r->kept ? -1 : 0;
}

/* The first kept value of that kind and name; names compare without case, as MHD_lookup_connection_value does. */
static const char *kept_value(httpd_req_t *r, enum MHD_ValueKind kind, const char *name)
{
    for (size_t i = 0; i < r->nkept; i++)
        if (r->kept[i].kind == kind && strcasecmp(r->kept[i].name, name) == 0)
            return r->kept[i].value;
    return NULL;
}

const char *httpd_req_header(httpd_req_t *r, const char *name)
{
    if (r->kept)
        return kept_value(r, MHD_HEADER_KIND, name);
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *httpd_req_body(httpd_req_t *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return buf_str(&r->body);
}

const char *httpd_req_path(httpd_req_t *r)
{
    return r->path;
}

const char *httpd_req_method(httpd_req_t *r)
{
    return r->method;
}

const char *httpd_req_arg(httpd_req_t *r, const char *name)
{
    if (r->kept)
        return kept_value(r, MHD_GET_ARGUMENT_KIND, name);
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

int httpd_add_header(httpd_req_t *r, const char *name, const char *value)
{
    char **hv = realloc(r->headers, (r->nheaders + 2) * sizeof(*hv));
    if (!hv)
        return -1;
    r->headers = hv;
    hv[r->nheaders] = strdup(name);
    hv[r->nheaders + 1] = strdup(value);
    if (!hv[r->nheaders] || !hv[r->nheaders + 1]) {
        free(hv[r->nheaders]);
        free(hv[r->nheaders + 1]);
        return -1;
    }
    r->nheaders += 2;
    return 0;
}

void httpd_defer(httpd_req_t *r)
{
    r->deferred = true;
    atomic_fetch_add(&r->h->deferred, 1);
    MHD_suspend_connection(r->conn);
}

void httpd_respond(httpd_req_t *r, int status, const char *content_type, const char *body, size_t len)
{
    set_answer(r, status, content_type, body, len);
    atomic_store_explicit(&r->answered, true, memory_order_release);
    if (r->deferred) {
        httpd_t *h = r->h;
        MHD_resume_connection(r->conn);
        atomic_fetch_sub(&h->deferred, 1);
    }
}

void httpd_respond_json(httpd_req_t *r, int status, const char *fmt, ...)
{
    buf_t b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    httpd_respond(r, status, "application/json", buf_str(&b), b.len);
    buf_release(&b);
}
