import { ByteLines } from '../lines.js';
import { BatchedIterator } from './batched.js';
import { TraceError, type TraceEvent } from './event.js';
import { formatSeconds } from './numbers.js';

/** Draft is a TraceEvent still being put together by the pipeline (rebasing and spreading set tMs). */
export type Draft = { -readonly [K in keyof TraceEvent]: TraceEvent[K] };

/**
 * Parsed collects the events a parser made, each with the line it came from (so that ordering errors can
 * name it), in two arrays side by side rather than an object per event.
 */
export class Parsed {
  readonly events: Draft[] = [];
  readonly lines: number[] = [];

  get length(): number {
    return this.events.length;
  }

  push(event: Draft, line: number): void {
    this.events.push(event);
    this.lines.push(line);
  }

  clear(): void {
    clear(this.events);
    clear(this.lines);
  }
}

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
 * A batch of lines at a time goes through every stage, one line after the other, so the events and the
 * errors come in the same order as if each line were read on its own: the events of the lines before a
 * bad one are handed out, then its error. Memory is bounded by a batch and the sort window (and, for
 * access logs, by the busiest logged second): a trace of any length streams through.
 */
export function arrange(lines: TraceLines, file: string, parser: LineParser, options: ArrangeOptions & { spreadSeconds?: boolean }): TraceEvents {
  // Built here, not on the first read, so that bad options throw at the call.
  const order = options.sort === true ? new Sorter(file, sortWindow(options.sortWindow)) : new OrderCheck(file);
  const spread = options.spreadSeconds === true ? new SecondSpreader() : undefined;
  const pipeline = new Pipeline(parser, order, spread);
  const batches = lines instanceof LineBatches ? lines.batches : batchesOf(lines);
  return new BatchedIterator<TraceEvent>(
    async (out) => {
      const r = await batches.next();
      if (r.done === true) {
        pipeline.end(out);
        return false;
      }
      pipeline.lines(r.value, out);
      return true;
    },
    async () => batches.return?.(),
  );
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

/** Pipeline is the stages of {@link arrange}, fed lines and appending the events they give to `out`. */
class Pipeline {
  readonly #parser: LineParser;
  readonly #order: OrderStage;
  readonly #spread: SecondSpreader | undefined;
  #lineNo = 0;
  /** The time rebasing subtracts, once the first timed event is out of ordering. */
  #origin: number | undefined;
  readonly #parsed = new Parsed();
  readonly #ordered: Draft[] = [];

  constructor(parser: LineParser, order: OrderStage, spread: SecondSpreader | undefined) {
    this.#parser = parser;
    this.#order = order;
    this.#spread = spread;
  }

  /** lines feeds lines in order. It throws at the first bad one, having appended the events before it. */
  lines(batch: readonly string[] | ByteLines, out: TraceEvent[]): void {
    if (batch instanceof ByteLines) {
      if (this.#parser.bytes !== undefined) return this.#byteLines(batch, out);
      batch = batch.texts();
    }
    const parser = this.#parser;
    const parsed = this.#parsed;
    for (let i = 0; i < batch.length; i++) {
      const raw = batch[i]!;
      const lineNo = ++this.#lineNo;
      parser.line(raw.endsWith('\r') ? raw.slice(0, -1) : raw, lineNo, parsed);
      if (parsed.length > 0) this.#stage(false, out);
    }
  }

  /** #byteLines is `lines` for lines read as bytes, given as such to a parser that takes them. */
  #byteLines(batch: ByteLines, out: TraceEvent[]): void {
    const parser = this.#parser;
    const parsed = this.#parsed;
    const { bytes, starts, ends } = batch;
    for (let i = 0; i < starts.length; i++) {
      const lineNo = ++this.#lineNo;
      const from = starts[i]!;
      let to = ends[i]!;
      if (to > from && bytes[to - 1] === CR) to--;
      parser.bytes!(bytes, from, to, lineNo, parsed);
      if (parsed.length > 0) this.#stage(false, out);
    }
  }

  /** end flushes what the parser and the stages hold, once every line is fed. */
  end(out: TraceEvent[]): void {
    this.#parser.end(this.#lineNo, this.#parsed);
    this.#stage(true, out);
  }

  /** #stage moves what the parser produced through ordering, rebasing and spreading into `out`. */
  #stage(final: boolean, out: TraceEvent[]): void {
    const parsed = this.#parsed;
    const ordered = this.#ordered;
    const order = this.#order;
    const { events, lines } = parsed;
    for (let i = 0; i < events.length; i++) order.push(events[i]!, lines[i]!, ordered);
    parsed.clear();
    if (final) order.flush(ordered);
    const spread = this.#spread;
    for (let i = 0; i < ordered.length; i++) {
      const e = ordered[i]!;
      this.#rebase(e);
      if (spread === undefined) out.push(e);
      else spread.push(e, out);
    }
    clear(ordered);
    if (final) spread?.flush(out);
  }

  /**
   * #rebase makes absolute times relative to the first event out of ordering (the earliest, once sorted).
   * It comes before spreading so that spread times are exact (`i * 1000 / n` on a small number, not on
   * epoch milliseconds, where a double keeps only about four decimals).
   */
  #rebase(e: Draft): void {
    if (e.tMs === undefined) return;
    this.#origin ??= this.#parser.absoluteTimes ? e.tMs : 0;
    if (this.#origin !== 0) e.tMs -= this.#origin;
  }
}

