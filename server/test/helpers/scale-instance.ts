/**
 * Test helper, run as its own process (`node --import tsx scale-instance.ts`): one "instance" of
 * shared rooms that the parent can SIGKILL for real. Reads one JSON config line on stdin, opens
 * the room, then obeys commands (one JSON line each) and answers one JSON line per command:
 *   {"cmd":"type","text":"…"}  inserts the text at the end and waits until Redis has it
 *   {"cmd":"state"}            answers the text and whether this instance holds the storage lease
 */
import { createInterface } from 'node:readline';
import { silentLogger } from '../../src/log.js';
import { openPostgresStore } from '../../src/scale/postgres-store.js';
import { createSharedRooms } from '../../src/scale/shared-rooms.js';

interface Config {
  redisUrl: string;
  databaseUrl: string;
  room: string;
  instanceId: string;
  leaseTtlMs: number;
  flushDelayMs: number;
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const first = await lines.next();
const config = JSON.parse(String(first.value)) as Config;
const store = await openPostgresStore({ connectionString: config.databaseUrl });
const shared = await createSharedRooms({
  redisUrl: config.redisUrl,
  store,
  log: silentLogger(),
  instanceId: config.instanceId,
  persister: { leaseTtlMs: config.leaseTtlMs, flushDelayMs: config.flushDelayMs },
});
const room = await shared.open(config.room);
const text = room.replica.doc.getText('t');
const answer = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v)}\n`);
answer({ ready: true });
for (;;) {
  const next = await lines.next();
  if (next.done) break;
  const msg = JSON.parse(String(next.value)) as { cmd: string; text?: string };
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
