/* store_pg_sql: how the PostgreSQL engine's files talk to the server — the statement texts and parameters, the
 * connection each store_t (re)dials on demand with backoff, transactions, error mapping and reading rows. Every
 * concern file (store_pg_jobs.c, _effects.c, _audit.c, _ops.c, _metrics.c) goes through these.
 * Not here: the schema, the shared database handle and its listener (store_pg.c), or what any query means. */
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

static const char *const sql_text[Q_COUNT] = {
    /* One round trip per job: key lock, insert, duplicate count, head (migration 2). */
    [Q_ENQUEUE] = "SELECT synchub_enqueue($1, $2, $3, $4::int, $5::int, $6::bigint, $7::bigint, $8::bigint, $9, $10,"
                  " $11, $12)",
    [Q_FINISH_ONE] = "SELECT synchub_finish($1, $2::bigint, $3::int, $4::bigint, $5::bigint, $6::int, $7, $8, $9, $10,"
                     " $11::int, $12::int, $13, $14, $15, $16, $17::int, $18, $19)",
    [Q_LOCK_KEY] = "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))",
    [Q_REFRESH] = "SELECT synchub_refresh_head($1::text)",
    /* Pick and lease in one statement. A RUNNING job stays its key's head (ready). The attempt's start and worker
     * stay on the job row until the attempt ends (migration 6: its attempts row is written then, once). */
    [Q_CLAIM] =
        "WITH pick AS (SELECT rid FROM jobs WHERE ready AND state IN (0, 2) AND run_at <= $1::bigint"
        "   ORDER BY priority DESC, run_at LIMIT 1 FOR UPDATE SKIP LOCKED),"
        " u AS (UPDATE jobs j SET state = 1, attempts = j.attempts + 1, lease_until = $1::bigint + j.lease_ms,"
        "   lease_token = $2::bigint, updated_at = $1::bigint, started_at = $1::bigint, worker = $3::text"
        "   FROM pick WHERE j.rid = pick.rid RETURNING j.*)"
        " SELECT " PG_JOB_COLS " FROM u",
    /* Q_CLAIM for up to $4 heads at once (store_finish_batch); each gets its own token ($2 + rid, $2 random). The
     * heads the round's synchub_finish_round already leased for it (synchub.handed, migration 8) count against $4
     * and come back with the others. */
    [Q_CLAIM_MANY] =
        "WITH h AS (SELECT coalesce(nullif(current_setting('synchub.handed', true), '')::bigint[], '{}') AS rids),"
        " pick AS (SELECT rid FROM jobs WHERE ready AND state IN (0, 2) AND run_at <= $1::bigint"
        "   ORDER BY priority DESC, run_at LIMIT greatest($4::int - (SELECT cardinality(rids) FROM h), 0)"
        "   FOR UPDATE SKIP LOCKED),"
        " u AS (UPDATE jobs j SET state = 1, attempts = j.attempts + 1, lease_until = $1::bigint + j.lease_ms,"
        "   lease_token = $2::bigint + j.rid, updated_at = $1::bigint, started_at = $1::bigint, worker = $3::text"
        "   FROM pick WHERE j.rid = pick.rid RETURNING j.*)"
        " SELECT " PG_JOB_COLS " FROM u UNION ALL SELECT " PG_JOB_COLS " FROM jobs JOIN h ON jobs.rid = ANY(h.rids)"
        " ORDER BY priority DESC, run_at",
    /* A batch of outcomes as arrays, one element per outcome (migration 5): the positions whose lease was held.
     * $15-$17: the round's claim (how many, token, worker) for the heads it moves (migration 8). */
    [Q_FINISH_MANY] = "SELECT * FROM synchub_finish_round($1::text[], $2::bigint[], $3::int[], $4::bigint[],"
                      " $5::text[], $6::bigint, $7::int[], $8::text[], $9::text[], $10::text[], $11::text[],"
                      " $12::int[], $13::text[], $14::text[], $15::int, $16::bigint, $17::text)",
    [Q_NEXT_DUE] = "SELECT coalesce(min(run_at), 0) FROM jobs WHERE ready AND state IN (0, 2)",
    [Q_FINISH] = "UPDATE jobs SET state = $3::smallint,"
                 " ready = CASE WHEN $3::int IN (3, 4) THEN false ELSE ready END,"
                 " run_at = $4::bigint, lease_until = NULL, updated_at = $5::bigint,"
                 " finished_at = CASE WHEN $3::int IN (3, 4) THEN $5::bigint END,"
                 " err_class = $6::int, err_code = $7, err_message = $8, err_record = $9, err_hint = $10,"
                 " err_retry_safe = $11::int WHERE id = $1 AND state = 1 AND lease_token = $2::bigint",
    /* The attempts row of attempt $2 written as it ends, from the job row's start and worker (Q_CLAIM). */
    [Q_ATTEMPT_CLOSE] = "INSERT INTO attempts AS t(job_rid, n, started_at, finished_at, outcome, worker, err_class,"
                        " err_code, err_message, err_record, err_hint, err_retry_safe, note)"
                        " SELECT rid, $2::int, coalesce(started_at, $3::bigint), $3::bigint, $4::text, worker,"
                        " $5::int, $6::text, $7::text, $8::text, $9::text, $10::int, $11::text FROM jobs"
                        " WHERE rid = $1::bigint " PG_ATTEMPT_UPSERT,
    [Q_RENEW] = "UPDATE jobs SET lease_until = $3::bigint WHERE id = $1 AND state = 1 AND lease_token = $2::bigint",
    [Q_NOTIFY] = "SELECT pg_notify('" PG_CHANNEL "', '')",
    [Q_BY_ID] = "SELECT " PG_JOB_COLS " FROM jobs WHERE id = $1",
    [Q_BY_PREFIX] = "SELECT " PG_JOB_COLS " FROM jobs WHERE id >= $1 AND id < $2 ORDER BY id LIMIT 2",
    [Q_LINK_GET] = "SELECT odoo_model, odoo_id, version, state, extra, updated_at FROM links"
                   " WHERE system = $1 AND shop = $2 AND type = $3 AND external_id = $4",
    [Q_LINK_PUT] = "INSERT INTO links(system, shop, type, external_id, odoo_model, odoo_id, version, state, extra,"
                   " updated_at) VALUES($1, $2, $3, $4, $5, $6::bigint, $7::bigint, $8, $9, $10::bigint)"
                   " ON CONFLICT (system, shop, type, external_id) DO UPDATE SET odoo_model = excluded.odoo_model,"
                   " odoo_id = excluded.odoo_id, version = excluded.version, state = excluded.state,"
                   " extra = excluded.extra, updated_at = excluded.updated_at",
    [Q_LINK_DEL] = "DELETE FROM links WHERE system = $1 AND shop = $2 AND type = $3 AND external_id = $4",
    [Q_LINK_EACH] = "SELECT odoo_model, odoo_id, version, state, extra, updated_at, external_id FROM links"
                    " WHERE system = $1 AND shop = $2 AND type = $3 AND external_id > $4 ORDER BY external_id"
                    " LIMIT 200",
    [Q_LINK_FIND] = "SELECT external_id FROM links WHERE odoo_model = $5 AND odoo_id = $6::bigint AND system = $1"
                    " AND shop = $2 AND type = $3 AND $4::text IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
    [Q_CURSOR_GET] = "SELECT value FROM meta WHERE key = 'cursor:' || $1",
    [Q_CURSOR_PUT] = "INSERT INTO meta(key, value) VALUES('cursor:' || $1, $2)"
                     " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [Q_KEY_LIVE] = "SELECT count(*) FROM jobs WHERE okey = $1 AND state IN (0, 1, 2)",
    /* The ended attempts, then the running one from the job row, which supersedes a stored row of its number (the
     * same attempt paused before this claim). A job an older node claimed has no started_at: its own 'running'
     * row stands. */
    [Q_ATTEMPTS] = "SELECT n, started_at, coalesce(finished_at, 0), outcome, worker, err_class, err_code,"
                   " err_message, err_record, err_hint, err_retry_safe, note FROM attempts t WHERE job_rid = $1::bigint"
                   " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.rid = t.job_rid AND j.state = 1"
                   " AND j.started_at IS NOT NULL AND j.attempts = t.n)"
                   " UNION ALL SELECT attempts, started_at, 0, 'running', worker, 0, NULL, NULL, NULL, NULL, NULL, NULL"
                   " FROM jobs WHERE rid = $1::bigint AND state = 1 AND started_at IS NOT NULL"
                   " ORDER BY 1",
};

