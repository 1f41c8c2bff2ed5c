import type { Readable } from 'node:stream';

/**
 * readLines yields the lines of a stream, one at a time, without the trailing "\n". Everything else in a
 * line (spaces, quotes, "\r") is kept: a line is data. The stream is read one chunk at a time as lines are
 * asked for, so a slow consumer holds back reading and memory stays bounded.
 */
export async function* readLines(stream: Readable): AsyncGenerator<string, void, undefined> {
  for await (const batch of readByteLines(stream)) {
    for (const line of batch.texts()) yield line;
  }
}

/**
 * ByteLines are lines of a stream as read, not yet decoded: `bytes[from, end)` holds whole lines, one "\n"
 * between each (none after the last; any "\r" kept, as readLines keeps it). A reader that can take a
 * line's bytes (a JSON Lines trace's numbers) makes no string of it: it finds the lines through
 * {@link ByteLines.starts} and {@link ByteLines.ends}, told on first use; {@link ByteLines.texts} decodes
 * them all at once (UTF-8), without telling them one by one.
 */
export class ByteLines {
  readonly bytes: Buffer;
  readonly #from: number;
  readonly #end: number;
  #starts: number[] | undefined;
  #ends: number[] | undefined;

  constructor(bytes: Buffer, from: number, end: number) {
    this.bytes = bytes;
    this.#from = from;
    this.#end = end;
  }

  /** starts[i] is where line i begins; ends[i] where it ends (its "\n", or the end of the lines). */
  get starts(): readonly number[] {
    if (this.#starts === undefined) this.#index();
    return this.#starts!;
  }

  get ends(): readonly number[] {
    if (this.#ends === undefined) this.#index();
    return this.#ends!;
  }

  get length(): number {
    return this.starts.length;
  }

  /** text is line i, decoded (UTF-8, as readLines decodes it). */
  text(i: number): string {
    return this.bytes.toString('utf8', this.starts[i], this.ends[i]);
  }

  /** texts are the lines, decoded (UTF-8). */
  texts(): string[] {
    return this.bytes.toString('utf8', this.#from, this.#end).split('\n');
  }

  /** from is the lines from line i on (none when i is past the last). */
  from(i: number): ByteLines | undefined {
    return i < this.length ? new ByteLines(this.bytes, this.starts[i]!, this.#end) : undefined;
  }

  #index(): void {
    const bytes = this.bytes;
    const end = this.#end;
    const starts: number[] = [];
    const ends: number[] = [];
    let from = this.#from;
    for (;;) {
      const nl = bytes.indexOf(NEWLINE, from);
      starts.push(from);
      if (nl === -1 || nl >= end) {
        ends.push(end);
        break;
      }
      ends.push(nl);
      from = nl + 1;
    }
    this.#starts = starts;
    this.#ends = ends;
  }
}

/** NEWLINE is "\n" as a byte. */
const NEWLINE = 0x0a;

/**
 * BATCH_BYTES bounds a batch of readByteLines: some hundreds of lines of a trace (a longer line is a batch of
 * its own). What a consumer makes of a batch (events, jobs) lives until the last of it is taken; a few
 * hundred lines keep that short enough for the young generation to collect it, where a whole chunk's worth
 * (thousands) gets promoted and grows the old one.
 */
const BATCH_BYTES = 16 * 1024;

/**
 * readByteLines reads a stream's lines, as {@link readLines} gives them, a few hundred at a time
 * ({@link BATCH_BYTES}) and undecoded ({@link ByteLines}): a reader of millions of lines pays for one
 * `await` per batch rather than one per line, and for no string it does not need. The next chunk is read
 * only when the batches of the last are taken. A line that spans chunks is put
 * together once, when its end arrives, so a very long line costs one copy, not one per chunk. The lines
 * are not told one by one here: a batch is cut at the last "\n" before its bound.
 */
export async function* readByteLines(stream: Readable): AsyncGenerator<ByteLines, void, undefined> {
  /** held: the start of a line not yet ended, in the chunks it came in. */
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const chunk of stream) {
    const piece = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
    const lastNewline = piece.lastIndexOf(NEWLINE);
    if (lastNewline === -1) {
      if (piece.length > 0) held.push(piece);
      heldBytes += piece.length;
      continue;
    }
    const bytes = heldBytes === 0 ? piece : Buffer.concat([...held, piece]);
    const end = heldBytes + lastNewline;
    let from = 0;
    while (from <= end) {
      let to = end;
      if (to - from > BATCH_BYTES) {
        // The last line end within the bound, else (a line longer than it) the first after it.
        to = bytes.lastIndexOf(NEWLINE, from + BATCH_BYTES);
        if (to < from) to = bytes.indexOf(NEWLINE, from + BATCH_BYTES);
      }
      yield new ByteLines(bytes, from, to);
      from = to + 1;
    }
    held = from < bytes.length ? [bytes.subarray(from)] : [];
    heldBytes = bytes.length - from;
  }
  if (heldBytes > 0) {
    const bytes = held.length === 1 ? held[0]! : Buffer.concat(held);
    yield new ByteLines(bytes, 0, bytes.length);
  }
}
