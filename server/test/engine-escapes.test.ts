/**
 * Escapes that must fail, each in its own test, against the real sandbox with real programs.
 * The engine runs with its safe defaults (no network, 512 MiB, 64 processes, 10 MB files).
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configWith } from '../src/config.js';
import { CgroupPool } from '../src/exec/engine/cgroups.js';
import { Sandbox } from '../src/exec/engine/sandbox.js';
import { converse, execute, run, startEngine, type TestEngine } from './engine/harness.js';

const SECRET = `codex-secret-${process.pid}-${Date.now()}`;
let eng: TestEngine;
let dataDir: string;
const repoFile = fileURLToPath(new URL('../src/config.ts', import.meta.url));

beforeAll(async () => {
  process.env.CODEX_ESCAPE_SECRET = SECRET; // the server's environment must not reach jobs
  dataDir = mkdtempSync(path.join(tmpdir(), 'codex-escape-data-'));
  writeFileSync(path.join(dataDir, 'room.sqlite'), SECRET);
  eng = await startEngine({ PISTON_RUN_TIMEOUT: '4000', CODEX_DATA_DIR: dataDir });
  expect(eng.problem()).toBeNull();
});
afterAll(async () => {
  await eng.close();
  rmSync(dataDir, { recursive: true, force: true });
  delete process.env.CODEX_ESCAPE_SECRET;
});

const py = (code: string, extra: Record<string, unknown> = {}) => run(eng.url, 'python', code, extra);

/** Host processes whose command line contains `marker`. */
function hostProcesses(marker: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker)) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

