/* store_sqlite: the embedded store (SQLite, WAL). Implements store.h through store__sqlite_engine (store.c
 * forwards the public calls here). All SQL that only SQLite understands lives here. Writers of one process queue
 * on an in-process mutex before BEGIN IMMEDIATE: SQLite's own busy handler sleeps in steps of milliseconds, which
 * would put those steps straight into the webhook ack latency; the busy timeout then only matters against other
 * processes (the CLI). Checkpoints run from the housekeeping thread (store_checkpoint), never inside a commit on
 * the ack path. */
#define _GNU_SOURCE
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "store/store_engine.h"
#include "store/store_internal.h"

struct store_db {
    const store_engine_t *eng;  /* first member: store.c dispatches on it */
    char *path;
    int64_t busy_timeout_ms;
    int64_t max_size;
    pthread_mutex_t wlock;      /* one writer of this process at a time (see the file comment) */
    pthread_mutex_t wake_mu;
    pthread_cond_t wake_cv;
    uint64_t wake_gen;
};

enum {
    Q_INSERT, Q_HEAD_CUR, Q_HEAD_FIND, Q_HEAD_SET, Q_CLAIM_PICK, Q_CLAIM_SET, Q_ATTEMPT_OPEN, Q_NEXT_DUE, Q_FINISH,
    Q_ATTEMPT_CLOSE, Q_RENEW, Q_EXPIRED, Q_BY_ID, Q_BY_PREFIX, Q_OPERATE, Q_ATTEMPTS, Q_LINK_GET, Q_LINK_PUT,
    Q_LINK_DEL, Q_LINK_EACH, Q_LINK_FIND, Q_CURSOR_GET, Q_CURSOR_PUT, Q_KEY_LIVE, Q_COUNT
};

/* Claims name their index: without ANALYZE statistics the planner prefers jobs_state and sorts every queued row,
 * which turns each claim into a scan of the backlog. */
static const char *const sql_text[Q_COUNT] = {
    [Q_INSERT] =
        "INSERT INTO jobs(id, kind, okey, priority, state, ready, attempts, max_attempts, budget, lease_ms,"
        " event_time, run_at, created_at, updated_at, source, correlation_id, meta, payload)"
        " VALUES(?1, ?2, ?3, ?4, 0, 0, 0, ?5, ?5, ?6, ?7, ?8, ?8, ?8, ?9, ?10, ?11, ?12)"
        " ON CONFLICT(id) DO NOTHING",
    [Q_HEAD_CUR] = "SELECT rid, state FROM jobs INDEXED BY jobs_head WHERE okey = ?1 AND ready = 1",
    [Q_HEAD_FIND] = "SELECT rid FROM jobs INDEXED BY jobs_key WHERE okey = ?1 AND state IN (0, 1, 2)"
                    " ORDER BY event_time, rid LIMIT 1",
    [Q_HEAD_SET] = "UPDATE jobs SET ready = ?2 WHERE rid = ?1",
    [Q_CLAIM_PICK] = "SELECT " STORE_JOB_COLS " FROM jobs INDEXED BY jobs_claim"
                     " WHERE ready = 1 AND state IN (0, 2) AND run_at <= ?1"
                     " ORDER BY priority DESC, run_at LIMIT 1",
    [Q_CLAIM_SET] = "UPDATE jobs SET state = 1, attempts = attempts + 1, lease_until = ?2, lease_token = ?3,"
                    " updated_at = ?4 WHERE rid = ?1",
    [Q_ATTEMPT_OPEN] = "INSERT OR REPLACE INTO attempts(job_rid, n, started_at, outcome, worker)"
                       " VALUES(?1, ?2, ?3, 'running', ?4)",
    [Q_NEXT_DUE] = "SELECT min(run_at) FROM jobs INDEXED BY jobs_claim WHERE ready = 1 AND state IN (0, 2)",
    [Q_FINISH] = "UPDATE jobs SET state = ?3, ready = CASE WHEN ?3 IN (3, 4) THEN 0 ELSE ready END,"
                 " run_at = ?4, lease_until = NULL, updated_at = ?5,"
                 " finished_at = CASE WHEN ?3 IN (3, 4) THEN ?5 ELSE NULL END,"
                 " err_class = ?6, err_code = ?7, err_message = ?8, err_record = ?9, err_hint = ?10,"
                 " err_retry_safe = ?11 WHERE id = ?1 AND state = 1 AND lease_token = ?2",
    [Q_ATTEMPT_CLOSE] = "UPDATE attempts SET finished_at = ?3, outcome = ?4, err_class = ?5, err_code = ?6,"
                        " err_message = ?7, err_record = ?8, err_hint = ?9, err_retry_safe = ?10, note = ?11"
                        " WHERE job_rid = ?1 AND n = ?2",
    [Q_RENEW] = "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND state = 1 AND lease_token = ?2",
    [Q_EXPIRED] = "SELECT " STORE_JOB_COLS " FROM jobs WHERE state = 1 AND lease_until < ?1 LIMIT 100",
    [Q_BY_ID] = "SELECT " STORE_JOB_COLS " FROM jobs WHERE id = ?1",
    [Q_BY_PREFIX] = "SELECT " STORE_JOB_COLS " FROM jobs WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2",
    [Q_OPERATE] = "UPDATE jobs SET state = ?2, ready = 0, run_at = ?3, updated_at = ?3,"
                  " max_attempts = CASE WHEN ?2 = 0 THEN attempts + budget ELSE max_attempts END,"
                  " finished_at = CASE WHEN ?2 = 5 THEN ?3 ELSE NULL END WHERE rid = ?1",
    [Q_LINK_GET] = "SELECT odoo_model, odoo_id, version, state, extra, updated_at FROM links"
                   " WHERE system = ?1 AND shop = ?2 AND type = ?3 AND external_id = ?4",
    [Q_LINK_PUT] = "INSERT OR REPLACE INTO links(system, shop, type, external_id, odoo_model, odoo_id, version, state,"
                   " extra, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [Q_LINK_DEL] = "DELETE FROM links WHERE system = ?1 AND shop = ?2 AND type = ?3 AND external_id = ?4",
    [Q_LINK_EACH] = "SELECT odoo_model, odoo_id, version, state, extra, updated_at, external_id FROM links"
                    " WHERE system = ?1 AND shop = ?2 AND type = ?3 AND external_id > ?4 ORDER BY external_id"
                    " LIMIT 200",
    [Q_LINK_FIND] = "SELECT external_id FROM links WHERE odoo_model = ?5 AND odoo_id = ?6 AND system = ?1"
                    " AND shop = ?2 AND type = ?3 ORDER BY updated_at DESC LIMIT 1",
    [Q_CURSOR_GET] = "SELECT value FROM meta WHERE key = 'cursor:' || ?1",
    [Q_CURSOR_PUT] = "INSERT INTO meta(key, value) VALUES('cursor:' || ?1, ?2)"
                     " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [Q_KEY_LIVE] = "SELECT count(*) FROM jobs INDEXED BY jobs_key WHERE okey = ?1 AND state IN (0, 1, 2)",
    [Q_ATTEMPTS] = "SELECT n, started_at, finished_at, outcome, worker, err_class, err_code, err_message,"
                   " err_record, err_hint, err_retry_safe, note FROM attempts WHERE job_rid = ?1 ORDER BY n",
};

