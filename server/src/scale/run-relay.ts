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
import type { DoneFrame } from '@codex/shared';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { holdLease, redisLease, roomLeaseKey, type HeldLease } from './lease.js';
import { decodeEntry, roomStreamKey, type RedisRoomBus, type RoomBusMessage } from './room-bus.js';
import { STREAM_START } from './stream-ids.js';
import { decodeExecFrames, decodeInputEntry, encodeExecBatch, encodeExecEntry, type RelayedFrame, type RunInput } from './exec-entries.js';

export type { RelayedFrame, RunInput } from './exec-entries.js';
export { decodeExecEntry, decodeExecFrames, decodeInputEntry, encodeExecBatch, encodeExecEntry } from './exec-entries.js';

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
  /** publishes several frames, in order, as one stream entry (fewer round trips for busy output) */
  sendAll(frames: readonly RelayedFrame[]): Promise<boolean>;
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
  const claiming = new Set<string>(); // rooms with a drive() under way on this instance
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


  const publish = async (room: string, token: number, frame: RelayedFrame): Promise<void> => publishAll(room, token, [frame]);

  /** One entry for all of `frames` (one frame: the plain `{token, frame}` form). */
  const publishAll = async (room: string, token: number, frames: readonly RelayedFrame[]): Promise<void> => {
    const kept = frames.filter((f) => track(room, token, f));
    const [first] = kept;
    if (first === undefined) return;
    await bus.publish(room, 'exec', kept.length === 1 ? encodeExecEntry(token, first) : encodeExecBatch(token, kept));
    if (watched.has(room)) for (const f of kept) onFrame(room, f);
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
      const entry = msg ? decodeExecFrames(msg.data) : undefined;
      if (entry?.frames.some((f) => f.type === 'done' && f.run === run)) return true;
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
    const parsed = decodeExecFrames(msg.data);
    if (!parsed) {
      log.warn({ room: msg.room, id: msg.id }, 'malformed exec entry skipped');
      return;
    }
    for (const frame of parsed.frames) if (track(msg.room, parsed.token, frame)) onFrame(msg.room, frame);
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
      if (open.has(room) || driving.has(room) || claiming.has(room)) return null;
      // one attempt per room at a time here: the lease is per instance, two calls would share it
      claiming.add(room);
      const take = (): Promise<HeldLease | null> =>
        holdLease(leaseOf(room), (reason) => log.warn({ room, run, reason }, 'lost the run lease while driving'));
      let taken: HeldLease | null;
      try {
        taken = await take();
        // The last run's `done` can arrive here a moment before its writer releases the lease (it
        // publishes, then releases): with no run known to be going, retry briefly instead of refusing.
        for (let i = 1; !taken && i <= 4 && watched.has(room) && !open.has(room); i++) {
          await new Promise((r) => setTimeout(r, 25 * i));
          if (!open.has(room)) taken = await take();
        }
      } finally {
        claiming.delete(room);
      }
      if (!taken) return null;
      const held = taken;
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
        async sendAll(frames) {
          if (ended || !held.valid()) return false;
          await publishAll(room, held.token, frames);
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
