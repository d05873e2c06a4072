/* cmd_jobs: `synchub jobs list|show|retry|discard|replay` and `synchub enqueue` — the operator's view of the
 * store. Text for people, --json for scripts; both come from the same job_json() so they never disagree. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/buf.h"
#include "core/clock.h"

static json_t *time_json(int64_t ms)
{
    char t[40];
    return ms ? json_string(clock_format_iso8601(ms, t, sizeof(t))) : json_null();
}

static json_t *err_json(const err_t *e)
{
    if (e->cls == ERR_NONE)
        return json_null();
    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:b}", "class", err_class_name(e->cls), "code", e->code, "message",
                     e->message, "record", e->record[0] ? e->record : NULL, "hint", e->hint[0] ? e->hint : NULL,
                     "retry_safe", e->retry_safe);
}

static json_t *job_json(const job_t *j)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:s, s:s?, s:o}", "id", j->id,
                          "kind", j->kind, "state", job_state_name(j->state), "ordering_key", j->ordering_key,
                          "priority", j->priority, "attempts", j->attempts, "max_attempts", j->max_attempts,
                          "event_time", time_json(j->event_time), "run_at", time_json(j->run_at), "created_at",
                          time_json(j->created_at), "updated_at", time_json(j->updated_at), "source", j->source,
                          "correlation_id", j->correlation_id, "last_error", err_json(&j->last_error));
    if (o && j->state == JOB_RUNNING)
        json_object_set_new(o, "lease_until", time_json(j->lease_until));
    return o;
}

static int print_json(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(v);
    if (!s)
        return APP_FAIL;
    puts(s);
    free(s);
    return APP_OK;
}

static const char *age(int64_t now, int64_t t, char *out, size_t n)
{
    int64_t s = (now - t) / 1000;
    if (s < 0)
        snprintf(out, n, "in %llds", (long long)-s);
    else if (s < 120)
        snprintf(out, n, "%llds", (long long)s);
    else if (s < 7200)
        snprintf(out, n, "%lldm", (long long)s / 60);
    else if (s < 172800)
        snprintf(out, n, "%lldh", (long long)s / 3600);
    else
        snprintf(out, n, "%lldd", (long long)s / 86400);
    return out;
}

static int jobs_list(app_t *a, store_t *s)
{
    store_filter_t f = {-1, NULL, 50};
    for (int i = 1; i < a->argc; i++) {
        const char *v = NULL;
        if (app_opt_value(a->argc, a->argv, &i, "--state", &v)) {
            job_state_t st;
            if (!v || job_state_parse(v, &st) < 0) {
                fprintf(stderr, "synchub: --state takes queued, running, retry, done, dead or discarded\n");
                return APP_USAGE;
            }
            f.state = (int)st;
        } else if (app_opt_value(a->argc, a->argv, &i, "--kind", &v)) {
            if (!v)
                return APP_USAGE;
            f.kind = v;
        } else if (app_opt_value(a->argc, a->argv, &i, "--limit", &v)) {
            char *end;
            long n = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || n < 1 || n > 100000) {
                fprintf(stderr, "synchub: --limit takes a number from 1 to 100000\n");
                return APP_USAGE;
            }
            f.limit = (int)n;
        } else {
            fprintf(stderr, "synchub: jobs list: unknown option '%s'\n", a->argv[i]);
            return APP_USAGE;
        }
    }
    job_t **jobs;
    size_t n;
    err_t err;
    if (store_list(s, &f, &jobs, &n, &err) < 0) {
        app_print_err(&err);
        return APP_STORE;
    }
    int rc = APP_OK;
    if (a->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, job_json(jobs[i]));
        rc = print_json(arr);
    } else {
        int64_t now = clock_now_ms();
        printf("%-12s  %-9s  %-24s  %-5s  %-7s  %s\n", "ID", "STATE", "KIND", "TRIES", "UPDATED",
               "ORDERING KEY / LAST ERROR");
        for (size_t i = 0; i < n; i++) {
            const job_t *j = jobs[i];
            char tries[32], ag[32];
            snprintf(tries, sizeof(tries), "%d/%d", j->attempts, j->max_attempts);
            printf("%-12.12s  %-9s  %-24s  %-5s  %-7s  %s\n", j->id, job_state_name(j->state), j->kind, tries,
                   age(now, j->updated_at, ag, sizeof(ag)), j->ordering_key);
            if (j->last_error.cls != ERR_NONE && j->state != JOB_DONE)
                printf("%-12s  └ %s: %s\n", "", err_class_name(j->last_error.cls), j->last_error.message);
        }
        if (n == 0)
            printf("(no jobs)\n");
    }
    job_list_free(jobs, n);
    return rc;
}

static void print_err_block(const err_t *e, job_state_t st)
{
    bool temporary = e->cls == ERR_TRANSIENT || e->cls == ERR_INTERNAL;
    printf("last error\n");
    printf("  what        %s\n", e->message);
    printf("  record      %s\n", e->record[0] ? e->record : "-");
    printf("  class       %s (%s)\n", err_class_name(e->cls), e->code);
    printf("  temporary   %s\n", temporary ? (st == JOB_DEAD ? "yes, but attempts ran out" : "yes: retried automatically")
                                          : "no: needs a fix (see hint)");
    printf("  retry safe  %s\n", e->retry_safe ? (temporary ? "yes" : "yes, after the fix") : "no: check first");
    if (e->hint[0])
        printf("  hint        %s\n", e->hint);
}

static int jobs_show(app_t *a, store_t *s)
{
    if (a->argc < 2) {
        fprintf(stderr, "usage: synchub jobs show ID [--json]\n");
        return APP_USAGE;
    }
    job_t *j = NULL;
    err_t err;
    int found = store_job_get(s, a->argv[1], &j, &err);
    if (found < 0) {
        app_print_err(&err);
        return err.cls == ERR_DATA ? APP_FAIL : APP_STORE;
    }
    if (found == 0) {
        fprintf(stderr, "synchub: no job with id %s\n", a->argv[1]);
        return APP_FAIL;
    }
    job_attempt_t *hist = NULL;
    size_t nh = 0;
    if (store_attempts(s, j, &hist, &nh, &err) < 0) {
        app_print_err(&err);
        job_free(j);
        return APP_STORE;
    }
    int rc = APP_OK;
    if (a->json) {
        json_t *o = job_json(j);
        json_t *payload = json_loads(j->payload, JSON_DECODE_ANY, NULL);
        json_object_set_new(o, "payload", payload ? payload : json_string(j->payload));
        json_t *meta = j->meta ? json_loads(j->meta, 0, NULL) : NULL;
        json_object_set_new(o, "meta", meta ? meta : json_null());
        json_t *h = json_array();
        for (size_t i = 0; i < nh; i++) {
            const job_attempt_t *at = &hist[i];
            json_t *e = json_pack("{s:i, s:o, s:o, s:s, s:s?}", "n", at->n, "started_at", time_json(at->started_at),
                                  "finished_at", time_json(at->finished_at), "outcome", at->outcome, "worker",
                                  at->worker[0] ? at->worker : NULL);
            /* One shape for every entry: class/code/message are null on a successful attempt. */
            bool failed = at->error.cls != ERR_NONE;
            json_object_set_new(e, "class", failed ? json_string(err_class_name(at->error.cls)) : json_null());
            json_object_set_new(e, "code", failed ? json_string(at->error.code) : json_null());
            json_object_set_new(e, "message", failed ? json_string(at->error.message) : json_null());
            json_object_set_new(e, "note", !failed && at->error.message[0] ? json_string(at->error.message)
                                                                           : json_null());
            json_array_append_new(h, e);
        }
        json_object_set_new(o, "history", h);
        rc = print_json(o);
    } else {
        char t1[40], t2[40], t3[40];
        printf("job         %s\n", j->id);
        printf("kind        %s\n", j->kind);
        printf("state       %s\n", job_state_name(j->state));
        printf("key         %s\n", j->ordering_key);
        printf("source      %s%s%s\n", j->source, j->correlation_id ? "  correlation " : "",
               j->correlation_id ? j->correlation_id : "");
        printf("attempts    %d of %d\n", j->attempts, j->max_attempts);
        printf("event time  %s\n", clock_format_iso8601(j->event_time, t1, sizeof(t1)));
        printf("created     %s   updated %s\n", clock_format_iso8601(j->created_at, t2, sizeof(t2)),
               clock_format_iso8601(j->updated_at, t3, sizeof(t3)));
        if (j->state == JOB_QUEUED || j->state == JOB_RETRY)
            printf("next run    %s\n", clock_format_iso8601(j->run_at, t1, sizeof(t1)));
        if (j->last_error.cls != ERR_NONE)
            print_err_block(&j->last_error, j->state);
        if (nh)
            printf("history\n");
        for (size_t i = 0; i < nh; i++) {
            const job_attempt_t *at = &hist[i];
            printf("  #%-3d %s  %-7s %s", at->n, clock_format_iso8601(at->started_at, t1, sizeof(t1)), at->outcome,
                   at->worker);
            if (at->error.cls != ERR_NONE)
                printf("  %s %s: %s", err_class_name(at->error.cls), at->error.code, at->error.message);
            else if (at->error.message[0])
                printf("  %s", at->error.message);
            printf("\n");
        }
        printf("payload     %zu bytes (`--json` prints it)\n", strlen(j->payload));
    }
    free(hist);
    job_free(j);
    return rc;
}

