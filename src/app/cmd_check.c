/* cmd_check: `synchub check` — preflight against the configured Odoo before any job depends on it: reachability
 * and version, authentication, every right the enabled flows need, company access and reference data (shipping
 * products, a warehouse), and whether the company's tax rounding can reproduce Shopify's amounts. Prints one table; exits 1 when anything is missing, naming what to fix. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "odoo/odoo.h"
#include "flows/flow_subscriptions.h"

typedef struct check_out {
    int failed;
    bool json;
    json_t *rows;
} check_out_t;

static void row(check_out_t *o, bool ok, const char *what, const char *detail)
{
    if (!ok)
        o->failed++;
    if (o->json)
        json_array_append_new(o->rows, json_pack("{s:s, s:b, s:s}", "check", what, "ok", ok, "detail", detail));
    else
        printf("%-4s  %-34s  %s\n", ok ? "ok" : "FAIL", what, detail);
}

/* A finding that needs a look but breaks nothing (a foreign webhook subscription). */
static void row_warn(check_out_t *o, const char *what, const char *detail)
{
    if (o->json)
        json_array_append_new(o->rows, json_pack("{s:s, s:b, s:b, s:s}", "check", what, "ok", 1, "warning", 1,
                                                 "detail", detail));
    else
        printf("%-4s  %-34s  %s\n", "warn", what, detail);
}

/* Each shop's webhook subscriptions against the topics its flows need (shops that manage them: admin_token and
 * public_url). */
static void check_subscriptions(check_out_t *o, const cfg_t *cfg)
{
    char what[160], detail[1400];
    for (size_t i = 0; i < cfg->nshops; i++) {
        const cfg_shop_t *shop = &cfg->shops[i];
        if (sync_subscriptions_unmanaged(cfg, shop))
            continue;
        shopify_t *sh = shopify_new(shop, NULL);
        json_t *r = NULL;
        err_t e;
        snprintf(what, sizeof(what), "webhooks of %.100s", shop->domain);
        if (!sh || sync_subscriptions_check(cfg, shop, sh, false, &r, &e) < 0) {
            snprintf(detail, sizeof(detail), "cannot list subscriptions: %s%s%s", sh ? e.message : "out of memory",
                     sh && e.hint[0] ? " — " : "", sh ? e.hint : "");
            row(o, false, what, detail);
            shopify_free(sh);
            continue;
        }
        const char *uri = json_string_value(json_object_get(r, "uri"));
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(r, "ok"), k, v) {
            snprintf(what, sizeof(what), "webhook %s", json_string_value(v));
            snprintf(detail, sizeof(detail), "%s -> %s", shop->domain, uri);
            row(o, true, what, detail);
        }
        json_array_foreach(json_object_get(r, "missing"), k, v) {
            snprintf(what, sizeof(what), "webhook %s", json_string_value(v));
            snprintf(detail, sizeof(detail), "missing in %s: run `synchub setup shopify --shop %s`", shop->domain,
                     shop->domain);
            row(o, false, what, detail);
        }
        json_array_foreach(json_object_get(r, "foreign"), k, v) {
            snprintf(what, sizeof(what), "foreign webhook %s", json_string_value(json_object_get(v, "topic")));
            snprintf(detail, sizeof(detail), "%s delivers to %s (%s; synchub leaves it alone)", shop->domain,
                     json_string_value(json_object_get(v, "uri")),
                     json_is_true(json_object_get(v, "topic_needed")) ? "not this synchub's address"
                                                                      : "a topic no flow needs");
            row_warn(o, what, detail);
        }
        json_decref(r);
        shopify_free(sh);
    }
}

