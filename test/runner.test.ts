import test from 'ava';
import fc from 'fast-check';
import { ManualClock } from '../src/core/clock.js';
import { BoundedFrequencyRunner } from '../src/core/runner.js';

/** settle lets every pending promise continuation run (the loop's steps are all microtasks). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Harness {
  clock: ManualClock;
  runner: BoundedFrequencyRunner;
  /** Start times of fn, in order. */
  runs: number[];
  /** stepTo advances to `t` through every intermediate deadline, each at its own instant. */
  stepTo(t: number): Promise<void>;
  stop(): Promise<void>;
  done: Promise<void>;
}

function start(
  minMs: number,
  maxMs: number,
  burst: number,
  body: (h: { clock: ManualClock; runner: BoundedFrequencyRunner; n: number }) => void | Promise<void> = () => {},
  onError?: (err: unknown) => void,
  startMs = 0,
): Harness {
  const clock = new ManualClock(startMs);
  const runs: number[] = [];
  const ac = new AbortController();
  const runner: BoundedFrequencyRunner = new BoundedFrequencyRunner(
    'test',
    () => {
      runs.push(clock.now());
      return body({ clock, runner, n: runs.length });
    },
    minMs,
    maxMs,
    burst,
    onError ? { clock, onError } : { clock },
  );
  const done = runner.loop(ac.signal);
  return {
    clock,
    runner,
    runs,
    done,
    async stepTo(t: number) {
      for (;;) {
        await settle();
        const next = clock.nextDeadline();
        if (next === undefined || next > t) break;
        clock.advanceTo(next);
      }
      clock.advanceTo(t);
      await settle();
    },
    async stop() {
      ac.abort();
      await done;
    },
  };
}

interface Step {
  t: number;
  run?: number;
  retryAfter?: number;
  runs: number[];
  next?: number | undefined;
}

/**
 * play drives a harness through steps: advance to `t` (through each deadline on the way), call run()
 * `run` times (settling between calls), optionally retryAfter, and then check the runs so far and the
 * loop's next deadline. Failures name the step.
 */
async function play(t: import('ava').ExecutionContext, h: Harness, steps: Step[]): Promise<void> {
  for (const [i, step] of steps.entries()) {
    await h.stepTo(step.t);
    for (let k = 0; k < (step.run ?? 0); k++) {
      h.runner.run();
      await settle();
    }
    if (step.retryAfter !== undefined) {
      h.runner.retryAfter(step.retryAfter);
      await settle();
    }
    const label = `step ${i} at ${step.t}`;
    t.deepEqual(h.runs, step.runs, `${label}: runs`);
    if ('next' in step) t.is(h.clock.nextDeadline(), step.next, `${label}: next deadline`);
  }
  await h.stop();
}

test('burst 1 (upstream NoBurst vector): defers, coalesces, and runs periodically', async (t) => {
  const h = start(1000, 10_000, 1);
  await play(t, h, [
    { t: 0, runs: [], next: 10_000 },
    { t: 0, run: 1, runs: [0], next: 10_000 },
    { t: 500, run: 1, runs: [0], next: 1000 },
    { t: 999, run: 1, runs: [0], next: 1000 },
    { t: 1000, runs: [0, 1000], next: 11_000 },
    { t: 1000, run: 1, runs: [0, 1000], next: 2000 },
    { t: 1001, run: 1, runs: [0, 1000], next: 2000 },
    { t: 1999, runs: [0, 1000], next: 2000 },
    { t: 2000, runs: [0, 1000, 2000], next: 12_000 },
    { t: 3000, runs: [0, 1000, 2000], next: 12_000 },
    { t: 12_000, runs: [0, 1000, 2000, 12_000], next: 22_000 },
    { t: 12_001, run: 1, runs: [0, 1000, 2000, 12_000], next: 13_000 },
    { t: 13_000, runs: [0, 1000, 2000, 12_000, 13_000], next: 23_000 },
  ]);
});