/* ---- parameters -------------------------------------------------------------------------------------------- */

void store__pg_a_str(pg_args_t *a, const char *v)
{
    if (a->n >= PG_MAX_ARGS)
        abort(); /* a statement with more parameters than PG_MAX_ARGS: a bug here, never data */
    a->v[a->n] = v;
    a->len[a->n] = 0;
    a->fmt[a->n] = 0;
    a->n++;
}

/* Text of known length, sent in binary format (the bytes as they are): no NUL terminator needed. */
void store__pg_a_bytes(pg_args_t *a, const char *v, size_t len)
{
    if (a->n >= PG_MAX_ARGS)
        abort(); /* see a_str */
    a->v[a->n] = v ? v : "";
    a->len[a->n] = (int)len;
    a->fmt[a->n] = 1;
    a->n++;
}

void store__pg_a_int(pg_args_t *a, int64_t x)
{
    snprintf(a->num[a->n], sizeof(a->num[a->n]), "%lld", (long long)x);
    store__pg_a_str(a, a->num[a->n]);
}

/* An err_t as err_class, code, message, record, hint, retry_safe. */
void store__pg_a_err(pg_args_t *a, const err_t *e)
{
    if (!e || e->cls == ERR_NONE) {
        store__pg_a_int(a, 0);
        for (int i = 0; i < 5; i++)
            store__pg_a_str(a, NULL);
        return;
    }
    store__pg_a_int(a, (int)e->cls);
    store__pg_a_str(a, e->code);
    store__pg_a_str(a, e->message);
    store__pg_a_str(a, e->record[0] ? e->record : NULL);
    store__pg_a_str(a, e->hint[0] ? e->hint : NULL);
    store__pg_a_int(a, e->retry_safe);
}

