/* store_pg: the PostgreSQL store engine (libpq), for several synchub nodes sharing one queue. Implements store.h
 * through store__pg_engine with the SQLite engine's contracts; all SQL only PostgreSQL understands lives here.
 * Not here: choosing the engine (store.c), the config keys (core/cfg.c), scheduling policy (sync/, queue/).
 *
 * How the single-node guarantees survive several nodes:
 * - Ordering-key heads ("ready", see store.h) change only under a transaction-scoped advisory lock on the key
 *   (lock_keys), taken before any row of that key is touched and, when a transaction needs several keys, in one
 *   global order (byte order of the key), so nodes never deadlock on them. A unique partial index (jobs_head) makes
 *   "at most one head per key" a constraint of the database, not only of this code.
 * - Claims take the most urgent head with FOR UPDATE SKIP LOCKED, so nodes never wait on each other's claims;
 *   the one-statement claim (Q_CLAIM) leases the job and opens its attempt at once.
 * - A head's "ready" flag is only cleared from a job that is not RUNNING (synchub_refresh_head), so a concurrent
 *   claim always wins over a newer event moving the head: a key never has two jobs running.
 * - Enqueue is INSERT … ON CONFLICT (id) DO NOTHING in one transaction (all or nothing); the id's unique index is
 *   the dedupe across nodes.
 * - Commits that make jobs claimable NOTIFY synchub_jobs; one listener thread per process wakes local waiters.
 * Connection loss: the next call on the store_t redials (with backoff between failed dials) and reports
 * store.unavailable until it succeeds; the server rolls back whatever was in flight, and a claimed job whose
 * result could not be written runs again once its lease expires (store_reap_expired on any node). */
#define _GNU_SOURCE
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "store/store.h"
#include "store/store_engine.h"

#define PG_CHANNEL "synchub_jobs"
#define PG_MIGRATE_LOCK 7423017001LL   /* session advisory lock serialising migrations of nodes starting together */
#define PG_DIAL_BACKOFF_MAX_MS 5000
#define PG_POOL_IDLE 8                 /* idle connections a node keeps for short-lived store_t's (/readyz, CLI) */

typedef struct pg_db {
    const store_engine_t *eng;   /* first member: store.c dispatches on it */
    char *url;                   /* as configured, possibly with a password: only ever handed to libpq */
    char *password;              /* NULL = the URL's own, PGPASSWORD or ~/.pgpass */
    char *label;                 /* the URL without its password: errors and logs */
    int64_t busy_timeout_ms;
    pthread_mutex_t wake_mu;
    pthread_cond_t wake_cv;
    uint64_t wake_gen;
    bool listening, stopping;    /* under wake_mu */
    pthread_t listener;
    pthread_mutex_t pool_mu;
    struct pg_store *idle[PG_POOL_IDLE];   /* closed store_t's whose connections wait for the next store_connect */
    int nidle;
} pg_db_t;

enum {
    Q_ENQUEUE, Q_FINISH_ONE, Q_LOCK_KEY, Q_REFRESH, Q_CLAIM, Q_NEXT_DUE, Q_FINISH, Q_ATTEMPT_CLOSE, Q_RENEW, Q_NOTIFY,
    Q_BY_ID, Q_BY_PREFIX, Q_LINK_GET, Q_LINK_PUT, Q_LINK_DEL, Q_LINK_EACH, Q_LINK_FIND, Q_CURSOR_GET, Q_CURSOR_PUT,
    Q_KEY_LIVE, Q_ATTEMPTS, Q_COUNT
};

typedef struct pg_store {
    const store_engine_t *eng;   /* first member: store.c dispatches on it */
    pg_db_t *db;
    PGconn *conn;
    bool durable;
    int64_t busy_ms;
    bool prepared[Q_COUNT];
    bool in_tx;
    bool leader;                 /* holds the session advisory lock of leader_name */
    char leader_name[64];
    int64_t next_dial_ms, dial_backoff_ms;
    uint64_t rng;
} pg_t;

#define PG(h) ((pg_t *)(h))
#define PGDB(h) ((pg_db_t *)(h))

/* The column list read by read_job(); the order is the contract (as STORE_JOB_COLS in SQLite's engine). */
#define PG_JOB_COLS                                                                                                 \
    "rid, id, kind, okey, priority, state, attempts, max_attempts, lease_ms, event_time, run_at,"                  \
    " coalesce(lease_until, 0), lease_token, created_at, updated_at, coalesce(finished_at, 0), source,"            \
    " correlation_id, meta, payload, err_class, err_code, err_message, err_record, err_hint, err_retry_safe"

static const char *const sql_text[Q_COUNT] = {
    /* One round trip per job: key lock, insert, duplicate count, head (migration 2). */
    [Q_ENQUEUE] = "SELECT synchub_enqueue($1, $2, $3, $4::int, $5::int, $6::bigint, $7::bigint, $8::bigint, $9, $10,"
                  " $11, $12)",
    [Q_FINISH_ONE] = "SELECT synchub_finish($1, $2::bigint, $3::int, $4::bigint, $5::bigint, $6::int, $7, $8, $9, $10,"
                     " $11::int, $12::int, $13, $14, $15, $16, $17::int, $18, $19)",
    [Q_LOCK_KEY] = "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))",
    [Q_REFRESH] = "SELECT synchub_refresh_head($1::text)",
    /* Pick, lease and open the attempt in one statement. A RUNNING job stays its key's head (ready). */
    [Q_CLAIM] =
        "WITH pick AS (SELECT rid FROM jobs WHERE ready AND state IN (0, 2) AND run_at <= $1::bigint"
        "   ORDER BY priority DESC, run_at LIMIT 1 FOR UPDATE SKIP LOCKED),"
        " u AS (UPDATE jobs j SET state = 1, attempts = j.attempts + 1, lease_until = $1::bigint + j.lease_ms,"
        "   lease_token = $2::bigint, updated_at = $1::bigint FROM pick WHERE j.rid = pick.rid RETURNING j.*),"
        " a AS (INSERT INTO attempts(job_rid, n, started_at, outcome, worker)"
        "   SELECT rid, attempts, $1::bigint, 'running', $3::text FROM u"
        "   ON CONFLICT (job_rid, n) DO UPDATE SET started_at = excluded.started_at, finished_at = NULL,"
        "   outcome = 'running', worker = excluded.worker, err_class = 0, err_code = NULL, err_message = NULL,"
        "   err_record = NULL, err_hint = NULL, err_retry_safe = NULL, note = NULL)"
        " SELECT " PG_JOB_COLS " FROM u",
    [Q_NEXT_DUE] = "SELECT coalesce(min(run_at), 0) FROM jobs WHERE ready AND state IN (0, 2)",
    [Q_FINISH] = "UPDATE jobs SET state = $3::smallint,"
                 " ready = CASE WHEN $3::int IN (3, 4) THEN false ELSE ready END,"
                 " run_at = $4::bigint, lease_until = NULL, updated_at = $5::bigint,"
                 " finished_at = CASE WHEN $3::int IN (3, 4) THEN $5::bigint END,"
                 " err_class = $6::int, err_code = $7, err_message = $8, err_record = $9, err_hint = $10,"
                 " err_retry_safe = $11::int WHERE id = $1 AND state = 1 AND lease_token = $2::bigint",
    [Q_ATTEMPT_CLOSE] = "UPDATE attempts SET finished_at = $3::bigint, outcome = $4, err_class = $5::int,"
                        " err_code = $6, err_message = $7, err_record = $8, err_hint = $9, err_retry_safe = $10::int,"
                        " note = $11 WHERE job_rid = $1::bigint AND n = $2::int",
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
    [Q_ATTEMPTS] = "SELECT n, started_at, coalesce(finished_at, 0), outcome, worker, err_class, err_code,"
                   " err_message, err_record, err_hint, err_retry_safe, note FROM attempts WHERE job_rid = $1::bigint"
                   " ORDER BY n",
};

/* Versioned migrations: the schema_version table holds the number of entries applied. Append, never edit. The
 * first entry is SQLite's first five in one (a new engine starts at the schema SQLite reached). */
