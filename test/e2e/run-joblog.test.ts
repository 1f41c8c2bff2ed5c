import test from 'ava';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, lines, runThrottle, seqLines, spawnThrottle, tempDir, waitFor } from './helpers.js';

const HEADER = 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand';

/** joblogRows reads a job log: checks the header and returns the rows' columns. */
function joblogRows(file: string): string[][] {
  const [header, ...rows] = lines(readFileSync(file, 'utf8'));
  if (header !== HEADER) throw new Error(`not a job log header: ${JSON.stringify(header)}`);
  return rows.map((row) => row.split('\t'));
}

test('--joblog writes GNU parallel\'s header and one row of 9 columns per job', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'jobs.log');
  const before = Date.now() / 1000;
  const run = await runThrottle(['--joblog', file, '--', fixture('exit-with.sh'), '{}'], { input: '0\n3\n0\n1\n' });
  t.is(run.code, 1);
  const rows = joblogRows(file);
  t.is(rows.length, 4);
  for (const row of rows) {
    t.is(row.length, 9, row.join('|'));
    const [, host, start, runtime, send, receive, , signal, command] = row;
    t.is(host, ':');
    t.regex(start!, /^\d+\.\d{3}$/);
    t.true(Number(start) >= before - 1 && Number(start) <= Date.now() / 1000 + 1, `Starttime ${start}`);
    t.regex(runtime!, /^ *\d+\.\d{3}$/);
    t.is(send, '0');
    t.is(receive, '0');
    t.is(signal, '0');
    t.true(command!.startsWith(`${fixture('exit-with.sh')} `), command);
  }
  // Seq and Exitval; rows come in the order jobs finished.
  t.deepEqual(rows.map((row) => `${row[0]}:${row[6]}`).toSorted(), ['1:0', '2:3', '3:0', '4:1']);
});

test('--resume after an interrupted run does each job exactly once across both runs', async (t) => {
  const dir = tempDir();
  const log = join(dir, 'jobs.log');
  const marks = join(dir, 'marks');
  const input = join(dir, 'lines');
  writeFileSync(input, seqLines(1, 20));
  const args = ['-j', '2', '--joblog', log, '--input', input, '--', fixture('mark-done.sh'), marks, '{}', '0.2'];
  const markedLines = (): string[] => (existsSync(marks) ? lines(readFileSync(marks, 'utf8')) : []);

  const first = await spawnThrottle(args);
  // Interrupt once some jobs are done, well before all 20 (about 2 s of work at -j 2) could be.
  await waitFor(() => markedLines().length >= 2, 'two jobs to finish');
  first.child.kill('SIGINT');
  const run1 = await first.result;
  t.is(run1.code, 130);
  const afterFirst = markedLines().length;
  t.true(afterFirst < 20, `the first run finished all ${afterFirst} jobs before the interrupt`);
  t.is(joblogRows(log).length, afterFirst, 'the job log has a row for each finished job, and no other');

  const run2 = await runThrottle([...args.slice(0, 4), '--resume', ...args.slice(4)]);
  t.is(run2.code, 0, run2.stderr);
  t.regex(run2.stderr, new RegExp(`^${20 - afterFirst} jobs in `));
  t.deepEqual(markedLines().map(Number).toSorted((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  t.deepEqual(joblogRows(log).map((row) => Number(row[0])).toSorted((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
});

test('--resume-failed runs again only the jobs that failed', async (t) => {
  const dir = tempDir();
  const log = join(dir, 'jobs.log');
  const args = ['--joblog', log, '--', fixture('log-run.sh'), dir, '{}'];
  const input = 'a\nb\nc\nd\n';
  const runs = (): Record<string, number> =>
    Object.fromEntries(['a', 'b', 'c', 'd'].map((name) => [name, lines(readFileSync(join(dir, `${name}.runs`), 'utf8')).length]));
  writeFileSync(join(dir, 'b.exit'), '1\n');
  writeFileSync(join(dir, 'd.exit'), '4\n');

  const run1 = await runThrottle(args, { input });
  t.is(run1.code, 1);
  t.deepEqual(runs(), { a: 1, b: 1, c: 1, d: 1 });

  rmSync(join(dir, 'b.exit'));
  rmSync(join(dir, 'd.exit'));
  const run2 = await runThrottle(['--resume-failed', ...args], { input });
  t.is(run2.code, 0, run2.stderr);
  t.deepEqual(runs(), { a: 1, b: 2, c: 1, d: 2 });
  // The second run appends its rows to those of the first (rows are in the order jobs finished).
  const rows = joblogRows(log).map((row) => `${row[0]}:${row[6]}`);
  t.deepEqual(rows.slice(0, 4).toSorted(), ['1:0', '2:1', '3:0', '4:4']);
  t.deepEqual(rows.slice(4).toSorted(), ['2:0', '4:0']);

  // The rows of the second run win: nothing is left to do.
  const run3 = await runThrottle(['--resume-failed', ...args], { input });
  t.is(run3.code, 0, run3.stderr);
  t.deepEqual(runs(), { a: 1, b: 2, c: 1, d: 2 });
});
