/* store_sqlite_metrics: the queue figures on SQLite — counts by state (store_stats) and, read at scrape time by
 * GET /metrics and by /readyz, jobs by state and kind with the oldest of each group and the lag of the oldest due
 * job. Reads only, one read transaction, so the figures of one scrape agree with each other (store_pg_metrics.c:
 * PostgreSQL). Not here: rendering (obs/metrics.c) or any bound (cmd_serve.c). */
#define _GNU_SOURCE
#include <string.h>

#include "store/store_sqlite.h"

/* Live and dead jobs only, each part through its partial index (migration 8): jobs_key holds the live jobs,
 * jobs_dead the dead ones, and the done ones, most of a long-running table, are never visited. Both parts read
 * the rows they count (state and kind are in neither index): a pass over the live and dead jobs. (A covering index
 * on (state, kind, created_at) would spare the row reads, but it cost 10-20 % of enqueue and drain throughput in
 * bench_queue: every job would pay for a scrape every 15 s.) */
const char store__lite_depth_sql[] =
    "SELECT state, kind, count(*), min(created_at) FROM jobs INDEXED BY jobs_key WHERE finished_at IS NULL"
    " GROUP BY state, kind"
    " UNION ALL SELECT 4, kind, count(*), min(created_at) FROM jobs INDEXED BY jobs_dead WHERE state = 4"
    " GROUP BY kind";
const char store__lite_totals_sql[] =
    "SELECT state, '', count(*), 0 FROM jobs INDEXED BY jobs_key WHERE finished_at IS NULL GROUP BY state"
    " UNION ALL SELECT state, '', count(*), 0 FROM jobs INDEXED BY jobs_dead WHERE state = 4 GROUP BY state";
/* The lag: among the heads the claim would consider (jobs_claim), the earliest due run_at. */
#define DUE_SQL "SELECT min(run_at) FROM jobs INDEXED BY jobs_claim WHERE ready = 1 AND state IN (0, 2) AND run_at <= ?1"

int store__lite_queue_depth(store_t *s, int64_t now, bool by_kind, store_depth_fn fn, void *ud, int64_t *oldest_due_ms,
                      err_t *err)
{
    sqlite3 *db = store__conn(s);
    sqlite3_stmt *depth = NULL, *due = NULL;
    int rc = -1, step;
    *oldest_due_ms = 0;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "queue figures");
    const char *sql = by_kind ? store__lite_depth_sql : store__lite_totals_sql;
    if (sqlite3_prepare_v2(db, sql, -1, &depth, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, DUE_SQL, -1, &due, NULL) != SQLITE_OK) {
        store__sql_error(s, err, "queue figures");
        goto out;
    }
    while ((step = sqlite3_step(depth)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(depth, 1);
        if (fn((job_state_t)sqlite3_column_int(depth, 0), kind ? kind : "", sqlite3_column_int64(depth, 2),
               sqlite3_column_int64(depth, 3), ud) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    if (step != SQLITE_DONE) {
        store__sql_error(s, err, "queue depth");
        goto out;
    }
    sqlite3_bind_int64(due, 1, now);
    if (sqlite3_step(due) != SQLITE_ROW) {
        store__sql_error(s, err, "queue lag");
        goto out;
    }
    *oldest_due_ms = sqlite3_column_int64(due, 0); /* NULL (no due job) reads as 0 */
    rc = 0;
out:
    sqlite3_finalize(depth);
    sqlite3_finalize(due);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

const char store__lite_stats_sql[] =
    /* by state through the partial indexes (migration 8): live jobs' rows, finished ones from jobs_finished
     * alone (covering), dead ones from jobs_dead; the oldest queued among the live ones ("finished_at IS NULL"
     * is jobs_key's predicate since migration 9, which the planner must see to use it) */
    "SELECT state, count(*), NULL FROM jobs INDEXED BY jobs_key WHERE finished_at IS NULL GROUP BY state"
    " UNION ALL SELECT state, count(*), NULL FROM jobs INDEXED BY jobs_finished WHERE state IN (3, 5) GROUP BY state"
    " UNION ALL SELECT 4, count(*), NULL FROM jobs INDEXED BY jobs_dead WHERE state = 4"
    " UNION ALL SELECT -1, min(created_at), NULL FROM jobs INDEXED BY jobs_key WHERE finished_at IS NULL AND state = 0"
    " UNION ALL SELECT -2, min(run_at), NULL FROM jobs INDEXED BY jobs_claim"
    " WHERE ready = 1 AND state IN (0, 2) AND run_at <= ?1"
    " UNION ALL SELECT -3, count(*), NULL FROM attempts WHERE outcome = 'retry' AND finished_at >= ?1 - 3600000";

int store__lite_stats(store_t *s, int64_t now, store_stats_t *out, err_t *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->conn, store__lite_stats_sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "stats");
    sqlite3_bind_int64(st, 1, now);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int k = sqlite3_column_int(st, 0);
        int64_t v = sqlite3_column_int64(st, 1);
        if (k >= 0 && k < JOB_STATE_COUNT)
            out->by_state[k] = v;
        else if (k == -1)
            out->oldest_queued_ms = v;
        else if (k == -2)
            out->oldest_due_ms = v;
        else if (k == -3)
            out->retries_last_hour = v;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store__sql_error(s, err, "stats");
    return 0;
}
