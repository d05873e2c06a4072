/* store_vfs: synchub's SQLite VFS over the default one (see store_vfs.h). Two kinds of file are its own: the WAL of
 * a durable connection, whose writes are gathered into one buffer until SQLite next syncs, reads, truncates, asks
 * the size of, or closes the file, or writes somewhere other than right after the buffered bytes (so the file sees
 * the same bytes in the same order, in fewer calls, and everything is in the file before the sync that makes a
 * commit durable and, after it, visible); and every connection's database file, synced in steps while a checkpoint
 * writes it. Every other file (another connection's WAL, a rollback journal, temporary files) is the default VFS's.
 * Not here: the choice of variant (lite_connect), when to checkpoint (lite_checkpoint). */
#include "store/store_vfs.h"

#include <pthread.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <string.h>

/* 30 frames of 4 KiB pages; a bigger commit flushes in steps of this. It must stay below 128 KiB: the unix VFS
 * writes at most 0x1ffff bytes per call (seekAndWriteFd masks the length) and reports a longer write as a full
 * disk. */
#define WALBUF_CAP (120 * 1024)

typedef struct walbuf_file {
    sqlite3_file base;       /* first member: SQLite sees this */
    sqlite3_file *real;      /* the default VFS's file, at REAL_OFFSET in the same memory */
    unsigned char *buf;      /* WALBUF_CAP bytes, allocated at the first write */
    int len;
    sqlite3_int64 off;       /* file offset of buf[0] */
    bool defer;              /* store__vfs_defer_wal: a sync writes the buffer out and leaves the fsync to the owner */
} walbuf_file_t;

/* A database file. In WAL mode only a checkpoint writes it: the pages it copies from the log, in page order. */
typedef struct db_file {
    sqlite3_file base;       /* first member: SQLite sees this */
    sqlite3_file *real;      /* the default VFS's file, at REAL_OFFSET in the same memory */
    long long unsynced;      /* bytes written since the last sync */
    long long steps;         /* syncs made here, between SQLite's own */
} db_file_t;

/* Where a file of ours keeps the default VFS's file: after the larger of our two structs (szOsFile counts it). */
#define REAL_OFFSET (sizeof(walbuf_file_t) > sizeof(db_file_t) ? sizeof(walbuf_file_t) : sizeof(db_file_t))

/* Written once, under pthread_once (register_once), then only read: SQLite keeps a pointer to the registered VFS
 * for the life of the process, so it cannot live in a store object. */
static sqlite3_vfs *real_vfs;
static sqlite3_vfs vfs_plain, vfs_durable;

/* ---- the WAL of a durable connection: writes gathered until its sync ------------------------------------------ */

static int flush(walbuf_file_t *f)
{
    if (f->len == 0)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, f->len, f->off);
    f->len = 0;   /* on failure the bytes are dropped, as an unbuffered write that failed would be */
    return rc;
}

static int wb_close(sqlite3_file *file)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f);
    int rc2 = f->real->pMethods->xClose(f->real);
    sqlite3_free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *file, void *out, int n, sqlite3_int64 off)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, n, off);
}

static int wb_write(sqlite3_file *file, const void *data, int n, sqlite3_int64 off)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    if (f->len > 0 && (off != f->off + f->len || f->len + n > WALBUF_CAP)) {
        int rc = flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (n > WALBUF_CAP)
        return f->real->pMethods->xWrite(f->real, data, n, off);
    if (!f->buf && !(f->buf = sqlite3_malloc(WALBUF_CAP)))
        return f->real->pMethods->xWrite(f->real, data, n, off);   /* no memory: write through, unbuffered */
    if (f->len == 0)
        f->off = off;
    memcpy(f->buf + f->len, data, (size_t)n);
    f->len += n;
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *file, int flags)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f);
    if (rc != SQLITE_OK || f->defer)
        return rc;   /* deferred: the frames are in the file, where other connections read them; not yet on disk */
    return f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_file_control(sqlite3_file *file, int op, void *arg)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

/* The rest passes straight through: locks and shared memory belong to the database file, not to the WAL. */
static int wb_lock(sqlite3_file *file, int lock)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    return f->real->pMethods->xLock(f->real, lock);
}

static int wb_unlock(sqlite3_file *file, int lock)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    return f->real->pMethods->xUnlock(f->real, lock);
}

