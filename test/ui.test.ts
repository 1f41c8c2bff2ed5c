import test from 'ava';
import { ManualClock } from '../src/core/clock.js';
import { Events, type SchedulerEvent } from '../src/engine/events.js';
import type { Job, Result, Status } from '../src/engine/types.js';
import { colourLevel, paintFor, type TerminalStream, wantsProgress } from '../src/ui/colour.js';
import { type ProgressState, ProgressTracker, formatProgressLine, formatSpan, startProgress } from '../src/ui/progress.js';
import { RateWindow } from '../src/ui/rate-window.js';

// --- fakes ------------------------------------------------------------------------------------------------

interface FakeStream extends TerminalStream {
  columns?: number;
  chunks: string[];
}

function fakeStream(tty: boolean, extra: { columns?: number; depth?: number } = {}): FakeStream {
  const chunks: string[] = [];
  const stream = {
    isTTY: tty,
    chunks,
    write(chunk: string | Uint8Array, ...rest: unknown[]): boolean {
      chunks.push(String(chunk));
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    },
    ...(extra.columns === undefined ? {} : { columns: extra.columns }),
    ...(extra.depth === undefined ? {} : { getColorDepth: () => extra.depth! }),
  };
  return stream as unknown as FakeStream;
}

function job(seq: number): Job {
  return { seq, key: String(seq), payload: undefined };
}

function result(seq: number, status: Status, endedMs: number, attempts = 1): Result {
  return {
    seq,
    key: String(seq),
    arrivalMs: 0,
    grantedMs: 0,
    startedMs: 0,
    endedMs,
    attempts,
    status,
    code: status === 'ok' ? 0 : 1,
    throttleMs: 0,
    backoffMs: 0,
    serviceMs: 0,
  };
}

const started = (seq: number, atMs: number, attempt = 1): SchedulerEvent => ({ type: 'started', job: job(seq), attempt, atMs });
const retrying = (seq: number, atMs: number, attempt = 1): SchedulerEvent => ({ type: 'retrying', job: job(seq), attempt, delayMs: 100, atMs });
const done = (seq: number, status: Status, atMs: number, attempts = 1): SchedulerEvent => ({
  type: 'done',
  job: job(seq),
  result: result(seq, status, atMs, attempts),
});

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

// --- colour -----------------------------------------------------------------------------------------------

test('paintFor colours a terminal by role and leaves a pipe plain', (t) => {
  const tty = paintFor(fakeStream(true), {});
  t.is(tty.ok('x'), '\x1B[32mx\x1B[39m');
  t.is(tty.bad('x'), '\x1B[31mx\x1B[39m');
  t.is(tty.warn('x'), '\x1B[33mx\x1B[39m');
  t.is(tty.dim('x'), '\x1B[90mx\x1B[39m');
  t.is(tty.bold('x'), '\x1B[1mx\x1B[22m');
  const pipe = paintFor(fakeStream(false), {});
  for (const role of ['ok', 'bad', 'warn', 'dim', 'bold'] as const) t.is(pipe[role]('x'), 'x', role);
});

test('paintFor honours NO_COLOR over a terminal and over FORCE_COLOR; an empty NO_COLOR is ignored', (t) => {
  t.is(paintFor(fakeStream(true), { NO_COLOR: '1' }).bad('x'), 'x');
  t.is(paintFor(fakeStream(false), { NO_COLOR: 'yes', FORCE_COLOR: '3' }).bad('x'), 'x');
  t.is(paintFor(fakeStream(true), { NO_COLOR: '' }).bad('x'), '\x1B[31mx\x1B[39m');
});

test('colourLevel follows FORCE_COLOR on any stream', (t) => {
  const steps: Array<[string, 0 | 1 | 2 | 3]> = [
    ['0', 0],
    ['false', 0],
    ['1', 1],
    ['2', 2],
    ['3', 3],
    ['7', 3],
    ['', 1],
    ['true', 1],
  ];
  for (const [force, level] of steps) {
    t.is(colourLevel(fakeStream(false), { FORCE_COLOR: force }), level, `FORCE_COLOR=${JSON.stringify(force)} on a pipe`);
  }
  t.is(colourLevel(fakeStream(true, { depth: 24 }), { FORCE_COLOR: '0' }), 0, 'FORCE_COLOR=0 on a terminal');
  t.is(paintFor(fakeStream(false), { FORCE_COLOR: '1' }).ok('x'), '\x1B[32mx\x1B[39m');
});

