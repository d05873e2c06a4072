/* cfg: the INI configuration (libinih), read once at start-up into a read-only cfg_t. One table per section gives
 * each key's type, default, bounds and help text; errors name FILE:LINE. Secrets may come inline, from a file
 * (`KEY_file`) or from the environment (`KEY_env`); they are held only here and never printed.
 * Not here: what the settings mean at run time (each module reads its part). */
#ifndef SYNCHUB_CFG_H
#define SYNCHUB_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/log.h"

typedef struct cfg_secret {
    char *value;        /* NUL-terminated; NULL when not configured */
    size_t len;
} cfg_secret_t;

typedef struct cfg_shop {
    char *domain;                   /* the section name: acme.myshopify.com (lower-case) */
    cfg_secret_t webhook_secret;
    cfg_secret_t webhook_secret_previous;
    char *shipping_product;         /* Odoo default_code of the service product that carries shipping charges */
    char *confirm_on;               /* comma-separated financial statuses that confirm the sale order */
    char *sku_map;                  /* "SHOPIFY-SKU=ODOO-CODE, …": overrides for SKUs that differ */
    /* money (src/flows/flow_money.c, docs/SPEC-odoo.md "Money") */
    char *tax_map;                  /* "Shopify title[@rate]=Odoo tax id or name, …": overrides the match by rate */
    char *pricelists;               /* "EUR=Euro, GBP=7": currency → Odoo pricelist (id or name) */
    char *gift_card_product, *tip_product, *duty_product;  /* Odoo default_codes of service products */
    char *amount_tolerance;         /* "0.00": largest Odoo-vs-Shopify difference still confirmed */
    /* Admin API (src/shopify/) */
    cfg_secret_t admin_token;       /* the app's Admin API access token (X-Shopify-Access-Token); NULL = none */
    char *api_version;              /* pinned Admin API version: "2026-10" (or "unstable") */
    char *admin_url;                /* base URL of the Admin API; NULL = https://DOMAIN (tests: the emulator) */
    int64_t api_timeout_ms;         /* per-request timeout */
    int64_t throttle_wait_ms;       /* longest one call waits for the shop's rate limit before giving up */
    /* Odoo → Shopify (src/flows/) */
    char *locations;                /* "WH/Stock=71263993878, …": Odoo location ↔ Shopify location id */
    char *inventory_skip;           /* Odoo codes not sold on Shopify: "INTERNAL-*, SAMPLE-1" */
    int64_t inventory_interval_ms, inventory_lookback_ms, inventory_batch;
    int64_t fulfillment_interval_ms;
    int64_t reconcile_interval_ms, reconcile_window_ms;
    /* Webhook subscriptions (`synchub setup shopify`, the scheduler's check) and the integration catalog */
    char *public_url;               /* https://sync.acme.example: where Shopify reaches this synchub; NULL = none */
    int64_t subscriptions_interval_ms;   /* how often serve checks the shop's webhook subscriptions (0 = never) */
    char *owner;                    /* business owner of the shop's flows (`synchub catalog`); NULL = unowned */
    /* Order to cash (src/flows/flow_invoices.c) */
    char *invoice_on;               /* never | paid | fulfilled: when the Odoo invoice is made, posted and paid */
    char *payment_journals;         /* "shopify_payments=BNK1, paypal=PAYPL, *=BNK1": gateway → journal code */
    char *hold_risk;                /* high | medium | none: risk level at which an order stays unconfirmed */
    int line;
} cfg_shop_t;

/* [odoo]: the ERP synchub writes into. configured is false when the section is absent. */
typedef struct cfg_odoo {
    bool configured;
    char *url, *database, *username;
    cfg_secret_t api_key, password;  /* one of them: the API key is preferred (it is also JSON-2's bearer token) */
    char *protocol;                  /* auto | jsonrpc | json2 */
    int64_t timeout_ms, cache_ttl_ms, company;
    int64_t discount_digits;         /* decimals Odoo keeps of a line discount % ("Discount" accuracy) */
    char *protected_fields;          /* "res.partner.phone, sale.order.note": never overwritten on update */
    char *note_sender;               /* email_from of synchub's chatter notes ("synchub <synchub@localhost>");
                                      * "user": none sent, Odoo takes the integration user's e-mail */
    int line;
} cfg_odoo_t;

/* [source NAME]: a logistics partner posting shipment events (src/ingest/ingest_event.c, docs/events.md). The
 * map_* entries are JSON pointers (RFC 6901) into the partner's body, or for CSV imports a column name; one per
 * canonical field (enum order = ingest_event.c's field table). */
enum { CFG_EVF_EVENT_ID, CFG_EVF_OCCURRED_AT, CFG_EVF_REFERENCE, CFG_EVF_CARRIER, CFG_EVF_TRACKING_NUMBER,
       CFG_EVF_TRACKING_URL, CFG_EVF_STATUS, CFG_EVF_LOCATION, CFG_EVF_DETAIL, CFG_EVF_COUNT };
typedef struct cfg_source {
    char *name;                     /* the section name: the <source> of POST /events/<source> */
    char *auth;                     /* hmac | bearer */
    cfg_secret_t secret;            /* hmac: the shared key */
    cfg_secret_t secret_previous;   /* hmac: the key being rotated out */
    cfg_secret_t token;             /* bearer: the expected token */
    char *signature_header, *timestamp_header;
    int64_t max_skew_ms;            /* hmac: oldest (and furthest in the future) timestamp accepted */
    char *format;                   /* canonical | mapped */
    char *map[CFG_EVF_COUNT];       /* mapped: where each canonical field is; NULL = the canonical name */
    char *status_map;               /* mapped: "IT=in_transit, DL=delivered, …" */
    char *responsible;              /* Odoo user (login or id) who gets an activity for an exception */
    char *owner;                    /* business owner of the partner's flow (`synchub catalog`); NULL = unowned */
    int line;
} cfg_source_t;

