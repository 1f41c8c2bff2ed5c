import { TraceError, type TraceEvent } from './event.js';
import { formatSeconds } from './numbers.js';

/** Draft is a TraceEvent still being put together by the pipeline (rebasing and spreading set tMs). */
export type Draft = { -readonly [K in keyof TraceEvent]: TraceEvent[K] };

/** Located is an event with the line it came from, so that ordering errors can name it. */
export interface Located {
  readonly line: number;
  readonly event: Draft;
}

/**
 * LineParser turns one format's lines into events. It is fed every line (1-based numbers, any trailing
 * "\r" removed) and appends zero or more events to `out`; `end` flushes what a multi-line record (a vegeta
 * target, a HAR document) still holds. It throws a TraceError naming the line for malformed input.
 */
export interface LineParser {
  line(text: string, lineNo: number, out: Located[]): void;
  end(lastLineNo: number, out: Located[]): void;
  /**
   * absoluteTimes says whether tMs are absolute (epoch ms, a scheduler clock) and must be rebased so that
   * the first event is at 0. Read after the first event, so a parser may decide from what it has seen.
   */
  readonly absoluteTimes: boolean;
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

/**
 * arrange runs lines through a format's parser and the stages every format shares, one event at a time:
 *
 *   parse ─► order (check, or sort within a window) ─► rebase ─► [spread within a second] ─► yield
 *
 * Memory is bounded by the sort window (and, for access logs, by the busiest logged second): a trace of
 * any length streams through.
 */
export function arrange(
  lines: AsyncIterable<string> | Iterable<string>,
  file: string,
  parser: LineParser,
  options: ArrangeOptions & { spreadSeconds?: boolean },
): AsyncGenerator<TraceEvent, void, undefined> {
  // Built here, not in the generator, so that bad options throw at the call rather than at the first read.
  const order = options.sort === true ? new Sorter(file, sortWindow(options.sortWindow)) : new OrderCheck(file);
  const spread = options.spreadSeconds === true ? new SecondSpreader() : undefined;
  return run(lines, parser, order, spread);
}

async function* run(
  lines: AsyncIterable<string> | Iterable<string>,
  parser: LineParser,
  order: OrderStage,
  spread: SecondSpreader | undefined,
): AsyncGenerator<TraceEvent, void, undefined> {
  let origin: number | undefined;
  const parsed: Located[] = [];
  const ordered: Located[] = [];
  const ready: Located[] = [];

  // rebase makes absolute times relative to the first event out of ordering (the earliest, once sorted).
  // It comes before spreading so that spread times are exact (`i * 1000 / n` on a small number, not on
  // epoch milliseconds, where a double keeps only about four decimals).
  const rebase = (e: Draft): void => {
    if (e.tMs === undefined) return;
    origin ??= parser.absoluteTimes ? e.tMs : 0;
    if (origin !== 0) e.tMs -= origin;
  };
  // stage moves what the parser produced through ordering, rebasing and spreading into `ready`.
  const stage = (final: boolean): void => {
    for (const x of parsed) order.push(x, ordered);
    clear(parsed);
    if (final) order.flush(ordered);
    for (const x of ordered) {
      rebase(x.event);
      if (spread === undefined) ready.push(x);
      else spread.push(x, ready);
    }
    clear(ordered);
    if (final) spread?.flush(ready);
  };

  let lineNo = 0;
  for await (const raw of lines) {
    lineNo++;
    parser.line(raw.endsWith('\r') ? raw.slice(0, -1) : raw, lineNo, parsed);
    if (parsed.length === 0) continue;
    stage(false);
    for (const x of ready) yield x.event;
    clear(ready);
  }
  parser.end(lineNo, parsed);
  stage(true);
  for (const x of ready) yield x.event;
}

/** clear empties a small array in place (faster than setting length, which V8 treats as a slow path). */
function clear(a: Located[]): void {
  while (a.length > 0) a.pop();
}

function sortWindow(n: number | undefined): number {
  if (n === undefined) return DEFAULT_SORT_WINDOW;
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`sortWindow must be a whole number of events >= 0, not ${n}`);
  return n;
}

interface OrderStage {
  push(x: Located, out: Located[]): void;
  flush(out: Located[]): void;
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

  push(x: Located, out: Located[]): void {
    const t = x.event.tMs;
    if (t !== undefined) {
      if (t < this.#lastMs) {
        throw new TraceError(
          this.#file,
          x.line,
          `out of order: this event arrives ${formatSeconds(this.#lastMs - t)} before the one on line ${this.#lastLine}; ` +
            'sort the trace, or read it with --sort to reorder within a window',
        );
      }
      this.#lastMs = t;
      this.#lastLine = x.line;
    }
    out.push(x);
  }

  flush(): void {}
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

  push(x: Located, out: Located[]): void {
    const t = x.event.tMs;
    if (t === undefined) {
      out.push(x);
      return;
    }
    if (t < this.#releasedMs) {
      throw new TraceError(
        this.#file,
        x.line,
        `out of order by more than the sort window (${this.#window} events): this event arrives ` +
          `${formatSeconds(this.#releasedMs - t)} before the one on line ${this.#releasedLine}, which was already ` +
          'released; raise --sort-window or sort the trace first',
      );
    }
    this.#heap.push(x);
    if (this.#heap.size > this.#window) this.#release(out);
  }

  flush(out: Located[]): void {
    while (this.#heap.size > 0) this.#release(out);
  }

  #release(out: Located[]): void {
    const x = this.#heap.pop()!;
    this.#releasedMs = x.event.tMs!;
    this.#releasedLine = x.line;
    out.push(x);
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
  #group: Located[] = [];

  push(x: Located, out: Located[]): void {
    const first = this.#group[0];
    if (first !== undefined && (x.event.tMs === undefined || x.event.tMs !== first.event.tMs)) this.flush(out);
    this.#group.push(x);
  }

  flush(out: Located[]): void {
    const group = this.#group;
    const n = group.length;
    for (let i = 0; i < n; i++) {
      const e = group[i]!.event;
      if (e.tMs !== undefined) e.tMs += (i * 1000) / n;
      out.push(group[i]!);
    }
    this.#group = [];
  }
}
