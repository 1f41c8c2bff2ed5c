import type { AddressInfo } from 'node:net';
import type { Clock } from '../core/clock.js';
import type { Status } from '../engine/types.js';
import { type Admission, type RateLimitFields, type Rejected, retryAfterSeconds } from './admission.js';
import type { RoundRobin } from './balancer.js';
import { READ_ONLY_METHODS, type ScanOptions, type Scanned, pushFields, responseHeaders, scanRequest } from './headers.js';
import { Drain } from './drain.js';
import { FrontServer, type ProxyReply, type ProxyRequest } from './front.js';
import type { FaultRule } from './faults.js';
import { Hold, type HoldSteps } from './hold.js';
import type { ProxyStats } from './stats.js';
import { type ExchangeControl, type ResponseHandler, UpstreamPool, type UpstreamError } from './upstream.js';

/** HttpProxyOptions are the parts an HttpProxy is built from. */
export interface HttpProxyOptions {
  readonly upstreams: readonly URL[];
  readonly admission: Admission;
  readonly balancer: RoundRobin;
  readonly stats: ProxyStats;
  readonly clock: Clock;
  readonly scan: ScanOptions;
  /** timeoutMs bounds the wait for an upstream's headers and each pause in its body; Infinity: 300 s. */
  readonly timeoutMs: number;
  /** connections caps the sockets per upstream; undefined: as many as requests need. */
  readonly connections: number | undefined;
  /** dialTimeoutMs bounds a connect to an upstream (then the next one is tried). */
  readonly dialTimeoutMs: number;
}

/** DIAL_ERRORS fail before a request left the proxy: trying the next upstream is safe even for a POST. */
const DIAL_ERRORS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const TIMEOUT_ERRORS: ReadonlySet<string> = new Set(['HEADERS_TIMEOUT', 'BODY_TIMEOUT']);

/** DEFAULT_TIMEOUT_MS bounds an upstream's silence when --timeout does not. */
const DEFAULT_TIMEOUT_MS = 300_000;

const TOO_MANY = 'Too many requests, please try again later.\n';

/**
 * HttpProxy is the HTTP side of `throttle proxy`: a server (FrontServer) whose requests pass the Admission and
 * go to the upstreams in turn (RoundRobin) through one UpstreamPool each. Bodies stream both ways with
 * back-pressure; nothing is buffered. A request is answered by the proxy itself only when a limit rejects
 * it (429), an injected fault says so, or no upstream answers (502, or 504 after --timeout).
 *
 * Upgrade requests (WebSocket, h2c) are forwarded as plain requests, without their Upgrade header (it is
 * hop-by-hop), and their connection closes after the answer. `--tcp` carries WebSocket as bytes.
 */
export class HttpProxy {
  readonly #ctx: Context;
  readonly #server: FrontServer;

  constructor(o: HttpProxyOptions) {
    const pools = o.upstreams.map((u) => new UpstreamPool(u, { connections: o.connections ?? Infinity, keepAliveMs: 30_000, dialTimeoutMs: o.dialTimeoutMs, timeoutMs: o.timeoutMs === Infinity ? DEFAULT_TIMEOUT_MS : o.timeoutMs }));
    const prefixes = o.upstreams.map((u) => (u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '')));
    this.#ctx = { o, pools, prefixes, drain: new Drain() };
    this.#server = new FrontServer({ keepAliveMs: 30_000, headersTimeoutMs: 60_000, onRequest: (req, reply) => this.#onRequest(req, reply) });
  }

  /** active is how many requests the proxy holds (waiting, forwarded, or being answered). */
  get active(): number {
    return this.#ctx.drain.active;
  }

  /** listen binds the server and resolves with its address; a failure (EADDRINUSE, ...) rejects. */
  listen(host: string, port: number): Promise<AddressInfo> {
    return this.#server.listen(host, port);
  }

  /**
   * stop stops accepting, lets requests under way finish for up to `drainMs` (answers then close their
   * connections), and closes everything; resolves with how many requests were cut off at the deadline.
   */
  async stop(drainMs: number): Promise<number> {
    const ctx = this.#ctx;
    // Closing, the server makes every answer from here on close its connection (no keep-alive).
    this.#server.close();
    const cut = await ctx.drain.wait(drainMs);
    this.#server.destroy();
    // The requests cut off end (recorded as interrupted, their upstream requests aborted) as their
    // connections' close events come in; the pools close after that.
    if (cut > 0) await ctx.drain.wait(1000);
    for (const pool of ctx.pools) pool.close();
    return cut;
  }

  /**
   * kill closes every client connection at once; their close events abort the upstream requests (which
   * end as interrupted), and a pending stop then closes the pools.
   */
  kill(): void {
    this.#server.destroy();
  }

  #onRequest(req: ProxyRequest, res: ProxyReply): void {
    const ctx = this.#ctx;
    const o = ctx.o;
    ctx.drain.enter();
    const scanned = scanRequest(req.rawHeaders, req.remoteAddress, o.scan);
    const forward = new Forward(ctx, req, res, scanned, o.clock.now());
    res.onClose = forward.onClose;
    forward.hold.follow(o.admission.admit(READ_ONLY_METHODS.has(req.method) ? 'readOnly' : 'mutating', scanned.key, scanned.exempt));
  }
}

