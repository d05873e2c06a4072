/* main: synchub's entry point. Separates global options (--config, --json, --help) from the command, loads the
 * config for commands that need it and dispatches. Each command lives in its own cmd_*.c file. */
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/buf.h"
#include "core/log.h"
#include "net/httpc.h"

static const char usage[] =
    "usage: synchub [--config FILE] COMMAND [ARGS]\n"
    "\n"
    "Keeps Odoo in sync with Shopify and logistics systems through a durable job inbox.\n"
    "\n"
    "commands:\n"
    "  serve                   run the HTTP server (webhooks, health) and the workers until SIGTERM\n"
    "  worker                  run the workers and schedulers only (several nodes on PostgreSQL; ops_listen)\n"
    "  check-config            validate the configuration file and exit\n"
    "  check                   preflight against Odoo: version, login, rights, reference data\n"
    "  jobs list|show|retry|discard|replay   inspect and operate on jobs (`synchub jobs --help`)\n"
    "  enqueue                 add a job by hand (`synchub enqueue --help`)\n"
    "  audit                   who retried, discarded, replayed or revealed what, and when\n"
    "  status                  queue depth per state, lag, retries in the last hour, dead jobs\n"
    "  reconcile orders|inventory   find and repair what webhooks and polls missed (`synchub reconcile --help`)\n"
    "  trace SHOP order ID|NAME   what synchub did for one order: deliveries, jobs, Odoo writes, Shopify pushes\n"
    "  import events --source NAME FILE.csv   shipment events from a partner's flat file (docs/events.md)\n"
    "  store check [--full]    check the store for damage (serve and worker do at start)\n"
    "  version                 versions of synchub and its libraries\n"
    "  help config             every configuration key with its default\n"
    "\n"
    "global options:\n"
    "  --config FILE           configuration file (default: $SYNCHUB_CONFIG)\n"
    "  --json                  machine-readable output for listings\n"
    "  -h, --help              this text; `synchub COMMAND --help` for a command\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 store unavailable, 4 store damaged or empty\n";

static int cmd_version(void)
{
    printf("synchub %s\n", SYNCHUB_VERSION);
    printf("  sqlite %s, libmicrohttpd %s, %s, %s, jansson %s\n", sqlite3_libversion(), MHD_get_version(),
           curl_version(), OpenSSL_version(OPENSSL_VERSION), JANSSON_VERSION);
    return APP_OK;
}

