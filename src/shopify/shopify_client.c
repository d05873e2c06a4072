/* shopify_client: the wire side of the GraphQL Admin API — one POST per call to
 * {admin_url}/admin/api/{api_version}/graphql.json with the access token in X-Shopify-Access-Token — plus the
 * classification of every answer and the pure helpers of shopify.h (userErrors, GIDs, idempotency keys).
 *
 * One call (shopify_graphql):
 *   1. reserve its cost against the shop's bucket estimate, sleeping until it fits  [shopify_throttle_reserve]
 *   2. send; a transport failure ends the call (transient)                          [httpc_request]
 *   3. record the answer's throttleStatus and requestedQueryCost                    [shopify_throttle_done]
 *   4. classify: data → done; THROTTLED or 429 → pause for Retry-After, or back off when nothing says how long,
 *      then back to 1 (nothing ran, so the same request is sent again);             [shopify_retry_after_ms]
 *      anything else → the classified error, with Shopify's X-Request-Id            [shopify_classify]
 * Throttle waits of one call add up to at most [shop] throttle_wait. */
#define _GNU_SOURCE
#include "shopify/shopify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "net/httpc.h"

#define COST_SLOTS 32  /* requestedQueryCost remembered per query text (direct-mapped by hash) */
#define PAUSE_FLOOR_MS 100  /* the shortest pause after a throttled answer, whatever Retry-After says */

struct shopify {
    const cfg_shop_t *shop;
    shopify_throttle_t *throttle;
    shopify_throttle_t *own_throttle;   /* when none was given */
    httpc_t *http;
    char *url;                          /* …/admin/api/<version>/graphql.json */
    char *token_header;                 /* "X-Shopify-Access-Token: …"; wiped on free */
    buf_t resp;
    struct {
        uint64_t hash;
        int cost;
    } costs[COST_SLOTS];
    uint64_t requests, throttled;
    int64_t waited_ms;
    metrics_t *metrics;                 /* NULL = not measured */
};

shopify_t *shopify_new(const cfg_shop_t *shop, shopify_throttle_t *throttle)
{
    shopify_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->shop = shop;
    s->throttle = throttle;
    if (!throttle)
        s->throttle = s->own_throttle = shopify_throttle_new();
    s->http = httpc_new(shop->api_timeout_ms);
    buf_init(&s->resp);
    /* The base URL without a trailing slash: admin_url as configured, else the shop's own domain. */
    const char *base = shop->admin_url && *shop->admin_url ? shop->admin_url : NULL;
    size_t blen = base ? strlen(base) : 0;
    while (blen && base[blen - 1] == '/')
        blen--;
    int rc = base ? asprintf(&s->url, "%.*s/admin/api/%s/graphql.json", (int)blen, base, shop->api_version)
                  : asprintf(&s->url, "https://%s/admin/api/%s/graphql.json", shop->domain, shop->api_version);
    if (rc < 0)
        s->url = NULL;
    if (shop->admin_token.value &&
        asprintf(&s->token_header, "X-Shopify-Access-Token: %s", shop->admin_token.value) < 0)
        s->token_header = NULL;
    if (!s->throttle || !s->http || !s->url || (shop->admin_token.value && !s->token_header)) {
        shopify_free(s);
        return NULL;
    }
    return s;
}

void shopify_target(const cfg_shop_t *shop, char *out, size_t n)
{
    snprintf(out, n, "shopify:%s", shop->domain ? shop->domain : "");
}

int shopify_probe(const cfg_shop_t *shop, err_t *err)
{
    shopify_t *s = shopify_new(shop, NULL);
    if (!s)
        return err_set(err, ERR_INTERNAL, "shopify.oom", "out of memory");
    json_t *data = NULL;
    int rc = shopify_graphql(s, "query Probe { shop { id } }", NULL, 1, &data, err);
    json_decref(data);
    shopify_free(s);
    return rc;
}

void shopify_free(shopify_t *s)
{
    if (!s)
        return;
    httpc_free(s->http);
    shopify_throttle_free(s->own_throttle);
    if (s->token_header) {
        explicit_bzero(s->token_header, strlen(s->token_header));
        free(s->token_header);
    }
    buf_release(&s->resp);
    free(s->url);
    free(s);
}

