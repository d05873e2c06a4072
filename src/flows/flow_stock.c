/* flow_stock: Odoo stock → Shopify available quantities. Odoo owns stock; Shopify gets, per mapped location,
 * Odoo's free quantity (on hand − reserved, summed over the location and its children, at least 0), which is
 * what stays consistent through both systems' order flows: a Shopify order lowers Shopify's available at once
 * and Odoo's free quantity when Odoo reserves it; a done delivery and the Shopify fulfillment change neither.
 * Not here: fulfillments (flow_fulfillment.c), order reconciliation (flow_reconcile.c).
 *
 * One pass (a stock.poll job, a stock.sku job, or `synchub reconcile inventory`):
 *   1. the location map of the shop, each side checked to exist (a typo is a configuration failure, not silence)
 *   2. Odoo's free quantities of the products concerned (changed quants since the cursor, one product, or all)
 *   3. product → SKU (default_code, through sku_map) → Shopify inventory item, found by SKU and kept as a link
 *   4. skip what Shopify already has (the last quantity synchub set or read, kept as a link per level)
 *   5. inventorySetQuantities in batches of up to 250, with changeFromQuantity = the quantity synchub believes
 *      Shopify has (null when it never knew), under an @idempotent key derived from the job and the batch's
 *      content, so a retry after a lost answer cannot apply twice. Shopify rejects the whole call for any
 *      userError: a stale compare re-reads those levels and sends again; a bad item is taken out (it becomes a
 *      stock.sku job that fails on its own, naming the SKU) and the rest is sent again.
 * A burst of changes to one level is one quantity; 10,000 levels are 40 mutations.
 * Over 1,000 lines on purpose: the five steps are one pipeline over one stock_t (rows, links, the batch in flight)
 * that the poll, the single-SKU job and `synchub reconcile inventory` all run; split by step, that struct and the
 * step functions would become an interface of their own with no second user.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "flows/flows_internal.h"

#define MAX_MAPS 32
#define DISCOVER_BATCH 50    /* SKUs per inventoryItems lookup: 2 + 2 × 50 points, a query string Shopify accepts */
#define REREAD_BATCH 50      /* levels per re-read of stale quantities: 3 points each */
#define ODOO_PAGE 5000
#define PUSH_ROUNDS 4        /* sends of one batch (stale re-reads, removed bad items) before giving up on it */

typedef struct loc_map {
    char spec[128];          /* as configured: "WH/Stock" or "8" */
    int64_t odoo;            /* stock.location id */
    char shopify[32];        /* Shopify location id */
} loc_map_t;

typedef struct stock {
    const cfg_t *cfg;
    const cfg_shop_t *shop;
    odoo_t *odoo;
    shopify_t *sh;
    store_t *s;
    json_t *cache;            /* borrowed */
    char key_base[72];        /* job id (or a reconciliation's own id): the base of idempotency keys */
    const char *job_id;       /* the running job (NULL in `synchub reconcile inventory`), for effects */
    const char *correlation;  /* its correlation id: the stock.sku jobs of a poll and every effect carry it */
    char own_corr[96];        /* the correlation outside a job: "cli:<key_base>" */
    loc_map_t maps[MAX_MAPS];
    size_t nmaps;
    sync_level_t *rows;
    size_t nrows, cap;
    const sync_progress_t *progress;
    size_t mutations, pushed, same, failed, stale;
    metrics_t *metrics;       /* the daemon's (drift found); NULL in the CLI */
} stock_t;

/* ---- small helpers ----------------------------------------------------------------------------------------- */

static void progress(stock_t *st, const char *phase, size_t done, size_t total)
{
    if (st->progress && st->progress->fn)
        st->progress->fn(st->progress->ud, phase, done, total);
}

static sync_level_t *row_add(stock_t *st)
{
    if (st->nrows == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 256;
        sync_level_t *r = realloc(st->rows, cap * sizeof(*r));
        if (!r)
            return NULL;
        st->rows = r;
        st->cap = cap;
    }
    sync_level_t *r = &st->rows[st->nrows++];
    memset(r, 0, sizeof(*r));
    r->shopify = -1;
    r->status = SYNC_LEVEL_DRIFT;
    return r;
}

static void row_fail(stock_t *st, sync_level_t *r, const err_t *e)
{
    if (r->status != SYNC_LEVEL_FAILED)
        st->failed++;
    r->status = SYNC_LEVEL_FAILED;
    r->err = *e;
}

static const char *level_record(const stock_t *st, const sync_level_t *r, char *out, size_t n)
{
    const char *loc = r->location;
    for (size_t i = 0; i < st->nmaps; i++)
        if (!strcmp(st->maps[i].shopify, r->location))
            loc = st->maps[i].spec;
    snprintf(out, n, "stock of SKU %s (odoo product %" PRId64 ") at %s → shopify %s location %s", r->sku,
             r->product_id, loc, st->shop->domain, r->location);
    return out;
}

static int odoo_search_read(stock_t *st, const char *model, json_t *domain, json_t *fields, const char *order,
                            int64_t limit, int64_t offset, json_t **out, err_t *err)
{
    json_t *params = json_pack("{s:o, s:o}", "domain", domain, "fields", fields);
    if (order)
        json_object_set_new(params, "order", json_string(order));
    if (limit)
        json_object_set_new(params, "limit", json_integer(limit));
    if (offset)
        json_object_set_new(params, "offset", json_integer(offset));
    int rc = odoo_call(st->odoo, model, "search_read", NULL, params, out, err);
    json_decref(params);
    return rc;
}

/* ---- 1. the location map ------------------------------------------------------------------------------------ */

typedef struct map_parse {
    stock_t *st;
    err_t *err;
    const char *record;
} map_parse_t;

static int map_one(const char *k, size_t kl, const char *v, size_t vl, void *ud)
{
    map_parse_t *mp = ud;
    stock_t *st = mp->st;
    if (!v || st->nmaps == MAX_MAPS)
        return err_full(mp->err, ERR_CONFIGURATION, "config.locations", mp->record,
                        "write ODOO-LOCATION=SHOPIFY-LOCATION-ID, … (at most 32)",
                        "cannot read the location map entry \"%.*s\"", (int)kl, k);
    loc_map_t *m = &st->maps[st->nmaps];
    snprintf(m->spec, sizeof(m->spec), "%.*s", (int)kl, k);
    snprintf(m->shopify, sizeof(m->shopify), "%.*s", (int)vl, v);
    char gid_id[32];
    if (!strncmp(m->shopify, "gid://", 6) && shopify_gid_id(m->shopify, gid_id, sizeof(gid_id)) == 0)
        snprintf(m->shopify, sizeof(m->shopify), "%s", gid_id);
    if (!m->spec[0] || !m->shopify[0] || strspn(m->shopify, "0123456789") != strlen(m->shopify))
        return err_full(mp->err, ERR_CONFIGURATION, "config.locations", mp->record,
                        "the right-hand side is the numeric Shopify location id (Settings → Locations, the number "
                        "in the URL)",
                        "cannot read the location map entry \"%.*s=%.*s\"", (int)kl, k, (int)vl, v);
    st->nmaps++;
    return 0;
}

static int parse_maps(stock_t *st, err_t *err)
{
    char record[200];
    snprintf(record, sizeof(record), "[shop %s] locations", st->shop->domain);
    st->nmaps = 0;
    map_parse_t mp = {st, err, record};
    if (cfg_map_each(st->shop->locations, map_one, &mp) != 0)
        return -1;
    if (!st->nmaps)
        return err_full(err, ERR_CONFIGURATION, "config.locations", record,
                        "set locations = WH/Stock=SHOPIFY-LOCATION-ID", "no location is mapped");
    return 0;
}

