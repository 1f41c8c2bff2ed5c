import type { AddressInfo, Server } from 'node:net';

/** listenOn binds a server and resolves with its address; a failure (EADDRINUSE, ...) rejects. */
export function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
