import { UsageError } from '../../errors.js';
import type { TraceEvents } from './arrange.js';
import { BatchedIterator } from './batched.js';
import { TraceError, type TraceEvent } from './event.js';
import type { MakeFromEvent, ReadTraceOptions, TraceSource } from './read.js';
import { newReader, takeReaderAhead } from './reader-start.js';
import { type PackedEvents, unpackEvents, unpackWith } from './rows.js';
import type { ReaderData, ReaderMessage, ReplayMessage } from './thread-protocol.js';

/**
 * AHEAD: batches (of a few hundred events) the reading thread may run ahead: memory stays bounded (some ten
 * thousand events), and the replay has some 10 ms of events in hand when the reading thread, which yields
 * its core to it, must wait for one.
 */
const AHEAD = 32;

/** CREDIT: batches taken before the reading thread is told (a message per batch would cost more than it says). */
const CREDIT = AHEAD / 4;

/**
 * readTraceThreaded is readTrace for a file, done on a thread of its own: reading and parsing a long trace
 * then runs beside the replay instead of taking turns with it (on two cores, a million-event simulation
 * spends about a quarter of its time parsing). The events, the format, and every error (with its file and
 * line) are readTrace's own; the thread reads at most a few thousand events ahead.
 */
export async function readTraceThreaded(path: string, name: string, options: ReadTraceOptions = {}): Promise<TraceSource> {
  const data: ReaderData = { path, name, options, ahead: AHEAD };
  const started = takeReaderAhead();
  const worker = started ?? newReader(data);
  if (started !== undefined) started.postMessage({ type: 'read', data } satisfies ReplayMessage);
  // The thread keeps the process alive only while this one waits for it: a source left unread (a run
  // that ended on a usage error, say) lets the process end.
  worker.unref();
  const inbox: ReaderMessage[] = [];
  let waiting: ((m: ReaderMessage) => void) | undefined;
  let exited = false;
  const deliver = (m: ReaderMessage): void => {
    const w = waiting;
    waiting = undefined;
    if (w === undefined) inbox.push(m);
    else {
      worker.unref();
      w(m);
    }
  };
  worker.on('message', deliver);
  worker.on('error', (err) => deliver({ type: 'error', message: `reading ${name}: ${err.message}`, usage: false }));
  worker.on('exit', () => {
    exited = true;
    deliver({ type: 'error', message: `reading ${name}: the reading thread ended early`, usage: false });
  });
  const receive = (): Promise<ReaderMessage> => {
    const m = inbox.shift();
    if (m !== undefined) return Promise.resolve(m);
    if (!exited) worker.ref();
    return new Promise((resolve) => (waiting = resolve));
  };
  const send = (m: ReplayMessage): void => {
    if (!exited) worker.postMessage(m);
  };
  const finish = async (): Promise<void> => {
    if (!exited) await worker.terminate();
  };

  const head = await receive();
  if (head.type !== 'head') {
    await finish();
    throw errorOf(head);
  }
  let done = false;
  let taken = 0;
  /** batches makes a BatchedIterator of what `unpack` makes of the posted batches. */
  const batches = <T>(unpack: (m: PackedEvents, out: T[]) => void): BatchedIterator<T> =>
    new BatchedIterator<T>(
      async (out) => {
        if (done) return false;
        const m = await receive();
        if (m.type === 'batch') {
          if (++taken === CREDIT) {
            send({ type: 'taken', batches: taken });
            taken = 0;
          }
          unpack(m, out);
          return true;
        }
        done = true;
        await finish();
        if (m.type === 'end') return false;
        throw errorOf(m);
      },
      async () => {
        send({ type: 'stop' });
        await finish();
      },
    );
  const events: TraceEvents = batches<TraceEvent>(unpackEvents);
  const mapEvents = <T>(make: MakeFromEvent<T>): BatchedIterator<T> => batches<T>((m, out) => unpackWith(m, out, make));
  return { format: head.format, timed: head.timed, events, mapEvents };
}

/** errorOf rebuilds the reader's error: a TraceError names its file and line, other bad input is a UsageError. */
function errorOf(m: ReaderMessage): Error {
  if (m.type !== 'error') return new Error(`the reading thread sent ${m.type} out of turn`);
  if (m.file !== undefined && m.line !== undefined) {
    const prefix = `${m.file}:${m.line}: `;
    return new TraceError(m.file, m.line, m.message.startsWith(prefix) ? m.message.slice(prefix.length) : m.message);
  }
  return m.usage ? new UsageError(m.message) : new Error(m.message);
}
