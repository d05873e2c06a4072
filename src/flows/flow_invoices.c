/* flow_invoices: the invoice and the payments of a confirmed Shopify order in Odoo (see flow_invoices.h). The steps:
 *   1. due? [shop] invoice_on = paid (financial status paid or later refunded) | fulfilled | never
 *   2. the invoice: the sale order's own out_invoice (sale.order.invoice_ids), else sale.advance.payment.inv
 *      create + create_invoices (the "Create Invoice" button; sale.order._create_invoices is private)
 *   3. a draft invoice gets payment_reference "shopify order <id>", its total is checked against the sale order's
 *      amount_total (the order flow books Shopify's money on the order), then action_post
 *   4. each successful sale/capture transaction: a payment with memo "shopify order <order id> txn <id>" exists →
 *      done, else
 *      account.payment.register (create with the invoice as active_ids) + action_create_payments in the journal
 *      payment_journals maps the gateway to
 * Odoo's answers are recorded in tests/sim/REAL-ANSWERS-invoicing.md. A paid order costs 12 calls the first time
 * (order read, wizard 2, read, write, post, read, payment search, journal, payment wizard 2, read) and, replayed,
 * 3 reads + 1 payment search per transaction (measured on the emulator's call log). */
#define _GNU_SOURCE
#include "flows/flow_invoices.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

typedef struct cash_ctx {
    odoo_t *odoo;
    queue_run_t *run;
    const flow_invoices_order_t *in;
    int64_t invoice_id, invoice_journal;
    char invoice_name[64];
    char invoice_state[16];
    char payment_state[16];
    double invoice_total;
    int payments_new, payments_found, refunds_booked;
} cash_ctx_t;

static const char *jstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v && *v ? v : NULL;
}

static double jnum(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_string(v))
        return strtod(json_string_value(v), NULL);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

static void jid(const json_t *o, const char *k, char *out, size_t n)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        snprintf(out, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else
        snprintf(out, n, "?");
}

static bool cents_equal(double a, double b)
{
    return llround(a * 100.0) == llround(b * 100.0);
}

/* Odoo refusals that an operator fixes in Odoo's settings, not in the record: closed periods, archived journals,
 * a user without an e-mail address (18 posts the "invoice paid" message as the calling user). */
static void reclassify(err_t *e)
{
    static const struct {
        const char *needle, *code, *hint;
    } rules[] = {
        {"prior to and inclusive of", "odoo.period_closed",
         "the accounting period is locked in Odoo (Accounting > Lock Dates): open it or let an accountant book this "
         "document, then `synchub jobs retry` (nothing was posted)"},
        {"archived journal", "odoo.journal_archived",
         "the journal is archived in Odoo: restore it or map the gateway to another journal in [shop] "
         "payment_journals, then `synchub jobs retry`"},
        {"configure the sender's email address", "odoo.user_email",
         "give the integration user an e-mail address in Odoo (Settings > Users), then `synchub jobs retry` (Odoo "
         "posts the \"invoice paid\" message on the sale order as that user)"},
    };
    if (e->cls != ERR_DATA)
        return;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (strstr(e->message, rules[i].needle)) {
            e->cls = ERR_CONFIGURATION;
            e->retry_safe = true;
            snprintf(e->code, sizeof(e->code), "%s", rules[i].code);
            snprintf(e->hint, sizeof(e->hint), "%s", rules[i].hint);
            return;
        }
    }
}

static int call(cash_ctx_t *c, const char *model, const char *method, json_t *ids, json_t *params, json_t **result)
{
    json_t *r = NULL;
    int rc = odoo_call_take(c->odoo, model, method, ids, params, &r, c->in->label, &c->run->err);
    if (rc < 0) {
        reclassify(&c->run->err);
        return -1;
    }
    if (result)
        *result = r;
    else
        json_decref(r);
    return 0;
}

static int fail(cash_ctx_t *c, err_class_t cls, const char *code, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(cash_ctx_t *c, err_class_t cls, const char *code, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vfull(&c->run->err, cls, code, c->in->label, hint, fmt, ap);
    va_end(ap);
    return -1;
}

/* Record for `synchub trace` a write Odoo confirmed: subject "order:<id>", target "<model>/<id>". */
static void effect(cash_ctx_t *c, const char *action, const char *model, int64_t id, json_t *detail)
{
    char subject[48], target[96];
    snprintf(subject, sizeof(subject), "order:%s", c->in->id);
    snprintf(target, sizeof(target), "%s/%" PRId64, model, id);
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    store_effect_t e = {.shop = c->in->shop->domain, .subject = subject, .system = "odoo", .action = action,
                        .target = target, .detail = d};
    queue_run_effects(c->run, &e, 1);
    free(d);
}

int flow_invoices_journal_for(const char *map, const char *gateway, char *code, size_t n)
{
    code[0] = '\0';
    if (!map)
        return 0;
    char fallback[64] = "";
    const char *p = map;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq) {
            size_t kl = (size_t)(eq - p), vl = len - kl - 1;
            while (kl && p[kl - 1] == ' ')
                kl--;
            const char *v = eq + 1;
            while (vl && *v == ' ')
                v++, vl--;
            while (vl && v[vl - 1] == ' ')
                vl--;
            if (kl == 1 && *p == '*')
                snprintf(fallback, sizeof(fallback), "%.*s", (int)vl, v);
            else if (gateway && strlen(gateway) == kl && strncasecmp(p, gateway, kl) == 0) {
                snprintf(code, n, "%.*s", (int)vl, v);
                return 1;
            }
        }
        p += len;
    }
    if (fallback[0]) {
        snprintf(code, n, "%s", fallback);
        return 1;
    }
    return 0;
}

/* ---- 1. due? ------------------------------------------------------------------------------------------------ */

