import type { ManualClock } from '../core/clock.js';
import type { RunStats, Scheduler } from './scheduler.js';

/** MICROTASK_BUDGET: steps (instants and microtask turns) before yielding to the event loop once. */
const MICROTASK_BUDGET = 10_000;

/**
 * FIRST_YIELD: steps before the first yield. The engine compiles the driver's loop after a few thousand
 * steps; a call in it that it has never seen made (the yield's setImmediate) would, when first made,
 * discard the compiled loop, to be compiled again. Made once early, it is part of what gets compiled.
 */
const FIRST_YIELD = 500;

/** TURN: a promise already resolved; `TURN.then(f)` runs f one microtask turn from now. */
const TURN: Promise<void> = Promise.resolve();

/** IDLE_ROUNDS: event-loop turns with nothing due and nothing moving before the run counts as stalled. */
const IDLE_ROUNDS = 100;

/**
 * runSimulated runs a scheduler on a ManualClock in virtual time: whenever nothing can progress without time
 * passing, it moves the clock to the next deadline. Nothing sleeps for real, so a long trace replays in
 * moments, and what it predicts is what the same scheduler would do in real time.
 *
 * "Nothing can progress" is counted, not guessed (Scheduler.quiescent): after each step the driver looks
 * again, at once and then one microtask later, and again, until every job again waits on the clock, the
 * in-flight queue or the source. The clock must be used by this run alone, and the executor must do all its
 * waiting on it (the simulated executor does); a source may do real I/O, and time stands still while a read
 * is pending.
 *
 * The driver is a callback on a settled promise, not an async loop: a million-event replay takes a few
 * million steps, and a promise reaction is the cheapest turn there is (queueMicrotask, in Node, also makes
 * an async resource each time).
 */
export function runSimulated<P>(scheduler: Scheduler<P>, clock: ManualClock): Promise<RunStats> {
  return new Promise<RunStats>((resolve, reject) => {
    let finished = false;
    let turns = MICROTASK_BUDGET - FIRST_YIELD;
    let idleRounds = 0;
    const poll = (): void => {
      if (finished) return;
      for (;;) {
        if (++turns >= MICROTASK_BUDGET) {
          // A long cascade, or a continuation that waits on the event loop (a stream's callback): let the
          // event loop turn once (output is written meanwhile).
          turns = 0;
          setImmediate(poll);
          return;
        }
        if (!scheduler.quiescent(clock.pending)) {
          TURN.then(poll);
          return;
        }
        const busy = scheduler.sourceBusy;
        if (busy !== undefined) {
          idleRounds = 0;
          busy.then(poll, poll);
          return;
        }
        // Wakes are called back inside advanceToNext: when every one of them waits on the clock again, the run
        // is still quiescent and the next instant follows at once, without a microtask between.
        if (!clock.advanceToNext()) {
          // Nothing sleeps and the source is idle: the run is finishing (its last continuations are
          // unwinding), or it is stuck, which would be a bug.
          turns = 0;
          if (++idleRounds > IDLE_ROUNDS) {
            finished = true;
            reject(new Error('simulation stalled: no job can progress and nothing is due (a bug)'));
          } else setImmediate(poll);
          return;
        }
        idleRounds = 0;
      }
    };
    scheduler.run().then(
      (stats) => {
        finished = true;
        resolve(stats);
      },
      (err: unknown) => {
        finished = true;
        reject(err);
      },
    );
    TURN.then(poll);
  });
}
