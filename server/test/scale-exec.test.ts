/**
 * One run, one driver, across real CodeX instances sharing rooms through a real redis-server and
 * PostgreSQL, with the real sandboxed engine running real programs (one embedded engine started
 * here, reached by every instance as its PISTON_URL): participants on both instances get the same
 * frames byte for byte, input typed on the other instance reaches the program, a second run is
 * refused on every instance while one goes, late joiners get the same replay, and when the driving
 * instance (a child process) is killed with SIGKILL mid-run, the participants on the other get
 * `error` then `done` and the room runs again; after a Redis restart runs cross instances again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DOC_KEYS, type CreatedRoom, type RunSummary, type ServerFrame } from '@codex/shared';
import { configWith } from '../src/config.js';
import { startEmbeddedEngine } from '../src/exec/engine/embedded.js';
import { silentLogger } from '../src/log.js';
import { connectExec, runFrames, type ExecClient } from './helpers/exec-socket.js';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';
import { startRedis, stopChild, type TestRedis } from './helpers/redis.js';
import { startSharedServer, type SharedBackends } from './helpers/scale-servers.js';
import { freePort, startServerProcess, type ServerProcess } from './helpers/server-process.js';
import type { TestServer } from './helpers/start-server.js';
import { connectPeer, createRoom, entryText, waitFor, type YjsPeer } from './helpers/yjs-peer.js';

const TWO_LINES = 'a = input()\nprint("echo 1:", a, flush=True)\nb = input()\nprint("echo 2:", b, flush=True)\n';
const FOREVER = 'import time\nprint("started", flush=True)\nwhile True:\n    time.sleep(0.1)\n';

let redis: TestRedis;
let pgServer: TestPostgres;
let engine: Awaited<ReturnType<typeof startEmbeddedEngine>>;
const servers: TestServer[] = [];
const children: ServerProcess[] = [];
const clients: ExecClient[] = [];
const peers: YjsPeer[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  [redis, pgServer, engine] = await Promise.all([
    startRedis(),
    startPostgres(),
    startEmbeddedEngine(configWith({ logLevel: 'silent' }), silentLogger()),
  ]);
}, 90_000);
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const p of peers.splice(0)) p.destroy();
  await Promise.all(children.splice(0).map((c) => stopChild(c.child, 'SIGKILL')));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}, 30_000);
afterAll(async () => {
  await engine?.close();
  await Promise.all([redis?.stop(), pgServer?.stop()]);
});

async function backends(): Promise<SharedBackends> {
  return { redisUrl: redis.url, databaseUrl: await pgServer.freshDatabase() };
}

async function instance(b: SharedBackends): Promise<TestServer> {
  const s = await startSharedServer(b, { pistonUrls: [engine.url] });
  servers.push(s);
  return s;
}

function join(wsUrl: string, room: CreatedRoom, token: string, name: string): ExecClient {
  const c = connectExec(wsUrl, room.id, token, { name });
  clients.push(c);
  return c;
}

function peer(wsUrl: string, room: CreatedRoom, token: string): YjsPeer {
  const p = connectPeer(wsUrl, room.id, token);
  peers.push(p);
  return p;
}

/** A python room holding `program`, typed through a provider on `wsUrl`. */
async function roomWith(httpUrl: string, wsUrl: string, program: string): Promise<CreatedRoom> {
  const room = await createRoom(httpUrl, { language: 'python' });
  const writer = peer(wsUrl, room, room.ownerToken);
  await writer.synced();
  writer.doc.transact(() => {
    const text = entryText(writer.doc);
    text.delete(0, text.length);
    text.insert(0, program);
  });
  return room;
}

/** Waits until the document on `wsUrl` holds `program` (the run reads the files from there). */
async function programOn(wsUrl: string, room: CreatedRoom, program: string): Promise<YjsPeer> {
  const reader = peer(wsUrl, room, room.viewerToken);
  await reader.synced();
  await waitFor(reader.doc, () => entryText(reader.doc).toString() === program, 20_000, 'the program on that instance');
  return reader;
}

