import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { type Clock, ManualClock, systemClock, type Waker } from '../src/core/clock.js';
import { Inf, Limiter, type Reservation, every } from '../src/core/limiter.js';

// Fixed instants, as in rate_test.go: t(k) is k × 100 ms after an epoch-sized origin, so the tables also
// show that millisecond timestamps of today's magnitude keep the arithmetic exact.
const D = 100;
const T0 = 1_700_000_000_000;
const at = (k: number): number => T0 + k * D;
const t0 = at(0);
const t1 = at(1);
const t2 = at(2);
const t3 = at(3);
const t4 = at(4);
const t5 = at(5);
const t9 = at(9);

/** Go's InfDuration in ms: any delay at least this long is "infinite". */
const INF_DURATION_MS = 9.2e12;

/** PinnedClock is a clock the tables set to each step's time (it may go backwards); sleeps end at once. */
class PinnedClock implements Clock {
  nowMs = 0;
  lastSleepMs = 0;
  now(): number {
    return this.nowMs;
  }
  sleep(ms: number): Promise<void> {
    return this.after(ms, undefined);
  }
  after<T>(ms: number, value: T): Promise<T> {
    this.lastSleepMs = ms;
    return Promise.resolve(value);
  }
  wake<A>(ms: number, waker: Waker<A>, arg: A): void {
    this.lastSleepMs = ms;
    void Promise.resolve(arg).then((a) => waker.woken(a));
  }
}

/** A step of a table: one call at a fixed instant and what it must return. */
type Step =
  /** allowN(t, n) must return ok; `tokens`, if given, is tokensAt(t) just before. */
  | { op: 'allow'; t: number; n: number; ok: boolean; tokens?: number | undefined }
  /** reserveN(t, n): ok, and if ok the time to act; `as` names the reservation for a later cancel. */
  | { op: 'reserve'; t: number; n: number; ok: boolean; act: number; as?: string | undefined }
  /** Go's reserveN with a maximum wait, through waitN with a deadline on a clock pinned at t. */
  | { op: 'reserveMax'; t: number; n: number; maxWaitMs: number; ok: boolean; act: number }
  | { op: 'cancel'; t: number; name: string }
  | { op: 'setLimit'; t: number; limit: number }
  | { op: 'setBurst'; t: number; burst: number }
  | { op: 'tokens'; t: number; tokens: number };

const allow = (t: number, n: number, ok: boolean, tokens?: number): Step => ({ op: 'allow', t, n, ok, tokens });
/** reserve(t, n, act) expects a grant acting at `act`; reserve(t, n, false) expects a refusal. */
const reserve = (t: number, n: number, act: number | false, as?: string): Step =>
  act === false ? { op: 'reserve', t, n, ok: false, act: Infinity, as } : { op: 'reserve', t, n, ok: true, act, as };
const reserveMax = (t: number, n: number, maxWaitMs: number, act: number | false): Step =>
  act === false
    ? { op: 'reserveMax', t, n, maxWaitMs, ok: false, act: Infinity }
    : { op: 'reserveMax', t, n, maxWaitMs, ok: true, act };
const cancel = (name: string, t: number): Step => ({ op: 'cancel', t, name });
const setLimit = (t: number, limit: number): Step => ({ op: 'setLimit', t, limit });
const setBurst = (t: number, burst: number): Step => ({ op: 'setBurst', t, burst });
const tokens = (t: number, n: number): Step => ({ op: 'tokens', t, tokens: n });

const show = (ms: number): string => (Number.isFinite(ms) ? `t0${ms - T0 >= 0 ? '+' : ''}${ms - T0}` : String(ms));
/** Times to act are compared to 1 µs: exact up to float residue, far finer than the 100 ms steps. */
const sameTime = (a: number, b: number): boolean => a === b || Math.abs(a - b) <= 1e-3;

/**
 * play runs a table against a limiter (made with `pinned` as its clock when the table uses reserveMax)
 * and names the first failing step: its index, the call, what it returned and what was wanted.
 */
