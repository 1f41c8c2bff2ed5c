import test from 'ava';
import { BatchedIterator, mapBatches } from '../src/sources/trace/batched.js';

/** source makes a BatchedIterator over `batches`; a batch holding an Error throws it after the items before it. */
function source(batches: Array<Array<number | Error>>): { it: BatchedIterator<number>; released: () => number } {
  let i = 0;
  let released = 0;
  const it = new BatchedIterator<number>(
    async (out) => {
      const batch = batches[i++];
      if (batch === undefined) return false;
      for (const x of batch) {
        if (x instanceof Error) throw x;
        out.push(x);
      }
      return true;
    },
    async () => {
      released++;
    },
  );
  return { it, released: () => released };
}

async function drain<T>(it: AsyncIterable<T>): Promise<Array<T | string>> {
  const out: Array<T | string> = [];
  try {
    for await (const x of it) out.push(x);
  } catch (err) {
    out.push(`error: ${(err as Error).message}`);
  }
  return out;
}

test('BatchedIterator: items in order across batches (empty ones skipped); an error comes after the items made before it', async (t) => {
  const { it, released } = source([[1, 2], [], [3, new Error('bad'), 4], [5]]);
  t.deepEqual(await drain(it), [1, 2, 3, 'error: bad']);
  t.is(released(), 1, 'released on the error');
  t.deepEqual(await it.next(), { done: true, value: undefined }, 'done after the error');
  const ok = source([[1], [2, 3]]);
  t.deepEqual(await drain(ok.it), [1, 2, 3]);
  t.is(ok.released(), 0, 'ran to its end: nothing to release');
});

test('BatchedIterator: calls not waited for are served in order; nextBatch and next mix', async (t) => {
  const { it } = source([[1, 2], [3], [4, 5, 6]]);
  const [a, b, c, batch, end] = await Promise.all([it.next(), it.next(), it.next(), it.nextBatch(), it.next()]);
  t.deepEqual([a.value, b.value, c.value, batch, end.value], [1, 2, 3, [4, 5, 6], undefined]);
  t.true(end.done);
});

test('BatchedIterator: return and throw end it and release what it reads, once', async (t) => {
  const a = source([[1, 2], [3]]);
  t.deepEqual(await a.it.next(), { done: false, value: 1 });
  t.deepEqual(await a.it.return(), { done: true, value: undefined });
  t.deepEqual(await a.it.next(), { done: true, value: undefined });
  await a.it.return();
  t.is(a.released(), 1);
  const b = source([[1]]);
  await t.throwsAsync(b.it.throw(new Error('stop')), { message: 'stop' });
  t.is(b.released(), 1);
  t.deepEqual(await b.it.next(), { done: true, value: undefined });
});

test('mapBatches: maps in order; an error from map comes after the items mapped before it, and ends the source', async (t) => {
  const { it, released } = source([[1, 2, 3], [4]]);
  const mapped = mapBatches(it, (x) => {
    if (x === 3) throw new Error('three');
    return x * 10;
  });
  t.deepEqual(await drain(mapped), [10, 20, 'error: three']);
  t.is(released(), 1);
});
