import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { DOC_KEYS, ROOM_ID_PATTERN, ROOM_KEYS } from '@codex/shared';
import { startServer, type TestServer } from './helpers/start-server.js';
import { connectPeer, createRoom, entryText, until, waitFor } from './helpers/yjs-peer.js';

describe('rooms API', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ roomCreatesPerMinute: 1000 });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('creates a room with three distinct tokens and links', async () => {
    const room = await createRoom(s.url, { name: 'Algebra 1', language: 'python' });
    expect(room.id).toMatch(ROOM_ID_PATTERN);
    const tokens = [room.ownerToken, room.editorToken, room.viewerToken];
    expect(new Set(tokens).size).toBe(3);
    for (const t of tokens) expect(Buffer.from(t, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(room.ownerUrl).toBe(`/r/${room.id}?token=${room.ownerToken}`);
    expect(room.editorUrl).toBe(`/r/${room.id}?token=${room.editorToken}`);
    expect(room.viewerUrl).toBe(`/r/${room.id}?token=${room.viewerToken}`);
  });

  it('answers GET with metadata and the role of each token; 403 and 404 otherwise', async () => {
    const room = await createRoom(s.url, { name: 'Lab', language: 'rust' });
    for (const [token, role] of [[room.ownerToken, 'owner'], [room.editorToken, 'editor'], [room.viewerToken, 'viewer']] as const) {
      const res = await fetch(`${s.url}/api/rooms/${room.id}?token=${token}`);
      expect(res.status).toBe(200);
      const info = (await res.json()) as Record<string, unknown>;
      expect(info).toMatchObject({ id: room.id, name: 'Lab', language: 'rust', role });
      expect(typeof info.createdAt).toBe('string');
    }
    const wrong = await fetch(`${s.url}/api/rooms/${room.id}?token=nope`);
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as { error: string }).error).toMatch(/token/);
    expect((await fetch(`${s.url}/api/rooms/${room.id}`)).status).toBe(403);
    const unknown = await fetch(`${s.url}/api/rooms/AAAAAAAAAAAAAAAAAAAAAA?token=${room.ownerToken}`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/unknown room/);
  });

  it('defaults to python and refuses bad bodies with precise messages', async () => {
    const res = await fetch(`${s.url}/api/rooms`, { method: 'POST' });
    expect(res.status).toBe(201);
    const cases: [unknown, RegExp][] = [
      [{ language: 'cobol' }, /unknown language "cobol"; known: python, javascript/],
      [{ name: 42 }, /"name" must be a string/],
      [{ name: 'x'.repeat(101) }, /at most 100/],
      [{ extra: 1 }, /unknown field "extra"/],
      [[1, 2], /JSON object/],
    ];
    for (const [body, message] of cases) {
      const r = await fetch(`${s.url}/api/rooms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(message);
    }
    const bad = await fetch(`${s.url}/api/rooms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/not valid JSON/);
    const big = await fetch(`${s.url}/api/rooms`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x'.repeat(40_000) }),
    });
    expect(big.status).toBe(413);
  });

  it('holds one starter file per language with the entry set', async () => {
    const room = await createRoom(s.url, { language: 'java' });
    const peer = connectPeer(s.wsUrl, room.id, room.viewerToken);
    try {
      await peer.synced();
      const meta = peer.doc.getMap(DOC_KEYS.room);
      expect(meta.get(ROOM_KEYS.language)).toBe('java');
      expect(meta.get(ROOM_KEYS.version)).toBe('*');
      const files = peer.doc.getMap<Y.Map<unknown>>(DOC_KEYS.files);
      expect(files.size).toBe(1);
      expect(files.get(meta.get(ROOM_KEYS.entry) as string)?.get('name')).toBe('Main.java');
      expect(entryText(peer.doc).toString()).toContain('public class Main');
    } finally {
      peer.destroy();
    }
  });

  it('rate limits room creation per address', async () => {
    const t = await startServer({ roomCreatesPerMinute: 2 });
    try {
      await createRoom(t.url);
      await createRoom(t.url);
      const r = await fetch(`${t.url}/api/rooms`, { method: 'POST' });
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      await t.stop();
    }
  });
});

describe('RoomRegistry API for other features', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ roomUnloadMs: 50 });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('authorize returns the role, forbidden or not-found without loading the room', async () => {
    const room = await createRoom(s.url);
    const reg = s.server.rooms;
    expect(await reg.authorize(room.id, room.ownerToken)).toBe('owner');
    expect(await reg.authorize(room.id, room.editorToken)).toBe('editor');
    expect(await reg.authorize(room.id, room.viewerToken)).toBe('viewer');
    expect(await reg.authorize(room.id, 'x')).toBe('forbidden');
    expect(await reg.authorize(room.id, null)).toBe('forbidden');
    expect(await reg.authorize(room.id, undefined)).toBe('forbidden');
    expect(await reg.authorize('AAAAAAAAAAAAAAAAAAAAAA', room.ownerToken)).toBe('not-found');
    expect(await reg.authorize('../etc', room.ownerToken)).toBe('not-found');
    expect(reg.isLoaded(room.id)).toBe(false);
  });

  it('withDoc changes reach connected peers and storage, and reject for unknown rooms', async () => {
    const room = await createRoom(s.url);
    const peer = connectPeer(s.wsUrl, room.id, room.viewerToken);
    await peer.synced();
    const result = await s.server.rooms.withDoc(room.id, async (doc) => {
      await new Promise((r) => setTimeout(r, 20)); // async work keeps the room loaded
      doc.transact(() => doc.getArray(DOC_KEYS.runs).push([{ run: 'r1' }]), 'exec');
      return 'done';
    });
    expect(result).toBe('done');
    await waitFor(peer.doc, () => peer.doc.getArray(DOC_KEYS.runs).length === 1, 5000, 'run summary on the peer');
    peer.destroy();
    await expect(s.server.rooms.withDoc('AAAAAAAAAAAAAAAAAAAAAA', () => 1)).rejects.toThrow(/unknown room/);
    // After the room unloads, the change is read back from storage.
    await until(() => !s.server.rooms.isLoaded(room.id), 5000, 'room unload');
    const runs = await s.server.rooms.withDoc(room.id, (doc) => doc.getArray(DOC_KEYS.runs).toJSON());
    expect(runs).toEqual([{ run: 'r1' }]);
  });
});
