import test from 'ava';
import fc from 'fast-check';
import { coalesceSettings } from '../src/cli/coalesce-settings.js';
import { ManualClock } from '../src/core/clock.js';
import { RetryPolicy } from '../src/core/retry.js';
import { type CoalesceEvent, type CoalesceOutcome, Coalescer, type CoalescerOptions, type RunReason } from '../src/engine/coalesce.js';
import type { AttemptContext, AttemptOutcome, Executor, Job } from '../src/engine/types.js';
import { CoalesceMetrics } from '../src/measure/coalesce.js';
import { buildCoalesceReport, type CoalesceConfig, formatCoalesceSummary } from '../src/report/coalesce.js';
import { UsageError } from '../src/errors.js';

/** settle lets every pending promise continuation run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Span is one run as the fake command saw it. */
interface Span {
  startMs: number;
  endMs: number | undefined;
  attempt: number;
}

/**
 * FakeCommand takes `serviceMs(n)` on the clock for its n-th run (1-based) and fails when `fails(n)`;
 * a kill ends it at once as "killed".
 */
class FakeCommand implements Executor<null> {
  readonly spans: Span[] = [];
  constructor(
    readonly clock: ManualClock,
    readonly serviceMs: (n: number) => number,
    readonly fails: (n: number) => boolean,
  ) {}

  async execute(_job: Job<null>, ctx: AttemptContext): Promise<AttemptOutcome> {
    const span: Span = { startMs: this.clock.now(), endMs: undefined, attempt: ctx.attempt };
    this.spans.push(span);
    const n = this.spans.length;
    try {
      await this.clock.sleep(this.serviceMs(n), ctx.kill);
    } catch {
      span.endMs = this.clock.now();
      return { ok: false, code: 'killed', retryable: false, error: 'killed' };
    }
    span.endMs = this.clock.now();
    return this.fails(n) ? { ok: false, code: 1, retryable: true } : { ok: true, code: 0, retryable: false };
  }
}

interface Setup extends Partial<Omit<CoalescerOptions, 'clock'>> {
  serviceMs?: number | ((n: number) => number);
  fails?: (n: number) => boolean;
}

interface Harness {
  clock: ManualClock;
  coalescer: Coalescer<null>;
  command: FakeCommand;
  events: CoalesceEvent[];
  metrics: CoalesceMetrics;
  /** outcome is set once run() resolved. */
  readonly outcome: CoalesceOutcome | undefined;
  done: Promise<CoalesceOutcome>;
  /** starts are the runs' start times; served the number of triggers each served. */
  starts(): number[];
  served(): number[];
  reasons(): RunReason[];
  /** stepTo advances to `t` through every intermediate deadline, each at its own instant. */
  stepTo(t: number): Promise<void>;
  /** triggerAt is the fake trigger source: one trigger at each time (in order). */
  triggerAt(times: readonly number[]): Promise<void>;
}

function start(setup: Setup): Harness {
  const clock = new ManualClock(0);
  const service = setup.serviceMs ?? 0;
  const command = new FakeCommand(clock, typeof service === 'number' ? () => service : service, setup.fails ?? (() => false));
  const coalescer = new Coalescer<null>(command, null, {
    minIntervalMs: setup.minIntervalMs ?? 1000,
    maxIntervalMs: setup.maxIntervalMs ?? 0,
    burstRuns: setup.burstRuns ?? 1,
    retry: setup.retry,
    runOnStart: setup.runOnStart,
    drain: setup.drain,
    clock,
  });
  const events: CoalesceEvent[] = [];
  const metrics = new CoalesceMetrics();
  coalescer.on((e) => {
    events.push(e);
    metrics.add(e);
  });
  let outcome: CoalesceOutcome | undefined;
  const done = coalescer.run().then((o) => (outcome = o));
  const startedRuns = () => events.flatMap((e) => (e.type === 'started' ? [e.run] : []));
  const h: Harness = {
    clock,
    coalescer,
    command,
    events,
    metrics,
    get outcome() {
      return outcome;
    },
    done,
    starts: () => startedRuns().map((r) => r.startedMs),
    served: () => startedRuns().map((r) => r.triggersMs.length),
    reasons: () => startedRuns().map((r) => r.reason),
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
    async triggerAt(times: readonly number[]) {
      for (const at of times) {
        await h.stepTo(at);
        coalescer.trigger();
      }
      await settle();
    },
  };
  return h;
}

