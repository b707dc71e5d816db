// @vitest-environment node
/**
 * The run session over a real `ws` server standing in for the exec endpoint: frames reach the
 * reducer and the transcript, a dropped socket reconnects and its replay is not printed twice,
 * a 4403 refusal stops reconnecting, and a new display name reconnects with it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as NodeWebSocket, WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { get } from 'svelte/store';
import { createAnnouncer } from '../src/lib/a11y/announcer.js';
import { createRunSession, plainTranscript, type RunSession } from '../src/lib/exec/run-session.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeExecServer() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const connections: { url: string; socket: import('ws').WebSocket; got: unknown[] }[] = [];
  const waiters: (() => void)[] = [];
  wss.on('connection', (socket, req) => {
    const c = { url: req.url ?? '', socket, got: [] as unknown[] };
    socket.on('message', (m) => c.got.push(JSON.parse(String(m))));
    connections.push(c);
    waiters.splice(0).forEach((w) => w());
  });
  cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
  const nth = async (n: number) => {
    while (connections.length < n) await new Promise<void>((r) => waiters.push(r));
    const c = connections[n - 1]!;
    if (c.socket.readyState !== c.socket.OPEN) await new Promise((r) => c.socket.once('open', r));
    return c;
  };
  return { base: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, connections, nth };
}

function session(base: string, name = 'Ana'): RunSession {
  const s = createRunSession({ base, roomId: 'room123', token: 'tok', name, announcer: createAnnouncer(), WebSocketImpl: NodeWebSocket as unknown as typeof WebSocket });
  cleanups.push(() => s.close());
  return s;
}

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const frames = [
  { type: 'run', run: 'r1', by: 'Bo', language: 'python', version: '3.11.2' },
  { type: 'stage', run: 'r1', seq: 0, stage: 'run' },
  { type: 'data', run: 'r1', seq: 1, stream: 'stdout', data: 'one\n' },
];

describe('run session over a real socket', () => {
  it('connects with token and name, sends run frames, and replays without doubling after a reconnect', async () => {
    const srv = await fakeExecServer();
    const s = session(srv.base);
    const first = await srv.nth(1);
    expect(first.url).toBe('/api/exec/room123?token=tok&name=Ana&hello=1');
    await until(() => get(s.link) === 'open');
    expect(s.run('python', '*')).toBeNull();
    await until(() => first.got.length === 1);
    expect(first.got[0]).toEqual({ type: 'run', language: 'python', version: '*' });
    for (const f of frames) first.socket.send(JSON.stringify(f));
    await until(() => plainTranscript(s).includes('one'));

    first.socket.close(1011); // the server drops us mid-run
    const second = await srv.nth(2);
    // The replay from seq 0, then a new frame.
    for (const f of [...frames, { type: 'data', run: 'r1', seq: 2, stream: 'stdout', data: 'two\n' }]) second.socket.send(JSON.stringify(f));
    await until(() => plainTranscript(s).includes('two'));
    expect(plainTranscript(s)).toBe('── Bo started a run (python 3.11.2) ──\none\ntwo\n');
    expect(get(s.state).current?.lastSeq).toBe(2);
    // Unknown frame types from a newer server are ignored.
    second.socket.send(JSON.stringify({ type: 'future-thing' }));
    second.socket.send(JSON.stringify({ type: 'done', run: 'r1', code: 0, signal: null, wall_ms: 5 }));
    await until(() => get(s.state).current?.phase === 'done');
  });

  it('stops reconnecting after a 4403 refusal', async () => {
    const srv = await fakeExecServer();
    const s = session(srv.base);
    (await srv.nth(1)).socket.close(4403, 'invalid token');
    await until(() => get(s.link) === 'closed');
    await new Promise((r) => setTimeout(r, 400));
    expect(srv.connections).toHaveLength(1);
    expect(s.run('python', '')).toMatch(/not connected/);
  });

  it('reconnects with a new display name', async () => {
    const srv = await fakeExecServer();
    const s = session(srv.base);
    await srv.nth(1);
    await until(() => get(s.link) === 'open');
    s.rename('Ana Lima');
    const second = await srv.nth(2);
    expect(new URL(second.url, 'http://x').searchParams.get('name')).toBe('Ana Lima');
  });
});
