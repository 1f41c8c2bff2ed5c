import test from 'ava';
import fc from 'fast-check';
import { ManualClock, systemClock, type Waker } from '../src/core/clock.js';

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

test('ManualClock advanceToNext steps from one deadline to the next, past aborted sleepers, and says when none is left', (t) => {
  const clock = new ManualClock(10);
  const woke: string[] = [];
  const waker: Waker<string> = { woken: (name) => woke.push(`${name}@${clock.now()}`), aborted: (name) => woke.push(`${name} aborted`) };
  const ac = new AbortController();
  clock.wake(5, waker, 'a');
  clock.wake(2, waker, 'b', ac.signal);
  clock.wake(5, waker, 'c');
  clock.wake(7.5, waker, 'd');
  ac.abort(new Error('stop'));
  t.deepEqual(woke, ['b aborted']);
  t.true(clock.advanceToNext());
  t.deepEqual(woke, ['b aborted', 'a@15', 'c@15'], 'both sleepers due at 15, in the order they began');
  t.true(clock.advanceToNext());
  t.is(clock.now(), 17.5);
  t.false(clock.advanceToNext());
  t.is(clock.now(), 17.5, 'nothing sleeps: the clock stays');
  t.deepEqual(woke, ['b aborted', 'a@15', 'c@15', 'd@17.5']);
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

/** recorder is a waker that logs what woke it, and when. */
function recorder(clock: ManualClock, log: string[]): Waker<string> {
  return {
    woken: (name) => log.push(`${name}@${clock.now()}`),
    aborted: (name, reason) => log.push(`${name}!${String((reason as Error).message)}`),
  };
}

test('ManualClock wake calls back inside advance, in deadline order (ties in the order they began), with promise sleepers', async (t) => {
  const clock = new ManualClock(0);
  const log: string[] = [];
  const w = recorder(clock, log);
  clock.wake(20, w, 'b');
  clock.wake(5, w, 'a'); // the earliest as it begins: waits in front of the heap
  clock.wake(20, w, 'c');
  clock.wake(1, w, 'first'); // earlier still: the one in front goes back to the heap
  const p = clock.sleep(20).then(() => log.push(`promise@${clock.now()}`));
  t.is(clock.nextDeadline(), 1);
  t.is(clock.pending, 5);
  clock.advanceTo(5);
  t.deepEqual(log, ['first@5', 'a@5'], 'called back during advanceTo, before it returns');
  clock.advanceTo(25);
  t.deepEqual(log, ['first@5', 'a@5', 'b@25', 'c@25'], 'the promise sleeper resolves, its continuation runs later');
  await p;
  t.deepEqual(log.at(-1), 'promise@25');
  t.is(clock.pending, 0);
  t.is(clock.nextDeadline(), undefined);
});

test('ManualClock wake of zero or less, or under an aborted signal, calls back a microtask later, never from inside wake', async (t) => {
  const clock = new ManualClock(7);
  const log: string[] = [];
  const w = recorder(clock, log);
  const ac = new AbortController();
  ac.abort(new Error('gone'));
  clock.wake(0, w, 'zero');
  clock.wake(-3, w, 'negative');
  clock.wake(10, w, 'aborted', ac.signal);
  t.deepEqual(log, []);
  t.is(clock.pending, 0);
  await Promise.resolve();
  t.deepEqual(log, ['zero@7', 'negative@7', 'aborted!gone']);
});

test('ManualClock wake: an abort calls back every sleeper of its signal, in deadline order, and only those', (t) => {
  const clock = new ManualClock(0);
  const log: string[] = [];
  const w = recorder(clock, log);
  const stop = new AbortController();
  const kill = new AbortController();
  clock.wake(30, w, 's30', stop.signal);
  clock.wake(10, w, 'k10', kill.signal);
  clock.wake(5, w, 's5', stop.signal); // in front
  clock.wake(20, w, 's20', stop.signal);
  clock.wake(15, w, 'free');
  stop.abort(new Error('stop'));
  t.deepEqual(log, ['s5!stop', 's20!stop', 's30!stop']);
  t.is(clock.pending, 2);
  clock.wake(1, w, 'late', stop.signal); // the signal is known, and aborted: no sleeper
  t.is(clock.pending, 2);
  clock.advanceTo(100);
  t.deepEqual(log.slice(3), ['k10@100', 'free@100']);
});

test('ManualClock wakes any mix of sleepers in (deadline, start) order', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 3 })), { maxLength: 60 }), (steps) => {
      // Each step begins a sleep of `ms`, then moves the clock by `move` (0 mostly: several begin at once).
      const clock = new ManualClock(0);
      const woke: number[] = [];
      const expected: Array<{ at: number; i: number }> = [];
      const w: Waker<number> = { woken: (i) => woke.push(i), aborted: () => t.fail() };
      steps.forEach(([ms, move], i) => {
        if (ms > 0) {
          clock.wake(ms, w, i);
          expected.push({ at: clock.now() + ms, i });
        }
        if (move === 3) clock.advance(7);
      });
      clock.advance(1000);
      const late = expected.filter((e) => !woke.includes(e.i));
      t.deepEqual(late, []);
      // Whatever woke during the run woke by deadline, then start order; check the order among all.
      const order = [...expected].sort((a, b) => a.at - b.at || a.i - b.i).map((e) => e.i);
      return JSON.stringify(woke) === JSON.stringify(order);
    }),
  );
  t.pass();
});

