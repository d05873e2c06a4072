/* cmd_check: `synchub check` — preflight before any job depends on it. Odoo: reachability and version,
 * authentication, and per enabled flow what it will do as the integration user (rights per model and operation,
 * the chatter note's sender, the activity type and responsible users, carrier fields, mapped locations, shipping
 * product, a warehouse); Shopify (shops with an admin_token): the token, the access scopes each enabled flow needs,
 * each mapped location, the webhook subscriptions; whether the company's tax rounding can reproduce
 * Shopify's amounts. Reads only: nothing is written, so nothing is left behind. One row per finding with the
 * fix; exits 1 when anything is missing. What each flow needs is listed in docs/OPERATIONS.md. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/buf.h"
#include "odoo/odoo.h"
#include "flows/flow_subscriptions.h"
#include "shopify/shopify.h"

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

/* The group that usually grants a right, for the hint when Odoo only says "no" (docs/OPERATIONS.md). */
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
        {"stock.location", NULL, "Inventory / User"},
        {"delivery.carrier", NULL, "Inventory / User"},
        {"mail.activity", NULL, "Role / User (internal user)"},
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

static void check_rights(check_out_t *o, odoo_t *od, const char *const (*rights)[2], size_t n, json_t *seen)
{
    for (size_t i = 0; i < n; i++) {
        char key[128];
        snprintf(key, sizeof(key), "%s %s", rights[i][0], rights[i][1]);
        if (json_object_get(seen, key))
            continue; /* one row per right, however many flows need it */
        json_object_set_new(seen, key, json_true());
        check_right(o, od, rights[i][0], rights[i][1]);
    }
}

/* Call and keep the message of a failure in detail. 0 or -1. */
static int probe(odoo_t *od, const char *model, const char *method, json_t *ids, json_t *params, json_t **r,
                 char *detail, size_t n)
{
    err_t e;
    int rc = odoo_call(od, model, method, ids, params, r, &e);
    json_decref(ids);
    json_decref(params);
    if (rc < 0)
        snprintf(detail, n, "%s%s%s", e.message, e.hint[0] ? " — " : "", e.hint);
    return rc;
}

/* Field-level rights: the fields the order flow's load() and reads use must be visible to the user (Odoo's
 * fields_get leaves out the fields of groups the user is not in, and a load() naming one fails). Delivery addresses
 * are imported without their parent, so no accounting field (credit_limit) is needed. */
static void check_fields(check_out_t *o, odoo_t *od)
{
    static const struct {
        const char *model;
        const char *fields[12];
    } need[] = {
        {"res.partner", {"name", "email", "phone", "type", "parent_id", "street", "street2", "city", "zip",
                         "country_id", "company_id", NULL}},
        {"sale.order", {"partner_id", "partner_shipping_id", "client_order_ref", "origin", "date_order", "order_line",
                        "state", NULL}},
        {"sale.order.line", {"product_id", "product_uom_qty", "price_unit", "discount", "name", NULL}},
    };
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        char what[96], detail[1400];
        snprintf(what, sizeof(what), "fields of %s", need[i].model);
        json_t *all = json_array();
        for (size_t j = 0; need[i].fields[j]; j++)
            json_array_append_new(all, json_string(need[i].fields[j]));
        json_t *r = NULL;
        if (probe(od, need[i].model, "fields_get", NULL, json_pack("{s:O, s:[s]}", "allfields", all, "attributes",
                  "type"), &r, detail, sizeof(detail)) < 0) {
            json_decref(all);
            row(o, false, what, detail);
            continue;
        }
        buf_t missing = BUF_INIT;
        size_t j;
        json_t *f;
        json_array_foreach(all, j, f)
        {
            if (!json_object_get(r, json_string_value(f)))
                buf_printf(&missing, "%s%s", missing.len ? ", " : "", json_string_value(f));
        }
        if (missing.len)
            snprintf(detail, sizeof(detail), "not visible to the integration user: %s (a field restricted to a "
                                             "group, or an app missing): add the group that shows it",
                     buf_str(&missing));
        else
            snprintf(detail, sizeof(detail), "the %zu fields synchub writes and reads are accessible",
                     json_array_size(all));
        row(o, missing.len == 0, what, detail);
        buf_release(&missing);
        json_decref(all);
        json_decref(r);
    }
}

