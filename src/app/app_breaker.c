/* app_breaker: the circuit breakers of one node — one per remote system the config names (the [odoo] database,
 * every [shop] with an admin_token), each probed with its client's cheapest request. Not here: the state machine
 * (queue/queue_breaker.c) or what counts as an outage (the clients set err_t.target). */
#include "app/app.h"
#include "odoo/odoo.h"
#include "shopify/shopify.h"

static int probe_odoo(void *ud, err_t *err)
{
    return odoo_probe(ud, err);
}

static int probe_shop(void *ud, err_t *err)
{
    return shopify_probe(ud, err);
}

queue_breaker_t *app_breaker_new(const cfg_t *cfg)
{
    queue_breaker_cfg_t bc = {(int)cfg->breaker_failures, cfg->breaker_window_ms, 1000, cfg->breaker_probe_max_ms,
                              /* a paused job waits at most this long if its node dies holding it */
                              cfg->breaker_probe_max_ms * 4 > 300000 ? cfg->breaker_probe_max_ms * 4 : 300000};
    queue_breaker_t *b = queue_breaker_new(&bc);
    if (!b)
        return NULL;
    char name[128];
    if (cfg->odoo.configured) {
        odoo_target(&cfg->odoo, name, sizeof(name));
        if (queue_breaker_add(b, name, probe_odoo, (void *)&cfg->odoo) < 0)
            goto fail;
    }
    for (size_t i = 0; i < cfg->nshops; i++) {
        if (!cfg->shops[i].admin_token.value)
            continue; /* no Admin API calls, nothing that can be down */
        shopify_target(&cfg->shops[i], name, sizeof(name));
        if (queue_breaker_add(b, name, probe_shop, (void *)&cfg->shops[i]) < 0)
            goto fail;
    }
    return b;
fail:
    queue_breaker_free(b);
    return NULL;
}
