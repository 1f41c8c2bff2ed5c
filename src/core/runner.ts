import { type Clock, systemClock } from './clock.js';
import { Limiter, every } from './limiter.js';

/** Options of a {@link BoundedFrequencyRunner}. */
export interface BoundedFrequencyRunnerOptions {
  /** clock the runner waits on and stamps runs with; {@link systemClock} by default. */
  clock?: Clock;
  /**
   * onError receives whatever `fn` throws or rejects with; the loop goes on either way. By default
   * errors are swallowed (the core does no I/O): pass a hook to log or count them. If the hook itself
   * throws, `loop()` rejects with that error.
   */
  onError?: (err: unknown) => void;
}

/**
 * The shortest deferral of a refused run (1 ns, Go's time resolution). A refused run is never re-armed
 * for "now": that would be a zero-delay hot loop (with a ManualClock, one that never yields to the
 * event loop).
 */
const MIN_DEFER_MS = 1e-6;

/**
 * BoundedFrequencyRunner runs a function on demand, but never more often than a minimum interval
 * allows and never less often than a maximum interval requires. It is a port of Kubernetes' legacy
 * `pkg/util/async` runner (semantics.md §3).
 *
 * The model: {@link BoundedFrequencyRunner.run} asks for a run "as soon as allowed"; a token bucket
 * decides whether that is now. The bucket refills one run per `minIntervalMs` up to `burstRuns`, and
 * starts full, so after a quiet spell up to `burstRuns` runs happen back to back. A refused request is
 * not lost but deferred to `minIntervalMs` after the last run finished (or the earlier periodic
 * deadline); any number of requests made while one is pending coalesce into that one run. Every run
 * re-arms a periodic deadline `maxIntervalMs` after it ends, so an idle runner still runs that often
 * (the first periodic run is `maxIntervalMs` after `loop()` starts, not at once).
 * {@link BoundedFrequencyRunner.retryAfter} pulls the next run earlier, still through the bucket.
 * In any window of W ms at most `burstRuns + W / minIntervalMs` runs start.
 *
 * Runs are serialized: `fn` is never re-entered. Runs happen only while
 * {@link BoundedFrequencyRunner.loop} is running: start it first, abort its signal to stop.
 *
 * Special values: `minIntervalMs` 0 means no rate limit at all (then `burstRuns` is ignored, and an
 * fn that calls run() itself runs back to back without yielding to timers); `maxIntervalMs` `Infinity`
 * or 0 means no periodic runs, only requested ones (0 is read as "none", as the CLI's
 * `--max-interval 0`, rather than Go's panic or, with `minIntervalMs` 0 too, a continuous loop).
 */
export class BoundedFrequencyRunner {
  readonly name: string;
  readonly #fn: () => void | Promise<void>;
  readonly #minIntervalMs: number;
  /** Infinity when there are no periodic runs. */
  readonly #maxIntervalMs: number;
  readonly #bucket: Limiter;
  readonly #clock: Clock;
  readonly #onError: (err: unknown) => void;

  /** When the last run finished; -Infinity before the first. */
  #lastRunMs = -Infinity;
  /** The one timer: when the loop next tries to run (a periodic, deferred or retry deadline). */
  #timerAtMs = Infinity;
  /** One slot: further run() calls while it is set are folded into it. */
  #runRequested = false;
  /** The earliest pending retryAfter() deadline, not yet folded into the timer. */
  #retryAtMs: number | undefined;
  /** Wakes the loop from its sleep; set only while it sleeps. */
  #wake: (() => void) | undefined;
  #looping = false;

