/**
 * Test helper: a private PostgreSQL cluster for one test file. `initdb` into a temp dir, then
 * `postgres -D dir -k dir -h 127.0.0.1 -p N` with fsync off (throw-away data, faster CI). As root
 * it runs both as the `postgres` system user (PostgreSQL refuses to run as root) through
 * `setpriv`, which execs in place so signals reach the server itself.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, spawnUntilReady, stopChild } from './redis.js';

/** Directory of the Debian package's server binaries (scripts/setup.sh installs `postgresql`). */
export const PG_BIN_DIR = process.env.CODEX_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** A running private PostgreSQL. */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth on loopback) */
  url: string;
  port: number;
  /** creates a new empty database and returns its URL: one per test keeps tests independent */
  freshDatabase(): Promise<string>;
  /** stops the server (fast shutdown) and removes the cluster directory; idempotent */
  stop(): Promise<void>;
}

/** The uid/gid to run PostgreSQL as: the `postgres` system user when we are root, else ourselves. */
function runAs(): { uid: number; gid: number; prefix: string[] } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid, prefix: ['--reuid=postgres', '--regid=postgres', '--init-groups', '--'] };
}

/** Runs `bin args` as the PostgreSQL user (through setpriv when root). */
function command(user: ReturnType<typeof runAs>, bin: string, args: string[]): [string, string[]] {
  const full = path.join(PG_BIN_DIR, bin);
  return user ? ['/usr/bin/setpriv', [...user.prefix, full, ...args]] : [full, args];
}

let dbCounter = 0;

/** initdb + start a private cluster; call `stop()` in afterAll. */
export async function startPostgres(): Promise<TestPostgres> {
  const dir = mkdtempSync(path.join(tmpdir(), 'codex-pg-'));
  const user = runAs();
  if (user) chownSync(dir, user.uid, user.gid);
  const dataDir = path.join(dir, 'data');
  const [initCmd, initArgs] = command(user, 'initdb', [
    '-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync',
  ]);
  try {
    execFileSync(initCmd, initArgs, { stdio: 'pipe', cwd: dir });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`initdb failed: ${stderr || String(err)}`);
  }

  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const [cmd, args] = command(user, 'postgres', [
      '-D', dataDir, '-k', dir, '-h', '127.0.0.1', '-p', String(port),
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'max_connections=200',
    ]);
    try {
      child = await spawnUntilReady(cmd, args, /database system is ready to accept connections/);
      break;
    } catch (err) {
      if (attempt >= 4) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let stopped = false;
  return {
    url,
    port,
    async freshDatabase() {
      const name = `codex_test_${process.pid}_${++dbCounter}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // SIGINT = "fast" shutdown: disconnects clients instead of waiting for them
      if (child) await stopChild(child, 'SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
