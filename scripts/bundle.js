#!/usr/bin/env node
// Bundles the command line for a faster start: `node bin/throttle.js` loads dist/bundle/main.js and the
// chunks of the subcommand it runs, where the modules tsc writes to dist/ are some fifty, and commander and
// hdr-histogram-js (CommonJS: every file through the CommonJS loader) a dozen more, each resolved, read and
// linked on its own. The other dependencies are loaded from node_modules as they would be from dist/, when
// a subcommand needs them. The trace-reading thread gets a file of its own
// (dist/bundle/reader-thread.cjs, next to the chunk that starts it). The input is tsc's output, so the
// bundle runs the very code the tests import; the library (`import ... from 'throttle-cli'`) is dist/index.js.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** READER_FILE: the trace-reading thread's file, next to the chunks (see reader-start.ts). */
const READER_FILE = './reader-thread.cjs';

/** BUNDLED: the dependencies bundled in; every command loads them as it starts. */
const BUNDLED = ['commander', 'hdr-histogram-js'];

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/bundle`;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
rmSync(outdir, { recursive: true, force: true });

const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: Object.keys(pkg.dependencies).filter((name) => !BUNDLED.includes(name)),
  // The bundled CommonJS modules call require(), which an ES module has only when given one.
  banner: { js: "import { createRequire as __throttleRequire } from 'node:module'; const require = __throttleRequire(import.meta.url);" },
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
};

await Promise.all([
  // Subcommands stay lazy: each dynamic import becomes chunks loaded only when its subcommand runs (in one
  // file, every static import of every subcommand, execa and undici among them, would load at start).
  build({ ...common, entryPoints: ['dist/cli/main.js', 'dist/cli/early.js'], splitting: true, outdir, chunkNames: 'chunk-[hash]', entryNames: '[name]', define: { THROTTLE_READER_FILE: JSON.stringify(READER_FILE) } }),
  // The thread's file is CommonJS (a thread starts some 5 ms sooner on it), needing no require of its own.
  build({ ...common, entryPoints: ['dist/sources/trace/reader-thread.js'], outfile: `${outdir}/${READER_FILE}`, format: 'cjs', banner: {} }),
]);
