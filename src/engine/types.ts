import type { WorkKind } from '../core/inflight.js';

/**
 * A Job is one unit of work from a source: an input line, a request, a trace event. `seq` is its
 * 0-based position in the input; `key` is what identifies it to people (the line, the URL, the trace key).
 */
export interface Job<P = unknown> {
  readonly seq: number;
  readonly key: string;
  /** payload is what the executor needs (argv, a request, a service time); the scheduler never reads it. */
  readonly payload: P;
  /**
   * arrivalMs is when the job arrives, on the scheduler's clock. Sources that replay a trace set it and the
   * scheduler holds the job until then; sources that read input as it comes leave it unset.
   */
  readonly arrivalMs?: number;
  /** tokens is how many tokens each attempt takes from the bucket (default 1). */
  readonly tokens?: number;
  /** kind picks the in-flight pool: read-only (default) or mutating. */
  readonly kind?: WorkKind;
  /**
   * limitKey picks the job's per-key bucket and cap (`--key` template); the job's `key` when unset.
   */
  readonly limitKey?: string;
  /** group names the target a pause applies to (an HTTP origin); jobs without one share a single group. */
  readonly group?: string;
}

/** AttemptOutcome is what an executor reports for one attempt. */
export interface AttemptOutcome {
  readonly ok: boolean;
  /** code is the exit status or HTTP status, or an error name ("ENOENT", "timeout", "SIGKILL", "rejected"). */
  readonly code: number | string;
  /** retryable says whether the retry policy may try again (the executor classifies, e.g. by --retry-on). */
  readonly retryable: boolean;
  /** retryAfterMs is a server's Retry-After, already parsed. */
  readonly retryAfterMs?: number;
  /**
   * pauseMs asks the scheduler to grant nothing more to this job's group for that long (a 429 or 503 with
   * Retry-After: the whole target said to come back later).
   */
  readonly pauseMs?: number;
  /**
   * pushback says the target pushed back (a 429, a 503, a Retry-After, a refused connection, a retryable
   * exit status): adaptive limits slow down on it. Failures of the work itself are not push-back.
   */
  readonly pushback?: boolean;
  /** error is a one-line description when the attempt failed without a code of its own. */
  readonly error?: string;
  /** signal names the signal that ended a process ("SIGTERM"), if one did. */
  readonly signal?: string;
}

/** AttemptContext is what an executor gets besides the job. */
export interface AttemptContext {
  /** attempt is 1 for the first try. */
  readonly attempt: number;
  /** stop aborts when the run is being stopped gracefully (Ctrl-C once): end the attempt politely. */
  readonly stop: AbortSignal;
  /** kill aborts when the run must end now (Ctrl-C twice, --halt now): end the attempt at once. */
  readonly kill: AbortSignal;
}

/**
 * Executor runs one attempt of a job. It never throws for a failed attempt: it reports an outcome. An
 * attempt ended by the kill signal may report itself killed, or reject with the signal's reason (the
 * scheduler reports that as `killed`); any other rejection is a bug, and fails the job.
 */
export interface Executor<P = unknown> {
  execute(job: Job<P>, ctx: AttemptContext): Promise<AttemptOutcome>;
  /**
   * plan, when an executor has it, is execute for an attempt decided the moment it begins (a simulated
   * one): how long it takes on the scheduler's clock, and its outcome. The scheduler then waits that long
   * itself, under the kill signal, without a promise per attempt. It must agree with execute. The scheduler
   * reads the answer at once, so an executor may hand out the same object, rewritten, every time (a
   * simulation plans millions of attempts).
   */
  plan?(job: Job<P>, ctx: AttemptContext): PlannedAttempt;
}

/** PlannedAttempt is an attempt known in advance: it takes `ms` on the clock, then ends with `outcome`. */
export interface PlannedAttempt {
  readonly ms: number;
  readonly outcome: AttemptOutcome;
}

/** Status is a job's final state. */
export type Status =
  | 'ok' // an attempt succeeded
  | 'failed' // the last attempt failed and no retry was left (or the failure was not retryable)
  | 'rejected' // the last attempt found the in-flight cap full (--on-full reject) and no retry was left
  | 'interrupted'; // the run stopped before the job finished (it may have been started)

/**
 * Result is the one record that flows from the scheduler to measurement, reporters and `--output`
 * streams. Times are milliseconds on the scheduler's clock.
 *
 * - arrivalMs: when the job arrived, or for generated load its scheduled (due) time. Latency is measured
 *   from here, so time spent queued behind a slow target is counted (no coordinated omission).
 * - grantedMs: when the first attempt was let through the bucket and the in-flight cap.
 * - startedMs: when the first attempt started; endedMs: when the last attempt ended.
 * - throttleMs: time held by the bucket and the in-flight cap, summed over attempts.
 * - backoffMs: time waited between attempts. serviceMs: time inside attempts.
 */
export interface Result {
  readonly seq: number;
  readonly key: string;
  readonly arrivalMs: number;
  readonly grantedMs: number | undefined;
  readonly startedMs: number | undefined;
  readonly endedMs: number;
  readonly attempts: number;
  readonly status: Status;
  /** code is the last attempt's code (exit status, HTTP status or error name); undefined if never run. */
  readonly code: number | string | undefined;
  readonly error?: string;
  /** signal names the signal that ended the last attempt's process, if one did. */
  readonly signal?: string;
  readonly throttleMs: number;
  readonly backoffMs: number;
  readonly serviceMs: number;
}
