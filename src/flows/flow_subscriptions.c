/* flow_subscriptions: compare a shop's webhook subscriptions with the topics its flows need and create the missing
 * ones (flow_subscriptions.h). The scheduler's job (re-create, count, reconcile the gap) is at the end. */
#define _GNU_SOURCE
#include "flows/flow_subscriptions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "shopify/shopify_webhooks.h"
#include "flows/flow_catalog.h"
#include "flows/flows_internal.h"

int sync_subscriptions_uri(const cfg_shop_t *shop, char *out, size_t n)
{
    if (!shop->public_url || !*shop->public_url) {
        if (n)
            out[0] = '\0';
        return -1;
    }
    size_t len = strlen(shop->public_url);
    while (len && shop->public_url[len - 1] == '/')
        len--;
    snprintf(out, n, "%.*s/webhooks/shopify", (int)len, shop->public_url);
    return 0;
}

const char *sync_subscriptions_unmanaged(const cfg_t *cfg, const cfg_shop_t *shop)
{
    if (!shop->admin_token.value)
        return "no admin_token (the Admin API manages subscriptions)";
    if (!shop->public_url)
        return "no public_url (where Shopify should deliver)";
    if (!*sync_catalog_topics(cfg, shop))
        return "no flow of this shop is fed by webhooks ([odoo] is not configured)";
    return NULL;
}

typedef struct plan_ud {
    json_t *ok, *missing, *foreign;
} plan_ud_t;

static void on_ok(const char *topic, const shopify_sub_t *sub, void *ud)
{
    (void)sub;
    json_array_append_new(((plan_ud_t *)ud)->ok, json_string(topic));
}

static void on_missing(const char *topic, void *ud)
{
    json_array_append_new(((plan_ud_t *)ud)->missing, json_string(topic));
}

static void on_foreign(const shopify_sub_t *sub, bool needed, void *ud)
{
    json_array_append_new(((plan_ud_t *)ud)->foreign, json_pack("{s:s, s:s, s:s, s:b}", "id", sub->id, "topic",
                                                                sub->topic, "uri", sub->uri, "topic_needed", needed));
}

/* After a refused create: is a subscription of this topic to this address there now? */
static bool created_meanwhile(shopify_t *sh, const char *topic, const char *uri)
{
    shopify_subs_t have;
    err_t e;
    if (shopify_subs_list(sh, &have, &e) < 0)
        return false;
    bool found = false;
    for (size_t i = 0; i < have.n && !found; i++)
        found = !strcmp(have.items[i].topic, topic) && !strcmp(have.items[i].uri, uri);
    shopify_subs_free(&have);
    return found;
}

int sync_subscriptions_check(const cfg_t *cfg, const cfg_shop_t *shop, shopify_t *sh, bool create, json_t **result,
                             err_t *err)
{
    char uri[1100];
    *result = NULL;
    if (sync_subscriptions_uri(shop, uri, sizeof(uri)) < 0)
        return err_full(err, ERR_CONFIGURATION, "config.public_url", shop->domain,
                        "set public_url in the [shop] section: the https:// address Shopify reaches synchub at",
                        "shop %s has no public_url", shop->domain);
    shopify_subs_t have;
    if (shopify_subs_list(sh, &have, err) < 0)
        return -1;
    plan_ud_t p = {json_array(), json_array(), json_array()};
    shopify_sub_plan_cb_t cb = {on_ok, on_missing, on_foreign};
    shopify_subs_plan(&have, sync_catalog_topics(cfg, shop), uri, &cb, &p);
    shopify_subs_free(&have);
    json_t *created = json_array(), *failed = json_array(), *still = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(p.missing, i, t) {
        if (!create) {
            json_array_append(still, t);
            continue;
        }
        char *id = NULL;
        err_t e;
        int rc = shopify_sub_create(sh, json_string_value(t), uri, &id, &e);
        if (rc < 0 && e.cls != ERR_TRANSIENT && created_meanwhile(sh, json_string_value(t), uri)) {
            /* another synchub (the scheduler, a second `setup`) made it between our list and our create: Shopify
             * answers "Address for this topic has already been taken", and the subscription is in place */
            json_array_append(p.ok, t);
            continue;
        }
        if (rc < 0)
            json_array_append_new(failed, json_pack("{s:O, s:s, s:s, s:s, s:s}", "topic", t, "class",
                                                    err_class_name(e.cls), "code", e.code, "error", e.message,
                                                    "hint", e.hint));
        else
            json_array_append_new(created, json_pack("{s:O, s:s?}", "topic", t, "id", id));
        free(id);
    }
    json_decref(p.missing);
    *result = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "shop", shop->domain, "uri", uri, "ok", p.ok,
                        "missing", still, "created", created, "failed", failed, "foreign", p.foreign);
    return 0;
}

/* ---- the scheduler's check (shopify.subscriptions jobs) ------------------------------------------------------- */

/* How far before the last check that found every subscription in place the gap's reconciliation starts: Shopify
 * retries a delivery for 4 hours, so an event that was still being retried then may be one of those lost when the
 * subscription was removed later (platform-facts.md section 1: 8 retries over 4 h). */
#define GAP_MARGIN_MS (4 * 3600000LL + 10 * 60000LL)

/* The cursor "subscriptions:SHOP": "" (never checked), "ok ISO" (the last check found everything in place) or
 * "gap ISO" (a subscription was re-created; orders since ISO are still to be reconciled — a retry does it). */
