import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import type { JsHistogram } from 'hdr-histogram-js';
import type { Result, Status } from '../src/engine/types.js';
import { UsageError } from '../src/errors.js';
import { Metrics, type RunData, Timeline, type TimelineBucket } from '../src/measure/metrics.js';
import { type AssertionResult, evaluate, formatAssertions, parseAssertion } from '../src/report/assert.js';
import { compareReports, formatCompare, parseReport } from '../src/report/compare.js';
import { formatHgrm, parseHgrm } from '../src/report/hgrm.js';
import { blockBar, formatDetailedSummary, formatHistogram, histogramBars } from '../src/report/histogram.js';
import { escapeHtml, formatHtml } from '../src/report/html.js';
import { type Report, type ReportConfig, buildReport, formatJson } from '../src/report/json.js';
import type { Paint } from '../src/report/text.js';

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
    t.fail(`missing golden file ${file}: run with UPDATE_GOLDEN=1 to write it`);
    return;
  }
  t.is(actual, readFileSync(file, 'utf8'), `differs from ${file} (UPDATE_GOLDEN=1 rewrites it)`);
}

// --- a deterministic run ------------------------------------------------------------------------------------

/** mulberry32: a tiny seeded generator, so the fixture run is the same everywhere. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const us = (ms: number): number => Math.round(ms * 1000) / 1000;

function result(o: Partial<Result> & { seq: number; arrivalMs: number }): Result {
  return {
    key: `job-${o.seq}`,
    grantedMs: o.arrivalMs,
    startedMs: o.arrivalMs,
    endedMs: o.arrivalMs + 10,
    attempts: 1,
    status: 'ok',
    code: 0,
    throttleMs: 0,
    backoffMs: 0,
    serviceMs: 10,
    ...o,
  };
}

/**
 * fixtureResults: 400 jobs arriving every 25 ms; service 2–800 ms (log-uniform); 60% never throttled, the
 * rest up to 50 ms; one in ten retried once after 100 ms; 3% failed, 2% rejected, one interrupted. Listed in
 * completion order, as the scheduler reports them.
 */
function fixtureResults(): Result[] {
  const rand = mulberry32(42);
  const out: Result[] = [];
  for (let seq = 0; seq < 400; seq++) {
    const arrivalMs = 1000 + seq * 25;
    const serviceMs = us(2 * 400 ** rand());
    const throttleMs = rand() < 0.6 ? 0 : us(rand() * 50);
    const retried = rand() < 0.1;
    const backoffMs = retried ? 100 : 0;
    const roll = rand();
    const status: Status = seq === 399 ? 'interrupted' : roll < 0.03 ? 'failed' : roll < 0.05 ? 'rejected' : 'ok';
    const code = status === 'ok' ? 0 : status === 'failed' ? 1 : status === 'rejected' ? 'rejected' : undefined;
    const endedMs = us(arrivalMs + throttleMs + backoffMs + serviceMs * (retried ? 2 : 1));
    out.push(result({ seq, arrivalMs, endedMs, attempts: retried ? 2 : 1, status, code, throttleMs, backoffMs, serviceMs: us(serviceMs * (retried ? 2 : 1)) }));
  }
  return out.sort((a, b) => a.endedMs - b.endedMs || a.seq - b.seq);
}

const CONFIG: ReportConfig = {
  rate: 40,
  burst: 1,
  concurrency: 8,
  onFull: 'wait',
  retries: 1,
  backoffBaseMs: 100,
  backoffMaxMs: 1000,
  jitter: 'none',
  timeoutMs: null,
};

function fold(rs: readonly Result[]): Metrics {
  const m = new Metrics();
  for (const r of rs) m.add(r);
  return m;
}

function fixtureRun(): { metrics: Metrics; report: Report; data: RunData } {
  const rs = fixtureResults();
  const metrics = fold(rs);
  const elapsedMs = Math.max(...rs.map((r) => r.endedMs)) - 1000;
  const data = metrics.data(elapsedMs, 8);
  return { metrics, report: buildReport('throttle bench trace.jsonl', 'simulated', CONFIG, data.summary), data };
}

/** tags marks each role, to check that colour goes where it should without depending on chalk. */
const tags: Paint = {
  ok: (t) => `<ok>${t}</ok>`,
  bad: (t) => `<bad>${t}</bad>`,
  warn: (t) => `<warn>${t}</warn>`,
  dim: (t) => `<dim>${t}</dim>`,
  bold: (t) => `<b>${t}</b>`,
};

// --- Timeline and Metrics.data ------------------------------------------------------------------------------

