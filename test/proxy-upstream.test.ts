import test, { type ExecutionContext } from 'ava';
import { type IncomingMessage, type ServerResponse, createServer as createHttpServer } from 'node:http';
import { type AddressInfo, type Server, type Socket, createServer as createNetServer } from 'node:net';
import { Readable } from 'node:stream';
import { type ExchangeControl, type UpstreamError, UpstreamPool, type UpstreamPoolOptions, type UpstreamRequest } from '../src/proxy/upstream.js';

// The proxy's upstream client against loopback servers on random ports: framing both ways, keep-alive,
// timeouts, failures. Timeouts are a few tens of milliseconds: the only real waits here.

interface Answer {
  status?: number;
  headers: string[];
  body: string;
  error?: string;
  /** calls: the handler's callbacks in order (start, data..., end | error). */
  calls: string[];
}

/** exchange sends one request and resolves with what the handler heard. */
function exchange(pool: UpstreamPool, request: Partial<UpstreamRequest> = {}, on?: (control: ExchangeControl, a: Answer) => void): Promise<Answer> {
  return new Promise((resolve) => {
    const a: Answer = { headers: [], body: '', calls: [] };
    pool.dispatch(
      { method: 'GET', path: '/', headers: [], body: null, chunked: false, ...request },
      {
        onResponseStart(control, status, headers) {
          a.calls.push('start');
          a.status = status;
          a.headers = [...headers];
          on?.(control, a);
        },
        onResponseData(control, chunk) {
          a.calls.push('data');
          a.body += chunk.toString();
          on?.(control, a);
        },
        onResponseEnd() {
          a.calls.push('end');
          resolve(a);
        },
        onResponseError(_control, err: UpstreamError) {
          a.calls.push('error');
          a.error = err.code;
          resolve(a);
        },
      },
    );
  });
}

/** httpServer starts a node:http server; it counts the connections it accepted. */
async function httpServer(t: ExecutionContext, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ origin: URL; connections: () => number }> {
  const server = createHttpServer(handler);
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { origin: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), connections: () => connections };
}

/** rawServer starts a TCP server whose connections the test answers byte by byte. */
async function rawServer(t: ExecutionContext, onSocket: (socket: Socket, n: number) => void): Promise<URL> {
  let n = 0;
  const sockets: Socket[] = [];
  const server: Server = createNetServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    onSocket(socket, n++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
}

function pool(origin: URL, o: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  return new UpstreamPool(origin, { connections: Infinity, keepAliveMs: 30_000, dialTimeoutMs: 5000, timeoutMs: 5000, ...o });
}

const read = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve(body));
  });

test('requests reuse a kept-alive connection; the answer comes as sent, its headers as received', async (t) => {
  const seen: string[] = [];
  const { origin, connections } = await httpServer(t, (req, res) => {
    seen.push(`${req.method} ${req.url} host=${req.headers.host} x=${req.headers['x-one']}`);
    res.setHeader('X-Answer', 'yes');
    res.end(`hello ${req.url}`);
  });
  const p = pool(origin);
  const a = await exchange(p, { path: '/a?b=1', headers: ['X-One', '1'] });
  const b = await exchange(p, { method: 'DELETE', path: '/c', headers: ['Host', 'named.example'] });
  t.is(a.status, 200);
  t.is(a.body, 'hello /a?b=1');
  t.deepEqual(a.calls, ['start', 'data', 'end']);
  t.true(a.headers.includes('X-Answer'));
  t.is(b.body, 'hello /c');
  t.deepEqual(seen, [`GET /a?b=1 host=${origin.host} x=1`, 'DELETE /c host=named.example x=undefined']);
  t.is(connections(), 1);
  p.close();
});

