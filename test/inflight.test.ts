import test from 'ava';
import fc from 'fast-check';
import { InflightLimiter, type Slot, type SlotWaker } from '../src/core/inflight.js';

/** settle lets promise continuations (grants, rejections) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

test('constructor rejects limits that are not integers >= 0, naming the option', (t) => {
  for (const bad of [-1, 1.5, Number.NaN, -Infinity]) {
    t.throws(() => new InflightLimiter({ limit: bad }), { instanceOf: RangeError, message: /limit/ });
    t.throws(() => new InflightLimiter({ limit: 1, mutatingLimit: bad }), {
      instanceOf: RangeError,
      message: /mutatingLimit/,
    });
  }
  const lim = new InflightLimiter({ limit: 1 });
  t.throws(() => lim.setLimit(-2), { instanceOf: RangeError, message: /limit/ });
  t.throws(() => lim.setMutatingLimit(0.5), { instanceOf: RangeError, message: /mutatingLimit/ });
  t.throws(() => lim.tryAcquire('write' as never), { instanceOf: TypeError });
});

test('limit 0 and Infinity mean unlimited', (t) => {
  for (const limit of [0, Infinity]) {
    const lim = new InflightLimiter({ limit });
    const slots = Array.from({ length: 1000 }, () => lim.tryAcquire());
    t.true(slots.every((s) => s !== undefined));
    t.is(lim.inFlight(), 1000);
    t.is(lim.peak(), 1000);
  }
});

test('tryAcquire fails fast when the pool is full and succeeds again after a release', (t) => {
  const lim = new InflightLimiter({ limit: 2 });
  const a = lim.tryAcquire();
  const b = lim.tryAcquire();
  t.truthy(a);
  t.truthy(b);
  t.is(lim.tryAcquire(), undefined);
  t.is(lim.inFlight(), 2);
  a!.release();
  t.is(lim.inFlight(), 1);
  t.truthy(lim.tryAcquire());
});

test('release is idempotent', (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  const a = lim.tryAcquire()!;
  a.release();
  const b = lim.tryAcquire()!;
  a.release(); // must not free b's slot
  t.is(lim.inFlight(), 1);
  t.is(lim.tryAcquire(), undefined);
  b.release();
  b.release();
  t.is(lim.inFlight(), 0);
});

test('acquire queues FIFO and a released slot goes to the head waiter, not to a tryAcquire', async (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  const first = lim.tryAcquire()!;
  const order: number[] = [];
  const waiters = [1, 2, 3].map((i) =>
    lim.acquire().then((s) => {
      order.push(i);
      return s;
    }),
  );
  t.is(lim.queued(), 3);
  first.release();
  // The slot was handed over synchronously: nobody can barge in before the waiter's continuation runs.
  t.is(lim.tryAcquire(), undefined);
  t.is(lim.inFlight(), 1);
  t.is(lim.queued(), 2);
  const s1 = await waiters[0]!;
  t.deepEqual(order, [1]);
  s1.release();
  const s2 = await waiters[1]!;
  s2.release();
  const s3 = await waiters[2]!;
  t.deepEqual(order, [1, 2, 3]);
  t.is(lim.tryAcquire(), undefined);
  s3.release();
  t.is(lim.inFlight(), 0);
  t.is(lim.queued(), 0);
});

test('shared pool: kinds share the cap, are counted apart, and queue in one FIFO', async (t) => {
  const lim = new InflightLimiter({ limit: 2 });
  const r = lim.tryAcquire('readOnly')!;
  const m = lim.tryAcquire('mutating')!;
  t.is(lim.tryAcquire('readOnly'), undefined);
  t.is(lim.tryAcquire('mutating'), undefined);
  t.is(lim.inFlight('readOnly'), 1);
  t.is(lim.inFlight('mutating'), 1);
  t.is(lim.inFlight(), 2);
  const order: string[] = [];
  const w1 = lim.acquire('mutating').then((s) => (order.push('m1'), s));
  const w2 = lim.acquire('readOnly').then((s) => (order.push('r2'), s));
  const w3 = lim.acquire('mutating').then((s) => (order.push('m3'), s));
  t.is(lim.queued('mutating'), 2);
  t.is(lim.queued('readOnly'), 1);
  t.is(lim.queued(), 3);
  r.release(); // a read-only slot comes back and goes to the oldest waiter, a mutating one
  t.is(lim.inFlight('mutating'), 2);
  t.is(lim.inFlight('readOnly'), 0);
  (await w1).release();
  (await w2).release();
  m.release();
  (await w3).release();
  t.deepEqual(order, ['m1', 'r2', 'm3']);
  t.is(lim.inFlight(), 0);
});

test('split pools: read-only and mutating work have separate caps and queues', async (t) => {
  const lim = new InflightLimiter({ limit: 2, mutatingLimit: 1 });
  const r1 = lim.tryAcquire('readOnly')!;
  const m1 = lim.tryAcquire('mutating')!;
  t.is(lim.tryAcquire('mutating'), undefined);
  const r2 = lim.tryAcquire()!; // no kind = read-only
  t.is(lim.inFlight('readOnly'), 2);
  t.is(lim.tryAcquire('readOnly'), undefined);
  const mw = lim.acquire('mutating');
  const rw = lim.acquire('readOnly');
  // A read-only release serves the read-only queue only.
  r1.release();
  t.is(lim.inFlight('readOnly'), 2);
  t.is(lim.queued('mutating'), 1);
  t.is(lim.queued('readOnly'), 0);
  m1.release();
  t.is(lim.queued('mutating'), 0);
  (await mw).release();
  (await rw).release();
  r2.release();
  t.is(lim.inFlight(), 0);
});

test('a mutating limit of 0 leaves that pool unlimited', (t) => {
  const lim = new InflightLimiter({ limit: 1, mutatingLimit: 0 });
  for (let i = 0; i < 50; i++) t.truthy(lim.tryAcquire('mutating'));
  t.truthy(lim.tryAcquire('readOnly'));
  t.is(lim.tryAcquire('readOnly'), undefined);
});

test('peak keeps the watermark per kind and in total; resetPeak returns it and restarts from the current counts', (t) => {
  const lim = new InflightLimiter({ limit: 10 });
  const r = [lim.tryAcquire('readOnly')!, lim.tryAcquire('readOnly')!, lim.tryAcquire('readOnly')!];
  const m = [lim.tryAcquire('mutating')!, lim.tryAcquire('mutating')!];
  r[0]!.release();
  r[1]!.release();
  m[0]!.release();
  t.is(lim.peak('readOnly'), 3);
  t.is(lim.peak('mutating'), 2);
  t.is(lim.peak(), 5);
  t.deepEqual(lim.resetPeak(), { readOnly: 3, mutating: 2, total: 5 });
  t.is(lim.peak('readOnly'), 1);
  t.is(lim.peak('mutating'), 1);
  t.is(lim.peak(), 2);
  r[2]!.release();
  m[1]!.release();
  t.deepEqual(lim.resetPeak(), { readOnly: 1, mutating: 1, total: 2 });
  t.deepEqual(lim.resetPeak(), { readOnly: 0, mutating: 0, total: 0 });
});

test('abort while queued removes the waiter, rejects with the reason and leaks nothing', async (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  const held = lim.tryAcquire()!;
  const ac = new AbortController();
  const aborted = lim.acquire(undefined, { signal: ac.signal });
  const later = lim.acquire();
  t.is(lim.queued(), 2);
  const reason = new Error('gave up');
  ac.abort(reason);
  await t.throwsAsync(aborted, { is: reason });
  t.is(lim.queued(), 1);
  held.release();
  const s = await later;
  t.is(lim.inFlight(), 1);
  s.release();
  t.is(lim.inFlight(), 0);
  t.truthy(lim.tryAcquire());
});

test('an already aborted signal rejects at once and takes no slot, even when one is free', async (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  const ac = new AbortController();
  ac.abort();
  // The reason is a DOMException, which ava's throwsAsync does not accept as an error.
  const err: unknown = await lim.acquire('readOnly', { signal: ac.signal }).then(
    () => t.fail('acquire resolved'),
    (e: unknown) => e,
  );
  t.is(err, ac.signal.reason);
  t.is((err as Error).name, 'AbortError');
  t.is(lim.inFlight(), 0);
  t.is(lim.queued(), 0);
});

test('abort right after the hand-off keeps the slot with the waiter', async (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  const held = lim.tryAcquire()!;
  const ac = new AbortController();
  const p = lim.acquire(undefined, { signal: ac.signal });
  held.release(); // granted here, synchronously
  ac.abort(); // too late: the grant won
  const s = await p;
  t.is(lim.inFlight(), 1);
  s.release();
  t.is(lim.inFlight(), 0);
});

test('run releases after success, after a throw, and after a synchronous throw', async (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  t.is(await lim.run(async () => 42), 42);
  t.is(lim.inFlight(), 0);
  await t.throwsAsync(
    lim.run(async () => {
      throw new Error('boom');
    }),
    { message: 'boom' },
  );
  t.is(lim.inFlight(), 0);
  await t.throwsAsync(
    lim.run(() => {
      throw new Error('sync boom');
    }),
    { message: 'sync boom' },
  );
  t.is(lim.inFlight(), 0);
  t.is(
    await lim.run((slot) => {
      slot.release(); // an early release inside fn is fine: run's release is then a no-op
      return 'early';
    }, 'mutating'),
    'early',
  );
  t.is(lim.inFlight(), 0);
});

test('run queues, and does not call fn when the signal aborts during the hand-off', async (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  const held = lim.tryAcquire()!;
  const ac = new AbortController();
  let called = false;
  const p = lim.run(
    () => {
      called = true;
    },
    'readOnly',
    { signal: ac.signal },
  );
  held.release();
  ac.abort(new Error('stop'));
  await t.throwsAsync(p, { message: 'stop' });
  t.false(called);
  t.is(lim.inFlight(), 0);
});

test('setLimit raising the limit admits queued waiters at once; lowering revokes nothing', async (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  const held = lim.tryAcquire()!;
  const waiters = [lim.acquire(), lim.acquire(), lim.acquire()];
  lim.setLimit(3);
  t.is(lim.inFlight(), 3);
  t.is(lim.queued(), 1);
  lim.setLimit(1);
  t.is(lim.inFlight(), 3);
  const [a, b] = await Promise.all([waiters[0]!, waiters[1]!]);
  a.release();
  b.release();
  t.is(lim.queued(), 1); // 1 in flight, still at the limit
  held.release();
  const c = await waiters[2]!;
  t.is(lim.inFlight(), 1);
  c.release();
  lim.setLimit(0); // unlimited
  t.truthy(lim.tryAcquire());
  t.truthy(lim.tryAcquire());
});

test('setMutatingLimit splits and merges the pools, keeping held slots and queue order', async (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  const r = lim.tryAcquire('readOnly')!;
  const order: string[] = [];
  const w1 = lim.acquire('readOnly').then((s) => (order.push('r1'), s));
  const w2 = lim.acquire('mutating').then((s) => (order.push('m2'), s));
  lim.setMutatingLimit(1); // mutating work gets its own free pool: m2 goes at once
  t.is(lim.inFlight('mutating'), 1);
  t.is(lim.queued('readOnly'), 1);
  const m = await w2;
  const w3 = lim.acquire('mutating').then((s) => (order.push('m3'), s));
  const w4 = lim.acquire('readOnly').then((s) => (order.push('r4'), s));
  lim.setMutatingLimit(undefined); // back to one pool of 1 with 3 held: FIFO across kinds is r1, m3, r4
  t.is(lim.inFlight(), 2);
  r.release();
  m.release();
  (await w1).release();
  (await w3).release();
  (await w4).release();
  t.deepEqual(order, ['m2', 'r1', 'm3', 'r4']);
  t.is(lim.inFlight(), 0);
  t.is(lim.queued(), 0);
});

test('a long queue drains in order without quadratic cost', async (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  const held = lim.tryAcquire()!;
  const n = 50_000;
  const got: number[] = [];
  const all = Array.from({ length: n }, (_, i) =>
    lim.acquire().then((s) => {
      got.push(i);
      s.release();
    }),
  );
  held.release();
  await Promise.all(all);
  t.is(got.length, n);
  t.true(got.every((v, i) => v === i));
  t.is(lim.inFlight(), 0);
});

type Kind = 'readOnly' | 'mutating';

type Op =
  | { op: 'try'; kind: Kind }
  | { op: 'acquire'; kind: Kind; abortable: boolean }
  | { op: 'release'; pick: number; twice: boolean }
  | { op: 'abort'; pick: number }
  | { op: 'setLimit'; n: number }
  | { op: 'setMutatingLimit'; n: number | undefined }
  | { op: 'tick' };

const kindArb = fc.constantFrom<Kind>('readOnly', 'mutating');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('try' as const), kind: kindArb }) },
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant('acquire' as const), kind: kindArb, abortable: fc.boolean() }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat(), twice: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('abort' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('setLimit' as const), n: fc.integer({ min: 0, max: 4 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('setMutatingLimit' as const),
      n: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const) }) },
);

/** Model is the obvious, slow specification: one arrival-ordered list of waiters, pools as filters on it. */
class Model {
  inFlight: Record<Kind, number> = { readOnly: 0, mutating: 0 };
  queue: { id: number; kind: Kind }[] = [];
  granted = new Set<number>();
  abortedWhileQueued = new Set<number>();

