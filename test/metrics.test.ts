import test from 'ava';
import fc from 'fast-check';
import type { Result } from '../src/engine/types.js';
import { Distribution, Metrics } from '../src/measure/metrics.js';
import Int32HistogramModule from 'hdr-histogram-js/dist/Int32Histogram.js';

const Int32Histogram = Int32HistogramModule.default;

/** result builds a Result: by default an ok job that arrived at 0, started at once and took 10 ms. */
function result(o: Partial<Result> = {}): Result {
  const arrivalMs = o.arrivalMs ?? 0;
  const startedMs = o.startedMs ?? arrivalMs;
  return {
    seq: 0,
    key: 'k',
    arrivalMs,
    grantedMs: startedMs,
    startedMs,
    endedMs: startedMs + 10,
    attempts: 1,
    status: 'ok',
    code: 0,
    throttleMs: 0,
    backoffMs: 0,
    serviceMs: 10,
    ...o,
  };
}

function fold(results: Result[], elapsedMs = 1000, peak = 1) {
  const m = new Metrics();
  for (const r of results) m.add(r);
  return m.close(elapsedMs, peak);
}

const EMPTY_STATS = { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };

// --- the fold -----------------------------------------------------------------------------------------------

test('an empty run: zero counts, zero stats, no offered rate, no outcomes', (t) => {
  t.deepEqual(fold([], 0, 0), {
    jobs: { total: 0, succeeded: 0, failed: 0, rejected: 0, interrupted: 0, retried: 0, attempts: 0 },
    elapsedMs: 0,
    throughput: { offered: null, achieved: 0, attempts: 0 },
    latencyMs: EMPTY_STATS,
    throttleMs: EMPTY_STATS,
    backoffMs: EMPTY_STATS,
    serviceMs: EMPTY_STATS,
    inflight: { peak: 0 },
    outcomes: {},
  });
});

test('exact counts by status, retried jobs and attempts', (t) => {
  const s = fold([
    result({ status: 'ok', attempts: 1 }),
    result({ status: 'ok', attempts: 3 }),
    result({ status: 'ok', attempts: 1 }),
    result({ status: 'failed', attempts: 4, code: 1 }),
    result({ status: 'failed', attempts: 1, code: 2 }),
    result({ status: 'rejected', attempts: 2, code: 'rejected' }),
    result({ status: 'interrupted', attempts: 0, code: undefined, startedMs: undefined, grantedMs: undefined }),
  ]);
  t.deepEqual(s.jobs, { total: 7, succeeded: 3, failed: 2, rejected: 1, interrupted: 1, retried: 3, attempts: 12 });
});

test('outcomes count final codes, numeric codes sorted numerically, "none" for jobs never run', (t) => {
  const codes: Array<Result['code']> = [0, 10, 2, 0, 'timeout', 1, undefined, 'ENOENT', 429, 0, 2, undefined];
  const s = fold(codes.map((code) => result({ code, status: code === 0 ? 'ok' : 'failed' })));
  t.deepEqual(Object.entries(s.outcomes), [
    ['0', 3],
    ['1', 1],
    ['2', 2],
    ['10', 1],
    ['429', 1],
    ['ENOENT', 1],
    ['none', 2],
    ['timeout', 1],
  ]);
});

test('latency runs from arrival to the end of the last attempt (queueing counts: no coordinated omission)', (t) => {
  const s = fold([result({ arrivalMs: 100, grantedMs: 150, startedMs: 160, endedMs: 400, throttleMs: 50, serviceMs: 240 })]);
  t.like(s.latencyMs, { count: 1, min: 300, max: 300, p50: 300 });
  t.like(s.throttleMs, { count: 1, max: 50 });
  t.like(s.serviceMs, { count: 1, max: 240 });
});

test('a rejected job that never ran still has a latency, from arrival to when it was given up', (t) => {
  const s = fold([result({ status: 'rejected', code: 'rejected', arrivalMs: 5, startedMs: undefined, endedMs: 25, serviceMs: 0, throttleMs: 20 })]);
  t.like(s.latencyMs, { count: 1, max: 20 });
});