async function play(t: ExecutionContext, lim: Limiter, steps: Step[], pinned?: PinnedClock): Promise<void> {
  const named = new Map<string, Reservation>();
  for (const [i, s] of steps.entries()) {
    const where = `step ${i}`;
    switch (s.op) {
      case 'allow': {
        if (s.tokens !== undefined) {
          const got = lim.tokensAt(s.t);
          if (got !== s.tokens) return void t.fail(`${where}: tokensAt(${show(s.t)}) = ${got}, want ${s.tokens}`);
        }
        const ok = lim.allowN(s.t, s.n);
        if (ok !== s.ok) return void t.fail(`${where}: allowN(${show(s.t)}, ${s.n}) = ${ok}, want ${s.ok}`);
        break;
      }
      case 'reserve': {
        const r = lim.reserveN(s.t, s.n);
        if (r.ok !== s.ok || (r.ok && !sameTime(r.timeToActMs, s.act))) {
          return void t.fail(
            `${where}: reserveN(${show(s.t)}, ${s.n}) = (${r.ok}, act ${show(r.timeToActMs)}), ` +
              `want (${s.ok}, act ${show(s.act)})`,
          );
        }
        if (s.as !== undefined) named.set(s.as, r);
        break;
      }
      case 'reserveMax': {
        if (pinned === undefined) throw new Error('reserveMax steps need a PinnedClock');
        pinned.nowMs = s.t;
        pinned.lastSleepMs = 0;
        const ok = await lim.waitN(s.n, { deadline: s.t + s.maxWaitMs }).then(
          () => true,
          () => false,
        );
        const act = s.t + pinned.lastSleepMs;
        if (ok !== s.ok || (ok && !sameTime(act, s.act))) {
          return void t.fail(
            `${where}: reserveN(${show(s.t)}, ${s.n}, max ${s.maxWaitMs} ms) = (${ok}, act ${show(act)}), ` +
              `want (${s.ok}, act ${show(s.act)})`,
          );
        }
        break;
      }
      case 'cancel': {
        const r = named.get(s.name);
        if (r === undefined) throw new Error(`${where}: no reservation named ${s.name}`);
        r.cancelAt(s.t);
        break;
      }
      case 'setLimit':
        lim.setLimitAt(s.t, s.limit);
        break;
      case 'setBurst':
        lim.setBurstAt(s.t, s.burst);
        break;
      case 'tokens': {
        const got = lim.tokensAt(s.t);
        if (!(Math.abs(got - s.tokens) <= 1e-9)) {
          return void t.fail(`${where}: tokensAt(${show(s.t)}) = ${got}, want ${s.tokens}`);
        }
        break;
      }
    }
  }
  t.pass();
}

