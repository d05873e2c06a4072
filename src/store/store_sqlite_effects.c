/* store_sqlite_effects: links (which Odoo record a Shopify object became) and cursors, the effects table (what a
 * job wrote into Odoo or sent to Shopify, by business subject) and the read-only finders `synchub trace` needs to
 * gather an order's jobs, on SQLite (store_pg_effects.c: PostgreSQL). Writes go through the engine's write
 * transaction (store_sqlite_sql.c). Not here: deciding what is an effect (the handlers record them after the remote
 * write succeeded) or shaping the trace (obs/trace.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "store/store_sqlite.h"

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int store__lite_effects_add(store_t *s, const store_effect_t *e, size_t n, err_t *err)
{
    static const char sql[] = "INSERT INTO effects(at, job_id, correlation_id, shop, subject, system, action, target,"
                              " external_id, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    if (n == 0)
        return 0;
    sqlite3 *db = store__conn(s);
    sqlite3_stmt *st = NULL;
    if (store__begin_write(s, err) < 0)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        store__sql_error(s, err, "prepare effect insert");
        goto fail;
    }
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, e[i].at ? e[i].at : now);
        bind_opt(st, 2, e[i].job_id);
        bind_opt(st, 3, e[i].correlation_id);
        bind_opt(st, 4, e[i].shop ? e[i].shop : "");
        bind_opt(st, 5, e[i].subject ? e[i].subject : "");
        bind_opt(st, 6, e[i].system ? e[i].system : "");
        bind_opt(st, 7, e[i].action ? e[i].action : "");
        bind_opt(st, 8, e[i].target);
        bind_opt(st, 9, e[i].external_id);
        bind_opt(st, 10, e[i].detail);
        if (sqlite3_step(st) != SQLITE_DONE) {
            store__sql_error(s, err, "insert effect");
            goto fail;
        }
    }
    sqlite3_finalize(st);
    return store__commit(s, err);
fail:
    sqlite3_finalize(st);
    store__rollback(s);
    return -1;
}

/* Step st (the effect columns in store_effect_t's order) calling fn for each row until fn returns non-zero;
 * finalize it. 0 or -1. */
static int each_effect(store_t *s, sqlite3_stmt *st, store_effect_fn fn, void *ud, err_t *err, const char *what)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_effect_t e = {
            .id = sqlite3_column_int64(st, 0),
            .at = sqlite3_column_int64(st, 1),
            .job_id = col(st, 2),
            .correlation_id = col(st, 3),
            .shop = col(st, 4),
            .subject = col(st, 5),
            .system = col(st, 6),
            .action = col(st, 7),
            .target = col(st, 8),
            .external_id = col(st, 9),
            .detail = col(st, 10),
        };
        if (fn(&e, ud) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    int r = rc == SQLITE_DONE ? 0 : store__sql_error(s, err, what);
    sqlite3_finalize(st);
    return r;
}

int store__lite_effects_list(store_t *s, const char *shop, const char *subject, int64_t since_ms, store_effect_fn fn,
                             void *ud, err_t *err)
{
    static const char sql[] = "SELECT id, at, job_id, correlation_id, shop, subject, system, action, target,"
                              " external_id, detail FROM effects WHERE shop = ?1 AND subject = ?2 AND at >= ?3"
                              " ORDER BY at, id";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare effect list");
    bind_opt(st, 1, shop);
    bind_opt(st, 2, subject);
    sqlite3_bind_int64(st, 3, since_ms);
    return each_effect(s, st, fn, ud, err, "list effects");
}

int store__lite_effects_by_target(store_t *s, const char *value, int limit, store_effect_fn fn, void *ud, err_t *err)
{
    static const char sql[] = "SELECT id, at, job_id, correlation_id, shop, subject, system, action, target,"
                              " external_id, detail FROM effects WHERE target = ?1 OR external_id = ?1"
                              " ORDER BY at DESC, id DESC LIMIT ?2";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare effects by target");
    bind_opt(st, 1, value);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 50);
    return each_effect(s, st, fn, ud, err, "effects by target");
}

int store__lite_effects_prune(store_t *s, int64_t older_than, int limit, int *n, err_t *err)
{
    static const char sql[] = "DELETE FROM effects WHERE id IN (SELECT id FROM effects WHERE at < ?1 LIMIT ?2)";
    *n = 0;
    if (store__begin_write(s, err) < 0)
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), sql, -1, &st, NULL) != SQLITE_OK) {
        store__sql_error(s, err, "prepare effect prune");
        store__rollback(s);
        return -1;
    }
    sqlite3_bind_int64(st, 1, older_than);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 1000);
    if (sqlite3_step(st) != SQLITE_DONE) {
        store__sql_error(s, err, "prune effects");
        sqlite3_finalize(st);
        store__rollback(s);
        return -1;
    }
    *n = sqlite3_changes(store__conn(s));
    sqlite3_finalize(st);
    return store__commit(s, err);
}

