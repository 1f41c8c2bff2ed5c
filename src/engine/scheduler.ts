import { setMaxListeners } from 'node:events';
import { type Clock, systemClock, type Waker } from '../core/clock.js';
import type { InflightLimiter, Slot, SlotWaker, WorkKind } from '../core/inflight.js';
import type { Aimd } from '../core/aimd.js';
import { KeyedInflight, KeyedLimiters } from '../core/keyed.js';
import type { Limiter } from '../core/limiter.js';
import type { RateChange, RatePlan } from '../core/plan.js';
import type { RetryPolicy } from '../core/retry.js';
import { Events } from './events.js';
import { Feeder, type FeederHost } from './feeder.js';
import { type Booking, type JobRun, JobRuns, newResult, type WritableResult } from './job-run.js';
import { TokenTurns } from './token-turns.js';
import type { AttemptContext, AttemptOutcome, Executor, Job, Result } from './types.js';

/**
 * How a job's arrival time is decided:
 * - `read`: when the scheduler takes it from the source (input lines, read as room allows);
 * - `trace`: the job's own `arrivalMs`; the scheduler holds the job until then (trace replay);
 * - `schedule`: generated load (`--count`, `--duration`): the k-th job is due when an unhindered bucket
 *   with the same rate and burst would grant it, counted from the start. Latency is measured from that due
 *   time, so a slow target cannot hide the queue it causes (no coordinated omission).
 */
export type ArrivalMode = 'read' | 'trace' | 'schedule';

/**
 * SharedLimits is a token bucket and an in-flight cap kept outside this process (Redis: `--redis`), shared
 * by every process that uses the same key. The scheduler asks it after its own gates, in the same order:
 * slot then token (wait mode), token then trySlot (reject mode). A call that is aborted holds nothing.
 */
export interface SharedLimits {
  /** token resolves once the shared bucket granted n tokens; when the signal aborts it rejects and the tokens go back. */
  token(n: number, signal: AbortSignal): Promise<void>;
  /** slot resolves with a lease on a shared in-flight slot, queueing until one is free. */
  slot(kind: WorkKind | undefined, signal: AbortSignal): Promise<Slot>;
  /** trySlot resolves with a lease, or undefined at once when the shared cap is full (reject mode). */
  trySlot(kind: WorkKind | undefined): Promise<Slot | undefined>;
}

/**
 * A JobSource hands the scheduler its jobs, in order: an iterable, an async iterable, or an async iterable
 * that can also hand out every job it has ready at once (`nextBatch`, as a trace reader does). The scheduler
 * takes batches when it can: at a million jobs, a promise per job is a measurable share of a simulation.
 */
export type JobSource<P> = AsyncIterable<Job<P>> | Iterable<Job<P>> | BatchedJobSource<P>;

export interface BatchedJobSource<P> extends AsyncIterable<Job<P>> {
  /** nextBatch resolves to the next jobs (at least one), or undefined once there are no more. */
  nextBatch(): Promise<readonly Job<P>[] | undefined>;
  /** return ends the source early (the run stopped before it ran dry). */
  return?(): Promise<unknown>;
}

export interface SchedulerOptions {
  clock?: Clock;
  /** limiter is the token bucket every attempt passes (first attempts and retries alike). */
  limiter: Limiter;
  /** inflight caps attempts in flight. */
  inflight: InflightLimiter;
  /** onFull: `wait` queues for a slot; `reject` fails the attempt at once, like a 429, and retries by policy. */
  onFull: 'wait' | 'reject';
  retry: RetryPolicy<number>;
  arrivals: ArrivalMode;
  /**
   * lookahead bounds the jobs taken from the source and not yet done (memory and read-ahead). Jobs waiting
   * out a backoff, up to as many again, do not count: they hold no slot, and a target that asks for a
   * pause must not stop the jobs behind them from being taken (at most twice `lookahead` are held).
   */
  lookahead: number;
  /** durationMs stops taking new jobs once their arrival lies this far past the start. */
  durationMs?: number;
  /**
   * perKey gives every job's limit key (`limitKey`, else `key`) a token bucket and/or an in-flight cap of
   * its own, besides the shared ones. They are passed first, so a job waiting for its key's budget holds
   * nothing the other keys need.
   */
  perKey?: { ratePerSec: number; burst: number; concurrency?: number };
  /** keyOf picks a job's limit key when it carries none (`--key` template); default: its `key`. */
  keyOf?: (job: Job) => string;
  /** plan makes the bucket's rate follow a plan from the run's start (--rate 10/s@30s,ramp:...). */
  plan?: RatePlan;
  /** adaptive lets AIMD controllers move the rate and/or the in-flight cap on the target's push-back. */
  adaptive?: { rate?: Aimd; concurrency?: Aimd };
  /**
   * maxPauseMs caps how long an attempt's `pauseMs` may hold its group (0 turns pausing off). While a group
   * is paused, none of its jobs passes the gates; each waits without holding a slot or a token.
   */
  maxPauseMs?: number;
  /** shared adds limits kept outside the process (see SharedLimits), asked after the local ones. */
  shared?: SharedLimits;
  /**
   * reuseResults makes the Result of every `done` event one object, rewritten for the next job: a listener
   * reads it before it returns, and copies what it keeps. A simulation folding a million Results into its
   * metrics runs some 5% faster so (each Result is an object and half a dozen boxed numbers).
   */
  reuseResults?: boolean;
}

