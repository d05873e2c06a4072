/* shopify: a client for Shopify's GraphQL Admin API (POST {admin_url}/admin/api/{api_version}/graphql.json with
 * X-Shopify-Access-Token) that paces itself by the shop's cost-based leaky bucket and turns every answer into the
 * project's err_t (class, code, Shopify's message, what to do). Also the small pure helpers its callers need:
 * userErrors, GIDs, idempotency keys.
 * Not here: what is queried or written (the inventory and fulfillment pushers), caching of business data, and the
 * webhook side of Shopify (src/ingest/).
 *
 * Threads. One shopify_t per thread (it owns a keep-alive HTTP handle and its json values), like odoo_t. The rate
 * limit, however, is one bucket per app and shop, drained by every worker that calls the shop, so the estimate of
 * that bucket is one shopify_throttle_t per shop, created at start-up and handed to each thread's client. It holds
 * numbers only (no json_t) behind a mutex: the one piece of mutable state shared between workers outside the
 * store, because per-thread estimates would each believe the whole bucket is theirs and N workers would send N
 * times what fits (every surplus request is a wasted round trip answered THROTTLED).
 *
 * Throttle. Nothing about the bucket is configured or hard-coded: every answer carries
 * extensions.cost.throttleStatus {maximumAvailable, currentlyAvailable, restoreRate}, and the throttle keeps the
 * latest one (shopify_bucket_update). Before a request is sent its cost (the caller's estimate, or the
 * requestedQueryCost Shopify reported last time for the same query text, whichever is larger) is reserved against
 * the estimate refilled at restoreRate since that report, minus what other threads have reserved and not yet
 * seen answered; when it does not fit the thread sleeps until it would (shopify_bucket_wait_ms). Subtracting
 * every unanswered reservation may count a request twice (once in Shopify's report, once as reserved): it errs
 * on the side of waiting. A THROTTLED answer (HTTP 200, nothing ran) or an HTTP 429 can still come (another
 * process using the same app and shop drains the same bucket; an estimate is only an estimate) and is handled by
 * the same means: record the reported status, wait, send the same request again. Nothing ran, so nothing is lost
 * or done twice. How long to wait: an answer's Retry-After header when it has one (Shopify sends it with its 429s:
 * seconds, possibly fractional like "2.0"; the HTTP-date form is read too; shopify_retry_after_ms) is slept in
 * full, but at least 100 ms and at least twice the previous pause of the same call, so that a server answering
 * "0" again and again is not hammered. An answer that says nothing of how long (no Retry-After, and no
 * throttleStatus by which the query would have to wait) is backed off 1 s, doubling. A call gives up after [shop]
 * throttle_wait of waiting, with a transient error (the job is retried later with backoff), and at once when
 * Retry-After asks for more than is left of throttle_wait: sending earlier would only be answered 429 again, and
 * cutting the pause short is not honouring it. A worker may so sleep throttle_wait inside a job, which its lease
 * renewal covers.
 *
 * Errors (shopify_graphql):
 *   THROTTLED (200), 429             waited for and re-sent; past throttle_wait: transient shopify.throttled
 *   5xx, INTERNAL_SERVER_ERROR,
 *   transport failure, timeout       transient (not re-sent here: the job is retried, mutations with their
 *                                    idempotency key)
 *   401, 403, 402, 423, ACCESS_DENIED configuration (token, scopes, shop frozen or locked)
 *   404                              configuration (api_version not served, wrong shop or admin_url)
 *   MAX_COST_EXCEEDED                internal (synchub must ask for fewer items per query)
 *   RESOURCE_NOT_FOUND, Invalid id   data (the id named in the message)
 *   other GraphQL errors, 400        internal (the query does not fit this API version: a synchub bug)
 *   userErrors (shopify_mutate)      data, code shopify.<userError code lower-cased>, the field paths named
 * Any entry of "errors" fails the whole call, even next to partial data. A transient or internal failure that
 * Shopify answered ends its message with the answer's X-Request-Id ("(Shopify X-Request-Id …)"), which Shopify
 * support asks for; a message already quoting it (INTERNAL_SERVER_ERROR does) is left as is.
 */
#ifndef SYNCHUB_SHOPIFY_H
#define SYNCHUB_SHOPIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cfg.h"
#include "core/err.h"
#include "obs/metrics.h"

/* ---- the bucket estimate (pure; exposed for tests) ------------------------------------------------------------ */

/* The last throttleStatus Shopify reported, and when. maximum == 0 means nothing was reported yet. */
typedef struct shopify_bucket {
    double maximum;    /* maximumAvailable: the bucket's size in points */
    double available;  /* currentlyAvailable at at_ms */
    double restore;    /* restoreRate: points per second */
    int64_t at_ms;     /* monotonic ms (clock_mono_ms) when the report arrived */
} shopify_bucket_t;

#define SHOPIFY_BUCKET_INIT {0, 0, 0, 0}

