// Child processes and wrk output for the benchmark sections that drive servers (http, proxy).
import { spawn } from 'node:child_process';
import { ROOT } from './stats.js';

/**
 * startServer spawns a node script in the package root that prints its port (`listening 127.0.0.1:PORT` or
 * `listening PORT pid PID`, on stdout or stderr) and resolves once it listens, with its port, process and
 * output so far. A server that does not start within 10 s is killed.
 */
export function startServer(args, name) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`${name} did not start in 10 s: ${err}`)); }, 10_000);
    const look = () => {
      const m = /listening (?:127\.0\.0\.1:)?(\d+)/.exec(`${out}\n${err}`);
      if (m) { clearTimeout(t); resolve({ port: Number(m[1]), proc: p, out: () => out, err: () => err }); }
    };
    p.stdout.setEncoding('utf8').on('data', (d) => { out += d; look(); });
    p.stderr.setEncoding('utf8').on('data', (d) => { err += d; look(); });
    p.once('exit', (code) => { clearTimeout(t); reject(new Error(`${name} exited ${code}: ${err}`)); });
  });
}

/** stopServer ends a server we started, by its own pid (SIGTERM, then SIGKILL after 10 s), and waits for it. */
export function stopServer(s) {
  return new Promise((resolve) => {
    if (s.proc.exitCode !== null) return resolve();
    const k = setTimeout(() => s.proc.kill('SIGKILL'), 10_000);
    s.proc.removeAllListeners('exit');
    s.proc.once('exit', () => { clearTimeout(k); resolve(); });
    s.proc.kill('SIGTERM');
  });
}

/** run spawns argv (no shell) in the package root, killing it after timeoutMs; resolves with its output and wall time. */
export function run(argv, timeoutMs) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const k = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', (e) => { clearTimeout(k); reject(e); });
    p.once('close', (code, signal) => { clearTimeout(k); resolve({ out, err, code, signal, wallSec: (performance.now() - t0) / 1000 }); });
  });
}

const toMs = (v, u) => Number(v) * ({ us: 1e-3, ms: 1, s: 1e3, m: 60e3 }[u] ?? NaN);

/** wrkPercentile reads one percentile (ms) of `wrk --latency` output; NaN when it is not there. */
export function wrkPercentile(out, p) {
  const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s|m)\\b`).exec(out);
  return m ? toMs(m[1], m[2]) : NaN;
}

/** parseWrk reads `wrk --latency` output: requests/s, p50/p99 (ms), requests, and non-2xx plus socket errors. */
export function parseWrk(out) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const total = Number(/(\d+) requests in/.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return { rps, p50: wrkPercentile(out, 50), p99: wrkPercentile(out, 99), total, bad: non2xx + (errs ? errs.slice(1).reduce((s, x) => s + Number(x), 0) : 0) };
}