/* Chatter notes (review notes on changed orders, shipment milestones): Odoo 18 refuses message_post when neither
 * email_from nor the author's e-mail is set; synchub sends [odoo] note_sender as email_from. */
static void check_note_sender(check_out_t *o, odoo_t *od, const cfg_t *cfg)
{
    char detail[1400];
    const char *sender = cfg->odoo.note_sender && strcmp(cfg->odoo.note_sender, "user") != 0 ? cfg->odoo.note_sender
                                                                                              : NULL;
    if (sender) {
        snprintf(detail, sizeof(detail), "notes are posted with email_from \"%s\" ([odoo] note_sender)", sender);
        row(o, true, "chatter note sender", detail);
        return;
    }
    if (odoo_server_major(od) >= 19 || !odoo_uid(od)) {
        row(o, true, "chatter note sender", "Odoo 19 posts notes without a sender address");
        return;
    }
    json_t *r = NULL;
    if (probe(od, "res.users", "read", json_pack("[I]", (json_int_t)odoo_uid(od)), json_pack("{s:[s]}", "fields",
              "email"), &r, detail, sizeof(detail)) < 0) {
        row(o, false, "chatter note sender", detail);
        return;
    }
    const char *email = json_string_value(json_object_get(json_array_get(r, 0), "email"));
    if (email && *email)
        snprintf(detail, sizeof(detail), "the integration user's e-mail %s", email);
    else
        snprintf(detail, sizeof(detail), "Odoo 18 refuses notes without a sender: set [odoo] note_sender (e.g. "
                                         "synchub <synchub@localhost>) or give the integration user an e-mail");
    row(o, email && *email, "chatter note sender", detail);
    json_decref(r);
}

/* Logistics events: the To Do activity type the exception activity uses, and each source's responsible user. */
static void check_events(check_out_t *o, odoo_t *od, const cfg_t *cfg)
{
    char detail[1400];
    json_t *r = NULL;
    int rc = probe(od, "ir.model.data", "check_object_reference", NULL,
                   json_pack("{s:s, s:s}", "module", "mail", "xml_id", "mail_activity_data_todo"), &r, detail,
                   sizeof(detail));
    if (rc == 0) {
        json_int_t id = json_integer_value(json_array_get(r, 1));
        if (id > 0)
            snprintf(detail, sizeof(detail), "mail.mail_activity_data_todo = mail.activity.type %" JSON_INTEGER_FORMAT,
                     id);
        else
            snprintf(detail, sizeof(detail), "the To Do activity type is not readable: grant read on "
                                             "mail.activity.type");
        rc = id > 0 ? 0 : -1;
    } else {
        snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
                 " (restore the To Do activity type, mail.mail_activity_data_todo)");
    }
    row(o, rc == 0, "activity type To Do", detail);
    json_decref(r);
    for (size_t i = 0; i < cfg->nsources; i++) {
        const cfg_source_t *src = &cfg->sources[i];
        char what[128];
        snprintf(what, sizeof(what), "responsible of %.80s", src->name);
        if (!src->responsible || !*src->responsible) {
            row(o, true, what, "none: exceptions get a chatter note but no activity");
            continue;
        }
        bool numeric = strspn(src->responsible, "0123456789") == strlen(src->responsible);
        json_t *domain = numeric ? json_pack("[[s, s, I]]", "id", "=", (json_int_t)strtoll(src->responsible, NULL, 10))
                                 : json_pack("[[s, s, s]]", "login", "=", src->responsible);
        r = NULL;
        if (probe(od, "res.users", "search_read", NULL, json_pack("{s:o, s:[s, s]}", "domain", domain, "fields",
                  "id", "login"), &r, detail, sizeof(detail)) == 0) {
            if (json_array_size(r) == 1)
                snprintf(detail, sizeof(detail), "Odoo user %s (id %" JSON_INTEGER_FORMAT ")",
                         json_string_value(json_object_get(json_array_get(r, 0), "login")) ?: "?",
                         json_integer_value(json_object_get(json_array_get(r, 0), "id")));
            else
                snprintf(detail, sizeof(detail), "no active Odoo user \"%s\": set responsible to a login or id",
                         src->responsible);
        }
        row(o, json_array_size(r) == 1, what, detail);
        json_decref(r);
    }
}

