#!/usr/bin/env bash
# End-to-end demo (`make demo`): starts the Odoo and Shopify emulators and `synchub serve` on free loopback ports in a
# temp dir, sends the Shopify fixtures as signed webhooks and shows the sale order they make in Odoo, duplicates and
# rejected deliveries, the retry / dead-letter cycle with test jobs, then the Shopify connector: stock Odoo -> Shopify,
# a validated Odoo delivery becoming a Shopify fulfillment, `synchub reconcile inventory` fixing drift and
# `synchub reconcile orders` finding an order no webhook announced; carrier milestones (POST /events) on the Odoo
# delivery, shuffled and repeated; the operator's view (trace, /metrics, the dashboard's API, the audit log); and a
# clean SIGTERM shutdown. Each of those steps
# waits for its expected state and stops the demo (exit 1, with the reason) when it is not reached in time. It does not
# build synchub (the Makefile does), reach any real Odoo or Shopify, or leave anything behind; secrets are never
# printed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SYNCHUB_BIN:-$root/build/synchub}
fixtures=${SYNCHUB_FIXTURES:-$root/../shared/fixtures/shopify}
shop=acme-outfitters.myshopify.com

if [ -t 1 ]; then B=$'\e[1m'; D=$'\e[2m'; R=$'\e[0m'; else B=""; D=""; R=""; fi
step_no=0
step_title=""
step() { step_no=$((step_no + 1)); step_title=$*; printf '\n%s== %d. %s ==%s\n' "$B" "$step_no" "$*" "$R"; }
say() { printf '%s\n' "$*"; }
# Show a command (the binary as plain "synchub", temp paths relative), then run it. Never used with the secret.
run() {
    local shown=("$@")
    [ "${shown[0]}" = "$bin" ] && shown[0]=synchub
    printf '%s$ %s%s\n' "$D" "${shown[*]//$tmp\//}" "$R"
    "$@"
}
die() { echo "demo: $*" >&2; exit 1; }

[ -x "$bin" ] || die "no synchub binary at $bin: build it first (make), or set SYNCHUB_BIN"
[ -d "$fixtures" ] || die "no fixtures at $fixtures: set SYNCHUB_FIXTURES"
for tool in curl openssl python3 base64; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: run scripts/install-deps"
done

