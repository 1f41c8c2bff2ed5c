import { STATUS_CODES } from 'node:http';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { Readable } from 'node:stream';
import { HTTPParser, type HttpParser, METHODS } from './llhttp.js';
import { listenOn } from './listen.js';

/**
 * The proxy's HTTP/1.1 server side: client connections read with node's native parser (llhttp), requests
 * handed over with their raw headers and a body stream, answers written as they come. node:http's server
 * builds two streams and an event per request and checks every header it writes; on loopback that is a
 * fifth of the proxy's work, and a proxy needs none of it: the parser already checked the request, and an
 * answer's headers are the upstream's (or the proxy's own few).
 *
 * What it keeps of node:http's behaviour: keep-alive (HTTP/1.1 by default, HTTP/1.0 when asked), pipelined
 * requests answered in order, `Expect: 100-continue` answered at once, a malformed request answered 400 (an
 * oversized head 431) and its connection closed, an idle connection closed after `keepAliveMs`, a request
 * head that takes longer than `headersTimeoutMs` answered 408, a body nobody reads drained once the answer
 * is sent.
 */

/** MAX_HEADER_BYTES is the largest request head accepted (node:http's default). */
const MAX_HEADER_BYTES = 16 * 1024;

/** SWEEP_MS is how often idle connections and slow request heads are looked for. */
const SWEEP_MS = 1000;

export interface FrontOptions {
  readonly keepAliveMs: number;
  readonly headersTimeoutMs: number;
  /** onRequest is given each request, with the reply to write its answer on. */
  readonly onRequest: (req: ProxyRequest, reply: ProxyReply) => void;
}

/** FrontServer accepts client connections and serves the HTTP/1.1 exchanges on them. */
export class FrontServer {
  readonly #o: FrontOptions;
  readonly #server: Server;
  readonly #conns = new Set<FrontConnection>();
  #sweeper: NodeJS.Timeout | undefined;
  /** closing: answers close their connections, and idle connections are closed. */
  closing = false;