static int jobs_operate(app_t *a, store_t *s, store_op_t op)
{
    static const char *const verbs[] = {"retry", "discard", "replay"};
    err_t err;
    int64_t now = clock_now_ms();
    char actor[80];
    app_actor(actor, sizeof(actor));
    if (op != STORE_OP_REPLAY && a->argc >= 2 && strcmp(a->argv[1], "--dead") == 0) {
        err_class_t cls = ERR_NONE;
        const char *code = NULL;
        for (int i = 2; i < a->argc; i++) {
            const char *v = NULL;
            if (app_opt_value(a->argc, a->argv, &i, "--class", &v) && v && err_class_parse(v, &cls) == 0)
                continue;
            if (app_opt_value(a->argc, a->argv, &i, "--code", &v) && v && *v) {
                code = v;
                continue;
            }
            fprintf(stderr, "synchub: jobs %s --dead takes --class transient|configuration|data and --code CODE\n",
                    verbs[op]);
            return APP_USAGE;
        }
        int n = 0;
        if (store_bulk_as(s, actor, op, cls, code, now, &n, &err) < 0) {
            app_print_err(&err);
            return APP_STORE;
        }
        if (a->json)
            printf("{\"%s\":%d}\n", op == STORE_OP_RETRY ? "requeued" : "discarded", n);
        else
            printf("%s %d dead job%s%s%s%s%s\n", op == STORE_OP_RETRY ? "requeued" : "discarded", n, n == 1 ? "" : "s",
                   cls ? " of class " : "", cls ? err_class_name(cls) : "", code ? " with code " : "", code ? code : "");
        return APP_OK;
    }
    if (a->argc != 2) {
        fprintf(stderr, "usage: synchub jobs %s ID%s\n", verbs[op],
                op != STORE_OP_REPLAY ? "   (or: --dead [--class C] [--code CODE])" : "");
        return APP_USAGE;
    }
    char id[JOB_ID_LEN + 1];
    if (store_operate_as(s, actor, a->argv[1], op, now, id, &err) < 0) {
        app_print_err(&err);
        return err.cls == ERR_DATA ? APP_FAIL : APP_STORE;
    }
    if (a->json)
        printf("{\"job\":\"%s\",\"action\":\"%s\"}\n", id, verbs[op]);
    else
        printf("%s %s\n", op == STORE_OP_DISCARD ? "discarded" : op == STORE_OP_REPLAY ? "replaying" : "requeued",
               id);
    return APP_OK;
}

