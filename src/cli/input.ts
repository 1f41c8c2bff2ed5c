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
