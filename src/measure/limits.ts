import type { SchedulerEvent } from '../engine/events.js';
import type { Limits } from '../engine/scheduler.js';

/** LimitChange is one entry of the report's list of changes; times count from the run's start. */
export interface LimitChange {
  readonly atMs: number;
  /** rate in events per second; null when unlimited. */
  readonly rate: number | null;
  readonly burst: number;
  readonly concurrency: number | null;
  readonly reason: string;
}

/** LimitsSummary is the report's `limits` section: how the limits moved over the run. */
export interface LimitsSummary {
  /** rate: first, last, lowest and highest rate in force, and time-weighted means (null: unlimited throughout). */
  readonly rate: {
    readonly initial: number | null;
    readonly final: number | null;
    readonly min: number | null;
    readonly max: number | null;
    /** mean over the whole run, weighted by time. */
    readonly mean: number | null;
    /**
     * converged is the time-weighted mean over the last third of the run: where an adaptive rate settled,
     * the figure to pass as --rate next time.
     */
    readonly converged: number | null;
  };
  readonly concurrency: { readonly initial: number | null; readonly final: number | null; readonly min: number | null; readonly max: number | null };
  /** changes lists plan steps, push-back decreases and --control or signal changes, in order (capped). */
  readonly changes: readonly LimitChange[];
  /** increases counts the small additive climbs of adaptive limits, which are not listed one by one. */
  readonly increases: number;
  /** dropped counts changes left out of `changes` past its cap. */
  readonly dropped: number;
}

const MAX_CHANGES = 500;

/** finite maps the engine's Infinity ("unlimited") to the report's null. */
function finite(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

/**
 * LimitLog is a fold of `limits` events into a LimitsSummary, like Metrics for Results: the rate in force
 * over time (as a step function, for the means), the extremes, and the list of changes worth reading.
 */
export class LimitLog {
  readonly #startMs: number;
  readonly #initial: Limits;
  #current: Limits;
  #minRate: number;
  #maxRate: number;
  #minConc: number;
  #maxConc: number;
  /** The rate's step function: [fromMs, ratePerSec] pairs in time order. */
  readonly #steps: Array<[number, number]> = [];
  readonly #changes: LimitChange[] = [];
  #increases = 0;
  #dropped = 0;

  constructor(initial: Limits, startMs: number) {
    this.#startMs = startMs;
    this.#initial = initial;
    this.#current = initial;
    this.#minRate = this.#maxRate = initial.ratePerSec;
    this.#minConc = this.#maxConc = initial.concurrency;
    this.#steps.push([startMs, initial.ratePerSec]);
  }

  /** add folds one scheduler event in (only `limits` events matter); returns the change when it is listed. */
  add(e: SchedulerEvent): LimitChange | undefined {
    if (e.type !== 'limits') return undefined;
    this.#current = e;
    this.#minRate = Math.min(this.#minRate, e.ratePerSec);
    this.#maxRate = Math.max(this.#maxRate, e.ratePerSec);
    this.#minConc = Math.min(this.#minConc, e.concurrency);
    this.#maxConc = Math.max(this.#maxConc, e.concurrency);
    const last = this.#steps[this.#steps.length - 1]!;
    if (e.atMs <= last[0]) last[1] = e.ratePerSec;
    else if (e.ratePerSec !== last[1]) this.#steps.push([e.atMs, e.ratePerSec]);
    // Adaptive climbs and a ramp's steps are too many to list: climbs are counted, steps show in the extremes.
    if (e.reason === 'success') {
      this.#increases++;
      return undefined;
    }
    if (e.reason === 'ramp') return undefined;
    const change: LimitChange = {
      atMs: Math.round((e.atMs - this.#startMs) * 1000) / 1000,
      rate: finite(e.ratePerSec),
      burst: e.burst,
      concurrency: finite(e.concurrency),
      reason: e.reason,
    };
    if (this.#changes.length < MAX_CHANGES) this.#changes.push(change);
    else this.#dropped++;
    return change;
  }

  /** summary closes the fold at `endMs`. */
  summary(endMs: number): LimitsSummary {
    const round = (n: number | null): number | null => (n === null ? null : Math.round(n * 1000) / 1000);
    return {
      rate: {
        initial: finite(this.#initial.ratePerSec),
        final: finite(this.#current.ratePerSec),
        min: finite(this.#minRate),
        max: finite(this.#maxRate),
        mean: round(this.#mean(this.#startMs, endMs)),
        converged: round(this.#mean(endMs - (endMs - this.#startMs) / 3, endMs)),
      },
      concurrency: { initial: finite(this.#initial.concurrency), final: finite(this.#current.concurrency), min: finite(this.#minConc), max: finite(this.#maxConc) },
      changes: this.#changes,
      increases: this.#increases,
      dropped: this.#dropped,
    };
  }

  /** #mean is the rate's time-weighted mean over [fromMs, toMs]; null when unlimited at any point of it. */
  #mean(fromMs: number, toMs: number): number | null {
    if (!(toMs > fromMs)) return finite(this.#current.ratePerSec);
    let area = 0;
    for (let i = 0; i < this.#steps.length; i++) {
      const [at, rate] = this.#steps[i]!;
      const end = this.#steps[i + 1]?.[0] ?? Infinity;
      const a = Math.max(at, fromMs);
      const b = Math.min(end, toMs);
      if (b <= a) continue;
      if (!Number.isFinite(rate)) return null;
      area += rate * (b - a);
    }
    return area / (toMs - fromMs);
  }
}
