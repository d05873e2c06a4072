/* buf: a length-tracked, growable byte buffer (git's strbuf lifecycle: init / release / detach). Used for request
 * bodies and any untrusted data, so nothing is ever copied into a fixed-size array. Not thread-safe; owned by
 * whoever embeds it. */
#ifndef SYNCHUB_BUF_H
#define SYNCHUB_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *data;   /* always NUL-terminated when non-NULL (the NUL is not counted in len) */
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

void buf_init(buf_t *b);
void buf_release(buf_t *b);                      /* frees the storage; b is empty and reusable afterwards */
char *buf_detach(buf_t *b, size_t *len);         /* caller frees the result; never NULL ("" when empty) */
int buf_reserve(buf_t *b, size_t extra);         /* 0, or -1 on allocation failure (b unchanged) */
int buf_append(buf_t *b, const void *data, size_t len);
int buf_puts(buf_t *b, const char *s);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Append s as a JSON string literal (quotes included). Non-ASCII bytes become '?': this is for short protocol
 * values (header fields, ids), not for text that may legitimately be non-ASCII. */
int buf_json_str(buf_t *b, const char *s);
void buf_reset(buf_t *b);                        /* len = 0, storage kept */
const char *buf_str(const buf_t *b);             /* never NULL */

#endif