test('interrupted jobs are out of latency, backoff and service, but their throttle time counts', (t) => {
  const s = fold([
    result({ arrivalMs: 0, endedMs: 100, throttleMs: 10, backoffMs: 5, serviceMs: 85 }),
    result({ status: 'interrupted', code: undefined, arrivalMs: 0, startedMs: undefined, endedMs: 5000, throttleMs: 4000, backoffMs: 900, serviceMs: 0 }),
  ]);
  t.like(s.latencyMs, { count: 1, max: 100 });
  t.like(s.backoffMs, { count: 1, max: 5 });
  t.like(s.serviceMs, { count: 1, max: 85 });
  t.like(s.throttleMs, { count: 2, min: 10, max: 4000 });
  t.is(s.jobs.interrupted, 1);
  t.deepEqual(s.outcomes, { '0': 1, none: 1 });
});

test('offered rate: null below two jobs or when all arrived at once, else arrivals per second over their span', (t) => {
  t.is(fold([result()]).throughput.offered, null);
  t.is(fold([result({ arrivalMs: 3 }), result({ arrivalMs: 3 })]).throughput.offered, null);
  // Three arrivals over one second: two intervals of 500 ms, 2/s.
  t.is(fold([result({ arrivalMs: 1000 }), result({ arrivalMs: 0 }), result({ arrivalMs: 500 })]).throughput.offered, 2);
  t.is(fold([result({ arrivalMs: 0 }), result({ arrivalMs: 3 })]).throughput.offered, 333.333);
});

test('achieved is succeeded jobs per second of the run; attempts per second counts every attempt', (t) => {
  const s = fold(
    [result(), result({ attempts: 2 }), result(), result({ status: 'failed', code: 1, attempts: 3 }), result({ status: 'rejected', code: 'rejected' })],
    2000,
    3,
  );
  t.is(s.throughput.achieved, 1.5);
  t.is(s.throughput.attempts, 4);
  t.is(s.elapsedMs, 2000);
  t.deepEqual(s.inflight, { peak: 3 });
});

test('rates are 0, not Infinity, when the run took no time', (t) => {
  const s = fold([result(), result()], 0);
  t.is(s.throughput.achieved, 0);
  t.is(s.throughput.attempts, 0);
});

test('elapsed and rates are rounded to three decimals', (t) => {
  const s = fold([result()], 3000.123456);
  t.is(s.elapsedMs, 3000.123);
  t.is(s.throughput.achieved, 0.333);
});

test('close does not consume: adding more and closing again includes everything', (t) => {
  const m = new Metrics();
  m.add(result());
  t.is(m.close(1000, 1).jobs.total, 1);
  m.add(result({ status: 'failed', code: 1 }));
  t.like(m.close(1000, 1).jobs, { total: 2, failed: 1 });
});

// --- Distribution -------------------------------------------------------------------------------------------

test('Distribution: exact count, min, mean and max; percentiles of 1..1000 ms', (t) => {
  const d = new Distribution();
  for (let v = 1; v <= 1000; v++) d.add(v);
  t.is(d.count, 1000);
  const s = d.stats();
  t.is(s.count, 1000);
  t.is(s.min, 1);
  t.is(s.max, 1000);
  t.is(s.mean, 500.5);
  for (const [p, exact] of [[s.p50, 500], [s.p90, 900], [s.p99, 990], [s.p999, 999]] as const) {
    t.true(Math.abs(p - exact) <= exact * 1e-3, `${p} is not within 0.1% of ${exact}`);
  }
  t.is(d.histogram.totalCount, 1000);
});

test('Distribution: sub-millisecond values keep three significant digits', (t) => {
  const d = new Distribution();
  d.add(0.123);
  d.add(0.1234);
  d.add(0.9876);
  t.true(Math.abs(d.percentile(50) - 0.123) <= 0.001);
  t.is(d.stats().min, 0.123);
  t.is(d.stats().max, 0.988);
});