/* ---- finders for the trace ---------------------------------------------------------------------------------- */

int store__lite_jobs_by(store_t *s, store_jobs_by_t by, const char *value, int limit, job_t ***out, size_t *n,
                        err_t *err)
{
    /* okey has no index over finished jobs (jobs_key covers live ones only); correlation_id has jobs_corr. */
    static const char by_okey[] = "SELECT " STORE_JOB_COLS " FROM jobs WHERE okey = ?1 ORDER BY created_at, rid"
                                  " LIMIT ?2";
    static const char by_corr[] = "SELECT " STORE_JOB_COLS " FROM jobs WHERE correlation_id = ?1"
                                  " ORDER BY created_at, rid LIMIT ?2";
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), by == STORE_JOBS_BY_OKEY ? by_okey : by_corr, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare job search");
    bind_opt(st, 1, value);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 500);
    return store__read_jobs(s, st, out, n, err, "search jobs");
}

int store__lite_job_by_payload(store_t *s, const char *kind, const char *okey_prefix, const char *field,
                               const char *value, job_t **out, err_t *err)
{
    /* A payload that is not JSON (a hand-enqueued job) must not make json_extract fail the whole query. Numbers
     * compare as text so a Shopify id beyond 2^53 matches exactly. */
    static const char sql[] =
        "SELECT " STORE_JOB_COLS " FROM jobs WHERE kind = ?1 AND substr(okey, 1, length(?2)) = ?2"
        " AND CASE WHEN json_valid(synchub_payload(payload))"
        " THEN CAST(json_extract(synchub_payload(payload), '$.' || ?3) AS TEXT) END = ?4"
        " ORDER BY created_at DESC, rid DESC LIMIT 1";
    *out = NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare job search by payload");
    bind_opt(st, 1, kind);
    bind_opt(st, 2, okey_prefix ? okey_prefix : "");
    bind_opt(st, 3, field);
    bind_opt(st, 4, value);
    int rc = sqlite3_step(st);
    int found = 0;
    if (rc == SQLITE_ROW) {
        if (!(*out = store__read_job(st))) {
            sqlite3_finalize(st);
            return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        }
        found = 1;
    } else if (rc != SQLITE_DONE) {
        store__sql_error(s, err, "search jobs by payload");
        found = -1;
    }
    sqlite3_finalize(st);
    return found;
}

int store__lite_link_by_extra(store_t *s, const char *system, const char *shop, const char *type, const char *field,
                              const char *value, char *external_id, size_t n, err_t *err)
{
    static const char sql[] =
        "SELECT external_id FROM links WHERE system = ?1 AND shop = ?2 AND type = ?3"
        " AND CASE WHEN json_valid(extra) THEN CAST(json_extract(extra, '$.' || ?4) AS TEXT) END = ?5"
        " ORDER BY updated_at DESC LIMIT 1";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store__conn(s), sql, -1, &st, NULL) != SQLITE_OK)
        return store__sql_error(s, err, "prepare link search");
    bind_opt(st, 1, system);
    bind_opt(st, 2, shop);
    bind_opt(st, 3, type);
    bind_opt(st, 4, field);
    bind_opt(st, 5, value);
    int rc = sqlite3_step(st);
    int found = 0;
    if (rc == SQLITE_ROW) {
        snprintf(external_id, n, "%s", col(st, 0) ? col(st, 0) : "");
        found = 1;
    } else if (rc != SQLITE_DONE) {
        store__sql_error(s, err, "search links");
        found = -1;
    }
    sqlite3_finalize(st);
    return found;
}

/* ---- links ----------------------------------------------------------------------------------------------- */

/* The statement `which` with a link's key bound to ?1..?4. */
static sqlite3_stmt *link_stmt(store_t *s, int which, const char *system, const char *shop, const char *type,
                               const char *external_id, err_t *err)
{
    sqlite3_stmt *st = store__lite_q(s, which, err);
    if (st) {
        store__lite_bind_text(st, 1, system);
        store__lite_bind_text(st, 2, shop);
        store__lite_bind_text(st, 3, type);
        store__lite_bind_text(st, 4, external_id);
    }
    return st;
}

