import { AbortWatch, abortReason } from './abort-watch.js';

/**
 * Time, in milliseconds as JS numbers, behind one small interface so that the same code runs on the
 * real monotonic clock and on a virtual one.
 *
 * - {@link systemClock} reads `performance.now()`: milliseconds since this process started (its time
 *   origin), monotonic, unaffected by wall-clock changes. Deadlines passed to a Limiter must be on this
 *   scale, e.g. `systemClock.now() + 500`.
 * - {@link ManualClock} only moves when told to: tests and the simulation drive it with `advance`.
 */
export interface Clock {
  /** now returns the current time in milliseconds. */
  now(): number;
  /**
   * sleep resolves once `ms` milliseconds have passed on this clock (at once for `ms <= 0`), and rejects
   * with the signal's reason if the signal aborts first.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * after is sleep resolving to `value`: one promise for "wait, then this", where `sleep(ms).then(() =>
   * value)` takes two (a simulated attempt's outcome reaches the scheduler a microtask sooner).
   */
  after<T>(ms: number, value: T, signal?: AbortSignal): Promise<T>;
  /**
   * wake is sleep without a promise: `waker.woken(arg)` once `ms` milliseconds have passed, or
   * `waker.aborted(arg, reason)` if the signal aborts first (or has already). It never calls back from
   * inside `wake` itself: a wait of `ms <= 0` ends a microtask later, as an awaited sleep would. The waker is
   * usually one object per caller and `arg` the thing waiting, so a wait allocates nothing of its own (a
   * simulation waits a few million times).
   */
  wake<A>(ms: number, waker: Waker<A>, arg: A, signal?: AbortSignal): void;
}

/** Waker is called back by Clock.wake, with the `arg` it was given. */
export interface Waker<A> {
  woken(arg: A): void;
  aborted(arg: A, reason: unknown): void;
}

/** Settle is a promise sleeper's waker argument: how to settle it, and with what. */
interface Settle {
  readonly value: unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
}

/** SETTLE is the waker behind `after`: it settles the promise its argument holds. */
const SETTLE: Waker<Settle> = {
  woken: (s) => s.resolve(s.value),
  aborted: (s, reason) => s.reject(reason),
};

/** TURN: a promise already resolved; `TURN.then(f)` runs f one microtask turn from now. */
const TURN: Promise<void> = Promise.resolve();

/** later calls the waker back one microtask from now: with the signal's reason if it aborted by then. */
function later<A>(waker: Waker<A>, arg: A, signal: AbortSignal | undefined): void {
  void TURN.then(() => (signal?.aborted ? waker.aborted(arg, abortReason(signal)) : waker.woken(arg)));
}

/** setTimeout clamps delays above 2^31-1 ms to 1 ms; longer sleeps are taken in chunks below it. */
const MAX_TIMER_MS = 2 ** 31 - 1;


interface TimerSleep {
  timer: NodeJS.Timeout | undefined;
  immediate: NodeJS.Immediate | undefined;
  onAbort(reason: unknown): void;
}

class SystemClock implements Clock {
  readonly #watch = new AbortWatch<TimerSleep>();

  now(): number {
    return performance.now();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.after(ms, undefined, signal);
  }

  after<T>(ms: number, value: T, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (!(ms > 0)) return Promise.resolve(value);
    return new Promise<T>((resolve, reject) => this.wake(ms, SETTLE, { value, resolve: resolve as (value: unknown) => void, reject }, signal));
  }

  wake<A>(ms: number, waker: Waker<A>, arg: A, signal?: AbortSignal): void {
    if (signal?.aborted || !(ms > 0)) return later(waker, arg, signal);
    const deadline = performance.now() + ms;
    const sleep: TimerSleep = {
      timer: undefined,
      immediate: undefined,
      onAbort: (reason) => {
        clearTimeout(sleep.timer);
        clearImmediate(sleep.immediate);
        waker.aborted(arg, reason);
      },
    };
    const arm = (): void => {
      const left = deadline - performance.now();
      if (left <= 0) {
        if (signal !== undefined) this.#watch.delete(signal, sleep);
        waker.woken(arg);
        return;
      }
      // Node's timers count whole milliseconds from the event loop's time, taken when the loop last woke,
      // so a timer fires up to a millisecond either side of performance.now() + ms. The timer is set to
      // the nearest millisecond, and whatever is left when it fires early, less than a millisecond, is
      // waited out turn by turn of the event loop: a caller that sleeps until t never observes now() < t
      // afterwards, and wakes a fraction of a millisecond after t rather than up to one whole (rounding
      // up, or a second timer, would make paced starts late by half a millisecond on average).
      if (sleep.timer !== undefined && left < 1) sleep.immediate = setImmediate(arm);
      else sleep.timer = setTimeout(arm, Math.min(Math.max(1, Math.round(left)), MAX_TIMER_MS));
    };
    if (signal !== undefined) this.#watch.add(signal, sleep);
    arm();
  }
}