static const char *const migrations[] = {
    /* 1: jobs, attempts, meta, links, effects, audit, and the two functions the SQL above relies on */
    "CREATE TABLE jobs("
    "  rid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  id text COLLATE \"C\" NOT NULL UNIQUE,"
    "  kind text NOT NULL,"
    "  okey text COLLATE \"C\" NOT NULL,"
    "  priority integer NOT NULL DEFAULT 0,"
    "  state smallint NOT NULL,"
    "  ready boolean NOT NULL DEFAULT false,"    /* the head of its ordering key (see store.h) */
    "  attempts integer NOT NULL DEFAULT 0,"
    "  max_attempts integer NOT NULL,"
    "  budget integer NOT NULL,"
    "  lease_ms bigint NOT NULL,"
    "  event_time bigint NOT NULL,"
    "  run_at bigint NOT NULL,"
    "  lease_until bigint,"
    "  lease_token bigint NOT NULL DEFAULT 0,"
    "  created_at bigint NOT NULL,"
    "  updated_at bigint NOT NULL,"
    "  finished_at bigint,"
    "  source text NOT NULL,"
    "  correlation_id text COLLATE \"C\","
    "  meta text,"
    "  payload text NOT NULL,"
    "  err_class integer NOT NULL DEFAULT 0, err_code text, err_message text, err_record text, err_hint text,"
    "  err_retry_safe integer);"
    /* Claims read only claimable heads: the index holds one entry per live key, whatever the number of done rows.
     */
    "CREATE INDEX jobs_claim ON jobs(priority DESC, run_at) WHERE ready AND state IN (0, 2);"
    "CREATE UNIQUE INDEX jobs_head ON jobs(okey) WHERE ready;"
    "CREATE INDEX jobs_key ON jobs(okey, event_time, rid) WHERE state IN (0, 1, 2);"
    "CREATE INDEX jobs_lease ON jobs(lease_until) WHERE state = 1;"
    "CREATE INDEX jobs_finished ON jobs(updated_at) WHERE state IN (3, 5);"   /* prune walks only finished rows */
    "CREATE INDEX jobs_state ON jobs(state, updated_at);"
    "CREATE INDEX jobs_corr ON jobs(correlation_id);"
    "CREATE TABLE attempts("
    "  job_rid bigint NOT NULL, n integer NOT NULL, started_at bigint NOT NULL, finished_at bigint,"
    "  outcome text NOT NULL, worker text, err_class integer NOT NULL DEFAULT 0, err_code text,"
    "  err_message text, err_record text, err_hint text, err_retry_safe integer, note text,"
    "  PRIMARY KEY(job_rid, n));"
    "CREATE INDEX attempts_retry ON attempts(finished_at) WHERE outcome = 'retry';"
    "CREATE TABLE meta(key text COLLATE \"C\" PRIMARY KEY, value text);"
    "CREATE TABLE links("
    "  system text NOT NULL, shop text NOT NULL, type text NOT NULL, external_id text COLLATE \"C\" NOT NULL,"
    "  odoo_model text NOT NULL, odoo_id bigint NOT NULL, version bigint NOT NULL DEFAULT 0, state text,"
    "  extra text, updated_at bigint NOT NULL,"
    "  PRIMARY KEY(system, shop, type, external_id));"
    "CREATE INDEX links_odoo ON links(odoo_model, odoo_id);"
    "CREATE TABLE effects("
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at bigint NOT NULL, job_id text, correlation_id text,"
    "  shop text NOT NULL DEFAULT '', subject text NOT NULL, system text NOT NULL, action text NOT NULL,"
    "  target text, external_id text, detail text);"
    "CREATE INDEX effects_subject ON effects(shop, subject, at);"
    "CREATE INDEX effects_job ON effects(job_id);"
    "CREATE INDEX effects_at ON effects(at);"
    "CREATE TABLE audit("
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at bigint NOT NULL, actor text NOT NULL,"
    "  action text NOT NULL, target text NOT NULL, detail text);"
    "CREATE INDEX audit_at ON audit(at);"
    /* JSON text that may not be JSON (a hand-enqueued payload): NULL instead of failing the whole query. */
    "CREATE FUNCTION synchub_jsonb(t text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$"
    " BEGIN RETURN t::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END $$;"
    /* Re-establish "exactly one ready job per live key" (SQLite's refresh_head) in one round trip; the caller holds
     * the key's advisory lock. Never clears a RUNNING head: a claim that committed meanwhile keeps its key.
     * Returns true when it made a job the head (a worker may have something new to claim). */
    "CREATE FUNCTION synchub_refresh_head(k text) RETURNS boolean LANGUAGE plpgsql AS $$"
    " DECLARE cur bigint; cur_state smallint; best bigint;"
    " BEGIN"
    "  SELECT rid, state INTO cur, cur_state FROM jobs WHERE okey = k AND ready;"
    "  IF cur_state = 1 THEN RETURN false; END IF;"
    "  SELECT rid INTO best FROM jobs WHERE okey = k AND state IN (0, 1, 2) ORDER BY event_time, rid LIMIT 1;"
    "  IF best IS NOT DISTINCT FROM cur THEN RETURN false; END IF;"
    "  IF cur IS NOT NULL THEN"
    "   UPDATE jobs SET ready = false WHERE rid = cur AND state <> 1;"
    "   IF NOT FOUND THEN RETURN false; END IF;"
    "  END IF;"
    "  IF best IS NULL THEN RETURN false; END IF;"
    "  UPDATE jobs SET ready = true WHERE rid = best;"
    "  RETURN true;"
    " END $$;",
    /* 2: enqueue and finish as one round trip each (the ack path and every worker's commit pay per round trip).
     * Both take the key's advisory lock before touching its rows, as lock_keys does; an enqueue batch calls
     * synchub_enqueue in key order, so its locks are still taken in one global order. */
    "CREATE FUNCTION synchub_enqueue(p_id text, p_kind text, p_okey text, p_priority int, p_max int, p_lease bigint,"
    "  p_event bigint, p_now bigint, p_source text, p_corr text, p_meta text, p_payload text)"
    " RETURNS boolean LANGUAGE plpgsql AS $$"
    " DECLARE m jsonb;"
    " BEGIN"
    "  PERFORM pg_advisory_xact_lock(hashtextextended(p_okey, 0));"
    "  INSERT INTO jobs(id, kind, okey, priority, state, ready, attempts, max_attempts, budget, lease_ms, event_time,"
    "   run_at, created_at, updated_at, source, correlation_id, meta, payload)"
    "   VALUES(p_id, p_kind, p_okey, p_priority, 0, false, 0, p_max, p_max, p_lease, p_event, p_now, p_now, p_now,"
    "   p_source, p_corr, p_meta, p_payload) ON CONFLICT (id) DO NOTHING;"
    "  IF NOT FOUND THEN"
    /* A redelivery of a webhook already stored: counted in the stored job's meta (see store_sqlite.c). */
    "   IF p_source = 'shopify' THEN"
    "    SELECT synchub_jsonb(meta) INTO m FROM jobs WHERE id = p_id;"
    "    IF jsonb_typeof(m) = 'object' THEN"
    "     UPDATE jobs SET meta = jsonb_set(jsonb_set(m, '{duplicates}',"
    "      to_jsonb(coalesce((m->>'duplicates')::bigint, 0) + 1)), '{last_duplicate_at}',"
    "      coalesce(synchub_jsonb(p_meta)->'received_at', 'null'::jsonb))::text WHERE id = p_id;"
    "    END IF;"
    "   END IF;"
    "   RETURN false;"
    "  END IF;"
    "  IF synchub_refresh_head(p_okey) THEN PERFORM pg_notify('" PG_CHANNEL "', ''); END IF;"
    "  RETURN true;"
    " END $$;"
    /* The end of an attempt held under p_token: false when the lease was lost (nothing written). A DONE or DEAD
     * job moves its key's head; a RETRY stays the head. The job row keeps no error when DONE. */
    "CREATE FUNCTION synchub_finish(p_id text, p_token bigint, p_to int, p_run_at bigint, p_now bigint,"
    "  p_cls int, p_code text, p_msg text, p_rec text, p_hint text, p_safe int,"
    "  a_cls int, a_code text, a_msg text, a_rec text, a_hint text, a_safe int, p_outcome text, p_note text)"
    " RETURNS boolean LANGUAGE plpgsql AS $$"
    " DECLARE j record;"
    " BEGIN"
    "  SELECT rid, okey, attempts INTO j FROM jobs WHERE id = p_id AND state = 1 AND lease_token = p_token;"
    "  IF NOT FOUND THEN RETURN false; END IF;"
    "  IF p_to IN (3, 4) THEN PERFORM pg_advisory_xact_lock(hashtextextended(j.okey, 0)); END IF;"
    "  UPDATE jobs SET state = p_to, ready = CASE WHEN p_to IN (3, 4) THEN false ELSE ready END, run_at = p_run_at,"
    "   lease_until = NULL, updated_at = p_now, finished_at = CASE WHEN p_to IN (3, 4) THEN p_now END,"
    "   err_class = p_cls, err_code = p_code, err_message = p_msg, err_record = p_rec, err_hint = p_hint,"
    "   err_retry_safe = p_safe"
    "   WHERE rid = j.rid AND state = 1 AND lease_token = p_token;"
    "  IF NOT FOUND THEN RETURN false; END IF;"
    "  UPDATE attempts SET finished_at = p_now, outcome = p_outcome, err_class = a_cls, err_code = a_code,"
    "   err_message = a_msg, err_record = a_rec, err_hint = a_hint, err_retry_safe = a_safe, note = p_note"
    "   WHERE job_rid = j.rid AND n = j.attempts;"
    "  IF p_to IN (3, 4) AND synchub_refresh_head(j.okey) THEN PERFORM pg_notify('" PG_CHANNEL "', ''); END IF;"
    "  RETURN true;"
    " END $$;",
    /* 3: vacuum the queue tables early. Every claim and finish leaves a dead row version (and a dead entry in the
     * claim index); with the default 20 % threshold a table of millions of done rows would let hundreds of
     * thousands of them pile up before autovacuum runs, and the claim index would bloat with them. */
    "ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02,"
    " autovacuum_vacuum_insert_scale_factor = 0.02);"
    "ALTER TABLE attempts SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02);",
    /* 4: the dashboard's activity chart (store_activity) reads the attempts that ended in the last hours: a range
     * of this index instead of every attempt of the retention period (SQLite's migration 6). Partial, so opening
     * an attempt (finished_at NULL) on the claim path does not touch it; only closing one does. */
    "CREATE INDEX attempts_finished ON attempts(finished_at, outcome, err_class) WHERE finished_at IS NOT NULL;",
};

/* ---- parameters -------------------------------------------------------------------------------------------- */

#define PG_MAX_ARGS 24

typedef struct pg_args {
    int n;
    const char *v[PG_MAX_ARGS];
    int len[PG_MAX_ARGS];
    int fmt[PG_MAX_ARGS];
    char num[PG_MAX_ARGS][24];
} pg_args_t;

static void a_str(pg_args_t *a, const char *v)
{
    if (a->n >= PG_MAX_ARGS)
        abort(); /* a statement with more parameters than PG_MAX_ARGS: a bug here, never data */
    a->v[a->n] = v;
    a->len[a->n] = 0;
    a->fmt[a->n] = 0;
    a->n++;
}

/* Text of known length, sent in binary format (the bytes as they are): no NUL terminator needed. */
static void a_bytes(pg_args_t *a, const char *v, size_t len)
{
    if (a->n >= PG_MAX_ARGS)
        abort(); /* see a_str */
    a->v[a->n] = v ? v : "";
    a->len[a->n] = (int)len;
    a->fmt[a->n] = 1;
    a->n++;
}

static void a_int(pg_args_t *a, int64_t x)
{
    snprintf(a->num[a->n], sizeof(a->num[a->n]), "%lld", (long long)x);
    a_str(a, a->num[a->n]);
}

/* An err_t as err_class, code, message, record, hint, retry_safe. */
static void a_err(pg_args_t *a, const err_t *e)
{
    if (!e || e->cls == ERR_NONE) {
        a_int(a, 0);
        for (int i = 0; i < 5; i++)
            a_str(a, NULL);
        return;
    }
    a_int(a, (int)e->cls);
    a_str(a, e->code);
    a_str(a, e->message);
    a_str(a, e->record[0] ? e->record : NULL);
    a_str(a, e->hint[0] ? e->hint : NULL);
    a_int(a, e->retry_safe);
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
static int pg_fail(pg_t *s, const PGresult *r, err_t *err, const char *what)
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
static char *redact(const char *url)
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
static PGconn *dial(pg_db_t *db, int64_t timeout_ms, err_t *err)
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
 * commit (a crash of the server may lose their last commits, never corrupt them). */
static int session_setup(pg_t *s, err_t *err)
{
    pg_args_t a = {0};
    a_int(&a, s->busy_ms);
    a_str(&a, s->durable ? "on" : "off");
    PGresult *r = PQexecParams(s->conn,
                               "SELECT set_config('lock_timeout', $1 || 'ms', false),"
                               " set_config('synchronous_commit', $2, false)",
                               a.n, NULL, a.v, a.len, a.fmt, 0);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : pg_fail(s, r, err, "session setup");
    PQclear(r);
    return rc;
}

/* Make sure the connection is up before a call: redial a broken one, at most once per backoff step. */
static int ensure(pg_t *s, err_t *err)
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
    PGconn *c = dial(s->db, s->busy_ms, err);
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
    pg_fail(s, r, err, what);
    PQclear(r);
    return NULL;
}

