/* odoo_client: the wire protocols. JSON-RPC sends execute_kw(db, uid, secret, model, method, [ids], {params,
 * context}); JSON-2 posts {ids, params…, context} to /json/2/<model>/<method> with the API key as bearer token.
 * Because record methods take their ids first and every other parameter is accepted by name on both protocols,
 * one named-parameter call maps onto both without a per-method table. */
#define _GNU_SOURCE
#include "odoo/odoo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "net/httpc.h"

struct odoo {
    const cfg_odoo_t *cfg;
    char *base;            /* cfg->url without a trailing slash */
    httpc_t *http;
    odoo_proto_t proto;
    int major;
    char version[64];
    int64_t uid;
    uint64_t calls;
    int64_t next_id;
    buf_t resp;
    metrics_t *metrics;    /* NULL = not measured */
};

odoo_t *odoo_new(const cfg_odoo_t *cfg)
{
    odoo_t *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->cfg = cfg;
    o->http = httpc_new(cfg->timeout_ms);
    o->base = strdup(cfg->url ? cfg->url : "");
    if (!o->http || !o->base) {
        httpc_free(o->http);
        free(o->base);
        free(o);
        return NULL;
    }
    size_t n = strlen(o->base);
    while (n && o->base[n - 1] == '/')
        o->base[--n] = '\0';
    o->proto = !strcmp(cfg->protocol, "json2") ? ODOO_PROTO_JSON2
               : !strcmp(cfg->protocol, "jsonrpc") ? ODOO_PROTO_JSONRPC
                                                   : ODOO_PROTO_AUTO;
    buf_init(&o->resp);
    return o;
}

void odoo_free(odoo_t *o)
{
    if (!o)
        return;
    httpc_free(o->http);
    buf_release(&o->resp);
    free(o->base);
    free(o);
}

const char *odoo_protocol_name(odoo_proto_t p)
{
    return p == ODOO_PROTO_JSON2 ? "json2" : p == ODOO_PROTO_JSONRPC ? "jsonrpc" : "auto";
}
int odoo_server_major(const odoo_t *o) { return o->major; }
const char *odoo_server_version(const odoo_t *o) { return o->version; }
odoo_proto_t odoo_protocol(const odoo_t *o) { return o->proto; }
int64_t odoo_uid(const odoo_t *o) { return o->uid; }
uint64_t odoo_calls(const odoo_t *o) { return o->calls; }
void odoo_set_metrics(odoo_t *o, metrics_t *m) { o->metrics = m; }

/* The metrics' method label: "sale.order.load". Model and method come from synchub's code, never from data. */
static const char *method_label(const char *model, const char *method, char *out, size_t n)
{
    snprintf(out, n, "%s.%s", model, method);
    return out;
}

static const cfg_secret_t *secret(const odoo_t *o)
{
    return o->cfg->api_key.value ? &o->cfg->api_key : &o->cfg->password;
}

/* ---- classification ---------------------------------------------------------------------------------------- */

/* "…allowed for the following groups:\n\t- Sales/Administrator\n\t- …" → "Sales/Administrator, …" */
static void append_group(char *out, size_t n, size_t *len, const char *g, size_t glen)
{
    if (*len + glen + 3 >= n)
        return;
    /* the same group named for several fields is listed once */
    for (const char *p = out; *p;) {
        size_t seg = strcspn(p, ",");
        if (seg == glen && !strncmp(p, g, glen))
            return;
        p += seg;
        p += *p ? 2 : 0; /* ", " */
    }
    if (*len) {
        memcpy(out + *len, ", ", 2);
        *len += 2;
    }
    memcpy(out + *len, g, glen);
    *len += glen;
    out[*len] = '\0';
}

/* The groups an AccessError names: a model right ("allowed for the following groups:\n\t- Sales/Administrator")
 * or a field's groups (18: "- credit_limit (allowed for groups 'Technical / Show Accounting Features - Readonly',
 * 'Invoicing / Invoicing')"; 19: "Groups: allowed for groups 'Show Accounting Features - Readonly', …"). */
