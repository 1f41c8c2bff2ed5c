import type { Clock } from '../core/clock.js';
import { InflightLimiter, type Slot, type WorkKind } from '../core/inflight.js';
import { KeyedLimiters } from '../core/keyed.js';
import { Limiter, type Reservation } from '../core/limiter.js';
import { type FaultRule, FaultPicker } from './faults.js';

/** AdmissionOptions are the limits of `throttle proxy`, as settings give them. */
export interface AdmissionOptions {
  readonly clock: Clock;
  /** ratePerSec refills the shared bucket; Infinity means no shared bucket. */
  readonly ratePerSec: number;
  readonly burst: number;
  /** concurrency caps requests in flight (the read-only pool when mutatingConcurrency is set); Infinity: no cap. */
  readonly concurrency: number;
  /** mutatingConcurrency gives mutating requests a pool of their own; undefined shares one pool. */
  readonly mutatingConcurrency?: number | undefined;
  readonly onFull: 'wait' | 'reject';
  /** maxWaitMs bounds the wait for a slot and tokens together (wait mode); a longer wait is a 429. */
  readonly maxWaitMs: number;
  /** perKey gives every key (client address or header value) a bucket of its own, besides the shared one. */
  readonly perKey?: { readonly ratePerSec: number; readonly burst: number } | undefined;
  readonly faults?: readonly FaultRule[];
  /** random draws the faults (seeded by the caller); needed only with faults. */
  readonly random?: () => number;
}

/** RejectReason says which gate answered 429; `gone` is a waiting client that went away. */
export type RejectReason = 'rate' | 'per-key' | 'concurrency' | 'gone';

/**
 * RateLimitFields are the draft IETF RateLimit fields of the bucket closest to its limit (shared or per-key).
 * `limit` is the bucket's size (the quota a client may spend at once), `remaining` the whole tokens left
 * after this request, and `resetSec` the seconds until the bucket is full again (0 when it is).
 */
export interface RateLimitFields {
  readonly limit: number;
  readonly remaining: number;
  readonly resetSec: number;
}

/** Admitted is a request let through: forward it, then call release once it is done. */
export interface Admitted {
  readonly state: 'admitted';
  readonly exempt: boolean;
  /** waitedMs is how long the slot and the tokens held it (0 for most requests). */
  readonly waitedMs: number;
  /** fault is the injected fault drawn for it, if any. */
  readonly fault: FaultRule | undefined;
  /** fields are the RateLimit fields to send back; undefined without any bucket. */
  readonly fields: RateLimitFields | undefined;
  /** release gives back the in-flight slot; a second call does nothing. */
  release(): void;
}

/** Rejected is a request answered 429 (or, for `gone`, not answered at all). */
export interface Rejected {
  readonly state: 'rejected';
  readonly reason: RejectReason;
  /** retryAfterMs is when a retry should find room: the reservation's wait, or 1 s for a full cap. */
  readonly retryAfterMs: number;
  readonly waitedMs: number;
  readonly fields: RateLimitFields | undefined;
}

/** Waiting is a request that waits for a slot or its tokens; `verdict` settles when that is over. */
export interface Waiting {
  readonly state: 'waiting';
  /** verdict never rejects: it resolves Admitted, or Rejected (max wait passed, or abort called). */
  readonly verdict: Promise<Admitted | Rejected>;
  /** abort gives up the wait (the client went away): the verdict becomes Rejected with reason `gone`. */
  abort(): void;
}

export type Verdict = Admitted | Rejected | Waiting;

/** AdmissionCounts are the counters of the report (see DESIGN.md: admitted, waited, rejected, watermarks). */
export interface AdmissionCounts {
  /** admitted counts requests let through, exempt ones included. */
  readonly admitted: number;
  /** waited counts admitted requests that waited for a slot or a token first. */
  readonly waited: number;
  readonly exempt: number;
  readonly rejected: { readonly rate: number; readonly perKey: number; readonly concurrency: number; readonly gone: number };
  /** injected counts, per rule text, the requests a fault was drawn for. */
  readonly injected: Readonly<Record<string, number>>;
  /** inFlight counts admitted requests not yet released, exempt ones included; waiting those held. */
  readonly inFlight: number;
  readonly waiting: number;
  /** peak is the most requests in flight at once, exempt ones included; readOnly and mutating are the pools'. */
  readonly peak: { readonly total: number; readonly readOnly: number; readonly mutating: number };
}

