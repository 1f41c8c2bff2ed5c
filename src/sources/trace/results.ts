import { arrange, type ArrangeOptions, type Draft, type LineParser, type Parsed, type ArrangedEvents, type TraceLines } from './arrange.js';
import { TraceError } from './event.js';
import { parseObject } from './jsonl.js';
import { roundMs } from './numbers.js';

/**
 * readResults reads throttle's own `--output` stream, one Result per line, as a trace: a recorded run
 * replayed. Per Result:
 * - tMs is `arrivalMs`, rebased so the earliest arrival is 0 (Results carry the scheduler's clock, whose
 *   origin is arbitrary);
 * - serviceMs is the mean time of one attempt, `serviceMs / attempts` (`attempts` missing: 1), or
 *   `endedMs - startedMs` when the Result has no `serviceMs`; absent when the job never ran (0 attempts);
 * - status is `code` when it is a number; a job that did not succeed without a numeric code (a timeout,
 *   "ENOENT", interrupted) gets -1 so that a replay fails it too;
 * - key is the Result's key.
 *
 * Results are written as jobs finish, not as they arrive, so they are out of order by nature: sorting is
 * on by default here (`sort: false` turns it off), within `sortWindow` events.
 */
export function readResults(
  lines: TraceLines,
  file: string,
  options: ArrangeOptions = {},
): ArrangedEvents {
  return arrange(lines, file, new ResultsParser(file), { ...options, sort: options.sort ?? true });
}

const EXAMPLE = '{"seq": 0, "key": "a", "arrivalMs": 0, "startedMs": 1, "endedMs": 51, "attempts": 1, "status": "ok", "code": 0, "serviceMs": 50, ...}';

class ResultsParser implements LineParser {
  readonly absoluteTimes = true;
  readonly #file: string;

  constructor(file: string) {
    this.#file = file;
  }

  line(text: string, lineNo: number, out: Parsed): void {
    const r = parseObject(text, this.#file, lineNo, EXAMPLE);
    if (r === undefined) return;
    const fail = (message: string): never => {
      throw new TraceError(this.#file, lineNo, message);
    };
    const num = (name: string): number | undefined => {
      const v = r[name];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(`"${name}" must be a number of milliseconds`);
      return v as number;
    };
    const arrivalMs = num('arrivalMs');
    if (arrivalMs === undefined) fail('a Result needs "arrivalMs", a number of milliseconds');
    const key = r['key'] ?? '';
    if (typeof key !== 'string') fail('"key" must be a string');
    const e: Draft = { tMs: arrivalMs!, key: key as string };

    const attempts = r['attempts'];
    if (attempts !== undefined && attempts !== null && (typeof attempts !== 'number' || !Number.isSafeInteger(attempts) || attempts < 0)) {
      fail('"attempts" must be a whole number >= 0');
    }
    const serviceMs = num('serviceMs');
    const startedMs = num('startedMs');
    const endedMs = num('endedMs');
    // A job with 0 attempts never ran: it has no service time to replay.
    if (attempts !== 0) {
      if (serviceMs !== undefined) e.serviceMs = roundMs(serviceMs / ((attempts as number | null | undefined) ?? 1));
      else if (startedMs !== undefined && endedMs !== undefined) e.serviceMs = roundMs(endedMs - startedMs);
    }

    const code = r['code'];
    if (typeof code === 'number' && Number.isSafeInteger(code)) e.status = code;
    else if (r['status'] !== 'ok') e.status = -1;
    out.push(e, lineNo);
  }

  end(): void {}
}
