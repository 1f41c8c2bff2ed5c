import { ExponentialFailureLimiter, type ItemRateLimiter } from './item-limiters.js';

/**
 * Jitter spreads retries out (AWS's names): `none` waits the full delay d, `full` a uniform time in
 * [0, d), `equal` d/2 plus a uniform time in [0, d/2).
 */
export type Jitter = 'none' | 'full' | 'equal';

const JITTERS: readonly Jitter[] = ['none', 'full', 'equal'];

export interface RetryPolicyOptions<T = unknown> {
  /** retries is the most extra attempts after the first (0 = never retry; Infinity = no budget). */
  retries: number;
  /** baseDelayMs seeds the default exponential limiter: the first retry waits this long before jitter. */
  baseDelayMs: number;
  /** maxDelayMs caps every delay, Retry-After included. Finite. */
  maxDelayMs: number;
  /** jitter applies to the computed backoff, not to a server's Retry-After. Default `none`. */
  jitter?: Jitter | undefined;
  /** random returns a number in [0, 1); injectable for determinism. Default Math.random. */
  random?: (() => number) | undefined;
  /** limiter computes the backoff per item. Default `new ExponentialFailureLimiter(baseDelayMs, maxDelayMs)`. */
  limiter?: ItemRateLimiter<T> | undefined;
}

/**
 * RetryPolicy decides whether a failed attempt is retried and after how long.
 *
 * Model: an item gets at most `1 + retries` attempts. After each failed attempt the per-item limiter is
 * asked for the backoff (`when`, so it counts the failure; with the default limiter the k-th retry waits
 * `baseDelayMs × 2^(k-1)`), the backoff is capped at `maxDelayMs` (an Infinity from a bucket limiter
 * included) and jittered. A server's Retry-After, when the caller passes one, replaces the jittered backoff:
 * it is the server's word on when to come back, so it is honoured as given, only clamped to
 * [0, maxDelayMs]. A delay is never NaN and never above `maxDelayMs`. Call `forget` once an item succeeds
 * or is given up on, or the limiter keeps its count.
 */
export class RetryPolicy<T = unknown> {
  readonly retries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly jitter: Jitter;
  readonly #random: () => number;
  readonly #limiter: ItemRateLimiter<T>;

  constructor(options: RetryPolicyOptions<T>) {
    const { retries, baseDelayMs, maxDelayMs } = options;
    if (!(retries === Infinity || (Number.isInteger(retries) && retries >= 0))) {
      throw new RangeError(`RetryPolicy: retries must be an integer >= 0 or Infinity, got ${retries}`);
    }
    if (!(baseDelayMs >= 0)) throw new RangeError(`RetryPolicy: baseDelayMs must be >= 0, got ${baseDelayMs}`);
    if (!(maxDelayMs >= 0 && maxDelayMs < Infinity)) {
      throw new RangeError(`RetryPolicy: maxDelayMs must be a finite number >= 0, got ${maxDelayMs}`);
    }
    const jitter = options.jitter ?? 'none';
    if (!JITTERS.includes(jitter)) {
      throw new RangeError(`RetryPolicy: jitter must be one of none, full, equal, got ${String(jitter)}`);
    }
    this.retries = retries;
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.jitter = jitter;
    this.#random = options.random ?? Math.random;
    this.#limiter = options.limiter ?? new ExponentialFailureLimiter<T>(baseDelayMs, maxDelayMs);
  }

  /**
   * next decides, after failed attempt number `attempt` (1-based) of `item`, the delay in ms before the
   * next attempt, or undefined when no attempt is left (attempt > retries). `retryAfterMs`, a server's
   * already-parsed Retry-After, replaces the backoff; NaN counts as not given.
   */
  next(item: T, attempt: number, retryAfterMs?: number): number | undefined {
    if (!(Number.isInteger(attempt) && attempt >= 1)) {
      throw new RangeError(`RetryPolicy.next: attempt must be an integer >= 1, got ${attempt}`);
    }
    if (attempt > this.retries) return undefined;
    // Asked even when Retry-After wins: the limiter's count (and a bucket's token) must follow every retry.
    const backoffMs = this.#limiter.when(item);
    if (retryAfterMs !== undefined && !Number.isNaN(retryAfterMs)) return clamp(retryAfterMs, this.maxDelayMs);
    // A custom limiter's NaN is treated as "as long as allowed"; Infinity from a bucket is capped the same way.
    const cappedMs = Number.isNaN(backoffMs) ? this.maxDelayMs : clamp(backoffMs, this.maxDelayMs);
    return clamp(applyJitter(cappedMs, this.jitter, this.#random), this.maxDelayMs);
  }

  /** forget clears `item`'s failure count in the limiter; call it after success or final failure. */
  forget(item: T): void {
    this.#limiter.forget(item);
  }
}

/**
 * applyJitter spreads `delayMs` by `jitter` (see {@link Jitter}) using `random`, expected in [0, 1); a value
 * outside is clamped into [0, 1] (NaN to 0), so the result always lies in [0, delayMs]. Infinity stays
 * Infinity; a negative or NaN delay is a RangeError.
 */
export function applyJitter(delayMs: number, jitter: Jitter, random: () => number): number {
  if (!(delayMs >= 0)) throw new RangeError(`applyJitter: delayMs must be >= 0, got ${delayMs}`);
  switch (jitter) {
    case 'none':
      return delayMs;
    case 'full':
      if (delayMs === Infinity) return delayMs;
      return unit(random()) * delayMs;
    case 'equal': {
      if (delayMs === Infinity) return delayMs;
      // min: with subnormal delays half × 2 can round above delayMs.
      const halfMs = delayMs / 2;
      return Math.min(delayMs, halfMs + unit(random()) * halfMs);
    }
    default:
      throw new RangeError(`applyJitter: jitter must be one of none, full, equal, got ${String(jitter)}`);
  }
}

function unit(r: number): number {
  if (!(r >= 0)) return 0;
  return r > 1 ? 1 : r;
}

function clamp(ms: number, maxMs: number): number {
  if (!(ms > 0)) return 0;
  return ms > maxMs ? maxMs : ms;
}