/* Fulfillments read the delivery's carrier and tracking fields (carrier_tracking_url comes with delivery). */
static void check_carrier_fields(check_out_t *o, odoo_t *od)
{
    char detail[1400];
    json_t *r = NULL;
    int rc = probe(od, "stock.picking", "fields_get", NULL,
                   json_pack("{s:[s, s, s], s:[s]}", "allfields", "carrier_id", "carrier_tracking_ref",
                             "carrier_tracking_url", "attributes", "type"),
                   &r, detail, sizeof(detail));
    if (rc == 0) {
        bool carrier = json_object_get(r, "carrier_id") && json_object_get(r, "carrier_tracking_ref");
        bool url = json_object_get(r, "carrier_tracking_url") != NULL;
        snprintf(detail, sizeof(detail), "%s", !carrier ? "stock.picking has no carrier_id/carrier_tracking_ref: "
                                                          "install the Delivery app (delivery)"
                                               : url    ? "carrier_id, carrier_tracking_ref, carrier_tracking_url"
                                                        : "carrier_id, carrier_tracking_ref (no tracking URL: "
                                                          "fulfillments go without one)");
        rc = carrier ? 0 : -1;
    }
    row(o, rc == 0, "carrier fields", detail);
    json_decref(r);
}

/* Each Odoo side of a shop's location map: a stock.location id, or a full name that names exactly one. */
typedef struct loc_probe {
    check_out_t *o;
    odoo_t *od;
    const char *domain;
    json_t *shopify_ids; /* the Shopify sides, for the Shopify probe */
} loc_probe_t;

static int probe_location(const char *k, size_t kl, const char *v, size_t vl, void *ud)
{
    loc_probe_t *lp = ud;
    char what[160], spec[128], detail[1400];
    snprintf(spec, sizeof(spec), "%.*s", (int)kl, k);
    snprintf(what, sizeof(what), "location %.60s of %.60s", spec, lp->domain);
    if (v)
        json_array_append_new(lp->shopify_ids, json_stringn(v, vl));
    bool numeric = spec[0] && strspn(spec, "0123456789") == strlen(spec);
    json_t *domain = numeric ? json_pack("[[s, s, I]]", "id", "=", (json_int_t)strtoll(spec, NULL, 10))
                             : json_pack("[[s, s, s]]", "complete_name", "=", spec);
    json_t *r = NULL;
    if (probe(lp->od, "stock.location", "search_read", NULL,
              json_pack("{s:o, s:[s, s], s:i}", "domain", domain, "fields", "id", "complete_name", "limit", 2), &r,
              detail, sizeof(detail)) == 0) {
        size_t n = json_array_size(r);
        if (n == 1)
            snprintf(detail, sizeof(detail), "Odoo stock.location %" JSON_INTEGER_FORMAT " (%s)",
                     json_integer_value(json_object_get(json_array_get(r, 0), "id")),
                     json_string_value(json_object_get(json_array_get(r, 0), "complete_name")) ?: "?");
        else
            snprintf(detail, sizeof(detail), "%s Odoo stock location \"%s\": use the full name as Odoo shows it "
                                             "(Inventory → Configuration → Locations) or its id",
                     n ? "several" : "no", spec);
    }
    row(lp->o, json_array_size(r) == 1, what, detail);
    json_decref(r);
    return 0;
}

/* ---- Shopify --------------------------------------------------------------------------------------------------- */

static bool has_scope(const json_t *scopes, const char *handle)
{
    size_t i;
    json_t *s;
    json_array_foreach(scopes, i, s)
    {
        if (json_string_value(json_object_get(s, "handle")) &&
            !strcmp(json_string_value(json_object_get(s, "handle")), handle))
            return true;
    }
    return false;
}

