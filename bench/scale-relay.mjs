// Part of `npm run bench:scale`: how fast a run's output crosses instances. Two run relays
// (server/dist/scale/shared-runs.js, as the server builds them) on one Redis; the driving side
// publishes through the exec channel's own mirror (server/dist/exec/run-mirror.js: one entry at a
// time, frames produced meanwhile batched), the watching side counts frames until `done`.
// Reference in the same run: the same frames published one per entry (RunDrive.send).
import { createRunMirror } from '../server/dist/exec/run-mirror.js';
import { silentLogger } from '../server/dist/log.js';
import { createSharedRuns } from '../server/dist/scale/shared-runs.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Frames of a run printing `n` short lines. */
function frames(run, n) {
  const out = [{ type: 'run', run, by: 'bench', language: 'python', version: '3' }];
  for (let i = 0; i < n; i++) out.push({ type: 'data', stream: 'stdout', data: `line ${i} of the output\n`, run, seq: i });
  out.push({ type: 'done', run, code: 0, signal: null, wall_ms: 1 });
  return out;
}

/** Relays `n` lines both ways; returns {batched, single}: ms until the watcher had every frame. */
export async function relayThroughput(redisUrl, n) {
  const log = silentLogger();
  const driver = await createSharedRuns({ redisUrl, instanceId: 'bench-driver', log });
  const watcher = await createSharedRuns({ redisUrl, instanceId: 'bench-watcher', log });
  let onDone = () => undefined;
  let received = 0;
  watcher.setHandlers({ onFrame: (_room, f) => (received++, f.type === 'done' && onDone()), onTakenOver: () => undefined });
  driver.setHandlers({ onFrame: () => undefined, onTakenOver: () => undefined });
  const mirror = createRunMirror({
    sharing: driver, rooms: new Map(), log, onSettled: () => undefined,
    port: { authorize: async () => 'owner', readRunInput: async () => ({ language: '', version: '*', files: [], bytes: 0 }), viewersCanRun: async () => true, appendRunSummary: async () => undefined },
    fanOut: { bufferBytes: 1 << 20, highWaterBytes: 1 << 19 },
  });
  const measure = async (room, run, send) => {
    await watcher.watch(room);
    received = 0;
    const all = frames(run, n);
    const done = new Promise((r) => (onDone = r));
    const t0 = performance.now();
    await send(room, run, all);
    await done;
    const ms = performance.now() - t0;
    if (received !== all.length) throw new Error(`relay: ${received} of ${all.length} frames arrived`);
    watcher.unwatch(room);
    return ms;
  };
  const stamp = `${process.pid}-${Date.now()}`;
  const batched = await measure(`bench-relay-b-${stamp}`, 'rb', async (room, run, all) => {
    if (!(await mirror.claim(room, { id: run, stdin: () => undefined, stop: () => undefined }))) throw new Error('no lease');
    // the engine delivers output in bursts; yield to the event loop every 100 frames as I/O would
    for (const [i, f] of all.entries()) {
      mirror.publish(run, f);
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }
    mirror.release(run);
    await mirror.settled();
  });
  const single = await measure(`bench-relay-s-${stamp}`, 'rs', async (room, run, all) => {
    const drive = await driver.drive(room, run);
    if (!drive) throw new Error('no lease');
    for (const f of all) await drive.sendAll([f]);
    await drive.end();
  });
  await sleep(50);
  await driver.close();
  await watcher.close();
  return { batched, single };
}
