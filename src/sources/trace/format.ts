import type { TraceEvent } from './event.js';

/**
 * formatTraceLine renders an event as one line of the JSON Lines trace format, with its newline:
 * `{"t":0.25,"key":"GET /a","n":2,"duration":0.12,"status":200}`. Times are seconds with at most six
 * decimals (microseconds); absent fields are left out, and so is an empty key. An untimed event has no
 * `t`. readJsonl reads the line back to the same event.
 */
export function formatTraceLine(e: TraceEvent): string {
  const o: Record<string, unknown> = {};
  if (e.tMs !== undefined) o['t'] = msToSeconds(e.tMs);
  if (e.key !== '') o['key'] = e.key;
  if (e.tokens !== undefined) o['n'] = e.tokens;
  if (e.serviceMs !== undefined) o['duration'] = msToSeconds(e.serviceMs);
  if (e.status !== undefined) o['status'] = e.status;
  if (e.method !== undefined) o['method'] = e.method;
  if (e.url !== undefined) o['url'] = e.url;
  if (e.headers !== undefined) o['headers'] = e.headers;
  if (e.bodyFile !== undefined) o['bodyFile'] = e.bodyFile;
  return `${JSON.stringify(o)}\n`;
}

/** msToSeconds converts ms to seconds with at most six decimals (and no "-0"). */
function msToSeconds(ms: number): number {
  return Number((ms / 1000).toFixed(6)) + 0;
}
