import test from 'ava';
import { type RawProxyOptions, isLoopback, parseExempt, parseListen, parseTcpTarget, proxySettings } from '../src/cli/proxy-settings.js';
import { UsageError } from '../src/errors.js';
import { RoundRobin } from '../src/proxy/balancer.js';
import { FaultPicker, parseFault } from '../src/proxy/faults.js';
import { responseHeaders, scanRequest } from '../src/proxy/headers.js';
import { ProxyStats } from '../src/proxy/stats.js';
import { formatProxyReport } from '../src/report/proxy.js';
import { mulberry32 } from '../src/sources/trace/prng.js';

// The proxy's pure parts besides admission: the balancer, header handling, fault rules, settings, the report.

test('RoundRobin: in turn; a failed dial skips the upstream for 1 s, doubling while it keeps failing', (t) => {
  const rr = new RoundRobin(3);
  t.deepEqual([0, 0, 0, 0, 0, 0].map(() => rr.pick(0)), [0, 1, 2, 0, 1, 2]);
  rr.failed(1, 0);
  t.deepEqual([0, 0, 0, 0].map(() => rr.pick(500)), [0, 2, 0, 2]);
  t.deepEqual([0, 0, 0].map(() => rr.pick(1000)), [0, 1, 2], 'back after 1 s');
  rr.failed(1, 1000);
  t.true(rr.down(1, 2999));
  t.false(rr.down(1, 3000), 'second failure: 2 s');
  rr.succeeded(1);
  rr.failed(1, 5000);
  t.false(rr.down(1, 6000), 'a success starts the doubling over');
});

test('RoundRobin: when every upstream is down, the one due back first is tried', (t) => {
  const rr = new RoundRobin(3);
  rr.failed(0, 0);
  rr.failed(1, 0);
  rr.failed(1, 0);
  rr.failed(2, 0);
  rr.failed(2, 0);
  rr.failed(2, 0);
  t.is(rr.pick(10), 0);
});

test('RoundRobin: a sticky key stays on its upstream, and moves only when it is down', (t) => {
  const rr = new RoundRobin(3);
  t.is(rr.pick(0, 'a'), 0);
  t.is(rr.pick(0, 'b'), 1);
  t.is(rr.pick(0), 2);
  t.deepEqual([rr.pick(1, 'a'), rr.pick(2, 'b'), rr.pick(3, 'a')], [0, 1, 0]);
  rr.failed(0, 10);
  const moved = rr.pick(20, 'a');
  t.not(moved, 0);
  t.is(rr.pick(5000, 'a'), moved, 'it stays where it moved, even once the old one is back');
});

