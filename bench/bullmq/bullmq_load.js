#!/usr/bin/env node
// bullmq_load: the BullMQ side of bench/compare.sh (docs/performance.md, "Side by side with
// BullMQ"). One Node process, one Redis.
//
//   node bullmq_load.js --port P [--host H] --jobs N --concurrency C [--renewals K]
//                       [--pattern worker|manual] [--queue NAME] [--json]
//
// Enqueues N jobs with Queue.addBulk (in chunks of 1000; not timed), then processes them,
// each job = claim + K extendLock + complete, C at a time:
//
//   worker (default; BullMQ's documented pattern): new Worker(queue, processor,
//     {concurrency: C}); the processor calls job.extendLock(token, 30000) K times and
//     returns; the Worker completes the job with moveToCompleted(fetchNext = true), which
//     also claims the next job in the same Redis call. Per-job latency: from the call that
//     claimed the job (Worker.moveToActive, or the previous job's moveToCompleted that
//     fetched it: both wrapped here to note the time, keyed by the id of the job they
//     return) to the 'completed' event (its moveToCompleted answered). Also reported:
//     `processing_latency`, from the processor's start to that event (the claim not in it).
//   manual (BullMQ's "manually processing jobs" guide): a Worker without processor and C
//     loops, each with its own token: getNextJob(token, {block: false}), K extendLock,
//     moveToCompleted(result, token, fetchNext = false). Per-job latency: from the claim's
//     call to the completion's answer, every round trip in it.
//
// Prints jobs/s and per-job latency p50/p99/p999 (µs); with --json one JSON object.
'use strict';
const { Queue, Worker } = require('bullmq');
const IORedis = require('ioredis');
const { performance } = require('node:perf_hooks');

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 6379, jobs: 1000, concurrency: 8, renewals: 2, pattern: 'worker', queue: '', json: false };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--host': opts.host = value(); break;
      case '--port': opts.port = Number(value()); break;
      case '--jobs': opts.jobs = Number(value()); break;
      case '--concurrency': opts.concurrency = Number(value()); break;
      case '--renewals': opts.renewals = Number(value()); break;
      case '--pattern': opts.pattern = value(); break;
      case '--queue': opts.queue = value(); break;
      case '--json': opts.json = true; break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!(opts.jobs > 0) || !(opts.concurrency > 0) || !(opts.renewals >= 0) || !['worker', 'manual'].includes(opts.pattern)) {
    usage('bad value');
  }
  if (!opts.queue) opts.queue = `bench-${opts.pattern}-c${opts.concurrency}-${process.pid}-${Date.now()}`;
  return opts;
}

function usage(why) {
  process.stderr.write(`bullmq_load: ${why}\nusage: bullmq_load.js --port P [--host H] --jobs N --concurrency C [--renewals K] [--pattern worker|manual] [--queue NAME] [--json]\n`);
  process.exit(2);
}

// Nearest rank, as bench/bench_util.cc's Latencies::PercentileUs.
function percentileUs(sortedNs, q) {
  if (sortedNs.length === 0) return 0;
  const index = Math.min(sortedNs.length - 1, Math.floor(q * sortedNs.length));
  return sortedNs[index] / 1e3;
}

function percentiles(ns) {
  const sorted = Float64Array.from(ns).sort();
  return {
    count: sorted.length,
    p50_us: percentileUs(sorted, 0.5),
    p99_us: percentileUs(sorted, 0.99),
    p999_us: percentileUs(sorted, 0.999),
    max_us: percentileUs(sorted, 1.0),
    mean_us: sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length / 1e3 : 0,
  };
}

const kLockMs = 30000;

async function runWorker(opts, connection, lat, processingLat) {
  const started = new Map();  // job id -> processor start (ms)
  const claimed = new Map();  // job id -> when the call that claimed it was made (ms)
  // Note when each job's claim was asked for: wrap the two calls that claim.
  const { Job } = require('bullmq');
  const moveToCompleted = Job.prototype.moveToCompleted;
  Job.prototype.moveToCompleted = async function (...args) {
    const t = performance.now();
    const next = await moveToCompleted.apply(this, args);
    if (Array.isArray(next) && next[1]) claimed.set(String(next[1]), t);
    return next;
  };
  const moveToActive = Worker.prototype.moveToActive;
  Worker.prototype.moveToActive = async function (...args) {
    const t = performance.now();
    const job = await moveToActive.apply(this, args);
    if (job) claimed.set(String(job.id), t);
    return job;
  };
  let done = 0;
  let failed = 0;
  let missedClaims = 0;
  let firstError = '';
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  const worker = new Worker(opts.queue, async (job, token) => {
    started.set(job.id, performance.now());
    for (let k = 0; k < opts.renewals; k++) await job.extendLock(token, kLockMs);
    return 1;
  }, { connection, concurrency: opts.concurrency, autorun: false, lockDuration: kLockMs });
  worker.on('completed', (job) => {
    const now = performance.now();
    const t0 = started.get(job.id);
    const c0 = claimed.get(String(job.id));
    started.delete(job.id);
    claimed.delete(String(job.id));
    processingLat.push((now - t0) * 1e6);
    if (c0 !== undefined) lat.push((now - c0) * 1e6);
    else missedClaims++;
    if (++done + failed === opts.jobs) finish();
  });
  worker.on('failed', (job, err) => {
    if (failed++ === 0) firstError = String(err && err.message);
    if (done + failed === opts.jobs) finish();
  });
  worker.on('error', (err) => {
    if (failed++ === 0) firstError = String(err && err.message);
  });
  await worker.waitUntilReady();
  const t0 = performance.now();
  worker.run().catch((err) => { firstError = firstError || String(err); finish(); });
  await finished;
  const seconds = (performance.now() - t0) / 1e3;
  await worker.close();
  if (missedClaims > 0) firstError = firstError || `${missedClaims} job(s) without a noted claim`;
  return { seconds, done, failed: failed + missedClaims, firstError };
}

