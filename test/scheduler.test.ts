import test from 'ava';
import fc from 'fast-check';
import { ManualClock } from '../src/core/clock.js';
import { InflightLimiter } from '../src/core/inflight.js';
import { Inf, Limiter } from '../src/core/limiter.js';
import { RetryPolicy } from '../src/core/retry.js';
import type { SchedulerEvent } from '../src/engine/events.js';
import { type ArrivalMode, Scheduler, type SchedulerOptions } from '../src/engine/scheduler.js';
import { runSimulated } from '../src/engine/simulate.js';
import type { Executor, Job, Result } from '../src/engine/types.js';
import { SimulatedExecutor, type SimulatedWork } from '../src/executors/simulated.js';

interface Case {
  rate?: number;
  burst?: number;
  concurrency?: number;
  onFull?: 'wait' | 'reject';
  retries?: number;
  baseMs?: number;
  arrivals?: ArrivalMode;
  durationMs?: number;
  lookahead?: number;
  /** promised hides the executor's `plan`: every attempt is a promise from `execute`. */
  promised?: boolean;
  /** reuseResults: every `done` event's Result is one object (the listener keeps copies). */
  reuseResults?: boolean;
}

/** simulate runs jobs through a scheduler on a ManualClock; returns results in seq order and start times. */
async function simulate(jobs: Iterable<Job<SimulatedWork>>, c: Case = {}) {
  const clock = new ManualClock(0);
  const simulated = new SimulatedExecutor({ clock });
  const executor: Executor<SimulatedWork> = c.promised === true ? { execute: (job, ctx) => simulated.execute(job, ctx) } : simulated;
  const scheduler = new Scheduler<SimulatedWork>(jobs, executor, {
    clock,
    limiter: new Limiter(c.rate ?? Inf, c.burst ?? 1, { clock }),
    inflight: new InflightLimiter({ limit: c.concurrency ?? Infinity }),
    onFull: c.onFull ?? 'wait',
    retry: new RetryPolicy<number>({ retries: c.retries ?? 0, baseDelayMs: c.baseMs ?? 100, maxDelayMs: 10_000, jitter: 'none' }),
    arrivals: c.arrivals ?? 'read',
    lookahead: c.lookahead ?? 1000,
    ...(c.durationMs === undefined ? {} : { durationMs: c.durationMs }),
    ...(c.reuseResults === undefined ? {} : { reuseResults: c.reuseResults }),
  });
  const results: Result[] = [];
  const starts: Array<[number, number]> = [];
  const seen = new Set<Result>();
  scheduler.events.on((e) => {
    if (e.type === 'done') seen.add(e.result);
    if (e.type === 'done') results.push(c.reuseResults === true ? { ...e.result } : e.result);
    if (e.type === 'started') starts.push([e.job.seq, e.atMs]);
  });
  const stats = await runSimulated(scheduler, clock);
  results.sort((a, b) => a.seq - b.seq);
  return { results, starts, stats, clock, distinctResults: seen.size };
}

function work(n: number, serviceMs: number, extra: Partial<SimulatedWork> = {}): Array<Job<SimulatedWork>> {
  return Array.from({ length: n }, (_, seq) => ({ seq, key: String(seq), payload: { serviceMs, ...extra } }));
}

test('a rate of 10/s with burst 1 starts jobs 100 ms apart', async (t) => {
  const { starts, results, stats } = await simulate(work(5, 0), { rate: 10, burst: 1 });
  t.deepEqual(starts.map(([, at]) => at), [0, 100, 200, 300, 400]);
  t.true(results.every((r) => r.status === 'ok' && r.attempts === 1));
  t.deepEqual(results.map((r) => r.throttleMs), [0, 100, 200, 300, 400]);
  t.is(stats.jobs, 5);
  t.true(stats.exhausted);
});

test('a burst lets that many start at once, then the rate paces the rest', async (t) => {
  const { starts } = await simulate(work(6, 0), { rate: 10, burst: 3 });
  t.deepEqual(starts.map(([, at]) => at), [0, 0, 0, 100, 200, 300]);
});

