import type { Draft } from './arrange.js';
import { TraceError } from './event.js';
import { epochNumberToMs, isoToEpochMs, secondsToMs } from './numbers.js';

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
   * build makes the event of one line from its field values: `get(name)` returns a JSON value, or a CSV
   * field (a number when the column is numeric and the text is a decimal, else the text); undefined when
   * absent.
   */
  build(lineNo: number, get: (name: string) => unknown): Draft {
    const fail = (message: string): never => {
      throw new TraceError(this.#file, lineNo, message);
    };
    const t = present(get('t'));
    const ts = present(get('ts'));
    if (t !== undefined && ts !== undefined) fail('give "t" or "ts", not both');
    const clock = t !== undefined ? 't' : ts !== undefined ? 'ts' : 'none';
    if (this.#clock === undefined) {
      this.#clock = clock;
      this.#clockLine = lineNo;
    } else if (clock !== this.#clock) {
      const was = this.#clock === 'none' ? 'no time ("t" or "ts")' : `"${this.#clock}"`;
      const is = clock === 'none' ? 'has no time ("t" or "ts")' : `uses "${clock}"`;
      fail(`this event ${is} but line ${this.#clockLine} has ${was}: a trace gives its times one way throughout`);
    }

    const e: Draft = { key: '' };
    if (t !== undefined) {
      if (typeof t !== 'number' || !(t >= 0) || !Number.isFinite(t)) fail('"t" must be a number of seconds >= 0');
      e.tMs = secondsToMs(t as number);
    } else if (ts !== undefined) {
      const ms = typeof ts === 'number' ? (Number.isFinite(ts) && ts >= 0 ? epochNumberToMs(ts) : undefined) : typeof ts === 'string' ? isoToEpochMs(ts) : undefined;
      if (ms === undefined) {
        fail('"ts" must be an ISO-8601 date like "2024-05-01T12:00:00.250Z", or epoch seconds or milliseconds');
      }
      e.tMs = ms;
    }
    const key = present(get('key'));
    if (key !== undefined) {
      if (typeof key !== 'string') fail('"key" must be a string');
      e.key = key as string;
    }
    const n = present(get('n'));
    if (n !== undefined) {
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) fail('"n" must be a whole number of tokens >= 1');
      e.tokens = n as number;
    }
    const duration = present(get('duration'));
    if (duration !== undefined) {
      if (typeof duration !== 'number' || !(duration >= 0) || !Number.isFinite(duration)) {
        fail('"duration" must be a number of seconds >= 0');
      }
      e.serviceMs = secondsToMs(duration as number);
    }
    const status = present(get('status'));
    if (status !== undefined) {
      if (typeof status !== 'number' || !Number.isSafeInteger(status)) {
        fail('"status" must be an integer (an exit status or an HTTP status)');
      }
      e.status = status as number;
    }
    for (const name of ['method', 'url', 'bodyFile'] as const) {
      const v = present(get(name));
      if (v === undefined) continue;
      if (typeof v !== 'string' || v === '') fail(`"${name}" must be a non-empty string`);
      e[name] = v as string;
    }
    const headers = present(get('headers'));
    if (headers !== undefined) {
      const ok =
        Array.isArray(headers) &&
        headers.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && h[0] !== '' && typeof h[1] === 'string');
      if (!ok) fail('"headers" must be a list of [name, value] pairs of strings, e.g. [["Accept", "text/plain"]]');
      e.headers = (headers as [string, string][]).map(([name, value]) => [name, value] as const);
    }
    return e;
  }
}

function present(v: unknown): unknown {
  return v === null ? undefined : v;
}
