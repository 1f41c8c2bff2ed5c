import { Readable } from 'node:stream';
import test from 'ava';
import fc from 'fast-check';
import { readByteLines, readLines } from '../src/sources/lines.js';

/** chunked is a stream of `bytes` cut at the given places (as a file or a pipe may cut it). */
function chunked(bytes: Buffer, cuts: readonly number[]): Readable {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    if (c > from) chunks.push(bytes.subarray(from, c));
    from = Math.max(from, c);
  }
  return Readable.from(chunks, { objectMode: false });
}

async function byteLines(stream: Readable): Promise<{ decoded: string[]; one: string[] }> {
  const decoded: string[] = [];
  const one: string[] = [];
  for await (const batch of readByteLines(stream)) {
    decoded.push(...batch.texts());
    for (let i = 0; i < batch.length; i++) one.push(batch.text(i));
  }
  return { decoded, one };
}

/** linesOf is the model: the whole text decoded at once, split at each "\n" (none after a final one). */
function linesOf(bytes: Buffer): string[] {
  const lines = bytes.toString('utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

async function readAll(stream: Readable): Promise<string[]> {
  const out: string[] = [];
  for await (const line of readLines(stream)) out.push(line);
  return out;
}

test('readByteLines and readLines give the lines of the whole text, however the stream is cut', async (t) => {
  const text = fc.array(fc.oneof(fc.string(), fc.constantFrom('\n', '\r\n', 'é', '€', '😀', '{"t":1}', '\n\n'), fc.string({ unit: 'grapheme' })), { maxLength: 40 }).map((parts) => parts.join(''));
  await fc.assert(
    fc.asyncProperty(text, fc.array(fc.nat(), { maxLength: 12 }), async (s, cuts) => {
      const bytes = Buffer.from(s, 'utf8');
      const want = linesOf(bytes);
      const got = await byteLines(chunked(bytes, cuts));
      const lines = await readAll(chunked(bytes, cuts));
      return JSON.stringify(got.decoded) === JSON.stringify(want) && JSON.stringify(got.one) === JSON.stringify(want) && JSON.stringify(lines) === JSON.stringify(want);
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('readByteLines: a line longer than many chunks comes whole; other batches stay some hundreds of lines', async (t) => {
  const long = 'x'.repeat(200_000);
  const text = `${long}\n${'a\n'.repeat(15_000)}${long}`;
  const lines: string[] = [];
  for await (const batch of readByteLines(chunked(Buffer.from(text), Array.from({ length: 50 }, (_, i) => i * 7919)))) {
    const texts = batch.texts();
    // A batch is one line, or lines of at most 16 KB together.
    t.true(texts.length === 1 || texts.join('\n').length <= 16 * 1024, `${texts.length} lines`);
    lines.push(...texts);
  }
  t.deepEqual(lines, text.split('\n'));
});
