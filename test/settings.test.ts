import { availableParallelism } from 'node:os';
import test from 'ava';
import { DEFAULTS, type RawRunOptions, integer, limitSettings, parseHalt, runSettings } from '../src/cli/settings.js';
import { UsageError } from '../src/errors.js';
import { DEFAULT_SORT_WINDOW } from '../src/sources/trace/arrange.js';

// --- defaults -----------------------------------------------------------------------------------------------

test('limitSettings: defaults', (t) => {
  t.deepEqual(limitSettings({}), {
    ratePerSec: Infinity,
    burst: 1,
    concurrency: availableParallelism(),
    onFull: 'wait',
    retries: 0,
    backoffBaseMs: 200,
    backoffMaxMs: 30_000,
    jitter: 'equal',
    timeoutMs: Infinity,
    reportFile: undefined,
    outputFile: undefined,
    recordFile: undefined,
    progress: true,
    quiet: false,
    plan: undefined,
    adaptive: false,
    minRatePerSec: 1,
    adaptiveConcurrency: false,
    keyTemplate: undefined,
    perKey: undefined,
    controlFile: undefined,
  });
});

test('the defaults commander shows are the ones limitSettings applies', (t) => {
  const fromDefaults = limitSettings({
    rate: DEFAULTS.rate,
    burst: DEFAULTS.burst,
    concurrency: DEFAULTS.concurrency,
    onFull: DEFAULTS.onFull,
    retries: DEFAULTS.retries,
    backoffBase: DEFAULTS.backoffBase,
    backoffMax: DEFAULTS.backoffMax,
    jitter: DEFAULTS.jitter,
    timeout: DEFAULTS.timeout,
  });
  t.deepEqual(fromDefaults, limitSettings({}));
});

test('the sort window bench shows as its default is the trace readers\' own', (t) => {
  t.is(Number(DEFAULTS.sortWindow), DEFAULT_SORT_WINDOW);
});

test('runSettings: defaults, for a command without input lines', (t) => {
  const s = runSettings(['./job.sh', '--flag'], {});
  t.like(s, {
    command: ['./job.sh', '--flag'],
    placeholder: '{}',
    inputFile: undefined,
    perLine: false,
    count: 1,
    durationMs: undefined,
    shell: false,
    retryOn: undefined,
    killAfterMs: 5000,
    keepOrder: false,
    tag: false,
    joblog: undefined,
    resume: 'none',
    halt: undefined,
    ratePerSec: Infinity,
    timeoutMs: Infinity,
  });
});

test('limitSettings: every flag parsed to its unit', (t) => {
  t.deepEqual(
    limitSettings({
      rate: '600/m',
      burst: '10',
      concurrency: '4',
      onFull: 'reject',
      retries: '3',
      backoffBase: '1.5s',
      backoffMax: '2m',
      jitter: 'full',
      timeout: '250ms',
      report: 'r.json',
      output: '-',
      progress: false,
      quiet: true,
    }),
    {
      ratePerSec: 10,
      burst: 10,
      concurrency: 4,
      onFull: 'reject',
      retries: 3,
      backoffBaseMs: 1500,
      backoffMaxMs: 120_000,
      jitter: 'full',
      timeoutMs: 250,
      reportFile: 'r.json',
      outputFile: '-',
      recordFile: undefined,
      progress: false,
      quiet: true,
      plan: undefined,
      adaptive: false,
      minRatePerSec: 1,
      adaptiveConcurrency: false,
      keyTemplate: undefined,
      perKey: undefined,
      controlFile: undefined,
    },
  );
});

for (const text of ['inf', 'INF', 'infinity', 'unlimited', ' inf ']) {
  test(`-j ${JSON.stringify(text)} means no in-flight cap`, (t) => {
    t.is(limitSettings({ concurrency: text }).concurrency, Infinity);
  });
}

