/* trace: the story of one Shopify order inside synchub, gathered from the store — the deliveries received, the
 * jobs and their attempts, what was written into Odoo and sent to Shopify (the effects table), and the stock
 * pushes of the order's SKUs. Shared by `synchub trace` and the dashboard's GET /api/trace; it knows nothing of
 * HTTP or the terminal. Not here: recording effects (the handlers, queue_run_effects) or printing.
 *
 * The JSON (every time ISO 8601 UTC with milliseconds; every list oldest first; no customer data — names,
 * emails and addresses are never stored in effects, and job payloads are not copied):
 *   {"shop": "acme.myshopify.com",
 *    "order": {"id": 6150327861270, "name": "#1042" | null},
 *    "deliveries": [{"job_id", "topic", "webhook_id", "event_id", "received_at", "correlation",
 *                    "duplicates": n (redeliveries of the same event, refused as duplicates), "last_duplicate_at"}],
 *    "jobs": [{"id", "kind", "state", "source", "correlation", "created_at", "finished_at",
 *              "attempts": [{"n", "started_at", "finished_at", "outcome", "worker", "note",
 *                            "error": null | {"class", "code", "message", "record", "hint", "retry_safe"}}]}],
 *    "odoo": [{"at", "model", "id" (null when Odoo did not tell it), "external_id", "action", "job_id",
 *              "correlation", "detail"}],
 *    "shopify": [{"at", "action", "target" (a GID), "detail" ({"company", "number", …}), "job_id", "correlation"}],
 *    "inventory": [{"at", "sku", "location", "quantity", "previous", "job_id", "correlation"}]}
 * jobs: those of the order's ordering key (its webhooks and reconciliation jobs), the jobs sharing their
 * correlation ids, and the jobs that wrote the order's effects (fulfillment pushes). inventory: the stock pushes
 * of the order's SKUs (its Odoo lines, else its webhook payload) from the order's first delivery or job on.
 */
#ifndef SYNCHUB_TRACE_H
#define SYNCHUB_TRACE_H

#include <jansson.h>

#include "core/err.h"
#include "store/store.h"

/* Trace order ref of shop: ref is the numeric Shopify order id, or its name ("#1042", or "1042" when no order has
 * that id). 1 with *out (caller decrefs), 0 when synchub knows no such order (err: class data, code
 * trace.not_found, naming shop and ref), -1 on a store error (err). Any thread with its own store_t. */
int trace_order(store_t *s, const char *shop, const char *ref, json_t **out, err_t *err);

/* One job as the trace shows it ({"id", "kind", "state", "source", "correlation", "created_at", "finished_at",
 * "attempts": […]}, the shape above), for the dashboard's job view too. 0 with *out (caller decrefs), -1 (err). */
int trace_job_json(store_t *s, const job_t *j, json_t **out, err_t *err);

#endif