/** flush lets every pending promise continuation run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** settled reports whether a promise has settled, without waiting for it. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await flush();
  return done;
}

// ---------------------------------------------------------------------------------------------------
// every, Inf

test('every converts an interval in ms to events per second; <= 0 is Inf', (t) => {
  t.is(Inf, Infinity);
  const cases: [number, number][] = [
    [0, Inf],
    [-1, Inf],
    [1e-6, 1e9],
    [1e-3, 1e6],
    [1, 1e3],
    [10, 100],
    [100, 10],
    [1000, 1],
    [2000, 0.5],
    [2500, 0.4],
    [4000, 0.25],
    [10_000, 0.1],
    [9_223_372_036_854.775807, 1e9 / 9_223_372_036_854_775_807],
  ];
  for (const [intervalMs, want] of cases) {
    const got = every(intervalMs);
    t.true(got === want || Math.abs(got / want - 1) < 1e-9, `every(${intervalMs}) = ${got}, want ${want}`);
  }
  t.throws(() => every(Number.NaN), { instanceOf: RangeError, message: /intervalMs/ });
});

// ---------------------------------------------------------------------------------------------------
// allow tables (TestLimiterBurst1, Burst3, JumpBackwards)

test('burst 1 at 10/s: one event per 100 ms, n > burst always refused', async (t) => {
  await play(t, new Limiter(10, 1), [
    allow(t0, 1, true, 1),
    allow(t0, 1, false, 0),
    allow(t0, 1, false, 0),
    allow(t1, 1, true, 1),
    allow(t1, 1, false, 0),
    allow(t1, 1, false, 0),
    allow(t2, 2, false, 1), // burst is 1, so n = 2 never fits
    allow(t2, 1, true, 1),
    allow(t2, 1, false, 0),
  ]);
});

test('burst 3 at 10/s: tokens refill to the cap, n = 0 is free', async (t) => {
  await play(t, new Limiter(10, 3), [
    allow(t0, 2, true, 3),
    allow(t0, 2, false, 1),
    allow(t0, 1, true, 1),
    allow(t0, 1, false, 0),
    allow(t1, 4, false, 1),
    allow(t2, 1, true, 2),
    allow(t3, 1, true, 2),
    allow(t4, 1, true, 2),
    allow(t4, 1, true, 1),
    allow(t4, 1, false, 0),
    allow(t4, 1, false, 0),
    allow(t9, 3, true, 3),
    allow(t9, 0, true, 0),
  ]);
});

test('time jumping backwards earns nothing, then the interval refills again', async (t) => {
  await play(t, new Limiter(10, 3), [
    allow(t1, 1, true, 3), // start at t1
    allow(t0, 1, true, 2), // back to t0: two tokens remain
    allow(t0, 1, true, 1),
    allow(t0, 1, false, 0),
    allow(t0, 1, false, 0),
    allow(t1, 1, true, 1), // t0..t1 earns a token
    allow(t1, 1, false, 0),
    allow(t1, 1, false, 0),
    allow(t2, 1, true, 1),
    allow(t2, 1, false, 0),
    allow(t2, 1, false, 0),
  ]);
});

test('a fresh limiter is full whatever its rate (golang/go#34861)', (t) => {
  t.true(new Limiter(0.7692307692307693, 1, { clock: new ManualClock(T0) }).allow());
  t.true(new Limiter(0.7692307692307693, 1).allowN(0, 1));
  t.is(new Limiter(3, 5).tokensAt(-1e12), 5);
});

test('simultaneous requests at one instant: exactly burst are admitted', (t) => {
  const lim = new Limiter(1, 5, { clock: new ManualClock(T0) });
  let ok = 0;
  for (let i = 0; i < 15; i++) if (lim.allow()) ok++;
  t.is(ok, 5);
});

test('long-running QPS: 500 offers/s for 5 s at 100/s, burst 100, admits burst + rate × elapsed', (t) => {
  const lim = new Limiter(100, 100);
  let ok = 0;
  let now = T0;
  const end = T0 + 5000;
  for (; now < end; now += 2) if (lim.allowN(now, 1)) ok++;
  const ideal = 100 + (100 * (now - T0)) / 1000;
  t.true(ok <= ideal + 1, `admitted ${ok}, ideal ${ideal}`);
  t.true(ok >= Math.trunc(0.999 * ideal), `admitted ${ok}, ideal ${ideal}`);
});

// ---------------------------------------------------------------------------------------------------
// reserve tables (TestSimpleReserve ... TestReserveMax)

test('reserve: a grant puts the bucket in debt and later grants queue behind it', async (t) => {
  await play(t, new Limiter(10, 2), [reserve(t0, 2, t0), reserve(t0, 2, t2), reserve(t3, 2, t4)]);
});

test('reserve and allow mixed: n > burst refused, debt refuses allow', async (t) => {
  await play(t, new Limiter(10, 2), [
    reserve(t0, 3, false), // n > burst
    reserve(t0, 2, t0),
    allow(t1, 2, false), // one token only
    reserve(t1, 2, t2),
    allow(t1, 1, false), // in debt
    allow(t3, 1, true),
  ]);
});

test('reserve with a maximum wait: a grant too far out is refused', async (t) => {
  const clock = new PinnedClock();
  await play(
    t,
    new Limiter(10, 2, { clock }),
    [
      reserveMax(t0, 2, D, t0),
      reserveMax(t0, 1, D, t1), // close enough
      reserveMax(t0, 1, D, false), // acting at t2 is too far out
    ],
    clock,
  );
});

test('reserve with time jumping backwards: refusals leave the state untouched', async (t) => {
  const clock = new PinnedClock();
  await play(
    t,
    new Limiter(10, 2, { clock }),
    [
      reserve(t1, 2, t1), // start at t1
      reserve(t0, 1, t1), // violates limit and burst, as documented
      reserve(t2, 2, t3),
      reserve(t0, 3, false), // n > burst: refused, nothing changes
      reserve(t2, 1, t4),
      reserveMax(t0, 2, D, false), // wait too long: refused, nothing changes (golang/go#52584)
      reserve(t2, 1, t5),
    ],
    clock,
  );
});

test('reserve after SetLimitAt: earned tokens kept, refill at the new rate', async (t) => {
  await play(t, new Limiter(5, 2), [
    reserve(t0, 2, t0),
    reserve(t0, 2, t4),
    setLimit(t2, 10),
    tokens(t2, -1),
    reserve(t2, 1, t4), // violates limit and burst
  ]);
});

test('reserve after SetBurstAt: earned tokens kept, a larger burst allows a larger n', async (t) => {
  await play(t, new Limiter(5, 2), [
    reserve(t0, 2, t0),
    reserve(t0, 2, t4),
    setBurst(t3, 4),
    tokens(t3, -0.5),
    reserve(t0, 4, t9), // violates limit and burst
  ]);
});

test('setLimitAt and setBurstAt keep tokens earned so far, at the old rate and cap', async (t) => {
  await play(t, new Limiter(10, 10), [
    allow(t0, 10, true, 10),
    setLimit(t5, 1), // 5 tokens earned at 10/s
    tokens(t5, 5),
    tokens(t9, 5.4), // then 1/s
    setBurst(t9, 20), // more room, not more tokens
    tokens(t9, 5.4),
    setBurst(t9, 3), // a smaller cap shows at once
    tokens(t9, 3),
    tokens(at(100), 3),
  ]);
});

// ---------------------------------------------------------------------------------------------------
// cancel tables (TestCancel*, TestReserveJumpBackCancel, TestReserveSetLimitCancel, semantics §1.7)

test('cancel of a refused reservation gives nothing back', async (t) => {
  await play(t, new Limiter(10, 2), [
    reserve(t0, 2, t0),
    reserve(t0, 3, false, 'r'),
    cancel('r', t0),
    reserve(t0, 2, t2), // no extra tokens
  ]);
});

test('cancel of the latest reservation gives all its tokens back', async (t) => {
  await play(t, new Limiter(10, 2), [
    reserve(t0, 2, t0),
    reserve(t0, 2, t2, 'r'),
    cancel('r', t1), // 2 tokens back
    tokens(t1, 1),
    reserve(t1, 2, t2),
  ]);
});

test('cancel after the time to act is too late; at the time to act it still counts', async (t) => {
  await play(t, new Limiter(10, 2), [reserve(t0, 2, t0), reserve(t0, 2, t2, 'r'), cancel('r', t3), reserve(t3, 2, t4)]);
  await play(t, new Limiter(10, 2), [reserve(t0, 2, t0), reserve(t0, 2, t2, 'r'), cancel('r', t2), tokens(t2, 2)]);
});

test('cancel gives nothing back when later reservations count on all of it', async (t) => {
  await play(t, new Limiter(10, 2), [
    reserve(t0, 2, t0),
    reserve(t0, 1, t1, 'r'),
    reserve(t0, 1, t2),
    cancel('r', t0), // 0 tokens back
    reserve(t0, 1, t3),
  ]);
});

test('cancel gives back what later reservations do not count on', async (t) => {
  await play(t, new Limiter(10, 2), [
    reserve(t0, 2, t0),
    reserve(t0, 2, t2, 'r'),
    reserve(t0, 1, t3),
    cancel('r', t2), // 1 token back
    reserve(t2, 2, t4),
  ]);
});

test('cancel, worked example of semantics §1.7: cancelling C rolls lastEvent back for A', async (t) => {
  await play(t, new Limiter(10, 4), [
    reserve(t0, 4, t0),
    reserve(t0, 3, t3, 'A'),
    reserve(t0, 1, t4, 'B'),
    reserve(t0, 1, t5, 'C'),
    cancel('C', t1), // 1 token back; lastEvent back to t4
    tokens(t1, -3),
    cancel('A', t1), // 3 - 10/s × 100 ms = 2 back, as if C had never been
    tokens(t1, -1),
    reserve(t1, 3, t5),
  ]);
});

test('cancel with time jumping backwards can give back more than later reservations allow', async (t) => {
  await play(t, new Limiter(10, 2), [
    reserve(t1, 2, t1), // start at t1
    reserve(t1, 2, t3, 'r'),
    reserve(t1, 1, t4),
    cancel('r', t0), // at t0: 1 token back
    reserve(t1, 2, t4), // violates limit and burst
  ]);
});

test('cancel after SetLimitAt converts with the limit in force when reserved', async (t) => {
  await play(t, new Limiter(5, 2), [
    reserve(t0, 2, t0),
    reserve(t0, 2, t4, 'r'),
    setLimit(t2, 10),
    cancel('r', t2), // 2 tokens back
    reserve(t2, 2, t3),
  ]);
});

test('cancel twice: the second call changes nothing (Go would give 2 tokens back again)', (t) => {
  const lim = new Limiter(10, 4);
  lim.reserveN(t0, 4);
  const a = lim.reserveN(t0, 3);
  lim.reserveN(t0, 1);
  const c = lim.reserveN(t0, 1);
  c.cancelAt(t1);
  a.cancelAt(t1);
  t.is(lim.tokensAt(t1), -1);
  a.cancelAt(t1);
  c.cancelAt(t1);
  t.is(lim.tokensAt(t1), -1);
  t.is(lim.reserveN(t1, 3).timeToActMs, t5);
});

test('cancel does nothing under an Inf limit, or for a reservation of 0 tokens', (t) => {
  const lim = new Limiter(10, 2);
  lim.reserveN(t0, 2);
  const r = lim.reserveN(t0, 2);
  lim.setLimitAt(t0, Inf);
  r.cancelAt(t0);
  lim.setLimitAt(t0, 10);
  t.is(lim.tokensAt(t0), -2);
  const zero = lim.reserveN(t1, 0);
  zero.cancelAt(t1);
  t.is(lim.tokensAt(t1), -1);
});

// ---------------------------------------------------------------------------------------------------
// zero, tiny and infinite limits; nanosecond truncation

test('zero limit: the initial burst is spent once; burst() stays; reserve waits forever', (t) => {
  const lim = new Limiter(0, 1, { clock: new ManualClock(T0) });
  t.true(lim.allow());
  t.false(lim.allow());
  t.false(lim.allowN(T0 + 1e9, 1));
  t.is(lim.burst(), 1);
  t.is(lim.tokensAt(T0 + 1e12), 0);
  const r = lim.reserve();
  t.true(r.ok);
  t.true(r.delay() >= INF_DURATION_MS);
  t.true(r.delayFrom(T0 + 1e12) >= INF_DURATION_MS);
  r.cancel();
  t.is(lim.tokens(), 0);
});

test('zero limit, then setLimit(10): refilling starts from that moment', async (t) => {
  const clock = new ManualClock(T0);
  const lim = new Limiter(0, 1, { clock });
  t.true(lim.allow());
  t.false(lim.allow());
  lim.setLimit(10);
  const p = lim.wait();
  t.is(clock.nextDeadline(), T0 + 100);
  clock.advance(100);
  await p;
  t.is(clock.now(), T0 + 100);
});

test('tiny limit 1e-10: one burst token, then the wait is capped at infinity (golang/go#71154)', (t) => {
  const lim = new Limiter(1e-10, 1, { clock: new ManualClock(T0) });
  t.true(lim.allow());
  t.false(lim.allow());
  t.false(lim.allowN(T0 + 1e12, 1));
  const r = lim.reserve();
  t.true(r.ok);
  t.true(r.delay() >= INF_DURATION_MS);
  t.is(r.delay(), Infinity); // 1e19 ns is past InfDuration: capped, as Go does since the fix
  t.is(lim.tokens(), -1);
  r.cancel(); // lastEvent and the time to act are both Infinity: nothing was reserved after it
  t.is(lim.tokens(), 0);
});

test('a deficit worth less than 1 ns of refill needs no wait (§1.2: 0.9999999999999999)', (t) => {
  const lim = new Limiter(1, 2);
  t.true(lim.allowN(0, 1));
  t.true(lim.allowN(1, 1));
  t.is(lim.tokensAt(1000), 0.9999999999999999);
  t.true(lim.allowN(1000, 1));
  t.is(lim.reserveN(1000, 0).timeToActMs, 1000);
});

test('waits are whole nanoseconds: 2 ns short waits 1 ns, 0.1 ns short is admitted', (t) => {
  const a = new Limiter(1, 1);
  t.true(a.allowN(0, 1));
  t.false(a.allowN(999.999998, 1)); // deficit 1.99… ns of refill: a 1 ns wait
  const r = a.reserveN(999.999998, 1);
  t.true(r.ok);
  t.true(Math.abs(r.timeToActMs - 999.999999) < 1e-9, `acts at ${r.timeToActMs}`);
  const b = new Limiter(1, 1);
  t.true(b.allowN(0, 1));
  t.true(b.allowN(999.9999999, 1)); // deficit 0.1 ns: no wait
});

test('Inf admits everything, ignoring burst (even 0); switching to a finite limit finds a full bucket', async (t) => {
  const clock = new ManualClock(T0);
  const lim = new Limiter(Inf, 0, { clock });
  t.true(lim.allowN(T0, 3));
  t.true(lim.allow());
  const r = lim.reserveN(T0, 1000);
  t.true(r.ok);
  t.is(r.timeToActMs, T0);
  t.is(r.delay(), 0);
  await lim.waitN(3);
  t.is(clock.pending, 0);

  const full = new Limiter(Inf, 3);
  for (let i = 0; i < 100; i++) full.allowN(t0, 1);
  full.setLimitAt(t0, 10);
  t.is(full.tokensAt(t0), 3);
  t.true(full.allowN(t0, 3));
  t.false(full.allowN(t0, 1));
});

test('limit() and burst() report the settings; tokens() reads the clock', (t) => {
  const clock = new ManualClock(T0);
  const lim = new Limiter(10, 3, { clock });
  t.is(lim.limit(), 10);
  t.is(lim.burst(), 3);
  t.true(lim.allowN(T0, 3));
  clock.advance(150);
  t.is(lim.tokens(), 1.5);
  lim.setLimit(2);
  lim.setBurst(1);
  t.is(lim.limit(), 2);
  t.is(lim.burst(), 1);
  t.is(lim.tokens(), 1);
});

test('delayFrom: 0 once due, Infinity when not ok; delay() reads the clock', (t) => {
  const clock = new ManualClock(T0);
  const lim = new Limiter(10, 1, { clock });
  lim.reserve();
  const r = lim.reserve();
  t.is(r.timeToActMs, T0 + 100);
  t.is(r.delay(), 100);
  t.is(r.delayFrom(T0 + 30), 70);
  t.is(r.delayFrom(T0 + 500), 0);
  const refused = lim.reserveN(T0, 2);
  t.false(refused.ok);
  t.is(refused.delay(), Infinity);
  t.is(refused.timeToActMs, Infinity);
});

// ---------------------------------------------------------------------------------------------------
// validation (semantics §6.6)

test('validation: bad limit, burst, n and t throw RangeError naming the argument', async (t) => {
  t.throws(() => new Limiter(-1, 1), { instanceOf: RangeError, message: /limit/ });
  t.throws(() => new Limiter(Number.NaN, 1), { instanceOf: RangeError, message: /limit/ });
  t.throws(() => new Limiter(1, -1), { instanceOf: RangeError, message: /burst/ });
  t.throws(() => new Limiter(1, 1.5), { instanceOf: RangeError, message: /burst/ });
  t.throws(() => new Limiter(1, Number.NaN), { instanceOf: RangeError, message: /burst/ });
  const lim = new Limiter(1, 2);
  for (const n of [-1, 1.5, Number.NaN, Infinity]) {
    t.throws(() => lim.allowN(0, n), { instanceOf: RangeError, message: /\bn\b/ });
    t.throws(() => lim.reserveN(0, n), { instanceOf: RangeError, message: /\bn\b/ });
    await t.throwsAsync(lim.waitN(n), { instanceOf: RangeError, message: /\bn\b/ });
  }
  t.throws(() => lim.allowN(Number.NaN, 1), { instanceOf: RangeError, message: /\bt\b/ });
  t.throws(() => lim.tokensAt(Number.NaN), { instanceOf: RangeError, message: /\bt\b/ });
  t.throws(() => lim.setLimitAt(0, -1), { instanceOf: RangeError, message: /limit/ });
  t.throws(() => lim.setLimit(Number.NaN), { instanceOf: RangeError, message: /limit/ });
  t.throws(() => lim.setBurstAt(0, 2.5), { instanceOf: RangeError, message: /burst/ });
  t.throws(() => lim.setBurst(-3), { instanceOf: RangeError, message: /burst/ });
  await t.throwsAsync(lim.waitN(1, { deadline: Number.NaN }), { instanceOf: RangeError, message: /deadline/ });
  // Nothing above changed the limiter.
  t.is(lim.limit(), 1);
  t.is(lim.burst(), 2);
  t.is(lim.tokensAt(0), 2);
});

// ---------------------------------------------------------------------------------------------------
// waitN on a ManualClock (TestWaitSimple, TestWaitCancel, TestWaitTimeout, TestWaitInf)

test('waitN resolves exactly at the time to act: pending 1 ms before, resolved at the instant', async (t) => {
  const clock = new ManualClock(T0);
  const lim = new Limiter(10, 3, { clock });
  await lim.waitN(2); // act now
  t.is(clock.pending, 0);
  const p = lim.waitN(3); // act 200 ms later
  t.is(clock.nextDeadline(), T0 + 200);
  clock.advanceTo(T0 + 199);
  t.false(await settled(p));
  clock.advanceTo(T0 + 200);
  t.true(await settled(p));
  await p;
});

test('waitN wakes exactly at a time to act that is not a round number', async (t) => {
  for (const [start, rate] of [
    [0.1, 3],
    [-304_069.64360418945, every(304_070.5)], // the time to act crosses zero
    [T0 + 0.7, 7],
  ] as const) {
    const clock = new ManualClock(start);
    const lim = new Limiter(rate, 1, { clock });
    const twin = new Limiter(rate, 1);
    t.true(lim.allow());
    t.true(twin.allowN(start, 1));
    const actMs = twin.reserveN(start, 1).timeToActMs;
    const p = lim.wait();
    t.is(clock.nextDeadline(), actMs, `start ${start}`);
    clock.advanceTo(actMs);
    t.true(await settled(p), `start ${start}`);
  }
});

test('waitN rejects at once when n > burst, unless the limit is Inf', async (t) => {
  const clock = new ManualClock(T0);
  const lim = new Limiter(10, 3, { clock });
  await t.throwsAsync(lim.waitN(4), { instanceOf: RangeError, message: /burst/ });
  t.is(lim.tokens(), 3);
  await lim.waitN(3);
  t.is(lim.tokens(), 0);
  await new Limiter(Inf, 0, { clock }).waitN(3);
});

test('waitN with an aborted signal rejects with its reason and consumes nothing', async (t) => {
  const lim = new Limiter(10, 3, { clock: new ManualClock(T0) });
  const ac = new AbortController();
  ac.abort(new Error('gone'));
  await t.throwsAsync(lim.waitN(1, { signal: ac.signal }), { message: 'gone' });
  await t.throwsAsync(new Limiter(Inf, 0).wait({ signal: ac.signal }), { message: 'gone' });
  t.is(lim.tokens(), 3);
});

test('waitN aborted mid-sleep rejects and gives the tokens back', async (t) => {
  const clock = new ManualClock(T0);
  const lim = new Limiter(10, 3, { clock });
  await lim.waitN(2); // one token left
  const ac = new AbortController();
  const p = lim.waitN(3, { signal: ac.signal }); // acts at T0 + 200
  t.is(lim.tokens(), -2);
  clock.advance(100);
  ac.abort(new Error('stop'));
  await t.throwsAsync(p, { message: 'stop' });
  t.is(lim.tokens(), 2); // all 3 back: -1 + 3
  t.is(clock.nextDeadline(), undefined);
  await lim.waitN(2); // act now
  t.is(clock.pending, 0);
});

test('waitN with a deadline: a wait that would pass it fails at once and consumes nothing', async (t) => {
  const clock = new ManualClock(T0);
  const lim = new Limiter(10, 3, { clock });
  await lim.waitN(2, { deadline: T0 + 100 }); // act now
  await t.throwsAsync(lim.waitN(3, { deadline: T0 + 100 }), { message: /deadline/ });
  t.is(lim.tokens(), 1);
  const p = lim.waitN(2, { deadline: T0 + 100 }); // exactly at the deadline is in time
  t.is(clock.nextDeadline(), T0 + 100);
  clock.advance(100);
  await p;
  t.is(clock.now(), T0 + 100);
});

test('waitN with a past deadline: rejected if a wait is needed, admitted if not', async (t) => {
  const clock = new ManualClock(T0);
  const lim = new Limiter(10, 3, { clock });
  await lim.waitN(3, { deadline: T0 - 1 }); // tokens there: no wait needed
  t.is(lim.tokens(), 0);
  await t.throwsAsync(lim.waitN(1, { deadline: T0 }), { message: /deadline/ });
  await t.throwsAsync(lim.waitN(1, { deadline: T0 - 50 }), { message: /deadline/ });
  t.is(lim.tokens(), 0);
});

test('waitN on a zero-limit limiter with an empty bucket lasts until aborted', async (t) => {
  const clock = new ManualClock(T0);
  const lim = new Limiter(0, 1, { clock });
  await lim.wait();
  const ac = new AbortController();
  const p = lim.wait({ signal: ac.signal });
  t.is(clock.nextDeadline(), Infinity);
  clock.advance(1e12);
  t.false(await settled(p));
  ac.abort();
  const err = await p.then(
    () => undefined,
    (error: unknown) => error,
  );
  t.is((err as { name?: string } | undefined)?.name, 'AbortError'); // the signal's default reason, a DOMException
  t.is(lim.tokens(), 0);
  await t.throwsAsync(lim.wait({ deadline: clock.now() + 1e12 }), { message: /deadline/ });
});

test.serial('wait on the real clock sleeps until the token is due (one short real-time test)', async (t) => {
  const lim = new Limiter(20, 1); // systemClock: one token per 50 ms
  const before = systemClock.now();
  t.true(lim.allow());
  await lim.wait();
  const elapsed = systemClock.now() - before;
  t.true(elapsed >= 50, `waited ${elapsed} ms`);
  t.true(elapsed < 2000, `waited ${elapsed} ms`);
});

// ---------------------------------------------------------------------------------------------------
// long runs and properties

test('no float drift: 1e6 events at exact 1/rate spacing over days are all admitted', (t) => {
  for (const rate of [3, 7, every(3), 1000]) {
    const lim = new Limiter(rate, 1);
    const stepMs = 1000 / rate;
    const count = 1_000_000;
    let admitted = 0;
    for (let i = 0; i < count; i++) if (lim.allowN(i * stepMs, 1)) admitted++;
    const windowMs = (count - 1) * stepMs;
    t.is(admitted, count, `rate ${rate}`);
    t.is(admitted, 1 + Math.round((rate * windowMs) / 1000), `rate ${rate}`);
  }
});

test('no float drift: offered at twice the rate, exactly burst + rate × window are admitted', (t) => {
  for (const rate of [3, 1000 / 7]) {
    const lim = new Limiter(rate, 2);
    const stepMs = 500 / rate;
    const offered = 2_000_000;
    let admitted = 0;
    for (let i = 0; i < offered; i++) if (lim.allowN(i * stepMs, 1)) admitted++;
    const windowMs = (offered - 1) * stepMs;
    t.is(admitted, 2 + Math.floor((rate * windowMs) / 1000 + 1e-6), `rate ${rate}`);
  }
});

const arbRate = fc.oneof(
  fc.constant(0),
  fc.double({ min: 0.01, max: 2000, noNaN: true }),
  fc.constantFrom(1, 10, 1000 / 3),
);
const arbGapMs = fc.oneof(
  fc.constant(0),
  fc.double({ min: 0, max: 3000, noNaN: true }),
  fc.integer({ min: 0, max: 200 }),
);

test('property: over any window w, allowN admits at most burst + rate × w', (t) => {
  fc.assert(
    fc.property(
      arbRate,
      fc.integer({ min: 0, max: 6 }),
      fc.array(fc.record({ gapMs: arbGapMs, n: fc.integer({ min: 0, max: 7 }) }), { maxLength: 200 }),
      (rate, burst, requests) => {
        const lim = new Limiter(rate, burst);
        const times: number[] = [];
        const counts: number[] = [];
        let now = 1_000;
        for (const { gapMs, n } of requests) {
          now += gapMs;
          if (lim.allowN(now, n)) {
            times.push(now);
            counts.push(n);
          }
        }
        for (let i = 0; i < times.length; i++) {
          let sum = 0;
          for (let j = i; j < times.length; j++) {
            sum += counts[j]!;
            const bound = burst + (rate * (times[j]! - times[i]!)) / 1000;
            if (sum > bound + 1e-6) throw new Error(`${sum} events in [${times[i]}, ${times[j]}], bound ${bound}`);
          }
        }
      },
    ),
  );
  t.pass();
});

type Op =
  | { kind: 'reserve'; t: number; n: number }
  | { kind: 'allow'; t: number; n: number }
  | { kind: 'cancel'; t: number; which: number };

test('property: cancel never leaves more than burst tokens, and a second cancel changes nothing', (t) => {
  const arbTime = fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.double({ min: 0, max: 5000, noNaN: true }));
  const arbOp: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('reserve' as const), t: arbTime, n: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ kind: fc.constant('allow' as const), t: arbTime, n: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ kind: fc.constant('cancel' as const), t: arbTime, which: fc.nat() }),
  );
  fc.assert(
    fc.property(arbRate, fc.integer({ min: 0, max: 5 }), fc.array(arbOp, { maxLength: 60 }), (rate, burst, ops) => {
      const lim = new Limiter(rate, burst);
      const reservations: Reservation[] = [];
      const probes = [0, 2500, 5000, 1e7];
      const snapshot = (): number[] => probes.map((p) => lim.tokensAt(p));
      for (const op of ops) {
        if (op.kind === 'reserve') {
          reservations.push(lim.reserveN(op.t, op.n));
        } else if (op.kind === 'allow') {
          const before = snapshot();
          if (!lim.allowN(op.t, op.n) && snapshot().some((v, i) => !Object.is(v, before[i]))) {
            throw new Error('a refused allowN changed the limiter');
          }
        } else if (reservations.length > 0) {
          const r = reservations[op.which % reservations.length]!;
          r.cancelAt(op.t);
          const after = snapshot();
          r.cancelAt(op.t);
          if (snapshot().some((v, i) => !Object.is(v, after[i]))) {
            throw new Error('a second cancel changed the limiter');
          }
        }
        for (const p of [...probes, op.t]) {
          const v = lim.tokensAt(p);
          if (!(v <= burst)) throw new Error(`tokensAt(${p}) = ${v} > burst ${burst}`);
        }
      }
    }),
  );
  t.pass();
});

test('book and cancelBooking do what reserveN and Reservation.cancelAt do (random sequences)', (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('reserve' as const), dt: fc.integer({ min: 0, max: 300 }), n: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ kind: fc.constant('cancel' as const), dt: fc.integer({ min: 0, max: 300 }), which: fc.nat() }),
    fc.record({ kind: fc.constant('limit' as const), dt: fc.integer({ min: 0, max: 300 }), limit: fc.constantFrom(0, 0.5, 3, 10, 250, Inf) }),
  );
  fc.assert(
    fc.property(fc.constantFrom(0, 1, 5, 20, Inf), fc.integer({ min: 0, max: 3 }), fc.array(op, { maxLength: 40 }), (limit, burst, ops) => {
      const a = new Limiter(limit, burst);
      const b = new Limiter(limit, burst);
      const reservations: Reservation[] = [];
      const bookings: Array<{ n: number; limit: number; dueMs: number; cancelled: boolean }> = [];
      let now = t0;
      for (const o of ops) {
        now += o.dt;
        if (o.kind === 'reserve') {
          const limitAtBook = b.limit();
          const r = a.reserveN(now, o.n);
          const dueMs = b.book(now, o.n);
          if (r.ok !== !Number.isNaN(dueMs)) return false;
          if (!r.ok) continue;
          if (r.timeToActMs !== dueMs) return false;
          reservations.push(r);
          bookings.push({ n: o.n, limit: limitAtBook, dueMs, cancelled: false });
        } else if (o.kind === 'cancel') {
          if (reservations.length === 0) continue;
          const i = o.which % reservations.length;
          reservations[i]!.cancelAt(now);
          const booking = bookings[i]!;
          if (!booking.cancelled) b.cancelBooking(now, booking.n, booking.limit, booking.dueMs);
          booking.cancelled = true;
        } else {
          a.setLimitAt(now, o.limit);
          b.setLimitAt(now, o.limit);
        }
        if (a.tokensAt(now) !== b.tokensAt(now)) return false;
      }
      return a.tokensAt(now + 10_000) === b.tokensAt(now + 10_000);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('book refuses more tokens than the burst with NaN, taking nothing', (t) => {
  const lim = new Limiter(10, 2);
  t.true(Number.isNaN(lim.book(t0, 3)));
  t.is(lim.tokensAt(t0), 2);
  t.is(lim.book(t0, 2), t0);
  t.is(lim.book(t0, 1), t0 + 100);
  t.throws(() => lim.book(t0, 1.5), { instanceOf: RangeError });
});
