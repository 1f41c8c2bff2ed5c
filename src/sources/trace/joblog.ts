import { JOBLOG_HEADER } from '../../report/joblog.js';
import { arrange, type ArrangeOptions, type LineParser, type Parsed, type ArrangedEvents, type TraceLines } from './arrange.js';
import { TraceError } from './event.js';
import { parseDecimal, parseInteger, secondsToMs } from './numbers.js';

/** The job log header line, without its newline. */
export const JOBLOG_HEADER_LINE = JOBLOG_HEADER.trimEnd();

/**
 * readJoblog reads a GNU parallel `--joblog` file (throttle writes the same format):
 *
 *   Seq  Host  Starttime       JobRuntime  Send  Receive  Exitval  Signal  Command   (tab-separated)
 *   1    :     1700000000.123       0.250     0        0        0       0  curl -s http://a/
 *
 * tMs comes from Starttime (Unix seconds, rebased to the earliest job), serviceMs = JobRuntime × 1000,
 * status = Exitval (-1: the job never produced one), key = Command (which may itself hold tabs).
 *
 * Rows are written as jobs finish, not as they start, so they are out of order by nature: sorting is on by
 * default here (`sort: false` turns it off), within `sortWindow` events.
 */
export function readJoblog(
  lines: TraceLines,
  file: string,
  options: ArrangeOptions = {},
): ArrangedEvents {
  return arrange(lines, file, new JoblogParser(file), { ...options, sort: options.sort ?? true });
}

class JoblogParser implements LineParser {
  readonly absoluteTimes = true;
  readonly #file: string;
  #sawHeader = false;

  constructor(file: string) {
    this.#file = file;
  }

  line(text: string, lineNo: number, out: Parsed): void {
    if (text.trim() === '') return;
    if (!this.#sawHeader) {
      if (text !== JOBLOG_HEADER_LINE) {
        throw new TraceError(this.#file, lineNo, `expected the job log header: ${JOBLOG_HEADER_LINE.replaceAll('\t', '<TAB>')}`);
      }
      this.#sawHeader = true;
      return;
    }
    const cols = text.split('\t');
    const fail = (message: string): never => {
      throw new TraceError(this.#file, lineNo, message);
    };
    if (cols.length < 9) fail(`expected 9 tab-separated columns (${JOBLOG_HEADER_LINE.split('\t').join(', ')}), found ${cols.length}`);
    const start = parseDecimal(cols[2]!.trim());
    if (start === undefined || start < 0) fail('Starttime must be Unix seconds, e.g. 1700000000.123');
    const runtime = parseDecimal(cols[3]!.trim());
    if (runtime === undefined || runtime < 0) fail('JobRuntime must be seconds >= 0, e.g. 0.250');
    const exitval = parseInteger(cols[6]!.trim());
    if (exitval === undefined) fail('Exitval must be an integer');
    out.push({ tMs: secondsToMs(start!), key: cols.slice(8).join('\t'), serviceMs: secondsToMs(runtime!), status: exitval! }, lineNo);
  }

  end(): void {}
}
