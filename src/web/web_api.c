/* web_api: the dashboard's JSON API (GET/POST /api/…) and the routes that serve the page. Every /api request needs
 * an operator's bearer token; POSTs need Content-Type: application/json. The API is answered on the web threads
 * ([server] web_threads, an httpd_pool), each request on a store connection of its own, never on a polling
 * thread: a dashboard query takes tens of milliseconds on a large store, and the polling threads acknowledge
 * webhooks.
 * Actions go through store_operate_as / store_bulk_as, so the job change and its audit row commit together, exactly
 * as the CLI's. Not here: the queries (store_sqlite_ops.c, store_pg_ops.c) or the page. */
#define _GNU_SOURCE
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "queue/queue_breaker.h"
#include "core/log.h"
#include "net/httpd_pool.h"
#include "obs/trace.h"
#include "flows/flow_catalog.h"
#include "web/web.h"

struct web {
    const cfg_t *cfg;
    store_db_t *db;
};

/* What one API call answers: a status and a JSON body (owned). */
typedef struct answer {
    int status;
    json_t *body;
} answer_t;

typedef struct call {
    web_t *w;
    httpd_req_t *req;
    store_t *s;
    const cfg_operator_t *op;
    char actor[80];
    const char *rest;       /* the path after "/api/" */
} call_t;

/* ---- helpers ------------------------------------------------------------------------------------------------- */

static json_t *iso(int64_t ms)
{
    char t[40];
    return ms > 0 ? json_string(clock_format_iso8601(ms, t, sizeof(t))) : json_null();
}

static answer_t fail(int status, const char *code, const char *message, const char *hint)
{
    return (answer_t){status, json_pack("{s:s, s:s, s:s?}", "error", message, "code", code, "hint", hint)};
}

/* An err_t from the store as an answer: a missing job is 404, a refused transition 409, bad input 400, a busy or
 * full store 503, anything else 500. */
static answer_t fail_err(const err_t *e)
{
    int status = e->cls == ERR_TRANSIENT ? 503 : e->cls == ERR_INTERNAL ? 500 : 400;
    if (e->cls == ERR_DATA && strcmp(e->code, "job.not_found") == 0)
        status = 404;
    else if (e->cls == ERR_DATA && (strcmp(e->code, "job.state") == 0 || strcmp(e->code, "job.ambiguous") == 0))
        status = 409;
    return fail(status, e->code, e->message, e->hint[0] ? e->hint : NULL);
}

static answer_t ok(json_t *body)
{
    return body ? (answer_t){200, body} : fail(500, "web.oom", "out of memory", NULL);
}

/* The four answers an operator needs about a failure (the same wording as `synchub jobs show`). */
static json_t *answers_json(const err_t *e, job_state_t st)
{
    if (e->cls == ERR_NONE)
        return json_null();
    bool temporary = e->cls == ERR_TRANSIENT || e->cls == ERR_INTERNAL;
    return json_pack("{s:s, s:s, s:s?, s:s, s:s}", "record", e->record[0] ? e->record : "-", "missing", e->message,
                     "hint", e->hint[0] ? e->hint : NULL, "temporary",
                     temporary ? (st == JOB_DEAD ? "temporary, but the attempts ran out" : "temporary: retried "
                                                                                           "automatically")
                               : (e->cls == ERR_CONFIGURATION ? "configuration: needs an operator fix (see hint)"
                                                              : "data: needs a fix of the record or a decision"),
                     "retry_safe", e->retry_safe ? (temporary ? "yes" : "yes, after the fix") : "no: check first");
}

static json_t *error_json(const err_t *e)
{
    if (e->cls == ERR_NONE)
        return json_null();
    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:b}", "class", err_class_name(e->cls), "code", e->code,
                     "message", e->message, "record", e->record[0] ? e->record : NULL, "hint",
                     e->hint[0] ? e->hint : NULL, "retry_safe", e->retry_safe);
}

static json_t *job_summary(const job_t *j)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:o, s:o, s:o}", "id", j->id, "kind", j->kind, "state",
                     job_state_name(j->state), "ordering_key", j->ordering_key, "attempts", j->attempts,
                     "max_attempts", j->max_attempts, "created_at", iso(j->created_at), "updated_at",
                     iso(j->updated_at), "error", j->state == JOB_DONE ? json_null() : error_json(&j->last_error));
}

