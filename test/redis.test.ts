import anyTest, { type TestFn } from 'ava';
import { Redis } from 'ioredis';
import { limitSettings } from '../src/cli/settings.js';
import { RedisInflight } from '../src/distributed/inflight.js';
import { RedisLimiter } from '../src/distributed/limiter.js';
import { openShared } from '../src/distributed/open.js';
import { keysOf } from '../src/distributed/scripts.js';
import { UsageError } from '../src/errors.js';
import { HAVE_REDIS, NO_REDIS, RedisServer } from './redis-server.js';

// The shared limits against a real redis-server (one per file, and one of their own for the tests that stop
// or flush it). Times here are Redis's: delays are checked to the millisecond only where Redis computed them.

const test = anyTest as TestFn;
const maybe = HAVE_REDIS ? test : test.skip;
if (!HAVE_REDIS) {
  test('shared limits need redis-server', (t) => {
    t.log(NO_REDIS);
    t.pass();
  });
}

let server: RedisServer | undefined;
const clients: Redis[] = [];
let keySeq = 0;

/** client opens a connection to the file's server (closed after all tests). */
function client(url = server!.url): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  clients.push(redis);
  return redis;
}

/** key is a budget name no other test uses. */
function key(): string {
  return `t${process.pid}-${++keySeq}`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** waitUntil polls an async check until it holds (or throws after 5 s). */
async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  const untilMs = performance.now() + 5000;
  while (!(await check())) {
    if (performance.now() > untilMs) throw new Error('waited 5 s for a condition');
    await sleep(10);
  }
}

/** redisOf returns a connection for looking at a budget's keys. */
const lookers = new Map<string, Redis>();
function redisOf(name: string): Redis {
  let r = lookers.get(name);
  if (r === undefined) {
    r = client();
    lookers.set(name, r);
  }
  return r;
}

test.before(async () => {
  if (HAVE_REDIS) server = await RedisServer.start();
});

test.after.always(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
});

// --- settings (no server needed) ------------------------------------------------------------------------------

test('--redis: the settings, and --key as the budget\'s name rather than a per-key template', (t) => {
  const s = limitSettings({ redis: 'redis://:pw@127.0.0.1:6390/2', key: 'ci-api', lease: '2s', redisFail: 'open', perKeyRate: '5/s' });
  t.deepEqual(s.redis, { url: 'redis://:pw@127.0.0.1:6390/2', key: 'ci-api', onFail: 'open', leaseMs: 2000 });
  t.is(s.keyTemplate, undefined);
  t.like(limitSettings({ redis: 'rediss://cache.example.test', key: 'a' }).redis, { onFail: 'closed', leaseMs: 10_000 });
  t.false('redis' in limitSettings({}));
});

test('--redis: what does not fit is a usage error naming the flag', (t) => {
  const bad: Array<[Parameters<typeof limitSettings>[0], RegExp]> = [
    [{ redis: 'redis://127.0.0.1' }, /^--redis needs --key/],
    [{ redis: '127.0.0.1:6379', key: 'a' }, /^--redis: invalid URL/],
    [{ redis: 'redis://127.0.0.1', key: 'a b' }, /^--key: invalid name "a b"/],
    [{ redis: 'redis://127.0.0.1', key: 'a', lease: '100ms' }, /^--lease: 100ms is too short/],
    [{ redis: 'redis://127.0.0.1', key: 'a', redisFail: 'maybe' }, /^--redis-fail: invalid value "maybe"/],
    [{ redis: 'redis://127.0.0.1', key: 'a', adaptive: true, rate: '10/s' }, /^--redis and --adaptive/],
    [{ redis: 'redis://127.0.0.1', key: 'a', rate: '10/s@1s,20/s' }, /^--redis and a --rate plan/],
    [{ lease: '5s' }, /^--lease applies to limits shared through Redis/],
  ];
  for (const [o, message] of bad) t.throws(() => limitSettings(o), { instanceOf: UsageError, message }, JSON.stringify(o));
});

// --- token bucket --------------------------------------------------------------------------------------------

