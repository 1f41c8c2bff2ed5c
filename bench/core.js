#!/usr/bin/env node
// Section 1 — in-process cost of the library's hot paths, one process, one run:
//   Limiter.allowN(t, 1), Limiter.reserveN(t, 1), InflightLimiter tryAcquire+release, InflightLimiter.run
// side by side with a bare token bucket (the floor, below), limiter@4 RateLimiter.tryRemoveTokens and
// p-limit. Each row: warm-up, then RUNS runs of ~MS ms (interleaved across rows); ops/s is the median. Then an allocation check:
// 10M allowN calls, heapUsed growth and GC count.
//   node bench/core.js            (env: MS=500 RUNS=5 ALLOC_CALLS=10000000)
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PerformanceObserver } from 'node:perf_hooks';
import { RateLimiter } from 'limiter';
import pLimit from 'p-limit';
import { Limiter, InflightLimiter } from '../dist/index.js';
import { envNum, fmt, isMain, median, passFail, sig, table } from './lib/stats.js';

/** BareBucket is the floor: the least a token bucket taking (t, n) can do. Not the product. */
class BareBucket {
  constructor(ratePerSec, burst) { this.perMs = ratePerSec / 1000; this.burst = burst; this.tokens = burst; this.last = 0; }
  allowN(t, n) {
    let tokens = this.tokens + (t > this.last ? (t - this.last) * this.perMs : 0);
    if (tokens > this.burst) tokens = this.burst;
    if (tokens < n) return false;
    this.tokens = tokens - n;
    this.last = t;
    return true;
  }
}

/**
 * ClockBucket is the same floor in the shape most code uses it: it reads performance.now() on each call
 * (about 18M ops/s here). The product's counterpart is Limiter.allow(), which reads its clock the same way.
 */
class ClockBucket {
  constructor(ratePerSec, burst) { this.perMs = ratePerSec / 1000; this.burst = burst; this.tokens = burst; this.last = performance.now(); }
  tryTake(n) {
    const now = performance.now();
    let tokens = this.tokens + (now - this.last) * this.perMs;
    if (tokens > this.burst) tokens = this.burst;
    this.last = now;
    if (tokens < n) { this.tokens = tokens; return false; }
    this.tokens = tokens - n;
    return true;
  }
}

const RATE = 1e12; // tokens per second: ample, every call admits
// STEP: t advances by a fractional number of ms, as performance.now() does. With whole steps t stays a
// small integer (a V8 Smi) and the bare bucket gets integer-specialised code that real callers never see,
// while Limiter's methods also see double times from allow() in this same process (deopt and re-opt):
// the ratio then measured V8's number representations, not the limiter (0.52–0.62 vs ~1.0).
const STEP = 1.25;
const BURST = 1e6;
const BATCH = 1000;
const noop = () => Promise.resolve();
let sink = 0;

// Sync rows: make() returns chunk(n) that does n ops in its own loop (one call site per row, so no row
// pays for another's polymorphism). The time t advances by STEP ms per call, in a local, written back once.
const syncRows = [
  ['bare token bucket allowN(t, 1) (floor)', 'bare', () => {
    const b = new BareBucket(RATE, BURST); let t = 0;
    return (n, step = STEP) => { let k = 0, tt = t; for (let i = 0; i < n; i++) { tt += step; if (b.allowN(tt, 1)) k++; } t = tt; return k; };
  }],
  ['Limiter.allowN(t, 1)', 'allowN', () => {
    const l = new Limiter(RATE, BURST); let t = 0;
    return (n, step = STEP) => { let k = 0, tt = t; for (let i = 0; i < n; i++) { tt += step; if (l.allowN(tt, 1)) k++; } t = tt; return k; };
  }],
  ['bare token bucket reading performance.now() (floor, clock form)', 'bareClock', () => {
    const b = new ClockBucket(RATE, BURST);
    return (n) => { let k = 0; for (let i = 0; i < n; i++) if (b.tryTake(1)) k++; return k; };
  }],
  ['Limiter.allow() (reads its clock)', 'allow', () => {
    const l = new Limiter(RATE, BURST);
    return (n) => { let k = 0; for (let i = 0; i < n; i++) if (l.allow()) k++; return k; };
  }],
  ['Limiter.reserveN(t, 1)', 'reserveN', () => {
    const l = new Limiter(RATE, BURST); let t = 0;
    return (n, step = STEP) => { let k = 0, tt = t; for (let i = 0; i < n; i++) { tt += step; if (l.reserveN(tt, 1).ok) k++; } t = tt; return k; };
  }],
  ['limiter@4 RateLimiter.tryRemoveTokens(1)', 'limiter', () => {
    const l = new RateLimiter({ tokensPerInterval: RATE, interval: 'second' });
    return (n) => { let k = 0; for (let i = 0; i < n; i++) if (l.tryRemoveTokens(1)) k++; return k; };
  }],
  ['InflightLimiter tryAcquire() + release()', 'inflightPair', () => {
    const l = new InflightLimiter({ limit: 8 });
    return (n) => { let k = 0; for (let i = 0; i < n; i++) { const s = l.tryAcquire(); if (s !== undefined) { s.release(); k++; } } return k; };
  }],
];

