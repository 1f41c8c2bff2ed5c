import { arrange, type ArrangeOptions, type Draft, type LineParser, type Parsed, type ArrangedEvents, type TraceLines } from './arrange.js';
import { TraceError } from './event.js';
import { isoToEpochMs, roundMs } from './numbers.js';

/**
 * readHar reads a HAR 1.2 archive (what browsers' developer tools export): one JSON document whose
 * `log.entries[]` are the requests. Per entry: tMs from `startedDateTime` (rebased to the first request),
 * serviceMs = `time` (total ms), method and url from `request`, status from `response.status`, key
 * `METHOD /path` (the URL's path, without host or query). A status of 0 (no response: blocked or aborted)
 * becomes -1, "no status", so that a replay counts it as failed rather than as exit status 0.
 *
 * Unlike every other format, HAR is parsed whole: it is a single JSON document and cannot be read a line
 * at a time. That is acceptable because HAR files are small (a browser session: hundreds or thousands of
 * requests), and it means entries are simply sorted by start time, never out of order. Errors about an
 * entry name the line of `"entries"` and the entry's index.
 */
export function readHar(
  lines: TraceLines,
  file: string,
  options: ArrangeOptions = {},
): ArrangedEvents {
  return arrange(lines, file, new HarParser(file), { ...options, sort: false });
}

class HarParser implements LineParser {
  readonly absoluteTimes = true;
  readonly #file: string;
  readonly #lines: string[] = [];
  #firstLine = 0;

  constructor(file: string) {
    this.#file = file;
  }

  line(text: string, lineNo: number): void {
    if (this.#firstLine === 0 && text.trim() !== '') this.#firstLine = lineNo;
    this.#lines.push(text);
  }

  end(lastLineNo: number, out: Parsed): void {
    const text = this.#lines.join('\n');
    const docLine = this.#firstLine || Math.max(1, lastLineNo);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      const message = (err as Error).message.split('\n')[0]!;
      const at = /at position (\d+)/.exec(message);
      const line = at === null ? docLine : lineOf(text, Number(at[1]));
      throw new TraceError(this.#file, line, `not a valid HAR document, the JSON does not parse: ${message}`);
    }
    const entries = (doc as { log?: { entries?: unknown } } | null)?.log?.entries;
    if (!Array.isArray(entries)) {
      throw new TraceError(this.#file, docLine, 'expected a HAR document: {"log": {"entries": [...]}}');
    }
    const entriesAt = text.indexOf('"entries"');
    const entriesLine = entriesAt === -1 ? docLine : lineOf(text, entriesAt);
    const located = entries.map((entry: unknown, i) => ({ line: entriesLine, event: this.#event(entry, i, entriesLine), i }));
    // Whole document in memory anyway: sort by start (stable), so HAR order never matters.
    located.sort((a, b) => a.event.tMs! - b.event.tMs! || a.i - b.i);
    for (const x of located) out.push(x.event, x.line);
  }

  #event(entry: unknown, i: number, line: number): Draft {
    const fail = (message: string): never => {
      throw new TraceError(this.#file, line, `log.entries[${i}]: ${message}`);
    };
    const e = (entry ?? {}) as { startedDateTime?: unknown; time?: unknown; request?: { method?: unknown; url?: unknown }; response?: { status?: unknown } };
    const started = typeof e.startedDateTime === 'string' ? isoToEpochMs(e.startedDateTime) : undefined;
    if (started === undefined) fail('"startedDateTime" must be an ISO-8601 date like "2024-05-01T12:00:00.250Z"');
    if (typeof e.time !== 'number' || !(e.time >= 0)) fail('"time" must be a number of milliseconds >= 0');
    const method = e.request?.method;
    const url = e.request?.url;
    if (typeof method !== 'string' || method === '' || typeof url !== 'string' || url === '') {
      fail('"request" must have a "method" and a "url"');
    }
    const status = e.response?.status;
    if (typeof status !== 'number' || !Number.isSafeInteger(status)) fail('"response.status" must be an integer');
    return {
      tMs: started!,
      key: `${method as string} ${pathOf(url as string)}`,
      serviceMs: roundMs(e.time as number),
      status: status === 0 ? -1 : (status as number),
      method: method as string,
      url: url as string,
    };
  }
}

/** pathOf returns a URL's path (no host, no query), or the text itself when it is not an absolute URL. */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    const q = url.indexOf('?');
    return q === -1 ? url : url.slice(0, q);
  }
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