/* Resolve every Odoo side to a stock.location id and check every Shopify side exists, once per cache period. */
static int resolve_maps(stock_t *st, err_t *err)
{
    if (parse_maps(st, err) < 0)
        return -1;
    char ckey[300];
    snprintf(ckey, sizeof(ckey), "maps:%s", st->shop->domain);
    json_t *c = json_object_get(st->cache, ckey);
    int64_t now = clock_mono_ms();
    if (c && json_integer_value(json_object_get(c, "exp")) > now &&
        !strcmp(json_string_value(json_object_get(c, "spec")) ?: "", st->shop->locations)) {
        json_t *ids = json_object_get(c, "ids");
        for (size_t i = 0; i < st->nmaps; i++)
            st->maps[i].odoo = json_integer_value(json_array_get(ids, i));
        return 0;
    }
    char record[200];
    snprintf(record, sizeof(record), "[shop %s] locations", st->shop->domain);
    json_t *ids = json_array();
    buf_t q = BUF_INIT;
    buf_puts(&q, "query Locations {");
    for (size_t i = 0; i < st->nmaps; i++) {
        loc_map_t *m = &st->maps[i];
        buf_printf(&q, " l%zu: location(id: \"gid://shopify/Location/%s\") { id isActive }", i, m->shopify);
        if (strspn(m->spec, "0123456789") == strlen(m->spec)) {
            m->odoo = strtoll(m->spec, NULL, 10);
            json_t *r = NULL;
            if (odoo_search_read(st, "stock.location", json_pack("[[s,s,I]]", "id", "=", (json_int_t)m->odoo),
                                 json_pack("[s]", "id"), NULL, 0, 0, &r, err) < 0)
                goto fail;
            size_t found = json_array_size(r);
            json_decref(r);
            if (!found) {
                err_full(err, ERR_CONFIGURATION, "stock.location_missing", record,
                           "fix the Odoo side of the mapping (a stock.location id or full name such as WH/Stock)",
                           "Odoo has no stock location with id %s", m->spec);
                goto fail;
            }
        } else {
            json_t *r = NULL;
            if (odoo_search_read(st, "stock.location", json_pack("[[s,s,s]]", "complete_name", "=", m->spec),
                                 json_pack("[s]", "id"), NULL, 2, 0, &r, err) < 0)
                goto fail;
            size_t found = json_array_size(r);
            m->odoo = json_integer_value(json_object_get(json_array_get(r, 0), "id"));
            json_decref(r);
            if (found != 1) {
                const char *hint = "use the location's full name as Odoo shows it (Inventory → Configuration → "
                                   "Locations), or its numeric id";
                if (found)
                    err_full(err, ERR_CONFIGURATION, "stock.location_ambiguous", record, hint,
                               "several Odoo stock locations are named \"%s\"", m->spec);
                else
                    err_full(err, ERR_CONFIGURATION, "stock.location_missing", record, hint,
                               "Odoo has no stock location named \"%s\"", m->spec);
                goto fail;
            }
        }
        json_array_append_new(ids, json_integer(m->odoo));
    }
    buf_puts(&q, " }");
    json_t *data = NULL;
    if (shopify_graphql(st->sh, q.data, NULL, (int)st->nmaps, &data, err) < 0)
        goto fail;
    for (size_t i = 0; i < st->nmaps; i++) {
        char alias[24];
        snprintf(alias, sizeof(alias), "l%zu", i);
        if (!json_is_object(json_object_get(data, alias))) {
            json_decref(data);
            err_full(err, ERR_CONFIGURATION, "stock.shopify_location_missing", record,
                       "use the id of a location of this shop (Settings → Locations, the number in the URL)",
                       "Shopify shop %s has no location %s (mapped from Odoo %s)", st->shop->domain,
                       st->maps[i].shopify, st->maps[i].spec);
            goto fail;
        }
    }
    json_decref(data);
    buf_release(&q);
    json_object_set_new(st->cache, ckey,
                        json_pack("{s:I, s:s, s:o}", "exp", (json_int_t)(now + st->cfg->odoo.cache_ttl_ms), "spec",
                                  st->shop->locations, "ids", ids));
    return 0;
fail:
    buf_release(&q);
    json_decref(ids);
    return -1;
}

/* ---- 2. Odoo quantities --------------------------------------------------------------------------------------- */

/* Sum free quantities per (product, map) over the quants of each mapped location tree, for products (an array of
 * ids) or for every product with a quant there (products NULL). One row per pair that has a quant. */
static int odoo_levels(stock_t *st, json_t *products, err_t *err)
{
    /* A burst touches most products: then one read of the whole location, filtered here, is cheaper for Odoo
     * than an `in` over thousands of ids (and the same rows). */
    json_t *want = NULL;
    bool filter_here = products && json_array_size(products) > 500;
    if (filter_here) {
        want = json_object();
        size_t i;
        json_t *v;
        json_array_foreach(products, i, v) {
            char k[24];
            snprintf(k, sizeof(k), "%lld", (long long)json_integer_value(v));
            json_object_set_new(want, k, json_true());
        }
    }
    int rc = -1;
    for (size_t m = 0; m < st->nmaps; m++) {
        json_t *sums = json_object();   /* "pid" → free quantity */
        for (int64_t offset = 0;; offset += ODOO_PAGE) {
            json_t *domain = json_pack("[[s,s,I]]", "location_id", "child_of", (json_int_t)st->maps[m].odoo);
            if (products && !filter_here)
                json_array_append_new(domain, json_pack("[s,s,O]", "product_id", "in", products));
            json_t *r = NULL;
            if (odoo_search_read(st, "stock.quant", domain,
                                 json_pack("[s,s,s]", "product_id", "quantity", "reserved_quantity"), "id asc",
                                 ODOO_PAGE, offset, &r, err) < 0) {
                json_decref(sums);
                goto out;
            }
            size_t i;
            json_t *q;
            json_array_foreach(r, i, q) {
                json_int_t pid = json_integer_value(json_array_get(json_object_get(q, "product_id"), 0));
                char k[24];
                snprintf(k, sizeof(k), "%lld", (long long)pid);
                if (want && !json_object_get(want, k))
                    continue;
                double v = json_number_value(json_object_get(sums, k)) +
                           json_number_value(json_object_get(q, "quantity")) -
                           json_number_value(json_object_get(q, "reserved_quantity"));
                json_object_set_new(sums, k, json_real(v));
            }
            size_t got = json_array_size(r);
            json_decref(r);
            progress(st, "odoo stock", (size_t)offset + got, 0);
            if (got < ODOO_PAGE)
                break;
        }
        const char *k;
        json_t *v;
        json_object_foreach(sums, k, v) {
            sync_level_t *r = row_add(st);
            if (!r) {
                json_decref(sums);
                err_full(err, ERR_INTERNAL, "sync.oom", NULL, NULL, "out of memory");
                goto out;
            }
            r->product_id = strtoll(k, NULL, 10);
            /* Units: Odoo keeps floats; Shopify counts whole items. Round down, never below zero: an oversold
             * product shows 0 for sale rather than a negative number Shopify refuses. */
            double f = json_number_value(v) + 1e-9;
            r->odoo = f > 0 ? (int64_t)f : 0;
            snprintf(r->location, sizeof(r->location), "%s", st->maps[m].shopify);
        }
        json_decref(sums);
    }
    rc = 0;
out:
    json_decref(want);
    return rc;
}

