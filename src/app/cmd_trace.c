/* cmd_trace: `synchub trace SHOP order ID|NAME [--json]` — what happened to one Shopify order inside synchub, as a
 * timeline (one line per event, ISO 8601 UTC) or as the JSON of obs/trace.h. Printing only: the trace itself is
 * gathered by trace_order(), which the dashboard shares. No customer data is printed (the trace holds none). */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "obs/trace.h"

typedef struct event {
    char when[40];   /* ISO 8601 with milliseconds: sorts as text */
    char *line;
    size_t seq;      /* insertion order, to keep equal times stable */
} event_t;

typedef struct timeline {
    event_t *ev;
    size_t n, cap;
} timeline_t;

static const char *s_or(const json_t *o, const char *k, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v && *v ? v : dflt;
}

static void add(timeline_t *t, const char *when, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(timeline_t *t, const char *when, const char *fmt, ...)
{
    if (!when)
        return;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        event_t *ev = realloc(t->ev, cap * sizeof(*ev));
        if (!ev)
            return;
        t->ev = ev;
        t->cap = cap;
    }
    event_t *e = &t->ev[t->n];
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&e->line, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return;
    snprintf(e->when, sizeof(e->when), "%s", when);
    e->seq = t->n++;
}

static int cmp_event(const void *a, const void *b)
{
    const event_t *x = a, *y = b;
    int c = strcmp(x->when, y->when);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* "2026-11-23T10:02:03.123Z" → "2026-11-23T10:02:03Z" */
static const char *seconds(const char *iso, char *out, size_t n)
{
    snprintf(out, n, "%.19sZ", iso);
    return out;
}

static void short_id(const char *id, char out[16])
{
    snprintf(out, 16, "%.10s…", id ? id : "?");
}

static void timeline_of(const json_t *t, timeline_t *tl)
{
    size_t i;
    json_t *o;
    json_t *webhook_jobs = json_object();
    char sid[16];
    json_array_foreach(json_object_get(t, "deliveries"), i, o) {
        short_id(s_or(o, "job_id", "?"), sid);
        json_int_t dups = json_integer_value(json_object_get(o, "duplicates"));
        char more[96] = "";
        if (dups > 0)
            snprintf(more, sizeof(more), "; delivered %lld more time(s), refused as duplicates", (long long)dups);
        add(tl, s_or(o, "received_at", NULL), "webhook %s stored  job %s (corr %s)  event %s%s",
            s_or(o, "topic", "?"), sid, s_or(o, "correlation", "-"), s_or(o, "event_id", "-"), more);
        json_object_set_new(webhook_jobs, s_or(o, "job_id", ""), json_true());
    }
    json_array_foreach(json_object_get(t, "jobs"), i, o) {
        short_id(s_or(o, "id", "?"), sid);
        const char *kind = s_or(o, "kind", "?");
        if (!json_object_get(webhook_jobs, s_or(o, "id", "")))
            add(tl, s_or(o, "created_at", NULL), "job %s %s enqueued by %s (corr %s)", sid, kind,
                s_or(o, "source", "?"), s_or(o, "correlation", "-"));
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(o, "attempts"), k, a) {
            const json_t *e = json_object_get(a, "error");
            const char *when = s_or(a, "finished_at", s_or(a, "started_at", NULL));
            if (json_is_object(e))
                add(tl, when, "attempt %d %s %s %s: %s  job %s %s (%s)", (int)json_integer_value(json_object_get(a, "n")),
                    s_or(a, "outcome", "?"), s_or(e, "class", "?"), s_or(e, "code", "?"), s_or(e, "message", ""), sid,
                    kind, s_or(a, "worker", "-"));
            else
                add(tl, when, "attempt %d %s%s%s  job %s %s (%s)", (int)json_integer_value(json_object_get(a, "n")),
                    s_or(a, "outcome", "?"), s_or(a, "note", NULL) ? ": " : "", s_or(a, "note", ""), sid, kind,
                    s_or(a, "worker", "-"));
        }
    }
    json_array_foreach(json_object_get(t, "odoo"), i, o) {
        char id[24] = "-";
        if (json_is_integer(json_object_get(o, "id")))
            snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(o, "id")));
        const json_t *d = json_object_get(o, "detail");
        char extra[200] = "";
        if (s_or(d, "sku", NULL))
            snprintf(extra, sizeof(extra), "  sku %s × %g", s_or(d, "sku", ""),
                     json_number_value(json_object_get(d, "quantity")));
        short_id(s_or(o, "job_id", "-"), sid);
        add(tl, s_or(o, "at", NULL), "odoo %s %s %s %s%s  job %s", s_or(o, "model", "?"), id,
            s_or(o, "external_id", "-"), s_or(o, "action", "?"), extra, sid);
    }
    json_array_foreach(json_object_get(t, "shopify"), i, o) {
        const json_t *d = json_object_get(o, "detail");
        short_id(s_or(o, "job_id", "-"), sid);
        add(tl, s_or(o, "at", NULL), "shopify %s %s %s %s  job %s", s_or(o, "action", "?"), s_or(o, "target", "-"),
            s_or(d, "company", "-"), s_or(d, "number", "-"), sid);
    }
    json_array_foreach(json_object_get(t, "inventory"), i, o) {
        char qty[24] = "?", prev[40] = "";
        if (json_is_integer(json_object_get(o, "quantity")))
            snprintf(qty, sizeof(qty), "%lld", (long long)json_integer_value(json_object_get(o, "quantity")));
        if (json_is_integer(json_object_get(o, "previous")))
            snprintf(prev, sizeof(prev), " (was %lld)", (long long)json_integer_value(json_object_get(o, "previous")));
        short_id(s_or(o, "job_id", "-"), sid);
        add(tl, s_or(o, "at", NULL), "stock %s @ %s → %s%s  job %s", s_or(o, "sku", "?"), s_or(o, "location", "?"),
            qty, prev, sid);
    }
    json_decref(webhook_jobs);
}