maybe('a new bucket is full: burst 3 at 1/s grants three at once, then one per second of Redis time', async (t) => {
  const lim = new RedisLimiter(client(), key(), { limit: 1, burst: 3 });
  const rs = [];
  for (let i = 0; i < 5; i++) rs.push(await lim.reserveN(1));
  t.deepEqual(rs.slice(0, 3).map((r) => r.delayMs), [0, 0, 0]);
  // The bucket was full at the first call: the 4th and 5th tokens are due 1 and 2 s after it, on Redis's
  // clock, however long the calls in between took.
  const first = rs[0]!.timeToActMs;
  t.true(Math.abs(rs[3]!.timeToActMs - first - 1000) < 0.01, `4th due after ${rs[3]!.timeToActMs - first} ms`);
  t.true(Math.abs(rs[4]!.timeToActMs - first - 2000) < 0.01, `5th due after ${rs[4]!.timeToActMs - first} ms`);
  t.true(rs[4]!.delayMs > 1000 && rs[4]!.delayMs <= 2000);
});

maybe('cancel gives the tokens back (once), so the next reservation waits no longer', async (t) => {
  const lim = new RedisLimiter(client(), key(), { limit: 1, burst: 1 });
  t.is((await lim.reserveN(1)).delayMs, 0);
  const r = await lim.reserveN(1);
  t.true(r.delayMs > 0, `${r.delayMs}`);
  await r.cancel();
  await r.cancel();
  const next = await lim.reserveN(1);
  t.true(Math.abs(next.timeToActMs - r.timeToActMs) < 0.01, `the next is due ${next.timeToActMs - r.timeToActMs} ms after the cancelled one`);
  const after = await lim.reserveN(1);
  t.true(Math.abs(after.timeToActMs - r.timeToActMs - 1000) < 0.01, 'a second cancel gave nothing back');
});

maybe('allowN refuses without taking anything; more than the burst is never granted', async (t) => {
  const lim = new RedisLimiter(client(), key(), { limit: 1, burst: 2 });
  t.true(await lim.allowN(2));
  t.false(await lim.allow());
  t.false(await lim.allow());
  const big = await lim.reserveN(3);
  t.false(big.ok);
  t.is(big.delay(), Infinity);
  await t.throwsAsync(lim.waitN(3), { instanceOf: RangeError, message: /exceeds the burst \(2\)/ });
});

maybe('waitN sleeps for the delay Redis gave; an abort rejects with the reason and cancels', async (t) => {
  const lim = new RedisLimiter(client(), key(), { limit: 5, burst: 1 });
  await lim.wait();
  const t0 = performance.now();
  await lim.wait();
  const waited = performance.now() - t0;
  t.true(waited >= 150 && waited < 2000, `waited ${waited} ms`);
  const stop = new AbortController();
  const pending = lim.waitN(1, { signal: stop.signal });
  const reason = new Error('stop');
  setTimeout(() => stop.abort(reason), 10);
  await t.throwsAsync(pending, { is: reason });
  await sleep(20); // the cancel goes out in the background
  // Without the cancel the next token would be due 400 ms after the last wait; with it, 200 ms.
  const next = await lim.reserveN(1);
  t.true(next.delayMs < 300, `the aborted wait's token came back: next waits ${next.delayMs} ms`);
});

maybe('the config lives with the key: a later sharer follows it, and a change reaches every sharer', async (t) => {
  const name = key();
  const a = new RedisLimiter(client(), name, { limit: 10, burst: 1 });
  const b = new RedisLimiter(client(), name, { limit: 1000, burst: 50 });
  t.true(await a.allow());
  t.false(await b.allow(), 'b uses the key\'s 10/s burst 1, not its own 1000/s burst 50');
  t.like(await b.config(), { ratePerSec: 10, burst: 1 });
  await b.setLimit(1000);
  await b.setBurst(50);
  t.like(await a.config(), { ratePerSec: 1000, burst: 50 });
  // a now books 50 tokens at a time (its own burst was 1) and they refill at 1000/s: 50 ms apart in debt.
  const rs = [await a.reserveN(50), await a.reserveN(50), await a.reserveN(50)];
  t.true(rs.every((r) => r.ok));
  t.true(rs[2]!.delayMs > 0);
  t.true(Math.abs(rs[2]!.timeToActMs - rs[1]!.timeToActMs - 50) < 0.01, `${rs[2]!.timeToActMs - rs[1]!.timeToActMs} ms apart`);
});

maybe('an unlimited rate admits everything and keeps no bucket state', async (t) => {
  const name = key();
  const redis = client();
  const lim = new RedisLimiter(redis, name, { limit: Infinity, burst: 1 });
  for (let i = 0; i < 10; i++) t.is((await lim.reserveN(1)).delayMs, 0);
  t.is(await redis.hget(keysOf(name).state, 'tokens'), null);
});