case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
case "$fixtures" in /*) ;; *) fixtures="$PWD/$fixtures" ;; esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/synchub-demo.XXXXXX")
serve_pid=""
sim_pid=""
shopify_pid=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
        kill -TERM "$serve_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
    fi
    local pid
    for pid in "$sim_pid" "$shopify_pid"; do
        if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    done
    if [ "$rc" -ne 0 ] && [ -s "$tmp/serve.log" ]; then
        echo "demo: failed (exit $rc); last lines of the serve log:" >&2
        tail -n 15 "$tmp/serve.log" >&2
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$tmp"   # so the commands shown below are the ones you could type

surprises=0
expect() {  # WHAT EXPECTED ACTUAL
    if [ "$2" != "$3" ]; then
        say "   !! expected $2 for $1, got $3"
        surprises=$((surprises + 1))
    fi
}

# JSON helper: read a JSON document on stdin, print the Python expression EXPR evaluated with d = document.
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); v=eval(sys.argv[1]); print("" if v is None else v)' "$1"; }

new_id() { python3 -c 'import uuid; print(uuid.uuid4())'; }

# The emulators' test APIs. http_get URL [curl args] / http_post URL JSON: print the answer; stop the demo on an error.
http_get() { local url=$1; shift; curl -fsS --max-time 10 -G "$url" "$@" || die "step $step_no: GET $url failed"; }
http_post() {
    curl -fsS --max-time 10 -H 'Content-Type: application/json' --data-binary "$2" "$1" ||
        die "step $step_no: POST $1 failed (body: $2)"
}
# odoo_exec JSON: POST /__sim__/exec on the Odoo emulator (as Odoo's admin, as a person in Odoo's UI); prints the result.
odoo_exec() { http_post "$odoo_url/__sim__/exec" "$1" | jget 'json.dumps(d["result"])'; }

now_ms() { date +%s%3N; }
# wait_for WHAT SECONDS COMMAND...: run COMMAND every 0.3 s until it succeeds; it may set $seen (what it last saw).
# Not reached in time: the demo stops here with exit 1, naming the step, WHAT and $seen. Sets $waited (seconds).
wait_for() {
    local what=$1 secs=$2 start end
    shift 2
    seen=""
    start=$(now_ms)
    end=$((start + secs * 1000))
    until "$@"; do
        [ "$(now_ms)" -lt "$end" ] ||
            die "step $step_no ($step_title): $what: not reached within $secs s${seen:+ (last seen: $seen)}"
        sleep 0.3
    done
    waited=$(python3 -c 'import sys; print("%.1f" % ((int(sys.argv[2]) - int(sys.argv[1])) / 1000))' "$start" "$(now_ms)")
}

# ---------------------------------------------------------------------------------------------------------------
step "Start the Odoo emulator (tests/sim/odoo_sim.py: Odoo 18's external API, backed by SQLite)"
sim="$root/tests/sim/odoo_sim.py"
[ -r "$sim" ] || die "no Odoo emulator at $sim"
python3 "$sim" --port 0 --seed >"$tmp/odoo.ready" 2>"$tmp/odoo.log" &
sim_pid=$!
for i in $(seq 1 100); do
    [ -s "$tmp/odoo.ready" ] && break
    kill -0 "$sim_pid" 2>/dev/null || die "the Odoo emulator exited during start-up: $(tail -3 "$tmp/odoo.log")"
    sleep 0.1
done
odoo_url=$(head -1 "$tmp/odoo.ready" | jget 'd["url"]')
odoo_key=$(head -1 "$tmp/odoo.ready" | jget 'd["sync"]["api_key"]')
say "Odoo emulator on $odoo_url: database acme, integration user 'sync' (Sales + Inventory user rights only),"
say "products ACME-TEE-BLK-M, ACME-MUG-350, ACME-CAP-NVY and the shipping service product SHIP-STD."

# odoo_orders: print the sale orders Odoo holds, one line each (read through the emulator's inspection endpoint).
odoo_orders() {
    curl -s "$odoo_url/__sim__/records/sale.order" | python3 -c '
import json, sys
for o in sorted(json.load(sys.stdin), key=lambda o: o["name"]):
    print("   %s  state=%-7s ref=%s  customer=%s  lines=%d  total=%s" % (o["name"], o["state"],
          o["client_order_ref"], o["partner_id"][1], len(o["order_line"]), o["amount_total"]))
'
}
odoo_state() { curl -s "$odoo_url/__sim__/records/sale.order" | jget '",".join(o["state"] for o in d)'; }
# odoo_records MODEL DOMAIN FIELDS: the records (JSON list) through the emulator's inspection endpoint.
odoo_records() {
    http_get "$odoo_url/__sim__/records/$1" --data-urlencode "domain=$2" --data-urlencode "fields=$3"
}
stock_loc=$(odoo_records stock.location '[["complete_name", "=", "WH/Stock"]]' '["id"]' | jget 'd[0]["id"]')
# odoo_stock SKU: "ON_HAND RESERVED FREE" over Odoo's WH/Stock tree (free = on hand - reserved, what synchub publishes).
odoo_stock() {
    odoo_records stock.quant "[[\"product_id.default_code\", \"=\", \"$1\"], [\"location_id\", \"child_of\", [$stock_loc]]]" \
        '["quantity", "reserved_quantity"]' | python3 -c '
import json, math, sys
rows = json.load(sys.stdin)
q, r = sum(x["quantity"] for x in rows), sum(x["reserved_quantity"] for x in rows)
print("%g %g %d" % (q, r, max(0, math.floor(q - r))))'
}
odoo_free() { local s; s=$(odoo_stock "$1") && echo "${s##* }"; }

# ---------------------------------------------------------------------------------------------------------------
step "Start the Shopify emulator (tests/sim/shopify_sim.py: Shopify's GraphQL Admin API, in memory)"
shopify_sim="$root/tests/sim/shopify_sim.py"
[ -r "$shopify_sim" ] || die "no Shopify emulator at $shopify_sim"
python3 "$shopify_sim" --port 0 --orders --fixtures "$fixtures" >"$tmp/shopify.ready" 2>"$tmp/shopify.log" &
shopify_pid=$!
for i in $(seq 1 100); do
    [ -s "$tmp/shopify.ready" ] && break
    kill -0 "$shopify_pid" 2>/dev/null || die "the Shopify emulator exited during start-up: $(tail -3 "$tmp/shopify.log")"
    [ "$i" -lt 100 ] || die "the Shopify emulator printed no ready line within 10 s"
    sleep 0.1
done
shopify_url=$(head -1 "$tmp/shopify.ready" | jget 'd["url"]')
shopify_token=$(head -1 "$tmp/shopify.ready" | jget 'd["token"]')
shopify_app_secret=$(head -1 "$tmp/shopify.ready" | jget 'd["webhook_secret"]')   # signs its deliveries
main_loc=71263993878       # the seeded "Main warehouse", Shopify's primary location
sku=ACME-TEE-BLK-M         # the SKU the stock steps follow
# shopify_avail SKU: Shopify's available quantity at Main warehouse.
shopify_avail() {
    http_get "$shopify_url/__sim__/inventory" --data-urlencode "sku=$1" --data-urlencode "location_id=$main_loc" |
        jget 'd["inventory"][0]["available"] if d["inventory"] else "not stocked"'
}
# shopify_order NAME: the emulator's order summary (JSON) with that name.
shopify_order() { http_get "$shopify_url/__sim__/orders" | jget "json.dumps(next(o for o in d['orders'] if o['name'] == '$1'))"; }
say "Shopify emulator on $shopify_url: shop $shop (Admin API 2026-10),"
say "locations Main warehouse ($main_loc) and Downtown store, the same three SKUs, and orders #1042 (the"
say "fixtures' order), #1043 and #1044."
before_odoo=$(odoo_stock "$sku")
before_shopify=$(shopify_avail "$sku")
read -r b_on b_res b_free <<<"$before_odoo"
say "Before synchub runs, $sku: Odoo WH/Stock on hand $b_on, reserved $b_res, free $b_free;"
say "Shopify Main warehouse available $before_shopify."

step "Configure, set the shop up with one command (synchub setup shopify), start synchub serve"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
# The shop's webhooks are signed with the app's client secret: the emulator's (its subscriptions deliver to synchub).
secret=$shopify_app_secret
events_secret="ups-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
operator_token="op-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
cfg="$tmp/synchub.ini"
# scripts/demo.ini with this run's values (string.Template: ${name} from the environment).
port=$port public_url=http://127.0.0.1:$port shop=$shop secret=$secret shopify_token=$shopify_token shopify_url=$shopify_url main_loc=$main_loc \
    odoo_url=$odoo_url odoo_key=$odoo_key events_secret=$events_secret operator_token=$operator_token \
    python3 -c 'import os, string, sys; print("; written by scripts/demo.sh from scripts/demo.ini\n" +
    string.Template(open(sys.argv[1]).read()).substitute(os.environ), end="")' "$root/scripts/demo.ini" >"$cfg"
chmod 600 "$cfg"
say "config (secret redacted):"
sed -e 's/^\(webhook_secret *= *\).*/\1<the app'"'"'s client secret, not shown>/' -e 's/^\(api_key *= *\).*/\1<not shown>/' \
    -e 's/^\(admin_token *= *\).*/\1<not shown>/' -e 's/^\(secret *= *\).*/\1<random, not shown>/' \
    -e 's/^\(token *= *\).*/\1<random, not shown>/' -e '/^;/d' -e '/^$/d' "$cfg" | sed 's/^/   /'
