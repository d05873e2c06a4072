/* trace: gathers the trace of one Shopify order from the store (see trace.h for the JSON). Reads only: jobs by
 * ordering key and correlation id, their attempts, the effects of subject "order:<id>" and "sku:<sku>".
 * Not here: printing (app/cmd_trace.c), HTTP (the dashboard), recording effects (the handlers). */
#define _GNU_SOURCE
#include "obs/trace.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define TRACE_JOBS_MAX 500   /* per ordering key or correlation id: an order with more is not a trace to read */

typedef struct trace_ctx {
    store_t *s;
    const char *shop;
    char order_id[32];
    json_t *jobs_seen;    /* job id → true: in the trace already */
    json_t *pending;      /* job ids of effects, read once the effect listing is done (no store use inside it) */
    json_t *skus;         /* sku → true */
    json_t *odoo, *shopify, *inventory;
    err_t *err;
} trace_ctx_t;

static json_t *iso(int64_t ms)
{
    char t[40];
    return ms > 0 ? json_string(clock_format_iso8601(ms, t, sizeof(t))) : json_null();
}

static json_t *str_or_null(const char *v)
{
    return v && *v ? json_string(v) : json_null();
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static json_t *detail_json(const char *text)
{
    json_t *d = text ? json_loads(text, 0, NULL) : NULL;
    return d ? d : json_null();
}

/* ---- finding the order ---------------------------------------------------------------------------------------- */

static void order_okey(const char *shop, const char *id, char *out, size_t n)
{
    snprintf(out, n, "shopify:%s:order:%s", shop, id);
}

/* Does synchub know order id of shop (a link, a job or an effect)? 1, 0, -1. */
static int order_known(store_t *s, const char *shop, const char *id, err_t *err)
{
    store_link_t link;
    int have = store_link_get(s, "shopify", shop, "order", id, &link, err);
    if (have != 0) {
        if (have > 0)
            store_link_release(&link);
        return have;
    }
    char okey[400];
    order_okey(shop, id, okey, sizeof(okey));
    job_t **jobs = NULL;
    size_t n = 0;
    if (store_jobs_by(s, STORE_JOBS_BY_OKEY, okey, 1, &jobs, &n, err) < 0)
        return -1;
    job_list_free(jobs, n);
    return n > 0;
}

/* The order id of name ("#1042"): the link flow_orders.c wrote (it keeps the name), else the newest order job
 * whose payload carries that name. 1 (id filled), 0, -1. */
static int order_by_name(store_t *s, const char *shop, const char *name, char *id, size_t n, err_t *err)
{
    int rc = store_link_by_extra(s, "shopify", shop, "order", "name", name, id, n, err);
    if (rc != 0)
        return rc;
    char prefix[400];
    order_okey(shop, "", prefix, sizeof(prefix));
    job_t *j = NULL;
    if ((rc = store_job_by_payload(s, "shopify.order", prefix, "name", name, &j, err)) <= 0)
        return rc;
    snprintf(id, n, "%s", j->ordering_key + strlen(prefix));
    job_free(j);
    return 1;
}

static int resolve(trace_ctx_t *c, const char *ref)
{
    const char *bare = ref[0] == '#' ? ref + 1 : ref;
    if (!all_digits(bare))
        goto not_found;
    if (ref[0] != '#') {
        int known = order_known(c->s, c->shop, bare, c->err);
        if (known < 0)
            return -1;
        if (known) {
            snprintf(c->order_id, sizeof(c->order_id), "%s", bare);
            return 1;
        }
    }
    char name[48];
    snprintf(name, sizeof(name), "#%s", bare);
    int rc = order_by_name(c->s, c->shop, name, c->order_id, sizeof(c->order_id), c->err);
    if (rc == 0 && ref[0] != '#')   /* a shop may name orders without '#' (an order name format without prefix) */
        rc = order_by_name(c->s, c->shop, bare, c->order_id, sizeof(c->order_id), c->err);
    if (rc != 0)
        return rc;
not_found:
    err_set(c->err, ERR_DATA, "trace.not_found", "synchub knows no order '%s' of shop %s", ref, c->shop);
    err_record(c->err, "shop %s, order %s", c->shop, ref);
    err_hint(c->err, "give the numeric Shopify order id or its name (\"#1042\"); synchub keeps what it did for the "
                     "jobs' retention ([store] retention), so older orders are no longer traceable");
    return 0;
}

/* ---- jobs ----------------------------------------------------------------------------------------------------- */

static json_t *error_json(const err_t *e)
{
    if (e->cls == ERR_NONE)
        return json_null();
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:b}", "class", err_class_name(e->cls), "code", e->code, "message",
                     e->message, "record", str_or_null(e->record), "hint", str_or_null(e->hint), "retry_safe",
                     e->retry_safe);
}