int cmd_jobs(app_t *a)
{
    if (a->argc < 1) {
        fprintf(stderr, "usage: synchub jobs list|show|retry|discard|replay … (`synchub jobs --help`)\n");
        return APP_USAGE;
    }
    const char *sub = a->argv[0];
    store_db_t *db;
    store_t *s;
    if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "retry") && strcmp(sub, "discard") &&
        strcmp(sub, "replay")) {
        fprintf(stderr, "synchub: unknown jobs command '%s' (list, show, retry, discard, replay)\n", sub);
        return APP_USAGE;
    }
    int rc = app_open_store(a, false, &db, &s);
    if (rc != APP_OK)
        return rc;
    if (!strcmp(sub, "list"))
        rc = jobs_list(a, s);
    else if (!strcmp(sub, "show"))
        rc = jobs_show(a, s);
    else if (!strcmp(sub, "retry"))
        rc = jobs_operate(a, s, STORE_OP_RETRY);
    else if (!strcmp(sub, "discard"))
        rc = jobs_operate(a, s, STORE_OP_DISCARD);
    else
        rc = jobs_operate(a, s, STORE_OP_REPLAY);
    store_disconnect(s);
    store_db_close(db);
    return rc;
}

/* ---- enqueue ----------------------------------------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    buf_t b = BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    if (f != stdin)
        fclose(f);
    return buf_detach(&b, len);
}

/* `synchub enqueue --batch FILE`: one JSON object a line, {"kind", "key", "payload", and optionally "order_key",
 * "event_time_ms", "priority"}; ids derived as for one job. Committed in transactions of ENQUEUE_BATCH jobs (each
 * all or nothing), so a bulk load (a replay list, a test's thousands of jobs) costs one commit per batch. */
#define ENQUEUE_BATCH 500

