import { spawnSync } from 'node:child_process';
import test from 'ava';
import fc from 'fast-check';
import { commandLine, shellQuote, shellQuotePosix } from '../src/report/quote.js';

const quoted: Array<[string, string]> = [
  // Safe words stay as they are.
  ['echo', 'echo'],
  ['./process', './process'],
  ['/usr/bin/env', '/usr/bin/env'],
  ['-fsS', '-fsS'],
  ['--max-time=5', '--max-time=5'],
  ['https://example.test:8080/a/b.json', 'https://example.test:8080/a/b.json'],
  ['user@host', 'user@host'],
  ['50%', '50%'],
  ['a,b+c^d_e', 'a,b+c^d_e'],
  // Anything else is single-quoted.
  ['', "''"],
  ['hello world', "'hello world'"],
  ["it's", "'it'\\''s'"],
  ["'", "''\\'''"],
  ['"quoted"', "'\"quoted\"'"],
  ['$HOME', "'$HOME'"],
  ['$(rm -rf /)', "'$(rm -rf /)'"],
  ['`id`', "'`id`'"],
  ['*.txt', "'*.txt'"],
  ['file?', "'file?'"],
  ['[ab]', "'[ab]'"],
  ['{a,b}', "'{a,b}'"],
  ['~', "'~'"],
  ['~/x', "'~/x'"],
  ['a;b', "'a;b'"],
  ['a|b', "'a|b'"],
  ['a&b', "'a&b'"],
  ['a>b', "'a>b'"],
  ['!x', "'!x'"],
  ['#comment', "'#comment'"],
  ['back\\slash', "'back\\slash'"],
  ['café', "'café'"],
  // Control characters use $'...' so that the word stays on one line.
  ['a\nb', "$'a\\nb'"],
  ['tab\there', "$'tab\\there'"],
  ['cr\r', "$'cr\\r'"],
  ['bell\x07', "$'bell\\x07'"],
  ['del\x7f', "$'del\\x7f'"],
  ["it's\n", "$'it\\'s\\n'"],
  ['back\\slash\n', "$'back\\\\slash\\n'"],
  ['\x01a', "$'\\x01a'"],
];

for (const [arg, expected] of quoted) {
  test(`shellQuote(${JSON.stringify(arg)}) is ${expected}`, (t) => {
    t.is(shellQuote(arg), expected);
    t.false(shellQuote(arg).includes('\n'), 'a quoted word is one line');
  });
}

test('shellQuotePosix always single-quotes and keeps newlines as they are', (t) => {
  t.is(shellQuotePosix('x'), "'x'");
  t.is(shellQuotePosix(''), "''");
  t.is(shellQuotePosix("it's"), "'it'\\''s'");
  t.is(shellQuotePosix('a\nb\tc'), "'a\nb\tc'");
  t.is(shellQuotePosix('$(id) `id` *'), "'$(id) `id` *'");
});

test('commandLine joins quoted words with spaces', (t) => {
  t.is(commandLine(['curl', '-fsS', 'https://x.test/a b']), "curl -fsS 'https://x.test/a b'");
  t.is(commandLine(['printf', '%s\n', 'x']), "printf $'%s\\n' x");
  t.is(commandLine([]), '');
});

// --- properties: a real shell reads back exactly the string ---------------------------------------------

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Strings as a shell sees them: any Unicode (no lone surrogates, which have no UTF-8 form), mixed with the
 * characters that matter to shells; never NUL, which no argv can hold.
 */
const shellString = fc
  .array(
    fc.oneof(
      fc.constantFrom("'", '"', '\\', '$', '`', '!', '*', '?', '[', ']', '{', '}', '~', '#', ';', '&', '|', '<', '>', '(', ')', ' ', '\n', '\t', '\r', '\x01', '\x1b', '\x7f', '%', '-', '='),
      fc.string({ unit: 'grapheme', maxLength: 3 }),
      fc.string({ unit: 'binary', maxLength: 2 }),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join('').replace(/\0/g, ''))
  .filter((s) => !LONE_SURROGATE.test(s));

function printedBy(shell: string, script: string): string {
  // stdin is not a socket: bash run with a socket on stdin thinks rshd started it and reads ~/.bashrc.
  const r = spawnSync(shell, ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env: { PATH: process.env.PATH, LC_ALL: 'C.UTF-8' } });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0 || r.stderr !== '') throw new Error(`${shell} exited with ${r.status}: ${r.stderr}`);
  return r.stdout;
}

test('property: sh -c \'printf "%s" \' + shellQuotePosix(s) prints exactly s', (t) => {
  fc.assert(
    fc.property(shellString, (s) => printedBy('sh', `printf "%s" ${shellQuotePosix(s)}`) === s),
    { numRuns: 100 },
  );
  t.pass();
});

test('property: bash -c \'printf %s \' + shellQuote(s) prints exactly s', (t) => {
  fc.assert(
    fc.property(shellString, (s) => printedBy('bash', `printf %s ${shellQuote(s)}`) === s),
    { numRuns: 100 },
  );
  t.pass();
});

test('property: a quoted argv is read back by bash as the same argv', (t) => {
  fc.assert(
    fc.property(fc.array(shellString, { minLength: 1, maxLength: 4 }), (argv) => {
      const out = printedBy('bash', `printf '%s\\0' ${commandLine(argv)}`);
      return out === argv.map((a) => `${a}\0`).join('');
    }),
    { numRuns: 30 },
  );
  t.pass();
});

test('shellQuote without control characters is POSIX: sh reads it back too', (t) => {
  fc.assert(
    fc.property(
      shellString.filter((s) => !/[\x00-\x1f\x7f]/.test(s)),
      (s) => printedBy('sh', `printf "%s" ${shellQuote(s)}`) === s,
    ),
    { numRuns: 30 },
  );
  t.pass();
});
