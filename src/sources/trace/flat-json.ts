import type { FieldValues } from './fields.js';

/**
 * FlatFields holds the values of the fields an event may have ({@link FIELD_NAMES}), as a flat JSON
 * object gave them. One is filled again for every line: a fixed shape, read as fast as the engine reads
 * anything.
 */
export class FlatFields implements FieldValues {
  t: unknown = undefined;
  ts: unknown = undefined;
  key: unknown = undefined;
  n: unknown = undefined;
  duration: unknown = undefined;
  status: unknown = undefined;
  method: unknown = undefined;
  url: unknown = undefined;
  headers: unknown = undefined;
  bodyFile: unknown = undefined;

  clear(): void {
    this.t = this.ts = this.key = this.n = this.duration = this.status = undefined;
    this.method = this.url = this.headers = this.bodyFile = undefined;
  }
}

/**
 * parseFlatFields reads the common shape of a JSON Lines trace line, a flat object such as
 * `{"t":0.25,"key":"GET /a","duration":0.12}`, into `into`, without building an object for the line: it
 * is the fast path of JSON.parse for a trace of millions of lines. The line is `bytes[from, to)`, UTF-8 as
 * read from the file: no string is made of it, only of the string values it holds. It returns false,
 * leaving `into` in any state, for anything it does not read the way JSON.parse would read the decoded
 * line (a backslash or a byte above ASCII in a string, nested values, true or false, malformed JSON): the
 * caller then parses the text with JSON.parse, which gives the same values or the error.
 *
 * What it does read gives exactly what JSON.parse gives: whitespace is JSON's four characters, numbers
 * follow JSON's grammar and are converted by the engine (the same correctly rounded double), a string
 * of ASCII without escapes or control characters is its text, null is null, and of a repeated name the
 * last value counts. Names other than the event's fields are read and ignored.
 */
export function parseFlatFields(bytes: Buffer, from: number, to: number, into: FlatFields): boolean {
  into.clear();
  let at = skipSpace(bytes, from, to);
  if (at === to || bytes[at] !== OPEN) return false;
  at = skipSpace(bytes, at + 1, to);
  if (at < to && bytes[at] === CLOSE) return skipSpace(bytes, at + 1, to) === to;
  for (;;) {
    // "name"
    if (at === to || bytes[at] !== QUOTE) return false;
    const nameEnd = stringEnd(bytes, at + 1, to);
    if (nameEnd < 0) return false;
    const field = fieldAt(bytes, at + 1, nameEnd);
    at = skipSpace(bytes, nameEnd + 1, to);
    if (at === to || bytes[at] !== COLON) return false;
    at = skipSpace(bytes, at + 1, to);
    if (at === to) return false;
    // value
    const c = bytes[at];
    let value: unknown;
    if (c === QUOTE) {
      const valueEnd = stringEnd(bytes, at + 1, to);
      if (valueEnd < 0) return false;
      value = bytes.toString('latin1', at + 1, valueEnd);
      at = valueEnd + 1;
    } else if (c === 0x6e /* n */) {
      if (!(at + 4 <= to && bytes[at + 1] === 0x75 && bytes[at + 2] === 0x6c && bytes[at + 3] === 0x6c)) return false; // null
      value = null;
      at += 4;
    } else {
      value = readNumber(bytes, at, to);
      if (Number.isNaN(value)) return false;
      at = numberEnd;
    }
    if (field !== NONE) setField(into, field, value);
    at = skipSpace(bytes, at, to);
    if (at === to) return false;
    const sep = bytes[at];
    if (sep === CLOSE) return skipSpace(bytes, at + 1, to) === to;
    if (sep !== COMMA) return false;
    at = skipSpace(bytes, at + 1, to);
  }
}

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const QUOTE = 0x22; // "
const COLON = 0x3a; // :
const COMMA = 0x2c; // ,

/** Field codes: which field a name is, told without making a string of it. */
const NONE = 0;
const T = 1;
const TS = 2;
const KEY = 3;
const N = 4;
const DURATION = 5;
const STATUS = 6;
const METHOD = 7;
const URL = 8;
const HEADERS = 9;
const BODY_FILE = 10;

/** fieldAt tells which field the name bytes[from, to) is, or NONE. */
function fieldAt(bytes: Buffer, from: number, to: number): number {
  const c = bytes[from];
  switch (to - from) {
    case 1:
      return c === 0x74 /* t */ ? T : c === 0x6e /* n */ ? N : NONE;
    case 2:
      return c === 0x74 && bytes[from + 1] === 0x73 ? TS : NONE;
    case 3:
      return isName(bytes, from, NAME_KEY) ? KEY : isName(bytes, from, NAME_URL) ? URL : NONE;
    case 6:
      return isName(bytes, from, NAME_STATUS) ? STATUS : isName(bytes, from, NAME_METHOD) ? METHOD : NONE;
    case 7:
      return isName(bytes, from, NAME_HEADERS) ? HEADERS : NONE;
    case 8:
      return isName(bytes, from, NAME_DURATION) ? DURATION : isName(bytes, from, NAME_BODY_FILE) ? BODY_FILE : NONE;
    default:
      return NONE;
  }
}

