/**
 * Engine faults seen through the whole server (`PISTON_URL` pointing at real servers started here):
 * Piston unreachable, Piston refusing the job (4002), Piston going away mid-run. Every participant
 * gets an `error` then `done`, the summary is stored, and the room can run again at once.
 */
import { describe, expect, it, vi } from 'vitest';
import type { CreatedRoom, ServerFrame } from '@codex/shared';
import {
  closedPortUrl,
  connectExec,
  createRoom,
  runFrames,
  startFaultPiston,
  type ExecClient,
} from './helpers/exec-socket.js';
import { stopAfterEach } from './helpers/cleanup.js';
import { startServer, type TestServer } from './helpers/start-server.js';

const track = stopAfterEach();

async function participants(room: CreatedRoom, server: TestServer): Promise<[ExecClient, ExecClient]> {
  const editor = connectExec(server.wsUrl, room.id, room.editorToken, { name: 'Eddie' });
  const viewer = connectExec(server.wsUrl, room.id, room.viewerToken, { name: 'Vera' });
  track(editor);
  track(viewer);
  await Promise.all([editor, viewer].map((c) => c.waitFor((f) => f.type === 'hello')));
  return [editor, viewer];
}

const kinds = (c: ExecClient, run: string): string[] =>
  c.frames.filter((f: ServerFrame) => 'run' in f && f.run === run).map((f) => f.type);

describe('engine faults', () => {
  it('Piston unreachable: error then done to all, and the room can run again', async () => {
    const t = track(await startServer({ pistonUrls: [await closedPortUrl()] }));
    const room = await createRoom(t.url, { language: 'python' });
    const [editor, viewer] = await participants(room, t);
    editor.send({ type: 'run', version: '3.11.2' });
    const done = await viewer.done();
    expect(done).toMatchObject({ code: null, status: 'XX', message: expect.stringMatching(/unreachable \(ECONNREFUSED\)/) });
    expect(kinds(viewer, done.run)).toEqual(['run', 'error', 'done']);
    expect(runFrames(editor)).toEqual(runFrames(viewer));
    // again, at once: not "already running"
    editor.send({ type: 'run', version: '3.11.2' });
    const again = await editor.waitFor((f) => f.type === 'done' && f.run !== done.run);
    expect(again).toMatchObject({ status: 'XX' });
    // /readyz names the engine problem
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { checks: Record<string, string>; details: { engine: unknown } };
    expect(body.checks.engine).toMatch(/unreachable/);
    expect(body.details.engine).toEqual([{ url: expect.any(String), problem: expect.stringMatching(/unreachable/), activeJobs: 0 }]);
    const runtimes = await fetch(`${t.url}/api/runtimes`);
    expect(runtimes.status).toBe(503);
  });

  it('Piston refusing the job (4002): its message to all, then done', async () => {
    const fault = track(await startFaultPiston('notified-error'));
    const t = track(await startServer({ pistonUrls: [fault.url] }));
    const room = await createRoom(t.url, { language: 'python' });
    const [editor, viewer] = await participants(room, t);
    editor.send({ type: 'run' });
    const done = await viewer.done();
    expect(done).toMatchObject({ message: 'cobol-* runtime is unknown' });
    expect(kinds(viewer, done.run)).toEqual(['run', 'error', 'done']);
    expect(runFrames(editor)).toEqual(runFrames(viewer));
  });

  it('Piston closing mid-run (a real server we stop): error then done to all', async () => {
    const fault = track(await startFaultPiston('hang-after-start'));
    const t = track(await startServer({ pistonUrls: [fault.url] }));
    const room = await createRoom(t.url, { language: 'python' });
    const [editor, viewer] = await participants(room, t);
    editor.send({ type: 'run' });
    await viewer.waitFor((f) => f.type === 'data' && f.data === 'started\n');
    await fault.stop();
    const done = await viewer.done();
    expect(done).toMatchObject({ message: 'the engine connection was lost mid-run' });
    expect(kinds(viewer, done.run)).toEqual(['run', 'runtime', 'stage', 'data', 'error', 'done']);
    expect(runFrames(editor)).toEqual(runFrames(viewer));
    editor.send({ type: 'run' });
    const again = await editor.waitFor((f) => f.type === 'done' && f.run !== done.run);
    expect(again).toMatchObject({ message: expect.stringMatching(/unreachable/) });
  });

  it('a real Piston ignores signals: stop closes its socket and the run ends for everyone at once', async () => {
    const fault = track(await startFaultPiston('ignore-signals'));
    const t = track(await startServer({ pistonUrls: [fault.url] }));
    const room = await createRoom(t.url, { language: 'python' });
    const [editor, viewer] = await participants(room, t);
    editor.send({ type: 'run' });
    await viewer.waitFor((f) => f.type === 'data');
    editor.send({ type: 'signal', signal: 'SIGINT' });
    const done = await viewer.done();
    expect(done).toMatchObject({ signal: 'SIGINT', message: 'stopped by Eddie' });
    await vi.waitFor(() => expect(fault.received).toContainEqual({ type: 'signal', signal: 'SIGINT' }));
  });

  it('readiness fails clearly when the engine has no runtime for the default language; runs say which', async () => {
    const fault = track(await startFaultPiston('notified-error'));
    fault.runtimes = [{ language: 'bash', version: '5.2.15', aliases: ['sh'] }];
    const t = track(await startServer({ pistonUrls: [fault.url] }));
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: Record<string, string> }).checks.engine).toBe(
      'the engine has no runtime for python (it has: bash)',
    );
    const room = await createRoom(t.url, { language: 'python' });
    const [editor] = await participants(room, t);
    editor.send({ type: 'run' });
    expect(await editor.waitFor((f) => f.type === 'error')).toEqual({
      type: 'error',
      message: 'python-* runtime is unknown (the engine has: bash 5.2.15)',
    });
  });

  it('with several PISTON_URLs, runs skip a dead instance and /readyz reports each', async () => {
    const fault = track(await startFaultPiston('echo-late-run'));
    const dead = await closedPortUrl();
    const t = track(await startServer({ pistonUrls: [dead, fault.url] }));
    const room = await createRoom(t.url, { language: 'python' });
    const [editor] = await participants(room, t);
    editor.send({ type: 'run', stdin: 'bye\n' });
    expect(await editor.done()).toMatchObject({ code: 0 });
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { details: { engine: unknown } };
    expect(body.details.engine).toEqual([
      { url: dead, problem: expect.stringMatching(/unreachable/), activeJobs: 0 },
      { url: fault.url, problem: null, activeJobs: 0 },
    ]);
  });
});
