import type { LimitsSummary } from '../measure/limits.js';
import type { Stats, Summary } from '../measure/metrics.js';

/** Report is the JSON report (version 1): what ran, how it was configured, and the Summary. */
export interface Report extends Summary {
  readonly version: 1;
  readonly command: string;
  readonly mode: 'real' | 'simulated';
  readonly config: ReportConfig;
  /** limits: how the limits moved (a plan, --adaptive, --control, signals); absent when they could not. */
  readonly limits?: LimitsSummary;
}

/** ReportConfig records the limits in force; rates in events per second (null: unlimited). */
export interface ReportConfig {
  readonly rate: number | null;
  readonly burst: number;
  readonly concurrency: number | null;
  readonly onFull: 'wait' | 'reject';
  readonly retries: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly jitter: string;
  readonly timeoutMs: number | null;
  readonly [extra: string]: unknown;
}

/** buildReport puts the header in front of a summary. */
export function buildReport(command: string, mode: 'real' | 'simulated', config: ReportConfig, summary: Summary): Report {
  return { version: 1, command, mode, config, ...summary };
}

/** formatJson renders a report as indented JSON with a final newline. */
export function formatJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

export type { Stats };