/** Context is what every request's Forward shares with its proxy. */
interface Context {
  readonly o: HttpProxyOptions;
  readonly pools: readonly UpstreamPool[];
  /** prefixes are the upstreams' paths (without a trailing slash), put before each request's target. */
  readonly prefixes: readonly string[];
  readonly drain: Drain;
}

/**
 * Forward is one request's trip through the proxy, and the handler of its upstream exchange. It
 * records the exchange once, when the client's response closes (finished or not).
 */
class Forward implements ResponseHandler, HoldSteps {
  readonly #ctx: Context;
  readonly #req: ProxyRequest;
  readonly #res: ProxyReply;
  readonly #scanned: Scanned;
  readonly #t0: number;
  /** hold is the request's way through admission (the verdict, an injected delay), shared with the TCP proxy. */
  readonly hold: Hold;
  #controller: ExchangeControl | undefined;
  #status: Status | undefined;
  #code: number | string = 'client-closed';
  #upstream: number | undefined;
  #tries = 0;
  #upstreamError: string | undefined;
  #dispatchMs: number | undefined;
  #upstreamEndMs: number | undefined;

  constructor(ctx: Context, req: ProxyRequest, res: ProxyReply, scanned: Scanned, t0: number) {
    this.#ctx = ctx;
    this.#req = req;
    this.#res = res;
    this.#scanned = scanned;
    this.#t0 = t0;
    this.hold = new Hold(this);
  }

  /** start forwards the admitted request (a HoldStep). */
  start(): void {
    this.#dispatch();
  }

  /** rejected answers 429 for a request the limits turned away (a HoldStep). */
  rejected(v: Rejected): void {
    this.#answer(429, 'rejected', TOO_MANY, ['Retry-After', String(retryAfterSeconds(v.retryAfterMs))], v.fields);
  }

