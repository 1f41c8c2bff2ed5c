import { createReadStream } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { UsageError } from '../../errors.js';
import { TraceError } from './event.js';
import { readTrace } from './read.js';
import { packRows, type ReaderData, type ReaderMessage, type ReplayMessage } from './thread-protocol.js';

/**
 * The body of a trace-reading thread (see threaded.ts): it reads and parses the trace with readTrace and
 * posts the events in batches, at most `ahead` batches before the replaying thread has taken them.
 */
const port = parentPort!;

/**
 * READER_NICE: how much this thread yields its core. The replay waits for nothing but this thread's
 * batches, and this thread (some batches ahead) for nothing but room; with more busy threads than cores
 * (two cores: the replay, this thread, V8's compilers and collectors), the replaying thread should be the
 * one that runs. On Linux a thread's priority is its own (elsewhere it is the whole process's: left alone).
 */
const READER_NICE = 10;
if (process.platform === 'linux') {
  try {
    setPriority(READER_NICE);
  } catch {
    // Not allowed here (a sandbox): the thread runs at the process's priority, as it would elsewhere.
  }
}

let room = 0;
let wake: (() => void) | undefined;
let stopped = false;
let start: ((data: ReaderData) => void) | undefined;

port.on('message', (m: ReplayMessage) => {
  if (m.type === 'read') return start?.(m.data);
  if (m.type === 'stop') stopped = true;
  else room += m.batches;
  const w = wake;
  wake = undefined;
  w?.();
});

function post(m: ReaderMessage): void {
  port.postMessage(m, m.type === 'batch' ? [m.numbers.buffer as ArrayBuffer, m.keyAt.buffer as ArrayBuffer] : []);
}

/**
 * read reads what it is given (at the start, or, on a thread started ahead, in the first message) and posts
 * it. (A function, not the module's top level: the command line runs this file as CommonJS, which a thread
 * starts sooner.)
 */
async function read(): Promise<void> {
  const data = (workerData as ReaderData | null) ?? (await new Promise<ReaderData>((resolve) => (start = resolve)));
  room = data.ahead;
  try {
    const source = await readTrace(createReadStream(data.path), data.name, data.options);
    post({ type: 'head', format: source.format, timed: source.timed });
    const rows = source.rows;
    for (;;) {
      while (room <= 0 && !stopped) await new Promise<void>((resolve) => (wake = resolve));
      if (stopped) {
        await rows.return();
        break;
      }
      const batch = await rows.nextBatch();
      if (batch === undefined) {
        post({ type: 'end' });
        break;
      }
      // Mostly one batch of rows: a few hundred events, a message (room is counted in messages).
      room -= batch.length;
      for (const r of batch) post(packRows(r));
    }
  } catch (err) {
    const e = err as Error;
    post({ type: 'error', message: e.message, usage: err instanceof UsageError, file: err instanceof TraceError ? err.file : undefined, line: err instanceof TraceError ? err.line : undefined });
  }
  port.close();
}

void read();