  constructor(
    public limit: number,
    public mutatingLimit: number | undefined,
  ) {}

  get split(): boolean {
    return this.mutatingLimit !== undefined;
  }

  cap(kind: Kind): number {
    const n = this.split && kind === 'mutating' ? this.mutatingLimit! : this.limit;
    return n === 0 ? Infinity : n;
  }

  held(kind: Kind): number {
    return this.split ? this.inFlight[kind] : this.inFlight.readOnly + this.inFlight.mutating;
  }

  room(kind: Kind): boolean {
    return this.held(kind) < this.cap(kind);
  }

  samePool(a: Kind, b: Kind): boolean {
    return !this.split || a === b;
  }

  canTake(kind: Kind): boolean {
    return this.room(kind) && !this.queue.some((w) => this.samePool(w.kind, kind));
  }

  take(kind: Kind): void {
    this.inFlight[kind]++;
  }

  pump(): void {
    for (;;) {
      const i = this.queue.findIndex(
        (w, j) => this.room(w.kind) && !this.queue.slice(0, j).some((v) => this.samePool(v.kind, w.kind)),
      );
      if (i < 0) return;
      const [w] = this.queue.splice(i, 1);
      this.take(w!.kind);
      this.granted.add(w!.id);
    }
  }

  queued(kind: Kind): number {
    return this.queue.filter((w) => w.kind === kind).length;
  }
}

