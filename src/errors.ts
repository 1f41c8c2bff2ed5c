/**
 * The closed set of errors throttle reports, each with its exit status. Anything else that reaches the
 * top level is a bug, and is reported as one.
 */

/** Exit statuses of the many-jobs mode (wrapper mode exits with the child's status instead). */
export const ExitCode = {
  ok: 0,
  someFailed: 1,
  usage: 2,
  assertion: 3,
  interrupted: 130,
} as const;

/** ThrottleError is the base of every error the user is meant to read; `exitCode` is what the CLI exits with. */
export class ThrottleError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/**
 * UsageError is bad input from the user: a flag, a file or a line of it. The message names what was
 * wrong and shows a correct example. Exit status 2.
 */
export class UsageError extends ThrottleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.usage, options);
  }
}

/** TargetError is a target that cannot be used at all (a command that cannot start, an unreachable URL). */
export class TargetError extends ThrottleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.someFailed, options);
  }
}

/** RetriesExhaustedError is a job that failed on its last allowed attempt. */
export class RetriesExhaustedError extends ThrottleError {
  readonly attempts: number;
  constructor(message: string, attempts: number, options?: { cause?: unknown }) {
    super(message, ExitCode.someFailed, options);
    this.attempts = attempts;
  }
}

/** AssertionFailedError is a `--assert` that did not hold. Exit status 3. */
export class AssertionFailedError extends ThrottleError {
  constructor(message: string) {
    super(message, ExitCode.assertion);
  }
}

/** InterruptedError is a run stopped by SIGINT or SIGTERM. Exit status 130. */
export class InterruptedError extends ThrottleError {
  constructor(message = 'interrupted') {
    super(message, ExitCode.interrupted);
  }
}
