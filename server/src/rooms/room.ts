/**
 * One loaded room: its live Y.Doc and awareness, the peers connected to it, and the updates
 * not yet on disk. Every document change, whoever makes it (a peer, `withDoc`), goes through
 * the doc's `update` event: encoded once into one message, sent to every peer but its author,
 * and queued for the next storage flush.
 */
import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import type { Role } from '@codex/shared';
import type { Metrics } from '../metrics.js';
import type { RoomRecord } from './store/store.js';
import { encodeAwarenessMessage, encodeSyncStep1, encodeSyncStep2, encodeUpdateMessage } from './messages.js';
import { Outgoing } from './outgoing.js';

/** A connection as the room sees it. */
export interface RoomPeer {
  readonly role: Role;
  /** awareness client ids this peer has announced; removed when it leaves */
  readonly awarenessIds: Set<number>;
  /** sends one message shared by many peers (the peer closes itself if it cannot keep up) */
  send(message: Outgoing): void;
}

/** Room-level numbers used by storage and limits. */
export interface RoomHistory {
  /** last storage sequence number known to be written */
  lastSeq: number;
  /** stored bytes of this room's history */
  storedBytes: number;
  /** rows stored since the last compaction */
  storedRows: number;
}

/** A room held in memory. Created by the registry from its stored history. */
export class Room {
  readonly doc: Y.Doc;
  readonly awareness: awarenessProtocol.Awareness;
  readonly peers = new Set<RoomPeer>();
  /** updates made since the last flush, in order */
  pending: Uint8Array[] = [];
  /** `withDoc` callers and connecting peers currently keeping the room loaded */
  holds = 0;
  unloadTimer: NodeJS.Timeout | undefined;
  readonly history: RoomHistory;
  /** encoded full state (cache for joins with an empty state vector); null after any change */
  private fullStateMessage: Uint8Array | null = null;
  /** bytes of the state written by the last compaction (or the loaded history) */
  compactedBytes: number;
  /** size of the last full encoding plus bytes of every update since: an upper bound of the doc size */
  private sizeBound: number;

  constructor(
    readonly record: RoomRecord,
    history: { updates: readonly Uint8Array[]; lastSeq: number; bytes: number },
    private readonly metrics: Metrics,
    private readonly onChange: (room: Room) => void,
  ) {
    this.doc = new Y.Doc({ gc: true });
    // Rebuilding in one transaction fires one (ignored) update instead of one per stored row.
    Y.transact(this.doc, () => {
      for (const u of history.updates) Y.applyUpdate(this.doc, u);
    });
    this.history = { lastSeq: history.lastSeq, storedBytes: history.bytes, storedRows: history.updates.length };
    this.sizeBound = history.bytes;
    this.compactedBytes = history.bytes;
    // A compacted room is one stored row: that row is already a full encoding of the document,
    // so the first join after a load needs no re-encoding (about 100 ms for a 1 MB room).
    if (history.updates.length === 1 && history.updates[0]) this.fullStateMessage = encodeSyncStep2(history.updates[0]);
    this.awareness = new awarenessProtocol.Awareness(this.doc);
    // The server has no presence of its own.
    this.awareness.setLocalState(null);
    this.doc.on('update', this.onDocUpdate);
    this.awareness.on('update', this.onAwarenessUpdate);
  }

  get id(): string {
    return this.record.id;
  }

  private readonly onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    this.fullStateMessage = null;
    this.sizeBound += update.length;
    this.pending.push(update);
    if (this.peers.size > 0) {
      const message = new Outgoing(encodeUpdateMessage(update));
      let sent = 0;
      for (const peer of this.peers) {
        if (peer === origin) continue; // the author has it already
        peer.send(message);
        sent++;
      }
      this.countOut('sync-update', sent, message.data.length);
    }
    this.onChange(this);
  };

  private readonly onAwarenessUpdate = (
    change: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    const changed = [...change.added, ...change.updated, ...change.removed];
    if (origin !== null && typeof origin === 'object' && this.peers.has(origin as RoomPeer)) {
      const ids = (origin as RoomPeer).awarenessIds;
      for (const id of change.added) ids.add(id);
      for (const id of change.updated) ids.add(id);
      for (const id of change.removed) ids.delete(id);
    }
    if (changed.length === 0 || this.peers.size === 0) return;
    // Sent to every peer including the author, as the reference server does: a lone client's
    // provider counts these echoes as liveness (it reconnects after 30 s of silence).
    const message = new Outgoing(encodeAwarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed)));
    for (const peer of this.peers) peer.send(message);
    this.countOut('awareness', this.peers.size, message.data.length);
  };

  private countOut(kind: string, recipients: number, bytes: number): void {
    if (recipients === 0) return;
    this.metrics.messagesOut.add(recipients, kind);
    this.metrics.bytesOut.add(recipients * bytes);
  }

  /** The first messages a new peer gets: the server's state vector (so it sends what we lack) and presence. */
  greeting(): Uint8Array[] {
    const out = [encodeSyncStep1(Y.encodeStateVector(this.doc))];
    if (this.awareness.getStates().size > 0) {
      out.push(encodeAwarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awareness.getStates().keys()])));
    }
    return out;
  }

  /** Sync step 2 answering a state vector: the cached full state when the peer has nothing yet. */
  syncStep2For(stateVector: Uint8Array): Uint8Array {
    if (stateVector.length === 1 && stateVector[0] === 0) return this.fullState();
    return encodeSyncStep2(Y.encodeStateAsUpdate(this.doc, stateVector));
  }

  private fullState(): Uint8Array {
    if (this.fullStateMessage === null) {
      const state = Y.encodeStateAsUpdate(this.doc);
      this.sizeBound = state.length;
      this.fullStateMessage = encodeSyncStep2(state);
    }
    return this.fullStateMessage;
  }

  /**
   * True when applying `extraBytes` more keeps the document within `maxBytes`. Cheap in the
   * common case (a running upper bound); re-encodes the document only near the limit.
   */
  fitsWithin(extraBytes: number, maxBytes: number): boolean {
    if (this.sizeBound + extraBytes <= maxBytes) return true;
    this.fullStateMessage = null;
    this.fullState();
    return this.sizeBound + extraBytes <= maxBytes;
  }

  /** The encoded document (for compaction); refreshes the join cache as a side effect. */
  encodeState(): Uint8Array {
    const state = Y.encodeStateAsUpdate(this.doc);
    this.sizeBound = state.length;
    this.fullStateMessage = encodeSyncStep2(state);
    return state;
  }

  /** Takes the updates waiting for storage. */
  takePending(): Uint8Array[] {
    const p = this.pending;
    this.pending = [];
    return p;
  }

  /** Forgets a peer and removes the presence it announced (a closed or dead socket). */
  removePeer(peer: RoomPeer): void {
    if (!this.peers.delete(peer)) return;
    if (peer.awarenessIds.size > 0) {
      awarenessProtocol.removeAwarenessStates(this.awareness, [...peer.awarenessIds], null);
    }
  }

  /** True when nothing keeps the room in memory. */
  get idle(): boolean {
    return this.peers.size === 0 && this.holds === 0;
  }

  /** Releases timers and listeners; the room must be flushed first. */
  destroy(): void {
    clearTimeout(this.unloadTimer);
    this.doc.off('update', this.onDocUpdate);
    this.awareness.off('update', this.onAwarenessUpdate);
    this.awareness.destroy();
    this.doc.destroy();
  }
}
