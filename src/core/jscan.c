/* jscan: recursive-descent validator over a byte range. Each function takes the cursor and returns the position
 * after the value, or NULL on error (with the error recorded once, at the first fault). */
#include "core/jscan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct scan {
    const char *start, *end;
    jscan_error_t *err;
    bool failed;
} scan_t;

static const char *fail(scan_t *s, const char *at, const char *msg)
{
    if (!s->failed && s->err) {
        s->failed = true;
        s->err->offset = (size_t)(at - s->start);
        int line = 1, col = 1;
        for (const char *p = s->start; p < at && p < s->end; p++) {
            if (*p == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        s->err->line = line;
        s->err->column = col;
        snprintf(s->err->message, sizeof(s->err->message), "%s", msg);
    }
    s->failed = true;
    return NULL;
}

static const char *ws(const scan_t *s, const char *p)
{
    while (p < s->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The code unit of the \uXXXX escape at q (q[0] == '\\'), or -1 if it is not one. */
static int uescape(const scan_t *s, const char *q)
{
    if (s->end - q < 6 || q[1] != 'u')
        return -1;
    int v = 0;
    for (int i = 2; i < 6; i++) {
        int d = hexval(q[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* One UTF-8 sequence starting at p (p[0] >= 0x80); returns its length or 0 if malformed (overlong, surrogate,
 * above U+10FFFF, truncated). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    unsigned cp = c & (0x3f >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* p at the opening quote. */
/* Bytes a string holds as they are: 0x20 to 0x7f but the quote (0x22) and the backslash (0x5c). string() skips
 * runs of them with one table load per byte; every other byte takes the checks below. The ack path scans every
 * webhook body, where this was the largest item of the scan (issue 18). */
static const unsigned char plain_byte[256] = {[0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1};

static const char *string(scan_t *s, const char *p, jscan_span_t *span)
{
    const char *q = ++p;
    bool escaped = false;
    while (q < s->end) {
        while (plain_byte[(unsigned char)*q] && ++q < s->end)
            ;
        if (q >= s->end)
            break;
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            if (span) {
                span->type = JSCAN_STRING;
                span->p = p;
                span->len = (size_t)(q - p);
                span->escaped = escaped;
            }
            return q + 1;
        }
        if (c == '\\') {
            escaped = true;
            if (q + 1 >= s->end)
                break;
            char e = q[1];
            if (e == 'u') {
                /* What jansson (the worker's parser) refuses is refused here too, so nothing is acknowledged that
                 * no worker can read: \u0000 and unpaired surrogates. */
                int cp = uescape(s, q);
                if (cp < 0)
                    return fail(s, q, "invalid \\u escape");
                if (cp == 0)
                    return fail(s, q, "\\u0000 (a NUL character) in string is not accepted");
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return fail(s, q, "unpaired UTF-16 surrogate in \\u escape");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    int lo = s->end - q >= 12 && q[6] == '\\' && q[7] == 'u' ? uescape(s, q + 6) : -1;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return fail(s, q, "unpaired UTF-16 surrogate in \\u escape");
                    q += 6;
                }
                q += 6;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                q += 2;
            } else {
                return fail(s, q, "invalid escape in string");
            }
        } else if (c < 0x20) {
            return fail(s, q, "control character in string");
        } else if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)q, (const unsigned char *)s->end);
            if (!n)
                return fail(s, q, "invalid UTF-8 in string");
            q += n;
        } else {
            q++;
        }
    }
    return fail(s, q, "unterminated string");
}

/* A number's text is valid JSON grammar; refuse what jansson (the worker's parser) refuses: an integer beyond
 * int64 and a real that overflows a double. Numbers longer than JSCAN_MAX_NUMBER are refused outright (jansson
 * reads them, but no payload synchub handles has one, and the check stays allocation-free). */
static const char *number_range(scan_t *s, const char *p, const char *q, bool integer)
{
    size_t len = (size_t)(q - p);
    if (len > JSCAN_MAX_NUMBER)
        return fail(s, p, "number too long");
    if (integer) {
        bool neg = *p == '-';
        size_t digits = len - (neg ? 1 : 0);
        const char *limit = neg ? "9223372036854775808" : "9223372036854775807";
        if (digits > 19 || (digits == 19 && memcmp(p + (neg ? 1 : 0), limit, 19) > 0))
            return fail(s, p, "integer out of range (beyond 64 bits)");
        return q;
    }
    char text[JSCAN_MAX_NUMBER + 1];
    memcpy(text, p, len);
    text[len] = '\0';
    errno = 0;
    double v = strtod(text, NULL);
    if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL))
        return fail(s, p, "number out of range (overflows a double)");
    return q;
}

static const char *number(scan_t *s, const char *p)
{
    const char *q = p;
    bool integer = true;
    if (q < s->end && *q == '-')
        q++;
    if (q >= s->end)
        return fail(s, q, "invalid number");
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (q < s->end && *q >= '0' && *q <= '9')
            q++;
    } else {
        return fail(s, q, "invalid number");
    }
    if (q < s->end && *q == '.') {
        integer = false;
        q++;
        if (q >= s->end || *q < '0' || *q > '9')
            return fail(s, q, "invalid number: digit expected after '.'");
        while (q < s->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < s->end && (*q == 'e' || *q == 'E')) {
        integer = false;
        q++;
        if (q < s->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= s->end || *q < '0' || *q > '9')
            return fail(s, q, "invalid number: digit expected in exponent");
        while (q < s->end && *q >= '0' && *q <= '9')
            q++;
    }
    return number_range(s, p, q, integer);
}

static const char *value(scan_t *s, const char *p, int depth, jscan_span_t *span, const char *const *keys,
                         jscan_span_t *out, size_t nkeys);

/* After a member or element: a ',' (*closed = false, next item follows) or the closing bracket (*closed = true). */
static const char *after_item(scan_t *s, const char *p, char close, const char *msg, bool *closed)
{
    p = ws(s, p);
    if (p < s->end && *p == ',') {
        *closed = false;
        return ws(s, p + 1);
    }
    if (p < s->end && *p == close) {
        *closed = true;
        return p + 1;
    }
    return fail(s, p, msg);
}

/* p at '{'. Only the top-level object (keys != NULL) records members. */
static const char *object(scan_t *s, const char *p, int depth, const char *const *keys, jscan_span_t *out,
                          size_t nkeys)
{
    p = ws(s, p + 1);
    if (p < s->end && *p == '}')
        return p + 1;
    for (;;) {
        if (p >= s->end || *p != '"')
            return fail(s, p, "object member name (a string) expected");
        jscan_span_t name;
        p = string(s, p, &name);
        if (!p)
            return NULL;
        p = ws(s, p);
        if (p >= s->end || *p != ':')
            return fail(s, p, "':' expected after member name");
        p = ws(s, p + 1);
        jscan_span_t *slot = NULL;
        for (size_t i = 0; keys && i < nkeys; i++) {
            if (!name.escaped && strlen(keys[i]) == name.len && memcmp(keys[i], name.p, name.len) == 0) {
                slot = &out[i];
                break;
            }
        }
        bool closed;
        p = value(s, p, depth + 1, slot, NULL, NULL, 0);
        if (!p || !(p = after_item(s, p, '}', "',' or '}' expected in object", &closed)) || closed)
            return p;
    }
}

static const char *array(scan_t *s, const char *p, int depth)
{
    p = ws(s, p + 1);
    if (p < s->end && *p == ']')
        return p + 1;
    for (;;) {
        bool closed;
        p = value(s, p, depth + 1, NULL, NULL, NULL, 0);
        if (!p || !(p = after_item(s, p, ']', "',' or ']' expected in array", &closed)) || closed)
            return p;
    }
}

static const char *literal(scan_t *s, const char *p, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - p) < n || memcmp(p, word, n) != 0)
        return fail(s, p, "unexpected character");
    return p + n;
}

static const char *value(scan_t *s, const char *p, int depth, jscan_span_t *span, const char *const *keys,
                         jscan_span_t *out, size_t nkeys)
{
    if (depth > JSCAN_MAX_DEPTH)
        return fail(s, p, "nesting too deep");
    if (p >= s->end)
        return fail(s, p, "value expected");
    const char *start = p, *q;
    jscan_type_t t;
    switch (*p) {
    case '{':
        q = object(s, p, depth, keys, out, nkeys);
        t = JSCAN_OBJECT;
        break;
    case '[':
        q = array(s, p, depth);
        t = JSCAN_ARRAY;
        break;
    case '"':
        return string(s, p, span);
    case 't':
        q = literal(s, p, "true");
        t = JSCAN_TRUE;
        break;
    case 'f':
        q = literal(s, p, "false");
        t = JSCAN_FALSE;
        break;
    case 'n':
        q = literal(s, p, "null");
        t = JSCAN_NULL;
        break;
    default:
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            q = number(s, p);
            t = JSCAN_NUMBER;
        } else {
            return fail(s, p, "unexpected character");
        }
    }
    if (q && span) {
        span->type = t;
        span->p = start;
        span->len = (size_t)(q - start);
        span->escaped = false;
    }
    return q;
}

