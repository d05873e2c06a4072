/* jscan: a validating, allocation-free JSON scanner for the ack path. It checks that a whole text is one JSON value
 * (RFC 8259 grammar, UTF-8, bounded nesting) that the workers' parser (jansson, default flags) reads too (no
 * \u0000, no unpaired surrogate, integers within int64, reals within a double), and returns where chosen top-level
 * object members are, without building a tree. Everything else (reading payloads in workers) uses jansson.
 * Not here: decoding string escapes or numbers beyond what a span gives. */
#ifndef SYNCHUB_JSCAN_H
#define SYNCHUB_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    JSCAN_ABSENT = 0, JSCAN_STRING, JSCAN_NUMBER, JSCAN_OBJECT, JSCAN_ARRAY, JSCAN_TRUE, JSCAN_FALSE, JSCAN_NULL
} jscan_type_t;

typedef struct jscan_span {
    jscan_type_t type;
    const char *p;      /* for strings: the raw bytes between the quotes (escapes not decoded) */
    size_t len;
    bool escaped;       /* a string span contains backslash escapes */
} jscan_span_t;

typedef struct jscan_error {
    size_t offset;
    int line, column;   /* 1-based */
    char message[96];
} jscan_error_t;

#define JSCAN_MAX_DEPTH 128
#define JSCAN_MAX_NUMBER 1024 /* characters in one number */

/* Validate text[0..len) as a JSON object and fill out[i] for each keys[i] present at its top level (the last one
 * wins if a key repeats). 0 when valid; -1 with err filled when not JSON or not an object. Thread-safe. */
int jscan_object(const char *text, size_t len, const char *const *keys, jscan_span_t *out, size_t nkeys,
                 jscan_error_t *err);

/* A positive integer id from a number span or a digit-string span (Shopify ids exceed 2^53, so never via double).
 * Writes the digits NUL-terminated into buf (at least 21 bytes). 0, or -1 if the span is not such an id. */
int jscan_span_id(const jscan_span_t *s, char *buf, size_t n);

/* Copy a string span without escapes into buf (NUL-terminated). 0, or -1 if absent, escaped or too long. */
int jscan_span_text(const jscan_span_t *s, char *buf, size_t n);

#endif
