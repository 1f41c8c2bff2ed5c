import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import fc from 'fast-check';
import { JOBLOG_HEADER, type JoblogRow, formatJoblogRow, parseJoblog } from '../src/report/joblog.js';
import { commandLine } from '../src/report/quote.js';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

function row(o: Partial<JoblogRow> = {}): JoblogRow {
  return { seq: 0, startEpochMs: 1_795_824_755_869, runtimeMs: 0.2, receivedBytes: 2, exitval: 0, signal: 0, command: 'echo a', ...o };
}

// --- format -------------------------------------------------------------------------------------------------

test('the header is GNU parallel\'s, tab-separated, with its newline', (t) => {
  t.is(JOBLOG_HEADER, 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n');
});

test('a row matches GNU parallel exactly: seq from 1, host ":", JobRuntime as %10.3f', (t) => {
  t.is(formatJoblogRow(row()), '1\t:\t1795824755.869\t     0.000\t0\t2\t0\t0\techo a\n');
});

const rows: Array<[string, Partial<JoblogRow>, string]> = [
  ['runtime right-aligned in ten characters', { seq: 9, runtimeMs: 1234.5678 }, '10\t:\t1795824755.869\t     1.235\t0\t2\t0\t0\techo a\n'],
  ['a runtime wider than ten characters is not cut', { runtimeMs: 12_345_678_900 }, '1\t:\t1795824755.869\t12345678.900\t0\t2\t0\t0\techo a\n'],
  ['a start time with fractions of a millisecond has three decimals', { startEpochMs: 1_700_000_000_000.4 }, '1\t:\t1700000000.000\t     0.000\t0\t2\t0\t0\techo a\n'],
  ['exit value -1: the job never produced a status', { exitval: -1, receivedBytes: 0 }, '1\t:\t1795824755.869\t     0.000\t0\t0\t-1\t0\techo a\n'],
  ['killed by a signal', { exitval: 143, signal: 15, runtimeMs: 5000 }, '1\t:\t1795824755.869\t     5.000\t0\t2\t143\t15\techo a\n'],
  ['the command as run, quoted', { command: commandLine(['printf', '%s\\n', 'x y']) }, "1\t:\t1795824755.869\t     0.000\t0\t2\t0\t0\tprintf '%s\\n' 'x y'\n"],
];

for (const [name, o, expected] of rows) {
  test(`formatJoblogRow: ${name}`, (t) => {
    t.is(formatJoblogRow(row(o)), expected);
  });
}

test('formatJoblogRow renders numbers as Perl\'s sprintf does (GNU parallel is Perl), for whole milliseconds', (t) => {
  const perl = spawnSync('perl', ['-v'], { encoding: 'utf8' });
  if (perl.status !== 0) {
    t.log('perl not found: skipped');
    t.pass();
    return;
  }
  const cases = fc.sample(
    fc.record({ startEpochMs: fc.integer({ min: 0, max: 4_102_444_800_000 }), runtimeMs: fc.integer({ min: 0, max: 100_000_000_000 }) }),
    { numRuns: 300, seed: 42 },
  );
  // GNU parallel: starttime is sprintf("%.3f"), JobRuntime sprintf("%10.3f") of seconds.
  const script = 'while (<STDIN>) { my ($s, $r) = split; printf("%.3f\\t%10.3f\\n", $s / 1000, $r / 1000); }';
  const out = spawnSync('perl', ['-e', script], { input: cases.map((c) => `${c.startEpochMs} ${c.runtimeMs}\n`).join(''), encoding: 'utf8' });
  const expected = out.stdout.split('\n');
  cases.forEach((c, i) => {
    const cols = formatJoblogRow(row(c)).split('\t');
    t.is(`${cols[2]}\t${cols[3]}`, expected[i]!, JSON.stringify(c));
  });
});

// --- parse --------------------------------------------------------------------------------------------------

test('parse round-trips formatted rows (seq back to 0-based), header skipped', (t) => {
  const text =
    JOBLOG_HEADER +
    formatJoblogRow(row({ seq: 0, exitval: 0 })) +
    formatJoblogRow(row({ seq: 1, exitval: 3 })) +
    formatJoblogRow(row({ seq: 4, exitval: -1 })) +
    formatJoblogRow(row({ seq: 2, exitval: 143, signal: 15, command: commandLine(['sh', '-c', 'a\tb']) }));
  t.deepEqual(
    [...parseJoblog(text)],
    [
      [0, { exitval: 0, signal: 0 }],
      [1, { exitval: 3, signal: 0 }],
      [4, { exitval: -1, signal: 0 }],
      [2, { exitval: 143, signal: 15 }],
    ],
  );
});

test('property: any row parses back to its seq, exit value and signal', (t) => {
  fc.assert(
    fc.property(
      fc.nat({ max: 1_000_000 }),
      fc.integer({ min: -1, max: 255 }),
      fc.integer({ min: 0, max: 64 }),
      fc.array(fc.string({ unit: 'grapheme' }), { minLength: 1, maxLength: 4 }),
      (seq, exitval, signal, argv) => {
        const entries = parseJoblog(JOBLOG_HEADER + formatJoblogRow(row({ seq, exitval, signal, command: commandLine(argv) })));
        return entries.size === 1 && entries.get(seq)?.exitval === exitval && entries.get(seq)?.signal === signal;
      },
    ),
  );
  t.pass();
});

test('the last row of a seq wins (a job run again by --resume-failed)', (t) => {
  const text = JOBLOG_HEADER + formatJoblogRow(row({ seq: 0, exitval: 1 })) + formatJoblogRow(row({ seq: 1 })) + formatJoblogRow(row({ seq: 0, exitval: 0 }));
  t.deepEqual(parseJoblog(text).get(0), { exitval: 0, signal: 0 });
});

test('a job log without a header, or empty, or without a final newline', (t) => {
  t.is(parseJoblog('').size, 0);
  t.is(parseJoblog(JOBLOG_HEADER).size, 0);
  const noHeader = formatJoblogRow(row({ seq: 6, exitval: 2 })).slice(0, -1);
  t.deepEqual([...parseJoblog(noHeader)], [[6, { exitval: 2, signal: 0 }]]);
});

test('parses a real GNU parallel job log, extended by --resume-failed', (t) => {
  const text = readFileSync(join(ROOT, 'fixtures', 'joblog', 'gnu-parallel-resume-failed.joblog'), 'utf8');
  // Jobs 2 (exit 3) and 3 (SIGTERM) failed, then succeeded when run again with --resume-failed.
  t.deepEqual(
    [...parseJoblog(text)].sort(([a], [b]) => a - b),
    [
      [0, { exitval: 0, signal: 0 }],
      [1, { exitval: 0, signal: 0 }],
      [2, { exitval: 0, signal: 0 }],
      [3, { exitval: 0, signal: 0 }],
    ],
  );
  const firstRun = text.split('\n').slice(0, 5).join('\n');
  t.deepEqual(parseJoblog(firstRun).get(1), { exitval: 3, signal: 0 });
  t.deepEqual(parseJoblog(firstRun).get(2), { exitval: 0, signal: 15 });
});

test('our rows have the shape of GNU parallel\'s rows', (t) => {
  const gnu = readFileSync(join(ROOT, 'fixtures', 'joblog', 'gnu-parallel-resume-failed.joblog'), 'utf8').split('\n')[1]!;
  const shape = (line: string): string => line.replace(/[0-9]/g, '9').split('\t').slice(0, 8).join('\t');
  const ours = formatJoblogRow(row({ startEpochMs: 1_795_825_777_632, runtimeMs: 45, receivedBytes: 6 })).slice(0, -1);
  t.is(shape(ours), shape(gnu));
  t.deepEqual(ours.split('\t').slice(0, 8), gnu.split('\t').slice(0, 8));
});

const malformed: Array<[string, string, number]> = [
  ['too few columns', `${JOBLOG_HEADER}1\t:\t1.000\t     0.000\t0\t0\t0\t0\tok\n2\t:\t1.000\n`, 3],
  ['a seq that is not a number', `${JOBLOG_HEADER}x\t:\t1.000\t     0.000\t0\t0\t0\t0\tcmd\n`, 2],
  ['seq 0 (seqs count from 1)', `0\t:\t1.000\t     0.000\t0\t0\t0\t0\tcmd\n`, 1],
  ['a fractional seq', `1.5\t:\t1.000\t     0.000\t0\t0\t0\t0\tcmd\n`, 1],
  ['an exit value that is not a number', `1\t:\t1.000\t     0.000\t0\t0\tok\t0\tcmd\n`, 1],
  ['an empty exit value', `1\t:\t1.000\t     0.000\t0\t0\t\t0\tcmd\n`, 1],
  ['an empty signal', `1\t:\t1.000\t     0.000\t0\t0\t0\t\tcmd\n`, 1],
  ['a hexadecimal exit value', `1\t:\t1.000\t     0.000\t0\t0\t0x1\t0\tcmd\n`, 1],
  ['a header that is not on the first line', `1\t:\t1.000\t     0.000\t0\t0\t0\t0\tcmd\n${JOBLOG_HEADER}`, 2],
  ['a blank-looking line of spaces', `${JOBLOG_HEADER}   \n`, 2],
];

for (const [name, text, line] of malformed) {
  test(`a malformed row is an error naming its line: ${name}`, (t) => {
    t.throws(() => parseJoblog(text), {
      message: `line ${line} is not a job log row (Seq, Host, Starttime, JobRuntime, Send, Receive, Exitval, Signal, Command)`,
    });
  });
}
