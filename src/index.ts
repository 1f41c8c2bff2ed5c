// The public library API of throttle-cli. Re-exports only.
export { type Clock, systemClock, ManualClock } from './core/clock.js';
