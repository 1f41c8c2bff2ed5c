import test from 'ava';
import { ManualClock, systemClock } from '../src/core/clock.js';

test('ManualClock wakes sleepers in deadline order when advance passes them', async (t) => {
  const clock = new ManualClock(100);
  const woke: string[] = [];
  const a = clock.sleep(30).then(() => woke.push(`a@${clock.now()}`));
  const b = clock.sleep(10).then(() => woke.push(`b@${clock.now()}`));
  const c = clock.sleep(10).then(() => woke.push(`c@${clock.now()}`));
  t.is(clock.nextDeadline(), 110);
  clock.advance(9);
  await Promise.resolve();
  t.deepEqual(woke, []);
  clock.advanceTo(110);
  await Promise.all([b, c]);
  t.deepEqual(woke, ['b@110', 'c@110']);
  clock.advance(100);
  await a;
  t.deepEqual(woke, ['b@110', 'c@110', 'a@210']);
  t.is(clock.nextDeadline(), undefined);
});

test('ManualClock sleep rejects when its signal aborts and is forgotten', async (t) => {
  const clock = new ManualClock();
  const ac = new AbortController();
  const p = clock.sleep(50, ac.signal);
  ac.abort(new Error('stop'));
  await t.throwsAsync(p, { message: 'stop' });
  t.is(clock.nextDeadline(), undefined);
  await t.throwsAsync(clock.sleep(5, ac.signal), { message: 'stop' });
});

test('ManualClock sleep of zero or less resolves at once; advance rejects negative steps', async (t) => {
  const clock = new ManualClock();
  await clock.sleep(0);
  await clock.sleep(-5);
  t.throws(() => clock.advance(-1), { instanceOf: RangeError });
  clock.advanceTo(-10);
  t.is(clock.now(), 0);
});

test('systemClock sleeps at least the requested time', async (t) => {
  const t0 = systemClock.now();
  await systemClock.sleep(20);
  t.true(systemClock.now() - t0 >= 20);
});
