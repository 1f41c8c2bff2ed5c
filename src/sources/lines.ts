import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * readLines yields the lines of a stream, one at a time, without the trailing "\n". Everything else in a
 * line (spaces, quotes, "\r") is kept: a line is data. The stream is read one chunk at a time as lines are
 * asked for, so a slow consumer holds back reading and memory stays bounded.
 */
export async function* readLines(stream: Readable): AsyncGenerator<string, void, undefined> {
  for await (const batch of readLineBatches(stream)) {
    for (const line of batch) yield line;
  }
}

/**
 * BATCH_LINES bounds a batch of readLineBatches. What a consumer makes of a batch (events, jobs) lives
 * until the last of it is taken; a few hundred lines keep that short enough for the young generation to
 * collect it, where a whole chunk's worth (thousands) gets promoted and grows the old one.
 */
const BATCH_LINES = 512;

/**
 * readLineBatches yields the lines of a stream as {@link readLines} does, but in arrays: the lines a chunk
 * completes, up to {@link BATCH_LINES} at a time (never an empty array). A reader of millions of lines then
 * pays for one `await` per batch rather than one per line. The next chunk is read only when its first
 * batch is asked for, so memory stays bounded by a chunk.
 */
export async function* readLineBatches(stream: Readable): AsyncGenerator<string[], void, undefined> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of stream) {
    const text = pending + (typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer));
    let batch: string[] = [];
    let from = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', from)) {
      batch.push(text.slice(from, nl));
      from = nl + 1;
      if (batch.length === BATCH_LINES) {
        yield batch;
        batch = [];
      }
    }
    pending = text.slice(from);
    if (batch.length > 0) yield batch;
  }
  pending += decoder.end();
  if (pending !== '') yield [pending];
}

/**
 * ByteLines are lines of a stream as read, not yet decoded: line i is `bytes[starts[i], ends[i])`, without
 * its "\n" (any "\r" kept, as readLines keeps it). A reader that can take a line's bytes (a JSON Lines
 * trace's numbers) makes no string of it; {@link ByteLines.text} decodes one, {@link ByteLines.texts}
 * all of them.
 */
export class ByteLines {
  readonly bytes: Buffer;
  readonly starts: Int32Array;
  readonly ends: Int32Array;

  constructor(bytes: Buffer, starts: Int32Array, ends: Int32Array) {
    this.bytes = bytes;
    this.starts = starts;
    this.ends = ends;
  }

  get length(): number {
    return this.starts.length;
  }

  /** text is line i, decoded (UTF-8, as readLines decodes it). */
  text(i: number): string {
    return this.bytes.toString('utf8', this.starts[i], this.ends[i]);
  }

  /** texts are the lines, decoded: the lines readLineBatches would have given. */
  texts(): string[] {
    const n = this.length;
    if (n === 0) return [];
    // The lines lie end to end, each "\n" between two: one decoding for all, then a split.
    return this.bytes.toString('utf8', this.starts[0], this.ends[n - 1]).split('\n');
  }

  /** from is the lines from line i on. */
  from(i: number): ByteLines {
    return new ByteLines(this.bytes, this.starts.subarray(i), this.ends.subarray(i));
  }
}

/** NEWLINE is "\n" as a byte. */
const NEWLINE = 0x0a;

/**
 * readByteLines reads a stream's lines as readLineBatches does, up to {@link BATCH_LINES} at a time, but
 * hands them over undecoded ({@link ByteLines}). A line that spans chunks is put together once, when its
 * end arrives, so a very long line costs one copy, not one per chunk.
 */
export async function* readByteLines(stream: Readable): AsyncGenerator<ByteLines, void, undefined> {
  /** held: the start of a line not yet ended, in the chunks it came in. */
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const chunk of stream) {
    const piece = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
    const firstNewline = piece.indexOf(NEWLINE);
    if (firstNewline === -1) {
      if (piece.length > 0) held.push(piece);
      heldBytes += piece.length;
      continue;
    }
    const bytes = heldBytes === 0 ? piece : Buffer.concat([...held, piece]);
    let nl = heldBytes + firstNewline;
    held = [];
    heldBytes = 0;
    let from = 0;
    let starts = new Int32Array(BATCH_LINES);
    let ends = new Int32Array(BATCH_LINES);
    let n = 0;
    do {
      starts[n] = from;
      ends[n] = nl;
      from = nl + 1;
      if (++n === BATCH_LINES) {
        yield new ByteLines(bytes, starts, ends);
        starts = new Int32Array(BATCH_LINES);
        ends = new Int32Array(BATCH_LINES);
        n = 0;
      }
      nl = bytes.indexOf(NEWLINE, from);
    } while (nl !== -1);
    if (from < bytes.length) {
      held.push(bytes.subarray(from));
      heldBytes = bytes.length - from;
    }
    if (n > 0) yield new ByteLines(bytes, starts.subarray(0, n), ends.subarray(0, n));
  }
  if (heldBytes > 0) {
    const bytes = held.length === 1 ? held[0]! : Buffer.concat(held);
    yield new ByteLines(bytes, Int32Array.of(0), Int32Array.of(bytes.length));
  }
}