static json_t *jobs_array(job_t **jobs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, job_summary(jobs[i]));
    return a;
}

static long arg_long(httpd_req_t *r, const char *name, long dflt, long lo, long hi)
{
    const char *v = httpd_req_arg(r, name);
    char *end;
    long n = v && *v ? strtol(v, &end, 10) : dflt;
    if (v && *v && *end)
        n = dflt;
    return n < lo ? lo : n > hi ? hi : n;
}

/* The request body as a JSON object, or NULL. */
static json_t *body_object(httpd_req_t *r)
{
    size_t len;
    const char *b = httpd_req_body(r, &len);
    json_t *v = len ? json_loadb(b, len, 0, NULL) : NULL;
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* ---- GET /api/overview ----------------------------------------------------------------------------------------- */

static const char *const bucket_classes[] = {"transient", "configuration", "data", "internal"};

static answer_t api_overview(call_t *c)
{
    err_t err;
    int64_t now = clock_now_ms();
    long hours = arg_long(c->req, "hours", 6, 1, 48);
    enum { NB = 60 };
    int64_t bucket_ms = hours * 3600000 / NB;
    /* Buckets end at the next whole bucket after now, so the last one is the current one. */
    int64_t end = (now / bucket_ms + 1) * bucket_ms;
    store_stats_t st;
    store_bucket_t b[NB], hour;
    if (store_stats(c->s, now, &st, &err) < 0 || store_activity(c->s, end - NB * bucket_ms, bucket_ms, NB, b, &err) < 0 ||
        store_activity(c->s, now - 3600000, 3600000, 1, &hour, &err) < 0)
        return fail_err(&err);
    json_t *counts = json_object();
    for (int i = 0; i < JOB_STATE_COUNT; i++)
        json_object_set_new(counts, job_state_name((job_state_t)i), json_integer(st.by_state[i]));
    json_t *buckets = json_array();
    for (int i = 0; i < NB; i++) {
        json_t *failed = json_object();
        for (int k = ERR_TRANSIENT; k <= ERR_INTERNAL; k++)
            json_object_set_new(failed, bucket_classes[k - 1],
                                json_integer(b[i].failed[k] + (k == ERR_TRANSIENT ? b[i].failed[ERR_NONE] : 0)));
        json_array_append_new(buckets, json_pack("{s:o, s:I, s:o}", "at", iso(b[i].start), "done",
                                                 (json_int_t)b[i].done, "failed", failed));
    }
    int64_t failed_hour = 0;
    for (int k = ERR_NONE; k <= ERR_INTERNAL; k++)
        failed_hour += hour.failed[k];
    double lag = st.oldest_due_ms ? (double)(now - st.oldest_due_ms) / 1000.0 : 0.0;
    /* targets whose breaker is open: their work is paused (queue_breaker.h), as the nodes published it */
    queue_breaker_view_t bv[32];
    size_t nb = 0;
    json_t *paused = json_array();
    if (queue_breaker_load(c->s, bv, 32, &nb, &err) < 0)
        nb = 0;
    for (size_t i = 0; i < nb && i < 32; i++)
        if (bv[i].state != BREAKER_CLOSED)
            json_array_append_new(paused, json_pack("{s:s, s:s, s:s, s:o, s:I}", "target", bv[i].target, "system",
                                                    bv[i].system, "state", queue_breaker_state_name(bv[i].state),
                                                    "since", iso(bv[i].since), "jobs", (json_int_t)bv[i].paused));
    return ok(json_pack("{s:o, s:o, s:o, s:I, s:f, s:o, s:I, s:I, s:I, s:f, s:I, s:o}", "now", iso(now), "paused",
                        paused, "counts",
                        counts, "dead", (json_int_t)st.by_state[JOB_DEAD], "lag_seconds", lag, "oldest_queued_at",
                        iso(st.oldest_queued_ms), "retries_last_hour", (json_int_t)st.retries_last_hour,
                        "done_last_hour", (json_int_t)hour.done, "failed_last_hour", (json_int_t)failed_hour,
                        "throughput_per_minute", (double)hour.done / 60.0, "bucket_seconds",
                        (json_int_t)(bucket_ms / 1000), "buckets", buckets));
}

/* ---- failures ---------------------------------------------------------------------------------------------------- */

static json_t *split_list(const char *list)
{
    json_t *a = json_array();
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n)
            json_array_append_new(a, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return a;
}

static answer_t api_failures(call_t *c)
{
    err_t err;
    store_cause_t *causes = NULL;
    size_t n = 0;
    if (store_failures(c->s, (int)arg_long(c->req, "limit", 100, 1, 1000), &causes, &n, &err) < 0)
        return fail_err(&err);
    json_t *list = json_array();
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const store_cause_t *k = &causes[i];
        total += k->count;
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:I, s:b, s:I, s:b, s:o, s:o, s:{s:s, s:s, s:s?, s:s?}, s:o}", "class",
                            err_class_name(k->cls), "code", k->code, "count", (json_int_t)k->count, "retry_safe",
                            k->unsafe == 0, "unsafe", (json_int_t)k->unsafe, "temporary",
                            k->cls == ERR_TRANSIENT || k->cls == ERR_INTERNAL, "kinds", split_list(k->kinds),
                            "last_at", iso(k->last_at), "sample", "job", k->sample_id, "message", k->sample.message,
                            "record", k->sample.record[0] ? k->sample.record : NULL, "hint",
                            k->sample.hint[0] ? k->sample.hint : NULL, "answers", answers_json(&k->sample, JOB_DEAD)));
    }
    free(causes);
    return ok(json_pack("{s:I, s:o}", "dead", (json_int_t)total, "causes", list));
}

