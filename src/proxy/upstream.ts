import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { HTTPParser, type HttpParser } from './llhttp.js';

/**
 * The proxy's HTTP/1.1 client: keep-alive connections to one upstream, each reading answers with node's
 * own native parser (llhttp, the one node:http uses). A general-purpose client (undici: its parser is
 * WebAssembly, and it builds and checks much a proxy has no use for) costs a fifth of the proxy's
 * throughput on loopback; this one does what forwarding needs and nothing else: one request at a time
 * per connection, bodies streamed both ways with back-pressure, a timeout on each wait.
 */

/** UpstreamRequest is one request to forward: its head, and its body (a stream) if it has one. */
export interface UpstreamRequest {
  readonly method: string;
  /** path is the request target in origin form (`/a?b`). */
  readonly path: string;
  /** headers are the fields to send, as a flat [name, value, ...] list (hop-by-hop ones already gone). */
  readonly headers: readonly string[];
  readonly body: Readable | null;
  /** chunked: the body's length is not known (no Content-Length): it goes chunked. */
  readonly chunked: boolean;
}

/** ExchangeControl is what a handler can do to its exchange. */
export interface ExchangeControl {
  /** abort ends the exchange at once (its connection is closed); the handler hears nothing more. */
  abort(): void;
  /** pause and resume hold the answer's body (back-pressure from whoever it is written to). */
  pause(): void;
  resume(): void;
}

/** ResponseHandler hears one exchange's answer: a start, data, an end; or an error instead, once. */
export interface ResponseHandler {
  onResponseStart(control: ExchangeControl, statusCode: number, headers: readonly string[]): void;
  onResponseData(control: ExchangeControl, chunk: Buffer): void;
  onResponseEnd(): void;
  onResponseError(control: ExchangeControl, err: UpstreamError): void;
}

/**
 * UpstreamError is a failed exchange; `code` names the failure: a socket's (ECONNREFUSED, ECONNRESET,
 * EPIPE, ...), ETIMEDOUT (the connect took longer than the dial timeout), HEADERS_TIMEOUT or BODY_TIMEOUT
 * (the upstream was silent that long), SOCKET_CLOSED (the connection ended mid-answer), a parser's HPE_*
 * (a malformed answer).
 */
export class UpstreamError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'UpstreamError';
    this.code = code;
  }
}

export interface UpstreamPoolOptions {
  /** connections caps the sockets open at once; requests beyond wait in order. Infinity: no cap. */
  readonly connections: number;
  /** keepAliveMs is how long an idle connection is kept (less, when the upstream's Keep-Alive says so). */
  readonly keepAliveMs: number;
  readonly dialTimeoutMs: number;
  /** timeoutMs bounds the wait for the answer's head and each pause in its body (up to an eighth late). */
  readonly timeoutMs: number;
}

/** KEEP_ALIVE_MARGIN_MS: an idle connection is dropped this long before the upstream said it would drop it. */
const KEEP_ALIVE_MARGIN_MS = 1000;

/**
 * UpstreamPool sends requests to one upstream over a set of keep-alive connections. A request takes an
 * idle connection (the most recently used), or opens one while under the cap, or waits its turn.
 */
export class UpstreamPool {
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  readonly #o: UpstreamPoolOptions;
  readonly #idle: Connection[] = [];
  readonly #waiting: Exchange[] = [];
  #open = 0;
  #closed = false;
  /**
   * Timeouts are swept, not timed: every #periodMs (an eighth of the shortest timeout) the sweep counts a
   * tick and checks each connection's last activity, which is a tick number copied as data comes and goes.
   * A socket's own timeout would be re-armed on every read and write; this costs nothing per request, and
   * a timeout fires up to an eighth late.
   */
  readonly #periodMs: number;
  readonly #conns = new Set<Connection>();
  #sweeper: NodeJS.Timeout | undefined;
  #tick = 0;

  constructor(origin: URL, options: UpstreamPoolOptions) {
    this.#host = origin.hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(origin.port || 80);
    this.#hostHeader = origin.host;
    this.#o = options;
    this.#periodMs = Math.min(1000, Math.max(5, Math.min(options.dialTimeoutMs, options.timeoutMs) / 8));
  }

  /** tick is the sweep's count: a connection notes it as its last activity. */
  get tick(): number {
    return this.#tick;
  }

  /** periodMs is how much time a tick stands for. */
  get periodMs(): number {
    return this.#periodMs;
  }

  get options(): UpstreamPoolOptions {
    return this.#o;
  }

