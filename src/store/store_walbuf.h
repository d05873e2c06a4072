/* store_walbuf: a SQLite VFS that gathers the writes to a WAL file into one buffer and hands them to the default
 * VFS in one call at the next sync (or read, truncate, size query, close, or a write elsewhere in the file), so a
 * commit of many frames costs one pwrite instead of two per frame (issue 18). Only for connections with
 * synchronous=FULL, where every commit syncs the WAL before it becomes visible: other connections never see a
 * frame that is still in the buffer. Not here: which connections use it (store_sqlite.c's lite_connect). */
#ifndef SYNCHUB_STORE_WALBUF_H
#define SYNCHUB_STORE_WALBUF_H

#define STORE_WALBUF_VFS "synchub-walbuf"

/* Register the VFS (once per process; later calls return the first result). SQLITE_OK or SQLite's error code.
 * Any thread. */
int store__walbuf_register(void);

#endif
