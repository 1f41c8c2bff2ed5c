import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * The Lua scripts behind the shared limits. Each call is one script, run atomically by Redis, on Redis's
 * clock (`TIME`): the callers' clocks never enter the state, so machines whose clocks disagree still share
 * one schedule. Times in the state are milliseconds since the epoch, as decimal strings (`%.17g`, exact
 * round trip); a script returns floats as strings too, since Redis would truncate a Lua number to an integer.
 *
 * One key holds the config and the bucket: a hash `throttle:{name}:state` with
 * - `rate` (tokens per second, or `inf`), `burst`, `cap` (in-flight slots, 0 = unlimited): the config every
 *   sharer follows. A script fills a missing field from its caller's own value (ARGV 1-3, `''` = none to
 *   offer), so the first caller, or the first after the key expired, sets it; `configure` changes it;
 * - `tokens`, `last`, `event`: golang.org/x/time/rate's tokens at `last`, and the time to act of the latest
 *   granted reservation (semantics.md §1), absent while the bucket is full and untouched.
 * In-flight slots are leases: a sorted set `slots` of holder ids scored by their expiry; the queue of
 * waiting callers is `queue` (waiter id scored by arrival, in server microseconds) with `waiters` (the same
 * ids scored by expiry). The `{name}` hash tag keeps every key of a name in one Redis Cluster slot.
 */

/** keysOf names the keys (and the wake-up channel) of one shared budget. */
export function keysOf(name: string): { state: string; slots: string; queue: string; waiters: string; channel: string } {
  const base = `throttle:{${name}}:`;
  return { state: `${base}state`, slots: `${base}slots`, queue: `${base}queue`, waiters: `${base}waiters`, channel: `${base}free` };
}

/** PRELUDE: server time, number formatting, the config read, and a TTL that only ever grows. */
const PRELUDE = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function fmt(x) return string.format('%.17g', x) end
local idle = tonumber(ARGV[4])
-- keep: expire key k after ms of idleness, never sooner than it already would.
local function keep(k, ms)
  if redis.call('PTTL', k) < ms then redis.call('PEXPIRE', k, math.ceil(ms)) end
end
local FIELDS = {'rate', 'burst', 'cap'}
-- conf reads the config and the bucket; a missing config field takes the caller's value, if it offers one.
local function conf()
  local c = redis.call('HMGET', KEYS[1], 'rate', 'burst', 'cap', 'tokens', 'last', 'event')
  for i = 1, 3 do
    if not c[i] and ARGV[i] ~= '' then
      c[i] = ARGV[i]
      redis.call('HSET', KEYS[1], FIELDS[i], ARGV[i])
    end
  end
  return c
end
-- advance: the tokens at now, refilled since last and capped at burst (debt is never capped).
local function advance(rate, burst, tokens, last)
  if now > last and rate > 0 then tokens = tokens + (now - last) / 1000 * rate end
  if tokens > burst then tokens = burst end
  return tokens
end
`;

/**
 * RESERVE books ARGV[5] tokens (rate.go's reserveN): granted if n <= burst and the wait is at most
 * ARGV[6] ms (-1: any wait). Returns {ok, waitMs, timeToActMs, rate, burst}; a refusal changes nothing.
 * The wait is truncated to whole nanoseconds as Go's is, so float residue never costs a wait.
 */
const RESERVE = `${PRELUDE}
local c = conf()
local n, maxWait = tonumber(ARGV[5]), tonumber(ARGV[6])
if c[1] == 'inf' then
  keep(KEYS[1], idle)
  return {1, '0', fmt(now), 'inf', c[2] or ''}
end
local rate, burst = tonumber(c[1]), tonumber(c[2])
local avail = advance(rate, burst, tonumber(c[4]) or burst, tonumber(c[5]) or now) - n
local wait = 0
if avail < 0 then
  local ns = 9.3e18
  if rate > 0 then ns = -avail / rate * 1e9 end
  if ns >= 1 then
    if ns > 9.2233720368547758e18 then wait = 9223372036854.775 else wait = math.floor(ns) / 1e6 end
  end
end
if n > burst or (maxWait >= 0 and wait > maxWait) then
  return {0, fmt(wait), '', c[1], c[2]}
