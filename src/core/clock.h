/* clock: wall and monotonic time in milliseconds, ISO 8601 parsing/formatting, and the duration and size syntax of
 * the config file ("500ms", "4h", "5MiB"). Pure functions apart from reading the clocks. */
#ifndef SYNCHUB_CLOCK_H
#define SYNCHUB_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t clock_now_ms(void);        /* wall clock, ms since the Unix epoch */
int64_t clock_mono_ms(void);       /* monotonic, for deadlines and intervals */

struct timespec;
/* The CLOCK_REALTIME instant ms from now, for pthread_cond_timedwait and pthread_timedjoin_np. */
void clock_deadline(int64_t ms_from_now, struct timespec *out);

/* Parse "2026-11-21T14:03:13-05:00", "...Z", "...+0100", with optional fractional seconds, into ms since the
 * epoch (UTC). Returns 0, or -1 when the text is not such a timestamp. */
int clock_parse_iso8601(const char *s, int64_t *ms_out);

/* Format ms since the epoch as "2026-11-21T19:03:13.000Z" into out (at least 32 bytes). Returns out. */
char *clock_format_iso8601(int64_t ms, char *out, size_t outlen);

/* "250ms", "30s", "5m", "4h", "7d" or a bare number of seconds → ms. 0, or -1 if malformed/negative/overflow. */
int clock_parse_duration_ms(const char *s, int64_t *ms_out);

/* "5242880", "64KiB", "5MiB", "1GiB" (also KB/MB/K/M as binary units) → bytes. 0 or -1. */
int clock_parse_size(const char *s, int64_t *bytes_out);

#endif
