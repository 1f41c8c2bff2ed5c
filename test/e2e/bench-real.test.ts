import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from '../../src/report/json.js';
import { benchJson, holdQuiet, type TraceLine, writeTrace } from './bench-fixture.js';
import { runThrottle, spawnThrottle, tempDir, waitFor } from './helpers.js';
import { serve } from './http-fixture.js';

// Real replays, checked against the simulation of the same trace: the simulation is only worth having if
// it predicts what a real run does. They run in real time, so they run one at a time, and the other bench
// files start nothing meanwhile (see holdQuiet).

let release: (() => void) | undefined;
test.before(async () => {
  release = await holdQuiet();
});
test.after.always(() => release?.());

/**
 * SLACK_MS is the additive part of the sim-vs-real tolerance: 10% + 5 ms, as the issue asks. Real runs
 * differ from the simulation by a process spawn's or a timer's slack, typically 1-3 ms.
 */
const SLACK_MS = 5;

/** disagreement compares throttle p50 and p99 of a real run with the simulation's; undefined when they agree. */
function disagreement(sim: Report, real: Report): string | undefined {
  const misses: string[] = [];
  for (const p of ['p50', 'p99'] as const) {
    const [s, r] = [sim.throttleMs[p], real.throttleMs[p]];
    const tolerance = 0.1 * s + SLACK_MS;
    if (Math.abs(r - s) > tolerance) misses.push(`throttle ${p}: real ${r} ms, simulated ${s} ms (tolerance ±${tolerance.toFixed(1)} ms)`);
  }
  return misses.length === 0 ? undefined : misses.join('; ');
}

/**
 * upToThreeRuns is for a bound that only a busy machine can break, never the product alone (as in the http
 * tests): a real run that misses it is repeated, up to three in all, and the test fails only if none keeps
 * it. A simulation that models the limiter wrongly misses every time; a stalled spawn does not, three runs
 * in a row. `once` returns undefined when the bound held, else what was seen.
 */
async function upToThreeRuns(t: ExecutionContext, once: () => Promise<string | undefined>): Promise<void> {
  let seen: string | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    seen = await once();
    if (seen === undefined) return;
    t.log(`run ${attempt} missed the bound: ${seen}`);
  }
  t.fail(`three runs in a row missed the bound; the last: ${seen}`);
}

