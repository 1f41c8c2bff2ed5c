import test from 'ava';
import type { TraceEvent } from '../src/sources/trace/event.js';
import { packRows } from '../src/sources/trace/thread-protocol.js';
import { EventRows, unpackEvents, unpackWith } from '../src/sources/trace/rows.js';

const EVENTS: TraceEvent[] = [
  { key: 'GET /a', tMs: 0, serviceMs: 12.5, status: 200, method: 'GET', url: 'http://127.0.0.1/a' },
  { key: '', tMs: 1 },
  { key: 'GET /a', tMs: 2, tokens: 3, headers: [['X-A', '1'], ['X-A', '2']] },
  { key: 'job-7' },
  { key: '', tMs: 4, status: -1, bodyFile: 'body.json' },
];

test('EventRows: events put in come out the same, each key kept once, with their lines', (t) => {
  const rows = new EventRows(2); // grows past its first room
  EVENTS.forEach((e, i) => rows.push(e, 10 + i));
  t.is(rows.length, EVENTS.length);
  t.deepEqual(rows.keys, ['GET /a', '', 'job-7']);
  t.deepEqual(rows.lines, [10, 11, 12, 13, 14]);
  const out: TraceEvent[] = [];
  unpackEvents(rows, out);
  t.deepEqual(out, EVENTS);
  // The numbers, NaN where not given, as `make` gets them.
  const made: string[] = [];
  unpackWith(rows, made, (key, tMs, tokens, serviceMs, status) => `${key}|${tMs}|${tokens}|${serviceMs}|${status}`);
  t.deepEqual(made, ['GET /a|0|NaN|12.5|200', '|1|NaN|NaN|NaN', 'GET /a|2|3|NaN|NaN', 'job-7|NaN|NaN|NaN|NaN', '|4|NaN|NaN|-1']);
});

test('EventRows: copy, truncate and clear; a batch packed for posting reads the same', (t) => {
  const from = new EventRows();
  EVENTS.forEach((e, i) => from.push(e, i + 1));
  const rows = new EventRows();
  for (const i of [4, 2, 0]) rows.copy(from, i);
  rows.setTMs(0, 40);
  let out: TraceEvent[] = [];
  unpackEvents(rows, out);
  t.deepEqual(out, [{ ...EVENTS[4]!, tMs: 40 }, EVENTS[2], EVENTS[0]]);
  t.deepEqual(rows.lines, [5, 3, 1]);
  rows.truncate(2);
  out = [];
  unpackEvents(packRows(rows), out);
  t.deepEqual(out, [{ ...EVENTS[4]!, tMs: 40 }, EVENTS[2]]);
  rows.clear();
  t.is(rows.length, 0);
  rows.push({ key: 'x', tMs: 1 }, 9);
  out = [];
  unpackEvents(rows, out);
  t.deepEqual(out, [{ key: 'x', tMs: 1 }]);
  t.deepEqual(rows.keys, ['x']);
});

test('unpackWith: when make throws, the array ends after what it made', (t) => {
  const rows = new EventRows();
  EVENTS.forEach((e, i) => rows.push(e, i + 1));
  const out: string[] = ['before'];
  t.throws(() => unpackWith(rows, out, (key) => {
    if (key === 'job-7') throw new Error('no');
    return key;
  }), { message: 'no' });
  t.deepEqual(out, ['before', 'GET /a', '', 'GET /a']);
});
