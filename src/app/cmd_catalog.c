/* cmd_catalog: `synchub catalog [--json]` — the integration catalog (flows/flow_catalog.h) of the configuration,
 * as text for a reader or as JSON. Reads the configuration only: no store, no network.
 * Not here: building the catalog (flow_catalog.c); the dashboard's view of it (web/). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "flows/flow_catalog.h"

static void print_list(const char *label, json_t *arr)
{
    printf("  %-16s ", label);
    if (!json_array_size(arr)) {
        puts("-");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) printf("%s%s", i ? ", " : "", json_string_value(v));
    putchar('\n');
}

static void print_models(const char *label, json_t *models)
{
    if (!json_object_size(models)) {
        printf("  %-16s -\n", label);
        return;
    }
    const char *model;
    json_t *fields;
    bool first = true;
    json_object_foreach(models, model, fields) {
        printf("  %-16s %s: ", first ? label : "", model);
        size_t i;
        json_t *f;
        json_array_foreach(fields, i, f) printf("%s%s", i ? ", " : "", json_string_value(f));
        putchar('\n');
        first = false;
    }
}

static void print_flow(json_t *f)
{
    const char *why = json_string_value(json_object_get(f, "disabled_because"));
    printf("flow %s%s%s%s\n", json_string_value(json_object_get(f, "id")), why ? "  (disabled: " : "",
           why ? why : "", why ? ")" : "");
    printf("  %-16s %s\n", "what", json_string_value(json_object_get(f, "title")));
    printf("  %-16s %s -> %s\n", "source -> target", json_string_value(json_object_get(f, "source")),
           json_string_value(json_object_get(f, "target")));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(f, "trigger"), i, v) {
        const char *type = json_string_value(json_object_get(v, "type"));
        printf("  %-16s %s", i ? "" : "trigger", type);
        if (json_object_get(v, "path"))
            printf(" POST %s", json_string_value(json_object_get(v, "path")));
        if (json_object_get(v, "auth"))
            printf(" (%s)", json_string_value(json_object_get(v, "auth")));
        if (json_object_get(v, "what"))
            printf(" %s", json_string_value(json_object_get(v, "what")));
        if (json_object_get(v, "every"))
            printf(" every %s", json_string_value(json_object_get(v, "every")));
        if (json_object_get(v, "command"))
            printf(": %s", json_string_value(json_object_get(v, "command")));
        json_t *topics = json_object_get(v, "topics");
        for (size_t t = 0; t < json_array_size(topics); t++)
            printf("%s%s", t ? ", " : ": ", json_string_value(json_array_get(topics, t)));
        putchar('\n');
    }
    json_array_foreach(json_object_get(f, "endpoints"), i, v)
        printf("  %-16s %-8s %-8s %s\n", i ? "" : "endpoints", json_string_value(json_object_get(v, "direction")),
               json_string_value(json_object_get(v, "system")), json_string_value(json_object_get(v, "url")));
    print_models("odoo reads", json_object_get(json_object_get(f, "odoo"), "reads"));
    print_models("odoo writes", json_object_get(json_object_get(f, "odoo"), "writes"));
    print_list("shopify reads", json_object_get(json_object_get(f, "shopify"), "reads"));
    print_list("shopify writes", json_object_get(json_object_get(f, "shopify"), "writes"));
    print_list("data classes", json_object_get(f, "data_classes"));
    json_t *rules = json_object_get(f, "rules");
    if (!json_array_size(rules))
        printf("  %-16s -\n", "rules");
    json_array_foreach(rules, i, v)
        printf("  %-16s [%s] %s = %s\n", i ? "" : "rules", json_string_value(json_object_get(v, "section")),
               json_string_value(json_object_get(v, "name")), json_string_value(json_object_get(v, "value")));
    json_array_foreach(json_object_get(f, "retry"), i, v)
        printf("  %-16s %s: priority %lld, %lld attempts, backoff %s..%s, lease %s%s\n", i ? "" : "retry",
               json_string_value(json_object_get(v, "kind")),
               (long long)json_integer_value(json_object_get(v, "priority")),
               (long long)json_integer_value(json_object_get(v, "max_attempts")),
               json_string_value(json_object_get(v, "backoff_base")),
               json_string_value(json_object_get(v, "backoff_cap")), json_string_value(json_object_get(v, "lease")),
               json_is_true(json_object_get(v, "configured")) ? " ([kind] section)" : " (default)");
    const char *own = json_string_value(json_object_get(f, "owner"));
    if (own)
        printf("  %-16s %s ([%s])\n", "owner", own, json_string_value(json_object_get(f, "owner_from")));
    else
        printf("  %-16s unowned\n", "owner");
    putchar('\n');
}

int cmd_catalog(app_t *a)
{
    for (int i = 0; i < a->argc; i++) {
        fprintf(stderr, "synchub catalog: unexpected argument '%s' (`synchub catalog --help`)\n", a->argv[i]);
        return APP_USAGE;
    }
    json_t *cat = sync_catalog(a->cfg);
    if (!cat) {
        fputs("synchub catalog: out of memory\n", stderr);
        return APP_FAIL;
    }
    if (a->json) {
        char *s = json_dumps(cat, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
        json_decref(cat);
        return s ? APP_OK : APP_FAIL;
    }
    json_t *flows = json_object_get(cat, "flows"), *found = json_object_get(cat, "findings");
    printf("integration catalog of %s: %zu flows, %zu findings\n\n", json_string_value(json_object_get(cat, "config")),
           json_array_size(flows), json_array_size(found));
    size_t i;
    json_t *v;
    json_array_foreach(flows, i, v) print_flow(v);
    printf("findings%s\n", json_array_size(found) ? "" : ": none");
    json_array_foreach(found, i, v)
        printf("  %s: %s (%s)\n", json_string_value(json_object_get(v, "flow")),
               json_string_value(json_object_get(v, "finding")), json_string_value(json_object_get(v, "fix")));
    json_decref(cat);
    return APP_OK;
}
