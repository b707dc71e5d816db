/**
 * Test helper: a real `y-websocket` WebsocketProvider (Node, `ws` as the WebSocket) joined to a
 * CodeX room, with waits on its events instead of sleeps.
 */
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { DOC_KEYS, FILE_KEYS, type CreatedRoom } from '@codex/shared';

/** A provider with its doc and helpers. */
export interface YjsPeer {
  doc: Y.Doc;
  provider: WebsocketProvider;
  /** the text of the room's entry file (the first file when there is no entry) */
  text(): Y.Text;
  /** resolves once synced (immediately if already) */
  synced(): Promise<void>;
  /** resolves with the first terminal close (code and reason) the server sends */
  closed(): Promise<{ code: number; reason: string }>;
  destroy(): void;
}

/** Connects a provider to `roomId` on `wsUrl` (`ws://127.0.0.1:port`) with `token`. */
export function connectPeer(wsUrl: string, roomId: string, token: string, opts: { connect?: boolean } = {}): YjsPeer {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`${wsUrl}/yjs`, roomId, doc, {
    params: { token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    // Node 20 has BroadcastChannel: providers in one test process would sync around the server.
    disableBc: true,
    maxBackoffTime: 200,
    connect: opts.connect ?? true,
  });
  const closedP = new Promise<{ code: number; reason: string }>((resolve) => {
    provider.on('closed', (e: { code: number; reason: string }) => resolve({ code: e.code, reason: e.reason }));
  });
  return {
    doc,
    provider,
    text: () => entryText(doc),
    synced: () =>
      provider.synced
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const on = (s: boolean): void => {
              if (!s) return;
              provider.off('sync', on);
              resolve();
            };
            provider.on('sync', on);
          }),
    closed: () => closedP,
    destroy() {
      provider.destroy();
      doc.destroy();
    },
  };
}

/** The entry file's Y.Text of a room document. */
export function entryText(doc: Y.Doc): Y.Text {
  const files = doc.getMap<Y.Map<unknown>>(DOC_KEYS.files);
  const entry = doc.getMap(DOC_KEYS.room).get('entry');
  const file = (typeof entry === 'string' ? files.get(entry) : undefined) ?? [...files.values()][0];
  const text = file?.get(FILE_KEYS.text);
  if (!(text instanceof Y.Text)) throw new Error('room document has no file text yet');
  return text;
}

/** Resolves when `predicate()` holds, re-checked on every update of `docs`; rejects after `ms`. */
export function waitFor(docs: Y.Doc | Y.Doc[], predicate: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  if (predicate()) return Promise.resolve();
  const list = Array.isArray(docs) ? docs : [docs];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      for (const d of list) d.off('update', check);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const check = (): void => {
      if (!predicate()) return;
      clearTimeout(timer);
      for (const d of list) d.off('update', check);
      resolve();
    };
    for (const d of list) d.on('update', check);
  });
}

/** Polls `predicate` every 10 ms (for state without events, e.g. server internals). */
export async function until(predicate: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Creates a room over HTTP. */
export async function createRoom(url: string, body: Record<string, unknown> = {}): Promise<CreatedRoom> {
  const res = await fetch(`${url}/api/rooms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`POST /api/rooms: ${res.status} ${await res.text()}`);
  return (await res.json()) as CreatedRoom;
}

/**
 * Replaces the room's entry file with `program` through a real provider (owner token) and waits
 * until a second provider (viewer token) sees it, so the server's copy holds it; both then leave.
 */
export async function writeEntry(wsUrl: string, room: CreatedRoom, program: string): Promise<void> {
  const writer = connectPeer(wsUrl, room.id, room.ownerToken);
  const reader = connectPeer(wsUrl, room.id, room.viewerToken);
  try {
    await writer.synced();
    writer.doc.transact(() => {
      const text = entryText(writer.doc);
      text.delete(0, text.length);
      text.insert(0, program);
    });
    await reader.synced();
    await waitFor(reader.doc, () => entryText(reader.doc).toString() === program, 10_000, 'the program on the server');
  } finally {
    writer.destroy();
    reader.destroy();
  }
}
