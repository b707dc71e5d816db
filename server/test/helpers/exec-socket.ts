/**
 * Test helpers for the shared execution channel: a participant socket on `/api/exec/<room>` that
 * records every frame and waits on them, room creation over the real API, and a scriptable
 * Piston-protocol server (real HTTP + `ws`) for the faults a real engine will not produce on demand.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { parseServerFrame, type CreatedRoom, type DoneFrame, type ServerFrame } from '@codex/shared';

/** A participant of a room's exec channel. */
export interface ExecClient {
  ws: WebSocket;
  /** every frame received, in order */
  frames: ServerFrame[];
  /** raw text of every frame received, in order (for byte-identical comparisons) */
  raw: string[];
  opened: Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
  send(frame: unknown): void;
  /** resolves with the first frame from index `from` on that satisfies `pred` */
  waitFor(pred: (f: ServerFrame) => boolean, opts?: { from?: number; ms?: number; what?: string }): Promise<ServerFrame>;
  /** resolves with the `done` frame of `run` (or of any run) */
  done(run?: string, ms?: number): Promise<DoneFrame>;
  close(): void;
}

/** Connects a participant to `roomId` with `token`. */
export function connectExec(
  wsUrl: string,
  roomId: string,
  token: string,
  opts: { name?: string; since?: number; hello?: boolean } = {},
): ExecClient {
  const q = new URLSearchParams({ token });
  // Tests ask for the `hello` frame (an opt-in addition to the contract) to know when they are joined.
  if (opts.hello ?? true) q.set('hello', '1');
  if (opts.name !== undefined) q.set('name', opts.name);
  if (opts.since !== undefined) q.set('since', String(opts.since));
  const ws = new WebSocket(`${wsUrl}/api/exec/${encodeURIComponent(roomId)}?${q}`);
  const frames: ServerFrame[] = [];
  const raw: string[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    const text = data.toString();
    const parsed = parseServerFrame(text);
    if (!parsed.ok) throw new Error(`bad server frame: ${parsed.error}: ${text}`);
    raw.push(text);
    frames.push(parsed.frame);
    for (const w of [...waiters]) w();
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  const client: ExecClient = {
    ws,
    frames,
    raw,
    opened,
    closed,
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    waitFor(pred, o = {}) {
      const from = o.from ?? 0;
      const ms = o.ms ?? 15_000;
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          for (let i = from; i < frames.length; i++) {
            const f = frames[i];
            if (f && pred(f)) {
              waiters.delete(onFrame);
              clearTimeout(timer);
              resolve(f);
              return true;
            }
          }
          return false;
        };
        const onFrame = (): void => void check();
        const timer = setTimeout(() => {
          waiters.delete(onFrame);
          reject(new Error(`timed out after ${ms} ms waiting for ${o.what ?? 'a frame'}; got ${JSON.stringify(frames).slice(-2000)}`));
        }, ms);
        if (!check()) waiters.add(onFrame);
      });
    },
    async done(run, ms) {
      const f = await client.waitFor((x) => x.type === 'done' && (run === undefined || x.run === run), { ms: ms ?? 20_000, what: 'done' });
      return f as DoneFrame;
    },
    close: () => ws.close(),
  };
  return client;
}

/** Creates a room over `POST /api/rooms`. */
export async function createRoom(httpUrl: string, body: { name?: string; language?: string } = {}): Promise<CreatedRoom> {
  const res = await fetch(`${httpUrl}/api/rooms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST /api/rooms answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as CreatedRoom;
}

/** The frames of a run as compared between participants (hello is per participant). */
export function runFrames(c: ExecClient): string[] {
  return c.raw.filter((r) => !r.startsWith('{"type":"hello"'));
}

// ------------------------------------------------------------ a scriptable Piston-protocol server

/** What the fake Piston does with a connection after `init`. */
export type FaultBehaviour =
  /** runtime, stage run, one line, then waits (the test stops the server) */
  | 'hang-after-start'
  /** accepts init and never answers */
  | 'never-answer'
  /** answers init with an error frame and closes 4002, like an unknown runtime */
  | 'notified-error'
  /** runtime, then stage run after 150 ms; echoes stdin to stdout; drops stdin sent before stage run (like Piston) */
  | 'echo-late-run'
  /** ignores signal frames (like every real Piston) and runs until its own timeout */
  | 'ignore-signals';

/** A real HTTP + WebSocket server speaking Piston's protocol, scripted per test. */
export interface FaultPiston {
  url: string;
  /** every frame received from clients */
  received: unknown[];
  /** number of `/api/v2/connect` connections accepted */
  connections: number;
  behaviour: FaultBehaviour;
  /** what `/api/v2/runtimes` lists */
  runtimes: { language: string; version: string; aliases: string[] }[];
  /** HTTP status to refuse upgrades with (0: accept) */
  refuseUpgradeWith: number;
  /** stops listening and drops every connection at once (no close frame) */
  stop(): Promise<void>;
}

/** Starts a scriptable Piston-protocol server on 127.0.0.1:0. */
export async function startFaultPiston(behaviour: FaultBehaviour): Promise<FaultPiston> {
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    if (req.url === '/api/v2/runtimes') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(state.runtimes));
      return;
    }
    if (req.url === '/api/v2/execute' && req.method === 'POST') {
      res.statusCode = 500;
      res.end();
      return;
    }
    res.statusCode = 404;
    res.setHeader('content-type', 'application/json');
    res.end('{"message":"Not Found"}');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ noServer: true });
  const state: FaultPiston = {
    url: '',
    received: [],
    connections: 0,
    behaviour,
    runtimes: [{ language: 'python', version: '3.11.2', aliases: ['py', 'python3'] }],
    refuseUpgradeWith: 0,
    stop: async () => {
      for (const c of wss.clients) c.terminate();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('upgrade', (req, socket, head) => {
    if (state.refuseUpgradeWith) {
      socket.end(`HTTP/1.1 ${state.refuseUpgradeWith} Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      state.connections += 1;
      let running = false;
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as { type: string; data?: string };
        state.received.push(msg);
        if (msg.type === 'init') {
          switch (state.behaviour) {
            case 'never-answer':
              return;
            case 'notified-error':
              ws.send(JSON.stringify({ type: 'error', message: 'cobol-* runtime is unknown' }));
              ws.close(4002, 'Notified Error');
              return;
            case 'hang-after-start':
            case 'ignore-signals':
              ws.send(JSON.stringify({ type: 'runtime', language: 'python', version: '3.11.2' }));
              ws.send(JSON.stringify({ type: 'stage', stage: 'run' }));
              ws.send(JSON.stringify({ type: 'data', stream: 'stdout', data: 'started\n' }));
              return;
            case 'echo-late-run':
              ws.send(JSON.stringify({ type: 'runtime', language: 'python', version: '3.11.2' }));
              setTimeout(() => {
                running = true;
                ws.send(JSON.stringify({ type: 'stage', stage: 'run' }));
              }, 150);
              return;
          }
        }
        if (msg.type === 'data' && state.behaviour === 'echo-late-run') {
          if (!running) return; // Piston drops stdin before the run stage exists
          ws.send(JSON.stringify({ type: 'data', stream: 'stdout', data: `echo: ${msg.data ?? ''}` }));
          if ((msg.data ?? '').includes('bye')) {
            ws.send(JSON.stringify({ type: 'exit', stage: 'run', code: 0, signal: null }));
            ws.close(4999, 'Job Completed');
          }
        }
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/** A URL on which nothing listens (a port bound, then released). */
export async function closedPortUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}
