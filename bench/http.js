#!/usr/bin/env node
// Section 5 — HTTP on loopback, all against one target server (bench/lib/http-target.js, 127.0.0.1, its own
// process, 2-byte body, keep-alive), in one run:
//  1. closed-loop throughput at -c 10 and -c 50 for D s per row, side by side:
//     `throttle http -j C --duration Ds --json -q --no-progress URL` (req/s = jobs.total / elapsed; p50/p99
//     from serviceMs — send to last byte; latencyMs is printed too: in closed loop it includes the wait for
//     a slot from the request's due time); a bare undici Pool loop (bench/lib/undici-loop.js, C connections,
//     C loops of request + body.dump()); autocannon (from /tmp/peers, installed by
//     /work/shared/peers/setup.sh; never added to package.json); `wrk -t1 -cC -dDs --latency`. Rows are
//     interleaved, the order rotated every run. Targets: throttle >= 1.0 × undici loop; stretch >= 0.9 × autocannon.
//  2. pacing: `throttle http -r 1000/s -j 50 --requests 5000 --output res.jsonl URL`: achieved rate and the
//     lateness of each start against its due time in the schedule (first admission + k/R; also shown against
//     first start + k/R, as the peers' pacers count). Targets: rate within 0.5% of 1000/s; lateness p99 < 2 ms.
//  3. a CPU profile of `throttle http -j 10` (node --cpu-prof): top self time in our code (dist/) and the split
//     ours / undici / node internals / GC / idle. HTTP_PROFILE=0 skips it.
// Every load loop is bounded (duration, request count, and a kill timer on each child).
//   node bench/http.js       (env: DURATION=10 HTTP_RUNS or RUNS=1 PACE_RUNS=RUNS HTTP_PROFILE=1 PROFILE_SEC=5 TOP=15)
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hasTool } from './lib/hyperfine.js';
import { parseWrk, run, startServer, stopServer } from './lib/procs.js';
import { ROOT, envNum, fmt, isMain, median, passFail, quantile, sig, table } from './lib/stats.js';
import { selfTimes } from './profile.js';

const PEERS_DIR = process.env.PEERS_DIR ?? '/tmp/peers';
const AUTOCANNON = join(PEERS_DIR, 'node_modules', 'autocannon', 'autocannon.js');
const la = () => loadavg().map((x) => x.toFixed(2)).join(' ');

function parseAutocannon(out) {
  const j = JSON.parse(out.trim().split('\n').pop());
  // autocannon records whole milliseconds, so its p50/p99 are 1 ms-granular.
  return { rps: j.requests.total / j.duration, p50: j.latency.p50, p99: j.latency.p99, total: j.requests.total, bad: (j.non2xx ?? 0) + (j.errors ?? 0) + (j.timeouts ?? 0) };
}
function parseUndici(out) {
  const j = JSON.parse(out.trim().split('\n').pop());
  return { rps: j.rps, p50: j.p50_ms, p99: j.p99_ms, total: j.requests, bad: j.non2xx + j.errors };
}
function parseThrottle(out) {
  const j = JSON.parse(out); // --json: the whole stdout is the report
  return {
    rps: (j.jobs.total / j.elapsedMs) * 1000, p50: j.serviceMs.p50, p99: j.serviceMs.p99, total: j.jobs.total,
    bad: j.jobs.failed + j.jobs.rejected, latP50: j.latencyMs.p50, latP99: j.latencyMs.p99, elapsedMs: j.elapsedMs,
  };
}

/** rows lists the side-by-side clients at concurrency c for d seconds; `available` false marks a skipped one. */
function clients(c, d, url, have) {
  return [
    { id: 'throttle', name: `throttle http -j ${c}`, argv: [process.execPath, 'bin/throttle.js', 'http', '-j', String(c), '--duration', `${d}s`, '--json', '-q', '--no-progress', url], parse: parseThrottle, available: true },
    { id: 'undici', name: `bare undici Pool loop (${c} conns)`, argv: [process.execPath, 'bench/lib/undici-loop.js', '--url', url, '-c', String(c), '--duration', String(d)], parse: parseUndici, available: true },
    { id: 'autocannon', name: `autocannon -c ${c}`, argv: [process.execPath, AUTOCANNON, '-c', String(c), '-d', String(d), '--json', url], parse: parseAutocannon, available: have.autocannon },
    { id: 'wrk', name: `wrk -t1 -c${c}`, argv: ['wrk', '-t1', `-c${c}`, `-d${d}s`, '--latency', url], parse: parseWrk, available: have.wrk },
  ];
}

