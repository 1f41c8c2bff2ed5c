import test from 'ava';
import { ManualClock } from '../src/core/clock.js';
import { InflightLimiter } from '../src/core/inflight.js';
import { Inf, Limiter } from '../src/core/limiter.js';
import { RetryPolicy } from '../src/core/retry.js';
import { Scheduler } from '../src/engine/scheduler.js';
import { runSimulated } from '../src/engine/simulate.js';
import type { Job } from '../src/engine/types.js';
import { SimulatedExecutor, type SimulatedWork } from '../src/executors/simulated.js';

// A pause must also hold the jobs that were already queued at a gate when it began: the one handed the
// slot the 429 freed, and the one whose token came due during the pause (found by test/e2e/http-timing).

/** startsOf runs the jobs on a ManualClock; job 0 answers 429 with a 500 ms pause on its first attempt. */
async function startsOf(opts: { rate: number; concurrency: number; onFull: 'wait' | 'reject' }): Promise<Array<[number, number]>> {
  const clock = new ManualClock();
  const jobs: Array<Job<SimulatedWork>> = [
    { seq: 0, key: 'a', payload: { serviceMs: 10, status: (n: number) => (n === 1 ? 429 : 200), retryAfterMs: 500 } },
    { seq: 1, key: 'b', payload: { serviceMs: 10 } },
  ];
  const simulated = new SimulatedExecutor({ clock });
  const executor = {
    execute: async (job: Job<SimulatedWork>, ctx: Parameters<typeof simulated.execute>[1]) => {
      const outcome = await simulated.execute(job, ctx);
      return outcome.retryAfterMs === undefined || outcome.ok ? outcome : { ...outcome, pauseMs: outcome.retryAfterMs };
    },
  };
  const scheduler = new Scheduler<SimulatedWork>(jobs, executor, {
    clock,
    limiter: new Limiter(opts.rate, 1, { clock }),
    inflight: new InflightLimiter({ limit: opts.concurrency }),
    onFull: opts.onFull,
    retry: new RetryPolicy<number>({ retries: 2, baseDelayMs: 10, maxDelayMs: 10_000, jitter: 'none' }),
    arrivals: 'read',
    lookahead: 100,
    maxPauseMs: 10_000,
  });
  const starts: Array<[number, number]> = [];
  scheduler.events.on((e) => {
    if (e.type === 'started') starts.push([e.job.seq, e.atMs]);
  });
  await runSimulated(scheduler, clock);
  return starts;
}

test('a job queued for the slot a 429 frees does not start until the pause ends', async (t) => {
  // -j 1: job 1 waits for job 0's slot, which comes back at 10 together with the 429.
  const starts = await startsOf({ rate: Inf, concurrency: 1, onFull: 'wait' });
  t.deepEqual(starts[0], [0, 0]);
  t.true(starts.slice(1).every(([, at]) => at >= 510), JSON.stringify(starts));
  t.is(starts.length, 3);
});

test('a job whose token comes due during a pause does not start until the pause ends', async (t) => {
  // 10/s, burst 1: job 1 waits for its token until 100; the pause began at 10.
  for (const onFull of ['wait', 'reject'] as const) {
    const starts = await startsOf({ rate: 10, concurrency: 10, onFull });
    t.deepEqual(starts[0], [0, 0], onFull);
    t.true(starts.slice(1).every(([, at]) => at >= 510), `${onFull}: ${JSON.stringify(starts)}`);
    t.is(starts.length, 3, onFull);
  }
});