/* Run a prepared statement. The result (caller PQclear) or NULL with err. */
static PGresult *run(pg_t *s, int which, const pg_args_t *a, err_t *err, const char *what)
{
    if (!s->conn && ensure(s, err) < 0)
        return NULL;
    char name[8];
    snprintf(name, sizeof(name), "q%d", which);
    if (!s->prepared[which]) {
        PGresult *p = PQprepare(s->conn, name, sql_text[which], 0, NULL);
        if (PQresultStatus(p) != PGRES_COMMAND_OK) {
            pg_fail(s, p, err, "prepare");
            PQclear(p);
            return NULL;
        }
        PQclear(p);
        s->prepared[which] = true;
    }
    PGresult *r = PQexecPrepared(s->conn, name, a ? a->n : 0, a ? a->v : NULL, a ? a->len : NULL,
                                 a ? a->fmt : NULL, 0);
    return checked(s, r, err, what);
}

/* Run an ad-hoc statement (operator and trace queries, run rarely). */
static PGresult *run_sql(pg_t *s, const char *sql, const pg_args_t *a, err_t *err, const char *what)
{
    if (!s->conn && ensure(s, err) < 0)
        return NULL;
    PGresult *r = PQexecParams(s->conn, sql, a ? a->n : 0, NULL, a ? a->v : NULL, a ? a->len : NULL,
                               a ? a->fmt : NULL, 0);
    return checked(s, r, err, what);
}

/* Run and discard the result; *changed (if given) gets the affected row count. 0 or -1. */
static int run_cmd(pg_t *s, int which, const pg_args_t *a, int64_t *changed, err_t *err, const char *what)
{
    PGresult *r = run(s, which, a, err, what);
    if (!r)
        return -1;
    if (changed)
        *changed = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

static int exec_plain(pg_t *s, const char *sql, err_t *err)
{
    PGresult *r = run_sql(s, sql, NULL, err, sql);
    PQclear(r);
    return r ? 0 : -1;
}

static int begin(pg_t *s, err_t *err)
{
    if (ensure(s, err) < 0 || exec_plain(s, "BEGIN", err) < 0)
        return -1;
    s->in_tx = true;
    return 0;
}

/* A COMMIT that fails (or whose answer is lost with the connection) may or may not have happened: callers treat it
 * as not done, which every caller tolerates (the ack path answers 503 and the sender retries into the dedupe; a
 * worker's lost result re-runs an idempotent job). */
static int commit(pg_t *s, err_t *err)
{
    s->in_tx = false;
    return exec_plain(s, "COMMIT", err);
}

static void rollback(pg_t *s)
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

static const char *cell(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static char *cell_dup(const PGresult *r, int row, int col)
{
    const char *v = cell(r, row, col);
    return v ? strdup(v) : NULL;
}

static void cell_copy(const PGresult *r, int row, int col, char *dst, size_t n)
{
    const char *v = cell(r, row, col);
    snprintf(dst, n, "%s", v ? v : "");
}

static int64_t cell_int(const PGresult *r, int row, int col)
{
    const char *v = cell(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

static void read_err(const PGresult *r, int row, int first, err_t *e)
{
    err_clear(e);
    e->cls = (err_class_t)cell_int(r, row, first);
    if (e->cls == ERR_NONE)
        return;
    cell_copy(r, row, first + 1, e->code, sizeof(e->code));
    cell_copy(r, row, first + 2, e->message, sizeof(e->message));
    cell_copy(r, row, first + 3, e->record, sizeof(e->record));
    cell_copy(r, row, first + 4, e->hint, sizeof(e->hint));
    e->retry_safe = cell_int(r, row, first + 5) != 0;
}

/* A row of PG_JOB_COLS; NULL on OOM. */
static job_t *read_job(const PGresult *r, int row)
{
    job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->rid = cell_int(r, row, 0);
    cell_copy(r, row, 1, j->id, sizeof(j->id));
    j->kind = cell_dup(r, row, 2);
    j->ordering_key = cell_dup(r, row, 3);
    j->priority = (int)cell_int(r, row, 4);
    j->state = (job_state_t)cell_int(r, row, 5);
    j->attempts = (int)cell_int(r, row, 6);
    j->max_attempts = (int)cell_int(r, row, 7);
    j->lease_ms = cell_int(r, row, 8);
    j->event_time = cell_int(r, row, 9);
    j->run_at = cell_int(r, row, 10);
    j->lease_until = cell_int(r, row, 11);
    j->lease_token = cell_int(r, row, 12);
    j->created_at = cell_int(r, row, 13);
    j->updated_at = cell_int(r, row, 14);
    j->finished_at = cell_int(r, row, 15);
    j->source = cell_dup(r, row, 16);
    j->correlation_id = cell_dup(r, row, 17);
    j->meta = cell_dup(r, row, 18);
    j->payload = cell_dup(r, row, 19);
    read_err(r, row, 20, &j->last_error);
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
        if (!(v[i] = read_job(r, i))) {
            job_list_free(v, (size_t)i);
            return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        }
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

/* Run sql and read every row (PG_JOB_COLS) as jobs into *out (job_list_free). 0, or -1 with nothing in *out. */
static int select_jobs(pg_t *s, const char *sql, const pg_args_t *a, job_t ***out, size_t *n, err_t *err,
                       const char *what)
{
    *out = NULL;
    *n = 0;
    PGresult *r = run_sql(s, sql, a, err, what);
    if (!r)
        return -1;
    int rc = read_jobs(r, out, n, err);
    PQclear(r);
    return rc;
}

/* calloc'd room for r's rows of size bytes each (NULL when r has none); on OOM, r is cleared and *failed set. */
static void *alloc_rows(PGresult *r, size_t size, bool *failed, err_t *err)
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
static int take_first_text(PGresult *r, char *out, size_t n)
{
    int found = PQntuples(r) > 0;
    if (found)
        cell_copy(r, 0, 0, out, n);
    PQclear(r);
    return found;
}

/* The first row of r as a job into *out; r is cleared. 1, or -1 (OOM). */
static int take_first_job(PGresult *r, job_t **out, err_t *err)
{
    job_t *j = read_job(r, 0);
    PQclear(r);
    if (!j)
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory reading a job");
    *out = j;
    return 1;
}

/* ---- database ---------------------------------------------------------------------------------------------- */

static int migrate(pg_t *s, err_t *err)
{
    /* Nodes starting together migrate one at a time: the session lock is held across the version check and the
     * steps, and released before returning. */
    pg_args_t lk = {0};
    a_int(&lk, PG_MIGRATE_LOCK);
    PGresult *l = run_sql(s, "SELECT pg_advisory_lock($1::bigint)", &lk, err, "lock the schema");
    if (!l)
        return -1;
    PQclear(l);
    int rc = -1;
    int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
    PGresult *r = NULL;
    if (exec_plain(s, "CREATE TABLE IF NOT EXISTS schema_version(version integer NOT NULL)", err) < 0)
        goto out;
    if (!(r = run_sql(s, "SELECT coalesce(max(version), 0) FROM schema_version", NULL, err, "read schema version")))
        goto out;
    int version = (int)cell_int(r, 0, 0);
    PQclear(r);
    if (version > latest) {
        err_set(err, ERR_CONFIGURATION, "store.version",
                "store %s has schema version %d, newer than this synchub understands (%d)", s->db->label, version,
                latest);
        goto out;
    }
    for (int v = version; v < latest; v++) {
        pg_args_t a = {0};
        a_int(&a, v + 1);
        if (begin(s, err) < 0)
            goto out;
        /* A multi-statement string needs the simple protocol (no parameters); the migrations carry no data. */
        PGresult *m = PQexec(s->conn, migrations[v]);
        bool ok = PQresultStatus(m) == PGRES_COMMAND_OK;
        if (!ok)
            pg_fail(s, m, err, "migrate the schema");
        PQclear(m);
        if (!ok || !(r = run_sql(s, "INSERT INTO schema_version(version) VALUES($1::int)", &a, err, "migrate"))) {
            rollback(s);
            goto out;
        }
        PQclear(r);
        if (commit(s, err) < 0)
            goto out;
    }
    rc = 0;
out:
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK) {
        PGresult *u = PQexecParams(s->conn, "SELECT pg_advisory_unlock($1::bigint)", lk.n, NULL, lk.v, NULL, NULL, 0);
        PQclear(u);
    }
    return rc;
}

static void pg_db_close(store_db_t *h)
{
    pg_db_t *db = PGDB(h);
    pthread_mutex_lock(&db->wake_mu);
    bool joining = db->listening;
    db->stopping = true;
    pthread_mutex_unlock(&db->wake_mu);
    if (joining)
        pthread_join(db->listener, NULL);
    for (int i = 0; i < db->nidle; i++) {
        PQfinish(db->idle[i]->conn);
        free(db->idle[i]);
    }
    pthread_mutex_destroy(&db->pool_mu);
    pthread_mutex_destroy(&db->wake_mu);
    pthread_cond_destroy(&db->wake_cv);
    free(db->url);
    if (db->password) {
        explicit_bzero(db->password, strlen(db->password));
        free(db->password);
    }
    free(db->label);
    free(db);
}

static store_t *pg_connect(store_db_t *h, bool durable, int64_t busy_timeout_ms, err_t *err);
static void pg_disconnect(store_t *h);

store_db_t *store__pg_open(const char *url, const char *password, int64_t busy_timeout_ms, err_t *err)
{
    pg_db_t *db = calloc(1, sizeof(*db));
    if (!db) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        return NULL;
    }
    db->eng = &store__pg_engine;
    pthread_mutex_init(&db->pool_mu, NULL);
    pthread_mutex_init(&db->wake_mu, NULL);
    pthread_cond_init(&db->wake_cv, NULL);
    db->url = strdup(url);
    db->password = password && *password ? strdup(password) : NULL;
    db->label = redact(url);
    db->busy_timeout_ms = busy_timeout_ms > 0 ? busy_timeout_ms : 5000;
    if (!db->url || !db->label || (password && *password && !db->password)) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        pg_db_close((store_db_t *)db);
        return NULL;
    }
    store_t *s = pg_connect((store_db_t *)db, true, 0, err);
    if (!s) {
        pg_db_close((store_db_t *)db);
        return NULL;
    }
    int rc = migrate(PG(s), err);
    pg_disconnect(s);
    if (rc < 0) {
        pg_db_close((store_db_t *)db);
        return NULL;
    }
    return (store_db_t *)db;
}

/* No size cap on PostgreSQL: the database's size is the DBA's (a full disk still answers 503: store.full). */
static void pg_db_set_max_size(store_db_t *h, int64_t bytes)
{
    (void)h;
    (void)bytes;
}

static void wake_local(pg_db_t *db, bool all)
{
    pthread_mutex_lock(&db->wake_mu);
    db->wake_gen++;
    if (all)
        pthread_cond_broadcast(&db->wake_cv);
    else
        pthread_cond_signal(&db->wake_cv);
    pthread_mutex_unlock(&db->wake_mu);
}

static void pg_db_notify(store_db_t *h, int njobs)
{
    wake_local(PGDB(h), njobs != 1);
}

/* The listener: LISTEN on its own connection and turn every notification into a local wake-up of all waiters
 * (another node's commit may have made several jobs claimable). While the connection is down it redials with
 * backoff; after a reconnect it wakes everyone once, since notifications sent meanwhile are lost. */
static void *listener_main(void *arg)
{
    pg_db_t *db = arg;
    PGconn *c = NULL;
    int64_t backoff = 100;
    for (;;) {
        pthread_mutex_lock(&db->wake_mu);
        bool stop = db->stopping;
        pthread_mutex_unlock(&db->wake_mu);
        if (stop)
            break;
        if (!c || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            err_t err;
            c = dial(db, PG_DIAL_BACKOFF_MAX_MS, &err);
            PGresult *r = c ? PQexec(c, "LISTEN " PG_CHANNEL) : NULL;
            bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (!ok) {
                PQfinish(c);
                c = NULL;
                for (int64_t slept = 0; slept < backoff; slept += 100) {
                    struct timespec ts = {0, 100000000L};
                    nanosleep(&ts, NULL);
                }
                backoff = backoff * 2 > PG_DIAL_BACKOFF_MAX_MS ? PG_DIAL_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            backoff = 100;
            wake_local(db, true);
        }
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        if (!PQconsumeInput(c))
            continue; /* broken: redialled above */
        bool got = false;
        PGnotify *n;
        while ((n = PQnotifies(c))) {
            got = true;
            PQfreemem(n);
        }
        if (got)
            wake_local(db, true);
    }
    PQfinish(c);
    return NULL;
}

static void pg_db_wait(store_db_t *h, uint64_t *seen, int64_t timeout_ms)
{
    pg_db_t *db = PGDB(h);
    struct timespec ts;
    clock_deadline(timeout_ms, &ts);
    pthread_mutex_lock(&db->wake_mu);
    /* Started by the first waiter: only processes that work jobs pay for a listening connection. */
    if (!db->listening && !db->stopping && pthread_create(&db->listener, NULL, listener_main, db) == 0)
        db->listening = true;
    while (db->wake_gen == *seen) {
        if (pthread_cond_timedwait(&db->wake_cv, &db->wake_mu, &ts) == ETIMEDOUT)
            break;
    }
    *seen = db->wake_gen;
    pthread_mutex_unlock(&db->wake_mu);
}

static const char *pg_db_path(const store_db_t *h)
{
    return ((const pg_db_t *)h)->label;
}

/* The pool: store_disconnect keeps a healthy connection (with its prepared statements and session settings) for
 * the next store_connect with the same settings, so short-lived store_t's (/readyz, the housekeeping of a CLI
 * command) do not pay a login each. A pooled connection is used by one store_t at a time, like any other. Not
 * pooled: a connection that broke, sits in a transaction, or holds a leadership (its session lock must go with
 * it, so that another node can take over). */
static pg_t *pool_take(pg_db_t *db, bool durable, int64_t busy_ms)
{
    pg_t *s = NULL;
    pthread_mutex_lock(&db->pool_mu);
    for (int i = db->nidle - 1; i >= 0 && !s; i--) {
        if (db->idle[i]->durable == durable && db->idle[i]->busy_ms == busy_ms) {
            s = db->idle[i];
            db->idle[i] = db->idle[--db->nidle];
        }
    }
    pthread_mutex_unlock(&db->pool_mu);
    return s;
}

static bool pool_give(pg_t *s)
{
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK || PQtransactionStatus(s->conn) != PQTRANS_IDLE || s->leader)
        return false;
    pg_db_t *db = s->db;
    pthread_mutex_lock(&db->pool_mu);
    bool kept = db->nidle < PG_POOL_IDLE;
    if (kept)
        db->idle[db->nidle++] = s;
    pthread_mutex_unlock(&db->pool_mu);
    return kept;
}

static store_t *pg_connect(store_db_t *h, bool durable, int64_t busy_timeout_ms, err_t *err)
{
    pg_db_t *db = PGDB(h);
    pg_t *pooled = pool_take(db, durable, busy_timeout_ms > 0 ? busy_timeout_ms : db->busy_timeout_ms);
    if (pooled)
        return (store_t *)pooled;
    pg_t *s = calloc(1, sizeof(*s));
    if (!s) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        return NULL;
    }
    s->eng = &store__pg_engine;
    s->db = db;
    s->durable = durable;
    s->busy_ms = busy_timeout_ms > 0 ? busy_timeout_ms : db->busy_timeout_ms;
    s->rng = crypto_random_u64();
    if (ensure(s, err) < 0) {
        if (err && strcmp(err->code, "store.open") == 0)
            err->cls = ERR_CONFIGURATION; /* at start-up a refused login is the operator's to fix */
        free(s);
        return NULL;
    }
    return (store_t *)s;
}

static void pg_disconnect(store_t *h)
{
    pg_t *s = PG(h);
    rollback(s);
    if (pool_give(s))
        return;
    PQfinish(s->conn);
    free(s);
}

/* The server checkpoints by itself. */
static int pg_checkpoint(store_t *h, err_t *err)
{
    (void)h;
    (void)err;
    return 0;
}

/* ---- ordering keys ----------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Take the advisory locks of n ordering keys in byte order (duplicates once): every transaction that changes heads
 * takes its keys' locks first and in this order, so two nodes never wait on each other in a cycle. */
static int lock_keys(pg_t *s, const char **keys, size_t n, err_t *err)
{
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(keys[i], keys[i - 1]) == 0)
            continue;
        pg_args_t a = {0};
        a_str(&a, keys[i]);
        if (run_cmd(s, Q_LOCK_KEY, &a, NULL, err, "lock ordering key") < 0)
            return -1;
    }
    return 0;
}

