/* Unit tests for src/obs/metrics.c and src/store/store_*_metrics.c: counters and gauges by label, histogram buckets
 * (cumulative, +Inf = _count) and sums, label and HELP escaping, the whole exposition parsed back by a strict
 * reader, the overflow series of a full family, exact counts under concurrent updates, the catalogue, and the
 * store's queue figures (depth by state and kind, oldest job, lag). */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "obs/metrics.h"
#include "queue/queue.h"
#include "store/store.h"

#include "store_fixture.h"

/* ---- a strict reader of the text format ------------------------------------------------------------------- */

#define MAX_SAMPLES 512

typedef struct sample {
    char name[128];
    char labels[512];   /* as written, escapes kept, le included */
    double value;
} sample_t;

typedef struct exposition {
    sample_t s[MAX_SAMPLES];
    size_t n;
} exposition_t;

/* Parse a label set "{a=\"x\",b=\"y\"}" starting at p; returns the character after '}', NULL when malformed. */
static const char *parse_labels(const char *p, char *out, size_t n)
{
    const char *start = p;
    if (*p != '{')
        return NULL;
    p++;
    while (*p != '}') {
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return NULL;
        while (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
            p++;
        if (*p++ != '=' || *p++ != '"')
            return NULL;
        for (; *p != '"'; p++) {
            if (*p == '\0' || *p == '\n')
                return NULL;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return NULL;
            }
        }
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return NULL;
    }
    p++;
    snprintf(out, n, "%.*s", (int)(p - start), start);
    return p;
}

/* Every line either "# HELP name text", "# TYPE name type" (HELP then TYPE before the family's samples) or
 * "name[{labels}] value". Fails the test on anything else. */
static void parse_exposition(const char *text, exposition_t *e)
{
    char family[128] = "", type[32] = "";
    e->n = 0;
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        assert_non_null(end); /* every line ends with a newline, the last one too */
        char buf[1024];
        snprintf(buf, sizeof(buf), "%.*s", (int)(end - line), line);
        if (!strncmp(buf, "# HELP ", 7)) {
            assert_int_equal(sscanf(buf + 7, "%127s", family), 1);
            type[0] = '\0';
        } else if (!strncmp(buf, "# TYPE ", 7)) {
            char name[128];
            assert_int_equal(sscanf(buf + 7, "%127s %31s", name, type), 2);
            assert_string_equal(name, family);
            assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge") || !strcmp(type, "histogram"));
        } else {
            assert_true(type[0]); /* a sample before its family's HELP and TYPE */
            sample_t *s = &e->s[e->n++];
            assert_true(e->n < MAX_SAMPLES);
            size_t nl = strspn(buf, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
            assert_true(nl > 0 && nl < sizeof(s->name));
            snprintf(s->name, sizeof(s->name), "%.*s", (int)nl, buf);
            assert_int_equal(strncmp(s->name, family, strlen(family)), 0);
            const char *p = buf + nl;
            s->labels[0] = '\0';
            if (*p == '{')
                assert_non_null(p = parse_labels(p, s->labels, sizeof(s->labels)));
            assert_true(*p == ' ');
            p++;
            char *vend;
            s->value = strtod(p, &vend);
            assert_true(vend != p && *vend == '\0');
        }
        line = end + 1;
    }
}

/* The value of name{labels} (labels exactly as rendered), or NAN when absent. */
static double value_of(const exposition_t *e, const char *name, const char *labels)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->s[i].name, name) && !strcmp(e->s[i].labels, labels))
            return e->s[i].value;
    return NAN;
}

/* Each metrics test gets a registry of the catalogue below, a text buffer and the last exposition read back. */
typedef struct mfx {
    metrics_t *m;
    buf_t text;
    exposition_t e;
} mfx_t;

static void render(mfx_t *f)
{
    buf_reset(&f->text);
    assert_int_equal(metrics_render(f->m, NULL, NULL, &f->text), 0);
    parse_exposition(buf_str(&f->text), &f->e);
}

/* ---- a small catalogue of our own ------------------------------------------------------------------------- */