static answer_t api_failures_act(call_t *c, store_op_t op)
{
    json_t *b = body_object(c->req);
    const char *cls_name = json_string_value(json_object_get(b, "class"));
    const char *code = json_string_value(json_object_get(b, "code"));
    err_class_t cls;
    answer_t a;
    /* Both are required: a bulk action names one cause, never "everything dead". */
    if (!cls_name || err_class_parse(cls_name, &cls) < 0 || cls == ERR_NONE || !code) {
        a = fail(400, "web.cause", "the body must be {\"class\": \"transient|configuration|data|internal\", "
                                   "\"code\": \"…\"}, one cause of GET /api/failures", NULL);
    } else {
        err_t err;
        int n = 0;
        if (store_bulk_as(c->s, c->actor, op, cls, code, clock_now_ms(), &n, &err) < 0) {
            a = fail_err(&err);
        } else {
            char count[24];
            snprintf(count, sizeof(count), "%d", n);
            log_kv(LOG_LVL_INFO, "web", "operator action", "actor", c->actor, "action",
                   op == STORE_OP_RETRY ? "bulk-retry" : "bulk-discard", "class", cls_name, "code", code, "count",
                   count, NULL);
            a = ok(json_pack("{s:s, s:s, s:s, s:i}", "action", op == STORE_OP_RETRY ? "retry" : "discard", "class",
                             cls_name, "code", code, "count", n));
        }
    }
    json_decref(b);
    return a;
}

/* ---- jobs -------------------------------------------------------------------------------------------------------- */

static answer_t api_jobs(call_t *c)
{
    store_filter_t f = {-1, NULL, (int)arg_long(c->req, "limit", 100, 1, 1000)};
    const char *state = httpd_req_arg(c->req, "state"), *kind = httpd_req_arg(c->req, "kind");
    const char *q = httpd_req_arg(c->req, "q");
    job_state_t st;
    if (state && *state) {
        if (job_state_parse(state, &st) < 0)
            return fail(400, "web.state", "state is one of queued, running, retry, done, dead, discarded", NULL);
        f.state = (int)st;
    }
    f.kind = kind && *kind ? kind : NULL;
    job_t **jobs;
    size_t n;
    err_t err;
    if (store_jobs_query(c->s, &f, q && *q ? q : NULL, &jobs, &n, &err) < 0)
        return fail_err(&err);
    json_t *list = jobs_array(jobs, n);
    job_list_free(jobs, n);
    return ok(json_pack("{s:o}", "jobs", list));
}

