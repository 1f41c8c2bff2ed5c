import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { UsageError } from '../errors.js';

/** openInput opens a file of input lines named by `flag`, or stdin for "-"; a file that cannot be read is a usage error. */
export function openInput(file: string, flag: string, stdin: Readable): Readable {
  if (file === '-') return stdin;
  try {
    if (!statSync(file).isFile()) throw new UsageError(`${flag} ${file}: not a file`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return createReadStream(file);
}

/** EXIT_BROKEN_PIPE is what a process killed by SIGPIPE reports (128 + 13). */
export const EXIT_BROKEN_PIPE = 141;

/**
 * exitOnBrokenPipe makes a closed downstream (`| head -1`) end the process quietly with status 141, for
 * commands whose only output is a report: there is nothing left worth finishing once no one reads it.
 */
export function exitOnBrokenPipe(stream: NodeJS.WritableStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
    throw err;
  });
}
