import type { Slot } from '../core/inflight.js';
import type { AttemptOutcome, Job, Result, Status } from './types.js';

/** SPARE_RUNS: finished JobRuns kept for reuse, at most. */
const SPARE_RUNS = 1024;

/** NO_JOB is the job of a JobRun between two jobs. */
const NO_JOB: Job = { seq: -1, key: '', payload: undefined };

/**
 * Booking is tokens the scheduler booked in the bucket while they fall due (see Limiter.book): how many
 * (-1: none), the limit when booked, and when they are due.
 */
export interface Booking {
  bookedN: number;
  bookedLimit: number;
  bookedDueMs: number;
}

/**
 * JobRun is a job on its way through its attempts: what one step of it hands on to the next. Runs are
 * reused (JobRuns): `start` sets every field for a new job, `clear` lets go of the old one.
 */
export class JobRun<P> implements Booking {
  job: Job<P> = NO_JOB as Job<P>;
  arrivalMs = 0;
  /**
   * nowMs holds the clock's last reading while no wait has happened since (performance.now() costs a tenth
   * of a microsecond, a few times per job), else NaN. (Numbers all: a field that also holds undefined keeps
   * each number written to it as a new heap object, and this one is written a few times per job.)
   */
  nowMs = NaN;
  attempt = 0;
  /** tried counts the attempts that passed the gates. */
  tried = 0;
  throttleMs = 0;
  backoffMs = 0;
  serviceMs = 0;
  /** grantedMs and startedMs: when the first attempt passed the gates, and began; NaN until then. */
  grantedMs = NaN;
  startedMs = NaN;
  status: Status = 'interrupted';
  last: AttemptOutcome | undefined = undefined;
  /** heldFromMs is when the current attempt began to wait at the gates; grantMs when it passed them. */
  heldFromMs = 0;
  grantMs = 0;
  /** waitFromMs is when the current backoff began. */
  waitFromMs = 0;
  /**
   * slot is what the attempt holds from the gates on; planned the attempt's outcome, when the executor
   * planned it.
   */
  slot: Slot | undefined = undefined;
  planned: AttemptOutcome | undefined = undefined;
  /** The tokens #passNow booked while they fall due (see Booking). */
  bookedN = -1;
  bookedLimit = 0;
  bookedDueMs = 0;

  /** start sets the run up for a job that arrived at `arrivalMs`, the clock reading `nowMs`. */
  start(job: Job<P>, arrivalMs: number, nowMs: number): void {
    this.job = job;
    this.arrivalMs = arrivalMs;
    this.nowMs = nowMs;
    this.attempt = 0;
    this.tried = 0;
    this.throttleMs = 0;
    this.backoffMs = 0;
    this.serviceMs = 0;
    this.grantedMs = NaN;
    this.startedMs = NaN;
    this.status = 'interrupted';
    this.last = undefined;
    this.heldFromMs = 0;
    this.grantMs = 0;
    this.waitFromMs = 0;
    this.slot = undefined;
    this.planned = undefined;
    this.bookedN = -1;
  }

  /** result is the job's Result, as it ends at `endedMs`: a new object, or `into` rewritten. */
  result(endedMs: number, into?: WritableResult): Result {
    const job = this.job;
    const last = this.last;
    if (into !== undefined) {
      into.seq = job.seq;
      into.key = job.key;
      into.arrivalMs = this.arrivalMs;
      // Each field written in a branch of its own: a number or undefined in one expression is an object.
      if (Number.isNaN(this.grantedMs)) into.grantedMs = undefined;
      else into.grantedMs = this.grantedMs;
      if (Number.isNaN(this.startedMs)) into.startedMs = undefined;
      else into.startedMs = this.startedMs;
      into.endedMs = endedMs;
      into.attempts = this.tried;
      into.status = this.status;
      into.code = last?.code;
      into.throttleMs = this.throttleMs;
      into.backoffMs = this.backoffMs;
      into.serviceMs = this.serviceMs;
      into.error = last?.error;
      into.signal = last?.signal;
      return into;
    }
    const result: WritableResult = {
      seq: job.seq,
      key: job.key,
      arrivalMs: this.arrivalMs,
      grantedMs: Number.isNaN(this.grantedMs) ? undefined : this.grantedMs,
      startedMs: Number.isNaN(this.startedMs) ? undefined : this.startedMs,
      endedMs,
      attempts: this.tried,
      status: this.status,
      code: last?.code,
      throttleMs: this.throttleMs,
      backoffMs: this.backoffMs,
      serviceMs: this.serviceMs,
    };
    // Set only when there is one (no spread of an empty object: this runs once per job).
    if (last?.error !== undefined) result.error = last.error;
    if (last?.signal !== undefined) result.signal = last.signal;
    return result;
  }

  /** clear lets go of the finished job's objects. */
  clear(): void {
    this.job = NO_JOB as Job<P>;
    this.last = undefined;
    this.slot = undefined;
    this.planned = undefined;
  }
}

/** WritableResult is a Result being written. */
export type WritableResult = { -readonly [K in keyof Result]: Result[K] };

/**
 * newResult is a Result to write every job's into (see JobRun.result): its fields in the order a new one
 * has them, so that it reads, and prints as JSON, the same. The times begin as numbers (NaN), not
 * undefined: a field that began as undefined keeps each number written to it as an object of its own.
 */
export function newResult(): WritableResult {
  return { seq: -1, key: '', arrivalMs: NaN, grantedMs: NaN, startedMs: NaN, endedMs: NaN, attempts: 0, status: 'interrupted', code: undefined, throttleMs: NaN, backoffMs: NaN, serviceMs: NaN, error: undefined, signal: undefined };
}

/**
 * JobRuns hands out a JobRun for each admitted job and takes back finished ones for the next: a JobRun is
 * some twenty fields, numbers most of them, and a new one for each of a million jobs was a third of what a
 * simulation allocated.
 */
export class JobRuns<P> {
  readonly #spare: JobRun<P>[] = [];

  /** take returns a run set up for a job that arrived at `arrivalMs`, the clock reading `nowMs`. */
  take(job: Job<P>, arrivalMs: number, nowMs: number): JobRun<P> {
    const run = this.#spare.pop() ?? new JobRun<P>();
    run.start(job, arrivalMs, nowMs);
    return run;
  }

  /** give takes back a finished run: nothing may refer to it any more (no wait of it pending). */
  give(run: JobRun<P>): void {
    run.clear();
    if (this.#spare.length < SPARE_RUNS) this.#spare.push(run);
  }
}
