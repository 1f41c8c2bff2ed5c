import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, fixture, lines, runThrottle, spawnThrottle, tempDir, waitFor } from './helpers.js';

/** times reads a stamp-run.sh or flaky.sh log: [start, end] of each run in ms since the epoch. */
function times(file: string): Array<[number, number]> {
  if (!existsSync(file)) return [];
  return lines(readFileSync(file, 'utf8')).map((l) => l.split(' ').map((ns) => Number(BigInt(ns) / 1000n) / 1000) as [number, number]);
}

function count(file: string): number {
  return existsSync(file) ? lines(readFileSync(file, 'utf8')).length : 0;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('100 triggers at once give one run plus the burst at most; summary and report count them', async (t) => {
  const dir = tempDir();
  const report = join(dir, 'report.json');
  const run = await runThrottle(['coalesce', '--min-interval', '300ms', '--report', report, '--', fixture('stamp-run.sh'), dir, 'a', '0'], { input: 'x\n'.repeat(100) });
  t.is(run.code, 0, run.stderr);
  const runs = times(join(dir, 'a.times'));
  // The first trigger may start a run before the others are read: then a second one serves the rest.
  t.true(runs.length >= 1 && runs.length <= 2, `${runs.length} runs`);
  t.is(lines(run.stdout).length, runs.length, 'the command\'s output passes through');
  t.regex(run.stderr, new RegExp(`^${runs.length} runs? in \\S+: ${runs.length} ok, 0 failed \\(${runs.length} triggered\\); 100 triggers served, ${100 - runs.length} coalesced$`, 'm'));
  t.regex(run.stderr, /^ {2}delay {5}p50 .* max .*\n {2}run {7}p50 /m);
  const json = JSON.parse(readFileSync(report, 'utf8')) as Record<string, any>;
  t.like(json, { version: 1, type: 'coalesce', config: { minIntervalMs: 300, maxIntervalMs: null, burst: 1 }, triggers: { received: 100, served: 100, unserved: 0 } });
  t.is(json.delayMs.count, 100);
});

test('steady triggers: runs start at least --min-interval apart beyond the burst, and none is lost', async (t) => {
  const dir = tempDir();
  const { child, result } = await spawnThrottle(['coalesce', '--min-interval', '400ms', '--burst', '2', '--', fixture('stamp-run.sh'), dir, 'a', '0'], { keepStdinOpen: true });
  const startedMs = Date.now();
  for (let i = 0; i < 30; i++) {
    child.stdin!.write('x\n');
    await sleep(50);
  }
  const lastTriggerMs = Date.now();
  child.stdin!.end();
  const run = await result;
  t.is(run.code, 0, run.stderr);
  const starts = times(join(dir, 'a.times')).map(([s]) => s);
  // At most burst + W / min in any window; each start is stamped by the command itself, after a spawn
  // that takes a varying few ms, hence the slack.
  for (let i = 0; i + 2 < starts.length; i++) {
    t.true(starts[i + 2]! - starts[i]! >= 400 - 100, `runs ${i + 1} and ${i + 3} ${Math.round(starts[i + 2]! - starts[i]!)} ms apart`);
  }
  t.true(starts.length <= 2 + (lastTriggerMs - startedMs) / 400 + 1, `${starts.length} runs`);
  t.true(starts.at(-1)! >= lastTriggerMs - 60, 'the last trigger was served by a run after it');
  t.regex(run.stderr, /; 30 triggers served, /);
});

test('with no triggers a run happens every --max-interval; the end of stdin ends the loop', async (t) => {
  const dir = tempDir();
  const { child, result } = await spawnThrottle(['coalesce', '--min-interval', '100ms', '--max-interval', '300ms', '--', fixture('stamp-run.sh'), dir, 'a', '0'], { keepStdinOpen: true });
  await waitFor(() => count(join(dir, 'a.times')) >= 3, 'three periodic runs', 5000);
  child.stdin!.end();
  const run = await result;
  t.is(run.code, 0, run.stderr);
  const starts = times(join(dir, 'a.times')).map(([s]) => s);
  for (let i = 1; i < starts.length; i++) t.true(starts[i]! - starts[i - 1]! >= 300 - 60, `runs ${i} and ${i + 1} ${Math.round(starts[i]! - starts[i - 1]!)} ms apart`);
  t.regex(run.stderr, /^\d runs in \S+: \d ok, 0 failed \(\d periodic\); 0 triggers served, 0 coalesced\n {2}delay {5}no trigger served\n/m);
});

test('triggers during a run cause exactly one more run after it; --no-drain leaves them unserved', async (t) => {
  for (const drain of [true, false]) {
    const dir = tempDir();
    const args = ['coalesce', '--min-interval', '100ms', '--tag', ...(drain ? [] : ['--no-drain']), '--', fixture('stamp-run.sh'), dir, 'a', '0.5'];
    const { child, result } = await spawnThrottle(args, { input: 'x\n', keepStdinOpen: true });
    await waitFor(() => count(join(dir, 'a.starts')) === 1, 'the first run to start', 5000);
    child.stdin!.end('x\nx\nx\n');
    const run = await result;
    t.is(run.code, 0, run.stderr);
    const runs = times(join(dir, 'a.times'));
    if (drain) {
      t.is(runs.length, 2);
      t.true(runs[1]![0] >= runs[0]![1] - 5, 'the second run starts after the first ends');
      t.deepEqual(lines(run.stdout), ['run 1 (1 trigger)\tran', 'run 2 (3 triggers)\tran']);
      t.regex(run.stderr, /; 4 triggers served, 2 coalesced\n/);
    } else {
      t.is(runs.length, 1);
      t.deepEqual(lines(run.stdout), ['run 1 (1 trigger)\tran']);
      t.regex(run.stderr, /; 1 trigger served, 0 coalesced, 3 not served\n/);
    }
  }
});

test('a failed run is retried after --retry-after; with --retries spent the exit status is 1', async (t) => {
  const dir = tempDir();
  const ok = await runThrottle(['coalesce', '--min-interval', '50ms', '--retry-after', '300ms', '--', fixture('flaky.sh'), dir, 'a', '1'], { input: 'x\n' });
  t.is(ok.code, 0, ok.stderr);
  const runs = times(join(dir, 'a.times'));
  t.is(runs.length, 2);
  t.true(runs[1]![0] - runs[0]![1] >= 300 - 60, `retried ${Math.round(runs[1]![0] - runs[0]![1])} ms after the failure`);
  t.regex(ok.stderr, /^throttle: run 1 failed: exit status 1; retry due in 300ms$/m);
  t.regex(ok.stderr, /^2 runs in \S+: 1 ok, 1 failed, 1 retried \(1 triggered, 1 retry\)/m);

  const failed = await runThrottle(['coalesce', '--retry-after', '100ms', '--retries', '1', '--', fixture('exit-with.sh'), '3'], { input: 'x\n' });
  t.is(failed.code, 1);
  t.regex(failed.stderr, /^throttle: run 2 failed: exit status 3; gave up after 2 attempts$/m);
});

test('--run-on-start, --shell, --timeout and --quiet', async (t) => {
  const started = await runThrottle(['coalesce', '--run-on-start', '--quiet', '--shell', '--', 'echo', 'on start'], {});
  t.is(started.code, 0);
  t.is(started.stdout, 'on start\n');
  t.is(started.stderr, '');
  const timedOut = await runThrottle(['coalesce', '--run-on-start', '--timeout', '200ms', '--', 'sleep', '5'], {});
  t.is(timedOut.code, 1);
  t.true(timedOut.ms < 4000, `took ${timedOut.ms} ms`);
  t.regex(timedOut.stderr, /^throttle: run 1 failed: timed out after 200 ms$/m);
  t.regex(timedOut.stderr, /^1 run in \S+: 0 ok, 1 failed \(1 on start\)/m);
});

test('Ctrl-C stops taking triggers, ends the running command through its group, and exits 130', async (t) => {
  const dir = tempDir();
  const { child, result } = await spawnThrottle(['coalesce', '--', fixture('pid-sleep.sh'), dir, 'a', '30'], { input: 'x\n', keepStdinOpen: true });
  await waitFor(() => existsSync(join(dir, 'a.pid')), 'the run to start', 5000);
  const pid = Number(readFileSync(join(dir, 'a.pid'), 'utf8'));
  child.stdin!.write('x\n');
  const interruptedAt = performance.now();
  child.kill('SIGINT');
  const run = await result;
  t.is(run.code, 130);
  t.true(performance.now() - interruptedAt < 4000, 'ended on the signal, not on --kill-after');
  t.false(alive(pid), 'the command survived');
  t.false(alive(-pid), 'a process of its group survived');
  t.regex(run.stderr, /^1 run in \S+: 0 ok, 1 failed \(1 triggered\); 1 trigger served, 0 coalesced(, 1 not served)?; interrupted$/m);
});

test('bad flags are one-line usage errors (exit 2) naming the flag', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['coalesce'], /^throttle: no command given: put it after --/],
    [['coalesce', '--min-interval', '5', '--', 'true'], /^throttle: --min-interval: invalid duration "5"/],
    [['coalesce', '--min-interval', '2s', '--max-interval', '1s', '--', 'true'], /^throttle: --max-interval \(1s\) is shorter than --min-interval \(2s\)/],
    [['coalesce', '--retry-after', '1s', '--backoff-base', '1s', '--', 'true'], /^throttle: --retry-after and --backoff-base: pick one/],
    [['coalesce', '--burst', '0', '--', 'true'], /^throttle: -b, --burst: invalid value "0"/],
    [['coalesce', '--nope', '--', 'true'], /^throttle: unknown option '--nope' \(see throttle coalesce --help\)$/m],
  ];
  for (const [args, message] of cases) {
    const run = await runThrottle(args);
    t.is(run.code, 2, args.join(' '));
    t.regex(run.stderr, message);
    t.is(lines(run.stderr).length, 1, `one line: ${run.stderr}`);
  }
});
