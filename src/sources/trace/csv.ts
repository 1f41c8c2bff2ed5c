import { arrange, type ArrangeOptions, type LineParser, type Parsed, type ArrangedEvents, type TraceLines } from './arrange.js';
import { TraceError } from './event.js';
import { EventFields, FIELD_NAMES } from './fields.js';
import { parseDecimal } from './numbers.js';

/**
 * readCsv reads a CSV trace: a header row naming the columns, then one event per row, e.g.
 *
 *   t,key,n,duration,status
 *   0,"GET /a?x=1,2",1,0.120,200
 *   0.25,GET /b,,,
 *
 * Columns are the fields of {@link EventFields} (names are matched without regard to case; others are
 * ignored; `headers` is JSON Lines only). An empty field is absent. Quoting is RFC 4180's: a field in
 * double quotes may hold commas and doubled quotes (`"say ""hi"""`); a quoted field spanning lines is not
 * supported. Every row must have as many fields as the header. Blank lines are skipped.
 */
export function readCsv(
  lines: TraceLines,
  file: string,
  options: ArrangeOptions = {},
): ArrangedEvents {
  return arrange(lines, file, new CsvParser(file), options);
}

/** Columns whose values are numbers (a decimal text is converted; anything else fails validation). */
const NUMERIC = new Set(['t', 'ts', 'n', 'duration', 'status']);
const KNOWN: ReadonlyMap<string, string> = new Map(FIELD_NAMES.filter((f) => f !== 'headers').map((f) => [f.toLowerCase(), f]));

/** isCsvHeader says whether a line looks like a CSV trace's header: identifiers, at least one known column. */
export function isCsvHeader(text: string): boolean {
  const names = splitCsv(text);
  return (
    typeof names !== 'string' &&
    names.every((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n.trim())) &&
    names.some((n) => KNOWN.has(n.trim().toLowerCase()))
  );
}

/** csvHasTimes says whether a CSV header names a time column (t or ts). */
export function csvHasTimes(header: string): boolean {
  const names = splitCsv(header);
  return typeof names !== 'string' && names.some((n) => ['t', 'ts'].includes(n.trim().toLowerCase()));
}

class CsvParser implements LineParser {
  readonly #file: string;
  readonly #fields: EventFields;
  /** columns maps a field name to its column index, once the header is read. */
  #columns: Map<string, number> | undefined;
  #width = 0;

  constructor(file: string) {
    this.#file = file;
    this.#fields = new EventFields(file);
  }

  get absoluteTimes(): boolean {
    return this.#fields.absoluteTimes;
  }

  line(text: string, lineNo: number, out: Parsed): void {
    if (text.trim() === '') return;
    const cells = splitCsv(text);
    if (typeof cells === 'string') throw new TraceError(this.#file, lineNo, cells);
    if (this.#columns === undefined) {
      this.#columns = this.#header(cells, lineNo);
      this.#width = cells.length;
      return;
    }
    if (cells.length !== this.#width) {
      throw new TraceError(this.#file, lineNo, `expected ${this.#width} fields as in the header, found ${cells.length}`);
    }
    const values: Record<string, unknown> = {};
    for (const [name, i] of this.#columns) {
      const cell = cells[i]!;
      if (cell === '') continue;
      values[name] = NUMERIC.has(name) ? (parseDecimal(cell.trim()) ?? cell) : cell;
    }
    this.#fields.build(lineNo, values, out);
  }

  end(): void {}

  #header(cells: string[], lineNo: number): Map<string, number> {
    const columns = new Map<string, number>();
    cells.forEach((cell, i) => {
      const name = KNOWN.get(cell.trim().toLowerCase());
      if (name === undefined) return;
      if (columns.has(name)) throw new TraceError(this.#file, lineNo, `column "${name}" appears twice in the header`);
      columns.set(name, i);
    });
    if (columns.size === 0) {
      throw new TraceError(this.#file, lineNo, 'expected a header row naming the columns, e.g. t,key,n,duration,status');
    }
    return columns;
  }
}

/**
 * splitCsv splits one CSV record into its fields (RFC 4180: fields separated by commas; a field in double
 * quotes may hold commas, and "" for a quote). Returns a string saying what is wrong instead for a quote
 * that is not closed, or text between a closing quote and the next comma.
 */
export function splitCsv(text: string): string[] | string {
  const fields: string[] = [];
  let at = 0;
  for (;;) {
    if (text[at] === '"') {
      let value = '';
      let from = at + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q === -1) return 'a quoted field is not closed on this line (fields spanning lines are not supported)';
        value += text.slice(from, q);
        if (text[q + 1] !== '"') {
          at = q + 1;
          break;
        }
        value += '"';
        from = q + 2;
      }
      fields.push(value);
      if (at === text.length) return fields;
      if (text[at] !== ',') return `expected a comma after the closing quote at column ${at} (write a quote inside quotes as "")`;
      at++;
    } else {
      const comma = text.indexOf(',', at);
      const field = comma === -1 ? text.slice(at) : text.slice(at, comma);
      if (field.includes('"')) return `a quote inside an unquoted field ("${field}"): quote the whole field and double the quote`;
      fields.push(field);
      if (comma === -1) return fields;
      at = comma + 1;
    }
  }
}
