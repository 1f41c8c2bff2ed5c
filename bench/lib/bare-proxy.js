#!/usr/bin/env node
// The peer of `throttle proxy` in bench/proxy.js: the least a reverse proxy on node's stock HTTP modules
// can be — a node:http server handing each request to an undici Pool (dispatch, streaming the answer
// back), with no limits, no header handling, no measurement. It listens on 127.0.0.1 only.
//   node bench/lib/bare-proxy.js --upstream http://127.0.0.1:PORT
// Prints `listening 127.0.0.1:PORT` on stderr once bound; exits on SIGTERM/SIGINT.
import http from 'node:http';
import { Pool } from 'undici';

const argv = process.argv.slice(2);
if (argv[0] !== '--upstream' || argv[1] === undefined) throw new Error('bare-proxy: --upstream http://127.0.0.1:PORT');
const upstream = new URL(argv[1]);
if (upstream.hostname !== '127.0.0.1') throw new Error('bare-proxy: the upstream must be on 127.0.0.1');
const pool = new Pool(upstream.origin, { pipelining: 1 });

const server = http.createServer((req, res) => {
  pool.dispatch(
    { path: req.url, method: req.method, headers: req.rawHeaders, body: null },
    {
      onRequestStart() {},
      onResponseStart(_c, status, headers) {
        if (status >= 200) res.writeHead(status, headers);
      },
      onResponseData(_c, chunk) {
        res.write(chunk);
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError() {
        if (!res.headersSent) res.statusCode = 502;
        res.end();
      },
    },
  );
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.stderr.write(`listening 127.0.0.1:${server.address().port}\n`));
const stop = () => {
  server.close();
  server.closeAllConnections();
  void pool.destroy().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