  /** hostHeader is the Host field a request without one gets (an HTTP/1.0 client's). */
  get hostHeader(): string {
    return this.#hostHeader;
  }

  /** dispatch sends the request; the handler hears the answer. The returned control can abort it at once. */
  dispatch(request: UpstreamRequest, handler: ResponseHandler): ExchangeControl {
    const exchange = new Exchange(this, request, handler);
    this.assign(exchange);
    return exchange;
  }

  /** assign gives the exchange a connection: an idle one, a new one, or the next one freed. */
  assign(exchange: Exchange): void {
    if (this.#closed) return exchange.fail(new UpstreamError('POOL_CLOSED', 'the proxy is closing'));
    for (let idle = this.#idle.pop(); idle !== undefined; idle = this.#idle.pop()) {
      if (!idle.expired(performance.now())) return idle.send(exchange, true);
      idle.destroy();
    }
    if (this.#open < this.#o.connections) {
      this.#open++;
      const conn = new Connection(this, this.#host, this.#port);
      this.#conns.add(conn);
      if (this.#sweeper === undefined) {
        this.#sweeper = setInterval(() => this.#sweep(), this.#periodMs);
        this.#sweeper.unref();
      }
      return conn.send(exchange, false);
    }
    this.#waiting.push(exchange);
  }

  /** withdraw takes a waiting exchange out of the queue (it was aborted). */
  withdraw(exchange: Exchange): void {
    const i = this.#waiting.indexOf(exchange);
    if (i >= 0) this.#waiting.splice(i, 1);
  }

  /**
   * released: the connection finished an exchange and may carry another. An idle connection is not timed:
   * one kept past its time is dropped when it would be taken (see Connection.expired), and the upstream
   * closes the others in its own time.
   */
  released(conn: Connection): void {
    const next = this.#waiting.shift();
    if (next !== undefined) return conn.send(next, true);
    if (this.#closed) return conn.destroy();
    this.#idle.push(conn);
    conn.idle();
  }

  /** gone: the connection closed (it counts no more, and leaves the idle list if it was there). */
  gone(conn: Connection): void {
    this.#open--;
    this.#conns.delete(conn);
    if (this.#conns.size === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    // A connection that was carrying an exchange frees room for a waiting one.
    const next = this.#waiting.shift();
    if (next !== undefined) this.assign(next);
  }

  #sweep(): void {
    const tick = ++this.#tick;
    const now = performance.now();
    for (const conn of this.#conns) conn.check(tick, now);
  }

  /** close closes the idle connections; busy ones close once their exchange ends. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#idle.splice(0)) conn.destroy();
    for (const exchange of this.#waiting.splice(0)) exchange.fail(new UpstreamError('POOL_CLOSED', 'the proxy is closing'));
  }
}

/** Exchange is one request and its answer: the control its handler holds. */
class Exchange implements ExchangeControl {
  readonly pool: UpstreamPool;
  readonly request: UpstreamRequest;
  readonly handler: ResponseHandler;
  conn: Connection | undefined;
  /** started: the answer's head came; ended: the exchange is over (answered, failed or aborted). */
  started = false;
  ended = false;
  /** bodyRead: some of the request's body was taken (it cannot be sent again). */
  bodyRead = false;
  /** retried: sent again once after a reused connection turned out closed. */
  retried = false;

  constructor(pool: UpstreamPool, request: UpstreamRequest, handler: ResponseHandler) {
    this.pool = pool;
    this.request = request;
    this.handler = handler;
  }

  abort(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.conn === undefined) this.pool.withdraw(this);
    else this.conn.destroy();
  }

  pause(): void {
    this.conn?.socket.pause();
  }

  resume(): void {
    this.conn?.socket.resume();
  }

  fail(err: UpstreamError): void {
    if (this.ended) return;
    this.ended = true;
    this.handler.onResponseError(this, err);
  }
}

/** Connection is one keep-alive socket to the upstream and its parser; it carries one exchange at a time. */
class Connection {
  readonly #pool: UpstreamPool;
  readonly socket: Socket;
  readonly #parser: HttpParser;
  #exchange: Exchange | undefined;
  #connected = false;
  /** #reused: the current exchange came to this connection after an earlier one (it may have gone stale). */
  #reused = false;
  /** #info: the answer being parsed is a 1xx, not the final one. */
  #info = false;
  #keepAlive = false;
  /** #bodySent: the current request's body is all written (the connection can carry another). */
  #bodySent = true;
  #idleMs: number;
  #keepAliveHeader: string | undefined;
  #idleSinceMs = 0;
  /** #activeTick is the pool's tick when data last went either way (or the connect began). */
  #activeTick: number;
  #partial: string[] = [];
  #closed = false;

  constructor(pool: UpstreamPool, host: string, port: number) {
    this.#pool = pool;
    this.#idleMs = pool.options.keepAliveMs;
    this.#activeTick = pool.tick;
    const socket = connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.once('connect', () => {
      this.#connected = true;
      this.#activeTick = pool.tick;
      const exchange = this.#exchange;
      if (exchange !== undefined) this.#write(exchange);
    });
    socket.on('data', (data: Buffer) => this.#data(data));
    socket.on('end', () => this.#end());
    socket.on('error', (err: Error & { code?: string }) => this.#failed(err.code ?? 'ECONNRESET', err.message));
    socket.on('close', () => this.#close());
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, {});
    parser[HTTPParser.kOnHeaders] = (headers: string[]) => {
      for (const h of headers) this.#partial.push(h);
    };
    parser[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, headers: string[] | undefined, _method: number, _url: string, statusCode: number, _message: string, _upgrade: boolean, keepAlive: boolean) =>
      this.#head(headers, statusCode, keepAlive);
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
      const exchange = this.#exchange;
      if (exchange !== undefined && !this.#info && !exchange.ended) exchange.handler.onResponseData(exchange, chunk);
    };
    parser[HTTPParser.kOnMessageComplete] = () => this.#complete();
    this.#parser = parser;
  }

  /** send starts an exchange on this connection (`reused`: it carried one before). */
  send(exchange: Exchange, reused: boolean): void {
    this.#activeTick = this.#pool.tick;
    this.#exchange = exchange;
    this.#reused = reused;
    exchange.conn = this;
    // The last answer may have ended while its reader held the socket paused.
    if (this.socket.isPaused()) this.socket.resume();
    if (this.#connected) this.#write(exchange);
  }

  /** idle: the connection waits in the pool, for as long as the upstream keeps it. */
  idle(): void {
    if (this.socket.isPaused()) this.socket.resume();
    this.#idleSinceMs = performance.now();
  }

  /**
   * check is the sweep's look at this connection: an exchange that waited too long for the connect or the
   * upstream fails; an idle connection kept past its time is closed.
   */
  check(tick: number, nowMs: number): void {
    const o = this.#pool.options;
    if (this.#exchange === undefined) {
      if (this.#connected && this.expired(nowMs)) this.socket.destroy();
      return;
    }
    const silentMs = (tick - this.#activeTick) * this.#pool.periodMs;
    if (silentMs >= (this.#connected ? o.timeoutMs : o.dialTimeoutMs)) this.#timeout();
  }

  /** expired: idle since too long ago to be trusted with a request (the upstream may be closing it). */
  expired(nowMs: number): boolean {
    return nowMs - this.#idleSinceMs >= this.#idleMs;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #write(exchange: Exchange): void {
    const r = exchange.request;
    let head = `${r.method} ${r.path} HTTP/1.1\r\n`;
    let host = false;
    const h = r.headers;
    for (let i = 0; i + 1 < h.length; i += 2) {
      const name = h[i]!;
      if (name.length === 4 && name.toLowerCase() === 'host') host = true;
      head += `${name}: ${h[i + 1]}\r\n`;
    }
    if (!host) head += `host: ${this.#pool.hostHeader}\r\n`;
    if (r.body === null) {
      this.#bodySent = true;
      this.socket.write(`${head}\r\n`, 'latin1');
      return;
    }
    this.#bodySent = false;
    this.socket.write(r.chunked ? `${head}transfer-encoding: chunked\r\n\r\n` : `${head}\r\n`, 'latin1');
    this.#stream(exchange, r.body, r.chunked);
  }

  /** #stream writes the request's body as it comes, pausing it while the socket's buffer is full. */
  #stream(exchange: Exchange, body: Readable, chunked: boolean): void {
    const socket = this.socket;
    const onData = (chunk: Buffer): void => {
      exchange.bodyRead = true;
      this.#activeTick = this.#pool.tick;
      if (chunk.length === 0) return;
      let ok: boolean;
      if (chunked) {
        // One chunk: size line, data, CRLF, all written (a full buffer says wait, not drop) in one go.
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        ok = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else ok = socket.write(chunk);
      if (!ok) {
        body.pause();
        socket.once('drain', () => body.resume());
      }
    };
    const onEnd = (): void => {
      detach();
      if (chunked) socket.write('0\r\n\r\n', 'latin1');
      this.#bodySent = true;
    };
    const detach = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
    };
    body.on('data', onData);
    body.on('end', onEnd);
    // A connection that ends first leaves the body to its client (its request fails).
    socket.once('close', detach);
  }

  #data(data: Buffer): void {
    this.#activeTick = this.#pool.tick;
    const r = this.#parser.execute(data);
    if (typeof r !== 'number') {
      this.#failed(r.code ?? 'HPE_INVALID', `a malformed answer: ${r.message}`);
      this.socket.destroy();
    }
  }

  #head(headers: string[] | undefined, statusCode: number, keepAlive: boolean): number {
    let fields = headers;
    if (fields === undefined) {
      fields = this.#partial;
      this.#partial = [];
    }
    const exchange = this.#exchange;
    if (exchange === undefined) return 1;
    // 1xx answers (100 Continue, 103 Early Hints) are not passed on: the final answer follows.
    if (statusCode < 200) {
      this.#info = true;
      return 1;
    }
    this.#keepAlive = keepAlive;
    this.#keepAliveFrom(fields);
    exchange.started = true;
    exchange.handler.onResponseStart(exchange, statusCode, fields);
    // A HEAD's answer has no body, whatever its Content-Length says.
    return exchange.request.method === 'HEAD' ? 1 : 0;
  }

  /** #keepAliveFrom reads how long the upstream keeps an idle connection (the same answer, most times: read once). */
  #keepAliveFrom(fields: readonly string[]): void {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!;
      if (name.length !== 10 || name.toLowerCase() !== 'keep-alive') continue;
      const value = fields[i + 1]!;
      if (value !== this.#keepAliveHeader) {
        this.#keepAliveHeader = value;
        this.#idleMs = idleMsOf(value, this.#pool.options.keepAliveMs);
      }
      return;
    }
    this.#keepAliveHeader = undefined;
    this.#idleMs = this.#pool.options.keepAliveMs;
  }

  #complete(): void {
    if (this.#info) {
      this.#info = false;
      return;
    }
    const exchange = this.#exchange;
    if (exchange === undefined) return;
    this.#exchange = undefined;
    exchange.conn = undefined;
    const done = !exchange.ended;
    exchange.ended = true;
    if (this.#keepAlive && this.#bodySent && this.#idleMs > 0 && !this.#closed) this.#pool.released(this);
    else this.socket.destroy();
    if (done) exchange.handler.onResponseEnd();
  }

  #end(): void {
    // An answer without a length ends with the connection.
    this.#parser.finish();
    if (this.#exchange !== undefined) this.#failed('SOCKET_CLOSED', 'the upstream closed the connection mid-answer');
    this.socket.destroy();
  }

  #timeout(): void {
    const exchange = this.#exchange!;
    if (!this.#connected) this.#failed('ETIMEDOUT', `no connection after ${this.#pool.options.dialTimeoutMs} ms`);
    else if (!exchange.started) this.#failed('HEADERS_TIMEOUT', `no answer after ${this.#pool.options.timeoutMs} ms`);
    else this.#failed('BODY_TIMEOUT', `the answer stalled for ${this.#pool.options.timeoutMs} ms`);
    this.socket.destroy();
  }

  /** #failed ends the current exchange with an error; a stale reused connection retries it on a new one first. */
  #failed(code: string, message: string): void {
    const exchange = this.#exchange;
    if (exchange === undefined) return;
    this.#exchange = undefined;
    exchange.conn = undefined;
    if (exchange.ended) return;
    // Subtleness: a kept-alive connection the upstream closed while it sat idle fails the next request
    // before any answer; that request never reached the upstream, and goes again on a new connection
    // (once, and only while its body is untouched).
    if (this.#reused && !exchange.started && !exchange.bodyRead && !exchange.retried && (code === 'ECONNRESET' || code === 'EPIPE' || code === 'SOCKET_CLOSED')) {
      exchange.retried = true;
      this.#pool.assign(exchange);
      return;
    }
    exchange.fail(new UpstreamError(code, message));
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failed('SOCKET_CLOSED', 'the upstream connection closed');
    this.#parser.remove();
    this.#parser.free();
    this.#pool.gone(this);
  }
}

/** idleMsOf is how long an idle connection may be kept: ours, or less when the upstream's Keep-Alive says so. */
function idleMsOf(keepAlive: string, keepAliveMs: number): number {
  const m = /timeout\s*=\s*(\d+)/i.exec(keepAlive);
  return m === null ? keepAliveMs : Math.min(keepAliveMs, Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS);
}