test('Distribution: percentiles are never above the exact maximum', (t) => {
  const d = new Distribution();
  d.add(1234.5678);
  const s = d.stats();
  for (const p of [s.p50, s.p90, s.p99, s.p999]) t.true(p <= s.max, `${p} > ${s.max}`);
  t.true(d.percentile(100) <= 1234.5678);
  t.is(s.max, 1234.568);
});

test('Distribution: negative values count as 0; empty gives zeros', (t) => {
  const empty = new Distribution();
  t.deepEqual(empty.stats(), EMPTY_STATS);
  t.is(empty.percentile(99), 0);
  const d = new Distribution();
  d.add(-5);
  d.add(10);
  t.like(d.stats(), { count: 2, min: 0, mean: 5, max: 10 });
});

test('Distribution: very long values (hours) are recorded', (t) => {
  const d = new Distribution();
  d.add(3 * 3_600_000);
  d.add(1);
  t.is(d.stats().max, 10_800_000);
  t.true(Math.abs(d.percentile(99) - 10_800_000) <= 10_800);
});

test('property: percentiles are within HDR precision (3 significant digits) of the exact ones, never above max', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 200 }),
      fc.constantFrom(0, 1, 25, 50, 90, 99, 99.9, 100),
      (values, p) => {
        const d = new Distribution();
        for (const v of values) d.add(v);
        // The nearest rank, as HDR computes it: the value at count max(1, ceil(p% · n)), in whole microseconds.
        const sorted = values.map((v) => Math.round(v * 1000) / 1000).sort((a, b) => a - b);
        const rank = Math.max(1, Math.ceil((p / 100) * sorted.length - 1e-9));
        const exact = sorted[rank - 1]!;
        const max = Math.max(...values);
        const got = d.percentile(p);
        // 3 significant digits: within 0.1% (plus the microsecond the value was rounded to).
        return got <= max && Math.abs(got - exact) <= exact * 1e-3 + 0.001;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test('a Distribution builds the very histogram that recording each value would: counts, min, max, percentiles, hgrm text', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0, max: 3e6, noNaN: true }), fc.double({ min: 0, max: 5, noNaN: true })), { minLength: 1, maxLength: 300 }),
      fc.nat(300),
      (values, readAt) => {
        const d = new Distribution();
        const direct = new Int32Histogram(1, 2, 3);
        direct.autoResize = true;
        values.forEach((ms, i) => {
          d.add(ms);
          direct.recordValue(Math.round(ms * 1000));
          if (i === readAt) void d.histogram; // a read part-way hands the counts over early
        });
        const h = d.histogram;
        t.is(h.totalCount, direct.totalCount);
        t.is(h.maxValue, direct.maxValue);
        t.is(h.minNonZeroValue, direct.minNonZeroValue);
        for (const p of [0, 50, 90, 99, 99.9, 100]) t.is(h.getValueAtPercentile(p), direct.getValueAtPercentile(p));
        t.is(h.outputPercentileDistribution(), direct.outputPercentileDistribution());
      },
    ),
    { numRuns: 60 },
  );
});

test('outcomes count runs of the same code and interleaved ones alike, across summaries taken mid-way', (t) => {
  const m = new Metrics();
  const codes: Array<number | string | undefined> = [200, 200, 500, 200, 'timeout', 'timeout', undefined, 200];
  for (const code of codes) m.add(result({ code, status: code === 200 ? 'ok' : 'failed' }));
  t.deepEqual(m.close(1000, 1).outcomes, { 200: 4, 500: 1, none: 1, timeout: 2 });
  m.add(result({ code: 200 }));
  m.add(result({ code: 500, status: 'failed' }));
  m.add(result({ code: '200' })); // a code given as text is the same outcome
  t.deepEqual(m.close(1000, 1).outcomes, { 200: 6, 500: 2, none: 1, timeout: 2 });
});
