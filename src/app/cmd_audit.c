/* cmd_audit: `synchub audit` — the operator audit log (store_*_audit.c): who retried, discarded, replayed or
 * revealed what, and when, from the dashboard (token:NAME) and this CLI (cli:USER). Read-only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/clock.h"

typedef struct audit_print {
    bool json;
    json_t *rows;
    size_t n;
} audit_print_t;

static int on_row(const store_audit_t *r, void *ud)
{
    audit_print_t *p = ud;
    char t[40];
    clock_format_iso8601(r->at, t, sizeof(t));
    p->n++;
    if (p->json) {
        json_t *detail = r->detail ? json_loads(r->detail, 0, NULL) : NULL;
        json_array_append_new(p->rows, json_pack("{s:I, s:s, s:s, s:s, s:s, s:o}", "id", (json_int_t)r->id, "at", t,
                                                 "actor", r->actor, "action", r->action, "target", r->target,
                                                 "detail", detail ? detail : json_null()));
    } else {
        printf("%s  %-20s  %-13s  %s\n", t, r->actor, r->action, r->target);
    }
    return 0;
}

int cmd_audit(app_t *a)
{
    int limit = 50;
    for (int i = 0; i < a->argc; i++) {
        const char *v = NULL;
        if (app_opt_value(a->argc, a->argv, &i, "--limit", &v)) {
            char *end;
            long n = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || n < 1 || n > 100000) {
                fprintf(stderr, "synchub: --limit takes a number from 1 to 100000\n");
                return APP_USAGE;
            }
            limit = (int)n;
        } else {
            fprintf(stderr, "synchub: audit: unknown option '%s' (usage: synchub audit [--limit N] [--json])\n",
                    a->argv[i]);
            return APP_USAGE;
        }
    }
    store_db_t *db;
    store_t *s;
    int rc = app_open_store(a, false, &db, &s);
    if (rc != APP_OK)
        return rc;
    audit_print_t p = {a->json, a->json ? json_array() : NULL, 0};
    err_t err;
    if (!a->json)
        printf("%-24s  %-20s  %-13s  %s\n", "AT", "WHO", "ACTION", "TARGET");
    if (store_audit_list(s, limit, on_row, &p, &err) < 0) {
        app_print_err(&err);
        rc = APP_STORE;
    } else if (a->json) {
        char *text = json_dumps(p.rows, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text)
            puts(text);
        free(text);
    } else if (p.n == 0) {
        printf("(no operator actions recorded)\n");
    }
    json_decref(p.rows);
    store_disconnect(s);
    store_db_close(db);
    return rc;
}
