import test from 'ava';
import type { AttemptContext, Job } from '../src/engine/types.js';
import { HttpExecutor, type HttpPayload } from '../src/executors/http.js';
import { serve } from './e2e/http-fixture.js';

const never = new AbortController().signal;
const ctx: AttemptContext = { attempt: 1, stop: never, kill: never };

function job(seq: number, url: string): Job<HttpPayload> {
  return { seq, key: url, payload: { url: new URL(url), method: 'GET', headers: [], body: undefined } };
}

test('a request queued behind a hung one on a single connection times out on time too', async (t) => {
  const server = await serve(t);
  // One connection: the second request waits in the pool while the first holds it for 1.5 s.
  const executor = new HttpExecutor({ connections: 1, timeoutMs: 300, ok: (s) => s < 400, retryOn: new Set(), pause: false, print: 'none' });
  t.teardown(() => executor.destroy());
  const t0 = performance.now();
  const [first, second] = await Promise.all([
    executor.execute(job(0, `${server.url}/a?delay=1500`), ctx),
    executor.execute(job(1, `${server.url}/b?delay=1500`), ctx).then((o) => ({ o, ms: performance.now() - t0 })),
  ]);
  t.is(first.code, 'timeout');
  t.is(second.o.code, 'timeout');
  t.true(second.ms < 1200, `the queued request timed out after ${second.ms} ms`);
  t.deepEqual(executor.errors, { timeout: 2 });
});

test('status, Retry-After and the body size come from the answer; a 503 with Retry-After asks for a pause', async (t) => {
  const server = await serve(t);
  const executor = new HttpExecutor({ connections: 2, timeoutMs: Infinity, ok: (s) => s < 400, retryOn: new Set([503]), pause: true, print: 'none' });
  t.teardown(() => executor.close());
  const ok = await executor.execute(job(0, `${server.url}/fine`), ctx);
  t.deepEqual(ok, { ok: true, code: 200, retryable: false });
  const busy = await executor.execute(job(1, `${server.url}/busy?status=503&retryAfter=2&body=wait`), ctx);
  t.deepEqual(busy, { ok: false, code: 503, retryable: true, pushback: true, retryAfterMs: 2000, pauseMs: 2000 });
  t.is(executor.bytesReceived, '/fine\n'.length + 'wait'.length);
  t.deepEqual(executor.targets.get(new URL(server.url).origin)?.statuses, { 200: 1, 503: 1 });
});
