/* flow_money: a Shopify order's money planned onto Odoo sale order lines (contract in flow_money.h).
 * Not here: any I/O; the Odoo taxes come in as an array, the plan goes out as numbers. */
#define _GNU_SOURCE
#include "flows/flow_money.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/cfg.h"

/* ---- amounts ------------------------------------------------------------------------------------------------ */

int money_parse(const char *text, int64_t *cents)
{
    if (!text)
        return -1;
    const char *p = text;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (!isdigit((unsigned char)*p))
        return -1;
    int64_t whole = 0, frac = 0;
    int fd = 0;
    for (; isdigit((unsigned char)*p); p++)
        if (__builtin_mul_overflow(whole, 10, &whole) || __builtin_add_overflow(whole, *p - '0', &whole))
            return -1;
    if (*p == '.') {
        p++;
        for (; isdigit((unsigned char)*p); p++, fd++) {
            if (fd < 2)
                frac = frac * 10 + (*p - '0');
            else if (*p != '0')
                return -1; /* a third decimal that matters: not an amount in cents */
        }
    }
    if (*p)
        return -1;
    if (fd == 1)
        frac *= 10;
    int64_t v;
    if (__builtin_mul_overflow(whole, 100, &v) || __builtin_add_overflow(v, frac, &v))
        return -1;
    *cents = neg ? -v : v;
    return 0;
}

int64_t money_from_double(double v)
{
    /* Odoo's monetary values are rounded to the cent already; the nudge absorbs binary noise (84.33 is stored as
     * 84.329999…), as Odoo's own float_round does. */
    double c = v * 100.0;
    return (int64_t)(c < 0 ? -floor(-c + 0.5 + 1e-6) : floor(c + 0.5 + 1e-6));
}

void money_format(int64_t cents, char *out, size_t n)
{
    uint64_t u = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
    snprintf(out, n, "%s%" PRIu64 ".%02" PRIu64, cents < 0 ? "-" : "", u / 100, u % 100);
}

void money_discount_format(int64_t discount_e, int digits, char *out, size_t n)
{
    int64_t p = 1;
    for (int i = 0; i < digits; i++)
        p *= 10;
    if (digits == 0)
        snprintf(out, n, "%" PRId64, discount_e);
    else
        snprintf(out, n, "%" PRId64 ".%0*" PRId64, discount_e / p, digits, discount_e % p);
}

/* The amount of obj[key] in the booked currency: obj[key_set].presentment_money.amount when present, else
 * obj[key] (a string, or a JSON number as older payloads send). Absent → 0 when !required. */
static int amount_of(const json_t *obj, const char *key, bool required, int64_t *out)
{
    char set_key[64];
    snprintf(set_key, sizeof(set_key), "%s_set", key);
    const json_t *pm = json_object_get(json_object_get(json_object_get(obj, set_key), "presentment_money"), "amount");
    const json_t *v = json_is_string(pm) || json_is_number(pm) ? pm : json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = 0;
        return required ? -1 : 0;
    }
    if (json_is_number(v)) {
        *out = money_from_double(json_number_value(v));
        return 0;
    }
    return money_parse(json_string_value(v), out);
}

static int64_t int_of(const json_t *o, const char *k, int64_t dflt)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return dflt;
}

static const char *sval(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v && *v ? v : NULL;
}

/* ---- taxes -------------------------------------------------------------------------------------------------- */

static bool tax_line_counts(const json_t *t)
{
    int64_t price = 0;
    amount_of(t, "price", false, &price);
    return json_number_value(json_object_get(t, "rate")) != 0.0 || price != 0;
}

bool money_order_taxed(const json_t *order)
{
    static const char *const lists[] = {"line_items", "shipping_lines"};
    for (size_t k = 0; k < 2; k++) {
        size_t i, j;
        const json_t *l, *t;
        json_array_foreach(json_object_get(order, lists[k]), i, l)
            json_array_foreach(json_object_get(l, "tax_lines"), j, t)
                if (tax_line_counts(t))
                    return true;
    }
    return false;
}

static void rate_text(double rate, char *out, size_t n)
{
    /* 0.0625 → "6.25" (percent, trailing zeros dropped) */
    snprintf(out, n, "%.4f", rate * 100.0);
    char *e = out + strlen(out) - 1;
    while (e > out && *e == '0')
        *e-- = '\0';
    if (e > out && *e == '.')
        *e = '\0';
}

static const money_tax_t *tax_by_id(const money_tax_t *taxes, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (taxes[i].id == id)
            return &taxes[i];
    return NULL;
}