test('numbers may be surrounded by spaces; --timeout 0 means none; a backoff max equal to the base is fine', (t) => {
  const s = limitSettings({ burst: ' 5 ', timeout: '0', backoffBase: '1s', backoffMax: '1s', rate: 'inf' });
  t.is(s.burst, 5);
  t.is(s.timeoutMs, Infinity);
  t.is(s.backoffMaxMs, 1000);
  t.is(s.ratePerSec, Infinity);
});

test('integer() accepts the minimum and rejects below it', (t) => {
  t.is(integer('--retries', '0', 0, '--retries 3'), 0);
  t.throws(() => integer('--x', '0', 1, '--x 1'), { instanceOf: UsageError, message: '--x: invalid value "0": use a whole number >= 1, e.g. --x 1' });
});

// --- every error, word for word -----------------------------------------------------------------------------

const run = (command: string[], o: RawRunOptions) => () => runSettings(command, o);
const limits = (o: Parameters<typeof limitSettings>[0]) => () => limitSettings(o);
const echo = ['echo', '{}'];
const wrap = ['./job.sh'];

/** [what, call, exact message]. Each message names its flag and shows a correct example. */
const errors: Array<[string, () => unknown, string]> = [
  ['bad rate', limits({ rate: 'fast' }), '-r, --rate: invalid rate "fast": use e.g. 10/s, 600/m, 1/250ms or inf'],
  ['rate without unit denominator', limits({ rate: '1/2' }), '-r, --rate: invalid rate "1/2": use e.g. 10/s, 600/m, 1/250ms or inf'],
  ['rate 0', limits({ rate: '0' }), '-r, --rate: a rate of 0 would never run anything: use e.g. 10/s, 600/m, 1/250ms or inf'],
  ['rate 0/s', limits({ rate: '0/s' }), '-r, --rate: a rate of 0/s would never run anything: use e.g. 10/s, 600/m, 1/250ms or inf'],
  ['negative rate', limits({ rate: '-5' }), '-r, --rate: invalid rate "-5": use e.g. 10/s, 600/m, 1/250ms or inf'],
  ['burst 0', limits({ burst: '0' }), '-b, --burst: invalid value "0": use a whole number >= 1, e.g. -b 10'],
  ['burst inf', limits({ burst: 'inf' }), '-b, --burst: invalid value "inf": use a whole number >= 1, e.g. -b 10'],
  ['fractional burst', limits({ burst: '1.5' }), '-b, --burst: invalid value "1.5": use a whole number >= 1, e.g. -b 10'],
  ['concurrency 0', limits({ concurrency: '0' }), '-j, --concurrency: invalid value "0": use a whole number >= 1, e.g. -j 4 (or inf)'],
  ['concurrency word', limits({ concurrency: 'many' }), '-j, --concurrency: invalid value "many": use a whole number >= 1, e.g. -j 4 (or inf)'],
  ['concurrency in hex', limits({ concurrency: '0x10' }), '-j, --concurrency: invalid value "0x10": use a whole number >= 1, e.g. -j 4 (or inf)'],
  ['concurrency empty', limits({ concurrency: '' }), '-j, --concurrency: invalid value "": use a whole number >= 1, e.g. -j 4 (or inf)'],
  ['on-full', limits({ onFull: 'drop' }), '--on-full: invalid value "drop": use one of wait, reject'],
  ['negative retries', limits({ retries: '-1' }), '--retries: invalid value "-1": use a whole number >= 0, e.g. --retries 3'],
  ['retries inf', limits({ retries: 'inf' }), '--retries: invalid value "inf": use a whole number >= 0, e.g. --retries 3'],
  ['backoff base without unit', limits({ backoffBase: '200' }), '--backoff-base: invalid duration "200": use e.g. 250ms, 1.5s, 2m or 1h30m'],
  ['backoff max', limits({ backoffMax: '1d' }), '--backoff-max: invalid duration "1d": use e.g. 250ms, 1.5s, 2m or 1h30m'],
  ['backoff max below base', limits({ backoffBase: '1s', backoffMax: '500ms' }), '--backoff-max (500ms) is shorter than --backoff-base (1s): e.g. --backoff-base 200ms --backoff-max 30s'],
  ['backoff base above the default max', limits({ backoffBase: '1m' }), '--backoff-max (30s) is shorter than --backoff-base (1m): e.g. --backoff-base 200ms --backoff-max 30s'],
  ['jitter', limits({ jitter: 'some' }), '--jitter: invalid value "some": use one of none, full, equal'],
  ['timeout', limits({ timeout: '5' }), '--timeout: invalid duration "5": use e.g. 250ms, 1.5s, 2m or 1h30m'],
  ['negative timeout', limits({ timeout: '-1s' }), '--timeout: invalid duration "-1s": use e.g. 250ms, 1.5s, 2m or 1h30m'],
  ['no command', run([], {}), 'no command given: put it after --, e.g. throttle -r 5/s -- curl -fsS https://example.test/ or: cat ids | throttle -j 4 -- ./process {}'],
  ['empty placeholder', run(echo, { I: '' }), '-I: the placeholder must not be empty: use e.g. -I {} or -I %'],
  ['--count with {}', run(echo, { count: '3' }), '--count applies when the command runs without input lines (e.g. throttle --count 10 -- ./job.sh); with "{}" in the command there is one job per line'],
  ['--duration with {}', run(echo, { duration: '10s' }), '--duration applies when the command runs without input lines (e.g. throttle --duration 30s -- ./job.sh); with "{}" in the command there is one job per line'],
  ['--count with --input', run(wrap, { input: 'lines.txt', count: '3' }), '--count applies when the command runs without input lines (e.g. throttle --count 10 -- ./job.sh); with --input there is one job per line'],
  ['--duration with -I %', run(['echo', '%'], { I: '%', duration: '1m' }), '--duration applies when the command runs without input lines (e.g. throttle --duration 30s -- ./job.sh); with "%" in the command there is one job per line'],
  ['--count 0', run(wrap, { count: '0' }), '--count: invalid value "0": use a whole number >= 1, e.g. --count 10'],
  ['--count word', run(wrap, { count: 'ten' }), '--count: invalid value "ten": use a whole number >= 1, e.g. --count 10'],
  ['--duration bad', run(wrap, { duration: '10' }), '--duration: invalid duration "10": use e.g. 250ms, 1.5s, 2m or 1h30m'],
  ['--duration 0', run(wrap, { duration: '0s' }), '--duration: must be longer than 0, e.g. --duration 30s'],
  ['--resume and --resume-failed', run(echo, { joblog: 'j.log', resume: true, resumeFailed: true }), '--resume and --resume-failed: pick one, e.g. --joblog jobs.log --resume-failed to run failed jobs again'],
  ['--resume without --joblog', run(echo, { resume: true }), '--resume needs --joblog <file>: e.g. --joblog jobs.log --resume'],
  ['--resume-failed without --joblog', run(echo, { resumeFailed: true }), '--resume-failed needs --joblog <file>: e.g. --joblog jobs.log --resume-failed'],
  ['--resume without input lines', run(wrap, { joblog: 'j.log', resume: true }), '--resume applies to jobs from input lines (a command with {} or --input): e.g. throttle --joblog jobs.log --resume --input urls.txt -- wget -q {}'],
  ['--resume-failed without input lines', run(wrap, { joblog: 'j.log', resumeFailed: true }), '--resume-failed applies to jobs from input lines (a command with {} or --input): e.g. throttle --joblog jobs.log --resume-failed --input urls.txt -- wget -q {}'],
  ['--retry-on above 255', run(echo, { retryOn: '256' }), '--retry-on: invalid exit codes "256": use e.g. --retry-on 1,75 or --retry-on 1-255'],
  ['--retry-on reversed range', run(echo, { retryOn: '5-1' }), '--retry-on: invalid exit codes "5-1": use e.g. --retry-on 1,75 or --retry-on 1-255'],
  ['--retry-on open range', run(echo, { retryOn: '1-' }), '--retry-on: invalid exit codes "1-": use e.g. --retry-on 1,75 or --retry-on 1-255'],
  ['--retry-on empty item', run(echo, { retryOn: '1,,2' }), '--retry-on: invalid exit codes "1,,2": use e.g. --retry-on 1,75 or --retry-on 1-255'],
  ['--retry-on negative', run(echo, { retryOn: '-1' }), '--retry-on: invalid exit codes "-1": use e.g. --retry-on 1,75 or --retry-on 1-255'],
  ['--retry-on empty', run(echo, { retryOn: '' }), '--retry-on: invalid exit codes "": use e.g. --retry-on 1,75 or --retry-on 1-255'],
  ['--kill-after', run(echo, { killAfter: 'soon' }), '--kill-after: invalid duration "soon": use e.g. 250ms, 1.5s, 2m or 1h30m'],
  ['--halt', run(echo, { halt: 'never' }), '--halt: invalid value "never": use e.g. now,fail=1 or soon,fail=3 or now,fail=10%'],
  ['-I not in the command', run(['echo', '{}'], { I: '%' }), '-I %: the command has no % to replace: e.g. throttle -I % -- echo %'],
  ['--joblog empty', run(echo, { joblog: '' }), '--joblog: the file name is empty: e.g. --joblog jobs.log'],
  ['--report empty', limits({ report: '' }), '--report: the file name is empty: e.g. --report report.json'],
  ['--output empty', limits({ output: '' }), '--output: the file name is empty: e.g. --output results.jsonl'],
  ['--control empty', limits({ control: '' }), '--control: the file name is empty: e.g. --control limits.conf'],
  ['--control in no folder', limits({ control: '/nonexistent-folder/limits.conf' }), '--control /nonexistent-folder/limits.conf: there is no folder /nonexistent-folder for it: e.g. --control limits.conf'],
];