test('property: matches a simple model; never grows past a cap; every slot comes back', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 4 }),
      fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
      fc.array(opArb, { maxLength: 100 }),
      async (limit, mutatingLimit, ops) => {
        const lim = new InflightLimiter({ limit, mutatingLimit });
        const model = new Model(limit, mutatingLimit);
        /** Slots in hand: from tryAcquire at once, from acquire once the promise resolved. */
        const held: { slot: Slot; kind: Kind }[] = [];
        const controllers = new Map<number, AbortController>();
        const resolved = new Set<number>();
        const rejected = new Set<number>();
        let nextId = 0;

        const compare = (where: string): void => {
          for (const kind of ['readOnly', 'mutating'] as const) {
            if (lim.inFlight(kind) !== model.inFlight[kind] || lim.queued(kind) !== model.queued(kind)) {
              throw new Error(
                `${where}: ${kind} in flight ${lim.inFlight(kind)} / queued ${lim.queued(kind)}, ` +
                  `model ${model.inFlight[kind]} / ${model.queued(kind)}`,
              );
            }
          }
        };

        for (const [step, o] of ops.entries()) {
          const before = { ...model.inFlight };
          switch (o.op) {
            case 'try': {
              const s = lim.tryAcquire(o.kind);
              const expected = model.canTake(o.kind);
              if ((s !== undefined) !== expected) throw new Error(`step ${step}: tryAcquire ${s !== undefined}`);
              if (s !== undefined) {
                model.take(o.kind);
                held.push({ slot: s, kind: o.kind });
              }
              break;
            }
            case 'acquire': {
              const id = nextId++;
              const ac = new AbortController();
              if (o.abortable) controllers.set(id, ac);
              if (model.canTake(o.kind)) {
                model.take(o.kind);
                model.granted.add(id);
              } else {
                model.queue.push({ id, kind: o.kind });
              }
              lim.acquire(o.kind, o.abortable ? { signal: ac.signal } : undefined).then(
                (s) => {
                  resolved.add(id);
                  held.push({ slot: s, kind: o.kind });
                },
                () => rejected.add(id),
              );
              break;
            }
            case 'release': {
              if (held.length === 0) break;
              const [h] = held.splice(o.pick % held.length, 1);
              h!.slot.release();
              if (o.twice) h!.slot.release();
              model.inFlight[h!.kind]--;
              model.pump();
              break;
            }
            case 'abort': {
              const ids = [...controllers.keys()];
              if (ids.length === 0) break;
              const id = ids[o.pick % ids.length]!;
              controllers.get(id)!.abort();
              controllers.delete(id);
              const i = model.queue.findIndex((w) => w.id === id);
              if (i >= 0) {
                model.queue.splice(i, 1);
                model.abortedWhileQueued.add(id);
              }
              break;
            }
            case 'setLimit':
              lim.setLimit(o.n);
              model.limit = o.n;
              model.pump();
              break;
            case 'setMutatingLimit':
              lim.setMutatingLimit(o.n);
              model.mutatingLimit = o.n;
              model.pump();
              break;
            case 'tick':
              await settle();
              break;
          }
          compare(`step ${step} (${o.op})`);
          for (const kind of ['readOnly', 'mutating'] as const) {
            const now = model.held(kind);
            // Lowering a limit may leave a pool above it; what must never happen is a grant past the cap.
            if (model.inFlight[kind] > before[kind] && now > model.cap(kind)) {
              throw new Error(`step ${step}: ${kind} over its cap`);
            }
          }
        }

        // Drain: give every slot back until nothing waits and every grant has arrived.
        await settle();
        for (let guard = 0; guard < 1000 && (held.length > 0 || model.queue.length > 0); guard++) {
          while (held.length > 0) {
            const h = held.pop()!;
            h.slot.release();
            model.inFlight[h.kind]--;
            model.pump();
            compare('drain');
          }
          await settle();
        }
        if (model.queue.length > 0 || held.length > 0) throw new Error('drain did not finish');
        if (lim.inFlight() !== 0 || lim.queued() !== 0) {
          throw new Error(`leak: ${lim.inFlight()} in flight, ${lim.queued()} queued`);
        }
        const same = (a: Set<number>, b: Set<number>): boolean => a.size === b.size && [...a].every((x) => b.has(x));
        if (!same(resolved, model.granted)) throw new Error(`granted ${[...resolved]} vs model ${[...model.granted]}`);
        if (!same(rejected, model.abortedWhileQueued)) throw new Error(`rejected ${[...rejected]}`);
        // Full capacity is back: exactly `cap` read-only slots can be taken.
        const cap = model.cap('readOnly');
        if (cap !== Infinity) {
          for (let i = 0; i < cap; i++) if (lim.tryAcquire('readOnly') === undefined) throw new Error('capacity lost');
          if (lim.tryAcquire('readOnly') !== undefined) throw new Error('capacity gained');
        }
      },
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

