/**
 * The shared execution channel, `/api/exec/<roomId>?token=…&name=…&since=…` (CONTRACT.md "Shared
 * execution", docs/exec-protocol.md): sockets, tokens and roles, malformed frames, heartbeat,
 * late joiners and shutdown. The rules of requests live in room-requests.ts, runs in
 * run-session.ts, delivery in fan-out.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { CLOSE, LIMITS, isRoomId, parseClientFrame, type HelloFrame, type Role } from '@codex/shared';
import type { Config } from '../config.js';
import { startHeartbeat } from '../ws/heartbeat.js';
import { refuseUpgrade } from '../ws/upgrade.js';
import { countedFanOut, encodeFrame } from './fan-out.js';
import { createRoomRequests, sendError, type Member, type RequestDeps, type RoomExec } from './room-requests.js';
import { createRunMirror, type RunSharing } from './run-mirror.js';

/** What the channel is built from: the request rules' collaborators, and sharing across instances. */
export interface ExecChannelDeps extends Pick<RequestDeps, 'config' | 'engine' | 'catalog' | 'port' | 'log' | 'metrics'> {
  /** runs shared across instances (CODEX_REDIS_URL); absent on a single machine */
  sharing?: RunSharing;
}

/** Tuning that is not in the config table (tests and the bench may change it). */
export interface ExecTuning {
  /** a socket with more than this many bytes unsent is fed from the replay buffer instead of live */
  highWaterBytes: number;
  /** stdin frames one participant may send per second */
  stdinPerSecond: number;
}

/** Defaults of ExecTuning. */
export const DEFAULT_TUNING: ExecTuning = { highWaterBytes: 512 * 1024, stdinPerSecond: 200 };

/** The exec channel of a server. */
export interface ExecChannel {
  /** the `/api/exec/` upgrade handler; `rest` is the room id */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, rest: string, url: URL): void;
  /** ends every running run with `error` + `done` to all, waits for their summaries, closes sockets with 1001 */
  shutdown(): Promise<void>;
  /** runs in progress now */
  readonly activeRuns: number;
}

/** Trims and caps the display name from `?name=`. */
export function displayName(raw: string | null): string {
  const name = [...(raw ?? '').trim()].slice(0, LIMITS.displayName).join('').trim();
  return name === '' ? 'Anonymous' : name;
}

/** The overall deadline of one run: Piston's own timeouts plus a margin, or half an hour when unlimited. */
export function runDeadlineMs(config: Config): number {
  if (config.runTimeout < 0 || config.compileTimeout < 0) return 30 * 60_000;
  return config.runTimeout + config.compileTimeout + 15_000;
}

