import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import type { Clock } from '../core/clock.js';
import type { Status } from '../engine/types.js';
import type { Admission } from './admission.js';
import type { RoundRobin } from './balancer.js';
import { Drain } from './drain.js';
import type { FaultRule } from './faults.js';
import { Hold } from './hold.js';
import { listenOn } from './listen.js';
import type { ProxyStats } from './stats.js';

/**
 * TcpProxy is `throttle proxy --tcp`: kube-proxy's userspace Proxier as a tool. Each accepted connection
 * passes the Admission (a connection is one request: the rate counts connections, -j caps those open, a
 * rejected one is closed at once), then goes to the next upstream in turn; bytes are copied both ways
 * with back-pressure, and a half-close (FIN) on one side is passed on while the other direction goes on.
 * A dial that fails or takes longer than the dial timeout (5 s, as the Proxier's) marks that upstream down
 * and the next one is tried, until each was tried once.
 */
export interface TcpUpstream {
  readonly host: string;
  readonly port: number;
}

export interface TcpProxyOptions {
  readonly upstreams: readonly TcpUpstream[];
  readonly admission: Admission;
  readonly balancer: RoundRobin;
  readonly stats: ProxyStats;
  readonly clock: Clock;
  readonly dialTimeoutMs: number;
}

export class TcpProxy {
  readonly #o: TcpProxyOptions;
  readonly #server: Server;
  readonly #drain = new Drain();
  readonly #open = new Set<Socket>();

  constructor(o: TcpProxyOptions) {
    this.#o = o;
    // pauseOnConnect: nothing is read from a client before it is admitted and its upstream is connected.
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.#onConnection(client));
  }

  /** active is how many connections the proxy holds (waiting, dialling or open). */
  get active(): number {
    return this.#drain.active;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return listenOn(this.#server, host, port);
  }

  /** stop stops accepting, lets open connections run for up to `drainMs`, then closes the rest; resolves with how many were cut. */
  async stop(drainMs: number): Promise<number> {
    this.#server.close();
    const cut = await this.#drain.wait(drainMs);
    this.kill();
    // The connections cut off end (and are recorded) as their close events come in.
    if (cut > 0) await this.#drain.wait(1000);
    return cut;
  }

  /** kill closes every connection at once. */
  kill(): void {
    this.#server.close();
    for (const s of this.#open) s.destroy();
  }

  #onConnection(client: Socket): void {
    const o = this.#o;
    this.#drain.enter();
    this.#open.add(client);
    const pipe = new Pipe(o, client, o.clock.now(), () => {
      this.#open.delete(client);
      this.#drain.leave();
    });
    pipe.hold.follow(o.admission.admit('readOnly', client.remoteAddress, false));
  }
}

/** Pipe is one client connection's trip: admission, dial (moving on past dead upstreams), copying, record. */
class Pipe {
  readonly #o: TcpProxyOptions;
  readonly #client: Socket;
  readonly #t0: number;
  readonly #done: () => void;
  /** hold is the connection's way through admission (the verdict, an injected delay), shared with the HTTP proxy. */
  readonly hold: Hold;
  #up: Socket | undefined;
  #dialTimer: NodeJS.Timeout | undefined;
  #connectedMs: number | undefined;
  #upstream: number | undefined;
  #tries = 0;
  #upstreamError: string | undefined;
  #status: Status | undefined;
  #code = 'client-closed';

  constructor(o: TcpProxyOptions, client: Socket, t0: number, done: () => void) {
    this.#o = o;
    this.#client = client;
    this.#t0 = t0;
    this.#done = done;
    this.hold = new Hold({
      start: () => this.#dial(),
      fault: (fault) => this.#fault(fault),
      rejected: () => {
        this.#status = 'rejected';
        this.#code = 'rejected';
        this.#client.destroy();
      },
    });
    client.on('error', (err) => {
      // A client reset is passed on as a reset.
      if (this.#up !== undefined && errorKind(err) === 'ECONNRESET') this.#up.resetAndDestroy();
    });
    client.once('close', () => this.#onClose());
  }

  /** #fault plays an injected fault, once its delay (if any) is over: a reset, or nothing (a delay only). */
  #fault(fault: FaultRule): void {
    if (fault.reset) {
      this.#status = 'failed';
      this.#code = 'reset';
      this.#client.resetAndDestroy();
      return;
    }
    this.#dial();
  }

  #dial(): void {
    const o = this.#o;
    const i = o.balancer.pick(o.clock.now());
    const target = o.upstreams[i]!;
    this.#upstream = i;
    this.#tries++;
    const up = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    this.#up = up;
    this.#dialTimer = setTimeout(() => up.destroy(Object.assign(new Error(`connect to ${target.host}:${target.port} timed out`), { code: 'ETIMEDOUT' })), o.dialTimeoutMs);
    up.once('connect', () => this.#onConnect(i));
    up.on('error', (err) => this.#onUpstreamError(i, err));
  }

  #onConnect(i: number): void {
    clearTimeout(this.#dialTimer);
    const o = this.#o;
    o.balancer.succeeded(i);
    this.#connectedMs = o.clock.now();
    this.#status = 'ok';
    this.#code = 'closed';
    const client = this.#client;
    const up = this.#up!;
    if (this.hold.closed) {
      up.destroy();
      return;
    }
    // pipe passes each side's end (FIN) on as end() of the other: a half-close, with the other direction
    // still copying, since both sockets allow half-open connections.
    client.pipe(up);
    up.pipe(client);
  }

  #onUpstreamError(i: number, err: Error): void {
    clearTimeout(this.#dialTimer);
    const o = this.#o;
    const kind = errorKind(err);
    if (this.#connectedMs === undefined) {
      o.balancer.failed(i, o.clock.now());
      if (this.hold.closed) return;
      if (this.#tries < o.upstreams.length) {
        o.stats.failedDial(i, kind);
        return this.#dial();
      }
      this.#upstreamError = kind;
      this.#status = 'failed';
      this.#code = kind;
      this.#client.destroy();
      return;
    }
    this.#upstreamError = kind;
    this.#status = 'failed';
    this.#code = kind;
    if (this.hold.closed) return;
    // An upstream reset reaches the client as a reset; any other failure as a close.
    if (kind === 'ECONNRESET') this.#client.resetAndDestroy();
    else this.#client.destroy();
  }

  #onClose(): void {
    this.hold.close();
    clearTimeout(this.#dialTimer);
    if (this.#up !== undefined && !this.#up.destroyed) this.#up.destroy();
    const o = this.#o;
    const end = o.clock.now();
    const connected = this.#connectedMs !== undefined;
    const status = this.#status ?? 'interrupted';
    o.stats.add({
      arrivalMs: this.#t0,
      endMs: end,
      status,
      code: status === 'interrupted' ? 'client-closed' : this.#code,
      upstream: this.#upstream,
      tries: this.#tries,
      upstreamError: this.#upstreamError,
      throttleMs: this.hold.throttleMs,
      serviceMs: connected ? end - this.#connectedMs! : 0,
      // What the proxy added: the time from arrival to a connected upstream, besides the limits' wait.
      addedMs: connected ? Math.max(0, this.#connectedMs! - this.#t0 - this.hold.throttleMs) : undefined,
    });
    this.hold.release();
    this.#done();
  }
}

/** errorKind names a connection's failure by its code (ECONNREFUSED, ECONNRESET, ...), looking into causes. */
function errorKind(err: unknown): string {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return (err as Error | undefined)?.name ?? 'error';
}
