/* ingest_shopify: POST /webhooks/shopify. Order of checks (docs/SPEC-inbox.md): size (in httpd) → shop → HMAC →
 * headers → JSON → resource id → durable commit → answer. Nothing is parsed before the signature is verified, and
 * nothing but a committed (or already present) job is answered 2xx. */
#define _GNU_SOURCE
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "ingest/ingest_internal.h"
#include "queue/queue.h"

/* ---- signature --------------------------------------------------------------------------------------------- */

static bool sig_matches(const cfg_secret_t *secret, const void *body, size_t len, const unsigned char *sig,
                        int siglen)
{
    unsigned char mac[CRYPTO_SHA256_LEN];
    if (!secret->value || crypto_hmac_sha256(secret->value, secret->len, body, len, mac) < 0)
        return false;
    return crypto_equal(mac, sizeof(mac), sig, (size_t)siglen);
}

int ingest_shopify_verify(const cfg_shop_t *shop, const void *body, size_t len, const char *sig_b64)
{
    /* A SHA-256 signature is exactly 32 bytes, 44 base64 characters: anything else is refused before any decode,
     * and the decode is bounded by the buffer anyway. */
    unsigned char sig[CRYPTO_SHA256_LEN];
    size_t n = sig_b64 ? strnlen(sig_b64, CRYPTO_SHA256_B64_LEN + 1) : 0;
    if (n != CRYPTO_SHA256_B64_LEN)
        return -1;
    int siglen = crypto_base64_decode(sig_b64, n, sig, sizeof(sig));
    if (siglen != CRYPTO_SHA256_LEN)
        return -1;
    /* Check both secrets always, so timing does not reveal which one matched. */
    bool a = sig_matches(&shop->webhook_secret, body, len, sig, siglen);
    bool b = sig_matches(&shop->webhook_secret_previous, body, len, sig, siglen);
    return (a | b) ? 0 : -1;
}

/* ---- classification ---------------------------------------------------------------------------------------- */

typedef enum { RES_ID, RES_ORDER_ID, RES_ITEM_AT_LOCATION, RES_NONE } res_rule_t;

typedef struct topic_rule {
    const char *prefix;       /* topic prefix, e.g. "orders/" */
    const char *kind;
    const char *object;       /* ordering-key object name */
    res_rule_t res;
} topic_rule_t;

static const topic_rule_t topic_rules[] = {
    {"orders/", "shopify.order", "order", RES_ID},
    {"fulfillments/", "shopify.fulfillment", "order", RES_ORDER_ID},
    {"refunds/", "shopify.order", "order", RES_ORDER_ID},  /* booked by the order's job, from the fetched order */
    {"products/", "shopify.product", "product", RES_ID},
    {"inventory_levels/", "shopify.inventory_level", "inventory", RES_ITEM_AT_LOCATION},
    {"customers/", "shopify.customer", "customer", RES_ID},
    {"", "shopify.other", NULL, RES_NONE},
};

static const char *const field_names[INGEST_F_COUNT] = {
    [INGEST_F_ID] = "id", [INGEST_F_ORDER_ID] = "order_id", [INGEST_F_ITEM] = "inventory_item_id",
    [INGEST_F_LOCATION] = "location_id", [INGEST_F_UPDATED_AT] = "updated_at"};

int ingest_shopify_fields(const char *body, size_t len, ingest_fields_t *out, jscan_error_t *err)
{
    return jscan_object(body, len, field_names, out->f, INGEST_F_COUNT, err);
}

void ingest_event_release(ingest_event_t *ev)
{
    free(ev->ordering_key);
    free(ev->idem_key);
    free(ev->resource);
    memset(ev, 0, sizeof(*ev));
}