/* Per-kind overrides; a field is meaningful only when its bit is set in `set`. */
enum { CFG_KIND_PRIORITY = 1, CFG_KIND_MAX_ATTEMPTS = 2, CFG_KIND_BACKOFF_BASE = 4, CFG_KIND_BACKOFF_CAP = 8,
       CFG_KIND_LEASE = 16 };
typedef struct cfg_kind {
    char *name;
    unsigned set;
    int64_t priority, max_attempts, backoff_base_ms, backoff_cap_ms, lease_ms;
    char *owner;        /* business owner of the flow of this kind, over the shop's or source's; NULL = none */
} cfg_kind_t;

/* [operator NAME]: a person (or tool) allowed to use the dashboard's JSON API. The token is a bearer secret; NAME is
 * what the audit log records ("token:NAME"). */
typedef struct cfg_operator {
    char *name;
    cfg_secret_t token;
    int line;
} cfg_operator_t;

/* A host:port to bind ([server] listen, ops_listen). host NULL = not set (only keys whose default is empty). */
typedef struct cfg_listen {
    char *host;
    int64_t port;
    int line;   /* where the file set it; 0 = the default */
} cfg_listen_t;

typedef struct cfg {
    char *path;                 /* as given */
    /* [server] */
    cfg_listen_t listen;        /* `serve`: webhooks, events, dashboard and the operations routes */
    cfg_listen_t ops_listen;    /* `worker`: /metrics, /healthz, /readyz only; host NULL = none */
    int64_t workers, http_threads;
    int64_t local_queue;        /* jobs claimed ahead of the workers; > 0: workers run ahead of commits */
    int64_t dispatchers;        /* connections committing the pool's rounds; 0 = the engine's default */
    int64_t web_threads, web_queue;   /* the dashboard API's own threads and its bounded queue (httpd_pool) */
    int64_t max_body, ack_timeout_ms, shutdown_grace_ms;
    int64_t ready_max_lag_ms, ready_max_depth;   /* /readyz bounds; 0 = none */
    int64_t pause_bulk_above;   /* back-pressure: no scheduled bulk work above this backlog; 0 = never pause */
    int64_t breaker_failures, breaker_window_ms, breaker_probe_max_ms;   /* circuit breakers (queue_breaker.h) */
    /* [store] */
    char *store_backend, *store_path;   /* "sqlite" | "postgres"; store_path resolved against the config's folder */
    cfg_secret_t store_url;             /* postgres: postgresql://USER@HOST:PORT/DB (may hold the password) */
    cfg_secret_t store_password;        /* postgres: the password when it is not in the URL; NULL = none */
    int64_t retention_ms, poll_interval_ms, store_max_size;
    /* [log] */
    log_level_t log_level;
    log_format_t log_format;
    /* [debug] */
    bool test_handlers;
    cfg_odoo_t odoo;
    cfg_shop_t *shops;
    size_t nshops;
    cfg_kind_t *kinds;
    size_t nkinds;
    cfg_source_t *sources;
    size_t nsources;
    cfg_operator_t *operators;
    size_t noperators;
} cfg_t;

/* Read and validate FILE. Returns the config (free with cfg_free), or NULL with every problem appended to errors
 * as "FILE:LINE: message\n". Start-up only: it sets libinih's process-wide line-length settings. */
cfg_t *cfg_load(const char *path, buf_t *errors);
void cfg_free(cfg_t *cfg);

/* Is ptr a JSON pointer (RFC 6901: "" or "/…", '~' only as ~0 or ~1)? The [source] map.* keys use them. */
bool cfg_json_pointer_valid(const char *ptr);

const cfg_shop_t *cfg_shop_find(const cfg_t *cfg, const char *domain);   /* case-insensitive; NULL if absent */
const cfg_kind_t *cfg_kind_find(const cfg_t *cfg, const char *kind);
const cfg_source_t *cfg_source_find(const cfg_t *cfg, const char *name);  /* exact name; NULL if absent */

/* The config's lists. "a, b, c": is word one of them (case-insensitive)? An entry ending in '*' matches every
 * word it prefixes when prefix is true. */
bool cfg_list_has(const char *list, const char *word);
bool cfg_list_match(const char *list, const char *word);   /* the same, with CODE* prefixes */
/* "A=B, C=D": copy the value of key A into out (by_value: the key whose value is the word, B → A). */
bool cfg_map_get(const char *map, const char *word, bool by_value, char *out, size_t n);
/* Every entry of such a map, trimmed: fn(key, key length, value, value length, ud); value is NULL for an entry
 * without '='. fn returns non-zero to stop; that value is returned. */
int cfg_map_each(const char *map, int (*fn)(const char *k, size_t kl, const char *v, size_t vl, void *ud), void *ud);

/* Print every section and key with its default and help text (for `synchub help config`). */
void cfg_print_reference(buf_t *out);
/* The same reference, one key at a time (synchub.ini(5) is generated from it). section: "shop DOMAIN", …;
 * def: the default as `help config` prints it ("(none)", "(secret)" or "-" when there is none). */
typedef struct cfg_ref {
    const char *section, *key, *def, *help;
    bool secret;   /* also KEY_file and KEY_env */
} cfg_ref_t;
void cfg_reference_each(void (*fn)(const cfg_ref_t *r, void *ud), void *ud);

#endif
