/**
 * The shared execution channel, `/api/exec/<roomId>?token=…&name=…&since=…` (CONTRACT.md "Shared
 * execution", docs/exec-protocol.md): participants, roles, rate limits and caps, one run at a time
 * per room. Runs themselves live in run-session.ts; delivery in fan-out.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import {
  CLOSE,
  LIMITS,
  assertNever,
  canEdit,
  isRoomId,
  parseClientFrame,
  type ClientFrame,
  type ErrorFrame,
  type HelloFrame,
  type Role,
  type RunRequest,
  type RunSummary,
} from '@codex/shared';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { refuseUpgrade } from '../ws/upgrade.js';
import type { ExecEngine } from './engine.js';
import { encodeFrame, type Participant } from './fan-out.js';
import { RateLimiter } from './rate-limit.js';
import type { RoomPort } from './room-port.js';
import { RunSession } from './run-session.js';
import type { RuntimeCatalog } from './runtime-catalog.js';

/** What the channel is built from. */
export interface ExecChannelDeps {
  config: Config;
  engine: ExecEngine;
  catalog: RuntimeCatalog;
  port: RoomPort;
  log: Logger;
  metrics: Metrics;
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

interface Member extends Participant {
  readonly role: Role;
  /** frames of one participant are handled one after the other, so stdin keeps its order */
  queue: Promise<void>;
}

interface RoomExec {
  id: string;
  members: Set<Member>;
  /** the run in progress */
  current: RunSession | null;
  /** the last finished run, still replayed to joiners */
  last: RunSession | null;
  /** a run request is being prepared (files read, runtime resolved) */
  starting: boolean;
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
  const roomRuns = new RateLimiter(config.execRunsPerMinute, 60_000);
  // One participant may use a third of the room's budget, so one person cannot lock out the others.
  const memberRuns = new RateLimiter(Math.max(1, Math.ceil(config.execRunsPerMinute / 3)), 60_000);
  const stdinRate = new RateLimiter(tuning.stdinPerSecond, 1000);
  const pendingSummaries = new Set<Promise<void>>();
  let shuttingDown = false;
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // a stdin frame or a run request with stdin, plus room for the JSON around it
    maxPayload: config.execMaxStdinBytes * 2 + 64 * 1024,
  });

  const heartbeat = setInterval(() => {
    for (const room of rooms.values()) {
      for (const m of room.members) {
        const alive = m.ws as WebSocket & { codexAlive?: boolean };
        if (alive.codexAlive === false) {
          m.ws.terminate();
          continue;
        }
        alive.codexAlive = false;
        m.ws.ping();
      }
    }
  }, config.heartbeatMs);
  heartbeat.unref();

  function sendError(m: Member, message: string): void {
    const frame: ErrorFrame = { type: 'error', message };
    if (m.ws.readyState === WebSocket.OPEN) m.ws.send(encodeFrame(frame), { binary: false });
  }

  function closeSocket(ws: WebSocket, close: { code: number; reason: string }): void {
    metrics.socketsClosed.inc({ code: String(close.code) });
    ws.close(close.code, close.reason);
  }

  async function mayAct(room: RoomExec, m: Member): Promise<boolean> {
    if (canEdit(m.role)) return true;
    return port.viewersCanRun(room.id).catch(() => false);
  }

  async function onRun(room: RoomExec, m: Member, frame: RunRequest): Promise<void> {
    if (shuttingDown) return sendError(m, 'the server is shutting down');
    if (!(await mayAct(room, m))) return sendError(m, 'viewers cannot run programs in this room');
    if (room.current || room.starting) return sendError(m, 'a program is already running in this room');
    if (frame.stdin !== undefined && Buffer.byteLength(frame.stdin) > config.execMaxStdinBytes) {
      return sendError(m, `stdin is too large (the limit is ${config.execMaxStdinBytes} bytes)`);
    }
    if (roomRuns.retryAfter(room.id) > 0) {
      return sendError(m, `this room started too many runs; try again in ${roomRuns.retryAfter(room.id)} s`);
    }
    if (memberRuns.retryAfter(m.id) > 0) return sendError(m, `you started too many runs; try again in ${memberRuns.retryAfter(m.id)} s`);
    room.starting = true;
    try {
      const input = await port.readRunInput(room.id);
      if (input.files.length === 0) return sendError(m, 'the room has no files to run');
      if (input.bytes > config.execMaxFilesBytes) {
        return sendError(m, `the files are too large to run (${input.bytes} bytes; the limit is ${config.execMaxFilesBytes})`);
      }
      const language = frame.language ?? input.language;
      const version = frame.version ?? input.version;
      if (language === '') return sendError(m, 'the room has no language set');
      const resolved = await deps.catalog.resolve(language, version);
      if (resolved.ok === false) return sendError(m, resolved.error);
      if (shuttingDown) return sendError(m, 'the server is shutting down');
      // only runs that start count against the limits (a refused request costs one document read)
      roomRuns.take(room.id);
      memberRuns.take(m.id);
      const session: RunSession = new RunSession({
        engine: deps.engine,
        by: m.name,
        // Piston gets the range as asked, so it makes its own (identical) choice.
        request: { language, version, files: input.files, ...(frame.args ? { args: frame.args } : {}) },
        ...(frame.stdin ? { stdin: frame.stdin } : {}),
        fanOut: {
          bufferBytes: config.execBufferBytes,
          highWaterBytes: tuning.highWaterBytes,
          onSent: (frames, bytes) => {
            if (frames > 0) metrics.messagesOut.inc({ kind: 'exec' }, frames);
            if (bytes > 0) metrics.bytesOut.inc(bytes);
          },
        },
        onFinished: (summary) => onFinished(room, session, summary),
      });
      if (resolved.ok === true) {
        session.language = resolved.language;
        session.version = resolved.version;
      }
      room.last?.fanOut.close();
      room.last = null;
      room.current = session;
      for (const other of room.members) session.attach(other, 0);
      metrics.runsStarted.inc();
      metrics.runsActive.inc();
      log.info({ room: room.id, run: session.id, language, by: m.name }, 'run started');
      session.start();
    } catch (err) {
      log.error({ err, room: room.id }, 'could not start a run');
      sendError(m, 'the run could not be started');
    } finally {
      room.starting = false;
    }
  }

  function onFinished(room: RoomExec, session: RunSession, summary: RunSummary): void {
    metrics.runsActive.dec();
    if (room.current === session) room.current = null;
    room.last = session;
    log.info({ room: room.id, run: session.id, code: summary.code, signal: summary.signal, message: summary.message }, 'run finished');
    const p = port
      .appendRunSummary(room.id, summary)
      .catch((err: unknown) => log.error({ err, room: room.id, run: session.id }, 'could not store the run summary'))
      .finally(() => {
        pendingSummaries.delete(p);
        if (room.members.size === 0 && !room.current && rooms.get(room.id) === room) dropRoom(room);
      });
    pendingSummaries.add(p);
  }

  function dropRoom(room: RoomExec): void {
    room.last?.fanOut.close();
    rooms.delete(room.id);
  }

  async function onFrame(room: RoomExec, m: Member, frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'run':
        return onRun(room, m, frame);
      case 'data': {
        if (!(await mayAct(room, m))) return sendError(m, 'viewers cannot type input in this room');
        if (Buffer.byteLength(frame.data) > config.execMaxStdinBytes) {
          return sendError(m, `stdin is too large (the limit is ${config.execMaxStdinBytes} bytes per frame)`);
        }
        const run = room.current;
        if (!run) return sendError(m, 'no program is running');
        if (!stdinRate.take(m.id)) return sendError(m, 'too much input at once; slow down');
        run.stdin(m.name, frame.data);
        return;
      }
      case 'signal': {
        if (!(await mayAct(room, m))) return sendError(m, 'viewers cannot stop programs in this room');
        const run = room.current;
        if (!run) return sendError(m, 'no program is running');
        run.stop(frame.signal, m.name);
        return;
      }
      default:
        assertNever(frame);
    }
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
      .then(() => onFrame(room, m, parsed.frame))
      .catch((err: unknown) => log.error({ err, room: room.id }, 'exec frame failed'));
  }

  async function onConnection(ws: WebSocket, roomId: string, token: string, name: string, since: number): Promise<void> {
    const early: [RawData, boolean][] = [];
    const queueEarly = (d: RawData, b: boolean): void => void early.push([d, b]);
    ws.on('message', queueEarly);
    ws.on('error', (err) => log.debug({ err, room: roomId }, 'exec socket error'));
    const alive = ws as WebSocket & { codexAlive?: boolean };
    alive.codexAlive = true;
    ws.on('pong', () => (alive.codexAlive = true));

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
    if (ws.readyState !== WebSocket.OPEN) return;

    let room = rooms.get(roomId);
    if (!room) {
      room = { id: roomId, members: new Set(), current: null, last: null, starting: false };
      rooms.set(roomId, room);
    }
    if (room.members.size >= config.maxPeersPerRoom) return closeSocket(ws, CLOSE.roomFull);
    const m: Member = { id: randomUUID(), name, ws, role, queue: Promise.resolve() };
    const r = room;
    r.members.add(m);
    const canRun = await mayAct(r, m);
    const session = r.current ?? r.last;
    const hello: HelloFrame = { type: 'hello', role, name, canRun, run: session?.id ?? null };
    ws.send(encodeFrame(hello), { binary: false });
    session?.attach(m, since);

    ws.off('message', queueEarly);
    ws.on('message', (d, b) => onMessage(r, m, d, b));
    for (const [d, b] of early) onMessage(r, m, d, b);
    ws.on('close', () => {
      r.members.delete(m);
      r.current?.detach(m);
      r.last?.detach(m);
      memberRuns.forget(m.id);
      stdinRate.forget(m.id);
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
      wss.handleUpgrade(req, socket, head, (ws) => {
        void onConnection(ws, roomId, token, name, since).catch((err: unknown) => {
          log.error({ err, room: roomId }, 'exec connection failed');
          ws.terminate();
        });
      });
    },
    async shutdown() {
      shuttingDown = true;
      clearInterval(heartbeat);
      const running = [...rooms.values()].flatMap((r) => (r.current ? [r.current] : []));
      for (const run of running) run.abort('the server is shutting down');
      await Promise.all(running.map((r) => r.finished));
      await Promise.all([...pendingSummaries]);
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
