import { createReadStream, createWriteStream, existsSync, readFileSync, statSync, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { InflightLimiter } from '../../core/inflight.js';
import { Inf, Limiter } from '../../core/limiter.js';
import { RetryPolicy } from '../../core/retry.js';
import { Scheduler } from '../../engine/scheduler.js';
import type { Job, Result } from '../../engine/types.js';
import { ExitCode, UsageError } from '../../errors.js';
import { type CommandPayload, CommandExecutor } from '../../executors/command.js';
import { Metrics } from '../../measure/metrics.js';
import { buildReport, formatJson, type Report, type ReportConfig } from '../../report/json.js';
import { JOBLOG_HEADER, type JoblogEntry, formatJoblogRow, parseJoblog } from '../../report/joblog.js';
import { commandLine, shellQuotePosix } from '../../report/quote.js';
import { formatSummary } from '../../report/text.js';
import { countJobs } from '../../sources/count.js';
import { readLines } from '../../sources/lines.js';
import { paintFor, wantsProgress } from '../../ui/colour.js';
import { startProgress } from '../../ui/progress.js';
import { OutputRouter } from '../output.js';
import type { HaltPolicy, RunSettings } from '../settings.js';

/** Io is the process's streams and environment, injectable for tests. */
export interface Io {
  readonly stdin: Readable & { isTTY?: boolean };
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly env: NodeJS.ProcessEnv;
}

const processIo: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };

/** EXIT_BROKEN_PIPE is what a process killed by SIGPIPE reports (128 + 13). */
const EXIT_BROKEN_PIPE = 141;
/** EXIT_TIMEOUT is what GNU timeout(1) reports when it ended the command. */
const EXIT_TIMEOUT = 124;

/**
 * runCommand is `throttle run`: one job per input line when the command holds the placeholder (or with
 * --input), else the command itself, run once or --count times as a transparent wrapper. Returns the exit
 * status: the child's in wrapper mode; 0 all succeeded, 1 some failed, 130 interrupted otherwise.
 */
