/**
 * Bounded replay and slow participants, with the embedded engine: a joiner asking for frames that
 * left the bounded buffer is told with a `gap` frame; a participant whose socket never reads does
 * not hold up the others, and every participant's frames plus its gaps cover the run exactly.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedRoom, ServerFrame } from '@codex/shared';
import { connectExec, createRoom, type ExecClient } from './helpers/exec-socket.js';
import { startServer, type TestServer } from './helpers/start-server.js';
import { writeEntry } from './helpers/yjs-peer.js';

let t: TestServer;
const clients: ExecClient[] = [];
beforeAll(async () => {
  t = await startServer({ execBufferBytes: 64 * 1024 });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await t.stop();
});

async function roomWith(program: string): Promise<CreatedRoom> {
  const room = await createRoom(t.url, { language: 'python' });
  await writeEntry(t.wsUrl, room, program);
  return room;
}

/** Checks that numbered frames and gap frames of `run` cover 0..n-1 exactly, in order. */
function coverage(frames: ServerFrame[], run: string): number {
  let next = 0;
  for (const f of frames) {
    if (f.type === 'gap' && f.run === run) {
      expect(f.from).toBe(next);
      next = f.to + 1;
    } else if ('seq' in f && typeof f.seq === 'number' && 'run' in f && f.run === run) {
      expect(f.seq).toBe(next);
      next += 1;
    }
  }
  return next;
}

describe('bounded replay and slow participants', () => {
  it('tells a late joiner which frames left the buffer, then replays the rest and done', async () => {
    // ~400 KiB in 100 flushed writes: far more than the 64 KiB buffer
    const room = await roomWith('import sys\nfor i in range(100):\n    print(str(i).rjust(4) + "x" * 4000, flush=True)\n');
    const owner = connectExec(t.wsUrl, room.id, room.ownerToken, { name: 'Olive' });
    clients.push(owner);
    await owner.waitFor((f) => f.type === 'hello');
    owner.send({ type: 'run' });
    const done = await owner.done();
    const total = coverage(owner.frames, done.run);

    const late = connectExec(t.wsUrl, room.id, room.viewerToken, { name: 'Late' });
    clients.push(late);
    await late.done(done.run);
    const kinds = late.frames.map((f) => f.type);
    expect(kinds.slice(0, 3)).toEqual(['hello', 'run', 'gap']);
    expect(late.frames[2]).toMatchObject({ type: 'gap', run: done.run, from: 0 });
    expect(coverage(late.frames, done.run)).toBe(total);
    expect(late.frames.at(-1)).toEqual(done);
    // what was replayed is byte-identical to what the owner got live
    const tail = late.raw.slice(3, -1);
    expect(owner.raw.slice(-1 - tail.length, -1)).toEqual(tail);
  });

  it('a participant that never reads does not hold up the others', async () => {
    // 4 MiB, half on each stream
    const room = await roomWith(
      'import sys\nchunk = ("y" * 1023 + "\\n") * 64\nfor i in range(64):\n    s = sys.stdout if i % 2 == 0 else sys.stderr\n    s.write(chunk)\n    s.flush()\n',
    );
    const stalled = net.connect(t.port, '127.0.0.1');
    await new Promise((r) => stalled.once('connect', r));
    stalled.write(
      `GET /api/exec/${room.id}?token=${room.viewerToken}&name=stalled HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await new Promise((r) => stalled.once('data', r));
    stalled.pause();

    const owner = connectExec(t.wsUrl, room.id, room.ownerToken, { name: 'Olive' });
    const viewer = connectExec(t.wsUrl, room.id, room.viewerToken, { name: 'Vera' });
    clients.push(owner, viewer);
    await Promise.all([owner, viewer].map((c) => c.waitFor((f) => f.type === 'hello')));
    owner.send({ type: 'run' });
    const [d1, d2] = await Promise.all([owner.done(undefined, 30_000), viewer.done(undefined, 30_000)]);
    expect(d1).toEqual(d2);
    expect(d1.code).toBe(0);
    const total = coverage(owner.frames, d1.run);
    expect(coverage(viewer.frames, d1.run)).toBe(total);
    const bytes = (c: ExecClient): number =>
      c.frames.reduce((n, f) => n + (f.type === 'data' && f.stream !== 'stdin' ? f.data.length : 0), 0);
    // a reader that keeps up gets everything (gaps only if it fell behind)
    if (!owner.frames.some((f) => f.type === 'gap')) expect(bytes(owner)).toBe(4 * 1024 * 1024);
    stalled.destroy();
  });
});
