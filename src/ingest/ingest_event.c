/* ingest_event: the canonical shipment event — authentication, JSON Pointer, mapping, validation (every problem
 * listed), ordering rule, CSV records and job keys. Pure functions over jansson values and the config; the HTTP
 * route (ingest_events.c), the CSV import (cmd_import.c) and the Odoo applier (flow_shipments.c) all go through
 * here, so the same event reaching synchub by any path becomes the same job. */
#define _GNU_SOURCE
#include "ingest/ingest_event.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "queue/queue.h"

/* ---- statuses and the ordering rule --------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int rank;
} statuses[INGEST_SHIP_COUNT] = {
    [INGEST_SHIP_PICKED] = {"picked", 10},
    [INGEST_SHIP_PACKED] = {"packed", 20},
    [INGEST_SHIP_DISPATCHED] = {"dispatched", 30},
    [INGEST_SHIP_IN_TRANSIT] = {"in_transit", 40},
    [INGEST_SHIP_OUT_FOR_DELIVERY] = {"out_for_delivery", 50},
    [INGEST_SHIP_DELIVERED] = {"delivered", 60},
    [INGEST_SHIP_EXCEPTION] = {"exception", 0},
    [INGEST_SHIP_RETURNED] = {"returned", 70},
};

const char *ingest_ship_status_name(ingest_ship_status_t st)
{
    return (unsigned)st < INGEST_SHIP_COUNT ? statuses[st].name : "?";
}

int ingest_ship_status_parse(const char *name, ingest_ship_status_t *out)
{
    for (int i = 0; name && i < INGEST_SHIP_COUNT; i++) {
        if (strcmp(statuses[i].name, name) == 0) {
            *out = (ingest_ship_status_t)i;
            return 0;
        }
    }
    return -1;
}

int ingest_ship_status_rank(ingest_ship_status_t st)
{
    return (unsigned)st < INGEST_SHIP_COUNT ? statuses[st].rank : 0;
}

bool ingest_shipment_applies(int last_rank, int64_t last_ms, ingest_ship_status_t st, int64_t t_ms)
{
    if (t_ms < last_ms)
        return false;
    /* An exception interrupts the lifecycle without advancing it; after delivery or return it is history. */
    if (st == INGEST_SHIP_EXCEPTION)
        return last_rank < statuses[INGEST_SHIP_DELIVERED].rank;
    return ingest_ship_status_rank(st) >= last_rank;
}

/* ---- JSON Pointer (RFC 6901) ---------------------------------------------------------------------------------- */

bool ingest_jptr_valid(const char *ptr)
{
    return cfg_json_pointer_valid(ptr); /* check-config refuses the same pointers */
}

/* An array index token: "0" or digits without a leading zero. */
static bool index_token(const char *t, size_t n, size_t *out)
{
    if (n == 0 || n > 9 || (n > 1 && t[0] == '0'))
        return false;
    size_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)t[i]))
            return false;
        v = v * 10 + (size_t)(t[i] - '0');
    }
    *out = v;
    return true;
}

json_t *ingest_jptr_get(json_t *doc, const char *ptr)
{
    if (!ingest_jptr_valid(ptr))
        return NULL;
    json_t *cur = doc;
    const char *p = ptr;
    char tok[256];
    while (cur && *p == '/') {
        p++;
        size_t raw = strcspn(p, "/"), n = 0;
        for (size_t i = 0; i < raw; i++) {
            if (n + 1 >= sizeof(tok))
                return NULL;
            if (p[i] == '~') {
                tok[n++] = p[i + 1] == '1' ? '/' : '~';
                i++;
            } else {
                tok[n++] = p[i];
            }
        }
        tok[n] = '\0';
        p += raw;
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, tok, n);
        } else if (json_is_array(cur)) {
            size_t idx;
            cur = index_token(tok, n, &idx) ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
    }
    return cur;
}

/* ---- mapping and validation ----------------------------------------------------------------------------------- */

typedef struct field_rule {
    const char *name;       /* canonical field name */
    bool required;
    bool number_ok;         /* a JSON integer is accepted and written as digits */
    size_t max;             /* longest accepted text */
    bool multiline;         /* free text: newlines and tabs allowed */
} field_rule_t;

