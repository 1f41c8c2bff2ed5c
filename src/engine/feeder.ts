import type { Clock, Waker } from '../core/clock.js';
import { Limiter } from '../core/limiter.js';
import type { RatePlan } from '../core/plan.js';
import type { ArrivalMode, BatchedJobSource, JobSource } from './scheduler.js';
import type { Job } from './types.js';

/** FeederHost is what the feeder needs of its scheduler. */
export interface FeederHost<P> {
  /** hasRoom says whether the lookahead lets another job be taken. */
  hasRoom(): boolean;
  /** stopped says whether the run is stopping (no job is taken any more). */
  stopped(): boolean;
  /**
   * admit starts a job whose time has come; `generated` says it is generated load, admitted many to a pass
   * (see Scheduler: a job of such a pass that could start at once waits for the pass to end).
   */
  admit(job: Job<P>, arrivalMs: number, admittedMs: number, generated: boolean): void;
}

export interface FeederOptions {
  readonly clock: Clock;
  /** stop aborts a wait for an arrival (the run is stopping). */
  readonly stop: AbortSignal;
  readonly arrivals: ArrivalMode;
  /** limiter is the run's bucket: generated load is scheduled by an unhindered twin of it. */
  readonly limiter: Limiter;
  readonly plan: RatePlan | undefined;
  readonly durationMs: number | undefined;
}

/**
 * Feeder takes a run's jobs from its source while there is lookahead room and admits each at its arrival
 * time: when it is read, at its traced time, or at its place in the schedule of generated load. It is a
 * pump, not a loop: it runs until it must wait — for room (roomFreed starts it again), for a read, or on
 * the clock for the next traced arrival (a clock wake) — so that a simulation can count it as waiting.
 */
export class Feeder<P> implements Waker<Job<P>> {
  readonly #host: FeederHost<P>;
  readonly #o: FeederOptions;
  readonly #batched: BatchedJobSource<P> | undefined;
  readonly #it: Iterator<Job<P>> | AsyncIterator<Job<P>> | undefined;
  /** #batch is the batch jobs are taken from, #at the next one's index. */
  #batch: readonly Job<P>[] = [];
  #at = 0;
  /** #schedule, #planDue: how generated load's arrivals are decided (see run). */
  #schedule: Limiter | undefined;
  #planDue: ((tokens: number) => number) | undefined;
  #planTokens = 0;
  #scheduleStartMs: number | undefined;
  #startMs = 0;
  /** #untilMs: no job arriving later is taken (--duration). */
  #untilMs = Infinity;
  #resolve: ((exhausted: boolean) => void) | undefined;
  #reject: ((err: unknown) => void) | undefined;
  /** #feeding: the feeder runs (it has not ended); #waitingRoom: it waits for lookahead room. */
  #feeding = false;
  #waitingRoom = false;
  #wake: (() => void) | undefined;
  /** #reading is the pending read from the source, if any. */
  #reading: Promise<unknown> | undefined;