int ingest_shopify_describe(const char *shop, const char *topic, const ingest_fields_t *body, const char *event_id,
                            const char *webhook_id, const char *triggered_at, int64_t now_ms, ingest_event_t *out,
                            err_t *err)
{
    memset(out, 0, sizeof(*out));
    const topic_rule_t *rule = topic_rules;
    while (strncmp(topic, rule->prefix, strlen(rule->prefix)) != 0)
        rule++;
    char a[32] = "", b[32] = "";
    const char *missing = NULL;
    switch (rule->res) {
    case RES_ID:
        if (jscan_span_id(&body->f[INGEST_F_ID], a, sizeof(a)) < 0)
            missing = "id";
        break;
    case RES_ORDER_ID:
        if (jscan_span_id(&body->f[INGEST_F_ORDER_ID], a, sizeof(a)) < 0)
            missing = "order_id";
        break;
    case RES_ITEM_AT_LOCATION:
        if (jscan_span_id(&body->f[INGEST_F_ITEM], a, sizeof(a)) < 0)
            missing = "inventory_item_id";
        else if (jscan_span_id(&body->f[INGEST_F_LOCATION], b, sizeof(b)) < 0)
            missing = "location_id";
        break;
    case RES_NONE:
        if (jscan_span_id(&body->f[INGEST_F_ID], a, sizeof(a)) < 0)
            a[0] = '\0'; /* optional for topics we do not model */
        break;
    }
    if (missing) {
        err_set(err, ERR_DATA, "webhook.resource",
                "%s delivery has no usable \"%s\" (a positive integer or digit string)", topic, missing);
        err_record(err, "shop %s, webhook %s", shop, webhook_id);
        return -1;
    }
    out->kind = rule->kind;
    int rc;
    if (rule->res == RES_ITEM_AT_LOCATION) {
        rc = asprintf(&out->resource, "%s:%s", a, b);
    } else {
        rc = asprintf(&out->resource, "%s", a);
    }
    if (rc < 0)
        goto oom;
    if (rule->object)
        rc = asprintf(&out->ordering_key, "shopify:%s:%s:%s", shop, rule->object, out->resource);
    else
        rc = asprintf(&out->ordering_key, "shopify:%s:%s", shop, topic);
    if (rc < 0)
        goto oom;

    /* Event time: the resource's own updated_at is the truest version; Triggered-At the next best. */
    char upd[64];
    const char *updated_at = jscan_span_text(&body->f[INGEST_F_UPDATED_AT], upd, sizeof(upd)) == 0 ? upd : NULL;
    int64_t t;
    if (updated_at && clock_parse_iso8601(updated_at, &t) == 0)
        out->event_time_ms = t;
    else if (triggered_at && clock_parse_iso8601(triggered_at, &t) == 0)
        out->event_time_ms = t;
    else
        out->event_time_ms = now_ms;

    /* Idempotency: redeliveries and duplicate subscriptions share the event id; without one, the resource
     * version; as a last resort the delivery id (then only exact redeliveries collapse). */
    if (event_id && *event_id)
        rc = asprintf(&out->idem_key, "shopify|%s|%s|%s|e:%s", shop, topic, out->resource, event_id);
    else if (updated_at)
        rc = asprintf(&out->idem_key, "shopify|%s|%s|%s|u:%s", shop, topic, out->resource, updated_at);
    else
        rc = asprintf(&out->idem_key, "shopify|%s|%s|%s|w:%s", shop, topic, out->resource, webhook_id);
    if (rc < 0)
        goto oom;
    return 0;
oom:
    ingest_event_release(out);
    return err_set(err, ERR_INTERNAL, "ingest.oom", "out of memory");
}

/* ---- the route --------------------------------------------------------------------------------------------- */

static const char *header2(httpd_req_t *r, const char *name)
{
    /* Shopify's newer Events deliveries drop the X- prefix: accept both spellings. */
    const char *v = httpd_req_header(r, name);
    return v ? v : httpd_req_header(r, name + 2);
}

static void reject(ingest_t *in, httpd_req_t *r, int status, const char *why, const char *shop, const char *topic)
{
    ingest__reject(in, r, status, "shopify", "webhook", why, "shop", shop, "topic", topic);
}

/* The delivery's headers as a small JSON object, kept with the job (`jobs show`). Built by hand: it runs on every
 * acknowledged webhook. */
