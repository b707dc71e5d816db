/**
 * The Redis lease with fencing tokens against a real redis-server (and, for the fence itself, a
 * real PostgreSQL): exclusivity under contention, expiry after the holder dies, renewal, release
 * by the owner only, monotonic tokens (also across a Redis restart that loses the counter), and
 * a paused ex-holder's write refused by its old token.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { newRoomId, newRoomTokens } from '../src/rooms/access.js';
import { holdLease, redisLease, roomLeaseKey, type HeldLease, type LeaseLostReason } from '../src/scale/lease.js';
import { FencedOutError, openPostgresStore } from '../src/scale/postgres-store.js';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';
import { startRedis, type TestRedis } from './helpers/redis.js';

let redis: TestRedis;
const clients: Redis[] = [];
const held: HeldLease[] = [];
let keyCounter = 0;
const freshKey = (): string => roomLeaseKey(`room${++keyCounter}`, 'run');

/** A new connection: each "instance" in these tests has its own. */
function client(): Redis {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 3 });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

/** Retries `acquire` until it succeeds: what a waiting instance does, every `everyMs`. */
async function acquireWhenFree(acquire: () => Promise<number | null>, everyMs = 25, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const token = await acquire();
    if (token !== null) return token;
    if (Date.now() > deadline) throw new Error('lease never became free');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  await Promise.all(held.splice(0).map((h) => h.release()));
  for (const c of clients.splice(0)) c.disconnect();
});
afterAll(async () => {
  await redis.stop();
});

describe('redis lease', () => {
  it('grants one holder among many contenders, and tells everyone who it is', async () => {
    const key = freshKey();
    const leases = Array.from({ length: 12 }, (_, i) => redisLease(client(), { key, owner: `inst${i}`, ttlMs: 5_000 }));
    const tokens = await Promise.all(leases.map((l) => l.acquire()));
    const winners = tokens.flatMap((t, i) => (t === null ? [] : [i]));
    expect(winners).toHaveLength(1);
    const w = winners[0] ?? -1;
    for (const l of leases) expect(await l.holder()).toEqual({ owner: `inst${w}`, token: tokens[w] });
    // acquiring again as the holder confirms the same grant
    expect(await leases[w]?.acquire()).toBe(tokens[w]);
  });

  it('is released by its owner only, then granted again with a larger token', async () => {
    const key = freshKey();
    const a = redisLease(client(), { key, owner: 'A', ttlMs: 5_000 });
    const b = redisLease(client(), { key, owner: 'B', ttlMs: 5_000 });
    const ta = await a.acquire();
    expect(ta).not.toBeNull();
    expect(await b.release(ta ?? 0)).toBe(false); // B cannot drop A's lease, even knowing the token
    expect(await b.renew(ta ?? 0)).toBe(false);
    expect(await b.acquire()).toBeNull();
    expect(await a.release(ta ?? 0)).toBe(true);
    expect(await a.release(ta ?? 0)).toBe(false);
    const tb = await b.acquire();
    expect(tb).toBeGreaterThan(ta ?? Infinity);
    expect(await a.holder()).toEqual({ owner: 'B', token: tb });
  });

  it('expires after its holder dies (stops renewing), and only then goes to the next instance', async () => {
    const key = freshKey();
    const ttlMs = 400;
    const dying = client();
    const lost: LeaseLostReason[] = [];
    let onLost: () => void = () => undefined;
    const lostP = new Promise<void>((resolve) => (onLost = resolve));
    const h = await holdLease(redisLease(dying, { key, owner: 'dying', ttlMs }), (r) => {
      lost.push(r);
      onLost();
    });
    expect(h).not.toBeNull();
    const other = redisLease(client(), { key, owner: 'survivor', ttlMs });
    // renewed in the background: still held well past one TTL
    const until = Date.now() + 3 * ttlMs;
    while (Date.now() < until) {
      expect(await other.acquire()).toBeNull();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(h?.valid()).toBe(true);
    // the instance dies: its connection goes away and nothing renews
    const diedAt = Date.now();
    dying.disconnect();
    const token = await acquireWhenFree(() => other.acquire());
    expect(Date.now() - diedAt).toBeLessThan(ttlMs + 1_000);
    expect(token).toBeGreaterThan(h?.token ?? Infinity);
    // the dead holder's own bookkeeping agrees: not valid any more
    await lostP;
    expect(lost).toEqual(['unconfirmed']);
    expect(h?.valid()).toBe(false);
  });

  it('tells a holder whose lease was taken over ("taken") at its next renewal', async () => {
    const key = freshKey();
    const ttlMs = 300;
    const c = client();
    let lostReason: LeaseLostReason | undefined;
    const lostP = new Promise<void>((resolve) => {
      void holdLease(redisLease(c, { key, owner: 'A', ttlMs }), (r) => {
        lostReason = r;
        resolve();
      }).then((h) => h && held.push(h));
    });
    await acquireWhenFree(async () => ((await redisLease(c, { key, owner: 'A', ttlMs }).holder()) ? 1 : null));
    // an operator (or a bug) deletes the lease and B takes it: A must learn it is no longer the driver
    await c.del(key);
    const tb = await redisLease(client(), { key, owner: 'B', ttlMs: 10_000 }).acquire();
    expect(tb).not.toBeNull();
    await lostP;
    expect(lostReason).toBe('taken');
  });

  it('hands out strictly increasing tokens, also after a Redis restart that lost the counter', async () => {
    const key = freshKey();
    const lease = redisLease(client(), { key, owner: 'A', ttlMs: 5_000 });
    const tokens: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = await lease.acquire();
      expect(t).not.toBeNull();
      tokens.push(t ?? 0);
      expect(await lease.release(t ?? 0)).toBe(true);
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1] ?? Infinity);
    expect(tokens.every(Number.isSafeInteger)).toBe(true);

    await redis.restart();
    const after = redisLease(client(), { key, owner: 'A', ttlMs: 5_000 });
    expect(await after.holder()).toBeNull(); // the data is gone
    const t = await after.acquire();
    expect(t).toBeGreaterThan(tokens[tokens.length - 1] ?? Infinity);
  });

  it('rejects bad options', () => {
    expect(() => redisLease(client(), { key: 'k', owner: 'a|b', ttlMs: 100 })).toThrow(/owner/);
    expect(() => redisLease(client(), { key: 'k', owner: 'a', ttlMs: 0 })).toThrow(/ttlMs/);
  });
});

