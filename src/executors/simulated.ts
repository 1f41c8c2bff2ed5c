import type { Clock } from '../core/clock.js';
import type { AttemptContext, AttemptOutcome, Executor, Job, PlannedAttempt } from '../engine/types.js';

/** SimulatedWork is what a simulated job "does": take its service time, then end with its status. */
export interface SimulatedWork {
  /** serviceMs is how long each attempt takes. */
  readonly serviceMs: number;
  /**
   * status is the outcome of every attempt: 0 or a 2xx/3xx succeeds, anything else fails; a function gives
   * a per-attempt status (e.g. fail twice, then succeed).
   */
  readonly status?: number | ((attempt: number) => number);
  /** retryAfterMs is a Retry-After the simulated target sends with a failure. */
  readonly retryAfterMs?: number;
}

export interface SimulatedExecutorOptions {
  clock: Clock;
  /** timeoutMs ends an attempt that would take longer, as a timeout, after that long. */
  timeoutMs?: number;
  /** retryOn decides which failing statuses may be retried (default: all). */
  retryOn?: (status: number) => boolean;
}

/** SUCCEEDED is the outcome of every attempt that ends with status 0 (one object: outcomes are read-only). */
const SUCCEEDED: AttemptOutcome = { ok: true, code: 0, retryable: false };

/** isSuccess is the success rule shared by simulated commands and requests: 0, or an HTTP 2xx/3xx. */
export function isSuccess(status: number): boolean {
  return status === 0 || (status >= 200 && status < 400);
}

/**
 * SimulatedExecutor performs no I/O: each attempt sleeps its service time on the clock and reports the
 * job's status. On a ManualClock it is how `bench --simulate` and exact end-to-end tests run.
 */
export class SimulatedExecutor implements Executor<SimulatedWork> {
  readonly #o: SimulatedExecutorOptions;
  readonly #planned: { ms: number; outcome: AttemptOutcome } = { ms: 0, outcome: SUCCEEDED };

  constructor(options: SimulatedExecutorOptions) {
    this.#o = options;
  }

  /**
   * execute resolves, once the attempt's time has passed on the clock, to the outcome decided when it began
   * (see plan). A kill rejects it with the kill signal's reason, which the scheduler reports as a killed
   * attempt.
   */
  execute(job: Job<SimulatedWork>, ctx: AttemptContext): Promise<AttemptOutcome> {
    const { ms, outcome } = this.plan(job, ctx);
    return this.#o.clock.after(ms, outcome, ctx.kill);
  }

  /**
   * plan decides the attempt when it begins: its service time (or the timeout) and its outcome. The answer
   * is one object, rewritten by every call (see Executor.plan).
   */
  plan(job: Job<SimulatedWork>, ctx: AttemptContext): PlannedAttempt {
    const { serviceMs, status, retryAfterMs } = job.payload;
    const timeoutMs = this.#o.timeoutMs ?? Infinity;
    const planned = this.#planned;
    if (serviceMs > timeoutMs) {
      planned.ms = timeoutMs;
      planned.outcome = { ok: false, code: 'timeout', retryable: true, error: `timed out after ${timeoutMs} ms` };
    } else {
      planned.ms = serviceMs;
      planned.outcome = this.#outcome(typeof status === 'function' ? status(ctx.attempt) : (status ?? 0), retryAfterMs);
    }
    return planned;
  }

  #outcome(code: number, retryAfterMs: number | undefined): AttemptOutcome {
    if (isSuccess(code)) return code === 0 ? SUCCEEDED : { ok: true, code, retryable: false };
    const retryable = this.#o.retryOn?.(code) ?? true;
    // A 429 or 503 (or any Retry-After) is the target pushing back, as the http executor reads it.
    const pushback = code === 429 || code === 503 || retryAfterMs !== undefined;
    return retryAfterMs === undefined ? { ok: false, code, retryable, pushback } : { ok: false, code, retryable, pushback, retryAfterMs };
  }
}
