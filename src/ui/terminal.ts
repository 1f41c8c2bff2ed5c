import { type Paint, plain } from '../report/text.js';

/** ColourLevel is chalk's colour depth: 0 none, 1 basic 16, 2 256, 3 truecolor. */
export type ColourLevel = 0 | 1 | 2 | 3;

/** TerminalStream is the part of a stream that decides colour and progress: whether it is a terminal. */
export type TerminalStream = NodeJS.WritableStream & {
  isTTY?: boolean;
  getColorDepth?: (env?: NodeJS.ProcessEnv) => number;
};

/**
 * colourLevel decides how much colour a stream gets (0 none, 1 basic 16, 2 256, 3 truecolor), in this order:
 * - NO_COLOR set to any non-empty value: none (https://no-color.org);
 * - FORCE_COLOR: "0"/"false" none, "1".."3" that level (larger numbers count as 3), empty/"true"/other 1;
 * - otherwise colour only on a terminal that is not TERM=dumb, as deep as the terminal says it goes.
 * NO_COLOR wins over FORCE_COLOR: it is the user's standing wish, FORCE_COLOR often a CI default.
 */
export function colourLevel(stream: TerminalStream, env: NodeJS.ProcessEnv = process.env): ColourLevel {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  const force = env.FORCE_COLOR;
  if (force !== undefined) {
    if (force === '' || force === 'true') return 1;
    if (force === 'false') return 0;
    const n = Number(force);
    if (!Number.isInteger(n)) return 1;
    return Math.max(0, Math.min(3, n)) as ColourLevel;
  }
  if (stream.isTTY !== true || env.TERM === 'dumb') return 0;
  // getColorDepth reports bits per pixel: 1 (none), 4 (16 colours), 8 (256), 24 (truecolor).
  const depth = stream.getColorDepth?.(env) ?? 4;
  if (depth >= 24) return 3;
  if (depth >= 8) return 2;
  if (depth >= 4) return 1;
  return 0;
}

/**
 * wantsProgress says whether to draw a progress bar on the stream: only when `flag` allows it (no
 * --no-progress, --quiet, ...), the stream is a terminal that can move its cursor (not TERM=dumb), and CI is
 * unset or empty (CI logs keep every redraw as a line).
 */
export function wantsProgress(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv, flag: boolean): boolean {
  return flag && stream.isTTY === true && (env.CI === undefined || env.CI === '') && env.TERM !== 'dumb';
}

/**
 * loadPaint returns the Paint for a stream, loading chalk only when the stream gets colour at all: most runs
 * write to pipes and files, and should not pay for it at start-up.
 */
export async function loadPaint(stream: TerminalStream, env: NodeJS.ProcessEnv = process.env): Promise<Paint> {
  if (colourLevel(stream, env) === 0) return plain;
  const { paintFor } = await import('./colour.js');
  return paintFor(stream, env);
}
