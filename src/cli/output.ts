import type { Writable } from 'node:stream';

export type StreamName = 'stdout' | 'stderr';

/**
 * OutputRouter carries jobs' output to throttle's own stdout and stderr so that two jobs never mix inside
 * one line:
 * - by default, line by line as it comes: a job's complete lines are written in one piece, and a last line
 *   without "\n" is completed with one when its attempt ends;
 * - with keepOrder, each job's whole output is held until the job is done and printed in input order;
 * - with tag, every line starts with the job's input and a tab.
 * A destination that reports back-pressure pauses the writer (see `write`). Once stdout is closed
 * downstream (EPIPE), output is dropped and `onBrokenPipe` runs once.
 */
export class OutputRouter {
  readonly #dest: Record<StreamName, Writable>;
  readonly #keepOrder: boolean;
  readonly #tag: boolean;
  readonly #jobs = new Map<number, JobOutput>();
  /** Seqs in the order jobs arrived, for keepOrder; `#head` indexes the next one to print. */
  #order: number[] = [];
  #head = 0;
  #broken = false;
  /**
   * Callbacks waiting for each destination to drain, behind one 'drain' listener per destination (one
   * listener per paused job would trip Node's MaxListenersExceededWarning past ten). A broken pipe never
   * drains: its waiters are released when it breaks.
   */
  readonly #waiting: Record<StreamName, Array<() => void>> = { stdout: [], stderr: [] };
  onBrokenPipe: (() => void) | undefined;
  /** beforeWrite runs before each write (the progress bar clears its line there). */
  beforeWrite: (() => void) | undefined;

  constructor(options: { stdout: Writable; stderr: Writable; keepOrder: boolean; tag: boolean }) {
    this.#dest = { stdout: options.stdout, stderr: options.stderr };
    this.#keepOrder = options.keepOrder;
    this.#tag = options.tag;
    for (const name of ['stdout', 'stderr'] as const) {
      this.#dest[name].on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
        if (this.#broken) return;
        this.#broken = true;
        this.onBrokenPipe?.();
        this.#release('stdout');
        this.#release('stderr');
      });
      this.#dest[name].on('drain', () => this.#release(name));
    }
  }

  /** broken is true once a destination was closed downstream. */
  get broken(): boolean {
    return this.#broken;
  }

  /** expect registers an arriving job, fixing its place in the output order. */
  expect(seq: number, key: string): void {
    this.#jobs.set(seq, new JobOutput(this, key, this.#tag, this.#keepOrder));
    if (this.#keepOrder) this.#order.push(seq);
  }

  /** job returns the output of a registered job. */
  job(seq: number): JobOutput {
    const out = this.#jobs.get(seq);
    if (out === undefined) throw new Error(`output of job ${seq} was never registered (a bug)`);
    return out;
  }

  /** finish marks a job done; with keepOrder, prints every finished job at the head of the order. */
  finish(seq: number): void {
    const out = this.#jobs.get(seq);
    if (out === undefined) return;
    out.closeAttempt();
    out.finished = true;
    if (!this.#keepOrder) {
      this.#jobs.delete(seq);
      return;
    }
    while (this.#head < this.#order.length) {
      const next = this.#jobs.get(this.#order[this.#head]!);
      if (next === undefined || !next.finished) break;
      next.flushHeld();
      this.#jobs.delete(this.#order[this.#head]!);
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }

  /** write sends text to a destination; false means it is full: wait for `drain` before writing more. */
  write(name: StreamName, data: string | Buffer): boolean {
    if (this.#broken) return true;
    this.beforeWrite?.();
    return this.#dest[name].write(data);
  }

  /** onDrain calls back once the destination can take more. */
  onDrain(name: StreamName, callback: () => void): void {
    if (this.#broken) callback();
    else this.#waiting[name].push(callback);
  }

  #release(name: StreamName): void {
    const waiting = this.#waiting[name];
    this.#waiting[name] = [];
    for (const callback of waiting) callback();
  }
}

const NL = 0x0a;

/** JobOutput is one job's output on its way through the router. */
export class JobOutput {
  readonly #router: OutputRouter;
  readonly #prefix: Buffer | undefined;
  readonly #hold: boolean;
  readonly #partial: Record<StreamName, Buffer | undefined> = { stdout: undefined, stderr: undefined };
  readonly #held: Array<[StreamName, Buffer]> = [];
  /** bytes counts what the job wrote to stdout (the job log's Receive column). */
  bytes = 0;
  finished = false;

  constructor(router: OutputRouter, key: string, tag: boolean, hold: boolean) {
    this.#router = router;
    this.#prefix = tag ? Buffer.from(`${key.replace(/[\t\n]/g, ' ')}\t`) : undefined;
    this.#hold = hold;
  }

  /**
   * write takes a chunk of the job's stdout or stderr. Complete lines go out now (or are held, with
   * keepOrder); the rest waits for its newline. Returns false when the destination is full.
   */
  write(name: StreamName, chunk: Buffer): boolean {
    if (name === 'stdout') this.bytes += chunk.length;
    const partial = this.#partial[name];
    const data = partial === undefined ? chunk : Buffer.concat([partial, chunk]);
    const last = data.lastIndexOf(NL);
    if (last === -1) {
      this.#partial[name] = data;
      return true;
    }
    this.#partial[name] = last === data.length - 1 ? undefined : data.subarray(last + 1);
    return this.#emit(name, data.subarray(0, last + 1));
  }

  /** closeAttempt completes a last line left without "\n" when an attempt ends. */
  closeAttempt(): void {
    for (const name of ['stdout', 'stderr'] as const) {
      const partial = this.#partial[name];
      if (partial === undefined) continue;
      this.#partial[name] = undefined;
      this.#emit(name, Buffer.concat([partial, Buffer.from('\n')]));
    }
  }

  /** flushHeld prints what keepOrder held back. */
  flushHeld(): void {
    for (const [name, data] of this.#held) this.#router.write(name, data);
    this.#held.length = 0;
  }

  #emit(name: StreamName, lines: Buffer): boolean {
    const data = this.#prefix === undefined ? lines : this.#tagLines(lines);
    if (this.#hold) {
      this.#held.push([name, data]);
      return true;
    }
    return this.#router.write(name, data);
  }

  /** #tagLines puts the prefix before each complete line of `lines` (which ends with "\n"). */
  #tagLines(lines: Buffer): Buffer {
    const prefix = this.#prefix!;
    const parts: Buffer[] = [];
    let from = 0;
    for (let nl = lines.indexOf(NL); nl !== -1; nl = lines.indexOf(NL, from)) {
      parts.push(prefix, lines.subarray(from, nl + 1));
      from = nl + 1;
    }
    return Buffer.concat(parts);
  }
}
