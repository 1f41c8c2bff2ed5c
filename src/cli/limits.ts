import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { Aimd } from '../core/aimd.js';
import { parseRate } from '../core/parse.js';
import { keyFunction } from '../engine/key-template.js';
import type { Limits, Scheduler, SchedulerOptions } from '../engine/scheduler.js';
import { type LimitChange, LimitLog, type LimitsSummary } from '../measure/limits.js';
import { formatRate } from '../report/text.js';
import { UsageError } from '../errors.js';
import type { LimitSettings } from './settings.js';

/**
 * The limits that move, on the command line's side: the scheduler options a plan, --adaptive and per-key
 * flags become, and while a real run goes on, --control, SIGUSR1/SIGUSR2 and the log of every change.
 */

/** limitOptionsOf turns the moving-limit flags into scheduler options (fresh controllers per call). */
export function limitOptionsOf(s: LimitSettings): Pick<SchedulerOptions, 'plan' | 'adaptive' | 'perKey' | 'keyOf'> {
  const adaptive =
    s.adaptive || s.adaptiveConcurrency
      ? {
          ...(s.adaptive ? { rate: new Aimd({ ceiling: s.ratePerSec, floor: s.minRatePerSec, windowMs: 1000 }) } : {}),
          ...(s.adaptiveConcurrency ? { concurrency: new Aimd({ ceiling: s.concurrency, floor: 1, decrease: 0.7, increase: 1, integer: true }) } : {}),
        }
      : undefined;
  return {
    ...(s.plan === undefined ? {} : { plan: s.plan }),
    ...(adaptive === undefined ? {} : { adaptive }),
    ...(s.perKey === undefined ? {} : { perKey: s.perKey }),
    ...(s.keyTemplate === undefined || s.perKey === undefined ? {} : { keyOf: keyFunction(s.keyTemplate) }),
  };
}

/** moving reports whether the settings let limits move (then the report gets a `limits` section). */
export function moving(s: LimitSettings): boolean {
  return s.plan !== undefined || s.adaptive || s.adaptiveConcurrency || s.controlFile !== undefined;
}

/** describeLimits words the limits in force, e.g. `rate 40/s, burst 1, -j 8`. */
export function describeLimits(l: Limits | LimitChange): string {
  const rate = 'ratePerSec' in l ? l.ratePerSec : (l.rate ?? Infinity);
  const concurrency = l.concurrency ?? Infinity;
  return `rate ${formatRate(rate)}, burst ${l.burst}, -j ${concurrency === Infinity ? 'inf' : concurrency}`;
}

/** ControlValues is what a --control file asks for. */
export type ControlValues = Partial<Limits>;

/**
 * parseControl reads a --control file: `name=value` pairs separated by blanks or lines, `#` starts a
 * comment. Names: rate (e.g. 20/s, inf), burst (>= 1), concurrency or j (>= 1, or inf). Throws a
 * UsageError naming the file and line.
 */
export function parseControl(text: string, file: string): ControlValues {
  const out: { ratePerSec?: number; burst?: number; concurrency?: number } = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*/, '').trim();
    if (line === '') continue;
    for (const pair of line.split(/\s+/)) {
      const where = `--control ${file}:${i + 1}`;
      const eq = pair.indexOf('=');
      const name = eq > 0 ? pair.slice(0, eq) : '';
      const value = pair.slice(eq + 1);
      if (name === 'rate') {
        let r: number;
        try {
          r = parseRate(value);
        } catch (err) {
          throw new UsageError(`${where}: ${(err as Error).message}`);
        }
        if (!(r > 0)) throw new UsageError(`${where}: a rate of ${value} would never run anything: use e.g. rate=20/s`);
        out.ratePerSec = r;
      } else if (name === 'burst' && /^\d+$/.test(value) && Number(value) >= 1) {
        out.burst = Number(value);
      } else if ((name === 'concurrency' || name === 'j') && (/^(inf|unlimited)$/i.test(value) || (/^\d+$/.test(value) && Number(value) >= 1))) {
        out.concurrency = /^\d+$/.test(value) ? Number(value) : Infinity;
      } else {
        throw new UsageError(`${where}: invalid setting "${pair}": use e.g. rate=20/s burst=5 concurrency=8`);
      }
    }
  }
  return out;
}

/** readControl reads and parses the file; undefined when it does not exist (yet). */
export function readControl(file: string): ControlValues | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`--control ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return parseControl(text, file);
}

export interface LimitWatch {
  /** summary is the report's `limits` section, or undefined when nothing could move and nothing did. */
  summary(endMs: number): LimitsSummary | undefined;
  dispose(): void;
}

/**
 * watchLimits follows the limits of a real run: it folds every change into the report's log and prints
 * it on stderr (unless quiet), applies a --control file at once and whenever it changes, and lets
 * SIGUSR1 / SIGUSR2 raise / lower the in-flight cap by one (as xargs -P does).
 */
export function watchLimits(scheduler: Scheduler<unknown>, s: LimitSettings & { quiet: boolean }, stderr: NodeJS.WritableStream, startMs: number): LimitWatch {
  const log = new LimitLog(scheduler.limits(), startMs);
  const say = (line: string): void => {
    if (!s.quiet) stderr.write(`throttle: ${line}\n`);
  };
  const off = scheduler.events.on((e) => {
    const change = log.add(e);
    if (change !== undefined) say(`${describeLimits(change)} (${change.reason})`);
  }, ['limits']);
  let moved = false;
  const onUsr1 = (): void => {
    moved = true;
    const c = scheduler.limits().concurrency;
    if (c === Infinity) say('SIGUSR1: the in-flight cap is unlimited already');
    else scheduler.setLimits({ concurrency: c + 1 }, 'SIGUSR1');
  };
  const onUsr2 = (): void => {
    moved = true;
    const c = scheduler.limits().concurrency;
    if (c <= 1) say('SIGUSR2: the in-flight cap stays at 1');
    else scheduler.setLimits({ concurrency: c === Infinity ? Math.max(1, scheduler.running - 1) : c - 1 }, 'SIGUSR2');
  };
  process.on('SIGUSR1', onUsr1);
  process.on('SIGUSR2', onUsr2);
  const file = s.controlFile;
  const apply = (values: ControlValues | undefined): void => {
    if (values !== undefined && Object.keys(values).length > 0) scheduler.setLimits(values, `--control ${file}`);
  };
  if (file !== undefined) {
    apply(readControl(file));
    watchFile(file, { interval: 100, persistent: false }, (now, before) => {
      if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
      try {
        apply(readControl(file));
      } catch (err) {
        say(`${(err as Error).message}; the limits stay as they are`);
      }
    });
  }
  return {
    summary: (endMs) => {
      const summary = log.summary(endMs);
      return moving(s) || moved || summary.changes.length > 0 || summary.increases > 0 ? summary : undefined;
    },
    dispose: () => {
      off();
      process.off('SIGUSR1', onUsr1);
      process.off('SIGUSR2', onUsr2);
      if (file !== undefined) unwatchFile(file);
    },
  };
}

/** simulatedLimits folds the changes of a simulated run (no signals, no file, no printing). */
export function simulatedLimits(scheduler: Scheduler<unknown>, s: LimitSettings, startMs: number): LimitWatch {
  const log = new LimitLog(scheduler.limits(), startMs);
  const off = scheduler.events.on((e) => void log.add(e), ['limits']);
  return {
    summary: (endMs) => {
      const summary = log.summary(endMs);
      return moving(s) || summary.changes.length > 0 ? summary : undefined;
    },
    dispose: off,
  };
}