/* The job named by the path: 1 (*out), or 0 with the answer set. */
static int path_job(call_t *c, const char *id, job_t **out, answer_t *a)
{
    err_t err;
    int rc = store_job_get(c->s, id, out, &err);
    if (rc == 0)
        *a = fail(404, "job.not_found", "no such job", NULL);
    else if (rc < 0)
        *a = fail_err(&err);
    return rc > 0;
}

static json_t *payload_json(const job_t *j, bool masked, size_t *nmasked)
{
    json_t *p = json_loads(j->payload, JSON_DECODE_ANY, NULL);
    if (!p)
        p = json_string(j->payload);
    size_t n = masked ? web_mask_payload(p) : 0;
    if (nmasked)
        *nmasked = n;
    return p;
}

static answer_t api_job(call_t *c, const char *id)
{
    job_t *j = NULL;
    answer_t a;
    if (!path_job(c, id, &j, &a))
        return a;
    err_t err;
    json_t *o = NULL;
    if (trace_job_json(c->s, j, &o, &err) < 0) {
        job_free(j);
        return fail_err(&err);
    }
    size_t nmasked = 0;
    json_t *meta = j->meta ? json_loads(j->meta, 0, NULL) : NULL;
    json_object_set_new(o, "ordering_key", json_string(j->ordering_key));
    json_object_set_new(o, "priority", json_integer(j->priority));
    json_object_set_new(o, "attempt_count", json_integer(j->attempts));
    json_object_set_new(o, "max_attempts", json_integer(j->max_attempts));
    json_object_set_new(o, "event_time", iso(j->event_time));
    json_object_set_new(o, "updated_at", iso(j->updated_at));
    json_object_set_new(o, "run_at", j->state == JOB_QUEUED || j->state == JOB_RETRY ? iso(j->run_at) : json_null());
    json_object_set_new(o, "last_error", j->state == JOB_DONE ? json_null() : error_json(&j->last_error));
    json_object_set_new(o, "answers", j->state == JOB_DONE ? json_null() : answers_json(&j->last_error, j->state));
    json_object_set_new(o, "meta", meta ? meta : json_null());
    json_object_set_new(o, "payload", payload_json(j, true, &nmasked));
    json_object_set_new(o, "payload_masked", json_true());
    json_object_set_new(o, "masked_values", json_integer((json_int_t)nmasked));
    job_free(j);
    return ok(o);
}

static answer_t api_reveal(call_t *c, const char *id)
{
    job_t *j = NULL;
    answer_t a;
    if (!path_job(c, id, &j, &a))
        return a;
    err_t err;
    /* Audit first: if the row cannot be written, nothing is revealed. */
    if (store_audit_add(c->s, c->actor, "reveal", j->id, NULL, &err) < 0) {
        job_free(j);
        return fail_err(&err);
    }
    log_kv(LOG_LVL_INFO, "web", "operator action", "actor", c->actor, "action", "reveal", "job", j->id, NULL);
    a = ok(json_pack("{s:s, s:o, s:b, s:s}", "id", j->id, "payload", payload_json(j, false, NULL), "payload_masked",
                     0, "audited", c->actor));
    job_free(j);
    return a;
}

static answer_t api_operate(call_t *c, const char *id, store_op_t op)
{
    static const char *const verbs[] = {"retry", "discard", "replay"};
    char full[JOB_ID_LEN + 1];
    err_t err;
    if (store_operate_as(c->s, c->actor, id, op, clock_now_ms(), full, &err) < 0)
        return fail_err(&err);
    log_kv(LOG_LVL_INFO, "web", "operator action", "actor", c->actor, "action", verbs[op], "job", full, NULL);
    return ok(json_pack("{s:s, s:s, s:s}", "job", full, "action", verbs[op], "state",
                        op == STORE_OP_DISCARD ? "discarded" : "queued"));
}

/* ---- search, trace, audit ---------------------------------------------------------------------------------------- */

typedef struct found {
    json_t *orders;     /* "shop\norder id" → true: orders already in the results */
    json_t *results;
    json_t *effects;    /* effects by target, collected for a second pass (fn must not use the store) */
} found_t;