export async function runCommand(s: RunSettings, io: Io = processIo): Promise<number> {
  const done = s.resume === 'none' ? undefined : readJoblog(s.joblog!);
  const skip = done === undefined ? undefined : (seq: number) => isDone(done.get(seq), s.resume);
  const input = s.perLine ? openInput(s.inputFile, io) : undefined;
  const wrapper = !s.perLine;
  const single = wrapper && s.count === 1;

  const limiter = new Limiter(s.ratePerSec === Infinity ? Inf : s.ratePerSec, s.burst);
  const inflight = new InflightLimiter({ limit: s.concurrency });
  const retry = new RetryPolicy<number>({ retries: s.retries, baseDelayMs: s.backoffBaseMs, maxDelayMs: s.backoffMaxMs, jitter: s.jitter });
  const router = wrapper ? undefined : new OutputRouter({ stdout: io.stdout, stderr: io.stderr, keepOrder: s.keepOrder, tag: s.tag });
  const executor = new CommandExecutor({
    stdio: wrapper ? 'inherit' : 'pipe',
    ...(router === undefined ? {} : { output: router }),
    timeoutMs: s.timeoutMs,
    killAfterMs: s.killAfterMs,
    retryOn: s.retryOn,
    detached: !wrapper || io.stdin.isTTY !== true,
  });
  let linesRead = 0;
  const source = input === undefined ? countJobs(s.count, payloadFor(s, undefined), commandLine(s.command)) : lineJobs(input, s, skip, (n) => (linesRead = n));
  const lookahead = s.concurrency === Infinity ? 1024 : Math.min(Math.max(2 * s.concurrency, 64), 65_536);
  const scheduler = new Scheduler<CommandPayload>(source, executor, {
    limiter,
    inflight,
    onFull: s.onFull,
    retry,
    arrivals: wrapper ? 'schedule' : 'read',
    lookahead,
    ...(s.durationMs === undefined ? {} : { durationMs: s.durationMs }),
  });

  // Outcomes that end the run early.
  let interrupted = false;
  let halted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stopGracefully = (signal: NodeJS.Signals): void => {
    scheduler.stop();
    executor.signalAll(signal);
    killTimer ??= setTimeout(() => executor.signalAll('SIGKILL'), s.killAfterMs);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      scheduler.kill();
      executor.signalAll('SIGKILL');
      return;
    }
    interrupted = true;
    // In wrapper mode on a terminal, the child shares our process group and got the terminal's signal too.
    if (!(wrapper && io.stdin.isTTY === true && signal === 'SIGINT')) stopGracefully(signal);
    else scheduler.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (router !== undefined) {
    router.onBrokenPipe = () => {
      scheduler.stop();
      executor.signalAll('SIGTERM');
      killTimer ??= setTimeout(() => executor.signalAll('SIGKILL'), s.killAfterMs);
    };
  }

  const joblog = s.joblog === undefined ? undefined : openJoblog(s.joblog, s.resume !== 'none');
  const results = s.outputFile === undefined ? undefined : s.outputFile === '-' ? io.stdout : createWriteStream(s.outputFile);
  const metrics = new Metrics();
  const halt = s.halt === undefined ? undefined : haltWatcher(s.halt, (when) => {
    halted = true;
    if (when === 'now') stopGracefully('SIGTERM');
    else scheduler.stop();
  });
  const startMs = performance.now();
  scheduler.events.on((e) => {
    if (e.type === 'arrived') {
      router?.expect(e.job.seq, e.job.key);
      return;
    }
    if (e.type !== 'done') return;
    const r = e.result;
    const bytes = router?.job(r.seq).bytes ?? 0;
    router?.finish(r.seq);
    metrics.add(r);
    if (joblog !== undefined && r.status !== 'interrupted') joblog.write(formatJoblogRow(joblogRow(r, e.job as Job<CommandPayload>, bytes)));
    if (results !== undefined) results.write(`${JSON.stringify(relativeResult(r, startMs))}\n`);
    if (r.status === 'failed' && r.error !== undefined && !s.quiet) {
      io.stderr.write(single ? `throttle: ${r.error}\n` : `throttle: job ${r.seq + 1} (${r.key}): ${r.error}\n`);
    }
    halt?.(r);
  });

  const paint = paintFor(io.stderr, io.env);
  const progress = wantsProgress(io.stderr, io.env, s.progress && !single)
    ? startProgress({ stream: io.stderr, scheduler, ...(s.count !== Infinity && wrapper ? { total: s.count } : {}), targetRatePerSec: s.ratePerSec, paint })
    : undefined;

  let stats;
  try {
    stats = await scheduler.run();
  } finally {
    progress?.stop();
    clearTimeout(killTimer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    input?.destroy();
    await Promise.all([closeStream(joblog), results === io.stdout ? undefined : closeStream(results as WriteStream | undefined)]);
  }

  const summary = metrics.close(stats.endMs - stats.startMs, stats.peakRunning);
  const report = buildReport(commandLine(s.command), 'real', reportConfig(s), summary);
  if (s.reportFile !== undefined) await writeFile(s.reportFile, formatJson(report));
  const brokenPipe = router?.broken === true;
  if (!s.quiet && !single && !brokenPipe) io.stderr.write(formatSummary(report, paint));
  if (interrupted && !stats.exhausted && s.perLine && !s.quiet) {
    io.stderr.write(`throttle: interrupted after reading ${linesRead} input lines; ${summary.jobs.interrupted} jobs did not finish${s.joblog === undefined ? '' : ` (run again with --resume to do the rest)`}\n`);
  }
  return exitStatus(s, report, { interrupted, halted, brokenPipe, single });
}

function isDone(entry: JoblogEntry | undefined, resume: RunSettings['resume']): boolean {
  if (entry === undefined) return false;
  return resume === 'all' || (entry.exitval === 0 && entry.signal === 0);
}

function readJoblog(file: string): Map<number, JoblogEntry> {
  if (!existsSync(file)) return new Map();
  try {
    return parseJoblog(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--joblog ${file}: ${(err as Error).message}`);
  }
}

function openJoblog(file: string, append: boolean): WriteStream {
  const fresh = !append || !existsSync(file) || statSync(file).size === 0;
  const stream = createWriteStream(file, { flags: append ? 'a' : 'w' });
  if (fresh) stream.write(JOBLOG_HEADER);
  return stream;
}

function openInput(file: string | undefined, io: Io): Readable {
  if (file === undefined || file === '-') return io.stdin;
  try {
    if (!statSync(file).isFile()) throw new UsageError(`--input ${file}: not a file`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--input ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return createReadStream(file);
}

/** payloadFor builds the argv of one job; `line` replaces the placeholder (never split, never re-parsed). */
function payloadFor(s: RunSettings, line: string | undefined): CommandPayload {
  const fill = (arg: string, value: string): string => arg.split(s.placeholder).join(value);
  if (s.shell) {
    const script = s.command.join(' ');
    return { file: 'sh', args: ['-c', line === undefined ? script : fill(script, shellQuotePosix(line))] };
  }
  const argv = line === undefined ? s.command : s.command.map((a) => fill(a, line));
  return { file: argv[0]!, args: argv.slice(1) };
}

async function* lineJobs(input: Readable, s: RunSettings, skip: ((seq: number) => boolean) | undefined, counted: (n: number) => void): AsyncGenerator<Job<CommandPayload>> {
  let seq = 0;
  for await (const line of readLines(input)) {
    counted(seq + 1);
    if (skip === undefined || !skip(seq)) yield { seq, key: line, payload: payloadFor(s, line) };
    seq++;
  }
}

function joblogRow(r: Result, job: Job<CommandPayload>, receivedBytes: number): Parameters<typeof formatJoblogRow>[0] {
  const startedMs = r.startedMs ?? r.endedMs;
  return {
    seq: r.seq,
    startEpochMs: performance.timeOrigin + startedMs,
    runtimeMs: r.endedMs - startedMs,
    receivedBytes,
    exitval: typeof r.code === 'number' ? r.code : -1,
    signal: r.signal === undefined ? 0 : (signalNumber(r.signal) ?? 0),
    command: commandLine([job.payload.file, ...job.payload.args]),
  };
}

function signalNumber(name: string): number | undefined {
  return (constants.signals as Record<string, number | undefined>)[name];
}

/** relativeResult gives a Result's times in ms since the run began (for --output streams). */
function relativeResult(r: Result, startMs: number): Result {
  const rel = (t: number | undefined): number | undefined => (t === undefined ? undefined : Math.round((t - startMs) * 1000) / 1000);
  return { ...r, arrivalMs: rel(r.arrivalMs)!, grantedMs: rel(r.grantedMs), startedMs: rel(r.startedMs), endedMs: rel(r.endedMs)! };
}

function haltWatcher(h: HaltPolicy, trigger: (when: 'soon' | 'now') => void): (r: Result) => void {
  let done = 0;
  let hits = 0;
  let fired = false;
  return (r) => {
    if (fired || r.status === 'interrupted') return;
    done++;
    const failed = r.status === 'failed' || r.status === 'rejected';
    if (h.on === 'done' || (h.on === 'fail' && failed) || (h.on === 'success' && !failed)) hits++;
    // A share is judged over the jobs done so far, once there are a few of them.
    const reached = h.percent ? done >= 3 && (hits * 100) / done >= h.threshold : hits >= h.threshold;
    if (reached) {
      fired = true;
      trigger(h.when);
    }
  };
}

function reportConfig(s: RunSettings): ReportConfig {
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
  };
}

function exitStatus(s: RunSettings, report: Report, o: { interrupted: boolean; halted: boolean; brokenPipe: boolean; single: boolean }): number {
  if (o.brokenPipe) return EXIT_BROKEN_PIPE;
  if (o.single && report.jobs.total === 1 && report.jobs.interrupted === 0) {
    const code = Object.keys(report.outcomes)[0];
    if (code === '0') return 0;
    if (code === 'timeout') return EXIT_TIMEOUT;
    return code !== undefined && /^\d+$/.test(code) ? Number(code) : ExitCode.someFailed;
  }
  if (o.interrupted) return ExitCode.interrupted;
  if (o.halted || report.jobs.failed > 0 || report.jobs.rejected > 0) return ExitCode.someFailed;
  return ExitCode.ok;
}

function closeStream(stream: WriteStream | undefined): Promise<void> | undefined {
  if (stream === undefined) return undefined;
  return new Promise((resolve) => stream.end(resolve));
}
