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