struct store {
    const store_engine_t *eng;  /* first member: store.c dispatches on it */
    store_db_t *db;
    sqlite3 *conn;
    sqlite3_stmt *stmt[Q_COUNT];
    bool in_write;
    uint64_t rng;
};

/* Versioned migrations: PRAGMA user_version is the number of entries applied. Append, never edit. */
static const char *const migrations[] = {
    /* 1: jobs, attempts, meta */
    "CREATE TABLE jobs("
    "  rid INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL,"
    "  okey TEXT NOT NULL,"
    "  priority INTEGER NOT NULL DEFAULT 0,"
    "  state INTEGER NOT NULL,"
    "  ready INTEGER NOT NULL DEFAULT 0,"       /* 1 = head of its ordering key (see store.h) */
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  max_attempts INTEGER NOT NULL,"
    "  budget INTEGER NOT NULL,"                /* attempts granted per operator retry */
    "  lease_ms INTEGER NOT NULL,"
    "  event_time INTEGER NOT NULL,"
    "  run_at INTEGER NOT NULL,"
    "  lease_until INTEGER,"
    "  lease_token INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  finished_at INTEGER,"
    "  source TEXT NOT NULL,"
    "  correlation_id TEXT,"
    "  meta TEXT,"
    "  payload TEXT NOT NULL,"
    "  err_class INTEGER NOT NULL DEFAULT 0, err_code TEXT, err_message TEXT, err_record TEXT, err_hint TEXT,"
    "  err_retry_safe INTEGER);"
    "CREATE INDEX jobs_claim ON jobs(priority DESC, run_at) WHERE ready = 1 AND state IN (0, 2);"
    "CREATE INDEX jobs_key ON jobs(okey, event_time, rid) WHERE state IN (0, 1, 2);"
    "CREATE INDEX jobs_lease ON jobs(lease_until) WHERE state = 1;"
    "CREATE INDEX jobs_state ON jobs(state, updated_at);"
    "CREATE INDEX jobs_corr ON jobs(correlation_id);"
    "CREATE TABLE attempts("
    "  job_rid INTEGER NOT NULL, n INTEGER NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER,"
    "  outcome TEXT NOT NULL, worker TEXT, err_class INTEGER NOT NULL DEFAULT 0, err_code TEXT,"
    "  err_message TEXT, err_record TEXT, err_hint TEXT, err_retry_safe INTEGER, note TEXT,"
    "  PRIMARY KEY(job_rid, n)) WITHOUT ROWID;"
    "CREATE INDEX attempts_retry ON attempts(finished_at) WHERE outcome = 'retry';"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);",
    /* 2: find a key's current head in one probe (refresh_head), so the ack path costs the same whatever the
     * backlog on a hot key */
    "CREATE INDEX jobs_head ON jobs(okey) WHERE ready = 1;",
    /* 3: links from source records to the Odoo records synchub wrote */
    "CREATE TABLE links("
    "  system TEXT NOT NULL, shop TEXT NOT NULL, type TEXT NOT NULL, external_id TEXT NOT NULL,"
    "  odoo_model TEXT NOT NULL, odoo_id INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0, state TEXT,"
    "  extra TEXT, updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY(system, shop, type, external_id)) WITHOUT ROWID;",
    /* 4: from an Odoo record back to the source record (a done delivery's sale order → its Shopify order) */
    "CREATE INDEX links_odoo ON links(odoo_model, odoo_id);",
    /* 5: the operator surface. effects: what a job wrote into Odoo or sent to Shopify, found by the business
     * record it concerns (subject "order:<id>", "sku:<sku>") for `synchub trace`. audit: every operator action
     * (retry, discard, replay, reveal) with who and when. */
    "CREATE TABLE effects("
    "  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, job_id TEXT, correlation_id TEXT,"
    "  shop TEXT NOT NULL DEFAULT '', subject TEXT NOT NULL, system TEXT NOT NULL, action TEXT NOT NULL,"
    "  target TEXT, external_id TEXT, detail TEXT);"
    "CREATE INDEX effects_subject ON effects(shop, subject, at);"
    "CREATE INDEX effects_job ON effects(job_id);"
    "CREATE INDEX effects_at ON effects(at);"
    "CREATE TABLE audit("
    "  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,"
    "  target TEXT NOT NULL, detail TEXT);"
    "CREATE INDEX audit_at ON audit(at);",
    /* 6: the dashboard's activity chart (store_activity) reads the attempts that ended in the last hours: a range
     * of this covering index instead of every attempt of the retention period. Partial, so opening an attempt
     * (finished_at NULL) on the claim path does not touch it; only closing one does. */
    "CREATE INDEX attempts_finished ON attempts(finished_at, outcome, err_class) WHERE finished_at IS NOT NULL;",
};

static int sql_error(store_t *s, err_t *err, const char *what)
{
    int code = sqlite3_extended_errcode(s->conn);
    int prim = code & 0xff;
    /* Busy, locked, full disk and I/O errors are conditions that pass (or that an operator fixes without touching
     * the job): the caller answers 503 / retries. Anything else is a bug or corruption. */
    err_class_t cls = (prim == SQLITE_BUSY || prim == SQLITE_LOCKED || prim == SQLITE_FULL || prim == SQLITE_IOERR ||
                       prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY || prim == SQLITE_PROTOCOL)
                          ? ERR_TRANSIENT
                          : ERR_INTERNAL;
    err_set(err, cls, prim == SQLITE_BUSY ? "store.busy" : prim == SQLITE_FULL ? "store.full" : "store.sqlite",
            "store: %s failed: %s", what, sqlite3_errmsg(s->conn));
    err_record(err, "store %s", s->db->path);
    if (prim == SQLITE_BUSY)
        err_hint(err, "another process holds the store's write lock; it is retried");
    else if (prim == SQLITE_FULL || prim == SQLITE_IOERR)
        err_hint(err, "check free disk space and the file system holding %s (and [store] max_size)", s->db->path);
    return -1;
}

static sqlite3_stmt *q(store_t *s, int which, err_t *err)
{
    if (!s->stmt[which]) {
        if (sqlite3_prepare_v3(s->conn, sql_text[which], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[which], NULL) !=
            SQLITE_OK) {
            sql_error(s, err, "prepare");
            return NULL;
        }
    }
    sqlite3_reset(s->stmt[which]);
    sqlite3_clear_bindings(s->stmt[which]);
    return s->stmt[which];
}

