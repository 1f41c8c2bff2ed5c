#!/usr/bin/env node
// The bare floor for `throttle http` in load mode: an undici Pool with C connections (pipelining 1) and C
// concurrent loops of `pool.request` + `body.dump()`, for D seconds; nothing else (no limiter, no events,
// no reports). Latency per request in µs into an HDR histogram.
//   node bench/lib/undici-loop.js --url http://127.0.0.1:PORT/ -c 10 --duration 10 [--max-requests 5000000]
// Prints one JSON line on stdout: requests, rps, non2xx, errors, p50_ms, p99_ms, max_ms, seconds.
import { Pool } from 'undici';
import hdr from 'hdr-histogram-js';

const argv = process.argv.slice(2);
let url;
let c = 10;
let durationSec = 10;
let maxRequests = 5_000_000; // bounded even if the clock misbehaves
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--url') url = new URL(argv[++i]);
  else if (a === '-c') c = Number(argv[++i]);
  else if (a === '--duration') durationSec = Number(argv[++i]);
  else if (a === '--max-requests') maxRequests = Number(argv[++i]);
  else throw new Error(`undici-loop: unknown argument ${a}`);
}
if (url === undefined || url.hostname !== '127.0.0.1') throw new Error('undici-loop: --url must be http://127.0.0.1:PORT/...');
if (!(c >= 1) || !(durationSec > 0)) throw new Error('undici-loop: bad -c or --duration');

const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 }); // µs
const pool = new Pool(url.origin, { connections: c, pipelining: 1 });
const path = url.pathname + url.search;
let sent = 0;
let done = 0;
let non2xx = 0;
let errors = 0;
const t0 = performance.now();
const deadline = t0 + durationSec * 1000;

async function loop() {
  while (sent < maxRequests && performance.now() < deadline) {
    sent++;
    const s = performance.now();
    try {
      const { statusCode, body } = await pool.request({ path, method: 'GET' });
      await body.dump();
      if (statusCode < 200 || statusCode > 299) non2xx++;
      hist.recordValue(Math.max(1, Math.round((performance.now() - s) * 1000)));
      done++;
    } catch {
      errors++;
    }
  }
}
await Promise.all(Array.from({ length: c }, loop));
const seconds = (performance.now() - t0) / 1000;
await pool.close();
process.stdout.write(`${JSON.stringify({
  tool: 'undici-pool', c, seconds, requests: done, rps: done / seconds, non2xx, errors,
  p50_ms: hist.getValueAtPercentile(50) / 1000, p99_ms: hist.getValueAtPercentile(99) / 1000, max_ms: hist.maxValue / 1000,
})}\n`);
