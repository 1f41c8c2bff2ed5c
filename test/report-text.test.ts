import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import type { Result } from '../src/engine/types.js';
import { Metrics, type Stats, type Summary } from '../src/measure/metrics.js';
import { type Report, type ReportConfig, buildReport, formatJson } from '../src/report/json.js';
import { type Paint, formatMs, formatRate, formatSummary } from '../src/report/text.js';

// --- golden files -------------------------------------------------------------------------------------------

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

const GOLDEN = join(findRoot(dirname(fileURLToPath(import.meta.url))), 'fixtures', 'golden');

/** golden compares text with fixtures/golden/<name> exactly; UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(t: ExecutionContext, name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, actual);
    t.log(`rewrote ${file}`);
    t.pass();
    return;
  }
  if (!existsSync(file)) {
    t.fail(`${file} is missing: check the output by eye, then run with UPDATE_GOLDEN=1 to write it`);
    return;
  }
  t.is(actual, readFileSync(file, 'utf8'), `differs from fixtures/golden/${name} (UPDATE_GOLDEN=1 rewrites it)`);
}

// --- reports ------------------------------------------------------------------------------------------------

function stats(count: number, p50: number, p99: number, max: number): Stats {
  return { count, min: p50 / 2, mean: p50 * 1.1, p50, p90: (p50 + p99) / 2, p99, p999: (p99 + max) / 2, max };
}

const ZERO: Stats = { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };

function config(o: Partial<ReportConfig> = {}): ReportConfig {
  return {
    rate: 5,
    burst: 1,
    concurrency: 4,
    onFull: 'wait',
    retries: 0,
    backoffBaseMs: 200,
    backoffMaxMs: 30_000,
    jitter: 'equal',
    timeoutMs: null,
    ...o,
  };
}

function report(summary: Summary, cfg: ReportConfig = config(), command = './process {}'): Report {
  return buildReport(command, 'real', cfg, summary);
}

/** basic: 20 jobs at 5/s with -j 4, all ok at the first attempt. */
const basic: Summary = {
  jobs: { total: 20, succeeded: 20, failed: 0, rejected: 0, interrupted: 0, retried: 0, attempts: 20 },
  elapsedMs: 3_812.5,
  throughput: { offered: 5.002, achieved: 5.246, attempts: 5.246 },
  latencyMs: stats(20, 182.4, 231.9, 240.05),
  throttleMs: stats(20, 170.1, 199.2, 199.96),
  backoffMs: ZERO,
  serviceMs: stats(20, 12.34, 31.7, 32.5),
  inflight: { peak: 2 },
  outcomes: { '0': 20 },
};

/** retries: failures, retries, rejections (--on-full reject) and an interrupted run. */
const retries: Summary = {
  jobs: { total: 50, succeeded: 40, failed: 6, rejected: 2, interrupted: 2, retried: 9, attempts: 71 },
  elapsedMs: 12_345.678,
  throughput: { offered: 4.5, achieved: 3.24, attempts: 5.751 },
  latencyMs: stats(48, 1_250, 9_870, 15_500),
  throttleMs: stats(50, 95.5, 400, 812),
  backoffMs: stats(48, 0, 1_600, 3_200),
  serviceMs: stats(48, 0.42, 7.5, 9.999),
  inflight: { peak: 5 },
  outcomes: { '0': 40, '1': 4, '75': 2, none: 2, rejected: 2 },
};

/** hint: the rate is 100/s but -j 2 with ~200 ms jobs holds the run to 10 attempts a second. */
const hint: Summary = {
  jobs: { total: 200, succeeded: 200, failed: 0, rejected: 0, interrupted: 0, retried: 0, attempts: 200 },
  elapsedMs: 20_050,
  throughput: { offered: 9.98, achieved: 9.975, attempts: 9.975 },
  latencyMs: stats(200, 9_800, 19_500, 19_800),
  throttleMs: stats(200, 9_600, 19_300, 19_600),
  backoffMs: ZERO,
  serviceMs: stats(200, 200, 204, 210),
  inflight: { peak: 2 },
  outcomes: { '0': 200 },
};

