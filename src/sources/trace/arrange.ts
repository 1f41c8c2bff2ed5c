import { ByteLines } from '../lines.js';
import { BatchedIterator, unpackBatches } from './batched.js';
import { TraceError, type TraceEvent } from './event.js';
import { formatSeconds } from './numbers.js';
import { EventRows, type HttpFields, NUMBERS, unpackEvents } from './rows.js';

/** Draft is a TraceEvent still being put together by a parser. */
export type Draft = { -readonly [K in keyof TraceEvent]: TraceEvent[K] };

/**
 * Parsed is what a parser appends its events to, each with the line it came from: an event object
 * (`push`), or an event's numbers as read (`add`, with no object made for it).
 */
export type Parsed = EventRows;

/**
 * LineParser turns one format's lines into events. It is fed every line (1-based numbers, any trailing
 * "\r" removed) and adds zero or more events to `out`; `end` flushes what a multi-line record (a vegeta
 * target, a HAR document) still holds. It throws a TraceError naming the line for malformed input.
 */
export interface LineParser {
  line(text: string, lineNo: number, out: Parsed): void;
  /**
   * bytes, where a parser has it, is `line` for a line not yet decoded: `data[from, to)`, UTF-8, any "\r"
   * removed. Without it, lines read as bytes are decoded and given to `line`.
   */
  bytes?(data: Buffer, from: number, to: number, lineNo: number, out: Parsed): void;
  end(lastLineNo: number, out: Parsed): void;
  /**
   * absoluteTimes says whether tMs are absolute (epoch ms, a scheduler clock) and must be rebased so that
   * the first event is at 0. Read after the first event, so a parser may decide from what it has seen.
   */
  readonly absoluteTimes: boolean;
}

/**
 * TraceEvents are a trace's events in arrival order: an async generator of events, one at a time, that
 * also hands them out a batch at a time (`nextBatch`: the events of one chunk read, for callers that want
 * millions of events without an `await` each). Both may be mixed; each event is handed out once.
 */
export interface TraceEvents extends AsyncGenerator<TraceEvent, void, undefined> {
  /** nextBatch resolves to the next events (at least one), or undefined at the end of the trace. */
  nextBatch(): Promise<readonly TraceEvent[] | undefined>;
}

/**
 * ArrangedEvents are the TraceEvents of {@link arrange}, which also hands them out as they are made: as
 * rows (`rows`: batches of {@link EventRows}, none empty), the cheaper way through a long trace, with no
 * object made per event. A trace is read either through `rows` or as events, not both.
 */
export interface ArrangedEvents extends TraceEvents {
  readonly rows: BatchedIterator<EventRows>;
}

/**
 * TraceLines are a trace's lines: one at a time (any iterable), or a batch at a time ({@link LineBatches}),
 * as strings or as bytes.
 */
export type TraceLines = AsyncIterable<string> | Iterable<string> | LineBatches;

/**
 * LineBatches wraps lines read a batch at a time (readByteLines: up to a few hundred lines of a chunk, or
 * their text), so that readers can tell them from lines read one at a time.
 */
export class LineBatches {
  readonly batches: AsyncIterator<readonly string[] | ByteLines, void, undefined>;

  constructor(batches: AsyncIterator<readonly string[] | ByteLines, void, undefined>) {
    this.batches = batches;
  }
}

/** ArrangeOptions are the reading options every format shares. */
export interface ArrangeOptions {
  /** sort reorders events within a window of `sortWindow` events; without it, out-of-order is an error. */
  readonly sort?: boolean;
  /** sortWindow bounds the reordering buffer (default {@link DEFAULT_SORT_WINDOW} events). */
  readonly sortWindow?: number;
}

/** DEFAULT_SORT_WINDOW is how many events sorting holds back by default. */
export const DEFAULT_SORT_WINDOW = 10_000;

/** ITERABLE_BATCH is how many lines of a plain iterable are taken at a time (as readByteLines does). */
const ITERABLE_BATCH = 512;

/**
 * arrange runs lines through a format's parser and the stages every format shares:
 *
 *   parse ─► order (check, or sort within a window) ─► rebase ─► [spread within a second] ─► events
 *
 * A batch of lines at a time goes through every stage, and the events and the errors come in the same
 * order as if each line were read on its own: the events of the lines before a bad one are handed out,
 * then its error. Memory is bounded by a batch and the sort window (and, for access logs, by the busiest
 * logged second): a trace of any length streams through.
 */