static const double lat_buckets[] = {0.1, 0.5, 1};
enum { T_REQS, T_TEMP, T_LAT, T_ONE, T_COUNT };
static const metrics_def_t defs[T_COUNT] = {
    [T_REQS] = {"t_requests_total", "requests by outcome", METRICS_COUNTER, {"outcome", "kind"}, NULL, 0, 3},
    [T_TEMP] = {"t_temperature", "a gauge with a \\ and a\nnewline in its help", METRICS_GAUGE, {"room"}, NULL, 0,
                4},
    [T_LAT] = {"t_latency_seconds", "latency", METRICS_HISTOGRAM, {"system"}, lat_buckets, 3, 4},
    [T_ONE] = {"t_up", "no labels", METRICS_GAUGE, {NULL}, NULL, 0, 0},
};

static int metrics_setup(void **state)
{
    mfx_t *f = calloc(1, sizeof(*f));
    if (!f || !(f->m = metrics_new_with(defs, T_COUNT)))
        return -1;
    buf_init(&f->text);
    *state = f;
    return 0;
}

static int metrics_teardown(void **state)
{
    mfx_t *f = *state;
    buf_release(&f->text);
    metrics_free(f->m);
    free(f);
    return 0;
}

static void test_metrics_counters_by_label(void **state)
{
    mfx_t *f = *state;
    metrics_t *m = f->m;
    exposition_t *e = &f->e;
    metrics_add(m, T_REQS, (const char *[]){"stored", "a"}, 1);
    metrics_add(m, T_REQS, (const char *[]){"stored", "a"}, 2);
    metrics_add(m, T_REQS, (const char *[]){"duplicate", "a"}, 1);
    metrics_add(m, T_REQS, (const char *[]){"stored", NULL}, 5);
    metrics_set(m, T_ONE, NULL, 1);
    metrics_add(NULL, T_REQS, (const char *[]){"stored", "a"}, 1);   /* no registry: nothing, no crash */
    metrics_add(m, T_COUNT + 7, (const char *[]){"stored", "a"}, 1); /* unknown id: nothing */
    render(f);
    assert_true(value_of(e, "t_requests_total", "{outcome=\"stored\",kind=\"a\"}") == 3);
    assert_true(value_of(e, "t_requests_total", "{outcome=\"duplicate\",kind=\"a\"}") == 1);
    assert_true(value_of(e, "t_requests_total", "{outcome=\"stored\",kind=\"\"}") == 5);
    assert_true(value_of(e, "t_up", "") == 1);
    assert_non_null(strstr(buf_str(&f->text), "# TYPE t_requests_total counter\n"));
    /* a gauge is set, and reset to 0 before a scrape sets it again */
    metrics_set(m, T_TEMP, (const char *[]){"kitchen"}, 21.5);
    metrics_add(m, T_TEMP, (const char *[]){"kitchen"}, -1);
    render(f);
    assert_true(value_of(e, "t_temperature", "{room=\"kitchen\"}") == 20.5);
    metrics_reset(m, T_TEMP);
    metrics_reset(m, T_REQS); /* counters are never reset */
    render(f);
    assert_true(value_of(e, "t_temperature", "{room=\"kitchen\"}") == 0);
    assert_true(value_of(e, "t_requests_total", "{outcome=\"stored\",kind=\"a\"}") == 3);
    metrics_free(NULL);
}

static void test_metrics_histogram_buckets_sum_and_count(void **state)
{
    mfx_t *f = *state;
    metrics_t *m = f->m;
    exposition_t *e = &f->e;
    const double obs[] = {0.05, 0.1, 0.3, 0.7, 2.0, 9.0};
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        metrics_observe(m, T_LAT, (const char *[]){"odoo"}, obs[i]);
    metrics_add(m, T_LAT, (const char *[]){"odoo"}, 5); /* not a counter: ignored */
    render(f);
    /* le is an upper bound, inclusive: 0.1 falls in the 0.1 bucket */
    assert_true(value_of(e, "t_latency_seconds_bucket", "{system=\"odoo\",le=\"0.1\"}") == 2);
    assert_true(value_of(e, "t_latency_seconds_bucket", "{system=\"odoo\",le=\"0.5\"}") == 3);
    assert_true(value_of(e, "t_latency_seconds_bucket", "{system=\"odoo\",le=\"1\"}") == 4);
    assert_true(value_of(e, "t_latency_seconds_bucket", "{system=\"odoo\",le=\"+Inf\"}") == 6);
    assert_true(value_of(e, "t_latency_seconds_count", "{system=\"odoo\"}") == 6);
    assert_true(fabs(value_of(e, "t_latency_seconds_sum", "{system=\"odoo\"}") - 12.15) < 1e-9);
    assert_non_null(strstr(buf_str(&f->text), "# TYPE t_latency_seconds histogram\n"));
}

