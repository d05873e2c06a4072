/* store_pg_ops: read-only queries behind the operator dashboard and `synchub jobs` — dead jobs grouped by cause,
 * activity per time bucket, the jobs table with a free-text filter — on PostgreSQL. The SQLite versions are in
 * store_sqlite_ops.c. Not here: changing jobs (store_pg_jobs.c, store_pg_audit.c) or shaping JSON (web/). */
#define _GNU_SOURCE
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "store/store.h"
#include "store/store_engine.h"
#include "store/store_pg.h"


/* The dashboard's query without its free-text filter: the same rows, the same order. */
int store__pg_list(store_t *h, const store_filter_t *f, job_t ***out, size_t *n, err_t *err)
{
    return store__pg_jobs_query(h, f, NULL, out, n, err);
}

int store__pg_failures(store_t *h, int limit, store_cause_t **out, size_t *n, err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    *n = 0;
    if (store__pg_ensure(s, err) < 0)
        return -1;
    /* PostgreSQL has no bare columns beside max(): the sample (the group's newest job) comes from DISTINCT ON. */
    pg_args_t a = {0};
    store__pg_a_int(&a, limit > 0 ? limit : 100);
    PGresult *r = store__pg_run_sql(s,
                          "WITH d AS (SELECT rid, id, kind, updated_at, err_class, coalesce(err_code, '') AS code,"
                          "   err_message, err_record, err_hint, err_retry_safe FROM jobs WHERE state = 4),"
                          " g AS (SELECT err_class, code, count(*) AS n,"
                          "   count(*) FILTER (WHERE coalesce(err_retry_safe, 0) = 0) AS unsafe,"
                          "   max(updated_at) AS last_at, string_agg(DISTINCT kind, ',') AS kinds"
                          "   FROM d GROUP BY err_class, code),"
                          " x AS (SELECT DISTINCT ON (err_class, code) * FROM d"
                          "   ORDER BY err_class, code, updated_at DESC, rid DESC)"
                          " SELECT g.err_class, g.code, g.n, g.unsafe, g.last_at, g.kinds, x.id, x.err_message,"
                          " x.err_record, x.err_hint, x.err_retry_safe FROM g JOIN x USING (err_class, code)"
                          " ORDER BY g.n DESC, g.last_at DESC, g.err_class, g.code LIMIT $1::int",
                          &a, err, "failures by cause");
    if (!r)
        return -1;
    int rows = PQntuples(r);
    bool oom;
    *out = store__pg_alloc_rows(r, sizeof(**out), &oom, err);
    if (oom)
        return -1;
    for (int i = 0; i < rows; i++) {
        store_cause_t *c = &(*out)[i];
        c->cls = (err_class_t)store__pg_cell_int(r, i, 0);
        store__pg_cell_copy(r, i, 1, c->code, sizeof(c->code));
        c->count = store__pg_cell_int(r, i, 2);
        c->unsafe = store__pg_cell_int(r, i, 3);
        c->last_at = store__pg_cell_int(r, i, 4);
        store__pg_cell_copy(r, i, 5, c->kinds, sizeof(c->kinds));
        store__pg_cell_copy(r, i, 6, c->sample_id, sizeof(c->sample_id));
        c->sample.cls = c->cls;
        memcpy(c->sample.code, c->code, sizeof(c->code));
        store__pg_cell_copy(r, i, 7, c->sample.message, sizeof(c->sample.message));
        store__pg_cell_copy(r, i, 8, c->sample.record, sizeof(c->sample.record));
        store__pg_cell_copy(r, i, 9, c->sample.hint, sizeof(c->sample.hint));
        c->sample.retry_safe = store__pg_cell_int(r, i, 10) != 0;
    }
    *n = (size_t)rows;
    PQclear(r);
    return 0;
}

int store__pg_activity(store_t *h, int64_t since_ms, int64_t bucket_ms, int nbuckets, store_bucket_t *out,
                       err_t *err)
{
    pg_t *s = PG(h);
    if (store__buckets_init(out, since_ms, bucket_ms, nbuckets, err) < 0 || store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_int(&a, since_ms);
    store__pg_a_int(&a, bucket_ms);
    store__pg_a_int(&a, since_ms + (int64_t)nbuckets * bucket_ms);
    PGresult *r = store__pg_run_sql(s,
                          "SELECT (finished_at - $1::bigint) / $2::bigint, (outcome = 'done')::int, err_class,"
                          " count(*) FROM attempts WHERE finished_at >= $1::bigint AND finished_at < $3::bigint"
                          " AND outcome IN ('done', 'retry', 'dead', 'lost') GROUP BY 1, 2, 3",
                          &a, err, "activity");
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        store__bucket_add(out, nbuckets, store__pg_cell_int(r, i, 0), store__pg_cell_int(r, i, 1) != 0, (int)store__pg_cell_int(r, i, 2),
                          store__pg_cell_int(r, i, 3));
    PQclear(r);
    return 0;
}

int store__pg_jobs_query(store_t *h, const store_filter_t *f, const char *q, job_t ***out, size_t *n, err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    *n = 0;
    if (store__pg_ensure(s, err) < 0)
        return -1;
    char hi[JOB_ID_LEN + 2];
    bool has_q = q && *q;
    if (has_q)
        snprintf(hi, sizeof(hi), "%.*sg", JOB_ID_LEN, q); /* 'g' sorts after every hex digit (collation C) */
    pg_args_t a = {0};
    store__pg_a_int(&a, f ? f->state : -1);
    store__pg_a_str(&a, f ? f->kind : NULL);
    store__pg_a_str(&a, has_q ? q : NULL);
    store__pg_a_str(&a, has_q ? hi : NULL);
    store__pg_a_int(&a, f && f->limit > 0 ? f->limit : 100);
    return store__pg_select_jobs(s,
                       "SELECT " PG_JOB_COLS " FROM jobs WHERE ($1::int < 0 OR state = $1::int)"
                       " AND ($2::text IS NULL OR kind = $2::text)"
                       " AND ($3::text IS NULL OR id >= $3::text AND id < $4::text OR correlation_id = $3::text"
                       "   OR strpos(okey, $3::text) > 0)"
                       " ORDER BY updated_at DESC, rid DESC LIMIT $5::int",
                       &a, out, n, err, q ? "jobs query" : "list jobs");
}
