/**
 * The shared execution channel with the real embedded engine and real programs: one run seen
 * identically by an owner, an editor and two viewers; stdin from the other editor; stop; a late
 * joiner's replay; `?since=`; viewers refused; one run at a time; the summary in the document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { DOC_KEYS, type CreatedRoom, type DoneFrame, type RunSummary, type ServerFrame } from '@codex/shared';
import { connectExec, createRoom, runFrames, type ExecClient } from './helpers/exec-socket.js';
import { startServer, type TestServer } from './helpers/start-server.js';
import { connectPeer, entryText, waitFor, writeEntry, type YjsPeer } from './helpers/yjs-peer.js';

const TWO_LINES = 'a = input()\nprint("echo 1:", a, flush=True)\nb = input()\nprint("echo 2:", b, flush=True)\n';
const FOREVER = 'import time\nprint("started", flush=True)\nwhile True:\n    time.sleep(0.1)\n';

let t: TestServer;
const open: ExecClient[] = [];
const peers: YjsPeer[] = [];

beforeAll(async () => {
  t = await startServer();
});
afterAll(async () => {
  for (const c of open) c.close();
  for (const p of peers) p.destroy();
  await t.stop();
});

function join(room: CreatedRoom, token: string, name: string, since?: number): ExecClient {
  const c = connectExec(t.wsUrl, room.id, token, { name, ...(since !== undefined ? { since } : {}) });
  open.push(c);
  return c;
}

/** Creates a python room whose entry file holds `program`, typed through a real y-websocket provider. */
async function roomWith(program: string): Promise<{ room: CreatedRoom; peer: YjsPeer }> {
  const room = await createRoom(t.url, { language: 'python' });
  await writeEntry(t.wsUrl, room, program);
  const reader = connectPeer(t.wsUrl, room.id, room.viewerToken);
  peers.push(reader);
  await reader.synced();
  return { room, peer: reader };
}

async function hello(c: ExecClient): Promise<ServerFrame> {
  return c.waitFor((f) => f.type === 'hello', { what: 'hello' });
}

const stdout = (c: ExecClient): string =>
  c.frames.flatMap((f) => (f.type === 'data' && f.stream !== 'stdin' ? [f.data] : [])).join('');

