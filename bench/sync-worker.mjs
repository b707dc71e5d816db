// A benchmark worker process: real y-websocket providers (Node, `ws`), driven by bench/sync.mjs
// over IPC. Each command answers with one message {id, ok, ...}. Times are wall-clock
// milliseconds (performance.timeOrigin + performance.now()), comparable across processes.
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';

// every provider adds an `exit` listener to process
process.setMaxListeners(0);
const now = () => performance.timeOrigin + performance.now();
const MARK = /(\w+)\.(\d+)@([\d.]+);/g;
/** live providers of this worker */
let peers = [];

/**
 * A WebSocket that notes when its largest message arrived, before the provider handles it:
 * for a join, the arrival of the document state splits the time into what the server and the
 * network took and what the client took to decode and apply it.
 */
class TimedWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.biggest = { bytes: 0, at: NaN };
    this.on('message', (data) => {
      const bytes = data.byteLength ?? data.length;
      if (bytes > this.biggest.bytes) this.biggest = { bytes, at: now() };
    });
  }
}

function connect({ url, room, token }) {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url, room, doc, {
    params: token ? { token } : {},
    WebSocketPolyfill: TimedWebSocket,
    disableBc: true,
  });
  const peer = { doc, provider, text: doc.getText('bench'), latencies: [], seen: new Set(), closed: null };
  provider.on('closed', (e) => (peer.closed = e));
  peer.text.observe((ev, tr) => {
    if (tr.local) return;
    const t = now();
    for (const d of ev.delta) {
      if (typeof d.insert !== 'string') continue;
      for (const m of d.insert.matchAll(MARK)) {
        const key = `${m[1]}.${m[2]}`;
        if (peer.seen.has(key)) continue;
        peer.seen.add(key);
        peer.latencies.push(t - Number(m[3]));
      }
    }
  });
  peers.push(peer);
  return peer;
}

const synced = (peer, timeoutMs = 120_000) =>
  new Promise((resolve, reject) => {
    if (peer.provider.synced) return resolve();
    const timer = setTimeout(() => reject(new Error(`not synced after ${timeoutMs} ms${peer.closed ? ` (closed ${peer.closed.code} ${peer.closed.reason})` : ''}`)), timeoutMs);
    peer.provider.on('sync', (s) => {
      if (s) {
        clearTimeout(timer);
        resolve();
      }
    });
  });

const hash = (s) => createHash('sha1').update(s).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const commands = {
  /** Connects `count` providers to one room and waits until all are synced. */
  async readers({ target, count }) {
    const ps = [];
    for (let i = 0; i < count; i++) {
      ps.push(connect(target));
      if (i % 20 === 19) await sleep(20); // do not stampede the accept queue
    }
    await Promise.all(ps.map((p) => synced(p)));
    return {};
  },
  /** One provider appends a mark every `intervalMs`, `updates` times. */
  async writer({ target, name, intervalMs, updates }) {
    const p = connect(target);
    await synced(p);
    for (let seq = 0; seq < updates; seq++) {
      const due = now() + intervalMs;
      p.text.insert(p.text.length, `${name}.${seq}@${now().toFixed(3)};`);
      await sleep(Math.max(0, due - now()));
    }
    return {};
  },
  /** One typist per target (3 per room): each appends a mark every `intervalMs` for `updates` marks. */
  async typists({ targets, intervalMs, updates }) {
    const ps = targets.map((t) => ({ peer: connect(t.target), name: t.name }));
    await Promise.all(ps.map(({ peer }) => synced(peer)));
    await Promise.all(
      ps.map(async ({ peer, name }, k) => {
        await sleep((k * 7) % intervalMs); // spread the typists over the interval
        for (let seq = 0; seq < updates; seq++) {
          const due = now() + intervalMs;
          peer.text.insert(peer.text.length, `${name}.${seq}@${now().toFixed(3)};`);
          await sleep(Math.max(0, due - now()));
        }
      }),
    );
    return {};
  },
  /** Latencies and what every provider of this worker holds. */
  async report() {
    return {
      latencies: peers.flatMap((p) => p.latencies),
      peers: peers.map((p) => ({ room: p.provider.roomname, seen: p.seen.size, hash: hash(p.text.toString()), closed: p.closed })),
    };
  },
  /** Time for `count` fresh providers (started together) to sync a room; and local decode cost. */
  async join({ target, count, at }) {
    const t0 = at ?? now();
    const ps = [];
    for (let i = 0; i < count; i++) ps.push(connect(target));
    const each = await Promise.all(ps.map(async (p) => (await synced(p), now() - t0)));
    // when the state arrived at each provider, from the start (server + network share)
    const arrived = ps.map((p) => p.provider.ws?.biggest?.at - t0);
    const doc = ps[0].doc;
    const len = doc.getText('bench').length;
    // Client-side share: re-apply the same state into a fresh doc, as the provider did.
    const state = Y.encodeStateAsUpdate(doc);
    const a0 = now();
    Y.applyUpdate(new Y.Doc(), state);
    const applyMs = now() - a0;
    for (const p of ps.slice(1)) if (p.doc.getText('bench').length !== len) throw new Error('joined providers differ');
    for (const p of ps) p.provider.destroy();
    peers = peers.filter((p) => !ps.includes(p));
    return { each, all: Math.max(...each), arrived, len, bytes: state.length, applyMs, hash: hash(doc.getText('bench').toString()) };
  },
  /** Uploads a prebuilt document (`update`, base64) into a room through one provider. */
  async upload({ target, update }) {
    const p = connect(target);
    await synced(p);
    Y.applyUpdate(p.doc, Buffer.from(update, 'base64'));
    // Done when a second provider sees the whole text.
    const want = p.text.length;
    const check = connect(target);
    await synced(check);
    while (check.text.length !== want) await sleep(50);
    return { len: want };
  },
  /** Connects one idle provider per target and waits until all are synced. */
  async idle({ targets }) {
    const ps = [];
    for (const [i, t] of targets.entries()) {
      ps.push(connect(t));
      if (i % 25 === 24) await sleep(10);
    }
    await Promise.all(ps.map((p) => synced(p)));
    return {};
  },
  /** Disconnects every provider of this worker. */
  async close() {
    for (const p of peers) p.provider.destroy();
    peers = [];
    return {};
  },
};

process.on('message', async (msg) => {
  try {
    const result = await commands[msg.cmd](msg);
    process.send({ id: msg.id, ok: true, ...result });
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: String(err?.stack ?? err) });
  }
});
process.send({ ready: true });