async function runManual(opts, connection, lat) {
  const worker = new Worker(opts.queue, null, { connection, lockDuration: kLockMs, autorun: false });
  await worker.waitUntilReady();
  let claimed = 0;
  let done = 0;
  let failed = 0;
  let firstError = '';
  const loop = async (index) => {
    const token = `manual-${process.pid}-${index}`;
    while (claimed < opts.jobs) {
      claimed++;
      const t0 = performance.now();
      try {
        const job = await worker.getNextJob(token, { block: false });
        if (!job) throw new Error('getNextJob returned no job while jobs were waiting');
        for (let k = 0; k < opts.renewals; k++) await job.extendLock(token, kLockMs);
        await job.moveToCompleted(1, token, false);
        lat.push((performance.now() - t0) * 1e6);
        done++;
      } catch (err) {
        if (failed++ === 0) firstError = String(err && err.message);
        return;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => loop(i)));
  const seconds = (performance.now() - t0) / 1e3;
  await worker.close();
  return { seconds, done, failed, firstError };
}

async function main() {
  const opts = parseArgs(process.argv);
  const connection = new IORedis({ host: opts.host, port: opts.port, maxRetriesPerRequest: null });
  const queue = new Queue(opts.queue, { connection });
  await queue.waitUntilReady();
  const info = await connection.info('server');
  const redisVersion = (/redis_version:(\S+)/.exec(info) || [])[1] || 'unknown';
  const aof = await connection.config('GET', 'appendfsync');

  const enqueueT0 = performance.now();
  for (let i = 0; i < opts.jobs; i += 1000) {
    const n = Math.min(1000, opts.jobs - i);
    await queue.addBulk(Array.from({ length: n }, (_, j) => ({ name: 'load', data: { i: i + j } })));
  }
  const enqueueSeconds = (performance.now() - enqueueT0) / 1e3;

  const lat = [];
  const processingLat = [];
  const cpu0 = process.cpuUsage();
  const r = opts.pattern === 'worker' ? await runWorker(opts, connection, lat, processingLat)
                                      : await runManual(opts, connection, lat);
  const cpu = process.cpuUsage(cpu0);
  const out = {
    system: 'bullmq',
    bullmq: require('bullmq/package.json').version,
    ioredis: require('ioredis/package.json').version,
    redis: redisVersion,
    appendfsync: aof[1],
    pattern: opts.pattern,
    concurrency: opts.concurrency,
    renewals: opts.renewals,
    jobs: r.done,
    failed: r.failed,
    seconds: r.seconds,
    jobs_per_s: r.done / r.seconds,
    enqueue_seconds: enqueueSeconds,
    node_cpu_us_per_job: (cpu.user + cpu.system) / Math.max(1, r.done),
    latency: percentiles(lat),
  };
  if (processingLat.length) out.processing_latency = percentiles(processingLat);
  if (r.firstError) out.first_error = r.firstError;
  await queue.obliterate({ force: true }).catch(() => {});
  await queue.close();
  await connection.quit();
  if (opts.json) {
    process.stdout.write(JSON.stringify(out) + '\n');
  } else {
    process.stdout.write(`BullMQ ${out.bullmq} (${opts.pattern}), Redis ${redisVersion} appendfsync ${out.appendfsync}: ` +
      `${r.done} jobs x (claim + ${opts.renewals} extendLock + complete), concurrency ${opts.concurrency}, in ${r.seconds.toFixed(2)} s\n` +
      `  ${out.jobs_per_s.toFixed(0)} jobs/s; per job p50 ${out.latency.p50_us.toFixed(0)} us, p99 ${out.latency.p99_us.toFixed(0)} us, p999 ${out.latency.p999_us.toFixed(0)} us\n`);
  }
  if (r.failed > 0 || r.done !== opts.jobs) {
    process.stderr.write(`bullmq_load: ${r.failed} job(s) failed, ${r.done} of ${opts.jobs} done; the first error: ${r.firstError}\n`);
    process.exit(1);
  }
}

main().catch((err) => {
  process.stderr.write(`bullmq_load: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
