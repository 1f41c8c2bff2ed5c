import cliProgress from 'cli-progress';
import { type Clock, systemClock } from '../core/clock.js';
import type { Events, SchedulerEvent } from '../engine/events.js';
import { type Paint, formatRate, plain } from '../report/text.js';
import { RateWindow } from './rate-window.js';

/** ProgressSource is what the progress bar reads from a scheduler (a Scheduler fits; so does a test fake). */
export interface ProgressSource {
  readonly events: Events;
  /** running is how many attempts execute right now. */
  readonly running: number;
  /** active is how many jobs were taken from the source and are not done yet. */
  readonly active: number;
}

/** ProgressState is one frame of the progress line, as plain numbers. */
export interface ProgressState {
  /** total is how many jobs the run has, when known in advance. */
  readonly total: number | undefined;
  readonly done: number;
  /** failed counts jobs that ended failed or rejected. */
  readonly failed: number;
  /** retried counts jobs that needed more than one attempt (as the summary does). */
  readonly retried: number;
  readonly inFlight: number;
  /** throttled counts jobs held by the token bucket or the in-flight cap (not those waiting out a backoff). */
  readonly throttled: number;
  /** ratePerSec is attempts started per second over the last few seconds. */
  readonly ratePerSec: number;
  readonly targetRatePerSec: number;
  readonly elapsedMs: number;
  /** etaMs is the time left when the total is known and jobs have been finishing; else undefined. */
  readonly etaMs: number | undefined;
}

/**
 * ProgressTracker folds scheduler events into counters, O(1) per event, so that it keeps up with thousands
 * of jobs per second; {@link ProgressTracker.state} assembles a frame only when one is drawn.
 */
export class ProgressTracker {
  readonly #total: number | undefined;
  /** #targetRatePerSec follows the limits in force (a plan, --adaptive, --control move it). */
  #targetRatePerSec: number;
  readonly #startMs: number;
  /** #started counts attempts started (the achieved rate); #finished counts jobs done (the ETA). */
  readonly #started: RateWindow;
  readonly #finished: RateWindow;
  /** #backingOff holds the seqs of jobs between a `retrying` event and their next start (or their end). */
  readonly #backingOff = new Set<number>();
  #done = 0;
  #failed = 0;
  #retried = 0;

  constructor(options: { total?: number | undefined; targetRatePerSec: number; startMs: number; windowMs?: number }) {
    this.#total = options.total;
    this.#targetRatePerSec = options.targetRatePerSec;
    this.#startMs = options.startMs;
    this.#started = new RateWindow(options.startMs, options.windowMs);
    this.#finished = new RateWindow(options.startMs, options.windowMs);
  }