test('a HEAD answer has no body whatever its Content-Length; 1xx answers are skipped; the connection goes on', async (t) => {
  const { origin, connections } = await httpServer(t, (req, res) => {
    if (req.url === '/hints') res.writeEarlyHints({ link: '</a.css>; rel=preload' });
    res.setHeader('Content-Length', '5');
    res.end(req.method === 'HEAD' ? undefined : 'body!');
  });
  const p = pool(origin);
  const head = await exchange(p, { method: 'HEAD' });
  t.deepEqual(head.calls, ['start', 'end']);
  t.true(head.headers.includes('5'));
  const hinted = await exchange(p, { path: '/hints' });
  t.is(hinted.status, 200);
  t.is(hinted.body, 'body!');
  t.is(connections(), 1);
  p.close();
});

test('request bodies stream with their length, or chunked; answers come chunked or until the connection closes', async (t) => {
  const { origin } = await httpServer(t, async (req, res) => {
    const body = await read(req);
    const te = req.headers['transfer-encoding'] ?? 'none';
    res.write(`${req.method} ${te} `);
    res.end(body);
  });
  const p = pool(origin);
  const sized = await exchange(p, { method: 'POST', headers: ['Content-Length', '9'], body: Readable.from([Buffer.from('four'), Buffer.from('+five')]) });
  t.is(sized.body, 'POST none four+five');
  const chunked = await exchange(p, { method: 'PUT', body: Readable.from([Buffer.from('a'), Buffer.from(''), Buffer.from('bc')]), chunked: true });
  t.is(chunked.body, 'PUT chunked abc');
  t.true(chunked.calls.filter((c) => c === 'data').length >= 1);
  p.close();
  // No length, no chunks: the body ends with the connection.
  const closing = await rawServer(t, (sock) =>
    sock.once('data', () => {
      sock.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil ');
      setTimeout(() => sock.end('the end'), 10);
    }),
  );
  const untilClose = await exchange(pool(closing));
  t.is(untilClose.body, 'until the end');
  t.is(untilClose.calls.at(-1), 'end');
});

test('silence is bounded: no answer is HEADERS_TIMEOUT, a stalled body BODY_TIMEOUT', async (t) => {
  const { origin } = await httpServer(t, (req, res) => {
    if (req.url === '/stall') {
      res.writeHead(200, { 'Content-Length': '10' });
      res.write('12345');
    }
    // /silent: never answered
  });
  const p = pool(origin, { timeoutMs: 60 });
  const silent = await exchange(p, { path: '/silent' });
  t.is(silent.error, 'HEADERS_TIMEOUT');
  const stalled = await exchange(p, { path: '/stall' });
  t.deepEqual(stalled.calls, ['start', 'data', 'error']);
  t.is(stalled.error, 'BODY_TIMEOUT');
  p.close();
});