int cmd_trace(app_t *a)
{
    if (a->argc != 3 || strcmp(a->argv[1], "order") != 0) {
        fprintf(stderr, "usage: synchub trace SHOP order ID|NAME [--json]\n");
        return APP_USAGE;
    }
    const cfg_shop_t *sc = cfg_shop_find(a->cfg, a->argv[0]);
    const char *shop = sc ? sc->domain : a->argv[0];   /* a shop no longer configured is still traceable */
    store_db_t *db;
    store_t *s;
    int rc = app_open_store(a, false, &db, &s);
    if (rc != APP_OK)
        return rc;
    json_t *t = NULL;
    err_t err;
    int found = trace_order(s, shop, a->argv[2], &t, &err);
    if (found <= 0) {
        app_print_err(&err);
        rc = found == 0 ? APP_FAIL : APP_STORE;
        goto out;
    }
    if (a->json) {
        char *text = json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text) {
            rc = APP_FAIL;
            goto out;
        }
        puts(text);
        free(text);
        goto out;
    }
    const json_t *order = json_object_get(t, "order");
    printf("order %s (%lld) of %s\n", s_or(order, "name", "?"), (long long)json_integer_value(json_object_get(order, "id")),
           shop);
    timeline_t tl = {0};
    timeline_of(t, &tl);
    qsort(tl.ev, tl.n, sizeof(*tl.ev), cmp_event);
    for (size_t i = 0; i < tl.n; i++) {
        char when[32];
        printf("%s  %s\n", seconds(tl.ev[i].when, when, sizeof(when)), tl.ev[i].line);
        free(tl.ev[i].line);
    }
    if (!tl.n)
        printf("(nothing recorded)\n");
    free(tl.ev);
out:
    json_decref(t);
    store_disconnect(s);
    store_db_close(db);
    return rc;
}
