/* queue_bench: enqueue N no-op jobs through the group-commit writer (durable, from several producer threads, as
 * webhooks would arrive), then drain them with W workers on each of K "nodes" (K store handles and worker pools in
 * this process, as K processes would share a PostgreSQL store); prints jobs/s each way and peak RSS. With
 * --done D it first fills the store with D done jobs and also measures the latency of single claims among them.
 * It measures the store and the worker engine only: no HTTP (bench/ingest.sh measures that). The SQL below only
 * prepares or removes benchmark data; the product's SQL stays in src/store/. */
#define _GNU_SOURCE
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/cfg.h"
#include "core/clock.h"
#include "core/log.h"
#include "queue/queue.h"
#include "store/store.h"
#include "store/store_writer.h"

typedef struct producer {
    store_writer_t *w;
    int from, to;
    int failed;
} producer_t;

static void *produce(void *arg)
{
    producer_t *p = arg;
    char key[64], okey[64];
    static const char payload[] = "{\"noop\":true}";
    for (int i = p->from; i < p->to; i++) {
        job_new_t j = {0};
        int n = snprintf(key, sizeof(key), "bench|%d", i);
        snprintf(okey, sizeof(okey), "bench:%d", i % 5000);
        queue_job_id(key, (size_t)n, j.id);
        j.kind = "test.noop";
        j.ordering_key = okey;
        j.payload = payload;
        j.payload_len = sizeof(payload) - 1;
        j.source = "bench";
        j.event_time_ms = i;
        j.max_attempts = 3;
        j.lease_ms = 60000;
        err_t err;
        if (store_writer_enqueue(p->w, &j, NULL, &err) < 0)
            p->failed++;
    }
    return NULL;
}

/* A no-op job; it counts its runs, so that the main thread reads the store (a count by state, which costs as much
 * CPU as a share of the drain itself on a small machine) only once every job has run. */
static int noop(queue_run_t *run)
{
    atomic_fetch_add((atomic_long *)run->udata, 1);
    return 0;
}

