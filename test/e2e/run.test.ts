import test from 'ava';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, lines, runThrottle, tempDir, VERSION } from './helpers.js';

/** Lines a shell would split, quote, expand or execute; each must reach the job as one argument, intact. */
function trickyLines(dir: string): string[] {
  return ['a b', "'q'", '"dq"', `$(touch ${join(dir, 'pwned')})`, `\`touch ${join(dir, 'pwned2')}\``, ';ls', '*', 'back\\slash\\\\', 'tab\there', '  lead and trail  '];
}

test('each input line is exactly one argument, and nothing in it is executed', async (t) => {
  const dir = tempDir();
  const input = trickyLines(dir);
  const run = await runThrottle(['-k', '--', fixture('echo-args.sh'), '{}', 'fixed arg'], { input: `${input.join('\n')}\n`, cwd: dir });
  t.is(run.code, 0, run.stderr);
  t.deepEqual(
    lines(run.stdout).map((l) => JSON.parse(l) as unknown),
    input.map((line) => [line, 'fixed arg']),
  );
  t.false(existsSync(join(dir, 'pwned')));
  t.false(existsSync(join(dir, 'pwned2')));
});

test('with --shell each input line is substituted as one word and is not executed', async (t) => {
  const dir = tempDir();
  const input = trickyLines(dir);
  const run = await runThrottle(['-k', '--shell', '--', 'printf "%s\\n" {}'], { input: `${input.join('\n')}\n`, cwd: dir });
  t.is(run.code, 0, run.stderr);
  t.deepEqual(lines(run.stdout), input);
  t.false(existsSync(join(dir, 'pwned')));
  t.false(existsSync(join(dir, 'pwned2')));
});

test('with --input and no {} in the command, each line is its last argument (as xargs and GNU parallel do)', async (t) => {
  const dir = tempDir();
  const input = trickyLines(dir);
  writeFileSync(join(dir, 'lines.txt'), `${input.join('\n')}\n`);
  const [plain, shell, slip] = await Promise.all([
    runThrottle(['-k', '--input', 'lines.txt', '--', fixture('echo-args.sh'), 'fixed arg'], { cwd: dir }),
    runThrottle(['-k', '--shell', '--input', 'lines.txt', '--', 'printf "%s|%s\n" first'], { cwd: dir }),
    // A placeholder of one's own that the command lacks is a usage error, not a wrapper run once.
    runThrottle(['-I', '%', '--', 'echo', 'x'], { input: 'a\nb\n' }),
  ]);
  t.is(plain.code, 0, plain.stderr);
  t.deepEqual(
    lines(plain.stdout).map((l) => JSON.parse(l) as unknown),
    input.map((line) => ['fixed arg', line]),
  );
  t.is(shell.code, 0, shell.stderr);
  t.deepEqual(lines(shell.stdout), input.map((line) => `first|${line}`));
  t.false(existsSync(join(dir, 'pwned')));
  t.false(existsSync(join(dir, 'pwned2')));
  t.is(slip.code, 2);
  t.is(slip.stderr, 'throttle: -I %: the command has no % to replace: e.g. throttle -I % -- echo %\n');
});

test('`throttle run -- cmd` is the same as `throttle -- cmd`', async (t) => {
  const [explicit, implicit] = await Promise.all([runThrottle(['run', '--', 'echo', 'x']), runThrottle(['--', 'echo', 'x'])]);
  t.is(explicit.code, 0);
  t.is(explicit.stdout, 'x\n');
  const seen = ({ code, signal, stdout, stderr }: typeof explicit) => ({ code, signal, stdout, stderr });
  t.deepEqual(seen(explicit), seen(implicit));
});

/** RUN_FLAGS are the flags `throttle run` declares (src/cli/program.ts). */
const RUN_FLAGS = [
  '--rate', '--burst', '--concurrency', '--on-full', '--retries', '--backoff-base', '--backoff-max', '--jitter',
  '--timeout', '--report', '--output', '--no-progress', '--quiet', '--input', '-I', '--count', '--duration',
  '--shell', '--retry-on', '--kill-after', '--keep-order', '--tag', '--joblog', '--resume', '--resume-failed', '--halt', '--record',
];

test('`throttle run --help` lists every flag and ends with examples', async (t) => {
  const run = await runThrottle(['run', '--help']);
  t.is(run.code, 0);
  t.is(run.stderr, '');
  for (const flag of RUN_FLAGS) t.regex(run.stdout, new RegExp(`(^|[\\s,])${flag}\\b`), `${flag} is missing from the help`);
  t.regex(run.stdout, /\nExamples:\n(.*\n)*.*throttle .*-- /);
});

// throttle is used as `throttle [flags] -- cmd`: its help is run's, followed by the other subcommands.
test('`throttle --help` lists every flag of the default command, examples and the other subcommands', async (t) => {
  const run = await runThrottle(['--help']);
  t.is(run.code, 0);
  for (const flag of RUN_FLAGS) t.regex(run.stdout, new RegExp(`(^|[\\s,])${flag}\\b`), `${flag} is missing from the help`);
  t.regex(run.stdout, /\nExamples:\n/);
  for (const sub of ['http', 'bench', 'trace', 'report']) t.true(run.stdout.includes(`throttle ${sub} --help`), sub);
});

test('--version and -V print the version of package.json', async (t) => {
  const [long, short] = await Promise.all([runThrottle(['--version']), runThrottle(['-V'])]);
  t.is(long.code, 0);
  t.is(long.stdout, `${VERSION}\n`);
  t.is(short.stdout, `${VERSION}\n`);
  t.is(long.stderr, '');
});
