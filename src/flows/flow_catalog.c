/* flow_catalog: builds the integration catalog (flow_catalog.h) from the configuration. One table entry per kind
 * of flow says what it touches — models and fields, Shopify objects, data classes — as the flows' code does
 * (docs/SPEC-odoo.md, SPEC-shopify.md, events.md); the configuration says which flows run, where, with which
 * rules, retry policies and owners. Not here: checking that the systems agree (`synchub check` does). */
#define _GNU_SOURCE
#include "flows/flow_catalog.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest_event.h"
#include "queue/queue.h"
#include "flows/flows.h"
#include "flows/flow_subscriptions.h"

#define KIND_ORDER "shopify.order"

/* The topics of the order flow (flows/flow_orders.c reads orders/cancelled as a cancellation, every other one as
 * the order's current state) and, when order to cash runs, refunds/create (ingest_shopify.c makes it an order job
 * of the refund's order_id, which books the order's refunds). Both lists: the order flow's topics first. */
static const char *const order_topics[] = {"ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID", "ORDERS_CANCELLED",
                                           NULL};
static const char *const order_cash_topics[] = {"ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID",
                                                "ORDERS_CANCELLED", "REFUNDS_CREATE", NULL};
#define CASH_TOPICS (order_cash_topics + 4)   /* REFUNDS_CREATE: the order-to-cash flow's own */
static const char *const no_topics[] = {NULL};

typedef enum { PER_SHOP, PER_SOURCE } flow_scope_t;

/* What a flow touches. Model lists: "model: field, field; model: field"; object lists: "Object, Object". */
typedef struct flow_def {
    const char *id, *title;
    flow_scope_t scope;
    const char *from, *to;          /* "shopify" | "odoo" | "partner" */
    const char *kinds[3];
    const char *odoo_reads, *odoo_writes;
    const char *shopify_reads, *shopify_writes;
    const char *data_classes;
} flow_def_t;

/* Each entry lists what the flow's code reads and writes (fields of a search's domain count as read); keep it with
 * the code: flow_orders.c and flow_money.c (orders), flow_invoices.c and shopify_cash.c (order-to-cash),
 * flow_reconcile.c, flow_stock.c, flow_fulfillment.c, flow_shipments.c. */
