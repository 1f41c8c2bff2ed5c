import test from 'ava';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ExitCode, UsageError } from '../src/errors.js';
import { readAccessLog, type LogFormat } from '../src/sources/trace/access-log.js';
import { splitCsv } from '../src/sources/trace/csv.js';
import { detectFormat } from '../src/sources/trace/detect.js';
import { TraceError, type TraceEvent, type TraceFormat } from '../src/sources/trace/event.js';
import { formatTraceLine, generateTrace, parseServiceDist, type ArrivalPattern } from '../src/sources/trace/generate.js';
import { readJsonl } from '../src/sources/trace/jsonl.js';
import { isoToEpochMs } from '../src/sources/trace/numbers.js';
import { mulberry32 } from '../src/sources/trace/prng.js';
import { readTrace, type ReadTraceOptions } from '../src/sources/trace/read.js';
import { sampleService, type ServiceDist } from '../src/sources/trace/service.js';

const FIXTURES = new URL('../../fixtures/traces/', import.meta.url);

function fixture(name: string): string {
  return fileURLToPath(new URL(name, FIXTURES));
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** readFixture reads a fixture through readTrace, naming the file by its base name as the CLI would. */
async function readFixture(name: string, options: ReadTraceOptions = {}): Promise<{ format: TraceFormat; timed: boolean; events: TraceEvent[] }> {
  const source = await readTrace(createReadStream(fixture(name)), name, options);
  return { format: source.format, timed: source.timed, events: await collect(source.events) };
}

async function readText(text: string, options: ReadTraceOptions = {}, file = 'inline'): Promise<TraceEvent[]> {
  const source = await readTrace(Readable.from([text]), file, options);
  return collect(source.events);
}

// ---------------------------------------------------------------------------------------------------------
// Each format, parsed to the exact events.

test('jsonl: t in seconds, optional fields, blank lines skipped, unknown fields ignored', async (t) => {
  const { format, timed, events } = await readFixture('basic.jsonl');
  t.is(format, 'jsonl');
  t.true(timed);
  t.deepEqual(events, [
    { tMs: 0, key: 'GET /a', serviceMs: 120, status: 200 },
    { tMs: 250, key: 'GET /b', tokens: 2 },
    { tMs: 250, key: 'job, with comma', serviceMs: 1100, status: 1 },
    { tMs: 1500, key: 'POST /c', status: 503, method: 'POST', url: 'http://localhost/c' },
  ]);
});

test('jsonl: t is kept as written, so a trace may start later than 0', async (t) => {
  t.deepEqual(await readText('{"t": 2}\n{"t": 2.5}\n'), [
    { tMs: 2000, key: '' },
    { tMs: 2500, key: '' },
  ]);
});

test('jsonl: ts as ISO-8601 (zones, fractions to the microsecond) is rebased to the first event', async (t) => {
  const { events } = await readFixture('ts.jsonl');
  t.deepEqual(events, [
    { tMs: 0, key: 'a' },
    { tMs: 750, key: 'b' },
    { tMs: 1750.125, key: 'c', serviceMs: 0.125 },
  ]);
});

test('jsonl: ts as epoch seconds or milliseconds', async (t) => {
  t.deepEqual((await readFixture('epoch.jsonl')).events, [
    { tMs: 0, key: 's0' },
    { tMs: 500, key: 's1' },
  ]);
  t.deepEqual(await readText('{"ts": 1714564800000}\n{"ts": 1714564800250.5}\n'), [
    { tMs: 0, key: '' },
    { tMs: 250.5, key: '' },
  ]);
});

test('jsonl: without t or ts the trace is untimed; headers and bodyFile are read', async (t) => {
  const text = '{"key": "GET /a", "method": "GET", "url": "http://h/a", "headers": [["Accept", "text/plain"]], "bodyFile": "b.json"}\n';
  const source = await readTrace(Readable.from([text]), 'untimed.jsonl');
  t.false(source.timed);
  t.deepEqual(await collect(source.events), [
    { key: 'GET /a', method: 'GET', url: 'http://h/a', headers: [['Accept', 'text/plain']], bodyFile: 'b.json' },
  ]);
});

test('csv: header, RFC 4180 quoting (commas, doubled quotes), CRLF, empty fields absent', async (t) => {
  const { format, events } = await readFixture('basic.csv');
  t.is(format, 'csv');
  t.deepEqual(events, [
    { tMs: 0, key: 'GET /a?x=1,2', tokens: 1, serviceMs: 120, status: 200 },
    { tMs: 250, key: 'GET /b' },
    { tMs: 1000, key: 'say "hi"', tokens: 3, serviceMs: 500, status: -1 },
  ]);
});

test('csv: ts column, column names in any case, unknown columns ignored', async (t) => {
  t.deepEqual((await readFixture('ts.csv')).events, [
    { tMs: 0, key: 'a' },
    { tMs: 500, key: 'b' },
  ]);
  t.deepEqual(await readText('Key,Region,T\n007,eu,0.5\n', { format: 'csv' }), [{ tMs: 500, key: '007' }]);
});

test('csv: a byte order mark (as spreadsheets write) does not hide the header', async (t) => {
  const source = await readTrace(Readable.from([Buffer.from('\uFEFFt,key\n0.5,a\n')]), 'excel.csv');
  t.is(source.format, 'csv');
  t.deepEqual(await collect(source.events), [{ tMs: 500, key: 'a' }]);
});

test('splitCsv splits RFC 4180 fields and says what is wrong with a malformed record', (t) => {
  t.deepEqual(splitCsv('a,"b,c","d ""e""",,'), ['a', 'b,c', 'd "e"', '', '']);
  t.deepEqual(splitCsv('""'), ['']);
  t.regex(splitCsv('"a,b') as string, /not closed/);
  t.regex(splitCsv('"a"b,c') as string, /expected a comma after the closing quote at column 3/);
  t.regex(splitCsv('a"b,c') as string, /quote inside an unquoted field/);
});

test('access log (combined): key METHOD /path, url, status; events of one second spread evenly over it', async (t) => {
  const { format, events } = await readFixture('combined.log');
  t.is(format, 'access-log');
  t.deepEqual(events, [
    { tMs: 0, key: 'GET /apache_pb.gif', status: 200, method: 'GET', url: '/apache_pb.gif?x=1' },
    { tMs: 1000 / 3, key: 'POST /form', status: 302, method: 'POST', url: '/form' },
    { tMs: 2000 / 3, key: 'GET /b', status: 404, method: 'GET', url: '/b' },
    { tMs: 1000, key: 'GET /c', status: 200, method: 'GET', url: '/c' },
    { tMs: 3000, key: '-', status: 400 },
    { tMs: 3500, key: 'GET /d', status: 500, method: 'GET', url: '/d' },
  ]);
});

test('access log: spreading holds back only one second and spreads 1000 events of a second at 1 ms steps', async (t) => {
  const line = (s: number, i: number): string => `10.0.0.1 - - [01/May/2024:12:00:0${s} +0000] "GET /${i} HTTP/1.1" 200 1\n`;
  const lines: string[] = [];
  for (let i = 0; i < 1000; i++) lines.push(line(0, i));
  lines.push(line(1, 0), line(1, 1), line(3, 0));
  const events = await readText(lines.join(''));
  t.is(events.length, 1003);
  t.true(events.slice(0, 1000).every((e, i) => e.tMs === i && e.key === `GET /${i}`));
  t.deepEqual(events.slice(1000).map((e) => e.tMs), [1000, 1500, 3000]);
});

test('access log (common), and the timed formats take the request time from the last field', async (t) => {
  t.deepEqual((await readFixture('common.log')).events, [
    { tMs: 0, key: 'GET /apache_pb.gif', status: 200, method: 'GET', url: '/apache_pb.gif' },
    { tMs: 2000, key: 'HEAD /', status: 304, method: 'HEAD', url: '/' },
  ]);
  t.deepEqual((await readFixture('nginx-timed.log', { logFormat: 'nginx-timed' })).events, [
    { tMs: 0, key: 'GET /api/users', status: 200, method: 'GET', url: '/api/users', serviceMs: 125 },
    { tMs: 500, key: 'GET /api/users/7', status: 200, method: 'GET', url: '/api/users/7', serviceMs: 3 },
    { tMs: 1000, key: 'DELETE /api/users/7', status: 204, method: 'DELETE', url: '/api/users/7', serviceMs: 1000 },
  ]);
  t.deepEqual((await readFixture('apache-timed.log', { logFormat: 'apache-timed' })).events, [
    { tMs: 0, key: 'GET /x', status: 200, method: 'GET', url: '/x', serviceMs: 125 },
    { tMs: 500, key: 'GET /y', status: 200, method: 'GET', url: '/y', serviceMs: 0.25 },
  ]);
  // Without a named format, the trailing field is not read.
  t.false((await readFixture('nginx-timed.log')).events.some((e) => 'serviceMs' in e));
});

test('access log: a named format is enforced', async (t) => {
  await t.throwsAsync(readFixture('common.log', { logFormat: 'combined' }), {
    instanceOf: TraceError,
    message: /^common\.log:1: expected a combined log line/,
  });
  await t.throwsAsync(readFixture('bad-nginx-timed.log', { logFormat: 'nginx-timed' }), {
    message: /^bad-nginx-timed\.log:2: expected a combined log line ending in \$request_time.*the last field must be seconds/,
  });
  t.throws(() => readAccessLog([], 'x.log', { logFormat: 'extended' as LogFormat }), { message: /unknown log format "extended": use one of common, combined, nginx-timed, apache-timed/ });
});

test('har: entries sorted by start, time as service, key METHOD /path, status 0 becomes -1', async (t) => {
  const { format, events } = await readFixture('sample.har');
  t.is(format, 'har');
  t.deepEqual(events, [
    { tMs: 0, key: 'GET /', serviceMs: 120, status: 200, method: 'GET', url: 'https://example.com/' },
    { tMs: 100, key: 'GET /app.js', serviceMs: 45.5, status: 200, method: 'GET', url: 'https://example.com/app.js?v=3' },
    { tMs: 1000, key: 'POST /api/log', serviceMs: 3, status: -1, method: 'POST', url: 'https://example.com/api/log' },
  ]);
});

test('joblog: Starttime rebased, JobRuntime as service, Exitval as status, Command (tabs kept) as key; sorted by default', async (t) => {
  const { format, events } = await readFixture('joblog.tsv');
  t.is(format, 'joblog');
  t.deepEqual(events, [
    { tMs: 0, key: 'curl -s http://a/', serviceMs: 250, status: 0 },
    { tMs: 377, key: 'printf "a\\tb"\twith tab', serviceMs: 1500, status: 2 },
    { tMs: 877, key: 'sleep 10', serviceMs: 10, status: -1 },
  ]);
  await t.throwsAsync(readFixture('joblog.tsv', { sort: false }), { message: /^joblog\.tsv:4: out of order: this event arrives 0\.5 s before the one on line 3/ });
});

test('results: arrivalMs rebased and sorted, service per attempt, status from a numeric code else -1', async (t) => {
  const { format, events } = await readFixture('results.jsonl');
  t.is(format, 'results');
  t.deepEqual(events, [
    { tMs: 0, key: 'a', serviceMs: 100, status: 503 },
    { tMs: 100, key: 'b', serviceMs: 30, status: 0 },
    { tMs: 200, key: 'c', serviceMs: 100, status: -1 },
    { tMs: 300, key: 'd', status: -1 },
  ]);
  // Without serviceMs, endedMs - startedMs.
  t.deepEqual(await readText('{"seq":0,"arrivalMs":5,"startedMs":6,"endedMs":9.5,"code":0,"status":"ok"}\n'), [
    { tMs: 0, key: '', serviceMs: 3.5, status: 0 },
  ]);
});

test('urls: one GET per URL, untimed, comments and blank lines skipped', async (t) => {
  const { format, timed, events } = await readFixture('urls.txt');
  t.is(format, 'urls');
  t.false(timed);
  t.deepEqual(events, [
    { key: 'https://example.com/a', method: 'GET', url: 'https://example.com/a' },
    { key: 'http://localhost:8080/b?q=1', method: 'GET', url: 'http://localhost:8080/b?q=1' },
    { key: 'https://example.com/c', method: 'GET', url: 'https://example.com/c' },
  ]);
});

test('vegeta: targets with repeated headers and @body, ended by a blank line, the next target or @body', async (t) => {
  const { format, timed, events } = await readFixture('targets.txt');
  t.is(format, 'vegeta');
  t.false(timed);
  const g = 'http://goku:9090';
  t.deepEqual(events, [
    { key: `GET ${g}/path/to/dragon?item=ball`, method: 'GET', url: `${g}/path/to/dragon?item=ball`, headers: [['X-Account-ID', '8675309']] },
    {
      key: `DELETE ${g}/path/to/remove`,
      method: 'DELETE',
      url: `${g}/path/to/remove`,
      headers: [
        ['Confirmation-Token', '90215'],
        ['Authorization', 'Token DEADBEEF'],
        ['Authorization', 'Token SECOND'],
      ],
    },
    { key: `GET ${g}/next`, method: 'GET', url: `${g}/next` },
    { key: `POST ${g}/things`, method: 'POST', url: `${g}/things`, headers: [['Content-Type', 'application/json']], bodyFile: '/path/to/newthing.json' },
    { key: `PATCH ${g}/thing/71988591`, method: 'PATCH', url: `${g}/thing/71988591` },
  ]);
});

// ---------------------------------------------------------------------------------------------------------
// Malformed input: a TraceError naming file:line and what was expected, one per format.

const MALFORMED: ReadonlyArray<[file: string, options: ReadTraceOptions, message: RegExp]> = [
  ['bad.jsonl', {}, /^bad\.jsonl:3: "t" must be a number of seconds >= 0$/],
  ['bad.csv', {}, /^bad\.csv:3: a quoted field is not closed on this line/],
  ['bad.log', {}, /^bad\.log:2: expected a common or combined log line: host ident user \[10\/Oct\/2000:13:55:36 -0700\]/],
  ['bad-nginx-timed.log', { logFormat: 'nginx-timed' }, /^bad-nginx-timed\.log:2: expected a combined log line ending in/],
  ['bad.har', {}, /^bad\.har:4: log\.entries\[1\]: "startedDateTime" must be an ISO-8601 date/],
  ['bad-joblog.tsv', {}, /^bad-joblog\.tsv:3: Starttime must be Unix seconds, e\.g\. 1700000000\.123$/],
  ['bad-results.jsonl', {}, /^bad-results\.jsonl:2: "arrivalMs" must be a number of milliseconds$/],
  ['bad-urls.txt', {}, /^bad-urls\.txt:2: expected an http:\/\/ or https:\/\/ URL, e\.g\. https:\/\/example\.com\/a$/],
  ['bad-targets.txt', {}, /^bad-targets\.txt:4: expected a header \(Name: value\), a body \(@file\), a blank line or the next target/],
];

for (const [file, options, message] of MALFORMED) {
  test(`malformed ${file}: TraceError naming file:line`, async (t) => {
    const err = await t.throwsAsync(readFixture(file, options), { instanceOf: TraceError, message });
    t.is(err?.file, file);
    t.true(err instanceof UsageError);
    t.is(err?.exitCode, ExitCode.usage);
  });
}

test('malformed values name the field and show what is expected', async (t) => {
  const cases: ReadonlyArray<[string, RegExp]> = [
    ['{"t": "1"}', /^x:1: "t" must be a number of seconds >= 0$/],
    ['{"ts": "2024-13-01T00:00:00Z"}', /^x:1: "ts" must be an ISO-8601 date like/],
    ['{"t": 0, "ts": 0}', /^x:1: give "t" or "ts", not both$/],
    ['{"t": 0, "n": 1.5}', /^x:1: "n" must be a whole number of tokens >= 1$/],
    ['{"t": 0, "n": 0}', /^x:1: "n" must be a whole number of tokens >= 1$/],
    ['{"t": 0, "duration": -0.1}', /^x:1: "duration" must be a number of seconds >= 0$/],
    ['{"t": 0, "status": "ok"}', /^x:1: "status" must be an integer/],
    ['{"t": 0, "key": 7}', /^x:1: "key" must be a string$/],
    ['{"t": 0, "headers": {"A": "b"}}', /^x:1: "headers" must be a list of \[name, value\] pairs/],
    ['{"t": 0}\n[1]', /^x:2: expected a JSON object like \{"t": 0\.25/],
    ['{"t": 0}\n{"t": 1,}', /^x:2: not valid JSON \(.*\): expected an object like/],
    ['{"t": 0}\n{"ts": 1}', /^x:2: this event uses "ts" but line 1 has "t": a trace gives its times one way throughout$/],
    ['{"t": 0}\n{"key": "a"}', /^x:2: this event has no time \("t" or "ts"\) but line 1 has "t"/],
    ['t,key\n0,a,b', /^x:2: expected 2 fields as in the header, found 3$/],
    ['t,key\nsoon,a', /^x:2: "t" must be a number of seconds >= 0$/],
    ['t,key,T\n0,a,1', /^x:1: column "t" appears twice in the header$/],
  ];
  for (const [text, message] of cases) {
    await t.throwsAsync(readText(text, {}, 'x'), { instanceOf: TraceError, message }, text);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Detection.

test('readTrace detects every format from its first line', async (t) => {
  const expected: ReadonlyArray<[string, TraceFormat]> = [
    ['basic.jsonl', 'jsonl'],
    ['ts.jsonl', 'jsonl'],
    ['basic.csv', 'csv'],
    ['ts.csv', 'csv'],
    ['combined.log', 'access-log'],
    ['common.log', 'access-log'],
    ['nginx-timed.log', 'access-log'],
    ['sample.har', 'har'],
    ['bad.har', 'har'],
    ['joblog.tsv', 'joblog'],
    ['results.jsonl', 'results'],
    ['urls.txt', 'urls'],
    ['targets.txt', 'vegeta'],
  ];
  for (const [file, format] of expected) {
    const source = await readTrace(createReadStream(fixture(file)), file);
    t.is(source.format, format, file);
    await source.events.return();
  }
});

test('detectFormat: edge cases', (t) => {
  t.is(detectFormat('{"log": {"entries": []}}'), 'har');
  t.is(detectFormat('{ "log": {'), 'har');
  t.is(detectFormat('{'), 'har');
  t.is(detectFormat('{"t": 0,'), 'jsonl'); // broken JSON Lines: the reader reports it
  t.is(detectFormat('{"seq": 0, "arrivalMs": 1}'), 'results');
  t.is(detectFormat('  https://example.com/a  '), 'urls');
  t.is(detectFormat('GET https://example.com/a'), 'vegeta');
  t.is(detectFormat('GET /a HTTP/1.1'), undefined);
  t.is(detectFormat('duration,key,t'), 'csv');
  t.is(detectFormat('hello world'), undefined);
  t.is(detectFormat('a,b,c'), undefined);
});

test('readTrace: a first line no format matches is a TraceError naming it; blank and # lines are skipped', async (t) => {
  await t.throwsAsync(readTrace(Readable.from(['\n# notes\nhello world\n']), 'mystery.txt'), {
    instanceOf: TraceError,
    message: /^mystery\.txt:3: cannot tell the trace format from this line: name it with --format \(jsonl, csv, access-log, har, joblog, results, urls, vegeta\)$/,
  });
  // A comment before vegeta targets is fine.
  const events = await readText('# targets\nGET http://h/a\n');
  t.deepEqual(events, [{ key: 'GET http://h/a', method: 'GET', url: 'http://h/a' }]);
});

test('readTrace: a named format wins over detection; an empty trace has no events', async (t) => {
  await t.throwsAsync(readText('hello world\n', { format: 'csv' }, 'f.csv'), { message: /^f\.csv:1: expected a header row naming the columns, e\.g\. t,key,n,duration,status$/ });
  const empty = await readTrace(Readable.from(['\n\n']), 'empty');
  t.is(empty.format, 'jsonl');
  t.deepEqual(await collect(empty.events), []);
  await t.throwsAsync(readTrace(Readable.from(['']), 'x', { format: 'xml' as TraceFormat }), { message: /unknown trace format "xml"/ });
});

test('readTrace: a trace it cannot read is released at once', async (t) => {
  const stream = createReadStream(fixture('bad-urls.txt'));
  await t.throwsAsync(readTrace(stream, 'bad-urls.txt', { format: 'jsonl', sort: true, sortWindow: 1.5 }), { instanceOf: RangeError });
  t.true(stream.destroyed);
});

test('readTrace: stopping early releases the stream', async (t) => {
  const stream = createReadStream(fixture('basic.jsonl'));
  const source = await readTrace(stream, 'basic.jsonl');
  for await (const e of source.events) {
    t.is(e.key, 'GET /a');
    break;
  }
  t.true(stream.destroyed);
});

// ---------------------------------------------------------------------------------------------------------
// Order and the sort window.

test('out of order without sort is a TraceError naming the line and the one it precedes', async (t) => {
  await t.throwsAsync(readFixture('unordered.jsonl'), {
    instanceOf: TraceError,
    message: /^unordered\.jsonl:3: out of order: this event arrives 1 s before the one on line 2; sort the trace, or read it with --sort/,
  });
});

/**
 * partial reads events until the error, and returns both: the events handed out before it and its message.
 */
async function partial(events: AsyncIterable<TraceEvent | string>): Promise<{ keys: string[]; error: string }> {
  const keys: string[] = [];
  try {
    for await (const e of events) keys.push(typeof e === 'string' ? e : e.key);
  } catch (err) {
    return { keys, error: (err as Error).message };
  }
  return { keys, error: '' };
}

test('a batch of lines read at once hands out the events before its first bad line, then that line\'s error', async (t) => {
  // One batch (one chunk of a stream): the line out of order comes first, the unparsable one after it.
  const text = ['{"t":1,"key":"a"}', '{"t":2,"key":"b"}', '{"t":1.5,"key":"c"}', 'not json', '{"t":3,"key":"d"}'].join('\n');
  t.deepEqual(await partial((await readTrace(Readable.from([text]), 'b.jsonl')).events), {
    keys: ['a', 'b'],
    error: 'b.jsonl:3: out of order: this event arrives 0.5 s before the one on line 2; sort the trace, or read it with --sort to reorder within a window',
  });
  // The unparsable line first: its error, after the events before it (in the same batch, and in batches before).
  const bad = ['{"t":1,"key":"a"}', '{"t":2,"key":"b"}', '{"t":2,"key":"c" x}', '{"t":1,"key":"d"}'].join('\n');
  const { keys, error } = await partial((await readTrace(Readable.from([bad]), 'c.jsonl')).events);
  t.deepEqual(keys, ['a', 'b']);
  t.regex(error, /^c\.jsonl:3: not valid JSON/);
  // Read as numbers (mapEvents), the same events come before the same error.
  const mapped = (await readTrace(Readable.from([text]), 'b.jsonl')).mapEvents((key) => key);
  t.deepEqual(await partial(mapped), { keys: ['a', 'b'], error: 'b.jsonl:3: out of order: this event arrives 0.5 s before the one on line 2; sort the trace, or read it with --sort to reorder within a window' });
});

test('sort reorders within the window; ties keep file order', async (t) => {
  const { events } = await readFixture('unordered.jsonl', { sort: true, sortWindow: 1 });
  t.deepEqual(events.map((e) => `${e.key}@${e.tMs}`), ['a@0', 'c@1000', 'b@2000', 'e@2500', 'd@3000']);
  const ties = await collect(readJsonl(['{"t":1,"key":"x"}', '{"t":0,"key":"y"}', '{"t":1,"key":"z"}', '{"t":0,"key":"w"}'], 'ties', { sort: true }));
  t.deepEqual(ties.map((e) => e.key), ['y', 'w', 'x', 'z']);
});

test('an event out of order by more than the window is still an error naming its line', async (t) => {
  const lines = [0, 3, 2, 1].map((s, i) => `{"t": ${s}, "key": "k${i}"}`);
  await t.throwsAsync(collect(readJsonl(lines, 'w.jsonl', { sort: true, sortWindow: 1 })), {
    instanceOf: TraceError,
    message: /^w\.jsonl:4: out of order by more than the sort window \(1 events\): this event arrives 1 s before the one on line 3, which was already released; raise --sort-window/,
  });
  t.deepEqual((await collect(readJsonl(lines, 'w.jsonl', { sort: true, sortWindow: 2 }))).map((e) => e.tMs), [0, 1000, 2000, 3000]);
  await t.throwsAsync(collect(readJsonl(lines, 'w.jsonl', { sort: true, sortWindow: 0 })), { message: /^w\.jsonl:3: out of order by more than the sort window \(0 events\)/ });
  t.throws(() => readJsonl(lines, 'w', { sort: true, sortWindow: -1 }), { instanceOf: RangeError, message: /sortWindow/ });
});

test('sorting a shuffled trace within its window reproduces the sorted trace', async (t) => {
  const random = mulberry32(7);
  // Each event moves at most 100 places from where it belongs.
  const times = Array.from({ length: 5000 }, (_, i) => ({ ms: i, at: i + random() * 100 }))
    .sort((a, b) => a.at - b.at)
    .map((x) => x.ms);
  t.notDeepEqual(times, Array.from({ length: 5000 }, (_, i) => i));
  const lines = times.map((ms) => `{"t": ${ms / 1000}}`);
  const events = await collect(readJsonl(lines, 'shuffled', { sort: true, sortWindow: 200 }));
  t.deepEqual(events.map((e) => e.tMs), Array.from({ length: 5000 }, (_, i) => i));
});

test('access log lines out of order by a second are sorted before spreading', async (t) => {
  const line = (s: number, path: string): string => `h - - [01/May/2024:12:00:0${s} +0000] "GET ${path} HTTP/1.1" 200 1\n`;
  const text = line(0, '/a') + line(1, '/b') + line(0, '/c') + line(1, '/d');
  await t.throwsAsync(readText(text, {}, 'access.log'), { message: /^access\.log:3: out of order/ });
  const events = await readText(text, { sort: true });
  t.deepEqual(events.map((e) => `${e.key}@${e.tMs}`), ['GET /a@0', 'GET /c@500', 'GET /b@1000', 'GET /d@1500']);
});

// ---------------------------------------------------------------------------------------------------------
// Generated traces.

const PATTERNS: readonly ArrivalPattern[] = ['constant', 'poisson', 'burst', 'ramp', 'diurnal'];

test('generateTrace is deterministic for a seed and differs between seeds', (t) => {
  const service = parseServiceDist('exp:50ms');
  for (const pattern of PATTERNS) {
    const gen = (seed: number): TraceEvent[] => [...generateTrace({ pattern, ratePerSec: 100, durationMs: 5_000, seed, service })];
    const a = gen(42);
    t.true(a.length > 100, pattern);
    t.deepEqual(gen(42), a, pattern);
    t.notDeepEqual(gen(43), a, pattern); // service times differ even where arrivals are deterministic
  }
  const arrivals = (seed: number): number[] => [...generateTrace({ pattern: 'poisson', ratePerSec: 100, durationMs: 5_000, seed })].map((e) => e.tMs!);
  t.notDeepEqual(arrivals(1), arrivals(2));
});

test('generateTrace: adding a service distribution never moves an arrival', (t) => {
  for (const pattern of PATTERNS) {
    const base = { pattern, ratePerSec: 50, durationMs: 10_000, seed: 9 };
    const plain = [...generateTrace(base)].map((e) => e.tMs);
    const served = [...generateTrace({ ...base, service: parseServiceDist('normal:100ms,20ms') })].map((e) => e.tMs);
    t.deepEqual(served, plain, pattern);
  }
});

test('generateTrace: each pattern averages the rate over a long duration, in order, within [0, duration)', (t) => {
  const ratePerSec = 200;
  const durationMs = 600_000;
  const expected = (ratePerSec * durationMs) / 1000; // 120000
  for (const pattern of PATTERNS) {
    let n = 0;
    let last = -1;
    let ordered = true;
    let firstHalf = 0;
    let firstQuarter = 0;
    for (const e of generateTrace({ pattern, ratePerSec, durationMs, seed: 1 })) {
      const tMs = e.tMs!;
      if (tMs < last || tMs < 0 || tMs >= durationMs) ordered = false;
      last = tMs;
      n++;
      if (tMs < durationMs / 2) firstHalf++;
      if (tMs < durationMs / 4) firstQuarter++;
    }
    t.true(ordered, pattern);
    t.true(Math.abs(n - expected) / expected < 0.015, `${pattern}: ${n} events, expected about ${expected}`);
    if (pattern === 'ramp') t.true(Math.abs(firstHalf / n - 0.25) < 0.01, `ramp: ${firstHalf / n} of events in the first half`);
    if (pattern === 'diurnal') {
      t.true(Math.abs(firstHalf / n - 0.5) < 0.01, `diurnal: ${firstHalf / n} in the first half`);
      const q = 0.25 - 1 / (2 * Math.PI); // Λ(D/4) / Λ(D)
      t.true(Math.abs(firstQuarter / n - q) < 0.01, `diurnal: ${firstQuarter / n} in the first quarter, expected ${q}`);
    }
  }
});

test('generateTrace: constant is evenly spaced and burst groups events exactly', (t) => {
  const constant = [...generateTrace({ pattern: 'constant', ratePerSec: 4, durationMs: 1_000, seed: 0 })];
  t.deepEqual(constant, [0, 250, 500, 750].map((tMs) => ({ tMs, key: '' })));
  const third = [...generateTrace({ pattern: 'constant', ratePerSec: 3, durationMs: 1_000, seed: 0 })].map((e) => e.tMs);
  t.deepEqual(third, [0, 333.333, 666.667]);
  const burst = [...generateTrace({ pattern: 'burst', ratePerSec: 100, durationMs: 250, seed: 0 })].map((e) => e.tMs);
  t.deepEqual(burst, [...Array(10).fill(0), ...Array(10).fill(100), ...Array(10).fill(200)]);
  const small = [...generateTrace({ pattern: 'burst', ratePerSec: 10, durationMs: 1_000, seed: 0, burstSize: 3, key: 'b' })];
  t.deepEqual(small.map((e) => e.tMs), [0, 0, 0, 300, 300, 300, 600, 600, 600, 900, 900, 900]);
  t.true(small.every((e) => e.key === 'b'));
  t.deepEqual([...generateTrace({ pattern: 'poisson', ratePerSec: 10, durationMs: 0, seed: 0 })], []);
});

test('generateTrace rejects bad options, naming them', (t) => {
  const base = { pattern: 'constant' as const, ratePerSec: 1, durationMs: 1, seed: 1 };
  t.throws(() => [...generateTrace({ ...base, ratePerSec: 0 })], { instanceOf: RangeError, message: /ratePerSec/ });
  t.throws(() => [...generateTrace({ ...base, ratePerSec: Infinity })], { instanceOf: RangeError, message: /ratePerSec/ });
  t.throws(() => [...generateTrace({ ...base, durationMs: -1 })], { instanceOf: RangeError, message: /durationMs/ });
  t.throws(() => [...generateTrace({ ...base, seed: 1.5 })], { instanceOf: RangeError, message: /seed/ });
  t.throws(() => [...generateTrace({ ...base, burstSize: 0 })], { instanceOf: RangeError, message: /burstSize/ });
  t.throws(() => [...generateTrace({ ...base, pattern: 'sawtooth' as ArrivalPattern })], { instanceOf: RangeError, message: /unknown arrival pattern "sawtooth"/ });
});

test('service distributions: parsed forms and their sample means', (t) => {
  const cases: ReadonlyArray<[string, ServiceDist, number, number]> = [
    ['const:50ms', { kind: 'const', ms: 50 }, 50, 0],
    ['75ms', { kind: 'const', ms: 75 }, 75, 0],
    ['uniform:10ms..100ms', { kind: 'uniform', minMs: 10, maxMs: 100 }, 55, 90 / Math.sqrt(12)],
    ['exp:50ms', { kind: 'exp', meanMs: 50 }, 50, 50],
    ['normal:100ms,20ms', { kind: 'normal', meanMs: 100, sdMs: 20 }, 100, 20],
    ['lognormal:100ms,50ms', { kind: 'lognormal', meanMs: 100, sdMs: 50 }, 100, 50],
    [' exp:1.5s ', { kind: 'exp', meanMs: 1500 }, 1500, 1500],
  ];
  for (const [text, dist, mean, sd] of cases) {
    t.deepEqual(parseServiceDist(text), dist, text);
    const random = mulberry32(3);
    const n = 200_000;
    let sum = 0;
    let sumSq = 0;
    let min = Infinity;
    for (let i = 0; i < n; i++) {
      const x = sampleService(dist, random);
      sum += x;
      sumSq += x * x;
      min = Math.min(min, x);
    }
    const m = sum / n;
    const s = Math.sqrt(Math.max(0, sumSq / n - m * m));
    t.true(Math.abs(m - mean) <= mean * 0.01, `${text}: mean ${m}, expected ${mean}`);
    t.true(Math.abs(s - sd) <= Math.max(1e-9, sd * 0.03), `${text}: sd ${s}, expected ${sd}`);
    t.true(min >= 0, text);
  }
  // normal is clamped at 0.
  const random = mulberry32(5);
  const clamped = Array.from({ length: 10_000 }, () => sampleService({ kind: 'normal', meanMs: 0, sdMs: 10 }, random));
  t.true(clamped.every((x) => x >= 0) && clamped.some((x) => x === 0) && clamped.some((x) => x > 0));
});

test('parseServiceDist rejects bad input, naming it and showing examples', (t) => {
  for (const bad of ['', 'fast', 'exp', 'exp:', 'exp:50', 'uniform:100ms..10ms', 'uniform:10ms', 'normal:100ms', 'normal:1s,2s,3s', 'lognormal:0s,1ms', 'poisson:5ms', 'const:-5ms']) {
    t.throws(() => parseServiceDist(bad), {
      message: new RegExp(`^invalid service distribution ${JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*: use e\\.g\\. const:50ms, uniform:10ms\\.\\.100ms, exp:50ms, normal:100ms,20ms or lognormal:100ms,50ms$`),
    }, bad);
  }
});

test('formatTraceLine writes JSON Lines in seconds (six decimals at most) and reads back to the same events', async (t) => {
  t.is(formatTraceLine({ tMs: 250, key: 'GET /a', tokens: 2, serviceMs: 120.0004, status: 200 }), '{"t":0.25,"key":"GET /a","n":2,"duration":0.12,"status":200}\n');
  t.is(formatTraceLine({ tMs: 1234.5678914, key: '' }), '{"t":1.234568}\n');
  t.is(formatTraceLine({ tMs: 0.0004, key: '' }), '{"t":0}\n');
  t.is(formatTraceLine({ key: 'GET http://h/', method: 'GET', url: 'http://h/', headers: [['A', 'b']], bodyFile: 'x' }), '{"key":"GET http://h/","method":"GET","url":"http://h/","headers":[["A","b"]],"bodyFile":"x"}\n');
  for (const pattern of PATTERNS) {
    const events = [...generateTrace({ pattern, ratePerSec: 300, durationMs: 20_000, seed: 11, service: parseServiceDist('lognormal:80ms,40ms') })];
    const back = await collect(readJsonl(events.map(formatTraceLine).join('').split('\n'), 'gen.jsonl'));
    t.deepEqual(back, events, pattern);
  }
  const fixtureEvents = (await readFixture('targets.txt')).events;
  t.deepEqual(await collect(readJsonl(fixtureEvents.map(formatTraceLine), 'v.jsonl')), fixtureEvents);
});

test('isoToEpochMs: zones, fractions, impossible dates', (t) => {
  t.is(isoToEpochMs('1970-01-01T00:00:00Z'), 0);
  t.is(isoToEpochMs('1970-01-01T01:00:00+01:00'), 0);
  t.is(isoToEpochMs('1970-01-01T00:00:00.5-0030'), 1_800_500);
  t.is(isoToEpochMs('1970-01-01 00:00:01.000001'), 1000.001);
  t.is(isoToEpochMs('2024-02-30T00:00:00Z'), undefined);
  t.is(isoToEpochMs('2024-02-29T24:00:00Z'), undefined);
  t.is(isoToEpochMs('yesterday'), undefined);
  t.is(isoToEpochMs('2024-02-29'), undefined);
});

// ---------------------------------------------------------------------------------------------------------
// Streaming: a million lines go through with bounded memory.

/** gcNow forces a full collection (exposing gc at run time, since the test runner's flags are fixed). */
function gcNow(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

// Serial: it runs alone, so other tests' allocations cannot blur the heap measurement (or the time).
test.serial('readTrace streams a 1,000,000-line JSONL trace with heap growth far below the data size', async (t) => {
  const lines = 1_000_000;
  let bytes = 0;
  function* chunks(): Generator<string> {
    // ~64 KB chunks, as a file stream would deliver them.
    let chunk = '';
    for (let i = 0; i < lines; i++) {
      chunk += `{"t": ${(i / 1000).toFixed(3)}, "key": "GET /item/${i % 1000}", "duration": 0.05, "status": 200}\n`;
      if (chunk.length >= 65_536) {
        bytes += chunk.length;
        yield chunk;
        chunk = '';
      }
    }
    bytes += chunk.length;
    yield chunk;
  }
  gcNow();
  const before = process.memoryUsage().heapUsed;
  let peak = 0;
  let count = 0;
  let lastT = -1;
  const started = performance.now();
  const source = await readTrace(Readable.from(chunks()), 'big.jsonl');
  t.is(source.format, 'jsonl');
  for await (const e of source.events) {
    if (e.tMs! < lastT) t.fail('out of order');
    lastT = e.tMs!;
    if (++count % 100_000 === 0) {
      gcNow();
      peak = Math.max(peak, process.memoryUsage().heapUsed - before);
    }
  }
  const elapsedMs = performance.now() - started;
  t.is(count, lines);
  t.is(lastT, 999_999);
  t.log(`1,000,000 lines (${(bytes / 1e6).toFixed(0)} MB) read in ${(elapsedMs / 1000).toFixed(2)} s; peak heap growth ${(peak / 1e6).toFixed(1)} MB`);
  // Holding the events would take several times the text's size; streaming holds a few chunks.
  t.true(peak < bytes / 10, `peak heap growth ${peak} B for ${bytes} B of data`);
});