const char *shopify_api_version(const shopify_t *s) { return s->shop->api_version; }
bool shopify_has_idempotent(const shopify_t *s) { return shopify_version_at_least(s->shop->api_version, "2026-01"); }
uint64_t shopify_requests(const shopify_t *s) { return s->requests; }
uint64_t shopify_throttled(const shopify_t *s) { return s->throttled; }
int64_t shopify_waited_ms(const shopify_t *s) { return s->waited_ms; }
void shopify_set_metrics(shopify_t *s, metrics_t *m) { s->metrics = m; }

bool shopify_version_at_least(const char *version, const char *floor)
{
    if (!strcmp(version, "unstable"))
        return true;
    if (!strcmp(floor, "unstable"))
        return false;
    return strcmp(version, floor) >= 0; /* "YYYY-MM" sorts as text */
}

/* ---- classification ------------------------------------------------------------------------------------------ */

/* "input.quantities.0.changeFromQuantity" from a path or field array (strings and numbers). */
static void path_of(const json_t *path, buf_t *out)
{
    size_t i;
    const json_t *p;
    json_array_foreach(path, i, p) {
        if (i)
            buf_puts(out, ".");
        if (json_is_string(p))
            buf_puts(out, json_string_value(p));
        else if (json_is_integer(p))
            buf_printf(out, "%lld", (long long)json_integer_value(p));
    }
}

/* "path: message; path: message (CODE); … and N more" for a list of GraphQL errors (path key "path") or
 * userErrors (path key "field", with their codes). */
static void join_errors(const json_t *list, const char *path_key, bool with_code, size_t max, buf_t *out)
{
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e) {
        if (i == max) {
            buf_printf(out, "; and %zu more", json_array_size(list) - max);
            break;
        }
        const char *m = json_string_value(json_object_get(e, "message"));
        if (i)
            buf_puts(out, "; ");
        size_t before = out->len;
        path_of(json_object_get(e, path_key), out);
        if (out->len > before)
            buf_puts(out, ": ");
        buf_puts(out, m && *m ? m : "(no message)");
        const char *c = with_code ? json_string_value(json_object_get(e, "code")) : NULL;
        if (c && *c)
            buf_printf(out, " (%s)", c);
    }
}

static const char *error_code(const json_t *e)
{
    const char *c = json_string_value(json_object_get(json_object_get(e, "extensions"), "code"));
    return c ? c : "";
}

static bool has_throttled(const json_t *errors)
{
    size_t i;
    const json_t *e;
    json_array_foreach(errors, i, e)
        if (!strcmp(error_code(e), "THROTTLED"))
            return true;
    return false;
}

static void set_throttled(const char *record, err_t *err)
{
    err_set(err, ERR_TRANSIENT, "shopify.throttled", "Shopify's rate limit for this app and shop kept the call "
            "from running (THROTTLED); nothing ran");
    err_record(err, "%s", record);
    err_hint(err, "every process and tool using this app's token on the shop drains the same bucket; the job is "
                  "retried later with backoff");
}

/* The text of a non-GraphQL error body: {"errors": "..."} or {"errors": {"query": "..."}}. */
static const char *errors_text(const json_t *doc)
{
    const json_t *e = json_object_get(doc, "errors");
    if (json_is_string(e))
        return json_string_value(e);
    if (json_is_object(e)) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)e, k, v)
            if (json_is_string(v))
                return json_string_value(v);
    }
    return NULL;
}