for (const [what, call, message] of errors) {
  test(`usage error: ${what}`, (t) => {
    const err = t.throws(call, { instanceOf: UsageError, message });
    t.is(err?.exitCode, 2);
  });
}

test('every usage error names a flag (or where the command goes) and shows an example or the choices', (t) => {
  for (const [what, call] of errors) {
    let message = '';
    try {
      call();
    } catch (err) {
      message = (err as Error).message;
    }
    t.regex(message, /(^|\s)(-[A-Za-z]|--[a-z-]*)/, what);
    t.regex(message, /e\.g\.|use one of/, what);
  }
});

// --- one job per line, or a wrapper ---------------------------------------------------------------------

const perLine: Array<[string[], RawRunOptions, boolean]> = [
  [['echo', '{}'], {}, true],
  [['curl', 'https://x.test/items/{}.json'], {}, true],
  [['echo'], {}, false],
  [['echo', '{', '}'], {}, false],
  [['echo'], { input: 'ids.txt' }, true],
  [['echo'], { input: '-' }, true],
  [['echo', '%'], { I: '%' }, true],
  [['echo', 'a@@b'], { I: '@@' }, true],
];

for (const [command, o, expected] of perLine) {
  test(`perLine is ${expected} for ${JSON.stringify(command)} ${JSON.stringify(o)}`, (t) => {
    const s = runSettings(command, o);
    t.is(s.perLine, expected);
    t.is(s.placeholder, o.I ?? '{}');
    // Lines from --input into a command without the placeholder: each is its last argument.
    t.is(s.appendLine, expected && !command.some((a) => a.includes(o.I ?? '{}')));
  });
}

