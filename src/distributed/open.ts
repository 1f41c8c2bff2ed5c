import type { Redis, RedisOptions } from 'ioredis';
import { InflightLimiter } from '../core/inflight.js';
import { Limiter } from '../core/limiter.js';
import { RedisInflight } from './inflight.js';
import { RedisLimiter, configure } from './limiter.js';
import type { SharedConfig } from './scripts.js';
import { FailoverLimits, type RedisFailMode } from './shared.js';

export interface OpenSharedOptions {
  readonly url: string;
  readonly key: string;
  readonly mode: RedisFailMode;
  readonly leaseMs: number;
  /** config: this run's flags (rate, burst, -j); they become the key's config for every sharer. */
  readonly config: SharedConfig;
  readonly warn: (line: string) => void;
}

export interface OpenShared {
  readonly limits: FailoverLimits;
  /** close gives back what this process still holds and closes its connections. */
  close(): Promise<void>;
}

/** How long the first connection may take before the run starts anyway (and the fail mode decides). */
const FIRST_CONTACT_MS = 2000;

/**
 * CLIENT_OPTIONS make every failure visible at once, for FailoverLimits to handle: no offline queue (a call
 * while disconnected fails instead of waiting unseen), no silent resend of a call cut off mid-way (a token
 * call is not idempotent), a timeout on a call Redis never answers, and reconnection forever, backing off
 * to a second.
 */
const CLIENT_OPTIONS: RedisOptions = {
  connectionName: 'throttle',
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  connectTimeout: 2000,
  commandTimeout: 3000,
  retryStrategy: (times: number) => Math.min(50 * 2 ** times, 1000),
};

/**
 * openShared connects to Redis (ioredis, loaded only here: a run without --redis never pays for it), makes
 * this run's rate, burst and cap the key's config, and returns the scheduler's shared limits.
 */
export async function openShared(o: OpenSharedOptions): Promise<OpenShared> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(o.url, CLIENT_OPTIONS);
  // Failures are reported by FailoverLimits, one line per outage; ioredis would print each one.
  redis.on('error', () => undefined);
  await firstContact(redis);
  const where = printable(o.url);
  const { ratePerSec, burst, cap } = o.config;
  const limiter = new RedisLimiter(redis, o.key, { limit: ratePerSec, burst });
  const inflight = new RedisInflight(redis, o.key, { limit: cap, leaseMs: o.leaseMs });
  const limits = new FailoverLimits({
    redis,
    limiter,
    inflight,
    mode: o.mode,
    fallback: { limiter: new Limiter(ratePerSec, burst), inflight: new InflightLimiter({ limit: cap }) },
    where,
    warn: o.warn,
  });
  try {
    const old = await configure(redis, o.key, o.config);
    if (old !== undefined && differs(old, o.config)) o.warn(`shared budget "${o.key}" was ${describe(old)}; now ${describe(o.config)} for every process sharing it`);
  } catch {
    // Redis is not there yet: the first call reports it, and offers this run's config to the key.
  }
  return {
    limits,
    close: async () => {
      limits.close();
      await inflight.close();
      await quit(redis);
    },
  };
}

/** firstContact waits until the client is ready, or its first failure, or FIRST_CONTACT_MS. */
function firstContact(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      redis.off('ready', done);
      redis.off('error', done);
      resolve();
    };
    const timer = setTimeout(done, FIRST_CONTACT_MS);
    redis.on('ready', done);
    redis.on('error', done);
  });
}

/** quit ends the connection after the calls already sent (releases among them), or at once if it is down. */
async function quit(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    const timer = setTimeout(() => redis.disconnect(), 1000);
    try {
      await redis.quit();
    } catch {
      redis.disconnect();
    } finally {
      clearTimeout(timer);
    }
  } else {
    redis.disconnect();
  }
}

/** printable is the URL without its password, for messages. */
export function printable(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.href.replace(/\/$/, '');
  } catch {
    return 'redis';
  }
}

function differs(a: Partial<SharedConfig>, b: SharedConfig): boolean {
  return a.ratePerSec !== b.ratePerSec || a.burst !== b.burst || a.cap !== b.cap;
}

function describe(c: Partial<SharedConfig>): string {
  const rate = c.ratePerSec === undefined || c.ratePerSec === Infinity ? 'inf' : `${c.ratePerSec}/s`;
  const cap = c.cap === undefined || c.cap === Infinity ? 'inf' : String(c.cap);
  return `-r ${rate} -b ${c.burst ?? 0} -j ${cap}`;
}
