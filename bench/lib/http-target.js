#!/usr/bin/env node
// The loopback target for bench/http.js: a tiny node:http server on 127.0.0.1 only, body "ok" (2 bytes),
// keep-alive. Per request, `?delay=MS` answers after MS ms (setTimeout). Port 0 by default (the kernel picks).
//   node bench/lib/http-target.js [--port 0]
// Prints `listening PORT pid PID` on stdout once bound; on SIGTERM/SIGINT prints `served=N` on stderr and exits.
import http from 'node:http';

const argv = process.argv.slice(2);
let port = 0;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--port') port = Number(argv[++i]);
  else throw new Error(`http-target: unknown argument ${argv[i]}`);
}
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('http-target: bad --port');

let served = 0;
function reply(res) {
  res.statusCode = 200;
  res.setHeader('content-type', 'text/plain');
  res.setHeader('content-length', '2');
  res.end('ok');
  served++;
}

const server = http.createServer((req, res) => {
  const q = req.url.indexOf('?');
  let delay = 0;
  if (q !== -1) delay = Number(new URLSearchParams(req.url.slice(q + 1)).get('delay')) || 0;
  if (delay > 0) setTimeout(reply, delay, res);
  else reply(res);
});
server.keepAliveTimeout = 65_000; // keep idle client connections between bench rows
server.headersTimeout = 66_000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port} pid ${process.pid}\n`);
});
const stop = () => {
  process.stderr.write(`http-target: served=${served}\n`);
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
