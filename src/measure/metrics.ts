import type * as hdr from 'hdr-histogram-js';
// The package's index also loads its WebAssembly build (about 80 ms at start-up); the plain JS histogram is
// all this needs, so it is imported on its own.
import Int32HistogramModule from 'hdr-histogram-js/dist/Int32Histogram.js';

const Int32Histogram = Int32HistogramModule.default;
import type { Result } from '../engine/types.js';

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
    /**
     * offered is arrivals per second over the span from the first arrival to the last; null below two jobs,
     * or when every job arrived at one instant.
     */
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

/**
 * Recording into the HDR histogram costs a log2, a pow and a division per value; a Distribution instead
 * counts values in an array laid out exactly as the histogram's own counts (3 significant digits, unit 1:
 * 2048 sub-buckets, each further bucket twice as wide), indexed with integer operations, and hands the counts
 * over when the histogram is read. The histogram that comes out is the one recording each value would have
 * made: same counts, and its min and max are the exact values (they are recorded one by one).
 */
const SUB_BUCKETS = 2048;
const HALF_MAGNITUDE = 10;
/** FAST_LIMIT: values from here on (35 minutes, in µs) go to the histogram directly. */
const FAST_LIMIT = 2 ** 31;

/** countsIndex is where the HDR histogram counts an integer value below FAST_LIMIT. */
function countsIndex(v: number): number {
  if (v < SUB_BUCKETS) return v;
  const bucket = 31 - Math.clz32(v) - HALF_MAGNITUDE;
  return (bucket << HALF_MAGNITUDE) + (v >>> bucket);
}

/** lowestValueAt is the smallest value counted at a counts index (the inverse of countsIndex). */
function lowestValueAt(i: number): number {
  if (i < SUB_BUCKETS) return i;
  const bucket = (i >> HALF_MAGNITUDE) - 1;
  return (i - (bucket << HALF_MAGNITUDE)) * 2 ** bucket;
}

/** Distribution folds millisecond values into an HDR histogram plus exact count, sum, min and max. */
export class Distribution {
  readonly #h = newHistogram();
  /** #positive counts the values above 0; #sumMs, #minMs and #maxMs are theirs. */
  #positive = 0;
  #sumMs = 0;
  #minMs = Infinity;
  #maxMs = -Infinity;
  /**
   * Values of 0 or less (most throttle and backoff values) are only counted: #zeros of them since the last
   * flush, #zerosFlushed before it.
   */
  #zeros = 0;
  #zerosFlushed = 0;
  /**
   * Counts of positive values not yet handed to #h, by counts index; the largest index is #pendingTop.
   * 32-bit, as the histogram's own counts are: half the memory of doubles, and fewer cache misses per add.
   */
  #pending = new Uint32Array(4 * SUB_BUCKETS);
  #pendingTop = 0;
  /** The exact extremes among the pending positive values, in µs (-1 / Infinity when none are pending). */
  #pendingMaxUs = -1;
  #pendingMinNonZeroUs = Infinity;