test('burst 2 (upstream Burst vector): two back to back, token back at 1000 exactly', async (t) => {
  const h = start(1000, 10_000, 2);
  await play(t, h, [
    { t: 0, run: 1, runs: [0], next: 10_000 },
    { t: 1, run: 1, runs: [0, 1], next: 10_001 },
    { t: 499, run: 1, runs: [0, 1], next: 1001 },
    { t: 500, run: 1, runs: [0, 1], next: 1001 },
    { t: 501, run: 1, runs: [0, 1], next: 1001 },
    { t: 1000, runs: [0, 1], next: 1001 },
    // 0.9999999999999999 tokens by float arithmetic; Go's nanosecond truncation admits it.
    { t: 1000, run: 1, runs: [0, 1, 1000], next: 11_000 },
    { t: 1001, run: 1, runs: [0, 1, 1000], next: 2000 },
    { t: 1999, run: 1, runs: [0, 1, 1000], next: 2000 },
    { t: 2000, runs: [0, 1, 1000, 2000], next: 12_000 },
    { t: 4000, run: 3, runs: [0, 1, 1000, 2000, 4000, 4000], next: 5000 },
    { t: 5000, runs: [0, 1, 1000, 2000, 4000, 4000, 5000], next: 15_000 },
    { t: 15_000, runs: [0, 1, 1000, 2000, 4000, 4000, 5000, 15_000], next: 25_000 },
  ]);
});

test('retryAfter: from inside fn, then from outside; a run makes a pending retry moot', async (t) => {
  const h = start(1000, 10_000, 1, ({ runner, n }) => {
    if (n === 1) runner.retryAfter(5000);
  });
  await play(t, h, [
    { t: 0, run: 1, runs: [0], next: 5000 },
    { t: 4999, runs: [0], next: 5000 },
    { t: 5000, runs: [0, 5000], next: 15_000 },
    { t: 5499, run: 1, runs: [0, 5000], next: 6000 },
    { t: 6000, runs: [0, 5000, 6000], next: 16_000 },
    { t: 6000, retryAfter: 5000, runs: [0, 5000, 6000], next: 11_000 },
    { t: 7000, run: 1, runs: [0, 5000, 6000, 7000], next: 17_000 },
    { t: 16_999, runs: [0, 5000, 6000, 7000], next: 17_000 },
    { t: 17_000, runs: [0, 5000, 6000, 7000, 17_000], next: 27_000 },
  ]);
});

test('retryAfter: the earliest pending retry wins and a later one never postpones the timer', async (t) => {
  const h = start(1000, 10_000, 1);
  await h.stepTo(0);
  h.runner.run();
  await settle();
  // Three requests before the loop folds them in: the earliest wins.
  h.runner.retryAfter(3000);
  h.runner.retryAfter(2000);
  h.runner.retryAfter(4000);
  await settle();
  t.is(h.clock.nextDeadline(), 2000);
  h.runner.retryAfter(20_000); // later than the timer: changes nothing
  await settle();
  t.is(h.clock.nextDeadline(), 2000);
  await h.stepTo(2000);
  t.deepEqual(h.runs, [0, 2000]);
  await h.stop();
});

test('retryAfter sooner than minInterval goes through the bucket without a hot loop', async (t) => {
  // Go re-arms its fired timer for "now" here and spins until the bucket refills; with a ManualClock
  // such a loop would never yield and this test would hang.
  const h = start(1000, 10_000, 1, ({ runner, n }) => {
    if (n === 1) runner.retryAfter(100);
  });
  await play(t, h, [
    { t: 0, run: 1, runs: [0], next: 100 },
    { t: 100, runs: [0], next: 1000 },
    { t: 1000, runs: [0, 1000], next: 11_000 },
  ]);
});

test('retryAfter sooner than the bucket allows, with burst 2: runs when the bucket has a token', async (t) => {
  // Go would spin from 101 until the bucket admits at 1000; this runner sleeps until then instead.
  const h = start(1000, 10_000, 2, ({ runner, n }) => {
    if (n === 2) runner.retryAfter(100);
  });
  await play(t, h, [
    { t: 0, run: 1, runs: [0], next: 10_000 },
    { t: 1, run: 1, runs: [0, 1], next: 101 },
    { t: 101, runs: [0, 1] },
  ]);
  const h2 = start(1000, 10_000, 2, ({ runner, n }) => {
    if (n === 2) runner.retryAfter(100);
  });
  for (const ms of [0, 1]) {
    await h2.stepTo(ms);
    h2.runner.run();
  }
  await h2.stepTo(1100);
  t.is(h2.runs.length, 3);
  t.true(Math.abs(h2.runs[2]! - 1000) < 1e-6, `third run at ${h2.runs[2]}`);
  await h2.stop();
});