static void groups_of(const char *message, char *out, size_t n)
{
    out[0] = '\0';
    size_t len = 0;
    const char *p = strstr(message, "following groups:");
    while (p && (p = strstr(p, "\n\t- ")) != NULL) {
        p += 4;
        append_group(out, n, &len, p, strcspn(p, "\n"));
    }
    for (p = message; (p = strstr(p, "allowed for groups ")) != NULL;) {
        p += strlen("allowed for groups ");
        while (*p == '\'') {
            const char *end = strchr(p + 1, '\'');
            if (!end)
                break;
            append_group(out, n, &len, p + 1, (size_t)(end - p - 1));
            p = end + 1;
            if (strncmp(p, ", '", 3) != 0)
                break;
            p += 2;
        }
    }
}

static bool contains(const char *s, const char *needle)
{
    return s && strstr(s, needle) != NULL;
}

void odoo_classify(const char *name, const char *message, long status, const char *model, const char *method,
                   err_t *err)
{
    name = name ? name : "";
    message = message && *message ? message : "(no message)";
    char groups[256];
    /* A unique violation is another worker's concurrent insert of the same external ID (two orders of one new
     * customer, say): the retry finds that record through the ID, so it is transient, not bad data. */
    if (contains(message, "could not serialize access") || contains(message, "concurrent update") ||
        contains(message, "deadlock detected") || contains(message, "duplicate key value violates unique") ||
        contains(name, "psycopg2") ||
        contains(name, "SerializationFailure") || contains(name, "LockNotAvailable")) {
        err_set(err, ERR_TRANSIENT, "odoo.concurrency", "Odoo could not complete %s.%s because of a concurrent "
                "update (%s); retried", model, method, message);
    } else if (!strcmp(name, "odoo.exceptions.AccessDenied") || !strcmp(name, "werkzeug.exceptions.Unauthorized")) {
        err_set(err, ERR_CONFIGURATION, "odoo.access_denied", "Odoo refused the credentials: %s", message);
        err_hint(err, "check [odoo] username and api_key (API keys of non-admin users expire after at most 90 "
                      "days); retry is safe after the fix");
    } else if (!strcmp(name, "odoo.exceptions.AccessError")) {
        groups_of(message, groups, sizeof(groups));
        err_set(err, ERR_CONFIGURATION, "odoo.access_error", "the integration user may not call %s.%s: %s", model,
                method, message);
        if (groups[0])
            err_hint(err, "add the integration user to one of these groups: %s (or grant the right on %s); retry "
                          "is safe after the fix", groups, model);
        else
            err_hint(err, "grant the integration user the right needed for %s.%s; retry is safe after the fix",
                     model, method);
    } else if (!strcmp(name, "odoo.exceptions.ValidationError") || !strcmp(name, "odoo.exceptions.UserError") ||
               !strcmp(name, "odoo.exceptions.MissingError") || !strcmp(name, "builtins.ValueError") ||
               !strcmp(name, "builtins.KeyError") || !strcmp(name, "builtins.TypeError") ||
               !strcmp(name, "odoo.exceptions.RedirectWarning")) {
        const char *short_name = strrchr(name, '.') ? strrchr(name, '.') + 1 : name;
        err_set(err, ERR_DATA, !strcmp(short_name, "UserError")         ? "odoo.user_error"
                               : !strcmp(short_name, "MissingError")    ? "odoo.missing"
                               : !strcmp(short_name, "ValidationError") ? "odoo.validation"
                                                                        : "odoo.value_error",
                "Odoo rejected %s.%s: %s", model, method, message);
        err_hint(err, "Odoo's message says what is wrong with the record; fix the data in Odoo or Shopify, then "
                      "retry");
        err->retry_safe = true; /* every write carries an external id: a retry finds what a failed try left */
    } else if (!strcmp(name, "werkzeug.exceptions.NotFound") || status == 404) {
        err_set(err, ERR_CONFIGURATION, "odoo.not_found", "Odoo has no %s.%s here (%s)", model, method, message);
        err_hint(err, "check [odoo] url and database, and that the app providing %s is installed", model);
    } else if (!strcmp(name, "werkzeug.exceptions.UnprocessableEntity") ||
               !strcmp(name, "werkzeug.exceptions.BadRequest")) {
        err_set(err, ERR_INTERNAL, "odoo.bad_request", "Odoo did not understand synchub's call to %s.%s: %s",
                model, method, message);
        err_hint(err, "a synchub bug or an Odoo version it does not know; report it with this message");
    } else {
        err_set(err, ERR_TRANSIENT, "odoo.server_error", "Odoo failed on %s.%s: %s%s%s", model, method,
                *name ? name : "", *name ? ": " : "", message);
    }
    err_record(err, "odoo %s.%s", model, method);
}

