import { AbortWatch, abortReason } from './abort-watch.js';
/** WorkKind classifies work as the apiserver does: get/list/watch are read-only, everything else mutates. */
export type WorkKind = 'readOnly' | 'mutating';

/**
 * SlotWaker is called back by {@link InflightLimiter.enqueue} with the `arg` it was given: `granted` with
 * the slot once it is handed over (from inside the release that freed it), or `aborted` with the signal's
 * reason (from inside the abort).
 */
export interface SlotWaker<A> {
  granted(arg: A, slot: Slot): void;
  aborted(arg: A, reason: unknown): void;
}

/** Slot is one unit of in-flight capacity held by a caller. */
export interface Slot {
  /**
   * release returns the slot to its pool; if work queues there, the slot passes straight to the head
   * waiter. A second call does nothing.
   */
  release(): void;
}

export interface InflightLimiterOptions {
  /** limit caps the shared pool, or the read-only pool when `mutatingLimit` is set. 0 or Infinity = unlimited. */
  limit: number;
  /** mutatingLimit, when given, splits off a separate pool for mutating work. 0 or Infinity = unlimited. */
  mutatingLimit?: number | undefined;
}

export interface AcquireOptions {
  /** signal aborts a queued acquire: the waiter leaves the queue and the promise rejects with the reason. */
  signal?: AbortSignal | undefined;
}

/** Watermarks are the highest in-flight counts seen: per kind, and for both kinds together. */
export interface Watermarks {
  readOnly: number;
  mutating: number;
  total: number;
}

/**
 * InflightLimiter caps how much work runs at once: the apiserver's max-in-flight filter as a library,
 * with an optional FIFO queue in front of it.
 *
 * Model. Work is read-only or mutating (read-only when no kind is given). Without `mutatingLimit` there is
 * one pool of `limit` slots shared by both kinds; the kind is still tracked for counts and watermarks. With
 * `mutatingLimit`, read-only work draws on a pool of `limit` slots and mutating work on a separate pool of
 * `mutatingLimit` slots (the apiserver's two semaphores). A limit of 0 or Infinity makes that pool
 * unlimited. A new limiter has every slot free and all watermarks at 0.
 *
 * Two ways in: {@link InflightLimiter.tryAcquire} fails fast (undefined when the pool is full: the
 * apiserver's 429), {@link InflightLimiter.acquire} queues. Each pool's queue is FIFO and a released slot
 * goes to the pool's head waiter before any other caller can see it, so tryAcquire never overtakes a queued
 * waiter. Most callers want {@link InflightLimiter.run}, which acquires, calls a function and always
 * releases.
 *
 * Lowering a limit revokes no slot already held: the pool admits nobody until it is below the new limit.
 * Raising one admits queued waiters at once.
 */
export class InflightLimiter {
  readonly #gate: Gate;

  constructor(options: InflightLimiterOptions) {
    const limit = checkLimit('limit', options.limit);
    const mutatingLimit =
      options.mutatingLimit === undefined ? undefined : checkLimit('mutatingLimit', options.mutatingLimit);
    this.#gate = new Gate(limit, mutatingLimit);
  }

  /** tryAcquire takes a slot for work of `kind` if its pool has one free and nobody queues for it; else undefined. */
  tryAcquire(kind?: WorkKind): Slot | undefined {
    const gate = this.#gate;
    const lane = gate.lane(kind);
    if (!gate.canTake(lane)) return undefined;
    gate.take(lane);
    return new PoolSlot(gate, lane);
  }

  /**
   * acquire resolves with a slot for work of `kind`, at once if one is free, else when every earlier waiter
   * of the same pool has been served and a slot comes back. If the signal aborts first (or already has),
   * the waiter leaves the queue and the promise rejects with the signal's reason; no slot is taken.
   */
  acquire(kind?: WorkKind, options?: AcquireOptions): Promise<Slot> {
    const gate = this.#gate;
    const lane = gate.lane(kind);
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (gate.canTake(lane)) {
      gate.take(lane);
      return Promise.resolve(new PoolSlot(gate, lane));
    }
    return new Promise<Slot>((resolve, reject) => gate.enqueue(lane, signal, SETTLE, { resolve, reject }));
  }

  /**
   * enqueue is acquire without a promise, for a caller that found no free slot with tryAcquire (a scheduler
   * queues this way a million times in a simulation): it queues for a slot of `kind` and calls
   * `waker.granted(arg, slot)` when one is handed over, or `waker.aborted(arg, reason)` if the signal aborts
   * first (a microtask later when it has already aborted). Unlike acquire it never takes a free slot: call it
   * only when tryAcquire returned undefined, in the same step.
   */
  enqueue<A>(kind: WorkKind | undefined, signal: AbortSignal | undefined, waker: SlotWaker<A>, arg: A): void {
    const gate = this.#gate;
    if (signal?.aborted) {
      void Promise.resolve().then(() => waker.aborted(arg, abortReason(signal)));
      return;
    }
    gate.enqueue(gate.lane(kind), signal, waker as SlotWaker<unknown>, arg);
  }

