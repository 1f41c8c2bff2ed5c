import test from 'ava';
import { createReadStream, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TraceError, type TraceEvent } from '../src/sources/trace/event.js';
import { readTrace, type ReadTraceOptions, type TraceSource } from '../src/sources/trace/read.js';
import { readTraceThreaded } from '../src/sources/trace/threaded.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/traces/', import.meta.url));

/** drain reads every event, and the error that ended the reading if one did. */
async function drain(source: TraceSource): Promise<{ events: TraceEvent[]; error: string | undefined }> {
  const events: TraceEvent[] = [];
  try {
    for await (const e of source.events) events.push(e);
  } catch (err) {
    return { events, error: `${(err as Error).constructor.name}: ${(err as Error).message}` };
  }
  return { events, error: undefined };
}

async function both(path: string, options: ReadTraceOptions = {}) {
  const here = await readTrace(createReadStream(path), path, options);
  const there = await readTraceThreaded(path, path, options);
  return { here: { format: here.format, timed: here.timed, ...(await drain(here)) }, there: { format: there.format, timed: there.timed, ...(await drain(there)) } };
}

test('every trace fixture reads the same on a thread of its own: format, timing, events, errors', async (t) => {
  const files = readdirSync(FIXTURES).filter((f) => !f.startsWith('.'));
  t.true(files.length >= 8);
  for (const f of files) {
    const { here, there } = await both(join(FIXTURES, f));
    t.deepEqual(there, here, f);
  }
});

test('a bad line far into a long trace: the events before it, then the TraceError naming file and line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'throttle-threaded-'));
  const path = join(dir, 'long.jsonl');
  const good = Array.from({ length: 5000 }, (_, i) => `{"t":${i / 1000},"key":"k${i % 7}","duration":0.01,"status":${i % 3 === 0 ? 503 : 0}}`);
  writeFileSync(path, `${good.join('\n')}\n{"t":"soon"}\n${good.slice(0, 10).join('\n')}\n`);
  const { here, there } = await both(path);
  t.is(there.events.length, 5000);
  t.deepEqual(there, here);
  const again = await readTraceThreaded(path, 'long.jsonl');
  try {
    for await (const _ of again.events);
    t.fail('no error');
  } catch (e) {
    t.true(e instanceof TraceError);
    t.is((e as TraceError).line, 5001);
    t.regex((e as TraceError).message, /^long\.jsonl:5001: /);
  }
});

test('a reader stopped early lets go of its thread, and a file that is not a trace fails before any event', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'throttle-threaded-'));
  const path = join(dir, 'many.jsonl');
  writeFileSync(path, Array.from({ length: 100_000 }, (_, i) => `{"t":${i / 1000}}\n`).join(''));
  const source = await readTraceThreaded(path, path);
  let n = 0;
  for await (const _ of source.events) if (++n === 1000) break;
  t.is(n, 1000);
  const bad = join(dir, 'bad.txt');
  writeFileSync(bad, '\u0001\u0002 not a trace\n');
  await t.throwsAsync(readTraceThreaded(bad, 'bad.txt'), { instanceOf: TraceError, message: /^bad\.txt:1: cannot tell the trace format/ });
  await t.throwsAsync(readTraceThreaded(join(dir, 'missing.jsonl'), 'missing.jsonl'), { message: /ENOENT/ });
});

test('mapEvents hands each event over as its key and numbers (NaN: not given), errors in place', async (t) => {
  const files = readdirSync(FIXTURES).filter((f) => !f.startsWith('.'));
  for (const f of files) {
    const path = join(FIXTURES, f);
    const { events, error } = await drain(await readTrace(createReadStream(path), path));
    const there = await readTraceThreaded(path, path);
    const mapped: Array<[string, number, number, number, number]> = [];
    let mappedError: string | undefined;
    try {
      for await (const m of there.mapEvents!((key, tMs, tokens, serviceMs, status) => [key, tMs, tokens, serviceMs, status] as [string, number, number, number, number])) mapped.push(m);
    } catch (err) {
      mappedError = `${(err as Error).constructor.name}: ${(err as Error).message}`;
    }
    t.deepEqual(mapped, events.map((e) => [e.key, e.tMs ?? NaN, e.tokens ?? NaN, e.serviceMs ?? NaN, e.status ?? NaN]), f);
    t.is(mappedError, error, f);
  }
});

test('mapEvents: when making an event throws, the events made before it come first, then the error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'throttle-threaded-'));
  const path = join(dir, 'many.jsonl');
  writeFileSync(path, Array.from({ length: 50_000 }, (_, i) => `{"t":${i / 1000},"key":"k${i}"}\n`).join(''));
  const source = await readTraceThreaded(path, path);
  const made: string[] = [];
  let error: string | undefined;
  try {
    for await (const key of source.mapEvents!((key) => {
      if (key === 'k30000') throw new RangeError('no k30000');
      return key;
    })) made.push(key);
  } catch (err) {
    error = (err as Error).message;
  }
  t.is(error, 'no k30000');
  t.is(made.length, 30_000);
  t.deepEqual(made.slice(-2), ['k29998', 'k29999']);
});

/**
 * niceOf reads a thread's nice value (Linux: field 19 of /proc/self/task/<tid>/stat, counted after the name);
 * NaN for a thread that ended since it was listed.
 */
function niceOf(tid: string | number): number {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
  } catch {
    return NaN;
  }
}

// Serial: it runs before the other tests of this file, whose reading threads would be counted too.
test.serial('the reading thread yields its core to the replay: on Linux its own priority is lowered (nice 10), the process keeps its own', async (t) => {
  if (process.platform !== 'linux') return t.pass('thread priorities are per thread on Linux only');
  const threads = (): string[] => readdirSync('/proc/self/task');
  const main = niceOf(process.pid);
  t.deepEqual(threads().filter((tid) => niceOf(tid) === 10), []);
  const source = await readTraceThreaded(join(FIXTURES, 'basic.jsonl'), 'basic.jsonl');
  // The thread lowered its priority before it read anything: it is there while the source is open.
  t.is(threads().filter((tid) => niceOf(tid) === 10).length, 1);
  t.is(niceOf(process.pid), main);
  t.true((await drain(source)).events.length > 0);
});
