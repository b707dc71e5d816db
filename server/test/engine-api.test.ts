/**
 * The engine's behaviour through Piston's API with real programs: stdin, args, several files,
 * runtime errors, exit codes, limits as Piston reports them, interactive stdin and working signals
 * over /api/v2/connect, the queue, limit overrides, and close() ending jobs and removing their files.
 */
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { converse, execute, run, startEngine, type Received, type TestEngine } from './engine/harness.js';

let eng: TestEngine;
beforeAll(async () => {
  eng = await startEngine({ PISTON_RUN_TIMEOUT: '5000' });
});
afterAll(async () => {
  await eng.close();
});

const types = (frames: Received[]): unknown[] => frames.map((f) => f.type);

describe.concurrent('execute', () => {
  it('passes stdin (with Piston\'s trailing newline) and args', async () => {
    const r = await run(eng.url, 'python', 'import sys\nprint(sys.argv[1:], repr(sys.stdin.read()))', { args: ['a b', 'c'], stdin: 'x\ny' });
    expect(r.run.stdout).toBe("['a b', 'c'] 'x\\ny\\n'\n");
  });

  it('runs several files: the first is main, the others sit beside it (sub-directories too)', async () => {
    const r = await execute(eng.url, {
      language: 'python', version: '3',
      files: [
        { name: 'main.py', content: 'import helper\nfrom pkg import mod\nprint(helper.f(), mod.g(), open("data.txt").read())' },
        { name: 'helper.py', content: 'def f(): return "helper"' },
        { name: 'pkg/mod.py', content: 'def g(): return "mod"' },
        { name: 'data.txt', content: 'ZGF0YQ==', encoding: 'base64' },
      ],
    });
    expect(r.body.run.stdout).toBe('helper mod data\n');
  });

  it('compiles several C files together', async () => {
    const r = await execute(eng.url, {
      language: 'c', version: '*',
      files: [
        { name: 'main.c', content: 'int add(int, int);\n#include <stdio.h>\nint main(void) { printf("%d\\n", add(2, 3)); return 0; }' },
        { name: 'add.c', content: 'int add(int a, int b) { return a + b; }' },
      ],
    });
    expect(r.body.compile?.code).toBe(0);
    expect(r.body.run.stdout).toBe('5\n');
  });

  it('reports runtime errors and exit codes', async () => {
    const r = await run(eng.url, 'python', 'import sys\nprint("out")\nprint("err", file=sys.stderr)\nsys.exit(42)');
    expect(r.run).toMatchObject({ stdout: 'out\n', stderr: 'err\n', code: 42, signal: null, status: 'RE', message: 'Exited with error status 42' });
    const seg = await run(eng.url, 'c', 'int main(void) { volatile int *p = 0; return *p; }');
    expect(seg.run.code).toBe(139); // as Piston: the signal death shows as 128+N
    expect(seg.run.status).toBe('RE');
  });

  it('reports stderr over the limit as EL', async () => {
    const r = await run(eng.url, 'bash', 'head -c 5000 /dev/zero | tr "\\0" x >&2; sleep 5');
    expect(r.run).toMatchObject({ stderr: '', code: null, signal: 'SIGKILL', status: 'EL', message: 'stderr length exceeded' });
  });

  it('reports cpu_time, wall_time and memory', async () => {
    const r = await run(eng.url, 'python', 'x = bytearray(64 * 1024 * 1024)\nsum(range(3_000_000))');
    expect(r.run.cpu_time).toBeGreaterThan(10);
    expect(r.run.wall_time).toBeGreaterThan(r.run.cpu_time as number * 0.5);
    expect(r.run.memory).toBeGreaterThan(60 * 1024 * 1024);
  });

  it('enforces the CPU-time limit as a timeout', async () => {
    const e = await startEngine({ PISTON_RUN_TIMEOUT: '10000', PISTON_RUN_CPU_TIME: '1000' });
    try {
      const r = await run(e.url, 'python', 'while True: pass');
      expect(r.run).toMatchObject({ code: null, signal: 'SIGKILL', status: 'TO', message: 'Time limit exceeded' });
      expect(r.run.wall_time).toBeLessThan(4000);
    } finally {
      await e.close();
    }
  });

  it('applies PISTON_LIMIT_OVERRIDES per language', async () => {
    const e = await startEngine({ PISTON_LIMIT_OVERRIDES: '{"python":{"run_timeout":500}}' });
    try {
      const r = await execute(e.url, { language: 'python', version: '*', files: [{ content: 'print(1)' }], run_timeout: 1000 });
      expect(r).toEqual({ status: 400, body: { message: 'run_timeout cannot exceed the configured limit of 500' } });
      const ok = await run(e.url, 'bash', 'sleep 0.7; echo done');
      expect(ok.run.stdout).toBe('done\n'); // bash keeps the global limit
    } finally {
      await e.close();
    }
  });

  it('answers our own 400s where Piston has defects', async () => {
    const bad = async (extra: Record<string, unknown>) => (await execute(eng.url, { language: 'python', version: '*', files: [{ content: 'print(1)' }], ...extra })).body.message;
    expect(await bad({ stdin: 5 })).toBe('stdin must be a string');
    expect(await bad({ args: { a: 1 } })).toBe('args must be an array of strings');
    expect(await bad({ files: [{ name: 5, content: '' }] })).toBe('files[0].name must be a string');
    expect(await bad({ files: [{ name: '/etc/passwd', content: '' }] })).toMatch(/^files\[0\]\.name must be a relative path/);
  });
});