export function arrange(lines: TraceLines, file: string, parser: LineParser, options: ArrangeOptions & { spreadSeconds?: boolean }): ArrangedEvents {
  // Built here, not on the first read, so that bad options throw at the call.
  const order = options.sort === true ? new Sorter(file, sortWindow(options.sortWindow)) : new OrderCheck(file);
  const spread = options.spreadSeconds === true ? new SecondSpreader() : undefined;
  const pipeline = new Pipeline(parser, order, spread);
  const batches = lines instanceof LineBatches ? lines.batches : batchesOf(lines);
  const rows = new BatchedIterator<EventRows>(
    async (out) => {
      const r = await batches.next();
      // Room for a row per line, made at once; the rows made before an error are handed out before it.
      const made = new EventRows(r.done === true ? 0 : r.value.length);
      try {
        if (r.done === true) {
          pipeline.end(made);
          return false;
        }
        pipeline.lines(r.value, made);
        return true;
      } finally {
        if (made.length > 0) out.push(made);
      }
    },
    async () => batches.return?.(),
  );
  return Object.assign(unpackBatches<EventRows, TraceEvent>(rows, unpackEvents), { rows });
}

/**
 * batchesOf groups lines given one at a time into batches: an async iterable's one by one (each may have
 * to wait), a plain iterable's up to ITERABLE_BATCH at a time. Lines taken before the iterable throws are
 * handed on before its error.
 */
async function* batchesOf(lines: AsyncIterable<string> | Iterable<string>): AsyncGenerator<readonly string[], void, undefined> {
  if (Symbol.asyncIterator in lines) {
    for await (const line of lines) yield [line];
    return;
  }
  let batch: string[] = [];
  try {
    for (const line of lines) {
      batch.push(line);
      if (batch.length === ITERABLE_BATCH) {
        yield batch;
        batch = [];
      }
    }
  } catch (err) {
    if (batch.length > 0) yield batch;
    throw err;
  }
  if (batch.length > 0) yield batch;
}

/**
 * Pipeline is the stages of {@link arrange}, fed lines and appending the events they give to `out`. When
 * events are only checked for order and not spread (most traces), the parser writes straight into `out`
 * and the stages work on them there; otherwise they pass through `#parsed` (and `#ordered`, to spread).
 */
class Pipeline {
  readonly #parser: LineParser;
  readonly #order: OrderStage;
  readonly #spread: SecondSpreader | undefined;
  /** #inPlace: the stages work on the events where the parser wrote them (order checked, not spread). */
  readonly #inPlace: boolean;
  #lineNo = 0;
  /** The time rebasing subtracts, once the first timed event is out of ordering. */
  #origin: number | undefined;
  readonly #parsed = new EventRows();
  readonly #ordered = new EventRows();

  constructor(parser: LineParser, order: OrderStage, spread: SecondSpreader | undefined) {
    this.#parser = parser;
    this.#order = order;
    this.#spread = spread;
    this.#inPlace = order instanceof OrderCheck && spread === undefined;
  }

