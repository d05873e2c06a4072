/* flow_fulfillment: done Odoo deliveries of Shopify orders → Shopify fulfillments (carrier, tracking number and
 * URL, through the fulfillment orders API), each created exactly once, and tracking changes made in Odoo afterwards
 * → fulfillmentTrackingInfoUpdate. Odoo owns shipping: nothing here writes to Odoo.
 * Not here: fulfillments made in Shopify (the other direction), returns and cancellations after shipping, the
 * scheduler (flow_common.c), the protocols (odoo/, shopify/).
 *
 * Two kinds. fulfillment.poll [h_poll] lists the shop's done outgoing pickings whose sale order came from Shopify
 * (sale.order.origin "Shopify <domain> <order name>", written by flows/flow_orders.c), written since the cursor
 * (minus inventory_lookback: a transaction that commits late can carry an older write_date), and enqueues one
 * fulfillment.push per (picking, tracking number): a new tracking number is a new job (an update), the same one
 * never makes a second job. The pushes of one sale order share an ordering key, so two deliveries of one order
 * never read and fulfil the same fulfillment orders at the same time. fulfillment.push [h_push] reads the picking
 * fresh and brings Shopify in line with it.
 *
 * The link of a delivery: ("shopify", shop, "fulfillment", <Shopify fulfillment id>) → stock.picking/<picking id>,
 * extra {"order", "number", "company", "url"} = the tracking Shopify was last given. Keyed by Shopify's id like
 * every other link, it answers both questions this file asks: which fulfillment is this delivery's
 * (store_link_find by the picking) and does a fulfillment already belong to another delivery (store_link_get by
 * the fulfillment). A delivery for which Shopify had nothing left to fulfil gets the key "none-<picking id>".
 *
 * One push, and the function performing each transition:
 *
 *     no link ──fulfillmentCreate──────────────────────> link "created"            [create_fulfillment]
 *     no link ──a fulfillment carries our number───────> link "adopted" ─┐         [adopt]
 *     no link ──nothing remaining for its lines────────> link "none"     │         [h_push]
 *     link ────tracking differs from the link's────────> link, new tracking <────┘ [sync_tracking]
 *     link ────same tracking───────────────────────────> (nothing: "already fulfilled")
 *
 * Exactly once. Shopify documents the @idempotent directive for inventory and refund mutations (changelog
 * "Adding idempotency for inventory adjustments and refund mutations", 2026-01), not for fulfillmentCreate; the
 * emulator accepts it on every mutation, but real Shopify is not known to honour it there and may refuse it, so it
 * is not sent. Instead: (1) the link, written right after Shopify answers, makes a replay or a second poll do
 * nothing; (2) without a link (the answer was lost, the link write failed, the store was wiped) the order's
 * fulfillments are read before creating, and one that carries this delivery's tracking number, holds only this
 * delivery's SKUs and is not linked to another delivery is adopted; (3) a delivery whose lines have nothing left
 * to fulfil in Shopify is done with a note (fulfilled by hand, or by a lost attempt of a delivery without a
 * tracking number). fulfillmentCreate goes out on a fresh connection (shopify_graphql does so for a mutation
 * without @idempotent), so libcurl never sends it twice by itself.
 */
#define _GNU_SOURCE
#include "flows/flows_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"

#define FLOW "fulfillment"
#define LINK_TYPE "fulfillment"
#define POLL_PAGE 200

/* ---- small helpers ------------------------------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));   /* Odoo sends false for an empty char field */
    return v && *v ? v : NULL;
}

static int64_t m2o_id(const json_t *o, const char *k)
{
    return json_integer_value(json_array_get(json_object_get(o, k), 0));
}

static const char *m2o_name(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_array_get(json_object_get(o, k), 1));
    return v && *v ? v : NULL;
}

static bool same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The Odoo internal reference of a Shopify SKU: the shop's sku_map ("SHOPIFY-SKU=ODOO-CODE, …") first, else the
 * SKU itself (flow_orders.c maps order lines the same way). */
static void sku_to_code(const char *map, const char *sku, char *out, size_t n)
{
    if (!cfg_map_get(map, sku, false, out, n))
        snprintf(out, n, "%s", sku);
}

/* ---- fulfillment.poll ---------------------------------------------------------------------------------------- */

static int poll_fail(queue_run_t *run, const cfg_shop_t *shop, err_t *e)
{
    char inner[sizeof(e->record)];
    snprintf(inner, sizeof(inner), "%s", e->record);
    err_record(e, "fulfillment poll of %s%s%s", shop->domain, inner[0] ? " → " : "", inner);
    run->err = *e;
    return -1;
}

/* Enqueue the push of one picking (a row of the poll's search_read). *added counts new jobs. */
static int enqueue_push(queue_run_t *run, const cfg_t *cfg, const cfg_shop_t *shop, const json_t *rec, size_t *added,
                        err_t *e)
{
    int64_t id = json_integer_value(json_object_get(rec, "id"));
    const char *ref = jstr(rec, "carrier_tracking_ref");
    char idem[512], okey[300], payload[300];
    snprintf(idem, sizeof(idem), "sync|%s|%s|%" PRId64 "|%s", SYNC_KIND_FULFILL, shop->domain, id, ref ? ref : "");
    snprintf(okey, sizeof(okey), "%s|%s|sale.order/%" PRId64, SYNC_KIND_FULFILL, shop->domain, m2o_id(rec, "sale_id"));
    snprintf(payload, sizeof(payload), "{\"shop\":\"%s\",\"picking_id\":%" PRId64 "}", shop->domain, id);
    bool dup = false;
    if (sync_enqueue(run->store, cfg, SYNC_KIND_FULFILL, okey, idem, payload, run->job->correlation_id, &dup, e) < 0)
        return -1;
    if (!dup)
        (*added)++;
    return 0;
}

