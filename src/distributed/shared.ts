import type { Redis } from 'ioredis';
import { abortReason } from '../core/abort-watch.js';
import type { InflightLimiter, Slot, WorkKind } from '../core/inflight.js';
import type { Limiter } from '../core/limiter.js';
import type { SharedLimits } from '../engine/scheduler.js';
import type { RedisInflight } from './inflight.js';
import type { RedisLimiter } from './limiter.js';

/** RedisFailMode: `closed` admits nothing while Redis fails; `open` falls back to this process's own limits. */
export type RedisFailMode = 'closed' | 'open';

export interface FailoverOptions {
  readonly redis: Redis;
  readonly limiter: RedisLimiter;
  readonly inflight: RedisInflight;
  readonly mode: RedisFailMode;
  /** fallback: the limits used in `open` mode while Redis fails (this process's own flags). */
  readonly fallback: { readonly limiter: Limiter; readonly inflight: InflightLimiter };
  /** where names Redis in messages (a URL without its password). */
  readonly where: string;
  /** warn prints one line for the user (stderr). */
  readonly warn: (line: string) => void;
}

/** NEVER is what a call gets once the limits are closed: the run is over, and nothing may start. */
const NEVER = new Promise<never>(() => undefined);

/** Pause between tries while Redis fails, in closed mode: doubling from the first to the last. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 1000;

/**
 * FailoverLimits gives the scheduler the shared limits of a RedisLimiter and a RedisInflight, and decides
 * what happens when Redis cannot be reached or fails a call. It never rejects but for the caller's abort,
 * so a job is never lost to a Redis error, and it never runs one twice (it only delays or admits):
 * - `closed`: admit nothing. A call waits (abortably) and tries again, at the latest every second and at
 *   once when the connection is back; `trySlot` (reject mode) answers "full" while Redis fails.
 * - `open`: use the fallback limits while Redis fails, and Redis again once it answers.
 * One line says when Redis starts failing and one when it is back, however many calls notice.
 */
export class FailoverLimits implements SharedLimits {
  readonly #o: FailoverOptions;
  /** #failing: since when Redis fails (undefined while it works); #retryAt: when open mode asks it again. */
  #failing: number | undefined;
  #retryAt = 0;
  #readyWaiters = new Set<() => void>();
  #closed = false;
  readonly #onReady = (): void => {
    this.#retryAt = 0;
    const waiters = [...this.#readyWaiters];
    this.#readyWaiters.clear();
    for (const wake of waiters) wake();
  };

  constructor(options: FailoverOptions) {
    this.#o = options;
    options.redis.on('ready', this.#onReady);
  }

  /** failing reports whether Redis is failing right now (as the last call found it). */
  get failing(): boolean {
    return this.#failing !== undefined;
  }

  async token(n: number, signal: AbortSignal): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) return NEVER;
      if (this.#useFallback()) return this.#o.fallback.limiter.waitN(n, { signal });
      const startMs = performance.now();
      try {
        await this.#o.limiter.waitN(n, { signal });
        this.#works(startMs);
        return;
      } catch (err) {
        if (signal.aborted) throw abortReason(signal);
        if (this.#closed) return NEVER;
        this.#fails(err);
      }
      if (this.#o.mode === 'closed') await this.#pause(attempt, signal);
    }
  }

  async slot(kind: WorkKind | undefined, signal: AbortSignal): Promise<Slot> {
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) return NEVER;
      if (this.#useFallback()) return this.#o.fallback.inflight.acquire(kind, { signal });
      const startMs = performance.now();
      try {
        const slot = await this.#o.inflight.acquire(kind, { signal });
        this.#works(startMs);
        return slot;
      } catch (err) {
        if (signal.aborted) throw abortReason(signal);
        if (this.#closed) return NEVER;
        this.#fails(err);
      }
      if (this.#o.mode === 'closed') await this.#pause(attempt, signal);
    }
  }

  async trySlot(kind: WorkKind | undefined): Promise<Slot | undefined> {
    if (this.#closed) return undefined;
    if (this.#useFallback()) return this.#o.fallback.inflight.tryAcquire(kind);
    const startMs = performance.now();
    try {
      const slot = await this.#o.inflight.tryAcquire(kind);
      this.#works(startMs);
      return slot;
    } catch (err) {
      if (this.#closed) return undefined;
      this.#fails(err);
      // Closed: a failing Redis admits nothing, and a caller that cannot wait (no signal) is told "full".
      return this.#o.mode === 'open' ? this.#o.fallback.inflight.tryAcquire(kind) : undefined;
    }
  }

  /**
   * close stops listening to the client (the caller closes the limiters and the client). A call still
   * waiting, or made later, never settles: the run ended (perhaps by an error) and must not start anything.
   */
  close(): void {
    this.#closed = true;
    this.#o.redis.off('ready', this.#onReady);
    this.#onReady();
  }

  #useFallback(): boolean {
    return this.#o.mode === 'open' && this.#failing !== undefined && performance.now() < this.#retryAt;
  }

  /**
   * #works notes a call begun at `startMs` that Redis answered. Only a call begun after the failure was
   * noticed proves Redis is back: one sent before it may answer afterwards.
   */
  #works(startMs: number): void {
    if (this.#failing === undefined || startMs < this.#failing) return;
    const downMs = performance.now() - this.#failing;
    this.#failing = undefined;
    this.#o.warn(`redis at ${this.#o.where} is back after ${(downMs / 1000).toFixed(1)}s: the limits are shared again`);
  }

  #fails(err: unknown): void {
    // Open mode asks Redis again after a pause, or as soon as the client reconnects.
    this.#retryAt = performance.now() + RETRY_MAX_MS;
    if (this.#failing !== undefined) return;
    this.#failing = performance.now();
    const why = err instanceof Error ? err.message : String(err);
    this.#o.warn(
      this.#o.mode === 'closed'
        ? `redis at ${this.#o.where} failed (${why}): admitting nothing until it is back (--redis-fail closed)`
        : `redis at ${this.#o.where} failed (${why}): using this process's own limits until it is back (--redis-fail open)`,
    );
  }

  /** #pause waits before the next try: a growing pause, cut short when the client reconnects. */
  #pause(attempt: number, signal: AbortSignal): Promise<void> {
    const ms = Math.min(RETRY_FIRST_MS * 2 ** attempt, RETRY_MAX_MS);
    return new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#readyWaiters.delete(wake);
      };
      const wake = (): void => {
        cleanup();
        resolve();
      };
      const onAbort = (): void => {
        cleanup();
        reject(abortReason(signal));
      };
      const timer = setTimeout(wake, ms);
      this.#readyWaiters.add(wake);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
