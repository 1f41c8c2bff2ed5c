import { type Clock, systemClock } from './clock.js';

// The token bucket of golang.org/x/time/rate, on milliseconds. semantics.md §1 is the specification;
// the comments below name the places where a port goes wrong.

/** Inf is the infinite rate: a limiter with this limit allows every event, whatever its burst. */
export const Inf = Infinity;

/**
 * every converts a minimum interval between events (ms) to a rate in events per second:
 * `every(250)` is 4. An interval of 0 or less is {@link Inf}.
 */
export function every(intervalMs: number): number {
  if (Number.isNaN(intervalMs)) throw new RangeError(`every: intervalMs must be a number, got ${intervalMs}`);
  return intervalMs <= 0 ? Inf : 1000 / intervalMs;
}

/** Go's InfDuration (2^63 - 1 ns) as a float: a wait longer than this is infinite (golang/go#71154). */
const MAX_WAIT_NS = 2 ** 63;

/** tokensFromDuration is how many tokens `ms` earns at `limit` per second; 0 for a zero limit. */
function tokensFromDuration(limit: number, ms: number): number {
  // The `ms === 0` guard keeps 0 × Infinity (an Inf limit) from becoming NaN.
  if (limit <= 0 || ms === 0) return 0;
  return (ms / 1000) * limit;
}

/**
 * durationFromTokens is how long (ms) `limit` takes to earn `tokens`, truncated toward zero to whole
 * nanoseconds as Go's time.Duration is. The truncation is observable: a deficit worth less than 1 ns of
 * refill (float residue such as 0.9999999999999999 tokens) costs no wait at all, so the event is
 * admitted on time instead of 1 ns late, and no float drift piles up over long runs. A zero limit, or a
 * wait beyond Go's InfDuration, is Infinity.
 */
function durationFromTokens(limit: number, tokens: number): number {
  if (limit <= 0) return Infinity;
  const ns = (tokens / limit) * 1e9;
  if (ns > MAX_WAIT_NS) return Infinity;
  return Math.trunc(ns) / 1e6;
}

/** argumentError names whichever of `n` and `t` is bad (kept out of line: the hot path only tests). */
function argumentError(method: string, t: number, n: number): RangeError {
  if (!Number.isInteger(n) || n < 0) return new RangeError(`${method}: n must be an integer >= 0, got ${n}`);
  return timeError(method, t);
}

function timeError(method: string, t: number): RangeError {
  return new RangeError(`${method}: t must be a finite number of milliseconds, got ${t}`);
}

function checkLimit(method: string, limit: number): void {
  if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
    throw new RangeError(`${method}: limit must be a number of events per second >= 0, or Inf, got ${limit}`);
  }
}

function checkBurst(method: string, burst: number): void {
  if (!Number.isInteger(burst) || burst < 0) {
    throw new RangeError(`${method}: burst must be an integer >= 0, got ${burst}`);
  }
}

function checkTime(method: string, t: number): void {
  if (!Number.isFinite(t)) throw timeError(method, t);
}

/** Lets a Reservation undo itself on the limiter's private state (set in Limiter's static block). */
let cancelReservation: (lim: Limiter, tokens: number, limitAtReserve: number, timeToActMs: number, t: number) => void;

/** Options of {@link Limiter.wait} and {@link Limiter.waitN}. */
export interface WaitOptions {
  /** signal aborts the wait: it rejects with the signal's reason and the reserved tokens go back. */
  signal?: AbortSignal | undefined;
  /** deadline (ms, on the limiter's clock) fails a wait at once, consuming nothing, if the wait would pass it. */
  deadline?: number | undefined;
}

