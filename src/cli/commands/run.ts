import { createWriteStream, existsSync, readFileSync, statSync, type WriteStream } from 'node:fs';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { Scheduler } from '../../engine/scheduler.js';
import type { Job, Result } from '../../engine/types.js';
import { ExitCode, UsageError } from '../../errors.js';
import { type CommandPayload, CommandExecutor } from '../../executors/command.js';
import type { Report } from '../../report/json.js';
import { JOBLOG_HEADER, type JoblogEntry, formatJoblogRow, parseJoblog } from '../../report/joblog.js';
import { commandLine, shellQuotePosix } from '../../report/quote.js';
import { countJobs } from '../../sources/count.js';
import { readLines } from '../../sources/lines.js';
import { EXIT_BROKEN_PIPE, openInput } from '../input.js';
import { OutputRouter } from '../output.js';
import { closeStream, configOf, gatesOf, type Io, processIo, runSession } from '../session.js';
import { limitOptionsOf } from '../limits.js';
import { openSharedLimits } from '../shared.js';
import type { HaltPolicy, RunSettings } from '../settings.js';

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
  const input = s.perLine ? openInput(s.inputFile ?? '-', '--input', io.stdin) : undefined;
  const wrapper = !s.perLine;
  const single = wrapper && s.count === 1;

  const shared = await openSharedLimits(s, io);
  const { limiter, inflight, retry } = gatesOf(shared?.local ?? s);
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
  // Repeated runs whose rate is found or changed while running are made ready only as slots allow.
  const steered = wrapper && (s.adaptive || s.controlFile !== undefined);
  const lookahead = steered ? (s.concurrency === Infinity ? 64 : s.concurrency) : s.concurrency === Infinity ? 1024 : Math.min(Math.max(2 * s.concurrency, 64), 65_536);
  const scheduler = new Scheduler<CommandPayload>(source, executor, {
    limiter,
    inflight,
    onFull: s.onFull,
    retry,
    arrivals: wrapper && !steered ? 'schedule' : 'read',
    lookahead,
    ...limitOptionsOf(s),
    ...(s.durationMs === undefined ? {} : { durationMs: s.durationMs }),
    ...(shared === undefined ? {} : { shared: shared.limits }),
  });

  const joblog = s.joblog === undefined ? undefined : openJoblog(s.joblog, s.resume !== 'none');
  let halted = false;
  const halt = s.halt === undefined ? undefined : haltWatcher(s.halt, (when) => {
    halted = true;
    if (when === 'now') {
      scheduler.stop();
      executor.signalAll('SIGTERM');
      setTimeout(() => executor.signalAll('SIGKILL'), s.killAfterMs).unref();
    } else {
      scheduler.stop();
    }
  });
  // A wrapped command on a terminal shares throttle's process group: it got the terminal's Ctrl-C already.
  const sharesTerminal = wrapper && io.stdin.isTTY === true;
  let outcome;
  try {
    outcome = await runSession({
      io,
      settings: s,
      scheduler,
      stopper: {
        terminate: (signal) => (sharesTerminal && signal === 'SIGINT' ? undefined : executor.signalAll(signal)),
        kill: () => executor.signalAll('SIGKILL'),
      },
      killAfterMs: s.killAfterMs,
      router,
      commandText: commandLine(s.command),
      config: configOf(s),
      ...(wrapper ? { total: s.count } : {}),
      progress: !single,
      summary: !single,
      describeFailure: (r) => (r.error === undefined ? undefined : single ? r.error : `job ${r.seq + 1} (${r.key}): ${r.error}`),
      onResult: (r, job) => {
        if (joblog !== undefined && r.status !== 'interrupted') {
          joblog.write(formatJoblogRow(joblogRow(r, job, router?.job(r.seq).bytes ?? 0)));
        }
        halt?.(r);
      },
    });
  } finally {
    input?.destroy();
    await closeStream(joblog);
    await shared?.close();
  }
  const { stats, report, interrupted, brokenPipe } = outcome;
  if (interrupted && !stats.exhausted && s.perLine && !s.quiet) {
    io.stderr.write(`throttle: interrupted after reading ${linesRead} input lines; ${report.jobs.interrupted} jobs did not finish${s.joblog === undefined ? '' : ' (run again with --resume to do the rest)'}\n`);
  }
  return exitStatus(report, { interrupted, halted, brokenPipe, single });
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

/**
 * payloadFor builds the argv of one job; `line` replaces the placeholder (never split, never re-parsed), or,
 * when the command has none, is its last argument (as xargs and GNU parallel do).
 */
function payloadFor(s: RunSettings, line: string | undefined): CommandPayload {
  const fill = (arg: string, value: string): string => arg.split(s.placeholder).join(value);
  if (s.shell) {
    const script = s.command.join(' ');
    if (line === undefined) return { file: 'sh', args: ['-c', script] };
    const quoted = shellQuotePosix(line);
    return { file: 'sh', args: ['-c', s.appendLine ? `${script} ${quoted}` : fill(script, quoted)] };
  }
  const argv = line === undefined ? s.command : s.appendLine ? [...s.command, line] : s.command.map((a) => fill(a, line));
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
    // As GNU parallel: a job a signal ended has Exitval 0 and the signal's number; one that never produced
    // a status (it could not start) has -1.
    exitval: r.signal !== undefined ? 0 : typeof r.code === 'number' ? r.code : -1,
    signal: r.signal === undefined ? 0 : (signalNumber(r.signal) ?? 0),
    command: commandLine([job.payload.file, ...job.payload.args]),
  };
}

function signalNumber(name: string): number | undefined {
  return (constants.signals as Record<string, number | undefined>)[name];
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

function exitStatus(report: Report, o: { interrupted: boolean; halted: boolean; brokenPipe: boolean; single: boolean }): number {
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