int jscan_object(const char *text, size_t len, const char *const *keys, jscan_span_t *out, size_t nkeys,
                 jscan_error_t *err)
{
    scan_t s = {text, text + len, err, false};
    for (size_t i = 0; i < nkeys; i++)
        memset(&out[i], 0, sizeof(out[i]));
    const char *p = ws(&s, text);
    if (p >= s.end || *p != '{') {
        fail(&s, p, p >= s.end ? "empty body" : "a JSON object was expected");
        return -1;
    }
    p = value(&s, p, 1, NULL, keys, out, nkeys);
    if (!p)
        return -1;
    p = ws(&s, p);
    if (p != s.end) {
        fail(&s, p, "text after the end of the JSON value");
        return -1;
    }
    return 0;
}

int jscan_span_id(const jscan_span_t *s, char *buf, size_t n)
{
    if ((s->type != JSCAN_NUMBER && s->type != JSCAN_STRING) || s->len == 0 || s->len > 19 || s->len >= n)
        return -1;
    if (s->p[0] == '0')
        return -1; /* ids are positive and carry no leading zero */
    for (size_t i = 0; i < s->len; i++)
        if (s->p[i] < '0' || s->p[i] > '9')
            return -1;
    if (s->len == 19 && memcmp(s->p, "9223372036854775807", 19) > 0)
        return -1; /* beyond int64 */
    memcpy(buf, s->p, s->len);
    buf[s->len] = '\0';
    return 0;
}

int jscan_span_text(const jscan_span_t *s, char *buf, size_t n)
{
    if (s->type != JSCAN_STRING || s->escaped || s->len >= n)
        return -1;
    memcpy(buf, s->p, s->len);
    buf[s->len] = '\0';
    return 0;
}
