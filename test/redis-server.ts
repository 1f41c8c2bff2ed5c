import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';

/**
 * A throwaway redis-server for the tests of shared limits: on a free loopback port, without persistence,
 * stopped by its pid. Tests skip (with a message) when redis-server is not installed; .ci/run installs it.
 */

/** HAVE_REDIS is true when redis-server can be run here. */
export const HAVE_REDIS = ((): boolean => {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export const NO_REDIS = 'redis-server is not installed (apt-get install redis-server; .ci/run does it)';

/** freePort asks the kernel for a free loopback port (redis-server cannot be told to pick one itself). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** ping resolves true once the server at `port` answers PING with PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export class RedisServer {
  #child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  /** start launches redis-server on a free port (or `port`) and resolves once it answers PING. */
  static async start(port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await freePort()));
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** restart starts the server again on the same port (after stop), empty. */
  async restart(): Promise<void> {
    if (this.#child !== undefined) throw new Error('redis-server is running already');
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    this.#child = child;
    const kill = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', kill);
    child.once('exit', () => process.off('exit', kill));
    const untilMs = performance.now() + 10_000;
    while (!(await ping(this.port))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with status ${child.exitCode} (port ${this.port} taken?)`);
      if (performance.now() > untilMs) throw new Error(`redis-server on port ${this.port} did not answer PING within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** stop ends the server by its pid (SIGTERM; without persistence it exits at once) and waits for it. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid!, 'SIGTERM');
    await exited;
  }
}
