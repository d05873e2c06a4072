/* ingest: turning inbound deliveries into durable jobs. For Shopify webhooks: verify the HMAC before reading the
 * body, derive the deterministic job id, kind, ordering key and event time, and answer only after the group commit
 * (200), or 4xx for what must not be stored, or 503 so the sender retries. Not here: running jobs. */
#ifndef SYNCHUB_INGEST_H
#define SYNCHUB_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cfg.h"
#include "core/jscan.h"
#include "core/err.h"
#include "net/httpd.h"
#include "obs/metrics.h"
#include "store/store.h"
#include "store/store_writer.h"

typedef struct ingest ingest_t;

/* cfg, writer and metrics (NULL = not measured) are borrowed for the ingest's lifetime. */
ingest_t *ingest_new(const cfg_t *cfg, store_writer_t *writer, metrics_t *metrics);
void ingest_free(ingest_t *in);

/* Route for POST /webhooks/shopify (udata = ingest_t). */
void ingest_shopify_webhook(void *udata, httpd_req_t *req);

/* Prefix route for POST /events/<source> (udata = ingest_t): a logistics partner's shipment event, authenticated
 * by its [source] section, mapped to the canonical event and stored as one logistics.shipment_event job
 * (docs/events.md). */
void ingest_events_post(void *udata, httpd_req_t *req);

/* 0 when sig_b64 is the base64 HMAC-SHA256 of body under the shop's current or previous secret, else -1.
 * Constant-time in the signature comparison. */
int ingest_shopify_verify(const cfg_shop_t *shop, const void *body, size_t len, const char *sig_b64);

/* What a Shopify delivery becomes. Strings are owned (ingest_event_release). */
typedef struct ingest_event {
    const char *kind;       /* static */
    char *ordering_key;
    char *idem_key;         /* shopify|shop|topic|resource|version */
    char *resource;         /* "6150327861270" or "46912881639446:71263993878" */
    int64_t event_time_ms;
} ingest_event_t;

/* The top-level fields of a Shopify body that decide id, key and version. */
enum { INGEST_F_ID, INGEST_F_ORDER_ID, INGEST_F_ITEM, INGEST_F_LOCATION, INGEST_F_UPDATED_AT, INGEST_F_COUNT };
typedef struct ingest_fields {
    jscan_span_t f[INGEST_F_COUNT];
} ingest_fields_t;

/* Validate body as a JSON object and locate its deciding fields (no allocation). 0, or -1 with err. */
int ingest_shopify_fields(const char *body, size_t len, ingest_fields_t *out, jscan_error_t *err);

/* Classify a verified delivery from its fields. now_ms is the fallback event time.
 * -1 with err (class data) when the topic needs a resource id the body lacks. */
int ingest_shopify_describe(const char *shop, const char *topic, const ingest_fields_t *body, const char *event_id,
                            const char *webhook_id, const char *triggered_at, int64_t now_ms, ingest_event_t *out,
                            err_t *err);
void ingest_event_release(ingest_event_t *ev);

#endif
