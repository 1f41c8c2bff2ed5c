import { createWriteStream, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Clock } from '../core/clock.js';
import { InflightLimiter } from '../core/inflight.js';
import { Inf, Limiter } from '../core/limiter.js';
import { RetryPolicy } from '../core/retry.js';
import type { RunStats, Scheduler } from '../engine/scheduler.js';
import type { Job, Result } from '../engine/types.js';
import { Metrics, type RunData } from '../measure/metrics.js';
import { buildReport, formatJson, type Report, type ReportConfig } from '../report/json.js';
import { formatSummary } from '../report/text.js';
import { formatTraceLine } from '../sources/trace/format.js';
import { loadPaint, wantsProgress } from '../ui/terminal.js';
import { type Stopper, watchInterrupts } from './interrupts.js';
import { watchLimits } from './limits.js';
import type { OutputRouter } from './output.js';
import type { LimitSettings, ReportSettings } from './settings.js';

/** Io is the process's streams and environment, injectable for tests. */
export interface Io {
  readonly stdin: Readable & { isTTY?: boolean };
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly env: NodeJS.ProcessEnv;
}

export const processIo: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };

export type { Stopper } from './interrupts.js';

export interface SessionOptions<P> {
  readonly io: Io;
  readonly settings: LimitSettings & ReportSettings;
  readonly scheduler: Scheduler<P>;
  readonly stopper: Stopper;
  /** killAfterMs: after terminate, how long until kill. */
  readonly killAfterMs: number;
  readonly router: OutputRouter | undefined;
  readonly commandText: string;
  readonly config: ReportConfig;
  /** total is the number of jobs when known in advance (for the progress bar). */
  readonly total?: number;
  /** progress: whether this kind of run may show a bar at all (not a single wrapped command). */
  readonly progress: boolean;
  /** summary: whether to print the text summary (a single wrapped command stays silent). */
  readonly summary: boolean;
  /** onResult runs for each finished job, after measurement. */
  readonly onResult?: (result: Result, job: Job<P>) => void;
  /** extra adds fields to the report (bytes, errors, targets) once the run is over. */
  readonly extra?: () => Record<string, unknown>;
  /**
   * describeFailure words a failed job's line on stderr, or returns undefined to print none. The default
   * names jobs that failed with an error of their own (`job N (key): error`); a plain non-zero exit status
   * speaks for itself on the job's own stderr.
   */
  readonly describeFailure?: (result: Result) => string | undefined;
  /** printReportJson prints the report on stdout (--json). */
  readonly printReportJson?: boolean;
}

export interface SessionOutcome {
  readonly stats: RunStats;
  readonly report: Report;
  /** data holds the histograms and timeline behind the report (for detailed reporters). */
  readonly data: RunData;
  readonly interrupted: boolean;
  readonly brokenPipe: boolean;
}

/**
 * runSession is what every real run shares around its scheduler: Ctrl-C and SIGTERM (stop, forward,
 * then kill; a second signal kills at once), a closed stdout downstream, the progress bar, measurement,
 * the --output Result stream, the summary and the --report file.
 */
export async function runSession<P>(o: SessionOptions<P>): Promise<SessionOutcome> {
  const { io, settings: s, scheduler, stopper, router } = o;
  const signals = watchInterrupts(scheduler, stopper, o.killAfterMs);
  if (router !== undefined) router.onBrokenPipe = () => signals.stopGracefully('SIGTERM');

  const recorder = s.recordFile === undefined ? undefined : new TraceRecorder(createWriteStream(s.recordFile));
  const results = s.outputFile === undefined ? undefined : s.outputFile === '-' ? io.stdout : createWriteStream(s.outputFile);
  const metrics = new Metrics();
  const startMs = performance.now();
  const describe = o.describeFailure ?? ((r: Result) => (r.error === undefined ? undefined : `job ${r.seq + 1} (${r.key}): ${r.error}`));
  scheduler.events.on((e) => {
    if (e.type === 'arrived') {
      router?.expect(e.job.seq, e.job.key);
      recorder?.arrived(e.job.seq);
      return;
    }
    if (e.type !== 'done') return;
    const r = e.result;
    metrics.add(r);
    o.onResult?.(r, e.job as Job<P>);
    router?.finish(r.seq);
    recorder?.done(r, startMs);
    if (results !== undefined) results.write(`${JSON.stringify(relativeResult(r, startMs))}\n`);
    if (r.status === 'failed' && !s.quiet) {
      const line = describe(r);
      if (line !== undefined) io.stderr.write(`throttle: ${line}\n`);
    }
  }, router !== undefined || recorder !== undefined ? ['arrived', 'done'] : ['done']);

  const paint = await loadPaint(io.stderr, io.env);
  // The progress bar (cli-progress) is loaded only when it is drawn: on a terminal, outside CI.
  const progress =
    o.progress && wantsProgress(io.stderr, io.env, s.progress)
      ? (await import('../ui/progress.js')).startProgress({ stream: io.stderr, scheduler, ...(o.total === undefined || o.total === Infinity ? {} : { total: o.total }), targetRatePerSec: s.ratePerSec, paint })
      : undefined;
  if (progress !== undefined && router !== undefined) router.beforeWrite = () => progress.clear();

  const limits = watchLimits(scheduler as Scheduler<unknown>, s, io.stderr, startMs);
  let stats: RunStats;
  try {
    stats = await scheduler.run();
  } finally {
    limits.dispose();
    progress?.stop();
    signals.dispose();
    if (results !== undefined && results !== io.stdout) await closeStream(results as WriteStream);
    await recorder?.close();
  }

  const data = metrics.data(stats.endMs - stats.startMs, stats.peakRunning);
  const moved = limits.summary(stats.endMs);
  const report: Report = { ...buildReport(o.commandText, 'real', o.config, data.summary), ...(moved === undefined ? {} : { limits: moved }), ...o.extra?.() };
  if (s.reportFile !== undefined) await writeFile(s.reportFile, formatJson(report));
  const brokenPipe = router?.broken === true;
  if (o.printReportJson === true && !brokenPipe) io.stdout.write(formatJson(report));
  if (!s.quiet && o.summary && !brokenPipe) io.stderr.write(formatSummary(report, paint));
  return { stats, report, data, interrupted: signals.interrupted, brokenPipe };
}

