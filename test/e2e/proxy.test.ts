import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { Agent, type IncomingHttpHeaders, createServer as createHttpServer, request } from 'node:http';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import type { ProxyReport } from '../../src/proxy/stats.js';
import { type RunResult, type Running, runThrottle, spawnThrottle, tempDir, waitFor } from './helpers.js';
import { closedPort, type HttpReport, serve } from './http-fixture.js';

// `throttle proxy` through the real binary, against loopback upstreams (fixtures/http-server.js) on
// random ports. Real time matters in the two serial tests (a rate seen at the upstream, and throttle http
// converging against the proxy); their bounds allow a timer's slack and a busy machine.

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
test.after.always(() => agent.destroy());

interface Proxy {
  readonly url: string;
  readonly port: number;
  readonly running: Running;
  stderr(): string;
  /** stop sends SIGTERM and resolves with the run once the proxy exited. */
  stop(): Promise<RunResult>;
}

/** startProxy runs `throttle proxy --listen 127.0.0.1:0 ...args` and waits for its `listening` line. */
async function startProxy(t: ExecutionContext, args: readonly string[]): Promise<Proxy> {
  const running = await spawnThrottle(['proxy', '--listen', '127.0.0.1:0', ...args], { timeoutMs: 30_000 });
  running.result.catch(() => undefined);
  t.teardown(() => {
    if (running.child.exitCode === null) running.child.kill('SIGKILL');
  });
  let err = '';
  running.child.stderr!.on('data', (chunk: string) => (err += chunk));
  await waitFor(() => /listening 127\.0\.0\.1:\d+\n/.test(err) || running.child.exitCode !== null, 'the proxy to listen');
  const m = /listening 127\.0\.0\.1:(\d+)\n/.exec(err);
  if (m === null) throw new Error(`the proxy did not start: ${err}`);
  const port = Number(m[1]);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    running,
    stderr: () => err,
    stop: () => {
      running.child.kill('SIGTERM');
      return running.result;
    },
  };
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** send makes one request with node:http (keep-alive unless `fresh`); a failure resolves with its error code. */
function send(url: string, o: { method?: string; headers?: Record<string, string>; body?: string; fresh?: boolean } = {}): Promise<Answer | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, { method: o.method ?? 'GET', headers: o.headers, agent: o.fresh === true ? false : agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end(o.body);
  });
}

async function ok(t: ExecutionContext, url: string, o?: Parameters<typeof send>[1]): Promise<Answer> {
  const a = await send(url, o);
  if ('error' in a) throw new Error(`${url}: ${a.error}`);
  return a;
}

function statusOf(a: Answer | { error: string }): string {
  return 'error' in a ? 'error' : String(a.status);
}

/** worstWindow: the most that any window [times[i], times[j]] exceeds `burst + ratePerSec × length`. */
function worstWindow(times: readonly number[], burst: number, ratePerSec: number): { excess: number; text: string } {
  let worst = { excess: -Infinity, text: '' };
  for (let i = 0; i < times.length; i++) {
    for (let j = i; j < times.length; j++) {
      const excess = j - i + 1 - (burst + (ratePerSec * (times[j]! - times[i]!)) / 1000);
      if (excess > worst.excess) worst = { excess, text: `${j - i + 1} in ${(times[j]! - times[i]!).toFixed(1)} ms` };
    }
  }
  return worst;
}

