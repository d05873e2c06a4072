/* store_payload: how the SQLite engine keeps job payloads on disk. A payload of STORE_PAYLOAD_MIN bytes or more is
 * stored as one zstd frame (a BLOB) when that saves at least a tenth of it; smaller or incompressible ones stay
 * TEXT as written. Readers tell the two apart by type and the zstd magic number, so stores written before this
 * (all TEXT) read unchanged. Not here: which SQL reads payloads (store_sqlite.c, store_effects.c). */
#ifndef SYNCHUB_STORE_PAYLOAD_H
#define SYNCHUB_STORE_PAYLOAD_H

#include <sqlite3.h>
#include <stddef.h>

#define STORE_PAYLOAD_MIN 512

typedef struct store_packer store_packer_t;   /* a compression context and its output buffer: one per connection */

store_packer_t *store_packer_new(void);
void store_packer_free(store_packer_t *p);

/* Bind payload (len bytes) to parameter i of st: a zstd BLOB when that pays, else TEXT. The BLOB is bound from
 * p's buffer (SQLITE_STATIC): step st before packing the next payload with p. p NULL: always TEXT. SQLITE_OK or
 * SQLite's error code. */
int store_payload_bind(store_packer_t *p, sqlite3_stmt *st, int i, const char *payload, size_t len);

/* Column i of st's current row as payload text (malloc'd, NUL-terminated); NULL when the column is NULL, out of
 * memory, or a BLOB that is not a valid frame. */
char *store_payload_column(sqlite3_stmt *st, int i);

/* Register synchub_payload(x) on db: x as text, decompressed if it is a frame (for SQL that reads into payloads,
 * e.g. json_extract(synchub_payload(payload), ...)). SQLITE_OK or an error code. */
int store_payload_register(sqlite3 *db);

#endif
