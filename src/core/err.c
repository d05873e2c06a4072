/* err: filling and naming the project's error type. No I/O. Messages and hints pass through mask_pii: they often
 * quote a remote system's error text (Odoo's ValidationError repeats the value it rejected), and they end up in
 * the store, the log, the CLI and the dashboard, where customer data must not appear. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/mask.h"

static const char *const class_names[] = {"", "transient", "configuration", "data", "internal"};

/* Mask a formatted field in place (through a copy: mask_pii needs separate input and output). */
static void mask_field(char *field, size_t n)
{
    char tmp[sizeof(((err_t *)0)->message)];
    snprintf(tmp, sizeof(tmp), "%s", field);
    mask_pii(tmp, field, n);
}

void err_clear(err_t *e)
{
    if (e)
        memset(e, 0, sizeof(*e));
}

int err_set(err_t *e, err_class_t cls, const char *code, const char *fmt, ...)
{
    if (!e)
        return -1;
    err_clear(e);
    e->cls = cls;
    e->retry_safe = (cls == ERR_TRANSIENT || cls == ERR_CONFIGURATION);
    snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    mask_field(e->message, sizeof(e->message));
    return -1;
}

void err_record(err_t *e, const char *fmt, ...)
{
    if (!e)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->record, sizeof(e->record), fmt, ap);
    va_end(ap);
}

void err_hint(err_t *e, const char *fmt, ...)
{
    if (!e)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->hint, sizeof(e->hint), fmt, ap);
    va_end(ap);
    mask_field(e->hint, sizeof(e->hint));
}

const char *err_class_name(err_class_t cls)
{
    if ((unsigned)cls >= sizeof(class_names) / sizeof(class_names[0]))
        return "internal";
    return class_names[cls];
}

int err_class_parse(const char *name, err_class_t *out)
{
    for (unsigned i = 1; i < sizeof(class_names) / sizeof(class_names[0]); i++) {
        if (strcmp(name, class_names[i]) == 0) {
            *out = (err_class_t)i;
            return 0;
        }
    }
    return -1;
}

int err_full(err_t *e, err_class_t cls, const char *code, const char *record, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vfull(e, cls, code, record, hint, fmt, ap);
    va_end(ap);
    return -1;
}

int err_vfull(err_t *e, err_class_t cls, const char *code, const char *record, const char *hint, const char *fmt,
              va_list ap)
{
    char msg[sizeof(e->message)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    err_set(e, cls, code, "%s", msg);
    if (record)
        err_record(e, "%s", record);
    if (hint)
        err_hint(e, "%s", hint);
    return -1;
}

int err_wrap(err_t *e, const char *outer)
{
    char inner[sizeof(e->record)];
    snprintf(inner, sizeof(inner), "%s", e->record);
    err_record(e, "%s%s%s", outer, inner[0] ? " → " : "", inner);
    return -1;
}