int trace_job_json(store_t *s, const job_t *j, json_t **out, err_t *err)
{
    job_attempt_t *at = NULL;
    size_t n = 0;
    *out = NULL;
    if (store_attempts(s, j, &at, &n, err) < 0)
        return -1;
    json_t *attempts = json_array();
    for (size_t i = 0; i < n; i++) {
        bool failed = at[i].error.cls != ERR_NONE;
        /* store_attempts gives a successful attempt's note in error.message */
        json_array_append_new(attempts,
                              json_pack("{s:i, s:o, s:o, s:s, s:o, s:o, s:o}", "n", at[i].n, "started_at",
                                        iso(at[i].started_at), "finished_at", iso(at[i].finished_at), "outcome",
                                        at[i].outcome, "worker", str_or_null(at[i].worker), "note",
                                        !failed ? str_or_null(at[i].error.message) : json_null(), "error",
                                        error_json(&at[i].error)));
    }
    free(at);
    *out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "id", j->id, "kind", j->kind, "state",
                     job_state_name(j->state), "source", j->source, "correlation", str_or_null(j->correlation_id),
                     "created_at", iso(j->created_at), "finished_at", iso(j->finished_at), "attempts", attempts);
    return *out ? 0 : err_set(err, ERR_INTERNAL, "trace.oom", "out of memory");
}

/* Append job j (owned here) to the trace unless already there. */
static int add_job(trace_ctx_t *c, job_t *j, json_t *list)
{
    if (json_object_get(c->jobs_seen, j->id)) {
        job_free(j);
        return 0;
    }
    json_object_set_new(c->jobs_seen, j->id, json_true());
    json_t *o;
    int rc = trace_job_json(c->s, j, &o, c->err);
    if (rc == 0) {
        json_object_set_new(o, "_created_ms", json_integer((json_int_t)j->created_at));
        json_array_append_new(list, o);
    }
    job_free(j);
    return rc;
}

/* Deliveries: the order's webhook jobs, from what ingest kept in their meta. */
static void add_delivery(json_t *deliveries, const job_t *j, int64_t *first)
{
    json_t *meta = j->meta ? json_loads(j->meta, 0, NULL) : NULL;
    json_int_t received = json_integer_value(json_object_get(meta, "received_at"));
    if (!received)
        received = j->created_at;
    if (!*first || received < *first)
        *first = received;
    if (strcmp(j->source, "shopify") != 0) {
        json_decref(meta);
        return;
    }
    json_t *dup_at = json_object_get(meta, "last_duplicate_at");
    json_array_append_new(
        deliveries,
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:I}", "job_id", j->id, "topic",
                  str_or_null(json_string_value(json_object_get(meta, "topic"))), "webhook_id",
                  str_or_null(json_string_value(json_object_get(meta, "webhook_id"))), "event_id",
                  str_or_null(json_string_value(json_object_get(meta, "event_id"))), "received_at", iso(received),
                  "correlation", str_or_null(j->correlation_id), "duplicates",
                  (json_int_t)json_integer_value(json_object_get(meta, "duplicates")), "last_duplicate_at",
                  json_is_integer(dup_at) ? iso(json_integer_value(dup_at)) : json_null(), "_ms", (json_int_t)received));
    json_decref(meta);
}

/* The order's name and SKUs from a job's payload (a webhook's order; a reconciliation's carries the name). */
static void payload_facts(trace_ctx_t *c, const job_t *j, json_t *order)
{
    json_t *p = json_loads(j->payload, 0, NULL);
    const char *name = json_string_value(json_object_get(p, "name"));
    if (name && json_is_null(json_object_get(order, "name")))
        json_object_set_new(order, "name", json_string(name));
    size_t i;
    json_t *li;
    json_array_foreach(json_object_get(p, "line_items"), i, li) {
        const char *sku = json_string_value(json_object_get(li, "sku"));
        if (sku && *sku)
            json_object_set_new(c->skus, sku, json_true());
    }
    json_decref(p);
}

/* ---- effects -------------------------------------------------------------------------------------------------- */

