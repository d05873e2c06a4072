/* odoo: a client for Odoo's external API — JSON-RPC (/jsonrpc, Odoo <= 18) and JSON-2 (/json/2, Odoo 19+) behind
 * one call with named parameters — that turns every error envelope into the project's err_t (class, code, Odoo's
 * message verbatim, what to do). One odoo_t per thread (it owns a keep-alive HTTP handle and its json values).
 * Not here: what is written (the flows, src/flows/) or any caching of business data. */
#ifndef SYNCHUB_ODOO_H
#define SYNCHUB_ODOO_H

#include <jansson.h>
#include <stdint.h>

#include "core/cfg.h"
#include "core/err.h"
#include "obs/metrics.h"

typedef struct odoo odoo_t;

typedef enum { ODOO_PROTO_AUTO = 0, ODOO_PROTO_JSONRPC, ODOO_PROTO_JSON2 } odoo_proto_t;

/* cfg is borrowed for the client's lifetime. Nothing is sent until the first call. */
odoo_t *odoo_new(const cfg_odoo_t *cfg);
void odoo_free(odoo_t *o);

/* Call model.method. ids (array, or NULL for model-level methods) and params (object of named parameters, or
 * NULL) are borrowed. On success *result is a new reference (json_null() for a method that returned nothing).
 * On failure -1 with err classified (see odoo_client.c); err->record names "odoo MODEL.METHOD". */
int odoo_call(odoo_t *o, const char *model, const char *method, json_t *ids, json_t *params, json_t **result,
              err_t *err);

/* odoo_call for handlers: takes ownership of ids and params (either may be NULL), and on failure puts label (the
 * business record, "shipment WH/OUT/00012 (…)") in front of the error's record (err_wrap). */
int odoo_call_take(odoo_t *o, const char *model, const char *method, json_t *ids, json_t *params, json_t **result,
                   const char *label, err_t *err);

/* Connect (detect the version and protocol, authenticate for JSON-RPC) if not done yet. 0 or -1. */
int odoo_connect(odoo_t *o, err_t *err);
int odoo_server_major(const odoo_t *o);          /* 0 before connect */
const char *odoo_server_version(const odoo_t *o); /* "18.0-20250506"; "" before connect */
odoo_proto_t odoo_protocol(const odoo_t *o);
const char *odoo_protocol_name(odoo_proto_t p);
int64_t odoo_uid(const odoo_t *o);               /* JSON-RPC only; 0 otherwise */
uint64_t odoo_calls(const odoo_t *o);            /* RPCs sent so far (version and authenticate included) */
/* Measure this client's requests in m (synchub_remote_request_duration_seconds{system="odoo",method="model.method"}
 * and errors by class); NULL stops. m is borrowed for the client's lifetime. */
void odoo_set_metrics(odoo_t *o, metrics_t *m);

/* Classify an Odoo exception by its Python name and message into err (exposed for tests). status is the HTTP
 * status for JSON-2 (0 for JSON-RPC). */
void odoo_classify(const char *name, const char *message, long status, const char *model, const char *method,
                   err_t *err);

/* The readers of Odoo's answers (exposed for tests and fuzzing: a broken or hostile upstream is outside input).
 * JSON-RPC: the body of a 200 answer; JSON-2: the status and body. 0 with *result (a new reference), or -1 with err
 * classified as odoo_call reports it. */
int odoo_read_jsonrpc(const char *data, size_t len, const char *model, const char *rpc_method, json_t **result,
                      err_t *err);
int odoo_read_json2(long status, const buf_t *body, const char *model, const char *method, json_t **result,
                    err_t *err);

/* ---- typed helpers (odoo_values.c) ---- */

/* The id of the first record a method answered: an integer, [id, …], or — over JSON-RPC on Odoo 18, for a method
 * without @api.returns such as activity_schedule — the recordset's text "mail.activity(6,)". 0 when none. */
int64_t odoo_record_id(const json_t *result);

/* Add email_from = [odoo] note_sender to message_post's params (nothing when it is "user"): Odoo 18 refuses a
 * note whose author has no e-mail and that names no sender. */
void odoo_note_sender(const cfg_odoo_t *cfg, json_t *params);

/* ms since the epoch as an Odoo datetime value: "2026-11-21 19:03:11" (UTC, as Odoo stores and expects it; Odoo
 * refuses ISO 8601 with a T or a zone). */
void odoo_datetime(int64_t ms, char *out, size_t n);
/* And back: an Odoo datetime value (UTC, no zone) → ms since the epoch. 0, or -1 when text is not one. */
int odoo_datetime_parse(const char *text, int64_t *ms);

/* External ID name (without module) for a Shopify object: "shopify_acme_outfitters_order_6150327861270".
 * what: "order", "customer", "address", … Writes into out (NUL-terminated, truncated to n). */
void odoo_xmlid_name(const char *shop, const char *what, const char *id, char *out, size_t n);

#define ODOO_XMLID_MODULE "__synchub__"

/* Outages (circuit breaker, queue/queue_breaker.h). odoo_target names the Odoo database cfg describes,
 * "odoo:<database>@<host[:port]>" (never credentials): the err_t target of every call that failed because that
 * Odoo did not answer (refused, timed out, reset, HTTP 502/503/504). odoo_probe asks it one cheap question (GET
 * /web/version, falling back to common.version) on a fresh connection: 0 when it answers, else -1 with err. */
void odoo_target(const cfg_odoo_t *cfg, char *out, size_t n);
int odoo_probe(const cfg_odoo_t *cfg, err_t *err);

#endif