static const flow_def_t flows[] = {
    {"orders", "Shopify orders -> Odoo sale orders and customers", PER_SHOP, "shopify", "odoo",
     {KIND_ORDER, SYNC_KIND_SUBSCRIPTIONS},
     "ir.model.data: module, name, res_id (check_object_reference); "
     "res.partner: id, email, parent_id, company_id; product.product: id, default_code, company_id; "
     "res.company: id, currency_id, tax_calculation_rounding_method (`synchub check`); "
     "product.pricelist: id, name; "
     "account.tax: id, name, amount, amount_type, price_include, type_tax_use, company_id; "
     "sale.order: state, amount_untaxed, amount_tax, amount_total, user_id; "
     "sale.order.line: order_id, name, price_total, price_tax, sequence; mail.message: model, res_id, body; "
     "mail.activity: res_model, res_id, note",
     "res.partner: name, email, phone, company_id, type, street, street2, city, zip, country_id, parent_id; "
     "sale.order: client_order_ref, origin, date_order, partner_id, partner_shipping_id, pricelist_id, order_line, "
     "state (action_confirm, action_cancel), chatter (message_post), activity for a risky order's salesperson "
     "(activity_schedule: summary, note, user_id); "
     "sale.order.line: product_id, name, product_uom_qty, price_unit, discount, tax_id (18) / tax_ids (19); "
     "ir.model.data: __synchub__ external ids (load)",
     "Order (webhook body; fetched fresh through the Admin API when admin_token is set), Customer, "
     "MailingAddress, LineItem (sku, isGiftCard, prices, currentQuantity), TaxLine (title, rate, price), "
     "DiscountAllocation, Duty, ShippingLine, Order.risk (hold_risk)",
     NULL, "customer personal data, financial, operational"},
    {"order-to-cash", "Shopify payments and refunds -> Odoo invoices, payments, credit notes and returns", PER_SHOP,
     "shopify", "odoo", {KIND_ORDER},
     "sale.order: invoice_ids, amount_total; "
     "sale.order.line: order_id, product_id, product_uom_qty, qty_delivered; "
     "account.move: id, name, state, move_type, amount_total, payment_state, payment_reference, journal_id, "
     "reversed_entry_id, ref; account.move.line: move_id, display_type, product_id, quantity, price_unit; "
     "account.journal: id, code, type; account.payment: id, name, memo; product.product: default_code; "
     "stock.picking: id, name, state, origin, sale_id, picking_type_code, return_id; "
     "stock.return.picking.line: wizard_id, product_id",
     "sale.advance.payment.inv: advance_payment_method (create, create_invoices: the customer invoice); "
     "account.move: payment_reference, state (action_post), invoice_line_ids of a credit note (quantity, "
     "price_unit, removed lines); "
     "account.payment.register: journal_id, amount, communication, payment_date (create, action_create_payments: "
     "the payments); "
     "account.move.reversal: reason, journal_id (create, refund_moves: the credit notes); "
     "stock.return.picking: picking_id, product_return_moves (create, write, action_create_returns: the returns); "
     "stock.picking: origin, state (button_validate); sale.order.line: product_uom_qty",
     "Order (financial_status, fulfillment_status, payment_gateway_names, currency, line_items current_quantity), "
     "OrderTransaction (id, kind, status, gateway, amount, processedAt, parentTransaction), "
     "Refund (refundLineItems: quantity, restockType, lineItem sku, subtotal, tax; refundShippingLines; "
     "transactions)",
     NULL, "financial, operational"},
    {"reconcile-orders", "Shopify orders webhooks missed -> order jobs", PER_SHOP, "shopify", "synchub",
     {SYNC_KIND_RECONCILE_ORDERS},
     NULL, NULL, "Order (id, name, updatedAt)", NULL, "operational"},
    {"stock", "Odoo stock -> Shopify available quantities", PER_SHOP, "odoo", "shopify",
     {SYNC_KIND_STOCK_POLL, SYNC_KIND_STOCK_SKU},
     "stock.quant: product_id, location_id, quantity, reserved_quantity, write_date; "
     "stock.location: id, complete_name, child_of; product.product: id, default_code",
     NULL, "Location, InventoryItem (sku), InventoryLevel (available)",
     "InventoryLevel available (inventorySetQuantities)", "operational"},
    {"fulfillments", "Odoo done deliveries -> Shopify fulfillments with tracking", PER_SHOP, "odoo", "shopify",
     {SYNC_KIND_FULFILL_POLL, SYNC_KIND_FULFILL},
     "stock.picking: name, state, picking_type_code, sale_id, carrier_id, carrier_tracking_ref, "
     "carrier_tracking_url, move_ids, date_done, write_date; stock.move: product_id, quantity, state; "
     "product.product: default_code; sale.order: name, client_order_ref, origin",
     NULL, "Order, FulfillmentOrder, FulfillmentOrderLineItem (sku)",
     "Fulfillment (fulfillmentCreate, fulfillmentTrackingInfoUpdate: tracking number and URL)",
     "operational"},
    {"shipment-events", "Logistics partner shipment events -> Odoo deliveries", PER_SOURCE, "partner", "odoo",
     {INGEST_SHIPMENT_KIND},
     "stock.picking: id, name, origin, state, picking_type_code, carrier_tracking_ref, sale_id; "
     "sale.order: client_order_ref; res.users: id, login; mail.message: model, res_id, body; "
     "mail.activity: res_model, res_id, note",
     "stock.picking: carrier_tracking_ref, chatter (message_post), activity for an exception (activity_schedule: "
     "To Do for the responsible user: summary, note, date_deadline, user_id)",
     NULL, NULL, "operational"},
};

static bool cash_on(const cfg_shop_t *s)
{
    return s->invoice_on && strcmp(s->invoice_on, "never") != 0;
}

/* ---- small builders ------------------------------------------------------------------------------------------ */

/* The comma-separated entries of s[0..n), trimmed, into arr; commas inside parentheses do not split. */
static void split_entries(const char *s, size_t n, json_t *arr)
{
    int depth = 0;
    const char *start = s;
    for (const char *q = s;; q++) {
        bool end = q == s + n;
        if (!end && *q == '(')
            depth++;
        else if (!end && *q == ')')
            depth--;
        if (end || (*q == ',' && depth == 0)) {
            while (start < q && *start == ' ')
                start++;
            size_t len = (size_t)(q - start);
            while (len && start[len - 1] == ' ')
                len--;
            if (len)
                json_array_append_new(arr, json_stringn(start, len));
            if (end)
                break;
            start = q + 1;
        }
    }
}

