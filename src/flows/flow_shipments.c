/* flow_shipments: a canonical shipment event → its Odoo delivery. The order of work for one job:
 *   1. find the delivery: the id the reference's link ("logistics", "", "shipment_ref", reference) remembers,
 *      else stock.picking by name, by origin (the sale order's name, or the Shopify order name Odoo 18 appends to
 *      it) or its sale order's Customer Reference (Odoo 19's origin is the order name only), by
 *      carrier_tracking_ref (the reference, then the event's tracking number).
 *      None → data error logistics.unknown_shipment, retried with the kind's backoff (the delivery may not exist
 *      yet); several → logistics.ambiguous_shipment naming the candidates, never a guess
 *   2. the delivery's link ("logistics", "", "shipment", delivery id) gives the highest lifecycle rank and the
 *      occurred_at last applied (per delivery, whichever reference a partner used); ingest_shipment_applies
 *      decides whether this event moves the state
 *   3. applied: carrier_tracking_ref written when the event carries a different one (the fulfillment poller then
 *      sends it to Shopify)
 *   4. the milestone on the chatter (message_post, an internal note: followers are not e-mailed), once per event:
 *      the body carries the marker "[synchub <job id of the event>]" and is posted only when no message of the
 *      delivery has it. Checking Odoo
 *      (not only the local store) closes the window between a post that succeeded and a crash before anything was
 *      recorded: the re-run finds the message. A late event is posted too, saying it did not change the state.
 *   5. applied delivered: the date is in the chatter message and the link (stock.picking has no customer-delivery
 *      date field in Odoo 18/19: date_done is the warehouse validation, never overwritten)
 *   6. applied exception: a To Do activity for the source's responsible user (activity_schedule: it needs no
 *      ir.model id, which real Odoo does not let the integration user read), once: its note carries the same
 *      marker and is searched first
 *   7. the links are written last (state, version, rank, delivered_at; the reference's delivery)
 * Every write Odoo confirmed is recorded as an effect (subject "shipment:<reference>") for `synchub trace`. */
#define _GNU_SOURCE
#include "flows/flow_shipments.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "ingest/ingest_event.h"
#include "odoo/odoo.h"

#define LINK_SYSTEM "logistics"
#define LINK_SHOP ""
#define LINK_TYPE "shipment"          /* external id: the delivery's id; state = last applied status */
#define LINK_TYPE_REF "shipment_ref"  /* external id: the reference in lower case → the delivery */
#define EFFECT_SHOP "logistics"

typedef struct ship_worker {
    odoo_t *odoo;
    char responsible_key[128];   /* the responsible setting resolved below (cached per worker) */
    int64_t responsible_uid;
} ship_worker_t;

typedef struct ship_ctx {
    queue_run_t *run;
    const cfg_t *cfg;
    ship_worker_t *ws;
    ingest_shipment_t ev;
    char key[160];              /* link external id: the reference, lower-cased (as the ordering key) */
    char subject[180];          /* "shipment:<key>" */
    char label[400];            /* "shipment WH/OUT/00012 (event evt-1 from ups)": every error names it */
    char marker[64];            /* "[synchub <event's job id>]" */
    char event_job[JOB_ID_LEN + 1];  /* that job id */
    int64_t picking_id;
    char picking_name[128];
    char picking_ref[128];      /* carrier_tracking_ref as read */
} ship_ctx_t;

static void slot_free(void *p)
{
    ship_worker_t *ws = p;
    odoo_free(ws->odoo);
    free(ws);
}

/* Every failure names the shipment and the event (c->label). */
#define FAIL(c, ...) queue_run_fail((c)->run, (c)->label, __VA_ARGS__)

static int call(ship_ctx_t *c, const char *model, const char *method, json_t *ids, json_t *params, json_t **result)
{
    return odoo_call_take(c->ws->odoo, model, method, ids, params, result, c->label, &c->run->err);
}

static void effect(ship_ctx_t *c, const char *action, json_t *detail)
{
    char target[96];
    snprintf(target, sizeof(target), "stock.picking/%" PRId64, c->picking_id);
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    store_effect_t e = {.shop = EFFECT_SHOP, .subject = c->subject, .system = "odoo", .action = action,
                        .target = target, .detail = d};
    queue_run_effects(c->run, &e, 1);
    free(d);
}

