import test from 'ava';
import { ManualClock } from '../src/core/clock.js';
import {
  BucketLimiter,
  ExponentialFailureLimiter,
  FastSlowLimiter,
  MaxOfLimiter,
  type ItemRateLimiter,
} from '../src/core/item-limiters.js';
import { Limiter } from '../src/core/limiter.js';

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;

/** whens calls `when(item)` n times and returns the delays. */
function whens<T>(limiter: ItemRateLimiter<T>, item: T, n: number): number[] {
  return Array.from({ length: n }, () => limiter.when(item));
}

test('ExponentialFailureLimiter doubles from the base per failure, per item; forget restarts it (§2.1)', (t) => {
  const l = new ExponentialFailureLimiter<string>(1, 1 * second);
  t.deepEqual(whens(l, 'one', 5), [1, 2, 4, 8, 16]);
  t.is(l.numRequeues('one'), 5);
  t.deepEqual(whens(l, 'two', 2), [1, 2]);
  t.is(l.numRequeues('two'), 2);
  l.forget('one');
  t.is(l.numRequeues('one'), 0);
  t.is(l.when('one'), 1);
  t.is(l.numRequeues('two'), 2);
});

test('ExponentialFailureLimiter caps at the max and survives thousands of failures (§2.1 overflow)', (t) => {
  const ms = new ExponentialFailureLimiter<string>(1, 1000 * second);
  whens(ms, 'one', 5);
  t.is(ms.when('one'), 32);
  const many = whens(ms, 'one', 1000);
  t.is(many.at(-1), 1000 * second);
  t.true(many.every((d) => Number.isFinite(d) && d <= 1000 * second));
  t.is(ms.numRequeues('one'), 1006);

  const min = new ExponentialFailureLimiter<string>(1 * minute, 1000 * hour);
  whens(min, 'one', 2);
  t.is(min.when('one'), 4 * minute);
  whens(min, 'one', 1000);
  t.is(min.when('one'), 1000 * hour);

  // Past 2^1024 the float is Infinity; the overflow guard still answers the max.
  const far = new ExponentialFailureLimiter<string>(1, 5);
  t.is(whens(far, 'x', 5000).at(-1), 5);
});

test('ExponentialFailureLimiter with base 0 always gives 0, never NaN', (t) => {
  const l = new ExponentialFailureLimiter<string>(0, 1000);
  t.true(whens(l, 'x', 2000).every((d) => d === 0));
});

test('ExponentialFailureLimiter with max below base gives the max (Go min)', (t) => {
  const l = new ExponentialFailureLimiter<string>(100, 30);
  t.deepEqual(whens(l, 'x', 3), [30, 30, 30]);
});

test('items are Map keys: objects by identity, 1 and "1" apart', (t) => {
  const l = new ExponentialFailureLimiter<unknown>(1, 1000);
  const a = { id: 1 };
  l.when(a);
  l.when(a);
  t.is(l.numRequeues(a), 2);
  t.is(l.numRequeues({ id: 1 }), 0);
  l.when(1);
  t.is(l.numRequeues('1'), 0);
  t.is(l.numRequeues(1), 1);
});

test('FastSlowLimiter is fast for maxFastAttempts failures, then slow (§2.2)', (t) => {
  const l = new FastSlowLimiter<string>(5, 10 * second, 3);
  t.deepEqual(whens(l, 'one', 5), [5, 5, 5, 10 * second, 10 * second]);
  t.is(l.numRequeues('one'), 5);
  t.is(l.when('two'), 5);
  l.forget('one');
  t.is(l.numRequeues('one'), 0);
  t.is(l.when('one'), 5);
  const alwaysSlow = new FastSlowLimiter<string>(5, 100, 0);
  t.is(alwaysSlow.when('x'), 100);
});

