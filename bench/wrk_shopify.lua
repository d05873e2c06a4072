-- wrk script for bench/ingest.sh: POSTs one signed Shopify orders/create webhook over and over.
-- Body and HMAC are constant (read from BENCH_BODY_FILE / BENCH_SIG_FILE; with BENCH_VARIANTS=N > 1, N pre-signed
-- bodies PREFIX1.json/.sig .. PREFIXN from BENCH_BODY_FILE=PREFIX are used in turn); X-Shopify-Event-Id carries
-- "<run>-<thread>-<counter>" so every request is a new job. It does not check response bodies (that would slow wrk
-- down); it only writes wrk's summary as key=value lines to BENCH_OUT for ingest.sh to parse.

local shop    = os.getenv("BENCH_SHOP") or "acme-outfitters.myshopify.com"
local run_tag = os.getenv("BENCH_RUN") or tostring(os.time())

local function slurp(path, what)
   local f, err = io.open(path or "", "rb")
   if not f then
      io.stderr:write("wrk_shopify.lua: cannot read " .. what .. " (" .. tostring(path) .. "): " .. tostring(err) .. "\n")
      os.exit(2)
   end
   local s = f:read("*a")
   f:close()
   return s
end

-- setup() runs in the main Lua state once per thread, before the threads start: give each its number.
local next_tid = 0
function setup(thread)
   next_tid = next_tid + 1
   thread:set("tid", next_tid)
end

-- init() runs inside each thread. Pre-build everything but the counter, so request() is one concatenation.
local prefixes, suffixes, nvariants, counter
local function build(body, sig)
   local path = wrk.path
   if path == nil or path == "" or path == "/" then path = "/webhooks/shopify" end
   local host = wrk.host .. (wrk.port and (":" .. wrk.port) or "")
   local prefix = "POST " .. path .. " HTTP/1.1\r\n"
         .. "Host: " .. host .. "\r\n"
         .. "Content-Type: application/json\r\n"
         .. "Content-Length: " .. #body .. "\r\n"
         .. "X-Shopify-Topic: orders/create\r\n"
         .. "X-Shopify-Shop-Domain: " .. shop .. "\r\n"
         .. "X-Shopify-Hmac-Sha256: " .. sig .. "\r\n"
         .. "X-Shopify-API-Version: 2025-10\r\n"
         .. "X-Shopify-Triggered-At: 2026-11-21T19:03:13.000Z\r\n"
         .. "X-Shopify-Event-Id: bench-" .. run_tag .. "-" .. tostring(tid) .. "-"
   return prefix, "\r\n\r\n" .. body
end

function init(args)
   prefixes, suffixes, counter = {}, {}, 0
   nvariants = tonumber(os.getenv("BENCH_VARIANTS") or "1") or 1
   local body_file, sig_file = os.getenv("BENCH_BODY_FILE"), os.getenv("BENCH_SIG_FILE")
   for i = 1, nvariants do
      local bf, sf = body_file, sig_file
      if nvariants > 1 then bf, sf = body_file .. i .. ".json", body_file .. i .. ".sig" end
      local body = slurp(bf, "body")
      local sig = slurp(sf, "signature"):gsub("%s+$", "")
      prefixes[i], suffixes[i] = build(body, sig)
   end
end

function request()
   counter = counter + 1
   local v = counter % nvariants + 1
   -- The webhook id only has to be present; reuse the unique event id so it looks like a real delivery.
   local id = tostring(counter)
   return prefixes[v] .. id .. "\r\nX-Shopify-Webhook-Id: wh-" .. run_tag .. "-" .. tostring(tid) .. "-" .. id
          .. suffixes[v]
end

-- done() runs once in the main state after the run. Latencies are in microseconds.
function done(summary, latency, requests)
   local out = os.getenv("BENCH_OUT")
   local f = out and io.open(out, "w") or io.stdout
   local e = summary.errors
   f:write(string.format("requests=%d\n", summary.requests))
   f:write(string.format("duration_us=%d\n", summary.duration))
   f:write(string.format("rps=%.1f\n", summary.requests / (summary.duration / 1e6)))
   f:write(string.format("p50_us=%d\n", latency:percentile(50.0)))
   f:write(string.format("p99_us=%d\n", latency:percentile(99.0)))
   f:write(string.format("max_us=%d\n", latency.max))
   f:write(string.format("err_status=%d\n", e.status))
   f:write(string.format("err_connect=%d\nerr_read=%d\nerr_write=%d\nerr_timeout=%d\n",
                         e.connect, e.read, e.write, e.timeout))
   if f ~= io.stdout then f:close() end
end