test('the timeline buckets results by arrival from the first arrival, 100 ms wide', (t) => {
  const tl = new Timeline();
  tl.add(result({ seq: 0, arrivalMs: 5000, endedMs: 5100, throttleMs: 0 }));
  tl.add(result({ seq: 1, arrivalMs: 5050, endedMs: 5090, throttleMs: 4 }));
  tl.add(result({ seq: 2, arrivalMs: 5320, endedMs: 5330, status: 'failed', code: 1, throttleMs: 8 }));
  tl.add(result({ seq: 3, arrivalMs: 5399, endedMs: 6000, status: 'interrupted', code: undefined, throttleMs: 2 }));
  tl.add(result({ seq: 4, arrivalMs: 5310, endedMs: 5311, status: 'rejected', code: 'rejected' }));
  t.is(tl.bucketMs, 100);
  const z = { count: 0, succeeded: 0, failed: 0, rejected: 0, latencyMeanMs: 0, latencyMaxMs: 0, throttleMeanMs: 0, throttleMaxMs: 0 };
  t.deepEqual(tl.buckets(), [
    { ...z, startMs: 0, count: 2, succeeded: 2, latencyMeanMs: 70, latencyMaxMs: 100, throttleMeanMs: 2, throttleMaxMs: 4 },
    { ...z, startMs: 100 },
    { ...z, startMs: 200 },
    // the interrupted job counts and was throttled, but has no latency
    { ...z, startMs: 300, count: 3, failed: 1, rejected: 1, latencyMeanMs: 5.5, latencyMaxMs: 10, throttleMeanMs: 10 / 3, throttleMaxMs: 8 },
  ].map((b) => ({ ...b, throttleMeanMs: Math.round(b.throttleMeanMs * 1000) / 1000 })));
});

test('an earlier arrival folded late lands in a bucket before the first one folded', (t) => {
  const tl = new Timeline();
  tl.add(result({ seq: 1, arrivalMs: 1000 }));
  tl.add(result({ seq: 2, arrivalMs: 1250 }));
  tl.add(result({ seq: 0, arrivalMs: 830 })); // the grid is anchored at 1000: [800, 900) holds 830
  const b = tl.buckets();
  t.deepEqual(b.map((x) => [x.startMs, x.count]), [[0, 1], [100, 0], [200, 1], [300, 0], [400, 1]]);
});

/** naiveTimeline buckets arrivals (relative to the first) at a fixed width. */
function naiveCounts(arrivals: readonly number[], widthMs: number): number[] {
  const first = Math.min(...arrivals);
  const counts: number[] = [];
  for (const a of arrivals) {
    const i = Math.floor((a - first) / widthMs);
    counts[i] = (counts[i] ?? 0) + 1;
  }
  return Array.from(counts, (c) => c ?? 0);
}

test('past 600 buckets neighbours merge and the width doubles; the result equals bucketing at that width', (t) => {
  const rand = mulberry32(7);
  const arrivals = Array.from({ length: 3000 }, () => Math.floor(rand() * 250_000));
  arrivals.unshift(0); // the first result folded is the earliest, so the grid is the naive one
  const tl = new Timeline();
  for (const [seq, a] of arrivals.entries()) tl.add(result({ seq, arrivalMs: a }));
  t.is(tl.bucketMs, 800); // 250 s / 600 buckets > 400 ms
  const buckets = tl.buckets();
  t.true(buckets.length <= Timeline.MAX_BUCKETS);
  t.deepEqual(buckets.map((b) => b.count), naiveCounts(arrivals, 800));
  t.deepEqual(buckets.map((b) => b.startMs), buckets.map((_, i) => i * 800));
});

test('arrivals on and beside bucket edges, in arrival order, land where the division puts them', (t) => {
  // In order, most results land in the cell the one before did; those at an edge must not stay there.
  const anchor = 1_732_000_000_123.456; // epoch milliseconds: large magnitudes, coarse rounding
  const arrivals = [anchor];
  for (let k = 1; k <= 300; k++) {
    const edge = anchor + k * 100;
    arrivals.push(edge - 2 ** -12, edge - Number.EPSILON * edge, edge, edge + Number.EPSILON * edge, edge + 0.001);
  }
  const tl = new Timeline();
  for (const [seq, a] of arrivals.entries()) tl.add(result({ seq, arrivalMs: a, endedMs: a + 1 }));
  t.is(tl.bucketMs, 100);
  t.deepEqual(tl.buckets().map((b) => b.count), naiveCounts(arrivals, 100));
});

test('merging keeps count, sums and maxima exact, also for earlier arrivals folded late', (t) => {
  const rand = mulberry32(9);
  const rs = Array.from({ length: 2000 }, (_, seq) => {
    const arrivalMs = 1000 + Math.floor(rand() * 100_000);
    return result({ seq, arrivalMs, endedMs: arrivalMs + Math.floor(rand() * 100), throttleMs: Math.floor(rand() * 10) });
  });
  const tl = new Timeline();
  for (const r of rs) tl.add(r);
  const b = tl.buckets();
  t.true(b.length <= 600);
  t.is(b.reduce((n, x) => n + x.count, 0), 2000);
  t.is(Math.max(...b.map((x) => x.latencyMaxMs)), Math.max(...rs.map((r) => r.endedMs - r.arrivalMs)));
  t.is(Math.max(...b.map((x) => x.throttleMaxMs)), Math.max(...rs.map((r) => r.throttleMs)));
  t.is(b[0]!.startMs, 0);
});