static void remove_store(const char *path)
{
    char side[4096];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static double secs(struct timespec a, struct timespec b)
{
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

static bool is_pg(const char *where)
{
    return !strncmp(where, "postgresql://", 13) || !strncmp(where, "postgres://", 11);
}

/* PostgreSQL: run sql on a short connection to url. 0 or -1. */
static int pg_exec(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
        if (rc < 0)
            fprintf(stderr, "bench_queue: %s", PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "bench_queue: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

/* n DONE jobs finished just now (so the retention keeps them), on other ordering keys than the bench's. The id
 * expression differs by engine. */
static const char fill_sql[] =
    "INSERT INTO jobs(id, kind, okey, priority, state, ready, attempts, max_attempts, budget, lease_ms, event_time,"
    " run_at, created_at, updated_at, finished_at, source, payload)"
    " SELECT %s, 'test.noop', 'old:' || (i %% 5000), 0, 3, %s, 1, 3, 3, 60000,"
    " i, i, %lld, %lld, %lld, 'bench', '{}' FROM %s";

static int fill_done(const char *where, long n)
{
    char sql[1024];
    long long now = (long long)clock_now_ms();
    if (is_pg(where)) {
        char gen[64];
        snprintf(gen, sizeof(gen), "generate_series(1, %ld) AS g(i)", n);
        snprintf(sql, sizeof(sql), fill_sql, "'done' || lpad(CAST(i AS TEXT), 28, '0')", "false", now, now, now, gen);
        return pg_exec(where, sql) < 0 || pg_exec(where, "VACUUM ANALYZE jobs") < 0 ? -1 : 0;
    }
    char gen[160];
    snprintf(gen, sizeof(gen), "(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %ld)"
                               " SELECT i FROM g)", n);
    snprintf(sql, sizeof(sql), fill_sql, "printf('done%028d', i)", "0", now, now, now, gen);
    sqlite3 *db = NULL;
    int rc = sqlite3_open(where, &db) == SQLITE_OK && sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK &&
                     sqlite3_exec(db, "ANALYZE", NULL, NULL, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    if (rc < 0)
        fprintf(stderr, "bench_queue: fill: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc;
}

/* CPU seconds (user + system) of a PostgreSQL server: its postmaster pid (with what its exited children left in
 * cutime/cstime) and every live child. From /proc; 0 when pid is 0 or unreadable. The drain's server-side cost per
 * job, next to this process's own, is what stays comparable on a shared machine where jobs/s do not. */
static double proc_cpu(int pid, bool with_children, int *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return 0;
    int pp = 0;
    unsigned long long ut = 0, st = 0;
    long long cut = 0, cst = 0;
    if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &pp, &ut, &st, &cut, &cst) != 5)
        return 0;
    if (ppid)
        *ppid = pp;
    double ticks = (double)sysconf(_SC_CLK_TCK);
    return (double)(ut + st + (with_children ? (unsigned long long)(cut + cst) : 0)) / ticks;
}

static double server_cpu(int postmaster)
{
    if (postmaster <= 0)
        return 0;
    double sum = proc_cpu(postmaster, true, NULL);
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));) {
        int pid = (int)strtol(e->d_name, NULL, 10), ppid = 0;
        if (pid <= 0)
            continue;
        double c = proc_cpu(pid, false, &ppid);
        if (ppid == postmaster)
            sum += c;
    }
    if (d)
        closedir(d);
    return sum;
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Latency of store_claim one at a time (each job then finished), n times: *p50 and *p99 in ms; 0 claims made
 * leaves them 0. Returns how many claims were measured. */
static int claim_latency(store_db_t *db, int n, double *p50, double *p99)
{
    err_t err;
    store_t *s = store_connect(db, false, 0, &err);
    double *lat = calloc((size_t)n, sizeof(*lat));
    int got = 0;
    for (int i = 0; s && lat && i < n; i++) {
        struct timespec a, b;
        job_t *j = NULL;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int rc = store_claim(s, "lat", clock_now_ms(), &j, NULL, &err);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (rc != 1)
            break;
        lat[got++] = secs(a, b) * 1e3;
        store_finish(s, j, JOB_DONE, 0, NULL, NULL, clock_now_ms(), &err);
        job_free(j);
    }
    if (got > 0) {
        qsort(lat, (size_t)got, sizeof(*lat), cmp_double);
        *p50 = lat[got / 2];
        *p99 = lat[got * 99 / 100];
    }
    free(lat);
    store_disconnect(s);
    return got;
}

int main(int argc, char **argv)
{
    int njobs = 100000, nworkers = 4, nprod = 32, nnodes = 1, local_queue = 0, dispatchers = 0;
    long ndone = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i += 2) {
        long v = i + 1 < argc ? strtol(argv[i + 1], NULL, 10) : -1;
        if (!strcmp(argv[i], "--jobs") && v > 0)
            njobs = (int)v;
        else if (!strcmp(argv[i], "--workers") && v >= 1 && v <= 256)
            nworkers = (int)v;
        else if (!strcmp(argv[i], "--producers") && v >= 1 && v <= 1024)
            nprod = (int)v;
        else if (!strcmp(argv[i], "--nodes") && v >= 1 && v <= 16)
            nnodes = (int)v;
        else if (!strcmp(argv[i], "--local-queue") && v >= 0 && v <= 4096)
            local_queue = (int)v;
        else if (!strcmp(argv[i], "--dispatchers") && v >= 0 && v <= 16)
            dispatchers = (int)v;
        else if (!strcmp(argv[i], "--done") && v >= 0)
            ndone = v;
        else if (!strcmp(argv[i], "--store") && i + 1 < argc)
            path = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_queue --store FILE|postgresql://URL [--jobs N] [--workers N] [--producers N]"
                            " [--nodes K] [--local-queue Q] [--dispatchers L] [--done D]\n"
                            "Enqueues N no-op jobs durably from N producers, drains them with N workers on each of K\n"
                            "nodes ([server] local_queue = Q: jobs claimed ahead, workers not waiting for commits;\n"
                            "[server] dispatchers = L: connections committing the pool's rounds, 0 = the default);\n"
                            "--done D first adds D done jobs and measures single-claim latency among them.\n"
                            "FILE is deleted before and after the run; on PostgreSQL the run uses a schema of its\n"
                            "own, dropped afterwards.\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "bench_queue: --store FILE|URL is required (a file is deleted before and after the run)\n");
        return 2;
    }
    log_init(LOG_LVL_WARN, LOG_FMT_LOGFMT);
    char *where = NULL, schema[64] = "";
    if (is_pg(path)) {
        char sql[128];
        snprintf(schema, sizeof(schema), "bench_%d", (int)getpid());
        snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
        if (pg_exec(path, sql) < 0 ||
            asprintf(&where, "%s%coptions=-csearch_path%%3D%s", path, strchr(path, '?') ? '&' : '?', schema) < 0)
            return 1;
    } else {
        remove_store(path);
        where = strdup(path);
    }
    err_t err;
    store_db_t *db = store_db_open(where, 5000, &err);
    if (!db) {
        fprintf(stderr, "bench_queue: %s\n", err.message);
        return 1;
    }
    struct timespec f0, f1;
    clock_gettime(CLOCK_MONOTONIC, &f0);
    if (ndone > 0 && fill_done(where, ndone) < 0)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &f1);
    /* A minimal config: poll interval and retention are what the pool reads. */
    cfg_t cfg = {0};
    cfg.poll_interval_ms = 100;
    cfg.retention_ms = 7 * 86400000LL;
    cfg.local_queue = local_queue;
    cfg.dispatchers = dispatchers;

    store_writer_t *w = store_writer_new(db, 5000, &err);
    producer_t *prods = calloc((size_t)nprod, sizeof(*prods));
    pthread_t *th = calloc((size_t)nprod, sizeof(*th));
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < nprod; i++) {
        prods[i].w = w;
        prods[i].from = (int)((long)njobs * i / nprod);
        prods[i].to = (int)((long)njobs * (i + 1) / nprod);
        pthread_create(&th[i], NULL, produce, &prods[i]);
    }
    int failed = 0;
    for (int i = 0; i < nprod; i++) {
        pthread_join(th[i], NULL);
        failed += prods[i].failed;
    }
    free(prods);
    free(th);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    store_writer_free(w);

    queue_registry_t *reg = queue_registry_new();
    atomic_long ran = 0;
    queue_registry_add(reg, "test.noop", noop, &ran);
    /* Node 0 uses the db the jobs went through; the others open their own, as other processes would. */
    store_db_t **dbs = calloc((size_t)nnodes, sizeof(*dbs));
    queue_pool_t **pools = calloc((size_t)nnodes, sizeof(*pools));
    dbs[0] = db;
    for (int k = 1; k < nnodes; k++)
        if (!(dbs[k] = store_db_open(where, 5000, &err))) {
            fprintf(stderr, "bench_queue: node %d: %s\n", k, err.message);
            return 1;
        }
    /* BENCH_PG_PID: the server's postmaster, to report its CPU per drained job (pg-test-cluster's postmaster.pid). */
    const char *pm = getenv("BENCH_PG_PID");
    int postmaster = pm ? (int)strtol(pm, NULL, 10) : 0;
    struct timespec td;
    double srv0 = server_cpu(postmaster), me0 = self_cpu();
    clock_gettime(CLOCK_MONOTONIC, &td);
    for (int k = 0; k < nnodes; k++)
        pools[k] = queue_pool_start(dbs[k], &cfg, reg, nworkers, NULL, NULL, &err);
    store_t *s = store_connect(db, false, 0, &err);
    store_stats_t st;
    /* Done means committed: once every job has run, poll the store until all are recorded done. */
    for (;;) {
        struct timespec ts = {0, atomic_load(&ran) < njobs - failed ? 2000000L : 1000000L};
        nanosleep(&ts, NULL);
        if (atomic_load(&ran) >= njobs - failed && store_stats(s, clock_now_ms(), &st, &err) == 0 &&
            st.by_state[JOB_DONE] >= ndone + njobs - failed)
            break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);
    double srv1 = server_cpu(postmaster), me1 = self_cpu();
    for (int k = 0; k < nnodes; k++)
        queue_pool_stop(pools[k], 5000);
    store_disconnect(s);
    double p50 = 0, p99 = 0;
    int nlat = 0;
    if (ndone > 0) {
        /* Single claims among the done rows: enqueue a few thousand more, claim them one at a time. */
        store_writer_t *w2 = store_writer_new(db, 5000, &err);
        producer_t p = {w2, njobs, njobs + 2000, 0};
        produce(&p);
        store_writer_free(w2);
        nlat = claim_latency(db, 2000, &p50, &p99);
    }
    for (int k = 1; k < nnodes; k++)
        store_db_close(dbs[k]);
    free(dbs);
    free(pools);
    queue_registry_free(reg);
    store_db_close(db);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double e = secs(t0, t1), d = secs(td, t2);
    printf("queue bench (%s): %d jobs, %d producers (durable group commit), %d node(s) x %d workers, local queue %d\n",
           schema[0] ? "postgres" : "sqlite", njobs, nprod, nnodes, nworkers, local_queue);
    if (ndone > 0)
        printf("  filled   %ld done jobs in %.1f s\n", ndone, secs(f0, f1));
    printf("  enqueue  %8.0f jobs/s  (%.2f s, %d failed)\n", njobs / e, e, failed);
    printf("  drain    %8.0f jobs/s  (%.2f s)\n", njobs / d, d);
    printf("  drain CPU  %.1f us/job here", (me1 - me0) * 1e6 / njobs);
    if (postmaster > 0)
        printf(", %.1f us/job in the server (pid %d and children)", (srv1 - srv0) * 1e6 / njobs, postmaster);
    printf("\n");
    if (nlat > 0)
        printf("  claim    p50 %.3f ms  p99 %.3f ms  (%d single claims among %ld done jobs)\n", p50, p99, nlat,
               ndone + njobs);
    printf("  peak RSS %8.1f MiB\n", ru.ru_maxrss / 1024.0);
    if (schema[0]) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SET client_min_messages = warning; DROP SCHEMA %s CASCADE", schema);
        pg_exec(path, sql);
    } else {
        remove_store(path);
    }
    free(where);
    return failed ? 1 : 0;
}
