/* store_writer: one thread, one durable connection, batches of whatever is waiting (up to WRITER_BATCH_MAX).
 * There is no deliberate delay: while one fsync runs, the next batch gathers by itself, so latency stays one commit
 * at low load and throughput grows with concurrency. */
#include "store/store_writer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define WRITER_BATCH_MAX 512

typedef struct writer_item {
    const job_new_t *job;
    store_writer_cb cb;
    void *arg;
    struct writer_item *next;
} writer_item_t;

struct store_writer {
    store_t *conn;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    writer_item_t *head, *tail;
    bool stopping;
};

static void *writer_main(void *arg)
{
    store_writer_t *w = arg;
    job_new_t *batch = malloc(WRITER_BATCH_MAX * sizeof(*batch));
    writer_item_t **items = malloc(WRITER_BATCH_MAX * sizeof(*items));
    bool *dup = malloc(WRITER_BATCH_MAX * sizeof(*dup));
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->head && w->stopping) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        size_t n = 0;
        while (w->head && n < WRITER_BATCH_MAX) {
            items[n++] = w->head;
            w->head = w->head->next;
        }
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);

        err_t err;
        err_clear(&err);
        int rc = -1;
        if (batch && items && dup) {
            for (size_t i = 0; i < n; i++)
                batch[i] = *items[i]->job;
            rc = store_enqueue(w->conn, batch, n, dup, &err);
        } else {
            err_set(&err, ERR_TRANSIENT, "store.oom", "out of memory in the store writer");
        }
        if (rc < 0)
            log_kv(LOG_LVL_ERROR, "store", "group commit failed; senders get 503 and retry", "code", err.code,
                   "error", err.message, NULL);
        for (size_t i = 0; i < n; i++) {
            items[i]->cb(items[i]->arg, rc, rc == 0 && dup && dup[i], &err);
            free(items[i]);
        }
    }
    free(batch);
    free(items);
    free(dup);
    return NULL;
}

store_writer_t *store_writer_new(store_db_t *db, int64_t busy_timeout_ms, err_t *err)
{
    store_writer_t *w = calloc(1, sizeof(*w));
    if (!w) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        return NULL;
    }
    w->conn = store_connect(db, true, busy_timeout_ms, err);
    if (!w->conn) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        err_set(err, ERR_INTERNAL, "store.thread", "cannot start the store writer thread");
        store_disconnect(w->conn);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return NULL;
    }
    return w;
}

int store_writer_submit(store_writer_t *w, const job_new_t *job, store_writer_cb cb, void *arg)
{
    writer_item_t *it = malloc(sizeof(*it));
    if (!it)
        return -1;
    it->job = job;
    it->cb = cb;
    it->arg = arg;
    it->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mu);
        free(it);
        return -1;
    }
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

typedef struct wait_slot {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, duplicate;
    int rc;
    err_t err;
} wait_slot_t;

static void wait_cb(void *arg, int rc, bool duplicate, const err_t *err)
{
    wait_slot_t *ws = arg;
    pthread_mutex_lock(&ws->mu);
    ws->rc = rc;
    ws->duplicate = duplicate;
    if (rc < 0 && err)
        ws->err = *err;
    ws->done = true;
    pthread_cond_signal(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
}

int store_writer_enqueue(store_writer_t *w, const job_new_t *job, bool *duplicate, err_t *err)
{
    wait_slot_t ws;
    memset(&ws, 0, sizeof(ws));
    pthread_mutex_init(&ws.mu, NULL);
    pthread_cond_init(&ws.cv, NULL);
    int rc = store_writer_submit(w, job, wait_cb, &ws);
    if (rc < 0) {
        err_set(err, ERR_TRANSIENT, "store.stopping", "the store writer is shutting down");
    } else {
        pthread_mutex_lock(&ws.mu);
        while (!ws.done)
            pthread_cond_wait(&ws.cv, &ws.mu);
        pthread_mutex_unlock(&ws.mu);
        rc = ws.rc;
        if (rc < 0 && err)
            *err = ws.err;
        if (duplicate)
            *duplicate = ws.duplicate;
    }
    pthread_mutex_destroy(&ws.mu);
    pthread_cond_destroy(&ws.cv);
    return rc;
}

void store_writer_free(store_writer_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    store_disconnect(w->conn);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
