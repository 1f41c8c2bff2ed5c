// Runs one hyperfine call over several named commands (same call, back to back) and returns their
// timings from its JSON export. Commands run without a shell (-N): a pipeline goes through `sh -c '...'`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './stats.js';

/** hasTool reports whether `name` is on PATH. */
export function hasTool(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * hyperfine runs `cmds` ([{ name, cmd }]) with `runs` runs and `warmup` warm-ups each, in the package root.
 * Returns [{ name, cmd, median, mean, min, max, stddev, times }] in seconds. hyperfine's own progress and
 * summary go to stderr/stdout of this process only when `verbose`.
 */
export function hyperfine(cmds, { runs = 3, warmup = 1, verbose = false, timeoutSec = 1800 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'throttle-bench-'));
  const json = join(dir, 'hf.json');
  const args = ['-N', '--style', 'basic', '--runs', String(runs), '--warmup', String(warmup), '--export-json', json];
  for (const c of cmds) args.push('-n', c.name, c.cmd);
  try {
    const r = spawnSync('hyperfine', args, { cwd: ROOT, stdio: verbose ? 'inherit' : ['ignore', 'ignore', 'pipe'], timeout: timeoutSec * 1000 });
    if (r.status !== 0) {
      throw new Error(`hyperfine failed (status ${r.status}${r.signal ? `, ${r.signal}` : ''}): ${r.stderr?.toString().slice(-2000) ?? ''}`);
    }
    const out = JSON.parse(readFileSync(json, 'utf8'));
    return out.results.map((x, i) => ({
      name: cmds[i].name,
      cmd: x.command,
      median: x.median,
      mean: x.mean,
      min: x.min,
      max: x.max,
      stddev: x.stddev,
      times: x.times,
      exitCodes: x.exit_codes,
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * interleaved runs `cmds` in `rounds` rounds of one hyperfine call each (--runs 1), rotating the order
 * every round, so that slow drifts of a shared machine's load hit every command alike. The first round
 * also does `warmup` warm-up runs of each command. Returns per command the median, min and max over rounds.
 */
export function interleaved(cmds, { rounds = 3, warmup = 1, verbose = false } = {}) {
  const times = new Map(cmds.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    const k = r % cmds.length;
    const order = [...cmds.slice(k), ...cmds.slice(0, k)];
    for (const x of hyperfine(order, { runs: 1, warmup: r === 0 ? warmup : 0, verbose })) times.get(x.name).push(x.times[0]);
  }
  return cmds.map((c) => {
    const ts = times.get(c.name);
    const s = [...ts].sort((a, b) => a - b);
    const m = s.length >> 1;
    return { name: c.name, cmd: c.cmd, median: s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2, min: s[0], max: s.at(-1), times: ts };
  });
}
