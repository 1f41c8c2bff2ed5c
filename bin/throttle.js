#!/usr/bin/env node
// The command line runs bundled (dist/bundle/, made by `npm run build`): a few files to load, not sixty.
import { main, settleHeap } from '../dist/bundle/main.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  settleHeap();
});
