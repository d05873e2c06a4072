/* flows_internal: what the files of src/flows/ share and nothing outside uses — the per-worker clients, the job
 * helpers and each file's registration. Not a public interface (see flows.h). */
#ifndef SYNCHUB_FLOWS_INTERNAL_H
#define SYNCHUB_FLOWS_INTERNAL_H

#include "odoo/odoo.h"
#include "flows/flows.h"

/* A worker's clients, kept in its registration slot: one Odoo client, one Shopify client per shop (created on
 * first use, sharing the shop's throttle). */
typedef struct sync_worker sync_worker_t;
void sync_worker_free(void *w);   /* the slot_free of every sync registration */
/* The calling worker's clients (created on first use). NULL with run->err set on allocation failure. */
sync_worker_t *sync_worker(queue_run_t *run, sync_t *sy);
odoo_t *sync_worker_odoo(sync_worker_t *w);
shopify_t *sync_worker_shopify(sync_worker_t *w, const cfg_shop_t *shop);
json_t *sync_worker_cache(sync_worker_t *w);   /* borrowed; a JSON object the flows keep lookups in */

/* The start of every sync handler (registered with the sync_t as udata): the shop the job belongs to, from its
 * payload {"shop": DOMAIN, …}, and this worker's clients. *payload (if payload is not NULL) gets the parsed
 * payload (decref, also on failure). NULL with run->err set (data: not a sync payload; configuration: the shop is
 * no longer configured or lacks what the flow needs). */
sync_worker_t *sync_job_begin(queue_run_t *run, const cfg_shop_t **shop, json_t **payload);

/* Enqueue one job of kind with id = queue_job_id(idem_key), the kind's policy, payload (JSON text) on this
 * connection. correlation: the enqueuing job's correlation id (a child continues its parent's chain); NULL starts
 * a chain, "poll:<job id>" (the scheduler's polls). *dup (may be NULL) says whether it existed already. 0 or -1. */
int sync_enqueue(store_t *s, const cfg_t *cfg, const char *kind, const char *ordering_key, const char *idem_key,
                 const char *payload, const char *correlation, bool *dup, err_t *err);

/* "kind|shop": the ordering key that keeps one job of a flow running per shop. */
void sync_okey(const char *kind, const char *shop, char *out, size_t n);

int sync_stock_register(queue_registry_t *reg, sync_t *sy);
int sync_fulfillment_register(queue_registry_t *reg, sync_t *sy);
int sync_reconcile_register(queue_registry_t *reg, sync_t *sy);
int sync_subscriptions_register(queue_registry_t *reg, sync_t *sy);   /* flow_subscriptions.c */

/* The order reconciliation of one shop with a worker's client: every order Shopify updated since since_ms that Odoo
 * lacks or has older becomes an order job (correlation: the calling job's). *found and *enqueued count them. 0/-1. */
int sync_reconcile_since(shopify_t *sh, const cfg_t *cfg, const cfg_shop_t *shop, store_t *s, int64_t since_ms,
                         const char *correlation, size_t *found, size_t *enqueued, err_t *err);

#endif