/* ---- 3. SKUs and inventory items ------------------------------------------------------------------------------ */

static int product_codes(stock_t *st, err_t *err)
{
    json_t *want = json_array();
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < st->nrows; i++) {
        char k[40];
        snprintf(k, sizeof(k), "p:%" PRId64, st->rows[i].product_id);
        json_t *c = json_object_get(st->cache, k);
        if (!c || json_integer_value(json_object_get(c, "exp")) < now) {
            json_object_del(st->cache, k);
            json_array_append_new(want, json_integer(st->rows[i].product_id));
            json_object_set_new(st->cache, k, json_pack("{s:I, s:s}", "exp", (json_int_t)0, "code", ""));
        }
    }
    for (size_t off = 0; off < json_array_size(want); off += ODOO_PAGE) {
        json_t *ids = json_array();
        for (size_t j = off; j < off + ODOO_PAGE && j < json_array_size(want); j++)
            json_array_append(ids, json_array_get(want, j));
        json_t *r = NULL;
        /* active_test off: an archived product can still hold stock, and it keeps its SKU. */
        json_t *params = json_pack("{s:[[s,s,O]], s:[s], s:{s:b}}", "domain", "id", "in", ids, "fields",
                                   "default_code", "context", "active_test", 0);
        int rc = odoo_call(st->odoo, "product.product", "search_read", NULL, params, &r, err);
        json_decref(params);
        json_decref(ids);
        if (rc < 0) {
            json_decref(want);
            return -1;
        }
        size_t i;
        json_t *p;
        json_array_foreach(r, i, p) {
            char k[40];
            snprintf(k, sizeof(k), "p:%lld", (long long)json_integer_value(json_object_get(p, "id")));
            const char *code = json_string_value(json_object_get(p, "default_code"));
            json_object_set_new(st->cache, k,
                                json_pack("{s:I, s:s}", "exp", (json_int_t)(now + st->cfg->odoo.cache_ttl_ms), "code",
                                          code ? code : ""));
        }
        json_decref(r);
    }
    json_decref(want);
    for (size_t i = 0; i < st->nrows; i++) {
        sync_level_t *r = &st->rows[i];
        char k[40], rec[400];
        snprintf(k, sizeof(k), "p:%" PRId64, r->product_id);
        const char *code = json_string_value(json_object_get(json_object_get(st->cache, k), "code"));
        if (code && cfg_list_match(st->shop->inventory_skip, code)) {
            r->status = SYNC_LEVEL_SAME;   /* not sold on Shopify, by configuration */
            r->shopify = r->odoo;
            snprintf(r->sku, sizeof(r->sku), "%s", code);
            continue;
        }
        if (!code || !*code) {
            err_t e;
            snprintf(r->sku, sizeof(r->sku), "(none)");
            err_full(&e, ERR_CONFIGURATION, "stock.no_internal_reference", level_record(st, r, rec, sizeof(rec)),
                       "give the Odoo product the SKU it has in Shopify as Internal Reference, or list it in "
                       "inventory_skip if it is not sold on Shopify; then retry this job",
                       "Odoo product %" PRId64 " has no internal reference, so its Shopify variant cannot be found",
                       r->product_id);
            row_fail(st, r, &e);
            continue;
        }
        if (!cfg_map_get(st->shop->sku_map, code, true, r->sku, sizeof(r->sku)))
            snprintf(r->sku, sizeof(r->sku), "%s", code);
    }
    return 0;
}

static void gql_quote(buf_t *b, const char *s)
{
    /* A search value in double quotes, escaped for the search syntax and then for the GraphQL string. */
    buf_puts(b, "sku:\\\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_puts(b, "\\\\\\");
        buf_append(b, s, 1);
    }
    buf_puts(b, "\\\"");
}

/* Find inventory items for the SKUs in skus (an object sku → null), filling it with the item ids found (a string,
 * or an array of strings when several items carry the SKU). */
static int discover_items(stock_t *st, json_t *skus, err_t *err)
{
    const char *sku;
    json_t *v;
    json_t *names = json_array();
    json_object_foreach(skus, sku, v)
        json_array_append_new(names, json_string(sku));
    size_t total = json_array_size(names);
    for (size_t off = 0; off < total; off += DISCOVER_BATCH) {
        buf_t q = BUF_INIT;
        size_t n = total - off < DISCOVER_BATCH ? total - off : DISCOVER_BATCH;
        /* first = 2n: room for duplicates, which must be seen to be refused. */
        buf_printf(&q, "query FindItems { inventoryItems(first: %zu, query: \"", 2 * n);
        for (size_t j = 0; j < n; j++) {
            if (j)
                buf_puts(&q, " OR ");
            gql_quote(&q, json_string_value(json_array_get(names, off + j)));
        }
        buf_puts(&q, "\") { nodes { id sku } } }");
        json_t *data = NULL;
        int rc = shopify_graphql(st->sh, q.data, NULL, (int)(2 + 2 * n), &data, err);
        buf_release(&q);
        if (rc < 0) {
            json_decref(names);
            return -1;
        }
        size_t i;
        json_t *node;
        json_array_foreach(json_object_get(json_object_get(data, "inventoryItems"), "nodes"), i, node) {
            const char *s = json_string_value(json_object_get(node, "sku"));
            char id[32];
            if (!s || !json_object_get(skus, s) ||
                shopify_gid_id(json_string_value(json_object_get(node, "id")), id, sizeof(id)) < 0)
                continue;   /* search matches loosely; only the exact SKU counts */
            json_t *have = json_object_get(skus, s);
            if (json_is_string(have)) {
                json_object_set_new(skus, s, json_pack("[O, s]", have, id));
            } else if (json_is_array(have)) {
                json_array_append_new(have, json_string(id));
            } else {
                json_object_set_new(skus, s, json_string(id));
            }
        }
        json_decref(data);
        progress(st, "shopify items", off + n, total);
    }
    json_decref(names);
    return 0;
}