/* One Shopify tax (title, rate) → one Odoo tax id. */
static int match_tax(const money_cfg_t *cfg, const char *title, double rate, bool included, const money_tax_t *taxes,
                     size_t n, const char *line, int64_t *id, err_t *err)
{
    char pct[32], key[160], mapped[128] = "";
    rate_text(rate, pct, sizeof(pct));
    snprintf(key, sizeof(key), "%s@%s", title, pct);
    const char *incl = included ? "prices include tax (taxes_included)" : "prices exclude tax";
    if (cfg->tax_map && (cfg_map_get(cfg->tax_map, key, false, mapped, sizeof(mapped)) ||
                         cfg_map_get(cfg->tax_map, title, false, mapped, sizeof(mapped)))) {
        const money_tax_t *hit = NULL;
        int hits = 0;
        char *end = NULL;
        long long want = strtoll(mapped, &end, 10);
        for (size_t i = 0; i < n; i++) {
            bool same = (end && !*end && want > 0) ? taxes[i].id == want : strcmp(taxes[i].name, mapped) == 0;
            if (same) {
                hit = &taxes[i];
                hits++;
            }
        }
        if (hits == 1) {
            *id = hit->id;
            return 0;
        }
        err_set(err, ERR_CONFIGURATION, "config.tax_map",
                "tax_map maps Shopify tax \"%s\" (%s %%) to \"%s\", which is %s active sale tax of the Odoo company",
                title, pct, mapped, hits ? "more than one" : "no");
        err_hint(err, "name one active sale tax by its id or exact name in tax_map, then `synchub jobs retry`; retry "
                      "is safe (nothing was written)");
        return -1;
    }
    int hits = 0;
    buf_t names = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (!taxes[i].percent || fabs(taxes[i].amount - rate * 100.0) > 0.00005 || taxes[i].price_include != included)
            continue;
        *id = taxes[i].id;
        buf_printf(&names, "%s\"%s\" (id %" PRId64 ")", hits ? ", " : "", taxes[i].name, taxes[i].id);
        hits++;
    }
    int rc = 0;
    if (hits == 0) {
        rc = err_set(err, ERR_CONFIGURATION, "config.tax_unmatched",
                     "Shopify tax \"%s\" at %s %% on %s has no Odoo sale tax to match: no active percentage sale tax "
                     "of the company is %s %% with \"Included in Price\" %s (%s)",
                     title, pct, line, pct, included ? "on" : "off", incl);
        err_hint(err, "create that tax in Odoo (Invoicing/Accounting → Configuration → Taxes), or map it in the shop's "
                      "section: tax_map = %s=<Odoo tax id or name>; then `synchub jobs retry`; retry is safe",
                 key);
    } else if (hits > 1) {
        rc = err_set(err, ERR_CONFIGURATION, "config.tax_ambiguous",
                     "Shopify tax \"%s\" at %s %% on %s matches several Odoo sale taxes: %s; synchub will not guess",
                     title, pct, line, buf_str(&names));
        err_hint(err, "map it in the shop's section: tax_map = %s=<one of those ids>, (or archive the extra taxes); "
                      "then `synchub jobs retry`; retry is safe",
                 key);
    }
    buf_release(&names);
    return rc;
}

/* The Odoo taxes of one Shopify line, and Shopify's tax amount on it. */
static int line_taxes(const money_cfg_t *cfg, const json_t *src, bool included, const money_tax_t *taxes,
                      size_t ntaxes, money_line_t *l, err_t *err)
{
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(src, "tax_lines"), i, t)
    {
        if (!tax_line_counts(t))
            continue;
        int64_t amount;
        if (amount_of(t, "price", false, &amount) < 0)
            return err_set(err, ERR_DATA, "order.amount", "a tax amount of %s is not a decimal amount", l->label);
        l->tax += amount;
        const char *title = sval(t, "title") ? sval(t, "title") : "(untitled)";
        int64_t id;
        if (match_tax(cfg, title, json_number_value(json_object_get(t, "rate")), included, taxes, ntaxes, l->label,
                      &id, err) < 0)
            return -1;
        for (size_t k = 0; k < l->ntax; k++)
            if (l->tax_ids[k] == id) {
                const money_tax_t *x = tax_by_id(taxes, ntaxes, id);
                err_set(err, ERR_CONFIGURATION, "config.tax_ambiguous",
                        "two Shopify taxes of %s (the second is \"%s\") map to the same Odoo tax \"%s\" (id %" PRId64
                        "); Odoo cannot charge one tax twice on a line",
                        l->label, title, x ? x->name : "?", id);
                err_hint(err, "give each Shopify tax its own Odoo tax with tax_map in the shop's section, then "
                              "`synchub jobs retry`; retry is safe");
                return -1;
            }
        if (l->ntax == MONEY_MAX_TAXES)
            return err_set(err, ERR_DATA, "order.taxes", "%s carries more than %d taxes", l->label, MONEY_MAX_TAXES);
        l->tax_ids[l->ntax++] = id;
    }
    return 0;
}

