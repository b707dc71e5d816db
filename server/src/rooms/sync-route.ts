/**
 * The `/yjs/<roomId>?token=…` WebSocket endpoint: checks the token, loads the room, enforces
 * the peer and per-address caps, and hands the socket to a SyncConnection. Refusals happen
 * after the upgrade, as WebSocket close codes with reasons, so the stock provider sees them.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { startHeartbeat, type Heartbeat } from '../ws/heartbeat.js';
import type { UpgradeRoute } from '../ws/upgrade.js';
import type { RoomRegistry } from './registry.js';
import type { Room } from './room.js';
import { clientAddress } from '../http/client-address.js';
import { SyncConnection, closeWith } from './yjs-sync.js';

/** Caps and timings of the sync endpoint (from Config). */
export interface SyncRouteOptions {
  maxMessageBytes: number;
  maxDocBytes: number;
  maxPeersPerRoom: number;
  maxRoomsPerAddress: number;
  heartbeatMs: number;
  /** read the client address from X-Forwarded-For (behind one load balancer) */
  trustProxy: boolean;
}

/** The endpoint plus what shutdown needs. */
export interface SyncRoute {
  route: UpgradeRoute;
  /** closes every sync socket with 1001; resolves when their close handshakes are done (≤ 1 s) */
  closeAll(): Promise<void>;
  /** open sync sockets */
  readonly peers: number;
}

/** Builds the `/yjs/` upgrade route over `registry`. */
export function syncRoute(registry: RoomRegistry, opts: SyncRouteOptions, metrics: Metrics, log: Logger): SyncRoute {
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes, perMessageDeflate: false, clientTracking: true });
  const heartbeat: Heartbeat = startHeartbeat(opts.heartbeatMs, () => metrics.socketsClosed.inc({ code: '4408' }));
  /** address → room id → open sockets */
  const byAddress = new Map<string, Map<string, number>>();
  const deps = { metrics, log, maxDocBytes: opts.maxDocBytes, maxBufferedBytes: Math.max(4 * opts.maxMessageBytes, 16 * 1024 ** 2) };
  let accepting = true;

  function accept(req: IncomingMessage, socket: Duplex, head: Buffer, then: (ws: WebSocket) => void): void {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', (err) => log.debug({ err: err.message }, 'sync socket error'));
      then(ws);
    });
  }

  function attach(ws: WebSocket, room: Room, role: SyncConnection['role'], address: string): void {
    const rooms = byAddress.get(address) ?? new Map<string, number>();
    if (room.peers.size >= opts.maxPeersPerRoom) return closeWith(ws, 'roomFull', metrics);
    if (!rooms.has(room.id) && rooms.size >= opts.maxRoomsPerAddress) return closeWith(ws, 'tooManyRooms', metrics);
    rooms.set(room.id, (rooms.get(room.id) ?? 0) + 1);
    byAddress.set(address, rooms);
    const conn = new SyncConnection(ws, room, role, deps);
    room.peers.add(conn);
    heartbeat.add(ws);
    metrics.peers.inc();
    log.debug({ room: room.id, role, peers: room.peers.size }, 'peer joined');
    ws.once('close', () => {
      room.removePeer(conn);
      metrics.peers.dec();
      const n = (rooms.get(room.id) ?? 1) - 1;
      if (n > 0) rooms.set(room.id, n);
      else rooms.delete(room.id);
      if (rooms.size === 0) byAddress.delete(address);
      log.debug({ room: room.id, peers: room.peers.size }, 'peer left');
      registry.scheduleUnload(room);
    });
  }

  async function handle(req: IncomingMessage, socket: Duplex, head: Buffer, rest: string, url: URL): Promise<void> {
    // Room ids are URL-safe; anything needing decoding (or failing to decode) is simply unknown.
    const roomId = rest.replace(/\/+$/, '');
    const token = url.searchParams.get('token');
    const address = clientAddress(req, opts.trustProxy);
    if (!accepting) return accept(req, socket, head, (ws) => closeWith(ws, 'goingAway', metrics));
    const role = await registry.authorize(roomId, token);
    if (role === 'not-found') return accept(req, socket, head, (ws) => closeWith(ws, 'notFound', metrics));
    if (role === 'forbidden') return accept(req, socket, head, (ws) => closeWith(ws, 'forbidden', metrics));
    // Load before upgrading: the provider sends sync step 1 as soon as the socket opens, and a
    // frame arriving before its listener exists would be lost.
    const room = await registry.acquire(roomId);
    if (socket.destroyed) return registry.release(room);
    accept(req, socket, head, (ws) => {
      try {
        attach(ws, room, role, address);
      } finally {
        registry.release(room);
      }
    });
  }

  return {
    route: {
      prefix: '/yjs/',
      handle(req, socket, head, rest, url) {
        handle(req, socket, head, rest, url).catch((err: unknown) => {
          log.error({ err }, 'sync upgrade failed');
          socket.destroy();
        });
      },
    },
    async closeAll() {
      accepting = false;
      heartbeat.stop();
      const sockets = [...wss.clients];
      const done = sockets.map((ws) =>
        ws.readyState === ws.CLOSED ? Promise.resolve() : new Promise<void>((r) => ws.once('close', () => r())),
      );
      for (const ws of sockets) closeWith(ws, 'goingAway', metrics);
      // Wait for the handshakes: exiting with the close frame unread would reset the TCP
      // connection and the client would see 1006 instead of 1001.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(done), new Promise<void>((r) => (timer = setTimeout(r, 1000)))]);
      clearTimeout(timer);
      for (const ws of sockets) if (ws.readyState !== ws.CLOSED) ws.terminate();
    },
    get peers() {
      return wss.clients.size;
    },
  };
}