test('epoch-sized clock values: the vectors hold at 1.7e12 ms', async (t) => {
  const t0 = 1_700_000_000_000;
  const h = start(1000, 10_000, 2, () => {}, undefined, t0);
  await play(
    t,
    h,
    [
      { t: 0, run: 1, runs: [0] },
      { t: 1, run: 1, runs: [0, 1] },
      { t: 499, run: 1, runs: [0, 1], next: 1001 },
      { t: 1000, run: 1, runs: [0, 1, 1000], next: 11_000 },
      { t: 1999, run: 1, runs: [0, 1, 1000], next: 2000 },
      { t: 2000, runs: [0, 1, 1000, 2000], next: 12_000 },
      { t: 12_000, runs: [0, 1, 1000, 2000, 12_000], next: 22_000 },
    ].map((s) => ({
      ...s,
      t: t0 + s.t,
      runs: s.runs.map((r) => t0 + r),
      ...(s.next === undefined ? {} : { next: t0 + s.next }),
    })),
  );
});

test('retryAfter(0) and negative retry at once (through the bucket); NaN is a RangeError', async (t) => {
  const h = start(1000, 10_000, 1);
  await play(t, h, [
    { t: 0, retryAfter: 0, runs: [0], next: 10_000 },
    { t: 2000, retryAfter: -50, runs: [0, 2000], next: 12_000 },
  ]);
  t.throws(() => h.runner.retryAfter(Number.NaN), { instanceOf: RangeError, message: /retryAfter ms/ });
});

test('many run() calls while one is pending coalesce into one run', async (t) => {
  const h = start(1000, 10_000, 3);
  // Synchronous calls before the loop wakes: one run, even with 3 tokens in the bucket.
  for (let i = 0; i < 100; i++) h.runner.run();
  await h.stepTo(0);
  t.deepEqual(h.runs, [0]);
  // Drain the remaining burst, then pile up requests while deferred.
  h.runner.run();
  await settle();
  h.runner.run();
  await settle();
  t.deepEqual(h.runs, [0, 0, 0]);
  for (let ms = 10; ms < 1000; ms += 10) {
    await h.stepTo(ms);
    for (let i = 0; i < 10; i++) h.runner.run();
  }
  await h.stepTo(9999);
  t.deepEqual(h.runs, [0, 0, 0, 1000]);
  await h.stop();
});

test('fn is serialized: run() during a slow async fn is one follow-up run, never a re-entry', async (t) => {
  let active = 0;
  let maxActive = 0;
  const h = start(0, Infinity, 0, async ({ clock }) => {
    active++;
    maxActive = Math.max(maxActive, active);
    await clock.sleep(50);
    active--;
  });
  h.runner.run();
  await h.stepTo(10);
  for (let i = 0; i < 5; i++) h.runner.run();
  await h.stepTo(200);
  t.deepEqual(h.runs, [0, 50]);
  t.is(maxActive, 1);
  await h.stop();
});

test('minInterval is measured from the end of a run (lastRun is stamped after fn)', async (t) => {
  const h = start(1000, 10_000, 1, ({ clock }) => clock.sleep(300));
  await play(t, h, [
    { t: 0, run: 1, runs: [0] },
    { t: 300, runs: [0], next: 10_300 },
    // The bucket would allow at 1000; Go's nextPossible is 1000 after the end of the run.
    { t: 500, run: 1, runs: [0], next: 1300 },
    { t: 1300, runs: [0, 1300] },
    { t: 1600, runs: [0, 1300], next: 11_600 },
  ]);
});

