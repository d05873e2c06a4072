/* cmd_store: `synchub store check [--full]`, the operator's integrity check of the configured store, and the same
 * check that serve and worker run before they open the store (app_check_store).
 * Not here: the check itself (store/store_check.c), or any repair. */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "core/log.h"
#include "store/store_check.h"

static store_check_result_t check_configured(const cfg_t *cfg, bool full, buf_t *report, err_t *err)
{
    if (!strcmp(cfg->store_backend, "postgres"))
        return store_check(cfg->store_url.value, cfg->store_password.value, full, report, err);
    return store_check(cfg->store_path, NULL, full, report, err);
}

static int exit_code(store_check_result_t r)
{
    return r == STORE_CHECK_OK ? APP_OK : r == STORE_CHECK_UNAVAILABLE ? APP_STORE : APP_DAMAGED;
}

int app_check_store(const cfg_t *cfg)
{
    err_t err;
    store_check_result_t r = check_configured(cfg, false, NULL, &err);
    if (r == STORE_CHECK_OK)
        return APP_OK;
    /* Unavailable (locked, server down) is the open's to report, as before: only a store known to be damaged or
     * emptied refuses the start here. */
    if (r == STORE_CHECK_UNAVAILABLE)
        return APP_OK;
    log_kv(LOG_LVL_ERROR, "serve", "refusing to start: the store is damaged or empty", "code", err.code, "error",
           err.message, NULL);
    app_print_err(&err);
    return exit_code(r);
}

int cmd_store(app_t *a)
{
    bool full = false;
    const char *verb = a->argc > 0 ? a->argv[0] : NULL;
    for (int i = 1; i < a->argc; i++) {
        if (!strcmp(a->argv[i], "--full")) {
            full = true;
        } else {
            fprintf(stderr, "synchub: store check: unknown option '%s'\n", a->argv[i]);
            return APP_USAGE;
        }
    }
    if (!verb || strcmp(verb, "check") != 0) {
        fprintf(stderr, "usage: synchub --config FILE store check [--full]\n");
        return APP_USAGE;
    }
    buf_t report = BUF_INIT;
    err_t err;
    store_check_result_t r = check_configured(a->cfg, full, &report, &err);
    fputs(buf_str(&report), stdout);
    buf_release(&report);
    if (r != STORE_CHECK_OK)
        app_print_err(&err);
    else
        printf("store ok\n");
    return exit_code(r);
}