static int on_order_effect(const store_effect_t *e, void *ud)
{
    trace_ctx_t *c = ud;
    if (!strcmp(e->system, "odoo")) {
        char model[96] = "";
        json_t *id = json_null();
        const char *slash = e->target ? strrchr(e->target, '/') : NULL;
        if (slash && all_digits(slash + 1)) {
            snprintf(model, sizeof(model), "%.*s", (int)(slash - e->target), e->target);
            id = json_integer(strtoll(slash + 1, NULL, 10));
        } else {
            snprintf(model, sizeof(model), "%s", e->target ? e->target : "");
        }
        json_t *detail = detail_json(e->detail);
        const char *sku = json_string_value(json_object_get(detail, "sku"));
        if (sku && *sku && !strcmp(model, "sale.order.line"))
            json_object_set_new(c->skus, sku, json_true());
        json_array_append_new(c->odoo, json_pack("{s:o, s:s, s:o, s:o, s:s, s:o, s:o, s:o}", "at", iso(e->at),
                                                 "model", model, "id", id, "external_id",
                                                 str_or_null(e->external_id), "action", e->action, "job_id",
                                                 str_or_null(e->job_id), "correlation",
                                                 str_or_null(e->correlation_id), "detail", detail));
    } else {
        json_array_append_new(c->shopify, json_pack("{s:o, s:s, s:o, s:o, s:o, s:o}", "at", iso(e->at), "action",
                                                    e->action, "target", str_or_null(e->target), "detail",
                                                    detail_json(e->detail), "job_id", str_or_null(e->job_id),
                                                    "correlation", str_or_null(e->correlation_id)));
    }
    if (e->job_id && !json_object_get(c->jobs_seen, e->job_id))
        json_array_append_new(c->pending, json_string(e->job_id));
    return 0;
}

typedef struct sku_ctx {
    trace_ctx_t *c;
    const char *sku;
} sku_ctx_t;

static int on_sku_effect(const store_effect_t *e, void *ud)
{
    sku_ctx_t *k = ud;
    json_t *d = detail_json(e->detail);
    json_t *prev = json_object_get(d, "previous");
    json_array_append_new(k->c->inventory,
                          json_pack("{s:o, s:s, s:o, s:O, s:O, s:s, s:o, s:o, s:I}", "at", iso(e->at), "sku", k->sku,
                                    "location", str_or_null(json_string_value(json_object_get(d, "location"))),
                                    "quantity", json_object_get(d, "quantity") ?: json_null(), "previous",
                                    prev ? prev : json_null(), "action", e->action, "job_id", str_or_null(e->job_id),
                                    "correlation", str_or_null(e->correlation_id), "_ms", (json_int_t)e->at));
    json_decref(d);
    return 0;
}

/* ---- ordering ------------------------------------------------------------------------------------------------- */

static int by_ms(const void *a, const void *b, const char *key)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, key));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, key));
    return x < y ? -1 : x > y;
}

static int by_created(const void *a, const void *b)
{
    return by_ms(a, b, "_created_ms");
}

static int by_at(const void *a, const void *b)
{
    return by_ms(a, b, "_ms");
}

/* Sort array by an internal "_…ms" key, stably (equal times keep their order), then drop the key. */
static json_t *sorted(json_t *array, int (*cmp)(const void *, const void *), const char *key)
{
    size_t n = json_array_size(array);
    json_t **v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return array;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(array, i));
    /* insertion sort: lists are short (an order's jobs and effects), and it is stable */
    for (size_t i = 1; i < n; i++) {
        json_t *x = v[i];
        size_t k = i;
        while (k > 0 && cmp(&v[k - 1], &x) > 0) {
            v[k] = v[k - 1];
            k--;
        }
        v[k] = x;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_object_del(v[i], key);
        json_array_append_new(out, v[i]);
    }
    free(v);
    json_decref(array);
    return out;
}

/* ---- the trace ------------------------------------------------------------------------------------------------ */

