/* store_fixture: the store tests' fixture, shared by test_store.c and test_store_effects.c so that every store test
 * runs on both engines: first on a fresh SQLite file, then (when SYNCHUB_TEST_PG_URL names a PostgreSQL database)
 * in a fresh schema of that database, dropped afterwards. Under CI=true a missing SYNCHUB_TEST_PG_URL fails the
 * run instead of skipping the PostgreSQL pass. Not a test of its own. */
#ifndef SYNCHUB_TEST_STORE_FIXTURE_H
#define SYNCHUB_TEST_STORE_FIXTURE_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/queue.h"
#include "store/store.h"

typedef struct fx {
    char path[96];        /* SQLite file, or "" on PostgreSQL */
    char schema[48];      /* PostgreSQL schema, or "" on SQLite */
    char *url;            /* the URL the store was opened with (PostgreSQL) */
    store_db_t *db;
    store_t *s;
} fx_t;

static const char *fx_pg_url;   /* NULL: the SQLite pass */

/* A test.noop job for the store tests: id from idem, due from its enqueue on, lease one minute. */
static inline job_new_t fx_job(const char *idem, const char *okey, int64_t event_time, int max_attempts)
{
    job_new_t j = {0};
    queue_job_id(idem, strlen(idem), j.id);
    j.kind = "test.noop";
    j.ordering_key = okey;
    j.payload = "{}";
    j.payload_len = 2;
    j.source = "unit";
    j.event_time_ms = event_time;
    j.max_attempts = max_attempts;
    j.lease_ms = 60000;
    return j;
}

/* Run sql (no parameters: the schema name is ours, made of digits and letters) on a short connection. */
static int fx_pg_exec(const char *sql)
{
    PGconn *c = PQconnectdb(fx_pg_url);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc < 0)
            fprintf(stderr, "fixture: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "fixture: cannot connect to SYNCHUB_TEST_PG_URL: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

/* Open a fresh, empty store of the current pass into f (f->db and a non-durable f->s). 0 or -1. */
static int fx_open(fx_t *f)
{
    err_t err;
    char sql[128];
    if (!fx_pg_url) {
        snprintf(f->path, sizeof(f->path), "/tmp/synchub-unit-%d-%ld.db", getpid(), random());
        f->db = store_db_open(f->path, 1000, &err);
    } else {
        snprintf(f->schema, sizeof(f->schema), "unit_%d_%ld", getpid(), random());
        snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", f->schema);
        /* Every connection of the store (workers, listener) finds its tables through search_path. */
        if (fx_pg_exec(sql) < 0 ||
            asprintf(&f->url, "%s%coptions=-csearch_path%%3D%s", fx_pg_url, strchr(fx_pg_url, '?') ? '&' : '?',
                     f->schema) < 0)
            return -1;
        f->db = store_db_open(f->url, 1000, &err);
    }
    f->s = f->db ? store_connect(f->db, false, 0, &err) : NULL;
    if (!f->s)
        fprintf(stderr, "fixture: cannot open the %s store: %s\n", fx_pg_url ? "PostgreSQL" : "SQLite", err.message);
    return f->s ? 0 : -1;
}

static void fx_close(fx_t *f)
{
    store_disconnect(f->s);
    store_db_close(f->db);
    f->s = NULL;
    f->db = NULL;
    if (f->path[0]) {
        char p[128];
        unlink(f->path);
        snprintf(p, sizeof(p), "%s-wal", f->path);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", f->path);
        unlink(p);
    }
    if (f->schema[0]) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SET client_min_messages = warning; DROP SCHEMA %s CASCADE", f->schema);
        fx_pg_exec(sql);
    }
    free(f->url);
    f->url = NULL;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f || fx_open(f) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    fx_close(f);
    free(f);
    return 0;
}

/* Run the group on SQLite, then on PostgreSQL. The exit status counts the failures of both passes. */
static int fx_run_both(const char *name, const struct CMUnitTest *tests, size_t n)
{
    char label[96];
    snprintf(label, sizeof(label), "%s (sqlite)", name);
    int failed = _cmocka_run_group_tests(label, tests, n, NULL, NULL);
    const char *url = getenv("SYNCHUB_TEST_PG_URL");
    if (!url || !*url) {
        const char *ci = getenv("CI");
        if (ci && !strcmp(ci, "true")) {
            fprintf(stderr, "%s: SYNCHUB_TEST_PG_URL is not set: the PostgreSQL pass cannot run (CI=true: failing; "
                            "`make test` starts scripts/pg-test-cluster and sets it)\n", name);
            return failed + 1;
        }
        printf("%s: PostgreSQL pass skipped (set SYNCHUB_TEST_PG_URL, e.g. from scripts/pg-test-cluster start)\n",
               name);
        return failed;
    }
    fx_pg_url = url;
    snprintf(label, sizeof(label), "%s (postgres)", name);
    failed += _cmocka_run_group_tests(label, tests, n, NULL, NULL);
    fx_pg_url = NULL;
    return failed;
}

#endif