test('enqueue calls back instead of resolving: slots handed over in order, an abort leaves the queue', (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  const held = lim.tryAcquire()!;
  const log: string[] = [];
  const slots = new Map<string, Slot>();
  const waker: SlotWaker<string> = {
    granted: (name, slot) => {
      log.push(`granted ${name}`);
      slots.set(name, slot);
    },
    aborted: (name, reason) => log.push(`aborted ${name}: ${String(reason)}`),
  };
  const stop = new AbortController();
  lim.enqueue(undefined, stop.signal, waker, 'a');
  lim.enqueue(undefined, stop.signal, waker, 'b');
  lim.enqueue(undefined, undefined, waker, 'c');
  t.is(lim.queued(), 3);
  t.is(lim.tryAcquire(), undefined, 'no barging past the queue');
  held.release();
  t.deepEqual(log, ['granted a'], 'handed over inside the release');
  stop.abort('stop');
  t.deepEqual(log, ['granted a', 'aborted b: stop']);
  t.is(lim.queued(), 1);
  slots.get('a')!.release();
  t.deepEqual(log, ['granted a', 'aborted b: stop', 'granted c']);
  t.is(lim.inFlight(), 1);
  slots.get('c')!.release();
  t.is(lim.inFlight(), 0);
});

test('enqueue under a signal already aborted calls back aborted a microtask later, and queues nothing', async (t) => {
  const lim = new InflightLimiter({ limit: 1 });
  const held = lim.tryAcquire()!;
  const stop = new AbortController();
  stop.abort('stop');
  const log: string[] = [];
  lim.enqueue(undefined, stop.signal, { granted: () => log.push('granted'), aborted: (_: undefined, reason) => log.push(`aborted: ${String(reason)}`) }, undefined);
  t.deepEqual(log, []);
  t.is(lim.queued(), 0);
  await settle();
  t.deepEqual(log, ['aborted: stop']);
  held.release();
  t.deepEqual(log, ['aborted: stop']);
});