static int add_order(call_t *c, found_t *f, const char *shop, const char *ref, const char *matched, err_t *err)
{
    json_t *t = NULL;
    int rc = trace_order(c->s, shop, ref, &t, err);
    if (rc <= 0)
        return rc;
    json_t *order = json_object_get(t, "order");
    char key[300];
    snprintf(key, sizeof(key), "%s\n%lld", shop, (long long)json_integer_value(json_object_get(order, "id")));
    if (!json_object_get(f->orders, key)) {
        json_object_set_new(f->orders, key, json_true());
        json_t *jobs = json_array(), *j;
        size_t i;
        json_array_foreach(json_object_get(t, "jobs"), i, j)
            json_array_append_new(jobs, json_pack("{s:O, s:O, s:O}", "id", json_object_get(j, "id"), "kind",
                                                  json_object_get(j, "kind"), "state", json_object_get(j, "state")));
        json_array_append_new(f->results, json_pack("{s:s, s:s, s:s, s:O, s:o, s:I, s:I}", "type", "order",
                                                    "matched", matched, "shop", shop, "order", order, "jobs", jobs,
                                                    "odoo_writes", (json_int_t)json_array_size(json_object_get(t, "odoo")),
                                                    "deliveries",
                                                    (json_int_t)json_array_size(json_object_get(t, "deliveries"))));
    }
    json_decref(t);
    return 1;
}

static int on_target_effect(const store_effect_t *e, void *ud)
{
    found_t *f = ud;
    json_array_append_new(f->effects, json_pack("{s:s, s:s}", "shop", e->shop ? e->shop : "", "subject",
                                                e->subject ? e->subject : ""));
    return 0;
}

static int on_sku_effect(const store_effect_t *e, void *ud)
{
    json_t *jobs = ud;
    if (e->job_id)
        json_object_set_new(jobs, e->job_id, json_true());
    return 0;
}

static bool hex_id(const char *q)
{
    size_t n = strlen(q);
    return n >= 8 && n <= JOB_ID_LEN && strspn(q, "0123456789abcdef") == n;
}

static answer_t api_search(call_t *c)
{
    const char *q = httpd_req_arg(c->req, "q");
    if (!q || !*q || strlen(q) > 200)
        return fail(400, "web.query", "give q: a Shopify order name (#1042) or id, a SKU, an Odoo reference "
                                      "(sale.order/12) or a job id",
                    NULL);
    found_t f = {json_object(), json_array(), json_array()};
    err_t err;
    int rc = 0;
    const cfg_t *cfg = c->w->cfg;
    if (hex_id(q)) {
        job_t *j = NULL;
        if (store_job_get(c->s, q, &j, &err) > 0) {
            json_array_append_new(f.results, json_pack("{s:s, s:s, s:o}", "type", "job", "matched", "job id",
                                                       "job", job_summary(j)));
            job_free(j);
        }
    }
    /* A Shopify order by name or id, in every configured shop. */
    for (size_t i = 0; i < cfg->nshops && rc >= 0; i++)
        rc = add_order(c, &f, cfg->shops[i].domain, q, q[0] == '#' ? "order name" : "order id or name", &err);
    /* An Odoo reference: "sale.order/12" (or "sale.order,12"), or an external ID, through the effects. */
    char ref[256];
    snprintf(ref, sizeof(ref), "%s", q);
    char *comma = strchr(ref, ',');
    if (comma && strchr(ref, '.'))
        *comma = '/';
    if (rc >= 0 && (strchr(ref, '/') || strncmp(ref, "__synchub__.", 12) == 0))
        rc = store_effects_by_target(c->s, ref, 50, on_target_effect, &f, &err);
    size_t i;
    json_t *e;
    json_array_foreach(f.effects, i, e) {
        const char *subject = json_string_value(json_object_get(e, "subject"));
        if (rc >= 0 && subject && strncmp(subject, "order:", 6) == 0)
            rc = add_order(c, &f, json_string_value(json_object_get(e, "shop")), subject + 6, "odoo reference", &err);
    }
    /* A SKU: the stock pushes recorded for it. */
    for (size_t s = 0; s < cfg->nshops && rc >= 0; s++) {
        char subject[300];
        snprintf(subject, sizeof(subject), "sku:%s", q);
        json_t *ids = json_object();
        rc = store_effects_list(c->s, cfg->shops[s].domain, subject, 0, on_sku_effect, ids, &err);
        if (rc >= 0 && json_object_size(ids)) {
            json_t *jobs = json_array(), *v;
            const char *id;
            json_object_foreach(ids, id, v) {
                job_t *j = NULL;
                if (store_job_get(c->s, id, &j, &err) > 0)
                    json_array_append_new(jobs, job_summary(j));
                job_free(j);
            }
            json_array_append_new(f.results, json_pack("{s:s, s:s, s:s, s:s, s:o}", "type", "sku", "matched", "sku",
                                                       "shop", cfg->shops[s].domain, "sku", q, "jobs", jobs));
        }
        json_decref(ids);
    }
    /* Anything else a job carries: its ordering key (orders, SKUs, shipments), its correlation id. */
    if (rc >= 0 && strlen(q) >= 3) {
        store_filter_t fl = {-1, NULL, 20};
        job_t **jobs;
        size_t n;
        rc = store_jobs_query(c->s, &fl, q[0] == '#' ? q + 1 : q, &jobs, &n, &err);
        if (rc >= 0 && n) {
            json_array_append_new(f.results, json_pack("{s:s, s:s, s:o}", "type", "jobs", "matched",
                                                       "ordering key, correlation or id", "jobs",
                                                       jobs_array(jobs, n)));
            job_list_free(jobs, n);
        }
    }
    answer_t a = rc < 0 ? fail_err(&err)
                        : ok(json_pack("{s:s, s:O, s:s}", "q", q, "results", f.results, "note",
                                       "Odoo sale order names (S00012) are not stored by synchub: search by "
                                       "sale.order/ID, the Shopify order name or id, or a SKU"));
    json_decref(f.orders);
    json_decref(f.results);
    json_decref(f.effects);
    return a;
}

