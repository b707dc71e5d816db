/**
 * "One run, one driver" across instances. The instance that starts a room's run holds the room's
 * `run` lease for as long as the run lasts and publishes every frame of it (`run`, the numbered
 * frames, `done`) on the room's exec stream (`codex:room:{id}:exec`), stamped with its fencing
 * token. Every instance with participants in the room reads that stream and hands the frames to
 * its exec channel, so all participants get the same frames with the same `seq`.
 *
 * If the driving instance dies, its lease expires. Each watching instance notices a run that is
 * open but has no lease; the one that wins the lease ends it for everyone: an `error` frame, then
 * `done` (status `XX`), numbered after the last frame seen, with the newer token. Frames stamped
 * with an older token than one already seen in the room (a driver that paused past its lease)
 * are dropped, so a stale driver cannot write after the run was ended.
 */
import { STOP_SIGNALS, type DoneFrame, type NumberedFrame, type RunStarted, type SignalRequest, type StdinRequest } from '@codex/shared';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { holdLease, redisLease, roomLeaseKey, type HeldLease } from './lease.js';
import { decodeEntry, roomStreamKey, type RedisRoomBus, type RoomBusMessage } from './room-bus.js';
import { STREAM_START } from './stream-ids.js';

/** The frames of one run, as they travel between instances. */
export type RelayedFrame = RunStarted | NumberedFrame | DoneFrame;

/** Input for a run from a participant on any instance, on its way to the driver. */
export interface RunInput {
  run: string;
  /** the participant's display name (for the stdin echo) */
  by: string;
  frame: StdinRequest | SignalRequest;
}

/** Options of {@link createRunRelay}. */
export interface RunRelayOptions {
  /** a bus on the `exec` channel; its listener's `message` must call the relay's `receive` */
  bus: RedisRoomBus;
  /** commands connection for the leases */
  redis: Redis;
  instanceId: string;
  log: Logger;
  /** every frame of a watched room, from any instance (this one's too), in stream order */
  onFrame(room: string, frame: RelayedFrame): void;
  /** this instance ended a vanished driver's run (after publishing its `error` and `done`) */
  onTakenOver?(room: string, done: DoneFrame): void;
  /** run lease TTL: a dead driver is noticed within about TTL + watchEveryMs */
  leaseTtlMs?: number;
  /** how often watchers check the lease of an open run */
  watchEveryMs?: number;
  now?: () => number;
}

/** This instance driving a run. */
export interface RunDrive {
  readonly room: string;
  readonly run: string;
  readonly token: number;
  /** publishes a frame of the run (and hands it to `onFrame` here); false once the lease is lost */
  send(frame: RelayedFrame): Promise<boolean>;
  /** releases the lease (after sending `done`); idempotent */
  end(): Promise<void>;
}

/** The relay of one instance. */
export interface RunRelay {
  /** routes an exec-stream entry (called from the bus listener) */
  receive(msg: RoomBusMessage): void;
  /**
   * Starts reading the room's exec stream. What the stream still holds is replayed to `onFrame`
   * before this resolves (so the caller can tell the replay from live frames), then live frames follow.
   */
  watch(room: string): Promise<void>;
  unwatch(room: string): void;
  /**
   * Takes the room's run lease for `run`; null if another run is going anywhere. `onInput`
   * receives stdin and signals sent to this run by participants on every instance.
   */
  drive(room: string, run: string, onInput?: (input: RunInput) => void): Promise<RunDrive | null>;
  /** hands a participant's stdin or signal to the run's driver, wherever it is */
  forward(room: string, input: RunInput): Promise<void>;
  close(): Promise<void>;
}

/** What a watcher knows of a room's current run. */
interface OpenRun {
  run: string;
  token: number;
  lastSeq: number;
  seenAt: number;
}