static int http_failure(long status, const json_t *doc, const char *api_version, const char *record, err_t *err)
{
    const char *text = errors_text(doc);
    char said[300] = "";
    if (text)
        snprintf(said, sizeof(said), ": %.250s", text);
    if (status == 401) {
        err_set(err, ERR_CONFIGURATION, "shopify.auth", "Shopify refused the access token (HTTP 401%s)", said);
        err_hint(err, "check admin_token in [shop] (the app's Admin API access token for this shop; it changes "
                      "when the app is reinstalled); retry is safe after the fix");
    } else if (status == 403) {
        err_set(err, ERR_CONFIGURATION, "shopify.forbidden", "Shopify refused the call (HTTP 403%s)", said);
        err_hint(err, "grant the app the access scopes this call needs (e.g. read_orders, write_inventory, "
                      "write_fulfillments) and have the merchant approve them; retry is safe after the fix");
    } else if (status == 402 || status == 423) {
        err_set(err, ERR_CONFIGURATION, status == 402 ? "shopify.shop_frozen" : "shopify.shop_locked",
                "Shopify answered HTTP %ld: the shop is %s%s", status,
                status == 402 ? "frozen (unpaid) or closed" : "locked", said);
        err_hint(err, "the merchant must reactivate the shop; retry is safe afterwards");
    } else if (status == 404) {
        err_set(err, ERR_CONFIGURATION, "shopify.not_found",
                "Shopify answered 404: API version %s is not served there, or the shop or admin_url is wrong",
                api_version);
        err_hint(err, "check the [shop] section name, admin_url and api_version (Shopify serves each stable "
                      "version for about a year); retry is safe after the fix");
    } else if (status >= 500 || status == 408) {
        err_set(err, ERR_TRANSIENT, "shopify.unavailable", "Shopify answered HTTP %ld%s", status,
                status == 503 ? " (maintenance or overload)" : "");
        err_hint(err, "retried with backoff; a mutation that may have run is repeated with the same idempotency "
                      "key");
    } else if (status == 400 || status == 406 || status == 413 || status == 414 || status == 415 || status == 422) {
        err_set(err, ERR_INTERNAL, "shopify.bad_request", "Shopify did not accept synchub's request (HTTP %ld%s)",
                status, said);
        err_hint(err, "a synchub bug; report it with this message");
    } else {
        err_set(err, ERR_CONFIGURATION, "shopify.http", "Shopify answered HTTP %ld%s", status, said);
        err_hint(err, "is admin_url the shop's Admin API? retry is safe after the fix");
    }
    err_record(err, "%s", record);
    return -1;
}

static int graphql_failure(const json_t *errors, const char *api_version, const char *record, err_t *err)
{
    const json_t *first = json_array_get(errors, 0);
    const char *code = error_code(first);
    const char *msg = json_string_value(json_object_get(first, "message"));
    msg = msg && *msg ? msg : "(no message)";
    buf_t text = BUF_INIT;
    join_errors(errors, "path", false, 3, &text);
    const char *all = buf_str(&text);
    if (!strcmp(code, "MAX_COST_EXCEEDED")) {
        err_set(err, ERR_INTERNAL, "shopify.max_cost", "the query costs more than Shopify allows in one call: %s",
                msg);
        err_hint(err, "a synchub bug: the query must ask for fewer items per page; report it with this message");
    } else if (!strcmp(code, "INTERNAL_SERVER_ERROR")) {
        err_set(err, ERR_TRANSIENT, "shopify.server_error", "Shopify failed on the call: %s", all);
        err_hint(err, "retried with backoff");
    } else if (!strcmp(code, "ACCESS_DENIED")) {
        err_set(err, ERR_CONFIGURATION, "shopify.access_denied", "Shopify refused the call: %s", all);
        err_hint(err, "grant the app the access scope Shopify's message names and have the merchant approve it; "
                      "retry is safe after the fix");
    } else if (!strcmp(code, "RESOURCE_NOT_FOUND") || !strncmp(msg, "Invalid id", 10) ||
               strstr(msg, "Invalid global id")) {
        err_set(err, ERR_DATA, !strcmp(code, "RESOURCE_NOT_FOUND") ? "shopify.not_found" : "shopify.invalid_id",
                "Shopify has no such record: %s", all);
        err_hint(err, "the record was deleted in Shopify or its id is wrong (an InventoryLevel GID is not an "
                      "inventory item's); fix the link or the data, then retry");
        err->retry_safe = true; /* nothing ran */
    } else {
        err_set(err, ERR_INTERNAL, "shopify.graphql", "Shopify rejected the query (API version %s%s%s): %s",
                api_version, *code ? ", " : "", code, all);
        err_hint(err, "a synchub bug, or a field API version %s does not have; report it with this message",
                 api_version);
        err->retry_safe = true;
    }
    buf_release(&text);
    err_record(err, "%s", record);
    return -1;
}