const hello = (c: ExecClient): Promise<ServerFrame> => c.waitFor((f) => f.type === 'hello', { what: 'hello' });
const stdout = (c: ExecClient): string => c.frames.flatMap((f) => (f.type === 'data' && f.stream !== 'stdin' ? [f.data] : [])).join('');

describe('runs shared across instances', () => {
  it('relays identical frames to both instances; input from the other instance reaches the program', async () => {
    const b = await backends();
    const [a, bb] = await Promise.all([instance(b), instance(b)]);
    const room = await roomWith(a.url, a.wsUrl, TWO_LINES);
    const docOnB = await programOn(bb.wsUrl, room, TWO_LINES);
    await programOn(a.wsUrl, room, TWO_LINES);

    const onA = join(a.wsUrl, room, room.editorToken, 'Ann');
    const onB = join(bb.wsUrl, room, room.editorToken, 'Bob');
    const viewerB = join(bb.wsUrl, room, room.viewerToken, 'Vic');
    await Promise.all([hello(onA), hello(onB), hello(viewerB)]);

    onA.send({ type: 'run' });
    const started = await onB.waitFor((f) => f.type === 'run', { what: 'run on B' });
    expect(started).toMatchObject({ type: 'run', by: 'Ann', language: 'python' });
    // a second run is refused on the other instance too
    onB.send({ type: 'run' });
    expect(await onB.waitFor((f) => f.type === 'error' && f.run === undefined, { what: 'refusal' })).toMatchObject({
      message: 'a program is already running in this room',
    });
    // input typed on B reaches the program driven by A
    onB.send({ type: 'data', stream: 'stdin', data: 'hello\n' });
    await onA.waitFor((f) => f.type === 'data' && f.data.includes('echo 1: hello'), { what: 'echo 1 on A' });
    onA.send({ type: 'data', stream: 'stdin', data: 'world\n' });
    const done = await onB.done();
    expect(done).toMatchObject({ code: 0, signal: null });
    await Promise.all([onA.done(), viewerB.done()]);

    expect(stdout(onB)).toBe('echo 1: hello\necho 2: world\n');
    const reference = runFrames(onA).filter((r) => !r.includes('already running'));
    expect(runFrames(onB).filter((r) => !r.includes('already running'))).toEqual(reference);
    expect(runFrames(viewerB)).toEqual(reference);
    const seqs = onB.frames.flatMap((f) => ('seq' in f && typeof f.seq === 'number' ? [f.seq] : []));
    expect(seqs).toEqual(seqs.map((_, i) => i));
    expect(onB.frames.filter((f) => f.type === 'data' && f.stream === 'stdin')).toMatchObject([
      { data: 'hello\n', by: 'Bob' },
      { data: 'world\n', by: 'Ann' },
    ]);

    // a late joiner on B gets the same replay of the last run
    const late = join(bb.wsUrl, room, room.viewerToken, 'Late');
    expect(await hello(late)).toMatchObject({ run: done.run });
    await late.done(done.run);
    expect(runFrames(late)).toEqual(reference);

    // the driver's summary reaches the document on the other instance
    const runs = docOnB.doc.getArray<RunSummary>(DOC_KEYS.runs);
    await waitFor(docOnB.doc, () => runs.length === 1, 10_000, 'the run summary on B');
    expect(runs.get(0)).toMatchObject({ run: done.run, by: 'Ann', code: 0, output: 'echo 1: hello\necho 2: world\n' });
  }, 60_000);

  it('runs across instances again after a Redis restart, without restarting the instances', async () => {
    const b = await backends();
    const [a, bb] = await Promise.all([instance(b), instance(b)]);
    const program = 'print("hi", flush=True)\n';
    const room = await roomWith(a.url, a.wsUrl, program);
    await programOn(bb.wsUrl, room, program);
    const onA = join(a.wsUrl, room, room.editorToken, 'Ann');
    const onB = join(bb.wsUrl, room, room.editorToken, 'Bob');
    await Promise.all([hello(onA), hello(onB)]);
    onA.send({ type: 'run' });
    const first = await onB.done();

    await redis.restart();
    // once both instances talk to Redis again, a run started on B reaches A with the same frames
    const deadline = Date.now() + 20_000;
    let second: string | undefined;
    while (second === undefined && Date.now() < deadline) {
      const from = onB.frames.length;
      onB.send({ type: 'run' });
      const f = await onB.waitFor((x) => x.type === 'run' || (x.type === 'error' && x.run === undefined), { from, what: 'run or refusal' });
      if (f.type === 'run') second = f.run;
      else await new Promise((r) => setTimeout(r, 250)); // refused while Redis was still away: try again
    }
    expect(second).toBeDefined();
    expect(second).not.toBe(first.run);
    await Promise.all([onA.done(second), onB.done(second)]);
    const ofRun = (c: ExecClient): string[] => runFrames(c).filter((r) => r.includes(`"run":"${second}"`));
    expect(ofRun(onA).length).toBeGreaterThanOrEqual(3);
    expect(ofRun(onA)).toEqual(ofRun(onB));
    expect(stdout(onA)).toContain('hi\nhi\n');
  }, 60_000);

  it('ends the run for everyone when the driving instance is killed with SIGKILL; the room runs again', async () => {
    const b = await backends();
    const dir = mkdtempSync(path.join(tmpdir(), 'codex-scale-exec-'));
    dirs.push(dir);
    const a = await startServerProcess(await freePort(), dir, {
      CODEX_REDIS_URL: b.redisUrl, CODEX_DATABASE_URL: b.databaseUrl, PISTON_URL: engine.url,
    });
    children.push(a);
    const bb = await instance(b);
    const room = await roomWith(bb.url, bb.wsUrl, FOREVER);
    await programOn(a.wsUrl, room, FOREVER);
    const docOnB = await programOn(bb.wsUrl, room, FOREVER);

    const onA = join(a.wsUrl, room, room.editorToken, 'Ann');
    const onB = join(bb.wsUrl, room, room.editorToken, 'Bob');
    const viewerB = join(bb.wsUrl, room, room.viewerToken, 'Vic');
    await Promise.all([hello(onA), hello(onB), hello(viewerB)]);

    onA.send({ type: 'run' });
    const started = await onB.waitFor((f) => f.type === 'data' && f.data === 'started\n', { what: 'output on B' });
    const run = started.type === 'data' ? started.run : '';
    a.child.kill('SIGKILL');
    const t0 = Date.now();
    for (const c of [onB, viewerB]) {
      const from = c.frames.findIndex((f) => f === started);
      const err = await c.waitFor((f) => f.type === 'error' && f.run === run, { from: Math.max(0, from), ms: 15_000, what: 'error after the driver died' });
      const done = await c.done(run, 15_000);
      expect(c.frames.indexOf(err)).toBeLessThan(c.frames.indexOf(done));
      expect(done).toMatchObject({ run, status: 'XX' });
    }
    // "within a few seconds": the run lease TTL (3 s) plus one watch period
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(runFrames(onB)).toEqual(runFrames(viewerB));

    // the room runs again, now driven by B
    onB.send({ type: 'run' });
    const again = await viewerB.waitFor((f) => f.type === 'data' && f.data === 'started\n' && f.run !== run, { what: 'the next run' });
    onB.send({ type: 'signal', signal: 'SIGKILL' });
    const done2 = await viewerB.done(again.type === 'data' ? again.run : undefined);
    expect(done2).toMatchObject({ signal: 'SIGKILL', message: 'stopped by Bob' });

    // both runs are in the document: the ended one stored by the instance that ended it
    const runs = docOnB.doc.getArray<RunSummary>(DOC_KEYS.runs);
    await waitFor(docOnB.doc, () => runs.length === 2, 10_000, 'both summaries');
    expect(runs.toArray().map((r) => [r.run, r.status])).toEqual([[run, 'XX'], [done2.run, null]]);
    expect(runs.get(0)).toMatchObject({ by: 'Ann', output: 'started\n' });
  }, 90_000);
});
