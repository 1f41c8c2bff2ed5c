import { arrange, type ArrangeOptions, type LineParser, type Parsed, type ArrangedEvents, type TraceLines } from './arrange.js';
import { TraceError } from './event.js';
import { EventFields } from './fields.js';
import { FlatFields, parseFlatFields } from './flat-json.js';

/**
 * readJsonl reads a JSON Lines trace: one object per line, fields as in {@link EventFields}, e.g.
 *
 *   {"t": 0, "key": "GET /a", "duration": 0.120, "status": 200}
 *   {"t": 0.25, "key": "GET /b", "n": 2}
 *   {"ts": "2024-05-01T12:00:00.250Z", "key": "job-7"}
 *
 * Blank lines are skipped. Each line is parsed on its own, so a trace of any length streams.
 */
export function readJsonl(
  lines: TraceLines,
  file: string,
  options: ArrangeOptions = {},
): ArrangedEvents {
  return arrange(lines, file, new JsonlParser(file), options);
}

/** EXAMPLE_JSONL is shown when a line is not a JSON object. */
const EXAMPLE = '{"t": 0.25, "key": "GET /a", "duration": 0.120, "status": 200}';

class JsonlParser implements LineParser {
  readonly #file: string;
  readonly #fields: EventFields;
  readonly #flat = new FlatFields();

  constructor(file: string) {
    this.#file = file;
    this.#fields = new EventFields(file);
  }

  get absoluteTimes(): boolean {
    return this.#fields.absoluteTimes;
  }

  line(text: string, lineNo: number, out: Parsed): void {
    const bytes = Buffer.from(text, 'utf8');
    if (!this.#flatLine(bytes, 0, bytes.length, lineNo, out)) this.#anyLine(text, lineNo, out);
  }

  bytes(data: Buffer, from: number, to: number, lineNo: number, out: Parsed): void {
    if (!this.#flatLine(data, from, to, lineNo, out)) this.#anyLine(data.toString('utf8', from, to), lineNo, out);
  }

  /** #flatLine reads the common flat line without JSON.parse, or says it cannot. */
  #flatLine(data: Buffer, from: number, to: number, lineNo: number, out: Parsed): boolean {
    if (!parseFlatFields(data, from, to, this.#flat)) return false;
    this.#fields.build(lineNo, this.#flat, out);
    return true;
  }

  /** #anyLine reads any line: JSON.parse gives the values, or the error. */
  #anyLine(text: string, lineNo: number, out: Parsed): void {
    const obj = parseObject(text, this.#file, lineNo, EXAMPLE);
    if (obj === undefined) return;
    this.#fields.build(lineNo, obj, out);
  }

  end(): void {}
}

/**
 * parseObject parses one JSON Lines line as an object; blank lines give undefined. Anything else is a
 * TraceError naming the line and showing `example`.
 */
export function parseObject(
  text: string,
  file: string,
  lineNo: number,
  example: string,
): Record<string, unknown> | undefined {
  // A line that opens an object is not blank: no need to trim it (a copy) to know.
  if (text.charCodeAt(0) !== 0x7b && text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TraceError(file, lineNo, `not valid JSON (${(err as Error).message.split('\n')[0]}): expected an object like ${example}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TraceError(file, lineNo, `expected a JSON object like ${example}`);
  }
  return value as Record<string, unknown>;
}
