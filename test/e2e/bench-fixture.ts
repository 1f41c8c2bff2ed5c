import type { ExecutionContext } from 'ava';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Report } from '../../src/report/json.js';
import { alive, lines, type RunOptions, type RunResult, type Running, runThrottle, spawnThrottle } from './helpers.js';

/**
 * Helpers of the end-to-end tests of `throttle bench`, `trace gen`, `report` and `--record`: traces written
 * to a temp dir, the JSON report of a run, the one-line usage error every user mistake must give, and a
 * quiet spell for the real-time replays.
 */

// ---------------------------------------------------------------------------------------------------------
// Quiet spells. The real replays (bench-real) compare real throttle times with the simulation's to a few
// milliseconds; on two cores, the dozens of short-lived throttles the other bench files start meanwhile
// starve the replay of CPU and make every grant 50 ms late. So while bench-real runs, it holds a lock
// directory, and the other bench files start no throttle until it is gone (or its holder died).

const QUIET_LOCK = join(tmpdir(), 'throttle-bench-e2e-quiet');

/** holdQuiet takes the lock (waiting for another holder to finish) and returns its release. */
export async function holdQuiet(): Promise<() => void> {
  for (;;) {
    try {
      mkdirSync(QUIET_LOCK);
      break;
    } catch {
      await quiet();
    }
  }
  writeFileSync(join(QUIET_LOCK, 'pid'), String(process.pid));
  const release = (): void => rmSync(QUIET_LOCK, { recursive: true, force: true });
  process.once('exit', release);
  return release;
}

/** quiet resolves once no other live process holds the lock; after a minute it stops waiting. */
export async function quiet(): Promise<void> {
  const until = performance.now() + 60_000;
  while (existsSync(QUIET_LOCK) && performance.now() < until) {
    let pid = NaN; // a lock taken a moment ago may not have its pid written yet
    try {
      pid = Number(readFileSync(join(QUIET_LOCK, 'pid'), 'utf8'));
    } catch {}
    if (pid === process.pid) return; // the holder's own runs
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) rmSync(QUIET_LOCK, { recursive: true, force: true });
    else await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** throttle is runThrottle once no real-time replay is running. */
export async function throttle(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
  await quiet();
  return runThrottle(args, opts);
}

/** startThrottle is spawnThrottle once no real-time replay is running. */
export async function startThrottle(args: readonly string[], opts?: RunOptions): Promise<Running> {
  await quiet();
  return spawnThrottle(args, opts);
}

// ---------------------------------------------------------------------------------------------------------

/** TraceLine is one line of a JSON Lines trace, as a user would write it (times and durations in seconds). */
export interface TraceLine {
  readonly t?: number;
  readonly key?: string;
  /** n is the tokens the event takes. */
  readonly n?: number;
  readonly duration?: number;
  readonly status?: number;
}

/** writeTrace writes a JSON Lines trace into `dir` and returns its path. */
export function writeTrace(dir: string, name: string, events: readonly TraceLine[]): string {
  const file = join(dir, name);
  writeFileSync(file, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
  return file;
}

/** benchJson runs `throttle bench --json ...args`, expects exit 0 and returns the parsed report. */
export async function benchJson(t: ExecutionContext, args: readonly string[], opts?: RunOptions): Promise<Report> {
  const result = await throttle(['bench', '--json', ...args], opts);
  t.is(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Report;
}

/**
 * usageError checks a user's mistake: exit status 2, nothing on stdout, and one line on stderr starting
 * `throttle: ` that matches `message`.
 */
export function usageError(t: ExecutionContext, result: RunResult, message: RegExp): void {
  t.is(result.code, 2, result.stderr);
  t.is(result.stdout, '');
  const errs = lines(result.stderr);
  t.is(errs.length, 1, result.stderr);
  t.regex(errs[0] ?? '', /^throttle: /);
  t.regex(errs[0] ?? '', message);
}

/** within says whether `actual` is `expected` give or take `tolerance`. */
export function within(actual: number, expected: number, tolerance: number): boolean {
  return Math.abs(actual - expected) <= tolerance;
}
