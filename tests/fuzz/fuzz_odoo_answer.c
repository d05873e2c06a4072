/* fuzz_odoo_answer: the readers of Odoo's answers (JSON-RPC envelopes, JSON-2 bodies and statuses, error
 * classification) on arbitrary bytes: a broken or hostile upstream is outside input too. Invariant: an answer is
 * either a result or a classified error, never neither. Input: 2 bytes of HTTP status, then the body. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "odoo/odoo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    long status = 100 + (long)((data[0] << 8 | data[1]) % 500);
    buf_t body = BUF_INIT;
    buf_append(&body, data + 2, size - 2);
    json_t *result = NULL;
    err_t err;
    memset(&err, 0, sizeof(err));
    if (odoo_read_jsonrpc(body.data ? body.data : "", body.len, "sale.order", "load", &result, &err) == 0) {
        if (!result)
            abort();
        json_decref(result);
    } else if (err.cls == ERR_NONE) {
        abort();
    }
    result = NULL;
    memset(&err, 0, sizeof(err));
    if (odoo_read_json2(status, &body, "sale.order", "load", &result, &err) == 0) {
        if (!result)
            abort();
        json_decref(result);
    } else if (err.cls == ERR_NONE) {
        abort();
    }
    buf_release(&body);
    return 0;
}
