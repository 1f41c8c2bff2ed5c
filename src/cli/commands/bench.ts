import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { ManualClock } from '../../core/clock.js';
import { type RunStats, Scheduler } from '../../engine/scheduler.js';
import { runSimulated } from '../../engine/simulate.js';
import type { Executor, Job } from '../../engine/types.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { CommandPayload } from '../../executors/command.js';
import type { HttpPayload } from '../../executors/http.js';
import { SimulatedExecutor, type SimulatedWork } from '../../executors/simulated.js';
import { Metrics, type RunData } from '../../measure/metrics.js';
import { type Assertion, evaluate, formatAssertions, parseAssertion } from '../../report/assert.js';
import { buildReport, formatJson, type Report, type ReportConfig } from '../../report/json.js';
import { commandLine } from '../../report/quote.js';
import { formatMs, formatRate } from '../../report/text.js';
import { deriveSeed, mulberry32 } from '../../sources/trace/prng.js';
// The trace layer's parts one by one: its index would load every format's reader, which a trace read on
// its own thread does not need here.
import { type BatchedIterator, mapBatches } from '../../sources/trace/batched.js';
import type { TraceEvent, TraceFormat } from '../../sources/trace/event.js';
import type { TraceSource } from '../../sources/trace/read.js';
import { type ServiceDist, parseServiceDist, sampleService } from '../../sources/trace/service.js';
import { loadPaint } from '../../ui/terminal.js';
import { exitOnBrokenPipe } from '../input.js';
import { type Stoppable, watchInterrupts } from '../interrupts.js';
import { openTrace } from '../trace-input.js';
import { configOf, gatesOf, type Io, processIo, runSession } from '../session.js';
import { limitOptionsOf, simulatedLimits } from '../limits.js';
import { openSharedLimits } from '../shared.js';
import { type BenchSettings, HTTP_RETRY_DEFAULT } from '../settings.js';

const HTTP_RETRY = new Set(HTTP_RETRY_DEFAULT.split(',').map(Number));

/** retryableStatus classifies a recorded status the way the real executors would: HTTP or exit status. */
function retryableStatus(status: number): boolean {
  if (status >= 100) return HTTP_RETRY.has(status);
  return status > 0;
}

/** Limits are the three settings a sweep varies. */
interface Limits {
  readonly ratePerSec: number;
  readonly burst: number;
  readonly concurrency: number;
}

/**
 * benchCommand is `throttle bench`: a trace replayed through the scheduler, in virtual time (the default)
 * or for real against a URL or a command; a text report (or JSON with --json), optional files, and
 * --assert checks. With --sweep, the simulation runs over a grid and prints a table. Exit status: 0, 1
 * when some job failed in a real replay, 3 when an assertion failed, 130 when the replay (simulated or
 * real) was interrupted (its report, of the events it took, is printed all the same).
 */