static int resolve_items(stock_t *st, err_t *err)
{
    json_t *missing = json_object();
    json_t *known = json_object();   /* sku → item id, from links */
    for (size_t i = 0; i < st->nrows; i++) {
        sync_level_t *r = &st->rows[i];
        if (r->status == SYNC_LEVEL_FAILED || r->status == SYNC_LEVEL_SAME || r->item[0])
            continue;
        json_t *k = json_object_get(known, r->sku);
        if (!k && !json_object_get(missing, r->sku)) {
            store_link_t l;
            int have = store_link_get(st->s, "shopify", st->shop->domain, "sku", r->sku, &l, err);
            if (have < 0)
                goto fail;
            json_t *x = have && l.extra ? json_loads(l.extra, 0, NULL) : NULL;
            const char *item = json_string_value(json_object_get(x, "item"));
            if (item)
                json_object_set_new(known, r->sku, k = json_string(item));
            else
                json_object_set_new(missing, r->sku, json_null());
            json_decref(x);
            if (have)
                store_link_release(&l);
        }
        if (k)
            snprintf(r->item, sizeof(r->item), "%s", json_string_value(k));
    }
    if (json_object_size(missing)) {
        if (discover_items(st, missing, err) < 0)
            goto fail;
        /* Remember what was found: the next pass costs no lookup. */
        size_t n = 0, cap = json_object_size(missing);
        const char **ids = calloc(cap, sizeof(*ids));
        store_link_t *links = calloc(cap, sizeof(*links));
        const char *sku;
        json_t *v;
        json_object_foreach(missing, sku, v) {
            if (!json_is_string(v))
                continue;
            ids[n] = sku;
            snprintf(links[n].odoo_model, sizeof(links[n].odoo_model), "product.product");
            char *x = NULL;
            if (asprintf(&x, "{\"item\":\"%s\"}", json_string_value(v)) < 0)
                x = NULL;
            links[n].extra = x;
            n++;
        }
        for (size_t i = 0; i < st->nrows; i++) {
            sync_level_t *r = &st->rows[i];
            for (size_t j = 0; j < n; j++)
                if (!links[j].odoo_id && !strcmp(ids[j], r->sku))
                    links[j].odoo_id = r->product_id;
        }
        int rc = store_links_put(st->s, "shopify", st->shop->domain, "sku", ids, links, n, err);
        for (size_t j = 0; j < n; j++)
            free(links[j].extra);
        free(ids);
        free(links);
        if (rc < 0)
            goto fail;
    }
    for (size_t i = 0; i < st->nrows; i++) {
        sync_level_t *r = &st->rows[i];
        if (r->status == SYNC_LEVEL_FAILED || r->status == SYNC_LEVEL_SAME || r->item[0])
            continue;
        json_t *v = json_object_get(missing, r->sku);
        char rec[400];
        err_t e;
        if (json_is_string(v)) {
            snprintf(r->item, sizeof(r->item), "%s", json_string_value(v));
        } else if (json_is_array(v)) {
            err_full(&e, ERR_DATA, "stock.sku_ambiguous", level_record(st, r, rec, sizeof(rec)),
                       "make the SKU unique in Shopify (or map this product to one of them with sku_map), then retry "
                       "this job",
                       "%zu Shopify inventory items carry SKU %s (items %s, %s…): synchub will not guess which one "
                       "is this Odoo product", json_array_size(v), r->sku, json_string_value(json_array_get(v, 0)),
                       json_string_value(json_array_get(v, 1)));
            row_fail(st, r, &e);
        } else {
            err_full(&e, ERR_CONFIGURATION, "stock.sku_unmapped", level_record(st, r, rec, sizeof(rec)),
                       "give the Shopify variant this SKU, map it with sku_map = SHOPIFY-SKU=ODOO-CODE, or list the "
                       "code in inventory_skip if it is not sold on Shopify; then retry this job",
                       "no Shopify variant of shop %s has SKU %s", st->shop->domain, r->sku);
            row_fail(st, r, &e);
        }
    }
    json_decref(missing);
    json_decref(known);
    return 0;
fail:
    json_decref(missing);
    json_decref(known);
    return -1;
}

/* ---- 4. what Shopify has ------------------------------------------------------------------------------------ */

static void level_key(const sync_level_t *r, char *out, size_t n)
{
    snprintf(out, n, "%s@%s", r->item, r->location);
}

static int known_levels(stock_t *st, err_t *err)
{
    for (size_t i = 0; i < st->nrows; i++) {
        sync_level_t *r = &st->rows[i];
        if (r->status != SYNC_LEVEL_DRIFT || r->shopify >= 0)
            continue;
        char k[80];
        level_key(r, k, sizeof(k));
        store_link_t l;
        int have = store_link_get(st->s, "shopify", st->shop->domain, "level", k, &l, err);
        if (have < 0)
            return -1;
        if (have) {
            r->shopify = l.version;   /* a level link's version is the quantity Shopify was last known to have */
            store_link_release(&l);
        }
        if (r->shopify == r->odoo) {
            r->status = SYNC_LEVEL_SAME;
            st->same++;
        }
    }
    return 0;
}

static int save_levels(stock_t *st, const size_t *idx, size_t n, err_t *err)
{
    const char **ids = calloc(n ? n : 1, sizeof(*ids));
    char (*keys)[80] = calloc(n ? n : 1, sizeof(*keys));
    store_link_t *links = calloc(n ? n : 1, sizeof(*links));
    int rc = -1;
    if (ids && keys && links) {
        for (size_t j = 0; j < n; j++) {
            const sync_level_t *r = &st->rows[idx[j]];
            level_key(r, keys[j], sizeof(keys[j]));
            ids[j] = keys[j];
            snprintf(links[j].odoo_model, sizeof(links[j].odoo_model), "product.product");
            links[j].odoo_id = r->product_id;
            links[j].version = r->shopify;
        }
        rc = store_links_put(st->s, "shopify", st->shop->domain, "level", ids, links, n, err);
    } else {
        err_set(err, ERR_INTERNAL, "sync.oom", "out of memory");
    }
    free(ids);
    free(keys);
    free(links);
    return rc;
}

/* Read Shopify's available for rows idx[0..n) (a stale compare): r->shopify gets it (-1: not stocked there). */
static int reread(stock_t *st, const size_t *idx, size_t n, err_t *err)
{
    for (size_t off = 0; off < n; off += REREAD_BATCH) {
        size_t m = n - off < REREAD_BATCH ? n - off : REREAD_BATCH;
        buf_t q = BUF_INIT;
        buf_puts(&q, "query Levels {");
        for (size_t j = 0; j < m; j++) {
            const sync_level_t *r = &st->rows[idx[off + j]];
            buf_printf(&q,
                       " l%zu: inventoryItem(id: \"gid://shopify/InventoryItem/%s\") { inventoryLevel(locationId: "
                       "\"gid://shopify/Location/%s\") { quantities(names: [\"available\"]) { quantity } } }",
                       j, r->item, r->location);
        }
        buf_puts(&q, " }");
        json_t *data = NULL;
        int rc = shopify_graphql(st->sh, q.data, NULL, (int)(3 * m), &data, err);
        buf_release(&q);
        if (rc < 0)
            return -1;
        for (size_t j = 0; j < m; j++) {
            char alias[24];
            snprintf(alias, sizeof(alias), "l%zu", j);
            json_t *lvl = json_object_get(json_object_get(data, alias), "inventoryLevel");
            json_t *qty = json_object_get(json_array_get(json_object_get(lvl, "quantities"), 0), "quantity");
            st->rows[idx[off + j]].shopify = json_is_integer(qty) ? json_integer_value(qty) : -1;
        }
        json_decref(data);
    }
    return 0;
}

/* ---- 5. the push ------------------------------------------------------------------------------------------ */

static const char set_doc_idempotent[] =
    "mutation SetQuantities($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {"
    " inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {"
    " inventoryAdjustmentGroup { id } userErrors { field message code } } }";
static const char set_doc_legacy[] =
    "mutation SetQuantities($input: InventorySetQuantitiesInput!) {"
    " inventorySetQuantities(input: $input) { inventoryAdjustmentGroup { id } userErrors { field message code } } }";

/* The index into the quantities list a userError's field path names (["input","quantities","3",…]), or -1. */
static long user_error_index(const json_t *ue)
{
    json_t *f = json_object_get(ue, "field");
    if (json_array_size(f) < 3 || strcmp(json_string_value(json_array_get(f, 1)) ?: "", "quantities") != 0)
        return -1;
    const char *s = json_string_value(json_array_get(f, 2));
    char *end = NULL;
    long i = s ? strtol(s, &end, 10) : -1;
    return s && end && !*end ? i : -1;
}

