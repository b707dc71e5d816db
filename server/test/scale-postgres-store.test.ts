/**
 * The PostgreSQL store against a real private PostgreSQL. One behaviour suite is run against both
 * the embedded SQLite store and the PostgreSQL one, so the registry can swap them; then what only
 * the shared store has: several instances on one database, fenced compaction, the stream mark.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { newRoomId, newRoomTokens, roleForToken } from '../src/rooms/access.js';
import { openSqliteStore } from '../src/rooms/store/sqlite-store.js';
import type { RoomRecord, RoomStore } from '../src/rooms/store/store.js';
import { FencedOutError, openPostgresStore, type PostgresRoomStore } from '../src/scale/postgres-store.js';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';

let pgServer: TestPostgres;
const toClose: { close(): Promise<void> }[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  pgServer = await startPostgres();
}, 60_000);
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
afterAll(async () => {
  await pgServer.stop();
});

async function openPg(url?: string): Promise<PostgresRoomStore> {
  const store = await openPostgresStore({ connectionString: url ?? (await pgServer.freshDatabase()) });
  toClose.push(store);
  return store;
}

async function openSqlite(): Promise<RoomStore> {
  const dir = mkdtempSync(path.join(tmpdir(), 'codex-store-'));
  dirs.push(dir);
  const store = openSqliteStore({ dataDir: dir });
  toClose.push(store);
  return store;
}

/** A room record with fresh tokens; returns the tokens too. */
function newRoom(name = 'Lab 1'): { record: RoomRecord; tokens: Record<'owner' | 'editor' | 'viewer', string> } {
  const { tokens, hashes } = newRoomTokens();
  return {
    record: { id: newRoomId(), name, language: 'python', createdAt: new Date().toISOString(), tokenHashes: hashes },
    tokens,
  };
}

/** A Yjs state holding `text` in `t`, and an update appending `more` to it. */
function docWith(text: string): Y.Doc {
  const doc = new Y.Doc();
  doc.getText('t').insert(0, text);
  return doc;
}

/** Rebuilds a document from a stored history. */
function replay(updates: Uint8Array[]): string {
  const doc = new Y.Doc();
  for (const u of updates) Y.applyUpdate(doc, u);
  return doc.getText('t').toString();
}

const implementations: [string, () => Promise<RoomStore>][] = [
  ['sqlite (embedded)', openSqlite],
  ['postgres (shared)', () => openPg()],
];

