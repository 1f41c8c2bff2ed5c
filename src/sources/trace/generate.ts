import type { TraceEvent } from './event.js';
import { roundMs } from './numbers.js';
import { deriveSeed, exponential, mulberry32, type Random } from './prng.js';
import { sampleService, type ServiceDist } from './service.js';

export { formatTraceLine } from './format.js';
export { parseServiceDist, type ServiceDist } from './service.js';

/** ArrivalPattern names how generated arrivals are spread over time; see generateTrace. */
export type ArrivalPattern = 'constant' | 'poisson' | 'burst' | 'ramp' | 'diurnal';

export const ARRIVAL_PATTERNS: readonly ArrivalPattern[] = ['constant', 'poisson', 'burst', 'ramp', 'diurnal'];

export interface GenerateOptions {
  readonly pattern: ArrivalPattern;
  /** ratePerSec is the mean arrival rate over the whole duration (> 0). */
  readonly ratePerSec: number;
  /** durationMs is how long the trace lasts: every arrival lies in [0, durationMs). */
  readonly durationMs: number;
  /** seed makes the trace reproducible: the same options give the same events, event for event. */
  readonly seed: number;
  /** service, when given, draws each event's serviceMs from this distribution. */
  readonly service?: ServiceDist;
  /** burstSize is how many events a `burst` groups together (default 10). */
  readonly burstSize?: number;
  /** key is every event's key (default ""). */
  readonly key?: string;
}

/**
 * generateTrace yields a synthetic trace, lazily, in arrival order. With r = ratePerSec and D = durationMs,
 * every pattern averages r events per second over D (exactly, or in expectation for the random ones):
 *
 * - `constant`: evenly spaced, one every 1/r s, the first at 0 (a fixed-rate load generator).
 * - `poisson`: a Poisson process: independent exponential gaps with mean 1/r s (independent users).
 * - `burst`: `burstSize` events (default 10) at the same instant, one group every burstSize/r s, the
 *   first at 0; e.g. r = 100/s: 10 events at 0, 100 ms, 200 ms, ... (cron jobs, retries in lockstep).
 * - `ramp`: a Poisson process whose rate rises linearly from 0 at the start to 2r at the end (a launch,
 *   a load test's warm-up), so the mean is r.
 * - `diurnal`: a Poisson process whose rate follows one full sine cycle over D: r(1 - cos(2πt/D)), from 0
 *   at the start up to 2r at D/2 and back to 0 (a day's traffic compressed into D); mean r.
 *
 * ramp and diurnal are made by a time change: unit-rate Poisson arrivals s₁ < s₂ < ... are mapped through
 * the inverse of the cumulative rate Λ(t) = ∫₀ᵗ λ, so their rate at t is λ(t).
 *
 * Determinism: all randomness comes from seeded PRNGs (no Math.random), so a seed gives the same trace on
 * every run. Arrivals and service times draw from separate streams, so adding `service` never moves an
 * arrival. Times are rounded to the microsecond (what formatTraceLine writes). Throws a RangeError naming
 * the option when ratePerSec is not finite and > 0, durationMs is not finite and >= 0, or burstSize is not
 * a whole number >= 1.
 */
export function* generateTrace(options: GenerateOptions): Generator<TraceEvent, void, undefined> {
  const { pattern, ratePerSec, durationMs, seed } = options;
  if (!Number.isFinite(ratePerSec) || ratePerSec <= 0) throw new RangeError(`ratePerSec must be a finite rate > 0, not ${ratePerSec}`);
  if (!Number.isFinite(durationMs) || durationMs < 0) throw new RangeError(`durationMs must be finite and >= 0, not ${durationMs}`);
  const burstSize = options.burstSize ?? 10;
  if (!Number.isSafeInteger(burstSize) || burstSize < 1) throw new RangeError(`burstSize must be a whole number >= 1, not ${burstSize}`);
  const arrivals = mulberry32(seed);
  const serviceRandom = mulberry32(deriveSeed(seed, 1));
  const key = options.key ?? '';
  const service = options.service;
  for (const t of arrivalTimes(pattern, ratePerSec / 1000, durationMs, burstSize, arrivals)) {
    const tMs = roundMs(t);
    if (tMs >= durationMs) return;
    yield service === undefined ? { tMs, key } : { tMs, key, serviceMs: roundMs(sampleService(service, serviceRandom)) };
  }
}

/** arrivalTimes yields arrival times in ms (unrounded, increasing), ratePerMs = r / 1000, until past D. */
function* arrivalTimes(pattern: ArrivalPattern, ratePerMs: number, D: number, burstSize: number, random: Random): Generator<number> {
  switch (pattern) {
    case 'constant':
      // i / rate rather than a running sum: no drift from accumulated rounding over millions of events.
      for (let i = 0; ; i++) yield i / ratePerMs;
    case 'burst':
      for (let k = 0; ; k++) {
        const t = (k * burstSize) / ratePerMs;
        for (let i = 0; i < burstSize; i++) yield t;
      }
    case 'poisson':
      for (let t = exponential(random, 1 / ratePerMs); ; t += exponential(random, 1 / ratePerMs)) yield t;
    case 'ramp': {
      // λ(t) = 2r t / D, Λ(t) = r t² / D, so Λ⁻¹(s) = sqrt(s D / r).
      for (let s = exponential(random, 1); ; s += exponential(random, 1)) yield Math.sqrt((s * D) / ratePerMs);
    }
    case 'diurnal': {
      // λ(t) = r (1 - cos(2πt/D)), Λ(t) = r (t - D/(2π) sin(2πt/D)); Λ is increasing, solved numerically.
      const total = ratePerMs * D;
      let t = 0;
      for (let s = exponential(random, 1); s < total; s += exponential(random, 1)) {
        t = solveIncreasing(
          (x) => ratePerMs * (x - (D / (2 * Math.PI)) * Math.sin((2 * Math.PI * x) / D)) - s,
          (x) => ratePerMs * (1 - Math.cos((2 * Math.PI * x) / D)),
          t,
          D,
        );
        yield t;
      }
      return;
    }
    default:
      throw new RangeError(`unknown arrival pattern ${JSON.stringify(pattern)}: use one of ${ARRIVAL_PATTERNS.join(', ')}`);
  }
}

/**
 * solveIncreasing finds x in [lo, hi] with f(x) = 0 for an increasing f with f(lo) <= 0 <= f(hi):
 * Newton's method on derivative df, falling back to bisection whenever a step would leave the bracket
 * (df is 0 at the ends of a diurnal cycle).
 */
function solveIncreasing(f: (x: number) => number, df: (x: number) => number, lo: number, hi: number): number {
  let x = lo;
  for (let i = 0; i < 200; i++) {
    const fx = f(x);
    if (fx === 0) return x;
    if (fx < 0) lo = x;
    else hi = x;
    const d = df(x);
    let next = d > 0 ? x - fx / d : NaN;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - x) < 1e-7) return next;
    x = next;
  }
  return x;
}