/** Limits are the shared limits in force: what `setLimits` changes and `limits` events report. */
export interface Limits {
  readonly ratePerSec: number;
  readonly burst: number;
  readonly concurrency: number;
}

/** RunStats is what the scheduler knows about a whole run once it is over. */
export interface RunStats {
  readonly startMs: number;
  readonly endMs: number;
  /** jobs is how many jobs were taken from the source (each produced exactly one Result). */
  readonly jobs: number;
  /** exhausted is true when the source ran dry; false when the run stopped first (interrupt, --halt, duration). */
  readonly exhausted: boolean;
  /** peakRunning is the most attempts executing at once. */
  readonly peakRunning: number;
}

const STOPPED = Symbol('stopped');

/** KILLED is the outcome of an attempt whose executor gave up on the kill signal (rejecting with its reason). */
const KILLED: AttemptOutcome = { ok: false, code: 'killed', retryable: false, error: 'killed' };

/** REJECTED is the outcome of an attempt that found the in-flight cap full (--on-full reject). */
const REJECTED: AttemptOutcome = { ok: false, code: 'rejected', retryable: true, error: 'in-flight cap full' };

/**
 * Scheduler moves jobs from a source through the pipeline — token bucket, in-flight cap, executor, retry
 * policy — and announces every step as an event. `run`, `http` and `bench` (real or simulated) all use it;
 * only the source, the executor and the clock differ.
 *
 * Order of the gates, per attempt:
 * - `--on-full wait`: take an in-flight slot, then wait for the token, then start. Taking the token first
 *   would let tokens granted while every slot was busy be spent all at once when slots free up, so starts
 *   could exceed the bucket's burst; in this order starts never do (Go's worker-pool pattern).
 * - `--on-full reject`: wait for the token, then try for a slot; a full cap rejects the attempt at once and
 *   the token stays spent — the request was made, and the cap answered like a server's 429.
 * A retry goes through both gates again and spends a new token; while it waits out its backoff it holds no
 * slot.
 */
export class Scheduler<P = unknown> {
  readonly events = new Events();
  readonly #executor: Executor<P>;
  readonly #o: SchedulerOptions;
  readonly #clock: Clock;
  readonly #stop = new AbortController();
  readonly #kill = new AbortController();
  /** #stopSignal is #stop.signal, read once: the getter validates its receiver on every read. */
  readonly #stopSignal = this.#stop.signal;
  /** #stopped is #stopSignal.aborted, kept as a plain field for the checks made once per job. */
  #stopped = false;
  readonly #contexts: AttemptContext[] = [];

