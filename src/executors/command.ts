import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import type { OutputRouter, StreamName } from '../cli/output.js';
import type { AttemptContext, AttemptOutcome, Executor, Job } from '../engine/types.js';

/** CommandPayload is the program and arguments of one job, placeholders already filled in. */
export interface CommandPayload {
  readonly file: string;
  readonly args: readonly string[];
}

export interface CommandExecutorOptions {
  /**
   * stdio: `inherit` passes throttle's stdin, stdout and stderr straight to the child (wrapper mode);
   * `pipe` gives the child no stdin and carries its output through the router, line by line; `ignore`
   * discards it (replays, where only the timing matters); `output` gives the child no stdin but throttle's
   * own stdout and stderr (a command run on triggers read from stdin, which are not the command's input).
   */
  readonly stdio: 'inherit' | 'pipe' | 'ignore' | 'output';
  readonly output?: OutputRouter;
  /** timeoutMs ends an attempt that runs longer (SIGTERM to its process group, SIGKILL killAfterMs later). */
  readonly timeoutMs: number;
  readonly killAfterMs: number;
  /** retryOn lists the exit statuses worth another attempt; undefined: any non-zero status. */
  readonly retryOn: ReadonlySet<number> | undefined;
  /**
   * detached starts each child in a process group of its own, so a timeout or Ctrl-C reaches everything it
   * started. A wrapper around an interactive program must stay in the terminal's group instead, or the
   * program could not read the terminal.
   */
  readonly detached: boolean;
}

/** STATUS_NOT_FOUND and STATUS_NOT_EXECUTABLE are the shell's statuses for a command that cannot start. */
const STATUS_NOT_FOUND = 127;
const STATUS_NOT_EXECUTABLE = 126;

/**
 * onNextTurn hands an attempt's outcome on from the next turn of the event loop. Node reports a child's end
 * from inside libuv's handling of SIGCHLD, which goes on reading while more ends keep coming; a caller that
 * starts the next child right there (the scheduler does, for a queued job) spends a few milliseconds in each
 * spawn, during which the next child ends: with some eight children at a time the loop never leaves, and
 * timers and signals (Ctrl-C) wait until the queue runs dry. A command that cannot start fails on the next
 * tick, which chains the same way. Handing the outcome on a turn later costs microseconds.
 */
function onNextTurn(resolve: (outcome: AttemptOutcome) => void, outcome: AttemptOutcome): void {
  setImmediate(resolve, outcome);
}

/**
 * CommandExecutor runs each attempt as a child process, without a shell (each argument is passed as is).
 * It uses node:child_process directly: per job it costs one spawn and, in pipe mode, two pipes, and nothing
 * is buffered beyond a partial line.
 */
export class CommandExecutor implements Executor<CommandPayload> {
  readonly #o: CommandExecutorOptions;
  readonly #children = new Set<ChildProcess>();

  constructor(options: CommandExecutorOptions) {
    this.#o = options;
  }

  /** running is how many children are alive. */
  get running(): number {
    return this.#children.size;
  }

  /** signalAll sends a signal to every running child (its whole process group when detached). */
  signalAll(signal: NodeJS.Signals): void {
    for (const child of this.#children) this.#signal(child, signal);
  }

  execute(job: Job<CommandPayload>, ctx: AttemptContext): Promise<AttemptOutcome> {
    const o = this.#o;
    const { file, args } = job.payload;
    return new Promise<AttemptOutcome>((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(file, args, {
          stdio: o.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : o.stdio === 'output' ? ['ignore', 'inherit', 'inherit'] : o.stdio,
          detached: o.detached,
        });
      } catch (err) {
        onNextTurn(resolve, spawnFailure(file, err));
        return;
      }
      const out = o.output?.job(job.seq);
      let timedOut = false;
      let killTimer: NodeJS.Timeout | undefined;
      let settled = false;
      const terminate = (): void => {
        this.#signal(child, 'SIGTERM');
        killTimer ??= setTimeout(() => this.#signal(child, 'SIGKILL'), o.killAfterMs);
      };
      const timeoutTimer = o.timeoutMs === Infinity ? undefined : setTimeout(() => {
        timedOut = true;
        terminate();
      }, o.timeoutMs);
      const onKill = (): void => this.#signal(child, 'SIGKILL');
      ctx.kill.addEventListener('abort', onKill);
      const finish = (outcome: AttemptOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timeoutTimer);
        clearTimeout(killTimer);
        ctx.kill.removeEventListener('abort', onKill);
        this.#children.delete(child);
        out?.closeAttempt();
        onNextTurn(resolve, outcome);
      };
      if (out !== undefined && o.output !== undefined) {
        pipeInto(child.stdout, 'stdout', out, o.output);
        pipeInto(child.stderr, 'stderr', out, o.output);
      }
      child.once('error', (err) => {
        // A child that never started has no pid; a running one that errors (kill failed) still closes.
        if (child.pid === undefined) finish(spawnFailure(file, err));
      });
      child.once('close', (code, signal) => {
        if (timedOut) {
          finish({ ok: false, code: 'timeout', retryable: true, error: `timed out after ${o.timeoutMs} ms`, signal: signal ?? 'SIGTERM' });
        } else if (signal !== null) {
          const status = 128 + (constants.signals[signal] ?? 0);
          finish({ ok: false, code: status, retryable: this.#retryable(status), pushback: this.#retryable(status), error: `killed by ${signal}`, signal });
        } else {
          const status = code ?? 1;
          // A retryable exit status (--retry-on) is the command's way of saying "too much, come back later".
          finish(status === 0 ? { ok: true, code: 0, retryable: false } : { ok: false, code: status, retryable: this.#retryable(status), pushback: this.#retryable(status) });
        }
      });
      if (child.pid !== undefined) this.#children.add(child);
    });
  }

  #retryable(status: number): boolean {
    return this.#o.retryOn === undefined ? status !== 0 : this.#o.retryOn.has(status);
  }

  #signal(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      if (this.#o.detached) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // Already gone (ESRCH): nothing to do.
    }
  }
}

/** pipeInto carries a child's stream into the router, pausing the child while the destination is full. */
function pipeInto(stream: Readable | null, name: StreamName, out: { write(name: StreamName, chunk: Buffer): boolean }, router: OutputRouter): void {
  if (stream === null) return;
  stream.on('data', (chunk: Buffer) => {
    if (!out.write(name, chunk)) {
      stream.pause();
      router.onDrain(name, () => stream.resume());
    }
  });
}

function spawnFailure(file: string, err: unknown): AttemptOutcome {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return { ok: false, code: STATUS_NOT_FOUND, retryable: false, error: `command not found: ${file}` };
  if (code === 'EACCES') return { ok: false, code: STATUS_NOT_EXECUTABLE, retryable: false, error: `permission denied: ${file}` };
  return { ok: false, code: code ?? 'spawn', retryable: false, error: `cannot run ${file}: ${(err as Error).message}` };
}