/** replayJson runs a real replay, expects exit 0 and returns its report. */
async function replayJson(t: ExecutionContext, args: readonly string[]): Promise<Report> {
  const run = await runThrottle(['bench', '--json', ...args]);
  t.is(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Report;
}

/** A small trace: 30 events over 1.45 s (20/s), durations 20..80 ms; `key` turns a duration into a job. */
function smallTrace(key: (durationS: number) => string): TraceLine[] {
  return Array.from({ length: 30 }, (_, i) => {
    const duration = (20 + ((i * 37) % 61)) / 1000;
    return { t: i * 0.05, key: key(duration), duration };
  });
}

test.serial('a real replay of commands throttles as the simulation predicts (-r 15/s -j 2)', async (t) => {
  const dir = tempDir();
  // Each key is the seconds to sleep: the real job takes what the trace says it took.
  const trace = writeTrace(dir, 'cmd.jsonl', smallTrace((d) => String(d)));
  const limits = ['-r', '15/s', '-j', '2'];
  const sim = await benchJson(t, [...limits, trace]);
  t.is(sim.mode, 'simulated');
  // 20/s offered into 15/s: the bucket holds later events ever longer (the last by ~480 ms).
  t.true(sim.throttleMs.p99 > 400, `simulated throttle p99 ${sim.throttleMs.p99}`);
  let real: Report | undefined;
  await upToThreeRuns(t, async () => {
    real = await replayJson(t, [...limits, trace, '--', 'sleep', '{}']);
    return disagreement(sim, real);
  });
  if (real === undefined) return;
  t.is(real.mode, 'real');
  t.is(real.jobs.total, 30);
  t.is(real.jobs.succeeded, 30);
  t.true(real.serviceMs.min >= 20, `a job slept ${real.serviceMs.min} ms, less than the trace's shortest 20 ms`);
});

test.serial('a real replay against a loopback server throttles as the simulation predicts (--target)', async (t) => {
  const server = await serve(t);
  const dir = tempDir();
  const trace = writeTrace(dir, 'http.jsonl', smallTrace(() => 'GET /?delay=30').map((e) => ({ ...e, duration: 0.03 })));
  const limits = ['-r', '15/s', '-j', '2'];
  const sim = await benchJson(t, [...limits, trace]);
  let real: Report | undefined;
  await upToThreeRuns(t, async () => {
    server.reset();
    real = await replayJson(t, [...limits, '--target', server.url, trace]);
    return disagreement(sim, real);
  });
  if (real === undefined) return;
  t.is(real.jobs.total, 30);
  t.is(real.jobs.succeeded, 30);
  t.is(server.stats.requests.length, 30);
  t.true(server.stats.requests.every((r) => r.method === 'GET' && r.path === '/' && r.query['delay'] === '30'));
  t.true(real.serviceMs.min >= 29, `service min ${real.serviceMs.min} ms, the server waits 30 ms`);
  t.true(server.stats.maxOpen <= 2, `the server saw ${server.stats.maxOpen} requests open at once with -j 2`);
});

test.serial('--target sends the headers and the body files of vegeta targets (body files relative to the current folder)', async (t) => {
  const server = await serve(t);
  const dir = tempDir();
  const body = '{"name": "thing", "n": 12}\n';
  writeFileSync(join(dir, 'body.json'), body);
  writeFileSync(join(dir, 'targets.txt'), 'POST http://example.test/upload\nX-A: 1\nX-A: 2\n@body.json\n\nGET http://example.test/read\n');
  const run = await runThrottle(['bench', '--json', '-r', '100/s', '--target', server.url, 'targets.txt'], { cwd: dir });
  t.is(run.code, 0, run.stderr);
  const [post, get] = server.stats.requests;
  t.like(post, { method: 'POST', path: '/upload' });
  t.is(post?.headers['x-a'], '1, 2');
  t.is(post?.headers['content-length'], String(Buffer.byteLength(body)));
  t.like(get, { method: 'GET', path: '/read' });
  t.is(server.stats.bytesReceived, Buffer.byteLength(body));
  // A body file that cannot be read is a usage error naming the trace, the event and the file.
  writeFileSync(join(dir, 'missing.txt'), 'GET http://example.test/a\n\nPUT http://example.test/b\n@nope.json\n');
  const missing = await runThrottle(['bench', '-r', '100/s', '--target', server.url, 'missing.txt'], { cwd: dir });
  t.is(missing.code, 2);
  t.is(missing.stderr, 'throttle: missing.txt: event 2: its body file nope.json: cannot read it (ENOENT)\n');
});

test.serial('--speed 2 replays the same trace in about half the time', async (t) => {
  const dir = tempDir();
  // 20 events over 1.14 s, 10 ms jobs, no rate limit: the trace's own pace sets the elapsed time.
  const trace = writeTrace(dir, 'speed.jsonl', Array.from({ length: 20 }, (_, i) => ({ t: i * 0.06, key: '0.01', duration: 0.01 })));
  const replay = (speed: string): Promise<Report> => replayJson(t, ['-j', '4', '--speed', speed, trace, '--', 'sleep', '{}']);
  await upToThreeRuns(t, async () => {
    const once = await replay('1');
    const twice = await replay('2');
    t.is(once.jobs.total, 20);
    t.is(twice.jobs.total, 20);
    // The trace's pace is a lower bound however busy the machine is.
    t.true(once.elapsedMs >= 1140, `1x took ${once.elapsedMs} ms, less than the trace's 1.14 s`);
    t.true(twice.elapsedMs >= 570, `2x took ${twice.elapsedMs} ms, less than half the trace's 1.14 s`);
    const ratio = twice.elapsedMs / once.elapsedMs;
    return ratio >= 0.4 && ratio <= 0.65 ? undefined : `2x took ${twice.elapsedMs} ms, 1x ${once.elapsedMs} ms: ratio ${ratio.toFixed(2)}, expected 0.4-0.65`;
  });
});

test.serial('Ctrl-C stops a real replay whose queue is full, prints the report of what it took and exits 130', async (t) => {
  const dir = tempDir();
  // 80,000 events at once (over 1 MB: read on a thread of its own); `true` 32 at a time takes minutes. Every
  // job starts as another ends: that once kept the event loop from ever seeing the signal (see command.ts).
  const trace = writeTrace(dir, 'flood.jsonl', Array.from({ length: 80_000 }, () => ({ t: 0, key: 'flood' })));
  const output = join(dir, 'results.jsonl');
  const { child, result } = await spawnThrottle(['bench', '--json', '-j', '32', '--output', output, '--assert', 'rejected < 1%', trace, '--', 'true'], { timeoutMs: 60_000 });
  await waitFor(() => existsSync(output) && readFileSync(output, 'utf8').split('\n').length > 100, '100 jobs to end');
  const interruptedAt = performance.now();
  child.kill('SIGINT');
  const run = await result;
  const stopMs = performance.now() - interruptedAt;
  t.is(run.code, 130, run.stderr);
  t.true(stopMs < 5000, `stopping took ${stopMs} ms`);
  const report = JSON.parse(run.stdout) as Report;
  t.true(report.jobs.succeeded >= 100, `${report.jobs.succeeded} jobs succeeded`);
  t.true(report.jobs.interrupted > 0, 'no job was interrupted');
  // The replay holds some 65,000 jobs at most: the rest of the trace was never taken.
  t.true(report.jobs.total < 80_000, 'every event was taken');
  t.is(report.jobs.succeeded + report.jobs.failed + report.jobs.interrupted, report.jobs.total);
  t.is(run.stderr, `throttle: interrupted after ${report.jobs.total} events of the trace (${report.jobs.interrupted} of them did not finish); --assert not checked\n`);
  // Every job taken is in the Result stream, interrupted ones too.
  t.is(readFileSync(output, 'utf8').trimEnd().split('\n').length, report.jobs.total);
});
