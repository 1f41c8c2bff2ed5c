import { isAccessLogLine } from './access-log.js';
import { csvHasTimes, isCsvHeader } from './csv.js';
import type { TraceFormat } from './event.js';
import { JOBLOG_HEADER_LINE } from './joblog.js';
import { isHttpUrl } from './urls.js';
import { isVegetaTarget } from './vegeta.js';

/**
 * detectFormat tells a trace's format from its first line that is neither blank nor a `#` comment, or
 * returns undefined when it cannot. In order:
 * - `{`: a complete JSON object with `seq` and `arrivalMs` is a throttle Result (`results`); one with a
 *   `log` member, a line that is only `{`, or a line starting `{"log"` is a HAR document (`har`); anything
 *   else starting with `{` is `jsonl` (a broken first line is then reported by the JSON Lines reader);
 * - the GNU parallel job log header: `joblog`;
 * - an http(s) URL alone: `urls`; `METHOD http(s)://...`: `vegeta`;
 * - `host ident user [time] "request" status bytes`: `access-log`;
 * - a row of column names including one of t, ts, key, n, duration, status, method, url: `csv`.
 */
export function detectFormat(firstLine: string): TraceFormat | undefined {
  const text = firstLine.trim();
  if (text.startsWith('{')) {
    const obj = tryObject(text);
    if (obj !== undefined) {
      if ('seq' in obj && 'arrivalMs' in obj) return 'results';
      if ('log' in obj) return 'har';
      return 'jsonl';
    }
    return text === '{' || /^\{\s*"log"/.test(text) ? 'har' : 'jsonl';
  }
  if (firstLine === JOBLOG_HEADER_LINE) return 'joblog';
  if (isHttpUrl(text)) return 'urls';
  if (isVegetaTarget(text)) return 'vegeta';
  if (isAccessLogLine(firstLine)) return 'access-log';
  if (isCsvHeader(text)) return 'csv';
  return undefined;
}

/**
 * isTimed says whether a trace of `format` whose first line is `firstLine` has arrival times: URL lists
 * and vegeta targets never do; JSON Lines and CSV do when their first line has `t` or `ts`.
 */
export function isTimed(format: TraceFormat, firstLine: string | undefined): boolean {
  switch (format) {
    case 'urls':
    case 'vegeta':
      return false;
    case 'jsonl': {
      const obj = firstLine === undefined ? undefined : tryObject(firstLine);
      return obj === undefined || (obj['t'] ?? obj['ts'] ?? null) !== null;
    }
    case 'csv':
      return firstLine === undefined || csvHasTimes(firstLine);
    default:
      return true;
  }
}

function tryObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
