import test from 'ava';
import { ParseError } from '../src/core/parse.js';
import { parsePlan } from '../src/core/plan.js';

test('a plain rate is no plan', (t) => {
  for (const text of ['10/s', 'inf', '1/250ms']) t.is(parsePlan(text), undefined, text);
});

test('steps and ramps parse into back-to-back segments; the last may be held for good', (t) => {
  const plan = parsePlan('10/s@30s, 50/s@1m,ramp:50/s..200/s@2m')!;
  t.deepEqual(
    plan.segments.map((s) => [s.kind, s.fromPerSec, s.toPerSec, s.startMs, s.durationMs]),
    [
      ['step', 10, 10, 0, 30_000],
      ['step', 50, 50, 30_000, 60_000],
      ['ramp', 50, 200, 90_000, 120_000],
    ],
  );
  t.is(plan.lengthMs, 210_000);
  t.is(plan.finalPerSec, 200);
  t.is(plan.maxPerSec, 200);
  const held = parsePlan('5/s@1s,20/s')!;
  t.is(held.lengthMs, Infinity);
  t.is(held.rateAt(5_000), 20);
});

test('rateAt follows steps exactly and ramps linearly', (t) => {
  const plan = parsePlan('10/s@1s,ramp:10/s..30/s@2s')!;
  t.is(plan.rateAt(0), 10);
  t.is(plan.rateAt(999), 10);
  t.is(plan.rateAt(1000), 10);
  t.is(plan.rateAt(2000), 20);
  t.is(plan.rateAt(3000), 30);
  t.is(plan.rateAt(60_000), 30);
});

test('a ramp is played as a staircase whose tokens match the ramp at every step edge', (t) => {
  const plan = parsePlan('ramp:10/s..30/s@1s')!;
  const changes = [...plan.changes()];
  t.is(changes.length, 11); // ten steps of 100 ms, then the end rate held
  t.deepEqual(changes[0], { atMs: 0, ratePerSec: 11, segment: 0, first: true });
  t.deepEqual(changes[10], { atMs: 1000, ratePerSec: 30, segment: 0, first: false });
  // Tokens earned over the ramp: the integral of 10..30 over 1 s is 20.
  let tokens = 0;
  for (let i = 0; i < 10; i++) tokens += (changes[i]!.ratePerSec * (changes[i + 1]!.atMs - changes[i]!.atMs)) / 1000;
  t.true(Math.abs(tokens - 20) < 1e-9, String(tokens));
});

test('dueTimes: the k-th token of an unhindered bucket playing the plan', (t) => {
  const due = parsePlan('10/s@1s,20/s')!.dueTimes(1);
  const times = Array.from({ length: 14 }, (_, i) => Math.round(due(i + 1) * 1000) / 1000);
  t.deepEqual(times, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1050, 1100, 1150]);
  const burst = parsePlan('10/s@1s,20/s')!.dueTimes(3);
  t.deepEqual([1, 2, 3, 4].map((k) => burst(k)), [0, 0, 0, 100]);
});

test('bad plans are errors naming the segment, with an example', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['10/s,20/s', /"10\/s" needs "@<duration>"/],
    ['10/s@xs,20/s', /bad duration after "@"/],
    ['10/x@1s', /"10\/x@1s" is not a rate/],
    ['ramp:10/s@1s', /is not a rate or ramp/],
    ['ramp:10/s..20/s', /ramp "ramp:10\/s..20\/s" needs "@<duration>"/],
    ['ramp:10/s..inf@1s', /a ramp needs finite rates/],
    ['0/s@1s,10/s', /zero rate/],
    ['10/s@0s,5/s', /lasts no time/],
  ];
  for (const [text, re] of cases) {
    const err = t.throws(() => parsePlan(text), { instanceOf: ParseError }, text);
    t.regex(err!.message, re, text);
    t.regex(err!.message, /use e\.g\. 10\/s@30s/, text);
  }
});