  #active = 0;
  #running = 0;
  #peakRunning = 0;
  #jobs = 0;
  #allDone: (() => void) | undefined;
  /** #backingOff counts jobs waiting out a backoff (see SchedulerOptions.lookahead). */
  #backingOff = 0;
  /** #admitting is true while the feeder admits a job of generated load (see #attempt). */
  #admitting = false;
  /** #pausedUntil maps a group to the time before which none of its jobs may pass the gates. */
  readonly #pausedUntil = new Map<string, number>();
  readonly #perKey: KeyedLimiters | undefined;
  readonly #perKeyInflight: KeyedInflight | undefined;
  /** #startMs is when run() began: the origin of a rate plan. */
  #startMs = 0;
  /** #planSteps and #planNext walk the plan's staircase; the next change is applied once its time has come. */
  #planSteps: Iterator<RateChange> | undefined;
  #planNext: RateChange | undefined;
  /** #turns is the queue in front of the bucket (see TokenTurns). */
  readonly #turns: TokenTurns;
  /** #feeder takes the jobs from the source and admits each at its arrival time. */
  readonly #feeder: Feeder<P>;
  /** #runs hands out the JobRuns of admitted jobs, reusing finished ones. */
  readonly #runs = new JobRuns<P>();
  /** #result is the one Result every job's is written into, with reuseResults; else each gets its own. */
  readonly #result: WritableResult | undefined;
  /** #failure is the first error that was not the run's own stop (a bug): the run ends with it. */
  #failure: { error: unknown } | undefined;
  /** The scheduler's wakers (see Clock.wake): one object each; the job's run is their argument. */
  readonly #tokenDue: Waker<JobRun<P>> = { woken: (run) => this.#tokenWaited(run), aborted: (run, reason) => this.#tokenAborted(run, reason) };
  readonly #serviceDone: Waker<JobRun<P>> = { woken: (run) => this.#executed(run, run.planned!), aborted: (run, reason) => this.#executed(run, this.#crashed(reason)) };
  /** #slotDue: a slot #passNow queued for was handed over; the attempt goes on a microtask later (see #slotGranted). */
  readonly #slotDue: SlotWaker<JobRun<P>> = {
    // Handed over inside the release that freed it: the releasing job's step must end first (its count of
    // running attempts, its Result), as it would before an awaited acquire resumes.
    granted: (run, slot) => void TURN.then(() => this.#slotGranted(run, slot)),
    aborted: (run, reason) => this.#interrupted(run, reason),
  };
  readonly #backoffDone: Waker<JobRun<P>> = {
    woken: (run) => this.#backedOff(run),
    aborted: (run, reason) => {
      this.#backingOff--;
      this.#interrupted(run, reason);
    },
  };

  constructor(source: JobSource<P>, executor: Executor<P>, options: SchedulerOptions) {
    if (!(options.lookahead >= 1)) throw new RangeError(`lookahead must be >= 1, got ${options.lookahead}`);
    this.#executor = executor;
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#turns = new TokenTurns(this.#clock);
    this.#result = options.reuseResults === true ? newResult() : undefined;
    const perKey = options.perKey;
    this.#perKey = perKey === undefined || perKey.ratePerSec === Infinity ? undefined : new KeyedLimiters(perKey.ratePerSec, perKey.burst, this.#clock);
    this.#perKeyInflight = perKey?.concurrency === undefined || perKey.concurrency === Infinity ? undefined : new KeyedInflight(perKey.concurrency);
    this.#feeder = new Feeder(source, this.#feederHost(), {
      clock: this.#clock,
      stop: this.#stopSignal,
      arrivals: options.arrivals,
      limiter: options.limiter,
      plan: options.plan,
      durationMs: options.durationMs,
    });
    // Every job waiting for a slot, a token or a backoff, and every running attempt, listens on these two
    // signals: thousands of listeners are the design, not a leak, so Node must not warn past ten.
    setMaxListeners(0, this.#stopSignal, this.#kill.signal);
  }

  /** running is how many attempts execute right now. */
  get running(): number {
    return this.#running;
  }

  /** active is how many jobs were taken from the source and are not done yet. */
  get active(): number {
    return this.#active;
  }

  /** stopping is true once stop() or kill() was called. */
  get stopping(): boolean {
    return this.#stopped;
  }

  /** sourceBusy is the pending read from the source, if any (the simulation waits for it before moving time). */
  get sourceBusy(): Promise<unknown> | undefined {
    return this.#feeder.reading;
  }

  /**
   * quiescent reports whether no part of the run can move without time passing or a read completing:
   * every job and the feeder wait on the clock (`sleepers` is the clock's count of pending sleepers, which
   * must all belong to this run), on the in-flight queue, for lookahead room, or on the source. The
   * simulation advances its clock only then; counting, rather than yielding to the event loop after every
   * step, is what makes a million-event replay take seconds.
   */
  quiescent(sleepers: number): boolean {
    const feeder = this.#feeder;
    const tasks = this.#active + (feeder.feeding ? 1 : 0);
    // Mostly every task sleeps: the other ways to wait are counted only when the sleepers fall short.
    if (sleepers >= tasks) return true;
    const blocked = sleepers + this.#o.inflight.queued() + this.#turns.queued + (this.#perKeyInflight?.queued() ?? 0) + (feeder.waitingRoom ? 1 : 0) + (feeder.reading === undefined ? 0 : 1);
    return blocked >= tasks;
  }

  /**
   * stop ends the run gracefully: no new job is taken, jobs waiting for a token, a slot or a backoff end as
   * interrupted, and running attempts get their `stop` signal (a command gets SIGTERM).
   */
  stop(): void {
    this.#stopped = true;
    if (!this.#stopSignal.aborted) this.#stop.abort(STOPPED);
    // Jobs waiting for their turn at the bucket end as interrupted, like those sleeping on it.
    this.#turns.cancelAll(STOPPED);
    this.#roomFreed();
  }

  /** kill is stop, and running attempts are ended at once (a command gets SIGKILL). */
  kill(): void {
    this.stop();
    if (!this.#kill.signal.aborted) this.#kill.abort(STOPPED);
  }

  /** limits returns the shared limits in force now. */
  limits(): Limits {
    return { ratePerSec: this.#o.limiter.limit(), burst: this.#o.limiter.burst(), concurrency: this.#o.inflight.limit() };
  }

  /**
   * setLimits changes the shared limits now, keeping the tokens the bucket has earned (SetLimit/SetBurst at
   * the current instant); a raised cap admits queued jobs at once, a lowered one revokes no running slot.
   * With --adaptive the new rate or cap becomes the controller's ceiling; a new rate ends a rate plan.
   * `reason` is announced with the change (a `limits` event).
   */
  setLimits(change: Partial<Limits>, reason: string): void {
    const o = this.#o;
    const t = this.#clock.now();
    this.#applyPlan(t);
    if (change.ratePerSec !== undefined) {
      this.#planNext = undefined;
      const aimd = o.adaptive?.rate;
      if (aimd !== undefined) aimd.setCeiling(change.ratePerSec);
      o.limiter.setLimitAt(t, aimd === undefined ? change.ratePerSec : aimd.value());
    }
    if (change.burst !== undefined) o.limiter.setBurstAt(t, change.burst);
    if (change.concurrency !== undefined) {
      const aimd = o.adaptive?.concurrency;
      if (aimd !== undefined) aimd.setCeiling(change.concurrency);
      o.inflight.setLimit(aimd === undefined ? change.concurrency : aimd.value());
    }
    this.#announceLimits(t, reason);
  }

  #announceLimits(t: number, reason: string): void {
    if (this.events.wants('limits')) this.events.emit({ type: 'limits', atMs: t, ...this.limits(), reason });
  }

  /** #applyPlan hands the bucket every change of the plan whose time has come, each at its own instant. */
  #applyPlan(t: number): void {
    let next = this.#planNext;
    while (next !== undefined && this.#startMs + next.atMs <= t) {
      const at = this.#startMs + next.atMs;
      this.#o.limiter.setLimitAt(at, next.ratePerSec);
      // A segment's start is news; a ramp's further steps are announced as `ramp` (followed, not listed).
      this.#announceLimits(at, next.first ? `plan: ${this.#o.plan!.segments[next.segment]!.text}` : 'ramp');
      const step = this.#planSteps!.next();
      next = this.#planNext = step.done ? undefined : step.value;
    }
  }

  /** #adapt feeds an attempt's outcome to the AIMD controllers and applies what they decide. */
  #adapt(outcome: AttemptOutcome, sentMs: number): void {
    const { rate, concurrency } = this.#o.adaptive!;
    const t = this.#clock.now();
    const pushback = outcome.pushback === true;
    if (!pushback && !outcome.ok) return;
    let moved = false;
    if (rate !== undefined && (pushback ? rate.pushback(t, sentMs) : rate.success(t))) {
      this.#o.limiter.setLimitAt(t, rate.value());
      moved = true;
    }
    if (concurrency !== undefined && (pushback ? concurrency.pushback(t, sentMs) : concurrency.success(t))) {
      this.#o.inflight.setLimit(concurrency.value());
      moved = true;
    }
    if (moved) this.#announceLimits(t, pushback ? `push-back (${outcome.code})` : 'success');
  }

  /** run takes every job from the source and resolves once each has a Result (announced as a `done` event). */
  async run(): Promise<RunStats> {
    const startMs = this.#clock.now();
    this.#startMs = startMs;
    if (this.#o.plan !== undefined) {
      this.#planSteps = this.#o.plan.changes();
      const first = this.#planSteps.next();
      this.#planNext = first.done ? undefined : first.value;
      this.#applyPlan(startMs);
    }
    const exhausted = await this.#feeder.run(startMs);
    if (this.#active > 0) {
      await new Promise<void>((resolve) => {
        this.#allDone = resolve;
      });
    }
    if (this.#failure !== undefined) throw this.#failure.error;
    return { startMs, endMs: this.#clock.now(), jobs: this.#jobs, exhausted, peakRunning: this.#peakRunning };
  }

  /** #feederHost is what the feeder may do with this scheduler. */
  #feederHost(): FeederHost<P> {
    const lookahead = this.#o.lookahead;
    return {
      hasRoom: () => this.#active - Math.min(this.#backingOff, lookahead) < lookahead,
      stopped: () => this.#stopped,
      admit: (job, arrivalMs, admittedMs, generated) => {
        if (!generated) return this.#admit(job, arrivalMs, admittedMs);
        // Generated load is admitted many jobs in one pass; each reserves its tokens as it is admitted, and
        // any that could start at once waits for the pass to end (see #attempt).
        this.#admitting = true;
        try {
          this.#admit(job, arrivalMs, admittedMs);
        } finally {
          this.#admitting = false;
        }
      },
    };
  }

  #admit(job: Job<P>, arrivalMs: number, admittedMs: number): void {
    this.#active++;
    this.#jobs++;
    if (this.events.wanted.arrived > 0) this.events.emit({ type: 'arrived', job, atMs: arrivalMs });
    this.#attempt(this.#runs.take(job, arrivalMs, admittedMs));
  }

  /** #finish announces a job's Result and makes room for the next one. */
  #finish(job: Job<P>, result: Result): void {
    this.#active--;
    if (this.events.wanted.done > 0) this.events.emit({ type: 'done', job, result });
    this.#roomFreed();
    if (this.#active === 0) this.#allDone?.();
  }

  /** #roomFreed wakes the feeder if it waits for lookahead room (a job finished or began a backoff). */
  #roomFreed(): void {
    this.#feeder.roomFreed();
  }

  /*
   * A job's way through its attempts is a chain of steps, each called back when what it waits for is
   * there: #attempt (the gates) -> [#tokenWaited] -> #granted -> #executed -> #decide -> [#backedOff ->
   * #attempt ...] -> #settle. The common waits — a token due later, a simulated attempt's service time, a
   * backoff — are clock wakes, with no promise at all; the general gates (#pass) and a real executor are
   * promises, taken up with `then`. At a million simulated jobs, every promise saved is measured in tenths
   * of seconds, and a run on a ManualClock steps from one instant to the next without a microtask between.
   */

  /** #attempt begins an attempt: through the gates at once if it can (see #passNow), else via #pass. */
  #attempt(run: JobRun<P>): void {
    if (this.#stopped) return this.#settle(run);
    run.attempt++;
    const t = Number.isNaN(run.nowMs) ? this.#clock.now() : run.nowMs;
    // The first attempt's hold counts from arrival: for a traced or scheduled job, that is when it was due,
    // which may lie before the scheduler got to it.
    run.heldFromMs = run.attempt === 1 ? run.arrivalMs : t;
    const waitMs = this.#passNow(run, t);
    if (waitMs === undefined) return this.#passSlowly(run);
    if (waitMs === QUEUED) return;
    // Subtleness: a job of generated load whose token is there at once still waits (0 ms: a microtask)
    // while the feeder is admitting. Starting it there and then would run its executor before the next
    // jobs reserve their tokens, and a slow first request (a connection, code loaded lazily) would push the
    // bucket's whole timeline back, never to be made up.
    if (waitMs <= 0 && !this.#admitting) return this.#granted(run, run.slot, t);
    this.#clock.wake(waitMs, this.#tokenDue, run, this.#stopSignal);
  }

  /** #passSlowly takes the attempt through the general gates (#pass), a promise. */
  #passSlowly(run: JobRun<P>): void {
    this.#pass(run.job).then(
      (slot) => this.#granted(run, slot, this.#clock.now()),
      (err: unknown) => this.#interrupted(run, err),
    );
  }

  /**
   * #slotGranted: the slot #passNow queued for is the attempt's (granted a microtask ago: see #slotDue).
   * The rest is #pass's, from the slot on: a pause that began meanwhile sends the slot back; then the
   * tokens, booked at once when the bucket's queue is open, else taken the general way (#tokenSlowly).
   */
  #slotGranted(run: JobRun<P>, slot: Slot): void {
    const job = run.job;
    if (this.#pausedUntil.size > 0 && this.#paused(job.group ?? '')) {
      slot.release();
      return this.#passSlowly(run);
    }
    const t = this.#clock.now();
    if (this.#o.limiter.limit() === Infinity && this.#planNext === undefined) return this.#granted(run, slot, t);
    if (!this.#turns.open(t)) return this.#tokenSlowly(run, slot);
    const dueMs = this.#book(run, t, job.tokens ?? 1);
    // More tokens than the burst: #token says so.
    if (Number.isNaN(dueMs)) return this.#tokenSlowly(run, slot);
    if (!(dueMs > t)) return this.#granted(run, slot, t);
    run.slot = slot;
    this.#clock.wake(dueMs - t, this.#tokenDue, run, this.#stopSignal);
  }

  /** #tokenSlowly takes the attempt, holding `slot`, through the bucket the general way (#token), as #pass does. */
  #tokenSlowly(run: JobRun<P>, slot: Slot): void {
    this.#token(run.job).then(
      () => {
        // A pause that began during the token wait holds the attempt too; its token stays spent (see #pass).
        if (!this.#paused(run.job.group ?? '')) return this.#granted(run, slot, this.#clock.now());
        slot.release();
        this.#passSlowly(run);
      },
      (err: unknown) => {
        slot.release();
        this.#interrupted(run, err);
      },
    );
  }

  /** #tokenWaited: the tokens #passNow reserved are due; the attempt starts, unless a pause began meanwhile. */
  #tokenWaited(run: JobRun<P>): void {
    this.#turns.next();
    const slot = run.slot!;
    run.bookedN = -1;
    // A pause that began during the wait holds the attempt, its token spent (as in #pass).
    if (this.#paused(run.job.group ?? '')) {
      run.slot = undefined;
      slot.release();
      return this.#passSlowly(run);
    }
    this.#granted(run, slot, this.#clock.now());
  }

  /** #tokenAborted: the run stopped during the token wait; the tokens go back, and the slot. */
  #tokenAborted(run: JobRun<P>, reason: unknown): void {
    const slot = run.slot!;
    run.slot = undefined;
    this.#unbook(run);
    slot.release();
    this.#turns.next();
    this.#interrupted(run, reason);
  }

  /** #granted: the attempt passed the gates at `grantMs` holding `slot` (none: --on-full reject found the cap full). */
  #granted(run: JobRun<P>, slot: Slot | undefined, grantMs: number): void {
    run.nowMs = grantMs;
    run.tried = run.attempt;
    run.throttleMs += Math.max(0, grantMs - run.heldFromMs);
    if (Number.isNaN(run.grantedMs)) run.grantedMs = grantMs;
    if (slot === undefined) {
      run.last = REJECTED;
      return this.#decide(run, false);
    }
    this.#started(run.job, run.attempt, grantMs);
    run.slot = slot;
    run.grantMs = grantMs;
    const ctx = this.#context(run.attempt);
    const executor = this.#executor;
    try {
      if (executor.plan !== undefined) {
        const { ms, outcome } = executor.plan(run.job, ctx);
        run.planned = outcome;
        this.#clock.wake(ms, this.#serviceDone, run, ctx.kill);
      } else {
        executor.execute(run.job, ctx).then(
          (outcome) => this.#executed(run, outcome),
          (err: unknown) => this.#executed(run, this.#crashed(err)),
        );
      }
    } catch (err) {
      this.#executed(run, this.#crashed(err));
    }
  }

  /** #crashed is the outcome of an attempt whose executor threw or rejected: killed, or a bug. */
  #crashed(err: unknown): AttemptOutcome {
    const kill = this.#kill.signal;
    return kill.aborted && err === kill.reason ? KILLED : { ok: false, code: 'error', retryable: false, error: `internal error (a bug): ${String(err)}` };
  }

  /** #executed: the attempt ended with `outcome`; its slot goes back. */
  #executed(run: JobRun<P>, outcome: AttemptOutcome): void {
    const t = this.#clock.now();
    const slot = run.slot!;
    run.slot = undefined;
    run.planned = undefined;
    run.nowMs = t;
    run.last = outcome;
    this.#ended(run.job, run.attempt, slot, outcome, t);
    run.serviceMs += t - run.grantMs;
    if (Number.isNaN(run.startedMs)) run.startedMs = run.grantMs;
    if (this.#o.adaptive !== undefined) this.#adapt(outcome, run.grantMs);
    this.#decide(run, true);
  }

  /** #decide ends the job, or waits out the retry policy's backoff before the next attempt. */
  #decide(run: JobRun<P>, started: boolean): void {
    const last = run.last!;
    if (last.ok) {
      run.status = 'ok';
      return this.#settle(run);
    }
    if (this.#stopped) return this.#settle(run);
    const delayMs = last.retryable ? this.#o.retry.next(run.job.seq, run.attempt, last.retryAfterMs) : undefined;
    if (delayMs === undefined) {
      run.status = started ? 'failed' : 'rejected';
      return this.#settle(run);
    }
    const t = this.#clock.now();
    if (this.events.wanted.retrying > 0) this.events.emit({ type: 'retrying', job: run.job, attempt: run.attempt, delayMs, atMs: t });
    this.#backingOff++;
    this.#roomFreed();
    run.waitFromMs = t;
    this.#clock.wake(delayMs, this.#backoffDone, run, this.#stopSignal);
  }

  /** #backedOff: the backoff is over; the next attempt begins. */
  #backedOff(run: JobRun<P>): void {
    this.#backingOff--;
    const t = this.#clock.now();
    run.nowMs = t;
    run.backoffMs += t - run.waitFromMs;
    this.#attempt(run);
  }

  /**
   * #interrupted ends a job stopped while it waited for a token, a slot or a backoff. Any other error is a
   * bug: the run is killed, and ends with that error once its jobs have unwound.
   */
  #interrupted(run: JobRun<P>, err: unknown): void {
    const stop = this.#stopSignal;
    if (!(stop.aborted && stop.reason === err)) {
      this.#failure ??= { error: err };
      this.kill();
    }
    run.nowMs = NaN;
    this.#settle(run);
  }

  /** #settle finishes the job with its Result. */
  #settle(run: JobRun<P>): void {
    const job = run.job;
    this.#o.retry.forget(job.seq);
    const result = run.result(Number.isNaN(run.nowMs) ? this.#clock.now() : run.nowMs, this.#result);
    // Nothing refers to the run any more: no wait of it is pending. It starts the next job admitted.
    this.#runs.give(run);
    this.#finish(job, result);
  }

  /**
   * #passNow is #pass for the common case, without a promise: wait mode, no pause, no per-key or shared
   * gates. `t` is now (a reading taken since the last wait). With a free slot and nobody queued at the
   * bucket before this job, it takes the slot and books the tokens, holding them in `run.slot` and
   * `run.booked*`, and returns the wait until the tokens are due (0: start now). With every slot taken it
   * queues for one, and with jobs queued at the bucket it takes its turn there: it returns QUEUED, and the
   * attempt goes on when its wait is over. Otherwise it returns undefined having taken nothing, and #pass
   * decides.
   */
  #passNow(run: JobRun<P>, t: number): number | undefined {
    const o = this.#o;
    const job = run.job;
    if (o.onFull !== 'wait' || this.#pausedUntil.size > 0 || this.#perKey !== undefined || this.#perKeyInflight !== undefined || o.shared !== undefined) return undefined;
    const slot = o.inflight.tryAcquire(job.kind);
    if (slot === undefined) {
      // Every slot is taken: the attempt queues for one, and goes on from #slotGranted.
      o.inflight.enqueue(job.kind, this.#stopSignal, this.#slotDue, run);
      return QUEUED;
    }
    const free = o.limiter.limit() === Infinity && this.#planNext === undefined;
    if (!free && !this.#turns.open(t)) {
      // Jobs queue at the bucket before this one: it takes its turn, holding its slot (as #pass does).
      this.#tokenSlowly(run, slot);
      return QUEUED;
    }
    const dueMs = free ? t : this.#book(run, t, job.tokens ?? 1);
    if (Number.isNaN(dueMs)) {
      // More tokens than the burst: #pass says so. No slot was queued for (tryAcquire never overtakes a
      // waiter), so giving it back wakes nobody.
      slot.release();
      return undefined;
    }
    run.slot = slot;
    return dueMs > t ? dueMs - t : 0;
  }

  /**
   * #book takes n tokens from the bucket at `t` (its turn come: see TokenTurns), after the plan's changes
   * due by then, and keeps the booking in `b` to give back should a stop end the wait (#unbook). It returns
   * when the tokens are due (`t` itself when the bucket is unlimited now: nothing is booked), or NaN when
   * refused (n over the burst: nothing is taken).
   */
  #book(b: Booking, t: number, n: number): number {
    if (this.#planNext !== undefined) this.#applyPlan(t);
    const limiter = this.#o.limiter;
    const limit = limiter.limit();
    if (limit === Infinity) return t;
    const dueMs = limiter.book(t, n);
    if (Number.isNaN(dueMs)) return dueMs;
    this.#turns.reserved(dueMs);
    b.bookedN = n;
    b.bookedLimit = limit;
    b.bookedDueMs = dueMs;
    return dueMs;
  }

  /** #unbook gives back the tokens of a booking whose wait a stop ended (once; nothing if none was booked). */
  #unbook(b: Booking): void {
    if (b.bookedN < 0) return;
    const now = this.#clock.now();
    if (this.#planNext !== undefined) this.#applyPlan(now);
    this.#o.limiter.cancelBooking(now, b.bookedN, b.bookedLimit, b.bookedDueMs);
    b.bookedN = -1;
  }

  /**
   * #pass takes an attempt through the gates in the order the mode needs (see the class comment): the
   * job's per-key cap and bucket first, then the shared ones. Resolves to the slot(s), or undefined when
   * `reject` mode found a cap full. Rejects with the stop reason if the run stops meanwhile; nothing is held
   * then.
   */
  async #pass(job: Job<P>): Promise<Slot | undefined> {
    const o = this.#o;
    const stop = this.#stopSignal;
    const group = job.group ?? '';
    const perKey = this.#perKeyInflight;
    for (;;) {
      if (this.#pausedUntil.size > 0) await this.#unpaused(group);
      if (o.onFull === 'reject') {
        await this.#keyToken(job);
        await this.#token(job);
        if (this.#paused(group)) continue;
        const keySlot = perKey?.tryAcquire(this.#limitKey(job));
        if (perKey !== undefined && keySlot === undefined) return undefined;
        const local = o.inflight.tryAcquire(job.kind);
        if (local === undefined) {
          keySlot?.release();
          return undefined;
        }
        let lease: Slot | undefined = local;
        if (o.shared !== undefined) {
          try {
            lease = await o.shared.trySlot(job.kind);
          } catch (err) {
            local.release();
            keySlot?.release();
            throw err;
          }
          lease = lease === undefined ? undefined : both(local, lease);
          if (lease === undefined) local.release();
        }
        if (lease === undefined) keySlot?.release();
        return keySlot === undefined || lease === undefined ? lease : both(lease, keySlot);
      }
      // The key's own gates come first: a job over its key's budget waits there, holding no shared slot.
      const keySlot = perKey === undefined ? undefined : await perKey.acquire(this.#limitKey(job), stop);
      let slot: Slot | undefined;
      try {
        await this.#keyToken(job);
        // A free slot is taken without a promise (tryAcquire never overtakes a queued job).
        slot = o.inflight.tryAcquire(job.kind) ?? (await o.inflight.acquire(job.kind, { signal: stop }));
        if (o.shared !== undefined) slot = both(slot, await o.shared.slot(job.kind, stop));
        if (keySlot !== undefined) slot = both(slot, keySlot);
      } catch (err) {
        slot?.release();
        keySlot?.release();
        throw err;
      }
      // Subtleness: a pause may have begun while this attempt queued for its slot, typically set by the
      // very 429 whose slot it was handed (see #attempt). It gives the slot back and waits the pause out.
      if (this.#paused(group)) {
        slot.release();
        continue;
      }
      try {
        await this.#token(job);
      } catch (err) {
        slot.release();
        throw err;
      }
      // A pause that began during the token wait holds the attempt too; its token stays spent (it was due,
      // so it can no longer be cancelled), as if the request had been sent.
      if (!this.#paused(group)) return slot;
      slot.release();
    }
  }

  /** #limitKey is the key of the job's per-key limits. */
  #limitKey(job: Job<P>): string {
    return job.limitKey ?? this.#o.keyOf?.(job) ?? job.key;
  }

  /** #paused reports whether the group is held by a pause right now. */
  #paused(group: string): boolean {
    const untilMs = this.#pausedUntil.get(group);
    return untilMs !== undefined && untilMs > this.#clock.now();
  }

  /** #pause holds a group's jobs at the gates for `ms` (capped by maxPauseMs); a longer pause wins. */
  #pause(group: string, ms: number): void {
    const capMs = Math.min(ms, this.#o.maxPauseMs ?? 0);
    if (!(capMs > 0)) return;
    const untilMs = this.#clock.now() + capMs;
    if (untilMs > (this.#pausedUntil.get(group) ?? -Infinity)) this.#pausedUntil.set(group, untilMs);
  }

  /** #unpaused waits until the group's pause is over; a pause extended meanwhile is waited out too. */
  async #unpaused(group: string): Promise<void> {
    for (;;) {
      const untilMs = this.#pausedUntil.get(group);
      if (untilMs === undefined) return;
      const waitMs = untilMs - this.#clock.now();
      if (waitMs <= 0) {
        this.#pausedUntil.delete(group);
        return;
      }
      await this.#clock.sleep(waitMs, this.#stopSignal);
    }
  }

  /**
   * #token waits until the shared bucket grants the job's tokens; a stop cancels the reservation (tokens go
   * back). Jobs take their turn at the bucket one after another (see TokenTurns); a job that finds nobody
   * waiting and a token ready passes without a promise.
   */
  async #token(job: Job<P>): Promise<void> {
    const limiter = this.#o.limiter;
    const clock = this.#clock;
    const n = job.tokens ?? 1;
    // An unlimited bucket grants everything at once and keeps no state: skip the reservation.
    if (limiter.limit() === Infinity && this.#planNext === undefined) return this.#sharedToken(n);
    if (!this.#turns.open(clock.now())) {
      await this.#turns.wait();
      this.#turns.taken();
    }
    const t = clock.now();
    const booking: Booking = { bookedN: -1, bookedLimit: 0, bookedDueMs: 0 };
    let dueMs: number;
    try {
      dueMs = this.#book(booking, t, n);
      if (Number.isNaN(dueMs)) throw new RangeError(`job ${job.seq} needs ${n} tokens, more than the burst ${limiter.burst()}`);
    } finally {
      this.#turns.next();
    }
    const delayMs = dueMs > t ? dueMs - t : 0;
    if (delayMs > 0) {
      try {
        await clock.sleep(delayMs, this.#stopSignal);
      } catch (err) {
        this.#unbook(booking);
        throw err;
      } finally {
        this.#turns.next();
      }
    }
    return this.#sharedToken(n);
  }

  /** #keyToken waits until the job's key bucket grants its tokens (with --per-key-rate); a stop gives them back. */
  async #keyToken(job: Job<P>): Promise<void> {
    const keyed = this.#perKey;
    if (keyed === undefined) return;
    const clock = this.#clock;
    const t = clock.now();
    const r = keyed.reserve(this.#limitKey(job), t, job.tokens ?? 1);
    const delayMs = r.delayFrom(t);
    if (delayMs <= 0) return;
    try {
      await clock.sleep(delayMs, this.#stopSignal);
    } catch (err) {
      r.cancelAt(clock.now());
      throw err;
    }
  }

  /** #sharedToken waits for the shared bucket's tokens, if there is one (after the local ones: they are spent). */
  #sharedToken(n: number): Promise<void> | undefined {
    return this.#o.shared?.token(n, this.#stopSignal);
  }

  /** #context is the AttemptContext of an attempt number: the same object for every job's k-th attempt. */
  #context(attempt: number): AttemptContext {
    return (this.#contexts[attempt] ??= { attempt, stop: this.#stopSignal, kill: this.#kill.signal });
  }

  /** #started counts an attempt that passed the gates as running. */
  #started(job: Job<P>, attempt: number, atMs: number): void {
    this.#running++;
    if (this.#running > this.#peakRunning) this.#peakRunning = this.#running;
    if (this.events.wanted.started > 0) this.events.emit({ type: 'started', job, attempt, atMs });
  }

  /** #ended gives an attempt's slot back, and starts the pause its outcome asks for. */
  #ended(job: Job<P>, attempt: number, slot: Slot, outcome: AttemptOutcome, atMs: number): void {
    // Subtleness: the pause starts before the slot is given back. A released slot passes straight to the
    // head waiter, which must already see the pause when it checks (in #pass); set after the release, the
    // pause would race that check and a queued job could reach a target that just said "come back later".
    if (outcome.pauseMs !== undefined) this.#pause(job.group ?? '', outcome.pauseMs);
    slot.release();
    this.#running--;
    if (this.events.wanted.attempted > 0) this.events.emit({ type: 'attempted', job, attempt, outcome, atMs });
  }
}

/** QUEUED is what #passNow returns when the attempt waits for a slot or its turn at the bucket. */
const QUEUED = -1;

/** TURN: a promise already resolved; `TURN.then(f)` runs f one microtask turn from now. */
const TURN: Promise<void> = Promise.resolve();

/** both holds two slots as one: releasing it releases each (once). */
function both(a: Slot, b: Slot): Slot {
  let held = true;
  return {
    release(): void {
      if (!held) return;
      held = false;
      a.release();
      b.release();
    },
  };
}
