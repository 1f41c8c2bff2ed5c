import test from 'ava';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from '../../src/report/json.js';
import { serve } from './http-fixture.js';
import { fixture, lines, runThrottle, seqLines, spawnThrottle, tempDir, waitFor } from './helpers.js';

// Limits that move, in real time, against the loopback server: few runs, tolerant bounds.

interface Row {
  readonly key: string;
  readonly code: number | string;
  readonly startedMs?: number;
  readonly endedMs: number;
}

function rows(file: string): Row[] {
  return lines(readFileSync(file, 'utf8')).map((l) => JSON.parse(l) as Row);
}

test('--adaptive from 10x a server\'s limit settles near it, with few 429s once there', async (t) => {
  const server = await serve(t, { limitRps: 50 });
  const dir = tempDir();
  const out = join(dir, 'results.jsonl');
  const reportFile = join(dir, 'report.json');
  const run = await runThrottle(['http', '--adaptive', '-r', '500/s', '-j', '16', '--duration', '6s', '--output', out, '--report', reportFile, `${server.url}/`], { timeoutMs: 30_000 });
  t.true(run.code === 0 || run.code === 1, run.stderr);
  t.regex(run.stderr, /throttle: rate [\d.]+\/s, burst 1, -j 16 \(push-back \(429\)\)/);
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
  const rate = report.limits!.rate;
  t.is(rate.initial, 500);
  t.true(rate.converged! >= 40 && rate.converged! <= 60, `converged to ${rate.converged}/s`);
  // After the first 2 s: the server's accepted rate within 20% of its limit, and under 5% 429s.
  const late = rows(out).filter((r) => r.endedMs >= 2000 && r.endedMs < 5500);
  const ok = late.filter((r) => r.code === 200).length;
  const okPerSec = ok / 3.5;
  t.true(okPerSec >= 40 && okPerSec <= 60, `${okPerSec} ok/s after 2 s`);
  t.true((late.length - ok) / late.length < 0.05, `${late.length - ok} of ${late.length} failed after 2 s`);
});

test('a rate plan\'s steps and ramps are followed: the server sees each one\'s rate', async (t) => {
  const server = await serve(t);
  const reportFile = join(tempDir(), 'report.json');
  const run = await runThrottle(['http', '-r', '20/s@1s,ramp:20/s..100/s@1s,80/s', '-j', '8', '--duration', '3s', '--report', reportFile, `${server.url}/`]);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stderr, /\(plan: 20\/s@1s\)\nthrottle: rate 24\.0\/s.*\(plan: ramp:20\/s\.\.100\/s@1s\)\nthrottle: rate 80\.0\/s.*\(plan: 80\/s\)/);
  // Due times: 20 in the first second (burst 1 at 0, then every 50 ms), 60 over the ramp, 80 in the third.
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
  t.is(report.jobs.total, 161);
  const arrivals = server.stats.arrivals;
  const t0 = arrivals[0]!;
  const first = arrivals.filter((a) => a - t0 < 1000).length;
  const second = arrivals.filter((a) => a - t0 >= 1000 && a - t0 < 2000).length;
  t.true(first >= 16 && first <= 26, `first second: ${first}`);
  const third = arrivals.filter((a) => a - t0 >= 2000 && a - t0 < 3000).length;
  t.true(second >= 48 && second <= 72, `second second: ${second}`);
  t.true(third >= 64 && third <= 96, `third second: ${third}`);
  t.is(report.limits!.changes.length, 3);
  t.is(Math.round(report.limits!.rate.max!), 96, 'the ramp\'s last step: its mean over 900..1000 ms');
});

test('per-key limits hold per key while the shared limit holds overall', async (t) => {
  const out = join(tempDir(), 'results.jsonl');
  // Keys a, b, c (field 1), 10 jobs each. Per key 5/s (burst 1): each key's 10 jobs take about 1.8 s.
  const input = ['a', 'b', 'c'].flatMap((k) => Array.from({ length: 10 }, (_, i) => `${k} ${i}`)).join('\n') + '\n';
  const run = await runThrottle(['-r', '100/s', '-j', 'inf', '--key', '{1}', '--per-key-rate', '5/s', '--output', out, '--', 'true', '{}'], { input });
  t.is(run.code, 0, run.stderr);
  const all = rows(out);
  t.is(all.length, 30);
  for (const k of ['a', 'b', 'c']) {
    const starts = all.filter((r) => r.key.startsWith(`${k} `)).map((r) => r.startedMs!).sort((x, y) => x - y);
    for (let i = 1; i < starts.length; i++) t.true(starts[i]! - starts[i - 1]! >= 150, `key ${k}: ${starts[i - 1]} -> ${starts[i]}`);
  }
  // The keys run side by side: the whole run takes about as long as one key, not three.
  const span = Math.max(...all.map((r) => r.startedMs!)) - Math.min(...all.map((r) => r.startedMs!));
  t.true(span >= 1700 && span < 3500, `span ${span} ms`);
});

