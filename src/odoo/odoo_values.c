/* odoo_values: typed helpers for values Odoo reads and writes — datetimes as Odoo stores them (UTC, no zone) and the
 * names of synchub's external IDs (__synchub__.shopify_<shop>_<what>_<id>), the id in a method's answer, the
 * sender of synchub's notes. Pure functions, no I/O.
 * Not here: calling Odoo (odoo_client.c) or deciding what a flow writes (src/flows/). */
#include "odoo/odoo.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

void odoo_xmlid_name(const char *shop, const char *what, const char *id, char *out, size_t n)
{
    char slug[96];
    size_t k = 0;
    const char *end = strstr(shop, ".myshopify.com");
    size_t len = end ? (size_t)(end - shop) : strlen(shop);
    for (size_t i = 0; i < len && k + 1 < sizeof(slug); i++)
        slug[k++] = isalnum((unsigned char)shop[i]) ? (char)tolower((unsigned char)shop[i]) : '_';
    slug[k] = '\0';
    snprintf(out, n, "shopify_%s_%s_%s", slug, what, id);
}

void odoo_datetime(int64_t ms, char *out, size_t n)
{
    char iso[40];
    clock_format_iso8601(ms, iso, sizeof(iso));
    snprintf(out, n, "%.10s %.8s", iso, iso + 11); /* "2026-11-21 19:03:11" (UTC, as Odoo stores) */
}

int odoo_datetime_parse(const char *text, int64_t *ms)
{
    /* clock_parse_iso8601 reads a time without a zone as no time at all; Odoo's are UTC, so say so. */
    char iso[48];
    if (!text || strlen(text) + 2 > sizeof(iso) || strchr(text, 'Z') || strchr(text, '+'))
        return -1;
    snprintf(iso, sizeof(iso), "%sZ", text);
    return clock_parse_iso8601(iso, ms);
}

int64_t odoo_record_id(const json_t *result)
{
    if (json_is_array(result))
        result = json_array_get(result, 0);
    if (json_is_integer(result))
        return json_integer_value(result);
    const char *text = json_string_value(result);
    const char *open = text ? strchr(text, '(') : NULL;
    if (!open || !isdigit((unsigned char)open[1]))
        return 0;
    return strtoll(open + 1, NULL, 10);
}

void odoo_note_sender(const cfg_odoo_t *cfg, json_t *params)
{
    if (cfg->note_sender && *cfg->note_sender && strcmp(cfg->note_sender, "user") != 0)
        json_object_set_new(params, "email_from", json_string(cfg->note_sender));
}
