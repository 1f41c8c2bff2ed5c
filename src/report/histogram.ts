import type { Histogram, JsHistogram } from 'hdr-histogram-js';
import { Distribution, type RunData, type Stats } from '../measure/metrics.js';
import type { Report } from './json.js';
import { type Paint, formatMs, formatRate, limitsLine, plain } from './text.js';

/** US_PER_MS: the histograms hold whole microseconds (see Distribution). */
const US_PER_MS = 1000;

/** MAX_BARS is how many log-spaced bars a histogram gets at most; narrow ranges get fewer. */
const MAX_BARS = 12;
/** MIN_BAR_RATIO: a bar spans at least 5% of its lower edge, so neighbouring labels stay distinct. */
const MIN_BAR_RATIO = 1.05;

/** HistogramBar counts the values in [fromMs, toMs) (the last bar also holds toMs). */
export interface HistogramBar {
  readonly fromMs: number;
  readonly toMs: number;
  readonly count: number;
}

/**
 * HistogramBars is a histogram cut into log-spaced bars between the smallest non-zero value and the
 * largest; zeros (common for throttle and backoff) are counted apart, since a log scale has no place for them.
 */
export interface HistogramBars {
  readonly total: number;
  readonly zeros: number;
  readonly bars: readonly HistogramBar[];
}

/**
 * histogramBars cuts a histogram (in microseconds) into at most `maxBars` log-spaced bars. Each recorded
 * value is placed by the middle of its HDR equivalence range (within 0.1% of the value at 3 digits).
 * Needs the JavaScript histogram that Distribution builds, not a WebAssembly one.
 */
export function histogramBars(source: Distribution | Histogram, maxBars = MAX_BARS): HistogramBars {
  const h = source instanceof Distribution ? source.histogram : source;
  const js = h as Partial<JsHistogram>;
  if (js.recordedValuesIterator === undefined || js.medianEquivalentValue === undefined) {
    throw new Error('bug: histogramBars needs a JavaScript histogram (hdr.build without WebAssembly)');
  }
  const values: Array<[number, number]> = [];
  const it = js.recordedValuesIterator;
  it.reset();
  while (it.hasNext()) {
    const v = it.next();
    values.push([js.medianEquivalentValue(v.valueIteratedTo), v.countAtValueIteratedTo]);
  }
  let zeros = 0;
  let total = 0;
  for (const [valueUs, count] of values) {
    total += count;
    if (valueUs === 0) zeros += count;
  }
  if (total === zeros) return { total, zeros, bars: [] };
  // minNonZeroValue and maxValue are the raw recorded values, not their equivalence ranges.
  const lo = h.minNonZeroValue;
  const hi = Math.max(h.maxValue, lo);
  const ratio = hi / lo;
  const n = ratio <= 1 ? 1 : Math.min(maxBars, Math.max(1, Math.ceil(Math.log(ratio) / Math.log(MIN_BAR_RATIO))));
  const counts = new Array<number>(n).fill(0);
  for (const [valueUs, count] of values) {
    if (valueUs === 0) continue;
    // The epsilon keeps a value that sits on an edge in the bar that starts there despite rounding in log().
    const at = n === 1 ? 0 : Math.floor((Math.log(valueUs / lo) / Math.log(ratio)) * n + 1e-9);
    const i = Math.min(n - 1, Math.max(0, at));
    counts[i] = (counts[i] ?? 0) + count;
  }
  const edgeMs = (i: number): number => (i === 0 ? lo : i === n ? hi : lo * ratio ** (i / n)) / US_PER_MS;
  return { total, zeros, bars: counts.map((count, i) => ({ fromMs: edgeMs(i), toMs: edgeMs(i + 1), count })) };
}

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** blockBar draws count / maxCount of `width` cells in eighths of a cell; a non-zero count shows at least ▏. */
export function blockBar(count: number, maxCount: number, width: number): string {
  if (count <= 0 || maxCount <= 0) return '';
  const eighths = Math.max(1, Math.round((count / maxCount) * width * 8));
  return '█'.repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8]!;
}

/** formatEdge renders a bar's edge: formatMs, or microseconds below 1 ms, where formatMs runs out of digits. */
export function formatEdge(ms: number): string {
  if (ms >= 1) return formatMs(ms);
  const us = ms * US_PER_MS;
  return `${us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2)}µs`;
}

function percent(count: number, total: number): string {
  return `${((count / total) * 100).toFixed(1)}%`;
}

/**
 * formatHistogram draws a text histogram of a Distribution (or its HDR histogram, in microseconds): one line
 * per log-spaced bar between the smallest and the largest value, `  12.5ms – 25.0ms  ████▌ 1234 (12.3%)`,
 * bars scaled so the fullest is `width` cells, and first a `0ms` line when some values are zero. Returns ''
 * for an empty histogram.
 */
