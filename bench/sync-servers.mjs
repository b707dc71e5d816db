// The two servers bench:sync compares, started as child processes on loopback: CodeX
// (server/dist/main.js, persistence and token auth on) and the classic y-websocket 1.5 server.
// Each handle makes rooms, addresses their peers, and reports or waits for loaded rooms.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, freePort, sleep, waitHttp } from './lib.mjs';

/** Extra node flags for one server from env `name` (e.g. `--perf-basic-prof`, `--cpu-prof`), for profiling both alike. */
const nodeArgs = (name) => (process.env[name] ?? '').split(' ').filter(Boolean);

/** The two servers under test, with how to make a room and address its peers. */
export async function startCodex() {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'codex-bench-'));
  const child = spawn(process.execPath, [...nodeArgs('BENCH_CODEX_ARGS'), 'server/dist/main.js'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env, HOST: '127.0.0.1', PORT: String(port), CODEX_DATA_DIR: dataDir, CODEX_LOG_LEVEL: 'warn',
      // all bench clients share one address: lift the per-address caps, keep every other default
      CODEX_MAX_ROOMS_PER_ADDRESS: '100000', CODEX_ROOM_CREATES_PER_MINUTE: '100000',
      // document sync only: no embedded execution engine in this process (never contacted)
      PISTON_URL: 'http://127.0.0.1:9',
    },
  });
  const http = `http://127.0.0.1:${port}`;
  await waitHttp(`${http}/healthz`);
  return {
    name: 'CodeX',
    child,
    async room() {
      const res = await fetch(`${http}/api/rooms`, { method: 'POST' });
      if (res.status !== 201) throw new Error(`POST /api/rooms ${res.status}`);
      const r = await res.json();
      return (role = 'editor') => ({ url: `ws://127.0.0.1:${port}/yjs`, room: r.id, token: role === 'viewer' ? r.viewerToken : r.editorToken });
    },
    async loadedRooms() {
      const m = /codex_rooms_loaded (\d+)/.exec(await (await fetch(`${http}/metrics`)).text());
      return m ? Number(m[1]) : NaN;
    },
    /** Waits until the rooms of earlier rounds are unloaded (flushed and compacted, 5 s after
     * their last peer left), so that work is not counted in the next round. */
    async settle() {
      for (let i = 0; i < 200 && (await this.loadedRooms()) > 0; i++) await sleep(100);
    },
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startClassic() {
  const port = await freePort();
  const env = { ...process.env, HOST: '127.0.0.1', PORT: String(port) };
  delete env.YPERSISTENCE; // any string, even empty, turns its LevelDB persistence on
  const child = spawn(process.execPath, [...nodeArgs('BENCH_CLASSIC_ARGS'), 'node_modules/y-websocket-classic/bin/server.js'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], env });
  await waitHttp(`http://127.0.0.1:${port}/`);
  let n = 0;
  return {
    name: 'classic',
    child,
    async room() {
      const name = `bench-${process.pid}-${n++}`;
      return () => ({ url: `ws://127.0.0.1:${port}`, room: name, token: null });
    },
    loadedRooms: async () => NaN, // it never unloads a room
    settle: async () => undefined,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
