/* queue_policy: job ids, per-kind defaults and backoff. Order and stock kinds outrank catalog and reconciliation
 * work so that a flash sale's orders are not stuck behind a bulk job. */
#include <string.h>

#include "core/crypto.h"
#include "queue/queue.h"

void queue_job_id(const char *idem_key, size_t len, char out[JOB_ID_LEN + 1])
{
    unsigned char h[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    crypto_sha256(idem_key, len, h);
    crypto_hex(h, sizeof(h), hex);
    memcpy(out, hex, JOB_ID_LEN);
    out[JOB_ID_LEN] = '\0';
}

typedef struct kind_default {
    const char *pattern;     /* exact kind, or prefix ending in '.' */
    queue_policy_t policy;
} kind_default_t;

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
static const kind_default_t defaults[] = {
    {"shopify.order", {100, 12, 2 * SEC, HOUR, 5 * MIN}},
    {"shopify.fulfillment", {100, 12, 2 * SEC, HOUR, 5 * MIN}},
    {"shopify.inventory_level", {90, 12, 2 * SEC, HOUR, 5 * MIN}},
    {"odoo.", {90, 12, 2 * SEC, HOUR, 5 * MIN}},
    /* A carrier's first scan may come before the delivery exists in Odoo: 20 attempts, capped at 30 minutes,
     * wait about 6 hours in all before the event goes dead (logistics.unknown_shipment). */
    {"logistics.shipment_event", {80, 20, 5 * SEC, 30 * MIN, 5 * MIN}},
    {"logistics.", {80, 12, 2 * SEC, HOUR, 5 * MIN}},
    {"shopify.", {50, 10, 2 * SEC, HOUR, 5 * MIN}},
    {"reconcile.", {10, 5, 30 * SEC, HOUR, 30 * MIN}},
    /* Odoo → Shopify. Polls are cheap to repeat and rescheduled anyway; pushes are one record each. */
    {"stock.poll", {60, 8, 2 * SEC, 10 * MIN, 10 * MIN}},
    {"stock.sku", {60, 12, 2 * SEC, HOUR, 5 * MIN}},
    {"fulfillment.poll", {70, 8, 2 * SEC, 10 * MIN, 10 * MIN}},
    {"fulfillment.push", {80, 12, 2 * SEC, HOUR, 5 * MIN}},
    {"test.", {0, 5, SEC, 30 * SEC, MIN}},
};
static const queue_policy_t fallback = {0, 10, 2 * SEC, HOUR, 5 * MIN};

queue_policy_t queue_policy_for(const cfg_t *cfg, const char *kind)
{
    queue_policy_t p = fallback;
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        const char *pat = defaults[i].pattern;
        size_t n = strlen(pat);
        if (pat[n - 1] == '.' ? strncmp(kind, pat, n) == 0 : strcmp(kind, pat) == 0) {
            p = defaults[i].policy;
            break;
        }
    }
    const cfg_kind_t *k = cfg ? cfg_kind_find(cfg, kind) : NULL;
    if (k) {
        if (k->set & CFG_KIND_PRIORITY)
            p.priority = (int)k->priority;
        if (k->set & CFG_KIND_MAX_ATTEMPTS)
            p.max_attempts = (int)k->max_attempts;
        if (k->set & CFG_KIND_BACKOFF_BASE)
            p.backoff_base_ms = k->backoff_base_ms;
        if (k->set & CFG_KIND_BACKOFF_CAP)
            p.backoff_cap_ms = k->backoff_cap_ms;
        if (k->set & CFG_KIND_LEASE)
            p.lease_ms = k->lease_ms;
    }
    if (p.backoff_cap_ms < p.backoff_base_ms)
        p.backoff_cap_ms = p.backoff_base_ms;
    return p;
}

int64_t queue_backoff_ms(const queue_policy_t *p, int attempt, uint64_t *rng)
{
    int64_t ceiling = p->backoff_base_ms;
    for (int i = 1; i < attempt && ceiling < p->backoff_cap_ms; i++)
        ceiling *= 2;
    if (ceiling > p->backoff_cap_ms)
        ceiling = p->backoff_cap_ms;
    /* xorshift64*: cheap, per-thread, good enough to spread retries; never used for ids. */
    uint64_t x = *rng ? *rng : 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    uint64_t r = x * 2685821657736338717ULL;
    int64_t d = (int64_t)(r % (uint64_t)(ceiling + 1));
    return d < 10 ? 10 : d;
}
