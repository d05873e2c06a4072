/* err: the one error type carried up through every module (class + code + message + record + hint + retry-safe).
 * A function that fails fills an err_t and returns -1 (or NULL); the caller that decides what to do (retry, answer
 * 4xx/5xx, dead-letter) logs it once. This file formats errors; it performs no I/O and no logging. */
#ifndef SYNCHUB_ERR_H
#define SYNCHUB_ERR_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum {
    ERR_NONE = 0,
    ERR_TRANSIENT,      /* temporary: the same work will likely succeed later (network, busy store, 5xx) */
    ERR_CONFIGURATION,  /* needs an operator fix (mapping, permission, missing setting); retry after the fix */
    ERR_DATA,           /* the record itself is wrong or conflicts; needs a data fix or an explicit decision */
    ERR_INTERNAL        /* a bug or resource exhaustion inside synchub */
} err_class_t;

typedef struct err {
    err_class_t cls;
    bool retry_safe;      /* is running the same job again safe once the cause is fixed? */
    char code[64];        /* stable, machine-readable: "store.busy", "handler.missing", "odoo.access_error" */
    char message[768];    /* what went wrong, in a sentence; never secrets, never customer data */
    char record[256];     /* which record: "shopify order #1042 (6150327861270)", "job 3f2a…" */
    char hint[512];       /* what to do about it */
    char target[128];     /* set only when the failure is a remote system's outage (refused, timed out, reset,
                           * 502/503/504), naming it: "odoo:<database>@<host>", "shopify:<shop>"; else "". The
                           * queue's circuit breaker (queue/queue_breaker.h) pauses that system's jobs on it. */
} err_t;

/* Reset to "no error". */
void err_clear(err_t *e);

/* Fill class, code and message (printf-style); record and hint are cleared, retry_safe defaults to true for
 * transient/configuration and false otherwise. Always returns -1 so callers can `return err_set(...)`.
 * e may be NULL (the error is then dropped). */
int err_set(err_t *e, err_class_t cls, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void err_record(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_hint(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* err_set, then record and hint (each may be NULL) in one call. Returns -1. */
int err_full(err_t *e, err_class_t cls, const char *code, const char *record, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
int err_vfull(err_t *e, err_class_t cls, const char *code, const char *record, const char *hint, const char *fmt,
              va_list ap) __attribute__((format(printf, 6, 0)));
/* Put the business record in front of the record an inner layer wrote ("odoo sale.order.load" becomes
 * "shopify order #1042 (…) → odoo sale.order.load"). Returns -1. */
int err_wrap(err_t *e, const char *outer);

const char *err_class_name(err_class_t cls);             /* "transient", "configuration", ... ; "" for NONE */
int err_class_parse(const char *name, err_class_t *out); /* 0, or -1 for an unknown name */

#endif