/* Elements are separated by commas and the literal opened by the first one; text elements are always quoted, with
 * '"' and '\\' escaped, so that no value (an error message, "NULL") can end or change the array. */
static int arr_sep(buf_t *b)
{
    return buf_append(b, b->len ? "," : "{", 1);
}

int store__pg_arr_str(buf_t *b, const char *v)
{
    if (arr_sep(b) < 0)
        return -1;
    if (!v)
        return buf_puts(b, "NULL");
    if (buf_append(b, "\"", 1) < 0)
        return -1;
    for (const char *run = v;;) {
        size_t plain = strcspn(run, "\"\\");
        if (buf_append(b, run, plain) < 0)
            return -1;
        if (!run[plain])
            break;
        char esc[2] = {'\\', run[plain]};
        if (buf_append(b, esc, 2) < 0)
            return -1;
        run += plain + 1;
    }
    return buf_append(b, "\"", 1);
}

int store__pg_arr_int(buf_t *b, int64_t x)
{
    if (arr_sep(b) < 0)
        return -1;
    return buf_printf(b, "%lld", (long long)x);
}

int store__pg_arr_end(buf_t *b)
{
    return b->len ? buf_append(b, "}", 1) : buf_puts(b, "{}");
}

/* ---- errors and connections -------------------------------------------------------------------------------- */

