/**
 * Seeded pseudo-random numbers for generated traces: the same seed gives the same trace on every machine
 * and Node version (Math.random is neither seedable nor specified).
 */

/** Random returns uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * mulberry32 returns a generator of uniform numbers in [0, 1) with 32 bits of state (Tommy Ettinger's
 * mulberry32: fast, passes gjrand and PractRand to well past the lengths a trace needs). Any safe
 * integer is a valid seed: its high and low 32 bits are folded together.
 */
export function mulberry32(seed: number): Random {
  let a = foldSeed(seed);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** deriveSeed returns a second, independent seed from a seed and a stream number (splitmix32 mixing). */
export function deriveSeed(seed: number, stream: number): number {
  let z = (foldSeed(seed) + Math.imul(stream + 1, 0x9e3779b9)) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function foldSeed(seed: number): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, not ${seed}`);
  const low = seed >>> 0;
  const high = Math.floor(seed / 4294967296) >>> 0;
  return (low ^ Math.imul(high, 0x9e3779b1)) >>> 0;
}

/** exponential returns a sample of the exponential distribution with the given mean. */
export function exponential(random: Random, mean: number): number {
  // 1 - u lies in (0, 1], so the logarithm is finite.
  return -Math.log(1 - random()) * mean;
}

/** standardNormal returns a sample of N(0, 1) (Box-Muller, one of the pair). */
export function standardNormal(random: Random): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
