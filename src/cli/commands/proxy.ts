import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../../core/clock.js';
import { UsageError } from '../../errors.js';
import { Admission } from '../../proxy/admission.js';
import { RoundRobin } from '../../proxy/balancer.js';
import { HttpProxy } from '../../proxy/http-proxy.js';
import { type ProxyConfig, type ProxyReport, ProxyStats } from '../../proxy/stats.js';
import { TcpProxy } from '../../proxy/tcp-proxy.js';
import { formatProxyReport } from '../../report/proxy.js';
import { mulberry32 } from '../../sources/trace/prng.js';
import { loadPaint, wantsProgress } from '../../ui/terminal.js';
import type { ProxySettings } from '../proxy-settings.js';
import { type Io, processIo } from '../session.js';

/** DIAL_TIMEOUT_MS bounds a connect to an upstream, as kube-proxy's userspace Proxier does. */
const DIAL_TIMEOUT_MS = 5000;

/**
 * proxyCommand is `throttle proxy`: it listens, prints `listening host:port` on stderr once bound, and
 * proxies until SIGTERM or SIGINT. Then it stops accepting, lets requests under way finish for --drain,
 * and prints its report. SIGUSR1 prints the report so far. Returns 0 after a clean stop, 1 when the drain
 * deadline cut requests off, 130 when a second signal ended it at once.
 */
export async function proxyCommand(s: ProxySettings, io: Io = processIo): Promise<number> {
  const clock = systemClock;
  const admission = new Admission({
    clock,
    ratePerSec: s.ratePerSec,
    burst: s.burst,
    concurrency: s.concurrency,
    mutatingConcurrency: s.mutatingConcurrency,
    onFull: s.onFull,
    maxWaitMs: s.maxWaitMs,
    perKey: s.perKey,
    faults: s.faults,
    random: mulberry32(s.seed),
  });
  const balancer = new RoundRobin(s.upstreamNames.length);
  const stats = new ProxyStats(s.upstreamNames);
  const server = s.tcp
    ? new TcpProxy({ upstreams: s.tcpUpstreams, admission, balancer, stats, clock, dialTimeoutMs: DIAL_TIMEOUT_MS })
    : new HttpProxy({
        upstreams: s.upstreams,
        admission,
        balancer,
        stats,
        clock,
        scan: { exempt: s.exempt, keyHeader: s.perKey === undefined ? undefined : s.perKeyHeader, stickyHeader: s.sticky },
        timeoutMs: s.timeoutMs,
        connections: s.concurrency === Infinity ? undefined : s.concurrency + (s.mutatingConcurrency === undefined || s.mutatingConcurrency === Infinity ? 0 : s.mutatingConcurrency),
        dialTimeoutMs: DIAL_TIMEOUT_MS,
      });
  let address: AddressInfo;
  try {
    address = await server.listen(s.listen.host, s.listen.port);
  } catch (err) {
    await server.stop(0);
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new UsageError(`--listen ${hostPort(s.listen.host, s.listen.port)}: cannot listen there (${code})`);
  }
  const listen = hostPort(address.address, address.port);
  io.stderr.write(`listening ${listen}\n`);

  const startMs = clock.now();
  const config = configOf(s, listen);
  const command = `proxy ${listen} -> ${s.upstreamNames.join(' ')}`;
  const report = (): ProxyReport => stats.report(command, config, clock.now() - startMs, admission.counts());
  const paint = await loadPaint(io.stderr, io.env);
  const progress = wantsProgress(io.stderr, io.env, s.progress && !s.quiet)
    ? (await import('../../ui/proxy-progress.js')).startProxyProgress({
        stream: io.stderr,
        listen,
        paint,
        read: () => {
          const c = admission.counts();
          return { done: stats.total, inFlight: c.inFlight, waiting: c.waiting, rejected: c.rejected.rate + c.rejected.perKey + c.rejected.concurrency, failed: stats.failed };
        },
      })
    : undefined;

  const onUsr1 = (): void => {
    const r = report();
    progress?.clear();
    io.stderr.write(formatProxyReport(r, paint));
    if (s.reportFile !== undefined) writeFileSync(s.reportFile, `${JSON.stringify(r, null, 2)}\n`);
  };
  let forced = false;
  let onSignal: () => void = () => undefined;
  const cut = await new Promise<number>((resolve) => {
    let stopping = false;
    onSignal = () => {
      if (stopping) {
        // A second signal: no more waiting for requests under way.
        forced = true;
        server.kill();
        return;
      }
      stopping = true;
      void server.stop(s.drainMs).then(resolve);
    };
    process.on('SIGUSR1', onUsr1);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  process.off('SIGUSR1', onUsr1);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  progress?.stop();

  const r = report();
  if (s.reportFile !== undefined) writeFileSync(s.reportFile, `${JSON.stringify(r, null, 2)}\n`);
  if (s.json) io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  if (!s.quiet) {
    if (cut > 0) io.stderr.write(`throttle: --drain ${s.drainMs} ms passed with ${cut} ${s.tcp ? 'connections' : 'requests'} still under way; they were cut off\n`);
    io.stderr.write(formatProxyReport(r, paint));
  }
  return forced ? 130 : cut > 0 ? 1 : 0;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** configOf records the proxy's set-up for the report (secrets of exempt headers are not). */
function configOf(s: ProxySettings, listen: string): ProxyConfig {
  const finite = (n: number | undefined): number | null => (n === undefined || n === Infinity ? null : n);
  return {
    listen,
    protocol: s.tcp ? 'tcp' : 'http',
    upstreams: s.upstreamNames,
    rate: finite(s.ratePerSec),
    burst: s.burst,
    concurrency: finite(s.concurrency),
    mutatingConcurrency: finite(s.mutatingConcurrency),
    onFull: s.onFull,
    maxWaitMs: s.maxWaitMs,
    perKey: s.perKey === undefined ? null : { rate: s.perKey.ratePerSec, burst: s.perKey.burst, by: s.perKeyHeader ?? 'client address' },
    sticky: s.sticky ?? null,
    exemptHeaders: s.exempt.map(([name]) => name),
    inject: s.faults.map((f) => f.text),
    seed: s.seed,
    timeoutMs: s.tcp ? null : finite(s.timeoutMs),
    drainMs: s.drainMs,
  };
}
