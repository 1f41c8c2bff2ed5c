import { Chalk } from 'chalk';
import type { Paint } from '../report/text.js';
import { colourLevel, type TerminalStream } from './terminal.js';

export { colourLevel, type TerminalStream, wantsProgress } from './terminal.js';

/**
 * paintFor returns the Paint for one stream, backed by its own chalk instance, so that stdout piped to a file
 * stays plain while stderr on the terminal is coloured. See {@link colourLevel} for the rules.
 * Roles: ok green, bad red, warn yellow, dim gray, bold bold.
 */
export function paintFor(stream: TerminalStream, env: NodeJS.ProcessEnv = process.env): Paint {
  const chalk = new Chalk({ level: colourLevel(stream, env) });
  return {
    ok: (text) => chalk.green(text),
    bad: (text) => chalk.red(text),
    warn: (text) => chalk.yellow(text),
    dim: (text) => chalk.gray(text),
    bold: (text) => chalk.bold(text),
  };
}