/* libpq's messages end with a newline and may span lines: keep the first line. */
static void first_line(char *dst, size_t n, const char *msg)
{
    snprintf(dst, n, "%s", msg && *msg ? msg : "unknown error");
    dst[strcspn(dst, "\r\n")] = '\0';
}

/* Fill err from a failed result (or the connection when r is NULL). Busy conditions (serialization failure,
 * deadlock, lock timeout, a racing insert) pass by themselves: store.busy. A lost or refusing server:
 * store.unavailable. Both are transient: the ack path answers 503, workers retry. Returns -1. */
int store__pg_fail(pg_t *s, const PGresult *r, err_t *err, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char msg[400];
    first_line(msg, sizeof(msg), r ? PQresultErrorMessage(r) : PQerrorMessage(s->conn));
    bool down = PQstatus(s->conn) != CONNECTION_OK ||
                (state && (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strcmp(state, "53300")));
    bool busy = state && (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
                          !strcmp(state, "57014") || !strcmp(state, "23505"));
    bool full = state && (!strcmp(state, "53100") || !strcmp(state, "53200"));
    err_set(err, down || busy || full ? ERR_TRANSIENT : ERR_INTERNAL,
            down ? "store.unavailable" : busy ? "store.busy" : full ? "store.full" : "store.postgres",
            "store: %s failed: %s%s%s%s", what, msg, state ? " (SQLSTATE " : "", state ? state : "",
            state ? ")" : "");
    err_record(err, "store %s", s->db->label);
    if (down)
        err_hint(err, "the PostgreSQL server is unreachable or restarting; synchub reconnects by itself");
    else if (busy)
        err_hint(err, "another node holds a conflicting lock; it is retried");
    else if (full)
        err_hint(err, "the PostgreSQL server is out of disk space or memory");
    return -1;
}

/* The URL without its password, for messages. */
char *store__pg_redact(const char *url)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    PQfreemem(msg);
    if (!opts)
        return strdup("postgresql://(unparsable URL)");
    const char *user = NULL, *host = NULL, *port = NULL, *dbname = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (!strcmp(o->keyword, "user"))
            user = o->val;
        else if (!strcmp(o->keyword, "host"))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            dbname = o->val;
    }
    char *out = NULL;
    if (asprintf(&out, "postgresql://%s%s%s%s%s/%s", user ? user : "", user ? "@" : "", host ? host : "",
                 port ? ":" : "", port ? port : "", dbname ? dbname : "") < 0)
        out = NULL;
    PQconninfoFree(opts);
    return out;
}

/* The server's notices ("relation already exists, skipping") are not errors; libpq would print them on stderr. */
static void drop_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Connect within about timeout_ms (libpq counts whole seconds, at least 2): on the ack path the busy timeout is
 * the ack deadline, and an unreachable server must cost a 503 in time, not Shopify's own timeout. */
PGconn *store__pg_dial(pg_db_t *db, int64_t timeout_ms, err_t *err)
{
    static const char *const keys[] = {"dbname", "password", "connect_timeout", "application_name", NULL};
    char secs[24];
    snprintf(secs, sizeof(secs), "%lld", (long long)(timeout_ms < 2000 ? 2 : timeout_ms / 1000));
    const char *vals[] = {db->url, db->password, secs, "synchub", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c && PQstatus(c) == CONNECTION_OK) {
        PQsetNoticeProcessor(c, drop_notice, NULL);
        return c;
    }
    char msg[400];
    first_line(msg, sizeof(msg), c ? PQerrorMessage(c) : "out of memory");
    /* Authentication and a missing database need the operator; a refused or timed-out connection passes. */
    bool config = strstr(msg, "authentication") || strstr(msg, "does not exist") || strstr(msg, "password") ||
                  strstr(msg, "invalid") || strstr(msg, "no pg_hba.conf");
    err_set(err, config ? ERR_CONFIGURATION : ERR_TRANSIENT, config ? "store.open" : "store.unavailable",
            "cannot connect to the store %s: %s", db->label, msg);
    err_hint(err, config ? "check [store] url, password (or password_file / password_env) and that the database exists"
                         : "check that the PostgreSQL server runs and is reachable; synchub retries");
    PQfinish(c);
    return NULL;
}

