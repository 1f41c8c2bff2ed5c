import type { Readable } from 'node:stream';
import { readLines } from '../lines.js';
import { readAccessLog, type LogFormat } from './access-log.js';
import type { ArrangeOptions } from './arrange.js';
import { readCsv } from './csv.js';
import { detectFormat, isTimed } from './detect.js';
import { TRACE_FORMATS, TraceError, type TraceEvent, type TraceFormat } from './event.js';
import { readHar } from './har.js';
import { readJoblog } from './joblog.js';
import { readJsonl } from './jsonl.js';
import { readResults } from './results.js';
import { readUrls } from './urls.js';
import { readVegeta } from './vegeta.js';

export interface ReadTraceOptions extends ArrangeOptions {
  /** format names the trace's format; without it, it is detected from the first line. */
  readonly format?: TraceFormat;
  /** logFormat is the access log layout (access-log only). */
  readonly logFormat?: LogFormat;
}

export interface TraceSource {
  /** format is the format read, as named or detected. */
  readonly format: TraceFormat;
  /**
   * timed says whether events carry arrival times (tMs). When false the trace is a list of what to send
   * and the caller paces it (e.g. from --rate).
   */
  readonly timed: boolean;
  /** events yields the trace's events, in arrival order, one at a time as they are read. */
  readonly events: AsyncGenerator<TraceEvent, void, undefined>;
}

type Reader = (
  lines: AsyncIterable<string>,
  file: string,
  options: ReadTraceOptions,
) => AsyncGenerator<TraceEvent, void, undefined>;

/** READERS maps each format to its reader: a new format is one file and one entry here. */
const READERS: Record<TraceFormat, Reader> = {
  jsonl: readJsonl,
  csv: readCsv,
  'access-log': readAccessLog,
  har: readHar,
  joblog: readJoblog,
  results: readResults,
  urls: readUrls,
  vegeta: readVegeta,
};

/**
 * readTrace reads a trace from a stream, in any {@link TraceFormat}. It reads up to the first line that
 * is neither blank nor a `#` comment to tell the format (unless `format` names it) and whether the trace is
 * timed, then returns at once; the events are read as they are asked for, so a trace of any length is
 * never held in memory (HAR excepted, see readHar). Sorting (`sort`, `sortWindow`) defaults to on for
 * `results` and `joblog`, whose records are written as jobs end, and off for the rest.
 *
 * An empty trace gives no events (format: as named, else `jsonl`). A first line no format matches is a
 * TraceError naming it; every later problem is a TraceError thrown by `events`.
 */
export async function readTrace(stream: Readable, file: string, options: ReadTraceOptions = {}): Promise<TraceSource> {
  if (options.format !== undefined && !TRACE_FORMATS.includes(options.format)) {
    throw new RangeError(`unknown trace format ${JSON.stringify(options.format)}: use one of ${TRACE_FORMATS.join(', ')}`);
  }
  const it = readLines(stream)[Symbol.asyncIterator]();
  const head: string[] = [];
  let first: string | undefined;
  for (;;) {
    const r = await it.next();
    if (r.done === true) break;
    // A UTF-8 byte order mark (spreadsheets write one) is not part of the first line.
    head.push(head.length === 0 && r.value.startsWith('\uFEFF') ? r.value.slice(1) : r.value);
    const line = head[head.length - 1]!;
    const text = line.trim();
    if (text !== '' && !text.startsWith('#')) {
      first = line.endsWith('\r') ? line.slice(0, -1) : line;
      break;
    }
  }
  try {
    let format = options.format;
    if (format === undefined && first !== undefined) {
      format = detectFormat(first);
      if (format === undefined) {
        throw new TraceError(file, head.length, `cannot tell the trace format from this line: name it with --format (${TRACE_FORMATS.join(', ')})`);
      }
    }
    format ??= 'jsonl';
    return { format, timed: isTimed(format, first), events: READERS[format](replay(head, it), file, options) };
  } catch (err) {
    await it.return?.(); // release the stream: nobody will read it
    throw err;
  }
}

/**
 * replay yields the lines already read, then the rest of the iterator. It is a plain iterator rather than
 * an async generator so that, past the head, each line costs no more than the underlying `next()` (a
 * generator would add a promise and a queue entry to every line of a trace that may have millions).
 * `return` (a consumer stopping early) is passed on, so the stream is released.
 */
function replay(head: string[], rest: AsyncIterator<string>): AsyncIterable<string> {
  let i = 0;
  const iterator: AsyncIterator<string> = {
    next: () => (i < head.length ? Promise.resolve({ done: false, value: head[i++]! }) : rest.next()),
    return: async () => (await rest.return?.()) ?? { done: true, value: undefined },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}
