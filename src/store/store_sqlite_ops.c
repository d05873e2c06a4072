/* store_sqlite_ops: read-only queries behind the operator dashboard and `synchub jobs` — dead jobs grouped by
 * cause, activity per time bucket from the attempts table, the jobs table with a free-text filter. SQLite SQL
 * (store_pg_ops.c: PostgreSQL). Not here: changing jobs (store_sqlite_jobs.c, store_sqlite_audit.c) or shaping
 * JSON (web/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_engine.h"
#include "store/store_sqlite.h"

static void copy_col(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", v ? v : "");
}

/* One pass over the dead jobs (jobs_dead index). With max() as the only min/max aggregate, SQLite takes the
 * bare columns (id, message, record, hint, retry_safe) from the row holding the max: the group's newest job. */
const char store__lite_failures_sql[] =
    "SELECT err_class, coalesce(err_code, ''), count(*), sum(coalesce(err_retry_safe, 0) = 0),"
    " max(updated_at), group_concat(DISTINCT kind), id, err_message, err_record, err_hint, err_retry_safe"
    " FROM jobs INDEXED BY jobs_dead WHERE state = 4 GROUP BY err_class, coalesce(err_code, '')"
    " ORDER BY count(*) DESC, max(updated_at) DESC LIMIT ?1";

int store__lite_failures(store_t *s, int limit, store_cause_t **out, size_t *n, err_t *err)
{
    const char *sql = store__lite_failures_sql;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare failures by cause");
    sqlite3_bind_int(st, 1, limit > 0 ? limit : 100);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_cause_t *g = realloc(*out, (*n + 1) * sizeof(*g));
        if (!g) {
            sqlite3_finalize(st);
            return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        }
        *out = g;
        store_cause_t *c = &g[(*n)++];
        memset(c, 0, sizeof(*c));
        c->cls = (err_class_t)sqlite3_column_int(st, 0);
        copy_col(st, 1, c->code, sizeof(c->code));
        c->count = sqlite3_column_int64(st, 2);
        c->unsafe = sqlite3_column_int64(st, 3);
        c->last_at = sqlite3_column_int64(st, 4);
        copy_col(st, 5, c->kinds, sizeof(c->kinds));
        copy_col(st, 6, c->sample_id, sizeof(c->sample_id));
        c->sample.cls = c->cls;
        memcpy(c->sample.code, c->code, sizeof(c->code));
        copy_col(st, 7, c->sample.message, sizeof(c->sample.message));
        copy_col(st, 8, c->sample.record, sizeof(c->sample.record));
        copy_col(st, 9, c->sample.hint, sizeof(c->sample.hint));
        c->sample.retry_safe = sqlite3_column_int(st, 10) != 0;
    }
    int r = rc == SQLITE_DONE ? 0 : store__sql_error(s, err, "failures by cause");
    sqlite3_finalize(st);
    if (r < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return r;
}

int store__lite_activity(store_t *s, int64_t since_ms, int64_t bucket_ms, int nbuckets, store_bucket_t *out, err_t *err)
{
    static const char sql[] =
        "SELECT (finished_at - ?1) / ?2, outcome = 'done', err_class, count(*) FROM attempts"
        " WHERE finished_at >= ?1 AND finished_at < ?3 AND outcome IN ('done', 'retry', 'dead', 'lost')"
        " GROUP BY 1, 2, 3";
    if (store__buckets_init(out, since_ms, bucket_ms, nbuckets, err) < 0)
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare activity");
    sqlite3_bind_int64(st, 1, since_ms);
    sqlite3_bind_int64(st, 2, bucket_ms);
    sqlite3_bind_int64(st, 3, since_ms + (int64_t)nbuckets * bucket_ms);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        store__bucket_add(out, nbuckets, sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1) != 0,
                          sqlite3_column_int(st, 2), sqlite3_column_int64(st, 3));
    int r = rc == SQLITE_DONE ? 0 : store__sql_error(s, err, "activity");
    sqlite3_finalize(st);
    return r;
}

/* The rows a state filter reads, through the partial index that holds that state (migration 8): done and discarded
 * jobs in jobs_finished (state, updated_at), already in the listing's order, so a page of them reads a page of
 * rows; dead ones in jobs_dead (updated_at), likewise; live ones in jobs_key (a pass over the live jobs, sorted).
 * Each names its index's predicate, which the planner must see to use it. Without a state, every job (as ever). */
static const char *jobs_from(const store_filter_t *f)
{
    int state = f ? f->state : -1;
    if (state == JOB_DONE || state == JOB_DISCARDED)
        return " FROM jobs INDEXED BY jobs_finished WHERE state IN (3, 5) AND state = ?1";
    if (state == JOB_DEAD)
        return " FROM jobs INDEXED BY jobs_dead WHERE state = 4 AND state = ?1";
    if (state >= 0)
        return " FROM jobs INDEXED BY jobs_key WHERE finished_at IS NULL AND state = ?1";
    return " FROM jobs WHERE ?1 < 0";
}

int store__lite_jobs_query(store_t *s, const store_filter_t *f, const char *q, job_t ***out, size_t *n, err_t *err)
{
    /* The state filter reads its index (jobs_from); q adds a scan of the matching rows, bounded by limit. */
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "SELECT " STORE_JOB_COLS "%s AND (?2 IS NULL OR kind = ?2)"
             " AND (?3 IS NULL OR id >= ?3 AND id < ?3 || 'g' OR correlation_id = ?3 OR instr(okey, ?3) > 0)"
             " ORDER BY updated_at DESC, rid DESC LIMIT ?4",
             jobs_from(f));
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare jobs query");
    sqlite3_bind_int(st, 1, f ? f->state : -1);
    if (f && f->kind)
        sqlite3_bind_text(st, 2, f->kind, -1, SQLITE_TRANSIENT);
    if (q && *q)
        sqlite3_bind_text(st, 3, q, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, f && f->limit > 0 ? f->limit : 100);
    return store__read_jobs(s, st, out, n, err, "jobs query");
}

int store__lite_list(store_t *s, const store_filter_t *f, job_t ***out, size_t *n, err_t *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "SELECT " STORE_JOB_COLS "%s AND (?2 IS NULL OR kind = ?2) ORDER BY updated_at DESC, rid DESC LIMIT ?3",
             jobs_from(f));
    if (sqlite3_prepare_v2(s->conn, sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "list jobs");
    sqlite3_bind_int(st, 1, f ? f->state : -1);
    store__lite_bind_text(st, 2, f ? f->kind : NULL);
    sqlite3_bind_int(st, 3, f && f->limit > 0 ? f->limit : 100);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        job_t **g = realloc(*out, (*n + 1) * sizeof(*g));
        job_t *j = store__read_job(st);
        if (!g || !j) {
            if (g)
                *out = g;
            job_free(j);
            break;
        }
        *out = g;
        (*out)[(*n)++] = j;
    }
    if (rc != SQLITE_DONE) {
        store__sql_error(s, err, "list jobs");
        sqlite3_finalize(st);
        job_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}
