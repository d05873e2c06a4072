/* cmd_import: `synchub import events --source NAME FILE.csv [--json]` — shipment events from partners that deliver
 * flat files. Each row goes through the source's mapping and validation (ingest_event.c) exactly as a POST
 * /events/NAME body would and becomes the same job (same id), so an event seen by both paths is one job. Accepted
 * rows are committed durably (fsync) in transactions of up to 500 before the report says "accepted".
 * Not here: applying events (the workers of `serve`). */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/buf.h"
#include "core/clock.h"
#include "ingest/ingest_event.h"

#define IMPORT_BATCH 500

typedef struct row {
    int line;
    job_new_t job;
    char *owned[INGEST_SHIPMENT_OWNED];
    json_t *report;        /* this row's report object (borrowed from the rows array) */
} row_t;

static void row_release(row_t *r)
{
    for (int i = 0; i < INGEST_SHIPMENT_OWNED; i++)
        free(r->owned[i]);
}

/* Commit the pending rows in one durable transaction and mark each accepted or duplicate. 0 or -1 (printed). */
static int flush(store_t *s, row_t *rows, size_t n, int *accepted, int *dups)
{
    if (n == 0)
        return 0;
    job_new_t *jobs = calloc(n, sizeof(*jobs));
    bool *dup = calloc(n, sizeof(*dup));
    err_t err;
    int rc = -1;
    if (!jobs || !dup) {
        fprintf(stderr, "synchub: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        jobs[i] = rows[i].job;
    if (store_enqueue(s, jobs, n, dup, &err) < 0) {
        app_print_err(&err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_object_set_new(rows[i].report, "status", json_string(dup[i] ? "duplicate" : "accepted"));
        json_object_set_new(rows[i].report, "job", json_string(rows[i].job.id));
        (*(dup[i] ? dups : accepted))++;
    }
    rc = 0;
out:
    free(jobs);
    free(dup);
    return rc;
}

static int read_file(const char *path, buf_t *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_append(out, chunk, n) < 0)
            rc = -1;
    if (ferror(f))
        rc = -1;
    if (f != stdin)
        fclose(f);
    return rc;
}

static void print_text(json_t *report)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(report, "rows"), i, r)
    {
        const char *st = json_string_value(json_object_get(r, "status"));
        printf("row %lld: %s", (long long)json_integer_value(json_object_get(r, "row")), st);
        if (json_object_get(r, "job"))
            printf(" %s (event %s)", json_string_value(json_object_get(r, "job")),
                   json_string_value(json_object_get(r, "event_id")));
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(r, "problems"), k, p)
            printf("%s%s", k ? "; " : ": ", json_string_value(p));
        printf("\n");
    }
    printf("accepted %lld, duplicate %lld, rejected %lld\n",
           (long long)json_integer_value(json_object_get(report, "accepted")),
           (long long)json_integer_value(json_object_get(report, "duplicate")),
           (long long)json_integer_value(json_object_get(report, "rejected")));
}