static int h_poll(queue_run_t *run)
{
    const cfg_shop_t *shop;
    sync_worker_t *w = sync_job_begin(run, &shop, NULL);
    if (!w)
        return -1;
    const cfg_t *cfg = sync_cfg(run->udata);
    odoo_t *o = sync_worker_odoo(w);
    err_t e;
    sync_cursor_t cur;
    if (sync_cursor_load(run->store, FLOW, shop->domain, &cur, &e) < 0)
        return poll_fail(run, shop, &e);

    char like[300], since[32];
    snprintf(like, sizeof(like), "Shopify %s %%", shop->domain);
    json_t *base = json_pack("[[s, s, s], [s, s, s], [s, s, s]]", "picking_type_code", "=", "outgoing", "state", "=",
                             "done", "sale_id.origin", "=like", like);
    /* The position is an Odoo write_date. */
    int64_t pos_ms = 0;
    if (cur.position[0] && odoo_datetime_parse(cur.position, &pos_ms) == 0) {
        odoo_datetime(pos_ms - shop->inventory_lookback_ms, since, sizeof(since));
        json_array_append_new(base, json_pack("[s, s, s]", "write_date", ">=", since));
    } else {
        /* First run: only what was shipped within the reconcile window, not years of history. */
        odoo_datetime(clock_now_ms() - shop->reconcile_window_ms, since, sizeof(since));
        json_array_append_new(base, json_pack("[s, s, s]", "date_done", ">=", since));
    }

    /* Keyset paging on (write_date, id): a picking written while the poll pages moves to the end instead of
     * shifting the pages under an offset, so none is skipped. */
    char newest[sizeof(cur.position)], last_wd[32] = "";
    snprintf(newest, sizeof(newest), "%s", cur.position);
    int64_t last_id = 0;
    size_t seen = 0, added = 0;
    int rc = -1;
    for (;;) {
        json_t *domain = json_deep_copy(base);
        if (last_wd[0]) {
            json_array_append_new(domain, json_string("|"));
            json_array_append_new(domain, json_pack("[s, s, s]", "write_date", ">", last_wd));
            json_array_append_new(domain, json_string("&"));
            json_array_append_new(domain, json_pack("[s, s, s]", "write_date", "=", last_wd));
            json_array_append_new(domain, json_pack("[s, s, I]", "id", ">", (json_int_t)last_id));
        }
        json_t *params = json_pack("{s:o, s:[s, s, s, s], s:s, s:i}", "domain", domain, "fields", "id", "sale_id",
                                   "write_date", "carrier_tracking_ref", "order", "write_date asc, id asc", "limit",
                                   POLL_PAGE);
        json_t *r = NULL;
        int crc = odoo_call(o, "stock.picking", "search_read", NULL, params, &r, &e);
        json_decref(params);
        if (crc < 0) {
            poll_fail(run, shop, &e);
            goto out;
        }
        size_t i;
        json_t *rec;
        json_array_foreach(r, i, rec)
        {
            const char *wd = jstr(rec, "write_date");
            if (enqueue_push(run, cfg, shop, rec, &added, &e) < 0) {
                json_decref(r);
                poll_fail(run, shop, &e);
                goto out;
            }
            seen++;
            if (wd) {
                snprintf(last_wd, sizeof(last_wd), "%s", wd);
                if (strcmp(wd, newest) > 0)   /* "YYYY-MM-DD HH:MM:SS" sorts as text */
                    snprintf(newest, sizeof(newest), "%s", wd);
            }
            last_id = json_integer_value(json_object_get(rec, "id"));
        }
        size_t n = json_array_size(r);
        json_decref(r);
        if (n < POLL_PAGE || !last_wd[0])
            break;
    }
    if (sync_cursor_advance(run->store, FLOW, shop->domain, &cur, newest, &e) < 0) {
        poll_fail(run, shop, &e);
        goto out;
    }
    snprintf(run->note, sizeof(run->note), "%zu done deliveries seen, %zu new fulfillment jobs", seen, added);
    rc = 0;
out:
    json_decref(base);
    return rc;
}

/* ---- fulfillment.push ---------------------------------------------------------------------------------------- */

/* One product of the delivery: its Odoo internal reference and the quantity shipped. */
typedef struct dline {
    char code[128];
    int64_t qty;
    int64_t left;            /* not yet planned onto a fulfillment order line */
} dline_t;

/* One line of an open fulfillment order, borrowed from the order's json. */
typedef struct foline {
    const char *fo, *id;
    char code[128];          /* the Odoo internal reference of its SKU ("" = no SKU) */
    bool open;               /* its fulfillment order can be fulfilled (OPEN or IN_PROGRESS) */
    int64_t left, take;
} foline_t;

typedef struct push_ctx {
    queue_run_t *run;
    const cfg_shop_t *shop;
    odoo_t *odoo;
    shopify_t *sh;
    int64_t picking_id, sale_id;
    char picking_name[64];
    char order_name[64];     /* "#1042" */
    char order_gid[96];
    char carrier[128], number[128], url[512];
    dline_t *lines;
    size_t nlines;
    char label[240];         /* the record every error names */
} push_ctx_t;