static char *delivery_meta(const char *topic, const char *webhook_id, const char *event_id, const char *triggered_at,
                           const char *api_version, const char *shop, int64_t now)
{
    const char *names[] = {"topic", "webhook_id", "event_id", "triggered_at", "api_version", "shop"};
    const char *values[] = {topic, webhook_id, event_id, triggered_at, api_version, shop};
    buf_t b = BUF_INIT;
    int rc = buf_append(&b, "{", 1);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && rc == 0; i++) {
        if (!values[i])
            continue;
        rc = buf_printf(&b, "\"%s\":", names[i]);
        if (rc == 0)
            rc = buf_json_str(&b, values[i]);
        if (rc == 0)
            rc = buf_append(&b, ",", 1);
    }
    if (rc == 0)
        rc = buf_printf(&b, "\"received_at\":%lld}", (long long)now);
    if (rc < 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

void ingest_shopify_webhook(void *udata, httpd_req_t *r)
{
    ingest_t *in = udata;
    size_t len;
    const char *body = httpd_req_body(r, &len);
    const char *shop = header2(r, "X-Shopify-Shop-Domain");
    if (!shop || !*shop)
        return reject(in, r, 400, "missing X-Shopify-Shop-Domain header", NULL, NULL);
    const cfg_shop_t *sc = cfg_shop_find(in->cfg, shop);
    if (!sc)
        return reject(in, r, 404, "unknown shop (no [shop] section for it)", NULL, NULL);
    if (ingest_shopify_verify(sc, body, len, header2(r, "X-Shopify-Hmac-Sha256")) < 0)
        return reject(in, r, 401, "missing or invalid X-Shopify-Hmac-Sha256 signature", sc->domain, NULL);

    const char *topic = header2(r, "X-Shopify-Topic");
    const char *webhook_id = header2(r, "X-Shopify-Webhook-Id");
    const char *event_id = header2(r, "X-Shopify-Event-Id");
    if (!topic || !*topic || strlen(topic) >= 64)
        return reject(in, r, 400, "missing X-Shopify-Topic header", sc->domain, NULL);
    if (!webhook_id || !*webhook_id || strlen(webhook_id) > 128)
        return reject(in, r, 400, "missing X-Shopify-Webhook-Id header", sc->domain, topic);
    if (event_id && strlen(event_id) > 128)
        return reject(in, r, 400, "X-Shopify-Event-Id header too long", sc->domain, topic);

    ingest_fields_t fields;
    jscan_error_t jerr;
    if (ingest_shopify_fields(body, len, &fields, &jerr) < 0) {
        char why[200];
        snprintf(why, sizeof(why), "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.message);
        return reject(in, r, 400, why, sc->domain, topic);
    }

    int64_t now = clock_now_ms();
    const char *triggered_at = header2(r, "X-Shopify-Triggered-At");
    ingest_pending_t *p = calloc(1, sizeof(*p));
    ingest_event_t ev;
    err_t err;
    if (!p)
        return reject(in, r, 503, "out of memory", sc->domain, topic);
    if (ingest_shopify_describe(sc->domain, topic, &fields, event_id, webhook_id, triggered_at, now, &ev, &err) < 0) {
        ingest__pending_free(p);
        return reject(in, r, err.cls == ERR_DATA ? 400 : 503, err.message, sc->domain, topic);
    }
    ingest__pending_label(p, r, "shopify", "webhook", "shop", sc->domain, "topic", topic);
    /* ev's strings move into p (freed with it); resource is not needed past describe. */
    p->job.ordering_key = ingest__own(p, ev.ordering_key);
    const char *idem = ingest__own(p, ev.idem_key);
    free(ev.resource);
    p->job.correlation_id = ingest__own(p, strdup(event_id && *event_id ? event_id : webhook_id));
    p->job.meta = ingest__own(p, delivery_meta(topic, webhook_id, event_id, triggered_at,
                                               header2(r, "X-Shopify-API-Version"), sc->domain, now));
    if (!p->job.ordering_key || !idem || !p->job.correlation_id || !p->job.meta) {
        ingest__pending_free(p);
        return reject(in, r, 503, "out of memory", sc->domain, topic);
    }
    p->job.kind = ev.kind;
    p->job.payload = body;
    p->job.payload_len = len;
    p->job.source = "shopify";
    p->job.event_time_ms = ev.event_time_ms;
    ingest__submit(in, p, idem);
}