  /**
   * run acquires a slot (queueing like {@link InflightLimiter.acquire}), calls `fn` with it and releases it
   * when `fn` returns, resolves or throws. If the signal aborts while the slot is being handed over, the slot
   * goes back and run rejects without calling `fn`.
   */
  async run<T>(fn: (slot: Slot) => Promise<T> | T, kind?: WorkKind, options?: AcquireOptions): Promise<T> {
    const slot = await this.acquire(kind, options);
    try {
      // The grant and the abort can land in the same tick: the slot is ours, but the caller gave up.
      const signal = options?.signal;
      if (signal?.aborted) throw abortReason(signal);
      return await fn(slot);
    } finally {
      slot.release();
    }
  }

  /** inFlight returns how many slots of `kind` are held, or of both kinds when none is given. */
  inFlight(kind?: WorkKind): number {
    const gate = this.#gate;
    return kind === undefined ? gate.readOnly.inFlight + gate.mutating.inFlight : gate.lane(kind).inFlight;
  }

  /** queued returns how many acquires of `kind` wait, or of both kinds when none is given. */
  queued(kind?: WorkKind): number {
    const gate = this.#gate;
    return kind === undefined ? gate.readOnly.queued + gate.mutating.queued : gate.lane(kind).queued;
  }

  /**
   * peak returns the watermark: the most slots of `kind` (or of both kinds together, when none is given)
   * held at once since construction or the last {@link InflightLimiter.resetPeak}.
   */
  peak(kind?: WorkKind): number {
    const gate = this.#gate;
    return kind === undefined ? gate.peakTotal : gate.lane(kind).peak;
  }

  /** resetPeak returns the watermarks and restarts each from its current in-flight count. */
  resetPeak(): Watermarks {
    const gate = this.#gate;
    const marks = { readOnly: gate.readOnly.peak, mutating: gate.mutating.peak, total: gate.peakTotal };
    gate.readOnly.peak = gate.readOnly.inFlight;
    gate.mutating.peak = gate.mutating.inFlight;
    gate.peakTotal = gate.readOnly.inFlight + gate.mutating.inFlight;
    return marks;
  }

  /** limit returns the cap of the shared (or read-only) pool; Infinity when unlimited. */
  limit(): number {
    return this.#gate.readOnly.limit;
  }

  /** setLimit replaces `limit` (0 or Infinity = unlimited); a raise admits queued waiters at once. */
  setLimit(n: number): void {
    this.#gate.readOnly.limit = checkLimit('limit', n);
    this.#gate.pump();
  }

  /**
   * setMutatingLimit splits mutating work into its own pool of `n` slots (0 or Infinity = unlimited), or
   * with `undefined` merges it back into the shared pool. Slots already held stay held and count against
   * whichever pool their kind now uses; queued waiters keep their order within each pool.
   */
  setMutatingLimit(n: number | undefined): void {
    const gate = this.#gate;
    if (n === undefined) {
      gate.split = false;
      gate.mutating.limit = Infinity;
    } else {
      gate.mutating.limit = checkLimit('mutatingLimit', n);
      gate.split = true;
    }
    gate.pump();
  }
}

/** Settle is a promise acquire's waker argument: how to settle it. */
interface Settle {
  readonly resolve: (slot: Slot) => void;
  readonly reject: (reason: unknown) => void;
}

/** SETTLE is the waker behind acquire: it settles the promise its argument holds. */
const SETTLE: SlotWaker<Settle> = {
  granted: (s, slot) => s.resolve(slot),
  aborted: (s, reason) => s.reject(reason),
};

/** checkLimit validates a pool size and maps the "unlimited" spelling 0 to Infinity. */
function checkLimit(name: string, n: number): number {
  if (n === Infinity || n === 0) return Infinity;
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`InflightLimiter: ${name} must be an integer >= 0 or Infinity (0 = unlimited), got ${n}`);
  }
  return n;
}


/** Lane is the bookkeeping of one kind of work: its count, watermark, limit when split, and FIFO queue. */
class Lane {
  inFlight = 0;
  peak = 0;
  queued = 0;
  head: Waiter | undefined = undefined;
  tail: Waiter | undefined = undefined;

  constructor(
    readonly kind: WorkKind,
    /** The readOnly lane's limit is `limit`, which also caps the shared pool; the mutating lane's applies when split. */
    public limit: number,
  ) {}
}

