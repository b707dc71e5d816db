import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { CreatedRoom } from '@codex/shared';
import { startServer, type TestServer } from './helpers/start-server.js';
import { connectPeer, createRoom, entryText, until, waitFor } from './helpers/yjs-peer.js';

function storedRows(dataDir: string, roomId: string): { n: number; bytes: number } {
  const db = new Database(path.join(dataDir, 'rooms.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const r = db.prepare('SELECT count(*) AS n, coalesce(sum(length(data)), 0) AS bytes FROM updates WHERE room_id = ?').get(roomId) as { n: number; bytes: number };
    return r;
  } finally {
    db.close();
  }
}

/** `n` rooms, each edited once (stored as a second row) by one peer; then every peer leaves at once. */
async function emptyTogether(s: TestServer, n: number): Promise<CreatedRoom[]> {
  const rooms = await Promise.all(Array.from({ length: n }, () => createRoom(s.url)));
  const peers = rooms.map((room) => connectPeer(s.wsUrl, room.id, room.editorToken));
  await Promise.all(peers.map((p) => p.synced()));
  for (const p of peers) p.text().insert(0, 'bye ');
  await until(() => rooms.every((r) => storedRows(s.dataDir, r.id).n === 2), 5000, 'every edit stored');
  for (const p of peers) p.destroy();
  return rooms;
}

describe('durable rooms', () => {
  it('a restart keeps every room, its tokens and its text', async () => {
    const first = await startServer({ roomCreatesPerMinute: 100 });
    const rooms = await Promise.all([0, 1, 2, 3, 4].map((i) => createRoom(first.url, { name: `room ${i}`, language: i % 2 ? 'go' : 'python' })));
    for (const [i, room] of rooms.entries()) {
      const p = connectPeer(first.wsUrl, room.id, room.editorToken);
      await p.synced();
      p.text().insert(0, `edit of room ${i}\n`);
      const mark = `edit of room ${i}\n`;
      await until(async () => first.server.rooms.isLoaded(room.id) && (await first.server.rooms.withDoc(room.id, (doc) => entryText(doc).toString().startsWith(mark))), 5000, 'edit on the server');
      p.destroy();
    }
    const texts = await Promise.all(rooms.map((r) => first.server.rooms.withDoc(r.id, (doc) => entryText(doc).toString())));
    await first.stop({ keepData: true });

    const second = await startServer({ dataDir: first.dataDir });
    try {
      for (const [i, room] of rooms.entries()) {
        const res = await fetch(`${second.url}/api/rooms/${room.id}?token=${room.viewerToken}`);
        expect(await res.json()).toMatchObject({ id: room.id, name: `room ${i}`, role: 'viewer' });
        const p = connectPeer(second.wsUrl, room.id, room.viewerToken);
        await p.synced();
        expect(p.text().toString()).toBe(texts[i]);
        expect(p.text().toString().startsWith(`edit of room ${i}\n`)).toBe(true);
        p.destroy();
      }
    } finally {
      await second.stop();
    }
  });

  it('an update is on disk within the flush interval, and history is compacted to about the document size', async () => {
    const s = await startServer({ flushMs: 50, roomUnloadMs: 100 });
    try {
      const room = await createRoom(s.url);
      const a = connectPeer(s.wsUrl, room.id, room.editorToken);
      await a.synced();
      a.text().insert(0, 'first ');
      const t0 = Date.now();
      await until(() => storedRows(s.dataDir, room.id).n >= 2, 2000, 'the update row');
      expect(Date.now() - t0).toBeLessThan(1000); // generous on a loaded box; the bench measures it precisely
      // Many small edits that mostly cancel out: history must not keep them all.
      for (let i = 0; i < 3000; i++) {
        a.text().insert(0, `typing ${i} `);
        if (i % 2 === 1) a.text().delete(0, 20);
        if (i % 100 === 0) await new Promise((r) => setImmediate(r));
      }
      const want = a.text().toString();
      const watcher = connectPeer(s.wsUrl, room.id, room.viewerToken);
      await watcher.synced();
      await waitFor(watcher.doc, () => watcher.text().toString() === want, 10_000, 'all edits relayed');
      watcher.destroy();
      a.destroy();
      await until(() => !s.server.rooms.isLoaded(room.id), 5000, 'unload (flush + compaction)');
      const stored = storedRows(s.dataDir, room.id);
      const docSize = await s.server.rooms.withDoc(room.id, (doc) => Y.encodeStateAsUpdate(doc).length);
      expect(stored.n).toBe(1);
      expect(stored.bytes).toBeLessThanOrEqual(docSize * 1.1);
      const text = await s.server.rooms.withDoc(room.id, (doc) => entryText(doc).toString());
      expect(text).toBe(want);
    } finally {
      await s.stop();
    }
  });

  it('rooms that empty together unload one per event-loop turn, each compacted', async () => {
    const s = await startServer({ roomUnloadMs: 300, roomCreatesPerMinute: 100 });
    try {
      const rooms = await emptyTogether(s, 30);
      // Watch the count of loaded rooms at every turn of the event loop: a wave unloaded in one
      // go would drop it by many at once (and block every other room meanwhile).
      let biggestDrop = 0;
      let last = s.server.rooms.loadedCount;
      while (s.server.rooms.loadedCount > 0) {
        await new Promise((r) => setImmediate(r));
        const now = s.server.rooms.loadedCount;
        biggestDrop = Math.max(biggestDrop, last - now);
        last = now;
      }
      expect(biggestDrop).toBe(1);
      for (const r of rooms) expect(storedRows(s.dataDir, r.id).n).toBe(1);
    } finally {
      await s.stop();
    }
  });

  it('a room taken again while it waits for its unload turn is kept, without waiting for the wave', async () => {
    const s = await startServer({ roomUnloadMs: 300, roomCreatesPerMinute: 100 });
    try {
      const rooms = await emptyTogether(s, 30);
      // At the first turn of the wave, take a room that is still queued.
      let kept: CreatedRoom | undefined;
      while (!kept) {
        await new Promise((r) => setImmediate(r));
        if (s.server.rooms.loadedCount < rooms.length) kept = rooms.find((r) => s.server.rooms.isLoaded(r.id));
      }
      const text = await s.server.rooms.withDoc(kept.id, (doc) => entryText(doc).toString());
      expect(text.startsWith('bye ')).toBe(true);
      expect(s.server.rooms.loadedCount).toBeGreaterThan(1); // answered before the wave ended
      await until(() => s.server.rooms.loadedCount === 1, 5000, 'every other room unloaded');
      expect(s.server.rooms.isLoaded(kept.id)).toBe(true);
      expect(storedRows(s.dataDir, kept.id).n).toBe(2); // never unloaded (an unload compacts to 1 row)
      // And a real peer coming back finds it.
      const back = connectPeer(s.wsUrl, kept.id, kept.editorToken);
      await back.synced();
      expect(back.text().toString()).toBe(text);
      back.destroy();
    } finally {
      await s.stop();
    }
  });
});
