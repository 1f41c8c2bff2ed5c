import { ParseError, parseDuration, parseRate } from './parse.js';

/**
 * A rate plan: the bucket's refill rate as a function of time since the run began. It is a list of
 * segments played in order — steps held for a while (`10/s@30s`) and linear ramps (`ramp:50/s..200/s@2m`);
 * after the last one its final rate holds (a last segment may omit `@<duration>`: held for good).
 *
 * The bucket only knows constant rates, so a plan is handed to it as {@link RatePlan.changes}: the points
 * where the rate changes, each applied with `setLimitAt` at its own instant (tokens earned before it keep
 * the old rate, none are lost or granted in a catch-up). A ramp becomes a staircase of short steps, each
 * at the ramp's mean rate over the step, so the tokens earned by the end of every step are exactly the
 * ramp's integral; between step edges the error is at most one step's worth of the rate's change.
 */
export interface PlanSegment {
  /** kind: a step holds `fromPerSec`; a ramp goes linearly from `fromPerSec` to `toPerSec`. */
  readonly kind: 'step' | 'ramp';
  readonly fromPerSec: number;
  readonly toPerSec: number;
  /** startMs is the segment's start, counted from the run's start. */
  readonly startMs: number;
  /** durationMs is how long it lasts; Infinity for a last segment held for good. */
  readonly durationMs: number;
  /** text is the segment as typed, for messages and reports. */
  readonly text: string;
}

/** RateChange is one point of the staircase a plan is played as. */
export interface RateChange {
  /** atMs counts from the run's start. */
  readonly atMs: number;
  readonly ratePerSec: number;
  /** segment is the index of the segment it belongs to; `first` marks a segment's first change. */
  readonly segment: number;
  readonly first: boolean;
}

/** RAMP_STEP_MS is the finest step of a ramp's staircase; a ramp has at most MAX_RAMP_STEPS steps. */
const RAMP_STEP_MS = 100;
const MAX_RAMP_STEPS = 1000;

const PLAN_EXAMPLE = 'use e.g. 10/s@30s,50/s@1m,ramp:50/s..200/s@2m';

export class RatePlan {
  readonly segments: readonly PlanSegment[];
  readonly text: string;

  constructor(segments: readonly PlanSegment[], text: string) {
    if (segments.length === 0) throw new RangeError('RatePlan: no segments');
    this.segments = segments;
    this.text = text;
  }

  /** lengthMs is when the last segment ends (Infinity when it is held for good). */
  get lengthMs(): number {
    const last = this.segments[this.segments.length - 1]!;
    return last.startMs + last.durationMs;
  }

  /** finalPerSec is the rate held once the plan has played out. */
  get finalPerSec(): number {
    return this.segments[this.segments.length - 1]!.toPerSec;
  }

  /** maxPerSec is the highest rate anywhere in the plan (the offered rate's ceiling). */
  get maxPerSec(): number {
    return Math.max(...this.segments.map((s) => Math.max(s.fromPerSec, s.toPerSec)));
  }

  /** rateAt returns the plan's rate at `ms` after the start (a ramp's exact, not its staircase's, value). */
  rateAt(ms: number): number {
    for (const s of this.segments) {
      if (ms < s.startMs + s.durationMs) {
        if (s.kind === 'step') return s.fromPerSec;
        const f = Math.max(0, ms - s.startMs) / s.durationMs;
        return s.fromPerSec + (s.toPerSec - s.fromPerSec) * f;
      }
    }
    return this.finalPerSec;
  }

  /**
   * changes lists the staircase in time order: each step's start, and for a ramp one change per step of
   * at least RAMP_STEP_MS (at most MAX_RAMP_STEPS per ramp), at the ramp's mean rate over that step, then
   * its end rate once it is over.
   */
  *changes(): Generator<RateChange> {
    for (let i = 0; i < this.segments.length; i++) {
      const s = this.segments[i]!;
      if (s.kind === 'step') {
        yield { atMs: s.startMs, ratePerSec: s.fromPerSec, segment: i, first: true };
        continue;
      }
      const steps = Math.max(1, Math.min(MAX_RAMP_STEPS, Math.floor(s.durationMs / RAMP_STEP_MS)));
      const stepMs = s.durationMs / steps;
      const slope = (s.toPerSec - s.fromPerSec) / steps;
      for (let k = 0; k < steps; k++) {
        yield { atMs: s.startMs + k * stepMs, ratePerSec: s.fromPerSec + slope * (k + 0.5), segment: i, first: k === 0 };
      }
      // The end rate holds from the ramp's end until the next segment (if the ramp is the last one, for good).
      const next = this.segments[i + 1];
      if (next === undefined || next.startMs > s.startMs + s.durationMs) {
        yield { atMs: s.startMs + s.durationMs, ratePerSec: s.toPerSec, segment: i, first: false };
      }
    }
  }

