/**
 * Writes a shared room to storage from whichever instance holds the room's short `compact` lease
 * (every instance with a replica runs one; only the holder writes). The holder stores the
 * replica, not the stream entries: at each flush it notes the bus's last read id, appends the
 * doc's difference since what storage holds (one row), records that id as "stored through" and
 * trims the stream up to it ("trim once stored"). That is exact because the replica has applied
 * every entry up to the last read id (own entries were local first). Past `compactEvery` rows it
 * folds the history into one state, fenced by the lease token.
 *
 * If the holder dies, its lease expires and another replica's persister takes over: what the
 * dead one had not stored is still in the stream (untrimmed) and in every other replica.
 */
import type { Redis } from 'ioredis';
import * as Y from 'yjs';
import type { Logger } from '../log.js';
import { holdLease, redisLease, roomLeaseKey, type HeldLease } from './lease.js';
import type { PostgresRoomStore } from './postgres-store.js';
import type { RedisRoomBus } from './redis-room-bus.js';
import { REMOTE_ORIGIN } from './room-replica.js';

/** Options of {@link startRoomPersister}. */
export interface RoomPersisterOptions {
  room: string;
  doc: Y.Doc;
  bus: RedisRoomBus;
  store: PostgresRoomStore;
  /** commands connection for the lease */
  redis: Redis;
  instanceId: string;
  log: Logger;
  /** lease TTL: how long a dead holder delays storage */
  leaseTtlMs?: number;
  /** delay between a change and its flush (batches bursts of typing) */
  flushDelayMs?: number;
  /** compact after this many appended rows */
  compactEvery?: number;
}

/** A running persister. */
export interface RoomPersister {
  /** true while this instance holds the room's lease */
  holding(): boolean;
  /** writes now if holding; resolves when written */
  flush(): Promise<void>;
  /** final flush if holding, releases the lease; idempotent */
  close(): Promise<void>;
}

/** Starts competing for the room's lease and persisting while holding it. */
export function startRoomPersister(opts: RoomPersisterOptions): RoomPersister {
  const { room, doc, bus, store } = opts;
  const log = opts.log.child({ room, scope: 'persister' });
  const ttlMs = opts.leaseTtlMs ?? 5_000;
  const flushDelayMs = opts.flushDelayMs ?? 250;
  const compactEvery = opts.compactEvery ?? 200;
  const lease = redisLease(opts.redis, { key: roomLeaseKey(room, 'compact'), owner: opts.instanceId, ttlMs });

  let held: HeldLease | undefined;
  /** what storage holds, as a state vector (valid while holding) */
  let storedVector: Uint8Array | undefined;
  let rowsSinceCompaction = 0;
  let flushTimer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();
  let closed = false;

  /** Merges storage into the replica and remembers what storage holds. */
  const adoptStorage = async (): Promise<void> => {
    const history = await store.loadHistory(room);
    const stored = new Y.Doc();
    for (const u of history.updates) Y.applyUpdate(stored, u);
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(stored), REMOTE_ORIGIN);
    storedVector = Y.encodeStateVector(stored);
    rowsSinceCompaction = history.updates.length;
  };

  const write = async (): Promise<void> => {
    const h = held;
    if (!h?.valid() || storedVector === undefined) return;
    const through = bus.lastId(room);
    // both taken in one synchronous step: the diff holds everything through `through`
    const diff = Y.encodeStateAsUpdate(doc, storedVector);
    const vector = Y.encodeStateVector(doc);
    if (!isEmptyUpdate(diff)) {
      await store.appendUpdates([{ roomId: room, update: diff }]);
      storedVector = vector;
      rowsSinceCompaction++;
    }
    if (through !== undefined && h.valid()) {
      await store.markStreamStored(room, through);
      await bus.trimStored(room, through);
    }
    if (rowsSinceCompaction >= compactEvery && h.valid()) {
      // merge every stored row first: the compacted state must cover all rows it replaces
      const history = await store.loadHistory(room);
      Y.transact(doc, () => {
        for (const u of history.updates) Y.applyUpdate(doc, u, REMOTE_ORIGIN);
      }, REMOTE_ORIGIN);
      await store.compactFenced(room, Y.encodeStateAsUpdate(doc), history.lastSeq, {
        resource: `compact:${room}`,
        token: h.token,
      });
      storedVector = Y.encodeStateVector(doc);
      rowsSinceCompaction = 1;
    }
  };

  const flush = (): Promise<void> => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    writing = writing.then(write).catch((err: unknown) => {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'room flush failed; retrying on the next change');
    });
    return writing;
  };

  const onUpdate = (): void => {
    if (held && !flushTimer && !closed) flushTimer = setTimeout(() => void flush(), flushDelayMs);
  };

  let acquiring = false;
  const tryAcquire = async (): Promise<void> => {
    if (held && !held.valid()) held = undefined; // lost (e.g. Redis down for a TTL): compete again
    if (closed || held || acquiring) return;
    acquiring = true;
    try {
      const h = await holdLease(lease, (reason) => {
        log.info({ reason }, 'lost the room storage lease');
        if (held === h) held = undefined;
      });
      if (!h) return;
      // holding() turns true only once storage is adopted: a flush before that would write nothing
      await adoptStorage().catch(async (err: unknown) => {
        await h.release();
        throw err;
      });
      if (closed || !h.valid()) return void (await h.release());
      held = h;
      onUpdate(); // write what the replica has beyond storage
    } catch (err) {
      log.debug({ err: err instanceof Error ? err.message : String(err) }, 'lease attempt failed');
    } finally {
      acquiring = false;
    }
  };

  doc.on('update', onUpdate);
  // non-holders retry at half the TTL, so a dead holder is replaced within ~1.5 TTL
  const retry = setInterval(() => void tryAcquire(), Math.max(1, Math.floor(ttlMs / 2)));
  retry.unref();
  void tryAcquire();

  let closing: Promise<void> | undefined;
  return {
    holding: () => held?.valid() ?? false,
    flush,
    close() {
      closing ??= (async () => {
        clearInterval(retry);
        doc.off('update', onUpdate);
        if (held) await flush();
        closed = true;
        clearTimeout(flushTimer);
        await held?.release();
        held = undefined;
      })();
      return closing;
    },
  };
}

/** An update carrying no insertions and no deletions (what a diff against an equal state is). */
function isEmptyUpdate(update: Uint8Array): boolean {
  // [0 structs, 0 delete-set entries]; anything longer carries content
  return update.length === 2 && update[0] === 0 && update[1] === 0;
}