static bool invoice_due(const flow_invoices_order_t *in, char *why, size_t n)
{
    const char *on = in->shop->invoice_on ? in->shop->invoice_on : "never";
    const char *fin = jstr(in->order, "financial_status");
    const char *ful = jstr(in->order, "fulfillment_status");
    if (!strcmp(on, "paid")) {
        if (fin && (!strcmp(fin, "paid") || !strcmp(fin, "partially_refunded") || !strcmp(fin, "refunded")))
            return true;
        snprintf(why, n, "not invoiced yet: invoice_on = paid and the order is %s", fin ? fin : "not paid");
        return false;
    }
    if (!strcmp(on, "fulfilled")) {
        if (ful && !strcmp(ful, "fulfilled"))
            return true;
        snprintf(why, n, "not invoiced yet: invoice_on = fulfilled and the order is %s",
                 ful ? ful : "unfulfilled");
        return false;
    }
    why[0] = '\0';
    return false;
}

/* ---- 2./3. the invoice ------------------------------------------------------------------------------------- */

static int read_invoice(cash_ctx_t *c, int64_t id)
{
    json_t *r = NULL;
    if (call(c, "account.move", "read", json_pack("[I]", (json_int_t)id),
             json_pack("{s:[s,s,s,s,s,s,s]}", "fields", "name", "state", "move_type", "amount_total", "payment_state",
                       "payment_reference", "journal_id"), &r) < 0)
        return -1;
    json_t *m = json_array_get(r, 0);
    c->invoice_id = id;
    c->invoice_journal = json_integer_value(json_array_get(json_object_get(m, "journal_id"), 0));
    snprintf(c->invoice_name, sizeof(c->invoice_name), "%s", jstr(m, "name") ? jstr(m, "name") : "draft");
    snprintf(c->invoice_state, sizeof(c->invoice_state), "%s", jstr(m, "state") ? jstr(m, "state") : "");
    snprintf(c->payment_state, sizeof(c->payment_state), "%s",
             jstr(m, "payment_state") ? jstr(m, "payment_state") : "");
    c->invoice_total = jnum(m, "amount_total");
    json_decref(r);
    return c->invoice_state[0] ? 0 : fail(c, ERR_TRANSIENT, "invoice.vanished", NULL,
                                          "invoice %" PRId64 " could not be read back", id);
}

/* The sale order's live customer invoice: 1 found (c->invoice_*), 0 none, -1 error. */
static int find_invoice(cash_ctx_t *c, double *order_total)
{
    json_t *r = NULL;
    if (call(c, "sale.order", "read", json_pack("[I]", (json_int_t)c->in->sale_order_id),
             json_pack("{s:[s,s]}", "fields", "invoice_ids", "amount_total"), &r) < 0)
        return -1;
    json_t *so = json_array_get(r, 0);
    *order_total = jnum(so, "amount_total");
    json_t *ids = json_incref(json_object_get(so, "invoice_ids"));
    json_decref(r);
    if (!json_is_array(ids) || json_array_size(ids) == 0) {
        json_decref(ids);
        return 0;
    }
    json_t *moves = NULL;
    if (call(c, "account.move", "read", ids, json_pack("{s:[s,s]}", "fields", "move_type", "state"), &moves) < 0)
        return -1;
    int64_t found = 0;
    size_t i;
    json_t *m;
    json_array_foreach(moves, i, m) {
        const char *t = jstr(m, "move_type"), *s = jstr(m, "state");
        if (t && !strcmp(t, "out_invoice") && s && strcmp(s, "cancel") != 0 &&
            (!found || json_integer_value(json_object_get(m, "id")) < found))
            found = json_integer_value(json_object_get(m, "id"));
    }
    json_decref(moves);
    return found ? (read_invoice(c, found) < 0 ? -1 : 1) : 0;
}

static int create_invoice(cash_ctx_t *c)
{
    int64_t so = c->in->sale_order_id;
    json_t *w = NULL;
    if (call(c, "sale.advance.payment.inv", "create", NULL,
             json_pack("{s:[{s:s}], s:{s:s, s:[I], s:I}}", "vals_list", "advance_payment_method", "delivered",
                       "context", "active_model", "sale.order", "active_ids", (json_int_t)so, "active_id",
                       (json_int_t)so), &w) < 0)
        return -1;
    json_int_t wid = json_is_array(w) ? json_integer_value(json_array_get(w, 0)) : json_integer_value(w);
    json_decref(w);
    json_t *act = NULL;
    if (call(c, "sale.advance.payment.inv", "create_invoices", json_pack("[I]", wid),
             json_pack("{s:{s:s, s:[I], s:I}}", "context", "active_model", "sale.order", "active_ids",
                       (json_int_t)so, "active_id", (json_int_t)so), &act) < 0)
        return -1;
    int64_t id = json_integer_value(json_object_get(act, "res_id"));
    json_decref(act);
    if (id <= 0)
        return fail(c, ERR_DATA, "invoice.not_created", "look at the sale order in Odoo: it may have nothing to "
                    "invoice (invoicing policy on delivered quantities?)",
                    "Odoo's Create Invoice did not answer with one invoice");
    if (read_invoice(c, id) < 0)
        return -1;
    effect(c, "invoice created", "account.move", id, json_pack("{s:I}", "sale_order", (json_int_t)so));
    return 0;
}

