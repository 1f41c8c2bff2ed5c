import test from 'ava';
import { settleHeap } from '../src/cli/main.js';

test('settleHeap collects the whole heap (a process that did any work: here, from the first microsecond on): an object only a WeakRef holds is gone after it', async (t) => {
  const make = (): WeakRef<object> => new WeakRef({ payload: new Array(1000).fill(7) });
  const ref = make();
  // A WeakRef's target lives at least until the end of the job that made or read it.
  await new Promise((resolve) => setImmediate(resolve));
  settleHeap(0);
  t.is(ref.deref(), undefined);
});