/** CAP_RETRY_AFTER_MS is the apiserver's Retry-After for a full in-flight cap: nothing better is known. */
export const CAP_RETRY_AFTER_MS = 1000;

/** Tokens is the outcome of taking one token from each bucket that applies. */
interface Tokens {
  readonly delayMs: number;
  /** actAt is when both tokens are there: the time of the reservation plus delayMs. */
  readonly actAt: number;
  /** reason names the bucket with the longer wait. */
  readonly reason: 'rate' | 'per-key';
  readonly shared: Reservation | undefined;
  readonly keyed: Reservation | undefined;
}


/** Lets a Ticket update its Admission's count (set in Admission's static block). */
let releaseTicket: (admission: Admission) => void;

/**
 * Admission is the policy of `throttle proxy`, the limiter on the server side: which requests (or
 * connections) go through, which wait, and which are answered 429 at once. It does no I/O and reads time
 * only from its Clock, so it is tested on a ManualClock; the HTTP and TCP proxies only carry out its
 * verdicts.
 *
 * The gates, in order, are those of the client side (`throttle http`):
 * - exempt requests (`--exempt-header`, the apiserver's system:masters) skip every gate, hold no slot and
 *   take no token;
 * - the in-flight cap (`-j`, and `--mutating-concurrency` for a separate pool of mutating requests: the
 *   apiserver's maxinflight with its two semaphores);
 * - the token bucket (`-r`, `-b`) and, with `--per-key-rate`, the key's own bucket: a request needs a token
 *   from both and waits for the later one.
 *
 * `onFull: 'wait'` (the default) takes the slot first (queueing FIFO for one), then waits for the tokens,
 * as Limiter.wait does, so the upstream never sees more than `burst + rate × t` in any window even when
 * slots free up all at once; a request that would wait longer than `maxWaitMs` in all is answered 429
 * instead. `onFull: 'reject'` answers at once: a missing token or a full cap is a 429, and a rejected
 * request keeps nothing (its reservation is cancelled, its slot released), so rejections do not eat into
 * the rate.
 *
 * A rate rejection carries the wait its reservation computed (Retry-After: a client that honours it finds
 * its token there, unless others took it first). A full cap has no such answer: the apiserver's 1 s is used.
 */
export class Admission {
  readonly #o: AdmissionOptions;
  readonly #clock: Clock;
  readonly #inflight: InflightLimiter;
  readonly #bucket: Limiter | undefined;
  readonly #keyed: KeyedLimiters | undefined;
  readonly #faults: FaultPicker | undefined;
  #admitted = 0;
  #waited = 0;
  #exempt = 0;
  #rejected = { rate: 0, perKey: 0, concurrency: 0, gone: 0 };
  #inFlight = 0;
  #peak = 0;
  #waiting = 0;

  constructor(options: AdmissionOptions) {
    this.#o = options;
    this.#clock = options.clock;
    this.#inflight = new InflightLimiter({ limit: options.concurrency, mutatingLimit: options.mutatingConcurrency });
    this.#bucket = options.ratePerSec === Infinity ? undefined : new Limiter(options.ratePerSec, options.burst, { clock: options.clock });
    this.#keyed = options.perKey === undefined ? undefined : new KeyedLimiters(options.perKey.ratePerSec, options.perKey.burst, options.clock);
    const rules = options.faults ?? [];
    if (rules.length > 0 && options.random === undefined) throw new RangeError('Admission: faults need a random source');
    this.#faults = rules.length === 0 ? undefined : new FaultPicker(rules, options.random!);
  }

  /** limited reports whether any bucket applies (then every answer carries RateLimit fields). */
  get limited(): boolean {
    return this.#bucket !== undefined || this.#keyed !== undefined;
  }

