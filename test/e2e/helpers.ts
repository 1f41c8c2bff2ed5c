import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Helpers of the end-to-end tests: they spawn the real bin (bin/throttle.js, which runs dist/bundle/) with tiny
 * fixture commands from fixtures/cmd/. Every run is checked for process warnings and stack traces: any of
 * them fails the test, whatever else it asserts.
 */

/** findRoot walks up from this file to the directory holding package.json (tests run from build dirs). */
function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
export const BIN = join(ROOT, 'bin', 'throttle.js');
export const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** fixture is the absolute path of a fixture command. */
export function fixture(name: string): string {
  return join(ROOT, 'fixtures', 'cmd', name);
}

export interface RunOptions {
  /** input is written to throttle's stdin, which is then closed; without it stdin is closed at once. */
  readonly input?: string;
  /** keepStdinOpen leaves stdin open after `input`: the test writes more to `child.stdin` and ends it. */
  readonly keepStdinOpen?: boolean;
  /** env is added to the test's environment (after CI=1, so a test may override it). */
  readonly env?: NodeJS.ProcessEnv;
  /** timeoutMs kills a throttle that runs longer (SIGKILL) and fails the run; default 20 s. */
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

export interface RunResult {
  /** code is the exit status, or 128 + signal number when throttle itself was killed by a signal. */
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** ms is the wall time from spawn to exit. */
  readonly ms: number;
  /** exitedAtMs is when throttle was seen to exit, in ms since the epoch (to compare with fixtures' stamps). */
  readonly exitedAtMs: number;
}

export interface Running {
  readonly child: ChildProcess;
  /** result settles once throttle exited and its output was read; it rejects on a warning or a timeout. */
  readonly result: Promise<RunResult>;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 };

/** WARNING matches what a process warning or an uncaught error leaves on stderr. */
const WARNING = /\bWarning\b|ExperimentalWarning|DeprecationWarning|\(node:\d+\)|^ {4}at /m;

/**
 * MAX_RUNNING caps the throttles one test file runs at once. Ava runs a file's tests concurrently and
 * several files side by side; on two busy cores, a dozen node processes starting together take seconds
 * each, which would swamp every timed assertion. Queued runs wait here, before their clock starts.
 */
const MAX_RUNNING = 2;
let running = 0;
const queue: Array<() => void> = [];

function acquire(): Promise<void> {
  if (running < MAX_RUNNING) {
    running++;
    return Promise.resolve();
  }
  return new Promise((resolve) => queue.push(resolve));
}

function release(): void {
  const next = queue.shift();
  if (next === undefined) running--;
  else next();
}

/**
 * spawnThrottle starts throttle once fewer than MAX_RUNNING of this file's throttles run, and returns the
 * child (to signal it, or read its stdout as it comes) and the promise of its result. Throttle gets CI=1
 * (no progress bar) unless `env` says otherwise.
 */
export async function spawnThrottle(args: readonly string[], opts: RunOptions = {}): Promise<Running> {
  await acquire();
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, CI: '1', NO_COLOR: '1', FORCE_COLOR: undefined, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // Throttle may exit before reading all its input (a halted run, a closed pipe): that is no test failure.
  child.stdin!.on('error', () => {});
  if (opts.keepStdinOpen === true) child.stdin!.write(opts.input ?? '');
  else child.stdin!.end(opts.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stdout!.on('error', () => {});
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const result = new Promise<RunResult>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    let ended = false;
    const end = (): boolean => {
      if (ended) return false;
      ended = true;
      clearTimeout(timer);
      release();
      return true;
    };
    child.once('error', (err) => {
      if (end()) reject(err);
    });
    child.once('close', (code, signal) => {
      if (!end()) return;
      const ms = performance.now() - started;
      const run: RunResult = { code: code ?? 128 + (SIGNALS[signal ?? ''] ?? 0), signal, stdout, stderr, ms, exitedAtMs: Date.now() };
      const shown = `throttle ${args.join(' ')}\n--- stderr ---\n${stderr}--- stdout (first 2000) ---\n${stdout.slice(0, 2000)}`;
      if (timedOut) reject(new Error(`timed out after ${timeoutMs} ms: ${shown}`));
      else if (WARNING.test(stderr)) reject(new Error(`a warning or a stack trace on stderr: ${shown}`));
      else resolve(run);
    });
  });
  return { child, result };
}

/** runThrottle runs throttle to its end. See spawnThrottle. */
export async function runThrottle(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return (await spawnThrottle(args, opts)).result;
}

const tempDirs: string[] = [];
process.once('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** tempDir makes a fresh directory, removed when the test process exits. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'throttle-e2e-'));
  tempDirs.push(dir);
  return dir;
}

/** lines splits output into its lines, without the empty string after the last newline. */
export function lines(text: string): string[] {
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return all;
}

/** waitFor polls until `check` holds; it throws once `timeoutMs` passed. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > until) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** alive says whether a process (or, for a negative pid, any process of a group) still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** seqLines is `seq from to` as input text. */
export function seqLines(from: number, to: number): string {
  let text = '';
  for (let i = from; i <= to; i++) text += `${i}\n`;
  return text;
}
