import type { Status } from '../engine/types.js';
import { Distribution, Metrics, type Stats, type Summary } from '../measure/metrics.js';
import type { AdmissionCounts } from './admission.js';

/**
 * The measurement of `throttle proxy`: a fold of finished exchanges (an HTTP request, or a TCP connection)
 * into the report of DESIGN.md — counts, latency/throttle/service histograms, in-flight watermark,
 * outcomes — plus what only a proxy knows: admitted, waited and rejected counts, the latency the proxy
 * itself added, and a breakdown per upstream. No I/O; times are ms on the proxy's clock.
 */

/** Exchange is one finished request (HTTP) or connection (TCP), as the proxy saw it. */
export interface Exchange {
  readonly arrivalMs: number;
  readonly endMs: number;
  /** status: `ok` the upstream answered (whatever its status); `failed` no upstream answer (an error, or an
   * injected fault); `rejected` answered 429 (or closed, in TCP mode) by a limit; `interrupted` the client
   * went away first. */
  readonly status: Status;
  /** code is what the client got: the HTTP status, or `reset`, `closed`, or an error name. */
  readonly code: number | string;
  /** upstream is the index of the last upstream tried; undefined when none was. */
  readonly upstream: number | undefined;
  /** tries counts upstreams tried (a dead one is skipped to the next); 0 when never forwarded. */
  readonly tries: number;
  /** upstreamError names the last upstream failure (ECONNREFUSED, ...), if any. */
  readonly upstreamError?: string | undefined;
  /** throttleMs is the time held by the in-flight cap and the buckets. */
  readonly throttleMs: number;
  /** serviceMs is the upstream's part: from dispatch to the end of its answer (TCP: from connect to close). */
  readonly serviceMs: number;
  /** addedMs is what the proxy itself added besides throttleMs (its overhead and injected delays); undefined if never forwarded. */
  readonly addedMs: number | undefined;
}

/** UpstreamStats is one upstream's part of the report. */
export interface UpstreamStats {
  /** requests counts requests (connections) sent to it, failed dials included. */
  readonly requests: number;
  /** outcomes counts its answers by status (HTTP) or how its connections ended (TCP), and its errors by name. */
  readonly outcomes: Readonly<Record<string, number>>;
  readonly serviceMs: Stats;
}

/** ProxyConfig records how the proxy was set up. */
export interface ProxyConfig {
  readonly listen: string;
  readonly protocol: 'http' | 'tcp';
  readonly upstreams: readonly string[];
  readonly rate: number | null;
  readonly burst: number;
  readonly concurrency: number | null;
  readonly mutatingConcurrency: number | null;
  readonly onFull: 'wait' | 'reject';
  readonly maxWaitMs: number;
  readonly perKey: { readonly rate: number; readonly burst: number; readonly by: string } | null;
  readonly sticky: string | null;
  readonly exemptHeaders: readonly string[];
  readonly inject: readonly string[];
  readonly seed: number;
  /** timeoutMs bounds an upstream's answer (HTTP); null: the proxy's own 300 s. */
  readonly timeoutMs: number | null;
  readonly drainMs: number;
}

/** ProxyReport is the JSON report of `throttle proxy` (version 1): the common report and the proxy's own parts. */
export interface ProxyReport extends Omit<Summary, 'inflight'> {
  readonly version: 1;
  readonly command: string;
  readonly mode: 'real';
  readonly config: ProxyConfig;
  /** inflight: the watermarks (the apiserver's): all requests together, and each pool. */
  readonly inflight: { readonly peak: number; readonly readOnly: number; readonly mutating: number };
  readonly proxy: {
    readonly admitted: number;
    readonly waited: number;
    readonly exempt: number;
    readonly rejected: { readonly total: number; readonly rate: number; readonly perKey: number; readonly concurrency: number };
    /** gone counts clients that went away while they waited for admission. */
    readonly gone: number;
    readonly injected: Readonly<Record<string, number>>;
  };
  /** addedMs: latency the proxy added to forwarded requests, besides the limits' waits. */
  readonly addedMs: Stats;
  readonly upstreams: Readonly<Record<string, UpstreamStats>>;
}

interface Upstream {
  requests: number;
  readonly outcomes: Map<string, number>;
  readonly service: Distribution;
}

export class ProxyStats {
  readonly #names: readonly string[];
  readonly #metrics = new Metrics();
  readonly #added = new Distribution();
  readonly #upstreams: Upstream[];
  #seq = 0;
  #failed = 0;

  constructor(upstreams: readonly string[]) {
    this.#names = upstreams;
    this.#upstreams = upstreams.map(() => ({ requests: 0, outcomes: new Map(), service: new Distribution() }));
  }

  /** total is how many exchanges were added. */
  get total(): number {
    return this.#seq;
  }

  /** failed is how many exchanges ended failed so far. */
  get failed(): number {
    return this.#failed;
  }

  /** add folds one finished exchange in. */
  add(x: Exchange): void {
    if (x.status === 'failed') this.#failed++;
    this.#metrics.add({
      seq: this.#seq++,
      key: '',
      arrivalMs: x.arrivalMs,
      grantedMs: undefined,
      startedMs: undefined,
      endedMs: x.endMs,
      attempts: x.tries,
      status: x.status,
      code: x.code,
      throttleMs: x.throttleMs,
      backoffMs: 0,
      serviceMs: x.serviceMs,
    });
    if (x.addedMs !== undefined) this.#added.add(x.addedMs);
    if (x.upstream === undefined) return;
    const u = this.#upstreams[x.upstream]!;
    // Earlier tries that failed to dial were counted by failedDial; this is the last one.
    if (x.tries > 0) u.requests++;
    if (x.upstreamError !== undefined) bump(u.outcomes, x.upstreamError);
    if (x.status === 'ok') {
      bump(u.outcomes, String(x.code));
      u.service.add(x.serviceMs);
    }
  }

  /** failedDial counts a dial of upstream `i` that failed, after which the request moved on to another one. */
  failedDial(i: number, error: string): void {
    const u = this.#upstreams[i]!;
    u.requests++;
    bump(u.outcomes, error);
  }

  /** report assembles the report after `elapsedMs` of running, with the admission's counters. */
  report(command: string, config: ProxyConfig, elapsedMs: number, counts: AdmissionCounts): ProxyReport {
    const summary = this.#metrics.close(elapsedMs, counts.peak.total);
    const { rejected } = counts;
    const upstreams: Record<string, UpstreamStats> = {};
    this.#upstreams.forEach((u, i) => {
      upstreams[this.#names[i]!] = { requests: u.requests, outcomes: sortedRecord(u.outcomes), serviceMs: u.service.stats() };
    });
    return {
      version: 1,
      command,
      mode: 'real',
      config,
      ...summary,
      inflight: { peak: counts.peak.total, readOnly: counts.peak.readOnly, mutating: counts.peak.mutating },
      proxy: {
        admitted: counts.admitted,
        waited: counts.waited,
        exempt: counts.exempt,
        rejected: { total: rejected.rate + rejected.perKey + rejected.concurrency, rate: rejected.rate, perKey: rejected.perKey, concurrency: rejected.concurrency },
        gone: rejected.gone,
        injected: counts.injected,
      },
      addedMs: this.#added.stats(),
      upstreams,
    };
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function sortedRecord(map: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of [...map].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))) out[k] = n;
  return out;
}
