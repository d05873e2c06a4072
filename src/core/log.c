/* log: logfmt/JSON line writer. Values are quoted when they contain spaces, quotes or '='; control characters are
 * escaped so a hostile value cannot forge a second log line, and bytes that are not UTF-8 become U+FFFD so a JSON
 * line stays valid JSON. Every value goes through mask_pii. The job context is thread-local (see log_ctx_set). */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/mask.h"

static log_level_t log_min_level = LOG_LVL_INFO;
static log_format_t log_format = LOG_FMT_LOGFMT;
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

/* Thread-local, not shared: each worker thread runs one job at a time and only that thread reads or writes its own
 * context, so there is no lock and no cross-thread state. The alternative — threading a context pointer through
 * every odoo/shopify/flows/httpc function that may log — would put log plumbing into every signature. */
typedef struct log_ctx {
    bool set;
    char job[40];
    char kind[64];
    char attempt[16];
    char correlation[160];
} log_ctx_t;
static _Thread_local log_ctx_t log_ctx;

static const char *const ctx_keys[] = {"job", "kind", "attempt", "correlation"};

void log_ctx_set(const char *job, const char *kind, int attempt, const char *correlation)
{
    log_ctx_t *c = &log_ctx;
    snprintf(c->job, sizeof(c->job), "%s", job ? job : "");
    snprintf(c->kind, sizeof(c->kind), "%s", kind ? kind : "");
    if (attempt > 0)
        snprintf(c->attempt, sizeof(c->attempt), "%d", attempt);
    else
        c->attempt[0] = '\0';
    snprintf(c->correlation, sizeof(c->correlation), "%s", correlation ? correlation : "");
    c->set = true;
}

void log_ctx_clear(void)
{
    memset(&log_ctx, 0, sizeof(log_ctx));
}

void log_init(log_level_t level, log_format_t format)
{
    log_min_level = level;
    log_format = format;
}

bool log_enabled(log_level_t level)
{
    return level >= log_min_level && level < LOG_LVL_OFF;
}

int log_level_parse(const char *s, log_level_t *out)
{
    for (int i = 0; i <= LOG_LVL_OFF; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

int log_format_parse(const char *s, log_format_t *out)
{
    if (strcasecmp(s, "logfmt") == 0)
        *out = LOG_FMT_LOGFMT;
    else if (strcasecmp(s, "json") == 0)
        *out = LOG_FMT_JSON;
    else
        return -1;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when p does not start one. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
    if (p[0] >= 0xf5)
        n = 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) || (n == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
        (n == 4 && p[0] == 0xf0 && p[1] < 0x90) || (n == 4 && p[0] == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate or beyond U+10FFFF */
    return n;
}

static void put_escaped(buf_t *b, const char *v, bool json)
{
    bool quote = json || *v == '\0' || strpbrk(v, " \"=\\\t\r\n") != NULL;
    if (quote)
        buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p >= 0x80) {
            size_t n = utf8_len(p);
            if (n == 0) {
                buf_puts(b, "\xef\xbf\xbd");
            } else {
                buf_append(b, p, n);
                p += n - 1;
            }
        } else if (*p == '"' || *p == '\\') {
            buf_append(b, "\\", 1);
            buf_append(b, p, 1);
        } else if (*p == '\n') {
            buf_puts(b, "\\n");
        } else if (*p < 0x20 || *p == 0x7f) {
            buf_printf(b, "\\u%04x", *p);
        } else {
            buf_append(b, p, 1);
        }
    }
    if (quote)
        buf_append(b, "\"", 1);
}

static void put_field(buf_t *b, const char *k, const char *v, bool first)
{
    bool json = log_format == LOG_FMT_JSON;
    char masked[2048];
    /* a value too long for the buffer is logged cut rather than unmasked */
    if (mask_pii(v, masked, sizeof(masked)) > 0 || strlen(v) >= sizeof(masked))
        v = masked;
    if (json) {
        if (!first)
            buf_append(b, ",", 1);
        put_escaped(b, k, true);
        buf_append(b, ":", 1);
    } else {
        if (!first)
            buf_append(b, " ", 1);
        buf_puts(b, k);
        buf_append(b, "=", 1);
    }
    put_escaped(b, v, json);
}

void log_kv(log_level_t level, const char *module, const char *msg, ...)
{
    if (!log_enabled(level))
        return;
    char ts[40];
    clock_format_iso8601(clock_now_ms(), ts, sizeof(ts));
    buf_t b = BUF_INIT;
    if (log_format == LOG_FMT_JSON)
        buf_append(&b, "{", 1);
    put_field(&b, "ts", ts, true);
    put_field(&b, "level", level_names[level], false);
    put_field(&b, "module", module, false);
    put_field(&b, "msg", msg, false);
    bool given[4] = {false, false, false, false};
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        for (size_t i = 0; i < 4; i++)
            if (!strcmp(k, ctx_keys[i]))
                given[i] = true;
        if (v)
            put_field(&b, k, v, false);
    }
    va_end(ap);
    if (log_ctx.set) {
        const char *vals[4] = {log_ctx.job, log_ctx.kind, log_ctx.attempt, log_ctx.correlation};
        for (size_t i = 0; i < 4; i++)
            if (!given[i] && vals[i][0])
                put_field(&b, ctx_keys[i], vals[i], false);
    }
    if (log_format == LOG_FMT_JSON)
        buf_append(&b, "}", 1);
    buf_append(&b, "\n", 1);
    if (b.data) {
        ssize_t w = write(STDERR_FILENO, b.data, b.len);
        (void)w; /* nowhere to report a failing stderr */
    }
    buf_release(&b);
}