/* Classify a per-quantity userError for the row it names. */
static void item_error(stock_t *st, sync_level_t *r, const char *code, const char *message)
{
    err_t e;
    char rec[400];
    level_record(st, r, rec, sizeof(rec));
    const char *c = code ? code : "USER_ERROR";
    char full[80];
    shopify_error_code(code, full, sizeof(full));
    if (!strcmp(c, "ITEM_NOT_STOCKED_AT_LOCATION") || !strcmp(c, "INVALID_LOCATION"))
        err_full(&e, ERR_CONFIGURATION, full, rec,
                   "stock the item at this location in Shopify (or remove the location from the map), then retry "
                   "this job",
                   "Shopify refused the quantity: %s", message ? message : c);
    else if (!strcmp(c, "INVALID_INVENTORY_ITEM"))
        err_full(&e, ERR_DATA, full, rec,
                   "the variant was deleted or is not tracked in Shopify; the link is forgotten, so retrying this job "
                   "looks the SKU up again",
                   "Shopify refused the quantity: %s", message ? message : c);
    else
        err_full(&e, ERR_DATA, full, rec, "check the quantity in Odoo, then retry this job",
                   "Shopify refused the quantity %" PRId64 ": %s", r->odoo, message ? message : c);
    e.retry_safe = true;
    if (!strcmp(c, "INVALID_INVENTORY_ITEM")) {
        err_t ignored;   /* a link that stays only costs the retry one refused call more */
        store_link_forget(st->s, "shopify", st->shop->domain, "sku", r->sku, &ignored);
    }
    row_fail(st, r, &e);
}

/* The effects of one applied inventorySetQuantities: one per quantity, subject "sku:<sku>", in one transaction.
 * Called before the rows take their new quantity, so "previous" is what synchub believed Shopify had (null when
 * it never knew). A failure to record is logged: the quantities are set either way. */
static void record_pushes(stock_t *st, const size_t *idx, size_t n, const char *group)
{
    store_effect_t *e = calloc(n, sizeof(*e));
    char (*subject)[140] = calloc(n, sizeof(*subject));
    char (*target)[64] = calloc(n, sizeof(*target));
    char **detail = calloc(n, sizeof(*detail));
    err_t err;
    int rc = -1;
    if (e && subject && target && detail) {
        for (size_t j = 0; j < n; j++) {
            const sync_level_t *r = &st->rows[idx[j]];
            snprintf(subject[j], sizeof(subject[j]), "sku:%s", r->sku);
            shopify_gid("InventoryItem", r->item, target[j], sizeof(target[j]));
            json_t *d = json_pack("{s:s, s:I, s:o, s:s?}", "location", r->location, "quantity", (json_int_t)r->odoo,
                                  "previous", r->shopify >= 0 ? json_integer(r->shopify) : json_null(),
                                  "adjustment_group", group);
            detail[j] = d ? json_dumps(d, JSON_COMPACT) : NULL;
            json_decref(d);
            e[j] = (store_effect_t){.job_id = st->job_id, .correlation_id = st->correlation,
                                    .shop = st->shop->domain, .subject = subject[j], .system = "shopify",
                                    .action = "inventorySetQuantities", .target = target[j], .detail = detail[j]};
        }
        rc = store_effects_add(st->s, e, n, &err);
    } else {
        err_set(&err, ERR_INTERNAL, "sync.oom", "out of memory");
    }
    if (rc < 0)
        log_kv(LOG_LVL_WARN, "stock", "cannot record stock pushes for the trace", "shop", st->shop->domain, "code",
               err.code, "error", err.message, NULL);
    for (size_t j = 0; detail && j < n; j++)
        free(detail[j]);
    free(detail);
    free(target);
    free(subject);
    free(e);
}

/* Send rows idx[0..n) (all DRIFT) as one inventorySetQuantities, re-sending after stale compares and without the
 * items Shopify refuses. Rows end PUSHED or FAILED. -1 only when the call as a whole fails (err). */
static int push_batch(stock_t *st, size_t *idx, size_t n, err_t *err)
{
    bool modern = shopify_has_idempotent(st->sh);   /* 2026-01 on: changeFromQuantity and @idempotent */
    for (int round = 0; n > 0; round++) {
        if (round == PUSH_ROUNDS) {
            for (size_t j = 0; j < n; j++) {
                err_t e;
                char rec[400];
                err_full(&e, ERR_TRANSIENT, "stock.shopify_moving", level_record(st, &st->rows[idx[j]], rec, sizeof(rec)),
                           "nothing to fix: the job retries with fresh quantities",
                           "Shopify's quantity changed during every one of %d attempts to set it", PUSH_ROUNDS);
                row_fail(st, &st->rows[idx[j]], &e);
            }
            return 0;
        }
        json_t *quantities = json_array();
        bool unknown = false;
        for (size_t j = 0; j < n; j++) {
            const sync_level_t *r = &st->rows[idx[j]];
            char item[64], loc[64];
            shopify_gid("InventoryItem", r->item, item, sizeof(item));
            shopify_gid("Location", r->location, loc, sizeof(loc));
            json_t *qv = json_pack("{s:s, s:s, s:I}", "inventoryItemId", item, "locationId", loc, "quantity",
                                   (json_int_t)r->odoo);
            if (modern)
                json_object_set_new(qv, "changeFromQuantity",
                                    r->shopify >= 0 ? json_integer(r->shopify) : json_null());
            else if (r->shopify >= 0)
                json_object_set_new(qv, "compareQuantity", json_integer(r->shopify));
            unknown = unknown || r->shopify < 0;
            json_array_append_new(quantities, qv);
        }
        char ref[200];
        snprintf(ref, sizeof(ref), "gid://synchub/StockSync/%s", st->key_base);
        json_t *input = json_pack("{s:s, s:s, s:s, s:o}", "name", "available", "reason", "correction",
                                  "referenceDocumentUri", ref, "quantities", quantities);
        if (!modern && unknown)
            json_object_set_new(input, "ignoreCompareQuantity", json_true());
        json_t *vars = json_pack("{s:o}", "input", input);
        /* The key is bound to the content: the same batch re-sent after a lost answer repeats it (Shopify applies
         * it once); a batch changed by a re-read is a different operation with its own key. */
        char *text = json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS);
        unsigned char digest[CRYPTO_SHA256_LEN];
        char step[2 * CRYPTO_SHA256_LEN + 1], key[33] = "";
        crypto_sha256(text ? text : "", text ? strlen(text) : 0, digest);
        crypto_hex(digest, sizeof(digest), step);
        free(text);
        shopify_idempotency_key(st->key_base, step, key, sizeof(key));
        if (modern)
            json_object_set_new(vars, "idempotencyKey", json_string(key));
        json_t *data = NULL;
        int rc = shopify_graphql(st->sh, modern ? set_doc_idempotent : set_doc_legacy, vars, 10, &data, err);
        json_decref(vars);
        if (rc < 0)
            return -1;
        st->mutations++;
        json_t *payload = json_object_get(data, "inventorySetQuantities");
        json_t *ues = json_object_get(payload, "userErrors");
        if (!json_is_object(payload)) {
            json_decref(data);
            return err_full(err, ERR_INTERNAL, "shopify.bad_response", NULL, "a synchub bug; report it",
                              "Shopify's answer has no inventorySetQuantities payload");
        }
        if (json_array_size(ues) == 0) {
            record_pushes(st, idx, n, json_string_value(json_object_get(
                                          json_object_get(payload, "inventoryAdjustmentGroup"), "id")));
            for (size_t j = 0; j < n; j++) {
                st->rows[idx[j]].shopify = st->rows[idx[j]].odoo;
                st->rows[idx[j]].status = SYNC_LEVEL_PUSHED;
            }
            st->pushed += n;
            json_decref(data);
            return save_levels(st, idx, n, err);
        }
        /* Shopify applied nothing. Sort the errors: stale levels are re-read, bad items leave the batch, and an
         * error that names no item fails the whole call. */
        bool *stale = calloc(n, sizeof(*stale)), *bad = calloc(n, sizeof(*bad));
        size_t i;
        json_t *ue;
        int whole = 0;
        json_array_foreach(ues, i, ue) {
            long at = user_error_index(ue);
            const char *code = json_string_value(json_object_get(ue, "code"));
            if (at < 0 || (size_t)at >= n) {
                whole = 1;
                shopify_user_errors(payload, "inventorySetQuantities", err);
                break;
            }
            if (code && (!strcmp(code, "CHANGE_FROM_QUANTITY_STALE") || !strcmp(code, "COMPARE_QUANTITY_STALE")))
                stale[at] = true;
            else if (!bad[at]) {
                bad[at] = true;
                item_error(st, &st->rows[idx[at]], code, json_string_value(json_object_get(ue, "message")));
            }
        }
        json_decref(data);
        if (whole) {
            free(stale);
            free(bad);
            err_record(err, "stock of shop %s: inventorySetQuantities of %zu quantities", st->shop->domain, n);
            return -1;
        }
        size_t ns = 0, keep = 0;
        size_t *stale_idx = calloc(n, sizeof(*stale_idx));
        for (size_t j = 0; j < n; j++) {
            if (bad[j])
                continue;
            if (stale[j])
                stale_idx[ns++] = idx[j];
            idx[keep++] = idx[j];
        }
        free(stale);
        free(bad);
        if (ns) {
            st->stale += ns;
            metrics_add(st->metrics, METRIC_RECONCILE_DRIFT, (const char *[]){st->shop->domain, "stock"}, (double)ns);
            rc = reread(st, stale_idx, ns, err);
            for (size_t j = 0; rc == 0 && j < ns; j++) {
                sync_level_t *r = &st->rows[stale_idx[j]];
                char rec[400];
                /* Someone else changed Shopify's quantity since synchub last set it (an order placed in Shopify not
                 * yet reserved in Odoo, an edit in the Shopify admin). Odoo owns stock: set Odoo's figure, and say
                 * that it happened. */
                log_kv(LOG_LVL_INFO, "stock", "Shopify quantity changed outside synchub; setting Odoo's", "record",
                       level_record(st, r, rec, sizeof(rec)), NULL);
            }
        }
        free(stale_idx);
        if (rc < 0)
            return -1;
        /* A level read back equal to Odoo's needs nothing more. */
        size_t left = 0;
        for (size_t j = 0; j < keep; j++) {
            sync_level_t *r = &st->rows[idx[j]];
            if (r->shopify == r->odoo) {
                r->status = SYNC_LEVEL_SAME;
                st->same++;
                if (save_levels(st, &idx[j], 1, err) < 0)
                    return -1;
            } else {
                idx[left++] = idx[j];
            }
        }
        n = left;
    }
    return 0;
}

