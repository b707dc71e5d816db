/**
 * Routes HTTP upgrade requests by path prefix to the feature that owns them
 * (`/yjs/<roomId>`, `/api/exec/<roomId>`). Anything else is refused with a plain HTTP status.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';

/** Handles one upgrade whose path began with the route's prefix; `rest` is the path after it. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, rest: string, url: URL) => void;

/** A path prefix and its handler. */
export interface UpgradeRoute {
  prefix: string;
  handle: UpgradeHandler;
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  const statusText: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 503: 'Service Unavailable' };
  socket.end(
    `HTTP/1.1 ${status} ${statusText[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Creates the `upgrade` listener for the HTTP server. */
export function upgradeRouter(routes: readonly UpgradeRoute[], log: Logger): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    socket.on('error', (err) => log.debug({ err }, 'upgrade socket error'));
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      refuseUpgrade(socket, 400, 'malformed request URL');
      return;
    }
    const route = routes.find((r) => url.pathname.startsWith(r.prefix));
    if (!route) {
      refuseUpgrade(socket, 404, `no WebSocket endpoint at ${url.pathname}; use /yjs/<roomId> or /api/exec/<roomId>`);
      return;
    }
    try {
      route.handle(req, socket, head, url.pathname.slice(route.prefix.length), url);
    } catch (err) {
      log.error({ err }, 'upgrade handler failed');
      socket.destroy();
    }
  };
}
