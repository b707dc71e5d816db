/**
 * The heartbeat over real sockets: every socket is pinged once per interval, the pings of many
 * sockets are spread over the interval rather than sent in one burst, and a socket that stops
 * answering is terminated within two intervals while the others stay.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { startHeartbeat, type Heartbeat } from '../src/ws/heartbeat.js';

const INTERVAL = 400;
let wss: WebSocketServer | undefined;
let heartbeat: Heartbeat | undefined;
const clients: WebSocket[] = [];

afterEach(async () => {
  heartbeat?.stop();
  for (const c of clients.splice(0)) c.terminate();
  await new Promise<void>((r) => (wss ? wss.close(() => r()) : r()));
});

/** `n` clients connected to a server whose sockets are all watched by one heartbeat. */
async function connect(n: number, opts: { autoPong?: boolean } = {}): Promise<{ pings: number[][]; dead: WebSocket[] }> {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss?.once('listening', r));
  const dead: WebSocket[] = [];
  heartbeat = startHeartbeat(INTERVAL, (ws) => dead.push(ws));
  const hb = heartbeat;
  wss.on('connection', (ws) => hb.add(ws));
  const port = (wss.address() as AddressInfo).port;
  const pings: number[][] = [];
  for (let i = 0; i < n; i++) {
    const c = new WebSocket(`ws://127.0.0.1:${port}`, { autoPong: opts.autoPong ?? true });
    const mine: number[] = [];
    pings.push(mine);
    c.on('ping', () => mine.push(performance.now()));
    clients.push(c);
    await new Promise((r) => c.once('open', r));
  }
  return { pings, dead };
}

describe('heartbeat', () => {
  it('pings every socket once per interval, spread over the interval instead of in one burst', async () => {
    const { pings, dead } = await connect(20);
    await new Promise((r) => setTimeout(r, INTERVAL * 2.5));
    for (const p of pings) expect(p.length).toBeGreaterThanOrEqual(2);
    for (const p of pings) for (let i = 1; i < p.length; i++) expect((p[i] ?? 0) - (p[i - 1] ?? 0)).toBeGreaterThan(INTERVAL * 0.7);
    // Sockets connected within a few ms of each other are pinged at times spread over most of
    // an interval (10 slices: at most 2 of the 20 at once).
    const firsts = pings.map((p) => p[0] ?? NaN).sort((a, b) => a - b);
    expect((firsts.at(-1) ?? 0) - (firsts[0] ?? 0)).toBeGreaterThan(INTERVAL * 0.6);
    expect(dead).toHaveLength(0);
    expect(heartbeat?.size).toBe(20);
  });

  it('terminates a socket that stops answering within two intervals, and keeps the others', async () => {
    const { dead } = await connect(3);
    const silent = new WebSocket(`ws://127.0.0.1:${(wss?.address() as AddressInfo).port}`, { autoPong: false });
    clients.push(silent);
    const closedAt = new Promise<number>((r) => silent.once('close', () => r(performance.now())));
    await new Promise((r) => silent.once('open', r));
    const openedAt = performance.now();
    expect(await closedAt - openedAt).toBeLessThan(INTERVAL * 2 + 150);
    expect(dead).toHaveLength(1);
    await new Promise((r) => setTimeout(r, INTERVAL));
    expect(heartbeat?.size).toBe(3);
  });
});
