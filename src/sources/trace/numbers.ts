/**
 * Strict number and date parsing for trace fields. As in core/parse, text never goes through a bare
 * `Number()` or `Date.parse`: `Number('')` is 0 and `Date.parse` accepts whatever the engine likes, and a
 * typo in a trace must be an error naming its line, not a surprising time.
 */

const DECIMAL = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
const INTEGER = /^-?\d+$/;

/** parseDecimal returns the number a decimal text spells (`1.5`, `-2`, `.5`, `1e3`), else undefined. */
export function parseDecimal(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** parseInteger returns the integer an integer text spells (`200`, `-1`), else undefined. */
export function parseInteger(text: string): number | undefined {
  if (!INTEGER.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * secondsToMs converts seconds to milliseconds at microsecond resolution. Rounding to the microsecond
 * makes `1.1` exactly 1100 (not 1100.0000000000002) and matches formatTraceLine's six decimals, so a trace
 * written and read back gives identical numbers. Epoch seconds (~1.7e9) stay exact: 1.7e15 µs < 2^53.
 */
export function secondsToMs(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e3;
}

/** roundMs rounds milliseconds to the microsecond, the resolution of every time in a trace. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1e3) / 1e3;
}

/**
 * Epoch numbers at or above this are milliseconds, below it seconds: 1e11 s lies in the year 5138, while
 * 1e11 ms is March 1973, so no plausible trace is misread.
 */
const EPOCH_MS_THRESHOLD = 1e11;

/** epochNumberToMs converts an epoch timestamp in seconds or milliseconds (told apart by size) to ms. */
export function epochNumberToMs(ts: number): number {
  return ts >= EPOCH_MS_THRESHOLD ? roundMs(ts) : secondsToMs(ts);
}

/**
 * ISO-8601 date and time as traces write it: `2024-05-01T12:00:00Z`, with an optional fraction of any
 * length, `T` or a space between date and time, and `Z`, `±hh:mm` or `±hhmm` (no zone: UTC).
 */
const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * isoToEpochMs returns the epoch milliseconds of an ISO-8601 date-time (sub-millisecond fractions kept
 * to the microsecond), or undefined when the text is not one or names an impossible date. A time without
 * a zone is taken as UTC, not local time: only differences between a trace's times matter, and this
 * way they do not depend on the machine's time zone.
 */
export function isoToEpochMs(text: string): number | undefined {
  const m = ISO.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month - 1)) return undefined;
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  let offsetMin = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2));
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  const fraction = m[7] === undefined ? 0 : roundMs(Number(`0.${m[7]}`) * 1000);
  return d.getTime() - offsetMin * 60_000 + fraction;
}

export function daysInMonth(year: number, monthIndex: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][monthIndex] ?? 0;
}

/** formatSeconds renders milliseconds as seconds for messages: `1.5 s`, `0.000250 s`. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(6))} s`;
}
