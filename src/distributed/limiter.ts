import type { Redis } from 'ioredis';
import { type Clock, systemClock } from '../core/clock.js';
import type { WaitOptions } from '../core/limiter.js';
import { SCRIPTS, type SharedConfig, configArgs, keysOf } from './scripts.js';

/** DEFAULT_IDLE_MS: a budget's keys expire once unused this long (after its bucket would be full again). */
export const DEFAULT_IDLE_MS = 60_000;

export interface RedisLimiterOptions {
  /**
   * limit (tokens per second, or Infinity) and burst are this caller's config. The config lives with the
   * key: they apply only while the key has none (it is new, or expired); otherwise the key's own config
   * wins, and {@link RedisLimiter.setLimit} / {@link RedisLimiter.setBurst} change it for every sharer.
   */
  readonly limit: number;
  readonly burst: number;
  /** idleMs: the keys expire once unused this long after the bucket is full again (default 60 s). */
  readonly idleMs?: number | undefined;
  /** clock: what the caller sleeps on, and what `deadline` is measured on (default systemClock). */
  readonly clock?: Clock | undefined;
}

/**
 * RedisLimiter is the token bucket of {@link Limiter} (golang.org/x/time/rate: rate, burst, initially
 * full, reserve with a delay, cancel gives tokens back) kept in Redis under a key, so that every process
 * using the same Redis and key shares one budget. Every call is one Lua script (one round trip), atomic,
 * and timed by Redis's clock, never the callers'. A wait reserves the tokens and then sleeps here for the
 * delay Redis computed: callers sleep, they do not poll.
 *
 * The methods are the Limiter's, made asynchronous and without a time argument (the time is Redis's).
 * Errors from Redis (unreachable, failing) reject the call; nothing is retried here. The client is the
 * caller's (ioredis); RedisLimiter never closes it.
 */
export class RedisLimiter {
  /** key is the name of the shared budget. */
  readonly key: string;
  readonly #redis: Redis;
  readonly #stateKey: readonly [string];
  readonly #config: [string, string, string];
  readonly #idleMs: number;
  readonly #clock: Clock;

  constructor(redis: Redis, key: string, options: RedisLimiterOptions) {
    checkKey('RedisLimiter', key);
    const { limit, burst } = options;
    if (typeof limit !== 'number' || !(limit > 0)) throw new RangeError(`RedisLimiter: limit must be a number of events per second > 0, or Inf, got ${limit}`);
    if (!Number.isInteger(burst) || burst < 0) throw new RangeError(`RedisLimiter: burst must be an integer >= 0, got ${burst}`);
    this.key = key;
    this.#redis = redis;
    this.#stateKey = [keysOf(key).state];
    this.#config = configArgs({ ratePerSec: limit, burst });
    this.#idleMs = checkIdle('RedisLimiter', options.idleMs);
    this.#clock = options.clock ?? systemClock;
  }

  /** allow reports whether one event may happen now, taking its token if so. */
  allow(): Promise<boolean> {
    return this.allowN(1);
  }