test('fn throwing or rejecting is reported to onError and the loop goes on', async (t) => {
  const errors: unknown[] = [];
  const h = start(
    100,
    1000,
    1,
    ({ n }) => {
      if (n === 1) throw new Error('sync boom');
      if (n === 2) return Promise.reject(new Error('async boom'));
    },
    (err) => errors.push(err),
  );
  await play(t, h, [
    { t: 0, run: 1, runs: [0], next: 1000 },
    { t: 100, run: 1, runs: [0, 100], next: 1100 },
    { t: 1100, runs: [0, 100, 1100], next: 2100 },
  ]);
  t.deepEqual(
    errors.map((e) => (e as Error).message),
    ['sync boom', 'async boom'],
  );
});

test('fn throwing without onError is swallowed and the loop goes on', async (t) => {
  const h = start(100, 1000, 1, () => {
    throw new Error('boom');
  });
  await play(t, h, [
    { t: 0, run: 1, runs: [0], next: 1000 },
    { t: 1000, runs: [0, 1000], next: 2000 },
  ]);
});

test('loop resolves on abort while sleeping and leaves no sleeper behind', async (t) => {
  const h = start(1000, 10_000, 1);
  await h.stepTo(0);
  t.is(h.clock.nextDeadline(), 10_000);
  await h.stop();
  t.is(h.clock.nextDeadline(), undefined);
  h.runner.run();
  await h.stepTo(20_000);
  t.deepEqual(h.runs, []);
});

test('loop resolves on abort after a running fn finishes, and starts no further run', async (t) => {
  const ac = new AbortController();
  const clock = new ManualClock();
  let runs = 0;
  const runner = new BoundedFrequencyRunner('slow', () => {
    runs++;
    return clock.sleep(50);
  }, 0, Infinity, 1, { clock });
  let resolved = false;
  const done = runner.loop(ac.signal).then(() => (resolved = true));
  runner.run();
  await settle();
  runner.run();
  ac.abort();
  await settle();
  t.false(resolved, 'still inside fn');
  clock.advance(50);
  await done;
  t.is(runs, 1);
});

test('loop with an already aborted signal resolves at once; a second concurrent loop rejects', async (t) => {
  const clock = new ManualClock();
  let runs = 0;
  const runner = new BoundedFrequencyRunner('x', () => void runs++, 1000, 10_000, 1, { clock });
  runner.run();
  await runner.loop(AbortSignal.abort());
  t.is(runs, 0);
  const ac = new AbortController();
  const first = runner.loop(ac.signal);
  await t.throwsAsync(runner.loop(new AbortController().signal), { message: /loop is already running/ });
  await settle();
  t.is(runs, 1, 'the run() made before the loop is served once a loop runs');
  ac.abort();
  await first;
});

test('maxInterval Infinity or 0 means no periodic runs and no timer', async (t) => {
  for (const maxMs of [Infinity, 0]) {
    const h = start(1000, maxMs, 1);
    await h.stepTo(0);
    t.is(h.clock.nextDeadline(), undefined, `max ${maxMs}: idle`);
    h.runner.run();
    await settle();
    h.runner.run();
    await settle();
    t.is(h.clock.nextDeadline(), 1000, `max ${maxMs}: deferred`);
    await h.stepTo(1_000_000);
    t.deepEqual(h.runs, [0, 1000], `max ${maxMs}`);
    t.is(h.clock.nextDeadline(), undefined);
    await h.stop();
  }
});

test('minInterval 0 runs every request at once (burst ignored)', async (t) => {
  const h = start(0, 5000, 0);
  for (const ms of [0, 0, 0, 1, 2]) {
    await h.stepTo(ms);
    h.runner.run();
    await settle();
  }
  await h.stepTo(7002);
  t.deepEqual(h.runs, [0, 0, 0, 1, 2, 5002]);
  await h.stop();
});

