import test from 'ava';
import { ParseError, parseDuration, parseRate, parseRetryAfter } from '../src/core/parse.js';

const durations: Array<[string, number]> = [
  ['0', 0],
  ['250ms', 250],
  ['1.5s', 1500],
  ['1.1s', 1100],
  ['2m', 120_000],
  ['1h', 3_600_000],
  ['1h30m', 5_400_000],
  ['1h0m0.5s', 3_600_500],
  ['1m1m', 120_000],
  ['500us', 0.5],
  ['500µs', 0.5],
  ['500μs', 0.5],
  ['1ns', 1e-6],
  ['1.5ns', 1e-6], // fractions of a nanosecond truncate, as in Go
  ['0s', 0],
  ['0.000ms', 0],
  ['.5s', 500],
  ['5.s', 5000],
  ['007s', 7000],
  [' 2s ', 2000],
  ['2562047h47m16.854775807s', 9_223_372_036_854.775], // Go's maximum duration
];

for (const [text, ms] of durations) {
  test(`parseDuration(${JSON.stringify(text)}) is ${ms} ms`, (t) => {
    t.is(parseDuration(text), ms);
  });
}

const badDurations = [
  '', ' ', '5', '1.5', '-1s', '+1s', '1', '00', '1x', '1S', '1H', '1 s', 's', '.s', '1.2.3s', '1sm', 'ms',
  '1d', '1w', 'inf', 'NaN', '1e3ms', '0x10s', '2562047h47m16.854775808s', '9999999999999999999h', '1s ' + 'x',
];

for (const text of badDurations) {
  test(`parseDuration(${JSON.stringify(text)}) throws naming the input and examples`, (t) => {
    const err = t.throws(() => parseDuration(text), { instanceOf: ParseError });
    t.is(err?.message, `invalid duration ${JSON.stringify(text)}: use e.g. 250ms, 1.5s, 2m or 1h30m`);
    t.is(err?.input, text);
  });
}

test('parseDuration message matches the style guide exactly', (t) => {
  t.throws(() => parseDuration('5'), { message: 'invalid duration "5": use e.g. 250ms, 1.5s, 2m or 1h30m' });
});

const rates: Array<[string, number]> = [
  ['10', 10],
  ['2.5', 2.5],
  ['.5', 0.5],
  ['10/s', 10],
  ['2.5/s', 2.5],
  ['600/m', 10],
  ['3/h', 3 / 3600],
  ['1/ms', 1000],
  ['1/200ms', 5],
  ['1/250ms', 4],
  ['3/1h', 3 / 3600],
  ['5/1.5s', 5 / 1.5],
  ['1/1h30m', 1 / 5400],
  ['1/500us', 2000],
  ['1/1ns', 1e9],
  ['inf', Infinity],
  ['Inf', Infinity],
  ['INF', Infinity],
  [' 10/s ', 10],
  ['0', 0],
  ['0/s', 0],
  ['0/1ms', 0],
  ['1/2562047h', 1 / (2562047 * 3600)], // tiny but positive
  ['1' + '0'.repeat(300), 1e300], // huge but finite
];

for (const [text, perSec] of rates) {
  test(`parseRate(${JSON.stringify(text)}) is ${perSec}/s`, (t) => {
    const got = parseRate(text);
    if (Number.isFinite(perSec) && perSec !== 0) t.true(Math.abs(got - perSec) / perSec < 1e-12, `got ${got}`);
    else t.is(got, perSec);
  });
}

const badRates = [
  '', ' ', '10/x', '1/2', '1/0', '1/0s', '1/0ms', '-1', '-1/s', '+1', '+1/s', 'NaN', 'nan', 'Infinity', 'inf/s',
  '1/inf', '10/', '/s', '1//s', '1/s/s', '10/S', '10/sec', '10/min', '10/hour', '10/us', '10/ns', '1e3', '1e3/s',
  '0x10', '10 /s', '10/ s', '1,000', '1.2.3', '1/-1s', '1' + '0'.repeat(400), '1' + '0'.repeat(300) + '/1ns',
];

for (const text of badRates) {
  test(`parseRate(${JSON.stringify(text)}) throws naming the input and examples`, (t) => {
    const err = t.throws(() => parseRate(text), { instanceOf: ParseError });
    t.is(err?.message, `invalid rate ${JSON.stringify(text)}: use e.g. 10/s, 600/m, 1/250ms or inf`);
  });
}