test('BucketLimiter spends one shared token per when and keeps no per-item state (§2.3)', (t) => {
  const clock = new ManualClock();
  const l = new BucketLimiter<string>(new Limiter(10, 2, { clock }));
  t.is(l.when('a'), 0);
  t.is(l.when('b'), 0);
  t.is(l.when('a'), 100);
  t.is(l.when('c'), 200);
  t.is(l.numRequeues('a'), 0);
  l.forget('a'); // gives nothing back
  t.is(l.when('a'), 300);
  clock.advance(1000); // 10 tokens refill the 3 of debt and the burst of 2
  t.is(l.when('a'), 0);
});

test('BucketLimiter on a bucket that can never grant gives Infinity (§2.3, §6.10)', (t) => {
  const l = new BucketLimiter<string>(new Limiter(10, 0, { clock: new ManualClock() }));
  t.is(l.when('a'), Infinity);
});

test('MaxOfLimiter asks every member and returns the largest delay (§2.4)', (t) => {
  const l = new MaxOfLimiter<string>(
    new FastSlowLimiter<string>(5, 3 * second, 3),
    new ExponentialFailureLimiter<string>(1, 1 * second),
  );
  t.deepEqual(whens(l, 'one', 5), [5, 5, 5, 3 * second, 3 * second]);
  t.is(l.numRequeues('one'), 5);
  l.forget('one');
  t.is(l.numRequeues('one'), 0);
  t.is(l.when('one'), 5);
});

test('MaxOfLimiter calls every member even when an earlier one already gives more', (t) => {
  const slow = new FastSlowLimiter<string>(1000, 1000, 0);
  const exp = new ExponentialFailureLimiter<string>(1, 100);
  const l = new MaxOfLimiter(slow, exp);
  whens(l, 'x', 4);
  t.is(slow.numRequeues('x'), 4);
  t.is(exp.numRequeues('x'), 4);
  t.is(l.numRequeues('x'), 4);
});

test('MaxOfLimiter with no members gives 0', (t) => {
  const l = new MaxOfLimiter<string>();
  t.is(l.when('x'), 0);
  t.is(l.numRequeues('x'), 0);
  l.forget('x');
});

test('DefaultController-like limiter: 100 items at 5 ms, the 101st waits for the bucket (§2.6)', (t) => {
  const l = new MaxOfLimiter<string>(
    new ExponentialFailureLimiter<string>(5, 1000 * second),
    new BucketLimiter<string>(new Limiter(10, 100, { clock: new ManualClock() })),
  );
  for (let i = 0; i < 100; i++) t.is(l.when(`item-${i}`), 5, `item-${i}`);
  t.is(l.when('item-100'), 100);
  t.is(l.when('item-100'), 200);
  t.is(l.numRequeues('item-100'), 2);
});

test('constructors reject negative or NaN arguments, naming them', (t) => {
  const cases: [() => unknown, string][] = [
    [() => new ExponentialFailureLimiter(-1, 10), 'baseDelayMs'],
    [() => new ExponentialFailureLimiter(Number.NaN, 10), 'baseDelayMs'],
    [() => new ExponentialFailureLimiter(1, -10), 'maxDelayMs'],
    [() => new ExponentialFailureLimiter(1, Number.NaN), 'maxDelayMs'],
    [() => new FastSlowLimiter(-1, 10, 1), 'fastDelayMs'],
    [() => new FastSlowLimiter(1, Number.NaN, 1), 'slowDelayMs'],
    [() => new FastSlowLimiter(1, 10, -1), 'maxFastAttempts'],
    [() => new FastSlowLimiter(1, 10, 1.5), 'maxFastAttempts'],
    [() => new FastSlowLimiter(1, 10, Number.NaN), 'maxFastAttempts'],
  ];
  for (const [make, name] of cases) t.throws(make, { instanceOf: RangeError, message: new RegExp(name) }, name);
  t.notThrows(() => new ExponentialFailureLimiter(0, 0));
  t.notThrows(() => new ExponentialFailureLimiter(1, Infinity));
});