static int lock_key(pg_t *s, const char *key, err_t *err)
{
    return lock_keys(s, &key, 1, err);
}

/* 1 when a job became its key's head, 0 otherwise, -1 on error. */
static int refresh_head(pg_t *s, const char *okey, err_t *err)
{
    pg_args_t a = {0};
    a_str(&a, okey);
    PGresult *r = run(s, Q_REFRESH, &a, err, "refresh key head");
    if (!r)
        return -1;
    int made = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return made;
}

static int notify_nodes(pg_t *s, err_t *err)
{
    return run_cmd(s, Q_NOTIFY, NULL, NULL, err, "notify");
}

/* Inside a transaction: the jobs of sql (PG_JOB_COLS rows) into *found, then their keys locked (lock_keys). On -1
 * *found is freed. */
static int select_and_lock(pg_t *s, const char *sql, const pg_args_t *a, job_t ***found, size_t *nfound, err_t *err,
                           const char *what)
{
    int rc = select_jobs(s, sql, a, found, nfound, err, what);
    if (rc < 0)
        return -1;
    const char **keys = rc == 0 && *nfound ? malloc(*nfound * sizeof(*keys)) : NULL;
    if (rc == 0 && *nfound && !keys)
        rc = err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    for (size_t i = 0; keys && i < *nfound; i++)
        keys[i] = (*found)[i]->ordering_key;
    if (keys && lock_keys(s, keys, *nfound, err) < 0)
        rc = -1;
    free(keys);
    if (rc < 0) {
        job_list_free(*found, *nfound);
        *found = NULL;
        *nfound = 0;
    }
    return rc;
}

/* ---- enqueue ----------------------------------------------------------------------------------------------- */

static int cmp_job_key(const void *a, const void *b, void *jobs)
{
    const job_new_t *j = jobs;
    return strcmp(j[*(const size_t *)a].ordering_key, j[*(const size_t *)b].ordering_key);
}

static int pg_enqueue(store_t *h, const job_new_t *jobs, size_t n, bool *dup, err_t *err)
{
    pg_t *s = PG(h);
    if (n == 0)
        return 0;
    /* In key order, so that the key locks synchub_enqueue takes follow the global order (lock_keys). */
    size_t *order = malloc(n * sizeof(*order));
    if (!order)
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof(*order), cmp_job_key, (void *)jobs);
    int64_t now = clock_now_ms();
    if (begin(s, err) < 0)
        goto fail;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        const job_new_t *j = &jobs[i];
        char own_corr[JOB_ID_LEN + 80];
        if (!j->correlation_id || !*j->correlation_id)
            snprintf(own_corr, sizeof(own_corr), "%.40s:%s", j->source ? j->source : "job", j->id);
        pg_args_t a = {0};
        a_str(&a, j->id);
        a_str(&a, j->kind);
        a_str(&a, j->ordering_key);
        a_int(&a, j->priority);
        a_int(&a, j->max_attempts);
        a_int(&a, j->lease_ms);
        a_int(&a, j->event_time_ms);
        a_int(&a, now);
        a_str(&a, j->source);
        a_str(&a, j->correlation_id && *j->correlation_id ? j->correlation_id : own_corr);
        a_str(&a, j->meta);
        a_bytes(&a, j->payload, j->payload_len);
        PGresult *r = run(s, Q_ENQUEUE, &a, err, "insert job");
        if (!r)
            goto fail;
        if (dup)
            dup[i] = strcmp(PQgetvalue(r, 0, 0), "t") != 0;
        PQclear(r);
    }
    free(order);
    if (commit(s, err) < 0)
        return -1;
    wake_local(s->db, n != 1);
    return 0;
fail:
    free(order);
    rollback(s);
    return -1;
}

/* ---- claim / finish / lease -------------------------------------------------------------------------------- */

