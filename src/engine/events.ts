import type { AttemptOutcome, Job, Result } from './types.js';

/**
 * SchedulerEvent is what the scheduler announces as a job moves through the pipeline. Listeners (the
 * progress bar, output writers, --halt) subscribe; the scheduler knows nothing of them.
 */
export type SchedulerEvent =
  | { readonly type: 'arrived'; readonly job: Job; readonly atMs: number }
  | { readonly type: 'started'; readonly job: Job; readonly attempt: number; readonly atMs: number }
  | {
      readonly type: 'attempted';
      readonly job: Job;
      readonly attempt: number;
      readonly outcome: AttemptOutcome;
      readonly atMs: number;
    }
  | { readonly type: 'retrying'; readonly job: Job; readonly attempt: number; readonly delayMs: number; readonly atMs: number }
  | { readonly type: 'done'; readonly job: Job; readonly result: Result }
  /** limits: the shared limits changed (a plan's step, an adaptive move, --control, a signal); values are the new ones. */
  | { readonly type: 'limits'; readonly atMs: number; readonly ratePerSec: number; readonly burst: number; readonly concurrency: number; readonly reason: string };

export type SchedulerListener = (event: SchedulerEvent) => void;

export type SchedulerEventType = SchedulerEvent['type'];

const TYPES: readonly SchedulerEventType[] = ['arrived', 'started', 'attempted', 'retrying', 'done', 'limits'];

/**
 * Events is a minimal typed fan-out. A listener may name the event types it wants, so the scheduler builds
 * only events someone listens to (a simulation that folds `done` events makes no others: at a million jobs
 * the objects add up). A listener that throws is a bug and propagates.
 */
export class Events {
  #listeners: Array<{ fn: SchedulerListener; types: ReadonlySet<SchedulerEventType> | undefined }> = [];
  /** #byType lists each type's listeners, rebuilt when one comes or goes: emit makes no check per listener. */
  #byType: Record<SchedulerEventType, SchedulerListener[]> = { arrived: [], started: [], attempted: [], retrying: [], done: [], limits: [] };
  /**
   * wanted counts the listeners of each type (the index's lengths). Hot paths read it by name
   * (`events.wanted.done > 0`): a property of a fixed shape, cheaper than `wants(type)` once per step of a
   * million jobs.
   */
  readonly wanted: Readonly<Record<SchedulerEventType, number>> = { arrived: 0, started: 0, attempted: 0, retrying: 0, done: 0, limits: 0 };

  /** on subscribes a listener (to the given types, or all) and returns a function that unsubscribes it. */
  on(listener: SchedulerListener, types?: readonly SchedulerEventType[]): () => void {
    const entry = { fn: listener, types: types === undefined ? undefined : new Set(types) };
    this.#listeners.push(entry);
    this.#index();
    return () => {
      if (!this.#listeners.includes(entry)) return;
      this.#listeners = this.#listeners.filter((l) => l !== entry);
      this.#index();
    };
  }

  #index(): void {
    const byType = { arrived: [], started: [], attempted: [], retrying: [], done: [], limits: [] } as Record<SchedulerEventType, SchedulerListener[]>;
    for (const l of this.#listeners) for (const type of l.types ?? TYPES) byType[type].push(l.fn);
    this.#byType = byType;
    const wanted = this.wanted as Record<SchedulerEventType, number>;
    for (const type of TYPES) wanted[type] = byType[type].length;
  }

  /** active reports whether anyone listens at all. */
  get active(): boolean {
    return this.#listeners.length > 0;
  }

  /** wants reports whether anyone listens to events of this type (so the scheduler can skip building them). */
  wants(type: SchedulerEventType): boolean {
    return this.wanted[type] > 0;
  }

  emit(event: SchedulerEvent): void {
    const listeners = this.#byType[event.type];
    for (let i = 0; i < listeners.length; i++) listeners[i]!(event);
  }
}
