import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AbortWatch, abortReason } from '../core/abort-watch.js';
import type { AcquireOptions, Slot, WorkKind } from '../core/inflight.js';
import { checkIdle, checkKey, configure, readConfig } from './limiter.js';
import { SCRIPTS, type SharedConfig, configArgs, keysOf } from './scripts.js';

export interface RedisInflightOptions {
  /**
   * limit is this caller's cap (0 or Infinity: none). The config lives with the key: it applies only
   * while the key has none; otherwise the key's cap wins, and {@link RedisInflight.setLimit} changes it
   * for every sharer.
   */
  readonly limit: number;
  /**
   * leaseMs is how long a slot is held without renewal: a held slot is renewed every leaseMs / 3, so a
   * process that dies (even by SIGKILL) frees its slots at most leaseMs later. Default 10 s.
   */
  readonly leaseMs?: number | undefined;
  /** pollMs: while waiting, ask again about every pollMs (jittered), besides being woken by releases. Default 100. */
  readonly pollMs?: number | undefined;
  /** idleMs: the keys expire once unused this long (default 60 s). */
  readonly idleMs?: number | undefined;
}

export const DEFAULT_LEASE_MS = 10_000;
const DEFAULT_POLL_MS = 100;

interface Waiter {
  readonly resolve: (slot: Slot) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  /** done: granted, aborted or failed; a done waiter is skipped when it reaches the head. */
  done: boolean;
  onAbort(reason: unknown): void;
}

/**
 * RedisInflight is an in-flight cap ({@link InflightLimiter}'s shape, asynchronous) shared by every process
 * using the same Redis and key. A slot is a lease in a Redis sorted set of holders scored by expiry, renewed
 * while held: a crashed process's slots come back after the lease, never leaked forever.
 *
 * Waiting is FIFO-ish across processes, and FIFO within one: this process's waiters queue here, and only
 * the head of that queue talks to Redis, holding one place in a Redis queue ordered by arrival. It is
 * admitted when fewer slots are held than the cap minus the places ahead of it; when it gets its slot, the
 * next local waiter takes a new place at the back, so processes take turns. Waiters sleep between tries:
 * a release publishes on a channel that wakes them at once, and a jittered poll (pollMs) catches what no
 * message announces (a lease that expired). {@link RedisInflight.tryAcquire} never overtakes the queue.
 *
 * Work kinds share one pool here (the `kind` argument keeps the local shape). Errors from Redis reject the
 * call (and every queued acquire); nothing is retried here. The client is the caller's (ioredis); close()
 * ends only the subscription this limiter opened.
 */
export class RedisInflight {
  /** key is the name of the shared budget. */
  readonly key: string;
  readonly #redis: Redis;
  readonly #keys: ReturnType<typeof keysOf>;
  readonly #config: [string, string, string];
  readonly #idleMs: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #waiterTtlMs: number;
  /** #id names this limiter in Redis: its place in the queue, and (with a counter) its leases. */
  readonly #id = randomBytes(8).toString('hex');
  #seq = 0;
  readonly #held = new Set<string>();
  readonly #queue: Waiter[] = [];
  #queueHead = 0;
  #queued = 0;
  readonly #watch = new AbortWatch<Waiter>();
  #pumping = false;
  /** #placed: this limiter holds a place in Redis's queue. */
  #placed = false;
  #wake: (() => void) | undefined;
  #woken = false;
  #subscriber: Redis | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #renewing = false;
  #closed = false;

  constructor(redis: Redis, key: string, options: RedisInflightOptions) {
    checkKey('RedisInflight', key);
    const { limit } = options;
    if (limit !== Infinity && (!Number.isInteger(limit) || limit < 0)) throw new RangeError(`RedisInflight: limit must be an integer >= 0 or Infinity (0 = unlimited), got ${limit}`);
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    if (!Number.isFinite(leaseMs) || leaseMs < 100) throw new RangeError(`RedisInflight: leaseMs must be at least 100 ms, got ${leaseMs}`);
    const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    if (!Number.isFinite(pollMs) || pollMs < 1) throw new RangeError(`RedisInflight: pollMs must be at least 1 ms, got ${pollMs}`);
    this.key = key;
    this.#redis = redis;
    this.#keys = keysOf(key);
    this.#config = configArgs({ cap: limit === 0 ? Infinity : limit });
    this.#idleMs = checkIdle('RedisInflight', options.idleMs);
    this.#leaseMs = Math.ceil(leaseMs);
    this.#pollMs = pollMs;
    // A place in the queue outlives several polls, so a slow event loop does not lose it; a dead process's
    // place blocks nobody for longer than this.
    this.#waiterTtlMs = Math.max(2000, 10 * pollMs);
  }