/* Record extensions.cost.throttleStatus of a response's top-level "extensions" object (borrowed) as of now_ms.
 * Returns 0, or -1 when extensions carries no complete throttleStatus (b is then unchanged). */
int shopify_bucket_update(shopify_bucket_t *b, const json_t *extensions, int64_t now_ms);

/* Points available at now_ms: the reported figure refilled at restoreRate since, capped at the maximum. */
double shopify_bucket_available(const shopify_bucket_t *b, int64_t now_ms);

/* How long to wait at now_ms before a query of `cost` points fits: 0 = now (also when nothing was reported yet);
 * -1 = never at the reported rate (restoreRate 0). A cost above the bucket's size is treated as the size (the
 * query is sent when the bucket is full, and Shopify answers MAX_COST_EXCEEDED). Rounded up to whole ms. */
int64_t shopify_bucket_wait_ms(const shopify_bucket_t *b, double cost, int64_t now_ms);

/* requestedQueryCost / actualQueryCost of a response's "extensions" (borrowed); -1 when absent or null (a
 * THROTTLED answer has no actual cost). */
int shopify_cost_requested(const json_t *extensions);
int shopify_cost_actual(const json_t *extensions);

/* Retry-After values above this are taken as this (ten minutes, the longest [shop] throttle_wait the configuration
 * accepts): no call waits longer than that anyway, and the arithmetic stays small. */
#define SHOPIFY_RETRY_AFTER_MAX_MS 600000

/* How long a Retry-After header value asks to wait, in ms: delay-seconds, fractional ones too ("2", "2.0",
 * "0.25"; a fraction finer than 1 ms is rounded up), or an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as of
 * now_ms (wall clock, ms since the epoch; a date already past is 0). Capped at SHOPIFY_RETRY_AFTER_MAX_MS.
 * -1 when value is NULL or neither form (also the obsolete RFC 850 and asctime dates, signs, exponents): the
 * caller then falls back as if there were no header. */
int64_t shopify_retry_after_ms(const char *value, int64_t now_ms);

/* ---- the shared per-shop throttle ---------------------------------------------------------------------------- */

typedef struct shopify_throttle shopify_throttle_t;

/* One per shop, created before the workers start, freed after they stopped (shopify_t borrows it). NULL on
 * allocation failure. The functions below may be called from any thread. */
shopify_throttle_t *shopify_throttle_new(void);
void shopify_throttle_free(shopify_throttle_t *t);

/* Reserve cost points at now_ms if they fit the estimate (refilled bucket minus unanswered reservations): returns
 * 0 and the caller sends, then calls shopify_throttle_done with the same cost. Otherwise nothing is reserved and
 * the return value is how many ms to wait before asking again (> 0). */
int64_t shopify_throttle_reserve(shopify_throttle_t *t, double cost, int64_t now_ms);

/* Sleep up to ms, or less when another thread's request is answered meanwhile (its report may make room). */
void shopify_throttle_sleep(shopify_throttle_t *t, int64_t ms);

/* The request that reserved cost points was answered (extensions = the answer's top-level "extensions", borrowed,
 * or NULL when there was no usable answer): release the reservation and record the reported status. */
void shopify_throttle_done(shopify_throttle_t *t, double cost, const json_t *extensions, int64_t now_ms);

/* A copy of the current estimate (for status pages and tests) and the sum of unanswered reservations. */
void shopify_throttle_snapshot(shopify_throttle_t *t, shopify_bucket_t *out, double *reserved);

/* ---- the client ----------------------------------------------------------------------------------------------- */

typedef struct shopify shopify_t;

/* shop (and its admin_token) and throttle are borrowed for the client's lifetime; throttle may be NULL for a
 * client used alone (it then keeps a private one). Nothing is sent until the first call. NULL on allocation
 * failure. One thread uses a client at a time. */
shopify_t *shopify_new(const cfg_shop_t *shop, shopify_throttle_t *throttle);
void shopify_free(shopify_t *s);

/* Send one GraphQL document. variables (object or NULL) is borrowed. expected_cost is the caller's estimate of the
 * requested cost in points (0 = unknown: the cost Shopify reported for the same query text last time is used, or
 * 1 the first time). Waits for the rate limit and re-sends throttled requests as described above. On success
 * returns 0 and *data is a new reference to the answer's "data" object. On failure returns -1, *data is NULL and
 * err is classified (table above); err->record names "shopify DOMAIN OPERATION".
 * A mutation that carries no @idempotent directive goes out on a fresh connection, so that libcurl never re-sends
 * it by itself after a dropped keep-alive connection. */
int shopify_graphql(shopify_t *s, const char *query, json_t *variables, int expected_cost, json_t **data,
                    err_t *err);

