import type { Clock } from './clock.js';
import { InflightLimiter, type Slot } from './inflight.js';
import { Limiter, type Reservation } from './limiter.js';

/**
 * KeyedLimiters holds one token bucket per key, created on first use. A bucket that has refilled to its
 * burst is indistinguishable from a new one, so such buckets are dropped whenever the map doubles: memory
 * follows the keys active within about burst / rate, not every key ever seen (a million distinct keys that
 * each come once cost a map of at most a few thousand buckets at a time).
 */
export class KeyedLimiters {
  readonly #limiters = new Map<string, Limiter>();
  readonly #ratePerSec: number;
  readonly #burst: number;
  readonly #clock: Clock | undefined;
  #sweepAt = 1024;

  constructor(ratePerSec: number, burst: number, clock?: Clock) {
    this.#ratePerSec = ratePerSec;
    this.#burst = burst;
    this.#clock = clock;
  }

  /** size is how many buckets are held right now. */
  get size(): number {
    return this.#limiters.size;
  }

  /** reserve takes n tokens at t from the key's bucket; throws when n exceeds the per-key burst. */
  reserve(key: string, t: number, n: number): Reservation {
    let limiter = this.#limiters.get(key);
    if (limiter === undefined) {
      if (this.#limiters.size >= this.#sweepAt) this.#sweep(t);
      limiter = new Limiter(this.#ratePerSec, this.#burst, this.#clock === undefined ? {} : { clock: this.#clock });
      this.#limiters.set(key, limiter);
    }
    const r = limiter.reserveN(t, n);
    if (!r.ok) throw new RangeError(`key "${key}" needs ${n} tokens, more than the per-key burst ${this.#burst}`);
    return r;
  }

  /** tokensAt returns the tokens of the key's bucket at t; a key without a bucket has a full one. */
  tokensAt(key: string, t: number): number {
    return this.#limiters.get(key)?.tokensAt(t) ?? this.#burst;
  }

  #sweep(t: number): void {
    for (const [key, limiter] of this.#limiters) if (limiter.tokensAt(t) >= this.#burst) this.#limiters.delete(key);
    this.#sweepAt = Math.max(1024, 2 * this.#limiters.size);
  }
}

/**
 * KeyedInflight caps the work in flight per key: one FIFO in-flight pool per key, created on first use and
 * dropped as soon as it is idle again (nothing held, nobody queued), so memory follows the keys in flight.
 */
export class KeyedInflight {
  readonly #pools = new Map<string, InflightLimiter>();
  readonly #limit: number;
  /** queued counts acquires waiting in any key's pool. */
  #queued = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** size is how many keys have work in flight or queued. */
  get size(): number {
    return this.#pools.size;
  }

  /** queued is how many acquires wait, over all keys. */
  queued(): number {
    return this.#queued;
  }

  /** tryAcquire takes a slot of the key's pool if one is free and nobody queues; else undefined. */
  tryAcquire(key: string): Slot | undefined {
    const pool = this.#pool(key);
    const slot = pool.tryAcquire();
    if (slot === undefined) {
      this.#drop(key, pool);
      return undefined;
    }
    return this.#wrap(key, pool, slot);
  }

  /** acquire queues for a slot of the key's pool; an abort rejects with the signal's reason, holding nothing. */
  async acquire(key: string, signal?: AbortSignal): Promise<Slot> {
    const pool = this.#pool(key);
    const now = pool.tryAcquire();
    if (now !== undefined) return this.#wrap(key, pool, now);
    this.#queued++;
    try {
      return this.#wrap(key, pool, await pool.acquire(undefined, signal === undefined ? {} : { signal }));
    } catch (err) {
      this.#drop(key, pool);
      throw err;
    } finally {
      this.#queued--;
    }
  }

  #pool(key: string): InflightLimiter {
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new InflightLimiter({ limit: this.#limit });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  #wrap(key: string, pool: InflightLimiter, slot: Slot): Slot {
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        slot.release();
        this.#drop(key, pool);
      },
    };
  }

  /** #drop forgets an idle pool (a new one would behave the same). */
  #drop(key: string, pool: InflightLimiter): void {
    if (pool.inFlight() === 0 && pool.queued() === 0 && this.#pools.get(key) === pool) this.#pools.delete(key);
  }
}
