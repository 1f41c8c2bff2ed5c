import type { Readable } from 'node:stream';
import { Scheduler } from '../../engine/scheduler.js';
import type { Job } from '../../engine/types.js';
import { ExitCode, UsageError } from '../../errors.js';
import { exitOnBrokenPipe, openInput } from '../input.js';
import { type HttpPayload, HttpExecutor } from '../../executors/http.js';
import { warmUpHttp } from '../../executors/http-warm-up.js';
import { readLines } from '../../sources/lines.js';
import { OutputRouter } from '../output.js';
import { configOf, gatesOf, type Io, processIo, runSession } from '../session.js';
import { limitOptionsOf } from '../limits.js';
import { openSharedLimits } from '../shared.js';
import { type HttpSettings, maskHeader, parseUrl } from '../settings.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** DEFAULT_CONNECTIONS: sockets per origin when -j sets no cap. */
const DEFAULT_CONNECTIONS = 64;

/**
 * httpCommand is `throttle http`: requests under the shared limits, from a load generator (--requests,
 * --duration), from input lines ({} in the URLs) or from whole URLs (--urls). Several URLs take turns.
 * Returns 0 when every request succeeded, 1 when some failed, 130 when interrupted.
 */
export async function httpCommand(s: HttpSettings, io: Io = processIo): Promise<number> {
  const shared = await openSharedLimits(s, io);
  const { limiter, inflight, retry } = gatesOf(shared?.local ?? s, { mutatingLimit: s.mutatingConcurrency });
  if (s.print === 'none') exitOnBrokenPipe(io.stdout);
  const router = s.print === 'none' ? undefined : new OutputRouter({ stdout: io.stdout, stderr: io.stderr, keepOrder: s.keepOrder, tag: false });
  const executor = new HttpExecutor({
    connections: s.concurrency === Infinity ? DEFAULT_CONNECTIONS : s.concurrency,
    timeoutMs: s.timeoutMs,
    ok: s.ok,
    retryOn: s.retryOn,
    pause: s.pause,
    print: s.print,
    ...(router === undefined ? {} : { output: router }),
  });
  const input = s.mode === 'load' ? undefined : openInput(s.mode === 'urls' ? s.urlsFile! : (s.inputFile ?? '-'), s.mode === 'urls' ? '--urls' : '--input', io.stdin);
  const source = input === undefined ? loadJobs(s) : lineJobs(input, s);
  // Load whose rate is found or changed while running (see `arrivals` below) is generated as the run goes:
  // no more requests are made ready than can be in flight, so none waits long for a rate it cannot know.
  const steered = s.mode === 'load' && (s.adaptive || s.controlFile !== undefined);
  // Generated load makes ready only as many requests as may be in flight: each then finds its slot free
  // instead of queueing for one (at tens of thousands of requests a second, the queue is a fifth of the
  // work), and a paced run's first pass over the gates stays short. Nothing is lost to the measurement: a
  // paced request is due at its time in the schedule however late it is made ready, and requests waiting
  // out a backoff leave their room to others. (With --on-full reject the queue is the point: not so there.)
  const generated = s.mode === 'load' && s.onFull === 'wait' && s.concurrency !== Infinity;
  let lookahead: number;
  if (steered) lookahead = s.concurrency === Infinity ? 64 : s.concurrency;
  else if (generated) lookahead = s.concurrency;
  else lookahead = s.concurrency === Infinity ? 4096 : Math.min(Math.max(4 * s.concurrency, 256), 65_536);
  const scheduler = new Scheduler<HttpPayload>(source, executor, {
    limiter,
    inflight,
    onFull: s.onFull,
    retry,
    // Load follows a schedule fixed in advance, unless the rate is to be found (--adaptive) or changed
    // (--control) while running: then requests go out as the bucket allows, and --duration is wall time.
    arrivals: s.mode === 'load' && !steered ? 'schedule' : 'read',
    lookahead,
    ...limitOptionsOf(s),
    maxPauseMs: s.pause ? s.backoffMaxMs : 0,
    ...(s.durationMs === undefined ? {} : { durationMs: s.durationMs }),
    ...(shared === undefined ? {} : { shared: shared.limits }),
  });
  const printable = s.urls.length > 0 ? s.urls.map((u) => u.href).join(' ') : `--urls ${s.urlsFile}`;
  // A paced load test starts warm: see warmUpHttp.
  if (s.mode === 'load' && s.ratePerSec !== Infinity) await warmUpHttp();
  let outcome;
  try {
    outcome = await runSession({
      io,
      settings: s,
      scheduler,
      // Ctrl-C stops new requests and lets those under way finish for up to --kill-after's default; a second
      // Ctrl-C (or the deadline) aborts them.
      stopper: { terminate: () => undefined, kill: () => executor.destroy() },
      killAfterMs: 5000,
      router,
      commandText: `${s.method} ${printable}`,
      config: {
        ...configOf(s),
        method: s.method,
        headers: Object.fromEntries(s.headers.map(([name, value]) => [name, maskHeader(name, value)])),
        mutatingConcurrency: s.mutatingConcurrency === undefined || s.mutatingConcurrency === Infinity ? null : s.mutatingConcurrency,
        pause: s.pause,
      },
      ...(s.mode === 'load' ? { total: s.requests } : {}),
      progress: true,
      summary: true,
      printReportJson: s.json,
      describeFailure: (r) => `request ${r.seq + 1} (${r.key}): ${r.error ?? `status ${r.code}`}`,
      extra: () => ({
        bytes: { received: executor.bytesReceived, sent: executor.bytesSent },
        errors: { ...executor.errors },
        targets: Object.fromEntries(executor.targets),
      }),
    });
  } finally {
    input?.destroy();
    await executor.close();
    await shared?.close();
  }
  const { report, interrupted, brokenPipe } = outcome;
  if (brokenPipe) return 141;
  if (interrupted) return ExitCode.interrupted;
  return report.jobs.failed > 0 || report.jobs.rejected > 0 ? ExitCode.someFailed : ExitCode.ok;
}