/* The group that usually grants a right, for the hint when Odoo only says "no". */
static const char *group_for(const char *model, const char *op)
{
    static const struct {
        const char *model, *op, *group;
    } table[] = {
        {"res.partner", "create", "Extra Rights / Contact Creation"},
        {"res.partner", "write", "Extra Rights / Contact Creation"},
        {"sale.order", NULL, "Sales / User: All Documents"},
        {"sale.order.line", NULL, "Sales / User: All Documents"},
        {"product.product", NULL, "Sales / User: All Documents (read) or Inventory / User"},
        {"stock.picking", NULL, "Inventory / User"},
        {"stock.quant", NULL, "Inventory / User"},
        {"account.tax", NULL, "Sales / User: Own Documents Only (or any Sales group)"},
        {"account.move", NULL, "Invoicing / Invoicing (account.group_account_invoice; 19: Accounting / Invoicing)"},
        {"account.payment.register", NULL, "Invoicing / Invoicing (account.group_account_invoice)"},
        {"account.move.reversal", NULL, "Invoicing / Invoicing (account.group_account_invoice)"},
        {"stock.return.picking", NULL, "Inventory / User"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (!strcmp(table[i].model, model) && (!table[i].op || !strcmp(table[i].op, op)))
            return table[i].group;
    return "the group that grants it";
}

static void check_right(check_out_t *o, odoo_t *od, const char *model, const char *op)
{
    char what[96], detail[1400];
    snprintf(what, sizeof(what), "right %s %s", op, model);
    json_t *r = NULL;
    err_t e;
    int rc;
    if (odoo_server_major(od) >= 18) {
        json_t *ids = json_array(), *params = json_pack("{s:s}", "operation", op);
        rc = odoo_call(od, model, "has_access", ids, params, &r, &e);
        json_decref(ids);
        json_decref(params);
    } else {
        json_t *params = json_pack("{s:s, s:b}", "operation", op, "raise_exception", 0);
        rc = odoo_call(od, model, "check_access_rights", NULL, params, &r, &e);
        json_decref(params);
    }
    if (rc < 0) {
        snprintf(detail, sizeof(detail), "%s", e.message);
        row(o, false, what, detail);
    } else if (!json_is_true(r)) {
        snprintf(detail, sizeof(detail), "missing: add the integration user to %s", group_for(model, op));
        row(o, false, what, detail);
    } else {
        row(o, true, what, "granted");
    }
    json_decref(r);
}

/* Shopify computes tax per line and per tax, rounding each to the cent; an Odoo company that rounds globally ("Round
 * per Tax", Odoo 19's default) sums unrounded amounts and may land a cent away (84.35 for Shopify's 84.33 on the
 * US money fixture), which stops such orders unconfirmed. Reported unless every shop accepts a difference
 * (amount_tolerance above 0). */
static void check_rounding(check_out_t *o, odoo_t *od, const cfg_t *cfg)
{
    json_t *r = NULL, *domain = cfg->odoo.company > 0 ? json_pack("[[s, s, I]]", "id", "=", (json_int_t)cfg->odoo.company)
                                                       : json_array();
    json_t *params = json_pack("{s:o, s:[s, s], s:i}", "domain", domain, "fields", "name",
                               "tax_calculation_rounding_method", "limit", 2);
    err_t e;
    char detail[1400];
    int rc = odoo_call(od, "res.company", "search_read", NULL, params, &r, &e);
    json_decref(params);
    const char *rule = rc == 0 && json_array_size(r) >= 1
                           ? json_string_value(json_object_get(json_array_get(r, 0), "tax_calculation_rounding_method"))
                           : NULL;
    bool tolerant = cfg->nshops > 0;
    for (size_t i = 0; i < cfg->nshops; i++)
        tolerant &= strspn(cfg->shops[i].amount_tolerance, "0.") != strlen(cfg->shops[i].amount_tolerance);
    if (rc < 0)
        snprintf(detail, sizeof(detail), "cannot read the company's rounding rule: %s", e.message);
    else if (!rule)
        snprintf(detail, sizeof(detail), "no company visible to the integration user");
    else if (!strcmp(rule, "round_per_line"))
        snprintf(detail, sizeof(detail), "round per line, as Shopify: Odoo's totals can match Shopify's to the cent");
    else
        snprintf(detail, sizeof(detail),
                 "the company rounds tax globally (%s), Shopify per line: an order can differ by a cent and then stops "
                 "unconfirmed%s; set Invoicing/Accounting → Settings → Taxes → Rounding Method to Round per Line%s",
                 rule, tolerant ? " unless within amount_tolerance" : "", tolerant ? "" : " (or set amount_tolerance)");
    row(o, rc == 0 && rule && (!strcmp(rule, "round_per_line") || tolerant), "tax rounding matches Shopify", detail);
    json_decref(r);
}

/* The journal codes payment_journals names ("gateway=CODE, …"), each once, into codes (a JSON array). */
static int journal_code(const char *k, size_t kl, const char *v, size_t vl, void *ud)
{
    (void)k;
    (void)kl;
    json_t *codes = ud;
    char code[64];
    snprintf(code, sizeof(code), "%.*s", (int)vl, v);
    size_t i;
    json_t *c;
    json_array_foreach(codes, i, c) {
        if (!strcmp(json_string_value(c), code))
            return 0;
    }
    json_array_append_new(codes, json_string(code));
    return 0;
}

static void check_cash(check_out_t *o, odoo_t *od, const cfg_t *cfg)
{
    static const char *const cash_rights[][2] = {
        {"account.move", "read"},     {"account.move", "write"},       {"account.payment.register", "create"},
        {"account.move.reversal", "create"}, {"stock.picking", "write"}, {"stock.return.picking", "create"},
    };
    for (size_t i = 0; i < sizeof(cash_rights) / sizeof(cash_rights[0]); i++)
        check_right(o, od, cash_rights[i][0], cash_rights[i][1]);
    char detail[1400];
    err_t e;
    json_t *r = NULL;
    if (odoo_uid(od) && odoo_server_major(od) <= 18) {
        /* 18 posts the "invoice paid" message on the sale order as the integration user: it needs an address */
        json_t *ids = json_pack("[I]", (json_int_t)odoo_uid(od)), *params = json_pack("{s:[s]}", "fields", "email");
        int rc = odoo_call(od, "res.users", "read", ids, params, &r, &e);
        json_decref(ids);
        json_decref(params);
        const char *mail = rc == 0 ? json_string_value(json_object_get(json_array_get(r, 0), "email")) : NULL;
        snprintf(detail, sizeof(detail), "%s", rc < 0 ? e.message : mail && *mail ? "set" :
                 "missing: give the integration user an e-mail address (Odoo 18 refuses the payment that settles an "
                 "invoice otherwise)");
        row(o, mail && *mail, "integration user e-mail", detail);
        json_decref(r);
    }
    for (size_t i = 0; i < cfg->nshops; i++) {
        const cfg_shop_t *sh = &cfg->shops[i];
        if (!sh->invoice_on || !strcmp(sh->invoice_on, "never"))
            continue;
        json_t *codes = json_array();
        cfg_map_each(sh->payment_journals, journal_code, codes);
        size_t k;
        json_t *c;
        json_array_foreach(codes, k, c) {
            char what[128];
            snprintf(what, sizeof(what), "journal %.20s of %.80s", json_string_value(c), sh->domain);
            json_t *params = json_pack("{s:[[s,s,O],[s,s,[s,s]]], s:[s,s]}", "domain", "code", "=", c, "type", "in",
                                       "bank", "cash", "fields", "id", "name");
            r = NULL;
            int rc = odoo_call(od, "account.journal", "search_read", NULL, params, &r, &e);
            json_decref(params);
            bool ok = rc == 0 && json_array_size(r) == 1;
            if (rc < 0)
                snprintf(detail, sizeof(detail), "%s", e.message);
            else if (!ok)
                snprintf(detail, sizeof(detail), "no active bank or cash journal with the code %s (payment_journals)",
                         json_string_value(c));
            else
                snprintf(detail, sizeof(detail), "%s",
                         json_string_value(json_object_get(json_array_get(r, 0), "name")));
            row(o, ok, what, detail);
            json_decref(r);
        }
        json_decref(codes);
    }
}

int cmd_check(app_t *a)
{
    const cfg_t *cfg = a->cfg;
    check_out_t o = {0, a->json, json_array()};
    if (!a->json)
        printf("%-4s  %-34s  %s\n", "", "CHECK", "RESULT");
    row(&o, true, "configuration", cfg->path);
    if (!cfg->odoo.configured) {
        row(&o, false, "odoo", "no [odoo] section: orders cannot be written anywhere");
        goto done;
    }
    odoo_t *od = odoo_new(&cfg->odoo);
    err_t e;
    char detail[1400];
    if (!od || odoo_connect(od, &e) < 0) {
        snprintf(detail, sizeof(detail), "%s%s%s", od ? e.message : "out of memory", od && e.hint[0] ? " — " : "",
                 od ? e.hint : "");
        row(&o, false, "odoo reachable, login accepted", detail);
        odoo_free(od);
        goto done;
    }
    snprintf(detail, sizeof(detail), "Odoo %s at %s, protocol %s", odoo_server_version(od), cfg->odoo.url,
             odoo_protocol_name(odoo_protocol(od)));
    row(&o, true, "odoo reachable", detail);
    /* Authentication: JSON-RPC authenticated in connect; JSON-2 proves the key with a harmless read. */
    json_t *r = NULL;
    json_t *params = json_pack("{s:[]}", "domain");
    if (odoo_call(od, "res.partner", "search_count", NULL, params, &r, &e) < 0) {
        snprintf(detail, sizeof(detail), "%s", e.message);
        row(&o, false, "login accepted", detail);
        json_decref(params);
        odoo_free(od);
        goto done;
    }
    json_decref(params);
    json_decref(r);
    if (odoo_uid(od))
        snprintf(detail, sizeof(detail), "user %s (uid %" PRId64 ")", cfg->odoo.username, odoo_uid(od));
    else
        snprintf(detail, sizeof(detail), "API key accepted");
    row(&o, true, "login accepted", detail);

    static const char *const rights[][2] = {
        {"res.partner", "read"},     {"res.partner", "create"},     {"res.partner", "write"},
        {"product.product", "read"}, {"sale.order", "read"},        {"sale.order", "create"},
        {"sale.order", "write"},     {"sale.order.line", "create"}, {"sale.order.line", "write"},
        {"account.tax", "read"},
    };
    for (size_t i = 0; i < sizeof(rights) / sizeof(rights[0]); i++)
        check_right(&o, od, rights[i][0], rights[i][1]);
    /* Logistics events (docs/events.md): tracking on the delivery, chatter and activities need write on it. */
    static const char *const event_rights[][2] = {
        {"stock.picking", "read"}, {"stock.picking", "write"}, {"mail.activity", "create"}, {"ir.model", "read"},
    };
    for (size_t i = 0; cfg->nsources > 0 && i < sizeof(event_rights) / sizeof(event_rights[0]); i++)
        check_right(&o, od, event_rights[i][0], event_rights[i][1]);

    /* Order to cash (flows/flow_invoices.c): invoices, payments, credit notes, returns; the journals it pays into. */
    bool cash = false;
    for (size_t i = 0; i < cfg->nshops; i++)
        cash = cash || (cfg->shops[i].invoice_on && strcmp(cfg->shops[i].invoice_on, "never") != 0);
    if (cash)
        check_cash(&o, od, cfg);

    /* External-ID lookups must be allowed (they are for any user; an AccessError here is a custom restriction). */
    params = json_pack("{s:s, s:s}", "module", "__synchub__", "xml_id", "synchub_preflight_probe");
    int rc = odoo_call(od, "ir.model.data", "check_object_reference", NULL, params, &r, &e);
    json_decref(params);
    json_decref(r);
    bool xml_ok = rc == 0 || (e.cls == ERR_DATA && strstr(e.message, "External ID not found"));
    row(&o, xml_ok, "external-ID lookup", xml_ok ? "ir.model.data.check_object_reference works" : e.message);

    if (cfg->odoo.company > 0) {
        json_t *ids = json_pack("[I]", (json_int_t)cfg->odoo.company);
        params = json_pack("{s:[s]}", "fields", "name");
        rc = odoo_call(od, "res.company", "read", ids, params, &r, &e);
        json_decref(ids);
        json_decref(params);
        bool ok = rc == 0 && json_array_size(r) == 1;
        snprintf(detail, sizeof(detail), "%s", ok ? json_string_value(json_object_get(json_array_get(r, 0), "name"))
                                              : rc < 0 ? e.message : "the company does not exist or is not allowed");
        row(&o, ok, "company access", detail);
        json_decref(r);
    }
    check_rounding(&o, od, cfg);
    for (size_t i = 0; i < cfg->nshops; i++) {
        const cfg_shop_t *sh = &cfg->shops[i];
        char what[128];
        snprintf(what, sizeof(what), "shipping product of %.80s", sh->domain);
        if (!sh->shipping_product) {
            row(&o, false, what, "shipping_product not set: orders with shipping charges will stop");
            continue;
        }
        params = json_pack("{s:[[s, s, s]], s:[s, s]}", "domain", "default_code", "=", sh->shipping_product, "fields",
                           "id", "type");
        rc = odoo_call(od, "product.product", "search_read", NULL, params, &r, &e);
        json_decref(params);
        if (rc < 0)
            snprintf(detail, sizeof(detail), "%s", e.message);
        else if (json_array_size(r) != 1)
            snprintf(detail, sizeof(detail), "%zu products have the internal reference %s (need exactly 1)",
                     json_array_size(r), sh->shipping_product);
        else
            snprintf(detail, sizeof(detail), "%s = product %" JSON_INTEGER_FORMAT " (%s)", sh->shipping_product,
                     json_integer_value(json_object_get(json_array_get(r, 0), "id")),
                     json_string_value(json_object_get(json_array_get(r, 0), "type")) ?: "?");
        row(&o, rc == 0 && json_array_size(r) == 1, what, detail);
        json_decref(r);
    }
    params = json_pack("{s:[]}", "domain");
    rc = odoo_call(od, "stock.warehouse", "search_count", NULL, params, &r, &e);
    json_decref(params);
    bool wh = rc == 0 && json_integer_value(r) > 0;
    snprintf(detail, sizeof(detail), "%s", rc < 0 ? e.message : wh ? "found" : "no warehouse: deliveries cannot be made");
    row(&o, wh, "warehouse", detail);
    json_decref(r);
    odoo_free(od);
done:
    check_subscriptions(&o, cfg);
    if (a->json) {
        json_t *doc = json_pack("{s:b, s:o}", "ok", o.failed == 0, "checks", o.rows);
        char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s ? s : "{}");
        free(s);
        json_decref(doc);
    } else {
        json_decref(o.rows);
        printf("\n%s\n", o.failed ? "some checks failed: fix them, then run `synchub check` again"
                                  : "everything the order flow needs is in place");
    }
    return o.failed ? APP_FAIL : APP_OK;
}