/** CR is "\r" as a byte. */
const CR = 0x0d;

/** clear empties a small array in place (faster than setting length, which V8 treats as a slow path). */
function clear(a: unknown[]): void {
  while (a.length > 0) a.pop();
}

function sortWindow(n: number | undefined): number {
  if (n === undefined) return DEFAULT_SORT_WINDOW;
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`sortWindow must be a whole number of events >= 0, not ${n}`);
  return n;
}

/** OrderStage is given each event with its line, and passes them on in order to `out`. */
interface OrderStage {
  push(event: Draft, line: number, out: Draft[]): void;
  flush(out: Draft[]): void;
}

/**
 * OrderCheck passes events through and throws on the first one that arrives before its predecessor. It
 * keeps the previous time as a number: later stages rewrite an event's tMs (rebasing, spreading).
 */
class OrderCheck implements OrderStage {
  readonly #file: string;
  #lastMs = -Infinity;
  #lastLine = 0;

  constructor(file: string) {
    this.#file = file;
  }

  push(event: Draft, line: number, out: Draft[]): void {
    const t = event.tMs;
    if (t !== undefined) {
      if (t < this.#lastMs) {
        throw new TraceError(
          this.#file,
          line,
          `out of order: this event arrives ${formatSeconds(this.#lastMs - t)} before the one on line ${this.#lastLine}; ` +
            'sort the trace, or read it with --sort to reorder within a window',
        );
      }
      this.#lastMs = t;
      this.#lastLine = line;
    }
    out.push(event);
  }

  flush(): void {}
}

/** Located is an event with the line it came from: what the sort window holds. */
interface Located {
  readonly line: number;
  readonly event: Draft;
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
  /** The time and line of the last event released (a number: later stages rewrite tMs). */
  #releasedMs = -Infinity;
  #releasedLine = 0;

  constructor(file: string, window: number) {
    this.#file = file;
    this.#window = window;
  }

  push(event: Draft, line: number, out: Draft[]): void {
    const t = event.tMs;
    if (t === undefined) {
      out.push(event);
      return;
    }
    if (t < this.#releasedMs) {
      throw new TraceError(
        this.#file,
        line,
        `out of order by more than the sort window (${this.#window} events): this event arrives ` +
          `${formatSeconds(this.#releasedMs - t)} before the one on line ${this.#releasedLine}, which was already ` +
          'released; raise --sort-window or sort the trace first',
      );
    }
    this.#heap.push({ line, event });
    if (this.#heap.size > this.#window) this.#release(out);
  }

  flush(out: Draft[]): void {
    while (this.#heap.size > 0) this.#release(out);
  }

  #release(out: Draft[]): void {
    const x = this.#heap.pop()!;
    this.#releasedMs = x.event.tMs!;
    this.#releasedLine = x.line;
    out.push(x.event);
  }
}

function before(a: Located, b: Located): boolean {
  const ta = a.event.tMs!;
  const tb = b.event.tMs!;
  return ta < tb || (ta === tb && a.line < b.line);
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
  #group: Draft[] = [];

  push(e: Draft, out: TraceEvent[]): void {
    const first = this.#group[0];
    if (first !== undefined && (e.tMs === undefined || e.tMs !== first.tMs)) this.flush(out);
    this.#group.push(e);
  }

  flush(out: TraceEvent[]): void {
    const group = this.#group;
    const n = group.length;
    for (let i = 0; i < n; i++) {
      const e = group[i]!;
      if (e.tMs !== undefined) e.tMs += (i * 1000) / n;
      out.push(e);
    }
    this.#group = [];
  }
}
