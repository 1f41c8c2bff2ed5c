#!/usr/bin/env node
// The command line runs bundled (dist/bundle/, made by `npm run build`): a few files to load, not sixty.
// What must begin at once (a trace-reading thread takes some 40 ms to start) begins before the rest loads.
import { startEarly } from '../dist/bundle/early.js';

startEarly(process.argv.slice(2));
const { main, settleHeap } = await import('../dist/bundle/main.js');
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  settleHeap();
});