  /**
   * admit decides on one request of `kind` from `key` (its per-key bucket; ignored without one) at the
   * clock's now. Most requests get their verdict at once; only a request that must wait gets a promise.
   */
  admit(kind: WorkKind, key: string | undefined, exempt: boolean): Verdict {
    if (exempt) {
      this.#exempt++;
      return this.#ticket(undefined, true, 0, undefined);
    }
    const t = this.#clock.now();
    if (this.#o.onFull === 'reject') return this.#admitNow(kind, key, t);
    const slot = this.#inflight.tryAcquire(kind);
    if (slot === undefined) return this.#waitFor(kind, key, t);
    if (!this.limited) return this.#ticket(slot, false, 0, undefined);
    const tokens = this.#take(key, t);
    if (tokens.delayMs === 0) return this.#ticket(slot, false, 0, this.#fields(key, t));
    if (tokens.delayMs > this.#o.maxWaitMs) {
      this.#giveBack(tokens, t);
      slot.release();
      return this.#reject(tokens.reason, tokens.delayMs, 0, key, t);
    }
    return this.#waitFor(kind, key, t, slot, tokens);
  }

  /**
   * #admitNow is reject mode: tokens first, then a slot, each given back when the other is missing, so a
   * rejected request leaves no trace, not even in the in-flight watermark.
   */
  #admitNow(kind: WorkKind, key: string | undefined, t: number): Admitted | Rejected {
    const tokens = this.limited ? this.#take(key, t) : undefined;
    if (tokens !== undefined && tokens.delayMs > 0) {
      this.#giveBack(tokens, t);
      return this.#reject(tokens.reason, tokens.delayMs, 0, key, t);
    }
    const slot = this.#inflight.tryAcquire(kind);
    if (slot === undefined) {
      if (tokens !== undefined) this.#giveBack(tokens, t);
      return this.#reject('concurrency', CAP_RETRY_AFTER_MS, 0, key, t);
    }
    return this.#ticket(slot, false, 0, tokens === undefined ? undefined : this.#fields(key, t));
  }

