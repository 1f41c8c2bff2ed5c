/**
 * RateWindow measures how often something happens over the last few seconds: a ring of `slots` counters,
 * each covering `windowMs / slots` milliseconds counted from `startMs`. `add` is O(1) however many events
 * arrive (thousands per second are fine); `rateAt` is O(slots).
 *
 * The window read at `t` is the current, partly elapsed slot plus the `slots - 1` whole slots before it,
 * cut at `startMs`: so it spans between `windowMs - slotMs` and `windowMs`, and less early in the run. The
 * rate divides by at least one slot's length, so the first events of a run do not read as a huge rate.
 * Times are on one clock and expected in (roughly) increasing order; an event older than the window is
 * dropped.
 */
export class RateWindow {
  readonly #startMs: number;
  readonly #slotMs: number;
  /** #ids[i] is the slot number whose events #counts[i] holds; -1 when never used. */
  readonly #ids: Float64Array;
  readonly #counts: Float64Array;

  constructor(startMs: number, windowMs = 5000, slots = 10) {
    if (!(windowMs > 0) || !Number.isInteger(slots) || slots < 1) {
      throw new RangeError(`RateWindow: need windowMs > 0 and an integer slots >= 1, got ${windowMs} and ${slots}`);
    }
    this.#startMs = startMs;
    this.#slotMs = windowMs / slots;
    this.#ids = new Float64Array(slots).fill(-1);
    this.#counts = new Float64Array(slots);
  }

  /** add counts `n` events at time `t`. */
  add(t: number, n = 1): void {
    const k = this.#slot(t);
    const i = k % this.#ids.length;
    const id = this.#ids[i]!;
    if (id > k) return; // older than the window
    if (id < k) {
      this.#ids[i] = k;
      this.#counts[i] = 0;
    }
    this.#counts[i]! += n;
  }

  /** rateAt returns events per second over the window that ends at `t`. */
  rateAt(t: number): number {
    const k = this.#slot(t);
    const lo = k - this.#ids.length + 1;
    let count = 0;
    for (let i = 0; i < this.#ids.length; i++) {
      const id = this.#ids[i]!;
      if (id >= lo && id <= k) count += this.#counts[i]!;
    }
    const fromMs = Math.max(this.#startMs, this.#startMs + lo * this.#slotMs);
    const spanMs = Math.max(t - fromMs, this.#slotMs);
    return (count * 1000) / spanMs;
  }

  #slot(t: number): number {
    return Math.max(0, Math.floor((t - this.#startMs) / this.#slotMs));
  }
}
