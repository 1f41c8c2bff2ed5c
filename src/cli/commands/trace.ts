import { createWriteStream } from 'node:fs';
import { parseDuration, parseRate } from '../../core/parse.js';
import { UsageError } from '../../errors.js';
import { ARRIVAL_PATTERNS, type ArrivalPattern, formatTraceLine, generateTrace, parseServiceDist } from '../../sources/trace/index.js';
import { exitOnBrokenPipe } from '../input.js';
import { type Io, processIo } from '../session.js';
import { integer, writable } from '../settings.js';

export interface RawTraceGenOptions {
  pattern?: string;
  rate?: string;
  duration?: string;
  seed?: string;
  service?: string;
  burstSize?: string;
  key?: string;
  out?: string;
}

function flag<T>(name: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError(`${name}: ${(err as Error).message}`);
  }
}

/**
 * traceGenCommand is `throttle trace gen`: a synthetic JSON Lines trace on stdout (or --out), the same for
 * the same seed. Everything is checked before the first line is written.
 */
export async function traceGenCommand(o: RawTraceGenOptions, io: Io = processIo): Promise<number> {
  exitOnBrokenPipe(io.stdout);
  const pattern = (o.pattern ?? 'constant') as ArrivalPattern;
  if (!ARRIVAL_PATTERNS.includes(pattern)) throw new UsageError(`--pattern: invalid value "${o.pattern}": use one of ${ARRIVAL_PATTERNS.join(', ')}`);
  if (o.rate === undefined) throw new UsageError('--rate is required: e.g. throttle trace gen --rate 50/s --duration 1m');
  if (o.duration === undefined) throw new UsageError('--duration is required: e.g. throttle trace gen --rate 50/s --duration 1m');
  const ratePerSec = flag('--rate', () => parseRate(o.rate!));
  if (!(ratePerSec > 0) || ratePerSec === Infinity) throw new UsageError(`--rate: a trace needs a finite rate above 0, e.g. --rate 50/s (got "${o.rate}")`);
  const durationMs = flag('--duration', () => parseDuration(o.duration!));
  if (!(durationMs > 0)) throw new UsageError(`--duration: a trace needs a duration above 0, e.g. --duration 1m (got "${o.duration}")`);
  const service = o.service === undefined ? undefined : flag('--service', () => parseServiceDist(o.service!));
  const seed = o.seed === undefined ? 1 : integer('--seed', o.seed, 0, '--seed 42');
  const burstSize = o.burstSize === undefined ? undefined : integer('--burst-size', o.burstSize, 1, '--burst-size 10');
  writable('-o, --out', o.out);
  const out: NodeJS.WritableStream = o.out === undefined || o.out === '-' ? io.stdout : createWriteStream(o.out);
  const events = generateTrace({
    pattern,
    ratePerSec,
    durationMs,
    seed,
    ...(service === undefined ? {} : { service }),
    ...(burstSize === undefined ? {} : { burstSize }),
    ...(o.key === undefined ? {} : { key: o.key }),
  });
  // Written in batches, waiting for the destination to drain, so a long trace never piles up in memory.
  let batch = '';
  for (const e of events) {
    batch += formatTraceLine(e);
    if (batch.length >= 64 * 1024) {
      if (!out.write(batch)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      batch = '';
    }
  }
  if (out === io.stdout) {
    if (batch !== '') out.write(batch);
  } else {
    await new Promise<void>((resolve) => out.end(batch, () => resolve()));
  }
  return 0;
}
