/**
 * The embedded engine as a Piston on a loopback port: the server starts it in-process when
 * PISTON_URL is unset and talks to it with the very same Piston client it uses for a real Piston.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import { Engine } from './engine.js';
import { createPistonApp, handleConnect, MAX_BODY_BYTES } from './piston-api.js';

/** A running embedded engine. */
export interface EmbeddedEngine {
  /** `http://127.0.0.1:<port>`: Piston's API (/api/v2/runtimes, /api/v2/execute, ws /api/v2/connect) */
  readonly url: string;
  /** null when jobs can run, else why not and how to fix it (no sandbox, ...) */
  problem(): string | null;
  /** kills running jobs, removes job dirs, stops listening; idempotent */
  close(): Promise<void>;
}

/** Probes runtimes and the sandbox, then serves Piston's API on host:port (default 127.0.0.1 and an ephemeral port). */
export async function startEmbeddedEngine(
  config: Config, log: Logger, listen: { host?: string; port?: number } = {},
): Promise<EmbeddedEngine & { readonly engine: Engine }> {
  const engine = await Engine.start(config, log);
  const app = createPistonApp(engine);
  const server = http.createServer(app.callback());
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES });
  server.on('upgrade', (req, socket: Duplex, head) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== '/api/v2/connect') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => handleConnect(engine, ws));
  });
  const host = listen.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ address: `${host}:${port}` }, 'embedded engine listening');
  let closing: Promise<void> | null = null;
  return {
    url,
    engine,
    problem: () => engine.problem(),
    close: () => {
      closing ??= (async () => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        await engine.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
  };
}