/* The first column of the first row of sql, or dflt. */
static int64_t query_int(store_t *s, const char *sql, int64_t dflt)
{
    sqlite3_stmt *st;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(s->conn, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return v > 0 ? v : dflt;
}

static int exec(store_t *s, const char *sql, err_t *err)
{
    if (sqlite3_exec(s->conn, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sql_error(s, err, sql);
    return 0;
}

/* Write transactions: in-process mutex, then BEGIN IMMEDIATE (takes SQLite's write lock at once, so the
 * transaction never fails half-way on a lock upgrade). */
static int begin_write(store_t *s, err_t *err)
{
    pthread_mutex_lock(&s->db->wlock);
    if (exec(s, "BEGIN IMMEDIATE", err) < 0) {
        pthread_mutex_unlock(&s->db->wlock);
        return -1;
    }
    s->in_write = true;
    return 0;
}

/* A SELECT left mid-result keeps its read snapshot open; the next BEGIN IMMEDIATE on this connection would then
 * fail at once with SQLITE_BUSY_SNAPSHOT. So every transaction end resets every cached statement. */
static void reset_all(store_t *s)
{
    for (int i = 0; i < Q_COUNT; i++)
        if (s->stmt[i])
            sqlite3_reset(s->stmt[i]);
}

static int commit(store_t *s, err_t *err)
{
    reset_all(s);
    int rc = exec(s, "COMMIT", err);
    if (rc < 0)
        sqlite3_exec(s->conn, "ROLLBACK", NULL, NULL, NULL);
    s->in_write = false;
    pthread_mutex_unlock(&s->db->wlock);
    return rc;
}

static void rollback(store_t *s)
{
    if (!s->in_write)
        return;
    reset_all(s);
    sqlite3_exec(s->conn, "ROLLBACK", NULL, NULL, NULL);
    s->in_write = false;
    pthread_mutex_unlock(&s->db->wlock);
}

static int step_done(store_t *s, sqlite3_stmt *st, err_t *err, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return sql_error(s, err, what);
    return rc == SQLITE_ROW ? 1 : 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_err(sqlite3_stmt *st, int first, const err_t *e)
{
    if (!e || e->cls == ERR_NONE) {
        sqlite3_bind_int(st, first, 0);
        for (int i = 1; i <= 5; i++)
            sqlite3_bind_null(st, first + i);
        return;
    }
    sqlite3_bind_int(st, first, (int)e->cls);
    bind_text(st, first + 1, e->code);
    bind_text(st, first + 2, e->message);
    bind_text(st, first + 3, e->record[0] ? e->record : NULL);
    bind_text(st, first + 4, e->hint[0] ? e->hint : NULL);
    sqlite3_bind_int(st, first + 5, e->retry_safe);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

static void read_err(sqlite3_stmt *st, int first, err_t *e)
{
    err_clear(e);
    e->cls = (err_class_t)sqlite3_column_int(st, first);
    if (e->cls == ERR_NONE)
        return;
    col_copy(st, first + 1, e->code, sizeof(e->code));
    col_copy(st, first + 2, e->message, sizeof(e->message));
    col_copy(st, first + 3, e->record, sizeof(e->record));
    col_copy(st, first + 4, e->hint, sizeof(e->hint));
    e->retry_safe = sqlite3_column_int(st, first + 5) != 0;
}

static job_t *read_job(sqlite3_stmt *st)
{
    job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->rid = sqlite3_column_int64(st, 0);
    col_copy(st, 1, j->id, sizeof(j->id));
    j->kind = col_dup(st, 2);
    j->ordering_key = col_dup(st, 3);
    j->priority = sqlite3_column_int(st, 4);
    j->state = (job_state_t)sqlite3_column_int(st, 5);
    j->attempts = sqlite3_column_int(st, 6);
    j->max_attempts = sqlite3_column_int(st, 7);
    j->lease_ms = sqlite3_column_int64(st, 8);
    j->event_time = sqlite3_column_int64(st, 9);
    j->run_at = sqlite3_column_int64(st, 10);
    j->lease_until = sqlite3_column_int64(st, 11);
    j->lease_token = sqlite3_column_int64(st, 12);
    j->created_at = sqlite3_column_int64(st, 13);
    j->updated_at = sqlite3_column_int64(st, 14);
    j->finished_at = sqlite3_column_int64(st, 15);
    j->source = col_dup(st, 16);
    j->correlation_id = col_dup(st, 17);
    j->meta = col_dup(st, 18);
    j->payload = col_dup(st, 19);
    read_err(st, 20, &j->last_error);
    if (!j->kind || !j->ordering_key || !j->source || !j->payload) {
        job_free(j);
        return NULL;
    }
    return j;
}

/* ---- database ---------------------------------------------------------------------------------------------- */

static int mkdir_parents(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    for (char *p = copy + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(copy, 0750) < 0 && errno != EEXIST) {
                free(copy);
                return -1;
            }
            *p = '/';
        }
    }
    free(copy);
    return 0;
}

static int migrate(store_t *s, err_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->conn, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return sql_error(s, err, "read schema version");
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
    if (version > latest)
        return err_set(err, ERR_CONFIGURATION, "store.version",
                       "store %s has schema version %d, newer than this synchub understands (%d)", s->db->path,
                       version, latest);
    for (int v = version; v < latest; v++) {
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if (begin_write(s, err) < 0)
            return -1;
        if (exec(s, migrations[v], err) < 0 || exec(s, pragma, err) < 0) {
            rollback(s);
            return -1;
        }
        if (commit(s, err) < 0)
            return -1;
    }
    return 0;
}

/* A store synchub creates holds customer data: owner-only (0600) whatever the umask, for its -wal and -shm too
 * (SQLite gives those the database file's mode when it creates them; these exist already, so set them here). */
static void restrict_mode(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char *p = NULL;
        if (asprintf(&p, "%s%s", path, suffix[i]) >= 0)
            (void)chmod(p, 0600);
        free(p);
    }
}

static void lite_db_close(store_db_t *db);
static store_t *lite_connect(store_db_t *db, bool durable, int64_t busy_timeout_ms, err_t *err);
static void lite_disconnect(store_t *s);

store_db_t *store__sqlite_open(const char *path, int64_t busy_timeout_ms, err_t *err)
{
    store_db_t *db = calloc(1, sizeof(*db));
    if (!db) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        return NULL;
    }
    db->eng = &store__sqlite_engine;
    db->path = strdup(path);
    db->busy_timeout_ms = busy_timeout_ms > 0 ? busy_timeout_ms : 5000;
    pthread_mutex_init(&db->wlock, NULL);
    pthread_mutex_init(&db->wake_mu, NULL);
    pthread_cond_init(&db->wake_cv, NULL);
    if (mkdir_parents(path) < 0) {
        err_set(err, ERR_CONFIGURATION, "store.path", "cannot create the folder for the store %s: %s", path,
                strerror(errno));
        lite_db_close(db);
        return NULL;
    }
    struct stat before;
    bool created = stat(path, &before) < 0 && errno == ENOENT;
    store_t *s = lite_connect(db, true, 0, err);
    if (!s) {
        lite_db_close(db);
        return NULL;
    }
    int rc = migrate(s, err);
    if (created)
        restrict_mode(path);
    lite_disconnect(s);
    if (rc < 0) {
        lite_db_close(db);
        return NULL;
    }
    return db;
}

static void lite_db_close(store_db_t *db)
{
    if (!db)
        return;
    pthread_mutex_destroy(&db->wlock);
    pthread_mutex_destroy(&db->wake_mu);
    pthread_cond_destroy(&db->wake_cv);
    free(db->path);
    free(db);
}

static void lite_db_set_max_size(store_db_t *db, int64_t bytes)
{
    db->max_size = bytes;
}

static void lite_db_notify(store_db_t *db, int njobs)
{
    pthread_mutex_lock(&db->wake_mu);
    db->wake_gen++;
    /* One new job needs one worker: waking them all only makes them race for the write lock. */
    if (njobs == 1)
        pthread_cond_signal(&db->wake_cv);
    else
        pthread_cond_broadcast(&db->wake_cv);
    pthread_mutex_unlock(&db->wake_mu);
}

static void lite_db_wait(store_db_t *db, uint64_t *seen, int64_t timeout_ms)
{
    struct timespec ts;
    clock_deadline(timeout_ms, &ts);
    pthread_mutex_lock(&db->wake_mu);
    while (db->wake_gen == *seen) {
        if (pthread_cond_timedwait(&db->wake_cv, &db->wake_mu, &ts) == ETIMEDOUT)
            break;
    }
    *seen = db->wake_gen;
    pthread_mutex_unlock(&db->wake_mu);
}

static const char *lite_db_path(const store_db_t *db)
{
    return db->path;
}

static store_t *lite_connect(store_db_t *db, bool durable, int64_t busy_timeout_ms, err_t *err)
{
    store_t *s = calloc(1, sizeof(*s));
    if (!s) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        return NULL;
    }
    s->eng = &store__sqlite_engine;
    s->db = db;
    s->rng = crypto_random_u64();
    int rc = sqlite3_open_v2(db->path, &s->conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        err_set(err, ERR_CONFIGURATION, "store.open", "cannot open the store %s: %s", db->path,
                s->conn ? sqlite3_errmsg(s->conn) : sqlite3_errstr(rc));
        err_hint(err, "check that the folder exists and is writable by the synchub user");
        lite_disconnect(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->conn, (int)(busy_timeout_ms > 0 ? busy_timeout_ms : db->busy_timeout_ms));
    /* WAL: readers never block the writer. synchronous=FULL fsyncs the WAL at every commit (the ack path);
     * NORMAL keeps commits atomic and crash-safe but leaves the fsync to the next FULL commit or checkpoint.
     * Automatic checkpoints are off: lite_checkpoint() runs them off the ack path. */
    char pragmas[256];
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s; PRAGMA wal_autocheckpoint = 0;"
             "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16000;",
             durable ? "FULL" : "NORMAL");
    if (exec(s, pragmas, err) < 0) {
        lite_disconnect(s);
        return NULL;
    }
    if (db->max_size > 0) {
        /* max_page_count counts pages of the database file; the WAL is bounded by the rewinds (store_checkpoint) */
        snprintf(pragmas, sizeof(pragmas), "PRAGMA max_page_count = %lld;",
                 (long long)(db->max_size / query_int(s, "PRAGMA page_size", 4096)));
        if (exec(s, pragmas, err) < 0) {
            lite_disconnect(s);
            return NULL;
        }
    }
    return s;
}

