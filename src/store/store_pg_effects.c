/* store_pg_effects: links (which Odoo record a Shopify object became), cursors, the effects table and the
 * read-only finders `synchub trace` needs, on PostgreSQL. The SQLite versions are in store_sqlite_effects.c.
 * Not here: deciding what is an effect (the handlers) or shaping the trace (obs/trace.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "store/store.h"
#include "store/store_engine.h"
#include "store/store_pg.h"

/* ---- links and cursors ------------------------------------------------------------------------------------- */

static void a_link_key(pg_args_t *a, const char *system, const char *shop, const char *type, const char *external_id)
{
    store__pg_a_str(a, system);
    store__pg_a_str(a, shop);
    store__pg_a_str(a, type);
    store__pg_a_str(a, external_id);
}

static void read_link(const PGresult *r, int row, store_link_t *l)
{
    memset(l, 0, sizeof(*l));
    store__pg_cell_copy(r, row, 0, l->odoo_model, sizeof(l->odoo_model));
    l->odoo_id = store__pg_cell_int(r, row, 1);
    l->version = store__pg_cell_int(r, row, 2);
    store__pg_cell_copy(r, row, 3, l->state, sizeof(l->state));
    l->extra = store__pg_cell_dup(r, row, 4);
    l->updated_at = store__pg_cell_int(r, row, 5);
}

int store__pg_link_get(store_t *h, const char *system, const char *shop, const char *type, const char *external_id,
                       store_link_t *out, err_t *err)
{
    pg_t *s = PG(h);
    memset(out, 0, sizeof(*out));
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_link_key(&a, system, shop, type, external_id);
    PGresult *r = store__pg_run(s, Q_LINK_GET, &a, err, "read link");
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        read_link(r, 0, out);
    PQclear(r);
    return found;
}

/* Write n link rows (l = NULL removes them) in one transaction: all or none. */
static int link_write(pg_t *s, const char *system, const char *shop, const char *type,
                      const char *const *external_ids, const store_link_t *l, size_t n, err_t *err)
{
    if (store__pg_begin(s, err) < 0)
        return -1;
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < n; i++) {
        pg_args_t a = {0};
        a_link_key(&a, system, shop, type, external_ids[i]);
        if (l) {
            store__pg_a_str(&a, l[i].odoo_model);
            store__pg_a_int(&a, l[i].odoo_id);
            store__pg_a_int(&a, l[i].version);
            store__pg_a_str(&a, l[i].state[0] ? l[i].state : NULL);
            store__pg_a_str(&a, l[i].extra);
            store__pg_a_int(&a, now);
        }
        if (store__pg_run_cmd(s, l ? Q_LINK_PUT : Q_LINK_DEL, &a, NULL, err, l ? "write link" : "forget link") < 0) {
            store__pg_rollback(s);
            return -1;
        }
    }
    return store__pg_commit(s, err);
}

int store__pg_link_put(store_t *h, const char *system, const char *shop, const char *type, const char *external_id,
                       const store_link_t *l, err_t *err)
{
    return link_write(PG(h), system, shop, type, &external_id, l, 1, err);
}

int store__pg_links_put(store_t *h, const char *system, const char *shop, const char *type,
                        const char *const *external_ids, const store_link_t *links, size_t n, err_t *err)
{
    return n ? link_write(PG(h), system, shop, type, external_ids, links, n, err) : 0;
}

int store__pg_link_forget(store_t *h, const char *system, const char *shop, const char *type,
                          const char *external_id, err_t *err)
{
    return link_write(PG(h), system, shop, type, &external_id, NULL, 1, err);
}

int store__pg_links_each(store_t *h, const char *system, const char *shop, const char *type, store_link_fn fn,
                         void *ud, err_t *err)
{
    pg_t *s = PG(h);
    if (store__pg_ensure(s, err) < 0)
        return -1;
    /* Pages of 200 keyed on external_id; each result is complete before fn runs, so fn may use s. */
    char *after = strdup("");
    if (!after)
        return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    for (;;) {
        pg_args_t a = {0};
        a_link_key(&a, system, shop, type, after);
        PGresult *r = store__pg_run(s, Q_LINK_EACH, &a, err, "list links");
        if (!r) {
            free(after);
            return -1;
        }
        int rows = PQntuples(r), stop = 0;
        for (int i = 0; i < rows && !stop; i++) {
            store_link_t l;
            read_link(r, i, &l);
            stop = fn(PQgetvalue(r, i, 6), &l, ud) != 0;
            store_link_release(&l);
        }
        free(after);
        after = rows ? strdup(PQgetvalue(r, rows - 1, 6)) : NULL;
        PQclear(r);
        if (stop || rows < 200) {
            free(after);
            return 0;
        }
        if (!after)
            return err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
    }
}