test('an arrival far away keeps the timeline within 600 buckets', (t) => {
  const tl = new Timeline();
  tl.add(result({ seq: 0, arrivalMs: 0 }));
  tl.add(result({ seq: 1, arrivalMs: 1e12 }));
  tl.add(result({ seq: 2, arrivalMs: -5e11 }));
  t.true(tl.buckets().length <= 600);
  t.is(tl.buckets().reduce((n, b) => n + b.count, 0), 3);
});

test('Metrics.data returns the summary of close() with the histograms and timeline', (t) => {
  const { metrics, data } = fixtureRun();
  t.deepEqual(data.summary, metrics.close(data.summary.elapsedMs, 8));
  t.is(data.histograms.latency, metrics.latency.histogram);
  t.is(data.histograms.service, metrics.service.histogram);
  t.is(data.bucketMs, 100);
  t.is(data.timeline.reduce((n, b) => n + b.count, 0), 400);
  t.is(data.timeline.reduce((n, b) => n + b.failed, 0), data.summary.jobs.failed);
});

// --- text histogram and detailed summary --------------------------------------------------------------------

test('golden: latency histogram', (t) => {
  golden(t, 'histogram-latency.txt', formatHistogram(fixtureRun().metrics.latency));
});

test('golden: throttle histogram, zeros on a line of their own', (t) => {
  golden(t, 'histogram-throttle.txt', formatHistogram(fixtureRun().data.histograms.throttle));
});

test('golden: detailed summary', (t) => {
  const { report, data } = fixtureRun();
  golden(t, 'detailed-summary.txt', formatDetailedSummary(report, data));
});