static json_t *word_list(const char *list)
{
    json_t *a = json_array();
    if (list)
        split_entries(list, strlen(list), a);
    return a;
}

/* "model: f, f; model: f" -> {"model": ["f", "f"], …}. */
static json_t *model_map(const char *spec)
{
    json_t *o = json_object();
    for (const char *p = spec ? spec : ""; *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t n = strcspn(p, ";");
        const char *colon = memchr(p, ':', n);
        if (colon) {
            char *model = strndup(p, (size_t)(colon - p));
            json_t *arr = json_array();
            split_entries(colon + 1, n - (size_t)(colon + 1 - p), arr);
            json_object_set_new(o, model, arr);
            free(model);
        }
        p += n;
    }
    return o;
}

/* 7200000 -> "2h", 1500 -> "1500ms": the largest unit that divides it, as [kind] keys are written. */
static json_t *duration(int64_t ms)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms > 0 && ms % units[i].ms == 0)
            return json_sprintf("%lld%s", (long long)(ms / units[i].ms), units[i].unit);
    return ms == 0 ? json_string("0 (never)") : json_sprintf("%lldms", (long long)ms);
}

static void endpoint(json_t *list, const char *direction, const char *system, const char *url)
{
    json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "direction", direction, "system", system, "url", url));
}

static void listen_url(const cfg_t *cfg, const char *path, char *out, size_t n)
{
    snprintf(out, n, "POST http://%s:%lld%s", cfg->listen.host, (long long)cfg->listen.port, path);
}

static void odoo_endpoint(const cfg_t *cfg, json_t *eps)
{
    char u[600];
    snprintf(u, sizeof(u), "%s (database %s, %s)", cfg->odoo.url ? cfg->odoo.url : "?",
             cfg->odoo.database ? cfg->odoo.database : "?", cfg->odoo.protocol);
    endpoint(eps, "outbound", "odoo", u);
}

static void shopify_endpoint(const cfg_shop_t *s, json_t *eps)
{
    char u[600];
    if (s->admin_url)
        snprintf(u, sizeof(u), "%s/admin/api/%s/graphql.json", s->admin_url, s->api_version);
    else
        snprintf(u, sizeof(u), "https://%s/admin/api/%s/graphql.json", s->domain, s->api_version);
    endpoint(eps, "outbound", "shopify", u);
}

static void rule(json_t *rules, const char *section, const char *name, const char *value)
{
    if (value && *value)
        json_array_append_new(rules, json_pack("{s:s, s:s, s:s}", "name", name, "value", value, "section", section));
}

static void retry_policies(const cfg_t *cfg, const flow_def_t *f, json_t *out)
{
    for (int i = 0; i < 3 && f->kinds[i]; i++) {
        queue_policy_t p = queue_policy_for(cfg, f->kinds[i]);
        json_array_append_new(out, json_pack("{s:s, s:i, s:i, s:o, s:o, s:o, s:b}", "kind", f->kinds[i],
                                             "priority", p.priority, "max_attempts", p.max_attempts,
                                             "backoff_base", duration(p.backoff_base_ms), "backoff_cap",
                                             duration(p.backoff_cap_ms), "lease", duration(p.lease_ms),
                                             "configured", cfg_kind_find(cfg, f->kinds[i]) != NULL));
    }
}

/* The owner: a [kind] owner of one of the flow's kinds, else the shop's or source's. */
static void owner(const cfg_t *cfg, const flow_def_t *f, const char *section, const char *own, json_t *flow)
{
    char from[200];
    for (int i = 0; i < 3 && f->kinds[i]; i++) {
        const cfg_kind_t *k = cfg_kind_find(cfg, f->kinds[i]);
        if (k && k->owner) {
            snprintf(from, sizeof(from), "kind %s", k->name);
            json_object_set_new(flow, "owner", json_string(k->owner));
            json_object_set_new(flow, "owner_from", json_string(from));
            return;
        }
    }
    json_object_set_new(flow, "owner", own ? json_string(own) : json_null());
    json_object_set_new(flow, "owner_from", own ? json_string(section) : json_null());
}