static void test_metrics_label_and_help_escaping(void **state)
{
    mfx_t *f = *state;
    metrics_t *m = f->m;
    exposition_t *e = &f->e;
    metrics_set(m, T_TEMP, (const char *[]){"a \"b\" \\c\nd"}, 1);
    render(f);
    assert_true(value_of(e, "t_temperature", "{room=\"a \\\"b\\\" \\\\c\\nd\"}") == 1);
    /* HELP escapes backslash and newline, not quotes */
    assert_non_null(strstr(buf_str(&f->text), "# HELP t_temperature a gauge with a \\\\ and a\\nnewline in its help\n"));
    buf_t esc = BUF_INIT;
    assert_int_equal(metrics_escape(&esc, "q\"\\", 0), 0);
    assert_string_equal(buf_str(&esc), "q\"\\\\");
    buf_release(&esc);
}

static void test_metrics_full_family_goes_to_the_overflow_series(void **state)
{
    mfx_t *f = *state;
    metrics_t *m = f->m;
    exposition_t *e = &f->e;
    char kind[16];
    for (int i = 0; i < 10; i++) {
        snprintf(kind, sizeof(kind), "k%d", i);
        metrics_add(m, T_REQS, (const char *[]){"stored", kind}, 1);
    }
    char longv[400];
    memset(longv, 'x', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    metrics_add(m, T_REQS, (const char *[]){"stored", longv}, 1); /* too long to keep: overflow too */
    render(f);
    /* capacity 3: three series of their own, the other seven and the long one in the overflow series */
    size_t own = 0;
    for (size_t i = 0; i < e->n; i++)
        own += strstr(e->s[i].labels, "outcome=\"stored\"") != NULL;
    assert_int_equal(own, 3);
    assert_true(value_of(e, "t_requests_total", "{outcome=\"_overflow\",kind=\"_overflow\"}") == 8);
    /* a known series still counts in its own slot */
    for (int i = 0; i < 10; i++) {
        snprintf(kind, sizeof(kind), "k%d", i);
        char labels[64];
        snprintf(labels, sizeof(labels), "{outcome=\"stored\",kind=\"%s\"}", kind);
        if (!isnan(value_of(e, "t_requests_total", labels))) {
            metrics_add(m, T_REQS, (const char *[]){"stored", kind}, 1);
            render(f);
            assert_true(value_of(e, "t_requests_total", labels) == 2);
            break;
        }
    }
}

typedef struct hammer {
    metrics_t *m;
    int n;
} hammer_t;

static void *hammer_main(void *arg)
{
    hammer_t *h = arg;
    char kind[16];
    for (int i = 0; i < h->n; i++) {
        snprintf(kind, sizeof(kind), "k%d", i % 3);
        metrics_add(h->m, T_REQS, (const char *[]){"stored", kind}, 1);
        metrics_observe(h->m, T_LAT, (const char *[]){"odoo"}, 0.25);
    }
    return NULL;
}

static void test_metrics_concurrent_updates_are_exact(void **state)
{
    mfx_t *f = *state;
    metrics_t *m = f->m;
    exposition_t *e = &f->e;
    enum { THREADS = 4, N = 30000 };
    pthread_t t[THREADS];
    hammer_t h = {m, N};
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h), 0);
    /* scrapes while the updates land: every reading is well-formed and +Inf == _count */
    for (int i = 0; i < 20; i++) {
        render(f);
        double inf = value_of(e, "t_latency_seconds_bucket", "{system=\"odoo\",le=\"+Inf\"}");
        double cnt = value_of(e, "t_latency_seconds_count", "{system=\"odoo\"}");
        assert_true((isnan(inf) && isnan(cnt)) || inf == cnt);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    render(f);
    double total = 0;
    for (int k = 0; k < 3; k++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "{outcome=\"stored\",kind=\"k%d\"}", k);
        total += value_of(e, "t_requests_total", labels);
    }
    assert_true(total == (double)THREADS * N);
    assert_true(value_of(e, "t_latency_seconds_count", "{system=\"odoo\"}") == (double)THREADS * N);
    assert_true(value_of(e, "t_latency_seconds_sum", "{system=\"odoo\"}") == 0.25 * THREADS * N);
}