/* Per-session settings: lock waits bounded like SQLite's busy timeout; non-durable sessions skip the WAL flush at
 * store__pg_commit (a crash of the server may lose their last commits, never corrupt them). */
static int session_setup(pg_t *s, err_t *err)
{
    pg_args_t a = {0};
    store__pg_a_int(&a, s->busy_ms);
    store__pg_a_str(&a, s->durable ? "on" : "off");
    PGresult *r = PQexecParams(s->conn,
                               "SELECT set_config('lock_timeout', $1 || 'ms', false),"
                               " set_config('synchronous_commit', $2, false)",
                               a.n, NULL, a.v, a.len, a.fmt, 0);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : store__pg_fail(s, r, err, "session setup");
    PQclear(r);
    return rc;
}

/* Make sure the connection is up before a call: redial a broken one, at most once per backoff step. */
int store__pg_ensure(pg_t *s, err_t *err)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return 0;
    int64_t now = clock_now_ms();
    if (now < s->next_dial_ms)
        return err_full(err, ERR_TRANSIENT, "store.unavailable", s->db->label,
                        "the PostgreSQL server is unreachable or restarting; synchub reconnects by itself",
                        "store: the connection to PostgreSQL is down (next attempt in %lld ms)",
                        (long long)(s->next_dial_ms - now));
    PQfinish(s->conn);
    s->conn = NULL;
    memset(s->prepared, 0, sizeof(s->prepared));
    s->in_tx = false;
    s->leader = false;
    PGconn *c = store__pg_dial(s->db, s->busy_ms, err);
    if (c) {
        s->conn = c;
        if (session_setup(s, err) == 0) {
            s->dial_backoff_ms = 0;
            s->next_dial_ms = 0;
            return 0;
        }
        PQfinish(s->conn);
        s->conn = NULL;
    }
    s->dial_backoff_ms = s->dial_backoff_ms ? s->dial_backoff_ms * 2 : 100;
    if (s->dial_backoff_ms > PG_DIAL_BACKOFF_MAX_MS)
        s->dial_backoff_ms = PG_DIAL_BACKOFF_MAX_MS;
    s->next_dial_ms = now + s->dial_backoff_ms;
    if (err && err->cls == ERR_CONFIGURATION) /* at run time a refused login is as unavailable as a down server */
        err->cls = ERR_TRANSIENT;
    return -1;
}

/* r if the statement succeeded; else NULL with err (r is cleared). */
static PGresult *checked(pg_t *s, PGresult *r, err_t *err, const char *what)
{
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    store__pg_fail(s, r, err, what);
    PQclear(r);
    return NULL;
}

/* Prepare statement which on this connection once; name gets its name ("q<which>"). 0 or -1. */
int store__pg_prepare(pg_t *s, int which, char name[8], err_t *err)
{
    snprintf(name, 8, "q%d", which);
    if (s->prepared[which])
        return 0;
    PGresult *p = PQprepare(s->conn, name, sql_text[which], 0, NULL);
    if (PQresultStatus(p) != PGRES_COMMAND_OK) {
        store__pg_fail(s, p, err, "prepare");
        PQclear(p);
        return -1;
    }
    PQclear(p);
    s->prepared[which] = true;
    return 0;
}

/* Run a prepared statement. The result (caller PQclear) or NULL with err. */
PGresult *store__pg_run(pg_t *s, int which, const pg_args_t *a, err_t *err, const char *what)
{
    if (!s->conn && store__pg_ensure(s, err) < 0)
        return NULL;
    char name[8];
    if (store__pg_prepare(s, which, name, err) < 0)
        return NULL;
    PGresult *r = PQexecPrepared(s->conn, name, a ? a->n : 0, a ? a->v : NULL, a ? a->len : NULL,
                                 a ? a->fmt : NULL, 0);
    return checked(s, r, err, what);
}

