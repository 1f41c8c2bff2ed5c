import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, lines, runThrottle, seqLines, spawnThrottle, tempDir } from './helpers.js';

// Where output goes: jobs' output on stdout, whole lines, in order with -k; the summary on stderr.

test('--keep-order prints in input order jobs that finish in reverse order', async (t) => {
  // Each line is how long its job sleeps: the last line finishes first.
  const input = '0.4\n0.3\n0.2\n0.01\n';
  const run = await runThrottle(['-k', '-j', '4', '--', fixture('sleep-echo.sh'), '{}', 'slept {}'], { input });
  t.is(run.code, 0, run.stderr);
  t.is(run.stdout, 'slept 0.4\nslept 0.3\nslept 0.2\nslept 0.01\n');
});

test('lines of jobs running side by side never mix', async (t) => {
  const ids = ['a', 'bb', 'ccc', 'dddd', 'e', 'ff', 'ggg', 'hhhh'];
  const run = await runThrottle(['-j', '4', '--', fixture('pieces.sh'), '{}'], { input: `${ids.join('\n')}\n` });
  t.is(run.code, 0, run.stderr);
  const out = lines(run.stdout);
  for (const line of out) t.regex(line, /^(\w+)\.\1\.\1$/);
  t.deepEqual(out.toSorted(), ids.flatMap((id) => [`${id}.${id}.${id}`, `${id}.${id}.${id}`, `${id}.${id}.${id}`]).toSorted());
});

test('--tag prefixes each line with the input line and a tab', async (t) => {
  const run = await runThrottle(['--tag', '-k', '--', 'printf', '%s\\n%s\\n', 'first', '{}'], { input: 'a b\nc\n' });
  t.is(run.code, 0, run.stderr);
  t.is(run.stdout, 'a b\tfirst\na b\ta b\nc\tfirst\nc\tc\n');
});

test('a reader that closes stdout early ends the run quietly (like `| head -1`)', async (t) => {
  const { child, result } = await spawnThrottle(['-j', '4', '--', 'echo', '{}'], { input: seqLines(1, 100_000) });
  let first = '';
  let closedAtMs = 0;
  child.stdout!.on('data', (chunk: string) => {
    if (first.includes('\n')) return;
    first += chunk;
    if (!first.includes('\n')) return;
    child.stdout!.destroy();
    closedAtMs = Date.now();
  });
  const run = await result;
  t.regex(first, /^\d+\n/);
  // Stopping takes a write that fails and the few jobs in flight; reading all 100,000 lines would take minutes.
  t.true(run.exitedAtMs - closedAtMs < 3000, `exited ${run.exitedAtMs - closedAtMs} ms after stdout closed`);
  t.is(run.code, 141);
  t.notRegex(run.stderr, /EPIPE/);
});

test('--report writes the JSON report', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'r.json');
  const run = await runThrottle(['--report', file, '--', 'echo', '{}'], { input: 'x\ny\nz\n' });
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  t.is(report.version, 1);
  t.is(report.mode, 'real');
  t.is(typeof report.command, 'string');
  t.like(report.jobs, { total: 3, succeeded: 3, failed: 0, attempts: 3 });
  t.is(typeof report.elapsedMs, 'number');
  for (const key of ['min', 'p50', 'p90', 'p99', 'max']) t.is(typeof report.latencyMs[key], 'number', `latencyMs.${key}`);
  t.true(report.latencyMs.p50 <= report.latencyMs.p99 && report.latencyMs.p99 <= report.latencyMs.max);
  t.true(report.latencyMs.min > 0);
  t.deepEqual(report.outcomes, { 0: 3 });
});

test('--output streams one JSON Result per job', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'res.jsonl');
  const run = await runThrottle(['--output', file, '--', fixture('exit-with.sh'), '{}'], { input: '0\n3\n0\n' });
  t.is(run.code, 1);
  t.is(run.stdout, '');
  const results = lines(readFileSync(file, 'utf8')).map((l) => JSON.parse(l) as Record<string, any>);
  t.is(results.length, 3);
  const bySeq = results.toSorted((a, b) => a.seq - b.seq);
  t.deepEqual(bySeq.map((r) => [r.seq, r.key, r.status, r.code, r.attempts]), [
    [0, '0', 'ok', 0, 1],
    [1, '3', 'failed', 3, 1],
    [2, '0', 'ok', 0, 1],
  ]);
  for (const r of results) {
    t.true(r.startedMs >= r.arrivalMs && r.endedMs >= r.startedMs, JSON.stringify(r));
    t.is(typeof r.serviceMs, 'number');
  }
});

test('job output goes to stdout and the summary to stderr', async (t) => {
  const run = await runThrottle(['-k', '--', 'echo', 'out {}'], { input: '1\n2\n' });
  t.is(run.code, 0);
  t.is(run.stdout, 'out 1\nout 2\n');
  t.regex(run.stderr, /^2 jobs in .*: 2 ok, 0 failed/);
  t.regex(run.stderr, /\n {2}latency /);
});

test('--quiet prints no summary', async (t) => {
  const run = await runThrottle(['--quiet', '-k', '--', 'echo', 'out {}'], { input: '1\n2\n' });
  t.is(run.code, 0);
  t.is(run.stdout, 'out 1\nout 2\n');
  t.is(run.stderr, '');
});
