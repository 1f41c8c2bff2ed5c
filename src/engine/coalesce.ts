import { type Clock, systemClock } from '../core/clock.js';
import type { RetryPolicy } from '../core/retry.js';
import { BoundedFrequencyRunner } from '../core/runner.js';
import type { AttemptOutcome, Executor } from './types.js';

/**
 * RunReason says why a run started: it serves triggers, it is the `runOnStart` run, the retry of a failed
 * run came due, or `maxIntervalMs` passed without one.
 */
export type RunReason = 'trigger' | 'start' | 'retry' | 'periodic';

/** CoalescedRun is one run of the command, as it starts. */
export interface CoalescedRun {
  /** seq numbers runs from 1. */
  readonly seq: number;
  readonly reason: RunReason;
  /** attempt is 1, or 1 + the failed runs right before this one (whatever started it, it is their retry). */
  readonly attempt: number;
  /** triggersMs are the arrival times of the triggers this run serves: those that came since the last start. */
  readonly triggersMs: readonly number[];
  readonly startedMs: number;
}

/** CoalesceEvent is what a Coalescer announces; reporters and output subscribe, the Coalescer prints nothing. */
export type CoalesceEvent =
  | { readonly type: 'started'; readonly run: CoalescedRun }
  | {
      readonly type: 'finished';
      readonly run: CoalescedRun;
      readonly outcome: AttemptOutcome;
      readonly endedMs: number;
      /** retryInMs: the retry asked of the runner after a failure; undefined after a success or with none left. */
      readonly retryInMs: number | undefined;
      /** gaveUp: the run failed and no retry follows (none left, none configured, or not retryable). */
      readonly gaveUp: boolean;
    };

export type CoalesceListener = (event: CoalesceEvent) => void;

export interface CoalescerOptions {
  /** minIntervalMs, maxIntervalMs and burstRuns are the BoundedFrequencyRunner's (maxIntervalMs 0: none). */
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly burstRuns: number;
  /** retry decides whether and when a failed run is tried again; undefined: never. Its item is always 0. */
  readonly retry?: RetryPolicy<number> | undefined;
  /** runOnStart asks for one run as soon as run() begins, before any trigger. */
  readonly runOnStart?: boolean | undefined;
  /**
   * drain: after end(), keep going until no run is owed (default). false: stop at end(), leaving
   * triggers not yet served unserved (a run in progress still finishes).
   */
  readonly drain?: boolean | undefined;
  readonly clock?: Clock | undefined;
}

/** CoalesceOutcome is how a Coalescer's run() ended. */
export interface CoalesceOutcome {
  readonly runs: number;
  /** lastOk is whether the last run succeeded; undefined when nothing ran. */
  readonly lastOk: boolean | undefined;
  /** received counts the triggers taken; unserved those no run started after. */
  readonly received: number;
  readonly unserved: number;
  /** stopped is true when stop() or kill() ended it rather than the end of the input. */
  readonly stopped: boolean;
}

/** RETRY_ITEM: a Coalescer runs one thing, so its retry policy keeps one failure count, under this key. */
const RETRY_ITEM = 0;

/**
 * Coalescer turns a stream of triggers into runs of one job, at a bounded frequency: the policy behind
 * `throttle coalesce`. A {@link BoundedFrequencyRunner} decides when runs happen; the Coalescer decides
 * what each run serves and what a failure leads to.
 *
 * The model: {@link Coalescer.trigger} records a trigger's arrival and asks the runner for a run. A run
 * serves every trigger that arrived before it started and since the previous run started, so any
 * number of triggers that arrive while a run is owed (pending, deferred by `minIntervalMs`, or waiting
 * behind a running one) coalesce into that one run, and none is lost: a trigger at t is served by the
 * first run that starts at or after t. A trigger that arrives while a run is running therefore causes
 * exactly one more run after it (the runner keeps the request, and serializes runs). Up to `burstRuns`
 * runs start back to back, then at most one per `minIntervalMs` (a run that has to wait for it starts
 * `minIntervalMs` after the previous one ended), and one starts at least every `maxIntervalMs` (when
 * that is not 0 or Infinity).
 *
 * A failed run asks the retry policy for a delay (the k-th failure in a row is attempt k) and hands it
 * to the runner's retryAfter: the retry is a run like any other (it passes the bucket and serves the
 * triggers that came meanwhile), and a trigger before it is due serves as the retry. A success, or a
 * failure with no retry left, resets the count, so the next trigger starts with a fresh budget.
 *
 * Ending: {@link Coalescer.end} says no more triggers will come; with `drain` (the default), run()
 * resolves once no run is owed (triggers unserved, the start run, a retry due) and none is running.
 * {@link Coalescer.stop} stops at once: no trigger is taken and no run started any more, and run()
 * resolves when the running one (if any) ends. {@link Coalescer.kill} also aborts the running one's
 * `kill` signal.
 */
export class Coalescer<P> {
  readonly #executor: Executor<P>;
  readonly #payload: P;
  readonly #retry: RetryPolicy<number> | undefined;
  readonly #drain: boolean;
  readonly #runOnStart: boolean;
  readonly #clock: Clock;
  readonly #runner: BoundedFrequencyRunner;
  readonly #loop = new AbortController();
  readonly #stop = new AbortController();
  readonly #kill = new AbortController();
  #listeners: CoalesceListener[] = [];

  /** Arrival times of the triggers no run has started after yet. */
  #pendingMs: number[] = [];
  #received = 0;
  #runs = 0;
  /** #failures counts failed runs in a row that still have a retry coming. */
  #failures = 0;
  #startOwed = false;
  #retryOwed = false;
  #running = false;
  #ended = false;
  #lastOk: boolean | undefined;
  #error: { err: unknown } | undefined;