/* Run a mutation whose root field is `mutation` (e.g. "inventorySetQuantities") and return its payload.
 * idempotency_key (may be NULL) is sent as the variable $idempotencyKey, which the document must declare
 * ($idempotencyKey: String!) and use (@idempotent(key: $idempotencyKey)): pass shopify_idempotency_key() of the
 * job so that every retry of the job repeats the key and Shopify runs the mutation at most once. The directive
 * exists from API version 2026-01 (shopify_has_idempotent). On success 0 and *payload is a new reference to
 * data.<mutation>; a non-empty userErrors is a failure (shopify_user_errors). variables is borrowed. */
int shopify_mutate(shopify_t *s, const char *query, json_t *variables, const char *mutation,
                   const char *idempotency_key, int expected_cost, json_t **payload, err_t *err);

const char *shopify_api_version(const shopify_t *s);
bool shopify_has_idempotent(const shopify_t *s);  /* the pinned version knows @idempotent (2026-01 and later) */
uint64_t shopify_requests(const shopify_t *s);     /* HTTP requests sent so far, re-sent ones included */
uint64_t shopify_throttled(const shopify_t *s);    /* of which answered THROTTLED or 429 */
int64_t shopify_waited_ms(const shopify_t *s);     /* total time slept for the rate limit */
/* Measure this client in m: request durations (system="shopify", method = the GraphQL operation name), errors by
 * class, throttled answers and throttle pauses by shop. NULL stops. m is borrowed for the client's lifetime. */
void shopify_set_metrics(shopify_t *s, metrics_t *m);

/* Outages (circuit breaker, queue/queue_breaker.h). shopify_target names the shop, "shopify:<domain>": the err_t
 * target of every call that failed because Shopify did not answer (refused, timed out, reset, HTTP 502/503/504).
 * shopify_probe asks it one cheap question (query { shop { id } }) on a fresh client: 0 when it answers, else -1
 * with err. */
void shopify_target(const cfg_shop_t *shop, char *out, size_t n);
int shopify_probe(const cfg_shop_t *shop, err_t *err);

/* ---- pure helpers (any thread) -------------------------------------------------------------------------------- */

/* Classify one answer. doc is the parsed body (borrowed; NULL when the body is not JSON). Returns 0 when doc has
 * usable "data" and no "errors"; 1 when the request was throttled (THROTTLED, or HTTP 429) and may be sent again
 * as is — err is then filled as the transient shopify.throttled to return if the caller stops waiting; -1
 * otherwise with err classified. record names the call ("shopify acme.myshopify.com query Products"). */
int shopify_classify(long status, const json_t *doc, const char *api_version, const char *record, err_t *err);

/* A mutation payload's userErrors (payload = data.<mutation>, borrowed): 0 when absent or empty; otherwise -1 with
 * err class data (transient for IDEMPOTENCY_CONCURRENT_REQUEST, internal for IDEMPOTENCY_KEY_PARAMETER_MISMATCH),
 * code "shopify." + the first error's code lower-cased ("shopify.change_from_quantity_stale"), or
 * "shopify.user_error" when it has none, and a message naming each error's field path and message. Shopify ran
 * nothing, so retry_safe is true. */
int shopify_user_errors(const json_t *payload, const char *mutation, err_t *err);

/* The err_t code of a userError code: "CHANGE_FROM_QUANTITY_STALE" → "shopify.change_from_quantity_stale"
 * ("shopify.user_error" for NULL or ""). */
void shopify_error_code(const char *code, char *out, size_t n);

/* "gid://shopify/<type>/<id>" into out. 0, or -1 if it does not fit (out is then ""). */
int shopify_gid(const char *type, const char *id, char *out, size_t n);

/* The numeric id of a GID, with any "?query" stripped: "gid://shopify/InventoryItem/30322695" → "30322695".
 * Beware the InventoryLevel GID "gid://shopify/InventoryLevel/24826418?inventory_item_id=271878346596884015":
 * its id is not the inventory item's (use shopify_gid_param for that). 0, or -1 if gid is not a Shopify GID
 * with a numeric id or the id does not fit (out is then ""). */
int shopify_gid_id(const char *gid, char *out, size_t n);

/* The object type of a GID ("InventoryLevel"). 0 or -1, like shopify_gid_id. */
int shopify_gid_type(const char *gid, char *out, size_t n);

/* The value of query parameter `name` of a GID ("inventory_item_id" → "271878346596884015"). 0, or -1 when
 * absent or too long. */
int shopify_gid_param(const char *gid, const char *name, char *out, size_t n);

/* The @idempotent key of one mutation of a job: the job id itself when step is NULL or "" (a job that sends one
 * such mutation), else the first 32 hex digits of SHA-256(job_id "\n" step) (a job that sends several distinct
 * mutations: one key per distinct operation, the same on every retry). out needs 33 bytes; 0 or -1. */
int shopify_idempotency_key(const char *job_id, const char *step, char *out, size_t n);

/* Does API version `version` ("2026-04", "unstable") come at or after `floor`? */
bool shopify_version_at_least(const char *version, const char *floor);

#endif
