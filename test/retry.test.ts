import test from 'ava';
import fc from 'fast-check';
import { FastSlowLimiter, type ItemRateLimiter } from '../src/core/item-limiters.js';
import { applyJitter, RetryPolicy, type Jitter } from '../src/core/retry.js';

/** seq returns a random() that yields the given values in turn, then repeats the last. */
function seq(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}

/** delays returns next(item, 1..n) for one item. */
function delays(policy: RetryPolicy<string>, n: number, item = 'a'): (number | undefined)[] {
  return Array.from({ length: n }, (_, i) => policy.next(item, i + 1));
}

test('constructor validates its options, naming each', (t) => {
  const ok = { retries: 3, baseDelayMs: 10, maxDelayMs: 1000 };
  for (const [name, patch] of [
    ['retries', { retries: -1 }],
    ['retries', { retries: 1.5 }],
    ['retries', { retries: Number.NaN }],
    ['baseDelayMs', { baseDelayMs: -1 }],
    ['baseDelayMs', { baseDelayMs: Number.NaN }],
    ['maxDelayMs', { maxDelayMs: -1 }],
    ['maxDelayMs', { maxDelayMs: Infinity }],
    ['jitter', { jitter: 'half' as Jitter }],
  ] as const) {
    t.throws(() => new RetryPolicy({ ...ok, ...patch }), { instanceOf: RangeError, message: new RegExp(name) });
  }
  t.notThrows(() => new RetryPolicy({ ...ok, retries: Infinity }));
  const p = new RetryPolicy(ok);
  t.throws(() => p.next('x', 0), { instanceOf: RangeError, message: /attempt/ });
  t.throws(() => p.next('x', 1.5), { instanceOf: RangeError, message: /attempt/ });
  t.is(p.retries, 3);
  t.is(p.maxDelayMs, 1000);
});

test('without jitter the delay doubles from the base per failure of the item', (t) => {
  const p = new RetryPolicy<string>({ retries: 6, baseDelayMs: 100, maxDelayMs: 60_000 });
  t.deepEqual(delays(p, 6), [100, 200, 400, 800, 1600, 3200]);
  // Another item has its own count.
  t.is(p.next('b', 1), 100);
});

test('the delay is capped at maxDelayMs', (t) => {
  const p = new RetryPolicy<string>({ retries: 10, baseDelayMs: 100, maxDelayMs: 1000 });
  t.deepEqual(delays(p, 7), [100, 200, 400, 800, 1000, 1000, 1000]);
});

test('next returns undefined once attempt exceeds retries; retries 0 never retries', (t) => {
  const p = new RetryPolicy<string>({ retries: 2, baseDelayMs: 10, maxDelayMs: 1000 });
  t.deepEqual(delays(p, 4), [10, 20, undefined, undefined]);
  const never = new RetryPolicy<string>({ retries: 0, baseDelayMs: 10, maxDelayMs: 1000 });
  t.is(never.next('a', 1), undefined);
});

test('forget restarts the item from the base delay', (t) => {
  const p = new RetryPolicy<string>({ retries: 5, baseDelayMs: 10, maxDelayMs: 1000 });
  t.deepEqual(delays(p, 3), [10, 20, 40]);
  p.forget('a');
  t.deepEqual(delays(p, 2), [10, 20]);
});

test('an injected random makes full and equal jitter deterministic', (t) => {
  const full = new RetryPolicy<string>({
    retries: 3,
    baseDelayMs: 100,
    maxDelayMs: 10_000,
    jitter: 'full',
    random: seq(0.5, 0.25, 0),
  });
  t.deepEqual(delays(full, 3), [50, 50, 0]);
  const equal = new RetryPolicy<string>({
    retries: 3,
    baseDelayMs: 100,
    maxDelayMs: 10_000,
    jitter: 'equal',
    random: seq(0.5, 0.25, 0),
  });
  t.deepEqual(delays(equal, 3), [75, 125, 200]);
});

test('jitter applies after the cap (AWS: random between 0 and min(cap, base × 2^n))', (t) => {
  const p = new RetryPolicy<string>({
    retries: 20,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    jitter: 'full',
    random: () => 0.999,
  });
  const d = delays(p, 20);
  t.true(d.every((x) => x !== undefined && x <= 1000));
  t.is(d[19], 999);
});