  get #where(): string {
    return `BoundedFrequencyRunner ${JSON.stringify(this.name)}`;
  }

  /**
   * constructor makes an idle runner of `fn`; nothing runs before loop() is called, and `name` only
   * labels error messages. Preconditions, each checked with a RangeError that names the argument:
   * `minIntervalMs` is a finite number >= 0; `maxIntervalMs` is >= `minIntervalMs`, or 0 or Infinity
   * for no periodic runs; `burstRuns` is an integer, at least 1 when `minIntervalMs > 0` (a bucket of
   * 0 would never run).
   */
  constructor(
    name: string,
    fn: () => void | Promise<void>,
    minIntervalMs: number,
    maxIntervalMs: number,
    burstRuns: number,
    options: BoundedFrequencyRunnerOptions = {},
  ) {
    const where = `BoundedFrequencyRunner ${JSON.stringify(name)}`;
    if (!(Number.isFinite(minIntervalMs) && minIntervalMs >= 0)) {
      throw new RangeError(`${where}: minIntervalMs must be a finite number >= 0, got ${minIntervalMs}`);
    }
    if (!(maxIntervalMs >= 0)) {
      throw new RangeError(
        `${where}: maxIntervalMs must be a number >= 0 (0 or Infinity: no periodic runs), got ${maxIntervalMs}`,
      );
    }
    const periodMs = maxIntervalMs === 0 ? Infinity : maxIntervalMs;
    if (periodMs < minIntervalMs) {
      throw new RangeError(`${where}: maxIntervalMs (${maxIntervalMs}) must be >= minIntervalMs (${minIntervalMs})`);
    }
    if (!Number.isInteger(burstRuns) || burstRuns < (minIntervalMs > 0 ? 1 : 0)) {
      throw new RangeError(`${where}: burstRuns must be an integer >= 1, got ${burstRuns}`);
    }
    this.name = name;
    this.#fn = fn;
    this.#minIntervalMs = minIntervalMs;
    this.#maxIntervalMs = periodMs;
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? (() => {});
    // every(0) is Inf: an unlimited bucket admits everything, whatever its burst.
    this.#bucket = new Limiter(every(minIntervalMs), burstRuns, { clock: this.#clock });
  }

  /**
   * loop runs the runner until `signal` aborts, then resolves (after a run in progress finishes; none
   * is started once the signal has aborted). It waits on the clock between runs, never polls. It rejects
   * if another loop() of this runner is still running. After it returns, loop may be called again; the
   * bucket and the last run time carry over.
   */
  async loop(signal: AbortSignal): Promise<void> {
    if (this.#looping) throw new Error(`${this.#where}: loop is already running`);
    this.#looping = true;
    const onAbort = (): void => this.#wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      this.#timerAtMs = this.#clock.now() + this.#maxIntervalMs;
      while (!signal.aborted) {
        const nowMs = this.#clock.now();
        // A pending retry is folded into the timer first, so that a retry requested from inside fn
        // survives the timer reset that follows that run (Go: the retry channel is read after tryRun).
        if (this.#retryAtMs !== undefined) {
          if (this.#retryAtMs < this.#timerAtMs) this.#timerAtMs = this.#retryAtMs;
          this.#retryAtMs = undefined;
        } else if (this.#runRequested || nowMs >= this.#timerAtMs) {
          this.#runRequested = false;
          await this.#tryRun(nowMs);
        } else {
          await this.#sleepUntil(this.#timerAtMs, nowMs);
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#looping = false;
    }
  }

  /**
   * run requests a run as soon as the bucket allows, at the latest `minIntervalMs` after the last run.
   * It never blocks and never calls fn itself; calls made while a request is pending coalesce into one
   * run. A request made while loop() is not running waits for the next loop().
   */
  run(): void {
    this.#runRequested = true;
    this.#wake?.();
  }

  /**
   * retryAfter asks for a run no later than `ms` from now (negative counts as 0), for instance from
   * inside a failed fn. It only ever pulls the next run earlier; the earliest of several pending
   * retries wins, and any run before it makes it moot (a run re-arms the timer). The retry still goes
   * through the bucket, so it respects `minIntervalMs`. Throws a RangeError if `ms` is NaN.
   */
  retryAfter(ms: number): void {
    if (Number.isNaN(ms)) throw new RangeError(`${this.#where}: retryAfter ms must be a number, got NaN`);
    const atMs = this.#clock.now() + Math.max(0, ms);
    if (this.#retryAtMs !== undefined && this.#retryAtMs < atMs) return;
    this.#retryAtMs = atMs;
    this.#wake?.();
  }

  /** tryRun runs fn if the bucket has a token at `nowMs`, or else re-arms the timer for the next chance. */
  async #tryRun(nowMs: number): Promise<void> {
    if (this.#bucket.allowN(nowMs, 1)) {
      const fn = this.#fn;
      try {
        await fn();
      } catch (err) {
        this.#onError(err);
      }
      // Stamped after fn, as in Go: minIntervalMs is measured from the end of a run to the next start.
      this.#lastRunMs = this.#clock.now();
      this.#timerAtMs = this.#lastRunMs + this.#maxIntervalMs;
      return;
    }
    // As in Go: the next chance is the earlier of minIntervalMs after the last run ended and the pending
    // deadline (periodic, retry or an earlier deferral).
    const nextPossibleMs = this.#minIntervalMs - (nowMs - this.#lastRunMs);
    const nextScheduledMs = this.#timerAtMs - nowMs;
    let delayMs = Math.min(nextPossibleMs, nextScheduledMs);
    if (!(delayMs > 0)) {
      // Go re-arms its timer for "now" here and spins until the bucket admits a run. That happens when
      // the deadline that fired is sooner than the bucket allows (a retryAfter shorter than
      // minIntervalMs), or when float residue in the refill refuses a run at lastRun + minIntervalMs
      // exactly (semantics §3.4). With a ManualClock the spin would never yield; go straight to the
      // instant the bucket has a token again.
      delayMs = (1 - this.#bucket.tokensAt(nowMs)) * this.#minIntervalMs;
    }
    // Never re-arm for "now": at least 1 ns, and at least one ulp of nowMs so that the time moves even
    // at epoch-sized clock values.
    this.#timerAtMs = nowMs + Math.max(delayMs, MIN_DEFER_MS, Math.abs(nowMs) * Number.EPSILON);
  }

  /** sleepUntil waits until `atMs` on the clock, or until run(), retryAfter() or the loop's abort wakes it. */
  async #sleepUntil(atMs: number, nowMs: number): Promise<void> {
    const wake = new AbortController();
    this.#wake = () => wake.abort();
    try {
      if (atMs === Infinity) {
        // No timer at all (no periodic runs): never hand Infinity to the clock.
        await new Promise<void>((resolve) => {
          wake.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      } else {
        await this.#clock.sleep(atMs - nowMs, wake.signal);
      }
    } catch (err) {
      if (!wake.signal.aborted) throw err;
    } finally {
      this.#wake = undefined;
    }
  }
}
