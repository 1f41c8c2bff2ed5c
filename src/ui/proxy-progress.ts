import { formatRate, type Paint, plain } from '../report/text.js';
import { formatSpan } from './progress.js';
import { RateWindow } from './rate-window.js';

/** ProxyFrame is one frame of the proxy's live line, as plain numbers. */
export interface ProxyFrame {
  readonly listen: string;
  readonly elapsedMs: number;
  /** done counts finished requests (connections). */
  readonly done: number;
  readonly ratePerSec: number;
  readonly inFlight: number;
  readonly waiting: number;
  readonly rejected: number;
  readonly failed: number;
}

/** ProxyCounters is what the line reads at each frame. */
export interface ProxyCounters {
  readonly done: number;
  readonly inFlight: number;
  readonly waiting: number;
  readonly rejected: number;
  readonly failed: number;
}

/**
 * formatProxyLine renders one frame, at most `columns - 1` characters wide (a wrapped line would leave
 * copies behind): `127.0.0.1:8080  52.1/s  1234 done  3 in flight  12 waiting  45 rejected  0 failed  up 1m05s`.
 * On a narrow terminal the tail goes first.
 */
export function formatProxyLine(f: ProxyFrame, paint: Paint = plain, columns = 80): string {
  const parts: Array<[string, (t: string) => string]> = [
    [f.listen, paint.bold],
    [formatRate(f.ratePerSec), (t) => t],
    [`${f.done} done`, (t) => t],
    [`${f.inFlight} in flight`, (t) => t],
    [`${f.waiting} waiting`, (t) => t],
    [`${f.rejected} rejected`, f.rejected > 0 ? paint.warn : (t) => t],
    [`${f.failed} failed`, f.failed > 0 ? paint.bad : (t) => t],
    [`up ${formatSpan(f.elapsedMs / 1000)}`, paint.dim],
  ];
  let width = -2;
  let kept = 0;
  for (const [text] of parts) {
    if (width + 2 + text.length > columns - 1) break;
    width += 2 + text.length;
    kept++;
  }
  return parts
    .slice(0, Math.max(1, kept))
    .map(([text, paintIt]) => paintIt(text))
    .join('  ');
}

const ERASE_LINE = '\r\x1b[2K';

export interface ProxyProgressHandle {
  /** clear erases the line so that a report can be printed on a clean line; the next frame draws it again. */
  clear(): void;
  /** stop erases the line for good and stops the timer; a second call does nothing. */
  stop(): void;
}

/**
 * startProxyProgress redraws the live line on `stream` (a terminal) four times a second from `read`, until
 * stopped. The rate is requests finished per second over the last five seconds.
 */
export function startProxyProgress(o: {
  stream: NodeJS.WritableStream & { columns?: number };
  listen: string;
  read: () => ProxyCounters;
  paint?: Paint;
}): ProxyProgressHandle {
  const startMs = performance.now();
  const window = new RateWindow(startMs);
  let lastDone = 0;
  const draw = (): void => {
    const now = performance.now();
    const c = o.read();
    if (c.done > lastDone) window.add(now, c.done - lastDone);
    lastDone = c.done;
    const line = formatProxyLine({ listen: o.listen, elapsedMs: now - startMs, ratePerSec: window.rateAt(now), ...c }, o.paint, o.stream.columns || 80);
    o.stream.write(`${ERASE_LINE}${line}`);
  };
  const timer = setInterval(draw, 250);
  timer.unref();
  draw();
  let stopped = false;
  return {
    clear(): void {
      if (!stopped) o.stream.write(ERASE_LINE);
    },
    stop(): void {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      o.stream.write(ERASE_LINE);
    },
  };
}
