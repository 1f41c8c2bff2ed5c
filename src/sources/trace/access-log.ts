import { arrange, type ArrangeOptions, type Draft, type LineParser, type Parsed, type ArrangedEvents, type TraceLines } from './arrange.js';
import { TraceError } from './event.js';
import { daysInMonth, roundMs, secondsToMs } from './numbers.js';

/**
 * LogFormat names an access log layout:
 * - `common`: `host ident user [time] "request" status bytes` (NCSA common log format); anything after is
 *   ignored;
 * - `combined`: common + ` "referer" "user-agent"` (nginx's and Apache's default);
 * - `nginx-timed`: combined, then more fields, the last being nginx `$request_time`: seconds with a
 *   fraction (`0.125`);
 * - `apache-timed`: combined, then more fields, the last being Apache `%D`: whole microseconds.
 * Not naming one reads common and combined lines alike, without request times.
 */
export type LogFormat = 'common' | 'combined' | 'nginx-timed' | 'apache-timed';

export const LOG_FORMATS: readonly LogFormat[] = ['common', 'combined', 'nginx-timed', 'apache-timed'];

export interface AccessLogOptions extends ArrangeOptions {
  readonly logFormat?: LogFormat;
}

/**
 * readAccessLog reads a web server access log:
 *
 *   127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "-" "curl/8"
 *
 * - key is `METHOD /path` (query string left out, so that keys group requests; `url` keeps the full
 *   request target and `method` the method). A request line that is not `METHOD target [HTTP/x]` (`"-"`,
 *   garbage from scanners) is kept as an event whose key is the request text as logged.
 * - status is the response status; serviceMs is the request time for the timed formats.
 * - Logs keep whole seconds, so the events of one second are spread evenly over it: the i-th of n events
 *   logged in a second arrives at `second + i * 1000 / n` ms. This holds back one second's events at a
 *   time. Times are rebased so the first second starts at 0.
 * Servers write a line when a request ends, stamped with its start (Apache) or end (nginx), so lines can
 * be out of order by a second or so: `sort: true` mends that (sorting happens before spreading).
 */
export function readAccessLog(
  lines: TraceLines,
  file: string,
  options: AccessLogOptions = {},
): ArrangedEvents {
  if (options.logFormat !== undefined && !LOG_FORMATS.includes(options.logFormat)) {
    throw new RangeError(`unknown log format ${JSON.stringify(options.logFormat)}: use one of ${LOG_FORMATS.join(', ')}`);
  }
  return arrange(lines, file, new AccessLogParser(file, options.logFormat), { ...options, spreadSeconds: true });
}

const QUOTED = '"((?:[^"\\\\]|\\\\.)*)"';
/** host ident user [dd/Mon/yyyy:hh:mm:ss ±hhmm] "request" status bytes; groups: time parts, request, status, rest. */
const COMMON = new RegExp(
  `^\\S+ \\S+ \\S+ \\[(\\d{2})/([A-Z][a-z]{2})/(\\d{4}):(\\d{2}):(\\d{2}):(\\d{2}) ([+-])(\\d{2})(\\d{2})\\] ${QUOTED} (\\d{3}) (?:\\d+|-)(.*)$`,
);
/** What comes after `bytes` in the combined format: referer and user agent, then anything. */
const COMBINED_REST = new RegExp(`^ ${QUOTED} ${QUOTED}(.*)$`);
const REQUEST = /^([A-Z][A-Z0-9_-]*) (\S+)(?: HTTP\/\d+(?:\.\d+)?)?$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const EXPECTED: Record<LogFormat | 'any', string> = {
  any: 'a common or combined log line: host ident user [10/Oct/2000:13:55:36 -0700] "GET /path HTTP/1.1" status bytes',
  common: 'a common log line: host ident user [10/Oct/2000:13:55:36 -0700] "GET /path HTTP/1.1" status bytes',
  combined: 'a combined log line: host ident user [10/Oct/2000:13:55:36 -0700] "GET /path HTTP/1.1" status bytes "referer" "user-agent"',
  'nginx-timed': 'a combined log line ending in $request_time seconds: ... "referer" "user-agent" 0.125',
  'apache-timed': 'a combined log line ending in %D microseconds: ... "referer" "user-agent" 125000',
};

/** isAccessLogLine says whether a line is a common or combined access log line (format detection). */
export function isAccessLogLine(text: string): boolean {
  return COMMON.test(text);
}

class AccessLogParser implements LineParser {
  readonly absoluteTimes = true;
  readonly #file: string;
  readonly #format: LogFormat | undefined;

  constructor(file: string, format: LogFormat | undefined) {
    this.#file = file;
    this.#format = format;
  }

  line(text: string, lineNo: number, out: Parsed): void {
    if (text.trim() === '') return;
    const fail = (what?: string): never => {
      throw new TraceError(this.#file, lineNo, what ?? `expected ${EXPECTED[this.#format ?? 'any']}`);
    };
    const m = COMMON.exec(text);
    if (m === null) return fail();
    const secondMs = clfTimeMs(m);
    if (secondMs === undefined) return fail(`not a valid time in [${text.slice(text.indexOf('[') + 1, text.indexOf(']'))}]`);
    const request = m[10]!;
    const e: Draft = { tMs: secondMs, key: request, status: Number(m[11]) };
    const r = REQUEST.exec(request);
    if (r !== null) {
      const [method, target] = [r[1]!, r[2]!];
      const q = target.indexOf('?');
      e.key = `${method} ${q === -1 ? target : target.slice(0, q)}`;
      e.method = method;
      e.url = target;
    }
    const format = this.#format;
    if (format !== undefined && format !== 'common') {
      const rest = COMBINED_REST.exec(m[12]!);
      if (rest === null) return fail();
      if (format !== 'combined') {
        const last = / (\S+)$/.exec(rest[3]!)?.[1];
        if (format === 'nginx-timed') {
          if (last === undefined || !/^\d+(?:\.\d+)?$/.test(last)) return fail(`expected ${EXPECTED[format]}; the last field must be seconds`);
          e.serviceMs = secondsToMs(Number(last));
        } else {
          if (last === undefined || !/^\d+$/.test(last)) return fail(`expected ${EXPECTED[format]}; the last field must be whole microseconds`);
          e.serviceMs = roundMs(Number(last) / 1000);
        }
      }
    }
    out.push(e, lineNo);
  }

  end(): void {}
}

/** clfTimeMs returns the epoch ms of a `[10/Oct/2000:13:55:36 -0700]` time (groups 1-9 of COMMON). */
function clfTimeMs(m: RegExpExecArray): number | undefined {
  const day = Number(m[1]);
  const month = MONTHS.indexOf(m[2]!);
  const year = Number(m[3]);
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6])];
  const offsetMin = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
  if (month < 0 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 60) return undefined;
  return Date.UTC(year, month, day, hour, minute, second) - offsetMin * 60_000;
}
