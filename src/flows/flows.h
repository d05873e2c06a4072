/* flows: the business flows' shared interface (its names keep the sync_ prefix). src/flows/ holds every flow, one
 * file each, each registering its job kinds: Shopify orders → Odoo (flow_orders.c, flow_orders.h), shipment events
 * → Odoo deliveries (flow_shipments.c, flow_shipments.h), and from Odoo to Shopify stock levels (flow_stock.c),
 * done deliveries as fulfillments (flow_fulfillment.c) and the reconciliation that finds what webhooks missed
 * (flow_reconcile.c); flows.c registers the last three. flow_common.c holds their plumbing and the scheduler that
 * turns intervals into poll jobs. A flow may use both clients; a client never uses a flow.
 * Not here: the protocols (odoo/, shopify/), SQL (store/), printing (app/cmd_reconcile.c prints what these return).
 *
 * Poll jobs. Each flow keeps a cursor in the store ("stock:acme.myshopify.com") = "<position>|<seq>", where seq
 * counts completed polls. The scheduler enqueues a poll job whose id is derived from (kind, shop, seq): while a
 * poll fails (say a configuration error), every later tick derives the same id and adds nothing, so a broken
 * mapping costs one dead job, not one per minute; once an operator fixes it and retries that job, seq moves on.
 */
#ifndef SYNCHUB_FLOWS_H
#define SYNCHUB_FLOWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/cfg.h"
#include "core/err.h"
#include "obs/metrics.h"
#include "queue/queue.h"
#include "shopify/shopify.h"
#include "store/store.h"

/* Job kinds (and their ordering keys: one poll of a kind per shop at a time). */
#define SYNC_KIND_STOCK_POLL "stock.poll"               /* Odoo stock changes since the cursor → Shopify */
#define SYNC_KIND_STOCK_SKU "stock.sku"                 /* one SKU alone (failures of a poll land here) */
#define SYNC_KIND_FULFILL_POLL "fulfillment.poll"       /* done Odoo deliveries since the cursor → jobs below */
#define SYNC_KIND_FULFILL "fulfillment.push"            /* one delivery → one Shopify fulfillment */
#define SYNC_KIND_RECONCILE_ORDERS "reconcile.orders"   /* Shopify orders updated since the cursor → order jobs */

/* The start-up object: the config (borrowed) and one Shopify rate-limit estimate per shop, shared by every
 * worker and by the order handler's fresh fetch. Created before the workers start, freed after they stopped. */
typedef struct sync sync_t;
sync_t *sync_new(const cfg_t *cfg);
void sync_free(sync_t *sy);
const cfg_t *sync_cfg(const sync_t *sy);
shopify_throttle_t *sync_throttle(sync_t *sy, const cfg_shop_t *shop);   /* NULL for an unknown shop */
/* The registry the workers' clients and the flows report to (NULL = not measured, the default). Set before the
 * workers start; borrowed for the sync_t's lifetime. */
void sync_set_metrics(sync_t *sy, metrics_t *m);
metrics_t *sync_metrics(const sync_t *sy);

/* Register the job kinds above (only those whose prerequisites — [odoo], an admin_token — are configured). */
int sync_register(queue_registry_t *reg, sync_t *sy);

/* Does the shop have what flow `kind` needs (admin_token, [odoo], locations for stock, a non-zero interval)? */
bool sync_enabled(const cfg_t *cfg, const cfg_shop_t *shop, const char *kind);

/* The scheduler: a thread that enqueues each shop's due poll jobs (at most one live per kind and shop). */
typedef struct sync_scheduler sync_scheduler_t;
sync_scheduler_t *sync_scheduler_start(sync_t *sy, store_db_t *db, err_t *err);
void sync_scheduler_stop(sync_scheduler_t *sc);
/* One pass of the scheduler at now (exposed for tests and `synchub reconcile --enqueue`): enqueues due polls, sets
 * *n to how many were new. 0 or -1. */
int sync_schedule_once(sync_t *sy, store_t *s, int64_t now, int *n, err_t *err);