test('colourLevel on a terminal: from its colour depth, none for TERM=dumb, basic when it cannot tell', (t) => {
  t.is(colourLevel(fakeStream(true), {}), 1);
  t.is(colourLevel(fakeStream(true, { depth: 1 }), {}), 0);
  t.is(colourLevel(fakeStream(true, { depth: 4 }), {}), 1);
  t.is(colourLevel(fakeStream(true, { depth: 8 }), {}), 2);
  t.is(colourLevel(fakeStream(true, { depth: 24 }), {}), 3);
  t.is(colourLevel(fakeStream(true, { depth: 24 }), { TERM: 'dumb' }), 0);
  t.is(colourLevel(fakeStream(false, { depth: 24 }), {}), 0);
});

test('wantsProgress needs the flag, a terminal and no CI', (t) => {
  t.true(wantsProgress(fakeStream(true), {}, true));
  t.true(wantsProgress(fakeStream(true), { CI: '' }, true));
  t.false(wantsProgress(fakeStream(true), {}, false), 'flag off');
  t.false(wantsProgress(fakeStream(false), {}, true), 'not a terminal');
  t.false(wantsProgress({}, {}, true), 'isTTY unset');
  t.false(wantsProgress(fakeStream(true), { CI: 'true' }, true), 'CI set');
  t.false(wantsProgress(fakeStream(true), { TERM: 'dumb' }, true), 'dumb terminal');
});

// --- rate window ------------------------------------------------------------------------------------------

test('RateWindow divides the events in the window by its span, at least one slot long', (t) => {
  const w = new RateWindow(1000, 5000, 10); // slots of 500 ms
  t.is(w.rateAt(1000), 0);
  w.add(1000, 5);
  t.is(w.rateAt(1000), 10, '5 events over the minimum span of 500 ms');
  t.is(w.rateAt(1500), 10);
  t.is(w.rateAt(3500), 2, '5 events over the 2.5 s since the start');
  t.is(w.rateAt(5999), (5 * 1000) / 4999, 'the window spans nearly 5 s, the first slot still in it');
  t.is(w.rateAt(6000), 0, 'the first slot has left the window');
});

test('RateWindow reads a steady rate exactly and forgets it after a pause', (t) => {
  const w = new RateWindow(0, 5000, 10);
  for (let i = 0; i < 1000; i++) w.add(i * 10); // 100/s for 10 s
  // At 10 s the window is slots 11..20: [5500 ms, 10000 ms], 4.5 s holding events 550..999.
  t.is(w.rateAt(10_000), 100);
  t.is(w.rateAt(10_250), (450 * 1000) / 4750, 'the current slot is partly elapsed');
  t.is(w.rateAt(20_000), 0);
  w.add(20_000, 3);
  t.is(w.rateAt(20_000), (3 * 1000) / 4500, 'a reused slot starts from zero');
});

test('RateWindow drops events older than the window and rejects a bad shape', (t) => {
  const w = new RateWindow(0, 1000, 2);
  w.add(1600, 2); // slot 3
  w.add(600, 100); // slot 1 shares the ring index of slot 3: too old, dropped
  t.is(w.rateAt(1600), 2 / 0.6);
  t.throws(() => new RateWindow(0, 0, 2), { instanceOf: RangeError });
  t.throws(() => new RateWindow(0, 1000, 0), { instanceOf: RangeError });
});

// --- tracker ----------------------------------------------------------------------------------------------

test('ProgressTracker counts done, failed (and rejected), retried jobs, and the attempt rate', (t) => {
  const tracker = new ProgressTracker({ total: 10, targetRatePerSec: 4, startMs: 0 });
  for (let i = 0; i < 4; i++) tracker.observe(started(i, i * 250)); // 4 starts in the first second
  tracker.observe(retrying(1, 1000)); // job 1 retries twice: one retried job
  tracker.observe(started(1, 1100, 2));
  tracker.observe(retrying(1, 1200, 2));
  tracker.observe(done(0, 'ok', 1000));
  tracker.observe(done(2, 'failed', 1500));
  tracker.observe(done(3, 'rejected', 1500));
  tracker.observe({ type: 'arrived', job: job(9), atMs: 1500 });
  tracker.observe({ type: 'attempted', job: job(0), attempt: 1, outcome: { ok: true, code: 0, retryable: false }, atMs: 1000 });
  const s = tracker.state(2000, 1, 5);
  t.deepEqual(s, {
    total: 10,
    done: 3,
    failed: 2,
    retried: 1,
    inFlight: 1,
    // 5 active: 1 running, job 1 backing off, 3 held by the bucket or the cap.
    throttled: 3,
    ratePerSec: 5 / 2, // 5 starts over 2 s
    targetRatePerSec: 4,
    elapsedMs: 2000,
    etaMs: (7 * 1000) / (3 / 2), // 7 left at 3 done per 2 s
  });
});

