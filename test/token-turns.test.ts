import test from 'ava';
import { ManualClock } from '../src/core/clock.js';
import { HORIZON_MS, TokenTurns } from '../src/engine/token-turns.js';

test('jobs reserve at once until the latest reservation lies past the horizon; then they take turns in order', async (t) => {
  const clock = new ManualClock(0);
  const turns = new TokenTurns(clock);
  t.true(turns.open(0));
  turns.reserved(HORIZON_MS); // due exactly at the horizon: still open
  t.true(turns.open(0));
  turns.reserved(HORIZON_MS + 10);
  t.false(turns.open(0));
  const order: number[] = [];
  const a = turns.wait().then(() => order.push(1));
  const b = turns.wait().then(() => order.push(2));
  t.is(turns.queued, 2);
  turns.next(); // the latest reservation is still 60 ms away: nobody goes
  await Promise.resolve();
  t.deepEqual(order, []);
  clock.advance(10);
  turns.next();
  await a;
  t.deepEqual(order, [1]);
  // A newcomer queues behind a job let go but not yet reserved, however open the horizon.
  t.false(turns.open(clock.now()));
  turns.next();
  await b;
  t.deepEqual(order, [1, 2]);
  t.is(turns.queued, 0);
  // Resumed, but not yet said so (taken): still behind them.
  t.false(turns.open(clock.now()));
  turns.taken();
  t.false(turns.open(clock.now()));
  turns.taken();
  t.true(turns.open(clock.now()));
});

test('cancelAll rejects every job still waiting its turn, and the queue is open again', async (t) => {
  const clock = new ManualClock(0);
  const turns = new TokenTurns(clock);
  turns.reserved(1000);
  const settled = Promise.allSettled([turns.wait(), turns.wait()]);
  turns.cancelAll('stopped');
  t.deepEqual(await settled, [
    { status: 'rejected', reason: 'stopped' },
    { status: 'rejected', reason: 'stopped' },
  ]);
  t.is(turns.queued, 0);
  clock.advance(1000);
  t.true(turns.open(clock.now()));
});
