/* store_pg_metrics: the queue figures on PostgreSQL — counts by state (store_stats) and, at scrape time, jobs by
 * state and kind with the oldest of each group and the lag of the oldest due job. Reads only. The SQLite versions
 * are in store_sqlite_metrics.c. Not here: rendering (obs/metrics.c) or any bound (cmd_serve.c). */
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

int store__pg_stats(store_t *h, int64_t now, store_stats_t *out, err_t *err)
{
    pg_t *s = PG(h);
    memset(out, 0, sizeof(*out));
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_int(&a, now);
    PGresult *r = store__pg_run_sql(s,
                          "SELECT state::int, count(*) FROM jobs GROUP BY state"
                          " UNION ALL SELECT -1, min(created_at) FROM jobs WHERE state = 0"
                          " UNION ALL SELECT -2, min(run_at) FROM jobs WHERE ready AND state IN (0, 2)"
                          "   AND run_at <= $1::bigint"
                          " UNION ALL SELECT -3, count(*) FROM attempts WHERE outcome = 'retry'"
                          "   AND finished_at >= $1::bigint - 3600000",
                          &a, err, "stats");
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int k = (int)store__pg_cell_int(r, i, 0);
        int64_t v = store__pg_cell_int(r, i, 1);
        if (k >= 0 && k < JOB_STATE_COUNT)
            out->by_state[k] = v;
        else if (k == -1)
            out->oldest_queued_ms = v;
        else if (k == -2)
            out->oldest_due_ms = v;
        else if (k == -3)
            out->retries_last_hour = v;
    }
    PQclear(r);
    return 0;
}

int store__pg_queue_depth(store_t *h, int64_t now, bool by_kind, store_depth_fn fn, void *ud,
                          int64_t *oldest_due_ms, err_t *err)
{
    pg_t *s = PG(h);
    *oldest_due_ms = 0;
    if (store__pg_ensure(s, err) < 0)
        return -1;
    /* One statement, one snapshot: the figures of a scrape agree with each other. Row -1 carries the lag: among
     * the heads a claim would consider (jobs_claim), the earliest due run_at. */
    pg_args_t a = {0};
    store__pg_a_int(&a, now);
    PGresult *r = store__pg_run_sql(s,
                          /* Live and dead rows apart, so that each part reads its partial index (jobs_key,
                           * jobs_dead: migration 6) and a scrape never walks the done rows. */
                          by_kind ? "SELECT state::int, kind, count(*), min(created_at) FROM jobs"
                                    " WHERE state IN (0, 1, 2) GROUP BY state, kind"
                                    " UNION ALL SELECT 4, kind, count(*), min(created_at) FROM jobs"
                                    " WHERE state = 4 GROUP BY kind"
                                    " UNION ALL SELECT -1, '', 0, coalesce(min(run_at), 0) FROM jobs"
                                    " WHERE ready AND state IN (0, 2) AND run_at <= $1::bigint ORDER BY 1, 2"
                                  : "SELECT state::int, '', count(*), 0 FROM jobs WHERE state IN (0, 1, 2)"
                                    " GROUP BY state"
                                    " UNION ALL SELECT 4, '', count(*), 0 FROM jobs WHERE state = 4 HAVING count(*) > 0"
                                    " UNION ALL SELECT -1, '', 0, coalesce(min(run_at), 0) FROM jobs"
                                    " WHERE ready AND state IN (0, 2) AND run_at <= $1::bigint ORDER BY 1, 2",
                          &a, err, "queue figures");
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int state = (int)store__pg_cell_int(r, i, 0);
        if (state < 0)
            *oldest_due_ms = store__pg_cell_int(r, i, 3);
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int state = (int)store__pg_cell_int(r, i, 0);
        const char *kind = store__pg_cell(r, i, 1);
        if (state >= 0 && fn((job_state_t)state, kind ? kind : "", store__pg_cell_int(r, i, 2), store__pg_cell_int(r, i, 3), ud) != 0)
            break;
    }
    PQclear(r);
    return 0;
}