/** fixedRetry is --retry-after: a fixed delay, `retries` times (default unlimited). */
const fixedRetry = (ms: number, retries = Infinity): RetryPolicy<number> => new RetryPolicy<number>({ retries, baseDelayMs: ms, maxDelayMs: ms, jitter: 'none' });

const range = (n: number, every = 1): number[] => Array.from({ length: n }, (_, i) => i * every);

for (const burstRuns of [1, 2, 3]) {
  test(`100 triggers in 100 ms give one run plus the burst (burst ${burstRuns})`, async (t) => {
    const h = start({ minIntervalMs: 1000, burstRuns });
    await h.triggerAt(range(100));
    h.coalescer.end();
    await h.stepTo(10_000);
    t.not(h.outcome, undefined, 'drained and ended');
    // The first burstRuns triggers each find a token (runs take no time), the rest wait for the next one.
    t.is(h.starts().length, burstRuns + 1);
    t.deepEqual(h.served(), [...Array(burstRuns).fill(1), 100 - burstRuns]);
    t.is(h.starts().at(-1), burstRuns - 1 + 1000, 'the last run waits minInterval after the previous one');
    const summary = h.metrics.close({ elapsedMs: h.clock.now(), received: h.coalescer.received, unserved: h.coalescer.pending });
    t.deepEqual(summary.triggers, { received: 100, served: 100, coalesced: 100 - (burstRuns + 1), unserved: 0 });
  });
}

test('100 triggers during one long run give exactly one more run, which serves them all', async (t) => {
  const h = start({ minIntervalMs: 100, burstRuns: 2, serviceMs: 500 });
  await h.triggerAt([0]);
  await h.triggerAt(range(100).map((i) => 100 + i));
  await h.stepTo(5000);
  t.deepEqual(h.starts(), [0, 500]);
  t.deepEqual(h.served(), [1, 100]);
});

test('a trigger during a run causes exactly one more run after it', async (t) => {
  // minInterval already passed since the start: the next run follows at once.
  const h = start({ minIntervalMs: 100, serviceMs: 500 });
  await h.triggerAt([0, 100, 200, 300]);
  await h.stepTo(499);
  t.deepEqual(h.starts(), [0], 'nothing starts while the run runs');
  await h.stepTo(60_000);
  t.deepEqual(h.served(), [1, 3]);
  t.deepEqual(
    h.command.spans.map((s) => [s.startMs, s.endMs]),
    [
      [0, 500],
      [500, 1000],
    ],
    'one more run, and no further one',
  );

  // minInterval not passed yet when the run ends: the next one waits minInterval after that end.
  const slow = start({ minIntervalMs: 1000, serviceMs: 500 });
  await slow.triggerAt([0, 100, 200, 300]);
  await slow.stepTo(1499);
  t.deepEqual(slow.starts(), [0]);
  await slow.stepTo(60_000);
  t.deepEqual(slow.starts(), [0, 1500]);
  t.deepEqual(slow.served(), [1, 3]);
});

test('with no triggers a run happens every maxInterval (after the loop starts, then after each run)', async (t) => {
  const h = start({ minIntervalMs: 100, maxIntervalMs: 1000, serviceMs: 50 });
  await h.stepTo(3400);
  t.deepEqual(h.starts(), [1000, 2050, 3100]);
  t.deepEqual(h.reasons(), ['periodic', 'periodic', 'periodic']);
  t.deepEqual(h.served(), [0, 0, 0]);
  // A trigger resets the period: the next periodic run is maxInterval after it ends.
  await h.triggerAt([3500]);
  await h.stepTo(5000);
  t.deepEqual(h.starts(), [1000, 2050, 3100, 3500, 4550]);
});