end
local act = now + wait
redis.call('HSET', KEYS[1], 'tokens', fmt(avail), 'last', fmt(now), 'event', fmt(act))
-- Idle until full again, then idle for ARGV[4]: after that the key is a fresh (full) bucket anyway.
local fullMs = 0
if rate > 0 then fullMs = (burst - avail) / rate * 1000 end
keep(KEYS[1], math.min(fullMs, 1e12) + idle)
return {1, fmt(wait), fmt(act), c[1], c[2]}
`;

/**
 * CANCEL gives back ARGV[5] tokens reserved at rate ARGV[6] with time to act ARGV[7] (rate.go's
 * cancelAt, at the server's now): minus what later reservations already count on; nothing if it is past
 * the time to act, the rate is now inf, or the bucket state is gone (expired: it is full). Returns 1 if
 * tokens went back.
 */
const CANCEL = `${PRELUDE}
local c = conf()
local n, r0, act = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if c[1] == 'inf' or n == 0 or act < now or not c[4] then return 0 end
local rate, burst = tonumber(c[1]), tonumber(c[2])
local event = tonumber(c[6]) or act
local restore = n
if event ~= act and r0 > 0 then restore = n - (event - act) / 1000 * r0 end
if restore <= 0 then return 0 end
local avail = advance(rate, burst, tonumber(c[4]), tonumber(c[5]) or now) + restore
if avail > burst then avail = burst end
redis.call('HSET', KEYS[1], 'tokens', fmt(avail), 'last', fmt(now))
if act == event and r0 > 0 then
  local prev = act - math.floor(n / r0 * 1e9) / 1e6
  if prev >= now then redis.call('HSET', KEYS[1], 'event', fmt(prev)) end
end
return 1
`;

/**
 * CONFIGURE replaces the config fields given in ARGV 1-3 ('' keeps one) for every sharer, as rate.go's
 * setLimitAt/setBurstAt: tokens earned so far are kept at the old rate; from inf, the bucket starts full.
 * Publishes on the wake-up channel (ARGV[5]) so waiters see a raised cap at once. Returns the config it
 * replaced, {rate, burst, cap} ('' where there was none).
 */
const CONFIGURE = `${PRELUDE}
local c = redis.call('HMGET', KEYS[1], 'rate', 'burst', 'tokens', 'last', 'cap')
if c[1] and c[1] ~= 'inf' and c[3] then
  local tokens = advance(tonumber(c[1]), tonumber(c[2]), tonumber(c[3]), tonumber(c[4]) or now)
  redis.call('HSET', KEYS[1], 'tokens', fmt(tokens), 'last', fmt(now))
elseif ARGV[1] ~= '' then
  redis.call('HDEL', KEYS[1], 'tokens', 'last', 'event')
end
for i = 1, 3 do
  if ARGV[i] ~= '' then redis.call('HSET', KEYS[1], FIELDS[i], ARGV[i]) end
end
keep(KEYS[1], idle)
redis.call('PUBLISH', ARGV[5], 'config')
return {c[1] or '', c[2] or '', c[5] or ''}
`;

/** READ returns the config {rate, burst, cap} and the in-flight count, filling missing fields like conf. */
const READ = `${PRELUDE}
local c = conf()
return {c[1] or '', c[2] or '', c[3] or '', redis.call('ZCOUNT', KEYS[2], '(' .. fmt(now), '+inf')}
`;

/**
 * ACQUIRE takes a lease for holder ARGV[5] of ARGV[6] ms. KEYS: state, slots, queue, waiters.
 * Expired leases and waiters are dropped first (a crashed process's slots come back here). With a waiter
 * id (ARGV[7]) the caller queues: it is admitted when the slots held plus the waiters ahead of it are fewer
 * than the cap, and otherwise keeps (or takes) its place, renewed for ARGV[8] ms. Without one (a try) it is
 * admitted only when the slots held plus every waiter are fewer than the cap, so it never overtakes the
 * queue. A holder id that already holds a lease is renewed and admitted (a retried call is harmless).
 * Returns {admitted, held, ahead}.
 */
const ACQUIRE = `${PRELUDE}
local c = conf()
local cap = tonumber(c[3]) or 0
local id, lease, w, ttl = ARGV[5], tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now))
local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', fmt(now))
for i = 1, #gone do redis.call('ZREM', KEYS[3], gone[i]) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', fmt(now)) end
keep(KEYS[1], idle)
local held = redis.call('ZCARD', KEYS[2])
if redis.call('ZSCORE', KEYS[2], id) then
  redis.call('ZADD', KEYS[2], fmt(now + lease), id)
  return {1, held, 0}