  constructor(options: FrontOptions) {
    this.#o = options;
    this.#server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      const conn = new FrontConnection(this, socket, options);
      this.#conns.add(conn);
      if (this.#sweeper === undefined) {
        this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS);
        this.#sweeper.unref();
      }
    });
  }

  /** listen binds the server and resolves with its address; a failure (EADDRINUSE, ...) rejects. */
  listen(host: string, port: number): Promise<AddressInfo> {
    return listenOn(this.#server, host, port);
  }

  /** close stops accepting; idle connections close now, the others after their current answers. */
  close(): void {
    this.closing = true;
    this.#server.close();
    for (const conn of this.#conns) conn.closeIfIdle();
  }

  /** destroy closes every connection at once (their exchanges end as interrupted). */
  destroy(): void {
    this.closing = true;
    this.#server.close();
    for (const conn of this.#conns) conn.destroy();
  }

  gone(conn: FrontConnection): void {
    this.#conns.delete(conn);
    if (this.#conns.size === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  #sweep(): void {
    const now = performance.now();
    for (const conn of this.#conns) conn.check(now, this.#o);
  }
}

/** ProxyRequest is a request as received: its head, and its body as a stream when it has one. */
export class ProxyRequest {
  readonly method: string;
  /** url is the request target as sent (origin form `/a?b`, or absolute form). */
  readonly url: string;
  /** rawHeaders is the head's fields as a flat [name, value, ...] list, as sent. */
  readonly rawHeaders: string[];
  readonly remoteAddress: string | undefined;
  /** body is the request's body (null when it has none). */
  readonly body: Readable | null;
  readonly #conn: FrontConnection;

  constructor(conn: FrontConnection, method: string, url: string, rawHeaders: string[], remoteAddress: string | undefined, body: Readable | null) {
    this.#conn = conn;
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.remoteAddress = remoteAddress;
    this.body = body;
  }

  /** bodyRead says some of the body was taken (it cannot be sent again). */
  get bodyRead(): boolean {
    return this.body?.readableDidRead ?? false;
  }

  /** reset ends the client's connection with a TCP RST (an injected fault). */
  reset(): void {
    this.#conn.reset();
  }
}

/**
 * ProxyReply is where a request's answer is written: a head, body chunks, an end. An answer without a
 * Content-Length goes chunked (close-delimited to an HTTP/1.0 client). `onClose` is called once, when the
 * answer ended or the connection went first (see `finished`).
 */
export class ProxyReply {
  readonly #conn: FrontConnection;
  /** #headRequest: the request was a HEAD (its answer has no body). */
  readonly #headRequest: boolean;
  readonly #http10: boolean;
  #keepAlive: boolean;
  #chunked = false;
  /** #noBody: the answer has none (HEAD, 204, 304), whatever its head says. */
  #noBody = false;
  /**
   * #head is the answer's head until the first piece of body (or the end) takes it along: one write, as
   * node:http corks a head and its first chunk.
   */
  #head: Buffer | undefined;
  /** #pending holds what was written before this reply's turn came (pipelined requests). */
  #pending: Buffer[] | undefined;
  #writable = false;
  headersSent = false;
  /** finished: the answer was written to its end. */
  finished = false;
  /** closed: onClose was called (finished, or the connection went first). */
  closed = false;
  onClose: (() => void) | undefined;

  constructor(conn: FrontConnection, head: boolean, http10: boolean, keepAlive: boolean) {
    this.#conn = conn;
    this.#headRequest = head;
    this.#http10 = http10;
    this.#keepAlive = keepAlive;
  }

  /** keepAlive says whether the connection stays open after this answer. */
  get keepAlive(): boolean {
    return this.#keepAlive;
  }

  /** writeHead writes the status line and the fields (a flat [name, value, ...] list). */
  writeHead(status: number, fields: readonly string[]): void {
    if (this.headersSent) return;
    this.headersSent = true;
    if (this.#conn.closing) this.#keepAlive = false;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    let length = false;
    let date = false;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
      else if (name.length === 4 && name.toLowerCase() === 'date') date = true;
      head += `${name}: ${value}\r\n`;
    }
    if (!date) head += `Date: ${httpDate()}\r\n`;
    this.#noBody = this.#headRequest || status === 204 || status === 304 || status < 200;
    if (!length && !this.#noBody) {
      if (this.#http10) this.#keepAlive = false;
      else {
        this.#chunked = true;
        head += 'Transfer-Encoding: chunked\r\n';
      }
    }
    if (!this.#keepAlive) head += 'Connection: close\r\n';
    else if (this.#http10) head += 'Connection: keep-alive\r\n';
    this.#head = Buffer.from(`${head}\r\n`, 'latin1');
  }

  /** write writes a body chunk; false: the client is slow, wait for onceDrain. */
  write(chunk: Buffer): boolean {
    if (this.finished || this.#noBody || chunk.length === 0) return true;
    if (!this.#chunked) return this.#send(chunk);
    return this.#send(Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'), chunk, CRLF);
  }

  /** onceDrain calls back once the client has taken what was written. */
  onceDrain(callback: () => void): void {
    this.#conn.onceDrain(callback);
  }

  /** end ends the answer, with a last piece of body if given. */
  end(body?: string): void {
    if (this.finished) return;
    if (!this.headersSent) this.writeHead(200, []);
    if (body !== undefined && !this.#noBody) this.write(Buffer.from(body));
    if (this.#chunked) this.#send(LAST_CHUNK);
    else if (this.#head !== undefined) this.#send();
    this.finished = true;
    this.#conn.replied(this);
  }

  /** destroy closes the client's connection (an answer that failed mid-body). */
  destroy(): void {
    this.#conn.destroy();
  }

  /** start: this reply's turn came (the ones before it are written); what waited goes out now. */
  start(): void {
    this.#writable = true;
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    for (const b of pending) this.#conn.write(b);
  }

  /** #send writes the pieces (after the head, if it is still held) in one write. */
  #send(...pieces: Buffer[]): boolean {
    const head = this.#head;
    if (head !== undefined) {
      this.#head = undefined;
      pieces.unshift(head);
    }
    const data = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    if (this.#writable) return this.#conn.write(data);
    (this.#pending ??= []).push(data);
    return true;
  }

  /** close calls onClose, once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.();
  }
}

/** httpDate is the Date field's value now, made once a second. */
let dateText = '';
let dateSec = -1;
function httpDate(): string {
  const sec = Math.floor(Date.now() / 1000);
  if (sec !== dateSec) {
    dateSec = sec;
    dateText = new Date(sec * 1000).toUTCString();
  }
  return dateText;
}

const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** FrontConnection is one client connection: its parser, and its exchanges in the order they came. */
class FrontConnection {
  readonly #server: FrontServer;
  readonly #socket: Socket;
  readonly #parser: HttpParser;
  readonly #onRequest: FrontOptions['onRequest'];
  /** #replies are the exchanges not yet answered in full, oldest first (more than one when pipelined). */
  readonly #replies: ProxyReply[] = [];
  /** #body is the body stream of the request being received, if it has one. */
  #body: Readable | undefined;
  /** #dumping: the request's answer is sent; the rest of its body is read and dropped. */
  #dumping = false;
  #receiving = false;
  #partialHeaders: string[] = [];
  #partialUrl = '';
  /** #headStartMs is when the head being received began (for the headers timeout); #idleSinceMs when the last answer ended. */
  #headStartMs = 0;
  #idleSinceMs = performance.now();
  #ended = false;
  #closed = false;
  /** #upgraded: an upgrade request came; nothing after it is read. */
  #upgraded = false;

  constructor(server: FrontServer, socket: Socket, o: FrontOptions) {
    this.#server = server;
    this.#socket = socket;
    this.#onRequest = o.onRequest;
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_BYTES);
    parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      for (const h of headers) this.#partialHeaders.push(h);
      this.#partialUrl += url;
    };
    parser[HTTPParser.kOnHeadersComplete] = (_major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _s: number, _m: string, upgrade: boolean, keepAlive: boolean) =>
      this.#request(minor, headers, method, url, keepAlive && !upgrade);
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => this.#bodyChunk(chunk);
    parser[HTTPParser.kOnMessageComplete] = () => this.#requestComplete();
    this.#parser = parser;
    socket.on('data', (data: Buffer) => this.#data(data));
    socket.on('end', () => this.#end());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#close());
  }

  get closing(): boolean {
    return this.#server.closing;
  }

  write(data: Buffer): boolean {
    return this.#socket.write(data);
  }

  onceDrain(callback: () => void): void {
    this.#socket.once('drain', callback);
  }

  reset(): void {
    this.#socket.resetAndDestroy();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** closeIfIdle closes the connection when no exchange is under way on it. */
  closeIfIdle(): void {
    if (this.#replies.length === 0 && !this.#receiving) this.#socket.destroy();
  }

  /** check is the sweep's look: an idle connection kept too long, or a request head too slow. */
  check(now: number, o: FrontOptions): void {
    if (this.#receiving || this.#replies.length > 0) {
      if (this.#receiving && this.#headStartMs > 0 && now - this.#headStartMs > o.headersTimeoutMs) this.#fail(408);
      return;
    }
    if (now - this.#idleSinceMs > o.keepAliveMs) this.#socket.destroy();
  }

  #data(data: Buffer): void {
    if (!this.#receiving) {
      this.#receiving = true;
      this.#headStartMs = performance.now();
    }
    if (this.#upgraded) return;
    const r = this.#parser.execute(data);
    if (typeof r === 'number') return;
    if (r.code === 'HPE_PAUSED_UPGRADE') {
      // An upgrade request (WebSocket, h2c) is answered as a plain one (not kept alive: see #request): what
      // follows its head is not HTTP any more.
      this.#upgraded = true;
      this.#receiving = false;
      return;
    }
    this.#fail(r.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400);
  }

  #request(minor: number, headers: string[] | undefined, method: number, url: string | undefined, keepAlive: boolean): number {
    let fields = headers;
    if (fields === undefined) {
      fields = this.#partialHeaders;
      this.#partialHeaders = [];
    }
    const target = url === undefined || url === '' ? this.#partialUrl : this.#partialUrl + url;
    this.#partialUrl = '';
    this.#headStartMs = 0;
    const name = METHODS[method] ?? 'GET';
    let hasBody = false;
    let expectContinue = false;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const n = fields[i]!;
      if (n.length === 14 && n.toLowerCase() === 'content-length') hasBody ||= fields[i + 1]!.trim() !== '0';
      else if (n.length === 17 && n.toLowerCase() === 'transfer-encoding') hasBody = true;
      else if (n.length === 6 && n.toLowerCase() === 'expect' && /^\s*100-continue\s*$/i.test(fields[i + 1]!)) expectContinue = true;
    }
    let body: Readable | null = null;
    if (hasBody) {
      const socket = this.#socket;
      body = new Readable({ read: () => socket.resume() });
      this.#body = body;
    }
    this.#dumping = false;
    const req = new ProxyRequest(this, name, target, fields, this.#socket.remoteAddress, body);
    const reply = new ProxyReply(this, name === 'HEAD', minor === 0, keepAlive && !this.#server.closing);
    this.#replies.push(reply);
    if (this.#replies.length === 1) reply.start();
    if (expectContinue && minor === 1) this.#socket.write(CONTINUE);
    this.#onRequest(req, reply);
    // A HEAD request's answer never has a body: the parser must not look for one in the request either way.
    return 0;
  }

  #bodyChunk(chunk: Buffer): void {
    const body = this.#body;
    if (body === undefined || this.#dumping) return;
    // A body read slower than it comes holds the connection (back-pressure), until the stream asks again.
    if (!body.push(chunk)) this.#socket.pause();
  }

  #requestComplete(): void {
    this.#body?.push(null);
    this.#body = undefined;
    this.#dumping = false;
    this.#receiving = false;
  }

  /**
   * replied: an answer is written to its end. Answers go out in the order their requests came: one that
   * ends ahead of its turn waits (written into its reply's buffer) until the ones before it are done.
   */
  replied(reply: ProxyReply): void {
    const replies = this.#replies;
    if (replies[0] !== reply) return;
    while (replies[0]?.finished === true) {
      const done = replies.shift()!;
      if (replies.length === 0 && this.#receiving && this.#body !== undefined) {
        // The request's body is still coming and nobody will read the rest: drop it as it comes.
        this.#dumping = true;
        this.#body.destroy();
        this.#socket.resume();
      }
      done.close();
      if (!done.keepAlive || (this.#ended && replies.length === 0)) {
        this.#socket.end();
        return;
      }
      const next = replies[0];
      if (next === undefined) {
        this.#idleSinceMs = performance.now();
        if (this.#server.closing && !this.#receiving) this.#socket.end();
        return;
      }
      next.start();
    }
  }

  /** #fail answers a malformed or too slow request (400, 408, 431) and closes the connection. */
  #fail(status: number): void {
    if (this.#closed) return;
    if (this.#replies.length === 0) this.#socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, 'latin1');
    this.#socket.end();
    this.#socket.destroySoon();
  }

  #end(): void {
    // The client closed its side: as node:http does (without httpAllowHalfOpen), the requests under way
    // count as abandoned, and the connection closes.
    this.#ended = true;
    this.#parser.finish();
    if (this.#replies.length === 0) this.#socket.end();
    else this.#socket.destroy();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#body?.destroy();
    for (const reply of this.#replies.splice(0)) reply.close();
    this.#parser.remove();
    this.#parser.free();
    this.#server.gone(this);
  }
}