static int wb_check_reserved_lock(sqlite3_file *file, int *out)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int wb_sector_size(sqlite3_file *file)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int wb_device_characteristics(sqlite3_file *file)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static const sqlite3_io_methods walbuf_methods = {
    .iVersion = 1,   /* no shared memory or memory mapping on a WAL file */
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved_lock,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device_characteristics,
};

int store__vfs_defer_wal(sqlite3_file *wal)
{
    if (!wal || wal->pMethods != &walbuf_methods)
        return -1;
    ((walbuf_file_t *)wal)->defer = true;
    return 0;
}

static int wal_open(const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)((char *)file + REAL_OFFSET);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    /* The real file's methods must be set even on failure when it has some to close; ours only on success. */
    f->base.pMethods = rc == SQLITE_OK && f->real->pMethods ? &walbuf_methods : NULL;
    if (rc != SQLITE_OK && f->real->pMethods)
        f->real->pMethods->xClose(f->real);
    return rc;
}

/* ---- the database file: synced in steps while a checkpoint writes it --------------------------------------- */

/* A checkpoint copies the log's pages into the database file and syncs it once at the end. Under load that is
 * several MiB (a 200 ms tick at 20k webhooks/s: ~15 MiB), and on a disk whose cache flush costs what it has to
 * write (seen on this project's VMs, bench/ingest.sh -c64) that one flush held the next WAL sync of the ack path
 * for 5–13 ms, every tick: the p99 of the acks. Synced every STORE_VFS_DB_STEP bytes, each flush is small and the
 * WAL's syncs pass between them (p99 at -c64 from 11.5–12.5 to 6.1–6.8 ms in the same window). Syncing a page of
 * the database earlier than SQLite would is always safe: the log still holds it until the checkpoint ends. */

static sqlite3_file *real_of(sqlite3_file *file)
{
    return ((db_file_t *)file)->real;
}

static int db_close(sqlite3_file *file)
{
    return real_of(file)->pMethods->xClose(real_of(file));
}

static int db_read(sqlite3_file *file, void *out, int n, sqlite3_int64 off)
{
    return real_of(file)->pMethods->xRead(real_of(file), out, n, off);
}

static int db_write(sqlite3_file *file, const void *data, int n, sqlite3_int64 off)
{
    db_file_t *f = (db_file_t *)file;
    int rc = f->real->pMethods->xWrite(f->real, data, n, off);
    if (rc != SQLITE_OK)
        return rc;
    f->unsynced += n;
    if (f->unsynced < STORE_VFS_DB_STEP)
        return SQLITE_OK;
    f->unsynced = 0;
    f->steps++;
    /* A failed step fails the write, so the checkpoint stops there and the log keeps every page it had. */
    return f->real->pMethods->xSync(f->real, SQLITE_SYNC_NORMAL);
}

static int db_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    return real_of(file)->pMethods->xTruncate(real_of(file), size);
}

static int db_sync(sqlite3_file *file, int flags)
{
    ((db_file_t *)file)->unsynced = 0;
    return real_of(file)->pMethods->xSync(real_of(file), flags);
}

static int db_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    return real_of(file)->pMethods->xFileSize(real_of(file), size);
}

static int db_lock(sqlite3_file *file, int lock)
{
    return real_of(file)->pMethods->xLock(real_of(file), lock);
}

static int db_unlock(sqlite3_file *file, int lock)
{
    return real_of(file)->pMethods->xUnlock(real_of(file), lock);
}

static int db_check_reserved_lock(sqlite3_file *file, int *out)
{
    return real_of(file)->pMethods->xCheckReservedLock(real_of(file), out);
}

static int db_file_control(sqlite3_file *file, int op, void *arg)
{
    return real_of(file)->pMethods->xFileControl(real_of(file), op, arg);
}

static int db_sector_size(sqlite3_file *file)
{
    return real_of(file)->pMethods->xSectorSize(real_of(file));
}

static int db_device_characteristics(sqlite3_file *file)
{
    return real_of(file)->pMethods->xDeviceCharacteristics(real_of(file));
}

/* The shared memory (the WAL's index) and memory mapping belong to the database file: passed straight through. */
static int db_shm_map(sqlite3_file *file, int region, int size, int extend, void volatile **out)
{
    return real_of(file)->pMethods->xShmMap(real_of(file), region, size, extend, out);
}

