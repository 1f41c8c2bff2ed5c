#!/usr/bin/env node
// Section 3 — pacing accuracy of the CLI: `seq 1000 | throttle -r 200/s -j 8 -q --no-progress -- true {}`.
// With burst 1 the first job starts at once and the k-th 5 ms × k later, so the last starts at 4.995 s.
// Measured per rep: the process's wall time (spawn to exit, includes node start-up and the last job), the
// run's own elapsed time (its --report), and from --output (per-job Results, startedMs relative to the run
// start) the span first→last start, the achieved start rate and the lateness of each start against the
// ideal schedule t0 + k/R (t0 = the first start; k = the job's seq). Control, interleaved with each rep: a
// bare spawn loop with the same deadline pacing (bench/lib/spawn-loop.js --rate), to tell throttle's
// pacing from what this machine can spawn at all.
//   node bench/pacing.js          (env: REPS=3 PACE_CASES=1000@200,250@50 PACE_J=8)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, envNum, fmt, isMain, median, passFail, quantile, sig, table } from './lib/stats.js';

function runOnce(n, rate, j, dir, rep) {
  const output = join(dir, `res-${rep}.jsonl`);
  const report = join(dir, `report-${rep}.json`);
  const args = ['bin/throttle.js', '-r', `${rate}/s`, '-j', String(j), '-q', '--no-progress', '--output', output, '--report', report, '--', 'true', '{}'];
  return new Promise((resolve, reject) => {
    const input = Array.from({ length: n }, (_, i) => `${i + 1}\n`).join('');
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const limit = setTimeout(() => child.kill('SIGKILL'), 120_000); // bounded: 24× the expected run
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const wallSec = (performance.now() - t0) / 1000;
      clearTimeout(limit);
      if (code !== 0) return reject(new Error(`throttle exited ${code ?? signal}: ${stderr}`));
      const results = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const rep = JSON.parse(readFileSync(report, 'utf8'));
      resolve({ wallSec, elapsedSec: rep.elapsedMs / 1000, results, stderr });
    });
    child.stdin.end(input);
  });
}

/** bareOnce runs the bare control: bench/lib/spawn-loop.js with the same pacing (deadline pacer), pipes, detached. */
function bareOnce(n, rate, j) {
  return new Promise((resolve, reject) => {
    const input = Array.from({ length: n }, (_, i) => `${i + 1}\n`).join('');
    const child = spawn(process.execPath, ['bench/lib/spawn-loop.js', '-j', String(j), '--stdio', 'pipe', '--detached', '--rate', String(rate), '--', 'true', '{}'], { cwd: ROOT, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const limit = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(limit);
      const m = /start-span=([\d.]+)s achieved=([\d.]+)/.exec(stderr);
      if (code !== 0 || m === null) return reject(new Error(`spawn-loop failed (${code}): ${stderr}`));
      resolve({ spanSec: Number(m[1]), achievedRate: Number(m[2]) });
    });
    child.stdin.end(input);
  });
}

function analyse(results, rate) {
  const byseq = [...results].sort((a, b) => a.seq - b.seq);
  const starts = byseq.map((r) => r.startedMs);
  const t0 = starts[0];
  const P = 1000 / rate;
  const late = byseq.map((r, k) => r.startedMs - (t0 + k * P));
  const sorted = [...late].sort((a, b) => a - b);
  const first = Math.min(...starts);
  const last = Math.max(...starts);
  const spanSec = (last - first) / 1000;
  return {
    jobs: results.length,
    ok: results.filter((r) => r.status === 'ok').length,
    firstStartMs: t0,
    spanSec,
    achievedRate: (results.length - 1) / spanSec,
    lateMs: { min: sorted[0], p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) },
    inOrder: byseq.every((r, k) => k === 0 || r.startedMs >= byseq[k - 1].startedMs),
  };
}

