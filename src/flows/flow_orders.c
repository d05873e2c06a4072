/* flow_orders: Shopify order → Odoo sale.order. The order of work for one job:
 *   1. version check against the link (an older event than the last applied is skipped and says so)
 *   2. find the order in Odoo: link, else its external ID (a wiped local store still finds it)
 *   3. cancelled → action_cancel; confirmed → never rewritten (a changed order is flagged on its chatter)
 *   4. customer: link → external ID → email match in the company → create (never a second partner)
 *   5. products by SKU (cached per worker), shipping as a line on the configured service product
 *   6. one load() with the order's and every line's external ID (create or update in one transaction): prices,
 *      discounts and taxes as flows/flow_money.c plans them so that Odoo's amounts are Shopify's, in the company's
 *      currency or through the pricelist mapped to the order's (no silent conversion)
 *   7. read the order's untaxed, tax and total back; a difference from Shopify's stops the order unconfirmed
 *   8. action_confirm once the financial status is one of confirm_on
 * Before all that, when the shop has an admin_token, the order is fetched from Shopify (shopify_orders.c): the
 * current order replaces the webhook's payload, so a replayed or late delivery applies today's order, and jobs from
 * `synchub reconcile orders` need only carry the order's id. Without a token, the payload is used and step 1's
 * staleness rule still applies.
 * A known customer's new paid order costs 4 calls (xmlid check, load, read-back, confirm); an update of a draft
 * order 2 (load, read-back).
 * Over 1,000 lines on purpose: the eight steps share one order context (order_ctx_t) and the worker's caches; what
 * is about Odoo rather than this flow (datetimes, external-id names) is in the client, odoo/odoo_values.c. */
#define _GNU_SOURCE
#include "flows/flow_orders.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "odoo/odoo.h"
#include "flows/flow_invoices.h"
#include "shopify/shopify_cash.h"
#include "shopify/shopify_orders.h"
#include "flows/flow_money.h"

typedef struct worker_state {
    odoo_t *odoo;
    shopify_t **shopify;  /* per configured shop, created on first fetch */
    size_t nshops;
    json_t *products;    /* default_code → {"id": n, "exp": ms}; this worker's cache */
    char currency[16];   /* the company's currency ("" = could not tell), cached until currency_exp */
    int64_t company_id;  /* the order's company (configured, else the one the user sees), with the currency */
    int64_t currency_exp;
    money_tax_t *taxes;  /* the company's active sale taxes, read when an order is taxed, cached until taxes_exp */
    size_t ntaxes;
    int64_t taxes_exp;
    json_t *pricelists;  /* pricelist name → id, as found in Odoo (this worker's cache) */
} worker_state_t;

typedef struct order_ctx {
    queue_run_t *run;
    const cfg_t *cfg;
    const cfg_shop_t *shop;
    worker_state_t *ws;
    json_t *order;           /* the Shopify payload */
    char id[24];             /* Shopify order id */
    const char *name;        /* "#1042" */
    int64_t version;         /* updated_at in ms */
    char xml_order[160];     /* external ID name (module implicit) */
    char cust_key[80];       /* link keys used for this order, to forget them if Odoo lost the records */
    char addr_key[17];
    char label[200];         /* "shopify order #1042 (6150327861270)": the record every error names */
    bool fresh;              /* order was fetched from Shopify just now (not the webhook's payload) */
    money_plan_t plan;       /* the order's money as Odoo must book it (flows/flow_money.c) */
    int64_t pricelist_id;    /* the Odoo pricelist of the order's currency when it is not the company's; 0 = none */
    json_t *money;           /* its transactions, refunds and risk (shopify_order_money), read once when needed */
} order_ctx_t;

static void slot_free(void *p)
{
    worker_state_t *ws = p;
    odoo_free(ws->odoo);
    for (size_t i = 0; ws->shopify && i < ws->nshops; i++)
        shopify_free(ws->shopify[i]);
    free(ws->shopify);
    json_decref(ws->products);
    json_decref(ws->pricelists);
    free(ws->taxes);
    free(ws);
}

static void full_xmlid(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s.%s", ODOO_XMLID_MODULE, name);
}

/* Prefix the business record to an error that came from the client ("odoo sale.order.load"). */
static int fail_record(order_ctx_t *c, err_t *e)
{
    err_wrap(e, c->label);
    c->run->err = *e;
    return -1;
}

