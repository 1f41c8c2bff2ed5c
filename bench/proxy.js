#!/usr/bin/env node
// Section 6 — `throttle proxy` overhead on loopback, in one run, against one target server
// (bench/lib/http-target.js, 127.0.0.1, its own process, 2-byte body, keep-alive):
//  1. closed-loop throughput, `wrk -t1 -cC -dDs --latency` for D s per row, rows interleaved and rotated:
//     the target directly; through `throttle proxy` with limits off (no -r, no -j); through a bare Node
//     proxy (bench/lib/bare-proxy.js: node:http + undici dispatch and nothing else — the least a proxy built
//     on node's stock HTTP server and client can be). Target: throttle proxy >= 0.5 × direct requests/s.
//  2. latency at half the load: about half the requests/s throttle proxy reached in 1, offered by wrk with
//     a pause after each answer on each connection (bench/lib/paced.lua; wrk has no fixed-rate mode and a
//     Node load generator would need as much CPU as the proxy it measures), directly, through the proxy and
//     through the bare Node proxy (what a stock node:http + undici proxy adds here), rows interleaved; the
//     added latency is the difference of the percentiles (µs resolution). Target: added p99 < 1 ms. The proxy's own view (its report's addedMs over the whole section) is printed too.
// Every load is bounded (duration, request count, and a kill timer on each child).
//   node bench/proxy.js       (env: DURATION=10, PROXY_RUNS or RUNS=1, PROXY_C=50)
import { loadavg } from 'node:os';
import { hasTool } from './lib/hyperfine.js';
import { parseWrk, run, startServer, stopServer, wrkPercentile } from './lib/procs.js';
import { envNum, fmt, isMain, median, passFail, sig, table } from './lib/stats.js';

const la = () => loadavg().map((x) => x.toFixed(2)).join(' ');

/** rotated returns the rows in run r's order: interleaved, the first one rotated every run. */
const rotated = (rows, r) => [...rows.slice(r % rows.length), ...rows.slice(0, r % rows.length)];

async function throughput({ rows, d, c, runs, log }) {
  const reps = Object.fromEntries(rows.map((x) => [x.id, []]));
  for (let r = 0; r < runs; r++) {
    for (const x of rotated(rows, r)) {
      const load = loadavg()[0];
      const res = await run(['wrk', '-t1', `-c${c}`, `-d${d}s`, '--latency', x.url], (d + 30) * 1000);
      const p = parseWrk(res.out);
      if (!Number.isFinite(p.rps)) throw new Error(`wrk against ${x.name}: no result (exit ${res.code ?? res.signal}): ${res.out.slice(-500)} ${res.err.slice(-500)}`);
      reps[x.id].push({ ...p, loadavg1: load });
    }
  }
  const by = {};
  for (const x of rows) {
    const rs = reps[x.id];
    const m = (f) => median(rs.map(f));
    by[x.id] = { name: x.name, url: x.url, runs: rs, rps: m((y) => y.rps), p50: m((y) => y.p50), p99: m((y) => y.p99), bad: rs.reduce((s, y) => s + y.bad, 0), loadavg1: m((y) => y.loadavg1) };
  }
  log(`### throughput: wrk -t1 -c${c} -d${d}s, ${runs} run${runs > 1 ? 's' : ''} per row (medians)\n`);
  log(table(['row', 'req/s', 'p50', 'p99', 'non-2xx+errors', runs > 1 ? 'req/s min–max' : '(1 run)', 'load avg 1m'], rows.map((x) => {
    const b = by[x.id];
    return [b.name, fmt(b.rps), `${sig(b.p50)} ms`, `${sig(b.p99)} ms`, String(b.bad), runs > 1 ? `${fmt(Math.min(...b.runs.map((y) => y.rps)))}–${fmt(Math.max(...b.runs.map((y) => y.rps)))}` : '', b.loadavg1.toFixed(2)];
  })));
  return by;
}

/** PACE_MS: the pause after each answer on a connection in the paced load (bench/lib/paced.lua). */
const PACE_MS = 10;

async function latency({ rows, rate, d, runs, log }) {
  // C connections each pausing PACE_MS after an answer offer about C / (PACE_MS + latency) requests per ms;
  // the latency is about a millisecond here, so C is sized for the rate with that.
  const c = Math.max(1, Math.round((rate * (PACE_MS + 1)) / 1000));
  const reps = Object.fromEntries(rows.map((x) => [x.id, []]));
  for (let r = 0; r < runs; r++) {
    for (const x of rotated(rows, r)) {
      const res = await run(['wrk', '-t1', `-c${c}`, `-d${d}s`, '--latency', '-s', 'bench/lib/paced.lua', x.url, '--', String(PACE_MS)], (d + 30) * 1000);
      const p = parseWrk(res.out);
      if (!Number.isFinite(p.rps)) throw new Error(`paced wrk against ${x.name}: no result (exit ${res.code ?? res.signal}): ${res.out.slice(-500)} ${res.err.slice(-500)}`);
      reps[x.id].push({ ...p, p90: wrkPercentile(res.out, 90) });
    }
  }
  const by = {};
  for (const x of rows) {
    const rs = reps[x.id];
    const m = (f) => median(rs.map(f));
    by[x.id] = { name: x.name, runs: rs, achieved: m((y) => y.rps), p50: m((y) => y.p50), p90: m((y) => y.p90), p99: m((y) => y.p99), bad: rs.reduce((s, y) => s + y.bad, 0) };
  }
  log(`\n### latency at about ${fmt(rate)} requests/s (half of what throttle proxy reached): wrk -t1 -c${c} -d${d}s with a ${PACE_MS} ms pause per connection after each answer, ${runs} run${runs > 1 ? 's' : ''} (medians; send → answer)\n`);
  log(table(['row', 'achieved', 'p50', 'p90', 'p99', 'non-2xx+errors'], rows.map((x) => {
    const b = by[x.id];
    return [b.name, `${fmt(b.achieved)}/s`, `${sig(b.p50)} ms`, `${sig(b.p90)} ms`, `${sig(b.p99)} ms`, String(b.bad)];
  })));
  return { c, by };
}