/* ---- finding the delivery ------------------------------------------------------------------------------------- */

/* `=like` treats % and _ as wildcards: escape them so a reference matches only itself. */
static void like_escape(const char *s, char *out, size_t n)
{
    size_t k = 0;
    for (; *s && k + 3 < n; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            out[k++] = '\\';
        out[k++] = *s;
    }
    out[k] = '\0';
}

/* One search stage: 1 found (c->picking_*), 0 none, -1 error (ambiguous included). */
static int search_stage(ship_ctx_t *c, json_t *domain, const char *how)
{
    json_t *r = NULL;
    if (call(c, "stock.picking", "search_read", NULL,
             json_pack("{s:o, s:[s, s, s], s:i, s:s}", "domain", domain, "fields", "id", "name",
                       "carrier_tracking_ref", "limit", 5, "order", "id asc"),
             &r) < 0)
        return -1;
    size_t n = json_array_size(r);
    if (n > 1) {
        buf_t names = BUF_INIT;
        size_t i;
        json_t *rec;
        json_array_foreach(r, i, rec)
        {
            const char *nm = json_string_value(json_object_get(rec, "name"));
            buf_printf(&names, "%s%s (id %" JSON_INTEGER_FORMAT ")", i ? ", " : "", nm ? nm : "?",
                       json_integer_value(json_object_get(rec, "id")));
        }
        json_decref(r);
        FAIL(c, ERR_DATA, "logistics.ambiguous_shipment",
             "make the reference unique in Odoo (or have the partner send the delivery's name), then `synchub jobs "
             "retry`; retry is safe",
             "the reference matches %s%zu deliveries by %s: %s; synchub does not guess", n >= 5 ? "at least " : "",
             n, how, buf_str(&names));
        buf_release(&names);
        c->run->err.retry_safe = true;   /* nothing was written; a retry searches again */
        return -1;
    }
    if (n == 1) {
        json_t *rec = json_array_get(r, 0);
        c->picking_id = json_integer_value(json_object_get(rec, "id"));
        const char *nm = json_string_value(json_object_get(rec, "name"));
        const char *ref = json_string_value(json_object_get(rec, "carrier_tracking_ref"));
        snprintf(c->picking_name, sizeof(c->picking_name), "%s", nm ? nm : "");
        snprintf(c->picking_ref, sizeof(c->picking_ref), "%s", ref ? ref : "");
    }
    json_decref(r);
    return n == 1 ? 1 : 0;
}

static int find_picking(ship_ctx_t *c, int64_t linked_id)
{
    const char *ref = c->ev.reference;
    int rc;
    if (linked_id > 0) {
        rc = search_stage(c, json_pack("[[s, s, I]]", "id", "=", (json_int_t)linked_id), "id");
        if (rc != 0)
            return rc;
        /* The linked delivery was deleted: find it again as if new. */
    }
    if ((rc = search_stage(c, json_pack("[[s, s, s]]", "name", "=", ref), "name")) != 0)
        return rc;
    /* Odoo's deliveries carry the sale order's name as origin; Odoo 18 appends the order's Customer Reference
     * ("S00012 - #1042"), Odoo 19 does not: there the Shopify order name is found through the sale order. */
    char esc[300], pre[320], post[320];
    like_escape(ref, esc, sizeof(esc));
    snprintf(pre, sizeof(pre), "%s - %%", esc);
    snprintf(post, sizeof(post), "%% - %s", esc);
    if ((rc = search_stage(c,
                           json_pack("[[s, s, s], [s, s, s], s, s, s, [s, s, s], [s, s, s], [s, s, s], [s, s, s]]",
                                     "picking_type_code", "=", "outgoing", "state", "!=", "cancel", "|", "|", "|",
                                     "origin", "=", ref, "origin", "=like", pre, "origin", "=like", post,
                                     "sale_id.client_order_ref", "=", ref),
                           "origin or order reference")) != 0)
        return rc;
    if ((rc = search_stage(c, json_pack("[[s, s, s]]", "carrier_tracking_ref", "=", ref), "tracking reference")) != 0)
        return rc;
    if (c->ev.tracking_number && strcmp(c->ev.tracking_number, ref) != 0 &&
        (rc = search_stage(c, json_pack("[[s, s, s]]", "carrier_tracking_ref", "=", c->ev.tracking_number),
                           "tracking number")) != 0)
        return rc;
    c->run->retry_later = true;
    FAIL(c, ERR_DATA, "logistics.unknown_shipment",
         "the event is retried with backoff until the delivery exists; if the reference is wrong, fix the "
         "partner's mapping and `synchub jobs discard` this job; retry is safe",
         "no Odoo delivery (stock.picking) has the name, origin or tracking reference \"%s\"%s%s%s yet",
         ref, c->ev.tracking_number ? " (nor the tracking number \"" : "",
         c->ev.tracking_number ? c->ev.tracking_number : "", c->ev.tracking_number ? "\")" : "");
    c->run->err.retry_safe = true;   /* nothing was written; the delivery may simply not exist yet */
    return -1;
}