test('runs never start closer than minInterval beyond the burst: steady triggers', async (t) => {
  for (const burstRuns of [1, 3]) {
    const h = start({ minIntervalMs: 300, burstRuns, serviceMs: 40 });
    await h.triggerAt(range(200, 10)); // a trigger every 10 ms for 2 s
    h.coalescer.end();
    await h.stepTo(10_000);
    const starts = h.starts();
    // The burst is spent back to back (each run right after the previous one ends), then one per 300 ms.
    t.deepEqual(starts.slice(0, burstRuns), range(burstRuns, 40), `burst ${burstRuns}`);
    // n runs started in [starts[i], starts[j]] need (n - burst) refills of 300 ms in between.
    for (let i = 0; i < starts.length; i++) {
      for (let j = i + burstRuns; j < starts.length; j++) {
        t.true(starts[j]! - starts[i]! >= (j - i + 1 - burstRuns) * 300 - 1e-9, `burst ${burstRuns}: runs ${i + 1}..${j + 1} at ${starts[i]}..${starts[j]}`);
      }
    }
    t.true(starts.length <= burstRuns + 2300 / 300, `burst ${burstRuns}: ${starts.length} runs`);
    t.is(h.served().reduce((a, b) => a + b, 0), 200);
    t.is(h.outcome?.unserved, 0);
  }
});

const scenario = fc.record({
  minMs: fc.integer({ min: 1, max: 500 }),
  extraMs: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined }),
  burst: fc.integer({ min: 1, max: 3 }),
  serviceMs: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 8 }),
  triggers: fc.array(fc.integer({ min: 0, max: 4000 }), { maxLength: 60 }),
});

test('property: each trigger is served once, by the next run, within service + minInterval; starts stay within burst + W / minInterval', async (t) => {
  await fc.assert(
    fc.asyncProperty(scenario, async ({ minMs, extraMs, burst, serviceMs, triggers }) => {
      const h = start({
        minIntervalMs: minMs,
        maxIntervalMs: extraMs === undefined ? 0 : minMs + extraMs,
        burstRuns: burst,
        serviceMs: (n) => serviceMs[n % serviceMs.length]!,
      });
      const times = [...triggers].sort((a, b) => a - b);
      await h.triggerAt(times);
      h.coalescer.end();
      await h.stepTo(4000 + 10 * (minMs + 300) + (extraMs ?? 0) * 3);
      if (h.outcome === undefined) throw new Error('did not end after draining');
      const runs = h.events.flatMap((e) => (e.type === 'started' ? [e.run] : []));
      // Served exactly once, by the first run that started after it: each run serves the triggers that came
      // between the previous run's start and its own.
      const served = runs.reduce((n, r) => n + r.triggersMs.length, 0);
      if (served !== times.length) throw new Error(`${served} served of ${times.length}`);
      let previousMs = -Infinity;
      for (const r of runs) {
        for (const at of r.triggersMs) {
          if (at < previousMs || at > r.startedMs) throw new Error(`run ${r.seq} at ${r.startedMs} served a trigger at ${at} (previous run at ${previousMs})`);
          // At worst it waits for a running run to end (<= 300 ms), then minInterval after that end.
          if (r.startedMs - at > 300 + minMs + 1e-6) throw new Error(`trigger at ${at} waited until ${r.startedMs} (min ${minMs})`);
        }
        previousMs = r.startedMs;
      }
      // Runs are serialized, and at most burst + W / min start in any window of W (the bucket refills one
      // run per minInterval).
      const spans = h.command.spans;
      for (let i = 1; i < spans.length; i++) {
        if (spans[i]!.startMs < spans[i - 1]!.endMs!) throw new Error('runs overlap');
      }
      const starts = spans.map((s) => s.startMs);
      for (let i = 0; i < starts.length; i++) {
        for (let j = i; j < starts.length; j++) {
          const windowMs = starts[j]! - starts[i]!;
          if (j - i + 1 > burst + windowMs / minMs + 1e-9) throw new Error(`${j - i + 1} starts in ${windowMs} ms (burst ${burst}, min ${minMs}): ${starts.join(',')}`);
        }
      }
    }),
    { numRuns: 100 },
  );
  t.pass();
});

