/**
 * Aimd is an additive-increase, multiplicative-decrease controller (TCP's congestion window, applied to a
 * rate or an in-flight cap). It starts at its ceiling; a push-back from the target (a 429, a 503, a
 * Retry-After, a refused connection, a retryable exit status) multiplies the value by `decrease`; every
 * success adds `increase / value`, so the value grows by about `increase` per `value` successes — for a
 * rate, `increase` per second while it is being spent; for a cap, one slot per round of `value` jobs.
 *
 * Two refinements keep it from over-reacting:
 * - a push-back from work that was let through before the last decrease says nothing about the new value
 *   (it was sent at the old one) and is ignored, so one overshoot causes one decrease, not one per request
 *   that was already on its way;
 * - with `window` set (rates), a decrease goes no higher than `decrease` × the successes counted over the
 *   last window: starting far above the target's limit, the first decreases land near it in one step
 *   instead of ten halvings.
 * The increase is relative to the value after the last decrease (`increase` × that), so the climb back is
 * as slow for a limit of 5/s as for one of 5000/s, in proportion.
 *
 * Time is a parameter (milliseconds); nothing here reads a clock.
 */
export interface AimdOptions {
  /** ceiling is the highest value and the start (the user's --rate or -j). */
  readonly ceiling: number;
  /** floor is the lowest value (--min-rate, or one slot). */
  readonly floor: number;
  /** decrease multiplies the value on a push-back; default 0.8. */
  readonly decrease?: number;
  /** increase is the climb per `value` successes, as a share of the value after the last decrease; default 0.05. */
  readonly increase?: number;
  /** windowMs turns on the success-rate cap of decreases (for rates); default 0: off. */
  readonly windowMs?: number;
  /** integer rounds the value down for use (in-flight caps); the controller keeps the fraction. */
  readonly integer?: boolean;
}

export class Aimd {
  #ceiling: number;
  readonly floor: number;
  readonly #decrease: number;
  readonly #increase: number;
  readonly #windowMs: number;
  readonly #integer: boolean;
  #value: number;
  /** #base is the value after the last decrease (or the ceiling): increases are a share of it. */
  #base: number;
  #decreasedAtMs = -Infinity;
  /** Successes in the window, as a ring of 10 buckets of windowMs / 10. */
  readonly #buckets: number[] = new Array<number>(10).fill(0);
  #bucketAt = 0;
  #firstMs: number | undefined;

  constructor(o: AimdOptions) {
    if (!(o.floor > 0) || !(o.ceiling >= o.floor) || !Number.isFinite(o.ceiling)) {
      throw new RangeError(`Aimd: need 0 < floor <= ceiling < Infinity, got floor ${o.floor}, ceiling ${o.ceiling}`);
    }
    this.#ceiling = o.ceiling;
    this.floor = o.floor;
    this.#decrease = o.decrease ?? 0.8;
    this.#increase = o.increase ?? 0.05;
    this.#windowMs = o.windowMs ?? 0;
    this.#integer = o.integer === true;
    if (!(this.#decrease > 0 && this.#decrease < 1)) throw new RangeError(`Aimd: decrease must lie in (0, 1), got ${this.#decrease}`);
    this.#value = o.ceiling;
    this.#base = o.ceiling;
  }

  /** ceiling is the highest value the controller may reach. */
  get ceiling(): number {
    return this.#ceiling;
  }

  /** setCeiling moves the ceiling (a --control change); a value above it comes down to it at once. */
  setCeiling(ceiling: number): void {
    if (!(ceiling >= this.floor) || !Number.isFinite(ceiling)) throw new RangeError(`Aimd: the ceiling must be finite and >= the floor ${this.floor}, got ${ceiling}`);
    this.#ceiling = ceiling;
    if (this.#value > ceiling) this.#value = ceiling;
    if (this.#base > ceiling) this.#base = ceiling;
  }

  /** value is the current value to use (whole for caps). */
  value(): number {
    return this.#integer ? Math.max(1, Math.floor(this.#value)) : this.#value;
  }

  /** exact is the current value with its fraction. */
  exact(): number {
    return this.#value;
  }

  /**
   * success records work that succeeded at `t`, and returns whether value() changed.
   */
  success(t: number): boolean {
    this.#count(t);
    if (this.#value >= this.#ceiling) return false;
    const before = this.value();
    this.#value = Math.min(this.#ceiling, this.#value + (this.#increase * this.#base) / this.#value);
    return this.value() !== before;
  }

  /**
   * pushback records that the target pushed back at `t` on work let through at `sentMs`, and returns
   * whether value() changed (it does not when the work was let through before the last decrease).
   */
  pushback(t: number, sentMs: number): boolean {
    this.#count(t, 0);
    if (sentMs < this.#decreasedAtMs) return false;
    const before = this.value();
    let next = this.#value * this.#decrease;
    const accepted = this.#acceptedPerSec(t);
    if (accepted !== undefined) next = Math.min(next, Math.max(accepted, 0) * this.#decrease);
    this.#value = Math.max(this.floor, next);
    this.#base = this.#value;
    this.#decreasedAtMs = t;
    return this.value() !== before;
  }

  /** #count adds n successes at t to the window's ring, clearing the buckets time has left behind. */
  #count(t: number, n = 1): void {
    if (this.#windowMs <= 0) return;
    this.#firstMs ??= t;
    const bucketMs = this.#windowMs / 10;
    const at = Math.floor(t / bucketMs);
    if (at > this.#bucketAt) {
      for (let b = this.#bucketAt + 1; b <= Math.min(at, this.#bucketAt + 10); b++) this.#buckets[b % 10] = 0;
      this.#bucketAt = at;
    }
    this.#buckets[at % 10]! += n;
  }

  /** #acceptedPerSec is the success rate over the last window, once the controller has seen a whole one. */
  #acceptedPerSec(t: number): number | undefined {
    if (this.#windowMs <= 0 || this.#firstMs === undefined || t - this.#firstMs < this.#windowMs) return undefined;
    let sum = 0;
    for (const n of this.#buckets) sum += n;
    // The ring covers nine whole buckets and the current one as far as it has gone.
    const bucketMs = this.#windowMs / 10;
    const coveredMs = 9 * bucketMs + Math.max(0, t - this.#bucketAt * bucketMs);
    return (sum * 1000) / coveredMs;
  }
}