static void check_shopify(check_out_t *o, const cfg_shop_t *sh, json_t *location_ids, bool stock, bool fulfil)
{
    char what[160], detail[1400];
    shopify_t *s = shopify_new(sh, NULL);
    err_t e;
    json_t *data = NULL;
    snprintf(what, sizeof(what), "shopify token of %.80s", sh->domain);
    if (!s || shopify_graphql(s, "query CheckAccess { shop { name } currentAppInstallation { accessScopes { handle } "
                                 "} }",
                              NULL, 2, &data, &e) < 0) {
        snprintf(detail, sizeof(detail), "%s%s%s", s ? e.message : "out of memory", s && e.hint[0] ? " — " : "",
                 s ? e.hint : "");
        row(o, false, what, detail);
        shopify_free(s);
        return;
    }
    snprintf(detail, sizeof(detail), "shop \"%s\", API version %s",
             json_string_value(json_object_get(json_object_get(data, "shop"), "name")) ?: "?", sh->api_version);
    row(o, true, what, detail);
    const json_t *scopes = json_object_get(json_object_get(data, "currentAppInstallation"), "accessScopes");
    static const char *const fulfil_scopes[] = {"write_assigned_fulfillment_orders",
                                                "write_merchant_managed_fulfillment_orders",
                                                "write_third_party_fulfillment_orders"};
    struct {
        bool wanted;
        const char *flow, *const *any;
        size_t n;
    } needs[] = {
        {true, "orders (fresh fetch, reconciliation)", (const char *const[]){"read_orders"}, 1},
        {stock, "stock push", (const char *const[]){"write_inventory"}, 1},
        {fulfil, "fulfillments", fulfil_scopes, 3},
    };
    for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
        if (!needs[i].wanted)
            continue;
        bool ok = false;
        for (size_t j = 0; j < needs[i].n && !ok; j++)
            ok = has_scope(scopes, needs[i].any[j]);
        snprintf(what, sizeof(what), "shopify scope for %.60s", needs[i].flow);
        if (ok)
            snprintf(detail, sizeof(detail), "granted");
        else
            snprintf(detail, sizeof(detail), "the app lacks %s%s: add it to the app's Admin API access scopes and "
                                             "reinstall it on %s",
                     needs[i].any[0], needs[i].n > 1 ? " (or another write_*_fulfillment_orders)" : "", sh->domain);
        row(o, ok, what, detail);
    }
    json_decref(data);
    if (json_array_size(location_ids)) {
        buf_t q = BUF_INIT;
        buf_puts(&q, "query CheckLocations {");
        size_t i;
        json_t *id;
        json_array_foreach(location_ids, i, id)
        {
            const char *v = json_string_value(id);
            if (strspn(v, "0123456789") == strlen(v))
                buf_printf(&q, " l%zu: location(id: \"gid://shopify/Location/%s\") { id name isActive }", i, v);
        }
        buf_puts(&q, " }");
        data = NULL;
        int rc = shopify_graphql(s, buf_str(&q), NULL, (int)json_array_size(location_ids), &data, &e);
        buf_release(&q);
        json_array_foreach(location_ids, i, id)
        {
            char alias[32];
            snprintf(alias, sizeof(alias), "l%zu", i);
            const json_t *loc = json_object_get(data, alias);
            snprintf(what, sizeof(what), "shopify location %.40s", json_string_value(id));
            if (rc < 0)
                snprintf(detail, sizeof(detail), "%s", e.message);
            else if (!json_is_object(loc))
                snprintf(detail, sizeof(detail), "Shopify has no location %s: use the number in the location's "
                                                 "URL (Settings → Locations)", json_string_value(id));
            else
                snprintf(detail, sizeof(detail), "\"%s\"%s",
                         json_string_value(json_object_get(loc, "name")) ?: "?",
                         json_is_true(json_object_get(loc, "isActive")) ? "" : " (inactive: stock is not pushed)");
            row(o, rc == 0 && json_is_object(loc), what, detail);
        }
        json_decref(data);
    }
    shopify_free(s);
}

/* ---- the flows -------------------------------------------------------------------------------------------------- */

