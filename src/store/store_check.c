/* store_check: the start-up and operator integrity check of a store (store_check.h). SQLite: the file's type and
 * size, then PRAGMA quick_check (or integrity_check) on a read-only connection. PostgreSQL: every table of the
 * store's schema read through once (the server reports damaged pages), and amcheck's bt_index_check on its indexes
 * when that extension is installed. Why its own connections: it runs before the engines migrate anything. */
#define _GNU_SOURCE
#include "store/store_check.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHECK_MAX_MESSAGES 10 /* SQLite reports every damaged page: the first ones say enough */

static bool is_pg_url(const char *where)
{
    return where && (strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0);
}

static void note(buf_t *report, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(buf_t *report, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (report)
        buf_vprintf(report, fmt, ap);
    va_end(ap);
}

static store_check_result_t damaged(err_t *err, const char *where, const char *what)
{
    err_set(err, ERR_CONFIGURATION, "store.damaged", "the store %s is damaged: %s", where, what);
    err_hint(err, "stop every synchub on it, keep a copy of the file for analysis, and restore the store from a "
                  "backup; `synchub store check` repeats this check");
    return STORE_CHECK_DAMAGED;
}

static store_check_result_t check_sqlite(const char *path, bool full, buf_t *report, err_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT) {
            note(report, "%s: no store yet (it is created at start)\n", path);
            return STORE_CHECK_OK;
        }
        err_set(err, ERR_CONFIGURATION, "store.open", "cannot look at the store %s: %s", path, strerror(errno));
        return STORE_CHECK_UNAVAILABLE;
    }
    if (!S_ISREG(st.st_mode))
        return damaged(err, path, "it is not a regular file");
    if (st.st_size == 0) {
        err_set(err, ERR_CONFIGURATION, "store.empty",
                "the store %s exists but is empty (0 bytes): every job it held would be gone", path);
        err_hint(err, "restore the store from a backup; if this is a new installation, delete the empty file and "
                      "synchub creates the store");
        return STORE_CHECK_EMPTY;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err_set(err, ERR_CONFIGURATION, "store.open", "cannot open the store %s: %s", path,
                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return STORE_CHECK_UNAVAILABLE;
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *st_check = NULL;
    const char *sql = full ? "PRAGMA integrity_check(10)" : "PRAGMA quick_check(10)";
    rc = sqlite3_prepare_v2(db, sql, -1, &st_check, NULL);
    buf_t problems = BUF_INIT;
    int n = 0;
    bool ok = false;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st_check)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st_check, 0);
        rc = SQLITE_OK;
        if (line && strcmp(line, "ok") == 0 && n == 0)
            ok = true;
        else if (n++ < CHECK_MAX_MESSAGES)
            buf_printf(&problems, "%s%s", n > 1 ? "; " : "", line ? line : "?");
    }
    store_check_result_t res = STORE_CHECK_OK;
    if (rc != SQLITE_DONE) {
        int code = sqlite3_errcode(db);
        const char *msg = sqlite3_errmsg(db);
        if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
            res = damaged(err, path, msg);
        } else {
            err_set(err, code == SQLITE_BUSY ? ERR_TRANSIENT : ERR_CONFIGURATION, "store.open",
                    "cannot check the store %s: %s", path, msg);
            res = STORE_CHECK_UNAVAILABLE;
        }
    } else if (!ok || n > 0) {
        res = damaged(err, path, problems.len ? buf_str(&problems) : "the check returned nothing");
    } else {
        note(report, "%s: %s ok\n", path, full ? "integrity_check" : "quick_check");
    }
    buf_release(&problems);
    sqlite3_finalize(st_check);
    sqlite3_close(db);
    return res;
}

static store_check_result_t pg_failed(err_t *err, PGresult *r, PGconn *c, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char msg[300];
    snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
    msg[strcspn(msg, "\n")] = '\0';
    /* Class XX: internal error, data_corrupted (XX001), index_corrupted (XX002). */
    if (state && strncmp(state, "XX", 2) == 0) {
        char what_msg[400];
        snprintf(what_msg, sizeof(what_msg), "%s: %s (SQLSTATE %s)", what, msg, state);
        return damaged(err, "(PostgreSQL)", what_msg);
    }
    err_set(err, ERR_CONFIGURATION, "store.open", "cannot check the PostgreSQL store (%s): %s", what, msg);
    return STORE_CHECK_UNAVAILABLE;
}

static store_check_result_t check_pg(const char *url, const char *password, buf_t *report, err_t *err)
{
    static const char *const keys[] = {"dbname", "password", "connect_timeout", "application_name", NULL};
    const char *vals[] = {url, password && *password ? password : NULL, "10", "synchub-check", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    store_check_result_t res = STORE_CHECK_OK;
    PGresult *tables = NULL;
    if (!c || PQstatus(c) != CONNECTION_OK) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s", c ? PQerrorMessage(c) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        err_set(err, ERR_TRANSIENT, "store.unavailable", "cannot connect to the PostgreSQL store: %s", msg);
        res = STORE_CHECK_UNAVAILABLE;
        goto out;
    }
    tables = PQexec(c, "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
                       "WHERE schemaname = current_schema() ORDER BY tablename");
    if (PQresultStatus(tables) != PGRES_TUPLES_OK) {
        res = pg_failed(err, tables, c, "listing the tables");
        goto out;
    }
    if (PQntuples(tables) == 0)
        note(report, "PostgreSQL: no store tables yet (they are created at start)\n");
    for (int i = 0; i < PQntuples(tables) && res == STORE_CHECK_OK; i++) {
        const char *t = PQgetvalue(tables, i, 0);
        char *sql = NULL;
        if (asprintf(&sql, "SELECT count(*) FROM %s", t) < 0) {
            err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
            res = STORE_CHECK_UNAVAILABLE;
            break;
        }
        PGresult *r = PQexec(c, sql);
        free(sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            res = pg_failed(err, r, c, t);
        else
            note(report, "PostgreSQL: %s read through, %s rows\n", t, PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    if (res != STORE_CHECK_OK)
        goto out;
    /* amcheck (contrib) verifies every B-tree index page; only when the database has it installed. */
    PGresult *am = PQexec(c, "SELECT 1 FROM pg_extension WHERE extname = 'amcheck'");
    bool have_amcheck = PQresultStatus(am) == PGRES_TUPLES_OK && PQntuples(am) == 1;
    PQclear(am);
    if (have_amcheck) {
        PGresult *r = PQexec(c, "SELECT count(bt_index_check(i.indexrelid)) FROM pg_index i "
                                "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                                "WHERE a.amname = 'btree' AND c.relnamespace = current_schema()::regnamespace");
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            res = pg_failed(err, r, c, "amcheck on the indexes");
        else
            note(report, "PostgreSQL: amcheck bt_index_check on %s indexes ok\n", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
out:
    PQclear(tables);
    PQfinish(c);
    return res;
}

store_check_result_t store_check(const char *where, const char *password, bool full, buf_t *report, err_t *err)
{
    if (is_pg_url(where))
        return check_pg(where, password, report, err);
    return check_sqlite(where, full, report, err);
}
