import { writeFile } from 'node:fs/promises';
import { RetryPolicy } from '../../core/retry.js';
import { type CoalesceEvent, type CoalesceOutcome, type CoalescedRun, Coalescer } from '../../engine/coalesce.js';
import { ExitCode } from '../../errors.js';
import { type CommandPayload, CommandExecutor } from '../../executors/command.js';
import { CoalesceMetrics } from '../../measure/coalesce.js';
import { type CoalesceConfig, buildCoalesceReport, formatCoalesceJson, formatCoalesceSummary } from '../../report/coalesce.js';
import { commandLine } from '../../report/quote.js';
import { formatMs } from '../../report/text.js';
import { readLines } from '../../sources/lines.js';
import { loadPaint } from '../../ui/terminal.js';
import type { CoalesceSettings } from '../coalesce-settings.js';
import { EXIT_BROKEN_PIPE } from '../input.js';
import { watchInterrupts } from '../interrupts.js';
import { OutputRouter } from '../output.js';
import { type Io, processIo } from '../session.js';

/**
 * coalesceCommand is `throttle coalesce`: every stdin line is a trigger, and the command runs on them at a
 * bounded frequency (a {@link Coalescer}). Returns the exit status: 0 when the last run succeeded or none
 * was needed, 1 when it failed (after its retries), 130 when interrupted, 141 when stdout closed (--tag).
 */
export async function coalesceCommand(s: CoalesceSettings, io: Io = processIo): Promise<number> {
  const router = s.tag ? new OutputRouter({ stdout: io.stdout, stderr: io.stderr, keepOrder: false, tag: true }) : undefined;
  const executor = new CommandExecutor({
    // The command must not read stdin: those are the triggers. Without --tag its output goes straight to
    // throttle's stdout and stderr (a terminal stays a terminal, so colours and progress survive).
    stdio: router === undefined ? 'output' : 'pipe',
    ...(router === undefined ? {} : { output: router }),
    timeoutMs: s.timeoutMs,
    killAfterMs: s.killAfterMs,
    retryOn: undefined,
    // A group of its own, so that --timeout and Ctrl-C reach everything the command started.
    detached: true,
  });
  const coalescer = new Coalescer<CommandPayload>(executor, payloadOf(s), {
    minIntervalMs: s.minIntervalMs,
    maxIntervalMs: s.maxIntervalMs,
    burstRuns: s.burst,
    retry: retryPolicyOf(s),
    runOnStart: s.runOnStart,
    drain: s.drain,
  });
  const metrics = new CoalesceMetrics();
  coalescer.on((e) => {
    metrics.add(e);
    if (e.type === 'started') {
      router?.expect(e.run.seq - 1, tagOf(e.run));
      return;
    }
    router?.finish(e.run.seq - 1);
    if (!e.outcome.ok && !s.quiet) io.stderr.write(`throttle: ${failureLine(e)}\n`);
  });
  const signals = watchInterrupts(coalescer, { terminate: (signal) => executor.signalAll(signal), kill: () => executor.signalAll('SIGKILL') }, s.killAfterMs);
  if (router !== undefined) router.onBrokenPipe = () => signals.stopGracefully('SIGTERM');

  const startMs = performance.now();
  void feedTriggers(io, coalescer);
  let outcome: CoalesceOutcome;
  try {
    outcome = await coalescer.run();
  } finally {
    signals.dispose();
    // Stop reading: triggers still coming (the writer lives on after a Ctrl-C or SIGTERM to throttle alone)
    // would keep the process alive.
    io.stdin.destroy();
  }

  const summary = metrics.close({ elapsedMs: performance.now() - startMs, received: outcome.received, unserved: outcome.unserved });
  const report = buildCoalesceReport(commandLine(s.command), configOf(s), summary, signals.interrupted);
  if (s.reportFile !== undefined) await writeFile(s.reportFile, formatCoalesceJson(report));
  const brokenPipe = router?.broken === true;
  if (!s.quiet && !brokenPipe) io.stderr.write(formatCoalesceSummary(report, await loadPaint(io.stderr, io.env)));
  if (brokenPipe) return EXIT_BROKEN_PIPE;
  if (signals.interrupted) return ExitCode.interrupted;
  return outcome.lastOk === false ? ExitCode.someFailed : ExitCode.ok;
}

/** feedTriggers makes every stdin line a trigger; the end of stdin (or a read error) ends the input. */
async function feedTriggers(io: Io, coalescer: Coalescer<CommandPayload>): Promise<void> {
  try {
    for await (const _line of readLines(io.stdin)) {
      if (!coalescer.trigger()) break;
    }
  } catch {
    // stdin destroyed once the loop is over, or unreadable: either way no trigger comes any more.
  }
  coalescer.end();
}

function payloadOf(s: CoalesceSettings): CommandPayload {
  if (s.shell) return { file: 'sh', args: ['-c', s.command.join(' ')] };
  return { file: s.command[0]!, args: s.command.slice(1) };
}

/**
 * retryPolicyOf turns the retry flags into the Coalescer's policy: a fixed --retry-after delay (as many
 * times as --retries allows, unlimited by default), or --retries with exponential backoff; none without.
 */
export function retryPolicyOf(s: CoalesceSettings): RetryPolicy<number> | undefined {
  if (s.retries === 0) return undefined;
  if (s.retryAfterMs !== undefined) {
    return new RetryPolicy<number>({ retries: s.retries, baseDelayMs: s.retryAfterMs, maxDelayMs: s.retryAfterMs, jitter: 'none' });
  }
  return new RetryPolicy<number>({ retries: s.retries, baseDelayMs: s.backoffBaseMs, maxDelayMs: s.backoffMaxMs, jitter: s.jitter });
}

function plural(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? '' : 's'}`;
}

/** tagOf is the --tag prefix of a run's output lines (the router adds a tab). */
function tagOf(run: CoalescedRun): string {
  return `run ${run.seq} (${plural(run.triggersMs.length, 'trigger')})`;
}

function failureLine(e: Extract<CoalesceEvent, { type: 'finished' }>): string {
  const { run, outcome } = e;
  const why = outcome.error ?? `exit status ${outcome.code}`;
  let next = '';
  if (e.retryInMs !== undefined) next = `; retry due in ${formatMs(e.retryInMs)}`;
  else if (run.attempt > 1) next = `; gave up after ${plural(run.attempt, 'attempt')}`;
  return `run ${run.seq} failed: ${why}${next}`;
}

function configOf(s: CoalesceSettings): CoalesceConfig {
  return {
    minIntervalMs: s.minIntervalMs,
    maxIntervalMs: s.maxIntervalMs === Infinity ? null : s.maxIntervalMs,
    burst: s.burst,
    retryAfterMs: s.retryAfterMs ?? null,
    retries: s.retries === Infinity ? null : s.retries,
    backoffBaseMs: s.backoffBaseMs,
    backoffMaxMs: s.backoffMaxMs,
    jitter: s.jitter,
    timeoutMs: s.timeoutMs === Infinity ? null : s.timeoutMs,
    runOnStart: s.runOnStart,
    drain: s.drain,
  };
}
