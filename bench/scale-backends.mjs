// Private backends for `npm run bench:scale`: a throw-away redis-server and PostgreSQL cluster on
// 127.0.0.1, started here and removed afterwards (the same way the scale tests start theirs).
// BENCH_REDIS_URL / BENCH_DATABASE_URL use existing servers instead.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './lib.mjs';

const REDIS_SERVER = process.env.CODEX_TEST_REDIS_SERVER ?? '/usr/bin/redis-server';
const PG_BIN = process.env.CODEX_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export { freePort } from './lib.mjs';

/** Spawns and resolves once the output matches `ready`. */
function spawnReady(cmd, args, ready, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    const on = (d) => {
      out += d;
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} not ready:\n${out}`));
    }, 30_000);
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}:\n${out}`)));
  });
}

const stop = (child, signal) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => (child.once('exit', r), child.kill(signal)));

/** Starts Redis and PostgreSQL (or uses the ones named in the environment). */
export async function startBackends() {
  const cleanups = [];
  let redisUrl = process.env.BENCH_REDIS_URL;
  if (!redisUrl) {
    const dir = mkdtempSync(path.join(tmpdir(), 'codex-bench-redis-'));
    const port = await freePort();
    const child = await spawnReady(REDIS_SERVER, ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1', '--dir', dir], /Ready to accept connections/);
    redisUrl = `redis://127.0.0.1:${port}`;
    cleanups.push(async () => (await stop(child, 'SIGTERM'), rmSync(dir, { recursive: true, force: true })));
  }
  let databaseUrl = process.env.BENCH_DATABASE_URL;
  if (!databaseUrl) {
    // PostgreSQL refuses to run as root: as root, run it as the `postgres` system user
    const root = process.getuid?.() === 0;
    const dir = mkdtempSync(path.join(tmpdir(), 'codex-bench-pg-'));
    if (root) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'])), Number(execFileSync('id', ['-g', 'postgres'])));
    const as = (bin, args) => (root ? ['/usr/bin/setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', path.join(PG_BIN, bin), ...args]] : [path.join(PG_BIN, bin), args]);
    const data = path.join(dir, 'data');
    const [initCmd, initArgs] = as('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    execFileSync(initCmd, initArgs, { stdio: 'pipe', cwd: dir });
    const port = await freePort();
    // PostgreSQL's defaults (fsync on): storage writes are off the fan-out path, but they cost CPU
    const [cmd, args] = as('postgres', ['-D', data, '-k', dir, '-h', '127.0.0.1', '-p', String(port), '-c', 'max_connections=200']);
    const child = await spawnReady(cmd, args, /database system is ready to accept connections/, { cwd: dir });
    databaseUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    cleanups.push(async () => (await stop(child, 'SIGINT'), rmSync(dir, { recursive: true, force: true })));
  }
  return {
    redisUrl,
    databaseUrl,
    async stop() {
      for (const c of cleanups.reverse()) await c();
    },
  };
}
