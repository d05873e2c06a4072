/* ingest_events: POST /events/<source>. Order of checks (docs/events.md): size (in httpd) → source known (404) →
 * signature or token and timestamp (401) → JSON and the event's schema through the source's mapping (400 listing
 * every problem) → one durable group commit → 200 stored/duplicate, or 503. Nothing is parsed before the sender is
 * authenticated, and nothing is stored unless the whole event is valid. Not here: validation rules
 * (ingest_event.c) or applying the event (flow_shipments.c). */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "ingest/ingest_event.h"
#include "ingest/ingest_internal.h"

static void reject(ingest_t *in, httpd_req_t *r, int status, const char *why, const char *source,
                   const char *event_id)
{
    ingest__reject(in, r, status, "logistics", "event", why, "source", source, "event_id", event_id);
}

/* 400 with every problem: {"error": "...", "problems": ["field: why", …]}. Problems name fields and say what is
 * wrong; they quote at most a status code or a time, never the whole body. */
static void reject_problems(ingest_t *in, httpd_req_t *r, const char *source, json_t *problems)
{
    ingest__count(in, "logistics", "bad_request");
    char n[16];
    snprintf(n, sizeof(n), "%zu", json_array_size(problems));
    log_kv(LOG_LVL_WARN, "ingest", "event rejected", "status", "400", "reason", "invalid event", "source", source,
           "problems", n, NULL);
    json_t *o = json_pack("{s:s, s:O}", "error", "invalid event", "problems", problems);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text)
        httpd_respond(r, 400, "application/json", text, strlen(text));
    else
        httpd_respond_json(r, 400, "{\"error\":\"invalid event\"}");
    free(text);
    json_decref(o);
}

void ingest_events_post(void *udata, httpd_req_t *r)
{
    ingest_t *in = udata;
    const char *path = httpd_req_path(r);
    const char *name = strncmp(path, "/events/", 8) == 0 ? path + 8 : "";
    if (!*name || strchr(name, '/'))
        return reject(in, r, 404, "use POST /events/<source>", NULL, NULL);
    const cfg_source_t *src = cfg_source_find(in->cfg, name);
    if (!src)
        return reject(in, r, 404, "unknown source (no [source] section for it)", NULL, NULL);
    size_t len;
    const char *body = httpd_req_body(r, &len);
    int64_t now = clock_now_ms();
    ingest_auth_t auth = ingest_source_verify(src, httpd_req_header(r, src->signature_header),
                                              httpd_req_header(r, src->timestamp_header),
                                              httpd_req_header(r, "Authorization"), body, len, now);
    if (auth != INGEST_AUTH_OK) {
        if (strcmp(src->auth, "bearer") == 0)
            httpd_add_header(r, "WWW-Authenticate", "Bearer");
        return reject(in, r, 401, ingest_auth_reason(auth), src->name, NULL);
    }

    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        char why[200];
        snprintf(why, sizeof(why), "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return reject(in, r, 400, why, src->name, NULL);
    }
    json_t *problems = json_array();
    ingest_shipment_t ev;
    int rc = problems ? ingest_shipment_parse(src, doc, &ev, problems) : -1;
    json_decref(doc);
    if (rc < 0) {
        if (problems)
            reject_problems(in, r, src->name, problems);
        else
            reject(in, r, 503, "out of memory", src->name, NULL);
        json_decref(problems);
        return;
    }
    json_decref(problems);

    ingest_pending_t *p = calloc(1, sizeof(*p));
    if (!p) {
        ingest_shipment_release(&ev);
        return reject(in, r, 503, "out of memory", src->name, NULL);
    }
    ingest__pending_label(p, r, "logistics", "event", "source", src->name, "event_id", ev.event_id);
    int jrc = ingest_shipment_job(in->cfg, &ev, "http", now, &p->job, p->owned);
    ingest_shipment_release(&ev);
    if (jrc < 0) {
        ingest__pending_free(p);
        return reject(in, r, 503, "out of memory", src->name, NULL);
    }
    ingest__submit(in, p, NULL);
}