// Async rows: a batch of 1000 schedule() of a noop, then await all.
const batchRows = [
  ['p-limit(8): 1000 × limit(noop), await all', 'pLimit8', () => pLimit(8)],
  ['InflightLimiter(8).run(noop), same batch', 'inflightRun8', () => { const l = new InflightLimiter({ limit: 8 }); return (fn) => l.run(fn); }],
  ['p-limit(∞): 1000 × limit(noop), await all', 'pLimitInf', () => pLimit(Infinity)],
  ['InflightLimiter(∞).run(noop), same batch', 'inflightRunInf', () => { const l = new InflightLimiter({ limit: Infinity }); return (fn) => l.run(fn); }],
  ['floor: Promise.resolve().then(noop), same batch', 'promiseFloor', () => (fn) => Promise.resolve().then(fn)],
];

function timeSync(chunk, ms) {
  const CH = 10_000;
  let ops = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(ms * 1e6));
  let now;
  do {
    sink += chunk(CH);
    ops += CH;
    now = process.hrtime.bigint();
  } while (now < end);
  return ops / (Number(now - t0) / 1e9);
}

async function timeBatch(sched, ms) {
  let ops = 0;
  const ps = new Array(BATCH);
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(ms * 1e6));
  let now;
  do {
    for (let i = 0; i < BATCH; i++) ps[i] = sched(noop);
    await Promise.all(ps);
    ops += BATCH;
    now = process.hrtime.bigint();
  } while (now < end);
  return ops / (Number(now - t0) / 1e9);
}

/** gcFunction returns a callable gc(), exposing it at run time if node was not started with --expose-gc. */
function gcFunction() {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc');
}

/** allocCheck runs `calls` ops of a warmed chunk and reports heapUsed growth and the GCs that ran. */
async function allocCheck(chunk, calls) {
  const gc = gcFunction();
  const entries = [];
  const obs = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  obs.observe({ entryTypes: ['gc'] });
  const CH = 100_000;
  gc();
  await new Promise((r) => setTimeout(r, 50)); // the forced GC's own entry arrives late: drop it
  entries.length = 0;
  const before = process.memoryUsage().heapUsed;
  for (let done = 0; done < calls; done += CH) sink += chunk(CH);
  const after = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 50)); // let the observer deliver
  obs.disconnect();
  const byKind = {};
  for (const e of entries) {
    const kind = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' }[e.detail?.kind] ?? 'other';
    byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  return { calls, heapUsedGrowthBytes: after - before, gcs: entries.length, gcByKind: byKind };
}