  /** allowN reports whether n events may happen now, taking their tokens if so; a refusal changes nothing. */
  async allowN(n: number): Promise<boolean> {
    checkN('allowN', n);
    return (await this.#reserve(n, 0)).ok;
  }

  /** reserve books one token: `reserveN(1)`. */
  reserve(): Promise<RedisReservation> {
    return this.reserveN(1);
  }

  /**
   * reserveN books n tokens and says when they may be used: the holder waits `delay()` and acts, or
   * cancels. Refused (`ok` false) only when n exceeds the key's burst with a finite rate.
   */
  reserveN(n: number): Promise<RedisReservation> {
    checkN('reserveN', n);
    return this.#reserve(n, Infinity);
  }

  /** wait takes one token, sleeping until it is there: `waitN(1, options)`. */
  wait(options?: WaitOptions): Promise<void> {
    return this.waitN(1, options);
  }

  /**
   * waitN takes n tokens: one round trip reserves them, then it sleeps for the delay Redis gave. It rejects,
   * consuming nothing, when n exceeds the key's burst, when the signal is already aborted, or when the wait
   * would pass the deadline (ms on the limiter's clock). If the signal aborts during the sleep, the
   * reservation is cancelled (in the background) and waitN rejects with the signal's reason.
   */
  async waitN(n: number, options: WaitOptions = {}): Promise<void> {
    checkN('waitN', n);
    const { signal, deadline } = options;
    signal?.throwIfAborted();
    const maxWaitMs = deadline === undefined ? Infinity : Math.max(0, deadline - this.#clock.now());
    // The hot path: no Reservation object, and no sleep when Redis says the tokens are there now.
    const [ok, waitUs, third] = await this.#call(n, maxWaitMs);
    const grantedMs = this.#clock.now();
    if (ok !== 1) {
      throw n > third
        ? new RangeError(`waitN: n (${n}) exceeds the burst (${third}) of the shared budget "${this.key}"`)
        : new Error(`waitN(n=${n}): the wait for the shared budget "${this.key}" would pass the deadline`);
    }
    try {
      // The grant may have landed after an abort: the tokens are ours, but the caller gave up.
      signal?.throwIfAborted();
      if (waitUs > 0) await this.#clock.sleep(waitUs / 1000 - (this.#clock.now() - grantedMs), signal);
    } catch (err) {
      this.#cancel(n, third).catch(() => undefined);
      throw err;
    }
  }

  /** setLimit changes the rate for every process sharing the key (tokens earned so far are kept). */
  async setLimit(limit: number): Promise<void> {
    if (typeof limit !== 'number' || !(limit > 0)) throw new RangeError(`setLimit: limit must be > 0 or Inf, got ${limit}`);
    await configure(this.#redis, this.key, { ratePerSec: limit }, this.#idleMs);
  }

  /** setBurst changes the capacity for every process sharing the key. */
  async setBurst(burst: number): Promise<void> {
    if (!Number.isInteger(burst) || burst < 0) throw new RangeError(`setBurst: burst must be an integer >= 0, got ${burst}`);
    await configure(this.#redis, this.key, { burst }, this.#idleMs);
  }

  /** config returns the key's config (after filling in this limiter's rate and burst if it had none). */
  async config(): Promise<SharedConfig> {
    return (await readConfig(this.#redis, this.key, this.#config, this.#idleMs)).config;
  }

  #reserve(n: number, maxWaitMs: number): Promise<RedisReservation> {
    return this.#call(n, maxWaitMs).then(([ok, waitUs, third]) => {
      if (ok !== 1) return new RedisReservation(false, Infinity, Infinity, third, this.#clock, NO_CANCEL);
      return new RedisReservation(true, waitUs / 1000, third / 1000, undefined, this.#clock, () => this.#cancel(n, third));
    });
  }

  /** #call runs the reserve script: {1, waitUs, timeToActUs} when granted, {0, waitUs, burst} when not. */
  #call(n: number, maxWaitMs: number): Promise<[number, number, number]> {
    const [rate, burst, cap] = this.#config;
    return SCRIPTS.reserve.run(this.#redis, this.#stateKey, [rate, burst, cap, this.#idleMs, n, maxWaitMs === Infinity ? -1 : maxWaitMs]) as Promise<[number, number, number]>;
  }

  /** #cancel gives back n tokens due at actUs, sent as Redis gave it (whole µs): that is how it knows the latest. */
  #cancel(n: number, actUs: number): Promise<unknown> {
    const [rate, burst, cap] = this.#config;
    return SCRIPTS.cancel.run(this.#redis, this.#stateKey, [rate, burst, cap, this.#idleMs, n, actUs]);
  }
}

const NO_CANCEL = (): Promise<unknown> => Promise.resolve();

/**
 * RedisReservation is tokens booked by {@link RedisLimiter.reserveN}: if `ok`, the holder may act after
 * `delay()`, or cancel to give back what it can.
 */
export class RedisReservation {
  /** ok reports whether the tokens were granted. */
  readonly ok: boolean;
  /** delayMs is the wait Redis gave at the grant; Infinity if not ok. */
  readonly delayMs: number;
  /** timeToActMs is when the holder may act, in ms since the epoch on Redis's clock; Infinity if not ok. */
  readonly timeToActMs: number;
  /** burst is the key's burst, on a refusal (undefined when granted). */
  readonly burst: number | undefined;
  readonly #clock: Clock;
  readonly #grantedMs: number;
  #cancel: (() => Promise<unknown>) | undefined;

  /** @internal */
  constructor(ok: boolean, delayMs: number, timeToActMs: number, burst: number | undefined, clock: Clock, cancel: () => Promise<unknown>) {
    this.ok = ok;
    this.delayMs = ok ? delayMs : Infinity;
    this.timeToActMs = ok ? timeToActMs : Infinity;
    this.burst = burst;
    this.#clock = clock;
    this.#grantedMs = clock.now();
    this.#cancel = ok ? cancel : undefined;
  }

  /** delay returns how long (ms) the holder must still wait, counted on the local clock since the grant arrived. */
  delay(): number {
    if (!this.ok) return Infinity;
    const ms = this.delayMs - (this.#clock.now() - this.#grantedMs);
    return ms > 0 ? ms : 0;
  }

  /**
   * cancel declares that the holder will not act: Redis gives back as many tokens as reservations made
   * after this one allow (none once its time to act has passed). Only the first call counts.
   */
  async cancel(): Promise<void> {
    const cancel = this.#cancel;
    this.#cancel = undefined;
    await cancel?.();
  }
}

/**
 * configure changes the fields of `config` given, for every process sharing the key, and returns the
 * fields it replaced (undefined for a key that had no config).
 */
export async function configure(redis: Redis, key: string, config: Partial<SharedConfig>, idleMs = DEFAULT_IDLE_MS): Promise<Partial<SharedConfig> | undefined> {
  const keys = keysOf(key);
  const [rate, burst, cap] = (await SCRIPTS.configure.run(redis, [keys.state], [...configArgs(config), idleMs, keys.channel])) as [string, string, string];
  return rate === '' && burst === '' && cap === '' ? undefined : decodeConfig(rate, burst, cap);
}

/** readConfig returns the key's config and how many slots are held, offering `offer` for missing fields. */
export async function readConfig(redis: Redis, key: string, offer: readonly [string, string, string], idleMs: number): Promise<{ config: SharedConfig; inFlight: number }> {
  const keys = keysOf(key);
  const [rate, burst, cap, inFlight] = (await SCRIPTS.read.run(redis, [keys.state, keys.slots], [...offer, idleMs])) as [string, string, string, number];
  return { config: decodeConfig(rate, burst, cap), inFlight };
}

/** decodeConfig reads the config fields as the scripts store them ('' = none: unlimited, or a burst of 0). */
function decodeConfig(rate: string, burst: string, cap: string): SharedConfig {
  return {
    ratePerSec: rate === '' || rate === 'inf' ? Infinity : Number(rate),
    burst: burst === '' ? 0 : Number(burst),
    cap: cap === '' || cap === '0' ? Infinity : Number(cap),
  };
}

/** checkKey validates a budget's name: it becomes part of Redis keys, inside a {hash tag}. */
export function checkKey(where: string, key: string): void {
  if (typeof key !== 'string' || !/^[A-Za-z0-9._:/@+=-]{1,200}$/.test(key)) {
    throw new RangeError(`${where}: key must be 1 to 200 letters, digits or . _ : / @ + = -, got ${JSON.stringify(key)}`);
  }
}

export function checkIdle(where: string, idleMs: number | undefined): number {
  if (idleMs === undefined) return DEFAULT_IDLE_MS;
  if (!Number.isFinite(idleMs) || idleMs < 1) throw new RangeError(`${where}: idleMs must be a number of milliseconds >= 1, got ${idleMs}`);
  return Math.ceil(idleMs);
}

function checkN(method: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${method}: n must be an integer >= 0, got ${n}`);
}
