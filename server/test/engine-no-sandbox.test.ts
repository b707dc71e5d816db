/**
 * Where no sandbox can be had (here: a user namespace whose max_user_namespaces is 0, so bubblewrap
 * really fails), the engine refuses to run code and names the fix; CODEX_UNSAFE_NO_SANDBOX=true runs
 * code anyway, with a loud log line at start and on each job.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const child = fileURLToPath(new URL('./engine/no-sandbox-child.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

/** What the child reports. */
interface Result {
  problem: string | null;
  execute: { status: number; body: { message?: string; run?: { stdout: string } } };
  frames: unknown[];
  runtimes: number;
}

function runWithoutUserNamespaces(env: Record<string, string>): Promise<{ result: Result; log: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/unshare', ['-U', '-r', '/bin/sh', '-c',
      'echo 0 > /proc/sys/user/max_user_namespaces && exec /usr/bin/node --import tsx "$0"', child], {
      cwd: root, env: { PATH: '/usr/bin:/bin', HOME: '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', () => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (!line) return reject(new Error(`no result; stdout: ${out}\nstderr: ${err}`));
      resolve({ result: JSON.parse(line.slice(7)) as Result, log: out + err });
    });
  });
}

it('refuses to run code without a sandbox and names the fix', async () => {
  const { result } = await runWithoutUserNamespaces({});
  expect(result.problem).toMatch(/bubblewrap cannot create a sandbox here .*unprivileged user namespaces.*CODEX_UNSAFE_NO_SANDBOX/);
  expect(result.execute.status).toBe(503);
  expect(result.execute.body.message).toBe(result.problem);
  expect(result.frames).toEqual([{ type: 'error', message: result.problem }, { close: 4002 }]);
  expect(result.runtimes).toBeGreaterThan(0);
}, 60_000);

it('runs code unsandboxed only with CODEX_UNSAFE_NO_SANDBOX=true, logging it loudly', async () => {
  const { result, log } = await runWithoutUserNamespaces({ CODEX_UNSAFE_NO_SANDBOX: 'true' });
  expect(result.problem).toBeNull();
  expect(result.execute.status).toBe(200);
  expect(result.execute.body.run?.stdout).toBe('ran\n');
  expect(result.frames.at(-1)).toEqual({ close: 4999 });
  expect(log).toMatch(/RUNNING STUDENT CODE WITHOUT ANY SANDBOX/);
  expect(log).toMatch(/running a job WITHOUT a sandbox/);
}, 60_000);
