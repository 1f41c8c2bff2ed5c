import type { CoalesceEvent, RunReason } from '../engine/coalesce.js';
import { Distribution, type Stats } from './metrics.js';

/** CoalesceSummary is everything measured about a `throttle coalesce` loop. */
export interface CoalesceSummary {
  readonly runs: {
    readonly total: number;
    readonly succeeded: number;
    readonly failed: number;
    /** retried counts runs that followed a failed run (attempt > 1). */
    readonly retried: number;
    /** byReason counts runs by what started them. */
    readonly byReason: Readonly<Record<RunReason, number>>;
  };
  readonly triggers: {
    readonly received: number;
    readonly served: number;
    /** coalesced counts served triggers that got no run of their own: served minus the runs that served any. */
    readonly coalesced: number;
    /** unserved counts triggers no run started after (the loop was stopped first, or ended without draining). */
    readonly unserved: number;
  };
  readonly elapsedMs: number;
  /** delayMs is, per served trigger, the time from its arrival to the start of the run that served it. */
  readonly delayMs: Stats;
  /** serviceMs is the duration of each run. */
  readonly serviceMs: Stats;
  /** outcomes counts runs by exit status (or error name such as `timeout`). */
  readonly outcomes: Readonly<Record<string, number>>;
}

/**
 * CoalesceMetrics folds a Coalescer's events into a {@link CoalesceSummary}: `add` each event, then
 * `close` with the counts only the Coalescer knows (triggers received and left unserved).
 */
export class CoalesceMetrics {
  readonly #delay = new Distribution();
  readonly #service = new Distribution();
  readonly #byReason: Record<RunReason, number> = { trigger: 0, start: 0, retry: 0, periodic: 0 };
  readonly #outcomes: Record<string, number> = {};
  #runs = 0;
  #succeeded = 0;
  #failed = 0;
  #retried = 0;
  #served = 0;
  #servingRuns = 0;

  /** add takes one event. */
  add(e: CoalesceEvent): void {
    if (e.type === 'started') {
      const { run } = e;
      this.#runs++;
      this.#byReason[run.reason]++;
      if (run.attempt > 1) this.#retried++;
      if (run.triggersMs.length > 0) this.#servingRuns++;
      this.#served += run.triggersMs.length;
      for (const atMs of run.triggersMs) this.#delay.add(run.startedMs - atMs);
      return;
    }
    this.#service.add(e.endedMs - e.run.startedMs);
    if (e.outcome.ok) this.#succeeded++;
    else this.#failed++;
    const code = String(e.outcome.code);
    this.#outcomes[code] = (this.#outcomes[code] ?? 0) + 1;
  }

  /** close returns the summary; `received` and `unserved` come from the Coalescer. */
  close(o: { elapsedMs: number; received: number; unserved: number }): CoalesceSummary {
    return {
      runs: { total: this.#runs, succeeded: this.#succeeded, failed: this.#failed, retried: this.#retried, byReason: { ...this.#byReason } },
      triggers: { received: o.received, served: this.#served, coalesced: this.#served - this.#servingRuns, unserved: o.unserved },
      elapsedMs: Math.round(o.elapsedMs * 1000) / 1000,
      delayMs: this.#delay.stats(),
      serviceMs: this.#service.stats(),
      outcomes: { ...this.#outcomes },
    };
  }
}
