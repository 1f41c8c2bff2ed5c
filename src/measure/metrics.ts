import * as hdr from 'hdr-histogram-js';
import type { Result, Status } from '../engine/types.js';

/** Stats summarises one distribution, in milliseconds. Empty distributions give count 0 and zeros. */
export interface Stats {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** Summary is everything measured about a run: the report of DESIGN.md without its header. */
export interface Summary {
  readonly jobs: {
    readonly total: number;
    readonly succeeded: number;
    readonly failed: number;
    readonly rejected: number;
    readonly interrupted: number;
    /** retried counts jobs that needed more than one attempt. */
    readonly retried: number;
    readonly attempts: number;
  };
  readonly elapsedMs: number;
  readonly throughput: {
    /** offered is arrivals per second over the span from the first arrival to the last; null below two jobs. */
    readonly offered: number | null;
    /** achieved is succeeded jobs per second of the whole run. */
    readonly achieved: number;
    /** attempts is attempts per second of the whole run (what the target saw; compare with the rate). */
    readonly attempts: number;
  };
  readonly latencyMs: Stats;
  readonly throttleMs: Stats;
  readonly backoffMs: Stats;
  readonly serviceMs: Stats;
  readonly inflight: { readonly peak: number };
  /** outcomes counts final codes (exit status, HTTP status or error name); jobs never run count as "none". */
  readonly outcomes: Readonly<Record<string, number>>;
}

/** US_PER_MS: histograms hold whole microseconds, so sub-millisecond latencies keep 3 significant digits. */
const US_PER_MS = 1000;

/** Distribution folds millisecond values into an HDR histogram plus exact count, sum, min and max. */
export class Distribution {
  readonly #h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 2, numberOfSignificantValueDigits: 3, autoResize: true });
  #count = 0;
  #sumMs = 0;
  #minMs = Infinity;
  #maxMs = -Infinity;

  /** add records one value in milliseconds (negative values count as 0). */
  add(valueMs: number): void {
    const v = valueMs > 0 ? valueMs : 0;
    this.#h.recordValue(Math.round(v * US_PER_MS));
    this.#count++;
    this.#sumMs += v;
    if (v < this.#minMs) this.#minMs = v;
    if (v > this.#maxMs) this.#maxMs = v;
  }

  /** percentile returns the value at percentile p (0..100) in ms, never above the exact maximum. */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    return Math.min(this.#h.getValueAtPercentile(p) / US_PER_MS, this.#maxMs);
  }

  get count(): number {
    return this.#count;
  }

  /** histogram exposes the underlying HDR histogram (for .hgrm output). */
  get histogram(): hdr.Histogram {
    return this.#h;
  }

  stats(): Stats {
    if (this.#count === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    return {
      count: this.#count,
      min: round3(this.#minMs),
      mean: round3(this.#sumMs / this.#count),
      p50: round3(this.percentile(50)),
      p90: round3(this.percentile(90)),
      p99: round3(this.percentile(99)),
      p999: round3(this.percentile(99.9)),
      max: round3(this.#maxMs),
    };
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * Metrics is a fold of Results into histograms and counters: `add` each result as it comes, `close` once
 * for the Summary. It keeps no Result, so memory does not grow with the number of jobs.
 */
export class Metrics {
  readonly latency = new Distribution();
  readonly throttle = new Distribution();
  readonly backoff = new Distribution();
  readonly service = new Distribution();
  readonly #status: Record<Status, number> = { ok: 0, failed: 0, rejected: 0, interrupted: 0 };
  readonly #outcomes = new Map<string, number>();
  #total = 0;
  #retried = 0;
  #attempts = 0;
  #firstArrivalMs = Infinity;
  #lastArrivalMs = -Infinity;

  /** add folds one job's result in. */
  add(r: Result): void {
    this.#total++;
    this.#status[r.status]++;
    this.#attempts += r.attempts;
    if (r.attempts > 1) this.#retried++;
    const code = r.code === undefined ? 'none' : String(r.code);
    this.#outcomes.set(code, (this.#outcomes.get(code) ?? 0) + 1);
    if (r.arrivalMs < this.#firstArrivalMs) this.#firstArrivalMs = r.arrivalMs;
    if (r.arrivalMs > this.#lastArrivalMs) this.#lastArrivalMs = r.arrivalMs;
    this.throttle.add(r.throttleMs);
    if (r.status === 'interrupted') return;
    this.latency.add(r.endedMs - r.arrivalMs);
    this.backoff.add(r.backoffMs);
    this.service.add(r.serviceMs);
  }

  /** close returns the summary of everything added; `elapsedMs` is the run's length, `peakInflight` its watermark. */
  close(elapsedMs: number, peakInflight: number): Summary {
    const seconds = elapsedMs / 1000;
    const span = this.#lastArrivalMs - this.#firstArrivalMs;
    const perSecond = (n: number): number => (seconds > 0 ? round3(n / seconds) : 0);
    const outcomes: Record<string, number> = {};
    for (const [code, n] of [...this.#outcomes].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))) outcomes[code] = n;
    return {
      jobs: {
        total: this.#total,
        succeeded: this.#status.ok,
        failed: this.#status.failed,
        rejected: this.#status.rejected,
        interrupted: this.#status.interrupted,
        retried: this.#retried,
        attempts: this.#attempts,
      },
      elapsedMs: round3(elapsedMs),
      throughput: {
        offered: this.#total >= 2 && span > 0 ? round3(((this.#total - 1) * 1000) / span) : null,
        achieved: perSecond(this.#status.ok),
        attempts: perSecond(this.#attempts),
      },
      latencyMs: this.latency.stats(),
      throttleMs: this.throttle.stats(),
      backoffMs: this.backoff.stats(),
      serviceMs: this.service.stats(),
      inflight: { peak: peakInflight },
      outcomes,
    };
  }
}