describe.each(implementations)('RoomStore behaviour: %s', (_name, open) => {
  it('creates a room and reads back its metadata and token hashes (tokens still match)', async () => {
    const store = await open();
    const { record, tokens } = newRoom('Café ☕ 1');
    await store.createRoom(record, Y.encodeStateAsUpdate(docWith('print(1)')));
    const got = await store.getRoom(record.id);
    expect(got).toMatchObject({ id: record.id, name: 'Café ☕ 1', language: 'python', createdAt: record.createdAt });
    expect(got && roleForToken(got.tokenHashes, tokens.editor)).toBe('editor');
    expect(got && roleForToken(got.tokenHashes, tokens.viewer)).toBe('viewer');
    expect(got && roleForToken(got.tokenHashes, 'nope')).toBeNull();
    expect(await store.getRoom('unknown-room-id-00000')).toBeUndefined();
  });

  it('refuses a second room with the same id and keeps the first', async () => {
    const store = await open();
    const { record } = newRoom('first');
    await store.createRoom(record, Y.encodeStateAsUpdate(docWith('a')));
    await expect(store.createRoom({ ...record, name: 'second' }, new Uint8Array([0, 0]))).rejects.toThrow();
    expect((await store.getRoom(record.id))?.name).toBe('first');
    expect((await store.loadHistory(record.id)).updates).toHaveLength(1);
  });

  it('appends updates of several rooms atomically, in order, and replays them', async () => {
    const store = await open();
    const a = newRoom();
    const b = newRoom();
    const docA = docWith('');
    const docB = docWith('');
    await store.createRoom(a.record, Y.encodeStateAsUpdate(docA));
    await store.createRoom(b.record, Y.encodeStateAsUpdate(docB));
    const batch: { roomId: string; update: Uint8Array }[] = [];
    docA.on('update', (u: Uint8Array) => batch.push({ roomId: a.record.id, update: u }));
    docB.on('update', (u: Uint8Array) => batch.push({ roomId: b.record.id, update: u }));
    for (let i = 0; i < 30; i++) {
      docA.getText('t').insert(i, 'a');
      docB.getText('t').insert(0, String(i % 10));
    }
    const last = await store.appendUpdates(batch);
    const histA = await store.loadHistory(a.record.id);
    const histB = await store.loadHistory(b.record.id);
    expect(histA.updates).toHaveLength(31);
    expect(last.get(a.record.id)).toBe(histA.lastSeq);
    expect(last.get(b.record.id)).toBe(histB.lastSeq);
    expect(replay(histA.updates)).toBe(docA.getText('t').toString());
    expect(replay(histB.updates)).toBe(docB.getText('t').toString());
    // in order: the stored bytes are the batch's, room by room
    const sentA = batch.filter((u) => u.roomId === a.record.id).map((u) => Buffer.from(u.update).toString('hex'));
    expect(histA.updates.slice(1).map((u) => Buffer.from(u).toString('hex'))).toEqual(sentA);
    expect(histA.bytes).toBe(histA.updates.reduce((n, u) => n + u.length, 0));
    expect(await store.appendUpdates([])).toEqual(new Map());
  });

  it('rolls back a whole batch when one update names an unknown room', async () => {
    const store = await open();
    const { record } = newRoom();
    await store.createRoom(record, Y.encodeStateAsUpdate(docWith('x')));
    await expect(
      store.appendUpdates([
        { roomId: record.id, update: new Uint8Array([1, 2, 3]) },
        { roomId: 'no-such-room-00000000', update: new Uint8Array([4]) },
      ]),
    ).rejects.toThrow();
    expect((await store.stats(record.id)).updates).toBe(1);
  });

  it('compacts a prefix into one state, keeping later updates and the document', async () => {
    const store = await open();
    const { record } = newRoom();
    const doc = docWith('');
    await store.createRoom(record, Y.encodeStateAsUpdate(doc));
    const pending: Uint8Array[] = [];
    doc.on('update', (u: Uint8Array) => pending.push(u));
    for (let i = 0; i < 20; i++) doc.getText('t').insert(i, 'x');
    await store.appendUpdates(pending.splice(0).map((update) => ({ roomId: record.id, update })));
    const before = await store.loadHistory(record.id);
    const snapshot = Y.encodeStateAsUpdate(doc);
    // an update arriving after the snapshot was taken must survive the compaction
    doc.getText('t').insert(0, 'late:');
    await store.appendUpdates(pending.splice(0).map((update) => ({ roomId: record.id, update })));
    const newSeq = await store.compact(record.id, snapshot, before.lastSeq);
    const after = await store.loadHistory(record.id);
    expect(after.updates).toHaveLength(2);
    expect(newSeq).toBe(after.lastSeq);
    expect(newSeq).toBeGreaterThan(before.lastSeq);
    expect(replay(after.updates)).toBe(doc.getText('t').toString());
    expect(doc.getText('t').toString()).toBe(`late:${'x'.repeat(20)}`);
    const stats = await store.stats(record.id);
    expect(stats.updates).toBe(2);
    expect(stats.bytes).toBe(after.bytes);
  });

  it('reports an unknown room as empty, answers check(), and closes idempotently', async () => {
    const store = await open();
    expect(await store.loadHistory('unknown-room-id-00000')).toEqual({ updates: [], lastSeq: 0, bytes: 0 });
    expect(await store.stats('unknown-room-id-00000')).toEqual({ updates: 0, bytes: 0 });
    expect(await store.check()).toBeNull();
    await store.close();
    await store.close();
  });
});

