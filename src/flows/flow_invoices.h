/* flow_invoices: order to cash for one confirmed sale order — the customer invoice made from the order through Odoo's
 * "Create Invoice" wizard, posted once its total matches the order's, and one registered payment per successful
 * Shopify sale/capture transaction in the journal mapped from its gateway. Exactly once: the invoice is the sale
 * order's own (sale.order.invoice_ids), a payment is found again by its memo carrying the order and transaction ids.
 * Each Shopify refund of an invoiced order becomes one posted credit note of exactly its lines and shipping (the
 * invoice's reversal wizard, then the lines kept to what was refunded), its refund transactions outgoing payments,
 * and its restock_type=return lines one validated return of the delivery (the delivery's return wizard).
 * Not here: writing the sale order (flow_orders.c). */
#ifndef SYNCHUB_FLOW_INVOICES_H
#define SYNCHUB_FLOW_INVOICES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/cfg.h"
#include "odoo/odoo.h"
#include "queue/queue.h"

typedef struct flow_invoices_order {
    const cfg_shop_t *shop;
    const json_t *order;        /* the Shopify order, REST shape (financial_status, fulfillment_status, name, …) */
    const json_t *transactions; /* [{id, kind, status, gateway, amount, currency, processed_at}] or NULL: then a
                                   paid order counts as one sale of total_price on its first gateway */
    const json_t *refunds;      /* shopify_order_money's refunds, or NULL (no admin_token: refunds not booked) */
    const char *shipping_product; /* Odoo default_code of the shipping line's product */
    const char *id;             /* Shopify order id */
    const char *label;          /* the record every error names */
    int64_t sale_order_id;
    bool cancelled;             /* cancelled in Shopify (and the sale order in Odoo): its refunds are booked, and
                                   what of a posted invoice no credit note covers yet gets one of its own */
} flow_invoices_order_t;

/* Invoice and payments for the order when the shop's invoice_on says it is time. 0 done (or nothing due; run->note
 * may say why), -1 failed (run->err classified: closed period, missing journal, missing rights, a user without an
 * e-mail address are configuration; a total that differs is data). Safe to repeat: finds what an earlier try made. */
int flow_invoices_apply(odoo_t *o, queue_run_t *run, const flow_invoices_order_t *in);

/* The journal code that payment_journals ("shopify_payments=BNK1, paypal=PAYPL, *=BNK1") maps gateway to (the
 * entry "*" for any other gateway): 1 with code filled, 0 when nothing maps it. */
int flow_invoices_journal_for(const char *map, const char *gateway, char *code, size_t n);

#endif
