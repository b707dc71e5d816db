import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, type TestServer } from './helpers/start-server.js';
import { connectPeer, createRoom, entryText, until, waitFor, type YjsPeer } from './helpers/yjs-peer.js';

describe('configurable caps, each answered with a close code and reason', () => {
  let s: TestServer | undefined;
  const peers: YjsPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) p.destroy();
    await s?.stop();
    s = undefined;
  });
  const peer = (server: TestServer, roomId: string, token: string): YjsPeer => {
    const p = connectPeer(server.wsUrl, roomId, token);
    peers.push(p);
    return p;
  };
  const rawClose = (server: TestServer, roomId: string, token: string): Promise<{ code: number; reason: string }> =>
    new Promise((resolve) => {
      const ws = new WebSocket(`${server.wsUrl}/yjs/${roomId}?token=${token}`);
      ws.on('error', () => {});
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });

  it('message size: 1009', async () => {
    s = await startServer({ maxMessageBytes: 1024 });
    const room = await createRoom(s.url);
    const ws = new WebSocket(`${s.wsUrl}/yjs/${room.id}?token=${room.editorToken}`);
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send(new Uint8Array(2048));
    expect(await closed).toBe(1009);
  });

  it('document size: 4413, document unchanged, other peers unaffected', async () => {
    s = await startServer({ maxDocBytes: 4096 });
    const server = s;
    const room = await createRoom(server.url);
    const big = peer(server, room.id, room.editorToken);
    const other = peer(server, room.id, room.editorToken);
    await Promise.all([big.synced(), other.synced()]);
    const before = await server.server.rooms.withDoc(room.id, (doc) => entryText(doc).toString());
    const closed = big.closed();
    big.text().insert(0, 'x'.repeat(8000));
    expect(await closed).toEqual({ code: 4413, reason: 'document size limit reached' });
    expect(await server.server.rooms.withDoc(room.id, (doc) => entryText(doc).toString())).toBe(before);
    other.text().insert(0, 'small ');
    const late = peer(server, room.id, room.viewerToken);
    await late.synced();
    await waitFor(late.doc, () => late.text().toString() === `small ${before}`, 5000, 'small edit accepted');
  });

  it('peers per room: 4429', async () => {
    s = await startServer({ maxPeersPerRoom: 2 });
    const room = await createRoom(s.url);
    const a = peer(s, room.id, room.editorToken);
    const b = peer(s, room.id, room.viewerToken);
    await Promise.all([a.synced(), b.synced()]);
    expect(await rawClose(s, room.id, room.viewerToken)).toEqual({ code: 4429, reason: 'room is full' });
  });

  it('rooms per address: 4430, while more sockets to an open room are fine', async () => {
    s = await startServer({ maxRoomsPerAddress: 2, roomCreatesPerMinute: 100 });
    const [r1, r2, r3] = [await createRoom(s.url), await createRoom(s.url), await createRoom(s.url)];
    const a = peer(s, r1.id, r1.editorToken);
    const b = peer(s, r2.id, r2.editorToken);
    await Promise.all([a.synced(), b.synced()]);
    expect(await rawClose(s, r3.id, r3.editorToken)).toEqual({ code: 4430, reason: 'too many rooms open from this address' });
    const again = peer(s, r1.id, r1.viewerToken);
    await again.synced();
    // Leaving a room frees its slot.
    b.provider.disconnect();
    const server = s;
    await until(async () => (await server.server.rooms.authorize(r3.id, r3.editorToken)) === 'editor' && (await (await fetch(`${server.url}/metrics`)).text()).includes('codex_peers 2'), 5000, 'b gone');
    const c = peer(s, r3.id, r3.editorToken);
    await c.synced();
  });

  it('a peer that stops reading is closed with 4508 once its backlog passes the cap; the others carry on', async () => {
    s = await startServer({ maxMessageBytes: 1024 ** 2 }); // backlog cap: max(4 MiB, 16 MiB) = 16 MiB
    const server = s;
    const room = await createRoom(server.url);
    const writer = peer(server, room.id, room.editorToken);
    const other = peer(server, room.id, room.viewerToken);
    await Promise.all([writer.synced(), other.synced()]);
    const stuck = new WebSocket(`${server.wsUrl}/yjs/${room.id}?token=${room.viewerToken}`);
    await new Promise((r) => stuck.once('open', r));
    (stuck as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const closed = new Promise<number>((r) => stuck.once('close', (code) => r(code)));
    const chunk = 'x'.repeat(512 * 1024);
    const slowClosed = async (): Promise<boolean> => /codex_sockets_closed_total\{code="4508"\} 1/.test(await (await fetch(`${server.url}/metrics`)).text());
    for (let i = 0; i < 200 && !(await slowClosed()); i++) {
      // insert and delete: lots of traffic, a document that stays small
      writer.doc.transact(() => writer.text().insert(0, chunk));
      writer.doc.transact(() => writer.text().delete(0, chunk.length));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await slowClosed()).toBe(true);
    (stuck as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(4508);
    writer.text().insert(0, 'still here ');
    await waitFor([other.doc, writer.doc], () => other.text().toString() === writer.text().toString(), 10_000, 'the others still sync');
  });

  it('metrics count rooms, peers, messages and storage writes', async () => {
    s = await startServer();
    const room = await createRoom(s.url);
    const a = peer(s, room.id, room.editorToken);
    await a.synced();
    a.text().insert(0, 'metric ');
    const server = s;
    await until(async () => /codex_storage_write_seconds_count [1-9]/.test(await (await fetch(`${server.url}/metrics`)).text()), 5000, 'a storage write');
    const text = await (await fetch(`${s.url}/metrics`)).text();
    expect(text).toMatch(/codex_rooms_loaded 1/);
    expect(text).toMatch(/codex_peers 1/);
    expect(text).toMatch(/codex_messages_in_total\{kind="sync-update"\} [1-9]/);
    expect(text).toMatch(/codex_bytes_in_total [1-9]/);
    const elu = Number(/^codex_event_loop_utilization (\S+)$/m.exec(text)?.[1]);
    expect(elu).toBeGreaterThan(0);
    expect(elu).toBeLessThanOrEqual(1);
    // The message counters are handed to prom-client at scrape time: they keep counting across
    // scrapes (never reset) and take in what arrived between two scrapes.
    const count = (t: string): number => Number(/codex_messages_in_total\{kind="sync-update"\} (\d+)/.exec(t)?.[1]);
    const first = count(text);
    expect(count(await (await fetch(`${s.url}/metrics`)).text())).toBe(first);
    a.text().insert(0, 'more ');
    await until(async () => count(await (await fetch(`${server.url}/metrics`)).text()) === first + 1, 5000, 'one more update counted');
    const ready = await fetch(`${s.url}/readyz`);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { storage: 'ok' } });
  });
});