test('SIGUSR1 and SIGUSR2 raise and lower the in-flight cap by one', async (t) => {
  const dir = tempDir();
  const reportFile = join(dir, 'report.json');
  const { child, result } = await spawnThrottle(['-j', '1', '--report', reportFile, '--', fixture('span.sh'), dir, 'job{}', '0.15'], { input: seqLines(1, 24) });
  await waitFor(() => readdirSync(dir).length >= 1, 'the first job');
  child.kill('SIGUSR1');
  await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGUSR1');
  await new Promise((r) => setTimeout(r, 400));
  child.kill('SIGUSR2');
  const run = await result;
  t.is(run.code, 0, run.stderr);
  t.regex(run.stderr, /-j 2 \(SIGUSR1\)/);
  t.regex(run.stderr, /-j 3 \(SIGUSR1\)/);
  t.regex(run.stderr, /-j 2 \(SIGUSR2\)/);
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
  t.is(report.inflight.peak, 3);
  t.deepEqual(report.limits!.changes.map((c) => [c.concurrency, c.reason]), [[2, 'SIGUSR1'], [3, 'SIGUSR1'], [2, 'SIGUSR2']]);
});

test('--control is applied at start and whenever the file changes, keeping earned tokens', async (t) => {
  const dir = tempDir();
  const control = join(dir, 'limits.conf');
  const out = join(dir, 'results.jsonl');
  const reportFile = join(dir, 'report.json');
  writeFileSync(control, '# slow at first\nrate=5/s\n');
  const { result } = await spawnThrottle(['-r', '100/s', '-j', 'inf', '--control', control, '--output', out, '--report', reportFile, '--', 'true', '{}'], { input: seqLines(1, 30) });
  await waitFor(() => existsSync(out) && lines(readFileSync(out, 'utf8')).length >= 4, 'four jobs at 5/s');
  writeFileSync(control, 'rate=50/s burst=2 concurrency=4\n');
  const run = await result;
  t.is(run.code, 0, run.stderr);
  t.regex(run.stderr, new RegExp(`rate 5.00/s, burst 1, -j inf \\(--control ${control}\\)`));
  t.regex(run.stderr, new RegExp(`rate 50.0/s, burst 2, -j 4 \\(--control ${control}\\)`));
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
  t.deepEqual(report.limits!.changes.map((c) => [c.rate, c.burst, c.concurrency]), [[5, 1, null], [50, 2, 4]]);
  // The first jobs 200 ms apart (5/s); the rest at 50/s, well before 30 / 5 = 6 s.
  const starts = rows(out).map((r) => r.startedMs!).sort((a, b) => a - b);
  for (let i = 1; i < 4; i++) t.true(starts[i]! - starts[i - 1]! >= 150, `${starts[i - 1]} -> ${starts[i]}`);
  t.true(starts[starts.length - 1]! - starts[0]! < 4000, `span ${starts[starts.length - 1]! - starts[0]!} ms`);
});

test('--adaptive-concurrency lowers -j when the server pushes back, and reports it', async (t) => {
  const server = await serve(t, { limitRps: 100 });
  const reportFile = join(tempDir(), 'report.json');
  const run = await runThrottle(['http', '--adaptive-concurrency', '-j', '16', '--requests', '400', '--report', reportFile, `${server.url}/?delay=5`]);
  t.true(run.code === 0 || run.code === 1, run.stderr);
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
  const c = report.limits!.concurrency;
  t.is(c.initial, 16);
  t.true(c.min! < 16, JSON.stringify(c));
  t.true(report.limits!.changes.some((ch) => ch.reason === 'push-back (429)' && ch.concurrency! < 16));
  t.regex(run.stderr, /-j \d+ \(push-back \(429\)\)/);
});
