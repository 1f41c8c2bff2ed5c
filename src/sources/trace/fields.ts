import type { Parsed } from './arrange.js';
import { TraceError } from './event.js';
import { epochNumberToMs, isoToEpochMs, secondsToMs } from './numbers.js';
import type { HttpFields } from './rows.js';

/**
 * The fields of JSON Lines and CSV traces, and what each means:
 *
 *   t         arrival, seconds from the trace's start (>= 0)         } one of the two, the same one on
 *   ts        arrival, ISO-8601 date or epoch seconds/milliseconds   } every line; neither: untimed trace
 *   key       what identifies the event (string; default "")
 *   n         tokens the job takes (whole number >= 1; default 1)
 *   duration  service time, seconds (>= 0)
 *   status    exit status or HTTP status (integer)
 *   method, url            an HTTP request (strings)
 *   headers   request headers, [["Name", "value"], ...] (JSON Lines only)
 *   bodyFile  file holding the request body (string)
 *
 * Other fields are ignored, so traces may carry data of their own. JSON `null` counts as absent.
 */
export const FIELD_NAMES = ['t', 'ts', 'key', 'n', 'duration', 'status', 'method', 'url', 'headers', 'bodyFile'] as const;

/** FieldValues are one event's field values by name: a JSON Lines object, or a CSV row's cells. */
export interface FieldValues {
  readonly t?: unknown;
  readonly ts?: unknown;
  readonly key?: unknown;
  readonly n?: unknown;
  readonly duration?: unknown;
  readonly status?: unknown;
  readonly method?: unknown;
  readonly url?: unknown;
  readonly headers?: unknown;
  readonly bodyFile?: unknown;
}

/** EventFields builds events from named field values and checks the time fields are used consistently. */
export class EventFields {
  readonly #file: string;
  /** How the first event gave its time, and on which line: every later event must do the same. */
  #clock: 't' | 'ts' | 'none' | undefined;
  #clockLine = 0;

  constructor(file: string) {
    this.#file = file;
  }

  /** absoluteTimes is true for `ts` traces, whose times are rebased to the first event. */
  get absoluteTimes(): boolean {
    return this.#clock === 'ts';
  }

  /**
   * build adds the event of one line to `out`, from its field values: each is a JSON value, or a CSV field
   * (a number when the column is numeric and the text is a decimal, else the text); undefined when absent.
   * Each field is read once, as a named property: on values of one shape (a reused FlatFields, or the
   * objects JSON.parse gives lines with the same fields) that is as fast as the engine reads anything. The
   * numbers go to `out` as they are, with no object made for the event.
   */
  build(lineNo: number, v: FieldValues, out: Parsed): void {
    const t = present(v.t);
    const ts = present(v.ts);
    if (t !== undefined && ts !== undefined) this.#fail(lineNo, 'give "t" or "ts", not both');
    const clock = t !== undefined ? 't' : ts !== undefined ? 'ts' : 'none';
    if (clock !== this.#clock) this.#newClock(clock, lineNo);

    let tMs = NaN;
    if (t !== undefined) {
      if (typeof t !== 'number' || !(t >= 0) || !Number.isFinite(t)) this.#fail(lineNo, '"t" must be a number of seconds >= 0');
      tMs = secondsToMs(t);
    } else if (ts !== undefined) {
      const ms = typeof ts === 'number' ? (Number.isFinite(ts) && ts >= 0 ? epochNumberToMs(ts) : undefined) : typeof ts === 'string' ? isoToEpochMs(ts) : undefined;
      if (ms === undefined) {
        this.#fail(lineNo, '"ts" must be an ISO-8601 date like "2024-05-01T12:00:00.250Z", or epoch seconds or milliseconds');
      }
      tMs = ms;
    }
    let key = present(v.key);
    if (key === undefined) key = '';
    else if (typeof key !== 'string') this.#fail(lineNo, '"key" must be a string');
    let tokens = NaN;
    const n = present(v.n);
    if (n !== undefined) {
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) this.#fail(lineNo, '"n" must be a whole number of tokens >= 1');
      tokens = n;
    }
    let serviceMs = NaN;
    const duration = present(v.duration);
    if (duration !== undefined) {
      if (typeof duration !== 'number' || !(duration >= 0) || !Number.isFinite(duration)) {
        this.#fail(lineNo, '"duration" must be a number of seconds >= 0');
      }
      serviceMs = secondsToMs(duration);
    }
    let status = NaN;
    const s = present(v.status);
    if (s !== undefined) {
      if (typeof s !== 'number' || !Number.isSafeInteger(s)) {
        this.#fail(lineNo, '"status" must be an integer (an exit status or an HTTP status)');
      }
      status = s;
    }
    const method = present(v.method);
    const url = present(v.url);
    const bodyFile = present(v.bodyFile);
    const headers = present(v.headers);
    out.add(key as string, tMs, tokens, serviceMs, status, method === undefined && url === undefined && bodyFile === undefined && headers === undefined ? undefined : this.#http(lineNo, method, url, bodyFile, headers), lineNo);
  }

  /** #http checks and gathers a line's request fields (any of them may be absent). */
  #http(lineNo: number, method: unknown, url: unknown, bodyFile: unknown, headers: unknown): HttpFields {
    const f: { -readonly [K in keyof HttpFields]: HttpFields[K] } = {};
    if (method !== undefined) f.method = this.#text(lineNo, 'method', method);
    if (url !== undefined) f.url = this.#text(lineNo, 'url', url);
    if (bodyFile !== undefined) f.bodyFile = this.#text(lineNo, 'bodyFile', bodyFile);
    if (headers !== undefined) {
      const ok =
        Array.isArray(headers) &&
        headers.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && h[0] !== '' && typeof h[1] === 'string');
      if (!ok) this.#fail(lineNo, '"headers" must be a list of [name, value] pairs of strings, e.g. [["Accept", "text/plain"]]');
      f.headers = (headers as [string, string][]).map(([name, value]) => [name, value] as const);
    }
    return f;
  }

  /** #newClock records the first event's way of giving times, or fails a later event that differs. */
  #newClock(clock: 't' | 'ts' | 'none', lineNo: number): void {
    if (this.#clock === undefined) {
      this.#clock = clock;
      this.#clockLine = lineNo;
      return;
    }
    const was = this.#clock === 'none' ? 'no time ("t" or "ts")' : `"${this.#clock}"`;
    const is = clock === 'none' ? 'has no time ("t" or "ts")' : `uses "${clock}"`;
    this.#fail(lineNo, `this event ${is} but line ${this.#clockLine} has ${was}: a trace gives its times one way throughout`);
  }

  #text(lineNo: number, name: string, v: unknown): string {
    if (typeof v !== 'string' || v === '') this.#fail(lineNo, `"${name}" must be a non-empty string`);
    return v;
  }

  #fail(lineNo: number, message: string): never {
    throw new TraceError(this.#file, lineNo, message);
  }
}

function present(v: unknown): unknown {
  return v === null ? undefined : v;
}
