/* web_mask: customer data out of the dashboard's payload view. Fields are recognised by name (Shopify's order,
 * customer and address shapes), free text by shape (mask_pii). Masking is the default; the unmasked payload is
 * only given by the audited reveal call (web_api.c). Not here: masking of log lines and error texts (core/mask). */
#include <stdlib.h>
#include <string.h>

#include "core/mask.h"
#include "web/web.h"

/* Personal whatever object they sit in. */
static const char *const personal[] = {"email", "contact_email", "customer_email", "phone", "first_name",
                                       "last_name", "address1", "address2", "zip", "company", "latitude",
                                       "longitude", "browser_ip", NULL};

static bool in_list(const char *key, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(key, *list) == 0)
            return true;
    return false;
}

/* Objects about a person or a place, where "name" is a person's name (elsewhere it is an order's "#1042", a line
 * item's product or a shipping line's title, which operators need). */
static bool personal_object(const char *key)
{
    return strcmp(key, "customer") == 0 || strstr(key, "address") != NULL || strcmp(key, "destination") == 0 ||
           strcmp(key, "origin") == 0;
}

static json_t *hidden(const json_t *v, const char *key)
{
    const char *s = json_string_value(v);
    if (s && *s && strstr(key, "email")) {
        char e[8] = {s[0], '*', '*', '*', '@', '*', '*', '*'};
        return json_stringn(e, sizeof(e));
    }
    return json_string("***");
}

static size_t walk(json_t *v, bool person)
{
    size_t n = 0;
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        void *tmp;
        json_object_foreach_safe(v, tmp, key, child) {
            if (!json_is_null(child) && (in_list(key, personal) || (person && strcmp(key, "name") == 0))) {
                json_object_set_new(v, key, hidden(child, key));
                n++;
            } else {
                n += walk(child, personal_object(key));
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) n += walk(child, person);
    } else if (json_is_string(v)) {
        size_t len = json_string_length(v);
        char *out = malloc(2 * len + 16); /* "a@b.c" grows to "a***@***": never more than twice */
        if (out) {
            size_t k = mask_pii(json_string_value(v), out, 2 * len + 16);
            if (k) {
                json_string_set(v, out);
                n += k;
            }
            free(out);
        }
    }
    return n;
}

size_t web_mask_payload(json_t *v)
{
    return walk(v, false);
}
