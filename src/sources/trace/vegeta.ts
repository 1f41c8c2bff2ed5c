import { arrange, type ArrangeOptions, type Draft, type LineParser, type Parsed, type ArrangedEvents, type TraceLines } from './arrange.js';
import { TraceError } from './event.js';
import { isHttpUrl } from './urls.js';

/**
 * readVegeta reads vegeta's `http` targets format as an untimed trace:
 *
 *   GET http://goku:9090/path/to/dragon?item=ball
 *   X-Account-ID: 8675309
 *
 *   POST http://goku:9090/things
 *   Content-Type: application/json
 *   @/path/to/newthing.json
 *
 * A target is a `METHOD URL` line, then `Name: value` header lines (repeats kept, in order) and at most
 * one `@file` body line, which ends the target. A blank line or the next `METHOD URL` line also ends it.
 * Lines starting with `#` are comments. Each event has key `METHOD URL`, method, url, headers and
 * bodyFile (the path only: the body is not read here); no tMs, so the scheduler paces them from `--rate`.
 * As in vegeta, spaces around lines and around a header's name and value are trimmed.
 */
export function readVegeta(
  lines: TraceLines,
  file: string,
  options: ArrangeOptions = {},
): ArrangedEvents {
  return arrange(lines, file, new VegetaParser(file), options);
}

const TARGET = /^([A-Z]+)\s+(\S+)$/;

/** isVegetaTarget says whether a line is a vegeta `METHOD http(s)://...` target line. */
export function isVegetaTarget(text: string): boolean {
  const m = TARGET.exec(text.trim());
  return m !== null && isHttpUrl(m[2]!);
}

class VegetaParser implements LineParser {
  readonly absoluteTimes = false;
  readonly #file: string;
  /** The target being read and its line, until it ends. */
  #target: { line: number; event: Draft; headers: [string, string][] } | undefined;

  constructor(file: string) {
    this.#file = file;
  }

  line(raw: string, lineNo: number, out: Parsed): void {
    const text = raw.trim();
    if (text.startsWith('#')) return;
    if (text === '') {
      this.#finish(out);
      return;
    }
    const m = TARGET.exec(text);
    if (m !== null) {
      this.#finish(out);
      const [method, url] = [m[1]!, m[2]!];
      if (!isHttpUrl(url)) throw new TraceError(this.#file, lineNo, `expected an http:// or https:// URL after ${method}, e.g. ${method} https://example.com/a`);
      this.#target = { line: lineNo, event: { key: `${method} ${url}`, method, url }, headers: [] };
      return;
    }
    const target = this.#target;
    if (target === undefined) {
      throw new TraceError(this.#file, lineNo, 'expected a target line: METHOD URL, e.g. GET https://example.com/a');
    }
    if (text.startsWith('@')) {
      const path = text.slice(1).trim();
      if (path === '') throw new TraceError(this.#file, lineNo, 'expected a body file after @, e.g. @body.json');
      target.event.bodyFile = path;
      this.#finish(out);
      return;
    }
    const colon = text.indexOf(':');
    const name = colon === -1 ? '' : text.slice(0, colon).trim();
    const value = colon === -1 ? '' : text.slice(colon + 1).trim();
    if (name === '' || value === '') {
      throw new TraceError(this.#file, lineNo, 'expected a header (Name: value), a body (@file), a blank line or the next target (METHOD URL)');
    }
    target.headers.push([name, value]);
  }

  end(_lastLineNo: number, out: Parsed): void {
    this.#finish(out);
  }

  #finish(out: Parsed): void {
    const target = this.#target;
    if (target === undefined) return;
    if (target.headers.length > 0) target.event.headers = target.headers;
    out.push(target.event, target.line);
    this.#target = undefined;
  }
}