  /** observe takes one scheduler event. Times are read from the events, so they must share the tracker's clock. */
  observe(e: SchedulerEvent): void {
    switch (e.type) {
      case 'limits':
        this.#targetRatePerSec = e.ratePerSec;
        break;
      case 'started':
        this.#started.add(e.atMs);
        if (e.attempt > 1) this.#backingOff.delete(e.job.seq);
        break;
      case 'retrying':
        // A job retries at most once per attempt; its first retry makes it a retried job.
        if (e.attempt === 1) this.#retried++;
        this.#backingOff.add(e.job.seq);
        break;
      case 'done': {
        const r = e.result;
        this.#done++;
        this.#finished.add(r.endedMs);
        if (r.status === 'failed' || r.status === 'rejected') this.#failed++;
        if (this.#backingOff.size > 0) this.#backingOff.delete(r.seq);
        break;
      }
      default:
        break;
    }
  }

  /**
   * state assembles the frame at `nowMs`, given the scheduler's live counts. Jobs that are active but not
   * running wait for the bucket or a slot (throttled) or for a backoff; the latter are not counted as
   * throttled. A retry between its backoff and its start still counts as backing off: a slight undercount.
   */
  state(nowMs: number, running: number, active: number): ProgressState {
    const total = this.#total;
    let etaMs: number | undefined;
    if (total !== undefined) {
      const left = total - this.#done;
      const elapsedMs = nowMs - this.#startMs;
      // Recent completions first; a run of slow jobs may have none in the window, then the whole-run average.
      let perSec = this.#finished.rateAt(nowMs);
      if (!(perSec > 0) && this.#done > 0 && elapsedMs > 0) perSec = (this.#done * 1000) / elapsedMs;
      if (left <= 0) etaMs = 0;
      else if (perSec > 0) etaMs = (left * 1000) / perSec;
    }
    return {
      total,
      done: this.#done,
      failed: this.#failed,
      retried: this.#retried,
      inFlight: running,
      throttled: Math.max(0, active - running - this.#backingOff.size),
      ratePerSec: this.#started.rateAt(nowMs),
      targetRatePerSec: this.#targetRatePerSec,
      elapsedMs: Math.max(0, nowMs - this.#startMs),
      etaMs,
    };
  }
}

/** formatSpan renders whole seconds as "42s", "3m05s" or "2h03m". */
export function formatSpan(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

const BAR_MIN = 10;
const BAR_MAX = 30;
const SEP = '  ';

interface Segment {
  readonly text: string;
  readonly painted: string;
  /** drop orders the segments to leave out on a narrow terminal: highest first; 0 never. */
  readonly drop: number;
}

function segment(text: string, drop: number, paint?: (t: string) => string): Segment {
  return { text, painted: paint === undefined ? text : paint(text), drop };
}

/**
 * formatProgressLine renders one frame, at most `columns - 1` characters wide so the terminal never wraps it
 * (a wrapped line would leave a copy behind at every redraw):
 *
 *     ████████░░░░ 120/1000 12%  98.5/s of 100/s  4 in flight  12 throttled  3 retried  1 failed  ETA 9s
 *     120 done in 12s  98.5/s of inf  4 in flight  0 throttled
 *
 * Retried and failed appear once nonzero. On a narrow terminal the bar goes first, then retried, throttled,
 * in flight, rate, ETA and failed; the count always stays.
 */
export function formatProgressLine(s: ProgressState, paint: Paint = plain, columns = 80): string {
  const segments: Segment[] = [];
  let fraction: number | undefined;
  if (s.total === undefined) {
    segments.push(segment(`${s.done} done in ${formatSpan(s.elapsedMs / 1000)}`, 0));
  } else {
    fraction = s.total > 0 ? Math.min(1, s.done / s.total) : 1;
    segments.push(segment(`${s.done}/${s.total} ${Math.floor(fraction * 100)}%`, 0));
  }
  segments.push(segment(`${formatRate(s.ratePerSec)} of ${formatRate(s.targetRatePerSec)}`, 3));
  segments.push(segment(`${s.inFlight} in flight`, 4));
  segments.push(segment(`${s.throttled} throttled`, 5));
  if (s.retried > 0) segments.push(segment(`${s.retried} retried`, 6, paint.warn));
  if (s.failed > 0) segments.push(segment(`${s.failed} failed`, 1, paint.bad));
  if (s.total !== undefined) segments.push(segment(`ETA ${s.etaMs === undefined ? '--' : formatSpan(Math.ceil(s.etaMs / 1000))}`, 2));

  const budget = columns - 1;
  const width = (list: Segment[]): number => list.reduce((n, seg) => n + seg.text.length, 0) + SEP.length * (list.length - 1);
  let kept = segments;
  while (width(kept) > budget) {
    let worst: Segment | undefined;
    for (const seg of kept) if (seg.drop > 0 && (worst === undefined || seg.drop > worst.drop)) worst = seg;
    if (worst === undefined) break;
    kept = kept.filter((seg) => seg !== worst);
  }
  const line = kept.map((seg) => seg.painted).join(SEP);
  const barWidth = Math.min(BAR_MAX, budget - width(kept) - 1);
  if (fraction === undefined || barWidth < BAR_MIN) return line;
  const full = Math.round(fraction * barWidth);
  return `${paint.ok('█'.repeat(full))}${paint.dim('░'.repeat(barWidth - full))} ${line}`;
}

const SAVE_CURSOR = '\x1B7';
const RESTORE_CURSOR = '\x1B8';

export interface ProgressOptions {
  /** stream is where the bar is drawn: stderr, a terminal (see wantsProgress). */
  stream: NodeJS.WritableStream & { columns?: number };
  scheduler: ProgressSource;
  /** total is the number of jobs when known in advance; without it the line shows a count, no bar, no ETA. */
  total?: number | undefined;
  targetRatePerSec: number;
  /** clock must be the scheduler's clock: event times are read on it. */
  clock?: Clock;
  paint?: Paint;
}

/** ProgressHandle controls a running progress bar. */
export interface ProgressHandle {
  /** clear erases the bar's line so that other output written next to the terminal starts clean. */
  clear(): void;
  /** stop erases the bar for good and unsubscribes; a second call does nothing. */
  stop(): void;
}

/** ERASE_LINE moves to the start of the line and erases it. */
const ERASE_LINE = '\r\x1b[2K';

/**
 * startProgress draws a one-line progress bar (cli-progress) on `stream`, fed by the scheduler's events, and
 * redrawn at most ten times a second. `stop` erases the line and leaves the cursor at its start, so what is
 * printed next starts on a clean line; it unsubscribes and leaves no timer behind. Calling stop again does
 * nothing.
 */
export function startProgress(options: ProgressOptions): ProgressHandle {
  const { stream, scheduler } = options;
  const clock = options.clock ?? systemClock;
  const paint = options.paint ?? plain;
  const tracker = new ProgressTracker({ total: options.total, targetRatePerSec: options.targetRatePerSec, startMs: clock.now() });
  const unsubscribe = scheduler.events.on((e) => tracker.observe(e));
  const frame = (): string => formatProgressLine(tracker.state(clock.now(), scheduler.running, scheduler.active), paint, stream.columns || 80);

  // cli-progress writes through this view of the stream, for two reasons:
  // - it trims each frame to the terminal width counting escape codes as characters, so it could cut a colour
  //   mid-sequence and leave it on. The frame already fits (formatProgressLine), so the view claims to be
  //   wide. Its alternative, turning line wrap off (`linewrap: false`), would clip the jobs' own output on
  //   the same terminal while the bar is shown;
  // - it saves the cursor position at start and restores it before erasing the bar at stop. Those are screen
  //   positions: had output scrolled the screen meanwhile, the erase would hit some other line. Without
  //   them, the bar is drawn and erased on whatever line the cursor is on, which is the right one.
  const view = {
    isTTY: true,
    columns: Number.MAX_SAFE_INTEGER,
    write: (chunk: string, callback?: (err?: Error | null) => void): boolean =>
      chunk === SAVE_CURSOR || chunk === RESTORE_CURSOR ? true : stream.write(chunk, callback),
  } as unknown as NodeJS.WritableStream;
  const bar = new cliProgress.SingleBar({
    stream: view,
    format: frame,
    fps: 10,
    // Frames are read from the tracker when drawn; nothing calls update(), so no per-event redraw work.
    synchronousUpdate: false,
    // Redraw even when the frame is unchanged: a job writing to the same terminal may have overwritten it.
    forceRedraw: true,
    linewrap: true,
    clearOnComplete: true,
    hideCursor: false,
    // The command handles SIGINT (stop, then kill) and calls stop() on the way out.
    gracefulExit: false,
  });
  bar.start(options.total ?? 0, 0);

  let stopped = false;
  let shown = true;
  return {
    clear(): void {
      if (stopped || !shown) return;
      stream.write(ERASE_LINE);
      shown = false;
      // The next frame (within 100 ms) draws it again, below the output that needed the line.
      setImmediate(() => {
        shown = true;
      });
    },
    stop(): void {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      bar.stop();
    },
  };
}