describe.concurrent('connect', () => {
  it('relays interactive stdin and output', async () => {
    const frames = await converse(eng.wsUrl, [
      { type: 'init', language: 'python', version: '*', files: [{ content: 'while True:\n    l = input()\n    if l == "q": break\n    print(l.upper(), flush=True)\n' }] },
      { type: 'data', stream: 'stdin', data: 'abc\n' },
      { type: 'data', stream: 'stdin', data: 'q\n' },
    ], (i, got) => (i === 0 ? true : i === 1 ? got.some((f) => f.type === 'stage') : got.some((f) => f.type === 'data')));
    expect(frames).toEqual([
      { type: 'runtime', language: 'python', version: expect.any(String) },
      { type: 'stage', stage: 'run' },
      { type: 'data', stream: 'stdout', data: 'ABC\n' },
      { type: 'exit', stage: 'run', code: 0, signal: null },
      { type: '(websocket close frame)', code: 4999, reason: 'Job Completed' },
    ]);
  });

  it('compiles, then runs, over the socket', async () => {
    const frames = await converse(eng.wsUrl, [{ type: 'init', language: 'c', version: '*', files: [{ content: '#include <stdio.h>\nint main(void){puts("hi");return 3;}' }] }]);
    expect(types(frames)).toEqual(['runtime', 'stage', 'exit', 'stage', 'data', 'exit', '(websocket close frame)']);
    expect(frames[5]).toEqual({ type: 'exit', stage: 'run', code: 3, signal: null });
  });

  it('delivers a signal to the program (a handler runs; SIGTERM ends it)', async () => {
    const code = 'import os, signal, time\nsignal.signal(signal.SIGUSR1, lambda *a: os.write(1, b"usr1\\n"))\nprint("ready", flush=True)\nwhile True: time.sleep(0.05)\n';
    const t0 = Date.now();
    let sentUsr1 = false;
    const frames = await converse(eng.wsUrl, [
      { type: 'init', language: 'python', version: '*', files: [{ content: code }] },
      { type: 'signal', signal: 'SIGUSR1' },
      { type: 'signal', signal: 'SIGTERM' },
    ], (i, got) => {
      if (i === 1) return (sentUsr1 = got.some((f) => f.data === 'ready\n'));
      return i === 0 || (sentUsr1 && got.some((f) => f.data === 'usr1\n'));
    });
    expect(frames.filter((f) => f.type === 'data').map((f) => f.data).join('')).toBe('ready\nusr1\n');
    expect(frames.find((f) => f.type === 'exit')).toEqual({ type: 'exit', stage: 'run', code: null, signal: 'SIGTERM' });
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('SIGKILL mid-run ends the job at once, not at the timeout', async () => {
    const t0 = Date.now();
    const frames = await converse(eng.wsUrl, [
      { type: 'init', language: 'python', version: '*', files: [{ content: 'import time\nprint("started", flush=True)\nwhile True: time.sleep(0.1)\n' }] },
      { type: 'signal', signal: 'SIGKILL' },
    ], (i, got) => i === 0 || got.some((f) => f.type === 'data'));
    expect(frames.slice(-2)).toEqual([
      { type: 'exit', stage: 'run', code: null, signal: 'SIGKILL' },
      { type: '(websocket close frame)', code: 4999, reason: 'Job Completed' },
    ]);
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

it('ends the job when the client goes away', async () => {
  const ws = new WebSocket(`${eng.wsUrl}/api/v2/connect`);
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'init', language: 'bash', version: '*', files: [{ content: 'echo up; sleep 30' }] }));
  await new Promise<void>((resolve) => ws.on('message', (d) => { if (String(d).includes('"up')) resolve(); }));
  expect(eng.engine.load.running).toBe(1);
  ws.terminate();
  const t0 = Date.now();
  while (eng.engine.load.running > 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
  expect(eng.engine.load.running).toBe(0);
});

it('gives jobs the network only with PISTON_ALLOW_NET=true', async () => {
  const e = await startEngine({ PISTON_ALLOW_NET: 'true' });
  try {
    const port = new URL(e.url).port;
    const r = await run(e.url, 'python', `import socket\ns = socket.create_connection(("127.0.0.1", ${port}), timeout=2)\ns.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")\nprint(s.recv(100).split()[1].decode())\n`);
    expect(r.run.stdout).toBe('200\n');
  } finally {
    await e.close();
  }
});

it('queues jobs beyond PISTON_MAX_CONCURRENT_JOBS and runs them all', async () => {
  const e = await startEngine({ PISTON_MAX_CONCURRENT_JOBS: '1' });
  try {
    const t0 = Date.now();
    const rs = await Promise.all([1, 2, 3].map((i) => run(e.url, 'bash', `sleep 0.3; echo ${i}`)));
    expect(rs.map((r) => r.run.stdout)).toEqual(['1\n', '2\n', '3\n']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  } finally {
    await e.close();
  }
});

it('close() kills running jobs and removes every job directory', async () => {
  const e = await startEngine();
  const jobsDir = (e.engine as unknown as { baseDir: string }).baseDir;
  const frames = converse(e.wsUrl, [{ type: 'init', language: 'bash', version: '*', files: [{ content: 'echo up; sleep 60' }] }]);
  const t0 = Date.now();
  while (e.engine.load.running === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
  expect(readdirSync(`${jobsDir}/jobs`).length).toBeGreaterThanOrEqual(1); // the job's, and prepared ones
  await e.close();
  await e.close(); // idempotent
  const got = await frames;
  expect(got[got.length - 1]?.type).toBe('(websocket close frame)');
  expect(existsSync(jobsDir)).toBe(false);
  expect(Date.now() - t0).toBeLessThan(10_000);
});
