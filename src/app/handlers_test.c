/* handlers_test: the test.* job kinds, for integration tests and the demo (enabled by [debug] test_handlers).
 * They exercise the engine's retry, dead-letter, operator-fix and ordering paths without any remote system.
 * Not for production flows. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "core/clock.h"

static json_t *payload(queue_run_t *run)
{
    json_t *p = json_loads(run->job->payload, 0, NULL);
    if (!json_is_object(p)) {
        json_decref(p);
        err_set(&run->err, ERR_DATA, "test.payload", "payload of %s is not a JSON object", run->job->kind);
        err_record(&run->err, "job %s", run->job->id);
        run->err.retry_safe = false;
        return NULL;
    }
    return p;
}

static int h_noop(queue_run_t *run)
{
    (void)run;
    return 0;
}

/* {"fail_times": N, "class": "transient"|"configuration"|"data"}: fail on attempts 1..N. */
static int h_flaky(queue_run_t *run)
{
    json_t *p = payload(run);
    if (!p)
        return -1;
    json_int_t n = json_integer_value(json_object_get(p, "fail_times"));
    const char *cls_name = json_string_value(json_object_get(p, "class"));
    err_class_t cls = ERR_TRANSIENT;
    if (cls_name && err_class_parse(cls_name, &cls) < 0)
        cls = ERR_TRANSIENT;
    int rc = 0;
    if (run->job->attempts <= n) {
        err_set(&run->err, cls, "test.flaky", "simulated %s failure %d of %lld", err_class_name(cls),
                run->job->attempts, (long long)n);
        err_record(&run->err, "job %s (key %s)", run->job->id, run->job->ordering_key);
        err_hint(&run->err, "test handler: succeeds after %lld failures", (long long)n);
        rc = -1;
    }
    json_decref(p);
    return rc;
}

/* {"path": P}: a configuration failure naming P until the file exists — the shape of "fix it, then retry". */
static int h_needs_file(queue_run_t *run)
{
    json_t *p = payload(run);
    if (!p)
        return -1;
    const char *path = json_string_value(json_object_get(p, "path"));
    int rc = 0;
    if (!path || access(path, F_OK) != 0) {
        err_set(&run->err, ERR_CONFIGURATION, "test.missing_file", "required file %s does not exist",
                path ? path : "(no path in payload)");
        err_record(&run->err, "job %s (key %s)", run->job->id, run->job->ordering_key);
        err_hint(&run->err, "create %s, then `synchub jobs retry %.12s`; retry is safe", path ? path : "the file",
                 run->job->id);
        rc = -1;
    }
    json_decref(p);
    return rc;
}

/* {"log": P, "tag": T, "sleep_ms": MS}: sleep, then append one JSON line to P (ordering tests). */
static int h_record(queue_run_t *run)
{
    json_t *p = payload(run);
    if (!p)
        return -1;
    int64_t start = clock_now_ms();
    json_int_t ms = json_integer_value(json_object_get(p, "sleep_ms"));
    if (ms > 0) {
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    const char *path = json_string_value(json_object_get(p, "log"));
    json_t *tag = json_object_get(p, "tag");
    int rc = 0;
    if (path) {
        json_t *line = json_pack("{s:s, s:s, s:O?, s:I, s:I, s:i}", "job", run->job->id, "key",
                                 run->job->ordering_key, "tag", tag, "start_ms", (json_int_t)start, "end_ms",
                                 (json_int_t)clock_now_ms(), "attempt", run->job->attempts);
        char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (!text || fd < 0) {
            err_set(&run->err, ERR_TRANSIENT, "test.record", "cannot append to %s", path);
            rc = -1;
        } else {
            flock(fd, LOCK_EX);
            dprintf(fd, "%s\n", text);
            flock(fd, LOCK_UN);
        }
        if (fd >= 0)
            close(fd);
        free(text);
        json_decref(line);
    }
    json_decref(p);
    return rc;
}

int app_register_test_handlers(queue_registry_t *reg)
{
    if (queue_registry_add(reg, "test.noop", h_noop, NULL) < 0 ||
        queue_registry_add(reg, "test.flaky", h_flaky, NULL) < 0 ||
        queue_registry_add(reg, "test.needs_file", h_needs_file, NULL) < 0 ||
        queue_registry_add(reg, "test.record", h_record, NULL) < 0)
        return -1;
    return 0;
}