int store__pg_link_find(store_t *h, const char *system, const char *shop, const char *type, const char *odoo_model,
                        int64_t odoo_id, char *external_id, size_t n, err_t *err)
{
    pg_t *s = PG(h);
    external_id[0] = '\0';
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_link_key(&a, system, shop, type, "");
    store__pg_a_str(&a, odoo_model);
    store__pg_a_int(&a, odoo_id);
    PGresult *r = store__pg_run(s, Q_LINK_FIND, &a, err, "find link");
    return r ? store__pg_take_first_text(r, external_id, n) : -1;
}

int store__pg_cursor_get(store_t *h, const char *name, char *out, size_t n, err_t *err)
{
    pg_t *s = PG(h);
    out[0] = '\0';
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_str(&a, name);
    PGresult *r = store__pg_run(s, Q_CURSOR_GET, &a, err, "read cursor");
    return r ? store__pg_take_first_text(r, out, n) : -1;
}

int store__pg_cursor_put(store_t *h, const char *name, const char *value, err_t *err)
{
    pg_t *s = PG(h);
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_str(&a, name);
    store__pg_a_str(&a, value);
    return store__pg_run_cmd(s, Q_CURSOR_PUT, &a, NULL, err, "write cursor");
}

/* ---- effects and the trace's finders ----------------------------------------------------------------------- */

int store__pg_effects_add(store_t *h, const store_effect_t *e, size_t n, err_t *err)
{
    pg_t *s = PG(h);
    if (n == 0)
        return 0;
    if (store__pg_begin(s, err) < 0)
        return -1;
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < n; i++) {
        pg_args_t a = {0};
        store__pg_a_int(&a, e[i].at ? e[i].at : now);
        store__pg_a_str(&a, e[i].job_id);
        store__pg_a_str(&a, e[i].correlation_id);
        store__pg_a_str(&a, e[i].shop ? e[i].shop : "");
        store__pg_a_str(&a, e[i].subject ? e[i].subject : "");
        store__pg_a_str(&a, e[i].system ? e[i].system : "");
        store__pg_a_str(&a, e[i].action ? e[i].action : "");
        store__pg_a_str(&a, e[i].target);
        store__pg_a_str(&a, e[i].external_id);
        store__pg_a_str(&a, e[i].detail);
        PGresult *r = store__pg_run_sql(s,
                              "INSERT INTO effects(at, job_id, correlation_id, shop, subject, system, action, target,"
                              " external_id, detail) VALUES($1::bigint, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                              &a, err, "insert effect");
        if (!r) {
            store__pg_rollback(s);
            return -1;
        }
        PQclear(r);
    }
    return store__pg_commit(s, err);
}

#define EFFECT_COLS "id, at, job_id, correlation_id, shop, subject, system, action, target, external_id, detail"

/* Call fn for every effect row of r (EFFECT_COLS) until it returns non-zero, then clear r. 0. */
static int each_effect(PGresult *r, store_effect_fn fn, void *ud)
{
    for (int i = 0; i < PQntuples(r); i++) {
        store_effect_t e = {
            .id = store__pg_cell_int(r, i, 0),
            .at = store__pg_cell_int(r, i, 1),
            .job_id = store__pg_cell(r, i, 2),
            .correlation_id = store__pg_cell(r, i, 3),
            .shop = store__pg_cell(r, i, 4),
            .subject = store__pg_cell(r, i, 5),
            .system = store__pg_cell(r, i, 6),
            .action = store__pg_cell(r, i, 7),
            .target = store__pg_cell(r, i, 8),
            .external_id = store__pg_cell(r, i, 9),
            .detail = store__pg_cell(r, i, 10),
        };
        if (fn(&e, ud) != 0)
            break;
    }
    PQclear(r);
    return 0;
}