  /**
   * lines feeds lines in order. It throws at the first bad one, having appended the events before it (an
   * event out of order is found once the batch is parsed: its error comes first, as its line does).
   */
  lines(batch: readonly string[] | ByteLines, out: EventRows): void {
    const parsed = this.#inPlace ? out : this.#parsed;
    const from = parsed.length;
    try {
      if (batch instanceof ByteLines && this.#parser.bytes !== undefined) this.#byteLines(batch, parsed);
      else this.#textLines(batch instanceof ByteLines ? batch.texts() : batch, parsed);
    } finally {
      this.#stage(false, parsed, from, out);
    }
  }

  #textLines(batch: readonly string[], parsed: EventRows): void {
    const parser = this.#parser;
    for (let i = 0; i < batch.length; i++) {
      const raw = batch[i]!;
      parser.line(raw.endsWith('\r') ? raw.slice(0, -1) : raw, ++this.#lineNo, parsed);
    }
  }

  /** #byteLines is `lines` for lines read as bytes, given as such to a parser that takes them. */
  #byteLines(batch: ByteLines, parsed: EventRows): void {
    const parser = this.#parser;
    const { bytes, starts, ends } = batch;
    for (let i = 0; i < starts.length; i++) {
      const from = starts[i]!;
      let to = ends[i]!;
      if (to > from && bytes[to - 1] === CR) to--;
      parser.bytes!(bytes, from, to, ++this.#lineNo, parsed);
    }
  }

  /** end flushes what the parser and the stages hold, once every line is fed. */
  end(out: EventRows): void {
    const parsed = this.#inPlace ? out : this.#parsed;
    const from = parsed.length;
    this.#parser.end(this.#lineNo, parsed);
    this.#stage(true, parsed, from, out);
  }

  /**
   * #stage moves the events the parser added to `parsed` (from `from` on) through ordering, rebasing and
   * spreading into `out`. At an event out of order it throws, having moved those before it.
   */
  #stage(final: boolean, parsed: EventRows, from: number, out: EventRows): void {
    if (this.#inPlace) {
      const order = this.#order as OrderCheck;
      const ok = order.inOrder(parsed, from);
      for (let i = from; i < ok; i++) this.#rebase(parsed, i);
      if (ok < parsed.length) {
        const line = parsed.lines[ok]!;
        const tMs = parsed.tMs(ok);
        parsed.truncate(ok);
        order.fail(line, tMs);
      }
      return;
    }
    const spread = this.#spread;
    const ordered = spread === undefined ? out : this.#ordered;
    const start = ordered.length;
    try {
      for (let i = from; i < parsed.length; i++) this.#order.push(parsed, i, ordered);
      if (final) this.#order.flush(ordered);
    } finally {
      parsed.clear();
      for (let i = start; i < ordered.length; i++) this.#rebase(ordered, i);
      if (spread !== undefined) {
        for (let i = 0; i < ordered.length; i++) spread.push(ordered, i, out);
        ordered.clear();
      }
    }
    if (final) spread?.flush(out);
  }

  /**
   * #rebase makes absolute times relative to the first event out of ordering (the earliest, once sorted).
   * It comes before spreading so that spread times are exact (`i * 1000 / n` on a small number, not on
   * epoch milliseconds, where a double keeps only about four decimals).
   */
  #rebase(rows: EventRows, i: number): void {
    const tMs = rows.tMs(i);
    if (tMs !== tMs) return;
    this.#origin ??= this.#parser.absoluteTimes ? tMs : 0;
    if (this.#origin !== 0) rows.setTMs(i, tMs - this.#origin);
  }
}

/** CR is "\r" as a byte. */
const CR = 0x0d;

function sortWindow(n: number | undefined): number {
  if (n === undefined) return DEFAULT_SORT_WINDOW;
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`sortWindow must be a whole number of events >= 0, not ${n}`);
  return n;
}

/** OrderStage is given each event (event i of `rows`), and passes them on in order to `out`. */
interface OrderStage {
  push(rows: EventRows, i: number, out: EventRows): void;
  flush(out: EventRows): void;
}

/**
 * OrderCheck passes events through and throws on the first one that arrives before its predecessor. It
 * keeps the previous time as a number: later stages rewrite an event's time (rebasing, spreading).
 */
class OrderCheck implements OrderStage {
  readonly #file: string;
  #lastMs = -Infinity;
  #lastLine = 0;

  constructor(file: string) {
    this.#file = file;
  }

  push(rows: EventRows, i: number, out: EventRows): void {
    if (this.inOrder(rows, i, i + 1) === i) this.fail(rows.lines[i]!, rows.tMs(i));
    out.copy(rows, i);
  }

  /** inOrder checks the events of `rows` from `from` (up to `to`) and returns where the first one out of order is (`to` when none is). */
  inOrder(rows: EventRows, from: number, to = rows.length): number {
    let lastMs = this.#lastMs;
    let lastLine = this.#lastLine;
    let i = from;
    for (; i < to; i++) {
      const t = rows.tMs(i);
      if (t !== t) continue;
      if (t < lastMs) break;
      lastMs = t;
      lastLine = rows.lines[i]!;
    }
    this.#lastMs = lastMs;
    this.#lastLine = lastLine;
    return i;
  }

