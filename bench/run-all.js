#!/usr/bin/env node
// `npm run bench`: every section in sequence (core, spawn, pacing, startup, http, proxy), then a summary of the ratios
// and targets, and a JSON record in bench/results/<timestamp>.json (git-ignored).
// Each section also runs alone: node bench/core.js | spawn.js | pacing.js | startup.js | http.js | proxy.js | redis.js.
// Knobs (env): MS, RUNS, ALLOC_CALLS (core; RUNS also spawn rounds), N, JS (spawn), REPS, PACE_CASES,
// PACE_J (pacing), STARTUP_RUNS (startup), ONLY=core,spawn,... to run some sections, LOAD_MAX and
// LOAD_WAIT_SEC (wait for a quiet machine before each section), DURATION, HTTP_RUNS, PACE_RUNS, HTTP_PROFILE,
// PROFILE_SEC (http; HTTP_RUNS defaults to RUNS, then 1), PROXY_RUNS, PROXY_C (proxy; PROXY_RUNS defaults to RUNS),
// TRACE_LINES, TRACE_RUNS, TRACE_BIG (trace).
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT, passFail, sig } from './lib/stats.js';

const sections = {
  core: () => import('./core.js'),
  spawn: () => import('./spawn.js'),
  pacing: () => import('./pacing.js'),
  startup: () => import('./startup.js'),
  http: () => import('./http.js'),
  proxy: () => import('./proxy.js'),
  redis: () => import('./redis.js'),
  trace: () => import('./trace.js'),
};
const only = process.env.ONLY ? new Set(process.env.ONLY.split(',')) : undefined;

// This machine class is shared and noisy: before each section, wait (bounded) for the 1-minute load
// average to fall to LOAD_MAX (default: the CPU count). LOAD_WAIT_SEC=0 disables the wait.
const LOAD_MAX = Number(process.env.LOAD_MAX ?? availableParallelism());
const LOAD_WAIT_SEC = Number(process.env.LOAD_WAIT_SEC ?? 300);
async function waitForQuiet(name) {
  const t0 = performance.now();
  let said = false;
  while (loadavg()[0] > LOAD_MAX && performance.now() - t0 < LOAD_WAIT_SEC * 1000) {
    if (!said) console.log(`(${name}: load average ${loadavg()[0].toFixed(2)} > ${LOAD_MAX}; waiting up to ${LOAD_WAIT_SEC} s for it to fall)`);
    said = true;
    await new Promise((r) => setTimeout(r, 5000));
  }
  return { waitedSec: (performance.now() - t0) / 1000, loadavg: loadavg() };
}

