/* fuzz_csv: the CSV reader of `synchub import events` (RFC 4180 records, quotes, line counting) on arbitrary
 * bytes. Invariants: every call consumes input or ends, and line numbers only grow. Not here: the mapping of rows
 * (fuzz_event covers the parser it feeds). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest/ingest_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    json_t *fields = json_array();
    int line = 1, start = 0, last_line = 1;
    for (size_t rounds = 0; rounds <= size + 1; rounds++) {
        const char *why = NULL, *before = p;
        int r = ingest_csv_record(&p, end, fields, &line, &start, &why);
        if (r == 0)
            break;
        if (r < 0 && !why)
            abort(); /* a refusal always says why */
        if (p == before || p > end || line < last_line)
            abort();
        last_line = line;
        if (r < 0 && p >= end)
            break;
    }
    json_decref(fields);
    return 0;
}
