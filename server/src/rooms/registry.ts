/**
 * The registry of rooms: creates them, answers who a token is, loads a room's document from
 * storage on first use and unloads it (after a flush) some seconds after its last user left.
 * Its RoomWriter (room-writer.ts) writes the rooms' updates to storage and compacts them. With rooms
 * shared across instances (`shared` option) a loaded room holds a replica instead, whose
 * persister stores it (scale/shared-rooms.ts).
 */
import type * as Y from 'yjs';
import type { Awareness } from 'y-protocols/awareness';
import { isRoomId, type Role, type RoomInfo } from '@codex/shared';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { newRoomId, newRoomTokens, roleForToken } from './access.js';
import { Room } from './room.js';
import { initialState } from './room-template.js';
import type { RoomLanguage } from './starter-files.js';
import { RoomWriter, type RoomWriterOptions } from './room-writer.js';
import type { RoomRecord, RoomStore } from './store/store.js';

/** Rejection of `withDoc` (and loads) for a room that does not exist. */
export class RoomNotFoundError extends Error {
  constructor(readonly roomId: string) {
    super('unknown room');
    this.name = 'RoomNotFoundError';
  }
}

/** Settings of the registry (from Config). */
export interface RegistryOptions extends RoomWriterOptions {
  roomUnloadMs: number;
  /**
   * Rooms shared across instances (scale/shared-rooms.ts): a loaded room then holds a replica
   * kept in step with the other instances, and storage is written by the replica's persister
   * (whichever instance holds the room's lease), not by this registry's flush and compaction.
   */
  shared?: SharedReplicas;
}

/** What the registry needs from the scale-out service: a replica per loaded room. */
export interface SharedReplicas {
  /** loads the room from shared storage into `doc` and keeps doc and awareness in step */
  open(roomId: string, with_: { doc: Y.Doc; awareness: Awareness }): Promise<{ close(): Promise<void> }>;
}

/** A shared room starts empty: its replica loads storage (and the stream after it) into the doc. */
const EMPTY_HISTORY = { updates: [], lastSeq: 0, bytes: 0 };

/** A created room: its id and the three tokens (shown once, never stored in clear). */
export interface NewRoom {
  id: string;
  tokens: Record<Role, string>;
}

/** Rooms in memory and on disk. */
export class RoomRegistry {
  private readonly rooms = new Map<string, Room>();
  private readonly loading = new Map<string, Promise<Room>>();
  private readonly unloading = new Map<string, Promise<void>>();
  /** replicas of the loaded rooms, when rooms are shared */
  private readonly replicas = new Map<string, { close(): Promise<void> }>();
  private readonly writer: RoomWriter;
  /** the last unload's turn (see unloadTurn) */
  private unloadQueue: Promise<void> = Promise.resolve();
  /** rooms whose unload has passed its turn and is flushing, compacting or dropping them */
  private readonly unloadsUnderWay = new Set<Room>();
  private closed = false;

  constructor(
    private readonly store: RoomStore,
    private readonly opts: RegistryOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.writer = new RoomWriter(store, opts, metrics, log);
  }

  /** Creates a room holding the starter file of `language`. */
  async create(name: string, language: RoomLanguage): Promise<NewRoom> {
    const id = newRoomId();
    const { tokens, hashes } = newRoomTokens();
    const record: RoomRecord = { id, name, language, createdAt: new Date().toISOString(), tokenHashes: hashes };
    await this.store.createRoom(record, initialState(name, language));
    this.log.info({ room: id, language }, 'room created');
    return { id, tokens };
  }

  /** The caller's role for `token`, or why not. Does not keep the room loaded. */
  async authorize(roomId: string, token: string | null | undefined): Promise<Role | 'not-found' | 'forbidden'> {
    const record = await this.record(roomId);
    if (!record) return 'not-found';
    return roleForToken(record.tokenHashes, token) ?? 'forbidden';
  }

  /** Public metadata and the caller's role (GET /api/rooms/<id>). */
  async info(roomId: string, token: string | null | undefined): Promise<RoomInfo | 'not-found' | 'forbidden'> {
    const record = await this.record(roomId);
    if (!record) return 'not-found';
    const role = roleForToken(record.tokenHashes, token);
    if (!role) return 'forbidden';
    return { id: record.id, name: record.name, language: record.language, createdAt: record.createdAt, role };
  }

  /**
   * Loads the room if needed, runs fn on its live Y.Doc and keeps the room loaded until fn
   * settles. Changes fn makes (use doc.transact(fn, origin)) reach every peer and storage
   * exactly like a peer's edit. Rejects for an unknown room.
   */
  async withDoc<T>(roomId: string, fn: (doc: Y.Doc) => T | Promise<T>): Promise<T> {
    const room = await this.acquire(roomId);
    try {
      return await fn(room.doc);
    } finally {
      this.release(room);
    }
  }