const started = new Date();
const summary = {
  startedAt: started.toISOString(),
  node: process.version,
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model,
  loadavgBefore: loadavg(),
  env: Object.fromEntries(['MS', 'RUNS', 'ALLOC_CALLS', 'N', 'JS', 'REPS', 'PACE_CASES', 'PACE_J', 'STARTUP_RUNS', 'ONLY', 'LOAD_MAX', 'LOAD_WAIT_SEC', 'DURATION', 'HTTP_RUNS', 'PACE_RUNS', 'HTTP_PROFILE', 'PROFILE_SEC', 'PROXY_RUNS', 'PROXY_C', 'TRACE_LINES', 'TRACE_RUNS', 'TRACE_BIG'].filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]])),
  sections: {},
  errors: {},
};
for (const [name, load] of Object.entries(sections)) {
  if (only !== undefined && !only.has(name)) continue;
  const quiet = await waitForQuiet(name);
  const t0 = performance.now();
  try {
    const mod = await load();
    summary.sections[name] = { ...(await mod.main()), loadavgAtStart: quiet.loadavg, waitedForQuietSec: quiet.waitedSec };
  } catch (err) {
    console.log(`section ${name} failed: ${err?.stack ?? err}\n`);
    summary.errors[name] = String(err?.message ?? err);
  }
  console.log(`(${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
}
summary.loadavgAfter = loadavg();
summary.elapsedSec = (Date.now() - started.getTime()) / 1000;

// The figures that have targets, in one place.
const lines = [];
const s = summary.sections;
if (s.core) {
  const r = s.core.ratios;
  lines.push(`core     allowN / bare bucket           ${sig(r.allowN_over_bare.value)}  target >= 0.75  ${passFail(r.allowN_over_bare.pass)}`);
  lines.push(`core     allowN / limiter@4             ${sig(r.allowN_over_limiter.value)}  target >= 2     ${passFail(r.allowN_over_limiter.pass)}`);
  for (const k of ['fractional t', 'integer t']) {
    const a = s.core.alloc[`allowN (${k})`];
    const b = s.core.alloc[`bare (${k})`];
    lines.push(`core     allowN heap growth / GCs (${k.padEnd(12)}) ${a.heapUsedGrowthBytes} B / ${a.gcs} GCs over ${a.calls} calls; bare bucket control ${b.heapUsedGrowthBytes} B / ${b.gcs} GCs (no target)`);
  }
}
if (s.spawn?.targets) {
  const t = s.spawn.targets;
  lines.push(`spawn    j8 throttle / bare spawn pipe  ${sig(t.j8_throttle_over_bare_pipe.value)}  target >= 0.9   ${passFail(t.j8_throttle_over_bare_pipe.pass)}`);
  lines.push(`spawn    j8 throttle / bare spawn ignore ${sig(t.j8_throttle_over_bare_ignore.value)}  target >= 0.9   ${passFail(t.j8_throttle_over_bare_ignore.pass)}`);
  lines.push(`spawn    j8 throttle / GNU parallel     ${t.j8_throttle_over_parallel.value === null ? 'skipped (parallel not installed)' : `${sig(t.j8_throttle_over_parallel.value)}  target >= 2     ${passFail(t.j8_throttle_over_parallel.pass)}`}`);
}
if (s.pacing) {
  for (const c of s.pacing.cases) {
    lines.push(`pacing   ${c.n}@${c.rate}/s start span ${c.median.spanSec.toFixed(4)} s (ideal ${c.idealSec}) ${passFail(c.targets.startSpan.pass)}; run elapsed ${c.median.elapsedSec.toFixed(3)} s ${passFail(c.targets.runElapsed.pass)}; process wall ${c.median.wallSec.toFixed(3)} s ${passFail(c.targets.processWall.pass)}; achieved ${c.median.achievedRate.toFixed(2)}/s, max late ${sig(c.median.lateMaxMs)} ms`);
  }
}
if (s.startup) {
  const r = s.startup.ratios;
  lines.push(`startup  --version / node -e 0          ${sig(r.version_over_node.value)}  target <= 1.3   ${passFail(r.version_over_node.pass)} (on minima ${sig(r.version_over_node_min.value)})`);
}
if (s.http) {
  const h = s.http;
  for (const c of Object.keys(h.throughput.byC)) {
    const t = h.throughput.targets;
    const u = t[`c${c}_throttle_over_undici`];
    const a = t[`c${c}_throttle_over_autocannon`];
    const tr = h.throughput.byC[c].rows.throttle;
    lines.push(`http     c${c} throttle / bare undici loop  ${sig(u.value)}  target >= 1     ${passFail(u.pass)}; / autocannon ${a.value === null ? 'skipped (autocannon missing)' : `${sig(a.value)}  stretch >= 0.9 ${passFail(a.pass)}`} (${Math.round(tr.rps)} req/s, service p50 ${sig(tr.p50)} p99 ${sig(tr.p99)} ms, load ${tr.loadavg1.toFixed(2)})`);
  }
  const p = h.pacing;
  lines.push(`http     -r ${p.rate}/s: achieved ${p.median.ratePerSpan.toFixed(2)}/s over the start span ${passFail(p.targets.ratePerSpan.pass)}, ${p.median.ratePerElapsed.toFixed(2)}/s over elapsed ${passFail(p.targets.ratePerElapsed.pass)} (within 0.5%); start lateness p99 ${sig(p.median.lateP99Ms)} ms  target < 2 ms  ${passFail(p.targets.lateP99.pass)}`);
  if (h.profile) lines.push(`http     profile -j ${h.profile.c}: ${Object.entries(h.profile.byCaller).map(([k, ms]) => `${k} ${sig((100 * ms) / h.profile.sampledMs, 2)}%`).join(', ')}`);
}
if (s.proxy?.targets) {
  const p = s.proxy;
  const tp = p.throughput;
  lines.push(`proxy    c${p.c} throttle proxy / direct    ${sig(p.targets.throughput.value)}  target >= 0.5   ${passFail(p.targets.throughput.pass)} (${Math.round(tp.throttle.rps)} vs ${Math.round(tp.direct.rps)} req/s; bare Node proxy / direct ${sig(p.ratios.bare_over_direct)}, throttle / bare ${sig(p.ratios.throttle_over_bare)})`);
  lines.push(`proxy    added p99 at ${p.latency.rate}/s          ${sig(p.targets.addedP99.value)} ms  target < 1 ms  ${passFail(p.targets.addedP99.pass)} (added p50 ${sig(p.latency.addedP50Ms)} ms; bare Node proxy adds p99 ${sig(p.latency.bareAddedP99Ms)} ms)`);
}
if (s.redis) {
  const r = s.redis;
  const a = r.rows.acquire;
  lines.push(`redis    acquire / PING round trip (p50)   ${sig(r.ratios.acquire_over_ping_p50.value)}  target <= 1.5   ${passFail(r.ratios.acquire_over_ping_p50.pass)} (extra p50 ${sig(r.extraLatencyUs.p50)} µs, p99 ${sig(r.extraLatencyUs.p99)} µs; ${Math.round(a.opsPerSec1)} acquires/s at 1 caller, ${Math.round(a.opsPerSec8)} at 8)`);
}
if (s.trace) {
  const t = s.trace;
  lines.push(`trace    read 1,000,000 JSON Lines lines    ${sig(t.targets.readPerMillionSec.value)} s  target < 1 s   ${passFail(t.targets.readPerMillionSec.pass)}`);
  lines.push(`trace    simulate 1,000,000 events          ${sig(t.targets.simulatePerMillionSec.value)} s  target < 2 s   ${passFail(t.targets.simulatePerMillionSec.pass)} (${sig(t.targets.simulateEventsPerSec.value)} events/s, target > 1,000,000: ${passFail(t.targets.simulateEventsPerSec.pass)}; peak RSS ${sig(t.median.benchRssMb)} MB)`);
  if (t.targets.bigRssMb) {
    lines.push(`trace    simulate ${t.big.events.toLocaleString('en-US')} events: peak RSS ${sig(t.big.rssMb)} MB  target < 200 MB   ${passFail(t.targets.bigRssMb.pass)} (${sig(t.big.wallSec)} s)`);
    lines.push(`trace    simulate ${t.big.events.toLocaleString('en-US')} events: ${sig(t.targets.bigEventsPerSec.value)} events/s  target > 1,000,000   ${passFail(t.targets.bigEventsPerSec.pass)}`);
    lines.push(`trace    the replay alone (start-up aside): ${sig(t.targets.replayEventsPerSec.value)} events/s  target > 1,000,000   ${passFail(t.targets.replayEventsPerSec.pass)} (start-up: a one-event trace takes ${sig(t.median.startupSec)} s)`);
  }
}
summary.headline = lines;

const dir = join(ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
console.log('## summary\n');
for (const l of lines) console.log(l);
console.log(`\nload average before ${summary.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}, after ${summary.loadavgAfter.map((x) => x.toFixed(2)).join(' ')} on ${summary.cpus} CPUs; ${summary.elapsedSec.toFixed(0)} s`);
console.log(`wrote ${file}`);
if (Object.keys(summary.errors).length > 0) process.exitCode = 1;