static void test_metrics_catalogue_renders_and_parses(void **state)
{
    mfx_t *f = *state;
    metrics_free(f->m);
    metrics_t *m = f->m = metrics_new();
    assert_non_null(m);
    exposition_t *e = &f->e;
    metrics_set(m, METRIC_BUILD_INFO, (const char *[]){"0.2.0"}, 1);
    metrics_add(m, METRIC_DELIVERIES, (const char *[]){"shopify", "stored"}, 1);
    metrics_observe(m, METRIC_REMOTE_DURATION, (const char *[]){"odoo", "sale.order.load"}, 0.02);
    metrics_add(m, METRIC_JOB_ATTEMPTS, (const char *[]){"shopify.order", "dead", "data"}, 1);
    render(f);
    assert_true(value_of(e, "synchub_build_info", "{version=\"0.2.0\"}") == 1);
    assert_true(value_of(e, "synchub_remote_request_duration_seconds_count",
                         "{system=\"odoo\",method=\"sale.order.load\"}") == 1);
    /* every family is announced, in the conventional names */
    for (int i = 0; i < METRIC_COUNT; i++) {
        char want[160];
        snprintf(want, sizeof(want), "# TYPE %s ", metrics_catalogue[i].name);
        assert_non_null(strstr(buf_str(&f->text), want));
        assert_int_equal(strncmp(metrics_catalogue[i].name, "synchub_", 8), 0);
        if (metrics_catalogue[i].type == METRICS_COUNTER)
            assert_non_null(strstr(metrics_catalogue[i].name, "_total"));
    }
}

/* ---- the store's queue figures ------------------------------------------------------------------------------ */

typedef struct depth_row {
    job_state_t state;
    char kind[32];
    int64_t count, oldest;
} depth_row_t;

typedef struct depth {
    depth_row_t r[16];
    size_t n;
} depth_t;

static int on_depth(job_state_t state, const char *kind, int64_t count, int64_t oldest, void *ud)
{
    depth_t *d = ud;
    if (d->n < 16) {
        depth_row_t *r = &d->r[d->n++];
        r->state = state;
        snprintf(r->kind, sizeof(r->kind), "%s", kind);
        r->count = count;
        r->oldest = oldest;
    }
    return 0;
}

static const depth_row_t *row_of(const depth_t *d, job_state_t state, const char *kind)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->r[i].state == state && !strcmp(d->r[i].kind, kind))
            return &d->r[i];
    return NULL;
}

static job_new_t mk(const char *idem, const char *kind, const char *okey, int max_attempts)
{
    job_new_t j = {0};
    queue_job_id(idem, strlen(idem), j.id);
    j.kind = kind;
    j.ordering_key = okey;
    j.payload = "{}";
    j.payload_len = 2;
    j.source = "unit";
    j.event_time_ms = 1;
    j.max_attempts = max_attempts;
    j.lease_ms = 60000;
    return j;
}