interface Waiter {
  readonly lane: Lane;
  /** Arrival order across both lanes: in the shared pool the oldest head is served first. */
  readonly seq: number;
  prev: Waiter | undefined;
  next: Waiter | undefined;
  /** False once granted or aborted: whichever comes first wins, so an abort can never drop a granted slot. */
  waiting: boolean;
  readonly waker: SlotWaker<unknown>;
  readonly arg: unknown;
  signal: AbortSignal | undefined;
  onAbort(reason: unknown): void;
}

/**
 * Gate holds the limiter's state; slots keep a reference to it so release needs no closure.
 *
 * Invariant, restored before every public method returns: a lane has waiters only while its pool is full.
 * That is what makes "no barging" a plain capacity check in canTake.
 */
class Gate {
  split: boolean;
  readonly readOnly: Lane;
  readonly mutating: Lane;
  peakTotal = 0;
  #seq = 0;
  readonly #watch = new AbortWatch<Waiter>();

  constructor(limit: number, mutatingLimit: number | undefined) {
    this.readOnly = new Lane('readOnly', limit);
    this.mutating = new Lane('mutating', mutatingLimit ?? Infinity);
    this.split = mutatingLimit !== undefined;
  }

  lane(kind: WorkKind | undefined): Lane {
    if (kind === undefined || kind === 'readOnly') return this.readOnly;
    if (kind === 'mutating') return this.mutating;
    throw new TypeError(`InflightLimiter: kind must be "readOnly" or "mutating", got ${String(kind)}`);
  }

  /** canTake reports whether `lane`'s pool has a free slot that no waiter is owed. */
  canTake(lane: Lane): boolean {
    if (this.split) return lane.head === undefined && lane.inFlight < lane.limit;
    return (
      this.readOnly.head === undefined &&
      this.mutating.head === undefined &&
      this.readOnly.inFlight + this.mutating.inFlight < this.readOnly.limit
    );
  }

  take(lane: Lane): void {
    const n = ++lane.inFlight;
    if (n > lane.peak) lane.peak = n;
    const total = this.readOnly.inFlight + this.mutating.inFlight;
    if (total > this.peakTotal) this.peakTotal = total;
  }

  release(lane: Lane): void {
    lane.inFlight--;
    // Handing over inside release, before returning, is what keeps a tryAcquire from stealing the slot.
    if (this.readOnly.head !== undefined || this.mutating.head !== undefined) this.pump();
  }

  /** pump grants slots to head waiters while their pool has room. */
  pump(): void {
    if (this.split) {
      this.#drain(this.readOnly);
      this.#drain(this.mutating);
      return;
    }
    const ro = this.readOnly;
    const mut = this.mutating;
    while (ro.inFlight + mut.inFlight < ro.limit) {
      const a = ro.head;
      const b = mut.head;
      const next = a === undefined ? b : b === undefined || a.seq < b.seq ? a : b;
      if (next === undefined) return;
      this.#grant(next);
    }
  }

  enqueue(lane: Lane, signal: AbortSignal | undefined, waker: SlotWaker<unknown>, arg: unknown): void {
    const w: Waiter = {
      lane,
      seq: this.#seq++,
      prev: lane.tail,
      next: undefined,
      waiting: true,
      waker,
      arg,
      signal,
      onAbort: (reason) => {
        if (!w.waiting) return;
        this.#unlink(w);
        // Leaving frees no capacity (the pool is full while anyone waits), so nobody else is due.
        waker.aborted(arg, reason);
      },
    };
    if (lane.tail === undefined) lane.head = w;
    else lane.tail.next = w;
    lane.tail = w;
    lane.queued++;
    if (signal !== undefined) this.#watch.add(signal, w);
  }

  #drain(lane: Lane): void {
    while (lane.head !== undefined && lane.inFlight < lane.limit) this.#grant(lane.head);
  }

  #grant(w: Waiter): void {
    this.#unlink(w);
    this.take(w.lane);
    if (w.signal !== undefined) this.#watch.delete(w.signal, w);
    w.waker.granted(w.arg, new PoolSlot(this, w.lane));
  }

  #unlink(w: Waiter): void {
    w.waiting = false;
    const lane = w.lane;
    if (w.prev === undefined) lane.head = w.next;
    else w.prev.next = w.next;
    if (w.next === undefined) lane.tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = undefined;
    lane.queued--;
  }
}

class PoolSlot implements Slot {
  /** Cleared on the first release, which makes the second one a no-op. */
  #gate: Gate | undefined;
  readonly #lane: Lane;

  constructor(gate: Gate, lane: Lane) {
    this.#gate = gate;
    this.#lane = lane;
  }

  release(): void {
    const gate = this.#gate;
    if (gate === undefined) return;
    this.#gate = undefined;
    gate.release(this.#lane);
  }
}