static void lite_disconnect(store_t *s)
{
    if (!s)
        return;
    rollback(s);
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close_v2(s->conn);
    free(s);
}

/* Past this many frames (about 32 MiB with 4 KiB pages) the log is rewound. */
#define STORE_WAL_REWIND_FRAMES 8192

static int lite_checkpoint(store_t *s, err_t *err)
{
    /* PASSIVE copies what it can without blocking anyone. But while writers keep appending, the log is rarely
     * rewound by itself, so it grows and each append extends the file (the kernel zeroes every fresh block).
     * Once it is large, a RESTART — right after the PASSIVE pass, so little is left to copy, and under the
     * in-process write lock — makes the next writer reuse it from the start, on blocks already allocated.
     * Rare by design: it holds this process's writers for the copy of the remainder. */
    int log_frames = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(s->conn, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied);
    if (rc == SQLITE_OK && log_frames > STORE_WAL_REWIND_FRAMES) {
        /* A PASSIVE pass that could not finish leaves the pages it copied unsynced; RESTART would fsync them all
         * while holding the writers. Flush them first, without the lock, through this connection's own file
         * handle: opening and closing another descriptor of the database file would drop every POSIX lock this
         * process holds on it (SQLite's documented way to corrupt a database). */
        sqlite3_file *f = NULL;
        if (sqlite3_file_control(s->conn, "main", SQLITE_FCNTL_FILE_POINTER, &f) == SQLITE_OK && f && f->pMethods)
            f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
        pthread_mutex_lock(&s->db->wlock);
        rc = sqlite3_wal_checkpoint_v2(s->conn, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        pthread_mutex_unlock(&s->db->wlock);
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        return sql_error(s, err, "checkpoint");
    return 0;
}

/* ---- ordering-key head ------------------------------------------------------------------------------------- */

static int set_ready(store_t *s, int64_t rid, int ready, err_t *err)
{
    sqlite3_stmt *st = q(s, Q_HEAD_SET, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_int(st, 2, ready);
    return step_done(s, st, err, "mark key head") < 0 ? -1 : 0;
}

/* Re-establish "exactly one ready job per live key" after a job of okey entered or left the live states.
 * Three index probes whatever the key's backlog: the current head (jobs_head), and if it is not running, the
 * earliest live job (jobs_key in order). A running job is always the head: it was claimed as the head and stays
 * ready until it leaves the live states. */
static int refresh_head(store_t *s, const char *okey, err_t *err)
{
    sqlite3_stmt *st = q(s, Q_HEAD_CUR, err);
    if (!st)
        return -1;
    bind_text(st, 1, okey);
    int rc = step_done(s, st, err, "find key head");
    if (rc < 0)
        return -1;
    int64_t cur = rc ? sqlite3_column_int64(st, 0) : 0;
    int cur_state = rc ? sqlite3_column_int(st, 1) : -1;
    sqlite3_reset(st);
    if (cur_state == JOB_RUNNING)
        return 0;
    if (!(st = q(s, Q_HEAD_FIND, err)))
        return -1;
    bind_text(st, 1, okey);
    if ((rc = step_done(s, st, err, "find earliest job of key")) < 0)
        return -1;
    int64_t best = rc ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (best == cur)
        return 0;
    if (cur && set_ready(s, cur, 0, err) < 0)
        return -1;
    return best ? set_ready(s, best, 1, err) : 0;
}

/* ---- enqueue ----------------------------------------------------------------------------------------------- */

/* A redelivery of a webhook the store already holds: count it in the stored job's meta ("duplicates", and
 * "last_duplicate_at" = the redelivery's received_at), so `synchub trace` can say how often Shopify delivered the
 * event. Only duplicates pay for it (one UPDATE by the primary key in the same transaction). */
static int note_duplicate(store_t *s, const job_new_t *j, err_t *err)
{
    static const char sql[] =
        "UPDATE jobs SET meta = json_set(meta, '$.duplicates', coalesce(json_extract(meta, '$.duplicates'), 0) + 1,"
        " '$.last_duplicate_at', CASE WHEN json_valid(?2) THEN json_extract(?2, '$.received_at') END)"
        " WHERE id = ?1 AND json_valid(meta)";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->conn, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_error(s, err, "prepare duplicate count");
    bind_text(st, 1, j->id);
    bind_text(st, 2, j->meta);
    int rc = step_done(s, st, err, "count duplicate delivery");
    sqlite3_finalize(st);
    return rc < 0 ? -1 : 0;
}

static int lite_enqueue(store_t *s, const job_new_t *jobs, size_t n, bool *dup, err_t *err)
{
    int64_t now = clock_now_ms();
    if (begin_write(s, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const job_new_t *j = &jobs[i];
        sqlite3_stmt *st = q(s, Q_INSERT, err);
        if (!st)
            goto fail;
        bind_text(st, 1, j->id);
        bind_text(st, 2, j->kind);
        bind_text(st, 3, j->ordering_key);
        sqlite3_bind_int(st, 4, j->priority);
        sqlite3_bind_int(st, 5, j->max_attempts);
        sqlite3_bind_int64(st, 6, j->lease_ms);
        sqlite3_bind_int64(st, 7, j->event_time_ms);
        sqlite3_bind_int64(st, 8, now);
        bind_text(st, 9, j->source);
        /* Every job carries a correlation id: one not derived from a parent or a delivery starts its own chain. */
        char own_corr[JOB_ID_LEN + 80];
        if (!j->correlation_id || !*j->correlation_id)
            snprintf(own_corr, sizeof(own_corr), "%.40s:%s", j->source ? j->source : "job", j->id);
        bind_text(st, 10, j->correlation_id && *j->correlation_id ? j->correlation_id : own_corr);
        bind_text(st, 11, j->meta);
        sqlite3_bind_text(st, 12, j->payload, (int)j->payload_len, SQLITE_TRANSIENT);
        if (step_done(s, st, err, "insert job") < 0)
            goto fail;
        bool d = sqlite3_changes(s->conn) == 0;
        if (dup)
            dup[i] = d;
        if (d && j->source && !strcmp(j->source, "shopify") && note_duplicate(s, j, err) < 0)
            goto fail;
        if (!d && refresh_head(s, j->ordering_key, err) < 0)
            goto fail;
    }
    if (commit(s, err) < 0)
        return -1;
    lite_db_notify(s->db, n == 1 ? 1 : -1);
    return 0;
fail:
    rollback(s);
    return -1;
}

/* ---- claim / finish / lease -------------------------------------------------------------------------------- */

/* Inside a write transaction: pick and lease the next head. 1 claimed, 0 nothing due, -1 error. */
static int claim_locked(store_t *s, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err)
{
    sqlite3_stmt *st = q(s, Q_CLAIM_PICK, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    int rc = step_done(s, st, err, "pick job");
    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (next_due_ms && (st = q(s, Q_NEXT_DUE, err)) && step_done(s, st, err, "next due") == 1)
            *next_due_ms = sqlite3_column_int64(st, 0);
        return 0;
    }
    job_t *j = read_job(st);
    sqlite3_reset(st);
    if (!j)
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory reading a job");
    s->rng = s->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    j->lease_token = (int64_t)(s->rng >> 2) + 1;
    j->lease_until = now + j->lease_ms;
    j->attempts++;
    j->state = JOB_RUNNING;
    if (!(st = q(s, Q_CLAIM_SET, err)))
        goto fail;
    sqlite3_bind_int64(st, 1, j->rid);
    sqlite3_bind_int64(st, 2, j->lease_until);
    sqlite3_bind_int64(st, 3, j->lease_token);
    sqlite3_bind_int64(st, 4, now);
    if (step_done(s, st, err, "claim job") < 0)
        goto fail;
    if (!(st = q(s, Q_ATTEMPT_OPEN, err)))
        goto fail;
    sqlite3_bind_int64(st, 1, j->rid);
    sqlite3_bind_int(st, 2, j->attempts);
    sqlite3_bind_int64(st, 3, now);
    bind_text(st, 4, worker);
    if (step_done(s, st, err, "open attempt") < 0)
        goto fail;
    *out = j;
    return 1;
fail:
    job_free(j);
    return -1;
}

static int lite_claim(store_t *s, const char *worker, int64_t now, job_t **out, int64_t *next_due_ms, err_t *err)
{
    *out = NULL;
    if (next_due_ms)
        *next_due_ms = 0;
    if (begin_write(s, err) < 0)
        return -1;
    job_t *j = NULL;
    int rc = claim_locked(s, worker, now, &j, next_due_ms, err);
    if (rc <= 0) {
        rollback(s);
        return rc;
    }
    if (commit(s, err) < 0) {
        job_free(j);
        return -1;
    }
    *out = j;
    return 1;
}

static const char *outcome_name(job_state_t to)
{
    return to == JOB_DONE ? "done" : to == JOB_DEAD ? "dead" : "retry";
}

static int close_attempt(store_t *s, int64_t rid, int n, int64_t now, const char *outcome, const err_t *why,
                         const char *note, err_t *err)
{
    sqlite3_stmt *st = q(s, Q_ATTEMPT_CLOSE, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_int(st, 2, n);
    sqlite3_bind_int64(st, 3, now);
    bind_text(st, 4, outcome);
    bind_err(st, 5, why);
    bind_text(st, 11, note);
    return step_done(s, st, err, "close attempt") < 0 ? -1 : 0;
}

static int lite_finish_claim(store_t *s, const job_t *job, job_state_t to, int64_t run_at, const err_t *why,
                             const char *note, int64_t now, const char *worker, job_t **next, int64_t *next_due_ms,
                             err_t *err)
{
    if (next)
        *next = NULL;
    if (next_due_ms)
        *next_due_ms = 0;
    if (begin_write(s, err) < 0)
        return -1;
    int result = 0;
    sqlite3_stmt *st = q(s, Q_FINISH, err);
    if (!st)
        goto fail;
    bind_text(st, 1, job->id);
    sqlite3_bind_int64(st, 2, job->lease_token);
    sqlite3_bind_int(st, 3, (int)to);
    sqlite3_bind_int64(st, 4, to == JOB_RETRY ? run_at : job->run_at);
    sqlite3_bind_int64(st, 5, now);
    bind_err(st, 6, to == JOB_DONE ? NULL : why);
    if (step_done(s, st, err, "finish job") < 0)
        goto fail;
    if (sqlite3_changes(s->conn) == 0) {
        result = 1; /* the lease was lost: the reaper or an operator moved the job; our result is void */
    } else {
        if (close_attempt(s, job->rid, job->attempts, now, outcome_name(to), why, note, err) < 0)
            goto fail;
        if ((to == JOB_DONE || to == JOB_DEAD) && refresh_head(s, job->ordering_key, err) < 0)
            goto fail;
    }
    if (next && claim_locked(s, worker, now, next, next_due_ms, err) < 0)
        goto fail;
    if (commit(s, err) < 0) {
        if (next) {
            job_free(*next);
            *next = NULL;
        }
        return -1;
    }
    if (result == 0 && to != JOB_RETRY)
        lite_db_notify(s->db, 1); /* the next job of this key may be claimable now */
    return result;
fail:
    rollback(s);
    return -1;
}

static int lite_renew_lease(store_t *s, const char *id, int64_t token, int64_t until, err_t *err)
{
    if (begin_write(s, err) < 0)
        return -1;
    sqlite3_stmt *st = q(s, Q_RENEW, err);
    if (!st)
        goto fail;
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, token);
    sqlite3_bind_int64(st, 3, until);
    if (step_done(s, st, err, "renew lease") < 0)
        goto fail;
    int changed = sqlite3_changes(s->conn);
    if (commit(s, err) < 0)
        return -1;
    return changed ? 0 : 1;
fail:
    rollback(s);
    return -1;
}

static int lite_reap_expired(store_t *s, int64_t now, int *n, err_t *err)
{
    *n = 0;
    if (begin_write(s, err) < 0)
        return -1;
    sqlite3_stmt *st = q(s, Q_EXPIRED, err);
    if (!st)
        goto fail;
    sqlite3_bind_int64(st, 1, now);
    job_t *found[100];
    int nfound = 0, rc;
    while (nfound < 100 && (rc = step_done(s, st, err, "find expired leases")) == 1) {
        job_t *j = read_job(st);
        if (j)
            found[nfound++] = j;
    }
    sqlite3_reset(st);
    for (int i = 0; i < nfound; i++) {
        job_t *j = found[i];
        err_t why;
        bool dead = store__lost_error(j, &why);
        sqlite3_stmt *f = q(s, Q_FINISH, err);
        if (f) {
            bind_text(f, 1, j->id);
            sqlite3_bind_int64(f, 2, j->lease_token);
            sqlite3_bind_int(f, 3, dead ? JOB_DEAD : JOB_RETRY);
            sqlite3_bind_int64(f, 4, now);
            sqlite3_bind_int64(f, 5, now);
            bind_err(f, 6, &why);
        }
        if (!f || step_done(s, f, err, "requeue expired") < 0 ||
            close_attempt(s, j->rid, j->attempts, now, "lost", &why, NULL, err) < 0 ||
            (dead && refresh_head(s, j->ordering_key, err) < 0)) {
            for (int k = i; k < nfound; k++)
                job_free(found[k]);
            goto fail;
        }
        job_free(j);
        (*n)++;
    }
    if (commit(s, err) < 0)
        return -1;
    if (*n)
        lite_db_notify(s->db, -1);
    return 0;
fail:
    rollback(s);
    return -1;
}

static int lite_prune(store_t *s, int64_t older_than, int limit, int *n, err_t *err)
{
    *n = 0;
    char sql[512];
    snprintf(sql, sizeof(sql),
             "CREATE TEMP TABLE IF NOT EXISTS prune_ids(rid INTEGER PRIMARY KEY);"
             "DELETE FROM prune_ids;"
             "INSERT INTO prune_ids SELECT rid FROM jobs WHERE state IN (3, 5) AND updated_at < %lld LIMIT %d;"
             "DELETE FROM attempts WHERE job_rid IN (SELECT rid FROM prune_ids);"
             "DELETE FROM jobs WHERE rid IN (SELECT rid FROM prune_ids);",
             (long long)older_than, limit);
    if (begin_write(s, err) < 0)
        return -1;
    if (exec(s, sql, err) < 0) {
        rollback(s);
        return -1;
    }
    *n = sqlite3_changes(s->conn);
    return commit(s, err);
}

/* ---- operator ---------------------------------------------------------------------------------------------- */

/* Find one job by full id or a unique prefix. 1 found, 0 not found, -1 error. */
static int find_job(store_t *s, const char *id, job_t **out, err_t *err)
{
    *out = NULL;
    size_t len = strlen(id);
    if (store__check_job_id(id, err) < 0)
        return -1;
    sqlite3_stmt *st;
    if (len == JOB_ID_LEN) {
        if (!(st = q(s, Q_BY_ID, err)))
            return -1;
        bind_text(st, 1, id);
    } else {
        char hi[JOB_ID_LEN + 2];
        snprintf(hi, sizeof(hi), "%sg", id); /* 'g' sorts after every hex digit */
        if (!(st = q(s, Q_BY_PREFIX, err)))
            return -1;
        bind_text(st, 1, id);
        bind_text(st, 2, hi);
    }
    int rc = step_done(s, st, err, "find job");
    if (rc <= 0)
        return rc;
    job_t *j = read_job(st);
    if (len < JOB_ID_LEN && step_done(s, st, err, "find job") == 1) {
        sqlite3_reset(st);
        job_free(j);
        return err_set(err, ERR_DATA, "job.ambiguous", "job id prefix '%s' matches more than one job; give more digits",
                       id);
    }
    sqlite3_reset(st);
    if (!j)
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    *out = j;
    return 1;
}

static int lite_job_get(store_t *s, const char *id, job_t **out, err_t *err)
{
    return find_job(s, id, out, err);
}

static int set_state(store_t *s, const job_t *j, job_state_t to, int64_t now, err_t *err)
{
    sqlite3_stmt *st = q(s, Q_OPERATE, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, j->rid);
    sqlite3_bind_int(st, 2, (int)to);
    sqlite3_bind_int64(st, 3, now);
    if (step_done(s, st, err, "change job state") < 0)
        return -1;
    return refresh_head(s, j->ordering_key, err);
}

/* The transition of store_operate inside the caller's write transaction (store_audit.c records the action in the
 * same one). Nothing is committed or rolled back here. */
int store__operate_locked(store_t *s, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1],
                          err_t *err)
{
    job_t *j = NULL;
    int rc = find_job(s, id, &j, err);
    if (rc == 0)
        err_set(err, ERR_DATA, "job.not_found", "no job with id %s", id);
    if (rc <= 0)
        return -1;
    rc = -1;
    if (store__check_operation(j, op, err) == 0 &&
        set_state(s, j, op == STORE_OP_DISCARD ? JOB_DISCARDED : JOB_QUEUED, now, err) == 0) {
        if (out_id)
            memcpy(out_id, j->id, JOB_ID_LEN + 1);
        rc = 0;
    }
    job_free(j);
    return rc;
}

static int lite_operate(store_t *s, const char *id, store_op_t op, int64_t now, char out_id[JOB_ID_LEN + 1], err_t *err)
{
    if (begin_write(s, err) < 0)
        return -1;
    if (store__operate_locked(s, id, op, now, out_id, err) < 0) {
        rollback(s);
        return -1;
    }
    if (commit(s, err) < 0)
        return -1;
    lite_db_notify(s->db, 1);
    return 0;
}

/* Every DEAD job of a class: the bulk path of store_audit.c, without a code filter and without an audit entry. */
static int lite_retry_dead(store_t *s, err_class_t cls, int64_t now, int *n, err_t *err)
{
    return store__lite_bulk_as(s, NULL, STORE_OP_RETRY, cls, NULL, now, n, err);
}

/* ---- reading ----------------------------------------------------------------------------------------------- */

static int lite_attempts(store_t *s, const job_t *job, job_attempt_t **out, size_t *n, err_t *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = q(s, Q_ATTEMPTS, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, job->rid);
    int rc;
    while ((rc = step_done(s, st, err, "read attempts")) == 1) {
        job_attempt_t *g = realloc(*out, (*n + 1) * sizeof(*g));
        if (!g) {
            sqlite3_reset(st);
            return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        }
        *out = g;
        job_attempt_t *a = &g[(*n)++];
        memset(a, 0, sizeof(*a));
        a->n = sqlite3_column_int(st, 0);
        a->started_at = sqlite3_column_int64(st, 1);
        a->finished_at = sqlite3_column_int64(st, 2);
        col_copy(st, 3, a->outcome, sizeof(a->outcome));
        col_copy(st, 4, a->worker, sizeof(a->worker));
        read_err(st, 5, &a->error);
        /* A note on a successful attempt ("skipped: stale event") travels in the message field of the attempt's
         * err_t; `jobs show --json` prints it as "note". */
        if (a->error.cls == ERR_NONE)
            col_copy(st, 11, a->error.message, sizeof(a->error.message));
    }
    sqlite3_reset(st);
    return rc < 0 ? -1 : 0;
}

static int lite_list(store_t *s, const store_filter_t *f, job_t ***out, size_t *n, err_t *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    const char *sql = "SELECT " STORE_JOB_COLS " FROM jobs WHERE (?1 < 0 OR state = ?1) AND (?2 IS NULL OR kind = ?2)"
                      " ORDER BY updated_at DESC, rid DESC LIMIT ?3";
    if (sqlite3_prepare_v2(s->conn, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_error(s, err, "list jobs");
    sqlite3_bind_int(st, 1, f ? f->state : -1);
    bind_text(st, 2, f ? f->kind : NULL);
    sqlite3_bind_int(st, 3, f && f->limit > 0 ? f->limit : 100);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        job_t **g = realloc(*out, (*n + 1) * sizeof(*g));
        job_t *j = read_job(st);
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
        sql_error(s, err, "list jobs");
        sqlite3_finalize(st);
        job_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

static int lite_stats(store_t *s, int64_t now, store_stats_t *out, err_t *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    const char *sql =
        "SELECT state, count(*), NULL FROM jobs GROUP BY state"
        " UNION ALL SELECT -1, min(created_at), NULL FROM jobs WHERE state = 0"
        " UNION ALL SELECT -2, min(run_at), NULL FROM jobs INDEXED BY jobs_claim WHERE ready = 1 AND state IN (0, 2) AND run_at <= ?1"
        " UNION ALL SELECT -3, count(*), NULL FROM attempts WHERE outcome = 'retry' AND finished_at >= ?1 - 3600000";
    if (sqlite3_prepare_v2(s->conn, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_error(s, err, "stats");
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
        return sql_error(s, err, "stats");
    return 0;
}

/* ---- readiness: is there room for a new delivery? (issue 13, item 4) ------------------------------------------ */

/* Room a new delivery needs: a large order with its index entries and WAL frames. */
#define PROBE_ROOM_BYTES (64 * 1024)

/* Rewriting an existing row (the probe below) fits in pages the store already has, so it succeeds on a full disk
 * or at [store] max_size while every new delivery gets 503. Check the room itself: the file system's free space,
 * and new pages under max_page_count (a row of that size inserted and rolled back: nothing is written). */
static int lite_room(store_t *s, err_t *err)
{
    struct statvfs vfs;
    if (statvfs(s->db->path, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < PROBE_ROOM_BYTES) {
        err_set(err, ERR_TRANSIENT, "store.full", "the file system of the store %s has less than %d KiB free",
                s->db->path, PROBE_ROOM_BYTES / 1024);
        return -1;
    }
    if (s->db->max_size <= 0)
        return 0;
    char sql[160];
    snprintf(sql, sizeof(sql), "SAVEPOINT room; INSERT INTO meta(key, value) VALUES('ready_probe_room', "
                               "zeroblob(%d));", PROBE_ROOM_BYTES);
    int rc = exec(s, sql, err);
    err_t ignored;
    if (exec(s, "ROLLBACK TO room; RELEASE room;", &ignored) < 0)
        rc = -1; /* the caller rolls the whole transaction back */
    return rc;
}

static int lite_probe_write(store_t *s, err_t *err)
{
    if (begin_write(s, err) < 0)
        return -1;
    if (exec(s, "INSERT INTO meta(key, value) VALUES('ready_probe', strftime('%s','now'))"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
             err) < 0 ||
        lite_room(s, err) < 0) {
        rollback(s);
        return -1;
    }
    return commit(s, err);
}

/* ---- links ----------------------------------------------------------------------------------------------- */

/* The statement `which` with a link's key bound to ?1..?4. */
static sqlite3_stmt *link_stmt(store_t *s, int which, const char *system, const char *shop, const char *type,
                               const char *external_id, err_t *err)
{
    sqlite3_stmt *st = q(s, which, err);
    if (st) {
        bind_text(st, 1, system);
        bind_text(st, 2, shop);
        bind_text(st, 3, type);
        bind_text(st, 4, external_id);
    }
    return st;
}

static int lite_link_get(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                         store_link_t *out, err_t *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = link_stmt(s, Q_LINK_GET, system, shop, type, external_id, err);
    if (!st)
        return -1;
    int rc = step_done(s, st, err, "read link");
    if (rc == 1) {
        col_copy(st, 0, out->odoo_model, sizeof(out->odoo_model));
        out->odoo_id = sqlite3_column_int64(st, 1);
        out->version = sqlite3_column_int64(st, 2);
        col_copy(st, 3, out->state, sizeof(out->state));
        out->extra = col_dup(st, 4);
        out->updated_at = sqlite3_column_int64(st, 5);
    }
    sqlite3_reset(st);
    return rc;
}

/* Write n link rows (l = NULL removes them) in one transaction: all or none. */
static int link_write(store_t *s, const char *system, const char *shop, const char *type,
                      const char *const *external_ids, const store_link_t *l, size_t n, err_t *err)
{
    if (begin_write(s, err) < 0)
        return -1;
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = link_stmt(s, l ? Q_LINK_PUT : Q_LINK_DEL, system, shop, type, external_ids[i], err);
        if (!st)
            goto fail;
        if (l) {
            bind_text(st, 5, l[i].odoo_model);
            sqlite3_bind_int64(st, 6, l[i].odoo_id);
            sqlite3_bind_int64(st, 7, l[i].version);
            bind_text(st, 8, l[i].state[0] ? l[i].state : NULL);
            bind_text(st, 9, l[i].extra);
            sqlite3_bind_int64(st, 10, now);
        }
        if (step_done(s, st, err, l ? "write link" : "forget link") < 0)
            goto fail;
    }
    return commit(s, err);
fail:
    rollback(s);
    return -1;
}

static int lite_link_put(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                         const store_link_t *l, err_t *err)
{
    return link_write(s, system, shop, type, &external_id, l, 1, err);
}

static int lite_links_put(store_t *s, const char *system, const char *shop, const char *type,
                          const char *const *external_ids, const store_link_t *links, size_t n, err_t *err)
{
    return n ? link_write(s, system, shop, type, external_ids, links, n, err) : 0;
}

static int lite_links_each(store_t *s, const char *system, const char *shop, const char *type, store_link_fn fn,
                           void *ud, err_t *err)
{
    /* Pages of 200 keyed on external_id, each read then released before fn runs: fn may write (a link, a job)
     * on this same connection without meeting a read snapshot left open. */
    char after[256] = "";
    for (;;) {
        store_link_t page[200];
        char ids[200][sizeof(after)];
        size_t n = 0;
        sqlite3_stmt *st = link_stmt(s, Q_LINK_EACH, system, shop, type, after, err);
        if (!st)
            return -1;
        int rc;
        while (n < 200 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            store_link_t *l = &page[n];
            memset(l, 0, sizeof(*l));
            col_copy(st, 0, l->odoo_model, sizeof(l->odoo_model));
            l->odoo_id = sqlite3_column_int64(st, 1);
            l->version = sqlite3_column_int64(st, 2);
            col_copy(st, 3, l->state, sizeof(l->state));
            l->extra = col_dup(st, 4);
            l->updated_at = sqlite3_column_int64(st, 5);
            col_copy(st, 6, ids[n], sizeof(ids[n]));
            n++;
        }
        if (n < 200 && rc != SQLITE_DONE) {
            sqlite3_reset(st);
            for (size_t i = 0; i < n; i++)
                store_link_release(&page[i]);
            return sql_error(s, err, "list links");
        }
        sqlite3_reset(st);
        int stop = 0;
        for (size_t i = 0; i < n; i++) {
            if (!stop && fn(ids[i], &page[i], ud) != 0)
                stop = 1;
            store_link_release(&page[i]);
        }
        if (stop || n < 200)
            return 0;
        snprintf(after, sizeof(after), "%s", ids[n - 1]);
    }
}

static int lite_link_find(store_t *s, const char *system, const char *shop, const char *type, const char *odoo_model,
                          int64_t odoo_id, char *external_id, size_t n, err_t *err)
{
    external_id[0] = '\0';
    sqlite3_stmt *st = link_stmt(s, Q_LINK_FIND, system, shop, type, "", err);
    if (!st)
        return -1;
    bind_text(st, 5, odoo_model);
    sqlite3_bind_int64(st, 6, odoo_id);
    int rc = step_done(s, st, err, "find link");
    if (rc == 1)
        col_copy(st, 0, external_id, n);
    sqlite3_reset(st);
    return rc;
}

static int lite_cursor_get(store_t *s, const char *name, char *out, size_t n, err_t *err)
{
    out[0] = '\0';
    sqlite3_stmt *st = q(s, Q_CURSOR_GET, err);
    if (!st)
        return -1;
    bind_text(st, 1, name);
    int rc = step_done(s, st, err, "read cursor");
    if (rc == 1)
        col_copy(st, 0, out, n);
    sqlite3_reset(st);
    return rc;
}

static int lite_cursor_put(store_t *s, const char *name, const char *value, err_t *err)
{
    if (begin_write(s, err) < 0)
        return -1;
    sqlite3_stmt *st = q(s, Q_CURSOR_PUT, err);
    if (!st) {
        rollback(s);
        return -1;
    }
    bind_text(st, 1, name);
    bind_text(st, 2, value);
    if (step_done(s, st, err, "write cursor") < 0) {
        rollback(s);
        return -1;
    }
    return commit(s, err);
}

static int lite_key_live(store_t *s, const char *ordering_key, int64_t *n, err_t *err)
{
    *n = 0;
    sqlite3_stmt *st = q(s, Q_KEY_LIVE, err);
    if (!st)
        return -1;
    bind_text(st, 1, ordering_key);
    int rc = step_done(s, st, err, "count live jobs");
    if (rc == 1)
        *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc < 0 ? -1 : 0;
}

static int lite_link_forget(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                            err_t *err)
{
    return link_write(s, system, shop, type, &external_id, NULL, 1, err);
}

/* ---- internal interface for the store's other files (store_internal.h) ------------------------------------ */

sqlite3 *store__conn(store_t *s)
{
    return s->conn;
}

int store__begin_write(store_t *s, err_t *err)
{
    return begin_write(s, err);
}

int store__commit(store_t *s, err_t *err)
{
    return commit(s, err);
}

void store__rollback(store_t *s)
{
    rollback(s);
}

store_db_t *store__db(store_t *s)
{
    return s->db;
}

int store__set_state(store_t *s, const job_t *j, job_state_t to, int64_t now, err_t *err)
{
    return set_state(s, j, to, now, err);
}

int store__sql_error(store_t *s, err_t *err, const char *what)
{
    return sql_error(s, err, what);
}

job_t *store__read_job(sqlite3_stmt *st)
{
    return read_job(st);
}

int store__read_jobs(store_t *s, sqlite3_stmt *st, job_t ***out, size_t *n, err_t *err, const char *what)
{
    size_t cap = 0;
    int rc;
    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            job_t **grown = realloc(*out, cap * sizeof(**out));
            if (!grown)
                break;
            *out = grown;
        }
        job_t *j = read_job(st);
        if (!j)
            break;
        (*out)[(*n)++] = j;
    }
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_ROW)
            err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        else
            sql_error(s, err, what);
        sqlite3_finalize(st);
        job_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}
/* One serving process per SQLite store (cmd_serve's lock file): it is the leader of everything. */
static int lite_leader_try(store_t *s, const char *name, bool *leader, err_t *err)
{
    (void)s;
    (void)name;
    (void)err;
    *leader = true;
    return 0;
}

/* ---- the engine table (store.c dispatches through it) ------------------------------------------------------- */

const store_engine_t store__sqlite_engine = {
    .name = "sqlite",
    .db_close = lite_db_close,
    .db_set_max_size = lite_db_set_max_size,
    .db_notify = lite_db_notify,
    .db_wait = lite_db_wait,
    .db_path = lite_db_path,
    .connect = lite_connect,
    .disconnect = lite_disconnect,
    .checkpoint = lite_checkpoint,
    .enqueue = lite_enqueue,
    .claim = lite_claim,
    .finish_claim = lite_finish_claim,
    .renew_lease = lite_renew_lease,
    .reap_expired = lite_reap_expired,
    .prune = lite_prune,
    .operate = lite_operate,
    .retry_dead = lite_retry_dead,
    .job_get = lite_job_get,
    .attempts = lite_attempts,
    .list = lite_list,
    .stats = lite_stats,
    .probe_write = lite_probe_write,
    .link_get = lite_link_get,
    .link_put = lite_link_put,
    .link_forget = lite_link_forget,
    .links_put = lite_links_put,
    .links_each = lite_links_each,
    .link_find = lite_link_find,
    .cursor_get = lite_cursor_get,
    .cursor_put = lite_cursor_put,
    .key_live = lite_key_live,
    .effects_add = store__lite_effects_add,
    .effects_list = store__lite_effects_list,
    .effects_prune = store__lite_effects_prune,
    .jobs_by = store__lite_jobs_by,
    .job_by_payload = store__lite_job_by_payload,
    .link_by_extra = store__lite_link_by_extra,
    .leader_try = lite_leader_try,
    .audit_add = store__lite_audit_add,
    .audit_list = store__lite_audit_list,
    .operate_as = store__lite_operate_as,
    .bulk_as = store__lite_bulk_as,
    .failures = store__lite_failures,
    .activity = store__lite_activity,
    .jobs_query = store__lite_jobs_query,
    .queue_depth = store__lite_queue_depth,
    .effects_by_target = store__lite_effects_by_target,
};