test('a failed run is retried after retry-after, as a run of its own; then nothing more', async (t) => {
  const h = start({ minIntervalMs: 100, retry: fixedRetry(2000), fails: (n) => n === 1, serviceMs: 10 });
  await h.triggerAt([0]);
  await h.stepTo(1999);
  t.deepEqual(h.starts(), [0]);
  await h.stepTo(20_000);
  t.deepEqual(h.starts(), [0, 2010], 'retry due 2000 ms after the failed run ended');
  t.deepEqual(h.reasons(), ['trigger', 'retry']);
  t.deepEqual(h.command.spans.map((s) => s.attempt), [1, 2]);
  const finished = h.events.flatMap((e) => (e.type === 'finished' ? [[e.outcome.ok, e.retryInMs, e.gaveUp]] : []));
  t.deepEqual(finished, [
    [false, 2000, false],
    [true, undefined, false],
  ]);
});

test('a trigger before the retry is due serves as the retry; the retry still respects minInterval', async (t) => {
  const h = start({ minIntervalMs: 1000, retry: fixedRetry(5000), fails: (n) => n === 1 });
  await h.triggerAt([0, 300]);
  await h.stepTo(20_000);
  t.deepEqual(h.starts(), [0, 1000]);
  t.deepEqual(h.command.spans.map((s) => s.attempt), [1, 2]);
  t.deepEqual(h.reasons(), ['trigger', 'trigger']);

  const quick = start({ minIntervalMs: 1000, retry: fixedRetry(100), fails: (n) => n === 1 });
  await quick.triggerAt([0]);
  await quick.stepTo(20_000);
  t.deepEqual(quick.starts(), [0, 1000], 'a 100 ms retry waits for minInterval');
});

test('backoff retries stop after --retries; the next trigger starts a fresh count', async (t) => {
  const retry = new RetryPolicy<number>({ retries: 2, baseDelayMs: 100, maxDelayMs: 10_000, jitter: 'none' });
  const h = start({ minIntervalMs: 10, retry, fails: () => true });
  await h.triggerAt([0]);
  await h.stepTo(5000);
  t.deepEqual(h.starts(), [0, 100, 300], 'delays 100 then 200 ms, then no retry left');
  const last = h.events.at(-1)!;
  t.true(last.type === 'finished' && last.gaveUp);
  await h.triggerAt([6000]);
  await h.stepTo(7000);
  t.deepEqual(h.command.spans.map((s) => s.attempt), [1, 2, 3, 1, 2, 3]);
});

test('without a retry policy a failed run waits for the next trigger', async (t) => {
  const h = start({ minIntervalMs: 10, fails: () => true });
  await h.triggerAt([0]);
  await h.stepTo(10_000);
  t.deepEqual(h.starts(), [0]);
  h.coalescer.end();
  const outcome = await h.done;
  t.is(outcome.lastOk, false);
});

test('end() drains: the owed run happens, then run() resolves; a retry due is owed too', async (t) => {
  const h = start({ minIntervalMs: 1000, retry: fixedRetry(3000), fails: (n) => n === 2 });
  await h.triggerAt([0, 10]);
  h.coalescer.end();
  t.false(h.coalescer.trigger(), 'no trigger is taken after end()');
  await h.stepTo(999);
  t.is(h.outcome, undefined);
  await h.stepTo(10_000);
  t.deepEqual(h.starts(), [0, 1000, 4000]);
  t.deepEqual(h.outcome, { runs: 3, lastOk: true, received: 2, unserved: 0, stopped: false });
});