describe.concurrent('sandbox escapes', () => {
  it('cannot open a TCP connection to loopback (the engine itself)', async () => {
    const port = new URL(eng.url).port;
    const r = await py(`import socket\ntry:\n    socket.create_connection(("127.0.0.1", ${port}), timeout=2)\n    print("CONNECTED")\nexcept OSError as e:\n    print("refused", e.errno)\n`);
    expect(r.run.stdout).toMatch(/^refused \d+\n$/);
  });

  it('cannot open a TCP connection to a non-loopback address', async () => {
    // 192.0.2.1 is TEST-NET-1: nothing is ever sent, the empty namespace has no route anyway
    const r = await py('import socket\ntry:\n    socket.create_connection(("192.0.2.1", 80), timeout=2)\n    print("CONNECTED")\nexcept OSError as e:\n    print("refused", e.errno)\n');
    expect(r.run.stdout).toMatch(/^refused \d+\n$/);
  });

  it('has no network even where socket() is allowed (the network namespace alone)', async () => {
    const cgroups = CgroupPool.create(`codex-escape-net-${process.pid}`);
    const root = mkdtempSync(path.join('/dev/shm', 'codex-escape-net-'));
    const etcDir = path.join(root, 'etc');
    const job = path.join(root, 'job');
    mkdirSync(etcDir); mkdirSync(job); chmodSync(root, 0o755); chmodSync(job, 0o777);
    writeFileSync(path.join(etcDir, 'passwd'), 'runner:x:1000:1000::/tmp:/bin/bash\n');
    writeFileSync(path.join(etcDir, 'group'), 'runner:x:1000:\n');
    const sb = new Sandbox({ allowNet: false, unsafe: false, cgroups, uidBase: null, etcDir, seccompFile: null, stub: null });
    const port = new URL(eng.url).port;
    const z = await sb.prepare(0, job, 'net');
    const p = await z.start(
      ['/usr/bin/python3', '-c', `import socket\ns = socket.socket()\nprint("socket ok")\nfor h in ("127.0.0.1", "192.0.2.1"):\n    try:\n        socket.create_connection((h, ${port}), timeout=2); print("CONNECTED", h)\n    except OSError as e: print("refused", h, e.errno)\n`],
      {}, { memory: -1, cpuTime: 5000, processes: 16, openFiles: 64, fileSize: 1e6, addressSpace: false },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stdin.end();
    await p.exited;
    await new Promise((r) => setTimeout(r, 50));
    cgroups?.destroy();
    rmSync(root, { recursive: true, force: true });
    expect(out).toMatch(/^socket ok\nrefused 127\.0\.0\.1 \d+\nrefused 192\.0\.2\.1 \d+\n$/);
  });

  it("cannot read the server's data directory or source", async () => {
    const r = await run(eng.url, 'bash', `cat ${dataDir}/room.sqlite; cat ${repoFile}; ls / /piston /piston/jobs; ls /work /root /home 2>&1 | head -3`);
    expect(r.run.stdout + r.run.stderr).not.toContain(SECRET);
    expect(r.run.stdout).not.toContain('OPTIONS');
    expect(r.run.stderr).toContain('No such file or directory');
    // the job sees only its own directory under /piston/jobs
    expect(r.run.stdout.match(/^[0-9a-f-]{36}$/gm)?.length).toBe(1);
  });

  it("cannot read the server's environment", async () => {
    const r = await py(`import os\nprint(sorted(os.environ))\nfor p in ("/proc/1/environ", "/proc/${process.pid}/environ"):\n    try:\n        print(p, open(p).read())\n    except OSError as e:\n        print(p, "denied", e.errno)\n`);
    expect(r.run.stdout).not.toContain(SECRET);
    // exactly what the engine sets (bwrap adds PWD, bash SHLVL as under Piston; Python adds LC_CTYPE when it coerces the C locale)
    expect(r.run.stdout).toMatch(/^\['HOME', (?:'LC_CTYPE', )?'PATH', 'PISTON_LANGUAGE', 'PWD'(?:, 'SHLVL')?\]\n/);
  });

  it('cannot write outside the job directory and /tmp', async () => {
    const name = `codex-escape-${process.pid}`;
    const r = await run(eng.url, 'bash', `for f in /usr/x /etc/x /x /piston/x /piston/jobs/x /proc/x /dev/x /sys/x ${dataDir}/x; do (echo x > $f) 2>/dev/null && echo "WROTE $f"; done; echo ok > /tmp/${name} && cat /tmp/${name}; echo here > ./here && cat ./here; echo s > /dev/shm/s && cat /dev/shm/s`);
    expect(r.run.stdout).toBe('ok\nhere\ns\n');
    expect(readdirSync(tmpdir())).not.toContain(name); // the job's /tmp is its own
  });

  it('survives a fork bomb: the server answers and another job runs meanwhile', async () => {
    const bomb = execute(eng.url, { language: 'bash', version: '*', files: [{ content: 'b(){ b | b & }; b; sleep 2; echo survived' }], run_timeout: 3000 });
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const rt = await fetch(`${eng.url}/api/v2/runtimes`);
    expect(rt.status).toBe(200);
    const other = await py('print("still running")');
    expect(other.run.stdout).toBe('still running\n');
    expect(Date.now() - t0).toBeLessThan(3000);
    const b = await bomb;
    expect(b.status).toBe(200);
    expect(b.body.run.wall_time).toBeLessThan(4000);
  });

  it('cannot allocate 4 GiB (python: MemoryError; C: killed by the memory cgroup)', async () => {
    const p = await py('try:\n    x = bytearray(4 * 1024 ** 3)\n    print("ALLOCATED")\nexcept MemoryError:\n    print("MemoryError")\n');
    expect(p.run.stdout).toBe('MemoryError\n');
    const c = await run(eng.url, 'c', '#include <stdlib.h>\n#include <string.h>\n#include <stdio.h>\nint main(void){ size_t n = (size_t)4 << 30; char *p = malloc(n); if (!p) { puts("malloc failed"); return 0; } memset(p, 1, n); puts("ALLOCATED"); return 0; }');
    expect(c.run.stdout).not.toContain('ALLOCATED');
    const js = await run(eng.url, 'javascript', 'const a = []; for (let i = 0; i < 4096; i++) a.push(Buffer.alloc(1024 * 1024, 1)); console.log("ALLOCATED");');
    expect(js.run.stdout).not.toContain('ALLOCATED');
    expect(js.run.code === 0).toBe(false);
  });

  it('cannot write a 1 GiB file', async () => {
    const r = await run(eng.url, 'bash', 'dd if=/dev/zero of=big bs=1M count=1024 2>&1 | tail -1; ls -l big | cut -d" " -f5');
    expect(Number(r.run.stdout.trim().split('\n').pop())).toBeLessThanOrEqual(10_000_000);
    const t = await run(eng.url, 'bash', 'dd if=/dev/zero of=/tmp/big bs=1M count=1024 2>/dev/null; stat -c %s /tmp/big');
    expect(Number(t.run.stdout.trim())).toBeLessThanOrEqual(10_000_000);
  });

  it('cannot loop forever: killed at the run timeout', async () => {
    const r = await py('while True:\n    pass\n', { run_timeout: 1000 });
    expect(r.run).toMatchObject({ code: null, signal: 'SIGKILL', status: 'TO', message: 'Time limit exceeded' });
    expect(r.run.wall_time).toBeLessThan(2000);
  });

  it('cannot flood the server with 100 MB of output', async () => {
    const code = 'import sys\nchunk = "x" * 65536\nfor _ in range(1600):\n    sys.stdout.write(chunk)\n';
    const http = await py(code);
    expect(http.run).toMatchObject({ signal: 'SIGKILL', status: 'OL', message: 'stdout length exceeded' });
    expect(http.run.stdout.length).toBeLessThanOrEqual(1024);
    const frames = await converse(eng.wsUrl, [{ type: 'init', language: 'python', version: '*', files: [{ content: code }] }]);
    const bytes = frames.filter((f) => f.type === 'data').reduce((n, f) => n + String(f.data).length, 0);
    expect(bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(frames.find((f) => f.type === 'exit')).toMatchObject({ code: null, signal: 'SIGKILL' });
  });

  it('leaves no child process behind when the parent exits', async () => {
    const marker = `${4000 + Math.floor(Math.random() * 1000)}.${process.pid % 1000}`;
    const r = await run(eng.url, 'bash', `(setsid sleep ${marker} &); nohup sleep ${marker} >/dev/null 2>&1 & disown; echo started`);
    expect(r.run.stdout).toBe('started\n');
    expect(r.run.wall_time).toBeLessThan(2000);
    expect(hostProcesses(`sleep\0${marker}`)).toEqual([]);
  });

  it('cannot kill processes outside the job', async () => {
    const r = await run(eng.url, 'bash', `kill -9 ${process.pid} 2>&1; kill -9 -1 2>&1; kill -9 1 2>&1; echo after`);
    expect(process.kill(process.pid, 0)).toBe(true);
    expect(r.run.stderr + r.run.stdout).toMatch(/No such process/);
    const again = await py('print("alive")');
    expect(again.run.stdout).toBe('alive\n');
  });

  it('runs as an unprivileged uid with no capabilities, no new privileges and seccomp', async () => {
    const r = await run(eng.url, 'bash', 'id -u; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status');
    expect(r.run.stdout).toMatch(/^1000\nCapEff:\s+0{16}\nCapBnd:\s+0{16}\nNoNewPrivs:\s+1\nSeccomp:\s+2\n$/);
  });
});

it('config sanity: escape tests use the safe defaults', () => {
  const c = configWith();
  expect(c.allowNet).toBe(false);
  expect(c.maxFileSize).toBe(10_000_000);
});
