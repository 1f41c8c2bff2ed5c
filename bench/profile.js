#!/usr/bin/env node
// Not part of run-all: CPU profile of a spawn run, top self-time functions overall and from our code.
//   node bench/profile.js        (env: N=2000 J=8 TOP=25)
// Runs `seq N | node --cpu-prof bench/lib/unbundled-cli.js -j J (the CLI unbundled) -q --no-progress -- true {}` and folds the profile's
// samples into self time per function (name + file:line), with dist/ files marked as ours.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, envNum, isMain, sig, table } from './lib/stats.js';

/** selfTimes folds a .cpuprofile into [{ fn, where, ours, ms }] sorted by self time. */
export function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const agg = new Map();
  for (const [id, us] of dt) {
    const cf = byId.get(id).callFrame;
    let file = cf.url;
    try { if (file.startsWith('file:')) file = relative(ROOT, fileURLToPath(file)); } catch {}
    const where = file ? `${file}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}\t${where}`;
    const a = agg.get(key) ?? { fn: cf.functionName || '(anonymous)', where, ours: file.startsWith('dist/') || file.startsWith('bin/'), ms: 0 };
    a.ms += us / 1000;
    agg.set(key, a);
  }
  return [...agg.values()].sort((a, b) => b.ms - a.ms);
}

export async function main({ n = envNum('N', 2000), j = envNum('J', 8), top = envNum('TOP', 25), print = true } = {}) {
  const log = print ? (s = '') => console.log(s) : () => {};
  const dir = mkdtempSync(join(tmpdir(), 'throttle-prof-'));
  try {
    const t0 = performance.now();
    const r = spawnSync('sh', ['-c', `seq ${n} | node --cpu-prof --cpu-prof-dir ${dir} bench/lib/unbundled-cli.js -j ${j} -q --no-progress -- true {}`], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
    const wall = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`throttle failed: ${r.status} ${r.stderr}`);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const rows = selfTimes(profile);
    const total = rows.reduce((s, x) => s + x.ms, 0);
    const oursTotal = rows.filter((x) => x.ours).reduce((s, x) => s + x.ms, 0);
    log(`## profile: seq ${n} | throttle -j ${j} -- true {}: wall ${wall.toFixed(2)} s, ${sig(total)} ms sampled on the main thread, ${sig(oursTotal)} ms (${sig((100 * oursTotal) / total, 2)}%) self time in our code\n`);
    const fmtRows = (xs) => xs.map((x) => [x.fn, x.where, `${sig(x.ms)} ms`, `${sig((100 * x.ms) / total, 2)}%`]);
    log('top self time, all:');
    log(table(['function', 'where', 'self', 'share'], fmtRows(rows.slice(0, top))));
    log('\ntop self time, our code (dist/, bin/):');
    log(table(['function', 'where', 'self', 'share'], fmtRows(rows.filter((x) => x.ours).slice(0, top))));
    if (r.stderr.trim()) log(`\nstderr of the run:\n${r.stderr.trim()}`);
    log();
    return { n, j, wallSec: wall, sampledMs: total, oursMs: oursTotal, top: rows.slice(0, top), topOurs: rows.filter((x) => x.ours).slice(0, top), stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await main();
