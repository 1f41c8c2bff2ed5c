/**
 * Fill appends the next items to `out` and resolves to false once there are no more. Items it appended
 * before throwing are still delivered, and the error comes after them.
 */
export type Fill<T> = (out: T[]) => Promise<boolean>;

/**
 * BatchedIterator is an async generator whose items are made a batch at a time (say, the events of one
 * chunk of a file) and handed out one at a time from memory: `next()` on a buffered item costs one settled
 * promise, where a chain of async generators would pay a promise, a queue entry and a resumption per item
 * at every stage. Callers that can take a batch at once use {@link nextBatch} and skip even that.
 *
 * It behaves as an async generator does:
 * - items come in order, and an error thrown while making a batch comes after the items made before it,
 *   exactly where a generator made one at a time would have thrown it; after that the iterator is done;
 * - calls are served one at a time, in the order made, even when a caller does not wait for the last one;
 * - `return()` and `throw()` end it and call `release` (e.g. to let go of a stream), as does an error, so a
 *   caller that stops early or fails leaves nothing open.
 */
export class BatchedIterator<T> implements AsyncGenerator<T, void, undefined> {
  readonly #fill: Fill<T>;
  readonly #release: () => Promise<unknown>;
  #items: T[] = [];
  #at = 0;
  /** finished: `fill` said there is no more, or the iterator was ended; no more filling. */
  #finished = false;
  /** failure holds an error `fill` threw, until the items made before it are taken. */
  #failure: { error: unknown } | undefined;
  /** How many calls wait on, or run in, the queue: items are served directly only when none do. */
  #queued = 0;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(fill: Fill<T>, release: () => Promise<unknown>) {
    this.#fill = fill;
    this.#release = release;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T, void>> {
    if (this.#queued === 0 && this.#at < this.#items.length) return Promise.resolve({ done: false, value: this.#items[this.#at++]! });
    return this.#enqueue(async () => ((await this.#ready()) ? { done: false, value: this.#items[this.#at++]! } : { done: true, value: undefined }));
  }

  /**
   * nextBatch resolves to the next items, as many as are ready (at least one), or undefined at the end.
   * The array is the caller's to keep.
   */
  nextBatch(): Promise<readonly T[] | undefined> {
    return this.#enqueue(async () => {
      if (!(await this.#ready())) return undefined;
      const batch = this.#at === 0 ? this.#items : this.#items.slice(this.#at);
      this.#items = [];
      this.#at = 0;
      return batch;
    });
  }

  return(): Promise<IteratorResult<T, void>> {
    return this.#enqueue(async () => {
      await this.#end();
      return { done: true, value: undefined };
    });
  }

  throw(error: unknown): Promise<IteratorResult<T, void>> {
    return this.#enqueue(async () => {
      await this.#end();
      throw error;
    });
  }

  /** #ready makes sure an item is buffered, filling as needed; false at the end. Throws a pending failure. */
  async #ready(): Promise<boolean> {
    while (this.#at >= this.#items.length) {
      const failure = this.#failure;
      if (failure !== undefined) {
        await this.#end();
        throw failure.error;
      }
      if (this.#finished) return false;
      const out: T[] = [];
      try {
        if (!(await this.#fill(out))) this.#finished = true;
      } catch (error) {
        this.#failure = { error };
      }
      this.#items = out;
      this.#at = 0;
    }
    return true;
  }

  /** #end drops what is buffered, and releases what `fill` reads from unless it ran to its end. */
  async #end(): Promise<void> {
    this.#items = [];
    this.#at = 0;
    this.#failure = undefined;
    if (this.#finished) return;
    this.#finished = true;
    await this.#release();
  }

  #enqueue<R>(call: () => Promise<R>): Promise<R> {
    this.#queued++;
    const run = async (): Promise<R> => {
      try {
        return await call();
      } finally {
        this.#queued--;
      }
    };
    const result = this.#tail.then(run);
    this.#tail = result.then(noop, noop);
    return result;
  }
}

function noop(): void {}

/** Batches is what {@link mapBatches} reads: something that hands out items a batch at a time. */
export interface Batches<T> {
  nextBatch(): Promise<readonly T[] | undefined>;
  return(): Promise<unknown>;
}

/**
 * mapBatches maps items a batch at a time, in order, into a BatchedIterator: a chain of stages that costs
 * one `await` per batch rather than per item. An error `map` throws comes after the items mapped before
 * it, as it would from a generator mapping one item at a time; ending the result ends `from`.
 */
export function mapBatches<T, U>(from: Batches<T>, map: (item: T) => U): BatchedIterator<U> {
  return new BatchedIterator<U>(
    async (out) => {
      const batch = await from.nextBatch();
      if (batch === undefined) return false;
      for (let i = 0; i < batch.length; i++) out.push(map(batch[i]!));
      return true;
    },
    () => from.return(),
  );
}

/**
 * unpackBatches is mapBatches for items that each stand for several (a batch of rows, say): `unpack`
 * appends what an item holds to `out`. An error comes after what was unpacked before it.
 */
export function unpackBatches<T, U>(from: Batches<T>, unpack: (item: T, out: U[]) => void): BatchedIterator<U> {
  return new BatchedIterator<U>(
    async (out) => {
      const batch = await from.nextBatch();
      if (batch === undefined) return false;
      for (let i = 0; i < batch.length; i++) unpack(batch[i]!, out);
      return true;
    },
    () => from.return(),
  );
}