  /** tryAcquire takes a slot if the shared pool has one free and nobody queues for it; else undefined. */
  async tryAcquire(_kind?: WorkKind): Promise<Slot | undefined> {
    const id = this.#nextId();
    let admitted: boolean;
    try {
      admitted = await this.#acquire(id, '');
    } catch (err) {
      this.#forget(id);
      throw err;
    }
    return admitted ? this.#slot(id) : undefined;
  }

  /**
   * acquire resolves with a slot once the shared pool has one for this caller (see the class comment for
   * the order). If the signal aborts first, the waiter leaves the queue and the promise rejects with the
   * reason; no slot is taken. A Redis error rejects it (and every other queued acquire) with that error.
   */
  acquire(_kind?: WorkKind, options: AcquireOptions = {}): Promise<Slot> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.#closed) return Promise.reject(new Error(`RedisInflight "${this.key}" is closed`));
    return new Promise<Slot>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        signal,
        done: false,
        onAbort: (reason) => {
          if (w.done) return;
          w.done = true;
          this.#queued--;
          reject(reason);
          // The pump may be asleep with nobody left to wait for: it should give up its place now.
          if (this.#queued === 0) this.#poke();
        },
      };
      this.#queue.push(w);
      this.#queued++;
      if (signal !== undefined) this.#watch.add(signal, w);
      void this.#pump();
    });
  }

  /** run acquires a slot, calls `fn` and releases the slot when `fn` settles. */
  async run<T>(fn: (slot: Slot) => Promise<T> | T, kind?: WorkKind, options?: AcquireOptions): Promise<T> {
    const slot = await this.acquire(kind, options);
    try {
      options?.signal?.throwIfAborted();
      return await fn(slot);
    } finally {
      slot.release();
    }
  }

  /** held returns how many slots this limiter holds. */
  held(): number {
    return this.#held.size;
  }

  /** queued returns how many acquires wait in this limiter. */
  queued(): number {
    return this.#queued;
  }

  /** inFlight returns how many slots every sharer holds together (unexpired leases). */
  async inFlight(): Promise<number> {
    return (await readConfig(this.#redis, this.key, this.#config, this.#idleMs)).inFlight;
  }

  /** config returns the key's config (after filling in this limiter's cap if it had none). */
  async config(): Promise<SharedConfig> {
    return (await readConfig(this.#redis, this.key, this.#config, this.#idleMs)).config;
  }

  /** setLimit changes the cap for every process sharing the key (0 or Infinity: none); waiters try again at once. */
  async setLimit(n: number): Promise<void> {
    if (n !== Infinity && (!Number.isInteger(n) || n < 0)) throw new RangeError(`setLimit: n must be an integer >= 0 or Infinity, got ${n}`);
    await configure(this.#redis, this.key, { cap: n === 0 ? Infinity : n }, this.#idleMs);
  }

  /**
   * close fails queued acquires, gives up this limiter's place in the queue and the slots it still holds,
   * and ends its subscription. The Redis client itself stays open (it is the caller's).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new Error(`RedisInflight "${this.key}" is closed`));
    this.#poke();
    this.#stopRenewal();
    const held = [...this.#held];
    this.#held.clear();
    await Promise.allSettled([...held.map((id) => this.#release(id)), this.#placed ? this.#leave() : undefined]);
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
  }

  #nextId(): string {
    return `${this.#id}:${++this.#seq}`;
  }

  async #acquire(id: string, waiter: string): Promise<boolean> {
    const k = this.#keys;
    const reply = (await SCRIPTS.acquire.run(this.#redis, [k.state, k.slots, k.queue, k.waiters], [...this.#config, this.#idleMs, id, this.#leaseMs, waiter, this.#waiterTtlMs])) as [number, number, number];
    return reply[0] === 1;
  }

  #release(id: string): Promise<unknown> {
    const k = this.#keys;
    return SCRIPTS.release.run(this.#redis, [k.state, k.slots, k.queue, k.waiters], [...this.#config, this.#idleMs, id, k.channel]);
  }

  #leave(): Promise<unknown> {
    this.#placed = false;
    const k = this.#keys;
    return SCRIPTS.leave.run(this.#redis, [k.state, k.slots, k.queue, k.waiters], [...this.#config, this.#idleMs, this.#id, k.channel]);
  }

  /** #forget gives back a lease that a failed call may or may not have taken (if it did not, nothing happens). */
  #forget(id: string): void {
    this.#release(id).catch(() => undefined);
  }

  /** #slot wraps a lease this limiter now holds, renewed until released. */
  #slot(id: string): Slot {
    this.#held.add(id);
    this.#startRenewal();
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        if (!this.#held.delete(id)) return; // closed meanwhile: already given back
        if (this.#held.size === 0) this.#stopRenewal();
        // Not handed to a local waiter directly: the slot goes back to Redis, whose queue decides, so that
        // one busy process cannot keep the slots from the others. A failed release expires with its lease.
        this.#forget(id);
      },
    };
  }

  #head(): Waiter | undefined {
    const q = this.#queue;
    while (this.#queueHead < q.length && q[this.#queueHead]!.done) this.#queueHead++;
    if (this.#queueHead > 1024 && this.#queueHead * 2 > q.length) {
      q.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
    return q[this.#queueHead];
  }

  /** #pump serves the local queue head by head; only one pump runs at a time. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        if (this.#closed || this.#head() === undefined) break;
        const id = this.#nextId();
        let admitted: boolean;
        try {
          admitted = await this.#acquire(id, this.#id);
        } catch (err) {
          this.#forget(id);
          this.#failAll(err);
          break;
        }
        if (!admitted) {
          this.#placed = true;
          await this.#sleep();
          continue;
        }
        this.#placed = false;
        // The head may have left during the call: the slot goes to whoever is first now, or back.
        const w = this.#head();
        if (w === undefined || this.#closed) {
          this.#forget(id);
          continue;
        }
        w.done = true;
        this.#queued--;
        if (w.signal !== undefined) this.#watch.delete(w.signal, w);
        w.resolve(this.#slot(id));
      }
      if (this.#placed) await this.#leave().catch(() => undefined);
    } finally {
      this.#pumping = false;
    }
    // An acquire that arrived while the pump was leaving found it still running: serve it now.
    if (!this.#closed && this.#head() !== undefined) void this.#pump();
  }

  /** #sleep waits for a release message, a poke, or the next (jittered) poll. */
  #sleep(): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    this.#subscribe();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#poke(), this.#pollMs * (0.5 + Math.random()));
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    if (wake === undefined) this.#woken = true;
    else wake();
  }

  /** #subscribe listens for releases on the budget's channel, on a second connection, from the first wait on. */
  #subscribe(): void {
    if (this.#subscriber !== undefined || this.#closed) return;
    const sub = this.#redis.duplicate({ enableOfflineQueue: true, lazyConnect: false, maxRetriesPerRequest: null });
    // Polling covers a subscriber that cannot connect; its errors would only repeat the client's.
    sub.on('error', () => undefined);
    sub.on('message', () => this.#poke());
    // A release published before the subscription took effect was missed: look again once it has.
    sub.subscribe(this.#keys.channel).then(() => this.#poke(), () => undefined);
    this.#subscriber = sub;
  }

  #failAll(err: unknown): void {
    const q = this.#queue;
    for (let i = this.#queueHead; i < q.length; i++) {
      const w = q[i]!;
      if (w.done) continue;
      w.done = true;
      if (w.signal !== undefined) this.#watch.delete(w.signal, w);
      w.reject(err);
    }
    q.length = 0;
    this.#queueHead = 0;
    this.#queued = 0;
  }

  #startRenewal(): void {
    if (this.#renewTimer !== undefined) return;
    this.#renewTimer = setInterval(() => void this.#renew(), Math.max(1, Math.floor(this.#leaseMs / 3)));
    // The work holding the slots keeps the process alive; renewal alone must not.
    this.#renewTimer.unref();
  }

  #stopRenewal(): void {
    clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
  }

  async #renew(): Promise<void> {
    if (this.#renewing || this.#held.size === 0) return;
    this.#renewing = true;
    try {
      await SCRIPTS.renew.run(this.#redis, [this.#keys.state, this.#keys.slots], [...this.#config, this.#idleMs, this.#leaseMs, ...this.#held]);
    } catch {
      // Redis is failing: the next tick tries again, and takes back any lease Redis lost meanwhile.
    } finally {
      this.#renewing = false;
    }
  }
}
