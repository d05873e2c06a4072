/* ingest_internal: what the ingest routes share — the ingest object, the error answer and the verify → one durable
 * group commit → acknowledge plumbing, so a Shopify webhook and a logistics event are answered by the same code.
 * Internal to src/ingest/. */
#ifndef SYNCHUB_INGEST_INTERNAL_H
#define SYNCHUB_INGEST_INTERNAL_H

#include "ingest/ingest.h"

struct ingest {
    const cfg_t *cfg;
    store_writer_t *writer;
    metrics_t *metrics;
};

/* Log (warn, error for 5xx), count (synchub_webhook_deliveries_total{source=route}) and answer {"error": why} with
 * status. route is the metrics source ("shopify", "logistics"); what names the delivery ("webhook", "event");
 * k1/v1, k2/v2 are log fields (either may be NULL). Never pass secrets or customer data. */
void ingest__reject(ingest_t *in, httpd_req_t *r, int status, const char *route, const char *what, const char *why,
                    const char *k1, const char *v1, const char *k2, const char *v2);

/* Count one delivery's outcome in synchub_webhook_deliveries_total{source=route, outcome}. */
void ingest__count(ingest_t *in, const char *route, const char *outcome);

#define INGEST__OWNED_MAX 6

/* A request waiting for its group commit. job's pointers point into owned[] (freed with it) or into the request
 * (alive until the answer). */
typedef struct ingest_pending {
    ingest_t *in;
    const char *route;            /* metrics source: "shopify", "logistics": static */
    httpd_req_t *req;
    job_new_t job;
    char *owned[INGEST__OWNED_MAX];
    const char *what;             /* "webhook", "event": static */
    const char *k1, *k2;          /* log field names: static */
    char v1[256], v2[160];        /* log field values (shop/topic, source/event id) */
} ingest_pending_t;

/* Take ownership of s into p->owned (NULL when out of room or s is NULL; s is then freed). */
char *ingest__own(ingest_pending_t *p, char *s);
void ingest__pending_free(ingest_pending_t *p);
/* Name what p is for the answer, the log line and the metrics: its request, route and kind of delivery (static
 * strings), and its two log fields (values copied, truncated to fit). */
void ingest__pending_label(ingest_pending_t *p, httpd_req_t *r, const char *route, const char *what, const char *k1,
                           const char *v1, const char *k2, const char *v2);

/* Fill job's id (queue_job_id of idem_key; NULL: job.id is set already), priority, attempts and lease from the kind's policy, defer the request
 * and submit it to the writer; the answer (200 stored/duplicate, or 503) comes from the writer's callback. Takes p
 * in every case. */
void ingest__submit(ingest_t *in, ingest_pending_t *p, const char *idem_key);

#endif
