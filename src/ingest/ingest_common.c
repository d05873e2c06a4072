/* ingest_common: the ingest object and the plumbing every inbound route shares — reject with a logged reason, and
 * "durable before acknowledged": submit to the group-commit writer, answer 200 stored/duplicate from its callback
 * or 503 when the commit failed. Not here: verifying or describing a delivery (ingest_shopify.c, ingest_events.c). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "ingest/ingest_internal.h"
#include "queue/queue.h"

/* The outcomes of a delivery, as counted in synchub_webhook_deliveries_total (too_large is counted by httpd). */
static const char *const routes[] = {"shopify", "logistics"};
static const char *const outcomes[] = {"stored", "duplicate", "bad_signature", "unknown_shop", "unknown_source",
                                       "bad_request", "unavailable"};

void ingest__count(ingest_t *in, const char *route, const char *outcome)
{
    metrics_add(in->metrics, METRIC_DELIVERIES, (const char *[]){route, outcome}, 1);
}

ingest_t *ingest_new(const cfg_t *cfg, store_writer_t *writer, metrics_t *metrics)
{
    ingest_t *in = calloc(1, sizeof(*in));
    if (in) {
        in->cfg = cfg;
        in->writer = writer;
        in->metrics = metrics;
        /* every outcome from the start, at 0: a rate over a series that appears only with its first event misses
         * that event */
        for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++)
            for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
                if (strcmp(outcomes[i], r == 0 ? "unknown_source" : "unknown_shop") != 0)
                    metrics_add(metrics, METRIC_DELIVERIES, (const char *[]){routes[r], outcomes[i]}, 0);
    }
    return in;
}

void ingest_free(ingest_t *in)
{
    free(in);
}

void ingest__reject(ingest_t *in, httpd_req_t *r, int status, const char *route, const char *what, const char *why,
                    const char *k1, const char *v1, const char *k2, const char *v2)
{
    ingest__count(in, route, status == 401 ? "bad_signature"
                     : status == 404 ? (strcmp(route, "shopify") == 0 ? "unknown_shop" : "unknown_source")
                     : status >= 500 ? "unavailable" : "bad_request");
    char code[8], msg[64];
    snprintf(code, sizeof(code), "%d", status);
    snprintf(msg, sizeof(msg), "%s rejected", what);
    /* log_kv's list ends at the first NULL key: absent fields are passed as a key with a NULL value. */
    log_kv(status >= 500 ? LOG_LVL_ERROR : LOG_LVL_WARN, "ingest", msg, "status", code, "reason", why,
           k1 ? k1 : "-", k1 && v1 && *v1 ? v1 : NULL, k2 ? k2 : "-", k2 && v2 && *v2 ? v2 : NULL, NULL);
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"error\":");
    buf_json_str(&b, why);
    buf_puts(&b, "}");
    httpd_respond(r, status, "application/json", buf_str(&b), b.len);
    buf_release(&b);
}

char *ingest__own(ingest_pending_t *p, char *s)
{
    for (size_t i = 0; s && i < INGEST__OWNED_MAX; i++) {
        if (!p->owned[i]) {
            p->owned[i] = s;
            return s;
        }
    }
    free(s);
    return NULL;
}

void ingest__pending_free(ingest_pending_t *p)
{
    for (size_t i = 0; i < INGEST__OWNED_MAX; i++)
        free(p->owned[i]);
    free(p);
}

void ingest__pending_label(ingest_pending_t *p, httpd_req_t *r, const char *route, const char *what, const char *k1,
                           const char *v1, const char *k2, const char *v2)
{
    p->req = r;
    p->route = route;
    p->what = what;
    p->k1 = k1;
    p->k2 = k2;
    snprintf(p->v1, sizeof(p->v1), "%s", v1);
    snprintf(p->v2, sizeof(p->v2), "%s", v2);
}

static void on_committed(void *arg, int rc, bool duplicate, const err_t *err)
{
    ingest_pending_t *p = arg;
    if (rc < 0) {
        (void)err; /* the writer logged the cause once; the sender only needs to retry */
        ingest__reject(p->in, p->req, 503, p->route, p->what, "store unavailable; retry later", p->k1, p->v1, p->k2,
                       p->v2);
    } else {
        ingest__count(p->in, p->route, duplicate ? "duplicate" : "stored");
        char msg[64];
        snprintf(msg, sizeof(msg), "%s %s", p->what, duplicate ? "duplicate" : "stored");
        log_kv(LOG_LVL_INFO, "ingest", msg, "job", p->job.id, "kind", p->job.kind, p->k1 ? p->k1 : "-",
               p->k1 && *p->v1 ? p->v1 : NULL, p->k2 ? p->k2 : "-", p->k2 && *p->v2 ? p->v2 : NULL, "correlation",
               p->job.correlation_id, NULL);
        httpd_respond_json(p->req, 200, "{\"status\":\"%s\",\"job\":\"%s\"}", duplicate ? "duplicate" : "stored",
                           p->job.id);
    }
    ingest__pending_free(p);
}

void ingest__submit(ingest_t *in, ingest_pending_t *p, const char *idem_key)
{
    queue_policy_t pol = queue_policy_for(in->cfg, p->job.kind);
    if (idem_key)
        queue_job_id(idem_key, strlen(idem_key), p->job.id);
    p->job.priority = pol.priority;
    p->job.max_attempts = pol.max_attempts;
    p->job.lease_ms = pol.lease_ms;
    p->in = in;
    httpd_defer(p->req);
    if (store_writer_submit(in->writer, &p->job, on_committed, p) < 0) {
        ingest__reject(in, p->req, 503, p->route, p->what, "shutting down; retry later", p->k1, p->v1, p->k2, p->v2);
        ingest__pending_free(p);
    }
}
