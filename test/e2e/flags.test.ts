import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { BIN, runThrottle, tempDir } from './helpers.js';
import { serve } from './http-fixture.js';

// Flags not exercised elsewhere, each through the real binary.

interface Report {
  jobs: { total: number; succeeded: number; failed: number; rejected: number; attempts: number };
  elapsedMs: number;
  throttleMs: { max: number };
  bytes?: { sent: number };
}

test('bench --per-key-rate paces each key on its own bucket', async (t) => {
  const dir = tempDir();
  const trace = join(dir, 't.jsonl');
  writeFileSync(trace, ['a', 'a', 'b', 'a'].map((key) => JSON.stringify({ t: 0, key, duration: 0 })).join('\n') + '\n');
  const run = await runThrottle(['bench', '--per-key-rate', '10/s', '--json', trace]);
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  // a at 0, 100, 200; b at 0: the shared bucket is unlimited.
  t.is(report.jobs.total, 4);
  t.is(report.throttleMs.max, 200);
  t.is(report.elapsedMs, 200);
  const bad = await runThrottle(['bench', '--per-key-burst', '2', trace]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--per-key-burst needs --per-key-rate/);
});

test('bench --sort-window bounds how far events may be out of order', async (t) => {
  const dir = tempDir();
  const trace = join(dir, 't.jsonl');
  writeFileSync(trace, [0.3, 0.1, 0.2, 0.05].map((s, i) => JSON.stringify({ t: s, key: `k${i}` })).join('\n') + '\n');
  const wide = await runThrottle(['bench', '--sort', '--sort-window', '10', '--json', trace]);
  t.is(wide.code, 0, wide.stderr);
  t.is((JSON.parse(wide.stdout) as Report).jobs.total, 4);
  const narrow = await runThrottle(['bench', '--sort', '--sort-window', '1', '--json', trace]);
  t.is(narrow.code, 2);
  t.regex(narrow.stderr, /t\.jsonl:\d+: /);
  t.is(narrow.stderr.trim().split('\n').length, 1);
  // A window given alone asks for sorting; without either, the first event out of order is an error.
  const windowOnly = await runThrottle(['bench', '--sort-window', '10', '--json', trace]);
  t.is(windowOnly.code, 0, windowOnly.stderr);
  t.is((JSON.parse(windowOnly.stdout) as Report).jobs.total, 4);
  const unsorted = await runThrottle(['bench', '--json', trace]);
  t.is(unsorted.code, 2);
  t.regex(unsorted.stderr, /^throttle: .*t\.jsonl:2: out of order/);
});

test('trace gen --burst-size groups that many events at one instant', async (t) => {
  const run = await runThrottle(['trace', 'gen', '--pattern', 'burst', '--burst-size', '5', '--rate', '10/s', '--duration', '1s']);
  t.is(run.code, 0, run.stderr);
  const times = run.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { t?: number }).t ?? 0);
  t.deepEqual(times, [0, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5]);
});

test('http --data-file sends the file as the body of a POST', async (t) => {
  const server = await serve(t);
  const dir = tempDir();
  const body = join(dir, 'body.json');
  writeFileSync(body, '{"hello":"world"}');
  const run = await runThrottle(['http', '--data-file', body, '--requests', '3', '--json', `${server.url}/post`]);
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  t.is(report.bytes?.sent, 3 * 17);
  t.is(server.stats.byMethod['POST'], 3);
  t.is(server.stats.bytesReceived, 3 * 17);
  const missing = await runThrottle(['http', '--data-file', join(dir, 'nope'), `${server.url}/post`]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /--data-file .*nope: cannot read it/);
});

test('run --on-full reject fails jobs that find the cap full, and retries them when asked', async (t) => {
  const once = await runThrottle(['-j', '1', '--on-full', 'reject', '--report', join(tempDir(), 'r.json'), '--', 'sleep', '{}'], { input: '0.3\n0.3\n0.3\n' });
  t.is(once.code, 1);
  t.regex(once.stderr, /1 ok, 0 failed, 2 rejected/);
  const retried = await runThrottle(['-j', '1', '--on-full', 'reject', '--retries', '8', '--backoff-base', '100ms', '--jitter', 'none', '--', 'sleep', '{}'], {
    input: '0.2\n0.2\n',
  });
  t.is(retried.code, 0, retried.stderr);
  t.regex(retried.stderr, /2 ok, 0 failed, 1 retried/);
});

test('help written to a pipe nobody reads any more ends quietly with 141, as SIGPIPE would', async (t) => {
  for (const args of [['bench', '--help'], ['proxy', '--help'], ['http', '--help']]) {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    // The reader is gone before the help is written (as with `| true`, or `| head -1` on a long text).
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    t.is(code, 141, args.join(' '));
    t.is(stderr, '', args.join(' '));
  }
});

test('an empty file name for a file to write, or for --control, is a one-line usage error before anything runs', async (t) => {
  const dir = tempDir();
  const trace = join(dir, 't.jsonl');
  writeFileSync(trace, '{"t": 0}\n');
  const runs = await Promise.all([
    runThrottle(['bench', '--hgrm', '', trace]),
    runThrottle(['report', '--html', '', trace]),
    runThrottle(['--output', '', '--', 'true']),
    runThrottle(['--control', '', '--', 'true']),
    runThrottle(['trace', 'gen', '--pattern', 'constant', '--rate', '1/s', '--duration', '1s', '--out', '']),
  ]);
  const expected = [
    'throttle: --hgrm: the file name is empty: e.g. --hgrm latency.hgrm',
    'throttle: --html: the file name is empty: e.g. --html report.html',
    'throttle: --output: the file name is empty: e.g. --output results.jsonl',
    'throttle: --control: the file name is empty: e.g. --control limits.conf',
    'throttle: -o, --out: the file name is empty: e.g. --out trace.jsonl',
  ];
  runs.forEach((run, i) => {
    t.is(run.code, 2, run.stderr);
    t.is(run.stdout, '');
    t.is(run.stderr, `${expected[i]}\n`);
  });
});
