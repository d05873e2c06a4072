/* flow_reconcile: the fallback for webhooks that never arrived (a removed subscription, an outage longer than
 * Shopify's retries): list the orders Shopify updated since a point in time and enqueue an order job for every one
 * Odoo lacks or has in an older version. Run by `synchub reconcile orders` and, as reconcile.orders jobs, on a
 * schedule inside serve. The jobs carry only the order's id: the worker fetches the current order (flow_orders.c).
 * Not here: writing orders to Odoo (flow_orders.c), inventory reconciliation (flow_stock.c). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "shopify/shopify_orders.h"
#include "flows/flows_internal.h"

#define LIST_PAGE 250            /* orders per page: 252 points, ids and dates only */
#define RECONCILE_OVERLAP_MS 600000   /* each scheduled run starts 10 minutes before the last one ended */

/* Enqueue the order job for one listed order. Same ordering key as the webhooks of that order, so both kinds of
 * job for one order run one at a time, oldest first. */
static int enqueue_order(store_t *s, const cfg_t *cfg, const cfg_shop_t *shop, const sync_order_row_t *row,
                         const char *correlation, bool *dup, err_t *err)
{
    char okey[300], idem[300], iso[40];
    snprintf(okey, sizeof(okey), "shopify:%s:order:%s", shop->domain, row->id);
    snprintf(idem, sizeof(idem), "shopify|%s|reconcile|%s|u:%" PRId64, shop->domain, row->id, row->updated_at);
    clock_format_iso8601(row->updated_at, iso, sizeof(iso));
    json_t *payload = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)strtoll(row->id, NULL, 10), "name", row->name,
                                "updated_at", iso);
    json_t *meta = json_pack("{s:s, s:s, s:s, s:b}", "shop", shop->domain, "topic", "orders/updated", "source",
                             "reconcile", "fetch", 1);
    char *ptext = json_dumps(payload, JSON_COMPACT), *mtext = json_dumps(meta, JSON_COMPACT);
    json_decref(payload);
    json_decref(meta);
    int rc = -1;
    if (ptext && mtext) {
        queue_policy_t pol = queue_policy_for(cfg, "shopify.order");
        job_new_t j = {0};
        queue_job_id(idem, strlen(idem), j.id);
        j.kind = "shopify.order";
        j.ordering_key = okey;
        j.payload = ptext;
        j.payload_len = strlen(ptext);
        j.source = "reconcile";
        /* Inside a reconcile.orders job the order jobs continue its chain; from the CLI each starts one. */
        char own[JOB_ID_LEN + 8];
        snprintf(own, sizeof(own), "cli:%s", j.id);
        j.correlation_id = correlation ? correlation : own;
        j.meta = mtext;
        j.event_time_ms = row->updated_at;
        j.priority = pol.priority;
        j.max_attempts = pol.max_attempts;
        j.lease_ms = pol.lease_ms;
        rc = store_enqueue(s, &j, 1, dup, err);
    } else {
        err_set(err, ERR_INTERNAL, "sync.oom", "out of memory");
    }
    free(ptext);
    free(mtext);
    return rc;
}

static int reconcile_with(shopify_t *sh, const cfg_t *cfg, const cfg_shop_t *shop, store_t *s, int64_t since_ms,
                          bool dry_run, const char *correlation, const sync_progress_t *progress,
                          sync_order_row_t **rows, size_t *n, err_t *err)
{
    buf_t cursor = BUF_INIT;
    size_t cap = 0, listed = 0;
    int rc = -1;
    *rows = NULL;
    *n = 0;
    for (;;) {
        json_t *page = NULL;
        /* The cursor is read before next_cursor is reset (shopify_order_list_page copies it first). */
        if (shopify_order_list_page(sh, since_ms, buf_str(&cursor), LIST_PAGE, &page, &cursor, err) < 0)
            goto out;
        size_t i;
        json_t *o;
        json_array_foreach(page, i, o) {
            sync_order_row_t row = {0};
            snprintf(row.id, sizeof(row.id), "%s", json_string_value(json_object_get(o, "id")) ?: "");
            snprintf(row.name, sizeof(row.name), "%s", json_string_value(json_object_get(o, "name")) ?: "");
            row.updated_at = json_integer_value(json_object_get(o, "updated_at_ms"));
            listed++;
            store_link_t link;
            int have = store_link_get(s, "shopify", shop->domain, "order", row.id, &link, err);
            if (have < 0) {
                json_decref(page);
                goto out;
            }
            if (have) {
                row.applied = link.version ? link.version : 1;
                store_link_release(&link);
            }
            if (have && row.applied >= row.updated_at)
                continue;   /* Odoo has this version (or a newer one) */
            if (!dry_run) {
                bool dup = false;
                if (enqueue_order(s, cfg, shop, &row, correlation, &dup, err) < 0) {
                    json_decref(page);
                    goto out;
                }
                row.enqueued = !dup;
            }
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                sync_order_row_t *r = realloc(*rows, cap * sizeof(*r));
                if (!r) {
                    json_decref(page);
                    err_set(err, ERR_INTERNAL, "sync.oom", "out of memory");
                    goto out;
                }
                *rows = r;
            }
            (*rows)[(*n)++] = row;
        }
        json_decref(page);
        if (progress && progress->fn)
            progress->fn(progress->ud, "orders", listed, 0);
        if (!cursor.len)
            break;
    }
    rc = 0;
