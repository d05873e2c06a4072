/* store_walbuf: a SQLite VFS that gathers the writes to a WAL file into one buffer and hands them to the default
 * VFS in one call at the next sync (or read, truncate, size query, close, or a write elsewhere in the file), so a
 * commit of many frames costs one pwrite instead of two per frame (issue 18). Only for connections with
 * synchronous=FULL, where every commit syncs the WAL before it becomes visible: other connections never see a
 * frame that is still in the buffer. A deferred WAL (store__walbuf_defer) writes its buffer out at each sync as
 * well, and stops there: its connection's commits are visible at once and on disk only once its owner has synced
 * the file (store_defer_sync). Not here: which connections use it (store_sqlite.c's lite_connect). */
#ifndef SYNCHUB_STORE_WALBUF_H
#define SYNCHUB_STORE_WALBUF_H

#define STORE_WALBUF_VFS "synchub-walbuf"

/* Register the VFS (once per process; later calls return the first result). SQLITE_OK or SQLite's error code.
 * Any thread. */
int store__walbuf_register(void);

typedef struct sqlite3_file sqlite3_file;

/* From now on a sync of this WAL file (SQLite's, at every commit) writes the buffered frames and does not fsync:
 * the caller syncs the file itself, and counts a commit durable only after that. SQLite's own guarantee for WAL
 * with synchronous=NORMAL holds meanwhile (a crash loses the last commits, never corrupts). 0, or -1 when wal is
 * not a file of this VFS (nothing changed). The connection's thread. */
int store__walbuf_defer(sqlite3_file *wal);

#endif
