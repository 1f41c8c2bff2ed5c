#!/usr/bin/env node
// bin/throttle.js on the modules as tsc wrote them (dist/, a file per module) rather than the bundle
// (dist/bundle/): a CPU profile of it names our files and lines.
import { main, settleHeap } from '../../dist/cli/main.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  settleHeap();
});
