/**
 * Test helper: the real server as a child process (`node --import tsx server/src/main.ts`), for
 * crash and signal tests. Binds 127.0.0.1 on a port picked here so a restart can reuse it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export { freePort };

/** A running server child. */
export interface ServerProcess {
  child: ChildProcess;
  url: string;
  wsUrl: string;
  /** resolves with the exit code (null when killed by a signal) and the signal */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** stderr and stdout so far (for failure messages) */
  output(): string;
}

/** Starts the server child on `port` with `dataDir` and extra env; resolves once /healthz answers 200. */
export async function startServerProcess(port: number, dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/src/main.ts'], {
    cwd: ROOT,
    // PISTON_URL (unreachable, never called here) keeps the embedded engine out of these document tests.
    env: {
      ...process.env, HOST: '127.0.0.1', PORT: String(port), CODEX_DATA_DIR: dataDir, CODEX_LOG_LEVEL: 'warn',
      PISTON_URL: 'http://127.0.0.1:9', ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}):\n${out}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server not ready after 20 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url, wsUrl: `ws://127.0.0.1:${port}`, exited, output: () => out };
}