test('end() without drain stops at once; a running run finishes; pending triggers stay unserved', async (t) => {
  const h = start({ minIntervalMs: 1000, drain: false, serviceMs: 200 });
  await h.triggerAt([0, 50, 60]);
  h.coalescer.end();
  await h.stepTo(150);
  t.is(h.outcome, undefined, 'waits for the running run');
  await h.stepTo(10_000);
  t.deepEqual(h.starts(), [0]);
  t.deepEqual(h.outcome, { runs: 1, lastOk: true, received: 3, unserved: 2, stopped: false });
});

test('end() with nothing owed resolves at once, with no run', async (t) => {
  const h = start({ maxIntervalMs: 1000 });
  h.coalescer.end();
  await h.stepTo(0);
  t.deepEqual(h.outcome, { runs: 0, lastOk: undefined, received: 0, unserved: 0, stopped: false });
});

test('runOnStart runs once at start, before any trigger; end() right away still gets it', async (t) => {
  const h = start({ runOnStart: true, minIntervalMs: 1000, serviceMs: 30 });
  h.coalescer.end();
  await h.stepTo(5000);
  t.deepEqual(h.starts(), [0]);
  t.deepEqual(h.reasons(), ['start']);
  t.is(h.outcome?.runs, 1);

  const g = start({ runOnStart: true, minIntervalMs: 1000 });
  await g.triggerAt([10, 20]);
  await g.stepTo(5000);
  t.deepEqual(g.starts(), [0, 1000]);
  t.deepEqual(g.reasons(), ['start', 'trigger']);
});

test('stop() takes no more triggers, starts no more runs, and lets the running one finish', async (t) => {
  const h = start({ minIntervalMs: 0, serviceMs: 100, retry: fixedRetry(10), fails: () => true });
  await h.triggerAt([0, 50]);
  h.coalescer.stop();
  t.false(h.coalescer.trigger());
  await h.stepTo(1000);
  t.deepEqual(h.starts(), [0]);
  t.deepEqual(h.command.spans.map((s) => s.endMs), [100]);
  t.deepEqual(h.outcome, { runs: 1, lastOk: false, received: 2, unserved: 1, stopped: true });
});

test('kill() ends the running run at once through its kill signal', async (t) => {
  const h = start({ serviceMs: 10_000 });
  await h.triggerAt([0]);
  await h.stepTo(100);
  h.coalescer.kill();
  await h.stepTo(200);
  t.deepEqual(h.command.spans.map((s) => s.endMs), [100]);
  t.is(h.outcome?.lastOk, false);
});

test('a listener that throws ends run() with its error (a bug is not swallowed)', async (t) => {
  const h = start({});
  h.coalescer.on((e) => {
    if (e.type === 'finished') throw new Error('listener bug');
  });
  await h.triggerAt([0]);
  await t.throwsAsync(h.done, { message: 'listener bug' });
});