static int push_all(stock_t *st, err_t *err)
{
    size_t batch = (size_t)st->shop->inventory_batch;
    size_t *idx = calloc(batch, sizeof(*idx));
    if (!idx)
        return err_full(err, ERR_INTERNAL, "sync.oom", NULL, NULL, "out of memory");
    size_t total = 0, done = 0;
    for (size_t i = 0; i < st->nrows; i++)
        total += st->rows[i].status == SYNC_LEVEL_DRIFT;
    size_t n = 0;
    for (size_t i = 0; i <= st->nrows; i++) {
        if (i < st->nrows && st->rows[i].status == SYNC_LEVEL_DRIFT)
            idx[n++] = i;
        if (n == batch || (i == st->nrows && n)) {
            if (push_batch(st, idx, n, err) < 0) {
                free(idx);
                return -1;
            }
            done += n;
            progress(st, "push", done, total);
            n = 0;
        }
    }
    free(idx);
    return 0;
}

/* ---- one pass ------------------------------------------------------------------------------------------------ */

static void stock_init(stock_t *st, const cfg_t *cfg, const cfg_shop_t *shop, odoo_t *odoo, shopify_t *sh, store_t *s,
                       json_t *cache, const char *key_base, const job_t *job)
{
    memset(st, 0, sizeof(*st));
    st->cfg = cfg;
    st->shop = shop;
    st->odoo = odoo;
    st->sh = sh;
    st->s = s;
    st->cache = cache;
    snprintf(st->key_base, sizeof(st->key_base), "%s", key_base);
    snprintf(st->own_corr, sizeof(st->own_corr), "cli:%s", key_base);
    st->job_id = job ? job->id : NULL;
    st->correlation = job && job->correlation_id ? job->correlation_id : st->own_corr;
}

/* Steps 2–5 for products (NULL = all with stock in the mapped locations). */
static int stock_pass(stock_t *st, json_t *products, err_t *err)
{
    if (odoo_levels(st, products, err) < 0 || product_codes(st, err) < 0 || resolve_items(st, err) < 0 ||
        known_levels(st, err) < 0)
        return -1;
    return push_all(st, err);
}

/* A failed level of a poll becomes a stock.sku job of its product, which runs that product alone and, failing
 * the same way, shows the operator exactly this error (and can be retried once it is fixed). One job per product
 * and Odoo change: the same failure on the next poll does not add another. */
static int spawn_sku_jobs(stock_t *st, const char *version, err_t *err)
{
    json_t *seen = json_object();
    int rc = 0;
    for (size_t i = 0; i < st->nrows && rc == 0; i++) {
        const sync_level_t *r = &st->rows[i];
        char pid[24];
        snprintf(pid, sizeof(pid), "%" PRId64, r->product_id);
        if (r->status != SYNC_LEVEL_FAILED || r->err.cls == ERR_TRANSIENT || json_object_get(seen, pid))
            continue;
        json_object_set_new(seen, pid, json_true());
        char idem[400], okey[300];
        snprintf(idem, sizeof(idem), "sync|%s|%s|%s|%s", SYNC_KIND_STOCK_SKU, st->shop->domain, pid, version);
        sync_okey(SYNC_KIND_STOCK_POLL, st->shop->domain, okey, sizeof(okey));
        json_t *p = json_pack("{s:s, s:I, s:s}", "shop", st->shop->domain, "product_id", (json_int_t)r->product_id,
                              "sku", r->sku);
        char *text = json_dumps(p, JSON_COMPACT);
        json_decref(p);
        rc = sync_enqueue(st->s, st->cfg, SYNC_KIND_STOCK_SKU, okey, idem, text ? text : "{}", st->correlation,
                          NULL, err);
        free(text);
    }
    json_decref(seen);
    return rc;
}

/* Products with a quant written since `since` (Odoo datetime, "" = ever) in any mapped location; *newest gets the
 * latest write_date seen. */
static int changed_products(stock_t *st, const char *since, json_t *products, char *newest, size_t nn, err_t *err)
{
    json_t *seen = json_object();
    for (size_t m = 0; m < st->nmaps; m++) {
        for (int64_t offset = 0;; offset += ODOO_PAGE) {
            json_t *domain = json_pack("[[s,s,I]]", "location_id", "child_of", (json_int_t)st->maps[m].odoo);
            if (since[0])
                json_array_append_new(domain, json_pack("[s,s,s]", "write_date", ">=", since));
            json_t *r = NULL;
            if (odoo_search_read(st, "stock.quant", domain, json_pack("[s,s]", "product_id", "write_date"),
                                 "write_date asc, id asc", ODOO_PAGE, offset, &r, err) < 0) {
                json_decref(seen);
                return -1;
            }
            size_t i;
            json_t *q;
            json_array_foreach(r, i, q) {
                json_int_t pid = json_integer_value(json_array_get(json_object_get(q, "product_id"), 0));
                const char *wd = json_string_value(json_object_get(q, "write_date"));
                char k[24];
                snprintf(k, sizeof(k), "%lld", (long long)pid);
                if (!json_object_get(seen, k)) {
                    json_object_set_new(seen, k, json_true());
                    json_array_append_new(products, json_integer(pid));
                }
                if (wd && strcmp(wd, newest) > 0)
                    snprintf(newest, nn, "%s", wd);
            }
            size_t got = json_array_size(r);
            json_decref(r);
            if (got < ODOO_PAGE)
                break;
        }
    }
    json_decref(seen);
    return 0;
}

