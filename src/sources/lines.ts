import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * readLines yields the lines of a stream, one at a time, without the trailing "\n". Everything else in a
 * line (spaces, quotes, "\r") is kept: a line is data. The stream is read one chunk at a time as lines are
 * asked for, so a slow consumer holds back reading and memory stays bounded.
 */
export async function* readLines(stream: Readable): AsyncGenerator<string, void, undefined> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of stream) {
    const text = pending + (typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer));
    let from = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', from)) {
      yield text.slice(from, nl);
      from = nl + 1;
    }
    pending = text.slice(from);
  }
  pending += decoder.end();
  if (pending !== '') yield pending;
}
