/* cmd_reconcile: `synchub reconcile orders|inventory` — find and repair what webhooks and polls missed: Shopify
 * orders missing or outdated in Odoo (enqueued as order jobs for the workers), and stock that drifted between
 * Odoo and Shopify (printed as a table and corrected through the poller's batched path). Prints; the work itself
 * is in src/flows/. Runs next to a live `serve` (same store, its own rate-limit estimate: Shopify's THROTTLED
 * answers keep the two processes within the shop's bucket). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "core/clock.h"
#include "flows/flows.h"

typedef struct opts {
    const char *shop, *since;
    bool dry_run, all;
} opts_t;

static void on_progress(void *ud, const char *phase, size_t done, size_t total)
{
    (void)ud;
    if (total)
        fprintf(stderr, "\r%-16s %zu/%zu   ", phase, done, total);
    else
        fprintf(stderr, "\r%-16s %zu   ", phase, done);
    fflush(stderr);
}

static void end_progress(const sync_progress_t *p)
{
    if (p->fn)
        fputs("\r\033[K", stderr);
}

static int parse(app_t *a, opts_t *o)
{
    for (int i = 1; i < a->argc; i++) {
        if (app_opt_value(a->argc, a->argv, &i, "--shop", &o->shop) ||
            app_opt_value(a->argc, a->argv, &i, "--since", &o->since))
            continue;
        if (!strcmp(a->argv[i], "--dry-run"))
            o->dry_run = true;
        else if (!strcmp(a->argv[i], "--all"))
            o->all = true;
        else {
            fprintf(stderr, "synchub reconcile: unknown option '%s' (see `synchub reconcile --help`)\n", a->argv[i]);
            return -1;
        }
    }
    if (o->shop && !cfg_shop_find(a->cfg, o->shop)) {
        fprintf(stderr, "synchub reconcile: shop %s is not configured\n", o->shop);
        return -1;
    }
    return 0;
}

/* Print the collected rows under --json, release them, pass rc on. */
static int finish(const app_t *a, json_t *out, int rc)
{
    if (a->json) {
        char *t = json_dumps(out, JSON_COMPACT);
        printf("%s\n", t ? t : "[]");
        free(t);
    }
    json_decref(out);
    return rc;
}

/* --since: an ISO 8601 time, or a duration back from now ("2d"). */
static int since_ms(const char *text, int64_t dflt_back, int64_t *out)
{
    int64_t now = clock_now_ms(), v;
    if (!text) {
        *out = now - dflt_back;
        return 0;
    }
    if (clock_parse_iso8601(text, &v) == 0) {
        *out = v;
        return 0;
    }
    if (clock_parse_duration_ms(text, &v) == 0) {
        *out = now - v;
        return 0;
    }
    fprintf(stderr, "synchub reconcile: --since takes an ISO 8601 time (2026-11-20T00:00:00Z) or a duration "
                    "(36h, 3d), not '%s'\n", text);
    return -1;
}

static int reconcile_orders(app_t *a, const opts_t *o, store_t *s, const sync_progress_t *prog)
{
    int rc = APP_OK;
    json_t *out = json_array();
    for (size_t i = 0; i < a->cfg->nshops; i++) {
        const cfg_shop_t *shop = &a->cfg->shops[i];
        if ((o->shop && strcasecmp(o->shop, shop->domain) != 0) || (!o->shop && !shop->admin_token.value))
            continue;
        int64_t since;
        if (since_ms(o->since, shop->reconcile_window_ms, &since) < 0) {
            json_decref(out);
            return APP_USAGE;
        }
        sync_order_row_t *rows = NULL;
        size_t n = 0;
        err_t err;
        if (sync_orders_reconcile(a->cfg, shop, NULL, s, since, o->dry_run, prog, &rows, &n, &err) < 0) {
            end_progress(prog);
            app_print_err(&err);
            rc = APP_FAIL;
            continue;
        }
        end_progress(prog);
        char iso[40], iso2[40];
        if (!a->json)
            printf("shop %s: orders updated since %s: %zu missing or outdated in Odoo%s\n", shop->domain,
                   clock_format_iso8601(since, iso, sizeof(iso)), n, o->dry_run ? " (dry run: nothing enqueued)" : "");
        for (size_t k = 0; k < n; k++) {
            const sync_order_row_t *r = &rows[k];
            const char *action = o->dry_run ? "would enqueue" : r->enqueued ? "enqueued" : "already queued";
            if (a->json) {
                json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "shop", shop->domain, "id",
                                                     r->id, "name", r->name, "updated_at",
                                                     clock_format_iso8601(r->updated_at, iso, sizeof(iso)), "applied",
                                                     r->applied > 1 ? json_string(clock_format_iso8601(
                                                                          r->applied, iso2, sizeof(iso2)))
                                                                    : json_null(),
                                                     "action", action));
            } else {
                printf("  %-10s %-16s updated %s  in Odoo: %-24s %s\n", r->name, r->id,
                       clock_format_iso8601(r->updated_at, iso, sizeof(iso)),
                       r->applied > 1 ? clock_format_iso8601(r->applied, iso2, sizeof(iso2))
                                      : r->applied ? "(version unknown)" : "missing",
                       action);
            }
        }
        free(rows);
    }
    return finish(a, out, rc);
}