int shopify_classify(long status, const json_t *doc, const char *api_version, const char *record, err_t *err)
{
    const json_t *errors = json_object_get(doc, "errors");
    if (status == 429 || (json_is_array(errors) && has_throttled(errors))) {
        set_throttled(record, err);
        return 1;
    }
    if (status != 200)
        return http_failure(status, doc, api_version, record, err);
    if (!json_is_object(doc)) {
        err_set(err, ERR_TRANSIENT, "shopify.bad_response", "Shopify's answer is not JSON");
        err_record(err, "%s", record);
        err_hint(err, "a proxy in front of Shopify, or an outage; retried with backoff");
        return -1;
    }
    if (json_is_array(errors) && json_array_size(errors) > 0)
        return graphql_failure(errors, api_version, record, err);
    if (errors) {
        const char *text = errors_text(doc);
        err_set(err, ERR_INTERNAL, "shopify.graphql", "Shopify rejected the query: %s", text ? text : "(no message)");
        err_record(err, "%s", record);
        err_hint(err, "a synchub bug, or a field API version %s does not have; report it with this message",
                 api_version);
        return -1;
    }
    if (!json_is_object(json_object_get(doc, "data"))) {
        err_set(err, ERR_TRANSIENT, "shopify.bad_response", "Shopify's answer has neither data nor errors");
        err_record(err, "%s", record);
        err_hint(err, "a proxy in front of Shopify, or an outage; retried with backoff");
        return -1;
    }
    return 0;
}

void shopify_error_code(const char *code, char *out, size_t n)
{
    if (!code || !*code) {
        snprintf(out, n, "shopify.user_error");
        return;
    }
    size_t len = (size_t)snprintf(out, n, "shopify.%s", code);
    for (size_t i = 8; i < len && i < n; i++)
        out[i] = (char)tolower((unsigned char)out[i]);
}

int shopify_user_errors(const json_t *payload, const char *mutation, err_t *err)
{
    const json_t *ue = json_object_get(payload, "userErrors");
    if (!json_is_array(ue) || json_array_size(ue) == 0)
        return 0;
    const char *code = json_string_value(json_object_get(json_array_get(ue, 0), "code"));
    char lower[64];
    shopify_error_code(code, lower, sizeof(lower));
    buf_t text = BUF_INIT;
    join_errors(ue, "field", true, 5, &text);
    code = code ? code : "";
    if (!strcmp(code, "IDEMPOTENCY_CONCURRENT_REQUEST")) {
        err_set(err, ERR_TRANSIENT, lower, "Shopify is still running an earlier try of %s: %s", mutation,
                buf_str(&text));
        err_hint(err, "retried with backoff under the same idempotency key");
    } else if (!strcmp(code, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH")) {
        err_set(err, ERR_INTERNAL, lower, "Shopify refused %s: %s", mutation, buf_str(&text));
        err_hint(err, "a synchub bug: one idempotency key was sent with different variables; report it");
    } else {
        err_set(err, ERR_DATA, lower, "Shopify refused %s: %s", mutation, buf_str(&text));
        if (!strcmp(code, "CHANGE_FROM_QUANTITY_STALE"))
            err_hint(err, "the quantity in Shopify changed since synchub read it (a sale, or an edit in the admin); "
                          "it must be read again before the new figure is set");
        else
            err_hint(err, "Shopify's message names the field; fix the record or its mapping, then retry");
    }
    err->retry_safe = true; /* Shopify ran nothing */
    buf_release(&text);
    return -1;
}

/* ---- Retry-After ---------------------------------------------------------------------------------------------- */

/* Seconds (digits, then optionally '.' and digits) → ms, rounded up, capped. -1 when not that shape. */
static int64_t delay_seconds_ms(const char *p)
{
    const int64_t cap = SHOPIFY_RETRY_AFTER_MAX_MS;
    int64_t secs = 0;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++)
        if (secs <= cap / 1000) /* stop growing once past the cap: no overflow on "99999999999999999999" */
            secs = secs * 10 + (*p - '0');
    int64_t ms = secs <= cap / 1000 ? secs * 1000 : cap;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        int64_t frac = 0, scale = 100;
        bool finer = false;
        for (; isdigit((unsigned char)*p); p++, scale /= 10) {
            if (scale)
                frac += (*p - '0') * scale;
            else if (*p != '0')
                finer = true;
        }
        ms += frac + (finer ? 1 : 0);
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p)
        return -1;
    return ms < cap ? ms : cap;
}

/* An IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" → ms since the epoch, by way of clock_parse_iso8601 (which
 * checks the fields' ranges). -1 when not that shape. */
