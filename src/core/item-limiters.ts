import type { Limiter } from './limiter.js';

/**
 * ItemRateLimiter decides how long an item waits before its next retry: client-go's workqueue
 * RateLimiter. Items are Map keys (SameValueZero: objects by identity, `1` and `"1"` differ).
 */
export interface ItemRateLimiter<T> {
  /** when records one more failure of `item` and returns the delay in ms before retrying it (may be Infinity). */
  when(item: T): number;
  /** forget drops what is known about `item`, after it succeeded or was given up on. */
  forget(item: T): void;
  /** numRequeues returns how many failures of `item` are recorded. */
  numRequeues(item: T): number;
}

/** Go's longest Duration, MaxInt64 nanoseconds, in ms: backoffs beyond it are treated as overflow. */
const MAX_DURATION_MS = 9223372036854.775807;

/**
 * ExponentialFailureLimiter delays an item `baseDelayMs × 2^k` after its k-th recorded failure (k from 0),
 * capped at `maxDelayMs`: with base 5 ms, 5, 10, 20, … A backoff that would overflow Go's Duration (~292
 * years) is `maxDelayMs`, so thousands of failures stay capped instead of becoming Infinity or NaN. A base of
 * 0 always gives 0; a max below the base caps every delay at the max (Go's min). client-go's
 * ItemExponentialFailureRateLimiter.
 */
export class ExponentialFailureLimiter<T> implements ItemRateLimiter<T> {
  readonly #failures = new Map<T, number>();
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;

  constructor(baseDelayMs: number, maxDelayMs: number) {
    this.#baseDelayMs = checkDelay('ExponentialFailureLimiter', 'baseDelayMs', baseDelayMs);
    this.#maxDelayMs = checkDelay('ExponentialFailureLimiter', 'maxDelayMs', maxDelayMs);
  }

  /** when counts a failure of `item` and returns base × 2^(failures before this one), capped at the max. */
  when(item: T): number {
    const k = this.#failures.get(item) ?? 0;
    this.#failures.set(item, k + 1);
    // 0 × 2^1024 would be 0 × Infinity = NaN; Go returns garbage there, we return the obvious 0.
    if (this.#baseDelayMs === 0) return 0;
    // Go truncates the float to whole ns; its base is whole ns, so base × 2^k already is and JS need not.
    const backoffMs = this.#baseDelayMs * 2 ** k;
    if (backoffMs > MAX_DURATION_MS) return this.#maxDelayMs;
    return Math.min(backoffMs, this.#maxDelayMs);
  }

  /** forget resets `item`'s failure count to 0. */
  forget(item: T): void {
    this.#failures.delete(item);
  }

  /** numRequeues returns `item`'s failure count. */
  numRequeues(item: T): number {
    return this.#failures.get(item) ?? 0;
  }
}

/**
 * FastSlowLimiter retries an item after `fastDelayMs` for its first `maxFastAttempts` failures, then after
 * `slowDelayMs`: with (5 ms, 10 s, 3), 5, 5, 5 ms, then 10 s every time. client-go's
 * ItemFastSlowRateLimiter.
 */
export class FastSlowLimiter<T> implements ItemRateLimiter<T> {
  readonly #failures = new Map<T, number>();
  readonly #fastDelayMs: number;
  readonly #slowDelayMs: number;
  readonly #maxFastAttempts: number;

  constructor(fastDelayMs: number, slowDelayMs: number, maxFastAttempts: number) {
    this.#fastDelayMs = checkDelay('FastSlowLimiter', 'fastDelayMs', fastDelayMs);
    this.#slowDelayMs = checkDelay('FastSlowLimiter', 'slowDelayMs', slowDelayMs);
    if (!Number.isInteger(maxFastAttempts) || maxFastAttempts < 0) {
      throw new RangeError(`FastSlowLimiter: maxFastAttempts must be an integer >= 0, got ${maxFastAttempts}`);
    }
    this.#maxFastAttempts = maxFastAttempts;
  }

  /** when counts a failure of `item` and returns the fast delay while the count is <= maxFastAttempts, else the slow one. */
  when(item: T): number {
    // The count is raised first, so the maxFastAttempts-th failure is still fast.
    const n = (this.#failures.get(item) ?? 0) + 1;
    this.#failures.set(item, n);
    return n <= this.#maxFastAttempts ? this.#fastDelayMs : this.#slowDelayMs;
  }

  /** forget resets `item`'s failure count to 0. */
  forget(item: T): void {
    this.#failures.delete(item);
  }

  /** numRequeues returns `item`'s failure count. */
  numRequeues(item: T): number {
    return this.#failures.get(item) ?? 0;
  }
}

/**
 * BucketLimiter spaces retries of all items together through one shared token bucket: each `when` reserves
 * one token and returns that reservation's delay. The token is spent even if the retry never happens (no
 * cancel), items are not told apart (`numRequeues` is 0, `forget` does nothing), and a bucket that can
 * never grant a token (finite limit, burst 0) gives Infinity. client-go's BucketRateLimiter.
 */
export class BucketLimiter<T> implements ItemRateLimiter<T> {
  readonly #limiter: Limiter;

  constructor(limiter: Limiter) {
    this.#limiter = limiter;
  }

  /** when reserves one token from the shared bucket and returns how long until it may be used. */
  when(_item: T): number {
    return this.#limiter.reserve().delay();
  }

  /** forget does nothing: the bucket is shared and its tokens are not given back. */
  forget(_item: T): void {}

  /** numRequeues returns 0: the bucket keeps no per-item count. */
  numRequeues(_item: T): number {
    return 0;
  }
}

/**
 * MaxOfLimiter combines limiters: `when` asks every member (so each records the failure) and returns the
 * longest delay, 0 with no members. client-go's MaxOfRateLimiter; its DefaultControllerRateLimiter is
 * `new MaxOfLimiter(new ExponentialFailureLimiter(5, 1_000_000), new BucketLimiter(new Limiter(10, 100)))`.
 * Mixed with a bucket, the bucket's burst can appear exceeded when other members delay some items longer.
 */
export class MaxOfLimiter<T> implements ItemRateLimiter<T> {
  readonly #limiters: readonly ItemRateLimiter<T>[];

  constructor(...limiters: ItemRateLimiter<T>[]) {
    this.#limiters = limiters;
  }

  /** when calls every member's `when` and returns the largest delay (0 with no members). */
  when(item: T): number {
    let delayMs = 0;
    for (const l of this.#limiters) {
      const d = l.when(item);
      if (d > delayMs) delayMs = d;
    }
    return delayMs;
  }

  /** forget forwards to every member. */
  forget(item: T): void {
    for (const l of this.#limiters) l.forget(item);
  }

  /** numRequeues returns the largest count among the members (0 with no members). */
  numRequeues(item: T): number {
    let n = 0;
    for (const l of this.#limiters) {
      const k = l.numRequeues(item);
      if (k > n) n = k;
    }
    return n;
  }
}

function checkDelay(type: string, name: string, ms: number): number {
  if (!(ms >= 0)) throw new RangeError(`${type}: ${name} must be a number of ms >= 0, got ${ms}`);
  return ms;
}
