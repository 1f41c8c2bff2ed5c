#!/usr/bin/env node
// The bare floor for `throttle run`: read input lines from stdin, run one child per line with at most J at
// once, nothing else (no limiter, no events, no output routing).
//   seq 2000 | node bench/lib/spawn-loop.js -j 8 [--stdio ignore|pipe] [--detached] [--execa] [--import MOD] [--rate R] -- true {}
// --rate R paces starts: job k starts no earlier than k/R s after the first (a deadline pacer: sleep with
// setTimeout to the due time, late jobs go at once); the achieved start rate is printed too.
// --stdio ignore: the child gets no stdio at all; pipe: stdin ignored, stdout and stderr piped and drained
// (what a runner that captures output pays), exit awaited on 'close'. --detached puts each child in its
// own process group (as throttle does for per-line jobs). --execa runs each job with execa's defaults
// (buffers output, rejects on failure) to show what that costs. {} in an argument is replaced by the line.
// Prints one line to stderr: jobs, wall seconds, jobs/s, failures. Exit status 1 if any job failed.
import { spawn } from 'node:child_process';

const argv = process.argv.slice(2);
let j = 8;
let stdio = 'ignore';
let detached = false;
let useExeca = false;
let cmd = ['true', '{}'];
const preload = [];
let rate = Infinity;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '-j') j = Number(argv[++i]);
  else if (a === '--stdio') stdio = argv[++i];
  else if (a === '--detached') detached = true;
  else if (a === '--execa') useExeca = true;
  else if (a === '--import') preload.push(argv[++i]);
  else if (a === '--rate') rate = Number(argv[++i]);
  else if (a === '--') {
    cmd = argv.slice(i + 1);
    break;
  } else throw new Error(`spawn-loop: unknown argument ${a}`);
}
if (!(j >= 1) || !['ignore', 'pipe'].includes(stdio) || cmd.length === 0) throw new Error('spawn-loop: bad arguments');

// --import MOD loads a module first and keeps it: a diagnostic for how the runner's own memory (RSS) slows
// each spawn (fork copies the parent's page tables).
for (const m of preload) globalThis[`__preload_${m}`] = await import(m);
let execa;
if (useExeca) ({ execa } = await import('execa'));

// All of stdin first (a few KB for the sizes benchmarked).
let text = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) text += chunk;
const lines = text.split('\n');
if (lines.at(-1) === '') lines.pop();

const argsFor = (line) => {
  const filled = cmd.slice(1).map((x) => x.replaceAll('{}', line));
  return cmd.slice(1).some((x) => x.includes('{}')) ? filled : [...filled, line];
};

function runSpawn(line) {
  return new Promise((resolve) => {
    const child = spawn(cmd[0], argsFor(line), { stdio: stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : 'ignore', detached });
    if (stdio === 'pipe') {
      child.stdout.resume();
      child.stderr.resume();
    }
    child.once('error', () => resolve(1));
    child.once(stdio === 'pipe' ? 'close' : 'exit', (code) => resolve(code === 0 ? 0 : 1));
  });
}

async function runExeca(line) {
  try {
    await execa(cmd[0], argsFor(line));
    return 0;
  } catch {
    return 1;
  }
}

const run = useExeca ? runExeca : runSpawn;
let next = 0;
let failures = 0;
const starts = [];
let t0 = 0;
const periodMs = 1000 / rate;
async function worker() {
  while (next < lines.length) {
    const k = next++;
    if (rate !== Infinity) {
      const due = t0 + k * periodMs;
      for (let left = due - performance.now(); left > 0; left = due - performance.now()) await new Promise((r) => setTimeout(r, Math.ceil(left)));
      starts.push(performance.now());
    }
    failures += await run(lines[k]);
  }
}
t0 = performance.now();
await Promise.all(Array.from({ length: Math.min(j, lines.length) }, worker));
const s = (performance.now() - t0) / 1000;
const paced = rate === Infinity || starts.length < 2 ? '' : ` rate=${rate}/s start-span=${((Math.max(...starts) - Math.min(...starts)) / 1000).toFixed(4)}s achieved=${((starts.length - 1) / ((Math.max(...starts) - Math.min(...starts)) / 1000)).toFixed(2)}/s`;
process.stderr.write(`spawn-loop ${useExeca ? 'execa' : `spawn stdio=${stdio}${detached ? ' detached' : ''}`} jobs=${lines.length} j=${j} wall=${s.toFixed(3)}s jobs/s=${(lines.length / s).toFixed(0)} failures=${failures}${paced}\n`);
process.exitCode = failures > 0 ? 1 : 0;
