import { Readable } from 'node:stream';
import test from 'ava';
import fc from 'fast-check';
import { FIELD_NAMES } from '../src/sources/trace/fields.js';
import { FlatFields, parseFlatFields } from '../src/sources/trace/flat-json.js';
import { readJsonl } from '../src/sources/trace/jsonl.js';
import { readTrace } from '../src/sources/trace/read.js';

/** AROUND: bytes before and after a line inside a chunk, some that would extend a line read past its end. */
const AROUND: ReadonlyArray<readonly [string, string]> = [['7\n', '\n9'], ['{', '9}'], ['"', 'l}'], ['', '"}'], [' ', ' }'], ['', 'e1}']];

/**
 * parse runs the fast path on the UTF-8 bytes of `text`, alone and inside other bytes (as a line is, inside
 * a chunk): the bytes around it, whatever they are, change nothing.
 */
function parse(text: string, into: FlatFields): boolean {
  const line = Buffer.from(text, 'utf8');
  const ok = parseFlatFields(line, 0, line.length, into);
  const alone = FIELD_NAMES.map((name) => into[name]);
  for (const [before, after] of AROUND) {
    const bytes = Buffer.from(`${before}${text}${after}`, 'utf8');
    const again = new FlatFields();
    const from = Buffer.byteLength(before);
    if (parseFlatFields(bytes, from, from + line.length, again) !== ok) throw new Error(`${JSON.stringify(text)} reads otherwise between ${before} and ${after}`);
    if (ok && !FIELD_NAMES.every((name, i) => Object.is(again[name], alone[i]))) throw new Error(`${JSON.stringify(text)} gives other values between ${before} and ${after}`);
  }
  return ok;
}

/**
 * sameAsJsonParse says whether the fast path read `text` as JSON.parse does: either it declined, or every
 * field it filled is the value JSON.parse gives (Object.is: -0 and 0 differ).
 */
function sameAsJsonParse(text: string): boolean {
  const into = new FlatFields();
  if (!parse(text, into)) return true;
  const obj = JSON.parse(text) as Record<string, unknown>;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return false;
  return FIELD_NAMES.every((name) => Object.is(into[name], Object.hasOwn(obj, name) ? obj[name] : undefined));
}

test('flat JSON: the lines of generated traces are read without JSON.parse, to the same values', (t) => {
  for (const text of ['{"t":0.000099,"duration":0.000577}', '{"t": 1.5, "key": "GET /a", "n": 2, "status": 200}', ' { "ts" : "2024-05-01T12:00:00Z" , "x" : null } ', '{}']) {
    t.true(parse(text, new FlatFields()), text);
    t.true(sameAsJsonParse(text), text);
  }
});

