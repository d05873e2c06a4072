/* httpc: an HTTP client for one thread (libcurl easy handle, kept alive between calls, TLS verification on).
 * It sends a request and returns status and body, and on demand the value of one response header of the last
 * answer (Retry-After, X-Request-Id); it classifies transport failures (refused, timeout, reset) as transient
 * errors. Not here: any protocol on top (odoo/, shopify/), or what a header's value means. */
#ifndef SYNCHUB_HTTPC_H
#define SYNCHUB_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

typedef struct httpc httpc_t;

/* Process-wide libcurl set-up; call once at start-up before any thread uses httpc. */
int httpc_global_init(void);

httpc_t *httpc_new(int64_t timeout_ms);
void httpc_free(httpc_t *c);

/* flags for httpc_request */
#define HTTPC_FRESH 1  /* a new connection: libcurl then never re-sends the request by itself (it does so, silently,
                        * when a reused connection dies before any answer — harmless only for idempotent calls) */

/* One request. method "GET" or "POST"; headers is a NULL-terminated array of "Name: value" lines (may be NULL);
 * body may be NULL for GET. On a transport failure returns -1 with err (class transient, code http.connect /
 * http.timeout / http.io) and names url's host only (never query strings or credentials). On any HTTP answer
 * returns 0 with *status set and the response body in resp (reset first). */
int httpc_request(httpc_t *c, const char *method, const char *url, const char *const *headers, const char *body,
                  size_t body_len, int flags, long *status, buf_t *resp, err_t *err);

/* The value of response header `name` (case-insensitive, without the colon) of the answer to the last
 * httpc_request on c, copied into out (n bytes) with surrounding whitespace removed. Only the final answer's own
 * headers count (not 1xx answers, not trailers); of a repeated header, the first. Returns 0; or -1 with out = ""
 * when the last request got no answer (a transport failure, or none was sent yet), the answer has no such header,
 * or its value does not fit in n bytes (treated as absent: the value comes from the network). Copies nothing else
 * and allocates nothing; valid until the next httpc_request. The thread that owns c calls it. */
int httpc_response_header(httpc_t *c, const char *name, char *out, size_t n);

#endif
