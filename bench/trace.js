#!/usr/bin/env node
// Section — traces: reading a generated JSON Lines trace (TRACE_LINES lines, default 1,000,000) through
// readTrace, and `throttle bench` simulating it (-r 20000/s -j 64). Each run is a fresh process; medians
// of TRACE_RUNS (default 3). Target: reading 1,000,000 lines in < 1 s. Peak RSS from /usr/bin/time when
// it is installed.
//   node bench/trace.js        (env: TRACE_LINES=1000000 TRACE_RUNS=3)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, envNum, isMain, median, passFail, sig, table } from './lib/stats.js';

const TIME = '/usr/bin/time';

/** READER reads a trace and prints how long that took, in ms, as its only output. */
const READER = `
import { createReadStream } from 'node:fs';
const { readTrace } = await import(process.argv[2]);
const file = process.argv[3];
const t0 = performance.now();
const source = await readTrace(createReadStream(file), file);
let n = 0;
for await (const _ of source.events) n++;
console.log(JSON.stringify({ n, ms: performance.now() - t0 }));
`;

/** timed runs `node args...` (under /usr/bin/time when present) and returns its stdout, wall time and peak RSS. */
function timed(args) {
  const withTime = existsSync(TIME);
  const argv = withTime ? [TIME, '-f', '%M', process.execPath, ...args] : [process.execPath, ...args];
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000 });
  const wallSec = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const rssKb = withTime ? Number(r.stderr.trim().split('\n').at(-1)) : NaN;
  return { stdout: r.stdout, wallSec, rssMb: rssKb / 1024 };
}

export async function main({ lines = envNum('TRACE_LINES', 1_000_000), runs = envNum('TRACE_RUNS', 3), print = true } = {}) {
  const log = print ? (s = '') => console.log(s) : () => {};
  const dir = mkdtempSync(join(tmpdir(), 'throttle-trace-bench-'));
  try {
    const trace = join(dir, 'trace.jsonl');
    // 10,000 events a second with an exponential service time: the shape `trace gen` writes.
    const gen = spawnSync('sh', ['-c', `${process.execPath} bin/throttle.js trace gen --pattern poisson --rate 10000/s --duration ${lines / 10_000}s --service exp:5ms > ${trace}`], { cwd: ROOT, encoding: 'utf8' });
    if (gen.status !== 0) throw new Error(`trace gen failed: ${gen.stderr}`);
    const reader = join(dir, 'read.mjs');
    writeFileSync(reader, READER);
    const readModule = new URL('../dist/sources/trace/read.js', import.meta.url).href;
    const read = [];
    const bench = [];
    let events = 0;
    for (let i = 0; i < runs; i++) {
      const r = timed([reader, readModule, trace]);
      const { n, ms } = JSON.parse(r.stdout);
      events = n;
      read.push({ sec: ms / 1000, wallSec: r.wallSec, rssMb: r.rssMb });
      bench.push(timed(['bin/throttle.js', 'bench', '-r', '20000/s', '-j', '64', '--json', trace]));
    }
    const m = {
      readSec: median(read.map((x) => x.sec)),
      readWallSec: median(read.map((x) => x.wallSec)),
      readRssMb: median(read.map((x) => x.rssMb)),
      benchWallSec: median(bench.map((x) => x.wallSec)),
      benchRssMb: median(bench.map((x) => x.rssMb)),
    };
    const perMillion = (1e6 / events) * m.readSec;
    log(`## trace: ${events.toLocaleString('en-US')} JSON Lines events, medians of ${runs} runs, each a fresh process\n`);
    log(table(['what', 'time', 'events/s', 'peak RSS'], [
      ['readTrace, every event', `${sig(m.readSec)} s (process ${sig(m.readWallSec)} s)`, sig(events / m.readSec), `${sig(m.readRssMb)} MB`],
      ['throttle bench -r 20000/s -j 64', `${sig(m.benchWallSec)} s`, sig(events / m.benchWallSec), `${sig(m.benchRssMb)} MB`],
    ]));
    const pass = perMillion < 1;
    log(`\nreading 1,000,000 lines: ${sig(perMillion)} s (target < 1 s: ${passFail(pass)})\n`);
    return { events, runs, median: m, targets: { readPerMillionSec: { value: perMillion, target: 1, pass } } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await main();