static int post_invoice(cash_ctx_t *c, double order_total)
{
    char ref[64];
    snprintf(ref, sizeof(ref), "shopify order %s", c->in->id);
    if (call(c, "account.move", "write", json_pack("[I]", (json_int_t)c->invoice_id),
             json_pack("{s:{s:s}}", "vals", "payment_reference", ref), NULL) < 0)
        return -1;
    if (!cents_equal(c->invoice_total, order_total))
        return fail(c, ERR_DATA, "invoice.total_mismatch",
                    "the sale order changed in Odoo after it was written, or invoices exist for part of it: check "
                    "the draft invoice, fix it or post it by hand, then `synchub jobs retry`",
                    "the draft invoice totals %.2f but the sale order %.2f; left in draft", c->invoice_total,
                    order_total);
    if (call(c, "account.move", "action_post", json_pack("[I]", (json_int_t)c->invoice_id), NULL, NULL) < 0) {
        if (strstr(c->run->err.message, "must be in draft"))
            return read_invoice(c, c->invoice_id); /* an earlier try posted it and lost the answer */
        return -1;
    }
    if (read_invoice(c, c->invoice_id) < 0)
        return -1;
    effect(c, "invoice posted", "account.move", c->invoice_id,
           json_pack("{s:s, s:f}", "name", c->invoice_name, "total", c->invoice_total));
    return 0;
}

/* ---- 4. payments ------------------------------------------------------------------------------------------- */

static int journal_id(cash_ctx_t *c, const char *gateway, int64_t *id)
{
    char code[64];
    if (!flow_invoices_journal_for(c->in->shop->payment_journals, gateway, code, sizeof(code)))
        return fail(c, ERR_CONFIGURATION, "payment.journal_unmapped",
                    "map the gateway in [shop] payment_journals (e.g. \"shopify_payments=BNK1, *=BNK1\"), then "
                    "`synchub jobs retry`", "no journal is mapped for the payment gateway %s", gateway);
    json_t *r = NULL;
    if (call(c, "account.journal", "search_read", NULL,
             json_pack("{s:[[s,s,s],[s,s,[s,s]]], s:[s]}", "domain", "code", "=", code, "type", "in", "bank", "cash",
                       "fields", "id"), &r) < 0)
        return -1;
    *id = json_integer_value(json_object_get(json_array_get(r, 0), "id"));
    json_decref(r);
    if (*id <= 0)
        return fail(c, ERR_CONFIGURATION, "payment.journal_missing",
                    "create the journal in Odoo or map the gateway to an existing bank/cash journal code in [shop] "
                    "payment_journals, then `synchub jobs retry`",
                    "the journal %s (mapped from gateway %s) is not an active bank or cash journal in Odoo", code,
                    gateway);
    return 0;
}

static int register_payment(cash_ctx_t *c, const json_t *t)
{
    char tid[32], memo[96];
    jid(t, "id", tid, sizeof(tid));
    snprintf(memo, sizeof(memo), "shopify order %s txn %s", c->in->id, tid);
    json_t *r = NULL;
    if (call(c, "account.payment", "search_read", NULL,
             json_pack("{s:[[s,s,s]], s:[s,s]}", "domain", "memo", "=", memo, "fields", "id", "name"), &r) < 0)
        return -1;
    bool exists = json_array_size(r) > 0;
    json_decref(r);
    if (exists) {
        c->payments_found++;
        return 0;
    }
    const char *gateway = jstr(t, "gateway") ? jstr(t, "gateway") : "manual";
    const char *cur = jstr(t, "currency");
    const char *ocur = jstr(c->in->order, "currency");
    if (cur && ocur && strcmp(cur, ocur) != 0)
        return fail(c, ERR_DATA, "payment.currency", "register it by hand in Odoo with the rate you want, then "
                    "`synchub jobs discard` this job", "transaction %s is in %s, the order in %s", tid, cur, ocur);
    int64_t journal = 0;
    if (journal_id(c, gateway, &journal) < 0)
        return -1;
    if (!strcmp(c->payment_state, "paid") || !strcmp(c->payment_state, "in_payment"))
        return fail(c, ERR_DATA, "payment.already_paid",
                    "someone registered this payment in Odoo by hand: nothing is missing if its amount matches; "
                    "`synchub jobs discard` this job",
                    "invoice %s is already paid in Odoo but carries no payment of Shopify transaction %s",
                    c->invoice_name, tid);
    char date[16] = "";
    int64_t ms;
    if (jstr(t, "processed_at") && clock_parse_iso8601(jstr(t, "processed_at"), &ms) == 0) {
        char iso[40];
        snprintf(date, sizeof(date), "%.10s", clock_format_iso8601(ms, iso, sizeof(iso)));
    }
    json_t *vals = json_pack("{s:I, s:f, s:s}", "journal_id", (json_int_t)journal, "amount", jnum(t, "amount"),
                             "communication", memo);
    if (date[0])
        json_object_set_new(vals, "payment_date", json_string(date));
    json_t *ctx = json_pack("{s:s, s:[I]}", "active_model", "account.move", "active_ids", (json_int_t)c->invoice_id);
    json_t *w = NULL;
    if (call(c, "account.payment.register", "create", NULL,
             json_pack("{s:[o], s:O}", "vals_list", vals, "context", ctx), &w) < 0) {
        json_decref(ctx);
        return -1;
    }
    json_int_t wid = json_is_array(w) ? json_integer_value(json_array_get(w, 0)) : json_integer_value(w);
    json_decref(w);
    json_t *act = NULL;
    if (call(c, "account.payment.register", "action_create_payments", json_pack("[I]", wid),
             json_pack("{s:o}", "context", ctx), &act) < 0)
        return -1;
    int64_t pid = json_integer_value(json_object_get(act, "res_id"));
    json_decref(act);
    c->payments_new++;
    effect(c, "payment registered", "account.payment", pid,
           json_pack("{s:s, s:s, s:f, s:s}", "transaction", tid, "gateway", gateway, "amount", jnum(t, "amount"),
                     "invoice", c->invoice_name));
    return read_invoice(c, c->invoice_id);
}