/** systemClock is the default clock: `performance.now()` milliseconds (origin: process start). */
export const systemClock: Clock = new SystemClock();

/** FRONT: how many of the earliest sleepers a ManualClock keeps in front of its heap, at most. */
const FRONT = 4;

/** SPARE_SLEEPERS: woken sleepers a ManualClock keeps for reuse, at most. */
const SPARE_SLEEPERS = 1024;

interface Sleeper {
  at: number;
  seq: number;
  waker: Waker<unknown>;
  arg: unknown;
  signal: AbortSignal | undefined;
  done: boolean;
}

/**
 * earlier says whether sleeper `a` wakes before `b`: by deadline, ties in the order they began to sleep.
 * One function for every comparison, not the expression written out in each: ties are rare, and the engine
 * compiles a comparison that has never met one so that the first tie discards the compiled code (of the
 * simulation's loop, which it is part of). Shared, the comparison has met a tie as soon as any has.
 */
function earlier(a: Sleeper, b: Sleeper): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * ManualClock is a clock that moves only when `advance` (or `advanceTo`) is called. A sleeper resolves
 * when the clock reaches its deadline; sleepers due at the same step resolve in deadline order (ties in
 * the order they began sleeping). A sleep whose signal aborts rejects at once and is forgotten.
 *
 * Promises resolve asynchronously: after `advance`, the sleepers' continuations run once the caller
 * yields to the event loop; a `wake` sleeper is called back during `advance` itself. To step through
 * intermediate deadlines one at a time (as the simulation does), call {@link ManualClock.advanceToNext}
 * repeatedly.
 */
