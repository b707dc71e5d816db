import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as awarenessProtocol from 'y-protocols/awareness';
import { startServer, type TestServer } from './helpers/start-server.js';
import { connectPeer, createRoom, until, waitFor, type YjsPeer } from './helpers/yjs-peer.js';

describe('y-websocket sync with real providers', () => {
  let s: TestServer;
  const peers: YjsPeer[] = [];
  const peer = (roomId: string, token: string): YjsPeer => {
    const p = connectPeer(s.wsUrl, roomId, token);
    peers.push(p);
    return p;
  };
  beforeAll(async () => {
    s = await startServer({ heartbeatMs: 200 });
  });
  afterAll(async () => {
    for (const p of peers) p.destroy();
    await s.stop();
  });

  it('two editors converge after concurrent edits, and a late joiner gets the full state', async () => {
    const room = await createRoom(s.url);
    const a = peer(room.id, room.editorToken);
    const b = peer(room.id, room.ownerToken);
    await Promise.all([a.synced(), b.synced()]);
    const start = a.text().toString();
    expect(b.text().toString()).toBe(start);
    // Concurrent: both edit before either sees the other's change.
    for (let i = 0; i < 20; i++) {
      a.text().insert(0, `a${i};`);
      b.text().insert(b.text().length, `b${i};`);
    }
    await waitFor([a.doc, b.doc], () => a.text().toString() === b.text().toString() && a.text().toString().includes('b19;') && a.text().toString().includes('a19;'), 10_000, 'convergence');
    const late = peer(room.id, room.viewerToken);
    await late.synced();
    expect(late.text().toString()).toBe(a.text().toString());
  });

  it('awareness appears and disappears when a client leaves', async () => {
    const room = await createRoom(s.url);
    const a = peer(room.id, room.editorToken);
    const b = peer(room.id, room.viewerToken); // viewers may send awareness
    await Promise.all([a.synced(), b.synced()]);
    b.provider.awareness.setLocalStateField('user', { name: 'Bea' });
    const bId = b.doc.clientID;
    await until(() => (a.provider.awareness.getStates().get(bId) as { user?: { name: string } } | undefined)?.user?.name === 'Bea', 5000, 'awareness of b on a');
    b.provider.disconnect();
    await until(() => !a.provider.awareness.getStates().has(bId), 5000, 'awareness removal');
  });

  it('drops a dead peer (no pongs) by heartbeat and removes its presence', async () => {
    const room = await createRoom(s.url);
    const a = peer(room.id, room.editorToken);
    await a.synced();
    // A raw client that announces presence and then never answers pings (autoPong off).
    const ws = new WebSocket(`${s.wsUrl}/yjs/${room.id}?token=${room.editorToken}`, { autoPong: false });
    await new Promise((r) => ws.once('open', r));
    const ghost = new Y.Doc();
    const aw = new awarenessProtocol.Awareness(ghost);
    aw.setLocalStateField('user', { name: 'ghost' });
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, 1);
    encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(aw, [ghost.clientID]));
    ws.send(encoding.toUint8Array(e));
    await until(() => a.provider.awareness.getStates().has(ghost.clientID), 5000, 'ghost presence');
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    await until(() => !a.provider.awareness.getStates().has(ghost.clientID), 5000, 'ghost removed after heartbeat');
    expect(await closed).toBe(1006); // terminated, no close frame
    aw.destroy();
  });

  it('answers query-awareness with every known state', async () => {
    const room = await createRoom(s.url);
    const a = peer(room.id, room.editorToken);
    await a.synced();
    a.provider.awareness.setLocalStateField('user', { name: 'Ann' });
    const ws = new WebSocket(`${s.wsUrl}/yjs/${room.id}?token=${room.viewerToken}`);
    const got = new Promise<Map<number, unknown>>((resolve) => {
      ws.on('message', (data: Buffer) => {
        const d = decoding.createDecoder(new Uint8Array(data));
        if (decoding.readVarUint(d) !== 1) return;
        const doc = new Y.Doc();
        const aw = new awarenessProtocol.Awareness(doc);
        awarenessProtocol.applyAwarenessUpdate(aw, decoding.readVarUint8Array(d), null);
        if (aw.getStates().has(a.doc.clientID)) resolve(aw.getStates());
        aw.destroy();
      });
    });
    await new Promise((r) => ws.once('open', r));
    await until(() => s.server.rooms.isLoaded(room.id));
    ws.send(Uint8Array.of(3));
    const states = await got;
    expect(states.get(a.doc.clientID)).toMatchObject({ user: { name: 'Ann' } });
    ws.close();
  });

  it('a viewer’s edits never reach anyone, and the viewer converges to the editors’ text', async () => {
    const room = await createRoom(s.url);
    const editor = peer(room.id, room.editorToken);
    const viewer = peer(room.id, room.viewerToken);
    await Promise.all([editor.synced(), viewer.synced()]);
    const received: Uint8Array[] = [];
    editor.doc.on('update', (u: Uint8Array, origin: unknown) => {
      if (origin === editor.provider) received.push(u);
    });
    viewer.text().insert(0, 'VIEWER WAS HERE ');
    viewer.doc.getMap('room').set('language', 'hacked');
    editor.text().insert(editor.text().length, '# editor line\n');
    await waitFor([viewer.doc, editor.doc], () => viewer.text().toString() === editor.text().toString(), 5000, 'viewer convergence');
    expect(viewer.text().toString()).not.toContain('VIEWER');
    // A late joiner and the server's copy have none of it either.
    const late = peer(room.id, room.ownerToken);
    await late.synced();
    expect(late.text().toString()).toBe(editor.text().toString());
    expect(editor.text().toString()).not.toContain('VIEWER');
    const serverText = await s.server.rooms.withDoc(room.id, (doc) => doc.getMap('room').get('language'));
    expect(serverText).toBe('python');
    expect(received.every((u) => !JSON.stringify(Y.decodeUpdate(u)).includes('VIEWER'))).toBe(true);
  });

  it('a viewer’s offline edits inside its sync step 2 are neither applied nor relayed', async () => {
    const room = await createRoom(s.url);
    const editor = peer(room.id, room.editorToken);
    await editor.synced();
    // The viewer's provider starts offline with content of its own (same room shape, its own client id).
    const viewer = connectPeer(s.wsUrl, room.id, room.viewerToken, { connect: false });
    peers.push(viewer);
    viewer.doc.getMap('files').set('rogue', new Y.Map([['name', 'rogue.py']]) as Y.Map<unknown>);
    viewer.doc.getText('scratch').insert(0, 'OFFLINE VIEWER TEXT');
    viewer.provider.connect();
    await viewer.synced();
    await waitFor([viewer.doc], () => viewer.doc.getText('scratch').toString() === '' && !viewer.doc.getMap('files').has('rogue'), 5000, 'viewer’s own items taken back');
    expect(viewer.text().toString()).toBe(editor.text().toString());
    const late = peer(room.id, room.ownerToken);
    await late.synced();
    expect(late.doc.getText('scratch').toString()).toBe('');
    expect(late.doc.getMap('files').has('rogue')).toBe(false);
    expect(editor.doc.getMap('files').has('rogue')).toBe(false);
  });

  it('refuses a wrong token with 4403 and an unknown room with 4404, with reasons', async () => {
    const room = await createRoom(s.url);
    const wrong = peer(room.id, 'not-a-token');
    expect(await wrong.closed()).toEqual({ code: 4403, reason: 'invalid token' });
    const missing = peer(room.id, '');
    expect((await missing.closed()).code).toBe(4403);
    const unknown = peer('AAAAAAAAAAAAAAAAAAAAAA', room.ownerToken);
    expect(await unknown.closed()).toEqual({ code: 4404, reason: 'unknown room' });
  });

  it('unloads a room after its last peer leaves and serves it again from storage', async () => {
    const t = await startServer({ roomUnloadMs: 100 });
    try {
      const room = await createRoom(t.url);
      const a = connectPeer(t.wsUrl, room.id, room.editorToken);
      await a.synced();
      a.text().insert(0, 'kept ');
      await until(() => t.server.rooms.isLoaded(room.id));
      a.destroy();
      await until(() => !t.server.rooms.isLoaded(room.id), 5000, 'unload');
      const b = connectPeer(t.wsUrl, room.id, room.viewerToken);
      await b.synced();
      expect(b.text().toString().startsWith('kept ')).toBe(true);
      b.destroy();
    } finally {
      await t.stop();
    }
  });
});
