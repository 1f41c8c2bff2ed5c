import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from '../../src/report/json.js';
import { lines, runThrottle, tempDir } from './helpers.js';

// Limits that move, replayed in virtual time: exact answers of small hand-computed cases.

function urls(n: number): string {
  return Array.from({ length: n }, (_, i) => `http://127.0.0.1:1/${i}`).join('\n') + '\n';
}

test('bench replays a rate plan exactly: due times follow each step', async (t) => {
  const dir = tempDir();
  const trace = join(dir, 'urls.txt');
  const out = join(dir, 'results.jsonl');
  writeFileSync(trace, urls(14));
  const run = await runThrottle(['bench', '-r', '10/s@1s,20/s', '--service', '0ms', '--json', '--output', out, trace]);
  t.is(run.code, 0, run.stderr);
  const arrivals = lines(readFileSync(out, 'utf8')).map((l) => Math.round((JSON.parse(l) as { arrivalMs: number }).arrivalMs * 1000) / 1000);
  t.deepEqual(arrivals, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1050, 1100, 1150]);
  const report = JSON.parse(run.stdout) as Report;
  t.is(report.config.plan, '10/s@1s,20/s');
  t.deepEqual(report.limits!.changes.map((c) => [c.atMs, c.rate, c.reason]), [[0, 10, 'plan: 10/s@1s'], [1000, 20, 'plan: 20/s']]);
});

test('bench --adaptive replays a trace of 429s: the rate comes down to what the trace accepted', async (t) => {
  const dir = tempDir();
  const trace = join(dir, 'trace.jsonl');
  // 100 events a second for 10 s; from 2 s on, every other one is a 429 with Retry-After.
  const events = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ t: i / 100, duration: 0.005, ...(i >= 200 && i % 2 === 1 ? { status: 429 } : {}) }));
  writeFileSync(trace, events.join('\n') + '\n');
  const a = await runThrottle(['bench', '--adaptive', '-r', '1000/s', '--min-rate', '5/s', '--json', trace]);
  const b = await runThrottle(['bench', '--adaptive', '-r', '1000/s', '--min-rate', '5/s', '--json', trace]);
  t.is(a.code, 0, a.stderr); // failures recorded in a trace are data, not a failed bench
  const report = JSON.parse(a.stdout) as Report;
  t.deepEqual(JSON.parse(b.stdout), report, 'the same trace gives the same report');
  t.is(report.limits!.rate.initial, 1000);
  t.is(report.limits!.rate.min, 5, JSON.stringify(report.limits!.rate)); // a target that always pushes back: down to the floor
  t.true(report.limits!.changes.every((c) => c.reason === 'push-back (429)'));
  t.true(report.limits!.changes.length >= 2);
});

test('bench --per-key-concurrency caps each key; the report names the key settings', async (t) => {
  const dir = tempDir();
  const trace = join(dir, 'trace.jsonl');
  // Three events of key a and one of b, all at 0, 100 ms each.
  writeFileSync(trace, ['a', 'a', 'a', 'b'].map((key) => JSON.stringify({ t: 0, key, duration: 0.1 })).join('\n') + '\n');
  const out = join(dir, 'results.jsonl');
  const run = await runThrottle(['bench', '-j', '8', '--per-key-concurrency', '1', '--json', '--output', out, trace]);
  t.is(run.code, 0, run.stderr);
  const starts = lines(readFileSync(out, 'utf8'))
    .map((l) => JSON.parse(l) as { key: string; startedMs: number })
    .map((r) => `${r.key}@${Math.round(r.startedMs)}`)
    .sort();
  t.deepEqual(starts, ['a@0', 'a@100', 'a@200', 'b@0']);
  t.is((JSON.parse(run.stdout) as Report).config.perKeyConcurrency, 1);
});

test('bad moving-limit flags are one-line usage errors (exit 2)', async (t) => {
  const dir = tempDir();
  const bad = join(dir, 'bad.conf');
  writeFileSync(bad, 'rate=10/s\nburst=zero\n');
  const cases: Array<[string[], RegExp]> = [
    [['-r', '10/s,20/s', '--', 'true'], /^throttle: -r, --rate: invalid plan "10\/s,20\/s": segment "10\/s" needs "@<duration>"/],
    [['--adaptive', '--', 'true'], /^throttle: --adaptive needs --rate as its ceiling/],
    [['--adaptive', '-r', '10/s@1s,20/s', '--', 'true'], /^throttle: --adaptive finds the rate itself/],
    [['--min-rate', '1/s', '-r', '10/s', '--', 'true'], /^throttle: --min-rate is the floor of --adaptive/],
    [['--adaptive', '-r', '10/s', '--min-rate', '20/s', '--', 'true'], /^throttle: --min-rate \(20\/s\) is above --rate/],
    [['--adaptive-concurrency', '-j', 'inf', '--', 'true'], /^throttle: --adaptive-concurrency needs -j/],
    [['--key', '{x}', '--per-key-rate', '1/s', '--', 'true', '{}'], /^throttle: --key: unknown placeholder "\{x\}"/],
    [['--key', '{1}', '--', 'true', '{}'], /^throttle: --key needs --per-key-rate or --per-key-concurrency/],
    [['--per-key-concurrency', '0', '--', 'true', '{}'], /^throttle: --per-key-concurrency: invalid value "0"/],
    [['--control', bad, '--', 'true'], new RegExp(`^throttle: --control ${bad}:2: invalid setting "burst=zero"`)],
    [['bench', '--control', bad, 'x.jsonl'], /^throttle: --control changes limits while a real run goes on/],
  ];
  for (const [args, re] of cases) {
    const run = await runThrottle(args);
    t.is(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    t.regex(run.stderr, re, args.join(' '));
    t.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  }
});