static void summary(const stock_t *st, char *out, size_t n, const char *head)
{
    snprintf(out, n, "%s%zu level(s): %zu pushed in %zu mutation(s), %zu unchanged, %zu re-read after a stale "
                     "compare, %zu failed",
             head, st->nrows, st->pushed, st->mutations, st->same, st->stale, st->failed);
}

static int h_stock_poll(queue_run_t *run)
{
    const cfg_shop_t *shop;
    sync_worker_t *w = sync_job_begin(run, &shop, NULL);
    if (!w)
        return -1;
    const cfg_t *cfg = sync_cfg(run->udata);
    stock_t st;
    stock_init(&st, cfg, shop, sync_worker_odoo(w), sync_worker_shopify(w, shop), run->store, sync_worker_cache(w),
               run->job->id, run->job);
    st.metrics = sync_metrics(run->udata);
    sync_cursor_t cur;
    json_t *products = json_array();
    char since[32] = "", newest[sizeof(cur.position)] = "";
    int rc = -1;
    if (sync_cursor_load(run->store, "stock", shop->domain, &cur, &run->err) < 0 || resolve_maps(&st, &run->err) < 0)
        goto out;
    snprintf(newest, sizeof(newest), "%s", cur.position);
    int64_t at;
    if (cur.position[0] && odoo_datetime_parse(cur.position, &at) == 0)
        odoo_datetime(at - shop->inventory_lookback_ms, since, sizeof(since));
    if (changed_products(&st, since, products, newest, sizeof(newest), &run->err) < 0)
        goto out;
    if (json_array_size(products) && stock_pass(&st, products, &run->err) < 0)
        goto out;
    if (spawn_sku_jobs(&st, newest, &run->err) < 0 ||
        sync_cursor_advance(run->store, "stock", shop->domain, &cur, newest, &run->err) < 0)
        goto out;
    char head[96];
    snprintf(head, sizeof(head), "%zu product(s) changed since %s: ", json_array_size(products),
             since[0] ? since : "the start");
    summary(&st, run->note, sizeof(run->note), head);
    rc = 0;
out:
    if (rc < 0 && !run->err.record[0])
        err_record(&run->err, "stock poll of shop %s", shop->domain);
    json_decref(products);
    free(st.rows);
    return rc;
}

static int h_stock_sku(queue_run_t *run)
{
    const cfg_shop_t *shop;
    json_t *payload = NULL;
    sync_worker_t *w = sync_job_begin(run, &shop, &payload);
    json_int_t pid = json_integer_value(json_object_get(payload, "product_id"));
    json_decref(payload);
    if (!w)
        return -1;
    if (pid <= 0)
        return err_full(&run->err, ERR_DATA, "sync.payload", NULL, "discard this job", "job %s names no Odoo product",
                        run->job->id);
    const cfg_t *cfg = sync_cfg(run->udata);
    stock_t st;
    stock_init(&st, cfg, shop, sync_worker_odoo(w), sync_worker_shopify(w, shop), run->store, sync_worker_cache(w),
               run->job->id, run->job);
    st.metrics = sync_metrics(run->udata);
    json_t *products = json_pack("[I]", pid);
    /* A retry after a fix must not trust what was cached about this product. */
    char k[40];
    snprintf(k, sizeof(k), "p:%lld", (long long)pid);
    json_object_del(st.cache, k);
    int rc = -1;
    if (resolve_maps(&st, &run->err) < 0 || stock_pass(&st, products, &run->err) < 0)
        goto out;
    for (size_t i = 0; i < st.nrows; i++) {
        if (st.rows[i].status == SYNC_LEVEL_FAILED) {
            run->err = st.rows[i].err;   /* the first failure is the job's */
            goto out;
        }
    }
    summary(&st, run->note, sizeof(run->note), "");
    if (!st.nrows)
        snprintf(run->note, sizeof(run->note), "Odoo product %lld has no stock in the mapped locations: nothing to "
                                               "push", (long long)pid);
    rc = 0;
out:
    json_decref(products);
    free(st.rows);
    return rc;
}

int sync_stock_register(queue_registry_t *reg, sync_t *sy)
{
    if (queue_registry_add_slot(reg, SYNC_KIND_STOCK_POLL, h_stock_poll, sy, sync_worker_free) < 0 ||
        queue_registry_add_slot(reg, SYNC_KIND_STOCK_SKU, h_stock_sku, sy, sync_worker_free) < 0)
        return -1;
    return 0;
}

/* ---- reconciliation ------------------------------------------------------------------------------------------ */

/* Every level Shopify has at the mapped locations: rows keyed "item@location" in have → {sku, q}. */
static int shopify_levels(stock_t *st, json_t *have, err_t *err)
{
    for (size_t m = 0; m < st->nmaps; m++) {
        char after[512] = "";
        for (;;) {
            buf_t q = BUF_INIT;
            buf_printf(&q, "query LocationLevels($after: String) { location(id: \"gid://shopify/Location/%s\") {"
                           " inventoryLevels(first: 250, after: $after) { nodes { item { id sku }"
                           " quantities(names: [\"available\"]) { quantity } } pageInfo { hasNextPage endCursor } } } }",
                       st->maps[m].shopify);
            json_t *vars = after[0] ? json_pack("{s:s}", "after", after) : json_object();
            json_t *data = NULL;
            int rc = shopify_graphql(st->sh, q.data, vars, 0, &data, err);
            buf_release(&q);
            json_decref(vars);
            if (rc < 0)
                return -1;
            json_t *conn = json_object_get(json_object_get(data, "location"), "inventoryLevels");
            size_t i;
            json_t *node;
            json_array_foreach(json_object_get(conn, "nodes"), i, node) {
                json_t *item = json_object_get(node, "item");
                char id[32], k[80];
                if (shopify_gid_id(json_string_value(json_object_get(item, "id")), id, sizeof(id)) < 0)
                    continue;
                snprintf(k, sizeof(k), "%s@%s", id, st->maps[m].shopify);
                json_t *qty = json_object_get(json_array_get(json_object_get(node, "quantities"), 0), "quantity");
                const char *sku = json_string_value(json_object_get(item, "sku"));
                json_object_set_new(have, k, json_pack("{s:s, s:s, s:s, s:I}", "sku", sku ? sku : "", "item", id,
                                                       "loc", st->maps[m].shopify,
                                                       "q", (json_int_t)json_integer_value(qty)));
            }
            json_t *pi = json_object_get(conn, "pageInfo");
            bool more = json_is_true(json_object_get(pi, "hasNextPage"));
            snprintf(after, sizeof(after), "%s", json_string_value(json_object_get(pi, "endCursor")) ?: "");
            json_decref(data);
            progress(st, "shopify levels", json_object_size(have), 0);
            if (!more || !after[0])
                break;
        }
    }
    return 0;
}