int main(int argc, char **argv)
{
    app_t a = {0};
    a.config_path = getenv("SYNCHUB_CONFIG");
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    int nrest = 0;
    bool help = false;
    if (!rest || httpc_global_init() < 0)
        return APP_FAIL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (app_opt_value(argc, argv, &i, "--config", &v))
            a.config_path = v;
        else if (strcmp(argv[i], "--json") == 0)
            a.json = true;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            help = true;
        else
            rest[nrest++] = argv[i];
    }
    int rc = APP_USAGE;
    const char *cmd = nrest > 0 ? rest[0] : NULL;
    a.argc = nrest > 0 ? nrest - 1 : 0;
    a.argv = rest + 1;

    if (!cmd) {
        fputs(usage, help ? stdout : stderr);
        rc = help ? APP_OK : APP_USAGE;
        goto out;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        rc = cmd_version();
        goto out;
    }
    if (strcmp(cmd, "help") == 0) {
        if (a.argc > 0 && strcmp(a.argv[0], "config") == 0) {
            buf_t b = BUF_INIT;
            cfg_print_reference(&b);
            fputs(buf_str(&b), stdout);
            buf_release(&b);
        } else {
            fputs(usage, stdout);
        }
        rc = APP_OK;
        goto out;
    }
    static const struct {
        const char *name;
        int (*fn)(app_t *);
        const char *help;
    } cmds[] = {
        {"serve", cmd_serve,
         "usage: synchub --config FILE serve\n"
         "Runs the HTTP server (POST /webhooks/shopify, POST /events/SOURCE, GET /healthz, GET /readyz) and\n"
         "[server] workers worker\n"
         "threads on the configured store. SIGTERM or SIGINT: stop accepting, answer requests in flight, let\n"
         "running jobs finish within [server] shutdown_grace, exit 0.\n"},
        {"worker", cmd_worker,
         "usage: synchub --config FILE worker\n"
         "Runs [server] workers worker threads and the schedulers, without ingestion: with [store] backend =\n"
         "postgres, `serve` nodes (ingestion) and `worker` nodes (work) share one queue and scale separately.\n"
         "With [server] ops_listen = HOST:PORT it answers GET /metrics, /healthz and /readyz there (nothing else;\n"
         "`serve` ignores ops_listen and answers them on listen), so that a serve and a worker can share one\n"
         "config file on one host. Signals as for serve.\n"},
        {"check-config", cmd_check_config,
         "usage: synchub --config FILE check-config\n"
         "Validates the file (unknown keys, bad values, missing secrets) without starting anything.\n"
         "Exit 0 when valid, 2 with FILE:LINE messages otherwise.\n"},
        {"check", cmd_check,
         "usage: synchub --config FILE check [--json]\n"
         "Connects to the configured Odoo and checks what the order flow needs: reachability and version, login,\n"
         "the integration user's rights (read/create/write on partners, products, sale orders), external-ID\n"
         "lookups, company access, each shop's shipping product and a warehouse; with [source] sections also what\n"
         "logistics events need (stock.picking read/write, mail.activity create, ir.model read).\n"
         "Exit 0 when all pass, 1 otherwise.\n"},
        {"jobs", cmd_jobs,
         "usage: synchub jobs list [--state S] [--kind K] [--limit N] [--json]\n"
         "       synchub jobs show ID [--json]\n"
         "       synchub jobs retry ID | synchub jobs retry --dead [--class transient|configuration|data] [--code C]\n"
         "       synchub jobs discard ID | synchub jobs discard --dead [--class C] [--code C]\n"
         "       synchub jobs replay ID\n"
         "States: queued running retry done dead discarded. ID: the full id or a unique prefix (8+ hex digits).\n"
         "retry: a dead/retry/queued job runs now with a fresh attempt budget. discard: it will not run.\n"
         "replay: a done job runs again (handlers look up what they wrote, so this does not duplicate).\n"
         "retry, discard and replay are written to the audit log as cli:$USER (`synchub audit`).\n"},
        {"enqueue", cmd_enqueue,
         "usage: synchub enqueue --kind K --key KEY --payload FILE|- [--order-key OK] [--event-time ISO8601]\n"
         "                       [--priority N] [--max-attempts N]\n"
         "       synchub enqueue --batch FILE|-   (one JSON object a line: kind, key, payload[, order_key,\n"
         "                       event_time_ms, priority]; one transaction per 500 jobs)\n"
         "Adds one job. The id is derived from kind and KEY, so the same KEY twice gives one job ('duplicate').\n"
         "The ordering key defaults to KEY; jobs of one ordering key run one at a time, oldest event first.\n"},
        {"reconcile", cmd_reconcile,
         "usage: synchub reconcile orders [--shop S] [--since T] [--dry-run] [--json]\n"
         "       synchub reconcile inventory [--shop S] [--dry-run] [--all] [--json]\n"
         "orders: list the Shopify orders updated since T (ISO 8601, or a duration back from now such as 36h;\n"
         "default: the shop's reconcile_window) and enqueue an order job for each one Odoo lacks or has in an\n"
         "older version; the workers of `serve` fetch and apply them. serve also runs this every\n"
         "reconcile_interval.\n"
         "inventory: compare every mapped SKU's Odoo quantity (free = on hand - reserved) with Shopify's available\n"
         "at each mapped location, print the differences (--all: every level) and correct them through the same\n"
         "batched, idempotent path as the stock poller. --dry-run: print only. Shopify levels whose SKU no Odoo\n"
         "product has are reported, never changed.\n"
         "Without --shop: every shop with an admin_token (and, for inventory, locations).\n"
         "Exit 0; 1 when a shop or a level failed (each failure printed with its fix); 2 usage.\n"},
        {"audit", cmd_audit,
         "usage: synchub audit [--limit N] [--json]\n"
         "The operator actions, newest first: retry, discard, replay (single and by cause) and reveals of customer\n"
         "data, each with who (token:NAME from the dashboard, cli:USER from this CLI), when and on what.\n"},
        {"store", cmd_store,
         "usage: synchub --config FILE store check [--full]\n"
         "Checks the configured store for damage without changing it. SQLite: PRAGMA quick_check (every page;\n"
         "--full: integrity_check, every index entry too), and an existing but empty (0-byte) file is refused.\n"
         "PostgreSQL: every table of the store read through, and amcheck on its indexes when installed.\n"
         "serve and worker run the quick check at start and refuse a damaged or empty store.\n"
         "Exit 0 when intact, 4 when damaged or empty, 3 when the store could not be looked at.\n"},
        {"status", cmd_status,
         "usage: synchub status [--json]\n"
         "Jobs per state, age of the oldest queued job, retries in the last hour, dead jobs.\n"},
        {"trace", cmd_trace,
         "usage: synchub trace SHOP order ID|NAME [--json]\n"
         "The story of one Shopify order (numeric id, or name such as #1042): the webhook deliveries received\n"
         "(and how many duplicates were refused), every job and attempt with its error, the Odoo records written\n"
         "(model, id, external ID), what was sent back to Shopify (fulfillments, tracking) and the stock pushes of\n"
         "the order's SKUs since it arrived, one line per event in time order (ISO 8601 UTC). --json: the same as\n"
         "JSON. Kept as long as the jobs (the store's retention). Exit 0; 1 when synchub knows no such order.\n"},
        {"import", cmd_import,
         "usage: synchub import events --source NAME FILE.csv [--json]\n"
         "Reads shipment events from a CSV file (header row = column names; '-' reads stdin) through [source NAME]'s\n"
         "mapping (map.* = a column name, or /column) and validation, and stores each valid row as the same job a\n"
         "POST /events/NAME of that event would create (one job per event id, however often it is imported or\n"
         "posted). Prints one line per row (accepted, duplicate, or rejected with every problem; row = the line\n"
         "where the record starts) and the totals; --json: the same as JSON. Accepted rows are committed durably.\n"
         "Exit 0; 1 when a row was rejected; 2 usage; 3 store unavailable.\n"},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(cmd, cmds[i].name) != 0)
            continue;
        if (help) {
            fputs(cmds[i].help, stdout);
            rc = APP_OK;
            goto out;
        }
        rc = app_load_config(&a);
        if (rc == APP_OK)
            rc = cmds[i].fn(&a);
        goto out;
    }
    fprintf(stderr, "synchub: unknown command '%s'\n\n%s", cmd, usage);
out:
    cfg_free(a.cfg);
    free(rest);
    return rc;
}
