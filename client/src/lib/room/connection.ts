/**
 * The room's Yjs connection: a Y.Doc synced by the stock y-websocket provider, and a readable
 * connection state for the header: connecting, connected, reconnecting, offline with edits waiting,
 * or closed for good (wrong token, unknown room, room full...).
 */
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { writable, type Readable } from 'svelte/store';
import { CLOSE } from '@codex/shared';

/** What the header shows about the document connection. */
export type ConnectionState =
  | { kind: 'connecting' }
  | { kind: 'connected'; synced: boolean }
  | { kind: 'reconnecting'; pendingEdits: number }
  | { kind: 'closed'; code: number; message: string };

/** A human sentence for a close code the server uses to refuse or end a connection. */
export function closeMessage(code: number, reason: string): string {
  switch (code) {
    case CLOSE.forbidden.code:
      return 'This link is not valid for this room (wrong or expired token).';
    case CLOSE.notFound.code:
      return 'This room does not exist (any more).';
    case CLOSE.docTooBig.code:
      return 'The room document reached its size limit; recent edits were not saved.';
    case CLOSE.roomFull.code:
      return 'The room is full. Try again later.';
    case CLOSE.tooManyRooms.code:
      return 'Too many rooms are open from this address.';
    default:
      return reason || `The server closed the connection (code ${code}).`;
  }
}

/**
 * Tracks the connection state from provider events. Kept apart from the provider so it can be
 * tested with plain calls: `status`, `synced`, `localUpdate` and `closed` mirror provider events.
 */
export class ConnectionTracker {
  private readonly store = writable<ConnectionState>({ kind: 'connecting' });
  private everConnected = false;
  private connected = false;
  private synced = false;
  private pending = 0;
  private closedFor: ConnectionState | null = null;

  /** The current state, as a Svelte store. */
  get state(): Readable<ConnectionState> {
    return this.store;
  }

  /** Edits made locally that the server has not confirmed by a sync since. */
  get pendingEdits(): number {
    return this.pending;
  }

  /** The provider's `status` event. */
  status(s: 'connected' | 'disconnected' | 'connecting'): void {
    this.connected = s === 'connected';
    if (this.connected) this.everConnected = true;
    else this.synced = false;
    this.emit();
  }

  /** The provider's `sync` event: once synced after a reconnect, the waiting edits have been exchanged. */
  sync(isSynced: boolean): void {
    this.synced = isSynced;
    if (isSynced && this.connected) this.pending = 0;
    this.emit();
  }

  /** A local document change (not from the provider). While not synced, it counts as waiting. */
  localUpdate(): void {
    if (!(this.connected && this.synced)) {
      this.pending++;
      this.emit();
    }
  }

  /** The provider gave up for good (a 44xx close). */
  closed(code: number, reason: string): void {
    this.closedFor = { kind: 'closed', code, message: closeMessage(code, reason) };
    this.emit();
  }

  private emit(): void {
    if (this.closedFor) return this.store.set(this.closedFor);
    if (this.connected) return this.store.set({ kind: 'connected', synced: this.synced });
    if (!this.everConnected && this.pending === 0) return this.store.set({ kind: 'connecting' });
    this.store.set({ kind: 'reconnecting', pendingEdits: this.pending });
  }
}

/** An open room: its document, the provider (for awareness), the state, and `close()`. */
export interface RoomConnection {
  doc: Y.Doc;
  provider: WebsocketProvider;
  tracker: ConnectionTracker;
  /** resolves when the first sync completes (or never, if the link is refused) */
  firstSync: Promise<void>;
  close(): void;
}

/** The `ws:`/`wss:` base URL of the page's server. */
export function wsBase(loc: Pick<Location, 'protocol' | 'host'> = location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}`;
}

/** Opens the Yjs connection for a room, exactly as CONTRACT.md's stock provider call does. */
export function connectRoom(roomId: string, token: string, base: string = wsBase()): RoomConnection {
  const doc = new Y.Doc();
  const tracker = new ConnectionTracker();
  // BroadcastChannel is off: a viewer's tab must not hand its local changes to an editor's tab.
  const provider = new WebsocketProvider(`${base}/yjs`, roomId, doc, { params: { token }, disableBc: true, maxBackoffTime: 2000 });
  provider.on('status', (e) => tracker.status(e.status));
  provider.on('sync', (s) => tracker.sync(s));
  provider.on('closed', (e) => tracker.closed(e.code, e.reason));
  const onUpdate = (_u: Uint8Array, origin: unknown): void => {
    if (origin !== provider) tracker.localUpdate();
  };
  doc.on('update', onUpdate);
  const firstSync = new Promise<void>((resolve) => {
    if (provider.synced) return resolve();
    const h = (s: boolean): void => {
      if (s) {
        provider.off('sync', h);
        resolve();
      }
    };
    provider.on('sync', h);
  });
  let closed = false;
  return {
    doc,
    provider,
    tracker,
    firstSync,
    close() {
      if (closed) return;
      closed = true;
      doc.off('update', onUpdate);
      provider.awareness.setLocalState(null);
      provider.destroy();
      doc.destroy();
    },
  };
}
