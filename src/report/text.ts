import type { Stats } from '../measure/metrics.js';
import type { LimitsSummary } from '../measure/limits.js';
import type { Report } from './json.js';

/** Paint colours a piece of text by role; the identity paint gives plain text. */
export interface Paint {
  ok(text: string): string;
  bad(text: string): string;
  warn(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

export const plain: Paint = { ok: (t) => t, bad: (t) => t, warn: (t) => t, dim: (t) => t, bold: (t) => t };

/**
 * below says whether `x` printed with `digits` decimals stays below `limit`. Units and precision are picked
 * by the value as printed, so that 999.7 ms shows as 1.00s, not 1000ms (nor 9.997 as 10.00ms).
 */
function below(x: number, digits: number, limit: number): boolean {
  return Number(x.toFixed(digits)) < limit;
}

/** formatMs renders milliseconds with a unit that keeps three significant figures or so. */
export function formatMs(ms: number): string {
  if (below(ms, 2, 10)) return `${ms.toFixed(2)}ms`;
  if (below(ms, 1, 100)) return `${ms.toFixed(1)}ms`;
  if (below(ms, 0, 1000)) return `${ms.toFixed(0)}ms`;
  const seconds = ms / 1000;
  if (below(seconds, 2, 10)) return `${seconds.toFixed(2)}s`;
  if (below(seconds, 1, 60)) return `${seconds.toFixed(1)}s`;
  const minutes = ms / 60_000;
  if (below(minutes, 1, 60)) return `${minutes.toFixed(1)}m`;
  const hours = ms / 3_600_000;
  if (below(hours, 2, 10)) return `${hours.toFixed(2)}h`;
  if (below(hours, 1, 100)) return `${hours.toFixed(1)}h`;
  return `${hours.toFixed(0)}h`;
}

/** formatRate renders events per second. */
export function formatRate(perSec: number | null): string {
  if (perSec === null || perSec === Infinity) return 'inf';
  if (below(perSec, 2, 10)) return `${perSec.toFixed(2)}/s`;
  if (below(perSec, 1, 100)) return `${perSec.toFixed(1)}/s`;
  return `${perSec.toFixed(0)}/s`;
}

function statsLine(name: string, s: Stats): string {
  return `  ${name.padEnd(9)} p50 ${formatMs(s.p50).padStart(7)}   p99 ${formatMs(s.p99).padStart(7)}   max ${formatMs(s.max).padStart(7)}`;
}

/**
 * limitsLine says where moving limits went: `limits    rate 500/s -> 48.2/s (converged 49.1/s, min 40/s,
 * max 500/s), -j 8; 14 changes, 230 increases`.
 */
export function limitsLine(l: LimitsSummary): string {
  const r = l.rate;
  const rate =
    r.min === r.max
      ? `rate ${formatRate(r.final)}`
      : `rate ${formatRate(r.initial)} -> ${formatRate(r.final)} (converged ${formatRate(r.converged)}, min ${formatRate(r.min)}, max ${formatRate(r.max)})`;
  const c = l.concurrency;
  const conc = c.min === c.max ? `-j ${c.final ?? 'inf'}` : `-j ${c.initial ?? 'inf'} -> ${c.final ?? 'inf'} (min ${c.min ?? 'inf'}, max ${c.max ?? 'inf'})`;
  const counts = [`${l.changes.length + l.dropped} ${l.changes.length + l.dropped === 1 ? 'change' : 'changes'}`];
  if (l.increases > 0) counts.push(`${l.increases} increases`);
  return `  ${'limits'.padEnd(9)} ${rate}, ${conc}; ${counts.join(', ')}`;
}

/**
 * formatSummary renders the short end-of-run summary: one line of counts and rates, then latency, throttle,
 * backoff (when any job retried) and service time. Ends with a hint when the in-flight cap, not the rate,
 * limited the run.
 */
export function formatSummary(report: Report, paint: Paint = plain): string {
  const { jobs, config } = report;
  const parts = [`${jobs.succeeded} ok`];
  parts.push(jobs.failed > 0 ? paint.bad(`${jobs.failed} failed`) : `${jobs.failed} failed`);
  if (jobs.rejected > 0) parts.push(paint.warn(`${jobs.rejected} rejected`));
  if (jobs.interrupted > 0) parts.push(paint.warn(`${jobs.interrupted} interrupted`));
  parts.push(`${jobs.retried} retried`);
  const target = typeof config.plan === 'string' ? ` (plan ${config.plan})` : config.rate === null ? '' : ` (target ${formatRate(config.rate)}${config.adaptive === true ? ', adaptive' : ''})`;
  const lines = [
    `${paint.bold(`${jobs.total} ${jobs.total === 1 ? 'job' : 'jobs'}`)} in ${formatMs(report.elapsedMs)}: ${parts.join(', ')}; ` +
      `${formatRate(report.throughput.attempts)} attempts${target}, peak ${report.inflight.peak} in flight`,
    statsLine('latency', report.latencyMs),
    statsLine('throttle', report.throttleMs),
  ];
  if (jobs.retried > 0) lines.push(statsLine('backoff', report.backoffMs));
  lines.push(statsLine('service', report.serviceMs));
  if (report.limits !== undefined) lines.push(limitsLine(report.limits));
  if (
    config.rate !== null &&
    config.concurrency !== null &&
    report.elapsedMs > 0 &&
    jobs.total > config.concurrency &&
    report.inflight.peak >= config.concurrency &&
    report.throughput.attempts < 0.9 * config.rate
  ) {
    lines.push(paint.dim(`  hint: the in-flight cap (-j ${config.concurrency}) held the rate below its target; raise -j to go faster`));
  }
  return `${lines.join('\n')}\n`;
}