static int imf_fixdate_ms(const char *p, int64_t *out)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (!isalpha((unsigned char)p[0]) || !isalpha((unsigned char)p[1]) || !isalpha((unsigned char)p[2]) ||
        p[3] != ',' || p[4] != ' ')
        return -1;
    p += 5;
    /* "06 Nov 1994 08:49:37 GMT": fixed widths, checked character by character. */
    const char *shape = "dd www dddd dd:dd:dd GMT"; /* d a digit, w a letter, anything else itself */
    size_t len = strlen(shape);
    for (size_t i = 0; i < len; i++) {
        bool ok = shape[i] == 'd'   ? isdigit((unsigned char)p[i]) != 0
                  : shape[i] == 'w' ? isalpha((unsigned char)p[i]) != 0
                                    : p[i] == shape[i];
        if (!ok)
            return -1;
    }
    const char *rest = p + len;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (*rest)
        return -1;
    int month = 0;
    for (int m = 0; m < 12; m++)
        if (!strncmp(p + 3, months + 3 * m, 3))
            month = m + 1;
    if (!month)
        return -1;
    char iso[32];
    snprintf(iso, sizeof(iso), "%.4s-%02d-%.2sT%.8sZ", p + 7, month, p, p + 12);
    return clock_parse_iso8601(iso, out);
}

int64_t shopify_retry_after_ms(const char *value, int64_t now_ms)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value))
        return delay_seconds_ms(value);
    int64_t at;
    if (imf_fixdate_ms(value, &at) < 0)
        return -1;
    if (at <= now_ms)
        return 0;
    return at - now_ms < SHOPIFY_RETRY_AFTER_MAX_MS ? at - now_ms : SHOPIFY_RETRY_AFTER_MAX_MS;
}

/* ---- the call ------------------------------------------------------------------------------------------------ */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* "mutation SetStock" / "query" (anonymous) / "query" for the "{ … }" shorthand. Sets *mutation. */
static void operation_of(const char *q, char *out, size_t n, bool *mutation)
{
    for (;;) {
        while (*q && (isspace((unsigned char)*q) || *q == ','))
            q++;
        if (*q != '#')
            break;
        while (*q && *q != '\n')
            q++;
    }
    size_t kw = 0;
    while (isalpha((unsigned char)q[kw]))
        kw++;
    *mutation = kw == 8 && !strncmp(q, "mutation", 8);
    if (!*mutation && !(kw == 5 && !strncmp(q, "query", 5)) && !(kw == 12 && !strncmp(q, "subscription", 12))) {
        snprintf(out, n, "query");
        return;
    }
    const char *name = q + kw;
    while (isspace((unsigned char)*name))
        name++;
    size_t nl = 0;
    while (isalnum((unsigned char)name[nl]) || name[nl] == '_')
        nl++;
    snprintf(out, n, "%.*s%s%.*s", (int)kw, q, nl ? " " : "", (int)(nl > 100 ? 100 : nl), name);
}

/* Sleep for the rate limit, counting the time against the call's budget. 0, or -1 when the budget is spent.
 * The sleep ends early when another thread's answer brings a new bucket figure, which may make room — unless
 * whole: a Retry-After pause is Shopify's word on when to come back, which no bucket figure overrides. */
static int throttle_sleep(shopify_t *s, int64_t ms, bool whole, int64_t *waited)
{
    if (*waited + ms > s->shop->throttle_wait_ms)
        return -1;
    int64_t t0 = clock_mono_ms(), now = t0;
    do
        shopify_throttle_sleep(s->throttle, t0 + ms - now);
    while (whole && (now = clock_mono_ms()) < t0 + ms);
    int64_t slept = clock_mono_ms() - t0;
    *waited += slept;
    s->waited_ms += slept;
    metrics_add(s->metrics, METRIC_THROTTLE_WAITS, (const char *[]){s->shop->domain}, 1);
    metrics_add(s->metrics, METRIC_THROTTLE_WAIT_SECONDS, (const char *[]){s->shop->domain}, (double)slept / 1000.0);
    return 0;
}

/* pause: the pause a Retry-After called for that did not fit the budget, or -1 (the bucket's wait or the blind
 * backoff did not fit). */
