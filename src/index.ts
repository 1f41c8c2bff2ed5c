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
export { Scheduler, type SchedulerOptions, type SharedLimits, type ArrivalMode, type RunStats } from './engine/scheduler.js';
export { runSimulated } from './engine/simulate.js';
export { type SchedulerEvent, type SchedulerListener, Events } from './engine/events.js';
export type { Job, Result, Status, AttemptOutcome, AttemptContext, Executor } from './engine/types.js';
export { SimulatedExecutor, type SimulatedWork, type SimulatedExecutorOptions } from './executors/simulated.js';
export { Metrics, Distribution, type Summary, type Stats } from './measure/metrics.js';
export { ThrottleError, UsageError, TargetError, RetriesExhaustedError, AssertionFailedError, InterruptedError, ExitCode } from './errors.js';