typedef struct batch_job {
    job_new_t j;
    char *payload, *kind, *key, *okey;
    char corr[JOB_ID_LEN + 8];
} batch_job_t;

static void batch_release(batch_job_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(b[i].payload);
        free(b[i].kind);
        free(b[i].key);
        free(b[i].okey);
    }
}

/* Parse one line into b. 0, or -1 with a message on stderr. */
static int batch_parse(app_t *a, const char *line, int lineno, batch_job_t *b)
{
    memset(b, 0, sizeof(*b));
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    const char *kind = json_string_value(json_object_get(o, "kind"));
    const char *key = json_string_value(json_object_get(o, "key"));
    json_t *payload = json_object_get(o, "payload");
    if (!json_is_object(o) || !kind || !*kind || !key || !*key || !payload) {
        fprintf(stderr, "synchub: enqueue --batch line %d: expected {\"kind\", \"key\", \"payload\", ...}\n", lineno);
        json_decref(o);
        return -1;
    }
    queue_policy_t pol = queue_policy_for(a->cfg, kind);
    const char *okey = json_string_value(json_object_get(o, "order_key"));
    json_t *et = json_object_get(o, "event_time_ms"), *prio = json_object_get(o, "priority");
    char *idem = NULL;
    b->payload = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    b->kind = strdup(kind);
    b->key = strdup(key);
    b->okey = okey ? strdup(okey) : NULL;
    if (!b->payload || !b->kind || !b->key || (okey && !b->okey) || asprintf(&idem, "cli|%s|%s", kind, key) < 0) {
        json_decref(o);
        batch_release(b, 1);
        fprintf(stderr, "synchub: out of memory\n");
        return -1;
    }
    queue_job_id(idem, strlen(idem), b->j.id);
    free(idem);
    b->j.kind = b->kind;
    b->j.ordering_key = b->okey ? b->okey : b->key;
    b->j.payload = b->payload;
    b->j.payload_len = strlen(b->payload);
    b->j.source = "cli";
    snprintf(b->corr, sizeof(b->corr), "cli:%s", b->j.id);
    b->j.correlation_id = b->corr;
    b->j.event_time_ms = json_is_integer(et) ? (int64_t)json_integer_value(et) : clock_now_ms();
    b->j.priority = json_is_integer(prio) ? (int)json_integer_value(prio) : pol.priority;
    b->j.max_attempts = pol.max_attempts;
    b->j.lease_ms = pol.lease_ms;
    json_decref(o);
    return 0;
}

static int enqueue_batch(app_t *a, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "synchub: cannot read the batch file %s\n", path);
        return APP_FAIL;
    }
    batch_job_t *b = calloc(ENQUEUE_BATCH, sizeof(*b));
    job_new_t *jobs = calloc(ENQUEUE_BATCH, sizeof(*jobs));
    bool *dup = calloc(ENQUEUE_BATCH, sizeof(*dup));
    store_db_t *db = NULL;
    store_t *s = NULL;
    int rc = b && jobs && dup ? app_open_store(a, true, &db, &s) : APP_FAIL;
    char *line = NULL;
    size_t cap = 0, n = 0;
    long long added = 0, dups = 0;
    int lineno = 0;
    bool eof = false;
    while (rc == APP_OK && !eof) {
        ssize_t len = getline(&line, &cap, f);
        eof = len < 0;
        if (!eof) {
            lineno++;
            if (strspn(line, " \t\r\n") == (size_t)len)
                continue;
            if (batch_parse(a, line, lineno, &b[n]) < 0) {
                rc = APP_USAGE;
                break;
            }
            jobs[n] = b[n].j;
            n++;
        }
        if (n == ENQUEUE_BATCH || (eof && n)) {
            err_t err;
            if (store_enqueue(s, jobs, n, dup, &err) < 0) {
                app_print_err(&err);
                fprintf(stderr, "synchub: the batch ending at line %d was not stored (%lld jobs before it were)\n",
                        lineno, added + dups);
                rc = APP_STORE;
            }
            for (size_t i = 0; rc == APP_OK && i < n; i++)
                dup[i] ? dups++ : added++;
            batch_release(b, n);
            n = 0;
        }
    }
    batch_release(b, n);
    if (rc == APP_OK) {
        if (a->json)
            printf("{\"enqueued\":%lld,\"duplicate\":%lld}\n", added, dups);
        else
            printf("enqueued %lld, duplicate %lld\n", added, dups);
    }
    free(line);
    free(b);
    free(jobs);
    free(dup);
    store_disconnect(s);
    store_db_close(db);
    if (f != stdin)
        fclose(f);
    return rc;
}