/* Pick and lease the next head (inside or outside a transaction). 1 claimed, 0 nothing due, -1 error. */
static int claim_one(pg_t *s, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err)
{
    s->rng = s->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    pg_args_t a = {0};
    a_int(&a, now);
    a_int(&a, (int64_t)(s->rng >> 2) + 1);
    a_str(&a, worker ? worker : "");
    PGresult *r = run(s, Q_CLAIM, &a, err, "claim job");
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        if (next_due_ms) {
            if (!(r = run(s, Q_NEXT_DUE, NULL, err, "next due")))
                return -1;
            *next_due_ms = cell_int(r, 0, 0);
            PQclear(r);
        }
        return 0;
    }
    return take_first_job(r, out, err);
}

static int pg_claim(store_t *h, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    if (next_due_ms)
        *next_due_ms = 0;
    if (ensure(s, err) < 0)
        return -1;
    /* One statement, its own transaction: the claim commits (or not) as a whole. */
    return claim_one(s, worker, now, out, next_due_ms, err);
}

static const char *outcome_name(job_state_t to)
{
    return to == JOB_DONE ? "done" : to == JOB_DEAD ? "dead" : "retry";
}

static int close_attempt(pg_t *s, int64_t rid, int n, int64_t now, const char *outcome, const err_t *why,
                         const char *note, err_t *err)
{
    pg_args_t a = {0};
    a_int(&a, rid);
    a_int(&a, n);
    a_int(&a, now);
    a_str(&a, outcome);
    a_err(&a, why);
    a_str(&a, note);
    return run_cmd(s, Q_ATTEMPT_CLOSE, &a, NULL, err, "close attempt");
}

/* The finish UPDATE for a job held under token. *changed = 1 when it still held the lease. */
static int finish_row(pg_t *s, const char *id, int64_t token, job_state_t to, int64_t run_at, int64_t now,
                      const err_t *why, int64_t *changed, err_t *err)
{
    pg_args_t a = {0};
    a_str(&a, id);
    a_int(&a, token);
    a_int(&a, (int)to);
    a_int(&a, run_at);
    a_int(&a, now);
    a_err(&a, why);
    return run_cmd(s, Q_FINISH, &a, changed, err, "finish job");
}

static int pg_finish_claim(store_t *h, const job_t *job, job_state_t to, int64_t run_at, const err_t *why,
                           const char *note, int64_t now, const char *worker, job_t **next, int64_t *next_due_ms,
                           err_t *err)
{
    pg_t *s = PG(h);
    if (next)
        *next = NULL;
    if (next_due_ms)
        *next_due_ms = 0;
    pg_args_t a = {0};
    a_str(&a, job->id);
    a_int(&a, job->lease_token);
    a_int(&a, (int)to);
    a_int(&a, to == JOB_RETRY ? run_at : job->run_at);
    a_int(&a, now);
    a_err(&a, to == JOB_DONE ? NULL : why);
    a_err(&a, why);
    a_str(&a, outcome_name(to));
    a_str(&a, note);
    /* Without a next claim, the finish is one statement in its own transaction. */
    if (next ? begin(s, err) < 0 : ensure(s, err) < 0)
        return -1;
    PGresult *r = run(s, Q_FINISH_ONE, &a, err, "finish job");
    if (!r)
        goto fail;
    /* false: the lease was lost (the reaper or an operator moved the job); our result is void */
    int result = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 0 : 1;
    PQclear(r);
    if (next) {
        if (claim_one(s, worker, now, next, next_due_ms, err) < 0)
            goto fail;
        if (commit(s, err) < 0) {
            job_free(*next);
            *next = NULL;
            return -1;
        }
    }
    if (result == 0 && to != JOB_RETRY)
        wake_local(s->db, false); /* the next job of this key may be claimable now */
    return result;
fail:
    rollback(s);
    return -1;
}

static int pg_renew_lease(store_t *h, const char *id, int64_t token, int64_t until, err_t *err)
{
    pg_t *s = PG(h);
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_str(&a, id);
    a_int(&a, token);
    a_int(&a, until);
    int64_t changed = 0;
    if (run_cmd(s, Q_RENEW, &a, &changed, err, "renew lease") < 0)
        return -1;
    return changed ? 0 : 1;
}

static int pg_reap_expired(store_t *h, int64_t now, int *n, err_t *err)
{
    pg_t *s = PG(h);
    *n = 0;
    job_t **found = NULL;
    size_t nfound = 0;
    if (begin(s, err) < 0)
        return -1;
    /* One reaper at a time across the nodes of this schema; the others find nothing this round. */
    PGresult *r = run_sql(s, "SELECT pg_try_advisory_xact_lock(hashtextextended('reap:' || current_schema(), 0))",
                          NULL, err, "reaper lock");
    if (!r)
        goto fail;
    bool mine = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!mine) {
        rollback(s);
        return 0;
    }
    pg_args_t a = {0};
    a_int(&a, now);
    if (select_and_lock(s, "SELECT " PG_JOB_COLS " FROM jobs WHERE state = 1 AND lease_until < $1::bigint LIMIT 100",
                        &a, &found, &nfound, err, "find expired leases") < 0)
        goto fail;
    int heads = 0;
    for (size_t i = 0; i < nfound; i++) {
        job_t *j = found[i];
        err_t why;
        bool dead = store__lost_error(j, &why);
        int64_t changed = 0;
        if (finish_row(s, j->id, j->lease_token, dead ? JOB_DEAD : JOB_RETRY, now, now, &why, &changed, err) < 0)
            goto fail;
        if (!changed)
            continue; /* its worker finished (or renewed) after all, between our read and our key lock */
        if (close_attempt(s, j->rid, j->attempts, now, "lost", &why, NULL, err) < 0)
            goto fail;
        int made = dead ? refresh_head(s, j->ordering_key, err) : 0;
        if (made < 0)
            goto fail;
        heads += made || !dead;
        (*n)++;
    }
    if (heads && notify_nodes(s, err) < 0)
        goto fail;
    job_list_free(found, nfound);
    if (commit(s, err) < 0) {
        *n = 0;
        return -1;
    }
    if (*n)
        wake_local(s->db, true);
    return 0;
fail:
    job_list_free(found, nfound);
    *n = 0;
    rollback(s);
    return -1;
}

/* Delete up to limit rows older than older_than with sql ($1 = older_than, $2 = limit): one statement, one short
 * transaction per batch, so autovacuum reclaims the rows of earlier batches while later ones run. */
static int delete_batch(pg_t *s, const char *sql, int64_t older_than, int limit, int *n, err_t *err, const char *what)
{
    *n = 0;
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_int(&a, older_than);
    a_int(&a, limit > 0 ? limit : 1000);
    PGresult *r = run_sql(s, sql, &a, err, what);
    if (!r)
        return -1;
    *n = (int)strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

static int pg_prune(store_t *h, int64_t older_than, int limit, int *n, err_t *err)
{
    return delete_batch(PG(h),
                        "WITH p AS (SELECT rid FROM jobs WHERE state IN (3, 5) AND updated_at < $1::bigint"
                        "   LIMIT $2::int),"
                        " a AS (DELETE FROM attempts WHERE job_rid IN (SELECT rid FROM p))"
                        " DELETE FROM jobs WHERE rid IN (SELECT rid FROM p)",
                        older_than, limit, n, err, "prune jobs");
}

/* ---- operator ---------------------------------------------------------------------------------------------- */

/* Find one job by full id or a unique prefix. 1 found, 0 not found, -1 error. */
static int find_job(pg_t *s, const char *id, job_t **out, err_t *err)
{
    *out = NULL;
    size_t len = strlen(id);
    if (store__check_job_id(id, err) < 0)
        return -1;
    pg_args_t a = {0};
    char hi[JOB_ID_LEN + 2];
    a_str(&a, id);
    if (len < JOB_ID_LEN) {
        snprintf(hi, sizeof(hi), "%sg", id); /* 'g' sorts after every hex digit (the column's collation is C) */
        a_str(&a, hi);
    }
    PGresult *r = run(s, len == JOB_ID_LEN ? Q_BY_ID : Q_BY_PREFIX, &a, err, "find job");
    if (!r)
        return -1;
    int rows = PQntuples(r);
    if (rows > 1) {
        PQclear(r);
        return err_set(err, ERR_DATA, "job.ambiguous", "job id prefix '%s' matches more than one job; give more digits",
                       id);
    }
    if (rows == 0) {
        PQclear(r);
        return 0;
    }
    return take_first_job(r, out, err);
}

static int pg_job_get(store_t *h, const char *id, job_t **out, err_t *err)
{
    if (ensure(PG(h), err) < 0)
        return -1;
    return find_job(PG(h), id, out, err);
}

/* Move a job (its key locked by the caller) from state `from` to QUEUED (operator retry/replay) or DISCARDED,
 * then fix its key's head. The state guard matters because a claim takes no key lock: a QUEUED job read under the
 * key lock may be RUNNING by the time of the UPDATE, and must then stay untouched. *changed = whether it moved.
 * 1 when a job became a head, 0 otherwise, -1 on error. */
static int set_state(pg_t *s, const job_t *j, job_state_t from, job_state_t to, int64_t now, bool *changed,
                     err_t *err)
{
    pg_args_t a = {0};
    a_int(&a, j->rid);
    a_int(&a, (int)to);
    a_int(&a, now);
    a_int(&a, (int)from);
    PGresult *r = run_sql(s,
                          "UPDATE jobs SET state = $2::smallint, ready = false, run_at = $3::bigint,"
                          " updated_at = $3::bigint,"
                          " max_attempts = CASE WHEN $2::int = 0 THEN attempts + budget ELSE max_attempts END,"
                          " finished_at = CASE WHEN $2::int = 5 THEN $3::bigint END"
                          " WHERE rid = $1::bigint AND state = $4::smallint",
                          &a, err, "change job state");
    if (!r)
        return -1;
    *changed = strtoll(PQcmdTuples(r), NULL, 10) > 0;
    PQclear(r);
    return *changed ? refresh_head(s, j->ordering_key, err) : 0;
}

/* Append an audit row inside the caller's transaction (at 0 = now). 0 or -1. */
static int audit_insert(pg_t *s, const char *actor, const char *action, const char *target, const char *detail,
                        int64_t at, err_t *err)
{
    pg_args_t a = {0};
    a_int(&a, at ? at : clock_now_ms());
    a_str(&a, actor);
    a_str(&a, action);
    a_str(&a, target ? target : "");
    a_str(&a, detail);
    PGresult *r = run_sql(s, "INSERT INTO audit(at, actor, action, target, detail) VALUES($1::bigint, $2, $3, $4, $5)",
                          &a, err, "insert audit row");
    PQclear(r);
    return r ? 0 : -1;
}

/* store_operate's transition inside the caller's transaction: find the job, lock its key, read it again (its state
 * may have changed before the lock: a worker finished it), check and move it. Nothing committed here. 0 or -1. */
static int operate_locked(pg_t *s, const char *id, store_op_t op, int64_t now, char full[JOB_ID_LEN + 1], err_t *err)
{
    job_t *j = NULL;
    int rc = find_job(s, id, &j, err);
    if (rc == 0)
        err_set(err, ERR_DATA, "job.not_found", "no job with id %s", id);
    if (rc <= 0)
        return -1;
    memcpy(full, j->id, JOB_ID_LEN + 1);
    rc = lock_key(s, j->ordering_key, err);
    job_free(j);
    j = NULL;
    if (rc < 0)
        return -1;
    if ((rc = find_job(s, full, &j, err)) <= 0) {
        if (rc == 0)
            err_set(err, ERR_DATA, "job.not_found", "no job with id %s", id);
        return -1;
    }
    bool changed = false;
    rc = store__check_operation(j, op, err);
    int made = rc < 0 ? -1 : set_state(s, j, j->state, op == STORE_OP_DISCARD ? JOB_DISCARDED : JOB_QUEUED, now,
                                       &changed, err);
    if (made >= 0 && !changed) {
        /* only a claim moves a job without the key lock: it is RUNNING now */
        err_set(err, ERR_DATA, "job.state", "job %s is running: it was claimed meanwhile", full);
        err_hint(err, "wait until the running attempt ends");
        made = -1;
    }
    job_free(j);
    if (made < 0 || (made && notify_nodes(s, err) < 0))
        return -1;
    return 0;
}

static int pg_operate_as(store_t *h, const char *actor, const char *id, store_op_t op, int64_t now,
                         char out_id[JOB_ID_LEN + 1], err_t *err)
{
    pg_t *s = PG(h);
    char full[JOB_ID_LEN + 1];
    if (begin(s, err) < 0)
        return -1;
    if (operate_locked(s, id, op, now, full, err) < 0 ||
        (actor && audit_insert(s, actor, store__op_verb(op), full, NULL, now, err) < 0)) {
        rollback(s);
        return -1;
    }
    if (commit(s, err) < 0)
        return -1;
    wake_local(s->db, false);
    if (out_id)
        memcpy(out_id, full, sizeof(full));
    return 0;
}

static int pg_operate(store_t *h, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1],
                      err_t *err)
{
    return pg_operate_as(h, NULL, id, op, now, out_id, err);
}