/* Back-pressure (DESIGN "Expected by later work"): while more jobs than [server] pause_bulk_above are queued or
 * waiting to retry, the scheduler enqueues no bulk work (scheduled reconcile.orders); ingestion and the other polls
 * go on. It resumes once the backlog is down to half the bound (hysteresis: a backlog hovering at the bound does
 * not flap). One step of that decision: updates *paused from the backlog, says whether it changed. bound <= 0 =
 * never pause. Pure; any thread (on its own state). */
typedef enum { SYNC_PAUSE_SAME, SYNC_PAUSE_STARTED, SYNC_PAUSE_RESUMED } sync_pause_change_t;
sync_pause_change_t sync_pause_step(bool *paused, int64_t backlog, int64_t bound);

/* Cursors "<position>|<seq>" (see the file comment). */
typedef struct sync_cursor {
    char position[128]; /* the flow's own text: an Odoo write_date ("2026-11-23 10:00:00", UTC, no zone) for stock
                         * and fulfillments, ISO 8601 for order reconciliation; "" = from the start */
    int64_t seq;        /* completed polls */
} sync_cursor_t;
int sync_cursor_load(store_t *s, const char *flow, const char *shop, sync_cursor_t *c, err_t *err);
/* Save position and seq + 1. */
int sync_cursor_advance(store_t *s, const char *flow, const char *shop, const sync_cursor_t *c, const char *position,
                        err_t *err);

/* ---- stock (flow_stock.c) ------------------------------------------------------------------------------------ */

/* One row of an inventory comparison or push. */
typedef struct sync_level {
    char sku[128];
    char item[32];           /* Shopify inventory item id ("" = no Shopify variant has this SKU) */
    char location[32];       /* Shopify location id */
    int64_t product_id;      /* Odoo product.product id (0 = no Odoo product has this SKU) */
    int64_t odoo;            /* Odoo quantity to publish (free = on hand − reserved, at least 0) */
    int64_t shopify;         /* Shopify's available, as last read or set; -1 = unknown */
    int status;              /* SYNC_LEVEL_* */
    err_t err;               /* when status is SYNC_LEVEL_FAILED */
} sync_level_t;

enum {
    SYNC_LEVEL_SAME = 0,   /* Shopify has Odoo's quantity (or the SKU is in inventory_skip) */
    SYNC_LEVEL_DRIFT,      /* differs, not pushed (dry run) */
    SYNC_LEVEL_PUSHED,     /* differed, corrected */
    SYNC_LEVEL_FAILED,     /* could not be compared or corrected: err says why */
    SYNC_LEVEL_NO_ODOO     /* a Shopify level whose SKU no Odoo product has: reported, never touched */
};

typedef struct sync_progress {
    void (*fn)(void *ud, const char *phase, size_t done, size_t total);
    void *ud;
} sync_progress_t;

/* Compare every mapped SKU's Odoo quantity with Shopify's at each mapped location; with push, correct the
 * differences through the same batched path as the poller. *levels (free()) gets one row per (SKU, location)
 * that differs or failed (every row with all_rows). Returns 0 (even when some rows failed: see their status), or
 * -1 when the comparison itself could not be made (err). */
int sync_stock_reconcile(const cfg_t *cfg, const cfg_shop_t *shop, shopify_throttle_t *throttle, store_t *s,
                         bool push, bool all_rows, const sync_progress_t *progress, sync_level_t **levels, size_t *n,
                         err_t *err);

/* ---- orders (flow_reconcile.c) ------------------------------------------------------------------------------- */

typedef struct sync_order_row {
    char id[24];
    char name[32];
    int64_t updated_at;      /* Shopify's updatedAt, ms */
    int64_t applied;         /* the version applied to Odoo per the link; 0 = none */
    bool enqueued;           /* a job was enqueued (false under dry-run, or when the job already existed) */
} sync_order_row_t;

/* List the shop's Shopify orders updated since since_ms and enqueue an order job for every one that is missing in
 * Odoo or newer than its link (not under dry_run). *rows (free()) gets those orders. 0 or -1. */
int sync_orders_reconcile(const cfg_t *cfg, const cfg_shop_t *shop, shopify_throttle_t *throttle, store_t *s,
                          int64_t since_ms, bool dry_run, const sync_progress_t *progress, sync_order_row_t **rows,
                          size_t *n, err_t *err);

#endif
