/**
 * `GET /api/runtimes` and `POST /api/execute`, and the exec channel reaching the embedded engine on
 * its own port through `PISTON_URL`, exactly as a real Piston is reached in production.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configWith } from '../src/config.js';
import { startEmbeddedEngine } from '../src/exec/engine/embedded.js';
import { silentLogger } from '../src/log.js';
import { connectExec, createRoom } from './helpers/exec-socket.js';
import { startServer, type TestServer } from './helpers/start-server.js';

type Engine = Awaited<ReturnType<typeof startEmbeddedEngine>>;
let engine: Engine;
let t: TestServer;
beforeAll(async () => {
  engine = await startEmbeddedEngine(configWith({ logLevel: 'silent' }), silentLogger(), { port: 0 });
  t = await startServer({ pistonUrls: [engine.url], execRunsPerMinute: 4 });
});
afterAll(async () => {
  await t?.stop();
  await engine?.close();
});

const post = (body: unknown, contentType = 'application/json') =>
  fetch(`${t.url}/api/execute`, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('Piston-compatible HTTP API through PISTON_URL', () => {
  it("answers the engine's runtimes list", async () => {
    const res = await fetch(`${t.url}/api/runtimes`);
    expect(res.status).toBe(200);
    const direct = await (await fetch(`${engine.url}/api/v2/runtimes`)).json();
    expect(await res.json()).toEqual(direct);
  });

  it("relays execute results and Piston's errors, validates, and rate-limits per address", async () => {
    const ok = await post({ language: 'python', version: '*', files: [{ content: 'print(input())' }], stdin: 'hi' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ language: 'python', run: { stdout: 'hi\n', code: 0 } });

    const unknown = await post({ language: 'cobol', version: '*', files: [{ content: 'x' }] });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({ message: 'cobol-* runtime is unknown' });

    const noLanguage = await post({ version: '*', files: [] });
    expect(noLanguage.status).toBe(400);
    expect(await noLanguage.json()).toEqual({ message: 'language is required as a string' });

    const text = await post('{}', 'text/plain');
    expect(text.status).toBe(415);
    expect(await text.json()).toEqual({ message: 'requests must be of type application/json' });

    const limited = await post({ language: 'python', version: '*', files: [{ content: '' }] });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('runs a shared run on the engine reached through PISTON_URL; stop ends it at once', async () => {
    const room = await createRoom(t.url, { language: 'python' });
    const owner = connectExec(t.wsUrl, room.id, room.ownerToken, { name: 'Olive' });
    await owner.waitFor((f) => f.type === 'hello');
    // the starter program greets, asks a name and answers
    owner.send({ type: 'run', stdin: 'Ann\n' });
    const done = await owner.done();
    expect(done).toMatchObject({ code: 0 });
    const out = owner.frames.flatMap((f) => (f.type === 'data' && f.stream === 'stdout' ? [f.data] : [])).join('');
    expect(out).toContain('Hello, Ann!');
    expect(owner.frames.find((f) => f.type === 'run')).toMatchObject({ language: 'python', version: expect.stringMatching(/^3\./) });
    owner.close();
  });
});
