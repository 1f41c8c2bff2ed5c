import { UsageError } from '../errors.js';
import type { Report } from './json.js';
import { type Paint, formatMs, formatRate, plain } from './text.js';

type Unit = 'ms' | 'rate' | 'count';

interface Figure {
  readonly label: string;
  readonly unit: Unit;
  /** better says which way is an improvement. */
  readonly better: 'lower' | 'higher';
  readonly pick: (r: Report) => number;
}

/** FIGURES are the main figures of a run, in the order `formatCompare` shows them. */
const FIGURES: readonly Figure[] = [
  ...(['latency', 'throttle', 'service'] as const).flatMap((metric) =>
    (['p50', 'p99', 'max'] as const).map(
      (fn): Figure => ({ label: `${metric} ${fn}`, unit: 'ms', better: 'lower', pick: (r) => r[`${metric}Ms`][fn] }),
    ),
  ),
  { label: 'achieved', unit: 'rate', better: 'higher', pick: (r) => r.throughput.achieved },
  { label: 'failed', unit: 'count', better: 'lower', pick: (r) => r.jobs.failed },
  { label: 'rejected', unit: 'count', better: 'lower', pick: (r) => r.jobs.rejected },
];

function formatValue(unit: Unit, v: number): string {
  if (unit === 'ms') return formatMs(v);
  if (unit === 'rate') return formatRate(v);
  return String(v);
}

/** FigureDelta is one compared figure: both values, the change and the relative change (null when old is 0). */
export interface FigureDelta {
  readonly label: string;
  readonly old: number;
  readonly now: number;
  readonly delta: number;
  readonly relative: number | null;
  /** verdict: whether the change is an improvement, by the figure's direction. */
  readonly verdict: 'better' | 'worse' | 'same';
}

/** compareReports computes the deltas that `formatCompare` shows. */
export function compareReports(old: Report, now: Report): FigureDelta[] {
  return FIGURES.map((f) => {
    const a = f.pick(old);
    const b = f.pick(now);
    const delta = b - a;
    const relative = a === 0 ? (b === 0 ? 0 : null) : delta / a;
    const verdict = delta === 0 ? 'same' : (delta < 0) === (f.better === 'lower') ? 'better' : 'worse';
    return { label: f.label, old: a, now: b, delta, relative, verdict };
  });
}

/**
 * formatCompare renders the main figures of two runs side by side: the old value, the new one, the absolute
 * and relative change and an arrow (↑ up, ↓ down, = unchanged), painted ok when the change is an improvement
 * (lower times and failures, higher achieved rate) and bad when it is a regression. A relative change from 0
 * is shown as n/a.
 */
export function formatCompare(old: Report, now: Report, paint: Paint = plain): string {
  const rows = compareReports(old, now).map((d, i) => {
    const unit = FIGURES[i]!.unit;
    const sign = (x: number): string => (x > 0 ? '+' : x < 0 ? '-' : '±');
    return {
      cells: [
        d.label,
        formatValue(unit, d.old),
        formatValue(unit, d.now),
        `${sign(d.delta)}${formatValue(unit, Math.abs(d.delta))}`,
        d.relative === null ? 'n/a' : `${sign(d.relative)}${(Math.abs(d.relative) * 100).toFixed(1)}%`,
      ],
      arrow: d.delta > 0 ? '↑' : d.delta < 0 ? '↓' : '=',
      paint: d.verdict === 'better' ? paint.ok : d.verdict === 'worse' ? paint.bad : paint.dim,
    };
  });
  const header = ['', 'old', 'now', 'change', ''];
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => r.cells[k]!.length)));
  const cell = (cells: readonly string[], k: number): string => (k === 0 ? cells[0]!.padEnd(widths[0]!) : cells[k]!.padStart(widths[k]!));
  const figures = (cells: readonly string[]): string => `  ${[0, 1, 2].map((k) => cell(cells, k)).join('  ')}`;
  const change = (cells: readonly string[]): string => `${cell(cells, 3)}  ${cell(cells, 4)}`;
  const describe = (r: Report): string => `${r.command} (${r.mode}, ${r.jobs.total} ${r.jobs.total === 1 ? 'job' : 'jobs'})`;
  const lines = [
    `${paint.dim('old')} ${describe(old)}`,
    `${paint.dim('now')} ${describe(now)}`,
    '',
    paint.bold(`${figures(header)}  ${change(header)}`.trimEnd()),
    ...rows.map((r) => `${figures(r.cells)}  ${r.paint(`${change(r.cells)} ${r.arrow}`)}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** isNumber: finite numbers only (JSON has no NaN or Infinity anyway). */
function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const STATS_FIELDS = ['count', 'min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max'];
const JOBS_FIELDS = ['total', 'succeeded', 'failed', 'rejected', 'interrupted', 'retried', 'attempts'];

/**
 * parseReport reads a JSON report (`--report`, `--json`) written by this version of throttle. Throws a
 * UsageError naming `file` when the text is not JSON, not a report, of another version than 1, or misses a
 * field that comparisons and assertions read.
 */
export function parseReport(text: string, file: string): Report {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: not a JSON report (${(err as Error).message}): write one with --report <file.json>`);
  }
  if (!isObject(data) || !('version' in data)) {
    throw new UsageError(`${file}: not a throttle report (no "version"): write one with --report <file.json>`);
  }
  if (data.version !== 1) throw new UsageError(`${file}: unsupported report version ${JSON.stringify(data.version)}: expected "version": 1`);
  const need = (ok: boolean, path: string, what: string): void => {
    if (!ok) throw new UsageError(`${file}: invalid report: "${path}" should be ${what}`);
  };
  need(typeof data.command === 'string', 'command', 'a string');
  need(data.mode === 'real' || data.mode === 'simulated', 'mode', '"real" or "simulated"');
  need(isObject(data.config), 'config', 'an object');
  need(isNumber(data.elapsedMs), 'elapsedMs', 'a number');
  const jobs = data.jobs;
  need(isObject(jobs), 'jobs', 'an object');
  for (const k of JOBS_FIELDS) need(isNumber((jobs as Record<string, unknown>)[k]), `jobs.${k}`, 'a number');
  const tp = data.throughput;
  need(isObject(tp), 'throughput', 'an object');
  const t = tp as Record<string, unknown>;
  need(t.offered === null || isNumber(t.offered), 'throughput.offered', 'a number or null');
  need(isNumber(t.achieved), 'throughput.achieved', 'a number');
  need(isNumber(t.attempts), 'throughput.attempts', 'a number');
  for (const key of ['latencyMs', 'throttleMs', 'backoffMs', 'serviceMs']) {
    const s = data[key];
    need(isObject(s), key, 'an object');
    for (const k of STATS_FIELDS) need(isNumber((s as Record<string, unknown>)[k]), `${key}.${k}`, 'a number');
  }
  need(isObject(data.inflight) && isNumber(data.inflight.peak), 'inflight.peak', 'a number');
  need(isObject(data.outcomes) && Object.values(data.outcomes).every(isNumber), 'outcomes', 'an object of counts');
  return data as unknown as Report;
}