/** Creates the relay; frames flow once rooms are watched. */
export function createRunRelay(opts: RunRelayOptions): RunRelay {
  const { bus, redis, instanceId, onFrame } = opts;
  const log = opts.log.child({ scope: 'run-relay' });
  const ttlMs = opts.leaseTtlMs ?? 3_000;
  const now = opts.now ?? Date.now;
  const watched = new Set<string>();
  const open = new Map<string, OpenRun>(); // room → its run not yet done
  const maxToken = new Map<string, number>(); // room → highest token seen: older ones are stale
  const driving = new Map<string, { held: HeldLease; run: string; onInput: (input: RunInput) => void }>();
  const leaseOf = (room: string) => redisLease(redis, { key: roomLeaseKey(room, 'run'), owner: instanceId, ttlMs });

  /** Applies one frame to the watcher state; false if it is stale and must be dropped. */
  const track = (room: string, token: number, frame: RelayedFrame): boolean => {
    if (token < (maxToken.get(room) ?? 0)) return false;
    maxToken.set(room, token);
    if (frame.type === 'run') open.set(room, { run: frame.run, token, lastSeq: -1, seenAt: now() });
    else {
      const cur = open.get(room);
      if (cur?.run !== frame.run) return true; // a frame of a run we joined late or that is over
      if (frame.type === 'done') open.delete(room);
      else if (Number.isInteger(frame.seq)) cur.lastSeq = Math.max(cur.lastSeq, frame.seq);
    }
    return true;
  };


  const publish = async (room: string, token: number, frame: RelayedFrame): Promise<void> => {
    if (!track(room, token, frame)) return;
    await bus.publish(room, 'exec', encodeExecEntry(token, frame));
    if (watched.has(room)) onFrame(room, frame);
  };

  /** Ends a run whose driver vanished, if this instance wins the lease to do so. */
  const takeOver = async (room: string, dead: OpenRun): Promise<void> => {
    const held = await holdLease(leaseOf(room), () => undefined);
    if (!held) return; // another instance is ending it, or a new run began
    try {
      const cur = open.get(room);
      // its `done` arrived meanwhile, or is in the stream and not yet read here: whoever ended the
      // run (driver or another watcher) wrote `done` before releasing the lease we now hold
      if (cur?.run !== dead.run || (await streamHasDone(room, dead.run))) return;
      const message = 'the server running this program stopped; run it again';
      log.warn({ room, run: dead.run }, 'driver of a run vanished: ending the run for everyone');
      await publish(room, held.token, { type: 'error', run: dead.run, seq: cur.lastSeq + 1, message });
      const done: DoneFrame = {
        type: 'done', run: dead.run, code: null, signal: null, status: 'XX', message, wall_ms: now() - cur.seenAt,
      };
      await publish(room, held.token, done);
      opts.onTakenOver?.(room, done);
    } finally {
      await held.release();
    }
  };

  /** Whether the room's exec stream ends with a `done` of `run` among its last entries. */
  const streamHasDone = async (room: string, run: string): Promise<boolean> => {
    const entries = await redis.xrevrangeBuffer(roomStreamKey(room, 'exec'), '+', '-', 'COUNT', 100);
    for (const [id, fields] of entries) {
      const msg = decodeEntry(room, id.toString(), fields);
      const entry = msg ? decodeExecEntry(msg.data) : undefined;
      if (entry?.frame.type === 'done' && entry.frame.run === run) return true;
    }
    return false;
  };

  let checking = false;
  const check = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    try {
      for (const [room, run] of [...open]) {
        if (!watched.has(room) || driving.has(room)) continue;
        if ((await leaseOf(room).holder()) === null) await takeOver(room, run);
      }
    } catch (err) {
      log.debug({ err: err instanceof Error ? err.message : String(err) }, 'run lease check failed');
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), opts.watchEveryMs ?? 1_000);
  timer.unref();

  const receive = (msg: RoomBusMessage): void => {
    if (msg.kind !== 'exec') return;
    const input = decodeInputEntry(msg.data);
    if (input) {
      const d = driving.get(msg.room);
      if (d?.run === input.run) d.onInput(input); // only the driver of that very run acts on it
      return;
    }
    if (!watched.has(msg.room)) return;
    const parsed = decodeExecEntry(msg.data);
    if (!parsed) {
      log.warn({ room: msg.room, id: msg.id }, 'malformed exec entry skipped');
      return;
    }
    if (track(msg.room, parsed.token, parsed.frame)) onFrame(msg.room, parsed.frame);
  };

  return {
    receive,
    async watch(room) {
      if (watched.has(room)) return;
      watched.add(room);
      // replay what the stream holds here, then read live entries after the last one replayed
      let from = STREAM_START;
      try {
        const entries = await redis.xrangeBuffer(roomStreamKey(room, 'exec'), '-', '+');
        for (const [rawId, fields] of entries) {
          from = rawId.toString();
          const msg = decodeEntry(room, from, fields);
          if (msg && watched.has(room)) receive(msg);
        }
      } catch (err) {
        // Redis away: the bus reads the whole stream once it is back (replayed as live frames)
        log.debug({ room, err: err instanceof Error ? err.message : String(err) }, 'exec replay failed');
        from = STREAM_START;
      }
      if (watched.has(room)) await bus.join(room, from);
    },
    unwatch(room) {
      watched.delete(room);
      open.delete(room);
      bus.leave(room);
    },
    async drive(room, run, onInput = () => undefined) {
      if (open.has(room) || driving.has(room)) return null;
      const held = await holdLease(leaseOf(room), (reason) => {
        log.warn({ room, run, reason }, 'lost the run lease while driving');
      });
      if (!held) return null;
      driving.set(room, { held, run, onInput });
      // input forwarded by other instances arrives on the exec stream: read it even if unwatched
      if (!watched.has(room)) await bus.join(room);
      let ended = false;
      return {
        room,
        run,
        token: held.token,
        async send(frame) {
          if (ended || !held.valid()) return false;
          await publish(room, held.token, frame);
          return true;
        },
        async end() {
          if (ended) return;
          ended = true;
          driving.delete(room);
          if (!watched.has(room)) bus.leave(room);
          await held.release();
        },
      };
    },
    async forward(room, input) {
      const d = driving.get(room);
      if (d?.run === input.run) return d.onInput(input);
      await bus.publish(room, 'exec', Buffer.from(JSON.stringify({ input })));
    },
    async close() {
      clearInterval(timer);
      await Promise.all([...driving.values()].map((d) => d.held.release()));
      driving.clear();
    },
  };
}

