/**
 * Parsing of the user's units into the core's: rates (events per second), durations (milliseconds) and
 * the HTTP Retry-After header (milliseconds to wait). This is the only place where seconds, minutes and
 * hours are converted; everything past it speaks milliseconds and events per second.
 *
 * The parsers are strict on purpose: a typo must be an error, not a surprising number. In particular no
 * input ever goes through `Number()` or `Date.parse`, which accept far more than they should.
 */

/**
 * ParseError is bad input to {@link parseRate} or {@link parseDuration}. Its message names the input and
 * shows accepted examples, ready to be prefixed with the flag or file it came from; `input` is the text
 * as given.
 */
export class ParseError extends Error {
  readonly input: string;
  constructor(message: string, input: string) {
    super(message);
    this.name = 'ParseError';
    this.input = input;
  }
}

const RATE_EXAMPLES = 'use e.g. 10/s, 600/m, 1/250ms or inf';
const DURATION_EXAMPLES = 'use e.g. 250ms, 1.5s, 2m or 1h30m';

/** Nanoseconds per duration unit, as Go's time.ParseDuration spells them (µ and μ both mean micro). */
const UNIT_NS: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['µs', 1_000n],
  ['μs', 1_000n],
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

/** Go's largest duration, 2^63 - 1 ns (about 292 years); longer ones are rejected, as in Go. */
const MAX_DURATION_NS = 2n ** 63n - 1n;

/** One `<decimal><unit>` term: digits with an optional fraction (`1.5`, `.5` and `5.` as in Go). */
const DURATION_TERM = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * parseDuration converts text such as `250ms`, `1.5s`, `2m`, `1h30m` or `500us` to milliseconds.
 *
 * The grammar is Go's time.ParseDuration without the sign: one or more `<decimal><unit>` terms, units
 * ns, us (or µs), ms, s, m, h. A unit is required except for the bare `0` (`5` and `1.5` are errors,
 * as in Go). The sum is computed in whole nanoseconds, fractions of a nanosecond truncated, so
 * `1.1s` is exactly 1100 ms; durations beyond 2^63-1 ns are rejected. Surrounding whitespace is
 * ignored. Throws a {@link ParseError} on anything else, negatives included.
 */
export function parseDuration(text: string): number {
  const ns = durationNs(text.trim());
  if (ns === undefined) throw new ParseError(`invalid duration ${quote(text)}: ${DURATION_EXAMPLES}`, text);
  return Number(ns) / 1e6;
}

/** durationNs returns the duration in nanoseconds, or undefined when `s` is not a duration. */
function durationNs(s: string): bigint | undefined {
  if (s === '0') return 0n;
  if (s === '') return undefined;
  let total = 0n;
  let at = 0;
  while (at < s.length) {
    DURATION_TERM.lastIndex = at;
    const m = DURATION_TERM.exec(s);
    if (m === null) return undefined;
    total += decimalTimes(m[1]!, UNIT_NS.get(m[2]!)!);
    if (total > MAX_DURATION_NS) return undefined;
    at = DURATION_TERM.lastIndex;
  }
  return total;
}

/** decimalTimes returns trunc(decimal × unit) exactly, for a decimal string like `1.5`, `.5` or `5.`. */
function decimalTimes(decimal: string, unit: bigint): bigint {
  const [whole = '', frac = ''] = decimal.split('.');
  const mantissa = BigInt((whole || '0') + frac);
  return (mantissa * unit) / 10n ** BigInt(frac.length);
}

/** The bare units a rate may be given per (`10/s`); any other denominator must be a duration. */
const RATE_UNIT_MS: ReadonlyMap<string, number> = new Map([
  ['ms', 1],
  ['s', 1_000],
  ['m', 60_000],
  ['h', 3_600_000],
]);

const DECIMAL = /^(\d+\.?\d*|\.\d+)$/;

/**
 * parseRate converts text to events per second. Accepted forms:
 *
 * - `10` or `2.5`: that many per second;
 * - `N/unit` with unit ms, s, m or h: `10/s`, `600/m` (= 10/s), `3/h`;
 * - `N/<duration>` with any {@link parseDuration} duration: `1/250ms` (= 4/s), `5/1.5s`, `3/1h`;
 * - `inf` in any case: unlimited ({@link Infinity}).
 *
 * A rate of `0` (also `0/s`) is accepted and means "no refill": a Limiter with limit 0 lets exactly its
 * initial burst through and then nothing, which is occasionally what a test wants. Rejected with a
 * {@link ParseError}: negatives, an empty string, a denominator without a unit (`1/2`), a zero
 * duration (`1/0s`), exponents (`1e3`), and numbers so large that the rate is not finite (only `inf`
 * spells infinity). Surrounding whitespace is ignored.
 */
export function parseRate(text: string): number {
  const rate = ratePerSec(text.trim());
  if (rate === undefined) throw new ParseError(`invalid rate ${quote(text)}: ${RATE_EXAMPLES}`, text);
  return rate;
}

