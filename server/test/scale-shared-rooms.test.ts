/**
 * Shared rooms across "instances" (several SharedRooms in this process, and one real child
 * process killed with SIGKILL) over a real redis-server and a real PostgreSQL: replicas converge
 * and see each other's awareness, exactly one instance stores the room and trims the stream,
 * a fresh instance loads everything from storage, the storing instance's death loses nothing,
 * and a Redis restart is survived without restarting the instances.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import { silentLogger } from '../src/log.js';
import { newRoomId, newRoomTokens } from '../src/rooms/access.js';
import { openPostgresStore, type PostgresRoomStore } from '../src/scale/postgres-store.js';
import { createSharedRooms, type SharedRoom, type SharedRooms } from '../src/scale/shared-rooms.js';
import { stopChild } from './helpers/redis.js';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';
import { startRedis, type TestRedis } from './helpers/redis.js';

let redis: TestRedis;
let pgServer: TestPostgres;
let dbUrl: string;
let store: PostgresRoomStore;
const instances: SharedRooms[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  [redis, pgServer] = await Promise.all([startRedis(), startPostgres()]);
  dbUrl = await pgServer.freshDatabase();
  store = await openPostgresStore({ connectionString: dbUrl });
}, 60_000);
afterEach(async () => {
  await Promise.all(instances.splice(0).map((i) => i.close()));
  await Promise.all(children.splice(0).map((c) => stopChild(c, 'SIGKILL')));
});
afterAll(async () => {
  await store?.close();
  await Promise.all([redis?.stop(), pgServer?.stop()]);
});

/** A new room in storage (as the rooms API would create it) holding `text` in `t`. */
async function createRoom(text = ''): Promise<string> {
  const id = newRoomId();
  const doc = new Y.Doc();
  doc.getText('t').insert(0, text);
  const { hashes } = newRoomTokens();
  await store.createRoom({ id, name: 'r', language: 'python', createdAt: new Date().toISOString(), tokenHashes: hashes }, Y.encodeStateAsUpdate(doc));
  return id;
}

/** One in-process instance with short leases and flushes, each with its own store pool. */
async function instance(
  name: string,
  extra: { flushDelayMs?: number; compactEvery?: number; store?: (own: PostgresRoomStore) => PostgresRoomStore } = {},
): Promise<SharedRooms> {
  const own = await openPostgresStore({ connectionString: dbUrl });
  const shared = await createSharedRooms({
    redisUrl: redis.url, store: extra.store?.(own) ?? own, log: silentLogger(), instanceId: name, trimGraceMs: 0,
    persister: { leaseTtlMs: 400, flushDelayMs: extra.flushDelayMs ?? 20, compactEvery: extra.compactEvery ?? 200 },
  });
  const close = shared.close.bind(shared);
  instances.push(Object.assign(shared, { close: async () => { await close(); await own.close(); } }));
  return shared;
}

/** Resolves once `pred()` holds, re-checked on every change of any of `docs` (event driven). */
function whenDoc(docs: Y.Doc | Y.Doc[], pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const all = Array.isArray(docs) ? docs : [docs];
  return new Promise((resolve, reject) => {
    if (pred()) return resolve();
    const stop = (): void => {
      clearTimeout(timer);
      for (const d of all) d.off('afterTransaction', check);
    };
    const check = (): void => {
      if (!pred()) return;
      stop();
      resolve();
    };
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    for (const d of all) d.on('afterTransaction', check);
  });
}

/** The text a fresh load of storage gives. */
async function storedText(room: string): Promise<string> {
  const doc = new Y.Doc();
  for (const u of (await store.loadHistory(room)).updates) Y.applyUpdate(doc, u);
  return doc.getText('t').toString();
}

/** Waits until exactly one of the rooms' persisters holds the lease; returns its index. */
async function oneHolder(rooms: SharedRoom[], timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const holders = rooms.flatMap((r, i) => (r.persister.holding() ? [i] : []));
    if (holders.length === 1) return holders[0] ?? -1;
    if (Date.now() > deadline) throw new Error(`expected one holder, got ${holders.length}`);
    await new Promise((r) => setTimeout(r, 25)); // lease attempts are timer driven: poll their outcome
  }
}