describe('lease + fence: a paused ex-holder cannot overwrite its successor', () => {
  let pgServer: TestPostgres;
  beforeAll(async () => {
    pgServer = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await pgServer.stop();
  });

  it('refuses the old holder\'s compaction after the lease moved on', async () => {
    const store = await openPostgresStore({ connectionString: await pgServer.freshDatabase() });
    try {
      const { hashes } = newRoomTokens();
      const roomId = newRoomId();
      const doc = new Y.Doc();
      doc.getText('t').insert(0, 'v1');
      await store.createRoom({ id: roomId, name: 'r', language: 'python', createdAt: new Date().toISOString(), tokenHashes: hashes }, Y.encodeStateAsUpdate(doc));
      const key = roomLeaseKey(roomId, 'compact');
      const ttlMs = 200;
      const resource = `compact:${roomId}`;
      // A takes the compaction lease, reads the history, then stalls (GC pause, stopped VM…)
      const a = redisLease(client(), { key, owner: 'A', ttlMs });
      const ta = await a.acquire();
      expect(ta).not.toBeNull();
      const seenByA = await store.loadHistory(roomId);
      // meanwhile the lease expires and B compacts with its newer token
      const b = redisLease(client(), { key, owner: 'B', ttlMs });
      const tb = await acquireWhenFree(() => b.acquire());
      doc.getText('t').insert(2, '+B');
      await store.appendUpdates([{ roomId, update: Y.encodeStateAsUpdate(doc) }]);
      const seenByB = await store.loadHistory(roomId);
      await store.compactFenced(roomId, Y.encodeStateAsUpdate(doc), seenByB.lastSeq, { resource, token: tb });
      // A wakes up and tries to write its stale compaction
      const stale = new Y.Doc();
      for (const u of seenByA.updates) Y.applyUpdate(stale, u);
      const err = await store
        .compactFenced(roomId, Y.encodeStateAsUpdate(stale), seenByA.lastSeq, { resource, token: ta ?? 0 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FencedOutError);
      const check = new Y.Doc();
      for (const u of (await store.loadHistory(roomId)).updates) Y.applyUpdate(check, u);
      expect(check.getText('t').toString()).toBe('v1+B');
    } finally {
      await store.close();
    }
  });
});