static void set_label(push_ctx_t *c)
{
    if (c->order_name[0])
        snprintf(c->label, sizeof(c->label), "odoo delivery %s (id %" PRId64 ") of shopify order %s (%s)",
                 c->picking_name[0] ? c->picking_name : "?", c->picking_id, c->order_name, c->shop->domain);
    else
        snprintf(c->label, sizeof(c->label), "odoo delivery %s (id %" PRId64 ", %s)",
                 c->picking_name[0] ? c->picking_name : "?", c->picking_id, c->shop->domain);
}

/* Prefix the business record to an error that came from a client ("odoo stock.picking.read"). */
static int fail_record(push_ctx_t *c, err_t *e)
{
    err_wrap(e, c->label);
    c->run->err = *e;
    return -1;
}

static int fail(push_ctx_t *c, err_class_t cls, const char *code, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(push_ctx_t *c, err_class_t cls, const char *code, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vfull(&c->run->err, cls, code, c->label, hint, fmt, ap);
    va_end(ap);
    return -1;
}

/* odoo_call that takes ownership of ids and params and names the delivery on failure. */
static int ocall(push_ctx_t *c, const char *model, const char *method, json_t *ids, json_t *params, json_t **r)
{
    err_t e;
    int rc = odoo_call(c->odoo, model, method, ids, params, r, &e);
    json_decref(ids);
    json_decref(params);
    return rc < 0 ? fail_record(c, &e) : 0;
}

/* shopify_graphql that takes ownership of vars and names the delivery on failure. */
static int gql(push_ctx_t *c, const char *query, json_t *vars, int cost, json_t **data)
{
    err_t e;
    int rc = shopify_graphql(c->sh, query, vars, cost, data, &e);
    json_decref(vars);
    return rc < 0 ? fail_record(c, &e) : 0;
}

/* The picking as Odoo has it now. 1 = a done delivery (fields filled, *moves = its move ids, a new reference),
 * 0 = nothing to do (run->note says why), -1 = error. */
static int read_picking(push_ctx_t *c, json_t **moves)
{
    /* carrier_tracking_url is computed by the delivery module from the carrier's URL template; an Odoo (or an
     * emulator) without it still gets its fulfillment, without a URL. */
    static const char *const with_url[] = {"name", "state", "picking_type_code", "sale_id", "carrier_id",
                                           "carrier_tracking_ref", "move_ids", "carrier_tracking_url"};
    const size_t all = sizeof(with_url) / sizeof(with_url[0]);
    size_t nfields = all;
    json_t *r = NULL;
    for (;;) {
        json_t *fields = json_array();
        for (size_t i = 0; i < nfields; i++)
            json_array_append_new(fields, json_string(with_url[i]));
        json_t *ids = json_pack("[I]", (json_int_t)c->picking_id);
        json_t *params = json_pack("{s:o}", "fields", fields);
        err_t e;
        int rc = odoo_call(c->odoo, "stock.picking", "read", ids, params, &r, &e);
        json_decref(ids);
        json_decref(params);
        if (rc == 0)
            break;
        if (e.cls == ERR_DATA && strstr(e.message, "carrier_tracking_url") && nfields == all) {
            nfields--;
            continue;
        }
        return fail_record(c, &e);
    }
    json_t *p = json_array_get(r, 0);
    if (!json_is_object(p)) {
        snprintf(c->run->note, sizeof(c->run->note), "the delivery (id %" PRId64 ") no longer exists in Odoo: "
                 "nothing to fulfil", c->picking_id);
        json_decref(r);
        return 0;
    }
    snprintf(c->picking_name, sizeof(c->picking_name), "%s", jstr(p, "name") ? jstr(p, "name") : "");
    const char *state = jstr(p, "state"), *type = jstr(p, "picking_type_code");
    c->sale_id = m2o_id(p, "sale_id");
    snprintf(c->carrier, sizeof(c->carrier), "%s", m2o_name(p, "carrier_id") ? m2o_name(p, "carrier_id") : "");
    snprintf(c->number, sizeof(c->number), "%s", jstr(p, "carrier_tracking_ref") ? jstr(p, "carrier_tracking_ref") : "");
    snprintf(c->url, sizeof(c->url), "%s", jstr(p, "carrier_tracking_url") ? jstr(p, "carrier_tracking_url") : "");
    set_label(c);
    int rc = 1;
    if (!same(type, "outgoing") || !same(state, "done") || !c->sale_id) {
        /* A done transfer stays done in Odoo (a return is another picking); this is a job for something that was
         * never a done delivery of a sale order, or one enqueued by hand. */
        snprintf(c->run->note, sizeof(c->run->note), "%s is %s%s%s, not a done delivery of a sale order: nothing to "
                 "fulfil", c->picking_name, type ? type : "?", state ? " and " : "", state ? state : "");
        rc = 0;
    } else {
        *moves = json_incref(json_object_get(p, "move_ids"));
    }
    json_decref(r);
    return rc;
}

/* The delivery's products and quantities (done moves, summed per internal reference). */
static int read_lines(push_ctx_t *c, json_t *move_ids)
{
    /* Odoo 17 renamed the done quantity of a move from quantity_done to quantity. */
    int major = odoo_server_major(c->odoo);
    const char *qty_field = major > 0 && major < 17 ? "quantity_done" : "quantity";
    json_t *moves = NULL, *products = NULL;
    if (ocall(c, "stock.move", "read", json_incref(move_ids),
              json_pack("{s:[s, s, s]}", "fields", "product_id", qty_field, "state"), &moves) < 0)
        return -1;
    json_t *pids = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(moves, i, m) json_array_append_new(pids, json_integer(m2o_id(m, "product_id")));
    int rc = -1;
    if (ocall(c, "product.product", "read", pids, json_pack("{s:[s]}", "fields", "default_code"), &products) < 0)
        goto out;
    json_t *codes = json_object();   /* product id → default_code */
    json_t *p;
    json_array_foreach(products, i, p)
    {
        char key[32];
        snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(p, "id")));
        json_object_set_new(codes, key, json_string(jstr(p, "default_code") ? jstr(p, "default_code") : ""));
    }
    c->lines = calloc(json_array_size(moves) + 1, sizeof(*c->lines));
    if (!c->lines) {
        json_decref(codes);
        fail(c, ERR_INTERNAL, "fulfillment.oom", NULL, "out of memory");
        goto out;
    }
    buf_t nocode = BUF_INIT;
    json_array_foreach(moves, i, m)
    {
        double q = json_number_value(json_object_get(m, qty_field));
        if (!same(jstr(m, "state"), "done") || q <= 0.0)
            continue;   /* a cancelled or empty move shipped nothing */
        char key[32];
        snprintf(key, sizeof(key), "%" PRId64, m2o_id(m, "product_id"));
        const char *code = json_string_value(json_object_get(codes, key));
        if (!code || !*code) {
            buf_printf(&nocode, "%s%s (id %s)", nocode.len ? ", " : "",
                       m2o_name(m, "product_id") ? m2o_name(m, "product_id") : "?", key);
            continue;
        }
        int64_t units = (int64_t)(q + 0.5);
        if (q - (double)units > 1e-6 || (double)units - q > 1e-6) {
            json_decref(codes);
            buf_release(&nocode);
            fail(c, ERR_DATA, "fulfillment.fractional_quantity",
                 "Shopify fulfils whole units: correct the delivery in Odoo (or fulfil the order in Shopify by hand), "
                 "then `synchub jobs retry`",
                 "the delivery ships %g of %s; Shopify fulfils whole units only", q, code);
            goto out;
        }
        size_t k = 0;
        while (k < c->nlines && strcmp(c->lines[k].code, code) != 0)
            k++;
        if (k == c->nlines) {
            snprintf(c->lines[k].code, sizeof(c->lines[k].code), "%s", code);
            c->nlines++;
        }
        c->lines[k].qty += units;
        c->lines[k].left = c->lines[k].qty;
    }
    json_decref(codes);
    if (nocode.len) {
        fail(c, ERR_DATA, "fulfillment.no_sku",
             "give the products an Internal Reference equal to their Shopify SKU (or map it with sku_map), then "
             "`synchub jobs retry`; retry is safe (nothing was sent to Shopify)",
             "products of the delivery have no Internal Reference, so they cannot be matched to the Shopify order's "
             "lines: %s", buf_str(&nocode));
        buf_release(&nocode);
        goto out;
    }
    rc = 0;
