import type { Job } from '../engine/types.js';

/** countJobs yields `count` jobs (Infinity: without end) that all carry the same payload. */
export function* countJobs<P>(count: number, payload: P, key = ''): Generator<Job<P>, void, undefined> {
  for (let seq = 0; seq < count; seq++) yield { seq, key, payload };
}
