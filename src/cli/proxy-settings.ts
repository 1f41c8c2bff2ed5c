import { isIP } from 'node:net';
import { parseDuration, parseRate } from '../core/parse.js';
import { UsageError } from '../errors.js';
import { type FaultRule, FaultSyntaxError, parseFault } from '../proxy/faults.js';
import { PROXY_DEFAULTS } from './proxy-defaults.js';
import { integer, parseUrl, writable } from './settings.js';

export { PROXY_DEFAULTS };

/**
 * Settings of `throttle proxy`: every flag as a typed value, every default in PROXY_DEFAULTS, every check
 * of how the flags fit together. The limit flags mean what they mean on the client side; the defaults
 * differ only in that a proxy limits nothing until told to (no in-flight cap).
 */

/** ListenAddress is where the proxy listens. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface TcpTarget {
  readonly host: string;
  readonly port: number;
}

export interface ProxySettings {
  readonly listen: ListenAddress;
  readonly tcp: boolean;
  /** upstreams are the HTTP upstreams (HTTP mode); tcpUpstreams the host:port pairs (TCP mode). */
  readonly upstreams: readonly URL[];
  readonly tcpUpstreams: readonly TcpTarget[];
  /** upstreamNames name the upstreams in reports, in order. */
  readonly upstreamNames: readonly string[];
  readonly ratePerSec: number;
  readonly burst: number;
  /** concurrency caps requests in flight (the read-only ones when mutatingConcurrency is set); Infinity: none. */
  readonly concurrency: number;
  readonly mutatingConcurrency: number | undefined;
  readonly onFull: 'wait' | 'reject';
  readonly maxWaitMs: number;
  readonly perKey: { readonly ratePerSec: number; readonly burst: number } | undefined;
  /** perKeyHeader (lower-case) keys the per-key bucket; undefined: the client's address. */
  readonly perKeyHeader: string | undefined;
  /** exempt: lower-case header names with the value that lets a request skip every limit. */
  readonly exempt: ReadonlyArray<readonly [string, string]>;
  /** sticky (lower-case) names the header that keeps a client on one upstream. */
  readonly sticky: string | undefined;
  readonly faults: readonly FaultRule[];
  readonly seed: number;
  /** timeoutMs bounds the wait for an upstream's answer (HTTP); Infinity: the proxy's own 300 s. */
  readonly timeoutMs: number;
  readonly drainMs: number;
  readonly reportFile: string | undefined;
  readonly json: boolean;
  readonly progress: boolean;
  readonly quiet: boolean;
}