export async function benchCommand(s: BenchSettings, io: Io = processIo, prefetched?: Promise<TraceSource>): Promise<number> {
  exitOnBrokenPipe(io.stdout);
  // Everything the user typed is checked before the trace is read.
  const asserts = s.asserts.map(checkedAssertion);
  const service = s.service === undefined ? undefined : checked('--service', () => parseServiceDist(s.service!));
  // The reporters a run may not need are loaded when it does (start-up counts on short traces).
  const compare = s.compare === undefined ? undefined : await import('../../report/compare.js');
  const previous = compare === undefined ? undefined : checked(`--compare ${s.compare}`, () => compare.parseReport(readFileSync(s.compare!, 'utf8'), s.compare!));
  const open = (): Promise<TraceSource> => {
    const early = prefetched;
    prefetched = undefined;
    return early ?? openTrace(s, io.stdin);
  };

  if (s.sweep.length > 0) {
    if (asserts.length > 0) throw new UsageError('--assert checks one run: leave it out with --sweep');
    const { value: table, interrupted } = await interruptibly((running, interrupted) => sweep(s, open, service, running, interrupted));
    io.stdout.write(table.text);
    if (!interrupted) return ExitCode.ok;
    // The point cut short is left out: its row would judge a part as the whole.
    io.stderr.write(`throttle: interrupted after ${table.done} of ${table.points} grid points\n`);
    return ExitCode.interrupted;
  }

  let report: Report;
  let data: RunData;
  let failed = false;
  let interrupted = false;
  if (s.mode === 'simulate') {
    const results = s.outputFile === undefined ? undefined : s.outputFile === '-' ? io.stdout : createWriteStream(s.outputFile);
    const source = await open();
    const simulated = await interruptibly((running) => simulate(s, s, source, service, results, running));
    ({ report, data } = simulated.value);
    interrupted = simulated.interrupted;
    if (results !== undefined && results !== io.stdout) await new Promise((resolve) => (results as WriteStream).end(resolve));
    if (s.reportFile !== undefined) await writeFile(s.reportFile, formatJson(report));
  } else {
    ({ report, data, interrupted } = await replay(s, await open(), io));
    failed = report.jobs.failed > 0 || report.jobs.rejected > 0;
  }

  const paint = await loadPaint(io.stdout, io.env);
  if (!s.quiet) io.stdout.write(s.json ? formatJson(report) : (await import('../../report/histogram.js')).formatDetailedSummary(report, data, paint));
  if (s.hgrm !== undefined) await writeFile(s.hgrm, (await import('../../report/hgrm.js')).formatHgrm(data.histograms.latency));
  if (s.html !== undefined) await writeFile(s.html, (await import('../../report/html.js')).formatHtml(report, data));
  if (previous !== undefined && !s.quiet) (s.json ? io.stderr : io.stdout).write(compare!.formatCompare(previous, report, paint));
  if (interrupted) {
    // A replay cut short reports what it ran; its checks would judge a part as the whole.
    const unfinished = report.jobs.interrupted === 0 ? '' : ` (${report.jobs.interrupted} of them did not finish)`;
    io.stderr.write(`throttle: interrupted after ${report.jobs.total} events of the trace${unfinished}${asserts.length > 0 ? '; --assert not checked' : ''}\n`);
    return ExitCode.interrupted;
  }
  if (asserts.length > 0) {
    const results = asserts.map((a) => evaluate(a, report));
    (s.json ? io.stderr : io.stdout).write(formatAssertions(results, s.json ? await loadPaint(io.stderr, io.env) : paint));
    if (results.some((r) => !r.ok)) return ExitCode.assertion;
  }
  return failed ? ExitCode.someFailed : ExitCode.ok;
}

function checked<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

function checkedAssertion(text: string): Assertion {
  return checked('--assert', () => parseAssertion(text));
}

/** benchConfig is the report's config: the limits, and how the trace was replayed. */
function benchConfig(s: BenchSettings, limits: Limits, format: TraceFormat): ReportConfig {
  return {
    ...configOf({ ...s, ...limits }),
    trace: s.trace,
    format,
    ...(s.mode === 'simulate' ? { seed: s.seed } : { speed: s.speed }),
    ...(s.service === undefined ? {} : { service: s.service }),
  };
}

/**
 * Running is what Ctrl-C stops in a simulation, or a sweep of them: the scheduler running now. It stops
 * taking events: those waiting end as interrupted, those in service finish (in virtual time, at once); a
 * second Ctrl-C ends them too. Nothing runs for real, so there is nothing to signal.
 */
class Running implements Stoppable {
  scheduler: Stoppable | undefined;

  stop(): void {
    this.scheduler?.stop();
  }

  kill(): void {
    this.scheduler?.kill();
  }
}

/** NOTHING_TO_SIGNAL: a simulation runs nothing a signal could reach. */
const NOTHING_TO_SIGNAL = { terminate: (): void => undefined, kill: (): void => undefined };

/** interruptibly runs simulations with Ctrl-C (and SIGTERM) stopping the one running (see Running). */
async function interruptibly<T>(run: (running: Running, interrupted: () => boolean) => Promise<T>): Promise<{ value: T; interrupted: boolean }> {
  const running = new Running();
  const signals = watchInterrupts(running, NOTHING_TO_SIGNAL, 0);
  try {
    const value = await run(running, () => signals.interrupted);
    return { value, interrupted: signals.interrupted };
  } finally {
    signals.dispose();
  }
}

/**
 * simulate replays a trace in virtual time: the same scheduler as a real run, on a ManualClock, with the
 * simulated executor taking each event's service time (or one drawn from --service) and reporting its
 * recorded status. Randomness (service draws, jitter) is seeded: the same inputs give the same report.
 */
