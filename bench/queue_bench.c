/* queue_bench: enqueue N no-op jobs through the group-commit writer (durable, from several producer threads, as
 * webhooks would arrive), then drain them with W workers; prints jobs/s each way and peak RSS.
 * It measures the store and the worker engine only: no HTTP (bench/ingest.sh measures that). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int noop(queue_run_t *run)
{
    (void)run;
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

int main(int argc, char **argv)
{
    int njobs = 100000, nworkers = 4, nprod = 32;
    const char *path = NULL;
    for (int i = 1; i < argc; i += 2) {
        long v = i + 1 < argc ? strtol(argv[i + 1], NULL, 10) : -1;
        if (!strcmp(argv[i], "--jobs") && v > 0)
            njobs = (int)v;
        else if (!strcmp(argv[i], "--workers") && v >= 1 && v <= 256)
            nworkers = (int)v;
        else if (!strcmp(argv[i], "--producers") && v >= 1 && v <= 1024)
            nprod = (int)v;
        else if (!strcmp(argv[i], "--store") && i + 1 < argc)
            path = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_queue --store FILE [--jobs N] [--workers N] [--producers N]\n"
                            "Enqueues N no-op jobs durably from N producers, drains them with N workers.\n"
                            "FILE is deleted before and after the run.\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "bench_queue: --store FILE is required (it is deleted before and after the run)\n");
        return 2;
    }
    log_init(LOG_LVL_WARN, LOG_FMT_LOGFMT);
    remove_store(path);
    err_t err;
    store_db_t *db = store_db_open(path, 5000, &err);
    if (!db) {
        fprintf(stderr, "bench_queue: %s\n", err.message);
        return 1;
    }
    /* A minimal config: poll interval and retention are what the pool reads. */
    cfg_t cfg = {0};
    cfg.poll_interval_ms = 100;
    cfg.retention_ms = 7 * 86400000LL;

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
    clock_gettime(CLOCK_MONOTONIC, &t1);
    store_writer_free(w);

    queue_registry_t *reg = queue_registry_new();
    queue_registry_add(reg, "test.noop", noop, NULL);
    queue_pool_t *pool = queue_pool_start(db, &cfg, reg, nworkers, NULL, &err);
    store_t *s = store_connect(db, false, 0, &err);
    store_stats_t st;
    for (;;) {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
        if (store_stats(s, clock_now_ms(), &st, &err) == 0 && st.by_state[JOB_DONE] >= njobs - failed)
            break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);
    queue_pool_stop(pool, 5000);
    store_disconnect(s);
    queue_registry_free(reg);
    store_db_close(db);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double e = secs(t0, t1), d = secs(t1, t2);
    printf("queue bench: %d jobs, %d producers (durable group commit), %d workers\n", njobs, nprod, nworkers);
    printf("  enqueue  %8.0f jobs/s  (%.2f s, %d failed)\n", njobs / e, e, failed);
    printf("  drain    %8.0f jobs/s  (%.2f s)\n", njobs / d, d);
    printf("  peak RSS %8.1f MiB\n", ru.ru_maxrss / 1024.0);
    remove_store(path);
    return failed ? 1 : 0;
}
