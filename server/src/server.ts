/**
 * createServer(config): wires the features together on one HTTP server and one port.
 * It reads no environment and installs no signal handlers (main.ts does both).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './config.js';
import { createApp } from './http/app.js';
import { healthRoutes, type ReadinessCheck } from './http/health.js';
import { staticClient } from './http/static.js';
import { orderedShutdown, type ShutdownStep } from './lifecycle/shutdown.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { roomRoutes } from './http/rooms.js';
import { RoomRegistry } from './rooms/registry.js';
import { openRoomStorage, type RoomStorageTuning } from './scale/scale-feature.js';
import { syncRoute } from './rooms/sync-route.js';
import { createExecFeature } from './exec/exec-feature.js';
import { DEFAULT_LANGUAGE } from './rooms/starter-files.js';
import { upgradeRouter, type UpgradeRoute } from './ws/upgrade.js';

/** Where the built client lives, relative to this file (src/ or dist/ alike). */
const DEFAULT_CLIENT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../client/dist');

/** Things createServer needs besides the config. */
export interface ServerDeps {
  log: Logger;
  /** directory of the built client; default `client/dist` of this repository */
  clientDir?: string;
  /** shorter leases and flushes for shared rooms (tests); production uses the defaults */
  scaleTuning?: RoomStorageTuning;
}

/** A running (or ready to run) CodeX server. */
export interface CodexServer {
  /** starts listening on config.host:config.port; resolves with the bound address */
  listen(): Promise<AddressInfo>;
  /** `http://host:port` once listening */
  readonly url: string;
  readonly metrics: Metrics;
  /** the rooms (documents, tokens, storage); other features reach room documents through it */
  readonly rooms: RoomRegistry;
  /** stops accepting, flushes rooms, closes sockets with 1001; idempotent */
  close(): Promise<void>;
}

/** Builds the server from its config. Nothing listens until `listen()`. */
export async function createServer(config: Config, deps: ServerDeps): Promise<CodexServer> {
  const { log } = deps;
  const metrics = createMetrics();
  const readiness: ReadinessCheck[] = [];
  const upgrades: UpgradeRoute[] = [];
  const shutdownSteps: ShutdownStep[] = [];

  // Rooms: durable documents (SQLite in the data dir, or PostgreSQL with CODEX_DATABASE_URL;
  // shared across instances through Redis with CODEX_REDIS_URL), the rooms API and the
  // y-websocket endpoint.
  const storage = await openRoomStorage(config, log, deps.scaleTuning);
  const rooms = new RoomRegistry(
    storage.store,
    { flushMs: config.flushMs, roomUnloadMs: config.roomUnloadMs, ...(storage.shared ? { shared: storage.shared } : {}) },
    metrics,
    log,
  );
  const sync = syncRoute(rooms, config, metrics, log);
  upgrades.push(sync.route);
  readiness.push(...storage.readiness);

  // Shared execution: the engine, /api/exec/<room>, /api/runtimes and /api/execute.
  // PISTON_URL unset: the embedded engine serves Piston's API on loopback, reached by the same client.
  const exec = await createExecFeature({
    config, log, metrics, rooms,
    requiredLanguages: [DEFAULT_LANGUAGE],
    ...(storage.runs ? { sharing: storage.runs } : {}),
    // imported on demand: with PISTON_URL set the engine's modules are never loaded
    startEmbedded: async () => (await import('./exec/engine/embedded.js')).startEmbeddedEngine(config, log.child({ feature: 'engine' })),
  });
  upgrades.push(exec.route);
  readiness.push(exec.readiness);
  // Runs end (done to all, summary into the document) before the rooms flush.
  shutdownSteps.push(exec.endRuns);
  shutdownSteps.push(
    { name: 'close sync sockets', run: () => sync.closeAll() },
    { name: 'flush rooms and close storage', run: () => rooms.close() },
    // after the rooms: their replicas' final flushes still publish and release leases
    { name: 'close shared rooms', run: () => storage.closeShared() },
  );
  shutdownSteps.push(exec.closeEngine);

  const app = createApp({
    log,
    proxy: config.trustProxy,
    routers: [healthRoutes(metrics, readiness), roomRoutes(rooms, config), exec.router],
    fallback: staticClient(deps.clientDir ?? DEFAULT_CLIENT_DIR),
  });
  const httpServer = http.createServer(app.callback());
  httpServer.on('upgrade', upgradeRouter(upgrades, log));
  // Slowloris guard; WebSocket sockets are taken over by ws and unaffected.
  httpServer.headersTimeout = 20_000;
  httpServer.requestTimeout = 60_000;

  let url = '';
  const close = orderedShutdown(
    [
      {
        name: 'stop accepting',
        run: () => {
          httpServer.close();
          httpServer.closeIdleConnections();
        },
      },
      ...shutdownSteps,
      { name: 'close http', run: () => void httpServer.closeAllConnections() },
    ],
    config.shutdownTimeoutMs,
    log,
  );

  return {
    metrics,
    rooms,
    get url() {
      return url;
    },
    listen: () =>
      new Promise<AddressInfo>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.port, config.host, () => {
          httpServer.off('error', reject);
          const addr = httpServer.address() as AddressInfo;
          const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
          url = `http://${host}:${addr.port}`;
          log.info({ address: addr.address, port: addr.port }, 'listening');
          resolve(addr);
        });
      }),
    close,
  };
}