export async function main({
  d = envNum('DURATION', 10),
  runs = envNum('PROXY_RUNS', envNum('RUNS', 1)),
  c = envNum('PROXY_C', 50),
  print = true,
} = {}) {
  const log = print ? (s = '') => console.log(s) : () => {};
  if (!hasTool('wrk')) {
    log('## proxy: wrk is missing (Debian package wrk): section skipped\n');
    return { skipped: 'wrk missing' };
  }
  const out = { loadavgBefore: loadavg(), durationSec: d, runs, c };
  const target = await startServer(['bench/lib/http-target.js'], 'http-target');
  const started = [target];
  try {
    const upstream = `http://127.0.0.1:${target.port}`;
    const proxy = await startServer(['bin/throttle.js', 'proxy', '--listen', '127.0.0.1:0', '--no-progress', '--json', '-q', upstream], 'throttle proxy');
    started.push(proxy);
    const bare = await startServer(['bench/lib/bare-proxy.js', '--upstream', upstream], 'bare proxy');
    started.push(bare);
    log(`## proxy: throttle proxy (limits off) in front of ${upstream}/ (bench/lib/http-target.js), against the target directly and a bare Node proxy; load average ${la()}\n`);
    const rows = [
      { id: 'direct', name: 'target directly', url: `${upstream}/` },
      { id: 'throttle', name: 'throttle proxy (limits off)', url: `http://127.0.0.1:${proxy.port}/` },
      { id: 'bare', name: 'bare node:http + undici proxy', url: `http://127.0.0.1:${bare.port}/` },
    ];
    // Warm-up: a short untimed load on each row (JIT, connection pools).
    for (const x of rows) await run(['wrk', '-t1', `-c${c}`, '-d2s', x.url], 60_000);
    const tp = await throughput({ rows, d, c, runs, log });
    out.throughput = tp;
    const ratio = tp.throttle.rps / tp.direct.rps;
    out.ratios = { throttle_over_direct: ratio, bare_over_direct: tp.bare.rps / tp.direct.rps, throttle_over_bare: tp.throttle.rps / tp.bare.rps };
    log(`\nratios of req/s: throttle proxy / direct ${sig(ratio)}, bare proxy / direct ${sig(out.ratios.bare_over_direct)}, throttle proxy / bare proxy ${sig(out.ratios.throttle_over_bare)}`);

    const rate = Math.max(100, Math.round(tp.throttle.rps / 2 / 100) * 100);
    // The bare proxy is measured too: what a stock node:http + undici proxy adds on this machine.
    const { c: pacedC, by: lat } = await latency({ rows, rate, d, runs, log });
    out.latency = {
      rate,
      connections: pacedC,
      paceMs: PACE_MS,
      rows: lat,
      addedP50Ms: lat.throttle.p50 - lat.direct.p50,
      addedP99Ms: lat.throttle.p99 - lat.direct.p99,
      bareAddedP50Ms: lat.bare.p50 - lat.direct.p50,
      bareAddedP99Ms: lat.bare.p99 - lat.direct.p99,
    };
    log(`\nadded by the proxy at ${fmt(rate)}/s: p50 ${sig(out.latency.addedP50Ms)} ms, p99 ${sig(out.latency.addedP99Ms)} ms (the bare Node proxy adds p50 ${sig(out.latency.bareAddedP50Ms)} ms, p99 ${sig(out.latency.bareAddedP99Ms)} ms)`);

    await stopServer(proxy);
    try {
      const report = JSON.parse(proxy.out());
      out.proxyReport = { requests: report.jobs.total, addedMs: report.addedMs, serviceMs: report.serviceMs, inflightPeak: report.inflight.peak };
      log(`the proxy's own report over the section: ${fmt(report.jobs.total)} requests, added p50 ${sig(report.addedMs.p50)} ms, p99 ${sig(report.addedMs.p99)} ms (arrival → dispatch plus upstream's last byte → response closed), peak ${report.inflight.peak} in flight`);
    } catch {
      log(`(no JSON report from throttle proxy: ${proxy.err().slice(-500)})`);
    }

    out.targets = {
      throughput: { value: ratio, target: 0.5, pass: ratio >= 0.5 },
      addedP99: { value: out.latency.addedP99Ms, target: 1, pass: out.latency.addedP99Ms < 1 },
    };
    log('\ntargets:');
    log(`  throttle proxy >= 0.5 × direct req/s: ${sig(ratio)} ${passFail(out.targets.throughput.pass)} (the bare Node proxy reaches ${sig(out.ratios.bare_over_direct)})`);
    log(`  added p99 < 1 ms at ${fmt(rate)}/s: ${sig(out.latency.addedP99Ms)} ms ${passFail(out.targets.addedP99.pass)} (the bare Node proxy adds ${sig(out.latency.bareAddedP99Ms)} ms)`);
    log();
  } finally {
    for (const s of started.reverse()) await stopServer(s);
  }
  out.loadavgAfter = loadavg();
  log(`(proxy: load average before ${out.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}, after ${la()})\n`);
  return out;
}

if (isMain(import.meta.url)) await main();