static answer_t api_trace(call_t *c)
{
    const char *shop = httpd_req_arg(c->req, "shop"), *order = httpd_req_arg(c->req, "order");
    if (!order || !*order)
        return fail(400, "web.query", "give order (a Shopify order id or name) and shop", NULL);
    if ((!shop || !*shop) && c->w->cfg->nshops == 1)
        shop = c->w->cfg->shops[0].domain;
    if (!shop || !*shop)
        return fail(400, "web.query", "give shop: several shops are configured", NULL);
    json_t *t = NULL;
    err_t err;
    int rc = trace_order(c->s, shop, order, &t, &err);
    if (rc == 0)
        return fail(404, err.code, err.message, err.hint[0] ? err.hint : NULL);
    return rc < 0 ? fail_err(&err) : ok(t);
}

static int on_audit(const store_audit_t *r, void *ud)
{
    json_t *detail = r->detail ? json_loads(r->detail, 0, NULL) : NULL;
    json_array_append_new(ud, json_pack("{s:I, s:o, s:s, s:s, s:s, s:o}", "id", (json_int_t)r->id, "at", iso(r->at),
                                        "actor", r->actor, "action", r->action, "target", r->target, "detail",
                                        detail ? detail : json_null()));
    return 0;
}

static answer_t api_audit(call_t *c)
{
    json_t *rows = json_array();
    err_t err;
    if (store_audit_list(c->s, (int)arg_long(c->req, "limit", 100, 1, 10000), on_audit, rows, &err) < 0) {
        json_decref(rows);
        return fail_err(&err);
    }
    return ok(json_pack("{s:o}", "audit", rows));
}

/* ---- GET /api/catalog ---------------------------------------------------------------------------------------- */

/* The integration catalog of the running configuration: what `synchub catalog --json` prints. */
static answer_t api_catalog(call_t *c)
{
    json_t *cat = sync_catalog(c->w->cfg);
    return cat ? ok(cat) : fail(503, "web.oom", "out of memory", NULL);
}

/* ---- GET /api/debug/sleep (only with [debug] test_handlers) ------------------------------------------------------ */

/* Holds its web thread until the file `until` exists (at most 60 s), so a test can show that a blocked API request
 * holds up no webhook and that a full queue is refused at once. It creates `until`.started first, so the test knows
 * the request has a thread and is not still queued. */
