// The public library API of throttle-cli. Re-exports only.
export { type Clock, type Waker, systemClock, ManualClock } from './core/clock.js';
export { Inf, every, Limiter, Reservation, type WaitOptions } from './core/limiter.js';
export { ParseError, parseRate, parseDuration, parseRetryAfter } from './core/parse.js';
export { BoundedFrequencyRunner, type BoundedFrequencyRunnerOptions } from './core/runner.js';
export {
  InflightLimiter,
  type InflightLimiterOptions,
  type AcquireOptions,
  type Slot,
  type SlotWaker,
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
export { RatePlan, parsePlan, type PlanSegment, type RateChange } from './core/plan.js';
export { Aimd, type AimdOptions } from './core/aimd.js';
export { KeyedLimiters, KeyedInflight } from './core/keyed.js';
export { keyFunction } from './engine/key-template.js';
export { LimitLog, type LimitsSummary, type LimitChange } from './measure/limits.js';
export { Scheduler, type SchedulerOptions, type SharedLimits, type Limits, type ArrivalMode, type RunStats, type JobSource, type BatchedJobSource } from './engine/scheduler.js';
export { runSimulated } from './engine/simulate.js';
export { type SchedulerEvent, type SchedulerEventType, type SchedulerListener, Events } from './engine/events.js';
export type { Job, Result, Status, AttemptOutcome, AttemptContext, Executor, PlannedAttempt } from './engine/types.js';
export { SimulatedExecutor, type SimulatedWork, type SimulatedExecutorOptions } from './executors/simulated.js';
export { Metrics, Distribution, type Summary, type Stats } from './measure/metrics.js';
export { Coalescer, type CoalescerOptions, type CoalesceOutcome, type CoalesceEvent, type CoalesceListener, type CoalescedRun, type RunReason } from './engine/coalesce.js';
export { CoalesceMetrics, type CoalesceSummary } from './measure/coalesce.js';
// The server side (`throttle proxy`): its admission policy, as pure as the limiter, and its balancer.
export { Admission, type AdmissionOptions, type Admitted, type Rejected, type Waiting, type Verdict, type RejectReason, type RateLimitFields } from './proxy/admission.js';
export { RoundRobin, type RoundRobinOptions } from './proxy/balancer.js';
export { ThrottleError, UsageError, TargetError, RetriesExhaustedError, AssertionFailedError, InterruptedError, ExitCode } from './errors.js';
// Shared limits through Redis: bring an ioredis client; nothing here loads ioredis itself.
export { RedisLimiter, RedisReservation, type RedisLimiterOptions } from './distributed/limiter.js';
export { RedisInflight, type RedisInflightOptions } from './distributed/inflight.js';
export type { SharedConfig } from './distributed/scripts.js';
