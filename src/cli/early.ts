// What the command line does before it loads the rest of itself (bin/throttle.js runs this first, then
// imports main): it loads nothing but node:fs and the module that starts a thread.
import { statSync } from 'node:fs';
import { startReaderAhead } from '../sources/trace/reader-start.js';

/** THREADED_READ_BYTES: trace files from this size on are read on a thread of their own (readTraceThreaded). */
const THREADED_READ_BYTES = 1 << 20;

/** isLongFile reports whether the trace is a file long enough to be read on a thread of its own. */
export function isLongFile(trace: string): boolean {
  if (trace === '-') return false;
  try {
    return statSync(trace).size >= THREADED_READ_BYTES;
  } catch {
    return false; // openInput says what is wrong with it
  }
}

/**
 * startEarly starts a trace-reading thread at once when the arguments are `throttle bench` naming a long
 * file (before the flags are even parsed, or the program loaded): it is ready by the time the trace is
 * opened. A guess that is wrong (an argument that is not the trace) costs an idle thread.
 */
export function startEarly(argv: readonly string[]): void {
  if (argv[0] === 'bench' && argv.slice(1).some((a) => !a.startsWith('-') && isLongFile(a))) startReaderAhead();
}