async function throughput({ url, d, runs, cs, have, log }) {
  const out = { durationSec: d, runs, byC: {} };
  const rows = [];
  for (const c of cs) {
    const cl = clients(c, d, url, have).filter((x) => x.available);
    const reps = Object.fromEntries(cl.map((x) => [x.id, []]));
    for (let r = 0; r < runs; r++) {
      const k = r % cl.length; // interleaved, order rotated every run
      for (const x of [...cl.slice(k), ...cl.slice(0, k)]) {
        const load = loadavg()[0];
        const res = await run(x.argv, (d + 30) * 1000);
        let p;
        try {
          p = x.parse(res.out);
        } catch (e) {
          throw new Error(`${x.name}: could not parse its output (exit ${res.code ?? res.signal}): ${String(e.message)}\nstdout: ${res.out.slice(-1000)}\nstderr: ${res.err.slice(-1000)}`);
        }
        reps[x.id].push({ ...p, wallSec: res.wallSec, loadavg1: load });
      }
    }
    const by = {};
    for (const x of cl) {
      const rs = reps[x.id];
      const m = (f) => median(rs.map(f));
      by[x.id] = { name: x.name, cmd: x.argv.join(' ').replace(process.execPath, 'node'), runs: rs, rps: m((y) => y.rps), p50: m((y) => y.p50), p99: m((y) => y.p99), bad: rs.reduce((s, y) => s + y.bad, 0), loadavg1: m((y) => y.loadavg1) };
      if (x.id === 'throttle') Object.assign(by[x.id], { latP50: m((y) => y.latP50), latP99: m((y) => y.latP99) });
      const b = by[x.id];
      rows.push([String(c), b.name, fmt(b.rps), `${sig(b.p50)} ms`, `${sig(b.p99)} ms`, x.id === 'throttle' ? `${sig(b.latP50)} / ${sig(b.latP99)} ms` : '', String(b.bad), runs > 1 ? `${fmt(Math.min(...rs.map((y) => y.rps)))}–${fmt(Math.max(...rs.map((y) => y.rps)))}` : '', b.loadavg1.toFixed(2)]);
    }
    const t = by.throttle.rps;
    const ratios = {
      throttle_over_undici: t / by.undici.rps,
      throttle_over_autocannon: by.autocannon ? t / by.autocannon.rps : null,
      throttle_over_wrk: by.wrk ? t / by.wrk.rps : null,
    };
    out.byC[c] = { rows: by, ratios };
  }
  log(table(['-c', 'client', 'req/s', 'p50', 'p99', 'throttle latency p50 / p99 (incl. wait for a slot)', 'non-2xx+errors', runs > 1 ? 'req/s min–max' : '(1 run)', 'load avg 1m at start'], rows));
  log('\nthrottle p50/p99 are its serviceMs (send → last byte); the undici loop and wrk are µs-resolution, autocannon whole ms.');
  log('\nratios of req/s (throttle / peer):');
  log(table(['-c', '/ undici loop', '/ autocannon', '/ wrk'], cs.map((c) => {
    const r = out.byC[c].ratios;
    return [String(c), sig(r.throttle_over_undici), r.throttle_over_autocannon === null ? 'skipped' : sig(r.throttle_over_autocannon), r.throttle_over_wrk === null ? 'skipped' : sig(r.throttle_over_wrk)];
  })));
  out.targets = {};
  log('\ntargets:');
  for (const c of cs) {
    const r = out.byC[c].ratios;
    const vsU = { value: r.throttle_over_undici, target: 1.0, pass: r.throttle_over_undici >= 1.0 };
    const vsA = r.throttle_over_autocannon === null ? { value: null, target: 0.9, pass: null, skipped: 'autocannon missing' } : { value: r.throttle_over_autocannon, target: 0.9, pass: r.throttle_over_autocannon >= 0.9 };
    out.targets[`c${c}_throttle_over_undici`] = vsU;
    out.targets[`c${c}_throttle_over_autocannon`] = vsA;
    log(`  -c ${c}: throttle >= 1.0 × bare undici loop: ${sig(vsU.value)} ${passFail(vsU.pass)}; stretch >= 0.9 × autocannon: ${vsA.value === null ? 'skipped' : `${sig(vsA.value)} ${passFail(vsA.pass)}`}`);
  }
  log();
  return out;
}

