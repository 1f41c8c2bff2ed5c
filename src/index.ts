// The public library API of throttle-cli. Re-exports only.
export { type Clock, systemClock, ManualClock } from './core/clock.js';
export { Inf, every, Limiter, Reservation, type WaitOptions } from './core/limiter.js';
export { ParseError, parseRate, parseDuration, parseRetryAfter } from './core/parse.js';
export { BoundedFrequencyRunner, type BoundedFrequencyRunnerOptions } from './core/runner.js';
export {
  InflightLimiter,
  type InflightLimiterOptions,
  type AcquireOptions,
  type Slot,
  type Watermarks,
  type WorkKind,
} from './core/inflight.js';
export {
  type ItemRateLimiter,
  ExponentialFailureLimiter,
  FastSlowLimiter,
  BucketLimiter,
  MaxOfLimiter,
} from './core/item-limiters.js';
export { RetryPolicy, type RetryPolicyOptions, type Jitter, applyJitter } from './core/retry.js';
