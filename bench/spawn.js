#!/usr/bin/env node
// Section 2 — spawn throughput: N jobs of `true` at -j 1, 2, 8, whole-process wall time, as jobs/s.
// Rows: throttle; a bare child_process.spawn loop (bench/lib/spawn-loop.js: stdio ignore, pipe, and pipe +
// detached, which is exactly what throttle asks of each child); xargs -P; GNU parallel; an execa loop.
// Every command takes its jobs as `seq N | …` and gets the line as its argument (like `xargs -n 1 true`).
// Timed with hyperfine -N (pipelines through `sh -c`), RUNS rounds of one run per command, the order
// rotated every round (interleaved), after one untimed warm-up round on min(N, 200) jobs; jobs/s = N / median wall.
//   node bench/spawn.js          (env: N=2000 RUNS=3 JS="1 2 8")
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasTool, interleaved } from './lib/hyperfine.js';
import { ROOT, envNum, fmt, isMain, passFail, sig, table } from './lib/stats.js';

/** sanityCheck makes sure the throttle command line really runs one job per input line. */
function sanityCheck() {
  const dir = mkdtempSync(join(tmpdir(), 'throttle-bench-'));
  try {
    const report = join(dir, 'r.json');
    const r = spawnSync('sh', ['-c', `seq 20 | node bin/throttle.js -j 2 --no-progress -q --report ${report} -- true {}`], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    const j = JSON.parse(readFileSync(report, 'utf8'));
    if (r.status !== 0 || j.jobs.total !== 20 || j.jobs.succeeded !== 20) throw new Error(`throttle sanity check failed: status ${r.status}, jobs ${JSON.stringify(j.jobs)}\n${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main({ n = envNum('N', 2000), runs = envNum('RUNS', 3), js = (process.env.JS ?? '1 2 8').trim().split(/\s+/).map(Number), print = true } = {}) {
  const log = print ? (s = '') => console.log(s) : () => {};
  if (!hasTool('hyperfine')) throw new Error('hyperfine is not installed (apt-get install hyperfine); not installing it here');
  const haveParallel = hasTool('parallel');
  sanityCheck();
  log(`## spawn: ${n} jobs of \`true {}\` per command, jobs/s = N / median wall (hyperfine -N, ${runs} interleaved rounds after a warm-up round)\n`);
  if (!haveParallel) log('GNU parallel is not installed (Debian package `parallel`): its rows are skipped.\n');
  const seq = `seq ${n} |`;
  const out = { n, runs, js, parallel: haveParallel, byJ: {} };
  const rows = [];
  const ratioRows = [];
  for (const j of js) {
    const cmds = [
      { id: 'throttle', name: `throttle -j ${j}`, cmd: `${seq} node bin/throttle.js -j ${j} --no-progress -q -- true {}` },
      { id: 'spawnIgnore', name: `bare spawn loop, stdio ignore`, cmd: `${seq} node bench/lib/spawn-loop.js -j ${j} --stdio ignore -- true {}` },
      { id: 'spawnPipe', name: `bare spawn loop, stdio pipe`, cmd: `${seq} node bench/lib/spawn-loop.js -j ${j} --stdio pipe -- true {}` },
      { id: 'spawnPipeDetached', name: `bare spawn loop, pipe + detached (throttle's shape)`, cmd: `${seq} node bench/lib/spawn-loop.js -j ${j} --stdio pipe --detached -- true {}` },
      { id: 'execa', name: `execa loop (defaults)`, cmd: `${seq} node bench/lib/spawn-loop.js -j ${j} --execa -- true {}` },
      { id: 'xargs', name: `xargs -P ${j} -n 1 true`, cmd: `${seq} xargs -P ${j} -n 1 true` },
      ...(haveParallel ? [{ id: 'parallel', name: `parallel -j ${j} true`, cmd: `${seq} parallel --will-cite -j ${j} true` }] : []),
    ];
    // Warm-up: one untimed run of every command on a short input (page cache, node's code cache).
    const warm = Math.min(n, 200);
    interleaved(cmds.map((c) => ({ name: c.name, cmd: `sh -c '${c.cmd.replace(seq, `seq ${warm} |`)}'` })), { rounds: 1, warmup: 0 });
    const res = interleaved(cmds.map((c) => ({ name: c.name, cmd: `sh -c '${c.cmd}'` })), { rounds: runs, warmup: 0 });
    const byId = {};
    cmds.forEach((c, i) => {
      const r = res[i];
      byId[c.id] = { name: c.name, cmd: c.cmd, medianSec: r.median, minSec: r.min, maxSec: r.max, jobsPerSec: n / r.median };
      rows.push([String(j), c.name, fmt(n / r.median), `${sig(r.median)} s`, `${sig(r.min)}–${sig(r.max)} s`]);
    });
    const t = byId.throttle.jobsPerSec;
    const ratios = {
      throttle_over_spawnPipe: t / byId.spawnPipe.jobsPerSec,
      throttle_over_spawnIgnore: t / byId.spawnIgnore.jobsPerSec,
      throttle_over_spawnPipeDetached: t / byId.spawnPipeDetached.jobsPerSec,
      throttle_over_parallel: haveParallel ? t / byId.parallel.jobsPerSec : null,
      throttle_over_xargs: t / byId.xargs.jobsPerSec,
      throttle_over_execa: t / byId.execa.jobsPerSec,
    };
    out.byJ[j] = { rows: byId, ratios };
    ratioRows.push([String(j), sig(ratios.throttle_over_spawnPipe), sig(ratios.throttle_over_spawnIgnore), sig(ratios.throttle_over_spawnPipeDetached), ratios.throttle_over_parallel === null ? 'n/a' : sig(ratios.throttle_over_parallel), sig(ratios.throttle_over_xargs), sig(ratios.throttle_over_execa)]);
  }
  log(table(['-j', 'command', 'jobs/s', 'median wall', 'min–max'], rows));
  log('\nratios of jobs/s (throttle / peer):');
  log(table(['-j', '/ bare pipe', '/ bare ignore', '/ bare pipe+detached', '/ parallel', '/ xargs', '/ execa'], ratioRows));
  const j8 = out.byJ[8];
  if (j8 !== undefined) {
    const vsBare = j8.ratios.throttle_over_spawnPipe;
    const vsPar = j8.ratios.throttle_over_parallel;
    out.targets = {
      j8_throttle_over_bare_pipe: { value: vsBare, target: 0.9, pass: vsBare >= 0.9 },
      j8_throttle_over_bare_ignore: { value: j8.ratios.throttle_over_spawnIgnore, target: 0.9, pass: j8.ratios.throttle_over_spawnIgnore >= 0.9 },
      j8_throttle_over_parallel: vsPar === null ? { value: null, target: 2, pass: null, skipped: 'parallel not installed' } : { value: vsPar, target: 2, pass: vsPar >= 2 },
    };
    log('\ntargets at -j 8:');
    log(`  throttle >= 0.9 × bare spawn loop (stdio pipe, same stdio as throttle): ${sig(vsBare)} ${passFail(vsBare >= 0.9)}`);
    log(`  throttle >= 0.9 × bare spawn loop (stdio ignore):                      ${sig(j8.ratios.throttle_over_spawnIgnore)} ${passFail(j8.ratios.throttle_over_spawnIgnore >= 0.9)}`);
    log(`  throttle >= 2 × GNU parallel:                                          ${vsPar === null ? 'skipped (parallel not installed)' : `${sig(vsPar)} ${passFail(vsPar >= 2)}`}`);
  }
  log();
  return out;
}

if (isMain(import.meta.url)) await main();
