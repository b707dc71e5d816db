/**
 * The Piston client against real Piston-protocol servers started in the test: a closed port, an
 * upgrade refused with HTTP 503, a 4002 error, a server that never answers `init`, a server stopped
 * mid-run, a late `stage: run` (stdin must be held), a Piston that ignores signals, and a pool of two.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JobEnd } from '../src/exec/engine.js';
import { PistonClient, type PistonClientOptions } from '../src/exec/piston/piston-client.js';
import { PistonPool } from '../src/exec/piston/piston-pool.js';
import type { PistonServerFrame } from '../src/exec/piston/protocol.js';
import { closedPortUrl, startFaultPiston, type FaultPiston } from './helpers/exec-socket.js';

const OPTS: Omit<PistonClientOptions, 'url'> = {
  signalsWork: false,
  connectTimeoutMs: 2000,
  answerTimeoutMs: 2000,
  deadlineMs: 10_000,
  stopGraceMs: 500,
  requestTimeoutMs: 2000,
};
const REQUEST = { language: 'python', version: '*', files: [{ name: 'main.py', content: 'print(1)' }] };

const servers: FaultPiston[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop().catch(() => undefined)));
});

async function fault(b: Parameters<typeof startFaultPiston>[0]): Promise<FaultPiston> {
  const s = await startFaultPiston(b);
  servers.push(s);
  return s;
}

/** Runs a job and collects its frames and its end. */
function run(client: { connect: PistonClient['connect'] }, onFrame?: (f: PistonServerFrame, job: ReturnType<PistonClient['connect']>) => void) {
  const frames: PistonServerFrame[] = [];
  let job!: ReturnType<PistonClient['connect']>;
  const ended = new Promise<JobEnd>((resolve) => {
    job = client.connect(REQUEST, {
      onFrame: (f) => {
        frames.push(f);
        onFrame?.(f, job);
      },
      onEnd: resolve,
    });
  });
  return { frames, ended, job };
}

describe('Piston client faults', () => {
  it('reports an unreachable instance', async () => {
    const client = new PistonClient({ ...OPTS, url: await closedPortUrl() });
    const end = await run(client).ended;
    expect(end).toMatchObject({ kind: 'failed', message: expect.stringMatching(/unreachable \(ECONNREFUSED\)/) });
    expect(client.activeJobs).toBe(0);
    await expect(client.runtimes()).rejects.toThrow(/unreachable/);
    expect(await client.probe()).toMatch(/unreachable/);
  });

  it('reports an upgrade refused with HTTP 503', async () => {
    const s = await fault('hang-after-start');
    s.refuseUpgradeWith = 503;
    const end = await run(new PistonClient({ ...OPTS, url: s.url })).ended;
    expect(end).toEqual({ kind: 'failed', message: `engine ${s.url} refused the connection (HTTP 503)` });
  });

  it("relays Piston's error frame and ends with its message (4002)", async () => {
    const s = await fault('notified-error');
    const r = run(new PistonClient({ ...OPTS, url: s.url }));
    expect(await r.ended).toEqual({ kind: 'failed', message: 'cobol-* runtime is unknown' });
    expect(r.frames).toEqual([{ type: 'error', message: 'cobol-* runtime is unknown' }]);
  });

  it('gives up on an instance that never answers init', async () => {
    const s = await fault('never-answer');
    const end = await run(new PistonClient({ ...OPTS, answerTimeoutMs: 300, url: s.url })).ended;
    expect(end).toMatchObject({ kind: 'failed', message: expect.stringMatching(/did not answer the run request within 300 ms/) });
    expect(s.received).toEqual([{ type: 'init', ...REQUEST }]);
  });

  it('ends the job when the instance goes away mid-run', async () => {
    const s = await fault('hang-after-start');
    const r = run(new PistonClient({ ...OPTS, url: s.url }), (f) => {
      if (f.type === 'data') void s.stop();
    });
    expect(await r.ended).toEqual({ kind: 'failed', message: 'the engine connection was lost mid-run' });
    expect(r.frames.map((f) => f.type)).toEqual(['runtime', 'stage', 'data']);
  });

  it('holds stdin until stage run, then writes it in order', async () => {
    const s = await fault('echo-late-run');
    const r = run(new PistonClient({ ...OPTS, url: s.url }));
    r.job.stdin('first\n');
    r.job.stdin('bye\n');
    expect(await r.ended).toEqual({ kind: 'completed' });
    const out = r.frames.flatMap((f) => (f.type === 'data' ? [f.data] : []));
    expect(out).toEqual(['echo: first\n', 'echo: bye\n']);
  });

  it('stops a job on a Piston that ignores signals by closing the socket', async () => {
    const s = await fault('ignore-signals');
    const r = run(new PistonClient({ ...OPTS, url: s.url }), (f, job) => {
      if (f.type === 'data') job.stop('SIGKILL');
    });
    expect(await r.ended).toEqual({ kind: 'stopped', signal: 'SIGKILL' });
    await vi.waitFor(() => expect(s.received).toContainEqual({ type: 'signal', signal: 'SIGKILL' }));
  });

  it('cuts off a job at the overall deadline', async () => {
    const s = await fault('ignore-signals');
    const end = await run(new PistonClient({ ...OPTS, deadlineMs: 400, url: s.url })).ended;
    expect(end).toMatchObject({ kind: 'failed', message: expect.stringMatching(/did not finish within/) });
  });
});

describe('Piston pool', () => {
  it('skips an instance that fails to connect, retries it later, and reports each', async () => {
    const dead = await closedPortUrl();
    const live = await fault('echo-late-run');
    const pool = new PistonPool([dead, live.url], { ...OPTS, retryMs: 60_000 });
    const r = run(pool);
    r.job.stdin('bye\n');
    expect(await r.ended).toEqual({ kind: 'completed' });
    expect(r.job.instance).toBe(live.url);
    expect(live.connections).toBe(1);
    // the dead one is now backing off: the next job goes straight to the live one
    const r2 = run(pool);
    r2.job.stdin('bye\n');
    await r2.ended;
    expect(live.connections).toBe(2);
    const status = await pool.status();
    expect(status).toEqual([
      { url: dead, problem: expect.stringMatching(/unreachable/), activeJobs: 0 },
      { url: live.url, problem: null, activeJobs: 0 },
    ]);
    expect(await pool.runtimes()).toEqual([{ language: 'python', version: '3.11.2', aliases: ['py', 'python3'] }]);
  });

  it('sends jobs to the instance with the fewest active jobs', async () => {
    const a = await fault('ignore-signals');
    const b = await fault('ignore-signals');
    const pool = new PistonPool([a.url, b.url], OPTS);
    const jobs = [run(pool), run(pool), run(pool), run(pool)];
    await vi.waitFor(() => expect(a.connections + b.connections).toBe(4));
    expect([a.connections, b.connections]).toEqual([2, 2]);
    for (const j of jobs) j.job.abort('test over');
    for (const j of jobs) expect(await j.ended).toEqual({ kind: 'failed', message: 'test over' });
  });

  it('fails a job with every reason when no instance answers', async () => {
    const pool = new PistonPool([await closedPortUrl(), await closedPortUrl()], OPTS);
    const end = await run(pool).ended;
    expect(end.kind).toBe('failed');
    expect(end.kind === 'failed' && end.message.split('; ')).toHaveLength(2);
  });
});