function ratePerSec(s: string): number | undefined {
  if (s.toLowerCase() === 'inf') return Infinity;
  const slash = s.indexOf('/');
  const countText = slash < 0 ? s : s.slice(0, slash);
  if (!DECIMAL.test(countText)) return undefined;
  const count = Number(countText);
  let intervalMs = 1_000;
  if (slash >= 0) {
    const per = s.slice(slash + 1);
    const unitMs = RATE_UNIT_MS.get(per);
    if (unitMs !== undefined) {
      intervalMs = unitMs;
    } else {
      const ns = durationNs(per);
      if (ns === undefined || ns === 0n) return undefined;
      intervalMs = Number(ns) / 1e6;
    }
  }
  // count is finite and >= 0 and intervalMs is finite and > 0 here, so the only non-finite outcome is
  // an overflow to Infinity, never NaN; 0 stays 0.
  const rate = (count * 1_000) / intervalMs;
  return Number.isFinite(rate) ? rate : undefined;
}

/** Characters the RFC lets surround a field value (OWS): spaces and horizontal tabs only. */
const OWS = /^[ \t]+|[ \t]+$/g;

const DAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].join('|');
const DAY_NAMES_LONG = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'].join('|');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = MONTHS.join('|');
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';

/** `Sun, 06 Nov 1994 08:49:37 GMT` — groups: day, month, year, hour, minute, second. */
const IMF_FIXDATE = new RegExp(`^(?:${DAY_NAMES}), (\\d{2}) (${MONTH}) (\\d{4}) ${TIME} GMT$`);
/** `Sunday, 06-Nov-94 08:49:37 GMT` — groups: day, month, two-digit year, hour, minute, second. */
const RFC850_DATE = new RegExp(`^(?:${DAY_NAMES_LONG}), (\\d{2})-(${MONTH})-(\\d{2}) ${TIME} GMT$`);
/** `Sun Nov  6 08:49:37 1994` — groups: month, day (` 6` or `06`/`16`), hour, minute, second, year. */
const ASCTIME_DATE = new RegExp(`^(?:${DAY_NAMES}) (${MONTH}) (\\d{2}| \\d) ${TIME} (\\d{4})$`);

/**
 * parseRetryAfter converts an HTTP `Retry-After` field value to the milliseconds to wait, or returns
 * undefined when the value is not valid and should be ignored.
 *
 * It follows RFC 9110 §10.2.3 strictly: either delay-seconds (ASCII digits only: no sign, fraction or
 * unit, so `-1`, `+5` and `1.5` are invalid) or an HTTP-date in one of the three forms of §5.6.7 —
 * IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT` or asctime
 * `Sun Nov  6 08:49:37 1994` — matched case-sensitively, in UTC. A date gives `max(0, date - nowMs)`,
 * so a past date means "retry now". `nowMs` is wall-clock Unix epoch milliseconds (`Date.now()`), not
 * a Clock reading. An RFC 850 two-digit year is the latest year with those digits that is not more
 * than 50 years after `nowMs`. The weekday must be a valid name but is not checked against the date
 * (as Go's http.ParseTime). Surrounding spaces and tabs are ignored.
 *
 * Delay-seconds has no upper bound: a value of hundreds of digits gives Infinity; callers cap it.
 */
export function parseRetryAfter(value: string, nowMs: number): number | undefined {
  const s = value.replace(OWS, '');
  if (/^\d+$/.test(s)) return Number(s) * 1_000;
  const dateMs = httpDateMs(s, nowMs);
  return dateMs === undefined ? undefined : Math.max(0, dateMs - nowMs);
}

/** httpDateMs returns the epoch milliseconds of an HTTP-date in any of its three forms, or undefined. */
function httpDateMs(s: string, nowMs: number): number | undefined {
  let m = IMF_FIXDATE.exec(s);
  if (m !== null) return utcMs(Number(m[3]), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  m = ASCTIME_DATE.exec(s);
  if (m !== null) return utcMs(Number(m[6]), m[1]!, m[2]!, m[3]!, m[4]!, m[5]!);
  m = RFC850_DATE.exec(s);
  if (m === null) return undefined;
  // RFC 9110 §5.6.7: a two-digit year that would lie more than 50 years in the future means the most
  // recent past year with those digits. Among the years ending in those digits around now, take the
  // latest whose date is at most 50 years after now (a candidate may be invalid: 29-Feb-00 is a date in
  // 2000 but not in 1900 or 2100).
  const limit = new Date(nowMs);
  const thisYear = limit.getUTCFullYear();
  limit.setUTCFullYear(thisYear + 50);
  const centuryStart = thisYear - (thisYear % 100);
  for (const century of [centuryStart + 100, centuryStart, centuryStart - 100]) {
    const t = utcMs(century + Number(m[3]), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
    if (t !== undefined && t <= limit.getTime()) return t;
  }
  return undefined;
}

/** utcMs returns the epoch milliseconds of a calendar date and time in UTC, or undefined if invalid. */
function utcMs(
  year: number,
  month: string,
  dayText: string,
  hh: string,
  mi: string,
  ss: string,
): number | undefined {
  const monthIndex = MONTHS.indexOf(month);
  const day = Number(dayText.trim());
  const [hour, minute, second] = [Number(hh), Number(mi), Number(ss)];
  // Second 60 is a leap second (RFC 9110 §5.6.7: 00:00:00 - 23:59:60); Date rolls it into the next minute.
  if (hour > 23 || minute > 59 || second > 60 || day < 1 || day > daysInMonth(year, monthIndex)) return undefined;
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear takes the year as given.
  const d = new Date(0);
  d.setUTCFullYear(year, monthIndex, day);
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

function daysInMonth(year: number, monthIndex: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][monthIndex] ?? 0;
}

function quote(text: string): string {
  return JSON.stringify(text);
}
