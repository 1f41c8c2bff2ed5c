import type { Histogram, JsHistogram } from 'hdr-histogram-js';
import { Distribution } from '../measure/metrics.js';

/** PERCENTILE_TICKS_PER_HALF_DISTANCE is HdrHistogram's usual 5 rows per halving of the distance to 100%. */
const PERCENTILE_TICKS_PER_HALF_DISTANCE = 5;

/**
 * formatHgrm renders HdrHistogram's percentile distribution, the `.hgrm` text that HdrHistogram's plotter
 * and wrk2 read: a header, one row per percentile tick (`Value Percentile TotalCount 1/(1-Percentile)`), then
 * `#[Mean = ..]`, `#[Max = ..]` and `#[Buckets = ..]` lines. Values are divided by `unitScale`: the
 * histograms hold microseconds, so the default 1000 gives milliseconds.
 *
 * hdr-histogram-js's outputPercentileDistribution writes Java's layout (%12.3f %2.12f %10d %14.2f rows, the
 * 100% row without its last column, the same footer) and Java's mean and standard deviation. One difference
 * is fixed here: its `Max` is the largest recorded value, where Java prints the top of that value's
 * equivalence range (the value of the 100% row), so the output is what Java's HdrHistogram writes.
 */
export function formatHgrm(source: Distribution | Histogram, unitScale = 1000): string {
  const h = source instanceof Distribution ? source.histogram : source;
  const text = h.outputPercentileDistribution(PERCENTILE_TICKS_PER_HALF_DISTANCE, unitScale);
  const js = h as Partial<JsHistogram>;
  if (h.totalCount === 0 || js.highestEquivalentValue === undefined) return text;
  const max = (js.highestEquivalentValue(h.maxValue) / unitScale).toFixed(h.numberOfSignificantValueDigits).padStart(12);
  return text.replace(/^#\[Max     = +[-\d.]+,/m, `#[Max     = ${max},`);
}

/** HgrmRow is one row of a percentile distribution: `value` in the file's unit, `percentile` in 0..1. */
export interface HgrmRow {
  readonly value: number;
  readonly percentile: number;
  readonly count: number;
}

/** Hgrm is a parsed percentile distribution; the footer fields are NaN when their line is missing. */
export interface Hgrm {
  readonly rows: HgrmRow[];
  readonly mean: number;
  readonly stdDeviation: number;
  readonly max: number;
  readonly totalCount: number;
}

const ROW = /^\s*(\S+)\s+(\S+)\s+(\d+)(?:\s+(\S+))?\s*$/;

/**
 * parseHgrm reads `.hgrm` text back: the header and blank lines are skipped, `#[` lines give the footer.
 * Throws an Error naming the line when a row is malformed.
 */
export function parseHgrm(text: string): Hgrm {
  const rows: HgrmRow[] = [];
  const footer = new Map<string, number>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || /^\s*Value\s+Percentile/.test(line)) return;
    if (line.startsWith('#[')) {
      for (const m of line.matchAll(/([A-Za-z][A-Za-z. ]*?)\s*=\s*([-\d.]+)/g)) footer.set(m[1]!.trim(), Number(m[2]));
      return;
    }
    const m = ROW.exec(line);
    const row = m === null ? undefined : { value: Number(m[1]), percentile: Number(m[2]), count: Number(m[3]) };
    if (row === undefined || !Number.isFinite(row.value) || !Number.isFinite(row.percentile)) {
      throw new Error(`hgrm line ${i + 1}: expected "<value> <percentile> <count> [1/(1-percentile)]", got ${JSON.stringify(line)}`);
    }
    rows.push(row);
  });
  const get = (k: string): number => footer.get(k) ?? NaN;
  return { rows, mean: get('Mean'), stdDeviation: get('StdDeviation'), max: get('Max'), totalCount: get('Total count') };
}