out:
    json_decref(moves);
    json_decref(products);
    return rc;
}

/* The Shopify order of the sale order: the link flow_orders.c wrote, else a search by the order name Odoo keeps
 * in client_order_ref (an order imported before synchub, or a wiped store). 1 found (c->order_gid), 0 not a
 * Shopify order of this shop (run->note says so), -1 error. */
static int find_order(push_ctx_t *c)
{
    err_t e;
    char id[64];
    int have = store_link_find(c->run->store, "shopify", c->shop->domain, "order", "sale.order", c->sale_id, id,
                               sizeof(id), &e);
    if (have < 0)
        return fail_record(c, &e);
    json_t *r = NULL;
    if (ocall(c, "sale.order", "read", json_pack("[I]", (json_int_t)c->sale_id),
              json_pack("{s:[s, s, s]}", "fields", "name", "client_order_ref", "origin"), &r) < 0)
        return -1;
    json_t *so = json_array_get(r, 0);
    snprintf(c->order_name, sizeof(c->order_name), "%s",
             jstr(so, "client_order_ref") ? jstr(so, "client_order_ref") : "");
    char so_name[64], prefix[300];
    snprintf(so_name, sizeof(so_name), "%s", jstr(so, "name") ? jstr(so, "name") : "?");
    snprintf(prefix, sizeof(prefix), "Shopify %s ", c->shop->domain);
    bool ours = jstr(so, "origin") && !strncmp(jstr(so, "origin"), prefix, strlen(prefix));
    json_decref(r);
    set_label(c);
    if (have && id[0] && strcmp(id, "0") != 0)
        return shopify_gid("Order", id, c->order_gid, sizeof(c->order_gid)) < 0
                   ? fail(c, ERR_INTERNAL, "fulfillment.order_id", NULL, "the order link holds an unusable id")
                   : 1;
    if (!ours) {
        /* Only the poll's own filter (the origin flow_orders.c writes) makes a sale order this shop's: a Customer
         * Reference alone could name another channel's order. */
        snprintf(c->run->note, sizeof(c->run->note), "sale order %s did not come from Shopify %s: nothing to fulfil",
                 so_name, c->shop->domain);
        return 0;
    }
    if (!c->order_name[0])
        return fail(c, ERR_DATA, "fulfillment.order_unknown",
                    "set the sale order's Customer Reference to the Shopify order name (\"#1042\"), then `synchub "
                    "jobs retry`",
                    "sale order %s has no Customer Reference and synchub has no link to its Shopify order", so_name);

    char q[128];
    snprintf(q, sizeof(q), "name:\"%s\"", c->order_name);
    json_t *data = NULL;
    if (gql(c, "query FulfillmentOrderByName($q: String!) { orders(first: 2, query: $q) { nodes { id name } } }",
            json_pack("{s:s}", "q", q), 5, &data) < 0)
        return -1;
    json_t *nodes = json_object_get(json_object_get(data, "orders"), "nodes");
    const char *gid = NULL;
    size_t n = 0, i;
    json_t *node;
    json_array_foreach(nodes, i, node)
    {
        if (same(jstr(node, "name"), c->order_name)) {   /* the search may match more loosely than the name */
            gid = jstr(node, "id");
            n++;
        }
    }
    int rc = 1;
    if (n != 1)
        rc = fail(c, ERR_DATA, n ? "fulfillment.order_ambiguous" : "fulfillment.order_not_found",
                  "check the Customer Reference of the sale order in Odoo against the order's name in Shopify, then "
                  "`synchub jobs retry`",
                  "%s Shopify order is named %s (the Customer Reference of sale order %s)", n ? "more than one" : "no",
                  c->order_name, so_name);
    else
        snprintf(c->order_gid, sizeof(c->order_gid), "%s", gid);
    json_decref(data);
    return rc;
}