static void throttle_gave_up(shopify_t *s, double cost, int64_t pause, int64_t waited, const char *record,
                             err_t *err)
{
    shopify_bucket_t b;
    shopify_throttle_snapshot(s->throttle, &b, NULL);
    if (pause >= 0)
        err_set(err, ERR_TRANSIENT, "shopify.throttled", "Shopify's rate limit kept the call from running: after "
                "%lld ms of waiting, the pause its Retry-After calls for (%lld ms) would go past [shop] "
                "throttle_wait (%lld ms)", (long long)waited, (long long)pause,
                (long long)s->shop->throttle_wait_ms);
    else
        err_set(err, ERR_TRANSIENT, "shopify.throttled", "Shopify's rate limit kept the call from running for "
                "%lld ms (bucket %.0f of %.0f points, restoring %.0f/s; the call costs about %.0f)",
                (long long)s->shop->throttle_wait_ms, shopify_bucket_available(&b, clock_mono_ms()), b.maximum,
                b.restore, cost);
    err_record(err, "%s", record);
    err_hint(err, "every process and tool using this app's token on the shop drains the same bucket; the job is "
                  "retried later with backoff (raise [shop] throttle_wait to wait longer in one go)");
}

/* End err's message with the answer's X-Request-Id, the id Shopify support asks for. When the message is full it is
 * cut (at a UTF-8 character boundary) rather than the id. Ids that are not plain tokens are left out: the value
 * comes from the network and ends up in logs. */
