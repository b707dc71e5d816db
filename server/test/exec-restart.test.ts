/**
 * Shutdown and restart during a run, with the embedded engine: every participant gets `error` and
 * `done` before its socket closes with 1001, the summary is in the stored document after the
 * restart, and the room runs again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DOC_KEYS, type RunSummary } from '@codex/shared';
import { connectExec, createRoom, type ExecClient } from './helpers/exec-socket.js';
import { startServer, type TestServer } from './helpers/start-server.js';
import { connectPeer, waitFor, writeEntry, type YjsPeer } from './helpers/yjs-peer.js';

const FOREVER = 'import time\nprint("started", flush=True)\nwhile True:\n    time.sleep(0.1)\n';
const servers: TestServer[] = [];
const clients: ExecClient[] = [];
const peers: YjsPeer[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const p of peers.splice(0)) p.destroy();
  for (const s of servers.splice(0)) await s.stop();
});

describe('restart during a run', () => {
  it('ends the run with done to all, stores its summary, and the room runs again after restart', async () => {
    const first = await startServer();
    const room = await createRoom(first.url, { language: 'python' });
    await writeEntry(first.wsUrl, room, FOREVER);

    const editor = connectExec(first.wsUrl, room.id, room.editorToken, { name: 'Eddie' });
    const viewer = connectExec(first.wsUrl, room.id, room.viewerToken, { name: 'Vera' });
    clients.push(editor, viewer);
    await Promise.all([editor, viewer].map((c) => c.waitFor((f) => f.type === 'hello')));
    editor.send({ type: 'run' });
    await viewer.waitFor((f) => f.type === 'data' && f.data === 'started\n', { ms: 20_000 });

    await first.stop({ keepData: true });
    for (const c of [editor, viewer]) {
      const done = await c.done();
      expect(done).toMatchObject({ status: 'XX', message: 'the server is shutting down' });
      const run = c.frames.filter((f) => 'run' in f && f.run === done.run).map((f) => f.type);
      expect(run.slice(-2)).toEqual(['error', 'done']);
      expect(await c.closed).toMatchObject({ code: 1001 });
    }

    const second = await startServer({ dataDir: first.dataDir });
    servers.push(second);
    const peer = connectPeer(second.wsUrl, room.id, room.viewerToken);
    peers.push(peer);
    await peer.synced();
    const runs = peer.doc.getArray<RunSummary>(DOC_KEYS.runs);
    await waitFor(peer.doc, () => runs.length === 1);
    expect(runs.get(0)).toMatchObject({ by: 'Eddie', language: 'python', message: 'the server is shutting down', output: 'started\n' });

    const again = connectExec(second.wsUrl, room.id, room.editorToken, { name: 'Eddie' });
    clients.push(again);
    await again.waitFor((f) => f.type === 'hello');
    again.send({ type: 'run' });
    await again.waitFor((f) => f.type === 'data' && f.data === 'started\n', { ms: 20_000 });
    again.send({ type: 'signal', signal: 'SIGKILL' });
    expect(await again.done()).toMatchObject({ signal: 'SIGKILL' });
    await waitFor(peer.doc, () => runs.length === 2);
  });
});