static const char *status_name(int st)
{
    static const char *const names[] = {"same", "drift", "pushed", "failed", "not in odoo"};
    return st >= 0 && st < (int)(sizeof(names) / sizeof(names[0])) ? names[st] : "?";
}

static int reconcile_inventory(app_t *a, const opts_t *o, store_t *s, const sync_progress_t *prog)
{
    int rc = APP_OK;
    json_t *out = json_array();
    for (size_t i = 0; i < a->cfg->nshops; i++) {
        const cfg_shop_t *shop = &a->cfg->shops[i];
        if ((o->shop && strcasecmp(o->shop, shop->domain) != 0) ||
            (!o->shop && !sync_enabled(a->cfg, shop, "stock.poll")))
            continue;
        sync_level_t *rows = NULL;
        size_t n = 0;
        err_t err;
        if (sync_stock_reconcile(a->cfg, shop, NULL, s, !o->dry_run, o->all, prog, &rows, &n, &err) < 0) {
            end_progress(prog);
            app_print_err(&err);
            rc = APP_FAIL;
            continue;
        }
        end_progress(prog);
        size_t drift = 0, failed = 0, pushed = 0;
        for (size_t k = 0; k < n; k++) {
            drift += rows[k].status == SYNC_LEVEL_DRIFT || rows[k].status == SYNC_LEVEL_PUSHED;
            failed += rows[k].status == SYNC_LEVEL_FAILED;
            pushed += rows[k].status == SYNC_LEVEL_PUSHED;
        }
        if (!a->json) {
            printf("shop %s: %zu level(s) differ, %zu corrected, %zu failed%s\n", shop->domain, drift, pushed, failed,
                   o->dry_run ? " (dry run: nothing pushed)" : "");
            if (n)
                printf("  %-24s %-14s %8s %8s %6s  %s\n", "SKU", "LOCATION", "ODOO", "SHOPIFY", "DIFF", "STATUS");
        }
        for (size_t k = 0; k < n; k++) {
            const sync_level_t *r = &rows[k];
            if (a->json) {
                json_t *row = json_pack("{s:s, s:s, s:s, s:s}", "shop", shop->domain, "sku", r->sku, "location",
                                        r->location, "status", status_name(r->status));
                json_object_set_new(row, "odoo", r->odoo >= 0 ? json_integer(r->odoo) : json_null());
                json_object_set_new(row, "shopify", r->shopify >= 0 ? json_integer(r->shopify) : json_null());
                if (r->status == SYNC_LEVEL_FAILED)
                    json_object_set_new(row, "error", json_pack("{s:s, s:s, s:s, s:s}", "class",
                                                                err_class_name(r->err.cls), "code", r->err.code,
                                                                "message", r->err.message, "hint", r->err.hint));
                json_array_append_new(out, row);
                continue;
            }
            char odoo[24] = "-", shopify[24] = "-", diff[24] = "";
            if (r->odoo >= 0)
                snprintf(odoo, sizeof(odoo), "%" PRId64, r->odoo);
            if (r->shopify >= 0)
                snprintf(shopify, sizeof(shopify), "%" PRId64, r->shopify);
            if (r->odoo >= 0 && r->shopify >= 0)
                snprintf(diff, sizeof(diff), "%+" PRId64, r->shopify - r->odoo);
            printf("  %-24s %-14s %8s %8s %6s  %s\n", r->sku, r->location, odoo, shopify, diff,
                   status_name(r->status));
            if (r->status == SYNC_LEVEL_FAILED)
                printf("      %s: %s\n      → %s\n", r->err.code, r->err.message, r->err.hint);
        }
        if (failed)
            rc = APP_FAIL;
        free(rows);
    }
    return finish(a, out, rc);
}

int cmd_reconcile(app_t *a)
{
    opts_t o = {0};
    const char *what = a->argc > 0 ? a->argv[0] : NULL;
    if (!what || (strcmp(what, "orders") != 0 && strcmp(what, "inventory") != 0)) {
        fprintf(stderr, "usage: synchub reconcile orders|inventory [options] (see `synchub reconcile --help`)\n");
        return APP_USAGE;
    }
    if (parse(a, &o) < 0)
        return APP_USAGE;
    store_db_t *db;
    store_t *s;
    int rc = app_open_store(a, true, &db, &s);
    if (rc != APP_OK)
        return rc;
    /* Progress only for a person watching: never into a pipe or a log. */
    sync_progress_t prog = {isatty(STDERR_FILENO) && !a->json ? on_progress : NULL, NULL};
    rc = !strcmp(what, "orders") ? reconcile_orders(a, &o, s, &prog) : reconcile_inventory(a, &o, s, &prog);
    store_disconnect(s);
    store_db_close(db);
    return rc;
}