test('the in-flight cap queues jobs in order and counts the wait as throttle', async (t) => {
  const { starts, results, stats } = await simulate(work(5, 100), { concurrency: 2 });
  t.deepEqual(starts, [[0, 0], [1, 0], [2, 100], [3, 100], [4, 200]]);
  t.deepEqual(results.map((r) => r.endedMs - r.arrivalMs), [100, 100, 200, 200, 300]);
  t.deepEqual(results.map((r) => r.serviceMs), [100, 100, 100, 100, 100]);
  t.is(stats.peakRunning, 2);
});

test('a job failing twice then succeeding passes with 2 retries; backoff doubles', async (t) => {
  const flaky = work(1, 10, { status: (attempt: number) => (attempt < 3 ? 1 : 0) });
  const { results, starts } = await simulate(flaky, { retries: 2, baseMs: 100 });
  t.is(results[0]!.status, 'ok');
  t.is(results[0]!.attempts, 3);
  // attempt 1: 0..10, backoff 100, attempt 2: 110..120, backoff 200, attempt 3: 320..330
  t.deepEqual(starts.map(([, at]) => at), [0, 110, 320]);
  t.is(results[0]!.backoffMs, 300);
  t.is(results[0]!.serviceMs, 30);
  t.is(results[0]!.endedMs, 330);
});

test('with one retry too few the job fails with its last status', async (t) => {
  const flaky = work(1, 10, { status: (attempt: number) => (attempt < 3 ? 7 : 0) });
  const { results } = await simulate(flaky, { retries: 1 });
  t.is(results[0]!.status, 'failed');
  t.is(results[0]!.code, 7);
  t.is(results[0]!.attempts, 2);
});

test('reject mode fails fast when the cap is full and the token stays spent', async (t) => {
  const jobs = work(3, 100);
  const { results } = await simulate(jobs, { concurrency: 1, onFull: 'reject' });
  t.deepEqual(results.map((r) => r.status), ['ok', 'rejected', 'rejected']);
  t.deepEqual(results.map((r) => r.code), [0, 'rejected', 'rejected']);
  t.deepEqual(results.map((r) => r.attempts), [1, 1, 1]);
});

test('reject mode with retries gets through once the cap frees up', async (t) => {
  const { results } = await simulate(work(2, 100), { concurrency: 1, onFull: 'reject', retries: 3, baseMs: 40 });
  // job 1: rejected at 0, retries at 40 (full), 40+80=120 (free: job 0 ended at 100).
  t.deepEqual(results.map((r) => r.status), ['ok', 'ok']);
  t.is(results[1]!.attempts, 3);
  t.is(results[1]!.startedMs, 120);
});

test('trace arrivals are held until their time; latency counts from arrival', async (t) => {
  const jobs: Array<Job<SimulatedWork>> = [0, 50, 60, 500].map((at, seq) => ({ seq, key: `k${seq}`, arrivalMs: at, payload: { serviceMs: 100 } }));
  const { results, starts } = await simulate(jobs, { arrivals: 'trace', concurrency: 1 });
  t.deepEqual(starts.map(([, at]) => at), [0, 100, 200, 500]);
  t.deepEqual(results.map((r) => r.endedMs - r.arrivalMs), [100, 150, 240, 100]);
});

test('scheduled load measures latency from the due time, not from when a slot freed (no coordinated omission)', async (t) => {
  // 10/s schedule, but each job takes 250 ms on one slot: the backlog shows in latency.
  const { results } = await simulate(work(4, 250), { arrivals: 'schedule', rate: 10, concurrency: 1 });
  t.deepEqual(results.map((r) => r.arrivalMs), [0, 100, 200, 300]);
  t.deepEqual(results.map((r) => r.endedMs), [250, 500, 750, 1000]);
  t.deepEqual(results.map((r) => r.endedMs - r.arrivalMs), [250, 400, 550, 700]);
});