test('systemClock wake calls back once the time has passed, or with the reason when the signal aborts', async (t) => {
  const t0 = systemClock.now();
  const woke = await new Promise<number>((resolve, reject) => systemClock.wake(15, { woken: resolve, aborted: (_, r) => reject(r) }, 42));
  t.is(woke, 42);
  t.true(systemClock.now() - t0 >= 15);
  const ac = new AbortController();
  const aborted = new Promise<unknown>((resolve) => systemClock.wake(10_000, { woken: () => resolve('woken'), aborted: (_, reason) => resolve(reason) }, 0, ac.signal));
  ac.abort('stop');
  t.is(await aborted, 'stop');
});

test('ManualClock agrees with a plain sorted list: wakes begun from inside callbacks, aborts, many at once', (t) => {
  const program = fc.record({
    first: fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 20 }),
    // What each sleeper's callback begins, by its id: more sleeps of these lengths.
    then: fc.array(fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 3 }), { minLength: 60, maxLength: 60 }),
    underSignal: fc.array(fc.boolean(), { minLength: 200, maxLength: 200 }),
    abortAt: fc.integer({ min: 0, max: 80 }),
    steps: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 30 }),
  });
  type Program = typeof program extends fc.Arbitrary<infer R> ? R : never;
  type Wake = (ms: number, id: number, signal: AbortSignal | undefined) => void;
  /** drive runs the program on a clock (wake, advance), logging "id@now" for each wake and "id!" for each abort. */
  const drive = (p: Program, make: (log: string[], react: (id: number) => void) => { wake: Wake; advance: (ms: number) => void }): string[] => {
    const log: string[] = [];
    const ac = new AbortController();
    let next = 0;
    const begin = (ms: number): void => {
      const id = next++;
      // (A sleep begun under a signal already aborted ends a microtask later: out of this synchronous log.)
      if (id < 200) clock.wake(ms, id, p.underSignal[id] && !ac.signal.aborted ? ac.signal : undefined);
    };
    const clock = make(log, (id) => p.then[id % 60]!.forEach(begin));
    p.first.forEach(begin);
    let elapsed = 0;
    for (const step of [...p.steps, 1000]) {
      if (elapsed <= p.abortAt && p.abortAt < elapsed + step) ac.abort('stop');
      clock.advance(step);
      elapsed += step;
    }
    return log;
  };
  fc.assert(
    fc.property(program, (p) => {
      const got = drive(p, (log, react) => {
        const clock = new ManualClock(0);
        const w: Waker<number> = {
          woken: (id) => {
            log.push(`${id}@${clock.now()}`);
            react(id);
          },
          aborted: (id) => log.push(`${id}!`),
        };
        return { wake: (ms, id, signal) => clock.wake(ms, w, id, signal), advance: (ms) => clock.advance(ms) };
      });
      // The reference: a list kept sorted by (deadline, start), searched from the front.
      const want = drive(p, (log, react) => {
        let now = 0;
        let seq = 0;
        const list: Array<{ at: number; seq: number; id: number; signal: AbortSignal | undefined; done: boolean }> = [];
        const watched = new Set<AbortSignal>();
        return {
          wake: (ms, id, signal) => {
            list.push({ at: now + ms, seq: seq++, id, signal, done: false });
            list.sort((a, b) => a.at - b.at || a.seq - b.seq);
            if (signal === undefined || watched.has(signal)) return;
            watched.add(signal);
            signal.addEventListener('abort', () => {
              for (const x of list) {
                if (x.done || x.signal !== signal) continue;
                x.done = true;
                log.push(`${x.id}!`);
              }
            });
          },
          advance: (ms) => {
            now += ms;
            for (;;) {
              const top = list.find((x) => !x.done);
              if (top === undefined || top.at > now) return;
              top.done = true;
              log.push(`${top.id}@${now}`);
              react(top.id);
            }
          },
        };
      });
      return JSON.stringify(got) === JSON.stringify(want);
    }),
    { numRuns: 300 },
  );
  t.pass();
});
