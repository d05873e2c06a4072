/* ingest_event: the canonical shipment event (docs/events.md) and everything about it that needs no I/O — source
 * authentication (HMAC over timestamp + body, or a bearer token), JSON Pointer (RFC 6901), the per-source field
 * mapping and status map, validation that lists every problem, the lifecycle ordering rule, CSV records, and the
 * job's idempotency and ordering keys. Shared by POST /events/<source> (ingest_events.c), `synchub import events`
 * and the Odoo applier (flow_shipments.c). Not here: HTTP, the store, Odoo.
 * Thread-safe; jansson values passed in stay with the caller's thread. */
#ifndef SYNCHUB_INGEST_EVENT_H
#define SYNCHUB_INGEST_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cfg.h"
#include "store/store.h"

#define INGEST_SHIPMENT_KIND "logistics.shipment_event"

/* Lifecycle order (docs/events.md). EXCEPTION has no place in it (rank 0): see ingest_shipment_applies. */
typedef enum {
    INGEST_SHIP_PICKED, INGEST_SHIP_PACKED, INGEST_SHIP_DISPATCHED, INGEST_SHIP_IN_TRANSIT,
    INGEST_SHIP_OUT_FOR_DELIVERY, INGEST_SHIP_DELIVERED, INGEST_SHIP_EXCEPTION, INGEST_SHIP_RETURNED,
    INGEST_SHIP_COUNT
} ingest_ship_status_t;

const char *ingest_ship_status_name(ingest_ship_status_t st);          /* "in_transit" */
int ingest_ship_status_parse(const char *name, ingest_ship_status_t *out);  /* 0, or -1 when not canonical */
int ingest_ship_status_rank(ingest_ship_status_t st);                 /* 10…70; 0 for exception */

/* The ordering rule. Given the last applied event of a shipment (highest lifecycle rank reached, its occurred_at;
 * 0/0 when none), does an event with status st at t_ms move the shipment's state? False for an older occurred_at,
 * for a status earlier in the lifecycle, and for an exception once delivered or returned. Such events are still
 * recorded (chatter, effects) but never move the state back. */
bool ingest_shipment_applies(int last_rank, int64_t last_ms, ingest_ship_status_t st, int64_t t_ms);

/* One canonical event. Strings owned (ingest_shipment_release); optional ones NULL when absent. */
typedef struct ingest_shipment {
    char *source, *event_id, *reference;
    char *occurred_at;       /* as normalised: "2026-11-21T19:03:13.000Z" */
    int64_t occurred_ms;
    ingest_ship_status_t status;
    char *carrier, *tracking_number, *tracking_url, *location, *detail;
} ingest_shipment_t;

void ingest_shipment_release(ingest_shipment_t *ev);

/* RFC 6901: the value at ptr in doc (borrowed), or NULL when absent or ptr is malformed. "" is the whole doc. */
json_t *ingest_jptr_get(json_t *doc, const char *ptr);
/* Is ptr a well-formed JSON pointer ("" or "/a/b~1c"; '~' only as ~0 or ~1)? */
bool ingest_jptr_valid(const char *ptr);

/* Turn a body of src (canonical, or mapped through src->map and src->status_map) into ev. 0, or -1 with every
 * problem appended to problems (a json array of strings, "field: why") and ev left empty. src->name becomes
 * ev->source. A map entry starting with '/' is a JSON pointer; otherwise it names a top-level member (a CSV
 * column). Caller's thread. */
int ingest_shipment_parse(const cfg_source_t *src, json_t *doc, ingest_shipment_t *ev, json_t *problems);

/* The job's canonical payload (compact JSON, caller frees), idempotency key "logistics|<source>|<event id>" and
 * ordering key "shipment:<reference, lower-cased>" (the same for every source). NULL on allocation failure. */
char *ingest_shipment_json(const ingest_shipment_t *ev);
char *ingest_shipment_idem_key(const ingest_shipment_t *ev);
char *ingest_shipment_ordering_key(const ingest_shipment_t *ev);
/* Everything of the job that carries ev: kind, id (queue_job_id of the idempotency key), ordering key, canonical
 * payload, metadata ({"source","event_id","reference","via","received_at"}), correlation id ("<source>|<event
 * id>": the same event by HTTP or CSV shares it), source, event time (occurred_at) and the kind's policy. The
 * strings are allocated into owned[0..INGEST_SHIPMENT_OWNED) (caller frees each). 0, or -1 out of memory (owned
 * still to be freed). */
#define INGEST_SHIPMENT_OWNED 5
int ingest_shipment_job(const cfg_t *cfg, const ingest_shipment_t *ev, const char *via, int64_t now,
                        job_new_t *job, char **owned);

/* The payload back (a worker reading its job). 0, or -1 when it is not a valid canonical event. */
int ingest_shipment_from_json(const char *payload, ingest_shipment_t *ev);

/* Source authentication. */
typedef enum {
    INGEST_AUTH_OK = 0,
    INGEST_AUTH_MISSING,     /* no signature / timestamp / Authorization header */
    INGEST_AUTH_BAD,         /* wrong signature or token, or malformed timestamp */
    INGEST_AUTH_STALE        /* signature good, timestamp further than max_skew from now (a replay) */
} ingest_auth_t;

/* hmac: sig_hdr is the hex or base64 HMAC-SHA256 (optionally prefixed "sha256=") of ts_hdr + "." + body under the
 * source's secret or secret_previous (both always computed; CRYPTO_memcmp); ts_hdr Unix seconds within max_skew of
 * now_ms. bearer: authz is "Bearer <token>" (constant-time compare). Secrets never leave this function. */
ingest_auth_t ingest_source_verify(const cfg_source_t *src, const char *sig_hdr, const char *ts_hdr,
                                   const char *authz, const void *body, size_t len, int64_t now_ms);
const char *ingest_auth_reason(ingest_auth_t a);   /* a sentence for the 401 answer */

/* CSV (RFC 4180: quoted fields, "" inside quotes, CRLF or LF). Reads one record at *p (advanced past it) into
 * fields (cleared first; json strings); blank lines before it are skipped. 1 record, 0 at the end, -1 with why when
 * malformed (an unterminated quote, text after a closing quote). *line counts the physical lines consumed (start
 * it at 1); *start gets the line where the record begins. */
int ingest_csv_record(const char **p, const char *end, json_t *fields, int *line, int *start, const char **why);

#endif