test('duration stops taking scheduled jobs once they would arrive after it', async (t) => {
  function* endless(): Generator<Job<SimulatedWork>> {
    for (let seq = 0; ; seq++) yield { seq, key: '', payload: { serviceMs: 1 } };
  }
  const { results, stats } = await simulate(endless(), { arrivals: 'schedule', rate: 10, burst: 1, durationMs: 1000 });
  t.is(results.length, 11); // due at 0, 100, ..., 1000
  t.false(stats.exhausted);
});

test('the lookahead bounds how many jobs are taken from the source ahead of the work', async (t) => {
  let taken = 0;
  function* counted(): Generator<Job<SimulatedWork>> {
    for (let seq = 0; seq < 100; seq++) {
      taken++;
      yield { seq, key: '', payload: { serviceMs: 10 } };
    }
  }
  const clock = new ManualClock();
  const scheduler = new Scheduler<SimulatedWork>(counted(), new SimulatedExecutor({ clock }), {
    clock,
    limiter: new Limiter(Inf, 1, { clock }),
    inflight: new InflightLimiter({ limit: 2 }),
    onFull: 'wait',
    retry: new RetryPolicy<number>({ retries: 0, baseDelayMs: 1, maxDelayMs: 1 }),
    arrivals: 'read',
    lookahead: 5,
  });
  let maxActive = 0;
  let finished = 0;
  let maxAhead = 0;
  scheduler.events.on((e) => {
    if (e.type === 'done') finished++;
    maxActive = Math.max(maxActive, scheduler.active);
    maxAhead = Math.max(maxAhead, taken - finished);
  });
  await runSimulated(scheduler, clock);
  // The source is asked for one more job only once there is room, so at most lookahead + 1 are out.
  t.true(maxAhead <= 6, `${maxAhead} jobs taken ahead of the work`);
  t.is(maxActive, 5);
  t.is(taken, 100);
});

/** runStopping runs the jobs on `clock` (rate and cap as given) and stops the run at the first event `stopOn` picks. */
async function runStopping(
  jobs: Array<Job<SimulatedWork>>,
  clock: ManualClock,
  limiter: Limiter,
  concurrency: number,
  stopOn: (e: SchedulerEvent) => boolean,
  extra: Partial<SchedulerOptions> = {},
): Promise<Result[]> {
  const scheduler = new Scheduler<SimulatedWork>(jobs, new SimulatedExecutor({ clock }), {
    clock,
    limiter,
    inflight: new InflightLimiter({ limit: concurrency }),
    onFull: 'wait',
    retry: new RetryPolicy<number>({ retries: 0, baseDelayMs: 1, maxDelayMs: 1 }),
    arrivals: 'read',
    lookahead: 10,
    ...extra,
  });
  const results: Result[] = [];
  scheduler.events.on((e) => {
    if (e.type === 'done') results.push(e.result);
    if (stopOn(e)) scheduler.stop();
  });
  await runSimulated(scheduler, clock);
  return results.sort((a, b) => a.seq - b.seq);
}

test('stop ends waiting jobs as interrupted and lets the running attempt finish', async (t) => {
  const clock = new ManualClock();
  const results = await runStopping(work(5, 100), clock, new Limiter(Inf, 1, { clock }), 1, (e) => e.type === 'started' && e.job.seq === 1);
  t.deepEqual(results.map((r) => r.status), ['ok', 'ok', 'interrupted', 'interrupted', 'interrupted']);
  t.deepEqual(results.map((r) => r.attempts), [1, 1, 0, 0, 0]);
});

test('starts never exceed burst + rate * window, even when slots free up all at once', async (t) => {
  // Four slow jobs hold all slots while tokens would accumulate; afterwards starts must still be paced.
  const jobs = [...work(4, 1000), ...work(8, 1).map((j) => ({ ...j, seq: j.seq + 4 }))];
  const { starts } = await simulate(jobs, { rate: 10, burst: 1, concurrency: 4 });
  const times = starts.map(([, at]) => at).sort((a, b) => a - b);
  for (let i = 0; i < times.length; i++) {
    for (let j = i; j < times.length; j++) {
      t.true(j - i + 1 <= 1 + (10 * (times[j]! - times[i]!)) / 1000 + 1e-9, `starts ${i}..${j} at ${times[i]}..${times[j]}`);
    }
  }
});