static int payments(cash_ctx_t *c)
{
    if (c->in->transactions) {
        size_t i;
        json_t *t;
        json_array_foreach(c->in->transactions, i, t) {
            const char *kind = jstr(t, "kind"), *status = jstr(t, "status");
            if (!kind || !status || strcasecmp(status, "success") != 0 ||
                (strcasecmp(kind, "sale") != 0 && strcasecmp(kind, "capture") != 0))
                continue;
            if (register_payment(c, t) < 0)
                return -1;
        }
        return 0;
    }
    /* No transactions at hand (no admin_token): a paid order was one charge of its total on its gateway. */
    const json_t *gws = json_object_get(c->in->order, "payment_gateway_names");
    const char *gw = json_string_value(json_array_get(gws, 0));
    json_t *t = json_pack("{s:s, s:s, s:s, s:s, s:f}", "id", "total", "kind", "sale", "status", "success",
                          "gateway", gw ? gw : "manual", "amount", jnum(c->in->order, "total_price"));
    if (jstr(c->in->order, "currency"))
        json_object_set_new(t, "currency", json_string(jstr(c->in->order, "currency")));
    int rc = register_payment(c, t);
    json_decref(t);
    return rc;
}


/* ---- 5. refunds: credit note, refund payments, returns ------------------------------------------------------ */

typedef struct refund_ctx {
    cash_ctx_t *c;
    const json_t *r;        /* the Shopify refund (shopify_cash.h shape) */
    char rid[32];
    char marker[64];        /* "shopify refund <id>": in the credit note's ref and the return's origin */
    int64_t credit_id;
    char credit_name[64], credit_state[16], credit_pay[16];
    double credit_total;
} refund_ctx_t;

/* The refund's money: the sum of its successful refund transactions (what Shopify paid back). */
static double refund_amount(refund_ctx_t *f)
{
    double sum = 0;
    size_t i, j;
    json_t *id, *t;
    json_array_foreach(json_object_get(f->r, "transaction_ids"), i, id) {
        json_array_foreach(f->c->in->transactions, j, t) {
            char tid[32];
            jid(t, "id", tid, sizeof(tid));
            const char *st = jstr(t, "status"), *kind = jstr(t, "kind");
            if (!strcmp(tid, json_string_value(id)) && st && !strcmp(st, "success") && kind && !strcmp(kind, "refund"))
                sum += jnum(t, "amount");
        }
    }
    return sum;
}

static int read_credit(refund_ctx_t *f, int64_t id)
{
    json_t *r = NULL;
    if (call(f->c, "account.move", "read", json_pack("[I]", (json_int_t)id),
             json_pack("{s:[s,s,s,s]}", "fields", "name", "state", "amount_total", "payment_state"), &r) < 0)
        return -1;
    json_t *m = json_array_get(r, 0);
    f->credit_id = id;
    snprintf(f->credit_name, sizeof(f->credit_name), "%s", jstr(m, "name") ? jstr(m, "name") : "draft");
    snprintf(f->credit_state, sizeof(f->credit_state), "%s", jstr(m, "state") ? jstr(m, "state") : "");
    snprintf(f->credit_pay, sizeof(f->credit_pay), "%s", jstr(m, "payment_state") ? jstr(m, "payment_state") : "");
    f->credit_total = jnum(m, "amount_total");
    json_decref(r);
    return 0;
}

/* Quantity refunded per Odoo product code, and the refunded shipping, for the refund's lines. */
static double refunded_qty(refund_ctx_t *f, const char *code)
{
    double q = 0;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(f->r, "lines"), i, l) {
        const char *sku = jstr(l, "sku");
        if (sku && code && !strcasecmp(sku, code))
            q += (double)json_integer_value(json_object_get(l, "quantity"));
    }
    return q;
}

/* The internal reference of row's product_id ([id, name]) among prods (product.product rows with default_code). */
static const char *code_of(const json_t *prods, const json_t *row)
{
    json_int_t pid = json_integer_value(json_array_get(json_object_get(row, "product_id"), 0));
    size_t k;
    const json_t *p;
    json_array_foreach(prods, k, p) {
        if (json_integer_value(json_object_get(p, "id")) == pid)
            return jstr(p, "default_code");
    }
    return NULL;
}

/* Keep on the draft credit note exactly what Shopify refunded: per product the refunded quantity, the shipping
 * line at the refunded shipping amount, every other line removed. */
static int shape_credit(refund_ctx_t *f)
{
    cash_ctx_t *c = f->c;
    json_t *lines = NULL;
    if (call(c, "account.move.line", "search_read", NULL,
             json_pack("{s:[[s,s,I],[s,s,s]], s:[s,s,s]}", "domain", "move_id", "=", (json_int_t)f->credit_id,
                       "display_type", "=", "product", "fields", "product_id", "quantity", "price_unit"), &lines) < 0)
        return -1;
    json_t *pids = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        json_t *p = json_array_get(json_object_get(l, "product_id"), 0);
        if (p)
            json_array_append(pids, p);
    }
    json_t *prods = NULL;
    if (call(c, "product.product", "read", pids, json_pack("{s:[s]}", "fields", "default_code"), &prods) < 0) {
        json_decref(lines);
        return -1;
    }
    json_t *cmds = json_array();
    double left_ship = jnum(f->r, "shipping");
    json_t *done = json_object(); /* code → quantity already kept on an earlier line of the same product */
    json_array_foreach(lines, i, l) {
        json_int_t lid = json_integer_value(json_object_get(l, "id"));
        const char *code = code_of(prods, l);
        if (code && c->in->shipping_product && !strcmp(code, c->in->shipping_product)) {
            if (left_ship > 0.004) {
                json_array_append_new(cmds, json_pack("[i, I, {s:f, s:f}]", 1, lid, "quantity", 1.0, "price_unit",
                                                      left_ship));
                left_ship = 0;
            } else
                json_array_append_new(cmds, json_pack("[i, I, i]", 2, lid, 0));
            continue;
        }
        double want = code ? refunded_qty(f, code) - jnum(done, code) : 0;
        double have = jnum(l, "quantity");
        double keep = want < have ? want : have;
        if (keep > 0) {
            json_array_append_new(cmds, json_pack("[i, I, {s:f}]", 1, lid, "quantity", keep));
            json_object_set_new(done, code, json_real(jnum(done, code) + keep));
        } else
            json_array_append_new(cmds, json_pack("[i, I, i]", 2, lid, 0));
    }
    json_decref(done);
    json_decref(lines);
    json_decref(prods);
    return call(c, "account.move", "write", json_pack("[I]", (json_int_t)f->credit_id),
                json_pack("{s:{s:o}}", "vals", "invoice_line_ids", cmds), NULL);
}

