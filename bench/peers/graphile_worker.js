// graphile_worker.js: the same drain as `bench_queue --store postgresql://…` with graphile-worker (npm package
// graphile-worker, a no-op task), on the same server in the same run, for bench/pg_queue.sh and bench/peers.sh.
// Not part of synchub and not run by the tests: it needs node and `npm ci` in bench/peers (the lock pins it).
// usage: node graphile_worker.js URL JOBS NODES CONCURRENCY [BACKLOG [MODE]]
//   JOBS no-op jobs are added (one add_jobs call), then drained by NODES runners of
//   CONCURRENCY each; BACKLOG jobs scheduled a day ahead sit in the table meanwhile (graphile-worker deletes done
//   jobs, so a large table there is a large future backlog). MODE "tuned": its local queue (500 jobs fetched per
//   query) and batched completions (completeJobBatchDelay 0), the settings its authors give for throughput;
//   "default" (the default): neither. Prints jobs/s, and "drain_jobs_per_s N" for the scripts. Works in a schema
//   of its own, dropped afterwards.
"use strict";
const { Pool } = require("pg");
const { run, runMigrations } = require("graphile-worker");

async function main() {
  const [url, jobs, nodes, concurrency, backlog, mode] = process.argv.slice(2);
  const tuned = mode === "tuned";
  const n = Number(jobs), k = Number(nodes), c = Number(concurrency), b = Number(backlog || 0);
  const schema = `gw_bench_${process.pid}`;
  const pool = new Pool({ connectionString: url, max: 4 });
  const opts = { connectionString: url, schema, noHandleSignals: true, pollInterval: 1000, logger: undefined };
  if (tuned)
    opts.preset = { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } };
  try {
    await runMigrations(opts);
    // add_jobs (one set-based call): add_job row by row takes about a millisecond a job.
    const add = (count, later) =>
      pool.query(`SELECT count(*) FROM ${schema}.add_jobs((SELECT array_agg(ROW('noop', json_build_object('i', i),
                    NULL, now() + $2::interval, NULL, NULL, NULL, NULL)::${schema}.job_spec)
                    FROM generate_series(1, $1) i), false)`, [count, later]);
    for (let done = 0; done < b; done += 100000)
      await add(Math.min(100000, b - done), "1 day");
    const t0 = process.hrtime.bigint();
    await add(n, "0 seconds");
    const t1 = process.hrtime.bigint();
    const runners = [];
    for (let i = 0; i < k; i++)
      runners.push(await run({ ...opts, concurrency: c, taskList: { noop: async () => {} },
                               logger: new (require("graphile-worker").Logger)(() => () => {}) }));
    for (;;) {
      const r = await pool.query(`SELECT count(*)::int AS left FROM ${schema}._private_jobs
                                    WHERE run_at <= now()`);
      if (r.rows[0].left === 0) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const t2 = process.hrtime.bigint();
    for (const r of runners) await r.stop();
    const e = Number(t1 - t0) / 1e9, d = Number(t2 - t1) / 1e9;
    console.log(`graphile-worker (${tuned ? "tuned: localQueue 500, batched completes" : "default"}): ${n} jobs,` +
                ` ${k} node(s) x ${c} concurrency, ${b} future jobs in the table`);
    console.log(`  add (one add_jobs call) ${Math.round(n / e)} jobs/s   drain ${Math.round(n / d)} jobs/s` +
                ` (${d.toFixed(2)} s)`);
    console.log(`drain_jobs_per_s ${Math.round(n / d)}`);
  } finally {
    await pool.query(`SET client_min_messages = warning; DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
  }
}

main().catch((e) => {
  console.error("graphile_worker.js:", e.message);
  process.exit(1);
});