static answer_t api_debug_sleep(call_t *c)
{
    const char *until = httpd_req_arg(c->req, "until");
    if (!until || !*until)
        return fail(400, "web.query", "give until: a file whose creation ends the sleep", NULL);
    char *started = NULL;
    if (asprintf(&started, "%s.started", until) < 0)
        return fail(500, "web.oom", "out of memory", NULL);
    FILE *f = fopen(started, "w");
    if (f)
        fclose(f);
    free(started);
    int waited = 0;
    for (; access(until, F_OK) != 0 && waited < 60000; waited += 10) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    return ok(json_pack("{s:b}", "woken", waited < 60000));
}

/* ---- dispatch ---------------------------------------------------------------------------------------------------- */

/* "jobs/<id>" or "jobs/<id>/<verb>": the id into id (NUL-terminated), the verb or "". 0, or -1 if not that shape. */
static int split_job_path(const char *rest, char *id, size_t n, const char **verb)
{
    const char *p = rest + 5; /* after "jobs/" */
    size_t len = strcspn(p, "/");
    if (len == 0 || len >= n)
        return -1;
    memcpy(id, p, len);
    id[len] = '\0';
    *verb = p[len] == '/' ? p + len + 1 : "";
    return 0;
}

static answer_t dispatch(call_t *c, bool post)
{
    const char *r = c->rest;
    if (!post) {
        if (!strcmp(r, "overview"))
            return api_overview(c);
        if (!strcmp(r, "failures"))
            return api_failures(c);
        if (!strcmp(r, "jobs"))
            return api_jobs(c);
        if (!strcmp(r, "search"))
            return api_search(c);
        if (!strcmp(r, "trace"))
            return api_trace(c);
        if (!strcmp(r, "audit"))
            return api_audit(c);
        if (!strcmp(r, "catalog"))
            return api_catalog(c);
        if (!strcmp(r, "debug/sleep") && c->w->cfg->test_handlers)
            return api_debug_sleep(c);
    } else {
        if (!strcmp(r, "failures/retry"))
            return api_failures_act(c, STORE_OP_RETRY);
        if (!strcmp(r, "failures/discard"))
            return api_failures_act(c, STORE_OP_DISCARD);
    }
    char id[JOB_ID_LEN + 2];
    const char *verb;
    if (!strncmp(r, "jobs/", 5) && split_job_path(r, id, sizeof(id), &verb) == 0) {
        if (!post && !*verb)
            return api_job(c, id);
        if (post && !strcmp(verb, "retry"))
            return api_operate(c, id, STORE_OP_RETRY);
        if (post && !strcmp(verb, "discard"))
            return api_operate(c, id, STORE_OP_DISCARD);
        if (post && !strcmp(verb, "replay"))
            return api_operate(c, id, STORE_OP_REPLAY);
        if (post && !strcmp(verb, "reveal"))
            return api_reveal(c, id);
    }
    return fail(404, "web.not_found", "no such API endpoint (see docs/SPEC-inbox.md, Dashboard API)", NULL);
}

/* What every answer of the dashboard carries: the page runs only its own files, in no frame, and the browser
 * trusts the declared content types. */