/* Save the link of this delivery. fid = Shopify's numeric fulfillment id, or NULL for "nothing was fulfilled". */
static int save_link(push_ctx_t *c, const char *fid, const char *state, const char *number, const char *company,
                     const char *url)
{
    char key[64];
    if (fid)
        snprintf(key, sizeof(key), "%s", fid);
    else
        snprintf(key, sizeof(key), "none-%" PRId64, c->picking_id);
    json_t *x = json_pack("{s:s, s:s, s:s, s:s}", "order", c->order_gid, "number", number ? number : "", "company",
                          company ? company : "", "url", url ? url : "");
    store_link_t l = {.odoo_id = c->picking_id};
    snprintf(l.odoo_model, sizeof(l.odoo_model), "stock.picking");
    snprintf(l.state, sizeof(l.state), "%s", state);
    l.extra = x ? json_dumps(x, JSON_COMPACT) : NULL;
    json_decref(x);
    err_t e;
    int rc = 0;
    if (!l.extra)
        rc = fail(c, ERR_INTERNAL, "fulfillment.oom", NULL, "out of memory");
    else if (store_link_put(c->run->store, "shopify", c->shop->domain, LINK_TYPE, key, &l, &e) < 0)
        rc = fail_record(c, &e);
    free(l.extra);
    return rc;
}

/* Record what was done to Shopify fulfillment fid for the trace, under the Shopify order (subject
 * "order:<id>"): action "fulfillmentCreate", "fulfillmentTrackingInfoUpdate" (both after Shopify confirmed) or
 * "adopted" (an existing fulfillment taken as this delivery's: nothing was sent). detail: the tracking company and
 * number Shopify has now, and the Odoo delivery. */
static void record_effect(push_ctx_t *c, const char *action, const char *fid, const char *number, const char *company)
{
    char order_id[32], subject[48], gid[96];
    if (shopify_gid_id(c->order_gid, order_id, sizeof(order_id)) < 0)
        return;   /* no Shopify order known: nothing was sent either */
    snprintf(subject, sizeof(subject), "order:%s", order_id);
    shopify_gid("Fulfillment", fid, gid, sizeof(gid));
    json_t *d = json_pack("{s:s?, s:s?, s:I, s:s?}", "company", company && *company ? company : NULL, "number",
                          number && *number ? number : NULL, "picking_id", (json_int_t)c->picking_id, "picking",
                          c->picking_name[0] ? c->picking_name : NULL);
    char *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    store_effect_t e = {.shop = c->shop->domain, .subject = subject, .system = "shopify", .action = action,
                        .target = gid, .detail = detail};
    queue_run_effects(c->run, &e, 1);
    free(detail);
}

/* The tracking input of Odoo's values (empty ones left out: Shopify refuses an empty URL). */
static json_t *tracking_input(const push_ctx_t *c)
{
    json_t *t = json_object();
    if (c->carrier[0])
        json_object_set_new(t, "company", json_string(c->carrier));
    if (c->number[0])
        json_object_set_new(t, "number", json_string(c->number));
    if (c->url[0])
        json_object_set_new(t, "url", json_string(c->url));
    return t;
}

/* The delivery has a fulfillment (link): give Shopify Odoo's tracking if it differs from what Shopify was given. */
static int sync_tracking(push_ctx_t *c, const char *fid, const char *adopted)
{
    err_t e;
    store_link_t link;
    int have = store_link_get(c->run->store, "shopify", c->shop->domain, LINK_TYPE, fid, &link, &e);
    if (have < 0)
        return fail_record(c, &e);
    json_t *x = have && link.extra ? json_loads(link.extra, 0, NULL) : NULL;
    char state[32];
    snprintf(state, sizeof(state), "%s", have ? link.state : "");
    if (have)
        store_link_release(&link);
    if (!c->order_gid[0])
        snprintf(c->order_gid, sizeof(c->order_gid), "%s", jstr(x, "order") ? jstr(x, "order") : "");
    int rc = 0;
    if (!strncmp(fid, "none-", 5)) {
        snprintf(c->run->note, sizeof(c->run->note), "nothing to fulfil: Shopify had nothing left to fulfil for "
                 "this delivery's lines when it was first handled");
    } else if (same(jstr(x, "number"), c->number) && same(jstr(x, "company"), c->carrier) &&
               same(jstr(x, "url"), c->url)) {
        snprintf(c->run->note, sizeof(c->run->note), "%s (Shopify fulfillment %s); tracking unchanged",
                 adopted ? adopted : "already fulfilled", fid);
    } else {
        char gid[96];
        shopify_gid("Fulfillment", fid, gid, sizeof(gid));
        json_t *p = NULL, *vars = json_pack("{s:s, s:o}", "id", gid, "tracking", tracking_input(c));
        /* Setting tracking is naturally idempotent: a retry after a lost answer sets the same values again. */
        rc = shopify_mutate(c->sh,
                            "mutation FulfillmentTrackingUpdate($id: ID!, $tracking: FulfillmentTrackingInput!) { "
                            "fulfillmentTrackingInfoUpdate(fulfillmentId: $id, trackingInfoInput: $tracking, "
                            "notifyCustomer: true) { fulfillment { id } userErrors { field message } } }",
                            vars, "fulfillmentTrackingInfoUpdate", NULL, 10, &p, &e);
        json_decref(vars);
        json_decref(p);
        if (rc < 0) {
            fail_record(c, &e);
        } else {
            record_effect(c, "fulfillmentTrackingInfoUpdate", fid, c->number, c->carrier);
            rc = save_link(c, fid, strcmp(state, "adopted") ? "created" : "adopted", c->number, c->carrier, c->url);
            if (rc == 0)
                snprintf(c->run->note, sizeof(c->run->note), "%stracking of Shopify fulfillment %s updated from Odoo",
                         adopted ? "adopted; " : "", fid);
        }
    }
    json_decref(x);
    return rc;
}