int sync_stock_reconcile(const cfg_t *cfg, const cfg_shop_t *shop, shopify_throttle_t *throttle, store_t *s,
                         bool push, bool all_rows, const sync_progress_t *prog, sync_level_t **levels, size_t *n,
                         err_t *err)
{
    *levels = NULL;
    *n = 0;
    if (!sync_enabled(cfg, shop, SYNC_KIND_STOCK_POLL))
        return err_full(err, ERR_CONFIGURATION, "config.sync", NULL,
                          "set [odoo], and admin_token and locations in the shop's section",
                          "inventory of shop %s is not configured", shop->domain);
    odoo_t *odoo = odoo_new(&cfg->odoo);
    shopify_t *sh = shopify_new(shop, throttle);
    json_t *cache = json_object(), *have = json_object();
    stock_t st;
    char base[64];
    snprintf(base, sizeof(base), "reconcile-%" PRId64, clock_now_ms());
    stock_init(&st, cfg, shop, odoo, sh, s, cache, base, NULL);
    st.progress = prog;
    int rc = -1;
    if (!odoo || !sh || !cache || !have) {
        err_full(err, ERR_INTERNAL, "sync.oom", NULL, NULL, "out of memory");
        goto out;
    }
    if (resolve_maps(&st, err) < 0 || shopify_levels(&st, have, err) < 0 || odoo_levels(&st, NULL, err) < 0)
        goto out;
    /* Shopify levels whose SKU has no stock row on the Odoo side: Odoo's quantity there is 0 if Odoo knows the
     * product, else the row only reports that Odoo has no such SKU. */
    json_t *odoo_keys = json_object();
    size_t nodoo = st.nrows;
    if (product_codes(&st, err) < 0) {
        json_decref(odoo_keys);
        goto out;
    }
    json_t *by_sku = json_object();   /* sku → product id, for the Odoo side */
    for (size_t i = 0; i < nodoo; i++)
        if (st.rows[i].sku[0])
            json_object_set_new(by_sku, st.rows[i].sku, json_integer(st.rows[i].product_id));
    const char *k;
    json_t *v;
    json_t *absent = json_array();   /* codes to look up in Odoo */
    json_object_foreach(have, k, v) {
        const char *sku = json_string_value(json_object_get(v, "sku"));
        char code[128];
        if (!cfg_map_get(shop->sku_map, sku, false, code, sizeof(code)))
            snprintf(code, sizeof(code), "%s", sku);
        if (sku[0] && !json_object_get(by_sku, sku))
            json_array_append_new(absent, json_string(code));
    }
    if (json_array_size(absent)) {
        json_t *r = NULL;
        json_t *params = json_pack("{s:[[s,s,O]], s:[s,s], s:{s:b}}", "domain", "default_code", "in", absent,
                                   "fields", "id", "default_code", "context", "active_test", 0);
        int crc = odoo_call(odoo, "product.product", "search_read", NULL, params, &r, err);
        json_decref(params);
        if (crc < 0) {
            json_decref(absent);
            json_decref(by_sku);
            json_decref(odoo_keys);
            goto out;
        }
        size_t i;
        json_t *p;
        json_array_foreach(r, i, p) {
            const char *code = json_string_value(json_object_get(p, "default_code"));
            char sku[128];
            if (!code)
                continue;
            if (!cfg_map_get(shop->sku_map, code, true, sku, sizeof(sku)))
                snprintf(sku, sizeof(sku), "%s", code);
            json_object_set_new(by_sku, sku, json_integer(json_integer_value(json_object_get(p, "id"))));
        }
        json_decref(r);
    }
    json_decref(absent);
    /* Join: every Odoo row gets its item from the Shopify listing where the SKU matches. */
    json_t *item_of = json_object();   /* sku → item id (from Shopify's listing) */
    json_object_foreach(have, k, v)
        json_object_set(item_of, json_string_value(json_object_get(v, "sku")), json_object_get(v, "item"));
    for (size_t i = 0; i < nodoo; i++) {
        sync_level_t *r = &st.rows[i];
        json_t *item = json_object_get(item_of, r->sku);
        if (r->status == SYNC_LEVEL_DRIFT && item)
            snprintf(r->item, sizeof(r->item), "%s", json_string_value(item));
        if (r->item[0]) {
            char key[80];
            level_key(r, key, sizeof(key));
            json_t *h = json_object_get(have, key);
            json_object_set_new(odoo_keys, key, json_true());
            if (h)
                r->shopify = json_integer_value(json_object_get(h, "q"));
        }
    }
    json_decref(item_of);
    json_object_foreach(have, k, v) {
        if (json_object_get(odoo_keys, k))
            continue;
        const char *sku = json_string_value(json_object_get(v, "sku"));
        if (shop->inventory_skip && cfg_list_match(shop->inventory_skip, sku))
            continue;
        sync_level_t *r = row_add(&st);
        if (!r)
            break;
        snprintf(r->sku, sizeof(r->sku), "%s", sku);
        snprintf(r->item, sizeof(r->item), "%s", json_string_value(json_object_get(v, "item")));
        snprintf(r->location, sizeof(r->location), "%s", json_string_value(json_object_get(v, "loc")));
        r->shopify = json_integer_value(json_object_get(v, "q"));
        r->product_id = json_integer_value(json_object_get(by_sku, sku));
        r->odoo = 0;
        if (!r->product_id) {
            r->status = SYNC_LEVEL_NO_ODOO;   /* reported, never touched: synchub did not put it there */
            r->odoo = -1;
        }
    }
    json_decref(by_sku);
    json_decref(odoo_keys);
    /* Odoo rows with no Shopify level at that location: find the item (maybe stocked elsewhere, maybe absent). */
    if (resolve_items(&st, err) < 0)
        goto out;
    for (size_t i = 0; i < st.nrows; i++) {
        sync_level_t *r = &st.rows[i];
        if (r->status == SYNC_LEVEL_DRIFT && r->shopify == r->odoo) {
            r->status = SYNC_LEVEL_SAME;
            st.same++;
        }
    }
    /* What Shopify has now is known: remember it, so the poller's compares start from the truth. */
    {
        size_t *idx = calloc(st.nrows + 1, sizeof(*idx)), m = 0;
        for (size_t i = 0; idx && i < st.nrows; i++)
            if (st.rows[i].item[0] && st.rows[i].shopify >= 0 && st.rows[i].product_id)
                idx[m++] = i;
        int src = idx ? save_levels(&st, idx, m, err) : -1;
        free(idx);
        if (src < 0)
            goto out;
    }
    if (push) {
        for (size_t i = 0; i < st.nrows; i++)
            if (st.rows[i].status == SYNC_LEVEL_DRIFT && st.rows[i].shopify < 0) {
                /* Not stocked at this Shopify location although Odoo has it there: setting it would fail. */
                err_t e;
                char rec[400];
                err_full(&e, ERR_CONFIGURATION, "shopify.item_not_stocked_at_location",
                           level_record(&st, &st.rows[i], rec, sizeof(rec)),
                           "stock the item at this location in Shopify (or remove the location from the map)",
                           "Odoo has stock here but the Shopify item is not stocked at this location");
                row_fail(&st, &st.rows[i], &e);
            }
        if (push_all(&st, err) < 0)
            goto out;
    }
    rc = 0;
out:
    if (rc == 0) {
        size_t keep = 0;
        for (size_t i = 0; i < st.nrows; i++)
            if (all_rows || st.rows[i].status != SYNC_LEVEL_SAME)
                st.rows[keep++] = st.rows[i];
        *levels = st.rows;
        *n = keep;
        st.rows = NULL;
    }
    free(st.rows);
    json_decref(cache);
    json_decref(have);
    shopify_free(sh);
    odoo_free(odoo);
    return rc;
}
