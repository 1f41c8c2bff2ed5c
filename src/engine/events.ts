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

/** Events is a minimal typed fan-out. A listener that throws is a bug and propagates. */
export class Events {
  #listeners: SchedulerListener[] = [];

  /** on subscribes a listener and returns a function that unsubscribes it. */
  on(listener: SchedulerListener): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** has reports whether anyone listens (so the scheduler can skip building events). */
  get active(): boolean {
    return this.#listeners.length > 0;
  }

  emit(event: SchedulerEvent): void {
    for (const l of this.#listeners) l(event);
  }
}