async function simulate(
  s: BenchSettings,
  limits: Limits,
  source: TraceSource,
  service: ServiceDist | undefined,
  results: NodeJS.WritableStream | undefined,
  running: Running,
): Promise<{ report: Report; data: RunData }> {
  const clock = new ManualClock(0);
  const serviceRandom = mulberry32(deriveSeed(s.seed, 1));
  const scheduler = new Scheduler<SimulatedWork>(
    simulatedJobs(source, s.trace, limits.burst, perKeyBurstOf(s), (serviceMs) => serviceMs ?? (service === undefined ? 0 : sampleService(service, serviceRandom))),
    new SimulatedExecutor({ clock, ...(s.timeoutMs === Infinity ? {} : { timeoutMs: s.timeoutMs }), retryOn: retryableStatus }),
    {
      clock,
      ...gatesOf({ ...s, ...limits }, { clock, random: mulberry32(deriveSeed(s.seed, 2)) }),
      onFull: s.onFull,
      arrivals: source.timed ? 'trace' : 'schedule',
      lookahead: 65_536,
      maxPauseMs: s.backoffMaxMs,
      ...limitOptionsOf({ ...s, ...limits }),
      // The one listener of results folds each (and writes it out) at once.
      reuseResults: true,
    },
  );
  const moving = simulatedLimits(scheduler as Scheduler<unknown>, s, 0);
  const metrics = new Metrics();
  scheduler.events.on((e) => {
    if (e.type !== 'done') return;
    metrics.add(e.result);
    results?.write(`${JSON.stringify(e.result)}\n`);
  }, ['done']);
  let stats: RunStats;
  running.scheduler = scheduler;
  try {
    stats = await runSimulated(scheduler, clock);
  } finally {
    running.scheduler = undefined;
    moving.dispose();
  }
  const data = metrics.data(stats.endMs - stats.startMs, stats.peakRunning);
  const moved = moving.summary(stats.endMs);
  const report = { ...buildReport(s.trace, 'simulated', benchConfig(s, limits, source.format), data.summary), ...(moved === undefined ? {} : { limits: moved }) };
  return { report, data };
}

/**
 * SimJob is a simulated job that is its own payload: one object per event where a Job and its SimulatedWork
 * would be two (a million events, a million objects fewer).
 */
class SimJob implements Job<SimulatedWork>, SimulatedWork {
  readonly payload: SimulatedWork = this;

  constructor(
    readonly seq: number,
    readonly key: string,
    readonly arrivalMs: number | undefined,
    readonly tokens: number | undefined,
    readonly serviceMs: number,
    readonly status: number,
  ) {}
}

/**
 * simulatedJobs makes a Job of each event, a batch at a time and straight from the event's numbers
 * (mapEvents): a trace of millions of events would otherwise pay for an async generator's round trip per
 * event, twice, and for an object per event made only to be mapped.
 */
function simulatedJobs(source: TraceSource, file: string, burst: number, perKeyBurst: number | undefined, serviceOf: (serviceMs: number | undefined) => number): BatchedIterator<Job<SimulatedWork>> {
  let seq = 0;
  // The event's numbers, NaN when not given (as mapEvents hands them over).
  const make = (key: string, tMs: number, tokens: number, serviceMs: number, status: number): Job<SimulatedWork> => {
    checkTokens(tokens, seq, file, burst, perKeyBurst);
    return new SimJob(seq++, key, tMs === tMs ? tMs : undefined, tokens === tokens ? tokens : undefined, serviceOf(serviceMs === serviceMs ? serviceMs : undefined), status === status ? status : 0);
  };
  return source.mapEvents(make);
}

/**
 * checkTokens refuses an event that takes more tokens than a bucket it passes can ever hold: the shared one
 * (`burst`) or its key's (`perKeyBurst`, with --per-key-rate). NaN or undefined tokens: one.
 */
function checkTokens(tokens: number | undefined, seq: number, file: string, burst: number, perKeyBurst: number | undefined): void {
  if (tokens === undefined || !(tokens > 1)) return;
  if (tokens > burst) throw new UsageError(`${file}: event ${seq + 1} takes ${tokens} tokens, more than --burst ${burst} allows: raise --burst`);
  if (perKeyBurst !== undefined && tokens > perKeyBurst) {
    throw new UsageError(`${file}: event ${seq + 1} takes ${tokens} tokens, more than --per-key-burst ${perKeyBurst} allows: raise --per-key-burst`);
  }
}

