import { Pool, type Dispatcher } from 'undici';
import type { JobOutput, OutputRouter } from '../cli/output.js';
import { parseRetryAfter } from '../core/parse.js';
import type { AttemptContext, AttemptOutcome, Executor, Job } from '../engine/types.js';

/** HttpPayload is one request: where, how, and what to send. */
export interface HttpPayload {
  readonly url: URL;
  readonly method: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer | undefined;
  /** invalid: the input line gave no usable URL; the attempt fails with this message, nothing is sent. */
  readonly invalid?: string;
}

export interface HttpExecutorOptions {
  /** connections is how many sockets to keep per origin (the in-flight cap, or a sane default). */
  readonly connections: number;
  readonly timeoutMs: number;
  readonly ok: (status: number) => boolean;
  readonly retryOn: ReadonlySet<number>;
  /** pause: a 429 or 503 with Retry-After asks the scheduler to hold the whole origin. */
  readonly pause: boolean;
  readonly print: 'body' | 'status' | 'none';
  readonly output?: OutputRouter;
  /** nowEpochMs reads wall-clock time, for Retry-After dates. */
  readonly nowEpochMs?: () => number;
}

/** ERROR_KINDS maps undici's and the socket layer's error codes to the kinds reported. */
const RETRYABLE_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'timeout',
]);

/** TargetStats counts, per origin, what happened there. */
export interface TargetStats {
  requests: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
}

/**
 * HttpExecutor sends each attempt with undici: one Pool of keep-alive connections per origin. The body is read to its end (and counted) so the connection can be reused; service time runs
 * from the send to the last byte.
 */
/** Route is what a request needs of its URL, worked out once per URL (URL getters cost at 20k requests/s). */
interface Route {
  readonly pool: Pool;
  readonly path: string;
  readonly target: TargetStats;
  /** headers flattened as undici takes them, per payload header list. */
  readonly flatHeaders: WeakMap<ReadonlyArray<readonly [string, string]>, string[]>;
}

export class HttpExecutor implements Executor<HttpPayload> {
  readonly #o: HttpExecutorOptions;
  /** #pools holds one keep-alive pool per origin (what an undici Agent keeps, without its lookup per request). */
  readonly #pools = new Map<string, Pool>();
  readonly #routes = new WeakMap<URL, Route>();
  #closed = false;
  readonly #now: () => number;
  /** bytesReceived and bytesSent total the bodies moved. */
  bytesReceived = 0;
  bytesSent = 0;
  readonly errors: Record<string, number> = {};
  readonly targets = new Map<string, TargetStats>();

  constructor(options: HttpExecutorOptions) {
    this.#o = options;
    this.#now = options.nowEpochMs ?? Date.now;
  }