/** configOf records the limits in force for the report. */
export function configOf(s: LimitSettings): ReportConfig {
  return {
    rate: s.ratePerSec === Infinity ? null : s.ratePerSec,
    burst: s.burst,
    concurrency: s.concurrency === Infinity ? null : s.concurrency,
    onFull: s.onFull,
    retries: s.retries,
    backoffBaseMs: s.backoffBaseMs,
    backoffMaxMs: s.backoffMaxMs,
    jitter: s.jitter,
    timeoutMs: s.timeoutMs === Infinity ? null : s.timeoutMs,
    ...(s.plan === undefined ? {} : { plan: s.plan.text }),
    ...(s.adaptive ? { adaptive: true, minRate: s.minRatePerSec } : {}),
    ...(s.adaptiveConcurrency ? { adaptiveConcurrency: true } : {}),
    ...(s.perKey === undefined
      ? {}
      : {
          ...(s.keyTemplate === undefined ? {} : { key: s.keyTemplate }),
          ...(s.perKey.ratePerSec === Infinity ? {} : { perKeyRate: s.perKey.ratePerSec, perKeyBurst: s.perKey.burst }),
          ...(s.perKey.concurrency === Infinity ? {} : { perKeyConcurrency: s.perKey.concurrency }),
        }),
    ...(s.controlFile === undefined ? {} : { control: s.controlFile }),
    // The shared budget's name, not its URL: a URL may hold a password.
    ...(s.redis === undefined ? {} : { redis: { key: s.redis.key, onFail: s.redis.onFail, leaseMs: s.redis.leaseMs } }),
  };
}

/** relativeResult gives a Result's times in ms since the run began (for --output streams). */
export function relativeResult(r: Result, startMs: number): Result {
  const rel = (t: number | undefined): number | undefined => (t === undefined ? undefined : Math.round((t - startMs) * 1000) / 1000);
  return { ...r, arrivalMs: rel(r.arrivalMs)!, grantedMs: rel(r.grantedMs), startedMs: rel(r.startedMs), endedMs: rel(r.endedMs)! };
}

export function closeStream(stream: WriteStream | undefined): Promise<void> | undefined {
  if (stream === undefined) return undefined;
  return new Promise((resolve) => stream.end(resolve));
}

/**
 * TraceRecorder writes `--record`: a JSON Lines trace of the run (arrival, key, service time per attempt,
 * final status) that `throttle bench` can replay. Jobs end out of order; lines are written in arrival
 * order, each once every earlier arrival is done, so the trace needs no sorting.
 */
class TraceRecorder {
  readonly #out: WriteStream;
  readonly #lines = new Map<number, string>();
  #order: number[] = [];
  #head = 0;

  constructor(out: WriteStream) {
    this.#out = out;
  }

  arrived(seq: number): void {
    this.#order.push(seq);
  }

  done(r: Result, startMs: number): void {
    this.#lines.set(
      r.seq,
      formatTraceLine({
        tMs: Math.max(0, r.arrivalMs - startMs),
        key: r.key,
        serviceMs: r.attempts > 0 ? r.serviceMs / r.attempts : 0,
        status: typeof r.code === 'number' ? r.code : -1,
      }),
    );
    while (this.#head < this.#order.length) {
      const line = this.#lines.get(this.#order[this.#head]!);
      if (line === undefined) break;
      this.#out.write(line.endsWith('\n') ? line : `${line}\n`);
      this.#lines.delete(this.#order[this.#head]!);
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }

  close(): Promise<void> | undefined {
    return closeStream(this.#out);
  }
}

/** Gates are the three limits every command builds from its LimitSettings. */
export interface Gates {
  readonly limiter: Limiter;
  readonly inflight: InflightLimiter;
  readonly retry: RetryPolicy<number>;
}

/**
 * gatesOf builds the token bucket, the in-flight cap and the retry policy the flags describe; `clock` and
 * `random` make them deterministic for the simulation.
 */
export function gatesOf(
  s: LimitSettings,
  options: { clock?: Clock; random?: () => number; mutatingLimit?: number | undefined } = {},
): Gates {
  return {
    limiter: new Limiter(s.ratePerSec === Infinity ? Inf : s.ratePerSec, s.burst, options.clock === undefined ? {} : { clock: options.clock }),
    inflight: new InflightLimiter({ limit: s.concurrency, ...(options.mutatingLimit === undefined ? {} : { mutatingLimit: options.mutatingLimit }) }),
    retry: new RetryPolicy<number>({
      retries: s.retries,
      baseDelayMs: s.backoffBaseMs,
      maxDelayMs: s.backoffMaxMs,
      jitter: s.jitter,
      ...(options.random === undefined ? {} : { random: options.random }),
    }),
  };
}
