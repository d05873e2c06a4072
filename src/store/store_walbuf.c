/* store_walbuf: the write-gathering VFS for the WAL of synchronous=FULL connections (see store_walbuf.h). SQLite
 * writes each WAL frame as two calls (24-byte header, then the page); a group commit of a few dozen webhooks is a
 * hundred or more pwrite(2) calls before its fsync. Here they become one buffer, written in one call when SQLite
 * next syncs, reads, truncates, asks the size of, or closes the file, or writes somewhere other than right after
 * the buffered bytes; so the file sees the same bytes in the same order, only in fewer calls, and everything is
 * in the file before the sync that makes a commit durable and, after it, visible to other connections.
 * Every other file (database, rollback journal) is opened by the default VFS unchanged. Not here: the choice of
 * connections (lite_connect), checkpoints (they read through the file, so the buffer is flushed first). */
#include "store/store_walbuf.h"

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
    sqlite3_file *real;      /* the default VFS's file, in the memory right after this struct */
    unsigned char *buf;      /* WALBUF_CAP bytes, allocated at the first write */
    int len;
    sqlite3_int64 off;       /* file offset of buf[0] */
    bool defer;              /* store__walbuf_defer: a sync writes the buffer out and leaves the fsync to the owner */
} walbuf_file_t;

/* Written once, under pthread_once (register_once), then only read: SQLite keeps a pointer to the registered VFS
 * for the life of the process, so it cannot live in a store object. */
static sqlite3_vfs *real_vfs;
static sqlite3_vfs walbuf_vfs;

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

int store__walbuf_defer(sqlite3_file *wal)
{
    if (!wal || wal->pMethods != &walbuf_methods)
        return -1;
    ((walbuf_file_t *)wal)->defer = true;
    return 0;
}

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    (void)vfs;
    /* Anything but a WAL file is the default VFS's own file, in the same memory (szOsFile is larger than its). */
    if (!(flags & SQLITE_OPEN_WAL))
        return real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
    walbuf_file_t *f = (walbuf_file_t *)file;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)(f + 1);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    /* The real file's methods must be set even on failure when it has some to close; ours only on success. */
    f->base.pMethods = rc == SQLITE_OK && f->real->pMethods ? &walbuf_methods : NULL;
    if (rc != SQLITE_OK && f->real->pMethods)
        f->real->pMethods->xClose(f->real);
    return rc;
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
    walbuf_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(walbuf_file_t) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = STORE_WALBUF_VFS,
        .xOpen = wb_open,
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
    register_rc = sqlite3_vfs_register(&walbuf_vfs, 0);
}

int store__walbuf_register(void)
{
    pthread_once(&once, register_once);
    return register_rc;
}
