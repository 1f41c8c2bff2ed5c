import test from 'ava';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, lines, runThrottle, seqLines, tempDir } from './helpers.js';

// The limits, in real time: few tests, tolerant bounds (they run on busy machines).

test('-r 20/s -b 1 spreads 40 jobs over about 2 s', async (t) => {
  const results = join(tempDir(), 'results.jsonl');
  // -j inf: only the rate may hold jobs back (on busy cores, a slow `true` would fill the default -j CPUs).
  const run = await runThrottle(['-r', '20/s', '-b', '1', '-j', 'inf', '--output', results, '--', 'true', '{}'], { input: seqLines(1, 40) });
  t.is(run.code, 0, run.stderr);
  t.regex(run.stderr, /^40 jobs in /);
  // 39 gaps of 50 ms after the first token: 1.95 s. The whole process takes that plus node's start-up, so
  // its wall time bounds the run from above; the span of the jobs' starts measures the run itself.
  t.true(run.ms >= 1700, `took ${run.ms} ms`);
  const starts = lines(readFileSync(results, 'utf8')).map((l) => (JSON.parse(l) as { startedMs: number }).startedMs);
  t.is(starts.length, 40);
  const spanMs = Math.max(...starts) - Math.min(...starts);
  t.true(spanMs >= 1700 && spanMs <= 4000, `jobs started over ${spanMs} ms`);
});

/** NsSpan is one job's [start, end] in ns since the epoch. */
type NsSpan = [bigint, bigint];

/** maxOverlap is the most spans open at one instant (a span ending at t does not overlap one starting at t). */
function maxOverlap(spans: readonly NsSpan[]): number {
  const edges = spans.flatMap(([s, e]): Array<[bigint, number]> => [[s, 1], [e, -1]]);
  edges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  let open = 0;
  let most = 0;
  for (const [, d] of edges) {
    open += d;
    most = Math.max(most, open);
  }
  return most;
}

test('-j 3 never runs more than 3 jobs at once, and does run them side by side', async (t) => {
  const dir = tempDir();
  const run = await runThrottle(['-j', '3', '--', fixture('span.sh'), dir, 'job{}', '0.1'], { input: seqLines(1, 12) });
  t.is(run.code, 0, run.stderr);
  const spans = readdirSync(dir).map((name): NsSpan => {
    const [start, end] = readFileSync(join(dir, name), 'utf8').trim().split(' ').map(BigInt);
    return [start!, end!];
  });
  t.is(spans.length, 12);
  const most = maxOverlap(spans);
  t.true(most <= 3, `${most} jobs overlapped`);
  t.true(most >= 2, `${most} jobs overlapped`);
});

/** attemptTimes reads flaky.sh's record: [start, end] in ms of each attempt. */
function attemptTimes(dir: string, name: string): Array<[number, number]> {
  return lines(readFileSync(join(dir, `${name}.times`), 'utf8')).map((l) => {
    const [start, end] = l.split(' ').map((ns) => Number(BigInt(ns) / 1000n) / 1000);
    return [start!, end!];
  });
}

test('--retries 2 gets a job that fails twice through, and the backoff grows', async (t) => {
  const dir = tempDir();
  const run = await runThrottle(['--retries', '2', '--backoff-base', '500ms', '--jitter', 'none', '--', fixture('flaky.sh'), dir, '{}', '2'], { input: 'job\n' });
  t.is(run.code, 0, run.stderr);
  t.regex(run.stderr, /1 ok, 0 failed, 1 retried/);
  const times = attemptTimes(dir, 'job');
  t.is(times.length, 3);
  // Gaps from one attempt's end to the next one's start: the backoff (500 ms, then 1 s) plus the cost of an
  // exit and a spawn, which on two busy cores was seen at 80 to 170 ms and varies as much (hence a base of
  // 500 ms, not 50: the ratio of 1.6 holds while that cost stays under 330 ms).
  const gap1 = times[1]![0] - times[0]![1];
  const gap2 = times[2]![0] - times[1]![1];
  t.true(gap1 >= 495, `first gap ${gap1} ms`);
  t.true(gap2 >= 1.6 * gap1, `gaps ${gap1} ms, then ${gap2} ms`);
});

test('--retries 1 is not enough for a job that fails twice: exit 1', async (t) => {
  const dir = tempDir();
  const run = await runThrottle(['--retries', '1', '--backoff-base', '50ms', '--jitter', 'none', '--', fixture('flaky.sh'), dir, '{}', '2'], { input: 'job\n' });
  t.is(run.code, 1);
  t.regex(run.stderr, /0 ok, 1 failed/);
  t.is(readFileSync(join(dir, 'job.count'), 'utf8').trim(), '2');
});

/** runsOf counts log-run.sh's runs per name. */
function runsOf(dir: string): Map<string, number> {
  const runs = new Map<string, number>();
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.runs')) runs.set(name.slice(0, -'.runs'.length), lines(readFileSync(join(dir, name), 'utf8')).length);
  }
  return runs;
}

test('--halt now,fail=1 stops at the first failure', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, '3.exit'), '1\n');
  const run = await runThrottle(['-j', '2', '--halt', 'now,fail=1', '--', fixture('log-run.sh'), dir, '{}'], { input: seqLines(1, 100) });
  t.is(run.code, 1);
  const runs = runsOf(dir);
  t.is(runs.get('3'), 1);
  t.true(runs.size < 20, `${runs.size} of 100 jobs ran`);
});

test('--count 5 runs the command 5 times', async (t) => {
  const dir = tempDir();
  const run = await runThrottle(['--count', '5', '--', fixture('log-run.sh'), dir, 'c']);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(runsOf(dir), new Map([['c', 5]]));
});

test('--duration 300ms -r 20/s runs the command about 6 or 7 times', async (t) => {
  const dir = tempDir();
  const run = await runThrottle(['--duration', '300ms', '-r', '20/s', '--', fixture('log-run.sh'), dir, 'c']);
  t.is(run.code, 0, run.stderr);
  const n = runsOf(dir).get('c') ?? 0;
  t.true(n >= 6 && n <= 7, `ran ${n} times`);
});