describe('shared rooms', () => {
  it('converge two instances\' replicas and carry awareness, then drop a leaving instance\'s cursors', async () => {
    const room = await createRoom('start:');
    const [a, b] = [await instance('A'), await instance('B')];
    const [ra, rb] = [await a.open(room), await b.open(room)];
    expect(ra.replica.doc.getText('t').toString()).toBe('start:');
    const ta = ra.replica.doc.getText('t');
    const tb = rb.replica.doc.getText('t');
    for (let i = 0; i < 40; i++) {
      ta.insert(ta.length, 'a');
      tb.insert(0, 'b');
    }
    const same = (): boolean => ta.length === 86 && ta.toString() === tb.toString();
    await whenDoc([ra.replica.doc, rb.replica.doc], same, 'A and B converged');

    // a browser on A announces its cursor (the registry applies it with the socket as origin)
    const browser = new awarenessProtocol.Awareness(new Y.Doc());
    browser.setLocalState({ user: { name: 'Ana' }, cursor: 3 });
    awarenessProtocol.applyAwarenessUpdate(ra.replica.awareness, awarenessProtocol.encodeAwarenessUpdate(browser, [browser.clientID]), 'socket-1');
    const seenOnB = new Promise<void>((resolve) => {
      const on = (): void => {
        if (rb.replica.awareness.getStates().get(browser.clientID)) {
          rb.replica.awareness.off('change', on);
          resolve();
        }
      };
      rb.replica.awareness.on('change', on);
      on();
    });
    await seenOnB;
    expect(rb.replica.awareness.getStates().get(browser.clientID)).toEqual({ user: { name: 'Ana' }, cursor: 3 });
    const goneOnB = new Promise<void>((resolve) => {
      rb.replica.awareness.on('change', () => {
        if (!rb.replica.awareness.getStates().has(browser.clientID)) resolve();
      });
    });
    await ra.close();
    await goneOnB;
  });

  it('lets exactly one instance store the room, trims the stream once stored, and loads the same anywhere', async () => {
    const room = await createRoom();
    const [a, b] = [await instance('A'), await instance('B')];
    const rooms = [await a.open(room), await b.open(room)];
    const holder = await oneHolder(rooms);
    const other = rooms[1 - holder];
    const t = other?.replica.doc.getText('t');
    for (let i = 0; i < 30; i++) t?.insert(t.length, String(i % 10));
    const expected = t?.toString() ?? '';
    await other?.replica.settled();
    await whenDoc(rooms[holder]?.replica.doc ?? new Y.Doc(), () => rooms[holder]?.replica.doc.getText('t').toString() === expected, 'holder has it');
    await rooms[holder]?.persister.flush();
    expect(await storedText(room)).toBe(expected);
    const through = await store.streamStored(room);
    expect(through).toBeDefined();
    // trimmed up to what storage holds: nothing older than the mark is left in the stream
    const left = await a.bus.info(room);
    expect(left?.length ?? 0).toBeLessThan(30);
    // a third instance loads from storage + stream and sees the same
    const c = await instance('C');
    const rc = await c.open(room);
    expect(rc.replica.doc.getText('t').toString()).toBe(expected);
  });

  it('gives a replica what another instance stored and trimmed between its load of storage and its first read', async () => {
    // A fresh room (no stream mark yet): B's replica reads the mark and the history, and before it
    // reads the stream, A stores an edit and trims the stream (grace 0). The edit is then neither
    // in what B loaded nor in the stream: B must notice the trim and reload storage.
    const room = await createRoom('start:');
    const a = await instance('A');
    const ra = await a.open(room);
    await oneHolder([ra]);
    let historyRead!: () => void;
    const loaded = new Promise<void>((resolve) => (historyRead = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    const b = await instance('B', {
      store: (own) => Object.assign(Object.create(own) as PostgresRoomStore, {
        async loadHistory(id: string) {
          const history = await own.loadHistory(id);
          if (first) {
            first = false; // the replica's load (B's persister never holds the lease here)
            historyRead();
            await gate;
          }
          return history;
        },
      }),
    });
    const opening = b.open(room);
    await loaded;
    const ta = ra.replica.doc.getText('t');
    ta.insert(ta.length, 'typed on A');
    await ra.replica.settled();
    // A stores the edit and trims the stream through it (its reader has read its own entry first)
    for (let i = 0; (await storedText(room)) !== 'start:typed on A' || ((await a.bus.info(room))?.length ?? 0) > 0; i++) {
      if (i > 200) throw new Error('A did not store and trim the edit');
      await ra.persister.flush();
      await new Promise((r) => setTimeout(r, 25));
    }
    release();
    const rb = await opening;
    await whenDoc(rb.replica.doc, () => rb.replica.doc.getText('t').toString() === 'start:typed on A', 'the trimmed edit on B', 5_000);
    // and B goes on receiving what A types
    ta.insert(ta.length, '!');
    await whenDoc(rb.replica.doc, () => rb.replica.doc.getText('t').toString() === 'start:typed on A!', 'the next edit on B', 5_000);
  });

  it('compacts the stored history while holding the lease', async () => {
    const room = await createRoom();
    const a = await instance('A', { compactEvery: 5, flushDelayMs: 1 });
    const ra = await a.open(room);
    await oneHolder([ra]);
    const t = ra.replica.doc.getText('t');
    for (let i = 0; i < 20; i++) {
      t.insert(t.length, 'x');
      await ra.persister.flush();
    }
    expect((await store.stats(room)).updates).toBeLessThanOrEqual(5);
    expect(await storedText(room)).toBe('x'.repeat(20));
  });

  it('loses no edit when the storing instance is killed with SIGKILL: another takes over storage', async () => {
    const room = await createRoom();
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./helpers/scale-instance.ts', import.meta.url))], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    children.push(child);
    const out: Interface = createInterface({ input: child.stdout });
    const replies = out[Symbol.asyncIterator]();
    const ask = async (cmd: unknown): Promise<Record<string, unknown>> => {
      child.stdin.write(`${JSON.stringify(cmd)}\n`);
      return JSON.parse(String((await replies.next()).value)) as Record<string, unknown>;
    };
    // the child never flushes on its own (1 h delay): its edits live only in Redis and in replicas
    child.stdin.write(`${JSON.stringify({ mode: 'rooms', redisUrl: redis.url, databaseUrl: dbUrl, room, instanceId: 'doomed', leaseTtlMs: 400, flushDelayMs: 3_600_000 })}\n`);
    expect(JSON.parse(String((await replies.next()).value))).toEqual({ ready: true });
    // let the child take the storage lease before the survivor joins
    for (let s = await ask({ cmd: 'state' }); s.holding !== true; s = await ask({ cmd: 'state' })) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const b = await instance('B');
    const rb = await b.open(room);
    expect(rb.persister.holding()).toBe(false);
    for (let i = 0; i < 10; i++) expect(await ask({ cmd: 'type', text: `k${i};` })).toEqual({ typed: true });
    const typed = Array.from({ length: 10 }, (_, i) => `k${i};`).join('');
    await whenDoc(rb.replica.doc, () => rb.replica.doc.getText('t').toString() === typed, 'B sees the child\'s typing');
    expect(await storedText(room)).toBe('');

    await stopChild(child, 'SIGKILL');
    await oneHolder([rb], 5_000);
    await rb.persister.flush();
    expect(await storedText(room)).toBe(typed);
  });

  it('recovers from a Redis restart without restarting the instances, keeping edits made meanwhile', async () => {
    const room = await createRoom();
    const [a, b] = [await instance('A'), await instance('B')];
    const [ra, rb] = [await a.open(room), await b.open(room)];
    const ta = ra.replica.doc.getText('t');
    ta.insert(0, 'before|');
    await whenDoc(rb.replica.doc, () => rb.replica.doc.getText('t').toString() === 'before|', 'before restart');

    expect(await a.check()).toBeNull();
    await redis.kill();
    // readiness says so while Redis is away
    expect(await a.check(500)).toMatch(/Redis/);
    // typed while Redis is down: only A's replica has it
    ta.insert(ta.length, 'during|');
    await redis.start();
    ta.insert(ta.length, 'after');
    await whenDoc(rb.replica.doc, () => rb.replica.doc.getText('t').toString() === 'before|during|after', 'B has every edit');
    // and storage catches up through whichever instance holds the (new) lease
    const holder = await oneHolder([ra, rb]);
    await [ra, rb][holder]?.persister.flush();
    expect(await storedText(room)).toBe('before|during|after');
    expect(await a.check()).toBeNull();
  });
});
