/* app_common: what every command shares — loading the config, opening the store, printing errors with their four
 * answers (which record, what is wrong, temporary or not, safe to retry), parsing options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "core/buf.h"
#include "core/log.h"

bool app_opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return false;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] != '\0')
        return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "synchub: %s needs a value\n", name);
        *val = NULL;
        return true;
    }
    *val = argv[++*i];
    return true;
}

int app_load_config(app_t *a)
{
    if (!a->config_path || !*a->config_path) {
        fprintf(stderr, "synchub: no configuration: give --config FILE or set SYNCHUB_CONFIG "
                        "(`synchub help config` lists the keys)\n");
        return APP_USAGE;
    }
    buf_t errors = BUF_INIT;
    a->cfg = cfg_load(a->config_path, &errors);
    if (!a->cfg) {
        fputs(buf_str(&errors), stderr);
        buf_release(&errors);
        return APP_USAGE;
    }
    buf_release(&errors);
    log_init(a->cfg->log_level, a->cfg->log_format);
    return APP_OK;
}

store_db_t *app_store_db_open(const cfg_t *cfg, int64_t busy_timeout_ms, err_t *err)
{
    if (!strcmp(cfg->store_backend, "postgres"))
        return store_db_open_auth(cfg->store_url.value, cfg->store_password.value, busy_timeout_ms, err);
    return store_db_open(cfg->store_path, busy_timeout_ms, err);
}

int app_open_store(app_t *a, bool durable, store_db_t **db, store_t **s)
{
    err_t err;
    *s = NULL;
    *db = app_store_db_open(a->cfg, 5000, &err);
    if (*db)
        *s = store_connect(*db, durable, 0, &err);
    if (!*s) {
        app_print_err(&err);
        store_db_close(*db);
        *db = NULL;
        return APP_STORE;
    }
    return APP_OK;
}

void app_print_err(const err_t *e)
{
    fprintf(stderr, "synchub: %s\n", e->message);
    if (e->record[0])
        fprintf(stderr, "  record:     %s\n", e->record);
    if (e->cls != ERR_NONE)
        fprintf(stderr, "  class:      %s (%s)\n", err_class_name(e->cls), e->code);
    if (e->hint[0])
        fprintf(stderr, "  what to do: %s\n", e->hint);
}

const char *app_actor(char *out, size_t n)
{
    const char *user = getenv("USER");
    /* $USER is the operator's own claim (the CLI needs the store file's permissions anyway); keep it one word so
     * the audit line stays readable, else fall back to the uid. */
    if (user && *user && strlen(user) < 64 &&
        strspn(user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") == strlen(user))
        snprintf(out, n, "cli:%s", user);
    else
        snprintf(out, n, "cli:uid%u", (unsigned)getuid());
    return out;
}
