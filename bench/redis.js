#!/usr/bin/env node
// Section — shared limits through Redis: what one acquire costs against a local redis-server.
//   RedisLimiter.waitN(1) on a bucket that never makes anyone wait (1e9/s, burst 1e9): the cost is the
//   round trip and the Lua script. Side by side with a bare PING on the same connection: at 1 caller the
//   operations take turns call by call (PING, acquire, slot, PING, ...), so a noisy neighbour hits them
//   alike (latency p50/p99, and ops/s as 1 / mean latency); at 8 concurrent callers (ioredis pipelines them
//   on its one connection) each gets MS ms per round, rows interleaved. Also RedisInflight acquire +
//   release (no target).
// Target: an acquire costs at most 1.5 PING round trips (p50 latency at 1 caller).
// The server is a throwaway redis-server on a free loopback port (no persistence), stopped by its pid; or
// REDIS_URL points at one already running (its keys bench:* are used).
//   node bench/redis.js           (env: MS=1000 per row and round, RUNS=5, REDIS_URL)
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { RedisInflight, RedisLimiter } from '../dist/index.js';
import { envNum, fmt, isMain, median, passFail, quantile, sig, table } from './lib/stats.js';

const TARGET_RATIO = 1.5;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer() {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('redis-server is not installed (apt-get install redis-server); not installing it here');
  }
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 20, maxRetriesPerRequest: null });
  probe.on('error', () => {});
  await probe.connect().catch(() => {});
  await probe.ping();
  probe.disconnect();
  return { url: `redis://127.0.0.1:${port}`, stop: () => new Promise((resolve) => { child.once('exit', resolve); process.kill(child.pid, 'SIGTERM'); }) };
}

/** loop runs `callers` concurrent loops of `op` for `ms`; returns ops/s, and latencies when asked. */
async function loop(op, callers, ms, lat) {
  let ops = 0;
  const end = performance.now() + ms;
  await Promise.all(Array.from({ length: callers }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await op();
      if (lat) lat.push(performance.now() - t0);
      ops++;
    }
  }));
  return ops / (ms / 1000);
}

export async function main({ ms = envNum('MS', 1000), runs = envNum('RUNS', 5), print = true } = {}) {
  const log = print ? (s = '') => console.log(s) : () => {};
  const server = process.env.REDIS_URL ? { url: process.env.REDIS_URL, stop: async () => {} } : await startServer();
  const redis = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  await new Promise((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', resolve)));
  const key = `bench:${process.pid}`;
  const limiter = new RedisLimiter(redis, key, { limit: 1e9, burst: 1e9 });
  const cap = new RedisInflight(redis, `${key}:cap`, { limit: 1e6 });
  const rows = {
    ping: { name: 'PING (bare round trip)', op: () => redis.ping() },
    acquire: { name: 'RedisLimiter.waitN(1)', op: () => limiter.waitN(1) },
    // The release is sent without waiting for its answer (as the scheduler does); an untimed PING after it
    // lets that answer arrive before the next timed call.
    slot: { name: 'RedisInflight acquire + release', op: async () => (await cap.acquire()).release(), drain: () => redis.ping() },
  };
  try {
    for (const r of Object.values(rows)) await loop(r.op, 8, Math.min(300, ms)); // warm-up: scripts loaded, JIT
    const res = Object.fromEntries(Object.keys(rows).map((k) => [k, { eight: [], lat: [] }]));
    const entries = Object.entries(rows);
    for (let i = 0; i < runs; i++) {
      const end = performance.now() + ms * entries.length;
      while (performance.now() < end) {
        for (const [k, r] of entries) {
          const t0 = performance.now();
          await r.op();
          res[k].lat.push(performance.now() - t0);
          if (r.drain) await r.drain();
        }
      }
      for (const [k, r] of entries) res[k].eight.push(await loop(r.op, 8, ms));
    }
    const out = {};
    for (const [k, x] of Object.entries(res)) {
      const mean = x.lat.reduce((a, b) => a + b, 0) / x.lat.length;
      const lat = x.lat.sort((a, b) => a - b);
      out[k] = { name: rows[k].name, opsPerSec1: 1000 / mean, opsPerSec8: median(x.eight), p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99), samples: lat.length };
    }
    const ratioP50 = out.acquire.p50Ms / out.ping.p50Ms;
    const ratioP99 = out.acquire.p99Ms / out.ping.p99Ms;
    const extraP50 = out.acquire.p50Ms - out.ping.p50Ms;
    const extraP99 = out.acquire.p99Ms - out.ping.p99Ms;
    log(`## redis: ${runs} rounds × ${ms} ms per row (1 caller: call by call in turn; 8 callers: rows in turn), one ioredis connection, ${process.env.REDIS_URL ? 'REDIS_URL' : 'local redis-server'}\n`);
    log(table(['operation', 'ops/s, 1 caller', 'ops/s, 8 callers', 'latency p50 (1 caller)', 'p99', '/ PING p50'], Object.values(out).map((o) => [o.name, fmt(o.opsPerSec1), fmt(o.opsPerSec8), `${sig(o.p50Ms)} ms`, `${sig(o.p99Ms)} ms`, sig(o.p50Ms / out.ping.p50Ms)])));
    log(`\nextra latency per acquire over a bare PING: p50 ${sig(extraP50 * 1000)} µs, p99 ${sig(extraP99 * 1000)} µs`);
    log(`acquire / PING round trip = ${sig(ratioP50)} on p50 (target <= ${TARGET_RATIO}: ${passFail(ratioP50 <= TARGET_RATIO)}), ${sig(ratioP99)} on p99\n`);
    return {
      ms,
      runs,
      rows: out,
      extraLatencyUs: { p50: extraP50 * 1000, p99: extraP99 * 1000 },
      ratios: {
        acquire_over_ping_p50: { value: ratioP50, target: TARGET_RATIO, pass: ratioP50 <= TARGET_RATIO },
        acquire_over_ping_p99: { value: ratioP99 },
        acquire8_over_ping8_ops: { value: out.acquire.opsPerSec8 / out.ping.opsPerSec8 },
      },
    };
  } finally {
    await cap.close();
    await redis.del(`throttle:{${key}}:state`, `throttle:{${key}:cap}:state`).catch(() => {});
    redis.disconnect();
    await server.stop();
  }
}

if (isMain(import.meta.url)) await main();
