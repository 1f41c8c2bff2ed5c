import { Writable } from 'node:stream';
import test from 'ava';
import fc from 'fast-check';
import { OutputRouter, type StreamName } from '../src/cli/output.js';

// --- in-memory destinations ---------------------------------------------------------------------------------

/** Sink collects every chunk written to it, as it was written (one write = one chunk). */
class Sink extends Writable {
  readonly chunks: string[] = [];

  constructor(highWaterMark = 16_384) {
    super({ highWaterMark, decodeStrings: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk.toString('utf8'));
    callback();
  }

  get text(): string {
    return this.chunks.join('');
  }
}

/**
 * SlowSink takes writes but completes none until `release()`: with a small highWaterMark its `write`
 * returns false (back-pressure) and it emits 'drain' once released.
 */
class SlowSink extends Sink {
  readonly #pending: Array<() => void> = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk.toString('utf8'));
    this.#pending.push(() => callback());
  }

  /** release completes the write in progress (a Writable hands over one chunk at a time). */
  release(): void {
    while (this.#pending.length > 0) this.#pending.shift()!();
  }
}

/** BrokenSink fails every write with EPIPE, like stdout piped into `head` after head exited. */
class BrokenSink extends Sink {
  writes = 0;

  override _write(_chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writes++;
    callback(epipe());
  }
}

function epipe(): NodeJS.ErrnoException {
  return Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' });
}

function router(o: { keepOrder?: boolean; tag?: boolean; stdout?: Writable; stderr?: Writable } = {}) {
  const stdout = o.stdout ?? new Sink();
  const stderr = o.stderr ?? new Sink();
  const r = new OutputRouter({ stdout, stderr, keepOrder: o.keepOrder ?? false, tag: o.tag ?? false });
  return { r, stdout: stdout as Sink, stderr: stderr as Sink };
}

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

/** tick lets queued stream callbacks and events ('error', 'drain') run. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// --- line by line -------------------------------------------------------------------------------------------

test('complete lines go out at once, in one write; a partial line waits for its newline', (t) => {
  const { r, stdout } = router();
  r.expect(0, 'a');
  const out = r.job(0);
  t.true(out.write('stdout', b('one\ntw')));
  t.deepEqual(stdout.chunks, ['one\n']);
  out.write('stdout', b('o'));
  t.deepEqual(stdout.chunks, ['one\n'], 'no newline yet: nothing more');
  out.write('stdout', b('\nthree\nfour\n'));
  t.deepEqual(stdout.chunks, ['one\n', 'two\nthree\nfour\n']);
});

test('two jobs writing interleaved partial chunks never mix inside a line', (t) => {
  const { r, stdout } = router();
  r.expect(0, 'a');
  r.expect(1, 'b');
  const [a, c] = [r.job(0), r.job(1)];
  a.write('stdout', b('hel'));
  c.write('stdout', b('wor'));
  a.write('stdout', b('lo\nhel'));
  c.write('stdout', b('ld\nwor'));
  c.write('stdout', b('ld\n'));
  a.write('stdout', b('lo\n'));
  t.deepEqual(stdout.chunks, ['hello\n', 'world\n', 'world\n', 'hello\n']);
});

test('stdout and stderr of one job are routed to their own destination, each line-buffered', (t) => {
  const { r, stdout, stderr } = router();
  r.expect(0, 'a');
  const out = r.job(0);
  out.write('stdout', b('out'));
  out.write('stderr', b('err\npart'));
  out.write('stdout', b('put\n'));
  t.deepEqual(stdout.chunks, ['output\n']);
  t.deepEqual(stderr.chunks, ['err\n']);
  r.finish(0);
  t.deepEqual(stderr.chunks, ['err\n', 'part\n']);
});

test('closeAttempt completes a final partial line with "\\n", on both streams', (t) => {
  const { r, stdout, stderr } = router();
  r.expect(0, 'a');
  const out = r.job(0);
  out.write('stdout', b('no newline'));
  out.write('stderr', b('warn'));
  t.deepEqual(stdout.chunks, []);
  out.closeAttempt();
  t.deepEqual(stdout.chunks, ['no newline\n']);
  t.deepEqual(stderr.chunks, ['warn\n']);
  out.closeAttempt();
  t.deepEqual(stdout.chunks, ['no newline\n'], 'a second close adds nothing');
});

test('output ending with a newline gets no extra one at closeAttempt or finish', (t) => {
  const { r, stdout } = router();
  r.expect(0, 'a');
  r.job(0).write('stdout', b('done\n'));
  r.job(0).closeAttempt();
  r.finish(0);
  t.is(stdout.text, 'done\n');
});

test('finish closes the last attempt (a partial line is completed)', (t) => {
  const { r, stdout } = router();
  r.expect(3, 'x');
  r.job(3).write('stdout', b('tail'));
  r.finish(3);
  t.is(stdout.text, 'tail\n');
});

test('a multi-byte character split across chunks stays whole', (t) => {
  const { r, stdout } = router();
  r.expect(0, 'a');
  const bytes = b('café ☕\n');
  r.job(0).write('stdout', bytes.subarray(0, 4)); // "caf" + first byte of "é"
  r.job(0).write('stdout', bytes.subarray(4, 8)); // rest of "é", " ", first byte of "☕"
  r.job(0).write('stdout', bytes.subarray(8));
  t.deepEqual(stdout.chunks, ['café ☕\n']);
});

test('bytes counts what the job wrote to stdout only, prefix and added newline excluded', (t) => {
  const { r } = router({ tag: true });
  r.expect(0, 'key');
  const out = r.job(0);
  out.write('stdout', b('abc\nde'));
  out.write('stderr', b('ignored\n'));
  out.write('stdout', b('é'));
  out.closeAttempt();
  t.is(out.bytes, 6 + 2);
});

test('finish of an unknown job is ignored; job() of an unregistered one is a bug', (t) => {
  const { r } = router();
  t.notThrows(() => r.finish(42));
  t.throws(() => r.job(42), { message: 'output of job 42 was never registered (a bug)' });
});

test('beforeWrite runs before each write to a destination', (t) => {
  const { r, stdout } = router();
  const log: string[] = [];
  r.beforeWrite = () => log.push(`before(${stdout.chunks.length})`);
  r.expect(0, 'a');
  r.job(0).write('stdout', b('partial'));
  t.deepEqual(log, [], 'nothing written, nothing cleared');
  r.job(0).write('stdout', b('\nmore\n'));
  r.write('stderr', 'direct\n');
  t.deepEqual(log, ['before(0)', 'before(1)']);
});

test('property: with any chunking and interleaving, every write is whole lines of one job, in order', (t) => {
  const line = fc.string({ unit: fc.constantFrom('a', 'b', 'é', ' ', '\t'), maxLength: 6 });
  const job = fc.record({
    lines: fc.array(line, { minLength: 1, maxLength: 5 }),
    trailingNewline: fc.boolean(),
    cuts: fc.array(fc.nat(), { maxLength: 6 }),
  });
  fc.assert(
    fc.property(fc.array(job, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 40 }), fc.boolean(), (jobs, schedule, tag) => {
      const { r, stdout } = router({ tag });
      // Each job's output, and its bytes cut into chunks at arbitrary (possibly mid-character) offsets.
      const texts = jobs.map((j, i) => j.lines.map((l) => `${i}:${l}`).join('\n') + (j.trailingNewline ? '\n' : ''));
      const queues = texts.map((text, i) => {
        const bytes = b(text);
        const cuts = [...new Set(jobs[i]!.cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        const chunks: Buffer[] = [];
        let from = 0;
        for (const c of [...cuts, bytes.length]) {
          if (c > from) chunks.push(bytes.subarray(from, c));
          from = Math.max(from, c);
        }
        return chunks;
      });
      jobs.forEach((_, i) => r.expect(i, `key${i}`));
      // Interleave writes as the schedule says, then drain what is left, finishing jobs as they run dry.
      const pick = [...schedule, ...queues.flatMap((q, i) => q.map(() => i))];
      for (const p of pick) {
        const i = p % queues.length;
        const chunk = queues[i]!.shift();
        if (chunk !== undefined) r.job(i).write('stdout', chunk);
      }
      jobs.forEach((_, i) => r.finish(i));

      const perJob = texts.map(() => '');
      for (const chunk of stdout.chunks) {
        if (!chunk.endsWith('\n')) return false; // a write ended inside a line
        const owners = new Set(
          chunk.slice(0, -1).split('\n').map((l) => (tag ? l.slice(0, l.indexOf('\t')) : l.slice(0, l.indexOf(':')))),
        );
        if (owners.size !== 1) return false; // a write held lines of two jobs
        const owner = [...owners][0]!;
        const i = Number(tag ? owner.slice(3) : owner);
        perJob[i] += tag ? chunk.replace(new RegExp(`^key${i}\\t`, 'gm'), '') : chunk;
      }
      return texts.every((text, i) => perJob[i] === (text.endsWith('\n') ? text : `${text}\n`));
    }),
    { numRuns: 300 },
  );
  t.pass();
});

// --- keep order ---------------------------------------------------------------------------------------------

test('keepOrder prints whole outputs in arrival order, even when jobs finish out of order', (t) => {
  const { r, stdout, stderr } = router({ keepOrder: true });
  for (const seq of [0, 1, 2]) r.expect(seq, `k${seq}`);
  r.job(2).write('stdout', b('two\n'));
  r.job(1).write('stdout', b('one-a\n'));
  r.job(0).write('stdout', b('zero'));
  r.job(1).write('stderr', b('one-err\n'));
  r.job(1).write('stdout', b('one-b'));
  r.finish(2);
  r.finish(1);
  t.deepEqual(stdout.chunks, [], 'job 0 is not done: nothing is printed');
  t.deepEqual(stderr.chunks, []);
  r.finish(0);
  t.is(stdout.text, 'zero\none-a\none-b\ntwo\n');
  t.deepEqual(stderr.chunks, ['one-err\n']);
});

test('keepOrder: gaps in the seqs (jobs skipped by --resume) do not block the order', (t) => {
  const { r, stdout } = router({ keepOrder: true });
  for (const seq of [0, 5, 9]) r.expect(seq, String(seq));
  r.job(9).write('stdout', b('nine\n'));
  r.finish(9);
  r.job(0).write('stdout', b('zero\n'));
  r.finish(0);
  t.is(stdout.text, 'zero\n');
  r.job(5).write('stdout', b('five\n'));
  r.finish(5);
  t.is(stdout.text, 'zero\nfive\nnine\n');
});

test('keepOrder holds every attempt of a retried job and prints them together', (t) => {
  const { r, stdout } = router({ keepOrder: true });
  r.expect(0, 'a');
  r.expect(1, 'b');
  r.job(0).write('stdout', b('attempt 1 fails'));
  r.job(0).closeAttempt();
  r.job(1).write('stdout', b('b\n'));
  r.finish(1);
  r.job(0).write('stdout', b('attempt 2 ok\n'));
  r.finish(0);
  t.is(stdout.text, 'attempt 1 fails\nattempt 2 ok\nb\n');
});

test('keepOrder with a job that printed nothing', (t) => {
  const { r, stdout } = router({ keepOrder: true });
  r.expect(0, 'silent');
  r.expect(1, 'loud');
  r.job(1).write('stdout', b('loud\n'));
  r.finish(1);
  r.finish(0);
  t.is(stdout.text, 'loud\n');
});

test('keepOrder keeps order across many jobs finished in reverse (compaction of the order list)', (t) => {
  const { r, stdout } = router({ keepOrder: true });
  const n = 3000;
  for (let seq = 0; seq < n; seq++) r.expect(seq, String(seq));
  for (let seq = n - 1; seq >= 1; seq--) {
    r.job(seq).write('stdout', b(`${seq}\n`));
    r.finish(seq);
  }
  t.is(stdout.text, '');
  r.finish(0);
  // More jobs after the head moved past the compaction threshold.
  for (let seq = n; seq < n + 3; seq++) r.expect(seq, String(seq));
  r.job(n + 2).write('stdout', b('last\n'));
  r.finish(n + 2);
  r.job(n).write('stdout', b('first\n'));
  r.finish(n);
  r.finish(n + 1);
  const lines = stdout.text.split('\n');
  t.is(lines.length, n - 1 + 2 + 1);
  t.deepEqual(lines.slice(0, 3), ['1', '2', '3']);
  t.deepEqual(lines.slice(-4), [String(n - 1), 'first', 'last', '']);
});

// --- tag ----------------------------------------------------------------------------------------------------

test('tag prefixes every line with the key and a tab, the completed last line too', (t) => {
  const { r, stdout, stderr } = router({ tag: true });
  r.expect(0, 'host-1');
  const out = r.job(0);
  out.write('stdout', b('a\nb\nc'));
  out.write('stderr', b('oops\n'));
  r.finish(0);
  t.is(stdout.text, 'host-1\ta\nhost-1\tb\nhost-1\tc\n');
  t.is(stderr.text, 'host-1\toops\n');
});

test('tag: tabs and newlines in the key become spaces, so a tagged line stays one line', (t) => {
  const { r, stdout } = router({ tag: true });
  r.expect(0, 'a\tb\nc');
  r.job(0).write('stdout', b('x\n\n'));
  t.is(stdout.text, 'a b c\tx\na b c\t\n');
});

test('tag with keepOrder', (t) => {
  const { r, stdout } = router({ tag: true, keepOrder: true });
  r.expect(0, 'first');
  r.expect(1, 'second');
  r.job(1).write('stdout', b('2'));
  r.finish(1);
  r.job(0).write('stdout', b('1\n'));
  r.finish(0);
  t.is(stdout.text, 'first\t1\nsecond\t2\n');
});

// --- back-pressure ------------------------------------------------------------------------------------------

test('a full destination makes write return false; onDrain calls back once it drains', async (t) => {
  const stdout = new SlowSink(4);
  const { r } = router({ stdout });
  r.expect(0, 'a');
  const out = r.job(0);
  t.true(out.write('stdout', b('no newline yet')), 'nothing written: not full');
  t.false(out.write('stdout', b('\n')), 'the line exceeds the high-water mark');
  let drained = 0;
  r.onDrain('stdout', () => drained++);
  await tick();
  t.is(drained, 0, 'still full');
  stdout.release();
  await tick();
  t.is(drained, 1);
  stdout.release();
  await tick();
  t.is(drained, 1, 'onDrain calls back once');
  t.is(stdout.text, 'no newline yet\n');
});

test('many jobs paused on one destination are all released by one drain, behind one listener', async (t) => {
  const stdout = new SlowSink(1);
  const { r } = router({ stdout });
  const released: number[] = [];
  for (let seq = 0; seq < 20; seq++) {
    r.expect(seq, String(seq));
    t.false(r.job(seq).write('stdout', b(`${seq}\n`)));
    r.onDrain('stdout', () => released.push(seq));
  }
  // Twenty once('drain') listeners would print MaxListenersExceededWarning (the e2e tests fail on warnings).
  t.is(stdout.listenerCount('drain'), 1);
  stdout.release();
  await tick();
  t.deepEqual(released, [...Array(20).keys()]);
});

test('back-pressure on stderr is reported for stderr', async (t) => {
  const stderr = new SlowSink(2);
  const { r, stdout } = router({ stderr });
  r.expect(0, 'a');
  t.true(r.job(0).write('stdout', b('fine\n')));
  t.false(r.job(0).write('stderr', b('slow\n')));
  let drained = false;
  r.onDrain('stderr', () => (drained = true));
  stderr.release();
  await tick();
  t.true(drained);
  t.is(stdout.text, 'fine\n');
});

test('keepOrder: holding output never reports back-pressure', (t) => {
  const stdout = new SlowSink(1);
  const { r } = router({ stdout, keepOrder: true });
  r.expect(0, 'a');
  r.expect(1, 'b');
  t.true(r.job(1).write('stdout', b('x'.repeat(100) + '\n')));
  t.true(r.job(1).write('stdout', b('y\n')));
});

// --- broken pipe --------------------------------------------------------------------------------------------

test('EPIPE: onBrokenPipe runs once (both streams broken), later writes are dropped', async (t) => {
  const stdout = new BrokenSink();
  const stderr = new BrokenSink();
  const { r } = router({ stdout, stderr });
  let calls = 0;
  r.onBrokenPipe = () => calls++;
  r.expect(0, 'a');
  r.job(0).write('stdout', b('first\n'));
  r.job(0).write('stderr', b('err\n'));
  await tick();
  t.true(r.broken);
  t.is(calls, 1);
  const [outWrites, errWrites] = [stdout.writes, stderr.writes];
  t.true(r.job(0).write('stdout', b('dropped\n')), 'a dropped write never reports back-pressure');
  t.true(r.write('stderr', 'dropped too\n'));
  r.job(0).write('stdout', b('partial'));
  r.finish(0);
  await tick();
  t.is(stdout.writes, outWrites, 'nothing reaches stdout after the break');
  t.is(stderr.writes, errWrites);
  t.is(calls, 1);
});

test('EPIPE: a write racing the error (stream already destroyed) is not an uncaught error', async (t) => {
  const stdout = new BrokenSink();
  const { r } = router({ stdout });
  let calls = 0;
  r.onBrokenPipe = () => calls++;
  r.write('stdout', 'a\n');
  r.write('stdout', 'b\n'); // before the 'error' event was delivered
  await tick();
  await tick();
  t.is(calls, 1);
  t.true(r.broken);
});

test('after a broken pipe, onDrain calls back at once', async (t) => {
  const { r, stdout } = router({ stdout: new BrokenSink() });
  r.write('stdout', 'x\n');
  await tick();
  t.true(r.broken);
  let drained = false;
  r.onDrain('stdout', () => (drained = true));
  t.true(drained);
  t.is(stdout.chunks.length, 0);
});

test('a writer waiting for drain is released when the pipe breaks (a broken pipe never drains)', async (t) => {
  const stdout = new SlowSink(2);
  const { r } = router({ stdout });
  r.onBrokenPipe = () => undefined;
  r.expect(0, 'a');
  t.false(r.job(0).write('stdout', b('full\n')));
  let released = 0;
  r.onDrain('stdout', () => released++);
  stdout.destroy(epipe());
  await tick();
  t.true(r.broken);
  t.is(released, 1, 'the paused child stream must be resumed, or the job never ends');
});

test('an error other than EPIPE on a destination is not swallowed', (t) => {
  const { stdout } = router();
  const err = Object.assign(new Error('disk full'), { code: 'ENOSPC' });
  t.throws(() => stdout.emit('error', err), { is: err });
});

test('the router writes to the stream named', (t) => {
  const { r, stdout, stderr } = router();
  for (const [name, text] of [['stdout', 'o\n'], ['stderr', 'e\n']] as Array<[StreamName, string]>) r.write(name, text);
  t.is(stdout.text, 'o\n');
  t.is(stderr.text, 'e\n');
});