/* ---- the writes ----------------------------------------------------------------------------------------------- */

/* How many records of model on this delivery carry the marker in field. -1 on error. */
static int64_t marked(ship_ctx_t *c, const char *model, const char *model_field, const char *field)
{
    json_t *r = NULL;
    if (call(c, model, "search_count", NULL,
             json_pack("{s:[[s, s, s], [s, s, I], [s, s, s]]}", "domain", model_field, "=", "stock.picking", "res_id",
                       "=", (json_int_t)c->picking_id, field, "ilike", c->marker),
             &r) < 0)
        return -1;
    int64_t n = json_integer_value(r);
    json_decref(r);
    return n;
}

static void human_status(ingest_ship_status_t st, char *out, size_t n)
{
    snprintf(out, n, "%s", ingest_ship_status_name(st));
    for (char *q = out; *q; q++)
        if (*q == '_')
            *q = ' ';
    out[0] = (char)toupper((unsigned char)out[0]);
}

static int post_milestone(ship_ctx_t *c, bool applied, const char *kept_status)
{
    int64_t n = marked(c, "mail.message", "model", "body");
    if (n < 0)
        return -1;
    if (n > 0)
        return 0;   /* an earlier run posted it and its answer (or its record) was lost */
    const ingest_shipment_t *ev = &c->ev;
    char st[40], when[40];
    human_status(ev->status, st, sizeof(st));
    odoo_datetime(ev->occurred_ms, when, sizeof(when));
    buf_t b = BUF_INIT;
    if (!applied)
        buf_printf(&b, "Late shipment event (recorded, state unchanged: the shipment is already %s): ", kept_status);
    buf_printf(&b, "%s at %s UTC", st, when);
    if (ev->location)
        buf_printf(&b, ", %s", ev->location);
    buf_printf(&b, " (%s event %s", ev->source, ev->event_id);
    if (ev->carrier)
        buf_printf(&b, ", carrier %s", ev->carrier);
    if (ev->tracking_number)
        buf_printf(&b, ", tracking %s", ev->tracking_number);
    buf_puts(&b, ").");
    if (ev->detail)
        buf_printf(&b, " %s", ev->detail);
    if (ev->tracking_url)
        buf_printf(&b, " Tracking: %s", ev->tracking_url);
    buf_printf(&b, " %s", c->marker);
    json_t *r = NULL;
    json_t *params = json_pack("{s:s, s:s, s:s}", "body", buf_str(&b), "message_type", "comment", "subtype_xmlid",
                               "mail.mt_note");
    odoo_note_sender(&c->cfg->odoo, params);
    int rc = call(c, "stock.picking", "message_post", json_pack("[I]", (json_int_t)c->picking_id), params, &r);
    buf_release(&b);
    json_decref(r);
    if (rc < 0)
        return -1;
    effect(c, applied ? "milestone posted" : "late milestone posted",
           json_pack("{s:s, s:s, s:s, s:s}", "status", ingest_ship_status_name(ev->status), "occurred_at",
                     ev->occurred_at, "source", ev->source, "event_id", ev->event_id));
    return 0;
}