static int pg_bulk_as(store_t *h, const char *actor, store_op_t op, err_class_t cls, const char *code, int64_t now,
                      int *n, err_t *err)
{
    pg_t *s = PG(h);
    *n = 0;
    if (op == STORE_OP_REPLAY)
        return err_set(err, ERR_DATA, "job.bulk_replay", "replay applies to done jobs one at a time, not by cause");
    job_t **found = NULL;
    size_t nfound = 0, moved = 0;
    char *detail = NULL;
    int heads = 0;
    if (begin(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_int(&a, (int)cls);
    a_str(&a, code);
    /* The keys are locked in byte order after the read (select_and_lock); a job another operator moved meanwhile
     * is no longer DEAD and set_state's guard leaves it alone (DEAD jobs leave DEAD only under their key lock). */
    if (select_and_lock(s,
                        "SELECT " PG_JOB_COLS " FROM jobs WHERE state = 4 AND ($1::int = 0 OR err_class = $1::int)"
                        " AND ($2::text IS NULL OR coalesce(err_code, '') = $2::text) ORDER BY rid",
                        &a, &found, &nfound, err, "list dead jobs") < 0)
        goto fail;
    for (size_t i = 0; i < nfound; i++) {
        bool changed = false;
        int made = set_state(s, found[i], JOB_DEAD, op == STORE_OP_RETRY ? JOB_QUEUED : JOB_DISCARDED, now,
                             &changed, err);
        if (made < 0)
            goto fail;
        heads += made;
        if (changed) { /* keep the moved ones in front: they are the count and the audit row's ids */
            job_t *t = found[moved];
            found[moved++] = found[i];
            found[i] = t;
        }
    }
    if (heads && notify_nodes(s, err) < 0)
        goto fail;
    if (actor) {
        char target[128];
        store__bulk_target(target, sizeof(target), cls, code);
        if (!(detail = store__bulk_detail(found, moved, cls, code))) {
            err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
            goto fail;
        }
        if (audit_insert(s, actor, op == STORE_OP_RETRY ? "bulk-retry" : "bulk-discard", target, detail, now, err) < 0)
            goto fail;
    }
    free(detail);
    job_list_free(found, nfound);
    if (commit(s, err) < 0)
        return -1;
    *n = (int)moved;
    if (heads)
        wake_local(s->db, true);
    return 0;
fail:
    free(detail);
    job_list_free(found, nfound);
    rollback(s);
    return -1;
}

/* Every DEAD job of a class: the bulk path without a code filter and without an audit row. */
static int pg_retry_dead(store_t *h, err_class_t cls, int64_t now, int *n, err_t *err)
{
    return pg_bulk_as(h, NULL, STORE_OP_RETRY, cls, NULL, now, n, err);
}

/* ---- reading ----------------------------------------------------------------------------------------------- */

static int pg_attempts(store_t *h, const job_t *job, job_attempt_t **out, size_t *n, err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    *n = 0;
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_int(&a, job->rid);
    PGresult *r = run(s, Q_ATTEMPTS, &a, err, "read attempts");
    if (!r)
        return -1;
    int rows = PQntuples(r);
    bool oom;
    *out = alloc_rows(r, sizeof(**out), &oom, err);
    if (oom)
        return -1;
    for (int i = 0; i < rows; i++) {
        job_attempt_t *at = &(*out)[i];
        at->n = (int)cell_int(r, i, 0);
        at->started_at = cell_int(r, i, 1);
        at->finished_at = cell_int(r, i, 2);
        cell_copy(r, i, 3, at->outcome, sizeof(at->outcome));
        cell_copy(r, i, 4, at->worker, sizeof(at->worker));
        read_err(r, i, 5, &at->error);
        /* A note on a successful attempt travels in the message field (as in SQLite's engine). */
        if (at->error.cls == ERR_NONE)
            cell_copy(r, i, 11, at->error.message, sizeof(at->error.message));
    }
    *n = (size_t)rows;
    PQclear(r);
    return 0;
}

static int pg_jobs_query(store_t *h, const store_filter_t *f, const char *q, job_t ***out, size_t *n, err_t *err);

/* The dashboard's query without its free-text filter: the same rows, the same order. */
static int pg_list(store_t *h, const store_filter_t *f, job_t ***out, size_t *n, err_t *err)
{
    return pg_jobs_query(h, f, NULL, out, n, err);
}

static int pg_stats(store_t *h, int64_t now, store_stats_t *out, err_t *err)
{
    pg_t *s = PG(h);
    memset(out, 0, sizeof(*out));
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_int(&a, now);
    PGresult *r = run_sql(s,
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
        int k = (int)cell_int(r, i, 0);
        int64_t v = cell_int(r, i, 1);
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

static int pg_probe_write(store_t *h, err_t *err)
{
    pg_t *s = PG(h);
    if (ensure(s, err) < 0)
        return -1;
    PGresult *r = run_sql(s,
                          "INSERT INTO meta(key, value) VALUES('ready_probe', extract(epoch FROM now())::bigint::text)"
                          " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                          NULL, err, "probe write");
    PQclear(r);
    return r ? 0 : -1;
}

static int pg_leader_try(store_t *h, const char *name, bool *leader, err_t *err)
{
    pg_t *s = PG(h);
    *leader = false;
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_str(&a, name);
    if (s->leader && strcmp(s->leader_name, name) == 0) {
        /* Still held while the session lives: prove the session does. */
        PGresult *r = run_sql(s, "SELECT 1", NULL, err, "check leadership");
        PQclear(r);
        if (!r) {
            s->leader = false;
            return -1;
        }
        *leader = true;
        return 0;
    }
    /* Advisory locks are per database: the schema in the key keeps installations in other schemas apart. */
    PGresult *r = run_sql(s,
                          "SELECT pg_try_advisory_lock("
                          " hashtextextended('leader:' || current_schema() || ':' || $1::text, 0))",
                          &a, err, "take leadership");
    if (!r)
        return -1;
    s->leader = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (s->leader)
        snprintf(s->leader_name, sizeof(s->leader_name), "%s", name);
    *leader = s->leader;
    return 0;
}

/* ---- links and cursors ------------------------------------------------------------------------------------- */

static void a_link_key(pg_args_t *a, const char *system, const char *shop, const char *type, const char *external_id)
{
    a_str(a, system);
    a_str(a, shop);
    a_str(a, type);
    a_str(a, external_id);
}

static void read_link(const PGresult *r, int row, store_link_t *l)
{
    memset(l, 0, sizeof(*l));
    cell_copy(r, row, 0, l->odoo_model, sizeof(l->odoo_model));
    l->odoo_id = cell_int(r, row, 1);
    l->version = cell_int(r, row, 2);
    cell_copy(r, row, 3, l->state, sizeof(l->state));
    l->extra = cell_dup(r, row, 4);
    l->updated_at = cell_int(r, row, 5);
}

static int pg_link_get(store_t *h, const char *system, const char *shop, const char *type, const char *external_id,
                       store_link_t *out, err_t *err)
{
    pg_t *s = PG(h);
    memset(out, 0, sizeof(*out));
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_link_key(&a, system, shop, type, external_id);
    PGresult *r = run(s, Q_LINK_GET, &a, err, "read link");
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        read_link(r, 0, out);
    PQclear(r);
    return found;
}

/* Write n link rows (l = NULL removes them) in one transaction: all or none. */
static int link_write(pg_t *s, const char *system, const char *shop, const char *type,
                      const char *const *external_ids, const store_link_t *l, size_t n, err_t *err)
{
    if (begin(s, err) < 0)
        return -1;
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < n; i++) {
        pg_args_t a = {0};
        a_link_key(&a, system, shop, type, external_ids[i]);
        if (l) {
            a_str(&a, l[i].odoo_model);
            a_int(&a, l[i].odoo_id);
            a_int(&a, l[i].version);
            a_str(&a, l[i].state[0] ? l[i].state : NULL);
            a_str(&a, l[i].extra);
            a_int(&a, now);
        }
        if (run_cmd(s, l ? Q_LINK_PUT : Q_LINK_DEL, &a, NULL, err, l ? "write link" : "forget link") < 0) {
            rollback(s);
            return -1;
        }
    }
    return commit(s, err);
}

static int pg_link_put(store_t *h, const char *system, const char *shop, const char *type, const char *external_id,
                       const store_link_t *l, err_t *err)
{
    return link_write(PG(h), system, shop, type, &external_id, l, 1, err);
}

static int pg_links_put(store_t *h, const char *system, const char *shop, const char *type,
                        const char *const *external_ids, const store_link_t *links, size_t n, err_t *err)
{
    return n ? link_write(PG(h), system, shop, type, external_ids, links, n, err) : 0;
}

static int pg_link_forget(store_t *h, const char *system, const char *shop, const char *type,
                          const char *external_id, err_t *err)
{
    return link_write(PG(h), system, shop, type, &external_id, NULL, 1, err);
}

static int pg_links_each(store_t *h, const char *system, const char *shop, const char *type, store_link_fn fn,
                         void *ud, err_t *err)
{
    pg_t *s = PG(h);
    if (ensure(s, err) < 0)
        return -1;
    /* Pages of 200 keyed on external_id; each result is complete before fn runs, so fn may use s. */
    char *after = strdup("");
    if (!after)
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    for (;;) {
        pg_args_t a = {0};
        a_link_key(&a, system, shop, type, after);
        PGresult *r = run(s, Q_LINK_EACH, &a, err, "list links");
        if (!r) {
            free(after);
            return -1;
        }
        int rows = PQntuples(r), stop = 0;
        for (int i = 0; i < rows && !stop; i++) {
            store_link_t l;
            read_link(r, i, &l);
            stop = fn(PQgetvalue(r, i, 6), &l, ud) != 0;
            store_link_release(&l);
        }
        free(after);
        after = rows ? strdup(PQgetvalue(r, rows - 1, 6)) : NULL;
        PQclear(r);
        if (stop || rows < 200) {
            free(after);
            return 0;
        }
        if (!after)
            return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    }
}

static int pg_link_find(store_t *h, const char *system, const char *shop, const char *type, const char *odoo_model,
                        int64_t odoo_id, char *external_id, size_t n, err_t *err)
{
    pg_t *s = PG(h);
    external_id[0] = '\0';
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_link_key(&a, system, shop, type, "");
    a_str(&a, odoo_model);
    a_int(&a, odoo_id);
    PGresult *r = run(s, Q_LINK_FIND, &a, err, "find link");
    return r ? take_first_text(r, external_id, n) : -1;
}

static int pg_cursor_get(store_t *h, const char *name, char *out, size_t n, err_t *err)
{
    pg_t *s = PG(h);
    out[0] = '\0';
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_str(&a, name);
    PGresult *r = run(s, Q_CURSOR_GET, &a, err, "read cursor");
    return r ? take_first_text(r, out, n) : -1;
}

static int pg_cursor_put(store_t *h, const char *name, const char *value, err_t *err)
{
    pg_t *s = PG(h);
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_str(&a, name);
    a_str(&a, value);
    return run_cmd(s, Q_CURSOR_PUT, &a, NULL, err, "write cursor");
}

static int pg_key_live(store_t *h, const char *ordering_key, int64_t *n, err_t *err)
{
    pg_t *s = PG(h);
    *n = 0;
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_str(&a, ordering_key);
    PGresult *r = run(s, Q_KEY_LIVE, &a, err, "count live jobs");
    if (!r)
        return -1;
    *n = cell_int(r, 0, 0);
    PQclear(r);
    return 0;
}

/* ---- effects and the trace's finders ----------------------------------------------------------------------- */

static int pg_effects_add(store_t *h, const store_effect_t *e, size_t n, err_t *err)
{
    pg_t *s = PG(h);
    if (n == 0)
        return 0;
    if (begin(s, err) < 0)
        return -1;
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < n; i++) {
        pg_args_t a = {0};
        a_int(&a, e[i].at ? e[i].at : now);
        a_str(&a, e[i].job_id);
        a_str(&a, e[i].correlation_id);
        a_str(&a, e[i].shop ? e[i].shop : "");
        a_str(&a, e[i].subject ? e[i].subject : "");
        a_str(&a, e[i].system ? e[i].system : "");
        a_str(&a, e[i].action ? e[i].action : "");
        a_str(&a, e[i].target);
        a_str(&a, e[i].external_id);
        a_str(&a, e[i].detail);
        PGresult *r = run_sql(s,
                              "INSERT INTO effects(at, job_id, correlation_id, shop, subject, system, action, target,"
                              " external_id, detail) VALUES($1::bigint, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                              &a, err, "insert effect");
        if (!r) {
            rollback(s);
            return -1;
        }
        PQclear(r);
    }
    return commit(s, err);
}

#define EFFECT_COLS "id, at, job_id, correlation_id, shop, subject, system, action, target, external_id, detail"

/* Call fn for every effect row of r (EFFECT_COLS) until it returns non-zero, then clear r. 0. */
static int each_effect(PGresult *r, store_effect_fn fn, void *ud)
{
    for (int i = 0; i < PQntuples(r); i++) {
        store_effect_t e = {
            .id = cell_int(r, i, 0),
            .at = cell_int(r, i, 1),
            .job_id = cell(r, i, 2),
            .correlation_id = cell(r, i, 3),
            .shop = cell(r, i, 4),
            .subject = cell(r, i, 5),
            .system = cell(r, i, 6),
            .action = cell(r, i, 7),
            .target = cell(r, i, 8),
            .external_id = cell(r, i, 9),
            .detail = cell(r, i, 10),
        };
        if (fn(&e, ud) != 0)
            break;
    }
    PQclear(r);
    return 0;
}

static int pg_effects_list(store_t *h, const char *shop, const char *subject, int64_t since_ms, store_effect_fn fn,
                           void *ud, err_t *err)
{
    pg_t *s = PG(h);
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_str(&a, shop);
    a_str(&a, subject);
    a_int(&a, since_ms);
    PGresult *r = run_sql(s,
                          "SELECT " EFFECT_COLS " FROM effects WHERE shop = $1 AND subject = $2 AND at >= $3::bigint"
                          " ORDER BY at, id",
                          &a, err, "list effects");
    return r ? each_effect(r, fn, ud) : -1;
}

static int pg_effects_prune(store_t *h, int64_t older_than, int limit, int *n, err_t *err)
{
    return delete_batch(PG(h),
                        "DELETE FROM effects WHERE id IN (SELECT id FROM effects WHERE at < $1::bigint LIMIT $2::int)",
                        older_than, limit, n, err, "prune effects");
}

static int pg_jobs_by(store_t *h, store_jobs_by_t by, const char *value, int limit, job_t ***out, size_t *n,
                      err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    *n = 0;
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_str(&a, value);
    a_int(&a, limit > 0 ? limit : 500);
    return select_jobs(s,
                       by == STORE_JOBS_BY_OKEY
                           ? "SELECT " PG_JOB_COLS " FROM jobs WHERE okey = $1 ORDER BY created_at, rid LIMIT $2::int"
                           : "SELECT " PG_JOB_COLS " FROM jobs WHERE correlation_id = $1 ORDER BY created_at, rid"
                             " LIMIT $2::int",
                       &a, out, n, err, "search jobs");
}

static int pg_job_by_payload(store_t *h, const char *kind, const char *okey_prefix, const char *field,
                             const char *value, job_t **out, err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    if (ensure(s, err) < 0)
        return -1;
    /* ->> renders a number with all its digits, so a Shopify id beyond 2^53 matches exactly. */
    pg_args_t a = {0};
    a_str(&a, kind);
    a_str(&a, okey_prefix ? okey_prefix : "");
    a_str(&a, field);
    a_str(&a, value);
    PGresult *r = run_sql(s,
                          "SELECT " PG_JOB_COLS " FROM jobs WHERE kind = $1 AND left(okey, length($2::text)) = $2"
                          " AND synchub_jsonb(payload)->>$3::text = $4::text"
                          " ORDER BY created_at DESC, rid DESC LIMIT 1",
                          &a, err, "search jobs by payload");
    if (!r)
        return -1;
    if (PQntuples(r) > 0)
        return take_first_job(r, out, err);
    PQclear(r);
    return 0;
}

static int pg_link_by_extra(store_t *h, const char *system, const char *shop, const char *type, const char *field,
                            const char *value, char *external_id, size_t n, err_t *err)
{
    pg_t *s = PG(h);
    external_id[0] = '\0';
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_link_key(&a, system, shop, type, field);
    a_str(&a, value);
    PGresult *r = run_sql(s,
                          "SELECT external_id FROM links WHERE system = $1 AND shop = $2 AND type = $3"
                          " AND synchub_jsonb(extra)->>$4::text = $5::text ORDER BY updated_at DESC LIMIT 1",
                          &a, err, "search links");
    return r ? take_first_text(r, external_id, n) : -1;
}

/* ---- the operator surface: audit, dashboard queries, queue figures (store.h's last blocks) ------------------ */

static int pg_audit_add(store_t *h, const char *actor, const char *action, const char *target, const char *detail,
                        err_t *err)
{
    pg_t *s = PG(h);
    /* one statement: its own transaction */
    return ensure(s, err) < 0 ? -1 : audit_insert(s, actor, action, target, detail, 0, err);
}

static int pg_audit_list(store_t *h, int limit, store_audit_fn fn, void *ud, err_t *err)
{
    pg_t *s = PG(h);
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_int(&a, limit > 0 ? limit : 100);
    PGresult *r = run_sql(s, "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT $1::int",
                          &a, err, "list audit rows");
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        store_audit_t row = {
            .id = cell_int(r, i, 0),
            .at = cell_int(r, i, 1),
            .actor = cell(r, i, 2),
            .action = cell(r, i, 3),
            .target = cell(r, i, 4),
            .detail = cell(r, i, 5),
        };
        if (fn(&row, ud) != 0)
            break;
    }
    PQclear(r);
    return 0;
}

static int pg_failures(store_t *h, int limit, store_cause_t **out, size_t *n, err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    *n = 0;
    if (ensure(s, err) < 0)
        return -1;
    /* PostgreSQL has no bare columns beside max(): the sample (the group's newest job) comes from DISTINCT ON. */
    pg_args_t a = {0};
    a_int(&a, limit > 0 ? limit : 100);
    PGresult *r = run_sql(s,
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
    *out = alloc_rows(r, sizeof(**out), &oom, err);
    if (oom)
        return -1;
    for (int i = 0; i < rows; i++) {
        store_cause_t *c = &(*out)[i];
        c->cls = (err_class_t)cell_int(r, i, 0);
        cell_copy(r, i, 1, c->code, sizeof(c->code));
        c->count = cell_int(r, i, 2);
        c->unsafe = cell_int(r, i, 3);
        c->last_at = cell_int(r, i, 4);
        cell_copy(r, i, 5, c->kinds, sizeof(c->kinds));
        cell_copy(r, i, 6, c->sample_id, sizeof(c->sample_id));
        c->sample.cls = c->cls;
        memcpy(c->sample.code, c->code, sizeof(c->code));
        cell_copy(r, i, 7, c->sample.message, sizeof(c->sample.message));
        cell_copy(r, i, 8, c->sample.record, sizeof(c->sample.record));
        cell_copy(r, i, 9, c->sample.hint, sizeof(c->sample.hint));
        c->sample.retry_safe = cell_int(r, i, 10) != 0;
    }
    *n = (size_t)rows;
    PQclear(r);
    return 0;
}

static int pg_activity(store_t *h, int64_t since_ms, int64_t bucket_ms, int nbuckets, store_bucket_t *out,
                       err_t *err)
{
    pg_t *s = PG(h);
    if (store__buckets_init(out, since_ms, bucket_ms, nbuckets, err) < 0 || ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_int(&a, since_ms);
    a_int(&a, bucket_ms);
    a_int(&a, since_ms + (int64_t)nbuckets * bucket_ms);
    PGresult *r = run_sql(s,
                          "SELECT (finished_at - $1::bigint) / $2::bigint, (outcome = 'done')::int, err_class,"
                          " count(*) FROM attempts WHERE finished_at >= $1::bigint AND finished_at < $3::bigint"
                          " AND outcome IN ('done', 'retry', 'dead', 'lost') GROUP BY 1, 2, 3",
                          &a, err, "activity");
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        store__bucket_add(out, nbuckets, cell_int(r, i, 0), cell_int(r, i, 1) != 0, (int)cell_int(r, i, 2),
                          cell_int(r, i, 3));
    PQclear(r);
    return 0;
}

static int pg_jobs_query(store_t *h, const store_filter_t *f, const char *q, job_t ***out, size_t *n, err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    *n = 0;
    if (ensure(s, err) < 0)
        return -1;
    char hi[JOB_ID_LEN + 2];
    bool has_q = q && *q;
    if (has_q)
        snprintf(hi, sizeof(hi), "%.*sg", JOB_ID_LEN, q); /* 'g' sorts after every hex digit (collation C) */
    pg_args_t a = {0};
    a_int(&a, f ? f->state : -1);
    a_str(&a, f ? f->kind : NULL);
    a_str(&a, has_q ? q : NULL);
    a_str(&a, has_q ? hi : NULL);
    a_int(&a, f && f->limit > 0 ? f->limit : 100);
    return select_jobs(s,
                       "SELECT " PG_JOB_COLS " FROM jobs WHERE ($1::int < 0 OR state = $1::int)"
                       " AND ($2::text IS NULL OR kind = $2::text)"
                       " AND ($3::text IS NULL OR id >= $3::text AND id < $4::text OR correlation_id = $3::text"
                       "   OR strpos(okey, $3::text) > 0)"
                       " ORDER BY updated_at DESC, rid DESC LIMIT $5::int",
                       &a, out, n, err, q ? "jobs query" : "list jobs");
}

static int pg_queue_depth(store_t *h, int64_t now, bool by_kind, store_depth_fn fn, void *ud,
                          int64_t *oldest_due_ms, err_t *err)
{
    pg_t *s = PG(h);
    *oldest_due_ms = 0;
    if (ensure(s, err) < 0)
        return -1;
    /* One statement, one snapshot: the figures of a scrape agree with each other. Row -1 carries the lag: among
     * the heads a claim would consider (jobs_claim), the earliest due run_at. */
    pg_args_t a = {0};
    a_int(&a, now);
    PGresult *r = run_sql(s,
                          by_kind ? "SELECT state::int, kind, count(*), min(created_at) FROM jobs"
                                    " WHERE state IN (0, 1, 2, 4) GROUP BY state, kind"
                                    " UNION ALL SELECT -1, '', 0, coalesce(min(run_at), 0) FROM jobs"
                                    " WHERE ready AND state IN (0, 2) AND run_at <= $1::bigint ORDER BY 1, 2"
                                  : "SELECT state::int, '', count(*), 0 FROM jobs WHERE state IN (0, 1, 2, 4)"
                                    " GROUP BY state"
                                    " UNION ALL SELECT -1, '', 0, coalesce(min(run_at), 0) FROM jobs"
                                    " WHERE ready AND state IN (0, 2) AND run_at <= $1::bigint ORDER BY 1, 2",
                          &a, err, "queue figures");
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int state = (int)cell_int(r, i, 0);
        if (state < 0)
            *oldest_due_ms = cell_int(r, i, 3);
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int state = (int)cell_int(r, i, 0);
        const char *kind = cell(r, i, 1);
        if (state >= 0 && fn((job_state_t)state, kind ? kind : "", cell_int(r, i, 2), cell_int(r, i, 3), ud) != 0)
            break;
    }
    PQclear(r);
    return 0;
}

static int pg_effects_by_target(store_t *h, const char *value, int limit, store_effect_fn fn, void *ud, err_t *err)
{
    pg_t *s = PG(h);
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_str(&a, value);
    a_int(&a, limit > 0 ? limit : 50);
    PGresult *r = run_sql(s,
                          "SELECT " EFFECT_COLS " FROM effects WHERE target = $1 OR external_id = $1"
                          " ORDER BY at DESC, id DESC LIMIT $2::int",
                          &a, err, "effects by target");
    return r ? each_effect(r, fn, ud) : -1;
}

/* ---- pausing work on a target that is down (store.h: store_pause, store_resume) ----------------------------- */

static int pg_pause(store_t *h, const job_t *job, int64_t run_at, const err_t *why, int64_t now, err_t *err)
{
    /* One statement: the job back to RETRY with its attempt uncounted (the key's head unchanged, as any retry), and
     * the attempt the claim opened closed as "paused" (the next claim's upsert of attempt n replaces it). */
    pg_t *s = PG(h);
    if (ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_str(&a, job->id);
    a_int(&a, job->lease_token);
    a_int(&a, run_at);
    a_int(&a, now);
    a_err(&a, why);
    PGresult *r = run_sql(s,
                          "WITH u AS (UPDATE jobs SET state = 2, attempts = attempts - 1, run_at = $3::bigint,"
                          "   lease_until = NULL, updated_at = $4::bigint, err_class = $5::int, err_code = $6,"
                          "   err_message = $7, err_record = $8, err_hint = $9, err_retry_safe = $10::int"
                          "   WHERE id = $1 AND state = 1 AND lease_token = $2::bigint RETURNING rid, attempts + 1 AS n),"
                          " a AS (UPDATE attempts t SET finished_at = $4::bigint, outcome = 'paused',"
                          "   err_class = $5::int, err_code = $6, err_message = $7, err_record = $8, err_hint = $9,"
                          "   err_retry_safe = $10::int, note = 'not counted: the target is down'"
                          "   FROM u WHERE t.job_rid = u.rid AND t.n = u.n)"
                          " SELECT count(*) FROM u",
                          &a, err, "pause job");
    if (!r)
        return -1;
    int64_t changed = cell_int(r, 0, 0);
    PQclear(r);
    return changed > 0 ? 0 : 1;
}

static int pg_resume(store_t *h, const char *const *ids, size_t n_ids, int64_t now, int *n, err_t *err)
{
    pg_t *s = PG(h);
    *n = 0;
    if (ensure(s, err) < 0)
        return -1;
    /* the ids as an array literal: job ids are hex digits, nothing to quote */
    buf_t arr;
    buf_init(&arr);
    int bad = buf_append(&arr, "{", 1);
    for (size_t i = 0; i < n_ids && !bad; i++) {
        if (store__check_job_id(ids[i], err) < 0) {
            buf_release(&arr);
            return -1;
        }
        bad |= (i && buf_append(&arr, ",", 1) < 0) || buf_append(&arr, ids[i], strlen(ids[i])) < 0;
    }
    if (bad || buf_append(&arr, "}", 1) < 0) {
        buf_release(&arr);
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    }
    pg_args_t a = {0};
    a_str(&a, buf_str(&arr));
    a_int(&a, now);
    PGresult *r = run_sql(s,
                          "WITH u AS (UPDATE jobs SET run_at = $2::bigint, updated_at = $2::bigint"
                          "   WHERE id = ANY($1::text[]) AND state = 2 AND run_at > $2::bigint RETURNING 1)"
                          " SELECT count(*) FROM u",
                          &a, err, "resume jobs");
    buf_release(&arr);
    if (!r)
        return -1;
    *n = (int)cell_int(r, 0, 0);
    PQclear(r);
    if (*n > 0) {
        err_t ignored;
        notify_nodes(s, &ignored); /* the other nodes' idle workers; without it they poll */
        wake_local(s->db, true);
    }
    return 0;
}

/* ---- the engine table -------------------------------------------------------------------------------------- */

const store_engine_t store__pg_engine = {
    .name = "postgres",
    .db_close = pg_db_close,
    .db_set_max_size = pg_db_set_max_size,
    .db_notify = pg_db_notify,
    .db_wait = pg_db_wait,
    .db_path = pg_db_path,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .checkpoint = pg_checkpoint,
    .enqueue = pg_enqueue,
    .claim = pg_claim,
    .finish_claim = pg_finish_claim,
    .renew_lease = pg_renew_lease,
    .reap_expired = pg_reap_expired,
    .prune = pg_prune,
    .operate = pg_operate,
    .retry_dead = pg_retry_dead,
    .job_get = pg_job_get,
    .attempts = pg_attempts,
    .list = pg_list,
    .stats = pg_stats,
    .probe_write = pg_probe_write,
    .link_get = pg_link_get,
    .link_put = pg_link_put,
    .link_forget = pg_link_forget,
    .links_put = pg_links_put,
    .links_each = pg_links_each,
    .link_find = pg_link_find,
    .cursor_get = pg_cursor_get,
    .cursor_put = pg_cursor_put,
    .key_live = pg_key_live,
    .effects_add = pg_effects_add,
    .effects_list = pg_effects_list,
    .effects_prune = pg_effects_prune,
    .jobs_by = pg_jobs_by,
    .job_by_payload = pg_job_by_payload,
    .link_by_extra = pg_link_by_extra,
    .leader_try = pg_leader_try,
    .audit_add = pg_audit_add,
    .audit_list = pg_audit_list,
    .operate_as = pg_operate_as,
    .bulk_as = pg_bulk_as,
    .failures = pg_failures,
    .activity = pg_activity,
    .jobs_query = pg_jobs_query,
    .queue_depth = pg_queue_depth,
    .effects_by_target = pg_effects_by_target,
    .pause = pg_pause,
    .resume = pg_resume,
};
