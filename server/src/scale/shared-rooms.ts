/**
 * Shared rooms on one instance: the room bus, and per room with peers here a replica (bus ↔ doc)
 * and a persister (storage, while holding the room's lease). This is the piece the rooms
 * registry will call when `CODEX_REDIS_URL` and `CODEX_DATABASE_URL` are set: `open` when a room
 * gets its first peer on this instance, `close` on the room when its last peer leaves.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type * as awarenessProtocol from 'y-protocols/awareness';
import type * as Y from 'yjs';
import type { Logger } from '../log.js';
import type { PostgresRoomStore } from './postgres-store.js';
import { createRedisRoomBus, type RedisRoomBus } from './redis-room-bus.js';
import { startRoomPersister, type RoomPersister, type RoomPersisterOptions } from './room-persister.js';
import { openRoomReplica, type RoomReplica } from './room-replica.js';

/** A room opened on this instance. */
export interface SharedRoom {
  readonly replica: RoomReplica;
  readonly persister: RoomPersister;
  /** flushes (if this instance stores the room), tells the others our clients left, drops the replica */
  close(): Promise<void>;
}

/** Options of {@link createSharedRooms}. */
export interface SharedRoomsOptions {
  redisUrl: string;
  store: PostgresRoomStore;
  log: Logger;
  instanceId?: string;
  /** persister tuning (tests use short leases) */
  persister?: Pick<RoomPersisterOptions, 'leaseTtlMs' | 'flushDelayMs' | 'compactEvery'>;
  /** bus tuning */
  trimGraceMs?: number;
}

/** The shared-rooms service of one instance. */
export interface SharedRooms {
  readonly instanceId: string;
  readonly bus: RedisRoomBus;
  /** opens `room` here (once; a second call returns the same) */
  open(room: string, with_?: { doc?: Y.Doc; awareness?: awarenessProtocol.Awareness }): Promise<SharedRoom>;
  /** null when Redis answers a PING within `timeoutMs`, else why not (for /readyz) */
  check(timeoutMs?: number): Promise<string | null>;
  /** closes every room and both Redis clients; idempotent */
  close(): Promise<void>;
}

/** Connects to Redis and returns the service; rooms are opened on demand. */
export async function createSharedRooms(opts: SharedRoomsOptions): Promise<SharedRooms> {
  const instanceId = opts.instanceId ?? randomUUID();
  const log = opts.log.child({ instance: instanceId });
  const opened = new Map<string, Promise<SharedRoom>>();
  const replicas = new Map<string, RoomReplica>();
  const bus = await createRedisRoomBus({
    redisUrl: opts.redisUrl,
    instanceId,
    log,
    trimGraceMs: opts.trimGraceMs,
    listener: {
      message: (msg) => replicas.get(msg.room)?.receive(msg),
      resync: (room, reason) => void replicas.get(room)?.resync(reason).catch((err: unknown) => {
        log.warn({ room, err: err instanceof Error ? err.message : String(err) }, 'resync failed');
      }),
    },
  });
  const redis = new Redis(opts.redisUrl);
  redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis (leases) error'));

  const openRoom = async (room: string, with_: { doc?: Y.Doc; awareness?: awarenessProtocol.Awareness }): Promise<SharedRoom> => {
    const replica = await openRoomReplica({ room, bus, store: opts.store, log, ...with_ });
    replicas.set(room, replica);
    const persister = startRoomPersister({
      room, doc: replica.doc, bus, store: opts.store, redis, instanceId, log, ...opts.persister,
    });
    let closing: Promise<void> | undefined;
    return {
      replica,
      persister,
      close() {
        closing ??= (async () => {
          await replica.settled(); // our last edits are in the stream before the final flush
          await persister.close();
          await replica.close();
          replicas.delete(room);
          opened.delete(room);
        })();
        return closing;
      },
    };
  };

  let closing: Promise<void> | undefined;
  return {
    instanceId,
    bus,
    open(room, with_ = {}) {
      let p = opened.get(room);
      if (!p) {
        p = openRoom(room, with_);
        opened.set(room, p);
        p.catch(() => opened.delete(room));
      }
      return p;
    },
    async check(timeoutMs = 2_000) {
      if (closing) return 'shared rooms closed';
      if (redis.status !== 'ready') return `Redis not connected (${redis.status})`;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`Redis did not answer within ${timeoutMs} ms`), timeoutMs);
      });
      try {
        return await Promise.race([redis.ping().then(() => null), late]);
      } catch (err) {
        return `Redis: ${err instanceof Error ? err.message : String(err)}`;
      } finally {
        clearTimeout(timer);
      }
    },
    close() {
      closing ??= (async () => {
        const rooms = await Promise.allSettled([...opened.values()]);
        await Promise.allSettled(rooms.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
        await bus.close();
        if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
        else redis.disconnect();
      })();
      return closing;
    },
  };
}