static void security_headers(httpd_req_t *r)
{
    httpd_add_header(r, "Content-Security-Policy",
                     "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                     "form-action 'none'; frame-ancestors 'none'");
    httpd_add_header(r, "X-Content-Type-Options", "nosniff");
    httpd_add_header(r, "X-Frame-Options", "DENY");
    httpd_add_header(r, "Referrer-Policy", "no-referrer");
}

static void respond(httpd_req_t *r, answer_t a)
{
    char *text = a.body ? json_dumps(a.body, JSON_COMPACT) : NULL;
    json_decref(a.body);
    if (!text)
        httpd_respond_json(r, 500, "{\"error\":\"out of memory\",\"code\":\"web.oom\"}");
    else
        httpd_respond(r, a.status, "application/json", text, strlen(text));
    free(text);
}

const cfg_operator_t *web_auth(const cfg_t *cfg, const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    unsigned char given[CRYPTO_SHA256_LEN], want[CRYPTO_SHA256_LEN];
    if (!*tok || crypto_sha256(tok, strlen(tok), given) < 0)
        return NULL;
    const cfg_operator_t *match = NULL;
    /* Compare with every operator (no early exit) so that timing tells nothing about which one, if any, matched. */
    for (size_t i = 0; i < cfg->noperators; i++) {
        const cfg_secret_t *t = &cfg->operators[i].token;
        if (t->value && crypto_sha256(t->value, t->len, want) == 0 &&
            crypto_equal(given, sizeof(given), want, sizeof(want)) && !match)
            match = &cfg->operators[i];
    }
    return match;
}

/* On a web thread (httpd_pool): the request's headers, arguments and body were kept for it. */
static void route_api(void *udata, httpd_req_t *r)
{
    web_t *w = udata;
    security_headers(r);
    bool post = strcmp(httpd_req_method(r), "POST") == 0;
    if (w->cfg->noperators == 0) {
        respond(r, fail(503, "web.no_operators", "the dashboard API is disabled: no operator is configured",
                        "add an [operator NAME] section with token = … (at least 16 characters; or token_file / "
                        "token_env) and restart"));
        return;
    }
    call_t c = {.w = w, .req = r, .rest = httpd_req_path(r) + strlen("/api/")};
    c.op = web_auth(w->cfg, httpd_req_header(r, "Authorization"));
    if (!c.op) {
        httpd_add_header(r, "WWW-Authenticate", "Bearer realm=\"synchub\"");
        log_kv(LOG_LVL_WARN, "web", "api request without a valid operator token", "path", httpd_req_path(r), NULL);
        respond(r, fail(401, "web.unauthorized", "a valid operator token is required (Authorization: Bearer …)",
                        NULL));
        return;
    }
    snprintf(c.actor, sizeof(c.actor), "token:%s", c.op->name);
    const char *ctype = httpd_req_header(r, "Content-Type");
    /* A cross-site form can post text/plain or form data but not application/json without a preflight. */
    if (post && !httpd_media_type_is(ctype, "application/json")) {
        respond(r, fail(415, "web.content_type", "POST /api/… needs Content-Type: application/json", NULL));
        return;
    }
    /* The web thread's own connection, for this request only: a SQLite connection kept between requests would keep
     * the read snapshot of its last single-row query (statements are reset at their next use), so the next
     * answer could be stale and the housekeeper's log rewind (a RESTART checkpoint, under the writers' lock) would
     * wait for it, webhooks' commits with it. PostgreSQL connections come from store_disconnect's idle pool. */
    err_t err;
    c.s = store_connect(w->db, false, 0, &err);
    if (!c.s) {
        respond(r, fail_err(&err));
        return;
    }
    answer_t a = dispatch(&c, post);
    store_disconnect(c.s);
    respond(r, a);
}

static void route_page(void *udata, httpd_req_t *r)
{
    (void)udata;
    const char *path = httpd_req_path(r);
    if (!strcmp(path, "/"))
        path = "/index.html";
    else if (!strncmp(path, "/assets/", 8))
        path += 7;
    size_t len = 0;
    const char *ctype = NULL;
    const unsigned char *data = web_asset(path, &len, &ctype);
    security_headers(r);
    if (!data) {
        httpd_respond_json(r, 404, "{\"error\":\"not found\"}");
        return;
    }
    httpd_respond(r, 200, ctype, (const char *)data, len);
}

web_t *web_new(const cfg_t *cfg, store_db_t *db)
{
    web_t *w = calloc(1, sizeof(*w));
    if (w) {
        w->cfg = cfg;
        w->db = db;
    }
    return w;
}

void web_free(web_t *w)
{
    free(w);
}

int web_routes(web_t *w, httpd_t *h)
{
    /* The page is a lookup in memory: the polling threads serve it. */
    if (httpd_route(h, "GET", "/", route_page, w) < 0 || httpd_route(h, "GET", "/assets/*", route_page, w) < 0)
        return -1;
    httpd_pool_opts_t po = {"web", (int)w->cfg->web_threads, (int)w->cfg->web_queue};
    err_t err;
    httpd_pool_t *p = httpd_pool_new(h, &po, &err);
    if (!p) {
        log_kv(LOG_LVL_ERROR, "web", "cannot start the web threads", "code", err.code, "error", err.message, NULL);
        return -1;
    }
    if (httpd_pool_route(p, "GET", "/api/*", route_api, w) < 0 ||
        httpd_pool_route(p, "POST", "/api/*", route_api, w) < 0)
        return -1;
    return 0;
}
