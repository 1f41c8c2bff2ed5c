import { createRequire } from 'node:module';

/**
 * node's own HTTP/1.1 parser (llhttp, native), as node:http uses it, for the proxy's two sides.
 *
 * Subtleness: `_http_common` is node's internal module behind node:http: undocumented, but stable across
 * the node versions this package supports (20 and later), and loaded by node:http anyway. A parser calls
 * back through numbered slots (kOnHeadersComplete, ...); what it passes is typed below.
 */
const common = createRequire(import.meta.url)('_http_common') as { HTTPParser: HttpParserClass; methods: readonly string[] };

export interface HttpParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  /** execute parses the bytes: how many it took, or the error that stopped it (code HPE_*). */
  execute(data: Buffer): number | (Error & { code?: string });
  finish(): number | (Error & { code?: string });
  free(): void;
  remove(): void;
  [callback: number]: ((...args: never[]) => unknown) | undefined;
}

export interface HttpParserClass {
  new (): HttpParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
}

export const HTTPParser: HttpParserClass = common.HTTPParser;

/** METHODS names a request's method by the number the parser gives it. */
export const METHODS: readonly string[] = common.methods;
