/**
 * The exec channel's edges (against a scriptable Piston-protocol server, so no program is needed):
 * tokens and unknown rooms, a malformed frame ends one socket only, display names, caps on stdin
 * and files, per-room and per-participant run limits, and viewers allowed to run by the owner.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ROOM_KEYS, DOC_KEYS } from '@codex/shared';
import { connectExec, createRoom, startFaultPiston, type ExecClient } from './helpers/exec-socket.js';
import { stopAfterEach } from './helpers/cleanup.js';
import { startServer, type TestServer } from './helpers/start-server.js';
import { connectPeer, entryText, waitFor } from './helpers/yjs-peer.js';

const track = stopAfterEach();

async function setup(overrides: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const fault = track(await startFaultPiston('echo-late-run'));
  return track(await startServer({ pistonUrls: [fault.url], ...overrides }));
}

function join(s: TestServer, roomId: string, token: string, name?: string): ExecClient {
  return track(connectExec(s.wsUrl, roomId, token, name === undefined ? {} : { name }));
}

const errorAfter = (c: ExecClient, from: number) => c.waitFor((f) => f.type === 'error' && f.run === undefined, { from });

describe('exec channel limits', () => {
  it('closes with 4403 for a wrong token and 4404 for an unknown room', async () => {
    const s = await setup();
    const room = await createRoom(s.url);
    expect(await join(s, room.id, 'nope').closed).toMatchObject({ code: 4403 });
    expect(await join(s, 'no-such-room', room.ownerToken).closed).toMatchObject({ code: 4404 });
    expect(await join(s, '!', room.ownerToken).closed).toMatchObject({ code: 4404 });
  });

  it('a malformed frame closes that one socket; the run and the others go on', async () => {
    const s = await setup();
    const room = await createRoom(s.url);
    const a = join(s, room.id, room.editorToken, 'A');
    const b = join(s, room.id, room.editorToken, 'B');
    await Promise.all([a, b].map((c) => c.waitFor((f) => f.type === 'hello')));
    a.send({ type: 'run' });
    await b.waitFor((f) => f.type === 'stage');
    b.send('this is not json');
    expect(await b.waitFor((f) => f.type === 'error')).toMatchObject({ message: 'frame is not valid JSON' });
    expect(await b.closed).toMatchObject({ code: 1007 });
    a.send({ type: 'teleport' });
    expect(await a.closed).toMatchObject({ code: 1007 });
    const c = join(s, room.id, room.editorToken, 'C');
    await c.waitFor((f) => f.type === 'stage'); // replayed: the run is still going
    c.send({ type: 'data', stream: 'stdin', data: 'bye\n' });
    expect(await c.done()).toMatchObject({ code: 0 });
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  });

  it('trims and caps display names', async () => {
    const s = await setup();
    const room = await createRoom(s.url);
    const long = join(s, room.id, room.viewerToken, `  ${'é'.repeat(100)}  `);
    expect(await long.waitFor((f) => f.type === 'hello')).toMatchObject({ name: 'é'.repeat(64) });
  });

  it('caps stdin and files, and limits runs per room and per participant', async () => {
    const s = await setup({ execMaxStdinBytes: 16, execMaxFilesBytes: 200, execRunsPerMinute: 2 });
    const room = await createRoom(s.url);
    const a = join(s, room.id, room.editorToken, 'A');
    const b = join(s, room.id, room.ownerToken, 'B');
    await Promise.all([a, b].map((c) => c.waitFor((f) => f.type === 'hello')));

    let from = a.frames.length;
    a.send({ type: 'run', stdin: 'x'.repeat(17) });
    expect(await errorAfter(a, from)).toMatchObject({ message: 'stdin is too large (the limit is 16 bytes)' });

    a.send({ type: 'run' });
    await a.waitFor((f) => f.type === 'stage');
    from = a.frames.length;
    a.send({ type: 'data', stream: 'stdin', data: 'y'.repeat(17) });
    expect(await errorAfter(a, from)).toMatchObject({ message: 'stdin is too large (the limit is 16 bytes per frame)' });
    a.send({ type: 'data', stream: 'stdin', data: 'bye\n' });
    const first = await a.done();

    // per participant: ceil(2 / 3) = 1 run a minute
    from = a.frames.length;
    a.send({ type: 'run' });
    expect(await errorAfter(a, from)).toMatchObject({ message: expect.stringMatching(/^you started too many runs; try again in \d+ s$/) });

    // files over the cap (the starter file is ~100 bytes; make it larger through the document)
    const w = connectPeer(s.wsUrl, room.id, room.ownerToken);
    await w.synced();
    w.doc.transact(() => entryText(w.doc).insert(0, '#'.repeat(300) + '\n'));
    const r = connectPeer(s.wsUrl, room.id, room.viewerToken);
    await r.synced();
    await waitFor(r.doc, () => entryText(r.doc).length > 300);
    from = b.frames.length;
    b.send({ type: 'run' });
    expect(await errorAfter(b, from)).toMatchObject({ message: expect.stringMatching(/^the files are too large to run \(\d+ bytes; the limit is 200\)$/) });
    w.doc.transact(() => entryText(w.doc).delete(0, 301));
    await waitFor(r.doc, () => entryText(r.doc).length < 200);
    b.send({ type: 'run' });
    await b.waitFor((f) => f.type === 'stage' && f.run !== first.run);
    b.send({ type: 'data', stream: 'stdin', data: 'bye\n' });
    await b.waitFor((f) => f.type === 'done' && f.run !== first.run);

    // per room: 2 a minute (refused requests do not count)
    const c = join(s, room.id, room.editorToken, 'C');
    await c.waitFor((f) => f.type === 'hello');
    from = c.frames.length;
    c.send({ type: 'run' });
    expect(await errorAfter(c, from)).toMatchObject({ message: expect.stringMatching(/^this room started too many runs; try again in \d+ s$/) });
    w.destroy();
    r.destroy();
  });

  it('viewers may run and type when the owner allows it', async () => {
    const s = await setup();
    const room = await createRoom(s.url);
    const owner = connectPeer(s.wsUrl, room.id, room.ownerToken);
    await owner.synced();
    owner.doc.getMap(DOC_KEYS.room).set(ROOM_KEYS.viewersCanRun, true);
    const check = connectPeer(s.wsUrl, room.id, room.viewerToken);
    await check.synced();
    await waitFor(check.doc, () => check.doc.getMap(DOC_KEYS.room).get(ROOM_KEYS.viewersCanRun) === true);
    const v = join(s, room.id, room.viewerToken, 'Vera');
    expect(await v.waitFor((f) => f.type === 'hello')).toMatchObject({ role: 'viewer', canRun: true });
    v.send({ type: 'run' });
    await v.waitFor((f) => f.type === 'stage');
    v.send({ type: 'data', stream: 'stdin', data: 'bye\n' });
    expect(await v.done()).toMatchObject({ code: 0 });
    expect(v.frames.find((f) => f.type === 'run')).toMatchObject({ by: 'Vera' });
    owner.destroy();
    check.destroy();
  });

  it('drops a participant that stops answering pings (heartbeat)', async () => {
    const s = await setup({ heartbeatMs: 100 });
    const room = await createRoom(s.url);
    const silent = new WebSocket(`${s.wsUrl}/api/exec/${room.id}?token=${room.viewerToken}`, { autoPong: false });
    const alive = join(s, room.id, room.viewerToken, 'Alive');
    const code = await new Promise<number>((resolve) => silent.on('close', (c) => resolve(c)));
    expect(code).toBe(1006);
    expect(alive.ws.readyState).toBe(WebSocket.OPEN);
  });
});