/* Does every SKU of fulfillment gid belong to this delivery? (A fulfillment carrying our tracking number but other
 * products is another delivery's, shipped in the same parcel.) 1 yes, 0 no, -1 error. */
static int holds_our_skus(push_ctx_t *c, const char *gid)
{
    json_t *data = NULL;
    if (gql(c, "query FulfillmentLines($id: ID!) { fulfillment(id: $id) { id fulfillmentLineItems(first: 50) { "
               "pageInfo { hasNextPage } nodes { lineItem { sku } } } } }",
            json_pack("{s:s}", "id", gid), 105, &data) < 0)
        return -1;
    json_t *conn = json_object_get(json_object_get(data, "fulfillment"), "fulfillmentLineItems");
    int ours = json_array_size(json_object_get(conn, "nodes")) > 0 &&
               !json_is_true(json_object_get(json_object_get(conn, "pageInfo"), "hasNextPage"));
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(conn, "nodes"), i, n)
    {
        const char *sku = jstr(json_object_get(n, "lineItem"), "sku");
        char code[128];
        sku_to_code(c->shop->sku_map, sku ? sku : "", code, sizeof(code));
        bool found = false;
        for (size_t k = 0; k < c->nlines && !found; k++)
            found = strcmp(c->lines[k].code, code) == 0;
        if (!found)
            ours = 0;
    }
    json_decref(data);
    return ours;
}

/* Without a link: a fulfillment of the order that carries this delivery's tracking number is this delivery's (an
 * attempt whose answer was lost, a wiped store, or one made by hand). 1 adopted (*fid filled), 0 none, -1. */
static int adopt(push_ctx_t *c, const json_t *order, char *fid, size_t n)
{
    if (!c->number[0])
        return 0;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(order, "fulfillments"), i, f)
    {
        if (same(jstr(f, "status"), "CANCELLED"))
            continue;
        const json_t *hit = NULL;
        size_t j;
        json_t *t;
        json_array_foreach(json_object_get(f, "trackingInfo"), j, t)
        {
            if (same(jstr(t, "number"), c->number))
                hit = t;
        }
        char id[32];
        if (!hit || shopify_gid_id(jstr(f, "id"), id, sizeof(id)) < 0)
            continue;
        err_t e;
        store_link_t link;
        int have = store_link_get(c->run->store, "shopify", c->shop->domain, LINK_TYPE, id, &link, &e);
        if (have < 0)
            return fail_record(c, &e);
        bool other = have && link.odoo_id != c->picking_id;
        if (have)
            store_link_release(&link);
        if (other)
            continue;   /* another delivery's fulfillment with the same tracking number */
        int ours = holds_our_skus(c, jstr(f, "id"));
        if (ours < 0)
            return -1;
        if (!ours)
            continue;
        snprintf(fid, n, "%s", id);
        record_effect(c, "adopted", id, jstr(hit, "number"), jstr(hit, "company"));
        /* What Shopify has: sync_tracking then sends Odoo's values if they differ. */
        return save_link(c, id, "adopted", jstr(hit, "number"), jstr(hit, "company"), jstr(hit, "url")) < 0 ? -1 : 1;
    }
    return 0;
}

/* Spread the delivery's quantities over the order's open fulfillment order lines by SKU. Fills fl (n of them) and
 * the lists of codes that matched nothing on the order (missing) or nothing left to fulfil (done_codes). */
static void plan_lines(push_ctx_t *c, foline_t *fl, size_t n, buf_t *missing, buf_t *done_codes, buf_t *short_codes)
{
    for (size_t k = 0; k < c->nlines; k++) {
        dline_t *d = &c->lines[k];
        bool on_order = false;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(fl[i].code, d->code) != 0)
                continue;
            on_order = true;
            if (!fl[i].open || fl[i].left <= 0 || d->left <= 0)
                continue;
            int64_t t = d->left < fl[i].left ? d->left : fl[i].left;
            fl[i].take += t;
            fl[i].left -= t;
            d->left -= t;
        }
        buf_t *to = !on_order ? missing : d->left == d->qty ? done_codes : d->left > 0 ? short_codes : NULL;
        if (to)
            buf_printf(to, "%s%s", to->len ? ", " : "", d->code);
    }
}

