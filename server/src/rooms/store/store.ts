/**
 * Where rooms live between restarts. The interface is small and synchronous-or-async agnostic
 * (every method returns a promise-compatible value) so a PostgreSQL store can replace the
 * embedded SQLite one without touching the registry.
 */
import type { TokenHashes } from '../access.js';

/** A room's metadata as stored (tokens only as hashes). */
export interface RoomRecord {
  id: string;
  name: string;
  language: string;
  /** ISO 8601 */
  createdAt: string;
  tokenHashes: TokenHashes;
}

/** One encoded Yjs update waiting to be written. */
export interface PendingUpdate {
  roomId: string;
  update: Uint8Array;
}

/** A room's stored history: the updates in order, and the sequence number of the last one. */
export interface StoredHistory {
  updates: Uint8Array[];
  /** highest sequence number read (0 when empty); compaction replaces everything up to it */
  lastSeq: number;
  bytes: number;
}

/** Durable storage of rooms and their document histories. */
export interface RoomStore {
  /** Creates a room with its first document state; throws if the id exists. */
  createRoom(room: RoomRecord, initialState: Uint8Array): Promise<void>;
  /** The room's metadata, or undefined. */
  getRoom(id: string): Promise<RoomRecord | undefined>;
  /** Every stored update of the room, oldest first. */
  loadHistory(id: string): Promise<StoredHistory>;
  /** Appends updates of any rooms in one atomic write; resolves with the last sequence number written per room. */
  appendUpdates(batch: readonly PendingUpdate[]): Promise<Map<string, number>>;
  /** Replaces the room's updates with sequence ≤ `uptoSeq` by the single `state`; returns its new seq. */
  compact(roomId: string, state: Uint8Array, uptoSeq: number): Promise<number>;
  /** Null when usable, else why not (readiness). */
  check(): Promise<string | null>;
  /** Counts for logs and tests. */
  stats(roomId: string): Promise<{ updates: number; bytes: number }>;
  close(): Promise<void>;
}