test('flat JSON: numbers are the doubles JSON.parse gives, short or long, with or without an exponent', (t) => {
  const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));
  const number = fc
    .tuple(fc.boolean(), fc.oneof(fc.constant('0'), fc.tuple(fc.integer({ min: 1, max: 9 }), digits(0, 20)).map(([a, b]) => `${a}${b}`)), fc.option(digits(1, 24)), fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(1, 3))))
    .map(([neg, int, frac, exp]) => `${neg ? '-' : ''}${int}${frac === null ? '' : `.${frac}`}${exp === null ? '' : exp.join('')}`);
  fc.assert(
    fc.property(number, (n) => {
      const into = new FlatFields();
      return parse(`{"t":${n}}`, into) && Object.is(into.t, JSON.parse(n));
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

test('flat JSON: anything else is declined or read the same (escapes, nesting, booleans, bad JSON, repeats)', (t) => {
  const declined = ['{"key":"é"}', '{"ké":1}', '{"t":1', '{"t":12', '{"t":1e', '{"t":nul', '{"t":null', '{"key":"a\\"b"}', '{"key":"tab\tin"}', '{"headers":[["A","b"]]}', '{"t":1,"x":{"y":1}}', '{"t":true}', '{"t":01}', '{"t":00}', '{"t":-01}', '{"t":00.5}', '{"t":1.}', '{"t":-}', '{"t":1}x', '{"t":1,}', '{"t" 1}', '', '  ', '[1]', '{"t":1', '\u00a0{"t":1}'];
  for (const text of declined) t.false(parse(text, new FlatFields()), JSON.stringify(text));
  t.true(sameAsJsonParse('{"t":1,"t":2,"key":"a","key":null}'));
  const line = fc.oneof(
    fc.dictionary(fc.constantFrom(...FIELD_NAMES, 'x', ''), fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constant(null), fc.jsonValue())).map((o) => JSON.stringify(o)),
    fc.tuple(fc.string(), fc.string()).map(([a, b]) => `{"t":1,${a}${b}}`),
  );
  fc.assert(fc.property(line, sameAsJsonParse), { numRuns: 3000 });
});

test('jsonl: the fast path and JSON.parse give the same events, and the same errors', async (t) => {
  const collect = async (lines: string[]): Promise<unknown[]> => {
    const out: unknown[] = [];
    for await (const e of readJsonl(lines, 'f.jsonl')) out.push(e);
    return out;
  };
  // A nested field nobody reads sends a line down the JSON.parse path.
  const slow = (line: string): string => line.replace(/}\s*$/, ',"extra":{"a":[1]}}');
  const lines = ['{"t":0,"key":"GET /a","duration":0.12,"status":200}', '{"t":0.25,"n":2,"method":"POST","url":"http://h/b","bodyFile":"b.json"}', '', '{"t":1.5,"key":"c","status":null}'];
  t.deepEqual(await collect(lines), await collect(lines.map((l) => (l === '' ? l : slow(l)))));
  for (const bad of ['{"t":-1}', '{"t":"1"}', '{"key":3,"t":1}', '{"n":0,"t":1}', '{"n":1.5,"t":1}', '{"duration":-0.5,"t":1}', '{"status":1.5,"t":1}', '{"method":"","t":1}', '{"t":1,"ts":2}', '{"ts":"yesterday"}', '{"key":"a"}']) {
    const fast = await t.throwsAsync(collect(['{"t":0}', bad]));
    const viaParse = await t.throwsAsync(collect(['{"t":0}', slow(bad)]));
    t.is(fast?.message, viaParse?.message, bad);
  }
});

test('jsonl: a trace read from a stream in bytes, however cut, gives the events JSON.parse gives its lines', async (t) => {
  const key = fc.oneof(fc.constantFrom('GET /a', 'é', 'naïve/😀', 'tab\there', 'quote"d', ''), fc.string({ maxLength: 6 }));
  const line = fc
    .record({ t: fc.integer({ min: 0, max: 5000 }), key, duration: fc.option(fc.double({ min: 0, max: 10, noNaN: true })), status: fc.option(fc.integer({ min: 0, max: 599 })) })
      .map((e) => JSON.stringify({ t: e.t / 1000, key: e.key, ...(e.duration === null ? {} : { duration: e.duration }), ...(e.status === null ? {} : { status: e.status }) }));
  const trace = fc.tuple(fc.array(line, { minLength: 1, maxLength: 30 }), fc.constantFrom('\n', '\r\n'), fc.boolean(), fc.boolean()).map(([lines, eol, bom, blank]) => {
    const sorted = lines.map((l) => JSON.parse(l) as { t: number }).sort((a, b) => a.t - b.t).map((o) => JSON.stringify(o));
    return `${bom ? '\uFEFF' : ''}${blank ? eol : ''}${sorted.join(blank ? `${eol}${eol}` : eol)}${eol}`;
  });
  await fc.assert(
    fc.asyncProperty(trace, fc.array(fc.nat(), { maxLength: 8 }), async (text, cuts) => {
      const bytes = Buffer.from(text, 'utf8');
      const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const chunks = [...at, bytes.length].map((end, i, all) => bytes.subarray(i === 0 ? 0 : all[i - 1], end)).filter((c) => c.length > 0);
      const viaBytes: unknown[] = [];
      for await (const e of (await readTrace(Readable.from(chunks), 'f.jsonl')).events) viaBytes.push(e);
      const viaText: unknown[] = [];
      const lines = text.replace(/^\uFEFF/, '').split('\n').slice(0, -1);
      // A nested field nobody reads sends each line down the JSON.parse path.
      const parsed = lines.map((l) => l.replace(/}(\r?)$/, ',"extra":{"a":[1]}}$1'));
      for await (const e of readJsonl(parsed, 'f.jsonl')) viaText.push(e);
      return JSON.stringify(viaBytes) === JSON.stringify(viaText);
    }),
    { numRuns: 300 },
  );
  t.pass();
});