/**
 * Limiter is a token bucket of capacity `burst`, initially full, refilled at `limit` tokens per second.
 * Each event takes one token (or n, with the *N methods); over any window of w ms a limiter admits at
 * most `burst + limit × w / 1000` of them. It is golang.org/x/time/rate's Limiter, with times in
 * milliseconds on a {@link Clock}.
 *
 * - A limit of {@link Inf} admits everything at once and ignores the burst (even a burst of 0).
 * - A limit of 0 never refills: the initial burst can be spent once, then nothing is admitted.
 * - A request for more than `burst` tokens can never be met (unless the limit is Inf): allowN returns
 *   false, reserveN returns a reservation that is not ok, waitN rejects.
 *
 * Three ways to take tokens, differing in what happens when there are not enough:
 * - {@link Limiter.allowN} says no (to drop or reject the event);
 * - {@link Limiter.reserveN} books future tokens (putting the bucket in debt) and says how long to wait;
 * - {@link Limiter.waitN} sleeps on the clock until the tokens are there. Most callers want `wait`.
 *
 * Every method that depends on time has a form taking the time `t` (ms on the limiter's clock); the form
 * without it reads the clock. Times may go backwards: that never creates tokens, but a later call at a
 * later time refills the interval again (Go's documented "may violate Limit/Burst").
 */
export class Limiter {
  // Subtleness: every numeric field starts as a number. A field declared bare starts as undefined, and
  // V8 then stores each double written to it as a fresh heap box: an allocation on every allowN.
  #limit = 0;
  #burst = 0;
  /** #tokens is the count as of #lastMs; negative means debt owed to granted future reservations. */
  #tokens = 0;
  /** #lastMs is when #tokens was last written ("the beginning of time" until then). */
  #lastMs = -Infinity;
  /** #lastEventMs is the time to act of the latest granted reservation (may be in the future); only cancel reads it. */
  #lastEventMs = -Infinity;
  readonly #clock: Clock;

  /**
   * constructor makes a full bucket of `burst` tokens refilled at `limit` per second.
   * `limit` must be >= 0 (or Inf) and `burst` an integer >= 0; the clock defaults to {@link systemClock}.
   */
  constructor(limit: number, burst: number, options: { clock?: Clock | undefined } = {}) {
    checkLimit('Limiter', limit);
    checkBurst('Limiter', burst);
    this.#limit = limit;
    this.#burst = burst;
    this.#tokens = burst;
    this.#clock = options.clock ?? systemClock;
  }

  static {
    cancelReservation = (lim, tokens, limitAtReserve, timeToActMs, t) =>
      lim.#cancel(tokens, limitAtReserve, timeToActMs, t);
  }

  /** limit returns the refill rate in events per second ({@link Inf} for unlimited). */
  limit(): number {
    return this.#limit;
  }

  /** burst returns the bucket's capacity: the most tokens one call can take. */
  burst(): number {
    return this.#burst;
  }