export function formatHistogram(source: Distribution | Histogram, paint: Paint = plain, width = 40): string {
  const { total, zeros, bars } = histogramBars(source);
  if (total === 0) return '';
  const rows = bars.map((b) => ({ from: formatEdge(b.fromMs), to: formatEdge(b.toMs), count: b.count }));
  if (zeros > 0) rows.unshift({ from: '0ms', to: '', count: zeros });
  const fromWidth = Math.max(...rows.map((r) => r.from.length));
  const toWidth = Math.max(...rows.map((r) => r.to.length));
  const countWidth = Math.max(...rows.map((r) => String(r.count).length));
  const maxCount = Math.max(...rows.map((r) => r.count));
  const lines = rows.map((r) => {
    const range = `${r.from.padStart(fromWidth)} ${r.to === '' ? ' ' : '–'} ${r.to.padEnd(toWidth)}`;
    const bar = blockBar(r.count, maxCount, width).padEnd(width);
    return `  ${paint.dim(range)}  ${bar} ${String(r.count).padStart(countWidth)} ${paint.dim(`(${percent(r.count, total)})`)}`;
  });
  return `${lines.join('\n')}\n`;
}

function statsLine(name: string, s: Stats, paint: Paint): string {
  const head = paint.bold(name.padEnd(9));
  if (s.count === 0) return `${head} ${paint.dim('no values')}`;
  const cells: Array<[string, number]> = [
    ['min', s.min],
    ['p50', s.p50],
    ['p90', s.p90],
    ['p99', s.p99],
    ['p99.9', s.p999],
    ['max', s.max],
  ];
  return `${head} ${cells.map(([k, v]) => `${k} ${formatMs(v).padStart(7)}`).join('  ')}  ${paint.dim(`mean ${formatMs(s.mean)}`)}`;
}

/**
 * formatDetailedSummary renders the text report of `throttle bench`: counts; offered, achieved and attempted
 * rates; the in-flight peak; for latency, throttle, backoff and service time a line of percentiles and a
 * histogram (left out when every value is 0); and the outcomes by code. Numbers come from the report,
 * histograms from `data`.
 */
export function formatDetailedSummary(report: Report, data: RunData, paint: Paint = plain): string {
  const { jobs, throughput, config } = report;
  const counts = [`${jobs.succeeded} ok`];
  counts.push(jobs.failed > 0 ? paint.bad(`${jobs.failed} failed`) : `${jobs.failed} failed`);
  counts.push(jobs.rejected > 0 ? paint.warn(`${jobs.rejected} rejected`) : `${jobs.rejected} rejected`);
  if (jobs.interrupted > 0) counts.push(paint.warn(`${jobs.interrupted} interrupted`));
  counts.push(`${jobs.retried} retried`, `${jobs.attempts} ${jobs.attempts === 1 ? 'attempt' : 'attempts'}`);
  const mode = report.mode === 'simulated' ? ' (simulated)' : '';
  const lines = [`${paint.bold(`${jobs.total} ${jobs.total === 1 ? 'job' : 'jobs'}`)} in ${formatMs(report.elapsedMs)}${mode}: ${counts.join(', ')}`];

  const share = throughput.offered !== null && throughput.offered > 0 ? ` (${percent(throughput.achieved, throughput.offered)} of offered)` : '';
  const target = typeof config.plan === 'string' ? `, plan ${config.plan}` : config.rate === null ? '' : `, target ${formatRate(config.rate)}${config.adaptive === true ? ' (adaptive ceiling)' : ''}`;
  lines.push(
    `${'rate'.padEnd(9)} offered ${throughput.offered === null ? 'n/a' : formatRate(throughput.offered)}, ` +
      `achieved ${formatRate(throughput.achieved)}${share}, attempts ${formatRate(throughput.attempts)}${target}`,
  );
  const cap = config.concurrency === null ? '' : ` (cap ${config.concurrency})`;
  lines.push(`${'in flight'.padEnd(9)} peak ${report.inflight.peak}${cap}`);
  if (report.limits !== undefined) lines.push(limitsLine(report.limits).trimStart());

  const sections: Array<[string, Stats, Histogram]> = [
    ['latency', report.latencyMs, data.histograms.latency],
    ['throttle', report.throttleMs, data.histograms.throttle],
    ['backoff', report.backoffMs, data.histograms.backoff],
    ['service', report.serviceMs, data.histograms.service],
  ];
  for (const [name, stats, histogram] of sections) {
    lines.push('', statsLine(name, stats, paint));
    if (stats.count > 0 && stats.max > 0) lines.push(formatHistogram(histogram, paint).trimEnd());
  }

  const codes = Object.entries(report.outcomes);
  if (codes.length > 0) {
    lines.push('', paint.bold('outcomes'));
    const codeWidth = Math.max(...codes.map(([code]) => code.length));
    const countWidth = Math.max(...codes.map(([, n]) => String(n).length));
    for (const [code, n] of codes) {
      lines.push(`  ${code.padEnd(codeWidth)}  ${String(n).padStart(countWidth)} ${paint.dim(`(${percent(n, jobs.total)})`)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