async function runCase({ reps, n, rate, j, log }) {
  const ideal = (n - 1) / rate;
  const lo = ideal * 0.99;
  const hi = ideal * 1.01;
  const wallHi = (n / rate) * 1.01; // "within 1% of n/R", e.g. 5.05 s for 1000 at 200/s
  log(`### seq ${n} | throttle -r ${rate}/s -j ${j} -q --no-progress -- true {}   (${reps} reps; ideal last start ${ideal} s)\n`);
  const dir = mkdtempSync(join(tmpdir(), 'throttle-bench-'));
  const out = { n, rate, j, reps, idealSec: ideal, runs: [] };
  try {
    for (let r = 0; r < reps; r++) {
      const x = await runOnce(n, rate, j, dir, r);
      const bare = await bareOnce(n, rate, j); // interleaved with throttle's reps
      out.runs.push({ wallSec: x.wallSec, elapsedSec: x.elapsedSec, ...analyse(x.results, rate), bare });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  log(table(['rep', 'process wall', 'run elapsed (report)', 'first start', 'start span', 'achieved starts/s', 'lateness p50', 'p99', 'max', 'jobs ok', 'bare paced loop: span, starts/s'], out.runs.map((x, i) => [
    String(i + 1), `${x.wallSec.toFixed(3)} s`, `${x.elapsedSec.toFixed(3)} s`, `${x.firstStartMs.toFixed(1)} ms`, `${x.spanSec.toFixed(4)} s`, fmt(x.achievedRate, 2),
    `${sig(x.lateMs.p50)} ms`, `${sig(x.lateMs.p99)} ms`, `${sig(x.lateMs.max)} ms`, `${x.ok}/${x.jobs}`, `${x.bare.spanSec.toFixed(4)} s, ${fmt(x.bare.achievedRate, 2)}`,
  ])));
  const m = (f) => median(out.runs.map(f));
  out.median = { bareAchievedRate: m((x) => x.bare.achievedRate), bareSpanSec: m((x) => x.bare.spanSec), wallSec: m((x) => x.wallSec), elapsedSec: m((x) => x.elapsedSec), spanSec: m((x) => x.spanSec), achievedRate: m((x) => x.achievedRate), lateMaxMs: m((x) => x.lateMs.max), lateP99Ms: m((x) => x.lateMs.p99) };
  // The 1% window: the start span (what the limiter controls) around the ideal (n-1)/R; the run's elapsed
  // time and the process wall (which add the last job's run, and node start-up) up to n/R + 1%.
  out.targets = {
    startSpan: { value: out.median.spanSec, window: [lo, hi], pass: out.median.spanSec >= lo && out.median.spanSec <= hi },
    runElapsed: { value: out.median.elapsedSec, window: [lo, wallHi], pass: out.median.elapsedSec >= lo && out.median.elapsedSec <= wallHi },
    processWall: { value: out.median.wallSec, window: [lo, wallHi], pass: out.median.wallSec >= lo && out.median.wallSec <= wallHi },
  };
  log(`\nmedians: process wall ${out.median.wallSec.toFixed(3)} s, run elapsed ${out.median.elapsedSec.toFixed(3)} s, start span ${out.median.spanSec.toFixed(4)} s, achieved ${fmt(out.median.achievedRate, 2)} starts/s (target ${rate}), lateness p99 ${sig(out.median.lateP99Ms)} ms, max ${sig(out.median.lateMaxMs)} ms; bare paced spawn loop (control, same machine): ${fmt(out.median.bareAchievedRate, 2)} starts/s`);
  log('targets (within 1%):');
  log(`  start span first→last in ${lo.toFixed(3)}–${hi.toFixed(3)} s: ${out.median.spanSec.toFixed(4)} s ${passFail(out.targets.startSpan.pass)}`);
  log(`  run elapsed (report) in ${lo.toFixed(3)}–${wallHi.toFixed(3)} s:     ${out.median.elapsedSec.toFixed(3)} s ${passFail(out.targets.runElapsed.pass)}`);
  log(`  process wall in ${lo.toFixed(3)}–${wallHi.toFixed(3)} s:             ${out.median.wallSec.toFixed(3)} s ${passFail(out.targets.processWall.pass)}`);
  log();
  return out;
}

/**
 * main runs each case of PACE_CASES ("N@R" pairs). The first is the target case (1000 at 200/s); the
 * second (250 at 50/s, also ~5 s) is a control at a rate well inside what this machine can spawn, so that
 * pacing accuracy can be told apart from spawn capacity (see spawn.js: a node process here starts at most
 * ~100–160 children/s, and spawn() blocks the event loop for several ms each).
 */
export async function main({ reps = envNum('REPS', 3), cases = process.env.PACE_CASES ?? '1000@200,250@50', j = envNum('PACE_J', 8), print = true } = {}) {
  const log = print ? (s = '') => console.log(s) : () => {};
  log(`## pacing: achieved start rate and lateness against the ideal schedule (burst 1: job k due at k/R)\n`);
  const out = { cases: [] };
  for (const c of cases.split(',')) {
    const [n, rate] = c.split('@').map(Number);
    if (!(n >= 2 && rate > 0)) throw new Error(`PACE_CASES: bad case "${c}", want N@R e.g. 1000@200`);
    out.cases.push(await runCase({ reps, n, rate, j, log }));
  }
  return out;
}

if (isMain(import.meta.url)) await main();