/* ---- discounts ---------------------------------------------------------------------------------------------- */

/* The discount (in 10^-digits percent) with which Odoo's amount of gross less that percentage is net: exact when
 * possible, else rounding half up to it. -1 when none exists. */
static int64_t discount_for(int64_t gross, int64_t net, int digits)
{
    if (gross <= 0 || net == gross)
        return 0;
    int64_t scale = 100;
    for (int i = 0; i < digits; i++)
        scale *= 10; /* 100 % = scale */
    /* the percentage nearest Shopify's own ratio first, then outwards: an exact one, else one that rounds right */
    int64_t d0 = ((gross - net) * scale + gross / 2) / gross;
    static const int steps[] = {0, 1, -1, 2, -2, 3, -3};
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
            int64_t d = d0 + steps[k];
            if (d < 0 || d > scale)
                continue;
            int64_t num = gross * (scale - d); /* Odoo's amount × scale, in cents */
            bool exact = num % scale == 0 && num / scale == net;
            bool rounds = (num + scale / 2) / scale == net;
            if (pass == 0 ? exact : rounds)
                return d;
        }
    }
    return -1;
}

static int plan_discount(const money_cfg_t *cfg, money_line_t *l, err_t *err)
{
    int64_t gross = l->unit * l->qty;
    l->net = gross - l->discount;
    l->discount_e = discount_for(gross, l->net, cfg->discount_digits);
    if (l->discount_e >= 0)
        return 0;
    char g[32], d[32];
    money_format(gross, g, sizeof(g));
    money_format(l->discount, d, sizeof(d));
    err_set(err, ERR_CONFIGURATION, "config.discount_precision",
            "Shopify's discount of %s on %s (%s) is a percentage that Odoo's discount precision of %d decimals cannot "
            "give to the cent",
            d, g, l->label, cfg->discount_digits);
    err_hint(err, "raise Odoo's decimal accuracy \"Discount\" (Settings → Technical → Decimal Accuracy) to 4 digits and "
                  "set discount_digits = 4 in [odoo], then `synchub jobs retry`; retry is safe (nothing was written)");
    return -1;
}

/* ---- the plan ----------------------------------------------------------------------------------------------- */

static bool is_tip(const json_t *li)
{
    const char *title = sval(li, "title");
    return title && !strcasecmp(title, "Tip") && !sval(li, "sku") && int_of(li, "product_id", 0) == 0 &&
           int_of(li, "variant_id", 0) == 0;
}

static money_line_t *add(money_plan_t *p, size_t *cap)
{
    if (p->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        money_line_t *nl = realloc(p->lines, nc * sizeof(*nl));
        if (!nl)
            return NULL;
        p->lines = nl;
        *cap = nc;
    }
    money_line_t *l = &p->lines[p->n++];
    memset(l, 0, sizeof(*l));
    return l;
}

static int oom(err_t *err) { return err_set(err, ERR_INTERNAL, "order.oom", "out of memory planning the order"); }