  /**
   * constructor makes an idle Coalescer that runs `payload` on `executor`. The interval arguments are
   * checked by the runner (a RangeError naming the argument).
   */
  constructor(executor: Executor<P>, payload: P, options: CoalescerOptions) {
    this.#executor = executor;
    this.#payload = payload;
    this.#retry = options.retry;
    this.#drain = options.drain ?? true;
    this.#runOnStart = options.runOnStart === true;
    this.#clock = options.clock ?? systemClock;
    this.#runner = new BoundedFrequencyRunner('coalesce', () => this.#runOnce(), options.minIntervalMs, options.maxIntervalMs, options.burstRuns, {
      clock: this.#clock,
      // Executors report failures as outcomes; what reaches here is a listener's or executor's bug. It
      // must not be swallowed by the runner: end the loop and let run() reject with it.
      onError: (err) => {
        this.#error ??= { err };
        this.#loop.abort();
      },
    });
  }

  /** on subscribes a listener and returns a function that unsubscribes it. A listener that throws ends run(). */
  on(listener: CoalesceListener): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** received counts the triggers taken so far. */
  get received(): number {
    return this.#received;
  }

  /** pending counts the triggers taken that no run has started after yet. */
  get pending(): number {
    return this.#pendingMs.length;
  }

  /** stopping is true once stop() or kill() was called. */
  get stopping(): boolean {
    return this.#stop.signal.aborted;
  }

  /**
   * trigger records one trigger at the clock's now and asks for a run. Returns false, taking nothing,
   * once end(), stop() or kill() was called.
   */
  trigger(): boolean {
    if (this.#ended || this.stopping) return false;
    this.#received++;
    this.#pendingMs.push(this.#clock.now());
    this.#runner.run();
    return true;
  }

  /** end says no trigger will come any more: run() resolves once nothing is owed (or at once without drain). */
  end(): void {
    this.#ended = true;
    this.#finishIfDone();
  }

  /** stop takes no more triggers and starts no more runs; a running one finishes. */
  stop(): void {
    if (!this.#stop.signal.aborted) this.#stop.abort();
    this.#loop.abort();
  }

  /** kill is stop, and the running run's `kill` signal aborts (a command gets SIGKILL). */
  kill(): void {
    this.stop();
    if (!this.#kill.signal.aborted) this.#kill.abort();
  }

  /** run runs the loop until the input ended and nothing is owed (see the class), or until stop(). */
  async run(): Promise<CoalesceOutcome> {
    if (this.#runOnStart && !this.stopping) {
      this.#startOwed = true;
      this.#runner.run();
    }
    this.#finishIfDone();
    await this.#runner.loop(this.#loop.signal);
    if (this.#error !== undefined) throw this.#error.err;
    return {
      runs: this.#runs,
      lastOk: this.#lastOk,
      received: this.#received,
      unserved: this.#pendingMs.length,
      stopped: this.stopping,
    };
  }

  /** #owed says whether a run is still owed: triggers not yet served, the start run, or a retry. */
  #owed(): boolean {
    return this.#pendingMs.length > 0 || this.#startOwed || this.#retryOwed;
  }

  /** #finishIfDone ends the loop once the input has ended and, when draining, nothing is owed or running. */
  #finishIfDone(): void {
    if (!this.#ended) return;
    if (!this.#drain || (!this.#running && !this.#owed())) this.#loop.abort();
  }

  #emit(event: CoalesceEvent): void {
    for (const l of this.#listeners) l(event);
  }

  /** #runOnce is the runner's fn: one run, serving the triggers that came since the last start. */
  async #runOnce(): Promise<void> {
    // The runner may have had a run requested before stop(); a stopped Coalescer starts nothing.
    if (this.stopping) return;
    const startedMs = this.#clock.now();
    const triggersMs = this.#pendingMs;
    this.#pendingMs = [];
    const reason: RunReason = triggersMs.length > 0 ? 'trigger' : this.#retryOwed ? 'retry' : this.#startOwed ? 'start' : 'periodic';
    this.#startOwed = false;
    this.#retryOwed = false;
    const run: CoalescedRun = { seq: ++this.#runs, reason, attempt: this.#failures + 1, triggersMs, startedMs };
    this.#running = true;
    try {
      this.#emit({ type: 'started', run });
      const outcome = await this.#executor.execute(
        { seq: run.seq - 1, key: `run ${run.seq}`, payload: this.#payload },
        { attempt: run.attempt, stop: this.#stop.signal, kill: this.#kill.signal },
      );
      this.#lastOk = outcome.ok;
      let retryInMs: number | undefined;
      if (outcome.ok) {
        this.#failures = 0;
        this.#retry?.forget(RETRY_ITEM);
      } else {
        this.#failures++;
        retryInMs = outcome.retryable ? this.#retry?.next(RETRY_ITEM, this.#failures, outcome.retryAfterMs) : undefined;
        if (retryInMs === undefined) {
          // Given up: the next run (a trigger, a periodic one) starts a fresh count.
          this.#failures = 0;
          this.#retry?.forget(RETRY_ITEM);
        } else if (!this.stopping) {
          this.#retryOwed = true;
          // Asked from inside fn: the runner folds it into its timer after this run re-arms it.
          this.#runner.retryAfter(retryInMs);
        }
      }
      this.#emit({ type: 'finished', run, outcome, endedMs: this.#clock.now(), retryInMs, gaveUp: !outcome.ok && retryInMs === undefined });
    } finally {
      this.#running = false;
      this.#finishIfDone();
    }
  }
}
