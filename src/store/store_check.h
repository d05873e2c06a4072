/* store_check: is a store intact before anything runs on it? At start-up (serve, worker) and for operators
 * (`synchub store check`): SQLite's own b-tree checks, an empty file where a store was expected, PostgreSQL tables
 * that cannot be read. It opens its own connection and never writes.
 * Not here: repairing anything (restore from a backup), or the schema itself (store_sqlite.c, store_pg.c). */
#ifndef SYNCHUB_STORE_CHECK_H
#define SYNCHUB_STORE_CHECK_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/err.h"

typedef enum {
    STORE_CHECK_OK = 0,      /* intact, or nothing there yet (a new store is created at open) */
    STORE_CHECK_DAMAGED,     /* the engine reports damage: err says what and where */
    STORE_CHECK_EMPTY,       /* the path exists but holds nothing (0 bytes): jobs were expected there */
    STORE_CHECK_UNAVAILABLE, /* could not look (cannot open, locked, server down): err says why */
} store_check_result_t;

/* Check the store at where (an SQLite path, or a PostgreSQL URL with password or NULL). full: SQLite's complete
 * integrity_check (reads every index entry) instead of quick_check (every page, proportionate to the size). Lines
 * describing what was checked are appended to report (may be NULL). */
store_check_result_t store_check(const char *where, const char *password, bool full, buf_t *report, err_t *err);

#endif