test('the histogram counts every value once, in at most 13 lines, the fullest bar `width` cells wide', (t) => {
  const { metrics } = fixtureRun();
  const text = formatHistogram(metrics.throttle, undefined, 20);
  const lines = text.trimEnd().split('\n');
  t.true(lines.length >= 10 && lines.length <= 13);
  const counts = lines.map((l) => Number(/ (\d+) \(/.exec(l)![1]));
  t.is(counts.reduce((a, b) => a + b, 0), metrics.throttle.count);
  const bars = lines.map((l) => /[▏▎▍▌▋▊▉█]+/.exec(l)?.[0] ?? '');
  t.is(Math.max(...bars.map((b) => b.length)), 20);
  t.regex(lines[0]!, /^ +0ms +█{20} 245 \(61\.3%\)$/);
});

test('histogram bars are log-spaced between the smallest and largest value', (t) => {
  const m = new Metrics();
  for (const ms of [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]) m.latency.add(ms);
  const { bars, zeros, total } = histogramBars(m.latency);
  t.is(total, 13);
  t.is(zeros, 0);
  t.is(bars.length, 12);
  t.is(bars[0]!.fromMs, 1);
  t.is(bars[11]!.toMs, 4096);
  for (const [i, b] of bars.entries()) t.true(Math.abs(b.toMs / b.fromMs - 2) < 1e-9, `bar ${i} spans a factor 2`);
  // 4096 sits on the last edge and goes in the last bar; every other value starts its own bar
  t.deepEqual(bars.map((b) => b.count), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
});

test('formatHistogram: one value, one line; no values, no text; colours by role', (t) => {
  const m = new Metrics();
  t.is(formatHistogram(m.latency), '');
  m.latency.add(12.5);
  m.latency.add(12.5);
  t.is(formatHistogram(m.latency, undefined, 4), '  12.5ms – 12.5ms  ████ 2 (100.0%)\n');
  t.is(formatHistogram(m.latency, tags, 4), '  <dim>12.5ms – 12.5ms</dim>  ████ 2 <dim>(100.0%)</dim>\n');
});

test('blockBar draws eighths of a cell', (t) => {
  const cases: Array<[number, number, number, string]> = [
    [0, 10, 4, ''],
    [10, 10, 4, '████'],
    [5, 10, 4, '██'],
    [1, 10, 4, '▍'],
    [1, 1000, 4, '▏'], // never invisible
    [8, 16, 1, '▌'],
    [9, 16, 1, '▋'], // 4.5 eighths round up
    [7, 8, 1, '▉'],
    [3, 8, 3, '█▏'],
  ];
  for (const [count, max, width, expected] of cases) t.is(blockBar(count, max, width), expected, `${count}/${max} of ${width}`);
});

// --- hgrm -----------------------------------------------------------------------------------------------------

test('golden: latency percentile distribution (.hgrm)', (t) => {
  golden(t, 'latency.hgrm', formatHgrm(fixtureRun().data.histograms.latency));
});

test('hgrm has HdrHistogram\'s header and footer', (t) => {
  const text = formatHgrm(fixtureRun().metrics.latency);
  t.true(text.startsWith('       Value     Percentile TotalCount 1/(1-Percentile)\n\n'));
  t.regex(text, /\n#\[Mean    = +[\d.]+, StdDeviation   = +[\d.]+\]\n#\[Max     = +[\d.]+, Total count    = +399\]\n#\[Buckets = +\d+, SubBuckets     = +2048\]\n$/);
  t.regex(text, /\n +[\d.]+ 1\.000000000000 +399\n#/); // the 100% row has no 1/(1-Percentile)
});

test('hgrm parsed back matches the histogram\'s percentiles', (t) => {
  const rs = fixtureResults().filter((r) => r.status !== 'interrupted');
  const { metrics } = fixtureRun();
  const h = metrics.latency.histogram as JsHistogram;
  const hgrm = parseHgrm(formatHgrm(h));
  const sortedUs = rs.map((r) => Math.round((r.endedMs - r.arrivalMs) * 1000)).sort((a, b) => a - b);
  t.is(hgrm.totalCount, sortedUs.length);
  // as in Java's output, Max is the top of the largest value's equivalence range: the 100% row's value
  t.is(hgrm.max, h.highestEquivalentValue(sortedUs[sortedUs.length - 1]!) / 1000);
  t.is(hgrm.max, hgrm.rows[hgrm.rows.length - 1]!.value);
  t.true(hgrm.rows.length > 20);
  for (const row of hgrm.rows) {
    // The row at percentile p is the top of the equivalence range of the first value with p of all values at or below it.
    const rank = Math.max(1, Math.ceil(row.percentile * sortedUs.length - 1e-9));
    const expectedUs = h.highestEquivalentValue(sortedUs[rank - 1]!);
    t.is(Math.round(row.value * 1000), expectedUs, `percentile ${row.percentile}`);
    t.is(row.count, sortedUs.filter((v) => h.lowestEquivalentValue(v) <= expectedUs).length);
  }
  const at = (p: number): number => hgrm.rows.find((r) => r.percentile === p)!.value * 1000;
  t.is(at(0.5), h.getValueAtPercentile(50));
  t.is(at(0.9), h.getValueAtPercentile(90));
  t.is(hgrm.rows[hgrm.rows.length - 1]!.percentile, 1);
});

/** hdrHistogramJar finds a local HdrHistogram jar (Maven's cache), if any. */
function hdrHistogramJar(): string | undefined {
  const dir = join(homedir(), '.m2', 'repository', 'org', 'hdrhistogram', 'HdrHistogram');
  if (!existsSync(dir)) return undefined;
  for (const version of readdirSync(dir).sort().reverse()) {
    const jar = join(dir, version, `HdrHistogram-${version}.jar`);
    if (existsSync(jar)) return jar;
  }
  return undefined;
}

const JAVA_HGRM = `
import org.HdrHistogram.Histogram;
import java.nio.file.*;
public class Hgrm {
  public static void main(String[] args) throws Exception {
    Histogram h = new Histogram(1, 2, 3);
    h.setAutoResize(true);
    for (String l : Files.readAllLines(Paths.get(args[0]))) if (!l.isEmpty()) h.recordValue(Long.parseLong(l));
    h.outputPercentileDistribution(System.out, 5, 1000.0);
  }
}
`;

test('formatHgrm writes what Java\'s HdrHistogram writes, byte for byte', (t) => {
  const jar = hdrHistogramJar();
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (jar === undefined || java.status !== 0) {
    t.log('java or the HdrHistogram jar (~/.m2) not found: skipped');
    t.pass();
    return;
  }
  const { metrics } = fixtureRun();
  const valuesUs = fixtureResults()
    .filter((r) => r.status !== 'interrupted')
    .map((r) => Math.round((r.endedMs - r.arrivalMs) * 1000));
  const dir = mkdtempSync(join(tmpdir(), 'throttle-hgrm-'));
  try {
    writeFileSync(join(dir, 'Hgrm.java'), JAVA_HGRM);
    writeFileSync(join(dir, 'values.txt'), `${valuesUs.join('\n')}\n`);
    const run = spawnSync('java', ['-cp', jar, join(dir, 'Hgrm.java'), join(dir, 'values.txt')], { encoding: 'utf8' });
    t.is(run.status, 0, run.stderr);
    t.is(formatHgrm(metrics.latency), run.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseHgrm names a malformed line', (t) => {
  t.throws(() => parseHgrm('       Value     Percentile TotalCount 1/(1-Percentile)\n\n       1.000 oops\n'), {
    message: 'hgrm line 3: expected "<value> <percentile> <count> [1/(1-percentile)]", got "       1.000 oops"',
  });
});

// --- html -----------------------------------------------------------------------------------------------------

const VOID = new Set(['meta', 'br', 'link', 'img', 'input', 'hr']);

/** tagBalance checks that every element opened is closed in order; returns the first problem, or ''. */
function tagBalance(html: string): string {
  const stack: string[] = [];
  for (const m of html.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    const tag = name!.toLowerCase();
    if (VOID.has(tag) || selfClosing === '/') continue;
    if (closing === '') stack.push(tag);
    else if (stack.pop() !== tag) return `</${tag}> at ${m.index} does not close the element open there`;
  }
  return stack.length === 0 ? '' : `unclosed: ${stack.join(', ')}`;
}

function hostileRun(): { report: Report; data: RunData } {
  const { report, data } = fixtureRun();
  const config: ReportConfig = { ...CONFIG, '<script>alert(1)</script>': 'a & b', target: 'https://example.com/?a=1&b=<2>' };
  const hostile = buildReport('throttle http "https://example.com/<script>" --data \'a&b\'', 'real', config, {
    ...data.summary,
    outcomes: { ...data.summary.outcomes, '<b>': 1 },
  });
  return { report: hostile, data };
}

test('html is self-contained: no scripts, no links, no external resources', (t) => {
  const { report, data } = hostileRun();
  const html = formatHtml(report, data);
  t.false(/<script/i.test(html), 'no <script>');
  t.false(/<link/i.test(html), 'no <link>');
  t.false(/\b(?:src|href|xlink:href)\s*=/i.test(html), 'no src or href attributes');
  t.false(/@import|url\(/i.test(html), 'no CSS imports or urls');
  // URLs appear only as escaped text (the command), never as references
  for (const m of html.matchAll(/https?:\/\//g)) t.true(html.slice(m.index - 40, m.index).includes('throttle http') || html.slice(m.index - 20, m.index).includes('<td>'));
});

test('html escapes keys, values, codes and the command', (t) => {
  const { report, data } = hostileRun();
  const html = formatHtml(report, data);
  t.true(html.includes('<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>a &amp; b</td>'));
  t.true(html.includes('<td>&lt;b&gt;</td><td>1</td>'));
  t.true(html.includes('<code>throttle http &quot;https://example.com/&lt;script&gt;&quot; --data &#39;a&amp;b&#39;</code>'));
  t.is(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('html is well-formed enough: balanced tags, one <svg> per chart, four charts', (t) => {
  const { report, data } = fixtureRun();
  const html = formatHtml(report, data);
  t.is(tagBalance(html), '');
  t.is(html.match(/<svg /g)?.length, 4);
  t.is(html.match(/<\/svg>/g)?.length, 4);
  for (const label of ['latency histogram', 'throttle histogram', 'latency over time', 'throttle over time']) {
    t.true(html.includes(`aria-label="${label}"`), label);
  }
  t.true(html.startsWith('<!doctype html>\n<html lang="en">'));
  t.true(html.includes('<meta charset="utf-8">'));
  t.regex(html, /<polyline class="mean" points="[\d., ]+"\/>/);
});

test('html histograms: the labels under the axis do not run into each other, the zeros\' "0" included', (t) => {
  const m = new Metrics();
  const rand = mulberry32(5);
  for (let seq = 0; seq < 5000; seq++) {
    const arrivalMs = seq * 10;
    // Throttle: a share of zeros, the rest spread over five decades (as a queue behind a bucket gives).
    m.add(result({ seq, arrivalMs, endedMs: arrivalMs + 1 + rand() * 40_000, throttleMs: rand() < 0.1 ? 0 : 0.05 * 10 ** (rand() * 6) }));
  }
  const data = m.data(60_000, 16);
  const html = formatHtml(buildReport('throttle bench t.jsonl', 'simulated', CONFIG, data.summary), data);
  for (const label of ['latency histogram', 'throttle histogram']) {
    const svg = html.slice(html.indexOf(`aria-label="${label}"`), html.indexOf('</svg>', html.indexOf(`aria-label="${label}"`)));
    // The axis labels: 10px text, at most some 6px a character; middle-anchored.
    const spans = [...svg.matchAll(/<text x="([\d.]+)" y="200" text-anchor="middle">([^<]*)<\/text>/g)].map((m) => {
      const x = Number(m[1]);
      const w = 6 * [...m[2]!].length;
      return { from: x - w / 2, to: x + w / 2, text: m[2]! };
    });
    t.true(spans.length >= 10, `${label}: ${spans.length} labels`);
    if (label === 'throttle histogram') t.is(spans[0]?.text, '0');
    // A few pixels apart at least: labels that touch read as one ("079.0µs").
    for (let i = 1; i < spans.length; i++) t.true(spans[i - 1]!.to + 3 <= spans[i]!.from, `${label}: "${spans[i - 1]!.text}" runs into "${spans[i]!.text}"`);
  }
});

test('html stays lean for a long run and for an empty one', (t) => {
  const m = new Metrics();
  const rand = mulberry32(3);
  for (let seq = 0; seq < 50_000; seq++) {
    const arrivalMs = seq * 3.6; // 180 s
    m.add(result({ seq, arrivalMs, endedMs: arrivalMs + 5 + rand() * 500, throttleMs: rand() < 0.5 ? 0 : rand() * 40 }));
  }
  const data = m.data(180_500, 20);
  const html = formatHtml(buildReport('throttle bench big.jsonl', 'simulated', CONFIG, data.summary), data);
  t.true(Buffer.byteLength(html) < 100_000, `${Buffer.byteLength(html)} bytes`);
  t.is(tagBalance(html), '');

  const empty = new Metrics().data(0, 0);
  const emptyHtml = formatHtml(buildReport('throttle run -- true', 'real', CONFIG, empty.summary), empty);
  t.is(tagBalance(emptyHtml), '');
  t.is(emptyHtml.match(/no values/g)?.length, 4);
});

// --- assertions -----------------------------------------------------------------------------------------------

const STATS = { count: 1000, min: 1.5, mean: 40, p50: 30, p90: 80, p99: 120, p999: 240, max: 900 };
const ZERO = { count: 1000, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };

const REPORT: Report = {
  version: 1,
  command: 'throttle bench trace.jsonl',
  mode: 'simulated',
  config: CONFIG,
  jobs: { total: 1000, succeeded: 980, failed: 12, rejected: 8, interrupted: 0, retried: 50, attempts: 1060 },
  elapsedMs: 10_000,
  throughput: { offered: 100, achieved: 98, attempts: 106 },
  latencyMs: STATS,
  throttleMs: { ...STATS, p50: 0, p99: 20, max: 50 },
  backoffMs: ZERO,
  serviceMs: { ...STATS, p99: 100 },
  inflight: { peak: 8 },
  outcomes: { '0': 980, '1': 12, rejected: 8 },
};

const HOLDS: Array<[string, boolean, string]> = [
  ['p99(latency) < 250ms', true, '120ms'],
  ['p99(latency) < 120ms', false, '120ms'],
  ['p99(latency) <= 120ms', true, '120ms'],
  ['p999(latency) < 0.2s', false, '240ms'],
  ['p99.9(latency) <= 240ms', true, '240ms'],
  ['max(latency) < 1s', true, '900ms'],
  ['min(latency) >= 1ms', true, '1.50ms'],
  ['mean(latency) == 40ms', true, '40.0ms'],
  ['p50(throttle) == 0', true, '0.00ms'],
  ['max(backoff) != 0', false, '0.00ms'],
  ['p90(service) > 1m', false, '80.0ms'],
  ['count(latency) >= 1000', true, '1000'],
  ['failed == 0', false, '12'],
  ['failed <= 12', true, '12'],
  ['failed < 1%', false, '12 (1.2%)'],
  ['failed < 1.5%', true, '12 (1.2%)'],
  ['rejected <= 0.8%', true, '8 (0.8%)'],
  ['retried < 5%', false, '50 (5%)'],
  ['succeeded >= 98%', true, '980 (98%)'],
  ['interrupted == 0', true, '0'],
  ['attempts <= 110%', true, '1060 (106%)'],
  ['jobs == 1000', true, '1000'],
  ['achieved >= 95% offered', true, '98.0/s, 98% of 100/s offered'],
  ['achieved >= 99% of offered', false, '98.0/s, 98% of 100/s offered'],
  ['achieved > 100/s', false, '98.0/s'],
  ['achieved > 5880/m', false, '98.0/s'],
  ['achieved >= 90', true, '98.0/s'],
  ['  P99( latency )<250ms ', true, '120ms'],
];

for (const [expr, ok, actual] of HOLDS) {
  test(`assert ${JSON.stringify(expr)} ${ok ? 'holds' : 'fails'}`, (t) => {
    const r = evaluate(parseAssertion(expr), REPORT);
    t.is(r.ok, ok);
    t.is(r.actual, actual);
  });
}

test('achieved against offered fails when the offered rate is unknown', (t) => {
  const unknown = { ...REPORT, throughput: { offered: null, achieved: 1, attempts: 1 } };
  const r = evaluate(parseAssertion('achieved >= 0% offered'), { ...unknown, jobs: { ...REPORT.jobs, total: 1 } });
  t.deepEqual(r, { ok: false, text: 'achieved >= 0% offered', actual: '1.00/s, offered rate unknown (fewer than two jobs)' });
  // Two jobs or more, all arriving at one instant: no span to divide by.
  const atOnce = evaluate(parseAssertion('achieved >= 0% offered'), { ...unknown, jobs: { ...REPORT.jobs, total: 10 } });
  t.is(atOnce.actual, '1.00/s, offered rate unknown (every job arrived at one instant)');
});

const MALFORMED: Array<[string, string]> = [
  ['p99(latncy) < 250ms', 'unknown metric "latncy" in "p99(latncy) < 250ms": use latency, throttle, backoff or service'],
  ['p95(latency) < 250ms', 'unknown function "p95" in "p95(latency) < 250ms": use min, mean, p50, p90, p99, p999, max or count'],
  ['fialed > 0', 'unknown metric "fialed" in "fialed > 0": use failed, rejected, retried, succeeded, interrupted, attempts, jobs or achieved, or a function such as p99(latency)'],
  ['p99(latency) < 250', 'missing unit in "p99(latency) < 250": use a duration such as 250ms or 250s'],
  ['p99(latency) < 25x', 'invalid duration "25x" in "p99(latency) < 25x": use a duration such as 250ms or 2s'],
  ['p99(latency) < 10%', 'invalid duration "10%" in "p99(latency) < 10%": use a duration such as 250ms or 2s'],
  ['p99(latency) 250ms', 'missing operator in "p99(latency) 250ms": use <, <=, >, >=, == or !=, e.g. p99(latency) < 250ms'],
  ['failed', 'missing operator in "failed": use <, <=, >, >=, == or !=, e.g. p99(latency) < 250ms'],
  ['failed = 0', 'unknown operator "=" in "failed = 0": use <, <=, >, >=, == or !='],
  ['p99(latency) => 1s', 'unknown operator "=>" in "p99(latency) => 1s": use <, <=, >, >=, == or !='],
  ['p99(latency) <', 'missing value in "p99(latency) <": e.g. p99(latency) < 250ms'],
  ['failed < lots', 'invalid count "lots" in "failed < lots": use a number of jobs or a percentage of all jobs, e.g. failed <= 10 or failed < 1%'],
  ['failed < 1.5', 'invalid count "1.5" in "failed < 1.5": use a number of jobs or a percentage of all jobs, e.g. failed <= 10 or failed < 1%'],
  ['count(latency) > 1.5', 'invalid count "1.5" in "count(latency) > 1.5": use a whole number, e.g. count(latency) >= 100'],
  ['achieved >= fast', 'invalid rate "fast" in "achieved >= fast": use a rate such as 100/s, or a share of the offered rate such as 95% offered'],
  ['latency < 250ms', 'missing function in "latency < 250ms": use min, mean, p50, p90, p99, p999, max or count around the metric, e.g. p99(latency) < 250ms'],
  ['p99 < 250ms', 'missing metric in "p99 < 250ms": use latency, throttle, backoff or service, e.g. p99(latency) < 250ms'],
  ['p99(latency < 250ms', 'invalid assertion "p99(latency < 250ms": expected <fn>(<metric>) <op> <value>, e.g. p99(latency) < 250ms'],
  ['< 250ms', 'invalid assertion "< 250ms": expected <fn>(<metric>) <op> <value>, <counter> <op> <value> or achieved <op> <rate>, e.g. p99(latency) < 250ms'],
  ['   ', 'empty assertion: use e.g. p99(latency) < 250ms'],
];

for (const [expr, message] of MALFORMED) {
  test(`malformed assertion ${JSON.stringify(expr)}`, (t) => {
    const err = t.throws(() => parseAssertion(expr), { message });
    t.true(err instanceof UsageError, 'a usage error (exit 2)');
  });
}

test('formatAssertions: ✔ and ✘ lines with the actual value', (t) => {
  const results: AssertionResult[] = ['p99(latency) < 250ms', 'failed == 0'].map((e) => evaluate(parseAssertion(e), REPORT));
  t.is(formatAssertions(results), '  ✔ p99(latency) < 250ms (actual 120ms)\n  ✘ failed == 0 (actual 12)\n');
  t.is(formatAssertions(results, tags), '  <ok>✔</ok> p99(latency) < 250ms <dim>(actual 120ms)</dim>\n  <bad>✘ failed == 0</bad> (actual 12)\n');
});

// --- compare --------------------------------------------------------------------------------------------------

const NOW: Report = {
  ...REPORT,
  jobs: { ...REPORT.jobs, failed: 0, rejected: 8 },
  throughput: { offered: 100, achieved: 99.5, attempts: 100 },
  latencyMs: { ...STATS, p50: 24, p99: 150, max: 900 },
  throttleMs: { ...REPORT.throttleMs, p50: 2 },
};

test('compareReports: absolute and relative change, and whether it is better', (t) => {
  const d = Object.fromEntries(compareReports(REPORT, NOW).map((x) => [x.label, x]));
  t.deepEqual(d['latency p50'], { label: 'latency p50', old: 30, now: 24, delta: -6, relative: -0.2, verdict: 'better' });
  t.deepEqual(d['latency p99'], { label: 'latency p99', old: 120, now: 150, delta: 30, relative: 0.25, verdict: 'worse' });
  t.is(d['latency max']!.verdict, 'same');
  t.deepEqual(d['throttle p50'], { label: 'throttle p50', old: 0, now: 2, delta: 2, relative: null, verdict: 'worse' });
  t.deepEqual(d['achieved'], { label: 'achieved', old: 98, now: 99.5, delta: 1.5, relative: 1.5 / 98, verdict: 'better' });
  t.deepEqual(d['failed'], { label: 'failed', old: 12, now: 0, delta: -12, relative: -1, verdict: 'better' });
  t.is(d['rejected']!.relative, 0);
  t.is(Object.keys(d).length, 12);
});

test('formatCompare: a table of old, now, change and an arrow', (t) => {
  t.is(
    formatCompare(REPORT, NOW),
    [
      'old throttle bench trace.jsonl (simulated, 1000 jobs)',
      'now throttle bench trace.jsonl (simulated, 1000 jobs)',
      '',
      '                   old     now   change',
      '  latency p50   30.0ms  24.0ms  -6.00ms   -20.0% ↓',
      '  latency p99    120ms   150ms  +30.0ms   +25.0% ↑',
      '  latency max    900ms   900ms  ±0.00ms    ±0.0% =',
      '  throttle p50  0.00ms  2.00ms  +2.00ms      n/a ↑',
      '  throttle p99  20.0ms  20.0ms  ±0.00ms    ±0.0% =',
      '  throttle max  50.0ms  50.0ms  ±0.00ms    ±0.0% =',
      '  service p50   30.0ms  30.0ms  ±0.00ms    ±0.0% =',
      '  service p99    100ms   100ms  ±0.00ms    ±0.0% =',
      '  service max    900ms   900ms  ±0.00ms    ±0.0% =',
      '  achieved      98.0/s  99.5/s  +1.50/s    +1.5% ↑',
      '  failed            12       0      -12  -100.0% ↓',
      '  rejected           8       8       ±0    ±0.0% =',
      '',
    ].join('\n'),
  );
  const painted = formatCompare(REPORT, NOW, tags);
  t.true(painted.includes('  latency p50   30.0ms  24.0ms  <ok>-6.00ms   -20.0% ↓</ok>'));
  t.true(painted.includes('  latency p99    120ms   150ms  <bad>+30.0ms   +25.0% ↑</bad>'));
  t.true(painted.includes('  rejected           8       8  <dim>     ±0    ±0.0% =</dim>'));
});

test('parseReport reads back what formatJson wrote', (t) => {
  const { report } = fixtureRun();
  t.deepEqual(parseReport(formatJson(report), 'run.json'), JSON.parse(JSON.stringify(report)));
});

const BAD_REPORTS: Array<[string, string]> = [
  ['{"version": 2}', 'old.json: unsupported report version 2: expected "version": 1'],
  ['{"jobs": {}}', 'old.json: not a throttle report (no "version"): write one with --report <file.json>'],
  ['[1, 2]', 'old.json: not a throttle report (no "version"): write one with --report <file.json>'],
  [JSON.stringify({ ...REPORT, latencyMs: { ...STATS, p99: 'fast' } }), 'old.json: invalid report: "latencyMs.p99" should be a number'],
  [JSON.stringify({ ...REPORT, jobs: undefined }), 'old.json: invalid report: "jobs" should be an object'],
  [JSON.stringify({ ...REPORT, throughput: { ...REPORT.throughput, offered: '1' } }), 'old.json: invalid report: "throughput.offered" should be a number or null'],
];

for (const [i, [text, message]] of BAD_REPORTS.entries()) {
  test(`parseReport rejects bad report ${i + 1}: ${message.replace(/^old\.json: /, '')}`, (t) => {
    const err = t.throws(() => parseReport(text, 'old.json'), { message });
    t.true(err instanceof UsageError);
  });
}

test('parseReport names the file when the text is not JSON', (t) => {
  const err = t.throws(() => parseReport('{nope', 'old.json'));
  t.regex(err.message, /^old\.json: not a JSON report \(.+\): write one with --report <file\.json>$/);
});

// keep the TimelineBucket type in use for readers of this file: every bucket has these fields
test('timeline buckets have the documented fields', (t) => {
  const b: TimelineBucket = fixtureRun().data.timeline[0]!;
  t.deepEqual(Object.keys(b).sort(), ['count', 'failed', 'latencyMaxMs', 'latencyMeanMs', 'rejected', 'startMs', 'succeeded', 'throttleMaxMs', 'throttleMeanMs']);
});
