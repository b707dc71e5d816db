/**
 * The room bus: one Redis Stream per room (`codex:room:{<id>}:y`) carrying binary Yjs updates and
 * awareness updates between instances. Streams, not pub/sub: entries are ordered, kept until
 * trimmed, and a reader that was away (disconnect, Redis restart) resumes from the last id it saw
 * instead of silently losing what was sent meanwhile. When the bus cannot guarantee that (the
 * stream was trimmed past our last id, or Redis lost its data), it says so with `resync`, and the
 * caller reloads the room from storage and republishes its own state.
 *
 * One blocking `XREAD` connection serves every room the instance holds a replica of; joining a
 * room interrupts the blocking read (`CLIENT UNBLOCK`) so the new room is read at once.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { silentLogger } from '../log.js';
import { PUBLISH_LUA, TRIM_STORED_LUA } from './bus-scripts.js';
import { runScript } from './redis-script.js';
import {
  decodeEntry, KIND_CODES, roomStreamKey as streamKeyOf, roomTrimmedKey as trimmedKeyOf,
  type RedisRoomBus, type RedisRoomBusOptions,
} from './room-bus.js';
import { compareStreamIds, parseStreamInfo, STREAM_START, type StreamInfo } from './stream-ids.js';

export * from './room-bus.js';


/** Connects a bus (two connections: commands, and the blocking reader) and starts reading. */
export async function createRedisRoomBus(opts: RedisRoomBusOptions): Promise<RedisRoomBus> {
  const log = (opts.log ?? silentLogger()).child({ scope: 'room-bus' });
  const instanceId = opts.instanceId ?? randomUUID();
  const maxLen = opts.maxLen ?? 100_000;
  const trimGraceMs = opts.trimGraceMs ?? 30_000;
  const batch = opts.batch ?? 500;
  const blockMs = opts.blockMs ?? 5_000;
  const listener = opts.listener;
  const channel = opts.channel ?? 'y';
  const roomStreamKey = (room: string): string => streamKeyOf(room, channel);
  const roomTrimmedKey = (room: string): string => trimmedKeyOf(room, channel);

  const cmd = new Redis(opts.redisUrl, { lazyConnect: true, ...opts.redisOptions });
  // The reader's in-flight XREAD must fail on a disconnect (not be resent blindly) so the loop
  // can check for a Redis restart before reading on; its commands wait for the reconnect.
  const reader = new Redis(opts.redisUrl, {
    lazyConnect: true,
    ...opts.redisOptions,
    maxRetriesPerRequest: null,
    autoResendUnfulfilledCommands: false,
  });
  cmd.on('error', (err: Error) => log.debug({ err: err.message }, 'redis (commands) error'));
  reader.on('error', (err: Error) => log.debug({ err: err.message }, 'redis (reader) error'));
  try {
    await Promise.all([cmd.connect(), reader.connect()]);
  } catch (err) {
    // no background reconnects for a bus that never started
    cmd.disconnect();
    reader.disconnect();
    throw err;
  }

  const joined = new Map<string, string>(); // room → last id read
  /**
   * Rooms whose read position came from outside a read (a join with `from`, a resume): the first
   * read after it is checked against the trimmed marker, after the read (see verifyAfterRead).
   * The value tells one marking from the next, so a check only clears the one it checked.
   */
  const unverified = new Map<string, number>();
  let verifyMarks = 0;
  const keyToRoom = new Map<string, string>();
  let runId = await redisRunId(cmd);
  let readerClientId = Number(await reader.client('ID'));
  let needsResume = false;
  let closed = false;
  let generation = 0; // bumped by join(); a read started with an older one must be interrupted
  let readingGeneration = -1; // generation of the XREAD in flight, -1 if none
  let wakeIdle: (() => void) | undefined;

  // ioredis drops (never settles) an in-flight command on a disconnect when it must not resend
  // it, so the loop races every reader command against this abort, fired on close and on close().
  // (The same for commands on `cmd` awaited by the loop: with Redis away and the bus closing,
  // ioredis would keep them queued for a reconnect that never comes.)
  const aborters = new Set<(err: Error) => void>();
  const guarded = <T>(p: Promise<T>): Promise<T> => {
    let abort: (err: Error) => void = () => undefined;
    const aborted = new Promise<never>((_, reject) => (abort = reject));
    aborters.add(abort);
    return Promise.race([p, aborted]).finally(() => aborters.delete(abort));
  };
  const abortAll = (why: string): void => {
    for (const abort of [...aborters]) abort(new Error(why));
  };
  reader.on('close', () => {
    needsResume = true;
    abortAll('reader connection closed');
  });
  reader.on('ready', () => {
    needsResume = true;
  });

  const safely = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      log.error({ err }, `room bus listener threw in ${what}`);
    }
  };

  const streamInfo = async (room: string): Promise<StreamInfo | undefined> => {
    try {
      return parseStreamInfo(await cmd.xinfo('STREAM', roomStreamKey(room)));
    } catch (err) {
      if (err instanceof Error && /no such key/i.test(err.message)) return undefined;
      throw err;
    }
  };

  /** Resync `room` if entries after its last id were removed before we read them. */
  const checkGap = async (room: string): Promise<void> => {
    const last = joined.get(room);
    if (last === undefined) return;
    const [info, marker] = await guarded(Promise.all([streamInfo(room), cmd.get(roomTrimmedKey(room))]));
    if (joined.get(room) !== last) return; // moved on meanwhile; the next check sees it
    if (!info) {
      // streams are never deleted by trimming: a vanished key means Redis lost it
      if (last !== STREAM_START) {
        joined.set(room, STREAM_START);
        safely('resync', () => listener.resync(room, 'redis-restarted'));
      }
      return;
    }
    if (marker !== null && compareStreamIds(marker, last) > 0) {
      // what remains after the trimmed range is still to be read; storage holds the rest
      joined.set(room, marker);
      safely('resync', () => listener.resync(room, 'trimmed'));
    }
  };

  /** After a reconnect: a new Redis run id means its data may be gone; else check every room for gaps. */
  const resume = async (): Promise<void> => {
    needsResume = false;
    readerClientId = Number(await guarded(reader.client('ID')));
    const current = await guarded(redisRunId(reader));
    if (current !== runId) {
      runId = current;
      log.warn('redis restarted: resyncing every room from storage');
      for (const room of joined.keys()) {
        joined.set(room, STREAM_START); // all the new stream holds is new to us
        safely('resync', () => listener.resync(room, 'redis-restarted'));
      }
      return;
    }
    // a check made now would race the trims done before the next read: check after that read
    for (const room of joined.keys()) unverified.set(room, ++verifyMarks);
  };

  /**
   * The gap check of a read position set from outside (join with `from`, resume), made after the
   * first read from it. A check before the read cannot see entries trimmed between the check and
   * the read (the storing instance trims as soon as it has stored, and a joining replica's load of
   * storage may predate that store); after the read, the trimmed marker (which only grows, and
   * covers every trimmed entry) tells: if it is above `from`, entries after `from` may have been
   * removed before the read got them, and the caller reloads storage (`resync`).
   */
  const verifyAfterRead = async (room: string, from: string, mark: number): Promise<void> => {
    const [info, marker] = await guarded(Promise.all([streamInfo(room), cmd.get(roomTrimmedKey(room))]));
    if (unverified.get(room) !== mark || !joined.has(room)) return; // re-marked (resume) or left meanwhile
    unverified.delete(room);
    if (!info) {
      // streams are never deleted by trimming: a vanished key means Redis lost it
      if (from !== STREAM_START) {
        joined.set(room, STREAM_START);
        safely('resync', () => listener.resync(room, 'redis-restarted'));
      }
      return;
    }
    if (marker !== null && compareStreamIds(marker, from) > 0) {
      // what remains after the trimmed range is (or was) read; storage holds the rest
      const last = joined.get(room) ?? STREAM_START;
      if (compareStreamIds(marker, last) > 0) joined.set(room, marker);
      safely('resync', () => listener.resync(room, 'trimmed'));
    }
  };

  const deliver = async (reply: [Buffer, [Buffer, Buffer[]][]][]): Promise<void> => {
    const lagging: string[] = [];
    for (const [keyBuf, entries] of reply) {
      const room = keyToRoom.get(keyBuf.toString());
      if (room === undefined || !joined.has(room)) continue; // left while the read was in flight
      for (const [idBuf, fields] of entries) {
        const id = idBuf.toString();
        joined.set(room, id);
        const msg = decodeEntry(room, id, fields);
        if (!msg) {
          log.warn({ room, id }, 'skipping a malformed room bus entry');
          continue;
        }
        if (msg.origin === instanceId) continue;
        safely('message', () => listener.message(msg));
      }
      if (entries.length >= batch) lagging.push(room);
    }
    // a full batch means we are behind: make sure nothing was trimmed under us
    for (const room of lagging) await checkGap(room);
  };

  const loop = async (): Promise<void> => {
    while (!closed) {
      if (joined.size === 0) {
        await new Promise<void>((resolve) => (wakeIdle = resolve));
        wakeIdle = undefined;
        continue;
      }
      try {
        if (needsResume) await resume();
        const rooms = [...joined.keys()];
        const ids = rooms.map((r) => joined.get(r) ?? STREAM_START);
        const toVerify = rooms.flatMap((room, i) => {
          const mark = unverified.get(room);
          return mark === undefined ? [] : [{ room, from: ids[i] ?? STREAM_START, mark }];
        });
        readingGeneration = generation;
        // a read that has positions to check does not block: the check comes right after it
        const streams = [...rooms.map(roomStreamKey), ...ids];
        const reply = await guarded(
          toVerify.length > 0
            ? reader.xreadBuffer('COUNT', batch, 'STREAMS', ...streams)
            : reader.xreadBuffer('COUNT', batch, 'BLOCK', blockMs, 'STREAMS', ...streams),
        );
        readingGeneration = -1;
        if (reply) await deliver(reply);
        for (const v of toVerify) await verifyAfterRead(v.room, v.from, v.mark);
      } catch (err) {
        readingGeneration = -1;
        if (closed) break;
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'room bus read failed; resuming');
        needsResume = true;
        // commands wait for the reconnect (no retry limit on the reader), so resume() paces the loop
      }
    }
  };

  /** Interrupts a blocking read that does not include the newest joins. */
  const wake = async (): Promise<void> => {
    generation++;
    wakeIdle?.();
    for (let attempt = 0; attempt < 20 && !closed; attempt++) {
      if (readingGeneration === -1 || readingGeneration >= generation) return;
      // UNBLOCK may reach Redis before the XREAD it targets (two connections): retry until it bites
      const unblocked = await cmd.client('UNBLOCK', readerClientId).catch(() => 0);
      if (Number(unblocked) === 1) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  const running = loop().catch((err: unknown) => log.error({ err }, 'room bus loop crashed'));
  let closing: Promise<void> | undefined;

  return {
    instanceId,
    async publish(room, kind, data) {
      const id = await runScript(cmd, PUBLISH_LUA, [roomStreamKey(room), roomTrimmedKey(room)], [
        maxLen, 'k', KIND_CODES[kind], 'o', instanceId, 'd', Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      ]);
      if (typeof id !== 'string') throw new Error('publish script returned no id');
      return id;
    },
    async join(room, from) {
      const current = joined.get(room);
      if (current !== undefined) return current;
      const key = roomStreamKey(room);
      keyToRoom.set(key, room);
      const start = from ?? (await streamInfo(room))?.lastId ?? STREAM_START;
      joined.set(room, start);
      // checked after the first read from `from` (verifyAfterRead): a check now would miss a trim
      // made between it and that read
      if (from !== undefined) unverified.set(room, ++verifyMarks);
      void wake();
      return joined.get(room) ?? start;
    },
    leave(room) {
      joined.delete(room);
      unverified.delete(room);
      keyToRoom.delete(roomStreamKey(room));
    },
    rooms: () => [...joined.keys()],
    lastId: (room) => joined.get(room),
    async trimStored(room, storedId) {
      return Number(
        await runScript(cmd, TRIM_STORED_LUA, [roomStreamKey(room), roomTrimmedKey(room)], [storedId, trimGraceMs]),
      );
    },
    info: streamInfo,
    close() {
      closing ??= (async () => {
        closed = true;
        wakeIdle?.();
        abortAll('room bus closed');
        reader.disconnect();
        await running;
        // quit lets queued publishes finish; with Redis away it would wait for a reconnect
        if (cmd.status === 'ready') await cmd.quit().catch(() => cmd.disconnect());
        else cmd.disconnect();
      })();
      return closing;
    },
  };
}

/** The Redis server's run id: it changes on every restart. */
async function redisRunId(client: Redis): Promise<string> {
  const info = await client.info('server');
  const m = /run_id:(\w+)/.exec(info);
  if (!m?.[1]) throw new Error('INFO server has no run_id');
  return m[1];
}
