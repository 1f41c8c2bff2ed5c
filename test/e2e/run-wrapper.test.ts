import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lines, runThrottle, tempDir } from './helpers.js';

// Wrapper mode: without {} in the command, throttle runs it once and is as transparent as it can be.

test('wrapper mode exits with the command\'s status', async (t) => {
  const run = await runThrottle(['--', 'sh', '-c', 'exit 7']);
  t.is(run.code, 7);
  t.is(run.stdout, '');
});

test('wrapper mode passes stdin through to the command', async (t) => {
  const run = await runThrottle(['--', 'cat'], { input: 'hi\nthere\n' });
  t.is(run.code, 0, run.stderr);
  t.is(run.stdout, 'hi\nthere\n');
});

test('wrapper mode exits 128 + n when a signal ends the command', async (t) => {
  const run = await runThrottle(['--', 'sh', '-c', 'kill -TERM $$']);
  t.is(run.code, 143);
});

test('--timeout ends the command and exits 124, without waiting for it', async (t) => {
  const stamp = join(tempDir(), 'started');
  const run = await runThrottle(['--timeout', '200ms', '--', 'sh', '-c', 'date +%s%N > "$0"; exec sleep 5', stamp]);
  t.is(run.code, 124);
  t.regex(run.stderr, /timed out/);
  // From the command's start to throttle's exit: the 200 ms timeout and a little (under 1 s on an idle
  // machine, seen up to 1.1 s on busy cores). The command's 5 s, or SIGKILL after --kill-after's 5 s, would
  // be far more. Timed from the command's start, not from the spawn: node's start-up does not count.
  const sinceStartMs = run.exitedAtMs - Number(BigInt(readFileSync(stamp, 'utf8').trim()) / 1_000_000n);
  t.true(sinceStartMs >= 150 && sinceStartMs < 2500, `exited ${sinceStartMs} ms after the command started`);
});

test('a command that does not exist exits 127 with one line naming it', async (t) => {
  const run = await runThrottle(['--', 'no-such-command-4711', 'arg']);
  t.is(run.code, 127);
  t.is(lines(run.stderr).length, 1, run.stderr);
  t.regex(run.stderr, /no-such-command-4711/);
});

/** badFlag checks a usage error: exit 2, nothing on stdout, exactly one line on stderr naming the flag. */
const badFlag = test.macro({
  async exec(t, args: string[], names: RegExp) {
    const run = await runThrottle(args);
    t.is(run.code, 2, run.stderr);
    t.is(run.stdout, '');
    const stderr = lines(run.stderr);
    t.is(stderr.length, 1, run.stderr);
    t.regex(stderr[0] ?? '', /^throttle: /);
    t.regex(stderr[0] ?? '', names);
  },
  title: (_title, args: string[]) => `usage error, exit 2, one line: throttle ${args.join(' ')}`,
});

test(badFlag, ['-r', '10/x', '--', 'true'], /--rate.*"10\/x"/);
test(badFlag, ['-j', '0', '--', 'true'], /--concurrency.*"0"/);
test(badFlag, ['--backoff-base', '5', '--', 'true'], /--backoff-base.*"5"/);
test(badFlag, ['--on-full', 'maybe', '--', 'true'], /--on-full.*maybe/);
test(badFlag, ['--retry-on', 'x', '--', 'true'], /--retry-on.*"x"/);
test(badFlag, ['--halt', 'sometimes', '--', 'echo', '{}'], /--halt.*"sometimes"/);
test(badFlag, ['--resume', '--', 'echo', '{}'], /--resume.*--joblog/);
test(badFlag, [], /no command/);
test(badFlag, ['--input', '/nonexistent/lines.txt', '--', 'echo', '{}'], /--input \/nonexistent\/lines\.txt/);
test(badFlag, ['--no-such-flag', '--', 'true'], /unknown option '--no-such-flag'/);
// commander's suggestion must stay on the same line.
test(badFlag, ['--retrys', '3', '--', 'true'], /unknown option '--retrys'.*--retries/);