test('ProgressTracker stops counting a job as backing off once it starts again or ends', (t) => {
  const tracker = new ProgressTracker({ targetRatePerSec: Infinity, startMs: 0 });
  tracker.observe(started(0, 0));
  tracker.observe(started(1, 0));
  tracker.observe(retrying(0, 10));
  tracker.observe(retrying(1, 10));
  t.is(tracker.state(20, 0, 2).throttled, 0, 'both back off');
  tracker.observe(started(0, 110, 2));
  t.is(tracker.state(120, 1, 2).throttled, 0, 'job 0 runs, job 1 still backs off');
  tracker.observe(done(1, 'interrupted', 130));
  t.is(tracker.state(130, 1, 2).throttled, 1, 'the job that ended is no longer subtracted');
  t.is(tracker.state(130, 1, 1).throttled, 0);
  t.is(tracker.state(130, 0, 1).etaMs, undefined, 'no ETA without a total');
});

test('ProgressTracker shows the target rate in force: a plan step or an adaptive move changes it', (t) => {
  const tracker = new ProgressTracker({ targetRatePerSec: 10, startMs: 0 });
  t.is(tracker.state(0, 0, 0).targetRatePerSec, 10);
  tracker.observe({ type: 'limits', atMs: 1000, ratePerSec: 50, burst: 1, concurrency: 4, reason: 'plan: 50/s@1m' });
  t.is(tracker.state(1000, 0, 0).targetRatePerSec, 50);
});

test('ProgressTracker ETA: recent completions, else the run average, else unknown; 0 when all are done', (t) => {
  const tracker = new ProgressTracker({ total: 4, targetRatePerSec: 1, startMs: 0 });
  t.is(tracker.state(1000, 0, 0).etaMs, undefined);
  tracker.observe(done(0, 'ok', 1000));
  t.is(tracker.state(2000, 0, 0).etaMs, 3 * 2000, 'one done in the last 2 s');
  t.is(tracker.state(20_000, 0, 0).etaMs, 3 * 20_000, 'none in the window: one done in 20 s');
  for (let i = 1; i < 4; i++) tracker.observe(done(i, 'ok', 20_000));
  t.is(tracker.state(20_000, 0, 0).etaMs, 0);
});

// --- formatting -------------------------------------------------------------------------------------------

const base: ProgressState = {
  total: 1000,
  done: 120,
  failed: 0,
  retried: 0,
  inFlight: 4,
  throttled: 12,
  ratePerSec: 98.5,
  targetRatePerSec: 100,
  elapsedMs: 12_300,
  etaMs: 8_930,
};

test('formatProgressLine with a known total: bar, count, percentage, rate, in flight, throttled, ETA', (t) => {
  t.is(
    formatProgressLine(base, undefined, 100),
    `${'█'.repeat(4)}${'░'.repeat(26)} 120/1000 12%  98.5/s of 100/s  4 in flight  12 throttled  ETA 9s`,
  );
  t.is(
    formatProgressLine({ ...base, retried: 3, failed: 1, etaMs: undefined }, undefined, 200),
    `${'█'.repeat(4)}${'░'.repeat(26)} 120/1000 12%  98.5/s of 100/s  4 in flight  12 throttled  3 retried  1 failed  ETA --`,
  );
  t.is(formatProgressLine({ ...base, done: 1000, etaMs: 0 }, undefined, 200).slice(0, 31), `${'█'.repeat(30)} `);
  t.regex(formatProgressLine({ ...base, total: 0, done: 0 }, undefined, 200), /^█{30} 0\/0 100% /);
});

test('formatProgressLine with an unknown total: a count and elapsed time, no bar, no ETA; inf target', (t) => {
  t.is(
    formatProgressLine({ ...base, total: undefined, etaMs: undefined, targetRatePerSec: Infinity, elapsedMs: 185_900 }, undefined, 200),
    '120 done in 3m05s  98.5/s of inf  4 in flight  12 throttled',
  );
});