  /** close ends every pooled connection once its requests are done. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#pools.values()].map((p) => (p.destroyed || p.closed ? undefined : p.close())));
  }

  /** destroy aborts every request under way and closes all connections (the run is being killed). */
  destroy(): void {
    this.#closed = true;
    for (const p of this.#pools.values()) if (!p.destroyed) void p.destroy(new Error('stopped')).catch(() => undefined);
  }

  #route(url: URL, headers: ReadonlyArray<readonly [string, string]>): Route {
    let route = this.#routes.get(url);
    if (route === undefined) {
      const origin = url.origin;
      let pool = this.#pools.get(origin);
      if (pool === undefined) {
        pool = new Pool(origin, { connections: this.#o.connections, pipelining: 1, keepAliveTimeout: 30_000 });
        this.#pools.set(origin, pool);
      }
      route = { pool, path: url.pathname + url.search, target: this.#target(origin), flatHeaders: new WeakMap() };
      this.#routes.set(url, route);
    }
    if (headers.length > 0 && !route.flatHeaders.has(headers)) route.flatHeaders.set(headers, headers.flat());
    return route;
  }

  async execute(job: Job<HttpPayload>, ctx: AttemptContext): Promise<AttemptOutcome> {
    const o = this.#o;
    const { url, method, headers, body, invalid } = job.payload;
    if (invalid !== undefined) return { ok: false, code: 'invalid-url', retryable: false, error: invalid };
    if (ctx.kill.aborted || this.#closed) return { ok: false, code: 'aborted', retryable: false, error: 'stopped before it was sent' };
    const route = this.#route(url, headers);
    const target = route.target;
    target.requests++;
    const out = o.print === 'none' ? undefined : o.output?.job(job.seq);
    const exchange = new Exchange(o.print === 'body' ? out : undefined);
    // A timer only when there is a timeout (killing the run destroys the pools instead: destroy()).
    const timer = o.timeoutMs === Infinity ? undefined : setTimeout(() => exchange.abort(new TimedOut()), o.timeoutMs);
    try {
      route.pool.dispatch(
        { path: route.path, method: method as Dispatcher.HttpMethod, headers: headers.length === 0 ? undefined : route.flatHeaders.get(headers), body: body ?? null },
        exchange,
      );
      await exchange.done;
      if (body !== undefined) this.bytesSent += body.length;
      const status = exchange.status;
      this.bytesReceived += exchange.received;
      if (o.print === 'status') out?.write('stdout', Buffer.from(`${status} ${method} ${url.href}\n`));
      target.statuses[status] = (target.statuses[status] ?? 0) + 1;
      if (o.ok(status)) return succeeded(status);
      const header = exchange.retryAfter;
      const retryAfterMs = header === undefined ? undefined : parseRetryAfter(header, this.#now());
      const outcome: { ok: false; code: number; retryable: boolean; pushback: boolean; retryAfterMs?: number; pauseMs?: number } = {
        ok: false,
        code: status,
        retryable: o.retryOn.has(status),
        // The target asking for less: adaptive limits back off on it.
        pushback: status === 429 || status === 503 || retryAfterMs !== undefined,
      };
      if (retryAfterMs !== undefined) {
        outcome.retryAfterMs = retryAfterMs;
        if (o.pause && (status === 429 || status === 503)) outcome.pauseMs = retryAfterMs;
      }
      return outcome;
    } catch (err) {
      const timedOut = err instanceof TimedOut;
      const kind = timedOut ? 'timeout' : ctx.kill.aborted ? 'aborted' : errorKind(err);
      this.errors[kind] = (this.errors[kind] ?? 0) + 1;
      target.errors[kind] = (target.errors[kind] ?? 0) + 1;
      const message = timedOut ? `timed out after ${o.timeoutMs} ms` : `${kind}: ${(err as Error).message}`;
      return { ok: false, code: kind, retryable: RETRYABLE_ERRORS.has(kind), pushback: kind === 'ECONNREFUSED', error: `${method} ${url.origin}${url.pathname}: ${message}` };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (out !== undefined) out.closeAttempt();
    }
  }

  #target(origin: string): TargetStats {
    let t = this.targets.get(origin);
    if (t === undefined) {
      t = { requests: 0, statuses: {}, errors: {} };
      this.targets.set(origin, t);
    }
    return t;
  }
}

/** TimedOut is the reason an exchange is aborted with when --timeout runs out. */
class TimedOut extends Error {}

/**
 * Exchange is one request's undici handler: it keeps the status, the Retry-After and the size of the answer,
 * hands the body on when it is to be printed, and settles `done` when the answer ends or fails. It is the
 * dispatch API undici's own request() is built on, without the stream and the second promise request()
 * makes for each answer.
 */
class Exchange implements Dispatcher.DispatchHandler {
  status = 0;
  retryAfter: string | undefined;
  received = 0;
  readonly done: Promise<void>;
  readonly #out: JobOutput | undefined;
  #controller: Dispatcher.DispatchController | undefined;
  #aborted: Error | undefined;
  #settle!: (err?: Error) => void;

  constructor(out: JobOutput | undefined) {
    this.#out = out;
    this.done = new Promise<void>((resolve, reject) => {
      this.#settle = (err) => (err === undefined ? resolve() : reject(err));
    });
  }

  /**
   * abort ends the exchange with `err` now. A request still queued in its pool (every connection busy)
   * is failed at once, and aborted as soon as undici starts it.
   */
  abort(err: Error): void {
    this.#aborted = err;
    if (this.#controller !== undefined) this.#controller.abort(err);
    else this.#settle(err);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#aborted !== undefined) controller.abort(this.#aborted);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // 1xx answers (103 Early Hints) come before the answer.
    if (statusCode < 200) return;
    this.status = statusCode;
    const retryAfter = headers['retry-after'];
    this.retryAfter = typeof retryAfter === 'string' ? retryAfter : undefined;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.received += chunk.length;
    this.#out?.write('stdout', chunk);
  }

  onResponseEnd(): void {
    this.#settle();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.#settle(err);
  }
}

/** SUCCEEDED holds one outcome per success status: outcomes are read-only, and a load test makes millions. */
const SUCCEEDED = new Map<number, AttemptOutcome>();

function succeeded(status: number): AttemptOutcome {
  let outcome = SUCCEEDED.get(status);
  if (outcome === undefined) {
    outcome = { ok: true, code: status, retryable: false };
    SUCCEEDED.set(status, outcome);
  }
  return outcome;
}

/** errorKind names a request failure by its code (ECONNREFUSED, UND_ERR_SOCKET, ...), looking into causes. */
function errorKind(err: unknown): string {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return (err as Error)?.name ?? 'error';
}