test('--count and --duration for a wrapper', (t) => {
  t.is(runSettings(wrap, { count: '5' }).count, 5);
  t.like(runSettings(wrap, { duration: '1m' }), { count: Infinity, durationMs: 60_000 });
  t.like(runSettings(wrap, { count: '5', duration: '10s' }), { count: 5, durationMs: 10_000 });
});

test('--resume and --resume-failed with --joblog and input lines', (t) => {
  t.like(runSettings(echo, { joblog: 'j.log', resume: true }), { resume: 'all', joblog: 'j.log' });
  t.like(runSettings(wrap, { joblog: 'j.log', resumeFailed: true, input: 'ids.txt' }), { resume: 'failed' });
  t.like(runSettings(wrap, { joblog: 'j.log' }), { resume: 'none', joblog: 'j.log' });
});

test('flags copied through: shell, keep-order, tag, input, kill-after', (t) => {
  t.like(runSettings(echo, { shell: true, keepOrder: true, tag: true, input: 'f', killAfter: '1s' }), {
    shell: true,
    keepOrder: true,
    tag: true,
    inputFile: 'f',
    killAfterMs: 1000,
  });
});

// --- --retry-on ----------------------------------------------------------------------------------------

const retryOn: Array<[string, number[]]> = [
  ['1', [1]],
  ['1,75', [1, 75]],
  ['1-3', [1, 2, 3]],
  ['1-3,7,10-11', [1, 2, 3, 7, 10, 11]],
  [' 2 , 4 ', [2, 4]],
  ['3-3', [3]],
  ['0-2', [1, 2]], // 0 is success: never retried
  ['0', []],
  ['255', [255]],
  ['2,2,1-2', [2, 1]],
];