  /**
   * dueTimes returns a function giving the k-th (1-based, k increasing from call to call) grant time, in
   * ms from the start, of an unhindered bucket with this plan and `burst`: the first instant at which
   * burst + (tokens earned since the start) reaches k. It is the schedule of generated load, on which
   * latency is measured (no coordinated omission), and it follows the same staircase as the bucket.
   */
  dueTimes(burst: number): (k: number) => number {
    const steps = this.changes();
    let cur = steps.next();
    if (cur.done || cur.value.atMs > 0) throw new RangeError('RatePlan: the plan must start at 0');
    let atMs = 0;
    let ratePerSec = cur.value.ratePerSec;
    let tokens = burst;
    cur = steps.next();
    return (k: number): number => {
      if (k <= burst) return 0;
      for (;;) {
        const endMs = cur.done ? Infinity : cur.value.atMs;
        const perMs = ratePerSec / 1000;
        const needed = k - tokens;
        // Within this step the k-th token comes after needed / perMs.
        const hereMs = perMs === Infinity ? 0 : perMs > 0 ? needed / perMs : Infinity;
        if (atMs + hereMs <= endMs) return atMs + hereMs;
        tokens += perMs * (endMs - atMs);
        atMs = endMs;
        if (cur.done) return Infinity;
        ratePerSec = cur.value.ratePerSec;
        cur = steps.next();
      }
    };
  }
}

/**
 * parsePlan reads `--rate` when it is a plan: comma-separated `RATE@DUR` steps and `ramp:RATE..RATE@DUR`
 * ramps, the last of which may omit `@DUR`. Returns undefined for a plain rate (no `@`, no `ramp:`), which
 * the caller parses with parseRate. Throws a ParseError naming the bad segment.
 */
export function parsePlan(text: string): RatePlan | undefined {
  const t = text.trim();
  if (!t.includes('@') && !t.includes('ramp:') && !t.includes(',')) return undefined;
  const parts = t.split(',').map((p) => p.trim());
  const segments: PlanSegment[] = [];
  let startMs = 0;
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    const at = part.lastIndexOf('@');
    const body = at < 0 ? part : part.slice(0, at);
    let durationMs = Infinity;
    if (at >= 0) {
      try {
        durationMs = parseDuration(part.slice(at + 1));
      } catch {
        throw new ParseError(`invalid plan ${quote(text)}: segment ${quote(part)} has a bad duration after "@": ${PLAN_EXAMPLE}`, text);
      }
      if (!(durationMs > 0)) throw new ParseError(`invalid plan ${quote(text)}: segment ${quote(part)} lasts no time: ${PLAN_EXAMPLE}`, text);
    } else if (!last) {
      throw new ParseError(`invalid plan ${quote(text)}: segment ${quote(part)} needs "@<duration>" (only the last may go without): ${PLAN_EXAMPLE}`, text);
    }
    let kind: 'step' | 'ramp' = 'step';
    let fromPerSec: number;
    let toPerSec: number;
    try {
      if (body.startsWith('ramp:')) {
        kind = 'ramp';
        const [a, b, ...rest] = body.slice(5).split('..');
        if (a === undefined || b === undefined || rest.length > 0) throw new Error();
        fromPerSec = parseRate(a);
        toPerSec = parseRate(b);
      } else {
        fromPerSec = toPerSec = parseRate(body);
      }
    } catch {
      throw new ParseError(`invalid plan ${quote(text)}: segment ${quote(part)} is not a rate or ramp:<rate>..<rate>: ${PLAN_EXAMPLE}`, text);
    }
    if (kind === 'ramp' && (!Number.isFinite(fromPerSec) || !Number.isFinite(toPerSec))) {
      throw new ParseError(`invalid plan ${quote(text)}: a ramp needs finite rates, got ${quote(part)}: ${PLAN_EXAMPLE}`, text);
    }
    if (kind === 'ramp' && durationMs === Infinity) {
      throw new ParseError(`invalid plan ${quote(text)}: ramp ${quote(part)} needs "@<duration>": ${PLAN_EXAMPLE}`, text);
    }
    if (fromPerSec <= 0 || toPerSec <= 0) throw new ParseError(`invalid plan ${quote(text)}: segment ${quote(part)} has a zero rate, which would never run anything: ${PLAN_EXAMPLE}`, text);
    segments.push({ kind, fromPerSec, toPerSec, startMs, durationMs, text: part });
    startMs += durationMs;
  });
  return new RatePlan(segments, t);
}

function quote(s: string): string {
  return JSON.stringify(s);
}
