/* store_sqlite: the embedded store (SQLite, WAL). Implements store.h through store__sqlite_engine (store.c
 * forwards the public calls here); this file holds the schema, the database and its connections, and the engine
 * table, whose functions live in store_sqlite_<concern>.c (jobs, effects, audit, ops, metrics; statements and
 * transactions in _sql.c), each next to its PostgreSQL twin store_pg_<concern>.c. Writers of one process queue
 * on an in-process mutex before BEGIN IMMEDIATE: SQLite's own busy handler sleeps in steps of milliseconds, which
 * would put those steps straight into the webhook ack latency; the busy timeout then only matters against other
 * processes (the CLI). Checkpoints run from the housekeeping thread (store_checkpoint), never inside a commit on
 * the ack path. */
#define _GNU_SOURCE
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "store/store_engine.h"
#include "store/store_sqlite.h"
#include "store/store_payload.h"
#include "store/store_vfs.h"

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
    /* 7: a claim writes no attempt row (issue 18: one attempts write per attempt, when it ends); the worker of the
     * running attempt is kept on the job's row, beside its start (updated_at), for jobs show and the dashboard. */
    "ALTER TABLE jobs ADD COLUMN worker TEXT;"
    "UPDATE jobs SET worker = (SELECT a.worker FROM attempts a WHERE a.job_rid = jobs.rid AND a.n = jobs.attempts)"
    " WHERE state = 1;",
    /* 8: fewer index writes per job (issue 18; PostgreSQL's migration 6 did the same). jobs_state (state,
     * updated_at) covered every job, done ones included, and a claim and a finish each change its key: two
     * delete+insert pairs in it per drained job, on the dispatcher's commit path. What read it now reads narrower
     * partial indexes: live jobs through jobs_key (its predicate was state IN (0, 1, 2); see 9), done and
     * discarded ones through jobs_finished (prune, counts by state; written once, when a job finishes), dead ones
     * through jobs_dead. No reader walks the done jobs' rows any more. */
    "DROP INDEX jobs_state;"
    "CREATE INDEX jobs_finished ON jobs(state, updated_at) WHERE state IN (3, 5);"
    "CREATE INDEX jobs_dead ON jobs(updated_at) WHERE state = 4;",
    /* 9: a claim leaves jobs_key alone (issue 18). Its predicate named state, which every claim changes (0 to 1),
     * and SQLite rewrites a partial index's entry whenever a column of its WHERE changes, even an entry that stays
     * as it was: a delete and an insert, in a page of their own, for every claimed job. finished_at is NULL exactly
     * while a job is live (queued, running, waiting to retry): set by the finish that makes it done or dead and by
     * a discard, cleared by an operator's retry, never written by a claim. The two UPDATEs first bring any row an
     * older binary left otherwise to that rule, so the index holds the same jobs as before. */
    "UPDATE jobs SET finished_at = updated_at WHERE state NOT IN (0, 1, 2) AND finished_at IS NULL;"
    "UPDATE jobs SET finished_at = NULL WHERE state IN (0, 1, 2) AND finished_at IS NOT NULL;"
    "DROP INDEX jobs_key;"
    "CREATE INDEX jobs_key ON jobs(okey, event_time, rid) WHERE finished_at IS NULL;",
};

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
        return store__sql_error(s, err, "read schema version");
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
        if (store__begin_write(s, err) < 0)
            return -1;
        if (store__lite_exec(s, migrations[v], err) < 0 || store__lite_exec(s, pragma, err) < 0) {
            store__rollback(s);
            return -1;
        }
        if (store__commit(s, err) < 0)
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
    pthread_mutex_init(&db->wturn, NULL);
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
    pthread_mutex_destroy(&db->wturn);
    pthread_mutex_destroy(&db->wake_mu);
    pthread_cond_destroy(&db->wake_cv);
    free(db->path);
    free(db);
}

