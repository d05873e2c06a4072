/* flows: the entry of src/flows/ — registers the job kinds of the Odoo → Shopify flows (stock, fulfillments,
 * reconciliation) when a shop has what they need. Each flow registers its own kinds; this file only calls them,
 * so the shared plumbing (flow_common.c) never reaches up into a flow. Not here: what a flow does. */
#include "flows/flows_internal.h"

int sync_register(queue_registry_t *reg, sync_t *sy)
{
    bool any = false;
    for (size_t i = 0; i < sync_cfg(sy)->nshops; i++)
        any = any || sync_enabled(sync_cfg(sy), &sync_cfg(sy)->shops[i], SYNC_KIND_FULFILL);
    if (!any)
        return 0;
    if (sync_stock_register(reg, sy) < 0 || sync_fulfillment_register(reg, sy) < 0 ||
        sync_reconcile_register(reg, sy) < 0 || sync_subscriptions_register(reg, sy) < 0)
        return -1;
    return 0;
}
