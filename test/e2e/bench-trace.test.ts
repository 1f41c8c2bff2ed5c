import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from '../../src/report/json.js';
import { benchJson, throttle, usageError } from './bench-fixture.js';
import { lines, ROOT, tempDir } from './helpers.js';

// Traces in and out of the binary: every trace format detected and replayed, every malformed one a usage
// error naming file:line; and `--record`, a run's own trace, replayed by bench.

const TRACES = join(ROOT, 'fixtures', 'traces');

/**
 * GOOD lists each well-formed fixture, the flags it needs, the format it must be detected as, its events,
 * and how many of them carry a failing recorded status (HTTP >= 400, exit status != 0, or none at all).
 */
const GOOD: ReadonlyArray<{ file: string; args?: string[]; format: string; events: number; failed: number }> = [
  { file: 'basic.jsonl', format: 'jsonl', events: 4, failed: 2 },
  { file: 'ts.jsonl', format: 'jsonl', events: 3, failed: 0 },
  { file: 'epoch.jsonl', format: 'jsonl', events: 2, failed: 0 },
  { file: 'unordered.jsonl', args: ['--sort'], format: 'jsonl', events: 5, failed: 0 },
  { file: 'basic.csv', format: 'csv', events: 3, failed: 1 },
  { file: 'ts.csv', format: 'csv', events: 2, failed: 0 },
  { file: 'combined.log', format: 'access-log', events: 6, failed: 3 },
  { file: 'common.log', format: 'access-log', events: 2, failed: 0 },
  { file: 'nginx-timed.log', args: ['--log-format', 'nginx-timed'], format: 'access-log', events: 3, failed: 0 },
  { file: 'apache-timed.log', args: ['--log-format', 'apache-timed'], format: 'access-log', events: 2, failed: 0 },
  { file: 'sample.har', format: 'har', events: 3, failed: 1 },
  { file: 'joblog.tsv', format: 'joblog', events: 3, failed: 2 },
  { file: 'results.jsonl', format: 'results', events: 4, failed: 3 },
  { file: 'urls.txt', format: 'urls', events: 3, failed: 0 },
  { file: 'targets.txt', format: 'vegeta', events: 5, failed: 0 },
];

test('every well-formed trace fixture is detected and replayed, one job per event', async (t) => {
  // basic.csv has an event of 3 tokens: -b 3 lets it through.
  const reports = await Promise.all(GOOD.map((g) => benchJson(t, ['-b', '3', ...(g.args ?? []), g.file], { cwd: TRACES })));
  GOOD.forEach((g, i) => {
    const r = reports[i]!;
    t.is(r.mode, 'simulated', g.file);
    t.is(r.config['format'], g.format, g.file);
    t.is(r.jobs.total, g.events, g.file);
    t.is(r.jobs.failed, g.failed, `${g.file}: recorded failures fail again`);
  });
  // Service times come from the trace: the timed access logs' last field, HAR's time.
  const byFile = (file: string) => reports[GOOD.findIndex((g) => g.file === file)]!;
  t.is(byFile('nginx-timed.log').serviceMs.max, 1000);
  t.is(byFile('sample.har').serviceMs.max, 120);
});

/** MALFORMED lists each malformed fixture, the flags it needs, and the line its error must name. */
const MALFORMED: ReadonlyArray<{ file: string; args?: string[]; line: number; says: RegExp }> = [
  { file: 'bad.jsonl', line: 3, says: /"t" must be a number of seconds >= 0/ },
  { file: 'bad.csv', line: 3, says: /quoted field is not closed/ },
  { file: 'bad.log', line: 2, says: /expected a common or combined log line/ },
  { file: 'bad-nginx-timed.log', args: ['--log-format', 'nginx-timed'], line: 2, says: /request_time/ },
  { file: 'bad.har', line: 4, says: /"startedDateTime" must be an ISO-8601 date/ },
  { file: 'bad-joblog.tsv', line: 3, says: /Starttime must be Unix seconds/ },
  { file: 'bad-results.jsonl', line: 2, says: /"arrivalMs" must be a number/ },
  { file: 'bad-urls.txt', line: 2, says: /expected an http:\/\/ or https:\/\/ URL/ },
  { file: 'bad-targets.txt', line: 4, says: /expected a header/ },
  { file: 'unordered.jsonl', line: 3, says: /out of order.*--sort/ },
];

test('every malformed trace fixture exits 2 with one line naming file:line', async (t) => {
  const runs = await Promise.all(MALFORMED.map((m) => throttle(['bench', '--json', ...(m.args ?? []), m.file], { cwd: TRACES })));
  MALFORMED.forEach((m, i) => {
    const run = runs[i]!;
    const where = `${m.file.replace(/\./g, '\\.')}:${m.line}: `;
    usageError(t, run, new RegExp(`^throttle: ${where}`));
    t.regex(run.stderr, m.says, m.file);
  });
});

test('--format forcing the wrong format is an error naming the first line; an unknown one lists the choices', async (t) => {
  const [csv, urls, xml] = await Promise.all([
    throttle(['bench', '--format', 'csv', 'basic.jsonl'], { cwd: TRACES }),
    throttle(['bench', '--format', 'jsonl', 'urls.txt'], { cwd: TRACES }),
    throttle(['bench', '--format', 'xml', 'basic.jsonl'], { cwd: TRACES }),
  ]);
  usageError(t, csv, /^throttle: basic\.jsonl:1: /);
  usageError(t, urls, /^throttle: urls\.txt:1: not valid JSON .*expected an object like \{"t": 0\.25/);
  usageError(t, xml, /--format.*'xml' is invalid.*jsonl, csv, access-log, har, joblog, results, urls, vegeta/);
});

// ---------------------------------------------------------------------------------------------------------
// --record

test('run --record writes a trace in arrival order that bench replays with the same jobs and failures', async (t) => {
  const dir = tempDir();
  // Each line: seconds to sleep, exit status. With -j 4 they end out of order (the first ends last).
  const input = ['0.3 0', '0.05 3', '0.2 0', '0.01 1', '0.1 0', '0 0'];
  const ran = await throttle(
    ['-j', '4', '-q', '--record', 't.jsonl', '--report', 'r.json', '--', 'sh', '-c', 'set -- $1; sleep "$1"; exit "$2"', 'sh', '{}'],
    { input: `${input.join('\n')}\n`, cwd: dir },
  );
  t.is(ran.code, 1, ran.stderr);
  const recorded = lines(readFileSync(join(dir, 't.jsonl'), 'utf8')).map((l) => JSON.parse(l) as { t: number; key: string; duration: number; status: number });
  t.deepEqual(recorded.map((e) => e.key), input, 'one line per job, in arrival order');
  t.deepEqual(recorded.map((e) => e.status), [0, 3, 0, 1, 0, 0]);
  recorded.forEach((e, i) => {
    t.true(i === 0 || e.t >= recorded[i - 1]!.t, `line ${i + 1}: t ${e.t} before the line above`);
    t.true(e.duration >= Number(input[i]!.split(' ')[0]), `line ${i + 1}: duration ${e.duration} s, shorter than its sleep`);
  });
  const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as Report;
  t.is(report.jobs.failed, 2);

  const replayed = await benchJson(t, ['-j', '4', 't.jsonl'], { cwd: dir });
  t.is(replayed.jobs.total, report.jobs.total);
  t.is(replayed.jobs.failed, report.jobs.failed);
  t.deepEqual(replayed.outcomes, report.outcomes);
});
