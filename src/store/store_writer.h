/* store_writer: group commit for the ack path. Many threads submit jobs; one writer thread commits everything
 * waiting in one fsynced transaction and then reports to each submitter, so concurrent webhooks share one fsync
 * instead of giving up durability. Works over any store engine (it only calls store_enqueue).
 * Not here: what is acknowledged to whom (ingest decides the HTTP answer from the callback). */
#ifndef SYNCHUB_STORE_WRITER_H
#define SYNCHUB_STORE_WRITER_H

#include <stdbool.h>

#include "store/store.h"

typedef struct store_writer store_writer_t;

/* Called on the writer thread once the job is committed (rc 0; duplicate tells whether it existed already) or the
 * commit failed (rc -1, err says why; nothing of the batch was stored). Must not block. */
typedef void (*store_writer_cb)(void *arg, int rc, bool duplicate, const err_t *err);

/* Start the writer thread with its own durable connection. busy_timeout_ms bounds waiting for another process's
 * lock (the ack deadline). NULL with err on failure. */
store_writer_t *store_writer_new(store_db_t *db, int64_t busy_timeout_ms, err_t *err);

/* Queue job (borrowed until cb runs) for the next group commit. 0, or -1 when the writer is stopping. Any thread. */
int store_writer_submit(store_writer_t *w, const job_new_t *job, store_writer_cb cb, void *arg);

/* Submit and wait for the outcome. 0 stored (or duplicate), -1 with err. Any thread except the writer's. */
int store_writer_enqueue(store_writer_t *w, const job_new_t *job, bool *duplicate, err_t *err);

/* Commit everything already submitted, then stop the thread and free the writer. NULL is a no-op. */
void store_writer_free(store_writer_t *w);

#endif