/* A draft credit note of the whole invoice by its reversal wizard, reason (= its ref's tail) marker: 0 and *id. */
static int reverse_invoice(cash_ctx_t *c, const char *marker, int64_t *id)
{
    json_t *ctx = json_pack("{s:s, s:[I]}", "active_model", "account.move", "active_ids", (json_int_t)c->invoice_id);
    json_t *w = NULL;
    /* journal_id is required and, created through the API, not defaulted from the moves (real 18 and 19) */
    if (call(c, "account.move.reversal", "create", NULL,
             json_pack("{s:[{s:s, s:I}], s:O}", "vals_list", "reason", marker, "journal_id",
                       (json_int_t)c->invoice_journal, "context", ctx), &w) < 0) {
        json_decref(ctx);
        return -1;
    }
    json_int_t wid = json_is_array(w) ? json_integer_value(json_array_get(w, 0)) : json_integer_value(w);
    json_decref(w);
    json_t *act = NULL;
    if (call(c, "account.move.reversal", "refund_moves", json_pack("[I]", wid), json_pack("{s:o}", "context", ctx),
             &act) < 0)
        return -1;
    *id = json_integer_value(json_object_get(act, "res_id"));
    json_decref(act);
    if (*id <= 0)
        return fail(c, ERR_DATA, "refund.no_credit_note", "credit the invoice in Odoo by hand, then `synchub jobs "
                    "discard` this job", "Odoo's reversal did not answer with one credit note (%s)", marker);
    return 0;
}

static int credit_note(refund_ctx_t *f, double amount)
{
    cash_ctx_t *c = f->c;
    json_t *r = NULL;
    if (call(c, "account.move", "search_read", NULL,
             json_pack("{s:[[s,s,s],[s,s,I],[s,s,s],[s,s,s]], s:[s]}", "domain", "move_type", "=", "out_refund",
                       "reversed_entry_id", "=", (json_int_t)c->invoice_id, "ref", "ilike", f->marker, "state", "!=",
                       "cancel", "fields", "id"), &r) < 0)
        return -1;
    int64_t found = json_integer_value(json_object_get(json_array_get(r, 0), "id"));
    json_decref(r);
    if (found) {
        if (read_credit(f, found) < 0)
            return -1;
    } else {
        int64_t id = 0;
        if (reverse_invoice(c, f->marker, &id) < 0 || read_credit(f, id) < 0)
            return -1;
        effect(c, "credit note created", "account.move", id, json_pack("{s:s}", "refund", f->rid));
    }
    if (strcmp(f->credit_state, "draft") != 0)
        return 0;
    if (shape_credit(f) < 0 || read_credit(f, f->credit_id) < 0)
        return -1;
    if (!cents_equal(f->credit_total, amount))
        return fail(c, ERR_DATA, "refund.total_mismatch",
                    "the refund has an amount not tied to its lines (an adjustment?) or taxes differ: fix the draft "
                    "credit note in Odoo and post it, then `synchub jobs retry`",
                    "the draft credit note %s totals %.2f but Shopify refunded %.2f (refund %s); left in draft",
                    f->credit_name, f->credit_total, amount, f->rid);
    if (call(c, "account.move", "action_post", json_pack("[I]", (json_int_t)f->credit_id), NULL, NULL) < 0 &&
        !strstr(c->run->err.message, "must be in draft"))
        return -1;
    if (read_credit(f, f->credit_id) < 0)
        return -1;
    effect(c, "credit note posted", "account.move", f->credit_id,
           json_pack("{s:s, s:f, s:s}", "name", f->credit_name, "total", f->credit_total, "refund", f->rid));
    return 0;
}

static int refund_payments(refund_ctx_t *f)
{
    cash_ctx_t *c = f->c;
    size_t i, j;
    json_t *id, *t;
    json_array_foreach(json_object_get(f->r, "transaction_ids"), i, id) {
        json_array_foreach(c->in->transactions, j, t) {
            char tid[32];
            jid(t, "id", tid, sizeof(tid));
            const char *st = jstr(t, "status"), *kind = jstr(t, "kind");
            if (strcmp(tid, json_string_value(id)) != 0 || !st || strcmp(st, "success") != 0 || !kind ||
                strcmp(kind, "refund") != 0)
                continue;
            cash_ctx_t cn = *c; /* the same wizard on the credit note pays out */
            cn.invoice_id = f->credit_id;
            snprintf(cn.invoice_name, sizeof(cn.invoice_name), "%s", f->credit_name);
            snprintf(cn.payment_state, sizeof(cn.payment_state), "%s", f->credit_pay);
            int rc = register_payment(&cn, t);
            c->payments_new = cn.payments_new;
            c->payments_found = cn.payments_found;
            if (rc < 0)
                return -1;
            snprintf(f->credit_pay, sizeof(f->credit_pay), "%s", cn.payment_state);
        }
    }
    return read_credit(f, f->credit_id);
}

