/**
 * Test helper: a private, throw-away `redis-server` on 127.0.0.1 and a free port, with no
 * persistence (`--save '' --appendonly no`) in a temp directory. It can be stopped and started
 * again on the same port, which is how the "Redis restarted" tests cause a real outage.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';

/** Where the Debian package installs the server (scripts/setup.sh installs `redis-server`). */
export const REDIS_SERVER_BIN = process.env.CODEX_TEST_REDIS_SERVER ?? '/usr/bin/redis-server';

/** A running private Redis. */
export interface TestRedis {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** stops the process (SIGTERM, then waits for its exit); the port stays reserved for `start()` */
  kill(): Promise<void>;
  /** starts it again on the same port after `kill()`; the data is gone (no persistence) */
  start(): Promise<void>;
  /** `kill()` then `start()` */
  restart(): Promise<void>;
  /** stops it for good and removes the temp dir; idempotent */
  stop(): Promise<void>;
}

export { freePort };

/**
 * Spawns `cmd args` and resolves once a line of its output matches `ready`; rejects with the
 * collected output if it exits first or `timeoutMs` passes.
 */
export function spawnUntilReady(
  cmd: string,
  args: string[],
  ready: RegExp,
  timeoutMs = 20_000,
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      if (err) reject(err);
      else resolve(child);
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (ready.test(output)) finish();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new Error(`${cmd} not ready after ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    // keep draining after readiness so a chatty server never blocks on a full pipe
    child.stdout?.resume();
    child.stderr?.resume();
    child.once('error', (err) => finish(err));
    child.once('exit', (code, signal) => finish(new Error(`${cmd} exited (${code ?? signal}) before ready:\n${output}`)));
  });
}

/** Waits for `child` to exit, sending `signal` first (SIGKILL after `graceMs`). */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Starts a private redis-server; call `stop()` in afterAll. */
export async function startRedis(): Promise<TestRedis> {
  const dir = mkdtempSync(path.join(tmpdir(), 'codex-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  let stopped = false;

  const launch = async (): Promise<void> => {
    child = await spawnUntilReady(
      REDIS_SERVER_BIN,
      ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--loglevel', 'notice'],
      /Ready to accept connections/,
    );
  };

  // a port picked by freePort() may be taken again before redis binds it: retry a few times
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 4) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const kill = async (): Promise<void> => {
    if (child) await stopChild(child);
    child = undefined;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    async start() {
      if (stopped) throw new Error('redis helper already stopped');
      if (!child) await launch();
    },
    async restart() {
      await kill();
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
