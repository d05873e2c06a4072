/* web: the operator dashboard served by `synchub serve` — the page (HTML/CSS/JS built into the binary from
 * src/web/assets/) and the JSON API behind it under /api/, which requires an operator's bearer token
 * ([operator NAME] token). Every action (retry, discard, replay, reveal) is audited as "token:NAME".
 * Not here: the HTTP machinery (net/httpd), the store's queries (store/), the trace's shape (obs/trace). */
#ifndef SYNCHUB_WEB_H
#define SYNCHUB_WEB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/cfg.h"
#include "net/httpd.h"
#include "store/store.h"

typedef struct web web_t;

/* The dashboard over cfg (borrowed; its operators, web_threads, web_queue) and db (borrowed; a web thread opens a
 * connection for each request it answers). NULL on out of memory. web_free(NULL) is a no-op; call it after
 * httpd_free. */
web_t *web_new(const cfg_t *cfg, store_db_t *db);
void web_free(web_t *w);
/* Register GET / and /assets/ (the page, answered on the polling threads) and GET/POST /api/ (answered on
 * [server] web_threads threads of an httpd_pool that h owns and httpd_free stops) on h, before httpd_start.
 * 0 or -1. */
int web_routes(web_t *w, httpd_t *h);

/* The operator whose token an Authorization header value ("Bearer <token>") carries, or NULL. Every configured
 * token is compared (SHA-256 of both, then CRYPTO_memcmp), so the time taken does not depend on the token's
 * bytes or on which operator matched. Any thread. */
const cfg_operator_t *web_auth(const cfg_t *cfg, const char *authorization);

/* Mask customer data in a (Shopify) payload, in place: the values of fields named like personal data (email,
 * phone, first_name, last_name, address1, address2, zip, company, latitude, longitude, browser_ip, … and "name"
 * inside a customer or an address object) become "***" (an email keeps its first letter: "j***@***"), and every
 * other string passes through mask_pii (emails and phone numbers inside free text, such as a note). Returns the
 * number of values masked. The caller's thread owns v. */
size_t web_mask_payload(json_t *v);

/* The embedded page: the asset at path ("/index.html", "/app.js", …), or NULL. *len and *ctype are set. */
const unsigned char *web_asset(const char *path, size_t *len, const char **ctype);

#endif