describe('PostgreSQL store, shared by several instances', () => {
  it('creates its schema once even when instances start together, and sees one room from all', async () => {
    const url = await pgServer.freshDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPg(url)));
    const { record } = newRoom();
    await stores[0]?.createRoom(record, Y.encodeStateAsUpdate(docWith('hello')));
    for (const s of stores) {
      expect((await s.getRoom(record.id))?.name).toBe(record.name);
      expect(replay((await s.loadHistory(record.id)).updates)).toBe('hello');
    }
    // reopening on an existing schema is a no-op
    const again = await openPg(url);
    expect((await again.getRoom(record.id))?.id).toBe(record.id);
  });

  it('keeps every update when two instances append to one room at the same time', async () => {
    const url = await pgServer.freshDatabase();
    const [s1, s2] = [await openPg(url), await openPg(url)];
    const { record } = newRoom();
    const base = docWith('');
    await s1.createRoom(record, Y.encodeStateAsUpdate(base));
    const writers = [new Y.Doc(), new Y.Doc()];
    const appends: Promise<Map<string, number>>[] = [];
    writers.forEach((doc, w) => {
      Y.applyUpdate(doc, Y.encodeStateAsUpdate(base));
      const store = w === 0 ? s1 : s2;
      doc.on('update', (u: Uint8Array) => appends.push(store.appendUpdates([{ roomId: record.id, update: u }])));
      for (let i = 0; i < 50; i++) doc.getText('t').insert(0, w === 0 ? 'a' : 'b');
    });
    const seqs = (await Promise.all(appends)).map((m) => m.get(record.id));
    expect(new Set(seqs).size).toBe(100);
    const text = replay((await s2.loadHistory(record.id)).updates);
    expect(text).toHaveLength(100);
    expect(text.replace(/b/g, '')).toBe('a'.repeat(50));
  });

  it('refuses a compaction fenced by an older lease token and keeps the data', async () => {
    const store = await openPg();
    const { record } = newRoom();
    await store.createRoom(record, Y.encodeStateAsUpdate(docWith('v1')));
    const fence = `compact:${record.id}`;
    const h1 = await store.loadHistory(record.id);
    await store.compactFenced(record.id, Y.encodeStateAsUpdate(docWith('v1')), h1.lastSeq, { resource: fence, token: 10 });
    // the same holder may compact again with its token
    const h2 = await store.loadHistory(record.id);
    await store.compactFenced(record.id, Y.encodeStateAsUpdate(docWith('v1')), h2.lastSeq, { resource: fence, token: 10 });
    const h3 = await store.loadHistory(record.id);
    // a paused former holder wakes up with token 9: refused, nothing changed
    const err = await store
      .compactFenced(record.id, Y.encodeStateAsUpdate(docWith('stale')), h3.lastSeq, { resource: fence, token: 9 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedOutError);
    expect(err).toMatchObject({ token: 9, current: 10 });
    expect(await store.loadHistory(record.id)).toEqual(h3);
    expect(replay(h3.updates)).toBe('v1');
  });

  it('records how far into the room stream storage holds, never backwards', async () => {
    const store = await openPg();
    const { record } = newRoom();
    await store.createRoom(record, new Uint8Array([0, 0]));
    expect(await store.streamStored(record.id)).toBeUndefined();
    await store.markStreamStored(record.id, '1700000000000-5');
    await store.markStreamStored(record.id, '1700000000000-12');
    await store.markStreamStored(record.id, '1699999999999-99'); // older: ignored
    expect(await store.streamStored(record.id)).toBe('1700000000000-12');
    await expect(store.markStreamStored(record.id, "1'; DROP TABLE codex_rooms; --")).rejects.toThrow(/not a stream id/);
    await expect(store.markStreamStored('no-such-room-00000000', '1-1')).rejects.toThrow(/unknown room/);
  });

  it('says why it is not ready when PostgreSQL is unreachable, and fails to open with a clear error', async () => {
    const url = await pgServer.freshDatabase();
    const store = await openPostgresStore({ connectionString: url, checkTimeoutMs: 1_000 });
    toClose.push(store);
    // drop the database under it: a real failure of the server side
    const admin = new pg.Client({ connectionString: pgServer.url });
    await admin.connect();
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [new URL(url).pathname.slice(1)]);
    await admin.query(`DROP DATABASE ${new URL(url).pathname.slice(1)}`);
    await admin.end();
    expect(await store.check()).toMatch(/PostgreSQL/);
    await expect(openPostgresStore({ connectionString: url })).rejects.toThrow(/does not exist/);
  });
});