  /** counts returns the counters so far. */
  counts(): AdmissionCounts {
    const injected: Record<string, number> = {};
    this.#faults?.rules.forEach((rule, i) => {
      injected[rule.text] = (injected[rule.text] ?? 0) + this.#faults!.counts[i]!;
    });
    return {
      admitted: this.#admitted,
      waited: this.#waited,
      exempt: this.#exempt,
      rejected: { ...this.#rejected },
      injected,
      inFlight: this.#inFlight,
      waiting: this.#waiting,
      peak: { total: this.#peak, readOnly: this.#inflight.peak('readOnly'), mutating: this.#inflight.peak('mutating') },
    };
  }

  /** inFlight is how many admitted requests are not released yet (exempt ones included). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** waiting is how many requests wait for a slot or tokens right now. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * #waitFor holds a request until it has a slot and its tokens, or until the wait would pass maxWaitMs.
   * `slot` and `tokens` are what admit already took at `t0`.
   */
  #waitFor(kind: WorkKind, key: string | undefined, t0: number, slot?: Slot, tokens?: Tokens): Waiting {
    const abort = new AbortController();
    this.#waiting++;
    const verdict = this.#wait(kind, key, t0, abort.signal, slot, tokens).finally(() => {
      this.#waiting--;
    });
    return { state: 'waiting', verdict, abort: () => abort.abort() };
  }

  async #wait(kind: WorkKind, key: string | undefined, t0: number, signal: AbortSignal, held?: Slot, taken?: Tokens): Promise<Admitted | Rejected> {
    const clock = this.#clock;
    const deadline = t0 + this.#o.maxWaitMs;
    const slot = held ?? (await this.#queue(kind, deadline, signal));
    if (slot === undefined) {
      return this.#reject(signal.aborted ? 'gone' : 'concurrency', CAP_RETRY_AFTER_MS, clock.now() - t0, key, clock.now());
    }
    // Subtleness: tokens are taken only once the slot is ours (unless admit took both at once), so the
    // grants are spaced by the bucket however many slots free up together.
    let tokens = taken;
    if (tokens === undefined) {
      const t = clock.now();
      tokens = this.#take(key, t);
      if (tokens.actAt > deadline) {
        this.#giveBack(tokens, t);
        slot.release();
        return this.#reject(tokens.reason, tokens.delayMs, t - t0, key, t);
      }
    }
    if (tokens.delayMs > 0) {
      try {
        await clock.sleep(tokens.actAt - clock.now(), signal);
      } catch {
        const t = clock.now();
        this.#giveBack(tokens, t);
        slot.release();
        return this.#reject('gone', 0, t - t0, key, t);
      }
    }
    const t = clock.now();
    return this.#ticket(slot, false, t - t0, this.limited ? this.#fields(key, t) : undefined);
  }

  /** #queue waits in the pool's FIFO queue for a slot until `deadline`; undefined when it passed or the wait was aborted. */
  async #queue(kind: WorkKind, deadline: number, signal: AbortSignal): Promise<Slot | undefined> {
    const left = deadline - this.#clock.now();
    if (!(left > 0)) return undefined;
    const giveUp = new AbortController();
    const got = new AbortController();
    const onAbort = (): void => giveUp.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.#clock.sleep(left, got.signal).then(
      () => giveUp.abort(),
      () => undefined,
    );
    try {
      return await this.#inflight.acquire(kind, { signal: giveUp.signal });
    } catch {
      return undefined;
    } finally {
      got.abort();
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * #take reserves one token from the shared bucket and one from the key's (each that applies), and says
   * how long to wait for both.
   */
  #take(key: string | undefined, t: number): Tokens {
    const shared = this.#bucket?.reserveN(t, 1);
    const keyed = this.#keyed === undefined || key === undefined ? undefined : this.#keyed.reserve(key, t, 1);
    const sharedMs = shared === undefined ? 0 : shared.delayFrom(t);
    const keyedMs = keyed === undefined ? 0 : keyed.delayFrom(t);
    const delayMs = sharedMs > keyedMs ? sharedMs : keyedMs;
    return { delayMs, actAt: t + delayMs, reason: keyedMs > sharedMs ? 'per-key' : 'rate', shared, keyed };
  }

  /** #giveBack cancels both reservations at t, the later one first, so each gives back all it took. */
  #giveBack(tokens: Tokens, t: number): void {
    tokens.keyed?.cancelAt(t);
    tokens.shared?.cancelAt(t);
  }

  /**
   * #fields computes the RateLimit fields at t of whichever bucket has fewer whole tokens left (on a tie,
   * the one that takes longer to fill up again).
   */
  #fields(key: string | undefined, t: number): RateLimitFields | undefined {
    let best: RateLimitFields | undefined;
    if (this.#bucket !== undefined) best = fieldsOf(this.#bucket.tokensAt(t), this.#o.burst, this.#o.ratePerSec);
    const perKey = this.#o.perKey;
    if (this.#keyed !== undefined && perKey !== undefined && key !== undefined) {
      const f = fieldsOf(this.#keyed.tokensAt(key, t), perKey.burst, perKey.ratePerSec);
      if (best === undefined || f.remaining < best.remaining || (f.remaining === best.remaining && f.resetSec > best.resetSec)) best = f;
    }
    return best;
  }

  #ticket(slot: Slot | undefined, exempt: boolean, waitedMs: number, fields: RateLimitFields | undefined): Admitted {
    this.#admitted++;
    if (waitedMs > 0) this.#waited++;
    const n = ++this.#inFlight;
    if (n > this.#peak) this.#peak = n;
    return new Ticket(this, slot, exempt, waitedMs, this.#faults?.pick(), fields);
  }

  #reject(reason: RejectReason, retryAfterMs: number, waitedMs: number, key: string | undefined, t: number): Rejected {
    if (reason === 'per-key') this.#rejected.perKey++;
    else this.#rejected[reason]++;
    return { state: 'rejected', reason, retryAfterMs, waitedMs, fields: this.limited ? this.#fields(key, t) : undefined };
  }

  static {
    releaseTicket = (admission) => {
      admission.#inFlight--;
    };
  }
}

class Ticket implements Admitted {
  readonly state = 'admitted';
  #admission: Admission | undefined;
  readonly #slot: Slot | undefined;

  constructor(
    admission: Admission,
    slot: Slot | undefined,
    readonly exempt: boolean,
    readonly waitedMs: number,
    readonly fault: FaultRule | undefined,
    readonly fields: RateLimitFields | undefined,
  ) {
    this.#admission = admission;
    this.#slot = slot;
  }

  release(): void {
    const admission = this.#admission;
    if (admission === undefined) return;
    this.#admission = undefined;
    this.#slot?.release();
    releaseTicket(admission);
  }
}

/** fieldsOf gives the RateLimit fields of a bucket holding `tokens` (negative: in debt). */
export function fieldsOf(tokens: number, burst: number, ratePerSec: number): RateLimitFields {
  // A bucket exactly refilled may read 0.9999999999999999 tokens; that counts as a whole one.
  const whole = Math.floor(tokens + 1e-9);
  const missing = burst - tokens;
  return {
    limit: burst,
    remaining: Math.max(0, Math.min(burst, whole)),
    resetSec: missing <= 1e-9 ? 0 : Math.ceil(missing / ratePerSec - 1e-9),
  };
}

/** retryAfterSeconds is a wait as HTTP's delay-seconds: whole seconds, rounded up, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000 - 1e-9));
}
