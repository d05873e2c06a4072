/* store_common: what both engines share and nothing engine-specific — the checks every engine applies (job ids,
 * which operation may move which job), the audit rows' shapes, the activity buckets, and the values of store.h
 * (job_free, job_state_name, …). Not here: SQL of any kind (store_sqlite*.c, store_pg*.c) or choosing and calling
 * the engine (store.c). */
#include "store/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_engine.h"

/* ---- checks shared by the engines (store_engine.h) ----------------------------------------------------------- */

int store__check_job_id(const char *id, err_t *err)
{
    size_t len = strlen(id);
    bool hex = len >= 8 && len <= JOB_ID_LEN;
    for (const char *p = id; hex && *p; p++)
        hex = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
    if (!hex)
        return err_set(err, ERR_DATA, "job.bad_id",
                       "'%s' is not a job id (8 to 32 lower-case hex digits, as `synchub jobs list` shows)", id);
    return 0;
}

int store__check_operation(const job_t *j, store_op_t op, err_t *err)
{
    static const unsigned allowed[] = {
        [STORE_OP_RETRY] = 1u << JOB_DEAD | 1u << JOB_RETRY | 1u << JOB_QUEUED,
        [STORE_OP_DISCARD] = 1u << JOB_DEAD | 1u << JOB_RETRY | 1u << JOB_QUEUED,
        [STORE_OP_REPLAY] = 1u << JOB_DONE,
    };
    if (allowed[op] & (1u << j->state))
        return 0;
    err_set(err, ERR_DATA, "job.state", "job %s is %s: %s applies only to %s", j->id, job_state_name(j->state),
            store__op_verb(op), op == STORE_OP_REPLAY ? "done jobs" : "queued, retry or dead jobs");
    if (j->state == JOB_RUNNING)
        err_hint(err, "wait until the running attempt ends");
    else if (op != STORE_OP_REPLAY && j->state == JOB_DONE)
        err_hint(err, "use `synchub jobs replay %s` to run a done job again", j->id);
    return -1;
}

const char *store__op_verb(store_op_t op)
{
    static const char *const verbs[] = {"retry", "discard", "replay"};
    return verbs[op];
}

void store__bulk_target(char *out, size_t n, err_class_t cls, const char *code)
{
    snprintf(out, n, "cause:%s/%s", cls ? err_class_name(cls) : "any", code ? code : "any");
}

/* How many, and which: the first 200 ids are enough to find them again, and keep the row bounded. */
char *store__bulk_detail(job_t *const *jobs, size_t n, err_class_t cls, const char *code)
{
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < n && i < 200; i++)
        json_array_append_new(ids, json_string(jobs[i]->id));
    json_t *d = json_pack("{s:I, s:s, s:s?, s:o}", "count", (json_int_t)n, "class",
                          cls ? err_class_name(cls) : "any", "code", code, "jobs", ids);
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    return text;
}

int store__buckets_init(store_bucket_t *out, int64_t since_ms, int64_t bucket_ms, int nbuckets, err_t *err)
{
    if (bucket_ms <= 0 || nbuckets <= 0)
        return err_set(err, ERR_INTERNAL, "store.args", "store_activity needs buckets");
    memset(out, 0, (size_t)nbuckets * sizeof(*out));
    for (int i = 0; i < nbuckets; i++)
        out[i].start = since_ms + (int64_t)i * bucket_ms;
    return 0;
}

void store__bucket_add(store_bucket_t *out, int nbuckets, int64_t b, bool done, int cls, int64_t n)
{
    if (b < 0 || b >= nbuckets)
        return;
    if (done)
        out[b].done += n;
    else
        out[b].failed[cls >= ERR_NONE && cls <= ERR_INTERNAL ? cls : ERR_INTERNAL] += n;
}

bool store__lost_error(const job_t *j, err_t *why)
{
    bool dead = j->attempts >= j->max_attempts;
    err_set(why, ERR_TRANSIENT, "worker.lost",
            "the worker running attempt %d stopped (crash, kill or hang) before finishing; its lease expired",
            j->attempts);
    err_record(why, "job %s (%s)", j->id, j->kind);
    err_hint(why, dead ? "attempts exhausted: check the logs around the crash, then `synchub jobs retry %s`"
                       : "it runs again automatically",
             j->id);
    return dead;
}

/* ---- engine-independent helpers ---------------------------------------------------------------------------- */

void store_link_release(store_link_t *l)
{
    free(l->extra);
    l->extra = NULL;
}

void job_free(job_t *j)
{
    if (!j)
        return;
    free(j->kind);
    free(j->ordering_key);
    free(j->payload);
    free(j->source);
    free(j->correlation_id);
    free(j->meta);
    free(j);
}

void job_list_free(job_t **jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        job_free(jobs[i]);
    free(jobs);
}

static const char *const state_names[JOB_STATE_COUNT] = {"queued", "running", "retry", "done", "dead", "discarded"};

const char *job_state_name(job_state_t st)
{
    return (unsigned)st < JOB_STATE_COUNT ? state_names[st] : "unknown";
}

int job_state_parse(const char *name, job_state_t *out)
{
    for (int i = 0; i < JOB_STATE_COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (job_state_t)i;
            return 0;
        }
    }
    return -1;
}
