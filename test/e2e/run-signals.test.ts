import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, fixture, seqLines, spawnThrottle, tempDir, waitFor } from './helpers.js';

test('SIGINT mid-run leaves no job running, prints the summary and exits 130', async (t) => {
  const dir = tempDir();
  const { child, result } = await spawnThrottle(['-j', '3', '--', fixture('pid-sleep.sh'), dir, '{}', '30'], { input: seqLines(1, 6) });
  const pidFiles = ['1', '2', '3'].map((name) => join(dir, `${name}.pid`));
  await waitFor(() => pidFiles.every((file) => existsSync(file)), 'three jobs to start');
  const pids = pidFiles.map((file) => Number(readFileSync(file, 'utf8')));
  for (const pid of pids) t.true(alive(pid), `job ${pid} is running before the interrupt`);

  const interruptedAt = performance.now();
  child.kill('SIGINT');
  const run = await result;
  const stopMs = performance.now() - interruptedAt;
  t.is(run.code, 130);
  t.regex(run.stderr, /^6 jobs in .*: 0 ok, 0 failed, 6 interrupted/m);
  t.regex(run.stderr, /\n {2}latency /);
  // The jobs ended on the interrupt itself, not on --kill-after's SIGKILL 5 s later.
  t.true(stopMs < 4500, `stopping took ${stopMs} ms`);
  // Each job led a process group of its own (the shell and its sleep): no member of any is left.
  for (const pid of pids) {
    t.false(alive(pid), `job ${pid} survived`);
    t.false(alive(-pid), `a process of job group ${pid} survived`);
  }
  t.false(existsSync(join(dir, '4.pid')), 'a job started after the interrupt');
});
