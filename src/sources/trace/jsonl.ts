import { arrange, type ArrangeOptions, type Located, type LineParser } from './arrange.js';
import { TraceError, type TraceEvent } from './event.js';
import { EventFields } from './fields.js';

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
  lines: AsyncIterable<string> | Iterable<string>,
  file: string,
  options: ArrangeOptions = {},
): AsyncGenerator<TraceEvent, void, undefined> {
  return arrange(lines, file, new JsonlParser(file), options);
}

/** EXAMPLE_JSONL is shown when a line is not a JSON object. */
const EXAMPLE = '{"t": 0.25, "key": "GET /a", "duration": 0.120, "status": 200}';

class JsonlParser implements LineParser {
  readonly #file: string;
  readonly #fields: EventFields;

  constructor(file: string) {
    this.#file = file;
    this.#fields = new EventFields(file);
  }

  get absoluteTimes(): boolean {
    return this.#fields.absoluteTimes;
  }

  line(text: string, lineNo: number, out: Located[]): void {
    const obj = parseObject(text, this.#file, lineNo, EXAMPLE);
    if (obj === undefined) return;
    out.push({ line: lineNo, event: this.#fields.build(lineNo, (name) => obj[name]) });
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
  if (text.trim() === '') return undefined;
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