static void note_request_id(shopify_t *s, err_t *err)
{
    char id[80], note[112];
    if (httpc_response_header(s->http, "X-Request-Id", id, sizeof(id)) < 0 || !id[0] ||
        id[strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")] != '\0' ||
        strstr(err->message, id))
        return;
    int nlen = snprintf(note, sizeof(note), " (Shopify X-Request-Id %s)", id);
    size_t len = strlen(err->message), room = sizeof(err->message) - 1 - (size_t)nlen;
    if (len > room) {
        len = room;
        while (len > 0 && ((unsigned char)err->message[len] & 0xC0) == 0x80)
            len--; /* a continuation byte: cut before the character it belongs to */
    }
    memcpy(err->message + len, note, (size_t)nlen + 1);
}

int shopify_graphql(shopify_t *s, const char *query, json_t *variables, int expected_cost, json_t **data,
                    err_t *err)
{
    *data = NULL;
    char op[160], record[sizeof(err->record)];
    bool mutation = false;
    operation_of(query, op, sizeof(op), &mutation);
    snprintf(record, sizeof(record), "shopify %s %s", s->shop->domain, op);
    /* the metrics' method: the operation's name ("SetStock"), or "query"/"mutation" for an anonymous one */
    const char *method = strchr(op, ' ') ? strchr(op, ' ') + 1 : op;
    if (!s->token_header) {
        err_set(err, ERR_CONFIGURATION, "shopify.no_token", "[shop %s] has no admin_token: synchub cannot call "
                "Shopify's Admin API for this shop", s->shop->domain);
        err_record(err, "%s", record);
        err_hint(err, "set admin_token (or admin_token_file / admin_token_env) in [shop %s]; retry is safe after "
                      "the fix", s->shop->domain);
        return -1;
    }
    json_t *req = json_pack("{s:s}", "query", query);
    if (req && variables)
        json_object_set(req, "variables", variables);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) {
        err_set(err, ERR_INTERNAL, "shopify.oom", "cannot build the GraphQL request");
        err_record(err, "%s", record);
        return -1;
    }
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json", s->token_header, NULL};
    /* libcurl re-sends a request by itself when a reused connection turns out dead; harmless for queries and for
     * mutations Shopify deduplicates by their key, not for the others. */
    int flags = mutation && !strstr(query, "@idempotent") ? HTTPC_FRESH : 0;

    uint64_t hash = fnv1a(query);
    unsigned slot = (unsigned)(hash % COST_SLOTS);
    double cost = expected_cost > 0 ? expected_cost : 1;
    if (s->costs[slot].hash == hash && s->costs[slot].cost > cost)
        cost = s->costs[slot].cost;

    int rc = -1;
    int64_t waited = 0, backoff = 0;
    json_t *doc = NULL;
    for (;;) {
        int64_t wait;
        while ((wait = shopify_throttle_reserve(s->throttle, cost, clock_mono_ms())) > 0) {
            if (throttle_sleep(s, wait, false, &waited) < 0) {
                throttle_gave_up(s, cost, -1, waited, record, err);
                goto out;
            }
        }
        s->requests++;
        long status = 0;
        double t0 = metrics_mono_s();
        int sent = httpc_request(s->http, "POST", s->url, headers, body, strlen(body), flags, &status, &s->resp, err);
        metrics_observe(s->metrics, METRIC_REMOTE_DURATION, (const char *[]){"shopify", method},
                        metrics_mono_s() - t0);
        if (sent < 0) {
            shopify_throttle_done(s->throttle, cost, NULL, clock_mono_ms());
            size_t len = strlen(err->message);
            snprintf(err->message + len, sizeof(err->message) - len, " (calling %s)", op);
            err_record(err, "%s", record);
            if (err->cls == ERR_TRANSIENT) {
                err_hint(err, "Shopify is unreachable or slow; retried with backoff. A mutation that timed out may "
                              "have run: its retry carries the same idempotency key, so Shopify runs it once");
                shopify_target(s->shop, err->target, sizeof(err->target));
            }
            goto out;
        }
        json_decref(doc);
        doc = json_loadb(s->resp.data, s->resp.len, 0, NULL);
        const json_t *ext = json_object_get(doc, "extensions");
        bool reported = json_object_get(json_object_get(ext, "cost"), "throttleStatus") != NULL;
        shopify_throttle_done(s->throttle, cost, ext, clock_mono_ms());
        int requested = shopify_cost_requested(ext);
        if (requested > 0) {
            s->costs[slot].hash = hash;
            s->costs[slot].cost = requested;
        }
        int verdict = shopify_classify(status, doc, s->shop->api_version, record, err);
        if (verdict == 0) {
            *data = json_incref(json_object_get(doc, "data"));
            rc = 0;
            goto out;
        }
        if (verdict < 0) {
            if (err->cls == ERR_TRANSIENT || err->cls == ERR_INTERNAL)
                note_request_id(s, err);
            /* a gateway's answer: the shop is not reachable right now (an error Shopify itself reports is not) */
            if (err->cls == ERR_TRANSIENT && (status == 502 || status == 503 || status == 504))
                shopify_target(s->shop, err->target, sizeof(err->target));
            goto out;
        }
        /* Throttled: nothing ran. A Retry-After says how long to pause: all of it, but never less than a floor
         * nor less than twice the call's previous pause, so that "0" answered again and again is not a busy loop.
         * Otherwise wait for what the answer reported (step 1 does it) and send the same request again; when it
         * does not say how long either — a 429 without throttleStatus, or a status by which the query would fit
         * — back off, doubling from a second, so that every round waits. */
        s->throttled++;
        metrics_add(s->metrics, METRIC_THROTTLED, (const char *[]){s->shop->domain}, 1);
        if (requested > cost)
            cost = requested;
        char ra_text[64];
        int64_t retry_after = httpc_response_header(s->http, "Retry-After", ra_text, sizeof(ra_text)) == 0
                                  ? shopify_retry_after_ms(ra_text, clock_now_ms())
                                  : -1;
        shopify_bucket_t b;
        shopify_throttle_snapshot(s->throttle, &b, NULL);
        int64_t pause = 0;
        if (retry_after >= 0) {
            pause = retry_after > PAUSE_FLOOR_MS ? retry_after : PAUSE_FLOOR_MS;
            if (pause < 2 * backoff)
                pause = 2 * backoff;
        } else if (!reported || shopify_bucket_wait_ms(&b, cost, clock_mono_ms()) == 0) {
            pause = backoff ? backoff * 2 : 1000;
        }
        if (pause > 0) {
            backoff = pause;
            if (throttle_sleep(s, pause, retry_after >= 0, &waited) < 0) {
                throttle_gave_up(s, cost, retry_after >= 0 ? pause : -1, waited, record, err);
                goto out;
            }
        }
    }
out:
    if (rc < 0)
        metrics_add(s->metrics, METRIC_REMOTE_ERRORS, (const char *[]){"shopify", method, err_class_name(err->cls)},
                    1);
    json_decref(doc);
    free(body);
    return rc;
}

