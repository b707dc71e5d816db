/**
 * The engine that starts in the background (the embedded engine probes before it serves): a run
 * requested meanwhile waits and keeps its input in order; a failed start fails runs with its reason.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DeferredEngine } from '../src/exec/deferred-engine.js';
import type { ExecEngine, JobEnd } from '../src/exec/engine.js';
import { PistonPool } from '../src/exec/piston/piston-pool.js';
import type { PistonServerFrame } from '../src/exec/piston/protocol.js';
import { startFaultPiston, type FaultPiston } from './helpers/exec-socket.js';

const OPTS = { signalsWork: true, connectTimeoutMs: 2000, answerTimeoutMs: 2000, deadlineMs: 10_000, stopGraceMs: 500, requestTimeoutMs: 2000 };
const REQUEST = { language: 'python', version: '*', files: [{ content: '' }] };
let fault: FaultPiston | undefined;
afterEach(async () => {
  await fault?.stop();
  fault = undefined;
});

describe('DeferredEngine', () => {
  it('holds a run until the engine is up, input in order', async () => {
    fault = await startFaultPiston('echo-late-run');
    let up!: (e: ExecEngine) => void;
    const engine = new DeferredEngine(new Promise<ExecEngine>((r) => (up = r)));
    expect(await engine.status()).toEqual([{ url: 'embedded', problem: 'the embedded engine is starting', activeJobs: 0 }]);
    const frames: PistonServerFrame[] = [];
    const ended = new Promise<JobEnd>((resolve) => {
      const job = engine.connect(REQUEST, { onFrame: (f) => frames.push(f), onEnd: resolve });
      job.stdin('one\n');
      job.stdin('bye\n');
    });
    up(new PistonPool([fault.url], OPTS));
    expect(await ended).toEqual({ kind: 'completed' });
    expect(frames.flatMap((f) => (f.type === 'data' ? [f.data] : []))).toEqual(['echo: one\n', 'echo: bye\n']);
    expect(await engine.runtimes()).toHaveLength(1);
    engine.close();
  });

  it('fails runs, runtimes and readiness with the reason the start failed', async () => {
    const engine = new DeferredEngine(Promise.reject(new Error('no sandbox')));
    const end = await new Promise<JobEnd>((resolve) => engine.connect(REQUEST, { onFrame: () => undefined, onEnd: resolve }));
    expect(end).toEqual({ kind: 'failed', message: 'the execution engine did not start: no sandbox' });
    await expect(engine.runtimes()).rejects.toThrow('the execution engine did not start: no sandbox');
    expect((await engine.status())[0]?.problem).toBe('the execution engine did not start: no sandbox');
  });
});
