/* log: one structured line per event (logfmt or JSON) on stderr, written with a single write(2) so lines from many
 * threads never interleave. Level and format are fixed at start-up (log_init); a worker's job context (job, kind,
 * attempt, correlation) is per thread and added to every line that thread writes while it runs a job.
 * Callers pass only non-secret values; values are also passed through mask_pii (emails, phone numbers), so customer
 * data quoted by a remote system's error text does not reach the log either. */
#ifndef SYNCHUB_LOG_H
#define SYNCHUB_LOG_H

#include <stdbool.h>

typedef enum { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR, LOG_LVL_OFF } log_level_t;
typedef enum { LOG_FMT_LOGFMT = 0, LOG_FMT_JSON } log_format_t;

/* Start-up only (before threads start). Default: info, logfmt. */
void log_init(log_level_t level, log_format_t format);
bool log_enabled(log_level_t level);
int log_level_parse(const char *s, log_level_t *out);
int log_format_parse(const char *s, log_format_t *out);

/* Emit `ts=… level=… module=… msg=… k=v …`. The variadic part is key/value string pairs ending with NULL;
 * a NULL value skips its key. Safe from any thread. */
void log_kv(log_level_t level, const char *module, const char *msg, ...) __attribute__((sentinel));

/* The calling thread's job context: from log_ctx_set until log_ctx_clear, every log_kv line of this thread carries
 * job, kind, attempt and correlation (a key the call passes itself wins). Values are copied (long ones truncated);
 * NULL leaves a field out. Only the thread itself sees its context: the worker pool sets it around a handler run,
 * so lines from odoo/, shopify/, flows/ and httpc need not pass these fields along. */
void log_ctx_set(const char *job, const char *kind, int attempt, const char *correlation);
void log_ctx_clear(void);

#endif
