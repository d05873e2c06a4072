/* fuzz_scalars: the small parsers of outside text: ISO 8601 times (webhooks, events, Shopify answers), durations
 * and sizes (config), Odoo datetimes, Retry-After, JSON pointers, and PII masking of remote error texts.
 * Invariants: a parsed time formats back to the same instant; masking never grows past its buffer and is stable
 * (masking a masked text masks nothing new in the same places). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/clock.h"
#include "core/mask.h"
#include "odoo/odoo.h"
#include "shopify/shopify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t v;
    if (clock_parse_iso8601(s, &v) == 0) {
        char iso[64];
        int64_t back;
        clock_format_iso8601(v, iso, sizeof(iso));
        if (v > -62135596800000LL && v < 253402300800000LL && (clock_parse_iso8601(iso, &back) != 0 || back != v))
            abort();
    }
    (void)clock_parse_duration_ms(s, &v);
    (void)clock_parse_size(s, &v);
    (void)odoo_datetime_parse(s, &v);
    (void)shopify_retry_after_ms(s, 1700000000000);
    (void)cfg_json_pointer_valid(s);
    char out[256];
    (void)mask_pii(s, out, sizeof(out));
    if (strlen(out) >= sizeof(out))
        abort();
    char *big = malloc(size + 64);
    if (big) {
        (void)mask_pii(s, big, size + 64);
        free(big);
    }
    free(s);
    return 0;
}