test('constructor validates its arguments with RangeErrors that name them', (t) => {
  const bad: Array<[number, number, number, RegExp]> = [
    [-1, 1000, 1, /minIntervalMs must be a finite number >= 0, got -1/],
    [Number.NaN, 1000, 1, /minIntervalMs/],
    [Infinity, Infinity, 1, /minIntervalMs/],
    [1000, 999, 1, /maxIntervalMs \(999\) must be >= minIntervalMs \(1000\)/],
    [1000, Number.NaN, 1, /maxIntervalMs must be a number >= 0/],
    [1000, -1, 1, /maxIntervalMs must be a number >= 0/],
    [1000, 10_000, 0, /burstRuns must be an integer >= 1, got 0/],
    [1000, 10_000, 1.5, /burstRuns/],
    [1000, 10_000, -1, /burstRuns/],
    [0, 10_000, -1, /burstRuns/],
    [0, 10_000, Number.NaN, /burstRuns/],
  ];
  for (const [minMs, maxMs, burst, message] of bad) {
    const make = (): unknown => new BoundedFrequencyRunner('r', () => {}, minMs, maxMs, burst);
    t.throws(make, { instanceOf: RangeError, message }, `${minMs}, ${maxMs}, ${burst}`);
  }
  t.notThrows(() => new BoundedFrequencyRunner('r', () => {}, 0, 0, 0));
  t.notThrows(() => new BoundedFrequencyRunner('r', () => {}, 1000, 0, 1));
  t.notThrows(() => new BoundedFrequencyRunner('r', () => {}, 1000, 1000, 1));
  t.notThrows(() => new BoundedFrequencyRunner('r', () => {}, 1000, Infinity, 3));
});

const scenario = fc.record({
  minMs: fc.integer({ min: 1, max: 1000 }),
  extraMs: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }), // undefined: no periodic runs
  burst: fc.integer({ min: 1, max: 4 }),
  triggers: fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 40 }),
  retries: fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 3000 })), {
    maxLength: 5,
  }),
});

test('property: no trigger is lost, and runs stay within burst + W / minInterval', async (t) => {
  await fc.assert(
    fc.asyncProperty(scenario, async ({ minMs, extraMs, burst, triggers, retries }) => {
      const h = start(minMs, extraMs === undefined ? Infinity : minMs + extraMs, burst);
      type Event = { at: number; kind: 'run' } | { at: number; kind: 'retry'; ms: number };
      const events: Event[] = [
        ...triggers.map((at): Event => ({ at, kind: 'run' })),
        ...retries.map(([at, ms]): Event => ({ at, kind: 'retry', ms })),
      ].sort((a, b) => a.at - b.at);
      for (const e of events) {
        await h.stepTo(e.at);
        if (e.kind === 'run') h.runner.run();
        else h.runner.retryAfter(e.ms);
        await settle();
      }
      const endMs = 5000 + minMs + 3000;
      await h.stepTo(endMs);
      await h.stop();
      const runs = h.runs;
      for (const r of triggers) {
        if (!runs.some((s) => s >= r && s <= r + minMs)) {
          throw new Error(`trigger at ${r} has no run in [${r}, ${r + minMs}]; runs ${runs.join(',')}`);
        }
      }
      for (const [at, ms] of retries) {
        const due = at + ms;
        if (!runs.some((s) => s >= at && s <= Math.max(due, 0) + minMs)) {
          throw new Error(`retry ${ms} at ${at} has no run by ${due + minMs}; runs ${runs.join(',')}`);
        }
      }
      for (let i = 0; i < runs.length; i++) {
        for (let j = i; j < runs.length; j++) {
          const windowMs = runs[j]! - runs[i]!;
          if (j - i + 1 > burst + windowMs / minMs + 1e-9) {
            const what = `${j - i + 1} runs in ${windowMs} ms (burst ${burst}, min ${minMs})`;
            throw new Error(`${what}; runs ${runs.join(',')}`);
          }
        }
      }
      for (let i = 1; i < runs.length; i++) {
        if (runs[i]! < runs[i - 1]!) throw new Error('runs out of order');
      }
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test('property: idle runner runs exactly every maxInterval', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 2000 }), async (minMs, extraMs) => {
      const maxMs = minMs + extraMs;
      const h = start(minMs, maxMs, 1);
      await h.stepTo(maxMs * 5 + maxMs / 2);
      await h.stop();
      const want = [1, 2, 3, 4, 5].map((k) => k * maxMs);
      if (h.runs.join() !== want.join()) throw new Error(`runs ${h.runs.join()} want ${want.join()}`);
    }),
    { numRuns: 50 },
  );
  t.pass();
});