  /** fail throws the error of an event, from `line`, arriving at `tMs`: before the last one in order. */
  fail(line: number, tMs: number): never {
    throw new TraceError(
      this.#file,
      line,
      `out of order: this event arrives ${formatSeconds(this.#lastMs - tMs)} before the one on line ${this.#lastLine}; ` +
        'sort the trace, or read it with --sort to reorder within a window',
    );
  }

  flush(): void {}
}

/** Located is an event the sort window holds: its line, time (not NaN) and the rest of it, as found. */
interface Located {
  readonly line: number;
  readonly tMs: number;
  readonly key: string;
  readonly tokens: number;
  readonly serviceMs: number;
  readonly status: number;
  readonly http: HttpFields | undefined;
}

/**
 * Sorter reorders events within a window: it holds up to `window` events in a min-heap by (tMs, line) and
 * releases the earliest whenever it holds more. An event earlier than one already released is out of
 * order by more than the window can mend, and is an error naming its line. Ties keep file order (the line
 * breaks them), so sorting a sorted trace changes nothing.
 */
class Sorter implements OrderStage {
  readonly #file: string;
  readonly #window: number;
  readonly #heap = new MinHeap();
  /** The time and line of the last event released (a number: later stages rewrite times). */
  #releasedMs = -Infinity;
  #releasedLine = 0;

  constructor(file: string, window: number) {
    this.#file = file;
    this.#window = window;
  }

  push(rows: EventRows, i: number, out: EventRows): void {
    const t = rows.tMs(i);
    if (t !== t) {
      out.copy(rows, i);
      return;
    }
    const line = rows.lines[i]!;
    if (t < this.#releasedMs) {
      throw new TraceError(
        this.#file,
        line,
        `out of order by more than the sort window (${this.#window} events): this event arrives ` +
          `${formatSeconds(this.#releasedMs - t)} before the one on line ${this.#releasedLine}, which was already ` +
          'released; raise --sort-window or sort the trace first',
      );
    }
    const at = i * NUMBERS;
    const n = rows.numbers;
    this.#heap.push({ line, tMs: t, key: rows.keys[rows.keyAt[i]!]!, tokens: n[at + 1]!, serviceMs: n[at + 2]!, status: n[at + 3]!, http: rows.http?.[i] });
    if (this.#heap.size > this.#window) this.#release(out);
  }

  flush(out: EventRows): void {
    while (this.#heap.size > 0) this.#release(out);
  }

  #release(out: EventRows): void {
    const x = this.#heap.pop()!;
    this.#releasedMs = x.tMs;
    this.#releasedLine = x.line;
    out.add(x.key, x.tMs, x.tokens, x.serviceMs, x.status, x.http, x.line);
  }
}

function before(a: Located, b: Located): boolean {
  return a.tMs < b.tMs || (a.tMs === b.tMs && a.line < b.line);
}

/** MinHeap is a binary heap of located events, earliest (then lowest line) first. */
class MinHeap {
  readonly #items: Located[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(x: Located): void {
    const a = this.#items;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(x, a[parent]!)) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = x;
  }

  pop(): Located | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const child = r < a.length && before(a[r]!, a[l]!) ? r : l;
      if (!before(a[child]!, last)) break;
      a[i] = a[child]!;
      i = child;
    }
    a[i] = last;
    return top;
  }
}

/**
 * SecondSpreader spreads events logged with the same second evenly over that second: access logs keep
 * whole seconds, and replaying every request of a second at its first instant would turn a steady 100/s
 * into a burst of 100 each second. It holds back one second's events (its input is in order, so they are
 * consecutive) and releases the i-th of n at `second + i * 1000 / n`.
 */
class SecondSpreader {
  readonly #group = new EventRows();

  push(rows: EventRows, i: number, out: EventRows): void {
    const group = this.#group;
    if (group.length > 0) {
      const t = rows.tMs(i);
      if (t !== t || t !== group.tMs(0)) this.flush(out);
    }
    group.copy(rows, i);
  }

  flush(out: EventRows): void {
    const group = this.#group;
    const n = group.length;
    for (let i = 0; i < n; i++) {
      const t = group.tMs(i);
      if (t === t) group.setTMs(i, t + (i * 1000) / n);
      out.copy(group, i);
    }
    group.clear();
  }
}