static int db_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    return real_of(file)->pMethods->xShmLock(real_of(file), offset, n, flags);
}

static void db_shm_barrier(sqlite3_file *file)
{
    real_of(file)->pMethods->xShmBarrier(real_of(file));
}

static int db_shm_unmap(sqlite3_file *file, int delete_flag)
{
    return real_of(file)->pMethods->xShmUnmap(real_of(file), delete_flag);
}

static int db_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **out)
{
    return real_of(file)->pMethods->xFetch(real_of(file), off, n, out);
}

static int db_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    return real_of(file)->pMethods->xUnfetch(real_of(file), off, p);
}

static const sqlite3_io_methods db_methods = {
    .iVersion = 3,
    .xClose = db_close,
    .xRead = db_read,
    .xWrite = db_write,
    .xTruncate = db_truncate,
    .xSync = db_sync,
    .xFileSize = db_file_size,
    .xLock = db_lock,
    .xUnlock = db_unlock,
    .xCheckReservedLock = db_check_reserved_lock,
    .xFileControl = db_file_control,
    .xSectorSize = db_sector_size,
    .xDeviceCharacteristics = db_device_characteristics,
    .xShmMap = db_shm_map,
    .xShmLock = db_shm_lock,
    .xShmBarrier = db_shm_barrier,
    .xShmUnmap = db_shm_unmap,
    .xFetch = db_fetch,
    .xUnfetch = db_unfetch,
};

long long store__vfs_db_steps(sqlite3_file *db)
{
    if (!db || db->pMethods != &db_methods)
        return -1;
    return ((db_file_t *)db)->steps;
}

static int db_open(const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    db_file_t *f = (db_file_t *)file;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)((char *)file + REAL_OFFSET);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    if (rc == SQLITE_OK && f->real->pMethods && f->real->pMethods->iVersion < 3) {
        /* no shared memory to pass through (not the unix VFS): the default VFS's file, unchanged */
        f->real->pMethods->xClose(f->real);
        return real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
    }
    f->base.pMethods = rc == SQLITE_OK && f->real->pMethods ? &db_methods : NULL;
    if (rc != SQLITE_OK && f->real->pMethods)
        f->real->pMethods->xClose(f->real);
    return rc;
}

/* A durable connection's WAL and every database file are ours; anything else is the default VFS's own file, in
 * the same memory (szOsFile is larger than its). */
static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    if ((flags & SQLITE_OPEN_WAL) && vfs == &vfs_durable)
        return wal_open(name, file, flags, out_flags);
    if (flags & SQLITE_OPEN_MAIN_DB)
        return db_open(name, file, flags, out_flags);
    return real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
}

/* The VFS-level calls go to the default VFS with its own handle. */
static int wb_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *wb_dl_open(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void wb_dl_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    real_vfs->xDlError(real_vfs, n, out);
}

static void (*wb_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void wb_dl_close(sqlite3_vfs *v, void *h)
{
    (void)v;
    real_vfs->xDlClose(real_vfs, h);
}

static int wb_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real_vfs->xSleep(real_vfs, us);
}

static int wb_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int wb_get_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}

static int wb_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int register_rc = SQLITE_ERROR;

static void register_once(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    /* The default VFS must have the version-2 calls this one forwards (unix has had them since SQLite 3.7). */
    if (!real_vfs || real_vfs->iVersion < 2 || !real_vfs->xCurrentTimeInt64)
        return;
    vfs_plain = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)REAL_OFFSET + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = STORE_VFS,
        .xOpen = vfs_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_full_pathname,
        .xDlOpen = wb_dl_open,
        .xDlError = wb_dl_error,
        .xDlSym = wb_dl_sym,
        .xDlClose = wb_dl_close,
        .xRandomness = wb_randomness,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_current_time,
        .xGetLastError = wb_get_last_error,
        .xCurrentTimeInt64 = wb_current_time_int64,
    };
    vfs_durable = vfs_plain;
    vfs_durable.zName = STORE_VFS_DURABLE;
    register_rc = sqlite3_vfs_register(&vfs_plain, 0);
    if (register_rc == SQLITE_OK)
        register_rc = sqlite3_vfs_register(&vfs_durable, 0);
}

int store__vfs_register(void)
{
    pthread_once(&once, register_once);
    return register_rc;
}