static const field_rule_t rules[CFG_EVF_COUNT] = {
    [CFG_EVF_EVENT_ID] = {"event_id", true, true, 128},
    [CFG_EVF_OCCURRED_AT] = {"occurred_at", true, false, 64},
    [CFG_EVF_REFERENCE] = {"reference", true, true, 128},
    [CFG_EVF_CARRIER] = {"carrier", false, false, 64},
    [CFG_EVF_TRACKING_NUMBER] = {"tracking_number", false, true, 64},
    [CFG_EVF_TRACKING_URL] = {"tracking_url", false, false, 512},
    [CFG_EVF_STATUS] = {"status", true, false, 64},
    [CFG_EVF_LOCATION] = {"location", false, false, 256, true},
    [CFG_EVF_DETAIL] = {"detail", false, false, 1000, true},
};

static void problem(json_t *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(json_t *problems, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    json_array_append_new(problems, json_string(line));
}

void ingest_shipment_release(ingest_shipment_t *ev)
{
    free(ev->source);
    free(ev->event_id);
    free(ev->reference);
    free(ev->occurred_at);
    free(ev->carrier);
    free(ev->tracking_number);
    free(ev->tracking_url);
    free(ev->location);
    free(ev->detail);
    memset(ev, 0, sizeof(*ev));
}

static char **slot_of(ingest_shipment_t *ev, int f)
{
    switch (f) {
    case CFG_EVF_EVENT_ID: return &ev->event_id;
    case CFG_EVF_OCCURRED_AT: return &ev->occurred_at;
    case CFG_EVF_REFERENCE: return &ev->reference;
    case CFG_EVF_CARRIER: return &ev->carrier;
    case CFG_EVF_TRACKING_NUMBER: return &ev->tracking_number;
    case CFG_EVF_TRACKING_URL: return &ev->tracking_url;
    case CFG_EVF_LOCATION: return &ev->location;
    case CFG_EVF_DETAIL: return &ev->detail;
    default: return NULL;   /* status is an enum */
    }
}

/* Control characters would end up in Odoo's chatter and in log lines: refuse them (tab and newline are fine in
 * free text). */
static bool has_control(const char *s, bool text)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 && !(text && (ch == '\n' || ch == '\t' || ch == '\r')))
            return true;
        if (ch == 0x7f)
            return true;
    }
    return false;
}

/* The text of one field, trimmed, into *out (strdup'd); NULL when absent or null. Problems appended. */
static void take_text(json_t *v, const field_rule_t *r, const char *where, char **out, json_t *problems)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return;
    char num[32];
    const char *s = NULL;
    if (json_is_string(v)) {
        s = json_string_value(v);
        if (strlen(s) != json_string_length(v)) {
            problem(problems, "%s: contains a NUL character%s", r->name, where);
            return;
        }
    } else if (r->number_ok && json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
    } else {
        problem(problems, "%s: must be a string%s%s", r->name, r->number_ok ? " or a non-negative integer" : "",
                where);
        return;
    }
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0)
        return;   /* "" counts as absent; required fields report it below */
    if (n > r->max) {
        problem(problems, "%s: longer than %zu characters%s", r->name, r->max, where);
        return;
    }
    *out = strndup(s, n);
    if (*out && has_control(*out, r->multiline)) {
        problem(problems, "%s: contains control characters%s", r->name, where);
        free(*out);
        *out = NULL;
    }
}

typedef struct status_lookup {
    const char *code;
    char out[64];
    bool found;
} status_lookup_t;

static int status_entry(const char *k, size_t kl, const char *v, size_t vl, void *ud)
{
    status_lookup_t *sl = ud;
    if (!v || kl != strlen(sl->code) || strncasecmp(k, sl->code, kl) != 0)
        return 0;
    snprintf(sl->out, sizeof(sl->out), "%.*s", (int)vl, v);
    sl->found = true;
    return 1;
}

