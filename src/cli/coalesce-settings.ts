import { parseDuration } from '../core/parse.js';
import type { Jitter } from '../core/retry.js';
import { UsageError } from '../errors.js';
import { DEFAULTS, integer, writable } from './settings.js';

/** CoalesceSettings are the flags of `throttle coalesce`, typed and checked. */
export interface CoalesceSettings {
  readonly command: readonly string[];
  readonly minIntervalMs: number;
  /** maxIntervalMs: Infinity when there are no periodic runs (`--max-interval 0` or none). */
  readonly maxIntervalMs: number;
  readonly burst: number;
  /** retryAfterMs: the fixed delay before retrying a failed run (--retry-after), or undefined to back off. */
  readonly retryAfterMs: number | undefined;
  /** retries: failed runs in a row that are retried; Infinity means no limit. */
  readonly retries: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly jitter: Jitter;
  /** timeoutMs ends a run that takes longer; Infinity means none. */
  readonly timeoutMs: number;
  readonly killAfterMs: number;
  readonly shell: boolean;
  readonly tag: boolean;
  readonly runOnStart: boolean;
  /** drain: at the end of stdin, run what is still owed before exiting (--no-drain: exit at once). */
  readonly drain: boolean;
  readonly reportFile: string | undefined;
  readonly quiet: boolean;
}

/** COALESCE_DEFAULTS are the defaults of the flags only coalesce has; the rest are settings.ts's DEFAULTS. */
export const COALESCE_DEFAULTS = {
  minInterval: '1s',
  maxInterval: '0',
  burst: '1',
} as const;

/** RawCoalesceOptions is what commander hands over: strings, as typed, and switches. */
export interface RawCoalesceOptions {
  minInterval?: string;
  maxInterval?: string;
  burst?: string;
  retryAfter?: string;
  retries?: string;
  backoffBase?: string;
  backoffMax?: string;
  jitter?: string;
  timeout?: string;
  killAfter?: string;
  shell?: boolean;
  tag?: boolean;
  runOnStart?: boolean;
  drain?: boolean;
  report?: string;
  quiet?: boolean;
}

function duration(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

/** coalesceSettings builds the settings of `throttle coalesce`; every flag is checked before anything runs. */
export function coalesceSettings(command: readonly string[], o: RawCoalesceOptions): CoalesceSettings {
  if (command.length === 0) {
    throw new UsageError('no command given: put it after --, e.g. inotifywait -m -r src | throttle coalesce --min-interval 2s -- npm run build');
  }
  const minText = o.minInterval ?? COALESCE_DEFAULTS.minInterval;
  const maxText = o.maxInterval ?? COALESCE_DEFAULTS.maxInterval;
  const minIntervalMs = duration('--min-interval', minText);
  const maxMs = duration('--max-interval', maxText);
  const maxIntervalMs = maxMs === 0 ? Infinity : maxMs;
  if (maxIntervalMs < minIntervalMs) {
    throw new UsageError(`--max-interval (${maxText}) is shorter than --min-interval (${minText}): e.g. --min-interval 2s --max-interval 10m, or --max-interval 0 for no periodic runs`);
  }
  const retryAfterMs = o.retryAfter === undefined ? undefined : duration('--retry-after', o.retryAfter);
  if (retryAfterMs !== undefined) {
    const backoff = [
      ['--backoff-base', o.backoffBase],
      ['--backoff-max', o.backoffMax],
      ['--jitter', o.jitter],
    ].find(([, v]) => v !== undefined)?.[0];
    if (backoff !== undefined) {
      throw new UsageError(`--retry-after and ${backoff}: pick one: a fixed delay (e.g. --retry-after 30s) or exponential backoff (e.g. --retries 5 --backoff-base 1s)`);
    }
  }
  const backoffBaseText = o.backoffBase ?? DEFAULTS.backoffBase;
  const backoffMaxText = o.backoffMax ?? DEFAULTS.backoffMax;
  const backoffBaseMs = duration('--backoff-base', backoffBaseText);
  const backoffMaxMs = duration('--backoff-max', backoffMaxText);
  if (backoffMaxMs < backoffBaseMs) {
    throw new UsageError(`--backoff-max (${backoffMaxText}) is shorter than --backoff-base (${backoffBaseText}): e.g. --backoff-base 200ms --backoff-max 30s`);
  }
  const jitter = o.jitter ?? DEFAULTS.jitter;
  if (jitter !== 'none' && jitter !== 'full' && jitter !== 'equal') {
    throw new UsageError(`--jitter: invalid value "${jitter}": use one of none, full, equal`);
  }
  // A fixed --retry-after retries until the command succeeds unless --retries says how often.
  const retries = o.retries === undefined ? (retryAfterMs === undefined ? 0 : Infinity) : integer('--retries', o.retries, 0, '--retries 3', true);
  const timeoutMs = duration('--timeout', o.timeout ?? DEFAULTS.timeout);
  return {
    command,
    minIntervalMs,
    maxIntervalMs,
    burst: integer('-b, --burst', o.burst ?? COALESCE_DEFAULTS.burst, 1, '--burst 2'),
    retryAfterMs,
    retries,
    backoffBaseMs,
    backoffMaxMs,
    jitter,
    timeoutMs: timeoutMs === 0 ? Infinity : timeoutMs,
    killAfterMs: duration('--kill-after', o.killAfter ?? DEFAULTS.killAfter),
    shell: o.shell === true,
    tag: o.tag === true,
    runOnStart: o.runOnStart === true,
    drain: o.drain !== false,
    reportFile: writable('--report', o.report),
    quiet: o.quiet === true,
  };
}
