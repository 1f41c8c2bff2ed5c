import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AttemptContext, Job } from '../engine/types.js';
import { HttpExecutor, type HttpPayload } from './http.js';

/** WARM_UP_REQUESTS: enough for the request path's code to be compiled and its parser loaded. */
const WARM_UP_REQUESTS = 300;
const WARM_UP_CONCURRENCY = 4;

/**
 * warmUpHttp runs a few hundred requests through an HttpExecutor of its own against a throwaway server on
 * 127.0.0.1 inside this process, then lets both go. The first requests a process makes are slow (undici
 * compiles its HTTP parser on the first connection, and every function of the path runs cold): at the head
 * of a paced load test they would start late, and late starts at a fixed rate are never made up. Nothing is
 * sent to the target, and nothing of this is counted. Best effort: if the server cannot listen, the run
 * simply starts cold.
 */
export async function warmUpHttp(): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
  } catch {
    return;
  }
  const { port } = server.address() as AddressInfo;
  const executor = new HttpExecutor({ connections: WARM_UP_CONCURRENCY, timeoutMs: 5000, ok: () => true, retryOn: new Set(), pause: false, print: 'none' });
  const payload: HttpPayload = { url: new URL(`http://127.0.0.1:${port}/`), method: 'GET', headers: [], body: undefined };
  const never = new AbortController().signal;
  const ctx: AttemptContext = { attempt: 1, stop: never, kill: never };
  let sent = 0;
  try {
    await Promise.all(
      Array.from({ length: WARM_UP_CONCURRENCY }, async () => {
        while (sent < WARM_UP_REQUESTS) {
          const job: Job<HttpPayload> = { seq: sent++, key: '', payload };
          const outcome = await executor.execute(job, ctx);
          if (!outcome.ok) return; // something is off: stop warming, the run goes on cold
        }
      }),
    );
  } finally {
    await executor.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