static void check_cash(check_out_t *o, odoo_t *od, const cfg_t *cfg, json_t *seen);

static void check_odoo_flows(check_out_t *o, odoo_t *od, const cfg_t *cfg)
{
    json_t *seen = json_object();
    static const char *const order_rights[][2] = {
        {"res.partner", "read"},     {"res.partner", "create"},     {"res.partner", "write"},
        {"product.product", "read"}, {"sale.order", "read"},        {"sale.order", "create"},
        {"sale.order", "write"},     {"sale.order.line", "create"}, {"sale.order.line", "write"},
        {"account.tax", "read"},
    };
    /* Logistics events (docs/events.md): tracking on the delivery; chatter and activities need write on it. */
    static const char *const event_rights[][2] = {
        {"stock.picking", "read"}, {"stock.picking", "write"}, {"mail.activity", "create"},
    };
    static const char *const stock_rights[][2] = {
        {"stock.quant", "read"}, {"stock.location", "read"}, {"product.product", "read"},
    };
    static const char *const fulfil_rights[][2] = {
        {"stock.picking", "read"}, {"sale.order", "read"}, {"stock.move", "read"},
    };
    bool stock = false, fulfil = false;
    for (size_t i = 0; i < cfg->nshops; i++) {
        const cfg_shop_t *sh = &cfg->shops[i];
        stock |= sh->admin_token.value && sh->locations && *sh->locations;
        fulfil |= sh->admin_token.value && sh->fulfillment_interval_ms > 0;
    }
    check_rights(o, od, order_rights, sizeof(order_rights) / sizeof(order_rights[0]), seen);
    if (cfg->nsources > 0)
        check_rights(o, od, event_rights, sizeof(event_rights) / sizeof(event_rights[0]), seen);
    if (stock)
        check_rights(o, od, stock_rights, sizeof(stock_rights) / sizeof(stock_rights[0]), seen);
    if (fulfil)
        check_rights(o, od, fulfil_rights, sizeof(fulfil_rights) / sizeof(fulfil_rights[0]), seen);
    /* Order to cash (flows/flow_invoices.c): invoices, payments, credit notes, returns; the journals it pays into. */
    bool cash = false;
    for (size_t i = 0; i < cfg->nshops; i++)
        cash = cash || (cfg->shops[i].invoice_on && strcmp(cfg->shops[i].invoice_on, "never") != 0);
    if (cash)
        check_cash(o, od, cfg, seen);
    json_decref(seen);
    check_fields(o, od);
    check_note_sender(o, od, cfg);
    if (cfg->nsources > 0)
        check_events(o, od, cfg);
    if (fulfil)
        check_carrier_fields(o, od);
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

static void check_cash(check_out_t *o, odoo_t *od, const cfg_t *cfg, json_t *seen)
{
    static const char *const cash_rights[][2] = {
        {"account.move", "read"},     {"account.move", "write"},       {"account.payment.register", "create"},
        {"account.move.reversal", "create"}, {"stock.picking", "write"}, {"stock.return.picking", "create"},
    };
    check_rights(o, od, cash_rights, sizeof(cash_rights) / sizeof(cash_rights[0]), seen);
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

    check_odoo_flows(&o, od, cfg);

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
        } else {
            params = json_pack("{s:[[s, s, s]], s:[s, s]}", "domain", "default_code", "=", sh->shipping_product,
                               "fields", "id", "type");
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
        loc_probe_t lp = {&o, od, sh->domain, json_array()};
        if (sh->admin_token.value && sh->locations && *sh->locations &&
            cfg_map_each(sh->locations, probe_location, &lp) != 0)
            row(&o, false, "location map", "cannot read [shop] locations: write ODOO-LOCATION=SHOPIFY-LOCATION-ID");
        if (sh->admin_token.value)
            check_shopify(&o, sh, lp.shopify_ids, sh->locations && *sh->locations, sh->fulfillment_interval_ms > 0);
        json_decref(lp.shopify_ids);
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
                                  : "everything the enabled flows need is in place");
    }
    return o.failed ? APP_FAIL : APP_OK;
}
