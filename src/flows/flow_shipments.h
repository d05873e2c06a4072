/* flow_shipments: the logistics.shipment_event job kind — one canonical shipment event (ingest_event.h) applied to
 * its Odoo delivery (stock.picking): tracking reference, a chatter message per milestone, the delivery date, an
 * activity for exceptions; in lifecycle order per shipment. Not here: ingestion or the wire protocol. */
#ifndef SYNCHUB_FLOW_SHIPMENTS_H
#define SYNCHUB_FLOW_SHIPMENTS_H

#include "core/cfg.h"
#include "queue/queue.h"

/* Register the handler when [odoo] is configured (cfg borrowed for the registry's lifetime). 0 or -1. */
int odoo_shipments_register(queue_registry_t *reg, const cfg_t *cfg);

#endif