/** RawProxyOptions is what commander hands over: strings, as typed. */
export interface RawProxyOptions {
  listen?: string;
  public?: boolean;
  tcp?: boolean;
  rate?: string;
  burst?: string;
  concurrency?: string;
  mutatingConcurrency?: string;
  onFull?: string;
  maxWait?: string;
  perKeyRate?: string;
  perKeyBurst?: string;
  perKeyHeader?: string;
  exemptHeader?: string[];
  sticky?: string;
  inject?: string[];
  seed?: string;
  timeout?: string;
  drain?: string;
  report?: string;
  json?: boolean;
  progress?: boolean;
  quiet?: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function rate(flag: string, text: string): number {
  let r: number;
  try {
    r = parseRate(text);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
  if (r <= 0) throw new UsageError(`${flag}: a rate of ${text} would admit nothing: use e.g. 10/s, 600/m, 1/250ms or inf`);
  return r;
}

function duration(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

function headerName(flag: string, text: string, example: string): string {
  const name = text.trim();
  if (!TOKEN.test(name)) throw new UsageError(`${flag}: invalid header name "${text}": use e.g. ${example}`);
  return name.toLowerCase();
}

/** isLoopback says whether a listen host keeps the proxy to this machine: 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/**
 * parseListen reads `--listen`: `host:port`, `[v6]:port`, or a bare port (127.0.0.1). Port 0 lets the
 * system pick one (printed as `listening host:port`). A host that is not loopback needs `--public`.
 */
export function parseListen(text: string, allowPublic: boolean): ListenAddress {
  const example = 'use e.g. --listen 127.0.0.1:8080';
  const t = text.trim();
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(t);
  if (v6 !== null) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (/^\d+$/.test(t)) {
    host = '127.0.0.1';
    portText = t;
  } else {
    const colon = t.lastIndexOf(':');
    host = colon > 0 ? t.slice(0, colon) : '';
    portText = colon > 0 ? t.slice(colon + 1) : '';
    if (host.includes(':')) throw new UsageError(`--listen: invalid address "${text}": put an IPv6 address in brackets, e.g. [::1]:8080`);
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (host === '' || !(port >= 0 && port <= 65535)) throw new UsageError(`--listen: invalid address "${text}": ${example}`);
  if (!allowPublic && !isLoopback(host)) {
    throw new UsageError(`--listen ${text}: not a loopback address; the proxy listens only where told: add --public to accept connections from other machines`);
  }
  return { host, port };
}

/** parseTcpTarget reads a TCP upstream: `host:port` (or `tcp://host:port`, `[v6]:port`). */
export function parseTcpTarget(text: string): TcpTarget {
  const t = text.trim().replace(/^tcp:\/\//, '');
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(t);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 1 && port <= 65535)) throw new UsageError(`upstream "${text}": use host:port, e.g. 127.0.0.1:5432`);
  return { host: m[1] ?? m[2]!, port };
}

/** parseHttpUpstream reads an HTTP upstream: a URL (its path, if any, prefixes every request), or host:port. */
export function parseHttpUpstream(text: string): URL {
  const url = parseUrl(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`, 'upstream');
  if (url.search !== '' || url.hash !== '') throw new UsageError(`upstream "${text}": no query or fragment, e.g. http://127.0.0.1:9000 or http://127.0.0.1:9000/api`);
  if (url.username !== '' || url.password !== '') throw new UsageError(`upstream "${text}": no credentials in the URL; the client's own headers are forwarded`);
  return url;
}

/** parseExempt reads one `--exempt-header 'Name: value'`. */
export function parseExempt(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon > 0 ? text.slice(0, colon).trim() : '';
  const value = colon > 0 ? text.slice(colon + 1).trim() : '';
  if (!TOKEN.test(name) || value === '' || /[\r\n\0]/.test(value)) {
    throw new UsageError(`--exempt-header: invalid header "${colon > 0 ? `${name}: ***` : '***'}": use e.g. --exempt-header 'X-Throttle-Exempt: <secret>'`);
  }
  return [name.toLowerCase(), value];
}

/** proxySettings builds the settings of `throttle proxy`; everything is checked before anything listens. */
export function proxySettings(upstreamArgs: readonly string[], o: RawProxyOptions): ProxySettings {
  if (upstreamArgs.length === 0) {
    throw new UsageError('no upstream given: e.g. throttle proxy --listen 127.0.0.1:8080 -r 10/s http://127.0.0.1:9000, or --tcp 127.0.0.1:5432');
  }
  const tcp = o.tcp === true;
  const listen = parseListen(o.listen ?? PROXY_DEFAULTS.listen, o.public === true);
  const upstreams = tcp ? [] : upstreamArgs.map(parseHttpUpstream);
  const tcpUpstreams = tcp ? upstreamArgs.map(parseTcpTarget) : [];
  const upstreamNames = tcp ? tcpUpstreams.map((u) => (u.host.includes(':') ? `[${u.host}]:${u.port}` : `${u.host}:${u.port}`)) : upstreams.map((u) => u.href.replace(/\/$/, ''));
  const httpOnly = (flag: string, given: unknown): void => {
    if (tcp && given !== undefined) throw new UsageError(`${flag} applies to HTTP requests: it has no meaning with --tcp`);
  };
  httpOnly('--mutating-concurrency', o.mutatingConcurrency);
  httpOnly('--sticky', o.sticky);
  httpOnly('--exempt-header', o.exemptHeader);
  httpOnly('--per-key-header', o.perKeyHeader);
  httpOnly('--timeout', o.timeout);
  if (o.perKeyRate === undefined && (o.perKeyBurst !== undefined || o.perKeyHeader !== undefined)) {
    throw new UsageError(`${o.perKeyBurst !== undefined ? '--per-key-burst' : '--per-key-header'} needs --per-key-rate: e.g. --per-key-rate 5/s --per-key-burst 10`);
  }
  const faults = (o.inject ?? []).map((text) => {
    try {
      return parseFault(text);
    } catch (err) {
      if (err instanceof FaultSyntaxError) throw new UsageError(`--inject: ${err.message}`);
      throw err;
    }
  });
  const total = faults.reduce((sum, f) => sum + f.probability, 0);
  if (total > 1 + 1e-9) throw new UsageError(`--inject: the rates add up to ${(total * 100).toFixed(1)}%; a request gets at most one fault, so they must add up to 100% or less`);
  if (tcp) {
    const status = faults.find((f) => f.status !== undefined);
    if (status !== undefined) throw new UsageError(`--inject '${status.text}': a status needs HTTP; with --tcp use delay= or reset`);
  }
  const timeoutMs = duration('--timeout', o.timeout ?? PROXY_DEFAULTS.timeout);
  const drainMs = duration('--drain', o.drain ?? PROXY_DEFAULTS.drain);
  return {
    listen,
    tcp,
    upstreams,
    tcpUpstreams,
    upstreamNames,
    ratePerSec: rate('-r, --rate', o.rate ?? PROXY_DEFAULTS.rate),
    burst: integer('-b, --burst', o.burst ?? PROXY_DEFAULTS.burst, 1, '-b 10'),
    concurrency: integer('-j, --concurrency', o.concurrency ?? PROXY_DEFAULTS.concurrency, 1, '-j 64', true),
    mutatingConcurrency: o.mutatingConcurrency === undefined ? undefined : integer('--mutating-concurrency', o.mutatingConcurrency, 1, '--mutating-concurrency 4', true),
    onFull: onFull(o.onFull ?? PROXY_DEFAULTS.onFull),
    maxWaitMs: duration('--max-wait', o.maxWait ?? PROXY_DEFAULTS.maxWait),
    perKey:
      o.perKeyRate === undefined
        ? undefined
        : { ratePerSec: rate('--per-key-rate', o.perKeyRate), burst: integer('--per-key-burst', o.perKeyBurst ?? '1', 1, '--per-key-burst 10') },
    perKeyHeader: o.perKeyHeader === undefined ? undefined : headerName('--per-key-header', o.perKeyHeader, '--per-key-header X-Api-Key'),
    exempt: (o.exemptHeader ?? []).map(parseExempt),
    sticky: o.sticky === undefined ? undefined : headerName('--sticky', o.sticky, '--sticky X-Session-Id'),
    faults,
    seed: seed(o.seed ?? PROXY_DEFAULTS.seed),
    timeoutMs: timeoutMs === 0 ? Infinity : timeoutMs,
    drainMs,
    reportFile: writable('--report', o.report),
    json: o.json === true,
    progress: o.progress !== false,
    quiet: o.quiet === true,
  };
}

function seed(text: string): number {
  const n = integer('--seed', text, 0, '--seed 42');
  if (!Number.isSafeInteger(n)) throw new UsageError(`--seed: ${text} is too large: use a whole number below 2^53, e.g. --seed 42`);
  return n;
}

function onFull(text: string): 'wait' | 'reject' {
  if (text === 'wait' || text === 'reject') return text;
  throw new UsageError(`--on-full: invalid value "${text}": use one of wait, reject`);
}
