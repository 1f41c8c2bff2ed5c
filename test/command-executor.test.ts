import test from 'ava';
import { setMaxListeners } from 'node:events';
import { CommandExecutor } from '../src/executors/command.js';
import type { AttemptContext, Job } from '../src/engine/types.js';
import type { CommandPayload } from '../src/executors/command.js';

const context: AttemptContext = { attempt: 1, stop: new AbortController().signal, kill: new AbortController().signal };
// Every running child listens on the kill signal (as under the scheduler, which allows any number).
setMaxListeners(0, context.stop, context.kill);

function job(seq: number, file: string): Job<CommandPayload> {
  return { seq, key: String(seq), payload: { file, args: [] } };
}

/**
 * chain runs `total` jobs of `file`, `width` at a time, each started as soon as one ends (as the scheduler
 * starts a queued job). Once 10 have ended it sets a timer for `timerMs`, and says how many had ended when
 * it fired (undefined: not before the last).
 */
async function chain(file: string, total: number, width: number, timerMs: number): Promise<{ endedWhenTimerFired: number | undefined; ended: number }> {
  const executor = new CommandExecutor({ stdio: 'ignore', timeoutMs: Infinity, killAfterMs: 1000, retryOn: undefined, detached: false });
  let started = 0;
  let ended = 0;
  let endedWhenTimerFired: number | undefined;
  await new Promise<void>((resolve) => {
    const next = (): void => {
      if (started === total) {
        if (ended === total) resolve();
        return;
      }
      const seq = started++;
      void executor.execute(job(seq, file), context).then(() => {
        if (++ended === 10) setTimeout(() => (endedWhenTimerFired ??= ended), timerMs);
        next();
      });
    };
    for (let i = 0; i < width; i++) next();
  });
  return { endedWhenTimerFired: endedWhenTimerFired === total ? undefined : endedWhenTimerFired, ended };
}

// Node reports a child's end from inside its SIGCHLD handling, which keeps reading while ends keep coming:
// a next child spawned right there (a few ms) ends meanwhile, and with a few dozen at a time the event loop
// stayed there until the chain ran dry, so no timer (nor Ctrl-C) got a turn. Each end is handed on a turn
// later. (Before that, the timer below fired after all 300 jobs; a chain 8 wide starved it for a while.)
test('jobs started one on the end of another leave the event loop its turns: a timer fires while they run', async (t) => {
  const { endedWhenTimerFired, ended } = await chain('true', 300, 32, 10);
  t.is(ended, 300);
  t.not(endedWhenTimerFired, undefined, 'a 10 ms timer fired only once all 300 jobs had ended');
});

test('commands that cannot start, one on the failure of another, leave the event loop its turns too', async (t) => {
  const { endedWhenTimerFired, ended } = await chain('/nonexistent/throttle-test-command', 300, 8, 5);
  t.is(ended, 300);
  t.not(endedWhenTimerFired, undefined, 'a 5 ms timer fired only once all 300 failures were in');
});