int shopify_mutate(shopify_t *s, const char *query, json_t *variables, const char *mutation,
                   const char *idempotency_key, int expected_cost, json_t **payload, err_t *err)
{
    *payload = NULL;
    json_t *vars = variables ? json_copy(variables) : json_object();
    json_t *data = NULL;
    int rc = -1;
    if (!vars) {
        err_set(err, ERR_INTERNAL, "shopify.oom", "out of memory");
        goto out;
    }
    if (idempotency_key) {
        if (!strstr(query, "$idempotencyKey")) {
            err_set(err, ERR_INTERNAL, "shopify.idempotency", "%s was given an idempotency key but its document "
                    "does not use $idempotencyKey", mutation);
            err_record(err, "shopify %s mutation %s", s->shop->domain, mutation);
            err_hint(err, "a synchub bug; report it");
            goto out;
        }
        json_object_set_new(vars, "idempotencyKey", json_string(idempotency_key));
    }
    if (shopify_graphql(s, query, vars, expected_cost, &data, err) < 0)
        goto out;
    json_t *p = json_object_get(data, mutation);
    if (!json_is_object(p)) {
        err_set(err, ERR_INTERNAL, "shopify.bad_response", "Shopify's answer has no %s payload", mutation);
        err_record(err, "shopify %s mutation %s", s->shop->domain, mutation);
        goto out;
    }
    if (shopify_user_errors(p, mutation, err) < 0) {
        err_record(err, "shopify %s mutation %s", s->shop->domain, mutation);
        goto out;
    }
    *payload = json_incref(p);
    rc = 0;
out:
    json_decref(data);
    json_decref(vars);
    return rc;
}

/* ---- GIDs and keys ------------------------------------------------------------------------------------------- */

#define GID_PREFIX "gid://shopify/"

int shopify_gid(const char *type, const char *id, char *out, size_t n)
{
    int len = snprintf(out, n, GID_PREFIX "%s/%s", type, id);
    if (len < 0 || (size_t)len >= n) {
        if (n)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

/* Split a GID into its type and id spans; false when it is not "gid://shopify/Type/digits[?…]". */
static bool gid_split(const char *gid, const char **type, size_t *tlen, const char **id, size_t *ilen)
{
    if (!gid || strncmp(gid, GID_PREFIX, strlen(GID_PREFIX)))
        return false;
    *type = gid + strlen(GID_PREFIX);
    *tlen = strspn(*type, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
    if (*tlen == 0 || (*type)[*tlen] != '/')
        return false;
    *id = *type + *tlen + 1;
    *ilen = strspn(*id, "0123456789");
    return *ilen > 0 && ((*id)[*ilen] == '\0' || (*id)[*ilen] == '?');
}

static int copy_span(const char *p, size_t len, char *out, size_t n)
{
    if (len >= n) {
        if (n)
            out[0] = '\0';
        return -1;
    }
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

/* Copy the type (want_type) or the id of gid into out. */
static int gid_part(const char *gid, bool want_type, char *out, size_t n)
{
    const char *type, *id;
    size_t tlen, ilen;
    if (!gid_split(gid, &type, &tlen, &id, &ilen)) {
        if (n)
            out[0] = '\0';
        return -1;
    }
    return want_type ? copy_span(type, tlen, out, n) : copy_span(id, ilen, out, n);
}

int shopify_gid_id(const char *gid, char *out, size_t n)
{
    return gid_part(gid, false, out, n);
}

int shopify_gid_type(const char *gid, char *out, size_t n)
{
    return gid_part(gid, true, out, n);
}

int shopify_gid_param(const char *gid, const char *name, char *out, size_t n)
{
    if (n)
        out[0] = '\0';
    const char *q = gid ? strchr(gid, '?') : NULL;
    size_t nl = strlen(name);
    while (q && *q) {
        q++; /* past '?' or '&' */
        size_t len = strcspn(q, "&");
        if (len > nl && !strncmp(q, name, nl) && q[nl] == '=')
            return copy_span(q + nl + 1, len - nl - 1, out, n);
        q += len;
    }
    return -1;
}

int shopify_idempotency_key(const char *job_id, const char *step, char *out, size_t n)
{
    if (!step || !*step)
        return copy_span(job_id, strlen(job_id), out, n);
    buf_t b = BUF_INIT;
    unsigned char md[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    int rc = buf_printf(&b, "%s\n%s", job_id, step) < 0 || crypto_sha256(b.data, b.len, md) < 0 ? -1 : 0;
    buf_release(&b);
    if (rc < 0) {
        if (n)
            out[0] = '\0';
        return -1;
    }
    crypto_hex(md, sizeof(md), hex);
    return copy_span(hex, 32, out, n);
}