static int fail(order_ctx_t *c, err_class_t cls, const char *code, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(order_ctx_t *c, err_class_t cls, const char *code, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vfull(&c->run->err, cls, code, c->label, hint, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- small helpers ----------------------------------------------------------------------------------------- */

/* Record, for `synchub trace`, a write into Odoo that Odoo confirmed (or, action "adopted", a record taken over
 * without writing): subject "order:<Shopify order id>", target "<model>/<id>" ("<model>" alone when load() does
 * not tell the id, as for order lines), external ID in full ("__synchub__.…"). detail (JSON, taken; may be NULL)
 * never holds customer data. */
typedef struct effect_buf {
    char subject[48], target[96], xmlid[220];
    char *detail;
} effect_buf_t;

/* Fill e (its strings kept in b; release with free(b->detail)). */
static void effect_fill(order_ctx_t *c, store_effect_t *e, effect_buf_t *b, const char *action, const char *model,
                        int64_t id, const char *xmlid_name, json_t *detail)
{
    snprintf(b->subject, sizeof(b->subject), "order:%s", c->id);
    if (id > 0)
        snprintf(b->target, sizeof(b->target), "%s/%" PRId64, model, id);
    else
        snprintf(b->target, sizeof(b->target), "%s", model);
    if (xmlid_name)
        snprintf(b->xmlid, sizeof(b->xmlid), "%s.%s", ODOO_XMLID_MODULE, xmlid_name);
    b->detail = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    *e = (store_effect_t){.shop = c->shop->domain, .subject = b->subject, .system = "odoo", .action = action,
                          .target = b->target, .external_id = xmlid_name ? b->xmlid : NULL, .detail = b->detail};
}

static void effect(order_ctx_t *c, const char *action, const char *model, int64_t id, const char *xmlid_name,
                   json_t *detail)
{
    store_effect_t e;
    effect_buf_t b;
    effect_fill(c, &e, &b, action, model, id, xmlid_name, detail);
    queue_run_effects(c->run, &e, 1);
    free(b.detail);
}

static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v && *v ? v : NULL;
}

static int64_t id_of(const json_t *o, const char *k, char *buf, size_t n)
{
    const json_t *v = json_object_get(o, k);
    json_int_t x = json_is_integer(v) ? json_integer_value(v) : json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : 0;
    if (buf)
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, x);
    return x;
}

/* Is word one of the comma-separated items of list? (case-insensitive, spaces ignored) */
static bool is_protected(const order_ctx_t *c, const char *model, const char *field)
{
    char want[128];
    snprintf(want, sizeof(want), "%s.%s", model, field);
    return cfg_list_has(c->cfg->odoo.protected_fields, want);
}

static void short_hash(const char *text, char out[17])
{
    unsigned char h[CRYPTO_SHA256_LEN];
    char hex[65];
    crypto_sha256(text, strlen(text), h);
    crypto_hex(h, sizeof(h), hex);
    memcpy(out, hex, 16);
    out[16] = '\0';
}

static int call(order_ctx_t *c, const char *model, const char *method, json_t *ids, json_t *params, json_t **result)
{
    err_t e;
    int rc = odoo_call(c->ws->odoo, model, method, ids, params, result, &e);
    json_decref(ids);
    json_decref(params);
    if (rc < 0)
        return fail_record(c, &e);
    return 0;
}

/* Look an external ID up: 1 found (*model_out, *id_out), 0 unknown, -1 error. */
static int xmlid_lookup(order_ctx_t *c, const char *name, int64_t *id_out)
{
    json_t *r = NULL;
    err_t e;
    json_t *params = json_pack("{s:s, s:s}", "module", ODOO_XMLID_MODULE, "xml_id", name);
    int rc = odoo_call(c->ws->odoo, "ir.model.data", "check_object_reference", NULL, params, &r, &e);
    json_decref(params);
    if (rc < 0) {
        if (e.cls == ERR_DATA && strstr(e.message, "External ID not found"))
            return 0;
        return fail_record(c, &e);
    }
    *id_out = json_integer_value(json_array_get(r, 1));
    json_decref(r);
    return *id_out > 0 ? 1 : 0;
}

/* load() one or more rows; 0 with the first id in *id_out, or -1 naming Odoo's messages. */
static int load(order_ctx_t *c, const char *model, json_t *fields, json_t *rows, int64_t *id_out)
{
    json_t *r = NULL;
    if (call(c, model, "load", NULL, json_pack("{s:o, s:o}", "fields", fields, "data", rows), &r) < 0)
        return -1;
    json_t *ids = json_object_get(r, "ids");
    json_t *msgs = json_object_get(r, "messages");
    if (!json_is_array(ids) || json_array_size(ids) == 0) {
        buf_t b = BUF_INIT;
        size_t i;
        json_t *m;
        json_array_foreach(msgs, i, m)
        {
            const char *field = str(m, "field");
            buf_printf(&b, "%s%s%s%s", b.len ? "; " : "", field ? field : "", field ? ": " : "",
                       str(m, "message") ? str(m, "message") : "error");
        }
        bool race = strstr(buf_str(&b), "duplicate key value") || strstr(buf_str(&b), "could not serialize");
        const char *denied = strstr(buf_str(&b), "You are not allowed to");
        if (!denied)
            denied = strstr(buf_str(&b), "You do not have enough rights to access the field");
        if (denied) {
            /* load() reports a missing right (a model's, or a field's: Odoo names the groups) inside its messages
             * instead of raising it: a configuration problem, never "fix the data" */
            const char *msg = denied;
            err_t ae;
            odoo_classify("odoo.exceptions.AccessError", msg, 0, model, "load", &ae);
            buf_release(&b);
            json_decref(r);
            return fail_record(c, &ae);
        }
        if (!race && strstr(buf_str(&b), "No matching record found for database id")) {
            /* A contact or product synchub remembered was deleted in Odoo: forget what this order used, so the
             * retry looks everything up again instead of failing the same way forever. */
            err_t fe;
            if (c->cust_key[0])
                store_link_forget(c->run->store, "shopify", c->shop->domain, "customer", c->cust_key, &fe);
            if (c->addr_key[0])
                store_link_forget(c->run->store, "shopify", c->shop->domain, "address", c->addr_key, &fe);
            json_object_clear(c->ws->products);
            int rc = fail(c, ERR_TRANSIENT, "odoo.stale_reference",
                          "a record synchub had linked was deleted in Odoo; links and caches were dropped and the "
                          "next attempt resolves the customer, address and products again",
                          "Odoo refused to import %s: %s", model, buf_str(&b));
            buf_release(&b);
            json_decref(r);
            return rc;
        }
        int rc = fail(c, race ? ERR_TRANSIENT : ERR_DATA, race ? "odoo.concurrency" : "odoo.load",
                      race ? "another worker wrote the same record at the same moment; retried"
                           : "Odoo's message names the field; fix the data (or the mapping), then `synchub jobs "
                             "retry`; retry is safe (nothing was saved)",
                      "Odoo refused to import %s: %s", model, b.len ? buf_str(&b) : "no message");
        buf_release(&b);
        json_decref(r);
        return rc;
    }
    *id_out = json_integer_value(json_array_get(ids, 0));
    json_decref(r);
    return 0;
}

/* ---- customers --------------------------------------------------------------------------------------------- */

static void person_name(const json_t *p, buf_t *out)
{
    const char *f = str(p, "first_name"), *l = str(p, "last_name"), *n = str(p, "name");
    if (f || l)
        buf_printf(out, "%s%s%s", f ? f : "", f && l ? " " : "", l ? l : "");
    else if (n)
        buf_puts(out, n);
}

/* The partner for the order's customer: 0 with *partner_id, or -1. */
static int resolve_customer(order_ctx_t *c, int64_t *partner_id)
{
    const json_t *cust = json_object_get(c->order, "customer");
    const char *email = str(c->order, "email");
    if (!email && cust)
        email = str(cust, "email");
    char key[80], xml[160];
    int64_t cust_version = 0;
    if (json_is_object(cust) && id_of(cust, "id", key, sizeof(key)) > 0) {
        const char *u = str(cust, "updated_at");
        if (u)
            clock_parse_iso8601(u, &cust_version);
        odoo_xmlid_name(c->shop->domain, "customer", key, xml, sizeof(xml));
    } else if (email) {
        /* a guest checkout: the email (hashed: no customer data in ids) identifies the customer */
        char h[17];
        buf_t lower = BUF_INIT;
        for (const char *p = email; *p; p++)
            buf_printf(&lower, "%c", tolower((unsigned char)*p));
        short_hash(buf_str(&lower), h);
        buf_release(&lower);
        snprintf(key, sizeof(key), "guest-%s", h);
        odoo_xmlid_name(c->shop->domain, "guest", h, xml, sizeof(xml));
    } else {
        snprintf(key, sizeof(key), "order-%s", c->id);
        odoo_xmlid_name(c->shop->domain, "order_customer", c->id, xml, sizeof(xml));
    }

    err_t e;
    store_link_t link;
    snprintf(c->cust_key, sizeof(c->cust_key), "%s", key);
    int have = store_link_get(c->run->store, "shopify", c->shop->domain, "customer", key, &link, &e);
    if (have < 0)
        return fail_record(c, &e);
    bool ours = have && strcmp(link.state, "adopted") != 0;
    if (have && cust_version <= link.version) {
        *partner_id = link.odoo_id;
        store_link_release(&link);
        return 0;
    }
    int64_t pid = have ? link.odoo_id : 0;
    store_link_release(&link);

    if (!pid) {
        int found = xmlid_lookup(c, xml, &pid);
        if (found < 0)
            return -1;
        ours = found == 1;
    }
    if (!pid && email) {
        /* A returning customer Odoo already knows (from another channel): match by email within the company. */
        json_t *domain = json_pack("[[s, s, s], [s, s, b]]", "email", "=ilike", email, "parent_id", "=", 0);
        if (c->cfg->odoo.company > 0)
            json_array_append_new(domain, json_pack("[s, s, [I, b]]", "company_id", "in",
                                                    (json_int_t)c->cfg->odoo.company, 0));
        json_t *r = NULL;
        if (call(c, "res.partner", "search_read", NULL,
                 json_pack("{s:o, s:[s], s:i}", "domain", domain, "fields", "id", "limit", 2), &r) < 0)
            return -1;
        size_t n = json_array_size(r);
        if (n > 1) {
            int64_t a = json_integer_value(json_object_get(json_array_get(r, 0), "id"));
            int64_t b = json_integer_value(json_object_get(json_array_get(r, 1), "id"));
            json_decref(r);
            return fail(c, ERR_DATA, "customer.ambiguous",
                        "merge the duplicate contacts in Odoo (or give one of them another email), then `synchub "
                        "jobs retry`; retry is safe",
                        "several Odoo contacts (ids %" PRId64 ", %" PRId64 ", …) have this customer's email; synchub "
                        "will not guess which one is the customer",
                        a, b);
        }
        if (n == 1) {
            pid = json_integer_value(json_object_get(json_array_get(r, 0), "id"));
            ours = false;
            effect(c, "adopted", "res.partner", pid, NULL, json_pack("{s:s}", "matched", "email"));
        }
        json_decref(r);
    }
    /* Create ours, or refresh ours when Shopify's customer record changed (Shopify owns customer data). */
    if (!pid || (ours && cust_version > 0)) {
        buf_t name = BUF_INIT;
        if (json_is_object(cust))
            person_name(cust, &name);
        if (!name.len)
            person_name(json_object_get(c->order, "billing_address"), &name);
        if (!name.len)
            buf_puts(&name, email ? email : c->label);
        char full[220];
        full_xmlid(xml, full, sizeof(full)); /* a bare name would land in module __import__ */
        json_t *fields = json_pack("[s, s]", "id", "name");
        json_t *row = json_pack("[s, s]", full, buf_str(&name));
        buf_release(&name);
        bool update = pid != 0;
        if (email && !(update && is_protected(c, "res.partner", "email"))) {
            json_array_append_new(fields, json_string("email"));
            json_array_append_new(row, json_string(email));
        }
        const char *phone = json_is_object(cust) ? str(cust, "phone") : NULL;
        if (phone && !(update && is_protected(c, "res.partner", "phone"))) {
            json_array_append_new(fields, json_string("phone"));
            json_array_append_new(row, json_string(phone));
        }
        if (c->cfg->odoo.company > 0 && !update) {
            json_array_append_new(fields, json_string("company_id/.id"));
            json_array_append_new(row, json_sprintf("%" PRId64, (int64_t)c->cfg->odoo.company));
        }
        if (load(c, "res.partner", fields, json_pack("[o]", row), &pid) < 0)
            return -1;
        effect(c, update ? "updated" : "created", "res.partner", pid, xml, json_pack("{s:s}", "role", "customer"));
        ours = true;
    }
    store_link_t nl = {.odoo_id = pid, .version = cust_version};
    snprintf(nl.odoo_model, sizeof(nl.odoo_model), "res.partner");
    snprintf(nl.state, sizeof(nl.state), "%s", ours ? "ours" : "adopted");
    if (store_link_put(c->run->store, "shopify", c->shop->domain, "customer", key, &nl, &e) < 0)
        return fail_record(c, &e);
    *partner_id = pid;
    return 0;
}

/* The delivery contact (a child of the customer, type delivery) for the shipping address; one per distinct
 * address, found again by a hash of it. It is imported on its own and then attached to the customer with a write
 * of parent_id: a load() of a child (parent_id/.id) copies the parent's commercial fields as the user, and Odoo's
 * account adds credit_limit to them, a field only the accounting groups may read (checked on real Odoo 18 and 19).
 * Both steps are idempotent (the external ID, the same parent), so a retry between them completes the link. */
static int resolve_delivery(order_ctx_t *c, int64_t partner_id, int64_t *delivery_id)
{
    const json_t *a = json_object_get(c->order, "shipping_address");
    *delivery_id = partner_id;
    if (!json_is_object(a))
        return 0;
    static const char *const parts[] = {"name", "company", "address1", "address2", "city", "zip", "province_code",
                                        "country_code", "phone"};
    buf_t norm = BUF_INIT;
    buf_printf(&norm, "%" PRId64, partner_id);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        buf_printf(&norm, "|%s", str(a, parts[i]) ? str(a, parts[i]) : "");
    char h[17], xml[160];
    short_hash(buf_str(&norm), h);
    buf_release(&norm);
    snprintf(c->addr_key, sizeof(c->addr_key), "%s", h);
    err_t e;
    store_link_t link;
    int have = store_link_get(c->run->store, "shopify", c->shop->domain, "address", h, &link, &e);
    if (have < 0)
        return fail_record(c, &e);
    if (have) {
        *delivery_id = link.odoo_id;
        store_link_release(&link);
        return 0;
    }
    odoo_xmlid_name(c->shop->domain, "address", h, xml, sizeof(xml));
    char full[220];
    full_xmlid(xml, full, sizeof(full)); /* a bare name would land in module __import__ */
    buf_t name = BUF_INIT;
    person_name(a, &name);
    json_t *fields = json_pack("[s, s, s]", "id", "type", "name");
    json_t *row = json_pack("[s, s, s]", full, "delivery", name.len ? buf_str(&name) : "Delivery");
    buf_release(&name);
    static const char *const map[][2] = {{"address1", "street"}, {"address2", "street2"}, {"city", "city"},
                                         {"zip", "zip"}, {"phone", "phone"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (str(a, map[i][0])) {
            json_array_append_new(fields, json_string(map[i][1]));
            json_array_append_new(row, json_string(str(a, map[i][0])));
        }
    }
    if (str(a, "country_code")) {
        /* Odoo's countries carry the external IDs base.<iso code> */
        char cc[16];
        snprintf(cc, sizeof(cc), "base.%s", str(a, "country_code"));
        for (char *p = cc; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        json_array_append_new(fields, json_string("country_id/id"));
        json_array_append_new(row, json_string(cc));
    }
    if (load(c, "res.partner", fields, json_pack("[o]", row), delivery_id) < 0)
        return -1;
    json_t *w = NULL;
    if (call(c, "res.partner", "write", json_pack("[I]", (json_int_t)*delivery_id),
             json_pack("{s:{s:I}}", "vals", "parent_id", (json_int_t)partner_id), &w) < 0)
        return -1;
    json_decref(w);
    effect(c, "created", "res.partner", *delivery_id, xml, json_pack("{s:s}", "role", "delivery address"));
    store_link_t nl = {.odoo_id = *delivery_id};
    snprintf(nl.odoo_model, sizeof(nl.odoo_model), "res.partner");
    snprintf(nl.state, sizeof(nl.state), "ours");
    if (store_link_put(c->run->store, "shopify", c->shop->domain, "address", h, &nl, &e) < 0)
        return fail_record(c, &e);
    return 0;
}

/* ---- products ---------------------------------------------------------------------------------------------- */

/* Odoo product ids for codes (array of strings), from the worker's cache or one search_read for the misses.
 * Fills ids (code → id). -1 on an RPC failure; unknown or ambiguous codes are reported by the caller. */
static int products(order_ctx_t *c, json_t *codes, json_t *ids, json_t *ambiguous)
{
    int64_t now = clock_now_ms();
    json_t *missing = json_array();
    size_t i;
    json_t *code;
    json_array_foreach(codes, i, code)
    {
        json_t *hit = json_object_get(c->ws->products, json_string_value(code));
        if (hit && json_integer_value(json_object_get(hit, "exp")) > now)
            json_object_set_new(ids, json_string_value(code), json_incref(json_object_get(hit, "id")));
        else
            json_array_append(missing, code);
    }
    if (json_array_size(missing) == 0) {
        json_decref(missing);
        return 0;
    }
    json_t *domain = json_pack("[[s, s, O]]", "default_code", "in", missing);
    if (c->cfg->odoo.company > 0)
        json_array_append_new(domain, json_pack("[s, s, [I, b]]", "company_id", "in",
                                                (json_int_t)c->cfg->odoo.company, 0));
    json_decref(missing);
    json_t *r = NULL;
    if (call(c, "product.product", "search_read", NULL,
             json_pack("{s:o, s:[s, s]}", "domain", domain, "fields", "id", "default_code"), &r) < 0)
        return -1;
    json_t *rec;
    json_array_foreach(r, i, rec)
    {
        const char *dc = str(rec, "default_code");
        if (!dc)
            continue;
        if (json_object_get(ids, dc)) {
            json_array_append_new(ambiguous, json_string(dc)); /* default_code is not unique in Odoo */
            continue;
        }
        json_object_set(ids, dc, json_object_get(rec, "id"));
    }
    json_array_foreach(ambiguous, i, code) json_object_del(ids, json_string_value(code));
    const char *k;
    json_t *v;
    json_object_foreach(ids, k, v)
    {
        if (c->cfg->odoo.cache_ttl_ms > 0)
            json_object_set_new(c->ws->products, k,
                                json_pack("{s:O, s:I}", "id", v, "exp", (json_int_t)(now + c->cfg->odoo.cache_ttl_ms)));
    }
    json_decref(r);
    return 0;
}

/* ---- currency and taxes ------------------------------------------------------------------------------------ */

/* The company (its id and currency) is read once per cache period. Amounts are written as Shopify's presentment
 * amounts; an order in another currency than the company's is written through the Odoo pricelist the shop maps
 * that currency to ([shop] pricelists), so that Odoo books it in that currency; without one it stops with a
 * configuration error. With several companies visible and none configured the currency cannot be told, and the
 * check is skipped. */
static int check_currency(order_ctx_t *c)
{
    worker_state_t *ws = c->ws;
    int64_t now = clock_now_ms();
    if (now >= ws->currency_exp) {
        json_t *domain = c->cfg->odoo.company > 0 ? json_pack("[[s, s, I]]", "id", "=", (json_int_t)c->cfg->odoo.company)
                                                  : json_array();
        json_t *r = NULL;
        if (call(c, "res.company", "search_read", NULL,
                 json_pack("{s:o, s:[s], s:i}", "domain", domain, "fields", "currency_id", "limit", 2), &r) < 0)
            return -1;
        const json_t *one = json_array_size(r) == 1 ? json_array_get(r, 0) : NULL;
        const char *cur = json_string_value(json_array_get(json_object_get(one, "currency_id"), 1));
        snprintf(ws->currency, sizeof(ws->currency), "%s", cur ? cur : "");
        ws->company_id = one ? json_integer_value(json_object_get(one, "id")) : c->cfg->odoo.company;
        ws->currency_exp = now + (c->cfg->odoo.cache_ttl_ms > 0 ? c->cfg->odoo.cache_ttl_ms : 0);
        json_decref(r);
    }
    /* the currency the amounts are in (flow_money.h: presentment, else the shop's) */
    const char *order_cur = str(c->order, "presentment_currency") ? str(c->order, "presentment_currency")
                                                                  : str(c->order, "currency");
    c->pricelist_id = 0;
    if (!ws->currency[0] || !order_cur || !strcasecmp(order_cur, ws->currency))
        return 0;
    char mapped[128];
    if (!cfg_map_get(c->shop->pricelists, order_cur, false, mapped, sizeof(mapped)))
        return fail(c, ERR_CONFIGURATION, "config.currency",
                    "create an Odoo pricelist in that currency and map it in the shop's section (pricelists = "
                    "CURRENCY=<pricelist id or name>), or book this shop into an Odoo company in that currency ([odoo] "
                    "company); `synchub jobs retry` once fixed (retry is safe)",
                    "the order is in %s but the Odoo company's currency is %s and [shop] pricelists maps no pricelist "
                    "for %s; synchub does not convert amounts",
                    order_cur, ws->currency, order_cur);
    char *end = NULL;
    long long id = strtoll(mapped, &end, 10);
    if (end && !*end && id > 0) {
        c->pricelist_id = id;
        return 0;
    }
    json_t *hit = json_object_get(ws->pricelists, mapped);
    if (hit) {
        c->pricelist_id = json_integer_value(hit);
        return 0;
    }
    json_t *r = NULL;
    if (call(c, "product.pricelist", "search_read", NULL,
             json_pack("{s:[[s, s, s]], s:[s], s:i}", "domain", "name", "=", mapped, "fields", "id", "limit", 2), &r) < 0)
        return -1;
    size_t n = json_array_size(r);
    if (n == 1)
        c->pricelist_id = json_integer_value(json_object_get(json_array_get(r, 0), "id"));
    json_decref(r);
    if (n != 1)
        return fail(c, ERR_CONFIGURATION, "config.pricelist",
                    "give the pricelist's id, or a name exactly one active pricelist has, in [shop] pricelists; then "
                    "`synchub jobs retry` (retry is safe)",
                    "[shop] pricelists maps %s to \"%s\", which %s", order_cur, mapped,
                    n ? "several Odoo pricelists are called" : "no Odoo pricelist is called");
    json_object_set_new(ws->pricelists, mapped, json_integer(c->pricelist_id));
    return 0;
}

/* The company's active sale taxes, read (once per cache period) only when the order carries a tax. */
static int load_taxes(order_ctx_t *c)
{
    worker_state_t *ws = c->ws;
    int64_t now = clock_now_ms();
    if (!money_order_taxed(c->order) || (ws->taxes && now < ws->taxes_exp))
        return 0;
    json_t *domain = json_pack("[[s, s, s]]", "type_tax_use", "=", "sale");
    if (ws->company_id > 0)
        json_array_append_new(domain, json_pack("[s, s, I]", "company_id", "=", (json_int_t)ws->company_id));
    json_t *r = NULL;
    if (call(c, "account.tax", "search_read", NULL,
             json_pack("{s:o, s:[s, s, s, s, s]}", "domain", domain, "fields", "id", "name", "amount", "amount_type",
                       "price_include"),
             &r) < 0)
        return -1;
    size_t n = json_array_size(r), i;
    money_tax_t *t = calloc(n ? n : 1, sizeof(*t));
    if (!t) {
        json_decref(r);
        return fail(c, ERR_INTERNAL, "odoo.oom", NULL, "out of memory");
    }
    json_t *rec;
    json_array_foreach(r, i, rec)
    {
        t[i].id = json_integer_value(json_object_get(rec, "id"));
        snprintf(t[i].name, sizeof(t[i].name), "%s", str(rec, "name") ? str(rec, "name") : "");
        t[i].amount = json_number_value(json_object_get(rec, "amount"));
        t[i].percent = str(rec, "amount_type") && !strcmp(str(rec, "amount_type"), "percent");
        t[i].price_include = json_is_true(json_object_get(rec, "price_include"));
    }
    json_decref(r);
    free(ws->taxes);
    ws->taxes = t;
    ws->ntaxes = n;
    ws->taxes_exp = now + (c->cfg->odoo.cache_ttl_ms > 0 ? c->cfg->odoo.cache_ttl_ms : 0);
    return 0;
}

/* Plan the order's money (prices, discounts, taxes per line) against the company's taxes. */
static int plan_money(order_ctx_t *c)
{
    err_t e;
    money_cfg_t mc = {.tax_map = c->shop->tax_map, .discount_digits = (int)c->cfg->odoo.discount_digits};
    if (money_plan_build(c->order, &mc, c->ws->taxes, c->ws->ntaxes, &c->plan, &e) < 0) {
        if (!strncmp(e.code, "config.tax", 10) && c->ws->taxes)
            c->ws->taxes_exp = 0; /* taxes may be created in Odoo before the retry: read them again then */
        e.record[0] = '\0';
        return fail_record(c, &e);
    }
    return 0;
}

/* ---- the order --------------------------------------------------------------------------------------------- */

typedef struct line {
    char xml[200];
    char sku[128];           /* the Shopify SKU ("" for shipping) */
    char code[128];
    char name[256];
    double qty;
    char price[32];          /* "24.00": the unit price before discounts, exact */
    char discount[24];       /* "6.69": Odoo's discount %, chosen by flow_money to give Shopify's line total */
    char taxes[128];         /* "3,4": Odoo tax ids; "" = explicitly none (never the product's default) */
    const money_line_t *money;
} line_t;

/* The service product a kind of money line is booked on, and the [shop] key that names it. */
static const char *service_product(const order_ctx_t *c, money_kind_t kind, const char **key)
{
    switch (kind) {
    case MONEY_SHIPPING: *key = "shipping_product"; return c->shop->shipping_product;
    case MONEY_GIFT_CARD: *key = "gift_card_product"; return c->shop->gift_card_product;
    case MONEY_TIP: *key = "tip_product"; return c->shop->tip_product;
    case MONEY_DUTY: *key = "duty_product"; return c->shop->duty_product;
    default: *key = NULL; return NULL;
    }
}

/* Build the lines (products, gift cards, tips, duties and shipping, as the money plan lists them) with their Odoo
 * product ids; hash the part that matters for review. */
static int build_lines(order_ctx_t *c, line_t **out, size_t *nout, json_t **product_ids, char hash[17])
{
    size_t n = c->plan.n;
    line_t *lines = calloc(n ? n : 1, sizeof(*lines));
    json_t *codes = json_array();
    buf_t missing = BUF_INIT, digest = BUF_INIT;
    const char *missing_key = NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const money_line_t *m = &c->plan.lines[i];
        const json_t *it = m->src;
        line_t *l = &lines[k];
        l->money = m;
        char lid[24] = "", name[64];
        if (it)
            id_of(it, "id", lid, sizeof(lid));
        if (m->kind == MONEY_SHIPPING)
            snprintf(name, sizeof(name), "%s_shipping_%s", c->id, lid);
        else if (m->kind == MONEY_DUTY && lid[0] && strcmp(lid, "0"))
            snprintf(name, sizeof(name), "%s_duty_%s", c->id, lid);
        else if (m->kind == MONEY_DUTY)
            snprintf(name, sizeof(name), "%s_duty_n%zu", c->id, i); /* a duty without id: its place in the plan */
        else if (it)
            snprintf(name, sizeof(name), "%s_line_%s", c->id, lid);
        else
            snprintf(name, sizeof(name), "%s_tip", c->id);
        odoo_xmlid_name(c->shop->domain, "order", name, l->xml, sizeof(l->xml));
        const char *key = NULL, *service = service_product(c, m->kind, &key);
        if (m->kind == MONEY_ITEM) {
            const char *sku = str(it, "sku");
            if (!sku) {
                buf_printf(&missing, "%sline %s (\"%s\") has no SKU", missing.len ? "; " : "", lid,
                           str(it, "title") ? str(it, "title") : "");
                continue;
            }
            if (!cfg_map_get(c->shop->sku_map, sku, false, l->code, sizeof(l->code)))
                snprintf(l->code, sizeof(l->code), "%s", sku);
            snprintf(l->sku, sizeof(l->sku), "%s", sku);
            snprintf(l->name, sizeof(l->name), "%s", str(it, "name") ? str(it, "name") : sku);
        } else {
            if (!service) {
                buf_printf(&missing, "%s%s is charged but [shop %s] has no %s", missing.len ? "; " : "", m->label,
                           c->shop->domain, key);
                missing_key = missing_key ? missing_key : key;
                continue;
            }
            snprintf(l->code, sizeof(l->code), "%s", service);
            const char *title = it ? (str(it, "name") ? str(it, "name") : str(it, "title")) : NULL;
            snprintf(l->name, sizeof(l->name), "%s",
                     title ? title : m->kind == MONEY_DUTY ? "Duties" : m->kind == MONEY_TIP ? "Tip" : "Shipping");
        }
        l->qty = (double)m->qty;
        money_format(m->unit, l->price, sizeof(l->price));
        money_discount_format(m->discount_e, (int)c->cfg->odoo.discount_digits, l->discount, sizeof(l->discount));
        for (size_t t = 0; t < m->ntax; t++) {
            size_t used = strlen(l->taxes);
            snprintf(l->taxes + used, sizeof(l->taxes) - used, "%s%" PRId64, t ? "," : "", m->tax_ids[t]);
        }
        json_array_append_new(codes, json_string(l->code));
        buf_printf(&digest, "%s:%s:%g:%s:%s:%s;", name, l->code, l->qty, l->price, l->discount, l->taxes);
        k++;
    }
    short_hash(buf_str(&digest), hash);
    buf_release(&digest);
    int rc = 0;
    if (missing.len) {
        rc = fail(c, ERR_DATA, "order.lines", "fix the order or the shop's configuration, then `synchub jobs retry`",
                  "%s", buf_str(&missing));
        if (missing_key) {
            c->run->err.cls = ERR_CONFIGURATION;
            snprintf(c->run->err.code, sizeof(c->run->err.code), "config.%s", missing_key);
            err_hint(&c->run->err, "set %s = <Odoo internal reference of a service product> in [shop %s], then "
                                   "`synchub jobs retry %.12s`; retry is safe",
                     missing_key, c->shop->domain, c->run->job->id);
        }
    }
    buf_release(&missing);
    json_t *ids = json_object(), *ambiguous = json_array();
    if (rc == 0 && products(c, codes, ids, ambiguous) < 0)
        rc = -1;
    if (rc == 0) {
        buf_t unknown = BUF_INIT;
        size_t j;
        json_t *code;
        json_array_foreach(codes, j, code)
        {
            const char *s = json_string_value(code);
            if (!json_object_get(ids, s) && !strstr(buf_str(&unknown), s))
                buf_printf(&unknown, "%s%s", unknown.len ? ", " : "", s);
        }
        if (json_array_size(ambiguous)) {
            char first[128];
            snprintf(first, sizeof(first), "%s", json_string_value(json_array_get(ambiguous, 0)));
            rc = fail(c, ERR_CONFIGURATION, "mapping.sku_ambiguous",
                      "give each product a distinct Internal Reference in Odoo (or map the SKU with sku_map), then "
                      "`synchub jobs retry`; retry is safe",
                      "several Odoo products share the internal reference %s; synchub will not guess", first);
        } else if (unknown.len) {
            rc = fail(c, ERR_CONFIGURATION, "mapping.sku",
                      "create the product in Odoo with that Internal Reference (default_code), or map the SKU with "
                      "sku_map in the [shop] section, then `synchub jobs retry`; retry is safe",
                      "no Odoo product has the internal reference %s (SKU of this order's lines)", buf_str(&unknown));
        }
        buf_release(&unknown);
    }
    json_decref(codes);
    json_decref(ambiguous);
    if (rc < 0) {
        json_decref(ids);
        free(lines);
        return -1;
    }
    *out = lines;
    *nout = k;
    *product_ids = ids;
    return 0;
}

static int write_order(order_ctx_t *c, bool exists, int64_t partner_id, int64_t delivery_id, line_t *lines,
                       size_t n, json_t *pids, int64_t *order_id)
{
    json_t *fields = json_pack("[s, s, s]", "id", "partner_id/.id", "partner_shipping_id/.id");
    char full_order[220];
    full_xmlid(c->xml_order, full_order, sizeof(full_order)); /* a bare name would land in module __import__ */
    json_t *head = json_pack("[s, o, o]", full_order, json_sprintf("%" PRId64, partner_id),
                             json_sprintf("%" PRId64, delivery_id));
    char origin[256], when[32];
    snprintf(origin, sizeof(origin), "Shopify %s %s", c->shop->domain, c->name);
    int64_t created = 0;
    const char *ca = str(c->order, "created_at");
    if (ca)
        clock_parse_iso8601(ca, &created);
    odoo_datetime(created ? created : c->version, when, sizeof(when));
    struct {
        const char *field, *value;
    } hv[] = {{"client_order_ref", c->name}, {"origin", origin}, {"date_order", when}};
    for (size_t i = 0; i < sizeof(hv) / sizeof(hv[0]); i++) {
        if (exists && is_protected(c, "sale.order", hv[i].field))
            continue;
        json_array_append_new(fields, json_string(hv[i].field));
        json_array_append_new(head, json_string(hv[i].value));
    }
    if (c->pricelist_id > 0) {
        json_array_append_new(fields, json_string("pricelist_id/.id"));
        json_array_append_new(head, json_sprintf("%" PRId64, c->pricelist_id));
    }
    /* Taxes always written, empty for an untaxed line: Odoo would otherwise put the product's default tax on it
     * (through the fiscal position), and the order would no longer be what Shopify charged. 19.0 renamed the
     * field. */
    const char *tax_col = odoo_server_major(c->ws->odoo) >= 19 ? "order_line/tax_ids/.id" : "order_line/tax_id/.id";
    const char *const line_fields[] = {"order_line/id", "order_line/product_id/.id", "order_line/name",
                                       "order_line/product_uom_qty", "order_line/price_unit",
                                       "order_line/discount", tax_col};
    size_t nhead = json_array_size(fields);
    for (size_t i = 0; i < sizeof(line_fields) / sizeof(line_fields[0]); i++)
        json_array_append_new(fields, json_string(line_fields[i]));
    json_t *rows = json_array();
    for (size_t i = 0; i < n || i == 0; i++) {
        /* The first row carries the order; following rows leave its columns empty and add one line each. */
        json_t *row = i == 0 ? head : json_array();
        for (size_t h = 0; i > 0 && h < nhead; h++)
            json_array_append_new(row, json_string(""));
        if (i < n) {
            char full[220];
            full_xmlid(lines[i].xml, full, sizeof(full));
            json_array_append_new(row, json_string(full));
            json_array_append_new(row, json_sprintf("%" JSON_INTEGER_FORMAT,
                                                    json_integer_value(json_object_get(pids, lines[i].code))));
            json_array_append_new(row, json_string(lines[i].name));
            json_array_append_new(row, json_sprintf("%g", lines[i].qty));
            json_array_append_new(row, json_string(lines[i].price));
            json_array_append_new(row, json_string(lines[i].discount));
            json_array_append_new(row, json_string(lines[i].taxes));
        } else {
            for (size_t h = 0; h < sizeof(line_fields) / sizeof(line_fields[0]); h++)
                json_array_append_new(row, json_string(""));
        }
        json_array_append_new(rows, row);
    }
    if (load(c, "sale.order", fields, rows, order_id) < 0)
        return -1;
    /* The order and its lines as one batch (one store transaction). */
    store_effect_t *e = calloc(n + 1, sizeof(*e));
    effect_buf_t *b = calloc(n + 1, sizeof(*b));
    const char *action = exists ? "updated" : "created";
    if (e && b) {
        effect_fill(c, &e[0], &b[0], action, "sale.order", *order_id, c->xml_order, json_pack("{s:i}", "lines", (int)n));
        for (size_t i = 0; i < n; i++) {
            /* load() answers only the order's id; a line is known by its external ID. */
            effect_fill(c, &e[i + 1], &b[i + 1], action, "sale.order.line", 0, lines[i].xml,
                        json_pack("{s:s?, s:s, s:f}", "sku", lines[i].sku[0] ? lines[i].sku : NULL, "code",
                                  lines[i].code, "quantity", lines[i].qty));
        }
        queue_run_effects(c->run, e, n + 1);
        for (size_t i = 0; i <= n; i++)
            free(b[i].detail);
    }
    free(e);
    free(b);
    return 0;
}

/* Note on a confirmed order's chatter that Shopify changed it; the order itself is left for a person. The note
 * carries the new lines' hash, so a retry after a lost answer (or libcurl's resend on a dropped connection) finds
 * it instead of posting it twice. */
static int flag_for_review(order_ctx_t *c, int64_t order_id, const char *hash)
{
    char body[512], marker[64];
    snprintf(marker, sizeof(marker), "synchub review %s", hash);
    snprintf(body, sizeof(body),
             "synchub: Shopify order %s changed after this sale order was confirmed (lines, quantities, prices or "
             "shipping). The sale order was not modified; please review it against Shopify. [%s]",
             c->name, marker);
    json_t *r = NULL;
    if (call(c, "mail.message", "search_count", NULL,
             json_pack("{s:[[s, s, s], [s, s, I], [s, s, s]]}", "domain", "model", "=", "sale.order", "res_id", "=",
                       (json_int_t)order_id, "body", "ilike", marker),
             &r) < 0)
        return -1;
    json_int_t already = json_integer_value(r);
    json_decref(r);
    r = NULL;
    if (already > 0)
        return 0;
    /* An internal note (mt_note): confirming subscribes the customer to the order, and a plain comment would
     * e-mail them. email_from: Odoo 18 refuses a note without a sender address (the user may have no e-mail). */
    json_t *params = json_pack("{s:s, s:s, s:s}", "body", body, "message_type", "comment", "subtype_xmlid",
                               "mail.mt_note");
    odoo_note_sender(&c->cfg->odoo, params);
    if (call(c, "sale.order", "message_post", json_pack("[I]", (json_int_t)order_id), params, &r) < 0)
        return -1;
    json_decref(r);
    effect(c, "review note posted", "sale.order", order_id, c->xml_order, json_pack("{s:s}", "lines", hash));
    return 0;
}

static int cancel_order(order_ctx_t *c, int64_t order_id)
{
    json_t *r = NULL;
    err_t e;
    json_t *ids = json_pack("[I]", (json_int_t)order_id);
    json_t *params = json_pack("{s:{s:b}}", "context", "disable_cancel_warning", 1);
    int rc = odoo_call(c->ws->odoo, "sale.order", "action_cancel", ids, params, &r, &e);
    json_decref(ids);
    json_decref(params);
    if (rc < 0) {
        if (e.cls == ERR_DATA) {
            char why[sizeof(e.message)];
            snprintf(why, sizeof(why), "%s", e.message);
            return fail(c, ERR_DATA, "order.cancel_refused",
                        "cancel or return it in Odoo by hand (a delivered or invoiced order needs a return or a "
                        "credit note), then `synchub jobs discard` this job",
                        "Shopify cancelled the order but Odoo refuses to cancel the sale order: %s", why);
        }
        return fail_record(c, &e);
    }
    bool wizard = json_is_object(r);
    json_decref(r);
    if (wizard)
        return fail(c, ERR_DATA, "order.cancel_wizard",
                    "Odoo wants a person to confirm the cancellation (invoices or deliveries exist); cancel it in "
                    "Odoo, then `synchub jobs discard` this job",
                    "Odoo answered the cancellation with a confirmation wizard instead of cancelling");
    effect(c, "cancelled", "sale.order", order_id, c->xml_order, NULL);
    return 0;
}

static int confirm_order(order_ctx_t *c, int64_t order_id)
{
    json_t *r = NULL;
    err_t e;
    json_t *ids = json_pack("[I]", (json_int_t)order_id);
    int rc = odoo_call(c->ws->odoo, "sale.order", "action_confirm", ids, NULL, &r, &e);
    json_decref(ids);
    json_decref(r);
    if (rc < 0 && e.cls == ERR_DATA && strstr(e.message, "not in a state requiring confirmation")) {
        /* an earlier try confirmed it and its answer was lost: say so rather than claim a second confirmation */
        effect(c, "confirmed (already)", "sale.order", order_id, c->xml_order, NULL);
        return 0;
    }
    if (rc < 0)
        return fail_record(c, &e);
    effect(c, "confirmed", "sale.order", order_id, c->xml_order, NULL);
    return 0;
}

static int save_link(order_ctx_t *c, int64_t order_id, const char *state, const char *lines_hash)
{
    store_link_t l = {.odoo_id = order_id, .version = c->version};
    snprintf(l.odoo_model, sizeof(l.odoo_model), "sale.order");
    snprintf(l.state, sizeof(l.state), "%s", state);
    /* The order's name too: `synchub trace SHOP order #1042` finds the order by it. */
    json_t *x = json_pack("{s:s, s:s}", "lines", lines_hash ? lines_hash : "", "name", c->name ? c->name : "");
    l.extra = x ? json_dumps(x, JSON_COMPACT) : NULL;
    json_decref(x);
    if (!l.extra)
        return fail(c, ERR_INTERNAL, "odoo.oom", NULL, "out of memory");
    err_t e;
    int rc = store_link_put(c->run->store, "shopify", c->shop->domain, "order", c->id, &l, &e);
    free(l.extra);
    return rc < 0 ? fail_record(c, &e) : 0;
}

/* The read-back proof: Odoo's untaxed amount, tax and total of the order just written against Shopify's current
 * figures (one read). A difference beyond amount_tolerance is a data failure naming both figures and the first line
 * whose amounts differ (one more read, on the failure path only); the order is then not confirmed. */
static int prove_money(order_ctx_t *c, int64_t order_id, const line_t *lines, size_t n)
{
    json_t *r = NULL;
    if (call(c, "sale.order", "read", json_pack("[I]", (json_int_t)order_id),
             json_pack("{s:[s, s, s]}", "fields", "amount_untaxed", "amount_tax", "amount_total"), &r) < 0)
        return -1;
    const json_t *so = json_array_get(r, 0);
    int64_t untaxed = money_from_double(json_number_value(json_object_get(so, "amount_untaxed")));
    int64_t tax = money_from_double(json_number_value(json_object_get(so, "amount_tax")));
    int64_t total = money_from_double(json_number_value(json_object_get(so, "amount_total")));
    bool readable = json_is_object(so);
    json_decref(r);
    int64_t tol = 0;
    money_parse(c->shop->amount_tolerance, &tol);
    int64_t want_total = c->plan.total, want_tax = c->plan.tax, want_untaxed = want_total - want_tax;
    if (readable && llabs(total - want_total) <= tol && llabs(tax - want_tax) <= tol &&
        llabs(untaxed - want_untaxed) <= tol)
        return 0;
    /* Which line? Odoo's lines in the order they were written, against what Shopify charged on each. */
    buf_t which = BUF_INIT;
    int64_t lines_sum = 0;
    for (size_t i = 0; i < c->plan.n; i++)
        lines_sum += c->plan.lines[i].net + (c->plan.taxes_included ? 0 : c->plan.lines[i].tax);
    r = NULL;
    if (readable && call(c, "sale.order.line", "search_read", NULL,
                         json_pack("{s:[[s, s, I]], s:[s, s, s], s:s}", "domain", "order_id", "=", (json_int_t)order_id,
                                   "fields", "name", "price_total", "price_tax", "order", "sequence, id"),
                         &r) == 0) {
        for (size_t i = 0; i < n && i < json_array_size(r); i++) {
            const json_t *ol = json_array_get(r, i);
            const money_line_t *m = lines[i].money;
            int64_t lt = money_from_double(json_number_value(json_object_get(ol, "price_total")));
            int64_t lx = money_from_double(json_number_value(json_object_get(ol, "price_tax")));
            int64_t st = c->plan.taxes_included ? m->net : m->net + m->tax;
            if (lt == st && lx == m->tax)
                continue;
            char a[24], b[24], x[24], y[24];
            money_format(lt, a, sizeof(a));
            money_format(lx, x, sizeof(x));
            money_format(st, b, sizeof(b));
            money_format(m->tax, y, sizeof(y));
            buf_printf(&which, "first line that differs: %s, Odoo %s (tax %s), Shopify %s (tax %s)", m->label, a, x,
                       b, y);
            break;
        }
    }
    json_decref(r);
    if (!which.len && readable && lines_sum != want_total) {
        char ls[24], wt[24];
        money_format(lines_sum, ls, sizeof(ls));
        money_format(want_total, wt, sizeof(wt));
        buf_printf(&which, "every line is as Shopify charged it, but Shopify's lines add up to %s, not its total %s "
                           "(a charge synchub does not map, or the order changed since this payload)", ls, wt);
    } else if (!which.len) {
        buf_puts(&which, readable ? "no single line differs: the difference comes from how Odoo rounds the order's "
                                    "tax (Round Globally) where Shopify rounds per line"
                                  : "Odoo returned no amounts for the order");
    }
    char ou[24], ot[24], oT[24], su[24], st[24], sT[24], tl[24];
    money_format(untaxed, ou, sizeof(ou));
    money_format(tax, ot, sizeof(ot));
    money_format(total, oT, sizeof(oT));
    money_format(want_untaxed, su, sizeof(su));
    money_format(want_tax, st, sizeof(st));
    money_format(want_total, sT, sizeof(sT));
    money_format(tol, tl, sizeof(tl));
    int rc = fail(c, ERR_DATA, "order.amount_mismatch",
                  "the sale order was left a quotation (not confirmed); make Odoo compute what Shopify charged (the "
                  "company's tax rounding per line, the taxes matched to Shopify's, see `synchub check`) or accept "
                  "the difference with amount_tolerance in the shop's section; then `synchub jobs retry` (retry is "
                  "safe: the order is rewritten, then checked again)",
                  "Odoo computed untaxed %s, tax %s, total %s %s where Shopify charged untaxed %s, tax %s, total %s "
                  "(tolerance %s); %s",
                  ou, ot, oT, c->plan.currency, su, st, sT, tl, buf_str(&which));
    c->run->err.retry_safe = true; /* nothing was confirmed; a retry rewrites the order and checks it again */
    buf_release(&which);
    return rc;
}

/* The order's money and risk from Shopify (shopify_cash.c), once per job; only for an order fetched from Shopify
 * (the client exists, the admin_token is set). 0 (c->money may stay NULL) or -1. */
static int order_money(order_ctx_t *c)
{
    if (c->money || !c->fresh)
        return 0;
    err_t e;
    size_t i = (size_t)(c->shop - c->cfg->shops);
    int rc = shopify_order_money(c->ws->shopify[i], c->id, &c->money, &e);
    return rc < 0 ? fail_record(c, &e) : 0;
}

/* Is the order rated at least [shop] hold_risk? (Only known for an order fetched from Shopify.) */
static int risky(order_ctx_t *c, bool *held, char *level, size_t n)
{
    *held = false;
    const char *want = c->shop->hold_risk ? c->shop->hold_risk : "none";
    if (!strcmp(want, "none"))
        return 0;
    if (order_money(c) < 0)
        return -1;
    const char *lv = json_string_value(json_object_get(c->money, "risk_level"));
    snprintf(level, n, "%s", lv ? lv : "unknown");
    *held = lv && (!strcmp(lv, "high") || (!strcmp(want, "medium") && !strcmp(lv, "medium")));
    return 0;
}

/* A risky order stays a quotation: a To Do activity for its salesperson (once: its note carries a marker) says
 * why; confirming or cancelling it is that person's decision. */
static int hold_for_risk(order_ctx_t *c, int64_t order_id, const char *level)
{
    char marker[96];
    snprintf(marker, sizeof(marker), "synchub risk hold %s", c->id);
    json_t *r = NULL;
    if (call(c, "mail.activity", "search_count", NULL,
             json_pack("{s:[[s,s,s],[s,s,I],[s,s,s]]}", "domain", "res_model", "=", "sale.order", "res_id", "=",
                       (json_int_t)order_id, "note", "ilike", marker), &r) < 0)
        return -1;
    bool have = json_integer_value(r) > 0;
    json_decref(r);
    if (!have) {
        /* activity_schedule, not mail.activity.create: the integration user may not read ir.model (real 18 and 19),
         * which create's res_model_id needs; the mixin looks the model up itself */
        int64_t user_id = 0;
        r = NULL;
        if (call(c, "sale.order", "read", json_pack("[I]", (json_int_t)order_id),
                 json_pack("{s:[s]}", "fields", "user_id"), &r) < 0)
            return -1;
        user_id = json_integer_value(json_array_get(json_object_get(json_array_get(r, 0), "user_id"), 0));
        json_decref(r);
        char note[400];
        snprintf(note, sizeof(note), "<p>Shopify rates order %s %s risk. synchub wrote it but did not confirm it: "
                 "check it, then confirm or cancel the quotation here and in Shopify. (%s)</p>",
                 c->name ? c->name : c->id, level, marker);
        json_t *params = json_pack("{s:s, s:s, s:s}", "act_type_xmlid", "mail.mail_activity_data_todo", "summary",
                                   "High-risk Shopify order: confirm or cancel", "note", note);
        if (user_id > 0)
            json_object_set_new(params, "user_id", json_integer(user_id));
        r = NULL; /* 18 answers the recordset's repr ("mail.activity(1,)"), 19 its ids: not used */
        if (call(c, "sale.order", "activity_schedule", json_pack("[I]", (json_int_t)order_id), params, &r) < 0)
            return -1;
        json_decref(r);
        effect(c, "held for risk (activity)", "sale.order", order_id, c->xml_order, json_pack("{s:s}", "risk", level));
    }
    snprintf(c->run->note, sizeof(c->run->note), "held: Shopify rates the order %s risk (hold_risk = %s); left a "
             "quotation with an activity for its salesperson", level, c->shop->hold_risk);
    return 0;
}

/* Order to cash once the sale order is confirmed (flow_invoices.c): the order's transactions are read from Shopify when
 * the order was (fetched there, so the client exists), else the payload's total stands for one payment. */
static int cash(order_ctx_t *c, int64_t order_id, bool cancelled)
{
    if (!c->shop->invoice_on || !strcmp(c->shop->invoice_on, "never"))
        return 0;
    if (order_money(c) < 0)
        return -1;
    json_t *money = c->money;
    flow_invoices_order_t in = {.shop = c->shop, .order = c->order,
                                .transactions = json_object_get(money, "transactions"),
                                .refunds = json_object_get(money, "refunds"), .id = c->id, .label = c->label,
                                .sale_order_id = order_id, .shipping_product = c->shop->shipping_product,
                                .cancelled = cancelled};
    return flow_invoices_apply(c->ws->odoo, c->run, &in);
}

static int handle_order(order_ctx_t *c, const char *topic)
{
    err_t e;
    store_link_t link;
    int have = store_link_get(c->run->store, "shopify", c->shop->domain, "order", c->id, &link, &e);
    if (have < 0)
        return fail_record(c, &e);
    char old_hash[17] = "";
    int64_t order_id = have ? link.odoo_id : 0;
    char state[32] = "";
    if (have) {
        snprintf(state, sizeof(state), "%s", link.state);
        json_t *x = link.extra ? json_loads(link.extra, 0, NULL) : NULL;
        snprintf(old_hash, sizeof(old_hash), "%s", str(x, "lines") ? str(x, "lines") : "");
        json_decref(x);
        int64_t applied = link.version;
        store_link_release(&link);
        if (c->version < applied) {
            char a[40], b[40];
            snprintf(c->run->note, sizeof(c->run->note), "skipped: %s event of %s is older than the applied version "
                     "of %s", topic, clock_format_iso8601(c->version, a, sizeof(a)),
                     clock_format_iso8601(applied, b, sizeof(b)));
            return 0;
        }
    }
    bool was_held = order_id && !strcmp(state, "held");
    if (order_id && (!strcmp(state, "unknown") || was_held))
        state[0] = '\0'; /* read it below (a held order: has a person decided in Odoo?) */
    int found = order_id ? 1 : xmlid_lookup(c, c->xml_order, &order_id);
    if (found < 0)
        return -1;
    if (found && !state[0]) {
        json_t *r = NULL;
        if (call(c, "sale.order", "read", json_pack("[I]", (json_int_t)order_id),
                 json_pack("{s:[s]}", "fields", "state"), &r) < 0)
            return -1;
        snprintf(state, sizeof(state), "%s", str(json_array_get(r, 0), "state") ? str(json_array_get(r, 0), "state")
                                                                               : "");
        json_decref(r);
        if (!state[0])
            order_id = 0; /* the external ID points at a deleted order: create it again */
    }
    if (was_held && (!strcmp(state, "draft") || !strcmp(state, "sent"))) {
        /* held for risk: confirming or cancelling is a person's decision in Odoo, not this event's */
        snprintf(c->run->note, sizeof(c->run->note), "held for risk: %s not applied; confirm or cancel the quotation "
                 "in Odoo (its activity says why)", topic);
        return save_link(c, order_id, "held", old_hash);
    }
    /* A fetched order is the truth (its cancelled_at); a payload alone is believed by its topic too. */
    bool cancelled = (!c->fresh && strcmp(topic, "orders/cancelled") == 0) ||
                     json_is_string(json_object_get(c->order, "cancelled_at"));
    if (cancelled) {
        if (!order_id) {
            snprintf(c->run->note, sizeof(c->run->note), "cancelled in Shopify before it reached Odoo: nothing to "
                                                         "cancel, nothing created");
            return save_link(c, 0, "cancel", NULL);
        }
        if (strcmp(state, "cancel") != 0 && cancel_order(c, order_id) < 0)
            return -1;
        if (save_link(c, order_id, "cancel", old_hash) < 0)
            return -1;
        return cash(c, order_id, true); /* Odoo keeps a posted invoice of a cancelled order: credit it */
    }
    if (!strcmp(state, "cancel") && order_id) {
        snprintf(c->run->note, sizeof(c->run->note), "the sale order is cancelled in Odoo; the update was not applied");
        return save_link(c, order_id, state, old_hash);
    }

    line_t *lines = NULL;
    size_t nlines = 0;
    json_t *pids = NULL;
    char hash[17];
    if (check_currency(c) < 0 || load_taxes(c) < 0 || plan_money(c) < 0 ||
        build_lines(c, &lines, &nlines, &pids, hash) < 0)
        return -1;
    int rc = 0;
    bool confirmed = !strcmp(state, "sale") || !strcmp(state, "done");
    if (confirmed) {
        /* Never rewrite a confirmed order: deliveries and invoices hang off it. Flag real changes instead. */
        if (old_hash[0] && strcmp(old_hash, hash) != 0) {
            rc = flag_for_review(c, order_id, hash);
            if (rc == 0)
                snprintf(c->run->note, sizeof(c->run->note), "confirmed order changed in Shopify: flagged for review "
                                                             "on the Odoo sale order, not rewritten");
        }
        if (rc == 0)
            rc = save_link(c, order_id, state, hash);
        if (rc == 0)
            rc = cash(c, order_id, false);
        goto out;
    }
    int64_t partner = 0, delivery = 0;
    if (resolve_customer(c, &partner) < 0 || resolve_delivery(c, partner, &delivery) < 0 ||
        write_order(c, order_id != 0, partner, delivery, lines, nlines, pids, &order_id) < 0) {
        rc = -1;
        goto out;
    }
    snprintf(state, sizeof(state), "draft");
    if (prove_money(c, order_id, lines, nlines) < 0) {
        /* Written but not what Shopify charged: left a quotation, never confirmed. The link remembers it as a
         * draft, so the retry (after the fix) rewrites it without looking it up again. */
        save_link(c, order_id, "draft", hash);
        rc = -1;
        goto out;
    }
    bool held = false;
    char level[16] = "";
    if (risky(c, &held, level, sizeof(level)) < 0) {
        rc = -1;
        goto out;
    }
    if (held) {
        rc = hold_for_risk(c, order_id, level);
        if (rc == 0)
            rc = save_link(c, order_id, "held", hash);
        goto out;
    }
    if (cfg_list_has(c->shop->confirm_on, str(c->order, "financial_status"))) {
        if (confirm_order(c, order_id) < 0) {
            /* The order exists, but whether the confirmation went through is unknown (a lost answer): the retry
             * reads the state from Odoo before it writes anything. */
            save_link(c, order_id, "unknown", hash);
            rc = -1;
            goto out;
        }
        snprintf(state, sizeof(state), "sale");
    }
    rc = save_link(c, order_id, state, hash);
    if (rc == 0 && !strcmp(state, "sale"))
        rc = cash(c, order_id, false);
out:
    free(lines);
    json_decref(pids);
    return rc;
}

/* Replace c->order by Shopify's current version of it. 1 done, 0 the order no longer exists in Shopify (nothing to
 * apply; run->note says so), -1 failed (run->err). */
static int fetch_fresh(order_ctx_t *c, sync_t *sy)
{
    size_t i = (size_t)(c->shop - c->cfg->shops);
    if (!c->ws->shopify[i] && (c->ws->shopify[i] = shopify_new(c->shop, sync_throttle(sy, c->shop))) != NULL)
        shopify_set_metrics(c->ws->shopify[i], sync_metrics(sy));
    if (!c->ws->shopify[i])
        return fail(c, ERR_INTERNAL, "shopify.oom", NULL, "cannot create the Shopify client");
    json_t *fresh = NULL;
    err_t e;
    int rc = shopify_order_fetch(c->ws->shopify[i], c->id, &fresh, &e);
    if (rc < 0)
        return fail_record(c, &e);
    if (rc == 0) {
        snprintf(c->run->note, sizeof(c->run->note), "the order no longer exists in Shopify: nothing applied");
        return 0;
    }
    json_decref(c->order);
    c->order = fresh;
    c->fresh = true;
    return 1;
}

static int h_shopify_order(queue_run_t *run)
{
    sync_t *sy = run->udata;
    const cfg_t *cfg = sync_cfg(sy);
    order_ctx_t c = {.run = run, .cfg = cfg};
    snprintf(c.label, sizeof(c.label), "job %s", run->job->id);
    json_t *meta = run->job->meta ? json_loads(run->job->meta, 0, NULL) : NULL;
    const char *shop = str(meta, "shop");
    const char *topic = str(meta, "topic");
    c.order = json_loads(run->job->payload, 0, NULL);
    int rc = -1;
    if (!json_is_object(c.order) || !shop) {
        fail(&c, ERR_DATA, "order.payload", "discard this job; it cannot be processed",
             "the job's payload is not a Shopify order (or its delivery metadata is missing)");
        goto out;
    }
    c.shop = cfg_shop_find(cfg, shop);
    if (!c.shop) {
        fail(&c, ERR_CONFIGURATION, "config.shop", "add the [shop] section back, then `synchub jobs retry`",
             "shop %s is no longer configured", shop);
        goto out;
    }
    bool refund = topic && !strncmp(topic, "refunds/", 8);
    id_of(c.order, refund ? "order_id" : "id", c.id, sizeof(c.id));
    c.name = str(c.order, "name") ? str(c.order, "name") : c.id;
    snprintf(c.label, sizeof(c.label), "shopify order %s (%s, %s)", c.name, c.id, c.shop->domain);

    if (!*run->slot) {
        worker_state_t *ws = calloc(1, sizeof(*ws));
        if (ws) {
            ws->odoo = odoo_new(&cfg->odoo);
            if (ws->odoo)
                odoo_set_metrics(ws->odoo, sync_metrics(sy));
            ws->products = json_object();
            ws->pricelists = json_object();
            ws->nshops = cfg->nshops;
            ws->shopify = calloc(cfg->nshops ? cfg->nshops : 1, sizeof(*ws->shopify));
        }
        if (!ws || !ws->odoo || !ws->products || !ws->shopify) {
            if (ws)
                slot_free(ws);
            fail(&c, ERR_INTERNAL, "odoo.oom", NULL, "cannot create the Odoo client");
            goto out;
        }
        *run->slot = ws;
    }
    c.ws = *run->slot;
    if (refund && !c.shop->admin_token.value) {
        fail(&c, ERR_CONFIGURATION, "config.admin_token", "set admin_token in the shop's section, then `synchub jobs "
             "retry`", "a refund is booked from the order as Shopify has it now, and the shop has no admin_token to "
             "read it with");
        goto out;
    }
    if (c.shop->admin_token.value) {
        int f = fetch_fresh(&c, sy);
        if (f <= 0) {
            rc = f;
            goto out;
        }
        c.name = str(c.order, "name") ? str(c.order, "name") : c.id;
    } else if (json_is_true(json_object_get(meta, "fetch"))) {
        fail(&c, ERR_CONFIGURATION, "config.admin_token", "set admin_token in the shop's section, then `synchub jobs "
             "retry`", "this job carries only the order's id (from a reconciliation) and the shop has no admin_token "
             "to fetch the order with");
        goto out;
    }
    const char *u = str(c.order, "updated_at");
    if (!u || clock_parse_iso8601(u, &c.version) < 0)
        c.version = run->job->event_time;
    odoo_xmlid_name(c.shop->domain, "order", c.id, c.xml_order, sizeof(c.xml_order));
    rc = handle_order(&c, topic ? topic : "orders/updated");
out:
    money_plan_free(&c.plan);
    json_decref(c.money);
    json_decref(c.order);
    json_decref(meta);
    return rc;
}

int odoo_orders_register(queue_registry_t *reg, sync_t *sy)
{
    if (!sync_cfg(sy)->odoo.configured)
        return 0;
    return queue_registry_add_slot(reg, "shopify.order", h_shopify_order, sy, slot_free);
}