export class ManualClock implements Clock {
  /**
   * #now is a number from the start (the constructor sets it): a field that began as undefined would keep
   * each time written to it as an object of its own, and a simulation moves the clock millions of times.
   */
  #now = 0;
  #seq = 0;
  /** #live counts sleepers neither woken nor aborted. */
  #live = 0;
  /**
   * The sleepers in order of (at, seq): #front holds up to FRONT of them, latest first, each earlier than
   * every one in #heap, a binary min-heap. A sleeper that is due before everything in the heap as it begins,
   * as most are in a simulation (the next arrival, a token due in a moment), goes in front, and out again,
   * without a heap operation.
   */
  readonly #front: Sleeper[] = [];
  readonly #heap: Sleeper[] = [];
  /**
   * #free holds woken sleepers for the next waits: a simulation waits a few million times, and a sleeper
   * rewritten in place allocates nothing (a new one is an object and a heap number for its deadline).
   */
  readonly #free: Sleeper[] = [];
  /**
   * #watched holds the signals with a listener. One listener per signal, not per sleeper: a run keeps
   * thousands of sleepers under one stop signal, and an abort is rare, so it scans the heap instead.
   */
  readonly #watched = new WeakSet<AbortSignal>();
  /**
   * #quiet holds the two signals last used, watched and not aborted: a run's sleepers share two (stop and
   * kill), and reading `signal.aborted` costs more than the rest of a wake. An abort takes its signal out.
   */
  readonly #quiet: [AbortSignal | undefined, AbortSignal | undefined] = [undefined, undefined];

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.after(ms, undefined, signal);
  }

  after<T>(ms: number, value: T, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (!(ms > 0)) return Promise.resolve(value);
    return new Promise<T>((resolve, reject) => this.wake(ms, SETTLE, { value, resolve: resolve as (value: unknown) => void, reject }, signal));
  }

  /**
   * wake calls back synchronously from inside `advance`/`advanceTo`, in deadline order with the promise
   * sleepers (whose continuations run later, as promise reactions do).
   */
  wake<A>(ms: number, waker: Waker<A>, arg: A, signal?: AbortSignal): void {
    // Kept small, the rare cases in methods of their own: the engine then builds it into its callers, and
    // `ms` reaches the sleeper as a bare number (passed to a call, it would be an object of its own).
    if (!(ms > 0) || (signal !== undefined && signal !== this.#quiet[0] && signal !== this.#quiet[1] && !this.#watch(signal))) return later(waker, arg, signal);
    this.#live++;
    const s = this.#free.pop() ?? this.#newSleeper();
    s.at = this.#now + ms;
    s.seq = this.#seq++;
    s.waker = waker as Waker<unknown>;
    s.arg = arg;
    s.signal = signal;
    s.done = false;
    this.#push(s);
  }

  /** #watch listens for the signal's abort (once per signal) and keeps it as quiet; false if it has aborted. */
  #watch(signal: AbortSignal): boolean {
    if (signal.aborted) return false;
    if (!this.#watched.has(signal)) {
      this.#watched.add(signal);
      signal.addEventListener('abort', () => this.#aborted(signal), { once: true });
    }
    this.#quiet[1] = this.#quiet[0];
    this.#quiet[0] = signal;
    return true;
  }

  /**
   * #newSleeper is a sleeper for wake to fill in, when no woken one is spare. Its deadline begins as a
   * number with a fraction, as deadlines mostly are: the field holds such numbers as they are from the first.
   */
  #newSleeper(): Sleeper {
    return { at: 0.5, seq: 0, waker: SETTLE as Waker<unknown>, arg: undefined, signal: undefined, done: true };
  }

  /** advance moves the clock forward by `ms` (must be >= 0) and wakes every sleeper now due. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance: ms must be a number >= 0, got ${ms}`);
    this.advanceTo(this.#now + ms);
  }

  /** advanceTo moves the clock to `t` (never backwards) and wakes every sleeper now due. */
  advanceTo(t: number): void {
    if (t > this.#now) this.#now = t;
    this.#wakeDue();
  }

  /**
   * advanceToNext moves the clock to the earliest pending deadline (see nextDeadline) and wakes every
   * sleeper due by then; false, doing nothing, when none sleeps. It is nextDeadline and advanceTo in one call,
   * with no number passed between them: a number that is not a small integer, passed or returned, is an
   * object of its own, and a simulation takes a few million such steps.
   */
  advanceToNext(): boolean {
    const top = this.#earliest();
    if (top === undefined) return false;
    if (top.at > this.#now) this.#now = top.at;
    this.#wakeDue();
    return true;
  }

  /** #wakeDue wakes every sleeper due by now, in order. */
  #wakeDue(): void {
    for (;;) {
      const front = this.#front;
      const top = front.length > 0 ? front[front.length - 1]! : this.#heap[0];
      if (top === undefined || top.at > this.#now) break;
      this.#pop();
      if (top.done) continue;
      top.done = true;
      this.#live--;
      const waker = top.waker;
      const arg = top.arg;
      top.arg = undefined;
      if (this.#free.length < SPARE_SLEEPERS) this.#free.push(top);
      waker.woken(arg);
    }
  }

  /** #aborted rejects every live sleeper under the signal, in deadline order. */
  #aborted(signal: AbortSignal): void {
    if (this.#quiet[0] === signal) this.#quiet[0] = undefined;
    if (this.#quiet[1] === signal) this.#quiet[1] = undefined;
    const reason = abortReason(signal);
    const all = [...this.#front, ...this.#heap];
    const hit = all.filter((s) => !s.done && s.signal === signal).sort((a, b) => (earlier(a, b) ? -1 : 1));
    for (const s of hit) {
      // Lazy deletion: the heap entry stays but is skipped when it surfaces.
      s.done = true;
      this.#live--;
      s.waker.aborted(s.arg, reason);
    }
  }

  /** nextDeadline returns the earliest pending sleeper's deadline, or undefined when none sleeps. */
  nextDeadline(): number | undefined {
    return this.#earliest()?.at;
  }

  /** #earliest is the earliest pending sleeper (aborted ones before it are dropped), or undefined. */
  #earliest(): Sleeper | undefined {
    for (;;) {
      const front = this.#front;
      const top = front.length > 0 ? front[front.length - 1]! : this.#heap[0];
      if (top === undefined || !top.done) return top;
      this.#pop();
    }
  }

  /** pending is how many sleepers wait: neither woken nor aborted. */
  get pending(): number {
    return this.#live;
  }

  /**
   * #push adds a sleeper: in front when it is due before everything in the heap (the latest in front goes
   * to the heap when there are more than FRONT), else to the heap.
   */
  #push(s: Sleeper): void {
    const top = this.#heap[0];
    if (top !== undefined && !earlier(s, top)) return this.#heapPush(s);
    const front = this.#front;
    let i = front.length;
    front.push(s);
    for (; i > 0; i--) {
      const later = front[i - 1]!;
      if (!earlier(later, s)) break;
      front[i] = later;
    }
    front[i] = s;
    if (front.length > FRONT) this.#heapPush(front.shift()!);
  }

  /** #pop removes the earliest sleeper. */
  #pop(): void {
    if (this.#front.length > 0) this.#front.pop();
    else this.#heapPop();
  }

  /**
   * #heapPush adds a sleeper to the heap: the hole it makes at the bottom rises to where it belongs.
   * (#heapPop ends with the same rise, written out again: as a shared method it is not inlined in both, and
   * a million-event simulation runs measurably slower, 2-3%.)
   */
  #heapPush(s: Sleeper): void {
    const h = this.#heap;
    let i = h.length;
    h.push(s);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!earlier(s, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = s;
  }

  /**
   * #heapPop removes the heap's earliest sleeper. The hole at the top sinks along the earlier child all the
   * way down (one comparison a level), then the last sleeper, put in the hole, rises to its place: it
   * belongs near the bottom, so this takes about half the comparisons of sinking it from the top.
   */
  #heapPop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    const n = h.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      let child = h[c]!;
      if (c + 1 < n) {
        const right = h[c + 1]!;
        if (earlier(right, child)) {
          c++;
          child = right;
        }
      }
      h[i] = child;
      i = c;
    }
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!earlier(last, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = last;
  }
}
