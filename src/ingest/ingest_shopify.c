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
#include "ingest/ingest.h"
#include "queue/queue.h"

struct ingest {
    const cfg_t *cfg;
    store_writer_t *writer;
};

ingest_t *ingest_new(const cfg_t *cfg, store_writer_t *writer)
{
    ingest_t *in = calloc(1, sizeof(*in));
    if (in) {
        in->cfg = cfg;
        in->writer = writer;
    }
    return in;
}

void ingest_free(ingest_t *in)
{
    free(in);
}

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
    unsigned char sig[64];
    size_t n = sig_b64 ? strlen(sig_b64) : 0;
    if (n == 0 || n > 88)
        return -1;
    int siglen = crypto_base64_decode(sig_b64, n, sig);
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
    {"products/", "shopify.product", "product", RES_ID},
    {"inventory_levels/", "shopify.inventory_level", "inventory", RES_ITEM_AT_LOCATION},
    {"customers/", "shopify.customer", "customer", RES_ID},
    {"", "shopify.other", NULL, RES_NONE},
};

/* Shopify ids are 64-bit integers (beyond a double's 2^53): read them as json integers, or digit strings. */
static int id_text(const json_t *o, const char *field, char *out, size_t n)
{
    const json_t *v = json_object_get(o, field);
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        snprintf(out, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = strlen(s);
        if (len == 0 || len >= n || len > 20)
            return -1;
        for (size_t i = 0; i < len; i++)
            if (!isdigit((unsigned char)s[i]))
                return -1;
        memcpy(out, s, len + 1);
        return 0;
    }
    return -1;
}

void ingest_event_release(ingest_event_t *ev)
{
    free(ev->ordering_key);
    free(ev->idem_key);
    free(ev->resource);
    memset(ev, 0, sizeof(*ev));
}

