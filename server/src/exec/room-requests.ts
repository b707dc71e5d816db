/**
 * What participants ask of a room's exec channel (run, stdin, stop), checked against roles, caps
 * and rate limits, and the room's run bookkeeping (one run at a time, the last run kept for replay,
 * summaries stored when runs finish). exec-channel.ts owns the sockets; this module owns the rules.
 */
import WebSocket from 'ws';
import { assertNever, canEdit, type ClientFrame, type ErrorFrame, type Role, type RunRequest, type RunSummary } from '@codex/shared';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ExecEngine } from './engine.js';
import { countedFanOut, encodeFrame, type Participant } from './fan-out.js';
import { RateLimiter } from './rate-limit.js';
import type { RoomPort } from './room-port.js';
import type { RoomRun, RunMirror } from './run-mirror.js';
import { RunSession } from './run-session.js';
import type { RuntimeCatalog } from './runtime-catalog.js';

/** A participant of a room's exec channel. */
export interface Member extends Participant {
  readonly role: Role;
  /** frames of one participant are handled one after the other, so stdin keeps its order */
  queue: Promise<void>;
}

/** The exec state of one room with participants. */
export interface RoomExec {
  id: string;
  members: Set<Member>;
  /** the run in progress (driven here, or mirrored from the instance driving it) */
  current: RoomRun | null;
  /** the last finished run, still replayed to joiners */
  last: RoomRun | null;
  /** a run request is being prepared (files read, runtime resolved) */
  starting: boolean;
}

/** What the request rules need. */
export interface RequestDeps {
  config: Config;
  engine: ExecEngine;
  catalog: RuntimeCatalog;
  port: RoomPort;
  log: Logger;
  metrics: Metrics;
  highWaterBytes: number;
  stdinPerSecond: number;
  isShuttingDown(): boolean;
  /** a run finished and its summary is stored: the channel may drop the room if no one is left */
  onSettled(room: RoomExec): void;
  /** runs shared across instances (CODEX_REDIS_URL): a run starts here only if this instance may drive it */
  mirror?: RunMirror;
}

/** The request rules of every room of a channel. */
export interface RoomRequests {
  /** handles one parsed frame of `m` in `room` */
  handle(room: RoomExec, m: Member, frame: ClientFrame): Promise<void>;
  /** may `m` run, type and stop in `room` now */
  mayAct(roomId: string, role: Role): Promise<boolean>;
  /** forgets a participant's rate-limit state */
  forget(m: Member): void;
  /** resolves once every summary being stored is stored */
  settled(): Promise<void>;
}

/** Sends an `error` frame to one participant alone (a refused request). */
export function sendError(m: Participant, message: string): void {
  const frame: ErrorFrame = { type: 'error', message };
  if (m.ws.readyState === WebSocket.OPEN) m.ws.send(encodeFrame(frame), { binary: false });
}

/** Builds the request rules. */
export function createRoomRequests(deps: RequestDeps): RoomRequests {
  const { config, port, log, metrics } = deps;
  const roomRuns = new RateLimiter(config.execRunsPerMinute, 60_000);
  // One participant may use a third of the room's budget, so one person cannot lock out the others.
  const memberRuns = new RateLimiter(Math.max(1, Math.ceil(config.execRunsPerMinute / 3)), 60_000);
  const stdinRate = new RateLimiter(deps.stdinPerSecond, 1000);
  const pendingSummaries = new Set<Promise<void>>();

  async function mayAct(roomId: string, role: Role): Promise<boolean> {
    if (canEdit(role)) return true;
    return port.viewersCanRun(roomId).catch(() => false);
  }

  async function onRun(room: RoomExec, m: Member, frame: RunRequest): Promise<void> {
    if (deps.isShuttingDown()) return sendError(m, 'the server is shutting down');
    if (!(await mayAct(room.id, m.role))) return sendError(m, 'viewers cannot run programs in this room');
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
      if (deps.isShuttingDown()) return sendError(m, 'the server is shutting down');
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
          ...countedFanOut(config.execBufferBytes, deps.highWaterBytes, metrics),
          // shared rooms: every frame also goes to the other instances, in order
          ...(deps.mirror ? { onFrame: (f) => deps.mirror?.publish(session.id, f) } : {}),
        },
        onFinished: (summary) => onFinished(room, session, summary),
      });
      if (resolved.ok === true) {
        session.language = resolved.language;
        session.version = resolved.version;
      }
      // shared rooms: the room's run lease decides, whichever instance the other participants are on
      if (deps.mirror && !(await deps.mirror.claim(room.id, session))) {
        return sendError(m, 'a program is already running in this room');
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
    deps.mirror?.release(session.id); // after its `done` went out to the other instances
    if (room.current === session) room.current = null;
    room.last = session;
    log.info({ room: room.id, run: session.id, code: summary.code, signal: summary.signal, message: summary.message }, 'run finished');
    const p = port
      .appendRunSummary(room.id, summary)
      .catch((err: unknown) => log.error({ err, room: room.id, run: session.id }, 'could not store the run summary'))
      .finally(() => {
        pendingSummaries.delete(p);
        deps.onSettled(room);
      });
    pendingSummaries.add(p);
  }

  async function onFrame(room: RoomExec, m: Member, frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'run':
        return onRun(room, m, frame);
      case 'data': {
        if (!(await mayAct(room.id, m.role))) return sendError(m, 'viewers cannot type input in this room');
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
        if (!(await mayAct(room.id, m.role))) return sendError(m, 'viewers cannot stop programs in this room');
        const run = room.current;
        if (!run) return sendError(m, 'no program is running');
        run.stop(frame.signal, m.name);
        return;
      }
      default:
        assertNever(frame);
    }
  }

  return {
    handle: onFrame,
    mayAct,
    forget(m) {
      memberRuns.forget(m.id);
      stdinRate.forget(m.id);
    },
    async settled() {
      await Promise.all([...pendingSummaries]);
    },
  };
}
