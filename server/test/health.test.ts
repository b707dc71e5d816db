import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, type TestServer } from './helpers/start-server.js';

let t: TestServer;
beforeEach(async () => {
  t = await startServer();
});
afterEach(async () => {
  await t.stop();
});

describe('operations endpoints', () => {
  it('answers /healthz, /readyz and /metrics', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain('codex_rooms_loaded');
  });

  it('answers unknown API routes with a JSON error', async () => {
    const res = await fetch(`${t.url}/api/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'no route for GET /api/nope' });
  });

  it('refuses WebSocket upgrades on unknown paths with a clear status', async () => {
    const ws = new WebSocket(`${t.wsUrl}/elsewhere`);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    expect(status).toBe(404);
  });

  it('close() can be called twice', async () => {
    await Promise.all([t.server.close(), t.server.close()]);
    await t.server.close();
  });
});
