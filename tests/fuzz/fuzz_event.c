/* fuzz_event: a logistics event body through the event parser and the mapper (canonical and mapped sources), and
 * the source authentication. Invariant: an event the parser accepts is stored as a canonical payload the worker
 * reads back (ingest_shipment_from_json), so nothing is acknowledged that cannot run.
 * Input: the body; its first line also serves as signature and timestamp headers. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "ingest/ingest_event.h"

static void parse_with(const cfg_source_t *src, json_t *doc)
{
    ingest_shipment_t ev;
    json_t *problems = json_array();
    if (ingest_shipment_parse(src, doc, &ev, problems) == 0) {
        char *payload = ingest_shipment_json(&ev);
        char *idem = ingest_shipment_idem_key(&ev);
        char *okey = ingest_shipment_ordering_key(&ev);
        ingest_shipment_t back;
        if (payload && ingest_shipment_from_json(payload, &back) != 0)
            abort(); /* accepted, then unreadable by the worker */
        if (payload)
            ingest_shipment_release(&back);
        free(payload);
        free(idem);
        free(okey);
        ingest_shipment_release(&ev);
    }
    json_decref(problems);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg_source_t canonical, mapped;
    memset(&canonical, 0, sizeof(canonical));
    canonical.name = (char *)"ups";
    canonical.auth = (char *)"hmac";
    canonical.format = (char *)"canonical";
    canonical.secret.value = (char *)"fuzz-secret";
    canonical.secret.len = 11;
    canonical.max_skew_ms = 300000;
    mapped = canonical;
    mapped.name = (char *)"wms";
    mapped.format = (char *)"mapped";
    mapped.map[CFG_EVF_EVENT_ID] = (char *)"/msg/id";
    mapped.map[CFG_EVF_OCCURRED_AT] = (char *)"/msg/ts";
    mapped.map[CFG_EVF_REFERENCE] = (char *)"Reference";
    mapped.map[CFG_EVF_STATUS] = (char *)"/shipment/state";
    mapped.map[CFG_EVF_DETAIL] = (char *)"/notes/0";
    mapped.map[CFG_EVF_TRACKING_URL] = (char *)"/t~1url";
    mapped.status_map = (char *)"PCK=picked, IT=in_transit, DL=delivered, EX=exception";

    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (doc) {
        parse_with(&canonical, doc);
        parse_with(&mapped, doc);
        json_decref(doc);
    }

    const uint8_t *nl = memchr(data, '\n', size);
    size_t hl = nl ? (size_t)(nl - data) : size;
    char *hdr = malloc(hl + 1);
    if (!hdr)
        return 0;
    memcpy(hdr, data, hl);
    hdr[hl] = '\0';
    (void)ingest_source_verify(&canonical, hdr, hdr, NULL, data, size, 1700000000000);
    cfg_source_t bearer = canonical;
    bearer.auth = (char *)"bearer";
    bearer.token.value = (char *)"fuzz-token";
    bearer.token.len = 10;
    (void)ingest_source_verify(&bearer, NULL, NULL, hdr, data, size, 1700000000000);
    free(hdr);
    return 0;
}