int ingest_shipment_parse(const cfg_source_t *src, json_t *doc, ingest_shipment_t *ev, json_t *problems)
{
    memset(ev, 0, sizeof(*ev));
    size_t before = json_array_size(problems);
    bool mapped = src->format && strcmp(src->format, "mapped") == 0;
    if (!json_is_object(doc)) {
        problem(problems, "body: must be a JSON object");
        return -1;
    }
    if (!mapped) {
        /* The canonical schema is closed: a misspelt field is a problem, not silently ignored. */
        const char *key;
        json_t *val;
        json_object_foreach(doc, key, val) {
            bool known = strcmp(key, "source") == 0;
            for (int f = 0; f < CFG_EVF_COUNT && !known; f++)
                known = strcmp(key, rules[f].name) == 0;
            if (!known)
                problem(problems, "%s: unknown field (canonical fields: source, event_id, occurred_at, reference, "
                        "carrier, tracking_number, tracking_url, status, location, detail)", key);
        }
        json_t *s = json_object_get(doc, "source");
        if (s && !(json_is_string(s) && strcmp(json_string_value(s), src->name) == 0))
            problem(problems, "source: must be \"%s\" (the source of the URL) when given", src->name);
    }
    char *status_text = NULL;
    for (int f = 0; f < CFG_EVF_COUNT; f++) {
        const char *path = mapped && src->map[f] ? src->map[f] : rules[f].name;
        char where[300] = "";
        json_t *v;
        if (path[0] == '/' || path[0] == '\0') {
            if (!ingest_jptr_valid(path)) {
                problem(problems, "%s: the mapping's JSON pointer \"%s\" is malformed", rules[f].name, path);
                continue;
            }
            v = ingest_jptr_get(doc, path);
            if (mapped)
                snprintf(where, sizeof(where), " (at %s)", path);
        } else {
            v = json_object_get(doc, path);
            if (mapped && strcmp(path, rules[f].name) != 0)
                snprintf(where, sizeof(where), " (from \"%s\")", path);
        }
        char **dst = f == CFG_EVF_STATUS ? &status_text : slot_of(ev, f);
        size_t n0 = json_array_size(problems);
        take_text(v, &rules[f], where, dst, problems);
        if (!*dst && rules[f].required && json_array_size(problems) == n0)
            problem(problems, "%s: required%s", rules[f].name, where);
    }
    if (ev->occurred_at) {
        int64_t t;
        if (clock_parse_iso8601(ev->occurred_at, &t) < 0 || !strpbrk(ev->occurred_at + 10, "Zz+-")) {
            problem(problems, "occurred_at: \"%.64s\" is not an ISO 8601 time with a zone (2026-11-21T14:03:13Z)",
                    ev->occurred_at);
        } else {
            char iso[40];
            free(ev->occurred_at);
            ev->occurred_at = strdup(clock_format_iso8601(t, iso, sizeof(iso)));
            ev->occurred_ms = t;
        }
    }
    if (status_text) {
        const char *canon = status_text;
        status_lookup_t sl = {.code = status_text};
        if (mapped && src->status_map && cfg_map_each(src->status_map, status_entry, &sl) && sl.found)
            canon = sl.out;
        if (ingest_ship_status_parse(canon, &ev->status) < 0) {
            if (canon != status_text)
                problem(problems, "status: \"%.64s\" maps to \"%.64s\", which is not a status (status_map of "
                        "[source %s])", status_text, canon, src->name);
            else
                problem(problems, "status: \"%.64s\" is not one of picked, packed, dispatched, in_transit, "
                        "out_for_delivery, delivered, exception, returned%s", status_text,
                        mapped ? " (nor a code of the source's status_map)" : "");
        }
    }
    if (ev->tracking_url && strncmp(ev->tracking_url, "https://", 8) != 0 &&
        strncmp(ev->tracking_url, "http://", 7) != 0)
        problem(problems, "tracking_url: must start with https:// or http://");
    if (ev->tracking_number && strpbrk(ev->tracking_number, " \t\r\n,"))
        problem(problems, "tracking_number: must not contain spaces or commas");
    free(status_text);
    ev->source = strdup(src->name);
    if (json_array_size(problems) != before || !ev->source) {
        if (!ev->source)
            problem(problems, "body: out of memory");
        ingest_shipment_release(ev);
        return -1;
    }
    return 0;
}

/* ---- keys and payload ----------------------------------------------------------------------------------------- */

char *ingest_shipment_json(const ingest_shipment_t *ev)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "source", ev->source, "event_id", ev->event_id,
                          "occurred_at", ev->occurred_at, "reference", ev->reference, "status",
                          ingest_ship_status_name(ev->status));
    const char *opt_names[] = {"carrier", "tracking_number", "tracking_url", "location", "detail"};
    const char *opt_values[] = {ev->carrier, ev->tracking_number, ev->tracking_url, ev->location, ev->detail};
    for (size_t i = 0; o && i < sizeof(opt_names) / sizeof(opt_names[0]); i++)
        if (opt_values[i])
            json_object_set_new(o, opt_names[i], json_string(opt_values[i]));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