/** pacing runs the 1000/s case `runs` times and measures the achieved rate and the start lateness. */
/** WARM_UP: requests at the start of a pacing run shown apart (their lateness is the process warming up). */
const WARM_UP = 100;

async function pacing({ url, runs, log, rate = 1000, n = 5000, j = 50 }) {
  const dir = mkdtempSync(join(tmpdir(), 'throttle-bench-'));
  const out = { rate, n, j, runs: [] };
  const P = 1000 / rate;
  try {
    for (let r = 0; r < runs; r++) {
      const file = join(dir, `res-${r}.jsonl`);
      const load = loadavg()[0];
      const res = await run([process.execPath, 'bin/throttle.js', 'http', '-r', `${rate}/s`, '-j', String(j), '--requests', String(n), '--output', file, '--json', '-q', '--no-progress', url], ((n / rate) * 4 + 30) * 1000);
      if (res.code !== 0) throw new Error(`throttle http (pacing) exited ${res.code ?? res.signal}: ${res.err.slice(-2000)}`);
      const rep = JSON.parse(res.out);
      const results = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).sort((a, b) => a.seq - b.seq);
      const starts = results.map((x) => x.startedMs);
      const first = starts[0];
      // Lateness of the send schedule: each request's start against its due time (arrivalMs, the schedule
      // the scheduler keeps: first admission + k/R). The peers' pacers count from their first event instead;
      // that view is kept too, but a first request that starts late makes every other look early in it.
      const late = results.map((x) => x.startedMs - x.arrivalMs);
      const sorted = [...late].sort((a, b) => a - b);
      const warm = late.slice(WARM_UP).sort((a, b) => a - b);
      const fromFirst = results.map((x, k) => x.startedMs - (first + k * P)).sort((a, b) => a - b);
      const spanSec = (Math.max(...starts) - Math.min(...starts)) / 1000;
      out.runs.push({
        jobs: rep.jobs.total, ok: rep.jobs.succeeded, elapsedMs: rep.elapsedMs, firstStartMs: first, spanSec,
        ratePerSpan: results.length / spanSec, // the brief's "requests / (last start − first start)"
        startRate: (results.length - 1) / spanSec, // n starts span n−1 periods
        ratePerElapsed: (rep.jobs.total / rep.elapsedMs) * 1000,
        lateMs: { min: sorted[0], p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) },
        warmLateMs: { p50: quantile(warm, 0.5), p99: quantile(warm, 0.99) },
        fromFirstLateMs: { p50: quantile(fromFirst, 0.5), p99: quantile(fromFirst, 0.99) },
        serviceP50Ms: rep.serviceMs.p50, serviceP99Ms: rep.serviceMs.p99, loadavg1: load, wallSec: res.wallSec,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  log(`### pacing: throttle http -r ${rate}/s -j ${j} --requests ${n} --output res.jsonl (${runs} run${runs > 1 ? 's' : ''}; ideal span ${(n - 1) / rate} s)\n`);
  log(table(['run', 'jobs ok', 'first start', 'span first→last start', 'requests/span', '(n−1)/span', 'jobs/elapsed', 'lateness p50', 'p99', 'max', `p50 / p99 after the first ${WARM_UP}`, 'p50 / p99 vs first start + k/R', 'service p50 / p99', 'load avg 1m'], out.runs.map((x, i) => [
    String(i + 1), `${x.ok}/${x.jobs}`, `${x.firstStartMs.toFixed(2)} ms`, `${x.spanSec.toFixed(4)} s`, fmt(x.ratePerSpan, 2), fmt(x.startRate, 2), fmt(x.ratePerElapsed, 2),
    `${sig(x.lateMs.p50)} ms`, `${sig(x.lateMs.p99)} ms`, `${sig(x.lateMs.max)} ms`, `${sig(x.warmLateMs.p50)} / ${sig(x.warmLateMs.p99)} ms`, `${sig(x.fromFirstLateMs.p50)} / ${sig(x.fromFirstLateMs.p99)} ms`,
    `${sig(x.serviceP50Ms)} / ${sig(x.serviceP99Ms)} ms`, x.loadavg1.toFixed(2),
  ])));
  log('\nlateness: start − due time (the schedule); "after the first" leaves out the warm-up (first connection, code compiled on first use).');
  const m = (f) => median(out.runs.map(f));
  out.median = { ratePerSpan: m((x) => x.ratePerSpan), startRate: m((x) => x.startRate), ratePerElapsed: m((x) => x.ratePerElapsed), lateP50Ms: m((x) => x.lateMs.p50), lateP99Ms: m((x) => x.lateMs.p99), lateMaxMs: m((x) => x.lateMs.max) };
  const within = (v) => Math.abs(v / rate - 1) <= 0.005;
  out.targets = {
    ratePerSpan: { value: out.median.ratePerSpan, window: [rate * 0.995, rate * 1.005], pass: within(out.median.ratePerSpan) },
    startRate: { value: out.median.startRate, window: [rate * 0.995, rate * 1.005], pass: within(out.median.startRate) },
    ratePerElapsed: { value: out.median.ratePerElapsed, window: [rate * 0.995, rate * 1.005], pass: within(out.median.ratePerElapsed) },
    lateP99: { value: out.median.lateP99Ms, target: 2, pass: out.median.lateP99Ms < 2 },
  };
  log(`\ntargets (medians over runs):`);
  log(`  achieved requests/span  within 0.5% of ${rate}/s: ${fmt(out.median.ratePerSpan, 2)} ${passFail(out.targets.ratePerSpan.pass)}  ((n−1)/span ${fmt(out.median.startRate, 2)} ${passFail(out.targets.startRate.pass)})`);
  log(`  achieved jobs/elapsed   within 0.5% of ${rate}/s: ${fmt(out.median.ratePerElapsed, 2)} ${passFail(out.targets.ratePerElapsed.pass)}`);
  log(`  start lateness p99 < 2 ms: ${sig(out.median.lateP99Ms)} ms ${passFail(out.targets.lateP99.pass)} (p50 ${sig(out.median.lateP50Ms)} ms, max ${sig(out.median.lateMaxMs)} ms)`);
  log();
  return out;
}

/** bucketOf names where a profile row's self time went: ours, undici, node internals, GC, idle, ... */
function bucketOf(x) {
  if (x.ours) return 'ours (dist/, bin/)';
  if (x.fn === '(garbage collector)') return 'GC';
  if (x.fn === '(idle)') return 'idle';
  if (x.fn === '(program)') return '(program): V8/native outside JS';
  if (x.where.startsWith('node_modules/undici/')) return 'undici';
  if (x.where.startsWith('node_modules/')) return 'other node_modules';
  if (x.where.startsWith('node:')) return 'node internals (node:*)';
  if (x.where === '') return 'native builtins (no file)';
  return 'other';
}

/**
 * attributed folds a .cpuprofile by the nearest frame on each sample's stack that belongs to a package: self
 * time in node internals and natives goes to whoever called them (a socket write from undici counts as
 * undici's; an addEventListener from dist/ as ours). GC, idle and (program) stay their own buckets; samples
 * with no package frame at all (event loop, timers, stream plumbing between them) are "node only".
 */
const OURS = ['dist', 'bin'].map((d) => pathToFileURL(join(ROOT, d)).href + '/');
function attributed(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const owner = new Map();
  const ownerOf = (id) => {
    if (owner.has(id)) return owner.get(id);
    const cf = byId.get(id).callFrame;
    let o;
    if (cf.functionName === '(garbage collector)') o = 'GC';
    else if (cf.functionName === '(idle)') o = 'idle';
    else if (cf.functionName === '(program)') o = '(program)';
    else if (OURS.some((u) => cf.url.startsWith(u))) o = 'ours';
    else if (cf.url.includes('/node_modules/undici/')) o = 'undici';
    else if (cf.url.includes('/node_modules/hdr-histogram-js/')) o = 'hdr-histogram-js';
    else if (cf.url.includes('/node_modules/')) o = 'other node_modules';
    else {
      const p = parent.get(id);
      o = p === undefined ? 'node only' : ownerOf(p);
    }
    owner.set(id, o);
    return o;
  };
  const agg = {};
  for (let i = 0; i < profile.samples.length; i++) {
    const o = ownerOf(profile.samples[i]);
    agg[o] = (agg[o] ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000;
  }
  return agg;
}

/** profile runs throttle http -j c under node --cpu-prof and folds the profile into self times. */
async function profile({ url, c, sec, top, log }) {
  const dir = mkdtempSync(join(tmpdir(), 'throttle-prof-'));
  try {
    const load = loadavg()[0];
    const res = await run([process.execPath, '--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', dir, 'bench/lib/unbundled-cli.js', 'http', '-j', String(c), '--duration', `${sec}s`, '--json', '-q', '--no-progress', url], (sec + 60) * 1000);
    if (res.code !== 0) throw new Error(`throttle http (profile) exited ${res.code ?? res.signal}: ${res.err.slice(-2000)}`);
    const rep = parseThrottle(res.out);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    const prof = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const rows = selfTimes(prof);
    const byCaller = Object.entries(attributed(prof)).sort((a, b) => b[1] - a[1]);
    const total = rows.reduce((s, x) => s + x.ms, 0);
    const split = {};
    for (const x of rows) split[bucketOf(x)] = (split[bucketOf(x)] ?? 0) + x.ms;
    const splitRows = Object.entries(split).sort((a, b) => b[1] - a[1]);
    const ours = rows.filter((x) => x.ours);
    log(`### profile: node --cpu-prof (250 µs) bench/lib/unbundled-cli.js http -j ${c} --duration ${sec}s: ${fmt(rep.rps)} req/s under the profiler, ${sig(total)} ms sampled on the main thread (load avg 1m ${load.toFixed(2)})\n`);
    log('self time by where it went:');
    log(table(['bucket', 'self', 'share'], splitRows.map(([k, ms]) => [k, `${sig(ms)} ms`, `${sig((100 * ms) / total, 2)}%`])));
    log('\nthe same, node internals and natives charged to their nearest package caller:');
    log(table(['owner', 'time', 'share'], byCaller.map(([k, ms]) => [k, `${sig(ms)} ms`, `${sig((100 * ms) / total, 2)}%`])));
    const fr = (xs) => xs.map((x) => [x.fn, x.where, `${sig(x.ms)} ms`, `${sig((100 * x.ms) / total, 2)}%`]);
    log(`\ntop ${top} self time, our code:`);
    log(table(['function', 'where', 'self', 'share'], fr(ours.slice(0, top))));
    log(`\ntop ${top} self time, all:`);
    log(table(['function', 'where', 'self', 'share'], fr(rows.slice(0, top))));
    log();
    return { c, sec, rps: rep.rps, sampledMs: total, split: Object.fromEntries(splitRows), byCaller: Object.fromEntries(byCaller), topOurs: ours.slice(0, top), top: rows.slice(0, top), loadavg1: load };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main({
  d = envNum('DURATION', 10),
  runs = envNum('HTTP_RUNS', envNum('RUNS', 1)),
  paceRuns = envNum('PACE_RUNS', envNum('HTTP_RUNS', envNum('RUNS', 1))),
  doProfile = process.env.HTTP_PROFILE !== '0',
  profileSec = envNum('PROFILE_SEC', 5),
  top = envNum('TOP', 15),
  print = true,
} = {}) {
  const log = print ? (s = '') => console.log(s) : () => {};
  const have = { autocannon: existsSync(AUTOCANNON), wrk: hasTool('wrk') };
  const target = await startServer(['bench/lib/http-target.js'], 'http-target');
  const url = `http://127.0.0.1:${target.port}/`;
  const out = { target: url, have, loadavgBefore: loadavg() };
  log(`## http: loopback target ${url} (bench/lib/http-target.js, own process), ${d} s per row, ${runs} run${runs > 1 ? 's' : ''} per row; load average ${la()}\n`);
  if (!have.autocannon) log(`autocannon: missing (run /work/shared/peers/setup.sh)\n`);
  if (!have.wrk) log('wrk: missing (Debian package wrk): its rows are skipped\n');
  try {
    // Warm-up: a short untimed run of throttle and of the bare loop (page cache, code cache, target's JIT).
    await run([process.execPath, 'bin/throttle.js', 'http', '-j', '10', '--duration', '1s', '-q', '--no-progress', url], 60_000);
    await run([process.execPath, 'bench/lib/undici-loop.js', '--url', url, '-c', '10', '--duration', '1'], 60_000);
    out.throughput = await throughput({ url, d, runs, cs: [10, 50], have, log });
    out.pacing = await pacing({ url, runs: paceRuns, log });
    if (doProfile) out.profile = await profile({ url, c: 10, sec: profileSec, top, log });
  } finally {
    await stopServer(target);
    out.targetStderr = target.err().trim();
  }
  out.loadavgAfter = loadavg();
  log(`(http: load average before ${out.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}, after ${la()}; ${out.targetStderr})\n`);
  return out;
}

if (isMain(import.meta.url)) await main();
