/* metrics: fixed-capacity series tables per family, filled lock-free, rendered as Prometheus text.
 * A series slot goes FREE → CLAIMING (one thread won the CAS and writes its label values) → READY (published with
 * release order; found by hash and label values, never moved or freed until metrics_free). Values are 64-bit
 * atomics: a double's bits (counters, gauges, a histogram's sum; added with a CAS loop) or integers (a histogram's
 * per-bucket counts). A scrape reads each histogram's buckets once and derives the cumulative counts and _count
 * from that one reading, so +Inf always equals _count even while observations land. Not here: the store, HTTP. */
#define _GNU_SOURCE
#include "obs/metrics.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LABEL_BYTES 192   /* a series' label values, '\0'-separated; longer combinations go to the overflow series */

enum { SLOT_FREE = 0, SLOT_CLAIMING = 1, SLOT_READY = 2 };

typedef struct series {
    atomic_int state;
    uint64_t hash;
    size_t len;                   /* bytes of labels used */
    char labels[LABEL_BYTES];
} series_t;

typedef struct family {
    const metrics_def_t *def;
    size_t nlabels, nvals, cap;   /* nvals: values per series; cap: slots before the overflow slot */
    series_t *series;             /* cap + 1: the last one is the overflow series */
    _Atomic uint64_t *vals;       /* (cap + 1) * nvals */
} family_t;

struct metrics {
    size_t n;
    family_t *f;
    pthread_mutex_t scrape_mu;
};

/* ---- the catalogue ------------------------------------------------------------------------------------------ */

/* Remote calls take milliseconds to a minute (a big sale.order.load); jobs up to several minutes (a stock poll of
 * a large catalogue). */
