/**
 * RoundRobin picks the upstream for each request (HTTP) or connection (TCP), as kube-proxy's LoadBalancerRR
 * does: in turn, skipping an upstream that just failed to connect, and optionally keeping a client on the
 * upstream it was first given (session affinity, by a key such as a header's value).
 *
 * An upstream whose dial failed is skipped for a while: 1 s after the first failure, doubling while it
 * keeps failing, up to 30 s; one success makes it a normal member again. When every upstream is being
 * skipped, the one due back soonest is tried anyway, so a restarted fleet is found again without waiting.
 * Time is a parameter (ms on any one clock); nothing here reads a clock or does I/O.
 */
export interface RoundRobinOptions {
  /** downBaseMs is how long an upstream is skipped after its first failed dial (doubling per failure). */
  readonly downBaseMs?: number;
  readonly downMaxMs?: number;
  /** stickyTtlMs forgets a key's upstream after this long unused (kube-proxy's affinity timeout: 3 h). */
  readonly stickyTtlMs?: number;
}

interface Affinity {
  index: number;
  lastMs: number;
}

export class RoundRobin {
  readonly size: number;
  readonly #downUntil: Float64Array;
  readonly #failures: Uint32Array;
  readonly #downBaseMs: number;
  readonly #downMaxMs: number;
  readonly #stickyTtlMs: number;
  readonly #sticky = new Map<string, Affinity>();
  #sweepAt = 4096;
  #next = 0;

  constructor(size: number, options: RoundRobinOptions = {}) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`RoundRobin: size must be an integer >= 1, got ${size}`);
    this.size = size;
    this.#downUntil = new Float64Array(size).fill(-Infinity);
    this.#failures = new Uint32Array(size);
    this.#downBaseMs = options.downBaseMs ?? 1000;
    this.#downMaxMs = options.downMaxMs ?? 30_000;
    this.#stickyTtlMs = options.stickyTtlMs ?? 3 * 3_600_000;
  }

  /**
   * pick returns the index of the upstream for a request at `t`: the key's upstream when it has one that
   * is not being skipped, else the next in turn (which becomes the key's).
   */
  pick(t: number, key?: string): number {
    if (key === undefined) return this.#turn(t);
    const a = this.#sticky.get(key);
    if (a !== undefined && this.#downUntil[a.index]! <= t) {
      a.lastMs = t;
      return a.index;
    }
    const index = this.#turn(t);
    if (a !== undefined) {
      a.index = index;
      a.lastMs = t;
    } else {
      if (this.#sticky.size >= this.#sweepAt) this.#sweep(t);
      this.#sticky.set(key, { index, lastMs: t });
    }
    return index;
  }

  /** failed records a failed dial of upstream `i` at `t`: it is skipped for a while. */
  failed(i: number, t: number): void {
    const n = this.#failures[i]!;
    this.#failures[i] = n + 1;
    this.#downUntil[i] = t + Math.min(this.#downMaxMs, this.#downBaseMs * 2 ** Math.min(n, 30));
  }

  /** succeeded records that upstream `i` answered: it is a normal member again. */
  succeeded(i: number): void {
    if (this.#failures[i] === 0) return;
    this.#failures[i] = 0;
    this.#downUntil[i] = -Infinity;
  }

  /** down reports whether upstream `i` is being skipped at `t`. */
  down(i: number, t: number): boolean {
    return this.#downUntil[i]! > t;
  }

  #turn(t: number): number {
    const n = this.size;
    for (let k = 0; k < n; k++) {
      const i = (this.#next + k) % n;
      if (this.#downUntil[i]! <= t) {
        this.#next = (i + 1) % n;
        return i;
      }
    }
    // Every upstream is being skipped: try the one due back first.
    let best = 0;
    for (let i = 1; i < n; i++) if (this.#downUntil[i]! < this.#downUntil[best]!) best = i;
    this.#next = (best + 1) % n;
    return best;
  }

  /** #sweep forgets keys unused for longer than the affinity timeout, once the map has doubled. */
  #sweep(t: number): void {
    for (const [key, a] of this.#sticky) if (t - a.lastMs > this.#stickyTtlMs) this.#sticky.delete(key);
    this.#sweepAt = Math.max(4096, 2 * this.#sticky.size);
  }
}