export async function main({ ms = envNum('MS', 500), runs = envNum('RUNS', 5), allocCalls = envNum('ALLOC_CALLS', 10_000_000), print = true } = {}) {
  const log = print ? (s = '') => console.log(s) : () => {};
  log(`## core: in-process ops/s (node ${process.version}; median of ${runs} interleaved runs × ${ms} ms after a ${Math.round(ms / 2)} ms warm-up)\n`);
  // Runs are interleaved across rows (run 1 of every row, then run 2, …) so that a shared machine's load
  // drifts hit every row alike; each run gets a fresh instance.
  const rows = [];
  const ops = {};
  const chunks = {};
  const xsSync = syncRows.map(() => []);
  const xsBatch = batchRows.map(() => []);
  for (const [, , make] of syncRows) timeSync(make(), ms / 2);
  for (const [, , make] of batchRows) await timeBatch(make(), ms / 2);
  for (let r = 0; r < runs; r++) {
    syncRows.forEach(([, , make], i) => xsSync[i].push(timeSync(make(), ms)));
    for (let i = 0; i < batchRows.length; i++) xsBatch[i].push(await timeBatch(batchRows[i][2](), ms));
  }
  const addRow = ([name, id], shape, xs) => {
    ops[id] = median(xs);
    rows.push([name, shape, fmt(ops[id]), `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`, sig(1e9 / ops[id])]);
  };
  syncRows.forEach((row, i) => {
    addRow(row, 'sync', xsSync[i]);
    chunks[row[1]] = row[2];
  });
  batchRows.forEach((row, i) => addRow(row, `batch ${BATCH}`, xsBatch[i]));
  log(table(['candidate', 'shape', 'ops/s (median)', 'min–max', 'ns/op'], rows));

  const ratios = {
    allowN_over_bare: { value: ops.allowN / ops.bare, target: 0.75, pass: ops.allowN / ops.bare >= 0.75 },
    allowN_over_limiter: { value: ops.allowN / ops.limiter, target: 2, pass: ops.allowN / ops.limiter >= 2 },
    allow_over_bareClock: { value: ops.allow / ops.bareClock, target: 0.75, pass: ops.allow / ops.bareClock >= 0.75 },
    inflightRun8_over_pLimit8: { value: ops.inflightRun8 / ops.pLimit8 },
    inflightRunInf_over_pLimitInf: { value: ops.inflightRunInf / ops.pLimitInf },
  };
  log('\nratios:');
  log(`  allowN / bare bucket      = ${sig(ratios.allowN_over_bare.value)}  (target >= 0.75: ${passFail(ratios.allowN_over_bare.pass)})`);
  log(`  allowN / limiter@4        = ${sig(ratios.allowN_over_limiter.value)}  (target >= 2: ${passFail(ratios.allowN_over_limiter.pass)})`);
  log(`  allow() / clock bucket    = ${sig(ratios.allow_over_bareClock.value)}  (target >= 0.75: ${passFail(ratios.allow_over_bareClock.pass)}; both read performance.now() per call)`);
  log(`  InflightLimiter.run / p-limit, cap 8 = ${sig(ratios.inflightRun8_over_pLimit8.value)}; cap ∞ = ${sig(ratios.inflightRunInf_over_pLimitInf.value)}  (no target)`);

  // Allocation: the same warmed chunk shape as the timed rows (fresh limiter, warmed code), twice: with a
  // fractional time step (t a double, as from performance.now()) and a whole one (t a small integer). A
  // double passed across a call that V8 did not inline is boxed by the caller (16 B): the bare bucket row
  // is the control for that, so only allocation beyond the bare row's is the limiter's own.
  const alloc = {};
  for (const [stepName, step] of [['fractional t', STEP], ['integer t', 1]]) {
    for (const id of ['allowN', 'bare', 'reserveN']) {
      const chunk = chunks[id]();
      chunk(100_000, step);
      alloc[`${id} (${stepName})`] = { id, step: stepName, ...(await allocCheck((n) => chunk(n, step), allocCalls)) };
    }
  }
  log(`\nallocation check (${fmt(allocCalls)} calls each, warmed; heapUsed after a forced GC → after the loop; GCs seen by PerformanceObserver):`);
  log(table(['loop', 't', 'heapUsed growth', 'GCs', 'by kind'], Object.values(alloc).map((a) => [
    a.id === 'allowN' ? 'Limiter.allowN(t, 1)' : a.id === 'bare' ? 'bare bucket (floor, control)' : 'Limiter.reserveN(t, 1) (returns a Reservation; for contrast)',
    a.step,
    `${fmt(a.heapUsedGrowthBytes / 1024, 1)} KiB (${sig(a.heapUsedGrowthBytes / a.calls)} B/call)`,
    String(a.gcs),
    JSON.stringify(a.gcByKind),
  ])));
  log();
  if (sink === -1) log(sink);
  return { node: process.version, ms, runs, batch: BATCH, opsPerSec: ops, ratios, alloc };
}

if (isMain(import.meta.url)) await main();