/* The order's open fulfillment order lines (borrowed from order). NULL with run->err on a too large order. */
static foline_t *order_lines(push_ctx_t *c, const json_t *order, size_t *n)
{
    const json_t *fos = json_object_get(order, "fulfillmentOrders");
    size_t cap = 1, i, j;
    json_t *fo, *li;
    json_array_foreach(json_object_get(fos, "nodes"), i, fo)
        cap += json_array_size(json_object_get(json_object_get(fo, "lineItems"), "nodes"));
    bool more = json_is_true(json_object_get(json_object_get(fos, "pageInfo"), "hasNextPage"));
    foline_t *fl = calloc(cap, sizeof(*fl));
    *n = 0;
    json_array_foreach(json_object_get(fos, "nodes"), i, fo)
    {
        const json_t *lis = json_object_get(fo, "lineItems");
        more = more || json_is_true(json_object_get(json_object_get(lis, "pageInfo"), "hasNextPage"));
        const char *status = jstr(fo, "status");
        json_array_foreach(json_object_get(lis, "nodes"), j, li)
        {
            if (!fl)
                break;
            foline_t *f = &fl[(*n)++];
            f->fo = jstr(fo, "id");
            f->id = jstr(li, "id");
            f->open = same(status, "OPEN") || same(status, "IN_PROGRESS");
            f->left = json_integer_value(json_object_get(li, "remainingQuantity"));
            if (jstr(li, "sku"))
                sku_to_code(c->shop->sku_map, jstr(li, "sku"), f->code, sizeof(f->code));
        }
    }
    if (!fl) {
        fail(c, ERR_INTERNAL, "fulfillment.oom", NULL, "out of memory");
        return NULL;
    }
    if (more) {
        free(fl);
        fail(c, ERR_DATA, "fulfillment.order_too_large",
             "fulfil this delivery in Shopify by hand with its tracking number, then `synchub jobs retry` (the "
             "fulfillment is adopted)",
             "the Shopify order has more than 5 fulfillment orders or 50 lines in one; synchub does not page them");
        return NULL;
    }
    return fl;
}

static int create_fulfillment(push_ctx_t *c, const foline_t *fl, size_t n, const char *short_codes)
{
    json_t *groups = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!fl[i].take)
            continue;
        json_t *g = NULL;
        size_t k;
        json_t *x;
        json_array_foreach(groups, k, x)
        {
            if (same(jstr(x, "fulfillmentOrderId"), fl[i].fo))
                g = x;
        }
        if (!g) {
            g = json_pack("{s:s, s:[]}", "fulfillmentOrderId", fl[i].fo, "fulfillmentOrderLineItems");
            json_array_append_new(groups, g);
        }
        json_array_append_new(json_object_get(g, "fulfillmentOrderLineItems"),
                              json_pack("{s:s, s:I}", "id", fl[i].id, "quantity", (json_int_t)fl[i].take));
    }
    json_t *input = json_pack("{s:o, s:b}", "lineItemsByFulfillmentOrder", groups, "notifyCustomer", 1);
    json_t *tracking = tracking_input(c);
    if (json_object_size(tracking))
        json_object_set_new(input, "trackingInfo", tracking);
    else
        json_decref(tracking);
    json_t *vars = json_pack("{s:o}", "fulfillment", input);
    json_t *p = NULL;
    err_t e;
    /* No @idempotent (see the file comment): a lost answer is recognised by adopt() on the retry. */
    int rc = shopify_mutate(c->sh,
                            "mutation FulfillmentCreate($fulfillment: FulfillmentInput!) { fulfillmentCreate("
                            "fulfillment: $fulfillment) { fulfillment { id name status } userErrors { field message "
                            "} } }",
                            vars, "fulfillmentCreate", NULL, 10, &p, &e);
    json_decref(vars);
    if (rc < 0) {
        if (e.cls == ERR_TRANSIENT)
            err_hint(&e, "retried with backoff; if Shopify created the fulfillment before the answer was lost, the "
                         "retry finds it by its tracking number (or by nothing being left to fulfil) and creates "
                         "no second one");
        return fail_record(c, &e);
    }
    const json_t *f = json_object_get(p, "fulfillment");
    char fid[32];
    if (shopify_gid_id(jstr(f, "id"), fid, sizeof(fid)) < 0) {
        json_decref(p);
        return fail(c, ERR_INTERNAL, "fulfillment.bad_response", "a synchub or Shopify bug; report it",
                    "Shopify answered fulfillmentCreate without a fulfillment id");
    }
    char name[64];
    snprintf(name, sizeof(name), "%s", jstr(f, "name") ? jstr(f, "name") : fid);
    json_decref(p);
    record_effect(c, "fulfillmentCreate", fid, c->number, c->carrier);
    if (save_link(c, fid, "created", c->number, c->carrier, c->url) < 0)
        return -1;
    snprintf(c->run->note, sizeof(c->run->note), "created Shopify fulfillment %s (%s)%s%s", name, fid,
             *short_codes ? "; Shopify had less left to fulfil than was shipped of " : "", short_codes);
    return 0;
}

static const char ORDER_STATE[] =
    "query FulfillmentOrderState($id: ID!) { order(id: $id) { id name cancelledAt "
    "fulfillmentOrders(first: 5) { pageInfo { hasNextPage } nodes { id status "
    "lineItems(first: 50) { pageInfo { hasNextPage } nodes { id sku remainingQuantity } } } } "
    "fulfillments(first: 50) { id status trackingInfo(first: 3) { company number url } } } }";

