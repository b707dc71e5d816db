/**
 * An instance's replica of a shared room: a Y.Doc and its awareness kept in step with every other
 * instance's replica through the room bus, loaded from shared storage. The rooms registry will
 * open one when a room gets its first peer on this instance and close it when the last leaves.
 *
 * Loading is "storage, then the stream after what storage holds": the store records the stream
 * id it holds the room through (`streamStored`), the replica loads the history and reads the
 * stream from that id, so nothing falls between the two (and if the stream was trimmed past that
 * id meanwhile, the bus says `resync` and the replica loads again). Applying an update twice is
 * harmless in Yjs, so overlaps need no care.
 */
import { assertNever } from '@codex/shared';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import type { Logger } from '../log.js';
import type { StoredHistory } from '../rooms/store/store.js';
import type { RedisRoomBus, ResyncReason, RoomBusMessage } from './redis-room-bus.js';
import { STREAM_START } from './stream-ids.js';

/** The transaction origin of everything applied from the bus or storage (not republished). */
export const REMOTE_ORIGIN: unique symbol = Symbol('codex-remote');

/** What the replica needs from shared storage. */
export interface ReplicaStore {
  loadHistory(roomId: string): Promise<StoredHistory>;
  streamStored(roomId: string): Promise<string | undefined>;
}

/** One room's replica on this instance. */
export interface RoomReplica {
  readonly room: string;
  readonly doc: Y.Doc;
  readonly awareness: awarenessProtocol.Awareness;
  /** routes a bus message of this room (called by the bus listener) */
  receive(msg: RoomBusMessage): void;
  /** reloads from storage and republishes the full state (called on a bus resync) */
  resync(reason: ResyncReason): Promise<void>;
  /** resolves when every publish so far was accepted by Redis (tests, flush before close) */
  settled(): Promise<void>;
  /** tells the others this instance's clients left, stops reading the room; idempotent */
  close(): Promise<void>;
}

/** Options of {@link openRoomReplica}. */
export interface RoomReplicaOptions {
  room: string;
  bus: RedisRoomBus;
  store: ReplicaStore;
  /** an existing doc/awareness (the registry's); fresh ones by default */
  doc?: Y.Doc;
  awareness?: awarenessProtocol.Awareness;
  log: Logger;
}

/**
 * Opens a replica: loads storage into the doc, reads the stream from where storage ends, and
 * from then on publishes every local update and awareness change. The caller routes the bus's
 * messages and resyncs for this room to `receive` / `resync`.
 */
export async function openRoomReplica(opts: RoomReplicaOptions): Promise<RoomReplica> {
  const { room, bus, store } = opts;
  const log = opts.log.child({ room });
  const doc = opts.doc ?? new Y.Doc();
  const awareness = opts.awareness ?? new awarenessProtocol.Awareness(doc);
  /** awareness client ids announced by peers on this instance (their removal is ours to send) */
  const localClients = new Set<number>();
  let inFlight: Promise<unknown> = Promise.resolve();
  let closed = false;

  const publish = (kind: 'update' | 'awareness', data: Uint8Array): void => {
    const sent = bus.publish(room, kind, data).catch((err: unknown) => {
      // the edit stays in this replica; the next resync republishes the full state
      log.warn({ err: err instanceof Error ? err.message : String(err), kind }, 'room bus publish failed');
    });
    inFlight = Promise.all([inFlight, sent]);
  };

  const loadFromStorage = async (): Promise<string> => {
    // the mark first, then the history: the history then holds at least everything through the mark
    const storedThrough = (await store.streamStored(room)) ?? STREAM_START;
    const history = await store.loadHistory(room);
    Y.transact(doc, () => {
      for (const u of history.updates) Y.applyUpdate(doc, u, REMOTE_ORIGIN);
    }, REMOTE_ORIGIN);
    return storedThrough;
  };

  const onUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin !== REMOTE_ORIGIN && !closed) publish('update', update);
  };
  const onAwareness = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    if (origin === REMOTE_ORIGIN || closed) return;
    const changed = [...added, ...updated, ...removed];
    for (const id of added) localClients.add(id);
    for (const id of updated) localClients.add(id);
    for (const id of removed) localClients.delete(id);
    // 'update' (not 'change') also fires on the 15 s renewals that keep remote copies alive
    publish('awareness', awarenessProtocol.encodeAwarenessUpdate(awareness, changed));
  };

  const from = await loadFromStorage();
  doc.on('update', onUpdate);
  awareness.on('update', onAwareness);
  await bus.join(room, from);

  return {
    room,
    doc,
    awareness,
    receive(msg) {
      if (closed) return;
      try {
        switch (msg.kind) {
          case 'update':
            Y.applyUpdate(doc, msg.data, REMOTE_ORIGIN);
            break;
          case 'awareness':
            awarenessProtocol.applyAwarenessUpdate(awareness, msg.data, REMOTE_ORIGIN);
            break;
          case 'exec':
            // run frames travel on the room's exec stream (run-relay.ts), never on this one
            log.warn({ id: msg.id }, 'exec entry on the document stream ignored');
            break;
          default:
            assertNever(msg.kind);
        }
      } catch (err) {
        // one bad entry must not take the room down: log it and go on with the next
        log.warn({ err: err instanceof Error ? err.message : String(err), id: msg.id, origin: msg.origin }, 'bad room bus entry');
      }
    },
    async resync(reason) {
      if (closed) return;
      log.info({ reason }, 'resyncing room from storage');
      await loadFromStorage();
      // whatever Redis lost that this replica has goes out again (duplicates are harmless)
      publish('update', Y.encodeStateAsUpdate(doc));
      const mine = [...localClients].filter((id) => awareness.getStates().has(id));
      if (mine.length > 0) publish('awareness', awarenessProtocol.encodeAwarenessUpdate(awareness, mine));
    },
    async settled() {
      await inFlight;
    },
    async close() {
      if (closed) return;
      // others drop this instance's cursors now instead of after the 30 s awareness timeout
      // (the removal is a local awareness change, so onAwareness publishes it)
      const mine = [...localClients];
      if (mine.length > 0) awarenessProtocol.removeAwarenessStates(awareness, mine, 'replica-closing');
      closed = true;
      doc.off('update', onUpdate);
      awareness.off('update', onAwareness);
      bus.leave(room);
      await inFlight;
    },
  };
}