static void test_store_queue_depth_by_state_and_kind(void **state)
{
    fx_t *f = *state;
    store_t *s = f->s;
    err_t err;
    depth_t d = {0};
    int64_t due = -1;
    assert_int_equal(store_queue_depth(s, 10000, true, on_depth, &d, &due, &err), 0);
    assert_int_equal(d.n, 0);
    assert_true(due == 0);

    /* k.two: c runs and dies, d waits behind it (same ordering key), then becomes the head */
    job_new_t two[] = {mk("c", "k.two", "x3", 1), mk("d", "k.two", "x3", 1)};
    assert_int_equal(store_enqueue(s, two, 1, NULL, &err), 0);
    assert_int_equal(store_enqueue(s, two + 1, 1, NULL, &err), 0);
    int64_t now = 4102444800000LL; /* far after the enqueue: every job is due */
    job_t *j = NULL;
    assert_int_equal(store_claim(s, "t", now, &j, NULL, &err), 1);
    assert_string_equal(j->kind, "k.two");
    err_t why;
    err_set(&why, ERR_DATA, "t.bad", "bad");
    assert_int_equal(store_finish(s, j, JOB_DEAD, 0, &why, NULL, now, &err), 0);
    job_free(j);
    /* a done job is not counted */
    job_new_t three = mk("e", "k.three", "x4", 1);
    assert_int_equal(store_enqueue(s, &three, 1, NULL, &err), 0);
    assert_int_equal(store_claim(s, "t", now, &j, NULL, &err), 1);
    assert_string_equal(j->kind, "k.two"); /* d: the oldest head */
    assert_int_equal(store_finish(s, j, JOB_RETRY, now + 60000, &why, NULL, now, &err), 0);
    job_free(j);
    assert_int_equal(store_claim(s, "t", now, &j, NULL, &err), 1);
    assert_string_equal(j->kind, "k.three");
    assert_int_equal(store_finish(s, j, JOB_DONE, 0, NULL, NULL, now, &err), 0);
    job_free(j);
    job_new_t one[] = {mk("a", "k.one", "x1", 1), mk("b", "k.one", "x2", 1)};
    assert_int_equal(store_enqueue(s, one, 2, NULL, &err), 0);

    memset(&d, 0, sizeof(d));
    assert_int_equal(store_queue_depth(s, now, true, on_depth, &d, &due, &err), 0);
    assert_int_equal(d.n, 3);
    assert_non_null(row_of(&d, JOB_QUEUED, "k.one"));
    assert_true(row_of(&d, JOB_QUEUED, "k.one")->count == 2);
    assert_true(row_of(&d, JOB_RETRY, "k.two")->count == 1);
    assert_true(row_of(&d, JOB_DEAD, "k.two")->count == 1);
    assert_true(row_of(&d, JOB_QUEUED, "k.one")->oldest > 0);
    assert_true(due > 0 && due < now); /* the k.one heads were due at their enqueue; the retry only later */
    /* nothing is due before the jobs were stored */
    memset(&d, 0, sizeof(d));
    assert_int_equal(store_queue_depth(s, 1, true, on_depth, &d, &due, &err), 0);
    assert_true(due == 0);
    /* the totals alone: one row per state */
    memset(&d, 0, sizeof(d));
    assert_int_equal(store_queue_depth(s, now, false, on_depth, &d, &due, &err), 0);
    assert_int_equal(d.n, 3);
    assert_true(row_of(&d, JOB_QUEUED, "")->count == 2);
    assert_true(row_of(&d, JOB_RETRY, "")->count == 1 && row_of(&d, JOB_DEAD, "")->count == 1);
    assert_true(due > 0);

}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_counters_by_label, metrics_setup, metrics_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_histogram_buckets_sum_and_count, metrics_setup, metrics_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_label_and_help_escaping, metrics_setup, metrics_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_full_family_goes_to_the_overflow_series, metrics_setup,
                                        metrics_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_concurrent_updates_are_exact, metrics_setup, metrics_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_catalogue_renders_and_parses, metrics_setup, metrics_teardown),
    };
    /* the store's figures on both engines (store_fixture.h) */
    const struct CMUnitTest store_tests[] = {
        cmocka_unit_test_setup_teardown(test_store_queue_depth_by_state_and_kind, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed + fx_run_both("metrics store", store_tests, sizeof(store_tests) / sizeof(store_tests[0]));
}
