/* metrics: the registry behind GET /metrics — counters, gauges and histograms with small label sets, updated
 * lock-free (C11 atomics) from any thread, rendered in the Prometheus text format (version 0.0.4).
 * One registry per process, made in cmd_serve and handed to what it measures; every update function takes a NULL
 * registry as "not measured" (CLI commands, unit tests of other modules). Not here: what the numbers mean (the
 * catalogue below names them; docs/OPERATIONS.md "Metrics" says what to alert on) or reading the store. */
#ifndef SYNCHUB_METRICS_H
#define SYNCHUB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct metrics metrics_t;

typedef enum { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM } metrics_type_t;

#define METRICS_MAX_LABELS 3
#define METRICS_MAX_BUCKETS 16
/* The label values a series beyond its family's capacity is counted under (every label of the family). */
#define METRICS_OVERFLOW "_overflow"

/* One family: a name (with its unit suffix), help text, type, up to METRICS_MAX_LABELS label names, the upper
 * bounds of a histogram's finite buckets (ascending; +Inf is implied) and how many label combinations it keeps
 * before further ones go to the overflow series. */
typedef struct metrics_def {
    const char *name;
    const char *help;
    metrics_type_t type;
    const char *labels[METRICS_MAX_LABELS];   /* NULL-terminated when fewer */
    const double *buckets;
    size_t nbuckets;
    size_t capacity;                          /* 0 = 1 (a family without labels) */
} metrics_def_t;

/* synchub's families: the ids index metrics_catalogue. Label values, in the order listed. */
typedef enum {
    METRIC_BUILD_INFO,           /* gauge {version} = 1 */
    METRIC_START_TIME,           /* gauge, seconds since the epoch */
    METRIC_DELIVERIES,           /* counter {source, outcome} */
    METRIC_QUEUE_JOBS,           /* gauge {state, kind}, read from the store at scrape time */
    METRIC_QUEUE_OLDEST_AGE,     /* gauge {state, kind}: age of the oldest queued, retrying or dead job */
    METRIC_QUEUE_LAG,            /* gauge: how long the oldest due job has waited for a worker */
    METRIC_STORE_UP,             /* gauge: 1 when the scrape could read the store */
    METRIC_JOB_ATTEMPTS,         /* counter {kind, outcome, class} */
    METRIC_JOB_LEASES_EXPIRED,   /* counter: attempts lost with their worker */
    METRIC_JOB_DURATION,         /* histogram {kind} */
    METRIC_REMOTE_DURATION,      /* histogram {system, method} */
    METRIC_REMOTE_ERRORS,        /* counter {system, method, class} */
    METRIC_THROTTLE_WAITS,       /* counter {shop} */
    METRIC_THROTTLE_WAIT_SECONDS,/* counter {shop} */
    METRIC_THROTTLED,            /* counter {shop}: THROTTLED / 429 answers */
    METRIC_RECONCILE_DRIFT,      /* counter {shop, flow} */
    METRIC_SCHEDULER_PAUSED,     /* gauge {flow}: 1 while back-pressure holds that scheduled bulk flow back */
    METRIC_SCHEDULER_SKIPPED,    /* counter {flow}: scheduler ticks at which a due run of it was held back */
    METRIC_TARGET_PAUSED,        /* gauge {system, target}: 1 while that system's breaker is open (jobs paused) */
    METRIC_TARGET_PAUSED_SINCE,  /* gauge {system, target}: when it opened, seconds since the epoch; 0 closed */
    METRIC_TARGET_PAUSED_JOBS,   /* gauge {system, target}: jobs this node holds paused on it */
    METRIC_TARGET_PROBES,        /* counter {system, target, result}: probes of an open breaker's target */
    METRIC_SUBSCRIPTIONS_RECREATED, /* counter {shop, topic}: webhook subscriptions found missing and re-created */
    METRIC_POOL_HALTED,          /* gauge: 1 once the store refused to sync what the worker pool committed */
    METRIC_COUNT
} metrics_id_t;

extern const metrics_def_t metrics_catalogue[METRIC_COUNT];

/* A registry of the catalogue (metrics_new) or of any table of definitions (tests); the ids are indexes into the
 * table, which must outlive the registry. NULL on allocation failure or an invalid definition. */
metrics_t *metrics_new(void);
metrics_t *metrics_new_with(const metrics_def_t *defs, size_t n);
void metrics_free(metrics_t *m);   /* after every thread stopped using it; NULL is a no-op */

/* Updates, from any thread, without locks. values has one entry per label of the family (NULL is read as "");
 * a combination not seen before takes a free slot, or the overflow series when the family is full. */
void metrics_add(metrics_t *m, int id, const char *const *values, double v);       /* counter (or gauge) += v */
void metrics_set(metrics_t *m, int id, const char *const *values, double v);       /* counter or gauge = v */
void metrics_observe(metrics_t *m, int id, const char *const *values, double v);   /* histogram */
/* Set every series of a gauge family to 0 (before the scrape-time values are set again). */
void metrics_reset(metrics_t *m, int id);

/* Render every family as Prometheus text into out. collect (may be NULL) runs first, under the registry's scrape
 * lock, to set the scrape-time gauges; concurrent scrapes are serialised, updates are not blocked. 0 or -1 (out
 * of memory). */
typedef void (*metrics_collect_fn)(metrics_t *m, void *ud);
int metrics_render(metrics_t *m, metrics_collect_fn collect, void *ud, buf_t *out);

/* Append a label value or HELP text escaped per the text format (backslash, double quote in labels, newline). */
int metrics_escape(buf_t *out, const char *s, int is_label);

/* A monotonic clock in seconds, for durations. */
double metrics_mono_s(void);

#endif
