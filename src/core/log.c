/* log: logfmt/JSON line writer. Values are quoted when they contain spaces, quotes or '='; control characters are
 * escaped so a hostile value cannot forge a second log line. */
#include "core/log.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"

static log_level_t log_min_level = LOG_LVL_INFO;
static log_format_t log_format = LOG_FMT_LOGFMT;
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

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

static void put_escaped(buf_t *b, const char *v, bool json)
{
    bool quote = json || *v == '\0' || strpbrk(v, " \"=\\\t\r\n") != NULL;
    if (quote)
        buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\') {
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
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        if (v)
            put_field(&b, k, v, false);
    }
    va_end(ap);
    if (log_format == LOG_FMT_JSON)
        buf_append(&b, "}", 1);
    buf_append(&b, "\n", 1);
    if (b.data) {
        ssize_t w = write(STDERR_FILENO, b.data, b.len);
        (void)w; /* nowhere to report a failing stderr */
    }
    buf_release(&b);
}