test('parseRate message matches the style guide exactly', (t) => {
  t.throws(() => parseRate('10/x'), { message: 'invalid rate "10/x": use e.g. 10/s, 600/m, 1/250ms or inf' });
});

test('parseRate and parseDuration never return NaN for any accepted input', (t) => {
  for (const [text] of rates) t.false(Number.isNaN(parseRate(text)), text);
  for (const [text] of durations) t.false(Number.isNaN(parseDuration(text)), text);
});

// Wall-clock "now" for the Retry-After tests: Sun, 06 Nov 1994 08:49:37 GMT.
const NOW = Date.UTC(1994, 10, 6, 8, 49, 37);

const retryAfters: Array<[string, number, number]> = [
  ['0', NOW, 0],
  ['120', NOW, 120_000],
  ['007', NOW, 7_000],
  [' \t30\t ', NOW, 30_000],
  ['Sun, 06 Nov 1994 08:49:37 GMT', NOW, 0],
  ['Sun, 06 Nov 1994 08:50:37 GMT', NOW, 60_000],
  ['Sunday, 06-Nov-94 08:50:37 GMT', NOW, 60_000],
  ['Sun Nov  6 08:50:37 1994', NOW, 60_000],
  ['Sun Nov 06 08:50:37 1994', NOW, 60_000],
  ['Mon, 07 Nov 1994 08:49:37 GMT', NOW, 86_400_000],
  ['Mon Nov  7 08:49:37 1994', NOW, 86_400_000],
  ['Sun Nov 16 08:49:37 1994', NOW, 10 * 86_400_000],
  // past dates mean "retry now"
  ['Sat, 05 Nov 1994 08:49:37 GMT', NOW, 0],
  ['Thu, 01 Jan 1970 00:00:00 GMT', NOW, 0],
  ['Thursday, 01-Jan-70 00:00:00 GMT', NOW, 0],
  ['Thu Jan  1 00:00:00 1970', NOW, 0],
  // the weekday is a valid name but not checked against the date (as Go's http.ParseTime)
  ['Mon, 06 Nov 1994 08:50:37 GMT', NOW, 60_000],
  // leap second 60 rolls into the next minute; 29 Feb in a leap year
  ['Sun, 06 Nov 1994 08:50:60 GMT', NOW, 83_000],
  ['Thu, 29 Feb 1996 00:00:00 GMT', NOW, Date.UTC(1996, 1, 29) - NOW],
];

for (const [value, now, ms] of retryAfters) {
  test(`parseRetryAfter(${JSON.stringify(value)}) is ${ms} ms`, (t) => {
    t.is(parseRetryAfter(value, now), ms);
  });
}

