/* cfg: table-driven INI loader. libinih calls cfg_on_key for every key; a line-counting reader gives it the line
 * number that libinih's handler does not receive. Validation that spans keys runs after the parse. */
#define _GNU_SOURCE
#include "core/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/crypto.h"

#define CFG_MAX_LINE 65536   /* Debian's libinih defaults to 200 bytes: certificates and long secrets need more */

typedef enum {
    T_STR, T_BACKEND, T_PROTOCOL, T_INVOICE_ON, T_HOLD_RISK, T_INT, T_DURATION, T_SIZE, T_BOOL, T_LISTEN, T_LEVEL, T_FORMAT, T_SECRET
} cfg_type_t;

typedef struct cfg_key {
    const char *name;
    cfg_type_t type;
    size_t off;            /* offset in cfg_t, cfg_shop_t or cfg_kind_t */
    int64_t min, max;      /* bounds for numbers (durations in ms, sizes in bytes) */
    const char *def;       /* default as text; NULL = none */
    unsigned kind_bit;     /* [kind] keys: which `set` bit they fill */
    const char *help;
} cfg_key_t;

#define S(f) offsetof(cfg_t, f)
static const cfg_key_t server_keys[] = {
    {"listen", T_LISTEN, S(listen), 0, 0, "127.0.0.1:8780", 0, "host:port the HTTP server of `serve` binds"},
    {"ops_listen", T_LISTEN, S(ops_listen), 0, 0, "", 0,
     "host:port where `worker` answers /metrics, /healthz, /readyz (empty = none; `serve` ignores it)"},
    {"workers", T_INT, S(workers), 0, 256, "4", 0, "worker threads (0 = ingest only)"},
    {"local_queue", T_INT, S(local_queue), 0, 4096, "0", 0,
     "jobs the worker pool claims ahead of its workers; with N > 0 a worker starts its next job without waiting for "
     "its last outcome's commit (outcomes are committed in groups), so a crash may run up to workers + N jobs again "
     "(their effects are idempotent) instead of at most one per worker. For queues of many short jobs (0 = off)"},
    {"dispatchers", T_INT, S(dispatchers), 0, 16, "0", 0,
     "dispatchers of the worker pool: each records outcomes and claims jobs for its share of the pool's slots, in "
     "rounds of its own, on a connection of its own. One dispatcher's rounds are one PostgreSQL server process's "
     "work, so one caps the drain at one server CPU (0 = 2 on PostgreSQL with a local_queue, else 1; SQLite "
     "always 1: it has one writer)"},
    {"http_threads", T_INT, S(http_threads), 1, 64, "2", 0, "HTTP polling threads"},
    {"web_threads", T_INT, S(web_threads), 1, 16, "2", 0,
     "threads answering the dashboard API (/api/*), so its store queries never hold up a webhook's polling thread"},
    {"web_queue", T_INT, S(web_queue), 1, 4096, "32", 0,
     "dashboard API requests waiting for a web thread; beyond this they are answered 503 at once"},
    {"max_body", T_SIZE, S(max_body), 1024, 256LL << 20, "5MiB", 0, "largest webhook body accepted (413 above)"},
    {"ack_timeout", T_DURATION, S(ack_timeout_ms), 50, 4500, "3s",
     0, "deadline for the durable commit before answering 503 (Shopify waits 5 s)"},
    {"shutdown_grace", T_DURATION, S(shutdown_grace_ms), 0, 3600000, "30s", 0,
     "on SIGTERM, how long running jobs may take to finish"},
    {"ready_max_lag", T_DURATION, S(ready_max_lag_ms), 0, 30 * 86400000LL, "0", 0,
     "/readyz answers 503 while the oldest due job has waited longer than this (0 = no bound)"},
    {"ready_max_depth", T_INT, S(ready_max_depth), 0, 1000000000, "0", 0,
     "/readyz answers 503 while more jobs than this are queued or waiting to retry (0 = no bound)"},
    {"pause_bulk_above", T_INT, S(pause_bulk_above), 0, 1000000000, "1000", 0,
     "the scheduler holds back bulk work (reconcile.orders) while more jobs than this are queued or waiting to "
     "retry, until the backlog is down to half (0 = never pause)"},
    {"breaker_failures", T_INT, S(breaker_failures), 0, 100, "3", 0,
     "circuit breaker: this many outage failures (refused, timed out, reset, HTTP 502/503/504) of one Odoo "
     "database or Shopify shop within breaker_window pause its jobs without spending attempts and probe it until it "
     "answers (0 = off: such failures retry with backoff like any transient error)"},
    {"breaker_window", T_DURATION, S(breaker_window_ms), 1000, 3600000, "30s", 0,
     "circuit breaker: the window in which breaker_failures outage failures open it"},
    {"breaker_probe_max", T_DURATION, S(breaker_probe_max_ms), 1000, 3600000, "10s", 0,
     "circuit breaker: longest interval between two probes of a target that is down (the first comes after ~1 s, "
     "then the interval doubles up to this, ±20 %); when a probe is answered its paused jobs are due at once"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};
static const cfg_key_t store_keys[] = {
    {"backend", T_BACKEND, S(store_backend), 0, 0, "sqlite", 0,
     "sqlite (one node, a local file) | postgres (several nodes sharing one database)"},
    {"path", T_STR, S(store_path), 0, 0, "var/synchub.db", 0, "SQLite file, relative to the config file"},
    {"url", T_SECRET, S(store_url), 0, 0, NULL, 0,
     "postgres: postgresql://USER@HOST:PORT/DATABASE (libpq URL; a password in it is kept secret too)"},
    {"password", T_SECRET, S(store_password), 0, 0, NULL, 0,
     "postgres: the password, when not in the url (or PGPASSWORD / ~/.pgpass)"},
    {"retention", T_DURATION, S(retention_ms), 4 * 3600000LL, 3650LL * 86400000, "7d", 0,
     "how long done/discarded jobs (and so their dedupe keys) are kept; at least 4h, Shopify's retry window"},
    {"poll_interval", T_DURATION, S(poll_interval_ms), 10, 60000, "1s", 0,
     "idle workers look for due jobs this often"},
    {"max_size", T_SIZE, S(store_max_size), 0, 1LL << 50, "0", 0,
     "largest size of the store file (0 = no limit); when reached, webhooks get 503 and nothing is lost"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};
static const cfg_key_t log_keys[] = {
    {"level", T_LEVEL, S(log_level), 0, 0, "info", 0, "debug | info | warn | error"},
    {"format", T_FORMAT, S(log_format), 0, 0, "logfmt", 0, "logfmt | json"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};
static const cfg_key_t debug_keys[] = {
    {"test_handlers", T_BOOL, S(test_handlers), 0, 0, "false", 0, "register the test.* job kinds"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};
#undef S
#define SH(f) offsetof(cfg_shop_t, f)
static const cfg_key_t shop_keys[] = {
    {"webhook_secret", T_SECRET, SH(webhook_secret), 0, 0, NULL, 0,
     "the app's client secret that signs webhooks (or _file / _env)"},
    {"webhook_secret_previous", T_SECRET, SH(webhook_secret_previous), 0, 0, NULL, 0,
     "the secret being rotated out; also accepted until removed"},
    {"shipping_product", T_STR, SH(shipping_product), 0, 0, NULL, 0,
     "Odoo internal reference (default_code) of the service product for shipping charges"},
    {"confirm_on", T_STR, SH(confirm_on), 0, 0, "paid", 0,
     "financial statuses (comma-separated) at which the Odoo sale order is confirmed"},
    {"sku_map", T_STR, SH(sku_map), 0, 0, NULL, 0, "SKU overrides: SHOPIFY-SKU=ODOO-CODE, …"},
    {"tax_map", T_STR, SH(tax_map), 0, 0, NULL, 0,
     "Shopify taxes → Odoo taxes, overriding the match by rate: SHOPIFY TITLE[@RATE %]=ODOO TAX ID or NAME, … "
     "(e.g. IL State Tax@6.25=12)"},
    {"pricelists", T_STR, SH(pricelists), 0, 0, NULL, 0,
     "orders in another currency than the Odoo company's: CURRENCY=ODOO PRICELIST ID or NAME, … (e.g. EUR=Euro)"},
    {"gift_card_product", T_STR, SH(gift_card_product), 0, 0, NULL, 0,
     "Odoo internal reference of the service product for gift cards sold (lines with gift_card: true)"},
    {"tip_product", T_STR, SH(tip_product), 0, 0, NULL, 0, "Odoo internal reference of the service product for tips"},
    {"duty_product", T_STR, SH(duty_product), 0, 0, NULL, 0,
     "Odoo internal reference of the service product for import duties charged at checkout"},
    {"amount_tolerance", T_STR, SH(amount_tolerance), 0, 0, "0.00", 0,
     "largest difference between Odoo's and Shopify's untaxed, tax and total amounts that still lets an order be "
     "confirmed (a shop whose rounding differs from Odoo's); 0.00 = to the cent"},
    {"admin_token", T_SECRET, SH(admin_token), 0, 0, NULL, 0,
     "Admin API access token of the app (shpat_…), sent as X-Shopify-Access-Token"},
    {"api_version", T_STR, SH(api_version), 0, 0, "2026-10", 0,
     "Admin API version pinned for this shop (YYYY-MM, or unstable)"},
    {"admin_url", T_STR, SH(admin_url), 0, 0, NULL, 0,
     "base URL of the Admin API (default https://DOMAIN; set it to an emulator's URL in tests)"},
    {"api_timeout", T_DURATION, SH(api_timeout_ms), 1000, 600000, "30s", 0, "per-request timeout of the Admin API"},
    {"throttle_wait", T_DURATION, SH(throttle_wait_ms), 0, 600000, "60s", 0,
     "longest one Admin API call waits for the shop's rate limit before failing (transient, retried later)"},
    {"locations", T_STR, SH(locations), 0, 0, NULL, 0,
     "stock pushed to Shopify: ODOO-LOCATION=SHOPIFY-LOCATION-ID, … (Odoo full name such as WH/Stock, or id; "
     "its child locations count too)"},
    {"inventory_interval", T_DURATION, SH(inventory_interval_ms), 0, 86400000, "1m", 0,
     "how often serve polls Odoo for stock changes to push (0 = never; needs locations and admin_token)"},
    {"inventory_lookback", T_DURATION, SH(inventory_lookback_ms), 0, 86400000, "2m", 0,
     "each poll re-reads changes this far behind its cursor (Odoo stamps write_date when a transaction starts, "
     "so a long one commits rows older than the cursor); unchanged quantities cost no Shopify call"},
    {"inventory_skip", T_STR, SH(inventory_skip), 0, 0, NULL, 0,
     "Odoo internal references never pushed to Shopify (not sold there), comma-separated; CODE* matches a prefix"},
    {"inventory_batch", T_INT, SH(inventory_batch), 1, 250, "250", 0,
     "quantities per inventorySetQuantities call (Shopify's maximum is 250)"},
    {"fulfillment_interval", T_DURATION, SH(fulfillment_interval_ms), 0, 86400000, "1m", 0,
     "how often serve looks for done Odoo deliveries of Shopify orders (0 = never; needs admin_token)"},
    {"reconcile_interval", T_DURATION, SH(reconcile_interval_ms), 0, 30 * 86400000LL, "1h", 0,
     "how often serve lists recently updated Shopify orders to catch missed webhooks (0 = never)"},
    {"reconcile_window", T_DURATION, SH(reconcile_window_ms), 60000, 60 * 86400000LL, "3d", 0,
     "how far back the first scheduled order reconciliation looks (later runs start where the last one ended)"},
    {"public_url", T_STR, SH(public_url), 0, 0, NULL, 0,
     "https:// base URL where Shopify reaches this synchub (TLS in front of listen); `synchub setup shopify` "
     "subscribes PUBLIC_URL/webhooks/shopify"},
    {"subscriptions_interval", T_DURATION, SH(subscriptions_interval_ms), 0, 30 * 86400000LL, "1h", 0,
     "how often serve checks the shop's webhook subscriptions and re-creates one Shopify removed (0 = never; "
     "needs public_url and admin_token)"},
    {"owner", T_STR, SH(owner), 0, 0, NULL, 0,
     "business owner of the shop's flows, named by `synchub catalog` (none = listed as unowned)"},
    {"invoice_on", T_INVOICE_ON, SH(invoice_on), 0, 0, "never", 0,
     "never | paid | fulfilled: when synchub makes the Odoo invoice from the sale order, posts it and registers "
     "the Shopify payments (needs the Invoicing group, see OPERATIONS)"},
    {"hold_risk", T_HOLD_RISK, SH(hold_risk), 0, 0, "none", 0,
     "high | medium | none: an order Shopify rates this risky (or riskier) is written but left unconfirmed, with an "
     "activity for its salesperson; later webhooks do not confirm or cancel it (needs admin_token)"},
    {"payment_journals", T_STR, SH(payment_journals), 0, 0, "*=BNK1", 0,
     "payment gateway → Odoo bank/cash journal code: shopify_payments=BNK1, paypal=PAYPL, gift_card=GIFT, *=BNK1"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};
#undef SH
#define OD(f) offsetof(cfg_odoo_t, f)
static const cfg_key_t odoo_keys[] = {
    {"url", T_STR, OD(url), 0, 0, NULL, 0, "base URL of Odoo, e.g. https://acme.odoo.com"},
    {"database", T_STR, OD(database), 0, 0, NULL, 0, "database name"},
    {"username", T_STR, OD(username), 0, 0, NULL, 0, "login of the integration user (JSON-RPC)"},
    {"api_key", T_SECRET, OD(api_key), 0, 0, NULL, 0, "API key of the integration user (preferred)"},
    {"password", T_SECRET, OD(password), 0, 0, NULL, 0, "password, when no API key is used (JSON-RPC only)"},
    {"protocol", T_PROTOCOL, OD(protocol), 0, 0, "auto", 0, "auto | jsonrpc (Odoo <= 18) | json2 (Odoo 19+)"},
    {"timeout", T_DURATION, OD(timeout_ms), 1000, 600000, "30s", 0, "per-call timeout"},
    {"cache_ttl", T_DURATION, OD(cache_ttl_ms), 0, 86400000, "5m", 0,
     "how long product and reference lookups are reused"},
    {"company", T_INT, OD(company), 0, 1000000, "0", 0, "company id for multi-company databases (0 = user's default)"},
    {"discount_digits", T_INT, OD(discount_digits), 0, 6, "2", 0,
     "decimals Odoo keeps of a line's discount % (its decimal accuracy \"Discount\"); discounts are written so that "
     "Odoo's line totals are Shopify's to the cent"},
    {"protected_fields", T_STR, OD(protected_fields), 0, 0, NULL, 0,
     "model.field list never overwritten on update, e.g. res.partner.phone, sale.order.note"},
    {"note_sender", T_STR, OD(note_sender), 0, 0, "synchub <synchub@localhost>", 0,
     "email_from of the chatter notes synchub posts (Odoo 18 refuses a note when it has none and the integration "
     "user has no e-mail); \"user\" = send none, Odoo uses the integration user's e-mail"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};
#undef OD
/* [source NAME]: logistics partners (kept together here: section table, getter, checks, free). */
#define SR(f) offsetof(cfg_source_t, f)
static const cfg_key_t source_keys[] = {
    {"auth", T_STR, SR(auth), 0, 0, "hmac", 0, "hmac (signature over TIMESTAMP.BODY) | bearer (Authorization: Bearer)"},
    {"secret", T_SECRET, SR(secret), 0, 0, NULL, 0, "auth = hmac: the shared HMAC-SHA256 key"},
    {"secret_previous", T_SECRET, SR(secret_previous), 0, 0, NULL, 0,
     "auth = hmac: the key being rotated out; also accepted until removed"},
    {"token", T_SECRET, SR(token), 0, 0, NULL, 0, "auth = bearer: the token the partner sends"},
    {"signature_header", T_STR, SR(signature_header), 0, 0, "X-Signature", 0,
     "auth = hmac: header with the hex or base64 HMAC-SHA256 of TIMESTAMP + \".\" + body"},
    {"timestamp_header", T_STR, SR(timestamp_header), 0, 0, "X-Timestamp", 0,
     "auth = hmac: header with the signing time in Unix seconds"},
    {"max_skew", T_DURATION, SR(max_skew_ms), 1000, 3600000, "5m", 0,
     "auth = hmac: a timestamp further than this from now (past or future) is refused (replays)"},
    {"format", T_STR, SR(format), 0, 0, "canonical", 0,
     "canonical (docs/events.md) | mapped (the partner's JSON through the map.* keys and status_map)"},
    {"map.event_id", T_STR, SR(map[CFG_EVF_EVENT_ID]), 0, 0, NULL, 0, "JSON pointer (or CSV column) of the event id"},
    {"map.occurred_at", T_STR, SR(map[CFG_EVF_OCCURRED_AT]), 0, 0, NULL, 0, "… of the event time (ISO 8601 with zone)"},
    {"map.reference", T_STR, SR(map[CFG_EVF_REFERENCE]), 0, 0, NULL, 0,
     "… of the shipment reference (Odoo delivery name, order reference or tracking number)"},
    {"map.carrier", T_STR, SR(map[CFG_EVF_CARRIER]), 0, 0, NULL, 0, "… of the carrier name"},
    {"map.tracking_number", T_STR, SR(map[CFG_EVF_TRACKING_NUMBER]), 0, 0, NULL, 0, "… of the tracking number"},
    {"map.tracking_url", T_STR, SR(map[CFG_EVF_TRACKING_URL]), 0, 0, NULL, 0, "… of the tracking URL"},
    {"map.status", T_STR, SR(map[CFG_EVF_STATUS]), 0, 0, NULL, 0, "… of the status (translated by status_map)"},
    {"map.location", T_STR, SR(map[CFG_EVF_LOCATION]), 0, 0, NULL, 0, "… of the location"},
    {"map.detail", T_STR, SR(map[CFG_EVF_DETAIL]), 0, 0, NULL, 0, "… of the free-text detail"},
    {"status_map", T_STR, SR(status_map), 0, 0, NULL, 0,
     "partner status codes → canonical statuses: IT=in_transit, DL=delivered, … (unlisted codes are refused)"},
    {"responsible", T_STR, SR(responsible), 0, 0, NULL, 0,
     "Odoo user (login or numeric id) who gets a To Do activity on the delivery for an exception"},
    {"owner", T_STR, SR(owner), 0, 0, NULL, 0,
     "business owner of this partner's flow, named by `synchub catalog` (none = listed as unowned)"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};
#undef SR

#define K(f) offsetof(cfg_kind_t, f)
static const cfg_key_t kind_keys[] = {
    {"priority", T_INT, K(priority), -1000, 1000, NULL, CFG_KIND_PRIORITY, "higher runs first"},
    {"max_attempts", T_INT, K(max_attempts), 1, 1000, NULL, CFG_KIND_MAX_ATTEMPTS, "attempts before dead"},
    {"backoff_base", T_DURATION, K(backoff_base_ms), 1, 86400000, NULL, CFG_KIND_BACKOFF_BASE,
     "first retry delay ceiling (full jitter)"},
    {"backoff_cap", T_DURATION, K(backoff_cap_ms), 1, 7 * 86400000LL, NULL, CFG_KIND_BACKOFF_CAP,
     "largest retry delay"},
    {"lease", T_DURATION, K(lease_ms), 1000, 86400000, NULL, CFG_KIND_LEASE,
     "a running job whose worker vanished runs again after this"},
    {"owner", T_STR, K(owner), 0, 0, NULL, 0,
     "business owner of the flow this kind belongs to (over its shop's or source's owner; `synchub catalog`)"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};
#undef K
#define OP(f) offsetof(cfg_operator_t, f)
static const cfg_key_t operator_keys[] = {
    {"token", T_SECRET, OP(token), 0, 0, NULL, 0,
     "bearer token of this operator for the dashboard and /api (at least 16 characters; the audit log names the "
     "section, never the token)"},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL}};
#undef OP
#define CFG_MIN_TOKEN 16   /* a guessable dashboard token would hand out customer data and retries */

/* A string -> number map (open addressing, FNV-1a), so that loading N sections costs O(N): 20,000 [shop] sections
 * took over 20 s with linear look-ups. Keys are owned by the map. */
typedef struct strmap {
    char **keys;
    size_t *vals;
    size_t cap, n;
} strmap_t;

static size_t strmap_slot(const strmap_t *m, const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *q = (const unsigned char *)key; *q; q++)
        h = (h ^ *q) * 1099511628211ull;
    size_t i = (size_t)h & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

/* The value of key, or 0 when absent. */
static size_t strmap_get(const strmap_t *m, const char *key)
{
    if (!m->cap)
        return 0;
    size_t i = strmap_slot(m, key);
    return m->keys[i] ? m->vals[i] : 0;
}

/* Insert key (copied) with val (> 0). 0, or -1 when out of memory. */
static int strmap_put(strmap_t *m, const char *key, size_t val)
{
    if (2 * (m->n + 1) > m->cap) {
        strmap_t g = {calloc(m->cap ? 2 * m->cap : 64, sizeof(char *)),
                      calloc(m->cap ? 2 * m->cap : 64, sizeof(size_t)), m->cap ? 2 * m->cap : 64, m->n};
        if (!g.keys || !g.vals) {
            free(g.keys);
            free(g.vals);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->keys[i]) {
                size_t j = strmap_slot(&g, m->keys[i]);
                g.keys[j] = m->keys[i];
                g.vals[j] = m->vals[i];
            }
        }
        free(m->keys);
        free(m->vals);
        *m = g;
    }
    size_t i = strmap_slot(m, key);
    if (!m->keys[i]) {
        if (!(m->keys[i] = strdup(key)))
            return -1;
        m->n++;
    }
    m->vals[i] = val;
    return 0;
}

static void strmap_free(strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

typedef struct cfg_parse {
    cfg_t *cfg;
    buf_t *errors;
    const char *path;
    FILE *fp;
    int line;
    bool at_line_start;
    int nerrors;
    strmap_t seen;   /* "section\nkey" already set, to refuse duplicates */
    strmap_t shops;  /* lower-case domain -> index in cfg->shops + 1 */
    char **shop_spelling; /* per shop: the first section name spelling it, to refuse another case */
    int *shop_header;     /* per shop: the line of that section header */
    int section_line;     /* the line of the last section header read */
} cfg_parse_t;

static void cfg_error(cfg_parse_t *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static cfg_source_t *source_get(cfg_parse_t *p, const char *name);
static void sources_check(cfg_parse_t *p);
static void sources_free(cfg_t *c);
static void cfg_error(cfg_parse_t *p, int line, const char *fmt, ...)
{
    va_list ap;
    if (line > 0)
        buf_printf(p->errors, "%s:%d: ", p->path, line);
    else
        buf_printf(p->errors, "%s: ", p->path);
    va_start(ap, fmt);
    buf_vprintf(p->errors, fmt, ap);
    va_end(ap);
    buf_puts(p->errors, "\n");
    p->nerrors++;
}

static bool section_known(const char *name, size_t len)
{
    static const char *const plain[] = {"server", "store", "log", "debug", "odoo"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        if (strlen(plain[i]) == len && strncmp(name, plain[i], len) == 0)
            return true;
    return (len > 5 && (strncmp(name, "shop ", 5) == 0 || strncmp(name, "kind ", 5) == 0)) ||
           (len > 7 && strncmp(name, "source ", 7) == 0) ||
           (len > 9 && strncmp(name, "operator ", 9) == 0);
}

/* libinih asks for one line (or the rest of an over-long one) at a time: count lines as they start. Section
 * headers are checked here because libinih never reports a section that has no keys. */
static char *cfg_reader(char *str, int num, void *stream)
{
    cfg_parse_t *p = stream;
    bool starts_line = p->at_line_start;
    if (starts_line)
        p->line++;
    char *r = fgets(str, num, p->fp);
    if (r) {
        size_t n = strlen(r);
        p->at_line_start = n > 0 && r[n - 1] == '\n';
        const char *q = r;
        while (starts_line && (*q == ' ' || *q == '\t'))
            q++;
        const char *end = starts_line && *q == '[' ? strchr(q, ']') : NULL;
        if (end)
            p->section_line = p->line;
        if (end && !section_known(q + 1, (size_t)(end - q - 1)))
            cfg_error(p, p->line, "unknown section [%.*s] (known: server, store, log, debug, odoo, shop DOMAIN, kind NAME, source NAME)",
                      (int)(end - q - 1), q + 1);
    }
    return r;
}

static void secret_free(cfg_secret_t *s)
{
    if (s->value) {
        OPENSSL_cleanse(s->value, s->len);
        free(s->value);
    }
    s->value = NULL;
    s->len = 0;
}

/* A secret file holds the secret on its first line (docs/synchub.example.ini); anything after that line is ignored.
 * At most CFG_SECRET_FILE_MAX bytes are read, so a path like /dev/zero cannot hang the parser or fill memory, and a
 * secret with a NUL or control character is refused (it is a wrong file, not a secret). 0, or -1 with *why set. */
#define CFG_SECRET_FILE_MAX 4096
static int read_secret_file(const char *path, cfg_secret_t *out, const char **why)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *why = strerror(errno);
        return -1;
    }
    char data[CFG_SECRET_FILE_MAX + 1];
    size_t n = fread(data, 1, sizeof(data), f);
    int bad = ferror(f);
    fclose(f);
    size_t len = 0;
    while (len < n && data[len] != '\n')
        len++;
    if (len < n && len && data[len - 1] == '\r') /* a CRLF editor's line end, not the secret's */
        len--;
    size_t i = 0;
    while (i < len && i < CFG_SECRET_FILE_MAX && (unsigned char)data[i] >= 0x20 && data[i] != 0x7f)
        i++;
    int rc = -1;
    if (bad) {
        *why = strerror(EIO);
    } else if (i < len && i < CFG_SECRET_FILE_MAX) {
        *why = data[i] == '\0' ? "its first line holds a NUL character (not a text file?)"
                               : "its first line holds a control character";
    } else if (len >= CFG_SECRET_FILE_MAX) {
        *why = "its first line is longer than 4 KiB (a secret file holds the secret on its first line)";
    } else if (len == 0) {
        *why = n ? "its first line is empty" : "file is empty";
    } else if ((out->value = malloc(len + 1)) == NULL) {
        *why = strerror(ENOMEM);
    } else {
        memcpy(out->value, data, len);
        out->value[len] = '\0';
        out->len = len;
        rc = 0;
    }
    OPENSSL_cleanse(data, sizeof(data));
    return rc;
}

static const char *type_expect(const cfg_key_t *k, char *tmp, size_t n)
{
    switch (k->type) {
    case T_INT: snprintf(tmp, n, "an integer from %lld to %lld", (long long)k->min, (long long)k->max); break;
    case T_DURATION: snprintf(tmp, n, "a duration like 500ms, 30s, 5m, 4h, 7d (from %lldms to %lldms)",
                              (long long)k->min, (long long)k->max); break;
    case T_SIZE: snprintf(tmp, n, "a size like 65536, 64KiB, 5MiB (from %lld to %lld bytes)",
                          (long long)k->min, (long long)k->max); break;
    case T_BOOL: snprintf(tmp, n, "true or false"); break;
    case T_LISTEN: snprintf(tmp, n, "host:port with a port from 1 to 65535%s",
                            k->def && !*k->def ? " (or nothing, for none)" : ""); break;
    case T_LEVEL: snprintf(tmp, n, "debug, info, warn or error"); break;
    case T_FORMAT: snprintf(tmp, n, "logfmt or json"); break;
    case T_BACKEND: snprintf(tmp, n, "sqlite or postgres"); break;
    case T_PROTOCOL: snprintf(tmp, n, "auto, jsonrpc or json2"); break;
    case T_INVOICE_ON: snprintf(tmp, n, "never, paid or fulfilled"); break;
    case T_HOLD_RISK: snprintf(tmp, n, "high, medium or none"); break;
    default: snprintf(tmp, n, "a non-empty value"); break;
    }
    return tmp;
}

/* Store value into the field at base+k->off. 0, or -1 when the value is malformed (caller reports). */
static int set_value(char *base, const cfg_key_t *k, const char *v)
{
    int64_t n;
    switch (k->type) {
    case T_BACKEND:
    case T_PROTOCOL:
    case T_INVOICE_ON:
    case T_HOLD_RISK:
    case T_STR: {
        if (!*v)
            return -1;
        if (k->type == T_BACKEND && strcmp(v, "sqlite") != 0 && strcmp(v, "postgres") != 0)
            return -1;
        if (k->type == T_PROTOCOL && strcmp(v, "auto") && strcmp(v, "jsonrpc") && strcmp(v, "json2"))
            return -1;
        if (k->type == T_INVOICE_ON && strcmp(v, "never") && strcmp(v, "paid") && strcmp(v, "fulfilled"))
            return -1;
        if (k->type == T_HOLD_RISK && strcmp(v, "high") && strcmp(v, "medium") && strcmp(v, "none"))
            return -1;
        char **dst = (char **)(base + k->off);
        free(*dst);
        *dst = strdup(v);
        return 0;
    }
    case T_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < k->min || x > k->max)
            return -1;
        *(int64_t *)(base + k->off) = x;
        return 0;
    }
    case T_DURATION:
        if (clock_parse_duration_ms(v, &n) || n < k->min || n > k->max)
            return -1;
        *(int64_t *)(base + k->off) = n;
        return 0;
    case T_SIZE:
        if (clock_parse_size(v, &n) || n < k->min || n > k->max)
            return -1;
        *(int64_t *)(base + k->off) = n;
        return 0;
    case T_BOOL:
        if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1"))
            *(bool *)(base + k->off) = true;
        else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcmp(v, "0"))
            *(bool *)(base + k->off) = false;
        else
            return -1;
        return 0;
    case T_LEVEL:
        return log_level_parse(v, (log_level_t *)(base + k->off));
    case T_FORMAT:
        return log_format_parse(v, (log_format_t *)(base + k->off));
    case T_LISTEN: {
        cfg_listen_t *l = (cfg_listen_t *)(base + k->off);
        if (!*v && k->def && !*k->def) { /* an optional address: empty = none */
            free(l->host);
            l->host = NULL;
            l->port = 0;
            return 0;
        }
        const char *colon = strrchr(v, ':');
        if (!colon || colon == v)
            return -1;
        char *end;
        errno = 0;
        long port = strtol(colon + 1, &end, 10);
        if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
            return -1;
        free(l->host);
        l->host = strndup(v, (size_t)(colon - v));
        l->port = port;
        return 0;
    }
    case T_SECRET:
        break;
    }
    return -1;
}

static const cfg_key_t *find_key(const cfg_key_t *table, const char *name)
{
    for (const cfg_key_t *k = table; k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

static bool seen_before(cfg_parse_t *p, const char *section, const char *key)
{
    char *tag = NULL;
    if (asprintf(&tag, "%s\n%s", section, key) < 0)
        return false;
    bool seen = strmap_get(&p->seen, tag) != 0;
    if (!seen)
        (void)strmap_put(&p->seen, tag, 1);
    free(tag);
    return seen;
}

/* Append one zeroed element of size to the array *arr of *n (named sections: shops, kinds, sources). NULL when out
 * of memory (the array is unchanged). */
static void *section_new(void *arr, size_t *n, size_t size)
{
    /* arr points to a cfg_shop_t * (or …): read and write it as bytes, not through a char ** (aliasing). */
    void *old;
    memcpy(&old, arr, sizeof(old));
    char *grown = old;
    /* Grown only by this function: the capacity doubles whenever n reaches a power of two (O(N) copying). */
    if ((*n & (*n - 1)) == 0) {
        grown = realloc(old, (*n ? 2 * *n : 1) * size);
        if (!grown)
            return NULL;
        memcpy(arr, &grown, sizeof(grown));
    }
    memset(grown + *n * size, 0, size);
    return grown + (*n)++ * size;
}

/* Apply a section table's defaults to a new section. */
static void section_defaults(void *base, const cfg_key_t *table)
{
    for (const cfg_key_t *k = table; k->name; k++)
        if (k->def)
            set_value(base, k, k->def);
}

static cfg_shop_t *shop_get(cfg_parse_t *p, const char *domain)
{
    cfg_t *c = p->cfg;
    char *lower = strdup(domain);
    if (!lower)
        return NULL;
    for (char *q = lower; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    size_t at = strmap_get(&p->shops, lower);
    if (at) {
        free(lower);
        cfg_shop_t *s = &c->shops[at - 1];
        /* Shop domains are case-insensitive: a second spelling is a second section for the same shop, and one of
         * the two secrets would silently lose. */
        if (strcmp(p->shop_spelling[at - 1], domain) != 0) {
            char tag[600];
            snprintf(tag, sizeof(tag), "[shop %s]", domain);
            if (!seen_before(p, tag, "")) /* once per spelling, not per key */
                cfg_error(p, p->section_line, "[shop %s] names the same shop as [shop %s] (line %d): shop domains "
                          "are case-insensitive; merge the two sections", domain, p->shop_spelling[at - 1],
                          p->shop_header[at - 1]);
        }
        return s;
    }
    /* Parallel to c->shops, grown the same way (section_new doubles at powers of two). */
    if ((c->nshops & (c->nshops - 1)) == 0) {
        size_t cap = c->nshops ? 2 * c->nshops : 1;
        char **sp = realloc(p->shop_spelling, cap * sizeof(*sp));
        if (sp)
            p->shop_spelling = sp;
        int *hl = realloc(p->shop_header, cap * sizeof(*hl));
        if (hl)
            p->shop_header = hl;
        if (!sp || !hl) {
            free(lower);
            return NULL;
        }
    }
    char **sp = p->shop_spelling;
    p->shop_header[c->nshops] = p->section_line;
    cfg_shop_t *s = section_new(&c->shops, &c->nshops, sizeof(*s));
    if (!s || !(sp[c->nshops - 1] = strdup(domain)) || strmap_put(&p->shops, lower, c->nshops) < 0) {
        if (s)
            c->nshops--; /* not handed out: its fields are all zero */
        free(lower);
        return NULL;
    }
    s->domain = lower;
    section_defaults(s, shop_keys);
    s->line = p->line;
    return s;
}

static cfg_kind_t *kind_get(cfg_parse_t *p, const char *name)
{
    cfg_t *c = p->cfg;
    for (size_t i = 0; i < c->nkinds; i++)
        if (strcmp(c->kinds[i].name, name) == 0)
            return &c->kinds[i];
    cfg_kind_t *k = section_new(&c->kinds, &c->nkinds, sizeof(*k));
    if (!k)
        return NULL;
    k->name = strdup(name);
    return k;
}

static cfg_operator_t *operator_get(cfg_parse_t *p, const char *name)
{
    cfg_t *c = p->cfg;
    for (size_t i = 0; i < c->noperators; i++)
        if (strcmp(c->operators[i].name, name) == 0)
            return &c->operators[i];
    cfg_operator_t *o = realloc(c->operators, (c->noperators + 1) * sizeof(*o));
    if (!o)
        return NULL;
    c->operators = o;
    o = &c->operators[c->noperators++];
    memset(o, 0, sizeof(*o));
    o->name = strdup(name);
    o->line = p->line;
    return o;
}

/* Resolve a secret key given inline, as KEY_file or as KEY_env. */
static void set_secret(cfg_parse_t *p, cfg_secret_t *dst, const char *key, const char *how, const char *v)
{
    secret_free(dst);
    if (strcmp(how, "file") == 0) {
        const char *why = NULL;
        if (read_secret_file(v, dst, &why) < 0)
            cfg_error(p, p->line, "%s_file: cannot read a secret from '%s': %s", key, v, why);
    } else if (strcmp(how, "env") == 0) {
        const char *e = getenv(v);
        if (!e || !*e)
            cfg_error(p, p->line, "%s_env: environment variable '%s' is not set or empty", key, v);
        else {
            dst->value = strdup(e);
            dst->len = strlen(e);
        }
    } else {
        if (!*v)
            cfg_error(p, p->line, "%s is empty", key);
        else {
            dst->value = strdup(v);
            dst->len = strlen(v);
        }
    }
}

static int cfg_on_key(void *user, const char *section, const char *name, const char *value)
{
    cfg_parse_t *p = user;
    cfg_t *c = p->cfg;
    const cfg_key_t *table = NULL;
    char *base = NULL;
    char what[300];

    if (!strcmp(section, "server")) {
        table = server_keys;
        base = (char *)c;
    } else if (!strcmp(section, "store")) {
        table = store_keys;
        base = (char *)c;
    } else if (!strcmp(section, "log")) {
        table = log_keys;
        base = (char *)c;
    } else if (!strcmp(section, "debug")) {
        table = debug_keys;
        base = (char *)c;
    } else if (!strcmp(section, "odoo")) {
        table = odoo_keys;
        base = (char *)&c->odoo;
        if (!c->odoo.configured) {
            c->odoo.configured = true;
            c->odoo.line = p->line;
        }
    } else if (!strncmp(section, "shop ", 5) && section[5]) {
        table = shop_keys;
        base = (char *)shop_get(p, section + 5);
    } else if (!strncmp(section, "kind ", 5) && section[5]) {
        table = kind_keys;
        base = (char *)kind_get(p, section + 5);
    } else if (!strncmp(section, "source ", 7) && section[7]) {
        table = source_keys;
        base = (char *)source_get(p, section + 7);
    } else if (!strncmp(section, "operator ", 9) && section[9]) {
        table = operator_keys;
        base = (char *)operator_get(p, section + 9);
    } else {
        return 1; /* already reported by cfg_reader when it read the section header */
    }
    if (!base) {
        cfg_error(p, p->line, "out of memory");
        return 0;
    }
    if (seen_before(p, section, name)) {
        cfg_error(p, p->line, "'%s' is set twice in [%s]", name, section);
        return 1;
    }
    /* A mapping that starts with '/' is a JSON pointer (RFC 6901): a malformed one would refuse every event. */
    if (table == source_keys && !strncmp(name, "map.", 4) && value[0] == '/' && !cfg_json_pointer_valid(value)) {
        cfg_error(p, p->line, "%s: '%s' is not a valid JSON pointer ('~' must be followed by 0 or 1)", name, value);
        return 1;
    }

    /* KEY_file / KEY_env for secret keys. */
    const cfg_key_t *k = find_key(table, name);
    const char *how = "inline";
    char basename[128];
    if (!k) {
        const char *us = strrchr(name, '_');
        if (us && (!strcmp(us, "_file") || !strcmp(us, "_env")) && (size_t)(us - name) < sizeof(basename)) {
            memcpy(basename, name, (size_t)(us - name));
            basename[us - name] = '\0';
            const cfg_key_t *sk = find_key(table, basename);
            if (sk && sk->type == T_SECRET) {
                k = sk;
                how = us + 1;
                if (seen_before(p, section, basename)) {
                    cfg_error(p, p->line, "'%s' is given more than once in [%s] (inline, _file or _env)",
                              basename, section);
                    return 1;
                }
            }
        }
    }
    if (!k) {
        buf_t known = BUF_INIT;
        for (const cfg_key_t *t = table; t->name; t++)
            buf_printf(&known, "%s%s", known.len ? ", " : "", t->name);
        cfg_error(p, p->line, "unknown key '%s' in [%s] (known: %s)", name, section, buf_str(&known));
        buf_release(&known);
        return 1;
    }
    if (k->type == T_SECRET) {
        set_secret(p, (cfg_secret_t *)(base + k->off), k->name, how, value);
        return 1;
    }
    if (set_value(base, k, value) < 0) {
        /* Echo the value back only for non-secret keys; it helps spot typos. */
        cfg_error(p, p->line, "bad value '%s' for %s in [%s]: expected %s", value, name, section,
                  type_expect(k, what, sizeof(what)));
        return 1;
    }
    if (k->kind_bit)
        ((cfg_kind_t *)base)->set |= k->kind_bit;
    if (k->type == T_LISTEN)
        ((cfg_listen_t *)(base + k->off))->line = p->line;
    return 1;
}

static bool listen_wildcard(const char *host)
{
    return !*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "[::]") || !strcmp(host, "*");
}

/* A `serve` and a `worker` sharing this file on one host bind listen and ops_listen respectively: the same address
 * for both would make the second one to start fail, so it is refused here, where the operator reads the file. */
static void listen_check(cfg_parse_t *p)
{
    const cfg_listen_t *l = &p->cfg->listen, *o = &p->cfg->ops_listen;
    if (o->host && o->port == l->port &&
        (!strcmp(o->host, l->host) || listen_wildcard(o->host) || listen_wildcard(l->host)))
        cfg_error(p, o->line, "[server] ops_listen %s:%lld overlaps listen %s:%lld: a serve and a worker sharing "
                  "this file on one host would both bind it; pick another port", o->host, (long long)o->port,
                  l->host, (long long)l->port);
}

static void apply_defaults(cfg_t *c, const cfg_key_t *table)
{
    for (const cfg_key_t *k = table; k->name; k++)
        if (k->def)
            set_value((char *)c, k, k->def);
}

static char *resolve_relative(const char *cfgpath, const char *p)
{
    if (p[0] == '/')
        return strdup(p);
    const char *slash = strrchr(cfgpath, '/');
    if (!slash)
        return strdup(p);
    char *out = NULL;
    if (asprintf(&out, "%.*s/%s", (int)(slash - cfgpath), cfgpath, p) < 0)
        return NULL;
    return out;
}

cfg_t *cfg_load(const char *path, buf_t *errors)
{
    cfg_t *c = calloc(1, sizeof(*c));
    if (!c) {
        buf_printf(errors, "%s: out of memory\n", path);
        return NULL;
    }
    c->path = strdup(path);
    apply_defaults(c, server_keys);
    apply_defaults(c, store_keys);
    apply_defaults(c, log_keys);
    apply_defaults(c, debug_keys);
    for (const cfg_key_t *k = odoo_keys; k->name; k++)
        if (k->def)
            set_value((char *)&c->odoo, k, k->def);

    cfg_parse_t p = {.cfg = c, .errors = errors, .path = path, .at_line_start = true};
    p.fp = fopen(path, "r");
    if (!p.fp) {
        buf_printf(errors, "%s: cannot open: %s\n", path, strerror(errno));
        cfg_free(c);
        return NULL;
    }
    /* Process-wide libinih settings; start-up only (see the header). */
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = CFG_MAX_LINE;
    int rc = ini_parse_stream(cfg_reader, &p, cfg_on_key, &p);
    fclose(p.fp);
    if (rc > 0 && p.nerrors == 0)
        cfg_error(&p, rc, "syntax error (expected [section] or key = value; lines up to %d bytes)", CFG_MAX_LINE);
    else if (rc < 0)
        cfg_error(&p, 0, "cannot parse (out of memory)");

    char *resolved = resolve_relative(path, c->store_path);
    if (resolved) {
        free(c->store_path);
        c->store_path = resolved;
    }
    if (!strcmp(c->store_backend, "postgres")) {
        if (!c->store_url.value)
            cfg_error(&p, 0, "[store] backend = postgres needs url (or url_file / url_env)");
        else if (strncmp(c->store_url.value, "postgresql://", 13) != 0 &&
                 strncmp(c->store_url.value, "postgres://", 11) != 0)
            cfg_error(&p, 0, "[store] url must start with postgresql:// (or postgres://)");
    } else if (c->store_url.value || c->store_password.value) {
        cfg_error(&p, 0, "[store] url and password apply to backend = postgres only (backend is %s)",
                  c->store_backend);
    }
    listen_check(&p);
    for (size_t i = 0; i < c->nshops; i++) {
        cfg_shop_t *s = &c->shops[i];
        if (!s->webhook_secret.value)
            cfg_error(&p, s->line, "[shop %s] has no webhook_secret (or webhook_secret_file / webhook_secret_env)",
                      s->domain);
        if (s->public_url && strncmp(s->public_url, "http://", 7) != 0 && strncmp(s->public_url, "https://", 8) != 0)
            cfg_error(&p, s->line, "[shop %s] public_url must start with https:// (or http:// for an emulator)",
                      s->domain);
        if (s->admin_url && strncmp(s->admin_url, "http://", 7) != 0 && strncmp(s->admin_url, "https://", 8) != 0)
            cfg_error(&p, s->line, "[shop %s] admin_url must start with https:// (or http:// for an emulator)",
                      s->domain);
        if (strcmp(s->api_version, "unstable") != 0 &&
            (strlen(s->api_version) != 7 || strspn(s->api_version, "0123456789") != 4 || s->api_version[4] != '-' ||
             strspn(s->api_version + 5, "0123456789") != 2))
            cfg_error(&p, s->line, "[shop %s] api_version '%s' is not an Admin API version (YYYY-MM or unstable)",
                      s->domain, s->api_version);
        const char *t = s->amount_tolerance;
        size_t digits = strspn(t, "0123456789");
        const char *dot = t + digits;
        if (!digits || (*dot && (*dot != '.' || strspn(dot + 1, "0123456789") != strlen(dot + 1) ||
                                 strlen(dot + 1) > 2 || !dot[1])))
            cfg_error(&p, s->line, "[shop %s] amount_tolerance '%s' is not an amount such as 0.00 or 0.01", s->domain,
                      t);
    }
    if (c->odoo.configured) {
        cfg_odoo_t *o = &c->odoo;
        if (!o->url || !o->database)
            cfg_error(&p, o->line, "[odoo] needs url and database");
        else if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0)
            cfg_error(&p, o->line, "[odoo] url must start with https:// (or http:// for a local test server)");
        if (!o->api_key.value && !o->password.value)
            cfg_error(&p, o->line, "[odoo] needs api_key (or api_key_file / api_key_env) or password");
        if (!o->api_key.value && strcmp(o->protocol, "json2") == 0)
            cfg_error(&p, o->line, "[odoo] protocol = json2 authenticates with an API key: set api_key");
        if (!o->username && strcmp(o->protocol, "json2") != 0)
            cfg_error(&p, o->line, "[odoo] needs username for JSON-RPC (protocol auto or jsonrpc)");
    }
    for (size_t i = 0; i < c->nkinds; i++) {
        cfg_kind_t *k = &c->kinds[i];
        if ((k->set & CFG_KIND_BACKOFF_BASE) && (k->set & CFG_KIND_BACKOFF_CAP) &&
            k->backoff_cap_ms < k->backoff_base_ms)
            cfg_error(&p, 0, "[kind %s] backoff_cap is smaller than backoff_base", k->name);
    }
    sources_check(&p);
    for (size_t i = 0; i < c->noperators; i++) {
        const cfg_operator_t *o = &c->operators[i];
        /* The name becomes the audit log's actor: keep it a plain word. */
        if (strspn(o->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(o->name))
            cfg_error(&p, o->line, "[operator %s]: the name may hold only letters, digits, '.', '_' and '-'",
                      o->name);
        if (!o->token.value)
            cfg_error(&p, o->line, "[operator %s] has no token (or token_file / token_env)", o->name);
        else if (o->token.len < CFG_MIN_TOKEN)
            cfg_error(&p, o->line, "[operator %s] token is shorter than %d characters", o->name, CFG_MIN_TOKEN);
        for (size_t j = 0; j < i && o->token.value; j++)
            if (c->operators[j].token.value &&
                crypto_equal(o->token.value, o->token.len, c->operators[j].token.value, c->operators[j].token.len))
                cfg_error(&p, o->line, "[operator %s] has the same token as [operator %s]: the audit log could not "
                          "tell them apart", o->name, c->operators[j].name);
    }
    strmap_free(&p.seen);
    strmap_free(&p.shops);
    for (size_t i = 0; p.shop_spelling && i < c->nshops; i++)
        free(p.shop_spelling[i]);
    free(p.shop_spelling);
    free(p.shop_header);
    if (p.nerrors) {
        cfg_free(c);
        return NULL;
    }
    return c;
}

/* Each entry of a comma-separated list, trimmed: fn(entry, length, ud); non-zero stops and is returned. */
static int list_each(const char *list, int (*fn)(const char *e, size_t n, void *ud), void *ud)
{
    for (const char *p = list ? list : ""; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m && p[m - 1] == ' ')
            m--;
        int rc = m ? fn(p, m, ud) : 0;
        if (rc)
            return rc;
        p += n;
    }
    return 0;
}

typedef struct list_probe {
    const char *word;
    size_t len;
    bool prefix;
} list_probe_t;

static int probe_entry(const char *e, size_t n, void *ud)
{
    const list_probe_t *pr = ud;
    if (pr->prefix && n && e[n - 1] == '*')
        return pr->len >= n - 1 && strncasecmp(e, pr->word, n - 1) == 0;
    return n == pr->len && strncasecmp(e, pr->word, n) == 0;
}

bool cfg_list_has(const char *list, const char *word)
{
    list_probe_t pr = {word, word ? strlen(word) : 0, false};
    return word && list_each(list, probe_entry, &pr) != 0;
}

bool cfg_list_match(const char *list, const char *word)
{
    list_probe_t pr = {word, word ? strlen(word) : 0, true};
    return word && list_each(list, probe_entry, &pr) != 0;
}

typedef struct map_walk {
    int (*fn)(const char *k, size_t kl, const char *v, size_t vl, void *ud);
    void *ud;
} map_walk_t;

static int map_split(const char *e, size_t n, void *ud)
{
    const map_walk_t *w = ud;
    const char *eq = memchr(e, '=', n);
    if (!eq)
        return w->fn(e, n, NULL, 0, w->ud);
    size_t kl = (size_t)(eq - e);
    const char *v = eq + 1;
    while (kl && e[kl - 1] == ' ')
        kl--;
    while (v < e + n && *v == ' ')
        v++;
    return w->fn(e, kl, v, (size_t)(e + n - v), w->ud);
}

int cfg_map_each(const char *map, int (*fn)(const char *k, size_t kl, const char *v, size_t vl, void *ud), void *ud)
{
    map_walk_t w = {fn, ud};
    return list_each(map, map_split, &w);
}

typedef struct map_probe {
    const char *word;
    bool by_value;
    char *out;
    size_t n;
} map_probe_t;

static int map_entry(const char *k, size_t kl, const char *v, size_t vl, void *ud)
{
    map_probe_t *mp = ud;
    if (!v)
        return 0;
    const char *match = mp->by_value ? v : k, *other = mp->by_value ? k : v;
    size_t ml = mp->by_value ? vl : kl, ol = mp->by_value ? kl : vl;
    if (ml != strlen(mp->word) || strncmp(match, mp->word, ml) != 0)
        return 0;
    snprintf(mp->out, mp->n, "%.*s", (int)ol, other);
    return 1;
}

bool cfg_map_get(const char *map, const char *word, bool by_value, char *out, size_t n)
{
    map_probe_t mp = {word, by_value, out, n};
    return word && cfg_map_each(map, map_entry, &mp) != 0;
}

void cfg_free(cfg_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nshops; i++) {
        free(c->shops[i].domain);
        free(c->shops[i].shipping_product);
        free(c->shops[i].confirm_on);
        free(c->shops[i].sku_map);
        free(c->shops[i].tax_map);
        free(c->shops[i].pricelists);
        free(c->shops[i].gift_card_product);
        free(c->shops[i].tip_product);
        free(c->shops[i].duty_product);
        free(c->shops[i].amount_tolerance);
        secret_free(&c->shops[i].webhook_secret);
        secret_free(&c->shops[i].webhook_secret_previous);
        secret_free(&c->shops[i].admin_token);
        free(c->shops[i].api_version);
        free(c->shops[i].admin_url);
        free(c->shops[i].locations);
        free(c->shops[i].inventory_skip);
        free(c->shops[i].public_url);
        free(c->shops[i].owner);
        free(c->shops[i].invoice_on);
        free(c->shops[i].payment_journals);
        free(c->shops[i].hold_risk);
    }
    free(c->shops);
    for (size_t i = 0; i < c->nkinds; i++) {
        free(c->kinds[i].name);
        free(c->kinds[i].owner);
    }
    free(c->kinds);
    sources_free(c);
    for (size_t i = 0; i < c->noperators; i++) {
        free(c->operators[i].name);
        secret_free(&c->operators[i].token);
    }
    free(c->operators);
    free(c->odoo.url);
    free(c->odoo.database);
    free(c->odoo.username);
    free(c->odoo.protocol);
    free(c->odoo.protected_fields);
    free(c->odoo.note_sender);
    secret_free(&c->odoo.api_key);
    secret_free(&c->odoo.password);
    free(c->path);
    free(c->listen.host);
    free(c->ops_listen.host);
    free(c->store_backend);
    free(c->store_path);
    secret_free(&c->store_url);
    secret_free(&c->store_password);
    free(c);
}

bool cfg_json_pointer_valid(const char *ptr)
{
    if (!ptr)
        return false;
    if (*ptr == '\0')
        return true;
    if (*ptr != '/')
        return false;
    for (const char *q = ptr; *q; q++)
        if (*q == '~' && q[1] != '0' && q[1] != '1')
            return false;
    return true;
}

const cfg_shop_t *cfg_shop_find(const cfg_t *c, const char *domain)
{
    for (size_t i = 0; i < c->nshops; i++)
        if (strcasecmp(c->shops[i].domain, domain) == 0)
            return &c->shops[i];
    return NULL;
}

const cfg_kind_t *cfg_kind_find(const cfg_t *c, const char *kind)
{
    for (size_t i = 0; i < c->nkinds; i++)
        if (strcmp(c->kinds[i].name, kind) == 0)
            return &c->kinds[i];
    return NULL;
}

/* Every section's table, in the order `help config` and synchub.ini(5) list them. */
static const struct {
    const char *section;
    const cfg_key_t *keys;
} cfg_sections[] = {
    {"server", server_keys}, {"store", store_keys}, {"log", log_keys}, {"debug", debug_keys}, {"odoo", odoo_keys},
    {"shop DOMAIN", shop_keys}, {"kind NAME", kind_keys}, {"operator NAME", operator_keys},
    {"source NAME", source_keys}};

void cfg_reference_each(void (*fn)(const cfg_ref_t *r, void *ud), void *ud)
{
    for (size_t i = 0; i < sizeof(cfg_sections) / sizeof(cfg_sections[0]); i++)
        for (const cfg_key_t *t = cfg_sections[i].keys; t->name; t++) {
            cfg_ref_t r = {cfg_sections[i].section, t->name,
                           t->def ? (*t->def ? t->def : "(none)") : (t->type == T_SECRET ? "(secret)" : "-"),
                           t->help, t->type == T_SECRET};
            fn(&r, ud);
        }
}

static void print_ref(const cfg_ref_t *r, void *ud)
{
    struct { buf_t *out; const char *section; } *p = ud;
    if (p->section != r->section)
        buf_printf(p->out, "[%s]\n", r->section);
    p->section = r->section;
    /* A default with a space is shown in quotes, so that where it ends is clear (the file takes it unquoted). */
    char quoted[160];
    const char *def = r->def;
    if (strchr(def, ' ')) {
        snprintf(quoted, sizeof(quoted), "\"%s\"", def);
        def = quoted;
    }
    buf_printf(p->out, "  %-24s %-16s %s%s\n", r->key, def, r->help,
               r->secret ? " (also NAME_file = PATH, NAME_env = VAR)" : "");
}

void cfg_print_reference(buf_t *out)
{
    struct { buf_t *out; const char *section; } p = {out, NULL};
    cfg_reference_each(print_ref, &p);
}

/* ---- [source NAME] ------------------------------------------------------------------------------------------- */

static cfg_source_t *source_get(cfg_parse_t *p, const char *name)
{
    cfg_t *c = p->cfg;
    for (size_t i = 0; i < c->nsources; i++)
        if (strcmp(c->sources[i].name, name) == 0)
            return &c->sources[i];
    cfg_source_t *s = section_new(&c->sources, &c->nsources, sizeof(*s));
    if (!s)
        return NULL;
    s->name = strdup(name);
    section_defaults(s, source_keys);
    s->line = p->line;
    return s;
}

/* Checks spanning keys: the auth mode has its secret, names fit in a URL path segment. */
static void sources_check(cfg_parse_t *p)
{
    cfg_t *c = p->cfg;
    for (size_t i = 0; i < c->nsources; i++) {
        cfg_source_t *s = &c->sources[i];
        if (strspn(s->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != strlen(s->name) ||
            strlen(s->name) > 64)
            cfg_error(p, s->line, "[source %s]: a source name is at most 64 letters, digits, '-', '_' or '.' (it is "
                      "the last part of the URL /events/NAME)", s->name);
        if (strcmp(s->auth, "hmac") == 0) {
            if (!s->secret.value)
                cfg_error(p, s->line, "[source %s] auth = hmac needs secret (or secret_file / secret_env)", s->name);
        } else if (strcmp(s->auth, "bearer") == 0) {
            if (!s->token.value)
                cfg_error(p, s->line, "[source %s] auth = bearer needs token (or token_file / token_env)", s->name);
        } else {
            cfg_error(p, s->line, "[source %s] auth '%s' is not hmac or bearer", s->name, s->auth);
        }
        if (strcmp(s->format, "canonical") != 0 && strcmp(s->format, "mapped") != 0)
            cfg_error(p, s->line, "[source %s] format '%s' is not canonical or mapped", s->name, s->format);
    }
}

static void sources_free(cfg_t *c)
{
    for (size_t i = 0; i < c->nsources; i++) {
        cfg_source_t *s = &c->sources[i];
        free(s->name);
        free(s->auth);
        secret_free(&s->secret);
        secret_free(&s->secret_previous);
        secret_free(&s->token);
        free(s->signature_header);
        free(s->timestamp_header);
        free(s->format);
        for (int f = 0; f < CFG_EVF_COUNT; f++)
            free(s->map[f]);
        free(s->status_map);
        free(s->responsible);
        free(s->owner);
    }
    free(c->sources);
}

const cfg_source_t *cfg_source_find(const cfg_t *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->nsources; i++)
        if (strcmp(c->sources[i].name, name) == 0)
            return &c->sources[i];
    return NULL;
}
