/** AbortEntry is something that waits under a signal and must hear of its abort. */
export interface AbortEntry {
  onAbort(reason: unknown): void;
}

/** abortReason is the signal's reason, or an AbortError when it has none. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * AbortWatch lets any number of waiters share one 'abort' listener per signal. A listener per waiter costs
 * an add and a remove each time, and both grow slower with the number already on the signal; a scheduler
 * may keep thousands of jobs waiting under its one stop signal.
 */
export class AbortWatch<E extends AbortEntry> {
  readonly #sets = new WeakMap<AbortSignal, Set<E>>();

  /** add watches `entry` under `signal` (which must not be aborted yet). */
  add(signal: AbortSignal, entry: E): void {
    let set = this.#sets.get(signal);
    if (set === undefined) {
      const entries = new Set<E>();
      set = entries;
      this.#sets.set(signal, entries);
      signal.addEventListener(
        'abort',
        () => {
          const reason = abortReason(signal);
          const all = [...entries];
          entries.clear();
          for (const e of all) e.onAbort(reason);
        },
        { once: true },
      );
    }
    set.add(entry);
  }

  /** delete stops watching `entry`. */
  delete(signal: AbortSignal, entry: E): void {
    this.#sets.get(signal)?.delete(entry);
  }
}