static json_t *flow_base(const flow_def_t *f, const char *instance, const char *src, const char *dst)
{
    char id[300];
    snprintf(id, sizeof(id), "%s:%s", f->id, instance);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", id, "title", f->title, "source",
                          src, "target", dst, "trigger", json_array(), "endpoints", json_array(), "rules",
                          json_array(), "retry", json_array(), "data_classes", word_list(f->data_classes));
    json_object_set_new(o, "odoo", json_pack("{s:o, s:o}", "reads", model_map(f->odoo_reads), "writes",
                                             model_map(f->odoo_writes)));
    json_object_set_new(o, "shopify", json_pack("{s:o, s:o}", "reads", word_list(f->shopify_reads), "writes",
                                                word_list(f->shopify_writes)));
    return o;
}

/* Why a shop's flow does not run (NULL = it runs): the same conditions as the code that starts it. */
static const char *shop_disabled(const cfg_t *cfg, const cfg_shop_t *s, const flow_def_t *f)
{
    if (!cfg->odoo.configured)
        return "no [odoo] section";
    if (!strcmp(f->id, "orders"))
        return NULL;
    if (!strcmp(f->id, "order-to-cash"))
        return cash_on(s) ? NULL : "invoice_on = never";
    if (!sync_enabled(cfg, s, f->kinds[0]))
        return !s->admin_token.value ? "no admin_token" : "no locations";
    int64_t every = !strcmp(f->id, "stock") ? s->inventory_interval_ms
                    : !strcmp(f->id, "fulfillments") ? s->fulfillment_interval_ms : s->reconcile_interval_ms;
    return every == 0 ? "its interval is 0 (never)" : NULL;
}