int ingest_shopify_describe(const char *shop, const char *topic, const json_t *body, const char *event_id,
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
        if (id_text(body, "id", a, sizeof(a)) < 0)
            missing = "id";
        break;
    case RES_ORDER_ID:
        if (id_text(body, "order_id", a, sizeof(a)) < 0)
            missing = "order_id";
        break;
    case RES_ITEM_AT_LOCATION:
        if (id_text(body, "inventory_item_id", a, sizeof(a)) < 0)
            missing = "inventory_item_id";
        else if (id_text(body, "location_id", b, sizeof(b)) < 0)
            missing = "location_id";
        break;
    case RES_NONE:
        if (id_text(body, "id", a, sizeof(a)) < 0)
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
    const json_t *upd = json_object_get(body, "updated_at");
    const char *updated_at = json_is_string(upd) ? json_string_value(upd) : NULL;
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

/* A delivery waiting for its group commit. Owns everything job points to except the body, which stays in the
 * request (alive until we answer). */
typedef struct pending {
    httpd_req_t *req;
    job_new_t job;
    ingest_event_t ev;
    char *meta;
    char *correlation;
    char topic[64];
    char shop[256];
} pending_t;

static const char *header2(httpd_req_t *r, const char *name)
{
    /* Shopify's newer Events deliveries drop the X- prefix: accept both spellings. */
    const char *v = httpd_req_header(r, name);
    return v ? v : httpd_req_header(r, name + 2);
}

static void reject(httpd_req_t *r, int status, const char *why, const char *shop, const char *topic)
{
    char code[8];
    snprintf(code, sizeof(code), "%d", status);
    log_kv(status >= 500 ? LOG_LVL_ERROR : LOG_LVL_WARN, "ingest", "webhook rejected", "status", code, "reason", why,
           "shop", shop, "topic", topic, NULL);
    json_t *o = json_pack("{s:s}", "error", why);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    httpd_respond(r, status, "application/json", s ? s : "{}", s ? strlen(s) : 2);
    free(s);
    json_decref(o);
}

static void pending_free(pending_t *p)
{
    ingest_event_release(&p->ev);
    free(p->meta);
    free(p->correlation);
    free(p);
}

static void on_committed(void *arg, int rc, bool duplicate, const err_t *err)
{
    pending_t *p = arg;
    if (rc < 0) {
        reject(p->req, 503, err && err->message[0] ? "store unavailable; retry later" : "store unavailable", p->shop,
               p->topic);
    } else {
        log_kv(LOG_LVL_INFO, "ingest", duplicate ? "webhook duplicate" : "webhook stored", "job", p->job.id, "kind",
               p->job.kind, "shop", p->shop, "topic", p->topic, "correlation", p->correlation, NULL);
        httpd_respond_json(p->req, 200, "{\"status\":\"%s\",\"job\":\"%s\"}", duplicate ? "duplicate" : "stored",
                           p->job.id);
    }
    pending_free(p);
}

void ingest_shopify_webhook(void *udata, httpd_req_t *r)
{
    ingest_t *in = udata;
    size_t len;
    const char *body = httpd_req_body(r, &len);
    const char *shop = header2(r, "X-Shopify-Shop-Domain");
    if (!shop || !*shop)
        return reject(r, 400, "missing X-Shopify-Shop-Domain header", NULL, NULL);
    const cfg_shop_t *sc = cfg_shop_find(in->cfg, shop);
    if (!sc)
        return reject(r, 404, "unknown shop (no [shop] section for it)", NULL, NULL);
    if (ingest_shopify_verify(sc, body, len, header2(r, "X-Shopify-Hmac-Sha256")) < 0)
        return reject(r, 401, "missing or invalid X-Shopify-Hmac-Sha256 signature", sc->domain, NULL);

    const char *topic = header2(r, "X-Shopify-Topic");
    const char *webhook_id = header2(r, "X-Shopify-Webhook-Id");
    const char *event_id = header2(r, "X-Shopify-Event-Id");
    if (!topic || !*topic || strlen(topic) >= 64)
        return reject(r, 400, "missing X-Shopify-Topic header", sc->domain, NULL);
    if (!webhook_id || !*webhook_id || strlen(webhook_id) > 128)
        return reject(r, 400, "missing X-Shopify-Webhook-Id header", sc->domain, topic);
    if (event_id && strlen(event_id) > 128)
        return reject(r, 400, "X-Shopify-Event-Id header too long", sc->domain, topic);

    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    if (!doc || !json_is_object(doc)) {
        char why[300];
        if (doc)
            snprintf(why, sizeof(why), "body is JSON but not an object");
        else
            snprintf(why, sizeof(why), "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        json_decref(doc);
        return reject(r, 400, why, sc->domain, topic);
    }

    int64_t now = clock_now_ms();
    const char *triggered_at = header2(r, "X-Shopify-Triggered-At");
    pending_t *p = calloc(1, sizeof(*p));
    err_t err;
    if (!p) {
        json_decref(doc);
        return reject(r, 503, "out of memory", sc->domain, topic);
    }
    int rc = ingest_shopify_describe(sc->domain, topic, doc, event_id, webhook_id, triggered_at, now, &p->ev, &err);
    json_decref(doc);
    if (rc < 0) {
        pending_free(p);
        return reject(r, err.cls == ERR_DATA ? 400 : 503, err.message, sc->domain, topic);
    }
    p->req = r;
    snprintf(p->topic, sizeof(p->topic), "%s", topic);
    snprintf(p->shop, sizeof(p->shop), "%s", sc->domain);
    p->correlation = strdup(event_id && *event_id ? event_id : webhook_id);
    json_t *meta = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s, s:I}", "topic", topic, "webhook_id", webhook_id,
                             "event_id", event_id, "triggered_at", triggered_at, "api_version",
                             header2(r, "X-Shopify-API-Version"), "shop", sc->domain, "received_at", (json_int_t)now);
    p->meta = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    if (!p->correlation || !p->meta) {
        pending_free(p);
        return reject(r, 503, "out of memory", sc->domain, topic);
    }
    queue_policy_t pol = queue_policy_for(in->cfg, p->ev.kind);
    queue_job_id(p->ev.idem_key, strlen(p->ev.idem_key), p->job.id);
    p->job.kind = p->ev.kind;
    p->job.ordering_key = p->ev.ordering_key;
    p->job.payload = body;
    p->job.payload_len = len;
    p->job.source = "shopify";
    p->job.correlation_id = p->correlation;
    p->job.meta = p->meta;
    p->job.event_time_ms = p->ev.event_time_ms;
    p->job.priority = pol.priority;
    p->job.max_attempts = pol.max_attempts;
    p->job.lease_ms = pol.lease_ms;

    httpd_defer(r);
    if (store_writer_submit(in->writer, &p->job, on_committed, p) < 0) {
        reject(r, 503, "shutting down; retry later", p->shop, p->topic);
        pending_free(p);
    }
}