/** perKeyBurstOf is the size of every key's own bucket, when there is one (--per-key-rate). */
function perKeyBurstOf(s: BenchSettings): number | undefined {
  return s.perKey === undefined || s.perKey.ratePerSec === Infinity ? undefined : s.perKey.burst;
}

/** sweep runs the simulation once per point of the grid and returns the table. */
async function sweep(
  s: BenchSettings,
  open: () => Promise<TraceSource>,
  service: ServiceDist | undefined,
  running: Running,
  interrupted: () => boolean,
): Promise<{ text: string; done: number; points: number }> {
  const points: Array<{ limits: Limits; labels: Record<string, string> }> = [{ limits: { ratePerSec: s.ratePerSec, burst: s.burst, concurrency: s.concurrency }, labels: {} }];
  for (const axis of s.sweep) {
    const next: typeof points = [];
    for (const p of points) {
      axis.values.forEach((v, i) => {
        const key = axis.name === 'rate' ? 'ratePerSec' : axis.name;
        next.push({ limits: { ...p.limits, [key]: v }, labels: { ...p.labels, [axis.name]: axis.labels[i]! } });
      });
    }
    points.splice(0, points.length, ...next);
  }
  const header = ['rate', 'burst', 'concurrency', 'p50 latency', 'p99 latency', 'p99 throttle', 'rejected', 'achieved'];
  const rows: string[][] = [];
  for (const p of points) {
    if (interrupted()) break;
    const { report } = await simulate(s, p.limits, await open(), service, undefined, running);
    if (interrupted()) break;
    const rejectedPct = report.jobs.total === 0 ? 0 : (100 * report.jobs.rejected) / report.jobs.total;
    rows.push([
      p.labels.rate ?? formatRate(p.limits.ratePerSec),
      p.labels.burst ?? String(p.limits.burst),
      p.labels.concurrency ?? (p.limits.concurrency === Infinity ? 'inf' : String(p.limits.concurrency)),
      formatMs(report.latencyMs.p50),
      formatMs(report.latencyMs.p99),
      formatMs(report.throttleMs.p99),
      `${rejectedPct.toFixed(1)}%`,
      formatRate(report.throughput.achieved),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return { text: `${[line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')}\n`, done: rows.length, points: points.length };
}

/**
 * replay runs the trace for real: each event a request to --target or a command (`{}` = the key), due at
 * its time in the trace divided by --speed. Latency counts from that due time.
 */
async function replay(
  s: BenchSettings,
  source: TraceSource,
  io: Io,
): Promise<{ report: Report; data: RunData; interrupted: boolean }> {
  const shared = await openSharedLimits(s, io);
  const { limiter, inflight, retry } = gatesOf(shared?.local ?? s);
  // The trace's clock starts when the scheduler takes the first event, not before the executor is loaded and
  // the session set up: that start-up is not the limiter's doing and must not show as every job's throttle.
  let startMs: number | undefined;
  const due = (e: TraceEvent): number | undefined => (e.tMs === undefined ? undefined : (startMs ??= performance.now()) + e.tMs / s.speed);
  let executor: Executor<HttpPayload> | Executor<CommandPayload>;
  let jobs: AsyncGenerator<Job<HttpPayload>> | AsyncGenerator<Job<CommandPayload>>;
  let stopper = { terminate: (_signal: NodeJS.Signals): void => undefined, kill: (): void => undefined };
  let close = async (): Promise<void> => undefined;
  // The real executors are loaded only for a real replay: undici alone doubles a simulation's start-up.
  if (s.mode === 'target') {
    const { HttpExecutor } = await import('../../executors/http.js');
    const http = new HttpExecutor({
      connections: s.concurrency === Infinity ? 64 : s.concurrency,
      timeoutMs: s.timeoutMs,
      ok: (status) => status >= 200 && status < 400,
      retryOn: HTTP_RETRY,
      pause: true,
      print: 'none',
    });
    executor = http;
    stopper = { terminate: () => undefined, kill: () => http.destroy() };
    close = () => http.close();
    jobs = requestJobs(source, s, due);
  } else {
    const { CommandExecutor } = await import('../../executors/command.js');
    const command = new CommandExecutor({ stdio: 'ignore', timeoutMs: s.timeoutMs, killAfterMs: 5000, retryOn: undefined, detached: true });
    executor = command;
    stopper = { terminate: (signal) => command.signalAll(signal), kill: () => command.signalAll('SIGKILL') };
    jobs = commandJobs(source, s, due);
  }
  const scheduler = new Scheduler(jobs as AsyncGenerator<Job<unknown>>, executor as Executor<unknown>, {
    limiter,
    inflight,
    onFull: s.onFull,
    retry,
    arrivals: source.timed ? 'trace' : 'schedule',
    lookahead: 65_536,
    maxPauseMs: s.backoffMaxMs,
    ...limitOptionsOf(s),
    ...(shared === undefined ? {} : { shared: shared.limits }),
  });
  try {
    const outcome = await runSession({
      io,
      settings: { ...s, quiet: true },
      scheduler,
      stopper,
      killAfterMs: 5000,
      router: undefined,
      commandText: s.mode === 'target' ? `${s.trace} -> ${s.target!.href}` : `${s.trace} -> ${commandLine(s.command)}`,
      config: benchConfig(s, s, source.format),
      progress: true,
      summary: false,
    });
    return { report: outcome.report, data: outcome.data, interrupted: outcome.interrupted };
  } finally {
    await close();
    await shared?.close();
  }
}

/** BODY_FILES: body files BodyFiles keeps read, at most (the ones used last). */
const BODY_FILES = 64;

/**
 * BodyFiles reads the body files events name (vegeta's `@file`; relative to the current folder), each once
 * while it is among the last BODY_FILES used: targets mostly share a few.
 */
class BodyFiles {
  readonly #trace: string;
  readonly #read = new Map<string, Buffer>();

  constructor(trace: string) {
    this.#trace = trace;
  }

  /** read returns the body in `file`, for event `seq`; a file it cannot read is a usage error naming both. */
  read(file: string, seq: number): Buffer {
    let body = this.#read.get(file);
    if (body !== undefined) {
      // The last used at the end: the first one is the one to forget.
      this.#read.delete(file);
    } else {
      try {
        body = readFileSync(file);
      } catch (err) {
        throw new UsageError(`${this.#trace}: event ${seq + 1}: its body file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
      if (this.#read.size === BODY_FILES) this.#read.delete(this.#read.keys().next().value!);
    }
    this.#read.set(file, body);
    return body;
  }
}

function requestJobs(source: TraceSource, s: BenchSettings, due: (e: TraceEvent) => number | undefined): AsyncGenerator<Job<HttpPayload>> {
  const target = s.target!;
  const perKeyBurst = perKeyBurstOf(s);
  const bodies = new BodyFiles(s.trace);
  let seq = 0;
  return mapBatches(source.events, (e): Job<HttpPayload> => {
    checkTokens(e.tokens, seq, s.trace, s.burst, perKeyBurst);
    let method = e.method ?? 'GET';
    let path = e.url;
    if (path === undefined) {
      const m = /^([A-Z]+) (\S+)$/.exec(e.key);
      if (m !== null) {
        method = m[1]!;
        path = m[2]!;
      }
    }
    // An event's own origin is replaced by the target's: the trace says what, --target says where.
    const where = path === undefined ? target : new URL(/^https?:\/\//.test(path) ? new URL(path).pathname + new URL(path).search : path, target);
    const arrivalMs = due(e);
    const job: Job<HttpPayload> = {
      seq,
      key: e.key,
      ...(arrivalMs === undefined ? {} : { arrivalMs }),
      payload: { url: where, method, headers: e.headers ?? [], body: e.bodyFile === undefined ? undefined : bodies.read(e.bodyFile, seq) },
      kind: method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 'readOnly' : 'mutating',
      group: where.origin,
    };
    seq++;
    return job;
  });
}

function commandJobs(source: TraceSource, s: BenchSettings, due: (e: TraceEvent) => number | undefined): AsyncGenerator<Job<CommandPayload>> {
  const perKeyBurst = perKeyBurstOf(s);
  let seq = 0;
  return mapBatches(source.events, (e): Job<CommandPayload> => {
    checkTokens(e.tokens, seq, s.trace, s.burst, perKeyBurst);
    const argv = s.command.map((a) => a.split('{}').join(e.key));
    const arrivalMs = due(e);
    const job: Job<CommandPayload> = { seq, key: e.key, ...(arrivalMs === undefined ? {} : { arrivalMs }), payload: { file: argv[0]!, args: argv.slice(1) } };
    seq++;
    return job;
  });
}