static void shop_flow(const cfg_t *cfg, const cfg_shop_t *s, const flow_def_t *f, json_t *flows_out)
{
    char src[300], dst[600], section[300], u[700];
    const char *odoo = cfg->odoo.url ? cfg->odoo.url : "odoo";
    snprintf(section, sizeof(section), "shop %s", s->domain);
    if (!strcmp(f->from, "shopify"))
        snprintf(src, sizeof(src), "shopify:%s", s->domain);
    else
        snprintf(src, sizeof(src), "odoo:%s", odoo);
    if (!strcmp(f->to, "shopify"))
        snprintf(dst, sizeof(dst), "shopify:%s", s->domain);
    else if (!strcmp(f->to, "odoo"))
        snprintf(dst, sizeof(dst), "odoo:%s", odoo);
    else
        snprintf(dst, sizeof(dst), "synchub:job queue (%s jobs)", KIND_ORDER);
    json_t *o = flow_base(f, s->domain, src, dst);
    json_object_set_new(o, "shop", json_string(s->domain));
    json_t *trig = json_object_get(o, "trigger"), *eps = json_object_get(o, "endpoints"),
           *rules = json_object_get(o, "rules");
    if (!strcmp(f->id, "orders") || !strcmp(f->id, "order-to-cash")) {
        bool orders = !strcmp(f->id, "orders");
        json_t *topics = json_array();
        char h[64];
        for (const char *const *t = orders ? order_topics : CASH_TOPICS; *t; t++) {
            sync_catalog_topic_header(*t, h, sizeof(h));
            json_array_append_new(topics, json_string(h));
        }
        json_array_append_new(trig, json_pack("{s:s, s:o, s:s}", "type", "webhook", "topics", topics, "path",
                                              "/webhooks/shopify"));
        if (orders && s->public_url && s->admin_token.value && s->subscriptions_interval_ms)
            json_array_append_new(trig, json_pack("{s:s, s:s, s:o}", "type", "schedule", "what",
                                                  "subscription check (re-creates removed ones, reconciles the gap)",
                                                  "every", duration(s->subscriptions_interval_ms)));
        if (!orders)
            json_array_append_new(trig, json_pack("{s:s, s:s}", "type", "after", "what",
                                                  "the orders flow's shopify.order job: once the sale order is "
                                                  "confirmed, and when an invoiced order is cancelled"));
        listen_url(cfg, "/webhooks/shopify", u, sizeof(u));
        endpoint(eps, "inbound", "shopify", u);
        if (s->public_url) {
            snprintf(u, sizeof(u), "POST %s/webhooks/shopify (public_url, subscribed by `synchub setup shopify`)",
                     s->public_url);
            endpoint(eps, "inbound", "shopify", u);
        }
        if (s->admin_token.value)
            shopify_endpoint(s, eps);
        odoo_endpoint(cfg, eps);
        if (orders) {
            rule(rules, section, "sku_map", s->sku_map);
            rule(rules, section, "confirm_on", s->confirm_on);
            rule(rules, section, "shipping_product", s->shipping_product);
            rule(rules, section, "gift_card_product", s->gift_card_product);
            rule(rules, section, "tip_product", s->tip_product);
            rule(rules, section, "duty_product", s->duty_product);
            rule(rules, section, "tax_map", s->tax_map);
            rule(rules, section, "pricelists", s->pricelists);
            rule(rules, section, "amount_tolerance", s->amount_tolerance);
            rule(rules, section, "hold_risk", s->hold_risk);
            char d[32];
            snprintf(d, sizeof(d), "%lld", (long long)cfg->odoo.discount_digits);
            rule(rules, "odoo", "discount_digits", d);
            rule(rules, "odoo", "protected_fields", cfg->odoo.protected_fields);
            if (cfg->odoo.company) {
                char c[32];
                snprintf(c, sizeof(c), "%lld", (long long)cfg->odoo.company);
                rule(rules, "odoo", "company", c);
            }
            rule(rules, "odoo", "note_sender", cfg->odoo.note_sender);
        } else {
            rule(rules, section, "invoice_on", s->invoice_on);
            rule(rules, section, "payment_journals", s->payment_journals);
            rule(rules, section, "shipping_product", s->shipping_product);  /* a credit note's shipping line */
        }
    } else {
        int64_t every = !strcmp(f->id, "stock") ? s->inventory_interval_ms
                        : !strcmp(f->id, "fulfillments") ? s->fulfillment_interval_ms : s->reconcile_interval_ms;
        json_array_append_new(trig, json_pack("{s:s, s:o}", "type", !strcmp(f->id, "reconcile-orders") ? "schedule"
                                                                                                      : "poll",
                                              "every", duration(every)));
        shopify_endpoint(s, eps);
        if (strcmp(f->id, "reconcile-orders") != 0)
            odoo_endpoint(cfg, eps);
        if (!strcmp(f->id, "stock")) {
            rule(rules, section, "locations", s->locations);
            rule(rules, section, "sku_map", s->sku_map);
            rule(rules, section, "inventory_skip", s->inventory_skip);
            char b[32];
            snprintf(b, sizeof(b), "%lld", (long long)s->inventory_batch);
            rule(rules, section, "inventory_batch", b);
        } else if (!strcmp(f->id, "fulfillments")) {
            rule(rules, section, "sku_map", s->sku_map);
        } else {
            json_t *w = duration(s->reconcile_window_ms);
            rule(rules, section, "reconcile_window", json_string_value(w));
            json_decref(w);
        }
    }
    retry_policies(cfg, f, json_object_get(o, "retry"));
    owner(cfg, f, section, s->owner, o);
    const char *why = shop_disabled(cfg, s, f);
    json_object_set_new(o, "enabled", json_boolean(!why));
    json_object_set_new(o, "disabled_because", why ? json_string(why) : json_null());
    json_array_append_new(flows_out, o);
}

