/* flow_money: what a Shopify order's money becomes on the lines of an Odoo sale order — per line the unit price,
 * the discount percentage and the Odoo taxes with which Odoo's line totals and tax equal Shopify's to the cent —
 * and Shopify's figures Odoo's amounts must equal. Pure (no I/O): the order writer (flow_orders.c) reads Odoo's
 * taxes, writes what the plan says, reads the totals back and compares them with the plan's.
 * Not here: products, customers, RPCs, configuration parsing (cfg.c).
 *
 * Amounts are integers in the currency's minor unit (cents), parsed exactly from Shopify's decimals; the booked
 * currency is the order's presentment currency (the amounts of each *_set.presentment_money), else `currency`.
 * The lines of the plan, in order: every line item (a gift card, `gift_card: true`, and a tip, a line titled "Tip"
 * without product or SKU, get their own kinds), then every shipping line with a price above zero after its
 * discounts, then one line per duty (with the duty's own taxes), then a tip line from total_tip_received when no
 * line item was the tip.
 * Discounts: a line's discount is the sum of its discount_allocations (every discount Shopify spread onto it:
 * line, order, code, automatic, manual), else its total_discount; shipping's is price − discounted_price. Odoo gets
 * it as the line's discount percentage, kept to `discount_digits` decimals (Odoo's "Discount" decimal accuracy),
 * chosen so that Odoo's line amount is Shopify's line total: exactly when such a percentage exists (2 × 24.00 less
 * 4.80 is 10 %), else one that Odoo's rounding brings to it (59.80 less 4.00 is 6.6889 %; Odoo keeps 6.69 %, and
 * 59.80 × 0.9331 = 55.79938 rounds to Shopify's 55.80).
 * Taxes: each tax line with a rate or an amount is matched to one Odoo tax (tax_map first, "Title@rate" then
 * "Title"; by default the one active percentage sale tax of the company at that rate whose "Included in Price" is
 * the order's taxes_included); a line without such tax lines gets no tax at all. */
#ifndef SYNCHUB_FLOW_MONEY_H
#define SYNCHUB_FLOW_MONEY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* An Odoo sale tax of the order's company, as read from account.tax. */
typedef struct money_tax {
    int64_t id;
    char name[96];
    double amount;       /* 6.25 for a 6.25 % tax */
    bool percent;        /* amount_type = percent (the only kind matched by rate) */
    bool price_include;  /* account.tax.price_include (18 and 19: the override, else the company's default) */
} money_tax_t;

typedef enum { MONEY_ITEM, MONEY_SHIPPING, MONEY_GIFT_CARD, MONEY_TIP, MONEY_DUTY } money_kind_t;

#define MONEY_MAX_TAXES 8

typedef struct money_line {
    money_kind_t kind;
    const json_t *src;          /* the Shopify line item, shipping line or duty (borrowed); NULL for a tip made
                                 * from total_tip_received */
    int64_t qty;
    int64_t unit;               /* unit price before discounts */
    int64_t discount;           /* Shopify's discounts on the line */
    int64_t net;                /* unit × qty − discount: Shopify's line total (tax included if taxes_included) */
    int64_t tax;                /* Shopify's tax on the line (sum of its tax lines) */
    int64_t discount_e;         /* Odoo's discount in 10^-discount_digits percent: 669 = 6.69 % (digits 2) */
    int64_t tax_ids[MONEY_MAX_TAXES];
    size_t ntax;
    char label[96];             /* "line 14982113476701 (ACME-TEE-BLK-M)", "shipping line 5038275993701" */
} money_line_t;

typedef struct money_cfg {
    const char *tax_map;        /* [shop] tax_map: "Shopify title[@rate]=Odoo tax id or name, …" (may be NULL) */
    int discount_digits;        /* decimals Odoo keeps of a line's discount (its "Discount" accuracy, default 2) */
} money_cfg_t;

typedef struct money_plan {
    money_line_t *lines;
    size_t n;
    bool taxes_included;
    char currency[8];           /* the booked currency: presentment_currency, else currency */
    int64_t total, tax;         /* Shopify's current total and tax (current_* fields, else total_price/total_tax) */
} money_plan_t;

/* Does the order carry a tax line with a rate or an amount? (Only then are Odoo's taxes needed.) */
bool money_order_taxed(const json_t *order);

/* Plan the order's money. taxes: the company's active sale taxes (may be NULL when none is needed). 0, or -1 with
 * err: configuration "config.tax_unmatched" / "config.tax_ambiguous" / "config.tax_map" (a Shopify tax has no or
 * several Odoo taxes, or the map names a tax that is not an active sale tax), "config.discount_precision" (no
 * discount with discount_digits decimals gives Shopify's line total); data "order.amount" (an amount that is not
 * a decimal in cents). The message names the line and the Shopify tax title and rate. */
int money_plan_build(const json_t *order, const money_cfg_t *cfg, const money_tax_t *taxes, size_t ntaxes,
                     money_plan_t *plan, err_t *err);
void money_plan_free(money_plan_t *plan);

/* "84.33" ("-0.05"), always two decimals. */
void money_format(int64_t cents, char *out, size_t n);
/* "6.69" for a discount_e of 669 with 2 digits. */
void money_discount_format(int64_t discount_e, int digits, char *out, size_t n);
/* Exact decimal text (or a JSON number's text) to cents: "24", "24.5", "24.50". 0, or -1 (not a decimal, more than
 * two decimals that are not zeros, out of range). */
int money_parse(const char *text, int64_t *cents);
/* Odoo's amount (a JSON real such as 84.33) in cents, rounded half away from zero. */
int64_t money_from_double(double v);

#endif
