import { arrange, type ArrangeOptions, type LineParser, type Parsed, type ArrangedEvents, type TraceLines } from './arrange.js';
import { TraceError } from './event.js';

/**
 * readUrls reads a plain list of URLs, one per line, as an untimed trace: each event is a GET of the URL
 * (key and url: the URL; no tMs, so the scheduler paces them from `--rate`). Blank lines and lines
 * starting with `#` are skipped; surrounding spaces are ignored.
 */
export function readUrls(
  lines: TraceLines,
  file: string,
  options: ArrangeOptions = {},
): ArrangedEvents {
  return arrange(lines, file, new UrlsParser(file), options);
}

/** isHttpUrl says whether text is an absolute http(s) URL. */
export function isHttpUrl(text: string): boolean {
  return /^https?:\/\/\S+$/.test(text) && URL.canParse(text);
}

class UrlsParser implements LineParser {
  readonly absoluteTimes = false;
  readonly #file: string;

  constructor(file: string) {
    this.#file = file;
  }

  line(raw: string, lineNo: number, out: Parsed): void {
    const text = raw.trim();
    if (text === '' || text.startsWith('#')) return;
    if (!isHttpUrl(text)) throw new TraceError(this.#file, lineNo, 'expected an http:// or https:// URL, e.g. https://example.com/a');
    out.push({ key: text, method: 'GET', url: text }, lineNo);
  }

  end(): void {}
}
