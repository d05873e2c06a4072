/* fuzz_jscan: the ack path's JSON validator (src/core/jscan.c) on arbitrary bytes, against the workers' parser.
 * Invariant (issue 13, item 2): whatever jscan accepts, jansson (as the workers call it) reads too; and the member
 * spans jscan returns lie inside the text. Not here: the webhook route around it (fuzz_webhook). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"id", "order_id", "updated_at", "inventory_item_id", "location_id"};
    jscan_span_t out[5];
    jscan_error_t err;
    const char *text = (const char *)data;
    int ours = jscan_object(text, size, keys, out, 5, &err);
    if (ours != 0)
        return 0;
    for (size_t i = 0; i < 5; i++) {
        if (out[i].type != JSCAN_ABSENT && (out[i].p < text || out[i].p + out[i].len > text + size))
            abort();
        char buf[32];
        (void)jscan_span_id(&out[i], buf, sizeof(buf));
        (void)jscan_span_text(&out[i], buf, sizeof(buf));
    }
    /* The stored payload is read back as a C string (json_loads): it must parse, to an object. */
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    json_t *j = memchr(data, '\0', size) ? NULL : json_loads(copy, 0, NULL);
    if (!json_is_object(j))
        abort(); /* acknowledged, then dead: the fault of issue 13, item 2 */
    json_decref(j);
    free(copy);
    return 0;
}