test('scanRequest: hop-by-hop fields and those Connection names stay behind; X-Forwarded-For is appended', (t) => {
  const raw = ['Host', 'x', 'Connection', 'keep-alive, X-Secret', 'X-Secret', 's', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Expect', '100-continue', 'Transfer-Encoding', 'chunked', 'Accept', '*/*', 'X-Forwarded-For', '10.0.0.1', 'X-Admin', 'yes', 'X-Api-Key', 'k1', 'X-Session', 's9'];
  const s = scanRequest(raw, '127.0.0.1', { exempt: [['x-admin', 'yes']], keyHeader: 'x-api-key', stickyHeader: 'x-session' });
  t.deepEqual(s.headers, ['Host', 'x', 'Accept', '*/*', 'X-Api-Key', 'k1', 'X-Session', 's9', 'x-forwarded-for', '10.0.0.1, 127.0.0.1']);
  t.like(s, { exempt: true, key: 'k1', sticky: 's9', hasBody: true, chunked: true });
  const plain = scanRequest(['Host', 'x', 'Content-Length', '0', 'X-Admin', 'no'], '::1', { exempt: [['x-admin', 'yes']], keyHeader: undefined, stickyHeader: undefined });
  t.like(plain, { exempt: false, key: '::1', sticky: undefined, hasBody: false, chunked: false });
  t.deepEqual(plain.headers, ['Host', 'x', 'Content-Length', '0', 'X-Admin', 'no', 'x-forwarded-for', '::1']);
});

test('responseHeaders: hop-by-hop fields dropped, RateLimit fields set (replacing an upstream\'s own)', (t) => {
  const up = ['Content-Type', 'text/plain', 'Connection', 'close, X-Hop', 'X-Hop', '1', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Keep-Alive', 'timeout=5', 'Set-Cookie', 'b=2', 'RateLimit-Limit', '99'];
  t.deepEqual(responseHeaders(up, { limit: 5, remaining: 4, resetSec: 1 }), [
    'Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2',
    'RateLimit-Limit', '5', 'RateLimit-Remaining', '4', 'RateLimit-Reset', '1',
  ]);
  t.deepEqual(responseHeaders(['ratelimit-limit', '99'], undefined), ['ratelimit-limit', '99'], 'without limits of its own the proxy passes them on');
});

test('parseFault: status, delay, reset and rate; errors name the problem', (t) => {
  t.like(parseFault('status=503 rate=5%'), { status: 503, probability: 0.05, delayMs: 0, reset: false });
  t.like(parseFault('delay=200ms rate=0.1'), { status: undefined, probability: 0.1, delayMs: 200 });
  t.like(parseFault(' reset  rate=1% '), { reset: true, probability: 0.01, text: 'reset rate=1%' });
  t.like(parseFault('delay=1s status=429'), { status: 429, delayMs: 1000, probability: 1 });
  for (const [bad, why] of [['', /say what to do/], ['rate=5%', /say what to do/], ['status=5031', /unknown term/], ['status=503 reset', /exclude/], ['delay=5', /bad delay/], ['status=503 rate=120%', /bad rate/], ['status=503 status=500', /twice/], ['boom', /unknown term/]] as const) {
    t.throws(() => parseFault(bad), { message: why }, bad);
  }
});

test('FaultPicker: seeded draws land at the rules\' rates', (t) => {
  const picker = new FaultPicker([parseFault('status=503 rate=10%'), parseFault('delay=5ms rate=20%')], mulberry32(7));
  for (let i = 0; i < 20_000; i++) picker.pick();
  t.true(Math.abs(picker.counts[0]! / 20_000 - 0.1) < 0.01, `503 share ${picker.counts[0]! / 20_000}`);
  t.true(Math.abs(picker.counts[1]! / 20_000 - 0.2) < 0.01, `delay share ${picker.counts[1]! / 20_000}`);
  t.throws(() => new FaultPicker([parseFault('reset rate=60%'), parseFault('reset rate=50%')], Math.random), { instanceOf: RangeError });
});

test('parseListen: loopback only unless --public; bare ports and IPv6', (t) => {
  t.deepEqual(parseListen('127.0.0.1:8080', false), { host: '127.0.0.1', port: 8080 });
  t.deepEqual(parseListen('0', false), { host: '127.0.0.1', port: 0 });
  t.deepEqual(parseListen('[::1]:9000', false), { host: '::1', port: 9000 });
  t.deepEqual(parseListen('localhost:1', false), { host: 'localhost', port: 1 });
  t.throws(() => parseListen('0.0.0.0:8080', false), { instanceOf: UsageError, message: /--public/ });
  t.deepEqual(parseListen('0.0.0.0:8080', true), { host: '0.0.0.0', port: 8080 });
  for (const bad of ['127.0.0.1', ':8080', '127.0.0.1:99999', '::1:80', 'host:port']) t.throws(() => parseListen(bad, true), { instanceOf: UsageError, message: /--listen/ }, bad);
  t.deepEqual(['127.9.9.9', '::1', 'localhost', '10.0.0.1', '::', 'example.test'].map(isLoopback), [true, true, true, false, false, false]);
});

test('parseTcpTarget and parseExempt', (t) => {
  t.deepEqual(parseTcpTarget('127.0.0.1:5432'), { host: '127.0.0.1', port: 5432 });
  t.deepEqual(parseTcpTarget('tcp://[::1]:6379'), { host: '::1', port: 6379 });
  t.throws(() => parseTcpTarget('127.0.0.1'), { instanceOf: UsageError });
  t.deepEqual(parseExempt('X-Admin: s3cret '), ['x-admin', 's3cret']);
  const err = t.throws(() => parseExempt('X-Admin s3cret'), { instanceOf: UsageError });
  t.false(err?.message.includes('s3cret'), 'the secret is not echoed');
});

test('proxySettings: defaults limit nothing; flags that need HTTP are refused with --tcp', (t) => {
  const s = proxySettings(['http://127.0.0.1:9000', '127.0.0.1:9001/api/'], {});
  t.like(s, { listen: { host: '127.0.0.1', port: 8080 }, tcp: false, ratePerSec: Infinity, burst: 1, concurrency: Infinity, onFull: 'wait', maxWaitMs: 10_000, drainMs: 5000, timeoutMs: Infinity, seed: 1 });
  t.deepEqual(s.upstreamNames, ['http://127.0.0.1:9000', 'http://127.0.0.1:9001/api']);
  const tcp = proxySettings(['127.0.0.1:5432'], { tcp: true, concurrency: '10', inject: ['reset rate=1%'] });
  t.deepEqual(tcp.tcpUpstreams, [{ host: '127.0.0.1', port: 5432 }]);
  const refused: Array<[RawProxyOptions, RegExp]> = [
    [{ tcp: true, sticky: 'x' }, /--sticky applies to HTTP/],
    [{ tcp: true, mutatingConcurrency: '2' }, /--mutating-concurrency/],
    [{ tcp: true, inject: ['status=503'] }, /needs HTTP/],
    [{ perKeyBurst: '5' }, /needs --per-key-rate/],
    [{ inject: ['reset rate=60%', 'status=503 rate=50%'] }, /add up to 110.0%/],
    [{ rate: '0' }, /would admit nothing/],
    [{ listen: '0.0.0.0:80' }, /--public/],
    [{ onFull: 'drop' }, /--on-full/],
  ];
  for (const [o, why] of refused) {
    t.throws(() => proxySettings(['127.0.0.1:9000'], o), { instanceOf: UsageError, message: why });
  }
  t.throws(() => proxySettings([], {}), { instanceOf: UsageError, message: /no upstream/ });
});

test('ProxyStats and the text report: counts, added latency, upstreams, faults', (t) => {
  const stats = new ProxyStats(['http://127.0.0.1:9000', 'http://127.0.0.1:9001']);
  stats.failedDial(1, 'ECONNREFUSED');
  stats.add({ arrivalMs: 0, endMs: 10, status: 'ok', code: 200, upstream: 0, tries: 2, throttleMs: 0, serviceMs: 9, addedMs: 1 });
  stats.add({ arrivalMs: 1, endMs: 2, status: 'rejected', code: 429, upstream: undefined, tries: 0, throttleMs: 0, serviceMs: 0, addedMs: undefined });
  stats.add({ arrivalMs: 2, endMs: 5, status: 'failed', code: 502, upstream: 1, tries: 1, upstreamError: 'ECONNREFUSED', throttleMs: 0, serviceMs: 1, addedMs: 2 });
  const counts = { admitted: 2, waited: 0, exempt: 0, rejected: { rate: 1, perKey: 0, concurrency: 0, gone: 0 }, injected: { 'status=503 rate=5%': 0 }, inFlight: 0, waiting: 0, peak: { total: 1, readOnly: 1, mutating: 0 } };
  const config = { listen: '127.0.0.1:8080', protocol: 'http', upstreams: [], rate: 1, burst: 1, concurrency: null, mutatingConcurrency: null, onFull: 'reject', maxWaitMs: 0, perKey: null, sticky: null, exemptHeaders: [], inject: [], seed: 1, timeoutMs: null, drainMs: 0 } as const;
  const r = stats.report('proxy', config, 1000, counts);
  t.like(r, { version: 1, jobs: { total: 3, succeeded: 1, failed: 1, rejected: 1 }, outcomes: { 200: 1, 429: 1, 502: 1 }, inflight: { peak: 1 }, proxy: { admitted: 2, rejected: { total: 1, rate: 1 } } });
  t.like(r.addedMs, { count: 2, max: 2 });
  t.deepEqual(r.upstreams['http://127.0.0.1:9001'], { requests: 2, outcomes: { ECONNREFUSED: 2 }, serviceMs: { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 } });
  t.deepEqual(r.upstreams['http://127.0.0.1:9000']!.outcomes, { 200: 1 });
  const text = formatProxyReport(r);
  t.regex(text, /^3 requests in 1\.00s \(3\.00\/s\): 2 admitted \(0 waited, 0 exempt\), 1 rejected \(rate 1, per-key 0, in-flight cap 0\), 1 failed; peak 1 in flight/);
  t.regex(text, /\n {2}added {5}p50/);
  t.regex(text, /upstream {2}http:\/\/127\.0\.0\.1:9001 +2 requests {3}ECONNREFUSED 2/);
  t.regex(text, /injected {2}'status=503 rate=5%' 0/);
});
