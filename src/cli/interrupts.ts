/** Stopper is how a session ends the executor's running attempts: politely first, then at once. */
export interface Stopper {
  /** terminate asks running attempts to end (a command gets this signal). */
  terminate(signal: NodeJS.Signals): void;
  /** kill ends them at once. */
  kill(): void;
}

/** Stoppable is the loop a signal stops: `stop` takes no more work and lets running work finish, `kill` ends it. */
export interface Stoppable {
  stop(): void;
  kill(): void;
}

/** InterruptWatch is the Ctrl-C and SIGTERM handling of one run, installed by {@link watchInterrupts}. */
export interface InterruptWatch {
  /** interrupted is true once SIGINT or SIGTERM arrived. */
  readonly interrupted: boolean;
  /**
   * stopGracefully does what the first signal does (stop, pass `signal` on, kill after the grace period)
   * without counting as an interruption: for a stdout closed downstream.
   */
  stopGracefully(signal: NodeJS.Signals): void;
  /** dispose removes the handlers and the pending kill timer; call it once the run is over. */
  dispose(): void;
}

/**
 * watchInterrupts gives a run the signal handling every command shares. The first SIGINT or SIGTERM stops
 * the loop (no new work), passes the signal on to running work through `stopper.terminate`, and kills it
 * `killAfterMs` later if it is still running; a second signal kills at once. Installing handlers replaces
 * Node's default exit on these signals, so the run can finish its summary and exit 130 itself.
 */
export function watchInterrupts(work: Stoppable, stopper: Stopper, killAfterMs: number): InterruptWatch {
  let interrupted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stopGracefully = (signal: NodeJS.Signals): void => {
    work.stop();
    stopper.terminate(signal);
    killTimer ??= setTimeout(() => stopper.kill(), killAfterMs);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      work.kill();
      stopper.kill();
      return;
    }
    interrupted = true;
    stopGracefully(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    get interrupted() {
      return interrupted;
    },
    stopGracefully,
    dispose() {
      clearTimeout(killTimer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