static const double remote_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double job_buckets[] = {0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
#define NB(a) (sizeof(a) / sizeof((a)[0]))

const metrics_def_t metrics_catalogue[METRIC_COUNT] = {
    [METRIC_BUILD_INFO] = {"synchub_build_info", "synchub's version (the value is always 1)", METRICS_GAUGE,
                           {"version"}, NULL, 0, 1},
    [METRIC_START_TIME] = {"synchub_process_start_time_seconds", "when this process started, in seconds since "
                           "the Unix epoch", METRICS_GAUGE, {NULL}, NULL, 0, 1},
    [METRIC_DELIVERIES] = {"synchub_webhook_deliveries_total", "inbound deliveries by outcome: stored, duplicate, "
                           "bad_signature, too_large, unknown_shop, bad_request, unavailable (503)", METRICS_COUNTER,
                           {"source", "outcome"}, NULL, 0, 16},
    [METRIC_QUEUE_JOBS] = {"synchub_queue_jobs", "jobs in the store by state (queued, running, retry, dead) and "
                           "kind, read at scrape time; cluster-wide on a shared store: every node reports the same "
                           "figure, do not sum across nodes", METRICS_GAUGE, {"state", "kind"}, NULL, 0, 128},
    [METRIC_QUEUE_OLDEST_AGE] = {"synchub_queue_oldest_job_age_seconds", "age (since it was stored) of the oldest "
                                 "job of each kind in state queued, retry or dead, read at scrape time; "
                                 "cluster-wide on a shared store (do not sum across nodes)",
                                 METRICS_GAUGE, {"state", "kind"}, NULL, 0, 128},
    [METRIC_QUEUE_LAG] = {"synchub_queue_lag_seconds", "how long the oldest job that is due and first in its "
                          "ordering key has been waiting for a worker (0 when none waits); cluster-wide on a shared "
                          "store (do not sum across nodes)", METRICS_GAUGE, {NULL},
                          NULL, 0, 1},
    [METRIC_STORE_UP] = {"synchub_store_up", "1 when this scrape could read the queue figures from the store",
                         METRICS_GAUGE, {NULL}, NULL, 0, 1},
    [METRIC_JOB_ATTEMPTS] = {"synchub_job_attempts_total", "job attempts this node finished, by kind, outcome "
                             "(done, retry, dead) and error class (none for done)", METRICS_COUNTER,
                             {"kind", "outcome", "class"}, NULL, 0, 256},
    [METRIC_JOB_LEASES_EXPIRED] = {"synchub_job_leases_expired_total", "attempts lost because their worker "
                                   "vanished (lease expired; the job was requeued or, out of attempts, dead)",
                                   METRICS_COUNTER, {NULL}, NULL, 0, 1},
    [METRIC_JOB_DURATION] = {"synchub_job_duration_seconds", "time a handler took for one attempt, by kind",
                             METRICS_HISTOGRAM, {"kind"}, job_buckets, NB(job_buckets), 64},
    [METRIC_REMOTE_DURATION] = {"synchub_remote_request_duration_seconds", "requests to Odoo (method = "
                                "model.method) and Shopify (method = GraphQL operation name), including failed "
                                "ones", METRICS_HISTOGRAM, {"system", "method"}, remote_buckets, NB(remote_buckets),
                                128},
    [METRIC_REMOTE_ERRORS] = {"synchub_remote_request_errors_total", "failed calls to Odoo and Shopify by error "
                              "class", METRICS_COUNTER, {"system", "method", "class"}, NULL, 0, 256},
    [METRIC_THROTTLE_WAITS] = {"synchub_shopify_throttle_waits_total", "pauses made for a shop's Admin API rate "
                               "limit", METRICS_COUNTER, {"shop"}, NULL, 0, 64},
    [METRIC_THROTTLE_WAIT_SECONDS] = {"synchub_shopify_throttle_wait_seconds_total", "time spent in those pauses",
                                      METRICS_COUNTER, {"shop"}, NULL, 0, 64},
    [METRIC_THROTTLED] = {"synchub_shopify_throttled_total", "Admin API answers that were THROTTLED or 429 "
                          "(nothing ran; the request was sent again)", METRICS_COUNTER, {"shop"}, NULL, 0, 64},
    [METRIC_RECONCILE_DRIFT] = {"synchub_reconcile_drift_total", "differences found between the systems: flow "
                                "stock = Shopify quantities changed outside synchub (a stale compare; set back to "
                                "Odoo's), orders = Shopify orders the reconciliation found missing or outdated in "
                                "Odoo", METRICS_COUNTER, {"shop", "flow"}, NULL, 0, 128},
    [METRIC_SCHEDULER_PAUSED] = {"synchub_scheduler_paused", "1 while the scheduler holds a bulk flow back "
                                 "because more jobs than [server] pause_bulk_above are queued or waiting to retry "
                                 "(back-pressure), else 0", METRICS_GAUGE, {"flow"}, NULL, 0, 8},
    [METRIC_SCHEDULER_SKIPPED] = {"synchub_scheduler_skipped_total", "scheduler ticks (about one a second, per "
                                  "shop) at which a due run of a bulk flow was held back by back-pressure",
                                  METRICS_COUNTER, {"flow"}, NULL, 0, 8},
    [METRIC_TARGET_PAUSED] = {"synchub_target_paused", "1 while the circuit breaker of a remote system (an Odoo "
                              "database, a Shopify shop) is open on this node: it did not answer, its jobs are "
                              "paused without spending attempts and it is probed, else 0", METRICS_GAUGE,
                              {"system", "target"}, NULL, 0, 64},
    [METRIC_TARGET_PAUSED_SINCE] = {"synchub_target_paused_since_seconds", "when the breaker of that target opened "
                                    "(seconds since the epoch), 0 while it is closed", METRICS_GAUGE,
                                    {"system", "target"}, NULL, 0, 64},
    [METRIC_TARGET_PAUSED_JOBS] = {"synchub_target_paused_jobs", "jobs this node holds paused on that target until "
                                   "a probe gets an answer", METRICS_GAUGE, {"system", "target"}, NULL, 0, 64},
    [METRIC_TARGET_PROBES] = {"synchub_target_probes_total", "probes of targets whose breaker is open, by result "
                              "(ok closes the breaker)", METRICS_COUNTER, {"system", "target", "result"}, NULL, 0,
                              128},
    [METRIC_SUBSCRIPTIONS_RECREATED] = {"synchub_webhook_subscriptions_recreated_total", "webhook subscriptions "
                                        "the scheduler found missing in a shop (Shopify removes one after 8 failed "
                                        "deliveries) and created again, by shop and topic", METRICS_COUNTER,
                                        {"shop", "topic"}, NULL, 0, 64},
    [METRIC_POOL_HALTED] = {"synchub_pool_halted", "1 once this node's worker pool halted because the store refused "
                            "to sync what it had committed (SQLite with a local queue): it starts no more jobs until "
                            "synchub is restarted", METRICS_GAUGE, {NULL}, NULL, 0, 1},
};

/* ---- registry ---------------------------------------------------------------------------------------------- */

static bool valid_def(const metrics_def_t *d)
{
    if (!d->name || !d->help || d->nbuckets > METRICS_MAX_BUCKETS || (d->type == METRICS_HISTOGRAM && !d->buckets))
        return false;
    for (size_t i = 1; i < d->nbuckets; i++)
        if (!(d->buckets[i] > d->buckets[i - 1]))
            return false;
    return true;
}

metrics_t *metrics_new_with(const metrics_def_t *defs, size_t n)
{
    metrics_t *m = calloc(1, sizeof(*m));
    if (!m || !(m->f = calloc(n ? n : 1, sizeof(*m->f)))) {
        free(m);
        return NULL;
    }
    m->n = n;
    pthread_mutex_init(&m->scrape_mu, NULL);
    for (size_t i = 0; i < n; i++) {
        family_t *f = &m->f[i];
        f->def = &defs[i];
        if (!valid_def(f->def)) {
            metrics_free(m);
            return NULL;
        }
        while (f->nlabels < METRICS_MAX_LABELS && f->def->labels[f->nlabels])
            f->nlabels++;
        f->cap = f->def->capacity ? f->def->capacity : 1;
        /* histogram: one count per finite bucket, one for +Inf, then the sum */
        f->nvals = f->def->type == METRICS_HISTOGRAM ? f->def->nbuckets + 2 : 1;
        f->series = calloc(f->cap + 1, sizeof(*f->series));
        f->vals = calloc((f->cap + 1) * f->nvals, sizeof(*f->vals));
        if (!f->series || !f->vals) {
            metrics_free(m);
            return NULL;
        }
        for (size_t s = 0; s <= f->cap; s++)
            atomic_init(&f->series[s].state, SLOT_FREE);
        for (size_t v = 0; v < (f->cap + 1) * f->nvals; v++)
            atomic_init(&f->vals[v], 0);
    }
    return m;
}

metrics_t *metrics_new(void)
{
    return metrics_new_with(metrics_catalogue, METRIC_COUNT);
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->f[i].series);
        free(m->f[i].vals);
    }
    free(m->f);
    pthread_mutex_destroy(&m->scrape_mu);
    free(m);
}