test('formatProgressLine fits a narrow terminal: bar first, then the least useful parts', (t) => {
  const s: ProgressState = { ...base, retried: 3, failed: 1 };
  const full = ' 120/1000 12%  98.5/s of 100/s  4 in flight  12 throttled  3 retried  1 failed  ETA 9s';
  t.is(formatProgressLine(s, undefined, full.length + 11).length, full.length + 10, 'room for the shortest bar');
  t.is(formatProgressLine(s, undefined, full.length + 10), full.slice(1), 'not enough room for a bar');
  t.is(formatProgressLine(s, undefined, 62), '120/1000 12%  98.5/s of 100/s  4 in flight  1 failed  ETA 9s');
  t.is(formatProgressLine(s, undefined, 60), `█${'░'.repeat(10)} 120/1000 12%  98.5/s of 100/s  1 failed  ETA 9s`, 'room left for a bar');
  t.is(formatProgressLine(s, undefined, 31), '120/1000 12%  1 failed  ETA 9s');
  t.is(formatProgressLine(s, undefined, 30), '120/1000 12%  1 failed');
  t.is(formatProgressLine(s, undefined, 10), '120/1000 12%', 'the count always stays');
  for (const columns of [40, 80, 120]) t.true(formatProgressLine(s, undefined, columns).length < columns);
});

test('formatProgressLine paints the bar, retried and failed', (t) => {
  const tag = (name: string) => (text: string) => `<${name}>${text}</${name}>`;
  const paint = { ok: tag('ok'), bad: tag('bad'), warn: tag('warn'), dim: tag('dim'), bold: tag('bold') };
  const line = formatProgressLine({ ...base, retried: 3, failed: 1 }, paint, 200);
  t.true(line.startsWith(`<ok>████</ok><dim>${'░'.repeat(26)}</dim> 120/1000 12%`));
  t.true(line.includes('<warn>3 retried</warn>  <bad>1 failed</bad>'));
});

test('formatSpan renders seconds, minutes and hours', (t) => {
  t.is(formatSpan(0), '0s');
  t.is(formatSpan(59.9), '59s');
  t.is(formatSpan(60), '1m00s');
  t.is(formatSpan(3599), '59m59s');
  t.is(formatSpan(3600 * 2 + 3 * 60 + 7), '2h03m');
});

// --- the bar ------------------------------------------------------------------------------------------------

test('startProgress draws on the stream, follows events, erases itself on stop and leaves no timer', (t) => {
  const stream = fakeStream(true, { columns: 120 });
  const scheduler = { events: new Events(), running: 0, active: 0 };
  const clock = new ManualClock(5000);
  const timersBefore = activeTimeouts();

  const progress = startProgress({ stream, scheduler, total: 3, targetRatePerSec: 2, clock });
  t.true(scheduler.events.active, 'subscribed');
  t.is(activeTimeouts(), timersBefore + 1, 'the redraw timer');
  const first = stream.chunks.join('');
  t.true(first.includes('0/3 0%  0.00/s of 2.00/s  0 in flight  0 throttled  ETA --'), first);
  t.false(first.includes('\x1B7'), 'no cursor save');

  for (let i = 0; i < 3; i++) scheduler.events.emit(started(i, 5000 + i * 100));
  clock.advance(1000);
  for (let i = 0; i < 3; i++) scheduler.events.emit(done(i, i === 2 ? 'failed' : 'ok', 6000));
  stream.chunks.length = 0;
  progress.stop();
  const last = stream.chunks.join('');
  t.true(last.includes('3/3 100%  3.00/s of 2.00/s  0 in flight  0 throttled  1 failed  ETA 0s'), last);
  t.true(last.endsWith('\x1B[1G\x1B[2K'), 'the line is erased, the cursor at its start');
  t.false(last.includes('\x1B8'), 'no cursor restore');
  t.false(last.includes('\n'));

  t.false(scheduler.events.active, 'unsubscribed');
  t.is(activeTimeouts(), timersBefore, 'no timer left');
  stream.chunks.length = 0;
  progress.stop();
  t.deepEqual(stream.chunks, [], 'stop again does nothing');
});

test('startProgress without a total shows a count, and colours when given a paint', (t) => {
  const stream = fakeStream(true, { columns: 100 });
  const scheduler = { events: new Events(), running: 2, active: 5 };
  const clock = new ManualClock();
  const paint = paintFor(stream, { FORCE_COLOR: '1' });
  const progress = startProgress({ stream, scheduler, targetRatePerSec: Infinity, clock, paint });
  scheduler.events.emit(done(0, 'failed', 0));
  clock.advance(2000);
  stream.chunks.length = 0;
  progress.stop();
  const last = stream.chunks.join('');
  t.true(last.includes('1 done in 2s  0.00/s of inf  2 in flight  3 throttled  \x1B[31m1 failed\x1B[39m'), last);
  t.false(last.includes('ETA'));
});