static int import_events(app_t *a, const char *source, const char *file)
{
    const cfg_source_t *src = cfg_source_find(a->cfg, source);
    if (!src) {
        fprintf(stderr, "synchub: unknown source '%s' (no [source %s] section)\n", source, source);
        return APP_USAGE;
    }
    buf_t text = BUF_INIT;
    if (read_file(file, &text) < 0) {
        fprintf(stderr, "synchub: cannot read %s\n", file);
        buf_release(&text);
        return APP_FAIL;
    }
    const char *p = buf_str(&text), *end = p + text.len;
    if (text.len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)   /* a spreadsheet's UTF-8 byte-order mark */
        p += 3;
    int line = 1, rc = APP_FAIL;
    const char *why = NULL;
    json_t *header = json_array(), *fields = json_array(), *report = json_object(), *rows_out = json_array();
    row_t *rows = calloc(IMPORT_BATCH, sizeof(*rows));
    store_db_t *db = NULL;
    store_t *s = NULL;
    size_t npending = 0;
    int accepted = 0, dups = 0, rejected = 0;
    if (!header || !fields || !report || !rows_out || !rows)
        goto out;
    int at = 0;
    if (ingest_csv_record(&p, end, header, &line, &at, &why) <= 0) {
        fprintf(stderr, "synchub: %s: no header row%s%s\n", file, why ? ": " : "", why ? why : "");
        rc = APP_USAGE;
        goto out;
    }
    /* A repeated column name would let the last one win silently (json_object_set per row). */
    for (size_t i = 0; i < json_array_size(header); i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(json_string_value(json_array_get(header, i)), json_string_value(json_array_get(header, j))) ==
                0) {
                fprintf(stderr, "synchub: %s:%d: the header names column '%s' twice (columns %zu and %zu)\n", file,
                        at, json_string_value(json_array_get(header, i)), j + 1, i + 1);
                rc = APP_USAGE;
                goto out;
            }
        }
    }
    if (app_open_store(a, true, &db, &s) != APP_OK) {
        rc = APP_STORE;
        goto out;
    }
    int64_t now = clock_now_ms();
    for (;;) {
        why = NULL;
        int r = ingest_csv_record(&p, end, fields, &line, &at, &why);
        if (r == 0)
            break;
        json_t *rep = json_pack("{s:i}", "row", at);
        json_array_append_new(rows_out, rep);
        json_t *problems = json_array();
        ingest_shipment_t ev;
        memset(&ev, 0, sizeof(ev));
        if (r < 0) {
            json_array_append_new(problems, json_string(why));
        } else if (json_array_size(fields) != json_array_size(header)) {
            char m[120];
            snprintf(m, sizeof(m), "row has %zu fields, the header has %zu", json_array_size(fields),
                     json_array_size(header));
            json_array_append_new(problems, json_string(m));
        } else {
            /* The row as an object of column → value; empty cells are absent fields. */
            json_t *obj = json_object();
            for (size_t i = 0; i < json_array_size(header); i++) {
                json_t *v = json_array_get(fields, i);
                if (json_string_length(v) > 0)
                    json_object_set(obj, json_string_value(json_array_get(header, i)), v);
            }
            ingest_shipment_parse(src, obj, &ev, problems);
            json_decref(obj);
        }
        if (json_array_size(problems) > 0) {
            json_object_set_new(rep, "status", json_string("rejected"));
            json_object_set_new(rep, "problems", problems);
            rejected++;
            continue;
        }
        json_decref(problems);
        row_t *row = &rows[npending];
        memset(row, 0, sizeof(*row));
        row->line = at;
        row->report = rep;
        json_object_set_new(rep, "event_id", json_string(ev.event_id));
        int jrc = ingest_shipment_job(a->cfg, &ev, "csv", now, &row->job, row->owned);
        ingest_shipment_release(&ev);
        if (jrc < 0) {
            row_release(row);
            fprintf(stderr, "synchub: out of memory\n");
            goto out;
        }
        if (++npending == IMPORT_BATCH) {
            int frc = flush(s, rows, npending, &accepted, &dups);
            for (size_t i = 0; i < npending; i++)
                row_release(&rows[i]);
            npending = 0;
            if (frc < 0) {
                rc = APP_STORE;
                goto out;
            }
        }
    }
    if (flush(s, rows, npending, &accepted, &dups) < 0) {
        rc = APP_STORE;
        goto out;
    }
    json_object_set_new(report, "source", json_string(src->name));
    json_object_set_new(report, "accepted", json_integer(accepted));
    json_object_set_new(report, "duplicate", json_integer(dups));
    json_object_set_new(report, "rejected", json_integer(rejected));
    json_object_set(report, "rows", rows_out);
    if (a->json) {
        char *out = json_dumps(report, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        if (out)
            printf("%s\n", out);
        free(out);
    } else {
        print_text(report);
    }
    rc = rejected ? APP_FAIL : APP_OK;
out:
    for (size_t i = 0; rows && i < npending; i++)
        row_release(&rows[i]);
    free(rows);
    json_decref(header);
    json_decref(fields);
    json_decref(report);
    json_decref(rows_out);
    store_disconnect(s);
    store_db_close(db);
    buf_release(&text);
    return rc;
}

int cmd_import(app_t *a)
{
    const char *source = NULL, *file = NULL;
    if (a->argc < 1 || strcmp(a->argv[0], "events") != 0) {
        fprintf(stderr, "usage: synchub import events --source NAME FILE.csv [--json]\n");
        return APP_USAGE;
    }
    for (int i = 1; i < a->argc; i++) {
        const char *v;
        if (app_opt_value(a->argc, a->argv, &i, "--source", &v))
            source = v;
        else if (!file && (a->argv[i][0] != '-' || strcmp(a->argv[i], "-") == 0))
            file = a->argv[i];
        else {
            fprintf(stderr, "synchub: import events: unexpected argument '%s'\n", a->argv[i]);
            return APP_USAGE;
        }
    }
    if (!source || !file) {
        fprintf(stderr, "usage: synchub import events --source NAME FILE.csv [--json]\n");
        return APP_USAGE;
    }
    return import_events(a, source, file);
}
