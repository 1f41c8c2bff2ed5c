import type { ExecutionContext } from 'ava';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ServerOptions, TestServer } from '../../fixtures/http-server.js';
import type { Report } from '../../src/report/json.js';
import { ROOT } from './helpers.js';

/**
 * The loopback server of the `throttle http` tests. fixtures/http-server.js is plain JavaScript, loaded
 * from the repository root at run time (the compiled tests live in a build directory).
 */
const fixture = (await import(pathToFileURL(join(ROOT, 'fixtures', 'http-server.js')).href)) as typeof import('../../fixtures/http-server.js');

/** serve starts a server for one test and closes it (every connection included) when the test ends. */
export async function serve(t: ExecutionContext, options?: ServerOptions): Promise<TestServer> {
  const server = await fixture.startServer(options);
  t.teardown(() => server.close());
  return server;
}

/** closedPort returns a loopback port that a server just stopped listening on: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = await fixture.startServer();
  await server.close();
  return server.port;
}

/** HttpReport is the JSON report of `throttle http`: the common report plus bytes, errors and targets. */
export interface HttpReport extends Report {
  readonly bytes: { readonly received: number; readonly sent: number };
  readonly errors: Readonly<Record<string, number>>;
  readonly targets: Readonly<Record<string, { requests: number; statuses: Record<string, number>; errors: Record<string, number> }>>;
}

export type { TestServer };