/* ---- transport --------------------------------------------------------------------------------------------- */

static int http_failure(long status, const char *model, const char *method, const buf_t *body, err_t *err)
{
    bool html = body->len && strchr("<[", body->data[0]) && strstr(buf_str(body), "<") != NULL;
    if (status == 502 || status == 503 || status == 504 || status == 429 || status >= 500) {
        err_set(err, ERR_TRANSIENT, "odoo.unavailable", "Odoo answered HTTP %ld to %s.%s%s", status, model, method,
                status == 503 ? " (maintenance or overload)" : "");
    } else if (status == 404) {
        err_set(err, ERR_CONFIGURATION, "odoo.not_found",
                "Odoo answered 404 to %s.%s: wrong [odoo] url or database, or a database filter hides it", model,
                method);
    } else {
        err_set(err, ERR_CONFIGURATION, "odoo.http", "Odoo answered HTTP %ld to %s.%s%s", status, model, method,
                html ? " with an HTML page (is [odoo] url the Odoo server?)" : "");
    }
    err_record(err, "odoo %s.%s", model, method);
    return -1;
}

/* ---- outages (the queue's circuit breaker) ------------------------------------------------------------------ */

void odoo_target(const cfg_odoo_t *cfg, char *out, size_t n)
{
    /* host[:port] of the url, without a scheme, credentials or path */
    const char *h = cfg->url ? cfg->url : "";
    const char *p = strstr(h, "://");
    h = p ? p + 3 : h;
    size_t len = strcspn(h, "/?#");
    const char *at = memchr(h, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    snprintf(out, n, "odoo:%s@%.*s", cfg->database ? cfg->database : "", (int)len, h);
}

/* A failure that says Odoo itself is not answering (status 0: no answer at all) names Odoo in err->target, so the
 * queue pauses Odoo's work instead of spending attempts. An Odoo that answers with its own error (a Python
 * exception, an HTTP 500 error envelope) is up: that is the record's failure, not an outage. Returns -1. */
static int mark_outage(const odoo_t *o, long status, err_t *err)
{
    if (err->cls == ERR_TRANSIENT && (status == 0 || status == 502 || status == 503 || status == 504))
        odoo_target(o->cfg, err->target, sizeof(err->target));
    return -1;
}

/* Methods whose second execution would add a second record: sent on a fresh connection so the transport never
 * repeats them on its own (a job-level retry must find what the first try wrote). */
static int transport_flags(const char *method)
{
    static const char *const once[] = {"message_post", "activity_schedule", "create", "copy"};
    for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++)
        if (!strcmp(method, once[i]))
            return HTTPC_FRESH;
    return 0;
}

static int post_json(odoo_t *o, const char *path, json_t *payload, const char *const *extra_headers, long *status,
                     const char *model, const char *method, err_t *err)
{
    char *body = json_dumps(payload, JSON_COMPACT);
    char *url = NULL;
    if (!body || asprintf(&url, "%s%s", o->base, path) < 0) {
        free(body);
        return err_set(err, ERR_INTERNAL, "odoo.oom", "out of memory");
    }
    const char *headers[8];
    int nh = 0;
    headers[nh++] = "Content-Type: application/json";
    headers[nh++] = "Accept: application/json";
    for (const char *const *h = extra_headers; h && *h && nh < 7; h++)
        headers[nh++] = *h;
    headers[nh] = NULL;
    o->calls++;
    double t0 = metrics_mono_s();
    int rc = httpc_request(o->http, "POST", url, headers, body, strlen(body), transport_flags(method), status,
                           &o->resp, err);
    if (o->metrics) {
        char name[160];
        metrics_observe(o->metrics, METRIC_REMOTE_DURATION,
                        (const char *[]){"odoo", method_label(model, method, name, sizeof(name))},
                        metrics_mono_s() - t0);
    }
    if (rc < 0) {
        size_t len = strlen(err->message);
        snprintf(err->message + len, sizeof(err->message) - len, " (calling %s.%s)", model, method);
        err_record(err, "odoo %s.%s", model, method);
        err_hint(err, "Odoo is down, restarting or unreachable; retried with backoff. A call that timed out may "
                      "have been committed: the retry finds it through its external id");
        mark_outage(o, 0, err);
    }
    free(url);
    free(body);
    return rc;
}

