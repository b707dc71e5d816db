/**
 * Test helper, run as its own process (`node --import tsx scale-instance.ts`): one "instance" the
 * parent can SIGKILL for real. Reads one JSON config line on stdin, then obeys commands (one JSON
 * line each) and answers one JSON line per command.
 *
 * mode "rooms" (shared rooms over Redis + PostgreSQL), commands:
 *   {"cmd":"type","text":"…"}  inserts the text at the end and waits until Redis has it
 *   {"cmd":"state"}            answers the text and whether this instance holds the storage lease
 * mode "relay" (run relay over Redis), commands:
 *   {"cmd":"drive","run":"…","frames":[…]}  takes the run lease and sends the frames (no `done`)
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { silentLogger } from '../../src/log.js';
import { openPostgresStore } from '../../src/scale/postgres-store.js';
import { createRedisRoomBus } from '../../src/scale/redis-room-bus.js';
import { createRunRelay, type RelayedFrame, type RunRelay } from '../../src/scale/run-relay.js';
import { createSharedRooms } from '../../src/scale/shared-rooms.js';

interface Config {
  mode: 'rooms' | 'relay';
  redisUrl: string;
  databaseUrl?: string;
  room: string;
  instanceId: string;
  leaseTtlMs: number;
  flushDelayMs?: number;
}

interface Command {
  cmd: string;
  text?: string;
  run?: string;
  frames?: RelayedFrame[];
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const config = JSON.parse(String((await lines.next()).value)) as Config;
const answer = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v)}\n`);
const commands = async function* (): AsyncGenerator<Command> {
  for (;;) {
    const next = await lines.next();
    if (next.done) return;
    yield JSON.parse(String(next.value)) as Command;
  }
};

if (config.mode === 'rooms') {
  const store = await openPostgresStore({ connectionString: config.databaseUrl ?? '' });
  const shared = await createSharedRooms({
    redisUrl: config.redisUrl,
    store,
    log: silentLogger(),
    instanceId: config.instanceId,
    persister: { leaseTtlMs: config.leaseTtlMs, flushDelayMs: config.flushDelayMs ?? 250 },
  });
  const room = await shared.open(config.room);
  const text = room.replica.doc.getText('t');
  answer({ ready: true });
  for await (const msg of commands()) {
    if (msg.cmd === 'type') {
      text.insert(text.length, msg.text ?? '');
      await room.replica.settled();
      answer({ typed: true });
    } else if (msg.cmd === 'state') {
      answer({ text: text.toString(), holding: room.persister.holding() });
    }
  }
  await shared.close();
  await store.close();
} else {
  let relay: RunRelay | undefined;
  const bus = await createRedisRoomBus({
    redisUrl: config.redisUrl, instanceId: config.instanceId, channel: 'exec',
    listener: { message: (m) => relay?.receive(m), resync: () => undefined },
  });
  const redis = new Redis(config.redisUrl);
  relay = createRunRelay({
    bus, redis, instanceId: config.instanceId, log: silentLogger(), leaseTtlMs: config.leaseTtlMs, onFrame: () => undefined,
  });
  answer({ ready: true });
  for await (const msg of commands()) {
    if (msg.cmd === 'drive') {
      const drive = await relay.drive(config.room, msg.run ?? '');
      for (const f of msg.frames ?? []) await drive?.send(f);
      answer({ driving: drive !== null, token: drive?.token ?? null });
    }
  }
  await relay.close();
  await bus.close();
  redis.disconnect();
}
