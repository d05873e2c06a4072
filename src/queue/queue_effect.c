/* queue_effect: how a handler reports on its run — the effects it wrote elsewhere (store effects) under the job it
 * runs (the job's id and correlation id are filled in here, so every effect of one chain of jobs shares the
 * originating event's correlation), and its failure. Not here: the table (store/store_*_effects.c) or deciding what
 * is an effect (the handlers). */
#include <stdarg.h>
#include <stdio.h>

#include "core/log.h"
#include "queue/queue.h"

void queue_run_effects(queue_run_t *run, store_effect_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        e[i].job_id = run->job->id;
        e[i].correlation_id = run->job->correlation_id;
    }
    err_t err;
    if (store_effects_add(run->store, e, n, &err) < 0) {
        /* The remote write happened; failing the job would only repeat it. The trace misses this row. */
        char nbuf[16];
        snprintf(nbuf, sizeof(nbuf), "%zu", n);
        log_kv(LOG_LVL_WARN, "queue", "cannot record effects for the trace", "job", run->job->id, "count", nbuf,
               "code", err.code, "error", err.message, NULL);
    }
}

int queue_run_fail(queue_run_t *run, const char *label, err_class_t cls, const char *code, const char *hint,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vfull(&run->err, cls, code, label, hint, fmt, ap);
    va_end(ap);
    return -1;
}