/** one: a single job without any limit. */
const one: Summary = {
  jobs: { total: 1, succeeded: 1, failed: 0, rejected: 0, interrupted: 0, retried: 0, attempts: 1 },
  elapsedMs: 0.8,
  throughput: { offered: null, achieved: 1250, attempts: 1250 },
  latencyMs: stats(1, 0.8, 0.8, 0.8),
  throttleMs: ZERO,
  backoffMs: ZERO,
  serviceMs: stats(1, 0.75, 0.75, 0.75),
  inflight: { peak: 1 },
  outcomes: { '0': 1 },
};

test('summary: basic run', (t) => {
  golden(t, 'summary-basic.txt', formatSummary(report(basic)));
});

test('summary: failures, retries (with a backoff line), rejected and interrupted counts', (t) => {
  golden(t, 'summary-retries.txt', formatSummary(report(retries, config({ rate: 10, concurrency: 8, onFull: 'reject', retries: 3 }))));
});

test('summary: a hint when the in-flight cap, not the rate, limited the run', (t) => {
  golden(t, 'summary-hint.txt', formatSummary(report(hint, config({ rate: 100, concurrency: 2 }))));
});

test('summary: one job, no limits ("1 job", no target)', (t) => {
  golden(t, 'summary-one-job.txt', formatSummary(report(one, config({ rate: null, concurrency: null }))));
});

test('summary lines have their fixed layout', (t) => {
  const lines = formatSummary(report(retries)).split('\n');
  t.is(lines.at(-1), '', 'ends with a newline');
  t.deepEqual(
    lines.slice(1, -1).map((l) => l.slice(0, 11)),
    ['  latency  ', '  throttle ', '  backoff  ', '  service  '],
  );
  const columns = (l: string) => [l.indexOf(' p50 '), l.indexOf(' p99 '), l.indexOf(' max ')];
  t.deepEqual(new Set(lines.slice(1, -1).map((l) => columns(l).join())).size, 1, 'p50, p99 and max columns line up');
});

test('no backoff line when no job retried', (t) => {
  t.false(formatSummary(report(basic)).includes('backoff'));
});

test('rejected and interrupted appear only when there are some; failed always does', (t) => {
  const first = formatSummary(report(basic)).split('\n')[0]!;
  t.true(first.includes('20 ok, 0 failed, 0 retried;'));
  t.false(first.includes('rejected'));
  t.false(first.includes('interrupted'));
  const withAll = formatSummary(report(retries)).split('\n')[0]!;
  t.true(withAll.includes('40 ok, 6 failed, 2 rejected, 2 interrupted, 9 retried;'));
});

// --- the hint, case by case ---------------------------------------------------------------------------------

const HINT = 'hint: the in-flight cap';
const hinted = (s: Summary, cfg: Partial<ReportConfig>) => formatSummary(report(s, config({ rate: 100, concurrency: 2, ...cfg }))).includes(HINT);

test('hint: shown when peak reached the cap, there were more jobs than the cap, and attempts stayed below 90% of the rate', (t) => {
  t.true(hinted(hint, {}));
  t.true(hinted({ ...hint, throughput: { ...hint.throughput, attempts: 89.9 } }, {}));
});

test('hint: not shown when the rate was (nearly) reached', (t) => {
  t.false(hinted({ ...hint, throughput: { ...hint.throughput, attempts: 90 } }, {}));
});

test('hint: not shown when the in-flight peak stayed below the cap', (t) => {
  t.false(hinted({ ...hint, inflight: { peak: 1 } }, {}));
});

test('hint: not shown when there were no more jobs than the cap', (t) => {
  t.false(hinted({ ...hint, jobs: { ...hint.jobs, total: 2, succeeded: 2, attempts: 2 } }, {}));
});

test('hint: not shown without a rate or without a cap, or for a run that took no time', (t) => {
  t.false(hinted(hint, { rate: null }));
  t.false(hinted(hint, { concurrency: null }));
  t.false(hinted({ ...hint, elapsedMs: 0 }, {}));
});

// --- paint --------------------------------------------------------------------------------------------------

const tags: Paint = {
  ok: (s) => `<ok>${s}</ok>`,
  bad: (s) => `<bad>${s}</bad>`,
  warn: (s) => `<warn>${s}</warn>`,
  dim: (s) => `<dim>${s}</dim>`,
  bold: (s) => `<bold>${s}</bold>`,
};

