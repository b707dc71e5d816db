import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import type { CreatedRoom } from '@codex/shared';
import { startServer, type TestServer } from './helpers/start-server.js';
import { connectPeer, createRoom, entryText, waitFor, type YjsPeer } from './helpers/yjs-peer.js';

function frame(write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  write(e);
  return encoding.toUint8Array(e);
}

/** A real update (insert + delete) from a doc that shares the room's history, cut short inside its delete set. */
function truncatedUpdate(): Uint8Array {
  const d = new Y.Doc();
  const t = d.getText('x');
  t.insert(0, 'hello world, a fairly long string');
  const sv = Y.encodeStateVector(d);
  t.insert(0, 'INJECTED');
  t.delete(10, 5);
  const u = Y.encodeStateAsUpdate(d, sv);
  return u.subarray(0, u.length - 2);
}

const cases: [string, () => Uint8Array | string, number][] = [
  ['random bytes', () => Uint8Array.from(randomBytes(64)), 0],
  ['empty frame', () => new Uint8Array(0), 1007],
  ['truncated varint (type)', () => Uint8Array.of(0x80), 1007],
  ['truncated varint (sync type)', () => Uint8Array.of(0, 0xff), 1007],
  ['absurd length prefix', () => Uint8Array.of(0, 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3), 1007],
  ['sync sub-type of another protocol', () => frame((e) => { encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 7); encoding.writeVarUint8Array(e, Uint8Array.of(0)); }), 1002],
  ['auth message (server-to-client only)', () => frame((e) => { encoding.writeVarUint(e, 2); encoding.writeVarUint(e, 0); encoding.writeVarString(e, 'x'); }), 1002],
  ['unknown message type', () => Uint8Array.of(9, 1, 2, 3), 1002],
  ['garbage update payload', () => frame((e) => { encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 2); encoding.writeVarUint8Array(e, Uint8Array.from(randomBytes(40))); }), 1007],
  ['truncated real update', () => frame((e) => { encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 2); encoding.writeVarUint8Array(e, truncatedUpdate()); }), 1007],
  ['garbage sync step 2', () => frame((e) => { encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, Uint8Array.of(5, 1, 2)); }), 1007],
  ['garbage state vector', () => frame((e) => { encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, Uint8Array.of(3, 0xff)); }), 1007],
  ['awareness with bad JSON', () => frame((e) => { encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, frame((a) => { encoding.writeVarUint(a, 1); encoding.writeVarUint(a, 5); encoding.writeVarUint(a, 1); encoding.writeVarString(a, '{nope'); })); }), 1007],
  ['trailing bytes', () => Uint8Array.of(3, 0, 0), 1007],
  ['text frame', () => 'hello', 1002],
];

describe('malformed frames close one socket and change nothing', () => {
  let s: TestServer;
  let room: CreatedRoom;
  let a: YjsPeer;
  let b: YjsPeer;
  beforeAll(async () => {
    s = await startServer();
    room = await createRoom(s.url);
    a = connectPeer(s.wsUrl, room.id, room.editorToken);
    b = connectPeer(s.wsUrl, room.id, room.editorToken);
    await Promise.all([a.synced(), b.synced()]);
  });
  afterAll(async () => {
    a.destroy();
    b.destroy();
    await s.stop();
  });

  it.each(cases)('%s', async (_name, make, expectedCode) => {
    const before = await s.server.rooms.withDoc(room.id, (doc) => ({ sv: Y.encodeStateVector(doc), text: entryText(doc).toString() }));
    const ws = new WebSocket(`${s.wsUrl}/yjs/${room.id}?token=${room.editorToken}`);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    await new Promise((r) => ws.once('open', r));
    const payload = make();
    ws.send(payload, { binary: typeof payload !== 'string' });
    const code = await closed;
    if (expectedCode === 0) expect([1002, 1007]).toContain(code);
    else expect(code).toBe(expectedCode);
    const after = await s.server.rooms.withDoc(room.id, (doc) => ({ sv: Y.encodeStateVector(doc), text: entryText(doc).toString() }));
    expect(after.text).toBe(before.text);
    expect(Buffer.from(after.sv).equals(Buffer.from(before.sv))).toBe(true);
    // The room's other peers carry on.
    const mark = `ok-${Math.random().toString(36).slice(2)}`;
    a.text().insert(0, mark);
    await waitFor(b.doc, () => b.text().toString().startsWith(mark), 5000, 'b sees a’s edit');
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  });

  it('random frames, many seeds, never change the room or stop the server', async () => {
    const before = await s.server.rooms.withDoc(room.id, (doc) => Y.encodeStateAsUpdate(doc));
    for (let i = 0; i < 40; i++) {
      const ws = new WebSocket(`${s.wsUrl}/yjs/${room.id}?token=${room.editorToken}`);
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      await new Promise((r) => ws.once('open', r));
      const junk = Uint8Array.from(randomBytes(1 + (i % 16) * 8));
      junk[0] = i % 4; // aim at each message type
      ws.send(junk);
      // a frame that happens to parse is fine; the socket must stay usable or close cleanly
      setTimeout(() => ws.close(), 200);
      expect([1000, 1002, 1005, 1007]).toContain(await closed);
    }
    const after = await s.server.rooms.withDoc(room.id, (doc) => Y.encodeStateAsUpdate(doc));
    expect(Buffer.from(after).equals(Buffer.from(before))).toBe(true);
  });
});