static void source_flow(const cfg_t *cfg, const cfg_source_t *src, const flow_def_t *f, json_t *flows_out)
{
    char from[300], dst[600], section[300], u[700];
    snprintf(from, sizeof(from), "partner:%s", src->name);
    snprintf(dst, sizeof(dst), "odoo:%s", cfg->odoo.url ? cfg->odoo.url : "odoo");
    snprintf(section, sizeof(section), "source %s", src->name);
    json_t *o = flow_base(f, src->name, from, dst);
    json_object_set_new(o, "source_name", json_string(src->name));
    json_t *trig = json_object_get(o, "trigger"), *eps = json_object_get(o, "endpoints"),
           *rules = json_object_get(o, "rules");
    char path[200];
    snprintf(path, sizeof(path), "/events/%s", src->name);
    json_array_append_new(trig, json_pack("{s:s, s:s, s:s}", "type", "webhook", "path", path, "auth", src->auth));
    json_array_append_new(trig, json_pack("{s:s, s:o}", "type", "csv", "command",
                                          json_sprintf("synchub import events --source %s FILE.csv", src->name)));
    listen_url(cfg, path, u, sizeof(u));
    endpoint(eps, "inbound", "partner", u);
    odoo_endpoint(cfg, eps);
    rule(rules, section, "format", src->format);
    static const char *const fields[CFG_EVF_COUNT] = {"event_id", "occurred_at", "reference", "carrier",
                                                      "tracking_number", "tracking_url", "status", "location",
                                                      "detail"};
    for (int i = 0; i < CFG_EVF_COUNT; i++) {
        char k[64];
        snprintf(k, sizeof(k), "map.%s", fields[i]);
        rule(rules, section, k, src->map[i]);
    }
    rule(rules, section, "status_map", src->status_map);
    rule(rules, section, "responsible", src->responsible);
    rule(rules, "odoo", "note_sender", cfg->odoo.note_sender);
    retry_policies(cfg, f, json_object_get(o, "retry"));
    owner(cfg, f, section, src->owner, o);
    const char *why = cfg->odoo.configured ? NULL : "no [odoo] section";
    json_object_set_new(o, "enabled", json_boolean(!why));
    json_object_set_new(o, "disabled_because", why ? json_string(why) : json_null());
    json_array_append_new(flows_out, o);
}

static void findings(json_t *flows_arr, json_t *out)
{
    size_t i;
    json_t *f;
    json_array_foreach(flows_arr, i, f) {
        const char *id = json_string_value(json_object_get(f, "id"));
        const char *shop = json_string_value(json_object_get(f, "shop"));
        const char *src = json_string_value(json_object_get(f, "source_name"));
        const char *kind = json_string_value(json_object_get(json_array_get(json_object_get(f, "retry"), 0), "kind"));
        if (json_is_null(json_object_get(f, "owner")) && json_is_true(json_object_get(f, "enabled")))
            json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "flow", id, "finding", "unowned", "fix",
                                                 shop ? json_sprintf("set owner in [shop %s] or [kind %s]", shop, kind)
                                                      : json_sprintf("set owner in [source %s] or [kind %s]", src,
                                                                     kind)));
        if (!json_is_true(json_object_get(f, "enabled")))
            json_array_append_new(out, json_pack("{s:s, s:o, s:s}", "flow", id, "finding",
                                                 json_sprintf("disabled: %s",
                                                              json_string_value(json_object_get(f,
                                                                                                "disabled_because"))),
                                                 "fix", "configure what it needs, or ignore: it does not run"));
    }
}

json_t *sync_catalog(const cfg_t *cfg)
{
    json_t *flows_arr = json_array(), *found = json_array();
    for (size_t i = 0; i < cfg->nshops; i++)
        for (size_t d = 0; d < sizeof(flows) / sizeof(flows[0]); d++)
            if (flows[d].scope == PER_SHOP)
                shop_flow(cfg, &cfg->shops[i], &flows[d], flows_arr);
    for (size_t i = 0; i < cfg->nsources; i++)
        for (size_t d = 0; d < sizeof(flows) / sizeof(flows[0]); d++)
            if (flows[d].scope == PER_SOURCE)
                source_flow(cfg, &cfg->sources[i], &flows[d], flows_arr);
    findings(flows_arr, found);
    return json_pack("{s:s, s:o, s:o}", "config", cfg->path ? cfg->path : "", "flows", flows_arr, "findings", found);
}

const char *const *sync_catalog_topics(const cfg_t *cfg, const cfg_shop_t *shop)
{
    /* every shop runs the order flow once [odoo] is configured; order to cash adds its refunds/create */
    if (!cfg->odoo.configured)
        return no_topics;
    return cash_on(shop) ? order_cash_topics : order_topics;
}

void sync_catalog_topic_header(const char *topic, char *out, size_t n)
{
    /* ORDERS_CREATE -> orders/create; INVENTORY_LEVELS_UPDATE -> inventory_levels/update (the last '_' splits). */
    const char *last = strrchr(topic, '_');
    size_t len = strlen(topic), i = 0;
    for (; i + 1 < n && i < len; i++) {
        char c = topic[i];
        out[i] = &topic[i] == last ? '/' : (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[i] = '\0';
}