/* ---- finding a series -------------------------------------------------------------------------------------- */

/* The label values joined by '\0' into out (n bytes). The length, or 0 when they do not fit. */
static size_t join_labels(const family_t *f, const char *const *values, char *out, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < f->nlabels; i++) {
        const char *v = values && values[i] ? values[i] : "";
        size_t l = strlen(v);
        if (len + l + 1 > n)
            return 0;
        memcpy(out + len, v, l + 1);
        len += l + 1;
    }
    if (len == 0)
        out[len++] = '\0'; /* a family without labels: one series, "" */
    return len;
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Wait for a slot another thread is claiming: it only copies a few bytes before publishing. */
static int ready_state(series_t *s)
{
    int st;
    while ((st = atomic_load_explicit(&s->state, memory_order_acquire)) == SLOT_CLAIMING)
        sched_yield();
    return st;
}

/* Claim slot s for (hash, labels) if it is free. true when s now holds exactly these labels. */
static bool take_slot(series_t *s, uint64_t hash, const char *labels, size_t len)
{
    int expected = SLOT_FREE;
    if (atomic_compare_exchange_strong_explicit(&s->state, &expected, SLOT_CLAIMING, memory_order_acq_rel,
                                                memory_order_acquire)) {
        s->hash = hash;
        s->len = len;
        memcpy(s->labels, labels, len);
        atomic_store_explicit(&s->state, SLOT_READY, memory_order_release);
        return true;
    }
    return ready_state(s) == SLOT_READY && s->hash == hash && s->len == len && !memcmp(s->labels, labels, len);
}