char *ingest_shipment_idem_key(const ingest_shipment_t *ev)
{
    char *k = NULL;
    return asprintf(&k, "logistics|%s|%s", ev->source, ev->event_id) < 0 ? NULL : k;
}

char *ingest_shipment_ordering_key(const ingest_shipment_t *ev)
{
    char *k = NULL;
    if (asprintf(&k, "shipment:%s", ev->reference) < 0)
        return NULL;
    /* "WH/OUT/00012" and "wh/out/00012" from two partners are one shipment. */
    for (char *q = k; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    return k;
}

int ingest_shipment_job(const cfg_t *cfg, const ingest_shipment_t *ev, const char *via, int64_t now,
                        job_new_t *job, char **owned)
{
    char *idem = ingest_shipment_idem_key(ev);
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:I}", "source", ev->source, "event_id", ev->event_id, "reference",
                          ev->reference, "via", via, "received_at", (json_int_t)now);
    owned[0] = ingest_shipment_json(ev);
    owned[1] = ingest_shipment_ordering_key(ev);
    owned[2] = m ? json_dumps(m, JSON_COMPACT) : NULL;
    owned[3] = idem ? strdup(idem + strlen("logistics|")) : NULL;
    owned[4] = strdup(ev->source);
    json_decref(m);
    if (!idem || !owned[0] || !owned[1] || !owned[2] || !owned[3] || !owned[4]) {
        free(idem);
        return -1;
    }
    queue_policy_t pol = queue_policy_for(cfg, INGEST_SHIPMENT_KIND);
    queue_job_id(idem, strlen(idem), job->id);
    free(idem);
    job->kind = INGEST_SHIPMENT_KIND;
    job->payload = owned[0];
    job->payload_len = strlen(owned[0]);
    job->ordering_key = owned[1];
    job->meta = owned[2];
    job->correlation_id = owned[3];
    job->source = owned[4];
    job->event_time_ms = ev->occurred_ms;
    job->priority = pol.priority;
    job->max_attempts = pol.max_attempts;
    job->lease_ms = pol.lease_ms;
    return 0;
}

int ingest_shipment_from_json(const char *payload, ingest_shipment_t *ev)
{
    json_t *doc = payload ? json_loads(payload, 0, NULL) : NULL;
    const char *source = json_string_value(json_object_get(doc, "source"));
    json_t *problems = json_array();
    cfg_source_t src = {.name = (char *)(source ? source : ""), .format = "canonical"};
    int rc = doc && source && problems ? ingest_shipment_parse(&src, doc, ev, problems) : -1;
    if (rc < 0 && !(doc && source && problems))
        memset(ev, 0, sizeof(*ev));
    json_decref(problems);
    json_decref(doc);
    return rc;
}

/* ---- authentication ------------------------------------------------------------------------------------------- */

static bool hex_decode(const char *s, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n / 2; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char ch = (char)tolower((unsigned char)s[2 * i + (size_t)j]);
            int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
            if (d < 0)
                return false;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return true;
}

static bool mac_matches(const cfg_secret_t *key, const buf_t *signed_text, const unsigned char *sig)
{
    unsigned char mac[CRYPTO_SHA256_LEN];
    if (!key->value || crypto_hmac_sha256(key->value, key->len, signed_text->data, signed_text->len, mac) < 0)
        return false;
    return crypto_equal(mac, sizeof(mac), sig, CRYPTO_SHA256_LEN);
}

