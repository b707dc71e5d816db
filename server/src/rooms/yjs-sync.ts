/**
 * One WebSocket speaking the y-websocket protocol to one room. Every frame is decoded and
 * validated before anything is applied; a frame that does not parse, or speaks another
 * protocol, closes this socket only and leaves the room's document as it was.
 *
 * Viewers: their document changes are never applied nor relayed. Items a viewer's provider
 * inserted locally are answered (to that viewer only) with a delete set removing them, so the
 * viewer's text converges back to the room's; see docs/sync.md for the one case this cannot undo.
 */
import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import type { WebSocket } from 'ws';
import { CLOSE, assertNever, canEdit, type CloseName, type Role } from '@codex/shared';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Outgoing } from './outgoing.js';
import type { Room, RoomPeer } from './room.js';
import {
  BadMessage,
  decodeClientMessage,
  encodeAwarenessMessage,
  encodeDeleteOnlyUpdate,
  encodeUpdateMessage,
  validateAwarenessUpdate,
  type ClientMessage,
} from './messages.js';

/** What a sync connection needs from its surroundings. */
export interface SyncDeps {
  metrics: Metrics;
  log: Logger;
  maxDocBytes: number;
  /** a peer whose unsent backlog passes this is closed (it reconnects and resyncs) */
  maxBufferedBytes: number;
}

/** Closes `ws` with a named code from the CLOSE table and counts it. */
export function closeWith(ws: WebSocket, name: CloseName, metrics: Metrics, reason?: string): void {
  const c = CLOSE[name];
  metrics.socketsClosed.inc({ code: String(c.code) });
  if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(c.code, reason ?? c.reason);
}

/** A peer of a room over one WebSocket. */
export class SyncConnection implements RoomPeer {
  readonly awarenessIds = new Set<number>();
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    readonly room: Room,
    readonly role: Role,
    private readonly deps: SyncDeps,
  ) {
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    for (const m of room.greeting()) this.sendOwn(m, m[0] === 0 ? 'sync-step1' : 'awareness');
  }

  /** False (after closing it) when the socket is gone or hopelessly behind. */
  private writable(): boolean {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return false;
    if (this.ws.bufferedAmount > this.deps.maxBufferedBytes) {
      this.close('slowPeer');
      return false;
    }
    return true;
  }

  /** Sends a broadcast message (framed once for all its recipients; counted by the room). */
  send(message: Outgoing): void {
    if (this.writable()) message.sendTo(this.ws);
  }

  /** Sends a message meant for this peer only. */
  private sendOwn(message: Uint8Array, kind: string): void {
    if (!this.writable()) return;
    this.ws.send(message);
    this.deps.metrics.messagesOut.add(1, kind);
    this.deps.metrics.bytesOut.add(message.length);
  }

  /** Closes the socket with a named code (once). */
  close(name: CloseName, reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    closeWith(this.ws, name, this.deps.metrics, reason);
  }

  private onFrame(data: unknown, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary || !(data instanceof Uint8Array)) {
      this.close('protocolError', 'text frames are not part of the y-websocket protocol');
      return;
    }
    this.deps.metrics.bytesIn.add(data.length);
    let message: ClientMessage;
    try {
      message = decodeClientMessage(data);
    } catch (err) {
      this.refuse(err);
      return;
    }
    this.deps.metrics.messagesIn.add(1, message.type);
    try {
      this.handle(message);
    } catch (err) {
      this.refuse(err);
    }
  }

  private refuse(err: unknown): void {
    const protocol = err instanceof BadMessage && err.kind === 'protocol';
    this.deps.log.debug({ room: this.room.id, err: (err as Error).message }, 'frame refused');
    this.close(protocol ? 'protocolError' : 'badData');
  }

  private handle(message: ClientMessage): void {
    switch (message.type) {
      case 'sync-step1': {
        Y.decodeStateVector(message.stateVector); // throws on garbage before any work
        this.sendOwn(this.room.syncStep2For(message.stateVector), 'sync-step2');
        return;
      }
      case 'sync-step2':
      case 'sync-update':
        if (canEdit(this.role)) this.applyEdit(message.update);
        else this.answerViewerEdit(message.update);
        return;
      case 'awareness':
        validateAwarenessUpdate(message.update);
        awarenessProtocol.applyAwarenessUpdate(this.room.awareness, message.update, this);
        return;
      case 'query-awareness': {
        const ids = [...this.room.awareness.getStates().keys()];
        this.sendOwn(encodeAwarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.room.awareness, ids)), 'awareness');
        return;
      }
      default:
        assertNever(message);
    }
  }

  private applyEdit(update: Uint8Array): void {
    // Full structural decode first: Y.applyUpdate would integrate the structs of a truncated
    // update before failing on its delete set, leaving the document half-changed.
    Y.decodeUpdate(update);
    if (!this.room.fitsWithin(update.length, this.deps.maxDocBytes)) {
      this.close('docTooBig');
      return;
    }
    Y.applyUpdate(this.room.doc, update, this);
  }

  /**
   * A viewer sent document content. Nothing is applied; the items it created (those the room
   * does not have) are deleted again on that viewer, so its view matches the room's.
   */
  private answerViewerEdit(update: Uint8Array): void {
    const meta = Y.parseUpdateMeta(update); // also validates the encoding
    const known = Y.encodeStateVector(this.room.doc);
    const roomClocks = Y.decodeStateVector(known);
    const ranges = new Map<number, [number, number][]>();
    for (const [client, to] of meta.to) {
      const from = Math.max(meta.from.get(client) ?? 0, roomClocks.get(client) ?? 0);
      if (to > from) ranges.set(client, [[from, to - from]]);
    }
    if (ranges.size === 0) return;
    this.sendOwn(encodeUpdateMessage(encodeDeleteOnlyUpdate(ranges)), 'sync-update');
  }
}
