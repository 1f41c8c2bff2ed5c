import { statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { LogFormat } from '../sources/trace/access-log.js';
import type { TraceFormat } from '../sources/trace/event.js';
import type { ReadTraceOptions, TraceSource } from '../sources/trace/read.js';
import { readTraceThreaded, startReaderAhead } from '../sources/trace/threaded.js';
import { openInput } from './input.js';
import type { BenchSettings } from './settings.js';

/** THREADED_READ_BYTES: trace files from this size on are read on a thread of their own (readTraceThreaded). */
const THREADED_READ_BYTES = 1 << 20;

/** readOptionsOf is how the flags say to read the trace. */
function readOptionsOf(s: BenchSettings): ReadTraceOptions {
  return {
    ...(s.format === undefined ? {} : { format: s.format as TraceFormat }),
    ...(s.sort === undefined ? {} : { sort: s.sort }),
    ...(s.sortWindow === undefined ? {} : { sortWindow: s.sortWindow }),
    ...(s.logFormat === undefined ? {} : { logFormat: s.logFormat as LogFormat }),
  };
}

/** isLongFile reports whether the trace is a file long enough to be read on a thread of its own. */
function isLongFile(trace: string): boolean {
  if (trace === '-') return false;
  try {
    return statSync(trace).size >= THREADED_READ_BYTES;
  } catch {
    return false; // openInput says what is wrong with it
  }
}

/**
 * openTrace opens the trace of `throttle bench`: a long file is read and parsed on a thread of its own,
 * beside the replay; a short one, or stdin, on this one.
 */
export function openTrace(s: BenchSettings, stdin: Readable): Promise<TraceSource> {
  const input = openInput(s.trace, 'trace', stdin);
  if (isLongFile(s.trace)) {
    input.destroy();
    return readTraceThreaded(s.trace, s.trace, readOptionsOf(s));
  }
  // (The readers are loaded here, not with this module: a prefetch needs none of them on this thread.)
  return import('../sources/trace/read.js').then(({ readTrace }) => readTrace(input, s.trace === '-' ? 'stdin' : s.trace, readOptionsOf(s)));
}

/**
 * readAhead starts a trace-reading thread at once when `throttle bench`'s arguments name a long file
 * (before the flags are even parsed): it is ready by the time the trace is opened. A guess that is wrong
 * (an argument that is not the trace) costs an idle thread.
 */
export function readAhead(args: readonly string[]): void {
  if (args.some((a) => !a.startsWith('-') && isLongFile(a))) startReaderAhead();
}

/**
 * prefetchTrace starts reading a long trace file on its thread before the replay's code is even loaded (the
 * thread takes some 50 ms to start), or returns undefined when there is no long file to read. What it
 * finds wrong with the trace waits for whoever takes the source: the flags are checked first, as always.
 */
export function prefetchTrace(s: BenchSettings): Promise<TraceSource> | undefined {
  if (!isLongFile(s.trace)) return undefined;
  const source = readTraceThreaded(s.trace, s.trace, readOptionsOf(s));
  source.catch(() => undefined); // seen by the taker; not an unhandled rejection meanwhile
  return source;
}