static int return_goods(refund_ctx_t *f)
{
    cash_ctx_t *c = f->c;
    bool any = false;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(f->r, "lines"), i, l) {
        const char *rt = jstr(l, "restock_type");
        any = any || (rt && !strcmp(rt, "return"));
    }
    if (!any)
        return 0;
    json_t *r = NULL;
    if (call(c, "stock.picking", "search_read", NULL,
             json_pack("{s:[[s,s,I],[s,s,s],[s,s,s]], s:[s,s], s:s}", "domain", "sale_id", "=",
                       (json_int_t)c->in->sale_order_id, "picking_type_code", "=", "outgoing", "state", "=", "done",
                       "fields", "id", "name", "order", "id asc"), &r) < 0)
        return -1;
    int64_t pick = json_integer_value(json_object_get(json_array_get(r, 0), "id"));
    char pick_name[64];
    const char *pn = jstr(json_array_get(r, 0), "name");
    snprintf(pick_name, sizeof(pick_name), "%s", pn ? pn : "");
    json_decref(r);
    if (!pick)
        return fail(c, ERR_DATA, "return.not_delivered",
                    "the goods came back in Shopify but Odoo has no done delivery for the order: validate the delivery "
                    "(or receive the goods by hand), then `synchub jobs retry`",
                    "refund %s returns goods of an order whose Odoo delivery is not done", f->rid);
    char origin[160];
    snprintf(origin, sizeof(origin), "Return of %s (%s)", pick_name, f->marker);
    r = NULL;
    /* ours (marker), or one an earlier try made and lost the answer of (Odoo's own origin, no marker yet) */
    char plain[96];
    snprintf(plain, sizeof(plain), "Return of %s", pick_name);
    if (call(c, "stock.picking", "search_read", NULL,
             json_pack("{s:[[s,s,I],[s,s,[s,s]]], s:[s,s,s]}", "domain", "return_id", "=", (json_int_t)pick, "origin",
                       "in", origin, plain, "fields", "id", "state", "origin"), &r) < 0)
        return -1;
    int64_t ret = 0;
    char ret_state[16] = "";
    size_t k;
    json_t *p;
    json_array_foreach(r, k, p) {
        if (!ret || !strcmp(jstr(p, "origin") ? jstr(p, "origin") : "", origin)) {
            ret = json_integer_value(json_object_get(p, "id"));
            snprintf(ret_state, sizeof(ret_state), "%s", jstr(p, "state") ? jstr(p, "state") : "");
        }
    }
    json_decref(r);
    if (!ret) {
        json_t *ctx = json_pack("{s:I, s:[I], s:s}", "active_id", (json_int_t)pick, "active_ids", (json_int_t)pick,
                                "active_model", "stock.picking");
        json_t *w = NULL;
        if (call(c, "stock.return.picking", "create", NULL,
                 json_pack("{s:[{s:I}], s:O}", "vals_list", "picking_id", (json_int_t)pick, "context", ctx), &w) < 0) {
            json_decref(ctx);
            return -1;
        }
        json_int_t wid = json_is_array(w) ? json_integer_value(json_array_get(w, 0)) : json_integer_value(w);
        json_decref(w);
        json_t *wl = NULL;
        if (call(c, "stock.return.picking.line", "search_read", NULL,
                 json_pack("{s:[[s,s,I]], s:[s]}", "domain", "wizard_id", "=", wid, "fields", "product_id"), &wl) < 0) {
            json_decref(ctx);
            return -1;
        }
        json_t *pids = json_array();
        json_array_foreach(wl, k, p)
            json_array_append(pids, json_array_get(json_object_get(p, "product_id"), 0));
        json_t *prods = NULL;
        if (call(c, "product.product", "read", pids, json_pack("{s:[s]}", "fields", "default_code"), &prods) < 0) {
            json_decref(wl);
            json_decref(ctx);
            return -1;
        }
        json_t *cmds = json_array();
        json_array_foreach(wl, k, p) {
            const char *code = code_of(prods, p);
            size_t m;
            json_t *q;
            double want = 0;
            json_array_foreach(json_object_get(f->r, "lines"), m, q) {
                const char *rt = jstr(q, "restock_type"), *sku = jstr(q, "sku");
                if (rt && !strcmp(rt, "return") && sku && code && !strcasecmp(sku, code))
                    want += (double)json_integer_value(json_object_get(q, "quantity"));
            }
            if (want > 0)
                json_array_append_new(cmds, json_pack("[i, I, {s:f}]", 1, json_integer_value(json_object_get(p, "id")),
                                                      "quantity", want));
        }
        json_decref(wl);
        json_decref(prods);
        if (json_array_size(cmds) == 0) {
            json_decref(cmds);
            json_decref(ctx);
            return fail(c, ERR_DATA, "return.no_product", "receive the goods by hand in Odoo, then `synchub jobs "
                        "discard` this job", "refund %s returns goods that are not on the Odoo delivery %s", f->rid,
                        pick_name);
        }
        if (call(c, "stock.return.picking", "write", json_pack("[I]", wid),
                 json_pack("{s:{s:o}}", "vals", "product_return_moves", cmds), NULL) < 0) {
            json_decref(ctx);
            return -1;
        }
        json_t *act = NULL;
        if (call(c, "stock.return.picking", "action_create_returns", json_pack("[I]", wid),
                 json_pack("{s:o}", "context", ctx), &act) < 0)
            return -1;
        ret = json_integer_value(json_object_get(act, "res_id"));
        json_decref(act);
        snprintf(ret_state, sizeof(ret_state), "assigned");
        effect(c, "return created", "stock.picking", ret, json_pack("{s:s, s:s}", "refund", f->rid, "of", pick_name));
    }
    if (call(c, "stock.picking", "write", json_pack("[I]", (json_int_t)ret),
             json_pack("{s:{s:s}}", "vals", "origin", origin), NULL) < 0)
        return -1;
    if (strcmp(ret_state, "done") != 0 && strcmp(ret_state, "cancel") != 0) {
        json_t *res = NULL;
        if (call(c, "stock.picking", "button_validate", json_pack("[I]", (json_int_t)ret), NULL, &res) < 0)
            return -1;
        bool wizard = json_is_object(res);
        json_decref(res);
        if (wizard)
            return fail(c, ERR_DATA, "return.validate", "validate the return in Odoo by hand", "Odoo answered the "
                        "return's validation with a wizard (quantities differ from the demand)");
        effect(c, "return received", "stock.picking", ret, json_pack("{s:s}", "refund", f->rid));
    }
    return 0;
}