int store__lite_link_get(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                         store_link_t *out, err_t *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = link_stmt(s, Q_LINK_GET, system, shop, type, external_id, err);
    if (!st)
        return -1;
    int rc = store__lite_step_done(s, st, err, "read link");
    if (rc == 1) {
        store__lite_col_copy(st, 0, out->odoo_model, sizeof(out->odoo_model));
        out->odoo_id = sqlite3_column_int64(st, 1);
        out->version = sqlite3_column_int64(st, 2);
        store__lite_col_copy(st, 3, out->state, sizeof(out->state));
        out->extra = store__lite_col_dup(st, 4);
        out->updated_at = sqlite3_column_int64(st, 5);
    }
    sqlite3_reset(st);
    return rc;
}

/* Write n link rows (l = NULL removes them) in one transaction: all or none. */
static int link_write(store_t *s, const char *system, const char *shop, const char *type,
                      const char *const *external_ids, const store_link_t *l, size_t n, err_t *err)
{
    if (store__begin_write(s, err) < 0)
        return -1;
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = link_stmt(s, l ? Q_LINK_PUT : Q_LINK_DEL, system, shop, type, external_ids[i], err);
        if (!st)
            goto fail;
        if (l) {
            store__lite_bind_text(st, 5, l[i].odoo_model);
            sqlite3_bind_int64(st, 6, l[i].odoo_id);
            sqlite3_bind_int64(st, 7, l[i].version);
            store__lite_bind_text(st, 8, l[i].state[0] ? l[i].state : NULL);
            store__lite_bind_text(st, 9, l[i].extra);
            sqlite3_bind_int64(st, 10, now);
        }
        if (store__lite_step_done(s, st, err, l ? "write link" : "forget link") < 0)
            goto fail;
    }
    return store__commit(s, err);
fail:
    store__rollback(s);
    return -1;
}

int store__lite_link_put(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                         const store_link_t *l, err_t *err)
{
    return link_write(s, system, shop, type, &external_id, l, 1, err);
}

int store__lite_links_put(store_t *s, const char *system, const char *shop, const char *type,
                          const char *const *external_ids, const store_link_t *links, size_t n, err_t *err)
{
    return n ? link_write(s, system, shop, type, external_ids, links, n, err) : 0;
}

int store__lite_links_each(store_t *s, const char *system, const char *shop, const char *type, store_link_fn fn,
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
            store__lite_col_copy(st, 0, l->odoo_model, sizeof(l->odoo_model));
            l->odoo_id = sqlite3_column_int64(st, 1);
            l->version = sqlite3_column_int64(st, 2);
            store__lite_col_copy(st, 3, l->state, sizeof(l->state));
            l->extra = store__lite_col_dup(st, 4);
            l->updated_at = sqlite3_column_int64(st, 5);
            store__lite_col_copy(st, 6, ids[n], sizeof(ids[n]));
            n++;
        }
        if (n < 200 && rc != SQLITE_DONE) {
            sqlite3_reset(st);
            for (size_t i = 0; i < n; i++)
                store_link_release(&page[i]);
            return store__sql_error(s, err, "list links");
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

int store__lite_link_find(store_t *s, const char *system, const char *shop, const char *type, const char *odoo_model,
                          int64_t odoo_id, char *external_id, size_t n, err_t *err)
{
    external_id[0] = '\0';
    sqlite3_stmt *st = link_stmt(s, Q_LINK_FIND, system, shop, type, "", err);
    if (!st)
        return -1;
    store__lite_bind_text(st, 5, odoo_model);
    sqlite3_bind_int64(st, 6, odoo_id);
    int rc = store__lite_step_done(s, st, err, "find link");
    if (rc == 1)
        store__lite_col_copy(st, 0, external_id, n);
    sqlite3_reset(st);
    return rc;
}

int store__lite_cursor_get(store_t *s, const char *name, char *out, size_t n, err_t *err)
{
    out[0] = '\0';
    sqlite3_stmt *st = store__lite_q(s, Q_CURSOR_GET, err);
    if (!st)
        return -1;
    store__lite_bind_text(st, 1, name);
    int rc = store__lite_step_done(s, st, err, "read cursor");
    if (rc == 1)
        store__lite_col_copy(st, 0, out, n);
    sqlite3_reset(st);
    return rc;
}

int store__lite_cursor_put(store_t *s, const char *name, const char *value, err_t *err)
{
    if (store__begin_write(s, err) < 0)
        return -1;
    sqlite3_stmt *st = store__lite_q(s, Q_CURSOR_PUT, err);
    if (!st) {
        store__rollback(s);
        return -1;
    }
    store__lite_bind_text(st, 1, name);
    store__lite_bind_text(st, 2, value);
    if (store__lite_step_done(s, st, err, "write cursor") < 0) {
        store__rollback(s);
        return -1;
    }
    return store__commit(s, err);
}

int store__lite_link_forget(store_t *s, const char *system, const char *shop, const char *type, const char *external_id,
                            err_t *err)
{
    return link_write(s, system, shop, type, &external_id, NULL, 1, err);
}
