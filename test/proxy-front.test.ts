import test, { type ExecutionContext } from 'ava';
import { type Socket, connect } from 'node:net';
import { FrontServer, type FrontOptions, type ProxyReply, type ProxyRequest } from '../src/proxy/front.js';

// The proxy's server side against raw client sockets on loopback: the exact bytes of requests and answers.

/** start runs a FrontServer whose handler the test gives; resolves with its port. */
async function start(t: ExecutionContext, onRequest: FrontOptions['onRequest'], o: Partial<FrontOptions> = {}): Promise<{ port: number; server: FrontServer }> {
  const server = new FrontServer({ keepAliveMs: 30_000, headersTimeoutMs: 60_000, onRequest, ...o });
  const { port } = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.destroy());
  return { port, server };
}

/** echo answers `METHOD url body-length` once the body is read, with a Content-Length unless told not to. */
function echo(req: ProxyRequest, reply: ProxyReply): void {
  const chunks: Buffer[] = [];
  const answer = (): void => {
    const text = `${req.method} ${req.url} ${Buffer.concat(chunks).length}`;
    if (req.url.includes('chunked')) {
      reply.writeHead(200, ['X-Mode', 'chunked']);
      reply.write(Buffer.from(text));
      reply.end();
    } else {
      reply.writeHead(200, ['Content-Length', String(Buffer.byteLength(text))]);
      reply.end(text);
    }
  };
  if (req.body === null) return answer();
  req.body.on('data', (c: Buffer) => chunks.push(c));
  req.body.on('end', answer);
}

/** talk opens a connection, sends `data`, and resolves with everything received until the server closes it or `ms` pass. */
function talk(port: number, data: string | string[], ms = 300): Promise<{ text: string; closed: boolean; socket: Socket }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    const parts = Array.isArray(data) ? data : [data];
    socket.on('connect', () => {
      parts.forEach((p, i) => setTimeout(() => socket.write(p), i * 20));
    });
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => undefined);
    const done = (): void => resolve({ text, closed, socket });
    socket.on('close', () => {
      closed = true;
      done();
    });
    setTimeout(done, ms);
  });
}

const bodyOf = (response: string): string => response.slice(response.indexOf('\r\n\r\n') + 4);

test('keep-alive requests, pipelined ones answered in order, each with Date; Connection: close ends the connection', async (t) => {
  const delays: Record<string, number> = { '/slow': 60, '/fast': 0 };
  const { port } = await start(t, (req, reply) => setTimeout(() => echo(req, reply), delays[req.url] ?? 0));
  const r = await talk(port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const answers = r.text.split('HTTP/1.1 200 OK').slice(1);
  t.is(answers.length, 3);
  t.deepEqual(answers.map((a) => bodyOf(a).trim()), ['GET /slow 0', 'GET /fast 0', 'GET /last 0']);
  t.true(answers.every((a) => /\r\nDate: .+ GMT\r\n/.test(a)));
  t.regex(answers[2]!, /Connection: close/);
  t.true(r.closed);
});

test('bodies: sized and chunked uploads are streamed; an answer without a length goes chunked, or close-delimited to HTTP/1.0', async (t) => {
  const { port } = await start(t, echo);
  const sized = await talk(port, ['POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345', '67890']);
  t.is(bodyOf(sized.text), 'POST /s 10');
  const chunked = await talk(port, 'PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n');
  t.is(bodyOf(chunked.text), 'PUT /c 5');
  const out = await talk(port, 'GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n');
  t.regex(out.text, /Transfer-Encoding: chunked\r\n/);
  t.is(bodyOf(out.text), 'e\r\nGET /chunked 0\r\n0\r\n\r\n');
  const old = await talk(port, 'GET /chunked HTTP/1.0\r\n\r\n');
  t.notRegex(old.text, /Transfer-Encoding/);
  t.regex(old.text, /Connection: close/);
  t.is(bodyOf(old.text), 'GET /chunked 0');
  t.true(old.closed);
  const kept = await talk(port, 'GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  t.regex(kept.text, /Connection: keep-alive\r\n/);
  t.false(kept.closed);
  kept.socket.destroy();
});

test('Expect: 100-continue is answered at once; a HEAD answer carries no body', async (t) => {
  const { port } = await start(t, echo);
  const r = await talk(port, ['PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n', 'ok']);
  t.true(r.text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n'));
  t.is(bodyOf(r.text.slice(25)), 'PUT /e 2');
  const head = await talk(port, 'HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n');
  t.regex(head.text, /Content-Length: 9\r\n/);
  t.is(bodyOf(head.text), '');
});

test('a malformed request is a 400, an oversized head a 431, a too slow head a 408; each closes its connection', async (t) => {
  const { port } = await start(t, echo, { headersTimeoutMs: 50 });
  const bad = await talk(port, 'GET / HTTP/1.1\r\nBad Header\r\n\r\n');
  t.regex(bad.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.true(bad.closed);
  const big = await talk(port, `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.regex(big.text, /^HTTP\/1\.1 431 /);
  const slow = await talk(port, 'GET / HTTP/1.1\r\nHost: x\r\n', 2500);
  t.regex(slow.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  t.true(slow.closed);
});

test('an upgrade request is answered as a plain one, then its connection closes', async (t) => {
  const { port } = await start(t, echo);
  const r = await talk(port, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello');
  t.is(bodyOf(r.text), 'GET /ws 0');
  t.true(r.closed);
});

test('a body nobody reads is drained after the answer, and the next request on the connection is served', async (t) => {
  const { port } = await start(t, (req, reply) => {
    reply.writeHead(413, ['Content-Length', '4']);
    reply.end(req.url === '/big' ? 'nope' : 'next');
  });
  const r = await talk(port, [`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(50_000)}`, `${'x'.repeat(50_000)}GET /after HTTP/1.1\r\nHost: x\r\n\r\n`]);
  const answers = r.text.split('HTTP/1.1 413 Payload Too Large').slice(1);
  t.deepEqual(answers.map(bodyOf), ['nope', 'next']);
});

test('an idle connection closes after keepAliveMs; close() ends idle ones at once, busy ones after their answer', async (t) => {
  let release: (() => void) | undefined;
  const { port, server } = await start(
    t,
    (req, reply) => {
      if (req.url === '/hold') release = () => echo(req, reply);
      else echo(req, reply);
    },
    { keepAliveMs: 50 },
  );
  const idle = await talk(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 2500);
  t.true(idle.closed, 'closed by the sweep once idle past keepAliveMs');
  const busy = talk(port, 'GET /hold HTTP/1.1\r\nHost: x\r\n\r\n', 1000);
  await new Promise((r) => setTimeout(r, 50));
  server.close();
  release!();
  const r = await busy;
  t.is(bodyOf(r.text), 'GET /hold 0');
  t.regex(r.text, /Connection: close/);
  t.true(r.closed);
});

test('the client going away calls onClose for an answer under way, with finished false', async (t) => {
  let seen: ProxyReply | undefined;
  const closed = new Promise<boolean>((resolve) => {
    void start(t, (_req, reply) => {
      seen = reply;
      reply.onClose = () => resolve(reply.finished);
    }).then(({ port }) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      setTimeout(() => socket.destroy(), 50);
    });
  });
  t.false(await closed);
  t.truthy(seen);
});
