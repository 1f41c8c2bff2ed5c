import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * The Lua scripts behind the shared limits. Each call is one script, run atomically by Redis, on Redis's
 * clock (`TIME`): the callers' clocks never enter the state, so machines whose clocks disagree still share
 * one schedule. Times inside are whole microseconds since the epoch (TIME's resolution): integers, exact
 * in a double and in an integer reply, so a reservation's time to act comes back to `cancel` unchanged.
 * Arguments in milliseconds (idle, lease, wait limits) are converted on arrival.
 *
 * One key holds the config and the bucket: a hash `throttle:{name}:state` with
 * - `rate` (tokens per second, or `inf`), `burst`, `cap` (in-flight slots, 0 = unlimited): the config every
 *   sharer follows. A script fills a missing field from its caller's own value (ARGV 1-3, `''` = none to
 *   offer), so the first caller, or the first after the key expired, sets it; `configure` changes it;
 * - `tokens`, `last`, `event`: golang.org/x/time/rate's tokens at `last`, and the time to act of the latest
 *   granted reservation (semantics.md §1), absent while the bucket is full and untouched; `exp`: the expiry
 *   the token script last set, in ms.
 * In-flight slots are leases: a sorted set `slots` of holder ids scored by their expiry; the queue of
 * waiting callers is `queue` (waiter id scored by arrival) with `waiters` (the same ids scored by expiry).
 * The `{name}` hash tag keeps every key of a name in one Redis Cluster slot.
 *
 * Cost: a redis.call is about a microsecond, as is a string.format, so the token path makes three calls
 * (TIME, HMGET, HSET; PEXPIRE only now and then) and formats nothing: Redis writes a Lua number given to a
 * command with full precision itself. Scripts that read TIME and then write need effects replication, the
 * default since Redis 5.
 */

/** keysOf names the keys (and the wake-up channel) of one shared budget. */
export function keysOf(name: string): { state: string; slots: string; queue: string; waiters: string; channel: string } {
  const base = `throttle:{${name}}:`;
  return { state: `${base}state`, slots: `${base}slots`, queue: `${base}queue`, waiters: `${base}waiters`, channel: `${base}free` };
}

/** PRELUDE: server time in µs, the idle time in µs, a TTL that only ever grows, the config read, refill. */
const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local idle = tonumber(ARGV[4])
-- keep: expire key k after ms of idleness, never sooner than it already would.
local function keep(k, ms)
  if redis.call('PTTL', k) < ms then redis.call('PEXPIRE', k, math.ceil(ms)) end
end
-- conf reads the config and the bucket; a missing config field takes the caller's value, if it offers one.
local function conf()
  local c = redis.call('HMGET', KEYS[1], 'rate', 'burst', 'cap', 'tokens', 'last', 'event', 'exp')
  if not (c[1] and c[2] and c[3]) then
    local fields = {'rate', 'burst', 'cap'}
    for i = 1, 3 do
      if not c[i] and ARGV[i] ~= '' then
        c[i] = ARGV[i]
        redis.call('HSET', KEYS[1], fields[i], ARGV[i])
      end
    end
  end
  return c
end
-- advance: the tokens at now, refilled since last and capped at burst (debt is never capped).
local function advance(rate, burst, tokens, last)
  if now > last and rate > 0 then tokens = tokens + (now - last) / 1000000 * rate end
  if tokens > burst then tokens = burst end
  return tokens
end
`;

/**
 * RESERVE books ARGV[5] tokens (rate.go's reserveN): granted if n <= burst and the wait is at most
 * ARGV[6] ms (-1: any wait). Returns {1, waitUs, timeToActUs}, or {0, waitUs, burst} for a refusal, which
 * changes nothing (the shortest reply: each element costs the caller as much as a redis.call).
 * The wait is truncated to whole microseconds (Go: nanoseconds), so float residue never costs a wait;
 * an impossible wait is 7e15 µs (over 200 years), which keeps every time exact in a double.
 */
const RESERVE = `${PRELUDE}
local c = conf()
local n, maxWait = tonumber(ARGV[5]), tonumber(ARGV[6])
if c[1] == 'inf' then
  keep(KEYS[1], idle)
  return {1, 0, now}
end
local rate, burst = tonumber(c[1]), tonumber(c[2])
local avail = advance(rate, burst, tonumber(c[4]) or burst, tonumber(c[5]) or now) - n
local wait = 0
if avail < 0 then
  local us = 7e15
  if rate > 0 then us = math.min(-avail / rate * 1000000, 7e15) end
  if us >= 1 then wait = math.floor(us) end