static int set_tracking(ship_ctx_t *c)
{
    const char *num = c->ev.tracking_number;
    if (!num || strcmp(num, c->picking_ref) == 0)
        return 0;
    json_t *r = NULL;
    if (call(c, "stock.picking", "write", json_pack("[I]", (json_int_t)c->picking_id),
             json_pack("{s:{s:s}}", "vals", "carrier_tracking_ref", num), &r) < 0)
        return -1;
    json_decref(r);
    effect(c, "tracking reference set",
           json_pack("{s:s, s:s}", "tracking_number", num, "previous", c->picking_ref));
    snprintf(c->picking_ref, sizeof(c->picking_ref), "%s", num);
    return 0;
}

/* The responsible user for activities, resolved once per worker. */
static int activity_refs(ship_ctx_t *c, const cfg_source_t *src)
{
    ship_worker_t *ws = c->ws;
    json_t *r = NULL;
    if (strcmp(ws->responsible_key, src->responsible) != 0 || ws->responsible_uid <= 0) {
        const char *who = src->responsible;
        int64_t uid = 0;
        if (strspn(who, "0123456789") == strlen(who)) {
            uid = strtoll(who, NULL, 10);
        } else {
            if (call(c, "res.users", "search_read", NULL,
                     json_pack("{s:[[s, s, s]], s:[s], s:i}", "domain", "login", "=", who, "fields", "id", "limit",
                               1),
                     &r) < 0)
                return -1;
            uid = json_integer_value(json_object_get(json_array_get(r, 0), "id"));
            json_decref(r);
        }
        if (uid <= 0)
            return FAIL(c, ERR_CONFIGURATION, "config.responsible",
                        "set responsible in the source's section to an active Odoo user's login or id, then "
                        "`synchub jobs retry`; retry is safe",
                        "[source %s] responsible \"%s\" is not an Odoo user", src->name, who);
        snprintf(ws->responsible_key, sizeof(ws->responsible_key), "%s", who);
        ws->responsible_uid = uid;
    }
    return 0;
}

/* The events whose activity this delivery got, kept in its link (newest last, at most ACTIVITIES_KEPT). */
#define ACTIVITIES_KEPT 20

static bool activity_recorded(json_t *extra, const char *event_job)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(extra, "activities"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), event_job) == 0)
            return true;
    return false;
}

static void activity_record(json_t *extra, const char *event_job)
{
    json_t *a = json_object_get(extra, "activities");
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(extra, "activities", a);
    }
    json_array_append_new(a, json_string(event_job));
    while (json_array_size(a) > ACTIVITIES_KEPT)
        json_array_remove(a, 0);
}

/* Once per event: the delivery's link says so after a finished run (also when the responsible person has marked
 * the activity done since, which deletes it in Odoo); the marker in Odoo covers a run that ended between the
 * create and the link. */
static int exception_activity(ship_ctx_t *c, const cfg_source_t *src, json_t *extra)
{
    if (!src || !src->responsible) {
        snprintf(c->run->note + strlen(c->run->note), sizeof(c->run->note) - strlen(c->run->note),
                 "; no activity: [source %s] has no responsible", c->ev.source);
        return 0;
    }
    if (activity_recorded(extra, c->event_job))
        return 0;
    if (activity_refs(c, src) < 0)
        return -1;
    int64_t n = marked(c, "mail.activity", "res_model", "note");
    if (n < 0)
        return -1;
    if (n > 0) {
        activity_record(extra, c->event_job);
        return 0;
    }
    char summary[160], today[16], when[40];
    snprintf(summary, sizeof(summary), "Shipment exception (%s)", c->ev.carrier ? c->ev.carrier : c->ev.source);
    odoo_datetime(clock_now_ms(), when, sizeof(when));
    snprintf(today, sizeof(today), "%.10s", when);
    buf_t note = BUF_INIT;
    buf_printf(&note, "%s reported an exception", c->ev.source);
    if (c->ev.location)
        buf_printf(&note, " at %s", c->ev.location);
    if (c->ev.detail)
        buf_printf(&note, ": %s", c->ev.detail);
    buf_printf(&note, ". Please check the shipment with the carrier. %s", c->marker);
    json_t *r = NULL;
    json_t *params = json_pack("{s:s, s:s, s:s, s:s, s:I}", "act_type_xmlid", "mail.mail_activity_data_todo",
                               "summary", summary, "note", buf_str(&note), "date_deadline", today, "user_id",
                               (json_int_t)c->ws->responsible_uid);
    /* Odoo 18 e-mails the assignee "assigned to you" as the integration user, and refuses when that user has no
     * e-mail (no email_from can be passed there); quick_update skips that mail: the activity still shows in the
     * responsible's activities. Odoo 19 sends it without an address. */
    if (odoo_server_major(c->ws->odoo) == 18)
        json_object_set_new(params, "context", json_pack("{s:b}", "mail_activity_quick_update", 1));
    int rc = call(c, "stock.picking", "activity_schedule", json_pack("[I]", (json_int_t)c->picking_id), params,
                  &r);
    buf_release(&note);
    if (rc < 0) {
        json_decref(r);
        return -1;
    }
    int64_t aid = odoo_record_id(r);
    json_decref(r);
    activity_record(extra, c->event_job);
    effect(c, "exception activity created",
           json_pack("{s:I, s:I, s:s}", "activity", (json_int_t)aid, "user", (json_int_t)c->ws->responsible_uid,
                     "event_id", c->ev.event_id));
    return 0;
}