test('Retry-After replaces the backoff, is not jittered, and is clamped to [0, maxDelayMs]', (t) => {
  const p = new RetryPolicy<string>({
    retries: 10,
    baseDelayMs: 100,
    maxDelayMs: 5000,
    jitter: 'full',
    random: () => 0,
  });
  t.is(p.next('a', 1, 1000), 1000);
  t.is(p.next('a', 2, 60_000), 5000);
  t.is(p.next('a', 3, -5), 0);
  t.is(p.next('a', 4, 0), 0);
  // NaN counts as not given: the jittered backoff (random 0 -> 0) applies.
  t.is(p.next('a', 5, Number.NaN), 0);
  // The limiter still counted every one of those failures.
  const plain = new RetryPolicy<string>({ retries: 10, baseDelayMs: 100, maxDelayMs: 5000 });
  plain.next('a', 1, 1);
  plain.next('a', 2, 1);
  t.is(plain.next('a', 3), 400);
});

test('an exhausted retry budget wins over a Retry-After', (t) => {
  const p = new RetryPolicy<string>({ retries: 1, baseDelayMs: 100, maxDelayMs: 5000 });
  t.is(p.next('a', 1, 2000), 2000);
  t.is(p.next('a', 2, 2000), undefined);
});

test('a custom limiter is called for every retry; its Infinity and NaN become maxDelayMs', (t) => {
  const calls: string[] = [];
  const values = [Infinity, Number.NaN, 7, -3];
  const limiter: ItemRateLimiter<unknown> = {
    when(item) {
      calls.push(String(item));
      return values[calls.length - 1]!;
    },
    forget() {},
    numRequeues: () => calls.length,
  };
  const p = new RetryPolicy({ retries: 10, baseDelayMs: 1, maxDelayMs: 3000, limiter });
  t.is(p.next('x', 1), 3000);
  t.is(p.next('x', 2), 3000);
  t.is(p.next('x', 3, 50), 50);
  t.is(p.next('x', 4), 0);
  t.deepEqual(calls, ['x', 'x', 'x', 'x']);
});

test('a typed limiter such as FastSlowLimiter can drive the policy', (t) => {
  const p = new RetryPolicy<string>({
    retries: 5,
    baseDelayMs: 0,
    maxDelayMs: 10_000,
    limiter: new FastSlowLimiter<string>(5, 2000, 2),
  });
  t.deepEqual(delays(p, 4), [5, 5, 2000, 2000]);
});

test('thousands of failures stay at the cap, never NaN', (t) => {
  const p = new RetryPolicy<string>({ retries: Infinity, baseDelayMs: 1, maxDelayMs: 30_000, jitter: 'equal' });
  let last: number | undefined;
  for (let i = 1; i <= 3000; i++) last = p.next('a', i);
  t.true(last !== undefined && last >= 15_000 && last <= 30_000);
});

test('applyJitter: none is exact; out-of-range randoms are clamped; bad input throws', (t) => {
  t.is(applyJitter(123, 'none', () => 0.3), 123);
  t.is(applyJitter(100, 'full', () => 2), 100);
  t.is(applyJitter(100, 'full', () => -1), 0);
  t.is(applyJitter(100, 'equal', () => Number.NaN), 50);
  t.is(applyJitter(Infinity, 'full', () => 0), Infinity);
  t.is(applyJitter(0, 'equal', () => 0.7), 0);
  t.throws(() => applyJitter(-1, 'none', Math.random), { instanceOf: RangeError });
  t.throws(() => applyJitter(Number.NaN, 'full', Math.random), { instanceOf: RangeError });
  t.throws(() => applyJitter(1, 'bogus' as Jitter, Math.random), { instanceOf: RangeError });
});

test('property: jitter stays in its range', (t) => {
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 1e12, noNaN: true }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (d, r) => {
        const random = (): number => r;
        const none = applyJitter(d, 'none', random);
        const full = applyJitter(d, 'full', random);
        const equal = applyJitter(d, 'equal', random);
        return none === d && full >= 0 && full <= d && equal >= d / 2 && equal <= d;
      },
    ),
    // A subnormal delay once made d/2 + r·d/2 round above d.
    { examples: [[7.4e-323, 0.9666666666666667]] },
  );
  t.pass();
});

test('property: next is never NaN, never negative and never above maxDelayMs', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1e6 }),
      fc.integer({ min: 0, max: 1e7 }),
      fc.constantFrom<Jitter>('none', 'full', 'equal'),
      fc.array(fc.option(fc.double(), { nil: undefined }), { minLength: 1, maxLength: 60 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (baseDelayMs, maxDelayMs, jitter, retryAfters, r) => {
        const p = new RetryPolicy<string>({
          retries: retryAfters.length,
          baseDelayMs,
          maxDelayMs,
          jitter,
          random: () => r,
        });
        return retryAfters.every((ra, i) => {
          const d = p.next('k', i + 1, ra);
          return d !== undefined && d >= 0 && d <= maxDelayMs;
        });
      },
    ),
  );
  t.pass();
});