int store__pg_effects_list(store_t *h, const char *shop, const char *subject, int64_t since_ms, store_effect_fn fn,
                           void *ud, err_t *err)
{
    pg_t *s = PG(h);
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_str(&a, shop);
    store__pg_a_str(&a, subject);
    store__pg_a_int(&a, since_ms);
    PGresult *r = store__pg_run_sql(s,
                          "SELECT " EFFECT_COLS " FROM effects WHERE shop = $1 AND subject = $2 AND at >= $3::bigint"
                          " ORDER BY at, id",
                          &a, err, "list effects");
    return r ? each_effect(r, fn, ud) : -1;
}

int store__pg_effects_prune(store_t *h, int64_t older_than, int limit, int *n, err_t *err)
{
    return store__pg_delete_batch(PG(h),
                        "DELETE FROM effects WHERE id IN (SELECT id FROM effects WHERE at < $1::bigint LIMIT $2::int)",
                        older_than, limit, n, err, "prune effects");
}

int store__pg_jobs_by(store_t *h, store_jobs_by_t by, const char *value, int limit, job_t ***out, size_t *n,
                      err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    *n = 0;
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_str(&a, value);
    store__pg_a_int(&a, limit > 0 ? limit : 500);
    return store__pg_select_jobs(s,
                       by == STORE_JOBS_BY_OKEY
                           ? "SELECT " PG_JOB_COLS " FROM jobs WHERE okey = $1 ORDER BY created_at, rid LIMIT $2::int"
                           : "SELECT " PG_JOB_COLS " FROM jobs WHERE correlation_id = $1 ORDER BY created_at, rid"
                             " LIMIT $2::int",
                       &a, out, n, err, "search jobs");
}

int store__pg_job_by_payload(store_t *h, const char *kind, const char *okey_prefix, const char *field,
                             const char *value, job_t **out, err_t *err)
{
    pg_t *s = PG(h);
    *out = NULL;
    if (store__pg_ensure(s, err) < 0)
        return -1;
    /* ->> renders a number with all its digits, so a Shopify id beyond 2^53 matches exactly. */
    pg_args_t a = {0};
    store__pg_a_str(&a, kind);
    store__pg_a_str(&a, okey_prefix ? okey_prefix : "");
    store__pg_a_str(&a, field);
    store__pg_a_str(&a, value);
    PGresult *r = store__pg_run_sql(s,
                          "SELECT " PG_JOB_COLS " FROM jobs WHERE kind = $1 AND left(okey, length($2::text)) = $2"
                          " AND synchub_jsonb(payload)->>$3::text = $4::text"
                          " ORDER BY created_at DESC, rid DESC LIMIT 1",
                          &a, err, "search jobs by payload");
    if (!r)
        return -1;
    if (PQntuples(r) > 0)
        return store__pg_take_first_job(r, out, err);
    PQclear(r);
    return 0;
}

int store__pg_link_by_extra(store_t *h, const char *system, const char *shop, const char *type, const char *field,
                            const char *value, char *external_id, size_t n, err_t *err)
{
    pg_t *s = PG(h);
    external_id[0] = '\0';
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    a_link_key(&a, system, shop, type, field);
    store__pg_a_str(&a, value);
    PGresult *r = store__pg_run_sql(s,
                          "SELECT external_id FROM links WHERE system = $1 AND shop = $2 AND type = $3"
                          " AND synchub_jsonb(extra)->>$4::text = $5::text ORDER BY updated_at DESC LIMIT 1",
                          &a, err, "search links");
    return r ? store__pg_take_first_text(r, external_id, n) : -1;
}

int store__pg_effects_by_target(store_t *h, const char *value, int limit, store_effect_fn fn, void *ud, err_t *err)
{
    pg_t *s = PG(h);
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_str(&a, value);
    store__pg_a_int(&a, limit > 0 ? limit : 50);
    PGresult *r = store__pg_run_sql(s,
                          "SELECT " EFFECT_COLS " FROM effects WHERE target = $1 OR external_id = $1"
                          " ORDER BY at DESC, id DESC LIMIT $2::int",
                          &a, err, "effects by target");
    return r ? each_effect(r, fn, ud) : -1;
}
