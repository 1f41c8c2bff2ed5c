import { ParseError, parseDuration } from '../../core/parse.js';
import { exponential, standardNormal, type Random } from './prng.js';

/**
 * ServiceDist is a distribution of service times, in milliseconds:
 * - `const`: always `ms`;
 * - `uniform`: uniform on [minMs, maxMs];
 * - `exp`: exponential with mean `meanMs` (memoryless, like an M/M/1 server);
 * - `normal`: normal with mean and standard deviation, samples below 0 clamped to 0 (so the mean is a
 *   little higher than `meanMs` when `sdMs` is not small next to it);
 * - `lognormal`: log-normal whose own mean and standard deviation are `meanMs` and `sdMs` (a long right
 *   tail, as real latencies have).
 */
export type ServiceDist =
  | { readonly kind: 'const'; readonly ms: number }
  | { readonly kind: 'uniform'; readonly minMs: number; readonly maxMs: number }
  | { readonly kind: 'exp'; readonly meanMs: number }
  | { readonly kind: 'normal'; readonly meanMs: number; readonly sdMs: number }
  | { readonly kind: 'lognormal'; readonly meanMs: number; readonly sdMs: number };

const EXAMPLES = 'use e.g. const:50ms, uniform:10ms..100ms, exp:50ms, normal:100ms,20ms or lognormal:100ms,50ms';

/**
 * parseServiceDist reads a distribution of service times:
 * `const:50ms` (or just `50ms`), `uniform:10ms..100ms`, `exp:50ms` (mean), `normal:100ms,20ms` (mean,
 * standard deviation), `lognormal:100ms,50ms` (mean, standard deviation). Durations are
 * {@link parseDuration}'s. Throws a ParseError naming the input and showing these examples otherwise
 * (also when uniform's bounds are reversed, or a lognormal's mean is 0).
 */
export function parseServiceDist(text: string): ServiceDist {
  const s = text.trim();
  const colon = s.indexOf(':');
  const kind = colon === -1 ? 'const' : s.slice(0, colon);
  const args = colon === -1 ? s : s.slice(colon + 1);
  const bad = (why?: string): never => {
    throw new ParseError(`invalid service distribution ${JSON.stringify(text)}${why === undefined ? '' : ` (${why})`}: ${EXAMPLES}`, text);
  };
  const dur = (d: string | undefined): number => {
    if (d === undefined) return bad();
    try {
      return parseDuration(d);
    } catch {
      return bad(`${JSON.stringify(d)} is not a duration`);
    }
  };
  const pair = (sep: string): [number, number] => {
    const parts = args.split(sep);
    if (parts.length !== 2) return bad(`${kind} takes two durations separated by "${sep}"`);
    return [dur(parts[0]), dur(parts[1])];
  };
  switch (kind) {
    case 'const':
      return { kind, ms: dur(args) };
    case 'exp':
      return { kind, meanMs: dur(args) };
    case 'uniform': {
      const [minMs, maxMs] = pair('..');
      if (minMs > maxMs) bad('the lower bound is above the upper one');
      return { kind, minMs, maxMs };
    }
    case 'normal': {
      const [meanMs, sdMs] = pair(',');
      return { kind, meanMs, sdMs };
    }
    case 'lognormal': {
      const [meanMs, sdMs] = pair(',');
      if (meanMs === 0) bad('a log-normal mean must be above 0');
      return { kind, meanMs, sdMs };
    }
    default:
      return bad(`unknown distribution "${kind}"`);
  }
}

/** sampleService draws one service time, in ms, from a distribution. */
export function sampleService(dist: ServiceDist, random: Random): number {
  switch (dist.kind) {
    case 'const':
      return dist.ms;
    case 'uniform':
      return dist.minMs + random() * (dist.maxMs - dist.minMs);
    case 'exp':
      return exponential(random, dist.meanMs);
    case 'normal':
      return Math.max(0, dist.meanMs + dist.sdMs * standardNormal(random));
    case 'lognormal': {
      // For X = exp(mu + sigma Z): E[X] = exp(mu + sigma²/2), Var[X] = (exp(sigma²) - 1) E[X]².
      const sigma2 = Math.log(1 + (dist.sdMs / dist.meanMs) ** 2);
      const mu = Math.log(dist.meanMs) - sigma2 / 2;
      return Math.exp(mu + Math.sqrt(sigma2) * standardNormal(random));
    }
  }
}

/** serviceMeanMs returns a distribution's mean in ms (for normal, before clamping at 0). */
export function serviceMeanMs(dist: ServiceDist): number {
  switch (dist.kind) {
    case 'const':
      return dist.ms;
    case 'uniform':
      return (dist.minMs + dist.maxMs) / 2;
    default:
      return dist.meanMs;
  }
}
