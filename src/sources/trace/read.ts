import type { Readable } from 'node:stream';
import { ByteLines, readByteLines } from '../lines.js';
import { readAccessLog, type LogFormat } from './access-log.js';
import { LineBatches, type ArrangedEvents, type ArrangeOptions, type TraceEvents, type TraceLines } from './arrange.js';
import { type BatchedIterator, unpackBatches } from './batched.js';
import { readCsv } from './csv.js';
import { detectFormat, isTimed } from './detect.js';
import { TRACE_FORMATS, TraceError, type TraceFormat } from './event.js';
import { readHar } from './har.js';
import { readJoblog } from './joblog.js';
import { readJsonl } from './jsonl.js';
import { readResults } from './results.js';
import { type EventRows, type MakeFromEvent, unpackWith } from './rows.js';
import { readUrls } from './urls.js';
import { readVegeta } from './vegeta.js';

export type { MakeFromEvent } from './rows.js';

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
  /**
   * events yields the trace's events, in arrival order, as they are read: one at a time, or a batch (a
   * few hundred lines' worth) at a time with `events.nextBatch()`, the cheaper way through a long trace.
   */
  readonly events: TraceEvents;
  /**
   * mapEvents is `mapBatches(events, ...)` without the TraceEvents: each event's numbers (NaN when not
   * given) and key go straight to `make`, in order. Traces are read as numbers (see EventRows), and an
   * object made of each event only to be mapped to another is a tenth of what a simulation allocates. The
   * request fields (method, url, headers, body) are not handed over. A source is read either through
   * `events` or through one `mapEvents`, not both.
   */
  readonly mapEvents: <T>(make: MakeFromEvent<T>) => BatchedIterator<T>;
}

/** RowSource is a TraceSource read here, whose events can also be taken as the rows they are read into. */
export interface RowSource extends TraceSource {
  /** rows hands out the events as batches of rows (see ArrangedEvents.rows): read through this or the rest. */
  readonly rows: BatchedIterator<EventRows>;
}

type Reader = (lines: TraceLines, file: string, options: ReadTraceOptions) => ArrangedEvents;

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
export async function readTrace(stream: Readable, file: string, options: ReadTraceOptions = {}): Promise<RowSource> {
  if (options.format !== undefined && !TRACE_FORMATS.includes(options.format)) {
    throw new RangeError(`unknown trace format ${JSON.stringify(options.format)}: use one of ${TRACE_FORMATS.join(', ')}`);
  }
  const it = readByteLines(stream);
  const head: string[] = [];
  let first: string | undefined;
  /** The lines of the batch that held the first line, after it. */
  let rest: ByteLines | undefined;
  scan: for (;;) {
    const r = await it.next();
    if (r.done === true) break;
    const batch = r.value;
    for (let i = 0; i < batch.length; i++) {
      const text = batch.text(i);
      // A UTF-8 byte order mark (spreadsheets write one) is not part of the first line.
      const line = head.length === 0 && text.startsWith('\uFEFF') ? text.slice(1) : text;
      head.push(line);
      const trimmed = line.trim();
      if (trimmed !== '' && !trimmed.startsWith('#')) {
        first = line.endsWith('\r') ? line.slice(0, -1) : line;
        rest = batch.from(i + 1);
        break scan;
      }
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
    const lines = new LineBatches(replay(head, rest, it));
    const events = READERS[format](lines, file, options);
    const rows = events.rows;
    return { format, timed: isTimed(format, first), events, rows, mapEvents: (make) => unpackBatches(rows, (r, out) => unpackWith(r, out, make)) };
  } catch (err) {
    await it.return(); // release the stream: nobody will read it
    throw err;
  }
}

/**
 * replay gives the lines already read (as text, then the rest of their batch), then the rest of the
 * batches. It is a plain iterator rather than an async generator so that `return` (a consumer stopping
 * early, even before the first batch) always reaches the stream and releases it.
 */
function replay(
  head: readonly string[],
  rest: ByteLines | undefined,
  more: AsyncIterator<ByteLines, void, undefined>,
): AsyncIterator<readonly string[] | ByteLines, void, undefined> {
  const read: Array<readonly string[] | ByteLines> = [];
  if (head.length > 0) read.push(head);
  if (rest !== undefined) read.push(rest);
  return {
    next: () => {
      const value = read.shift();
      return value === undefined ? more.next() : Promise.resolve({ done: false, value });
    },
    return: async () => (await more.return?.()) ?? { done: true, value: undefined },
  };
}