test('a pause from one attempt holds every job of its group at the gates until it ends', async (t) => {
  const clock = new ManualClock();
  // Job 0 answers 429 with a 500 ms pause on its first attempt; jobs 1..3 arrive meanwhile.
  const jobs: Array<Job<SimulatedWork>> = [
    { seq: 0, key: 'a', arrivalMs: 0, payload: { serviceMs: 10, status: (n: number) => (n === 1 ? 429 : 200), retryAfterMs: 500 } },
    ...[100, 200, 300].map((at, i) => ({ seq: i + 1, key: 'b', arrivalMs: at, payload: { serviceMs: 10 } })),
  ];
  const pausing = new SimulatedExecutor({ clock });
  const executor = {
    execute: async (job: Job<SimulatedWork>, ctx: Parameters<typeof pausing.execute>[1]) => {
      const outcome = await pausing.execute(job, ctx);
      return outcome.retryAfterMs === undefined || outcome.ok ? outcome : { ...outcome, pauseMs: outcome.retryAfterMs };
    },
  };
  const scheduler = new Scheduler<SimulatedWork>(jobs, executor, {
    clock,
    limiter: new Limiter(Inf, 1, { clock }),
    inflight: new InflightLimiter({ limit: 10 }),
    onFull: 'wait',
    retry: new RetryPolicy<number>({ retries: 2, baseDelayMs: 10, maxDelayMs: 10_000, jitter: 'none' }),
    arrivals: 'trace',
    lookahead: 100,
    maxPauseMs: 10_000,
  });
  const starts: Array<[number, number]> = [];
  scheduler.events.on((e) => {
    if (e.type === 'started') starts.push([e.job.seq, e.atMs]);
  });
  await runSimulated(scheduler, clock);
  // The 429 ends at 10: nothing starts before 510; then the waiting jobs and the retry go.
  t.deepEqual(starts[0], [0, 0]);
  t.true(starts.slice(1).every(([, at]) => at >= 510), JSON.stringify(starts));
  t.is(starts.length, 5);
});

test('per-key buckets pace each key on its own while the shared bucket paces all', async (t) => {
  const clock = new ManualClock();
  const jobs: Array<Job<SimulatedWork>> = ['a', 'a', 'b', 'a', 'b'].map((key, seq) => ({ seq, key, payload: { serviceMs: 0 } }));
  const scheduler = new Scheduler<SimulatedWork>(jobs, new SimulatedExecutor({ clock }), {
    clock,
    limiter: new Limiter(100, 2, { clock }),
    inflight: new InflightLimiter({ limit: 10 }),
    onFull: 'wait',
    retry: new RetryPolicy<number>({ retries: 0, baseDelayMs: 1, maxDelayMs: 1 }),
    arrivals: 'read',
    lookahead: 100,
    perKey: { ratePerSec: 10, burst: 1 },
  });
  const starts: string[] = [];
  scheduler.events.on((e) => {
    if (e.type === 'started') starts.push(`${e.job.key}@${e.atMs}`);
  });
  await runSimulated(scheduler, clock);
  // Per key (10/s, burst 1), all reserved at 0: a: 0, 100, 200; b: 0, 100. Only then does a job ask the
  // shared bucket (100/s, burst 2), so a job held by its key spends no shared token meanwhile: at 0 a and b
  // take the two, at 100 the bucket is full again for the next a and b, at 200 for the last a.
  t.deepEqual(starts.sort(), ['a@0', 'a@100', 'a@200', 'b@0', 'b@100'].sort());
});

test('a source that hands out batches gives the same run as one that hands out jobs one at a time', async (t) => {
  const jobs = Array.from({ length: 40 }, (_, seq): Job<SimulatedWork> => ({ seq, key: String(seq), arrivalMs: seq * 7, payload: { serviceMs: 5 + (seq % 4) * 30 } }));
  const c: Case = { rate: 50, burst: 2, concurrency: 3, arrivals: 'trace', lookahead: 8 };
  const oneByOne = await simulate(jobs, c);
  let handed = 0;
  const batches = [jobs.slice(0, 1), jobs.slice(1, 17), jobs.slice(17)];
  const batched = {
    nextBatch: async () => {
      const batch = batches.shift();
      if (batch !== undefined) handed++;
      return batch;
    },
    [Symbol.asyncIterator]: () => {
      throw new Error('a batched source is read by batches');
    },
  };
  const byBatch = await simulate(batched as unknown as Iterable<Job<SimulatedWork>>, c);
  t.is(handed, 3);
  t.deepEqual(byBatch.results, oneByOne.results);
  t.deepEqual(byBatch.starts, oneByOne.starts);
});