/** An exec stream entry's payload: the frame and the fencing token of whoever wrote it. */
export function encodeExecEntry(token: number, frame: RelayedFrame): Buffer {
  return Buffer.from(JSON.stringify({ token, frame }));
}

/** Parses an exec entry's payload; undefined if it is not `{token: number, frame: {type, run}}`. */
export function decodeExecEntry(data: Buffer): { token: number; frame: RelayedFrame } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { token, frame } = value as { token?: unknown; frame?: unknown };
  if (typeof token !== 'number' || typeof frame !== 'object' || frame === null) return undefined;
  const { type, run } = frame as { type?: unknown; run?: unknown };
  if (typeof type !== 'string' || typeof run !== 'string') return undefined;
  // frames are produced by our own instances (trusted peers); the shape check guards against garbage
  return { token, frame: frame as RelayedFrame };
}

/** Parses a forwarded input entry (`{input: {run, by, frame}}`); undefined for anything else. */
export function decodeInputEntry(data: Buffer): RunInput | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || !('input' in value)) return undefined;
  const input: unknown = value.input;
  if (typeof input !== 'object' || input === null) return undefined;
  const { run, by, frame } = input as { run?: unknown; by?: unknown; frame?: unknown };
  if (typeof run !== 'string' || typeof by !== 'string' || typeof frame !== 'object' || frame === null) return undefined;
  const f = frame as { type?: unknown; stream?: unknown; data?: unknown; signal?: unknown };
  const stdin = f.type === 'data' && f.stream === 'stdin' && typeof f.data === 'string';
  const signal = f.type === 'signal' && (STOP_SIGNALS as readonly unknown[]).includes(f.signal);
  if (!stdin && !signal) return undefined;
  return { run, by, frame: frame as RunInput['frame'] };
}