/* The sale order's line of sku follows Shopify's current quantity of it (quantity less what refunds took away):
 * an absolute write, so repeating it changes nothing. Lowering a confirmed line lowers its delivery's demand and
 * releases the reservation (real 18 and 19). Only refund lines whose restock_type is in kinds ("cancel", or every
 * kind for an order never invoiced) are aligned; lines already delivered further than that are left alone. */
static int align_quantities(refund_ctx_t *f, bool every_kind)
{
    cash_ctx_t *c = f->c;
    size_t i, j;
    json_t *l, *li;
    json_array_foreach(json_object_get(f->r, "lines"), i, l) {
        const char *rt = jstr(l, "restock_type"), *sku = jstr(l, "sku");
        if (!sku || (!every_kind && (!rt || strcmp(rt, "cancel") != 0)))
            continue;
        double want = 0;
        json_array_foreach(json_object_get(c->in->order, "line_items"), j, li) {
            const char *s2 = jstr(li, "sku");
            if (s2 && !strcasecmp(s2, sku))
                want += jnum(li, "current_quantity");
        }
        json_t *r = NULL;
        if (call(c, "sale.order.line", "search_read", NULL,
                 json_pack("{s:[[s,s,I],[s,s,s]], s:[s,s]}", "domain", "order_id", "=",
                           (json_int_t)c->in->sale_order_id, "product_id.default_code", "=", sku, "fields",
                           "product_uom_qty", "qty_delivered"), &r) < 0)
            return -1;
        json_t *row = json_array_size(r) == 1 ? json_array_get(r, 0) : NULL;
        json_int_t lid = json_integer_value(json_object_get(row, "id"));
        double have = jnum(row, "product_uom_qty"), delivered = jnum(row, "qty_delivered");
        json_decref(r);
        if (!row || llround(have * 1000) == llround(want * 1000) || want < delivered)
            continue;
        if (call(c, "sale.order.line", "write", json_pack("[I]", lid),
                 json_pack("{s:{s:f}}", "vals", "product_uom_qty", want), NULL) < 0)
            return -1;
        effect(c, "order line lowered", "sale.order.line", lid,
               json_pack("{s:s, s:f, s:f, s:s}", "sku", sku, "from", have, "to", want, "refund", f->rid));
    }
    return 0;
}

static int book_refund(cash_ctx_t *c, const json_t *r)
{
    refund_ctx_t f = {.c = c, .r = r};
    snprintf(f.rid, sizeof(f.rid), "%s", jstr(r, "id") ? jstr(r, "id") : "?");
    snprintf(f.marker, sizeof(f.marker), "shopify refund %s", f.rid);
    err_t e;
    store_link_t link;
    int have = store_link_get(c->run->store, "shopify", c->in->shop->domain, "refund", f.rid, &link, &e);
    if (have < 0) {
        c->run->err = e;
        return err_wrap(&c->run->err, c->in->label);
    }
    bool booked = have && !strcmp(link.state, "booked");
    if (have)
        store_link_release(&link);
    if (booked)
        return 0;
    if (!c->invoice_id) {
        /* never invoiced: the sale order itself follows the refund (returns first, so delivered quantities drop) */
        if (return_goods(&f) < 0 || align_quantities(&f, true) < 0)
            return -1;
    } else {
        double amount = refund_amount(&f);
        if (amount > 0.004 && (credit_note(&f, amount) < 0 || refund_payments(&f) < 0))
            return -1;
        if (return_goods(&f) < 0 || align_quantities(&f, false) < 0)
            return -1;
    }
    store_link_t l = {.odoo_id = f.credit_id};
    snprintf(l.odoo_model, sizeof(l.odoo_model), "account.move");
    snprintf(l.state, sizeof(l.state), "booked");
    if (store_link_put(c->run->store, "shopify", c->in->shop->domain, "refund", f.rid, &l, &e) < 0) {
        c->run->err = e;
        return err_wrap(&c->run->err, c->in->label);
    }
    c->refunds_booked++;
    return 0;
}

static int refunds(cash_ctx_t *c)
{
    size_t i;
    json_t *r;
    json_array_foreach(c->in->refunds, i, r) {
        if (book_refund(c, r) < 0)
            return -1;
    }
    return 0;
}


/* ---- 6. an invoiced order cancelled in Shopify ------------------------------------------------------------ */

/* What the invoice's credit notes (any, posted or draft, not cancelled) already give back, in money. */
static int credited(cash_ctx_t *c, const char *except_marker, double *sum, int64_t *mine, char *mine_state, size_t n)
{
    json_t *r = NULL;
    if (call(c, "account.move", "search_read", NULL,
             json_pack("{s:[[s,s,s],[s,s,I],[s,s,s]], s:[s,s,s]}", "domain", "move_type", "=", "out_refund",
                       "reversed_entry_id", "=", (json_int_t)c->invoice_id, "state", "!=", "cancel", "fields",
                       "amount_total", "ref", "state"), &r) < 0)
        return -1;
    *sum = 0;
    *mine = 0;
    size_t i;
    json_t *m;
    json_array_foreach(r, i, m) {
        const char *ref = jstr(m, "ref");
        if (ref && strstr(ref, except_marker)) {
            *mine = json_integer_value(json_object_get(m, "id"));
            snprintf(mine_state, n, "%s", jstr(m, "state") ? jstr(m, "state") : "");
        } else
            *sum += jnum(m, "amount_total");
    }
    json_decref(r);
    return 0;
}