test('a refused connection, an answer cut short and a malformed one fail with their codes', async (t) => {
  // Refused: nothing listens once the server is gone.
  const gone = createNetServer();
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
  const deadPort = (gone.address() as AddressInfo).port;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
  t.is((await exchange(pool(new URL(`http://127.0.0.1:${deadPort}`)))).error, 'ECONNREFUSED');
  const garbled = await rawServer(t, (s) => s.once('data', () => s.write('HTTP/1.1 abc nonsense\r\n\r\n')));
  t.regex((await exchange(pool(garbled))).error ?? '', /^HPE_/);
  const short = await rawServer(t, (s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')));
  const cut = await exchange(pool(short));
  t.deepEqual(cut.calls, ['start', 'data', 'error']);
  t.is(cut.error, 'SOCKET_CLOSED');
});

test('a kept-alive connection the upstream closed while idle: the next request goes again on a new one', async (t) => {
  // Each connection answers one request, keep-alive, then closes as soon as it is idle (without saying so).
  const origin = await rawServer(t, (s, n) => {
    s.once('data', () => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${n}`);
      setTimeout(() => s.destroy(), 10);
    });
  });
  const p = pool(origin);
  t.is((await exchange(p)).body, '0');
  await new Promise((r) => setTimeout(r, 50));
  const again = await exchange(p);
  t.is(again.error, undefined);
  t.is(again.body, '1');
  p.close();
});

test('connections caps the sockets: requests beyond wait their turn', async (t) => {
  let inside = 0;
  let most = 0;
  const { origin, connections } = await httpServer(t, (req, res) => {
    inside++;
    most = Math.max(most, inside);
    setTimeout(() => {
      inside--;
      res.end(req.url);
    }, 20);
  });
  const p = pool(origin, { connections: 2 });
  const answers = await Promise.all(['/1', '/2', '/3', '/4', '/5'].map((path) => exchange(p, { path })));
  t.deepEqual(answers.map((a) => a.body), ['/1', '/2', '/3', '/4', '/5']);
  t.is(most, 2);
  t.is(connections(), 2);
  p.close();
});

test('pause holds the body until resume; abort closes the connection and nothing more is heard', async (t) => {
  const { origin } = await httpServer(t, (req, res) => {
    res.writeHead(200, { 'Content-Length': '2' });
    res.write('a');
    setTimeout(() => res.end('b'), 30);
  });
  const p = pool(origin);
  let paused = false;
  const a = await exchange(p, {}, (control, answer) => {
    if (answer.body === 'a' && !paused) {
      paused = true;
      control.pause();
      setTimeout(() => {
        t.is(answer.body, 'a', 'nothing while paused');
        control.resume();
      }, 80);
    }
  });
  t.is(a.body, 'ab');
  const heard: string[] = [];
  let closed = false;
  const { origin: slow } = await httpServer(t, (req, res) => {
    res.writeHead(200, { 'Content-Length': '2' });
    res.write('x');
    res.on('close', () => (closed = true));
    setTimeout(() => res.end('y'), 40);
  });
  const q = pool(slow);
  q.dispatch(
    { method: 'GET', path: '/', headers: [], body: null, chunked: false },
    {
      onResponseStart: () => heard.push('start'),
      onResponseData: (control) => {
        heard.push('data');
        control.abort();
      },
      onResponseEnd: () => heard.push('end'),
      onResponseError: () => heard.push('error'),
    },
  );
  await new Promise((r) => setTimeout(r, 120));
  t.deepEqual(heard, ['start', 'data']);
  t.true(closed);
  p.close();
  q.close();
});

test('close fails requests still waiting and new ones with POOL_CLOSED', async (t) => {
  const { origin } = await httpServer(t, (_req, res) => setTimeout(() => res.end('ok'), 20));
  const p = pool(origin, { connections: 1 });
  const first = exchange(p);
  const waiting = exchange(p);
  p.close();
  t.is((await waiting).error, 'POOL_CLOSED');
  t.is((await first).body, 'ok', 'the one under way finishes');
  t.is((await exchange(p)).error, 'POOL_CLOSED');
});

test("a connection is not kept past a second before the upstream's Keep-Alive timeout", async (t) => {
  const { origin, connections } = await httpServer(t, (req, res) => {
    // timeout=1: dropped at once (a second of margin leaves nothing); timeout=2: kept for a second.
    res.setHeader('Keep-Alive', req.url === '/short' ? 'timeout=1' : 'timeout=2');
    res.end('ok');
  });
  const p = pool(origin);
  await exchange(p, { path: '/short' });
  await exchange(p, { path: '/short' });
  t.is(connections(), 2, 'not reused');
  await exchange(p, { path: '/long' });
  await exchange(p, { path: '/long' });
  t.is(connections(), 3, 'reused within its second');
  p.close();
});

test('a chunked upload larger than the socket buffers arrives whole, held back while the upstream reads slowly', async (t) => {
  const { origin } = await httpServer(t, (req, res) => {
    let length = 0;
    let sum = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      for (const b of chunk) sum = (sum + b) % 65_521;
      // A slow reader: the proxy's writes fill the socket and must wait.
      req.pause();
      setTimeout(() => req.resume(), 1);
    });
    req.on('end', () => res.end(`${length} ${sum}`));
  });
  const chunks = Array.from({ length: 128 }, (_, i) => Buffer.alloc(64 * 1024, i % 251));
  let sum = 0;
  for (const c of chunks) for (const b of c) sum = (sum + b) % 65_521;
  const p = pool(origin);
  const a = await exchange(p, { method: 'POST', body: Readable.from(chunks), chunked: true });
  t.is(a.body, `${128 * 64 * 1024} ${sum}`);
  p.close();
});
