import test, { type ExecutionContext } from 'ava';
import { ManualClock } from '../src/core/clock.js';
import { Admission, type AdmissionOptions, type Admitted, type Rejected, type Verdict, fieldsOf, retryAfterSeconds } from '../src/proxy/admission.js';
import { parseFault } from '../src/proxy/faults.js';

// The proxy's admission policy at fixed instants on a ManualClock: which requests pass, wait or get a 429,
// with which Retry-After and RateLimit fields.

function admission(clock: ManualClock, o: Partial<AdmissionOptions> = {}): Admission {
  return new Admission({ clock, ratePerSec: Infinity, burst: 1, concurrency: Infinity, onFull: 'reject', maxWaitMs: 10_000, ...o });
}

/** settle lets promise continuations (grants, wake-ups) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function admitted(t: ExecutionContext, v: Verdict, what: string): Admitted {
  if (v.state !== 'admitted') t.fail(`${what}: expected admitted, got ${v.state}${v.state === 'rejected' ? ` (${v.reason})` : ''}`);
  return v as Admitted;
}

function rejected(t: ExecutionContext, v: Verdict, what: string): Rejected {
  if (v.state !== 'rejected') t.fail(`${what}: expected rejected, got ${v.state}`);
  return v as Rejected;
}

test('no limits: every request is admitted at once, counted in flight until released', (t) => {
  const clock = new ManualClock();
  const a = admission(clock);
  const tickets = Array.from({ length: 5 }, (_, i) => admitted(t, a.admit('readOnly', undefined, false), `request ${i}`));
  t.is(a.inFlight, 5);
  t.is(tickets[0]!.fields, undefined, 'no bucket, no RateLimit fields');
  tickets[0]!.release();
  tickets[0]!.release();
  t.is(a.inFlight, 4, 'a second release changes nothing');
  t.like(a.counts(), { admitted: 5, waited: 0, peak: { total: 5, readOnly: 5, mutating: 0 } });
});

test('reject mode: a bucket of 2 at 10/s admits 2 at once, then one per 100 ms; each 429 says when', (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { ratePerSec: 10, burst: 2 });
  // Steps at fixed instants: [time, admitted?, Retry-After ms of a rejection, RateLimit-Remaining].
  const steps: Array<[number, boolean, number, number]> = [
    [0, true, 0, 1],
    [0, true, 0, 0],
    [0, false, 100, 0],
    [0, false, 100, 0], // a rejection took nothing: the wait is the same
    [50, false, 50, 0],
    [100, true, 0, 0],
    [100, false, 100, 0],
    [350, true, 0, 1], // 2.5 tokens earned, capped at the burst of 2 (the half is lost), one spent
    [350, true, 0, 0],
    [350, false, 100, 0],
  ];
  steps.forEach(([at, ok, retryMs, remaining], i) => {
    clock.advanceTo(at);
    const v = a.admit('readOnly', undefined, false);
    const what = `step ${i} at ${at} ms`;
    if (ok) {
      const ticket = admitted(t, v, what);
      t.is(ticket.fields?.remaining, remaining, `${what}: remaining`);
      ticket.release();
    } else {
      const r = rejected(t, v, what);
      t.is(r.reason, 'rate', what);
      t.true(Math.abs(r.retryAfterMs - retryMs) < 1e-6, `${what}: Retry-After ${r.retryAfterMs} ms, want ${retryMs}`);
      t.is(r.fields?.remaining, remaining, `${what}: remaining`);
    }
  });
  t.like(a.counts(), { admitted: 5, rejected: { rate: 5, perKey: 0, concurrency: 0 } });
});

test('reject mode: over any window the bucket admits at most burst + rate × t, however hard it is pushed', (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { ratePerSec: 20, burst: 5 });
  const times: number[] = [];
  for (let ms = 0; ms <= 3000; ms += 7) {
    clock.advanceTo(ms);
    for (let k = 0; k < 3; k++) {
      const v = a.admit('readOnly', undefined, false);
      if (v.state === 'admitted') {
        times.push(ms);
        v.release();
      }
    }
  }
  for (let i = 0; i < times.length; i++) {
    for (let j = i; j < times.length; j++) {
      const bound = 5 + (20 * (times[j]! - times[i]!)) / 1000;
      if (j - i + 1 > bound + 1e-9) t.fail(`${j - i + 1} admitted within ${times[j]! - times[i]!} ms`);
    }
  }
  t.true(times.length >= 5 + 20 * 3 - 1, `only ${times.length} admitted in 3 s`);
});

test('honouring Retry-After finds the token there', (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { ratePerSec: 4, burst: 1 });
  admitted(t, a.admit('readOnly', undefined, false), 'first');
  const r = rejected(t, a.admit('readOnly', undefined, false), 'second');
  t.is(r.retryAfterMs, 250);
  t.is(retryAfterSeconds(r.retryAfterMs), 1);
  clock.advance(retryAfterSeconds(r.retryAfterMs) * 1000);
  admitted(t, a.admit('readOnly', undefined, false), 'after Retry-After');
});

test('wait mode: requests over the rate wait for their token, in turn', async (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { ratePerSec: 10, burst: 1, onFull: 'wait' });
  admitted(t, a.admit('readOnly', undefined, false), 'first');
  const second = a.admit('readOnly', undefined, false);
  const third = a.admit('readOnly', undefined, false);
  t.is(second.state, 'waiting');
  t.is(third.state, 'waiting');
  t.is(a.waiting, 2);
  const got: Array<[string, number]> = [];
  void (second as { verdict: Promise<Admitted | Rejected> }).verdict.then((v) => got.push(['second', (v as Admitted).waitedMs]));
  void (third as { verdict: Promise<Admitted | Rejected> }).verdict.then((v) => got.push(['third', (v as Admitted).waitedMs]));
  clock.advance(100);
  await settle();
  t.deepEqual(got, [['second', 100]]);
  clock.advance(100);
  await settle();
  t.deepEqual(got, [['second', 100], ['third', 200]]);
  t.like(a.counts(), { admitted: 3, waited: 2, waiting: 0 });
});

test('wait mode: a wait beyond --max-wait is a 429 at once, and gives its tokens back', async (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { ratePerSec: 10, burst: 1, onFull: 'wait', maxWaitMs: 150 });
  admitted(t, a.admit('readOnly', undefined, false), 'first');
  t.is(a.admit('readOnly', undefined, false).state, 'waiting', 'second waits 100 ms');
  const third = rejected(t, a.admit('readOnly', undefined, false), 'third would wait 200 ms');
  t.is(third.retryAfterMs, 200);
  const fourth = rejected(t, a.admit('readOnly', undefined, false), 'fourth');
  t.is(fourth.retryAfterMs, 200, 'the third took nothing');
});

test('in-flight caps: read-only and mutating pools, a full one answers 429 with the apiserver\'s 1 s', (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { concurrency: 2, mutatingConcurrency: 1 });
  const g1 = admitted(t, a.admit('readOnly', undefined, false), 'GET 1');
  admitted(t, a.admit('readOnly', undefined, false), 'GET 2');
  const g3 = rejected(t, a.admit('readOnly', undefined, false), 'GET 3');
  t.is(g3.reason, 'concurrency');
  t.is(g3.retryAfterMs, 1000);
  admitted(t, a.admit('mutating', undefined, false), 'POST 1');
  rejected(t, a.admit('mutating', undefined, false), 'POST 2');
  g1.release();
  admitted(t, a.admit('readOnly', undefined, false), 'GET 4 after a release');
  t.like(a.counts(), { peak: { total: 3, readOnly: 2, mutating: 1 }, rejected: { concurrency: 2 } });
});

test('reject mode: a full cap gives the token back, and a rejection leaves the watermark alone', (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { ratePerSec: 1, burst: 2, concurrency: 1 });
  const first = admitted(t, a.admit('readOnly', undefined, false), 'first');
  const second = rejected(t, a.admit('readOnly', undefined, false), 'second');
  t.like(second, { reason: 'concurrency', retryAfterMs: 1000, fields: { limit: 2, remaining: 1, resetSec: 1 } });
  first.release();
  admitted(t, a.admit('readOnly', undefined, false), 'third, at the same instant: the second token is still there');
  t.like(a.counts(), { peak: { total: 1, readOnly: 1 } });
});

test('wait mode: a full cap queues FIFO; the slot comes first, then the token', async (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { concurrency: 1, ratePerSec: 10, burst: 1, onFull: 'wait', maxWaitMs: 1000 });
  const first = admitted(t, a.admit('readOnly', undefined, false), 'first');
  const second = a.admit('readOnly', undefined, false);
  if (second.state !== 'waiting') return t.fail('second should wait');
  let got: Admitted | Rejected | undefined;
  void second.verdict.then((v) => (got = v));
  clock.advance(50);
  first.release();
  await settle();
  t.is(got, undefined, 'holds the slot now, waits for the token');
  clock.advance(50);
  await settle();
  t.is(got?.state, 'admitted');
  t.is((got as Admitted).waitedMs, 100);
});

test('wait mode: a queue wait past --max-wait is a 429 for the cap', async (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { concurrency: 1, onFull: 'wait', maxWaitMs: 300 });
  admitted(t, a.admit('readOnly', undefined, false), 'first');
  const second = a.admit('readOnly', undefined, false);
  if (second.state !== 'waiting') return t.fail('second should wait');
  clock.advance(300);
  const v = await second.verdict;
  t.like(v, { state: 'rejected', reason: 'concurrency', retryAfterMs: 1000, waitedMs: 300 });
  t.is(a.waiting, 0);
});

test('a client that goes away while waiting gives back its slot and its tokens', async (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { concurrency: 2, ratePerSec: 10, burst: 1, onFull: 'wait' });
  admitted(t, a.admit('readOnly', undefined, false), 'first');
  const second = a.admit('readOnly', undefined, false);
  if (second.state !== 'waiting') return t.fail('second should wait');
  t.is(a.inFlight, 1);
  second.abort();
  t.like(await second.verdict, { state: 'rejected', reason: 'gone' });
  const third = a.admit('readOnly', undefined, false);
  if (third.state !== 'waiting') return t.fail('third should wait');
  let waited = -1;
  void third.verdict.then((v) => (waited = (v as Admitted).waitedMs));
  clock.advance(100);
  await settle();
  t.is(waited, 100, 'the cancelled reservation gave its token back: the third waits 100 ms, not 200');
  t.is(a.counts().rejected.gone, 1);
});

test('exempt requests skip every gate and take nothing', (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { ratePerSec: 1, burst: 1, concurrency: 1 });
  admitted(t, a.admit('readOnly', undefined, false), 'first');
  const e = admitted(t, a.admit('mutating', undefined, true), 'exempt');
  t.true(e.exempt);
  t.is(a.inFlight, 2, 'counted in flight, beyond the cap');
  rejected(t, a.admit('readOnly', undefined, false), 'a plain one still meets the cap');
  e.release();
  t.like(a.counts(), { admitted: 2, exempt: 1 });
});

test('per-key buckets: each key has its own, and a 429 names it', (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { perKey: { ratePerSec: 1, burst: 2 } });
  admitted(t, a.admit('readOnly', 'a', false), 'a 1');
  const a2 = admitted(t, a.admit('readOnly', 'a', false), 'a 2');
  t.deepEqual(a2.fields, { limit: 2, remaining: 0, resetSec: 2 });
  const a3 = rejected(t, a.admit('readOnly', 'a', false), 'a 3');
  t.is(a3.reason, 'per-key');
  t.is(a3.retryAfterMs, 1000);
  const b = admitted(t, a.admit('readOnly', 'b', false), 'b 1');
  t.deepEqual(b.fields, { limit: 2, remaining: 1, resetSec: 1 });
  t.is(a.counts().rejected.perKey, 1);
});

test('per-key and shared buckets together: the later token decides, the fuller-used bucket reports', (t) => {
  const clock = new ManualClock();
  const a = admission(clock, { ratePerSec: 10, burst: 5, perKey: { ratePerSec: 2, burst: 1 } });
  const x = admitted(t, a.admit('readOnly', 'k', false), 'k 1');
  t.deepEqual(x.fields, { limit: 1, remaining: 0, resetSec: 1 }, 'the per-key bucket is the closer to its limit');
  const r = rejected(t, a.admit('readOnly', 'k', false), 'k 2');
  t.like(r, { reason: 'per-key', retryAfterMs: 500 });
  admitted(t, a.admit('readOnly', 'j', false), 'j 1: the shared bucket kept its token');
  t.is(a.counts().admitted, 2);
});

test('faults: one seeded draw per admitted request, rules taking consecutive shares', (t) => {
  const clock = new ManualClock();
  const draws = [0.01, 0.5, 0.07, 0.99, 0.04];
  const a = admission(clock, {
    ratePerSec: 1,
    burst: 1,
    faults: [parseFault('status=503 rate=5%'), parseFault('reset rate=5%')],
    random: () => draws.shift()!,
  });
  const first = admitted(t, a.admit('readOnly', undefined, false), 'first');
  t.is(first.fault?.status, 503);
  rejected(t, a.admit('readOnly', undefined, false), 'a rejection draws nothing');
  const picks = [first.fault?.text];
  for (let i = 0; i < 3; i++) {
    clock.advance(1000);
    picks.push(admitted(t, a.admit('readOnly', undefined, false), `request ${i}`).fault?.text);
  }
  t.deepEqual(picks, ['status=503 rate=5%', undefined, 'reset rate=5%', undefined]);
  t.deepEqual(a.counts().injected, { 'status=503 rate=5%': 1, 'reset rate=5%': 1 });
});

test('fieldsOf: whole tokens left, and whole seconds until the bucket is full', (t) => {
  t.deepEqual(fieldsOf(5, 5, 10), { limit: 5, remaining: 5, resetSec: 0 });
  t.deepEqual(fieldsOf(0.9999999999999999, 5, 10), { limit: 5, remaining: 1, resetSec: 1 });
  t.deepEqual(fieldsOf(-3, 2, 1), { limit: 2, remaining: 0, resetSec: 5 });
  t.deepEqual(fieldsOf(1.5, 2, 0.1), { limit: 2, remaining: 1, resetSec: 5 });
  t.deepEqual([0.3, 999, 1000, 1001, 2500].map(retryAfterSeconds), [1, 1, 1, 2, 3]);
});