/* No link yet: adopt, or create, or note that nothing is left. */
static int fulfil(push_ctx_t *c)
{
    json_t *data = NULL;
    if (gql(c, ORDER_STATE, json_pack("{s:s}", "id", c->order_gid), 470, &data) < 0)
        return -1;
    const json_t *order = json_object_get(data, "order");
    int rc = -1;
    foline_t *fl = NULL;
    buf_t missing = BUF_INIT, done_codes = BUF_INIT, short_codes = BUF_INIT;
    char fid[32];
    if (!json_is_object(order)) {
        fail(c, ERR_DATA, "fulfillment.order_gone",
             "the order was deleted in Shopify; fulfil nothing and `synchub jobs discard` this job",
             "the Shopify order %s no longer exists", c->order_gid);
        goto out;
    }
    int a = adopt(c, order, fid, sizeof(fid));
    if (a < 0)
        goto out;
    if (a > 0) {
        rc = sync_tracking(c, fid, "adopted the fulfillment Shopify already had with this tracking number");
        goto out;
    }
    if (jstr(order, "cancelledAt")) {
        fail(c, ERR_DATA, "fulfillment.order_cancelled",
             "the goods left the warehouse for an order cancelled in Shopify: sort it out with the customer; "
             "`synchub jobs discard` this job (or fulfil the order in Shopify, then `synchub jobs retry`)",
             "the Shopify order was cancelled, but Odoo shipped this delivery");
        goto out;
    }
    size_t n = 0;
    if (!(fl = order_lines(c, order, &n)))
        goto out;
    plan_lines(c, fl, n, &missing, &done_codes, &short_codes);
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any = any || fl[i].take > 0;
    if (missing.len) {
        fail(c, ERR_DATA, "fulfillment.sku_not_on_order",
             "check the delivery's products against the Shopify order (and sku_map); fix the delivery in Odoo, or "
             "fulfil the order in Shopify by hand with this tracking number, then `synchub jobs retry` (a matching "
             "fulfillment is adopted); retry is safe: nothing was sent",
             "the delivery ships %s, which the Shopify order has no line for", buf_str(&missing));
    } else if (!any) {
        /* Fulfilled in Shopify already (by hand, or by an attempt of a delivery without a tracking number whose
         * answer was lost): remember it, so that later polls of this delivery do nothing. */
        rc = save_link(c, NULL, "none", c->number, c->carrier, c->url);
        if (rc == 0)
            snprintf(c->run->note, sizeof(c->run->note), "nothing to fulfil: Shopify has nothing left to fulfil for "
                     "%s (fulfilled there already?)", buf_str(&done_codes));
    } else if (done_codes.len) {
        fail(c, ERR_DATA, "fulfillment.nothing_left",
             "part of this delivery is fulfilled in Shopify already: fulfil the rest in Shopify by hand, then "
             "`synchub jobs discard` this job; retry is safe: nothing was sent",
             "Shopify has nothing left to fulfil for %s of this delivery, but the rest could be fulfilled; synchub "
             "will not fulfil a part of a delivery", buf_str(&done_codes));
    } else {
        rc = create_fulfillment(c, fl, n, buf_str(&short_codes));
    }
out:
    free(fl);
    buf_release(&missing);
    buf_release(&done_codes);
    buf_release(&short_codes);
    json_decref(data);
    return rc;
}

static int h_push(queue_run_t *run)
{
    json_t *payload = NULL;
    push_ctx_t c = {.run = run};
    int rc = -1;
    json_t *moves = NULL;
    sync_worker_t *w = sync_job_begin(run, &c.shop, &payload);
    if (!w)
        goto out;
    c.picking_id = json_integer_value(json_object_get(payload, "picking_id"));
    set_label(&c);
    if (c.picking_id <= 0) {
        fail(&c, ERR_DATA, "sync.payload", "discard this job; it cannot be processed",
             "the payload of job %s names no picking_id", run->job->id);
        goto out;
    }
    c.odoo = sync_worker_odoo(w);
    c.sh = sync_worker_shopify(w, c.shop);
    if (!c.sh) {
        fail(&c, ERR_INTERNAL, "sync.oom", NULL, "cannot create the Shopify client");
        goto out;
    }
    int r = read_picking(&c, &moves);
    if (r <= 0) {
        rc = r;
        goto out;
    }
    err_t e;
    char fid[64];
    int have = store_link_find(run->store, "shopify", c.shop->domain, LINK_TYPE, "stock.picking", c.picking_id, fid,
                               sizeof(fid), &e);
    if (have < 0) {
        fail_record(&c, &e);
        goto out;
    }
    if (have) {
        rc = sync_tracking(&c, fid, NULL);
        goto out;
    }
    if (read_lines(&c, moves) < 0 || (r = find_order(&c)) < 0)
        goto out;
    if (r == 0) {
        rc = 0;
        goto out;
    }
    if (c.nlines == 0) {
        snprintf(run->note, sizeof(run->note), "%s shipped no quantity: nothing to fulfil", c.picking_name);
        rc = 0;
        goto out;
    }
    rc = fulfil(&c);
out:
    json_decref(moves);
    json_decref(payload);
    free(c.lines);
    return rc;
}

int sync_fulfillment_register(queue_registry_t *reg, sync_t *sy)
{
    if (queue_registry_add_slot(reg, SYNC_KIND_FULFILL_POLL, h_poll, sy, sync_worker_free) < 0 ||
        queue_registry_add_slot(reg, SYNC_KIND_FULFILL, h_push, sy, sync_worker_free) < 0)
        return -1;
    return 0;
}