describe('one run, every participant', () => {
  it('relays the same frames to owner, editor and two viewers; the other editor types the input', async () => {
    const { room, peer } = await roomWith(TWO_LINES);
    const owner = join(room, room.ownerToken, '  Olive  ');
    const editor = join(room, room.editorToken, 'Eddie');
    const v1 = join(room, room.viewerToken, 'Vera');
    const v2 = join(room, room.viewerToken, '');
    expect(await hello(owner)).toEqual({ type: 'hello', role: 'owner', name: 'Olive', canRun: true, run: null });
    expect(await hello(v1)).toEqual({ type: 'hello', role: 'viewer', name: 'Vera', canRun: false, run: null });
    expect(await hello(v2)).toMatchObject({ name: 'Anonymous' });
    await hello(editor);

    editor.send({ type: 'run' });
    const started = await owner.waitFor((f) => f.type === 'run');
    expect(started).toMatchObject({ type: 'run', by: 'Eddie', language: 'python' });
    // typed before the program runs: held by the server until Piston's stage run
    owner.send({ type: 'data', stream: 'stdin', data: 'hello\n' });
    await owner.waitFor((f) => f.type === 'data' && f.data.includes('echo 1: hello'));
    owner.send({ type: 'data', stream: 'stdin', data: 'world\n' });
    const done = await owner.done();
    expect(done).toMatchObject({ type: 'done', run: started.type === 'run' ? started.run : '', code: 0, signal: null });
    await Promise.all([editor.done(), v1.done(), v2.done()]);

    expect(stdout(owner)).toBe('echo 1: hello\necho 2: world\n');
    const reference = runFrames(owner);
    for (const c of [editor, v1, v2]) expect(runFrames(c)).toEqual(reference);
    // numbered frames: seq from 0, no gaps
    const seqs = owner.frames.flatMap((f) => ('seq' in f && typeof f.seq === 'number' ? [f.seq] : []));
    expect(seqs).toEqual(seqs.map((_, i) => i));
    const echoes = owner.frames.filter((f) => f.type === 'data' && f.stream === 'stdin');
    expect(echoes).toMatchObject([
      { stream: 'stdin', data: 'hello\n', by: 'Olive' },
      { stream: 'stdin', data: 'world\n', by: 'Olive' },
    ]);

    // the summary reaches every document peer
    const runs = peer.doc.getArray<RunSummary>(DOC_KEYS.runs);
    await waitFor(peer.doc, () => runs.length === 1, 10_000, 'the run summary');
    expect(runs.get(0)).toMatchObject({
      run: done.run, by: 'Eddie', language: 'python', code: 0, signal: null, output: 'echo 1: hello\necho 2: world\n',
    });
    expect(runs.get(0).version).toMatch(/^3\./);
  });

  it('stops a program for everyone and refuses viewers', async () => {
    const { room } = await roomWith(FOREVER);
    const editor = join(room, room.editorToken, 'Eddie');
    const viewer = join(room, room.viewerToken, 'Vera');
    await Promise.all([hello(editor), hello(viewer)]);

    viewer.send({ type: 'run' });
    expect(await viewer.waitFor((f) => f.type === 'error')).toEqual({ type: 'error', message: 'viewers cannot run programs in this room' });

    editor.send({ type: 'run' });
    await viewer.waitFor((f) => f.type === 'data' && f.data === 'started\n');
    const from = viewer.frames.length;
    viewer.send({ type: 'data', stream: 'stdin', data: 'x\n' });
    viewer.send({ type: 'signal', signal: 'SIGKILL' });
    expect(await viewer.waitFor((f) => f.type === 'error', { from })).toMatchObject({ message: 'viewers cannot type input in this room' });
    await viewer.waitFor((f) => f.type === 'error' && f.message.includes('stop'), { from });
    // a second run while one is going: an error to the sender alone
    editor.send({ type: 'run' });
    expect(await editor.waitFor((f) => f.type === 'error' && f.run === undefined)).toMatchObject({
      message: 'a program is already running in this room',
    });

    const t0 = Date.now();
    editor.send({ type: 'signal', signal: 'SIGKILL' });
    const done = await viewer.done();
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(done).toMatchObject({ signal: 'SIGKILL', message: 'stopped by Eddie' });
    const ed = (await editor.done()) as DoneFrame;
    expect(ed).toEqual(done);
    // the refusals went to their senders alone
    expect(viewer.frames.filter((f) => f.type === 'error' && f.message.includes('already running'))).toHaveLength(0);
    expect(editor.frames.filter((f) => f.type === 'error' && f.message.startsWith('viewers'))).toHaveLength(0);

    // the room can run again at once
    editor.send({ type: 'run' });
    await editor.waitFor((f) => f.type === 'data' && f.data === 'started\n' && f.run !== done.run);
    editor.send({ type: 'signal', signal: 'SIGTERM' });
    await editor.waitFor((f) => f.type === 'done' && f.run !== done.run);
  });

  it('replays the run to a participant who joins mid-run, then goes on live; ?since= skips', async () => {
    const program = 'for i in range(3):\n    print("line", i, flush=True)\nname = input()\nprint("bye", name, flush=True)\n';
    const { room } = await roomWith(program);
    const owner = join(room, room.ownerToken, 'Olive');
    await hello(owner);
    owner.send({ type: 'run' });
    await owner.waitFor((f) => f.type === 'data' && f.data.includes('line 2'));

    const late = join(room, room.viewerToken, 'Late');
    const runFrame = owner.frames.find((f) => f.type === 'run');
    expect(await hello(late)).toMatchObject({ run: runFrame?.type === 'run' ? runFrame.run : 'x' });
    await late.waitFor((f) => f.type === 'data' && f.data.includes('line 2'));
    const skip = join(room, room.viewerToken, 'Skip', 2);
    await skip.waitFor((f) => f.type === 'data' && f.data.includes('line 2'));
    // A contract-only client (no `hello=1`) first receives the run's `run` frame, then seq 0, 1, ...
    const plain = connectExec(t.wsUrl, room.id, room.viewerToken, { name: 'Plain', hello: false });
    open.push(plain);
    await plain.waitFor((f) => f.type === 'data' && f.data.includes('line 2'));
    expect(plain.frames[0]).toEqual(runFrame);
    expect(plain.frames.slice(1, 4).map((f) => ('seq' in f ? f.seq : null))).toEqual([0, 1, 2]);

    owner.send({ type: 'data', stream: 'stdin', data: 'Ann\n' });
    await Promise.all([owner.done(), late.done(), skip.done()]);
    expect(runFrames(late)).toEqual(runFrames(owner));
    const skipSeqs = skip.frames.flatMap((f) => ('seq' in f && typeof f.seq === 'number' ? [f.seq] : []));
    expect(skipSeqs[0]).toBe(2);
    expect(skip.frames[1]?.type).toBe('run');
    expect(stdout(late)).toContain('bye Ann');

    // after the run, a joiner still gets it (run, frames, done) from the kept buffer
    const after = join(room, room.viewerToken, 'After');
    await after.done();
    expect(runFrames(after)).toEqual(runFrames(owner));
  });

  it('a compile error ends the run with the compile stage\'s exit code; input typed meanwhile is echoed, never run', async () => {
    const room = await createRoom(t.url, { language: 'c' });
    await writeEntry(t.wsUrl, room, 'int main(void) { return x; }\n');

    const editor = join(room, room.editorToken, 'Eddie');
    await hello(editor);
    editor.send({ type: 'run', stdin: 'ignored\n' });
    const done = await editor.done();
    expect(done).toMatchObject({ code: 1, signal: null });
    const kinds = editor.frames.filter((f) => 'run' in f && f.run === done.run).map((f) => f.type);
    expect(kinds.slice(0, 4)).toEqual(['run', 'data', 'runtime', 'stage']);
    expect(editor.frames.find((f) => f.type === 'stage')).toMatchObject({ stage: 'compile' });
    expect(editor.frames.some((f) => f.type === 'stage' && f.stage === 'run')).toBe(false);
    expect(editor.frames.find((f) => f.type === 'exit')).toMatchObject({ stage: 'compile', code: 1 });
    expect(editor.frames.filter((f) => f.type === 'data' && f.stream === 'stderr').map((f) => (f.type === 'data' ? f.data : '')).join('')).toContain("'x' undeclared");
  });

  it('serves /api/runtimes and /api/execute from the embedded engine (no PISTON_URL)', async () => {
    const list = (await (await fetch(`${t.url}/api/runtimes`)).json()) as { language: string; version: string }[];
    expect(list.find((r) => r.language === 'python')?.version).toMatch(/^3\./);
    const res = await fetch(`${t.url}/api/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'py', version: '3', files: [{ name: 'a.py', content: 'print(6 * 7)' }] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ language: 'python', run: { stdout: '42\n', code: 0, signal: null } });
  });
});
