import test from 'ava';
import { warmUpHttp } from '../src/executors/http-warm-up.js';

test('the HTTP warm-up runs against a server of its own and leaves nothing open behind it', async (t) => {
  const before = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;
  const t0 = performance.now();
  await warmUpHttp();
  t.true(performance.now() - t0 < 10_000);
  // Sockets closing may take a turn of the event loop to leave the list.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const after = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;
  t.is(after, before);
});