test('jobs waiting out a backoff leave their room to the jobs behind them (up to the lookahead again)', async (t) => {
  // Lookahead 2: jobs 0 and 1 fail at once and back off for 1 s; jobs 2 and 3 must not wait for them.
  const jobs = work(4, 10, { status: (attempt: number) => (attempt === 1 ? 1 : 0) }).map((j) => (j.seq < 2 ? j : { ...j, payload: { serviceMs: 10 } }));
  const { starts, results } = await simulate(jobs, { lookahead: 2, retries: 1, baseMs: 1000 });
  const firstStart = (seq: number) => starts.find(([s]) => s === seq)![1];
  t.is(firstStart(2), 10);
  t.is(firstStart(3), 10);
  t.true(results.every((r) => r.status === 'ok'));
  t.deepEqual(results.map((r) => r.attempts), [2, 2, 1, 1]);
});

test('generated load: a slow first start does not push back the schedule of the jobs admitted with it', async (t) => {
  const clock = new ManualClock(0);
  const slowStart: Executor<SimulatedWork> = {
    execute: (job, ctx) => {
      // The first attempt takes 5 ms of the run's own time before it is under way (a connection, lazily
      // loaded code): the clock moves on while nothing else can run.
      if (job.seq === 0) clock.advance(5);
      return clock.after(0, { ok: true, code: 0, retryable: false }, ctx.kill);
    },
  };
  const scheduler = new Scheduler<SimulatedWork>(work(20, 0), slowStart, {
    clock,
    limiter: new Limiter(1000, 1, { clock }),
    inflight: new InflightLimiter({ limit: Infinity }),
    onFull: 'wait',
    retry: new RetryPolicy<number>({ retries: 0, baseDelayMs: 100, maxDelayMs: 1000, jitter: 'none' }),
    arrivals: 'schedule',
    lookahead: 100,
  });
  const starts: number[] = [];
  scheduler.events.on((e) => {
    if (e.type === 'started') starts[e.job.seq] = e.atMs;
  }, ['started']);
  await runSimulated(scheduler, clock);
  // Jobs 1-4 were due while the first one started: they start late, at once; from job 5 on, on time.
  t.deepEqual(starts.slice(0, 6), [0, 5, 5, 5, 5, 5]);
  t.deepEqual(starts.slice(6), Array.from({ length: 14 }, (_, k) => k + 6));
});

test('generated load: the schedule counts from the first admission, so set-up before it makes no job late', async (t) => {
  const clock = new ManualClock(0);
  function* slowToStart(): Generator<Job<SimulatedWork>> {
    clock.advance(7); // reading the first job takes 7 ms (cold code, a first read)
    for (let seq = 0; seq < 10; seq++) yield { seq, key: String(seq), payload: { serviceMs: 1 } };
  }
  const scheduler = new Scheduler<SimulatedWork>(slowToStart(), new SimulatedExecutor({ clock }), {
    clock,
    limiter: new Limiter(100, 1, { clock }),
    inflight: new InflightLimiter({ limit: 4 }),
    onFull: 'wait',
    retry: new RetryPolicy<number>({ retries: 0, baseDelayMs: 100, maxDelayMs: 1000, jitter: 'none' }),
    arrivals: 'schedule',
    lookahead: 4,
  });
  const late: number[] = [];
  const due: number[] = [];
  scheduler.events.on((e) => {
    if (e.type !== 'done') return;
    due[e.result.seq] = e.result.arrivalMs;
    late[e.result.seq] = e.result.startedMs! - e.result.arrivalMs;
  }, ['done']);
  await runSimulated(scheduler, clock);
  t.deepEqual(due, Array.from({ length: 10 }, (_, k) => 7 + 10 * k));
  t.deepEqual(late, Array.from({ length: 10 }, () => 0));
});

