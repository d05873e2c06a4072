// bullmq_drain.js: BullMQ's drain of JOBS no-op jobs on a Redis server, for bench/peers.sh (the peer synchub's
// queue is measured against). Not part of synchub and not run by the tests; needs `npm ci` in bench/peers.
// usage: node bullmq_drain.js REDIS_PORT JOBS CONCURRENCY
//   Adds JOBS jobs ({"i": n}, addBulk in chunks of 1,000), then one Worker with CONCURRENCY drains them with a
//   no-op processor (completed jobs removed, as graphile-worker does). Prints jobs/s, and "drain_jobs_per_s N".
"use strict";
const { Queue, Worker } = require("bullmq");

async function main() {
  const [port, jobs, concurrency] = process.argv.slice(2).map(Number);
  const connection = { host: "127.0.0.1", port };
  const name = `bench${process.pid}`;
  const queue = new Queue(name, { connection });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < jobs; i += 1000) {
    const chunk = [];
    for (let k = i; k < Math.min(jobs, i + 1000); k++)
      chunk.push({ name: "noop", data: { i: k }, opts: { removeOnComplete: true, removeOnFail: true } });
    await queue.addBulk(chunk);
  }
  const t1 = process.hrtime.bigint();
  let done = 0, finish;
  const all = new Promise((res) => (finish = res));
  const worker = new Worker(name, async () => {}, { connection, concurrency, autorun: false });
  worker.on("completed", () => { if (++done === jobs) finish(); });
  const t2 = process.hrtime.bigint();
  worker.run();
  await all;
  const t3 = process.hrtime.bigint();
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  const a = Number(t1 - t0) / 1e9, d = Number(t3 - t2) / 1e9;
  console.log(`bullmq: ${jobs} jobs, concurrency ${concurrency}: add (addBulk x1000) ${Math.round(jobs / a)} jobs/s` +
              `   drain ${Math.round(jobs / d)} jobs/s (${d.toFixed(2)} s)`);
  console.log(`drain_jobs_per_s ${Math.round(jobs / d)}`);
}

main().catch((e) => {
  console.error("bullmq_drain.js:", e.message);
  process.exit(1);
});
