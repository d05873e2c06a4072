/* store_vfs: synchub's SQLite VFS, over the default one, in two variants (issue 18).
 * - Every connection's database file is synced in steps while a checkpoint writes it: one flush at the end of a
 *   checkpoint of several MiB held the ack path's next WAL sync for 5–13 ms.
 * - The durable variant also gathers the writes to the WAL into one buffer, handed to the default VFS in one call
 *   at the next sync (or read, truncate, size query, close, or a write elsewhere in the file): a commit of many
 *   frames costs one pwrite instead of two per frame. Only for connections with synchronous=FULL, where every
 *   commit syncs the WAL before it becomes visible, so other connections never see a frame still in the buffer. A
 *   deferred WAL (store__vfs_defer_wal) writes its buffer out at each sync as well, and stops there: its
 *   connection's commits are visible at once and on disk only once its owner has synced the file
 *   (store_defer_sync).
 * Not here: which connection uses which variant (store_sqlite.c's lite_connect), when checkpoints run. */
#ifndef SYNCHUB_STORE_VFS_H
#define SYNCHUB_STORE_VFS_H

#define STORE_VFS "synchub"                  /* the database file synced in steps; the WAL as the default VFS */
#define STORE_VFS_DURABLE "synchub-durable"  /* the same, and the WAL's writes gathered until its sync */

/* A checkpoint syncs the database file after every this many bytes it wrote there. */
#define STORE_VFS_DB_STEP (256 * 1024)

/* Register both variants (once per process; later calls return the first result). SQLITE_OK or SQLite's error
 * code. Any thread. */
int store__vfs_register(void);

typedef struct sqlite3_file sqlite3_file;

/* From now on a sync of this WAL file (SQLite's, at every commit) writes the buffered frames and does not fsync:
 * the caller syncs the file itself, and counts a commit durable only after that. SQLite's own guarantee for WAL
 * with synchronous=NORMAL holds meanwhile (a crash loses the last commits, never corrupts). 0, or -1 when wal is
 * not a WAL file of the durable variant (nothing changed). The connection's thread. */
int store__vfs_defer_wal(sqlite3_file *wal);

/* How many syncs of this database file were a step of a checkpoint's writes (not SQLite's own); -1 when db is not
 * a database file of this VFS. For the tests and diagnostics. The connection's thread. */
long long store__vfs_db_steps(sqlite3_file *db);

#endif
