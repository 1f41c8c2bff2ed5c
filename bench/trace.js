#!/usr/bin/env node
// Section — traces: reading a generated JSON Lines trace (TRACE_LINES lines, default 1,000,000) through
// readTrace, and `throttle bench` simulating it (-r 20000/s -j 64), each run a fresh process; medians of
// TRACE_RUNS (default 3). Then one simulation of a TRACE_BIG-event trace (default 10,000,000; 0 skips it)
// for its peak RSS. Targets: reading 1,000,000 lines < 1 s; the 1M-event simulation < 2 s wall (the issue's
// "replays in under 2 s") and over 1M events/s; the 10M-event one over 1M events/s and under 200 MB peak
// RSS. Events/s are of the whole process (start-up included: a one-event trace's run, also measured, shows
// what it costs), and, with both sizes, of the replay alone: the events the big run has over the small one,
// per second it takes longer. Node's own start-up (`node -e 0`) is measured alongside, for scale, and again
// without NODE_EXTRA_CA_CERTS when that is set (it costs every Node process its certificates' parsing).
// Peak RSS from /usr/bin/time when it is installed.
//   node bench/trace.js        (env: TRACE_LINES=1000000 TRACE_RUNS=3 TRACE_BIG=10000000)
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

/**
 * timed runs `node args...` (under /usr/bin/time when present) and returns its stdout, wall time and peak RSS.
 * `env` replaces the environment (default: this process's).
 */
function timed(args, env = process.env) {
  const withTime = existsSync(TIME);
  const argv = withTime ? [TIME, '-f', '%M', process.execPath, ...args] : [process.execPath, ...args];
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000 });
  const wallSec = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const rssKb = withTime ? Number(r.stderr.trim().split('\n').at(-1)) : NaN;
  return { stdout: r.stdout, wallSec, rssMb: rssKb / 1024 };
}