maybe('the keys expire once idle', async (t) => {
  const name = key();
  const redis = client();
  const lim = new RedisLimiter(redis, name, { limit: 100, burst: 1, idleMs: 200 });
  const cap = new RedisInflight(redis, name, { limit: 1, leaseMs: 100, idleMs: 200 });
  await lim.wait();
  (await cap.acquire()).release();
  const ttl = await redis.pttl(keysOf(name).state);
  t.true(ttl > 0 && ttl <= 300, `ttl ${ttl} ms`);
  await sleep(500);
  t.is(await redis.exists(keysOf(name).state, keysOf(name).slots), 0);
});

maybe('scripts run by SHA (EVALSHA) and are loaded again after SCRIPT FLUSH', async (t) => {
  const own = await RedisServer.start();
  try {
    const redis = client(own.url);
    const lim = new RedisLimiter(redis, key(), { limit: 1e6, burst: 1e6 });
    const stats = async (): Promise<{ eval: number; evalsha: number }> => {
      const info = await redis.info('commandstats');
      const calls = (name: string): number => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
      return { eval: calls('eval'), evalsha: calls('evalsha') };
    };
    for (let i = 0; i < 5; i++) t.true(await lim.allow());
    const first = await stats();
    t.is(first.eval, 1, 'loaded once');
    t.true(first.evalsha >= 4, `${first.evalsha} EVALSHA`);
    await redis.script('FLUSH');
    await redis.config('RESETSTAT');
    for (let i = 0; i < 5; i++) t.true(await lim.allow());
    const after = await stats();
    t.is(after.eval, 1, 'loaded again once after the flush');
    t.true(after.evalsha >= 5, `${after.evalsha} EVALSHA`);
  } finally {
    await own.stop();
  }
});

// --- in-flight leases ----------------------------------------------------------------------------------------

maybe('the cap holds; a release wakes a waiter at once (not at its next poll)', async (t) => {
  const name = key();
  const cap = new RedisInflight(client(), name, { limit: 2, pollMs: 5000 });
  const a = await cap.acquire();
  const b = await cap.acquire();
  t.is(await cap.tryAcquire(), undefined);
  let got = false;
  const c = cap.acquire().then((slot) => {
    got = true;
    return slot;
  });
  await sleep(100);
  t.false(got);
  t.is(cap.queued(), 1);
  t.is(await cap.inFlight(), 2);
  const t0 = performance.now();
  a.release();
  (await c).release();
  t.true(performance.now() - t0 < 1000, `woke after ${performance.now() - t0} ms`);
  b.release();
  b.release();
  await sleep(20);
  t.is(await cap.inFlight(), 0);
  await cap.close();
});

maybe('an aborted acquire rejects with the reason and leaves the queue', async (t) => {
  const name = key();
  const redis = client();
  const cap = new RedisInflight(redis, name, { limit: 1, pollMs: 20 });
  const held = await cap.acquire();
  const stop = new AbortController();
  const pending = cap.acquire(undefined, { signal: stop.signal });
  await waitUntil(async () => (await redis.zcard(keysOf(name).queue)) === 1);
  const reason = new Error('gone');
  stop.abort(reason);
  await t.throwsAsync(pending, { is: reason });
  t.is(cap.queued(), 0);
  await waitUntil(async () => (await redis.zcard(keysOf(name).queue)) === 0);
  held.release();
  await cap.close();
});

maybe('waiters of different processes are served in arrival order', async (t) => {
  const name = key();
  const [x, y, z] = [client(), client(), client()].map((c) => new RedisInflight(c, name, { limit: 1, pollMs: 20 }));
  const held = await x!.acquire();
  const order: string[] = [];
  const wy = y!.acquire().then((s) => (order.push('y'), s));
  await waitUntil(async () => (await redisOf(name).zcard(keysOf(name).queue)) === 1);
  const wz = z!.acquire().then((s) => (order.push('z'), s));
  await waitUntil(async () => (await redisOf(name).zcard(keysOf(name).queue)) === 2);
  held.release();
  const sy = await wy;
  await sleep(100);
  t.deepEqual(order, ['y'], 'z waits behind y');
  sy.release();
  (await wz).release();
  t.deepEqual(order, ['y', 'z']);
  await Promise.all([x!.close(), y!.close(), z!.close()]);
});