int money_plan_build(const json_t *order, const money_cfg_t *cfg, const money_tax_t *taxes, size_t ntaxes,
                     money_plan_t *plan, err_t *err)
{
    memset(plan, 0, sizeof(*plan));
    size_t cap = 0;
    plan->taxes_included = json_is_true(json_object_get(order, "taxes_included"));
    const char *cur = sval(order, "presentment_currency") ? sval(order, "presentment_currency") : sval(order, "currency");
    snprintf(plan->currency, sizeof(plan->currency), "%s", cur ? cur : "");
    bool tip_seen = false;
    size_t i;
    const json_t *li;
    json_array_foreach(json_object_get(order, "line_items"), i, li)
    {
        money_line_t *l = add(plan, &cap);
        if (!l)
            goto oom;
        l->src = li;
        l->kind = json_is_true(json_object_get(li, "gift_card")) ? MONEY_GIFT_CARD
                  : is_tip(li)                                   ? MONEY_TIP
                                                                 : MONEY_ITEM;
        tip_seen |= l->kind == MONEY_TIP;
        snprintf(l->label, sizeof(l->label), "line %" PRId64 "%s%s%s", int_of(li, "id", 0), sval(li, "sku") ? " (" : "",
                 sval(li, "sku") ? sval(li, "sku") : "", sval(li, "sku") ? ")" : "");
        int64_t qty = int_of(li, "quantity", 0);
        l->qty = json_object_get(li, "current_quantity") ? int_of(li, "current_quantity", qty) : qty;
        if (amount_of(li, "price", true, &l->unit) < 0)
            goto bad_amount;
        const json_t *allocs = json_object_get(li, "discount_allocations");
        if (json_array_size(allocs)) {
            size_t k;
            const json_t *a;
            json_array_foreach(allocs, k, a)
            {
                int64_t x;
                if (amount_of(a, "amount", true, &x) < 0)
                    goto bad_amount;
                l->discount += x;
            }
            /* allocations cover the quantity ordered; units removed since take their share with them */
            if (qty > 0 && l->qty != qty)
                l->discount = (l->discount * l->qty + qty / 2) / qty;
        } else if (amount_of(li, "total_discount", false, &l->discount) < 0) {
            goto bad_amount;
        }
        if (line_taxes(cfg, li, plan->taxes_included, taxes, ntaxes, l, err) < 0 || plan_discount(cfg, l, err) < 0)
            goto fail;
    }
    json_array_foreach(json_object_get(order, "shipping_lines"), i, li)
    {
        int64_t price, net;
        if (amount_of(li, "price", true, &price) < 0)
            goto bad_amount;
        const json_t *dp = json_object_get(li, "discounted_price");
        if (dp && !json_is_null(dp)) {
            if (amount_of(li, "discounted_price", true, &net) < 0)
                goto bad_amount;
        } else {
            net = price;
        }
        if (net <= 0)
            continue; /* free, or discounted to nothing: no money, no line */
        money_line_t *l = add(plan, &cap);
        if (!l)
            goto oom;
        l->src = li;
        l->kind = MONEY_SHIPPING;
        l->qty = 1;
        l->unit = price;
        l->discount = price - net;
        snprintf(l->label, sizeof(l->label), "shipping line %" PRId64, int_of(li, "id", 0));
        if (line_taxes(cfg, li, plan->taxes_included, taxes, ntaxes, l, err) < 0 || plan_discount(cfg, l, err) < 0)
            goto fail;
    }
    /* Duties: one line each (a duty may carry taxes of its own, such as import VAT on the duty). */
    json_array_foreach(json_object_get(order, "line_items"), i, li)
    {
        size_t k;
        const json_t *du;
        json_array_foreach(json_object_get(li, "duties"), k, du)
        {
            money_line_t *l = add(plan, &cap);
            if (!l)
                goto oom;
            l->kind = MONEY_DUTY;
            l->src = du;
            l->qty = 1;
            snprintf(l->label, sizeof(l->label), "duty %zu of line %" PRId64, k + 1, int_of(li, "id", 0));
            if (amount_of(du, "price", true, &l->unit) < 0)
                goto bad_amount;
            if (l->unit <= 0) {
                plan->n--;
                continue;
            }
            if (line_taxes(cfg, du, plan->taxes_included, taxes, ntaxes, l, err) < 0 || plan_discount(cfg, l, err) < 0)
                goto fail;
        }
    }
    int64_t tip = 0;
    if (amount_of(order, "total_tip_received", false, &tip) < 0)
        goto bad_amount;
    if (tip > 0 && !tip_seen) {
        money_line_t *l = add(plan, &cap);
        if (!l)
            goto oom;
        l->kind = MONEY_TIP;
        l->qty = 1;
        l->unit = l->net = tip;
        snprintf(l->label, sizeof(l->label), "tip");
    }
    const char *tk = json_object_get(order, "current_total_price") || json_object_get(order, "current_total_price_set")
                         ? "current_total_price"
                         : "total_price";
    const char *xk = json_object_get(order, "current_total_tax") || json_object_get(order, "current_total_tax_set")
                         ? "current_total_tax"
                         : "total_tax";
    if (amount_of(order, tk, false, &plan->total) < 0 || amount_of(order, xk, false, &plan->tax) < 0)
        goto bad_amount;
    return 0;
bad_amount:
    err_set(err, ERR_DATA, "order.amount", "an amount of the order is not a decimal in cents");
    goto fail;
oom:
    oom(err);
fail:
    money_plan_free(plan);
    return -1;
}

void money_plan_free(money_plan_t *plan)
{
    free(plan->lines);
    plan->lines = NULL;
    plan->n = 0;
}
