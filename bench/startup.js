#!/usr/bin/env node
// Section 4 — start-up: `node bin/throttle.js --version` and `--help` against `node -e 0`, in one
// hyperfine -N call (20 runs, 3 warm-ups each). Ratio version/node: target <= 1.3.
//   node bench/startup.js        (env: STARTUP_RUNS=20)
import { hasTool, hyperfine } from './lib/hyperfine.js';
import { envNum, isMain, passFail, sig, table } from './lib/stats.js';

export async function main({ runs = envNum('STARTUP_RUNS', 20), print = true } = {}) {
  const log = print ? (s = '') => console.log(s) : () => {};
  if (!hasTool('hyperfine')) throw new Error('hyperfine is not installed (apt-get install hyperfine); not installing it here');
  const node = process.execPath;
  const cmds = [
    { id: 'node', name: 'node -e 0', cmd: `${node} -e 0` },
    { id: 'version', name: 'throttle --version', cmd: `${node} bin/throttle.js --version` },
    { id: 'help', name: 'throttle --help', cmd: `${node} bin/throttle.js --help` },
  ];
  log(`## startup: hyperfine -N, ${runs} runs + 3 warm-ups each, one call\n`);
  const res = hyperfine(cmds.map(({ name, cmd }) => ({ name, cmd })), { runs, warmup: 3 });
  const by = {};
  cmds.forEach((c, i) => (by[c.id] = { name: c.name, medianMs: res[i].median * 1000, meanMs: res[i].mean * 1000, minMs: res[i].min * 1000, maxMs: res[i].max * 1000, stddevMs: res[i].stddev * 1000 }));
  log(table(['command', 'median', 'mean ± σ', 'min–max', '/ node -e 0'], cmds.map((c) => {
    const x = by[c.id];
    return [c.name, `${sig(x.medianMs)} ms`, `${sig(x.meanMs)} ± ${sig(x.stddevMs, 2)} ms`, `${sig(x.minMs)}–${sig(x.maxMs)} ms`, sig(x.medianMs / by.node.medianMs)];
  })));
  const v = by.version.medianMs / by.node.medianMs;
  const h = by.help.medianMs / by.node.medianMs;
  const vMin = by.version.minMs / by.node.minMs;
  log(`\nratio --version / node -e 0 = ${sig(v)} on medians (target <= 1.3: ${passFail(v <= 1.3)}), ${sig(vMin)} on minima (less load noise); --help / node -e 0 = ${sig(h)} (no target)\n`);
  return { runs, rows: by, ratios: { version_over_node: { value: v, target: 1.3, pass: v <= 1.3 }, version_over_node_min: { value: vMin }, help_over_node: { value: h } } };
}

if (isMain(import.meta.url)) await main();
