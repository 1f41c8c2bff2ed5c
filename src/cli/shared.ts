import type { SharedLimits } from '../engine/scheduler.js';
import type { Io } from './session.js';
import type { LimitSettings } from './settings.js';

/** SharedSetup is what --redis adds to a real run. */
export interface SharedSetup {
  /** limits go to the scheduler's `shared` option. */
  readonly limits: SharedLimits;
  /** local are the settings the process's own gates get: no rate and no cap of their own (see below). */
  readonly local: LimitSettings;
  /** close gives back what the run still holds and closes the connections; call it once the run is over. */
  close(): Promise<void>;
}

/**
 * openSharedLimits connects the run to the budget named by --key in --redis, or returns undefined without
 * --redis. The shared bucket and cap carry --rate, --burst and -j, and this process's own bucket and cap
 * become unlimited: the config lives with the key, and whichever process started last with a key sets it
 * for all, so a local copy of the flags would pin this process to its own start-up values and defeat that.
 * This process's flags still serve as the local limits of `--redis-fail open` while Redis fails.
 * Per-key limits (--per-key-*) stay local.
 */
export async function openSharedLimits(s: LimitSettings, io: Io): Promise<SharedSetup | undefined> {
  const r = s.redis;
  if (r === undefined) return undefined;
  // ioredis and the scripts load only here: a run without --redis never pays for them.
  const { openShared } = await import('../distributed/open.js');
  const shared = await openShared({
    url: r.url,
    key: r.key,
    mode: r.onFail,
    leaseMs: r.leaseMs,
    config: { ratePerSec: s.ratePerSec, burst: s.burst, cap: s.concurrency },
    warn: (line) => io.stderr.write(`throttle: ${line}\n`),
  });
  return { limits: shared.limits, local: { ...s, ratePerSec: Infinity, concurrency: Infinity }, close: shared.close };
}
