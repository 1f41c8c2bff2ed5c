import { Worker } from 'node:worker_threads';
import type { ReaderData } from './thread-protocol.js';

/**
 * THROTTLE_READER_FILE is set by the bundler (scripts/bundle.js) to the bundled thread's file, a CommonJS
 * one: a thread starts some 5 ms sooner on it than on an ES module. Unbundled, it is not defined.
 */
declare const THROTTLE_READER_FILE: string | undefined;

/** READER is the body of a trace-reading thread. */
const READER = new URL(typeof THROTTLE_READER_FILE === 'string' ? THROTTLE_READER_FILE : './reader-thread.js', import.meta.url);

/** newReader starts a trace-reading thread; without `data` it waits to be told what to read (a `read` message). */
export function newReader(data: ReaderData | null): Worker {
  // The thread needs none of the process's node flags (some, like --input-type, would even stop it).
  return new Worker(READER, { workerData: data, execArgv: [] });
}

/** ahead is the reading thread started ahead, and whether it still runs. */
let ahead: { readonly worker: Worker; alive: boolean } | undefined;

/**
 * startReaderAhead starts a trace-reading thread before it is known what it will read: the thread takes
 * some 40 ms to start, which then passes while the rest of the program loads. The next readTraceThreaded
 * takes it; left untaken, it keeps nothing alive and ends with the process. (A module of its own, with
 * nothing else to load: the command line starts the thread before it loads anything more.)
 */
export function startReaderAhead(): void {
  if (ahead !== undefined) return;
  const started = { worker: newReader(null), alive: true };
  started.worker.unref();
  // A thread that failed before it was taken is not taken: readTraceThreaded starts one of its own.
  started.worker.on('error', () => (started.alive = false));
  started.worker.on('exit', () => (started.alive = false));
  ahead = started;
}

/** takeReaderAhead hands over the thread startReaderAhead started, if it still runs. */
export function takeReaderAhead(): Worker | undefined {
  const taken = ahead;
  ahead = undefined;
  return taken?.alive === true ? taken.worker : undefined;
}
