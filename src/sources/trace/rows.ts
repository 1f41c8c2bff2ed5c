import type { TraceEvent } from './event.js';

/** HttpFields are the fields of an event that describe a request. */
export type HttpFields = Pick<TraceEvent, 'method' | 'url' | 'headers' | 'bodyFile'>;

/** NUMBERS is how many numbers each event takes in a packed batch: tMs, tokens, serviceMs, status. */
export const NUMBERS = 4;

/**
 * PackedEvents are a batch of events as numbers rather than objects: the four numbers of event i at
 * `numbers[i * NUMBERS ...]` (NaN for "not given"), its key `keys[keyAt[i]]` (each distinct key once), and
 * the rarer request fields only when the batch has any. Readers make them ({@link EventRows}) and a
 * reading thread posts them as they are; an object is made of an event only where one is asked for.
 */
export interface PackedEvents {
  readonly length: number;
  readonly numbers: Float64Array;
  readonly keys: readonly string[];
  readonly keyAt: ArrayLike<number>;
  readonly http: ReadonlyArray<HttpFields | undefined> | undefined;
}

/** MIN_ROWS: the room an EventRows starts with, at least. */
const MIN_ROWS = 16;

/**
 * EventRows is a growing batch of PackedEvents, each with the line it came from (so that ordering errors
 * can name it). A trace's events are put here as they are parsed (a JSON Lines line's numbers go straight
 * in, with no object made for the line) and go through the reading stages as rows.
 */
export class EventRows implements PackedEvents {
  length = 0;
  numbers: Float64Array;
  keyAt: Uint32Array;
  readonly keys: string[] = [];
  readonly lines: number[] = [];
  http: Array<HttpFields | undefined> | undefined = undefined;
  /** #keyIndex finds a key's place in `keys`; #lastKey and #lastKeyAt spare the lookup for a key repeated. */
  #keyIndex: Map<string, number> | undefined = undefined;
  #lastKey = '';
  #lastKeyAt = -1;

  /** The room for `rows` events is made at once (more is made as needed). */
  constructor(rows = MIN_ROWS) {
    const room = Math.max(MIN_ROWS, rows);
    this.numbers = new Float64Array(room * NUMBERS);
    this.keyAt = new Uint32Array(room);
  }

  /** add appends an event given as its numbers (NaN: not given), key, request fields and line. */
  add(key: string, tMs: number, tokens: number, serviceMs: number, status: number, http: HttpFields | undefined, line: number): void {
    const i = this.length;
    if (i === this.keyAt.length) this.#grow();
    const at = i * NUMBERS;
    const numbers = this.numbers;
    numbers[at] = tMs;
    numbers[at + 1] = tokens;
    numbers[at + 2] = serviceMs;
    numbers[at + 3] = status;
    this.keyAt[i] = key === this.#lastKey && this.#lastKeyAt >= 0 ? this.#lastKeyAt : this.#keyOf(key);
    this.lines.push(line);
    if (http !== undefined) (this.http ??= [])[i] = http;
    this.length = i + 1;
  }

  /** push appends an event given as an object, from line `line`. */
  push(e: TraceEvent, line: number): void {
    this.add(e.key, e.tMs ?? NaN, e.tokens ?? NaN, e.serviceMs ?? NaN, e.status ?? NaN, httpFieldsOf(e), line);
  }

  /** copy appends event i of `from`. */
  copy(from: EventRows, i: number): void {
    const at = i * NUMBERS;
    const n = from.numbers;
    this.add(from.keys[from.keyAt[i]!]!, n[at]!, n[at + 1]!, n[at + 2]!, n[at + 3]!, from.http?.[i], from.lines[i]!);
  }

  /** tMs is event i's arrival (NaN: untimed). */
  tMs(i: number): number {
    return this.numbers[i * NUMBERS]!;
  }

  setTMs(i: number, tMs: number): void {
    this.numbers[i * NUMBERS] = tMs;
  }

  /** truncate drops the events from the n-th on. */
  truncate(n: number): void {
    if (n >= this.length) return;
    this.length = n;
    this.lines.length = n;
    if (this.http !== undefined) this.http.length = Math.min(this.http.length, n);
  }

  /** clear empties the rows for reuse. */
  clear(): void {
    this.length = 0;
    this.keys.length = 0;
    this.lines.length = 0;
    this.http = undefined;
    this.#keyIndex?.clear();
    this.#lastKey = '';
    this.#lastKeyAt = -1;
  }

  /** #keyOf returns the place of `key` in `keys`, adding it if new. */
  #keyOf(key: string): number {
    const index = (this.#keyIndex ??= new Map());
    let k = index.get(key);
    if (k === undefined) {
      k = this.keys.push(key) - 1;
      index.set(key, k);
    }
    this.#lastKey = key;
    this.#lastKeyAt = k;
    return k;
  }

  #grow(): void {
    const numbers = new Float64Array(this.numbers.length * 2);
    numbers.set(this.numbers);
    this.numbers = numbers;
    const keyAt = new Uint32Array(this.keyAt.length * 2);
    keyAt.set(this.keyAt);
    this.keyAt = keyAt;
  }
}

/** httpFieldsOf is an event's request fields, or undefined when it has none. */
function httpFieldsOf(e: TraceEvent): HttpFields | undefined {
  if (e.method === undefined && e.url === undefined && e.headers === undefined && e.bodyFile === undefined) return undefined;
  const f: { -readonly [K in keyof HttpFields]: HttpFields[K] } = {};
  if (e.method !== undefined) f.method = e.method;
  if (e.url !== undefined) f.url = e.url;
  if (e.headers !== undefined) f.headers = e.headers;
  if (e.bodyFile !== undefined) f.bodyFile = e.bodyFile;
  return f;
}

/** MakeFromEvent makes something of an event's key and numbers (NaN: not given). */
export type MakeFromEvent<T> = (key: string, tMs: number, tokens: number, serviceMs: number, status: number) => T;

/**
 * unpackWith appends what `make` makes of each event of a packed batch to `out`. When `make` throws, `out`
 * ends after what it made.
 */
export function unpackWith<T>(batch: PackedEvents, out: T[], make: MakeFromEvent<T>): void {
  const { numbers, keys, keyAt } = batch;
  // Sized once: pushed one by one, the array would be copied some eight times as it grows.
  const base = out.length;
  const n = batch.length;
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

/** unpackEvents appends a packed batch's events to `out`, as objects. */
export function unpackEvents(batch: PackedEvents, out: TraceEvent[]): void {
  const { numbers, keys, keyAt, http } = batch;
  for (let i = 0; i < batch.length; i++) {
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