ingest_auth_t ingest_source_verify(const cfg_source_t *src, const char *sig_hdr, const char *ts_hdr,
                                   const char *authz, const void *body, size_t len, int64_t now_ms)
{
    if (strcmp(src->auth, "bearer") == 0) {
        if (!authz || strncasecmp(authz, "Bearer ", 7) != 0)
            return INGEST_AUTH_MISSING;
        const char *tok = authz + 7;
        while (*tok == ' ')
            tok++;
        /* Hash both sides first so the comparison takes the same time whatever the lengths. */
        unsigned char a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];
        if (!src->token.value || crypto_sha256(tok, strlen(tok), a) < 0 ||
            crypto_sha256(src->token.value, src->token.len, b) < 0)
            return INGEST_AUTH_BAD;
        return crypto_equal(a, sizeof(a), b, sizeof(b)) ? INGEST_AUTH_OK : INGEST_AUTH_BAD;
    }
    if (!sig_hdr || !*sig_hdr || !ts_hdr || !*ts_hdr)
        return INGEST_AUTH_MISSING;
    if (strncasecmp(sig_hdr, "sha256=", 7) == 0)
        sig_hdr += 7;
    /* Exactly 64 hex or 44 base64 characters, decoded into exactly 32 bytes; anything else is refused unread. */
    unsigned char sig[CRYPTO_SHA256_LEN];
    size_t n = strnlen(sig_hdr, 2 * CRYPTO_SHA256_LEN + 1);
    if (n == 2 * CRYPTO_SHA256_LEN) {
        if (!hex_decode(sig_hdr, n, sig))
            return INGEST_AUTH_BAD;
    } else if (n == CRYPTO_SHA256_B64_LEN) {
        if (crypto_base64_decode(sig_hdr, n, sig, sizeof(sig)) != CRYPTO_SHA256_LEN)
            return INGEST_AUTH_BAD;
    } else {
        return INGEST_AUTH_BAD;
    }
    size_t tl = strlen(ts_hdr);
    if (tl == 0 || tl > 12 || strspn(ts_hdr, "0123456789") != tl)
        return INGEST_AUTH_BAD;
    buf_t text = BUF_INIT;
    if (buf_append(&text, ts_hdr, tl) < 0 || buf_append(&text, ".", 1) < 0 || buf_append(&text, body, len) < 0) {
        buf_release(&text);
        return INGEST_AUTH_BAD;
    }
    bool a = mac_matches(&src->secret, &text, sig);
    bool b = mac_matches(&src->secret_previous, &text, sig);
    buf_release(&text);
    if (!(a | b))
        return INGEST_AUTH_BAD;
    /* Checked after the signature: an attacker cannot learn the skew window from unsigned probes, and a stale but
     * genuine request is told why (its sender's clock, or a replay). */
    int64_t ts_ms = strtoll(ts_hdr, NULL, 10) * 1000;
    int64_t skew = now_ms > ts_ms ? now_ms - ts_ms : ts_ms - now_ms;
    return skew > src->max_skew_ms ? INGEST_AUTH_STALE : INGEST_AUTH_OK;
}

const char *ingest_auth_reason(ingest_auth_t a)
{
    switch (a) {
    case INGEST_AUTH_OK: return "ok";
    case INGEST_AUTH_MISSING: return "missing signature, timestamp or Authorization header";
    case INGEST_AUTH_BAD: return "invalid signature or token";
    case INGEST_AUTH_STALE: return "timestamp outside the accepted window (replayed or clock skew)";
    }
    return "?";
}

/* ---- CSV ------------------------------------------------------------------------------------------------------ */

int ingest_csv_record(const char **pp, const char *end, json_t *fields, int *line, int *start, const char **why)
{
    const char *p = *pp;
    json_array_clear(fields);
    /* Blank lines between records are skipped, not empty records. */
    while (p < end && (*p == '\n' || *p == '\r')) {
        if (*p == '\n')
            (*line)++;
        p++;
    }
    *start = *line;
    if (p >= end) {
        *pp = p;
        return 0;
    }
    buf_t cell = BUF_INIT;
    int rc = 1;
    for (;;) {
        buf_reset(&cell);
        buf_append(&cell, "", 0);
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end) {
                    *why = "unterminated quoted field";
                    rc = -1;
                    goto out;
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        buf_append(&cell, "\"", 1);
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (*p == '\n')
                    (*line)++;
                buf_append(&cell, p, 1);
                p++;
            }
        } else {
            const char *s = p;
            while (p < end && *p != ',' && *p != '\n' && *p != '\r')
                p++;
            buf_append(&cell, s, (size_t)(p - s));
        }
        json_array_append_new(fields, json_stringn(buf_str(&cell), cell.len));
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        bool cr = p < end && *p == '\r';
        if (cr)
            p++;
        if (p < end && *p == '\n') {
            p++;
            (*line)++;
        } else if (p < end) {
            /* A lone CR ends lines in files from old Mac software: say so rather than blame a quote. */
            *why = cr ? "a line ends in CR alone (carriage return without line feed): save the file with LF or CRLF "
                        "line ends"
                      : "text after a closing quote";
            rc = -1;
            /* skip the rest of the line so the caller can continue with the next record */
            while (p < end && *p != '\n')
                p++;
            if (p < end) {
                p++;
                (*line)++;
            }
        }
        break;
    }
out:
    buf_release(&cell);
    *pp = p;
    return rc;
}