static int jsonrpc(odoo_t *o, const char *service, const char *method, json_t *args, json_t **result,
                   const char *model, const char *rpc_method, err_t *err)
{
    json_t *req = json_pack("{s:s, s:s, s:I, s:{s:s, s:s, s:O}}", "jsonrpc", "2.0", "method", "call", "id",
                            (json_int_t)++o->next_id, "params", "service", service, "method", method, "args", args);
    if (!req)
        return err_set(err, ERR_INTERNAL, "odoo.oom", "cannot build the JSON-RPC request");
    long status = 0;
    int rc = post_json(o, "/jsonrpc", req, NULL, &status, model, rpc_method, err);
    json_decref(req);
    if (rc < 0)
        return -1;
    if (status != 200) {
        http_failure(status, model, rpc_method, &o->resp, err);
        return mark_outage(o, status, err);
    }
    return odoo_read_jsonrpc(o->resp.data, o->resp.len, model, rpc_method, result, err);
}

int odoo_read_jsonrpc(const char *data, size_t len, const char *model, const char *rpc_method, json_t **result,
                      err_t *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        err_set(err, ERR_TRANSIENT, "odoo.bad_response", "Odoo's answer to %s.%s is not JSON-RPC (%s)", model,
                rpc_method, jerr.text);
        err_record(err, "odoo %s.%s", model, rpc_method);
        return -1;
    }
    json_t *e = json_object_get(doc, "error");
    if (e) {
        json_t *data_ = json_object_get(e, "data");
        const char *name = json_string_value(json_object_get(data_, "name"));
        const char *msg = json_string_value(json_object_get(data_, "message"));
        if (!msg)
            msg = json_string_value(json_object_get(e, "message"));
        odoo_classify(name, msg, 0, model, rpc_method, err);
        json_decref(doc);
        return -1;
    }
    /* A Python method that returns None produces a response with no "result" key at all. */
    json_t *r = json_object_get(doc, "result");
    *result = r ? json_incref(r) : json_null();
    json_decref(doc);
    return 0;
}

static int detect(odoo_t *o, err_t *err)
{
    /* /web/version (GET, Odoo 17+) names the version without authentication; older servers: common.version. */
    char *url = NULL;
    if (asprintf(&url, "%s/web/version", o->base) < 0)
        return err_set(err, ERR_INTERNAL, "odoo.oom", "out of memory");
    long status = 0;
    o->calls++;
    int rc = httpc_request(o->http, "GET", url, NULL, NULL, 0, 0, &status, &o->resp, err);
    free(url);
    if (rc < 0) {
        err_record(err, "odoo /web/version");
        err_hint(err, "Odoo is down or [odoo] url is wrong; retried with backoff");
        return mark_outage(o, 0, err);
    }
    json_t *doc = status == 200 ? json_loadb(o->resp.data, o->resp.len, 0, NULL) : NULL;
    if (doc) {
        json_t *vi = json_object_get(doc, "version_info");
        o->major = (int)json_integer_value(json_array_get(vi, 0));
        snprintf(o->version, sizeof(o->version), "%s", json_string_value(json_object_get(doc, "version")) ?: "");
        json_decref(doc);
    }
    if (o->major == 0) {
        json_t *r = NULL, *none = json_array();
        int rc2 = jsonrpc(o, "common", "version", none, &r, "common", "version", err);
        json_decref(none);
        if (rc2 < 0)
            return -1;
        o->major = (int)json_integer_value(json_array_get(json_object_get(r, "server_version_info"), 0));
        snprintf(o->version, sizeof(o->version), "%s",
                 json_string_value(json_object_get(r, "server_version")) ?: "");
        json_decref(r);
    }
    if (o->major == 0)
        return err_set(err, ERR_CONFIGURATION, "odoo.version", "cannot tell the Odoo version at %s", o->cfg->url);
    return 0;
}