end
if n > burst or (maxWait >= 0 and wait > maxWait * 1000) then
  return {0, wait, burst}
end
local act = now + wait
-- The key may expire once the bucket is full again and then idle for ARGV[4] ms: it would be a fresh (full)
-- bucket anyway. 'exp' remembers the expiry last set here (never later than the real one: other scripts
-- only extend it), so PEXPIRE runs only once half the idle time is used up.
local fullUs = 0
if rate > 0 then fullUs = math.min((burst - avail) / rate * 1000000, 1e15) end
local exp = math.ceil((now + fullUs) / 1000 + idle)
if (tonumber(c[7]) or 0) < exp - idle / 2 then
  redis.call('HSET', KEYS[1], 'tokens', avail, 'last', now, 'event', act, 'exp', exp)
  redis.call('PEXPIRE', KEYS[1], exp - math.floor(now / 1000))
else
  redis.call('HSET', KEYS[1], 'tokens', avail, 'last', now, 'event', act)
end
return {1, wait, act}
`;

/**
 * CANCEL gives back ARGV[5] tokens with time to act ARGV[6] µs (rate.go's cancelAt, at the server's
 * now): minus what later reservations already count on; nothing if it is past the time to act, the rate
 * is now inf, or the bucket state is gone (expired: it is full). Go converts with the rate in force at the
 * reservation; this uses the rate now, which differs only if the rate changed in between. Returns 1 if
 * tokens went back.
 */
const CANCEL = `${PRELUDE}
local c = conf()
local n, act = tonumber(ARGV[5]), tonumber(ARGV[6])
if c[1] == 'inf' or n == 0 or act < now or not c[4] then return 0 end
local rate, burst = tonumber(c[1]), tonumber(c[2])
local r0 = rate
local event = tonumber(c[6]) or act
local restore = n
if event ~= act and r0 > 0 then restore = n - (event - act) / 1000000 * r0 end
if restore <= 0 then return 0 end
local avail = advance(rate, burst, tonumber(c[4]), tonumber(c[5]) or now) + restore
if avail > burst then avail = burst end
redis.call('HSET', KEYS[1], 'tokens', avail, 'last', now)
if act == event and r0 > 0 then
  local prev = act - math.floor(n / r0 * 1000000)
  if prev >= now then redis.call('HSET', KEYS[1], 'event', prev) end
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
  redis.call('HSET', KEYS[1], 'tokens', tokens, 'last', now)
elseif ARGV[1] ~= '' then
  redis.call('HDEL', KEYS[1], 'tokens', 'last', 'event')
end
for i, field in ipairs({'rate', 'burst', 'cap'}) do
  if ARGV[i] ~= '' then redis.call('HSET', KEYS[1], field, ARGV[i]) end
end
keep(KEYS[1], idle)
redis.call('PUBLISH', ARGV[5], 'config')
return {c[1] or '', c[2] or '', c[5] or ''}
`;

/** READ returns the config {rate, burst, cap} and the in-flight count, filling missing fields like conf. */
const READ = `${PRELUDE}
local c = conf()
return {c[1] or '', c[2] or '', c[3] or '', redis.call('ZCOUNT', KEYS[2], string.format('(%d', now), '+inf')}
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
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
for i = 1, #gone do redis.call('ZREM', KEYS[3], gone[i]) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now) end
keep(KEYS[1], idle)
local held = redis.call('ZCARD', KEYS[2])
if redis.call('ZSCORE', KEYS[2], id) then
  redis.call('ZADD', KEYS[2], now + lease * 1000, id)
  return {1, held, 0}
end
local rank = false
if w ~= '' then rank = redis.call('ZRANK', KEYS[3], w) end
local ahead = rank or redis.call('ZCARD', KEYS[3])
if cap <= 0 or held + ahead < cap then
  redis.call('ZADD', KEYS[2], now + lease * 1000, id)
  keep(KEYS[2], lease + idle)
  if rank then
    redis.call('ZREM', KEYS[3], w)
    redis.call('ZREM', KEYS[4], w)
  end
  return {1, held + 1, ahead}
end
if w ~= '' then
  if not rank then redis.call('ZADD', KEYS[3], now, w) end
  redis.call('ZADD', KEYS[4], now + ttl * 1000, w)
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
for i = 6, #ARGV do redis.call('ZADD', KEYS[2], now + lease * 1000, ARGV[i]) end
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
  run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    // Promise chaining, not an async function: one frame less on a path that is mostly the round trip.
    return redis.evalsha(this.sha, keys.length, ...keys, ...args).catch((err: unknown) => {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    });
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