say "admin_token/admin_url: the Shopify emulator's Admin API; locations: Odoo's WH/Stock is Shopify's Main warehouse;"
say "stock and fulfillment polls every 2 s; no scheduled order reconciliation (it is run by hand below)."
say "public_url: where Shopify delivers webhooks. One command subscribes every topic the flows need through the"
say "Admin API (no clicking in Shopify's admin); serve re-checks them every subscriptions_interval:"
run "$bin" setup shopify --config "$cfg" || die "step $step_no ($step_title): setup shopify failed (exit $?)"
n_subs=$(http_get "$shopify_url/__sim__/webhooks/subscriptions" |
    jget 'len([s for s in d["subscriptions"] if s.get("api")])')
expect "webhook subscriptions in the shop" 4 "$n_subs"
run "$bin" check-config --config "$cfg"
say
say "Preflight against Odoo and the shop: version, login, rights, reference data, webhook subscriptions."
run "$bin" check --config "$cfg"
say
say "The integration catalog of this config (flows, triggers, owners, findings; the full page: synchub catalog):"
"$bin" catalog --config "$cfg" | grep -E '^(flow |findings)|^  (trigger|owner) |^  [a-z-]+:[^ ]+: ' | sed 's/^/   /'

"$bin" serve --config "$cfg" >"$tmp/serve.log" 2>&1 &
serve_pid=$!
base="http://127.0.0.1:$port"
for i in $(seq 1 100); do
    kill -0 "$serve_pid" 2>/dev/null || die "synchub serve exited during start-up"
    if curl -fs --max-time 1 "$base/healthz" >"$tmp/healthz" 2>/dev/null; then break; fi
    [ "$i" -lt 100 ] || die "synchub serve did not answer /healthz within 10 s"
    sleep 0.1
done
say "synchub serve is up on port $port (pid $serve_pid): GET /healthz -> $(cat "$tmp/healthz")"

# ---------------------------------------------------------------------------------------------------------------
# send TOPIC FILE EVENT_ID [KEY]: POST FILE as a Shopify webhook signed with KEY (default: the configured secret).
# Prints one line: topic, HTTP status, answer. Leaves the status in $code and the answer in $answer.
send() {
    local topic=$1 file=$2 event_id=$3 key=${4:-$secret} sig
    sig=$(openssl dgst -sha256 -hmac "$key" -binary <"$file" | base64)
    code=$(curl -s -o "$tmp/answer" -w '%{http_code}' -X POST "$base/webhooks/shopify" \
        -H 'Content-Type: application/json' \
        -H "X-Shopify-Topic: $topic" \
        -H "X-Shopify-Shop-Domain: $shop" \
        -H "X-Shopify-Hmac-Sha256: $sig" \
        -H "X-Shopify-Webhook-Id: $(new_id)" \
        -H "X-Shopify-Event-Id: $event_id" \
        -H "X-Shopify-Triggered-At: $(date -u +%Y-%m-%dT%H:%M:%S.000Z)" \
        -H 'X-Shopify-API-Version: 2025-10' \
        --data-binary @"$file")
    answer=$(cat "$tmp/answer")
    printf '   %-26s -> HTTP %s %s\n' "$topic" "$code" "$answer"
}

job_state() { "$bin" jobs show "$1" --config "$cfg" --json | jget 'd["state"]'; }
wait_state() {  # ID STATE SECONDS: poll until the job is in STATE or the time is up (expect reports the outcome)
    local end=$((SECONDS + $3))
    while [ "$SECONDS" -le "$end" ]; do
        [ "$(job_state "$1" 2>/dev/null || true)" = "$2" ] && return 0
        sleep 0.3
    done
    return 0
}
job_is() { seen=$(job_state "$1" 2>/dev/null || true); [ "$seen" = "$2" ]; }
shopify_is() { seen=$(shopify_avail "$1"); [ "$seen" = "$2" ]; }
stock_agrees() {  # SKU...: Shopify's available = Odoo's free quantity for each
    local s o a rc=0
    seen=""
    for s in "$@"; do
        o=$(odoo_free "$s") || o="?"
        a=$(shopify_avail "$s") || a="?"
        seen="$seen${seen:+, }$s Odoo $o / Shopify $a"
        [ "$o" = "$a" ] || rc=1
    done
    return $rc
}
stock_table() {  # SKU...: one line each, Odoo's figures and Shopify's
    local s on res free
    printf '   %-16s %-32s %s\n' SKU "Odoo on hand / reserved / free" "Shopify available"
    for s in "$@"; do
        read -r on res free <<<"$(odoo_stock "$s")"
        printf '   %-16s %-32s %s\n' "$s" "$on / $res / $free" "$(shopify_avail "$s")"
    done
}

step "A paid Shopify order arrives: orders/create, signed"
say "The body is signed with HMAC-SHA256 (openssl dgst -sha256 -hmac ... | base64), as Shopify does."
say "200 \"stored\" means the job was committed to disk (fsync) before the answer. A worker then fetches the order"
say "as Shopify has it now (Admin API; the emulator holds #1042 too) and writes that to Odoo."
order_id=$(jget 'd["id"]' <"$fixtures/orders_create.json")
order_name=$(jget 'd["name"]' <"$fixtures/orders_create.json")
order_event=$(new_id)
send orders/create "$fixtures/orders_create.json" "$order_event"
expect "orders/create" 200 "$code"
order_job=$(printf '%s' "$answer" | jget 'd["job"]')
wait_state "$order_job" done 20
expect "the order job" done "$(job_state "$order_job")"
say "Odoo now holds (customer, delivery address, 3 product lines + shipping, confirmed because it is paid):"
odoo_orders
expect "the Odoo sale order" sale "$(odoo_state)"
wait_for "Shopify's available for $sku following Odoo's reservation" 15 stock_agrees "$sku"
read -r c_on c_res c_free <<<"$(odoo_stock "$sku")"
c_avail=$(shopify_avail "$sku")
c_step=$step_no
say "Confirming it reserved stock in Odoo: $sku on hand $c_on, reserved $c_res, free $c_free. The stock poll"
say "(every 2 s) published that to Shopify: available $c_avail (more on stock below)."

