/* app: the synchub command-line tool. main.c dispatches to one file per command (cmd_*.c); this header holds what
 * they share: exit codes, option parsing, config and store opening, output helpers. Library code never prints;
 * only these files write to stdout/stderr (besides the log). */
#ifndef SYNCHUB_APP_H
#define SYNCHUB_APP_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/cfg.h"
#include "queue/queue.h"
#include "queue/queue_breaker.h"
#include "store/store.h"

/* APP_DAMAGED: the store is damaged or unexpectedly empty; restarting cannot help (systemd:
 * RestartPreventExitStatus=4). */
enum { APP_OK = 0, APP_FAIL = 1, APP_USAGE = 2, APP_STORE = 3, APP_DAMAGED = 4 };

typedef struct app {
    const char *config_path;
    cfg_t *cfg;
    bool json;
    int argc;           /* the command's own arguments (after the command word, global options removed) */
    char **argv;
} app_t;

/* Command entry points: return the process exit code. */
int cmd_serve(app_t *a);
int cmd_worker(app_t *a);   /* cmd_serve.c: serve without HTTP */
int cmd_check_config(app_t *a);
int cmd_jobs(app_t *a);
int cmd_enqueue(app_t *a);
int cmd_status(app_t *a);
int cmd_check(app_t *a);
int cmd_reconcile(app_t *a);
int cmd_trace(app_t *a);
int cmd_import(app_t *a);
int cmd_audit(app_t *a);
int cmd_catalog(app_t *a);
int cmd_setup(app_t *a);
int cmd_store(app_t *a);    /* cmd_store.c: `store check` */

/* The start-up integrity check of the configured store (store_check.h): APP_OK, or the exit code with the reason
 * printed and logged (APP_DAMAGED for a damaged or empty store, APP_STORE when it could not be looked at). */
int app_check_store(const cfg_t *cfg);

/* A command of the CLI: its name, entry point and `synchub COMMAND --help` text (main.c's table). */
typedef struct app_cmd {
    const char *name;
    int (*fn)(app_t *);
    const char *help;
} app_cmd_t;

/* The manual pages as roff, generated from the tables --help and `help config` print (cmd_man.c):
 * synchub(1) from the usage text and every command's help, synchub.ini(5) from cfg_reference_each. */
void app_man1(buf_t *out, const char *usage, const app_cmd_t *cmds, size_t ncmds);
void app_man5(buf_t *out);

/* Load a->config_path into a->cfg, printing FILE:LINE errors. APP_OK or APP_USAGE. Also sets up logging. */
int app_load_config(app_t *a);
/* Open the store named in the config (and a connection for this thread). APP_OK or APP_STORE (printed). */
int app_open_store(app_t *a, bool durable, store_db_t **db, store_t **s);
/* The audit log's actor for an operator action from the CLI: "cli:<$USER>", else "cli:uid<N>" (the name passed
 * through as a plain word). Returns out. */
const char *app_actor(char *out, size_t n);
/* Open the store the config names ([store] backend: the SQLite path, or the PostgreSQL url and password).
 * NULL with err. */
store_db_t *app_store_db_open(const cfg_t *cfg, int64_t busy_timeout_ms, err_t *err);
/* Print an error with its four answers to stderr. */
void app_print_err(const err_t *e);

/* Option helpers: if argv[*i] is `name VALUE` or `name=VALUE`, set *val, advance *i and return true. */
bool app_opt_value(int argc, char **argv, int *i, const char *name, const char **val);

/* Test job kinds (test.*), registered when [debug] test_handlers = true. */
int app_register_test_handlers(queue_registry_t *reg);

/* app_breaker.c: a node's circuit breakers, one per remote system cfg names (borrowed for the breaker's life);
 * NULL on allocation failure. */
queue_breaker_t *app_breaker_new(const cfg_t *cfg);

#endif