static int cancel_credit(cash_ctx_t *c)
{
    refund_ctx_t f = {.c = c};
    snprintf(f.rid, sizeof(f.rid), "cancel");
    snprintf(f.marker, sizeof(f.marker), "shopify cancel of order %s", c->in->id);
    double other = 0;
    int64_t mine = 0;
    char mine_state[16] = "";
    if (credited(c, f.marker, &other, &mine, mine_state, sizeof(mine_state)) < 0)
        return -1;
    double left = c->invoice_total - other;
    if (!mine && left < 0.005)
        return 0; /* the refunds gave everything back already */
    if (mine && strcmp(mine_state, "draft") != 0)
        return 0;
    if (other > 0.004 && !mine)
        return fail(c, ERR_DATA, "cancel.partly_credited",
                    "credit the rest of the invoice in Odoo by hand (Credit Note on the invoice), then `synchub jobs "
                    "discard` this job",
                    "the order was cancelled in Shopify; its invoice %s (%.2f) is credited %.2f by its refunds and "
                    "the rest (%.2f) is not tied to lines synchub can tell", c->invoice_name, c->invoice_total, other,
                    left);
    if (!mine) {
        if (reverse_invoice(c, f.marker, &mine) < 0)
            return -1;
        effect(c, "credit note created", "account.move", mine, json_pack("{s:s}", "reason", "order cancelled"));
    }
    if (read_credit(&f, mine) < 0)
        return -1;
    if (!cents_equal(f.credit_total, left))
        return fail(c, ERR_DATA, "cancel.total_mismatch", "check the draft credit note in Odoo, post it by hand, "
                    "then `synchub jobs discard` this job", "the cancellation's credit note %s totals %.2f, the "
                    "invoice's uncredited amount is %.2f; left in draft", f.credit_name, f.credit_total, left);
    if (call(c, "account.move", "action_post", json_pack("[I]", (json_int_t)mine), NULL, NULL) < 0 &&
        !strstr(c->run->err.message, "must be in draft"))
        return -1;
    if (read_credit(&f, mine) < 0)
        return -1;
    effect(c, "credit note posted", "account.move", mine,
           json_pack("{s:s, s:f, s:s}", "name", f.credit_name, "total", f.credit_total, "reason", "order cancelled"));
    size_t len = strlen(c->run->note);
    snprintf(c->run->note + len, sizeof(c->run->note) - len, "%scancelled: credit note %s (%.2f)",
             len ? "; " : "", f.credit_name, f.credit_total);
    return 0;
}

static int apply_cancelled(cash_ctx_t *c)
{
    double order_total = 0;
    int found = find_invoice(c, &order_total);
    if (found <= 0)
        return found; /* nothing invoiced: nothing to credit */
    if (strcmp(c->invoice_state, "posted") != 0)
        return 0;     /* a draft goes with the order */
    return refunds(c) < 0 ? -1 : cancel_credit(c);
}

int flow_invoices_apply(odoo_t *o, queue_run_t *run, const flow_invoices_order_t *in)
{
    if (in->cancelled) {
        cash_ctx_t cc = {.odoo = o, .run = run, .in = in};
        return apply_cancelled(&cc);
    }
    char why[160];
    if (!invoice_due(in, why, sizeof(why))) {
        if (why[0] && !run->note[0])
            snprintf(run->note, sizeof(run->note), "%s", why);
        cash_ctx_t uc = {.odoo = o, .run = run, .in = in};
        double total;
        int found = in->refunds && json_array_size(in->refunds) ? find_invoice(&uc, &total) : 0;
        if (found < 0)
            return -1;
        if (found)
            return 0; /* invoiced earlier (a later status): its refunds wait for the invoice's own job */
        return refunds(&uc); /* never invoiced: refunds adjust the sale order */
    }
    cash_ctx_t c = {.odoo = o, .run = run, .in = in};
    double order_total = 0;
    int found = find_invoice(&c, &order_total);
    if (found < 0)
        return -1;
    if (!found && create_invoice(&c) < 0)
        return -1;
    if (!strcmp(c.invoice_state, "draft") && post_invoice(&c, order_total) < 0)
        return -1;
    if (strcmp(c.invoice_state, "posted") != 0)
        return fail(&c, ERR_DATA, "invoice.state", "look at the invoice in Odoo", "invoice %s is %s, not posted",
                    c.invoice_name, c.invoice_state);
    if (payments(&c) < 0 || refunds(&c) < 0)
        return -1;
    store_link_t l = {.odoo_id = c.invoice_id};
    snprintf(l.odoo_model, sizeof(l.odoo_model), "account.move");
    snprintf(l.state, sizeof(l.state), "%s", c.payment_state);
    json_t *x = json_pack("{s:s, s:f}", "name", c.invoice_name, "total", c.invoice_total);
    l.extra = x ? json_dumps(x, JSON_COMPACT) : NULL;
    json_decref(x);
    err_t e;
    int rc = store_link_put(run->store, "shopify", in->shop->domain, "invoice", in->id, &l, &e);
    free(l.extra);
    if (rc < 0) {
        run->err = e;
        err_wrap(&run->err, in->label);
        return -1;
    }
    size_t len = strlen(run->note);
    snprintf(run->note + len, sizeof(run->note) - len,
             "%sinvoice %s %s (%.2f), %d payment(s) registered, %d found, %d refund(s) booked",
             len ? "; " : "", c.invoice_name, c.payment_state, c.invoice_total, c.payments_new, c.payments_found,
             c.refunds_booked);
    return 0;
}
