import type { MakeFromEvent, ReadTraceOptions } from './read.js';
import type { TraceEvent, TraceFormat } from './event.js';

/**
 * The messages between a trace-reading thread and the thread that replays the trace (see threaded.ts).
 * Events travel in batches, packed: the four numbers of each event in one transferred Float64Array (NaN for
 * "not given"), the keys as an array of strings, and the rarer HTTP fields only when a batch has any.
 */

/** ReaderData is what the reading thread is started with. */
export interface ReaderData {
  readonly path: string;
  readonly name: string;
  readonly options: ReadTraceOptions;
  /** ahead is how many batches it may post before the replaying thread has taken them. */
  readonly ahead: number;
}

/** HttpFields are the fields of an event that describe a request. */
export type HttpFields = Pick<TraceEvent, 'method' | 'url' | 'headers' | 'bodyFile'>;

export type ReaderMessage =
  | { readonly type: 'head'; readonly format: TraceFormat; readonly timed: boolean }
  | {
      readonly type: 'batch';
      readonly numbers: Float64Array;
      /** keys holds each distinct key of the batch once; keyAt[i] is the index of event i's key in it. */
      readonly keys: readonly string[];
      readonly keyAt: Uint32Array;
      readonly http: ReadonlyArray<HttpFields | undefined> | undefined;
    }
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

/** NUMBERS is how many numbers each event takes in a batch: tMs, tokens, serviceMs, status. */
export const NUMBERS = 4;

/** packEvents packs a batch of events for posting. */
export function packEvents(events: readonly TraceEvent[]): Extract<ReaderMessage, { type: 'batch' }> {
  const numbers = new Float64Array(events.length * NUMBERS);
  // Traces repeat their keys ("GET /api", "", a few hosts): each goes across once per batch.
  const keys: string[] = [];
  const keyIndex = new Map<string, number>();
  const keyAt = new Uint32Array(events.length);
  let http: Array<HttpFields | undefined> | undefined;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const at = i * NUMBERS;
    numbers[at] = e.tMs ?? NaN;
    numbers[at + 1] = e.tokens ?? NaN;
    numbers[at + 2] = e.serviceMs ?? NaN;
    numbers[at + 3] = e.status ?? NaN;
    let k = keyIndex.get(e.key);
    if (k === undefined) {
      k = keys.push(e.key) - 1;
      keyIndex.set(e.key, k);
    }
    keyAt[i] = k;
    if (e.method !== undefined || e.url !== undefined || e.headers !== undefined || e.bodyFile !== undefined) {
      http ??= new Array<HttpFields | undefined>(events.length);
      http[i] = httpFieldsOf(e);
    }
  }
  return { type: 'batch', numbers, keys, keyAt, http };
}

function httpFieldsOf(e: TraceEvent): HttpFields {
  const f: { -readonly [K in keyof HttpFields]: HttpFields[K] } = {};
  if (e.method !== undefined) f.method = e.method;
  if (e.url !== undefined) f.url = e.url;
  if (e.headers !== undefined) f.headers = e.headers;
  if (e.bodyFile !== undefined) f.bodyFile = e.bodyFile;
  return f;
}

/** unpackWith appends what `make` makes of each event of a posted batch to `out` (see TraceSource.mapEvents). */
export function unpackWith<T>(batch: Extract<ReaderMessage, { type: 'batch' }>, out: T[], make: MakeFromEvent<T>): void {
  const { numbers, keys, keyAt } = batch;
  // Sized once: pushed one by one, the array would be copied some eight times as it grows. When `make`
  // throws, `out` ends after what it made (as pushing would have left it).
  const base = out.length;
  const n = keyAt.length;
  out.length = base + n;
  let i = 0;
  try {
    for (; i < n; i++) {
      const at = i * NUMBERS;
      out[base + i] = make(keys[keyAt[i]!]!, numbers[at]!, numbers[at + 1]!, numbers[at + 2]!, numbers[at + 3]!);
    }
  } finally {
    if (i < n) out.length = base + i;
  }
}

/** unpackEvents appends a posted batch's events to `out`, as the reader made them. */
export function unpackEvents(batch: Extract<ReaderMessage, { type: 'batch' }>, out: TraceEvent[]): void {
  const { numbers, keys, keyAt, http } = batch;
  for (let i = 0; i < keyAt.length; i++) {
    const at = i * NUMBERS;
    const e: { -readonly [K in keyof TraceEvent]: TraceEvent[K] } = { key: keys[keyAt[i]!]! };
    const tMs = numbers[at]!;
    const tokens = numbers[at + 1]!;
    const serviceMs = numbers[at + 2]!;
    const status = numbers[at + 3]!;
    if (tMs === tMs) e.tMs = tMs;
    if (tokens === tokens) e.tokens = tokens;
    if (serviceMs === serviceMs) e.serviceMs = serviceMs;
    if (status === status) e.status = status;
    const h = http?.[i];
    if (h !== undefined) Object.assign(e, h);
    out.push(e);
  }
}