step "Every other fixture as a webhook (the order is updated, then cancelled; fulfillment, stock, product)"
# The workers apply the order as Shopify has it, so the changes the fixtures announce are first made in Shopify.
upd_note=$(jget 'd["note"]' <"$fixtures/orders_updated.json")
upd_tags=$(jget 'd["tags"]' <"$fixtures/orders_updated.json")
cancel_reason=$(jget 'd["cancel_reason"]' <"$fixtures/orders_cancelled.json")
say "In Shopify, $order_name gets the note \"$upd_note\" and the tag \"$upd_tags\", then is cancelled ($cancel_reason)"
say "(the emulator's test API plays the merchant); the webhooks announcing that, and the other fixtures, follow:"
http_post "$shopify_url/__sim__/orders/$order_id" \
    "$(python3 -c 'import json,sys; print(json.dumps({"note": sys.argv[1], "tags": sys.argv[2]}))' "$upd_note" "$upd_tags")" >/dev/null
http_post "$shopify_url/__sim__/orders/$order_id" "{\"cancel\": {\"reason\": \"$cancel_reason\"}}" >/dev/null
for f in "$fixtures"/*.json; do
    name=$(basename "$f" .json)
    topic="${name%_*}/${name##*_}"            # orders_create -> orders/create, inventory_levels_update -> inventory_levels/update
    [ "$topic" = orders/create ] && continue
    send "$topic" "$f" "$(new_id)"
    expect "$topic" 200 "$code"
done

step "Shopify redelivers orders/create (same X-Shopify-Event-Id)"
say "A redelivery or a duplicate subscription carries the same event id: it collapses onto the stored job."
send orders/create "$fixtures/orders_create.json" "$order_event"
expect "the redelivery" 200 "$code"
expect "the redelivery's answer" duplicate "$(printf '%s' "$answer" | jget 'd.get("status")' 2>/dev/null || true)"

step "A forged delivery (signed with the wrong secret)"
send orders/create "$fixtures/orders_create.json" "$(new_id)" "not-the-secret"
expect "the forged delivery" 401 "$code"

step "A delivery with malformed JSON (correctly signed)"
printf '{"id": 6150327861270, "name": "#1042",' >"$tmp/broken.json"
send orders/create "$tmp/broken.json" "$(new_id)"
expect "the malformed delivery" 400 "$code"

# ---------------------------------------------------------------------------------------------------------------
step "Enqueue two test jobs from the CLI"
say "test.flaky fails twice with a transient error, then succeeds (backoff 200ms..1s in this config)."
printf '{"fail_times": 2, "class": "transient"}\n' >"$tmp/flaky.json"
run "$bin" enqueue --config "$cfg" --kind test.flaky --key demo-flaky --payload "$tmp/flaky.json" | tee "$tmp/flaky.out"
flaky_id=$(awk '/^(enqueued|duplicate) /{print $2}' "$tmp/flaky.out")
needed="$tmp/needed-by-demo.txt"
say "test.needs_file fails with a configuration error until $(basename "$needed") exists (it does not yet)."
printf '{"path": "%s"}\n' "$needed" >"$tmp/needs.json"
run "$bin" enqueue --config "$cfg" --kind test.needs_file --key demo-needs-file --payload "$tmp/needs.json" | tee "$tmp/needs.out"
needs_id=$(awk '/^(enqueued|duplicate) /{print $2}' "$tmp/needs.out")
if [ -z "$flaky_id" ] || [ -z "$needs_id" ]; then die "enqueue did not print 'enqueued <id>'"; fi

step "Let the workers run for a few seconds"
wait_state "$flaky_id" "done" 15
expect "test.flaky" "done" "$(job_state "$flaky_id")"
wait_state "$needs_id" "dead" 10
expect "test.needs_file" "dead" "$(job_state "$needs_id")"
order_jobs_settled() {  # every shopify.order job done or dead
    seen=$("$bin" jobs list --config "$cfg" --kind shopify.order --json |
        jget '",".join(sorted(set(j["state"] for j in d)))')
    [ -n "$seen" ] && [ -z "$(printf '%s' "$seen" | tr ',' '\n' | grep -v -x -e done -e dead)" ]
}
wait_for "every order job finished" 20 order_jobs_settled
printf '%s$ synchub jobs list --config synchub.ini | grep -v '"'"'\.poll '"'"'%s\n' "$D" "$R"
"$bin" jobs list --config "$cfg" | grep -v '\.poll '
say "(the stock.poll and fulfillment.poll jobs the scheduler adds every 2 s are left out of this listing)"
say
say "The three order events ran one at a time (one ordering key), each applying $order_name as Shopify has it when"
say "it runs: the order is cancelled there, so it is cancelled in Odoo; a later event has nothing left to apply."
say "The fulfillments/create, inventory_levels/update and products/update jobs are dead with a configuration error:"
say "this build has no handler for them. Odoo owns stock and shipping, so those go from Odoo to Shopify (the polls,"
say "shown below), not from these webhooks. The webhooks stay safe in the store; a build that handles them runs them"
say "with 'synchub jobs retry --dead --class configuration'."
say "test.flaky shows 3 attempts: two transient failures retried with backoff, then success."
say
say "Odoo after the whole order history (the cancellation reached the confirmed sale order):"
odoo_orders
expect "the Odoo sale order after orders/cancelled" cancel "$(odoo_state)"

# ---------------------------------------------------------------------------------------------------------------
step "Why is the test.needs_file job dead?"
run "$bin" jobs show "$needs_id" --config "$cfg"
"$bin" jobs show "$needs_id" --config "$cfg" --json >"$tmp/needs-show.json"
say
say "Its four answers, from the job's last error:"
python3 - "$tmp/needs-show.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
e = d.get("last_error") or {}
print(f"   what went wrong : [{e.get('class')}/{e.get('code')}] {e.get('message')}")
print(f"   which record    : {e.get('record')}")
print(f"   what to do      : {e.get('hint')}")
print(f"   safe to retry?  : {'yes' if e.get('retry_safe') else 'no'}")
PY

step "Fix the cause, then retry the job"
run touch "$needed"
run "$bin" jobs retry "$needs_id" --config "$cfg"
wait_state "$needs_id" "done" 10
expect "test.needs_file after the retry" "done" "$(job_state "$needs_id")"
run "$bin" jobs list --config "$cfg" --kind test.needs_file

# ---------------------------------------------------------------------------------------------------------------
# The Shopify connector: stock and fulfillments from Odoo to Shopify, and the reconciliations. Each step waits for
# the state it describes and stops the demo (wait_for) when that is not reached in time.
step "Stock, Odoo -> Shopify: the stock poll publishes Odoo's free quantity as Shopify's available"
wait_for "Shopify's available for $sku equal to Odoo's free quantity" 15 stock_agrees "$sku"
read -r n_on n_res n_free <<<"$(odoo_stock "$sku")"
n_avail=$(shopify_avail "$sku")
item_gid=$(http_get "$shopify_url/__sim__/inventory" --data-urlencode "sku=$sku" --data-urlencode "location_id=$main_loc" |
    jget 'd["inventory"][0]["inventory_item_gid"]')
pushed=$(http_get "$shopify_url/__sim__/calls" --data-urlencode field=inventorySetQuantities | python3 -c '
import json, sys
sets = []
for c in json.load(sys.stdin)["calls"]:
    if c.get("status") != 200 or c.get("throttled") or c.get("errors") or c.get("user_errors") or c.get("idempotent_replay"):
        continue   # not applied
    sets += [str(q["quantity"]) for q in c["variables"]["input"]["quantities"] if q["inventoryItemId"] == sys.argv[1]]
print(", ".join(sets) or "none")' "$item_gid")
stale=$(http_get "$shopify_url/__sim__/calls" --data-urlencode field=inventorySetQuantities |
    jget 'sum("CHANGE_FROM_QUANTITY_STALE" in (c.get("user_errors") or []) for c in d["calls"])')
printf '   %-28s %-32s %s\n' "$sku" "Odoo on hand / reserved / free" "Shopify available"
printf '   %-28s %-32s %s\n' "before synchub started" "$b_on / $b_res / $b_free" "$before_shopify"
printf '   %-28s %-32s %s\n' "$order_name confirmed (step $c_step)" "$c_on / $c_res / $c_free" "$c_avail"
printf '   %-28s %-32s %s\n' "$order_name cancelled (now)" "$n_on / $n_res / $n_free" "$n_avail"
say "synchub's pushes of this level (the emulator's log of applied inventorySetQuantities): $pushed."
say "The first poll ran at start-up and put Odoo's free quantity over Shopify's $before_shopify; the next ones followed"
say "Odoo's reservation for $order_name and its release. Shopify restocked the cancelled order itself, too."
if [ "$stale" -gt 0 ]; then
    say "So synchub's push of the release found Shopify already there: its compare-and-swap failed (stale), synchub"
    say "re-read the level and had nothing left to change ($stale stale compare(s) in the log)."
fi
new_on=$(( ${n_on%.*} + 15 ))
say
say "A goods receipt in Odoo: $sku on hand $n_on -> $new_on (POST /__sim__/stock, Odoo's inventory adjustment)."
http_post "$odoo_url/__sim__/stock" \
    "{\"changes\": [{\"default_code\": \"$sku\", \"location_id\": $stock_loc, \"quantity\": $new_on}]}" >/dev/null
want=$(odoo_free "$sku")
wait_for "Shopify's available for $sku following Odoo's free $want" 15 shopify_is "$sku" "$want"
say "Shopify followed $waited s later: available $want (Odoo: free $want)."

# ---------------------------------------------------------------------------------------------------------------
step "Fulfillment, Odoo -> Shopify: a delivery validated in Odoo becomes a Shopify fulfillment with tracking"
ship_name="#1043"
ship_order=$(shopify_order "$ship_name")
ship_id=$(jget 'd["id"]' <<<"$ship_order")
ship_lines=$(jget '", ".join("%d x %s" % (l["quantity"], l["sku"]) for l in d["line_items"])' <<<"$ship_order")
say "$order_name is cancelled, so the emulator's next paid order ships: $ship_name ($ship_lines). Its"
say "orders/create webhook (body: the emulator's REST form of the order) makes the sale order first:"
http_get "$shopify_url/__sim__/orders/$ship_id" >"$tmp/order-$ship_id.json"
send orders/create "$tmp/order-$ship_id.json" "$(new_id)"
[ "$code" = 200 ] || die "step $step_no ($step_title): orders/create of $ship_name answered HTTP $code"
ship_job=$(jget 'd["job"]' <<<"$answer")
wait_for "the order job of $ship_name done" 20 job_is "$ship_job" done
so=$(odoo_records sale.order "[[\"client_order_ref\", \"=\", \"$ship_name\"]]" '["id", "name", "state"]')
[ "$(jget 'len(d)' <<<"$so")" = 1 ] || die "step $step_no ($step_title): no single Odoo sale order for $ship_name: $so"
so_id=$(jget 'd[0]["id"]' <<<"$so")
pick=$(odoo_records stock.picking "[[\"sale_id\", \"=\", $so_id], [\"picking_type_code\", \"=\", \"outgoing\"]]" \
    '["id", "name", "state"]')
pick_id=$(jget 'd[0]["id"]' <<<"$pick")
pick_name=$(jget 'd[0]["name"]' <<<"$pick")
say "   Odoo: $(jget 'd[0]["name"]' <<<"$so") ($(jget 'd[0]["state"]' <<<"$so")), delivery $pick_name ($(jget 'd[0]["state"]' <<<"$pick"))"
tracking=1Z999AA10123456784
url_template='https://www.ups.com/track?loc=en_US&tracknum=<shipmenttrackingnumber>'
ship_product=$(odoo_records product.product '[["default_code", "=", "SHIP-STD"]]' '["id"]' | jget 'd[0]["id"]')
say "The warehouse ships it (in Odoo, through the emulator's /__sim__/exec): carrier UPS with its tracking link,"
say "tracking reference $tracking on $pick_name, then Validate."
carrier=$(odoo_exec "{\"model\": \"delivery.carrier\", \"method\": \"create\", \"args\": [{\"name\": \"UPS\",
    \"product_id\": $ship_product, \"delivery_type\": \"fixed\", \"tracking_url\": \"$url_template\"}]}")
odoo_exec "{\"model\": \"stock.picking\", \"method\": \"write\", \"args\": [[$pick_id],
    {\"carrier_id\": $carrier, \"carrier_tracking_ref\": \"$tracking\"}]}" >/dev/null
odoo_exec "{\"model\": \"stock.picking\", \"method\": \"button_validate\", \"args\": [[$pick_id]],
    \"context\": {\"skip_backorder\": true}}" >/dev/null
pick_state=$(odoo_records stock.picking "[[\"id\", \"=\", $pick_id]]" '["state"]' | jget 'd[0]["state"]')
[ "$pick_state" = done ] || die "step $step_no ($step_title): $pick_name did not validate (state $pick_state)"
say "   Odoo: $pick_name done"
fulfilled() {
    seen=$(http_get "$shopify_url/__sim__/fulfillments" |
        jget "'%d fulfillment(s) of $ship_name' % len([f for f in d['fulfillments'] if f['order_id'] == $ship_id])")
    [ "${seen%% *}" -ge 1 ] 2>/dev/null
}
wait_for "a Shopify fulfillment of $ship_name" 20 fulfilled
say "Shopify, $waited s later (fulfillment.poll found the done delivery, fulfillment.push created this):"
http_get "$shopify_url/__sim__/fulfillments" >"$tmp/fulfillments.json"
shopify_order "$ship_name" >"$tmp/ship-order.json"
python3 - "$tmp/fulfillments.json" "$tmp/ship-order.json" "$tracking" <<'PY' || die "step $step_no ($step_title): the fulfillment is not as expected"
import json, sys
order = json.load(open(sys.argv[2]))
fs = [f for f in json.load(open(sys.argv[1]))["fulfillments"] if f["order_id"] == order["id"]]
sku = {li["id"]: li["sku"] for li in order["line_items"]}
for f in fs:
    lines = ", ".join("%d x %s" % (x["quantity"], sku[x["line_item_id"]]) for x in f["line_items"])
    print("   fulfillment %s  %s  %s" % (f["name"], f["status"], lines))
    for t in f["tracking"]:
        print("   tracking    %s %s  %s" % (t["company"], t["number"], t["url"]))
print("   order %s: %s, fulfillment order %s" % (order["name"], order["fulfillment_status"],
                                               ", ".join(fo["status"] for fo in order["fulfillment_orders"])))
ok = len(fs) == 1 and [t["number"] for t in fs[0]["tracking"]] == [sys.argv[3]]
sys.exit(0 if ok else 1)
PY

# ---------------------------------------------------------------------------------------------------------------
step "Drift: Shopify changed behind synchub's back; synchub reconcile inventory finds and fixes it"
all_skus=(ACME-TEE-BLK-M ACME-MUG-350 ACME-CAP-NVY)
wait_for "stock at rest (Shopify's available = Odoo's free for every SKU)" 15 stock_agrees "${all_skus[@]}"
cur=$(shopify_avail "$sku")
drift=$(( cur >= 7 ? cur - 7 : cur + 7 ))
odoo_now=$(odoo_free "$sku")
http_post "$shopify_url/__sim__/inventory" "{\"sku\": \"$sku\", \"location_id\": $main_loc, \"available\": $drift}" >/dev/null
say "Someone sets $sku to $drift in Shopify's admin (POST /__sim__/inventory); Odoo's free quantity is $odoo_now."
say "Nothing changed in Odoo, so the stock poll has nothing to send. The reconciliation compares every mapped level:"
run "$bin" reconcile inventory --dry-run --config "$cfg" || die "step $step_no ($step_title): the dry run failed (exit $?)"
after_dry=$(shopify_avail "$sku")
[ "$after_dry" = "$drift" ] || die "step $step_no ($step_title): Shopify changed during the dry run ($drift -> $after_dry)"
run "$bin" reconcile inventory --config "$cfg" || die "step $step_no ($step_title): reconcile inventory failed (exit $?)"
fixed=$(shopify_avail "$sku")
odoo_now=$(odoo_free "$sku")
[ "$fixed" = "$odoo_now" ] ||
    die "step $step_no ($step_title): after reconcile inventory Shopify has $fixed for $sku, Odoo $odoo_now"
say "Shopify now: $sku available $fixed, Odoo's free quantity again."

# ---------------------------------------------------------------------------------------------------------------
step "A missed order: made in Shopify without a webhook; synchub reconcile orders finds it"
missed=$(http_post "$shopify_url/__sim__/orders" '{"lines": [{"sku": "ACME-CAP-NVY", "quantity": 2, "price": "18.00"},
    {"sku": "ACME-TEE-BLK-M", "quantity": 1, "price": "24.00"}], "emit": false}')
missed_name=$(jget 'd["name"]' <<<"$missed")
missed_what=$(jget '"%s, %s, %s" % (d["customer"]["first_name"] + " " + d["customer"]["last_name"],
    ", ".join("%d x %s" % (l["quantity"], l["sku"]) for l in d["line_items"]), d["financial_status"])' <<<"$missed")
say "New in Shopify: $missed_name ($missed_what)."
say "No webhook reaches synchub (\"emit\": false here; in real life a lost delivery or a missing subscription),"
say "so Odoo does not know it."
run "$bin" reconcile orders --since 1d --config "$cfg" || die "step $step_no ($step_title): reconcile orders failed (exit $?)"
missed_in_odoo() {
    seen=$(odoo_records sale.order "[[\"client_order_ref\", \"=\", \"$missed_name\"]]" '["state"]' |
        jget '",".join(o["state"] for o in d) or "not in Odoo"')
    [ "$seen" = sale ]
}
wait_for "a confirmed Odoo sale order for $missed_name" 20 missed_in_odoo
wait_for "every order job finished" 20 order_jobs_settled
say "The order jobs it enqueued fetch each order from Shopify and apply it, as a webhook's job would. The other"
say "orders it listed were also updated in Shopify within the last day and missing or older in Odoo. Odoo now holds:"
odoo_orders
wait_for "stock at rest after $missed_name" 15 stock_agrees "${all_skus[@]}"
say "Stock at rest again ($missed_name lowered Shopify's available at once, Odoo's free when it reserved it):"
stock_table "${all_skus[@]}"
n_dead_orders=$("$bin" jobs list --config "$cfg" --kind shopify.order --state dead --json | jget 'len(d)')
expect "dead order jobs" 0 "$n_dead_orders"

# ---------------------------------------------------------------------------------------------------------------
step "Money: a taxed, discounted order arrives with the same total in Shopify and in Odoo"
# tests/fixtures/money/us_state_county_discount_code.json: IL state 6.25 % + county 1 % on every line and on
# shipping, code FALL10 (10 %) spread over the lines.
money=$(http_post "$shopify_url/__sim__/orders" '{"money_fixture": "us_state_county_discount_code.json", "emit": false}')
money_id=$(jget 'd["id"]' <<<"$money")
money_name=$(jget 'd["name"]' <<<"$money")
say "New in Shopify: $money_name, $(jget '", ".join("%d x %s at %s less %s" % (l["quantity"], l["sku"], l["price"],
    sum(float(a["amount"]) for a in l["discount_allocations"])) for l in d["line_items"])' <<<"$money"),"
say "   shipping $(jget 'd["shipping_lines"][0]["price"]' <<<"$money"), taxes $(jget '", ".join(sorted({"%s %g %%" % (t["title"],
    t["rate"] * 100) for l in d["line_items"] for t in l["tax_lines"]}))' <<<"$money"): total $(jget 'd["current_total_price"]' <<<"$money"), tax $(jget 'd["current_total_tax"]' <<<"$money")."
say "Odoo gets the two matching sale taxes (as its admin would create them); synchub matches Shopify's by rate:"
for t in '"IL State 6.25%", "amount": 6.25' '"County 1%", "amount": 1.0'; do
    odoo_exec "{\"model\": \"account.tax\", \"method\": \"create\", \"args\": [{\"name\": $t, \"type_tax_use\": \"sale\"}]}" >/dev/null
done
http_get "$shopify_url/__sim__/orders/$money_id" >"$tmp/order-$money_id.json"
send orders/create "$tmp/order-$money_id.json" "$(new_id)"
[ "$code" = 200 ] || die "step $step_no ($step_title): orders/create of $money_name answered HTTP $code"
money_job=$(jget 'd["job"]' <<<"$answer")
wait_for "the order job of $money_name done" 20 job_is "$money_job" done
so=$(odoo_records sale.order "[[\"client_order_ref\", \"=\", \"$money_name\"]]" \
    '["name", "state", "amount_untaxed", "amount_tax", "amount_total"]')
printf '   %-10s %-10s %-8s %-8s %s\n' "" "untaxed" "tax" "total" ""
printf '   %-10s %-10s %-8s %-8s %s\n' "Shopify" \
    "$(jget '"%.2f" % (float(d["current_total_price"]) - float(d["current_total_tax"]))' <<<"$money")" \
    "$(jget 'd["current_total_tax"]' <<<"$money")" "$(jget 'd["current_total_price"]' <<<"$money")" "$money_name"
printf '   %-10s %-10s %-8s %-8s %s\n' "Odoo" "$(jget '"%.2f" % d[0]["amount_untaxed"]' <<<"$so")" \
    "$(jget '"%.2f" % d[0]["amount_tax"]' <<<"$so")" "$(jget '"%.2f" % d[0]["amount_total"]' <<<"$so")" \
    "$(jget 'd[0]["name"] + " (" + d[0]["state"] + ")"' <<<"$so")"
expect "Odoo's total for $money_name" "$(jget 'd["current_total_price"]' <<<"$money")" "$(jget '"%.2f" % d[0]["amount_total"]' <<<"$so")"
expect "Odoo's tax for $money_name" "$(jget 'd["current_total_tax"]' <<<"$money")" "$(jget '"%.2f" % d[0]["amount_tax"]' <<<"$so")"
say "synchub wrote each line's taxes and its discount as the percentage that gives Shopify's line total, read the"
say "amounts back (one call) and confirmed the order only once they matched. The earlier order $order_name had no tax:"
say "its sale order has none either, although the products carry the company's default 15 % sale tax."
odoo_orders

# ---------------------------------------------------------------------------------------------------------------
step "A carrier reports milestones: shipment events into the Odoo delivery (POST /events/ups)"
# send_event JSON: POST /events/ups signed as docs/events.md says (HMAC-SHA256 of TIMESTAMP.BODY); sets code, answer.
send_event() {
    local body=$1 ts sig
    ts=$(date +%s)
    sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$events_secret" -hex | sed 's/^.*= //')
    code=$(curl -s -o "$tmp/answer" -w '%{http_code}' -X POST "$base/events/ups" -H 'Content-Type: application/json' \
        -H "X-Timestamp: $ts" -H "X-Signature: $sig" --data-binary "$body")
    answer=$(cat "$tmp/answer")
}
t_transit=$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)
t_delivered=$(date -u -d '-10 minutes' +%Y-%m-%dT%H:%M:%SZ)
ev_delivered="{\"event_id\": \"ups-$tracking-2\", \"occurred_at\": \"$t_delivered\", \"reference\": \"$pick_name\",
  \"status\": \"delivered\", \"carrier\": \"UPS\", \"tracking_number\": \"$tracking\", \"location\": \"Memphis, TN\"}"
ev_transit="{\"event_id\": \"ups-$tracking-1\", \"occurred_at\": \"$t_transit\", \"reference\": \"$pick_name\",
  \"status\": \"in_transit\", \"carrier\": \"UPS\", \"tracking_number\": \"$tracking\", \"location\": \"Louisville, KY\"}"
say "UPS reports $pick_name delivered, then its older 'in transit' scan arrives late, then 'delivered' again:"
event_jobs=()
for ev in "$ev_delivered" "$ev_transit" "$ev_delivered"; do
    send_event "$ev"
    say "   $(jget 'd["status"]' <<<"$ev") at $(jget 'd["occurred_at"]' <<<"$ev") -> HTTP $code $answer"
    [ "$code" = 200 ] || die "step $step_no ($step_title): POST /events/ups answered HTTP $code"
    event_jobs+=("$(jget 'd["job"]' <<<"$answer")")
done
expect "answer to the repeated event" "${event_jobs[0]}" "${event_jobs[2]}"
send_event "{\"event_id\": \"x\", \"status\": \"teleported\"}"
say "   a malformed event -> HTTP $code $answer"
expect "HTTP status of a malformed event" 400 "$code"
wait_for "both shipment events applied" 20 job_is "${event_jobs[1]}" done
wait_for "both shipment events applied" 20 job_is "${event_jobs[0]}" done
say "The Odoo delivery's chatter (one note per distinct event; the late scan is recorded, the state stays delivered):"
odoo_records mail.message "[[\"model\", \"=\", \"stock.picking\"], [\"res_id\", \"=\", $pick_id]]" '["body"]' |
    python3 -c '
import json, re, sys, html
for m in json.load(sys.stdin):
    text = html.unescape(re.sub(r"<[^>]+>", " ", m["body"] or ""))
    text = re.sub(r"\s+", " ", text).strip()
    if "UPS" in text or "hipment" in text:
        print("   " + text[:150])'
n_notes=$(odoo_records mail.message "[[\"model\", \"=\", \"stock.picking\"], [\"res_id\", \"=\", $pick_id]]" '["body"]' |
    jget 'len([m for m in d if "synchub" in (m["body"] or "")])')
expect "synchub notes on $pick_name" 2 "$n_notes"

# ---------------------------------------------------------------------------------------------------------------
step "The operator's view: one order's trace, /metrics, the dashboard's API, the audit log"
run "$bin" trace --config "$cfg" "$shop" order "$ship_name" | head -n 30
say
say "GET /metrics (a few series; Prometheus scrapes the whole page):"
curl -fsS "$base/metrics" | grep -E '^synchub_(webhook_deliveries_total\{source="shopify",outcome="(stored|duplicate|bad_signature)"\}|queue_lag_seconds|job_attempts_total\{kind="shopify.order")' | sed 's/^/   /'
say
say "The dashboard is at $base/ (sign in with the [operator demo] token). Its API, as the page calls it:"
curl -fsS -H "Authorization: Bearer $operator_token" "$base/api/overview" >"$tmp/overview.json" ||
    die "step $step_no ($step_title): GET /api/overview failed"
python3 - "$tmp/overview.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("   GET /api/overview: " + json.dumps({k: v for k, v in d.items() if not isinstance(v, (list, dict))})[:300])
PY
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/overview")
say "   without the token: HTTP $code"
expect "HTTP status of the API without a token" 401 "$code"
run "$bin" audit --config "$cfg"

step "Status"
run "$bin" status --config "$cfg"

# ---------------------------------------------------------------------------------------------------------------
step "Stop synchub serve with SIGTERM"
run kill -TERM "$serve_pid"
set +e
wait "$serve_pid"
serve_rc=$?
set -e
serve_pid=""
say "synchub serve exited with code $serve_rc (0 = clean shutdown)"
expect "serve's exit code" 0 "$serve_rc"
if grep -qF "$secret" "$tmp/serve.log"; then
    say "   !! the serve log contains the webhook secret"
    surprises=$((surprises + 1))
fi
for s_ in "$events_secret" "$operator_token"; do
    if grep -qF "$s_" "$tmp/serve.log"; then
        say "   !! the serve log contains a source secret or an operator token"
        surprises=$((surprises + 1))
    fi
done
if grep -qF "$shopify_token" "$tmp/serve.log"; then
    say "   !! the serve log contains the Shopify admin token"
    surprises=$((surprises + 1))
fi

echo
if [ "$surprises" -eq 0 ]; then
    say "${B}Demo finished in ${SECONDS} s: everything behaved as described.${R}"
else
    say "${B}Demo finished with $surprises surprise(s) (marked !! above).${R}"
    exit 1
fi