/* ---- the job -------------------------------------------------------------------------------------------------- */

static int link_fail(ship_ctx_t *c, err_t *e)
{
    err_wrap(e, c->label);
    c->run->err = *e;
    return -1;
}

static int handle(ship_ctx_t *c)
{
    queue_run_t *run = c->run;
    err_t e;
    store_link_t ref_link, link;
    memset(&ref_link, 0, sizeof(ref_link));
    memset(&link, 0, sizeof(link));
    json_t *extra = NULL;
    int rc = -1;
    /* Two links: the reference → the delivery it named last time (saves the searches), and per delivery the
     * lifecycle state, so partners naming one delivery differently still share one state. */
    int have_ref = store_link_get(run->store, LINK_SYSTEM, LINK_SHOP, LINK_TYPE_REF, c->key, &ref_link, &e);
    if (have_ref < 0)
        return link_fail(c, &e);
    if (find_picking(c, have_ref ? ref_link.odoo_id : 0) <= 0)
        goto out;
    char pkey[32];
    snprintf(pkey, sizeof(pkey), "%" PRId64, c->picking_id);
    int have = store_link_get(run->store, LINK_SYSTEM, LINK_SHOP, LINK_TYPE, pkey, &link, &e);
    if (have < 0) {
        link_fail(c, &e);
        goto out;
    }
    extra = have && link.extra ? json_loads(link.extra, 0, NULL) : NULL;
    if (!extra)
        extra = json_object();
    int last_rank = (int)json_integer_value(json_object_get(extra, "rank"));
    int64_t last_ms = have ? link.version : 0;
    char last_status[32], kept[64];
    snprintf(last_status, sizeof(last_status), "%s", have && link.state[0] ? link.state : "");
    snprintf(kept, sizeof(kept), "%s", last_status);
    for (char *q = kept; *q; q++)
        if (*q == '_')
            *q = ' ';
    bool applies = ingest_shipment_applies(last_rank, last_ms, c->ev.status, c->ev.occurred_ms);
    if (applies && set_tracking(c) < 0)
        goto out;
    if (post_milestone(c, applies, kept) < 0)
        goto out;
    if (applies && c->ev.status == INGEST_SHIP_DELIVERED)
        effect(c, "delivered", json_pack("{s:s}", "delivered_at", c->ev.occurred_at));
    snprintf(run->note, sizeof(run->note), "%s %s on %s", applies ? "applied" : "recorded late (state kept)",
             ingest_ship_status_name(c->ev.status), c->picking_name);
    if (applies && c->ev.status == INGEST_SHIP_EXCEPTION &&
        exception_activity(c, cfg_source_find(c->cfg, c->ev.source), extra) < 0)
        goto out;

    store_link_t nl = {.odoo_id = c->picking_id, .version = applies ? c->ev.occurred_ms : last_ms};
    snprintf(nl.odoo_model, sizeof(nl.odoo_model), "stock.picking");
    snprintf(nl.state, sizeof(nl.state), "%s", applies ? ingest_ship_status_name(c->ev.status) : last_status);
    json_object_set_new(extra, "picking", json_string(c->picking_name));
    if (applies) {
        int r = ingest_ship_status_rank(c->ev.status);
        if (r > last_rank)
            json_object_set_new(extra, "rank", json_integer(r));
        json_object_set_new(extra, "reference", json_string(c->ev.reference));
        json_object_set_new(extra, "event", json_string(c->ev.event_id));
        json_object_set_new(extra, "source", json_string(c->ev.source));
        if (c->picking_ref[0])
            json_object_set_new(extra, "tracking", json_string(c->picking_ref));
        if (c->ev.status == INGEST_SHIP_DELIVERED)
            json_object_set_new(extra, "delivered_at", json_string(c->ev.occurred_at));
    }
    nl.extra = json_dumps(extra, JSON_COMPACT);
    if (!nl.extra) {
        err_set(&e, ERR_INTERNAL, "odoo.oom", "out of memory");
        link_fail(c, &e);
        goto out;
    }
    store_link_t rl = {.odoo_id = c->picking_id};
    snprintf(rl.odoo_model, sizeof(rl.odoo_model), "stock.picking");
    /* Everything in Odoo is done and found again by its marker on a re-run: a failure here is harmless to retry. */
    int prc = store_link_put(run->store, LINK_SYSTEM, LINK_SHOP, LINK_TYPE, pkey, &nl, &e);
    free(nl.extra);
    if (prc < 0 || (!(have_ref && ref_link.odoo_id == c->picking_id) &&
                    store_link_put(run->store, LINK_SYSTEM, LINK_SHOP, LINK_TYPE_REF, c->key, &rl, &e) < 0)) {
        link_fail(c, &e);
        goto out;
    }
    rc = 0;
out:
    json_decref(extra);
    store_link_release(&link);
    store_link_release(&ref_link);
    return rc;
}