int odoo_probe(const cfg_odoo_t *cfg, err_t *err)
{
    odoo_t *o = odoo_new(cfg);
    if (!o)
        return err_set(err, ERR_INTERNAL, "odoo.oom", "out of memory");
    int rc = detect(o, err);
    odoo_free(o);
    return rc;
}

int odoo_connect(odoo_t *o, err_t *err)
{
    if (o->proto == ODOO_PROTO_JSON2 || (o->proto == ODOO_PROTO_JSONRPC && o->uid))
        return 0;
    if (o->proto == ODOO_PROTO_AUTO || o->major == 0) {
        if (detect(o, err) < 0)
            return -1;
        if (o->proto == ODOO_PROTO_AUTO)
            o->proto = o->major >= 19 && o->cfg->api_key.value ? ODOO_PROTO_JSON2 : ODOO_PROTO_JSONRPC;
        if (o->proto == ODOO_PROTO_JSON2)
            return 0;
    }
    json_t *args = json_pack("[s, s, s, {}]", o->cfg->database, o->cfg->username ? o->cfg->username : "",
                             secret(o)->value ? secret(o)->value : "");
    json_t *r = NULL;
    int rc = jsonrpc(o, "common", "authenticate", args, &r, "common", "authenticate", err);
    json_decref(args);
    if (rc < 0)
        return -1;
    /* authenticate answers false, not an error, for wrong credentials */
    if (!json_is_integer(r) || json_integer_value(r) <= 0) {
        json_decref(r);
        err_set(err, ERR_CONFIGURATION, "odoo.access_denied",
                "Odoo refused the login of '%s' on database '%s' (authenticate returned false)",
                o->cfg->username ? o->cfg->username : "", o->cfg->database);
        err_record(err, "odoo common.authenticate");
        err_hint(err, "check [odoo] database, username and api_key/password; retry is safe after the fix");
        return -1;
    }
    o->uid = json_integer_value(r);
    json_decref(r);
    return 0;
}

static json_t *context(const odoo_t *o)
{
    json_t *ctx = json_object();
    if (o->cfg->company > 0)
        json_object_set_new(ctx, "allowed_company_ids", json_pack("[I]", (json_int_t)o->cfg->company));
    return ctx;
}

/* The call's context: the caller's keys (a copy in body) over the client's (the company). */
static void with_context(const odoo_t *o, json_t *body)
{
    json_t *ctx = context(o);
    json_t *given = json_object_get(body, "context");
    if (json_is_object(given))
        json_object_update(ctx, given);
    json_object_set_new(body, "context", ctx);
}

static int call_json2(odoo_t *o, const char *model, const char *method, json_t *ids, json_t *params,
                      json_t **result, err_t *err)
{
    json_t *body = params ? json_deep_copy(params) : json_object();
    if (ids)
        json_object_set(body, "ids", ids);
    with_context(o, body);
    char path[512], auth[600], dbh[300];
    snprintf(path, sizeof(path), "/json/2/%s/%s", model, method);
    snprintf(auth, sizeof(auth), "Authorization: bearer %s", o->cfg->api_key.value ? o->cfg->api_key.value : "");
    snprintf(dbh, sizeof(dbh), "X-Odoo-Database: %s", o->cfg->database);
    const char *headers[] = {auth, dbh, NULL};
    long status = 0;
    int rc = post_json(o, path, body, headers, &status, model, method, err);
    json_decref(body);
    memset(auth, 0, sizeof(auth));
    if (rc < 0)
        return -1;
    /* a gateway's 502/503/504 names this Odoo as down (the circuit breaker); Odoo's own answers never do */
    return odoo_read_json2(status, &o->resp, model, method, result, err) < 0 ? mark_outage(o, status, err) : 0;
}