/* Run an ad-hoc statement (operator and trace queries, run rarely). */
PGresult *store__pg_run_sql(pg_t *s, const char *sql, const pg_args_t *a, err_t *err, const char *what)
{
    if (!s->conn && store__pg_ensure(s, err) < 0)
        return NULL;
    PGresult *r = PQexecParams(s->conn, sql, a ? a->n : 0, NULL, a ? a->v : NULL, a ? a->len : NULL,
                               a ? a->fmt : NULL, 0);
    return checked(s, r, err, what);
}

/* Run and discard the result; *changed (if given) gets the affected row count. 0 or -1. */
int store__pg_run_cmd(pg_t *s, int which, const pg_args_t *a, int64_t *changed, err_t *err, const char *what)
{
    PGresult *r = store__pg_run(s, which, a, err, what);
    if (!r)
        return -1;
    if (changed)
        *changed = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

int store__pg_exec_plain(pg_t *s, const char *sql, err_t *err)
{
    PGresult *r = store__pg_run_sql(s, sql, NULL, err, sql);
    PQclear(r);
    return r ? 0 : -1;
}

int store__pg_begin(pg_t *s, err_t *err)
{
    if (store__pg_ensure(s, err) < 0 || store__pg_exec_plain(s, "BEGIN", err) < 0)
        return -1;
    s->in_tx = true;
    return 0;
}

/* A COMMIT that fails (or whose answer is lost with the connection) may or may not have happened: callers treat it
 * as not done, which every caller tolerates (the ack path answers 503 and the sender retries into the dedupe; a
 * worker's lost result re-runs an idempotent job). */
int store__pg_commit(pg_t *s, err_t *err)
{
    s->in_tx = false;
    return store__pg_exec_plain(s, "COMMIT", err);
}

void store__pg_rollback(pg_t *s)
{
    if (!s->in_tx)
        return;
    s->in_tx = false;
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK) {
        PGresult *r = PQexec(s->conn, "ROLLBACK");
        PQclear(r);
    }
}

/* ---- reading rows ------------------------------------------------------------------------------------------ */