int cmd_enqueue(app_t *a)
{
    const char *kind = NULL, *key = NULL, *payload_path = NULL, *okey = NULL, *event_time = NULL, *prio = NULL,
               *maxa = NULL;
    for (int i = 0; i < a->argc; i++) {
        const char *v = NULL;
        if (app_opt_value(a->argc, a->argv, &i, "--kind", &v))
            kind = v;
        else if (app_opt_value(a->argc, a->argv, &i, "--key", &v))
            key = v;
        else if (app_opt_value(a->argc, a->argv, &i, "--payload", &v))
            payload_path = v;
        else if (app_opt_value(a->argc, a->argv, &i, "--order-key", &v))
            okey = v;
        else if (app_opt_value(a->argc, a->argv, &i, "--event-time", &v))
            event_time = v;
        else if (app_opt_value(a->argc, a->argv, &i, "--priority", &v))
            prio = v;
        else if (app_opt_value(a->argc, a->argv, &i, "--max-attempts", &v))
            maxa = v;
        else if (app_opt_value(a->argc, a->argv, &i, "--batch", &v))
            return enqueue_batch(a, v);
        else {
            fprintf(stderr, "synchub: enqueue: unknown option '%s'\n", a->argv[i]);
            return APP_USAGE;
        }
    }
    if (!kind || !*kind || !key || !*key || !payload_path) {
        fprintf(stderr, "usage: synchub enqueue --kind K --key KEY --payload FILE|- [--order-key OK] "
                        "[--event-time ISO8601] [--priority N] [--max-attempts N]\n"
                        "       synchub enqueue --batch FILE|-   (JSON lines: kind, key, payload[, order_key, "
                        "event_time_ms, priority])\n");
        return APP_USAGE;
    }
    queue_policy_t pol = queue_policy_for(a->cfg, kind);
    int64_t et = clock_now_ms();
    if (event_time && clock_parse_iso8601(event_time, &et) < 0) {
        fprintf(stderr, "synchub: --event-time '%s' is not an ISO 8601 time with a zone (2026-11-21T14:03:13Z)\n",
                event_time);
        return APP_USAGE;
    }
    char *end;
    if (prio && (strtol(prio, &end, 10), *end || !*prio)) {
        fprintf(stderr, "synchub: --priority takes an integer\n");
        return APP_USAGE;
    }
    if (maxa && (strtol(maxa, &end, 10) < 1 || *end)) {
        fprintf(stderr, "synchub: --max-attempts takes a positive integer\n");
        return APP_USAGE;
    }
    size_t plen = 0;
    char *payload = read_all(payload_path, &plen);
    if (!payload) {
        fprintf(stderr, "synchub: cannot read the payload file %s\n", payload_path);
        return APP_FAIL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(payload, plen, JSON_DECODE_ANY, &jerr);
    if (!doc) {
        fprintf(stderr, "synchub: payload is not JSON (line %d: %s); nothing enqueued\n", jerr.line, jerr.text);
        free(payload);
        return APP_FAIL;
    }
    json_decref(doc);

    char *idem = NULL;
    if (asprintf(&idem, "cli|%s|%s", kind, key) < 0) {
        free(payload);
        return APP_FAIL;
    }
    job_new_t j = {0};
    queue_job_id(idem, strlen(idem), j.id);
    free(idem);
    j.kind = kind;
    j.ordering_key = okey ? okey : key;
    j.payload = payload;
    j.payload_len = plen;
    j.source = "cli";
    /* A job enqueued by hand starts its own chain (its children inherit this). */
    char corr[JOB_ID_LEN + 8];
    snprintf(corr, sizeof(corr), "cli:%s", j.id);
    j.correlation_id = corr;
    j.event_time_ms = et;
    j.priority = prio ? (int)strtol(prio, NULL, 10) : pol.priority;
    j.max_attempts = maxa ? (int)strtol(maxa, NULL, 10) : pol.max_attempts;
    j.lease_ms = pol.lease_ms;

    store_db_t *db;
    store_t *s;
    int rc = app_open_store(a, true, &db, &s);
    if (rc == APP_OK) {
        bool dup = false;
        err_t err;
        if (store_enqueue(s, &j, 1, &dup, &err) < 0) {
            app_print_err(&err);
            rc = APP_STORE;
        } else if (a->json) {
            printf("{\"status\":\"%s\",\"job\":\"%s\"}\n", dup ? "duplicate" : "enqueued", j.id);
        } else {
            printf("%s %s\n", dup ? "duplicate" : "enqueued", j.id);
        }
        store_disconnect(s);
        store_db_close(db);
    }
    free(payload);
    return rc;
}
