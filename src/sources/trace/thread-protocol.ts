import type { ReadTraceOptions } from './read.js';
import type { TraceFormat } from './event.js';
import { type EventRows, type HttpFields, NUMBERS } from './rows.js';

/**
 * The messages between a trace-reading thread and the thread that replays the trace (see threaded.ts).
 * Events travel in batches, packed (see PackedEvents): their numbers in a transferred Float64Array, each
 * distinct key once, and the rarer HTTP fields only when a batch has any.
 */

/** ReaderData is what the reading thread is started with. */
export interface ReaderData {
  readonly path: string;
  readonly name: string;
  readonly options: ReadTraceOptions;
  /** ahead is how many batches it may post before the replaying thread has taken them. */
  readonly ahead: number;
}

export type ReaderMessage =
  | { readonly type: 'head'; readonly format: TraceFormat; readonly timed: boolean }
  | BatchMessage
  | { readonly type: 'end' }
  | { readonly type: 'error'; readonly message: string; readonly usage: boolean; readonly file?: string | undefined; readonly line?: number | undefined };

/**
 * ReplayMessage: `read` says what to read, to a thread started before that was known (see
 * startReaderAhead); `taken` frees room for `batches` more batches; `stop` ends the reading early.
 */
export type ReplayMessage =
  | { readonly type: 'read'; readonly data: ReaderData }
  | { readonly type: 'taken'; readonly batches: number }
  | { readonly type: 'stop' };

/** BatchMessage is a batch of events, packed (PackedEvents, with typed arrays of just the batch's size). */
export interface BatchMessage {
  readonly type: 'batch';
  readonly length: number;
  readonly numbers: Float64Array;
  readonly keys: readonly string[];
  readonly keyAt: Uint32Array;
  readonly http: ReadonlyArray<HttpFields | undefined> | undefined;
}

/** packRows makes the message of a batch of rows: their arrays, not copied (the rows are not used again). */
export function packRows(rows: EventRows): BatchMessage {
  const n = rows.length;
  return { type: 'batch', length: n, numbers: rows.numbers.subarray(0, n * NUMBERS), keys: rows.keys, keyAt: rows.keyAt.subarray(0, n), http: rows.http };
}
