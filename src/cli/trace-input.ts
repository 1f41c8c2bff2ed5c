import type { Readable } from 'node:stream';
import type { LogFormat } from '../sources/trace/access-log.js';
import type { TraceFormat } from '../sources/trace/event.js';
import type { ReadTraceOptions, TraceSource } from '../sources/trace/read.js';
import { readTraceThreaded } from '../sources/trace/threaded.js';
import { isLongFile } from './early.js';
import { openInput } from './input.js';
import type { BenchSettings } from './settings.js';

/** readOptionsOf is how the flags say to read the trace. */
function readOptionsOf(s: BenchSettings): ReadTraceOptions {
  return {
    ...(s.format === undefined ? {} : { format: s.format as TraceFormat }),
    ...(s.sort === undefined ? {} : { sort: s.sort }),
    ...(s.sortWindow === undefined ? {} : { sortWindow: s.sortWindow }),
    ...(s.logFormat === undefined ? {} : { logFormat: s.logFormat as LogFormat }),
  };
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
 * prefetchTrace starts reading a long trace file on its thread before the replay's code is even loaded (the
 * thread takes some 40 ms to start), or returns undefined when there is no long file to read. What it
 * finds wrong with the trace waits for whoever takes the source: the flags are checked first, as always.
 */
export function prefetchTrace(s: BenchSettings): Promise<TraceSource> | undefined {
  if (!isLongFile(s.trace)) return undefined;
  const source = readTraceThreaded(s.trace, s.trace, readOptionsOf(s));
  source.catch(() => undefined); // seen by the taker; not an unhandled rejection meanwhile
  return source;
}