  constructor(source: JobSource<P>, host: FeederHost<P>, options: FeederOptions) {
    this.#host = host;
    this.#o = options;
    this.#batched = 'nextBatch' in source && typeof source.nextBatch === 'function' ? source : undefined;
    this.#it = this.#batched !== undefined ? undefined : Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  }

  /** feeding says the feeder still runs: a task of the run, busy or waiting. */
  get feeding(): boolean {
    return this.#feeding;
  }

  /** waitingRoom says it waits for lookahead room. */
  get waitingRoom(): boolean {
    return this.#waitingRoom;
  }

  /** reading is the pending read from the source, if any (time stands still in a simulation meanwhile). */
  get reading(): Promise<unknown> | undefined {
    return this.#reading;
  }

  /** run feeds the jobs from `startMs`, the run's start; resolves once it ended, with whether the source ran dry. */
  run(startMs: number): Promise<boolean> {
    const o = this.#o;
    const limit = o.limiter.limit();
    // The schedule of generated load: an unhindered twin of the bucket, always asked at the time the first
    // job is admitted, so the k-th job's due time depends on k only, never on how late the run is.
    if (o.arrivals === 'schedule' && limit !== Infinity && o.plan === undefined) this.#schedule = new Limiter(limit, o.limiter.burst(), { clock: o.clock });
    // With a plan the schedule follows it: the k-th token of an unhindered bucket playing the same staircase.
    if (o.arrivals === 'schedule' && o.plan !== undefined) this.#planDue = o.plan.dueTimes(o.limiter.burst());
    this.#startMs = startMs;
    this.#untilMs = o.durationMs === undefined ? Infinity : startMs + o.durationMs;
    this.#feeding = true;
    return new Promise<boolean>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      this.#pump();
    });
  }

  /** roomFreed starts the feeder again if it waits for room: a microtask later, not inside the caller's step. */
  roomFreed(): void {
    const wake = this.#wake;
    if (wake === undefined) return;
    this.#wake = undefined;
    this.#waitingRoom = false;
    void TURN.then(wake);
  }

  /** woken: a traced job's arrival time has come (a clock wake). */
  woken(job: Job<P>): void {
    this.#pump(job, true);
  }

  /** aborted: the run stopped while the feeder waited for an arrival. */
  aborted(): void {
    this.#end(false);
  }

  /** #pump runs the feeder until it must wait. `job` is one already taken; `arrived` says its time has come. */
  #pump(job?: Job<P>, arrived = false): void {
    const o = this.#o;
    const host = this.#host;
    try {
      for (;;) {
        if (job === undefined) {
          const stopped = host.stopped();
          if (!stopped && !host.hasRoom()) {
            this.#waitingRoom = true;
            this.#wake = () => this.#pump();
            return;
          }
          if (stopped) return this.#end(false);
          job = this.#take();
          if (job === undefined) return;
        }
        if (!arrived && o.arrivals === 'trace' && job.arrivalMs !== undefined) {
          if (job.arrivalMs > this.#untilMs) return this.#end(false);
          const waitMs = job.arrivalMs - o.clock.now();
          if (waitMs > 0) {
            o.clock.wake(waitMs, this, job, o.stop);
            return;
          }
        }
        if (!this.#enter(job)) return;
        job = undefined;
        arrived = false;
      }
    } catch (err) {
      this.#end(false, err);
    }
  }

  /**
   * #take returns the source's next job when it has one ready; otherwise it starts the read, which takes
   * the feeder on when it completes (or ends it), and returns undefined.
   */
  #take(): Job<P> | undefined {
    const batched = this.#batched;
    if (batched !== undefined) {
      if (this.#at < this.#batch.length) return this.#batch[this.#at++];
      const read = batched.nextBatch();
      this.#reading = read;
      read.then(
        (more) => {
          this.#reading = undefined;
          if (more === undefined) return this.#end(true);
          this.#batch = more;
          this.#at = 0;
          this.#pump();
        },
        (err: unknown) => this.#end(false, err),
      );
      return undefined;
    }
    const read = this.#it!.next();
    if (read instanceof Promise) {
      this.#reading = read;
      read.then(
        (next: IteratorResult<Job<P>>) => {
          this.#reading = undefined;
          if (next.done === true) this.#end(true);
          else this.#pump(next.value);
        },
        (err: unknown) => this.#end(false, err),
      );
      return undefined;
    }
    if (read.done === true) {
      this.#end(true);
      return undefined;
    }
    return read.value;
  }

  /** #enter admits a job whose time has come; false when the run takes no more (past --duration, stopping). */
  #enter(job: Job<P>): boolean {
    const o = this.#o;
    // One reading of the clock per admission: the job's first pass at the gates is made as of it.
    const admittedMs = o.clock.now();
    let arrivalMs: number;
    if (o.arrivals === 'trace' && job.arrivalMs !== undefined) {
      // A traced job arrives at its own time.
      arrivalMs = job.arrivalMs;
    } else if (this.#schedule !== undefined) {
      // Counted from the first job's admission, the very instant its tokens are taken from the bucket:
      // counted from the run's start, the set-up between the two (cold code, a first read) would put the
      // bucket that far behind the schedule, and every job that much late.
      arrivalMs = this.#schedule.reserveN((this.#scheduleStartMs ??= admittedMs), job.tokens ?? 1).timeToActMs;
    } else if (this.#planDue !== undefined) {
      this.#planTokens += job.tokens ?? 1;
      arrivalMs = this.#startMs + this.#planDue(this.#planTokens);
    } else {
      arrivalMs = admittedMs;
    }
    if (arrivalMs > this.#untilMs || this.#host.stopped()) {
      this.#end(false);
      return false;
    }
    this.#host.admit(job, arrivalMs, admittedMs, this.#schedule !== undefined || this.#planDue !== undefined);
    return true;
  }

  /** #end ends the feeder, once: a source that did not run dry is closed (`return`) first. */
  #end(exhausted: boolean, error?: unknown): void {
    const resolve = this.#resolve;
    const reject = this.#reject;
    if (resolve === undefined || reject === undefined) return;
    this.#resolve = this.#reject = undefined;
    this.#reading = undefined;
    this.#waitingRoom = false;
    this.#wake = undefined;
    let failed = error !== undefined;
    const settle = (): void => {
      this.#feeding = false;
      if (failed) reject(error);
      else resolve(exhausted);
    };
    const fail = (err: unknown): void => {
      if (!failed) error = err;
      failed = true;
      settle();
    };
    if (exhausted) return settle();
    let closing: unknown;
    try {
      closing = (this.#batched ?? this.#it!).return?.();
    } catch (err) {
      return fail(err);
    }
    // A source's return is awaited, as a for-await loop's would be.
    Promise.resolve(closing).then(settle, fail);
  }
}

/** TURN: a promise already resolved; `TURN.then(f)` runs f one microtask turn from now. */
const TURN: Promise<void> = Promise.resolve();