static void lite_db_set_max_size(store_db_t *db, int64_t bytes)
{
    db->max_size = bytes;
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

/* Page cache per connection, in KiB (negative cache_size). Every connection has its own, so they add up: the
 * durable ones (the ack path's writer, each pool's dispatcher) walk the whole queue and get more; the others (worker
 * handlers, the CLI, housekeeping) read little. Together they keep a node with 100k queued jobs under ~30 MB. */
#define STORE_CACHE_KIB_DURABLE (-6000)
#define STORE_CACHE_KIB_OTHER (-2000)

static store_t *lite_connect(store_db_t *db, bool durable, int64_t busy_timeout_ms, err_t *err)
{
    store_t *s = calloc(1, sizeof(*s));
    if (!s) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        return NULL;
    }
    s->eng = &store__sqlite_engine;
    s->db = db;
    s->wal_fd = -1;
    s->rng = crypto_random_u64();
    /* Every connection's checkpoints sync the database file in steps; a durable connection syncs the WAL at every
     * commit, so its WAL writes can also be gathered into one call per commit (store_vfs.c). If the VFS cannot be
     * registered, the default one does the same, call by call, with one sync at the end of each checkpoint. */
    const char *vfs = store__vfs_register() != SQLITE_OK ? NULL : durable ? STORE_VFS_DURABLE : STORE_VFS;
    int rc = sqlite3_open_v2(db->path, &s->conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             vfs);
    if (rc != SQLITE_OK) {
        err_set(err, ERR_CONFIGURATION, "store.open", "cannot open the store %s: %s", db->path,
                s->conn ? sqlite3_errmsg(s->conn) : sqlite3_errstr(rc));
        err_hint(err, "check that the folder exists and is writable by the synchub user");
        lite_disconnect(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->conn, (int)(busy_timeout_ms > 0 ? busy_timeout_ms : db->busy_timeout_ms));
    if (store_payload_register(s->conn) != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, "store.open", "cannot register synchub_payload() on %s: %s", db->path,
                sqlite3_errmsg(s->conn));
        lite_disconnect(s);
        return NULL;
    }
    /* WAL: readers never block the writer. synchronous=FULL fsyncs the WAL at every store__commit (the ack path);
     * NORMAL keeps commits atomic and crash-safe but leaves the fsync to the next FULL commit or checkpoint.
     * Automatic checkpoints are off: lite_checkpoint() runs them off the ack path. */
    char pragmas[256];
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s; PRAGMA wal_autocheckpoint = 0;"
             "PRAGMA temp_store = MEMORY; PRAGMA cache_size = %d;",
             durable ? "FULL" : "NORMAL", durable ? STORE_CACHE_KIB_DURABLE : STORE_CACHE_KIB_OTHER);
    if (store__lite_exec(s, pragmas, err) < 0) {
        lite_disconnect(s);
        return NULL;
    }
    if (db->max_size > 0) {
        /* max_page_count counts pages of the database file; the WAL is bounded by the rewinds (store_checkpoint) */
        snprintf(pragmas, sizeof(pragmas), "PRAGMA max_page_count = %lld;",
                 (long long)(db->max_size / store__lite_query_int(s, "PRAGMA page_size", 4096)));
        if (store__lite_exec(s, pragmas, err) < 0) {
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
    store__rollback(s);
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    if (s->wal_fd >= 0) {
        /* commits not synced yet: on disk before the connection is gone, as a durable one's would be */
        (void)fdatasync(s->wal_fd);
        close(s->wal_fd);
    }
    sqlite3_close_v2(s->conn);
    store_packer_free(s->packer);
    free(s);
}

/* The WAL file stays open as long as the connection: SQLite deletes it only when the last connection to the
 * database closes, so the fd opened here names the file the connection's commits go to. A connection whose WAL
 * is not through store_vfs's durable variant (the VFS could not be registered, or the connection is not durable)
 * keeps syncing at commit. */
static int lite_defer_sync(store_t *s)
{
    if (s->wal_fd >= 0)
        return 1;
    sqlite3_file *wal = NULL;
    const char *db_file = sqlite3_db_filename(s->conn, "main");
    if (sqlite3_file_control(s->conn, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK || !wal || !db_file)
        return 0;
    int fd = open(sqlite3_filename_wal(db_file), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (store__vfs_defer_wal(wal) < 0) {
        close(fd);
        return 0;
    }
    s->wal_fd = fd;
    return 1;
}

static int lite_sync(store_t *s, err_t *err)
{
    if (s->wal_fd < 0 || fdatasync(s->wal_fd) == 0)
        return 0;
    int e = errno;
    err_set(err, ERR_TRANSIENT, "store.sync", "cannot sync the log of the store %s: %s", s->db->path, strerror(e));
    err_hint(err, "check the disk and the file system of the store (dmesg); results recorded since the last sync may "
                  "be lost on a crash and those jobs then run again");
    return -1;
}

/* Past this many frames (about 32 MiB with 4 KiB pages) the log is rewound. */
#define STORE_WAL_REWIND_FRAMES 8192
/* Before a rewind, unlocked PASSIVE passes chase the writers until one of them finds fewer than this many new
 * frames (or STORE_WAL_CATCHUP_PASSES have run): the rewind then copies only that remainder under the lock. */
#define STORE_WAL_CATCHUP_FRAMES 256
#define STORE_WAL_CATCHUP_PASSES 4

static int lite_checkpoint(store_t *s, err_t *err)
{
    /* PASSIVE copies what it can without blocking anyone. But while writers keep appending, the log is rarely
     * rewound by itself (SQLite rewinds it only when a write begins after a checkpoint copied every frame), so it
     * grows and each append extends the file (the kernel zeroes every fresh block). Once it is large, a RESTART
     * under the in-process write lock makes the next writer reuse it from the start, on blocks already allocated.
     * That RESTART holds this process's writers — and every webhook waiting for its ack — while it copies what
     * the PASSIVE pass left and fsyncs the database file. Under load (bench/ingest.sh -c64) it ran every few
     * ticks and found the 300–800 frames written during the pass. So the frames written during a pass are first
     * copied by further unlocked passes, each shorter than the one before, and the lock is taken once a pass
     * found fewer than STORE_WAL_CATCHUP_FRAMES new ones: the RESTART then copies about 200 (issue 18). It takes
     * the lock next, after the transaction running then (store__lock_writers_next): a writer that commits back to
     * back kept it waiting through dozens of commits, and the log grew by thousands of frames meanwhile. Every
     * pass writes the database file in synced steps (store_vfs.c), so the ack path's WAL syncs pass between them
     * instead of waiting behind one flush of everything copied.
     * A checkpoint must find the log on disk before it copies any of it into the database (SQLite syncs it first
     * for that, and on a deferred connection that sync stops short of the disk): such a connection syncs here. */
    if (s->wal_fd >= 0 && lite_sync(s, err) < 0)
        return -1;
    int log_frames = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(s->conn, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied);
    if (rc == SQLITE_OK && log_frames > STORE_WAL_REWIND_FRAMES) {
        for (int pass = 1; pass < STORE_WAL_CATCHUP_PASSES; pass++) {
            int before = copied;
            rc = sqlite3_wal_checkpoint_v2(s->conn, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied);
            if (rc != SQLITE_OK || copied - before < STORE_WAL_CATCHUP_FRAMES)
                break;
        }
    }
    if (rc == SQLITE_OK && log_frames > STORE_WAL_REWIND_FRAMES) {
        /* A PASSIVE pass that could not finish leaves the pages it copied unsynced; RESTART would fsync them all
         * while holding the writers. Flush them first, without the lock, through this connection's own file
         * handle: opening and closing another descriptor of the database file would drop every POSIX lock this
         * process holds on it (SQLite's documented way to corrupt a database). */
        sqlite3_file *f = NULL;
        if (sqlite3_file_control(s->conn, "main", SQLITE_FCNTL_FILE_POINTER, &f) == SQLITE_OK && f && f->pMethods)
            f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
        store__lock_writers_next(s->db);
        rc = sqlite3_wal_checkpoint_v2(s->conn, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        store__unlock_writers(s->db);
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        return store__sql_error(s, err, "checkpoint");
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
    int rc = store__lite_exec(s, sql, err);
    err_t ignored;
    if (store__lite_exec(s, "ROLLBACK TO room; RELEASE room;", &ignored) < 0)
        rc = -1; /* the caller rolls the whole transaction back */
    return rc;
}

static int lite_probe_write(store_t *s, err_t *err)
{
    if (store__begin_write(s, err) < 0)
        return -1;
    if (store__lite_exec(s, "INSERT INTO meta(key, value) VALUES('ready_probe', strftime('%s','now'))"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
             err) < 0 ||
        lite_room(s, err) < 0) {
        store__rollback(s);
        return -1;
    }
    return store__commit(s, err);
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
    .db_notify = store__lite_db_notify,
    .db_wait = lite_db_wait,
    .db_path = lite_db_path,
    .connect = lite_connect,
    .disconnect = lite_disconnect,
    .checkpoint = lite_checkpoint,
    .enqueue = store__lite_enqueue,
    .claim = store__lite_claim,
    .finish_claim = store__lite_finish_claim,
    .finish_batch = store__lite_finish_batch,
    .renew_lease = store__lite_renew_lease,
    .reap_expired = store__lite_reap_expired,
    .prune = store__lite_prune,
    .operate = store__lite_operate,
    .retry_dead = store__lite_retry_dead,
    .job_get = store__lite_job_get,
    .attempts = store__lite_attempts,
    .list = store__lite_list,
    .stats = store__lite_stats,
    .probe_write = lite_probe_write,
    .link_get = store__lite_link_get,
    .link_put = store__lite_link_put,
    .link_forget = store__lite_link_forget,
    .links_put = store__lite_links_put,
    .links_each = store__lite_links_each,
    .link_find = store__lite_link_find,
    .cursor_get = store__lite_cursor_get,
    .cursor_put = store__lite_cursor_put,
    .key_live = store__lite_key_live,
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
    .pause = store__lite_pause,
    .resume = store__lite_resume,
    .unclaim = store__lite_unclaim,
    .defer_sync = lite_defer_sync,
    .sync = lite_sync,
};