maybe('a holder that stops renewing (a dead process) loses its slot after the lease', async (t) => {
  const name = key();
  const doomed = new Redis(server!.url);
  doomed.on('error', () => undefined);
  const dead = new RedisInflight(doomed, name, { limit: 1, leaseMs: 300 });
  await dead.acquire();
  doomed.disconnect(); // no renewal, no release: as after SIGKILL
  const cap = new RedisInflight(client(), name, { limit: 1, pollMs: 20 });
  const t0 = performance.now();
  (await cap.acquire()).release();
  const ms = performance.now() - t0;
  t.true(ms >= 100 && ms < 2000, `got the slot after ${ms} ms`);
  await cap.close();
});

maybe('a held slot is renewed past its lease; raising the cap admits waiters at once', async (t) => {
  const name = key();
  const cap = new RedisInflight(client(), name, { limit: 1, leaseMs: 200, pollMs: 5000 });
  const held = await cap.acquire();
  await sleep(600);
  t.is(await cap.inFlight(), 1);
  t.is(await cap.tryAcquire(), undefined);
  const waiting = cap.acquire();
  await sleep(50);
  await cap.setLimit(2);
  const t0 = performance.now();
  (await waiting).release();
  t.true(performance.now() - t0 < 1000);
  held.release();
  await cap.close();
});

// --- when Redis fails ----------------------------------------------------------------------------------------

maybe('--redis-fail closed: nothing is admitted while Redis is down, and all resumes once it is back', async (t) => {
  const own = await RedisServer.start();
  const lines: string[] = [];
  const shared = await openShared({ url: own.url, key: key(), mode: 'closed', leaseMs: 1000, config: { ratePerSec: 1000, burst: 10, cap: 4 }, warn: (l) => lines.push(l) });
  const stop = new AbortController();
  try {
    await shared.limits.token(1, stop.signal);
    (await shared.limits.slot(undefined, stop.signal)).release();
    await own.stop();
    let granted = false;
    const token = shared.limits.token(1, stop.signal).then(() => (granted = true));
    const slot = shared.limits.slot(undefined, stop.signal);
    t.is(await shared.limits.trySlot(undefined), undefined, 'reject mode hears "full"');
    await sleep(500);
    t.false(granted);
    t.is(lines.length, 1, lines.join('\n'));
    t.regex(lines[0]!, /^redis at redis:\/\/127\.0\.0\.1:\d+ failed \(.+\): admitting nothing until it is back \(--redis-fail closed\)$/);
    await own.restart();
    await token;
    (await slot).release();
    t.regex(lines.at(-1)!, /is back after \d+\.\ds: the limits are shared again/);
    t.is(lines.length, 2, lines.join('\n'));
    // A wait for a Redis that is down ends when the run stops.
    await own.stop();
    const aborted = shared.limits.token(1, stop.signal);
    await sleep(50);
    const reason = new Error('stopped');
    stop.abort(reason);
    await t.throwsAsync(aborted, { is: reason });
  } finally {
    await shared.close();
    await own.stop();
  }
});

maybe('--redis-fail open: this process\'s own limits take over while Redis is down', async (t) => {
  const own = await RedisServer.start();
  const lines: string[] = [];
  const shared = await openShared({ url: own.url, key: key(), mode: 'open', leaseMs: 1000, config: { ratePerSec: 1000, burst: 10, cap: 1 }, warn: (l) => lines.push(l) });
  const signal = new AbortController().signal;
  try {
    await own.stop();
    await shared.limits.token(1, signal);
    const slot = await shared.limits.slot(undefined, signal);
    t.is(await shared.limits.trySlot(undefined), undefined, 'the local cap of 1 is full');
    slot.release();
    t.truthy(await shared.limits.trySlot(undefined));
    t.is(lines.length, 1, lines.join('\n'));
    t.regex(lines[0]!, /failed \(.+\): using this process's own limits until it is back \(--redis-fail open\)$/);
  } finally {
    await shared.close();
  }
});

maybe('redis unreachable from the start: open says so once and runs on its own limits', async (t) => {
  const own = await RedisServer.start();
  await own.stop();
  const lines: string[] = [];
  const shared = await openShared({ url: own.url, key: key(), mode: 'open', leaseMs: 1000, config: { ratePerSec: Infinity, burst: 1, cap: 2 }, warn: (l) => lines.push(l) });
  try {
    const signal = new AbortController().signal;
    for (let i = 0; i < 3; i++) await shared.limits.token(1, signal);
    t.is(lines.length, 1);
    t.regex(lines[0]!, /ECONNREFUSED|isn't writeable|closed/);
  } finally {
    await shared.close();
  }
});