static void overflow_labels(const family_t *f, char *out, size_t *len)
{
    const char *v[METRICS_MAX_LABELS] = {METRICS_OVERFLOW, METRICS_OVERFLOW, METRICS_OVERFLOW};
    *len = join_labels(f, v, out, LABEL_BYTES);
}

/* The values of the series for these label values (open addressing, linear probing); the overflow series' when
 * the family is full or the values are too long. NULL for a bad id. */
static _Atomic uint64_t *series_vals(metrics_t *m, int id, const char *const *values)
{
    if (!m || id < 0 || (size_t)id >= m->n)
        return NULL;
    family_t *f = &m->f[id];
    char labels[LABEL_BYTES];
    size_t len = join_labels(f, values, labels, sizeof(labels));
    if (len) {
        uint64_t hash = fnv1a(labels, len);
        for (size_t probe = 0; probe < f->cap; probe++) {
            size_t i = (size_t)((hash + probe) % f->cap);
            series_t *s = &f->series[i];
            int st = ready_state(s);
            if (st == SLOT_READY) {
                if (s->hash == hash && s->len == len && !memcmp(s->labels, labels, len))
                    return &f->vals[i * f->nvals];
                continue;
            }
            if (take_slot(s, hash, labels, len))
                return &f->vals[i * f->nvals];
            /* another thread took this free slot for other labels: keep probing */
        }
    }
    series_t *o = &f->series[f->cap];
    overflow_labels(f, labels, &len);
    take_slot(o, fnv1a(labels, len), labels, len);
    return &f->vals[f->cap * f->nvals];
}

/* ---- updates ----------------------------------------------------------------------------------------------- */

