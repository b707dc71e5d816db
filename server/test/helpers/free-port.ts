/** A free TCP port on 127.0.0.1, for servers that must be restarted on the same port. */
import net from 'node:net';

/** Asks the kernel for a free loopback port and releases it (a tiny race with other processes; callers retry or tolerate it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