function payload(s: HttpSettings, url: URL): HttpPayload {
  return { url, method: s.method, headers: s.headers, body: s.body };
}

function kindOf(method: string): 'readOnly' | 'mutating' {
  return MUTATING.has(method) ? 'mutating' : 'readOnly';
}

/** loadJobs yields the load: request k goes to URL k mod n (round-robin, one after another). */
function* loadJobs(s: HttpSettings): Generator<Job<HttpPayload>> {
  const payloads = s.urls.map((u) => payload(s, u));
  const kind = kindOf(s.method);
  for (let seq = 0; seq < s.requests; seq++) {
    const p = payloads[seq % payloads.length]!;
    yield { seq, key: p.url.href, payload: p, kind, group: p.url.origin };
  }
}

/** lineJobs yields one request per input line: URL-encoded into {} of the next URL in turn, or a whole URL. */
async function* lineJobs(input: Readable, s: HttpSettings): AsyncGenerator<Job<HttpPayload>> {
  const kind = kindOf(s.method);
  let seq = 0;
  for await (const line of readLines(input)) {
    if (s.mode === 'urls' && line.trim() === '') {
      seq++;
      continue;
    }
    const text = s.mode === 'urls' ? line.trim() : s.templates[seq % s.templates.length]!.split('{}').join(encodeURIComponent(line));
    try {
      const url = parseUrl(text, `${s.mode === 'urls' ? '--urls' : 'input'} line ${seq + 1}`);
      yield { seq, key: line, payload: payload(s, url), kind, group: url.origin };
    } catch (err) {
      // Input arrives while requests are under way: a bad line fails its own job and the run goes on.
      if (!(err instanceof UsageError)) throw err;
      yield { seq, key: line, payload: { ...payload(s, INVALID), invalid: err.message }, kind };
    }
    seq++;
  }
}

/** INVALID stands in for the URL of a line that is not one; the executor never sends it. */
const INVALID = new URL('http://invalid.invalid/');