/** Builds the exec channel. */
export function createExecChannel(deps: ExecChannelDeps, tuning: ExecTuning = DEFAULT_TUNING): ExecChannel {
  const { config, port, log, metrics } = deps;
  const rooms = new Map<string, RoomExec>();
  let shuttingDown = false;
  // shared rooms: runs driven by another instance are mirrored into `rooms` (run-mirror.ts)
  const mirror = deps.sharing
    ? createRunMirror({
        sharing: deps.sharing,
        rooms,
        port,
        log,
        fanOut: countedFanOut(config.execBufferBytes, tuning.highWaterBytes, metrics),
        onSettled: (id) => {
          const room = rooms.get(id);
          if (room && room.members.size === 0 && !room.current && !room.starting) dropRoom(room);
        },
      })
    : undefined;
  const requests = createRoomRequests({
    ...(mirror ? { mirror } : {}),
    ...deps,
    highWaterBytes: tuning.highWaterBytes,
    stdinPerSecond: tuning.stdinPerSecond,
    isShuttingDown: () => shuttingDown,
    onSettled: (room) => {
      if (room.members.size === 0 && !room.current && !room.starting && rooms.get(room.id) === room) dropRoom(room);
    },
  });
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // a stdin frame or a run request with stdin, plus room for the JSON around it
    maxPayload: config.execMaxStdinBytes * 2 + 64 * 1024,
  });

  // no pong since the last ping: gone (or stalled; it holds no more than it already has)
  const heartbeat = startHeartbeat(config.heartbeatMs, () => metrics.socketsClosed.inc({ code: '4408' }));

  function closeSocket(ws: WebSocket, close: { code: number; reason: string }): void {
    metrics.socketsClosed.inc({ code: String(close.code) });
    ws.close(close.code, close.reason);
  }

  function dropRoom(room: RoomExec): void {
    room.last?.fanOut.close();
    rooms.delete(room.id);
    mirror?.dropped(room.id);
  }

  function onMessage(room: RoomExec, m: Member, data: RawData, isBinary: boolean): void {
    if (isBinary) {
      sendError(m, 'frames must be JSON text');
      closeSocket(m.ws, CLOSE.badData);
      return;
    }
    const parsed = parseClientFrame(data.toString());
    if (!parsed.ok) {
      // A malformed frame ends this one socket, never the run or the server.
      sendError(m, parsed.error);
      closeSocket(m.ws, CLOSE.badData);
      return;
    }
    m.queue = m.queue
      .then(() => requests.handle(room, m, parsed.frame))
      .catch((err: unknown) => log.error({ err, room: room.id }, 'exec frame failed'));
  }

  async function onConnection(ws: WebSocket, roomId: string, token: string, name: string, since: number, wantsHello: boolean): Promise<void> {
    const early: [RawData, boolean][] = [];
    const queueEarly = (d: RawData, b: boolean): void => void early.push([d, b]);
    ws.on('message', queueEarly);
    ws.on('error', (err) => log.debug({ err, room: roomId }, 'exec socket error'));
    heartbeat.add(ws);

    let role: Role | 'not-found' | 'forbidden';
    try {
      role = isRoomId(roomId) ? await port.authorize(roomId, token) : 'not-found';
    } catch (err) {
      log.error({ err, room: roomId }, 'exec authorize failed');
      closeSocket(ws, CLOSE.internal);
      return;
    }
    if (role === 'not-found') return closeSocket(ws, CLOSE.notFound);
    if (role === 'forbidden') return closeSocket(ws, CLOSE.forbidden);
    if (shuttingDown) return closeSocket(ws, CLOSE.goingAway);
    const canRun = await requests.mayAct(roomId, role);
    if (shuttingDown) return closeSocket(ws, CLOSE.goingAway);
    if (ws.readyState !== WebSocket.OPEN) return;

    // From here on nothing awaits: joining, hello and replay happen between two runs' frames.
    let room = rooms.get(roomId);
    if (!room) {
      room = { id: roomId, members: new Set(), current: null, last: null, starting: false };
      rooms.set(roomId, room);
      mirror?.opened(room);
    }
    if (room.members.size >= config.maxPeersPerRoom) return closeSocket(ws, CLOSE.roomFull);
    const m: Member = { id: randomUUID(), name, ws, role, queue: Promise.resolve() };
    const r = room;
    r.members.add(m);
    const session = r.current ?? r.last;
    // Opt-in (`hello=1`): the contract says a late joiner's first frame is the run's `run` frame.
    if (wantsHello) {
      const hello: HelloFrame = { type: 'hello', role, name, canRun, run: session?.id ?? null };
      ws.send(encodeFrame(hello), { binary: false });
    }
    // while a shared room's past runs are replayed from Redis, joiners are attached once it is done
    if (!mirror?.replaying(roomId)) session?.attach(m, since);

    ws.off('message', queueEarly);
    ws.on('message', (d, b) => onMessage(r, m, d, b));
    for (const [d, b] of early) onMessage(r, m, d, b);
    ws.on('close', () => {
      r.members.delete(m);
      r.current?.detach(m);
      r.last?.detach(m);
      requests.forget(m);
      if (r.members.size === 0 && !r.current && !r.starting && rooms.get(r.id) === r) dropRoom(r);
    });
  }

  return {
    get activeRuns() {
      let n = 0;
      for (const r of rooms.values()) if (r.current) n += 1;
      return n;
    },
    handleUpgrade(req, socket, head, rest, url) {
      if (shuttingDown) return refuseUpgrade(socket, 503, 'the server is shutting down');
      let roomId: string;
      try {
        roomId = decodeURIComponent(rest.split('/')[0] ?? '');
      } catch {
        return refuseUpgrade(socket, 400, 'malformed room id');
      }
      const token = url.searchParams.get('token') ?? '';
      const name = displayName(url.searchParams.get('name'));
      const sinceRaw = Number(url.searchParams.get('since') ?? '0');
      const since = Number.isFinite(sinceRaw) && sinceRaw > 0 ? Math.floor(sinceRaw) : 0;
      const wantsHello = url.searchParams.get('hello') === '1';
      wss.handleUpgrade(req, socket, head, (ws) => {
        void onConnection(ws, roomId, token, name, since, wantsHello).catch((err: unknown) => {
          log.error({ err, room: roomId }, 'exec connection failed');
          ws.terminate();
        });
      });
    },
    async shutdown() {
      shuttingDown = true;
      heartbeat.stop();
      const running = [...rooms.values()].flatMap((r) => (r.current ? [r.current] : []));
      for (const run of running) run.abort('the server is shutting down');
      await Promise.all(running.map((r) => r.finished));
      await mirror?.settled(); // their last frames reached the other instances
      await requests.settled();
      for (const r of rooms.values()) {
        for (const m of r.members) closeSocket(m.ws, CLOSE.goingAway);
        r.current?.fanOut.close();
        r.last?.fanOut.close();
      }
      rooms.clear();
      wss.close();
    },
  };
}