static int h_shipment_event(queue_run_t *run)
{
    const cfg_t *cfg = run->udata;
    ship_ctx_t c = {.run = run, .cfg = cfg};
    snprintf(c.label, sizeof(c.label), "job %s", run->job->id);
    if (ingest_shipment_from_json(run->job->payload, &c.ev) < 0)
        return FAIL(&c, ERR_DATA, "logistics.payload", "discard this job; it cannot be processed",
                    "the job's payload is not a canonical shipment event");
    snprintf(c.label, sizeof(c.label), "shipment %s (event %s from %s)", c.ev.reference, c.ev.event_id,
             c.ev.source);
    /* The marker is the event's job id (hex, derived from source and event id, whichever path stored it): it
     * survives Odoo's HTML escaping unchanged and has no LIKE wildcards, so the ilike search finds exactly it. */
    char *idem = ingest_shipment_idem_key(&c.ev);
    char eid[JOB_ID_LEN + 1] = "";
    if (idem)
        queue_job_id(idem, strlen(idem), eid);
    free(idem);
    if (!eid[0]) {
        ingest_shipment_release(&c.ev);
        return FAIL(&c, ERR_INTERNAL, "odoo.oom", NULL, "out of memory");
    }
    snprintf(c.marker, sizeof(c.marker), "[synchub %s]", eid);
    memcpy(c.event_job, eid, sizeof(eid));
    snprintf(c.key, sizeof(c.key), "%s", c.ev.reference);
    for (char *q = c.key; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    snprintf(c.subject, sizeof(c.subject), "shipment:%s", c.key);
    int rc = -1;
    if (!*run->slot) {
        ship_worker_t *ws = calloc(1, sizeof(*ws));
        if (ws)
            ws->odoo = odoo_new(&cfg->odoo);
        if (!ws || !ws->odoo) {
            if (ws)
                slot_free(ws);
            FAIL(&c, ERR_INTERNAL, "odoo.oom", NULL, "cannot create the Odoo client");
            goto out;
        }
        *run->slot = ws;
    }
    c.ws = *run->slot;
    rc = handle(&c);
out:
    ingest_shipment_release(&c.ev);
    return rc;
}

int odoo_shipments_register(queue_registry_t *reg, const cfg_t *cfg)
{
    if (!cfg->odoo.configured)
        return 0;
    return queue_registry_add_slot(reg, INGEST_SHIPMENT_KIND, h_shipment_event, (void *)cfg, slot_free);
}