out:
    buf_release(&cursor);
    if (rc < 0) {
        free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return rc;
}

int sync_orders_reconcile(const cfg_t *cfg, const cfg_shop_t *shop, shopify_throttle_t *throttle, store_t *s,
                          int64_t since_ms, bool dry_run, const sync_progress_t *progress, sync_order_row_t **rows,
                          size_t *n, err_t *err)
{
    *rows = NULL;
    *n = 0;
    if (!shop->admin_token.value) {
        err_set(err, ERR_CONFIGURATION, "config.admin_token", "shop %s has no admin_token: its orders cannot be listed",
                shop->domain);
        err_hint(err, "set admin_token in [shop %s] (an Admin API token with read_orders)", shop->domain);
        return -1;
    }
    shopify_t *sh = shopify_new(shop, throttle);
    if (!sh)
        return err_set(err, ERR_INTERNAL, "sync.oom", "out of memory");
    int rc = reconcile_with(sh, cfg, shop, s, since_ms, dry_run, NULL, progress, rows, n, err);
    shopify_free(sh);
    return rc;
}

int sync_reconcile_since(shopify_t *sh, const cfg_t *cfg, const cfg_shop_t *shop, store_t *s, int64_t since_ms,
                         const char *correlation, size_t *found, size_t *enqueued, err_t *err)
{
    sync_order_row_t *rows = NULL;
    size_t n = 0;
    *found = *enqueued = 0;
    if (reconcile_with(sh, cfg, shop, s, since_ms, false, correlation, NULL, &rows, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        *enqueued += rows[i].enqueued;
    *found = n;
    free(rows);
    return 0;
}

/* The scheduled run: from the cursor (minus an overlap) or, the first time, reconcile_window back. */
static int h_reconcile_orders(queue_run_t *run)
{
    const cfg_shop_t *shop;
    sync_worker_t *w = sync_job_begin(run, &shop, NULL);
    if (!w)
        return -1;
    const cfg_t *cfg = sync_cfg(run->udata);
    sync_cursor_t cur;
    if (sync_cursor_load(run->store, "reconcile.orders", shop->domain, &cur, &run->err) < 0)
        return -1;
    int64_t started = clock_now_ms(), since = started - shop->reconcile_window_ms, at;
    if (cur.position[0] && clock_parse_iso8601(cur.position, &at) == 0)
        since = at - RECONCILE_OVERLAP_MS;
    sync_order_row_t *rows = NULL;
    size_t n = 0;
    if (reconcile_with(sync_worker_shopify(w, shop), cfg, shop, run->store, since, false,
                       run->job->correlation_id, NULL, &rows, &n, &run->err) < 0) {
        err_record(&run->err, "order reconciliation of shop %s", shop->domain);
        return -1;
    }
    size_t enqueued = 0;
    for (size_t i = 0; i < n; i++)
        enqueued += rows[i].enqueued;
    free(rows);
    metrics_add(sync_metrics(run->udata), METRIC_RECONCILE_DRIFT, (const char *[]){shop->domain, "orders"},
                (double)n);
    /* The next run starts from when this one started: orders updated while it listed are seen again. */
    char pos[40], since_iso[40];
    clock_format_iso8601(started, pos, sizeof(pos));
    if (sync_cursor_advance(run->store, "reconcile.orders", shop->domain, &cur, pos, &run->err) < 0)
        return -1;
    snprintf(run->note, sizeof(run->note), "orders updated since %s: %zu missing or older in Odoo, %zu job(s) "
                                           "enqueued", clock_format_iso8601(since, since_iso, sizeof(since_iso)), n,
             enqueued);
    return 0;
}

int sync_reconcile_register(queue_registry_t *reg, sync_t *sy)
{
    return queue_registry_add_slot(reg, SYNC_KIND_RECONCILE_ORDERS, h_reconcile_orders, sy, sync_worker_free);
}