test('metrics: trigger-to-start delays, coalesced count and the summary text', async (t) => {
  const h = start({ minIntervalMs: 1000, serviceMs: 100, maxIntervalMs: 5000 });
  await h.triggerAt(range(100)); // 0..99: the first runs at once, the rest at 1100
  await h.stepTo(7000); // and one periodic run at 6200
  h.coalescer.end();
  await h.stepTo(7000);
  const summary = h.metrics.close({ elapsedMs: 7000, received: h.coalescer.received, unserved: 0 });
  t.deepEqual(h.starts(), [0, 1100, 6200]);
  t.deepEqual(summary.runs, { total: 3, succeeded: 3, failed: 0, retried: 0, byReason: { trigger: 2, start: 0, retry: 0, periodic: 1 } });
  t.deepEqual(summary.triggers, { received: 100, served: 100, coalesced: 98, unserved: 0 });
  t.is(summary.delayMs.count, 100);
  t.is(summary.delayMs.min, 0);
  t.is(summary.delayMs.max, 1099);
  // Delays 0 and 1001..1099: the 50th value is 1049 (HDR keeps 3 significant digits).
  t.true(Math.abs(summary.delayMs.p50 - 1049) <= 1, `p50 ${summary.delayMs.p50}`);
  t.deepEqual([summary.serviceMs.count, summary.serviceMs.max], [3, 100]);
  const config: CoalesceConfig = {
    minIntervalMs: 1000,
    maxIntervalMs: 5000,
    burst: 1,
    retryAfterMs: null,
    retries: 0,
    backoffBaseMs: 200,
    backoffMaxMs: 30_000,
    jitter: 'equal',
    timeoutMs: null,
    runOnStart: false,
    drain: true,
  };
  const text = formatCoalesceSummary(buildCoalesceReport('make', config, summary, false));
  t.is(
    text,
    [
      '3 runs in 7.00s: 3 ok, 0 failed (2 triggered, 1 periodic); 100 triggers served, 98 coalesced',
      '  delay     p50   1.05s   p99   1.10s   max   1.10s',
      '  run       p50   100ms   p99   100ms   max   100ms',
      '',
    ].join('\n'),
  );
  const empty = new CoalesceMetrics().close({ elapsedMs: 5, received: 0, unserved: 0 });
  t.is(formatCoalesceSummary(buildCoalesceReport('make', config, empty, true)), '0 runs in 5.00ms: 0 ok, 0 failed; 0 triggers served, 0 coalesced; interrupted\n  delay     no trigger served\n  run       no run\n');
});

test('settings: defaults, and bad flags are one-line usage errors naming the flag', (t) => {
  const s = coalesceSettings(['make'], {});
  t.like(s, { minIntervalMs: 1000, maxIntervalMs: Infinity, burst: 1, retryAfterMs: undefined, retries: 0, timeoutMs: Infinity, killAfterMs: 5000, drain: true, runOnStart: false });
  t.is(coalesceSettings(['make'], { retryAfter: '30s' }).retries, Infinity, '--retry-after alone retries without limit');
  t.is(coalesceSettings(['make'], { retryAfter: '30s', retries: '3' }).retries, 3);
  t.is(coalesceSettings(['make'], { maxInterval: '10m', minInterval: '2s' }).maxIntervalMs, 600_000);
  t.is(coalesceSettings(['make'], { drain: false }).drain, false);
  const bad: Array<[readonly string[], Record<string, string>, RegExp]> = [
    [[], {}, /^no command given/],
    [['make'], { minInterval: '5' }, /^--min-interval: invalid duration "5"/],
    [['make'], { maxInterval: 'soon' }, /^--max-interval: invalid duration/],
    [['make'], { minInterval: '2s', maxInterval: '1s' }, /^--max-interval \(1s\) is shorter than --min-interval \(2s\)/],
    [['make'], { burst: '0' }, /^-b, --burst: invalid value "0"/],
    [['make'], { retryAfter: '-1s' }, /^--retry-after: invalid duration/],
    [['make'], { retryAfter: '1s', backoffBase: '1s' }, /^--retry-after and --backoff-base: pick one/],
    [['make'], { retries: 'x' }, /^--retries: invalid value "x"/],
    [['make'], { backoffBase: '10s', backoffMax: '1s' }, /^--backoff-max \(1s\) is shorter than --backoff-base \(10s\)/],
    [['make'], { timeout: '1' }, /^--timeout: invalid duration/],
    [['make'], { killAfter: 'x' }, /^--kill-after: invalid duration/],
    [['make'], { jitter: 'some' }, /^--jitter: invalid value "some"/],
  ];
  for (const [command, options, message] of bad) {
    const err = t.throws(() => coalesceSettings(command, options), { instanceOf: UsageError, message }, JSON.stringify(options));
    t.false(err?.message.includes('\n'), 'one line');
  }
});