  /** tokens returns the tokens available now: `tokensAt(clock.now())`. */
  tokens(): number {
    return this.tokensAt(this.#clock.now());
  }

  /** tokensAt returns the tokens available at `t`, negative when reservations have put the bucket in debt. */
  tokensAt(t: number): number {
    checkTime('tokensAt', t);
    return this.#advance(t);
  }

  /** allow reports whether one event may happen now, taking its token if so: `allowN(clock.now(), 1)`. */
  allow(): boolean {
    return this.allowN(this.#clock.now(), 1);
  }

  /**
   * allowN reports whether n events may happen at `t`, and takes their tokens if so; a refusal changes
   * nothing. Use it to drop or reject events over the limit. It allocates nothing.
   */
  allowN(t: number, n: number): boolean {
    if (!Number.isInteger(n) || n < 0 || !Number.isFinite(t)) throw argumentError('allowN', t, n);
    return this.#reserve(t, n, 0);
  }

  /** reserve books one token now: `reserveN(clock.now(), 1)`. */
  reserve(): Reservation {
    return this.reserveN(this.#clock.now(), 1);
  }

  /**
   * reserveN books n tokens at `t` and returns when they may be used: the caller waits
   * `delayFrom(t)` and then acts, or cancels. The reservation is refused (`ok` false) only when
   * n > burst with a finite limit. With a zero (or tiny) limit and an empty bucket the reservation is
   * granted with an infinite delay: it only holds the bucket in debt until cancelled.
   */
  reserveN(t: number, n: number): Reservation {
    if (!Number.isInteger(n) || n < 0 || !Number.isFinite(t)) throw argumentError('reserveN', t, n);
    const ok = this.#reserve(t, n, Infinity);
    return this.#reservation(t, n, ok);
  }

  /**
   * book is reserveN for a caller that keeps its booking itself, allocating nothing (the scheduler books
   * once per job, millions of times in a simulation): it books n tokens at `t` and returns their time to
   * act, or NaN when refused (n over the burst, finite limit). {@link Limiter.cancelBooking} gives them back.
   */
  book(t: number, n: number): number {
    if (!Number.isInteger(n) || n < 0 || !Number.isFinite(t)) throw argumentError('book', t, n);
    if (!this.#reserve(t, n, Infinity)) return NaN;
    return this.#limit === Inf ? t : this.#lastEventMs;
  }

  /**
   * cancelBooking is {@link Reservation.cancelAt} for a booking: n tokens booked with `book` while the
   * limit was `limitAtBook`, due at `timeToActMs`, given back at `t`. Call it at most once per booking.
   */
  cancelBooking(t: number, n: number, limitAtBook: number, timeToActMs: number): void {
    checkTime('cancelBooking', t);
    this.#cancel(n, limitAtBook === Inf ? 0 : limitAtBook, timeToActMs, t);
  }

  /** wait takes one token, sleeping until it is there: `waitN(1, options)`. */
  wait(options?: WaitOptions): Promise<void> {
    return this.waitN(1, options);
  }

  /**
   * waitN takes n tokens, sleeping on the limiter's clock until they are there. It rejects at once,
   * consuming nothing, when n exceeds the burst (finite limit), when the signal is already aborted, or
   * when the wait would pass the deadline (also when the deadline has passed and a wait is needed).
   * If the signal aborts during the sleep, the reservation is cancelled and the wait rejects with the
   * signal's reason. A wait on a zero-limit limiter with an empty bucket lasts until aborted.
   */
  async waitN(n: number, options: WaitOptions = {}): Promise<void> {
    if (!Number.isInteger(n) || n < 0) throw argumentError('waitN', 0, n);
    const { signal, deadline } = options;
    if (deadline !== undefined && (typeof deadline !== 'number' || Number.isNaN(deadline))) {
      throw new RangeError(`waitN: deadline must be a number of milliseconds on the limiter's clock, got ${deadline}`);
    }
    if (n > this.#burst && this.#limit !== Inf) {
      throw new RangeError(`waitN: n (${n}) exceeds the limiter's burst (${this.#burst})`);
    }
    signal?.throwIfAborted();
    const now = this.#clock.now();
    // An expired deadline still admits a request that needs no wait (maxWait 0, as allowN).
    const maxWaitMs = deadline === undefined ? Infinity : deadline > now ? deadline - now : 0;
    if (!this.#reserve(now, n, maxWaitMs)) {
      const needMs = durationFromTokens(this.#limit, n - this.#advance(now));
      throw new Error(
        deadline! <= now
          ? `waitN(n=${n}): the deadline has passed and a wait of ${needMs} ms is needed`
          : `waitN(n=${n}): a wait of ${needMs} ms would pass the deadline (${deadline! - now} ms away)`,
      );
    }
    const actMs = this.#limit === Inf ? now : this.#lastEventMs;
    if (!(actMs > now)) return;
    const r = this.#reservation(now, n, true);
    try {
      // The clock wakes at now + (actMs - now), which is actMs exactly: actMs was computed as now + wait,
      // and round-to-nearest gives that sum back. A ManualClock advanced to actMs wakes the sleeper.
      await this.#clock.sleep(actMs - now, signal);
    } catch (err) {
      r.cancelAt(this.#clock.now());
      throw err;
    }
  }

  /** setLimit changes the refill rate now: `setLimitAt(clock.now(), limit)`. */
  setLimit(limit: number): void {
    this.setLimitAt(this.#clock.now(), limit);
  }

  /**
   * setLimitAt changes the refill rate at `t`. Tokens earned before `t` are kept (at the old rate);
   * reservations already granted keep their time to act. `limit` must be >= 0 or Inf.
   */
  setLimitAt(t: number, limit: number): void {
    checkTime('setLimitAt', t);
    checkLimit('setLimitAt', limit);
    this.#tokens = this.#advance(t);
    this.#lastMs = t;
    this.#limit = limit;
  }

  /** setBurst changes the capacity now: `setBurstAt(clock.now(), burst)`. */
  setBurst(burst: number): void {
    this.setBurstAt(this.#clock.now(), burst);
  }

  /**
   * setBurstAt changes the capacity at `t`, keeping the tokens earned so far. A larger burst adds room,
   * not tokens; a smaller one caps the tokens from then on. `burst` must be an integer >= 0.
   */
  setBurstAt(t: number, burst: number): void {
    checkTime('setBurstAt', t);
    checkBurst('setBurstAt', burst);
    this.#tokens = this.#advance(t);
    this.#lastMs = t;
    this.#burst = burst;
  }

  /**
   * #reserve is the one core of allow, reserve and wait: it grants n tokens at `t` if n <= burst and
   * the wait is at most `maxWaitMs`, and commits the new state only then. A refusal changes nothing, not
   * even #lastMs (golang/go#52584). The grant's time to act is `t` under an Inf limit, else #lastEventMs.
   */
  #reserve(t: number, n: number, maxWaitMs: number): boolean {
    const limit = this.#limit;
    if (limit === Inf) return true; // no state change at all
    const tokens = this.#advance(t) - n;
    let waitMs = 0;
    if (tokens < 0) {
      // Go's wait is whole nanoseconds (durationFromTokens); a deficit under 1 ns of refill waits 0.
      // Deciding "some wait" from ns >= 1 first keeps allowN's refusals off the slower full conversion.
      const ns = (-tokens / limit) * 1e9;
      if (ns >= 1) {
        if (maxWaitMs === 0) return false;
        waitMs = ns > MAX_WAIT_NS ? Infinity : Math.trunc(ns) / 1e6;
      }
    }
    if (n > this.#burst || waitMs > maxWaitMs) return false;
    // Subtleness: #lastMs becomes t even when t < #lastMs (time went backwards), as in Go.
    this.#lastMs = t;
    this.#tokens = tokens;
    this.#lastEventMs = t + waitMs;
    return true;
  }

  /** #reservation wraps the outcome of #reserve(t, n) for its holder. */
  #reservation(t: number, n: number, ok: boolean): Reservation {
    // Go remembers the limit in force at reservation time; an Inf reservation remembers 0.
    const inf = this.#limit === Inf;
    const timeToActMs = !ok ? Infinity : inf ? t : this.#lastEventMs;
    return new Reservation(this, this.#clock, ok, ok ? n : 0, timeToActMs, inf ? 0 : this.#limit);
  }

  /** #advance returns the tokens at `t` without changing anything: refill since #lastMs, capped at burst. */
  #advance(t: number): number {
    let tokens = this.#tokens;
    const lastMs = this.#lastMs;
    const limit = this.#limit;
    // tokensFromDuration, inlined for allowN's sake. Time going backwards (t < #lastMs) earns nothing
    // and costs nothing; t > lastMs also means a positive span, so an Inf limit cannot make 0 × Inf.
    if (t > lastMs && limit > 0) tokens += ((t - lastMs) / 1000) * limit;
    // The cap applies to old surplus too (a lowered burst); debt is never capped.
    return tokens < this.#burst ? tokens : this.#burst;
  }

  /**
   * #cancel gives back, at `t`, the tokens of a reservation for `tokens` made at `limitAtReserve` and
   * due at `timeToActMs`, minus those that reservations made after it already count on.
   */
  #cancel(tokens: number, limitAtReserve: number, timeToActMs: number, t: number): void {
    // Cancelling exactly at the time to act still counts; strictly after it is too late.
    if (this.#limit === Inf || tokens === 0 || timeToActMs < t) return;
    // Later reservations pushed #lastEventMs past this one's time to act; the tokens they were promised
    // stay spent. Equal times (even both Infinity, where the subtraction is NaN) mean none.
    const laterMs = this.#lastEventMs === timeToActMs ? 0 : this.#lastEventMs - timeToActMs;
    const restore = tokens - tokensFromDuration(limitAtReserve, laterMs);
    if (!(restore > 0)) return;
    const sum = this.#advance(t) + restore;
    this.#tokens = sum < this.#burst ? sum : this.#burst;
    this.#lastMs = t;
    if (timeToActMs === this.#lastEventMs) {
      // This was the latest reservation: the one before it acted `tokens` worth of refill earlier.
      const prevMs = timeToActMs + durationFromTokens(limitAtReserve, -tokens);
      if (prevMs >= t) this.#lastEventMs = prevMs;
    }
  }
}

/**
 * Reservation is tokens booked by {@link Limiter.reserveN}: if `ok`, the holder may act at
 * `timeToActMs` (after `delayFrom(t)`), or cancel to give back what it can. Reservations are made by a
 * Limiter; the constructor is not part of the API.
 */
export class Reservation {
  /** ok reports whether the tokens were granted. A reservation that is not ok has an infinite delay. */
  readonly ok: boolean;
  /** timeToActMs is when the holder may act (the grant time, ms on the limiter's clock); Infinity if not ok. */
  readonly timeToActMs: number;
  readonly #limiter: Limiter;
  readonly #clock: Clock;
  readonly #tokens: number;
  readonly #limitAtReserve: number;
  #cancelled = false;

  /** @internal */
  constructor(
    limiter: Limiter,
    clock: Clock,
    ok: boolean,
    tokens: number,
    timeToActMs: number,
    limitAtReserve: number,
  ) {
    this.#limiter = limiter;
    this.#clock = clock;
    this.ok = ok;
    this.#tokens = tokens;
    this.timeToActMs = timeToActMs;
    this.#limitAtReserve = limitAtReserve;
  }

  /** delay returns how long (ms) the holder must still wait: `delayFrom(clock.now())`. */
  delay(): number {
    return this.delayFrom(this.#clock.now());
  }

  /**
   * delayFrom returns how long (ms) from `t` the holder must wait before acting: 0 means act now,
   * Infinity means never (not ok, or a zero-limit bucket).
   */
  delayFrom(t: number): number {
    checkTime('delayFrom', t);
    if (!this.ok) return Infinity;
    const ms = this.timeToActMs - t;
    return ms > 0 ? ms : 0;
  }

  /** cancel gives back the tokens now: `cancelAt(clock.now())`. */
  cancel(): void {
    this.cancelAt(this.#clock.now());
  }

  /**
   * cancelAt declares at `t` that the holder will not act, and gives back as many tokens as the
   * reservations made after this one allow. It does nothing if the reservation is not ok, if `t` is
   * after its time to act, or if the limit is now Inf. Only the first call counts: unlike Go, a second
   * cancel changes nothing.
   */
  cancelAt(t: number): void {
    checkTime('cancelAt', t);
    if (!this.ok || this.#cancelled) return;
    this.#cancelled = true;
    cancelReservation(this.#limiter, this.#tokens, this.#limitAtReserve, this.timeToActMs, t);
  }
}
