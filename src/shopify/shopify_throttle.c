/* shopify_throttle: the estimate of one shop's cost bucket, shared by the threads that call the shop.
 * The arithmetic (shopify_bucket_*) is pure so that tests can drive it with made-up clocks; shopify_throttle_t
 * adds a mutex and the reservations of requests sent but not yet answered. All figures come from Shopify's own
 * throttleStatus reports: none is configured or written down here.
 *
 * A reservation's life:
 *   estimate ok   -> reserved += cost                 [shopify_throttle_reserve returns 0; the request is sent]
 *   answer        -> reserved -= cost, bucket = report [shopify_throttle_done]
 *   no fit        -> nothing reserved, wait returned   [shopify_throttle_reserve returns ms > 0]
 *   waiting       -> until that time or the next answer, whichever comes first, then ask again
 *                                                      [shopify_throttle_sleep] */
#include "shopify/shopify.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"

static bool number_of(const json_t *obj, const char *key, double *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return isfinite(*out);
}

int shopify_bucket_update(shopify_bucket_t *b, const json_t *extensions, int64_t now_ms)
{
    const json_t *ts = json_object_get(json_object_get(extensions, "cost"), "throttleStatus");
    double max, avail, restore;
    if (!number_of(ts, "maximumAvailable", &max) || !number_of(ts, "currentlyAvailable", &avail) ||
        !number_of(ts, "restoreRate", &restore) || max <= 0 || restore < 0)
        return -1;
    b->maximum = max;
    b->available = avail < 0 ? 0 : avail > max ? max : avail;
    b->restore = restore;
    b->at_ms = now_ms;
    return 0;
}

double shopify_bucket_available(const shopify_bucket_t *b, int64_t now_ms)
{
    if (b->maximum <= 0)
        return 0;
    double dt = now_ms > b->at_ms ? (double)(now_ms - b->at_ms) / 1000.0 : 0;
    double a = b->available + dt * b->restore;
    return a > b->maximum ? b->maximum : a;
}

int64_t shopify_bucket_wait_ms(const shopify_bucket_t *b, double cost, int64_t now_ms)
{
    if (b->maximum <= 0)
        return 0; /* nothing reported yet: send, and learn the figures from the answer */
    if (cost > b->maximum)
        cost = b->maximum;
    double missing = cost - shopify_bucket_available(b, now_ms);
    if (missing <= 0)
        return 0;
    if (b->restore <= 0)
        return -1;
    double ms = ceil(missing * 1000.0 / b->restore);
    return ms < 1 ? 1 : ms > 86400000.0 ? 86400000 : (int64_t)ms;
}

static int cost_field(const json_t *extensions, const char *key)
{
    const json_t *v = json_object_get(json_object_get(extensions, "cost"), key);
    if (!json_is_number(v))
        return -1;
    double d = json_number_value(v);
    return d < 0 || d > 1e9 ? -1 : (int)ceil(d);
}

int shopify_cost_requested(const json_t *extensions) { return cost_field(extensions, "requestedQueryCost"); }
int shopify_cost_actual(const json_t *extensions) { return cost_field(extensions, "actualQueryCost"); }

/* ---- shared estimate ----------------------------------------------------------------------------------------- */

struct shopify_throttle {
    pthread_mutex_t mu;
    shopify_bucket_t bucket;  /* the latest report */
    double reserved;          /* cost of the requests sent and not yet answered */
    uint64_t answers;         /* counts shopify_throttle_done calls, to wake sleepers */
    pthread_cond_t cv;        /* signalled on every answer */
};

shopify_throttle_t *shopify_throttle_new(void)
{
    shopify_throttle_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return NULL;
    }
    if (pthread_cond_init(&t->cv, NULL) != 0) {
        pthread_mutex_destroy(&t->mu);
        free(t);
        return NULL;
    }
    return t;
}

void shopify_throttle_free(shopify_throttle_t *t)
{
    if (!t)
        return;
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

int64_t shopify_throttle_reserve(shopify_throttle_t *t, double cost, int64_t now_ms)
{
    pthread_mutex_lock(&t->mu);
    int64_t wait = 0;
    const shopify_bucket_t *b = &t->bucket;
    if (b->maximum > 0) {
        /* A cost above the bucket's size can never fit; it goes when the bucket is full and nothing else is out
         * (Shopify then answers MAX_COST_EXCEEDED, an error worth seeing rather than waiting for forever). */
        double c = cost > b->maximum ? b->maximum : cost;
        if (c + t->reserved <= b->maximum)
            wait = shopify_bucket_wait_ms(b, c + t->reserved, now_ms);
        else if (b->restore > 0)
            wait = (int64_t)ceil(t->reserved * 1000.0 / b->restore); /* only the answers in flight make room */
        else
            wait = -1;
        if (wait == 0 && c + t->reserved > b->maximum)
            wait = 1;
    }
    if (wait == 0)
        t->reserved += cost;
    pthread_mutex_unlock(&t->mu);
    /* restoreRate 0 cannot be waited out; ask again in a second, when a later report may say otherwise. */
    return wait < 0 ? 1000 : wait;
}

void shopify_throttle_sleep(shopify_throttle_t *t, int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec until;
    clock_deadline(ms, &until);
    pthread_mutex_lock(&t->mu);
    uint64_t gen = t->answers;
    while (t->answers == gen)
        if (pthread_cond_timedwait(&t->cv, &t->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&t->mu);
}

void shopify_throttle_done(shopify_throttle_t *t, double cost, const json_t *extensions, int64_t now_ms)
{
    pthread_mutex_lock(&t->mu);
    t->reserved -= cost;
    if (t->reserved < 1e-9)
        t->reserved = 0;
    if (extensions)
        shopify_bucket_update(&t->bucket, extensions, now_ms);
    t->answers++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void shopify_throttle_snapshot(shopify_throttle_t *t, shopify_bucket_t *out, double *reserved)
{
    pthread_mutex_lock(&t->mu);
    if (out)
        *out = t->bucket;
    if (reserved)
        *reserved = t->reserved;
    pthread_mutex_unlock(&t->mu);
}