static double bits_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t double_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static void add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, double_bits(bits_double(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void metrics_add(metrics_t *m, int id, const char *const *values, double v)
{
    _Atomic uint64_t *a = series_vals(m, id, values);
    if (a && m->f[id].def->type != METRICS_HISTOGRAM)
        add_double(a, v);
}

void metrics_set(metrics_t *m, int id, const char *const *values, double v)
{
    _Atomic uint64_t *a = series_vals(m, id, values);
    if (a && m->f[id].def->type != METRICS_HISTOGRAM)
        atomic_store_explicit(a, double_bits(v), memory_order_relaxed);
}

void metrics_observe(metrics_t *m, int id, const char *const *values, double v)
{
    _Atomic uint64_t *a = series_vals(m, id, values);
    if (!a || m->f[id].def->type != METRICS_HISTOGRAM)
        return;
    const metrics_def_t *d = m->f[id].def;
    size_t b = 0;
    while (b < d->nbuckets && v > d->buckets[b])
        b++;
    atomic_fetch_add_explicit(&a[b], 1, memory_order_relaxed);
    add_double(&a[d->nbuckets + 1], v);
}

void metrics_reset(metrics_t *m, int id)
{
    if (!m || id < 0 || (size_t)id >= m->n || m->f[id].def->type != METRICS_GAUGE)
        return;
    family_t *f = &m->f[id];
    for (size_t i = 0; i < (f->cap + 1) * f->nvals; i++)
        atomic_store_explicit(&f->vals[i], double_bits(0.0), memory_order_relaxed);
}

double metrics_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- rendering --------------------------------------------------------------------------------------------- */

int metrics_escape(buf_t *out, const char *s, int is_label)
{
    int rc = 0;
    for (const char *p = s; *p && rc == 0; p++) {
        if (*p == '\\')
            rc = buf_puts(out, "\\\\");
        else if (*p == '\n')
            rc = buf_puts(out, "\\n");
        else if (*p == '"' && is_label)
            rc = buf_puts(out, "\\\"");
        else
            rc = buf_append(out, p, 1);
    }
    return rc;
}

/* A sample value: integers exactly, other values to 15 significant digits. */
static int put_value(buf_t *out, double v)
{
    if (isnan(v))
        return buf_puts(out, "NaN");
    if (isinf(v))
        return buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 1e15)
        return buf_printf(out, "%.0f", v);
    return buf_printf(out, "%.15g", v); /* 15 digits: what a double holds of a decimal, without 0.1's tail */
}

/* `name{l="v",…,extra}` (suffix appended to the name; extra_name/extra_value is a histogram's le). */
static int put_series(buf_t *out, const family_t *f, const series_t *s, const char *suffix, const char *extra_name,
                      const char *extra_value)
{
    int rc = buf_puts(out, f->def->name);
    if (rc == 0 && suffix)
        rc = buf_puts(out, suffix);
    if (rc == 0 && (f->nlabels || extra_name)) {
        rc = buf_puts(out, "{");
        const char *v = s->labels;
        for (size_t i = 0; i < f->nlabels && rc == 0; i++) {
            rc = buf_printf(out, "%s%s=\"", i ? "," : "", f->def->labels[i]);
            if (rc == 0)
                rc = metrics_escape(out, v, 1);
            if (rc == 0)
                rc = buf_puts(out, "\"");
            v += strlen(v) + 1;
        }
        if (rc == 0 && extra_name)
            rc = buf_printf(out, "%s%s=\"%s\"", f->nlabels ? "," : "", extra_name, extra_value);
        if (rc == 0)
            rc = buf_puts(out, "}");
    }
    return rc == 0 ? buf_puts(out, " ") : rc;
}

static int render_histogram(buf_t *out, const family_t *f, const series_t *s, _Atomic uint64_t *a)
{
    const metrics_def_t *d = f->def;
    uint64_t counts[METRICS_MAX_BUCKETS + 1];
    for (size_t b = 0; b <= d->nbuckets; b++)
        counts[b] = atomic_load_explicit(&a[b], memory_order_relaxed);
    double sum = bits_double(atomic_load_explicit(&a[d->nbuckets + 1], memory_order_relaxed));
    uint64_t cum = 0;
    int rc = 0;
    for (size_t b = 0; b <= d->nbuckets && rc == 0; b++) {
        char le[40];
        if (b < d->nbuckets)
            snprintf(le, sizeof(le), "%.15g", d->buckets[b]);
        else
            snprintf(le, sizeof(le), "+Inf");
        cum += counts[b];
        rc = put_series(out, f, s, "_bucket", "le", le);
        if (rc == 0)
            rc = buf_printf(out, "%llu\n", (unsigned long long)cum);
    }
    if (rc == 0)
        rc = put_series(out, f, s, "_sum", NULL, NULL);
    if (rc == 0)
        rc = put_value(out, sum);
    if (rc == 0)
        rc = buf_puts(out, "\n");
    if (rc == 0)
        rc = put_series(out, f, s, "_count", NULL, NULL);
    if (rc == 0)
        rc = buf_printf(out, "%llu\n", (unsigned long long)cum);
    return rc;
}

static int render_family(buf_t *out, const family_t *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    int rc = buf_printf(out, "# HELP %s ", f->def->name);
    if (rc == 0)
        rc = metrics_escape(out, f->def->help, 0);
    if (rc == 0)
        rc = buf_printf(out, "\n# TYPE %s %s\n", f->def->name, type_names[f->def->type]);
    for (size_t i = 0; i <= f->cap && rc == 0; i++) {
        series_t *s = &f->series[i];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_READY)
            continue; /* free, or being claimed right now: it shows in the next scrape */
        _Atomic uint64_t *a = &f->vals[i * f->nvals];
        if (f->def->type == METRICS_HISTOGRAM) {
            rc = render_histogram(out, f, s, a);
            continue;
        }
        rc = put_series(out, f, s, NULL, NULL, NULL);
        if (rc == 0)
            rc = put_value(out, bits_double(atomic_load_explicit(a, memory_order_relaxed)));
        if (rc == 0)
            rc = buf_puts(out, "\n");
    }
    return rc;
}

int metrics_render(metrics_t *m, metrics_collect_fn collect, void *ud, buf_t *out)
{
    pthread_mutex_lock(&m->scrape_mu);
    if (collect)
        collect(m, ud);
    int rc = 0;
    for (size_t i = 0; i < m->n && rc == 0; i++)
        rc = render_family(out, &m->f[i]);
    pthread_mutex_unlock(&m->scrape_mu);
    return rc;
}
