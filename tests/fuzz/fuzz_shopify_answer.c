/* fuzz_shopify_answer: the readers of Shopify's Admin API answers: GraphQL envelopes and errors
 * (shopify_classify), the cost extension (shopify_cost_requested) and an order as GraphQL returns it
 * (shopify_order_from_graphql). Input: 2 bytes of HTTP status, then the body. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shopify/shopify.h"
#include "shopify/shopify_orders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    long status = 100 + (long)((data[0] << 8 | data[1]) % 500);
    json_t *doc = json_loadb((const char *)data + 2, size - 2, 0, NULL);
    err_t err;
    memset(&err, 0, sizeof(err));
    int verdict = shopify_classify(status, doc, "2025-10", "fuzz order", &err);
    if (verdict < 0 && err.cls == ERR_NONE)
        abort();
    (void)shopify_cost_requested(json_object_get(doc, "extensions"));
    json_t *order = json_object_get(json_object_get(doc, "data"), "order");
    if (!order)
        order = doc;
    memset(&err, 0, sizeof(err));
    json_t *rest = shopify_order_from_graphql(order, &err);
    json_decref(rest);
    json_decref(doc);
    return 0;
}