  /** Loads the room and holds it in memory until `release`; rejects with RoomNotFoundError. */
  async acquire(roomId: string): Promise<Room> {
    if (this.closed) throw new Error('registry closed');
    for (;;) {
      // A room still waiting for its unload turn is simply kept (its unload sees the hold and
      // stops): a peer coming back during a wave of unloads does not wait for the wave.
      const loaded = this.rooms.get(roomId);
      if (loaded && !this.unloadsUnderWay.has(loaded)) return this.hold(loaded);
      const pendingUnload = this.unloading.get(roomId);
      if (pendingUnload) {
        await pendingUnload;
        continue;
      }
      const room = await this.load(roomId);
      if (this.rooms.get(roomId) === room) return this.hold(room); // else unloaded meanwhile: again
    }
  }

  private hold(room: Room): Room {
    room.holds++;
    clearTimeout(room.unloadTimer);
    room.unloadTimer = undefined;
    return room;
  }

  /** Ends one hold of `acquire`; an idle room is unloaded after `roomUnloadMs`. */
  release(room: Room): void {
    room.holds--;
    this.scheduleUnload(room);
  }

  /** Called when a peer leaves (or after a release): arms the unload timer of an idle room. */
  scheduleUnload(room: Room): void {
    if (!room.idle || room.unloadTimer || this.closed) return;
    room.unloadTimer = setTimeout(() => {
      room.unloadTimer = undefined;
      void this.unload(room);
    }, this.opts.roomUnloadMs);
    room.unloadTimer.unref();
  }

  /** Rooms in memory (for metrics and tests). */
  get loadedCount(): number {
    return this.rooms.size;
  }

  /** True when the room is in memory. */
  isLoaded(roomId: string): boolean {
    return this.rooms.has(roomId);
  }

  /** Flushes and unloads every room, then closes the store (shutdown). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.loading.values()].map((p) => p.catch(() => undefined)));
    await this.writer.close();
    await Promise.all([...this.unloading.values()]);
    for (const room of [...this.rooms.values()]) await this.unload(room, true);
    await this.store.close();
  }

  private async record(roomId: string): Promise<RoomRecord | undefined> {
    if (!isRoomId(roomId)) return undefined;
    return this.rooms.get(roomId)?.record ?? (await this.store.getRoom(roomId));
  }

  private load(roomId: string): Promise<Room> {
    let p = this.loading.get(roomId);
    if (!p) {
      p = (async () => {
        const record = await this.record(roomId);
        if (!record) throw new RoomNotFoundError(roomId);
        const shared = this.opts.shared;
        const history = shared ? EMPTY_HISTORY : await this.store.loadHistory(roomId);
        // a shared room's changes are stored by its persister: nothing waits for our flush
        const room = new Room(record, history, this.metrics, shared ? (r) => void r.takePending() : (r) => this.writer.changed(r));
        if (shared) {
          try {
            this.replicas.set(roomId, await shared.open(roomId, { doc: room.doc, awareness: room.awareness }));
          } catch (err) {
            room.destroy();
            throw err;
          }
        }
        this.rooms.set(roomId, room);
        this.metrics.roomsLoaded.set(this.rooms.size);
        this.log.debug({ room: roomId, rows: history.updates.length, bytes: history.bytes }, 'room loaded');
        return room;
      })().finally(() => this.loading.delete(roomId));
      this.loading.set(roomId, p);
    }
    return p;
  }

  /**
   * Resolves when it is this unload's turn: unloads run one at a time with a pass of the event
   * loop between them. Rooms that empty together (a class ending: hundreds of rooms 5 s later)
   * would otherwise be flushed and compacted in one go, blocking every other room's updates
   * (a 1 s stall for 200 rooms in `bench:sync` (b)).
   */
  private unloadTurn(): Promise<void> {
    const turn = this.unloadQueue.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    this.unloadQueue = turn;
    return turn;
  }

  private unload(room: Room, force = false): Promise<void> {
    const existing = this.unloading.get(room.id);
    if (existing) return existing;
    if (!force && (!room.idle || this.rooms.get(room.id) !== room)) return Promise.resolve();
    const p = (async () => {
      if (!force) {
        await this.unloadTurn();
        // Someone came back meanwhile (and may have left again: then a newer timer decides).
        if (!room.idle || room.unloadTimer || this.rooms.get(room.id) !== room) return;
      }
      this.unloadsUnderWay.add(room);
      const replica = this.replicas.get(room.id);
      if (replica) {
        // the replica's final flush (if this instance stores the room) and its goodbye to the others
        this.replicas.delete(room.id);
        await replica.close().catch((err: unknown) => this.log.error({ err, room: room.id }, 'closing the room replica failed'));
      } else {
        await this.writer.flush();
        if (!force && !room.idle) return; // someone came back during the flush
        if (room.history.storedRows > 1) await this.writer.compact(room).catch((err: unknown) => this.log.error({ err }, 'compaction failed'));
      }
      this.rooms.delete(room.id);
      this.writer.forget(room);
      room.destroy();
      this.metrics.roomsLoaded.set(this.rooms.size);
      this.log.debug({ room: room.id }, 'room unloaded');
    })().finally(() => {
      this.unloading.delete(room.id);
      this.unloadsUnderWay.delete(room);
    });
    this.unloading.set(room.id, p);
    return p;
  }
}
