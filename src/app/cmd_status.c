/* cmd_status: `synchub status` and `synchub check-config` — the two one-screen answers to "is it healthy?" and
 * "will this config start?". */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "core/clock.h"
#include "queue/queue_breaker.h"

int cmd_status(app_t *a)
{
    store_db_t *db;
    store_t *s;
    int rc = app_open_store(a, false, &db, &s);
    if (rc != APP_OK)
        return rc;
    store_stats_t st;
    err_t err;
    int64_t now = clock_now_ms();
    if (store_stats(s, now, &st, &err) < 0) {
        app_print_err(&err);
        rc = APP_STORE;
        goto out;
    }
    /* the breakers as the nodes published them: which target is down, since when */
    queue_breaker_view_t bv[32];
    size_t nb = 0;
    if (queue_breaker_load(s, bv, 32, &nb, &err) < 0)
        nb = 0; /* a store too old to have them, or unreadable: the rest of the status still helps */
    double oldest = st.oldest_queued_ms ? (double)(now - st.oldest_queued_ms) / 1000.0 : -1;
    double lag = st.oldest_due_ms ? (double)(now - st.oldest_due_ms) / 1000.0 : 0;
    if (a->json) {
        printf("{\"states\":{");
        for (int i = 0; i < JOB_STATE_COUNT; i++)
            printf("%s\"%s\":%lld", i ? "," : "", job_state_name((job_state_t)i), (long long)st.by_state[i]);
        printf("},\"oldest_queued_age_seconds\":");
        if (oldest < 0)
            printf("null");
        else
            printf("%.3f", oldest);
        printf(",\"lag_seconds\":%.3f,\"retries_last_hour\":%lld,\"dead\":%lld,\"paused\":[", lag,
               (long long)st.retries_last_hour, (long long)st.by_state[JOB_DEAD]);
        int k = 0;
        for (size_t i = 0; i < nb; i++) {
            if (bv[i].state == BREAKER_CLOSED)
                continue;
            char since[40];
            printf("%s{\"target\":\"%s\",\"system\":\"%s\",\"state\":\"%s\",\"since\":\"%s\",\"jobs\":%zu}",
                   k++ ? "," : "", bv[i].target, bv[i].system, queue_breaker_state_name(bv[i].state),
                   clock_format_iso8601(bv[i].since, since, sizeof(since)), bv[i].paused);
        }
        printf("]}\n");
    } else {
        printf("store               %s\n", store_db_path(db));
        for (int i = 0; i < JOB_STATE_COUNT; i++)
            printf("%-19s %lld\n", job_state_name((job_state_t)i), (long long)st.by_state[i]);
        if (oldest < 0)
            printf("oldest queued       -\n");
        else
            printf("oldest queued       %.1fs ago\n", oldest);
        printf("lag (oldest due)    %.1fs\n", lag);
        printf("retries last hour   %lld\n", (long long)st.retries_last_hour);
        printf("dead                %lld%s\n", (long long)st.by_state[JOB_DEAD],
               st.by_state[JOB_DEAD] ? "   (synchub jobs list --state dead)" : "");
        for (size_t i = 0; i < nb; i++) {
            if (bv[i].state == BREAKER_CLOSED)
                continue;
            char since[40];
            printf("paused              %s down since %s (%.0fs): %zu jobs wait, attempts not counted; probing\n",
                   bv[i].target, clock_format_iso8601(bv[i].since, since, sizeof(since)),
                   (double)(now - bv[i].since) / 1000.0, bv[i].paused);
        }
    }
out:
    store_disconnect(s);
    store_db_close(db);
    return rc;
}

int cmd_check_config(app_t *a)
{
    const cfg_t *c = a->cfg;
    printf("%s: ok\n", c->path);
    printf("  listen   %s:%lld, %lld workers, max body %lld bytes\n", c->listen.host, (long long)c->listen.port,
           (long long)c->workers, (long long)c->max_body);
    if (c->ops_listen.host)
        printf("  ops      %s:%lld: `synchub worker` answers /metrics, /healthz, /readyz there\n", c->ops_listen.host,
               (long long)c->ops_listen.port);
    else
        printf("  ops      none: `synchub worker` serves no HTTP (set [server] ops_listen to scrape and probe it)\n");
    printf("  store    %s (%s), retention %llds\n",
           strcmp(c->store_backend, "postgres") ? c->store_path : "[store] url", c->store_backend,
           (long long)(c->retention_ms / 1000));
    for (size_t i = 0; i < c->nshops; i++) {
        const cfg_shop_t *sh = &c->shops[i];
        printf("  shop     %s (secret set%s)\n", sh->domain,
               sh->webhook_secret_previous.value ? ", previous secret accepted during rotation" : "");
        /* Which Odoo → Shopify flows will run, and why not: the usual "why is nothing happening" question. */
        if (!sh->admin_token.value)
            printf("           no admin_token: webhook payloads used as sent; no stock, fulfillments or reconciliation\n");
        else if (!c->odoo.configured)
            printf("           no [odoo]: nothing to sync\n");
        else
            printf("           Admin API %s; orders fetched fresh; stock %s; fulfillments %s; order reconciliation %s\n",
                   sh->api_version, !sh->locations ? "off (no locations)" : sh->inventory_interval_ms ? "polled" : "off",
                   sh->fulfillment_interval_ms ? "polled" : "off", sh->reconcile_interval_ms ? "scheduled" : "off");
    }
    if (c->nshops == 0)
        printf("  shop     none: every Shopify webhook will be answered 404\n");
    return APP_OK;
}
