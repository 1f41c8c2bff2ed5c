import type { RateLimitFields } from './admission.js';

/**
 * Header handling of the HTTP proxy, kept free of I/O: what a request carries to the upstream (RFC 9110
 * §7.6.1: hop-by-hop fields stay on their own connection), what the proxy reads from it on the way
 * (exemption, per-key and sticky keys), and what an answer carries back.
 */

/** READ_ONLY_METHODS are the read-only requests of the in-flight cap; every other method mutates. */
export const READ_ONLY_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * HOP_BY_HOP fields describe one connection, not the message: never forwarded, in either direction.
 * `expect` is dropped too: the proxy answers 100-continue itself.
 */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/** ScanOptions say which request headers the proxy itself looks at. Names are lower-case. */
export interface ScanOptions {
  /** exempt: `name: value` pairs that let a request skip every limit; the header is not forwarded. */
  readonly exempt: ReadonlyArray<readonly [string, string]>;
  /** keyHeader names the header whose value keys the per-key bucket (else the client's address). */
  readonly keyHeader: string | undefined;
  /** stickyHeader names the header whose value keeps a client on one upstream. */
  readonly stickyHeader: string | undefined;
}

/** Scanned is what one pass over a request's raw headers found. */
export interface Scanned {
  /** headers are the fields to forward, as a flat [name, value, ...] list (X-Forwarded-For appended). */
  readonly headers: string[];
  readonly exempt: boolean;
  /** key is the per-key bucket's key: the key header's value, or the client's address. */
  readonly key: string | undefined;
  readonly sticky: string | undefined;
  /** hasBody: the request has a body to stream (Content-Length above 0, or Transfer-Encoding). */
  readonly hasBody: boolean;
  /** chunked: the body came with Transfer-Encoding (no length): it goes on chunked. */
  readonly chunked: boolean;
}

/**
 * scanRequest goes once over `raw` (Node's rawHeaders: name, value, name, value ...) and returns what to
 * forward and what the proxy needs. `remote` is the client's address (for X-Forwarded-For and the default
 * per-key key).
 */
export function scanRequest(raw: readonly string[], remote: string | undefined, o: ScanOptions): Scanned {
  const headers: string[] = [];
  let exempt = false;
  let key: string | undefined;
  let sticky: string | undefined;
  let hasBody = false;
  let chunked = false;
  let forwardedFor: string | undefined;
  let connection: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'transfer-encoding') hasBody = chunked = true;
      else if (lower === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    if (lower === 'content-length') {
      if (value.trim() !== '0') hasBody = true;
    } else if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      continue;
    }
    if (o.exempt.length > 0 && isExempt(lower, value, o.exempt)) {
      exempt = true;
      continue;
    }
    if (lower === o.keyHeader) key ??= value;
    if (lower === o.stickyHeader) sticky ??= value;
    headers.push(name, value);
  }
  if (connection !== undefined) dropListed(headers, connection);
  if (remote !== undefined) headers.push('x-forwarded-for', forwardedFor === undefined ? remote : `${forwardedFor}, ${remote}`);
  else if (forwardedFor !== undefined) headers.push('x-forwarded-for', forwardedFor);
  return { headers, exempt, key: o.keyHeader === undefined ? remote : (key ?? remote), sticky, hasBody, chunked };
}

function isExempt(lower: string, value: string, exempt: ReadonlyArray<readonly [string, string]>): boolean {
  for (const [name, expected] of exempt) if (lower === name && value.trim() === expected) return true;
  return false;
}

/**
 * dropListed removes, from a flat [name, value, ...] list, the fields a Connection header names (they are
 * hop-by-hop too, RFC 9110 §7.6.1); `close` and `keep-alive` name no field.
 */
function dropListed(headers: string[], connection: string): void {
  // Most messages say just keep-alive or close: nothing to drop, and no Set to build.
  if (/^\s*(?:keep-alive|close)\s*$/i.test(connection)) return;
  const listed = new Set(
    connection
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== '' && t !== 'close' && t !== 'keep-alive'),
  );
  if (listed.size === 0) return;
  let out = 0;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (listed.has(headers[i]!.toLowerCase())) continue;
    headers[out++] = headers[i]!;
    headers[out++] = headers[i + 1]!;
  }
  headers.length = out;
}

/**
 * responseHeaders turns an upstream's answer headers (a flat [name, value, ...] list, as received) into the
 * list the client gets: hop-by-hop fields removed, the RateLimit fields set.
 */
export function responseHeaders(upstream: readonly string[], fields: RateLimitFields | undefined): string[] {
  const out: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i + 1 < upstream.length; i += 2) {
    const name = upstream[i]!;
    const value = upstream[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    if (fields !== undefined && lower.startsWith('ratelimit-')) continue;
    out.push(name, value);
  }
  if (connection !== undefined) dropListed(out, connection);
  if (fields !== undefined) pushFields(out, fields);
  return out;
}

/** pushFields appends the draft IETF RateLimit fields (limit, remaining, reset in whole seconds). */
export function pushFields(out: string[], fields: RateLimitFields): void {
  out.push('RateLimit-Limit', String(fields.limit), 'RateLimit-Remaining', String(fields.remaining), 'RateLimit-Reset', String(fields.resetSec));
}
