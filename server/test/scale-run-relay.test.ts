/**
 * "One run, one driver" over a real redis-server: the driving instance's frames reach every
 * watching instance identically (same order, same seq), a second run anywhere is refused while
 * one goes, a driver that vanishes is noticed and the run ended for everyone (error, then done)
 * by exactly one survivor, the room can run again, and a stale driver's frames are dropped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DoneFrame } from '@codex/shared';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/log.js';
import { createRedisRoomBus, type RedisRoomBus } from '../src/scale/redis-room-bus.js';
import { createRunRelay, type RelayedFrame, type RunInput, type RunRelay } from '../src/scale/run-relay.js';
import { startRedis, stopChild, type TestRedis } from './helpers/redis.js';

let redis: TestRedis;
const cleanups: (() => Promise<void>)[] = [];
let roomCounter = 0;
const freshRoom = (): string => `run${++roomCounter}x${process.pid}`;

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await redis.stop();
});

interface Instance {
  relay: RunRelay;
  bus: RedisRoomBus;
  cmd: Redis;
  frames: { room: string; frame: RelayedFrame }[];
  /** resolves once `pred(frames)` holds, re-checked on every frame */
  until(pred: (frames: RelayedFrame[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** the instance dies: connections cut, nothing released, nothing renewed */
  die(): void;
}

async function instance(id: string, opts: { leaseTtlMs?: number; watchEveryMs?: number } = {}): Promise<Instance> {
  const frames: { room: string; frame: RelayedFrame }[] = [];
  const waiters = new Set<() => void>();
  let relay: RunRelay | undefined;
  const bus = await createRedisRoomBus({
    redisUrl: redis.url, instanceId: id, channel: 'exec',
    listener: { message: (m) => relay?.receive(m), resync: () => undefined },
  });
  const cmd = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  cmd.on('error', () => undefined);
  relay = createRunRelay({
    bus, redis: cmd, instanceId: id, log: silentLogger(),
    leaseTtlMs: opts.leaseTtlMs ?? 600, watchEveryMs: opts.watchEveryMs ?? 100,
    onFrame: (room, frame) => {
      frames.push({ room, frame });
      for (const w of [...waiters]) w();
    },
  });
  const r = relay;
  cleanups.push(async () => {
    await r.close();
    await bus.close();
    cmd.disconnect();
  });
  return {
    relay: r, bus, cmd, frames,
    until(pred, what, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!pred(frames.map((f) => f.frame))) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(frames.map((f) => f.frame.type))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    die() {
      void bus.close();
      cmd.disconnect();
    },
  };
}

const runFrames = (run: string): RelayedFrame[] => [
  { type: 'run', run, by: 'Ana', language: 'python', version: '3.11' },
  { type: 'runtime', run, seq: 0, language: 'python', version: '3.11' },
  { type: 'stage', run, seq: 1, stage: 'run' },
  ...Array.from({ length: 20 }, (_, i): RelayedFrame => ({ type: 'data', run, seq: 2 + i, stream: 'stdout', data: `line ${i}\n` })),
  { type: 'exit', run, seq: 22, stage: 'run', code: 0, signal: null },
  { type: 'done', run, code: 0, signal: null, wall_ms: 42 },
];

describe('run relay', () => {
  it('gives every instance the driver\'s frames in the same order with the same seq, then lets the room run again', async () => {
    const room = freshRoom();
    const [a, b, c] = [await instance('A'), await instance('B'), await instance('C')];
    for (const i of [a, b, c]) await i.relay.watch(room);
    const drive = await a.relay.drive(room, 'r1');
    expect(drive).not.toBeNull();
    const sent = runFrames('r1');
    for (const f of sent) expect(await drive?.send(f)).toBe(true);
    await drive?.end();
    for (const i of [b, c]) await i.until((fs) => fs.length === sent.length, 'all frames');
    for (const i of [a, b, c]) expect(i.frames.map((f) => f.frame)).toEqual(sent);
    // the run is over: another instance may start the next one
    const next = await b.relay.drive(room, 'r2');
    expect(next).not.toBeNull();
    expect(next?.token).toBeGreaterThan(drive?.token ?? Infinity);
    await next?.end();
  });

  it('sends batches as one entry each; watchers get the frames one by one, in order, also on replay', async () => {
    const room = freshRoom();
    const [a, b] = [await instance('A'), await instance('B')];
    for (const i of [a, b]) await i.relay.watch(room);
    const drive = await a.relay.drive(room, 'r1');
    const sent = runFrames('r1');
    expect(await drive?.sendAll(sent.slice(0, 10))).toBe(true);
    expect(await drive?.sendAll(sent.slice(10))).toBe(true);
    await drive?.end();
    await b.until((fs) => fs.length === sent.length, 'all frames');
    expect(b.frames.map((f) => f.frame)).toEqual(sent);
    expect(a.frames.map((f) => f.frame)).toEqual(sent);
    expect(await a.cmd.xlen(`codex:room:{${room}}:exec`)).toBe(2);
    // a late watcher replays the two entries as the same frames
    const c = await instance('C');
    await c.relay.watch(room);
    expect(c.frames.map((f) => f.frame)).toEqual(sent);
  });

  it('refuses a second run anywhere while one is going', async () => {
    const room = freshRoom();
    const [a, b] = [await instance('A'), await instance('B')];
    await a.relay.watch(room);
    await b.relay.watch(room);
    const drive = await a.relay.drive(room, 'r1');
    await drive?.send({ type: 'run', run: 'r1', by: 'Ana', language: 'python', version: '3.11' });
    expect(await a.relay.drive(room, 'r2')).toBeNull();
    expect(await b.relay.drive(room, 'r3')).toBeNull();
    // even an instance that never saw the run frame is refused: the lease is held
    const c = await instance('C');
    expect(await c.relay.drive(room, 'r4')).toBeNull();
    await drive?.end();
  });

  it('ends the run for everyone with error then done when the driver dies, once, and the room can run again', async () => {
    const room = freshRoom();
    const [a, b, c] = [await instance('A'), await instance('B'), await instance('C')];
    for (const i of [a, b, c]) await i.relay.watch(room);
    const drive = await a.relay.drive(room, 'r1');
    const started = runFrames('r1').slice(0, 6); // run, runtime, stage, data 0..2
    for (const f of started) await drive?.send(f);
    await b.until((fs) => fs.length === started.length, 'B has the first frames');
    const diedAt = Date.now();
    a.die();
    const ended = (fs: RelayedFrame[]): boolean => fs.some((f) => f.type === 'done');
    await Promise.all([b.until(ended, 'B told'), c.until(ended, 'C told')]);
    expect(Date.now() - diedAt).toBeLessThan(5_000);
    for (const i of [b, c]) {
      const tail = i.frames.slice(started.length).map((f) => f.frame);
      expect(tail).toHaveLength(2); // exactly one survivor ended it
      expect(tail[0]).toMatchObject({ type: 'error', run: 'r1', seq: 5 });
      expect(tail[1]).toMatchObject({ type: 'done', run: 'r1', status: 'XX', code: null, signal: null });
      expect((tail[1] as DoneFrame).message).toMatch(/stopped/);
    }
    expect(b.frames.slice(started.length)).toEqual(c.frames.slice(started.length));
    const again = await c.relay.drive(room, 'r2');
    expect(again).not.toBeNull();
    await again?.end();
  });

  it('ends the run for everyone when the driving process is killed with SIGKILL', async () => {
    const room = freshRoom();
    const [b, c] = [await instance('B'), await instance('C')];
    for (const i of [b, c]) await i.relay.watch(room);
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./helpers/scale-instance.ts', import.meta.url))],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    cleanups.push(() => stopChild(child, 'SIGKILL'));
    const replies = createInterface({ input: child.stdout ?? process.stdin })[Symbol.asyncIterator]();
    const send = async (v: unknown): Promise<unknown> => {
      child.stdin?.write(`${JSON.stringify(v)}\n`);
      return JSON.parse(String((await replies.next()).value));
    };
    expect(await send({ mode: 'relay', redisUrl: redis.url, room, instanceId: 'doomed', leaseTtlMs: 600 })).toEqual({ ready: true });
    const started = runFrames('r1').slice(0, 4); // run, runtime, stage, data 0
    expect(await send({ cmd: 'drive', run: 'r1', frames: started })).toMatchObject({ driving: true });
    await Promise.all([b, c].map((i) => i.until((fs) => fs.length === started.length, 'frames of the child')));
    expect(await b.relay.drive(room, 'r2')).toBeNull(); // the child drives

    const killedAt = Date.now();
    await stopChild(child, 'SIGKILL');
    const ended = (fs: RelayedFrame[]): boolean => fs.some((f) => f.type === 'done');
    await Promise.all([b.until(ended, 'B told'), c.until(ended, 'C told')]);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    for (const i of [b, c]) {
      expect(i.frames.slice(started.length).map((f) => f.frame)).toMatchObject([
        { type: 'error', run: 'r1', seq: 3 },
        { type: 'done', run: 'r1', status: 'XX' },
      ]);
    }
    const again = await b.relay.drive(room, 'r2');
    expect(again).not.toBeNull();
    await again?.end();
  });

  it('brings stdin and signals from participants on any instance to the driver of that run only', async () => {
    const room = freshRoom();
    const [a, b, c] = [await instance('A'), await instance('B'), await instance('C')];
    for (const i of [b, c]) await i.relay.watch(room); // A drives without watching: it still gets input
    const got: RunInput[] = [];
    let wake: () => void = () => undefined;
    const drive = await a.relay.drive(room, 'r1', (input) => {
      got.push(input);
      wake();
    });
    expect(drive).not.toBeNull();
    const enough = (n: number): Promise<void> =>
      new Promise((resolve) => {
        wake = () => got.length >= n && resolve();
        wake();
      });
    await b.relay.forward(room, { run: 'r1', by: 'Bo', frame: { type: 'data', stream: 'stdin', data: '42\n' } });
    await c.relay.forward(room, { run: 'old-run', by: 'Cy', frame: { type: 'data', stream: 'stdin', data: 'ignored' } });
    await c.bus.publish(room, 'exec', Buffer.from(JSON.stringify({ input: { run: 'r1', by: 'x', frame: { type: 'signal', signal: 'SIGHUP' } } })));
    await c.relay.forward(room, { run: 'r1', by: 'Cy', frame: { type: 'signal', signal: 'SIGINT' } });
    await a.relay.forward(room, { run: 'r1', by: 'Al', frame: { type: 'data', stream: 'stdin', data: 'local' } });
    await enough(3);
    expect(got.map((g) => [g.by, g.frame])).toEqual(
      expect.arrayContaining([
        ['Bo', { type: 'data', stream: 'stdin', data: '42\n' }],
        ['Cy', { type: 'signal', signal: 'SIGINT' }],
        ['Al', { type: 'data', stream: 'stdin', data: 'local' }],
      ]),
    );
    expect(got).toHaveLength(3);
    // watchers never mistake input for run frames
    expect([...b.frames, ...c.frames]).toEqual([]);
    await drive?.end();
  });

  it('drops frames stamped with an older token than one already seen, and skips malformed entries', async () => {
    const room = freshRoom();
    const [a, b] = [await instance('A'), await instance('B')];
    await b.relay.watch(room);
    const first = await a.relay.drive(room, 'r1');
    await first?.send({ type: 'run', run: 'r1', by: 'Ana', language: 'python', version: '3.11' });
    await first?.send({ type: 'done', run: 'r1', code: 0, signal: null, wall_ms: 1 });
    await first?.end();
    const second = await a.relay.drive(room, 'r2');
    await second?.send({ type: 'run', run: 'r2', by: 'Bo', language: 'python', version: '3.11' });
    // a paused driver of r1 wakes up and writes with its old token; and someone writes garbage
    await a.bus.publish(room, 'exec', Buffer.from(JSON.stringify({ token: first?.token, frame: { type: 'data', run: 'r1', seq: 9, stream: 'stdout', data: 'stale' } })));
    await a.bus.publish(room, 'exec', Buffer.from('{not json'));
    await second?.send({ type: 'done', run: 'r2', code: 0, signal: null, wall_ms: 1 });
    await second?.end();
    await b.until((fs) => fs.filter((f) => f.type === 'done').length === 2, 'both runs done');
    expect(b.frames.map((f) => f.frame.type)).toEqual(['run', 'done', 'run', 'done']);
  });
});