const char *store__pg_cell(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

char *store__pg_cell_dup(const PGresult *r, int row, int col)
{
    const char *v = store__pg_cell(r, row, col);
    return v ? strdup(v) : NULL;
}

void store__pg_cell_copy(const PGresult *r, int row, int col, char *dst, size_t n)
{
    const char *v = store__pg_cell(r, row, col);
    snprintf(dst, n, "%s", v ? v : "");
}

int64_t store__pg_cell_int(const PGresult *r, int row, int col)
{
    const char *v = store__pg_cell(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

void store__pg_read_err(const PGresult *r, int row, int first, err_t *e)
{
    err_clear(e);
    e->cls = (err_class_t)store__pg_cell_int(r, row, first);
    if (e->cls == ERR_NONE)
        return;
    store__pg_cell_copy(r, row, first + 1, e->code, sizeof(e->code));
    store__pg_cell_copy(r, row, first + 2, e->message, sizeof(e->message));
    store__pg_cell_copy(r, row, first + 3, e->record, sizeof(e->record));
    store__pg_cell_copy(r, row, first + 4, e->hint, sizeof(e->hint));
    e->retry_safe = store__pg_cell_int(r, row, first + 5) != 0;
}

/* A row of PG_JOB_COLS; NULL on OOM. */
job_t *store__pg_read_job(const PGresult *r, int row)
{
    job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->rid = store__pg_cell_int(r, row, 0);
    store__pg_cell_copy(r, row, 1, j->id, sizeof(j->id));
    j->kind = store__pg_cell_dup(r, row, 2);
    j->ordering_key = store__pg_cell_dup(r, row, 3);
    j->priority = (int)store__pg_cell_int(r, row, 4);
    j->state = (job_state_t)store__pg_cell_int(r, row, 5);
    j->attempts = (int)store__pg_cell_int(r, row, 6);
    j->max_attempts = (int)store__pg_cell_int(r, row, 7);
    j->lease_ms = store__pg_cell_int(r, row, 8);
    j->event_time = store__pg_cell_int(r, row, 9);
    j->run_at = store__pg_cell_int(r, row, 10);
    j->lease_until = store__pg_cell_int(r, row, 11);
    j->lease_token = store__pg_cell_int(r, row, 12);
    j->created_at = store__pg_cell_int(r, row, 13);
    j->updated_at = store__pg_cell_int(r, row, 14);
    j->finished_at = store__pg_cell_int(r, row, 15);
    j->source = store__pg_cell_dup(r, row, 16);
    j->correlation_id = store__pg_cell_dup(r, row, 17);
    j->meta = store__pg_cell_dup(r, row, 18);
    j->payload = store__pg_cell_dup(r, row, 19);
    store__pg_read_err(r, row, 20, &j->last_error);
    if (!j->kind || !j->ordering_key || !j->source || !j->payload) {
        job_free(j);
        return NULL;
    }
    return j;
}

/* Every row of r as jobs (job_list_free). 0 or -1 (OOM). */
static int read_jobs(const PGresult *r, job_t ***out, size_t *n, err_t *err)
{
    int rows = PQntuples(r);
    *out = NULL;
    *n = 0;
    if (rows == 0)
        return 0;
    job_t **v = calloc((size_t)rows, sizeof(*v));
    if (!v)
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    for (int i = 0; i < rows; i++) {
        if (!(v[i] = store__pg_read_job(r, i))) {
            job_list_free(v, (size_t)i);
            return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        }
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

/* Run sql and read every row (PG_JOB_COLS) as jobs into *out (job_list_free). 0, or -1 with nothing in *out. */
int store__pg_select_jobs(pg_t *s, const char *sql, const pg_args_t *a, job_t ***out, size_t *n, err_t *err,
                       const char *what)
{
    *out = NULL;
    *n = 0;
    PGresult *r = store__pg_run_sql(s, sql, a, err, what);
    if (!r)
        return -1;
    int rc = read_jobs(r, out, n, err);
    PQclear(r);
    return rc;
}

/* calloc'd room for r's rows of size bytes each (NULL when r has none); on OOM, r is cleared and *failed set. */
void *store__pg_alloc_rows(PGresult *r, size_t size, bool *failed, err_t *err)
{
    void *v = PQntuples(r) > 0 ? calloc((size_t)PQntuples(r), size) : NULL;
    *failed = PQntuples(r) > 0 && !v;
    if (*failed) {
        PQclear(r);
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    }
    return v;
}

/* The first cell of r's first row into out (n bytes; "" when r has no row); r is cleared. 1 found, 0 none. */
int store__pg_take_first_text(PGresult *r, char *out, size_t n)
{
    int found = PQntuples(r) > 0;
    if (found)
        store__pg_cell_copy(r, 0, 0, out, n);
    PQclear(r);
    return found;
}

/* The first row of r as a job into *out; r is cleared. 1, or -1 (OOM). */
int store__pg_take_first_job(PGresult *r, job_t **out, err_t *err)
{
    job_t *j = store__pg_read_job(r, 0);
    PQclear(r);
    if (!j)
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory reading a job");
    *out = j;
    return 1;
}

void store__pg_wake_local(pg_db_t *db, bool all)
{
    pthread_mutex_lock(&db->wake_mu);
    db->wake_gen++;
    if (all)
        pthread_cond_broadcast(&db->wake_cv);
    else
        pthread_cond_signal(&db->wake_cv);
    pthread_mutex_unlock(&db->wake_mu);
}