int trace_order(store_t *s, const char *shop, const char *ref, json_t **out, err_t *err)
{
    *out = NULL;
    trace_ctx_t c = {.s = s, .shop = shop, .err = err};
    int found = resolve(&c, ref ? ref : "");
    if (found <= 0)
        return found;

    int rc = -1;
    c.jobs_seen = json_object();
    c.pending = json_array();
    c.skus = json_object();
    c.odoo = json_array();
    c.shopify = json_array();
    c.inventory = json_array();
    json_t *jobs = json_array(), *deliveries = json_array();
    json_t *order = json_pack("{s:I, s:n}", "id", (json_int_t)strtoll(c.order_id, NULL, 10), "name");
    json_t *corrs = json_object();   /* correlation ids of the order's own jobs */
    store_link_t link;
    job_t **own = NULL;
    size_t nown = 0;
    int64_t first = 0;
    char okey[400], subject[48];
    order_okey(shop, c.order_id, okey, sizeof(okey));
    snprintf(subject, sizeof(subject), "order:%s", c.order_id);

    int have = store_link_get(s, "shopify", shop, "order", c.order_id, &link, err);
    if (have < 0)
        goto out;
    if (have) {
        json_t *x = link.extra ? json_loads(link.extra, 0, NULL) : NULL;
        const char *name = json_string_value(json_object_get(x, "name"));
        if (name && *name)
            json_object_set_new(order, "name", json_string(name));
        json_decref(x);
        store_link_release(&link);
    }

    /* 1. the order's own jobs (webhooks, reconciliation): deliveries, name, SKUs, correlation ids */
    if (store_jobs_by(s, STORE_JOBS_BY_OKEY, okey, TRACE_JOBS_MAX, &own, &nown, err) < 0)
        goto out;
    for (size_t i = 0; i < nown; i++) {
        add_delivery(deliveries, own[i], &first);
        payload_facts(&c, own[i], order);
        if (own[i]->correlation_id)
            json_object_set_new(corrs, own[i]->correlation_id, json_true());
    }
    for (size_t i = 0; i < nown; i++) {
        job_t *j = own[i];
        own[i] = NULL;
        if (add_job(&c, j, jobs) < 0)
            goto out;
    }
    /* 2. jobs that continue their chains (children inherit the correlation id) — but not the sibling order jobs
     * of a reconciliation (they share its correlation and belong to other orders' traces) */
    char others[400];
    order_okey(shop, "", others, sizeof(others));
    const char *corr;
    json_t *ignored;
    json_object_foreach(corrs, corr, ignored) {
        job_t **more = NULL;
        size_t nmore = 0;
        if (store_jobs_by(s, STORE_JOBS_BY_CORRELATION, corr, TRACE_JOBS_MAX, &more, &nmore, err) < 0)
            goto out;
        for (size_t i = 0; i < nmore; i++) {
            job_t *j = more[i];
            more[i] = NULL;
            if (!strncmp(j->ordering_key, others, strlen(others)) && strcmp(j->ordering_key, okey) != 0) {
                job_free(j);
                continue;
            }
            if (add_job(&c, j, jobs) < 0) {
                job_list_free(more, nmore);
                goto out;
            }
        }
        job_list_free(more, nmore);
    }
    /* 3. what was written for the order, and the jobs that wrote it */
    if (store_effects_list(s, shop, subject, 0, on_order_effect, &c, err) < 0)
        goto out;
    size_t pi;
    json_t *pid;
    json_array_foreach(c.pending, pi, pid) {
        const char *id = json_string_value(pid);
        job_t *j = NULL;
        if (json_object_get(c.jobs_seen, id))
            continue;
        int got = store_job_get(s, id, &j, err);
        if (got < 0)
            goto out;
        if (got > 0 && add_job(&c, j, jobs) < 0)
            goto out;
    }
    /* 4. the stock pushes of the order's SKUs since it arrived */
    const char *sku;
    json_object_foreach(c.skus, sku, ignored) {
        char sub[160];
        snprintf(sub, sizeof(sub), "sku:%s", sku);
        sku_ctx_t k = {&c, sku};
        if (store_effects_list(s, shop, sub, first, on_sku_effect, &k, err) < 0)
            goto out;
    }

    *out = json_pack("{s:s, s:O, s:o, s:o, s:O, s:O, s:o}", "shop", shop, "order", order, "deliveries",
                     sorted(json_incref(deliveries), by_at, "_ms"), "jobs",
                     sorted(json_incref(jobs), by_created, "_created_ms"), "odoo", c.odoo, "shopify", c.shopify,
                     "inventory", sorted(json_incref(c.inventory), by_at, "_ms"));
    if (!*out) {
        err_set(err, ERR_INTERNAL, "trace.oom", "out of memory");
        goto out;
    }
    rc = 1;
out:
    job_list_free(own, nown);
    json_decref(order);
    json_decref(corrs);
    json_decref(jobs);
    json_decref(deliveries);
    json_decref(c.jobs_seen);
    json_decref(c.pending);
    json_decref(c.skus);
    json_decref(c.odoo);
    json_decref(c.shopify);
    json_decref(c.inventory);
    return rc;
}
