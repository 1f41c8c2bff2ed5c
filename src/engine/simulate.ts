import type { ManualClock } from '../core/clock.js';
import type { RunStats, Scheduler } from './scheduler.js';

/** settle lets every pending promise continuation run (setImmediate runs after the microtask queue drains). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** MICROTASK_BUDGET: turns to wait for quiescence before yielding to the event loop once. */
const MICROTASK_BUDGET = 10_000;

/** TURN: awaiting a promise already resolved takes one microtask turn without making a new promise. */
const TURN: Promise<void> = Promise.resolve();

/**
 * runSimulated runs a scheduler on a ManualClock in virtual time: whenever nothing can progress without time
 * passing, it moves the clock to the next deadline. Nothing sleeps for real, so a long trace replays in
 * moments, and what it predicts is what the same scheduler would do in real time.
 *
 * "Nothing can progress" is counted, not guessed (Scheduler.quiescent): after each step the driver yields
 * microtask turns until every job again waits on the clock, the in-flight queue or the source. The clock
 * must be used by this run alone, and the executor must do all its waiting on it (the simulated executor
 * does); a source may do real I/O, and time stands still while a read is pending.
 */
export async function runSimulated<P>(scheduler: Scheduler<P>, clock: ManualClock): Promise<RunStats> {
  let finished = false;
  let failure: unknown;
  const run = scheduler.run().then(
    (stats) => {
      finished = true;
      return stats;
    },
    (err: unknown) => {
      finished = true;
      failure = err;
      return undefined;
    },
  );
  let idleRounds = 0;
  while (!finished) {
    for (let turns = 0; !finished && !scheduler.quiescent(clock.pending); turns++) {
      if (turns < MICROTASK_BUDGET) await TURN;
      else {
        await settle();
        turns = 0;
      }
    }
    if (finished) break;
    const busy = scheduler.sourceBusy;
    if (busy !== undefined) {
      await busy.catch(() => undefined);
      idleRounds = 0;
      continue;
    }
    const next = clock.nextDeadline();
    if (next === undefined) {
      // Nothing sleeps and the source is idle: the run is finishing (its last continuations are unwinding),
      // or it is stuck, which would be a bug.
      await settle();
      if (++idleRounds > 100) throw new Error('simulation stalled: no job can progress and nothing is due (a bug)');
      continue;
    }
    idleRounds = 0;
    clock.advanceTo(next);
  }
  const stats = await run;
  if (stats === undefined) throw failure;
  return stats;
}