  /** onClose runs when the client's response closes: finished, or the client went away. */
  readonly onClose = (): void => {
    this.hold.close();
    const ctx = this.#ctx;
    if (this.#controller !== undefined && this.#upstreamEndMs === undefined) this.#controller.abort();
    const end = ctx.o.clock.now();
    let status = this.#status;
    if (status === undefined || (status === 'ok' && !this.#res.finished)) {
      status = 'interrupted';
      this.#code = 'client-closed';
    }
    const forwarded = this.#dispatchMs !== undefined;
    const serviceMs = forwarded ? (this.#upstreamEndMs ?? end) - this.#dispatchMs! : 0;
    ctx.o.stats.add({
      arrivalMs: this.#t0,
      endMs: end,
      status,
      code: this.#code,
      upstream: this.#upstream,
      tries: this.#tries,
      upstreamError: this.#upstreamError,
      throttleMs: this.hold.throttleMs,
      serviceMs,
      addedMs: forwarded ? Math.max(0, end - this.#t0 - this.hold.throttleMs - serviceMs) : undefined,
    });
    this.hold.release();
    ctx.drain.leave();
  };

  /** fault plays an injected fault, once its delay (if any) is over (a HoldStep). */
  fault(fault: FaultRule): void {
    if (fault.reset) {
      this.#status = 'failed';
      this.#code = 'reset';
      this.#req.reset();
      return;
    }
    if (fault.status !== undefined) return this.#answer(fault.status, 'failed', `injected fault: ${fault.text}\n`, [], this.hold.ticket!.fields);
    this.#dispatch();
  }

  #dispatch(): void {
    const ctx = this.#ctx;
    const { o } = ctx;
    const req = this.#req;
    const now = o.clock.now();
    const i = o.balancer.pick(now, this.#scanned.sticky);
    this.#upstream = i;
    this.#tries++;
    this.#dispatchMs = now;
    this.#upstreamEndMs = undefined;
    const url = req.url;
    const path = url.startsWith('/') ? ctx.prefixes[i] + url : originForm(url, ctx.prefixes[i]!);
    const scanned = this.#scanned;
    const tries = this.#tries;
    const control = ctx.pools[i]!.dispatch({ path, method: req.method, headers: scanned.headers, body: scanned.hasBody ? req.body : null, chunked: scanned.chunked }, this);
    // A dispatch that failed at once (the pool closing) was handled inside it, maybe by another dispatch.
    if (this.#tries !== tries || this.#upstreamEndMs !== undefined) return;
    this.#controller = control;
    if (this.hold.closed) control.abort();
  }

  onResponseStart(controller: ExchangeControl, statusCode: number, headers: readonly string[]): void {
    if (this.hold.closed) return;
    const ctx = this.#ctx;
    ctx.o.balancer.succeeded(this.#upstream!);
    this.#status = 'ok';
    this.#code = statusCode;
    this.#res.writeHead(statusCode, responseHeaders(headers, this.hold.ticket!.fields));
  }

  onResponseData(controller: ExchangeControl, chunk: Buffer): void {
    if (this.hold.closed) return;
    if (!this.#res.write(chunk)) {
      controller.pause();
      this.#res.onceDrain(() => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.#upstreamEndMs = this.#ctx.o.clock.now();
    if (!this.hold.closed) this.#res.end();
  }

  onResponseError(controller: ExchangeControl, err: UpstreamError): void {
    if (this.hold.closed) return;
    const ctx = this.#ctx;
    const { o } = ctx;
    const kind = err.code;
    this.#upstreamEndMs = o.clock.now();
    if (this.#res.headersSent) {
      // Too late for an answer of our own: end the client's connection so it sees the failure.
      this.#status = 'failed';
      this.#code = kind;
      this.#upstreamError = kind;
      this.#res.destroy();
      return;
    }
    const i = this.#upstream!;
    if (DIAL_ERRORS.has(kind)) {
      o.balancer.failed(i, o.clock.now());
      // The request never left: the next upstream may have it, unless its body was already read.
      if (this.#tries < ctx.pools.length && !this.#req.bodyRead) {
        o.stats.failedDial(i, kind);
        this.#controller = undefined;
        return this.#dispatch();
      }
    }
    this.#upstreamError = kind;
    const timedOut = TIMEOUT_ERRORS.has(kind);
    this.#answer(timedOut ? 504 : 502, 'failed', `${timedOut ? 'upstream timed out' : 'bad gateway'}: ${o.upstreams[i]!.origin}: ${kind}\n`, [], this.hold.ticket?.fields);
  }

  /** #answer sends the proxy's own answer: a 429, an injected status, or a gateway error. */
  #answer(status: number, outcome: Status, body: string, headers: string[], fields: RateLimitFields | undefined): void {
    const res = this.#res;
    this.#status = outcome;
    this.#code = status;
    headers.push('Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body)));
    if (fields !== undefined) pushFields(headers, fields);
    res.writeHead(status, headers);
    res.end(this.#req.method === 'HEAD' ? undefined : body);
  }
}

/** originForm turns an absolute-form target (`http://host/path?q`) into the upstream's path. */
function originForm(target: string, prefix: string): string {
  try {
    const u = new URL(target);
    return prefix + u.pathname + u.search;
  } catch {
    return `${prefix}/`;
  }
}
