import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHgrm } from '../../src/report/hgrm.js';
import type { Report } from '../../src/report/json.js';
import { benchJson, startThrottle, throttle, type TraceLine, usageError, within, writeTrace } from './bench-fixture.js';
import { fixture, lines, type RunResult, tempDir, waitFor } from './helpers.js';

// `throttle bench` in virtual time (the default) and what comes out of it: reports, assertions, sweeps,
// histograms. The simulation is exact, so these tests assert exact values and take no real time beyond
// starting the binary. Then the two commands around it: `trace gen`, whose traces it replays, and `report`,
// which renders --output Result streams the way bench renders its own.

/** tenAtZero is 10 arrivals at t = 0, the trace whose throttle times a 10/s bucket makes 0, 100, ..., 900 ms. */
const tenAtZero: TraceLine[] = Array.from({ length: 10 }, (_, i) => ({ t: 0, key: `job-${i}` }));

test('10 arrivals at once through -r 10/s -b 1: throttle 0, 100, ..., 900 ms, exactly', async (t) => {
  const dir = tempDir();
  const trace = writeTrace(dir, 'ten.jsonl', tenAtZero);
  const out = join(dir, 'r.jsonl');
  const report = await benchJson(t, ['-r', '10/s', '-b', '1', '--output', out, trace]);
  t.is(report.mode, 'simulated');
  t.is(report.jobs.total, 10);
  t.is(report.jobs.succeeded, 10);
  t.is(report.throttleMs.min, 0);
  t.is(report.throttleMs.max, 900);
  // p50 of 10 values is the 5th (400) or, by another convention, the 6th (500); HDR buckets add < 1 ms.
  const p50 = report.throttleMs.p50;
  t.true(within(p50, 400, 1) || within(p50, 500, 1), `throttle p50 ${p50}`);
  t.is(report.throttleMs.mean, 450);
  t.is(report.elapsedMs, 900);

  const results = lines(readFileSync(out, 'utf8')).map((l) => JSON.parse(l) as { seq: number; key: string; throttleMs: number });
  const bySeq = results.toSorted((a, b) => a.seq - b.seq);
  t.deepEqual(bySeq.map((r) => r.key), tenAtZero.map((e) => e.key));
  t.deepEqual(bySeq.map((r) => r.throttleMs), [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
});

test('untimed traces (a URL list, vegeta targets) are paced by --rate: 11 at 10/s take 1 s', async (t) => {
  const dir = tempDir();
  const urls = join(dir, 'urls.txt');
  writeFileSync(urls, Array.from({ length: 11 }, (_, i) => `http://h.test/${i}\n`).join(''));
  const targets = join(dir, 'targets.txt');
  writeFileSync(targets, Array.from({ length: 11 }, (_, i) => `GET http://h.test/${i}\nAccept: text/plain\n\n`).join(''));
  const formats = ['urls', 'vegeta'];
  const reports = await Promise.all([urls, targets].map((file) => benchJson(t, ['-r', '10/s', file])));
  reports.forEach((report, i) => {
    const format = formats[i]!;
    t.is(report.config['format'], format);
    t.is(report.mode, 'simulated');
    t.is(report.jobs.total, 11, format);
    // The first goes at 0, the 11th at 1 s: exactly, in virtual time.
    t.true(within(report.elapsedMs, 1000, 1), `${format}: elapsed ${report.elapsedMs} ms`);
    t.true(within(report.throughput.offered ?? 0, 10, 0.01), `${format}: offered ${report.throughput.offered}`);
  });
});

test('--service with --seed is deterministic; another seed draws other service times', async (t) => {
  const dir = tempDir();
  // Timed, without durations: every service time comes from --service.
  const trace = writeTrace(dir, 'nodur.jsonl', Array.from({ length: 40 }, (_, i) => ({ t: i * 0.025, key: `k${i}` })));
  const args = ['-r', '50/s', '-j', '2', '--service', 'exp:20ms', trace];
  const runs = await Promise.all([
    throttle(['bench', '--json', '--seed', '5', ...args]),
    throttle(['bench', '--json', '--seed', '5', ...args]),
    throttle(['bench', '--json', '--seed', '6', ...args]),
  ]);
  for (const run of runs) t.is(run.code, 0, run.stderr);
  const [a, b, c] = runs.map((r) => r.stdout);
  t.is(a, b, 'the same seed gives the same report, byte for byte');
  const [ra, rc] = [JSON.parse(a!) as Report, JSON.parse(c!) as Report];
  t.is(ra.serviceMs.count, 40);
  t.true(ra.serviceMs.max > 0);
  t.is(ra.config['service'], 'exp:20ms');
  t.is(ra.config['seed'], 5);
  t.not(ra.serviceMs.p50, rc.serviceMs.p50, 'seed 6 drew the same service p50 as seed 5');
});

test('--assert: a holding check passes with ✔, a breach exits 3 with ✘', async (t) => {
  const dir = tempDir();
  // Slow: 10 jobs of 200 ms each, one at a time.
  const slow = writeTrace(dir, 'slow.jsonl', Array.from({ length: 10 }, (_, i) => ({ t: i * 0.1, key: `s${i}`, duration: 0.2 })));
  const [pass, fail] = await Promise.all([
    throttle(['bench', '-j', '1', '--assert', 'p99(latency) < 10s', slow]),
    throttle(['bench', '-j', '1', '--json', '--assert', 'p99(latency) < 1ms', '--assert', 'jobs == 10', slow]),
  ]);
  t.is(pass.code, 0, pass.stderr);
  t.regex(pass.stdout, /^ {2}✔ p99\(latency\) < 10s \(actual [\d.]+s\)$/m);
  t.notRegex(pass.stdout, /✘/);

  t.is(fail.code, 3, fail.stderr);
  // With --json, stdout stays the report alone; the verdicts go to stderr.
  t.is((JSON.parse(fail.stdout) as Report).jobs.total, 10);
  t.regex(fail.stderr, /^ {2}✘ p99\(latency\) < 1ms \(actual [\d.]+s\)$/m);
  t.regex(fail.stderr, /^ {2}✔ jobs == 10 \(actual 10\)$/m);
});

test('--assert: a misspelt metric or a time without a unit is a usage error naming it; so is --record on a simulation', async (t) => {
  const dir = tempDir();
  const trace = writeTrace(dir, 'ten.jsonl', tenAtZero);
  const [misspelt, bare] = await Promise.all([
    throttle(['bench', '--assert', 'p99(latncy) < 5ms', trace]),
    throttle(['bench', '--assert', 'p99(latency) < 5', trace]),
  ]);
  usageError(t, misspelt, /^throttle: --assert: unknown metric "latncy" in "p99\(latncy\) < 5ms": use latency, throttle, backoff or service$/);
  const record = await throttle(['bench', '--record', join(dir, 'again.jsonl'), trace]);
  usageError(t, record, /^throttle: --record writes a trace of a real replay: the simulation only replays its trace/);
  usageError(t, bare, /^throttle: --assert: missing unit in "p99\(latency\) < 5": use a duration such as 5ms or 5s$/);
});

test('an event taking more tokens than a bucket holds is a usage error naming the flag: --burst, or --per-key-burst', async (t) => {
  const dir = tempDir();
  const trace = writeTrace(dir, 'heavy.jsonl', [{ t: 0, key: 'a' }, { t: 0.1, key: 'b', n: 3 }]);
  const [shared, perKey, enough] = await Promise.all([
    throttle(['bench', '-r', '10/s', '-b', '2', trace]),
    throttle(['bench', '-r', '10/s', '-b', '5', '--per-key-rate', '1/s', trace]),
    throttle(['bench', '--json', '-r', '10/s', '-b', '5', '--per-key-rate', '1/s', '--per-key-burst', '3', trace]),
  ]);
  usageError(t, shared, /^throttle: .*heavy\.jsonl: event 2 takes 3 tokens, more than --burst 2 allows: raise --burst$/);
  usageError(t, perKey, /^throttle: .*heavy\.jsonl: event 2 takes 3 tokens, more than --per-key-burst 1 allows: raise --per-key-burst$/);
  t.is(enough.code, 0, enough.stderr);
  t.is((JSON.parse(enough.stdout) as Report).jobs.succeeded, 2);
});

test('Ctrl-C stops a simulation: the report of the events it took, a line on stderr, exit 130', async (t) => {
  const dir = tempDir();
  // 20,000 events failing with 503, each retried up to 100 times: a few seconds of simulation.
  const trace = writeTrace(dir, 'failing.jsonl', Array.from({ length: 20_000 }, (_, i) => ({ t: i / 1000, status: 503 })));
  const output = join(dir, 'results.jsonl');
  const args = ['bench', '--json', '-r', '100000/s', '-j', '64', '--retries', '100', '--backoff-base', '1ms', '--backoff-max', '10ms', '--output', output, trace];
  const { child, result } = await startThrottle(args, { timeoutMs: 60_000 });
  await waitFor(() => existsSync(output) && readFileSync(output, 'utf8').split('\n').length > 100, '100 jobs to end');
  child.kill('SIGINT');
  const run = await result;
  t.is(run.code, 130, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  t.true(report.jobs.total < 20_000, 'every event was taken');
  t.true(report.jobs.interrupted > 0, 'no job was interrupted (those backing off are)');
  t.is(report.jobs.failed + report.jobs.interrupted, report.jobs.total);
  t.is(run.stderr, `throttle: interrupted after ${report.jobs.total} events of the trace (${report.jobs.interrupted} of them did not finish)\n`);
  // Every job taken is in the Result stream, whole lines.
  t.is(readFileSync(output, 'utf8').trimEnd().split('\n').length, report.jobs.total);
});

test('a flag for the other way of replaying is a usage error (--speed simulated; --service, --seed for real); -q prints only the checks', async (t) => {
  const dir = tempDir();
  const trace = writeTrace(dir, 'ten.jsonl', tenAtZero);
  const report = join(dir, 'quiet.json');
  const [speed, service, seed, quiet] = await Promise.all([
    throttle(['bench', '--speed', '2', trace]),
    throttle(['bench', '--service', 'exp:5ms', trace, '--', 'true']),
    throttle(['bench', '--seed', '7', trace, '--', 'true']),
    throttle(['bench', '-q', '-r', '10/s', '--report', report, '--assert', 'max(throttle) <= 900ms', trace]),
  ]);
  usageError(t, speed, /^throttle: --speed paces a real replay: the simulation takes no time at all/);
  usageError(t, service, /^throttle: --service gives the simulation its service times: a real replay takes the time each event really takes/);
  usageError(t, seed, /^throttle: --seed makes the simulation's draws repeatable/);
  t.is(quiet.code, 0, quiet.stderr);
  t.is(quiet.stdout, '  ✔ max(throttle) <= 900ms (actual 900ms)\n');
  t.is((JSON.parse(readFileSync(report, 'utf8')) as Report).jobs.total, 10);
});

test('Ctrl-C stops a sweep: the rows of the grid points done, a line on stderr, exit 130', async (t) => {
  const dir = tempDir();
  // Each point: 20,000 events failing with 503, retried up to 100 times (a few seconds of simulation).
  const trace = writeTrace(dir, 'failing.jsonl', Array.from({ length: 20_000 }, (_, i) => ({ t: i / 1000, status: 503 })));
  const args = ['bench', '-r', '100000/s', '--retries', '100', '--backoff-base', '1ms', '--backoff-max', '10ms', '--sweep', 'concurrency=8,16,32,64', trace];
  const { child, result } = await startThrottle(args, { timeoutMs: 120_000 });
  // Nothing shows that the sweep began (its table comes at the end): a point takes seconds, and the
  // process some 0.2 s to start.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  child.kill('SIGINT');
  const run = await result;
  t.is(run.code, 130, run.stderr);
  const m = /^throttle: interrupted after (\d) of 4 grid points\n$/.exec(run.stderr);
  t.truthy(m, run.stderr);
  // The header, its rule, and one row per point done.
  t.is(lines(run.stdout).length, 2 + Number(m?.[1]));
});

/** parseMs reads a time as the sweep table prints it: 673ms, 2.51s, 1.5m. */
function parseMs(text: string): number {
  const m = /^([\d.]+)(µs|ms|s|m)$/.exec(text);
  if (m === null) throw new Error(`not a time: ${JSON.stringify(text)}`);
  return Number(m[1]) * { µs: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as 'µs' | 'ms' | 's' | 'm'];
}

test('--sweep prints one row per grid point; more rate or more concurrency is never worse', async (t) => {
  const dir = tempDir();
  // 60 arrivals over 2 s (30/s), service 20..120 ms: both 10/s and 20/s throttle, and -j 1 queues.
  const trace = writeTrace(dir, 'sweep.jsonl', Array.from({ length: 60 }, (_, i) => ({ t: i / 30, key: `k${i}`, duration: (20 + ((i * 37) % 101)) / 1000 })));
  const run = await throttle(['bench', '--sweep', 'rate=10/s,20/s', '--sweep', 'concurrency=1,4', trace]);
  t.is(run.code, 0, run.stderr);
  const [header, rule, ...rows] = lines(run.stdout).map((l) => l.trim().split(/\s{2,}/));
  t.deepEqual(header, ['rate', 'burst', 'concurrency', 'p50 latency', 'p99 latency', 'p99 throttle', 'rejected', 'achieved']);
  t.true(rule!.every((cell) => /^-+$/.test(cell)), 'a rule under the header');
  t.deepEqual(rows.map((r) => r.slice(0, 3)), [
    ['10/s', '1', '1'],
    ['10/s', '1', '4'],
    ['20/s', '1', '1'],
    ['20/s', '1', '4'],
  ]);
  const p99 = (rate: string, j: string): number => parseMs(rows.find((r) => r[0] === rate && r[2] === j)![4]!);
  for (const j of ['1', '4']) t.true(p99('20/s', j) <= p99('10/s', j), `-j ${j}: p99 latency at 20/s ${p99('20/s', j)} > at 10/s ${p99('10/s', j)}`);
  for (const rate of ['10/s', '20/s']) t.true(p99(rate, '4') <= p99(rate, '1'), `${rate}: p99 latency at -j 4 > at -j 1`);
  // The grid is not degenerate: the slowest point is well behind the fastest.
  t.true(p99('10/s', '1') > 2 * p99('20/s', '4'), run.stdout);
  for (const r of rows) t.is(r[6], '0.0%');
});

test('--sweep with a trace on stdin is a usage error (it replays the trace once per point)', async (t) => {
  const run = await throttle(['bench', '--sweep', 'rate=10/s,20/s', '-'], { input: '{"t": 0}\n' });
  usageError(t, run, /^throttle: --sweep replays the trace once per grid point: give a trace file, not stdin$/);
});

test('--sweep naming a setting twice is a usage error (the second would hide the first)', async (t) => {
  const trace = writeTrace(tempDir(), 'two.jsonl', [{ t: 0 }, { t: 0.1 }]);
  const run = await throttle(['bench', '--sweep', 'burst=1', '--sweep', 'rate=10/s', '--sweep', 'burst=2,5', trace]);
  usageError(t, run, /^throttle: --sweep: burst is given twice: list all its values in one, e\.g\. --sweep burst=1,10$/);
});

test('--hgrm parses back with every job counted; --html is one self-contained file with an svg', async (t) => {
  const dir = tempDir();
  const trace = writeTrace(dir, 'h.jsonl', Array.from({ length: 50 }, (_, i) => ({ t: i * 0.02, key: `k${i}`, duration: (5 + (i % 7) * 10) / 1000 })));
  const hgrm = join(dir, 'f.hgrm');
  const html = join(dir, 'f.html');
  const report = await benchJson(t, ['-r', '40/s', '--hgrm', hgrm, '--html', html, trace]);
  t.is(report.jobs.total, 50);

  const h = parseHgrm(readFileSync(hgrm, 'utf8'));
  t.is(h.totalCount, 50);
  t.is(h.rows.at(-1)?.count, 50);
  t.is(h.rows.at(-1)?.percentile, 1);
  // The .hgrm holds latency in ms; its max is the top of the max's bucket (within HDR's 0.1%).
  t.true(within(h.max, report.latencyMs.max, report.latencyMs.max * 0.001 + 0.001), `hgrm max ${h.max}, report ${report.latencyMs.max}`);

  const page = readFileSync(html, 'utf8');
  t.regex(page, /<svg[\s>]/);
  t.notRegex(page, /https?:\/\//, 'the report loads nothing from the network');
  t.regex(page, /^<!doctype html>/i);
});

test('a reader that closes stdout early ends bench quietly with 141 (like `| head -1`)', async (t) => {
  const dir = tempDir();
  // 20,000 jobs streamed by --output - : far more than a pipe holds, so writes go on after the reader left.
  const trace = join(dir, 'big.jsonl');
  let text = '';
  for (let i = 0; i < 20_000; i++) text += `{"t":${i / 1000}}\n`;
  writeFileSync(trace, text);
  const { child, result } = await startThrottle(['bench', '--output', '-', trace]);
  let first = '';
  child.stdout!.on('data', (chunk: string) => {
    if (first.includes('\n')) return;
    first += chunk;
    if (first.includes('\n')) child.stdout!.destroy();
  });
  const run = await result;
  t.regex(first, /^\{"seq":0,/);
  t.is(run.code, 141);
  t.is(run.stderr, '');
});

// ---------------------------------------------------------------------------------------------------------
// trace gen

/** events parses a generated trace and checks every line: a JSON object with t in [0, durationS), in order. */
function events(text: string, durationS: number): Array<{ t: number; key: string }> {
  const all = lines(text).map((l) => JSON.parse(l) as { t: number; key: string });
  all.forEach((e, i) => {
    if (!(e.t >= 0 && e.t < durationS)) throw new Error(`line ${i + 1}: t ${e.t} outside [0, ${durationS})`);
    if (i > 0 && e.t < all[i - 1]!.t) throw new Error(`line ${i + 1}: t ${e.t} before the line above`);
  });
  return all;
}

/** generated memoises `trace gen` runs (100/s for 2 s) shared by the tests below. */
const generated = new Map<string, Promise<RunResult>>();
function gen(pattern: string, seed: string): Promise<RunResult> {
  const key = `${pattern} ${seed}`;
  if (!generated.has(key)) generated.set(key, throttle(['trace', 'gen', '--pattern', pattern, '--rate', '100/s', '--duration', '2s', '--seed', seed]));
  return generated.get(key)!;
}

test('trace gen: the same seed gives the same trace, another seed another; bench replays it from stdin', async (t) => {
  const [a, again, other] = await Promise.all([
    gen('poisson', '7'),
    throttle(['trace', 'gen', '--pattern', 'poisson', '--rate', '100/s', '--duration', '2s', '--seed', '7']),
    gen('poisson', '8'),
  ]);
  for (const run of [a, again, other]) t.is(run.code, 0, run.stderr);
  t.true(a.stdout.length > 0);
  t.is(again.stdout, a.stdout);
  t.not(other.stdout, a.stdout);
  const n = events(a.stdout, 2).length;
  const report = await benchJson(t, ['-'], { input: a.stdout });
  t.is(report.jobs.total, n);
  t.is(report.config['format'], 'jsonl');
});

test('trace gen: every pattern gives about rate × duration events (exactly for constant and burst)', async (t) => {
  const patterns = ['constant', 'burst', 'poisson', 'ramp', 'diurnal'];
  const runs = await Promise.all(patterns.map((p) => gen(p, '7')));
  patterns.forEach((p, i) => {
    const run = runs[i]!;
    t.is(run.code, 0, run.stderr);
    const n = events(run.stdout, 2).length;
    if (p === 'constant' || p === 'burst') t.is(n, 200, p);
    else t.true(n >= 150 && n <= 250, `${p}: ${n} events, expected 200 ± 25%`);
  });
  // constant: one every 10 ms; burst: groups of 10 at the same instant, every 100 ms.
  const constant = events(runs[0]!.stdout, 2);
  t.deepEqual(constant.slice(0, 3).map((e) => e.t), [0, 0.01, 0.02]);
  const burst = events(runs[1]!.stdout, 2);
  t.deepEqual([...new Set(burst.map((e) => e.t))].slice(0, 3), [0, 0.1, 0.2]);
});

test('trace gen: a bad --pattern, a missing --rate, a zero --duration or a bad --service is a one-line usage error', async (t) => {
  const [pattern, rate, duration, service] = await Promise.all([
    throttle(['trace', 'gen', '--pattern', 'zigzag', '--rate', '10/s', '--duration', '1s']),
    throttle(['trace', 'gen', '--duration', '1s']),
    throttle(['trace', 'gen', '--rate', '10/s', '--duration', '0s']),
    throttle(['trace', 'gen', '--rate', '10/s', '--duration', '1s', '--service', 'bogus']),
  ]);
  usageError(t, pattern, /--pattern.*'zigzag' is invalid.*constant, poisson, burst, ramp, diurnal/);
  usageError(t, rate, /^throttle: --rate is required: e\.g\. throttle trace gen --rate 50\/s --duration 1m$/);
  usageError(t, duration, /^throttle: --duration: a trace needs a duration above 0, e\.g\. --duration 1m \(got "0s"\)$/);
  usageError(t, service, /^throttle: --service: invalid service distribution "bogus"/);
});

// ---------------------------------------------------------------------------------------------------------
// throttle report, over Result streams written by --output

/**
 * twoRuns writes, once for the tests below, a.jsonl (3 jobs, one failing; a.json its --report) and b.jsonl
 * (2 jobs) into a dir, and returns the dir.
 */
let twoRunsDir: Promise<string> | undefined;
function twoRuns(): Promise<string> {
  twoRunsDir ??= (async () => {
    const dir = tempDir();
    const exitWith = fixture('exit-with.sh');
    const [a, b] = await Promise.all([
      throttle(['-q', '--output', 'a.jsonl', '--report', 'a.json', '--', exitWith, '{}'], { input: '0\n3\n0\n', cwd: dir }),
      throttle(['-q', '--output', 'b.jsonl', '--', exitWith, '{}'], { input: '0\n0\n', cwd: dir }),
    ]);
    if (a.code !== 1 || b.code !== 0) throw new Error(`runs exited ${a.code} and ${b.code}, expected 1 and 0: ${a.stderr}${b.stderr}`);
    return dir;
  })();
  return twoRunsDir;
}

test('report merges Result streams: jobs add up; --assert exits 3 on a breach', async (t) => {
  const dir = await twoRuns();
  const [merged, breach] = await Promise.all([
    throttle(['report', 'a.jsonl', 'b.jsonl', '--json', '--assert', 'failed <= 1'], { cwd: dir }),
    throttle(['report', 'a.jsonl', 'b.jsonl', '--assert', 'jobs == 5', '--assert', 'failed == 0'], { cwd: dir }),
  ]);
  t.is(merged.code, 0, merged.stderr);
  const report = JSON.parse(merged.stdout) as Report;
  t.is(report.mode, 'real');
  t.like(report.jobs, { total: 5, succeeded: 4, failed: 1 });
  t.is(report.latencyMs.count, 5);
  t.deepEqual(report.outcomes, { 0: 4, 3: 1 });
  // With --json, stdout stays the report alone; the verdicts go to stderr.
  t.regex(merged.stderr, /^ {2}✔ failed <= 1 \(actual 1\)$/m);

  t.is(breach.code, 3, breach.stderr);
  t.regex(breach.stdout, /^ {2}✔ jobs == 5 \(actual 5\)$/m);
  t.regex(breach.stdout, /^ {2}✘ failed == 0 \(actual 1\)$/m);
});

test('report: a malformed Result line is a usage error naming file:line; --compare prints the changes', async (t) => {
  const dir = await twoRuns();
  writeFileSync(join(dir, 'bad.jsonl'), `${lines(readFileSync(join(dir, 'b.jsonl'), 'utf8'))[0]}\n{"seq": 1, "key": "x"}\n`);
  const [bad, compare] = await Promise.all([
    throttle(['report', 'a.jsonl', 'bad.jsonl'], { cwd: dir }),
    throttle(['report', 'b.jsonl', '--compare', 'a.json'], { cwd: dir }),
  ]);
  usageError(t, bad, /^throttle: bad\.jsonl:2: not a Result: expected seq, arrivalMs, endedMs/);

  t.is(compare.code, 0, compare.stderr);
  t.regex(compare.stdout, /^old .*\(real, 3 jobs\)$/m);
  t.regex(compare.stdout, /^now b\.jsonl \(real, 2 jobs\)$/m);
  t.regex(compare.stdout, /^ +old +now +change$/m);
  t.regex(compare.stdout, /^ {2}latency p99 +\S+ +\S+ +[-+±]\S+ +[-+±]\S+%/m);
  t.regex(compare.stdout, /^ {2}failed +1 +0 +-1 +-100\.0% /m);
});

test('a trace file long enough to be read on a thread of its own replays exactly as the same trace from stdin', async (t) => {
  const dir = tempDir();
  // About 40,000 events, 1.6 MB: past the size from which a trace file is read on its own thread.
  const events: TraceLine[] = Array.from({ length: 40_000 }, (_, i) => ({ t: i / 4000, key: `k${i % 5}`, duration: ((i * 7) % 13) / 1000, status: i % 97 === 0 ? 503 : 0 }));
  const file = writeTrace(dir, 'long.jsonl', events);
  const args = ['-r', '3000/s', '-b', '5', '-j', '4', '--retries', '2'];
  const fromFile = await benchJson(t, [...args, file]);
  const fromStdin = await benchJson(t, [...args, '-'], { input: readFileSync(file, 'utf8') });
  t.is(fromFile.jobs.total, 40_000);
  t.true(fromFile.jobs.retried > 0);
  const comparable = (r: Report) => ({ ...r, startedAt: undefined, command: undefined, config: { ...r.config, trace: undefined } });
  t.deepEqual(comparable(fromFile), comparable(fromStdin));
});

test('a long trace file read ahead on its thread: a mistake in the flags is still a usage error, and the process ends', async (t) => {
  const dir = tempDir();
  const events: TraceLine[] = Array.from({ length: 40_000 }, (_, i) => ({ t: i / 1000, key: `k${i % 5}`, duration: 0.001 }));
  const file = writeTrace(dir, 'long.jsonl', events);
  usageError(t, await throttle(['bench', '--assert', 'p99(latncy) < 1s', file]), /--assert: .*latncy/);
  // A bad line far into it names the file and the line, after the flags were found fine.
  writeFileSync(file, `${readFileSync(file, 'utf8')}{"t": "later"}\n`);
  usageError(t, await throttle(['bench', file]), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:40001: `));
});

test('a long file among the arguments that is not the trace (an old --report): the thread started ahead idles, the run ends', async (t) => {
  const dir = tempDir();
  const trace = writeTrace(dir, 'short.jsonl', tenAtZero);
  const old = join(dir, 'old-report.json');
  writeFileSync(old, 'x'.repeat(2 << 20));
  const started = Date.now();
  const r = await throttle(['bench', '-r', '10/s', '--report', old, trace]);
  t.is(r.code, 0, r.stderr);
  t.is(JSON.parse(readFileSync(old, 'utf8')).jobs.total, 10);
  t.true(Date.now() - started < 10_000);
});