/** The longer names, as bytes. */
const NAME_KEY = Buffer.from('key');
const NAME_URL = Buffer.from('url');
const NAME_STATUS = Buffer.from('status');
const NAME_METHOD = Buffer.from('method');
const NAME_HEADERS = Buffer.from('headers');
const NAME_DURATION = Buffer.from('duration');
const NAME_BODY_FILE = Buffer.from('bodyFile');

/** isName says whether the bytes at `from` are `name`. */
function isName(bytes: Buffer, from: number, name: Buffer): boolean {
  for (let i = 0; i < name.length; i++) if (bytes[from + i] !== name[i]) return false;
  return true;
}

/** setField stores the value of a field. */
function setField(into: FlatFields, field: number, value: unknown): void {
  switch (field) {
    case T:
      into.t = value;
      break;
    case TS:
      into.ts = value;
      break;
    case KEY:
      into.key = value;
      break;
    case N:
      into.n = value;
      break;
    case DURATION:
      into.duration = value;
      break;
    case STATUS:
      into.status = value;
      break;
    case METHOD:
      into.method = value;
      break;
    case URL:
      into.url = value;
      break;
    case HEADERS:
      into.headers = value;
      break;
    case BODY_FILE:
      into.bodyFile = value;
      break;
  }
}

/** skipSpace returns the first index at or after `at` that is not JSON whitespace (space, tab, LF, CR). */
function skipSpace(bytes: Buffer, at: number, end: number): number {
  while (at < end) {
    const c = bytes[at]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
    at++;
  }
  return at;
}

/**
 * stringEnd returns the index of the quote closing a string whose text starts at `at`, or -1 when the
 * string has an escape, a control character or a byte above ASCII (JSON.parse decides those, on the
 * decoded text) or is not closed.
 */
function stringEnd(bytes: Buffer, at: number, end: number): number {
  for (; at < end; at++) {
    const c = bytes[at]!;
    if (c === QUOTE) return at;
    if (c === 0x5c /* \ */ || c < 0x20 || c > 0x7f) return -1;
  }
  return -1;
}

/** POW10[k] is 10^k, exact as a double for k <= 22. */
const POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/** numberEnd is where the number readNumber read last ends. */
let numberEnd = 0;

/**
 * readNumber reads the JSON number starting at `at` (and ending before `to`) and returns its value (and
 * sets numberEnd), or NaN when no JSON number starts there. A plain decimal of at most 15 digits is
 * computed from its digits: they make an integer below 2^53 and 10^k is exact for k <= 15, so one
 * division, which IEEE rounds correctly, gives the correctly rounded value: the very double JSON.parse
 * gives (Clinger's fast path). Longer numbers and exponents are left to the engine.
 */
function readNumber(bytes: Buffer, at: number, to: number): number {
  const from = at;
  let c = bytes[at]!;
  const negative = c === 0x2d; // -
  if (negative) c = ++at < to ? bytes[at]! : -1;
  let m = 0;
  let digits = 0;
  let scale = 0;
  if (!(c >= 0x30 && c <= 0x39)) return NaN;
  // The integer part, a leading 0 included (one loop for all: a trace whose numbers begin "0." for its
  // first second must not find this loop cold when the first "1." comes); JSON allows no 0 before a digit.
  const intFrom = at;
  do {
    m = m * 10 + (c - 0x30);
    digits++;
    c = ++at < to ? bytes[at]! : -1;
  } while (c >= 0x30 && c <= 0x39);
  if (bytes[intFrom] === 0x30 && at - intFrom > 1) return NaN;
  if (c === 0x2e) {
    // .
    c = ++at < to ? bytes[at]! : -1;
    if (!(c >= 0x30 && c <= 0x39)) return NaN;
    do {
      m = m * 10 + (c - 0x30);
      digits++;
      scale++;
      c = ++at < to ? bytes[at]! : -1;
    } while (c >= 0x30 && c <= 0x39);
  }
  if (c === 0x65 || c === 0x45) {
    // e, E
    c = ++at < to ? bytes[at]! : -1;
    if (c === 0x2b || c === 0x2d) c = ++at < to ? bytes[at]! : -1;
    if (!(c >= 0x30 && c <= 0x39)) return NaN;
    do c = ++at < to ? bytes[at]! : -1;
    while (c >= 0x30 && c <= 0x39);
    numberEnd = at;
    return Number(bytes.toString('latin1', from, at));
  }
  numberEnd = at;
  if (digits > 15) return Number(bytes.toString('latin1', from, at));
  const value = scale === 0 ? m : m / POW10[scale]!;
  return negative ? -value : value;
}
