/**
 * The Redis Streams room bus against a real private redis-server: order, binary payloads, two
 * buses exchanging real Yjs updates, joins while a read is blocked, recovery after a dropped
 * connection and after a Redis restart, and the "trim once stored" rule with gap detection.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { createRedisRoomBus, roomStreamKey, roomTrimmedKey, type RedisRoomBus, type RedisRoomBusOptions } from '../src/scale/redis-room-bus.js';
import { compareStreamIds, nextStreamId, parseStreamId } from '../src/scale/stream-ids.js';
import { busCollector, type BusCollector } from './helpers/scale-bus-collector.js';
import { startRedis, type TestRedis } from './helpers/redis.js';

let redis: TestRedis;
let admin: Redis;
const buses: RedisRoomBus[] = [];
let roomCounter = 0;
const freshRoom = (): string => `room${++roomCounter}x${process.pid}`;

async function bus(instanceId: string, extra: Partial<RedisRoomBusOptions> = {}): Promise<{ bus: RedisRoomBus; got: BusCollector }> {
  const got = busCollector();
  const b = await createRedisRoomBus({ redisUrl: redis.url, instanceId, listener: got, ...extra });
  buses.push(b);
  return { bus: b, got };
}

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  admin.on('error', () => undefined);
});
afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  admin.disconnect();
  await redis.stop();
});

describe('stream ids', () => {
  it('compare numerically, not as text, and step to the next id', () => {
    expect(compareStreamIds('9-0', '10-0')).toBeLessThan(0);
    expect(compareStreamIds('10-2', '10-10')).toBeLessThan(0);
    expect(compareStreamIds('10-1', '10-1')).toBe(0);
    expect(nextStreamId('1700000000000-41')).toBe('1700000000000-42');
    expect(() => parseStreamId('abc')).toThrow(/not a stream id/);
  });
});

describe('room bus', () => {
  it('delivers another instance\'s messages in order, bytes intact, and skips its own', async () => {
    const room = freshRoom();
    const a = await bus('A');
    const b = await bus('B');
    await a.bus.join(room);
    await b.bus.join(room);
    const sent = Array.from({ length: 300 }, (_, i) => Buffer.concat([Buffer.from([0, 255, i % 256]), randomBytes(i % 50)]));
    // not awaited one by one: ioredis pipelines them on one connection, in order
    await Promise.all(sent.map((d, i) => a.bus.publish(room, i % 3 === 0 ? 'awareness' : 'update', d)));
    await b.got.until(() => b.got.messages.length === sent.length, 'all messages at B');
    expect(b.got.messages.map((m) => Buffer.from(m.data).toString('hex'))).toEqual(sent.map((d) => d.toString('hex')));
    expect(b.got.messages.map((m) => m.kind)).toEqual(sent.map((_, i) => (i % 3 === 0 ? 'awareness' : 'update')));
    expect(new Set(b.got.messages.map((m) => m.origin))).toEqual(new Set(['A']));
    const ids = b.got.messages.map((m) => m.id);
    expect([...ids].sort(compareStreamIds)).toEqual(ids);
    // A read its own entries too (its last id moved) but delivered none of them
    await a.bus.publish(room, 'update', Buffer.from('marker'));
    await b.got.until(() => b.got.messages.length === sent.length + 1, 'marker at B');
    expect(a.got.messages).toHaveLength(0);
    expect(b.got.resyncs).toHaveLength(0);
  });

  it('lets two instances converge real Yjs documents both ways', async () => {
    const room = freshRoom();
    const docs = { A: new Y.Doc(), B: new Y.Doc() };
    const remote = Symbol('bus');
    const pair = { A: await bus('A'), B: await bus('B') };
    for (const name of ['A', 'B'] as const) {
      const doc = docs[name];
      const me = pair[name];
      await me.bus.join(room);
      doc.on('update', (update: Uint8Array, origin: unknown) => {
        if (origin !== remote) void me.bus.publish(room, 'update', update);
      });
      // apply what the other instance sends
      const original = me.got.message.bind(me.got);
      me.got.message = (msg) => {
        Y.applyUpdate(doc, msg.data, remote);
        original(msg);
      };
    }
    const textA = docs.A.getText('t');
    const textB = docs.B.getText('t');
    for (let i = 0; i < 50; i++) {
      textA.insert(textA.length, 'a');
      textB.insert(0, 'b');
    }
    // each side published 50 updates: once each has the other's 50, both must read the same
    await pair.A.got.until(() => pair.A.got.messages.length === 50, 'A has B\'s updates');
    await pair.B.got.until(() => pair.B.got.messages.length === 50, 'B has A\'s updates');
    expect(textA.length).toBe(100);
    expect(textA.toString()).toBe(textB.toString());
  });

  it('reads a room joined while its blocking read waits on other rooms at once, and stops after leave', async () => {
    const first = freshRoom();
    const second = freshRoom();
    const a = await bus('A');
    // a block timeout longer than the test: only the interrupt on join can make this pass
    const b = await bus('B', { blockMs: 120_000 });
    await b.bus.join(first);
    await a.bus.publish(first, 'update', Buffer.from('one'));
    await b.got.until(() => b.got.messages.length === 1, 'first room read');
    await b.bus.join(second);
    await a.bus.publish(second, 'update', Buffer.from('two'));
    await b.got.until(() => b.got.messages.length === 2, 'second room read without waiting out BLOCK');
    expect(b.got.messages[1]?.room).toBe(second);

    b.bus.leave(first);
    expect(b.bus.rooms()).toEqual([second]);
    await a.bus.publish(first, 'update', Buffer.from('ignored'));
    await a.bus.publish(second, 'update', Buffer.from('three'));
    await b.got.until(() => b.got.messages.length === 3, 'third message');
    expect(b.got.messages.map((m) => m.data.toString())).toEqual(['one', 'two', 'three']);
  });

  it('joins after a stored id and replays what the stream still holds from there', async () => {
    const room = freshRoom();
    const a = await bus('A');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await a.bus.publish(room, 'update', Buffer.from(`u${i}`)));
    const b = await bus('B');
    const from = ids[1] ?? '';
    expect(await b.bus.join(room, from)).toBe(from);
    await b.got.until(() => b.got.messages.length === 3, 'the three after the stored id');
    expect(b.got.messages.map((m) => m.data.toString())).toEqual(['u2', 'u3', 'u4']);
    // a plain join starts at the end: nothing old is replayed
    const c = await bus('C');
    expect(await c.bus.join(room)).toBe(ids[4]);
  });

  it('resumes from its last id after its connection is killed, losing nothing and needing no resync', async () => {
    const room = freshRoom();
    const a = await bus('A');
    const b = await bus('B', { redisOptions: { retryStrategy: () => 300 } });
    await b.bus.join(room);
    await a.bus.publish(room, 'update', Buffer.from('before'));
    await b.got.until(() => b.got.messages.length === 1, 'before');
    // kill every connection of B's reader: it is blocked in XREAD
    const clients = (await admin.client('LIST')) as string;
    const blocked = clients.split('\n').filter((l) => l.includes('cmd=xread'));
    expect(blocked.length).toBeGreaterThan(0);
    for (const line of blocked) {
      const id = /id=(\d+)/.exec(line)?.[1];
      if (id) await admin.client('KILL', 'ID', id);
    }
    for (let i = 0; i < 20; i++) await a.bus.publish(room, 'update', Buffer.from(`while-away-${i}`));
    await b.got.until(() => b.got.messages.length === 21, 'everything sent while away');
    expect(b.got.messages.slice(1).map((m) => m.data.toString())).toEqual(
      Array.from({ length: 20 }, (_, i) => `while-away-${i}`),
    );
    expect(b.got.resyncs).toEqual([]);
  });

  it('signals "trimmed" when entries it had not read were trimmed, then reads what remains', async () => {
    const room = freshRoom();
    const a = await bus('A');
    // B's reader reconnects only after 1.5 s: a real window in which the stream is trimmed past it
    const b = await bus('B', { redisOptions: { retryStrategy: () => 1_500 } });
    await b.bus.join(room);
    const a0 = await bus('A0', { trimGraceMs: 0 });
    const clients = (await admin.client('LIST')) as string;
    for (const line of clients.split('\n').filter((l) => l.includes('cmd=xread'))) {
      const id = /id=(\d+)/.exec(line)?.[1];
      if (id) await admin.client('KILL', 'ID', id);
    }
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await a.bus.publish(room, 'update', Buffer.from(`u${i}`)));
    // storage has everything through u5: trim once stored
    // with the default grace (30 s) fresh entries are never trimmed, stored or not
    expect(await a.bus.trimStored(room, ids[5] ?? '')).toBe(0);
    expect(await a0.bus.trimStored(room, ids[5] ?? '')).toBe(6);
    await b.got.until(() => b.got.resyncs.length === 1 && b.got.messages.length === 4, 'resync, then u6..u9');
    expect(b.got.resyncs).toEqual([{ room, reason: 'trimmed' }]);
    expect(b.got.messages.map((m) => m.data.toString())).toEqual(['u6', 'u7', 'u8', 'u9']);
    const info = await a.bus.info(room);
    expect(info?.length).toBe(4);
    expect(info?.firstId).toBe(ids[6]);
    expect(await admin.get(roomTrimmedKey(room))).toBe(ids[5]);
  });

  it('caps a stream as a safety net when nothing trims it, recording the gap', async () => {
    const room = freshRoom();
    const a = await bus('A', { maxLen: 10 });
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => a.bus.publish(room, 'update', Buffer.from([i % 256]))));
    const len = await admin.xlen(roomStreamKey(room));
    expect(len).toBe(10);
    // the cap recorded what it removed: a reader below that id resyncs
    const last10 = await admin.xrange(roomStreamKey(room), '-', '+');
    const marker = await admin.get(roomTrimmedKey(room));
    expect(marker).not.toBeNull();
    expect(compareStreamIds(marker ?? '', last10[0]?.[0] ?? '')).toBeLessThan(0);
    const b = await bus('B');
    await b.bus.join(room, '0-1');
    await b.got.until(() => b.got.resyncs.length === 1 && b.got.messages.length === 10, 'resync and the 10 kept');
  });

  it('recovers from a Redis restart without being restarted itself: resync, then live again', async () => {
    const rooms = [freshRoom(), freshRoom()];
    const a = await bus('A');
    const b = await bus('B');
    for (const r of rooms) {
      await a.bus.join(r);
      await b.bus.join(r);
    }
    await a.bus.publish(rooms[0] ?? '', 'update', Buffer.from('before'));
    await b.got.until(() => b.got.messages.length === 1, 'before restart');

    await redis.restart();

    await b.got.until(() => b.got.resyncs.length === 2, 'B told to resync both rooms');
    expect(b.got.resyncs.map((r) => r.reason)).toEqual(['redis-restarted', 'redis-restarted']);
    expect(new Set(b.got.resyncs.map((r) => r.room))).toEqual(new Set(rooms));
    await a.got.until(() => a.got.resyncs.length === 2, 'A told too');
    // publishing works again, and both directions flow through the new server
    await a.bus.publish(rooms[1] ?? '', 'update', Buffer.from('after-a'));
    await b.bus.publish(rooms[0] ?? '', 'awareness', Buffer.from('after-b'));
    await b.got.until(() => b.got.messages.some((m) => m.data.toString() === 'after-a'), 'A→B after restart');
    await a.got.until(() => a.got.messages.some((m) => m.data.toString() === 'after-b'), 'B→A after restart');
  });

  it('closes idempotently, also while Redis is down', async () => {
    const a = await bus('A');
    await a.bus.join(freshRoom());
    await redis.kill();
    try {
      await a.bus.close();
      await a.bus.close();
    } finally {
      await redis.start();
    }
  });
});