test('parseRetryAfter: two-digit RFC 850 years are the latest year not more than 50 years ahead', (t) => {
  const now2025 = Date.UTC(2025, 5, 15, 12, 0, 0);
  const at = (value: string): number => parseRetryAfter(value, now2025)! + now2025;
  // In the future within 50 years: this century.
  t.is(at('Monday, 01-Jan-30 00:00:00 GMT'), Date.UTC(2030, 0, 1));
  t.is(at('Saturday, 01-Jan-75 00:00:00 GMT'), Date.UTC(2075, 0, 1)); // 49.5 years ahead
  // More than 50 years ahead: the previous century (hence in the past, so 0 delay).
  t.is(parseRetryAfter('Thursday, 01-Dec-75 00:00:00 GMT', now2025), 0); // 2075-12-01 is > 50 y ahead
  t.is(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', now2025), 0);
  // Exactly 50 years ahead is not "more than 50": kept in the future.
  t.is(at('Sunday, 15-Jun-75 12:00:00 GMT'), Date.UTC(2075, 5, 15, 12));
  t.is(parseRetryAfter('Sunday, 15-Jun-75 12:00:01 GMT', now2025), 0);
  // Near a century boundary: from 2090, "05" is 2105 (15 years ahead), "45" is 2045 (past).
  const now2090 = Date.UTC(2090, 0, 1);
  t.is(parseRetryAfter('Monday, 01-Jan-05 00:00:00 GMT', now2090), Date.UTC(2105, 0, 1) - now2090);
  t.is(parseRetryAfter('Monday, 01-Jan-45 00:00:00 GMT', now2090), 0);
  // 29-Feb-00 exists in 2000 but not in 2100: from 2080 it is 2000 (past).
  t.is(parseRetryAfter('Tuesday, 29-Feb-00 00:00:00 GMT', Date.UTC(2080, 0, 1)), 0);
  // From 1994, "94" is 1994 and "44" is 2044.
  t.is(parseRetryAfter('Friday, 01-Jan-44 00:00:00 GMT', NOW), Date.UTC(2044, 0, 1) - NOW);
});

test('parseRetryAfter: huge delay-seconds never gives NaN', (t) => {
  t.is(parseRetryAfter('99999999999', NOW), 99_999_999_999_000);
  t.is(parseRetryAfter('9'.repeat(400), NOW), Infinity);
});

const badRetryAfters = [
  '', ' ', '\t', '-1', '+5', '1.5', '1e3', '0x10', '10s', '1 0', '１２', // full-width digits
  'Infinity', 'NaN', 'now',
  // forms V8's Date.parse accepts but RFC 9110 does not
  '2024-01-01', '2024-01-01T00:00:00Z', '1994-11-06T08:49:37Z', 'Nov 6 1994', '6 Nov 1994',
  'Sun, 06 Nov 1994 08:49:37', 'Sun, 06 Nov 1994 08:49:37 UTC', 'Sun, 06 Nov 1994 08:49:37 +0000',
  'Sun, 06 Nov 1994 08:49:37 gmt', 'sun, 06 nov 1994 08:49:37 GMT', 'SUN, 06 NOV 1994 08:49:37 GMT',
  'Sun, 6 Nov 1994 08:49:37 GMT', 'Sun, 06 Nov 94 08:49:37 GMT', 'Sun, 06 Nov 1994 8:49:37 GMT',
  'Sun, 06 Nov 1994 08:49 GMT', 'Sun,  06 Nov 1994 08:49:37 GMT', 'Sun 06 Nov 1994 08:49:37 GMT',
  '06 Nov 1994 08:49:37 GMT', 'Sunday, 06 Nov 1994 08:49:37 GMT', 'Sun, 06 November 1994 08:49:37 GMT',
  'Sun, 06-Nov-94 08:49:37 GMT', 'Sunday, 06-Nov-1994 08:49:37 GMT', 'Sunday, 6-Nov-94 08:49:37 GMT',
  'Sun Nov 6 08:49:37 1994', 'Sun Nov  6 08:49:37 1994 GMT', 'Sunday Nov  6 08:49:37 1994',
  'Sun Nov  6 1994 08:49:37', 'Sun Nov  6 08:49:37 94', 'Sun Nov  6 08:49:37 GMT 1994',
  'Sun Nov 06 1994 08:49:37 GMT+0000 (Coordinated Universal Time)', // Date.prototype.toString
  'Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT',
  // out-of-range fields Date.parse would roll over
  'Sun, 31 Nov 1994 08:49:37 GMT', 'Sun, 29 Feb 1995 08:49:37 GMT', 'Sun, 00 Nov 1994 08:49:37 GMT',
  'Sun, 06 Nov 1994 24:00:00 GMT', 'Sun, 06 Nov 1994 08:60:00 GMT', 'Sun, 06 Nov 1994 08:49:61 GMT',
  'Sun, 06 Nov 1994 08:49:37 GMT\n', '\nSun, 06 Nov 1994 08:49:37 GMT', '\u00a010',
];

for (const value of badRetryAfters) {
  test(`parseRetryAfter(${JSON.stringify(value)}) is undefined`, (t) => {
    t.is(parseRetryAfter(value, NOW), undefined);
  });
}

test('parseRetryAfter rejects values V8 Date.parse would take (the test list is meaningful)', (t) => {
  for (const value of ['1.5', '-1', '+5', '2024-01-01', 'Nov 6 1994', 'Sun, 06 Nov 1994 08:49:37 UTC']) {
    t.false(Number.isNaN(Date.parse(value)), `Date.parse accepts ${value}`);
    t.is(parseRetryAfter(value, NOW), undefined);
  }
});
