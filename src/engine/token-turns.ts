import type { Clock } from '../core/clock.js';

/** HORIZON_MS: how far ahead jobs may hold reservations in the bucket. */
export const HORIZON_MS = 50;

interface Turn {
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
}

/**
 * TokenTurns is the queue in front of the scheduler's token bucket. Jobs reserve their tokens in arrival
 * order, but only while the latest reservation falls due within HORIZON_MS; the others wait their turn
 * here. So a plan's step, an adaptive decrease or a --control change reaches every job still queued
 * (reservations made long in advance at the old rate would not), while the few reserved ahead sleep side by
 * side, so a timer that fires late delays one start, not every later one.
 *
 * Use: a job may reserve at once when `open(now)`; else it awaits `wait()`, and calls `taken()` the moment
 * it resumes. Either way it reports its reservation's due time with `reserved`, and calls `next()` after
 * reserving and again once its wait for the tokens is over, so that the jobs behind it get their turn.
 */
export class TokenTurns {
  readonly #clock: Clock;
  #lastDueMs = -Infinity;
  /** #woken counts jobs let go but not yet reserved: newcomers queue behind them. */
  #woken = 0;
  readonly #queue: Array<Turn | undefined> = [];
  #head = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** queued is how many jobs wait for their turn. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** open reports whether a job arriving at `nowMs` may reserve at once: nobody before it, the horizon not reached. */
  open(nowMs: number): boolean {
    return this.#woken === 0 && this.#head === this.#queue.length && this.#lastDueMs - nowMs <= HORIZON_MS;
  }

  /** wait resolves when it is the caller's turn to reserve; it rejects with the reason of cancelAll. */
  wait(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#queue.push({ resolve, reject }));
  }

  /**
   * taken says a job let go by `next` has resumed, and reserves now. Subtleness: until it says so, newcomers
   * queue behind it; it must say so in the very continuation that reserves, with no await between, or a
   * newcomer could find the queue open in the gap and reserve first, out of turn.
   */
  taken(): void {
    this.#woken--;
  }

  /** reserved records a reservation falling due at `dueMs`. */
  reserved(dueMs: number): void {
    if (dueMs > this.#lastDueMs) this.#lastDueMs = dueMs;
  }

  /** next lets the next queued job reserve, if the latest reservation falls due soon enough. */
  next(): void {
    const turn = this.#queue[this.#head];
    if (turn === undefined || this.#lastDueMs - this.#clock.now() > HORIZON_MS) return;
    this.#queue[this.#head++] = undefined;
    this.#woken++;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    turn.resolve();
  }

  /** cancelAll rejects every job waiting for its turn with `reason`. */
  cancelAll(reason: unknown): void {
    const waiting = this.#queue.splice(this.#head);
    this.#queue.length = this.#head = 0;
    for (const turn of waiting) turn?.reject(reason);
  }
}