end
local rank = false
if w ~= '' then rank = redis.call('ZRANK', KEYS[3], w) end
local ahead = rank or redis.call('ZCARD', KEYS[3])
if cap <= 0 or held + ahead < cap then
  redis.call('ZADD', KEYS[2], fmt(now + lease), id)
  keep(KEYS[2], lease + idle)
  if rank then
    redis.call('ZREM', KEYS[3], w)
    redis.call('ZREM', KEYS[4], w)
  end
  return {1, held + 1, ahead}
end
if w ~= '' then
  if not rank then redis.call('ZADD', KEYS[3], fmt(tonumber(t[1]) * 1e6 + tonumber(t[2])), w) end
  redis.call('ZADD', KEYS[4], fmt(now + ttl), w)
  keep(KEYS[3], ttl + idle)
  keep(KEYS[4], ttl + idle)
end
return {0, held, ahead}
`;

/**
 * RENEW extends the leases of holders ARGV[6..] to ARGV[5] ms from now. A lease that expired or vanished
 * (Redis restarted) is taken again: the work it stands for is still running and must count.
 */
const RENEW = `${PRELUDE}
local lease = tonumber(ARGV[5])
for i = 6, #ARGV do redis.call('ZADD', KEYS[2], fmt(now + lease), ARGV[i]) end
keep(KEYS[2], lease + idle)
keep(KEYS[1], idle)
return #ARGV - 5
`;

/**
 * RELEASE ends holder ARGV[5]'s lease, and LEAVE takes waiter ARGV[5] out of the queue. Either publishes
 * on the wake-up channel (ARGV[6]) when someone waits, so they try again at once instead of at their next
 * poll. KEYS: state, slots, queue, waiters.
 */
const RELEASE = `
local n = redis.call('ZREM', KEYS[2], ARGV[5])
if redis.call('ZCARD', KEYS[3]) > 0 then redis.call('PUBLISH', ARGV[6], 'free') end
return n
`;

const LEAVE = `
redis.call('ZREM', KEYS[3], ARGV[5])
redis.call('ZREM', KEYS[4], ARGV[5])
if redis.call('ZCARD', KEYS[3]) > 0 then redis.call('PUBLISH', ARGV[6], 'free') end
return 1
`;

/**
 * LuaScript runs one script by its SHA1 (EVALSHA), so the text crosses the wire only when Redis lacks it:
 * on first use, and again after SCRIPT FLUSH or a restart, where Redis answers NOSCRIPT without running
 * anything and the call is repeated once with EVAL, which loads it.
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** run evaluates the script on `redis` with `keys` and `args`, loading it if Redis does not have it. */
  async run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

export const SCRIPTS = {
  reserve: new LuaScript(RESERVE),
  cancel: new LuaScript(CANCEL),
  configure: new LuaScript(CONFIGURE),
  read: new LuaScript(READ),
  acquire: new LuaScript(ACQUIRE),
  renew: new LuaScript(RENEW),
  release: new LuaScript(RELEASE),
  leave: new LuaScript(LEAVE),
} as const;

/** SharedConfig is a budget's config as it travels to and from the scripts. */
export interface SharedConfig {
  /** ratePerSec: tokens per second; Infinity for none. */
  readonly ratePerSec: number;
  readonly burst: number;
  /** cap: in-flight slots; Infinity for none. */
  readonly cap: number;
}

/** configArgs encodes the config fields a caller offers (undefined: none) as ARGV 1-3. */
export function configArgs(c: Partial<SharedConfig>): [string, string, string] {
  return [
    // String(x) is the shortest text that reads back as the same double, in Lua's tonumber too.
    c.ratePerSec === undefined ? '' : c.ratePerSec === Infinity ? 'inf' : String(c.ratePerSec),
    c.burst === undefined ? '' : String(c.burst),
    c.cap === undefined ? '' : c.cap === Infinity ? '0' : String(c.cap),
  ];
}