test('paint: failures bad, rejected and interrupted warn, the job count bold, the hint dim', (t) => {
  const text = formatSummary(report(retries, config({ rate: 10, concurrency: 8 })), tags);
  t.true(text.startsWith('<bold>50 jobs</bold> in 12.3s: 40 ok, <bad>6 failed</bad>, <warn>2 rejected</warn>, <warn>2 interrupted</warn>, 9 retried;'));
  t.true(formatSummary(report(basic), tags).includes(', 0 failed,'), 'zero failures are not painted');
  t.true(formatSummary(report(hint, config({ rate: 100, concurrency: 2 })), tags).includes('\n<dim>  hint: '));
});

// --- JSON ---------------------------------------------------------------------------------------------------

test('json: the report is version 1 with the header first, indented, with a final newline', (t) => {
  const cfg = config({ rate: 10, concurrency: 8, onFull: 'reject', retries: 3, timeoutMs: 5000 });
  const text = formatJson(report(retries, cfg));
  golden(t, 'report-retries.json', text);
  t.deepEqual(JSON.parse(text), { version: 1, command: './process {}', mode: 'real', config: cfg, ...retries });
  t.deepEqual(Object.keys(JSON.parse(text)).slice(0, 5), ['version', 'command', 'mode', 'config', 'jobs']);
});

test('json: a report folded from Results by Metrics (measure -> report)', (t) => {
  const m = new Metrics();
  for (let seq = 0; seq < 10; seq++) {
    const arrivalMs = seq * 100;
    const startedMs = arrivalMs + (seq % 3) * 7.5;
    const ok = seq !== 4;
    const r: Result = {
      seq,
      key: `item-${seq}`,
      arrivalMs,
      grantedMs: startedMs,
      startedMs,
      endedMs: startedMs + 20 + seq,
      attempts: seq === 4 ? 3 : seq === 7 ? 2 : 1,
      status: ok ? 'ok' : 'failed',
      code: ok ? 0 : 1,
      throttleMs: (seq % 3) * 7.5,
      backoffMs: seq === 4 ? 600 : seq === 7 ? 200 : 0,
      serviceMs: 20 + seq,
    };
    m.add(r);
  }
  const summary = m.close(1_029, 3);
  golden(t, 'report-metrics.json', formatJson(buildReport('./process {}', 'simulated', config({ retries: 2, concurrency: 3, rate: 10 }), summary)));
  golden(t, 'summary-metrics.txt', formatSummary(buildReport('./process {}', 'simulated', config({ retries: 2, concurrency: 3, rate: 10 }), summary)));
});

// --- formatMs, formatRate -----------------------------------------------------------------------------------

const ms: Array<[number, string]> = [
  [0, '0.00ms'],
  [0.004, '0.00ms'],
  [0.123, '0.12ms'],
  [1, '1.00ms'],
  [9.99, '9.99ms'],
  [9.996, '10.0ms'], // not 10.00ms: the unit is picked by the value as printed
  [10, '10.0ms'],
  [12.34, '12.3ms'],
  [99.94, '99.9ms'],
  [99.96, '100ms'],
  [100, '100ms'],
  [240.05, '240ms'],
  [999.4, '999ms'],
  [999.6, '1.00s'],
  [1000, '1.00s'],
  [3812.5, '3.81s'],
  [9994, '9.99s'],
  [9996, '10.0s'],
  [10_000, '10.0s'],
  [12_345.678, '12.3s'],
  [59_940, '59.9s'],
  [59_960, '1.0m'],
  [60_000, '1.0m'],
  [90_000, '1.5m'],
  [3_594_000, '59.9m'],
  [3_598_000, '1.00h'], // 59.97 minutes print as 60.0m: an hour, then
  [3_600_000, '1.00h'],
  [5_400_000, '1.50h'],
  [350_520_000, '97.4h'],
  [359_820_000, '100h'],
  [3_600_000_000, '1000h'],
];

for (const [value, text] of ms) {
  test(`formatMs(${value}) is ${text}`, (t) => {
    t.is(formatMs(value), text);
  });
}

const rates: Array<[number | null, string]> = [
  [0, '0.00/s'],
  [0.5, '0.50/s'],
  [5.246, '5.25/s'],
  [9.994, '9.99/s'],
  [9.996, '10.0/s'],
  [10, '10.0/s'],
  [99.94, '99.9/s'],
  [99.96, '100/s'],
  [100, '100/s'],
  [1234.5, '1235/s'],
  [Infinity, 'inf'],
  [null, 'inf'],
];

for (const [value, text] of rates) {
  test(`formatRate(${value}) is ${text}`, (t) => {
    t.is(formatRate(value), text);
  });
}
