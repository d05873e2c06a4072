/* cmd_setup: `synchub setup shopify [--shop D] [--dry-run] [--json]` — subscribe, through the Admin API, every
 * webhook topic the shop's flows need to [shop] public_url/webhooks/shopify, so that no subscription has to be made
 * by hand in Shopify's admin. Idempotent (what exists is left as it is); removes nothing (a foreign subscription is
 * listed, not deleted). Not here: the comparison and the calls (sync/flow_subscriptions.c, shopify/). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "flows/flow_subscriptions.h"

static void print_result(const json_t *r, bool dry_run)
{
    const char *shop = json_string_value(json_object_get(r, "shop"));
    printf("shop %s -> %s\n", shop, json_string_value(json_object_get(r, "uri")));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r, "ok"), i, v)
        printf("  ok        %-24s already subscribed\n", json_string_value(v));
    json_array_foreach(json_object_get(r, "created"), i, v)
        printf("  created   %-24s %s\n", json_string_value(json_object_get(v, "topic")),
               json_string_value(json_object_get(v, "id")) ?: "");
    json_array_foreach(json_object_get(r, "missing"), i, v)
        printf("  %-9s %-24s\n", dry_run ? "would add" : "missing", json_string_value(v));
    json_array_foreach(json_object_get(r, "failed"), i, v)
        printf("  FAILED    %-24s %s (%s) %s\n", json_string_value(json_object_get(v, "topic")),
               json_string_value(json_object_get(v, "error")), json_string_value(json_object_get(v, "class")),
               json_string_value(json_object_get(v, "hint")));
    json_array_foreach(json_object_get(r, "foreign"), i, v)
        printf("  foreign   %-24s -> %s (%s; left as it is: setup removes no subscription)\n",
               json_string_value(json_object_get(v, "topic")), json_string_value(json_object_get(v, "uri")),
               json_is_true(json_object_get(v, "topic_needed")) ? "another address" : "a topic no flow needs");
}

int cmd_setup(app_t *a)
{
    const char *only = NULL;
    bool dry_run = false;
    if (a->argc < 1 || strcmp(a->argv[0], "shopify") != 0) {
        fprintf(stderr, "synchub setup: expected `synchub setup shopify [--shop D] [--dry-run]`\n");
        return APP_USAGE;
    }
    for (int i = 1; i < a->argc; i++) {
        const char *v;
        if (app_opt_value(a->argc, a->argv, &i, "--shop", &v)) {
            if (!v)
                return APP_USAGE;
            only = v;
        } else if (!strcmp(a->argv[i], "--dry-run")) {
            dry_run = true;
        } else {
            fprintf(stderr, "synchub setup shopify: unknown argument '%s'\n", a->argv[i]);
            return APP_USAGE;
        }
    }
    const cfg_t *cfg = a->cfg;
    if (only && !cfg_shop_find(cfg, only)) {
        fprintf(stderr, "synchub setup shopify: no [shop %s] in %s\n", only, cfg->path);
        return APP_USAGE;
    }
    int failures = 0, done = 0;
    json_t *all = json_array();
    for (size_t i = 0; i < cfg->nshops; i++) {
        const cfg_shop_t *shop = &cfg->shops[i];
        if (only && strcasecmp(shop->domain, only) != 0)
            continue;
        const char *why = sync_subscriptions_unmanaged(cfg, shop);
        if (why) {
            if (a->json)
                json_array_append_new(all, json_pack("{s:s, s:s}", "shop", shop->domain, "skipped", why));
            else
                printf("shop %s: skipped: %s\n", shop->domain, why);
            failures += only != NULL;   /* asked for by name: that it cannot be done is a failure */
            continue;
        }
        shopify_t *sh = shopify_new(shop, NULL);
        json_t *r = NULL;
        err_t err;
        if (!sh || sync_subscriptions_check(cfg, shop, sh, !dry_run, &r, &err) < 0) {
            if (!sh)
                err_full(&err, ERR_INTERNAL, "app.oom", shop->domain, NULL, "out of memory");
            if (a->json)
                json_array_append_new(all, json_pack("{s:s, s:s, s:s, s:s}", "shop", shop->domain, "error",
                                                     err.message, "class", err_class_name(err.cls), "hint",
                                                     err.hint));
            else
                app_print_err(&err);
            failures++;
        } else {
            failures += (int)json_array_size(json_object_get(r, "failed"));
            done++;
            if (a->json)
                json_array_append(all, r);
            else
                print_result(r, dry_run);
        }
        json_decref(r);
        shopify_free(sh);
    }
    if (a->json) {
        json_t *doc = json_pack("{s:b, s:b, s:o}", "ok", failures == 0 && done > 0, "dry_run", dry_run, "shops", all);
        char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s ? s : "{}");
        free(s);
        json_decref(doc);
    } else {
        json_decref(all);
        if (!done && !failures)
            printf("no shop has admin_token and public_url: nothing to set up\n");
    }
    return failures || !done ? APP_FAIL : APP_OK;
}
