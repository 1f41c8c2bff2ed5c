import type { Stats } from '../measure/metrics.js';
import type { CoalesceSummary } from '../measure/coalesce.js';
import { formatMs, type Paint, plain } from './text.js';

/** CoalesceConfig records the settings of a `throttle coalesce` loop; null means none. */
export interface CoalesceConfig {
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number | null;
  readonly burst: number;
  readonly retryAfterMs: number | null;
  /** retries: null is no limit. */
  readonly retries: number | null;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly jitter: string;
  readonly timeoutMs: number | null;
  readonly runOnStart: boolean;
  readonly drain: boolean;
}

/**
 * CoalesceReport is the JSON report of `throttle coalesce` (version 1). `type` tells it from the
 * job reports of run, http and bench, whose shape it does not share.
 */
export interface CoalesceReport extends CoalesceSummary {
  readonly version: 1;
  readonly type: 'coalesce';
  readonly command: string;
  readonly config: CoalesceConfig;
  readonly interrupted: boolean;
}

/** buildCoalesceReport puts the header in front of a summary. */
export function buildCoalesceReport(command: string, config: CoalesceConfig, summary: CoalesceSummary, interrupted: boolean): CoalesceReport {
  return { version: 1, type: 'coalesce', command, config, ...summary, interrupted };
}

/** formatCoalesceJson renders the report as indented JSON with a final newline. */
export function formatCoalesceJson(report: CoalesceReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

function statsLine(name: string, s: Stats): string {
  return `  ${name.padEnd(9)} p50 ${formatMs(s.p50).padStart(7)}   p99 ${formatMs(s.p99).padStart(7)}   max ${formatMs(s.max).padStart(7)}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * formatCoalesceSummary renders the end-of-loop summary: one line of runs (and what started them) and
 * triggers, then the trigger-to-start delay and the run time:
 *
 *     4 runs in 12.3s: 3 ok, 1 failed, 1 retried (2 triggered, 1 periodic, 1 retry); 100 triggers served, 98 coalesced
 *       delay     p50   1.02s   p99   1.95s   max   1.96s
 *       run       p50   210ms   p99   250ms   max   250ms
 */
export function formatCoalesceSummary(report: CoalesceReport, paint: Paint = plain): string {
  const { runs, triggers } = report;
  const counts = [`${runs.succeeded} ok`, runs.failed > 0 ? paint.bad(`${runs.failed} failed`) : '0 failed'];
  if (runs.retried > 0) counts.push(`${runs.retried} retried`);
  const why = (
    [
      ['trigger', 'triggered'],
      ['start', 'on start'],
      ['periodic', 'periodic'],
      ['retry', 'retry'],
    ] as const
  )
    .filter(([reason]) => runs.byReason[reason] > 0)
    .map(([reason, label]) => `${runs.byReason[reason]} ${reason === 'retry' && runs.byReason.retry > 1 ? 'retries' : label}`);
  let line = `${paint.bold(plural(runs.total, 'run'))} in ${formatMs(report.elapsedMs)}: ${counts.join(', ')}`;
  if (why.length > 0) line += ` (${why.join(', ')})`;
  line += `; ${plural(triggers.served, 'trigger')} served, ${triggers.coalesced} coalesced`;
  if (triggers.unserved > 0) line += `, ${paint.warn(`${triggers.unserved} not served`)}`;
  if (report.interrupted) line += `; ${paint.warn('interrupted')}`;
  const delay = triggers.served > 0 ? statsLine('delay', report.delayMs) : `  ${'delay'.padEnd(9)} no trigger served`;
  const run = runs.total > 0 ? statsLine('run', report.serviceMs) : `  ${'run'.padEnd(9)} no run`;
  return `${[line, delay, run].join('\n')}\n`;
}