/** generate writes a poisson trace of about `events` events (10,000 a second, exponential service times). */
function generate(file, events) {
  const gen = spawnSync('sh', ['-c', `${process.execPath} bin/throttle.js trace gen --pattern poisson --rate 10000/s --duration ${events / 10_000}s --service exp:5ms > ${file}`], { cwd: ROOT, encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`trace gen failed: ${gen.stderr}`);
}

const SIMULATE = ['bin/throttle.js', 'bench', '-r', '20000/s', '-j', '64', '--json'];

export async function main({ lines = envNum('TRACE_LINES', 1_000_000), runs = envNum('TRACE_RUNS', 3), big = envNum('TRACE_BIG', 10_000_000, true), print = true } = {}) {
  const log = print ? (s = '') => console.log(s) : () => {};
  const dir = mkdtempSync(join(tmpdir(), 'throttle-trace-bench-'));
  try {
    const trace = join(dir, 'trace.jsonl');
    generate(trace, lines);
    const reader = join(dir, 'read.mjs');
    writeFileSync(reader, READER);
    const readModule = new URL('../dist/sources/trace/read.js', import.meta.url).href;
    const one = join(dir, 'one.jsonl');
    writeFileSync(one, '{"t":0,"duration":0.001}\n');
    const read = [];
    const bench = [];
    const startup = [];
    // Node's own start-up, for scale: NODE_EXTRA_CA_CERTS, where it is set, makes every Node process read
    // and parse that bundle of certificates as it starts (some 45 ms for 150 certificates on two cores).
    const nodeOnly = [];
    const extraCa = process.env.NODE_EXTRA_CA_CERTS;
    const withoutExtraCa = { ...process.env, NODE_EXTRA_CA_CERTS: undefined };
    const nodeOnlyClean = [];
    let events = 0;
    for (let i = 0; i < runs; i++) {
      const r = timed([reader, readModule, trace]);
      const { n, ms } = JSON.parse(r.stdout);
      events = n;
      read.push({ sec: ms / 1000, wallSec: r.wallSec, rssMb: r.rssMb });
      bench.push(timed([...SIMULATE, trace]));
      startup.push(timed([...SIMULATE, one]));
      nodeOnly.push(timed(['-e', '0']));
      if (extraCa !== undefined) nodeOnlyClean.push(timed(['-e', '0'], withoutExtraCa));
    }
    const m = {
      readSec: median(read.map((x) => x.sec)),
      readWallSec: median(read.map((x) => x.wallSec)),
      readRssMb: median(read.map((x) => x.rssMb)),
      benchWallSec: median(bench.map((x) => x.wallSec)),
      benchRssMb: median(bench.map((x) => x.rssMb)),
      startupSec: median(startup.map((x) => x.wallSec)),
      nodeSec: median(nodeOnly.map((x) => x.wallSec)),
      ...(extraCa === undefined ? {} : { nodeWithoutExtraCaSec: median(nodeOnlyClean.map((x) => x.wallSec)) }),
    };
    const perMillion = (1e6 / events) * m.readSec;
    const simPerMillion = (1e6 / events) * m.benchWallSec;
    const simRate = events / m.benchWallSec;
    let bigRun;
    if (big > 0) {
      rmSync(trace, { force: true });
      const bigTrace = join(dir, 'big.jsonl');
      generate(bigTrace, big);
      const r = timed([...SIMULATE, bigTrace]);
      bigRun = { events: JSON.parse(r.stdout).jobs.total, wallSec: r.wallSec, rssMb: r.rssMb };
      rmSync(bigTrace, { force: true });
    }
    log(`## trace: ${events.toLocaleString('en-US')} JSON Lines events, medians of ${runs} runs, each a fresh process\n`);
    const rows = [
      ['readTrace, every event', `${sig(m.readSec)} s (process ${sig(m.readWallSec)} s)`, sig(events / m.readSec), `${sig(m.readRssMb)} MB`],
      ['throttle bench -r 20000/s -j 64', `${sig(m.benchWallSec)} s`, sig(simRate), `${sig(m.benchRssMb)} MB`],
    ];
    rows.push(['the same on a one-event trace (start-up)', `${sig(m.startupSec)} s`, '', '']);
    rows.push(['node -e 0 (Node alone, for scale)', `${sig(m.nodeSec)} s${m.nodeWithoutExtraCaSec === undefined ? '' : ` (${sig(m.nodeWithoutExtraCaSec)} s without NODE_EXTRA_CA_CERTS)`}`, '', '']);
    if (bigRun !== undefined) rows.push([`the same on ${bigRun.events.toLocaleString('en-US')} events (one run)`, `${sig(bigRun.wallSec)} s`, sig(bigRun.events / bigRun.wallSec), `${sig(bigRun.rssMb)} MB`]);
    // The replay alone: what the big run does beyond the small one, per second it takes beyond it.
    const replayRate = bigRun === undefined ? undefined : (bigRun.events - events) / (bigRun.wallSec - m.benchWallSec);
    if (replayRate !== undefined) rows.push([`the replay alone (${(bigRun.events - events).toLocaleString('en-US')} events more, in the time more)`, `${sig(bigRun.wallSec - m.benchWallSec)} s`, sig(replayRate), '']);
    log(table(['what', 'time', 'events/s', 'peak RSS'], rows));
    const targets = {
      readPerMillionSec: { value: perMillion, target: 1, pass: perMillion < 1 },
      simulatePerMillionSec: { value: simPerMillion, target: 2, pass: simPerMillion < 2 },
      simulateEventsPerSec: { value: simRate, target: 1e6, pass: simRate > 1e6 },
      ...(bigRun === undefined
        ? {}
        : {
            bigRssMb: { value: bigRun.rssMb, target: 200, pass: bigRun.rssMb < 200 },
            bigEventsPerSec: { value: bigRun.events / bigRun.wallSec, target: 1e6, pass: bigRun.events / bigRun.wallSec > 1e6 },
            replayEventsPerSec: { value: replayRate, target: 1e6, pass: replayRate > 1e6 },
          }),
    };
    log(`\nreading 1,000,000 lines: ${sig(perMillion)} s (target < 1 s: ${passFail(targets.readPerMillionSec.pass)})`);
    log(`simulating 1,000,000 events: ${sig(simPerMillion)} s wall (target < 2 s: ${passFail(targets.simulatePerMillionSec.pass)}), ${sig(simRate)} events/s (target > 1,000,000: ${passFail(targets.simulateEventsPerSec.pass)})`);
    if (bigRun !== undefined) log(`simulating ${bigRun.events.toLocaleString('en-US')} events: ${sig(targets.bigEventsPerSec.value)} events/s (target > 1,000,000: ${passFail(targets.bigEventsPerSec.pass)}), peak RSS ${sig(bigRun.rssMb)} MB (target < 200 MB: ${passFail(targets.bigRssMb.pass)})`);
    if (bigRun !== undefined) log(`the replay alone, start-up aside: ${sig(replayRate)} events/s (target > 1,000,000: ${passFail(targets.replayEventsPerSec.pass)}); start-up (a one-event trace) ${sig(m.startupSec)} s`);
    log();
    return { events, runs, median: m, big: bigRun, targets };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await main();