static int h_subscriptions(queue_run_t *run)
{
    const cfg_shop_t *shop;
    sync_worker_t *w = sync_job_begin(run, &shop, NULL);
    if (!w)
        return -1;
    const cfg_t *cfg = sync_cfg(run->udata);
    metrics_t *m = sync_metrics(run->udata);
    shopify_t *sh = sync_worker_shopify(w, shop);
    if (!sh)
        return err_set(&run->err, ERR_INTERNAL, "sync.oom", "out of memory");
    sync_cursor_t cur;
    if (sync_cursor_load(run->store, "subscriptions", shop->domain, &cur, &run->err) < 0)
        return -1;
    int64_t now = clock_now_ms(), last_ok = 0, gap_since = 0;
    if (!strncmp(cur.position, "ok ", 3))
        clock_parse_iso8601(cur.position + 3, &last_ok);
    else if (!strncmp(cur.position, "gap ", 4))
        clock_parse_iso8601(cur.position + 4, &gap_since);
    json_t *r = NULL;
    if (sync_subscriptions_check(cfg, shop, sh, true, &r, &run->err) < 0) {
        err_record(&run->err, "webhook subscriptions of shop %s", shop->domain);
        return -1;
    }
    const char *uri = json_string_value(json_object_get(r, "uri"));
    json_t *created = json_object_get(r, "created"), *failed = json_object_get(r, "failed");
    size_t i;
    json_t *v;
    /* Something was there before (a check found all in place): a missing one now was removed, by Shopify after
     * failed deliveries or by hand. The first check ever only completes what setup did not. */
    bool removed = json_array_size(created) && (last_ok || gap_since);
    json_array_foreach(created, i, v) {
        const char *topic = json_string_value(json_object_get(v, "topic"));
        if (removed) {
            metrics_add(m, METRIC_SUBSCRIPTIONS_RECREATED, (const char *[]){shop->domain, topic}, 1);
            log_kv(LOG_LVL_WARN, "sync", "webhook subscription was missing in the shop (Shopify removes one after 8 "
                   "failed deliveries); re-created, and orders are reconciled over the gap", "shop", shop->domain,
                   "topic", topic, "uri", uri, NULL);
        } else {
            log_kv(LOG_LVL_INFO, "sync", "webhook subscription created", "shop", shop->domain, "topic", topic, "uri",
                   uri, NULL);
        }
    }
    if (removed && !gap_since) {
        gap_since = last_ok - GAP_MARGIN_MS;
        char pos[48], iso[40];
        snprintf(pos, sizeof(pos), "gap %s", clock_format_iso8601(gap_since, iso, sizeof(iso)));
        /* Stored before the reconciliation: if it fails, the retry still knows the gap. */
        if (sync_cursor_advance(run->store, "subscriptions", shop->domain, &cur, pos, &run->err) < 0) {
            json_decref(r);
            return -1;
        }
        cur.seq++;
    }
    size_t found = 0, enqueued = 0;
    if (gap_since) {
        if (sync_reconcile_since(sh, cfg, shop, run->store, gap_since, run->job->correlation_id, &found, &enqueued,
                                 &run->err) < 0) {
            err_record(&run->err, "order reconciliation over the webhook gap of shop %s", shop->domain);
            json_decref(r);
            return -1;
        }
        metrics_add(m, METRIC_RECONCILE_DRIFT, (const char *[]){shop->domain, "orders"}, (double)found);
    }
    if (json_array_size(failed)) {
        json_t *f = json_array_get(failed, 0);
        err_class_t cls = ERR_TRANSIENT;
        err_class_parse(json_string_value(json_object_get(f, "class")), &cls);
        err_full(&run->err, cls, json_string_value(json_object_get(f, "code")), shop->domain,
                 json_string_value(json_object_get(f, "hint")), "webhook subscription %s to %s could not be created: "
                 "%s", json_string_value(json_object_get(f, "topic")), uri,
                 json_string_value(json_object_get(f, "error")));
        json_decref(r);
        return -1;   /* the cursor keeps the gap (if any) for the retry */
    }
    char pos[48], iso[40], since_iso[40];
    snprintf(pos, sizeof(pos), "ok %s", clock_format_iso8601(now, iso, sizeof(iso)));
    if (sync_cursor_advance(run->store, "subscriptions", shop->domain, &cur, pos, &run->err) < 0) {
        json_decref(r);
        return -1;
    }
    snprintf(run->note, sizeof(run->note), "%zu in place, %zu %s, %zu foreign left alone%s%s%s", json_array_size(
             json_object_get(r, "ok")), json_array_size(created), removed ? "re-created" : "created",
             json_array_size(json_object_get(r, "foreign")), gap_since ? "; orders since " : "",
             gap_since ? clock_format_iso8601(gap_since, since_iso, sizeof(since_iso)) : "", "");
    if (gap_since) {
        size_t len = strlen(run->note);
        snprintf(run->note + len, sizeof(run->note) - len, " reconciled: %zu missing or older in Odoo, %zu job(s) "
                 "enqueued", found, enqueued);
    }
    json_decref(r);
    return 0;
}

int sync_subscriptions_register(queue_registry_t *reg, sync_t *sy)
{
    return queue_registry_add_slot(reg, SYNC_KIND_SUBSCRIPTIONS, h_subscriptions, sy, sync_worker_free);
}