for (const [text, codes] of retryOn) {
  test(`--retry-on ${JSON.stringify(text)} is ${JSON.stringify(codes)}`, (t) => {
    t.deepEqual([...runSettings(echo, { retryOn: text }).retryOn!], codes);
  });
}

test('--retry-on 1-255 holds every non-zero status', (t) => {
  const set = runSettings(echo, { retryOn: '1-255' }).retryOn!;
  t.is(set.size, 255);
  t.false(set.has(0));
  t.true(set.has(255));
});

// --- --halt --------------------------------------------------------------------------------------------

const halts: Array<[string, ReturnType<typeof parseHalt>]> = [
  ['now,fail=1', { when: 'now', on: 'fail', threshold: 1, percent: false }],
  ['soon,fail=3', { when: 'soon', on: 'fail', threshold: 3, percent: false }],
  ['now,fail=10%', { when: 'now', on: 'fail', threshold: 10, percent: true }],
  ['soon,fail=12.5%', { when: 'soon', on: 'fail', threshold: 12.5, percent: true }],
  ['now,fail=100%', { when: 'now', on: 'fail', threshold: 100, percent: true }],
  ['soon,success=1', { when: 'soon', on: 'success', threshold: 1, percent: false }],
  ['now,done=5', { when: 'now', on: 'done', threshold: 5, percent: false }],
  [' now,fail=1 ', { when: 'now', on: 'fail', threshold: 1, percent: false }],
];

for (const [text, policy] of halts) {
  test(`--halt ${JSON.stringify(text)}`, (t) => {
    t.deepEqual(parseHalt(text), policy);
    t.deepEqual(runSettings(echo, { halt: text }).halt, policy);
  });
}

const badHalts = ['now,fail=0', 'now,fail=0%', 'now,fail=101%', 'now,fail=1.5', 'later,fail=1', 'now,fail', 'now,fail=', 'NOW,fail=1', 'now,failed=1', '1', 'now;fail=1', 'now,fail=-1', 'now,fail=1%%'];

for (const text of badHalts) {
  test(`--halt ${JSON.stringify(text)} is a usage error`, (t) => {
    t.throws(() => parseHalt(text), {
      instanceOf: UsageError,
      message: `--halt: invalid value "${text}": use e.g. now,fail=1 or soon,fail=3 or now,fail=10%`,
    });
  });
}