  /**
   * add records one value in milliseconds (negative values count as 0). It is kept small, the counting in
   * a method of its own that takes whole microseconds: the engine then compiles it into its caller, and
   * the value, a number with a fraction, is never passed to a call (where it would be an object of its own).
   */
  add(valueMs: number): void {
    if (!(valueMs > 0)) {
      this.#zeros++;
      return;
    }
    this.#positive++;
    this.#sumMs += valueMs;
    if (valueMs < this.#minMs) this.#minMs = valueMs;
    if (valueMs > this.#maxMs) this.#maxMs = valueMs;
    this.#count(Math.round(valueMs * US_PER_MS));
  }

  /** #count counts a positive value, in whole microseconds, in its histogram bucket. */
  #count(us: number): void {
    if (!(us < FAST_LIMIT)) return this.#h.recordValue(us);
    const i = countsIndex(us);
    if (i >= this.#pending.length) this.#grow(i);
    this.#pending[i]!++;
    if (i > this.#pendingTop) this.#pendingTop = i;
    if (us > this.#pendingMaxUs) this.#pendingMaxUs = us;
    if (us < this.#pendingMinNonZeroUs && us > 0) this.#pendingMinNonZeroUs = us;
  }

  #grow(i: number): void {
    let n = this.#pending.length;
    while (n <= i) n *= 2;
    const grown = new Uint32Array(n);
    grown.set(this.#pending);
    this.#pending = grown;
  }

  /** #flush hands the pending counts to the histogram: the extremes as themselves, the rest as their bucket. */
  #flush(): void {
    const h = this.#h;
    if (this.#zeros > 0) {
      h.recordValueWithCount(0, this.#zeros);
      this.#zerosFlushed += this.#zeros;
      this.#zeros = 0;
    }
    // Nothing pending (values from FAST_LIMIT on went to the histogram directly).
    if (this.#pendingMaxUs < 0) return;
    const pending = this.#pending;
    const maxUs = this.#pendingMaxUs;
    const minUs = this.#pendingMinNonZeroUs;
    pending[countsIndex(maxUs)]!--;
    h.recordValue(maxUs);
    if (minUs < maxUs) {
      pending[countsIndex(minUs)]!--;
      h.recordValue(minUs);
    }
    // The counts go straight to the histogram's own (the same index: the same layout), bar the first at a
    // value above 0, recorded as such: that also moves the histogram's minimum as recording each would.
    let direct = 0;
    let first = true;
    for (let i = 0; i <= this.#pendingTop; i++) {
      const n = pending[i]!;
      if (n === 0) continue;
      pending[i] = 0;
      if (first && i > 0) {
        first = false;
        h.recordValueWithCount(lowestValueAt(i), n);
      } else {
        h.addToCountAtIndex(i, n);
        direct += n;
      }
    }
    h.addToTotalCount(direct);
    this.#pendingTop = 0;
    this.#pendingMaxUs = -1;
    this.#pendingMinNonZeroUs = Infinity;
  }

  /** percentile returns the value at percentile p (0..100) in ms, never above the exact maximum. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    this.#flush();
    return Math.min(this.#h.getValueAtPercentile(p) / US_PER_MS, this.#max());
  }

  get count(): number {
    return this.#positive + this.#zeros + this.#zerosFlushed;
  }

  /** histogram exposes the underlying HDR histogram (for .hgrm output). */
  get histogram(): hdr.Histogram {
    this.#flush();
    return this.#h;
  }

  /** #min and #max are the exact extremes, a value of 0 or less counting as 0. */
  #min(): number {
    return this.#zeros + this.#zerosFlushed > 0 ? 0 : this.#minMs;
  }

  #max(): number {
    return this.#positive > 0 ? this.#maxMs : 0;
  }

  stats(): Stats {
    const count = this.count;
    if (count === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    return {
      count,
      min: round3(this.#min()),
      mean: round3(this.#sumMs / count),
      p50: round3(this.percentile(50)),
      p90: round3(this.percentile(90)),
      p99: round3(this.percentile(99)),
      p999: round3(this.percentile(99.9)),
      max: round3(this.#max()),
    };
  }
}

/** newHistogram makes an auto-resizing histogram of whole microseconds with 3 significant digits. */
function newHistogram(): InstanceType<typeof Int32Histogram> {
  const h = new Int32Histogram(1, 2, 3);
  h.autoResize = true;
  return h;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** TimelineBucket is what happened to the jobs that arrived in one slice of the run. */
export interface TimelineBucket {
  /** startMs is where the slice starts: 0 for the first, which holds the first arrival; then every bucketMs. */
  readonly startMs: number;
  readonly count: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly rejected: number;
  /** latency over the slice's jobs that finished (interrupted jobs have none); 0 when none did. */
  readonly latencyMeanMs: number;
  readonly latencyMaxMs: number;
  /** throttle over all the slice's jobs; 0 when the slice is empty. */
  readonly throttleMeanMs: number;
  readonly throttleMaxMs: number;
}

interface Cell {
  count: number;
  succeeded: number;
  failed: number;
  rejected: number;
  finished: number;
  latencySumMs: number;
  latencyMaxMs: number;
  throttleSumMs: number;
  throttleMaxMs: number;
}

function emptyCell(): Cell {
  return { count: 0, succeeded: 0, failed: 0, rejected: 0, finished: 0, latencySumMs: 0, latencyMaxMs: 0, throttleSumMs: 0, throttleMaxMs: 0 };
}

/**
 * HAIR: how much of a bucket's width, relative to the magnitudes in its bounds, Timeline's fast path leaves
 * to the exact arithmetic at each end: far more than the rounding of a subtraction and a division.
 */
const HAIR = 1e-12;

/** fold counts a result in its timeline cell. */
function fold(c: Cell, r: Result): void {
  c.count++;
  const status = r.status;
  if (status === 'ok') c.succeeded++;
  else if (status === 'failed') c.failed++;
  else if (status === 'rejected') c.rejected++;
  const throttle = Math.max(0, r.throttleMs);
  c.throttleSumMs += throttle;
  c.throttleMaxMs = Math.max(c.throttleMaxMs, throttle);
  if (status === 'interrupted') return;
  const latency = Math.max(0, r.endedMs - r.arrivalMs);
  c.finished++;
  c.latencySumMs += latency;
  c.latencyMaxMs = Math.max(c.latencyMaxMs, latency);
}

function mergeInto(into: Cell, c: Cell): void {
  into.count += c.count;
  into.succeeded += c.succeeded;
  into.failed += c.failed;
  into.rejected += c.rejected;
  into.finished += c.finished;
  into.latencySumMs += c.latencySumMs;
  into.latencyMaxMs = Math.max(into.latencyMaxMs, c.latencyMaxMs);
  into.throttleSumMs += c.throttleSumMs;
  into.throttleMaxMs = Math.max(into.throttleMaxMs, c.throttleMaxMs);
}

/**
 * Timeline folds Results into time buckets by arrival, with bounded memory: buckets start 100 ms wide, and
 * whenever more than 600 would exist, neighbours are merged pairwise and the width doubles.
 *
 * Subtleness ahead! Results come in completion order, so the first one added need not have arrived first.
 * The grid is anchored at the first added result's arrival: bucket i covers [anchor + i·w, anchor + (i+1)·w),
 * and i may be negative. Merging maps i to floor(i / 2), which is exactly the bucket of width 2w, so a
 * merged timeline equals one built at the wider width from the start. `buckets()` reports starts from the
 * start of the first bucket, which holds the earliest arrival: exactly at it when the earliest result was
 * folded first (results in arrival order), else up to one width before it.
 */
export class Timeline {
  static readonly INITIAL_BUCKET_MS = 100;
  static readonly MAX_BUCKETS = 600;
  #bucketMs = Timeline.INITIAL_BUCKET_MS;
  #anchorMs: number | undefined;
  /** #firstIndex is the grid index of #cells[0]. */
  #firstIndex = 0;
  #cells: Cell[] = [];
  /**
   * The cell last folded into, and arrivals that surely belong to it: [#lastFromMs, #lastToMs), its bucket
   * less a hair at each end, where the bucket's own arithmetic (a division, floored) can only agree. Results
   * come nearly in arrival order, so most land in the cell the one before did, and skip that arithmetic.
   */
  #last: Cell | undefined;
  #lastFromMs = Infinity;
  #lastToMs = -Infinity;

  /** bucketMs is the current bucket width. */
  get bucketMs(): number {
    return this.#bucketMs;
  }

  /** add folds one result into the bucket of its arrival (results with a non-finite arrival are skipped). */
  add(r: Result): void {
    const arrivalMs = r.arrivalMs;
    const last = this.#last;
    if (last !== undefined && arrivalMs >= this.#lastFromMs && arrivalMs < this.#lastToMs) return fold(last, r);
    if (!Number.isFinite(arrivalMs)) return;
    const anchor = (this.#anchorMs ??= arrivalMs);
    let i = Math.floor((arrivalMs - anchor) / this.#bucketMs);
    if (i - this.#firstIndex >= 0 && i - this.#firstIndex < this.#cells.length) {
      // The bucket is there already: the common case, nothing to grow.
    } else if (this.#cells.length === 0) {
      this.#firstIndex = i;
      this.#cells.push(emptyCell());
    } else {
      while (Math.max(i, this.#firstIndex + this.#cells.length - 1) - Math.min(i, this.#firstIndex) + 1 > Timeline.MAX_BUCKETS) {
        this.#halve();
        i = Math.floor((r.arrivalMs - anchor) / this.#bucketMs);
      }
      if (i < this.#firstIndex) {
        this.#cells.unshift(...Array.from({ length: this.#firstIndex - i }, emptyCell));
        this.#firstIndex = i;
      }
      while (i >= this.#firstIndex + this.#cells.length) this.#cells.push(emptyCell());
    }
    const c = this.#cells[i - this.#firstIndex]!;
    const w = this.#bucketMs;
    const hair = (Math.abs(anchor) + (Math.abs(i) + 1) * w) * HAIR;
    this.#last = c;
    this.#lastFromMs = anchor + i * w + hair;
    this.#lastToMs = anchor + (i + 1) * w - hair;
    fold(c, r);
  }

  /** #halve merges neighbours pairwise (grid index i goes to floor(i / 2)) and doubles the width. */
  #halve(): void {
    this.#last = undefined;
    const first = Math.floor(this.#firstIndex / 2);
    const cells: Cell[] = [];
    this.#cells.forEach((c, k) => {
      const at = Math.floor((this.#firstIndex + k) / 2) - first;
      mergeInto((cells[at] ??= emptyCell()), c);
    });
    this.#cells = cells;
    this.#firstIndex = first;
    this.#bucketMs *= 2;
  }

  /** buckets returns every bucket from the first arrival's to the last one's, empty ones included. */
  buckets(): TimelineBucket[] {
    return this.#cells.map((c, k) => ({
      startMs: k * this.#bucketMs,
      count: c.count,
      succeeded: c.succeeded,
      failed: c.failed,
      rejected: c.rejected,
      latencyMeanMs: c.finished > 0 ? round3(c.latencySumMs / c.finished) : 0,
      latencyMaxMs: round3(c.latencyMaxMs),
      throttleMeanMs: c.count > 0 ? round3(c.throttleSumMs / c.count) : 0,
      throttleMaxMs: round3(c.throttleMaxMs),
    }));
  }
}

/**
 * RunData is what the detailed reporters (histogram text, hgrm, html) need besides the Summary. The
 * histograms are the Distributions' own and hold whole microseconds; `bucketMs` is the timeline's width.
 */
export interface RunData {
  readonly summary: Summary;
  readonly histograms: {
    readonly latency: hdr.Histogram;
    readonly throttle: hdr.Histogram;
    readonly backoff: hdr.Histogram;
    readonly service: hdr.Histogram;
  };
  readonly timeline: readonly TimelineBucket[];
  readonly bucketMs: number;
}

/**
 * Metrics is a fold of Results into histograms, counters and a timeline: `add` each result as it comes, then
 * `close` once for the Summary, or `data` for the Summary with the histograms and timeline behind it. It keeps
 * no Result, so memory does not grow with the number of jobs.
 */
export class Metrics {
  readonly latency = new Distribution();
  readonly throttle = new Distribution();
  readonly backoff = new Distribution();
  readonly service = new Distribution();
  readonly timeline = new Timeline();
  /** Jobs by status: fields, not a record indexed by the status (this runs once per job). */
  #ok = 0;
  #failed = 0;
  #rejected = 0;
  #interrupted = 0;
  /** #outcomes counts final codes as they come (numbers and names), turned into text once, for the summary. */
  readonly #outcomes = new Map<number | string | undefined, number>();
  #runCode: number | string | undefined;
  #runCount = 0;
  #total = 0;
  #retried = 0;
  #attempts = 0;
  #firstArrivalMs = Infinity;
  #lastArrivalMs = -Infinity;

  /** add folds one job's result in. */
  add(r: Result): void {
    this.#total++;
    const status = r.status;
    if (status === 'ok') this.#ok++;
    else if (status === 'failed') this.#failed++;
    else if (status === 'rejected') this.#rejected++;
    else this.#interrupted++;
    this.#attempts += r.attempts;
    if (r.attempts > 1) this.#retried++;
    // Codes come in runs (thousands of 200s): a run is counted in a field and handed to the map when it ends.
    if (r.code === this.#runCode && this.#runCount > 0) this.#runCount++;
    else {
      this.#endRun();
      this.#runCode = r.code;
      this.#runCount = 1;
    }
    if (r.arrivalMs < this.#firstArrivalMs) this.#firstArrivalMs = r.arrivalMs;
    if (r.arrivalMs > this.#lastArrivalMs) this.#lastArrivalMs = r.arrivalMs;
    // A value of 0 (or less) goes as the literal 0: a small integer, where a number with a fraction passed
    // to a method that is not built into this one is an object of its own (most throttle and backoff
    // values are 0).
    const throttleMs = r.throttleMs;
    if (throttleMs > 0) this.throttle.add(throttleMs);
    else this.throttle.add(0);
    this.timeline.add(r);
    if (status === 'interrupted') return;
    this.latency.add(r.endedMs - r.arrivalMs);
    const backoffMs = r.backoffMs;
    if (backoffMs > 0) this.backoff.add(backoffMs);
    else this.backoff.add(0);
    this.service.add(r.serviceMs);
  }

  #endRun(): void {
    if (this.#runCount === 0) return;
    this.#outcomes.set(this.#runCode, (this.#outcomes.get(this.#runCode) ?? 0) + this.#runCount);
    this.#runCount = 0;
  }

  /** close returns the summary of everything added; `elapsedMs` is the run's length, `peakInflight` its watermark. */
  close(elapsedMs: number, peakInflight: number): Summary {
    const seconds = elapsedMs / 1000;
    const span = this.#lastArrivalMs - this.#firstArrivalMs;
    const perSecond = (n: number): number => (seconds > 0 ? round3(n / seconds) : 0);
    const outcomes: Record<string, number> = {};
    this.#endRun();
    const byName = new Map<string, number>();
    for (const [code, n] of this.#outcomes) {
      const name = code === undefined ? 'none' : String(code);
      byName.set(name, (byName.get(name) ?? 0) + n);
    }
    for (const [code, n] of [...byName].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))) outcomes[code] = n;
    return {
      jobs: {
        total: this.#total,
        succeeded: this.#ok,
        failed: this.#failed,
        rejected: this.#rejected,
        interrupted: this.#interrupted,
        retried: this.#retried,
        attempts: this.#attempts,
      },
      elapsedMs: round3(elapsedMs),
      throughput: {
        offered: this.#total >= 2 && span > 0 ? round3(((this.#total - 1) * 1000) / span) : null,
        achieved: perSecond(this.#ok),
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

  /** data returns the summary (as `close` does) with the histograms and the timeline, for detailed reports. */
  data(elapsedMs: number, peakInflight: number): RunData {
    return {
      summary: this.close(elapsedMs, peakInflight),
      histograms: { latency: this.latency.histogram, throttle: this.throttle.histogram, backoff: this.backoff.histogram, service: this.service.histogram },
      timeline: this.timeline.buckets(),
      bucketMs: this.timeline.bucketMs,
    };
  }
}