test.serial('-r 2/s -b 3 --on-full reject: at most 3 + 2/s × t reach the upstream; a 429\'s Retry-After, honoured, succeeds', async (t) => {
  const server = await serve(t);
  const report = join(tempDir(), 'proxy.json');
  const proxy = await startProxy(t, ['-r', '2/s', '-b', '3', '--on-full', 'reject', '--report', report, server.url]);
  // Requests one after another until the first 429 (a slow machine may earn a token between two).
  const answers: Answer[] = [];
  for (let i = 0; i < 10 && answers.at(-1)?.status !== 429; i++) answers.push(await ok(t, `${proxy.url}/a`));
  const rejected = answers.at(-1)!;
  const admitted = answers.slice(0, -1);
  t.true(admitted.length >= 3, `${admitted.length} admitted before the first 429`);
  t.deepEqual(admitted.map((a) => [a.status, a.headers['ratelimit-limit']]), admitted.map(() => [200, '3']));
  t.is(admitted[0]!.headers['ratelimit-remaining'], '2');
  t.is(admitted.at(-1)!.headers['ratelimit-remaining'], '0');
  t.is(rejected.status, 429);
  t.is(rejected.headers['retry-after'], '1', 'the next token is at most 500 ms away: one second, rounded up');
  t.is(rejected.headers['ratelimit-remaining'], '0');
  t.regex(String(rejected.headers['ratelimit-reset']), /^[12]$/);
  t.regex(rejected.body, /Too many requests/);
  await new Promise((resolve) => setTimeout(resolve, Number(rejected.headers['retry-after']) * 1000));
  t.is((await ok(t, `${proxy.url}/a`)).status, 200, 'honouring Retry-After succeeds');

  // Now push: requests back to back for 1.5 s; the upstream must see no window above 3 + 2/s × t (+1 for
  // the trip from proxy to upstream, whose length varies on a busy machine).
  server.reset();
  const statuses: Record<string, number> = {};
  const until = performance.now() + 1500;
  for (let n = 0; n < 3000 && performance.now() < until; n++) {
    const s = statusOf(await send(`${proxy.url}/push`));
    statuses[s] = (statuses[s] ?? 0) + 1;
  }
  const arrivals = server.stats.arrivals;
  t.is(statuses['200'], arrivals.length);
  t.true(arrivals.length >= 2, `only ${arrivals.length} admitted in 1.5 s`);
  t.true((statuses['429'] ?? 0) > 0);
  const worst = worstWindow(arrivals, 3, 2);
  t.true(worst.excess <= 1, `at the upstream: ${worst.text}`);
  const run = await proxy.stop();
  t.is(run.code, 0, run.stderr);
  const r = JSON.parse(readFileSync(report, 'utf8')) as ProxyReport;
  t.is(r.proxy.admitted, admitted.length + 1 + arrivals.length);
  t.is(r.proxy.rejected.rate, 1 + (statuses['429'] ?? 0));
  t.is(r.jobs.rejected, r.proxy.rejected.total);
  t.regex(run.stderr, /requests in .*admitted .*rejected \(rate \d+/);
});

test.serial('throttle http against throttle proxy with a lower limit: every request gets through, at the proxy\'s rate', async (t) => {
  const server = await serve(t);
  // Retry-After is whole seconds, so a client that honours it comes back after a full second: the burst is
  // what the proxy admits then. With a burst of a second's worth, the 60 requests take about 3 s.
  const proxy = await startProxy(t, ['-r', '20/s', '-b', '20', '--on-full', 'reject', server.url]);
  const client = await runThrottle(['http', '-r', '100/s', '-j', '10', '--requests', '60', '--retries', '30', '--json', '-q', `${proxy.url}/both?`]);
  t.is(client.code, 0, client.stderr);
  const report = JSON.parse(client.stdout) as HttpReport;
  t.like(report.jobs, { total: 60, succeeded: 60, failed: 0 });
  t.true(report.jobs.retried > 0, 'the proxy pushed back');
  t.is(server.stats.arrivals.length, 60, 'the upstream saw each request once');
  // The proxy admits within 20 + 20/s × t exactly (the unit tests hold it to that); at the upstream, a burst
  // of 20 admitted at once opens up to 20 new connections, whose set-up spreads and bunches them on a busy
  // machine: a few more in a window are the trip's jitter, many more would be a broken bucket.
  const worst = worstWindow(server.stats.arrivals, 20, 20);
  t.true(worst.excess <= 3, `at the upstream: ${worst.text}`);
  t.is((await proxy.stop()).code, 0);
});

test('-j 2 --mutating-concurrency 1: the upstream never sees more than 2 reads and 1 write at once; all wait their turn', async (t) => {
  const server = await serve(t);
  const proxy = await startProxy(t, ['-j', '2', '--mutating-concurrency', '1', server.url]);
  const reads = Array.from({ length: 6 }, () => send(`${proxy.url}/r?delay=120`));
  const writes = Array.from({ length: 3 }, () => send(`${proxy.url}/w?delay=120`, { method: 'POST', body: 'x' }));
  const all = await Promise.all([...reads, ...writes]);
  t.deepEqual(all.map(statusOf), Array(9).fill('200'));
  t.deepEqual(server.stats.maxOpenByClass, { readOnly: 2, mutating: 1 });
  t.is(server.stats.bytesReceived, 3, 'request bodies were streamed through');
  const run = await proxy.stop();
  t.regex(run.stderr, /peak 3 in flight \(read-only 2, mutating 1\)/);
  t.regex(run.stderr, /9 admitted \([1-9]\d* waited/);
});

test('round-robin spreads evenly and skips a dead upstream; --sticky keeps a client on one', async (t) => {
  const [a, b] = [await serve(t), await serve(t)];
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const proxy = await startProxy(t, ['--sticky', 'X-Session', a.url, dead, b.url]);
  for (let i = 0; i < 30; i++) t.is((await ok(t, `${proxy.url}/rr`)).status, 200);
  t.deepEqual([a.stats.arrivals.length, b.stats.arrivals.length], [15, 15]);
  a.reset();
  b.reset();
  for (let i = 0; i < 6; i++) await ok(t, `${proxy.url}/s`, { headers: { 'X-Session': 'one' } });
  t.deepEqual([a.stats.arrivals.length, b.stats.arrivals.length].sort(), [0, 6]);
  const run = await proxy.stop();
  t.regex(run.stderr, new RegExp(`upstream +${dead.replace(/[.]/g, '\\.')} +[1-9]\\d* requests +ECONNREFUSED [1-9]`));
});

test('--tcp: bytes pass both ways, a half-close reaches the upstream while its answer still comes back; a dead upstream is skipped', async (t) => {
  // An echo server that answers only once the client has half-closed: `echo:` + everything it sent.
  const echo = (): Promise<Server> =>
    new Promise((resolve) => {
      const s = createServer({ allowHalfOpen: true }, (sock: Socket) => {
        let got = '';
        sock.setEncoding('utf8').on('data', (c: string) => (got += c));
        sock.on('end', () => setTimeout(() => sock.end(`echo:${got}`), 50));
      });
      s.listen(0, '127.0.0.1', () => resolve(s));
      t.teardown(() => s.close());
    });
  const [e1, e2] = [await echo(), await echo()];
  const counts = [0, 0];
  e1.on('connection', () => counts[0]!++);
  e2.on('connection', () => counts[1]!++);
  const dead = await closedPort();
  const proxy = await startProxy(t, ['--tcp', `127.0.0.1:${(e1.address() as AddressInfo).port}`, `127.0.0.1:${dead}`, `127.0.0.1:${(e2.address() as AddressInfo).port}`]);
  const exchange = (text: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const sock = connect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
      let got = '';
      sock.setEncoding('utf8').on('data', (c: string) => (got += c));
      sock.on('end', () => {
        sock.end();
        resolve(got);
      });
      sock.on('error', reject);
      sock.write(text.slice(0, 3));
      setTimeout(() => sock.end(text.slice(3)), 20);
    });
  const answers = [];
  for (const text of ['hello', 'big:'.padEnd(200_000, 'x'), 'third', 'fourth']) answers.push(await exchange(text));
  t.is(answers[0], 'echo:hello');
  t.is(answers[1]!.length, 200_005);
  t.deepEqual(answers.slice(2), ['echo:third', 'echo:fourth']);
  t.deepEqual(counts, [2, 2]);
  const run = await proxy.stop();
  t.is(run.code, 0, run.stderr);
  t.regex(run.stderr, /4 connections in .*4 admitted/);
});

test('--inject: faults appear at their seeded rates, and the same seed gives the same ones', async (t) => {
  const server = await serve(t);
  const sequence = async (): Promise<string[]> => {
    const proxy = await startProxy(t, ['--inject', 'status=503 rate=20%', '--inject', 'reset rate=5%', '--inject', 'delay=30ms rate=5%', '--seed', '7', server.url]);
    const seen: string[] = [];
    for (let i = 0; i < 150; i++) {
      const started = performance.now();
      const s = statusOf(await send(`${proxy.url}/f`, { fresh: true }));
      seen.push(s === '200' && performance.now() - started >= 30 ? 'slow' : s);
    }
    const run = await proxy.stop();
    t.regex(run.stderr, /injected {2}'status=503 rate=20%' \d+, 'reset rate=5%' \d+, 'delay=30ms rate=5%' \d+/);
    return seen;
  };
  const first = await sequence();
  const count = (s: string): number => first.filter((x) => x === s).length;
  // 150 draws: 30 503s, 7.5 resets and 7.5 delays expected; these bounds are about 3 standard deviations.
  t.true(count('503') >= 15 && count('503') <= 45, `503: ${count('503')}`);
  t.true(count('error') >= 1 && count('error') <= 17, `resets: ${count('error')}`);
  t.true(count('slow') >= 1, `delays: ${count('slow')}`);
  const second = await sequence();
  t.deepEqual(second.map((s) => (s === 'slow' ? '200' : s)), first.map((s) => (s === 'slow' ? '200' : s)));
});

test('--exempt-header skips the limits and is not forwarded; SIGUSR1 prints the report; SIGTERM lets a request finish', async (t) => {
  const server = await serve(t);
  const proxy = await startProxy(t, ['-r', '1/s', '--on-full', 'reject', '--exempt-header', 'X-Admin: s3cret', '--drain', '5s', server.url]);
  t.is((await ok(t, `${proxy.url}/e`)).status, 200);
  t.is((await ok(t, `${proxy.url}/e`)).status, 429);
  t.is((await ok(t, `${proxy.url}/e`, { headers: { 'X-Admin': 's3cret' } })).status, 200);
  t.is(server.stats.requests.at(-1)!.headers['x-admin'], undefined);
  t.is(server.stats.requests.at(-1)!.headers['x-forwarded-for'], '127.0.0.1');
  proxy.running.child.kill('SIGUSR1');
  await waitFor(() => /3 requests in/.test(proxy.stderr()), 'the report on SIGUSR1');
  const slow = send(`${proxy.url}/slow?delay=400`, { headers: { 'X-Admin': 's3cret' } });
  await waitFor(() => server.stats.open === 1, 'the slow request to reach the upstream');
  proxy.running.child.kill('SIGTERM');
  const answer = await slow;
  t.is(statusOf(answer), '200', 'the request under way finished');
  const run = await proxy.running.result;
  t.is(run.code, 0, run.stderr);
  t.regex(run.stderr, /4 requests in .*: 3 admitted \(0 waited, 2 exempt\), 1 rejected/);
  t.notRegex(run.stderr, /s3cret/);
});

test('listens only where told: a non-loopback --listen needs --public', async (t) => {
  const run = await runThrottle(['proxy', '--listen', '0.0.0.0:0', 'http://127.0.0.1:9']);
  t.is(run.code, 2);
  t.regex(run.stderr, /^throttle: --listen 0\.0\.0\.0:0: not a loopback address.*--public/);
  t.is(run.stderr.split('\n').length, 2, 'one line');
});

test('bodies pass both ways: a sized upload, a chunked one, a HEAD, a 1 MB answer streamed; a silent upstream is a 504 after --timeout', async (t) => {
  const upstream = createHttpServer((req, res) => {
    if (req.url === '/silent') return; // never answered
    if (req.url === '/big') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      for (let i = 0; i < 64; i++) res.write(Buffer.alloc(16 * 1024, i));
      return res.end();
    }
    let length = 0;
    let sum = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      for (const b of chunk) sum = (sum + b) % 65_521;
    });
    req.on('end', () => {
      const body = `${req.method} ${req.headers['transfer-encoding'] ?? `length=${req.headers['content-length'] ?? 0}`} ${length} ${sum}\n`;
      res.writeHead(200, { 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    upstream.closeAllConnections();
    upstream.close();
  });
  const proxy = await startProxy(t, ['--timeout', '300ms', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`]);
  const upload = 'throttle '.repeat(20_000);
  const checksum = (s: string): number => [...Buffer.from(s)].reduce((a, b) => (a + b) % 65_521, 0);
  t.is((await ok(t, `${proxy.url}/up`, { method: 'POST', body: upload })).body, `POST length=${upload.length} ${upload.length} ${checksum(upload)}\n`);
  const chunked = await new Promise<string>((resolve, reject) => {
    const req = request(`${proxy.url}/chunks`, { method: 'PUT', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.write('abc');
    setTimeout(() => req.end('defg'), 20);
  });
  t.is(chunked, `PUT chunked 7 ${checksum('abcdefg')}\n`);
  const head = await ok(t, `${proxy.url}/h`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(head.body, '');
  const big = await new Promise<Buffer>((resolve, reject) => {
    request(`${proxy.url}/big`, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    })
      .on('error', reject)
      .end();
  });
  t.is(big.length, 64 * 16 * 1024);
  t.is(big[16 * 1024 * 63], 63);
  const silent = await ok(t, `${proxy.url}/silent`);
  t.is(silent.status, 504);
  t.regex(silent.body, /upstream timed out: .*HEADERS_TIMEOUT/);
  await proxy.stop();
});