int odoo_read_json2(long status, const buf_t *body, const char *model, const char *method, json_t **result,
                    err_t *err)
{
    json_t *doc = json_loadb(body->data, body->len, JSON_DECODE_ANY, NULL);
    if (status == 200) {
        if (!doc)
            return err_set(err, ERR_TRANSIENT, "odoo.bad_response", "Odoo's answer to %s.%s is not JSON", model,
                           method);
        *result = doc;
        return 0;
    }
    const char *name = json_string_value(json_object_get(doc, "name"));
    const char *msg = json_string_value(json_object_get(doc, "message"));
    if (!name || status == 502 || status == 503 || status == 504) {
        json_decref(doc);
        return http_failure(status, model, method, body, err);
    }
    odoo_classify(name, msg, status, model, method, err);
    json_decref(doc);
    return -1;
}

static int odoo_call_once(odoo_t *o, const char *model, const char *method, json_t *ids, json_t *params,
                          json_t **result, err_t *err);

/* One debug line per call (model, method, protocol, outcome): never arguments or answers, which hold customer
 * data, nor the key. */
int odoo_call(odoo_t *o, const char *model, const char *method, json_t *ids, json_t *params, json_t **result,
              err_t *err)
{
    int rc = odoo_call_once(o, model, method, ids, params, result, err);
    if (rc < 0 && o->metrics) {
        char name[160];
        metrics_add(o->metrics, METRIC_REMOTE_ERRORS,
                    (const char *[]){"odoo", method_label(model, method, name, sizeof(name)), err_class_name(err->cls)},
                    1);
    }
    if (log_enabled(LOG_LVL_DEBUG))
        log_kv(LOG_LVL_DEBUG, "odoo", "odoo call", "model", model, "method", method, "protocol",
               o->proto == ODOO_PROTO_JSON2 ? "json2" : "jsonrpc", "result", rc == 0 ? "ok" : err->code, NULL);
    return rc;
}

static int odoo_call_once(odoo_t *o, const char *model, const char *method, json_t *ids, json_t *params,
                          json_t **result, err_t *err)
{
    *result = NULL;
    if (odoo_connect(o, err) < 0)
        return -1;
    if (o->proto == ODOO_PROTO_JSON2)
        return call_json2(o, model, method, ids, params, result, err);
    json_t *kw = params ? json_deep_copy(params) : json_object();
    with_context(o, kw);
    json_t *pos = ids ? json_pack("[O]", ids) : json_array();
    /* create's records and write's values go positionally: Odoo 18 answers `create(vals_list=…)` by keyword with
     * IndexError "tuple index out of range", and `write(vals=…)` on a model whose override names it otherwise
     * (sale.order.line, res.company: `values`) with TypeError (recorded, tests/sim/REAL-ANSWERS-invoicing.md §2);
     * JSON-2 takes both by name. */
    const char *lead = !ids && !strcmp(method, "create") ? "vals_list" : ids && !strcmp(method, "write") ? "vals"
                                                                                                         : NULL;
    json_t *vals = lead ? json_object_get(kw, lead) : NULL;
    if (vals) {
        json_array_append(pos, vals);
        json_object_del(kw, lead);
    }
    json_t *args = json_pack("[s, I, s, s, s, o, o]", o->cfg->database, (json_int_t)o->uid,
                             secret(o)->value ? secret(o)->value : "", model, method, pos, kw);
    int rc = args ? jsonrpc(o, "object", "execute_kw", args, result, model, method, err)
                  : err_set(err, ERR_INTERNAL, "odoo.oom", "out of memory");
    json_decref(args);
    if (rc < 0 && !strcmp(err->code, "odoo.access_denied"))
        o->uid = 0; /* authenticate again next time: the key may have been rotated */
    return rc;
}

int odoo_call_take(odoo_t *o, const char *model, const char *method, json_t *ids, json_t *params, json_t **result,
                   const char *label, err_t *err)
{
    int rc = odoo_call(o, model, method, ids, params, result, err);
    json_decref(ids);
    json_decref(params);
    if (rc < 0)
        err_wrap(err, label);
    return rc;
}
