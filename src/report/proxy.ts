import type { Stats } from '../measure/metrics.js';
import type { ProxyReport } from '../proxy/stats.js';
import { type Paint, formatMs, formatRate, plain } from './text.js';

function statsLine(name: string, s: Stats): string {
  return `  ${name.padEnd(9)} p50 ${formatMs(s.p50).padStart(7)}   p99 ${formatMs(s.p99).padStart(7)}   max ${formatMs(s.max).padStart(7)}`;
}

function counts(record: Readonly<Record<string, number>>): string {
  const parts = Object.entries(record).map(([k, n]) => `${k} ${n}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/**
 * formatProxyReport renders the report of `throttle proxy` (on SIGUSR1 and at exit): one line of counts
 * (admitted, waited, rejected by gate, failed, the in-flight watermark), the latency the clients saw, what
 * the proxy added besides the limits, the limits' own wait, the upstreams' service time, the outcomes, one
 * line per upstream, and the injected faults.
 */
export function formatProxyReport(r: ProxyReport, paint: Paint = plain): string {
  const what = r.config.protocol === 'tcp' ? 'connections' : 'requests';
  const p = r.proxy;
  const rejected = p.rejected.total === 0 ? '0 rejected' : paint.warn(`${p.rejected.total} rejected (rate ${p.rejected.rate}, per-key ${p.rejected.perKey}, in-flight cap ${p.rejected.concurrency})`);
  const failed = r.jobs.failed > 0 ? paint.bad(`${r.jobs.failed} failed`) : '0 failed';
  const gone = r.jobs.interrupted > 0 ? `, ${r.jobs.interrupted} left early` : '';
  const lines = [
    `${paint.bold(`${r.jobs.total} ${what}`)} in ${formatMs(r.elapsedMs)} (${formatRate(r.elapsedMs > 0 ? (r.jobs.total * 1000) / r.elapsedMs : 0)}): ` +
      `${p.admitted} admitted (${p.waited} waited, ${p.exempt} exempt), ${rejected}, ${failed}${gone}; ` +
      `peak ${r.inflight.peak} in flight (read-only ${r.inflight.readOnly}, mutating ${r.inflight.mutating})`,
    statsLine('latency', r.latencyMs),
    statsLine('added', r.addedMs),
    statsLine('throttle', r.throttleMs),
    statsLine('service', r.serviceMs),
    `  outcomes  ${counts(r.outcomes)}`,
  ];
  const width = Math.max(...Object.keys(r.upstreams).map((name) => name.length));
  for (const [name, u] of Object.entries(r.upstreams)) {
    lines.push(`  upstream  ${name.padEnd(width)}  ${String(u.requests).padStart(6)} ${what}   ${counts(u.outcomes)}   service p50 ${formatMs(u.serviceMs.p50)} p99 ${formatMs(u.serviceMs.p99)}`);
  }
  const injected = Object.entries(p.injected);
  if (injected.length > 0) lines.push(`  injected  ${injected.map(([rule, n]) => `'${rule}' ${n}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}