/** tracedEvents: up to 40 events, each a gap after the one before, a service time and a status (mostly 0). */
const tracedEvents = (minLength: number) => fc.array(fc.tuple(fc.double({ min: 0, max: 50, noNaN: true }), fc.double({ min: 0, max: 30, noNaN: true }), fc.constantFrom(0, 0, 0, 1, 503)), { minLength, maxLength: 40 });

/** tracedJobs makes jobs of traced events: arrivals at the running sum of the gaps. */
function tracedJobs(events: ReadonlyArray<readonly [number, number, number]>): Array<Job<SimulatedWork>> {
  let at = 0;
  return events.map(([gapMs, serviceMs, status], seq) => ({ seq, key: String(seq), arrivalMs: (at += gapMs), payload: { serviceMs, status } }));
}

test('an executor that plans its attempts gives the results its promises would (limits, retries, rejections)', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      tracedEvents(1),
      fc.record({ rate: fc.constantFrom(Inf, 20, 200), burst: fc.integer({ min: 1, max: 3 }), concurrency: fc.integer({ min: 1, max: 4 }), onFull: fc.constantFrom('wait' as const, 'reject' as const), retries: fc.integer({ min: 0, max: 2 }) }),
      async (events, limits) => {
        const jobs = tracedJobs(events);
        const c: Case = { ...limits, baseMs: 10, arrivals: 'trace' };
        const planned = await simulate(jobs, c);
        const promised = await simulate(jobs, { ...c, promised: true });
        t.deepEqual(planned.results, promised.results);
        t.deepEqual(planned.stats, promised.stats);
      },
    ),
    { numRuns: 60 },
  );
});

test('with reuseResults the Result of every job is written into one object, and reads and prints as its own would', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      tracedEvents(2),
      fc.record({ rate: fc.constantFrom(Inf, 20), concurrency: fc.integer({ min: 1, max: 4 }), onFull: fc.constantFrom('wait' as const, 'reject' as const), retries: fc.integer({ min: 0, max: 2 }) }),
      async (events, limits) => {
        const jobs = tracedJobs(events);
        const c: Case = { ...limits, baseMs: 10, arrivals: 'trace' };
        const own = await simulate(jobs, c);
        const reused = await simulate(jobs, { ...c, reuseResults: true });
        t.is(own.distinctResults, jobs.length);
        t.is(reused.distinctResults, 1);
        t.deepEqual(reused.results.map((r) => JSON.stringify(r)), own.results.map((r) => JSON.stringify(r)));
      },
    ),
    { numRuns: 40 },
  );
});

test('a stop during a token wait gives the booked tokens back to the bucket', async (t) => {
  const clock = new ManualClock();
  const limiter = new Limiter(10, 1, { clock });
  // Job 1 has booked the token due at 100 ms when job 2 arrives.
  const results = await runStopping(work(3, 1000), clock, limiter, 10, (e) => e.type === 'arrived' && e.job.seq === 2);
  t.deepEqual(results.map((r) => r.status), ['ok', 'interrupted', 'interrupted']);
  // Job 0 took the burst at 0; job 1's token went back, so the bucket is full again at 100 ms (not empty).
  t.is(limiter.tokensAt(100), 1);
});

test('a stop during a token wait on the general path (per-key limits on) gives the booked tokens back too', async (t) => {
  const clock = new ManualClock();
  const limiter = new Limiter(10, 1, { clock });
  // Per-key limits send every attempt through the general gates; each key's own bucket never holds it.
  const perKey = { ratePerSec: 1e6, burst: 10 };
  const results = await runStopping(work(3, 1000), clock, limiter, 10, (e) => e.type === 'arrived' && e.job.seq === 2, { perKey });
  t.deepEqual(results.map((r) => r.status), ['ok', 'interrupted', 'interrupted']);
  t.is(limiter.tokensAt(100), 1);
});
