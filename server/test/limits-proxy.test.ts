/**
 * Per-address limits behind a load balancer (CODEX_TRUST_PROXY): the address is the last
 * X-Forwarded-For entry when trusted, the socket's address otherwise.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { CreatedRoom } from '@codex/shared';
import { startServer, type TestServer } from './helpers/start-server.js';

let s: TestServer | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
});

const create = (server: TestServer, forwardedFor: string): Promise<Response> =>
  fetch(`${server.url}/api/rooms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
    body: '{}',
  });

/** Opens a sync socket as `forwardedFor`; resolves with its close code, or 'open' once it is accepted. */
function openAs(server: TestServer, room: CreatedRoom, forwardedFor: string): Promise<{ ws: WebSocket; outcome: number | 'open' }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${server.wsUrl}/yjs/${room.id}?token=${room.editorToken}`, { headers: { 'x-forwarded-for': forwardedFor } });
    ws.on('error', () => {});
    ws.once('message', () => resolve({ ws, outcome: 'open' }));
    ws.once('close', (code) => resolve({ ws, outcome: code }));
  });
}

describe('client address behind a proxy', () => {
  it('with CODEX_TRUST_PROXY, limits count per forwarded address (the entry the proxy added)', async () => {
    s = await startServer({ trustProxy: true, roomCreatesPerMinute: 1, maxRoomsPerAddress: 1 });
    expect((await create(s, '10.0.0.1')).status).toBe(201);
    // a forged first entry does not help: the last entry is the proxy's
    expect((await create(s, '10.9.9.9, 10.0.0.1')).status).toBe(429);
    const res = await create(s, '10.0.0.2');
    expect(res.status).toBe(201);
    const room2 = (await res.json()) as CreatedRoom;
    const room1 = (await (await create(s, '10.0.0.3')).json()) as CreatedRoom;

    const a = await openAs(s, room1, '10.0.0.1');
    expect(a.outcome).toBe('open');
    expect((await openAs(s, room2, '10.0.0.1')).outcome).toBe(4430);
    const b = await openAs(s, room2, '10.0.0.2');
    expect(b.outcome).toBe('open');
    a.ws.close();
    b.ws.close();
  });

  it('without it, X-Forwarded-For is ignored', async () => {
    s = await startServer({ roomCreatesPerMinute: 1 });
    expect((await create(s, '10.0.0.1')).status).toBe(201);
    expect((await create(s, '10.0.0.2')).status).toBe(429);
  });
});
