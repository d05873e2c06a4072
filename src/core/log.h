/* log: one structured line per event (logfmt or JSON) on stderr, written with a single write(2) so lines from many
 * threads never interleave. Level and format are fixed at start-up (log_init); nothing else is global.
 * Callers pass only non-secret values: the log never sees secrets or customer data by construction. */
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

#endif
