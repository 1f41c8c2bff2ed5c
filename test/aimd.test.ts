import test from 'ava';
import { Aimd } from '../src/core/aimd.js';
import { KeyedInflight, KeyedLimiters } from '../src/core/keyed.js';
import { keyFunction } from '../src/engine/key-template.js';

test('Aimd starts at its ceiling and never climbs past it', (t) => {
  const a = new Aimd({ ceiling: 100, floor: 1 });
  t.is(a.value(), 100);
  t.false(a.success(0));
  t.is(a.value(), 100);
});

test('a push-back multiplies by the decrease, never below the floor', (t) => {
  const a = new Aimd({ ceiling: 100, floor: 30, decrease: 0.5 });
  t.true(a.pushback(10, 5));
  t.is(a.value(), 50);
  t.true(a.pushback(20, 15));
  t.is(a.value(), 30);
  t.false(a.pushback(30, 25));
  t.is(a.value(), 30);
});

test('a push-back on work let through before the last decrease is ignored', (t) => {
  const a = new Aimd({ ceiling: 100, floor: 1, decrease: 0.5 });
  t.true(a.pushback(100, 90));
  t.false(a.pushback(101, 95)); // sent at 95, before the decrease at 100: it saw the old value
  t.is(a.value(), 50);
  t.true(a.pushback(200, 150));
  t.is(a.value(), 25);
});

test('successes climb by `increase` of the base per `value` successes', (t) => {
  const a = new Aimd({ ceiling: 100, floor: 1, decrease: 0.5, increase: 0.1 });
  a.pushback(0, 0); // 50, base 50: each success adds 0.1 * 50 / value
  for (let i = 0; i < 10; i++) a.success(1 + i);
  // Ten successes at about 50 add about 10 * 5 / 50 = 1.
  t.true(Math.abs(a.exact() - 51) < 0.05, String(a.exact()));
});

test('with a window, a decrease lands at decrease x the success rate seen over it', (t) => {
  const a = new Aimd({ ceiling: 1000, floor: 1, decrease: 0.8, windowMs: 1000 });
  // 50 successes a second for two seconds, at a ceiling of 1000/s.
  for (let ms = 0; ms < 2000; ms += 20) a.success(ms);
  t.true(a.pushback(2000, 1990));
  t.true(Math.abs(a.value() - 40) < 1, String(a.value()));
});

test('without a whole window of history the decrease is the plain multiple', (t) => {
  const a = new Aimd({ ceiling: 1000, floor: 1, decrease: 0.8, windowMs: 1000 });
  a.success(0);
  a.pushback(100, 50);
  t.is(a.value(), 800);
});

test('integer controllers hand out whole slots, at least one', (t) => {
  const a = new Aimd({ ceiling: 8, floor: 1, decrease: 0.5, integer: true });
  a.pushback(1, 1);
  t.is(a.value(), 4);
  a.pushback(2, 2);
  a.pushback(3, 3);
  a.pushback(4, 4);
  t.is(a.value(), 1);
  // One slot per round of `value` successes: from 1, one success adds 0.5 * 1 / 1 ... up to 2 in time.
  let n = 0;
  while (a.value() < 2 && n < 100) a.success(5 + n++);
  t.true(n > 0 && n < 100);
});

test('setCeiling lowers the value at once and caps the climb', (t) => {
  const a = new Aimd({ ceiling: 100, floor: 1 });
  a.setCeiling(40);
  t.is(a.value(), 40);
  t.throws(() => a.setCeiling(0.5), { instanceOf: RangeError });
  t.throws(() => new Aimd({ ceiling: Infinity, floor: 1 }), { instanceOf: RangeError });
});

test('KeyedLimiters forget buckets that refilled, so a million one-off keys stay bounded', (t) => {
  const keyed = new KeyedLimiters(1000, 1);
  for (let i = 0; i < 1_000_000; i++) keyed.reserve(`k${i}`, i, 1); // one key per ms, each refilled within 1 ms
  t.true(keyed.size <= 2048, String(keyed.size));
});

test('KeyedInflight caps each key on its own and forgets idle keys', async (t) => {
  const keyed = new KeyedInflight(1);
  const a = keyed.tryAcquire('a')!;
  t.truthy(a);
  t.is(keyed.tryAcquire('a'), undefined);
  const b = keyed.tryAcquire('b')!;
  t.truthy(b);
  const waiting = keyed.acquire('a');
  t.is(keyed.queued(), 1);
  a.release();
  const a2 = await waiting;
  t.is(keyed.queued(), 0);
  a2.release();
  b.release();
  t.is(keyed.size, 0);
  const stop = new AbortController();
  const held = keyed.tryAcquire('c')!;
  const aborted = keyed.acquire('c', stop.signal);
  stop.abort(new Error('stop'));
  await t.throwsAsync(aborted, { message: 'stop' });
  held.release();
  t.is(keyed.size, 0);
});

test('keyFunction: {} the key, {N} a field (tabs, else blanks), {host} from the origin or the key', (t) => {
  const job = (key: string, group?: string) => ({ seq: 0, key, payload: undefined, ...(group === undefined ? {} : { group }) });
  t.is(keyFunction('{}')(job('a b')), 'a b');
  t.is(keyFunction('user-{1}')(job('  alice  42 ')), 'user-alice');
  t.is(keyFunction('{2}/{1}')(job('x y\tz')), 'z/x y');
  t.is(keyFunction('{3}')(job('a b')), '');
  t.is(keyFunction('{host}')(job('/items/1', 'http://127.0.0.1:8080')), '127.0.0.1:8080');
  t.is(keyFunction('{host}')(job('https://api.example.test/v1?q=1')), 'api.example.test');
  t.is(keyFunction('{host}:{1}')(job('GET https://a.example.test/x')), 'a.example.test:GET');
  t.is(keyFunction('{host}')(job('no url here')), '');
});
